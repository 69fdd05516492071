//! [`Admin`]: Kafka's admin operations over a [`Cluster`]: topics, partitions, configs,
//! offsets, consumer groups and their lag, record deletion.
//!
//! A call fails as a whole ([`ClientError`]) only when no answer could be had; errors a
//! broker reports for one topic, partition, resource or group are values in the result map
//! (`Result<_, KafkaError>` per key), as in Kafka's `AdminClient`. Requests that must reach a
//! partition leader are grouped by leader, and partitions whose metadata turned out stale
//! (NOT_LEADER_OR_FOLLOWER, ...) are retried after a refresh.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use brook_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use brook_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use brook_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use brook_protocol::messages::delete_topics_request::DeleteTopicState;
use brook_protocol::messages::describe_configs_request::DescribeConfigsResource;
use brook_protocol::messages::elect_leaders_request::TopicPartitions as ElectTopicPartitions;
use brook_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use brook_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use brook_protocol::messages::*;

use crate::cluster::{Cluster, Metadata, TopicMetadata};
use crate::error::{ClientError, ErrorCode, KafkaError};
use crate::tcp::{TcpConfig, TcpConnector};
use crate::transport::Connector;

/// A topic and a partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Settings of the admin client.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// The connection settings (`client.id`, `request.timeout.ms`, ...).
    pub tcp: TcpConfig,
    /// `default.api.timeout.ms`-like: the timeout the broker is given for topic operations
    /// (`timeout_ms` of CreateTopics, DeleteTopics, ...). Default 30 s.
    pub operation_timeout: Duration,
    /// `retry.backoff.ms`: the pause before retrying after stale metadata. Default 100 ms.
    pub retry_backoff: Duration,
    /// `retries` for stale metadata. Default 3.
    pub retries: u32,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            tcp: TcpConfig::default(),
            operation_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
            retries: 3,
        }
    }
}

/// Which leader [`Admin::elect_leaders`] elects (Kafka's `ElectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// The partition's first replica, if it is live and in sync.
    Preferred,
    /// For a partition without a leader: any live replica, in sync or not.
    Unclean,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    /// -1 for the broker's `num.partitions`.
    pub num_partitions: i32,
    /// -1 for the broker's `default.replication.factor`.
    pub replication_factor: i16,
    /// Topic configs by Kafka name (`cleanup.policy`, `retention.ms`, ...).
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, num_partitions: i32, replication_factor: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            num_partitions,
            replication_factor,
            configs: BTreeMap::new(),
        }
    }

    /// Adds one topic config.
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> NewTopic {
        self.configs.insert(name.into(), value.into());
        self
    }
}

/// What CreateTopics reported for a created (or validated) topic.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedTopic {
    pub topic_id: Uuid,
    /// -1 when the broker did not say (CreateTopics before v5).
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// The topic's configs (CreateTopics v5+; empty before).
    pub configs: Vec<ConfigEntry>,
}

/// Where a config value comes from, Kafka's `ConfigEntry.ConfigSource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    Unknown,
    DynamicTopicConfig,
    DynamicBrokerConfig,
    DynamicDefaultBrokerConfig,
    StaticBrokerConfig,
    DefaultConfig,
    DynamicBrokerLoggerConfig,
    ClientMetricsConfig,
    GroupConfig,
}

impl ConfigSource {
    pub fn from_id(id: i8) -> ConfigSource {
        match id {
            1 => ConfigSource::DynamicTopicConfig,
            2 => ConfigSource::DynamicBrokerConfig,
            3 => ConfigSource::DynamicDefaultBrokerConfig,
            4 => ConfigSource::StaticBrokerConfig,
            5 => ConfigSource::DefaultConfig,
            6 => ConfigSource::DynamicBrokerLoggerConfig,
            7 => ConfigSource::ClientMetricsConfig,
            8 => ConfigSource::GroupConfig,
            _ => ConfigSource::Unknown,
        }
    }

    /// Kafka's name, e.g. `DYNAMIC_TOPIC_CONFIG`.
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::Unknown => "UNKNOWN",
            ConfigSource::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
            ConfigSource::ClientMetricsConfig => "CLIENT_METRICS_CONFIG",
            ConfigSource::GroupConfig => "GROUP_CONFIG",
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One config of a topic or broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for sensitive or unset values.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub is_sensitive: bool,
    /// `(name, value, source)` of the values this one overrides (DescribeConfigs with
    /// synonyms), most specific first.
    pub synonyms: Vec<(String, Option<String>, ConfigSource)>,
}

