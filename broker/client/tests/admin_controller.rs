//! The admin client's controller calls when the controller named by the metadata cannot be
//! reached: the metadata is asked again and the call goes to the controller it names now.
//! Two scripted nodes stand in for a cluster whose controller moves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_client::transport::BoxFuture;
use brook_client::{
    Admin, AdminConfig, ApiVersions, ClientError, Cluster, Connector, NewTopic, Transport,
};
use brook_protocol::messages::create_topics_response::CreatableTopicResult;
use brook_protocol::messages::metadata_response::MetadataResponseBroker;
use brook_protocol::messages::*;

/// Node 2 at `b:2`, the only node that accepts connections. Its Metadata names node 1
/// (`a:1`, which refuses connections) as the controller for the first `stale_answers`
/// answers, then itself.
#[derive(Debug)]
struct Node2 {
    versions: ApiVersions,
    stale_answers: usize,
    metadata_calls: AtomicUsize,
    created: Mutex<Vec<String>>,
}

impl Transport for Node2 {
    fn call(
        &self,
        _version: i16,
        body: RequestBody,
    ) -> BoxFuture<'_, Result<ResponseBody, ClientError>> {
        Box::pin(async move {
            Ok(match body {
                RequestBody::Metadata(_) => {
                    let n = self.metadata_calls.fetch_add(1, Ordering::SeqCst);
                    let broker = |node_id, host: &str, port| MetadataResponseBroker {
                        node_id,
                        host: host.into(),
                        port,
                        rack: None,
                    };
                    ResponseBody::Metadata(MetadataResponse {
                        brokers: vec![broker(1, "a", 1), broker(2, "b", 2)],
                        controller_id: if n < self.stale_answers { 1 } else { 2 },
                        ..Default::default()
                    })
                }
                RequestBody::CreateTopics(req) => {
                    let mut created = self.created.lock().unwrap();
                    ResponseBody::CreateTopics(CreateTopicsResponse {
                        topics: req
                            .topics
                            .into_iter()
                            .map(|t| {
                                created.push(t.name.clone());
                                CreatableTopicResult {
                                    name: t.name,
                                    num_partitions: t.num_partitions,
                                    replication_factor: t.replication_factor,
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        ..Default::default()
                    })
                }
                other => panic!("unexpected request {}", other.api_key()),
            })
        })
    }

    fn send(&self, _version: i16, _body: RequestBody) -> BoxFuture<'_, Result<(), ClientError>> {
        Box::pin(async { Ok(()) })
    }

    fn api_versions(&self) -> &ApiVersions {
        &self.versions
    }

    fn is_closed(&self) -> bool {
        false
    }

    fn peer(&self) -> &str {
        "b:2"
    }
}

/// Connects `b:2` to the scripted node; every other address refuses, counted.
#[derive(Debug)]
struct Connect {
    node2: Arc<Node2>,
    refused: AtomicUsize,
}

impl Connector for Connect {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, ClientError>> {
        Box::pin(async move {
            if (host, port) == ("b", 2) {
                let t: Arc<dyn Transport> = self.node2.clone();
                Ok(t)
            } else {
                self.refused.fetch_add(1, Ordering::SeqCst);
                Err(ClientError::Connect {
                    addr: format!("{host}:{port}"),
                    source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
                })
            }
        })
    }
}

fn setup(stale_answers: usize) -> (Admin, Arc<Connect>) {
    let connect = Arc::new(Connect {
        node2: Arc::new(Node2 {
            versions: ApiVersions {
                ranges: vec![(3, 0, 12), (19, 0, 7)],
            },
            stale_answers,
            metadata_calls: AtomicUsize::new(0),
            created: Mutex::new(Vec::new()),
        }),
        refused: AtomicUsize::new(0),
    });
    let cluster = Cluster::new("b:2", connect.clone()).unwrap();
    let config = AdminConfig {
        retry_backoff: Duration::from_millis(5),
        ..AdminConfig::default()
    };
    (Admin::with_cluster(Arc::new(cluster), config), connect)
}

#[tokio::test]
async fn create_topics_follows_the_controller_when_the_named_one_is_unreachable() {
    let (admin, connect) = setup(1);
    let r = admin
        .create_topics(&[NewTopic::new("t", 1, 1)], false)
        .await
        .expect("the call goes to the new controller");
    assert!(r["t"].is_ok(), "{r:?}");
    assert_eq!(
        connect.refused.load(Ordering::SeqCst),
        1,
        "node 1 was tried once"
    );
    assert_eq!(
        *connect.node2.created.lock().unwrap(),
        vec!["t".to_string()]
    );
    assert_eq!(connect.node2.metadata_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn create_topics_gives_up_after_its_retries_when_no_controller_is_reachable() {
    let (admin, connect) = setup(usize::MAX);
    let e = admin
        .create_topics(&[NewTopic::new("t", 1, 1)], false)
        .await
        .expect_err("node 1 never answers");
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
    let retries = AdminConfig::default().retries as usize;
    assert_eq!(connect.refused.load(Ordering::SeqCst), retries + 1);
    assert!(connect.node2.created.lock().unwrap().is_empty());
}
