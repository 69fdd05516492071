//! The cluster metadata the controller quorum agrees on: brokers, topics, their
//! partitions' replicas, leaders and ISR, and topic configs. [`ClusterImage::apply`] is the
//! state machine's transition function: every node applies the same commands in the same
//! order and ends with the same image. It is pure (no I/O, no clock), so it is tested here
//! without a quorum.
//!
//! Leader election follows Kafka's KRaft controller: the new leader is the first replica in
//! assignment order that is in the ISR and not fenced; a fenced broker leaves the ISR
//! unless it is its last member (then the partition has no leader until that broker comes
//! back, or an unclean election picks another replica when the topic allows it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::server::errors::ErrorCode;

/// No leader (`-1` on the wire).
pub const NO_LEADER: i32 = -1;

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub id: i32,
    /// Where clients reach its Kafka listener.
    pub host: String,
    pub port: u16,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Fenced brokers lead nothing, are in no ISR (but a last member), and are left out of
    /// Metadata.
    pub fenced: bool,
    /// Bumped at each registration: a restarted broker is told apart from its old self.
    pub epoch: u64,
}

/// One partition's replicas and leadership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// Assignment order; the first is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    /// Bumped at every leader change.
    pub leader_epoch: i32,
    /// Bumped at every change of this state (AlterPartition checks it).
    pub partition_epoch: i32,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub id: [u8; 16],
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionState>,
}

impl TopicImage {
    fn unclean_allowed(&self) -> bool {
        self.configs
            .get("unclean.leader.election.enable")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }
}

/// The whole cluster's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterImage {
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, TopicImage>,
    /// The next unallocated producer id (blocks are handed to brokers).
    pub next_producer_id: i64,
}

/// A change to the metadata: one entry of the metadata log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetadataCommand {
    /// A broker starts (or restarts): it is registered unfenced.
    RegisterBroker {
        id: i32,
        host: String,
        port: u16,
        rack: Option<String>,
    },
    /// A broker missed its heartbeats, or shuts down: it loses its leaderships and leaves
    /// the ISRs.
    FenceBroker {
        id: i32,
    },
    /// A fenced broker heartbeats again.
    UnfenceBroker {
        id: i32,
    },
    CreateTopic {
        name: String,
        id: [u8; 16],
        configs: BTreeMap<String, String>,
        /// Replicas of each partition, preferred leader first.
        assignment: Vec<Vec<i32>>,
    },
    DeleteTopic {
        name: String,
    },
    /// New partitions appended to a topic.
    CreatePartitions {
        name: String,
        assignment: Vec<Vec<i32>>,
    },
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// A leader changes its partition's ISR (Kafka's AlterPartition).
    AlterPartition {
        topic: String,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    },
    /// Moves leadership back to each partition's first replica where it is in sync.
    ElectPreferredLeaders,
    /// Kafka's ElectLeaders: for each named partition (every partition for `None`), a
    /// preferred election (the first replica, if live and in sync) or, with `unclean`, an
    /// election for a partition without a leader that may pick a live replica out of sync.
    ElectLeaders {
        unclean: bool,
        partitions: Option<Vec<(String, i32)>>,
    },
    /// Hands out `count` producer ids.
    AllocateProducerIds {
        count: i64,
    },
}

/// What applying a command gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommandResult {
    Ok,
    /// Refused, with Kafka's error code and a message.
    Refused {
        code: i16,
        message: String,
    },
    /// The state an AlterPartition left.
    Partition(PartitionState),
    /// The first id of an allocated producer-id block.
    ProducerIds(i64),
    /// What ElectLeaders did per partition: (topic, partition, error code, message), code 0
    /// where a leader was elected.
    Elections(Vec<(String, i32, i16, Option<String>)>),
}

impl CommandResult {
    fn refused(code: ErrorCode, message: impl Into<String>) -> CommandResult {
        CommandResult::Refused {
            code: code.code(),
            message: message.into(),
        }
    }
}

