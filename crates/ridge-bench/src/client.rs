//! The load generator's HTTP/1.1 client: each simulated client owns one kept-alive connection
//! to each server it sends to, driven on the load generator's own threads (see `load.rs`), as
//! `wrk` drives its connections.
//!
//! reqwest, which the scenarios use for everything else, shares a connection pool between
//! tasks and hands each request to the connection's task over a channel, on a runtime whose
//! threads take turns: at concurrency 1 those hops are most of the client's cost, and they
//! were counted in every latency the benchmark reported (docs/benchmarks.md, section (13)).
//! Here a request is written and its answer read by the client's own task, on a thread that
//! serves only load clients.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, StatusCode, Uri};
use hyper_util::rt::TokioIo;

/// Decides whether an answer (its status and whole body) is the one wanted.
pub type Check = Arc<dyn Fn(StatusCode, &[u8]) -> Result<(), String> + Send + Sync>;

/// A request the load generator sends (again and again, or once among others), and how its
/// answer is checked.
#[derive(Clone)]
pub struct Request {
    addr: SocketAddr,
    host: HeaderValue,
    path: Uri,
    content_type: Option<HeaderValue>,
    body: Bytes,
    check: Check,
}

impl Request {
    /// A `POST` of `body` to `url` (`http://IP:PORT/path`: the servers the benchmark starts
    /// listen on loopback addresses, never names).
    pub fn post(
        url: &str,
        content_type: Option<&'static str>,
        body: Bytes,
        check: Check,
    ) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("the load generator speaks plain HTTP, not `{url}`"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr: SocketAddr = authority
            .parse()
            .with_context(|| format!("`{url}` does not name an IP address and a port"))?;
        Ok(Self {
            addr,
            host: HeaderValue::from_str(authority)
                .with_context(|| format!("`{authority}` is no Host header"))?,
            path: if path.is_empty() { "/" } else { path }
                .parse()
                .with_context(|| format!("`{url}` has no valid path"))?,
            content_type: content_type.map(HeaderValue::from_static),
            body,
            check,
        })
    }
}

/// One simulated client: a kept-alive connection to each server it has sent to (scenarios with
/// several nodes send round-robin), opened at its first request there and again after an
/// error or a close by the server.
#[derive(Default)]
pub struct Client {
    connections: Vec<(SocketAddr, SendRequest<Full<Bytes>>)>,
}

impl Client {
    /// Sends `request` once, reads the whole answer and checks it. Must run inside a Tokio
    /// runtime: a new connection's own task is spawned on the current one.
    pub async fn call(&mut self, request: &Request) -> Result<(), String> {
        let result = self.exchange(request).await;
        if result.is_err() {
            // Whatever went wrong, the next call there starts on a fresh connection.
            self.connections.retain(|(addr, _)| *addr != request.addr);
        }
        result
    }

    async fn exchange(&mut self, request: &Request) -> Result<(), String> {
        self.connections
            .retain(|(addr, sender)| *addr != request.addr || !sender.is_closed());
        let at = match self
            .connections
            .iter()
            .position(|(addr, _)| *addr == request.addr)
        {
            Some(at) => at,
            None => {
                self.connections
                    .push((request.addr, connect(request.addr).await?));
                self.connections.len() - 1
            }
        };
        let sender = &mut self.connections[at].1;
        sender
            .ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        let mut outgoing = hyper::Request::new(Full::new(request.body.clone()));
        *outgoing.method_mut() = Method::POST;
        *outgoing.uri_mut() = request.path.clone();
        let headers = outgoing.headers_mut();
        headers.insert(HOST, request.host.clone());
        if let Some(content_type) = &request.content_type {
            headers.insert(CONTENT_TYPE, content_type.clone());
        }
        let answer = sender
            .send_request(outgoing)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = answer.status();
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes();
        (request.check)(status, &body)
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
    // On the load thread's own single-threaded runtime: handing a request to this task and
    // back costs no thread switch. It ends when the sender is dropped or the server closes.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept_all() -> Check {
        Arc::new(|_, _| Ok(()))
    }

    /// A listener on a loopback port the kernel picks, and its address.
    async fn loopback() -> (tokio::net::TcpListener, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        (listener, addr)
    }

