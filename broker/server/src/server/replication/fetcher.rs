//! Followers' fetchers: one task per leader broker fetches every partition this broker
//! follows from it, in one Fetch request (v12, `replica_id` set) at a time.
//!
//! A partition added after a leader change is first reconciled with the leader's log:
//! OffsetForLeaderEpoch for the follower's latest epoch gives the leader's end offset of
//! that epoch (or of the largest earlier one it knows), and the follower truncates past
//! it, dropping a tail the old leader never committed. A fetch offset the leader reports
//! out of range truncates to the leader's high watermark (the follower is ahead) or
//! restarts the log at the leader's log start (the follower is behind retention).
//!
//! Appends happen under the fetcher's partition lock, and removing a partition takes the
//! same lock: once [`Fetchers::remove`] returns, no fetched data is appended to that log
//! any more (it may be about to lead).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use brook_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use brook_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use brook_protocol::messages::{
    FetchRequest, OffsetForLeaderEpochRequest, RequestBody, ResponseBody,
};
use bytes::BytesMut;
use tokio::sync::Notify;

use super::client::BrokerConnection;
use super::{Replica, ReplicaManager};
use crate::log::TopicPartition;
use crate::server::errors::ErrorCode;

const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 4;

/// One partition followed.
#[derive(Debug, Clone)]
struct Follow {
    replica: Arc<Replica>,
    epoch: i32,
    /// OffsetForLeaderEpoch is due before the next fetch.
    truncate_first: bool,
    /// After an error the leader's answer is awaited no sooner than this.
    backoff_until: Option<Instant>,
}

#[derive(Debug)]
struct Shared {
    partitions: Mutex<HashMap<TopicPartition, Follow>>,
    wake: Notify,
    stopped: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
struct Fetcher {
    addr: String,
    shared: Arc<Shared>,
}

/// Every fetcher of this broker.
#[derive(Debug, Default)]
pub struct Fetchers {
    by_leader: HashMap<i32, Fetcher>,
    leader_of: HashMap<TopicPartition, i32>,
}

impl Fetchers {
    /// Follows `replica` from `leader` at `addr` from leader epoch `epoch`.
    pub fn add(
        &mut self,
        manager: &Arc<ReplicaManager>,
        leader: i32,
        addr: String,
        replica: Arc<Replica>,
        epoch: i32,
    ) {
        self.remove(&replica.tp);
        if self.by_leader.get(&leader).is_some_and(|f| f.addr != addr) {
            // The leader moved to another address: a fresh fetcher.
            if let Some(old) = self.by_leader.remove(&leader) {
                old.shared
                    .stopped
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                old.shared.wake.notify_one();
                let moved: Vec<_> = old
                    .shared
                    .partitions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .drain()
                    .collect();
                for (tp, _) in &moved {
                    self.leader_of.remove(tp);
                }
            }
        }
        let fetcher = self.by_leader.entry(leader).or_insert_with(|| {
            let shared = Arc::new(Shared {
                partitions: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                stopped: std::sync::atomic::AtomicBool::new(false),
            });
            manager.controller.runtime().spawn(run(
                Arc::downgrade(manager),
                manager.node_id,
                addr.clone(),
                shared.clone(),
            ));
            Fetcher { addr, shared }
        });
        fetcher
            .shared
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                replica.tp.clone(),
                Follow {
                    replica: replica.clone(),
                    epoch,
                    truncate_first: true,
                    backoff_until: None,
                },
            );
        fetcher.shared.wake.notify_one();
        self.leader_of.insert(replica.tp.clone(), leader);
    }

    /// Stops following `tp`. Waits for an append in progress to finish.
    pub fn remove(&mut self, tp: &TopicPartition) {
        let Some(leader) = self.leader_of.remove(tp) else {
            return;
        };
        if let Some(f) = self.by_leader.get(&leader) {
            f.shared
                .partitions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(tp);
        }
    }

