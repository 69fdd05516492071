//! The consuming side of a run: `--consumers` brook-client [`Consumer`]s in assign mode,
//! each given a share of the partitions (round robin), reading from the beginning, from a
//! group's committed offsets, or (end to end) from the end. Each consumer runs as a tokio
//! task; they count records and value bytes together, and end to end each record's
//! latency (receive time minus the intended send time stamped in its first 8 bytes).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use brook_client::{ClientError, Consumer, ConsumerConfig, TopicPartition};
use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

use super::produce::per_second;
use super::report::{histogram, merge, Report};
use super::workload::read_stamp;
use super::{broker_error, nanos};

/// Where the consumers start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    /// The group's committed offsets, else the beginning (`auto.offset.reset=earliest`).
    Committed,
    /// The end: only records produced from now on (end to end).
    End,
}

/// When the consumers stop.
#[derive(Debug, Clone)]
pub enum ConsumeStop {
    /// Once every partition is read up to its end offset at the start.
    EndOffsets,
    /// After this many records (measured, i.e. after the warm-up).
    Records(u64),
    /// After this long (after the warm-up).
    Duration(Duration),
    /// Once as many records arrived as the producers had acknowledged when they finished.
    Produced(Arc<ProducedSoFar>),
}

/// What the producers of an end-to-end run tell the consumers when they are done.
#[derive(Debug, Default)]
pub struct ProducedSoFar {
    pub total: AtomicU64,
    pub done: AtomicBool,
}

pub struct ConsumeSpec {
    pub parts: Vec<TopicPartition>,
    pub consumers: usize,
    pub config: ConsumerConfig,
    pub start_at: StartAt,
    pub stop: ConsumeStop,
    pub warmup: Duration,
    /// Values carry their intended send time: record end-to-end latency.
    pub stamped: bool,
    /// Fail when no record arrives for this long while more are expected.
    pub idle: Duration,
    pub bootstrap: String,
    pub commit: bool,
}

/// A consumer connected, assigned and positioned, and where its partitions end.
struct Prepared {
    consumer: Consumer,
    /// End offsets of the partitions not yet read to the end (with
    /// [`ConsumeStop::EndOffsets`]).
    ends: BTreeMap<TopicPartition, i64>,
}

/// The consumers, ready to poll.
pub struct PreparedAll {
    prepared: Vec<Prepared>,
    /// With [`ConsumeStop::EndOffsets`]: how many records there are to read.
    pub expected: Option<u64>,
}

/// Connects the consumers, assigns them their partitions and looks their positions up, so
/// that an end-to-end run starts producing only once they are in place.
pub async fn prepare(spec: &ConsumeSpec, timeout: Duration) -> anyhow::Result<PreparedAll> {
    let n = spec.consumers.max(1);
    let mut shares: Vec<Vec<TopicPartition>> = vec![Vec::new(); n];
    for (i, tp) in spec.parts.iter().enumerate() {
        shares[i % n].push(tp.clone());
    }
    let mut prepared = Vec::new();
    let mut expected = 0u64;
    let err = |e: ClientError| broker_error(&spec.bootstrap, e);
    for parts in shares.into_iter().filter(|s| !s.is_empty()) {
        let mut c =
            match tokio::time::timeout(timeout, Consumer::connect(spec.config.clone())).await {
                Ok(Ok(c)) => c,
                Ok(Err(e @ ClientError::Config { .. })) => return Err(anyhow!(e)),
                Ok(Err(e)) => bail!("cannot reach the broker at {}: {e}", spec.bootstrap),
                Err(_) => bail!(
                    "cannot reach the broker at {}: no answer within {timeout:?}",
                    spec.bootstrap
                ),
            };
        c.assign(&parts);
        match spec.start_at {
            StartAt::Beginning => c.seek_to_beginning(&parts).map_err(err)?,
            StartAt::End => c.seek_to_end(&parts).map_err(err)?,
            StartAt::Committed => {}
        }
        let mut starts = BTreeMap::new();
        for tp in &parts {
            starts.insert(tp.clone(), c.position(tp).await.map_err(err)?);
        }
        let mut ends = BTreeMap::new();
        if matches!(spec.stop, ConsumeStop::EndOffsets) {
            for (tp, end) in c.end_offsets(&parts).await.map_err(err)? {
                let from = starts.get(&tp).copied().unwrap_or(0);
                if end > from {
                    expected += (end - from) as u64;
                    ends.insert(tp, end);
                }
            }
        }
        prepared.push(Prepared { consumer: c, ends });
    }
    Ok(PreparedAll {
        prepared,
        expected: matches!(spec.stop, ConsumeStop::EndOffsets).then_some(expected),
    })
}

