//! The generator against a tiny HTTP/1.1 server of the test's own on loopback: requests leave on
//! schedule whatever the server does, and a stall shows in the latency of every request that came
//! due during it, not only in the one the server sat on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loadgen::report::Report;
use loadgen::run::{Plan, run};
use loadgen::target::{GroupSpec, Pick, Source, resolve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicU64,
    paths: Mutex<HashMap<String, u64>>,
}

/// A keep-alive HTTP/1.1 server answering every GET with `200 ok`. With `stall_after`, the first
/// request arriving that long after the server started is answered only `stall` later.
async fn server(stall_after: Option<Duration>, stall: Duration) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let seen = Arc::new(Seen::default());
    let started = Instant::now();
    let stalled = Arc::new(AtomicBool::new(false));
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::Relaxed);
            let counts = counts.clone();
            let stalled = stalled.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                        buffer.drain(..end + 4);
                        let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                        *counts.paths.lock().expect("lock").entry(path).or_default() += 1;
                        if stall_after.is_some_and(|after| started.elapsed() >= after)
                            && !stalled.swap(true, Ordering::Relaxed)
                        {
                            tokio::time::sleep(stall).await;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                    }
                }
            });
        }
    });
    (address, seen)
}

fn plan(address: SocketAddr, targets: &[(&str, &str)], rate: f64, connections: usize) -> Plan {
    let base = format!("http://{address}");
    let groups = targets
        .iter()
        .map(|(name, path)| {
            resolve(
                &GroupSpec {
                    name: name.to_string(),
                    sources: vec![Source::One(path.to_string())],
                },
                &base,
                false,
            )
            .expect("a loopback target")
        })
        .collect();
    Plan {
        groups,
        rate,
        connections,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        pick: Pick::Cycle,
        headers: Vec::new(),
        watch: Vec::new(),
        threads: 1,
    }
}

/// Recorded latencies of at least `millis`, counted from when each request was due, and from when
/// it was sent.
fn at_least(report: &Report, millis: u64) -> (u64, u64) {
    let tally = &report.groups[0].tally;
    let count = |histogram: &hdrhistogram::Histogram<u64>| {
        histogram
            .iter_recorded()
            .filter(|value| value.value_iterated_to() >= millis * 1000)
            .map(|value| value.count_at_value())
            .sum::<u64>()
    };
    (count(&tally.latency), count(&tally.service))
}

#[tokio::test]
async fn a_stall_shows_in_every_request_that_came_due_during_it() {
    // one connection, a request every 5 ms; 300 ms in, the server sits on one request for 200 ms
    let (address, _) = server(Some(Duration::from_millis(300)), Duration::from_millis(200)).await;
    let report = run(plan(address, &[("stalls", "/")], 200.0, 1))
        .await
        .expect("the run");
    let summary = report.summary();
    let target = &summary.targets[0];
    assert_eq!(
        (target.errors, target.timeouts, target.unsent),
        (0, 0, 0),
        "{target:?}"
    );
    assert_eq!(target.responses.success, 200, "{target:?}");
    // ~40 requests came due during the stall and waited for the one connection: those due in its
    // first half waited 100 ms or more (about 20). Counted from the actual send, only the request
    // the server sat on took that long: that is what a closed-loop tool would report.
    let (from_due, from_send) = at_least(&report, 100);
    assert!(
        from_due >= 12,
        "latency from the due time: {from_due} ≥ 100 ms; {summary:?}"
    );
    assert!(
        from_send <= 3,
        "latency from the send: {from_send} ≥ 100 ms; {summary:?}"
    );
    assert!(target.latency_ms.max >= 190.0, "{target:?}");
    assert!(target.waited_for_connection >= 30, "{target:?}");
}

#[tokio::test]
async fn targets_are_sent_at_their_rate_side_by_side_on_kept_alive_connections() {
    let (address, seen) = server(None, Duration::ZERO).await;
    let mut plan = plan(address, &[("a", "/a"), ("b", "/b?q=1")], 100.0, 2);
    plan.warmup = Duration::from_millis(200);
    plan.duration = Duration::from_millis(500);
    let report = run(plan).await.expect("the run");
    let summary = report.summary();
    for target in &summary.targets {
        // 50 due in the recorded half second, all sent and answered
        assert_eq!((target.scheduled, target.sent), (50, 50), "{target:?}");
        assert_eq!(target.responses.success, 50, "{target:?}");
        assert_eq!((target.errors, target.reconnects), (0, 0), "{target:?}");
    }
    // the warm-up's 20 were sent too, but not recorded
    let paths = seen.paths.lock().expect("lock").clone();
    assert_eq!(paths.get("/a"), Some(&70), "{paths:?}");
    assert_eq!(paths.get("/b?q=1"), Some(&70), "{paths:?}");
    // two connections a target, opened once and kept
    assert_eq!(seen.connections.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn no_server_is_an_error_before_anything_is_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let error = run(plan(address, &[("gone", "/")], 10.0, 1))
        .await
        .expect_err("nothing listens");
    assert!(error.contains("cannot connect"), "{error}");
}
