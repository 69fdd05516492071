//! [`ProducerConfig`]: the producer's settings, under Kafka's key names and with Kafka's
//! defaults (those of the Java client 4.x).

use std::time::Duration;

use brook_protocol::record::Compression;
use thiserror::Error;

use super::accumulator::AccumulatorConfig;
use super::partitioner::PartitionerKind;

/// `acks`: how many replicas must have a record before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// `acks=0`: no answer at all; offsets are unknown (`-1`).
    None,
    /// `acks=1`: the leader wrote it.
    Leader,
    /// `acks=all` (or `-1`, the default): every in-sync replica has it.
    #[default]
    All,
}

impl Acks {
    /// The value of the ProduceRequest `acks` field (0, 1 or -1).
    pub fn wire_value(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// A setting that could not be applied; every variant names the key.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// Not a producer setting.
    #[error("unknown producer config '{0}'")]
    UnknownKey(String),
    /// The value does not parse or is out of range.
    #[error("invalid value '{value}' for {key}: {reason}")]
    InvalidValue {
        key: &'static str,
        value: String,
        reason: String,
    },
    /// Settings that contradict each other.
    #[error("{key}: {reason}")]
    Conflict { key: &'static str, reason: String },
}

/// The producer's settings. Build with [`Default`] and [`set`](Self::set) (Kafka's key
/// names and string values), or set fields directly; then [`validated`](Self::validated)
/// checks the rules between settings.
///
/// ```
/// use brook_client::producer::{Acks, ProducerConfig};
///
/// let config = ProducerConfig::from_properties([
///     ("bootstrap.servers", "localhost:9092"),
///     ("acks", "1"),
///     ("linger.ms", "20"),
/// ])
/// .unwrap();
/// assert_eq!(config.acks, Acks::Leader);
/// // acks=1 conflicts with idempotence, which was only on by default: it is turned off.
/// assert!(!config.validated().unwrap().enable_idempotence);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// `bootstrap.servers`: `host:port` pairs to fetch metadata from (no default).
    pub bootstrap_servers: Vec<String>,
    /// `client.id` (default empty: the producer makes one up).
    pub client_id: String,
    /// `acks` (default all).
    pub acks: Acks,
    /// `batch.size`, bytes (default 16384).
    pub batch_size: usize,
    /// `linger.ms` (default 5).
    pub linger_ms: u64,
    /// `buffer.memory`, bytes (default 33554432, 32 MiB).
    pub buffer_memory: usize,
    /// `compression.type`: none, gzip, snappy, lz4 or zstd (default none).
    pub compression_type: Compression,
    /// `max.request.size`, bytes (default 1048576).
    pub max_request_size: usize,
    /// `max.block.ms`: how long `send` waits for memory or metadata (default 60000).
    pub max_block_ms: u64,
    /// `retries` (default 2147483647: retry until `delivery.timeout.ms`).
    pub retries: i32,
    /// `retry.backoff.ms` (default 100).
    pub retry_backoff_ms: u64,
    /// `retry.backoff.max.ms`: cap of the exponential backoff (default 1000).
    pub retry_backoff_max_ms: u64,
    /// `delivery.timeout.ms`: upper bound from `send` to success or failure (default
    /// 120000); at least `linger.ms + request.timeout.ms`.
    pub delivery_timeout_ms: u64,
    /// `request.timeout.ms` (default 30000).
    pub request_timeout_ms: u64,
    /// `max.in.flight.requests.per.connection` (default 5; at most 5 with idempotence).
    pub max_in_flight_requests_per_connection: u32,
    /// `enable.idempotence` (default true).
    pub enable_idempotence: bool,
    /// `metadata.max.age.ms`: metadata is refreshed at least this often (default 300000).
    pub metadata_max_age_ms: u64,
    /// `partitioner.class`: which built-in partitioner (default: murmur2 for keys, sticky
    /// without). Custom partitioners are passed to the producer in code.
    pub partitioner: PartitionerKind,
    /// `partitioner.ignore.keys` (default false).
    pub partitioner_ignore_keys: bool,
    /// Whether `enable.idempotence` was set explicitly: only then do conflicting settings
    /// fail validation instead of turning idempotence off (as in Kafka 3.2+).
    idempotence_explicit: bool,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            bootstrap_servers: Vec::new(),
            client_id: String::new(),
            acks: Acks::All,
            batch_size: 16_384,
            linger_ms: 5,
            buffer_memory: 32 * 1024 * 1024,
            compression_type: Compression::None,
            max_request_size: 1024 * 1024,
            max_block_ms: 60_000,
            retries: i32::MAX,
            retry_backoff_ms: 100,
            retry_backoff_max_ms: 1_000,
            delivery_timeout_ms: 120_000,
            request_timeout_ms: 30_000,
            max_in_flight_requests_per_connection: 5,
            enable_idempotence: true,
            metadata_max_age_ms: 300_000,
            partitioner: PartitionerKind::Default,
            partitioner_ignore_keys: false,
            idempotence_explicit: false,
        }
    }
}

