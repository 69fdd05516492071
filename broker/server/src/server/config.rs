//! Broker settings, with Kafka's `server.properties` names.

use std::time::Duration;

use super::controller::ControllerConfig;
use super::group::GroupConfig;
use super::replication::ReplicationConfig;
use crate::log::{topic_key_for_broker_key, ConfigError, LogConfig};

/// Settings of one broker. Defaults are Kafka's where Kafka has the setting.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`. Default 1.
    pub node_id: i32,
    /// Host and port clients are told to connect to (`advertised.listeners`); by default the
    /// address the listener is bound to.
    pub advertised: Option<(String, u16)>,
    /// `auto.create.topics.enable`: Metadata and Produce create unknown topics. Default true.
    pub auto_create_topics: bool,
    /// `num.partitions`: partitions of auto-created topics and CreateTopics with -1. Default 1.
    pub num_partitions: i32,
    /// `socket.request.max.bytes`: the largest request frame. Default 100 MiB.
    pub max_request_bytes: usize,
    /// `fetch.max.bytes`: the most record bytes in one Fetch response (beyond a first whole
    /// batch). Default 55 MiB.
    pub fetch_max_bytes: usize,
    /// `connections.max.idle.ms`: idle connections are closed after this. Default 10 min.
    pub idle_timeout: Duration,
    /// `log.retention.check.interval.ms`: how often retention, compaction and `flush.ms`
    /// run. Default 5 minutes.
    pub maintenance_interval: Duration,
    /// Topic-config defaults (`log.retention.ms`, `log.segment.bytes`, ...).
    pub log_defaults: LogConfig,
    /// The cluster id reported in Metadata.
    pub cluster_id: String,
    /// The group coordinator's settings (`group.*`, `offsets.*`).
    pub groups: GroupConfig,
    /// The controller quorum (`controller.quorum.voters`, `broker.session.timeout.ms`, ...).
    pub controller: ControllerConfig,
    /// Replication (`replica.*`).
    pub replication: ReplicationConfig,
    /// `default.replication.factor`: topics created with -1. Default 1.
    pub default_replication_factor: i16,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// How long start-up waits for the controller quorum. Default 5 minutes.
    pub controller_wait: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 1,
            advertised: None,
            auto_create_topics: true,
            num_partitions: 1,
            max_request_bytes: 100 * 1024 * 1024,
            fetch_max_bytes: super::handlers::fetch::MAX_FETCH_BYTES,
            idle_timeout: Duration::from_millis(600_000),
            maintenance_interval: Duration::from_millis(300_000),
            log_defaults: LogConfig::default(),
            cluster_id: "brook-cluster".into(),
            groups: GroupConfig::default(),
            controller: ControllerConfig::default(),
            replication: ReplicationConfig::default(),
            default_replication_factor: 1,
            rack: None,
            controller_wait: Duration::from_secs(300),
        }
    }
}

fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "not a valid value"))
}

