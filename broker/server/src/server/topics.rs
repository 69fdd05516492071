//! The topic registry: names, topic ids, partition counts and per-topic config overrides,
//! persisted in `<data dir>/topics.json` (replaced atomically) until the controller quorum
//! of the replication issue holds cluster metadata.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::errors::ErrorCode;
use crate::log::{
    valid_topic_name, Log, LogConfig, LogManager, OsStorage, Storage, TopicPartition,
};

/// One topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    /// The topic id (a random UUID), as Fetch v13+ and Metadata v10+ use it.
    pub id: [u8; 16],
    pub partitions: i32,
    /// Topic-level config overrides (`retention.ms`, `cleanup.policy`, ...).
    pub configs: BTreeMap<String, String>,
}

/// Where a config value comes from: DescribeConfigs' `ConfigSource` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigSource {
    DynamicTopic = 1,
    StaticBroker = 4,
    Default = 5,
}

/// One topic config key and its effective value.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: String,
    pub source: ConfigSource,
}

/// A topic creation that was refused, with Kafka's error code and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicError {
    pub code: ErrorCode,
    pub message: String,
}

impl TopicError {
    /// The `(error_code, error_message)` pair of a response entry for this outcome.
    pub fn wire_fields(outcome: Result<(), TopicError>) -> (i16, Option<String>) {
        match outcome {
            Ok(()) => (ErrorCode::None.code(), None),
            Err(e) => (e.code.code(), Some(e.message)),
        }
    }

    pub fn new(code: ErrorCode, message: impl Into<String>) -> TopicError {
        TopicError {
            code,
            message: message.into(),
        }
    }
}

/// Internal topics keep their partitions: group placement depends on the count.
fn refuse_internal(name: &str) -> Result<(), TopicError> {
    if is_internal(name) {
        return Err(TopicError::new(
            ErrorCode::InvalidRequest,
            format!("`{name}` is an internal topic of the broker"),
        ));
    }
    Ok(())
}

/// Whether `name` is one of the broker's internal topics.
pub fn is_internal(name: &str) -> bool {
    name == crate::server::group::OFFSETS_TOPIC
}

#[derive(Debug)]
pub struct Topics {
    path: PathBuf,
    logs: Arc<LogManager>,
    defaults: LogConfig,
    topics: RwLock<BTreeMap<String, TopicMeta>>,
    /// One writer of `topics.json` at a time: two topics created at once used to race
    /// on the one temporary file (the second rename found it gone: KAFKA_STORAGE_ERROR).
    persisting: std::sync::Mutex<()>,
}

