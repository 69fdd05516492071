//! Helpers for the cluster tests (`tests/cluster.rs`, real `brook server` processes, and
//! `tests/cluster_in_process.rs`, brokers in the test's process):
//!
//! - [`ProcCluster`]: three `brook server --node-id N --controller-voters ...` processes on
//!   ports picked for the test, each with its own data directory under one temporary
//!   directory. Nodes are killed (`kill -9`), stopped with SIGTERM (controlled shutdown),
//!   paused and resumed (SIGSTOP / SIGCONT) and restarted on the same ports and data. Every
//!   process is killed when the cluster is dropped, also when a test panics.
//! - Metadata as one chosen node answers it, and polling with deadlines ([`wait_for`]).
//! - [`Stream`]: a producer task that sends numbered records at a pace and writes down
//!   the outcome of every send; [`check_stream`] checks the log against it.
//! - Reading partition logs from the data directories ([`read_partition_dir`]) to compare
//!   replicas record by record and byte by byte.

#![allow(dead_code)] // each test file uses a different part

#[path = "../server_support/mod.rs"]
mod server_support;
pub use server_support::{listener_addr, strip_ansi, tail};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use brook_broker::log::{Log, LogConfig};
use brook_client::{
    Admin, AdminConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerConfig,
    ProducerRecord, RecordMetadata, TcpConfig, TopicMetadata, TopicPartition,
};
use brook_protocol::record::{BatchHeader, RecordBatch};
use bytes::Bytes;
use tokio::runtime::Runtime;

