//! Failure: the broker restarts in the middle of a run; Brook's idempotent producer delivers
//! everything exactly once, in order.
//!
//! A real `brook server` runs on a port and a data directory that stay the same across the
//! restart. Brook's `Producer` (over TCP, `enable.idempotence=true`, `acks=all`, unlimited
//! retries, a generous `delivery.timeout.ms`, small batches so that many are in flight) sends
//! a paced stream of keyed records, `seq-<n>` in the values, to a 4-partition topic. Once a
//! quarter of them are acknowledged the server is stopped, with SIGTERM in one test and kill -9
//! in the other, and started again on the same address and data directory while the producer
//! goes on sending; the last quarter is sent only once the new server is up. Then:
//!
//! - every send completes successfully (no error reaches the application);
//! - Brook's consumer reads each partition: every value exactly once, nothing that was not
//!   sent, each partition in send order, each key in its murmur2 partition;
//! - every acknowledged (partition, offset) holds the record it was acknowledged for.
//!
//! When something is wrong the test fails with all of it at once: the errors with the records
//! they failed, the duplicates, the records out of order, the missing ones and the offsets
//! that do not match. Every process the test starts is killed on drop.

mod server_support;
use server_support::Server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_client::producer::partitioner::partition_for_key;
use brook_client::{
    Admin, AdminConfig, ClientError, Consumer, ConsumerConfig, ConsumerRecord, NewTopic, Producer,
    ProducerConfig, ProducerRecord, RecordMetadata, TopicPartition,
};

const TOPIC: &str = "through-restart";
const PARTITIONS: i32 = 4;
const RECORDS: usize = 4000;
const KEYS: usize = 12;
/// The producer's `delivery.timeout.ms`: far longer than a restart takes.
const DELIVERY_TIMEOUT_MS: u64 = 180_000;

// ---------------------------------------------------------------------------------------
// The run.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Sigterm,
    Sigkill,
}

fn key(seq: usize) -> String {
    format!("k{}", seq % KEYS)
}

/// What became of each record sent: `None` while its callback has not run.
type Outcomes = Arc<Mutex<Vec<Option<Result<RecordMetadata, String>>>>>;

