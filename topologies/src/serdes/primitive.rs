//! The serdes for strings, raw bytes and longs.

use super::{Serde, SerdeError};

/// UTF-8 strings. Made by `Serdes::string()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize(&self, value: &String) -> Result<Vec<u8>, SerdeError> {
        Ok(value.as_bytes().to_vec())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<String, SerdeError> {
        String::from_utf8(bytes.to_vec()).map_err(|e| SerdeError::Utf8(e.to_string()))
    }

    /// A null key or value reads as the empty string: records produced without a key (the
    /// usual case for `kcat -P` and console producers) still flow through a
    /// `KStream<String, _>`, as they do through Kafka Streams' string serde.
    fn deserialize_nullable(&self, bytes: Option<&[u8]>) -> Result<String, SerdeError> {
        bytes.map_or(Ok(String::new()), |b| self.deserialize(b))
    }
}

/// Raw bytes, unchanged. Made by `Serdes::bytes()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

impl Serde<Vec<u8>> for BytesSerde {
    fn serialize(&self, value: &Vec<u8>) -> Result<Vec<u8>, SerdeError> {
        Ok(value.clone())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(bytes.to_vec())
    }
}

/// 8-byte big-endian longs, signed or not. Made by `Serdes::long()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LongSerde;

const LONG_BYTES: usize = 8;

fn long_bytes(bytes: &[u8]) -> Result<[u8; LONG_BYTES], SerdeError> {
    bytes.try_into().map_err(|_| SerdeError::Length {
        expected: LONG_BYTES,
        actual: bytes.len(),
    })
}

impl Serde<i64> for LongSerde {
    fn serialize(&self, value: &i64) -> Result<Vec<u8>, SerdeError> {
        Ok(value.to_be_bytes().to_vec())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<i64, SerdeError> {
        long_bytes(bytes).map(i64::from_be_bytes)
    }
}

impl Serde<u64> for LongSerde {
    fn serialize(&self, value: &u64) -> Result<Vec<u8>, SerdeError> {
        Ok(value.to_be_bytes().to_vec())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<u64, SerdeError> {
        long_bytes(bytes).map(u64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_is_eight_big_endian_bytes() {
        let bytes = Serde::<u64>::serialize(&LongSerde, &258).unwrap();
        assert_eq!(bytes, vec![0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(Serde::<i64>::deserialize(&LongSerde, &bytes).unwrap(), 258);
        assert_eq!(
            Serde::<i64>::deserialize(&LongSerde, &[1, 2]),
            Err(SerdeError::Length {
                expected: 8,
                actual: 2
            })
        );
    }

    #[test]
    fn string_refuses_invalid_utf8_and_reads_null_as_empty() {
        assert!(matches!(
            StringSerde.deserialize(&[0xff]),
            Err(SerdeError::Utf8(_))
        ));
        assert_eq!(StringSerde.deserialize_nullable(None), Ok(String::new()));
    }
}
