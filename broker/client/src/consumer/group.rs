//! Group membership for [`Consumer::subscribe`](super::Consumer::subscribe): Kafka's classic
//! consumer group protocol as the Java client speaks it (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup; embedded protocol type `consumer`).
//!
//! - **Joining** runs as a background task ([`join`]) so that `poll` keeps its timeout
//!   (and, under the cooperative protocol, keeps fetching the partitions it owns) while
//!   the coordinator waits for the other members. It finds the coordinator, sends
//!   JoinGroup with one protocol per configured assignor (each with the member's
//!   [`Subscription`]: topics, owned partitions, generation, rack, and the assignor's user
//!   data), answers MEMBER_ID_REQUIRED by joining again with the id given, and, as the
//!   leader, fetches the metadata of every topic any member subscribed to and runs the
//!   chosen assignor; then SyncGroup. Errors that mean "try again" (a moved coordinator,
//!   a rebalance that started meanwhile, an unknown member id) loop inside the task;
//!   those that cannot be fixed by trying again (FENCED_INSTANCE_ID, an inconsistent
//!   protocol, authorization) end it and surface from `poll`.
//! - **Heartbeats** run in another background task every `heartbeat.interval.ms` while the
//!   member is stable. REBALANCE_IN_PROGRESS asks the next `poll` to rejoin;
//!   UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION and FENCED_INSTANCE_ID mean the member is out
//!   of the group and its partitions are lost. When the application has not polled for
//!   `max.poll.interval.ms`, the task leaves the group (LeaveGroup, except for static
//!   members) and the partitions are lost too, as in Java.
//! - The [`Member`] state (member id, generation, the flags above) is shared between the
//!   consumer and both tasks under a mutex; the consumer owns everything else.
//!
//! The rebalance itself (revoking, assigning, calling the [`ConsumerRebalanceListener`],
//! committing) is done by the consumer in `poll`, in `super`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brook_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use brook_protocol::messages::leave_group_request::MemberIdentity;
use brook_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use brook_protocol::messages::*;
use bytes::Bytes;
use tokio::time::Instant;

use super::assignor::{Member as GroupMember, PartitionAssignor, RebalanceProtocol};
use super::protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription, Assignment,
    Subscription, ASSIGNMENT_VERSION, SUBSCRIPTION_VERSION,
};
use crate::admin::TopicPartition;
use crate::cluster::Cluster;
use crate::error::{ClientError, ErrorCode, KafkaError};

/// Versions spoken up to.
mod max {
    pub const JOIN_GROUP: i16 = 9;
    pub const SYNC_GROUP: i16 = 5;
    pub const HEARTBEAT: i16 = 4;
    pub const LEAVE_GROUP: i16 = 5;
}

/// The embedded protocol type of consumer groups.
pub const PROTOCOL_TYPE: &str = "consumer";

/// Called by `poll` around a rebalance, as Java's `ConsumerRebalanceListener`.
///
/// Under the eager protocol (range, roundrobin, sticky) every owned partition is revoked
/// before the consumer rejoins and the whole new assignment is then assigned; under the
/// cooperative one (cooperative-sticky) only the partitions that move are revoked, after
/// the rebalance, and only the new ones are assigned. `on_partitions_lost` is called
/// instead of `on_partitions_revoked` when the partitions may already belong to another
/// member (the session expired, the poll interval passed, the member was fenced): their
/// offsets can no longer be committed.
///
/// The [`RebalanceContext`] gives the positions of the partitions and takes commits (done
/// synchronously, with the current generation, before the consumer rejoins) and seeks (for
/// newly assigned partitions, e.g. to offsets kept outside Kafka).
pub trait ConsumerRebalanceListener: Send {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let _ = (ctx, partitions);
    }

    fn on_partitions_assigned(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let _ = (ctx, partitions);
    }

    /// Defaults to [`on_partitions_revoked`](Self::on_partitions_revoked), as in Java.
    fn on_partitions_lost(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.on_partitions_revoked(ctx, partitions)
    }
}

/// What a [`ConsumerRebalanceListener`] may look at and ask for during a callback.
#[derive(Debug)]
pub struct RebalanceContext<'a> {
    pub(crate) positions: &'a BTreeMap<TopicPartition, i64>,
    pub(crate) generation: i32,
    pub(crate) commits: Vec<(TopicPartition, i64)>,
    pub(crate) seeks: Vec<(TopicPartition, i64)>,
}

