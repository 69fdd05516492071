//! DeleteGroups (key 42): deletes Empty groups with their committed offsets; a group not
//! coordinated here answers NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS).

use brook_protocol::messages::delete_groups_response::DeletableGroupResult;
use brook_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::server::Broker;

pub fn handle(broker: &Broker, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    DeleteGroupsResponse {
        throttle_time_ms: 0,
        results: req
            .groups_names
            .iter()
            .map(|g| DeletableGroupResult {
                group_id: g.clone(),
                error_code: broker.groups.delete_group(g).code(),
            })
            .collect(),
    }
}
