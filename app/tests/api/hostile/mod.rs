//! Issue 13: a hostile-input corpus thrown at every form, query parameter, path segment, cookie and
//! header the shop reads. Whatever arrives, the shop must answer without a 5xx, must never send the
//! browser to another site, and must change nothing the request did not legitimately ask for.
//!
//! - `corpus`: the hostile values, one table, each case named for what it probes;
//! - `probe`: a browser whose cookies the test can read and forge, the database snapshot, and the
//!   checks every answer must pass; `raw`: an HTTP/1.1 client for what `reqwest` would normalise
//!   or refuse (`..` segments, bytes in the request line, headers HTTP forbids);
//! - one file per page group (`catalog`, `accounts`, `cart`, `teach`) and per thing a browser sends
//!   besides a form's fields (`csrf`, `cookies`, `headers`).
//!
//! Findings are collected, not asserted one at a time: a failing test lists every case that failed,
//! with its status and an excerpt of the page, so one run shows the whole picture.

mod accounts;
mod cart;
mod catalog;
mod cookies;
mod corpus;
mod csrf;
mod headers;
mod probe;
mod raw;
mod teach;
