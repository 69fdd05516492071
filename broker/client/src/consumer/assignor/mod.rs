//! Partition assignors: the group leader's half of the consumer group protocol. After a
//! JoinGroup the leader sees every member's [`Subscription`]; an assignor turns those and the
//! topics' partition counts into one [`Assignment`] per member, which the leader sends back in
//! SyncGroup. The four assignors of Kafka's Java client are here, under Java's protocol names
//! so Brook and Java (or librdkafka, ...) members can share a group:
//!
//! - [`RangeAssignor`] (`range`): per topic, contiguous ranges of partitions over the members
//!   subscribed to it.
//! - [`RoundRobinAssignor`] (`roundrobin`): all partitions dealt one by one over the members.
//! - [`StickyAssignor`] (`sticky`, KIP-54): balanced, and partitions stay with their previous
//!   owners as far as balance allows.
//! - [`CooperativeStickyAssignor`] (`cooperative-sticky`, KIP-429): the sticky assignment,
//!   minus partitions that would move from one owner to another in the same round, so the
//!   owner revokes them first and a follow-up rebalance hands them over.
//!
//! [`by_name`] looks an assignor up by protocol name or Java class name
//! (`partition.assignment.strategy`). Members are ordered as Java's `MemberInfo` orders them:
//! static members (with a `group.instance.id`) first, by instance id, then the others by member
//! id, both compared as Java compares strings (UTF-16 code units).
//!
//! This module computes assignments only; it does no I/O and holds no state. Joining, syncing,
//! revoking and remembering the last assignment belong to the group membership code. Rack-aware
//! placement (KIP-881) is not implemented: partition counts carry no replica racks.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::admin::TopicPartition;
pub use crate::consumer::protocol::{Assignment, Subscription};

mod range;
mod round_robin;
mod sticky;
mod sticky_engine;
#[cfg(test)]
mod testkit;

pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::{CooperativeStickyAssignor, StickyAssignor};

/// How members give up partitions in a rebalance (KIP-429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before rejoining.
    Eager,
    /// Members keep their partitions across the rebalance and revoke only what moved.
    Cooperative,
}

/// A member as the group leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub subscription: Subscription,
}

/// One partition assignment strategy.
pub trait PartitionAssignor: Send + Sync + std::fmt::Debug {
    /// The protocol name in JoinGroup: "range", "roundrobin", "sticky", "cooperative-sticky" (Java's names).
    fn name(&self) -> &str;

    /// The rebalance protocol this assignor needs.
    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    /// User data this member puts in its subscription; `owned` and `generation` are what it held after its last successful sync (empty / -1 at first).
    fn subscription_user_data(
        &self,
        topics: &[String],
        owned: &[TopicPartition],
        generation: i32,
    ) -> Option<Vec<u8>> {
        let _ = (topics, owned, generation);
        None
    }

    /// Run on the leader: the assignment of every member (every member id of `members` gets an entry, possibly empty). `partitions_per_topic` has the partition count of every topic any member subscribed to that exists; topics absent from it are skipped.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> BTreeMap<String, Assignment>;

    /// Called on every member (the leader included) with the assignment it got in SyncGroup,
    /// user data and all, and the generation it belongs to, before the consumer applies it
    /// (Java's `onAssignment`). Assignors that spread group-wide facts through the
    /// assignment's user data (Kafka Streams' host map) read them here.
    fn on_assignment(&self, assignment: &Assignment, generation: i32) {
        let _ = (assignment, generation);
    }
}

/// Looks up Java's names ("range", "roundrobin", "sticky", "cooperative-sticky", also accepting Java class names like org.apache.kafka.clients.consumer.RangeAssignor / CooperativeStickyAssignor); None for unknown.
pub fn by_name(name: &str) -> Option<Arc<dyn PartitionAssignor>> {
    let name = name.trim();
    let class = name
        .strip_prefix("org.apache.kafka.clients.consumer.")
        .unwrap_or(name);
    let assignor: Arc<dyn PartitionAssignor> = match (name, class) {
        ("range", _) | (_, "RangeAssignor") => Arc::new(RangeAssignor),
        ("roundrobin", _) | (_, "RoundRobinAssignor") => Arc::new(RoundRobinAssignor),
        ("sticky", _) | (_, "StickyAssignor") => Arc::new(StickyAssignor),
        ("cooperative-sticky", _) | (_, "CooperativeStickyAssignor") => {
            Arc::new(CooperativeStickyAssignor)
        }
        _ => return None,
    };
    Some(assignor)
}

