//! Node-to-node frames: `length u32 | version u8 | crc32c u32 | postcard payload`, all
//! big-endian. The length counts everything after itself and is checked against a bound
//! before anything is allocated; the CRC-32C covers the payload; an unknown version is
//! refused. A bad frame closes the connection (the peer reconnects).

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The frame format version this node speaks.
pub const FRAME_VERSION: u8 = 1;
/// The largest frame accepted (a replica fetch answers at most a few MiB).
pub const FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;
const HEADER_BYTES: usize = 5;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed or closed.
    #[error("peer connection: {0}")]
    Io(#[from] std::io::Error),
    /// A length outside the bounds.
    #[error("peer frame of {0} bytes is outside 5..={FRAME_BYTES_MAX}")]
    Length(usize),
    /// A version this node does not speak.
    #[error("peer frame version {0}; this node speaks {FRAME_VERSION} (mixed Eddy versions?)")]
    Version(u8),
    /// The checksum does not match.
    #[error("peer frame checksum mismatch: corrupted in transit")]
    Checksum,
    /// The payload does not decode.
    #[error("peer frame does not decode: {0}")]
    Decode(#[from] postcard::Error),
}

/// Encodes one message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let payload = postcard::to_stdvec(msg)?;
    let len = payload.len() + HEADER_BYTES;
    if len > FRAME_BYTES_MAX {
        return Err(FrameError::Length(len));
    }
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(FRAME_VERSION);
    out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes a frame body (everything after the length).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    if body.len() < HEADER_BYTES {
        return Err(FrameError::Length(body.len()));
    }
    if body[0] != FRAME_VERSION {
        return Err(FrameError::Version(body[0]));
    }
    let crc = u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
    let payload = &body[HEADER_BYTES..];
    if crc32c::crc32c(payload) != crc {
        return Err(FrameError::Checksum);
    }
    Ok(postcard::from_bytes(payload)?)
}

/// Writes one message.
pub async fn write<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    let bytes = encode(msg)?;
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message.
pub async fn read<R: AsyncRead + Unpin, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if !(HEADER_BYTES..=FRAME_BYTES_MAX).contains(&len) {
        return Err(FrameError::Length(len));
    }
    // Grow with the bytes that actually arrive: a forged length alone allocates nothing.
    let mut body = Vec::with_capacity(len.min(64 * 1024));
    let read = r.take(len as u64).read_to_end(&mut body).await?;
    if read != len {
        return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    decode(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let msg = (7u32, "hello".to_string());
        let bytes = encode(&msg).expect("encode");
        let back: (u32, String) = decode(&bytes[4..]).expect("decode");
        assert_eq!(back, msg);

        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            decode::<(u32, String)>(&flipped[4..]),
            Err(FrameError::Checksum)
        ));

        let mut version = bytes.clone();
        version[4] = 9;
        assert!(matches!(
            decode::<(u32, String)>(&version[4..]),
            Err(FrameError::Version(9))
        ));
        assert!(matches!(
            decode::<(u32, String)>(&[1, 2]),
            Err(FrameError::Length(2))
        ));
    }

    #[tokio::test]
    async fn oversized_length_is_refused_before_allocation() {
        let mut input: &[u8] = &[0xFF, 0xFF, 0xFF, 0xFF, 1];
        let got = read::<_, u32>(&mut input).await;
        assert!(matches!(got, Err(FrameError::Length(_))));
    }
}
