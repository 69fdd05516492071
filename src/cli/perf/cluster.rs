//! `brook perf cluster`: the replication benchmark. It starts a 3-node Brook cluster on
//! loopback itself (three `brook server --no-sql` child processes of this executable, each
//! with its own data directory, free ports, `--node-id` and `--controller-voters`), waits
//! until Metadata lists the three brokers, and runs two phases against it:
//!
//! 1. Throughput: topics `perf-rf1` and `perf-rf3` (`--partitions` each, replication
//!    factor 1 and 3) get the `produce` workload with `acks=all`, in `--slices` turns per
//!    topic in ABBA order (rf1, rf3, rf3, rf1, ...) so that noise on the machine falls on
//!    both. Figures: `rf1_produce_*` and `rf3_produce_*` (msg/s, MB/s, latencies) and
//!    `rf3_vs_rf1` (the ratio of their msg/s), and the loopback baseline.
//! 2. Failover: an idempotent `acks=all` producer sends `--failover-rate` records per
//!    second to `perf-failover` (one partition, replication factor 3), each keyed by its
//!    sequence number. Each of `--failovers` rounds waits until the producer keeps up
//!    (at most a quarter second of records unacknowledged), kills the partition's leader
//!    with SIGKILL (found with Metadata; `failover_killed_controller_<n>` says whether it
//!    was also the active controller, which adds a Raft election and a fresh session
//!    timeout), and measures `failover_ms_<n>` (from the kill to the first acknowledgement
//!    of a record whose intended send time is after the kill),
//!    `metadata_failover_ms_<n>` (from the kill until a surviving broker's Metadata names
//!    another leader) and `failover_max_latency_ms_<n>` (the worst send-to-ack time of the
//!    round's records), then restarts the killed node and waits until it is back in the
//!    ISR (`rejoin_ms_<n>`). At the end the topic is read back and every acknowledged
//!    record must be there (`failover_lost_records: 0`, else the exit code is 1).
//!    `failover_ms_max` and `metadata_failover_ms_max` are the worst rounds. The producer
//!    keeps one request in flight unless `--producer-config` says otherwise: with more, the
//!    batches in flight behind a retried one come back too, and that backlog, not the
//!    failover, would go into the figures.
//!
//! The nodes are killed when the run ends, also on an error or Ctrl-C; their data
//! directories (and `node-<n>.log`, each node's stderr) are removed unless `--keep-data`.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use brook_client::{Admin, AdminConfig, ClientError, Consumer, ConsumerConfig, ErrorCode};
use brook_client::{NewTopic, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
use brook_client::{TcpConfig, TopicMetadata, TopicPartition};
use bytes::Bytes;
use tokio::task::JoinHandle;

use super::baseline::Baseline;
use super::produce::{self, ProduceSpec, Produced};
use super::report::{merge, Report};
use super::workload::{Payloads, Rng};
use super::{add_baseline, nanos, parse_secs, Length, ProducerArgs, Progress, Stop};
use crate::cli::{parse_key_value, ConnectArgs};

/// Nodes of the cluster.
const NODES: usize = 3;
const RF1_TOPIC: &str = "perf-rf1";
const RF3_TOPIC: &str = "perf-rf3";
const FAILOVER_TOPIC: &str = "perf-failover";

#[derive(clap::Args, Debug)]
#[command(mut_arg("partitions", |a| a.default_value("3")))]
pub struct ClusterArgs {
    /// Where the nodes' data directories and logs go: a new `brook-perf-cluster-*`
    /// directory in DIR (default: the system's temporary directory), removed at the end.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the nodes' data directories and logs (`node-<n>.log`) at the end.
    #[arg(long)]
    pub keep_data: bool,
    /// A broker setting every node gets (`brook server --set KEY=VALUE`), with Kafka's
    /// name, e.g. `broker.session.timeout.ms=1500`. May be repeated.
    #[arg(long = "broker-config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub broker_config: Vec<(String, String)>,
    /// How long to wait for the cluster to start, for a new leader after a kill, for a
    /// restarted node to rejoin the ISR and for each request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// Throughput phase: measure each topic this long (default 10 s).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, conflicts_with = "num_records")]
    pub duration: Option<f64>,
    /// Throughput phase: measure this many records per topic.
    #[arg(long, value_name = "N")]
    pub num_records: Option<u64>,
    /// Throughput phase: produce to each topic this long first without measuring.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value_t = 0.0)]
    pub warmup: f64,
    /// Throughput phase: measure each topic in this many turns, the topics alternating
    /// (rf1, rf3, rf3, rf1, ...).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub slices: u32,
    /// Skip the throughput phase.
    #[arg(long)]
    pub no_throughput: bool,
    /// Failover phase: how many times the leader is killed (0 skips the phase).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub failovers: u32,
    /// Failover phase: records per second (idempotent, acks=all) to `perf-failover`. Its
    /// producer has one request in flight unless `--producer-config
    /// max.in.flight.requests.per.connection=N` says otherwise.
    #[arg(long, value_name = "MSG/S", default_value_t = 2000.0)]
    pub failover_rate: f64,
    /// Failover phase: seconds of producing before each kill.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value_t = 1.0)]
    pub failover_lead: f64,
    /// Failover phase: seconds of producing after the first acknowledgement after a kill,
    /// before the killed node is restarted.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value_t = 1.0)]
    pub failover_tail: f64,
    /// Show a progress bar and the steps on stderr (default: when stdout is a terminal).
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
    #[command(flatten)]
    pub producer: ProducerArgs,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl ClusterArgs {
    fn validate(&self) -> anyhow::Result<()> {
        self.producer.validate(false)?;
        if !self.failover_rate.is_finite() || !(1.0..=1e6).contains(&self.failover_rate) {
            bail!("--failover-rate must be between 1 and 1000000 records per second");
        }
        if self.no_throughput && self.failovers == 0 {
            bail!("nothing to run: --no-throughput and --failovers 0");
        }
        Ok(())
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }

    fn progress_enabled(&self) -> bool {
        use std::io::IsTerminal;
        self.progress
            || (!self.no_progress
                && std::io::stdout().is_terminal()
                && std::io::stderr().is_terminal())
    }

    fn step(&self, what: impl std::fmt::Display) {
        if self.progress_enabled() {
            eprintln!("perf cluster: {what}");
        }
    }

    /// The producer settings: `defaults` (and `acks=all`) first, so that
    /// `--producer-config` may change them, and `forced` last.
    fn producer_config(
        &self,
        bootstrap: &str,
        defaults: &[(&str, &str)],
        forced: &[(&str, &str)],
    ) -> anyhow::Result<ProducerConfig> {
        let mut p = self.producer.clone();
        let first = [("acks", "all")].iter().chain(defaults);
        p.producer_config
            .splice(0..0, first.map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        p.producer_config.extend(
            forced
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        p.config(&ConnectArgs {
            bootstrap_server: bootstrap.to_owned(),
            timeout: self.timeout,
        })
    }
}

const IN_FLIGHT: &str = "max.in.flight.requests.per.connection";

/// `<prefix>_idempotence` and `<prefix>_max_in_flight`: what the producer will do (after
/// `acks` and the other settings had their say).
fn describe_more(r: &mut Report, prefix: &str, config: &ProducerConfig) -> anyhow::Result<()> {
    let effective = config
        .clone()
        .validated()
        .map_err(|e| anyhow!("--producer-config: {e}"))?;
    r.text(
        &format!("{prefix}_idempotence"),
        effective.enable_idempotence.to_string(),
    );
    r.int(
        &format!("{prefix}_max_in_flight"),
        u64::from(effective.max_in_flight_requests_per_connection),
    );
    Ok(())
}

/// One node's addresses and files.
struct NodeSpec {
    id: i32,
    kafka: String,
    controller: String,
    dir: PathBuf,
    log: PathBuf,
}

type Children = Arc<Mutex<Vec<Option<Child>>>>;

/// Three `brook server` processes, killed (and their directory removed) on drop.
struct LocalCluster {
    nodes: Vec<NodeSpec>,
    children: Children,
    exe: PathBuf,
    voters: String,
    settings: Vec<(String, String)>,
    dir: PathBuf,
    keep: bool,
}

impl LocalCluster {
    /// Picks the ports and makes the directory; starts nothing.
    fn new(
        base: &Path,
        settings: Vec<(String, String)>,
        keep: bool,
    ) -> anyhow::Result<LocalCluster> {
        let exe = std::env::current_exe().context("finding the brook executable")?;
        let dir = base.join(format!(
            "brook-perf-cluster-{}-{:08x}",
            std::process::id(),
            Rng::from_entropy().next_u64() as u32
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut cluster = LocalCluster {
            nodes: Vec::new(),
            children: Arc::new(Mutex::new((0..NODES).map(|_| None).collect())),
            exe,
            voters: String::new(),
            settings,
            dir,
            keep,
        };
        // Bound together so that they differ; released just before the nodes bind them.
        let listeners = (0..2 * NODES)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .context("finding free loopback ports")?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<Vec<_>, _>>()
            .context("finding free loopback ports")?;
        drop(listeners);
        cluster.nodes = (0..NODES)
            .map(|i| NodeSpec {
                id: i as i32 + 1,
                kafka: format!("127.0.0.1:{}", ports[i]),
                controller: format!("127.0.0.1:{}", ports[NODES + i]),
                dir: cluster.dir.join(format!("node-{}", i + 1)),
                log: cluster.dir.join(format!("node-{}.log", i + 1)),
            })
            .collect();
        cluster.voters = cluster
            .nodes
            .iter()
            .map(|n| format!("{}@{}", n.id, n.controller))
            .collect::<Vec<_>>()
            .join(",");
        Ok(cluster)
    }

    fn index(&self, id: i32) -> anyhow::Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .ok_or_else(|| anyhow!("the cluster has no node {id}"))
    }

    /// Every node's Kafka listener, `host:port,...`.
    fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.kafka.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts node `i` (again), its stderr appended to its log.
    fn spawn(&self, i: usize) -> anyhow::Result<()> {
        let n = &self.nodes[i];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .with_context(|| format!("opening {}", n.log.display()))?;
        let mut cmd = Command::new(&self.exe);
        cmd.args(["server", "--no-sql", "--data-dir"])
            .arg(&n.dir)
            .args(["--listen", &n.kafka])
            .args(["--node-id", &n.id.to_string()])
            .args(["--controller-voters", &self.voters]);
        for (k, v) in &self.settings {
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
        // Its own process group: a Ctrl-C at the terminal reaches only this tool, which
        // then kills the nodes itself.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting node {} ({})", n.id, self.exe.display()))?;
        lock(&self.children)[i] = Some(child);
        Ok(())
    }

    /// `kill -9` of node `id`, waiting until it is gone.
    fn kill(&self, id: i32) -> anyhow::Result<()> {
        let i = self.index(id)?;
        let Some(mut child) = lock(&self.children)[i].take() else {
            bail!("node {id} is not running");
        };
        child.kill().with_context(|| format!("killing node {id}"))?;
        let _ = child.wait();
        Ok(())
    }

    /// An error naming a node that exited by itself, with the end of its log.
    fn check(&self) -> anyhow::Result<()> {
        let mut children = lock(&self.children);
        for (i, slot) in children.iter_mut().enumerate() {
            let exited = match slot.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(e)) => Some(e.to_string()),
                _ => None,
            };
            if let Some(status) = exited {
                *slot = None;
                bail!(
                    "node {} exited ({status}); the end of its log{}:\n{}",
                    self.nodes[i].id,
                    self.log_name(i),
                    self.log_tail(i)
                );
            }
        }
        Ok(())
    }

    /// ` PATH` when the logs are kept.
    fn log_name(&self, i: usize) -> String {
        if self.keep {
            format!(" {}", self.nodes[i].log.display())
        } else {
            String::new()
        }
    }

    /// The last lines of node `i`'s log.
    fn log_tail(&self, i: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.nodes[i].log) {
            let len = f.metadata().map_or(0, |m| m.len());
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let lines: Vec<&str> = text.lines().collect();
        // A node that failed to start ends with `Error: ...` and maybe a backtrace.
        if let Some(e) = lines.iter().rposition(|l| l.starts_with("Error: ")) {
            let rest = &lines[e..];
            let end = rest
                .iter()
                .position(|l| l.trim() == "Stack backtrace:")
                .unwrap_or(rest.len());
            return rest[..end.min(12)].join("\n").trim_end().to_owned();
        }
        lines[lines.len().saturating_sub(12)..].join("\n")
    }

    fn logs_tails(&self) -> String {
        (0..NODES)
            .map(|i| {
                format!(
                    "node {}{}:\n{}",
                    self.nodes[i].id,
                    self.log_name(i),
                    self.log_tail(i)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first Ctrl-C ends the run early (the nodes are killed and the figures so far
    /// printed); a second one kills the nodes and exits at once.
    fn abort_on_ctrl_c(&self) -> Arc<AtomicBool> {
        let abort = Arc::new(AtomicBool::new(false));
        let flag = abort.clone();
        let children = self.children.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: finishing (Ctrl-C again to quit at once)");
                flag.store(true, Ordering::Relaxed);
                if tokio::signal::ctrl_c().await.is_ok() {
                    kill_all(&children);
                    std::process::exit(130);
                }
            }
        });
        abort
    }
}

fn kill_all(children: &Children) {
    for child in lock(children).iter_mut().filter_map(Option::take) {
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        kill_all(&self.children);
        if self.keep {
            eprintln!(
                "perf cluster: the nodes' data and logs are in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn admin_config(timeout: Duration) -> AdminConfig {
    AdminConfig {
        tcp: TcpConfig {
            client_id: Some("brook-perf".into()),
            request_timeout: timeout.min(Duration::from_secs(10)),
            connect_timeout: Duration::from_secs(2),
            ..TcpConfig::default()
        },
        operation_timeout: timeout,
        ..AdminConfig::default()
    }
}

async fn connect_admin(bootstrap: &str, timeout: Duration) -> Result<Admin, String> {
    match tokio::time::timeout(timeout, Admin::connect(bootstrap, admin_config(timeout))).await {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// The metadata of one topic, or why there is none.
async fn describe(admin: &Admin, topic: &str) -> Result<TopicMetadata, String> {
    let found = admin
        .describe_topics(&[topic])
        .await
        .map_err(|e| e.to_string())?;
    match found.get(topic) {
        Some(Ok(t)) => Ok(t.clone()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!("no answer for topic `{topic}`")),
    }
}

/// Connects to the cluster once Metadata lists `brokers` brokers.
async fn wait_for_brokers(
    cluster: &LocalCluster,
    brokers: usize,
    timeout: Duration,
) -> anyhow::Result<Admin> {
    let deadline = Instant::now() + timeout;
    let bootstrap = cluster.bootstrap();
    loop {
        cluster.check()?;
        let last = match connect_admin(&bootstrap, Duration::from_secs(5)).await {
            Ok(admin) => match admin.describe_cluster().await {
                Ok(d) if d.brokers.len() >= brokers => return Ok(admin),
                Ok(d) => format!("Metadata lists {} of {brokers} brokers", d.brokers.len()),
                Err(e) => e.to_string(),
            },
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            bail!(
                "the cluster was not up within {timeout:?}: {last}; the ends of the logs:\n{}",
                cluster.logs_tails()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates `topic` (an existing one is fine) and waits until every partition has a leader
/// and `isr` replicas in sync.
async fn create_topic(
    cluster: &LocalCluster,
    admin: &Admin,
    topic: &str,
    partitions: i32,
    rf: i16,
    timeout: Duration,
) -> anyhow::Result<TopicMetadata> {
    let created = admin
        .create_topics(&[NewTopic::new(topic, partitions, rf)], false)
        .await
        .map_err(|e| anyhow!("creating topic `{topic}`: {e}"))?;
    match created.get(topic) {
        Some(Ok(_)) => {}
        Some(Err(e)) if e.code == ErrorCode::TOPIC_ALREADY_EXISTS => {}
        Some(Err(e)) => bail!("cannot create topic `{topic}`: {e}"),
        None => bail!("cannot create topic `{topic}`: the broker did not answer for it"),
    }
    wait_in_sync(cluster, admin, topic, rf as usize, None, timeout).await
}

/// Waits until every partition of `topic` has a leader and `isr` replicas in sync
/// (including `member`, if given).
async fn wait_in_sync(
    cluster: &LocalCluster,
    admin: &Admin,
    topic: &str,
    isr: usize,
    member: Option<i32>,
    timeout: Duration,
) -> anyhow::Result<TopicMetadata> {
    let deadline = Instant::now() + timeout;
    loop {
        cluster.check()?;
        let last = match describe(admin, topic).await {
            Ok(t) => {
                let ready = !t.partitions.is_empty()
                    && t.partitions.iter().all(|p| {
                        p.leader.is_some()
                            && p.isr.len() >= isr
                            && member.is_none_or(|m| p.isr.contains(&m))
                    });
                if ready {
                    return Ok(t);
                }
                let state: Vec<String> = t
                    .partitions
                    .iter()
                    .map(|p| format!("{}: leader {:?} isr {:?}", p.partition, p.leader, p.isr))
                    .collect();
                state.join("; ")
            }
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            bail!(
                "topic `{topic}` was not in sync ({isr} replicas{}) within {timeout:?}: {last}",
                member.map_or(String::new(), |m| format!(", with node {m}"))
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn cluster_tool(a: ClusterArgs) -> anyhow::Result<()> {
    a.validate()?;
    let timeout = a.timeout();
    let base = a.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    let cluster = LocalCluster::new(&base, a.broker_config.clone(), a.keep_data)?;
    let abort = cluster.abort_on_ctrl_c();
    a.step(format!(
        "starting {NODES} nodes in {} ({})",
        cluster.dir.display(),
        cluster.bootstrap()
    ));
    let t0 = Instant::now();
    for i in 0..NODES {
        cluster.spawn(i)?;
    }
    let admin = wait_for_brokers(&cluster, NODES, timeout).await?;
    let mut r = Report::default();
    r.text("workload", "cluster");
    r.int("brokers", NODES as u64);
    r.float("cluster_start_s", t0.elapsed().as_secs_f64(), 3);
    let mut problems = Vec::new();
    if !a.no_throughput && !abort.load(Ordering::Relaxed) {
        if let Err(e) = throughput(&a, &cluster, &admin, &abort, &mut r).await {
            problems.push(e);
        }
    }
    if a.failovers > 0 && problems.is_empty() && !abort.load(Ordering::Relaxed) {
        if let Err(e) = failover(&a, &cluster, &admin, &abort, &mut r).await {
            problems.push(e);
        }
    }
    drop(admin);
    drop(cluster);
    super::print(&r, a.json);
    match problems.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Adds `b` into `a` (slices of one topic).
fn add(a: &mut Produced, b: Produced) {
    a.records += b.records;
    a.bytes += b.bytes;
    a.seconds += b.seconds;
    merge(&mut a.hist, &b.hist);
    a.acked_all += b.acked_all;
    a.failed += b.failed;
    if a.first_error.is_none() {
        a.first_error = b.first_error;
    }
    if a.close_error.is_none() {
        a.close_error = b.close_error;
    }
}

/// Phase 1: acks=all throughput with replication factor 1 and 3, in turns.
async fn throughput(
    a: &ClusterArgs,
    cluster: &LocalCluster,
    admin: &Admin,
    abort: &Arc<AtomicBool>,
    r: &mut Report,
) -> anyhow::Result<()> {
    let timeout = a.timeout();
    let bootstrap = cluster.bootstrap();
    let partitions = a.producer.partitions;
    a.step(format!(
        "throughput: topics {RF1_TOPIC} and {RF3_TOPIC}, {partitions} partitions each"
    ));
    create_topic(cluster, admin, RF1_TOPIC, partitions, 1, timeout).await?;
    create_topic(cluster, admin, RF3_TOPIC, partitions, 3, timeout).await?;
    let config = a.producer_config(&bootstrap, &[], &[])?;
    r.text("topics", format!("{RF1_TOPIC},{RF3_TOPIC}"));
    r.int("partitions", partitions as u64);
    a.producer.describe(r, &config);
    describe_more(r, "producer", &config)?;
    let mut rng = Rng::from_entropy();
    let payloads = Arc::new(Payloads::new(
        a.producer.message_size,
        a.producer.random_fraction,
        &mut rng,
    ));
    let slices = u64::from(a.slices);
    let mut totals: BTreeMap<&str, Produced> = BTreeMap::new();
    'slices: for i in 0..slices {
        let order = if i % 2 == 0 {
            [RF1_TOPIC, RF3_TOPIC]
        } else {
            [RF3_TOPIC, RF1_TOPIC]
        };
        for topic in order {
            if abort.load(Ordering::Relaxed) {
                break 'slices;
            }
            let stop = match (a.num_records, a.duration) {
                (Some(n), _) => Stop::Records(n * (i + 1) / slices - n * i / slices),
                (None, d) => {
                    Stop::Duration(Duration::from_secs_f64(d.unwrap_or(10.0) / slices as f64))
                }
            };
            if matches!(stop, Stop::Records(0)) {
                continue;
            }
            let warmup = if i == 0 {
                Duration::from_secs_f64(a.warmup)
            } else {
                Duration::ZERO
            };
            a.step(format!("throughput: {topic}, turn {} of {slices}", i + 1));
            let spec = Arc::new(ProduceSpec {
                topics: vec![topic.to_owned()],
                payloads: payloads.clone(),
                keys: a.producer.keys,
                key_space: a.producer.key_space,
                producers: a.producer.producers,
                rate: a.producer.rate,
                stop,
                warmup,
                stamp: false,
                config: config.clone(),
            });
            let producers = produce::connect(&spec, &bootstrap, timeout).await?;
            let run = produce::start(spec, producers, Instant::now(), abort.clone());
            let progress = Progress::start(
                a.progress_enabled(),
                match stop {
                    Stop::Records(n) => Length::Records(n),
                    Stop::Duration(d) => Length::Time(d + warmup),
                },
                run.counter(),
            );
            let out = run.finish(timeout).await;
            Progress::finish(progress);
            let out = out?;
            match totals.get_mut(topic) {
                Some(t) => add(t, out),
                None => {
                    totals.insert(topic, out);
                }
            }
        }
    }
    let mut problem = None;
    let mut volume = 0u64;
    let mut rates = Vec::new();
    for (prefix, topic) in [("rf1", RF1_TOPIC), ("rf3", RF3_TOPIC)] {
        let Some(out) = totals.remove(topic) else {
            continue;
        };
        let mut one = Report::default();
        out.report(&mut one);
        rates.push(one.get("produce_msgs_per_s").unwrap_or(0.0));
        r.append_prefixed(prefix, one);
        volume = volume.max(out.bytes);
        if let Err(e) = out.check() {
            problem.get_or_insert(e.context(format!("producing to {topic}")));
        }
    }
    if let [rf1, rf3] = rates[..] {
        let ratio = if rf1 > 0.0 { rf3 / rf1 } else { 0.0 };
        r.summary(format!(
            "replication factor 3 vs 1 (acks=all): {ratio:.3}x the records per second."
        ));
        r.float("rf3_vs_rf1", ratio, 3);
    }
    add_baseline(
        r,
        a.baseline,
        volume,
        &["rf1_produce_mb_per_s", "rf3_produce_mb_per_s"],
    )
    .await?;
    match problem {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What the failover producer's callbacks record.
#[derive(Default)]
struct AckLog {
    /// (sequence number, intended send time, ack time) of each acknowledged record, ns.
    acked: Mutex<Vec<(u64, u64, u64)>>,
    /// Records handed to the producer, and acknowledged.
    sent: AtomicU64,
    acked_count: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// The last kill (ns from the start; `u64::MAX` before the first).
    kill_ns: AtomicU64,
    /// The first acknowledgement of a record meant to be sent after the last kill.
    first_after_ns: AtomicU64,
}

impl AckLog {
    fn on_ack(
        &self,
        start: Instant,
        seq: u64,
        intended_ns: u64,
        r: Result<RecordMetadata, ClientError>,
    ) {
        let now = nanos(start, Instant::now());
        match r {
            Ok(_) => {
                if intended_ns >= self.kill_ns.load(Ordering::SeqCst) {
                    self.first_after_ns.fetch_min(now, Ordering::SeqCst);
                }
                lock(&self.acked).push((seq, intended_ns, now));
                self.acked_count.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                lock(&self.first_error).get_or_insert(e.to_string());
            }
        }
    }
}

/// Sends a record with key = its sequence number (8 bytes, big-endian) every `1 / rate`
/// seconds from `start` until `stop`, on an OS thread (precise sleeps).
fn drive(
    producer: Arc<Producer>,
    log: Arc<AckLog>,
    payloads: Arc<Payloads>,
    rate: f64,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let mut k = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let scheduled = start + Duration::from_secs_f64(k as f64 / rate);
            let now = Instant::now();
            if scheduled > now {
                std::thread::sleep(scheduled - now);
            }
            let intended_ns = nanos(start, scheduled);
            let record = ProducerRecord::new(FAILOVER_TOPIC, payloads.get(k))
                .with_key(Bytes::copy_from_slice(&k.to_be_bytes()));
            let l = log.clone();
            producer.send_with_callback(record, move |r| l.on_ack(start, k, intended_ns, r));
            k += 1;
            log.sent.store(k, Ordering::SeqCst);
        }
    })
}

/// One kill and what followed.
struct Round {
    killed: i32,
    was_controller: bool,
    new_leader: i32,
    metadata_ms: f64,
    failover_ms: f64,
    rejoin_ms: f64,
    /// Records meant to be sent from..to (ns from the start) belong to the round.
    from_ns: u64,
    to_ns: u64,
}

/// Phase 2: kill -9 of the leader under a steady idempotent acks=all load.
async fn failover(
    a: &ClusterArgs,
    cluster: &LocalCluster,
    admin: &Admin,
    abort: &Arc<AtomicBool>,
    r: &mut Report,
) -> anyhow::Result<()> {
    let timeout = a.timeout();
    let bootstrap = cluster.bootstrap();
    a.step(format!(
        "failover: topic {FAILOVER_TOPIC} (1 partition, replication factor 3) at {} msg/s",
        a.failover_rate
    ));
    create_topic(cluster, admin, FAILOVER_TOPIC, 1, 3, timeout).await?;
    let config = a.producer_config(
        &bootstrap,
        &[(IN_FLIGHT, "1")],
        &[("acks", "all"), ("enable.idempotence", "true")],
    )?;
    describe_more(r, "failover_producer", &config)?;
    let producer = match tokio::time::timeout(timeout, Producer::connect(config)).await {
        Ok(Ok(p)) => Arc::new(p),
        Ok(Err(e)) => bail!("connecting the failover producer: {e}"),
        Err(_) => bail!("connecting the failover producer: no answer within {timeout:?}"),
    };
    producer
        .cluster()
        .topic(FAILOVER_TOPIC)
        .await
        .map_err(|e| anyhow!("the failover producer's metadata: {e}"))?;
    let payloads = Arc::new(Payloads::new(
        a.producer.message_size,
        a.producer.random_fraction,
        &mut Rng::from_entropy(),
    ));
    let log = Arc::new(AckLog {
        kill_ns: AtomicU64::new(u64::MAX),
        first_after_ns: AtomicU64::new(u64::MAX),
        ..AckLog::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let driver = drive(
        producer.clone(),
        log.clone(),
        payloads,
        a.failover_rate,
        start,
        stop.clone(),
    );
    let mut rounds = Vec::new();
    let mut result = Ok(());
    for n in 1..=a.failovers {
        if abort.load(Ordering::Relaxed) {
            break;
        }
        match kill_round(a, cluster, &log, start, n).await {
            Ok(round) => rounds.push(round),
            Err(e) => {
                result = Err(e.context(format!("failover {n}")));
                break;
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let _ = driver.await;
    let closed = tokio::time::timeout(timeout, producer.flush()).await;
    let close = producer.close(timeout).await;
    result?;
    if closed.is_err() {
        bail!("the failover producer did not flush within {timeout:?}");
    }
    close.map_err(|e| anyhow!("closing the failover producer: {e}"))?;

    a.step("failover: reading the topic back");
    let consumed = read_back(&bootstrap, timeout).await?;
    let acked = std::mem::take(&mut *lock(&log.acked));
    let sent = log.sent.load(Ordering::SeqCst);
    let mut seen = vec![0u32; sent as usize];
    let mut unknown = 0u64;
    for seq in &consumed {
        match seen.get_mut(*seq as usize) {
            Some(c) => *c += 1,
            None => unknown += 1,
        }
    }
    let lost = acked
        .iter()
        .filter(|(s, _, _)| seen[*s as usize] == 0)
        .count() as u64;
    let duplicates: u64 = seen.iter().map(|c| u64::from(c.saturating_sub(1))).sum();
    let failed = log.failed.load(Ordering::Relaxed);

    r.text("failover_topic", FAILOVER_TOPIC);
    r.float("failover_rate", a.failover_rate, 0);
    r.int("failover_rounds", rounds.len() as u64);
    for (i, round) in rounds.iter().enumerate() {
        let n = i + 1;
        let max_latency = acked
            .iter()
            .filter(|(_, t, _)| (round.from_ns..round.to_ns).contains(t))
            .map(|(_, t, ack)| ack.saturating_sub(*t))
            .max()
            .unwrap_or(0);
        r.int(&format!("failover_killed_node_{n}"), round.killed as u64);
        r.int(
            &format!("failover_killed_controller_{n}"),
            u64::from(round.was_controller),
        );
        r.int(&format!("failover_new_leader_{n}"), round.new_leader as u64);
        r.float(&format!("metadata_failover_ms_{n}"), round.metadata_ms, 1);
        r.float(&format!("failover_ms_{n}"), round.failover_ms, 1);
        r.float(
            &format!("failover_max_latency_ms_{n}"),
            max_latency as f64 / 1e6,
            1,
        );
        r.float(&format!("rejoin_ms_{n}"), round.rejoin_ms, 1);
    }
    let max = |f: fn(&Round) -> f64| rounds.iter().map(f).fold(0.0, f64::max);
    let (fo_max, md_max) = (max(|r| r.failover_ms), max(|r| r.metadata_ms));
    r.float("failover_ms_max", fo_max, 1);
    r.float("metadata_failover_ms_max", md_max, 1);
    r.int("failover_sent_records", sent);
    r.int("failover_acked_records", acked.len() as u64);
    r.int("failover_failed_records", failed);
    r.int("failover_consumed_records", consumed.len() as u64);
    r.int("failover_lost_records", lost);
    r.int("failover_duplicate_records", duplicates);
    let each: Vec<String> = rounds
        .iter()
        .map(|r| format!("{:.0} ms (node {})", r.failover_ms, r.killed))
        .collect();
    r.summary(format!(
        "failover after kill -9 of the leader: {} (max {fo_max:.0} ms; metadata max \
         {md_max:.0} ms); {lost} of {} acknowledged records lost, {duplicates} duplicated.",
        each.join(", "),
        acked.len()
    ));
    if lost > 0 {
        bail!("{lost} acknowledged record(s) of {FAILOVER_TOPIC} were lost");
    }
    if unknown > 0 {
        bail!("{unknown} record(s) of {FAILOVER_TOPIC} were never sent");
    }
    if failed > 0 {
        bail!(
            "{failed} record(s) of {FAILOVER_TOPIC} were not written; the first error: {}",
            lock(&log.first_error).as_deref().unwrap_or("unknown")
        );
    }
    Ok(())
}

/// Round `n`: waits until the partition is fully in sync and acknowledgements flow, kills
/// the leader, measures, restarts it and waits until it is back in the ISR.
async fn kill_round(
    a: &ClusterArgs,
    cluster: &LocalCluster,
    log: &AckLog,
    start: Instant,
    n: u32,
) -> anyhow::Result<Round> {
    let timeout = a.timeout();
    let from_ns = nanos(start, Instant::now());
    let admin = wait_for_brokers(cluster, NODES, timeout).await?;
    wait_in_sync(cluster, &admin, FAILOVER_TOPIC, NODES, None, timeout).await?;
    // An admin client per node, connected before the kill.
    let mut admins = Vec::new();
    for node in &cluster.nodes {
        let one = connect_admin(&node.kafka, timeout)
            .await
            .map_err(|e| anyhow!("connecting to node {}: {e}", node.id))?;
        admins.push((node.id, one));
    }
    tokio::time::sleep(Duration::from_secs_f64(a.failover_lead)).await;
    // Only a producer that keeps up measures the failover alone, not a backlog: wait until
    // at most a quarter of a second's records are unacknowledged.
    let deadline = Instant::now() + timeout;
    let slack = (a.failover_rate / 4.0).max(10.0) as u64;
    loop {
        let sent = log.sent.load(Ordering::SeqCst);
        let done = log.acked_count.load(Ordering::SeqCst) + log.failed.load(Ordering::SeqCst);
        if sent.saturating_sub(done) <= slack {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "{} records were still unacknowledged {timeout:?} into the round: the cluster \
                 does not keep up with --failover-rate {}",
                sent.saturating_sub(done),
                a.failover_rate
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = describe(&admin, FAILOVER_TOPIC)
        .await
        .map_err(|e| anyhow!("describing {FAILOVER_TOPIC}: {e}"))?;
    let killed = t
        .partition(0)
        .and_then(|p| p.leader)
        .ok_or_else(|| anyhow!("{FAILOVER_TOPIC} has no leader"))?;
    let controller = admin
        .describe_cluster()
        .await
        .ok()
        .and_then(|d| d.controller_id);
    drop(admin);
    a.step(format!(
        "failover {n}: kill -9 of node {killed}, the leader{}",
        if controller == Some(killed) {
            " and the active controller"
        } else {
            ""
        }
    ));
    log.first_after_ns.store(u64::MAX, Ordering::SeqCst);
    let t_kill = Instant::now();
    let kill_ns = nanos(start, t_kill);
    log.kill_ns.store(kill_ns, Ordering::SeqCst);
    cluster.kill(killed)?;

    let survivors: Vec<&Admin> = admins
        .iter()
        .filter(|(id, _)| *id != killed)
        .map(|(_, a)| a)
        .collect();
    let new_leader = async {
        loop {
            for s in &survivors {
                if let Ok(t) = describe(s, FAILOVER_TOPIC).await {
                    if let Some(l) = t.partition(0).and_then(|p| p.leader) {
                        if l != killed {
                            return Ok((l, t_kill.elapsed()));
                        }
                    }
                }
            }
            if t_kill.elapsed() >= timeout {
                return Err(anyhow!(
                    "Metadata named no new leader within {timeout:?} of the kill"
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let first_ack = async {
        loop {
            let first = log.first_after_ns.load(Ordering::SeqCst);
            if first != u64::MAX {
                return Ok(first);
            }
            if t_kill.elapsed() >= timeout {
                return Err(anyhow!(
                    "no record was acknowledged within {timeout:?} of the kill"
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let (leader, first) = tokio::join!(new_leader, first_ack);
    let (new_leader, metadata) = leader?;
    let first = first?;
    let failover_ms = first.saturating_sub(kill_ns) as f64 / 1e6;
    a.step(format!(
        "failover {n}: node {new_leader} leads after {:.0} ms (Metadata), the first record \
         acknowledged after {failover_ms:.0} ms",
        ms(metadata)
    ));
    tokio::time::sleep(Duration::from_secs_f64(a.failover_tail)).await;
    let to_ns = nanos(start, Instant::now());

    let t_restart = Instant::now();
    cluster.spawn(cluster.index(killed)?)?;
    let admin = wait_for_brokers(cluster, NODES, timeout).await?;
    wait_in_sync(
        cluster,
        &admin,
        FAILOVER_TOPIC,
        NODES,
        Some(killed),
        timeout,
    )
    .await?;
    let rejoin = t_restart.elapsed();
    a.step(format!(
        "failover {n}: node {killed} is back in the ISR {:.0} ms after its restart",
        ms(rejoin)
    ));
    Ok(Round {
        killed,
        was_controller: controller == Some(killed),
        new_leader,
        metadata_ms: ms(metadata),
        failover_ms,
        rejoin_ms: ms(rejoin),
        from_ns,
        to_ns,
    })
}

/// The sequence numbers (keys) of every record of the failover topic, in offset order.
async fn read_back(bootstrap: &str, timeout: Duration) -> anyhow::Result<Vec<u64>> {
    let mut config = ConsumerConfig::new(bootstrap.to_owned());
    for (k, v) in [
        ("client.id", "brook-perf"),
        ("auto.offset.reset", "earliest"),
    ] {
        config.set(k, v).map_err(|e| anyhow!("{e}"))?;
    }
    let mut c = match tokio::time::timeout(timeout, Consumer::connect(config)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => bail!("connecting the consumer: {e}"),
        Err(_) => bail!("connecting the consumer: no answer within {timeout:?}"),
    };
    let tp = TopicPartition::new(FAILOVER_TOPIC, 0);
    c.assign(std::slice::from_ref(&tp));
    c.seek_to_beginning(std::slice::from_ref(&tp))
        .map_err(|e| anyhow!("{e}"))?;
    let end = c
        .end_offsets(std::slice::from_ref(&tp))
        .await
        .map_err(|e| anyhow!("the end offset of {tp}: {e}"))?
        .get(&tp)
        .copied()
        .unwrap_or(0);
    let mut seqs = Vec::with_capacity(usize::try_from(end).unwrap_or(0));
    let mut last_progress = Instant::now();
    while c.position(&tp).await.map_err(|e| anyhow!("{e}"))? < end {
        let records = c
            .poll(Duration::from_millis(100))
            .await
            .map_err(|e| anyhow!("reading {tp}: {e}"))?;
        if records.is_empty() {
            if last_progress.elapsed() > timeout {
                bail!(
                    "reading {tp}: no records for {timeout:?} after {} of {end}",
                    seqs.len()
                );
            }
            continue;
        }
        last_progress = Instant::now();
        for rec in records.iter().filter(|r| r.offset < end) {
            let key = rec.key.as_deref().unwrap_or_default();
            let seq = <[u8; 8]>::try_from(key).map_or(u64::MAX, u64::from_be_bytes);
            seqs.push(seq);
        }
    }
    Ok(seqs)
}
