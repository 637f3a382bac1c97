//! A server program a test starts for itself (PgBouncer, a TLS Redis): its own scratch directory
//! and port, stopped and cleaned up when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;

pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) port: u16,
    pub(crate) dir: PathBuf,
    log: PathBuf,
}

/// A scratch directory of the test's own, and a port that was free a moment ago for the server.
pub(crate) fn scratch(kind: &str) -> (PathBuf, u16) {
    let dir = std::env::temp_dir().join(format!("courseshop-{kind}-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    // the port is released again for the server to bind; a clash is rare and fails loudly
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    (dir, port)
}

impl ServerProcess {
    /// Starts `command` (output to `log` in `dir`) and waits until it accepts connections on `port`.
    pub(crate) fn start(mut command: Command, dir: PathBuf, port: u16, log: &str) -> ServerProcess {
        let log_path = dir.join(log);
        let log_file = std::fs::File::create(&log_path).expect("a log file");
        let program = format!("{:?}", command.get_program());
        let child = command
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {program}: {error}"));
        let mut server = ServerProcess {
            child,
            port,
            dir,
            log: log_path.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{program} exited ({status}): {}", read(&log_path));
            }
            assert!(
                Instant::now() < deadline,
                "{program} did not listen on {port} within 10s: {}",
                read(&log_path)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl ServerProcess {
    /// Asks the server to stop (SIGTERM), waits until it has, and returns its log.
    pub(crate) fn terminate(&mut self) -> String {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        read(&self.log)
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
