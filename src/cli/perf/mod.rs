//! `brook perf produce|consume|e2e|cluster`: a load generator modelled on the OpenMessaging
//! Benchmark workloads, for Brook or any other Kafka-compatible broker.
//!
//! A workload is topics x partitions (`--topic`, `--topics N`, `--partitions N`; topics
//! that do not exist are created with the admin client), a message size
//! (`--message-size`, of which `--random-fraction` is random bytes and the rest
//! compressible text), a key distribution (`--keys none|round-robin|random` over
//! `--key-space` keys), producer and consumer counts (`--producers`, `--consumers`), a
//! target rate (`--rate` records per second over all producers, 0 for the maximum) and a
//! length (`--num-records N` or `--duration SECS`, after `--warmup SECS` that is sent but
//! not measured). Producer and consumer settings are passed with Kafka's names:
//! `--producer-config acks=1 --producer-config batch.size=1048576`,
//! `--consumer-config fetch.max.bytes=16777216`.
//!
//! - `produce` sends the records and counts them on acknowledgement: msg/s, MB/s (1 MB =
//!   10^6 bytes of record values) and the publish latency (p50/p99/p99.9/max), corrected
//!   for coordinated omission at a fixed rate (each record's latency runs from its
//!   intended send time on the schedule; see [`produce`]).
//! - `consume` reads the topics from the beginning (or from `--group`'s committed offsets)
//!   up to the end offsets they had at the start, or `--num-records`, or for
//!   `--duration`: msg/s and MB/s.
//! - `e2e` produces at `--rate` while consumers read from the end; each value carries its
//!   intended send time in its first 8 bytes and the consumer records receive time minus
//!   that: the end-to-end latency.
//! - `cluster` starts a 3-node Brook cluster on loopback itself (child processes of this
//!   executable, killed at the end) and measures replication: `acks=all` produce to
//!   replication factor 1 and 3 in turns (`rf1_produce_msgs_per_s`,
//!   `rf3_produce_msgs_per_s`, `rf3_vs_rf1`), then failover after `kill -9` of a
//!   partition leader under a steady idempotent load (`failover_ms_<n>`,
//!   `metadata_failover_ms_<n>`, `failover_ms_max`) and that no acknowledged record was
//!   lost (`failover_lost_records`); see [`cluster`].
//!
//! Every figure is a `name: value` line on stdout (`produce_msgs_per_s: 812345`,
//! `produce_mb_per_s: 793.3`, `e2e_latency_p99_ms: 1.234`, ...) after a summary line for
//! humans like the one Kafka's perf tools print; `--json` prints one JSON object instead.
//! Because the machines this runs on are shared and noisy, each run also measures a
//! baseline on the same volume (`--baseline loopback`: a plain TCP copy over 127.0.0.1, or
//! `memcpy`) and prints `<metric>_vs_loopback: ratio`. A progress bar shows on stderr when
//! stdout is a terminal (`--progress` / `--no-progress`). An unreachable broker, an
//! unknown topic (for `consume`) or records that were not written end the tool with a
//! message on stderr and exit code 1.

mod baseline;
mod cluster;
mod consume;
mod produce;
mod report;
mod workload;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use brook_client::{ClientError, ConsumerConfig, ErrorCode, NewTopic, ProducerConfig};
use brook_client::{TopicMetadata, TopicPartition};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use self::baseline::Baseline;
use self::consume::{ConsumeSpec, ConsumeStop, ProducedSoFar, StartAt};
use self::produce::ProduceSpec;
use self::report::Report;
use self::workload::{Keys, Payloads, Rng, MAX_KEY_SPACE};
use super::{parse_key_value, ConnectArgs, Session};

/// The largest `--message-size`: far beyond any broker's default `message.max.bytes`.
const MAX_MESSAGE_SIZE: usize = 64 << 20;

#[derive(clap::Subcommand, Debug)]
pub enum PerfCommand {
    /// Produce records as fast as possible or at --rate; print throughput and publish
    /// latency (like kafka-producer-perf-test.sh).
    Produce(ProduceArgs),
    /// Read topics to their end (or --num-records, or for --duration); print throughput
    /// (like kafka-consumer-perf-test.sh).
    Consume(ConsumeArgs),
    /// Produce at --rate and consume at the same time; print end-to-end latency.
    E2e(E2eArgs),
    /// Start a 3-node cluster on loopback and measure replication: acks=all produce with
    /// replication factor 3 versus 1, and failover time after kill -9 of a leader (with
    /// no acknowledged record lost).
    Cluster(cluster::ClusterArgs),
}

