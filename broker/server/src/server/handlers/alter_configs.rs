//! AlterConfigs (key 33): replace a topic's whole set of config overrides.
//! IncrementalAlterConfigs lives in its own file. Broker configs are static (set at start).

use std::collections::BTreeMap;

use brook_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use brook_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::TOPIC;
use crate::server::topics::TopicError;
use crate::server::{Broker, ErrorCode};

pub fn handle(broker: &Broker, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|res| {
            let overrides: BTreeMap<String, String> = res
                .configs
                .into_iter()
                .filter_map(|c| c.value.map(|v| (c.name, v)))
                .collect();
            let outcome = apply(
                broker,
                res.resource_type,
                &res.resource_name,
                overrides,
                req.validate_only,
            );
            let (error_code, error_message) = TopicError::wire_fields(outcome);
            AlterConfigsResourceResponse {
                error_code,
                error_message,
                resource_type: res.resource_type,
                resource_name: res.resource_name,
            }
        })
        .collect();
    AlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    }
}

/// Sets a topic's overrides; other resource types are refused.
pub fn apply(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    overrides: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), TopicError> {
    if resource_type != TOPIC {
        return Err(TopicError::new(
            ErrorCode::InvalidRequest,
            "only topic configs can be altered; broker settings are static (--set at start)",
        ));
    }
    broker.topics.set_configs(name, overrides, validate_only)
}
