//! InitProducerId (key 22): a fresh producer id (epoch 0) for an idempotent producer.
//! Transactional ids are refused with UNSUPPORTED_VERSION until transactions exist, which
//! clients treat as fatal rather than retrying. (Idempotent producers bump their epoch
//! locally, KIP-360, so they never send their current id here.)

use brook_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

use crate::server::{Broker, ErrorCode};

pub fn handle(broker: &Broker, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None.code(),
        producer_id: -1,
        producer_epoch: -1,
    };
    if req.transactional_id.is_some() {
        r.error_code = ErrorCode::UnsupportedVersion.code();
        return r;
    }
    match broker.producer_ids.next() {
        Ok(id) => {
            r.producer_id = id;
            r.producer_epoch = 0;
        }
        Err(e) => {
            tracing::error!(error = %e, "allocating a producer id");
            r.error_code = ErrorCode::KafkaStorageError.code();
        }
    }
    r
}
