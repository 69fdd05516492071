//! The controller quorum: cluster metadata ([`image::ClusterImage`]) in a Raft log run by
//! openraft. Voters are named by `--controller-voters id@host:port,...`; a node without
//! voters is a one-voter quorum of itself (no listener, no setup). Brokers that are not
//! voters join as learners, so every node applies the same metadata log locally.
//!
//! Each broker registers at start and heartbeats the active controller (the Raft leader)
//! every `broker.heartbeat.interval.ms`. The active controller fences a broker whose
//! heartbeats stop for `broker.session.timeout.ms` (its partitions get new leaders from
//! their ISR), unfences it when it heartbeats again, and every
//! `leader.imbalance.check.interval.ms` moves leadership back to preferred replicas that
//! are in sync. A broker shutting down stops heartbeating and fences itself first
//! (controlled shutdown: its leaderships move before it stops serving).
//!
//! The controller runs on its own small tokio runtime, so the broker's synchronous
//! handlers can wait for a metadata change ([`Controller::propose_blocking`]).
//!
//! Files, under `<data dir>/__cluster_metadata/`: `raft/` (the log, vote and committed
//! index: [`log_store`]) and `snapshot.json` (the state machine: [`state_machine`]).

pub mod image;
pub mod log_store;
pub mod network;
pub mod state_machine;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ServerState, SnapshotPolicy};

use image::{CommandResult, MetadataCommand};
use network::{Peer, ProposeError, Request, Response};
pub use state_machine::MetadataView;

use std::io::Cursor;

openraft::declare_raft_types!(
    /// The metadata log's types.
    pub TypeConfig:
        D = MetadataCommand,
        R = CommandResult,
);

type Raft = openraft::Raft<TypeConfig>;

/// The directory under the data directory that holds the metadata log.
pub const METADATA_DIR: &str = "__cluster_metadata";

/// How long a proposal may wait for an active controller and its commit.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// Settings of the controller side of a node.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// `node.id`.
    pub node_id: i32,
    /// `controller.quorum.voters`: empty for a one-voter quorum of this node.
    pub voters: Vec<(i32, String)>,
    /// Where this node serves controller RPC when it is not a voter (a learner).
    pub listen: Option<String>,
    /// `broker.heartbeat.interval.ms`. Brook's default is 250 ms (Kafka's 2 s).
    pub heartbeat_interval: Duration,
    /// `broker.session.timeout.ms`. Brook's default is 1.5 s (Kafka's 9 s), which keeps
    /// failover after a crash within about 2 s.
    pub session_timeout: Duration,
    /// Raft's election timeout range (`controller.quorum.election.timeout.ms` is its
    /// lower end). Default 400 to 800 ms.
    pub election_timeout_ms: (u64, u64),
    /// `auto.leader.rebalance.enable`. Default true.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.ms`. Default 300 s, as Kafka.
    pub leader_imbalance_check_interval: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            node_id: 1,
            voters: Vec::new(),
            listen: None,
            heartbeat_interval: Duration::from_millis(250),
            session_timeout: Duration::from_millis(1500),
            election_timeout_ms: (400, 800),
            auto_leader_rebalance: true,
            leader_imbalance_check_interval: Duration::from_secs(300),
        }
    }
}

/// Why the controller could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("controller: {0}")]
    Start(String),
    #[error(transparent)]
    Propose(#[from] ProposeError),
}

/// What the active controller knows of brokers' liveness.
#[derive(Debug, Default)]
struct Sessions {
    last_heartbeat: HashMap<i32, Instant>,
    /// When this controller first saw a broker fenced: a heartbeat after it unfences.
    fenced_seen: HashMap<i32, Instant>,
    /// Brokers being fenced or unfenced right now (one proposal at a time each).
    in_flight: HashMap<i32, Instant>,
}

/// A node's handle on the controller quorum.
pub struct Controller {
    config: ControllerConfig,
    raft: Raft,
    view: Arc<MetadataView>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    sessions: Mutex<Sessions>,
    /// Set at shutdown: heartbeats stop, so the fence is not undone.
    stopping: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("node_id", &self.config.node_id)
            .field("voters", &self.config.voters)
            .finish_non_exhaustive()
    }
}

