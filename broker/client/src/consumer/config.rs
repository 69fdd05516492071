//! [`ConsumerConfig`]: the consumer's settings, with Kafka's key names and defaults.

use std::time::Duration;

use thiserror::Error;

use crate::tcp::TcpConfig;

/// Why a consumer setting was refused; always names the key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Not a consumer setting.
    #[error("unknown consumer config '{0}'")]
    UnknownKey(String),
    /// The value does not parse or is out of range.
    #[error("invalid value '{value}' for {key}: {reason}")]
    InvalidValue {
        key: &'static str,
        value: String,
        reason: String,
    },
}

/// Where to start when a partition has no committed offset, or the position is out of
/// range (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end offset (only records appended from now on).
    #[default]
    Latest,
    /// No reset: `poll` fails with OFFSET_OUT_OF_RANGE (or NoOffset) instead.
    None,
}

/// Which records a fetch returns (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Every record, including those of open and aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only records below the last stable offset; aborted transactions are dropped.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value (0 or 1).
    pub fn id(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// The consumer's settings. Build with [`Default`] and [`set`](Self::set) (Kafka's key
/// names and string values), or set fields directly.
///
/// ```
/// use brook_client::consumer::{ConsumerConfig, OffsetReset};
///
/// let mut config = ConsumerConfig::new("localhost:9092");
/// config.set("auto.offset.reset", "earliest").unwrap();
/// config.set("group.id", "billing").unwrap();
/// assert_eq!(config.auto_offset_reset, OffsetReset::Earliest);
/// let e = config.set("max.poll.records", "0").unwrap_err();
/// assert!(e.to_string().contains("max.poll.records"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// `bootstrap.servers`: `host:port,...`. Default `localhost:9092`.
    pub bootstrap_servers: String,
    /// `group.id`: the group whose offsets are committed and read. Default none (no
    /// commits).
    pub group_id: Option<String>,
    /// `client.id`. Default `brook-consumer`.
    pub client_id: String,
    /// `max.poll.records`: the most records one `poll` returns. Default 500.
    pub max_poll_records: usize,
    /// `fetch.min.bytes`: the broker answers a fetch once it has this much. Default 1.
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms`: how long the broker may hold a fetch waiting for
    /// `fetch.min.bytes`. Default 500 ms.
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`: per partition and fetch. Default 1 MiB.
    pub max_partition_fetch_bytes: i32,
    /// `fetch.max.bytes`: per fetch response. Default 50 MiB.
    pub fetch_max_bytes: i32,
    /// `auto.offset.reset`. Default `latest`.
    pub auto_offset_reset: OffsetReset,
    /// `isolation.level`. Default `read_uncommitted`.
    pub isolation_level: IsolationLevel,
    /// `request.timeout.ms`. Default 30 s.
    pub request_timeout: Duration,
    /// `check.crcs`. Default true. Brook always checks the CRC32C of every batch it
    /// decodes (the check is cheap next to decompression); `false` is accepted for
    /// compatibility and changes nothing.
    pub check_crcs: bool,
    /// `retry.backoff.ms`: pause after an error before fetching again. Default 100 ms.
    pub retry_backoff: Duration,
    /// `group.instance.id`: makes the member static (KIP-345): a restart within
    /// `session.timeout.ms` gets its partitions back without a rebalance, and `close`
    /// does not leave the group. Default none.
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`: the coordinator removes a member it has not heard from for
    /// this long. Default 45 s.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`: how often the background task heartbeats. Default 3 s.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: the longest the application may go between polls before
    /// the consumer leaves the group (its partitions are then lost); also the rebalance
    /// timeout it joins with. Default 5 min.
    pub max_poll_interval: Duration,
    /// `enable.auto.commit`: commit the positions every `auto.commit.interval.ms` from
    /// `poll`, before a rebalance revokes partitions, and at `close`. Default true (it
    /// only acts with a `group.id`).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`. Default 5 s.
    pub auto_commit_interval: Duration,
    /// `partition.assignment.strategy`: the assignors offered when joining, in order of
    /// preference, by Java's names (`range`, `roundrobin`, `sticky`,
    /// `cooperative-sticky`) or class names. Default `range, cooperative-sticky`, as Java's
    /// (the group uses range until every member offers cooperative-sticky).
    pub partition_assignment_strategy: Vec<String>,
    /// `metadata.max.age.ms`: how often a subscription checks for new topics matching its
    /// pattern and for partition count changes. Default 5 min.
    pub metadata_max_age: Duration,
    /// `client.rack`: sent in the subscription for rack-aware assignors. Default none.
    pub client_rack: Option<String>,
    /// `exclude.internal.topics`: a pattern subscription never matches internal topics
    /// (`__consumer_offsets`, ...). Default true.
    pub exclude_internal_topics: bool,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            bootstrap_servers: "localhost:9092".into(),
            group_id: None,
            client_id: "brook-consumer".into(),
            max_poll_records: 500,
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            max_partition_fetch_bytes: 1 << 20,
            fetch_max_bytes: 50 << 20,
            auto_offset_reset: OffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            request_timeout: Duration::from_secs(30),
            check_crcs: true,
            retry_backoff: Duration::from_millis(100),
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            partition_assignment_strategy: vec!["range".into(), "cooperative-sticky".into()],
            metadata_max_age: Duration::from_secs(300),
            client_rack: None,
            exclude_internal_topics: true,
        }
    }
}

