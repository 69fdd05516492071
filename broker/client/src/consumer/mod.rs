//! [`Consumer`]: Kafka's consumer over a [`Cluster`]: in a consumer group with
//! [`subscribe`](Consumer::subscribe) / [`subscribe_pattern`](Consumer::subscribe_pattern)
//! (the classic group protocol, [`group`]), or on partitions the application picks with
//! [`assign`](Consumer::assign).
//!
//! Each [`poll`](Consumer::poll) returns up to `max.poll.records` records from the
//! partitions assigned and not paused, in offset order per partition. Fetches go to each
//! partition's leader, one Fetch in flight per node (Fetch v13+ by topic id when the broker
//! speaks it and the metadata has the ids, else up to v12 by topic name). As
//! soon as a poll has records to hand out it sends the next fetch for the nodes with none in
//! flight, so the next batch of records is fetched and decoded while the application
//! processes this one.
//!
//! **Groups.** With a subscription, `poll` also runs the member's side of the group: it
//! joins (in the background, so `poll` keeps its timeout), applies the assignment the
//! leader computed with one of `partition.assignment.strategy`'s assignors ([`assignor`]),
//! calls the [`ConsumerRebalanceListener`] and rejoins when a heartbeat reports a
//! rebalance, when the subscribed topics or their partition counts change (checked every
//! `metadata.max.age.ms`; a pattern subscription picks up new matching topics this way),
//! or after losing its partitions (session expired, fenced, or `max.poll.interval.ms`
//! passed without a poll, in which case the heartbeat task left the group). Under the
//! eager protocol everything is revoked before rejoining; under the cooperative one
//! (every assignor cooperative, i.e. `cooperative-sticky`) the member keeps fetching what
//! it owns during the rebalance, revokes only what moved, and rejoins once more so that the
//! revoked partitions reach their new owner. With `enable.auto.commit` (the default) the
//! positions are committed every `auto.commit.interval.ms` from `poll` (so what the
//! previous polls returned), before partitions are revoked, and at
//! [`close`](Consumer::close), which also leaves the group (static members, with a
//! `group.instance.id`, stay until their session expires, as in Java).
//!
//! Positions: a partition's position is the offset of the next record to return. It starts
//! from the group's committed offset when there is a `group.id` and a commit, else from
//! `auto.offset.reset` (earliest or latest via ListOffsets; `none` makes `poll` fail).
//! OFFSET_OUT_OF_RANGE resets the same way; NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION
//! and the other stale-metadata errors mark the metadata stale, so the next fetch goes to
//! the new leader. Fetched data for a partition whose position changed meanwhile (a seek)
//! is dropped.
//!
//! Record batches are decoded with [`RecordBatch::decode`](brook_protocol::record::RecordBatch)
//! (every codec, CRC32C checked); control batches are skipped, so are records below the
//! position inside a batch, and under `read_committed` the records of aborted transactions.
//! Commits (`commit_sync`, `commit_async`) go to the group coordinator as OffsetCommit, with
//! the member's id and generation in a group; in assign mode with generation -1 and an
//! empty member id, which a coordinator accepts from a client that is not a group member.
//! A commit refused because the generation is over (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
//! REBALANCE_IN_PROGRESS) fails with that error and makes the next `poll` rejoin.
//!
//! ```no_run
//! use std::time::Duration;
//! use brook_client::{Consumer, ConsumerConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ConsumerConfig::new("localhost:9092");
//! config.set("group.id", "billing")?;
//! config.set("auto.offset.reset", "earliest")?;
//! config.set("enable.auto.commit", "false")?;
//! let mut consumer = Consumer::connect(config).await?;
//! consumer.subscribe(&["orders"])?;
//! loop {
//!     let records = consumer.poll(Duration::from_secs(1)).await?;
//!     for record in &records {
//!         println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
//!     }
//!     if !records.is_empty() {
//!         consumer.commit_sync(&consumer.positions()).await?;
//!     }
//! }
//! # }
//! ```

pub mod assignor;
pub mod config;
pub mod group;
pub mod protocol;
mod rebalance;
pub mod record;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use brook_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use brook_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use brook_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use brook_protocol::messages::*;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::admin::{Admin, AdminConfig, OffsetAndMetadata, TopicPartition};
use crate::cluster::Cluster;
use crate::error::{ClientError, ErrorCode, KafkaError};
use crate::tcp::TcpConnector;
use crate::transport::Connector;

pub use config::{ConfigError, ConsumerConfig, IsolationLevel, OffsetReset};
pub use group::{ConsumerRebalanceListener, RebalanceContext};
pub use record::ConsumerRecord;

use assignor::{PartitionAssignor, RebalanceProtocol};
use group::{Joined, Member};

use record::{decode_partition, DecodedRecords};

/// Versions the consumer speaks up to.
mod max {
    /// v13+ names topics by id (from the metadata); v12 is the last by name.
    pub const FETCH: i16 = 17;
    pub const FETCH_BY_NAME: i16 = 12;
    pub const LIST_OFFSETS: i16 = 10;
    /// v9+ is the KIP-848 protocol's.
    pub const OFFSET_COMMIT: i16 = 8;
}

