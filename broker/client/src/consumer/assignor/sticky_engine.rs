//! The balancing engine behind the sticky assignors: given the members' subscriptions and
//! their (conflicting, possibly stale) claims on partitions, an assignment that is as balanced
//! as possible and keeps as many valid claims as that allows. It knows nothing of user data,
//! generations' encodings or cooperative withholding; [`super::sticky`] reads the claims and
//! post-processes the result.
//!
//! Two paths. When all members subscribe to the same (existing) topics, a quota pass: with `P`
//! partitions and `n` members everyone gets `⌊P/n⌋` and `P mod n` members one more; members
//! keep their claimed partitions up to their quota (the first members, in member id order,
//! that claimed at least `⌈P/n⌉` take the places for one more) and the rest are dealt
//! round-robin to members under quota. Otherwise a general pass:
//!
//! 1. every member keeps its valid claims;
//! 2. the other partitions, those with the fewest possible members first, go one by one to the
//!    least loaded member subscribed to them;
//! 3. while some chain of moves takes one partition from a member with load `l` and, member to
//!    member through subscriptions, ends at a member with load `l - 2` or less, the chain is
//!    applied (each step moves one partition, so only the two ends change load). With no such
//!    chain left the assignment minimises the sum of squared loads (the theorem on optimal
//!    semi-matchings: Harvey, Ladner, Lovász, Tamir, 2003), so in particular members with the
//!    same subscriptions are within one of each other. Chains are found by a 0-1 breadth-first
//!    search in which moving a partition away from its previous owner costs 1 and any other
//!    move costs 0, and a cheapest chain is applied, so previous owners lose partitions only
//!    when balance leaves no way around it;
//! 4. finally, a partition not with its previous owner goes back to it when that swaps the two
//!    members' loads or trades it for a partition the owner did not hold before (the loads, and
//!    so the balance, stay the same).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::{java_cmp, partition_count, Member};
use crate::admin::TopicPartition;

/// What a member claims to own, and in which generation (negative: unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    pub partitions: Vec<TopicPartition>,
    pub generation: i32,
}

/// The assignment of each of `members` (distinct ids), in the same order. `force_general`
/// skips the quota pass (for tests comparing the two).
pub(crate) fn assign(
    partitions_per_topic: &BTreeMap<String, i32>,
    members: &[&Member],
    claims: &[Claim],
    force_general: bool,
) -> Vec<Vec<TopicPartition>> {
    // Internal member order: by member id, as Java's sticky assignors sort members.
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by(|&a, &b| java_cmp(&members[a].member_id, &members[b].member_id));
    let sorted: Vec<&Member> = order.iter().map(|&i| members[i]).collect();
    let pb = Problem::new(partitions_per_topic, &sorted);
    let sorted_claims: Vec<&Claim> = order.iter().map(|&i| &claims[i]).collect();
    let (prev, owned) = pb.resolve(&sorted_claims);

    let uniform = pb.subs.windows(2).all(|w| w[0] == w[1]);
    let held = if uniform && !force_general {
        pb.quota_assign(&owned)
    } else {
        General::new(&pb, &prev, &owned).run()
    };

    let mut out = vec![Vec::new(); members.len()];
    for (k, pids) in held.into_iter().enumerate() {
        let mut parts: Vec<TopicPartition> = pids.into_iter().map(|p| pb.partition(p)).collect();
        parts.sort();
        out[order[k]] = parts;
    }
    out
}

/// The topics and partitions in play, numbered: topic `t` has partitions
/// `base[t]..base[t + 1]`; members are numbered in internal order.
struct Problem<'a> {
    topics: Vec<&'a str>,
    base: Vec<usize>,
    topic_index: HashMap<&'a str, usize>,
    /// Per member, per topic: subscribed?
    subs: Vec<Vec<bool>>,
    /// Per topic: the members subscribed, ascending.
    eligible: Vec<Vec<usize>>,
    /// Per partition: its topic.
    topic_of: Vec<usize>,
}

