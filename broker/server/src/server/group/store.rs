//! The groups' durable state in the compacted internal topic `__consumer_offsets`: each
//! change is one record batch appended (by the coordinator, as the partition's leader) to
//! the partition of its group, and a partition's groups are rebuilt by replaying its log
//! when this broker becomes its leader.

use std::collections::BTreeMap;

use brook_protocol::record::{BatchBuilder, Compression, RecordBatch};

use super::records::{decode_group_key, GroupRecord, OffsetKey, OffsetValue};
use super::{partition_for, OFFSETS_TOPIC};
use crate::log::{Log, LogError};
use crate::server::Topics;

/// One record to write: a key and a value, `None` for a tombstone.
pub type Entry = (Vec<u8>, Option<Vec<u8>>);

/// What replaying `__consumer_offsets` found for one group.
#[derive(Debug, Default)]
pub struct Loaded {
    pub group: Option<GroupRecord>,
    pub offsets: BTreeMap<(String, i32), OffsetValue>,
}

/// `__consumer_offsets` as the coordinator knows it: its partition count, which places
/// every group. Its logs belong to the replica manager (a broker holds only some of them,
/// and writes only those it leads).
#[derive(Debug)]
pub struct OffsetsTopic {
    partitions: i32,
}

/// Why the topic cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{OFFSETS_TOPIC}: {0}")]
    Topic(String),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl OffsetsTopic {
    /// The topic, creating it (compacted, `partitions` partitions, 100 MiB segments as
    /// Kafka's `offsets.topic.segment.bytes`, `replication_factor` capped at the live
    /// brokers) if it does not exist. An existing topic keeps its partition count: group
    /// placement depends on it.
    pub fn open_or_create(
        topics: &Topics,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<OffsetsTopic, StoreError> {
        if topics.get(OFFSETS_TOPIC).is_none() {
            let configs = [
                ("cleanup.policy".to_string(), Some("compact".to_string())),
                ("segment.bytes".to_string(), Some("104857600".to_string())),
            ];
            if let Err(e) = topics.create(
                OFFSETS_TOPIC,
                partitions,
                replication_factor.min(topics.live_brokers().max(1) as i16),
                &configs,
                1,
                false,
            ) {
                // Lost a race with another creator: fine if it exists now.
                if topics.get(OFFSETS_TOPIC).is_none() {
                    return Err(StoreError::Topic(e.message));
                }
            }
        }
        Self::open(topics).ok_or_else(|| StoreError::Topic("missing after creation".into()))
    }

    /// The topic if it exists. None of its logs need to be local.
    pub fn open(topics: &Topics) -> Option<OffsetsTopic> {
        let meta = topics.get(OFFSETS_TOPIC)?;
        Some(OffsetsTopic {
            partitions: meta.partitions,
        })
    }

    pub fn partitions(&self) -> i32 {
        self.partitions
    }
}

/// `entries` as one uncompressed record batch (base offset 0: the log assigns offsets).
pub fn encode_batch(entries: &[Entry], now_ms: i64) -> Result<Vec<u8>, StoreError> {
    let mut b = BatchBuilder::new(Compression::None, now_ms);
    for (k, v) in entries {
        b.try_append(now_ms, Some(k), v.as_deref(), &[])
            .map_err(|e| StoreError::Topic(e.to_string()))?;
    }
    let mut bytes = Vec::new();
    b.build_into(0, &mut bytes)
        .map_err(|e| StoreError::Topic(e.to_string()))?;
    Ok(bytes)
}

/// Replays one partition's log (`partition` of `partitions`). Records that do not decode
/// are skipped with a warning: a damaged record loses that one commit, never the broker.
/// Groups that do not belong to this partition are ignored.
pub fn load_partition(log: &Log, partition: i32, partitions: i32) -> BTreeMap<String, Loaded> {
    let mut groups: BTreeMap<String, Loaded> = BTreeMap::new();
    for batch in log.batches() {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(partition, error = %e, "reading {OFFSETS_TOPIC}");
                break;
            }
        };
        let decoded = match RecordBatch::decode(&batch, 64 << 20) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(partition, error = %e, "skipping a batch of {OFFSETS_TOPIC}");
                continue;
            }
        };
        if decoded.header.is_control() {
            continue;
        }
        for r in decoded.records {
            let Some(key) = r.key.as_deref() else {
                continue;
            };
            apply(&mut groups, key, r.value.as_deref());
        }
    }
    groups.retain(|id, _| {
        let here = partition_for(id, partitions) == partition;
        if !here {
            tracing::warn!(group = %id, partition, "a group of another partition: ignored");
        }
        here
    });
    groups
}

/// Applies one record of `__consumer_offsets` to the replayed state.
fn apply(groups: &mut BTreeMap<String, Loaded>, key: &[u8], value: Option<&[u8]>) {
    if let Some(k) = OffsetKey::decode(key) {
        let tp = (k.topic, k.partition);
        match value {
            None => {
                if let Some(g) = groups.get_mut(&k.group) {
                    g.offsets.remove(&tp);
                }
            }
            Some(v) => match OffsetValue::decode(v) {
                Some(v) => {
                    groups.entry(k.group).or_default().offsets.insert(tp, v);
                }
                None => tracing::warn!(group = %k.group, "skipping an undecodable offset value"),
            },
        }
    } else if let Some(group) = decode_group_key(key) {
        match value {
            None => {
                // DeleteGroups writes tombstones for the offsets first, then this one.
                groups.remove(&group);
            }
            Some(v) => match GroupRecord::decode(v) {
                Some(r) => groups.entry(group).or_default().group = Some(r),
                None => tracing::warn!(%group, "skipping an undecodable group value"),
            },
        }
    }
}
