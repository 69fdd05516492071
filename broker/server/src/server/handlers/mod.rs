//! One file per Kafka API. [`SUPPORTED`] is the single list of what the broker serves and
//! at which versions; ApiVersions answers from it, and nothing else is advertised.

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;

use std::sync::Arc;

use brook_protocol::messages::{
    AlterConfigsRequest, ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest,
    DescribeConfigsRequest, DescribeGroupsRequest, ElectLeadersRequest, FetchRequest,
    FindCoordinatorRequest, HeartbeatRequest, IncrementalAlterConfigsRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, OffsetForLeaderEpochRequest, ProduceRequest, RequestBody, SyncGroupRequest,
};

use super::Broker;

/// (API key, min version, max version) served in full. Produce starts at v3 and Fetch at v4,
/// the first versions that carry record batch format v2 (Kafka 4 has the same floor).
pub const SUPPORTED: &[(i16, i16, i16)] = &[
    (ProduceRequest::API_KEY, 3, 11),
    (FetchRequest::API_KEY, 4, 17),
    (ListOffsetsRequest::API_KEY, 1, 10),
    (MetadataRequest::API_KEY, 0, 12),
    (ApiVersionsRequest::API_KEY, 0, 4),
    (CreateTopicsRequest::API_KEY, 2, 7),
    (DeleteTopicsRequest::API_KEY, 1, 6),
    (CreatePartitionsRequest::API_KEY, 0, 3),
    (DescribeClusterRequest::API_KEY, 0, 1),
    (ElectLeadersRequest::API_KEY, 0, 2),
    (DescribeConfigsRequest::API_KEY, 1, 4),
    (AlterConfigsRequest::API_KEY, 0, 2),
    (IncrementalAlterConfigsRequest::API_KEY, 0, 1),
    (InitProducerIdRequest::API_KEY, 0, 5),
    (DeleteRecordsRequest::API_KEY, 0, 2),
    (OffsetForLeaderEpochRequest::API_KEY, 2, 4),
    (FindCoordinatorRequest::API_KEY, 0, 6),
    (JoinGroupRequest::API_KEY, 0, 9),
    (SyncGroupRequest::API_KEY, 0, 5),
    (HeartbeatRequest::API_KEY, 0, 4),
    (LeaveGroupRequest::API_KEY, 0, 5),
    (OffsetCommitRequest::API_KEY, 0, 9),
    (OffsetFetchRequest::API_KEY, 0, 9),
    (DescribeGroupsRequest::API_KEY, 0, 5),
    (ListGroupsRequest::API_KEY, 0, 5),
    (DeleteGroupsRequest::API_KEY, 0, 2),
    (OffsetDeleteRequest::API_KEY, 0, 0),
];

pub fn is_supported(api_key: i16, version: i16) -> bool {
    SUPPORTED
        .iter()
        .any(|&(k, min, max)| k == api_key && (min..=max).contains(&version))
}

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The API version of the request (and of its response).
    pub version: i16,
    /// The `client.id` from the request header.
    pub client_id: String,
    /// The peer address, as Kafka reports it in DescribeGroups (`/127.0.0.1`).
    pub client_host: String,
}

/// Answers one decoded request with its encoded response body. Fetch waits on the async
/// side; the rest run on the blocking pool because they touch files.
pub async fn handle(
    broker: Arc<Broker>,
    body: RequestBody,
    ctx: RequestContext,
) -> Result<Vec<u8>, String> {
    let version = ctx.version;
    let mut out = Vec::new();
    if let RequestBody::Fetch(req) = body {
        fetch::handle(broker, req, version)
            .await?
            .encode(version, &mut out)
            .map_err(|e| e.to_string())?;
        return Ok(out);
    }
    // JoinGroup and SyncGroup wait for the other members on the async side, and
    // acks=all produces for the in-sync replicas.
    let body = match body {
        RequestBody::Produce(req) => {
            produce::handle_replicated(broker, req)
                .await?
                .encode(version, &mut out)
                .map_err(|e| e.to_string())?;
            return Ok(out);
        }
        RequestBody::JoinGroup(req) => {
            join_group::handle(broker, req, ctx)
                .await
                .encode(version, &mut out)
                .map_err(|e| e.to_string())?;
            return Ok(out);
        }
        RequestBody::SyncGroup(req) => {
            sync_group::handle(broker, req, version)
                .await
                .encode(version, &mut out)
                .map_err(|e| e.to_string())?;
            return Ok(out);
        }
        other => other,
    };
    tokio::task::spawn_blocking(move || {
        let r = match body {
            RequestBody::ApiVersions(_) => api_versions::handle().encode(version, &mut out),
            RequestBody::Metadata(req) => {
                metadata::handle(&broker, req, version).encode(version, &mut out)
            }
            RequestBody::ListOffsets(req) => {
                list_offsets::handle(&broker, req, version).encode(version, &mut out)
            }
            RequestBody::InitProducerId(req) => {
                init_producer_id::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::DeleteRecords(req) => {
                delete_records::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::OffsetForLeaderEpoch(req) => {
                offset_for_leader_epoch::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::DeleteTopics(req) => {
                delete_topics::handle(&broker, req, version).encode(version, &mut out)
            }
            RequestBody::CreatePartitions(req) => {
                create_partitions::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::ElectLeaders(req) => {
                elect_leaders::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::DescribeCluster(req) => {
                describe_cluster::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::DescribeConfigs(req) => {
                describe_configs::handle(&broker, req, version).encode(version, &mut out)
            }
            RequestBody::AlterConfigs(req) => {
                alter_configs::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::IncrementalAlterConfigs(req) => {
                incremental_alter_configs::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::CreateTopics(req) => {
                create_topics::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::FindCoordinator(req) => {
                find_coordinator::handle(&broker, req, version).encode(version, &mut out)
            }
            RequestBody::Heartbeat(req) => {
                heartbeat::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::LeaveGroup(req) => {
                leave_group::handle(&broker, req, version).encode(version, &mut out)
            }
            RequestBody::OffsetCommit(req) => {
                offset_commit::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::OffsetFetch(req) => {
                offset_fetch::handle(&broker, req, version).encode(version, &mut out)
            }
            RequestBody::DescribeGroups(req) => {
                describe_groups::handle(&broker, req, version).encode(version, &mut out)
            }
            RequestBody::ListGroups(req) => {
                list_groups::handle(&broker, req, version).encode(version, &mut out)
            }
            RequestBody::DeleteGroups(req) => {
                delete_groups::handle(&broker, req).encode(version, &mut out)
            }
            RequestBody::OffsetDelete(req) => {
                offset_delete::handle(&broker, req).encode(version, &mut out)
            }
            other => return Err(format!("API {} is not served", other.api_key())),
        };
        r.map_err(|e| e.to_string())?;
        Ok(out)
    })
    .await
    .map_err(|e| format!("handler failed: {e}"))?
}