impl RebalanceContext<'_> {
    /// The position (next offset to return) of an assigned partition, if known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.positions.get(tp).copied()
    }

    /// The positions of every assigned partition that has one.
    pub fn positions(&self) -> Vec<(TopicPartition, i64)> {
        self.positions
            .iter()
            .map(|(tp, o)| (tp.clone(), *o))
            .collect()
    }

    /// The generation the member is in (-1 when it is out of the group).
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// Commits `offsets` once the callback returns (ignored when partitions are lost: the
    /// generation they belonged to is over).
    pub fn commit(&mut self, offsets: &[(TopicPartition, i64)]) {
        self.commits.extend_from_slice(offsets);
    }

    /// Sets the position of a newly assigned partition once the callback returns.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) {
        self.seeks.push((tp.clone(), offset));
    }
}

/// The member's identity in the group and what the background tasks report to `poll`.
#[derive(Debug, Clone)]
pub(crate) struct MemberState {
    pub member_id: String,
    /// -1 when not in a generation.
    pub generation: i32,
    /// The protocol (assignor) of the current generation.
    pub protocol: Option<String>,
    pub leader: bool,
    /// A heartbeat saw REBALANCE_IN_PROGRESS, or a commit failed for a rebalance: rejoin.
    pub rejoin: bool,
    /// The member is out of its generation (fenced, expired, left after the poll
    /// interval): its partitions are lost and it must rejoin.
    pub lost: Option<String>,
    /// The last poll, for `max.poll.interval.ms`.
    pub last_poll: Instant,
}

/// Shared between the consumer and its group tasks.
#[derive(Debug)]
pub(crate) struct Member {
    pub group_id: String,
    pub instance_id: Option<String>,
    state: Mutex<MemberState>,
}

