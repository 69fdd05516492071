//! The Kafka protocol server in process (port 0): request/response behaviour through the
//! generated message types, and hostile clients that must not affect others.

use std::time::Duration;

mod common;

use brook_broker::server::BrokerConfig;
use brook_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use brook_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use brook_protocol::messages::*;
use brook_protocol::record::{BatchBuilder, BatchIter, Compression};
use common::{body_of, call, read_frame, start};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn api_versions_advertises_what_is_served_and_answers_unknown_versions_with_v0() {
    let b = start(BrokerConfig::default()).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    let r = call(&mut s, ApiVersionsRequest::API_KEY, 3, |out| {
        ApiVersionsRequest {
            client_software_name: "t".into(),
            client_software_version: "1".into(),
        }
        .encode(3, out)
        .unwrap()
    })
    .await;
    let resp = ApiVersionsResponse::decode(&mut body_of(&r, 18, 3), 3).unwrap();
    assert_eq!(resp.error_code, 0);
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (3, 11));
    let join = resp.api_keys.iter().find(|k| k.api_key == 11).unwrap();
    assert_eq!((join.min_version, join.max_version), (0, 9));
    for k in &resp.api_keys {
        assert!(
            brook_broker::server::handlers::is_supported(k.api_key, k.max_version),
            "API {} is advertised but not served",
            k.api_key
        );
    }
    assert!(
        resp.api_keys.iter().all(|k| k.api_key != 24),
        "AddPartitionsToTxn is not served: no transactions yet"
    );

    // Version 99: a v0 response with UNSUPPORTED_VERSION and the ranges; connection stays up.
    let mut frame = vec![0; 4];
    frame.extend_from_slice(&18i16.to_be_bytes());
    frame.extend_from_slice(&99i16.to_be_bytes());
    frame.extend_from_slice(&42i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
    frame.push(0); // no tagged fields: request header v2, as for any flexible version
    let len = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    s.write_all(&frame).await.unwrap();
    let r = read_frame(&mut s).await.unwrap();
    let resp = ApiVersionsResponse::decode(&mut body_of(&r, 18, 0), 0).unwrap();
    assert_eq!(resp.error_code, 35);
    assert!(!resp.api_keys.is_empty());
}