impl BrokerConfig {
    /// Sets one broker key (Kafka's name). Errors name the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let key = key.trim();
        match key {
            "node.id" | "broker.id" => self.node_id = parse(key, value)?,
            "auto.create.topics.enable" => self.auto_create_topics = parse(key, value)?,
            "num.partitions" => {
                let n: i32 = parse(key, value)?;
                if n < 1 {
                    return Err(invalid(key, value, "must be at least 1"));
                }
                self.num_partitions = n;
            }
            "socket.request.max.bytes" => {
                let n: usize = parse(key, value)?;
                if n < 64 || n > i32::MAX as usize {
                    return Err(invalid(key, value, "must be between 64 and 2147483647"));
                }
                self.max_request_bytes = n;
            }
            "fetch.max.bytes" => {
                let n: usize = parse(key, value)?;
                if n < 1024 || n > i32::MAX as usize {
                    return Err(invalid(key, value, "must be between 1024 and 2147483647"));
                }
                self.fetch_max_bytes = n;
            }
            "connections.max.idle.ms" => {
                self.idle_timeout = Duration::from_millis(positive(key, value)?)
            }
            "log.retention.check.interval.ms" => {
                self.maintenance_interval = Duration::from_millis(positive(key, value)?)
            }
            "advertised.listeners" => self.advertised = Some(parse_host_port(key, value)?),
            "group.initial.rebalance.delay.ms" => {
                self.groups.initial_rebalance_delay = Duration::from_millis(parse(key, value)?)
            }
            "group.min.session.timeout.ms" => {
                self.groups.min_session_timeout = Duration::from_millis(parse(key, value)?)
            }
            "group.max.session.timeout.ms" => {
                self.groups.max_session_timeout = Duration::from_millis(positive(key, value)?)
            }
            "group.max.size" => {
                self.groups.max_size = usize::try_from(positive(key, value)?).unwrap_or(usize::MAX)
            }
            "offsets.topic.num.partitions" => {
                let n: i32 = parse(key, value)?;
                if n < 1 {
                    return Err(invalid(key, value, "must be at least 1"));
                }
                self.groups.offsets_partitions = n;
            }
            "offsets.commit.timeout.ms" => {
                self.groups.offsets_commit_timeout = Duration::from_millis(positive(key, value)?)
            }
            "offsets.retention.ms" => {
                self.groups.offsets_retention = Duration::from_millis(positive(key, value)?)
            }
            "offsets.retention.check.interval.ms" => {
                self.groups.offsets_retention_check = Duration::from_millis(positive(key, value)?)
            }
            "default.replication.factor" => {
                let n: i16 = parse(key, value)?;
                if n < 1 {
                    return Err(invalid(key, value, "must be at least 1"));
                }
                self.default_replication_factor = n;
            }
            "offsets.topic.replication.factor" => {
                let n: i16 = parse(key, value)?;
                if n < 1 {
                    return Err(invalid(key, value, "must be at least 1"));
                }
                self.groups.offsets_replication_factor = n;
            }
            // Transactions are not served yet; their settings are accepted as Kafka's.
            "transaction.state.log.replication.factor" | "transaction.state.log.min.isr" => {
                let _: i32 = parse(key, value)?;
            }
            "broker.rack" => self.rack = Some(value.trim().to_string()),
            "controller.quorum.voters" => {
                self.controller.voters = super::controller::network::parse_voters(value)
                    .map_err(|e| invalid(key, value, &e))?
            }
            "broker.heartbeat.interval.ms" => {
                self.controller.heartbeat_interval = Duration::from_millis(positive(key, value)?)
            }
            "broker.session.timeout.ms" => {
                self.controller.session_timeout = Duration::from_millis(positive(key, value)?)
            }
            "controller.quorum.election.timeout.ms" => {
                let n = positive(key, value)?;
                self.controller.election_timeout_ms = (n, n * 2);
            }
            "auto.leader.rebalance.enable" => {
                self.controller.auto_leader_rebalance = parse(key, value)?
            }
            "leader.imbalance.check.interval.seconds" => {
                self.controller.leader_imbalance_check_interval =
                    Duration::from_secs(positive(key, value)?)
            }
            "leader.imbalance.check.interval.ms" => {
                self.controller.leader_imbalance_check_interval =
                    Duration::from_millis(positive(key, value)?)
            }
            "replica.lag.time.max.ms" => {
                self.replication.replica_lag_time_max = Duration::from_millis(positive(key, value)?)
            }
            "replica.fetch.wait.max.ms" => {
                self.replication.fetch_wait_max = Duration::from_millis(positive(key, value)?)
            }
            "replica.fetch.backoff.ms" => {
                self.replication.fetch_backoff = Duration::from_millis(positive(key, value)?)
            }
            "replica.fetch.max.bytes" => {
                self.replication.fetch_max_bytes_per_partition = parse(key, value)?
            }
            "offset.metadata.max.bytes" => {
                self.groups.offset_metadata_max_bytes = parse(key, value)?
            }
            _ => match topic_key_for_broker_key(key) {
                Some(topic_key) => self.log_defaults.set(topic_key, value)?,
                None => return Err(ConfigError::UnknownKey(key.to_string())),
            },
        }
        Ok(())
    }
}

fn positive(key: &str, value: &str) -> Result<u64, ConfigError> {
    let n: u64 = parse(key, value)?;
    if n == 0 {
        return Err(invalid(key, value, "must be positive"));
    }
    Ok(n)
}

/// Parses `host:port` (optionally prefixed by a listener name such as `PLAINTEXT://`).
pub fn parse_host_port(key: &str, value: &str) -> Result<(String, u16), ConfigError> {
    let v = value.trim();
    let v = v.split_once("://").map_or(v, |(_, rest)| rest);
    let (host, port) = v
        .rsplit_once(':')
        .ok_or_else(|| invalid(key, value, "expected host:port"))?;
    let port: u16 = port.parse().map_err(|_| invalid(key, value, "bad port"))?;
    if host.is_empty() {
        return Err(invalid(key, value, "empty host"));
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_keys_and_log_defaults() {
        let mut c = BrokerConfig::default();
        c.set("num.partitions", "3").unwrap();
        c.set("log.retention.ms", "1000").unwrap();
        c.set("advertised.listeners", "PLAINTEXT://example.org:19092")
            .unwrap();
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log_defaults.retention_ms, 1000);
        assert_eq!(c.advertised, Some(("example.org".into(), 19092)));
        c.set("group.initial.rebalance.delay.ms", "0").unwrap();
        c.set("offsets.topic.num.partitions", "5").unwrap();
        assert_eq!(c.groups.initial_rebalance_delay, Duration::ZERO);
        assert_eq!(c.groups.offsets_partitions, 5);
        c.set("offsets.topic.replication.factor", "1").unwrap();
        assert_eq!(c.groups.offsets_replication_factor, 1);
        assert!(c
            .set("default.replication.factor", "0")
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
        c.set(
            "controller.quorum.voters",
            "1@localhost:9093,2@localhost:9094",
        )
        .unwrap();
        assert_eq!(c.controller.voters.len(), 2);
        assert!(c.set("controller.quorum.voters", "1@nohost").is_err());
        c.set("replica.lag.time.max.ms", "2000").unwrap();
        assert_eq!(
            c.replication.replica_lag_time_max,
            Duration::from_millis(2000)
        );
        assert!(c
            .set("offsets.topic.num.partitions", "0")
            .unwrap_err()
            .to_string()
            .contains("offsets.topic.num.partitions"));
        let err = c.set("num.partitions", "0").unwrap_err();
        assert!(err.to_string().contains("num.partitions"));
        assert!(c
            .set("auto.create.topics.enable", "maybe")
            .unwrap_err()
            .to_string()
            .contains("auto.create.topics.enable"));
        assert_eq!(
            c.set("bogus", "1").unwrap_err(),
            ConfigError::UnknownKey("bogus".into())
        );
    }
}
