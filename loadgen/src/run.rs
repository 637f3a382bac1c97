//! One run: open every connection, start the pacer, let the connections take the requests it
//! releases, stop after the warm-up and the recorded time, and gather what happened.
//!
//! A group's connections share one queue of due requests (a semaphore the pacer adds a permit to
//! as each comes due). A free connection waits on it and takes the next request the moment it is
//! due; when every connection is busy, the request waits in the queue until one is free, and that
//! wait is part of its latency. So the number of connections caps how many requests are in flight
//! at once, as a client's connection pool does, but never when a request is sent.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, TryAcquireError, oneshot, watch};
use tokio::task::JoinSet;

use crate::cpu;
use crate::record::{Outcome, Sample, Tally};
use crate::report::{GroupReport, Report, Watched};
use crate::schedule::{self, Schedule};
use crate::target::{Endpoint, Group, Pick};

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub groups: Vec<Group>,
    /// Requests a second, for each group.
    pub rate: f64,
    /// Connections, for each group.
    pub connections: usize,
    /// Sent but not recorded, before the recorded time.
    pub warmup: Duration,
    /// Recorded: the requests due in this time after the warm-up.
    pub duration: Duration,
    /// The longest a request may take once its connection starts on it.
    pub timeout: Duration,
    pub pick: Pick,
    /// Headers added to every request (after `Host` and `User-Agent`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Other processes whose CPU share to report (a name, a pid).
    pub watch: Vec<(String, u32)>,
    /// Threads of the generator's runtime (reported only; the caller builds the runtime).
    pub threads: usize,
}

type Sender = SendRequest<Empty<Bytes>>;

/// Connections opened at once while starting: a server's listen backlog is finite.
const OPEN_AT_ONCE: usize = 128;

/// One group while it runs, shared by its connections.
struct Lane {
    endpoint: Endpoint,
    paths: Vec<Uri>,
    pick: Pick,
    headers: HeaderMap,
    schedule: Schedule,
    /// The request numbers recorded (those due after the warm-up, before the end).
    recorded: Range<u64>,
    /// Due requests not yet taken: the pacer adds one as each comes due.
    due: Arc<Semaphore>,
    /// Request numbers handed out so far.
    claimed: AtomicU64,
    /// Recorded requests a connection started on.
    sent: AtomicU64,
    tally: Mutex<Tally>,
    timeout: Duration,
}

