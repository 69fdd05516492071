//! The same admin scenario over both client transports: TCP to a broker on port 0, and the
//! in-process transport of `brook::embedded` to the same kind of broker with no socket at
//! all. Both must give the same answers.

use std::sync::Arc;

use brook::embedded::InProcessConnector;
use brook_broker::server::{self, Broker, BrokerConfig};
use brook_client::{
    Admin, AdminConfig, Cluster, ConfigResource, Connector, NewTopic, OffsetSpec, TcpConfig,
    TcpConnector, TopicPartition,
};

/// What the scenario saw, compared across transports.
#[derive(Debug, PartialEq)]
struct Seen {
    listed: Vec<String>,
    partitions: usize,
    retention: Option<String>,
    latest: i64,
    duplicate_error: bool,
    after_delete: Vec<String>,
}

async fn scenario(connector: Arc<dyn Connector>, bootstrap: &str) -> Seen {
    let cluster = Cluster::connect(bootstrap, connector).await.unwrap();
    let admin = Admin::with_cluster(Arc::new(cluster), AdminConfig::default());
    let created = admin
        .create_topics(
            &[NewTopic::new("orders", 3, 1).config("retention.ms", "60000")],
            false,
        )
        .await
        .unwrap();
    assert!(created["orders"].is_ok(), "{created:?}");
    let again = admin
        .create_topics(&[NewTopic::new("orders", 3, 1)], false)
        .await
        .unwrap();
    let described = admin.describe_topics(&["orders"]).await.unwrap();
    let configs = admin
        .describe_configs(&[ConfigResource::Topic("orders".into())])
        .await
        .unwrap();
    let entries = configs.values().next().unwrap().as_ref().unwrap();
    let retention = entries
        .iter()
        .find(|e| e.name == "retention.ms")
        .and_then(|e| e.value.clone());
    let offsets = admin
        .list_offsets(&[(TopicPartition::new("orders", 0), OffsetSpec::Latest)])
        .await
        .unwrap();
    let latest = offsets.values().next().unwrap().as_ref().unwrap().offset;
    let listed = admin.list_topics(false).await.unwrap();
    admin.delete_topics(&["orders"]).await.unwrap();
    Seen {
        listed,
        partitions: described["orders"].as_ref().unwrap().partitions.len(),
        retention,
        latest,
        duplicate_error: again["orders"].is_err(),
        after_delete: admin.list_topics(false).await.unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_answers_the_same_over_tcp_and_in_process() {
    let tcp_dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tcp_broker = Arc::new(
        Broker::open(
            tcp_dir.path(),
            BrokerConfig::default(),
            ("127.0.0.1".into(), addr.port()),
        )
        .unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::run(listener, tcp_broker.clone(), async {
        let _ = stopped.await;
    }));
    let over_tcp = scenario(
        Arc::new(TcpConnector::new(TcpConfig::default())),
        &addr.to_string(),
    )
    .await;
    let _ = stop.send(());
    let _ = serving.await;
    tcp_broker.close().unwrap();

    // No listener at all: the advertised address is never dialled.
    let dir = tempfile::tempdir().unwrap();
    let embedded = Arc::new(
        Broker::open(dir.path(), BrokerConfig::default(), ("embedded".into(), 1)).unwrap(),
    );
    let connector = Arc::new(InProcessConnector::new(embedded.clone(), "embedded-test"));
    let in_process = scenario(connector.clone(), &connector.bootstrap()).await;
    embedded.close().unwrap();

    assert_eq!(over_tcp, in_process);
    assert_eq!(
        over_tcp,
        Seen {
            listed: vec!["orders".into()],
            partitions: 3,
            retention: Some("60000".into()),
            latest: 0,
            duplicate_error: true,
            after_delete: vec![],
        }
    );
}