/// What every `brook perf` tool takes.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The topic (default for produce and e2e: `perf-<random>`). Created if it does not
    /// exist (produce, e2e). With --topics N above 1, the topics `<TOPIC>-0` .. `<TOPIC>-<N-1>`.
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// How many topics.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub topics: u32,
    /// Measure for this long (default 10 s for produce and e2e; consume reads to the end).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, conflicts_with = "num_records")]
    pub duration: Option<f64>,
    /// Measure this many records (over all producers or consumers).
    #[arg(long, value_name = "N")]
    pub num_records: Option<u64>,
    /// Run this long first without measuring (records sent then are extra).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value_t = 0.0)]
    pub warmup: f64,
    /// Show a progress bar on stderr (default: when stdout is a terminal).
    #[arg(long, overrides_with = "no_progress")]
    pub progress: bool,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Print the figures as one JSON object instead of `name: value` lines.
    #[arg(long)]
    pub json: bool,
    /// What the throughput is compared with, measured in the same run on the same volume.
    #[arg(long, value_enum, default_value_t = Baseline::Loopback)]
    pub baseline: Baseline,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Producers")]
pub struct ProducerArgs {
    /// Partitions of the topics that are created.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
    /// Bytes of each record value.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub message_size: usize,
    /// The share of each value that is random bytes; the rest is compressible text.
    #[arg(long, value_name = "F", default_value_t = 0.5)]
    pub random_fraction: f64,
    /// Record keys.
    #[arg(long, value_enum, default_value_t = Keys::None)]
    pub keys: Keys,
    /// How many distinct keys (with --keys round-robin or random).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub key_space: u64,
    /// Producers (each with its own connections).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub producers: usize,
    /// Records per second over all producers; 0 for as fast as possible.
    #[arg(long, value_name = "MSG/S", default_value_t = 0.0)]
    pub rate: f64,
    /// A producer setting with Kafka's name, e.g. `acks=1`, `batch.size=1048576`,
    /// `linger.ms=5`, `compression.type=lz4`. May be repeated.
    #[arg(long = "producer-config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub producer_config: Vec<(String, String)>,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Consumers")]
pub struct ConsumerArgs {
    /// Consumers; the partitions are shared out among them.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub consumers: usize,
    /// A consumer setting with Kafka's name, e.g. `fetch.max.bytes=16777216`,
    /// `max.partition.fetch.bytes=4194304`, `max.poll.records=10000`. May be repeated.
    #[arg(long = "consumer-config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub consumer_config: Vec<(String, String)>,
}

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub producer: ProducerArgs,
}

#[derive(clap::Args, Debug)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub consumer: ConsumerArgs,
    /// Start from this group's committed offsets (the beginning where it has none) and
    /// commit the positions reached at the end.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct E2eArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub producer: ProducerArgs,
    #[command(flatten)]
    pub consumer: ConsumerArgs,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1e9).contains(&v) => Ok(v),
        _ => Err(format!("expected a number of seconds, got `{s}`")),
    }
}

/// How long a producing run lasts.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    Records(u64),
    Duration(Duration),
}

/// Nanoseconds from `start` to `t` (0 before it).
pub fn nanos(start: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}

/// Connection failures name the broker; other errors speak for themselves.
pub fn broker_error(bootstrap: &str, e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Connect { .. }
        | ClientError::ConnectTimeout { .. }
        | ClientError::Disconnected { .. }
        | ClientError::Io(_)
        | ClientError::Timeout { .. } => anyhow!("cannot reach the broker at {bootstrap}: {e}"),
        other => anyhow!(other),
    }
}

pub fn run(command: PerfCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("brook-perf")
        .build()
        .context("starting the runtime")?;
    let result = runtime.block_on(async move {
        match command {
            PerfCommand::Produce(a) => produce_tool(a).await,
            PerfCommand::Consume(a) => consume_tool(a).await,
            PerfCommand::E2e(a) => e2e_tool(a).await,
            PerfCommand::Cluster(a) => cluster::cluster_tool(a).await,
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

impl RunArgs {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.connect.timeout.max(1))
    }

    fn bootstrap(&self) -> &str {
        &self.connect.bootstrap_server
    }

    fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup)
    }

    /// `--num-records`, else `--duration`, else `default_secs`.
    fn stop(&self, default_secs: f64) -> Stop {
        match (self.num_records, self.duration) {
            (Some(n), _) => Stop::Records(n),
            (None, Some(d)) => Stop::Duration(Duration::from_secs_f64(d)),
            (None, None) => Stop::Duration(Duration::from_secs_f64(default_secs)),
        }
    }

    fn topic_names(&self, rng: &mut Rng) -> Vec<String> {
        let base = self
            .topic
            .clone()
            .unwrap_or_else(|| format!("perf-{:08x}", rng.next_u64() as u32));
        if self.topics == 1 {
            vec![base]
        } else {
            (0..self.topics).map(|i| format!("{base}-{i}")).collect()
        }
    }

    fn progress_enabled(&self) -> bool {
        self.progress
            || (!self.no_progress
                && std::io::stdout().is_terminal()
                && std::io::stderr().is_terminal())
    }
}

