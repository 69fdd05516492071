//! Per-log configuration, with Kafka's topic-level key names and defaults.

use std::collections::BTreeMap;

use brook_protocol::record::TimestampType;

/// What happens to old data: Kafka's `cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// `delete`: whole closed segments are deleted by `retention.ms` and `retention.bytes`.
    pub delete: bool,
    /// `compact`: the latest record per key is kept.
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };

    /// Parses Kafka's list form: `delete`, `compact`, `compact,delete` (any order, spaces allowed).
    pub fn parse(value: &str) -> Result<CleanupPolicy, ConfigError> {
        let mut policy = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for part in value.split(',').map(str::trim) {
            match part {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                _ => {
                    return Err(ConfigError::invalid(
                        "cleanup.policy",
                        value,
                        "expected delete, compact or compact,delete",
                    ))
                }
            }
        }
        if !policy.delete && !policy.compact {
            return Err(ConfigError::invalid(
                "cleanup.policy",
                value,
                "expected delete, compact or compact,delete",
            ));
        }
        Ok(policy)
    }

    pub fn as_kafka_str(&self) -> &'static str {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        }
    }
}

/// A configuration value that failed validation; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown log config key `{0}`")]
    UnknownKey(String),
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

impl ConfigError {
    fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The settings of one partition log. Field names follow Kafka's topic configs; the defaults
/// are Kafka's (`LogConfig::default()`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment when the next batch would make it larger.
    /// Default 1 GiB.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment when its first batch is older than this.
    /// Default 7 days.
    pub segment_ms: i64,
    /// `index.interval.bytes`: add an offset-index entry after at least this many log bytes.
    /// Default 4096.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete closed segments whose newest record is older than this;
    /// -1 keeps them forever. Default 7 days.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest closed segments while the log is larger than
    /// this; -1 means no size limit (the default).
    pub retention_bytes: i64,
    /// `cleanup.policy`. Default `delete`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long a tombstone survives after its batch was first
    /// compacted. Default 1 day.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: compact only when this share of the cleanable bytes has
    /// not been compacted yet. Default 0.5.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: a segment whose newest record is younger than this is not
    /// compacted yet. Default 0.
    pub min_compaction_lag_ms: i64,
    /// `max.message.bytes`: the largest batch accepted. Default 1 MiB + 12 bytes, as Kafka.
    pub max_message_bytes: u64,
    /// `flush.messages`: fsync after this many appended records; `i64::MAX` (the default)
    /// leaves flushing to the OS, as Kafka does.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the last flush is older than this; `i64::MAX` by default.
    pub flush_ms: i64,
    /// `message.timestamp.type`: `CreateTime` (the default) keeps producers' timestamps;
    /// `LogAppendTime` stamps each batch with the broker's time on append.
    pub message_timestamp_type: TimestampType,
    /// `min.insync.replicas`: an `acks=all` produce needs this many in-sync replicas, or it
    /// is refused with NOT_ENOUGH_REPLICAS. One node is one replica. Default 1.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable`: whether the controller may make a replica that is
    /// not in sync the leader when no in-sync replica is live (accepting the loss of what
    /// only the old leader had). Default false. Only the topic-level setting counts: the
    /// controller's elections read the topic's configs from the metadata log, the same on
    /// every node.
    pub unclean_leader_election_enable: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::DELETE,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_message_bytes: 1024 * 1024 + 12,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            message_timestamp_type: TimestampType::CreateTime,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
        }
    }
}

/// The topic-level keys `LogConfig` understands.
pub const LOG_CONFIG_KEYS: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "index.interval.bytes",
    "retention.ms",
    "retention.bytes",
    "cleanup.policy",
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "max.message.bytes",
    "flush.messages",
    "flush.ms",
    "message.timestamp.type",
    "min.insync.replicas",
    "unclean.leader.election.enable",
];

