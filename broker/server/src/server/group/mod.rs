//! The group coordinator: Kafka's classic consumer-group protocol for the groups whose
//! `__consumer_offsets` partition this broker leads. JoinGroup/SyncGroup with generations,
//! leader choice and protocol selection, MEMBER_ID_REQUIRED (JoinGroup v4+), static
//! membership (`group.instance.id`), session and rebalance timeouts, heartbeats,
//! LeaveGroup; committed offsets and group metadata appended (as the partition's leader, in
//! its leader epoch) to the compacted internal topic `__consumer_offsets` (Kafka's record
//! formats, [`records`]); offset retention; DescribeGroups, ListGroups, DeleteGroups and
//! OffsetDelete.
//!
//! Leadership: the replica manager tells the coordinator which partitions this broker
//! leads after every metadata change ([`GroupCoordinator::leadership_changed`]). A newly
//! led partition is marked loading (requests for its groups answer
//! COORDINATOR_LOAD_IN_PROGRESS), its log is replayed ([`store::load_partition`]) on a
//! loader thread (inline when the log is empty, and at open), and its groups are served
//! from then on. A partition no longer led (or led in a new epoch) drops its groups; their
//! waiting JoinGroup/SyncGroup calls answer NOT_COORDINATOR, as does every request for a
//! group placed on a partition this broker does not lead, so clients find the coordinator
//! again.
//!
//! Replication: an OffsetCommit is answered once its batch is replicated (the high
//! watermark passes it, `offsets.commit.timeout.ms`), and only then is it visible to
//! OffsetFetch; the leader's SyncGroup likewise hands out the assignment once it is
//! replicated. A lone in-sync replica replicates at once, so a single node answers without
//! waiting.
//!
//! All groups sit behind one mutex. JoinGroup and SyncGroup that must wait for other
//! members leave a `oneshot` sender in their member and return its receiver, which the
//! handler awaits on the async side. One timer thread expires sessions, completes
//! rebalances whose deadline passed and expires offsets; it sleeps until the next deadline
//! and is woken when a request changes one.

pub mod records;
pub mod state;
pub mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use brook_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use brook_protocol::messages::leave_group_request::MemberIdentity;
use brook_protocol::messages::leave_group_response::MemberResponse;
use brook_protocol::messages::list_groups_response::ListedGroup;
use brook_protocol::messages::{
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use bytes::Bytes;
use tokio::sync::oneshot;

use self::records::{encode_group_key, subscription_topics, OffsetKey, OffsetValue};
use self::state::{join_error, sync_error, Committed, Group, GroupState, Member};
use self::store::{encode_batch, load_partition, Entry, Loaded, OffsetsTopic};
use super::replication::ReplicaManager;
use super::{ErrorCode, Topics};
use crate::log::{Log, LogError, TopicPartition};

/// Kafka's name for the internal topic holding group offsets and metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Java's `String.hashCode` (UTF-16 code units, wrapping `i32` arithmetic).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of a group: Kafka's `Utils.abs(hashCode) % n`
/// (`Utils.abs` maps `i32::MIN` to 0). `partitions` must be positive.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let h = java_string_hash(group_id);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

/// The coordinator's settings, with Kafka's broker key names.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members. Default 3 s.
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms`. Default 6 s.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`. Default 30 min.
    pub max_session_timeout: Duration,
    /// `group.max.size`: members per group. Default unlimited.
    pub max_size: usize,
    /// `offsets.topic.num.partitions`, when `__consumer_offsets` is created. Default 50.
    /// `offsets.topic.replication.factor`: capped at the live brokers. Default 3.
    pub offsets_replication_factor: i16,
    pub offsets_partitions: i32,
    /// `offsets.retention.ms`: committed offsets of a group that has been empty this long
    /// are deleted. Default 7 days.
    pub offsets_retention: Duration,
    /// `offsets.retention.check.interval.ms`. Default 10 min.
    pub offsets_retention_check: Duration,
    /// `offset.metadata.max.bytes`: the longest commit metadata string. Default 4096.
    pub offset_metadata_max_bytes: usize,
    /// `offsets.commit.timeout.ms`: how long an OffsetCommit (and the leader's SyncGroup)
    /// waits for its write to be replicated. Default 5 s.
    pub offsets_commit_timeout: Duration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay: Duration::from_millis(3000),
            min_session_timeout: Duration::from_millis(6000),
            max_session_timeout: Duration::from_millis(1_800_000),
            max_size: usize::MAX,
            offsets_partitions: 50,
            offsets_replication_factor: 3,
            offsets_retention: Duration::from_millis(7 * 24 * 3600 * 1000),
            offsets_retention_check: Duration::from_millis(600_000),
            offset_metadata_max_bytes: 4096,
            offsets_commit_timeout: Duration::from_millis(5000),
        }
    }
}

/// A JoinGroup or SyncGroup outcome: an answer now, or one to await.
pub enum Reply<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

/// Who sent a request: the member's client id and host, as DescribeGroups reports them.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub client_host: String,
}

/// One partition's committed offset, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub partition: i32,
    /// -1 when nothing is committed.
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// A partition's part of an OffsetCommit.
#[derive(Debug, Clone)]
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// -1: the broker's time.
    pub commit_timestamp: i64,
}

struct Inner {
    groups: BTreeMap<String, Group>,
    next_retention_check: Instant,
    stopped: bool,
}

/// A `__consumer_offsets` partition this broker leads.
#[derive(Debug, Clone, Copy)]
struct Led {
    /// The leader epoch it is led in: a new epoch is a new leadership (reloaded).
    epoch: i32,
    /// Tells this leadership from earlier ones of the same partition, so a load or a write
    /// that finishes after the partition was lost (and perhaps led again) does nothing.
    token: u64,
    loaded: bool,
}

/// Which partitions of `__consumer_offsets` this broker coordinates. Locked after `inner`
/// (never before), and never across I/O.
#[derive(Debug, Default)]
struct Ownership {
    /// The topic's partition count, 0 until it exists.
    partitions: i32,
    led: HashMap<i32, Led>,
    next_token: u64,
}

/// Where a group's writes go: its partition, as led now.
#[derive(Debug, Clone)]
struct Place {
    tp: TopicPartition,
    epoch: i32,
    token: u64,
}

/// A batch appended as leader, not necessarily replicated yet.
#[derive(Debug, Clone)]
struct Appended {
    tp: TopicPartition,
    last_offset: i64,
    log: Log,
    min_isr: usize,
    token: u64,
}

impl Appended {
    /// The high watermark passed it (at once when this broker is the only in-sync replica).
    fn replicated(&self) -> bool {
        self.log.high_watermark() > self.last_offset
    }
}

/// An OffsetCommit whose batch waits for replication.
struct PendingCommit {
    group_id: String,
    appended: Appended,
    accepted: Vec<((String, i32), Committed)>,
    /// Whether the commit created the group (removed again if nothing is left in it).
    created: bool,
}

