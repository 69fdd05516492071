//! The Kafka protocol server: `run(listener, broker, shutdown)` accepts connections and
//! answers requests with the handlers in [`handlers`], one file per API. What it serves is
//! listed in [`handlers::SUPPORTED`], from which ApiVersions is derived.
//!
//! Each connection is a pipeline (`connection.rs`): a reader decodes length-prefixed frames
//! (capped at `socket.request.max.bytes`, buffered as they arrive, never allocated from the
//! length alone) up to 16 requests ahead, the requests execute one at a time in arrival
//! order (a producer's batches must be appended in the order sent), and a writer sends the
//! responses in that order while the next request runs. Handlers that touch files run on
//! tokio's blocking pool; the I/O runtime only moves bytes. JoinGroup and SyncGroup wait
//! for other members on the async side ([`group`]). A connection that sends a frame that
//! cannot be decoded, an unknown API or an unsupported version (other than ApiVersions) is
//! closed once the requests before it are answered, as Kafka does; other connections are
//! not affected.

pub mod assignment;
pub mod config;
mod connection;
pub mod controller;
pub mod errors;
pub mod group;
pub mod handlers;
pub mod in_process;
pub mod producer_ids;
pub mod replication;
pub mod topics;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use config::BrokerConfig;
pub use errors::ErrorCode;
pub use topics::{TopicMeta, Topics};

use crate::log::{LogError, LogManager, Maintenance};
use controller::image::{ClusterImage, CommandResult, MetadataCommand};
use controller::Controller;
use replication::ReplicaManager;

/// Everything the handlers share: config, logs, topics.
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub logs: Arc<LogManager>,
    pub topics: Arc<Topics>,
    /// The coordinator of every consumer group.
    pub groups: Arc<group::GroupCoordinator>,
    /// Producer ids for InitProducerId.
    pub producer_ids: producer_ids::ProducerIds,
    /// The host and port clients are told to connect to.
    pub advertised: (String, u16),
    /// This node's member of the controller quorum (the metadata log).
    pub controller: Arc<Controller>,
    /// The local replicas: leaders, followers, high watermarks.
    pub replicas: Arc<ReplicaManager>,
    /// Woken after every append and high-watermark move, for fetches waiting on
    /// `max.wait.ms`.
    appended: Arc<Notify>,
}

/// Topic changes go to the controller quorum, then to the local replicas.
#[derive(Debug)]
struct Backend {
    controller: Arc<Controller>,
    replicas: std::sync::Weak<ReplicaManager>,
    default_replication_factor: i16,
}

impl topics::MetadataBackend for Backend {
    fn propose(&self, command: MetadataCommand) -> Result<CommandResult, String> {
        self.controller
            .propose_blocking(command)
            .map_err(|e| e.to_string())
    }

    fn image(&self) -> Arc<ClusterImage> {
        self.controller.view().image()
    }

    fn after_change(&self) {
        if let Some(r) = self.replicas.upgrade() {
            r.reconcile();
        }
    }

    fn default_replication_factor(&self) -> i16 {
        self.default_replication_factor
    }
}