#[tokio::test]
async fn produce_then_fetch_returns_the_stored_batches_and_fetch_waits_for_data() {
    let b = start(BrokerConfig::default()).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    let mut builder = BatchBuilder::new(Compression::Zstd, 1000);
    builder.append(1000, Some(b"k"), Some(b"hello"), &[]);
    let batch = builder.build(0);
    let produce = |batch: Vec<u8>| ProduceRequest {
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "orders".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch.into()),
            }],
        }],
        ..Default::default()
    };
    let r = call(&mut s, 0, 9, |out| {
        produce(batch.clone()).encode(9, out).unwrap()
    })
    .await;
    let resp = ProduceResponse::decode(&mut body_of(&r, 0, 9), 9).unwrap();
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(
        (p.error_code, p.base_offset),
        (0, 0),
        "auto-created and appended"
    );

    let fetch = |offset: i64, wait: i32| FetchRequest {
        replica_id: -1,
        max_wait_ms: wait,
        min_bytes: 1,
        max_bytes: 1 << 20,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: "orders".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
                log_start_offset: -1,
                current_leader_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = call(&mut s, 1, 12, |out| fetch(0, 0).encode(12, out).unwrap()).await;
    let resp = FetchResponse::decode(&mut body_of(&r, 1, 12), 12).unwrap();
    let d = &resp.responses[0].partitions[0];
    assert_eq!((d.error_code, d.high_watermark), (0, 1));
    let records = d.records.clone().unwrap();
    let (h, stored) = BatchIter::new(&records).next().unwrap().unwrap();
    assert_eq!(h.base_offset, 0);
    // As produced, but for the leader's epoch (0) in partitionLeaderEpoch (bytes 12..16,
    // outside the CRC), which the leader stamps as Kafka's does.
    let mut expected = batch.clone();
    expected[12..16].copy_from_slice(&0i32.to_be_bytes());
    assert_eq!(
        stored,
        &expected[..],
        "the batch as produced, with the leader epoch"
    );

    // A fetch at the end waits; a produce on another connection wakes it.
    let addr = b.addr;
    let waiter = tokio::spawn(async move {
        let mut s2 = TcpStream::connect(addr).await.unwrap();
        let started = std::time::Instant::now();
        let r = call(&mut s2, 1, 12, |out| {
            fetch(1, 10_000).encode(12, out).unwrap()
        })
        .await;
        let resp = FetchResponse::decode(&mut body_of(&r, 1, 12), 12).unwrap();
        (
            resp.responses[0].partitions[0]
                .records
                .clone()
                .unwrap()
                .len(),
            started.elapsed(),
        )
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = call(&mut s, 0, 9, |out| {
        produce(batch.clone()).encode(9, out).unwrap()
    })
    .await;
    assert_eq!(
        ProduceResponse::decode(&mut body_of(&r, 0, 9), 9)
            .unwrap()
            .responses[0]
            .partition_responses[0]
            .base_offset,
        1
    );
    let (len, waited) = waiter.await.unwrap();
    assert_eq!(len, batch.len());
    assert!(
        waited < Duration::from_secs(5),
        "woken by the append, not the 10 s timeout"
    );

    // Out of range.
    let r = call(&mut s, 1, 12, |out| fetch(50, 0).encode(12, out).unwrap()).await;
    assert_eq!(
        FetchResponse::decode(&mut body_of(&r, 1, 12), 12)
            .unwrap()
            .responses[0]
            .partitions[0]
            .error_code,
        1
    );

    // A corrupt batch is refused with CORRUPT_MESSAGE and nothing is appended.
    let mut bad = batch.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let r = call(&mut s, 0, 9, |out| produce(bad).encode(9, out).unwrap()).await;
    assert_eq!(
        ProduceResponse::decode(&mut body_of(&r, 0, 9), 9)
            .unwrap()
            .responses[0]
            .partition_responses[0]
            .error_code,
        2
    );
}

#[tokio::test]
async fn hostile_frames_close_only_their_own_connection() {
    let b = start(BrokerConfig {
        max_request_bytes: 1 << 20,
        ..BrokerConfig::default()
    })
    .await;
    let mut good = TcpStream::connect(b.addr).await.unwrap();
    let hostile: Vec<Vec<u8>> = vec![
        // MetadataRequest v1 whose topic count is 0x7fffffff.
        {
            let mut f = vec![0, 0, 0, 0, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff];
            f.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
            let len = (f.len() - 4) as i32;
            f[..4].copy_from_slice(&len.to_be_bytes());
            f
        },
        // A frame larger than socket.request.max.bytes.
        (2i32 << 20).to_be_bytes().to_vec(),
        // A negative length.
        (-5i32).to_be_bytes().to_vec(),
        // An unknown API key.
        vec![0, 0, 0, 8, 0x7f, 0x00, 0, 0, 0, 0, 0, 1],
        // Garbage.
        vec![0, 0, 0, 3, 1, 2, 3],
    ];
    for frame in hostile {
        let mut bad = TcpStream::connect(b.addr).await.unwrap();
        bad.write_all(&frame).await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut bad))
            .await
            .unwrap();
        assert!(
            closed.is_none(),
            "the hostile connection is closed without a response"
        );
        // The well-behaved connection is still served.
        let r = call(&mut good, 3, 1, |out| {
            MetadataRequest {
                topics: None,
                ..Default::default()
            }
            .encode(1, out)
            .unwrap()
        })
        .await;
        let resp = MetadataResponse::decode(&mut body_of(&r, 3, 1), 1).unwrap();
        assert_eq!(resp.brokers.len(), 1);
        assert_eq!(resp.brokers[0].port as u16, b.addr.port());
    }
}

