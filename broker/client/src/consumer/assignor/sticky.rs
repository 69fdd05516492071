//! [`StickyAssignor`] (`sticky`, KIP-54) and [`CooperativeStickyAssignor`]
//! (`cooperative-sticky`, KIP-429): assignments that are as balanced as possible and, within
//! that, keep as many partitions as possible with their previous owners.
//!
//! Previous ownership is read as Java's assignors read it. The eager `sticky` assignor's
//! members revoke everything before rejoining, so each one carries its last assignment and
//! generation in its user data (Java's `StickyAssignor` schema: `[topic, [partition]]` then an
//! `int32` generation, the generation absent in its oldest version); a member without such
//! user data is taken at its `owned_partitions` and `generation_id`. The cooperative assignor's
//! members keep their partitions and report them in `owned_partitions`; the generation comes
//! from `generation_id` (subscription v2+) or else from the user data, which is just the
//! generation as an `int32`, so Java members and ours understand each other. When several
//! members claim a partition, the claim of the highest generation stands; claims tied at the
//! highest generation cancel out. A claim on a partition that no longer exists or whose topic
//! the member no longer subscribes to is dropped.
//!
//! The assignment itself (in `sticky_engine.rs`): when every member subscribes to the same
//! topics, each member keeps its previous partitions up to its quota (`⌊P/n⌋`, or one more for
//! the first `P mod n` members that held that many) and the rest are dealt round-robin to the
//! members under quota, so the moves are as few as balance allows. Otherwise previous
//! partitions are kept, the others placed on the least loaded subscriber, fewest-subscriber
//! partitions first, and then chains of moves are applied while one can take a partition from
//! a member and give one to a subscriber with at least two fewer (no such chain left means no
//! assignment has a smaller sum of squared loads). Among the chains that qualify the ones
//! moving fewest previously owned partitions are preferred, and a final pass moves partitions
//! back to their previous owners wherever the loads allow it. Members with the same
//! subscriptions end up within one partition of each other.
//!
//! The cooperative assignor then withholds (assigns to nobody) every partition that a member
//! other than its new owner still claims in its `owned_partitions`: that member revokes it
//! when it sees its assignment, rejoins, and the next rebalance hands the partition over, as
//! in Java's `CooperativeStickyAssignor`. No partition is ever given to one member while
//! another may still be consuming it. That is a little stricter than Java in one corner: a
//! partition that stays with the member holding the winning claim is withheld for a round when
//! a member of an older generation claims it too (Java keeps it with the winner at once).
//!
//! Other differences from Java, none of which matter for interoperability (the leader alone
//! computes the assignment): with unequal subscriptions Java stops balancing when no single
//! partition can move to a member with two fewer, while this engine also follows chains of
//! moves, so its balance can be better and the partitions it picks differ; and there is no
//! rack-aware placement (KIP-881).

use std::collections::{BTreeMap, HashMap};

use brook_protocol::messages::codec::{get_i32, put_i32};

use super::{
    distinct_members, empty_assignments, Assignment, Member, PartitionAssignor, RebalanceProtocol,
};
use crate::admin::TopicPartition;
use crate::consumer::protocol::{
    get_topic_partitions, put_topic_partitions, ProtocolError, Reader, Subscription,
};

use super::sticky_engine::{self as engine, Claim};

/// Kafka's `sticky` assignor (`org.apache.kafka.clients.consumer.StickyAssignor`), eager.
#[derive(Debug, Default, Clone)]
pub struct StickyAssignor;

/// Kafka's `cooperative-sticky` assignor
/// (`org.apache.kafka.clients.consumer.CooperativeStickyAssignor`), cooperative.
#[derive(Debug, Default, Clone)]
pub struct CooperativeStickyAssignor;

impl PartitionAssignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }

    /// Java's `StickyAssignor` user data (its last assignment and generation), or none before
    /// the first assignment.
    fn subscription_user_data(
        &self,
        _topics: &[String],
        owned: &[TopicPartition],
        generation: i32,
    ) -> Option<Vec<u8>> {
        if owned.is_empty() && generation < 0 {
            return None;
        }
        Some(encode_sticky_user_data(owned, generation))
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> BTreeMap<String, Assignment> {
        let distinct = distinct_members(members);
        let claims: Vec<Claim> = distinct
            .iter()
            .map(|m| sticky_claim(&m.subscription))
            .collect();
        let result = engine::assign(partitions_per_topic, &distinct, &claims, false);
        collect(members, &distinct, result)
    }
}