/// The group coordinator of one broker.
pub struct GroupCoordinator {
    config: GroupConfig,
    topics: Arc<Topics>,
    inner: Mutex<Inner>,
    /// The partitions coordinated here. Locked after `inner`, never before.
    owned: Mutex<Ownership>,
    /// Notified (with `owned`) when a partition finishes loading.
    loaded: Condvar,
    /// `__consumer_offsets`, once it exists.
    topic: Mutex<Option<Arc<OffsetsTopic>>>,
    /// The local replicas: leadership, leader logs, replication. Set by
    /// [`follow_leadership`](Self::follow_leadership); until then nothing is coordinated.
    replicas: OnceLock<Arc<ReplicaManager>>,
    /// This coordinator, for the tasks that finish replicated writes.
    me: Weak<GroupCoordinator>,
    /// Whether the replica manager's leadership reports are taken in (tests turn them off
    /// to simulate leadership themselves); held while one is.
    reports: Mutex<bool>,
    /// Wakes the timer thread when a deadline changes or the coordinator stops.
    wake: Condvar,
    timer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A group as replayed from its partition's log.
fn loaded_group(id: &str, loaded: Loaded, now: Instant) -> Group {
    let mut g = match loaded.group {
        Some(r) => Group::from_record(id, r, now),
        None => Group::new(id, now_ms()),
    };
    g.offsets = loaded
        .offsets
        .into_iter()
        .map(|(tp, v)| {
            (
                tp,
                Committed {
                    offset: v.offset,
                    leader_epoch: v.leader_epoch,
                    metadata: v.metadata,
                    commit_timestamp: v.commit_timestamp,
                    expire_timestamp: v.expire_timestamp,
                    record_offset: -1,
                },
            )
        })
        .collect();
    g
}

/// Kafka's mapping of a failed wait for replication of an OffsetCommit.
fn commit_wait_error(e: ErrorCode) -> ErrorCode {
    match e {
        ErrorCode::NotLeaderOrFollower | ErrorCode::KafkaStorageError => ErrorCode::NotCoordinator,
        ErrorCode::NotEnoughReplicas
        | ErrorCode::NotEnoughReplicasAfterAppend
        | ErrorCode::UnknownTopicOrPartition => ErrorCode::CoordinatorNotAvailable,
        other => other,
    }
}

/// Kafka's mapping of a failed group metadata write, as SyncGroup answers it.
fn store_wait_error(e: ErrorCode) -> ErrorCode {
    match commit_wait_error(e) {
        ErrorCode::RequestTimedOut => ErrorCode::RebalanceInProgress,
        other => other,
    }
}

impl GroupCoordinator {
    /// A coordinator of no group yet, with its timer thread:
    /// [`follow_leadership`](Self::follow_leadership) connects it to the replicas, and it
    /// coordinates the groups of the offsets partitions led here from then on.
    pub fn open(topics: Arc<Topics>, config: GroupConfig) -> Result<Arc<Self>, String> {
        let now = Instant::now();
        let topic = OffsetsTopic::open(&topics).map(Arc::new);
        let coordinator = Arc::new_cyclic(|me| GroupCoordinator {
            inner: Mutex::new(Inner {
                groups: BTreeMap::new(),
                next_retention_check: now + config.offsets_retention_check,
                stopped: false,
            }),
            owned: Mutex::new(Ownership::default()),
            loaded: Condvar::new(),
            topic: Mutex::new(topic),
            replicas: OnceLock::new(),
            me: me.clone(),
            reports: Mutex::new(true),
            config,
            topics,
            wake: Condvar::new(),
            timer: Mutex::new(None),
        });
        let weak = Arc::downgrade(&coordinator);
        let handle = std::thread::Builder::new()
            .name("group-coordinator".into())
            .spawn(move || timer_loop(weak))
            .map_err(|e| format!("starting the group coordinator thread: {e}"))?;
        *coordinator.timer.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(coordinator)
    }

