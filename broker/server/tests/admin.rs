//! Topic administration over the wire: CreateTopics with configs, DescribeConfigs,
//! IncrementalAlterConfigs, AlterConfigs, CreatePartitions, DeleteTopics (by name and by
//! id), DescribeCluster; and that all of it survives a restart.

mod common;

use brook_broker::server::BrokerConfig;
use brook_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use brook_protocol::messages::delete_topics_request::DeleteTopicState;
use brook_protocol::messages::describe_configs_request::DescribeConfigsResource;
use brook_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use brook_protocol::messages::*;
use common::{body_of, call, start, start_in};
use tokio::net::TcpStream;

async fn describe(s: &mut TcpStream, topic: &str) -> DescribeConfigsResponse {
    let r = call(s, 32, 4, |out| {
        DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: 2,
                resource_name: topic.into(),
                configuration_keys: None,
            }],
            include_synonyms: false,
            include_documentation: false,
        }
        .encode(4, out)
        .unwrap()
    })
    .await;
    DescribeConfigsResponse::decode(&mut body_of(&r, 32, 4), 4).unwrap()
}

fn value_of(d: &DescribeConfigsResponse, key: &str) -> (String, i8) {
    let c = d.results[0].configs.iter().find(|c| c.name == key).unwrap();
    (c.value.clone().unwrap(), c.config_source)
}

