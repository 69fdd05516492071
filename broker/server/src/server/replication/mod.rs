//! Replication, as Kafka's replica manager does it. The metadata image says which
//! partitions this broker holds and who leads each; [`ReplicaManager::reconcile`] makes the
//! local logs and roles match it after every metadata change:
//!
//! - **Leaders** track each follower's log end offset (the fetch offset of its last
//!   fetch) and when it last caught up. The high watermark is the smallest log end offset
//!   in the ISR; it only moves forward. A follower that has not caught up for
//!   `replica.lag.time.max.ms` leaves the ISR, and one that fetches at or past the high
//!   watermark joins it again, both through the controller (AlterPartition, checked
//!   against the partition epoch). `acks=all` waits for the high watermark to pass the
//!   batch ([`ReplicaManager::wait_replicated`]).
//! - **Followers** fetch from their leader ([`fetcher`]), keep the leader's offsets
//!   (`Log::append_as_follower`) and take the leader's high watermark. After every leader
//!   change a follower first asks the new leader for the end offset of its latest epoch
//!   (OffsetForLeaderEpoch) and truncates a divergent tail.
//!
//! Each partition directory holds `partition.metadata` with its topic id, so a topic that
//! was deleted and created again never reuses the old data.

pub mod client;
pub mod fetcher;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::controller::image::{ClusterImage, MetadataCommand, PartitionState, NO_LEADER};
use super::controller::Controller;
use super::errors::ErrorCode;
use super::topics::{TopicMeta, Topics};
use crate::log::{Log, LogManager, TopicPartition};

