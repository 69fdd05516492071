//! [`RangeAssignor`]: Kafka's `range` strategy (the Java client's long-time default). Topic by
//! topic, the members subscribed to the topic are put in `MemberInfo` order and the partitions
//! are cut into contiguous ranges, one per member; when the partitions do not divide evenly the
//! first `partitions % members` members get one more. Topics are independent, so with many
//! topics the first members can end up with noticeably more partitions than the last.
//!
//! Not here: the rack-aware variant of Kafka 3.5+ (KIP-881), which needs replica racks the
//! assignor is not given. Previous ownership plays no part.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    distinct_members, empty_assignments, member_order, partition_count, sort_assignments,
    Assignment, Member, PartitionAssignor,
};
use crate::admin::TopicPartition;

/// Kafka's `range` assignor (`org.apache.kafka.clients.consumer.RangeAssignor`).
#[derive(Debug, Default, Clone)]
pub struct RangeAssignor;

impl PartitionAssignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
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
        let topics: BTreeSet<&str> = subscribed.iter().flatten().copied().collect();
        for topic in topics {
            let count = partition_count(partitions_per_topic, topic);
            let consumers: Vec<&Member> = members
                .iter()
                .zip(&subscribed)
                .filter(|(_, s)| s.contains(topic))
                .map(|(m, _)| *m)
                .collect();
            let n = consumers.len() as i32;
            if n == 0 || count == 0 {
                continue;
            }
            let (per, extra) = (count / n, count % n);
            for (i, m) in (0..).zip(&consumers) {
                let start = per * i + i.min(extra);
                let len = per + i32::from(i < extra);
                if let Some(a) = out.get_mut(&m.member_id) {
                    a.partitions
                        .extend((start..start + len).map(|p| TopicPartition::new(topic, p)));
                }
            }
        }
        sort_assignments(&mut out);
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
        let got = RangeAssignor.assign(&ppt, &members);
        assert_eq!(
            parts(&got),
            want(&[
                ("C0", &["t0-0", "t0-1", "t1-0", "t1-1"]),
                ("C1", &["t0-2", "t1-2"]),
            ])
        );
    }

    #[test]
    fn ranges_follow_member_info_order_and_subscriptions() {
        let ppt = topics(&[("a", 7), ("b", 2), ("gone", 0)]);
        let members = [
            member("m1", &["a", "b"]),
            static_member("m9", "i0", &["a"]),
            member("m0", &["a", "gone", "missing"]),
            member("idle", &["missing"]),
        ];
        let got = RangeAssignor.assign(&ppt, &members);
        // Topic a, 7 partitions over [m9 (static), m0, m1]: 3, 2, 2. Topic b over [m1]: 2.
        assert_eq!(
            parts(&got),
            want(&[
                ("idle", &[]),
                ("m0", &["a-3", "a-4"]),
                ("m1", &["a-5", "a-6", "b-0", "b-1"]),
                ("m9", &["a-0", "a-1", "a-2"]),
            ])
        );
    }

    #[test]
    fn more_members_than_partitions() {
        let ppt = topics(&[("t", 2)]);
        let members: Vec<Member> = (0..4).map(|i| member(&format!("c{i}"), &["t"])).collect();
        let got = RangeAssignor.assign(&ppt, &members);
        assert_eq!(
            parts(&got),
            want(&[("c0", &["t-0"]), ("c1", &["t-1"]), ("c2", &[]), ("c3", &[])])
        );
    }

    proptest! {
        #[test]
        fn range_is_valid_complete_and_balanced_per_topic(g in arb_group()) {
            let got = RangeAssignor.assign(&g.partitions_per_topic, &g.members);
            check_valid(&g.partitions_per_topic, &g.members, &got)?;
            check_complete(&g.partitions_per_topic, &g.members, &got)?;
            // Per topic, the subscribers' shares differ by at most one and are contiguous.
            for (topic, &count) in &g.partitions_per_topic {
                let mut shares: Vec<Vec<i32>> = Vec::new();
                for (id, a) in &got {
                    let m = g.members.iter().find(|m| &m.member_id == id).unwrap();
                    if m.subscription.topics.contains(topic) {
                        shares.push(a.partitions.iter().filter(|tp| &tp.topic == topic).map(|tp| tp.partition).collect());
                    }
                }
                if shares.is_empty() { continue; }
                let lens: Vec<usize> = shares.iter().map(Vec::len).collect();
                prop_assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
                prop_assert_eq!(lens.iter().sum::<usize>(), count as usize);
                for s in &shares {
                    prop_assert!(s.windows(2).all(|w| w[1] == w[0] + 1), "not contiguous: {:?}", s);
                }
            }
        }
    }
}
