//! Sink: serializes records and emits them to a topic. Stateless.

use std::marker::PhantomData;

use super::{Ctx, Processor};
use crate::dynamic::Data;
use crate::error::TaskError;
use crate::record::{OutputRecord, Record};
use crate::serdes::SerdeRef;

pub(crate) struct Sink<K, V> {
    pub(crate) topic: String,
    pub(crate) key: SerdeRef<K>,
    pub(crate) value: SerdeRef<V>,
    pub(crate) _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Data, V: Data> Processor for Sink<K, V> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let (key, value) = super::typed::<K, V>(&record, ctx.node)?;
        let key = self
            .key
            .serialize_nullable(key)
            .map_err(|source| TaskError::Serialize {
                node: ctx.node.to_string(),
                side: "key",
                source,
            })?;
        let value = match value {
            Some(v) => self
                .value
                .serialize_nullable(v)
                .map_err(|source| TaskError::Serialize {
                    node: ctx.node.to_string(),
                    side: "value",
                    source,
                })?,
            None => None,
        };
        ctx.output.push(OutputRecord {
            topic: self.topic.clone(),
            key,
            value,
            timestamp: record.timestamp,
            headers: record.headers,
        });
        Ok(())
    }
}