    /// Follows the leadership of `__consumer_offsets` partitions through `replicas`: the
    /// partitions led now are loaded before this returns (as a broker's open replays its
    /// state), later changes as the replica manager reports them.
    pub fn follow_leadership(self: &Arc<Self>, replicas: &Arc<ReplicaManager>) {
        if self.replicas.set(replicas.clone()).is_err() {
            return;
        }
        let weak = Arc::downgrade(self);
        replicas.on_leadership(move |led| {
            let Some(c) = weak.upgrade() else {
                return;
            };
            let follow = c.reports.lock().unwrap_or_else(|e| e.into_inner());
            if !*follow {
                return;
            }
            let pending = c.leadership_changed(led);
            drop(follow);
            if pending {
                // Replaying logs takes time: not on the reconciling thread.
                let loader = c.clone();
                let spawned = std::thread::Builder::new()
                    .name("group-loader".into())
                    .spawn(move || loader.load_pending());
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "starting a group loader; loading inline");
                    c.load_pending();
                }
            }
        });
        let partitions = self
            .topics
            .get(OFFSETS_TOPIC)
            .map_or(0, |meta| meta.partitions);
        let led: HashSet<TopicPartition> = (0..partitions)
            .map(|p| TopicPartition::new(OFFSETS_TOPIC, p))
            .filter(|tp| replicas.leader_log(tp, -1).is_ok())
            .collect();
        self.leadership_changed(&led);
        self.load_pending();
    }

    /// Takes in the partitions this broker leads now (all topics' partitions may be given;
    /// only `__consumer_offsets` matters). Partitions no longer led, or led in a new leader
    /// epoch, drop their groups (waiting members get NOT_COORDINATOR); newly led ones are
    /// marked loading, and those with an empty log are loaded at once. True when some
    /// newly led partition still has to be loaded ([`load_pending`](Self::load_pending)).
    pub fn leadership_changed(&self, led: &HashSet<TopicPartition>) -> bool {
        let partitions = self
            .topics
            .get(OFFSETS_TOPIC)
            .map_or(0, |meta| meta.partitions);
        let mut epochs: HashMap<i32, i32> = HashMap::new();
        if let Some(replicas) = self.replicas.get() {
            for tp in led {
                if tp.topic != OFFSETS_TOPIC || !(0..partitions).contains(&tp.partition) {
                    continue;
                }
                if let Ok((_, epoch)) = replicas.leader_log(tp, -1) {
                    epochs.insert(tp.partition, epoch);
                }
            }
        }
        let mut gained = Vec::new();
        {
            let mut inner = self.lock();
            let mut own = self.ownership();
            own.partitions = partitions;
            let lost: Vec<i32> = own
                .led
                .iter()
                .filter(|(p, l)| epochs.get(p) != Some(&l.epoch))
                .map(|(p, _)| *p)
                .collect();
            for p in lost {
                own.led.remove(&p);
                let n = partitions.max(1);
                let gone: Vec<String> = inner
                    .groups
                    .keys()
                    .filter(|id| partition_for(id, n) == p)
                    .cloned()
                    .collect();
                tracing::info!(partition = p, groups = gone.len(), "no longer coordinating");
                for id in gone {
                    if let Some(mut g) = inner.groups.remove(&id) {
                        for m in g.members.values_mut() {
                            m.fail_waiters(ErrorCode::NotCoordinator);
                        }
                    }
                }
            }
            for (p, epoch) in &epochs {
                if own.led.contains_key(p) {
                    continue;
                }
                own.next_token += 1;
                let token = own.next_token;
                own.led.insert(
                    *p,
                    Led {
                        epoch: *epoch,
                        token,
                        loaded: false,
                    },
                );
                gained.push((*p, token));
            }
        }
        let mut pending = false;
        for (p, token) in gained {
            match self.leader_log(p) {
                Some(log) if log.log_start_offset() >= log.log_end_offset() => {
                    self.install(p, token, BTreeMap::new());
                }
                Some(_) => pending = true,
                None => {}
            }
        }
        pending
    }

    /// Loads every partition marked loading (replays its log) and starts serving its
    /// groups. A partition lost meanwhile is left alone.
    pub fn load_pending(&self) {
        let todo: Vec<(i32, u64)> = self
            .ownership()
            .led
            .iter()
            .filter(|(_, l)| !l.loaded)
            .map(|(p, l)| (*p, l.token))
            .collect();
        for (p, token) in todo {
            let Some(log) = self.leader_log(p) else {
                continue;
            };
            let partitions = self.ownership().partitions.max(1);
            let started = Instant::now();
            let groups = load_partition(&log, p, partitions);
            tracing::info!(
                partition = p,
                groups = groups.len(),
                ms = started.elapsed().as_millis() as u64,
                "loaded {OFFSETS_TOPIC}"
            );
            self.install(p, token, groups);
        }
    }

    /// Ignores the replica manager's leadership reports from now on (one being taken in
    /// finishes first), so a test decides leadership with
    /// [`leadership_changed`](Self::leadership_changed) alone.
    #[cfg(test)]
    pub fn ignore_reports(&self) {
        *self.reports.lock().unwrap_or_else(|e| e.into_inner()) = false;
    }

    /// Waits until no led partition is loading, at most `timeout`; true if none is.
    pub fn wait_loaded(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut own = self.ownership();
        loop {
            if own.led.values().all(|l| l.loaded) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            own = self
                .loaded
                .wait_timeout(own, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The `__consumer_offsets` partitions coordinated here, loaded or loading.
    pub fn led_partitions(&self) -> Vec<(i32, bool)> {
        let mut out: Vec<(i32, bool)> = self
            .ownership()
            .led
            .iter()
            .map(|(p, l)| (*p, l.loaded))
            .collect();
        out.sort_unstable();
        out
    }

    /// The log of partition `p` if this broker leads it.
    fn leader_log(&self, p: i32) -> Option<Log> {
        let replicas = self.replicas.get()?;
        replicas
            .leader_log(&TopicPartition::new(OFFSETS_TOPIC, p), -1)
            .ok()
            .map(|(log, _)| log)
    }

    /// Serves the loaded groups of partition `p`, if it is still the leadership `token`.
    fn install(&self, p: i32, token: u64, groups: BTreeMap<String, Loaded>) {
        let now = Instant::now();
        {
            let mut inner = self.lock();
            let mut own = self.ownership();
            match own.led.get_mut(&p) {
                Some(l) if l.token == token && !l.loaded => l.loaded = true,
                _ => return,
            }
            for (id, loaded) in groups {
                inner
                    .groups
                    .insert(id.clone(), loaded_group(&id, loaded, now));
            }
            self.loaded.notify_all();
        }
        // Loaded members' sessions run from now.
        self.wake.notify_one();
    }

    fn ownership(&self) -> MutexGuard<'_, Ownership> {
        self.owned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where `group_id`'s state lives, if it is coordinated here and loaded.
    fn place(&self, group_id: &str) -> Result<Place, ErrorCode> {
        let own = self.ownership();
        if own.partitions <= 0 {
            return Err(ErrorCode::NotCoordinator);
        }
        let p = partition_for(group_id, own.partitions);
        match own.led.get(&p) {
            None => Err(ErrorCode::NotCoordinator),
            Some(l) if !l.loaded => Err(ErrorCode::CoordinatorLoadInProgress),
            Some(l) => Ok(Place {
                tp: TopicPartition::new(OFFSETS_TOPIC, p),
                epoch: l.epoch,
                token: l.token,
            }),
        }
    }

    /// Whether requests for `group_id` are served: the coordinator runs and leads the
    /// group's partition, loaded.
    fn serving(&self, inner: &Inner, group_id: &str) -> Result<Place, ErrorCode> {
        if inner.stopped {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        self.place(group_id)
    }

    /// Whether `token` is still the leadership of a loaded partition.
    fn still_led(&self, tp: &TopicPartition, token: u64) -> bool {
        self.ownership()
            .led
            .get(&tp.partition)
            .is_some_and(|l| l.loaded && l.token == token)
    }

    /// Stops the timer thread. Waiting JoinGroup/SyncGroup calls are answered with
    /// COORDINATOR_NOT_AVAILABLE, so their clients look for the coordinator again.
    pub fn stop(&self) {
        {
            let mut inner = self.lock();
            inner.stopped = true;
            for g in inner.groups.values_mut() {
                for m in g.members.values_mut() {
                    m.fail_waiters(ErrorCode::CoordinatorNotAvailable);
                }
            }
        }
        self.wake.notify_all();
        let handle = self.timer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// `__consumer_offsets`, created on first use (FindCoordinator asks first, as in
    /// Kafka; JoinGroup and OffsetCommit too). Creating it makes this broker lead some (a
    /// single node: all) of its partitions, which the replica manager reports back before
    /// this returns. Never called with `inner` held.
    pub fn offsets_topic(&self) -> Result<Arc<OffsetsTopic>, String> {
        if let Some(t) = &*self.topic.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(t.clone());
        }
        // Not under the `topic` lock: creating reconciles the replicas, which calls back.
        let t = Arc::new(
            OffsetsTopic::open_or_create(
                &self.topics,
                self.config.offsets_partitions,
                self.config.offsets_replication_factor,
            )
            .map_err(|e| e.to_string())?,
        );
        let mut topic = self.topic.lock().unwrap_or_else(|e| e.into_inner());
        Ok(topic.get_or_insert(t).clone())
    }

    /// Creates `__consumer_offsets` if it does not exist yet (outside `inner`).
    fn ensure_topic(&self) -> Result<(), ErrorCode> {
        if self.topics.get(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        self.offsets_topic().map(|_| ()).map_err(|e| {
            tracing::warn!(error = %e, "creating {OFFSETS_TOPIC}");
            ErrorCode::CoordinatorNotAvailable
        })
    }

    /// Appends `entries` for `group` to its `__consumer_offsets` partition as one batch,
    /// as the partition's leader in the epoch its groups were loaded in. `None` when there
    /// was nothing to write. The batch may not be replicated yet: see
    /// [`Appended::replicated`].
    fn persist(&self, group: &str, entries: &[Entry]) -> Result<Option<Appended>, ErrorCode> {
        if entries.is_empty() {
            return Ok(None);
        }
        let place = self.place(group)?;
        let replicas = self.replicas.get().ok_or(ErrorCode::NotCoordinator)?;
        let leading = replicas
            .leading(&place.tp, -1)
            .map_err(|_| ErrorCode::NotCoordinator)?;
        let (log, epoch, isr) = (leading.log.clone(), leading.epoch, leading.isr_len);
        if epoch != place.epoch {
            // Led again in a new epoch: the groups are reloaded before they are written.
            return Err(ErrorCode::NotCoordinator);
        }
        let min_isr = log.config().min_insync_replicas.max(1) as usize;
        if isr < min_isr {
            tracing::warn!(tp = %place.tp, isr, min_isr, "too few in-sync replicas to write");
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let mut bytes = encode_batch(entries, now_ms()).map_err(|e| {
            tracing::warn!(%group, error = %e, "encoding a batch of {OFFSETS_TOPIC}");
            ErrorCode::CoordinatorNotAvailable
        })?;
        let info = log.append_with_epoch(&mut bytes, epoch).map_err(|e| {
            tracing::warn!(%group, error = %e, "appending to {OFFSETS_TOPIC}");
            match ErrorCode::from(&e) {
                // A storage failure, or an epoch the log has moved past: another leader.
                ErrorCode::KafkaStorageError => ErrorCode::NotCoordinator,
                _ if matches!(e, LogError::InvalidRecords { .. }) => ErrorCode::NotCoordinator,
                _ => ErrorCode::CoordinatorNotAvailable,
            }
        })?;
        leading.appended(replicas);
        Ok(Some(Appended {
            tp: place.tp,
            last_offset: info.last_offset,
            log,
            min_isr,
            token: place.token,
        }))
    }

    /// Waits, from a thread that may block, until `appended` is replicated (at most
    /// `offsets.commit.timeout.ms`): NONE, or why not.
    fn wait_replicated_blocking(&self, appended: &Appended) -> ErrorCode {
        if appended.replicated() {
            return ErrorCode::None;
        }
        let Some(replicas) = self.replicas.get().cloned() else {
            return ErrorCode::NotCoordinator;
        };
        let timeout = self.config.offsets_commit_timeout;
        let (tx, rx) = std::sync::mpsc::channel();
        let (tp, last, min_isr) = (appended.tp.clone(), appended.last_offset, appended.min_isr);
        let waiting = replicas.clone();
        replicas.controller().runtime().spawn(async move {
            let _ = tx.send(waiting.wait_replicated(&tp, last, min_isr, timeout).await);
        });
        rx.recv_timeout(timeout + Duration::from_secs(1))
            .unwrap_or(ErrorCode::RequestTimedOut)
    }

    // ---- JoinGroup ------------------------------------------------------------------

    /// JoinGroup. `version` decides whether a new member must first learn its id
    /// (MEMBER_ID_REQUIRED, v4+).
    pub fn join(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client: Client,
    ) -> Reply<JoinGroupResponse> {
        let group_id = req.group_id.clone();
        if !group_id.is_empty() && group_id.len() <= records::MAX_STRING {
            if let Err(e) = self.ensure_topic() {
                return Reply::Now(join_error(e, &req.member_id));
            }
        }
        let reply = self.join_locked(req, version, client);
        if let Reply::Now(r) = &reply {
            if r.error_code != ErrorCode::None.code()
                && r.error_code != ErrorCode::MemberIdRequired.code()
            {
                // A refused join leaves no trace of a group that never was.
                let mut inner = self.lock();
                if inner.groups.get(&group_id).is_some_and(Group::unused) {
                    inner.groups.remove(&group_id);
                }
            }
        }
        reply
    }

    fn join_locked(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client: Client,
    ) -> Reply<JoinGroupResponse> {
        let fail = |e: ErrorCode| Reply::Now(join_error(e, &req.member_id));
        if req.group_id.is_empty() || req.group_id.len() > records::MAX_STRING {
            return fail(ErrorCode::InvalidGroupId);
        }
        let session = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
        if req.session_timeout_ms < 0
            || session < self.config.min_session_timeout
            || session > self.config.max_session_timeout
        {
            return fail(ErrorCode::InvalidSessionTimeout);
        }
        let rebalance = if version >= 1 && req.rebalance_timeout_ms > 0 {
            Duration::from_millis(req.rebalance_timeout_ms as u64)
        } else {
            session
        };
        let protocols: Vec<(String, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.clone(), p.metadata.clone()))
            .collect();
        let now = Instant::now();
        let mut inner = self.lock();
        if let Err(e) = self.serving(&inner, &req.group_id) {
            return fail(e);
        }
        let group = inner
            .groups
            .entry(req.group_id.clone())
            .or_insert_with(|| Group::new(&req.group_id, now_ms()));
        if !group.supports(&req.protocol_type, &protocols) {
            return fail(ErrorCode::InconsistentGroupProtocol);
        }
        let (tx, rx) = oneshot::channel();
        let new_member = |id: String| Member {
            id,
            instance_id: req.group_instance_id.clone(),
            client_id: client.client_id.clone(),
            client_host: client.client_host.clone(),
            session_timeout: session,
            rebalance_timeout: rebalance,
            protocols: protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            session_deadline: now + session,
        };

        if req.member_id.is_empty() {
            let id = format!("{}-{}", client.client_id, uuid::Uuid::new_v4());
            if let Some(instance) = &req.group_instance_id {
                if let Some(old) = group.static_members.get(instance).cloned() {
                    let reply = self.replace_static_member(
                        group,
                        &old,
                        new_member(id),
                        &req.protocol_type,
                        tx,
                        now,
                    );
                    drop(inner);
                    self.wake.notify_one();
                    return reply.unwrap_or(Reply::Wait(rx));
                }
            } else if version >= 4 {
                group.pending.insert(id.clone(), now + session);
                drop(inner);
                self.wake.notify_one();
                return Reply::Now(join_error(ErrorCode::MemberIdRequired, &id));
            }
            if group.members.len() >= self.config.max_size {
                return fail(ErrorCode::GroupMaxSizeReached);
            }
            let mut m = new_member(id);
            m.join_waiter = Some(tx);
            self.add_member(group, m, &req.protocol_type, now);
            drop(inner);
            self.wake.notify_one();
            return Reply::Wait(rx);
        }

        // A member that knows its id.
        if let Some(instance) = &req.group_instance_id {
            if let Some(known) = group.static_members.get(instance) {
                if known != &req.member_id {
                    return fail(ErrorCode::FencedInstanceId);
                }
            }
        }
        if group.pending.remove(&req.member_id).is_some() {
            if group.members.len() >= self.config.max_size {
                return fail(ErrorCode::GroupMaxSizeReached);
            }
            let mut m = new_member(req.member_id.clone());
            m.join_waiter = Some(tx);
            self.add_member(group, m, &req.protocol_type, now);
            drop(inner);
            self.wake.notify_one();
            return Reply::Wait(rx);
        }
        let state = group.state;
        let is_leader = group.leader.as_deref() == Some(req.member_id.as_str());
        let Some(member) = group.members.get_mut(&req.member_id) else {
            return fail(ErrorCode::UnknownMemberId);
        };
        let same = member.protocols == protocols;
        member.session_deadline = now + session;
        member.client_id = client.client_id.clone();
        member.client_host = client.client_host.clone();
        match state {
            GroupState::Empty => return fail(ErrorCode::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable if same && !is_leader => {
                // The member missed our answer (or rejoins for nothing): the same one again.
                return Reply::Now(group.join_response(&req.member_id));
            }
            GroupState::CompletingRebalance if same => {
                return Reply::Now(group.join_response(&req.member_id));
            }
            _ => {}
        }
        member.protocols = protocols;
        member.session_timeout = session;
        member.rebalance_timeout = rebalance;
        if let Some(old) = member.join_waiter.replace(tx) {
            let _ = old.send(join_error(ErrorCode::RebalanceInProgress, &req.member_id));
        }
        if state == GroupState::PreparingRebalance {
            self.maybe_complete_join(group, now);
        } else {
            self.prepare_rebalance(group, now);
        }
        drop(inner);
        self.wake.notify_one();
        Reply::Wait(rx)
    }

    fn add_member(&self, group: &mut Group, member: Member, protocol_type: &str, now: Instant) {
        if group.members.is_empty() {
            group.protocol_type = Some(protocol_type.to_string());
        }
        if let Some(instance) = &member.instance_id {
            group
                .static_members
                .insert(instance.clone(), member.id.clone());
        }
        group.members.insert(member.id.clone(), member);
        if group.state == GroupState::PreparingRebalance {
            if let Some(cap) = group.initial_delay_cap {
                let next = now + self.config.initial_rebalance_delay;
                group.rebalance_deadline = Some(next.min(cap));
            }
            self.maybe_complete_join(group, now);
        } else {
            self.prepare_rebalance(group, now);
        }
    }

    /// A static member came back with a new member id (KIP-345): the old id is fenced, and
    /// a Stable group hands it its assignment again without a rebalance. `Some` when it can
    /// be answered now.
    fn replace_static_member(
        &self,
        group: &mut Group,
        old_id: &str,
        mut member: Member,
        protocol_type: &str,
        tx: oneshot::Sender<JoinGroupResponse>,
        now: Instant,
    ) -> Option<Reply<JoinGroupResponse>> {
        let Some(mut old) = group.members.remove(old_id) else {
            // The mapping outlived the member; treat it as new.
            group
                .static_members
                .remove(member.instance_id.as_deref().unwrap_or(""));
            member.join_waiter = Some(tx);
            self.add_member(group, member, protocol_type, now);
            return None;
        };
        old.fail_waiters(ErrorCode::FencedInstanceId);
        let same = old.protocols == member.protocols;
        member.assignment = old.assignment.clone();
        let new_id = member.id.clone();
        if let Some(instance) = &member.instance_id {
            group
                .static_members
                .insert(instance.clone(), new_id.clone());
        }
        let was_leader = group.leader.as_deref() == Some(old_id);
        if was_leader {
            group.leader = Some(new_id.clone());
        }
        let state = group.state;
        group.members.insert(new_id.clone(), member);
        match state {
            GroupState::Stable if same && !was_leader => {
                // The new member id must outlive a restart, or the member is unknown after it.
                self.persist_group_quietly(group);
                Some(Reply::Now(group.join_response(&new_id)))
            }
            GroupState::PreparingRebalance => {
                if let Some(m) = group.members.get_mut(&new_id) {
                    m.join_waiter = Some(tx);
                }
                self.maybe_complete_join(group, now);
                None
            }
            _ => {
                if let Some(m) = group.members.get_mut(&new_id) {
                    m.join_waiter = Some(tx);
                }
                self.prepare_rebalance(group, now);
                None
            }
        }
    }

    /// Starts a rebalance: members must rejoin before the deadline.
    fn prepare_rebalance(&self, group: &mut Group, now: Instant) {
        if group.state == GroupState::CompletingRebalance {
            for m in group.members.values_mut() {
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(sync_error(ErrorCode::RebalanceInProgress));
                }
            }
        }
        let was_empty = group.state == GroupState::Empty;
        // An assignment still being replicated is abandoned: its SyncGroups were answered.
        group.storing = false;
        group.state = GroupState::PreparingRebalance;
        group.state_timestamp = now_ms();
        group.sync_deadline = None;
        let timeout = group.max_rebalance_timeout();
        if was_empty && !self.config.initial_rebalance_delay.is_zero() {
            let cap = now + timeout;
            group.initial_delay_cap = Some(cap);
            group.rebalance_deadline = Some((now + self.config.initial_rebalance_delay).min(cap));
        } else {
            group.initial_delay_cap = None;
            group.rebalance_deadline = Some(now + timeout);
            self.maybe_complete_join(group, now);
        }
    }

    fn maybe_complete_join(&self, group: &mut Group, now: Instant) {
        if group.state == GroupState::PreparingRebalance
            && group.initial_delay_cap.is_none()
            && group.all_joined()
        {
            self.complete_join(group, now);
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the generation moves
    /// on, and every waiting member gets its answer (the leader with everyone's metadata).
    fn complete_join(&self, group: &mut Group, now: Instant) {
        let gone: Vec<String> = group
            .members
            .values()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            remove_member_entry(group, &id);
        }
        group.rebalance_deadline = None;
        group.initial_delay_cap = None;
        group.generation = group.generation.wrapping_add(1).max(1);
        group.state_timestamp = now_ms();
        if group.members.is_empty() {
            group.state = GroupState::Empty;
            group.protocol = None;
            group.leader = None;
            self.persist_group_quietly(group);
            return;
        }
        group.protocol = group.select_protocol();
        if !group
            .leader
            .as_ref()
            .is_some_and(|l| group.members.contains_key(l))
        {
            group.leader = group.members.keys().next().cloned();
        }
        group.state = GroupState::CompletingRebalance;
        group.sync_deadline = Some(now + group.max_rebalance_timeout());
        for m in group.members.values_mut() {
            m.assignment = Bytes::new();
            m.session_deadline = now + m.session_timeout;
        }
        // The new generation is written before anyone hears of it, so a restart never hands
        // out a generation twice; loaded without assignments, it rebalances again.
        self.persist_group_quietly(group);
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in ids {
            let response = group.join_response(&id);
            if let Some(tx) = group
                .members
                .get_mut(&id)
                .and_then(|m| m.join_waiter.take())
            {
                let _ = tx.send(response);
            }
        }
    }

    /// Writes the group's metadata from a context that cannot report failure (the timer,
    /// a rebalance that emptied the group); the next change writes it again.
    fn persist_group_quietly(&self, group: &Group) {
        let entry = (
            encode_group_key(&group.id),
            Some(group.to_record().encode()),
        );
        if let Err(e) = self.persist(&group.id, &[entry]) {
            tracing::warn!(group = %group.id, error = ?e, "writing group metadata");
        }
    }

    // ---- SyncGroup ------------------------------------------------------------------

    pub fn sync(&self, req: SyncGroupRequest) -> Reply<SyncGroupResponse> {
        let fail = |e: ErrorCode| Reply::Now(sync_error(e));
        let now = Instant::now();
        let mut inner = self.lock();
        if let Err(e) = self.serving(&inner, &req.group_id) {
            return fail(e);
        }
        let Some(group) = inner.groups.get_mut(&req.group_id) else {
            return fail(ErrorCode::UnknownMemberId);
        };
        if let Err(e) = check_member(group, &req.member_id, req.group_instance_id.as_deref()) {
            return fail(e);
        }
        if req.generation_id != group.generation {
            return fail(ErrorCode::IllegalGeneration);
        }
        if req
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != group.protocol_type.as_ref())
            || req
                .protocol_name
                .as_ref()
                .is_some_and(|p| Some(p) != group.protocol.as_ref())
        {
            return fail(ErrorCode::InconsistentGroupProtocol);
        }
        match group.state {
            GroupState::Empty => fail(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ErrorCode::RebalanceInProgress),
            GroupState::Stable => {
                let Some(m) = group.members.get_mut(&req.member_id) else {
                    return fail(ErrorCode::UnknownMemberId);
                };
                m.session_deadline = now + m.session_timeout;
                let assignment = m.assignment.clone();
                Reply::Now(sync_answer(group, assignment))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.members.get_mut(&req.member_id) {
                    m.session_deadline = now + m.session_timeout;
                    if let Some(old) = m.sync_waiter.replace(tx) {
                        let _ = old.send(sync_error(ErrorCode::RebalanceInProgress));
                    }
                }
                if group.leader.as_deref() != Some(req.member_id.as_str()) || group.storing {
                    // A follower, or the leader again while its assignment is replicated.
                    return Reply::Wait(rx);
                }
                let mut given: BTreeMap<String, Bytes> = req
                    .assignments
                    .into_iter()
                    .map(|a| (a.member_id, a.assignment))
                    .collect();
                for m in group.members.values_mut() {
                    m.assignment = given.remove(&m.id).unwrap_or_default();
                }
                let entry = (
                    encode_group_key(&group.id),
                    Some(group.to_record().encode()),
                );
                let group_id = group.id.clone();
                match self.persist(&group_id, &[entry]) {
                    Ok(Some(a)) if !a.replicated() => {
                        // Stays CompletingRebalance until the assignment is replicated.
                        group.storing = true;
                        self.finish_store_later(a, group_id, group.generation);
                    }
                    Ok(_) => complete_sync(group),
                    Err(e) => {
                        tracing::warn!(group = %group_id, error = ?e, "storing the assignment");
                        self.fail_sync(group, e, now);
                    }
                }
                drop(inner);
                self.wake.notify_one();
                Reply::Wait(rx)
            }
        }
    }

    /// The assignment did not become durable: the members hear `error` and rebalance.
    fn fail_sync(&self, group: &mut Group, error: ErrorCode, now: Instant) {
        for m in group.members.values_mut() {
            m.assignment = Bytes::new();
            if let Some(tx) = m.sync_waiter.take() {
                let _ = tx.send(sync_error(error));
            }
        }
        self.prepare_rebalance(group, now);
    }

    /// Waits (on the replication runtime) for the leader's assignment to be replicated,
    /// then hands it out, or fails the SyncGroups.
    fn finish_store_later(&self, appended: Appended, group_id: String, generation: i32) {
        let (Some(replicas), Some(me)) = (self.replicas.get().cloned(), self.me.upgrade()) else {
            return;
        };
        let timeout = self.config.offsets_commit_timeout;
        let runtime = replicas.controller().runtime().clone();
        runtime.spawn(async move {
            let code = replicas
                .wait_replicated(
                    &appended.tp,
                    appended.last_offset,
                    appended.min_isr,
                    timeout,
                )
                .await;
            // A failed assignment rebalances, which may write: off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                me.finish_store(&appended, &group_id, generation, code)
            })
            .await;
        });
    }

    fn finish_store(&self, appended: &Appended, group_id: &str, generation: i32, code: ErrorCode) {
        let now = Instant::now();
        let mut inner = self.lock();
        if !self.still_led(&appended.tp, appended.token) {
            // Lost meanwhile: the groups were dropped and their members told.
            return;
        }
        let Some(group) = inner.groups.get_mut(group_id) else {
            return;
        };
        if !group.storing
            || group.generation != generation
            || group.state != GroupState::CompletingRebalance
        {
            return;
        }
        group.storing = false;
        if code == ErrorCode::None {
            complete_sync(group);
        } else {
            tracing::warn!(group = group_id, error = ?code, "the assignment was not replicated");
            self.fail_sync(group, store_wait_error(code), now);
        }
        drop(inner);
        self.wake.notify_one();
    }

    // ---- Heartbeat and LeaveGroup ---------------------------------------------------

    pub fn heartbeat(&self, req: &HeartbeatRequest) -> ErrorCode {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Err(e) = self.serving(&inner, &req.group_id) {
            return e;
        }
        let Some(group) = inner.groups.get_mut(&req.group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if let Err(e) = check_member(group, &req.member_id, req.group_instance_id.as_deref()) {
            return e;
        }
        if req.generation_id != group.generation {
            return ErrorCode::IllegalGeneration;
        }
        let state = group.state;
        let Some(m) = group.members.get_mut(&req.member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        m.session_deadline = now + m.session_timeout;
        match state {
            GroupState::Empty => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
        }
    }

    /// LeaveGroup for each identity (v0-2 send one member id; v3+ a list, possibly by
    /// `group.instance.id` alone). Returns the per-member outcomes, or the group's error
    /// (not coordinated here).
    pub fn leave(
        &self,
        group_id: &str,
        members: &[MemberIdentity],
    ) -> Result<Vec<MemberResponse>, ErrorCode> {
        let now = Instant::now();
        let mut inner = self.lock();
        self.serving(&inner, group_id)?;
        let mut out = Vec::new();
        let Some(group) = inner.groups.get_mut(group_id) else {
            return Ok(members
                .iter()
                .map(|m| member_result(m, ErrorCode::UnknownMemberId))
                .collect());
        };
        let mut removed = false;
        for identity in members {
            let mut id = identity.member_id.clone();
            if let Some(instance) = &identity.group_instance_id {
                match group.static_members.get(instance) {
                    Some(known) if id.is_empty() => id = known.clone(),
                    Some(known) if known != &id => {
                        out.push(member_result(identity, ErrorCode::FencedInstanceId));
                        continue;
                    }
                    None if id.is_empty() => {
                        out.push(member_result(identity, ErrorCode::UnknownMemberId));
                        continue;
                    }
                    _ => {}
                }
            }
            if group.pending.remove(&id).is_some() {
                out.push(member_result(identity, ErrorCode::None));
                continue;
            }
            if !group.members.contains_key(&id) {
                out.push(member_result(identity, ErrorCode::UnknownMemberId));
                continue;
            }
            if let Some(mut m) = remove_member_entry(group, &id) {
                m.fail_waiters(ErrorCode::UnknownMemberId);
            }
            removed = true;
            out.push(member_result(identity, ErrorCode::None));
        }
        if removed {
            self.members_changed(group, now);
        }
        drop(inner);
        self.wake.notify_one();
        Ok(out)
    }

    /// After members left or expired: rebalance the rest.
    fn members_changed(&self, group: &mut Group, now: Instant) {
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(group, now)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(group, now),
            GroupState::Empty => {}
        }
    }

    // ---- Offsets --------------------------------------------------------------------

    /// OffsetCommit: checks membership and generation (generation -1 with no member id is
    /// a commit from outside the group, allowed while the group is Empty), writes every
    /// accepted partition in one batch, waits until the batch is replicated (then the
    /// offsets become visible) and returns a code per partition in request order. Blocks
    /// the calling thread while the batch replicates.
    pub fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        retention_ms: i64,
        partitions: Vec<CommitPartition>,
    ) -> Vec<ErrorCode> {
        let (mut codes, pending) = self.commit_append(
            group_id,
            generation,
            member_id,
            instance_id,
            retention_ms,
            partitions,
        );
        if let Some(pending) = pending {
            let waited = self.wait_replicated_blocking(&pending.appended);
            let code = self.commit_replicated(pending, waited);
            for c in codes.iter_mut().filter(|c| **c == ErrorCode::None) {
                *c = code;
            }
        }
        codes
    }

    /// The first half of a commit: checks, and the append. The codes, and what still waits
    /// for replication.
    fn commit_append(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        retention_ms: i64,
        partitions: Vec<CommitPartition>,
    ) -> (Vec<ErrorCode>, Option<PendingCommit>) {
        let all = |e: ErrorCode| (vec![e; partitions.len()], None);
        if group_id.is_empty() || group_id.len() > records::MAX_STRING {
            return all(ErrorCode::InvalidGroupId);
        }
        if let Err(e) = self.ensure_topic() {
            return all(e);
        }
        let now = Instant::now();
        let mut inner = self.lock();
        if let Err(e) = self.serving(&inner, group_id) {
            return all(e);
        }
        let created = !inner.groups.contains_key(group_id);
        let group = inner
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, now_ms()));
        let error = if generation < 0 && member_id.is_empty() && group.state == GroupState::Empty {
            None
        } else if let Err(e) = check_member(group, member_id, instance_id) {
            Some(e)
        } else if group.state == GroupState::CompletingRebalance {
            Some(ErrorCode::RebalanceInProgress)
        } else if generation != group.generation {
            Some(ErrorCode::IllegalGeneration)
        } else {
            None
        };
        if let Some(e) = error {
            if created {
                inner.groups.remove(group_id);
            }
            return all(e);
        }
        if let Some(m) = group.members.get_mut(member_id) {
            m.session_deadline = now + m.session_timeout;
        }
        let ts = now_ms();
        let mut codes = Vec::with_capacity(partitions.len());
        let mut entries = Vec::new();
        let mut accepted = Vec::new();
        for p in partitions {
            let meta = p.metadata.clone().unwrap_or_default();
            let exists = self
                .topics
                .get(&p.topic)
                .is_some_and(|t| (0..t.partitions).contains(&p.partition));
            if !exists {
                codes.push(ErrorCode::UnknownTopicOrPartition);
                continue;
            }
            if meta.len() > self.config.offset_metadata_max_bytes {
                codes.push(ErrorCode::OffsetMetadataTooLarge);
                continue;
            }
            let committed = Committed {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata: meta,
                commit_timestamp: if p.commit_timestamp >= 0 {
                    p.commit_timestamp
                } else {
                    ts
                },
                expire_timestamp: (retention_ms >= 0).then(|| ts.saturating_add(retention_ms)),
                record_offset: -1,
            };
            entries.push((
                OffsetKey {
                    group: group_id.to_string(),
                    topic: p.topic.clone(),
                    partition: p.partition,
                }
                .encode(),
                Some(
                    OffsetValue {
                        offset: committed.offset,
                        leader_epoch: committed.leader_epoch,
                        metadata: committed.metadata.clone(),
                        commit_timestamp: committed.commit_timestamp,
                        expire_timestamp: committed.expire_timestamp,
                    }
                    .encode(),
                ),
            ));
            codes.push(ErrorCode::None);
            accepted.push(((p.topic, p.partition), committed));
        }
        let mut pending = None;
        match self.persist(group_id, &entries) {
            Ok(None) => {}
            Ok(Some(a)) => {
                for (_, c) in &mut accepted {
                    c.record_offset = a.last_offset;
                }
                if a.replicated() {
                    apply_commits(group, accepted);
                } else {
                    group.pending_commits += 1;
                    pending = Some(PendingCommit {
                        group_id: group_id.to_string(),
                        appended: a,
                        accepted,
                        created,
                    });
                }
            }
            Err(e) => {
                tracing::warn!(group = group_id, error = ?e, "writing committed offsets");
                for c in codes.iter_mut().filter(|c| **c == ErrorCode::None) {
                    *c = e;
                }
            }
        }
        if created && pending.is_none() && inner.groups.get(group_id).is_some_and(Group::unused) {
            inner.groups.remove(group_id);
        }
        (codes, pending)
    }

    /// The second half of a commit, once the wait for replication ended with `waited`: the
    /// offsets become visible if the batch is replicated and the partition is still led
    /// as it was. The code for every accepted partition.
    fn commit_replicated(&self, pending: PendingCommit, waited: ErrorCode) -> ErrorCode {
        let mut inner = self.lock();
        if !self.still_led(&pending.appended.tp, pending.appended.token) {
            // Dropped with its groups (and perhaps reloaded from the log since).
            return ErrorCode::NotCoordinator;
        }
        let code = commit_wait_error(waited);
        let Some(group) = inner.groups.get_mut(&pending.group_id) else {
            // Deleted meanwhile (its tombstones follow the commit in the log).
            return code;
        };
        group.pending_commits = group.pending_commits.saturating_sub(1);
        if code == ErrorCode::None {
            apply_commits(group, pending.accepted);
        } else {
            tracing::warn!(group = %pending.group_id, error = ?code, "a commit was not replicated");
        }
        if pending.created && group.unused() {
            inner.groups.remove(&pending.group_id);
        }
        code
    }

    /// OffsetFetch: the committed offsets of `topics` (every partition asked for, -1 where
    /// nothing is committed), or of everything the group committed when `topics` is `None`;
    /// or why the group is not served here. Commits still waiting for replication are not
    /// visible.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<Vec<(String, Vec<FetchedOffset>)>, ErrorCode> {
        let inner = self.lock();
        self.serving(&inner, group_id)?;
        let group = inner.groups.get(group_id);
        let fetched = |topic: &str, partition: i32| {
            let c = group.and_then(|g| g.offsets.get(&(topic.to_string(), partition)));
            FetchedOffset {
                partition,
                offset: c.map_or(-1, |c| c.offset),
                leader_epoch: c.map_or(-1, |c| c.leader_epoch),
                metadata: c.map(|c| c.metadata.clone()).unwrap_or_default(),
            }
        };
        Ok(match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(t, ps)| {
                    let offsets = ps.into_iter().map(|p| fetched(&t, p)).collect();
                    (t, offsets)
                })
                .collect(),
            None => {
                let mut out: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
                for (topic, partition) in group.map(|g| g.offsets.keys()).into_iter().flatten() {
                    let f = fetched(topic, *partition);
                    match out.last_mut() {
                        Some((t, v)) if t == topic => v.push(f),
                        _ => out.push((topic.clone(), vec![f])),
                    }
                }
                out
            }
        })
    }

    // ---- Admin ----------------------------------------------------------------------

    /// DescribeGroups for one group; an unknown group is reported as Dead, as Kafka does,
    /// and one not coordinated here with the error (and no state).
    pub fn describe(&self, group_id: &str, include_operations: bool) -> DescribedGroup {
        let inner = self.lock();
        let served = self.serving(&inner, group_id);
        let mut d = DescribedGroup {
            error_code: ErrorCode::None.code(),
            group_id: group_id.to_string(),
            group_state: "Dead".into(),
            protocol_type: String::new(),
            protocol_data: String::new(),
            members: Vec::new(),
            // READ, DELETE and DESCRIBE: there is no authorizer.
            authorized_operations: if include_operations {
                (1 << 3) | (1 << 6) | (1 << 8)
            } else {
                i32::MIN
            },
        };
        if let Err(e) = served {
            d.error_code = e.code();
            d.group_state = String::new();
            return d;
        }
        let Some(g) = inner.groups.get(group_id) else {
            return d;
        };
        d.group_state = g.state.name().into();
        d.protocol_type = g.protocol_type.clone().unwrap_or_default();
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        if stable {
            d.protocol_data = protocol.clone();
        }
        d.members = g
            .members
            .values()
            .map(|m| DescribedGroupMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                member_metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Bytes::new()
                },
                member_assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        d
    }

    /// ListGroups: the groups coordinated here, filtered by state names
    /// (case-insensitive) when any are given. The error is COORDINATOR_LOAD_IN_PROGRESS
    /// while a led partition is loading (its groups are not listed yet), as Kafka answers.
    pub fn list(&self, states: &[String]) -> (ErrorCode, Vec<ListedGroup>) {
        let inner = self.lock();
        if inner.stopped {
            return (ErrorCode::CoordinatorNotAvailable, Vec::new());
        }
        let error = if self.ownership().led.values().all(|l| l.loaded) {
            ErrorCode::None
        } else {
            ErrorCode::CoordinatorLoadInProgress
        };
        let groups = inner
            .groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                group_state: g.state.name().into(),
                group_type: "classic".into(),
            })
            .collect();
        (error, groups)
    }

    /// DeleteGroups for one group: only an Empty group can go; its offsets and metadata
    /// get tombstones.
    pub fn delete_group(&self, group_id: &str) -> ErrorCode {
        let mut inner = self.lock();
        if let Err(e) = self.serving(&inner, group_id) {
            return e;
        }
        let Some(group) = inner.groups.get(group_id) else {
            return ErrorCode::GroupIdNotFound;
        };
        if group.state != GroupState::Empty {
            return ErrorCode::NonEmptyGroup;
        }
        let mut entries: Vec<Entry> = group
            .offsets
            .keys()
            .map(|(t, p)| (offset_key(group_id, t, *p), None))
            .collect();
        entries.push((encode_group_key(group_id), None));
        // As Kafka, the tombstones are appended and not waited for.
        match self.persist(group_id, &entries) {
            Ok(_) => {
                inner.groups.remove(group_id);
                ErrorCode::None
            }
            Err(e) => {
                tracing::warn!(group = group_id, error = ?e, "deleting a group");
                e
            }
        }
    }

    /// OffsetDelete: removes committed offsets of partitions the group does not consume
    /// (any, if it is Empty). The outer error, then one code per partition in order.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> (ErrorCode, Vec<ErrorCode>) {
        let mut inner = self.lock();
        if let Err(e) = self.serving(&inner, group_id) {
            return (e, Vec::new());
        }
        let Some(group) = inner.groups.get_mut(group_id) else {
            return (ErrorCode::GroupIdNotFound, Vec::new());
        };
        let subscribed: Option<Vec<String>> = if group.state == GroupState::Empty {
            Some(Vec::new())
        } else if group.protocol_type.as_deref() == Some("consumer") {
            let protocol = group.protocol.clone().unwrap_or_default();
            let mut topics = Vec::new();
            for m in group.members.values() {
                topics.extend(subscription_topics(&m.metadata(&protocol)).unwrap_or_default());
            }
            Some(topics)
        } else {
            None
        };
        let Some(subscribed) = subscribed else {
            return (ErrorCode::NonEmptyGroup, Vec::new());
        };
        let mut codes = Vec::new();
        let mut entries = Vec::new();
        let mut gone = Vec::new();
        for (t, p) in partitions {
            if subscribed.contains(t) {
                codes.push(ErrorCode::GroupSubscribedToTopic);
            } else if self.topics.get(t).is_none() {
                codes.push(ErrorCode::UnknownTopicOrPartition);
            } else {
                codes.push(ErrorCode::None);
                if group.offsets.contains_key(&(t.clone(), *p)) {
                    entries.push((offset_key(group_id, t, *p), None));
                    gone.push((t.clone(), *p));
                }
            }
        }
        match self.persist(group_id, &entries) {
            Ok(_) => {
                for tp in gone {
                    group.offsets.remove(&tp);
                }
                (ErrorCode::None, codes)
            }
            Err(e) => {
                tracing::warn!(group = group_id, error = ?e, "deleting offsets");
                (e, Vec::new())
            }
        }
    }

    // ---- Timers ---------------------------------------------------------------------

    /// Runs every deadline that has passed; returns when the next one falls due.
    fn tick(&self, inner: &mut Inner, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut soonest = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for group in inner.groups.values_mut() {
            let before = group.pending.len();
            group.pending.retain(|_, deadline| *deadline > now);
            let mut changed = group.pending.len() != before;
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| !m.awaiting() && m.session_deadline <= now)
                .map(|m| m.id.clone())
                .collect();
            for id in &expired {
                tracing::info!(group = %group.id, member = %id, "session expired");
                remove_member_entry(group, id);
                changed = true;
            }
            if !expired.is_empty() {
                self.members_changed(group, now);
            } else if changed {
                self.maybe_complete_join(group, now);
            }
            if group.state == GroupState::PreparingRebalance
                && group.rebalance_deadline.is_some_and(|d| d <= now)
            {
                self.complete_join(group, now);
            }
            if group.state == GroupState::CompletingRebalance
                && group.sync_deadline.is_some_and(|d| d <= now)
            {
                let lagging: Vec<String> = group
                    .members
                    .values()
                    .filter(|m| m.sync_waiter.is_none())
                    .map(|m| m.id.clone())
                    .collect();
                for id in lagging {
                    remove_member_entry(group, &id);
                }
                self.prepare_rebalance(group, now);
            }
            for d in group.pending.values() {
                soonest(*d);
            }
            for m in group.members.values().filter(|m| !m.awaiting()) {
                soonest(m.session_deadline);
            }
            if let Some(d) = group.rebalance_deadline {
                soonest(d);
            }
            if let Some(d) = group.sync_deadline {
                soonest(d);
            }
        }
        if inner.next_retention_check <= now {
            inner.next_retention_check = now + self.config.offsets_retention_check;
            self.expire_offsets(inner);
        }
        soonest(inner.next_retention_check);
        next
    }

    /// Deletes the offsets of groups that have been Empty for `offsets.retention.ms` (by
    /// commit time for groups that never had members), and offsets past an explicit
    /// expiry; a group left with nothing is removed.
    fn expire_offsets(&self, inner: &mut Inner) {
        let now = now_ms();
        let retention = self.config.offsets_retention.as_millis() as i64;
        let mut writes: Vec<(String, Vec<Entry>)> = Vec::new();
        for g in inner.groups.values_mut() {
            let mut gone = Vec::new();
            for ((t, p), c) in &g.offsets {
                let expired = match c.expire_timestamp {
                    Some(at) => at <= now,
                    None if g.state == GroupState::Empty => {
                        let base = if g.protocol_type.is_some() {
                            g.state_timestamp.max(c.commit_timestamp)
                        } else {
                            c.commit_timestamp
                        };
                        base.saturating_add(retention) <= now
                    }
                    None => false,
                };
                if expired {
                    gone.push((t.clone(), *p));
                }
            }
            let mut entries: Vec<Entry> = gone
                .iter()
                .map(|(t, p)| (offset_key(&g.id, t, *p), None))
                .collect();
            for tp in &gone {
                g.offsets.remove(tp);
            }
            if g.state == GroupState::Empty
                && g.offsets.is_empty()
                && g.pending.is_empty()
                && g.pending_commits == 0
                && (!entries.is_empty() || g.generation > 0)
            {
                // Nothing left: the group goes, as Kafka's Dead groups do.
                entries.push((encode_group_key(&g.id), None));
            }
            if !entries.is_empty() {
                tracing::info!(group = %g.id, offsets = gone.len(), "offsets expired");
                writes.push((g.id.clone(), entries));
            }
        }
        for (id, entries) in writes {
            if let Err(e) = self.persist(&id, &entries) {
                tracing::warn!(group = %id, error = ?e, "writing expired offsets");
            }
            let remove = inner.groups.get(&id).is_some_and(|g| {
                g.state == GroupState::Empty
                    && g.offsets.is_empty()
                    && g.pending.is_empty()
                    && g.pending_commits == 0
            });
            if remove {
                inner.groups.remove(&id);
            }
        }
    }
}