    pub fn stop_all(&mut self) {
        for (_, f) in self.by_leader.drain() {
            f.shared
                .stopped
                .store(true, std::sync::atomic::Ordering::SeqCst);
            f.shared.wake.notify_one();
            f.shared
                .partitions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        self.leader_of.clear();
    }
}

/// The length of the whole batches at the start of `records` (a response may end in a
/// partial one).
fn whole_batches(records: &[u8]) -> usize {
    let mut pos = 0;
    while records.len() - pos >= 12 {
        let len = i32::from_be_bytes([
            records[pos + 8],
            records[pos + 9],
            records[pos + 10],
            records[pos + 11],
        ]);
        let Ok(len) = usize::try_from(len) else { break };
        let end = pos + 12 + len;
        if end > records.len() {
            break;
        }
        pos = end;
    }
    pos
}

async fn run(manager: Weak<ReplicaManager>, node_id: i32, addr: String, shared: Arc<Shared>) {
    let mut conn = BrokerConnection::new(addr.clone(), format!("brook-replica-fetcher-{node_id}"));
    loop {
        if shared.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let Some(config) = manager.upgrade().map(|m| m.config.clone()) else {
            return;
        };
        let now = Instant::now();
        let follows: Vec<(TopicPartition, Follow)> = shared
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, f)| f.backoff_until.is_none_or(|t| t <= now))
            .map(|(tp, f)| (tp.clone(), f.clone()))
            .collect();
        if follows.is_empty() {
            let _ = tokio::time::timeout(config.fetch_backoff, shared.wake.notified()).await;
            continue;
        }
        let (truncate, fetch): (Vec<_>, Vec<_>) =
            follows.into_iter().partition(|(_, f)| f.truncate_first);
        let result = if !truncate.is_empty() {
            truncate_divergent(&mut conn, node_id, &shared, &truncate, &config).await
        } else {
            fetch_once(&mut conn, node_id, &shared, &fetch, &config).await
        };
        if let Err(e) = result {
            tracing::debug!(leader = %addr, error = %e, "replica fetch failed");
            tokio::time::sleep(config.fetch_backoff).await;
        }
    }
}

/// Runs `f` on the follow of `tp` if it is still the one fetched (same epoch), with the
/// partition lock held.
fn with_current<T>(
    shared: &Shared,
    tp: &TopicPartition,
    epoch: i32,
    f: impl FnOnce(&mut Follow) -> T,
) -> Option<T> {
    let mut parts = shared.partitions.lock().unwrap_or_else(|e| e.into_inner());
    let follow = parts.get_mut(tp).filter(|f| f.epoch == epoch)?;
    Some(f(follow))
}

fn by_topic(
    follows: &[(TopicPartition, Follow)],
) -> BTreeMap<String, Vec<&(TopicPartition, Follow)>> {
    let mut m: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for f in follows {
        m.entry(f.0.topic.clone()).or_default().push(f);
    }
    m
}

async fn truncate_divergent(
    conn: &mut BrokerConnection,
    node_id: i32,
    shared: &Shared,
    follows: &[(TopicPartition, Follow)],
    config: &super::ReplicationConfig,
) -> Result<(), String> {
    // Partitions with no epoch history have nothing to reconcile.
    let mut ask = Vec::new();
    for (tp, f) in follows {
        match f.replica.log.latest_epoch() {
            Some(_) => ask.push((tp.clone(), f.clone())),
            None => {
                with_current(shared, tp, f.epoch, |f| f.truncate_first = false);
            }
        }
    }
    if ask.is_empty() {
        return Ok(());
    }
    let topics = by_topic(&ask)
        .into_iter()
        .map(|(topic, parts)| OffsetForLeaderTopic {
            topic,
            partitions: parts
                .iter()
                .map(|(tp, f)| OffsetForLeaderPartition {
                    partition: tp.partition,
                    current_leader_epoch: f.epoch,
                    leader_epoch: f.replica.log.latest_epoch().unwrap_or(-1),
                })
                .collect(),
        })
        .collect();
    let req = RequestBody::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest {
        replica_id: node_id,
        topics,
    });
    let resp = conn
        .call(EPOCH_VERSION, &req, Duration::from_secs(10))
        .await?;
    let ResponseBody::OffsetForLeaderEpoch(resp) = resp else {
        return Err("the leader answered OffsetForLeaderEpoch with another response".into());
    };
    for t in resp.topics {
        for p in t.partitions {
            let tp = TopicPartition::new(t.topic.clone(), p.partition);
            let Some((_, f)) = ask.iter().find(|(x, _)| *x == tp) else {
                continue;
            };
            let error = p.error_code;
            with_current(shared, &tp, f.epoch, |follow| {
                if error != ErrorCode::None.code() {
                    // Not (yet) the leader at this epoch: wait for the metadata.
                    follow.backoff_until = Some(Instant::now() + config.fetch_backoff);
                    return;
                }
                let log = &follow.replica.log;
                let leo = log.log_end_offset();
                let target = if p.leader_epoch < 0 || p.end_offset < 0 {
                    // The leader knows no such epoch: keep only what is committed.
                    log.high_watermark()
                } else {
                    let ours = log
                        .end_offset_for_epoch(p.leader_epoch)
                        .map_or(leo, |(_, end)| end);
                    ours.min(p.end_offset)
                };
                if target < leo {
                    tracing::info!(%tp, from = leo, to = target, "truncating a divergent tail");
                }
                // Also at the log end: it drops an epoch this node started but wrote
                // nothing in, which the leader's log does not have.
                if let Err(e) = tokio::task::block_in_place(|| log.truncate_to(target)) {
                    tracing::error!(%tp, error = %e, "truncation failed");
                    follow.backoff_until = Some(Instant::now() + config.fetch_backoff);
                    return;
                }
                follow.truncate_first = false;
            });
        }
    }
    Ok(())
}

