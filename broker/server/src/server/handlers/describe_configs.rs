//! DescribeConfigs (key 32): topic configs (effective values with their source) and the
//! broker's own settings. Resource types: 2 = topic, 4 = broker.

use std::collections::BTreeMap;

use brook_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use brook_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use crate::server::config::BrokerConfig;
use crate::server::topics::ConfigSource;
use crate::server::{Broker, ErrorCode};

pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;

/// Kafka's `ConfigType` ids for DescribeConfigs v3+.
fn config_type(name: &str) -> i8 {
    const BOOLEAN: i8 = 1;
    const STRING: i8 = 2;
    const INT: i8 = 3;
    const LONG: i8 = 5;
    const DOUBLE: i8 = 6;
    const LIST: i8 = 7;
    match name {
        "cleanup.policy" => LIST,
        "message.timestamp.type" => STRING,
        "min.cleanable.dirty.ratio" => DOUBLE,
        "segment.bytes"
        | "index.interval.bytes"
        | "max.message.bytes"
        | "num.partitions"
        | "node.id" => INT,
        "auto.create.topics.enable" => BOOLEAN,
        _ => LONG,
    }
}

pub fn handle(
    broker: &Broker,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|res| {
            let mut r = DescribeConfigsResult {
                resource_type: res.resource_type,
                resource_name: res.resource_name.clone(),
                ..DescribeConfigsResult::default()
            };
            let entries: Vec<(String, String, ConfigSource)> = match res.resource_type {
                TOPIC => match broker.topics.get(&res.resource_name) {
                    Some(meta) => broker
                        .topics
                        .effective_configs(&meta.configs)
                        .into_iter()
                        .map(|c| (c.name.to_string(), c.value, c.source))
                        .collect(),
                    None => {
                        r.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        r.error_message =
                            Some(format!("topic `{}` does not exist", res.resource_name));
                        return r;
                    }
                },
                BROKER
                    if res.resource_name.is_empty()
                        || res.resource_name == broker.config.node_id.to_string() =>
                {
                    broker_entries(broker)
                }
                BROKER => {
                    r.error_code = ErrorCode::InvalidRequest.code();
                    r.error_message = Some(format!("this is broker {}", broker.config.node_id));
                    return r;
                }
                other => {
                    r.error_code = ErrorCode::InvalidRequest.code();
                    r.error_message = Some(format!("resource type {other} is not supported"));
                    return r;
                }
            };
            r.configs = entries
                .into_iter()
                .filter(|(name, _, _)| {
                    res.configuration_keys
                        .as_ref()
                        .is_none_or(|keys| keys.contains(name))
                })
                .map(|(name, value, source)| DescribeConfigsResourceResult {
                    synonyms: if req.include_synonyms {
                        vec![DescribeConfigsSynonym {
                            name: name.clone(),
                            value: Some(value.clone()),
                            source: source as i8,
                        }]
                    } else {
                        vec![]
                    },
                    config_type: if version >= 3 { config_type(&name) } else { 0 },
                    name,
                    value: Some(value),
                    read_only: res.resource_type == BROKER,
                    config_source: source as i8,
                    is_sensitive: false,
                    ..DescribeConfigsResourceResult::default()
                })
                .collect();
            r
        })
        .collect();
    DescribeConfigsResponse {
        throttle_time_ms: 0,
        results,
    }
}

/// The broker's settings as DescribeConfigs lists them: all set at start, so each is
/// either Kafka's default (source DEFAULT_CONFIG) or from the config file and flags
/// (STATIC_BROKER_CONFIG).
fn broker_entries(broker: &Broker) -> Vec<(String, String, ConfigSource)> {
    let defaults = broker_map(&BrokerConfig::default());
    broker_map(&broker.config)
        .into_iter()
        .map(|(k, v)| {
            let source = if defaults.get(&k) == Some(&v) {
                ConfigSource::Default
            } else {
                ConfigSource::StaticBroker
            };
            (k, v, source)
        })
        .collect()
}

fn broker_map(c: &BrokerConfig) -> BTreeMap<String, String> {
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    let g = &c.groups;
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    m.insert("node.id".into(), c.node_id.to_string());
    m.insert("num.partitions".into(), c.num_partitions.to_string());
    m.insert(
        "auto.create.topics.enable".into(),
        c.auto_create_topics.to_string(),
    );
    m.insert(
        "socket.request.max.bytes".into(),
        c.max_request_bytes.to_string(),
    );
    m.insert("connections.max.idle.ms".into(), ms(c.idle_timeout));
    m.insert("fetch.max.bytes".into(), c.fetch_max_bytes.to_string());
    m.insert(
        "log.retention.check.interval.ms".into(),
        ms(c.maintenance_interval),
    );
    m.insert(
        "group.initial.rebalance.delay.ms".into(),
        ms(g.initial_rebalance_delay),
    );
    m.insert(
        "group.min.session.timeout.ms".into(),
        ms(g.min_session_timeout),
    );
    m.insert(
        "group.max.session.timeout.ms".into(),
        ms(g.max_session_timeout),
    );
    m.insert(
        "offsets.topic.num.partitions".into(),
        g.offsets_partitions.to_string(),
    );
    m.insert("offsets.retention.ms".into(), ms(g.offsets_retention));
    m.insert(
        "offsets.retention.check.interval.ms".into(),
        ms(g.offsets_retention_check),
    );
    m.insert(
        "offset.metadata.max.bytes".into(),
        g.offset_metadata_max_bytes.to_string(),
    );
    m
}
