//! Internal topics, made before the stream threads join their group: each repartition
//! topic `<application.id>-<name>-repartition` (`cleanup.policy=delete`, as many
//! partitions as the most partitioned source topic of the sub-topology that writes it,
//! worked out transitively through other repartition topics, unless the topology fixes
//! it) and each changelog `<application.id>-<store>-changelog` (`cleanup.policy=compact`
//! plus the store's logging config, one partition per task of the store's sub-topology),
//! with `replication.factor` of the configuration (-1: the broker's default). Existing
//! topics are left alone if their partition count is the expected one, and are an error
//! otherwise; a missing source topic is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_client::{Admin, AdminConfig, Cluster, ErrorCode, NewTopic};

use crate::error::{Result, StreamsError};
use crate::runtime::Shared;

/// How long to wait for created topics to have leaders.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// An internal topic to have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

/// The partition counts of every source topic (user, repartition and global ones,
/// resolved) once the internal topics exist.
pub(crate) async fn prepare(shared: &Shared) -> Result<BTreeMap<String, i32>> {
    let cluster = Arc::new(
        Cluster::connect(&shared.config.bootstrap_servers, shared.connector.clone()).await?,
    );
    let admin = Admin::with_cluster(cluster, AdminConfig::default());
    let topology = &shared.topology;
    let app = &shared.config.application_id;
    let internal: BTreeSet<&String> = topology.internal_topics().keys().collect();
    // The user topics read: those of the sub-topologies and the global ones.
    let mut external: BTreeSet<String> = topology
        .source_topics()
        .into_iter()
        .filter(|t| !internal.contains(t))
        .collect();
    if let Some(g) = topology.global_sub_topology() {
        external.extend(g.source_topics);
    }
    let mut counts: BTreeMap<String, i32> = BTreeMap::new();
    if !external.is_empty() {
        let names: Vec<&str> = external.iter().map(String::as_str).collect();
        let described = admin.describe_topics(&names).await?;
        let mut missing = Vec::new();
        for t in &external {
            match described.get(t) {
                Some(Ok(m)) if !m.partitions.is_empty() => {
                    counts.insert(t.clone(), m.partitions.len() as i32);
                }
                _ => missing.push(t.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(StreamsError::Topology(format!(
                "source topic(s) {} of application {app} do not exist: create them before \
                 starting the application",
                missing.join(", ")
            )));
        }
    }
    let specs = specs(shared, &counts)?;
    ensure(&admin, &specs, shared.config.replication_factor).await?;
    let mut resolved: BTreeMap<String, i32> = counts
        .into_iter()
        .map(|(t, n)| (topology.resolve_topic(&t, app), n))
        .collect();
    for s in specs {
        resolved.insert(s.name, s.partitions);
    }
    Ok(resolved)
}

/// The internal topics of the topology, given the partition counts of its user source
/// topics (as the topology names them).
pub(crate) fn specs(
    shared: &Shared,
    user_counts: &BTreeMap<String, i32>,
) -> Result<Vec<TopicSpec>> {
    let topology = &shared.topology;
    let app = &shared.config.application_id;
    let subs = topology.sub_topologies();
    let internal = topology.internal_topics();
    let mut counts = user_counts.clone();
    for (t, spec) in internal {
        if let Some(n) = spec.partitions {
            counts.insert(t.clone(), n);
        }
    }
    // A repartition topic co-partitioned with user topics (a join's) takes their count
    // if they agree (Kafka's CopartitionedTopicsEnforcer; if they do not, the assignor
    // reports it).
    for group in topology.copartition_groups() {
        let user: BTreeSet<i32> = group
            .iter()
            .filter(|t| !internal.contains_key(*t))
            .filter_map(|t| user_counts.get(t).copied())
            .collect();
        if let (1, Some(&n)) = (user.len(), user.first()) {
            for t in group.iter().filter(|t| internal.contains_key(*t)) {
                counts.entry(t.clone()).or_insert(n);
            }
        }
    }
    // Repartition topics take the count of their writer's sources, which may be
    // repartition topics themselves: iterate to a fixed point.
    for _ in 0..=internal.len() {
        let mut changed = false;
        for t in internal.keys() {
            if counts.contains_key(t) {
                continue;
            }
            let writers: Vec<_> = subs.iter().filter(|s| s.sink_topics.contains(t)).collect();
            let mut best: Option<i32> = None;
            let mut known = !writers.is_empty();
            for w in &writers {
                for s in &w.source_topics {
                    match counts.get(s) {
                        Some(&n) => best = Some(best.map_or(n, |b| b.max(n))),
                        None => known = false,
                    }
                }
            }
            if let (true, Some(n)) = (known, best) {
                counts.insert(t.clone(), n);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut out = Vec::new();
    for t in internal.keys() {
        let n = counts.get(t).copied().ok_or_else(|| {
            StreamsError::Topology(format!(
                "cannot work out the partition count of repartition topic {t}: no \
                 sub-topology with known input writes it"
            ))
        })?;
        out.push(TopicSpec {
            name: topology.resolve_topic(t, app),
            partitions: n,
            configs: [("cleanup.policy".to_owned(), "delete".to_owned())]
                .into_iter()
                .collect(),
        });
    }
    for sub in &subs {
        let tasks = sub
            .source_topics
            .iter()
            .filter_map(|t| counts.get(t).copied())
            .max();
        for store in &sub.stores {
            let Some(def) = topology.stores().find(|d| d.name() == store) else {
                continue;
            };
            if !def.logging() {
                continue;
            }
            let n = tasks.ok_or_else(|| {
                StreamsError::Topology(format!(
                    "cannot work out the partition count of the changelog of store {store}"
                ))
            })?;
            let mut configs: BTreeMap<String, String> =
                [("cleanup.policy".to_owned(), "compact".to_owned())]
                    .into_iter()
                    .collect();
            for (k, v) in &def.logging_config {
                configs.insert(k.clone(), v.clone());
            }
            out.push(TopicSpec {
                name: def.changelog_topic(app),
                partitions: n,
                configs,
            });
        }
    }
    Ok(out)
}

/// Creates what is missing of `specs` and checks what exists; waits until every one has
/// a leader for every partition.
async fn ensure(admin: &Admin, specs: &[TopicSpec], replication_factor: i16) -> Result<()> {
    if specs.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let described = admin.describe_topics(&names).await?;
    let mut create = Vec::new();
    for s in specs {
        match described.get(&s.name) {
            Some(Ok(m)) if !m.partitions.is_empty() => check_count(s, m.partitions.len())?,
            _ => {
                let mut t = NewTopic::new(s.name.clone(), s.partitions, replication_factor);
                for (k, v) in &s.configs {
                    t = t.config(k.clone(), v.clone());
                }
                create.push(t);
            }
        }
    }
    if !create.is_empty() {
        let created = admin.create_topics(&create, false).await?;
        for (name, r) in &created {
            match r {
                Ok(_) => tracing::info!(topic = %name, "created internal topic"),
                Err(e) if e.code == ErrorCode::TOPIC_ALREADY_EXISTS => {}
                Err(e) => {
                    return Err(StreamsError::Client(format!(
                        "cannot create internal topic {name}: {e}"
                    )))
                }
            }
        }
    }
    // Wait for every partition to have a leader (and check counts of topics someone
    // else created meanwhile).
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let described = admin.describe_topics(&names).await?;
        let mut ready = true;
        for s in specs {
            match described.get(&s.name) {
                Some(Ok(m)) if !m.partitions.is_empty() => {
                    check_count(s, m.partitions.len())?;
                    if m.partitions.iter().any(|p| p.leader.is_none()) {
                        ready = false;
                    }
                }
                _ => ready = false,
            }
        }
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StreamsError::Client(format!(
                "internal topics {} have no leaders after {READY_TIMEOUT:?}",
                names.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check_count(s: &TopicSpec, actual: usize) -> Result<()> {
    if actual as i32 != s.partitions {
        return Err(StreamsError::Topology(format!(
            "internal topic {} exists with {actual} partitions, but the topology needs {}; \
             delete it (after a reset) or fix the source topics",
            s.name, s.partitions
        )));
    }
    Ok(())
}