impl Lane {
    fn request(&self, i: u64) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = self.paths[self.pick.index(i, self.paths.len())].clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// Runs `plan` to its end and reports. Fails only when the connections cannot be opened at the
/// start (no server there); failures during the run are counted, not returned.
pub async fn run(plan: Plan) -> Result<Report, String> {
    if plan.groups.is_empty() || plan.connections == 0 || !plan.rate.is_finite() || plan.rate <= 0.0
    {
        return Err("a run needs a target, a connection and a rate above 0".into());
    }
    // every connection open before the first request is due, so opening them is not measured
    let mut opened = Vec::with_capacity(plan.groups.len());
    for group in &plan.groups {
        opened.push(open_all(&group.endpoint, plan.connections).await?);
    }

    let start = Instant::now() + Duration::from_millis(20);
    let record_from = start + plan.warmup;
    let end = record_from + plan.duration;
    let group_count = plan.groups.len();
    let lanes: Vec<Arc<Lane>> = plan
        .groups
        .iter()
        .enumerate()
        .map(|(k, group)| {
            // the groups' requests interleave: each is shifted by its share of one interval
            let schedule = Schedule::new(start, plan.rate, k as f64 / group_count as f64);
            let recorded = schedule.first_at_or_after(plan.warmup)
                ..schedule.first_at_or_after(plan.warmup + plan.duration);
            Arc::new(Lane {
                endpoint: group.endpoint.clone(),
                paths: group.paths.clone(),
                pick: plan.pick,
                headers: headers(&group.endpoint, &plan.headers),
                schedule,
                recorded,
                due: Arc::new(Semaphore::new(0)),
                claimed: AtomicU64::new(0),
                sent: AtomicU64::new(0),
                tally: Mutex::new(Tally::default()),
                timeout: plan.timeout,
            })
        })
        .collect();

    let (stop, stopped) = watch::channel(false);
    // after the end, connections finish what is already due (the requests a stall left waiting),
    // for at most one timeout
    let drain_until = end + plan.timeout;
    let mut connections = JoinSet::new();
    for (lane, senders) in lanes.iter().zip(opened) {
        for sender in senders {
            connections.spawn(drive(lane.clone(), sender, stopped.clone(), drain_until));
        }
    }
    let watched = plan.watch.clone();
    let cpu = tokio::spawn(measure_cpu(record_from, end, watched));

    let pacer_lanes: Vec<schedule::Lane> = lanes
        .iter()
        .map(|lane| schedule::Lane {
            schedule: lane.schedule,
            count: lane.recorded.end,
            release: lane.due.clone(),
        })
        .collect();
    let (paced, pacer_done) = oneshot::channel();
    std::thread::Builder::new()
        .name("loadgen-pacer".into())
        .spawn(move || {
            let _ = paced.send(schedule::pace(&pacer_lanes));
        })
        .map_err(|error| format!("cannot start the pacer thread: {error}"))?;
    let pacer_lateness = pacer_done
        .await
        .map_err(|_| "the pacer thread stopped before the end".to_string())?;
    stop.send_replace(true);

    let finished = tokio::time::timeout_at(
        tokio::time::Instant::from_std(drain_until + plan.timeout + Duration::from_millis(100)),
        async { while connections.join_next().await.is_some() {} },
    )
    .await;
    if finished.is_err() {
        connections.shutdown().await;
    }
    let (wall, generator_cpu, cpu_pressure, watched) = cpu
        .await
        .map_err(|error| format!("measuring CPU time failed: {error}"))?;

    let groups = plan
        .groups
        .iter()
        .zip(&lanes)
        .map(|(group, lane)| GroupReport {
            name: group.name.clone(),
            address: group.endpoint.address,
            paths: group.paths.len(),
            scheduled: lane.recorded.end - lane.recorded.start,
            sent: lane.sent.load(Ordering::Relaxed),
            tally: std::mem::take(&mut *lane.tally.lock().unwrap_or_else(PoisonError::into_inner)),
        })
        .collect();
    Ok(Report {
        rate: plan.rate,
        connections: plan.connections,
        warmup: plan.warmup,
        duration: plan.duration,
        timeout: plan.timeout,
        threads: plan.threads,
        cores: cpu::cores(),
        groups,
        pacer_lateness,
        wall,
        generator_cpu,
        cpu_pressure,
        watched,
    })
}

/// The headers every request of a group carries.
fn headers(endpoint: &Endpoint, extra: &[(HeaderName, HeaderValue)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(HOST, endpoint.host.clone());
    headers.insert(USER_AGENT, HeaderValue::from_static("courseshop-loadgen"));
    for (name, value) in extra {
        headers.append(name.clone(), value.clone());
    }
    headers
}

/// The wall time of `[from, to)` as measured, and over it: CPU time of this process, the machine's
/// CPU pressure stall time, and the watched processes' CPU time.
async fn measure_cpu(
    from: Instant,
    to: Instant,
    watched: Vec<(String, u32)>,
) -> (Duration, Option<Duration>, Option<Duration>, Vec<Watched>) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(from)).await;
    let started = Instant::now();
    let own_before = cpu::cpu_time(None).ok();
    let pressure_before = cpu::cpu_pressure().ok();
    let others_before: Vec<Option<Duration>> = watched
        .iter()
        .map(|(_, pid)| cpu::cpu_time(Some(*pid)).ok())
        .collect();
    tokio::time::sleep_until(tokio::time::Instant::from_std(to)).await;
    let own_after = cpu::cpu_time(None).ok();
    let pressure_after = cpu::cpu_pressure().ok();
    let wall = started.elapsed();
    let used = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let others = watched
        .into_iter()
        .zip(others_before)
        .map(|((name, pid), before)| Watched {
            cpu: used(before, cpu::cpu_time(Some(pid)).ok()),
            name,
            pid,
        })
        .collect();
    (
        wall,
        used(own_before, own_after),
        used(pressure_before, pressure_after),
        others,
    )
}

/// Opens `count` connections to `endpoint`, a batch at a time.
async fn open_all(endpoint: &Endpoint, count: usize) -> Result<Vec<Sender>, String> {
    let mut senders = Vec::with_capacity(count);
    while senders.len() < count {
        let mut batch = JoinSet::new();
        for _ in 0..(count - senders.len()).min(OPEN_AT_ONCE) {
            let endpoint = endpoint.clone();
            batch.spawn(async move { open(&endpoint).await });
        }
        while let Some(opened) = batch.join_next().await {
            let sender = opened.map_err(|error| format!("opening a connection failed: {error}"))?;
            senders.push(sender.map_err(|error| {
                format!("{error} (is the server running? {count} connections were asked for)")
            })?);
        }
    }
    Ok(senders)
}