/// What the consumers share.
#[derive(Debug, Default)]
struct Shared {
    /// Every record received (warm-up included).
    seen: AtomicU64,
    /// Records claimed under [`ConsumeStop::Records`].
    claimed: AtomicU64,
    /// Measured records and their value bytes.
    records: AtomicU64,
    bytes: AtomicU64,
    /// Nanoseconds from the start to the last measured record, and to the last record.
    last_ns: AtomicU64,
    last_seen_ns: AtomicU64,
}

pub struct ConsumeRun {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<anyhow::Result<Histogram<u64>>>>,
    warmup: Duration,
}

/// What the consumers read.
#[derive(Debug)]
pub struct Consumed {
    pub records: u64,
    pub bytes: u64,
    /// From the end of the warm-up to the last record.
    pub seconds: f64,
    /// End-to-end latency, microseconds (empty unless stamped).
    pub hist: Histogram<u64>,
    pub error: Option<anyhow::Error>,
}

pub fn start(
    spec: Arc<ConsumeSpec>,
    prepared: PreparedAll,
    start: Instant,
    abort: Arc<AtomicBool>,
) -> ConsumeRun {
    let shared = Arc::new(Shared::default());
    let tasks = prepared
        .prepared
        .into_iter()
        .map(|p| {
            let (spec, shared, abort) = (spec.clone(), shared.clone(), abort.clone());
            tokio::spawn(run_one(spec, p, shared, start, abort))
        })
        .collect();
    ConsumeRun {
        shared,
        tasks,
        warmup: spec.warmup,
    }
}