#[tokio::test]
async fn topics_are_created_configured_grown_and_deleted() {
    let mut config = BrokerConfig::default();
    config.set("log.segment.bytes", "1048576").unwrap();
    let b = start(config.clone()).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();

    let create = |name: &str, partitions: i32| CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: 1,
            configs: vec![CreatableTopicConfig {
                name: "retention.ms".into(),
                value: Some("60000".into()),
            }],
            ..Default::default()
        }],
        timeout_ms: 1000,
        validate_only: false,
    };
    let r = call(&mut s, 19, 7, |out| {
        create("audit", 2).encode(7, out).unwrap()
    })
    .await;
    let resp = CreateTopicsResponse::decode(&mut body_of(&r, 19, 7), 7).unwrap();
    let t = &resp.topics[0];
    assert_eq!((t.error_code, t.num_partitions), (0, 2));
    let id = t.topic_id;
    assert_ne!(id, Uuid::ZERO);
    // Bad names, counts and configs are refused with Kafka's codes.
    for (req, code) in [
        (create("bad name", 1), 17),
        (create("audit", 1), 36),
        (create("zero", 0), 37),
    ] {
        let r = call(&mut s, 19, 7, |out| req.encode(7, out).unwrap()).await;
        assert_eq!(
            CreateTopicsResponse::decode(&mut body_of(&r, 19, 7), 7)
                .unwrap()
                .topics[0]
                .error_code,
            code
        );
    }
    let mut bad_config = create("badcfg", 1);
    bad_config.topics[0].configs[0].value = Some("soon".into());
    let r = call(&mut s, 19, 7, |out| bad_config.encode(7, out).unwrap()).await;
    let resp = CreateTopicsResponse::decode(&mut body_of(&r, 19, 7), 7).unwrap();
    assert_eq!(resp.topics[0].error_code, 40);
    assert!(resp.topics[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("retention.ms"));

    // Sources: topic override (1), broker setting (4), Kafka default (5).
    let d = describe(&mut s, "audit").await;
    assert_eq!(value_of(&d, "retention.ms"), ("60000".into(), 1));
    assert_eq!(value_of(&d, "segment.bytes"), ("1048576".into(), 4));
    assert_eq!(value_of(&d, "cleanup.policy"), ("delete".into(), 5));

    // IncrementalAlterConfigs: APPEND to a list, DELETE an override.
    let r = call(&mut s, 44, 1, |out| {
        IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: 2,
                resource_name: "audit".into(),
                configs: vec![
                    AlterableConfig {
                        name: "cleanup.policy".into(),
                        config_operation: 2,
                        value: Some("compact".into()),
                    },
                    AlterableConfig {
                        name: "retention.ms".into(),
                        config_operation: 1,
                        value: None,
                    },
                ],
            }],
            validate_only: false,
        }
        .encode(1, out)
        .unwrap()
    })
    .await;
    assert_eq!(
        IncrementalAlterConfigsResponse::decode(&mut body_of(&r, 44, 1), 1)
            .unwrap()
            .responses[0]
            .error_code,
        0
    );
    let d = describe(&mut s, "audit").await;
    assert_eq!(value_of(&d, "cleanup.policy"), ("compact,delete".into(), 1));
    assert_eq!(value_of(&d, "retention.ms").1, 5);
    assert!(
        b.broker
            .topics
            .log("audit", 1)
            .unwrap()
            .config()
            .cleanup_policy
            .compact,
        "applied to the logs"
    );

    // CreatePartitions: grow, then refuse to shrink.
    let grow = |count: i32| CreatePartitionsRequest {
        topics: vec![create_partitions_request::CreatePartitionsTopic {
            name: "audit".into(),
            count,
            assignments: None,
        }],
        timeout_ms: 1000,
        validate_only: false,
    };
    let r = call(&mut s, 37, 3, |out| grow(5).encode(3, out).unwrap()).await;
    assert_eq!(
        CreatePartitionsResponse::decode(&mut body_of(&r, 37, 3), 3)
            .unwrap()
            .results[0]
            .error_code,
        0
    );
    let r = call(&mut s, 37, 3, |out| grow(3).encode(3, out).unwrap()).await;
    assert_eq!(
        CreatePartitionsResponse::decode(&mut body_of(&r, 37, 3), 3)
            .unwrap()
            .results[0]
            .error_code,
        37
    );
    assert!(b.broker.topics.log("audit", 4).is_some());

    // DescribeCluster.
    let r = call(&mut s, 60, 1, |out| {
        DescribeClusterRequest {
            include_cluster_authorized_operations: false,
            endpoint_type: 1,
        }
        .encode(1, out)
        .unwrap()
    })
    .await;
    let cluster = DescribeClusterResponse::decode(&mut body_of(&r, 60, 1), 1).unwrap();
    assert_eq!((cluster.brokers.len(), cluster.controller_id), (1, 1));

    // Everything survives a restart.
    drop(s);
    let dir = b.stop();
    let b = start_in(dir, config).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    let d = describe(&mut s, "audit").await;
    assert_eq!(value_of(&d, "cleanup.policy"), ("compact,delete".into(), 1));
    assert_eq!(b.broker.topics.get("audit").unwrap().partitions, 5);
    assert_eq!(b.broker.topics.get("audit").unwrap().id, id.0);

    // DeleteTopics by id (v6) removes the logs; a second delete is UNKNOWN_TOPIC_ID.
    let delete = DeleteTopicsRequest {
        topics: vec![DeleteTopicState {
            name: None,
            topic_id: id,
        }],
        topic_names: vec![],
        timeout_ms: 1000,
    };
    let r = call(&mut s, 20, 6, |out| delete.encode(6, out).unwrap()).await;
    let resp = DeleteTopicsResponse::decode(&mut body_of(&r, 20, 6), 6).unwrap();
    assert_eq!(
        (
            resp.responses[0].error_code,
            resp.responses[0].name.as_deref()
        ),
        (0, Some("audit"))
    );
    assert!(!b.dir.path().join("audit-0").exists());
    let r = call(&mut s, 20, 6, |out| delete.encode(6, out).unwrap()).await;
    assert_eq!(
        DeleteTopicsResponse::decode(&mut body_of(&r, 20, 6), 6)
            .unwrap()
            .responses[0]
            .error_code,
        100
    );
    assert!(describe(&mut s, "audit").await.results[0].error_code == 3);
}

/// The broker resource (type 4): settings from the config are STATIC_BROKER_CONFIG (4),
/// the rest Kafka's DEFAULT_CONFIG (5).
#[tokio::test]
async fn broker_configs_report_where_they_come_from() {
    let mut config = BrokerConfig::default();
    config.set("num.partitions", "3").unwrap();
    let b = start(config).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    let r = call(&mut s, 32, 4, |out| {
        DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: 4,
                resource_name: "1".into(),
                configuration_keys: None,
            }],
            include_synonyms: false,
            include_documentation: false,
        }
        .encode(4, out)
        .unwrap()
    })
    .await;
    let d = DescribeConfigsResponse::decode(&mut body_of(&r, 32, 4), 4).unwrap();
    assert_eq!(d.results[0].error_code, 0);
    assert_eq!(value_of(&d, "num.partitions"), ("3".into(), 4));
    assert_eq!(
        value_of(&d, "auto.create.topics.enable"),
        ("true".into(), 5)
    );
    assert_eq!(
        value_of(&d, "group.initial.rebalance.delay.ms"),
        ("3000".into(), 5)
    );
    b.stop();
}
