//! The producing side of a run: `--producers` brook-client [`Producer`]s, each fed by a
//! driver thread of its own that sends as fast as the in-flight window allows or on a
//! fixed schedule (`--rate`), and whose acknowledgements (callbacks, on the producer's
//! tasks) are counted and timed.
//!
//! Latency is the coordinated-omission-corrected one: at a fixed rate every record has an
//! intended send time on the schedule (`start + k / rate`), and its latency is ack time
//! minus intended time, so a stall of the producer (or of the broker behind it) counts
//! against every record it delayed, not just the one that was stuck. At the maximum rate
//! there is no schedule: the intended time is the moment the record is handed to
//! [`Producer::send_with_callback`], as in Kafka's `producer-perf-test`.
//!
//! The driver thread is a plain OS thread, not a tokio task, so that it can sleep to the
//! next intended send time with the kernel's (tens of microseconds) precision instead of
//! tokio's millisecond timer. Records not yet acknowledged are bounded by a window of
//! `buffer.memory` bytes (a semaphore released by the callbacks), so a producer faster
//! than the broker waits instead of queueing without bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use brook_client::{ClientError, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
use hdrhistogram::Histogram;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::report::{histogram, merge, Report};
use super::workload::{key_pool, KeyChooser, Keys, Payloads, Rng};
use super::{nanos, Stop};

