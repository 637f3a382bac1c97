//! A TCP proxy in front of a real service, for outage tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy in front of a real service that a test can cut (every connection dropped, new ones
/// closed at once), stall (new connections accepted and never answered, like a network partition)
/// and restore, to show what users see when a store goes away.
pub struct TcpProxy {
    pub address: SocketAddr,
    open: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl TcpProxy {
    pub async fn start(upstream: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let address = listener.local_addr().expect("proxy address");
        let open = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let (cut, _) = watch::channel(0u64);
        let upstream = upstream.to_string();
        let (accept_open, accept_stalled, accept_cut) =
            (open.clone(), stalled.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if accept_stalled.load(Ordering::SeqCst) {
                    let mut cuts = accept_cut.subscribe();
                    // hold the connection open, silent, until the next cut or restore
                    tokio::spawn(async move {
                        let _ = cuts.changed().await;
                        drop(inbound);
                    });
                    continue;
                }
                if !accept_open.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let mut cuts = accept_cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        TcpProxy {
            address,
            open,
            stalled,
            cut,
        }
    }

    /// Drops every connection; new ones are closed as soon as they arrive.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Drops every connection; new ones are accepted and never answered.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    pub fn restore(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        self.open.store(true, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }
}