impl ClusterImage {
    /// The brokers that may lead and be in sync.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        self.topics
            .get(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?))
    }

    /// Applies one command. Deterministic: the same image and command give the same
    /// outcome on every node.
    pub fn apply(&mut self, command: &MetadataCommand) -> CommandResult {
        match command {
            MetadataCommand::RegisterBroker {
                id,
                host,
                port,
                rack,
            } => {
                let epoch = self.brokers.get(id).map_or(0, |b| b.epoch + 1);
                self.brokers.insert(
                    *id,
                    BrokerRegistration {
                        id: *id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                        fenced: false,
                        epoch,
                    },
                );
                self.on_unfenced(*id);
                CommandResult::Ok
            }
            MetadataCommand::FenceBroker { id } => {
                let Some(b) = self.brokers.get_mut(id) else {
                    return CommandResult::refused(
                        ErrorCode::BrokerNotAvailable,
                        format!("broker {id} is not registered"),
                    );
                };
                b.fenced = true;
                self.on_fenced(*id);
                CommandResult::Ok
            }
            MetadataCommand::UnfenceBroker { id } => {
                let Some(b) = self.brokers.get_mut(id) else {
                    return CommandResult::refused(
                        ErrorCode::BrokerNotAvailable,
                        format!("broker {id} is not registered"),
                    );
                };
                b.fenced = false;
                self.on_unfenced(*id);
                CommandResult::Ok
            }
            MetadataCommand::CreateTopic {
                name,
                id,
                configs,
                assignment,
            } => {
                if self.topics.contains_key(name) {
                    return CommandResult::refused(
                        ErrorCode::TopicAlreadyExists,
                        format!("topic `{name}` already exists"),
                    );
                }
                if let Err(refused) = self.check_assignment(assignment) {
                    return refused;
                }
                let partitions = assignment.iter().map(|r| self.new_partition(r)).collect();
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        name: name.clone(),
                        id: *id,
                        configs: configs.clone(),
                        partitions,
                    },
                );
                CommandResult::Ok
            }
            MetadataCommand::DeleteTopic { name } => match self.topics.remove(name) {
                Some(_) => CommandResult::Ok,
                None => CommandResult::refused(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("topic `{name}` does not exist"),
                ),
            },
            MetadataCommand::CreatePartitions { name, assignment } => {
                if let Err(refused) = self.check_assignment(assignment) {
                    return refused;
                }
                let added: Vec<PartitionState> =
                    assignment.iter().map(|r| self.new_partition(r)).collect();
                match self.topics.get_mut(name) {
                    Some(t) => {
                        t.partitions.extend(added);
                        CommandResult::Ok
                    }
                    None => CommandResult::refused(
                        ErrorCode::UnknownTopicOrPartition,
                        format!("topic `{name}` does not exist"),
                    ),
                }
            }
            MetadataCommand::SetTopicConfigs { name, configs } => {
                let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
                match self.topics.get_mut(name) {
                    Some(t) => {
                        t.configs = configs.clone();
                        // Enabling unclean elections elects leaderless partitions now, as
                        // Kafka does.
                        elect_leaderless(t, &live, None);
                        CommandResult::Ok
                    }
                    None => CommandResult::refused(
                        ErrorCode::UnknownTopicOrPartition,
                        format!("topic `{name}` does not exist"),
                    ),
                }
            }
            MetadataCommand::AlterPartition {
                topic,
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            } => self.alter_partition(
                topic,
                *partition,
                *leader,
                *leader_epoch,
                *partition_epoch,
                isr,
            ),
            MetadataCommand::ElectPreferredLeaders => {
                let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
                for t in self.topics.values_mut() {
                    for p in &mut t.partitions {
                        let Some(&preferred) = p.replicas.first() else {
                            continue;
                        };
                        if p.leader != preferred
                            && p.isr.contains(&preferred)
                            && live.contains(&preferred)
                        {
                            p.leader = preferred;
                            p.leader_epoch += 1;
                            p.partition_epoch += 1;
                        }
                    }
                }
                CommandResult::Ok
            }
            MetadataCommand::ElectLeaders {
                unclean,
                partitions,
            } => CommandResult::Elections(self.elect_leaders(*unclean, partitions.as_deref())),
            MetadataCommand::AllocateProducerIds { count } => {
                let start = self.next_producer_id;
                self.next_producer_id = start.saturating_add((*count).max(1));
                CommandResult::ProducerIds(start)
            }
        }
    }

    /// [`MetadataCommand::ElectLeaders`]. Named partitions each get a result; with `None`,
    /// the partitions where an election was due (their preferred replica could lead but
    /// does not, or, unclean, they have no leader) do.
    fn elect_leaders(
        &mut self,
        unclean: bool,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<(String, i32, i16, Option<String>)> {
        let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
        let named = partitions.is_some();
        let wanted: Vec<(String, i32)> = match partitions {
            Some(p) => p.to_vec(),
            None => self
                .topics
                .values()
                .flat_map(|t| (0..t.partitions.len() as i32).map(|i| (t.name.clone(), i)))
                .collect(),
        };
        let mut results = Vec::new();
        for (topic, index) in wanted {
            let Some(p) = self
                .topics
                .get_mut(&topic)
                .and_then(|t| t.partitions.get_mut(usize::try_from(index).ok()?))
            else {
                results.push((
                    topic.clone(),
                    index,
                    ErrorCode::UnknownTopicOrPartition.code(),
                    Some(format!("{topic}-{index} does not exist")),
                ));
                continue;
            };
            let outcome = if unclean {
                if p.leader != NO_LEADER {
                    Err((
                        ErrorCode::ElectionNotNeeded,
                        format!("it has a leader, {}", p.leader),
                    ))
                } else {
                    match elect(&p.replicas, &p.isr, &live, true) {
                        Some(next) => {
                            if !p.isr.contains(&next) {
                                p.isr = vec![next];
                            }
                            Ok(next)
                        }
                        None => Err((
                            ErrorCode::EligibleLeadersNotAvailable,
                            format!("none of its replicas {:?} is live", p.replicas),
                        )),
                    }
                }
            } else {
                let preferred = p.replicas.first().copied().unwrap_or(NO_LEADER);
                if p.leader == preferred {
                    Err((
                        ErrorCode::ElectionNotNeeded,
                        format!("its preferred replica {preferred} leads it"),
                    ))
                } else if !p.isr.contains(&preferred) || !live.contains(&preferred) {
                    Err((
                        ErrorCode::PreferredLeaderNotAvailable,
                        format!("its preferred replica {preferred} is not live and in sync"),
                    ))
                } else {
                    Ok(preferred)
                }
            };
            match outcome {
                Ok(leader) => {
                    p.leader = leader;
                    p.leader_epoch += 1;
                    p.partition_epoch += 1;
                    results.push((topic, index, 0, None));
                }
                // Without names, only the partitions an election was due for are reported.
                Err((ErrorCode::ElectionNotNeeded, _)) if !named => {}
                Err((ErrorCode::PreferredLeaderNotAvailable, _)) if !named && !unclean => {}
                Err((ErrorCode::EligibleLeadersNotAvailable, _)) if !named => {}
                Err((code, message)) => results.push((
                    topic.clone(),
                    index,
                    code.code(),
                    Some(format!("{topic}-{index}: {message}")),
                )),
            }
        }
        results
    }

    fn check_assignment(&self, assignment: &[Vec<i32>]) -> Result<(), CommandResult> {
        for replicas in assignment {
            if replicas.is_empty() {
                return Err(CommandResult::refused(
                    ErrorCode::InvalidReplicaAssignment,
                    "a partition needs at least one replica",
                ));
            }
            for (i, r) in replicas.iter().enumerate() {
                if !self.brokers.contains_key(r) {
                    return Err(CommandResult::refused(
                        ErrorCode::InvalidReplicaAssignment,
                        format!("broker {r} is not registered"),
                    ));
                }
                if replicas[..i].contains(r) {
                    return Err(CommandResult::refused(
                        ErrorCode::InvalidReplicaAssignment,
                        format!("broker {r} appears twice in one partition's replicas"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A new partition: every live replica in sync, the first of them leading.
    fn new_partition(&self, replicas: &[i32]) -> PartitionState {
        let isr: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|r| self.is_live(*r))
            .collect();
        PartitionState {
            replicas: replicas.to_vec(),
            leader: isr.first().copied().unwrap_or(NO_LEADER),
            isr,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }

    fn alter_partition(
        &mut self,
        topic: &str,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: &[i32],
    ) -> CommandResult {
        let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
        let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?))
        else {
            return CommandResult::refused(
                ErrorCode::UnknownTopicOrPartition,
                format!("{topic}-{partition} does not exist"),
            );
        };
        if p.leader != leader || p.leader_epoch != leader_epoch {
            return CommandResult::refused(
                ErrorCode::FencedLeaderEpoch,
                format!(
                    "{topic}-{partition} is led by {} at epoch {}, not {leader} at {leader_epoch}",
                    p.leader, p.leader_epoch
                ),
            );
        }
        if p.partition_epoch != partition_epoch {
            return CommandResult::refused(
                ErrorCode::InvalidUpdateVersion,
                format!(
                    "{topic}-{partition} is at partition epoch {}, not {partition_epoch}",
                    p.partition_epoch
                ),
            );
        }
        if !isr.contains(&leader) {
            return CommandResult::refused(
                ErrorCode::InvalidRequest,
                "the leader must stay in the ISR",
            );
        }
        for r in isr {
            if !p.replicas.contains(r) {
                return CommandResult::refused(
                    ErrorCode::InvalidRequest,
                    format!("broker {r} is not a replica of {topic}-{partition}"),
                );
            }
            // A fenced broker may not join (it may stay, when it is the leader's report of
            // a member already there).
            if !live.contains(r) && !p.isr.contains(r) {
                return CommandResult::refused(
                    ErrorCode::IneligibleReplica,
                    format!("broker {r} is fenced"),
                );
            }
        }
        let mut ordered: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| isr.contains(r))
            .collect();
        ordered.dedup();
        p.isr = ordered;
        p.partition_epoch += 1;
        CommandResult::Partition(p.clone())
    }

    /// Leaderships move away from a fenced broker; it leaves every ISR it is not the last
    /// member of.
    fn on_fenced(&mut self, id: i32) {
        let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
        for t in self.topics.values_mut() {
            let unclean = t.unclean_allowed();
            for p in &mut t.partitions {
                if !p.replicas.contains(&id) {
                    continue;
                }
                let mut changed = false;
                if p.isr.contains(&id) && p.isr.len() > 1 {
                    p.isr.retain(|r| *r != id);
                    changed = true;
                }
                if p.leader == id {
                    let next = elect(&p.replicas, &p.isr, &live, unclean);
                    p.leader = next.unwrap_or(NO_LEADER);
                    if unclean && next.is_some_and(|n| !p.isr.contains(&n)) {
                        p.isr = vec![p.leader];
                    }
                    p.leader_epoch += 1;
                    changed = true;
                }
                if changed {
                    p.partition_epoch += 1;
                }
            }
        }
    }

    /// Partitions without a leader get one if this broker can lead them.
    fn on_unfenced(&mut self, id: i32) {
        let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
        for t in self.topics.values_mut() {
            elect_leaderless(t, &live, Some(id));
        }
    }
}

/// Elects a leader for each partition of `t` that has none (of those `id` is a replica of,
/// if given), where a replica can lead: in sync and live, or with unclean elections any
/// live replica, which then is the whole ISR.
fn elect_leaderless(t: &mut TopicImage, live: &[i32], id: Option<i32>) {
    let unclean = t.unclean_allowed();
    for p in &mut t.partitions {
        if p.leader != NO_LEADER || id.is_some_and(|id| !p.replicas.contains(&id)) {
            continue;
        }
        if let Some(next) = elect(&p.replicas, &p.isr, live, unclean) {
            if !p.isr.contains(&next) {
                p.isr = vec![next];
            }
            p.leader = next;
            p.leader_epoch += 1;
            p.partition_epoch += 1;
        }
    }
}

/// The first replica in assignment order that is in sync and live; with `unclean`, else the
/// first live replica.
fn elect(replicas: &[i32], isr: &[i32], live: &[i32], unclean: bool) -> Option<i32> {
    replicas
        .iter()
        .copied()
        .find(|r| isr.contains(r) && live.contains(r))
        .or_else(|| {
            unclean
                .then(|| replicas.iter().copied().find(|r| live.contains(r)))
                .flatten()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(image: &mut ClusterImage, id: i32) {
        image.apply(&MetadataCommand::RegisterBroker {
            id,
            host: "localhost".into(),
            port: 9000 + id as u16,
            rack: None,
        });
    }

    fn cluster() -> ClusterImage {
        let mut image = ClusterImage::default();
        for id in 1..=3 {
            register(&mut image, id);
        }
        let r = image.apply(&MetadataCommand::CreateTopic {
            name: "t".into(),
            id: [7; 16],
            configs: BTreeMap::new(),
            assignment: vec![vec![1, 2, 3], vec![2, 3, 1]],
        });
        assert_eq!(r, CommandResult::Ok);
        image
    }

    #[test]
    fn a_new_topic_is_led_by_its_first_replica_with_every_replica_in_sync() {
        let image = cluster();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch),
            (1, vec![1, 2, 3], 0)
        );
        assert_eq!(image.partition("t", 1).unwrap().leader, 2);
        let again = cluster().apply(&MetadataCommand::CreateTopic {
            name: "t".into(),
            id: [8; 16],
            configs: BTreeMap::new(),
            assignment: vec![vec![1]],
        });
        assert!(
            matches!(again, CommandResult::Refused { code, .. } if code == ErrorCode::TopicAlreadyExists.code())
        );
    }

    #[test]
    fn fencing_the_leader_elects_the_next_in_sync_replica_and_bumps_the_epoch() {
        let mut image = cluster();
        image.apply(&MetadataCommand::FenceBroker { id: 1 });
        let p = image.partition("t", 0).unwrap();
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch),
            (2, vec![2, 3], 1)
        );
        // Partition 1 was led by 2: only its ISR shrinks.
        let p1 = image.partition("t", 1).unwrap();
        assert_eq!(
            (p1.leader, p1.isr.clone(), p1.leader_epoch),
            (2, vec![2, 3], 0)
        );
        // Coming back does not take leadership (it is not in sync); preferred election
        // waits for it to rejoin the ISR.
        image.apply(&MetadataCommand::UnfenceBroker { id: 1 });
        image.apply(&MetadataCommand::ElectPreferredLeaders);
        assert_eq!(image.partition("t", 0).unwrap().leader, 2);
        let p = image.partition("t", 0).unwrap().clone();
        let r = image.apply(&MetadataCommand::AlterPartition {
            topic: "t".into(),
            partition: 0,
            leader: 2,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: vec![2, 3, 1],
        });
        assert!(matches!(r, CommandResult::Partition(ref s) if s.isr == vec![1, 2, 3]));
        image.apply(&MetadataCommand::ElectPreferredLeaders);
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.leader_epoch), (1, 2));
    }

    #[test]
    fn the_last_in_sync_replica_keeps_its_place_and_no_unclean_leader_is_chosen() {
        let mut image = cluster();
        for id in [1, 2, 3] {
            image.apply(&MetadataCommand::FenceBroker { id });
        }
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (NO_LEADER, vec![3]));
        // Broker 1 returns but is not in sync: still no leader (unclean election is off).
        image.apply(&MetadataCommand::UnfenceBroker { id: 1 });
        assert_eq!(image.partition("t", 0).unwrap().leader, NO_LEADER);
        // The last in-sync replica returns and leads.
        image.apply(&MetadataCommand::RegisterBroker {
            id: 3,
            host: "localhost".into(),
            port: 9003,
            rack: None,
        });
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (3, vec![3]));
        assert_eq!(image.brokers[&3].epoch, 1);
    }

    #[test]
    fn unclean_election_picks_a_live_replica_when_the_topic_allows_it() {
        let mut image = cluster();
        image.apply(&MetadataCommand::SetTopicConfigs {
            name: "t".into(),
            configs: [(
                "unclean.leader.election.enable".to_string(),
                "true".to_string(),
            )]
            .into(),
        });
        for id in [2, 3, 1] {
            image.apply(&MetadataCommand::FenceBroker { id });
        }
        assert_eq!(image.partition("t", 0).unwrap().isr, vec![1]);
        image.apply(&MetadataCommand::UnfenceBroker { id: 2 });
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    }

    #[test]
    fn elect_leaders_preferred_and_unclean_per_partition() {
        let mut image = cluster();
        let t0 = || Some(vec![("t".to_string(), 0)]);
        // The preferred replica already leads.
        let r = image.apply(&MetadataCommand::ElectLeaders {
            unclean: false,
            partitions: t0(),
        });
        assert!(
            matches!(&r, CommandResult::Elections(e) if e.len() == 1 && e[0].2 == ErrorCode::ElectionNotNeeded.code()),
            "{r:?}"
        );
        // It is fenced: leadership moves; while it is away no preferred election can happen.
        image.apply(&MetadataCommand::FenceBroker { id: 1 });
        assert_eq!(image.partition("t", 0).unwrap().leader, 2);
        let r = image.apply(&MetadataCommand::ElectLeaders {
            unclean: false,
            partitions: t0(),
        });
        assert!(
            matches!(&r, CommandResult::Elections(e) if e[0].2 == ErrorCode::PreferredLeaderNotAvailable.code()),
            "{r:?}"
        );
        // Back and in sync: the election moves leadership back, with a new epoch.
        image.apply(&MetadataCommand::UnfenceBroker { id: 1 });
        let p = image.partition("t", 0).unwrap().clone();
        image.apply(&MetadataCommand::AlterPartition {
            topic: "t".into(),
            partition: 0,
            leader: 2,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: vec![2, 3, 1],
        });
        let before = image.partition("t", 0).unwrap().leader_epoch;
        let r = image.apply(&MetadataCommand::ElectLeaders {
            unclean: false,
            partitions: None,
        });
        assert_eq!(
            r,
            CommandResult::Elections(vec![("t".to_string(), 0, 0, None)])
        );
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.leader_epoch), (1, before + 1));
        // Unclean: not needed with a leader; unknown partitions are named as such.
        let r = image.apply(&MetadataCommand::ElectLeaders {
            unclean: true,
            partitions: Some(vec![("t".to_string(), 0), ("t".to_string(), 9)]),
        });
        let CommandResult::Elections(e) = r else {
            panic!("{r:?}")
        };
        assert_eq!(e[0].2, ErrorCode::ElectionNotNeeded.code());
        assert_eq!(e[1].2, ErrorCode::UnknownTopicOrPartition.code());
        // Leaderless with only an out-of-sync replica live: an unclean election picks it,
        // even where the topic does not enable unclean elections itself.
        for id in [2, 3, 1] {
            image.apply(&MetadataCommand::FenceBroker { id });
        }
        image.apply(&MetadataCommand::UnfenceBroker { id: 3 });
        assert_eq!(image.partition("t", 0).unwrap().leader, NO_LEADER);
        let r = image.apply(&MetadataCommand::ElectLeaders {
            unclean: true,
            partitions: t0(),
        });
        assert_eq!(
            r,
            CommandResult::Elections(vec![("t".to_string(), 0, 0, None)])
        );
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (3, vec![3]));
    }

    #[test]
    fn enabling_unclean_election_elects_a_leaderless_partition_at_once() {
        let mut image = cluster();
        for id in [2, 3, 1] {
            image.apply(&MetadataCommand::FenceBroker { id });
        }
        image.apply(&MetadataCommand::UnfenceBroker { id: 3 });
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (NO_LEADER, vec![1]));
        let epoch = p.leader_epoch;
        image.apply(&MetadataCommand::SetTopicConfigs {
            name: "t".into(),
            configs: [(
                "unclean.leader.election.enable".to_string(),
                "true".to_string(),
            )]
            .into(),
        });
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (3, vec![3]));
        assert_eq!(p.leader_epoch, epoch + 1);
    }

    #[test]
    fn alter_partition_is_refused_from_a_stale_leader_or_version() {
        let mut image = cluster();
        let stale = MetadataCommand::AlterPartition {
            topic: "t".into(),
            partition: 0,
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            isr: vec![1, 2],
        };
        assert!(matches!(image.apply(&stale), CommandResult::Partition(_)));
        // The same request again: the partition epoch moved on.
        assert!(
            matches!(image.apply(&stale), CommandResult::Refused { code, .. } if code == ErrorCode::InvalidUpdateVersion.code())
        );
        image.apply(&MetadataCommand::FenceBroker { id: 1 });
        let old_leader = MetadataCommand::AlterPartition {
            topic: "t".into(),
            partition: 0,
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 2,
            isr: vec![1],
        };
        assert!(
            matches!(image.apply(&old_leader), CommandResult::Refused { code, .. } if code == ErrorCode::FencedLeaderEpoch.code())
        );
        // A fenced broker cannot join an ISR.
        let p = image.partition("t", 0).unwrap().clone();
        let join = MetadataCommand::AlterPartition {
            topic: "t".into(),
            partition: 0,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: vec![2, 1],
        };
        assert!(
            matches!(image.apply(&join), CommandResult::Refused { code, .. } if code == ErrorCode::IneligibleReplica.code())
        );
    }

    #[test]
    fn assignments_must_name_registered_brokers_once() {
        let mut image = cluster();
        for bad in [vec![vec![1, 1]], vec![vec![9]], vec![vec![]]] {
            let r = image.apply(&MetadataCommand::CreatePartitions {
                name: "t".into(),
                assignment: bad,
            });
            assert!(
                matches!(r, CommandResult::Refused { code, .. } if code == ErrorCode::InvalidReplicaAssignment.code())
            );
        }
        assert_eq!(image.topics["t"].partitions.len(), 2);
        let a = image.apply(&MetadataCommand::AllocateProducerIds { count: 1000 });
        let b = image.apply(&MetadataCommand::AllocateProducerIds { count: 1000 });
        assert_eq!(
            (a, b),
            (
                CommandResult::ProducerIds(0),
                CommandResult::ProducerIds(1000)
            )
        );
    }
}
