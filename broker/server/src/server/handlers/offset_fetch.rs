//! OffsetFetch (key 9): committed offsets of a group (v0-7) or of several groups (v8+);
//! a null topic list (v2+) asks for everything the group committed. A group not
//! coordinated here answers NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS): as the
//! group's error (v8+), the response's (v2-7), or each asked partition's (v0-1), as Kafka.

use brook_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use brook_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use crate::server::group::FetchedOffset;
use crate::server::Broker;

pub fn handle(broker: &Broker, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    // v5+ carries the leader epoch; before that it is not on the wire.
    let epoch = |f: &FetchedOffset| if version >= 5 { f.leader_epoch } else { -1 };
    if version >= 8 {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                        .collect()
                });
                let (fetched, error_code) = match broker.groups.fetch_offsets(&g.group_id, topics) {
                    Ok(f) => (f, 0),
                    Err(e) => (Vec::new(), e.code()),
                };
                OffsetFetchResponseGroup {
                    group_id: g.group_id.clone(),
                    topics: fetched
                        .into_iter()
                        .map(|(name, offsets)| OffsetFetchResponseTopics {
                            name,
                            partitions: offsets
                                .iter()
                                .map(|f| OffsetFetchResponsePartitions {
                                    partition_index: f.partition,
                                    committed_offset: f.offset,
                                    committed_leader_epoch: epoch(f),
                                    metadata: Some(f.metadata.clone()),
                                    error_code: 0,
                                })
                                .collect(),
                        })
                        .collect(),
                    error_code,
                }
            })
            .collect();
        return OffsetFetchResponse {
            groups,
            ..OffsetFetchResponse::default()
        };
    }
    let asked: Option<Vec<(String, Vec<i32>)>> = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
            .collect()
    });
    let (fetched, error) = match broker.groups.fetch_offsets(&req.group_id, asked.clone()) {
        Ok(f) => (f, 0),
        Err(e) if version < 2 => {
            // No response-level error before v2: every asked partition carries it.
            let each = asked
                .unwrap_or_default()
                .into_iter()
                .map(|(name, ps)| OffsetFetchResponseTopic {
                    name,
                    partitions: ps
                        .into_iter()
                        .map(|p| OffsetFetchResponsePartition {
                            partition_index: p,
                            committed_offset: -1,
                            committed_leader_epoch: -1,
                            metadata: Some(String::new()),
                            error_code: e.code(),
                        })
                        .collect(),
                })
                .collect();
            return OffsetFetchResponse {
                throttle_time_ms: 0,
                topics: each,
                error_code: e.code(),
                groups: Vec::new(),
            };
        }
        Err(e) => (Vec::new(), e.code()),
    };
    OffsetFetchResponse {
        throttle_time_ms: 0,
        topics: fetched
            .into_iter()
            .map(|(name, offsets)| OffsetFetchResponseTopic {
                name,
                partitions: offsets
                    .iter()
                    .map(|f| OffsetFetchResponsePartition {
                        partition_index: f.partition,
                        committed_offset: f.offset,
                        committed_leader_epoch: epoch(f),
                        metadata: Some(f.metadata.clone()),
                        error_code: 0,
                    })
                    .collect(),
            })
            .collect(),
        error_code: error,
        groups: Vec::new(),
    }
}
