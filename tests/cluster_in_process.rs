//! Three brokers in the test's process form one cluster (`Broker::open` with
//! `controller.voters`, each served with `server::run` on a listener bound first):
//!
//! - a replication-factor-3 topic is created through the admin client and every broker
//!   describes it with a leader and all three replicas in sync;
//! - records produced with `acks=all` are, as soon as they are acknowledged, in all three
//!   replicas' logs (`broker.logs`) at their acknowledged offsets, and the three logs hold
//!   the same batches byte for byte;
//! - the leader of partition 0 is closed (controlled shutdown) while a producer keeps
//!   writing with `acks=all`: before `close` returns, the closing broker has applied the
//!   change of leadership to another member of the ISR, with a higher leader epoch; the
//!   two other brokers agree and the new leader leads; no sample of their metadata during
//!   the close shows the partition without a leader; a Produce sent to the closed broker
//!   on a connection opened before is refused (NOT_LEADER_OR_FOLLOWER), never appended;
//! - the producer goes on through the two remaining brokers, and a consumer reads every
//!   record back in order: each acknowledged one exactly once at its acknowledged offset.

mod cluster_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_broker::log::TopicPartition as LogTp;
use brook_broker::server::controller::image::NO_LEADER;
use brook_broker::server::{self, Broker, BrokerConfig};
use brook_client::{
    NewTopic, Producer, ProducerRecord, RecordMetadata, TcpConfig, TcpTransport, Transport,
};
use brook_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use brook_protocol::messages::ProduceRequest;
use brook_protocol::record::{BatchBuilder, Compression};
use cluster_support::{
    check_stream, compare_replicas, free_ports, fully_in_sync, producer_config, read_all, read_log,
    topic_metadata, wait_for, Stream,
};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

const TOPIC: &str = "replicated";
const PARTITIONS: i32 = 2;
const INITIAL: usize = 200;

/// One broker of the in-process cluster.
struct Node {
    id: i32,
    broker: Arc<Broker>,
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    closed: bool,
}

/// Three in-process brokers; closed on drop (controlled shutdown), so a failing test
/// leaves no threads serving.
struct InProcessCluster {
    nodes: Vec<Node>,
    rt: Runtime,
    _dir: tempfile::TempDir,
}

