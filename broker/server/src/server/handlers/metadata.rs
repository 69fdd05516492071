//! Metadata (key 3): this broker, and the topics asked for (all of them when the list is
//! null, or empty in v0), creating unknown ones when `auto.create.topics.enable` and the
//! request allow it.

use brook_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use brook_protocol::messages::{MetadataRequest, MetadataResponse, Uuid};

use crate::log::TopicPartition;
use crate::server::{Broker, ErrorCode, TopicMeta};

/// "Authorized operations not requested", Kafka's `Integer.MIN_VALUE`.
const NO_OPERATIONS: i32 = i32::MIN;

pub fn handle(broker: &Broker, req: MetadataRequest, version: i16) -> MetadataResponse {
    let node = broker.config.node_id;
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
    MetadataResponse {
        throttle_time_ms: 0,
        brokers: vec![MetadataResponseBroker {
            node_id: node,
            host: broker.advertised.0.clone(),
            port: i32::from(broker.advertised.1),
            rack: None,
        }],
        cluster_id: Some(broker.config.cluster_id.clone()),
        controller_id: node,
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
    let node = broker.config.node_id;
    MetadataResponseTopic {
        error_code: ErrorCode::None.code(),
        name: Some(meta.name.clone()),
        topic_id: Uuid(meta.id),
        is_internal: meta.name.starts_with("__"),
        partitions: (0..meta.partitions)
            .map(|p| {
                let online = broker
                    .logs
                    .get(&TopicPartition::new(meta.name.clone(), p))
                    .is_some();
                MetadataResponsePartition {
                    error_code: if online {
                        ErrorCode::None
                    } else {
                        ErrorCode::KafkaStorageError
                    }
                    .code(),
                    partition_index: p,
                    leader_id: if online { node } else { -1 },
                    leader_epoch: 0,
                    replica_nodes: vec![node],
                    isr_nodes: if online { vec![node] } else { vec![] },
                    offline_replicas: if online { vec![] } else { vec![node] },
                }
            })
            .collect(),
        topic_authorized_operations: NO_OPERATIONS,
    }
}
