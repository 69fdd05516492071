//! [`Cluster`]: what the client knows about a cluster (brokers, topics, partition leaders,
//! group coordinators) and one [`Transport`] per broker, opened through a [`Connector`].
//!
//! Metadata comes from a bootstrap list (`bootstrap.servers`, `host:port,host:port`) and is
//! refreshed on demand: callers refresh after errors that mean it is stale
//! ([`ErrorCode::invalidates_metadata`]: NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
//! LEADER_NOT_AVAILABLE, ...) or call [`Cluster::mark_stale`], after which the next leader
//! lookup refreshes first. A connection that failed is dropped and reopened on next use.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use brook_protocol::messages::metadata_request::MetadataRequestTopic;
use brook_protocol::messages::*;

use crate::error::{ClientError, ErrorCode, KafkaError};
use crate::tcp::format_addr;
use crate::transport::{request, ApiRequest, Connector, Transport};

/// The Metadata version the client speaks up to.
const METADATA_MAX: i16 = 12;
/// The FindCoordinator version the client speaks up to.
const FIND_COORDINATOR_MAX: i16 = 6;

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// The leader's node id, `None` when there is no leader.
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    /// The partition's error (e.g. LEADER_NOT_AVAILABLE), if any.
    pub error: Option<KafkaError>,
}

/// One topic, as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub topic_id: Uuid,
    pub is_internal: bool,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionMetadata>,
    /// The indexes of the partitions that have a leader, sorted (what a partitioner may
    /// choose from), kept so that the producer does not work it out per record.
    pub available: Vec<i32>,
}

impl TopicMetadata {
    pub fn partition(&self, partition: i32) -> Option<&PartitionMetadata> {
        self.partitions
            .binary_search_by_key(&partition, |p| p.partition)
            .ok()
            .map(|i| &self.partitions[i])
    }
}

/// A snapshot of the cluster metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub cluster_id: Option<String>,
    /// The controller's node id, `None` if unknown.
    pub controller_id: Option<i32>,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Topics without errors.
    pub topics: BTreeMap<String, TopicMetadata>,
}

/// The answer to one Metadata request: the snapshot and the topics that came back with an
/// error (e.g. UNKNOWN_TOPIC_OR_PARTITION), by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResult {
    pub metadata: Metadata,
    pub errors: BTreeMap<String, KafkaError>,
}

/// Parses a `bootstrap.servers` list: `host:port` entries separated by commas (IPv6
/// literals in brackets).
pub fn parse_bootstrap(servers: &str) -> Result<Vec<(String, u16)>, ClientError> {
    let bad = |reason: String| ClientError::Config {
        key: "bootstrap.servers",
        reason,
    };
    let mut out = Vec::new();
    for entry in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or_else(|| bad(format!("{entry:?} is not host:port")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad(format!("{entry:?} has no host")));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| bad(format!("{entry:?} has an invalid port")))?;
        out.push((host.to_owned(), port));
    }
    if out.is_empty() {
        return Err(bad("no servers given".into()));
    }
    Ok(out)
}

