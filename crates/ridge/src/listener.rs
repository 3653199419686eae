//! The server's listening socket.

use std::net::SocketAddr;

/// The server's socket, with as long a queue of connections not yet accepted as the kernel
/// allows (`net.core.somaxconn`, 4096 on current Linux). Tokio's own `bind` asks for 128, as
/// the standard library does: a burst of more new connections than that (a thousand clients at
/// once, webhooks fanned out by an alerting system) overflowed it, and the kernel dropped the
/// handshakes beyond it, which their clients retried only a second later.
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted server takes its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // The kernel caps the backlog at `net.core.somaxconn`.
    socket.listen(u32::MAX >> 1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Many more connections than Tokio's default backlog (128), all opened before the server
    /// accepts any: each handshake completes at once, none waits for a retransmitted SYN.
    #[tokio::test]
    async fn a_burst_of_connections_fits_the_listen_queue() {
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        // Where the kernel allows no more than the default, there is nothing to show.
        if somaxconn <= 300 {
            eprintln!("skipped: net.core.somaxconn is {somaxconn}");
            return;
        }
        let listener = listen("127.0.0.1:0".parse().expect("an address")).expect("a listener");
        let addr = listener.local_addr().expect("its address");
        let connects: Vec<_> = (0..300)
            .map(|_| {
                tokio::spawn(tokio::time::timeout(
                    Duration::from_millis(500),
                    tokio::net::TcpStream::connect(addr),
                ))
            })
            .collect();
        let mut done = 0;
        for connect in connects {
            if matches!(connect.await, Ok(Ok(Ok(_)))) {
                done += 1;
            }
        }
        assert_eq!(done, 300, "handshakes completed without an accept");
        drop(listener);
    }
}
