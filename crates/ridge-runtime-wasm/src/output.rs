//! A guest's stdout and stderr: kept in memory up to a cap, the rest counted and dropped, so a
//! chatty module neither fails nor grows the host without bound. And how stdout becomes the
//! execution's output.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use serde_json::Value;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How much a guest may write in one go before it hears back.
const WRITE_BUDGET: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Buffer {
    bytes: Vec<u8>,
    dropped: u64,
}

/// One output stream of one execution. Clones share the buffer.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    cap: usize,
    buffer: Arc<Mutex<Buffer>>,
}

/// What a guest wrote to one stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Captured {
    pub bytes: Vec<u8>,
    /// Bytes past the cap, dropped.
    pub dropped: u64,
    pub cap: usize,
}

impl Capture {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap,
            buffer: Arc::default(),
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.cap.saturating_sub(buffer.bytes.len());
        let kept = bytes.len().min(room);
        buffer.bytes.extend_from_slice(&bytes[..kept]);
        buffer.dropped += (bytes.len() - kept) as u64;
    }

    pub(crate) fn take(&self) -> Captured {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = std::mem::take(&mut *buffer);
        Captured {
            bytes: taken.bytes,
            dropped: taken.dropped,
            cap: self.cap,
        }
    }
}

impl Captured {
    /// The text, decoded with replacement, and a marker line if output was dropped.
    pub(crate) fn render(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.dropped > 0 {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!(
                "[ridge: output truncated, {} bytes over the {}-byte limit]\n",
                self.dropped, self.cap
            ));
        }
        out
    }

    /// Stdout as the execution's output: JSON if it parses, else the text with one trailing
    /// line break removed; nothing written is `null`.
    pub(crate) fn output(&self) -> Value {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        if let Ok(value) = serde_json::from_slice::<Value>(&self.bytes) {
            return value;
        }
        let text = String::from_utf8_lossy(&self.bytes);
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        Value::String(text.to_owned())
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_up_to_the_cap_and_counts_the_rest() {
        let capture = Capture::new(5);
        capture.append(b"hel");
        capture.append(b"lo world");
        let taken = capture.take();
        assert_eq!(taken.bytes, b"hello");
        assert_eq!(taken.dropped, 6);
        assert_eq!(
            taken.render(),
            "hello\n[ridge: output truncated, 6 bytes over the 5-byte limit]\n"
        );
        assert_eq!(capture.take().bytes, b"", "taking empties the buffer");
    }

    #[test]
    fn stdout_is_json_or_text() {
        let out = |s: &str| {
            Captured {
                bytes: s.as_bytes().to_vec(),
                ..Captured::default()
            }
            .output()
        };
        assert_eq!(out("{\"a\": 1}\n"), json!({"a": 1}));
        assert_eq!(out("42"), json!(42));
        assert_eq!(out("hello\n"), json!("hello"));
        assert_eq!(out("two\nlines\n\n"), json!("two\nlines\n"));
        assert_eq!(out(""), Value::Null);
        assert_eq!(out(" \n"), Value::Null);
    }
}