impl ProducerArgs {
    fn validate(&self, e2e: bool) -> anyhow::Result<()> {
        if self.message_size > MAX_MESSAGE_SIZE {
            bail!("--message-size is at most {MAX_MESSAGE_SIZE} bytes");
        }
        if e2e && self.message_size < 8 {
            bail!("e2e needs --message-size of at least 8: each value carries its send time");
        }
        if !(0.0..=1.0).contains(&self.random_fraction) {
            bail!("--random-fraction must be between 0 and 1");
        }
        if !(1..=MAX_KEY_SPACE).contains(&self.key_space) {
            bail!("--key-space must be between 1 and {MAX_KEY_SPACE}");
        }
        if !(1..=1024).contains(&self.producers) {
            bail!("--producers must be between 1 and 1024");
        }
        if !self.rate.is_finite() || self.rate < 0.0 {
            bail!("--rate must be a number of records per second, 0 for the maximum");
        }
        Ok(())
    }

    fn config(&self, connect: &ConnectArgs) -> anyhow::Result<ProducerConfig> {
        let mut config = ProducerConfig::default();
        config
            .set("bootstrap.servers", &connect.bootstrap_server)
            .map_err(|e| anyhow!("--bootstrap-server: {e}"))?;
        config
            .set("client.id", "brook-perf")
            .map_err(|e| anyhow!("{e}"))?;
        for (k, v) in &self.producer_config {
            config
                .set(k, v)
                .map_err(|e| anyhow!("--producer-config {k}={v}: {e}"))?;
        }
        Ok(config)
    }

    fn describe(&self, r: &mut Report, config: &ProducerConfig) {
        r.int("message_size", self.message_size as u64);
        r.float("random_fraction", self.random_fraction, 2);
        r.text(
            "keys",
            match self.keys {
                Keys::None => "none".to_owned(),
                Keys::RoundRobin => format!("round-robin/{}", self.key_space),
                Keys::Random => format!("random/{}", self.key_space),
            },
        );
        r.int("producers", self.producers as u64);
        r.float("target_rate", self.rate, 0);
        let settings: Vec<String> = ["acks", "batch.size", "linger.ms", "compression.type"]
            .iter()
            .filter_map(|k| config.get(k).map(|v| format!("{k}={v}")))
            .collect();
        r.text("producer_config", settings.join(","));
    }
}

impl ConsumerArgs {
    fn validate(&self) -> anyhow::Result<()> {
        if !(1..=1024).contains(&self.consumers) {
            bail!("--consumers must be between 1 and 1024");
        }
        Ok(())
    }

    fn config(&self, connect: &ConnectArgs, reset: &str) -> anyhow::Result<ConsumerConfig> {
        let mut config = ConsumerConfig::new(connect.bootstrap_server.clone());
        config
            .set("bootstrap.servers", &connect.bootstrap_server)
            .map_err(|e| anyhow!("--bootstrap-server: {e}"))?;
        for (k, v) in [("client.id", "brook-perf"), ("auto.offset.reset", reset)] {
            config.set(k, v).map_err(|e| anyhow!("{e}"))?;
        }
        for (k, v) in &self.consumer_config {
            config
                .set(k, v)
                .map_err(|e| anyhow!("--consumer-config {k}={v}: {e}"))?;
        }
        Ok(config)
    }
}

