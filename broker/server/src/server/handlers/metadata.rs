//! Metadata (key 3): the live (unfenced) brokers, the active controller, and the topics
//! asked for (all of them when the list is null, or empty in v0) with each partition's
//! leader, leader epoch, replicas and ISR from the metadata image, creating unknown topics
//! when `auto.create.topics.enable` and the request allow it. A partition without a leader
//! answers LEADER_NOT_AVAILABLE; replicas on fenced brokers are listed as offline.

use brook_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use brook_protocol::messages::{MetadataRequest, MetadataResponse, Uuid};

use crate::server::controller::image::NO_LEADER;
use crate::server::{Broker, ErrorCode, TopicMeta};

/// "Authorized operations not requested", Kafka's `Integer.MIN_VALUE`.
const NO_OPERATIONS: i32 = i32::MIN;

pub fn handle(broker: &Broker, req: MetadataRequest, version: i16) -> MetadataResponse {
    let topics = match req.topics {
        None => broker
            .topics
            .all()
            .iter()
            .map(|t| describe(broker, t))
            .collect(),
        Some(list) if version == 0 && list.is_empty() => broker
            .topics
            .all()
            .iter()
            .map(|t| describe(broker, t))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|t| {
                let by_id = t.name.is_none() && t.topic_id != Uuid::ZERO;
                let found = match &t.name {
                    Some(name) => broker.topics.get(name),
                    None => broker.topics.by_id(&t.topic_id.0),
                };
                match (found, t.name) {
                    (Some(meta), _) => describe(broker, &meta),
                    (None, Some(name))
                        if broker.config.auto_create_topics
                            && (version < 4 || req.allow_auto_topic_creation) =>
                    {
                        match broker.topics.create(
                            &name,
                            -1,
                            -1,
                            &[],
                            broker.config.num_partitions,
                            false,
                        ) {
                            Ok(meta) => describe(broker, &meta),
                            // Created concurrently by another request.
                            Err(e) if e.code == ErrorCode::TopicAlreadyExists => {
                                match broker.topics.get(&name) {
                                    Some(meta) => describe(broker, &meta),
                                    None => error_topic(Some(name), t.topic_id, e.code),
                                }
                            }
                            Err(e) => error_topic(Some(name), t.topic_id, e.code),
                        }
                    }
                    (None, name) => {
                        let code = if by_id {
                            ErrorCode::UnknownTopicId
                        } else {
                            ErrorCode::UnknownTopicOrPartition
                        };
                        error_topic(name, t.topic_id, code)
                    }
                }
            })
            .collect(),
    };
    let image = broker.controller.view().image();
    let controller_id = broker.live_controller_id();
    let brokers = image
        .live_brokers()
        .map(|b| MetadataResponseBroker {
            node_id: b.id,
            host: b.host.clone(),
            port: i32::from(b.port),
            rack: b.rack.clone(),
        })
        .collect();
    MetadataResponse {
        throttle_time_ms: 0,
        brokers,
        cluster_id: Some(broker.config.cluster_id.clone()),
        controller_id,
        topics,
        cluster_authorized_operations: NO_OPERATIONS,
    }
}

fn error_topic(name: Option<String>, id: Uuid, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: code.code(),
        name,
        topic_id: id,
        topic_authorized_operations: NO_OPERATIONS,
        ..MetadataResponseTopic::default()
    }
}

fn describe(broker: &Broker, meta: &TopicMeta) -> MetadataResponseTopic {
    let image = broker.controller.view().image();
    let topic = image.topics.get(&meta.name);
    let live = |id: &i32| image.brokers.get(id).is_some_and(|b| !b.fenced);
    MetadataResponseTopic {
        error_code: ErrorCode::None.code(),
        name: Some(meta.name.clone()),
        topic_id: Uuid(meta.id),
        is_internal: meta.name.starts_with("__"),
        partitions: (0..meta.partitions)
            .map(|p| {
                let state = topic.and_then(|t| t.partitions.get(p as usize));
                let Some(state) = state else {
                    return MetadataResponsePartition {
                        error_code: ErrorCode::LeaderNotAvailable.code(),
                        partition_index: p,
                        leader_id: NO_LEADER,
                        ..MetadataResponsePartition::default()
                    };
                };
                let led = state.leader != NO_LEADER;
                MetadataResponsePartition {
                    error_code: if led {
                        ErrorCode::None
                    } else {
                        ErrorCode::LeaderNotAvailable
                    }
                    .code(),
                    partition_index: p,
                    leader_id: state.leader,
                    leader_epoch: state.leader_epoch,
                    replica_nodes: state.replicas.clone(),
                    isr_nodes: state.isr.clone(),
                    offline_replicas: state
                        .replicas
                        .iter()
                        .copied()
                        .filter(|r| !live(r))
                        .collect(),
                }
            })
            .collect(),
        topic_authorized_operations: NO_OPERATIONS,
    }
}