/// Sends `RECORDS` records through a broker restart and checks the log afterwards.
fn idempotent_producer_through_a_restart(stop: Stop) {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), "127.0.0.1:0", &[]);
    let addr = server.addr.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    rt.block_on(async {
        let admin = Admin::connect(&addr, AdminConfig::default()).await.unwrap();
        let created = admin
            .create_topics(&[NewTopic::new(TOPIC, PARTITIONS, 1)], false)
            .await
            .unwrap();
        assert!(created[TOPIC].is_ok(), "{created:?}");
    });

    let mut config = ProducerConfig::default();
    for (k, v) in [
        ("bootstrap.servers", addr.as_str()),
        ("client.id", "through-restart"),
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("retries", "2147483647"),
        ("delivery.timeout.ms", &DELIVERY_TIMEOUT_MS.to_string()),
        ("request.timeout.ms", "10000"),
        ("retry.backoff.ms", "50"),
        ("retry.backoff.max.ms", "500"),
        ("max.in.flight.requests.per.connection", "5"),
        // Small batches: many produce requests in flight when the broker goes away.
        ("batch.size", "1024"),
        ("linger.ms", "2"),
    ] {
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    let producer = Arc::new(rt.block_on(Producer::connect(config)).unwrap());

    let outcomes: Outcomes = Arc::new(Mutex::new(vec![None; RECORDS]));
    let completed = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let restarted = Arc::new(AtomicBool::new(false));
    let burst = Arc::new(AtomicBool::new(false));
    let sending = {
        let (producer, outcomes, completed, acked, sent, restarted, burst) = (
            producer.clone(),
            outcomes.clone(),
            completed.clone(),
            acked.clone(),
            sent.clone(),
            restarted.clone(),
            burst.clone(),
        );
        rt.spawn(async move {
            for seq in 0..RECORDS {
                if seq == RECORDS / 4 {
                    while !burst.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                // The last quarter only goes to the new server.
                while seq >= RECORDS * 3 / 4 && !restarted.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let record: ProducerRecord =
                    ProducerRecord::new(TOPIC, format!("seq-{seq}").into())
                        .with_key(key(seq).into());
                let (outcomes, completed, acked) =
                    (outcomes.clone(), completed.clone(), acked.clone());
                producer.send_with_callback(record, move |result| {
                    if result.is_ok() {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    outcomes.lock().unwrap()[seq] = Some(result.map_err(|e: ClientError| {
                        format!("{e} (retriable: {})", e.is_retriable())
                    }));
                    completed.fetch_add(1, Ordering::SeqCst);
                });
                sent.store(seq + 1, Ordering::SeqCst);
                if (RECORDS / 4..RECORDS * 3 / 4).contains(&seq) {
                    // The second and third quarters in a burst, so that many batches are
                    // queued and in flight when the server goes away.
                    if seq % 64 == 63 {
                        tokio::task::yield_now().await;
                    }
                } else if seq % 8 == 7 {
                    // The rest as a paced stream.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };

    // A quarter acknowledged: the burst starts, and once some of it is acknowledged too
    // (the broker is busy appending it) the server is stopped under the producer and
    // started again.
    let wait_for_acks = |n: usize, server: &Server| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {RECORDS} records acknowledged within 60 s before the restart \
                 ({} sent, {} completed); the server's stderr:\n{}",
                acked.load(Ordering::SeqCst),
                sent.load(Ordering::SeqCst),
                completed.load(Ordering::SeqCst),
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_for_acks(RECORDS / 4, &server);
    burst.store(true, Ordering::SeqCst);
    wait_for_acks(RECORDS / 4 + 50, &server);
    let at_stop = (
        sent.load(Ordering::SeqCst),
        acked.load(Ordering::SeqCst),
        completed.load(Ordering::SeqCst),
    );
    match stop {
        Stop::Sigterm => {
            let status = server.terminate();
            assert!(
                status.success(),
                "the server exited with {status} after SIGTERM; its stderr:\n{}",
                server.stderr()
            );
        }
        Stop::Sigkill => server.kill(),
    }
    let old_log = server.stderr();
    drop(server);
    let while_down = sent.load(Ordering::SeqCst);
    let server = Server::start(data.path(), &addr, &[]);
    assert_eq!(server.addr, addr, "the server is back on the same address");
    restarted.store(true, Ordering::SeqCst);
    eprintln!(
        "{stop:?} with {} sent, {} acknowledged, {} completed; {} sent when the server was \
         started again",
        at_stop.0, at_stop.1, at_stop.2, while_down
    );

    // Every record completes, successfully or not, within delivery.timeout.ms.
    let deadline = Instant::now() + Duration::from_millis(DELIVERY_TIMEOUT_MS + 60_000);
    while completed.load(Ordering::SeqCst) < RECORDS {
        assert!(
            Instant::now() < deadline,
            "{} of {RECORDS} records completed ({} acknowledged, {} sent) within \
             delivery.timeout.ms + 60 s; the new server's stderr:\n{}",
            completed.load(Ordering::SeqCst),
            acked.load(Ordering::SeqCst),
            sent.load(Ordering::SeqCst),
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.block_on(sending).unwrap();
    let closed = rt.block_on(producer.close(Duration::from_secs(30)));

    let outcomes: Vec<Result<RecordMetadata, String>> = outcomes
        .lock()
        .unwrap()
        .iter()
        .map(|o| o.clone().expect("every callback ran"))
        .collect();
    let records = rt.block_on(read_all(&addr));
    let problems = check(&outcomes, &records);
    let mut report = problems.clone();
    if let Err(e) = closed {
        report.push(format!("Producer::close failed: {e}"));
    }
    assert!(
        report.is_empty(),
        "{stop:?} restart with {} sent, {} acknowledged at the stop: {} problems\n{}\n--- the \
         stopped server's stderr:\n{}\n--- the new server's stderr:\n{}",
        at_stop.0,
        at_stop.1,
        report.len(),
        report.join("\n"),
        old_log,
        server.stderr()
    );
    eprintln!("{stop:?}: all {RECORDS} records acknowledged and in the log exactly once, in order");
}

/// Every record of the topic, read by Brook's consumer up to the end offsets taken first.
async fn read_all(addr: &str) -> Vec<ConsumerRecord> {
    let mut config = ConsumerConfig::new(addr);
    config.set("auto.offset.reset", "earliest").unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect();
    let ends = consumer.end_offsets(&tps).await.unwrap();
    consumer.assign(&tps);
    let mut next: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while tps.iter().any(|tp| next[&tp.partition] < ends[tp]) {
        assert!(
            Instant::now() < deadline,
            "Brook's consumer read up to {next:?}, not to the ends {ends:?}, within 60 s"
        );
        for r in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            assert_eq!(
                r.offset, next[&r.partition],
                "the consumer skipped or repeated offsets of partition {}",
                r.partition
            );
            next.insert(r.partition, r.offset + 1);
            out.push(r);
        }
    }
    out
}

/// Lists everything wrong with the outcomes of the sends and the records in the log.
fn check(outcomes: &[Result<RecordMetadata, String>], records: &[ConsumerRecord]) -> Vec<String> {
    let mut problems = Vec::new();

    // Errors surfaced to the application, grouped by their text with the records they hit.
    let mut errors: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (seq, o) in outcomes.iter().enumerate() {
        if let Err(e) = o {
            errors.entry(e.as_str()).or_default().push(seq);
        }
    }
    for (e, seqs) in &errors {
        problems.push(format!(
            "{} sends failed with `{e}`: records {}",
            seqs.len(),
            ranges(seqs)
        ));
    }

    // The log: what each (partition, offset) holds.
    let mut at: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut copies: BTreeMap<usize, Vec<(i32, i64)>> = BTreeMap::new();
    let mut per_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for r in records {
        let value = r.value.as_deref().map(String::from_utf8_lossy);
        let seq = value
            .as_deref()
            .and_then(|v| v.strip_prefix("seq-"))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < RECORDS);
        let Some(seq) = seq else {
            problems.push(format!(
                "{}@{} holds {value:?}, which was never sent",
                r.partition, r.offset
            ));
            continue;
        };
        let want_key = key(seq);
        if r.key.as_deref() != Some(want_key.as_bytes()) {
            problems.push(format!(
                "{}@{} (seq-{seq}) has key {:?}, sent {want_key}",
                r.partition,
                r.offset,
                r.key.as_deref().map(String::from_utf8_lossy)
            ));
        }
        let home = partition_for_key(want_key.as_bytes(), PARTITIONS);
        if r.partition != home {
            problems.push(format!(
                "seq-{seq} is in partition {}, its key's is {home}",
                r.partition
            ));
        }
        at.insert((r.partition, r.offset), seq);
        copies.entry(seq).or_default().push((r.partition, r.offset));
        per_partition
            .entry(r.partition)
            .or_default()
            .push((r.offset, seq));
    }

    let duplicated: Vec<String> = copies
        .iter()
        .filter(|(_, c)| c.len() > 1)
        .map(|(seq, c)| format!("seq-{seq} at {c:?}"))
        .collect();
    if !duplicated.is_empty() {
        problems.push(format!(
            "{} records are in the log more than once: {}",
            duplicated.len(),
            first(&duplicated, 20)
        ));
    }
    let missing: Vec<usize> = (0..RECORDS).filter(|s| !copies.contains_key(s)).collect();
    if !missing.is_empty() {
        let acked: Vec<usize> = missing
            .iter()
            .copied()
            .filter(|&s| outcomes[s].is_ok())
            .collect();
        problems.push(format!(
            "{} records are not in the log: {} (of which acknowledged: {})",
            missing.len(),
            ranges(&missing),
            ranges(&acked)
        ));
    }

    // Send order within each partition.
    for (p, rs) in &per_partition {
        let out_of_order: Vec<String> = rs
            .windows(2)
            .filter(|w| w[1].1 <= w[0].1)
            .map(|w| {
                format!(
                    "seq-{} at {} after seq-{} at {}",
                    w[1].1, w[1].0, w[0].1, w[0].0
                )
            })
            .collect();
        if !out_of_order.is_empty() {
            problems.push(format!(
                "partition {p} is out of send order in {} places: {}",
                out_of_order.len(),
                first(&out_of_order, 20)
            ));
        }
    }

    // Each acknowledgement names the place of its record.
    let mismatched: Vec<String> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(seq, o)| {
            let md = o.as_ref().ok()?;
            let holds = at.get(&(md.partition, md.offset));
            (holds != Some(&seq)).then(|| {
                format!(
                    "seq-{seq} acknowledged at {}@{}, which holds {}",
                    md.partition,
                    md.offset,
                    holds.map_or("nothing".to_owned(), |s| format!("seq-{s}"))
                )
            })
        })
        .collect();
    if !mismatched.is_empty() {
        problems.push(format!(
            "{} acknowledgements do not match the log: {}",
            mismatched.len(),
            first(&mismatched, 20)
        ));
    }
    problems
}

/// `0-4, 9, 12-13` for a sorted list of numbers.
fn ranges(ns: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ns.len() {
        let mut j = i;
        while j + 1 < ns.len() && ns[j + 1] == ns[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            ns[i].to_string()
        } else {
            format!("{}-{}", ns[i], ns[j])
        });
        i = j + 1;
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(", ")
    }
}

/// The first `n` items, and how many more there are.
fn first(items: &[String], n: usize) -> String {
    let mut s = items[..items.len().min(n)].join("; ");
    if items.len() > n {
        s.push_str(&format!("; and {} more", items.len() - n));
    }
    s
}

#[test]
fn idempotent_producer_delivers_exactly_once_in_order_through_a_sigterm_restart() {
    idempotent_producer_through_a_restart(Stop::Sigterm);
}

#[test]
fn idempotent_producer_delivers_exactly_once_in_order_through_a_kill_9_restart() {
    idempotent_producer_through_a_restart(Stop::Sigkill);
}
