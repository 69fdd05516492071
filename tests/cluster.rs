//! Failure tests of a three-node cluster of real `brook server` processes (`--node-id`,
//! `--controller-voters`), each on its own ports and data directory, killed on drop
//! (`tests/cluster_support`). The tests of this file run one at a time.
//!
//! - The leader of a partition is killed with -9 in the middle of an `acks=all` stream, of
//!   an idempotent producer and of a non-idempotent one (one request in flight, so
//!   retries may duplicate but never reorder). Every acknowledged record is in the log at
//!   its acknowledged offset, in send order; the idempotent producer's exactly once. The
//!   failover time (kill to the first acknowledgement of a record sent after it) is
//!   printed. The old leader restarts, rejoins the ISR, and all three replicas end up
//!   with the same records and the same batch bytes.
//! - `min.insync.replicas=2`: with one follower dead the ISR shrinks to two and
//!   `acks=all` still works (a topic with `min.insync.replicas=3` is refused with
//!   NOT_ENOUGH_REPLICAS, and nothing is appended); with both followers dead (and with
//!   them the controller quorum) `acks=all` is not acknowledged and the high watermark
//!   does not move, while `acks=1` still works; once one follower is back, `acks=all`
//!   works again.
//! - A follower paused with SIGSTOP for longer than `replica.lag.time.max.ms=2000`
//!   (sessions of 60 s, so it is not fenced): under a steady stream the healthy follower
//!   first stays in the ISR; paused, the leader drops it from the ISR while it is still
//!   registered and unfenced, and acknowledgements go on; after SIGCONT it catches up
//!   and rejoins; its log equals the leader's. Under a heavy stream (some 8000 records a
//!   second, `acks=all`) followers that fetch all along never leave the ISR.
//! - `unclean.leader.election.enable`: a replication-factor-2 partition whose follower
//!   fell out of the ISR loses its leader (kill -9); once the leader is fenced the topic
//!   that enables unclean elections gets the follower as its leader, the one that does
//!   not stays leaderless with the dead leader as the last in-sync replica.
//! - ElectLeaders: after a controlled shutdown and restart of a partition's preferred
//!   replica (automatic rebalancing off), a preferred election moves leadership back on
//!   every node; asked again, ELECTION_NOT_NEEDED; unknown partitions are named as such.
//! - A consumer group reading a topic while the broker that coordinates the group (and
//!   leads a partition of the topic) is killed with -9: the group goes on, reads every
//!   acknowledged record, never re-reads below a successful commit, and its commits are
//!   the end offsets at the end.
//! - A seeded fault schedule (`BROOK_FAULT_SEED`): kill -9 and restart, SIGSTOP/SIGCONT,
//!   and SIGTERM (controlled shutdown) and restart, of random brokers, one at a time,
//!   under an idempotent `acks=all` producer on three partitions: every acknowledged
//!   record is in the log exactly once, at its acknowledged offset, in order, and the
//!   replicas are identical.

mod cluster_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use brook_client::{
    Admin, Consumer, ConsumerConfig, ElectionType, ErrorCode, NewTopic, OffsetSpec, TcpConfig,
    TcpTransport, TopicPartition, Transport,
};
use brook_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use brook_protocol::messages::produce_response::PartitionProduceResponse;
use brook_protocol::messages::ProduceRequest;
use brook_protocol::record::{BatchBuilder, Compression};
use bytes::Bytes;
use cluster_support::{
    admin_config, check_stream, compare_replicas, producer_config, read_all, runtime, serial,
    wait_for, ProcCluster, Sent, SplitMix64, Stream,
};
use tokio::runtime::Runtime;

/// The failover bound the tests assert: generous, the measured times are printed.
const FAILOVER_BOUND: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Helpers.

/// One Produce of one record straight to the broker at `addr` (no retries, no metadata):
/// what that broker answered for the partition.
fn produce_raw(
    rt: &Runtime,
    addr: &str,
    topic: &str,
    partition: i32,
    acks: i16,
    timeout_ms: i32,
    value: &str,
) -> Result<PartitionProduceResponse, String> {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    rt.block_on(async {
        let config = TcpConfig {
            request_timeout: Duration::from_millis(timeout_ms as u64 + 10_000),
            connect_timeout: Duration::from_secs(3),
            ..TcpConfig::default()
        };
        let t = TcpTransport::connect(host, port, config)
            .await
            .map_err(|e| e.to_string())?;
        let mut b = BatchBuilder::new(Compression::None, now_ms());
        b.append(now_ms(), None, Some(value.as_bytes()), &[]);
        let req = ProduceRequest {
            transactional_id: None,
            acks,
            timeout_ms,
            topic_data: vec![TopicProduceData {
                name: topic.into(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(b.build(0).into()),
                }],
            }],
        };
        let (_, r) = brook_client::transport::request(&t as &dyn Transport, 9, req)
            .await
            .map_err(|e| e.to_string())?;
        Ok(r.responses[0].partition_responses[0].clone())
    })
}

