//! OffsetCommit (key 8): committed offsets, appended to the group's `__consumer_offsets`
//! partition and answered once replicated (REQUEST_TIMED_OUT after
//! `offsets.commit.timeout.ms`, NOT_COORDINATOR when the partition's leadership moved).
//! Generation -1 without a member id commits from outside a group (a consumer using
//! assign()), allowed while the group has no members. Runs on the blocking pool, which
//! the wait for replication holds.

use brook_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use brook_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::server::group::CommitPartition;
use crate::server::Broker;

pub fn handle(broker: &Broker, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let mut partitions = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            partitions.push(CommitPartition {
                topic: t.name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.clone(),
                commit_timestamp: p.commit_timestamp,
            });
        }
    }
    let codes = broker.groups.commit(
        &req.group_id,
        req.generation_id_or_member_epoch,
        &req.member_id,
        req.group_instance_id.as_deref(),
        req.retention_time_ms,
        partitions,
    );
    let mut codes = codes.into_iter();
    let topics = req
        .topics
        .iter()
        .map(|t| OffsetCommitResponseTopic {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|p| OffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: codes.next().map_or(0, |c| c.code()),
                })
                .collect(),
        })
        .collect();
    OffsetCommitResponse {
        throttle_time_ms: 0,
        topics,
    }
}
