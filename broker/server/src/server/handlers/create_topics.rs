//! CreateTopics (key 19): Kafka's name, partition and replication-factor rules; configs are
//! validated against the topic-config keys the log understands.

use std::collections::HashMap;

use brook_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use brook_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, Uuid};

use crate::server::{Broker, ErrorCode};

pub fn handle(broker: &Broker, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.as_str()).or_default() += 1;
    }
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let mut result = CreatableTopicResult {
                name: t.name.clone(),
                topic_id: Uuid::ZERO,
                num_partitions: -1,
                replication_factor: -1,
                configs: None,
                ..CreatableTopicResult::default()
            };
            let fail = |mut r: CreatableTopicResult, code: ErrorCode, message: String| {
                r.error_code = code.code();
                r.error_message = Some(message);
                r
            };
            if seen[t.name.as_str()] > 1 {
                return fail(
                    result,
                    ErrorCode::InvalidRequest,
                    format!("topic `{}` appears more than once", t.name),
                );
            }
            let mut partitions = t.num_partitions;
            if !t.assignments.is_empty() {
                if t.num_partitions != -1 || t.replication_factor != -1 {
                    return fail(
                        result,
                        ErrorCode::InvalidRequest,
                        "give either assignments or partitions and replication factor".into(),
                    );
                }
                if t.assignments
                    .iter()
                    .any(|a| a.broker_ids != [broker.config.node_id])
                {
                    return fail(
                        result,
                        ErrorCode::InvalidReplicationFactor,
                        format!("this cluster has one broker, {}", broker.config.node_id),
                    );
                }
                partitions = t.assignments.len() as i32;
            }
            let configs: Vec<(String, Option<String>)> = t
                .configs
                .iter()
                .map(|c| (c.name.clone(), c.value.clone()))
                .collect();
            match broker.topics.create(
                &t.name,
                partitions,
                t.replication_factor,
                &configs,
                broker.config.num_partitions,
                req.validate_only,
            ) {
                Ok(meta) => {
                    result.topic_id = Uuid(meta.id);
                    result.num_partitions = meta.partitions;
                    result.replication_factor = 1;
                    result.configs = Some(
                        broker
                            .topics
                            .effective_configs(&meta.configs)
                            .into_iter()
                            .map(|c| CreatableTopicConfigs {
                                name: c.name.to_string(),
                                value: Some(c.value),
                                read_only: false,
                                config_source: c.source as i8,
                                is_sensitive: false,
                            })
                            .collect(),
                    );
                    result
                }
                Err(e) => fail(result, e.code, e.message),
            }
        })
        .collect();
    CreateTopicsResponse {
        throttle_time_ms: 0,
        topics,
    }
}
