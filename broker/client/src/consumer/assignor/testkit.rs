//! Test helpers shared by the assignors' unit tests: builders for members and topics, random
//! groups for property tests, and checks of what every assignment must satisfy. Test-only;
//! nothing here is compiled into the library.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{Assignment, Member, PartitionAssignor, Subscription};
use crate::admin::TopicPartition;

pub(crate) fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
    list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

pub(crate) fn member(id: &str, topics: &[&str]) -> Member {
    Member {
        member_id: id.into(),
        group_instance_id: None,
        subscription: Subscription {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            generation_id: -1,
            ..Subscription::default()
        },
    }
}

pub(crate) fn static_member(id: &str, instance: &str, topics: &[&str]) -> Member {
    Member {
        group_instance_id: Some(instance.into()),
        ..member(id, topics)
    }
}

/// `m` claiming `owned` (as `ConsumerProtocolSubscription` v2+ carries it) in `generation`.
pub(crate) fn owning(mut m: Member, owned: &[(&str, i32)], generation: i32) -> Member {
    m.subscription.owned_partitions = owned
        .iter()
        .map(|(t, p)| TopicPartition::new(*t, *p))
        .collect();
    m.subscription.generation_id = generation;
    m
}

/// An assignment as `(member, ["topic-partition", ...])`, partitions sorted.
pub(crate) fn parts(got: &BTreeMap<String, Assignment>) -> Vec<(String, Vec<String>)> {
    got.iter()
        .map(|(m, a)| {
            let mut ps = a.partitions.clone();
            ps.sort();
            (m.clone(), ps.iter().map(ToString::to_string).collect())
        })
        .collect()
}

pub(crate) fn want(w: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    w.iter()
        .map(|(m, ps)| (m.to_string(), ps.iter().map(|p| p.to_string()).collect()))
        .collect()
}

pub(crate) fn set(a: &Assignment) -> BTreeSet<TopicPartition> {
    a.partitions.iter().cloned().collect()
}

/// The members of the next round: each claims what `got` gave it, in `generation`, with the
/// user data `assignor` derives from that (members absent from `got` claim nothing).
pub(crate) fn next_round(
    assignor: &dyn PartitionAssignor,
    members: &[Member],
    got: &BTreeMap<String, Assignment>,
    generation: i32,
) -> Vec<Member> {
    members
        .iter()
        .map(|m| {
            let owned = got
                .get(&m.member_id)
                .map(|a| a.partitions.clone())
                .unwrap_or_default();
            let mut m = m.clone();
            m.subscription.user_data =
                assignor.subscription_user_data(&m.subscription.topics, &owned, generation);
            m.subscription.owned_partitions = owned;
            m.subscription.generation_id = generation;
            m
        })
        .collect()
}

/// A random group: topics `t0..t3` with 0..8 partitions each, and 1..8 members subscribing to
/// random subsets of them and of `gone` (a topic that does not exist), some of them static.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub partitions_per_topic: BTreeMap<String, i32>,
    pub members: Vec<Member>,
}

const TOPICS: [&str; 5] = ["t0", "t1", "t2", "t3", "gone"];

fn group(counts: Vec<i32>, members: Vec<(Vec<bool>, bool)>) -> Group {
    let partitions_per_topic = counts
        .iter()
        .enumerate()
        .map(|(i, n)| (TOPICS[i].to_string(), *n))
        .collect();
    let members = members
        .into_iter()
        .enumerate()
        .map(|(j, (subs, is_static))| {
            let topics: Vec<&str> = TOPICS
                .iter()
                .zip(&subs)
                .filter(|(_, s)| **s)
                .map(|(t, _)| *t)
                .collect();
            let id = format!("m{j}");
            if is_static {
                static_member(&id, &format!("i{}", 9 - j), &topics)
            } else {
                member(&id, &topics)
            }
        })
        .collect();
    Group {
        partitions_per_topic,
        members,
    }
}

