//! HAProxy of a test's own in front of shop instances, configured exactly as step 5's
//! `scripts/run` configures it: the configuration is written by the same shell function
//! (`write_haproxy_config` in `scripts/lib/stack-haproxy.sh`), so a test of HAProxy's behaviour
//! (health checks, retries) tests the configuration people run.
//!
//! `TEST_HAPROXY` names the program (`./scripts/test` installs Debian's package when it is missing);
//! otherwise `haproxy` on the PATH.

use std::path::Path;
use std::process::Command;

use crate::server_process::{ServerProcess, scratch};

pub struct TestHaproxy {
    server: ServerProcess,
    stats_port: u16,
}

impl TestHaproxy {
    /// HAProxy balancing `servers` (name, port on 127.0.0.1), started and listening.
    pub fn start(servers: &[(&str, u16)]) -> TestHaproxy {
        let program = std::env::var("TEST_HAPROXY").unwrap_or_else(|_| "haproxy".into());
        let (dir, port) = scratch("haproxy");
        let stats_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let repository = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("testkit sits in the workspace");
        let servers: Vec<String> = servers
            .iter()
            .map(|(name, port)| format!("{name}:{port}"))
            .collect();
        // the function reads STACK_DIR and HAPROXY_STATS_PORT, and asks `haproxy -vv` whether the
        // Prometheus exporter is built in: the test's program must be first on the PATH
        let program_dir = Path::new(&program)
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| format!("{}:", dir.display()))
            .unwrap_or_default();
        let written = Command::new("bash")
            .arg("-c")
            .arg(r#". scripts/lib/stack-haproxy.sh && write_haproxy_config "$@""#)
            .arg("write_haproxy_config")
            .arg(port.to_string())
            .args(&servers)
            .current_dir(repository)
            .env("STACK_DIR", &dir)
            .env("HAPROXY_STATS_PORT", stats_port.to_string())
            .env(
                "PATH",
                format!("{program_dir}{}", std::env::var("PATH").unwrap_or_default()),
            )
            .status()
            .expect("bash runs");
        assert!(written.success(), "write_haproxy_config failed");
        let mut command = Command::new(&program);
        command
            .arg("-db")
            .arg("-f")
            .arg(dir.join("haproxy/haproxy.cfg"));
        let server = ServerProcess::start(command, dir, port, "haproxy.log");
        TestHaproxy { server, stats_port }
    }

    /// The shop's one address, as people reach it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port)
    }

    /// HAProxy's statistics as CSV: one line a server, with its `status` (`UP`, `DOWN`, …).
    pub fn stats_csv_url(&self) -> String {
        format!("http://127.0.0.1:{}/;csv", self.stats_port)
    }

    /// What HAProxy printed (a server going down or up is a `[WARNING]` line).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.server.dir.join("haproxy.log")).unwrap_or_default()
    }
}
