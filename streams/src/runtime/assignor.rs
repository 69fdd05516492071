//! [`StreamsAssignor`]: the partition assignor of a streams application's group
//! (protocol name `stream`, eager rebalancing).
//!
//! Each member (a stream thread) subscribes with user data naming its instance's process
//! id, the tasks it ran before the rebalance and the tasks whose state directories (with a
//! checkpoint) its instance has. The leader turns the topology and the topics' partition
//! counts into tasks: for each sub-topology, partitions `0..n` of its source topics, which
//! must all have `n` partitions, as must the topics of each co-partition group (a mismatch
//! is logged and gives every member an empty assignment). Tasks are then balanced over the
//! members, no member holding more than one task more than another; a stateful task stays
//! with its previous owner, or else goes to a member of an instance that has its state,
//! when that keeps the balance; a stateless one stays with its previous owner likewise;
//! the rest go to the least loaded members. A member gets every source partition of its
//! tasks.
//!
//! For interactive queries, a subscription also carries the instance's
//! `application.server`, and every member's assignment carries the whole group's map:
//! each host (of members that have one) with its tasks and their source partitions, and
//! the partition count of every source topic. Each member reads it in
//! [`PartitionAssignor::on_assignment`] into the instance's
//! [`TaskRegistry`](super::query::TaskRegistry), where
//! [`KafkaStreams::query_metadata_for_key`](super::KafkaStreams::query_metadata_for_key)
//! finds it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use brook_client::consumer::assignor::{Assignment, Member, PartitionAssignor};
use brook_client::TopicPartition;
use serde_json::{json, Value};

use super::query::{HostInfo, HostTasks, TaskRegistry};
use crate::topology::Topology;
use crate::TaskId;

/// What the assignor needs of the topology (resolved topic names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssignorTopology {
    pub subs: Vec<SubInfo>,
    /// Groups of topics that must have the same partition count.
    pub copartition: Vec<Vec<String>>,
}

/// One sub-topology as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubInfo {
    pub id: u32,
    /// Its source topics, resolved.
    pub topics: Vec<String>,
    /// Whether it has stores (its tasks are sticky to their state).
    pub stateful: bool,
}

impl AssignorTopology {
    pub fn new(topology: &Topology, app: &str) -> AssignorTopology {
        let subs = topology
            .sub_topologies()
            .into_iter()
            .map(|s| SubInfo {
                id: s.id,
                topics: s
                    .source_topics
                    .iter()
                    .map(|t| topology.resolve_topic(t, app))
                    .collect(),
                stateful: !s.stores.is_empty(),
            })
            .collect();
        let copartition = topology
            .copartition_groups()
            .iter()
            .map(|g| g.iter().map(|t| topology.resolve_topic(t, app)).collect())
            .collect();
        AssignorTopology { subs, copartition }
    }

    /// The sub-topology reading each (resolved) topic.
    pub fn topic_subs(&self) -> HashMap<String, u32> {
        self.subs
            .iter()
            .flat_map(|s| s.topics.iter().map(move |t| (t.clone(), s.id)))
            .collect()
    }

    /// Every source topic, resolved, sorted.
    pub fn topics(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.subs.iter().flat_map(|s| &s.topics).collect();
        set.into_iter().cloned().collect()
    }
}

/// What a member says about itself in its subscription's user data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SubscriptionInfo {
    pub process: String,
    /// The tasks it ran before this rebalance.
    pub prev: BTreeSet<TaskId>,
    /// The tasks whose state its instance has on disk.
    pub state: BTreeSet<TaskId>,
    /// Its instance's `application.server`, if set.
    pub server: Option<String>,
}

const USER_DATA_VERSION: u64 = 1;

fn tasks_json(tasks: &BTreeSet<TaskId>) -> Value {
    Value::Array(tasks.iter().map(|t| Value::String(t.to_string())).collect())
}

fn tasks_of(v: Option<&Value>) -> BTreeSet<TaskId> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

