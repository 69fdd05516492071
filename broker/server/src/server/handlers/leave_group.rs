//! LeaveGroup (key 13): members leave (v0-2: one member id; v3+: a list, static members
//! possibly by `group.instance.id` alone), and the rest rebalance.

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
        let results = broker.groups.leave(&req.group_id, &[one]);
        return LeaveGroupResponse {
            throttle_time_ms: 0,
            error_code: results.first().map_or(0, |r| r.error_code),
            members: Vec::new(),
        };
    }
    let members = broker.groups.leave(&req.group_id, &req.members);
    LeaveGroupResponse {
        throttle_time_ms: 0,
        error_code: 0,
        members,
    }
}
