//! InitProducerId for idempotent producers (no transactional id; the transactional form is
//! in `txn.rs`): a fresh producer id with
//! epoch 0 on every call (NOTES.md C.1).

use super::code;
use crate::broker::Broker;
use semel_wire::messages::ResponseBody;
use semel_wire::messages::init_producer_id_request::InitProducerIdRequest;
use semel_wire::messages::init_producer_id_response::InitProducerIdResponse;
use tracing::warn;

/// INVALID_REQUEST.
const INVALID_REQUEST: i16 = 42;

/// Handles InitProducerId.
pub(super) fn init_producer_id(broker: &Broker, req: &InitProducerIdRequest) -> ResponseBody {
    let answer = |error_code, producer_id, producer_epoch| {
        ResponseBody::InitProducerId(InitProducerIdResponse {
            error_code,
            producer_id,
            producer_epoch,
            ..InitProducerIdResponse::default()
        })
    };
    // Exactly one of the two set is malformed (AK KafkaApis).
    if (req.producer_id == -1) != (req.producer_epoch == -1) {
        return answer(INVALID_REQUEST, -1, -1);
    }
    // Idempotent producers get a new id every time; a KIP-360 bump request's id and epoch are
    // ignored, as Kafka does for non-transactional producers.
    match broker.producer_ids.next() {
        Ok(id) => answer(code::NONE, id, 0),
        Err(e) => {
            warn!(error = %e, "cannot allocate a producer id");
            answer(code::KAFKA_STORAGE_ERROR, -1, -1)
        }
    }
}
