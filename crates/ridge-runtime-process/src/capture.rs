//! What a worker prints: its fds 1 and 2 are the write end of a pipe that Ridge reads all the
//! time, keeping the first `log_cap` bytes of each execution and counting and dropping the
//! rest. Output costs the server at most `log_cap` bytes per worker, in memory, and nothing on
//! disk, however much a function prints. Framing it as Qinling's execution log is
//! `ridge_core::execution_log`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

/// How much is read from the pipe at once.
const CHUNK: usize = 64 * 1024;

thread_local! {
    /// What each read lands in before the sink keeps its share: one per thread rather than one
    /// per worker, so an idle worker costs the server no read buffer (64 KiB each, touched
    /// when zeroed, made a cold start's fork copy more of the server the more workers lived:
    /// docs/benchmarks.md, "the server's memory per worker"). Reads never await, so no
    /// other read on the thread can hold it meanwhile.
    static CHUNK_BUFFER: RefCell<Box<[u8]>> = RefCell::new(vec![0; CHUNK].into_boxed_slice());
}
/// Chunks the background reader takes before it lets [`Capture::take`] in.
const CHUNKS_PER_TURN: usize = 16;
/// The most [`Capture::take`] reads from the pipe itself: more than a pipe can hold (1 MiB at
/// most for an unprivileged process), so everything written before a reply is in, and a
/// process that keeps printing cannot hold the caller.
const TAKE_LIMIT: usize = 4 * 1024 * 1024;

/// The captured stdout+stderr of one execution (or of the import), cut at the cap.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Captured {
    /// The first `cap` bytes, decoded as UTF-8 with replacement.
    pub text: String,
    /// How many bytes past the cap were dropped.
    pub dropped: u64,
    pub cap: usize,
}

impl Captured {
    /// The text, with a marker line if output was dropped.
    pub(crate) fn render(&self) -> String {
        let mut out = self.text.clone();
        if self.dropped > 0 {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "[ridge: output truncated, {} bytes over the {}-byte limit]",
                self.dropped, self.cap
            );
        }
        out
    }

    /// Appends a traceback on a line of its own, within the same cap: the whole log stays
    /// under `cap` bytes and one marker.
    pub(crate) fn push_traceback(&mut self, traceback: &str) {
        if traceback.is_empty() {
            return;
        }
        let separate = !self.text.is_empty() && !self.text.ends_with('\n');
        let room = self
            .cap
            .saturating_sub(self.text.len() + usize::from(separate));
        if self.dropped > 0 || room == 0 {
            self.dropped += traceback.len() as u64;
            return;
        }
        if separate {
            self.text.push('\n');
        }
        let kept = floor_char_boundary(traceback, room);
        self.text.push_str(&traceback[..kept]);
        self.dropped += (traceback.len() - kept) as u64;
    }
}

/// The largest index `<= at` that is a char boundary of `text`.
pub(crate) fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// Bytes read since the last [`Capture::take`].
#[derive(Debug)]
struct Sink {
    bytes: Vec<u8>,
    dropped: u64,
    cap: usize,
}

impl Sink {
    /// Keeps what fits under the cap of `read`, and counts the rest as dropped.
    fn push(&mut self, read: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        let kept = read.len().min(room);
        self.bytes.extend_from_slice(&read[..kept]);
        self.dropped += (read.len() - kept) as u64;
    }
}

#[derive(Debug)]
struct Shared {
    /// The read end, non-blocking. The background reader reads through Tokio (which tracks
    /// readiness); [`Capture::take`] with plain `read(2)` calls, as it must see what the pipe
    /// holds now, whether or not the reactor has heard of it yet.
    pipe: pipe::Receiver,
    sink: Mutex<Sink>,
}

/// Whether the pipe may give more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Nothing to read now.
    Idle,
    /// Read the budget; there may be more.
    More,
    /// Every writer is gone (or the pipe failed).
    Closed,
}

impl Shared {
    /// Reads what the pipe holds into the sink, at most `budget` bytes, through Tokio
    /// (`direct`: with plain reads); the lock is held throughout, so bytes land in the order
    /// they were written.
    fn read_available(&self, budget: usize, direct: bool) -> Flow {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        CHUNK_BUFFER.with_borrow_mut(|chunk| {
            let mut read = 0;
            while read < budget {
                let got = if direct {
                    nix::unistd::read(&self.pipe, chunk).map_err(io::Error::from)
                } else {
                    self.pipe.try_read(chunk)
                };
                match got {
                    Ok(0) => return Flow::Closed,
                    Ok(n) => {
                        sink.push(&chunk[..n]);
                        read += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Idle,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Flow::Closed,
                }
            }
            Flow::More
        })
    }
}

/// Ridge's end of a worker's output pipe, read by a background task from creation to drop.
#[derive(Debug)]
pub(crate) struct Capture {
    shared: Arc<Shared>,
    reader: JoinHandle<()>,
}

impl Capture {
    /// A pipe for a worker's fds 1 and 2: the capture, and the write end to give the worker.
    /// Needs a Tokio runtime.
    pub(crate) fn new(cap: usize) -> io::Result<(Self, OwnedFd)> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let shared = Arc::new(Shared {
            // Makes Ridge's end (only) non-blocking: the worker's writes block as usual.
            pipe: pipe::Receiver::from_owned_fd(read)?,
            sink: Mutex::new(Sink {
                bytes: Vec::new(),
                dropped: 0,
                cap,
            }),
        });
        let reader = tokio::spawn(read_until_closed(shared.clone()));
        Ok((Self { shared, reader }, write))
    }