/// The tests of one binary run one at a time: three brokers each on a 2-core machine are
/// enough, and their timings (session timeouts, lag times) must not depend on what the
/// other tests do.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A multi-threaded runtime for the clients.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `n` ports that were free a moment ago (bound together, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Polls `f` every 50 ms until it returns `Ok`, at most `timeout`; panics with `what` and
/// the last error.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => {
                panic!("{what}: not within {timeout:?}; last: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// [`wait_for`] that returns the last error instead of panicking.
pub fn try_wait_for<T>(
    timeout: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Processes.

/// One node of a [`ProcCluster`].
struct NodeProc {
    id: i32,
    data: PathBuf,
    kafka_port: u16,
    child: Option<Child>,
    paused: bool,
    /// Every line the node logged, over all its runs, prefixed with the run.
    log: Arc<Mutex<Vec<String>>>,
    /// The listener lines of the current run.
    ready: Option<mpsc::Receiver<String>>,
    runs: usize,
}

/// Three `brook server` processes forming one cluster; killed on drop.
pub struct ProcCluster {
    /// Holds every node's data directory; removed on drop, after the processes are gone.
    dir: tempfile::TempDir,
    nodes: Vec<NodeProc>,
    voters: String,
    settings: Vec<String>,
}

impl ProcCluster {
    /// Starts nodes 1 to 3 at once (each waits for the quorum) with `settings` (`key=value`,
    /// each passed as `--set`), and waits until each serves Kafka (registered with the
    /// quorum). Ports that turn out to be taken are picked again.
    pub fn start(settings: &[&str]) -> ProcCluster {
        let mut dir = tempfile::tempdir().unwrap();
        let mut last_error = String::new();
        for attempt in 0..3 {
            let ports = free_ports(6);
            let voters = (0..3)
                .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[3 + i]))
                .collect::<Vec<_>>()
                .join(",");
            let nodes = (0..3)
                .map(|i| NodeProc {
                    id: i as i32 + 1,
                    data: dir.path().join(format!("attempt{attempt}-n{}", i + 1)),
                    kafka_port: ports[i],
                    child: None,
                    paused: false,
                    log: Arc::new(Mutex::new(Vec::new())),
                    ready: None,
                    runs: 0,
                })
                .collect();
            let mut cluster = ProcCluster {
                dir,
                nodes,
                voters,
                settings: settings.iter().map(|s| s.to_string()).collect(),
            };
            for id in 1..=3 {
                cluster.spawn(id);
            }
            let started = Instant::now();
            let mut failed = None;
            for id in 1..=3 {
                if let Err(e) = cluster.wait_ready(id, Duration::from_secs(60)) {
                    failed = Some(e);
                    break;
                }
            }
            match failed {
                None => {
                    cluster.wait_brokers_known();
                    eprintln!(
                        "cluster of 3 up in {:?}: {}",
                        started.elapsed(),
                        cluster.bootstrap()
                    );
                    return cluster;
                }
                Some(e) => {
                    let in_use = e.contains("in use");
                    last_error = e;
                    for id in 1..=3 {
                        cluster.kill(id);
                    }
                    for n in &cluster.nodes {
                        let _ = std::fs::remove_dir_all(&n.data);
                    }
                    if !in_use {
                        break;
                    }
                    dir = std::mem::replace(&mut cluster.dir, tempfile::tempdir().unwrap());
                }
            }
        }
        panic!("the cluster did not start: {last_error}");
    }

    /// Waits until every node's Metadata lists all three brokers and names an active
    /// controller among them. (A node serves once its own registration is applied; the
    /// others' may come later, and meanwhile its Metadata names a controller it does not
    /// list, which Brook's admin client cannot reach.)
    fn wait_brokers_known(&self) {
        let rt = runtime();
        for id in self.ids() {
            wait_for(
                Duration::from_secs(20),
                &format!("node {id} knowing every broker"),
                || {
                    let m = rt.block_on(async {
                        let admin = Admin::connect(&self.addr(id), admin_config())
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok::<_, String>(admin.metadata())
                    })?;
                    let known: Vec<i32> = m.brokers.keys().copied().collect();
                    match m.controller_id {
                        Some(c) if known.len() == 3 && known.contains(&c) => Ok(()),
                        c => Err(format!("brokers {known:?}, controller {c:?}")),
                    }
                },
            );
        }
    }

    fn node(&self, id: i32) -> &NodeProc {
        &self.nodes[(id - 1) as usize]
    }

    fn node_mut(&mut self, id: i32) -> &mut NodeProc {
        &mut self.nodes[(id - 1) as usize]
    }

    pub fn ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    fn spawn(&mut self, id: i32) {
        let voters = self.voters.clone();
        let settings = self.settings.clone();
        let node = self.node_mut(id);
        assert!(node.child.is_none(), "node {id} is already running");
        std::fs::create_dir_all(&node.data).unwrap();
        node.runs += 1;
        let run = node.runs;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_brook"));
        cmd.args(["server", "--no-sql"])
            .arg("--data-dir")
            .arg(&node.data)
            .args(["--listen", &format!("127.0.0.1:{}", node.kafka_port)])
            .args(["--node-id", &id.to_string()])
            .args(["--controller-voters", &voters]);
        for s in &settings {
            cmd.args(["--set", s]);
        }
        let mut child = cmd
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning brook server");
        let stderr = child.stderr.take().expect("the server's stderr");
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&node.log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let line = strip_ansi(&line);
                if listener_addr(&line).is_some() {
                    let _ = tx.send(line.clone());
                }
                lines.lock().unwrap().push(format!("[run {run}] {line}"));
            }
        });
        node.child = Some(child);
        node.paused = false;
        node.ready = Some(rx);
    }

    /// Waits for the `kafka_listener=` line of the node's current run.
    fn wait_ready(&mut self, id: i32, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let node = self.node_mut(id);
            let rx = node.ready.as_ref().expect("a spawned node");
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(_) => return Ok(()),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Some(status) = node.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                        // Let the reader thread take the last lines.
                        std::thread::sleep(Duration::from_millis(100));
                        return Err(format!(
                            "node {id} exited with {status} before serving; its log:\n{}",
                            self.log_tail(id, 30)
                        ));
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "node {id} did not serve within {timeout:?}; its log:\n{}",
                        self.log_tail(id, 30)
                    ))
                }
            }
        }
    }

    /// The node's Kafka address.
    pub fn addr(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.node(id).kafka_port)
    }

    /// Every node's Kafka address, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.ids()
            .iter()
            .map(|id| self.addr(*id))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn data_dir(&self, id: i32) -> PathBuf {
        self.node(id).data.clone()
    }

    /// Running and not paused.
    pub fn is_up(&self, id: i32) -> bool {
        let n = self.node(id);
        n.child.is_some() && !n.paused
    }

    pub fn up_ids(&self) -> Vec<i32> {
        self.ids()
            .into_iter()
            .filter(|id| self.is_up(*id))
            .collect()
    }

    pub fn pid(&self, id: i32) -> u32 {
        self.node(id)
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("node {id} is not running"))
            .id()
    }

    /// SIGKILL, as in a crash (nothing if the node is not running).
    pub fn kill(&mut self, id: i32) {
        let node = self.node_mut(id);
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    /// SIGTERM (controlled shutdown), then waits for the exit, at most 30 s.
    pub fn terminate(&mut self, id: i32) -> ExitStatus {
        signal(self.pid(id), "-TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let node = self.node_mut(id);
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                node.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                let log = self.log_tail(id, 40);
                self.kill(id);
                panic!("node {id} did not exit within 30 s of SIGTERM; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a node that was sent a signal by someone else to exit, at most 30 s.
    pub fn terminate_wait(&mut self, id: i32) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let node = self.node_mut(id);
            if let Some(status) = node.child.as_mut()?.try_wait().unwrap() {
                node.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGSTOP: the process stops dead (no heartbeats, no fetches) with its sockets open.
    pub fn pause(&mut self, id: i32) {
        signal(self.pid(id), "-STOP");
        self.node_mut(id).paused = true;
    }

    /// SIGCONT.
    pub fn resume(&mut self, id: i32) {
        signal(self.pid(id), "-CONT");
        self.node_mut(id).paused = false;
    }

    /// Starts a stopped node again on its ports and data directory, and waits until it
    /// serves (registered again).
    pub fn restart(&mut self, id: i32) {
        self.spawn(id);
        if let Err(e) = self.wait_ready(id, Duration::from_secs(60)) {
            panic!("restarting: {e}\n--- all logs:\n{}", self.logs(20));
        }
    }

    /// The last `n` lines node `id` logged.
    pub fn log_tail(&self, id: i32, n: usize) -> String {
        tail(&self.node(id).log.lock().unwrap().join("\n"), n)
    }

    /// The last `n` lines of every node.
    pub fn logs(&self, n: usize) -> String {
        self.ids()
            .iter()
            .map(|id| format!("--- node {id}:\n{}", self.log_tail(*id, n)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The lines of node `id` (all runs) that contain `needle`.
    pub fn log_lines(&self, id: i32, needle: &str) -> Vec<String> {
        self.node(id)
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }

    /// Panics or errors from any node's log (`panicked at`), for the final checks.
    pub fn panics(&self) -> Vec<String> {
        self.ids()
            .iter()
            .flat_map(|id| {
                self.log_lines(*id, "panicked")
                    .into_iter()
                    .map(move |l| format!("node {id}: {l}"))
            })
            .collect()
    }

    // -- Client views --------------------------------------------------------------------

    /// `topic` as node `id` describes it (its applied metadata).
    pub fn topic_on(&self, rt: &Runtime, id: i32, topic: &str) -> Result<TopicMetadata, String> {
        topic_metadata(rt, &self.addr(id), topic)
    }

    /// `topic` as the first node that is up describes it.
    pub fn topic(&self, rt: &Runtime, topic: &str) -> Result<TopicMetadata, String> {
        let mut last = String::from("no node is up");
        for id in self.up_ids() {
            match self.topic_on(rt, id, topic) {
                Ok(t) => return Ok(t),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Creates `topic` and waits until every node that is up describes each partition
    /// with a leader and its whole replica set in sync.
    pub fn create_topic(&self, rt: &Runtime, topic: NewTopic) -> TopicMetadata {
        let name = topic.name.clone();
        let replicas = topic.replication_factor as usize;
        let bootstrap = self.bootstrap();
        rt.block_on(async {
            let admin = Admin::connect(&bootstrap, admin_config()).await.unwrap();
            let created = admin.create_topics(&[topic], false).await.unwrap();
            assert!(created[&name].is_ok(), "creating {name}: {created:?}");
        });
        let mut t = None;
        for id in self.up_ids() {
            t = Some(wait_for(
                Duration::from_secs(20),
                &format!("{name} fully replicated on node {id}"),
                || {
                    let t = self.topic_on(rt, id, &name)?;
                    fully_in_sync(&t, replicas)?;
                    Ok(t)
                },
            ));
        }
        t.unwrap()
    }

    /// Waits until every node that is up describes every partition of `topic` with a
    /// leader and all `replicas` in the ISR.
    pub fn wait_in_sync(&self, rt: &Runtime, topic: &str, replicas: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for id in self.up_ids() {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = try_wait_for(left, || {
                fully_in_sync(&self.topic_on(rt, id, topic)?, replicas)
            });
            if let Err(e) = r {
                panic!(
                    "{topic} not fully in sync on node {id} within {timeout:?}: {e}\n{}",
                    self.logs(25)
                );
            }
        }
    }

    /// Kills every node and reads each replica of `topic`'s partitions from the data
    /// directories: `[partition][node index]`.
    pub fn stop_and_read(&mut self, topic: &str, partitions: i32) -> Vec<Vec<StoredLog>> {
        for id in self.ids() {
            self.kill(id);
        }
        (0..partitions)
            .map(|p| {
                self.ids()
                    .iter()
                    .map(|id| read_partition_dir(&self.data_dir(*id).join(format!("{topic}-{p}"))))
                    .collect()
            })
            .collect()
    }
}

impl Drop for ProcCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut child) = n.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {sig} {pid}: {status}");
}

/// Every partition has a leader and `replicas` replicas, all in sync.
pub fn fully_in_sync(t: &TopicMetadata, replicas: usize) -> Result<(), String> {
    for p in &t.partitions {
        let mut isr = p.isr.clone();
        isr.sort();
        let mut all = p.replicas.clone();
        all.sort();
        if p.leader.is_none() || all.len() != replicas || isr != all {
            return Err(format!(
                "{}-{}: leader {:?}, replicas {:?}, isr {:?}",
                t.name, p.partition, p.leader, p.replicas, p.isr
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Clients.

/// Short timeouts: a paused node must not hold a helper up for 30 s.
pub fn admin_config() -> AdminConfig {
    AdminConfig {
        tcp: TcpConfig {
            request_timeout: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(2),
            ..TcpConfig::default()
        },
        ..AdminConfig::default()
    }
}

/// `topic` as the broker at `addr` describes it.
pub fn topic_metadata(rt: &Runtime, addr: &str, topic: &str) -> Result<TopicMetadata, String> {
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(6), async {
            let admin = Admin::connect(addr, admin_config())
                .await
                .map_err(|e| format!("connecting to {addr}: {e}"))?;
            let r = admin
                .cluster()
                .fetch_metadata(Some(&[topic]))
                .await
                .map_err(|e| format!("metadata from {addr}: {e}"))?;
            if let Some(e) = r.errors.get(topic) {
                return Err(format!("{topic} from {addr}: {e}"));
            }
            r.metadata
                .topics
                .get(topic)
                .cloned()
                .ok_or_else(|| format!("{addr} does not know {topic}"))
        })
        .await
        .unwrap_or_else(|_| Err(format!("metadata from {addr} timed out")))
    })
}

/// A producer configuration with `acks=all`, unlimited retries, small batches (many in
/// flight) and the given idempotence; `extra` overrides.
pub fn producer_config(
    bootstrap: &str,
    idempotent: bool,
    extra: &[(&str, &str)],
) -> ProducerConfig {
    let mut config = ProducerConfig::default();
    let base: &[(&str, &str)] = &[
        ("bootstrap.servers", bootstrap),
        ("client.id", "cluster-test"),
        ("acks", "all"),
        ("retries", "2147483647"),
        ("delivery.timeout.ms", "120000"),
        ("request.timeout.ms", "5000"),
        ("retry.backoff.ms", "50"),
        ("retry.backoff.max.ms", "500"),
        ("batch.size", "2048"),
        ("linger.ms", "2"),
    ];
    for (k, v) in base {
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    let idem = idempotent.to_string();
    let in_flight = if idempotent { "5" } else { "1" };
    for (k, v) in [
        ("enable.idempotence", idem.as_str()),
        // A non-idempotent producer keeps its order only with one request in flight.
        ("max.in.flight.requests.per.connection", in_flight),
    ] {
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    for (k, v) in extra {
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    config
}

/// One record a [`Stream`] sent: value `v-<seq>` to partition `seq % partitions`.
#[derive(Debug, Clone)]
pub struct Sent {
    pub seq: usize,
    pub partition: i32,
    pub sent_at: Instant,
    /// `None` until the send completed.
    pub outcome: Option<Result<RecordMetadata, String>>,
    pub done_at: Option<Instant>,
}

impl Sent {
    pub fn acked(&self) -> Option<&RecordMetadata> {
        self.outcome.as_ref().and_then(|o| o.as_ref().ok())
    }
}

pub fn value_of(seq: usize) -> String {
    format!("v-{seq}")
}

/// The seq of a value `v-<seq>`.
pub fn seq_of(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value)
        .ok()?
        .strip_prefix("v-")?
        .parse()
        .ok()
}

#[derive(Debug, Default)]
struct StreamState {
    stop: AtomicBool,
    records: Mutex<Vec<Sent>>,
    acked: AtomicUsize,
    completed: AtomicUsize,
}

/// A producer sending `v-0`, `v-1`, ... round-robin over the partitions of a topic, one
/// record per `every`, until [`finish`](Stream::finish).
pub struct Stream {
    producer: Arc<Producer>,
    state: Arc<StreamState>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Stream {
    pub fn start(
        rt: &Runtime,
        config: ProducerConfig,
        topic: &str,
        partitions: i32,
        every: Duration,
    ) -> Stream {
        Stream::start_bursts(rt, config, topic, partitions, every, 1)
    }

    /// [`start`](Self::start), `per_tick` records at a time.
    pub fn start_bursts(
        rt: &Runtime,
        config: ProducerConfig,
        topic: &str,
        partitions: i32,
        every: Duration,
        per_tick: usize,
    ) -> Stream {
        let producer = Arc::new(rt.block_on(Producer::connect(config)).unwrap());
        let state = Arc::new(StreamState::default());
        let task = {
            let (producer, state, topic) = (producer.clone(), state.clone(), topic.to_owned());
            rt.spawn(async move {
                let mut seq = 0usize;
                while !state.stop.load(Ordering::SeqCst) {
                    let partition = (seq % partitions as usize) as i32;
                    state.records.lock().unwrap().push(Sent {
                        seq,
                        partition,
                        sent_at: Instant::now(),
                        outcome: None,
                        done_at: None,
                    });
                    let record: ProducerRecord =
                        ProducerRecord::new(topic.clone(), value_of(seq).into())
                            .with_key(format!("k-{seq}").into())
                            .with_partition(partition);
                    let st = state.clone();
                    producer.send_with_callback(record, move |r| {
                        if r.is_ok() {
                            st.acked.fetch_add(1, Ordering::SeqCst);
                        }
                        {
                            let mut records = st.records.lock().unwrap();
                            let s = &mut records[seq];
                            s.outcome = Some(r.map_err(|e| e.to_string()));
                            s.done_at = Some(Instant::now());
                        }
                        st.completed.fetch_add(1, Ordering::SeqCst);
                    });
                    seq += 1;
                    if seq.is_multiple_of(per_tick) {
                        tokio::time::sleep(every).await;
                    }
                }
            })
        };
        Stream {
            producer,
            state,
            task: Some(task),
        }
    }

    pub fn acked(&self) -> usize {
        self.state.acked.load(Ordering::SeqCst)
    }

    pub fn sent(&self) -> usize {
        self.state.records.lock().unwrap().len()
    }

    /// A copy of the records sent so far, with the outcomes known so far.
    pub fn snapshot(&self) -> Vec<Sent> {
        self.state.records.lock().unwrap().clone()
    }

    /// How many records sent after `since` are acknowledged.
    pub fn acked_since(&self, since: Instant) -> usize {
        self.state
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.sent_at > since && s.acked().is_some())
            .count()
    }

    /// Waits until `n` records sent after `since` are acknowledged; panics after `timeout`
    /// with `context()`.
    pub fn wait_acked_since(
        &self,
        since: Instant,
        n: usize,
        timeout: Duration,
        context: impl Fn() -> String,
    ) {
        let deadline = Instant::now() + timeout;
        while self.acked_since(since) < n {
            if Instant::now() >= deadline {
                let errors: Vec<String> = self
                    .snapshot()
                    .iter()
                    .filter_map(|s| s.outcome.as_ref()?.as_ref().err().cloned())
                    .take(5)
                    .collect();
                panic!(
                    "only {} of {n} records sent since the mark acknowledged within {timeout:?} \
                     ({} sent, {} acked in all; first errors: {errors:?})\n{}",
                    self.acked_since(since),
                    self.sent(),
                    self.acked(),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops sending, waits until every send completed (at most `timeout`), closes the
    /// producer and returns every record with its outcome.
    pub fn finish(
        mut self,
        rt: &Runtime,
        timeout: Duration,
        context: impl Fn() -> String,
    ) -> Vec<Sent> {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            rt.block_on(task).unwrap();
        }
        let total = self.sent();
        let deadline = Instant::now() + timeout;
        while self.state.completed.load(Ordering::SeqCst) < total {
            if Instant::now() >= deadline {
                panic!(
                    "{} of {total} sends completed within {timeout:?} ({} acked)\n{}",
                    self.state.completed.load(Ordering::SeqCst),
                    self.acked(),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = rt.block_on(self.producer.close(Duration::from_secs(10)));
        self.snapshot()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The records of `topic` read with Brook's consumer from each partition's start to its
/// end offset (the high watermark, looked up first): `partition -> [(offset, value)]`.
pub fn read_all(
    rt: &Runtime,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, Vec<(i64, Option<Bytes>)>> {
    rt.block_on(async {
        let mut config = ConsumerConfig::new(bootstrap);
        config.set("auto.offset.reset", "earliest").unwrap();
        config.set("request.timeout.ms", "10000").unwrap();
        let mut consumer = Consumer::connect(config).await.unwrap();
        let tps: Vec<TopicPartition> = (0..partitions)
            .map(|p| TopicPartition::new(topic, p))
            .collect();
        let ends = consumer.end_offsets(&tps).await.unwrap();
        consumer.assign(&tps);
        let mut next: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
        let mut out: BTreeMap<i32, Vec<(i64, Option<Bytes>)>> =
            (0..partitions).map(|p| (p, Vec::new())).collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while tps.iter().any(|tp| next[&tp.partition] < ends[tp]) {
            assert!(
                Instant::now() < deadline,
                "the consumer read up to {next:?}, not to the ends {ends:?}, within 30 s"
            );
            for r in consumer.poll(Duration::from_millis(300)).await.unwrap() {
                assert_eq!(
                    r.offset, next[&r.partition],
                    "the consumer skipped or repeated offsets of partition {}",
                    r.partition
                );
                next.insert(r.partition, r.offset + 1);
                out.get_mut(&r.partition).unwrap().push((r.offset, r.value));
            }
        }
        out
    })
}

/// Everything wrong with a partitioned log (`partition -> [(offset, value)]`) as the
/// records of a [`Stream`] say it should be:
///
/// - sends that failed;
/// - values never sent, or in another partition than they were sent to;
/// - acknowledged records missing, or not at the offset they were acknowledged at;
/// - records more than once (unless `duplicates_allowed`: a non-idempotent producer's
///   retries), and records out of send order within a partition (the first copy of each).
pub fn check_stream(
    sent: &[Sent],
    log: &BTreeMap<i32, Vec<(i64, Option<Bytes>)>>,
    duplicates_allowed: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut errors: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for s in sent {
        match &s.outcome {
            Some(Err(e)) => errors.entry(e.as_str()).or_default().push(s.seq),
            None => errors.entry("never completed").or_default().push(s.seq),
            Some(Ok(_)) => {}
        }
    }
    for (e, seqs) in &errors {
        problems.push(format!(
            "{} sends failed with `{e}`: records {}",
            seqs.len(),
            ranges(seqs)
        ));
    }
    let mut at: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut copies: BTreeMap<usize, Vec<(i32, i64)>> = BTreeMap::new();
    for (p, records) in log {
        let mut seen_in_partition = BTreeSet::new();
        let mut last_first_copy: Option<(usize, i64)> = None;
        let mut out_of_order = Vec::new();
        for (offset, value) in records {
            let seq = value
                .as_deref()
                .and_then(seq_of)
                .filter(|&s| s < sent.len());
            let Some(seq) = seq else {
                problems.push(format!(
                    "{p}@{offset} holds {value:?}, which was never sent"
                ));
                continue;
            };
            if sent[seq].partition != *p {
                problems.push(format!(
                    "v-{seq} is in partition {p} at {offset}, sent to {}",
                    sent[seq].partition
                ));
            }
            at.insert((*p, *offset), seq);
            copies.entry(seq).or_default().push((*p, *offset));
            if seen_in_partition.insert(seq) {
                if let Some((prev, prev_offset)) = last_first_copy {
                    if seq < prev {
                        out_of_order.push(format!(
                            "v-{seq} at {offset} after v-{prev} at {prev_offset}"
                        ));
                    }
                }
                last_first_copy = Some((seq, *offset));
            }
        }
        if !out_of_order.is_empty() {
            problems.push(format!(
                "partition {p} is out of send order in {} places: {}",
                out_of_order.len(),
                first(&out_of_order, 10)
            ));
        }
    }
    let duplicated: Vec<String> = copies
        .iter()
        .filter(|(_, c)| c.len() > 1)
        .map(|(seq, c)| format!("v-{seq} at {c:?}"))
        .collect();
    if !duplicated.is_empty() {
        if duplicates_allowed {
            eprintln!(
                "{} records are in the log more than once (allowed for this producer): {}",
                duplicated.len(),
                first(&duplicated, 10)
            );
        } else {
            problems.push(format!(
                "{} records are in the log more than once: {}",
                duplicated.len(),
                first(&duplicated, 10)
            ));
        }
    }
    let mut lost = Vec::new();
    let mut misplaced = Vec::new();
    for s in sent {
        let Some(md) = s.acked() else { continue };
        if !copies.contains_key(&s.seq) {
            lost.push(s.seq);
            continue;
        }
        if at.get(&(md.partition, md.offset)) != Some(&s.seq) {
            misplaced.push(format!(
                "v-{} acknowledged at {}@{}, which holds {}",
                s.seq,
                md.partition,
                md.offset,
                at.get(&(md.partition, md.offset))
                    .map_or("nothing".to_owned(), |q| format!("v-{q}"))
            ));
        }
    }
    if !lost.is_empty() {
        problems.push(format!(
            "{} acknowledged records are not in the log (LOST): {}",
            lost.len(),
            ranges(&lost)
        ));
    }
    if !misplaced.is_empty() {
        problems.push(format!(
            "{} acknowledged records are not at their acknowledged offsets: {}",
            misplaced.len(),
            first(&misplaced, 10)
        ));
    }
    problems
}

/// `0-3, 7, 9-12`.
pub fn ranges(seqs: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seqs.len() {
        let mut j = i;
        while j + 1 < seqs.len() && seqs[j + 1] == seqs[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            seqs[i].to_string()
        } else {
            format!("{}-{}", seqs[i], seqs[j])
        });
        i = j + 1;
    }
    first(&out, 30)
}

pub fn first(items: &[String], n: usize) -> String {
    let mut s = items[..items.len().min(n)].join(", ");
    if items.len() > n {
        s.push_str(&format!(", ... ({} more)", items.len() - n));
    }
    s
}

// ---------------------------------------------------------------------------------------
// Logs on disk.

/// One record of a replica's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: i64,
    pub leader_epoch: i32,
    pub producer_id: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// A replica's log: its records, and its batches as stored (bytes).
#[derive(Debug, Clone, Default)]
pub struct StoredLog {
    pub records: Vec<StoredRecord>,
    pub batches: Vec<Bytes>,
    pub log_end_offset: i64,
    /// Set when the log could not be read.
    pub error: Option<String>,
}

/// The records and batches of an open log.
pub fn read_log(log: &Log) -> StoredLog {
    let mut out = StoredLog {
        log_end_offset: log.log_end_offset(),
        ..StoredLog::default()
    };
    for b in log.batches() {
        let b = match b {
            Ok(b) => b,
            Err(e) => {
                out.error = Some(format!("reading {}: {e}", log.dir().display()));
                break;
            }
        };
        match RecordBatch::decode(&b, 64 << 20) {
            Ok(batch) => {
                let h: BatchHeader = batch.header;
                for r in &batch.records {
                    out.records.push(StoredRecord {
                        offset: r.offset(h.base_offset),
                        leader_epoch: h.partition_leader_epoch,
                        producer_id: h.producer_id,
                        key: r.key.clone(),
                        value: r.value.clone(),
                    });
                }
            }
            Err(e) => {
                out.error = Some(format!("decoding a batch of {}: {e}", log.dir().display()));
                break;
            }
        }
        out.batches.push(b);
    }
    out
}

/// Opens the partition directory of a stopped broker and reads it.
pub fn read_partition_dir(dir: &Path) -> StoredLog {
    if !dir.exists() {
        return StoredLog {
            error: Some(format!("{} does not exist", dir.display())),
            ..StoredLog::default()
        };
    }
    match Log::open(dir, LogConfig::default()) {
        Ok(log) => {
            let out = read_log(&log);
            let _ = log.close();
            out
        }
        Err(e) => StoredLog {
            error: Some(format!("opening {}: {e}", dir.display())),
            ..StoredLog::default()
        },
    }
}

/// Everything that differs between the replicas of one partition (`replicas[i]` is node
/// `i + 1`'s), the first one taken as the reference: records (offset, epoch, producer,
/// key, value), then batch bytes.
pub fn compare_replicas(name: &str, replicas: &[StoredLog]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        if let Some(e) = &r.error {
            problems.push(format!("{name}: node {}: {e}", i + 1));
        }
    }
    let reference = &replicas[0];
    for (i, r) in replicas.iter().enumerate().skip(1) {
        if r.records != reference.records {
            let at = r
                .records
                .iter()
                .zip(&reference.records)
                .position(|(a, b)| a != b)
                .unwrap_or(r.records.len().min(reference.records.len()));
            problems.push(format!(
                "{name}: node {} has {} records (LEO {}), node 1 has {} (LEO {}); first \
                 difference at record #{at}: node {}: {:?} vs node 1: {:?}",
                i + 1,
                r.records.len(),
                r.log_end_offset,
                reference.records.len(),
                reference.log_end_offset,
                i + 1,
                r.records.get(at),
                reference.records.get(at)
            ));
        } else if r.batches != reference.batches {
            let at = r
                .batches
                .iter()
                .zip(&reference.batches)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            problems.push(format!(
                "{name}: node {} and node 1 hold the same records but batch #{at} differs in \
                 its bytes ({} vs {} bytes)",
                i + 1,
                r.batches.get(at).map_or(0, |b| b.len()),
                reference.batches.get(at).map_or(0, |b| b.len())
            ));
        }
    }
    problems
}

/// A small deterministic generator (SplitMix64) for the fault schedule.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}
