//! The admin client against a real in-process broker.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use brook_client::admin::{AlterConfigOp, ConfigSource, OffsetSpec};
use brook_client::transport::request;
use brook_client::{ConfigResource, ErrorCode, NewTopic, TopicPartition};
use brook_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use brook_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use brook_protocol::messages::*;
use brook_protocol::record::{BatchBuilder, Compression};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Produces `n` records to `topic`-`partition` with a raw Produce request; returns the base
/// offset.
async fn produce(
    admin: &brook_client::Admin,
    topic: &str,
    partition: i32,
    n: usize,
    ts: i64,
) -> i64 {
    let leader = admin.cluster().leader(topic, partition).await.unwrap();
    let mut b = BatchBuilder::new(Compression::None, ts);
    for i in 0..n {
        b.append(
            ts + i as i64,
            Some(format!("k{i}").as_bytes()),
            Some(b"v"),
            &[],
        );
    }
    let req = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(b.build(0).into()),
            }],
        }],
    };
    let (_, r) = admin.cluster().call(leader, 11, req).await.unwrap();
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    p.base_offset
}

#[tokio::test]
async fn create_describe_delete_topics() {
    let b = common::start().await;
    let admin = b.admin().await;

    // validate_only creates nothing.
    let r = admin
        .create_topics(&[NewTopic::new("orders", 3, 1)], true)
        .await
        .unwrap();
    assert!(r["orders"].is_ok(), "{r:?}");
    assert!(!admin
        .list_topics(false)
        .await
        .unwrap()
        .contains(&"orders".to_string()));

    let r = admin
        .create_topics(
            &[
                NewTopic::new("orders", 3, 1).config("cleanup.policy", "compact"),
                NewTopic::new("bad", 0, 1),
            ],
            false,
        )
        .await
        .unwrap();
    let created = r["orders"].as_ref().unwrap();
    assert_eq!(created.num_partitions, 3);
    let policy = created
        .configs
        .iter()
        .find(|c| c.name == "cleanup.policy")
        .unwrap();
    assert_eq!(policy.value.as_deref(), Some("compact"));
    assert_eq!(policy.source, ConfigSource::DynamicTopicConfig);
    assert_eq!(
        r["bad"].as_ref().unwrap_err().code,
        ErrorCode::INVALID_PARTITIONS
    );

    // Creating it again is an error value, not a failed call.
    let again = admin
        .create_topics(&[NewTopic::new("orders", 3, 1)], false)
        .await
        .unwrap();
    assert_eq!(
        again["orders"].as_ref().unwrap_err().code,
        ErrorCode::TOPIC_ALREADY_EXISTS
    );

    let d = admin.describe_topics(&["orders", "missing"]).await.unwrap();
    let t = d["orders"].as_ref().unwrap();
    assert_eq!(t.partitions.len(), 3);
    assert_eq!(
        t.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert!(t
        .partitions
        .iter()
        .all(|p| p.leader.is_some() && !p.replicas.is_empty()));
    assert_ne!(t.topic_id, Uuid::ZERO);
    assert_eq!(
        d["missing"].as_ref().unwrap_err().code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );

    // Configs with sources.
    let c = admin
        .describe_configs(&[ConfigResource::Topic("orders".into())])
        .await
        .unwrap();
    let entries = c[&ConfigResource::Topic("orders".into())].as_ref().unwrap();
    let policy = entries.iter().find(|e| e.name == "cleanup.policy").unwrap();
    assert_eq!(policy.value.as_deref(), Some("compact"));
    assert_eq!(policy.source, ConfigSource::DynamicTopicConfig);
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_ne!(retention.source, ConfigSource::DynamicTopicConfig);

    // Partitions grow.
    let g = admin
        .create_partitions(&[("orders", 5)], false)
        .await
        .unwrap();
    assert!(g["orders"].is_ok(), "{g:?}");
    let d = admin.describe_topics(&["orders"]).await.unwrap();
    assert_eq!(d["orders"].as_ref().unwrap().partitions.len(), 5);
    let g = admin
        .create_partitions(&[("orders", 2)], false)
        .await
        .unwrap();
    assert_eq!(
        g["orders"].as_ref().unwrap_err().code,
        ErrorCode::INVALID_PARTITIONS
    );

    // Delete, then it is gone.
    let del = admin.delete_topics(&["orders", "missing"]).await.unwrap();
    assert!(del["orders"].is_ok(), "{del:?}");
    assert_eq!(
        del["missing"].as_ref().unwrap_err().code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert!(!admin
        .list_topics(true)
        .await
        .unwrap()
        .contains(&"orders".to_string()));
}

#[tokio::test]
async fn alter_and_describe_configs() {
    let b = common::start().await;
    let admin = b.admin().await;
    admin
        .create_topics(&[NewTopic::new("t", 1, 1)], false)
        .await
        .unwrap();
    let topic = ConfigResource::Topic("t".into());
    let r = admin
        .incremental_alter_configs(
            &[(
                topic.clone(),
                vec![AlterConfigOp::Set("retention.ms".into(), "1234".into())],
            )],
            false,
        )
        .await
        .unwrap();
    assert!(r[&topic].is_ok(), "{r:?}");
    let entries = admin
        .describe_configs(std::slice::from_ref(&topic))
        .await
        .unwrap()[&topic]
        .clone()
        .unwrap();
    let e = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(e.value.as_deref(), Some("1234"));
    assert_eq!(e.source, ConfigSource::DynamicTopicConfig);

    admin
        .incremental_alter_configs(
            &[(
                topic.clone(),
                vec![AlterConfigOp::Delete("retention.ms".into())],
            )],
            false,
        )
        .await
        .unwrap()[&topic]
        .clone()
        .unwrap();
    let entries = admin
        .describe_configs(std::slice::from_ref(&topic))
        .await
        .unwrap()[&topic]
        .clone()
        .unwrap();
    let e = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_ne!(e.source, ConfigSource::DynamicTopicConfig);
    assert_ne!(e.value.as_deref(), Some("1234"));

    // An unknown config is an error value.
    let r = admin
        .incremental_alter_configs(
            &[(
                topic.clone(),
                vec![AlterConfigOp::Set("no.such.config".into(), "1".into())],
            )],
            false,
        )
        .await
        .unwrap();
    assert!(r[&topic].is_err());

    // Broker configs.
    let node = admin.describe_cluster().await.unwrap().brokers[0].node_id;
    let broker = ConfigResource::Broker(node);
    let c = admin
        .describe_configs(std::slice::from_ref(&broker))
        .await
        .unwrap();
    let entries = c[&broker].as_ref().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries.iter().any(|e| e.name == "num.partitions"),
        "{entries:?}"
    );
}

#[tokio::test]
async fn list_offsets_and_delete_records() {
    let b = common::start().await;
    let admin = b.admin().await;
    admin
        .create_topics(&[NewTopic::new("logs", 2, 1)], false)
        .await
        .unwrap();
    let t0 = now_ms() - 10_000;
    produce(&admin, "logs", 0, 10, t0).await;
    produce(&admin, "logs", 0, 5, t0 + 100).await;
    let p0 = TopicPartition::new("logs", 0);
    let p1 = TopicPartition::new("logs", 1);
    let missing = TopicPartition::new("nope", 0);
    let r = admin
        .list_offsets(&[
            (p0.clone(), OffsetSpec::Latest),
            (p1.clone(), OffsetSpec::Earliest),
            (missing.clone(), OffsetSpec::Latest),
        ])
        .await
        .unwrap();
    assert_eq!(r[&p0].as_ref().unwrap().offset, 15);
    assert_eq!(r[&p1].as_ref().unwrap().offset, 0);
    assert_eq!(
        r[&missing].as_ref().unwrap_err().code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
    // By timestamp: the second batch starts at t0 + 100.
    let r = admin
        .list_offsets(&[(p0.clone(), OffsetSpec::Timestamp(t0 + 100))])
        .await
        .unwrap();
    assert_eq!(r[&p0].as_ref().unwrap().offset, 10);

    let d = admin.delete_records(&[(p0.clone(), 7)]).await.unwrap();
    assert_eq!(*d[&p0].as_ref().unwrap(), 7);
    let r = admin
        .list_offsets(&[(p0.clone(), OffsetSpec::Earliest)])
        .await
        .unwrap();
    assert_eq!(r[&p0].as_ref().unwrap().offset, 7);
}

#[tokio::test]
async fn groups_offsets_and_lag() {
    let b = common::start().await;
    let admin = b.admin().await;
    admin
        .create_topics(&[NewTopic::new("events", 2, 1)], false)
        .await
        .unwrap();
    produce(&admin, "events", 0, 20, now_ms()).await;
    produce(&admin, "events", 1, 4, now_ms()).await;

    // Commit K=15 on partition 0 and 4 on partition 1 for a group with no members
    // (generation -1, as a standalone consumer does).
    let coordinator = admin.cluster().coordinator("g1").await.unwrap();
    let commit = OffsetCommitRequest {
        group_id: "g1".into(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        topics: vec![OffsetCommitRequestTopic {
            name: "events".into(),
            partitions: vec![
                OffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: 15,
                    committed_metadata: Some("m".into()),
                    ..Default::default()
                },
                OffsetCommitRequestPartition {
                    partition_index: 1,
                    committed_offset: 4,
                    ..Default::default()
                },
            ],
        }],
        ..Default::default()
    };
    let (_, r) = admin.cluster().call(coordinator, 9, commit).await.unwrap();
    assert!(
        r.topics[0].partitions.iter().all(|p| p.error_code == 0),
        "{r:?}"
    );

    let offsets = admin.list_consumer_group_offsets("g1", None).await.unwrap();
    let p0 = TopicPartition::new("events", 0);
    assert_eq!(offsets[&p0].offset, 15);
    assert_eq!(offsets[&p0].metadata.as_deref(), Some("m"));

    let lag = admin.consumer_group_lag("g1").await.unwrap();
    assert_eq!(lag.len(), 2);
    assert_eq!(lag[0].partition, p0);
    assert_eq!(lag[0].log_end_offset, 20);
    assert_eq!(lag[0].lag, Some(5));
    assert_eq!(lag[1].lag, Some(0));

    let groups = admin.list_groups().await.unwrap();
    assert!(groups.iter().any(|g| g.group_id == "g1"), "{groups:?}");
    let d = admin.describe_groups(&["g1"]).await.unwrap();
    let g = d["g1"].as_ref().unwrap();
    assert_eq!(g.state, "Empty");
    assert!(g.members.is_empty());
    assert_eq!(g.coordinator, coordinator);

    let del = admin.delete_groups(&["g1", "nobody"]).await.unwrap();
    assert!(del["g1"].is_ok(), "{del:?}");
    assert_eq!(
        del["nobody"].as_ref().unwrap_err().code,
        ErrorCode::GROUP_ID_NOT_FOUND
    );
    assert!(!admin
        .list_groups()
        .await
        .unwrap()
        .iter()
        .any(|g| g.group_id == "g1"));
}

#[tokio::test]
async fn negotiated_versions_and_typed_requests() {
    let b = common::start().await;
    let admin = b.admin().await;
    let t = admin.cluster().any_transport().await.unwrap();
    assert_eq!(t.version_for(MetadataRequest::API_KEY, 12), Some(12));
    assert_eq!(t.version_for(MetadataRequest::API_KEY, 5), Some(5));
    // Produce below the broker's minimum (3).
    assert_eq!(t.version_for(ProduceRequest::API_KEY, 2), None);
    // An API the broker does not serve.
    assert_eq!(t.version_for(SaslHandshakeRequest::API_KEY, 1), None);
    let e = request(&*t, 1, SaslHandshakeRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, brook_client::ClientError::UnsupportedVersion { .. }),
        "{e}"
    );
    // Many requests in flight on one connection, from many tasks.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move { request(&*t, 12, MetadataRequest::default()).await })
        })
        .collect();
    for task in tasks {
        let (v, r) = task.await.unwrap().unwrap();
        assert_eq!(v, 12);
        assert_eq!(r.brokers.len(), 1);
    }
}