    /// Changes the cap (a pre-started worker learns its function's when it is taken).
    pub(crate) fn set_cap(&self, cap: usize) {
        let mut sink = self
            .shared
            .sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        sink.cap = cap;
        if sink.bytes.len() > cap {
            sink.dropped += (sink.bytes.len() - cap) as u64;
            sink.bytes.truncate(cap);
        }
    }

    /// Everything written since the last call, cut at the cap: what the pipe holds now is read
    /// first, so the output of an execution that has replied is all in.
    pub(crate) fn take(&self) -> Captured {
        self.shared.read_available(TAKE_LIMIT, true);
        let mut sink = self
            .shared
            .sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bytes = std::mem::take(&mut sink.bytes);
        let dropped = std::mem::take(&mut sink.dropped);
        Captured {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            dropped,
            cap: sink.cap,
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Keeps the pipe empty, so a function that prints is never held up, until every writer is
/// gone.
async fn read_until_closed(shared: Arc<Shared>) {
    loop {
        if shared.pipe.readable().await.is_err() {
            return;
        }
        match shared.read_available(CHUNK * CHUNKS_PER_TURN, false) {
            Flow::Closed => return,
            Flow::More => tokio::task::yield_now().await,
            Flow::Idle => {}
        }
    }
}

/// The log of a failed load or a raised execution: what was printed, then the traceback,
/// within the log cap.
pub(crate) fn with_traceback(mut captured: Captured, traceback: &str) -> String {
    captured.push_traceback(traceback);
    captured.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn captured(text: &str, dropped: u64, cap: usize) -> Captured {
        Captured {
            text: text.into(),
            dropped,
            cap,
        }
    }

    #[test]
    fn tracebacks_go_on_their_own_line() {
        assert_eq!(
            with_traceback(captured("no newline", 0, 100), "SyntaxError: x\n"),
            "no newline\nSyntaxError: x\n"
        );
        assert_eq!(with_traceback(captured("", 0, 100), "E\n"), "E\n");
    }

    #[test]
    fn a_traceback_counts_against_the_log_cap() {
        assert_eq!(
            with_traceback(captured("out\n", 0, 10), "Traceback: long\n"),
            "out\nTraceb\n[ridge: output truncated, 10 bytes over the 10-byte limit]\n"
        );
        // Output that already filled the cap leaves no room: one marker counts both.
        assert_eq!(
            with_traceback(captured("0123456789", 5, 10), "tb\n"),
            "0123456789\n[ridge: output truncated, 8 bytes over the 10-byte limit]\n"
        );
        // Never cut inside a character.
        let log = with_traceback(captured("", 0, 4), "ééé");
        assert!(
            log.starts_with("éé\n[ridge: output truncated, 2 bytes"),
            "{log}"
        );
        let huge = "x".repeat(20 << 20);
        let log = with_traceback(captured("printed\n", 0, 1 << 20), &huge);
        assert!(log.len() < (1 << 20) + 100, "{}", log.len());
    }

    #[test]
    fn cuts_at_the_cap_and_says_how_much_was_dropped() {
        assert_eq!(
            captured("0123456789", 6, 10).render(),
            "0123456789\n[ridge: output truncated, 6 bytes over the 10-byte limit]\n"
        );
    }

    #[tokio::test]
    async fn the_pipe_is_read_while_written_and_taken_per_execution() {
        let (capture, write) = Capture::new(10).expect("pipe");
        let mut writer = std::fs::File::from(write);
        // Far more than a pipe holds: the writer is never blocked for good.
        let big = vec![b'y'; 1 << 20];
        let written = tokio::task::spawn_blocking(move || {
            writer.write_all(b"0123456789abcdef").expect("write");
            writer.write_all(&big).expect("write");
            writer
        })
        .await
        .expect("the writer finishes");
        let first = capture.take();
        assert_eq!(first.text, "0123456789");
        assert_eq!(first.dropped, 6 + (1 << 20));
        let mut writer = written;
        writer.write_all(b"ok \xff\n").expect("write");
        let second = capture.take();
        assert_eq!(second.text, "ok \u{fffd}\n", "decoded with replacement");
        assert_eq!(second.dropped, 0);
        drop(writer);
        assert_eq!(capture.take().text, "");
    }
}