/// The partitions of `names` once each has a leader; with `create`, the topics that do
/// not exist are created with `partitions` partitions first, else they are an error.
async fn topic_partitions(
    s: &Session,
    names: &[String],
    create: Option<i32>,
    timeout: Duration,
) -> anyhow::Result<Vec<TopicPartition>> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Some(partitions) = create {
        let found = s
            .admin
            .describe_topics(&refs)
            .await
            .map_err(|e| s.error(e))?;
        let missing: Vec<NewTopic> = names
            .iter()
            .filter(|n| !matches!(found.get(*n), Some(Ok(_))))
            .map(|n| NewTopic::new(n.clone(), partitions, -1))
            .collect();
        if !missing.is_empty() {
            let created = s
                .admin
                .create_topics(&missing, false)
                .await
                .map_err(|e| s.error(e))?;
            for t in &missing {
                match created.get(&t.name) {
                    Some(Ok(_)) => {}
                    Some(Err(e)) if e.code == ErrorCode::TOPIC_ALREADY_EXISTS => {}
                    Some(Err(e)) => bail!("cannot create topic `{}`: {e}", t.name),
                    None => bail!(
                        "cannot create topic `{}`: the broker did not answer for it",
                        t.name
                    ),
                }
            }
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let found = s
            .admin
            .describe_topics(&refs)
            .await
            .map_err(|e| s.error(e))?;
        let mut parts = Vec::new();
        let mut problem = None;
        for name in names {
            match found.get(name) {
                Some(Ok(t)) if leaders_known(t) => parts.extend(
                    t.partitions
                        .iter()
                        .map(|p| TopicPartition::new(name.clone(), p.partition)),
                ),
                Some(Ok(_)) => {
                    problem = Some(format!("topic `{name}` has partitions without a leader"))
                }
                Some(Err(e)) if e.code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
                    if create.is_none() {
                        bail!("unknown topic `{name}` (UNKNOWN_TOPIC_OR_PARTITION)");
                    }
                    problem = Some(format!("unknown topic `{name}` ({e})"));
                }
                Some(Err(e)) => problem = Some(format!("topic `{name}`: {e}")),
                None => {
                    if create.is_none() {
                        bail!("unknown topic `{name}` (UNKNOWN_TOPIC_OR_PARTITION)");
                    }
                    problem = Some(format!("unknown topic `{name}`"));
                }
            }
        }
        match problem {
            None => return Ok(parts),
            Some(p) if Instant::now() >= deadline => bail!("{p} after {timeout:?}"),
            Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn leaders_known(t: &TopicMetadata) -> bool {
    !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader.is_some())
}

/// The first Ctrl-C ends the run early (the figures so far are printed); a second one
/// exits at once.
fn abort_on_ctrl_c() -> Arc<AtomicBool> {
    let abort = Arc::new(AtomicBool::new(false));
    let flag = abort.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: finishing (Ctrl-C again to quit at once)");
            flag.store(true, Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    abort
}

/// What the progress bar counts to.
enum Length {
    Records(u64),
    Time(Duration),
}

/// A progress bar on stderr, updated from a counter of (records, bytes) four times a
/// second.
struct Progress {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(
        enabled: bool,
        length: Length,
        counter: impl Fn() -> (u64, u64) + Send + Sync + 'static,
    ) -> Option<Progress> {
        if !enabled {
            return None;
        }
        let (len, template) = match length {
            Length::Records(n) => (
                n,
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} records  {msg}",
            ),
            Length::Time(d) => (
                d.as_millis() as u64,
                "{spinner} [{elapsed_precise}] {wide_bar} {msg}",
            ),
        };
        let by_records = template.contains("{pos}");
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        let b = bar.clone();
        let ticker = tokio::spawn(async move {
            let t0 = Instant::now();
            let (mut last_t, mut last) = (t0, (0u64, 0u64));
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let now = Instant::now();
                let c = counter();
                let dt = now.duration_since(last_t).as_secs_f64().max(1e-9);
                let rate = (c.0.saturating_sub(last.0)) as f64 / dt;
                let mbs = (c.1.saturating_sub(last.1)) as f64 / dt / 1e6;
                if by_records {
                    b.set_position(c.0.min(len));
                } else {
                    b.set_position((now.duration_since(t0).as_millis() as u64).min(len));
                }
                b.set_message(format!(
                    "{:.0} msg/s  {mbs:.1} MB/s  ({} records)",
                    rate, c.0
                ));
                (last_t, last) = (now, c);
            }
        });
        Some(Progress { bar, ticker })
    }

    fn finish(p: Option<Progress>) {
        if let Some(p) = p {
            p.ticker.abort();
            p.bar.finish_and_clear();
        }
    }
}