async fn run_one(
    spec: Arc<ConsumeSpec>,
    p: Prepared,
    shared: Arc<Shared>,
    start: Instant,
    abort: Arc<AtomicBool>,
) -> anyhow::Result<Histogram<u64>> {
    let Prepared {
        consumer: mut c,
        mut ends,
    } = p;
    let mut hist = histogram();
    let measure_from = start + spec.warmup;
    let measure_from_ns = nanos(start, measure_from);
    let poll_wait = Duration::from_millis(100);
    // With a group: the offset after the last record consumed, per partition (what is
    // committed at the end; records polled past --num-records or the end offsets are not).
    let mut consumed: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let result: anyhow::Result<()> = async {
        loop {
            if abort.load(Ordering::Relaxed) {
                break;
            }
            let now = Instant::now();
            let mut wait = poll_wait;
            match &spec.stop {
                ConsumeStop::EndOffsets if ends.is_empty() => break,
                ConsumeStop::Records(n) if shared.claimed.load(Ordering::Relaxed) >= *n => break,
                ConsumeStop::Duration(d) => {
                    let until = measure_from + *d;
                    if now >= until {
                        break;
                    }
                    wait = wait.min(until - now);
                }
                ConsumeStop::Produced(p)
                    if p.done.load(Ordering::SeqCst)
                        && shared.seen.load(Ordering::SeqCst) >= p.total.load(Ordering::SeqCst) =>
                {
                    break
                }
                _ => {}
            }
            let records = c
                .poll(wait)
                .await
                .map_err(|e| broker_error(&spec.bootstrap, e))?;
            let now = Instant::now();
            let now_ns = nanos(start, now);
            if records.is_empty() {
                let waiting = match &spec.stop {
                    ConsumeStop::Duration(_) => false,
                    ConsumeStop::Produced(p) => p.done.load(Ordering::SeqCst),
                    _ => true,
                };
                let last = shared.last_seen_ns.load(Ordering::Relaxed);
                if waiting && now_ns.saturating_sub(last) > spec.idle.as_nanos() as u64 {
                    bail!(
                        "no records for {:?} after {} were received; stopping",
                        spec.idle,
                        shared.seen.load(Ordering::Relaxed)
                    );
                }
                continue;
            }
            shared.last_seen_ns.fetch_max(now_ns, Ordering::Relaxed);
            let mut take = records.len();
            if let ConsumeStop::Records(n) = &spec.stop {
                let prev = shared.claimed.fetch_add(take as u64, Ordering::Relaxed);
                take = (n.saturating_sub(prev) as usize).min(take);
            }
            let in_window = now >= measure_from;
            let (mut counted, mut bytes) = (0u64, 0u64);
            // The end offset of the partition of the previous record: records of one
            // partition come together.
            let mut end_of: Option<(&str, i32, i64)> = None;
            let mut consumed_to: Option<(&str, i32, i64)> = None;
            for r in &records[..take] {
                if matches!(spec.stop, ConsumeStop::EndOffsets) {
                    let end = match end_of {
                        Some((t, p, e)) if p == r.partition && t == r.topic => e,
                        _ => {
                            let tp = TopicPartition::new(r.topic.clone(), r.partition);
                            let e = ends.get(&tp).copied().unwrap_or(i64::MIN);
                            end_of = Some((&r.topic, r.partition, e));
                            e
                        }
                    };
                    if r.offset >= end {
                        continue;
                    }
                }
                if spec.commit {
                    // Only the last record of each partition's run matters.
                    match &mut consumed_to {
                        Some((t, p, o)) if *p == r.partition && *t == r.topic => *o = r.offset + 1,
                        last => {
                            if let Some((t, p, o)) = last.take() {
                                consumed.insert(TopicPartition::new(t, p), o);
                            }
                            *last = Some((&r.topic, r.partition, r.offset + 1));
                        }
                    }
                }
                let value = r.value.as_deref().unwrap_or_default();
                if spec.stamped {
                    let Some(stamp) = read_stamp(value) else {
                        continue;
                    };
                    if stamp < measure_from_ns {
                        continue;
                    }
                    hist.saturating_record((now_ns.saturating_sub(stamp) + 500) / 1000);
                } else if !in_window {
                    continue;
                }
                counted += 1;
                bytes += value.len() as u64;
            }
            if let Some((t, p, o)) = consumed_to {
                consumed.insert(TopicPartition::new(t, p), o);
            }
            shared
                .seen
                .fetch_add(records.len() as u64, Ordering::SeqCst);
            if counted > 0 {
                shared.records.fetch_add(counted, Ordering::Relaxed);
                shared.bytes.fetch_add(bytes, Ordering::Relaxed);
                shared.last_ns.fetch_max(now_ns, Ordering::Relaxed);
            }
            if !ends.is_empty() {
                for (tp, pos) in c.positions() {
                    if ends.get(&tp).is_some_and(|e| pos >= *e) {
                        ends.remove(&tp);
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    if spec.commit && !consumed.is_empty() {
        let offsets: Vec<(TopicPartition, i64)> = consumed.into_iter().collect();
        let committed = c
            .commit_sync(&offsets)
            .await
            .map_err(|e| anyhow!("committing the offsets consumed: {e}"));
        result?;
        committed?;
        return Ok(hist);
    }
    result.map(|()| hist)
}

impl ConsumeRun {
    /// Measured records and bytes so far (for the progress bar).
    pub fn counter(&self) -> impl Fn() -> (u64, u64) + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || {
            (
                shared.records.load(Ordering::Relaxed),
                shared.bytes.load(Ordering::Relaxed),
            )
        }
    }

    /// Waits for every consumer to stop and adds up the figures; the first consumer error
    /// is kept in [`Consumed::error`], so that the figures are still printed.
    pub async fn finish(self) -> Consumed {
        let mut hist = histogram();
        let mut error = None;
        for t in self.tasks {
            match t.await {
                Ok(Ok(h)) => merge(&mut hist, &h),
                Ok(Err(e)) => {
                    error.get_or_insert(e);
                }
                Err(e) => {
                    error.get_or_insert(anyhow!("a consumer task failed: {e}"));
                }
            }
        }
        let last = self.shared.last_ns.load(Ordering::Relaxed);
        let from = self.warmup.as_nanos() as u64;
        Consumed {
            records: self.shared.records.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            seconds: last.saturating_sub(from) as f64 / 1e9,
            hist,
            error,
        }
    }
}

impl Consumed {
    /// `consume_*` figures and a summary line like Kafka's `consumer-perf-test`.
    pub fn report(&self, r: &mut Report) {
        let rps = per_second(self.records, self.seconds);
        let mbs = per_second(self.bytes, self.seconds) / 1e6;
        r.summary(format!(
            "{} records received in {:.3} s, {rps:.1} records/sec ({mbs:.2} MB/sec).",
            self.records, self.seconds
        ));
        r.int("consume_records", self.records);
        r.int("consume_bytes", self.bytes);
        r.float("consume_seconds", self.seconds, 3);
        r.float("consume_msgs_per_s", rps, 0);
        r.float("consume_mb_per_s", mbs, 1);
    }
}
