//! The topic registry: names, topic ids, partition counts and per-topic config overrides.
//! The controller quorum's metadata image is the source of truth: changes are proposed to
//! it (through the [`MetadataBackend`] the broker installs) and this registry mirrors the
//! applied image ([`Topics::replace_all`]). A data directory from before replication
//! (`topics.json`) is read once, for the broker to import into the metadata log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::assignment::{assign_replicas, BrokerInfo};
use super::controller::image::{ClusterImage, CommandResult, MetadataCommand};
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
    /// Topics found in a `topics.json` (or as bare directories) of a data directory from
    /// before replication, for the broker to import.
    legacy: std::sync::Mutex<Vec<TopicMeta>>,
    backend: std::sync::OnceLock<Arc<dyn MetadataBackend>>,
}

/// Where topic changes go: the controller quorum, and the local replicas after it.
pub trait MetadataBackend: Send + Sync + std::fmt::Debug {
    /// Commits a metadata change (waiting until it is applied here).
    fn propose(&self, command: MetadataCommand) -> Result<CommandResult, String>;
    /// The latest applied image.
    fn image(&self) -> Arc<ClusterImage>;
    /// Brings the local replicas (and this registry) up to the applied image.
    fn after_change(&self);
    /// `default.replication.factor`.
    fn default_replication_factor(&self) -> i16;
}