impl Member {
    pub fn new(group_id: String, instance_id: Option<String>) -> Member {
        Member {
            group_id,
            instance_id,
            state: Mutex::new(MemberState {
                member_id: String::new(),
                generation: -1,
                protocol: None,
                leader: false,
                rejoin: false,
                lost: None,
                last_poll: Instant::now(),
            }),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, MemberState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The member id and generation to commit with.
    pub fn identity(&self) -> (String, i32) {
        let s = self.lock();
        (s.member_id.clone(), s.generation)
    }
}

/// What the join task needs from the consumer.
#[derive(Debug, Clone)]
pub(crate) struct JoinParams {
    pub cluster: Arc<Cluster>,
    pub member: Arc<Member>,
    pub assignors: Vec<Arc<dyn PartitionAssignor>>,
    pub topics: Vec<String>,
    /// The partitions owned now and the generation they were assigned in.
    pub owned: Vec<TopicPartition>,
    pub owned_generation: i32,
    pub rack: Option<String>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub retry_backoff: Duration,
    pub reason: String,
}

/// A completed join: the member's new generation and assignment.
#[derive(Debug, Clone)]
pub(crate) struct Joined {
    pub generation: i32,
    pub member_id: String,
    pub protocol: String,
    pub assignment: Vec<TopicPartition>,
    /// For the leader: the partition counts the assignment was computed from (every
    /// member's topics), so it can notice a change and rebalance.
    pub group_partitions: BTreeMap<String, i32>,
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Whether a join error is worth another attempt.
fn retriable(e: &ClientError) -> bool {
    e.is_retriable()
        || e.code().is_some_and(|c| {
            c.invalidates_coordinator()
                || c == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
                || c == ErrorCode::REBALANCE_IN_PROGRESS
                || c == ErrorCode::UNKNOWN_MEMBER_ID
                || c == ErrorCode::ILLEGAL_GENERATION
                || c == ErrorCode::MEMBER_ID_REQUIRED
        })
}

/// Joins the group and syncs, retrying what can be retried; the background join task.
pub(crate) async fn join(p: JoinParams) -> Result<Joined, ClientError> {
    loop {
        match join_once(&p).await {
            Ok(j) => return Ok(j),
            Err(e) if retriable(&e) => {
                let code = e.code();
                if code.is_some_and(|c| c.invalidates_coordinator()) || e.is_retriable() {
                    p.cluster.forget_coordinator(&p.member.group_id);
                }
                if code == Some(ErrorCode::UNKNOWN_MEMBER_ID) {
                    p.member.lock().member_id.clear();
                }
                // MEMBER_ID_REQUIRED is answered at once; the rest back off.
                if code != Some(ErrorCode::MEMBER_ID_REQUIRED) {
                    tracing::debug!(group = %p.member.group_id, error = %e, "join failed; retrying");
                    tokio::time::sleep(p.retry_backoff).await;
                }
            }
            Err(e) => return Err(e),
        }
    }
}

async fn join_once(p: &JoinParams) -> Result<Joined, ClientError> {
    let group = &p.member.group_id;
    let node = p.cluster.coordinator(group).await?;
    let member_id = p.member.lock().member_id.clone();
    let protocols = p
        .assignors
        .iter()
        .map(|a| {
            let sub = Subscription {
                topics: p.topics.clone(),
                user_data: a.subscription_user_data(&p.topics, &p.owned, p.owned_generation),
                owned_partitions: p.owned.clone(),
                generation_id: p.owned_generation,
                rack_id: p.rack.clone(),
            };
            JoinGroupRequestProtocol {
                name: a.name().to_owned(),
                metadata: Bytes::from(encode_subscription(&sub, SUBSCRIPTION_VERSION)),
            }
        })
        .collect();
    let req = JoinGroupRequest {
        group_id: group.clone(),
        session_timeout_ms: ms(p.session_timeout),
        rebalance_timeout_ms: ms(p.rebalance_timeout),
        member_id,
        group_instance_id: p.member.instance_id.clone(),
        protocol_type: PROTOCOL_TYPE.into(),
        protocols,
        reason: Some(p.reason.clone()),
    };
    let (_, r) = p
        .cluster
        .call_coordinator(node, max::JOIN_GROUP, req)
        .await?;
    let code = ErrorCode(r.error_code);
    if code == ErrorCode::MEMBER_ID_REQUIRED {
        p.member.lock().member_id = r.member_id;
        return Err(KafkaError::new(code, None).into());
    }
    KafkaError::check(r.error_code, Some("JoinGroup"))?;
    p.member.lock().member_id = r.member_id.clone();
    let protocol = r.protocol_name.clone().unwrap_or_default();
    let assignor = p
        .assignors
        .iter()
        .find(|a| a.name() == protocol)
        .ok_or_else(|| ClientError::Protocol {
            addr: format!("coordinator {node}"),
            reason: format!(
                "JoinGroup chose protocol {protocol:?}, which this member did not offer"
            ),
        })?
        .clone();
    let leader = r.leader == r.member_id;
    let mut group_partitions = BTreeMap::new();
    let assignments = if leader && !r.skip_assignment {
        let (assignments, counts) = lead(&p.cluster, assignor.as_ref(), &r.members).await?;
        group_partitions = counts;
        assignments
            .into_iter()
            .map(|(member_id, a)| SyncGroupRequestAssignment {
                member_id,
                assignment: Bytes::from(encode_assignment(&a, ASSIGNMENT_VERSION)),
            })
            .collect()
    } else {
        Vec::new()
    };
    let req = SyncGroupRequest {
        group_id: group.clone(),
        generation_id: r.generation_id,
        member_id: r.member_id.clone(),
        group_instance_id: p.member.instance_id.clone(),
        protocol_type: Some(PROTOCOL_TYPE.into()),
        protocol_name: Some(protocol.clone()),
        assignments,
    };
    let (_, s) = p
        .cluster
        .call_coordinator(node, max::SYNC_GROUP, req)
        .await?;
    KafkaError::check(s.error_code, Some("SyncGroup"))?;
    let assignment: Assignment =
        decode_assignment(&s.assignment).map_err(|e| ClientError::Protocol {
            addr: format!("coordinator {node}"),
            reason: format!("undecodable assignment from SyncGroup: {e}"),
        })?;
    assignor.on_assignment(&assignment, r.generation_id);
    {
        let mut st = p.member.lock();
        st.generation = r.generation_id;
        st.protocol = Some(protocol.clone());
        st.leader = leader;
        st.rejoin = false;
        st.lost = None;
    }
    tracing::info!(
        group = %group,
        generation = r.generation_id,
        member = %r.member_id,
        protocol = %protocol,
        leader,
        partitions = assignment.partitions.len(),
        "joined the group"
    );
    Ok(Joined {
        generation: r.generation_id,
        member_id: r.member_id,
        protocol,
        assignment: assignment.partitions,
        group_partitions,
    })
}

/// The leader's part: every member's subscription, the partition counts of their topics,
/// and the assignor's answer.
async fn lead(
    cluster: &Cluster,
    assignor: &dyn PartitionAssignor,
    members: &[join_group_response::JoinGroupResponseMember],
) -> Result<(BTreeMap<String, Assignment>, BTreeMap<String, i32>), ClientError> {
    let mut decoded = Vec::with_capacity(members.len());
    for m in members {
        // A member whose subscription does not decode gets nothing rather than failing
        // the whole group (Java fails the rebalance; nothing good comes of that either).
        let subscription = match decode_subscription(&m.metadata) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(member = %m.member_id, error = %e, "undecodable subscription");
                Subscription::default()
            }
        };
        decoded.push(GroupMember {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            subscription,
        });
    }
    let topics: BTreeSet<&str> = decoded
        .iter()
        .flat_map(|m| m.subscription.topics.iter().map(String::as_str))
        .collect();
    let counts = partition_counts(cluster, &topics.into_iter().collect::<Vec<_>>()).await?;
    Ok((assignor.assign(&counts, &decoded), counts))
}

/// The partition counts of the `topics` that exist.
pub(crate) async fn partition_counts(
    cluster: &Cluster,
    topics: &[&str],
) -> Result<BTreeMap<String, i32>, ClientError> {
    if topics.is_empty() {
        return Ok(BTreeMap::new());
    }
    let r = cluster.fetch_metadata(Some(topics)).await?;
    Ok(r.metadata
        .topics
        .iter()
        .filter(|(name, _)| topics.contains(&name.as_str()))
        .map(|(name, t)| (name.clone(), t.partitions.len() as i32))
        .collect())
}

/// The heartbeat task: runs until the member leaves its generation or is aborted.
pub(crate) async fn heartbeat(
    cluster: Arc<Cluster>,
    member: Arc<Member>,
    interval: Duration,
    max_poll_interval: Duration,
    retry_backoff: Duration,
) {
    let group = member.group_id.clone();
    loop {
        tokio::time::sleep(interval).await;
        let (member_id, generation, last_poll) = {
            let s = member.lock();
            (s.member_id.clone(), s.generation, s.last_poll)
        };
        if generation < 0 {
            return;
        }
        if last_poll.elapsed() > max_poll_interval {
            tracing::warn!(
                group = %group,
                member = %member_id,
                "no poll for longer than max.poll.interval.ms ({max_poll_interval:?}); \
                 leaving the group (the application processes records too slowly: raise \
                 max.poll.interval.ms or lower max.poll.records)"
            );
            if member.instance_id.is_none() {
                if let Err(e) = leave(&cluster, &member, "the poll interval expired").await {
                    tracing::debug!(group = %group, error = %e, "LeaveGroup failed");
                }
            }
            let mut s = member.lock();
            s.generation = -1;
            if member.instance_id.is_none() {
                s.member_id.clear();
            }
            s.lost = Some("max.poll.interval.ms passed without a poll".into());
            return;
        }
        let node = match cluster.coordinator(&group).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(group = %group, error = %e, "no coordinator to heartbeat to");
                tokio::time::sleep(retry_backoff).await;
                continue;
            }
        };
        let req = HeartbeatRequest {
            group_id: group.clone(),
            generation_id: generation,
            member_id: member_id.clone(),
            group_instance_id: member.instance_id.clone(),
        };
        let code = match cluster.call_coordinator(node, max::HEARTBEAT, req).await {
            Ok((_, r)) => ErrorCode(r.error_code),
            Err(e) => {
                tracing::debug!(group = %group, error = %e, "heartbeat failed");
                if e.is_retriable() {
                    cluster.forget_coordinator(&group);
                }
                continue;
            }
        };
        match code {
            ErrorCode::NONE => {}
            ErrorCode::REBALANCE_IN_PROGRESS => {
                member.lock().rejoin = true;
            }
            c if c == ErrorCode::UNKNOWN_MEMBER_ID
                || c == ErrorCode::ILLEGAL_GENERATION
                || c == ErrorCode::FENCED_INSTANCE_ID =>
            {
                let mut s = member.lock();
                // Only if the generation is still the one heartbeated for.
                if s.generation == generation {
                    tracing::info!(group = %group, member = %member_id, code = %c.name(), "out of the group");
                    s.generation = -1;
                    if c == ErrorCode::UNKNOWN_MEMBER_ID {
                        s.member_id.clear();
                    }
                    s.lost = Some(format!("the coordinator answered {}", c.name()));
                }
                return;
            }
            c if c.invalidates_coordinator() || c == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS => {
                cluster.forget_coordinator(&group);
            }
            c => {
                tracing::warn!(group = %group, code = %c.name(), "unexpected heartbeat error");
            }
        }
    }
}

