//! Serdes: how keys and values become bytes on topics and in state stores.
//!
//! A `Serde<T>` turns a `T` into bytes and back. Kafka records may have no key or no
//! value (a null); `serialize_nullable` and `deserialize_nullable` carry that, and only
//! `Serdes::nullable` maps null to a Rust value (`None`): every other serde refuses it.

mod primitive;
mod structured;
mod wrapper;

use std::sync::Arc;
use std::time::Duration;

pub use primitive::{BytesSerde, LongSerde, StringSerde};
pub use structured::{JsonSerde, PostcardSerde};
pub use wrapper::{NullableSerde, SessionWindowedSerde, WindowedSerde};

/// Why a value could not be turned into bytes or read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerdeError {
    /// The bytes are not valid UTF-8.
    #[error("not valid UTF-8: {0}")]
    Utf8(String),
    /// A fixed-size encoding got the wrong number of bytes.
    #[error("expected {expected} bytes, got {actual}")]
    Length {
        /// The size the encoding needs.
        expected: usize,
        /// The size it got.
        actual: usize,
    },
    /// serde_json failed.
    #[error("JSON: {0}")]
    Json(String),
    /// postcard failed.
    #[error("postcard: {0}")]
    Postcard(String),
    /// A null key or value where the serde has no way to represent it.
    #[error(
        "null where a value was expected (wrap the serde in `Serdes::nullable` to accept nulls)"
    )]
    Null,
    /// A user serde's own error.
    #[error("{0}")]
    Custom(String),
}

/// Serializes a `T` to bytes and deserializes it back.
///
/// ```
/// use eddy_topologies::{Serde, Serdes};
/// let serde = Serdes::long();
/// let bytes = Serde::<i64>::serialize(&serde, &200)?;
/// assert_eq!(bytes, vec![0, 0, 0, 0, 0, 0, 0, 200]);
/// assert_eq!(Serde::<i64>::deserialize(&serde, &bytes)?, 200);
/// # Ok::<(), eddy_topologies::SerdeError>(())
/// ```
pub trait Serde<T>: Send + Sync {
    /// Turns a value into bytes.
    fn serialize(&self, value: &T) -> Result<Vec<u8>, SerdeError>;

    /// Reads a value back from bytes.
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError>;

    /// Turns a value into the bytes of a record's key or value; `None` means null.
    fn serialize_nullable(&self, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        self.serialize(value).map(Some)
    }

    /// Reads a record's key or value, which may be null (`None`).
    fn deserialize_nullable(&self, bytes: Option<&[u8]>) -> Result<T, SerdeError> {
        match bytes {
            Some(bytes) => self.deserialize(bytes),
            None => Err(SerdeError::Null),
        }
    }
}

/// A shared, type-checked serde as the topology keeps it.
pub(crate) type SerdeRef<T> = Arc<dyn Serde<T>>;

/// The built-in serdes.
///
/// ```
/// use eddy_topologies::{Serde, Serdes};
/// assert_eq!(Serdes::string().serialize(&"Alice".to_string())?, b"Alice".to_vec());
/// assert_eq!(Serdes::bytes().deserialize(b"raw")?, b"raw".to_vec());
/// # Ok::<(), eddy_topologies::SerdeError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Serdes;

impl Serdes {
    /// UTF-8 strings (Kafka's `StringSerde`).
    pub fn string() -> StringSerde {
        StringSerde
    }

    /// Raw bytes, unchanged (Kafka's `ByteArraySerde`).
    pub fn bytes() -> BytesSerde {
        BytesSerde
    }

    /// 8-byte big-endian `i64` or `u64` (Kafka's `LongSerde`).
    pub fn long() -> LongSerde {
        LongSerde
    }

    /// Any serde type as JSON, with serde_json.
    pub fn json<T>() -> JsonSerde<T> {
        JsonSerde::default()
    }

    /// Any serde type in postcard's compact binary form.
    pub fn postcard<T>() -> PostcardSerde<T> {
        PostcardSerde::default()
    }

    /// `Option<T>` where `None` is a null key or value (a tombstone, as a value).
    pub fn nullable<S>(inner: S) -> NullableSerde<S> {
        NullableSerde::new(inner)
    }

    /// `Windowed<K>` as Kafka's time-windowed serde writes it: the key's bytes, then the
    /// window start as 8 big-endian bytes. The window size restores the window end.
    pub fn windowed<S>(inner: S, size: Duration) -> WindowedSerde<S> {
        WindowedSerde::new(inner, crate::window::duration_ms(size))
    }

    /// Session-windowed keys as Kafka's session-windowed serde writes them: the key's
    /// bytes, then the session end and start (8 big-endian bytes each).
    pub fn session_windowed<S>(inner: S) -> SessionWindowedSerde<S> {
        SessionWindowedSerde::new(inner)
    }
}

/// A shared serde is a serde: lets the topology wrap the serdes it resolved.
impl<T, S: Serde<T> + ?Sized> Serde<T> for Arc<S> {
    fn serialize(&self, value: &T) -> Result<Vec<u8>, SerdeError> {
        (**self).serialize(value)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        (**self).deserialize(bytes)
    }

    fn serialize_nullable(&self, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        (**self).serialize_nullable(value)
    }

    fn deserialize_nullable(&self, bytes: Option<&[u8]>) -> Result<T, SerdeError> {
        (**self).deserialize_nullable(bytes)
    }
}
