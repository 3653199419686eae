//! Ridge's side of one worker's conversation: which reply it waits for, and what it refuses.
//!
//! Every request carries a fresh random [`Nonce`]; a worker that echoed the nonce of `init` in
//! its `loading` frame (before any of the function's code ran) must echo the id of each request
//! in its reply. A frame with another id, or none, did not come from the worker's own reply
//! path: the function wrote it to a descriptor it reached, and the call fails as
//! [`Received::Tampered`]. The one exception is a frame carrying the id of the request before:
//! the worker's own late reply, overtaken by a frame the function forged with an id it fished
//! out of the worker; it is skipped, so a function can forge at most its own answer.
//!
//! Sizes are checked before anything is parsed: a frame over [`Caps::reply_frame`] is drained
//! unread, and a `returned` frame over [`Caps::returned_frame`] is dropped after reading only
//! its type and id.

use tokio::io::AsyncRead;

use crate::frame::{FrameError, read_body};
use crate::protocol::{Caps, Head, Nonce, Reply};

/// Whether the worker echoes ids, as its `loading` frame told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// Before `loading`.
    Unknown,
    Echoed,
    /// A worker written before ids: its replies are taken as they come.
    Legacy,
}

pub(crate) struct Exchange {
    caps: Caps,
    ids: Ids,
    /// The id of the request in flight.
    current: Nonce,
    /// The id of the request before it, whose late reply is skipped.
    previous: Option<Nonce>,
}

/// What reading one reply gave.
#[derive(Debug)]
pub(crate) enum Received {
    Reply(Reply),
    /// The pipe closed (cleanly between frames, or mid-frame), or reading it failed: the worker
    /// is gone or going.
    Closed,
    /// A frame over the caps, dropped unparsed; the pipe is still in step.
    TooLarge {
        len: usize,
        cap: usize,
    },
    /// A frame that does not answer the request in flight (not JSON, without the id, with
    /// another id): written by the function, not by the worker's reply path.
    Tampered(String),
    /// A legacy worker's frame that is not valid: the worker broke the protocol.
    Invalid(FrameError),
}

impl Exchange {
    pub(crate) fn new(caps: Caps) -> Self {
        Self {
            caps,
            ids: Ids::Unknown,
            current: Nonce::random(),
            previous: None,
        }
    }

    /// Replaces the caps before the first request (a pre-started worker's, once taken).
    pub(crate) fn set_caps(&mut self, caps: Caps) {
        self.caps = caps;
    }

    pub(crate) fn caps(&self) -> Caps {
        self.caps
    }

    /// The id of the request about to be sent (or in flight).
    pub(crate) fn current(&self) -> &Nonce {
        &self.current
    }

    /// Starts a new request: a fresh id, the last one kept to recognise its late reply.
    pub(crate) fn next(&mut self) -> &Nonce {
        let next = Nonce::random();
        self.previous = Some(std::mem::replace(&mut self.current, next));
        &self.current
    }

    /// Whether the worker echoes ids (so it can tell forged frames from its own).
    pub(crate) fn checks_ids(&self) -> bool {
        self.ids == Ids::Echoed
    }

    /// Reads the reply to the request in flight.
    pub(crate) async fn receive<R>(&mut self, reader: &mut R) -> Received
    where
        R: AsyncRead + Unpin,
    {
        loop {
            let body = match read_body(reader, self.caps.reply_frame()).await {
                Ok(Some(body)) => body,
                Ok(None) => return Received::Closed,
                Err(FrameError::TooLarge { len, .. }) => {
                    return Received::TooLarge {
                        len,
                        cap: self.caps.result,
                    };
                }
                Err(e @ (FrameError::Truncated | FrameError::Io(_))) => {
                    tracing::debug!(error = %e, "the worker's protocol pipe broke");
                    return Received::Closed;
                }
                Err(e @ FrameError::Json(_)) => return self.invalid(e),
            };
            let head: Head = match serde_json::from_slice(&body) {
                Ok(head) => head,
                Err(e) => return self.invalid(FrameError::Json(e)),
            };
            match self.check(&head) {
                Check::Accept => {}
                Check::Skip => {
                    tracing::debug!(kind = %head.kind, "skipped the late reply to an earlier call");
                    continue;
                }
                Check::Refuse(why) => return Received::Tampered(why),
            }
            if head.kind == "returned" && body.len() > self.caps.returned_frame() {
                return Received::TooLarge {
                    len: body.len(),
                    cap: self.caps.result,
                };
            }
            return match serde_json::from_slice::<Reply>(&body) {
                Ok(reply) => Received::Reply(reply),
                Err(e) => self.invalid(FrameError::Json(e)),
            };
        }
    }

    fn invalid(&self, e: FrameError) -> Received {
        if self.checks_ids() {
            Received::Tampered(format!("a frame that is not a reply ({e})"))
        } else {
            Received::Invalid(e)
        }
    }