/// Sends LeaveGroup for the member (v3+ names it in `members`).
pub(crate) async fn leave(
    cluster: &Cluster,
    member: &Member,
    reason: &str,
) -> Result<(), ClientError> {
    let member_id = member.lock().member_id.clone();
    if member_id.is_empty() {
        return Ok(());
    }
    let node = cluster.coordinator(&member.group_id).await?;
    let version = cluster
        .transport(node)
        .await?
        .version_for(LeaveGroupRequest::API_KEY, max::LEAVE_GROUP)
        .ok_or(ClientError::UnsupportedVersion {
            api: "LeaveGroup",
            api_key: LeaveGroupRequest::API_KEY,
        })?;
    let req = if version >= 3 {
        LeaveGroupRequest {
            group_id: member.group_id.clone(),
            member_id: String::new(),
            members: vec![MemberIdentity {
                member_id: member_id.clone(),
                group_instance_id: member.instance_id.clone(),
                reason: Some(reason.to_owned()),
            }],
        }
    } else {
        LeaveGroupRequest {
            group_id: member.group_id.clone(),
            member_id: member_id.clone(),
            members: Vec::new(),
        }
    };
    let (_, r) = cluster.call_coordinator(node, version, req).await?;
    KafkaError::check(r.error_code, Some("LeaveGroup"))?;
    if let Some(m) = r.members.iter().find(|m| m.error_code != 0) {
        // UNKNOWN_MEMBER_ID: already gone, which is what was asked.
        if m.error_code != ErrorCode::UNKNOWN_MEMBER_ID.0 {
            KafkaError::check(m.error_code, Some("LeaveGroup"))?;
        }
    }
    Ok(())
}

