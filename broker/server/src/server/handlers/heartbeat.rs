//! Heartbeat (key 12): keeps a member's session alive and tells it when to rejoin (or,
//! NOT_COORDINATOR, to find its coordinator again).

use brook_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::server::Broker;

pub fn handle(broker: &Broker, req: HeartbeatRequest) -> HeartbeatResponse {
    HeartbeatResponse {
        throttle_time_ms: 0,
        error_code: broker.groups.heartbeat(&req).code(),
    }
}