impl<'a> Problem<'a> {
    fn new(partitions_per_topic: &BTreeMap<String, i32>, members: &[&'a Member]) -> Self {
        let mut topics: Vec<&'a str> = members
            .iter()
            .flat_map(|m| m.subscription.topics.iter().map(String::as_str))
            .filter(|t| partition_count(partitions_per_topic, t) > 0)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        topics.sort_by(|a, b| java_cmp(a, b));
        let topic_index: HashMap<&str, usize> =
            topics.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let mut base = vec![0];
        let mut topic_of = Vec::new();
        for (i, t) in topics.iter().enumerate() {
            let n = partition_count(partitions_per_topic, t) as usize;
            base.push(base[i] + n);
            topic_of.extend(std::iter::repeat_n(i, n));
        }
        let subs: Vec<Vec<bool>> = members
            .iter()
            .map(|m| {
                let mut s = vec![false; topics.len()];
                for t in &m.subscription.topics {
                    if let Some(&i) = topic_index.get(t.as_str()) {
                        s[i] = true;
                    }
                }
                s
            })
            .collect();
        let eligible = (0..topics.len())
            .map(|t| (0..members.len()).filter(|&m| subs[m][t]).collect())
            .collect();
        Problem {
            topics,
            base,
            topic_index,
            subs,
            eligible,
            topic_of,
        }
    }

    fn total(&self) -> usize {
        self.topic_of.len()
    }

    fn members(&self) -> usize {
        self.subs.len()
    }

    fn pid(&self, tp: &TopicPartition) -> Option<usize> {
        let t = *self.topic_index.get(tp.topic.as_str())?;
        let p = usize::try_from(tp.partition).ok()?;
        (p < self.base[t + 1] - self.base[t]).then_some(self.base[t] + p)
    }

    fn partition(&self, pid: usize) -> TopicPartition {
        let t = self.topic_of[pid];
        TopicPartition::new(self.topics[t], (pid - self.base[t]) as i32)
    }

    /// The previous owner of every partition, and each member's valid claims in its order.
    /// A claim is valid when the partition exists, the member subscribes to its topic, and no
    /// other member claims it in a higher or the same generation.
    fn resolve(&self, claims: &[&Claim]) -> (Vec<Option<usize>>, Vec<Vec<usize>>) {
        // Per partition: the highest generation claiming it, and the claimant (None: a tie).
        let mut best: HashMap<usize, (i32, Option<usize>)> = HashMap::new();
        let mut claimed: Vec<Vec<usize>> = vec![Vec::new(); claims.len()];
        for (m, claim) in claims.iter().enumerate() {
            let generation = claim.generation.max(-1);
            let mut seen = BTreeSet::new();
            for tp in &claim.partitions {
                let Some(pid) = self.pid(tp) else { continue };
                if !self.subs[m][self.topic_of[pid]] || !seen.insert(pid) {
                    continue;
                }
                claimed[m].push(pid);
                let e = best.entry(pid).or_insert((generation, Some(m)));
                if generation > e.0 {
                    *e = (generation, Some(m));
                } else if generation == e.0 && e.1 != Some(m) {
                    e.1 = None;
                }
            }
        }
        let mut prev = vec![None; self.total()];
        for (pid, (_, owner)) in best {
            prev[pid] = owner;
        }
        let owned = claimed
            .into_iter()
            .enumerate()
            .map(|(m, pids)| pids.into_iter().filter(|&p| prev[p] == Some(m)).collect())
            .collect();
        (prev, owned)
    }

    /// The quota pass for identical subscriptions.
    fn quota_assign(&self, owned: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let n = self.members();
        let total = self.total();
        let mut held: Vec<Vec<usize>> = vec![Vec::new(); n];
        if n == 0 || total == 0 {
            return held;
        }
        let (min, over) = (total / n, total % n);
        let max = min + usize::from(over > 0);
        let mut taken = vec![false; total];
        let mut over_used = 0;
        for (m, claims) in owned.iter().enumerate() {
            let keep = if over > 0 && claims.len() >= max && over_used < over {
                over_used += 1;
                max
            } else {
                claims.len().min(min)
            };
            for &p in &claims[..keep] {
                held[m].push(p);
                taken[p] = true;
            }
        }
        let mut free = (0..total).filter(|&p| !taken[p]).peekable();
        // Deal round-robin to the members under the minimum.
        let mut under: Vec<usize> = (0..n).filter(|&m| held[m].len() < min).collect();
        while !under.is_empty() && free.peek().is_some() {
            under.retain(|&m| match free.next() {
                Some(p) => {
                    held[m].push(p);
                    held[m].len() < min
                }
                None => true,
            });
        }
        // What is left fills the places for one more, in member order.
        let mut next = 0;
        for p in free {
            while next < n && held[next].len() != min {
                next += 1;
            }
            let m = if next < n {
                next += 1;
                next - 1
            } else {
                // Unreachable by the counting above; stay total anyway.
                (0..n).min_by_key(|&m| held[m].len()).unwrap_or(0)
            };
            held[m].push(p);
        }
        held
    }
}

/// The general pass: mutable state over a [`Problem`].
struct General<'p, 'a> {
    pb: &'p Problem<'a>,
    prev: &'p [Option<usize>],
    owner: Vec<Option<usize>>,
    load: Vec<usize>,
    /// Per member: its partitions by topic.
    held: Vec<BTreeMap<usize, BTreeSet<usize>>>,
}

/// One step of a chain: move `pid` from `from` to `to`.
struct Step {
    pid: usize,
    from: usize,
    to: usize,
}

impl<'p, 'a> General<'p, 'a> {
    fn new(pb: &'p Problem<'a>, prev: &'p [Option<usize>], owned: &[Vec<usize>]) -> Self {
        let mut g = General {
            pb,
            prev,
            owner: vec![None; pb.total()],
            load: vec![0; pb.members()],
            held: vec![BTreeMap::new(); pb.members()],
        };
        for (m, pids) in owned.iter().enumerate() {
            for &p in pids {
                g.give(p, m);
            }
        }
        g
    }