// ---- helpers shared by the assignors ----

/// Java's `String.compareTo`: lexicographic over UTF-16 code units.
pub(crate) fn java_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java's `MemberInfo` order: static members first, by `group.instance.id`; then dynamic
/// members by member id. (Member id breaks ties between equal instance ids, which a
/// coordinator never produces, so the order is total.)
pub(crate) fn member_order(a: &Member, b: &Member) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => java_cmp(x, y).then_with(|| java_cmp(&a.member_id, &b.member_id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => java_cmp(&a.member_id, &b.member_id),
    }
}

/// The members with distinct ids (the first of any duplicates), in input order.
pub(crate) fn distinct_members(members: &[Member]) -> Vec<&Member> {
    let mut seen = HashSet::new();
    members
        .iter()
        .filter(|m| seen.insert(m.member_id.as_str()))
        .collect()
}

/// An empty assignment for every member id.
pub(crate) fn empty_assignments(members: &[Member]) -> BTreeMap<String, Assignment> {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Assignment::default()))
        .collect()
}

/// The partition count of `topic`, 0 when absent or negative.
pub(crate) fn partition_count(partitions_per_topic: &BTreeMap<String, i32>, topic: &str) -> i32 {
    partitions_per_topic.get(topic).copied().unwrap_or(0).max(0)
}

/// Sorts every assignment's partitions by topic, then partition.
pub(crate) fn sort_assignments(out: &mut BTreeMap<String, Assignment>) {
    for a in out.values_mut() {
        a.partitions.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_name_knows_java_names_and_classes() {
        for (name, want) in [
            ("range", "range"),
            ("roundrobin", "roundrobin"),
            ("sticky", "sticky"),
            ("cooperative-sticky", "cooperative-sticky"),
            ("org.apache.kafka.clients.consumer.RangeAssignor", "range"),
            (
                "org.apache.kafka.clients.consumer.RoundRobinAssignor",
                "roundrobin",
            ),
            ("org.apache.kafka.clients.consumer.StickyAssignor", "sticky"),
            (
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
                "cooperative-sticky",
            ),
            ("CooperativeStickyAssignor", "cooperative-sticky"),
            (" range ", "range"),
        ] {
            assert_eq!(
                by_name(name).map(|a| a.name().to_owned()),
                Some(want.into())
            );
        }
        for unknown in [
            "",
            "Range",
            "round-robin",
            "org.apache.kafka.clients.consumer.range",
        ] {
            assert!(by_name(unknown).is_none(), "{unknown}");
        }
        assert_eq!(
            by_name("cooperative-sticky").unwrap().protocol(),
            RebalanceProtocol::Cooperative
        );
        for eager in ["range", "roundrobin", "sticky"] {
            assert_eq!(by_name(eager).unwrap().protocol(), RebalanceProtocol::Eager);
        }
    }

    #[test]
    fn members_are_ordered_like_java_member_info() {
        let m = |id: &str, instance: Option<&str>| Member {
            member_id: id.into(),
            group_instance_id: instance.map(Into::into),
            subscription: Subscription::default(),
        };
        let mut ms = [
            m("a", None),
            m("z", Some("i2")),
            m("b", Some("i1")),
            m("0", None),
        ];
        ms.sort_by(member_order);
        let ids: Vec<&str> = ms.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(ids, ["b", "z", "0", "a"]);
        // UTF-16 order: U+FF5E sorts after U+1F600 in Java (surrogates are 0xD8xx).
        assert_eq!(java_cmp("\u{ff5e}", "\u{1f600}"), Ordering::Greater);
        assert_eq!("\u{ff5e}".cmp("\u{1f600}"), Ordering::Less);
    }
}