/// How often a call is retried after stale metadata or a moved coordinator.
const RETRIES: u32 = 5;

/// An offset found by timestamp ([`Consumer::offsets_for_times`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    pub offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, Clone, Default)]
struct PartitionState {
    /// The next offset to return; `None` until known.
    position: Option<i64>,
    /// Where to reset to when `position` is `None`: `None` means "committed offset, else
    /// `auto.offset.reset`".
    reset: Option<OffsetReset>,
    paused: bool,
    /// No fetch before this instant (`retry.backoff.ms` after a fetch error).
    backoff_until: Option<Instant>,
}

/// Records fetched for a partition and not yet returned.
#[derive(Debug)]
struct Buffered {
    records: VecDeque<ConsumerRecord>,
    /// The position once every record is returned.
    next_offset: i64,
}

/// The answer of one fetch for one partition.
#[derive(Debug)]
struct PartitionFetch {
    tp: TopicPartition,
    fetch_offset: i64,
    result: Result<DecodedRecords, ClientError>,
}

/// The answer of one fetch to one node.
type FetchOutcome = Result<Vec<PartitionFetch>, ClientError>;

fn not_assigned(tp: &TopicPartition) -> ClientError {
    ClientError::Config {
        key: "assignment",
        reason: format!("{tp} is not assigned to this consumer"),
    }
}

fn no_group() -> ClientError {
    ClientError::Config {
        key: "group.id",
        reason: "committing and reading committed offsets need a group.id".into(),
    }
}

fn out_of_range(tp: &TopicPartition, what: String) -> ClientError {
    ClientError::Kafka(KafkaError::new(
        ErrorCode::OFFSET_OUT_OF_RANGE,
        Some(format!("{tp}: {what} and auto.offset.reset is none")),
    ))
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// The first auto-commit is due one interval after start.
fn config_auto_commit(config: &ConsumerConfig) -> Duration {
    config.auto_commit_interval
}

/// What a consumer subscribes to.
#[derive(Debug, Clone)]
enum Subscribed {
    /// The topics named (kept in the group state's `topics`).
    Topics,
    /// Anchored: the whole topic name must match, as with Java's `Pattern`.
    Pattern(regex::Regex),
}

/// A subscribed consumer's group state.
struct GroupState {
    member: Arc<Member>,
    assignors: Vec<Arc<dyn PartitionAssignor>>,
    protocol: RebalanceProtocol,
    subscribed: Subscribed,
    /// The topics subscribed to now (for a pattern: those that matched at the last check).
    topics: BTreeSet<String>,
    /// In a mutex only so that the consumer stays `Sync` (futures of `&self` methods are
    /// `Send`); it is only ever used from `&mut self`.
    listener: Option<std::sync::Mutex<Box<dyn ConsumerRebalanceListener>>>,
    heartbeat: Option<JoinHandle<()>>,
    joining: Option<JoinHandle<Result<Joined, ClientError>>>,
    /// Why the member must (re)join, if it must.
    rejoin: Option<String>,
    /// The assignment of the last completed join and its generation (-1 before any): the
    /// sticky assignors' memory.
    last_assignment: Vec<TopicPartition>,
    last_generation: i32,
    next_auto_commit: Instant,
    next_metadata_check: Instant,
    /// Partition counts of the member's topics, and for the leader of every member's
    /// topics, as of the last check: a change means a rebalance.
    own_partitions: Option<BTreeMap<String, i32>>,
    group_partitions: BTreeMap<String, i32>,
}

impl std::fmt::Debug for GroupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupState")
            .field("member", &self.member)
            .field("protocol", &self.protocol)
            .field("topics", &self.topics)
            .field("joining", &self.joining.is_some())
            .field("rejoin", &self.rejoin)
            .finish_non_exhaustive()
    }
}

impl Drop for GroupState {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if let Some(h) = self.joining.take() {
            h.abort();
        }
    }
}

/// Kafka's consumer. Not shared between tasks: its methods take `&mut self` as Java's
/// consumer is single-threaded; commits can run concurrently through
/// [`commit_async`](Self::commit_async).
#[derive(Debug)]
pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    admin: Admin,
    parts: BTreeMap<TopicPartition, PartitionState>,
    buffered: BTreeMap<TopicPartition, Buffered>,
    in_flight: JoinSet<(i32, FetchOutcome)>,
    nodes_in_flight: HashSet<i32>,
    /// The node of each fetch task.
    task_nodes: HashMap<tokio::task::Id, i32>,
    /// Nodes not fetched from before an instant (`retry.backoff.ms` after a failed fetch).
    node_backoff: HashMap<i32, Instant>,
    /// Where the next drain starts, for fairness between partitions.
    next_drain: usize,
    /// With a subscription: the group membership.
    group: Option<GroupState>,
    /// `enable.auto.commit` in assign mode: when to commit next.
    next_auto_commit: Instant,
}

impl Consumer {
    /// Connects over TCP to `bootstrap.servers`.
    pub async fn connect(config: ConsumerConfig) -> Result<Consumer, ClientError> {
        let connector: Arc<dyn Connector> = Arc::new(TcpConnector::new(config.tcp()));
        let cluster = Cluster::connect(&config.bootstrap_servers, connector).await?;
        Ok(Consumer::with_cluster(Arc::new(cluster), config))
    }