/// The cluster as the client sees it, shared by the admin client, producers and consumers.
#[derive(Debug)]
pub struct Cluster {
    connector: Arc<dyn Connector>,
    bootstrap: Vec<(String, u16)>,
    metadata: RwLock<Arc<Metadata>>,
    stale: AtomicBool,
    /// Open transports by node id.
    connections: Mutex<HashMap<i32, Arc<dyn Transport>>>,
    /// A transport to a bootstrap server, used until node addresses are known.
    bootstrap_conn: Mutex<Option<Arc<dyn Transport>>>,
    /// Group coordinators by group id.
    coordinators: Mutex<HashMap<String, i32>>,
    /// Second transports to coordinator nodes, for the group membership requests
    /// ([`call_coordinator`](Self::call_coordinator)).
    group_connections: Mutex<HashMap<i32, Arc<dyn Transport>>>,
    /// Serialises metadata refreshes.
    refreshing: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cluster {
    /// A cluster reached through `connector` from the `bootstrap.servers` list. Opens no
    /// connection; call [`refresh`](Self::refresh) (or [`connect`](Self::connect)).
    pub fn new(
        bootstrap_servers: &str,
        connector: Arc<dyn Connector>,
    ) -> Result<Cluster, ClientError> {
        Ok(Cluster {
            connector,
            bootstrap: parse_bootstrap(bootstrap_servers)?,
            metadata: RwLock::new(Arc::new(Metadata::default())),
            stale: AtomicBool::new(true),
            connections: Mutex::new(HashMap::new()),
            bootstrap_conn: Mutex::new(None),
            coordinators: Mutex::new(HashMap::new()),
            group_connections: Mutex::new(HashMap::new()),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// [`new`](Self::new), then a first metadata refresh of all topics.
    pub async fn connect(
        bootstrap_servers: &str,
        connector: Arc<dyn Connector>,
    ) -> Result<Cluster, ClientError> {
        let cluster = Cluster::new(bootstrap_servers, connector)?;
        cluster.refresh().await?;
        Ok(cluster)
    }

    /// The latest metadata snapshot.
    pub fn metadata(&self) -> Arc<Metadata> {
        self.metadata
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks the metadata stale: the next leader lookup refreshes it.
    pub fn mark_stale(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    /// Refreshes the metadata of every topic.
    pub async fn refresh(&self) -> Result<Arc<Metadata>, ClientError> {
        self.fetch_metadata(None).await?;
        Ok(self.metadata())
    }

    /// Asks for the metadata of `topics` (all topics for `None`) and merges the answer into
    /// the cached snapshot: brokers and controller are replaced; the asked topics are
    /// replaced or, if they came back with an error, removed.
    pub async fn fetch_metadata(
        &self,
        topics: Option<&[&str]>,
    ) -> Result<MetadataResult, ClientError> {
        let _guard = self.refreshing.lock().await;
        let transport = self.any_transport().await?;
        let version = transport
            .version_for(MetadataRequest::API_KEY, METADATA_MAX)
            .ok_or(ClientError::UnsupportedVersion {
                api: "Metadata",
                api_key: MetadataRequest::API_KEY,
            })?;
        let request_topics = match topics {
            None if version == 0 => Some(Vec::new()),
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic {
                        topic_id: Uuid::ZERO,
                        name: Some((*n).to_owned()),
                    })
                    .collect(),
            ),
        };
        let req = MetadataRequest {
            topics: request_topics,
            allow_auto_topic_creation: version < 4,
            ..MetadataRequest::default()
        };
        let response = match crate::transport::request_at(&*transport, version, req).await {
            Ok(r) => r,
            Err(e) => {
                self.forget_transport(&transport);
                return Err(e);
            }
        };
        let result = to_metadata(response);
        let mut merged = if topics.is_some() {
            (*self.metadata()).clone()
        } else {
            Metadata::default()
        };
        merged.cluster_id = result.metadata.cluster_id.clone();
        merged.controller_id = result.metadata.controller_id;
        merged.brokers = result.metadata.brokers.clone();
        for name in result.errors.keys() {
            merged.topics.remove(name);
        }
        for (name, t) in &result.metadata.topics {
            merged.topics.insert(name.clone(), t.clone());
        }
        // Drop connections to nodes that left, or whose address changed.
        for conns in [&self.connections, &self.group_connections] {
            lock(conns).retain(|id, t| {
                merged
                    .brokers
                    .get(id)
                    .is_some_and(|b| format_addr(&b.host, b.port) == t.peer())
            });
        }
        *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(merged);
        self.stale.store(false, Ordering::Relaxed);
        Ok(result)
    }

    /// The metadata of `topic`, refreshing if it is unknown or the metadata is stale.
    pub async fn topic(&self, topic: &str) -> Result<TopicMetadata, ClientError> {
        if !self.stale.load(Ordering::Relaxed) {
            if let Some(t) = self.metadata().topics.get(topic) {
                return Ok(t.clone());
            }
        }
        let result = self.fetch_metadata(Some(&[topic])).await?;
        if let Some(e) = result.errors.get(topic) {
            if e.code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION {
                return Err(ClientError::NoSuchTopic(topic.to_owned()));
            }
            return Err(e.clone().into());
        }
        result
            .metadata
            .topics
            .get(topic)
            .cloned()
            .ok_or_else(|| ClientError::NoSuchTopic(topic.to_owned()))
    }

    /// The leader of `topic`-`partition`.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<i32, ClientError> {
        // The common case reads the snapshot in place: no copy of the topic's metadata.
        if !self.stale.load(Ordering::Relaxed) {
            let m = self.metadata();
            if let Some(leader) = m
                .topics
                .get(topic)
                .and_then(|t| t.partition(partition))
                .and_then(|p| p.leader)
            {
                return Ok(leader);
            }
        }
        let t = self.topic(topic).await?;
        let p = t
            .partition(partition)
            .ok_or_else(|| ClientError::NoSuchPartition {
                topic: topic.to_owned(),
                partition,
            })?;
        p.leader.ok_or_else(|| {
            self.mark_stale();
            ClientError::NoBroker(format!("{topic}-{partition} has no leader"))
        })
    }

    /// The transport to node `node_id`, opened if needed.
    pub async fn transport(&self, node_id: i32) -> Result<Arc<dyn Transport>, ClientError> {
        if let Some(t) = lock(&self.connections).get(&node_id) {
            if !t.is_closed() {
                return Ok(t.clone());
            }
        }
        if !self.metadata().brokers.contains_key(&node_id) {
            self.refresh().await?;
        }
        self.open(node_id).await
    }

    /// Opens (or reuses) the transport to a node of the current snapshot, without
    /// refreshing.
    async fn open(&self, node_id: i32) -> Result<Arc<dyn Transport>, ClientError> {
        if let Some(t) = lock(&self.connections).get(&node_id) {
            if !t.is_closed() {
                return Ok(t.clone());
            }
        }
        let broker = self
            .metadata()
            .brokers
            .get(&node_id)
            .cloned()
            .ok_or_else(|| {
                ClientError::NoBroker(format!("node {node_id} is not in the cluster metadata"))
            })?;
        let t = self.connector.connect(&broker.host, broker.port).await?;
        let mut conns = lock(&self.connections);
        match conns.get(&node_id) {
            // Another task connected meanwhile: keep one connection.
            Some(existing) if !existing.is_closed() => Ok(existing.clone()),
            _ => {
                conns.insert(node_id, t.clone());
                Ok(t)
            }
        }
    }

    /// A transport to any broker: an open one if there is one, else the first known broker
    /// or bootstrap server that accepts a connection.
    pub async fn any_transport(&self) -> Result<Arc<dyn Transport>, ClientError> {
        if let Some(t) = lock(&self.connections).values().find(|t| !t.is_closed()) {
            return Ok(t.clone());
        }
        if let Some(t) = lock(&self.bootstrap_conn)
            .as_ref()
            .filter(|t| !t.is_closed())
        {
            return Ok(t.clone());
        }
        let mut last = None;
        let known: Vec<i32> = self.metadata().brokers.keys().copied().collect();
        for id in known {
            match self.open(id).await {
                Ok(t) => return Ok(t),
                Err(e) => last = Some(e),
            }
        }
        for (host, port) in &self.bootstrap {
            match self.connector.connect(host, *port).await {
                Ok(t) => {
                    *lock(&self.bootstrap_conn) = Some(t.clone());
                    return Ok(t);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::NoBroker("no bootstrap server".into())))
    }

    /// The transport to the controller (any broker if the controller is unknown).
    pub async fn controller(&self) -> Result<Arc<dyn Transport>, ClientError> {
        if self.metadata().brokers.is_empty() {
            self.refresh().await?;
        }
        match self.metadata().controller_id {
            Some(id) => self.transport(id).await,
            None => self.any_transport().await,
        }
    }

    /// Forgets a transport that failed, so the next use reconnects.
    pub fn forget_transport(&self, transport: &Arc<dyn Transport>) {
        lock(&self.connections).retain(|_, t| !Arc::ptr_eq(t, transport));
        lock(&self.group_connections).retain(|_, t| !Arc::ptr_eq(t, transport));
        let mut b = lock(&self.bootstrap_conn);
        if b.as_ref().is_some_and(|t| Arc::ptr_eq(t, transport)) {
            *b = None;
        }
    }

    /// The node id of the coordinator of consumer group `group_id` (FindCoordinator,
    /// cached until [`forget_coordinator`](Self::forget_coordinator)).
    pub async fn coordinator(&self, group_id: &str) -> Result<i32, ClientError> {
        if let Some(id) = lock(&self.coordinators).get(group_id) {
            return Ok(*id);
        }
        let transport = self.any_transport().await?;
        let version = transport
            .version_for(FindCoordinatorRequest::API_KEY, FIND_COORDINATOR_MAX)
            .ok_or(ClientError::UnsupportedVersion {
                api: "FindCoordinator",
                api_key: FindCoordinatorRequest::API_KEY,
            })?;
        let req = if version >= 4 {
            FindCoordinatorRequest {
                key: String::new(),
                key_type: 0,
                coordinator_keys: vec![group_id.to_owned()],
            }
        } else {
            FindCoordinatorRequest {
                key: group_id.to_owned(),
                key_type: 0,
                coordinator_keys: Vec::new(),
            }
        };
        let r = crate::transport::request_at(&*transport, version, req).await?;
        let (node_id, host, port, code, message) = if version >= 4 {
            let c = r
                .coordinators
                .into_iter()
                .find(|c| c.key == group_id)
                .ok_or_else(|| ClientError::Protocol {
                    addr: transport.peer().to_owned(),
                    reason: format!("FindCoordinator answered without group {group_id:?}"),
                })?;
            (c.node_id, c.host, c.port, c.error_code, c.error_message)
        } else {
            (r.node_id, r.host, r.port, r.error_code, r.error_message)
        };
        KafkaError::check(code, message.as_deref())?;
        // A coordinator the snapshot does not know yet (a new broker): add its address.
        if !self.metadata().brokers.contains_key(&node_id) {
            let port = u16::try_from(port).map_err(|_| ClientError::Protocol {
                addr: transport.peer().to_owned(),
                reason: format!("coordinator port {port} is out of range"),
            })?;
            let mut m = (*self.metadata()).clone();
            m.brokers.insert(
                node_id,
                BrokerInfo {
                    node_id,
                    host,
                    port,
                    rack: None,
                },
            );
            *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(m);
        }
        lock(&self.coordinators).insert(group_id.to_owned(), node_id);
        Ok(node_id)
    }

    /// Forgets the cached coordinator of `group_id` (after NOT_COORDINATOR and the like).
    pub fn forget_coordinator(&self, group_id: &str) {
        lock(&self.coordinators).remove(group_id);
    }

    /// Sends `req` to node `node_id` at the highest common version up to `our_max`. A
    /// failed connection is forgotten (the next call reconnects).
    pub async fn call<R: ApiRequest>(
        &self,
        node_id: i32,
        our_max: i16,
        req: R,
    ) -> Result<(i16, R::Response), ClientError> {
        let transport = self.transport(node_id).await?;
        self.call_on(&transport, our_max, req).await
    }

    /// Sends a group membership request (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) to
    /// coordinator node `node_id` over a connection of its own, as Java's client does: a
    /// broker answers a connection's requests in order and holds a JoinGroup until the
    /// rebalance completes, which must not hold up the member's fetches and commits.
    pub async fn call_coordinator<R: ApiRequest>(
        &self,
        node_id: i32,
        our_max: i16,
        req: R,
    ) -> Result<(i16, R::Response), ClientError> {
        let existing = lock(&self.group_connections)
            .get(&node_id)
            .filter(|t| !t.is_closed())
            .cloned();
        let transport = match existing {
            Some(t) => t,
            None => {
                if !self.metadata().brokers.contains_key(&node_id) {
                    self.refresh().await?;
                }
                let broker = self
                    .metadata()
                    .brokers
                    .get(&node_id)
                    .cloned()
                    .ok_or_else(|| {
                        ClientError::NoBroker(format!(
                            "coordinator {node_id} is not in the cluster metadata"
                        ))
                    })?;
                let t = self.connector.connect(&broker.host, broker.port).await?;
                let mut conns = lock(&self.group_connections);
                match conns.get(&node_id) {
                    Some(other) if !other.is_closed() => other.clone(),
                    _ => {
                        conns.insert(node_id, t.clone());
                        t
                    }
                }
            }
        };
        self.call_on(&transport, our_max, req).await
    }

    /// Sends `req` through `transport`, forgetting the transport if its connection failed.
    pub async fn call_on<R: ApiRequest>(
        &self,
        transport: &Arc<dyn Transport>,
        our_max: i16,
        req: R,
    ) -> Result<(i16, R::Response), ClientError> {
        let result = request(&**transport, our_max, req).await;
        if let Err(ClientError::Disconnected { .. } | ClientError::Timeout { .. }) = &result {
            self.forget_transport(transport);
        }
        result
    }
}

fn to_metadata(r: MetadataResponse) -> MetadataResult {
    let mut metadata = Metadata {
        cluster_id: r.cluster_id,
        controller_id: (r.controller_id >= 0).then_some(r.controller_id),
        ..Metadata::default()
    };
    for b in r.brokers {
        let Ok(port) = u16::try_from(b.port) else {
            continue;
        };
        metadata.brokers.insert(
            b.node_id,
            BrokerInfo {
                node_id: b.node_id,
                host: b.host,
                port,
                rack: b.rack,
            },
        );
    }
    let mut errors = BTreeMap::new();
    for t in r.topics {
        let name = t.name.unwrap_or_default();
        if t.error_code != 0 {
            errors.insert(name, KafkaError::new(ErrorCode(t.error_code), None));
            continue;
        }
        let mut partitions: Vec<PartitionMetadata> = t
            .partitions
            .into_iter()
            .map(|p| PartitionMetadata {
                partition: p.partition_index,
                leader: (p.leader_id >= 0).then_some(p.leader_id),
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes,
                isr: p.isr_nodes,
                offline_replicas: p.offline_replicas,
                error: KafkaError::check(p.error_code, None).err(),
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        let available = partitions
            .iter()
            .filter(|p| p.leader.is_some())
            .map(|p| p.partition)
            .collect();
        metadata.topics.insert(
            name.clone(),
            TopicMetadata {
                name,
                topic_id: t.topic_id,
                is_internal: t.is_internal,
                partitions,
                available,
            },
        );
    }
    MetadataResult { metadata, errors }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_lists() {
        assert_eq!(
            parse_bootstrap("a:1, b:9092,[::1]:7").unwrap(),
            vec![("a".into(), 1), ("b".into(), 9092), ("::1".into(), 7)]
        );
        for bad in ["", "a", "a:x", ":1", "a:70000"] {
            let e = parse_bootstrap(bad).unwrap_err();
            assert!(e.to_string().contains("bootstrap.servers"), "{e}");
        }
    }
}