    fn give(&mut self, pid: usize, m: usize) {
        self.owner[pid] = Some(m);
        self.load[m] += 1;
        self.held[m]
            .entry(self.pb.topic_of[pid])
            .or_default()
            .insert(pid);
    }

    fn take(&mut self, pid: usize) {
        if let Some(m) = self.owner[pid].take() {
            self.load[m] -= 1;
            let t = self.pb.topic_of[pid];
            if let Some(set) = self.held[m].get_mut(&t) {
                set.remove(&pid);
                if set.is_empty() {
                    self.held[m].remove(&t);
                }
            }
        }
    }

    fn run(mut self) -> Vec<Vec<usize>> {
        self.place_free();
        while let Some(chain) = self.cheapest_chain() {
            for s in &chain {
                debug_assert_eq!(self.owner[s.pid], Some(s.from));
                self.take(s.pid);
                self.give(s.pid, s.to);
            }
        }
        self.return_to_owners();
        self.held
            .into_iter()
            .map(|by_topic| by_topic.into_values().flatten().collect())
            .collect()
    }

    /// Step 2: unowned partitions to the least loaded subscriber, scarcest topics first.
    fn place_free(&mut self) {
        let pb = self.pb;
        let mut topics: Vec<usize> = (0..pb.topics.len()).collect();
        topics.sort_by_key(|&t| (pb.eligible[t].len(), t));
        for t in topics {
            for pid in pb.base[t]..pb.base[t + 1] {
                if self.owner[pid].is_some() {
                    continue;
                }
                if let Some(&m) = pb.eligible[t].iter().min_by_key(|&&m| (self.load[m], m)) {
                    self.give(pid, m);
                }
            }
        }
    }

