//! One consumer group as the coordinator holds it: Kafka's classic group state machine
//! (Empty -> PreparingRebalance -> CompletingRebalance -> Stable), its members and their
//! pending JoinGroup/SyncGroup answers, and its committed offsets.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use brook_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::records::{GroupRecord, MemberRecord};
use crate::server::ErrorCode;

/// Kafka's group states, with the names DescribeGroups and ListGroups report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// One member of a group.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// The protocols the member supports, in its order of preference, with its metadata
    /// for each.
    pub protocols: Vec<(String, Bytes)>,
    /// What the leader assigned it in the current generation.
    pub assignment: Bytes,
    /// A JoinGroup waiting for the rebalance to complete.
    pub join_waiter: Option<oneshot::Sender<JoinGroupResponse>>,
    /// A SyncGroup waiting for the leader's assignment.
    pub sync_waiter: Option<oneshot::Sender<SyncGroupResponse>>,
    /// When the member's session expires unless it heartbeats.
    pub session_deadline: Instant,
}

impl Member {
    /// The member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether a member waiting on a JoinGroup or SyncGroup answer: such members do not
    /// expire, as their next request is already in flight.
    pub fn awaiting(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }

    /// Answers a waiting JoinGroup and SyncGroup with `error`.
    pub fn fail_waiters(&mut self, error: ErrorCode) {
        if let Some(tx) = self.join_waiter.take() {
            let _ = tx.send(join_error(error, &self.id));
        }
        if let Some(tx) = self.sync_waiter.take() {
            let _ = tx.send(sync_error(error));
        }
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// An explicit expiry (OffsetCommit v2-v4 `retention_time_ms`).
    pub expire_timestamp: Option<i64>,
    /// The `__consumer_offsets` offset of the record that carried it (-1: loaded from the
    /// log), so replicated commits that complete out of order never go back in time.
    pub record_offset: i64,
}

/// One group.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    /// `None` for a group that only ever had offsets committed from outside (a "simple"
    /// consumer using assign()).
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until their second JoinGroup (or
    /// their session timeout).
    pub pending: HashMap<String, Instant>,
    /// `group.instance.id` -> member id of the static members.
    pub static_members: HashMap<String, String>,
    /// When a PreparingRebalance completes even if not every member has rejoined.
    pub rebalance_deadline: Option<Instant>,
    /// The latest a rebalance of an Empty group may be delayed to by
    /// `group.initial.rebalance.delay.ms`; `Some` while that delay runs.
    pub initial_delay_cap: Option<Instant>,
    /// When members that have not sent SyncGroup in CompletingRebalance are removed.
    pub sync_deadline: Option<Instant>,
    /// When the group entered its state (ms since the epoch): for an Empty group, the time
    /// offset retention counts from.
    pub state_timestamp: i64,
    pub offsets: BTreeMap<(String, i32), Committed>,
    /// OffsetCommits appended but not yet replicated: the group is not removed meanwhile.
    pub pending_commits: usize,
    /// The leader's assignment is appended and waits for replication: the group stays in
    /// CompletingRebalance, its SyncGroups waiting, until it is (or is not).
    pub storing: bool,
}

impl Group {
    pub fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_cap: None,
            sync_deadline: None,
            state_timestamp: now_ms,
            offsets: BTreeMap::new(),
            pending_commits: 0,
            storing: false,
        }
    }

    /// An Empty group that never completed a rebalance and holds nothing.
    pub fn unused(&self) -> bool {
        self.state == GroupState::Empty
            && self.generation == 0
            && self.members.is_empty()
            && self.pending.is_empty()
            && self.offsets.is_empty()
            && self.pending_commits == 0
    }

    /// The protocols every member supports.
    fn candidates(&self) -> Vec<&str> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut names: Vec<&str> = first.protocols.iter().map(|(n, _)| n.as_str()).collect();
        for m in members {
            names.retain(|n| m.protocols.iter().any(|(p, _)| p == n));
        }
        names
    }

    /// Whether a member with this protocol type and these protocols may join: the first
    /// member sets the type; later ones must share it and one protocol with everyone.
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidates();
        protocols
            .iter()
            .any(|(p, _)| candidates.contains(&p.as_str()))
    }

    /// Kafka's protocol choice: among the protocols all members support, the one most
    /// members list first (each member votes for its most preferred candidate).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidates();
        let mut votes: Vec<(&str, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m
                .protocols
                .iter()
                .find(|(p, _)| candidates.contains(&p.as_str()))
            {
                if let Some(v) = votes.iter_mut().find(|(c, _)| c == name) {
                    v.1 += 1;
                }
            }
        }
        // Ties go to the protocol listed first by the first member, so the choice is stable.
        let mut best: Option<(&str, usize)> = None;
        for (c, n) in votes {
            if best.is_none_or(|(_, b)| n > b) {
                best = Some((c, n));
            }
        }
        best.map(|(c, _)| c.to_string())
    }

    /// The longest rebalance timeout of the members (how long a rebalance may wait).
    pub fn max_rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Whether every member has rejoined and nobody holds a MEMBER_ID_REQUIRED id.
    pub fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// The JoinGroup answer for `member_id` in the current generation: the leader gets
    /// every member's metadata.
    pub fn join_response(&self, member_id: &str) -> JoinGroupResponse {
        let protocol = self.protocol.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .values()
                .map(
                    |m| brook_protocol::messages::join_group_response::JoinGroupResponseMember {
                        member_id: m.id.clone(),
                        group_instance_id: m.instance_id.clone(),
                        metadata: m.metadata(&protocol),
                    },
                )
                .collect()
        } else {
            Vec::new()
        };
        JoinGroupResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None.code(),
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: Some(protocol),
            leader,
            skip_assignment: false,
            member_id: member_id.to_string(),
            members,
        }
    }

    /// The group as a GroupMetadata record.
    pub fn to_record(&self) -> GroupRecord {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupRecord {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp,
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i32,
                    session_timeout_ms: m.session_timeout.as_millis() as i32,
                    subscription: m.metadata(&protocol).to_vec(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }

    /// A group as loaded from its GroupMetadata record: Stable with its members (whose
    /// sessions start now) if it had any and they had their assignments, PreparingRebalance
    /// if the record is of a join whose assignment never came, else Empty.
    pub fn from_record(id: &str, r: GroupRecord, now: Instant) -> Group {
        let mut g = Group::new(id, r.current_state_timestamp);
        g.protocol_type = (!r.protocol_type.is_empty()).then_some(r.protocol_type);
        g.generation = r.generation;
        g.protocol = r.protocol;
        g.leader = r.leader;
        let protocol = g.protocol.clone().unwrap_or_default();
        for m in r.members {
            let session = Duration::from_millis(m.session_timeout_ms.max(0) as u64);
            if let Some(instance) = &m.group_instance_id {
                g.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            g.members.insert(
                m.member_id.clone(),
                Member {
                    id: m.member_id,
                    instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout: session,
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                    protocols: vec![(protocol.clone(), Bytes::from(m.subscription))],
                    assignment: Bytes::from(m.assignment),
                    join_waiter: None,
                    sync_waiter: None,
                    session_deadline: now + session,
                },
            );
        }
        g.state = if g.members.is_empty() {
            GroupState::Empty
        } else if g.members.values().all(|m| m.assignment.is_empty()) {
            // Written when a join completed, before the leader's assignment: the members
            // rejoin (their heartbeats say so) within the rebalance timeout.
            let timeout = g.max_rebalance_timeout();
            g.rebalance_deadline = Some(now + timeout);
            GroupState::PreparingRebalance
        } else {
            GroupState::Stable
        };
        g
    }
}

/// A JoinGroup answer carrying only an error.
pub fn join_error(error: ErrorCode, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse {
        throttle_time_ms: 0,
        error_code: error.code(),
        generation_id: -1,
        protocol_type: None,
        protocol_name: Some(String::new()),
        leader: String::new(),
        skip_assignment: false,
        member_id: member_id.to_string(),
        members: Vec::new(),
    }
}

/// A SyncGroup answer carrying only an error.
pub fn sync_error(error: ErrorCode) -> SyncGroupResponse {
    SyncGroupResponse {
        throttle_time_ms: 0,
        error_code: error.code(),
        protocol_type: None,
        protocol_name: None,
        assignment: Bytes::new(),
    }
}
