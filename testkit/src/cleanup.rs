//! What a `Drop` must still do against a server (drop a database, delete queues) when it cannot
//! await: a short-lived runtime on a thread of its own, whatever runtime the test itself is in.

use std::future::Future;

/// Runs the future `task` makes to completion and waits for it; a failure is ignored (the next
/// `./scripts/test` removes what an interrupted run left).
pub(crate) fn run_to_completion<F, Fut>(task: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
{
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(task());
        }
    })
    .join();
}