    /// A consumer over an existing cluster view (any transport; its `request.timeout.ms`
    /// should leave room for `fetch.max.wait.ms`).
    pub fn with_cluster(cluster: Arc<Cluster>, config: ConsumerConfig) -> Consumer {
        let admin = Admin::with_cluster(
            cluster.clone(),
            AdminConfig {
                retry_backoff: config.retry_backoff,
                ..AdminConfig::default()
            },
        );
        Consumer {
            cluster,
            admin,
            parts: BTreeMap::new(),
            buffered: BTreeMap::new(),
            in_flight: JoinSet::new(),
            nodes_in_flight: HashSet::new(),
            task_nodes: HashMap::new(),
            node_backoff: HashMap::new(),
            next_drain: 0,
            group: None,
            next_auto_commit: Instant::now() + config_auto_commit(&config),
            config,
        }
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Replaces the assignment with `partitions`. Partitions that stay keep their position
    /// and pause state; new ones start from the committed offset or `auto.offset.reset`.
    ///
    /// This ends a subscription: the member leaves its group in the background, without
    /// calling the rebalance listener or committing (call [`unsubscribe`](Self::unsubscribe)
    /// first for that).
    pub fn assign(&mut self, partitions: &[TopicPartition]) {
        if let Some(g) = self.group.take() {
            let (cluster, member) = (self.cluster.clone(), g.member.clone());
            drop(g);
            if member.instance_id.is_none() {
                tokio::spawn(async move {
                    if let Err(e) = group::leave(&cluster, &member, "switched to assign").await {
                        tracing::debug!(error = %e, "LeaveGroup failed");
                    }
                });
            }
        }
        self.set_assignment(partitions);
    }

    /// The assignment itself, kept by [`assign`](Self::assign) and by rebalances.
    fn set_assignment(&mut self, partitions: &[TopicPartition]) {
        let new: BTreeSet<&TopicPartition> = partitions.iter().collect();
        self.parts.retain(|tp, _| new.contains(tp));
        self.buffered.retain(|tp, _| new.contains(tp));
        for tp in new {
            self.parts.entry(tp.clone()).or_default();
        }
    }

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.parts.keys().cloned().collect()
    }

    /// Drops the assignment (and any fetched records).
    pub fn unassign(&mut self) {
        self.assign(&[]);
    }

    fn state(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState, ClientError> {
        self.parts.get_mut(tp).ok_or_else(|| not_assigned(tp))
    }

    /// Sets the position of `tp`: the next poll returns records from `offset` on.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), ClientError> {
        if offset < 0 {
            return Err(ClientError::Config {
                key: "offset",
                reason: format!("seek to a negative offset {offset}"),
            });
        }
        let s = self.state(tp)?;
        s.position = Some(offset);
        s.reset = None;
        self.buffered.remove(tp);
        Ok(())
    }

    fn seek_lazily(&mut self, tps: &[TopicPartition], to: OffsetReset) -> Result<(), ClientError> {
        for tp in tps {
            let s = self.state(tp)?;
            s.position = None;
            s.reset = Some(to);
            self.buffered.remove(tp);
        }
        Ok(())
    }

