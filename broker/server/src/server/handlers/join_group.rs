//! JoinGroup (key 11): joins a member to its group and waits, on the async side, for the
//! rebalance to complete (see [`crate::server::group`]). NOT_COORDINATOR when this broker
//! does not lead the group's `__consumer_offsets` partition (also for a waiting member
//! when the leadership moves), COORDINATOR_LOAD_IN_PROGRESS while it loads it.

use std::sync::Arc;

use brook_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::RequestContext;
use crate::server::group::state::join_error;
use crate::server::group::{Client, Reply};
use crate::server::{Broker, ErrorCode};

pub async fn handle(
    broker: Arc<Broker>,
    req: JoinGroupRequest,
    ctx: RequestContext,
) -> JoinGroupResponse {
    let version = ctx.version;
    let member_id = req.member_id.clone();
    let client = Client {
        client_id: ctx.client_id,
        client_host: ctx.client_host,
    };
    // The coordinator may write to `__consumer_offsets`: off the I/O runtime.
    let reply = tokio::task::spawn_blocking(move || broker.groups.join(req, version, client)).await;
    let mut r = match reply {
        Ok(Reply::Now(r)) => r,
        Ok(Reply::Wait(rx)) => rx
            .await
            .unwrap_or_else(|_| join_error(ErrorCode::CoordinatorNotAvailable, &member_id)),
        Err(_) => join_error(ErrorCode::CoordinatorNotAvailable, &member_id),
    };
    fit(&mut r, version);
    r
}

/// Drops what `version` cannot carry.
fn fit(r: &mut JoinGroupResponse, version: i16) {
    if version < 9 {
        r.skip_assignment = false;
    }
    if version < 5 {
        for m in &mut r.members {
            m.group_instance_id = None;
        }
    }
    if r.protocol_name.is_none() {
        r.protocol_name = Some(String::new());
    }
}