impl ConfigEntry {
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::DefaultConfig
    }
}

/// A resource with configs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    Topic(String),
    /// A broker by node id.
    Broker(i32),
}

impl ConfigResource {
    fn type_id(&self) -> i8 {
        match self {
            ConfigResource::Topic(_) => 2,
            ConfigResource::Broker(_) => 4,
        }
    }

    fn name(&self) -> String {
        match self {
            ConfigResource::Topic(t) => t.clone(),
            ConfigResource::Broker(id) => id.to_string(),
        }
    }
}

/// One change of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// `SET` the config to a value.
    Set(String, String),
    /// `DELETE` the override, reverting to the default.
    Delete(String),
    /// `APPEND` to a list config.
    Append(String, String),
    /// `SUBTRACT` from a list config.
    Subtract(String, String),
}

impl AlterConfigOp {
    fn to_wire(&self) -> AlterableConfig {
        let (name, op, value) = match self {
            AlterConfigOp::Set(n, v) => (n, 0, Some(v.clone())),
            AlterConfigOp::Delete(n) => (n, 1, None),
            AlterConfigOp::Append(n, v) => (n, 2, Some(v.clone())),
            AlterConfigOp::Subtract(n, v) => (n, 3, Some(v.clone())),
        };
        AlterableConfig {
            name: name.clone(),
            config_operation: op,
            value,
        }
    }
}

/// Which offset ListOffsets looks up, Kafka's `OffsetSpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the high watermark).
    Latest,
    /// The first offset with a timestamp at or after this one (ms since the epoch).
    Timestamp(i64),
    /// The offset of the record with the largest timestamp (ListOffsets v7+).
    MaxTimestamp,
}

impl OffsetSpec {
    fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// An offset ListOffsets found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// -1 when no record matches a timestamp lookup.
    pub offset: i64,
    /// -1 when unknown.
    pub timestamp: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// `"consumer"` for consumer groups, `""` for others.
    pub protocol_type: String,
    /// Kafka's state name (`Stable`, `Empty`, ...), `""` if the broker did not say (v4-).
    pub state: String,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The partitions assigned to the member, decoded from the consumer protocol's
    /// assignment (empty for other protocols or an undecodable assignment).
    pub assignment: Vec<TopicPartition>,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// The chosen assignor (`range`, `cooperative-sticky`, ...).
    pub protocol: String,
    pub members: Vec<MemberDescription>,
    /// The coordinator's node id.
    pub coordinator: i32,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// The lag of one partition of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: TopicPartition,
    /// The committed offset, `None` if the group committed none.
    pub committed: Option<i64>,
    /// The partition's log end offset (high watermark).
    pub log_end_offset: i64,
    /// `log_end_offset - committed` (at least 0), `None` without a commit.
    pub lag: Option<i64>,
}

/// The cluster's brokers and controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: Vec<crate::cluster::BrokerInfo>,
}

/// The results of a call, one per key.
pub type Results<K, T> = BTreeMap<K, Result<T, KafkaError>>;

/// Versions the admin client speaks up to (it fills the fields these versions need).
mod max {
    pub const CREATE_TOPICS: i16 = 7;
    pub const DELETE_TOPICS: i16 = 6;
    pub const CREATE_PARTITIONS: i16 = 3;
    pub const DESCRIBE_CONFIGS: i16 = 4;
    pub const INCREMENTAL_ALTER_CONFIGS: i16 = 1;
    pub const LIST_OFFSETS: i16 = 10;
    pub const LIST_GROUPS: i16 = 5;
    pub const DESCRIBE_GROUPS: i16 = 5;
    pub const DELETE_GROUPS: i16 = 2;
    /// v8+ batches groups in another layout; one group per request is enough here.
    pub const OFFSET_FETCH: i16 = 7;
    pub const DELETE_RECORDS: i16 = 2;
    pub const ELECT_LEADERS: i16 = 2;
}

fn timeout_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Whether `e` says the controller node could not be reached (rather than that it refused
/// the request): worth asking the metadata for the current controller and trying there.
fn controller_unreachable(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::Disconnected { .. }
            | ClientError::NoBroker(_)
    ) || e.code() == Some(ErrorCode::NOT_CONTROLLER)
}

/// Kafka's admin client.
#[derive(Debug, Clone)]
pub struct Admin {
    cluster: Arc<Cluster>,
    config: AdminConfig,
}