#[tokio::test]
async fn idempotent_producer_retries_get_their_original_offsets() {
    let b = start(BrokerConfig::default()).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    let init = |out: &mut Vec<u8>| {
        InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        }
        .encode(4, out)
        .unwrap()
    };
    let r = call(&mut s, 22, 4, init).await;
    let first = InitProducerIdResponse::decode(&mut body_of(&r, 22, 4), 4).unwrap();
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    let r = call(&mut s, 22, 4, init).await;
    let second = InitProducerIdResponse::decode(&mut body_of(&r, 22, 4), 4).unwrap();
    assert_ne!(
        first.producer_id, second.producer_id,
        "every producer gets its own id"
    );
    // Transactions are not there yet: a clear, fatal error.
    let r = call(&mut s, 22, 4, |out| {
        InitProducerIdRequest {
            transactional_id: Some("tx".into()),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        }
        .encode(4, out)
        .unwrap()
    })
    .await;
    assert_eq!(
        InitProducerIdResponse::decode(&mut body_of(&r, 22, 4), 4)
            .unwrap()
            .error_code,
        35
    );

    let batch = |seq: i32| {
        let mut b = BatchBuilder::new(Compression::Lz4, 0)
            .producer_id(first.producer_id)
            .producer_epoch(0)
            .base_sequence(seq);
        b.append(0, Some(b"k"), Some(b"v"), &[])
            .append(0, Some(b"k"), Some(b"w"), &[]);
        b.build(0)
    };
    let produce = |records: Vec<u8>| ProduceRequest {
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "idem".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records.into()),
            }],
        }],
        ..Default::default()
    };
    let mut offsets = Vec::new();
    for seq in [0, 2, 2, 0, 4] {
        let r = call(&mut s, 0, 9, |out| {
            produce(batch(seq)).encode(9, out).unwrap()
        })
        .await;
        let p = ProduceResponse::decode(&mut body_of(&r, 0, 9), 9)
            .unwrap()
            .responses[0]
            .partition_responses[0]
            .clone();
        assert_eq!(p.error_code, 0, "seq {seq}");
        offsets.push(p.base_offset);
    }
    assert_eq!(
        offsets,
        vec![0, 2, 2, 0, 4],
        "retries are acknowledged with the original offsets"
    );
    let log = b.broker.topics.log("idem", 0).unwrap();
    assert_eq!(
        (log.log_end_offset(), log.high_watermark()),
        (6, 6),
        "written once; HW not moved back"
    );
    // A gap is OUT_OF_ORDER_SEQUENCE_NUMBER.
    let r = call(&mut s, 0, 9, |out| {
        produce(batch(9)).encode(9, out).unwrap()
    })
    .await;
    assert_eq!(
        ProduceResponse::decode(&mut body_of(&r, 0, 9), 9)
            .unwrap()
            .responses[0]
            .partition_responses[0]
            .error_code,
        45
    );
}