/// Every key [`ProducerConfig::set`] accepts.
pub const PRODUCER_CONFIG_KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "acks",
    "batch.size",
    "linger.ms",
    "buffer.memory",
    "compression.type",
    "max.request.size",
    "max.block.ms",
    "retries",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "delivery.timeout.ms",
    "request.timeout.ms",
    "max.in.flight.requests.per.connection",
    "enable.idempotence",
    "metadata.max.age.ms",
    "partitioner.class",
    "partitioner.ignore.keys",
];

/// The largest size setting accepted: the wire format's lengths are `i32`.
const MAX_SIZE: u64 = i32::MAX as u64;

impl ProducerConfig {
    /// The defaults with each `(key, value)` applied in order by [`set`](Self::set).
    pub fn from_properties<K, V>(
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ProducerConfig, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = ProducerConfig::default();
        for (k, v) in properties {
            config.set(k.as_ref(), v.as_ref())?;
        }
        Ok(config)
    }

    /// Sets `key` (a Kafka producer config name) from its string form, as in a
    /// `.properties` file. Values are trimmed; booleans are `true`/`false` in any case.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let v = value.trim();
        match key {
            "bootstrap.servers" => {
                let servers: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                for s in &servers {
                    check_host_port(s)
                        .map_err(|reason| invalid("bootstrap.servers", value, reason))?;
                }
                self.bootstrap_servers = servers;
            }
            "client.id" => self.client_id = v.to_owned(),
            "acks" => {
                self.acks = match v.to_ascii_lowercase().as_str() {
                    "all" | "-1" => Acks::All,
                    "1" => Acks::Leader,
                    "0" => Acks::None,
                    _ => return Err(invalid("acks", value, "expected all, -1, 0 or 1")),
                }
            }
            "batch.size" => self.batch_size = parse_size("batch.size", value, 0)?,
            "linger.ms" => self.linger_ms = parse_u64("linger.ms", value, 0, i32::MAX as u64)?,
            "buffer.memory" => self.buffer_memory = parse_size("buffer.memory", value, 0)?,
            "compression.type" => {
                self.compression_type = Compression::ALL
                    .into_iter()
                    .find(|c| c.name().eq_ignore_ascii_case(v))
                    .ok_or_else(|| {
                        invalid(
                            "compression.type",
                            value,
                            "expected none, gzip, snappy, lz4 or zstd",
                        )
                    })?
            }
            "max.request.size" => {
                self.max_request_size = parse_size("max.request.size", value, 1)?;
            }
            "max.block.ms" => self.max_block_ms = parse_u64("max.block.ms", value, 0, u64::MAX)?,
            "retries" => {
                self.retries = parse_u64("retries", value, 0, i32::MAX as u64)? as i32;
            }
            "retry.backoff.ms" => {
                self.retry_backoff_ms = parse_u64("retry.backoff.ms", value, 0, u64::MAX)?;
            }
            "retry.backoff.max.ms" => {
                self.retry_backoff_max_ms = parse_u64("retry.backoff.max.ms", value, 0, u64::MAX)?;
            }
            "delivery.timeout.ms" => {
                self.delivery_timeout_ms =
                    parse_u64("delivery.timeout.ms", value, 0, i32::MAX as u64)?;
            }
            "request.timeout.ms" => {
                self.request_timeout_ms =
                    parse_u64("request.timeout.ms", value, 0, i32::MAX as u64)?;
            }
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight_requests_per_connection = parse_u64(
                    "max.in.flight.requests.per.connection",
                    value,
                    1,
                    u32::MAX as u64,
                )? as u32;
            }
            "enable.idempotence" => {
                self.enable_idempotence = parse_bool("enable.idempotence", value)?;
                self.idempotence_explicit = true;
            }
            "metadata.max.age.ms" => {
                self.metadata_max_age_ms = parse_u64("metadata.max.age.ms", value, 0, u64::MAX)?;
            }
            "partitioner.class" => {
                self.partitioner = match v {
                    ""
                    | "default"
                    | "org.apache.kafka.clients.producer.internals.DefaultPartitioner" => {
                        PartitionerKind::Default
                    }
                    "round_robin" | "org.apache.kafka.clients.producer.RoundRobinPartitioner" => {
                        PartitionerKind::RoundRobin
                    }
                    "uniform_sticky"
                    | "org.apache.kafka.clients.producer.UniformStickyPartitioner" => {
                        PartitionerKind::UniformSticky
                    }
                    _ => {
                        return Err(invalid(
                            "partitioner.class",
                            value,
                            "expected default, round_robin, uniform_sticky or the Java class \
                             name of one of them; custom partitioners are given in code",
                        ))
                    }
                }
            }
            "partitioner.ignore.keys" => {
                self.partitioner_ignore_keys = parse_bool("partitioner.ignore.keys", value)?;
            }
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }

    /// The value of `key` in the string form [`set`](Self::set) accepts.
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "bootstrap.servers" => self.bootstrap_servers.join(","),
            "client.id" => self.client_id.clone(),
            "acks" => match self.acks {
                Acks::All => "all".to_owned(),
                Acks::Leader => "1".to_owned(),
                Acks::None => "0".to_owned(),
            },
            "batch.size" => self.batch_size.to_string(),
            "linger.ms" => self.linger_ms.to_string(),
            "buffer.memory" => self.buffer_memory.to_string(),
            "compression.type" => self.compression_type.name().to_owned(),
            "max.request.size" => self.max_request_size.to_string(),
            "max.block.ms" => self.max_block_ms.to_string(),
            "retries" => self.retries.to_string(),
            "retry.backoff.ms" => self.retry_backoff_ms.to_string(),
            "retry.backoff.max.ms" => self.retry_backoff_max_ms.to_string(),
            "delivery.timeout.ms" => self.delivery_timeout_ms.to_string(),
            "request.timeout.ms" => self.request_timeout_ms.to_string(),
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight_requests_per_connection.to_string()
            }
            "enable.idempotence" => self.enable_idempotence.to_string(),
            "metadata.max.age.ms" => self.metadata_max_age_ms.to_string(),
            "partitioner.class" => match self.partitioner {
                PartitionerKind::Default => "default",
                PartitionerKind::RoundRobin => "round_robin",
                PartitionerKind::UniformSticky => "uniform_sticky",
            }
            .to_owned(),
            "partitioner.ignore.keys" => self.partitioner_ignore_keys.to_string(),
            _ => return None,
        })
    }

    /// Checks the rules between settings, as Kafka's producer does at construction:
    ///
    /// - idempotence needs `acks=all`, `retries > 0` and
    ///   `max.in.flight.requests.per.connection <= 5`. If `enable.idempotence` was set
    ///   explicitly, a conflict is an error naming the conflicting key; if it is only the
    ///   default, idempotence is turned off instead;
    /// - `delivery.timeout.ms >= linger.ms + request.timeout.ms`.
    pub fn validated(mut self) -> Result<ProducerConfig, ConfigError> {
        if self.enable_idempotence {
            let conflict = if self.acks != Acks::All {
                Some(("acks", "must be all for the idempotent producer".to_owned()))
            } else if self.retries == 0 {
                Some((
                    "retries",
                    "must be greater than 0 for the idempotent producer".to_owned(),
                ))
            } else if self.max_in_flight_requests_per_connection > 5 {
                Some((
                    "max.in.flight.requests.per.connection",
                    "must be at most 5 for the idempotent producer".to_owned(),
                ))
            } else {
                None
            };
            if let Some((key, reason)) = conflict {
                if self.idempotence_explicit {
                    return Err(ConfigError::Conflict {
                        key,
                        reason: format!("{reason} (enable.idempotence=true)"),
                    });
                }
                self.enable_idempotence = false;
            }
        }
        let floor = self.linger_ms.saturating_add(self.request_timeout_ms);
        if self.delivery_timeout_ms < floor {
            return Err(ConfigError::Conflict {
                key: "delivery.timeout.ms",
                reason: format!(
                    "must be at least linger.ms + request.timeout.ms ({floor}), is {}",
                    self.delivery_timeout_ms
                ),
            });
        }
        Ok(self)
    }

    /// The accumulator's share of the settings.
    pub fn accumulator_config(&self) -> AccumulatorConfig {
        AccumulatorConfig {
            batch_size: self.batch_size,
            linger: Duration::from_millis(self.linger_ms),
            buffer_memory: self.buffer_memory,
            max_request_size: self.max_request_size,
            compression: self.compression_type,
            retry_backoff: Duration::from_millis(self.retry_backoff_ms),
        }
    }
}

