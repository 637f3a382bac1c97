//! A local Cosmos DB server of a test's own (`tools/cosmos-local`), for what the suite's shared one
//! cannot do: answer like a container with little provisioned throughput (429 with
//! `x-ms-retry-after-ms` beyond a rate), and report what it did when it stops.

use std::path::Path;
use std::process::Command;

use crate::server_process::{ServerProcess, scratch};

pub struct TestCosmosServer {
    server: ServerProcess,
}

impl TestCosmosServer {
    /// Starts the server on a free port; with `throughput`, it accepts that many document
    /// operations a second and throttles the rest (`COSMOS_LOCAL_THROUGHPUT`).
    pub fn start(throughput: Option<u32>) -> TestCosmosServer {
        let (dir, port) = scratch("cosmos");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/cosmos-local/server.js");
        let mut command = Command::new("node");
        command.arg(script).args(["--port", &port.to_string()]);
        if let Some(rate) = throughput {
            command.env("COSMOS_LOCAL_THROUGHPUT", rate.to_string());
        }
        TestCosmosServer {
            server: ServerProcess::start(command, dir, port, "cosmos-local.log"),
        }
    }

    /// `COSMOS_ENDPOINT` for this server.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/", self.server.port)
    }

    /// Stops the server and returns what it wrote (with a throughput, the count of throttled
    /// requests: `cosmos-local: N requests throttled (429)`).
    pub fn stop(mut self) -> String {
        self.server.terminate()
    }
}