fn parse_bool(key: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

fn invalid(key: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn parse_int(key: &'static str, value: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "not an integer"))?;
    if n < min || n > max {
        return Err(invalid(key, value, format!("must be in {min}..={max}")));
    }
    Ok(n)
}

fn parse_i32(key: &'static str, value: &str, min: i64) -> Result<i32, ConfigError> {
    // In range by construction.
    Ok(parse_int(key, value, min, i32::MAX.into())? as i32)
}

fn parse_ms(key: &'static str, value: &str, min: i64) -> Result<Duration, ConfigError> {
    let n = parse_int(key, value, min, i32::MAX.into())?;
    Ok(Duration::from_millis(n.unsigned_abs()))
}

impl ConsumerConfig {
    /// The defaults, with `bootstrap.servers` set.
    pub fn new(bootstrap_servers: impl Into<String>) -> ConsumerConfig {
        ConsumerConfig {
            bootstrap_servers: bootstrap_servers.into(),
            ..ConsumerConfig::default()
        }
    }

    /// The defaults with each `(key, value)` [`set`](Self::set) in turn.
    pub fn from_properties<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ConsumerConfig, ConfigError> {
        let mut c = ConsumerConfig::default();
        for (k, v) in props {
            c.set(k, v)?;
        }
        Ok(c)
    }

    /// Sets one setting by its Kafka key. Errors name the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let v = value.trim();
        match key {
            "bootstrap.servers" => {
                crate::cluster::parse_bootstrap(v)
                    .map_err(|e| invalid("bootstrap.servers", value, e.to_string()))?;
                self.bootstrap_servers = v.to_owned();
            }
            "group.id" => self.group_id = (!v.is_empty()).then(|| v.to_owned()),
            "client.id" => self.client_id = v.to_owned(),
            "max.poll.records" => {
                self.max_poll_records = parse_int("max.poll.records", value, 1, i32::MAX.into())?
                    .unsigned_abs() as usize
            }
            "fetch.min.bytes" => self.fetch_min_bytes = parse_i32("fetch.min.bytes", value, 0)?,
            "fetch.max.wait.ms" => self.fetch_max_wait = parse_ms("fetch.max.wait.ms", value, 0)?,
            "max.partition.fetch.bytes" => {
                self.max_partition_fetch_bytes = parse_i32("max.partition.fetch.bytes", value, 1)?
            }
            "fetch.max.bytes" => self.fetch_max_bytes = parse_i32("fetch.max.bytes", value, 1)?,
            "auto.offset.reset" => {
                self.auto_offset_reset = match v.to_ascii_lowercase().as_str() {
                    "earliest" => OffsetReset::Earliest,
                    "latest" => OffsetReset::Latest,
                    "none" => OffsetReset::None,
                    _ => {
                        return Err(invalid(
                            "auto.offset.reset",
                            value,
                            "expected earliest, latest or none",
                        ))
                    }
                }
            }
            "isolation.level" => {
                self.isolation_level = match v.to_ascii_lowercase().as_str() {
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    "read_committed" => IsolationLevel::ReadCommitted,
                    _ => {
                        return Err(invalid(
                            "isolation.level",
                            value,
                            "expected read_uncommitted or read_committed",
                        ))
                    }
                }
            }
            "request.timeout.ms" => {
                self.request_timeout = parse_ms("request.timeout.ms", value, 1)?
            }
            "check.crcs" => self.check_crcs = parse_bool("check.crcs", value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms("retry.backoff.ms", value, 0)?,
            "group.instance.id" => self.group_instance_id = (!v.is_empty()).then(|| v.to_owned()),
            "session.timeout.ms" => {
                self.session_timeout = parse_ms("session.timeout.ms", value, 1)?
            }
            "heartbeat.interval.ms" => {
                self.heartbeat_interval = parse_ms("heartbeat.interval.ms", value, 1)?
            }
            "max.poll.interval.ms" => {
                self.max_poll_interval = parse_ms("max.poll.interval.ms", value, 1)?
            }
            "enable.auto.commit" => {
                self.enable_auto_commit = parse_bool("enable.auto.commit", value)?
            }
            "auto.commit.interval.ms" => {
                self.auto_commit_interval = parse_ms("auto.commit.interval.ms", value, 0)?
            }
            "partition.assignment.strategy" => {
                let names: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.is_empty() {
                    return Err(invalid(
                        "partition.assignment.strategy",
                        value,
                        "name at least one assignor",
                    ));
                }
                if let Some(bad) = names
                    .iter()
                    .find(|n| crate::consumer::assignor::by_name(n).is_none())
                {
                    return Err(invalid(
                        "partition.assignment.strategy",
                        value,
                        format!(
                            "unknown assignor {bad:?} (expected range, roundrobin, sticky or \
                             cooperative-sticky)"
                        ),
                    ));
                }
                self.partition_assignment_strategy = names;
            }
            "metadata.max.age.ms" => {
                self.metadata_max_age = parse_ms("metadata.max.age.ms", value, 0)?
            }
            "client.rack" => self.client_rack = (!v.is_empty()).then(|| v.to_owned()),
            "exclude.internal.topics" => {
                self.exclude_internal_topics = parse_bool("exclude.internal.topics", value)?
            }
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }

    /// The connection settings these imply.
    pub fn tcp(&self) -> TcpConfig {
        TcpConfig {
            client_id: Some(self.client_id.clone()),
            // A fetch may be held for fetch.max.wait.ms on top of the request timeout.
            request_timeout: self.request_timeout + self.fetch_max_wait,
            ..TcpConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_keys() {
        let c = ConsumerConfig::default();
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.fetch_min_bytes, 1);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.max_partition_fetch_bytes, 1 << 20);
        assert_eq!(c.fetch_max_bytes, 50 << 20);
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
        assert!(c.check_crcs);
        assert_eq!(c.group_id, None);
        assert_eq!(c.session_timeout, Duration::from_secs(45));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(c.max_poll_interval, Duration::from_secs(300));
        assert!(c.enable_auto_commit);
        assert_eq!(
            c.partition_assignment_strategy,
            ["range", "cooperative-sticky"]
        );

        let c = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:1,b:2"),
            ("group.id", "g"),
            ("isolation.level", "read_committed"),
            ("auto.offset.reset", "none"),
            ("fetch.max.wait.ms", "10"),
            ("check.crcs", "false"),
            (
                "partition.assignment.strategy",
                "cooperative-sticky, roundrobin",
            ),
            ("group.instance.id", "worker-1"),
            ("enable.auto.commit", "false"),
        ])
        .unwrap();
        assert_eq!(
            c.partition_assignment_strategy,
            ["cooperative-sticky", "roundrobin"]
        );
        assert_eq!(c.group_instance_id.as_deref(), Some("worker-1"));
        assert!(!c.enable_auto_commit);
        assert_eq!(c.bootstrap_servers, "a:1,b:2");
        assert_eq!(c.group_id.as_deref(), Some("g"));
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert_eq!(c.auto_offset_reset, OffsetReset::None);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(10));
        assert!(!c.check_crcs);
    }

    #[test]
    fn errors_name_the_key() {
        let mut c = ConsumerConfig::default();
        for (k, v) in [
            ("bootstrap.servers", "nohost"),
            ("max.poll.records", "0"),
            ("fetch.max.bytes", "x"),
            ("auto.offset.reset", "middle"),
            ("isolation.level", "serializable"),
            ("check.crcs", "yes"),
            ("fetch.max.wait.ms", "-1"),
            ("partition.assignment.strategy", "fair"),
            ("partition.assignment.strategy", " , "),
            ("enable.auto.commit", "sometimes"),
            ("session.timeout.ms", "0"),
        ] {
            let e = c.set(k, v).unwrap_err();
            assert!(e.to_string().contains(k), "{e}");
        }
        assert_eq!(
            c.set("linger.ms", "1").unwrap_err(),
            ConfigError::UnknownKey("linger.ms".into())
        );
        assert_eq!(c, ConsumerConfig::default());
    }
}