/// The active controller, as Metadata names it.
fn active_controller(rt: &Runtime, cluster: &ProcCluster) -> Option<i32> {
    rt.block_on(async {
        Admin::connect(&cluster.bootstrap(), admin_config())
            .await
            .ok()?
            .describe_cluster()
            .await
            .ok()?
            .controller_id
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn code_name(code: i16) -> &'static str {
    ErrorCode(code).name()
}

/// The high watermark of `topic`-`partition` as the broker at `addr` reports it
/// (ListOffsets latest, sent to the leader that broker names).
fn high_watermark(rt: &Runtime, addr: &str, topic: &str, partition: i32) -> Result<i64, String> {
    rt.block_on(async {
        let admin = Admin::connect(addr, admin_config())
            .await
            .map_err(|e| e.to_string())?;
        let tp = TopicPartition::new(topic, partition);
        let r = admin
            .list_offsets(&[(tp.clone(), OffsetSpec::Latest)])
            .await
            .map_err(|e| e.to_string())?;
        r[&tp].as_ref().map(|o| o.offset).map_err(|e| e.to_string())
    })
}

/// When the first record sent after `mark` was acknowledged, after `mark`.
fn first_ack_after(sent: &[Sent], mark: Instant) -> Option<Duration> {
    sent.iter()
        .filter(|s| s.sent_at > mark && s.acked().is_some())
        .filter_map(|s| s.done_at)
        .min()
        .map(|t| t - mark)
}

/// The longest time between two consecutive acknowledgements.
fn longest_ack_gap(sent: &[Sent]) -> Duration {
    let mut times: Vec<Instant> = sent
        .iter()
        .filter(|s| s.acked().is_some())
        .filter_map(|s| s.done_at)
        .collect();
    times.sort();
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

fn assert_no_problems(what: &str, problems: &[String], cluster: &ProcCluster) {
    assert!(
        problems.is_empty(),
        "{what}: {} problems:\n{}\n--- logs:\n{}",
        problems.len(),
        problems.join("\n"),
        cluster.logs(30)
    );
}

// ---------------------------------------------------------------------------------------
// a. kill -9 of the leader under an acks=all stream.

fn leader_killed_under_an_acks_all_stream(idempotent: bool) {
    let _serial = serial();
    let rt = runtime();
    let mut cluster = ProcCluster::start(&[]);
    let topic = if idempotent {
        "failover-idempotent"
    } else {
        "failover-plain"
    };
    cluster.create_topic(&rt, NewTopic::new(topic, 1, 3));
    let before = cluster.topic(&rt, topic).unwrap().partitions[0].clone();
    let leader = before.leader.unwrap();

    let start = Instant::now();
    let stream = Stream::start(
        &rt,
        producer_config(&cluster.bootstrap(), idempotent, &[]),
        topic,
        1,
        Duration::from_millis(2),
    );
    stream.wait_acked_since(start, 500, Duration::from_secs(20), || cluster.logs(20));

    let controller = active_controller(&rt, &cluster);
    let killed_at = Instant::now();
    let killed_wall = now_ms();
    cluster.kill(leader);
    let acked_at_kill = stream.acked();
    stream.wait_acked_since(killed_at, 500, FAILOVER_BOUND, || cluster.logs(30));
    let failover = first_ack_after(&stream.snapshot(), killed_at).unwrap();

    // A new leader from the ISR, a new epoch; the dead one out of the ISR.
    let after = cluster.topic(&rt, topic).unwrap().partitions[0].clone();
    let mut problems = Vec::new();
    let new_leader = after.leader.unwrap_or(-1);
    if new_leader == leader || !before.isr.contains(&new_leader) {
        problems.push(format!(
            "after the kill {topic}-0 is led by {new_leader}, before by {leader} with ISR {:?}",
            before.isr
        ));
    }
    if after.leader_epoch <= before.leader_epoch {
        problems.push(format!(
            "the leader epoch did not move: {} -> {}",
            before.leader_epoch, after.leader_epoch
        ));
    }
    if after.isr.contains(&leader) {
        problems.push(format!(
            "the killed broker {leader} is still in the ISR {:?}",
            after.isr
        ));
    }
    assert_no_problems("failover", &problems, &cluster);

    // The old leader comes back and catches up.
    let restarted_at = Instant::now();
    cluster.restart(leader);
    cluster.wait_in_sync(&rt, topic, 3, Duration::from_secs(30));
    let rejoined = restarted_at.elapsed();
    let mark = Instant::now();
    stream.wait_acked_since(mark, 300, Duration::from_secs(20), || cluster.logs(20));
    let sent = stream.finish(&rt, Duration::from_secs(60), || cluster.logs(20));

    let log = read_all(&rt, &cluster.bootstrap(), topic, 1);
    let mut problems = check_stream(&sent, &log, !idempotent);
    let in_log = log[&0].len();
    problems.extend(cluster.panics());
    let replicas = cluster.stop_and_read(topic, 1);
    problems.extend(compare_replicas(&format!("{topic}-0"), &replicas[0]));
    assert_no_problems(topic, &problems, &cluster);
    let acked = sent.iter().filter(|s| s.acked().is_some()).count();
    eprintln!(
        "killed at {killed_wall} ms since the epoch; the controllers' log lines about it:\n{}",
        cluster
            .ids()
            .iter()
            .flat_map(|id| cluster
                .log_lines(*id, "fenc")
                .into_iter()
                .chain(cluster.log_lines(*id, "leading"))
                .map(move |l| format!("  node {id}: {l}")))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{} producer: broker {leader} (leader of {topic}-0, epoch {}; active controller: \
         {controller:?}) killed with {acked_at_kill} records acknowledged; new leader {new_leader} (epoch {}); FAILOVER TIME (kill -> first \
         ack of a record sent after it): {failover:?}; longest gap between acks: {:?}; the old \
         leader rejoined the ISR {rejoined:?} after its restart; {} sent, {acked} acknowledged, \
         {in_log} in the log, replicas identical",
        if idempotent { "idempotent" } else { "non-idempotent" },
        before.leader_epoch,
        after.leader_epoch,
        longest_ack_gap(&sent),
        sent.len()
    );
    assert!(failover < FAILOVER_BOUND, "failover took {failover:?}");
}

#[test]
fn leader_killed_under_an_idempotent_acks_all_stream_loses_and_duplicates_nothing() {
    leader_killed_under_an_acks_all_stream(true);
}

#[test]
fn leader_killed_under_a_non_idempotent_acks_all_stream_loses_and_reorders_nothing() {
    leader_killed_under_an_acks_all_stream(false);
}

// ---------------------------------------------------------------------------------------
// b. min.insync.replicas.

#[test]
fn min_insync_replicas_refuses_acks_all_without_enough_replicas() {
    let _serial = serial();
    let rt = runtime();
    let mut cluster = ProcCluster::start(&[]);
    let two = "min-isr-two";
    let three = "min-isr-three";
    cluster.create_topic(
        &rt,
        NewTopic::new(two, 1, 3).config("min.insync.replicas", "2"),
    );
    cluster.create_topic(
        &rt,
        NewTopic::new(three, 1, 3).config("min.insync.replicas", "3"),
    );
    let p = cluster.topic(&rt, two).unwrap().partitions[0].clone();
    let leader = p.leader.unwrap();
    let followers: Vec<i32> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| *r != leader)
        .collect();
    let leader_addr = cluster.addr(leader);
    // What was acknowledged: (topic, value) -> offset.
    let mut acked: Vec<(&str, String, i64)> = Vec::new();
    let mut ok = |topic: &'static str, addr: &str, acks: i16, value: &str, what: &str| {
        let r = produce_raw(&rt, addr, topic, 0, acks, 10_000, value)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            r.error_code,
            0,
            "{what}: {} ({:?})",
            code_name(r.error_code),
            r.error_message
        );
        acked.push((topic, value.to_owned(), r.base_offset));
        r.base_offset
    };

    // All three in sync.
    ok(two, &leader_addr, -1, "two-1", "acks=all with 3 in sync");
    let three_leader = cluster.topic(&rt, three).unwrap().partitions[0]
        .leader
        .unwrap();
    ok(
        three,
        &cluster.addr(three_leader),
        -1,
        "three-1",
        "acks=all with 3 in sync (min.insync.replicas=3)",
    );

    // One follower dies: it is fenced, and leaves both ISRs.
    cluster.kill(followers[0]);
    for topic in [two, three] {
        wait_for(
            Duration::from_secs(15),
            &format!("{topic}'s ISR without the dead broker {}", followers[0]),
            || {
                let p = cluster.topic_on(&rt, leader, topic)?.partitions[0].clone();
                if p.isr.contains(&followers[0]) || p.leader.is_none() {
                    return Err(format!("{p:?}"));
                }
                Ok(())
            },
        );
    }
    ok(
        two,
        &leader_addr,
        -1,
        "two-2",
        "acks=all with 2 of min 2 in sync",
    );
    let three_leader = cluster.topic(&rt, three).unwrap().partitions[0]
        .leader
        .unwrap();
    let three_addr = cluster.addr(three_leader);
    let refused = wait_for(
        Duration::from_secs(10),
        "NOT_ENOUGH_REPLICAS for min.insync.replicas=3 with 2 in sync",
        || {
            let r = produce_raw(&rt, &three_addr, three, 0, -1, 5000, "three-refused")?;
            if r.error_code == ErrorCode::NOT_ENOUGH_REPLICAS.0 {
                Ok(r)
            } else {
                Err(format!(
                    "{} ({:?}) at {}",
                    code_name(r.error_code),
                    r.error_message,
                    r.base_offset
                ))
            }
        },
    );
    eprintln!(
        "min.insync.replicas=3, 2 in sync: {:?}",
        refused.error_message
    );
    // Nothing was appended: the next record takes the next offset.
    let next = ok(
        three,
        &three_addr,
        1,
        "three-2",
        "acks=1 on min.insync.replicas=3",
    );
    assert_eq!(next, 1, "the refused record took an offset");

    // The second follower dies: the controller quorum is gone with it.
    let hw = high_watermark(&rt, &leader_addr, two, 0).unwrap();
    cluster.kill(followers[1]);
    let r = produce_raw(&rt, &leader_addr, two, 0, -1, 3000, "two-unacked").unwrap();
    eprintln!(
        "acks=all with 1 of min 2 alive: {} ({:?})",
        code_name(r.error_code),
        r.error_message
    );
    assert!(
        [
            ErrorCode::NOT_ENOUGH_REPLICAS.0,
            ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND.0,
            ErrorCode::REQUEST_TIMED_OUT.0
        ]
        .contains(&r.error_code),
        "acks=all with one replica alive of min.insync.replicas=2 was answered {} ({:?}) at \
         offset {}\n{}",
        code_name(r.error_code),
        r.error_message,
        r.base_offset,
        cluster.logs(20)
    );
    assert_eq!(
        high_watermark(&rt, &leader_addr, two, 0).unwrap(),
        hw,
        "the high watermark moved past a record not replicated to min.insync.replicas"
    );
    ok(
        two,
        &leader_addr,
        1,
        "two-acks1",
        "acks=1 with one replica alive",
    );

    // One follower back: acks=all works again.
    let restarted = Instant::now();
    cluster.restart(followers[1]);
    let back = wait_for(
        Duration::from_secs(30),
        "acks=all acknowledged again after a follower restarted",
        || {
            let p = cluster.topic_on(&rt, leader, two)?.partitions[0].clone();
            if p.isr.len() < 2 {
                return Err(format!("ISR {:?}", p.isr));
            }
            let r = produce_raw(&rt, &leader_addr, two, 0, -1, 5000, "two-3")?;
            if r.error_code != 0 {
                return Err(format!(
                    "{} ({:?})",
                    code_name(r.error_code),
                    r.error_message
                ));
            }
            Ok(r.base_offset)
        },
    );
    acked.push((two, "two-3".into(), back));
    eprintln!(
        "acks=all acknowledged again {:?} after restarting broker {}",
        restarted.elapsed(),
        followers[1]
    );

    // Everything acknowledged is there; the refused record is not.
    let mut problems = Vec::new();
    for topic in [two, three] {
        let log = read_all(&rt, &leader_addr, topic, 1);
        for (t, value, offset) in acked.iter().filter(|(t, _, _)| *t == topic) {
            let holds = log[&0].iter().find(|(o, _)| o == offset).map(|(_, v)| v);
            if holds.and_then(|v| v.as_deref()) != Some(value.as_bytes()) {
                problems.push(format!(
                    "{value} acknowledged at {t}-0@{offset}, which holds {holds:?}"
                ));
            }
        }
        if log[&0]
            .iter()
            .any(|(_, v)| v.as_deref() == Some(b"three-refused".as_slice()))
        {
            problems.push("the record refused with NOT_ENOUGH_REPLICAS is in the log".into());
        }
    }
    problems.extend(cluster.panics());
    assert_no_problems("min.insync.replicas", &problems, &cluster);
}