impl Topics {
    /// Loads the registry and applies each topic's configs to its (already open) logs.
    /// Partition directories that the registry does not know (a registry lost with its
    /// disk) are adopted as topics with default configs.
    pub fn open(logs: Arc<LogManager>, defaults: LogConfig) -> Result<Topics, String> {
        let path = logs.data_dir().join("topics.json");
        let mut topics: BTreeMap<String, TopicMeta> = BTreeMap::new();
        if path.exists() {
            let bytes = OsStorage
                .read_file(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let list: Vec<TopicMeta> = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is not a valid topic registry: {e}", path.display()))?;
            topics = list.into_iter().map(|t| (t.name.clone(), t)).collect();
        }
        let on_disk = logs
            .logs()
            .into_iter()
            .map(|(tp, _)| tp)
            .chain(logs.offline().into_iter().map(|(tp, _)| tp));
        for tp in on_disk {
            let entry = topics.entry(tp.topic.clone()).or_insert_with(|| TopicMeta {
                name: tp.topic.clone(),
                id: *uuid::Uuid::new_v4().as_bytes(),
                partitions: 0,
                configs: BTreeMap::new(),
            });
            entry.partitions = entry.partitions.max(tp.partition + 1);
        }
        let registry = Topics {
            path,
            logs,
            defaults,
            topics: RwLock::new(topics),
            persisting: std::sync::Mutex::new(()),
        };
        for meta in registry.all() {
            let config = registry
                .log_config(&meta.configs)
                .map_err(|e| format!("topic {}: {}", meta.name, e.message))?;
            for p in 0..meta.partitions {
                let tp = TopicPartition::new(meta.name.clone(), p);
                match registry.logs.get(&tp) {
                    Some(log) => log.set_config(config.clone()),
                    None if registry.logs.offline().iter().any(|(o, _)| o == &tp) => {}
                    None => {
                        registry
                            .logs
                            .get_or_create(&tp, config.clone())
                            .map_err(|e| format!("{tp}: {e}"))?;
                    }
                }
            }
        }
        registry.persist().map_err(|e| e.message)?;
        Ok(registry)
    }

    /// The effective config of a topic with these overrides.
    pub fn log_config(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig, TopicError> {
        let mut config = self.defaults.clone();
        for (k, v) in overrides {
            config
                .set(k, v)
                .map_err(|e| TopicError::new(ErrorCode::InvalidConfig, e.to_string()))?;
        }
        Ok(config)
    }

    fn persist(&self) -> Result<(), TopicError> {
        // The list is read under the lock, so the last writer writes the latest state.
        let _writing = self.persisting.lock().unwrap_or_else(|e| e.into_inner());
        let list: Vec<TopicMeta> = self.all();
        let json = serde_json::to_vec_pretty(&list)
            .map_err(|e| TopicError::new(ErrorCode::UnknownServerError, e.to_string()))?;
        OsStorage.write_file_atomic(&self.path, &json).map_err(|e| {
            TopicError::new(
                ErrorCode::KafkaStorageError,
                format!("writing {}: {e}", self.path.display()),
            )
        })
    }

    pub fn get(&self, name: &str) -> Option<TopicMeta> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    pub fn by_id(&self, id: &[u8; 16]) -> Option<TopicMeta> {
        let topics = self.topics.read().unwrap_or_else(|e| e.into_inner());
        topics.values().find(|t| &t.id == id).cloned()
    }

    pub fn all(&self) -> Vec<TopicMeta> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The log of a partition, if the topic and partition exist and the log is online.
    pub fn log(&self, topic: &str, partition: i32) -> Option<Log> {
        self.logs.get(&TopicPartition::new(topic, partition))
    }

    /// Creates a topic with `partitions` partitions (`-1`: `num.partitions`) and config
    /// overrides; with `validate_only` only checks. Kafka's rules and error codes.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, Option<String>)],
        default_partitions: i32,
        validate_only: bool,
    ) -> Result<TopicMeta, TopicError> {
        if !valid_topic_name(name) {
            return Err(TopicError::new(
                ErrorCode::InvalidTopicException,
                format!("`{name}` is not a legal topic name: 1 to 249 characters of [a-zA-Z0-9._-], not `.` or `..`"),
            ));
        }
        let partitions = if partitions == -1 {
            default_partitions
        } else {
            partitions
        };
        if partitions < 1 {
            return Err(TopicError::new(
                ErrorCode::InvalidPartitions,
                "the number of partitions must be at least 1",
            ));
        }
        if replication_factor != -1 && replication_factor != 1 {
            return Err(TopicError::new(
                ErrorCode::InvalidReplicationFactor,
                format!(
                    "replication factor {replication_factor} is larger than the 1 available broker"
                ),
            ));
        }
        let mut overrides = BTreeMap::new();
        for (k, v) in configs {
            if let Some(v) = v {
                overrides.insert(k.clone(), v.clone());
            }
        }
        let config = self.log_config(&overrides)?;
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        if topics.contains_key(name) {
            return Err(TopicError::new(
                ErrorCode::TopicAlreadyExists,
                format!("topic `{name}` already exists"),
            ));
        }
        let meta = TopicMeta {
            name: name.to_string(),
            id: *uuid::Uuid::new_v4().as_bytes(),
            partitions,
            configs: overrides,
        };
        if validate_only {
            return Ok(meta);
        }
        for p in 0..partitions {
            self.logs
                .get_or_create(&TopicPartition::new(name, p), config.clone())
                .map_err(|e| TopicError::new(ErrorCode::KafkaStorageError, e.to_string()))?;
        }
        topics.insert(name.to_string(), meta.clone());
        drop(topics);
        self.persist()?;
        Ok(meta)
    }

    /// Deletes a topic: its logs and directories, then its registry entry. Internal topics
    /// (`__consumer_offsets`) cannot be deleted: the coordinator holds their logs.
    pub fn delete(&self, name: &str) -> Result<TopicMeta, TopicError> {
        refuse_internal(name)?;
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let Some(meta) = topics.remove(name) else {
            return Err(TopicError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            ));
        };
        drop(topics);
        // The registry entry goes first, so a crash part-way never leaves a topic whose
        // logs are half gone; leftover directories are adopted back on the next start.
        self.persist()?;
        for p in 0..meta.partitions {
            self.logs
                .delete(&TopicPartition::new(name, p))
                .map_err(|e| TopicError::new(ErrorCode::KafkaStorageError, e.to_string()))?;
        }
        Ok(meta)
    }

