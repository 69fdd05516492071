//! FindCoordinator (key 10): this node coordinates every group (and would every
//! transactional id). Creates `__consumer_offsets` on the first group lookup, as Kafka does.
//! v4+ asks for several keys at once.

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
    let lookup = |key: &str| -> (ErrorCode, Option<String>) {
        match req.key_type {
            GROUP if key.is_empty() => (ErrorCode::InvalidGroupId, Some("empty group id".into())),
            GROUP => match broker.groups.offsets_topic() {
                Ok(_) => (ErrorCode::None, None),
                Err(e) => (ErrorCode::CoordinatorNotAvailable, Some(e)),
            },
            // Transactions are refused at InitProducerId; finding the node is harmless.
            TRANSACTION => (ErrorCode::None, None),
            other => (
                ErrorCode::InvalidRequest,
                Some(format!("unknown coordinator key type {other}")),
            ),
        }
    };
    let (host, port) = (broker.advertised.0.clone(), i32::from(broker.advertised.1));
    let node_id = broker.config.node_id;
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                let (error, message) = lookup(key);
                let ok = error == ErrorCode::None;
                Coordinator {
                    key: key.clone(),
                    node_id: if ok { node_id } else { -1 },
                    host: if ok { host.clone() } else { String::new() },
                    port: if ok { port } else { -1 },
                    error_code: error.code(),
                    error_message: message,
                }
            })
            .collect();
        return FindCoordinatorResponse {
            coordinators,
            ..FindCoordinatorResponse::default()
        };
    }
    let (error, message) = lookup(&req.key);
    let ok = error == ErrorCode::None;
    FindCoordinatorResponse {
        error_code: error.code(),
        error_message: message,
        node_id: if ok { node_id } else { -1 },
        host: if ok { host } else { String::new() },
        port: if ok { port } else { -1 },
        ..FindCoordinatorResponse::default()
    }
}
