//! Length-prefixed frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
//!
//! Ridge writes frames of at most [`MAX_FRAME`] bytes, and reads each frame against a limit its
//! caller sets (the result cap and room for messages, see `crate::protocol::Caps`). A frame over
//! that limit is never held whole: its body is read and dropped in small chunks, so the pipe
//! stays in step for the next frame, and the reader learns only its length.

use serde::Serialize;
#[cfg(test)]
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame Ridge sends (the worker learns it from the init frame).
pub(crate) const MAX_FRAME: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("the pipe closed in the middle of a frame")]
    Truncated,
    /// The frame was over the limit; its body was read and dropped, so the next frame can be
    /// read.
    #[error("a frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("a frame is not the expected JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("i/o error on the worker's pipes: {0}")]
    Io(#[source] std::io::Error),
}

pub(crate) async fn write_frame<W, T>(writer: &mut W, message: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize + ?Sized,
{
    let mut bytes = vec![0; 4];
    serde_json::to_writer(&mut bytes, message).map_err(FrameError::Json)?;
    let len = bytes.len() - 4;
    let header =
        u32::try_from(len)
            .ok()
            .filter(|_| len <= MAX_FRAME)
            .ok_or(FrameError::TooLarge {
                len,
                max: MAX_FRAME,
            })?;
    bytes[..4].copy_from_slice(&header.to_be_bytes());
    writer.write_all(&bytes).await.map_err(FrameError::Io)?;
    writer.flush().await.map_err(FrameError::Io)
}

/// The next frame, or `None` if the pipe closed cleanly between frames. A frame over `max`
/// bytes is drained and reported as [`FrameError::TooLarge`] without being kept. (Ridge reads
/// replies through `crate::exchange`, which checks them before parsing.)
#[cfg(test)]
pub(crate) async fn read_frame<R, T>(reader: &mut R, max: usize) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let Some(body) = read_body(reader, max).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(FrameError::Json)
}

/// The next frame's bytes, or `None` if the pipe closed cleanly between frames.
pub(crate) async fn read_body<R>(reader: &mut R, max: usize) -> Result<Option<Vec<u8>>, FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut header = [0u8; 4];
    let mut filled = 0;
    while filled < header.len() {
        match reader.read(&mut header[filled..]).await {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        drain(reader, len).await?;
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await.map_err(read_error)?;
    Ok(Some(body))
}

/// Reads and drops `len` bytes, a chunk at a time.
async fn drain<R>(reader: &mut R, len: usize) -> Result<(), FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut chunk = vec![0; DRAIN_CHUNK];
    let mut left = len;
    while left > 0 {
        let want = left.min(chunk.len());
        match reader.read(&mut chunk[..want]).await {
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => left -= n,
            Err(e) => return Err(read_error(e)),
        }
    }
    Ok(())
}

/// What an oversized frame is read through: the most Ridge holds of it at once.
const DRAIN_CHUNK: usize = 64 * 1024;

fn read_error(e: std::io::Error) -> FrameError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[tokio::test]
    async fn round_trips_and_reports_a_clean_end() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(&mut a, &json!({"type": "ready", "text": "é"}))
            .await
            .expect("write");
        drop(a);
        let got: Option<Value> = read_frame(&mut b, 100).await.expect("read");
        assert_eq!(got, Some(json!({"type": "ready", "text": "é"})));
        let end: Option<Value> = read_frame(&mut b, 100).await.expect("clean end");
        assert_eq!(end, None);
    }

    #[tokio::test]
    async fn the_header_is_the_big_endian_body_length() {
        let mut out = Vec::new();
        write_frame(&mut out, &json!([1])).await.expect("write");
        assert_eq!(out, [0, 0, 0, 3, b'[', b'1', b']']);
    }

    #[tokio::test]
    async fn an_oversized_frame_is_drained_and_the_next_one_still_reads() {
        let mut input = Vec::new();
        write_frame(&mut input, &json!({"big": "x".repeat(200_000)}))
            .await
            .expect("write");
        write_frame(&mut input, &json!("next"))
            .await
            .expect("write");
        let mut reader: &[u8] = &input;
        let err = read_frame::<_, Value>(&mut reader, 1000)
            .await
            .expect_err("too large");
        assert!(
            matches!(
                err,
                FrameError::TooLarge {
                    len: 200_010,
                    max: 1000
                }
            ),
            "{err}"
        );
        let next: Option<Value> = read_frame(&mut reader, 1000).await.expect("in step");
        assert_eq!(next, Some(json!("next")));
    }

    #[tokio::test]
    async fn an_oversized_frame_cut_short_is_truncated() {
        let mut input = u32::MAX.to_be_bytes().to_vec();
        input.extend_from_slice(&[b'x'; 10]);
        let mut reader: &[u8] = &input;
        let err = read_frame::<_, Value>(&mut reader, 1000)
            .await
            .expect_err("cut");
        assert!(matches!(err, FrameError::Truncated), "{err}");
    }

    #[tokio::test]
    async fn a_cut_frame_is_truncated_not_a_clean_end() {
        let mut header_only: &[u8] = &[0, 0];
        let err = read_frame::<_, Value>(&mut header_only, 100)
            .await
            .expect_err("cut");
        assert!(matches!(err, FrameError::Truncated));
        let mut short_body: &[u8] = &[0, 0, 0, 5, b'{'];
        let err = read_frame::<_, Value>(&mut short_body, 100)
            .await
            .expect_err("cut");
        assert!(matches!(err, FrameError::Truncated));
    }

    #[tokio::test]
    async fn garbage_is_a_json_error() {
        let mut input: &[u8] = &[0, 0, 0, 3, b'n', b'o', b'!'];
        let err = read_frame::<_, Value>(&mut input, 100)
            .await
            .expect_err("garbage");
        assert!(matches!(err, FrameError::Json(_)));
    }
}
