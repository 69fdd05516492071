//! The broker the streams integration tests run against: a real `brook-broker` on a
//! loopback port, in the test process, stopped when dropped. Each test file adds the
//! helpers it needs in an `impl TestBroker` block of its own.

#![allow(dead_code)]

use std::sync::Arc;

use brook_broker::server::{self, Broker, BrokerConfig};
use brook_client::{Admin, AdminConfig, Cluster, NewTopic, TcpConfig, TcpConnector};

/// A broker on 127.0.0.1, port 0, on a runtime of its own; stopped on drop.
pub struct TestBroker {
    pub rt: tokio::runtime::Runtime,
    pub broker: Arc<Broker>,
    pub addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestBroker {
    pub fn start() -> TestBroker {
        // `RUST_LOG=brook_streams=debug` shows what the runtime does.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::default();
        for (k, v) in [
            ("group.initial.rebalance.delay.ms", "0"),
            ("group.min.session.timeout.ms", "1000"),
            ("offsets.topic.num.partitions", "1"),
            ("auto.create.topics.enable", "false"),
        ] {
            config.set(k, v).unwrap();
        }
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let broker =
            Arc::new(Broker::open(dir.path(), config, ("127.0.0.1".into(), port)).unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = rt.spawn(server::run(listener, broker.clone(), async {
            let _ = stopped.await;
        }));
        TestBroker {
            rt,
            broker,
            addr: format!("127.0.0.1:{port}"),
            stop: Some(stop),
            serving: Some(serving),
            _dir: dir,
        }
    }

    pub fn cluster(&self) -> Arc<Cluster> {
        let c = Arc::new(TcpConnector::new(TcpConfig::default()));
        Arc::new(self.rt.block_on(Cluster::connect(&self.addr, c)).unwrap())
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin = Admin::with_cluster(self.cluster(), AdminConfig::default());
        let r = self
            .rt
            .block_on(admin.create_topics(&[NewTopic::new(name, partitions, 1)], false))
            .unwrap();
        assert!(r[name].is_ok(), "creating {name}: {r:?}");
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.serving.take() {
            let _ = self.rt.block_on(h);
        }
        let _ = self.broker.close();
    }
}