fn timer_loop(weak: std::sync::Weak<GroupCoordinator>) {
    // Wake at least this often, so a dropped coordinator ends the thread.
    const MAX_SLEEP: Duration = Duration::from_millis(500);
    loop {
        let Some(c) = weak.upgrade() else {
            return;
        };
        let mut inner = c.lock();
        if inner.stopped {
            return;
        }
        let now = Instant::now();
        let next = c.tick(&mut inner, now);
        let sleep = next.map_or(MAX_SLEEP, |n| {
            n.saturating_duration_since(now).min(MAX_SLEEP)
        });
        let (guard, _) = c
            .wake
            .wait_timeout(inner, sleep.max(Duration::from_millis(1)))
            .unwrap_or_else(|e| e.into_inner());
        drop(guard);
    }
}

/// Replicated commits become the group's offsets, unless a later commit already did.
fn apply_commits(group: &mut Group, accepted: Vec<((String, i32), Committed)>) {
    for (tp, c) in accepted {
        match group.offsets.get(&tp) {
            Some(old) if old.record_offset > c.record_offset => {}
            _ => {
                group.offsets.insert(tp, c);
            }
        }
    }
}

/// A SyncGroup answer carrying `assignment`.
fn sync_answer(group: &Group, assignment: Bytes) -> SyncGroupResponse {
    SyncGroupResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None.code(),
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol.clone(),
        assignment,
    }
}

