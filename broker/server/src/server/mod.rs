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
pub mod errors;
pub mod group;
pub mod handlers;
pub mod in_process;
pub mod producer_ids;
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
    /// Woken after every append, for fetches waiting on `max.wait.ms`.
    appended: Notify,
}

impl Broker {
    /// Opens the data directory (recovering its logs) and the topic registry.
    pub fn open(
        data_dir: &Path,
        config: BrokerConfig,
        advertised: (String, u16),
    ) -> Result<Broker, BrokerError> {
        let logs = Arc::new(LogManager::open(data_dir, config.log_defaults.clone())?);
        let topics = Arc::new(
            Topics::open(logs.clone(), config.log_defaults.clone()).map_err(BrokerError::Topics)?,
        );
        let groups = group::GroupCoordinator::open(topics.clone(), config.groups.clone())
            .map_err(BrokerError::Groups)?;
        let producer_ids =
            producer_ids::ProducerIds::open(data_dir).map_err(BrokerError::ProducerIds)?;
        Ok(Broker {
            config,
            logs,
            topics,
            groups,
            producer_ids,
            advertised,
            appended: Notify::new(),
        })
    }

    /// Starts retention, compaction and `flush.ms` on a background thread.
    pub fn start_maintenance(&self) -> Maintenance {
        self.logs
            .start_maintenance(self.config.maintenance_interval)
    }

    /// Stops the group coordinator and closes every log cleanly.
    pub fn close(&self) -> Result<(), LogError> {
        self.groups.stop();
        self.logs.close()
    }
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