fn node_of(addr: &str) -> BasicNode {
    BasicNode {
        addr: addr.to_string(),
    }
}

impl Controller {
    /// Opens the metadata log under `data_dir` and starts this node's Raft member (and its
    /// RPC listener when there are voters). Returns before a leader is known.
    pub fn start(
        data_dir: &Path,
        config: ControllerConfig,
    ) -> Result<Arc<Controller>, ControllerError> {
        let dir = data_dir.join(METADATA_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ControllerError::Start(format!("{}: {e}", dir.display())))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("brook-controller")
            .enable_all()
            .build()
            .map_err(|e| ControllerError::Start(format!("starting the runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let (sm, view) =
            state_machine::MetadataStateMachine::open(&dir).map_err(ControllerError::Start)?;
        let log_store = log_store::FileLogStore::<TypeConfig>::open(&dir.join("raft"))
            .map_err(|e| ControllerError::Start(format!("metadata log: {e}")))?;
        let raft_config = openraft::Config {
            cluster_name: "brook".into(),
            heartbeat_interval: 100,
            election_timeout_min: config.election_timeout_ms.0,
            election_timeout_max: config.election_timeout_ms.1,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 100,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ControllerError::Start(format!("raft config: {e}")))?;
        let id = config.node_id as u64;
        let listen = config
            .voters
            .iter()
            .find(|(v, _)| *v == config.node_id)
            .map(|(_, a)| a.clone())
            .or_else(|| config.listen.clone());
        if !config.voters.is_empty() && listen.is_none() {
            return Err(ControllerError::Start(format!(
                "node {} is not a voter: give it a controller listener address",
                config.node_id
            )));
        }
        let voters = config.voters.clone();
        let started = run_blocking(&handle, async move {
            let raft = Raft::new(id, Arc::new(raft_config), network::Network, log_store, sm)
                .await
                .map_err(|e| ControllerError::Start(e.to_string()))?;
            let listener = match &listen {
                Some(addr) => Some(
                    tokio::net::TcpListener::bind(
                        network::resolve(addr).map_err(ControllerError::Start)?,
                    )
                    .await
                    .map_err(|e| {
                        ControllerError::Start(format!("controller listener {addr}: {e}"))
                    })?,
                ),
                None => None,
            };
            if !raft
                .is_initialized()
                .await
                .map_err(|e| ControllerError::Start(e.to_string()))?
            {
                let members: BTreeMap<u64, BasicNode> = if voters.is_empty() {
                    [(id, node_of(""))].into()
                } else {
                    voters
                        .iter()
                        .map(|(v, a)| (*v as u64, node_of(a)))
                        .collect()
                };
                if members.contains_key(&id) {
                    // Every voter initializes with the same members: safe, per openraft.
                    if let Err(e) = raft.initialize(members).await {
                        tracing::debug!(error = %e, "metadata quorum already initialized");
                    }
                }
            }
            Ok::<_, ControllerError>((raft, listener))
        })
        .ok_or_else(|| ControllerError::Start("the controller runtime stopped".into()))??;
        let (raft, listener) = started;
        let controller = Arc::new(Controller {
            config,
            raft,
            view,
            runtime: Mutex::new(Some(runtime)),
            handle: handle.clone(),
            sessions: Mutex::new(Sessions::default()),
            stopping: std::sync::atomic::AtomicBool::new(false),
        });
        if let Some(listener) = listener {
            handle.spawn(network::serve(
                listener,
                Arc::new(RpcHandler(Arc::downgrade(&controller))),
            ));
        }
        handle.spawn(duties(Arc::downgrade(&controller)));
        Ok(controller)
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The applied metadata.
    pub fn view(&self) -> &Arc<MetadataView> {
        &self.view
    }

    /// The runtime the controller (and the replication tasks) run on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// The active controller's node id, if one is known.
    pub fn leader(&self) -> Option<i32> {
        self.raft
            .metrics()
            .borrow()
            .current_leader
            .map(|l| l as i32)
    }

    /// Whether this node is the active controller.
    pub fn is_active(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.config.node_id as u64)
    }

    fn address_of(&self, node: u64) -> Option<String> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config
            .membership()
            .get_node(&node)
            .map(|n| n.addr.clone())
            .filter(|a| !a.is_empty())
    }

    /// Commits `command` through the active controller (forwarding it there) and waits
    /// until this node has applied it.
    pub async fn propose(&self, command: MetadataCommand) -> Result<CommandResult, ProposeError> {
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        let mut last_error = String::from("no active controller");
        loop {
            match self.raft.client_write(command.clone()).await {
                Ok(r) => {
                    self.wait_applied(r.log_id.index, deadline).await?;
                    return Ok(r.data);
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    if let Some(addr) = f.leader_id.and_then(|l| self.address_of(l)) {
                        let mut peer = Peer::new(addr);
                        match peer.call(&Request::Propose(command.clone())).await {
                            Ok(Response::Proposed(Ok((index, result)))) => {
                                self.wait_applied(index, deadline).await?;
                                return Ok(result);
                            }
                            Ok(Response::Proposed(Err(ProposeError::Failed(e)))) => {
                                return Err(ProposeError::Failed(e))
                            }
                            Ok(other) => last_error = format!("unexpected answer {other:?}"),
                            Err(e) => last_error = e.to_string(),
                        }
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(ProposeError::Failed(format!(
                    "the metadata change did not commit within {PROPOSE_TIMEOUT:?}: {last_error}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// [`Controller::propose`] from synchronous code (the broker's handlers, any thread).
    pub fn propose_blocking(
        self: &Arc<Self>,
        command: MetadataCommand,
    ) -> Result<CommandResult, ProposeError> {
        let this = self.clone();
        run_blocking(&self.handle, async move { this.propose(command).await })
            .unwrap_or_else(|| Err(ProposeError::Failed("the controller has stopped".into())))
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), ProposeError> {
        let mut rx = self.view.subscribe();
        let waited = tokio::time::timeout_at(deadline.into(), async {
            rx.wait_for(|applied| *applied >= index).await.is_ok()
        })
        .await;
        match waited {
            Ok(true) => Ok(()),
            _ => Err(ProposeError::Failed(format!(
                "metadata entry {index} was committed but not applied here in time"
            ))),
        }
    }

    /// Waits until this node is registered (and so has caught up with the metadata log
    /// up to its registration).
    pub fn register_blocking(
        self: &Arc<Self>,
        host: &str,
        port: u16,
        rack: Option<String>,
    ) -> Result<(), ProposeError> {
        let command = MetadataCommand::RegisterBroker {
            id: self.config.node_id,
            host: host.to_string(),
            port,
            rack,
        };
        if !self.config.voters.is_empty()
            && !self
                .config
                .voters
                .iter()
                .any(|(v, _)| *v == self.config.node_id)
        {
            let addr = self.config.listen.clone().unwrap_or_default();
            let this = self.clone();
            let id = self.config.node_id;
            let voters = self.config.voters.clone();
            run_blocking(&self.handle, async move {
                add_as_learner(&this, id, &addr, &voters).await;
            });
        }
        match self.propose_blocking(command)? {
            CommandResult::Refused { message, .. } => Err(ProposeError::Failed(message)),
            _ => Ok(()),
        }
    }

    /// Controlled shutdown: stops heartbeating and fences this broker, so its leaderships
    /// move to other in-sync replicas before it stops serving. Waits at most `timeout`.
    pub fn shutdown_broker(self: &Arc<Self>, timeout: Duration) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let others = self
            .view
            .image()
            .live_brokers()
            .any(|b| b.id != self.config.node_id);
        if !others {
            return;
        }
        let id = self.config.node_id;
        let this = self.clone();
        let _ = run_blocking(&self.handle, async move {
            tokio::time::timeout(timeout, this.propose(MetadataCommand::FenceBroker { id })).await
        });
    }

    /// Stops Raft and the controller's tasks.
    pub fn stop(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let Some(rt) = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let raft = self.raft.clone();
        run_blocking(&self.handle, async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), raft.shutdown()).await;
        });
        rt.shutdown_background();
    }

    /// Builds a metadata snapshot now (openraft also does every 1000 entries) and waits
    /// for it, at most `timeout`.
    pub fn snapshot_now(self: &Arc<Self>, timeout: Duration) -> Result<(), String> {
        let raft = self.raft.clone();
        let before = raft.metrics().borrow().snapshot;
        run_blocking(&self.handle, async move {
            raft.trigger().snapshot().await.map_err(|e| e.to_string())?;
            let mut m = raft.metrics();
            tokio::time::timeout(
                timeout,
                m.wait_for(|m| m.snapshot != before && m.snapshot.is_some()),
            )
            .await
            .map_err(|_| "no snapshot in time".to_string())?
            .map_err(|e| e.to_string())?;
            Ok(())
        })
        .unwrap_or_else(|| Err("the controller has stopped".into()))
    }

    /// Records a heartbeat (on the active controller).
    fn heartbeat(&self, broker: i32) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.last_heartbeat.insert(broker, Instant::now());
    }

    /// One round of the active controller's duties: fence silent brokers, unfence ones
    /// heard again.
    ///
    /// A fresh active controller gives every broker a full session from now, except the
    /// node that was the active controller before (`suspect`): it lost the leadership,
    /// most likely by dying, and gets three heartbeat intervals to show it is alive.
    fn check_sessions(self: &Arc<Self>, fresh_leader: bool, suspect: Option<i32>) {
        let image = self.view.image();
        let now = Instant::now();
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if fresh_leader {
            // A new active controller gives every broker a full session from now.
            s.last_heartbeat = image.brokers.keys().map(|id| (*id, now)).collect();
            let grace = self.config.heartbeat_interval * 3;
            if let Some(old) = suspect.filter(|id| *id != self.config.node_id) {
                let at = now
                    .checked_sub(self.config.session_timeout.saturating_sub(grace))
                    .unwrap_or(now);
                s.last_heartbeat.insert(old, at);
            }
            s.fenced_seen.clear();
            s.in_flight.clear();
        }
        // The active controller's own broker is alive by definition: a starved process
        // must not fence itself.
        s.last_heartbeat.insert(self.config.node_id, now);
        s.in_flight
            .retain(|_, at| now.duration_since(*at) < Duration::from_secs(5));
        for b in image.brokers.values() {
            if s.in_flight.contains_key(&b.id) {
                continue;
            }
            let last = *s.last_heartbeat.entry(b.id).or_insert(now);
            let command = if !b.fenced {
                s.fenced_seen.remove(&b.id);
                (now.duration_since(last) > self.config.session_timeout)
                    .then_some(MetadataCommand::FenceBroker { id: b.id })
            } else {
                let seen = *s.fenced_seen.entry(b.id).or_insert(now);
                (last > seen).then_some(MetadataCommand::UnfenceBroker { id: b.id })
            };
            if let Some(command) = command {
                if matches!(command, MetadataCommand::FenceBroker { .. }) {
                    tracing::warn!(
                        broker = b.id,
                        "no heartbeat within the session timeout: fencing"
                    );
                } else {
                    tracing::info!(broker = b.id, "heartbeat from a fenced broker: unfencing");
                }
                s.in_flight.insert(b.id, now);
                let this = self.clone();
                let id = b.id;
                self.handle.spawn(async move {
                    let _ = this.propose(command).await;
                    this.sessions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .in_flight
                        .remove(&id);
                });
            }
        }
    }
}

async fn add_as_learner(this: &Arc<Controller>, id: i32, addr: &str, voters: &[(i32, String)]) {
    let deadline = Instant::now() + PROPOSE_TIMEOUT;
    while Instant::now() < deadline {
        for (_, voter) in voters {
            let mut peer = Peer::new(voter.clone());
            if let Ok(Response::Proposed(Ok(_))) = peer
                .call(&Request::AddLearner {
                    id,
                    addr: addr.to_string(),
                })
                .await
            {
                return;
            }
        }
        if this.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `f` on `handle` and waits for it from any thread (a std channel: no runtime is
/// needed, or entered, on the waiting side).
/// `None` when the runtime has stopped.
fn run_blocking<F>(handle: &tokio::runtime::Handle, f: F) -> Option<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv().ok()
}

/// The background loop of every node: heartbeats to the active controller, and the active
/// controller's own duties.
async fn duties(weak: std::sync::Weak<Controller>) {
    let mut was_active = false;
    // The last active controller seen other than this node.
    let mut last_leader: Option<i32> = None;
    let mut last_heartbeat = Instant::now() - Duration::from_secs(60);
    let mut last_rebalance = Instant::now();
    let mut peer: Option<(u64, Peer)> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Some(this) = weak.upgrade() else { return };
        if this.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let registered = this.view.image().brokers.contains_key(&this.config.node_id);
        if registered && last_heartbeat.elapsed() >= this.config.heartbeat_interval {
            last_heartbeat = Instant::now();
            let id = this.config.node_id;
            let leader = this.raft.metrics().borrow().current_leader;
            match leader {
                Some(l) if l == id as u64 => this.heartbeat(id),
                Some(l) => {
                    if peer.as_ref().is_none_or(|(p, _)| *p != l) {
                        peer = this.address_of(l).map(|a| (l, Peer::new(a)));
                    }
                    if let Some((_, p)) = &mut peer {
                        // Bounded well inside the session: a hung controller must not hold
                        // this broker's heartbeats past a new controller's deadline.
                        let wait = this.config.session_timeout / 3;
                        let sent =
                            tokio::time::timeout(wait, p.call(&Request::Heartbeat { broker: id }))
                                .await;
                        if !matches!(sent, Ok(Ok(_))) {
                            peer = None;
                        }
                    }
                }
                None => {}
            }
        }
        let active = this.is_active();
        let current = this.leader();
        if !active && current.is_some() && current != Some(this.config.node_id) {
            last_leader = current;
        }
        if active {
            this.check_sessions(!was_active, last_leader);
            if !was_active {
                last_rebalance = Instant::now();
            }
            if this.config.auto_leader_rebalance
                && last_rebalance.elapsed() >= this.config.leader_imbalance_check_interval
            {
                last_rebalance = Instant::now();
                if imbalanced(&this.view.image()) {
                    let c = this.clone();
                    this.handle.spawn(async move {
                        let _ = c.propose(MetadataCommand::ElectPreferredLeaders).await;
                    });
                }
            }
        }
        was_active = active;
    }
}

/// Whether some partition's preferred replica is in sync and live but not leading.
fn imbalanced(image: &image::ClusterImage) -> bool {
    image.topics.values().flat_map(|t| &t.partitions).any(|p| {
        p.replicas.first().is_some_and(|&r| {
            r != p.leader && p.isr.contains(&r) && image.brokers.get(&r).is_some_and(|b| !b.fenced)
        })
    })
}

struct RpcHandler(std::sync::Weak<Controller>);

impl network::Handler for RpcHandler {
    async fn handle(&self, request: Request) -> Response {
        let Some(c) = self.0.upgrade() else {
            return Response::Proposed(Err(ProposeError::Failed("stopping".into())));
        };
        match request {
            Request::AppendEntries(r) => Response::AppendEntries(c.raft.append_entries(r).await),
            Request::Vote(r) => Response::Vote(c.raft.vote(r).await),
            Request::InstallSnapshot(r) => {
                Response::InstallSnapshot(c.raft.install_snapshot(r).await)
            }
            Request::Propose(command) => match c.raft.client_write(command).await {
                Ok(r) => Response::Proposed(Ok((r.log_id.index, r.data))),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    Response::Proposed(Err(ProposeError::NotLeader(f.leader_id)))
                }
                Err(e) => Response::Proposed(Err(ProposeError::Failed(e.to_string()))),
            },
            Request::AddLearner { id, addr } => {
                match c.raft.add_learner(id as u64, node_of(&addr), false).await {
                    Ok(r) => Response::Proposed(Ok((r.log_id.index, CommandResult::Ok))),
                    Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                        Response::Proposed(Err(ProposeError::NotLeader(f.leader_id)))
                    }
                    Err(e) => Response::Proposed(Err(ProposeError::Failed(e.to_string()))),
                }
            }
            Request::Heartbeat { broker } => {
                c.heartbeat(broker);
                Response::HeartbeatOk
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, assignment: Vec<Vec<i32>>) -> MetadataCommand {
        MetadataCommand::CreateTopic {
            name: name.into(),
            id: [1; 16],
            configs: BTreeMap::new(),
            assignment,
        }
    }

    #[test]
    fn a_single_voter_commits_alone_and_its_metadata_survives_a_restart_and_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let c = Controller::start(dir.path(), ControllerConfig::default()).unwrap();
        c.register_blocking("localhost", 9092, None).unwrap();
        assert_eq!(
            c.propose_blocking(topic("a", vec![vec![1]])).unwrap(),
            CommandResult::Ok
        );
        let refused = c.propose_blocking(topic("a", vec![vec![1]])).unwrap();
        assert!(matches!(refused, CommandResult::Refused { .. }));
        c.stop();
        // Restart: the log is replayed.
        let c = Controller::start(dir.path(), ControllerConfig::default()).unwrap();
        c.register_blocking("localhost", 9093, None).unwrap();
        let image = c.view().image();
        assert!(image.topics.contains_key("a"));
        assert_eq!(image.brokers[&1].port, 9093);
        assert_eq!(image.brokers[&1].epoch, 1);
        // A snapshot, more changes, restart: snapshot plus the entries after it.
        c.snapshot_now(Duration::from_secs(10)).unwrap();
        assert!(dir.path().join(METADATA_DIR).join("snapshot.json").exists());
        c.propose_blocking(topic("b", vec![vec![1], vec![1]]))
            .unwrap();
        c.stop();
        let c = Controller::start(dir.path(), ControllerConfig::default()).unwrap();
        c.register_blocking("localhost", 9094, None).unwrap();
        let image = c.view().image();
        assert!(image.topics.contains_key("a"));
        assert_eq!(image.topics["b"].partitions.len(), 2);
        assert_eq!(image.brokers[&1].epoch, 2);
        c.stop();
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn three_voters_agree_forward_proposals_and_fence_a_silent_broker() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let voters: Vec<(i32, String)> = (1..=3)
            .map(|id| (id, format!("127.0.0.1:{}", free_port())))
            .collect();
        let controllers: Vec<Arc<Controller>> = std::thread::scope(|s| {
            let handles: Vec<_> = (1..=3)
                .map(|id| {
                    let config = ControllerConfig {
                        node_id: id,
                        voters: voters.clone(),
                        ..ControllerConfig::default()
                    };
                    let dir = dirs[id as usize - 1].path().to_path_buf();
                    s.spawn(move || {
                        let c = Controller::start(&dir, config).unwrap();
                        c.register_blocking("127.0.0.1", 9000 + id as u16, None)
                            .unwrap();
                        c
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // Proposed on a node that is not the active controller: forwarded.
        let follower = controllers.iter().find(|c| !c.is_active()).unwrap().clone();
        follower
            .propose_blocking(topic("t", vec![vec![1, 2, 3]]))
            .unwrap();
        for c in &controllers {
            wait_until("every node to apply the topic", || {
                c.view().image().topics.contains_key("t")
            });
        }
        // The active controller stops: the others elect a new one, fence it, and the
        // partition it led moves to another in-sync replica.
        let active = controllers.iter().position(|c| c.is_active()).unwrap();
        let stopped = controllers[active].node_id();
        controllers[active].stop();
        let rest: Vec<_> = controllers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != active)
            .map(|(_, c)| c.clone())
            .collect();
        wait_until("a new active controller", || {
            rest.iter().any(|c| c.is_active())
        });
        wait_until("the stopped node to be fenced", || {
            rest[0].view().image().brokers[&stopped].fenced
        });
        let p = rest[0].view().image().partition("t", 0).unwrap().clone();
        assert_ne!(p.leader, stopped);
        assert!(!p.isr.contains(&stopped));
        rest[1].propose_blocking(topic("u", vec![vec![1]])).unwrap();
        for c in &rest {
            wait_until("the survivors to apply", || {
                c.view().image().topics.contains_key("u")
            });
            c.stop();
        }
    }
}