fn invalid(key: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn parse_u64(key: &'static str, value: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "expected a non-negative integer"))?;
    if n < min || n > max {
        return Err(invalid(
            key,
            value,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(n)
}

fn parse_size(key: &'static str, value: &str, min: u64) -> Result<usize, ConfigError> {
    let n = parse_u64(key, value, min, MAX_SIZE)?;
    usize::try_from(n).map_err(|_| invalid(key, value, "too large for this platform"))
}

fn parse_bool(key: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

fn check_host_port(s: &str) -> Result<(), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("'{s}' is not host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("'{s}' has no host"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("'{s}' has an invalid port"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = ProducerConfig::default();
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.acks.wire_value(), -1);
        assert_eq!(c.batch_size, 16_384);
        assert_eq!(c.linger_ms, 5);
        assert_eq!(c.buffer_memory, 33_554_432);
        assert_eq!(c.compression_type, Compression::None);
        assert_eq!(c.max_request_size, 1_048_576);
        assert_eq!(c.max_block_ms, 60_000);
        assert_eq!(c.retries, i32::MAX);
        assert_eq!(c.retry_backoff_ms, 100);
        assert_eq!(c.delivery_timeout_ms, 120_000);
        assert_eq!(c.request_timeout_ms, 30_000);
        assert_eq!(c.max_in_flight_requests_per_connection, 5);
        assert!(c.enable_idempotence);
        assert_eq!(c.partitioner, PartitionerKind::Default);
        let v = c.clone().validated().unwrap();
        assert!(v.enable_idempotence);
        let a = c.accumulator_config();
        assert_eq!(a, AccumulatorConfig::default());
    }

    #[test]
    fn set_parses_kafka_values() {
        let mut c = ProducerConfig::default();
        c.set("bootstrap.servers", " a:9092, b.example:19092 ,[::1]:9093")
            .unwrap();
        assert_eq!(
            c.bootstrap_servers,
            ["a:9092", "b.example:19092", "[::1]:9093"]
        );
        for (v, a) in [
            ("all", Acks::All),
            ("-1", Acks::All),
            ("1", Acks::Leader),
            ("0", Acks::None),
            ("ALL", Acks::All),
        ] {
            c.set("acks", v).unwrap();
            assert_eq!(c.acks, a);
        }
        for codec in Compression::ALL {
            c.set("compression.type", codec.name()).unwrap();
            assert_eq!(c.compression_type, codec);
        }
        c.set("enable.idempotence", "FALSE").unwrap();
        assert!(!c.enable_idempotence);
        c.set(
            "partitioner.class",
            "org.apache.kafka.clients.producer.RoundRobinPartitioner",
        )
        .unwrap();
        assert_eq!(c.partitioner, PartitionerKind::RoundRobin);
        c.set("batch.size", "1048576").unwrap();
        assert_eq!(c.batch_size, 1 << 20);
        c.set("linger.ms", "0").unwrap();
        assert_eq!(c.accumulator_config().linger, Duration::ZERO);
    }

    #[test]
    fn errors_name_the_key() {
        let mut c = ProducerConfig::default();
        let cases = [
            ("acks", "2"),
            ("batch.size", "-1"),
            ("batch.size", "lots"),
            ("buffer.memory", "99999999999"),
            ("compression.type", "brotli"),
            ("max.request.size", "0"),
            ("retries", "-5"),
            ("max.in.flight.requests.per.connection", "0"),
            ("enable.idempotence", "yes"),
            ("bootstrap.servers", "localhost"),
            ("bootstrap.servers", "host:99999"),
            ("bootstrap.servers", ":9092"),
            ("partitioner.class", "com.example.MyPartitioner"),
            ("linger.ms", "4294967296"),
        ];
        for (key, value) in cases {
            let e = c.set(key, value).unwrap_err();
            assert!(
                matches!(&e, ConfigError::InvalidValue { key: k, .. } if *k == key),
                "{e:?}"
            );
            assert!(e.to_string().contains(key), "{e}");
        }
        assert_eq!(c, ProducerConfig::default(), "failed sets change nothing");
        assert_eq!(
            c.set("fetch.min.bytes", "1"),
            Err(ConfigError::UnknownKey("fetch.min.bytes".into()))
        );
    }

    #[test]
    fn get_round_trips_every_key() {
        let mut c = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1,g:2"),
            ("client.id", "me"),
            ("acks", "1"),
            ("compression.type", "zstd"),
            ("partitioner.class", "uniform_sticky"),
            ("partitioner.ignore.keys", "true"),
            ("retries", "3"),
        ])
        .unwrap();
        let before = c.clone();
        for key in PRODUCER_CONFIG_KEYS {
            let v = c.get(key).unwrap_or_else(|| panic!("{key}"));
            c.set(key, &v).unwrap_or_else(|e| panic!("{key}={v}: {e}"));
        }
        // Setting enable.idempotence made it explicit; everything else is equal.
        assert_eq!(
            c.get("enable.idempotence"),
            before.get("enable.idempotence")
        );
        for key in PRODUCER_CONFIG_KEYS {
            assert_eq!(c.get(key), before.get(key), "{key}");
        }
        assert_eq!(c.get("nope"), None);
    }

    #[test]
    fn idempotence_rules() {
        // Only the default: conflicting settings turn idempotence off.
        for (k, v) in [
            ("acks", "1"),
            ("acks", "0"),
            ("retries", "0"),
            ("max.in.flight.requests.per.connection", "6"),
        ] {
            let c = ProducerConfig::from_properties([(k, v)])
                .unwrap()
                .validated()
                .unwrap();
            assert!(!c.enable_idempotence, "{k}={v}");
        }
        // Explicit: an error naming the conflicting key.
        for (k, v) in [
            ("acks", "1"),
            ("retries", "0"),
            ("max.in.flight.requests.per.connection", "6"),
        ] {
            let e = ProducerConfig::from_properties([("enable.idempotence", "true"), (k, v)])
                .unwrap()
                .validated()
                .unwrap_err();
            assert!(
                matches!(&e, ConfigError::Conflict { key, .. } if *key == k),
                "{e:?}"
            );
            assert!(e.to_string().contains("idempotence"), "{e}");
        }
        // Within the limits it stays on.
        let c = ProducerConfig::from_properties([
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "5"),
            ("retries", "1"),
        ])
        .unwrap()
        .validated()
        .unwrap();
        assert!(c.enable_idempotence);
        // Explicitly off: anything goes.
        let c = ProducerConfig::from_properties([
            ("enable.idempotence", "false"),
            ("acks", "0"),
            ("max.in.flight.requests.per.connection", "100"),
        ])
        .unwrap()
        .validated()
        .unwrap();
        assert!(!c.enable_idempotence);
    }

    #[test]
    fn delivery_timeout_covers_linger_and_request_timeout() {
        let e = ProducerConfig::from_properties([("delivery.timeout.ms", "30004")])
            .unwrap()
            .validated()
            .unwrap_err();
        assert!(matches!(
            e,
            ConfigError::Conflict {
                key: "delivery.timeout.ms",
                ..
            }
        ));
        ProducerConfig::from_properties([("delivery.timeout.ms", "30005")])
            .unwrap()
            .validated()
            .unwrap();
    }
}
