//! A failover TCP load balancer on 127.0.0.1, standing in front of several relay nodes the
//! way a deployment's balancer would: each new connection goes to the first node (in this
//! balancer's order of preference) that accepts it. Giving two clients balancers with
//! different orders puts them on different nodes; killing a node moves its clients'
//! next connections to the other one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;

/// A running balancer; stops accepting when dropped.
#[derive(Debug)]
pub struct Balancer {
    addr: SocketAddr,
    /// Connections forwarded to each upstream, in the order given.
    counts: Arc<Vec<AtomicUsize>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Balancer {
    /// Listen on a free port of 127.0.0.1 and forward each connection to the first of
    /// `upstreams` that accepts it.
    pub async fn start(upstreams: Vec<SocketAddr>) -> Balancer {
        let (listener, addr) = crate::proxy::listen_on_loopback("balancer").await;
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new(upstreams.iter().map(|_| AtomicUsize::new(0)).collect());
        let c = counts.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstreams = upstreams.clone();
                let c = c.clone();
                tokio::spawn(async move {
                    for (i, up) in upstreams.iter().enumerate() {
                        if let Ok(mut server) = TcpStream::connect(up).await {
                            c[i].fetch_add(1, Ordering::Relaxed);
                            let _ = client.set_nodelay(true);
                            let _ = server.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                    // No node up: the client sees the connection close.
                });
            }
        });
        Balancer {
            addr,
            counts,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections went to each upstream so far.
    pub fn forwarded(&self) -> Vec<usize> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