impl PartitionAssignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    /// The generation as Java's `CooperativeStickyAssignor` encodes it: one `int32`.
    fn subscription_user_data(
        &self,
        _topics: &[String],
        _owned: &[TopicPartition],
        generation: i32,
    ) -> Option<Vec<u8>> {
        Some(generation.to_be_bytes().to_vec())
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> BTreeMap<String, Assignment> {
        let distinct = distinct_members(members);
        let claims: Vec<Claim> = distinct
            .iter()
            .map(|m| cooperative_claim(&m.subscription))
            .collect();
        let mut result = engine::assign(partitions_per_topic, &distinct, &claims, false);
        withhold_transfers(&distinct, &mut result);
        collect(members, &distinct, result)
    }
}

/// Removes from `result` every partition some other member still claims as owned.
fn withhold_transfers(members: &[&Member], result: &mut [Vec<TopicPartition>]) {
    let mut claimants: HashMap<&TopicPartition, Vec<usize>> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        for tp in &m.subscription.owned_partitions {
            let c = claimants.entry(tp).or_default();
            if !c.contains(&i) {
                c.push(i);
            }
        }
    }
    for (i, parts) in result.iter_mut().enumerate() {
        parts.retain(|tp| claimants.get(tp).is_none_or(|c| c.iter().all(|&j| j == i)));
    }
}

fn collect(
    members: &[Member],
    distinct: &[&Member],
    result: Vec<Vec<TopicPartition>>,
) -> BTreeMap<String, Assignment> {
    let mut out = empty_assignments(members);
    for (m, partitions) in distinct.iter().zip(result) {
        if let Some(a) = out.get_mut(&m.member_id) {
            a.partitions = partitions;
        }
    }
    out
}

/// What an eager sticky member claims: its user data if it is Java's sticky user data, else
/// its subscription's owned partitions and generation.
fn sticky_claim(s: &Subscription) -> Claim {
    if let Some(Ok((partitions, generation))) = s
        .user_data
        .as_deref()
        .filter(|u| !u.is_empty())
        .map(decode_sticky_user_data)
    {
        return Claim {
            partitions,
            generation: generation.unwrap_or(-1),
        };
    }
    Claim {
        partitions: s.owned_partitions.clone(),
        generation: s.generation_id,
    }
}

/// What a cooperative member claims: its owned partitions, in the generation of its
/// subscription (v2+) or else of its user data (unknown when neither has one).
fn cooperative_claim(s: &Subscription) -> Claim {
    let generation = if s.generation_id >= 0 {
        s.generation_id
    } else {
        s.user_data
            .as_deref()
            .and_then(|mut b| get_i32(&mut b).ok())
            .unwrap_or(-1)
    };
    Claim {
        partitions: s.owned_partitions.clone(),
        generation,
    }
}

/// Java's `StickyAssignor` user data, version 1: `previous_assignment: [topic: string,
/// partitions: [int32]]`, `generation: int32` (no version header).
pub(crate) fn encode_sticky_user_data(partitions: &[TopicPartition], generation: i32) -> Vec<u8> {
    let mut out = Vec::new();
    put_topic_partitions(&mut out, partitions);
    put_i32(&mut out, generation);
    out
}