/// The leader's assignment is durable: the group is Stable and every waiting member gets
/// its share.
fn complete_sync(group: &mut Group) {
    group.state = GroupState::Stable;
    group.state_timestamp = now_ms();
    group.sync_deadline = None;
    group.storing = false;
    let answers: Vec<(String, SyncGroupResponse)> = group
        .members
        .values()
        .map(|m| (m.id.clone(), sync_answer(group, m.assignment.clone())))
        .collect();
    for (id, answer) in answers {
        if let Some(tx) = group
            .members
            .get_mut(&id)
            .and_then(|m| m.sync_waiter.take())
        {
            let _ = tx.send(answer);
        }
    }
}

fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    OffsetKey {
        group: group.to_string(),
        topic: topic.to_string(),
        partition,
    }
    .encode()
}

/// Checks that `member_id` is a member (and, for a static member, the current one).
fn check_member(
    group: &Group,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<(), ErrorCode> {
    if let Some(instance) = instance_id {
        if let Some(known) = group.static_members.get(instance) {
            if known != member_id {
                return Err(ErrorCode::FencedInstanceId);
            }
        }
    }
    if !group.members.contains_key(member_id) {
        return Err(ErrorCode::UnknownMemberId);
    }
    Ok(())
}

/// Removes a member and its static mapping; the caller handles the group's state.
fn remove_member_entry(group: &mut Group, id: &str) -> Option<Member> {
    let m = group.members.remove(id)?;
    if let Some(instance) = &m.instance_id {
        if group.static_members.get(instance).map(String::as_str) == Some(id) {
            group.static_members.remove(instance);
        }
    }
    if group.leader.as_deref() == Some(id) {
        group.leader = None;
    }
    Some(m)
}

fn member_result(m: &MemberIdentity, e: ErrorCode) -> MemberResponse {
    MemberResponse {
        member_id: m.member_id.clone(),
        group_instance_id: m.group_instance_id.clone(),
        error_code: e.code(),
    }
}

#[cfg(test)]
mod tests;
