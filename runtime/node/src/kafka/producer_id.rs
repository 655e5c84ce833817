//! InitProducerId: hands out producer ids from a persisted counter, so ids never repeat
//! across restarts. A producer that bumps its epoch (KIP-360) keeps its id with epoch + 1.
//! Transactions are not supported yet: a transactional id is refused.
//! Partitions check sequences per producer id (see `eddy_actors::producer_state`).

use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestHeader,
};
use kafka_protocol::ResponseError;

use super::Broker;
use crate::error::kafka_error;
use eddy_actors::error::ActorError;
use eddy_actors::metadata::AllocateProducerId;

pub async fn init(
    broker: &Broker,
    _header: &RequestHeader,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req.transactional_id.is_some() {
        tracing::warn!(
            "InitProducerId with a transactional id refused: transactions are not supported yet"
        );
        return resp.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX {
        return resp
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match broker
        .actors
        .metadata
        .send(AllocateProducerId)
        .await
        .map_err(ActorError::from)
        .and_then(|r| r)
    {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(err) => resp.with_error_code(kafka_error(&err).code()),
    }
}