/// Reads Java's `StickyAssignor` user data of either version; the generation is `None` for
/// version 0 (no bytes left for it), as Java falls back to its older schema.
pub(crate) fn decode_sticky_user_data(
    bytes: &[u8],
) -> Result<(Vec<TopicPartition>, Option<i32>), ProtocolError> {
    let mut buf = bytes;
    let partitions = get_topic_partitions(
        &mut buf,
        Reader("StickyAssignorUserData"),
        "previous_assignment",
    )?;
    Ok((partitions, get_i32(&mut buf).ok()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::testkit::*;
    use super::*;
    use proptest::prelude::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn sticky_user_data_is_javas() {
        let b = encode_sticky_user_data(&[tp("t", 0), tp("u", 2), tp("t", 1)], 3);
        assert_eq!(
            b,
            [
                0, 0, 0, 2, // two topics
                0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // t: 0, 1
                0, 1, b'u', 0, 0, 0, 1, 0, 0, 0, 2, // u: 2
                0, 0, 0, 3, // generation
            ]
        );
        assert_eq!(
            decode_sticky_user_data(&b).unwrap(),
            (vec![tp("t", 0), tp("t", 1), tp("u", 2)], Some(3))
        );
        // Version 0: no generation.
        assert_eq!(
            decode_sticky_user_data(&b[..b.len() - 4]).unwrap(),
            (vec![tp("t", 0), tp("t", 1), tp("u", 2)], None)
        );
        for i in 0..b.len() - 4 {
            assert!(decode_sticky_user_data(&b[..i]).is_err(), "prefix {i}");
        }
        assert!(decode_sticky_user_data(&[0x7f, 0xff, 0xff, 0xff]).is_err());
        assert_eq!(StickyAssignor.subscription_user_data(&[], &[], -1), None);
        assert_eq!(
            StickyAssignor.subscription_user_data(&[], &[], 4),
            Some(vec![0, 0, 0, 0, 0, 0, 0, 4])
        );
    }

    #[test]
    fn cooperative_user_data_is_the_generation() {
        let a = CooperativeStickyAssignor;
        assert_eq!(
            a.subscription_user_data(&[], &[], 5),
            Some(vec![0, 0, 0, 5])
        );
        assert_eq!(
            a.subscription_user_data(&[], &[tp("t", 1)], -1),
            Some(vec![0xff, 0xff, 0xff, 0xff])
        );
        let claim = |generation_id: i32, user_data: Option<Vec<u8>>| {
            cooperative_claim(&Subscription {
                generation_id,
                user_data,
                ..Subscription::default()
            })
            .generation
        };
        assert_eq!(claim(7, Some(vec![0, 0, 0, 5])), 7);
        assert_eq!(claim(-1, Some(vec![0, 0, 0, 5])), 5);
        assert_eq!(claim(-1, Some(vec![0, 0])), -1);
        assert_eq!(claim(-1, None), -1);
    }

    #[test]
    fn kip_54_example_one_identical_subscriptions() {
        // Three consumers on t0..t3 with two partitions each.
        let ppt = topics(&[("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)]);
        let all = ["t0", "t1", "t2", "t3"];
        let members = [member("C0", &all), member("C1", &all), member("C2", &all)];
        let got = StickyAssignor.assign(&ppt, &members);
        assert_eq!(
            parts(&got),
            want(&[
                ("C0", &["t0-0", "t1-1", "t3-0"]),
                ("C1", &["t0-1", "t2-0", "t3-1"]),
                ("C2", &["t1-0", "t2-1"]),
            ])
        );
        // C1 leaves: C0 and C2 keep everything and split C1's partitions.
        let survivors = next_round(
            &StickyAssignor,
            &[members[0].clone(), members[2].clone()],
            &got,
            1,
        );
        let again = StickyAssignor.assign(&ppt, &survivors);
        assert!(set(&again["C0"]).is_superset(&set(&got["C0"])));
        assert!(set(&again["C2"]).is_superset(&set(&got["C2"])));
        assert_eq!(
            (again["C0"].partitions.len(), again["C2"].partitions.len()),
            (4, 4)
        );
        check_complete(&ppt, &survivors, &again).unwrap();
    }

    #[test]
    fn kip_54_example_two_different_subscriptions() {
        let ppt = topics(&[("t0", 1), ("t1", 2), ("t2", 3)]);
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let got = StickyAssignor.assign(&ppt, &members);
        assert_eq!(
            parts(&got),
            want(&[
                ("C0", &["t0-0"]),
                ("C1", &["t1-0", "t1-1"]),
                ("C2", &["t2-0", "t2-1", "t2-2"]),
            ])
        );
        // C0 leaves: round robin would reshuffle; sticky just gives t0-0 to C1.
        let rest = next_round(&StickyAssignor, &members[1..], &got, 1);
        let again = StickyAssignor.assign(&ppt, &rest);
        assert_eq!(
            parts(&again),
            want(&[
                ("C1", &["t0-0", "t1-0", "t1-1"]),
                ("C2", &["t2-0", "t2-1", "t2-2"]),
            ])
        );
    }

    #[test]
    fn eager_members_are_read_from_java_user_data() {
        // Owned partitions empty (eager members revoke before joining); user data has them.
        let ppt = topics(&[("t", 4)]);
        let mut a = member("a", &["t"]);
        a.subscription.user_data = Some(encode_sticky_user_data(&[tp("t", 2), tp("t", 3)], 4));
        let mut b = member("b", &["t"]);
        b.subscription.user_data = Some(encode_sticky_user_data(&[tp("t", 0), tp("t", 1)], 4));
        let got = StickyAssignor.assign(&ppt, &[a, b]);
        assert_eq!(
            parts(&got),
            want(&[("a", &["t-2", "t-3"]), ("b", &["t-0", "t-1"])])
        );
    }

    #[test]
    fn the_highest_generation_wins_a_conflicting_claim() {
        let ppt = topics(&[("t", 2)]);
        // b's claim on t-0 is newer than a's, whichever comes first.
        let a = owning(member("a", &["t"]), &[("t", 0)], 3);
        let b = owning(member("b", &["t"]), &[("t", 0)], 5);
        for members in [[a.clone(), b.clone()], [b.clone(), a.clone()]] {
            let got = StickyAssignor.assign(&ppt, &members);
            assert_eq!(parts(&got), want(&[("a", &["t-1"]), ("b", &["t-0"])]));
            // a may still be consuming t-0: the cooperative assignor gives it to nobody
            // until a has revoked it.
            let got = CooperativeStickyAssignor.assign(&ppt, &members);
            assert_eq!(parts(&got), want(&[("a", &["t-1"]), ("b", &[])]));
        }
        // Eager generations from user data work the same way.
        let mut a = member("a", &["t"]);
        a.subscription.user_data = Some(encode_sticky_user_data(&[tp("t", 0), tp("t", 1)], 2));
        let mut b = member("b", &["t"]);
        b.subscription.user_data = Some(encode_sticky_user_data(&[tp("t", 1)], 3));
        let got = StickyAssignor.assign(&ppt, &[a, b]);
        assert_eq!(parts(&got), want(&[("a", &["t-0"]), ("b", &["t-1"])]));
    }

    #[test]
    fn claims_tied_at_the_highest_generation_cancel() {
        // Both claim t-0 in generation 5; neither claim counts, so the partition goes where
        // balance wants it, and the cooperative assignor withholds it for a round.
        let ppt = topics(&[("t", 3)]);
        let a = owning(member("a", &["t"]), &[("t", 0), ("t", 1)], 5);
        let b = owning(member("b", &["t"]), &[("t", 0), ("t", 2)], 5);
        let got = StickyAssignor.assign(&ppt, &[a.clone(), b.clone()]);
        assert!(set(&got["a"]).contains(&tp("t", 1)));
        assert!(set(&got["b"]).contains(&tp("t", 2)));
        check_complete(&ppt, &[a.clone(), b.clone()], &got).unwrap();
        let coop = CooperativeStickyAssignor.assign(&ppt, &[a, b]);
        assert_eq!(parts(&coop), want(&[("a", &["t-1"]), ("b", &["t-2"])]));
    }

    #[test]
    fn kip_429_a_member_joins_cooperatively() {
        // C0 and C1 hold three partitions each; C2 joins.
        let ppt = topics(&[("t", 6)]);
        let c0 = owning(member("C0", &["t"]), &[("t", 0), ("t", 1), ("t", 2)], 1);
        let c1 = owning(member("C1", &["t"]), &[("t", 3), ("t", 4), ("t", 5)], 1);
        let c2 = member("C2", &["t"]);
        let round1 = CooperativeStickyAssignor.assign(&ppt, &[c0.clone(), c1.clone(), c2.clone()]);
        // Each old member keeps two; the partition each gives up goes to nobody yet.
        assert_eq!(
            parts(&round1),
            want(&[
                ("C0", &["t-0", "t-1"]),
                ("C1", &["t-3", "t-4"]),
                ("C2", &[])
            ])
        );
        // They revoke t-2 and t-5 and rejoin: C2 gets them.
        let members = next_round(&CooperativeStickyAssignor, &[c0, c1, c2], &round1, 2);
        let round2 = CooperativeStickyAssignor.assign(&ppt, &members);
        assert_eq!(
            parts(&round2),
            want(&[
                ("C0", &["t-0", "t-1"]),
                ("C1", &["t-3", "t-4"]),
                ("C2", &["t-2", "t-5"])
            ])
        );
    }

    #[test]
    fn a_claim_on_an_unsubscribed_topic_is_dropped_but_still_withheld() {
        // a dropped topic u from its subscription; b subscribes to it.
        let ppt = topics(&[("t", 2), ("u", 2)]);
        let a = owning(member("a", &["t"]), &[("t", 0), ("u", 0), ("u", 1)], 3);
        let b = owning(member("b", &["t", "u"]), &[("t", 1)], 3);
        let eager = StickyAssignor.assign(&ppt, &[a.clone(), b.clone()]);
        // u goes to b, and balance then moves t-1 to a.
        assert_eq!(
            parts(&eager),
            want(&[("a", &["t-0", "t-1"]), ("b", &["u-0", "u-1"])])
        );
        // a still holds u-0 and u-1, b still holds t-1: all three wait a round.
        let coop = CooperativeStickyAssignor.assign(&ppt, &[a, b]);
        assert_eq!(parts(&coop), want(&[("a", &["t-0"]), ("b", &[])]));
    }

    #[test]
    fn vanished_topics_and_partitions_are_dropped() {
        let ppt = topics(&[("t", 2)]);
        let a = owning(member("a", &["t", "x"]), &[("t", 0), ("t", 5), ("x", 0)], 1);
        let b = owning(member("b", &["t"]), &[("t", 1), ("t", -1)], 1);
        let got = StickyAssignor.assign(&ppt, &[a, b]);
        assert_eq!(parts(&got), want(&[("a", &["t-0"]), ("b", &["t-1"])]));
    }

    #[test]
    fn partitions_go_back_to_previous_owners_when_loads_allow() {
        // Previous owners from round robin in a group with mixed subscriptions: balancing
        // moves some partitions off their owners, and the final pass brings back what it can.
        let ppt = topics(&[("t0", 5), ("t1", 4), ("t2", 1)]);
        let members = [
            member("m0", &["t0"]),
            static_member("m1", "i8", &["t0", "t1"]),
            member("m2", &["t2"]),
            member("m3", &["t1", "t2"]),
            member("m4", &["t1", "t2"]),
        ];
        let prior = super::super::RoundRobinAssignor.assign(&ppt, &members);
        let members = next_round(&StickyAssignor, &members, &prior, 1);
        let got = StickyAssignor.assign(&ppt, &members);
        check_balanced(&ppt, &members, &got).unwrap();
        // m2 must take t2-0 from m4 and m1 must give up one of its four; nothing else moves.
        assert_eq!(
            parts(&got),
            want(&[
                ("m0", &["t0-1", "t0-3"]),
                ("m1", &["t0-0", "t0-2", "t0-4"]),
                ("m2", &["t2-0"]),
                ("m3", &["t1-0", "t1-3"]),
                ("m4", &["t1-1", "t1-2"]),
            ])
        );
        let kept_total: usize = members
            .iter()
            .map(|m| kept(&prior, &got, &m.member_id))
            .sum();
        assert_eq!(kept_total, 8);
    }

    fn kept(
        before: &BTreeMap<String, Assignment>,
        after: &BTreeMap<String, Assignment>,
        id: &str,
    ) -> usize {
        match (before.get(id), after.get(id)) {
            (Some(b), Some(a)) => set(b).intersection(&set(a)).count(),
            _ => 0,
        }
    }

    fn total(ppt: &BTreeMap<String, i32>, members: &[Member]) -> usize {
        let subscribed: BTreeSet<&String> = members
            .iter()
            .flat_map(|m| &m.subscription.topics)
            .collect();
        ppt.iter()
            .filter(|(t, _)| subscribed.contains(t))
            .map(|(_, n)| *n as usize)
            .sum()
    }

    proptest! {
        #[test]
        fn sticky_is_valid_complete_and_balanced(g in arb_group()) {
            let got = StickyAssignor.assign(&g.partitions_per_topic, &g.members);
            check_valid(&g.partitions_per_topic, &g.members, &got)?;
            check_complete(&g.partitions_per_topic, &g.members, &got)?;
            check_balanced(&g.partitions_per_topic, &g.members, &got)?;
        }

        #[test]
        fn sticky_is_stable(g in arb_group()) {
            // Nothing changed: the same assignment again, whichever way ownership is carried.
            let got = StickyAssignor.assign(&g.partitions_per_topic, &g.members);
            let members = next_round(&StickyAssignor, &g.members, &got, 1);
            prop_assert_eq!(&StickyAssignor.assign(&g.partitions_per_topic, &members), &got);
            let mut owned_only = members.clone();
            for m in &mut owned_only { m.subscription.user_data = None; }
            prop_assert_eq!(&StickyAssignor.assign(&g.partitions_per_topic, &owned_only), &got);
        }

        #[test]
        fn sticky_from_an_arbitrary_previous_state(g in arb_group(), seed in any::<u64>()) {
            // Previous owners from some other assignor (round robin), partly stale: still valid,
            // complete and balanced.
            let prior = super::super::RoundRobinAssignor.assign(&g.partitions_per_topic, &g.members);
            let mut members = next_round(&StickyAssignor, &g.members, &prior, 1);
            if seed % 3 == 0 {
                members.reverse();
            }
            let got = StickyAssignor.assign(&g.partitions_per_topic, &members);
            check_valid(&g.partitions_per_topic, &members, &got)?;
            check_complete(&g.partitions_per_topic, &members, &got)?;
            check_balanced(&g.partitions_per_topic, &members, &got)?;
        }

        #[test]
        fn sticky_keeps_owners_when_a_member_joins(g in arb_uniform_group()) {
            let ppt = &g.partitions_per_topic;
            let got = StickyAssignor.assign(ppt, &g.members);
            let mut members = next_round(&StickyAssignor, &g.members, &got, 1);
            members.push(member("new", &g.members[0].subscription.topics.iter().map(String::as_str).collect::<Vec<_>>()));
            let again = StickyAssignor.assign(ppt, &members);
            check_valid(ppt, &members, &again)?;
            check_complete(ppt, &members, &again)?;
            check_balanced(ppt, &members, &again)?;
            // Each member keeps what its new quota allows, and the moves are the fewest
            // possible: everyone keeps min(held, ⌊P/n⌋), and members that held more fill the
            // P mod n places for one more.
            let n = members.len();
            let p = total(ppt, &members);
            let (min, over) = (p / n, p % n);
            let mut bound = 0;
            let mut can_take_extra = 0;
            for m in &g.members {
                let held = got[&m.member_id].partitions.len();
                let k = kept(&got, &again, &m.member_id);
                prop_assert!(k >= held.min(min), "{} kept {} of {}", m.member_id, k, held);
                bound += held.min(min);
                can_take_extra += usize::from(held > min);
            }
            bound += over.min(can_take_extra);
            let kept_total: usize = g.members.iter().map(|m| kept(&got, &again, &m.member_id)).sum();
            prop_assert_eq!(kept_total, bound);
        }

        #[test]
        fn sticky_member_leaving(g in arb_group(), which in any::<prop::sample::Index>()) {
            if g.members.len() < 2 {
                return Ok(());
            }
            let ppt = &g.partitions_per_topic;
            let got = StickyAssignor.assign(ppt, &g.members);
            let gone = which.index(g.members.len());
            let mut members = next_round(&StickyAssignor, &g.members, &got, 1);
            let left = members.remove(gone);
            let again = StickyAssignor.assign(ppt, &members);
            check_valid(ppt, &members, &again)?;
            check_complete(ppt, &members, &again)?;
            check_balanced(ppt, &members, &again)?;
            // The leaver's partitions that someone else subscribes to are all redistributed.
            let assigned: BTreeSet<TopicPartition> = again.values().flat_map(set).collect();
            for tp in &got[&left.member_id].partitions {
                if members.iter().any(|m| m.subscription.topics.contains(&tp.topic)) {
                    prop_assert!(assigned.contains(tp));
                }
            }
            // With identical subscriptions nobody else loses anything.
            let uniform = g.members.iter().all(|m| m.subscription.topics == g.members[0].subscription.topics);
            if uniform {
                for m in &members {
                    prop_assert!(set(&again[&m.member_id]).is_superset(&set(&got[&m.member_id])));
                }
            }
        }

        #[test]
        fn general_path_is_as_sticky_as_the_uniform_path(g in arb_uniform_group(), extra in 0usize..3) {
            // The general algorithm, run where the uniform one applies, keeps as many previous
            // owners (its balance is the same: it is optimal).
            let ppt = &g.partitions_per_topic;
            let got = StickyAssignor.assign(ppt, &g.members);
            let mut members = next_round(&StickyAssignor, &g.members, &got, 1);
            let topics: Vec<&str> = g.members[0].subscription.topics.iter().map(String::as_str).collect();
            for i in 0..extra {
                members.push(member(&format!("new{i}"), &topics));
            }
            let distinct: Vec<&Member> = members.iter().collect();
            let claims: Vec<Claim> = distinct.iter().map(|m| sticky_claim(&m.subscription)).collect();
            let uniform = engine::assign(ppt, &distinct, &claims, false);
            let general = engine::assign(ppt, &distinct, &claims, true);
            let keep = |r: &[Vec<TopicPartition>]| -> usize {
                distinct.iter().zip(r).map(|(m, ps)| {
                    ps.iter().filter(|tp| m.subscription.owned_partitions.contains(tp)).count()
                }).sum()
            };
            prop_assert_eq!(keep(&general), keep(&uniform));
            let mut lens: Vec<usize> = general.iter().map(Vec::len).collect();
            let mut want: Vec<usize> = uniform.iter().map(Vec::len).collect();
            lens.sort();
            want.sort();
            prop_assert_eq!(lens, want);
        }

        #[test]
        fn cooperative_never_transfers_in_one_round_and_settles_in_two(
            g in arb_group(),
            changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<bool>(), proptest::collection::vec(any::<bool>(), 5)), 0..3),
        ) {
            let ppt = &g.partitions_per_topic;
            let a = CooperativeStickyAssignor;
            let round0 = a.assign(ppt, &g.members);
            check_valid(ppt, &g.members, &round0)?;
            check_complete(ppt, &g.members, &round0)?;
            check_balanced(ppt, &g.members, &round0)?;
            // The group changes: members leave, join or change subscriptions.
            let mut members = next_round(&a, &g.members, &round0, 1);
            for (k, (which, leave, subs)) in changes.iter().enumerate() {
                let topics: Vec<&str> = ["t0", "t1", "t2", "t3", "gone"].iter().zip(subs).filter(|(_, s)| **s).map(|(t, _)| *t).collect();
                if *leave && members.len() > 1 {
                    members.remove(which.index(members.len()));
                } else if k % 2 == 0 {
                    members.push(member(&format!("j{k}"), &topics));
                } else {
                    let i = which.index(members.len());
                    members[i].subscription.topics = topics.iter().map(|t| t.to_string()).collect();
                }
            }
            let round1 = a.assign(ppt, &members);
            check_valid(ppt, &members, &round1)?;
            // No partition goes from one owner to another in one round.
            for (id, asg) in &round1 {
                for tp in &asg.partitions {
                    for m in &members {
                        if &m.member_id != id {
                            prop_assert!(!m.subscription.owned_partitions.contains(tp), "{} moves from {} to {}", tp, m.member_id, id);
                        }
                    }
                }
            }
            // Members revoke what they lost and rejoin: the second round is complete and
            // balanced, and moves nothing either.
            let members = next_round(&a, &members, &round1, 2);
            let round2 = a.assign(ppt, &members);
            check_valid(ppt, &members, &round2)?;
            check_complete(ppt, &members, &round2)?;
            check_balanced(ppt, &members, &round2)?;
            for m in &members {
                prop_assert!(set(&round2[&m.member_id]).is_superset(&set(&round1[&m.member_id])));
            }
        }
    }
}