/// Measures the baseline on `volume` bytes and adds `<metric>_vs_<baseline>` for each
/// throughput metric.
async fn add_baseline(
    r: &mut Report,
    kind: Baseline,
    volume: u64,
    metrics: &[&str],
) -> anyhow::Result<()> {
    if kind == Baseline::None {
        return Ok(());
    }
    let measured = tokio::task::spawn_blocking(move || baseline::measure(kind, volume))
        .await
        .context("the baseline failed")?
        .with_context(|| format!("measuring the {} baseline", kind.name()))?;
    let Some(mbs) = measured else {
        return Ok(());
    };
    let name = kind.name();
    let mib = volume.clamp(baseline::MIN_VOLUME, baseline::MAX_VOLUME) >> 20;
    r.float(&format!("{name}_mb_per_s"), mbs, 1);
    let mut ratios = Vec::new();
    for m in metrics {
        if let Some(v) = r.get(m) {
            let ratio = if mbs > 0.0 { v / mbs } else { 0.0 };
            ratios.push(format!("{m} {ratio:.3}x"));
            r.float(&format!("{m}_vs_{name}"), ratio, 3);
        }
    }
    r.summary(format!(
        "{name} baseline: {mbs:.1} MB/s over {mib} MiB; {}.",
        ratios.join(", ")
    ));
    Ok(())
}

fn describe_topics(r: &mut Report, workload: &str, names: &[String], parts: usize) {
    r.text("workload", workload);
    r.text("topics", names.join(","));
    r.int("partitions", parts as u64);
}

fn print(r: &Report, json: bool) {
    print!("{}", r.render(json));
}

async fn produce_tool(a: ProduceArgs) -> anyhow::Result<()> {
    a.producer.validate(false)?;
    let timeout = a.run.timeout();
    let config = a.producer.config(&a.run.connect)?;
    let session = Session::connect(&a.run.connect).await?;
    let mut rng = Rng::from_entropy();
    let names = a.run.topic_names(&mut rng);
    let parts = topic_partitions(&session, &names, Some(a.producer.partitions), timeout).await?;
    let stop = a.run.stop(10.0);
    let spec = Arc::new(ProduceSpec {
        topics: names.clone(),
        payloads: Arc::new(Payloads::new(
            a.producer.message_size,
            a.producer.random_fraction,
            &mut rng,
        )),
        keys: a.producer.keys,
        key_space: a.producer.key_space,
        producers: a.producer.producers,
        rate: a.producer.rate,
        stop,
        warmup: a.run.warmup(),
        stamp: false,
        config: config.clone(),
    });
    let producers = produce::connect(&spec, a.run.bootstrap(), timeout).await?;
    let abort = abort_on_ctrl_c();
    let start = Instant::now();
    let run = produce::start(spec, producers, start, abort);
    let progress = Progress::start(
        a.run.progress_enabled(),
        match stop {
            Stop::Records(n) => Length::Records(n),
            Stop::Duration(d) => Length::Time(d + a.run.warmup()),
        },
        run.counter(),
    );
    let out = run.finish(timeout).await;
    Progress::finish(progress);
    let out = out?;
    let mut r = Report::default();
    describe_topics(&mut r, "produce", &names, parts.len());
    a.producer.describe(&mut r, &config);
    out.report(&mut r);
    add_baseline(&mut r, a.run.baseline, out.bytes, &["produce_mb_per_s"]).await?;
    print(&r, a.run.json);
    out.check()
}