impl Admin {
    /// Connects over TCP to the cluster of `bootstrap_servers` (`host:port,...`).
    pub async fn connect(
        bootstrap_servers: &str,
        config: AdminConfig,
    ) -> Result<Admin, ClientError> {
        let connector: Arc<dyn Connector> = Arc::new(TcpConnector::new(config.tcp.clone()));
        let cluster = Cluster::connect(bootstrap_servers, connector).await?;
        Ok(Admin::with_cluster(Arc::new(cluster), config))
    }

    /// An admin client over an existing cluster view (any transport).
    pub fn with_cluster(cluster: Arc<Cluster>, config: AdminConfig) -> Admin {
        Admin { cluster, config }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The cluster id, controller and brokers (from Metadata).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, ClientError> {
        let m = self.cluster.refresh().await?;
        Ok(ClusterDescription {
            cluster_id: m.cluster_id.clone(),
            controller_id: m.controller_id,
            brokers: m.brokers.values().cloned().collect(),
        })
    }

    /// Runs `call` on the controller the metadata names. When the controller cannot be
    /// reached (it is stopping, or another node has taken over), the metadata is refreshed
    /// and the call goes to the newly named controller, up to `retries` times, as Kafka's
    /// admin client does. A call whose connection was lost after it was sent is retried
    /// too, so it may see the effect of its first attempt (TOPIC_ALREADY_EXISTS).
    async fn on_controller<T, F, Fut>(&self, mut call: F) -> Result<T, ClientError>
    where
        F: FnMut(Arc<dyn crate::Transport>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut attempt = 0;
        loop {
            let result = match self.cluster.controller().await {
                Ok(controller) => call(controller).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if attempt < self.config.retries && controller_unreachable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(self.config.retry_backoff).await;
                    self.cluster.mark_stale();
                    // A failed refresh is answered by the next attempt's error.
                    let _ = self.cluster.refresh().await;
                }
                r => return r,
            }
        }
    }

    /// Creates topics (or, with `validate_only`, only checks that they could be created).
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<Results<String, CreatedTopic>, ClientError> {
        let req = CreateTopicsRequest {
            topics: topics
                .iter()
                .map(|t| CreatableTopic {
                    name: t.name.clone(),
                    num_partitions: t.num_partitions,
                    replication_factor: t.replication_factor,
                    assignments: Vec::new(),
                    configs: t
                        .configs
                        .iter()
                        .map(|(k, v)| CreatableTopicConfig {
                            name: k.clone(),
                            value: Some(v.clone()),
                        })
                        .collect(),
                })
                .collect(),
            timeout_ms: timeout_ms(self.config.operation_timeout),
            validate_only,
        };
        let (_, r) = self
            .on_controller(|c| {
                let req = req.clone();
                async move { self.cluster.call_on(&c, max::CREATE_TOPICS, req).await }
            })
            .await?;
        self.cluster.mark_stale();
        Ok(r.topics
            .into_iter()
            .map(|t| {
                let result =
                    KafkaError::check(t.error_code, t.error_message.as_deref()).map(|()| {
                        CreatedTopic {
                            topic_id: t.topic_id,
                            num_partitions: t.num_partitions,
                            replication_factor: t.replication_factor,
                            configs: t
                                .configs
                                .unwrap_or_default()
                                .into_iter()
                                .map(|c| ConfigEntry {
                                    name: c.name,
                                    value: c.value,
                                    source: ConfigSource::from_id(c.config_source),
                                    read_only: c.read_only,
                                    is_sensitive: c.is_sensitive,
                                    synonyms: Vec::new(),
                                })
                                .collect(),
                        }
                    });
                (t.name, result)
            })
            .collect())
    }

