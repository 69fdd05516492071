//! FindCoordinator (key 10): a group's coordinator is the leader of its
//! `__consumer_offsets` partition (created on the first group lookup, as Kafka does); a
//! partition without a leader answers COORDINATOR_NOT_AVAILABLE. Transactional ids are
//! answered with this node (transactions are refused at InitProducerId). v4+ asks for
//! several keys at once.

use brook_protocol::messages::find_coordinator_response::Coordinator;
use brook_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};

use crate::server::{Broker, ErrorCode};

/// `key_type` 0: a consumer group; 1: a transactional id.
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub fn handle(
    broker: &Broker,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let me = (
        broker.config.node_id,
        broker.advertised.0.clone(),
        i32::from(broker.advertised.1),
    );
    let lookup = |key: &str| -> Result<(i32, String, i32), (ErrorCode, Option<String>)> {
        match req.key_type {
            GROUP if key.is_empty() => {
                Err((ErrorCode::InvalidGroupId, Some("empty group id".into())))
            }
            GROUP => {
                let topic = broker
                    .groups
                    .offsets_topic()
                    .map_err(|e| (ErrorCode::CoordinatorNotAvailable, Some(e)))?;
                let p = crate::server::group::partition_for(key, topic.partitions());
                let image = broker.controller.view().image();
                image
                    .partition(crate::server::group::OFFSETS_TOPIC, p)
                    .and_then(|s| image.brokers.get(&s.leader))
                    .filter(|b| !b.fenced)
                    .map(|b| (b.id, b.host.clone(), i32::from(b.port)))
                    .ok_or((
                        ErrorCode::CoordinatorNotAvailable,
                        Some(format!("partition {p} of the offsets topic has no leader")),
                    ))
            }
            // Transactions are refused at InitProducerId; finding the node is harmless.
            TRANSACTION => Ok(me.clone()),
            other => Err((
                ErrorCode::InvalidRequest,
                Some(format!("unknown coordinator key type {other}")),
            )),
        }
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| match lookup(key) {
                Ok((node_id, host, port)) => Coordinator {
                    key: key.clone(),
                    node_id,
                    host,
                    port,
                    error_code: ErrorCode::None.code(),
                    error_message: None,
                },
                Err((error, message)) => Coordinator {
                    key: key.clone(),
                    node_id: -1,
                    host: String::new(),
                    port: -1,
                    error_code: error.code(),
                    error_message: message,
                },
            })
            .collect();
        return FindCoordinatorResponse {
            coordinators,
            ..FindCoordinatorResponse::default()
        };
    }
    match lookup(&req.key) {
        Ok((node_id, host, port)) => FindCoordinatorResponse {
            node_id,
            host,
            port,
            ..FindCoordinatorResponse::default()
        },
        Err((error, message)) => FindCoordinatorResponse {
            error_code: error.code(),
            error_message: message,
            node_id: -1,
            host: String::new(),
            port: -1,
            ..FindCoordinatorResponse::default()
        },
    }
}