#[tokio::test]
async fn delete_records_and_offset_for_leader_epoch() {
    let b = start(BrokerConfig::default()).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    for _ in 0..5 {
        let mut batch = BatchBuilder::new(Compression::None, 0);
        batch.append(0, None, Some(b"x"), &[]);
        let req = ProduceRequest {
            acks: 1,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "trim".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.build(0).into()),
                }],
            }],
            ..Default::default()
        };
        call(&mut s, 0, 9, |out| req.encode(9, out).unwrap()).await;
    }
    let delete = |offset: i64| DeleteRecordsRequest {
        topics: vec![delete_records_request::DeleteRecordsTopic {
            name: "trim".into(),
            partitions: vec![delete_records_request::DeleteRecordsPartition {
                partition_index: 0,
                offset,
            }],
        }],
        timeout_ms: 1000,
    };
    let r = call(&mut s, 21, 2, |out| delete(3).encode(2, out).unwrap()).await;
    let p = DeleteRecordsResponse::decode(&mut body_of(&r, 21, 2), 2)
        .unwrap()
        .topics[0]
        .partitions[0]
        .clone();
    assert_eq!((p.error_code, p.low_watermark), (0, 3));
    let r = call(&mut s, 21, 2, |out| delete(99).encode(2, out).unwrap()).await;
    assert_eq!(
        DeleteRecordsResponse::decode(&mut body_of(&r, 21, 2), 2)
            .unwrap()
            .topics[0]
            .partitions[0]
            .error_code,
        1
    );
    assert_eq!(
        b.broker.topics.log("trim", 0).unwrap().log_start_offset(),
        3
    );

    let r = call(&mut s, 23, 4, |out| {
        OffsetForLeaderEpochRequest {
            replica_id: -1,
            topics: vec![offset_for_leader_epoch_request::OffsetForLeaderTopic {
                topic: "trim".into(),
                partitions: vec![offset_for_leader_epoch_request::OffsetForLeaderPartition {
                    partition: 0,
                    current_leader_epoch: 0,
                    leader_epoch: 0,
                }],
            }],
        }
        .encode(4, out)
        .unwrap()
    })
    .await;
    let e = OffsetForLeaderEpochResponse::decode(&mut body_of(&r, 23, 4), 4)
        .unwrap()
        .topics[0]
        .partitions[0]
        .clone();
    assert_eq!((e.error_code, e.leader_epoch, e.end_offset), (0, 0, 5));

    // ListOffsets v10: earliest follows DeleteRecords; MAX_TIMESTAMP (-3) finds the first
    // record with the largest timestamp (all stamped 0 here: the first one still readable).
    for (timestamp, expected) in [(-2, 3), (-1, 5), (-3, 3)] {
        let r = call(&mut s, 2, 10, |out| {
            ListOffsetsRequest {
                replica_id: -1,
                isolation_level: 0,
                topics: vec![list_offsets_request::ListOffsetsTopic {
                    name: "trim".into(),
                    partitions: vec![list_offsets_request::ListOffsetsPartition {
                        partition_index: 0,
                        current_leader_epoch: -1,
                        timestamp,
                        max_num_offsets: 1,
                    }],
                }],
                timeout_ms: 1000,
            }
            .encode(10, out)
            .unwrap()
        })
        .await;
        let p = ListOffsetsResponse::decode(&mut body_of(&r, 2, 10), 10)
            .unwrap()
            .topics[0]
            .partitions[0]
            .clone();
        assert_eq!(
            (p.error_code, p.offset),
            (0, expected),
            "timestamp {timestamp}"
        );
    }
}

/// `acks=all` needs `min.insync.replicas` in-sync replicas (this node is the one), and no
/// client may write to `__consumer_offsets`; acks=1 is unaffected.
#[tokio::test]
async fn min_insync_replicas_and_internal_topics_refuse_produce() {
    let b = start(BrokerConfig::default()).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    b.broker
        .topics
        .create(
            "guarded",
            1,
            -1,
            &[("min.insync.replicas".into(), Some("2".into()))],
            1,
            false,
        )
        .unwrap();
    b.broker.groups.offsets_topic().unwrap();
    let produce = |topic: &str, acks: i16| {
        let mut builder = BatchBuilder::new(Compression::None, 1000);
        builder.append(1000, Some(b"k"), Some(b"v"), &[]);
        ProduceRequest {
            acks,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: topic.into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(builder.build(0).into()),
                }],
            }],
            ..Default::default()
        }
    };
    async fn code(s: &mut TcpStream, req: ProduceRequest) -> i16 {
        let r = call(s, 0, 9, |out| req.encode(9, out).unwrap()).await;
        let resp = ProduceResponse::decode(&mut body_of(&r, 0, 9), 9).unwrap();
        resp.responses[0].partition_responses[0].error_code
    }
    assert_eq!(
        code(&mut s, produce("guarded", -1)).await,
        19,
        "NOT_ENOUGH_REPLICAS"
    );
    assert_eq!(code(&mut s, produce("guarded", 1)).await, 0);
    assert_eq!(
        code(&mut s, produce("__consumer_offsets", 1)).await,
        17,
        "INVALID_TOPIC_EXCEPTION"
    );
    let log = b.broker.topics.log("guarded", 0).unwrap();
    assert_eq!(
        log.log_end_offset(),
        1,
        "only the acks=1 batch was appended"
    );
    let configs = b
        .broker
        .topics
        .effective_configs(&b.broker.topics.get("guarded").unwrap().configs);
    let isr = configs
        .iter()
        .find(|c| c.name == "min.insync.replicas")
        .unwrap();
    assert_eq!(isr.value, "2");
}