async fn fetch_once(
    conn: &mut BrokerConnection,
    node_id: i32,
    shared: &Shared,
    follows: &[(TopicPartition, Follow)],
    config: &super::ReplicationConfig,
) -> Result<(), String> {
    let topics = by_topic(follows)
        .into_iter()
        .map(|(topic, parts)| FetchTopic {
            topic,
            partitions: parts
                .iter()
                .map(|(tp, f)| FetchPartition {
                    partition: tp.partition,
                    current_leader_epoch: f.epoch,
                    fetch_offset: f.replica.log.log_end_offset(),
                    last_fetched_epoch: f.replica.log.latest_epoch().unwrap_or(-1),
                    log_start_offset: f.replica.log.log_start_offset(),
                    partition_max_bytes: config.fetch_max_bytes_per_partition,
                    ..FetchPartition::default()
                })
                .collect(),
            ..FetchTopic::default()
        })
        .collect();
    let req = RequestBody::Fetch(FetchRequest {
        replica_id: node_id,
        max_wait_ms: config.fetch_wait_max.as_millis() as i32,
        min_bytes: 1,
        max_bytes: config.fetch_response_max_bytes,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics,
        ..FetchRequest::default()
    });
    let resp = conn
        .call(
            FETCH_VERSION,
            &req,
            config.fetch_wait_max + Duration::from_secs(10),
        )
        .await?;
    let ResponseBody::Fetch(resp) = resp else {
        return Err("the leader answered Fetch with another response".into());
    };
    if resp.error_code != ErrorCode::None.code() {
        return Err(format!("fetch error {}", resp.error_code));
    }
    for t in resp.responses {
        for p in t.partitions {
            let tp = TopicPartition::new(t.topic.clone(), p.partition_index);
            let Some((_, f)) = follows.iter().find(|(x, _)| *x == tp) else {
                continue;
            };
            with_current(shared, &tp, f.epoch, |follow| {
                apply_fetched(&tp, follow, p, config)
            });
        }
    }
    Ok(())
}

fn apply_fetched(
    tp: &TopicPartition,
    follow: &mut Follow,
    p: brook_protocol::messages::fetch_response::PartitionData,
    config: &super::ReplicationConfig,
) {
    let log = &follow.replica.log;
    if p.error_code == ErrorCode::OffsetOutOfRange.code() {
        let leo = log.log_end_offset();
        let r = if p.log_start_offset >= 0 && leo < p.log_start_offset {
            tokio::task::block_in_place(|| log.truncate_fully_and_start_at(p.log_start_offset))
        } else if p.high_watermark >= 0 && leo > p.high_watermark {
            tokio::task::block_in_place(|| log.truncate_to(p.high_watermark))
        } else {
            follow.backoff_until = Some(Instant::now() + config.fetch_backoff);
            Ok(())
        };
        if let Err(e) = r {
            tracing::error!(%tp, error = %e, "truncation after an out-of-range fetch failed");
            follow.backoff_until = Some(Instant::now() + config.fetch_backoff);
        }
        return;
    }
    if p.error_code != ErrorCode::None.code() {
        follow.backoff_until = Some(Instant::now() + config.fetch_backoff);
        return;
    }
    if let Some(records) = p.records.filter(|r| !r.is_empty()) {
        let whole = whole_batches(&records);
        if whole > 0 {
            // The decoder gave the records a buffer of their own: append in it (offsets
            // stay the leader's) instead of copying.
            let mut buf = records
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
            buf.truncate(whole);
            // A buffered append (no fsync per append) is cheaper than handing this worker
            // over to another thread, which block_in_place does.
            let appended = if log.config().flush_messages == i64::MAX {
                log.append_as_follower(&mut buf)
            } else {
                tokio::task::block_in_place(|| log.append_as_follower(&mut buf))
            };
            if let Err(e) = appended {
                tracing::warn!(%tp, error = %e, "appending fetched records failed");
                // Reconcile with the leader again before going on.
                follow.truncate_first = true;
                follow.backoff_until = Some(Instant::now() + config.fetch_backoff);
                return;
            }
        }
    }
    if p.high_watermark >= 0 {
        log.set_high_watermark(p.high_watermark.min(log.log_end_offset()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_batch_at_the_end_is_left_out() {
        let mut records = Vec::new();
        for len in [20u32, 5] {
            records.extend_from_slice(&[0u8; 8]);
            records.extend_from_slice(&(len as i32).to_be_bytes());
            records.extend(std::iter::repeat_n(1u8, len as usize));
        }
        let full = records.len();
        assert_eq!(whole_batches(&records), full);
        records.extend_from_slice(&[0u8; 8]);
        records.extend_from_slice(&100i32.to_be_bytes());
        records.extend_from_slice(&[1u8; 10]);
        assert_eq!(whole_batches(&records), full);
        assert_eq!(whole_batches(&records[..7]), 0);
    }
}
