//! Framing: a 4-byte big-endian length, then a postcard-encoded message.
//!
//! Every frame is checked against a hard cap before a single byte of it is
//! buffered, so a peer cannot make us allocate more than the cap, and a bad
//! frame is a typed error that closes only the stream it arrived on.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest control message a peer may send (bulk data travels as raw
/// bytes after a header frame, not inside a message).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("stream ended inside a frame ({got} of {want} bytes)")]
    Truncated { got: usize, want: usize },
    #[error("stream ended before a frame started")]
    Closed,
    #[error("undecodable frame: {0}")]
    Decode(String),
    #[error("message cannot be encoded: {0}")]
    Encode(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes `msg` as one frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = postcard::to_stdvec(msg).map_err(|e| FrameError::Encode(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max: MAX_FRAME,
        });
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a frame body (without its length prefix).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    postcard::from_bytes(body).map_err(|e| FrameError::Decode(e.to_string()))
}

pub async fn write_frame<W, T>(w: &mut W, msg: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let buf = encode(msg)?;
    w.write_all(&buf).await?;
    Ok(())
}

/// Reads one frame; `Closed` when the stream ended cleanly before it.
pub async fn read_frame<R, T>(r: &mut R) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    read_frame_capped(r, MAX_FRAME).await
}

pub async fn read_frame_capped<R, T>(r: &mut R, max: usize) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len = [0u8; 4];
    let got = read_full(r, &mut len).await?;
    if got == 0 {
        return Err(FrameError::Closed);
    }
    if got < 4 {
        return Err(FrameError::Truncated { got, want: 4 });
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    let got = read_full(r, &mut body).await?;
    if got < len {
        return Err(FrameError::Truncated { got, want: len });
    }
    decode(&body)
}

async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Msg {
        A { x: u32, s: String },
        B(Vec<u8>),
    }

    #[tokio::test]
    async fn round_trip() {
        let m = Msg::A {
            x: 7,
            s: "hi".into(),
        };
        let buf = encode(&m).unwrap();
        let got: Msg = read_frame(&mut &buf[..]).await.unwrap();
        assert_eq!(got, m);
    }

    #[tokio::test]
    async fn oversized_frame_is_refused_before_reading_it() {
        let mut buf = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        buf.extend_from_slice(&[0; 16]);
        let err = read_frame::<_, Msg>(&mut &buf[..]).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn truncated_and_garbage_frames_are_errors() {
        let buf = encode(&Msg::B(vec![1; 100])).unwrap();
        let err = read_frame::<_, Msg>(&mut &buf[..50]).await.unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 46, want: _ }),
            "{err}"
        );
        let err = read_frame::<_, Msg>(&mut &buf[..2]).await.unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 2, want: 4 }),
            "{err}"
        );
        let garbage = [0, 0, 0, 3, 0xff, 0xff, 0xff];
        let err = read_frame::<_, Msg>(&mut &garbage[..]).await.unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)), "{err}");
        let err = read_frame::<_, Msg>(&mut &[][..]).await.unwrap_err();
        assert!(matches!(err, FrameError::Closed), "{err}");
    }

    #[tokio::test]
    async fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every prefix of many pseudo-random buffers.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..500 {
            let mut buf = Vec::new();
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            buf[0] = 0;
            buf[1] = 0;
            let _ = read_frame::<_, Msg>(&mut &buf[..]).await;
        }
    }
}
