//! ListGroups (key 16): every group this broker coordinates, optionally filtered by state
//! (v4+) and type (v5+: all of Brook's groups are `classic`); COORDINATOR_LOAD_IN_PROGRESS
//! while a partition of `__consumer_offsets` is loading.

use brook_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use crate::server::Broker;

pub fn handle(broker: &Broker, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let classic = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case("classic"));
    let (error, mut groups) = broker.groups.list(&req.states_filter);
    if !classic {
        groups.clear();
    }
    for g in &mut groups {
        if version < 4 {
            g.group_state = String::new();
        }
        if version < 5 {
            g.group_type = String::new();
        }
    }
    ListGroupsResponse {
        throttle_time_ms: 0,
        error_code: error.code(),
        groups,
    }
}