    /// Deletes topics by name.
    pub async fn delete_topics(&self, names: &[&str]) -> Result<Results<String, ()>, ClientError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let r = self
            .on_controller(|controller| {
                let names = names.clone();
                async move {
                    let version = controller
                        .version_for(DeleteTopicsRequest::API_KEY, max::DELETE_TOPICS)
                        .ok_or(ClientError::UnsupportedVersion {
                            api: "DeleteTopics",
                            api_key: DeleteTopicsRequest::API_KEY,
                        })?;
                    let req = DeleteTopicsRequest {
                        topics: if version >= 6 {
                            names
                                .iter()
                                .map(|n| DeleteTopicState {
                                    name: Some(n.clone()),
                                    topic_id: Uuid::ZERO,
                                })
                                .collect()
                        } else {
                            Vec::new()
                        },
                        topic_names: if version >= 6 { Vec::new() } else { names },
                        timeout_ms: timeout_ms(self.config.operation_timeout),
                    };
                    crate::transport::request_at(&*controller, version, req).await
                }
            })
            .await?;
        self.cluster.mark_stale();
        Ok(r.responses
            .into_iter()
            .map(|t| {
                (
                    t.name.unwrap_or_default(),
                    KafkaError::check(t.error_code, t.error_message.as_deref()),
                )
            })
            .collect())
    }

    /// The names of all topics, sorted; internal topics (`__consumer_offsets`) only if
    /// `include_internal`.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>, ClientError> {
        let m = self.cluster.refresh().await?;
        Ok(m.topics
            .values()
            .filter(|t| include_internal || !t.is_internal)
            .map(|t| t.name.clone())
            .collect())
    }

    /// The metadata of `topics`: partitions, leaders, replicas, ISR, topic id.
    pub async fn describe_topics(
        &self,
        topics: &[&str],
    ) -> Result<Results<String, TopicMetadata>, ClientError> {
        let r = self.cluster.fetch_metadata(Some(topics)).await?;
        let mut out: Results<String, TopicMetadata> = BTreeMap::new();
        for (name, e) in r.errors {
            out.insert(name, Err(e));
        }
        for (name, t) in r.metadata.topics {
            out.insert(name, Ok(t));
        }
        Ok(out)
    }

    /// The cached metadata snapshot (no request).
    pub fn metadata(&self) -> Arc<Metadata> {
        self.cluster.metadata()
    }

    /// Grows topics to the given total partition counts.
    pub async fn create_partitions(
        &self,
        counts: &[(&str, i32)],
        validate_only: bool,
    ) -> Result<Results<String, ()>, ClientError> {
        let req = CreatePartitionsRequest {
            topics: counts
                .iter()
                .map(|(name, count)| CreatePartitionsTopic {
                    name: (*name).to_owned(),
                    count: *count,
                    assignments: None,
                })
                .collect(),
            timeout_ms: timeout_ms(self.config.operation_timeout),
            validate_only,
        };
        let (_, r) = self
            .on_controller(|c| {
                let req = req.clone();
                async move { self.cluster.call_on(&c, max::CREATE_PARTITIONS, req).await }
            })
            .await?;
        self.cluster.mark_stale();
        Ok(r.results
            .into_iter()
            .map(|t| {
                (
                    t.name,
                    KafkaError::check(t.error_code, t.error_message.as_deref()),
                )
            })
            .collect())
    }

    /// The configs of topics and brokers, with their sources and synonyms. Broker configs are
    /// asked of that broker.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
    ) -> Result<Results<ConfigResource, Vec<ConfigEntry>>, ClientError> {
        let mut out = BTreeMap::new();
        // Topic resources in one request to any broker; each broker resource to its node.
        let topics: Vec<&ConfigResource> = resources
            .iter()
            .filter(|r| matches!(r, ConfigResource::Topic(_)))
            .collect();
        if !topics.is_empty() {
            let t = self.cluster.any_transport().await?;
            self.describe_configs_on(&t, &topics, &mut out).await?;
        }
        for r in resources {
            if let ConfigResource::Broker(id) = r {
                let t = self.cluster.transport(*id).await?;
                self.describe_configs_on(&t, &[r], &mut out).await?;
            }
        }
        Ok(out)
    }

    async fn describe_configs_on(
        &self,
        transport: &Arc<dyn crate::Transport>,
        resources: &[&ConfigResource],
        out: &mut Results<ConfigResource, Vec<ConfigEntry>>,
    ) -> Result<(), ClientError> {
        let version = transport
            .version_for(DescribeConfigsRequest::API_KEY, max::DESCRIBE_CONFIGS)
            .ok_or(ClientError::UnsupportedVersion {
                api: "DescribeConfigs",
                api_key: DescribeConfigsRequest::API_KEY,
            })?;
        let req = DescribeConfigsRequest {
            resources: resources
                .iter()
                .map(|r| DescribeConfigsResource {
                    resource_type: r.type_id(),
                    resource_name: r.name(),
                    configuration_keys: None,
                })
                .collect(),
            include_synonyms: version >= 1,
            include_documentation: false,
        };
        let r = crate::transport::request_at(&**transport, version, req).await?;
        for res in r.results {
            let key = resources
                .iter()
                .find(|r| r.type_id() == res.resource_type && r.name() == res.resource_name)
                .map(|r| (*r).clone())
                .unwrap_or_else(|| {
                    if res.resource_type == 4 {
                        ConfigResource::Broker(res.resource_name.parse().unwrap_or(-1))
                    } else {
                        ConfigResource::Topic(res.resource_name.clone())
                    }
                });
            let value = KafkaError::check(res.error_code, res.error_message.as_deref()).map(|()| {
                res.configs
                    .into_iter()
                    .map(|c| ConfigEntry {
                        source: if version == 0 {
                            if c.is_default {
                                ConfigSource::DefaultConfig
                            } else {
                                ConfigSource::Unknown
                            }
                        } else {
                            ConfigSource::from_id(c.config_source)
                        },
                        name: c.name,
                        value: c.value,
                        read_only: c.read_only,
                        is_sensitive: c.is_sensitive,
                        synonyms: c
                            .synonyms
                            .into_iter()
                            .map(|s| (s.name, s.value, ConfigSource::from_id(s.source)))
                            .collect(),
                    })
                    .collect()
            });
            out.insert(key, value);
        }
        Ok(())
    }

    /// Changes configs (IncrementalAlterConfigs: set, delete, append, subtract). Broker
    /// resources go to that broker.
    pub async fn incremental_alter_configs(
        &self,
        changes: &[(ConfigResource, Vec<AlterConfigOp>)],
        validate_only: bool,
    ) -> Result<Results<ConfigResource, ()>, ClientError> {
        let mut out = BTreeMap::new();
        for (resource, ops) in changes {
            let transport = match resource {
                ConfigResource::Topic(_) => self.cluster.any_transport().await?,
                ConfigResource::Broker(id) => self.cluster.transport(*id).await?,
            };
            let req = IncrementalAlterConfigsRequest {
                resources: vec![AlterConfigsResource {
                    resource_type: resource.type_id(),
                    resource_name: resource.name(),
                    configs: ops.iter().map(AlterConfigOp::to_wire).collect(),
                }],
                validate_only,
            };
            let (_, r) = self
                .cluster
                .call_on(&transport, max::INCREMENTAL_ALTER_CONFIGS, req)
                .await?;
            let result = match r.responses.first() {
                Some(x) => KafkaError::check(x.error_code, x.error_message.as_deref()),
                None => Err(KafkaError::new(
                    ErrorCode::UNKNOWN_SERVER_ERROR,
                    Some("no result for the resource".into()),
                )),
            };
            out.insert(resource.clone(), result);
        }
        Ok(out)
    }

    /// Looks up offsets per partition (earliest, latest, by timestamp), at each leader.
    pub async fn list_offsets(
        &self,
        partitions: &[(TopicPartition, OffsetSpec)],
    ) -> Result<Results<TopicPartition, ListedOffset>, ClientError> {
        let specs: BTreeMap<TopicPartition, OffsetSpec> = partitions.iter().cloned().collect();
        self.by_leader(
            specs.keys().cloned().collect(),
            |leader_parts| {
                let specs = &specs;
                async move {
                    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
                    for tp in &leader_parts {
                        topics
                            .entry(&tp.topic)
                            .or_default()
                            .push(ListOffsetsPartition {
                                partition_index: tp.partition,
                                current_leader_epoch: -1,
                                timestamp: specs.get(tp).map_or(-1, |s| s.timestamp()),
                                max_num_offsets: 1,
                            });
                    }
                    let req = ListOffsetsRequest {
                        replica_id: -1,
                        isolation_level: 0,
                        topics: topics
                            .into_iter()
                            .map(|(name, partitions)| ListOffsetsTopic {
                                name: name.to_owned(),
                                partitions,
                            })
                            .collect(),
                        timeout_ms: timeout_ms(self.config.operation_timeout),
                    };
                    Ok(req)
                }
            },
            max::LIST_OFFSETS,
            |version, r: ListOffsetsResponse| {
                let mut out = Vec::new();
                for t in r.topics {
                    for p in t.partitions {
                        let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                        let result = KafkaError::check(p.error_code, None).map(|()| ListedOffset {
                            offset: if version == 0 {
                                p.old_style_offsets.first().copied().unwrap_or(-1)
                            } else {
                                p.offset
                            },
                            timestamp: p.timestamp,
                            leader_epoch: p.leader_epoch,
                        });
                        out.push((tp, result));
                    }
                }
                out
            },
        )
        .await
    }

    /// Elects leaders, as `kafka-leader-election.sh` does: [`ElectionType::Preferred`]
    /// makes each partition's first replica its leader again where it is live and in sync;
    /// [`ElectionType::Unclean`] gives a partition without a leader any live replica, in
    /// sync or not (what that replica lacks is lost). `None` means every partition, and
    /// then the result lists only those an election was due for. Per partition:
    /// ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE or
    /// UNKNOWN_TOPIC_OR_PARTITION where no leader was elected.
    pub async fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Results<TopicPartition, ()>, ClientError> {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions.unwrap_or_default() {
            topics.entry(&tp.topic).or_default().push(tp.partition);
        }
        let topic_partitions: Option<Vec<ElectTopicPartitions>> = partitions.map(|_| {
            topics
                .iter()
                .map(|(topic, partitions)| ElectTopicPartitions {
                    topic: (*topic).to_owned(),
                    partitions: partitions.clone(),
                })
                .collect()
        });
        let r = self
            .on_controller(|controller| {
                let topic_partitions = topic_partitions.clone();
                async move {
                    let version = controller
                        .version_for(ElectLeadersRequest::API_KEY, max::ELECT_LEADERS)
                        .filter(|v| election == ElectionType::Preferred || *v >= 1)
                        .ok_or(ClientError::UnsupportedVersion {
                            api: "ElectLeaders",
                            api_key: ElectLeadersRequest::API_KEY,
                        })?;
                    let req = ElectLeadersRequest {
                        election_type: match election {
                            ElectionType::Preferred => 0,
                            ElectionType::Unclean => 1,
                        },
                        topic_partitions,
                        timeout_ms: timeout_ms(self.config.operation_timeout),
                    };
                    crate::transport::request_at(&*controller, version, req).await
                }
            })
            .await?;
        KafkaError::check(r.error_code, None)?;
        self.cluster.mark_stale();
        let mut out = BTreeMap::new();
        for t in r.replica_election_results {
            for p in t.partition_result {
                out.insert(
                    TopicPartition::new(t.topic.clone(), p.partition_id),
                    KafkaError::check(p.error_code, p.error_message.as_deref()),
                );
            }
        }
        Ok(out)
    }

    /// Deletes the records of each partition below the given offset (-1: the high
    /// watermark); the result is the new log start offset (low watermark).
    pub async fn delete_records(
        &self,
        before: &[(TopicPartition, i64)],
    ) -> Result<Results<TopicPartition, i64>, ClientError> {
        let offsets: BTreeMap<TopicPartition, i64> = before.iter().cloned().collect();
        self.by_leader(
            offsets.keys().cloned().collect(),
            |leader_parts| {
                let offsets = &offsets;
                async move {
                    let mut topics: BTreeMap<&str, Vec<DeleteRecordsPartition>> = BTreeMap::new();
                    for tp in &leader_parts {
                        topics
                            .entry(&tp.topic)
                            .or_default()
                            .push(DeleteRecordsPartition {
                                partition_index: tp.partition,
                                offset: offsets.get(tp).copied().unwrap_or(-1),
                            });
                    }
                    Ok(DeleteRecordsRequest {
                        topics: topics
                            .into_iter()
                            .map(|(name, partitions)| DeleteRecordsTopic {
                                name: name.to_owned(),
                                partitions,
                            })
                            .collect(),
                        timeout_ms: timeout_ms(self.config.operation_timeout),
                    })
                }
            },
            max::DELETE_RECORDS,
            |_, r: DeleteRecordsResponse| {
                let mut out = Vec::new();
                for t in r.topics {
                    for p in t.partitions {
                        let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                        out.push((
                            tp,
                            KafkaError::check(p.error_code, None).map(|()| p.low_watermark),
                        ));
                    }
                }
                out
            },
        )
        .await
    }

    /// Sends one request per partition leader for `partitions`, built by `build` and read by
    /// `read`; partitions whose answer says the metadata is stale are retried after a
    /// refresh, up to `retries` times. Partitions that are unknown or leaderless get an
    /// error value.
    async fn by_leader<R, B, F>(
        &self,
        partitions: Vec<TopicPartition>,
        build: B,
        our_max: i16,
        read: impl Fn(
            i16,
            R::Response,
        ) -> Vec<(TopicPartition, Result<<R as Answer>::Value, KafkaError>)>,
    ) -> Result<Results<TopicPartition, <R as Answer>::Value>, ClientError>
    where
        R: crate::ApiRequest + Answer,
        B: Fn(Vec<TopicPartition>) -> F,
        F: std::future::Future<Output = Result<R, ClientError>>,
    {
        let mut out = BTreeMap::new();
        let mut todo = partitions;
        let mut attempt = 0;
        while !todo.is_empty() {
            let last_attempt = attempt >= self.config.retries;
            let mut groups: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
            let mut retry = Vec::new();
            for tp in todo.drain(..) {
                match self.cluster.leader(&tp.topic, tp.partition).await {
                    Ok(leader) => groups.entry(leader).or_default().push(tp),
                    Err(e) => {
                        let code = match &e {
                            ClientError::NoSuchTopic(_) | ClientError::NoSuchPartition { .. } => {
                                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                            }
                            ClientError::NoBroker(_) => ErrorCode::LEADER_NOT_AVAILABLE,
                            ClientError::Kafka(k) => k.code,
                            _ => return Err(e),
                        };
                        if code.is_retriable()
                            && !last_attempt
                            && code != ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                        {
                            retry.push(tp);
                        } else {
                            out.insert(tp, Err(KafkaError::new(code, Some(e.to_string()))));
                        }
                    }
                }
            }
            for (leader, parts) in groups {
                let req = build(parts.clone()).await?;
                let (version, response) = match self.cluster.call(leader, our_max, req).await {
                    Ok(r) => r,
                    Err(e) if e.is_retriable() && !last_attempt => {
                        self.cluster.mark_stale();
                        retry.extend(parts);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for (tp, result) in read(version, response) {
                    match result {
                        Err(e) if e.code.invalidates_metadata() && !last_attempt => {
                            self.cluster.mark_stale();
                            retry.push(tp);
                        }
                        r => {
                            out.insert(tp, r);
                        }
                    }
                }
            }
            if !retry.is_empty() {
                attempt += 1;
                tokio::time::sleep(self.config.retry_backoff).await;
                self.cluster.mark_stale();
            }
            todo = retry;
        }
        Ok(out)
    }

    /// The groups of every broker.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, ClientError> {
        let m = self.cluster.refresh().await?;
        let mut out = Vec::new();
        for id in m.brokers.keys() {
            let (_, r) = self
                .cluster
                .call(*id, max::LIST_GROUPS, ListGroupsRequest::default())
                .await?;
            KafkaError::check(r.error_code, None)?;
            out.extend(r.groups.into_iter().map(|g| GroupListing {
                group_id: g.group_id,
                protocol_type: g.protocol_type,
                state: g.group_state,
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(out)
    }

    /// Sends `make(group)` to the group's coordinator, rediscovering it once if it moved.
    async fn to_coordinator<R: crate::ApiRequest>(
        &self,
        group_id: &str,
        our_max: i16,
        make: impl Fn() -> R,
        code_of: impl Fn(&R::Response) -> i16,
    ) -> Result<(i32, i16, R::Response), ClientError> {
        let mut attempt = 0;
        loop {
            let node = self.cluster.coordinator(group_id).await?;
            let result = self.cluster.call(node, our_max, make()).await;
            let retry = match &result {
                Ok((_, r)) => {
                    ErrorCode(code_of(r)).invalidates_coordinator()
                        || ErrorCode(code_of(r)) == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
                }
                Err(e) => e.is_retriable(),
            };
            if retry && attempt < self.config.retries {
                attempt += 1;
                self.cluster.forget_coordinator(group_id);
                tokio::time::sleep(self.config.retry_backoff).await;
                continue;
            }
            let (v, r) = result?;
            return Ok((node, v, r));
        }
    }

    /// Describes groups: state, protocol, members and their assignments.
    pub async fn describe_groups(
        &self,
        group_ids: &[&str],
    ) -> Result<Results<String, GroupDescription>, ClientError> {
        let mut out = BTreeMap::new();
        for group in group_ids {
            let (node, _, r) = self
                .to_coordinator(
                    group,
                    max::DESCRIBE_GROUPS,
                    || DescribeGroupsRequest {
                        groups: vec![(*group).to_owned()],
                        include_authorized_operations: false,
                    },
                    |r| r.groups.first().map_or(0, |g| g.error_code),
                )
                .await?;
            for g in r.groups {
                let value = KafkaError::check(g.error_code, None).map(|()| GroupDescription {
                    group_id: g.group_id.clone(),
                    state: g.group_state,
                    members: g
                        .members
                        .into_iter()
                        .map(|m| MemberDescription {
                            assignment: if g.protocol_type == "consumer" {
                                decode_assignment(&m.member_assignment).unwrap_or_default()
                            } else {
                                Vec::new()
                            },
                            member_id: m.member_id,
                            group_instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                        })
                        .collect(),
                    protocol_type: g.protocol_type,
                    protocol: g.protocol_data,
                    coordinator: node,
                });
                out.insert(g.group_id, value);
            }
        }
        Ok(out)
    }

    /// Deletes groups (they must be empty).
    pub async fn delete_groups(
        &self,
        group_ids: &[&str],
    ) -> Result<Results<String, ()>, ClientError> {
        let mut out = BTreeMap::new();
        for group in group_ids {
            let (_, _, r) = self
                .to_coordinator(
                    group,
                    max::DELETE_GROUPS,
                    || DeleteGroupsRequest {
                        groups_names: vec![(*group).to_owned()],
                    },
                    |r| r.results.first().map_or(0, |g| g.error_code),
                )
                .await?;
            for g in r.results {
                out.insert(g.group_id, KafkaError::check(g.error_code, None));
            }
        }
        Ok(out)
    }

    /// The offsets `group_id` committed, for `partitions` (all of its partitions for
    /// `None`). Partitions without a commit are left out.
    pub async fn list_consumer_group_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, ClientError> {
        use brook_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
        let topics = partitions.map(|ps| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in ps {
                by_topic.entry(&tp.topic).or_default().push(tp.partition);
            }
            by_topic
                .into_iter()
                .map(|(name, partition_indexes)| OffsetFetchRequestTopic {
                    name: name.to_owned(),
                    partition_indexes,
                })
                .collect::<Vec<_>>()
        });
        let (_, _, r) = self
            .to_coordinator(
                group_id,
                max::OFFSET_FETCH,
                || OffsetFetchRequest {
                    group_id: group_id.to_owned(),
                    topics: topics.clone(),
                    groups: Vec::new(),
                    require_stable: false,
                },
                |r| r.error_code,
            )
            .await?;
        KafkaError::check(r.error_code, None)?;
        let mut out = BTreeMap::new();
        for t in r.topics {
            for p in t.partitions {
                KafkaError::check(p.error_code, None)?;
                if p.committed_offset < 0 {
                    continue;
                }
                out.insert(
                    TopicPartition::new(t.name.clone(), p.partition_index),
                    OffsetAndMetadata {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.metadata,
                    },
                );
            }
        }
        Ok(out)
    }

    /// The lag of `group_id` on every partition it committed to: the log end offset minus
    /// the committed offset. Sorted by partition.
    pub async fn consumer_group_lag(
        &self,
        group_id: &str,
    ) -> Result<Vec<PartitionLag>, ClientError> {
        let committed = self.list_consumer_group_offsets(group_id, None).await?;
        let specs: Vec<(TopicPartition, OffsetSpec)> = committed
            .keys()
            .map(|tp| (tp.clone(), OffsetSpec::Latest))
            .collect();
        let ends = self.list_offsets(&specs).await?;
        let mut out = Vec::new();
        for (tp, c) in committed {
            let end = match ends.get(&tp) {
                Some(Ok(o)) => o.offset,
                Some(Err(e)) => return Err(e.clone().into()),
                None => continue,
            };
            out.push(PartitionLag {
                committed: Some(c.offset),
                log_end_offset: end,
                lag: Some((end - c.offset).max(0)),
                partition: tp,
            });
        }
        Ok(out)
    }
}

/// What a per-partition request yields per partition.
pub trait Answer {
    type Value;
}
impl Answer for ListOffsetsRequest {
    type Value = ListedOffset;
}
impl Answer for DeleteRecordsRequest {
    type Value = i64;
}

/// Decodes a consumer protocol assignment (`ConsumerProtocolAssignment`: version, then
/// topics with their partitions, then user data) into its partitions. Total: `None` for
/// malformed input. See [`crate::consumer::protocol::decode_assignment`].
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<TopicPartition>> {
    crate::consumer::protocol::decode_assignment(bytes)
        .ok()
        .map(|a| a.partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_decode_totally() {
        let mut b = vec![
            0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3,
        ];
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decode_assignment(&b).unwrap(),
            vec![TopicPartition::new("t", 0), TopicPartition::new("t", 3)]
        );
        assert_eq!(decode_assignment(&[0, 1, 0x7f, 0xff, 0xff, 0xff]), None);
        for i in 0..b.len() - 4 {
            let _ = decode_assignment(&b[..i]);
        }
    }
}