impl Broker {
    /// Opens the data directory (recovering its logs), starts this node's controller
    /// member, registers the broker (waiting for the quorum, which a single node is by
    /// itself) and brings the local replicas up to the metadata.
    pub fn open(
        data_dir: &Path,
        config: BrokerConfig,
        advertised: (String, u16),
    ) -> Result<Broker, BrokerError> {
        let logs = Arc::new(LogManager::open(data_dir, config.log_defaults.clone())?);
        let topics = Arc::new(
            Topics::open(logs.clone(), config.log_defaults.clone()).map_err(BrokerError::Topics)?,
        );
        let mut controller_config = config.controller.clone();
        controller_config.node_id = config.node_id;
        let controller = Controller::start(data_dir, controller_config)
            .map_err(|e| BrokerError::Controller(e.to_string()))?;
        let appended = Arc::new(Notify::new());
        let replicas = ReplicaManager::new(
            config.node_id,
            config.replication.clone(),
            logs.clone(),
            topics.clone(),
            controller.clone(),
            appended.clone(),
        );
        topics.set_backend(Arc::new(Backend {
            controller: controller.clone(),
            replicas: Arc::downgrade(&replicas),
            default_replication_factor: config.default_replication_factor,
        }));
        let started = std::time::Instant::now();
        loop {
            match controller.register_blocking(&advertised.0, advertised.1, config.rack.clone()) {
                Ok(()) => break,
                Err(e) if started.elapsed() < config.controller_wait => {
                    tracing::warn!(error = %e, "waiting for the controller quorum");
                }
                Err(e) => {
                    controller.stop();
                    return Err(BrokerError::Controller(format!("registering: {e}")));
                }
            }
        }
        replicas.start();
        import_legacy(&topics, config.node_id)?;
        let groups = group::GroupCoordinator::open(topics.clone(), config.groups.clone())
            .map_err(BrokerError::Groups)?;
        groups.follow_leadership(&replicas);
        let allocator = controller.clone();
        let producer_ids = producer_ids::ProducerIds::open(
            data_dir,
            Box::new(move |count| {
                match allocator
                    .propose_blocking(MetadataCommand::AllocateProducerIds { count })
                    .map_err(|e| e.to_string())?
                {
                    CommandResult::ProducerIds(start) => Ok(start),
                    other => Err(format!("allocating producer ids: {other:?}")),
                }
            }),
        )
        .map_err(BrokerError::ProducerIds)?;
        Ok(Broker {
            config,
            logs,
            topics,
            groups,
            producer_ids,
            advertised,
            controller,
            replicas,
            appended,
        })
    }

    /// Starts retention, compaction and `flush.ms` on a background thread.
    pub fn start_maintenance(&self) -> Maintenance {
        self.logs
            .start_maintenance(self.config.maintenance_interval)
    }

    /// The controller id clients are told: the active controller when it is a live
    /// broker, else a live broker (this one first), as KRaft brokers answer; clients only
    /// need it to be a node they can reach (admin requests are forwarded).
    pub fn live_controller_id(&self) -> i32 {
        let image = self.controller.view().image();
        let live = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
        match self.controller.leader() {
            Some(l) if live(l) => l,
            _ if live(self.config.node_id) => self.config.node_id,
            _ => image.live_brokers().next().map_or(-1, |b| b.id),
        }
    }

    /// Controlled shutdown: moves this broker's leaderships to other in-sync replicas,
    /// then stops the group coordinator, replication and the controller, and closes every
    /// log cleanly.
    pub fn close(&self) -> Result<(), LogError> {
        self.controller
            .shutdown_broker(std::time::Duration::from_secs(5));
        // Step down here before stopping: the fence is applied, so this broker no longer
        // leads anything and answers NOT_LEADER_OR_FOLLOWER until its listener closes.
        self.replicas.reconcile();
        self.replicas.stop();
        self.groups.stop();
        let closed = self.logs.close();
        self.controller.stop();
        closed
    }
}

/// Imports the topics of a data directory from before replication into the metadata log,
/// with this node as their only replica, keeping their ids.
fn import_legacy(topics: &Topics, node_id: i32) -> Result<(), BrokerError> {
    let legacy = topics.take_legacy();
    if legacy.is_empty() {
        return Ok(());
    }
    for meta in legacy {
        if topics.get(&meta.name).is_some() {
            continue;
        }
        let assignment = vec![vec![node_id]; meta.partitions.max(0) as usize];
        topics.create_assigned(&meta, assignment).map_err(|e| {
            BrokerError::Topics(format!("importing topic {}: {}", meta.name, e.message))
        })?;
        tracing::info!(topic = %meta.name, "imported a topic into the metadata log");
    }
    topics
        .legacy_imported()
        .map_err(|e| BrokerError::Topics(format!("renaming topics.json: {e}")))
}

/// Why a broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("topic registry: {0}")]
    Topics(String),
    #[error("producer ids: {0}")]
    ProducerIds(String),
    #[error("group coordinator: {0}")]
    Groups(String),
    #[error("controller: {0}")]
    Controller(String),
}

/// Serves the Kafka protocol on `listener` until `shutdown` completes. Connections in
/// flight are dropped when the caller's runtime stops.
pub async fn run(listener: TcpListener, broker: Arc<Broker>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let broker = broker.clone();
                    tokio::spawn(async move {
                        if let Err(reason) = connection::serve(stream, broker).await {
                            tracing::debug!(%peer, %reason, "connection closed");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
}
