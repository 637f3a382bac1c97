//! `loadgen`: a fixed-rate, latency-corrected HTTP/1.1 load generator for the shop's load tests.
//!
//! Each target group is sent requests at fixed intervals (`--rate` a second), whatever the server
//! does, over keep-alive connections that carry one request at a time. A request's latency is
//! measured from the time it was *scheduled* to be sent, not from when a connection was free to
//! send it: when the server stalls, the requests that came due meanwhile wait, and their wait is
//! counted, as a user's would be. A closed-loop tool (wrk) stops sending while the server stalls
//! and so hides the stall from its percentiles ("coordinated omission").
//!
//! - [`schedule`]: when request *i* of a group is due, and the pacer thread that releases them;
//! - [`target`]: what is requested (paths, URLs, files of them), and the loopback-only rule;
//! - [`record`]: the per-group tallies and histograms;
//! - [`run`]: the connections and one run from start to report;
//! - [`report`]: percentiles, the table and the JSON;
//! - [`cpu`]: the generator's own CPU share, from `/proc`;
//! - [`cli`]: the command line.

pub mod cli;
pub mod cpu;
pub mod record;
pub mod report;
pub mod run;
pub mod schedule;
pub mod target;
