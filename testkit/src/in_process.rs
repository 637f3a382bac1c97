//! A server running as a task of the test's own runtime until the test stops it: the in-process
//! enrollment worker of both test trees. Each tree's `TestWorker` builds the worker
//! (`worker::Worker::build`) and hands its `run_until` to [`InProcess::spawn`]; testkit itself does
//! not depend on `worker` (see `lib.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a stopped server may take to finish what it has in hand.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// A task running `run(signal)`, where `signal` completes when the test calls [`InProcess::stop`]
/// or drops this handle (so a failed test's worker stops consuming before the test's queues are
/// deleted, and does not declare them again).
pub struct InProcess<T> {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> InProcess<T> {
    pub fn spawn<F, Fut>(run: F) -> InProcess<T>
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(StopSignal(stopped)));
        InProcess {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Signals the stop and waits for the task's result (failing the test after 30 s, or if the
    /// task panicked).
    pub async fn stop(mut self) -> T {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("the task, until stopped");
        tokio::time::timeout(STOP_WITHIN, task)
            .await
            .unwrap_or_else(|_| panic!("the task did not stop within {STOP_WITHIN:?}"))
            .expect("the task ends normally")
    }
}

impl<T> Drop for InProcess<T> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Completes when the test stops the task (or drops its handle).
pub struct StopSignal(oneshot::Receiver<()>);

impl Future for StopSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(context).map(|_| ())
    }
}