    fn check(&mut self, head: &Head) -> Check {
        let id = head.id.as_deref();
        match self.ids {
            Ids::Unknown => {
                if head.kind == "loading" {
                    if self.current.is(id) {
                        self.ids = Ids::Echoed;
                    } else if id.is_some() {
                        return Check::Refuse("a `loading` frame with a wrong id".to_owned());
                    } else {
                        self.ids = Ids::Legacy;
                    }
                }
                Check::Accept
            }
            Ids::Legacy => Check::Accept,
            Ids::Echoed if self.current.is(id) => Check::Accept,
            Ids::Echoed if self.previous.as_ref().is_some_and(|p| p.is(id)) => Check::Skip,
            Ids::Echoed => Check::Refuse(match id {
                None => format!("a `{}` frame without an id", head.kind),
                Some(_) => format!("a `{}` frame with another call's id", head.kind),
            }),
        }
    }
}

enum Check {
    Accept,
    Skip,
    Refuse(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::write_frame;
    use serde_json::{Value, json};

    fn frames(values: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in values {
            let body = serde_json::to_vec(v).expect("json");
            out.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    fn id(n: &Nonce) -> Value {
        serde_json::to_value(n).expect("json")
    }

    async fn loaded(exchange: &mut Exchange) {
        let bytes = frames(&[json!({"type": "loading", "id": id(exchange.current())})]);
        let got = exchange.receive(&mut bytes.as_slice()).await;
        assert!(matches!(got, Received::Reply(Reply::Loading)), "{got:?}");
        assert!(exchange.checks_ids());
    }

    #[tokio::test]
    async fn a_reply_must_carry_the_id_of_its_request() {
        let mut exchange = Exchange::new(Caps::new(1000, 1000));
        loaded(&mut exchange).await;
        let call = exchange.next().clone();
        let bytes = frames(&[json!({"type": "returned", "id": id(&call), "output": 1})]);
        let got = exchange.receive(&mut bytes.as_slice()).await;
        assert!(
            matches!(got, Received::Reply(Reply::Returned { .. })),
            "{got:?}"
        );

        for forged in [
            json!({"type": "returned", "output": "forged"}),
            json!({"type": "returned", "id": "0123", "output": "forged"}),
            json!({"type": "fatal", "message": "forged"}),
        ] {
            exchange.next();
            let bytes = frames(&[forged]);
            let got = exchange.receive(&mut bytes.as_slice()).await;
            assert!(matches!(got, Received::Tampered(_)), "{got:?}");
        }
        exchange.next();
        let garbage = [0, 0, 0, 3, b'n', b'o', b'!'];
        let got = exchange.receive(&mut garbage.as_slice()).await;
        assert!(matches!(got, Received::Tampered(_)), "{got:?}");
    }

    #[tokio::test]
    async fn the_late_reply_to_the_call_before_is_skipped() {
        let mut exchange = Exchange::new(Caps::new(1000, 1000));
        loaded(&mut exchange).await;
        let first = exchange.next().clone();
        let second = exchange.next().clone();
        let bytes = frames(&[
            json!({"type": "returned", "id": id(&first), "output": "late"}),
            json!({"type": "returned", "id": id(&second), "output": "mine"}),
        ]);
        let got = exchange.receive(&mut bytes.as_slice()).await;
        assert!(
            matches!(&got, Received::Reply(Reply::Returned { output }) if output == "mine"),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn a_worker_without_ids_is_taken_as_it_comes() {
        let mut exchange = Exchange::new(Caps::new(1000, 1000));
        let bytes = frames(&[
            json!({"type": "loading"}),
            json!({"type": "returned", "output": 2}),
        ]);
        let mut reader = bytes.as_slice();
        let got = exchange.receive(&mut reader).await;
        assert!(matches!(got, Received::Reply(Reply::Loading)), "{got:?}");
        assert!(!exchange.checks_ids());
        exchange.next();
        let got = exchange.receive(&mut reader).await;
        assert!(
            matches!(got, Received::Reply(Reply::Returned { .. })),
            "{got:?}"
        );
        let got = exchange.receive(&mut reader).await;
        assert!(matches!(got, Received::Closed), "{got:?}");
    }

    #[tokio::test]
    async fn outputs_over_the_cap_are_refused_unparsed_and_the_pipe_stays_in_step() {
        let mut exchange = Exchange::new(Caps::new(100, 10_000));
        loaded(&mut exchange).await;
        let call = exchange.next().clone();
        let mut bytes = Vec::new();
        // Over the returned cap but under the frame cap: read, type checked, not parsed.
        let mid = json!({"type": "returned", "id": id(&call), "output": "x".repeat(8000)});
        write_frame(&mut bytes, &mid).await.expect("write");
        // Over every cap: drained.
        let huge = json!({"type": "returned", "id": id(&call), "output": "x".repeat(50_000)});
        write_frame(&mut bytes, &huge).await.expect("write");
        let ok = json!({"type": "returned", "id": id(&call), "output": 3});
        write_frame(&mut bytes, &ok).await.expect("write");
        let mut reader = bytes.as_slice();
        let got = exchange.receive(&mut reader).await;
        assert!(
            matches!(got, Received::TooLarge { cap: 100, .. }),
            "{got:?}"
        );
        let got = exchange.receive(&mut reader).await;
        assert!(
            matches!(got, Received::TooLarge { len, cap: 100 } if len > 50_000),
            "{got:?}"
        );
        let got = exchange.receive(&mut reader).await;
        assert!(
            matches!(got, Received::Reply(Reply::Returned { .. })),
            "{got:?}"
        );
    }
}