impl LogConfig {
    /// Sets one key from its string form, validating it. Errors name the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        fn int(key: &str, value: &str, min: i64) -> Result<i64, ConfigError> {
            let v: i64 = value
                .trim()
                .parse()
                .map_err(|_| ConfigError::invalid(key, value, "not an integer"))?;
            if v < min {
                return Err(ConfigError::invalid(
                    key,
                    value,
                    &format!("must be at least {min}"),
                ));
            }
            Ok(v)
        }
        // Segment positions are 32-bit in the index files, as in Kafka.
        fn int32(key: &str, value: &str, min: i64) -> Result<i64, ConfigError> {
            let v = int(key, value, min)?;
            if v > i64::from(i32::MAX) {
                return Err(ConfigError::invalid(
                    key,
                    value,
                    &format!("must be at most {}", i32::MAX),
                ));
            }
            Ok(v)
        }
        match key {
            "segment.bytes" => self.segment_bytes = int32(key, value, 14)? as u64,
            "segment.ms" => self.segment_ms = int(key, value, 1)?,
            "index.interval.bytes" => self.index_interval_bytes = int32(key, value, 0)? as u64,
            "retention.ms" => self.retention_ms = int(key, value, -1)?,
            "retention.bytes" => self.retention_bytes = int(key, value, -1)?,
            "cleanup.policy" => self.cleanup_policy = CleanupPolicy::parse(value)?,
            "delete.retention.ms" => self.delete_retention_ms = int(key, value, 0)?,
            "min.cleanable.dirty.ratio" => {
                let v: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::invalid(key, value, "not a number"))?;
                if !(0.0..=1.0).contains(&v) {
                    return Err(ConfigError::invalid(key, value, "must be between 0 and 1"));
                }
                self.min_cleanable_dirty_ratio = v;
            }
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = int(key, value, 0)?,
            "max.message.bytes" => self.max_message_bytes = int32(key, value, 0)? as u64,
            "flush.messages" => self.flush_messages = int(key, value, 1)?,
            "flush.ms" => self.flush_ms = int(key, value, 0)?,
            "min.insync.replicas" => self.min_insync_replicas = int32(key, value, 1)? as i32,
            "unclean.leader.election.enable" => {
                self.unclean_leader_election_enable = match value.trim() {
                    v if v.eq_ignore_ascii_case("true") => true,
                    v if v.eq_ignore_ascii_case("false") => false,
                    _ => return Err(ConfigError::invalid(key, value, "expected true or false")),
                }
            }
            "message.timestamp.type" => {
                self.message_timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(ConfigError::invalid(
                            key,
                            value,
                            "expected CreateTime or LogAppendTime",
                        ))
                    }
                }
            }
            _ => return Err(ConfigError::UnknownKey(key.to_string())),
        }
        Ok(())
    }

    /// Builds a config from defaults overridden by `overrides`.
    pub fn from_overrides<'a>(
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LogConfig, ConfigError> {
        let mut config = LogConfig::default();
        for (k, v) in overrides {
            config.set(k, v)?;
        }
        Ok(config)
    }

    /// Every key with its current value in Kafka's string form.
    pub fn to_map(&self) -> BTreeMap<&'static str, String> {
        let mut m = BTreeMap::new();
        m.insert("segment.bytes", self.segment_bytes.to_string());
        m.insert("segment.ms", self.segment_ms.to_string());
        m.insert(
            "index.interval.bytes",
            self.index_interval_bytes.to_string(),
        );
        m.insert("retention.ms", self.retention_ms.to_string());
        m.insert("retention.bytes", self.retention_bytes.to_string());
        m.insert(
            "cleanup.policy",
            self.cleanup_policy.as_kafka_str().to_string(),
        );
        m.insert("delete.retention.ms", self.delete_retention_ms.to_string());
        m.insert(
            "min.cleanable.dirty.ratio",
            self.min_cleanable_dirty_ratio.to_string(),
        );
        m.insert(
            "min.compaction.lag.ms",
            self.min_compaction_lag_ms.to_string(),
        );
        m.insert("max.message.bytes", self.max_message_bytes.to_string());
        m.insert("flush.messages", self.flush_messages.to_string());
        m.insert("flush.ms", self.flush_ms.to_string());
        m.insert("min.insync.replicas", self.min_insync_replicas.to_string());
        m.insert(
            "unclean.leader.election.enable",
            self.unclean_leader_election_enable.to_string(),
        );
        m.insert(
            "message.timestamp.type",
            match self.message_timestamp_type {
                TimestampType::CreateTime => "CreateTime",
                TimestampType::LogAppendTime => "LogAppendTime",
            }
            .to_string(),
        );
        m
    }
}

