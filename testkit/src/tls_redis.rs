//! A Redis server of the test's own that speaks only TLS, like Azure Managed Redis (port 10000
//! there), with a self-signed certificate made by `openssl` for the test.

use std::process::Command;

use crate::server_process::{ServerProcess, scratch};

pub struct TestTlsRedis {
    server: ServerProcess,
}

impl TestTlsRedis {
    pub fn start() -> TestTlsRedis {
        let (dir, port) = scratch("tls-redis");
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .expect("openssl runs");
        assert!(made.status.success(), "openssl: {made:?}");
        let mut command = Command::new("redis-server");
        command
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--tls-cert-file")
            .arg(dir.join("cert.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("key.pem"))
            .arg("--tls-ca-cert-file")
            .arg(dir.join("cert.pem"))
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--logfile", ""]);
        TestTlsRedis {
            server: ServerProcess::start(command, dir, port, "redis.log"),
        }
    }

    /// `rediss://` to it; `#insecure` because its certificate is signed by nobody a client trusts.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/#insecure", self.server.port)
    }

    /// The same port without TLS, which the server must refuse.
    pub fn plain_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.server.port)
    }
}