    /// Moves `partitions` to their log start offset (looked up at the next `poll` or
    /// `position`).
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        self.seek_lazily(partitions, OffsetReset::Earliest)
    }

    /// Moves `partitions` to their log end offset (the last stable offset under
    /// `read_committed`), looked up at the next `poll` or `position`.
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        self.seek_lazily(partitions, OffsetReset::Latest)
    }

    /// The offset of the next record `poll` returns for `tp`, looking it up (committed
    /// offset, reset) if not known yet.
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64, ClientError> {
        if self.state(tp)?.position.is_none() {
            self.update_positions().await?;
        }
        self.state(tp)?
            .position
            .ok_or_else(|| ClientError::NoBroker(format!("the position of {tp} is not known yet")))
    }

    /// Stops returning records of `partitions` (fetched ones are kept) until resumed.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        for tp in partitions {
            self.state(tp)?.paused = true;
        }
        Ok(())
    }

    /// Returns records of `partitions` again.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        for tp in partitions {
            self.state(tp)?.paused = false;
        }
        Ok(())
    }

    /// The paused partitions, sorted.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.parts
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// The log start offsets of `partitions`.
    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
        let asked: Vec<_> = partitions.iter().map(|tp| (tp.clone(), -2)).collect();
        Ok(self
            .list_offsets(&asked)
            .await?
            .into_iter()
            .map(|(tp, (o, _))| (tp, o))
            .collect())
    }

    /// The log end offsets of `partitions` (the last stable offsets under
    /// `read_committed`).
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
        let asked: Vec<_> = partitions.iter().map(|tp| (tp.clone(), -1)).collect();
        Ok(self
            .list_offsets(&asked)
            .await?
            .into_iter()
            .map(|(tp, (o, _))| (tp, o))
            .collect())
    }

    /// For each partition, the earliest offset whose timestamp is at or after the given one
    /// (ms since the epoch), `None` if no record is that recent.
    pub async fn offsets_for_times(
        &self,
        times: &[(TopicPartition, i64)],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>, ClientError> {
        if let Some((tp, t)) = times.iter().find(|(_, t)| *t < 0) {
            return Err(ClientError::Config {
                key: "timestamp",
                reason: format!("negative timestamp {t} for {tp}"),
            });
        }
        Ok(self
            .list_offsets(times)
            .await?
            .into_iter()
            .map(|(tp, (offset, timestamp))| {
                (
                    tp,
                    (offset >= 0).then_some(OffsetAndTimestamp { offset, timestamp }),
                )
            })
            .collect())
    }

    /// ListOffsets at each leader: `(offset, timestamp)` per partition for the timestamp
    /// asked (-2 earliest, -1 latest). Retries after stale metadata.
    async fn list_offsets(
        &self,
        asked: &[(TopicPartition, i64)],
    ) -> Result<BTreeMap<TopicPartition, (i64, i64)>, ClientError> {
        self.list_offsets_with(asked, false).await
    }

    /// [`list_offsets`](Self::list_offsets); `lenient` leaves out the partitions whose
    /// topic or leader is unknown (yet) instead of failing.
    async fn list_offsets_with(
        &self,
        asked: &[(TopicPartition, i64)],
        lenient: bool,
    ) -> Result<BTreeMap<TopicPartition, (i64, i64)>, ClientError> {
        let mut out = BTreeMap::new();
        let mut todo: Vec<(TopicPartition, i64)> = asked.to_vec();
        let mut attempt = 0;
        while !todo.is_empty() {
            let last = attempt >= RETRIES;
            let mut retry = Vec::new();
            let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
            for (tp, ts) in todo.drain(..) {
                match self.cluster.leader(&tp.topic, tp.partition).await {
                    Ok(l) => by_leader.entry(l).or_default().push((tp, ts)),
                    Err(e) if e.is_retriable() && !last && !lenient => retry.push((tp, ts)),
                    Err(e) if lenient => {
                        tracing::debug!(partition = %tp, error = %e, "no leader for ListOffsets");
                    }
                    Err(e) => return Err(e),
                }
            }
            for (leader, parts) in by_leader {
                let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
                for (tp, ts) in &parts {
                    topics
                        .entry(&tp.topic)
                        .or_default()
                        .push(ListOffsetsPartition {
                            partition_index: tp.partition,
                            current_leader_epoch: -1,
                            timestamp: *ts,
                            max_num_offsets: 1,
                        });
                }
                let req = ListOffsetsRequest {
                    replica_id: -1,
                    isolation_level: self.config.isolation_level.id(),
                    topics: topics
                        .into_iter()
                        .map(|(name, partitions)| ListOffsetsTopic {
                            name: name.to_owned(),
                            partitions,
                        })
                        .collect(),
                    timeout_ms: ms(self.config.request_timeout),
                };
                let (version, r) = match self.cluster.call(leader, max::LIST_OFFSETS, req).await {
                    Ok(r) => r,
                    Err(e) if e.is_retriable() && !last => {
                        self.cluster.mark_stale();
                        retry.extend(parts);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let asked: BTreeMap<&TopicPartition, i64> =
                    parts.iter().map(|(tp, ts)| (tp, *ts)).collect();
                for t in r.topics {
                    for p in t.partitions {
                        let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                        let Some(ts) = asked.get(&tp).copied() else {
                            continue;
                        };
                        let code = ErrorCode(p.error_code);
                        if code == ErrorCode::NONE {
                            let offset = if version == 0 {
                                p.old_style_offsets.first().copied().unwrap_or(-1)
                            } else {
                                p.offset
                            };
                            out.insert(tp, (offset, p.timestamp));
                        } else if (code.invalidates_metadata() || code.is_retriable()) && !last {
                            self.cluster.mark_stale();
                            retry.push((tp, ts));
                        } else {
                            return Err(
                                KafkaError::new(code, Some(format!("ListOffsets {tp}"))).into()
                            );
                        }
                    }
                }
            }
            if !retry.is_empty() {
                attempt += 1;
                tokio::time::sleep(self.config.retry_backoff).await;
                self.cluster.mark_stale();
            }
            todo = retry;
        }
        Ok(out)
    }

    /// Gives a position to every assigned partition without one: the committed offset
    /// (with a `group.id`), else `auto.offset.reset` (or the pending seek to the beginning
    /// or end).
    async fn update_positions(&mut self) -> Result<(), ClientError> {
        let missing: Vec<(TopicPartition, Option<OffsetReset>)> = self
            .parts
            .iter()
            .filter(|(_, s)| s.position.is_none())
            .map(|(tp, s)| (tp.clone(), s.reset))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut to_reset: Vec<(TopicPartition, OffsetReset)> = Vec::new();
        let want_committed: Vec<TopicPartition> = missing
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        let committed = match (&self.config.group_id, want_committed.is_empty()) {
            (Some(_), false) => self.committed(&want_committed).await?,
            _ => BTreeMap::new(),
        };
        for (tp, reset) in missing {
            match (reset, committed.get(&tp)) {
                (Some(r), _) => to_reset.push((tp, r)),
                (None, Some(c)) => {
                    if let Some(s) = self.parts.get_mut(&tp) {
                        s.position = Some(c.offset);
                    }
                }
                (None, None) => match self.config.auto_offset_reset {
                    OffsetReset::None => {
                        return Err(out_of_range(&tp, "no committed offset".into()))
                    }
                    r => to_reset.push((tp, r)),
                },
            }
        }
        let asked: Vec<(TopicPartition, i64)> = to_reset
            .into_iter()
            .filter_map(|(tp, r)| match r {
                OffsetReset::Earliest => Some((tp, -2)),
                OffsetReset::Latest => Some((tp, -1)),
                OffsetReset::None => None,
            })
            .collect();
        if asked.is_empty() {
            return Ok(());
        }
        // A topic that does not exist yet (or has no leader) gets its position later.
        let found = self.list_offsets_with(&asked, true).await?;
        for (tp, (offset, _)) in found {
            if let Some(s) = self.parts.get_mut(&tp) {
                if s.position.is_none() && offset >= 0 {
                    s.position = Some(offset);
                    s.reset = None;
                }
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for records and returns at most `max.poll.records` of them
    /// (none if the time runs out). Records of one partition come in offset order.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.group_poll().await?;
            self.maybe_auto_commit();
            self.update_positions().await?;
            while let Some(done) = self.in_flight.try_join_next_with_id() {
                self.complete(done)?;
            }
            let records = self.drain();
            if !records.is_empty() {
                // Prefetch while the application processes these.
                self.send_fetches().await?;
                return Ok(records);
            }
            self.send_fetches().await?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            // Wait for a fetch, the end of a join, or the deadline (or, with nothing in
            // flight, a backoff before looking again).
            let wake = if self.in_flight.is_empty() {
                deadline.min(now + self.config.retry_backoff)
            } else {
                deadline
            };
            let joining = self.group.as_mut().and_then(|g| g.joining.as_mut());
            tokio::select! {
                done = self.in_flight.join_next_with_id(), if !self.in_flight.is_empty() => {
                    if let Some(done) = done {
                        self.complete(done)?;
                    }
                }
                joined = async {
                    match joining {
                        Some(h) => h.await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some(g) = self.group.as_mut() {
                        g.joining = None;
                    }
                    self.complete_join(joined).await?;
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Takes up to `max.poll.records` buffered records of unpaused partitions, advancing
    /// their positions.
    fn drain(&mut self) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        let tps: Vec<TopicPartition> = self.buffered.keys().cloned().collect();
        if tps.is_empty() {
            return out;
        }
        let start = self.next_drain % tps.len();
        self.next_drain = self.next_drain.wrapping_add(1);
        for tp in tps[start..].iter().chain(&tps[..start]) {
            let room = self.config.max_poll_records.saturating_sub(out.len());
            if room == 0 {
                break;
            }
            let Some(state) = self.parts.get_mut(tp) else {
                self.buffered.remove(tp);
                continue;
            };
            if state.paused {
                continue;
            }
            let Some(buf) = self.buffered.get_mut(tp) else {
                continue;
            };
            let n = room.min(buf.records.len());
            out.extend(buf.records.drain(..n));
            if let Some(last) = out.last() {
                state.position = Some(last.offset.saturating_add(1));
            }
            if buf.records.is_empty() {
                state.position = Some(state.position.unwrap_or(0).max(buf.next_offset));
                self.buffered.remove(tp);
            }
        }
        out
    }

    /// Handles a finished fetch: buffers its records, resets out-of-range positions and
    /// marks the metadata stale after leader errors.
    fn complete(
        &mut self,
        done: Result<(tokio::task::Id, (i32, FetchOutcome)), tokio::task::JoinError>,
    ) -> Result<(), ClientError> {
        let (node, outcome) = match done {
            Ok((id, d)) => {
                self.task_nodes.remove(&id);
                d
            }
            Err(e) => {
                // A fetch task panicked: its node is free again.
                if let Some(node) = self.task_nodes.remove(&e.id()) {
                    self.nodes_in_flight.remove(&node);
                }
                return Err(ClientError::Protocol {
                    addr: String::new(),
                    reason: format!("fetch task failed: {e}"),
                });
            }
        };
        self.nodes_in_flight.remove(&node);
        let parts = match outcome {
            Ok(p) => p,
            Err(e) if e.is_retriable() || e.code().is_some_and(|c| c.invalidates_metadata()) => {
                tracing::debug!(node, error = %e, "fetch failed; refreshing metadata");
                self.node_backoff
                    .insert(node, Instant::now() + self.config.retry_backoff);
                self.cluster.mark_stale();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for p in parts {
            let Some(state) = self.parts.get_mut(&p.tp) else {
                continue;
            };
            // Fetched for an old position (a seek meanwhile), or already buffered.
            if state.position != Some(p.fetch_offset) || self.buffered.contains_key(&p.tp) {
                continue;
            }
            match p.result {
                Ok(d) if d.records.is_empty() => {
                    state.position = Some(p.fetch_offset.max(d.next_offset));
                }
                Ok(d) => {
                    self.buffered.insert(
                        p.tp,
                        Buffered {
                            records: d.records.into(),
                            next_offset: d.next_offset,
                        },
                    );
                }
                Err(e) if e.code() == Some(ErrorCode::OFFSET_OUT_OF_RANGE) => {
                    match self.config.auto_offset_reset {
                        OffsetReset::None => {
                            return Err(out_of_range(
                                &p.tp,
                                format!("offset {} is out of range", p.fetch_offset),
                            ))
                        }
                        r => {
                            tracing::info!(
                                partition = %p.tp,
                                offset = p.fetch_offset,
                                "fetch offset out of range; resetting"
                            );
                            state.position = None;
                            state.reset = Some(r);
                        }
                    }
                }
                Err(e)
                    if e.is_retriable() || e.code().is_some_and(|c| c.invalidates_metadata()) =>
                {
                    tracing::debug!(
                        partition = %p.tp,
                        error = %e,
                        "fetch error; refreshing metadata"
                    );
                    state.backoff_until = Some(Instant::now() + self.config.retry_backoff);
                    self.cluster.mark_stale();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends a fetch to every leader of fetchable partitions that has none in flight.
    async fn send_fetches(&mut self) -> Result<(), ClientError> {
        let now = Instant::now();
        let mut by_node: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        let fetchable: Vec<(TopicPartition, i64)> = self
            .parts
            .iter()
            .filter(|(tp, s)| {
                !s.paused
                    && !self.buffered.contains_key(*tp)
                    && s.backoff_until.is_none_or(|t| t <= now)
            })
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), p)))
            .collect();
        for (tp, offset) in fetchable {
            match self.cluster.leader(&tp.topic, tp.partition).await {
                Ok(node)
                    if !self.nodes_in_flight.contains(&node)
                        && self.node_backoff.get(&node).is_none_or(|t| *t <= now) =>
                {
                    by_node.entry(node).or_default().push((tp, offset))
                }
                Ok(_) => {}
                Err(e) => {
                    // Unknown topic or no leader yet: try again at the next poll.
                    tracing::debug!(partition = %tp, error = %e, "no leader to fetch from");
                    self.cluster.mark_stale();
                }
            }
        }
        for (node, parts) in by_node {
            let version = match self.cluster.transport(node).await {
                Ok(t) => t.version_for(FetchRequest::API_KEY, max::FETCH),
                Err(e) => {
                    tracing::debug!(node, error = %e, "cannot reach the leader");
                    self.cluster.mark_stale();
                    continue;
                }
            };
            let mut version = version.ok_or(ClientError::UnsupportedVersion {
                api: "Fetch",
                api_key: FetchRequest::API_KEY,
            })?;
            // Fetch v13+ names topics by id: use it when the metadata has every id.
            let mut ids: BTreeMap<String, Uuid> = BTreeMap::new();
            if version >= 13 {
                for (tp, _) in &parts {
                    if ids.contains_key(&tp.topic) {
                        continue;
                    }
                    match self.cluster.topic(&tp.topic).await {
                        Ok(t) if t.topic_id != Uuid::ZERO => {
                            ids.insert(tp.topic.clone(), t.topic_id);
                        }
                        _ => version = version.min(max::FETCH_BY_NAME),
                    }
                }
            }
            if version < 13 {
                ids.clear();
            }
            let req = self.fetch_request(&parts, &ids);
            let names: BTreeMap<Uuid, String> =
                ids.into_iter().map(|(name, id)| (id, name)).collect();
            let cluster = self.cluster.clone();
            let read_committed = self.config.isolation_level == IsolationLevel::ReadCommitted;
            let max_uncompressed = usize::try_from(self.config.fetch_max_bytes)
                .unwrap_or(usize::MAX)
                .max(64 << 20);
            self.nodes_in_flight.insert(node);
            let handle = self.in_flight.spawn(async move {
                let outcome = fetch(
                    &cluster,
                    node,
                    version,
                    req,
                    parts,
                    names,
                    read_committed,
                    max_uncompressed,
                )
                .await;
                (node, outcome)
            });
            self.task_nodes.insert(handle.id(), node);
        }
        Ok(())
    }

    /// The Fetch for `parts`; by topic id where `ids` has one (v13+), else by name.
    fn fetch_request(
        &self,
        parts: &[(TopicPartition, i64)],
        ids: &BTreeMap<String, Uuid>,
    ) -> FetchRequest {
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, offset) in parts {
            topics.entry(&tp.topic).or_default().push(FetchPartition {
                partition: tp.partition,
                current_leader_epoch: -1,
                fetch_offset: *offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: self.config.max_partition_fetch_bytes,
                ..FetchPartition::default()
            });
        }
        FetchRequest {
            replica_id: -1,
            max_wait_ms: ms(self.config.fetch_max_wait),
            min_bytes: self.config.fetch_min_bytes,
            max_bytes: self.config.fetch_max_bytes,
            isolation_level: self.config.isolation_level.id(),
            session_id: 0,
            session_epoch: -1,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| FetchTopic {
                    topic: name.to_owned(),
                    topic_id: ids.get(name).copied().unwrap_or(Uuid::ZERO),
                    partitions,
                })
                .collect(),
            ..FetchRequest::default()
        }
    }

    /// The offsets the group committed for `partitions` (OffsetFetch); partitions without
    /// a commit are left out.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, ClientError> {
        let group = self.config.group_id.as_deref().ok_or_else(no_group)?;
        self.admin
            .list_consumer_group_offsets(group, Some(partitions))
            .await
    }

    /// Commits `offsets` (the offset of the next record to read, per partition) for the
    /// group and waits for the coordinator's answer.
    ///
    /// In a group the commit carries the member id and generation; if the generation is
    /// over it fails with ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or REBALANCE_IN_PROGRESS
    /// (Java's `CommitFailedException`: the partitions may already be someone else's) and
    /// the next `poll` rejoins.
    pub async fn commit_sync(&self, offsets: &[(TopicPartition, i64)]) -> Result<(), ClientError> {
        let group = self.config.group_id.as_deref().ok_or_else(no_group)?;
        let member = self.commit_identity();
        let r = commit(
            &self.cluster,
            group,
            &member,
            offsets,
            self.config.retry_backoff,
        )
        .await;
        self.note_commit_error(&r);
        r
    }

    /// Commits `offsets` in the background; the handle resolves to the outcome (it may
    /// be dropped).
    pub fn commit_async(
        &self,
        offsets: &[(TopicPartition, i64)],
    ) -> JoinHandle<Result<(), ClientError>> {
        let cluster = self.cluster.clone();
        let group = self.config.group_id.clone();
        let offsets = offsets.to_vec();
        let backoff = self.config.retry_backoff;
        let identity = self.commit_identity();
        let member = self.group.as_ref().map(|g| g.member.clone());
        tokio::spawn(async move {
            let group = group.ok_or_else(no_group)?;
            let r = commit(&cluster, &group, &identity, &offsets, backoff).await;
            if let (Err(e), Some(m)) = (&r, member) {
                if e.code().is_some_and(generation_over) {
                    m.lock().rejoin = true;
                }
            }
            r
        })
    }

    /// The member id, generation and instance id commits carry: the group member's, or
    /// those of a client outside the group (empty, -1) in assign mode.
    fn commit_identity(&self) -> CommitIdentity {
        match &self.group {
            Some(g) => {
                let (member_id, generation) = g.member.identity();
                CommitIdentity {
                    member_id,
                    generation,
                    instance_id: g.member.instance_id.clone(),
                }
            }
            None => CommitIdentity::outside(),
        }
    }

    fn note_commit_error(&self, r: &Result<(), ClientError>) {
        if let (Err(e), Some(g)) = (r, &self.group) {
            if e.code().is_some_and(generation_over) {
                g.member.lock().rejoin = true;
            }
        }
    }

    /// The current positions of every assigned partition that has one, sorted: what to
    /// pass to [`commit_sync`](Self::commit_sync) after processing everything polled.
    pub fn positions(&self) -> Vec<(TopicPartition, i64)> {
        self.parts
            .iter()
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), p)))
            .collect()
    }
}

/// One fetch to `node` at `version`, decoded per partition; `names` maps the topic ids of
/// a v13+ fetch back to names.
#[allow(clippy::too_many_arguments)]
async fn fetch(
    cluster: &Cluster,
    node: i32,
    version: i16,
    req: FetchRequest,
    parts: Vec<(TopicPartition, i64)>,
    names: BTreeMap<Uuid, String>,
    read_committed: bool,
    max_uncompressed: usize,
) -> FetchOutcome {
    let (_, r) = cluster.call(node, version, req).await?;
    KafkaError::check(r.error_code, None)?;
    let offsets: BTreeMap<TopicPartition, i64> = parts.into_iter().collect();
    let mut out = Vec::new();
    for t in r.responses {
        let topic = match names.get(&t.topic_id) {
            Some(name) if t.topic.is_empty() => name.clone(),
            _ => t.topic,
        };
        for p in t.partitions {
            let tp = TopicPartition::new(topic.clone(), p.partition_index);
            let Some(fetch_offset) = offsets.get(&tp).copied() else {
                continue;
            };
            let result = if p.error_code != 0 {
                Err(KafkaError::new(ErrorCode(p.error_code), Some(format!("fetch {tp}"))).into())
            } else {
                let aborted =
                    read_committed.then(|| p.aborted_transactions.clone().unwrap_or_default());
                decode_partition(
                    &tp.topic,
                    tp.partition,
                    fetch_offset,
                    p.records.as_deref().unwrap_or_default(),
                    aborted.as_deref(),
                    max_uncompressed,
                )
                // Not retriable: the same bytes would come again. The error repeats at
                // every poll until the application seeks past the batch.
                .map_err(|e| ClientError::Protocol {
                    addr: format!("node {node}"),
                    reason: format!("corrupt record batch in {tp} at offset {fetch_offset}: {e}"),
                })
            };
            out.push(PartitionFetch {
                tp,
                fetch_offset,
                result,
            });
        }
    }
    Ok(out)
}

/// Who a commit is from.
#[derive(Debug, Clone)]
struct CommitIdentity {
    member_id: String,
    generation: i32,
    instance_id: Option<String>,
}

impl CommitIdentity {
    /// A client outside the group.
    fn outside() -> CommitIdentity {
        CommitIdentity {
            member_id: String::new(),
            generation: -1,
            instance_id: None,
        }
    }
}

/// Whether a commit error means the member's generation is over.
fn generation_over(c: ErrorCode) -> bool {
    c == ErrorCode::ILLEGAL_GENERATION
        || c == ErrorCode::UNKNOWN_MEMBER_ID
        || c == ErrorCode::REBALANCE_IN_PROGRESS
        || c == ErrorCode::FENCED_INSTANCE_ID
}

/// OffsetCommit through the group coordinator, rediscovering it if it moved.
async fn commit(
    cluster: &Cluster,
    group: &str,
    who: &CommitIdentity,
    offsets: &[(TopicPartition, i64)],
    backoff: Duration,
) -> Result<(), ClientError> {
    if offsets.is_empty() {
        return Ok(());
    }
    if let Some((tp, o)) = offsets.iter().find(|(_, o)| *o < 0) {
        return Err(ClientError::Config {
            key: "offset",
            reason: format!("cannot commit negative offset {o} for {tp}"),
        });
    }
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, offset) in offsets {
        by_topic
            .entry(&tp.topic)
            .or_default()
            .push(OffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: *offset,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                committed_metadata: Some(String::new()),
            });
    }
    let req = OffsetCommitRequest {
        group_id: group.to_owned(),
        generation_id_or_member_epoch: who.generation,
        member_id: who.member_id.clone(),
        group_instance_id: who.instance_id.clone(),
        retention_time_ms: -1,
        topics: by_topic
            .into_iter()
            .map(|(name, partitions)| OffsetCommitRequestTopic {
                name: name.to_owned(),
                partitions,
            })
            .collect(),
    };
    let mut attempt = 0;
    loop {
        let last = attempt >= RETRIES;
        let result = match cluster.coordinator(group).await {
            Ok(node) => cluster.call(node, max::OFFSET_COMMIT, req.clone()).await,
            Err(e) => Err(e),
        };
        let error = match result {
            Ok((_, r)) => r
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| (t, p)))
                .find(|(_, p)| p.error_code != 0)
                .map(|(t, p)| {
                    ClientError::Kafka(KafkaError::new(
                        ErrorCode(p.error_code),
                        Some(if generation_over(ErrorCode(p.error_code)) {
                            format!(
                                "commit {}-{}: the group rebalanced, so the partition may \
                                 belong to another member now (generation {} of member {:?} \
                                 is over); poll again to rejoin",
                                t.name, p.partition_index, who.generation, who.member_id
                            )
                        } else {
                            format!("commit {}-{}", t.name, p.partition_index)
                        }),
                    ))
                }),
            Err(e) => Some(e),
        };
        let Some(e) = error else {
            return Ok(());
        };
        let retry = e.is_retriable()
            || e.code().is_some_and(|c| {
                c.invalidates_coordinator() || c == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
            });
        if !retry || last {
            return Err(e);
        }
        attempt += 1;
        cluster.forget_coordinator(group);
        tokio::time::sleep(backoff).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer() -> Consumer {
        let cluster = Cluster::new("127.0.0.1:1", Arc::new(TcpConnector::default())).unwrap();
        Consumer::with_cluster(Arc::new(cluster), ConsumerConfig::default())
    }

    fn is_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send() {
        let mut c = consumer();
        let tp = TopicPartition::new("t", 0);
        is_send(&c.commit_sync(&[]));
        is_send(&c.committed(&[]));
        is_send(&c.end_offsets(&[]));
        is_send(&c.position(&tp));
        is_send(&c.poll(Duration::ZERO));
        is_send(&c.close());
        is_send(&c.unsubscribe());
    }

    #[test]
    fn assignment_pause_and_seek_state() {
        let mut c = consumer();
        let (a, b, x) = (
            TopicPartition::new("t", 0),
            TopicPartition::new("t", 1),
            TopicPartition::new("u", 0),
        );
        c.assign(&[b.clone(), a.clone(), a.clone()]);
        assert_eq!(c.assignment(), vec![a.clone(), b.clone()]);
        c.seek(&a, 5).unwrap();
        c.pause(std::slice::from_ref(&b)).unwrap();
        assert_eq!(c.paused(), vec![b.clone()]);
        assert_eq!(c.positions(), vec![(a.clone(), 5)]);
        assert!(c.seek(&a, -1).is_err());
        assert!(c.seek(&x, 0).is_err());
        assert!(c.pause(std::slice::from_ref(&x)).is_err());
        // Reassigning keeps what stays, drops the rest.
        c.assign(&[a.clone(), x.clone()]);
        assert_eq!(c.assignment(), vec![a.clone(), x.clone()]);
        assert_eq!(c.positions(), vec![(a.clone(), 5)]);
        assert!(c.paused().is_empty());
        c.seek_to_end(std::slice::from_ref(&a)).unwrap();
        assert!(c.positions().is_empty());
        c.unassign();
        assert!(c.assignment().is_empty());
    }

    #[tokio::test]
    async fn commits_need_a_group() {
        let c = consumer();
        let e = c.commit_sync(&[]).await.unwrap_err();
        assert!(e.to_string().contains("group.id"), "{e}");
        let e = c.commit_async(&[]).await.unwrap().unwrap_err();
        assert!(e.to_string().contains("group.id"), "{e}");
    }
}
