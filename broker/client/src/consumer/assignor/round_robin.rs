//! [`RoundRobinAssignor`]: Kafka's `roundrobin` strategy. Every partition of every subscribed
//! topic, sorted by topic then partition, is dealt in turn over the members in `MemberInfo`
//! order; a member not subscribed to a partition's topic is passed over for that partition (the
//! turn moves on to the next member that is). With identical subscriptions the members' counts
//! differ by at most one; with different subscriptions there is no such bound.
//!
//! Previous ownership plays no part, and there is no rack awareness.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    distinct_members, empty_assignments, java_cmp, member_order, partition_count, Assignment,
    Member, PartitionAssignor,
};
use crate::admin::TopicPartition;

/// Kafka's `roundrobin` assignor (`org.apache.kafka.clients.consumer.RoundRobinAssignor`).
#[derive(Debug, Default, Clone)]
pub struct RoundRobinAssignor;

impl PartitionAssignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> BTreeMap<String, Assignment> {
        let mut out = empty_assignments(members);
        let mut members = distinct_members(members);
        members.sort_by(|a, b| member_order(a, b));
        let subscribed: Vec<BTreeSet<&str>> = members
            .iter()
            .map(|m| m.subscription.topics.iter().map(String::as_str).collect())
            .collect();
        let mut topics: Vec<&str> = subscribed
            .iter()
            .flatten()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        topics.sort_by(|a, b| java_cmp(a, b));
        let n = members.len();
        let mut turn = 0;
        for topic in topics {
            for p in 0..partition_count(partitions_per_topic, topic) {
                // The topic came from some member's subscription, so the search ends.
                while !subscribed[turn].contains(topic) {
                    turn = (turn + 1) % n;
                }
                if let Some(a) = out.get_mut(&members[turn].member_id) {
                    a.partitions.push(TopicPartition::new(topic, p));
                }
                turn = (turn + 1) % n;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kafka_example_two_members_two_topics() {
        let ppt = topics(&[("t0", 3), ("t1", 3)]);
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let got = RoundRobinAssignor.assign(&ppt, &members);
        assert_eq!(
            parts(&got),
            want(&[
                ("C0", &["t0-0", "t0-2", "t1-1"]),
                ("C1", &["t0-1", "t1-0", "t1-2"]),
            ])
        );
    }

    #[test]
    fn kafka_example_different_subscriptions() {
        // Kafka's javadoc / KIP-54 example: C0 {t0}, C1 {t0, t1}, C2 {t0, t1, t2}; t0, t1, t2
        // with 1, 2 and 3 partitions.
        let ppt = topics(&[("t0", 1), ("t1", 2), ("t2", 3)]);
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let got = RoundRobinAssignor.assign(&ppt, &members);
        assert_eq!(
            parts(&got),
            want(&[
                ("C0", &["t0-0"]),
                ("C1", &["t1-0"]),
                ("C2", &["t1-1", "t2-0", "t2-1", "t2-2"]),
            ])
        );
    }

    #[test]
    fn static_members_deal_first() {
        let ppt = topics(&[("t", 4)]);
        let members = [
            member("a", &["t"]),
            static_member("z", "inst-1", &["t"]),
            static_member("y", "inst-2", &["t", "missing"]),
        ];
        let got = RoundRobinAssignor.assign(&ppt, &members);
        assert_eq!(
            parts(&got),
            want(&[("a", &["t-2"]), ("y", &["t-1"]), ("z", &["t-0", "t-3"])])
        );
    }

    proptest! {
        #[test]
        fn round_robin_is_valid_and_complete(g in arb_group()) {
            let got = RoundRobinAssignor.assign(&g.partitions_per_topic, &g.members);
            check_valid(&g.partitions_per_topic, &g.members, &got)?;
            check_complete(&g.partitions_per_topic, &g.members, &got)?;
        }

        #[test]
        fn round_robin_balances_identical_subscriptions(g in arb_uniform_group()) {
            let got = RoundRobinAssignor.assign(&g.partitions_per_topic, &g.members);
            check_valid(&g.partitions_per_topic, &g.members, &got)?;
            let lens: Vec<usize> = got.values().map(|a| a.partitions.len()).collect();
            prop_assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
        }
    }
}