/// Maps a broker-level default (`server.properties` name, e.g. `log.retention.ms`) to the
/// topic-level key it provides the default for, as Kafka does.
pub fn topic_key_for_broker_key(broker_key: &str) -> Option<&'static str> {
    Some(match broker_key {
        "log.segment.bytes" => "segment.bytes",
        "log.roll.ms" => "segment.ms",
        "log.index.interval.bytes" => "index.interval.bytes",
        "log.retention.ms" => "retention.ms",
        "log.retention.bytes" => "retention.bytes",
        "log.cleanup.policy" => "cleanup.policy",
        "log.cleaner.delete.retention.ms" => "delete.retention.ms",
        "log.cleaner.min.cleanable.ratio" => "min.cleanable.dirty.ratio",
        "log.cleaner.min.compaction.lag.ms" => "min.compaction.lag.ms",
        "message.max.bytes" => "max.message.bytes",
        "log.flush.interval.messages" => "flush.messages",
        "log.flush.interval.ms" => "flush.ms",
        "log.message.timestamp.type" => "message.timestamp.type",
        "min.insync.replicas" => "min.insync.replicas",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies() {
        assert_eq!(
            CleanupPolicy::parse("delete").unwrap(),
            CleanupPolicy::DELETE
        );
        assert_eq!(
            CleanupPolicy::parse("compact").unwrap(),
            CleanupPolicy::COMPACT
        );
        let both = CleanupPolicy::parse("delete, compact").unwrap();
        assert!(both.delete && both.compact);
        assert_eq!(both.as_kafka_str(), "compact,delete");
        assert!(CleanupPolicy::parse("shred").is_err());
    }

    #[test]
    fn errors_name_the_key() {
        let mut c = LogConfig::default();
        let err = c.set("segment.bytes", "ten").unwrap_err();
        assert!(err.to_string().contains("segment.bytes"), "{err}");
        let err = c.set("retention.ms", "-2").unwrap_err();
        assert!(err.to_string().contains("retention.ms"), "{err}");
        let err = c.set("no.such.key", "1").unwrap_err();
        assert_eq!(err, ConfigError::UnknownKey("no.such.key".into()));
        assert!(c.set("segment.bytes", "4294967296").is_err());
        c.set("segment.bytes", "1048576").unwrap();
        assert_eq!(c.segment_bytes, 1 << 20);
    }

    #[test]
    fn map_round_trips_through_set() {
        let mut c = LogConfig::default();
        c.set("cleanup.policy", "compact,delete").unwrap();
        c.set("retention.bytes", "12345").unwrap();
        c.set("message.timestamp.type", "LogAppendTime").unwrap();
        assert!(c.set("message.timestamp.type", "WallClock").is_err());
        assert!(!c.unclean_leader_election_enable, "off by default");
        c.set("unclean.leader.election.enable", "TRUE").unwrap();
        assert!(c.unclean_leader_election_enable);
        let err = c.set("unclean.leader.election.enable", "yes").unwrap_err();
        assert!(
            err.to_string().contains("unclean.leader.election.enable"),
            "{err}"
        );
        let map = c.to_map();
        assert_eq!(map["unclean.leader.election.enable"], "true");
        assert_eq!(map.len(), LOG_CONFIG_KEYS.len());
        let back = LogConfig::from_overrides(map.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, c);
    }
}