/// A keep-alive HTTP/1.1 connection: its request handle, with the connection itself driven by a
/// task of its own until the handle is dropped.
async fn open(endpoint: &Endpoint) -> Result<Sender, String> {
    let stream = TcpStream::connect(endpoint.address)
        .await
        .map_err(|error| format!("cannot connect to {}: {error}", endpoint.address))?;
    stream
        .set_nodelay(true)
        .map_err(|error| format!("cannot set TCP_NODELAY: {error}"))?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| describe(&error))?;
    tokio::spawn(async move {
        // its end (the server closed it, or a failure) shows at the next request on it
        let _ = connection.await;
    });
    Ok(sender)
}

/// One connection: take the next due request, send it, read the whole response, record; until
/// the schedule ends and nothing due is left (or the drain time is over).
async fn drive(
    lane: Arc<Lane>,
    sender: Sender,
    mut stopped: watch::Receiver<bool>,
    drain_until: Instant,
) {
    let mut connection = Some(sender);
    while let Some(waited) = next_due(&lane.due, &mut stopped).await {
        let i = lane.claimed.fetch_add(1, Ordering::Relaxed);
        let due = lane.schedule.due(i);
        let recorded = lane.recorded.contains(&i);
        if recorded {
            lane.sent.fetch_add(1, Ordering::Relaxed);
        }
        let request = lane.request(i);
        let sent = Instant::now();
        let (outcome, reconnected) =
            exchange(&mut connection, &lane.endpoint, request, lane.timeout).await;
        let done = Instant::now();
        if recorded {
            lane.tally
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(Sample {
                    due,
                    sent,
                    done,
                    outcome,
                    waited,
                    reconnected,
                });
        }
        if *stopped.borrow() && done >= drain_until {
            break;
        }
    }
}

/// The next due request: `Some(true)` when one was already waiting (it came due while every
/// connection was busy), `Some(false)` when this connection was free and waiting when it came
/// due, `None` once the schedule has ended and no due request is left.
async fn next_due(due: &Semaphore, stopped: &mut watch::Receiver<bool>) -> Option<bool> {
    loop {
        match due.try_acquire() {
            Ok(permit) => {
                permit.forget();
                return Some(true);
            }
            Err(TryAcquireError::Closed) => return None,
            Err(TryAcquireError::NoPermits) => {}
        }
        if *stopped.borrow() {
            return None;
        }
        tokio::select! {
            acquired = due.acquire() => {
                return match acquired {
                    Ok(permit) => {
                        permit.forget();
                        Some(false)
                    }
                    Err(_) => None,
                };
            }
            changed = stopped.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Sends one request on the connection (opening it again first if the server closed it) and reads
/// the whole response, within `timeout`. On a failure or a timeout the connection is dropped, to be
/// opened again by the next request. Also says whether the connection was opened again.
async fn exchange(
    connection: &mut Option<Sender>,
    endpoint: &Endpoint,
    request: Request<Empty<Bytes>>,
    timeout: Duration,
) -> (Outcome, bool) {
    let mut reconnected = false;
    let attempt = async {
        let sender = ready(connection, endpoint, &mut reconnected).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| describe(&error))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|error| describe(&error))?;
        }
        Ok::<u16, String>(status)
    };
    let outcome = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(status)) => Outcome::Status(status),
        Ok(Err(error)) => {
            *connection = None;
            Outcome::Error(error)
        }
        Err(_) => {
            *connection = None;
            Outcome::Timeout
        }
    };
    (outcome, reconnected)
}

/// The connection's handle once it can take a request; a new connection when there is none or
/// the server has closed this one (an idle keep-alive connection may be closed at any time).
async fn ready<'a>(
    connection: &'a mut Option<Sender>,
    endpoint: &Endpoint,
    reconnected: &mut bool,
) -> Result<&'a mut Sender, String> {
    let usable = match connection.as_mut() {
        Some(sender) => sender.ready().await.is_ok(),
        None => false,
    };
    if !usable {
        let mut fresh = open(endpoint).await?;
        fresh.ready().await.map_err(|error| describe(&error))?;
        *connection = Some(fresh);
        *reconnected = true;
    }
    connection
        .as_mut()
        .ok_or_else(|| "the connection is gone".to_string())
}

/// An error with its causes, one after the other.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |error| error.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