    /// Reads from `socket` until what came ends with `end` (a request's body); the whole of it.
    async fn read_until(socket: &mut tokio::net::TcpStream, end: &[u8]) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(end) {
            let n = socket.read(&mut buf).await.expect("a read");
            assert!(n > 0, "the client closed early");
            request.extend_from_slice(&buf[..n]);
        }
        request
    }

    #[test]
    fn a_url_splits_into_address_host_and_path() {
        let r = Request::post(
            "http://127.0.0.1:8080/v1/executions",
            None,
            Bytes::new(),
            accept_all(),
        )
        .expect("a loopback URL");
        assert_eq!(
            r.addr,
            "127.0.0.1:8080".parse::<SocketAddr>().expect("an address")
        );
        assert_eq!(r.host, "127.0.0.1:8080");
        assert_eq!(r.path, "/v1/executions");
        let bare =
            Request::post("http://[::1]:9", None, Bytes::new(), accept_all()).expect("an IPv6 URL");
        assert_eq!(bare.path, "/");
        assert_eq!(bare.host, "[::1]:9");
    }

    #[test]
    fn what_it_cannot_reach_is_refused_up_front() {
        for url in [
            "https://127.0.0.1:1/",
            "http://localhost:80/",
            "127.0.0.1:80/",
        ] {
            assert!(
                Request::post(url, None, Bytes::new(), accept_all()).is_err(),
                "{url}"
            );
        }
    }

    /// Against a real server on loopback: the body and content type arrive, answers are
    /// checked, and a connection the server closes is replaced at the next call.
    #[tokio::test]
    async fn it_posts_checks_and_reconnects() {
        use tokio::io::AsyncWriteExt;
        let (listener, addr) = loopback().await;
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            // Two connections: the first answers one request and closes, the second two.
            for answers in [1, 2] {
                let (mut socket, _) = listener.accept().await.expect("a connection");
                for _ in 0..answers {
                    let request = read_until(&mut socket, b"hello").await;
                    seen.push(String::from_utf8(request).expect("a text request"));
                    let close = if answers == 1 {
                        "connection: close\r\n"
                    } else {
                        ""
                    };
                    socket
                        .write_all(
                            format!("HTTP/1.1 200 OK\r\n{close}content-length: 2\r\n\r\nok")
                                .as_bytes(),
                        )
                        .await
                        .expect("the answer is written");
                }
            }
            seen
        });
        let check: Check = Arc::new(|status, body| {
            if status == StatusCode::OK && body == b"ok" {
                Ok(())
            } else {
                Err(format!("{status}: {}", String::from_utf8_lossy(body)))
            }
        });
        let request = Request::post(
            &format!("http://{addr}/run"),
            Some("text/plain"),
            Bytes::from_static(b"hello"),
            check,
        )
        .expect("a loopback URL");
        let mut client = Client::default();
        for i in 0..3 {
            // The server's close may still be on its way after the first answer.
            let mut result = client.call(&request).await;
            if i == 1 && result.is_err() {
                result = client.call(&request).await;
            }
            result.expect("each call succeeds");
        }
        let seen = server.await.expect("the server ran");
        assert_eq!(seen.len(), 3);
        for request in &seen {
            let lower = request.to_ascii_lowercase();
            assert!(lower.starts_with("post /run http/1.1\r\n"), "{request}");
            assert!(lower.contains(&format!("host: {addr}\r\n")), "{request}");
            assert!(lower.contains("content-type: text/plain\r\n"), "{request}");
        }
    }

    #[tokio::test]
    async fn a_wrong_answer_is_an_error_with_its_body() {
        use tokio::io::AsyncWriteExt;
        let (listener, addr) = loopback().await;
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("a connection");
            read_until(&mut socket, b"\r\n\r\n").await;
            socket
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy")
                .await
                .expect("the answer is written");
        });
        let check: Check = Arc::new(|status, body| {
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {status}: {}", String::from_utf8_lossy(body)))
            }
        });
        let request =
            Request::post(&format!("http://{addr}/"), None, Bytes::new(), check).expect("a URL");
        let err = Client::default()
            .call(&request)
            .await
            .expect_err("a 503 is an error");
        assert!(err.contains("503") && err.contains("busy"), "{err}");
    }

    /// Round-robin over two servers: one kept-alive connection to each, not one per request.
    #[tokio::test]
    async fn one_connection_per_server() {
        use tokio::io::AsyncWriteExt;
        let mut requests = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..2 {
            let (listener, addr) = loopback().await;
            requests.push(
                Request::post(
                    &format!("http://{addr}/"),
                    None,
                    Bytes::from_static(b"x"),
                    accept_all(),
                )
                .expect("a URL"),
            );
            // Answers three requests on the first connection it accepts, then reports whether
            // another connection came within a moment.
            servers.push(tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.expect("a connection");
                for _ in 0..3 {
                    read_until(&mut socket, b"\r\n\r\nx").await;
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .expect("the answer is written");
                }
                tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept())
                    .await
                    .is_ok()
            }));
        }
        let mut client = Client::default();
        for i in 0..6 {
            // A client that opened a connection per request would wait here for an answer
            // the servers never give.
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                client.call(&requests[i % 2]),
            )
            .await
            .expect("an answer on the kept connection")
            .expect("each call succeeds");
        }
        for server in servers {
            assert!(
                !server.await.expect("the server ran"),
                "a second connection was opened"
            );
        }
    }
}
