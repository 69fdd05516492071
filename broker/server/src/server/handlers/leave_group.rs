//! LeaveGroup (key 13): members leave (v0-2: one member id; v3+: a list, static members
//! possibly by `group.instance.id` alone), and the rest rebalance. A group not coordinated
//! here answers NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS) for the whole request.

use brook_protocol::messages::leave_group_request::MemberIdentity;
use brook_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::server::Broker;

pub fn handle(broker: &Broker, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    if version < 3 {
        let one = MemberIdentity {
            member_id: req.member_id.clone(),
            group_instance_id: None,
            reason: None,
        };
        let error_code = match broker.groups.leave(&req.group_id, &[one]) {
            Ok(results) => results.first().map_or(0, |r| r.error_code),
            Err(e) => e.code(),
        };
        return LeaveGroupResponse {
            throttle_time_ms: 0,
            error_code,
            members: Vec::new(),
        };
    }
    match broker.groups.leave(&req.group_id, &req.members) {
        Ok(members) => LeaveGroupResponse {
            throttle_time_ms: 0,
            error_code: 0,
            members,
        },
        Err(e) => LeaveGroupResponse {
            throttle_time_ms: 0,
            error_code: e.code(),
            members: Vec::new(),
        },
    }
}