/// Settings of replication.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// `replica.lag.time.max.ms`: a follower that has not caught up for this long leaves
    /// the ISR. Default 30 s, as Kafka.
    pub replica_lag_time_max: Duration,
    /// `replica.fetch.wait.max.ms`. Default 500 ms.
    pub fetch_wait_max: Duration,
    /// `replica.fetch.max.bytes` per partition. Default 1 MiB.
    pub fetch_max_bytes_per_partition: i32,
    /// `replica.fetch.response.max.bytes`. Default 10 MiB.
    pub fetch_response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`. Default 1 s (Kafka's); Brook uses 100 ms by default.
    pub fetch_backoff: Duration,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            replica_lag_time_max: Duration::from_secs(30),
            fetch_wait_max: Duration::from_millis(500),
            fetch_max_bytes_per_partition: 1 << 20,
            fetch_response_max_bytes: 10 << 20,
            fetch_backoff: Duration::from_millis(100),
        }
    }
}

/// What the leader knows of one follower.
#[derive(Debug, Clone)]
struct FollowerState {
    log_end_offset: i64,
    last_caught_up: Instant,
}

/// One local replica's role, from the metadata image plus what the leader tracks.
#[derive(Debug)]
struct Role {
    state: PartitionState,
    followers: HashMap<i32, FollowerState>,
    /// An AlterPartition is in flight: no second one until it is answered.
    altering: bool,
}

/// A partition this broker holds a replica of.
#[derive(Debug)]
pub struct Replica {
    pub tp: TopicPartition,
    pub log: Log,
    role: Mutex<Role>,
}

/// A partition led here, as [`ReplicaManager::leading`] found it.
#[derive(Debug)]
pub struct Leading {
    pub log: Log,
    pub epoch: i32,
    pub isr_len: usize,
    replica: Arc<Replica>,
}

impl Leading {
    /// After an append as leader: the high watermark may move (with an ISR of one it
    /// does at once).
    pub fn appended(&self, manager: &ReplicaManager) {
        manager.advance_hw(&self.replica);
    }
}

/// Why a produce or fetch may not be served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotServed {
    UnknownPartition,
    NotLeader,
    FencedEpoch,
    UnknownEpoch,
}

impl NotServed {
    pub fn code(self) -> ErrorCode {
        match self {
            NotServed::UnknownPartition => ErrorCode::UnknownTopicOrPartition,
            NotServed::NotLeader => ErrorCode::NotLeaderOrFollower,
            NotServed::FencedEpoch => ErrorCode::FencedLeaderEpoch,
            NotServed::UnknownEpoch => ErrorCode::UnknownLeaderEpoch,
        }
    }
}

/// Told the partitions this broker leads after every reconcile.
type LeadershipListener = Box<dyn Fn(&HashSet<TopicPartition>) + Send + Sync>;

/// The replicas of this broker.
pub struct ReplicaManager {
    node_id: i32,
    config: ReplicationConfig,
    logs: Arc<LogManager>,
    topics: Arc<Topics>,
    controller: Arc<Controller>,
    replicas: RwLock<HashMap<TopicPartition, Arc<Replica>>>,
    /// Woken when a high watermark moves or a leadership changes.
    hw_changed: Arc<Notify>,
    /// Woken with it: fetches waiting for data (the listener's `appended`).
    appended: Arc<Notify>,
    fetchers: Mutex<fetcher::Fetchers>,
    /// Set once this broker has caught up with the metadata log (its registration is
    /// applied); before, replicas are not touched, so replaying the log cannot delete or
    /// reassign anything.
    active: std::sync::atomic::AtomicBool,
    /// Called after each reconcile with the partitions this broker leads.
    leadership_listeners: Mutex<Vec<LeadershipListener>>,
    /// One reconcile at a time.
    reconciling: Mutex<()>,
}

impl std::fmt::Debug for ReplicaManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaManager")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

const PARTITION_METADATA: &str = "partition.metadata";

fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

impl ReplicaManager {
    pub fn new(
        node_id: i32,
        config: ReplicationConfig,
        logs: Arc<LogManager>,
        topics: Arc<Topics>,
        controller: Arc<Controller>,
        appended: Arc<Notify>,
    ) -> Arc<ReplicaManager> {
        Arc::new(ReplicaManager {
            node_id,
            config,
            logs,
            topics,
            controller,
            replicas: RwLock::new(HashMap::new()),
            hw_changed: Arc::new(Notify::new()),
            appended,
            fetchers: Mutex::new(fetcher::Fetchers::default()),
            active: std::sync::atomic::AtomicBool::new(false),
            leadership_listeners: Mutex::new(Vec::new()),
            reconciling: Mutex::new(()),
        })
    }

    pub fn controller(&self) -> &Arc<Controller> {
        &self.controller
    }

    /// Registers a callback run after every reconcile with the partitions led here (the
    /// group coordinator follows `__consumer_offsets` leadership with it).
    pub fn on_leadership(&self, f: impl Fn(&HashSet<TopicPartition>) + Send + Sync + 'static) {
        self.leadership_listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    /// Starts following the metadata: reconciles now and after every applied change, and
    /// runs the leader's ISR checks.
    pub fn start(self: &Arc<Self>) {
        self.active.store(true, std::sync::atomic::Ordering::SeqCst);
        self.reconcile();
        let weak = Arc::downgrade(self);
        let mut changes = self.controller.view().subscribe();
        self.controller.runtime().spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(this) = weak.upgrade() else { return };
                // Reconciling touches files: off the async workers.
                let _ = tokio::task::spawn_blocking(move || this.reconcile()).await;
            }
        });
        let weak = Arc::downgrade(self);
        let period = (self.config.replica_lag_time_max / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(5));
        self.controller.runtime().spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(this) = weak.upgrade() else { return };
                this.shrink_isrs();
            }
        });
    }

    /// Stops the fetchers (the logs are closed by their manager).
    pub fn stop(&self) {
        self.active
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.fetchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stop_all();
    }

    pub fn replica(&self, tp: &TopicPartition) -> Option<Arc<Replica>> {
        self.replicas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tp)
            .cloned()
    }

    /// The log of a partition this broker leads, checked against the client's view of the
    /// leader epoch (`-1`: unchecked).
    pub fn leader_log(&self, tp: &TopicPartition, epoch: i32) -> Result<(Log, i32), NotServed> {
        self.leading(tp, epoch).map(|l| (l.log, l.epoch))
    }

    /// [`leader_log`](Self::leader_log) for a writer: one lookup gives the log, the epoch,
    /// the ISR size (for `min.insync.replicas`) and what [`Leading::appended`] needs.
    pub fn leading(&self, tp: &TopicPartition, epoch: i32) -> Result<Leading, NotServed> {
        let r = self.replica(tp).ok_or(NotServed::UnknownPartition)?;
        let role = r.role.lock().unwrap_or_else(|e| e.into_inner());
        if role.state.leader != self.node_id {
            return Err(NotServed::NotLeader);
        }
        check_epoch(role.state.leader_epoch, epoch)?;
        let (epoch, isr_len) = (role.state.leader_epoch, role.state.isr.len());
        drop(role);
        // The applied metadata may have moved the leadership already, before `reconcile`
        // updated the role: from then on this node takes no more writes.
        let image = self.controller.view().image();
        if image
            .partition(&tp.topic, tp.partition)
            .is_none_or(|p| p.leader != self.node_id)
        {
            return Err(NotServed::NotLeader);
        }
        Ok(Leading {
            log: r.log.clone(),
            epoch,
            isr_len,
            replica: r,
        })
    }

    /// Waits until the high watermark of `tp` passes `offset` (acks=all), at most `timeout`.
    pub async fn wait_replicated(
        &self,
        tp: &TopicPartition,
        offset: i64,
        min_isr: usize,
        timeout: Duration,
    ) -> ErrorCode {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.hw_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let Some(r) = self.replica(tp) else {
                return ErrorCode::NotLeaderOrFollower;
            };
            {
                let role = r.role.lock().unwrap_or_else(|e| e.into_inner());
                if role.state.leader != self.node_id {
                    return ErrorCode::NotLeaderOrFollower;
                }
                if r.log.high_watermark() > offset {
                    return if role.state.isr.len() < min_isr {
                        ErrorCode::NotEnoughReplicasAfterAppend
                    } else {
                        ErrorCode::None
                    };
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return ErrorCode::RequestTimedOut;
            }
        }
    }

    /// A follower fetched `tp` at `fetch_offset` (its log end offset).
    pub fn on_follower_fetch(
        self: &Arc<Self>,
        tp: &TopicPartition,
        follower: i32,
        fetch_offset: i64,
        epoch: i32,
    ) -> Result<Log, NotServed> {
        let r = self.replica(tp).ok_or(NotServed::UnknownPartition)?;
        let mut expand = None;
        {
            let mut role = r.role.lock().unwrap_or_else(|e| e.into_inner());
            if role.state.leader != self.node_id {
                return Err(NotServed::NotLeader);
            }
            check_epoch(role.state.leader_epoch, epoch)?;
            if !role.state.replicas.contains(&follower) {
                return Err(NotServed::UnknownPartition);
            }
            let leo = r.log.log_end_offset();
            let now = Instant::now();
            let f = role.followers.entry(follower).or_insert(FollowerState {
                log_end_offset: fetch_offset,
                last_caught_up: now,
            });
            f.log_end_offset = fetch_offset;
            if fetch_offset >= leo {
                f.last_caught_up = now;
            }
            if !role.state.isr.contains(&follower)
                && !role.altering
                && fetch_offset >= r.log.high_watermark()
                && fetch_offset >= leo.min(self.epoch_start(&r.log))
            {
                let mut isr = role.state.isr.clone();
                isr.push(follower);
                role.altering = true;
                expand = Some((role.state.clone(), isr));
            }
        }
        self.advance_hw(&r);
        if let Some((state, isr)) = expand {
            tracing::info!(%tp, follower, "follower caught up: joining the ISR");
            self.alter_isr(r.clone(), state, isr);
        }
        Ok(r.log.clone())
    }

    /// The start offset of the leader's current epoch (a follower must reach it to join).
    fn epoch_start(&self, log: &Log) -> i64 {
        log.epoch_entries().last().map_or(0, |(_, start)| *start)
    }

    fn advance_hw(&self, r: &Replica) {
        let role = r.role.lock().unwrap_or_else(|e| e.into_inner());
        if role.state.leader != self.node_id {
            return;
        }
        let mut hw = r.log.log_end_offset();
        for id in &role.state.isr {
            if *id == self.node_id {
                continue;
            }
            match role.followers.get(id) {
                Some(f) => hw = hw.min(f.log_end_offset),
                // Not heard from since this broker became leader.
                None => return,
            }
        }
        if hw > r.log.high_watermark() {
            r.log.set_high_watermark(hw);
            drop(role);
            self.hw_changed.notify_waiters();
            self.appended.notify_waiters();
        }
    }

    /// Leaders drop followers that have not caught up within `replica.lag.time.max.ms`.
    fn shrink_isrs(self: &Arc<Self>) {
        let replicas: Vec<Arc<Replica>> = self
            .replicas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let now = Instant::now();
        for r in replicas {
            let shrink = {
                let mut role = r.role.lock().unwrap_or_else(|e| e.into_inner());
                if role.state.leader != self.node_id || role.altering {
                    continue;
                }
                let leo = r.log.log_end_offset();
                let lagging: Vec<i32> = role
                    .state
                    .isr
                    .iter()
                    .copied()
                    .filter(|id| *id != self.node_id)
                    .filter(|id| match role.followers.get(id) {
                        Some(f) => {
                            f.log_end_offset < leo
                                && now.duration_since(f.last_caught_up)
                                    > self.config.replica_lag_time_max
                        }
                        None => false,
                    })
                    .collect();
                if lagging.is_empty() {
                    continue;
                }
                role.altering = true;
                let isr: Vec<i32> = role
                    .state
                    .isr
                    .iter()
                    .copied()
                    .filter(|id| !lagging.contains(id))
                    .collect();
                tracing::warn!(tp = %r.tp, ?lagging, "followers lag: leaving the ISR");
                (role.state.clone(), isr)
            };
            self.alter_isr(r, shrink.0, shrink.1);
        }
    }

    fn alter_isr(self: &Arc<Self>, r: Arc<Replica>, state: PartitionState, isr: Vec<i32>) {
        let command = MetadataCommand::AlterPartition {
            topic: r.tp.topic.clone(),
            partition: r.tp.partition,
            leader: state.leader,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            isr,
        };
        let controller = self.controller.clone();
        let this = self.clone();
        self.controller.runtime().spawn(async move {
            let result = controller.propose(command).await;
            if let Err(e) = &result {
                tracing::warn!(tp = %r.tp, error = %e, "AlterPartition failed");
            }
            r.role.lock().unwrap_or_else(|e| e.into_inner()).altering = false;
            // The applied image carries the new ISR; reconcile picks it up.
            let _ = tokio::task::spawn_blocking(move || this.reconcile()).await;
        });
    }

    /// Makes local replicas match the latest metadata image.
    pub fn reconcile(self: &Arc<Self>) {
        if !self.active.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let _one = self.reconciling.lock().unwrap_or_else(|e| e.into_inner());
        let image = self.controller.view().image();
        self.topics.replace_all(
            image
                .topics
                .values()
                .map(|t| TopicMeta {
                    name: t.name.clone(),
                    id: t.id,
                    partitions: t.partitions.len() as i32,
                    configs: t.configs.clone(),
                })
                .collect(),
        );
        let mut wanted: HashMap<TopicPartition, ([u8; 16], PartitionState)> = HashMap::new();
        for t in image.topics.values() {
            for (i, p) in t.partitions.iter().enumerate() {
                if p.replicas.contains(&self.node_id) {
                    wanted.insert(
                        TopicPartition::new(t.name.clone(), i as i32),
                        (t.id, p.clone()),
                    );
                }
            }
        }
        // Replicas no longer wanted: stop following, delete the log.
        let gone: Vec<TopicPartition> = self
            .replicas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .filter(|tp| !wanted.contains_key(*tp))
            .cloned()
            .collect();
        for tp in gone {
            self.fetchers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&tp);
            self.replicas
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&tp);
            if let Err(e) = self.logs.delete(&tp) {
                tracing::warn!(%tp, error = %e, "deleting a replica failed");
            }
        }
        let mut led = HashSet::new();
        for (tp, (topic_id, state)) in wanted {
            let configs = image
                .topics
                .get(&tp.topic)
                .map(|t| t.configs.clone())
                .unwrap_or_default();
            let replica = match self.ensure_replica(&tp, topic_id, &configs) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(%tp, error = %e, "cannot open the replica's log");
                    continue;
                }
            };
            if state.leader == self.node_id {
                led.insert(tp.clone());
            }
            self.apply_role(&image, &replica, state);
        }
        self.hw_changed.notify_waiters();
        self.appended.notify_waiters();
        let listeners = self
            .leadership_listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for l in listeners.iter() {
            l(&led);
        }
    }

    fn ensure_replica(
        &self,
        tp: &TopicPartition,
        topic_id: [u8; 16],
        configs: &BTreeMap<String, String>,
    ) -> Result<Arc<Replica>, String> {
        let config = self.topics.log_config(configs).map_err(|e| e.message)?;
        if let Some(r) = self.replica(tp) {
            r.log.set_config(config);
            return Ok(r);
        }
        let dir = self.logs.data_dir().join(tp.dir_name());
        let marker = dir.join(PARTITION_METADATA);
        let want = format!("version: 0\ntopic_id: {}\n", hex(&topic_id));
        if dir.exists() {
            let found = std::fs::read_to_string(&marker).ok();
            // A directory without a marker predates replication: it is this topic's.
            if found.as_deref().is_some_and(|f| f != want) {
                tracing::warn!(%tp, "a log of an older topic with this name: deleting it");
                self.logs.delete(tp).map_err(|e| e.to_string())?;
            }
        }
        let log = self
            .logs
            .get_or_create(tp, config)
            .map_err(|e| e.to_string())?;
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) {
            crate::log::Storage::write_file_atomic(
                &crate::log::OsStorage,
                &marker,
                want.as_bytes(),
            )
            .map_err(|e| format!("{}: {e}", marker.display()))?;
        }
        let r = Arc::new(Replica {
            tp: tp.clone(),
            log,
            role: Mutex::new(Role {
                state: PartitionState {
                    replicas: vec![],
                    isr: vec![],
                    leader: NO_LEADER,
                    leader_epoch: -1,
                    partition_epoch: -1,
                },
                followers: HashMap::new(),
                altering: false,
            }),
        });
        self.replicas
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tp.clone(), r.clone());
        Ok(r)
    }

    fn apply_role(self: &Arc<Self>, image: &ClusterImage, r: &Arc<Replica>, state: PartitionState) {
        let mut role = r.role.lock().unwrap_or_else(|e| e.into_inner());
        let new_epoch =
            state.leader_epoch != role.state.leader_epoch || state.leader != role.state.leader;
        if !new_epoch && state.partition_epoch == role.state.partition_epoch {
            return;
        }
        let was_leader = role.state.leader == self.node_id;
        role.state = state.clone();
        if state.leader == self.node_id {
            if new_epoch || !was_leader {
                tracing::info!(tp = %r.tp, epoch = state.leader_epoch, "leading");
                role.followers.clear();
                drop(role);
                self.fetchers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&r.tp);
                // The new epoch starts at this log's end (Kafka's epoch start offset).
                if let Err(e) = r.log.assign_leader_epoch(state.leader_epoch) {
                    tracing::error!(tp = %r.tp, error = %e, "recording the leader epoch failed");
                }
            } else {
                drop(role);
            }
            self.advance_hw(r);
            return;
        }
        drop(role);
        if !new_epoch {
            // Only the ISR moved: the fetcher goes on as it is.
            return;
        }
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        fetchers.remove(&r.tp);
        if state.leader == NO_LEADER {
            return;
        }
        if let Some(leader) = image.brokers.get(&state.leader) {
            fetchers.add(
                self,
                state.leader,
                format!("{}:{}", leader.host, leader.port),
                r.clone(),
                state.leader_epoch,
            );
        }
    }
}

fn check_epoch(ours: i32, theirs: i32) -> Result<(), NotServed> {
    if theirs < 0 || theirs == ours {
        Ok(())
    } else if theirs < ours {
        Err(NotServed::FencedEpoch)
    } else {
        Err(NotServed::UnknownEpoch)
    }
}
