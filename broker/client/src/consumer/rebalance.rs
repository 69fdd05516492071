//! The consumer's side of a subscription: subscribing, and what `poll` does for the group
//! (start a join, apply its outcome, call the rebalance listener, commit, notice lost
//! partitions and changed topics), plus `unsubscribe` and `close`. The protocol calls and
//! the background tasks are in [`super::group`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::task::JoinError;
use tokio::time::Instant;

use super::assignor::{self, RebalanceProtocol};
use super::group::{self, ConsumerRebalanceListener, JoinParams, Joined, Member, RebalanceContext};
use super::{Consumer, GroupState, Subscribed};
use crate::admin::TopicPartition;
use crate::error::ClientError;

/// Which listener callback to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Callback {
    Revoked,
    Assigned,
    Lost,
}

impl Consumer {
    /// Subscribes to `topics` as a member of the consumer group `group.id`: the partitions
    /// come from the group's rebalances, which run inside [`poll`](Self::poll). Replaces an
    /// earlier subscription (the member rejoins with the new topics); an empty list is
    /// [`unsubscribe`](Self::unsubscribe) without the leaving, which happens at the next
    /// poll.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<(), ClientError> {
        if let Some(t) = topics.iter().find(|t| t.trim().is_empty()) {
            return Err(ClientError::Config {
                key: "topics",
                reason: format!("cannot subscribe to the topic name {t:?}"),
            });
        }
        let set: BTreeSet<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        self.subscribe_to(Subscribed::Topics, set)
    }

    /// Subscribes to every topic whose whole name matches the regular expression
    /// `pattern` (Rust `regex` syntax, which for the usual patterns such as `orders-.*` or
    /// `(a|b)-events` is Java's), now and as topics are created or deleted: the match is
    /// re-evaluated every `metadata.max.age.ms`. Internal topics never match while
    /// `exclude.internal.topics` is true.
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<(), ClientError> {
        let re =
            regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| ClientError::Config {
                key: "pattern",
                reason: format!("{pattern:?} is not a valid regular expression: {e}"),
            })?;
        // The topics are resolved at the first poll.
        self.subscribe_to(Subscribed::Pattern(re), BTreeSet::new())
    }

    fn subscribe_to(
        &mut self,
        subscribed: Subscribed,
        topics: BTreeSet<String>,
    ) -> Result<(), ClientError> {
        let group_id = self
            .config
            .group_id
            .clone()
            .ok_or_else(|| ClientError::Config {
                key: "group.id",
                reason: "subscribing needs a group.id (or use assign)".into(),
            })?;
        let now = Instant::now();
        if let Some(g) = self.group.as_mut() {
            let changed = g.topics != topics || matches!(subscribed, Subscribed::Pattern(_));
            g.subscribed = subscribed;
            if changed {
                g.topics = topics;
                g.next_metadata_check = now;
                g.rejoin
                    .get_or_insert_with(|| "the subscription changed".into());
            }
            return Ok(());
        }
        // From assign mode: the manual assignment ends.
        self.set_assignment(&[]);
        let mut assignors = Vec::new();
        for name in &self.config.partition_assignment_strategy {
            assignors.push(assignor::by_name(name).ok_or_else(|| ClientError::Config {
                key: "partition.assignment.strategy",
                reason: format!("unknown assignor {name:?}"),
            })?);
        }
        self.group = Some(GroupState {
            member: Arc::new(Member::new(group_id, self.config.group_instance_id.clone())),
            protocol: group::rebalance_protocol(&assignors),
            assignors,
            subscribed,
            topics,
            listener: None,
            heartbeat: None,
            joining: None,
            rejoin: Some("the consumer subscribed".into()),
            last_assignment: Vec::new(),
            last_generation: -1,
            next_auto_commit: now + self.config.auto_commit_interval,
            next_metadata_check: now,
            own_partitions: None,
            group_partitions: BTreeMap::new(),
        });
        Ok(())
    }

    /// Sets the listener called around rebalances (replacing any earlier one). Only
    /// meaningful with a subscription; kept across [`subscribe`](Self::subscribe) calls.
    pub fn set_rebalance_listener(
        &mut self,
        listener: impl ConsumerRebalanceListener + 'static,
    ) -> Result<(), ClientError> {
        let g = self.group.as_mut().ok_or_else(not_subscribed)?;
        g.listener = Some(std::sync::Mutex::new(Box::new(listener)));
        Ok(())
    }

    /// Replaces the assignors offered when joining (those of
    /// `partition.assignment.strategy`) with `assignors`, in order of preference: for an
    /// application's own assignor, as Kafka Streams plugs in its `StreamsPartitionAssignor`.
    /// Only meaningful with a subscription; takes effect at the next join and is kept
    /// across [`subscribe`](Self::subscribe) calls.
    pub fn set_assignors(
        &mut self,
        assignors: Vec<Arc<dyn assignor::PartitionAssignor>>,
    ) -> Result<(), ClientError> {
        if assignors.is_empty() {
            return Err(ClientError::Config {
                key: "partition.assignment.strategy",
                reason: "name at least one assignor".into(),
            });
        }
        let g = self.group.as_mut().ok_or_else(not_subscribed)?;
        g.protocol = group::rebalance_protocol(&assignors);
        g.assignors = assignors;
        Ok(())
    }

    /// The topics subscribed to, sorted (for a pattern, those it matched at the last
    /// check); empty without a subscription.
    pub fn subscription(&self) -> Vec<String> {
        self.group
            .as_ref()
            .map(|g| g.topics.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The member id and generation in the group, once joined.
    pub fn group_membership(&self) -> Option<(String, i32)> {
        let g = self.group.as_ref()?;
        let (id, generation) = g.member.identity();
        (generation >= 0).then_some((id, generation))
    }

    /// Ends the subscription: revokes the partitions (listener, and a commit of the
    /// positions with `enable.auto.commit`), leaves the group, and drops the assignment.
    pub async fn unsubscribe(&mut self) -> Result<(), ClientError> {
        let Some(mut g) = self.group.take() else {
            return Ok(());
        };
        if let Some(h) = g.joining.take() {
            h.abort();
        }
        if let Some(h) = g.heartbeat.take() {
            h.abort();
        }
        let owned = self.assignment();
        let lost = g.member.lock().lost.take();
        let callback = if lost.is_some() {
            Callback::Lost
        } else {
            Callback::Revoked
        };
        self.group = Some(g);
        self.revoke(&owned, callback).await;
        let Some(g) = self.group.take() else {
            return Ok(());
        };
        self.set_assignment(&[]);
        if g.member.instance_id.is_none() {
            group::leave(&self.cluster, &g.member, "the consumer unsubscribed").await?;
        }
        Ok(())
    }

    /// Closes the consumer: in a group as [`unsubscribe`](Self::unsubscribe) (static
    /// members do not leave); in assign mode, with a `group.id` and
    /// `enable.auto.commit`, commits the positions. Fetches in flight are dropped.
    pub async fn close(&mut self) -> Result<(), ClientError> {
        let result = if self.group.is_some() {
            self.unsubscribe().await
        } else if self.config.group_id.is_some() && self.config.enable_auto_commit {
            let positions = self.positions();
            self.commit_sync(&positions).await
        } else {
            Ok(())
        };
        self.in_flight.abort_all();
        self.nodes_in_flight.clear();
        self.task_nodes.clear();
        self.set_assignment(&[]);
        result
    }

    /// `enable.auto.commit`: commits the positions in the background when the interval
    /// has passed (in a group only while it is in a generation and not rejoining).
    pub(super) fn maybe_auto_commit(&mut self) {
        if !self.config.enable_auto_commit || self.config.group_id.is_none() {
            return;
        }
        let now = Instant::now();
        let interval = self.config.auto_commit_interval;
        match &mut self.group {
            Some(g) => {
                if now < g.next_auto_commit || g.joining.is_some() || g.rejoin.is_some() {
                    return;
                }
                g.next_auto_commit = now + interval;
                if g.member.identity().1 < 0 {
                    return;
                }
            }
            None => {
                if now < self.next_auto_commit {
                    return;
                }
                self.next_auto_commit = now + interval;
            }
        }
        let positions = self.positions();
        if !positions.is_empty() {
            // Failures are logged: the next interval commits newer positions anyway.
            let handle = self.commit_async(&positions);
            tokio::spawn(async move {
                if let Ok(Err(e)) = handle.await {
                    tracing::warn!(error = %e, "auto-commit failed");
                }
            });
        }
    }

    /// The group's part of `poll`.
    pub(super) async fn group_poll(&mut self) -> Result<(), ClientError> {
        let Some(g) = self.group.as_mut() else {
            return Ok(());
        };
        let now = Instant::now();
        let (lost, rejoin) = {
            let mut s = g.member.lock();
            s.last_poll = now;
            (s.lost.take(), std::mem::take(&mut s.rejoin))
        };
        if rejoin {
            g.rejoin
                .get_or_insert_with(|| "the coordinator started a rebalance".into());
        }
        if let Some(why) = lost {
            tracing::info!(group = %g.member.group_id, reason = %why, "partitions lost");
            g.rejoin.get_or_insert(why);
            if let Some(h) = g.heartbeat.take() {
                h.abort();
            }
            let owned = self.assignment();
            self.revoke(&owned, Callback::Lost).await;
            self.set_assignment(&[]);
        }
        let finished = self
            .group
            .as_ref()
            .and_then(|g| g.joining.as_ref())
            .is_some_and(|h| h.is_finished());
        if finished {
            if let Some(h) = self.group.as_mut().and_then(|g| g.joining.take()) {
                let r = h.await;
                self.complete_join(r).await?;
            }
        }
        let due = self
            .group
            .as_ref()
            .is_some_and(|g| g.joining.is_none() && now >= g.next_metadata_check);
        if due {
            self.check_subscription().await;
        }
        let start = self
            .group
            .as_ref()
            .is_some_and(|g| g.joining.is_none() && g.rejoin.is_some());
        if start {
            self.start_join().await;
        }
        Ok(())
    }

    /// Starts the background join: under the eager protocol after revoking everything.
    async fn start_join(&mut self) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        if let Some(h) = g.heartbeat.take() {
            h.abort();
        }
        let eager = g.protocol == RebalanceProtocol::Eager;
        let reason = g.rejoin.take().unwrap_or_default();
        if eager {
            let owned = self.assignment();
            self.revoke(&owned, Callback::Revoked).await;
            self.set_assignment(&[]);
        }
        let owned = self.assignment();
        let Some(g) = self.group.as_mut() else {
            return;
        };
        let (owned, owned_generation) = if eager {
            // The sticky assignor's memory: what this member had last time.
            (g.last_assignment.clone(), g.last_generation)
        } else {
            (owned, g.last_generation)
        };
        tracing::debug!(group = %g.member.group_id, %reason, "joining the group");
        let params = JoinParams {
            cluster: self.cluster.clone(),
            member: g.member.clone(),
            assignors: g.assignors.clone(),
            topics: g.topics.iter().cloned().collect(),
            owned,
            owned_generation,
            rack: self.config.client_rack.clone(),
            session_timeout: self.config.session_timeout,
            rebalance_timeout: self.config.max_poll_interval,
            retry_backoff: self.config.retry_backoff,
            reason,
        };
        g.joining = Some(tokio::spawn(group::join(params)));
    }

    /// Applies a finished join: the new assignment, the listener, the heartbeats.
    pub(super) async fn complete_join(
        &mut self,
        result: Result<Result<Joined, ClientError>, JoinError>,
    ) -> Result<(), ClientError> {
        let joined = match result {
            Ok(Ok(j)) => j,
            Ok(Err(e)) => {
                // Not retriable (fenced, inconsistent protocol, ...): poll reports it; the
                // next poll tries again.
                if let Some(g) = self.group.as_mut() {
                    g.rejoin
                        .get_or_insert_with(|| "the last join failed".into());
                }
                return Err(e);
            }
            Err(e) if e.is_cancelled() => return Ok(()),
            Err(e) => {
                if let Some(g) = self.group.as_mut() {
                    g.rejoin
                        .get_or_insert_with(|| "the join task failed".into());
                }
                return Err(ClientError::Protocol {
                    addr: String::new(),
                    reason: format!("the group join task failed: {e}"),
                });
            }
        };
        let Some(g) = self.group.as_mut() else {
            return Ok(());
        };
        let mut new: BTreeSet<TopicPartition> = BTreeSet::new();
        for tp in joined.assignment {
            if g.topics.contains(&tp.topic) {
                new.insert(tp);
            } else {
                // The leader assigned a topic this member no longer wants (its
                // subscription changed meanwhile): rebalance again.
                g.rejoin
                    .get_or_insert_with(|| format!("assigned {tp}, which is not subscribed"));
            }
        }
        g.last_assignment = new.iter().cloned().collect();
        g.last_generation = joined.generation;
        if !joined.group_partitions.is_empty() {
            g.group_partitions = joined.group_partitions;
        }
        let cooperative = g.protocol == RebalanceProtocol::Cooperative;
        let owned: BTreeSet<TopicPartition> = self.assignment().into_iter().collect();
        let added: Vec<TopicPartition> = new.difference(&owned).cloned().collect();
        if cooperative {
            let revoked: Vec<TopicPartition> = owned.difference(&new).cloned().collect();
            if !revoked.is_empty() {
                self.revoke(&revoked, Callback::Revoked).await;
                if let Some(g) = self.group.as_mut() {
                    // The revoked partitions were withheld from their new owners: a second
                    // rebalance hands them over (KIP-429).
                    g.rejoin
                        .get_or_insert_with(|| format!("{} partition(s) revoked", revoked.len()));
                }
            }
        }
        let assignment: Vec<TopicPartition> = new.into_iter().collect();
        self.set_assignment(&assignment);
        self.call_listener(Callback::Assigned, &added).await;
        let Some(g) = self.group.as_mut() else {
            return Ok(());
        };
        tracing::debug!(
            group = %g.member.group_id,
            generation = joined.generation,
            member = %joined.member_id,
            protocol = %joined.protocol,
            assigned = assignment.len(),
            "assignment applied"
        );
        g.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        g.heartbeat = Some(tokio::spawn(group::heartbeat(
            self.cluster.clone(),
            g.member.clone(),
            self.config.heartbeat_interval,
            self.config.max_poll_interval,
            self.config.retry_backoff,
        )));
        Ok(())
    }

    /// Revokes `partitions`: the listener, then its commits and (with
    /// `enable.auto.commit`) the positions, committed synchronously; for lost partitions
    /// only the listener. The assignment is left to the caller.
    async fn revoke(&mut self, partitions: &[TopicPartition], callback: Callback) {
        if partitions.is_empty() {
            return;
        }
        let mut commits = self.call_listener(callback, partitions).await;
        if callback == Callback::Lost {
            return;
        }
        if self.config.enable_auto_commit {
            let revoked: BTreeSet<&TopicPartition> = partitions.iter().collect();
            commits.extend(
                self.positions()
                    .into_iter()
                    .filter(|(tp, _)| revoked.contains(tp)),
            );
        }
        if commits.is_empty() {
            return;
        }
        // The last commit of a partition wins; commit once per partition.
        let commits: BTreeMap<TopicPartition, i64> = commits.into_iter().collect();
        let commits: Vec<(TopicPartition, i64)> = commits.into_iter().collect();
        if let Err(e) = self.commit_sync(&commits).await {
            tracing::warn!(error = %e, "commit of revoked partitions failed");
        }
    }

    /// Runs a listener callback; returns the commits it asked for (seeks are applied).
    async fn call_listener(
        &mut self,
        callback: Callback,
        partitions: &[TopicPartition],
    ) -> Vec<(TopicPartition, i64)> {
        let Some(listener) = self.group.as_mut().and_then(|g| g.listener.take()) else {
            return Vec::new();
        };
        let mut listener = listener.into_inner().unwrap_or_else(|e| e.into_inner());
        let positions: BTreeMap<TopicPartition, i64> = self.positions().into_iter().collect();
        let generation = self
            .group
            .as_ref()
            .map(|g| g.member.identity().1)
            .unwrap_or(-1);
        let mut ctx = RebalanceContext {
            positions: &positions,
            generation,
            commits: Vec::new(),
            seeks: Vec::new(),
        };
        // Java calls onPartitionsAssigned even with nothing new under the cooperative
        // protocol; the others only with partitions.
        match callback {
            Callback::Revoked => listener.on_partitions_revoked(&mut ctx, partitions),
            Callback::Assigned => listener.on_partitions_assigned(&mut ctx, partitions),
            Callback::Lost => listener.on_partitions_lost(&mut ctx, partitions),
        }
        let RebalanceContext { commits, seeks, .. } = ctx;
        if let Some(g) = self.group.as_mut() {
            g.listener = Some(std::sync::Mutex::new(listener));
        }
        for (tp, offset) in seeks {
            if let Err(e) = self.seek(&tp, offset) {
                tracing::warn!(partition = %tp, error = %e, "seek from the rebalance listener ignored");
            }
        }
        commits
    }

    /// Every `metadata.max.age.ms`: the topics a pattern matches, and the partition counts
    /// of the member's topics (for the leader, of every member's); a change rejoins.
    async fn check_subscription(&mut self) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        g.next_metadata_check = Instant::now() + self.config.metadata_max_age;
        if let Subscribed::Pattern(re) = &g.subscribed {
            let re = re.clone();
            match self.cluster.fetch_metadata(None).await {
                Ok(r) => {
                    let matched: BTreeSet<String> = r
                        .metadata
                        .topics
                        .iter()
                        .filter(|(name, t)| {
                            re.is_match(name)
                                && !(self.config.exclude_internal_topics && t.is_internal)
                        })
                        .map(|(name, _)| name.clone())
                        .collect();
                    let Some(g) = self.group.as_mut() else {
                        return;
                    };
                    if matched != g.topics {
                        tracing::info!(
                            group = %g.member.group_id,
                            topics = ?matched,
                            "the pattern subscription matches other topics now"
                        );
                        g.topics = matched;
                        g.rejoin
                            .get_or_insert_with(|| "the subscribed topics changed".into());
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cannot list topics for the pattern");
                    return;
                }
            }
        }
        let Some(g) = self.group.as_ref() else {
            return;
        };
        let own: Vec<String> = g.topics.iter().cloned().collect();
        let leader = g.member.lock().leader;
        let group_topics: Vec<String> = if leader {
            g.group_partitions.keys().cloned().collect()
        } else {
            Vec::new()
        };
        let mut all: BTreeSet<&str> = own.iter().map(String::as_str).collect();
        all.extend(group_topics.iter().map(String::as_str));
        let counts = match group::partition_counts(
            &self.cluster,
            &all.into_iter().collect::<Vec<_>>(),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "cannot check the subscribed topics");
                return;
            }
        };
        let Some(g) = self.group.as_mut() else {
            return;
        };
        let own_counts: BTreeMap<String, i32> = counts
            .iter()
            .filter(|(t, _)| g.topics.contains(*t))
            .map(|(t, n)| (t.clone(), *n))
            .collect();
        match &g.own_partitions {
            Some(before) if *before != own_counts => {
                g.rejoin
                    .get_or_insert_with(|| "the subscribed topics' partitions changed".into());
            }
            _ => {}
        }
        g.own_partitions = Some(own_counts);
        if leader {
            let changed = g
                .group_partitions
                .iter()
                .any(|(t, n)| counts.get(t) != Some(n));
            if changed {
                g.rejoin
                    .get_or_insert_with(|| "a group topic's partitions changed".into());
            }
        }
    }
}

fn not_subscribed() -> ClientError {
    ClientError::Config {
        key: "subscription",
        reason: "the consumer has no subscription".into(),
    }
}