impl Topics {
    /// Opens an empty registry over `logs`. The topics of an older data directory
    /// (`topics.json`, and partition directories it does not list) are kept aside for
    /// [`Topics::take_legacy`].
    pub fn open(logs: Arc<LogManager>, defaults: LogConfig) -> Result<Topics, String> {
        let path = logs.data_dir().join("topics.json");
        let mut legacy: BTreeMap<String, TopicMeta> = BTreeMap::new();
        if path.exists() {
            let bytes = OsStorage
                .read_file(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let list: Vec<TopicMeta> = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is not a valid topic registry: {e}", path.display()))?;
            legacy = list.into_iter().map(|t| (t.name.clone(), t)).collect();
            let on_disk = logs
                .logs()
                .into_iter()
                .map(|(tp, _)| tp)
                .chain(logs.offline().into_iter().map(|(tp, _)| tp));
            for tp in on_disk {
                let entry = legacy.entry(tp.topic.clone()).or_insert_with(|| TopicMeta {
                    name: tp.topic.clone(),
                    id: *uuid::Uuid::new_v4().as_bytes(),
                    partitions: 0,
                    configs: BTreeMap::new(),
                });
                entry.partitions = entry.partitions.max(tp.partition + 1);
            }
        }
        Ok(Topics {
            path,
            logs,
            defaults,
            topics: RwLock::new(BTreeMap::new()),
            legacy: std::sync::Mutex::new(legacy.into_values().collect()),
            backend: std::sync::OnceLock::new(),
        })
    }

    /// Installs where changes go (once, by the broker).
    pub fn set_backend(&self, backend: Arc<dyn MetadataBackend>) {
        let _ = self.backend.set(backend);
    }

    fn backend(&self) -> Result<&Arc<dyn MetadataBackend>, TopicError> {
        self.backend.get().ok_or_else(|| {
            TopicError::new(
                ErrorCode::UnknownServerError,
                "the controller is not running",
            )
        })
    }

    /// The topics of a pre-replication data directory, once; `topics.json` is renamed
    /// to `topics.json.imported` by [`Topics::legacy_imported`].
    pub fn take_legacy(&self) -> Vec<TopicMeta> {
        std::mem::take(&mut *self.legacy.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Marks the pre-replication registry as imported.
    pub fn legacy_imported(&self) -> std::io::Result<()> {
        if self.path.exists() {
            std::fs::rename(&self.path, self.path.with_extension("json.imported"))?;
        }
        Ok(())
    }

    /// How many brokers are registered and not fenced.
    pub fn live_brokers(&self) -> usize {
        self.backend
            .get()
            .map_or(1, |b| b.image().live_brokers().count())
    }

    /// Replaces the registry with the applied image's topics.
    pub fn replace_all(&self, list: Vec<TopicMeta>) {
        let map = list.into_iter().map(|t| (t.name.clone(), t)).collect();
        *self.topics.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    fn propose(&self, command: MetadataCommand) -> Result<CommandResult, TopicError> {
        let backend = self.backend()?;
        let result = backend
            .propose(command)
            .map_err(|e| TopicError::new(ErrorCode::RequestTimedOut, e))?;
        backend.after_change();
        match result {
            CommandResult::Refused { code, message } => {
                Err(TopicError::new(ErrorCode::from_code(code), message))
            }
            other => Ok(other),
        }
    }

    /// A replica assignment over the live brokers, as Kafka's (start and shift from the
    /// topic name, so that topics spread their leaders).
    fn assign(
        &self,
        name: &str,
        first: i32,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<Vec<Vec<i32>>, TopicError> {
        let backend = self.backend()?;
        let image = backend.image();
        let factor = if replication_factor == -1 {
            backend.default_replication_factor()
        } else {
            replication_factor
        };
        let brokers: Vec<BrokerInfo> = image
            .live_brokers()
            .map(|b| BrokerInfo::new(b.id, b.rack.as_deref()))
            .collect();
        let seed = crate::server::group::java_string_hash(name).unsigned_abs() as usize;
        let n = brokers.len().max(1);
        let all = assign_replicas(&brokers, first + partitions, factor, seed % n, seed / n % n)
            .map_err(|e| TopicError::new(ErrorCode::InvalidReplicationFactor, e.to_string()))?;
        Ok(all.into_iter().skip(first as usize).collect())
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

    pub fn get(&self, name: &str) -> Option<TopicMeta> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Whether `name` exists and an append to it only writes to the page cache: its
    /// `flush.messages` (the topic's own or the broker's default) asks for no fsync on
    /// append.
    pub fn appends_are_buffered(&self, name: &str) -> bool {
        let topics = self.topics.read().unwrap_or_else(|e| e.into_inner());
        let Some(t) = topics.get(name) else {
            return false;
        };
        match t.configs.get("flush.messages") {
            Some(v) => v.trim().parse::<i64>() == Ok(i64::MAX),
            None => self.defaults.flush_messages == i64::MAX,
        }
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
        if replication_factor == 0 || replication_factor < -1 {
            return Err(TopicError::new(
                ErrorCode::InvalidReplicationFactor,
                format!("replication factor {replication_factor} is not valid"),
            ));
        }
        let mut overrides = BTreeMap::new();
        for (k, v) in configs {
            if let Some(v) = v {
                overrides.insert(k.clone(), v.clone());
            }
        }
        self.log_config(&overrides)?;
        if self.get(name).is_some() {
            return Err(TopicError::new(
                ErrorCode::TopicAlreadyExists,
                format!("topic `{name}` already exists"),
            ));
        }
        let assignment = self.assign(name, 0, partitions, replication_factor)?;
        let meta = TopicMeta {
            name: name.to_string(),
            id: *uuid::Uuid::new_v4().as_bytes(),
            partitions,
            configs: overrides,
        };
        if validate_only {
            return Ok(meta);
        }
        self.create_assigned(&meta, assignment)?;
        Ok(meta)
    }

    /// Commits a topic with this assignment (the broker's import of old topics, and
    /// [`Topics::create`]).
    pub fn create_assigned(
        &self,
        meta: &TopicMeta,
        assignment: Vec<Vec<i32>>,
    ) -> Result<(), TopicError> {
        self.propose(MetadataCommand::CreateTopic {
            name: meta.name.clone(),
            id: meta.id,
            configs: meta.configs.clone(),
            assignment,
        })
        .map(|_| ())
    }

    /// Deletes a topic: its logs and directories, then its registry entry. Internal topics
    /// (`__consumer_offsets`) cannot be deleted: the coordinator holds their logs.
    pub fn delete(&self, name: &str) -> Result<TopicMeta, TopicError> {
        refuse_internal(name)?;
        let Some(meta) = self.get(name) else {
            return Err(TopicError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            ));
        };
        // Every replica deletes its logs when it applies the change.
        self.propose(MetadataCommand::DeleteTopic {
            name: name.to_string(),
        })?;
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
        let Some(meta) = self.get(name) else {
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
        let assignment = self.assign(name, meta.partitions, count - meta.partitions, -1)?;
        // New partitions take the replication factor of the first one.
        let factor = self
            .backend()?
            .image()
            .partition(name, 0)
            .map_or(1, |p| p.replicas.len());
        let assignment = if assignment.first().is_some_and(|a| a.len() != factor) {
            self.assign(
                name,
                meta.partitions,
                count - meta.partitions,
                factor as i16,
            )?
        } else {
            assignment
        };
        self.propose(MetadataCommand::CreatePartitions {
            name: name.to_string(),
            assignment,
        })?;
        Ok(TopicMeta {
            partitions: count,
            ..meta
        })
    }

    /// Replaces a topic's config overrides (validated first) and applies them to its logs.
    pub fn set_configs(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        self.log_config(&overrides)?;
        if self.get(name).is_none() {
            return Err(TopicError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            ));
        }
        if validate_only {
            return Ok(());
        }
        // Each replica applies the new config to its logs when it reconciles.
        self.propose(MetadataCommand::SetTopicConfigs {
            name: name.to_string(),
            configs: overrides,
        })
        .map(|_| ())
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