/// The rebalance protocol a member with these assignors follows: cooperative only if
/// every one of them supports it (Java's rule), since the group may pick any of them.
pub(crate) fn rebalance_protocol(assignors: &[Arc<dyn PartitionAssignor>]) -> RebalanceProtocol {
    if !assignors.is_empty()
        && assignors
            .iter()
            .all(|a| a.protocol() == RebalanceProtocol::Cooperative)
    {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::assignor::by_name;

    #[test]
    fn the_protocol_is_cooperative_only_when_every_assignor_is() {
        let get = |names: &[&str]| -> Vec<Arc<dyn PartitionAssignor>> {
            names.iter().map(|n| by_name(n).unwrap()).collect()
        };
        assert_eq!(
            rebalance_protocol(&get(&["range", "cooperative-sticky"])),
            RebalanceProtocol::Eager
        );
        assert_eq!(
            rebalance_protocol(&get(&["cooperative-sticky"])),
            RebalanceProtocol::Cooperative
        );
        assert_eq!(rebalance_protocol(&[]), RebalanceProtocol::Eager);
    }

    #[test]
    fn join_errors_that_are_retried() {
        for c in [
            ErrorCode::NOT_COORDINATOR,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ErrorCode::REBALANCE_IN_PROGRESS,
            ErrorCode::UNKNOWN_MEMBER_ID,
            ErrorCode::MEMBER_ID_REQUIRED,
        ] {
            assert!(retriable(&KafkaError::new(c, None).into()), "{}", c.name());
        }
        for c in [
            ErrorCode::FENCED_INSTANCE_ID,
            ErrorCode::INCONSISTENT_GROUP_PROTOCOL,
            ErrorCode::GROUP_AUTHORIZATION_FAILED,
        ] {
            assert!(!retriable(&KafkaError::new(c, None).into()), "{}", c.name());
        }
    }
}
