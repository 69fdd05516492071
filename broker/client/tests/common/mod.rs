//! A Brook broker in-process on port 0, for the client's integration tests.

#![allow(dead_code)] // each test file uses a different part

use std::sync::Arc;

use brook_broker::server::{self, Broker, BrokerConfig};
use brook_client::{Admin, AdminConfig};
use tokio::net::TcpListener;

pub struct TestBroker {
    pub addr: std::net::SocketAddr,
    pub broker: Arc<Broker>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub dir: tempfile::TempDir,
}

pub async fn start() -> TestBroker {
    start_with(BrokerConfig::default()).await
}

/// A broker whose groups rebalance at once (no `group.initial.rebalance.delay.ms`) and
/// whose offsets topic has few partitions, for group tests.
pub async fn start_for_groups() -> TestBroker {
    let mut config = BrokerConfig::default();
    config.set("group.initial.rebalance.delay.ms", "0").unwrap();
    config.set("offsets.topic.num.partitions", "3").unwrap();
    start_with(config).await
}

pub async fn start_with(config: BrokerConfig) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let broker =
        Arc::new(Broker::open(dir.path(), config, ("127.0.0.1".into(), addr.port())).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::run(listener, broker.clone(), async {
        let _ = stopped.await;
    }));
    TestBroker {
        addr,
        broker,
        stop: Some(stop),
        dir,
    }
}

impl TestBroker {
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub async fn admin(&self) -> Admin {
        Admin::connect(&self.bootstrap(), AdminConfig::default())
            .await
            .unwrap()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.broker.close();
    }
}
