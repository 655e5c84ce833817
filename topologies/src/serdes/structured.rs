//! The serdes for any serde type: JSON and postcard.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Serde, SerdeError};

/// Any serde type as JSON. Made by `Serdes::json()`.
pub struct JsonSerde<T> {
    // `fn() -> T` keeps the serde Send + Sync whatever `T` is: it holds no `T`.
    _type: PhantomData<fn() -> T>,
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        JsonSerde { _type: PhantomData }
    }
}

impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<T> fmt::Debug for JsonSerde<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T: Serialize + DeserializeOwned> Serde<T> for JsonSerde<T> {
    fn serialize(&self, value: &T) -> Result<Vec<u8>, SerdeError> {
        serde_json::to_vec(value).map_err(|e| SerdeError::Json(e.to_string()))
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        serde_json::from_slice(bytes).map_err(|e| SerdeError::Json(e.to_string()))
    }
}

/// Any serde type in postcard's binary form. Made by `Serdes::postcard()`.
pub struct PostcardSerde<T> {
    // As for `JsonSerde`: no `T` is held, so the serde is Send + Sync.
    _type: PhantomData<fn() -> T>,
}

impl<T> Default for PostcardSerde<T> {
    fn default() -> Self {
        PostcardSerde { _type: PhantomData }
    }
}

impl<T> Clone for PostcardSerde<T> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<T> fmt::Debug for PostcardSerde<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostcardSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T: Serialize + DeserializeOwned> Serde<T> for PostcardSerde<T> {
    fn serialize(&self, value: &T) -> Result<Vec<u8>, SerdeError> {
        postcard::to_allocvec(value).map_err(|e| SerdeError::Postcard(e.to_string()))
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        postcard::from_bytes(bytes).map_err(|e| SerdeError::Postcard(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Payment {
        from: String,
        amount: u64,
    }

    #[test]
    fn json_and_postcard_round_trip() {
        let p = Payment {
            from: "Alice".into(),
            amount: 200,
        };
        let json = JsonSerde::<Payment>::default();
        let bytes = json.serialize(&p).unwrap();
        assert_eq!(bytes, br#"{"from":"Alice","amount":200}"#.to_vec());
        assert_eq!(json.deserialize(&bytes).unwrap(), p);
        let pc = PostcardSerde::<Payment>::default();
        assert_eq!(pc.deserialize(&pc.serialize(&p).unwrap()).unwrap(), p);
        assert!(matches!(json.deserialize(b"{"), Err(SerdeError::Json(_))));
    }
}
