//! Serdes built on other serdes: nullable values and windowed keys.

use super::{Serde, SerdeError};
use crate::window::{Window, Windowed};

/// `Option<T>` where `None` is a null key or value. Made by `Serdes::nullable()`.
#[derive(Debug, Clone)]
pub struct NullableSerde<S> {
    inner: S,
}

impl<S> NullableSerde<S> {
    pub(crate) fn new(inner: S) -> Self {
        NullableSerde { inner }
    }
}

impl<T, S: Serde<T>> Serde<Option<T>> for NullableSerde<S> {
    fn serialize(&self, value: &Option<T>) -> Result<Vec<u8>, SerdeError> {
        value
            .as_ref()
            .map_or(Err(SerdeError::Null), |v| self.inner.serialize(v))
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Option<T>, SerdeError> {
        self.inner.deserialize(bytes).map(Some)
    }

    fn serialize_nullable(&self, value: &Option<T>) -> Result<Option<Vec<u8>>, SerdeError> {
        value.as_ref().map(|v| self.inner.serialize(v)).transpose()
    }

    fn deserialize_nullable(&self, bytes: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
        bytes.map(|b| self.inner.deserialize(b)).transpose()
    }
}

/// `Windowed<K>` as the key's bytes followed by the window start (8 big-endian bytes),
/// as Kafka's time-windowed serde writes it. Made by `Serdes::windowed()`.
#[derive(Debug, Clone)]
pub struct WindowedSerde<S> {
    inner: S,
    size_ms: i64,
}

impl<S> WindowedSerde<S> {
    pub(crate) fn new(inner: S, size_ms: i64) -> Self {
        WindowedSerde { inner, size_ms }
    }
}

const START_BYTES: usize = 8;

impl<K, S: Serde<K>> Serde<Windowed<K>> for WindowedSerde<S> {
    fn serialize(&self, value: &Windowed<K>) -> Result<Vec<u8>, SerdeError> {
        let mut bytes = self.inner.serialize(&value.key)?;
        bytes.extend_from_slice(&value.window.start_ms.to_be_bytes());
        Ok(bytes)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let split = bytes
            .len()
            .checked_sub(START_BYTES)
            .ok_or(SerdeError::Length {
                expected: START_BYTES,
                actual: bytes.len(),
            })?;
        let (key, start) = bytes.split_at(split);
        let mut start_bytes = [0u8; START_BYTES];
        start_bytes.copy_from_slice(start);
        let start_ms = i64::from_be_bytes(start_bytes);
        Ok(Windowed {
            key: self.inner.deserialize(key)?,
            window: Window::new(start_ms, start_ms.saturating_add(self.size_ms)),
        })
    }
}

/// `Windowed<K>` of a session: the key's bytes, then the session end and start (8
/// big-endian bytes each), as Kafka writes session keys. Made by
/// `Serdes::session_windowed()`.
#[derive(Debug, Clone)]
pub struct SessionWindowedSerde<S> {
    inner: S,
}

impl<S> SessionWindowedSerde<S> {
    pub(crate) fn new(inner: S) -> Self {
        SessionWindowedSerde { inner }
    }
}

impl<K, S: Serde<K>> Serde<Windowed<K>> for SessionWindowedSerde<S> {
    fn serialize(&self, value: &Windowed<K>) -> Result<Vec<u8>, SerdeError> {
        let mut bytes = self.inner.serialize(&value.key)?;
        bytes.extend_from_slice(&value.window.end_ms.to_be_bytes());
        bytes.extend_from_slice(&value.window.start_ms.to_be_bytes());
        Ok(bytes)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let split = bytes
            .len()
            .checked_sub(2 * START_BYTES)
            .ok_or(SerdeError::Length {
                expected: 2 * START_BYTES,
                actual: bytes.len(),
            })?;
        let (key, times) = bytes.split_at(split);
        let (end, start) = times.split_at(START_BYTES);
        let time = |b: &[u8]| {
            let mut raw = [0u8; START_BYTES];
            raw.copy_from_slice(b);
            i64::from_be_bytes(raw)
        };
        Ok(Windowed {
            key: self.inner.deserialize(key)?,
            window: Window::new(time(start), time(end)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serdes::StringSerde;

    #[test]
    fn nullable_maps_null_to_none() {
        let s = NullableSerde::new(StringSerde);
        assert_eq!(s.deserialize_nullable(None), Ok(None));
        assert_eq!(s.serialize_nullable(&None), Ok(None));
        assert_eq!(
            s.deserialize_nullable(Some(b"a")),
            Ok(Some("a".to_string()))
        );
    }

    #[test]
    fn session_windowed_appends_end_then_start() {
        let s = SessionWindowedSerde::new(StringSerde);
        let w = Windowed {
            key: "a".to_string(),
            window: Window::new(5, 9),
        };
        let bytes = s.serialize(&w).unwrap();
        assert_eq!(bytes.len(), 17);
        assert_eq!(bytes[8], 9);
        assert_eq!(s.deserialize(&bytes).unwrap(), w);
    }

    #[test]
    fn windowed_appends_the_start() {
        let s = WindowedSerde::new(StringSerde, 60_000);
        let w = Windowed {
            key: "Alice".to_string(),
            window: Window::new(120_000, 180_000),
        };
        let bytes = s.serialize(&w).unwrap();
        assert_eq!(&bytes[..5], b"Alice");
        assert_eq!(s.deserialize(&bytes).unwrap(), w);
        assert!(s.deserialize(&[1, 2]).is_err());
    }
}