    /// Grows a topic to `count` partitions (CreatePartitions); shrinking is refused.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<TopicMeta, TopicError> {
        refuse_internal(name)?;
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let Some(meta) = topics.get(name).cloned() else {
            return Err(TopicError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            ));
        };
        if count <= meta.partitions {
            return Err(TopicError::new(
                ErrorCode::InvalidPartitions,
                format!(
                    "topic `{name}` has {} partitions; the new count must be larger, not {count}",
                    meta.partitions
                ),
            ));
        }
        if validate_only {
            return Ok(TopicMeta {
                partitions: count,
                ..meta
            });
        }
        let config = self.log_config(&meta.configs)?;
        for p in meta.partitions..count {
            self.logs
                .get_or_create(&TopicPartition::new(name, p), config.clone())
                .map_err(|e| TopicError::new(ErrorCode::KafkaStorageError, e.to_string()))?;
        }
        let grown = TopicMeta {
            partitions: count,
            ..meta
        };
        topics.insert(name.to_string(), grown.clone());
        drop(topics);
        self.persist()?;
        Ok(grown)
    }

    /// Replaces a topic's config overrides (validated first) and applies them to its logs.
    pub fn set_configs(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let config = self.log_config(&overrides)?;
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let Some(meta) = topics.get_mut(name) else {
            return Err(TopicError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            ));
        };
        if validate_only {
            return Ok(());
        }
        meta.configs = overrides;
        let partitions = meta.partitions;
        drop(topics);
        self.persist()?;
        for p in 0..partitions {
            if let Some(log) = self.log(name, p) {
                log.set_config(config.clone());
            }
        }
        Ok(())
    }

    /// Every topic config key with its effective value and where it comes from, as
    /// DescribeConfigs and CreateTopics report them.
    pub fn effective_configs(&self, overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
        let kafka_defaults = LogConfig::default().to_map();
        let broker = self.defaults.to_map();
        let effective = self
            .log_config(overrides)
            .unwrap_or_else(|_| self.defaults.clone())
            .to_map();
        effective
            .into_iter()
            .map(|(name, value)| ConfigEntry {
                name,
                source: if overrides.contains_key(name) {
                    ConfigSource::DynamicTopic
                } else if broker.get(name) != kafka_defaults.get(name) {
                    ConfigSource::StaticBroker
                } else {
                    ConfigSource::Default
                },
                value,
            })
            .collect()
    }

    /// The broker-level defaults topics start from.
    pub fn defaults(&self) -> &LogConfig {
        &self.defaults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_created_at_once_are_all_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(LogManager::open(dir.path(), LogConfig::default()).unwrap());
        let topics = Arc::new(Topics::open(logs, LogConfig::default()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let topics = topics.clone();
                std::thread::spawn(move || {
                    for i in 0..5 {
                        topics
                            .create(&format!("t{t}-{i}"), 1, -1, &[], 1, false)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Every create succeeded (none hit a vanished temporary file), and the registry
        // on disk lists every topic (reopening would adopt unlisted directories, so the
        // file itself is read).
        let text = std::fs::read(dir.path().join("topics.json")).unwrap();
        let listed: Vec<TopicMeta> = serde_json::from_slice(&text).unwrap();
        assert_eq!(listed.len(), 40);
    }
}