/// A record refused on its own (no key for a compacted topic) is named in the response's
/// `record_errors` (Produce v8+), and nothing of its batch is appended.
#[tokio::test]
async fn produce_names_the_refused_record() {
    let b = start(BrokerConfig::default()).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    b.broker
        .topics
        .create(
            "compacted",
            1,
            -1,
            &[("cleanup.policy".into(), Some("compact".into()))],
            1,
            false,
        )
        .unwrap();
    let mut builder = BatchBuilder::new(Compression::Gzip, 1000);
    builder.append(1000, Some(b"k1"), Some(b"v"), &[]);
    builder.append(1001, None, Some(b"keyless"), &[]);
    builder.append(1002, Some(b"k3"), Some(b"v"), &[]);
    let req = ProduceRequest {
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "compacted".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(builder.build(0).into()),
            }],
        }],
        ..Default::default()
    };
    let r = call(&mut s, 0, 9, |out| req.encode(9, out).unwrap()).await;
    let resp = ProduceResponse::decode(&mut body_of(&r, 0, 9), 9).unwrap();
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 87, "INVALID_RECORD");
    assert_eq!(p.record_errors.len(), 1);
    assert_eq!(p.record_errors[0].batch_index, 1);
    assert!(p.error_message.as_deref().unwrap().contains("record 1"));
    assert_eq!(
        b.broker
            .topics
            .log("compacted", 0)
            .unwrap()
            .log_end_offset(),
        0
    );
}

/// The broker's `fetch.max.bytes` caps a response whatever the client asks for.
#[tokio::test]
async fn fetch_max_bytes_caps_a_response() {
    let mut config = BrokerConfig::default();
    config.set("fetch.max.bytes", "4096").unwrap();
    let b = start(config).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    let mut sizes = Vec::new();
    for i in 0..5u8 {
        let mut builder = BatchBuilder::new(Compression::None, 1000);
        builder.append(1000, Some(b"k"), Some(&[i; 1500]), &[]);
        let batch = builder.build(0);
        sizes.push(batch.len());
        let req = ProduceRequest {
            acks: 1,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "capped".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.into()),
                }],
            }],
            ..Default::default()
        };
        let r = call(&mut s, 0, 9, |out| req.encode(9, out).unwrap()).await;
        let resp = ProduceResponse::decode(&mut body_of(&r, 0, 9), 9).unwrap();
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    }
    let req = FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1 << 20,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: "capped".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                log_start_offset: -1,
                current_leader_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = call(&mut s, 1, 12, |out| req.encode(12, out).unwrap()).await;
    let resp = FetchResponse::decode(&mut body_of(&r, 1, 12), 12).unwrap();
    let records = resp.responses[0].partitions[0].records.clone().unwrap();
    let batches = BatchIter::new(&records).count();
    assert_eq!(
        records.len(),
        sizes[0] + sizes[1],
        "two whole batches fit in 4096 bytes"
    );
    assert_eq!(batches, 2);
}