    /// Step 3: the cheapest chain that lowers the sum of squared loads, if any. Sources are
    /// tried per load level, highest first, stopping at the first free chain.
    fn cheapest_chain(&self) -> Option<Vec<Step>> {
        let reachable_min = (0..self.pb.members())
            .filter(|&m| self.pb.subs[m].iter().any(|&s| s))
            .map(|m| self.load[m])
            .min()?;
        let levels: BTreeSet<usize> = self
            .load
            .iter()
            .copied()
            .filter(|&l| l >= reachable_min + 2)
            .collect();
        let mut best: Option<(usize, Vec<Step>)> = None;
        for &level in levels.iter().rev() {
            if let Some((cost, chain)) = self.search(level) {
                if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                    best = Some((cost, chain));
                }
                if cost == 0 {
                    break;
                }
            }
        }
        best.map(|(_, chain)| chain)
    }

    /// A 0-1 breadth-first search from every member with load >= `level` to a member with
    /// load <= `level - 2`: the cheapest chain (fewest previous owners losing a partition),
    /// ties to the least loaded target.
    fn search(&self, level: usize) -> Option<(usize, Vec<Step>)> {
        let n = self.pb.members();
        let mut dist = vec![usize::MAX; n];
        let mut parent: Vec<Option<(usize, usize)>> = vec![None; n];
        let mut done = vec![false; n];
        let mut queue = VecDeque::new();
        for (m, d) in dist.iter_mut().enumerate() {
            if self.load[m] >= level {
                *d = 0;
                queue.push_back(m);
            }
        }
        let mut target: Option<(usize, usize, usize)> = None;
        while let Some(a) = queue.pop_front() {
            if done[a] {
                continue;
            }
            done[a] = true;
            let d = dist[a];
            if target.is_some_and(|(c, _, _)| d > c) {
                break;
            }
            if self.load[a] + 2 <= level {
                let candidate = (d, self.load[a], a);
                if target.is_none_or(|t| candidate < t) {
                    target = Some(candidate);
                }
            }
            for (&t, pids) in &self.held[a] {
                // The partition of topic t that `a` would give: preferably one going back to
                // its previous owner, else one `a` did not own before (both free), else any.
                let mut returning: HashMap<usize, usize> = HashMap::new();
                let mut not_a_previous = None;
                for &p in pids {
                    match self.prev[p] {
                        Some(o) if o == a => {}
                        Some(o) => {
                            returning.entry(o).or_insert(p);
                            not_a_previous.get_or_insert(p);
                        }
                        None => {
                            not_a_previous.get_or_insert(p);
                        }
                    }
                }
                let Some(&any) = pids.iter().next() else {
                    continue;
                };
                for &b in &self.pb.eligible[t] {
                    if b == a || done[b] {
                        continue;
                    }
                    let (cost, pid) = match (returning.get(&b), not_a_previous) {
                        (Some(&p), _) => (0, p),
                        (None, Some(p)) => (0, p),
                        (None, None) => (1, any),
                    };
                    if d + cost < dist[b] {
                        dist[b] = d + cost;
                        parent[b] = Some((a, pid));
                        if cost == 0 {
                            queue.push_front(b);
                        } else {
                            queue.push_back(b);
                        }
                    }
                }
            }
        }
        let (cost, _, mut m) = target?;
        let mut chain = Vec::new();
        while let Some((from, pid)) = parent[m] {
            chain.push(Step { pid, from, to: m });
            m = from;
        }
        Some((cost, chain))
    }

    /// Step 4: partitions back to their previous owners where loads allow.
    fn return_to_owners(&mut self) {
        let pb = self.pb;
        loop {
            let mut changed = false;
            for pid in 0..pb.total() {
                let (Some(o), Some(h)) = (self.prev[pid], self.owner[pid]) else {
                    continue;
                };
                if o == h {
                    continue;
                }
                if self.load[o] + 1 == self.load[h] {
                    self.take(pid);
                    self.give(pid, o);
                    changed = true;
                } else if self.load[o] == self.load[h] {
                    let trade = self.held[o]
                        .iter()
                        .filter(|(t, _)| pb.subs[h][**t])
                        .flat_map(|(_, ps)| ps.iter().copied())
                        .find(|&q| self.prev[q] != Some(o));
                    if let Some(q) = trade {
                        self.take(pid);
                        self.take(q);
                        self.give(pid, o);
                        self.give(q, h);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }
}