impl InProcessCluster {
    fn start() -> InProcessCluster {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .enable_all()
            .build()
            .unwrap();
        // Kafka listeners first: their ports are the advertised ones.
        let listeners: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let controller_ports = free_ports(3);
        let voters: Vec<(i32, String)> = controller_ports
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i32 + 1, format!("127.0.0.1:{p}")))
            .collect();
        let started = Instant::now();
        // Each open waits for its registration to commit: all three at once.
        let brokers: Vec<Broker> = std::thread::scope(|s| {
            let handles: Vec<_> = listeners
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let port = l.local_addr().unwrap().port();
                    let data = dir.path().join(format!("n{}", i + 1));
                    let mut config = BrokerConfig {
                        node_id: i as i32 + 1,
                        controller_wait: Duration::from_secs(60),
                        ..BrokerConfig::default()
                    };
                    config.controller.voters = voters.clone();
                    config.groups.initial_rebalance_delay = Duration::ZERO;
                    s.spawn(move || {
                        Broker::open(&data, config, ("127.0.0.1".into(), port))
                            .unwrap_or_else(|e| panic!("opening broker {}: {e}", i + 1))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        eprintln!("3 in-process brokers registered in {:?}", started.elapsed());
        // Each broker knows every other one, and an active controller among them (else
        // Metadata names a controller it does not list: see tests/cluster.rs).
        for (i, b) in brokers.iter().enumerate() {
            wait_for(
                Duration::from_secs(20),
                &format!("broker {} knowing every broker", i + 1),
                || {
                    let image = b.controller.view().image();
                    let live: Vec<i32> = image.live_brokers().map(|b| b.id).collect();
                    match b.controller.leader() {
                        Some(c) if live.len() == 3 && live.contains(&c) => Ok(()),
                        c => Err(format!("live {live:?}, controller {c:?}")),
                    }
                },
            );
        }
        let mut nodes = Vec::new();
        for (i, (broker, listener)) in brokers.into_iter().zip(listeners).enumerate() {
            let broker = Arc::new(broker);
            let addr = listener.local_addr().unwrap().to_string();
            listener.set_nonblocking(true).unwrap();
            let (stop, stop_rx) = oneshot::channel::<()>();
            {
                let _guard = rt.enter();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                rt.spawn(server::run(listener, broker.clone(), async {
                    let _ = stop_rx.await;
                }));
            }
            nodes.push(Node {
                id: i as i32 + 1,
                broker,
                addr,
                stop: Some(stop),
                closed: false,
            });
        }
        InProcessCluster {
            nodes,
            rt,
            _dir: dir,
        }
    }

    fn node(&self, id: i32) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.addr.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Controlled shutdown of broker `id` (its listener keeps serving until
    /// [`stop_listener`](Self::stop_listener)).
    fn close(&mut self, id: i32) -> Duration {
        let node = &mut self.nodes[(id - 1) as usize];
        assert!(!node.closed);
        node.closed = true;
        let started = Instant::now();
        node.broker
            .close()
            .unwrap_or_else(|e| panic!("closing broker {id}: {e}"));
        started.elapsed()
    }

    fn stop_listener(&mut self, id: i32) {
        if let Some(stop) = self.nodes[(id - 1) as usize].stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for InProcessCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(stop) = n.stop.take() {
                let _ = stop.send(());
            }
            if !n.closed {
                n.closed = true;
                let _ = n.broker.close();
            }
        }
    }
}

/// The records of a local replica's log: `(offset, value)`.
fn local_records(broker: &Broker, partition: i32) -> Vec<(i64, Option<bytes::Bytes>)> {
    let log = broker
        .logs
        .get(&LogTp::new(TOPIC, partition))
        .unwrap_or_else(|| panic!("broker has no replica of {TOPIC}-{partition}"));
    read_log(&log)
        .records
        .into_iter()
        .map(|r| (r.offset, r.value))
        .collect()
}

#[test]
fn three_in_process_brokers_replicate_and_hand_leadership_over_on_controlled_shutdown() {
    let mut cluster = InProcessCluster::start();
    let bootstrap = cluster.bootstrap();

    // The topic, fully replicated as every broker describes it.
    cluster.rt.block_on(async {
        let admin = brook_client::Admin::connect(&bootstrap, cluster_support::admin_config())
            .await
            .unwrap();
        let created = admin
            .create_topics(&[NewTopic::new(TOPIC, PARTITIONS, 3)], false)
            .await
            .unwrap();
        assert!(created[TOPIC].is_ok(), "{created:?}");
    });
    for n in &cluster.nodes {
        wait_for(
            Duration::from_secs(20),
            &format!("{TOPIC} fully in sync on broker {}", n.id),
            || fully_in_sync(&topic_metadata(&cluster.rt, &n.addr, TOPIC)?, 3),
        );
    }

    // acks=all: once acknowledged, every replica has every record.
    let config = producer_config(&bootstrap, true, &[]);
    let producer = cluster.rt.block_on(Producer::connect(config)).unwrap();
    let acked: Vec<RecordMetadata> = cluster.rt.block_on(async {
        let futures: Vec<_> = (0..INITIAL)
            .map(|i| {
                producer.send(
                    ProducerRecord::new(TOPIC, format!("init-{i}").into())
                        .with_partition((i % PARTITIONS as usize) as i32),
                )
            })
            .collect();
        let mut out = Vec::new();
        for (i, f) in futures.into_iter().enumerate() {
            out.push(f.await.unwrap_or_else(|e| panic!("init-{i}: {e}")));
        }
        out
    });
    cluster
        .rt
        .block_on(producer.close(Duration::from_secs(10)))
        .unwrap();
    let mut problems = Vec::new();
    for n in &cluster.nodes {
        for p in 0..PARTITIONS {
            let records: BTreeMap<i64, Option<bytes::Bytes>> =
                local_records(&n.broker, p).into_iter().collect();
            for (i, md) in acked.iter().enumerate().filter(|(_, md)| md.partition == p) {
                let want = format!("init-{i}");
                let holds = records.get(&md.offset).cloned().flatten();
                if holds.as_deref() != Some(want.as_bytes()) {
                    problems.push(format!(
                        "broker {}: {want} acknowledged at {p}@{} but its replica holds {holds:?}",
                        n.id, md.offset
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "acknowledged records missing from replicas right after the ack:\n{}",
        problems.join("\n")
    );
    // Nothing else was written: the replicas are identical, byte for byte.
    for p in 0..PARTITIONS {
        let replicas: Vec<_> = cluster
            .nodes
            .iter()
            .map(|n| read_log(&n.broker.logs.get(&LogTp::new(TOPIC, p)).unwrap()))
            .collect();
        let diff = compare_replicas(&format!("{TOPIC}-{p}"), &replicas);
        assert!(diff.is_empty(), "{}", diff.join("\n"));
    }
    eprintln!("{INITIAL} records acknowledged, in all three replicas");

    // The leader of partition 0 goes, under a producer.
    let before = cluster
        .node(1)
        .broker
        .controller
        .view()
        .image()
        .partition(TOPIC, 0)
        .cloned()
        .unwrap();
    let old = before.leader;
    assert_eq!(before.isr.len(), 3, "{before:?}");
    let others: Vec<i32> = (1..=3).filter(|id| *id != old).collect();
    let led_by_old: Vec<i32> = (0..PARTITIONS)
        .filter(|p| {
            cluster
                .node(old)
                .broker
                .controller
                .view()
                .image()
                .partition(TOPIC, *p)
                .unwrap()
                .leader
                == old
        })
        .collect();
    let stream = Stream::start(
        &cluster.rt,
        producer_config(&bootstrap, true, &[]),
        TOPIC,
        PARTITIONS,
        Duration::from_millis(3),
    );
    let mark = Instant::now();
    stream.wait_acked_since(mark, 100, Duration::from_secs(20), String::new);
    // A connection to the old leader, opened before its close.
    let old_addr = cluster.node(old).addr.clone();
    let probe: TcpTransport = cluster
        .rt
        .block_on(TcpTransport::connect(
            "127.0.0.1",
            old_addr.rsplit_once(':').unwrap().1.parse().unwrap(),
            TcpConfig::default(),
        ))
        .unwrap();

    // Watch the two other brokers' metadata while the old leader closes.
    let watching = Arc::new(AtomicBool::new(true));
    let samples: Arc<Mutex<Vec<(i32, i32, i32)>>> = Arc::new(Mutex::new(Vec::new()));
    let watcher = {
        let (watching, samples) = (watching.clone(), samples.clone());
        let brokers: Vec<(i32, Arc<Broker>)> = others
            .iter()
            .map(|id| (*id, cluster.node(*id).broker.clone()))
            .collect();
        std::thread::spawn(move || {
            while watching.load(Ordering::SeqCst) {
                for (id, b) in &brokers {
                    let image = b.controller.view().image();
                    if let Some(p) = image.partition(TOPIC, 0) {
                        samples
                            .lock()
                            .unwrap()
                            .push((*id, p.leader, p.leader_epoch));
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let took = cluster.close(old);
    watching.store(false, Ordering::SeqCst);
    watcher.join().unwrap();
    eprintln!("controlled shutdown of broker {old} (leader of {TOPIC}-0) took {took:?}");

    // Before close returned, the closing broker itself applied the move.
    let mut problems = Vec::new();
    let seen_by_old = cluster.node(old).broker.controller.view().image();
    for p in &led_by_old {
        let state = seen_by_old.partition(TOPIC, *p).unwrap();
        if state.leader == old || !before.isr.contains(&state.leader) {
            problems.push(format!(
                "the closed broker's last metadata has {TOPIC}-{p} led by {} (ISR before: {:?})",
                state.leader, before.isr
            ));
        }
    }
    if !seen_by_old.brokers.get(&old).is_some_and(|b| b.fenced) {
        problems.push(format!(
            "broker {old} is not fenced in its own last metadata"
        ));
    }
    let after = seen_by_old.partition(TOPIC, 0).cloned().unwrap();
    if after.leader_epoch <= before.leader_epoch {
        problems.push(format!(
            "{TOPIC}-0's leader epoch did not move: {} -> {}",
            before.leader_epoch, after.leader_epoch
        ));
    }
    for id in &others {
        let seen = cluster.node(*id).broker.controller.view().image();
        let state = seen.partition(TOPIC, 0).unwrap();
        if state.leader_epoch < after.leader_epoch
            || (state.leader_epoch == after.leader_epoch && state.leader != after.leader)
        {
            problems.push(format!(
                "broker {id} has {TOPIC}-0 led by {} at epoch {}, the closed broker saw {} at {}",
                state.leader, state.leader_epoch, after.leader, after.leader_epoch
            ));
        }
    }
    // The new leader leads locally; the other follower follows.
    let new = after.leader;
    let tp = LogTp::new(TOPIC, 0);
    wait_for(Duration::from_secs(10), "the new leader leads", || {
        cluster
            .node(new)
            .broker
            .replicas
            .leader_log(&tp, -1)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    });
    let leaderless: Vec<(i32, i32, i32)> = samples
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|(_, leader, _)| *leader == NO_LEADER)
        .collect();
    if !leaderless.is_empty() {
        problems.push(format!(
            "{} metadata samples during the close show {TOPIC}-0 without a leader: {:?}",
            leaderless.len(),
            &leaderless[..leaderless.len().min(5)]
        ));
    }
    // The closed broker no longer takes writes, even on an old connection.
    let probed = cluster.rt.block_on(async {
        let mut b = BatchBuilder::new(Compression::None, 0);
        b.append(0, None, Some(b"after-close"), &[]);
        let req = ProduceRequest {
            transactional_id: None,
            acks: 1,
            timeout_ms: 5000,
            topic_data: vec![TopicProduceData {
                name: TOPIC.into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(b.build(0).into()),
                }],
            }],
        };
        brook_client::transport::request(&probe as &dyn Transport, 9, req).await
    });
    match &probed {
        Ok((_, r)) => {
            let p = &r.responses[0].partition_responses[0];
            // NOT_LEADER_OR_FOLLOWER (the closing broker stepped down before it stopped):
            // refused either way.
            if p.error_code == 0 {
                problems.push(format!(
                    "a Produce to the closed broker {old} on an open connection was \
                     acknowledged at offset {}",
                    p.base_offset
                ));
            } else {
                eprintln!(
                    "a Produce to the closed broker: {} ({:?})",
                    brook_client::ErrorCode(p.error_code).name(),
                    p.error_message
                );
            }
        }
        // A closed connection refuses the write too.
        Err(e) => eprintln!("the probe Produce to the closed broker failed: {e}"),
    }
    cluster.stop_listener(old);

    // On through the two others; then everything reads back in order.
    let mark = Instant::now();
    stream.wait_acked_since(mark, 200, Duration::from_secs(30), String::new);
    let sent = stream.finish(&cluster.rt, Duration::from_secs(60), String::new);
    let remaining = others
        .iter()
        .map(|id| cluster.node(*id).addr.clone())
        .collect::<Vec<_>>()
        .join(",");
    let mut log = read_all(&cluster.rt, &remaining, TOPIC, PARTITIONS);
    // The initial records, at their acknowledged offsets, before the stream's.
    for (i, md) in acked.iter().enumerate() {
        let want = format!("init-{i}");
        let holds = log[&md.partition]
            .iter()
            .find(|(o, _)| *o == md.offset)
            .and_then(|(_, v)| v.clone());
        if holds.as_deref() != Some(want.as_bytes()) {
            problems.push(format!(
                "{want} acknowledged at {}@{}, which holds {holds:?}",
                md.partition, md.offset
            ));
        }
    }
    for records in log.values_mut() {
        records.retain(|(_, v)| !v.as_deref().is_some_and(|v| v.starts_with(b"init-")));
    }
    problems.extend(check_stream(&sent, &log, false));
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!(
        "{TOPIC}-0 moved from broker {old} to {new} (epoch {} -> {}); {} more records \
         acknowledged and read back in order",
        before.leader_epoch,
        after.leader_epoch,
        sent.len()
    );
}

/// A broker in controlled shutdown stops taking writes as soon as its leadership has moved:
/// once its own metadata names another leader, an `acks=1` Produce on a connection it still
/// serves must be refused (NOT_LEADER_OR_FOLLOWER), never appended and acknowledged while
/// the new leader takes writes at the same offsets. A client hammers the leader with
/// `acks=1` produces on one connection while it closes; a watcher notes when the closing
/// broker's own metadata moved the leadership.
#[test]
fn a_closing_broker_takes_no_writes_once_its_leadership_moved() {
    let mut cluster = InProcessCluster::start();
    let bootstrap = cluster.bootstrap();
    let topic = "closing";
    cluster.rt.block_on(async {
        let admin = brook_client::Admin::connect(&bootstrap, cluster_support::admin_config())
            .await
            .unwrap();
        let created = admin
            .create_topics(&[NewTopic::new(topic, 1, 3)], false)
            .await
            .unwrap();
        assert!(created[topic].is_ok(), "{created:?}");
    });
    for n in &cluster.nodes {
        wait_for(Duration::from_secs(20), "in sync", || {
            fully_in_sync(&topic_metadata(&cluster.rt, &n.addr, topic)?, 3)
        });
    }
    let old = cluster
        .node(1)
        .broker
        .controller
        .view()
        .image()
        .partition(topic, 0)
        .unwrap()
        .leader;
    let port: u16 = cluster
        .node(old)
        .addr
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let transport = cluster
        .rt
        .block_on(TcpTransport::connect(
            "127.0.0.1",
            port,
            TcpConfig::default(),
        ))
        .unwrap();
    // (sent at, error code, base offset, message)
    type Answer = (Instant, i16, i64, Option<String>);
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::new(Mutex::new(Vec::new()));
    let hammering = Arc::new(AtomicBool::new(true));
    let hammer = {
        let (answers, hammering) = (answers.clone(), hammering.clone());
        cluster.rt.spawn(async move {
            let mut i = 0u64;
            while hammering.load(Ordering::SeqCst) {
                i += 1;
                let mut b = BatchBuilder::new(Compression::None, 0);
                b.append(0, None, Some(format!("h-{i}").as_bytes()), &[]);
                let req = ProduceRequest {
                    transactional_id: None,
                    acks: 1,
                    timeout_ms: 5000,
                    topic_data: vec![TopicProduceData {
                        name: "closing".into(),
                        partition_data: vec![PartitionProduceData {
                            index: 0,
                            records: Some(b.build(0).into()),
                        }],
                    }],
                };
                let sent = Instant::now();
                match brook_client::transport::request(&transport as &dyn Transport, 9, req).await {
                    Ok((_, r)) => {
                        let p = &r.responses[0].partition_responses[0];
                        answers.lock().unwrap().push((
                            sent,
                            p.error_code,
                            p.base_offset,
                            p.error_message.clone(),
                        ));
                    }
                    Err(_) => return,
                }
            }
        })
    };
    stream_some(&cluster, 200);
    // When the closing broker's own metadata moves the leadership.
    let moved_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (moved_at, watching) = (moved_at.clone(), watching.clone());
        let b = cluster.node(old).broker.clone();
        std::thread::spawn(move || {
            while watching.load(Ordering::SeqCst) {
                let image = b.controller.view().image();
                if image
                    .partition("closing", 0)
                    .is_some_and(|p| p.leader != old)
                {
                    *moved_at.lock().unwrap() = Some(Instant::now());
                    return;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    cluster.close(old);
    watching.store(false, Ordering::SeqCst);
    watcher.join().unwrap();
    hammering.store(false, Ordering::SeqCst);
    let _ = cluster.rt.block_on(hammer);
    let moved_at = moved_at.lock().unwrap().expect("the leadership moved");
    let answers = answers.lock().unwrap().clone();
    let late: Vec<String> = answers
        .iter()
        .filter(|(sent, code, _, _)| *sent > moved_at && *code != 6)
        .map(|(sent, code, offset, message)| {
            format!(
                "sent {:?} after the move: {} at offset {offset} ({message:?})",
                *sent - moved_at,
                brook_client::ErrorCode(*code).name()
            )
        })
        .collect();
    let acked_late = answers
        .iter()
        .filter(|(sent, code, _, _)| *sent > moved_at && *code == 0)
        .count();
    eprintln!(
        "{} acks=1 produces answered by the closing broker {old}, {} sent after its metadata \
         moved the leadership; of those {acked_late} acknowledged",
        answers.len(),
        answers.iter().filter(|(s, ..)| *s > moved_at).count()
    );
    assert!(
        late.is_empty(),
        "broker {old} answered {} produces sent after its own metadata moved the leadership \
         with something else than NOT_LEADER_OR_FOLLOWER ({acked_late} acknowledged): {}",
        late.len(),
        cluster_support::first(&late, 10)
    );
}

/// Produces `n` records (acks=all) through the cluster, so the leader is busy.
fn stream_some(cluster: &InProcessCluster, n: usize) {
    let stream = Stream::start(
        &cluster.rt,
        producer_config(&cluster.bootstrap(), true, &[]),
        "closing",
        1,
        Duration::from_millis(1),
    );
    stream.wait_acked_since(Instant::now(), n, Duration::from_secs(20), String::new);
    drop(stream);
}