async fn consume_tool(a: ConsumeArgs) -> anyhow::Result<()> {
    a.consumer.validate()?;
    if a.run.topic.is_none() {
        bail!("brook perf consume needs --topic: the topic to read");
    }
    let timeout = a.run.timeout();
    let reset = "earliest";
    let mut config = a.consumer.config(&a.run.connect, reset)?;
    if let Some(g) = &a.group {
        config
            .set("group.id", g)
            .map_err(|e| anyhow!("--group: {e}"))?;
    }
    let session = Session::connect(&a.run.connect).await?;
    let names = a.run.topic_names(&mut Rng::new(0));
    let parts = topic_partitions(&session, &names, None, timeout).await?;
    let stop = match (a.run.num_records, a.run.duration) {
        (Some(n), _) => ConsumeStop::Records(n),
        (None, Some(d)) => ConsumeStop::Duration(Duration::from_secs_f64(d)),
        (None, None) => ConsumeStop::EndOffsets,
    };
    let spec = Arc::new(ConsumeSpec {
        parts: parts.clone(),
        consumers: a.consumer.consumers,
        config,
        start_at: if a.group.is_some() {
            StartAt::Committed
        } else {
            StartAt::Beginning
        },
        stop: stop.clone(),
        warmup: a.run.warmup(),
        stamped: false,
        idle: timeout,
        bootstrap: a.run.bootstrap().to_owned(),
        commit: a.group.is_some(),
    });
    let prepared = consume::prepare(&spec, timeout).await?;
    let length = match (&stop, prepared.expected) {
        (ConsumeStop::Records(n), _) => Length::Records(*n),
        (ConsumeStop::Duration(d), _) => Length::Time(*d + a.run.warmup()),
        (_, expected) => Length::Records(expected.unwrap_or(0)),
    };
    let abort = abort_on_ctrl_c();
    let start = Instant::now();
    let run = consume::start(spec, prepared, start, abort);
    let progress = Progress::start(a.run.progress_enabled(), length, run.counter());
    let mut out = run.finish().await;
    Progress::finish(progress);
    let mut r = Report::default();
    describe_topics(&mut r, "consume", &names, parts.len());
    r.int("consumers", a.consumer.consumers as u64);
    out.report(&mut r);
    add_baseline(&mut r, a.run.baseline, out.bytes, &["consume_mb_per_s"]).await?;
    print(&r, a.run.json);
    match out.error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn e2e_tool(a: E2eArgs) -> anyhow::Result<()> {
    a.producer.validate(true)?;
    a.consumer.validate()?;
    let timeout = a.run.timeout();
    let pconfig = a.producer.config(&a.run.connect)?;
    let cconfig = a.consumer.config(&a.run.connect, "latest")?;
    let session = Session::connect(&a.run.connect).await?;
    let mut rng = Rng::from_entropy();
    let names = a.run.topic_names(&mut rng);
    let parts = topic_partitions(&session, &names, Some(a.producer.partitions), timeout).await?;
    let stop = a.run.stop(10.0);
    let produced = Arc::new(ProducedSoFar::default());
    let cspec = Arc::new(ConsumeSpec {
        parts: parts.clone(),
        consumers: a.consumer.consumers,
        config: cconfig,
        start_at: StartAt::End,
        stop: ConsumeStop::Produced(produced.clone()),
        warmup: a.run.warmup(),
        stamped: true,
        idle: timeout,
        bootstrap: a.run.bootstrap().to_owned(),
        commit: false,
    });
    let pspec = Arc::new(ProduceSpec {
        topics: names.clone(),
        payloads: Arc::new(Payloads::new(
            a.producer.message_size,
            a.producer.random_fraction,
            &mut rng,
        )),
        keys: a.producer.keys,
        key_space: a.producer.key_space,
        producers: a.producer.producers,
        rate: a.producer.rate,
        stop,
        warmup: a.run.warmup(),
        stamp: true,
        config: pconfig.clone(),
    });
    let prepared = consume::prepare(&cspec, timeout).await?;
    let producers = produce::connect(&pspec, a.run.bootstrap(), timeout).await?;
    let abort = abort_on_ctrl_c();
    let start = Instant::now();
    let crun = consume::start(cspec, prepared, start, abort.clone());
    let prun = produce::start(pspec, producers, start, abort);
    let progress = Progress::start(
        a.run.progress_enabled(),
        match stop {
            Stop::Records(n) => Length::Records(n),
            Stop::Duration(d) => Length::Time(d + a.run.warmup()),
        },
        prun.counter(),
    );
    let pout = prun.finish(timeout).await;
    let acked = pout.as_ref().map_or(0, |p| p.acked_all);
    produced.total.store(acked, Ordering::SeqCst);
    produced.done.store(true, Ordering::SeqCst);
    let mut cout = crun.finish().await;
    Progress::finish(progress);
    let pout = pout?;
    let mut r = Report::default();
    describe_topics(&mut r, "e2e", &names, parts.len());
    a.producer.describe(&mut r, &pconfig);
    r.int("consumers", a.consumer.consumers as u64);
    pout.report(&mut r);
    cout.report(&mut r);
    let h = &cout.hist;
    let q = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    r.summary(format!(
        "end-to-end latency of {} records: {:.3} ms 50th, {:.3} ms 99th, {:.3} ms 99.9th, \
         {:.3} ms max.",
        h.len(),
        q(0.5),
        q(0.99),
        q(0.999),
        h.max() as f64 / 1000.0
    ));
    r.int("e2e_records", h.len());
    r.latency("e2e_latency", h);
    add_baseline(&mut r, a.run.baseline, pout.bytes, &["produce_mb_per_s"]).await?;
    print(&r, a.run.json);
    pout.check()?;
    match cout.error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
