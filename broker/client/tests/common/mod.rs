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
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let broker = Arc::new(
        Broker::open(
            dir.path(),
            BrokerConfig::default(),
            ("127.0.0.1".into(), addr.port()),
        )
        .unwrap(),
    );
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