impl SubscriptionInfo {
    pub fn encode(&self) -> Vec<u8> {
        json!({
            "version": USER_DATA_VERSION,
            "process": self.process,
            "prev": tasks_json(&self.prev),
            "state": tasks_json(&self.state),
            "server": self.server,
        })
        .to_string()
        .into_bytes()
    }

    /// `None` for data this assignor did not write.
    pub fn decode(bytes: &[u8]) -> Option<SubscriptionInfo> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        if v.get("version")?.as_u64()? < 1 {
            return None;
        }
        Some(SubscriptionInfo {
            process: v.get("process")?.as_str()?.to_owned(),
            prev: tasks_of(v.get("prev")),
            state: tasks_of(v.get("state")),
            server: v.get("server").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// What a member's assignment says: its own tasks and, for interactive queries, the
/// whole group's map of hosts and the source topics' partition counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AssignmentInfo {
    /// This member's tasks.
    pub active: BTreeSet<TaskId>,
    /// Every host (`application.server` of some member) and what its members run.
    pub hosts: BTreeMap<HostInfo, HostTasks>,
    /// The partition count of each source topic (resolved name).
    pub partition_counts: BTreeMap<String, i32>,
}

impl AssignmentInfo {
    /// The assignment's user data (JSON, like the subscription's).
    pub fn encode(&self) -> Vec<u8> {
        let hosts: Vec<Value> = self
            .hosts
            .iter()
            .map(|(host, h)| {
                json!({
                    "host": host.to_string(),
                    "tasks": tasks_json(&h.tasks),
                    "partitions": h
                        .partitions
                        .iter()
                        .map(|tp| json!([tp.topic, tp.partition]))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "version": USER_DATA_VERSION,
            "active": tasks_json(&self.active),
            "hosts": hosts,
            "partition_counts": self.partition_counts,
        })
        .to_string()
        .into_bytes()
    }

    /// `None` for data this assignor did not write; what is missing or malformed in an
    /// entry is left out.
    pub fn decode(bytes: &[u8]) -> Option<AssignmentInfo> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        if v.get("version")?.as_u64()? < 1 {
            return None;
        }
        let mut hosts = BTreeMap::new();
        for h in v
            .get("hosts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(host) = h
                .get("host")
                .and_then(Value::as_str)
                .and_then(|s| HostInfo::parse(s).ok())
            else {
                continue;
            };
            let partitions = h
                .get("partitions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let topic = p.get(0)?.as_str()?;
                    let partition = i32::try_from(p.get(1)?.as_i64()?).ok()?;
                    Some(TopicPartition::new(topic, partition))
                })
                .collect();
            hosts.insert(
                host,
                HostTasks {
                    tasks: tasks_of(h.get("tasks")),
                    partitions,
                },
            );
        }
        let partition_counts = v
            .get("partition_counts")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    // A count that is not positive (another member's bad data) is left
                    // out, so key lookups report the key unavailable instead of dividing
                    // by it.
                    .filter_map(|(t, n)| {
                        let n = i32::try_from(n.as_i64()?).ok().filter(|n| *n > 0)?;
                        Some((t.clone(), n))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(AssignmentInfo {
            active: tasks_of(v.get("active")),
            hosts,
            partition_counts,
        })
    }
}

/// The group's map of hosts: the tasks of every member whose instance has an
/// `application.server`, merged per host, with their source partitions.
pub(crate) fn host_map(
    topo: &AssignorTopology,
    infos: &[(String, SubscriptionInfo)],
    by_member: &BTreeMap<String, BTreeSet<TaskId>>,
) -> BTreeMap<HostInfo, HostTasks> {
    let mut hosts: BTreeMap<HostInfo, HostTasks> = BTreeMap::new();
    for (member, info) in infos {
        let Some(server) = &info.server else {
            continue;
        };
        let host = match HostInfo::parse(server) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(member = %member, error = %e, "ignoring a member's application.server");
                continue;
            }
        };
        let entry = hosts.entry(host).or_default();
        if let Some(tasks) = by_member.get(member) {
            entry.tasks.extend(tasks.iter().copied());
        }
    }
    for h in hosts.values_mut() {
        h.partitions = partitions_of(topo, &h.tasks).into_iter().collect();
    }
    hosts
}

/// What the thread and its assignor share.
#[derive(Debug, Default)]
pub(crate) struct AssignorShared {
    /// The tasks the thread runs (or ran until the last revocation).
    pub prev: BTreeSet<TaskId>,
    /// An assignment this member computed as leader failed: why.
    pub error: Option<String>,
}

/// The assignor of a streams application's group (protocol `stream`, eager). Members
/// subscribe with their process id, previous tasks and local state; the leader makes one
/// task per sub-topology and partition (co-partitioned topics must agree on the partition
/// count, else every member gets nothing and the leader's thread fails with the reason),
/// balances them within one task per member, keeps stateful tasks with their previous
/// owner or their state when balance allows, and gives each member the source partitions
/// of its tasks.
#[derive(Debug)]
pub struct StreamsAssignor {
    topology: Arc<AssignorTopology>,
    process_id: String,
    /// `<state.dir>/<application.id>`.
    app_dir: PathBuf,
    pub(crate) shared: Arc<Mutex<AssignorShared>>,
    /// The instance's `application.server`.
    server: Option<String>,
    /// Where the group's host map goes.
    registry: Option<Arc<TaskRegistry>>,
}

impl StreamsAssignor {
    pub(crate) fn new(
        topology: Arc<AssignorTopology>,
        process_id: String,
        app_dir: PathBuf,
    ) -> StreamsAssignor {
        StreamsAssignor {
            topology,
            process_id,
            app_dir,
            shared: Arc::new(Mutex::new(AssignorShared::default())),
            server: None,
            registry: None,
        }
    }

    /// Announces `server` (the instance's `application.server`) in subscriptions and
    /// notes every assignment's host map in `registry`.
    pub(crate) fn with_queries(
        mut self,
        server: Option<String>,
        registry: Arc<TaskRegistry>,
    ) -> StreamsAssignor {
        self.server = server;
        self.registry = Some(registry);
        self
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, AssignorShared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The tasks with a state directory holding a checkpoint under `app_dir`.
pub(crate) fn local_state_tasks(app_dir: &std::path::Path) -> BTreeSet<TaskId> {
    let Ok(dir) = std::fs::read_dir(app_dir) else {
        return BTreeSet::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let id: TaskId = e.file_name().to_str()?.parse().ok()?;
            (id.partition >= 0 && e.path().join(".checkpoint").is_file()).then_some(id)
        })
        .collect()
}

impl PartitionAssignor for StreamsAssignor {
    fn name(&self) -> &str {
        "stream"
    }

    fn subscription_user_data(
        &self,
        _topics: &[String],
        _owned: &[TopicPartition],
        _generation: i32,
    ) -> Option<Vec<u8>> {
        let info = SubscriptionInfo {
            process: self.process_id.clone(),
            prev: self.shared().prev.clone(),
            state: local_state_tasks(&self.app_dir),
            server: self.server.clone(),
        };
        Some(info.encode())
    }

    fn on_assignment(&self, assignment: &Assignment, generation: i32) {
        let info = assignment
            .user_data
            .as_deref()
            .and_then(AssignmentInfo::decode)
            .unwrap_or_default();
        if let Some(r) = &self.registry {
            r.set_assignment(generation, info);
        }
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> BTreeMap<String, Assignment> {
        let infos: Vec<(String, SubscriptionInfo)> = members
            .iter()
            .map(|m| {
                let info = m
                    .subscription
                    .user_data
                    .as_deref()
                    .and_then(SubscriptionInfo::decode)
                    .unwrap_or_else(|| SubscriptionInfo {
                        process: m.member_id.clone(),
                        ..SubscriptionInfo::default()
                    });
                (m.member_id.clone(), info)
            })
            .collect();
        match assign_tasks(&self.topology, partitions_per_topic, &infos) {
            Ok(by_member) => {
                self.shared().error = None;
                let hosts = host_map(&self.topology, &infos, &by_member);
                let sources: BTreeSet<String> = self.topology.topics().into_iter().collect();
                let partition_counts: BTreeMap<String, i32> = partitions_per_topic
                    .iter()
                    .filter(|(t, _)| sources.contains(*t))
                    .map(|(t, n)| (t.clone(), *n))
                    .collect();
                by_member
                    .into_iter()
                    .map(|(member, tasks)| {
                        let partitions = partitions_of(&self.topology, &tasks);
                        let info = AssignmentInfo {
                            active: tasks,
                            hosts: hosts.clone(),
                            partition_counts: partition_counts.clone(),
                        };
                        let a = Assignment {
                            partitions,
                            user_data: Some(info.encode()),
                        };
                        (member, a)
                    })
                    .collect()
            }
            Err(why) => {
                tracing::error!(error = %why, "cannot assign the application's tasks; every member gets nothing");
                self.shared().error = Some(why);
                members
                    .iter()
                    .map(|m| (m.member_id.clone(), Assignment::default()))
                    .collect()
            }
        }
    }
}

/// The source partitions of `tasks`, sorted.
pub(crate) fn partitions_of(
    topo: &AssignorTopology,
    tasks: &BTreeSet<TaskId>,
) -> Vec<TopicPartition> {
    let mut out: Vec<TopicPartition> = tasks
        .iter()
        .flat_map(|t| {
            topo.subs
                .iter()
                .filter(move |s| s.id == t.subtopology)
                .flat_map(move |s| {
                    s.topics
                        .iter()
                        .map(move |tp| TopicPartition::new(tp.clone(), t.partition))
                })
        })
        .collect();
    out.sort();
    out
}

/// The tasks of the topology with these partition counts, and whether each is stateful;
/// an error message if the counts do not fit.
pub(crate) fn tasks(
    topo: &AssignorTopology,
    counts: &BTreeMap<String, i32>,
) -> Result<Vec<(TaskId, bool)>, String> {
    let count = |t: &str| -> Result<i32, String> {
        counts
            .get(t)
            .copied()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("source topic {t} does not exist (or has no partitions)"))
    };
    for group in &topo.copartition {
        let mut seen: Option<(&str, i32)> = None;
        for t in group {
            let n = count(t)?;
            match seen {
                Some((first, m)) if m != n => {
                    return Err(format!(
                        "topics {first} ({m}) and {t} ({n}) must have the same number of \
                         partitions (they are co-partitioned)"
                    ))
                }
                None => seen = Some((t, n)),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for sub in &topo.subs {
        let mut seen: Option<(&str, i32)> = None;
        for t in &sub.topics {
            let n = count(t)?;
            match seen {
                Some((first, m)) if m != n => {
                    return Err(format!(
                        "topics {first} ({m}) and {t} ({n}) must have the same number of \
                         partitions (both are read by sub-topology {})",
                        sub.id
                    ))
                }
                None => seen = Some((t, n)),
                _ => {}
            }
        }
        if let Some((_, n)) = seen {
            for p in 0..n {
                out.push((
                    TaskId {
                        subtopology: sub.id,
                        partition: p,
                    },
                    sub.stateful,
                ));
            }
        }
    }
    Ok(out)
}

/// The assignment being built: who owns what, and the balance rules. With `T` tasks
/// over `n` members, `q = T / n` and `r = T % n`: every member ends with `q` or `q + 1`
/// tasks, at most `r` of them with `q + 1`. Tasks of one sub-topology are spread too: in
/// the sticky passes a member keeps at most its share (`ceil(tasks of the sub / n)`), so
/// every instance runs part of every stage.
struct Book {
    owner: BTreeMap<TaskId, usize>,
    load: Vec<usize>,
    q: usize,
    r: usize,
    /// Members with `q + 1` tasks.
    full: usize,
    per_sub: BTreeMap<(usize, u32), usize>,
    sub_total: BTreeMap<u32, usize>,
    n: usize,
}

impl Book {
    fn new(all: &[(TaskId, bool)], n: usize) -> Book {
        let mut sub_total: BTreeMap<u32, usize> = BTreeMap::new();
        for (t, _) in all {
            *sub_total.entry(t.subtopology).or_default() += 1;
        }
        Book {
            owner: BTreeMap::new(),
            load: vec![0; n],
            q: all.len() / n,
            r: all.len() % n,
            full: 0,
            per_sub: BTreeMap::new(),
            sub_total,
            n,
        }
    }

    fn can_take(&self, m: usize) -> bool {
        self.load[m] < self.q || (self.load[m] == self.q && self.full < self.r)
    }

    fn of_sub(&self, m: usize, sub: u32) -> usize {
        self.per_sub.get(&(m, sub)).copied().unwrap_or(0)
    }

    fn has_share(&self, m: usize, sub: u32) -> bool {
        self.of_sub(m, sub) < self.sub_total[&sub].div_ceil(self.n)
    }

    fn give(&mut self, t: TaskId, m: usize) {
        self.load[m] += 1;
        if self.load[m] == self.q + 1 {
            self.full += 1;
        }
        *self.per_sub.entry((m, t.subtopology)).or_default() += 1;
        self.owner.insert(t, m);
    }
}

/// Balances the tasks over `members` (member id, what it said), sticky as the module docs
/// say; every member gets an entry.
pub(crate) fn assign_tasks(
    topo: &AssignorTopology,
    counts: &BTreeMap<String, i32>,
    members: &[(String, SubscriptionInfo)],
) -> Result<BTreeMap<String, BTreeSet<TaskId>>, String> {
    let mut out: BTreeMap<String, BTreeSet<TaskId>> = members
        .iter()
        .map(|(m, _)| (m.clone(), BTreeSet::new()))
        .collect();
    if members.is_empty() {
        return Ok(out);
    }
    let all = tasks(topo, counts)?;
    // Members in a stable order (the map's); duplicates (never sent by a coordinator)
    // collapse into one entry.
    let ids: Vec<String> = out.keys().cloned().collect();
    let info: Vec<&SubscriptionInfo> = ids
        .iter()
        .map(|id| {
            members
                .iter()
                .find(|(m, _)| m == id)
                .map(|(_, i)| i)
                .expect("a member of the list")
        })
        .collect();
    let n = ids.len();
    let mut book = Book::new(&all, n);
    // Pass 0: stateful tasks stay with their previous owner. Pass 1: else they go to the
    // least loaded member of an instance holding their state. Pass 2: stateless tasks
    // stay with their previous owner. Each within the balance and the member's share of
    // the sub-topology.
    for pass in 0..3 {
        for &(t, stateful) in &all {
            if book.owner.contains_key(&t) || (pass < 2) != stateful {
                continue;
            }
            let mut candidates: Vec<usize> = if pass == 1 {
                let processes: BTreeSet<&str> = (0..n)
                    .filter(|&m| info[m].state.contains(&t))
                    .map(|m| info[m].process.as_str())
                    .collect();
                (0..n)
                    .filter(|&m| processes.contains(info[m].process.as_str()))
                    .collect()
            } else {
                (0..n).filter(|&m| info[m].prev.contains(&t)).collect()
            };
            candidates.sort_by_key(|&m| book.load[m]);
            if let Some(m) = candidates
                .into_iter()
                .find(|&m| book.can_take(m) && book.has_share(m, t.subtopology))
            {
                book.give(t, m);
            }
        }
    }
    // Pass 3: the rest to the least loaded members, preferring those with the fewest
    // tasks of the same sub-topology (ties in member order).
    for &(t, _) in &all {
        if book.owner.contains_key(&t) {
            continue;
        }
        let m = (0..n)
            .filter(|&m| book.can_take(m))
            .min_by_key(|&m| (book.of_sub(m, t.subtopology), book.load[m]))
            .expect("the balance leaves room for every task");
        book.give(t, m);
    }
    let owner = book.owner;
    for (t, m) in owner {
        if let Some(set) = out.get_mut(&ids[m]) {
            set.insert(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TaskId {
        s.parse().unwrap()
    }

    fn word_count() -> AssignorTopology {
        AssignorTopology {
            subs: vec![
                SubInfo {
                    id: 0,
                    topics: vec!["lines".into()],
                    stateful: false,
                },
                SubInfo {
                    id: 1,
                    topics: vec!["app-counts-repartition".into()],
                    stateful: true,
                },
            ],
            copartition: Vec::new(),
        }
    }

    fn counts(n: i32) -> BTreeMap<String, i32> {
        [
            ("lines".to_string(), n),
            ("app-counts-repartition".to_string(), n),
        ]
        .into_iter()
        .collect()
    }

    fn member(
        id: &str,
        process: &str,
        prev: &[&str],
        state: &[&str],
    ) -> (String, SubscriptionInfo) {
        (
            id.into(),
            SubscriptionInfo {
                process: process.into(),
                prev: prev.iter().map(|s| t(s)).collect(),
                state: state.iter().map(|s| t(s)).collect(),
                server: None,
            },
        )
    }

    fn loads(a: &BTreeMap<String, BTreeSet<TaskId>>) -> Vec<usize> {
        a.values().map(|s| s.len()).collect()
    }

    fn every_task_once(a: &BTreeMap<String, BTreeSet<TaskId>>, n: usize) {
        let all: Vec<TaskId> = a.values().flatten().copied().collect();
        let set: BTreeSet<TaskId> = all.iter().copied().collect();
        assert_eq!(all.len(), set.len(), "a task assigned twice: {a:?}");
        assert_eq!(set.len(), n, "{a:?}");
    }

    #[test]
    fn user_data_round_trips_and_foreign_data_is_ignored() {
        let (_, info) = member("m", "p1", &["0_1", "1_2"], &["1_2"]);
        assert_eq!(SubscriptionInfo::decode(&info.encode()), Some(info));
        assert_eq!(SubscriptionInfo::decode(b"\x00\x01sticky"), None);
        assert_eq!(SubscriptionInfo::decode(b"{}"), None);
    }

    #[test]
    fn tasks_are_balanced_over_members_of_all_instances() {
        let topo = word_count();
        for (n, members) in [(3, 2), (3, 4), (8, 3), (1, 5), (6, 6)] {
            let ms: Vec<_> = (0..members)
                .map(|i| member(&format!("m{i}"), &format!("p{}", i % 2), &[], &[]))
                .collect();
            let a = assign_tasks(&topo, &counts(n), &ms).unwrap();
            every_task_once(&a, 2 * n as usize);
            let l = loads(&a);
            let (min, max) = (l.iter().min().unwrap(), l.iter().max().unwrap());
            assert!(max - min <= 1, "{n} partitions over {members}: {a:?}");
            assert_eq!(a.len(), members);
        }
    }

    #[test]
    fn stateful_tasks_stay_with_their_owner_or_their_state() {
        let topo = word_count();
        // m1 ran 1_0 and 1_1; m2 ran 1_2. A new member m3 arrives.
        let ms = vec![
            member("m1", "p1", &["0_0", "1_0", "1_1"], &["1_0", "1_1"]),
            member("m2", "p2", &["0_1", "0_2", "1_2"], &["1_2"]),
            member("m3", "p3", &[], &[]),
        ];
        let a = assign_tasks(&topo, &counts(3), &ms).unwrap();
        every_task_once(&a, 6);
        assert_eq!(loads(&a), vec![2, 2, 2]);
        // Each keeps what it ran within its share of the stateful sub-topology (1 of 3).
        assert!(a["m1"].contains(&t("1_0")), "{a:?}");
        assert!(a["m2"].contains(&t("1_2")), "{a:?}");
        assert!(a["m3"].contains(&t("1_1")), "{a:?}");
        // A restarted instance (new member ids, no previous tasks) gets its state back.
        let ms = vec![
            member("x1", "p1", &[], &["1_0", "1_1", "1_2"]),
            member("x2", "p1", &[], &["1_0", "1_1", "1_2"]),
            member("x3", "p2", &[], &[]),
        ];
        let a = assign_tasks(&topo, &counts(3), &ms).unwrap();
        every_task_once(&a, 6);
        let on_p1: BTreeSet<TaskId> = a["x1"].union(&a["x2"]).copied().collect();
        let kept = ["1_0", "1_1", "1_2"]
            .iter()
            .filter(|s| on_p1.contains(&t(s)))
            .count();
        assert_eq!(
            kept, 2,
            "both members of p1 keep a share of its state: {a:?}"
        );
        assert_eq!(loads(&a), vec![2, 2, 2]);
    }

    #[test]
    fn stickiness_never_unbalances_by_more_than_one() {
        let topo = word_count();
        // m1 ran everything; two members join.
        let all = ["0_0", "0_1", "0_2", "0_3", "1_0", "1_1", "1_2", "1_3"];
        let ms = vec![
            member("m1", "p1", &all, &all),
            member("m2", "p2", &[], &[]),
            member("m3", "p3", &[], &[]),
        ];
        let a = assign_tasks(&topo, &counts(4), &ms).unwrap();
        every_task_once(&a, 8);
        let l = loads(&a);
        assert!(
            l.iter().max().unwrap() - l.iter().min().unwrap() <= 1,
            "{a:?}"
        );
        // m1 keeps its share (2 of 4) of the stateful tasks; every member runs part of
        // each sub-topology.
        assert_eq!(
            a["m1"].iter().filter(|t| t.subtopology == 1).count(),
            2,
            "{a:?}"
        );
        for m in ["m1", "m2", "m3"] {
            for sub in [0, 1] {
                assert!(
                    a[m].iter().any(|t| t.subtopology == sub),
                    "{m} {sub}: {a:?}"
                );
            }
        }
    }

    #[test]
    fn members_get_every_source_partition_of_their_tasks() {
        let topo = AssignorTopology {
            subs: vec![SubInfo {
                id: 0,
                topics: vec!["a".into(), "b".into()],
                stateful: true,
            }],
            copartition: vec![vec!["a".into(), "b".into()]],
        };
        let tasks: BTreeSet<TaskId> = [t("0_1")].into_iter().collect();
        assert_eq!(
            partitions_of(&topo, &tasks),
            vec![TopicPartition::new("a", 1), TopicPartition::new("b", 1)]
        );
    }

    #[test]
    fn copartitioned_topics_with_other_partition_counts_are_an_error() {
        let topo = AssignorTopology {
            subs: vec![SubInfo {
                id: 0,
                topics: vec!["X".into(), "Y".into()],
                stateful: true,
            }],
            copartition: vec![vec!["X".into(), "Y".into()]],
        };
        let counts: BTreeMap<String, i32> = [("X".to_string(), 3), ("Y".to_string(), 4)]
            .into_iter()
            .collect();
        let e = assign_tasks(&topo, &counts, &[member("m", "p", &[], &[])]).unwrap_err();
        assert!(
            e.contains("topics X (3) and Y (4) must have the same number of partitions"),
            "{e}"
        );
        let missing: BTreeMap<String, i32> = [("X".to_string(), 3)].into_iter().collect();
        let e = assign_tasks(&topo, &missing, &[member("m", "p", &[], &[])]).unwrap_err();
        assert!(e.contains("source topic Y does not exist"), "{e}");
    }

    #[test]
    fn every_assignment_carries_the_groups_host_map() {
        let topo = Arc::new(word_count());
        let registry = Arc::new(TaskRegistry::default());
        let a = StreamsAssignor::new(topo.clone(), "p1".into(), PathBuf::from("/nonexistent"))
            .with_queries(Some("h1:1".into()), registry.clone());
        let info = |process: &str, server: Option<&str>| SubscriptionInfo {
            process: process.into(),
            server: server.map(str::to_owned),
            ..SubscriptionInfo::default()
        };
        // Two members on h1 (one instance, two threads), one on h2, one without a server.
        let subs = [
            ("m1", info("p1", Some("h1:1"))),
            ("m2", info("p1", Some("h1:1"))),
            ("m3", info("p2", Some("h2:2"))),
            ("m4", info("p3", None)),
        ];
        let back = SubscriptionInfo::decode(&subs[0].1.encode()).unwrap();
        assert_eq!(back.server.as_deref(), Some("h1:1"));
        let members: Vec<Member> = subs
            .iter()
            .map(|(id, i)| Member {
                member_id: (*id).into(),
                group_instance_id: None,
                subscription: brook_client::consumer::assignor::Subscription {
                    user_data: Some(i.encode()),
                    ..Default::default()
                },
            })
            .collect();
        let out = a.assign(&counts(4), &members);
        let infos: Vec<AssignmentInfo> = out
            .values()
            .map(|a| AssignmentInfo::decode(a.user_data.as_deref().unwrap()).unwrap())
            .collect();
        let h1 = HostInfo::new("h1", 1);
        let h2 = HostInfo::new("h2", 2);
        for i in &infos {
            assert_eq!(i.hosts, infos[0].hosts, "every member gets the same map");
            assert_eq!(i.partition_counts, counts(4));
            assert_eq!(
                i.hosts.keys().cloned().collect::<Vec<_>>(),
                [h1.clone(), h2.clone()]
            );
        }
        let by_member: BTreeMap<&str, &AssignmentInfo> =
            out.keys().map(String::as_str).zip(&infos).collect();
        let h1_tasks: BTreeSet<TaskId> = by_member["m1"]
            .active
            .union(&by_member["m2"].active)
            .copied()
            .collect();
        assert_eq!(infos[0].hosts[&h1].tasks, h1_tasks);
        assert_eq!(infos[0].hosts[&h2].tasks, by_member["m3"].active);
        assert_eq!(
            infos[0].hosts[&h2].partitions,
            partitions_of(&topo, &by_member["m3"].active)
                .into_iter()
                .collect()
        );
        assert!(
            !by_member["m4"].active.is_empty(),
            "m4 runs tasks, unlisted"
        );
        // A member notes the map; an older generation does not replace it.
        a.on_assignment(&out["m1"], 5);
        a.on_assignment(&Assignment::default(), 4);
        assert_eq!(registry_hosts(&registry), vec![h1.clone(), h2.clone()]);
        a.on_assignment(&Assignment::default(), 6);
        assert!(registry_hosts(&registry).is_empty());
    }

    fn registry_hosts(r: &TaskRegistry) -> Vec<HostInfo> {
        r.assignment_for_tests()
            .map(|a| a.hosts.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_failed_assignment_gives_every_member_nothing_and_says_why() {
        let topo = Arc::new(AssignorTopology {
            subs: vec![SubInfo {
                id: 0,
                topics: vec!["X".into(), "Y".into()],
                stateful: false,
            }],
            copartition: Vec::new(),
        });
        let a = StreamsAssignor::new(topo, "p".into(), PathBuf::from("/nonexistent"));
        let counts: BTreeMap<String, i32> = [("X".to_string(), 3), ("Y".to_string(), 4)]
            .into_iter()
            .collect();
        let members = vec![Member {
            member_id: "m1".into(),
            group_instance_id: None,
            subscription: Default::default(),
        }];
        let out = a.assign(&counts, &members);
        assert_eq!(out["m1"], Assignment::default());
        let why = a.shared().error.clone().unwrap();
        assert!(why.contains("X (3) and Y (4)"), "{why}");
    }
}