// ---------------------------------------------------------------------------------------
// c. a paused follower.

#[test]
fn a_paused_follower_leaves_the_isr_catches_up_and_rejoins() {
    let _serial = serial();
    let rt = runtime();
    let lag = Duration::from_millis(2000);
    let mut cluster = ProcCluster::start(&[
        "replica.lag.time.max.ms=2000",
        "broker.session.timeout.ms=60000",
    ]);
    let topic = "lagging";
    cluster.create_topic(&rt, NewTopic::new(topic, 1, 3));
    let p = cluster.topic(&rt, topic).unwrap().partitions[0].clone();
    let leader = p.leader.unwrap();
    // A follower that is not the active controller, if there is one.
    let controller = rt.block_on(async {
        Admin::connect(&cluster.bootstrap(), admin_config())
            .await
            .unwrap()
            .describe_cluster()
            .await
            .unwrap()
            .controller_id
    });
    let mut followers: Vec<i32> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| *r != leader)
        .collect();
    followers.sort_by_key(|f| Some(*f) == controller);
    let follower = followers[0];
    let leader_addr = cluster.addr(leader);
    let isr_on_leader = |cluster: &ProcCluster| -> Result<(Vec<i32>, bool), String> {
        let admin_view = cluster.topic_on(&rt, leader, topic)?;
        let live = rt.block_on(async {
            let admin = Admin::connect(&leader_addr, admin_config())
                .await
                .map_err(|e| e.to_string())?;
            let d = admin.describe_cluster().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(d.brokers.iter().any(|b| b.node_id == follower))
        })?;
        Ok((admin_view.partitions[0].isr.clone(), live))
    };

    let start = Instant::now();
    let stream = Stream::start(
        &rt,
        producer_config(&cluster.bootstrap(), true, &[("linger.ms", "0")]),
        topic,
        1,
        Duration::from_millis(1),
    );
    // A healthy follower under a steady stream stays in the ISR for well over the lag
    // time.
    let mut shrunk = Vec::new();
    while start.elapsed() < lag * 2 + Duration::from_millis(500) {
        let (isr, _) = isr_on_leader(&cluster).unwrap();
        if isr.len() != 3 {
            shrunk.push(format!("{:?}: ISR {isr:?}", start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let healthy_acks = stream.acked();
    let dropped = cluster.log_lines(leader, "leaving the ISR");
    assert!(
        shrunk.is_empty() && dropped.is_empty(),
        "healthy followers left the ISR under a steady stream of {healthy_acks} records in {:?} \
         (replica.lag.time.max.ms=2000): samples {shrunk:?}; leader's log: {dropped:?}",
        start.elapsed()
    );

    // Paused for longer than the lag time: out of the ISR, but not fenced.
    cluster.pause(follower);
    let paused_at = Instant::now();
    let (isr, live) = wait_for(
        Duration::from_secs(15),
        &format!("the paused follower {follower} out of the ISR"),
        || {
            let (isr, live) = isr_on_leader(&cluster)?;
            if isr.contains(&follower) {
                return Err(format!("ISR {isr:?}"));
            }
            Ok((isr, live))
        },
    );
    let shrink_after = paused_at.elapsed();
    assert!(
        live,
        "the paused follower was fenced (session timeout 60 s): the ISR shrank for the wrong \
         reason"
    );
    assert_eq!(isr.len(), 2, "ISR {isr:?}");
    assert!(
        shrink_after >= lag - Duration::from_millis(500),
        "the ISR shrank {shrink_after:?} after the pause, before replica.lag.time.max.ms"
    );
    // acks=all goes on with two in sync.
    let shrunk_at = Instant::now();
    stream.wait_acked_since(shrunk_at, 200, Duration::from_secs(15), || {
        cluster.log_tail(leader, 30)
    });
    let stalled = first_ack_after(&stream.snapshot(), paused_at);

    // Resumed: it catches up and rejoins.
    let resumed_at = Instant::now();
    cluster.resume(follower);
    wait_for(
        Duration::from_secs(20),
        &format!("the resumed follower {follower} back in the ISR"),
        || {
            let (isr, _) = isr_on_leader(&cluster)?;
            if isr.len() == 3 {
                Ok(())
            } else {
                Err(format!("ISR {isr:?}"))
            }
        },
    );
    let rejoin_after = resumed_at.elapsed();
    let mark = Instant::now();
    stream.wait_acked_since(mark, 300, Duration::from_secs(20), || cluster.logs(20));
    let sent = stream.finish(&rt, Duration::from_secs(60), || cluster.logs(20));

    let log = read_all(&rt, &cluster.bootstrap(), topic, 1);
    let mut problems = check_stream(&sent, &log, false);
    problems.extend(cluster.panics());
    let left = cluster.log_lines(leader, "leaving the ISR");
    let joined = cluster.log_lines(leader, "joining the ISR");
    let replicas = cluster.stop_and_read(topic, 1);
    problems.extend(compare_replicas(&format!("{topic}-0"), &replicas[0]));
    assert_no_problems("paused follower", &problems, &cluster);
    eprintln!(
        "{healthy_acks} records acknowledged with every follower in sync; follower {follower} \
         paused: out of the ISR after {shrink_after:?} (first ack of a record sent after the \
         pause: {stalled:?}); resumed: back in the ISR after {rejoin_after:?}; {} records, the \
         paused follower's log equals the leader's\nleader {leader}'s log:\n{}\n{}",
        sent.len(),
        left.join("\n"),
        joined.join("\n")
    );
}

/// Under a stream that keeps the leader appending all the time, followers that fetch as
/// fast as they can are in sync: none may leave the ISR (Kafka counts a follower caught up
/// when it fetches from the leader's log end offset of its previous fetch, so a steady
/// load never looks like lag).
#[test]
fn healthy_followers_stay_in_the_isr_under_a_heavy_stream() {
    let _serial = serial();
    let rt = runtime();
    let lag = Duration::from_millis(2000);
    let cluster = ProcCluster::start(&["replica.lag.time.max.ms=2000"]);
    let topic = "heavy";
    cluster.create_topic(&rt, NewTopic::new(topic, 1, 3));
    let leader = cluster.topic(&rt, topic).unwrap().partitions[0]
        .leader
        .unwrap();
    let start = Instant::now();
    let stream = Stream::start_bursts(
        &rt,
        producer_config(&cluster.bootstrap(), true, &[("batch.size", "16384")]),
        topic,
        1,
        Duration::from_millis(1),
        20,
    );
    let mut samples = Vec::new();
    while start.elapsed() < lag * 3 {
        let isr = cluster.topic_on(&rt, leader, topic).unwrap().partitions[0]
            .isr
            .clone();
        if isr.len() != 3 {
            samples.push(format!("{:?}: ISR {isr:?}", start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = start.elapsed();
    let sent = stream.finish(&rt, Duration::from_secs(60), || cluster.logs(20));
    let acked = sent.iter().filter(|s| s.acked().is_some()).count();
    let left = cluster.log_lines(leader, "leaving the ISR");
    let joined = cluster.log_lines(leader, "joining the ISR");
    eprintln!(
        "{acked} records acknowledged in {elapsed:?} ({:.0}/s); ISR changes on the leader: {} \
         left, {} joined",
        acked as f64 / elapsed.as_secs_f64(),
        left.len(),
        joined.len()
    );
    assert!(
        samples.is_empty() && left.is_empty(),
        "followers that were fetching all along left the ISR under a steady stream \
         ({acked} records in {elapsed:?}, replica.lag.time.max.ms=2000): metadata samples \
         {samples:?}\nleader {leader}'s log:\n{}\n{}",
        left.join("\n"),
        joined.join("\n")
    );
}

/// Admin operations that go to "the controller" (CreateTopics) keep working while the node
/// of the active controller shuts down: Metadata must name a controller the client can
/// reach.
#[test]
fn create_topics_keeps_working_through_a_controlled_shutdown_of_the_active_controller() {
    let _serial = serial();
    let rt = runtime();
    let mut cluster = ProcCluster::start(&[]);
    let controller = active_controller(&rt, &cluster).expect("an active controller");
    let others: Vec<String> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != controller)
        .map(|id| cluster.addr(id))
        .collect();
    let bootstrap = others.join(",");
    // The node goes away with SIGTERM while a client creates a topic every 50 ms.
    let pid = cluster.pid(controller);
    let stopping = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    });
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut inconsistent = Vec::new();
    let mut created = 0;
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(5) {
        n += 1;
        let name = format!("t{n}");
        let (named_unlisted, r) = rt.block_on(async {
            let admin = match Admin::connect(&bootstrap, admin_config()).await {
                Ok(a) => a,
                Err(e) => return (None, Err(e.to_string())),
            };
            let m = admin.metadata();
            let named_unlisted = m
                .controller_id
                .filter(|c| !m.brokers.contains_key(c))
                .map(|c| {
                    format!(
                        "Metadata names controller {c} but lists brokers {:?}",
                        m.brokers.keys().collect::<Vec<_>>()
                    )
                });
            let r = admin
                .create_topics(&[NewTopic::new(&name, 1, 2)], false)
                .await
                .map_err(|e| format!("create_topics: {e}"));
            (named_unlisted, r)
        });
        if let Some(e) = named_unlisted {
            inconsistent.push(format!("{:?}: {e}", start.elapsed()));
        }
        match r {
            Ok(_) => created += 1,
            Err(e) => failures.push(format!("{:?}: {e}", start.elapsed())),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stopping.join().unwrap();
    let status = cluster.terminate_wait(controller);
    eprintln!(
        "controller {controller} stopped ({status:?}); {created} topics created in {n} tries; \
         inconsistent Metadata: {inconsistent:?}; failures: {failures:?}"
    );
    assert!(
        inconsistent.is_empty() && failures.is_empty(),
        "through a controlled shutdown of the active controller's node {controller}: \
         {} Metadata answers named a controller they did not list: {}\n{} CreateTopics \
         calls failed: {}",
        inconsistent.len(),
        cluster_support::first(&inconsistent, 5),
        failures.len(),
        cluster_support::first(&failures, 5)
    );
}

// ---------------------------------------------------------------------------------------
// c2. unclean leader election.

/// The brokers node `id` lists as live (registered and unfenced).
fn live_brokers(rt: &Runtime, cluster: &ProcCluster, id: i32) -> Result<Vec<i32>, String> {
    let addr = cluster.addr(id);
    rt.block_on(async {
        let admin = Admin::connect(&addr, admin_config())
            .await
            .map_err(|e| e.to_string())?;
        let d = admin.describe_cluster().await.map_err(|e| e.to_string())?;
        Ok(d.brokers.iter().map(|b| b.node_id).collect())
    })
}

/// A replication-factor-2 partition whose follower fell out of the ISR (paused past
/// `replica.lag.time.max.ms`, not long enough to be fenced) loses its leader (kill -9) and
/// gets the follower back: with `unclean.leader.election.enable=true` the follower becomes
/// the leader once the old leader is fenced; without it the partition stays leaderless, as
/// the follower may lack acknowledged records.
fn unclean_election_case(unclean: bool) {
    let rt = runtime();
    let mut cluster = ProcCluster::start(&[
        "replica.lag.time.max.ms=500",
        "broker.session.timeout.ms=6000",
    ]);
    // Three topics, so that one has a follower that is not the active controller: pausing
    // the controller would hold up the ISR change for the pause.
    let controller = active_controller(&rt, &cluster).expect("an active controller");
    let mut chosen = None;
    for i in 0..3 {
        let name = format!("t{i}");
        let mut new_topic = NewTopic::new(&name, 1, 2);
        if unclean {
            new_topic = new_topic.config("unclean.leader.election.enable", "true");
        }
        let p = cluster.create_topic(&rt, new_topic).partitions[0].clone();
        let leader = p.leader.expect("a leader");
        let follower = *p.replicas.iter().find(|r| **r != leader).unwrap();
        if chosen.is_none() && follower != controller {
            chosen = Some((name, p, leader, follower));
        }
    }
    let (topic, p, leader, follower) = chosen.expect("a follower that is not the controller");
    let topic = topic.as_str();
    let other = *cluster
        .ids()
        .iter()
        .find(|id| !p.replicas.contains(id))
        .unwrap();
    let stream = Stream::start(
        &rt,
        producer_config(&cluster.bootstrap(), true, &[("linger.ms", "0")]),
        topic,
        1,
        Duration::from_millis(5),
    );
    // Records flow before the pause, so the paused follower falls behind the log end.
    stream.wait_acked_since(Instant::now(), 20, Duration::from_secs(15), || {
        cluster.log_tail(leader, 20)
    });
    cluster.pause(follower);
    // Within the session timeout, so that the pause does not fence it.
    let shrunk = cluster_support::try_wait_for(Duration::from_secs(5), || {
        let isr = cluster.topic_on(&rt, leader, topic)?.partitions[0]
            .isr
            .clone();
        if isr == vec![leader] {
            Ok(())
        } else {
            Err(format!("ISR {isr:?}"))
        }
    });
    if let Err(e) = shrunk {
        panic!(
            "the paused follower {follower} still in the ISR of {topic} on the leader \
             {leader}: {e}; {} records acknowledged; controller {controller}\n{}",
            stream.acked(),
            cluster.logs(30)
        );
    }
    drop(stream);
    cluster.kill(leader);
    cluster.resume(follower);
    // The old leader is fenced after its session (6 s).
    wait_for(
        Duration::from_secs(20),
        &format!("the killed leader {leader} fenced"),
        || {
            let live = live_brokers(&rt, &cluster, other)?;
            if live.contains(&leader) || !live.contains(&follower) {
                return Err(format!("live brokers {live:?}"));
            }
            Ok(())
        },
    );
    if unclean {
        let t = wait_for(
            Duration::from_secs(10),
            &format!("the out-of-sync follower {follower} elected"),
            || {
                let t = cluster.topic_on(&rt, other, topic)?;
                if t.partitions[0].leader == Some(follower) {
                    Ok(t)
                } else {
                    Err(format!("{:?}", t.partitions[0]))
                }
            },
        );
        let now = &t.partitions[0];
        assert!(now.leader_epoch > p.leader_epoch, "{now:?} after {p:?}");
        assert_eq!(now.isr, vec![follower], "{now:?}");
    } else {
        // No leader, and none appears while the only in-sync replica stays dead.
        for _ in 0..10 {
            let t = cluster.topic_on(&rt, other, topic).unwrap();
            let now = &t.partitions[0];
            assert_eq!(
                now.leader,
                None,
                "an out-of-sync replica was elected with unclean.leader.election.enable=false: \
                 {now:?}\n{}",
                cluster.logs(20)
            );
            assert_eq!(
                now.isr,
                vec![leader],
                "the dead leader stays the last in sync"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn an_out_of_sync_replica_is_elected_only_where_unclean_election_is_enabled() {
    let _serial = serial();
    unclean_election_case(false);
    unclean_election_case(true);
}

// ---------------------------------------------------------------------------------------
// c3. ElectLeaders.

/// After a controlled shutdown and restart of a partition's preferred replica, another
/// replica still leads (automatic rebalancing is off); ElectLeaders (preferred) moves
/// leadership back, with a higher leader epoch, on every node; asked again it answers
/// ELECTION_NOT_NEEDED, an unclean election of a partition that has a leader too, and an
/// unknown partition UNKNOWN_TOPIC_OR_PARTITION.
#[test]
fn elect_leaders_moves_leadership_back_to_the_preferred_replica() {
    let _serial = serial();
    let rt = runtime();
    let mut cluster = ProcCluster::start(&["auto.leader.rebalance.enable=false"]);
    let topic = "elect";
    let created = cluster.create_topic(&rt, NewTopic::new(topic, 1, 3));
    let p = created.partitions[0].clone();
    let preferred = p.replicas[0];
    assert_eq!(p.leader, Some(preferred), "{p:?}");
    let status = cluster.terminate(preferred);
    let other = *cluster.up_ids().first().unwrap();
    let moved = cluster_support::try_wait_for(Duration::from_secs(15), || {
        let now = cluster.topic_on(&rt, other, topic)?.partitions[0].clone();
        match now.leader {
            Some(l) if l != preferred => Ok(()),
            _ => Err(format!("{now:?}")),
        }
    });
    if let Err(e) = moved {
        panic!(
            "leadership did not move off the stopped preferred replica {preferred} ({status:?}) \
             as node {other} sees it: {e}\n{}",
            cluster.logs(30)
        );
    }
    cluster.restart(preferred);
    cluster.wait_in_sync(&rt, topic, 3, Duration::from_secs(30));
    let moved = cluster.topic_on(&rt, preferred, topic).unwrap().partitions[0].clone();
    assert_ne!(moved.leader, Some(preferred), "{moved:?}");

    let tp = TopicPartition::new(topic, 0);
    let elect = |election, partitions: Option<&[TopicPartition]>| {
        rt.block_on(async {
            let admin = Admin::connect(&cluster.bootstrap(), admin_config())
                .await
                .unwrap();
            admin.elect_leaders(election, partitions).await.unwrap()
        })
    };
    let r = elect(ElectionType::Preferred, Some(std::slice::from_ref(&tp)));
    assert!(r[&tp].is_ok(), "{r:?}");
    for id in cluster.ids() {
        wait_for(
            Duration::from_secs(10),
            &format!("node {id} names the preferred replica {preferred} leader"),
            || {
                let now = cluster.topic_on(&rt, id, topic)?.partitions[0].clone();
                if now.leader == Some(preferred) && now.leader_epoch > moved.leader_epoch {
                    Ok(())
                } else {
                    Err(format!("{now:?}"))
                }
            },
        );
    }
    let r = elect(ElectionType::Preferred, Some(std::slice::from_ref(&tp)));
    assert_eq!(
        r[&tp].as_ref().unwrap_err().code,
        ErrorCode::ELECTION_NOT_NEEDED,
        "{r:?}"
    );
    let unknown = TopicPartition::new(topic, 7);
    let r = elect(ElectionType::Unclean, Some(&[tp.clone(), unknown.clone()]));
    assert_eq!(
        r[&tp].as_ref().unwrap_err().code,
        ErrorCode::ELECTION_NOT_NEEDED,
        "{r:?}"
    );
    assert_eq!(
        r[&unknown].as_ref().unwrap_err().code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        "{r:?}"
    );
    // Every partition: nothing was due.
    let r = elect(ElectionType::Preferred, None);
    assert!(r.is_empty(), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// d. a consumer group through a failover.

/// What a group consumer saw.
#[derive(Default)]
struct Consumed {
    /// `(partition, offset, value)`, in the order polled.
    records: Vec<(i32, i64, Option<Bytes>)>,
    /// The last successful commit per partition.
    committed: BTreeMap<i32, i64>,
    commits_ok: usize,
    /// When each successful commit returned.
    commit_times: Vec<Instant>,
    errors: Vec<String>,
    /// Re-reads below a successful commit, and skipped offsets.
    problems: Vec<String>,
    /// The next offset expected per partition.
    next: BTreeMap<i32, i64>,
}

/// Polls and commits after every poll until `done` or `timeout`.
fn consume(
    rt: &Runtime,
    consumer: &mut Consumer,
    seen: &mut Consumed,
    timeout: Duration,
    done: impl Fn(&Consumed) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while !done(seen) {
        if Instant::now() >= deadline {
            return Err(format!(
                "not done within {timeout:?}: {} records consumed, next offsets {:?}, \
                 committed {:?}, last errors {:?}",
                seen.records.len(),
                seen.next,
                seen.committed,
                &seen.errors[seen.errors.len().saturating_sub(5)..]
            ));
        }
        let polled = match rt.block_on(consumer.poll(Duration::from_millis(200))) {
            Ok(r) => r,
            Err(e) => {
                seen.errors.push(format!("poll: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        for r in &polled {
            let expected = seen.next.get(&r.partition).copied().unwrap_or(0);
            if r.offset != expected {
                let committed = seen.committed.get(&r.partition).copied().unwrap_or(0);
                if r.offset > expected {
                    seen.problems.push(format!(
                        "partition {} skipped from {expected} to {}",
                        r.partition, r.offset
                    ));
                } else if r.offset < committed {
                    seen.problems.push(format!(
                        "partition {} re-read from {} although {committed} was committed",
                        r.partition, r.offset
                    ));
                }
            }
            seen.next.insert(r.partition, r.offset + 1);
            seen.records.push((r.partition, r.offset, r.value.clone()));
        }
        if polled.is_empty() {
            continue;
        }
        let positions = consumer.positions();
        match rt.block_on(consumer.commit_sync(&positions)) {
            Ok(()) => {
                for (tp, offset) in positions {
                    seen.committed.insert(tp.partition, offset);
                }
                seen.commits_ok += 1;
                seen.commit_times.push(Instant::now());
            }
            Err(e) => seen.errors.push(format!("commit: {e}")),
        }
    }
    Ok(())
}

/// For a failure message: what each node's replica of `__consumer_offsets` holds for
/// `group` (the last commit per partition, and where), read after killing every node.
fn offsets_topic_on_disk(cluster: &mut ProcCluster, group: &str) -> String {
    use brook_broker::server::group::records::{OffsetKey, OffsetValue};
    let replicas = cluster.stop_and_read("__consumer_offsets", 1);
    let mut out = vec![format!("__consumer_offsets-0 on disk for group {group}:")];
    for (i, r) in replicas[0].iter().enumerate() {
        let mut last: BTreeMap<i32, (i64, i64, i32)> = BTreeMap::new();
        for rec in &r.records {
            let Some(k) = rec.key.as_deref().and_then(OffsetKey::decode) else {
                continue;
            };
            if k.group != group {
                continue;
            }
            let v = rec.value.as_deref().and_then(OffsetValue::decode);
            last.insert(
                k.partition,
                (v.map_or(-1, |v| v.offset), rec.offset, rec.leader_epoch),
            );
        }
        out.push(format!(
            "  node {}: {} records, LEO {}, error {:?}; last commit per partition \
             (offset, at log offset, in leader epoch): {last:?}",
            i + 1,
            r.records.len(),
            r.log_end_offset,
            r.error
        ));
    }
    out.join("\n")
}

#[test]
fn a_consumer_group_keeps_consuming_across_a_leader_and_coordinator_failover() {
    let _serial = serial();
    let rt = runtime();
    let mut cluster = ProcCluster::start(&[
        "offsets.topic.num.partitions=1",
        "group.initial.rebalance.delay.ms=0",
    ]);
    let topic = "group-input";
    let group = "failover-group";
    let partitions = 3;
    cluster.create_topic(&rt, NewTopic::new(topic, partitions, 3));
    let bootstrap = cluster.bootstrap();
    let stream = Stream::start(
        &rt,
        producer_config(&bootstrap, true, &[]),
        topic,
        partitions,
        Duration::from_millis(4),
    );

    let mut config = ConsumerConfig::new(&bootstrap);
    for (k, v) in [
        ("group.id", group),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "500"),
        ("request.timeout.ms", "5000"),
    ] {
        config.set(k, v).unwrap();
    }
    let mut consumer = rt.block_on(Consumer::connect(config)).unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut seen = Consumed::default();
    consume(
        &rt,
        &mut consumer,
        &mut seen,
        Duration::from_secs(30),
        |s| s.records.len() >= 300 && s.commits_ok >= 3,
    )
    .unwrap_or_else(|e| panic!("before the failover: {e}\n{}", cluster.logs(20)));

    // The coordinator's broker goes, with the partitions it leads.
    let coordinator = rt.block_on(consumer.cluster().coordinator(group)).unwrap();
    let t = cluster.topic(&rt, topic).unwrap();
    let led: Vec<i32> = t
        .partitions
        .iter()
        .filter(|p| p.leader == Some(coordinator))
        .map(|p| p.partition)
        .collect();
    let offsets_leader = cluster.topic(&rt, "__consumer_offsets").unwrap().partitions[0].leader;
    let before_kill = seen.records.len();
    let commits_before = seen.commits_ok;
    let killed_at = Instant::now();
    cluster.kill(coordinator);
    let r = consume(
        &rt,
        &mut consumer,
        &mut seen,
        Duration::from_secs(40),
        |s| s.records.len() >= before_kill + 300 && s.commits_ok >= commits_before + 3,
    );
    if let Err(e) = r {
        panic!(
            "after killing broker {coordinator} (the group's coordinator, leader of \
             __consumer_offsets-0 per metadata: {offsets_leader:?}, leader of {topic} \
             partitions {led:?}): {e}\n{}",
            cluster.logs(30)
        );
    }
    let first_commit = seen.commit_times[commits_before] - killed_at;

    // The rest, to the end, committed.
    let sent = stream.finish(&rt, Duration::from_secs(60), || cluster.logs(20));
    let log = read_all(&rt, &bootstrap, topic, partitions);
    let ends: BTreeMap<i32, i64> = log
        .iter()
        .map(|(p, rs)| (*p, rs.last().map_or(0, |(o, _)| o + 1)))
        .collect();
    consume(
        &rt,
        &mut consumer,
        &mut seen,
        Duration::from_secs(30),
        |s| {
            ends.iter()
                .all(|(p, end)| s.committed.get(p).copied().unwrap_or(0) >= *end)
        },
    )
    .unwrap_or_else(|e| panic!("reading to the end: {e}\n{}", cluster.logs(20)));
    let new_coordinator = rt.block_on(async {
        consumer.cluster().forget_coordinator(group);
        consumer.cluster().coordinator(group).await
    });
    let _ = rt.block_on(consumer.close());

    let mut problems = seen.problems.clone();
    // The log holds every acknowledged record; the group read every record of the log.
    problems.extend(check_stream(&sent, &log, false));
    let read: BTreeMap<(i32, i64), Option<Bytes>> = seen
        .records
        .iter()
        .map(|(p, o, v)| ((*p, *o), v.clone()))
        .collect();
    let mut unread = Vec::new();
    for (p, rs) in &log {
        for (o, v) in rs {
            if read.get(&(*p, *o)) != Some(v) {
                unread.push(format!("{p}@{o}"));
            }
        }
    }
    if !unread.is_empty() {
        problems.push(format!(
            "{} records of the log were not read by the group (or read with another value): {}",
            unread.len(),
            cluster_support::first(&unread, 20)
        ));
    }
    // The commits are the end offsets, as a fresh client sees them.
    let committed = rt.block_on(async {
        let admin = Admin::connect(&bootstrap, admin_config()).await.unwrap();
        admin.list_consumer_group_offsets(group, None).await
    });
    match committed {
        Ok(c) => {
            for (p, end) in &ends {
                let got = c.get(&TopicPartition::new(topic, *p)).map(|o| o.offset);
                if got != Some(*end) {
                    problems.push(format!(
                        "partition {p}: committed {got:?} as a fresh client reads it, the end is {end}"
                    ));
                }
            }
        }
        Err(e) => problems.push(format!("reading the group's commits: {e}")),
    }
    match &new_coordinator {
        Ok(c) if *c == coordinator => problems.push(format!(
            "the group's coordinator is still the killed broker {coordinator}"
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!("FindCoordinator after the failover: {e}")),
    }
    problems.extend(cluster.panics());
    let re_read = seen.records.len() - read.len();
    let summary = format!(
        "killed broker {coordinator} (the group's coordinator; leader of {topic} partitions \
         {led:?}); the group's first successful commit after it came {first_commit:?} later; \
         new coordinator {new_coordinator:?}; {} records read ({re_read} read again), {} \
         commits, {} errors on the way: {:?}",
        seen.records.len(),
        seen.commits_ok,
        seen.errors.len(),
        &seen.errors[..seen.errors.len().min(10)]
    );
    if !problems.is_empty() {
        problems.push(summary.clone());
        problems.push(format!(
            "the consumer's last successful commits: {:?}",
            seen.committed
        ));
        let logs = cluster.logs(30);
        problems.push(offsets_topic_on_disk(&mut cluster, group));
        problems.push(logs);
    }
    assert_no_problems("consumer group", &problems, &cluster);
    eprintln!("{summary}");
}

// ---------------------------------------------------------------------------------------
// e. a seeded fault schedule.

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// kill -9, down for `down`, restart.
    Crash { node: i32, down: Duration },
    /// SIGSTOP for `paused`, SIGCONT.
    Pause { node: i32, paused: Duration },
    /// SIGTERM (controlled shutdown), down for `down`, restart.
    Shutdown { node: i32, down: Duration },
}

/// Eight faults from `seed`: three crashes, three pauses and two controlled shutdowns in
/// a seeded order, each of a random node, after a random gap.
fn schedule(seed: u64) -> Vec<(Duration, Fault)> {
    let mut rng = SplitMix64(seed);
    let mut kinds = [0, 0, 0, 1, 1, 1, 2, 2];
    for i in (1..kinds.len()).rev() {
        let j = rng.range(0, i as u64) as usize;
        kinds.swap(i, j);
    }
    kinds
        .iter()
        .map(|kind| {
            let gap = Duration::from_millis(rng.range(300, 1200));
            let node = rng.range(1, 3) as i32;
            let fault = match kind {
                0 => Fault::Crash {
                    node,
                    down: Duration::from_millis(rng.range(100, 1500)),
                },
                1 => Fault::Pause {
                    node,
                    // Up to twice the session timeout (1.5 s): sometimes fenced.
                    paused: Duration::from_millis(rng.range(300, 3000)),
                },
                _ => Fault::Shutdown {
                    node,
                    down: Duration::from_millis(rng.range(100, 1500)),
                },
            };
            (gap, fault)
        })
        .collect()
}

#[test]
fn a_seeded_fault_schedule_loses_nothing_acknowledged() {
    let _serial = serial();
    let seed: u64 = std::env::var("BROOK_FAULT_SEED")
        .ok()
        .map(|s| {
            let s = s.trim();
            s.strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16))
                .unwrap_or_else(|| s.parse())
                .unwrap_or_else(|e| panic!("BROOK_FAULT_SEED={s}: {e}"))
        })
        .unwrap_or(0xB200_4C1F);
    let faults = schedule(seed);
    eprintln!("BROOK_FAULT_SEED={seed:#x}; schedule:");
    for (i, (gap, f)) in faults.iter().enumerate() {
        eprintln!("  {i}: after {gap:?}: {f:?}");
    }
    let rt = runtime();
    let mut cluster = ProcCluster::start(&[]);
    let topic = "faults";
    let partitions = 3;
    cluster.create_topic(&rt, NewTopic::new(topic, partitions, 3));
    let start = Instant::now();
    let stream = Stream::start(
        &rt,
        producer_config(&cluster.bootstrap(), true, &[]),
        topic,
        partitions,
        Duration::from_millis(3),
    );
    stream.wait_acked_since(start, 200, Duration::from_secs(20), || cluster.logs(20));

    let mut timeline = Vec::new();
    for (i, (gap, fault)) in faults.iter().enumerate() {
        std::thread::sleep(*gap);
        // One broker down at a time: the previous one is back in every ISR first.
        let synced = Instant::now();
        cluster.wait_in_sync(&rt, topic, 3, Duration::from_secs(30));
        let acked = stream.acked();
        let began = Instant::now();
        match *fault {
            Fault::Crash { node, down } => {
                cluster.kill(node);
                std::thread::sleep(down);
                cluster.restart(node);
            }
            Fault::Pause { node, paused } => {
                cluster.pause(node);
                std::thread::sleep(paused);
                cluster.resume(node);
            }
            Fault::Shutdown { node, down } => {
                let status = cluster.terminate(node);
                if !status.success() {
                    panic!(
                        "fault {i}: node {node} exited with {status} after SIGTERM\n{}",
                        cluster.log_tail(node, 40)
                    );
                }
                std::thread::sleep(down);
                cluster.restart(node);
            }
        }
        timeline.push(format!(
            "  {i}: {fault:?}: ISR whole after {:?}, {acked} acked before, fault over after {:?}",
            began - synced,
            began.elapsed()
        ));
    }
    cluster.wait_in_sync(&rt, topic, 3, Duration::from_secs(30));
    let mark = Instant::now();
    stream.wait_acked_since(mark, 300, Duration::from_secs(30), || cluster.logs(20));
    let sent = stream.finish(&rt, Duration::from_secs(120), || cluster.logs(20));
    eprintln!(
        "faults over after {:?}:\n{}",
        start.elapsed(),
        timeline.join("\n")
    );

    let log = read_all(&rt, &cluster.bootstrap(), topic, partitions);
    let mut problems = check_stream(&sent, &log, false);
    problems.extend(cluster.panics());
    let replicas = cluster.stop_and_read(topic, partitions);
    for (p, r) in replicas.iter().enumerate() {
        problems.extend(compare_replicas(&format!("{topic}-{p}"), r));
    }
    if !problems.is_empty() {
        problems.insert(0, format!("BROOK_FAULT_SEED={seed:#x}"));
    }
    assert_no_problems("fault schedule", &problems, &cluster);
    let acked = sent.iter().filter(|s| s.acked().is_some()).count();
    eprintln!(
        "BROOK_FAULT_SEED={seed:#x}: {} sent, {acked} acknowledged, all in the log exactly once \
         at their offsets, in order; longest gap between acks {:?}; replicas identical",
        sent.len(),
        longest_ack_gap(&sent)
    );
}