pub(crate) fn arb_group() -> impl Strategy<Value = Group> {
    (
        proptest::collection::vec(0i32..8, 4),
        proptest::collection::vec(
            (proptest::collection::vec(any::<bool>(), 5), any::<bool>()),
            1..8,
        ),
    )
        .prop_map(|(counts, members)| group(counts, members))
}

/// A random group whose members all subscribe to the same topics.
pub(crate) fn arb_uniform_group() -> impl Strategy<Value = Group> {
    (
        proptest::collection::vec(0i32..8, 4),
        proptest::collection::vec(any::<bool>(), 5),
        proptest::collection::vec(any::<bool>(), 1..8),
    )
        .prop_map(|(counts, subs, statics)| {
            group(
                counts,
                statics.into_iter().map(|s| (subs.clone(), s)).collect(),
            )
        })
}

fn subscribes(m: &Member, topic: &str) -> bool {
    m.subscription.topics.iter().any(|t| t == topic)
}

/// Every member id has an entry and nothing else does; every assigned partition exists, is
/// subscribed by its member and is assigned once.
pub(crate) fn check_valid(
    ppt: &BTreeMap<String, i32>,
    members: &[Member],
    got: &BTreeMap<String, Assignment>,
) -> Result<(), TestCaseError> {
    let ids: BTreeSet<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
    let keys: BTreeSet<&str> = got.keys().map(String::as_str).collect();
    prop_assert_eq!(ids, keys);
    let mut seen = HashSet::new();
    for (id, a) in got {
        let m = members.iter().find(|m| &m.member_id == id).unwrap();
        for tp in &a.partitions {
            let count = ppt.get(&tp.topic).copied().unwrap_or(0);
            prop_assert!((0..count).contains(&tp.partition), "{} does not exist", tp);
            prop_assert!(
                subscribes(m, &tp.topic),
                "{} is not subscribed by {}",
                tp,
                id
            );
            prop_assert!(seen.insert(tp.clone()), "{} assigned twice", tp);
        }
    }
    Ok(())
}

/// Every partition of every subscribed topic that exists is assigned.
pub(crate) fn check_complete(
    ppt: &BTreeMap<String, i32>,
    members: &[Member],
    got: &BTreeMap<String, Assignment>,
) -> Result<(), TestCaseError> {
    let assigned: HashSet<&TopicPartition> = got.values().flat_map(|a| &a.partitions).collect();
    for (topic, &count) in ppt {
        if !members.iter().any(|m| subscribes(m, topic)) {
            continue;
        }
        for p in 0..count {
            let tp = TopicPartition::new(topic.clone(), p);
            prop_assert!(assigned.contains(&tp), "{} is not assigned", tp);
        }
    }
    Ok(())
}

/// The sticky balance bound: members with the same (existing) subscriptions hold numbers of
/// partitions that differ by at most one, and no partition could move from a member to one
/// with at least two fewer partitions that subscribes to its topic.
pub(crate) fn check_balanced(
    ppt: &BTreeMap<String, i32>,
    members: &[Member],
    got: &BTreeMap<String, Assignment>,
) -> Result<(), TestCaseError> {
    let effective = |m: &Member| -> BTreeSet<String> {
        m.subscription
            .topics
            .iter()
            .filter(|t| ppt.get(*t).is_some_and(|n| *n > 0))
            .cloned()
            .collect()
    };
    let load = |m: &Member| got[&m.member_id].partitions.len();
    for a in members {
        for b in members {
            if effective(a) == effective(b) {
                prop_assert!(
                    load(a) <= load(b) + 1,
                    "{} has {} partitions, {} with the same subscription {}",
                    a.member_id,
                    load(a),
                    b.member_id,
                    load(b)
                );
            }
            if load(a) >= load(b) + 2 {
                for tp in &got[&a.member_id].partitions {
                    prop_assert!(
                        !subscribes(b, &tp.topic),
                        "{} could move from {} ({}) to {} ({})",
                        tp,
                        a.member_id,
                        load(a),
                        b.member_id,
                        load(b)
                    );
                }
            }
        }
    }
    Ok(())
}
