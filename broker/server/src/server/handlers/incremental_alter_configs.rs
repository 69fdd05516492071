//! IncrementalAlterConfigs (key 44): SET (0), DELETE (1), APPEND (2) and SUBTRACT (3) on
//! a topic's config overrides; APPEND and SUBTRACT work on list values (`cleanup.policy`).

use brook_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use brook_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::alter_configs::apply;
use crate::server::topics::TopicError;
use crate::server::{Broker, ErrorCode};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub fn handle(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|res| {
            let outcome = (|| {
                let mut overrides = match broker.topics.get(&res.resource_name) {
                    Some(meta) => meta.configs,
                    None if res.resource_type != super::describe_configs::TOPIC => {
                        Default::default()
                    }
                    None => {
                        return Err(TopicError::new(
                            ErrorCode::UnknownTopicOrPartition,
                            format!("topic `{}` does not exist", res.resource_name),
                        ))
                    }
                };
                let effective = broker.topics.log_config(&overrides)?.to_map();
                for c in &res.configs {
                    let current = effective.get(c.name.as_str()).cloned().unwrap_or_default();
                    let list = |s: &str| -> Vec<String> {
                        s.split(',')
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(String::from)
                            .collect()
                    };
                    match c.config_operation {
                        SET => {
                            let Some(v) = &c.value else {
                                return Err(TopicError::new(
                                    ErrorCode::InvalidRequest,
                                    format!("SET of `{}` needs a value", c.name),
                                ));
                            };
                            overrides.insert(c.name.clone(), v.clone());
                        }
                        DELETE => {
                            overrides.remove(&c.name);
                        }
                        APPEND | SUBTRACT => {
                            let mut items = list(&current);
                            let given = list(c.value.as_deref().unwrap_or(""));
                            if c.config_operation == APPEND {
                                for g in given {
                                    if !items.contains(&g) {
                                        items.push(g);
                                    }
                                }
                            } else {
                                items.retain(|i| !given.contains(i));
                            }
                            overrides.insert(c.name.clone(), items.join(","));
                        }
                        op => {
                            return Err(TopicError::new(
                                ErrorCode::InvalidRequest,
                                format!("unknown config operation {op}"),
                            ))
                        }
                    }
                }
                apply(
                    broker,
                    res.resource_type,
                    &res.resource_name,
                    overrides,
                    req.validate_only,
                )
            })();
            let (error_code, error_message) = TopicError::wire_fields(outcome);
            AlterConfigsResourceResponse {
                error_code,
                error_message,
                resource_type: res.resource_type,
                resource_name: res.resource_name,
            }
        })
        .collect();
    IncrementalAlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    }
}