/// What to produce.
pub struct ProduceSpec {
    pub topics: Vec<String>,
    pub payloads: Arc<Payloads>,
    pub keys: Keys,
    pub key_space: u64,
    pub producers: usize,
    /// Records per second over all producers; 0 for as fast as possible.
    pub rate: f64,
    pub stop: Stop,
    pub warmup: Duration,
    /// Write the intended send time into the first 8 bytes of each value (e2e).
    pub stamp: bool,
    pub config: ProducerConfig,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one producer's callbacks update (one per producer, so they never contend).
struct Stats {
    /// Bytes (key + value) of records sent and not yet acknowledged may not exceed it.
    window: Semaphore,
    /// Measured records (after the warm-up) acknowledged, and their value bytes.
    acked: AtomicU64,
    acked_bytes: AtomicU64,
    /// Every record acknowledged, warm-up included (what an e2e consumer must see).
    acked_all: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Nanoseconds from the start to the last measured acknowledgement.
    last_ack_ns: AtomicU64,
    /// Latency of measured records, microseconds.
    hist: Mutex<Histogram<u64>>,
}

/// One record's facts its callback needs.
struct Sent {
    permits: u32,
    measured: bool,
    intended_ns: u64,
    value_bytes: u64,
}

impl Stats {
    fn on_ack(&self, start: Instant, sent: Sent, result: Result<RecordMetadata, ClientError>) {
        self.window.add_permits(sent.permits as usize);
        match result {
            Ok(_) => {
                self.acked_all.fetch_add(1, Ordering::Relaxed);
                if sent.measured {
                    let now = nanos(start, Instant::now());
                    let us = (now.saturating_sub(sent.intended_ns) + 500) / 1000;
                    lock(&self.hist).saturating_record(us);
                    self.acked.fetch_add(1, Ordering::Relaxed);
                    self.acked_bytes
                        .fetch_add(sent.value_bytes, Ordering::Relaxed);
                    self.last_ack_ns.fetch_max(now, Ordering::Relaxed);
                }
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = lock(&self.first_error);
                if first.is_none() {
                    *first = Some(e.to_string());
                }
            }
        }
    }
}

/// Connects `--producers` producers and loads the topics' metadata into each, so that the
/// first records are appended at once.
pub async fn connect(
    spec: &ProduceSpec,
    bootstrap: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<Arc<Producer>>> {
    let mut out = Vec::with_capacity(spec.producers);
    for _ in 0..spec.producers {
        let p = match tokio::time::timeout(timeout, Producer::connect(spec.config.clone())).await {
            Ok(Ok(p)) => p,
            Ok(Err(e @ ClientError::Config { .. })) => return Err(anyhow!(e)),
            Ok(Err(e)) => bail!("cannot reach the broker at {bootstrap}: {e}"),
            Err(_) => {
                bail!("cannot reach the broker at {bootstrap}: no answer within {timeout:?}")
            }
        };
        for t in &spec.topics {
            p.cluster()
                .topic(t)
                .await
                .map_err(|e| super::broker_error(bootstrap, e))?;
        }
        out.push(Arc::new(p));
    }
    Ok(out)
}

/// A run in progress.
pub struct ProduceRun {
    stats: Vec<Arc<Stats>>,
    drivers: Vec<JoinHandle<()>>,
    producers: Vec<Arc<Producer>>,
    warmup: Duration,
}

/// What a run produced.
#[derive(Debug)]
pub struct Produced {
    /// Measured records acknowledged (after the warm-up), and their value bytes.
    pub records: u64,
    pub bytes: u64,
    /// From the end of the warm-up to the last acknowledgement.
    pub seconds: f64,
    pub hist: Histogram<u64>,
    /// Every record acknowledged, warm-up included.
    pub acked_all: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub close_error: Option<String>,
}

/// Starts one driver per producer; the schedule starts at `start`.
pub fn start(
    spec: Arc<ProduceSpec>,
    producers: Vec<Arc<Producer>>,
    start: Instant,
    abort: Arc<AtomicBool>,
) -> ProduceRun {
    let key_len = match spec.keys {
        Keys::None => 0,
        _ => spec.key_space.to_string().len(),
    };
    let record = spec.payloads.size() + key_len;
    let window = spec
        .config
        .buffer_memory
        .max(2 * record)
        .min(Semaphore::MAX_PERMITS);
    let keys = key_pool(spec.keys, spec.key_space);
    let seed = Rng::from_entropy().next_u64();
    let mut stats = Vec::new();
    let mut drivers = Vec::new();
    for (i, p) in producers.iter().enumerate() {
        let s = Arc::new(Stats {
            window: Semaphore::new(window),
            acked: AtomicU64::new(0),
            acked_bytes: AtomicU64::new(0),
            acked_all: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            last_ack_ns: AtomicU64::new(0),
            hist: Mutex::new(histogram()),
        });
        stats.push(s.clone());
        let driver = Driver {
            index: i,
            spec: spec.clone(),
            producer: p.clone(),
            stats: s,
            keys: KeyChooser::new(spec.keys, keys.clone(), i as u64),
            rng: Rng::new(seed ^ (i as u64)),
            start,
            abort: abort.clone(),
            handle: Handle::current(),
            chunk: u32::try_from(window / 16).unwrap_or(u32::MAX).max(1),
        };
        drivers.push(tokio::task::spawn_blocking(move || driver.run()));
    }
    ProduceRun {
        stats,
        drivers,
        producers,
        warmup: spec.warmup,
    }
}

/// One producer's sending loop.
struct Driver {
    index: usize,
    spec: Arc<ProduceSpec>,
    producer: Arc<Producer>,
    stats: Arc<Stats>,
    keys: KeyChooser,
    rng: Rng,
    start: Instant,
    abort: Arc<AtomicBool>,
    handle: Handle,
    /// The window permits taken at once.
    chunk: u32,
}

impl Driver {
    fn run(mut self) {
        let spec = self.spec.clone();
        let n = spec.producers as u64;
        let i = self.index as u64;
        let mine = match spec.stop {
            Stop::Records(total) => Some(total * (i + 1) / n - total * i / n),
            Stop::Duration(_) => None,
        };
        let measure_from = self.start + spec.warmup;
        let until = match spec.stop {
            Stop::Duration(d) => Some(measure_from + d),
            Stop::Records(_) => None,
        };
        // Seconds between two records of this producer, on the schedule.
        let interval = (spec.rate > 0.0).then(|| n as f64 / spec.rate);
        let topics = &spec.topics;
        let value_bytes = spec.payloads.size() as u64;
        let mut k = 0u64;
        let mut measured = 0u64;
        // Window permits taken and not yet given to a record.
        let mut held = 0u64;
        while !self.abort.load(Ordering::Relaxed) {
            let scheduled = interval.map(|s| self.start + Duration::from_secs_f64(s * k as f64));
            let now = Instant::now();
            let warm = scheduled.unwrap_or(now) < measure_from;
            if !warm
                && (mine.is_some_and(|m| measured >= m)
                    || until.is_some_and(|u| scheduled.unwrap_or(now) >= u))
            {
                break;
            }
            if let Some(s) = scheduled {
                if s > now {
                    std::thread::sleep(s - now);
                }
            }
            let key = self.keys.next(&mut self.rng);
            let size = spec.payloads.size() + key.as_ref().map_or(0, |k| k.len());
            let permits = u32::try_from(size.max(1)).unwrap_or(u32::MAX);
            // The window is taken in chunks of a sixteenth (or the record), so the loop
            // sleeps and is woken once per chunk of acknowledgements, not per record.
            let mut waited = false;
            if held < u64::from(permits) {
                let want = permits.max(self.chunk);
                match self.stats.window.try_acquire_many(want) {
                    Ok(p) => p.forget(),
                    Err(_) => {
                        waited = true;
                        match self.handle.block_on(self.stats.window.acquire_many(want)) {
                            Ok(p) => p.forget(),
                            Err(_) => break,
                        }
                    }
                }
                held += u64::from(want);
            }
            held -= u64::from(permits);
            // At the maximum rate the record is meant to go now; waiting for the window
            // is the producer being busy, not latency of this record.
            let intended = match scheduled {
                Some(s) => s,
                None if waited => Instant::now(),
                None => now,
            };
            let intended_ns = nanos(self.start, intended);
            let value = if spec.stamp {
                spec.payloads.stamped(k, intended_ns)
            } else {
                spec.payloads.get(k)
            };
            let topic = &topics[(k % topics.len() as u64) as usize];
            let mut record = ProducerRecord::new(topic.clone(), value);
            if let Some(key) = key {
                record = record.with_key(key);
            }
            let sent = Sent {
                permits,
                measured: !warm,
                intended_ns,
                value_bytes,
            };
            let stats = self.stats.clone();
            let start = self.start;
            self.producer
                .send_with_callback(record, move |r| stats.on_ack(start, sent, r));
            k += 1;
            if !warm {
                measured += 1;
            }
        }
        self.handle.block_on(self.producer.flush());
    }
}

impl ProduceRun {
    /// Measured records and bytes acknowledged so far (for the progress bar).
    pub fn counter(&self) -> impl Fn() -> (u64, u64) + Send + Sync + 'static {
        let stats = self.stats.clone();
        move || {
            stats.iter().fold((0, 0), |(r, b), s| {
                (
                    r + s.acked.load(Ordering::Relaxed),
                    b + s.acked_bytes.load(Ordering::Relaxed),
                )
            })
        }
    }

    /// Waits for the drivers (which flush their producers), closes the producers and
    /// adds up the figures.
    pub async fn finish(self, timeout: Duration) -> anyhow::Result<Produced> {
        for d in self.drivers {
            d.await.context("a producer driver failed")?;
        }
        let mut close_error = None;
        for p in &self.producers {
            if let Err(e) = p.close(timeout).await {
                close_error.get_or_insert(e.to_string());
            }
        }
        let mut out = Produced {
            records: 0,
            bytes: 0,
            seconds: 0.0,
            hist: histogram(),
            acked_all: 0,
            failed: 0,
            first_error: None,
            close_error,
        };
        let mut last = 0u64;
        for s in &self.stats {
            out.records += s.acked.load(Ordering::Relaxed);
            out.bytes += s.acked_bytes.load(Ordering::Relaxed);
            out.acked_all += s.acked_all.load(Ordering::Relaxed);
            out.failed += s.failed.load(Ordering::Relaxed);
            last = last.max(s.last_ack_ns.load(Ordering::Relaxed));
            merge(&mut out.hist, &lock(&s.hist));
            if out.first_error.is_none() {
                out.first_error = lock(&s.first_error).clone();
            }
        }
        let from = self.warmup.as_nanos() as u64;
        out.seconds = last.saturating_sub(from) as f64 / 1e9;
        Ok(out)
    }
}

/// Records (or bytes) per second, 0 when nothing was timed.
pub fn per_second(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

impl Produced {
    /// `produce_*` figures and Kafka's `producer-perf-test` summary line.
    pub fn report(&self, r: &mut Report) {
        let rps = per_second(self.records, self.seconds);
        let mbs = per_second(self.bytes, self.seconds) / 1e6;
        let q = |q: f64| {
            if self.hist.is_empty() {
                0.0
            } else {
                self.hist.value_at_quantile(q) as f64 / 1000.0
            }
        };
        let avg = if self.hist.is_empty() {
            0.0
        } else {
            self.hist.mean() / 1000.0
        };
        r.summary(format!(
            "{} records sent, {rps:.1} records/sec ({mbs:.2} MB/sec), {avg:.2} ms avg latency, \
             {:.2} ms max latency, {:.2} ms 50th, {:.2} ms 99th, {:.2} ms 99.9th.",
            self.records,
            self.hist.max() as f64 / 1000.0,
            q(0.5),
            q(0.99),
            q(0.999),
        ));
        r.int("produce_records", self.records);
        r.int("produce_bytes", self.bytes);
        r.float("produce_seconds", self.seconds, 3);
        r.float("produce_msgs_per_s", rps, 0);
        r.float("produce_mb_per_s", mbs, 1);
        r.latency("produce_latency", &self.hist);
        r.int("produce_errors", self.failed);
    }

    /// An error if records failed or the producers did not close cleanly.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.failed > 0 {
            bail!(
                "{} record(s) were not written; the first error: {}",
                self.failed,
                self.first_error.as_deref().unwrap_or("unknown")
            );
        }
        if let Some(e) = &self.close_error {
            bail!("closing the producers: {e}");
        }
        Ok(())
    }
}