#[tokio::test]
async fn bootstrap_skips_dead_servers_and_metadata_follows_new_topics() {
    let b = common::start().await;
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let a = brook_client::Admin::connect(
        &format!("127.0.0.1:{dead_port},{}", b.bootstrap()),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(a.describe_cluster().await.unwrap().brokers.len(), 1);

    // Another client creates a topic: the first one's cached metadata does not know it, and
    // refreshes when asked about it.
    let other = b.admin().await;
    other
        .create_topics(&[NewTopic::new("later", 2, 1)], false)
        .await
        .unwrap()["later"]
        .as_ref()
        .unwrap();
    assert!(!a.metadata().topics.contains_key("later"));
    produce(&a, "later", 1, 3, now_ms()).await;
    let p = TopicPartition::new("later", 1);
    let r = a
        .list_offsets(&[(p.clone(), OffsetSpec::Latest)])
        .await
        .unwrap();
    assert_eq!(r[&p].as_ref().unwrap().offset, 3);
    assert_eq!(a.metadata().topics["later"].partitions.len(), 2);

    // Deleted elsewhere: a leader lookup after a refresh says there is no such topic.
    other.delete_topics(&["later"]).await.unwrap()["later"]
        .clone()
        .unwrap();
    a.cluster().mark_stale();
    let e = a.cluster().leader("later", 0).await.unwrap_err();
    assert!(
        matches!(e, brook_client::ClientError::NoSuchTopic(_)),
        "{e}"
    );
}

/// A connector wrapping TCP that counts connections: the seam takes any implementation.
#[derive(Debug)]
struct Counting {
    inner: brook_client::TcpConnector,
    opened: std::sync::atomic::AtomicUsize,
}

impl brook_client::Connector for Counting {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> brook_client::transport::BoxFuture<
        'a,
        Result<std::sync::Arc<dyn brook_client::Transport>, brook_client::ClientError>,
    > {
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.connect(host, port)
    }
}

#[tokio::test]
async fn custom_connector_and_connection_reuse() {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let b = common::start().await;
    let connector = Arc::new(Counting {
        inner: Default::default(),
        opened: Default::default(),
    });
    let cluster = brook_client::Cluster::connect(&b.bootstrap(), connector.clone())
        .await
        .unwrap();
    let admin = brook_client::Admin::with_cluster(Arc::new(cluster), Default::default());
    admin
        .create_topics(&[NewTopic::new("reuse", 1, 1)], false)
        .await
        .unwrap()["reuse"]
        .as_ref()
        .unwrap();
    let after_first = connector.opened.load(Ordering::Relaxed);
    assert!((1..=2).contains(&after_first), "{after_first}");
    for _ in 0..5 {
        admin.list_topics(false).await.unwrap();
        admin
            .list_offsets(&[(TopicPartition::new("reuse", 0), OffsetSpec::Latest)])
            .await
            .unwrap();
    }
    assert_eq!(connector.opened.load(Ordering::Relaxed), after_first);
}
