//! Length-prefixed frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
//! Both sides refuse frames over [`MAX_FRAME`] bytes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame either side accepts (the worker learns it from the init frame).
pub(crate) const MAX_FRAME: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("the pipe closed in the middle of a frame")]
    Truncated,
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

/// The next frame, or `None` if the pipe closed cleanly between frames.
pub(crate) async fn read_frame<R, T>(reader: &mut R) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
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
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    let mut body = vec![0; len];
    reader
        .read_exact(&mut body)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        })?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(FrameError::Json)
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
        let got: Option<Value> = read_frame(&mut b).await.expect("read");
        assert_eq!(got, Some(json!({"type": "ready", "text": "é"})));
        let end: Option<Value> = read_frame(&mut b).await.expect("clean end");
        assert_eq!(end, None);
    }

    #[tokio::test]
    async fn the_header_is_the_big_endian_body_length() {
        let mut out = Vec::new();
        write_frame(&mut out, &json!([1])).await.expect("write");
        assert_eq!(out, [0, 0, 0, 3, b'[', b'1', b']']);
    }

    #[tokio::test]
    async fn refuses_oversized_frames_before_reading_them() {
        let len = (MAX_FRAME as u32 + 1).to_be_bytes();
        let mut input: &[u8] = &len;
        let err = read_frame::<_, Value>(&mut input)
            .await
            .expect_err("too large");
        assert!(matches!(err, FrameError::TooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_cut_frame_is_truncated_not_a_clean_end() {
        let mut header_only: &[u8] = &[0, 0];
        let err = read_frame::<_, Value>(&mut header_only)
            .await
            .expect_err("cut");
        assert!(matches!(err, FrameError::Truncated));
        let mut short_body: &[u8] = &[0, 0, 0, 5, b'{'];
        let err = read_frame::<_, Value>(&mut short_body)
            .await
            .expect_err("cut");
        assert!(matches!(err, FrameError::Truncated));
    }

    #[tokio::test]
    async fn garbage_is_a_json_error() {
        let mut input: &[u8] = &[0, 0, 0, 3, b'n', b'o', b'!'];
        let err = read_frame::<_, Value>(&mut input)
            .await
            .expect_err("garbage");
        assert!(matches!(err, FrameError::Json(_)));
    }
}
