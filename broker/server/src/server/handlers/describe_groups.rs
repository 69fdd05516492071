//! DescribeGroups (key 15): state, protocol and members (with their metadata and
//! assignment once Stable) of each group; an unknown group is reported as Dead, one not
//! coordinated here with NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS).

use brook_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use crate::server::Broker;

pub fn handle(broker: &Broker, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
    DescribeGroupsResponse {
        throttle_time_ms: 0,
        groups: req
            .groups
            .iter()
            .map(|g| {
                let mut d = broker
                    .groups
                    .describe(g, version >= 3 && req.include_authorized_operations);
                if version < 4 {
                    for m in &mut d.members {
                        m.group_instance_id = None;
                    }
                }
                d
            })
            .collect(),
    }
}
