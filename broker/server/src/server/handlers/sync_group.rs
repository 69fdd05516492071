//! SyncGroup (key 14): the leader hands in the assignment; every member waits for its
//! share, which comes once the assignment is replicated.

use std::sync::Arc;

use brook_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use crate::server::group::state::sync_error;
use crate::server::group::Reply;
use crate::server::{Broker, ErrorCode};

pub async fn handle(broker: Arc<Broker>, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let reply = tokio::task::spawn_blocking(move || broker.groups.sync(req)).await;
    let mut r = match reply {
        Ok(Reply::Now(r)) => r,
        Ok(Reply::Wait(rx)) => rx
            .await
            .unwrap_or_else(|_| sync_error(ErrorCode::CoordinatorNotAvailable)),
        Err(_) => sync_error(ErrorCode::CoordinatorNotAvailable),
    };
    if version < 5 {
        r.protocol_type = None;
        r.protocol_name = None;
    }
    r
}
