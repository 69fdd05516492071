//! OffsetFetch (key 9): committed offsets of a group (v0-7) or of several groups (v8+);
//! a null topic list (v2+) asks for everything the group committed.

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
                let fetched = broker.groups.fetch_offsets(&g.group_id, topics);
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
                    error_code: 0,
                }
            })
            .collect();
        return OffsetFetchResponse {
            groups,
            ..OffsetFetchResponse::default()
        };
    }
    let topics = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
            .collect()
    });
    let fetched = broker.groups.fetch_offsets(&req.group_id, topics);
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
        error_code: 0,
        groups: Vec::new(),
    }
}
