//! An embedded broker as a `brook-client` transport: [`InProcessConnector`] opens, for any
//! `host:port`, an [`InProcessTransport`] that hands typed requests straight to the broker's
//! handlers ([`brook_broker::server::in_process::InProcess`]). This is the seam of
//! DESIGN.md decision 6: the client never depends on the broker, the broker never on the
//! client; this module, in the root crate, joins them.
//!
//! ```no_run
//! # async fn demo(broker: std::sync::Arc<brook_broker::server::Broker>) -> Result<(), brook_client::ClientError> {
//! use std::sync::Arc;
//! use brook::embedded::InProcessConnector;
//! use brook_client::{Admin, AdminConfig, Cluster, NewTopic};
//!
//! let connector = Arc::new(InProcessConnector::new(broker, "my-app"));
//! let cluster = Cluster::connect(&connector.bootstrap(), connector).await?;
//! let admin = Admin::with_cluster(Arc::new(cluster), AdminConfig::default());
//! admin.create_topics(&[NewTopic::new("orders", 4, 1)], false).await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use brook_broker::server::handlers::SUPPORTED;
use brook_broker::server::in_process::{InProcess, InProcessError};
use brook_broker::server::Broker;
use brook_client::transport::BoxFuture;
use brook_client::{ApiVersions, ClientError, Connector, Transport};
use brook_protocol::messages::{RequestBody, ResponseBody};

/// Requests to an embedded broker, as one client connection.
#[derive(Debug)]
pub struct InProcessTransport {
    inner: InProcess,
    versions: ApiVersions,
    peer: String,
}

impl InProcessTransport {
    pub fn new(broker: Arc<Broker>, client_id: &str) -> InProcessTransport {
        let (host, port) = broker.advertised.clone();
        InProcessTransport {
            inner: InProcess::new(broker, client_id),
            versions: ApiVersions {
                ranges: SUPPORTED.to_vec(),
            },
            peer: format!("in-process:{host}:{port}"),
        }
    }

    async fn request(
        &self,
        version: i16,
        body: RequestBody,
    ) -> Result<Option<ResponseBody>, ClientError> {
        self.inner.call(version, body).await.map_err(|e| match e {
            InProcessError::Unsupported { api_key, .. } => ClientError::UnsupportedVersion {
                api: "in-process",
                api_key,
            },
            InProcessError::Failed(reason) => ClientError::Protocol {
                addr: self.peer.clone(),
                reason,
            },
        })
    }
}

impl Transport for InProcessTransport {
    fn call(
        &self,
        version: i16,
        body: RequestBody,
    ) -> BoxFuture<'_, Result<ResponseBody, ClientError>> {
        Box::pin(async move {
            self.request(version, body)
                .await?
                .ok_or_else(|| ClientError::Protocol {
                    addr: self.peer.clone(),
                    reason: "a request that has no response was sent with call".into(),
                })
        })
    }

    fn send(&self, version: i16, body: RequestBody) -> BoxFuture<'_, Result<(), ClientError>> {
        Box::pin(async move { self.request(version, body).await.map(|_| ()) })
    }

    fn api_versions(&self) -> &ApiVersions {
        &self.versions
    }

    fn is_closed(&self) -> bool {
        false
    }

    fn peer(&self) -> &str {
        &self.peer
    }
}

/// Opens [`InProcessTransport`]s to one embedded broker, whatever address is asked for: in
/// a one-node cluster every node id and bootstrap address is this broker.
#[derive(Debug, Clone)]
pub struct InProcessConnector {
    broker: Arc<Broker>,
    client_id: String,
}

impl InProcessConnector {
    pub fn new(broker: Arc<Broker>, client_id: impl Into<String>) -> InProcessConnector {
        InProcessConnector {
            broker,
            client_id: client_id.into(),
        }
    }

    /// A `bootstrap.servers` value naming the embedded broker (its advertised address).
    pub fn bootstrap(&self) -> String {
        let (host, port) = &self.broker.advertised;
        format!("{host}:{port}")
    }
}

impl Connector for InProcessConnector {
    fn connect<'a>(
        &'a self,
        _host: &'a str,
        _port: u16,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, ClientError>> {
        Box::pin(async move {
            Ok(Arc::new(InProcessTransport::new(
                self.broker.clone(),
                &self.client_id,
            )) as Arc<dyn Transport>)
        })
    }
}
