//! `courseshop healthcheck` and `enrollment-worker healthcheck`: ask the running process's own
//! `/healthz`, for a container's `HEALTHCHECK`. Images without a shell or curl (distroless) can
//! only run the binary they ship, so the binary answers for itself.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why the process is not healthy, said on stderr by the command.
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    #[error("no answer from {0} within 3s")]
    Timeout(SocketAddr),
    #[error("cannot reach {address}: {source}")]
    Unreachable {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{address}/healthz answered {status:?}")]
    Status { address: SocketAddr, status: String },
}

/// `GET /healthz` on `address`: healthy only on a 200 within 3 seconds.
pub async fn check(address: SocketAddr) -> Result<(), Unhealthy> {
    tokio::time::timeout(Duration::from_secs(3), ask(address))
        .await
        .map_err(|_| Unhealthy::Timeout(address))?
}

async fn ask(address: SocketAddr) -> Result<(), Unhealthy> {
    let unreachable = |source| Unhealthy::Unreachable { address, source };
    let mut stream = TcpStream::connect(address).await.map_err(unreachable)?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nUser-Agent: healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(unreachable)?;
    // the status line is all that matters; the body is a few bytes and read to the end anyway
    let mut response = Vec::new();
    stream
        .take(16 * 1024)
        .read_to_end(&mut response)
        .await
        .map_err(unreachable)?;
    let status_line = String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    if status_line.starts_with("HTTP/1.1 200 ") || status_line.starts_with("HTTP/1.0 200 ") {
        Ok(())
    } else {
        Err(Unhealthy::Status {
            address,
            status: status_line,
        })
    }
}
