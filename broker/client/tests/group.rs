//! The consumer in a consumer group (subscribe, the classic protocol) against a real
//! in-process broker: assignments, rebalances as members come and go, the listener,
//! commits, lost partitions after `max.poll.interval.ms`, pattern subscriptions.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_client::consumer::{ConsumerConfig, ConsumerRebalanceListener, RebalanceContext};
use brook_client::producer::{ProducerConfig, ProducerRecord};
use brook_client::{Consumer, NewTopic, Producer, TopicPartition};
use bytes::Bytes;
use tokio::task::JoinHandle;

fn consumer_config(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(bootstrap);
    for (k, v) in [
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("heartbeat.interval.ms", "100"),
        ("session.timeout.ms", "6000"),
        ("fetch.max.wait.ms", "50"),
        ("retry.backoff.ms", "20"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        c.set(k, v).unwrap();
    }
    c
}

async fn create(broker: &common::TestBroker, topic: &str, partitions: i32) {
    let r = broker
        .admin()
        .await
        .create_topics(&[NewTopic::new(topic, partitions, 1)], false)
        .await
        .unwrap();
    r[topic].as_ref().unwrap();
}

async fn produce(bootstrap: &str, topic: &str, partitions: i32, values: std::ops::Range<usize>) {
    let mut c = ProducerConfig::default();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("linger.ms", "0").unwrap();
    let p = Producer::connect(c).await.unwrap();
    let futures: Vec<_> = values
        .map(|i| {
            let mut r = ProducerRecord::new(topic, Bytes::from(format!("v{i}")));
            r.partition = Some((i % partitions as usize) as i32);
            p.send(r)
        })
        .collect();
    for f in futures {
        f.await.unwrap();
    }
    p.close(Duration::from_secs(5)).await.unwrap();
}

/// What a listener saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Revoked(Vec<TopicPartition>),
    Assigned(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl ConsumerRebalanceListener for Recorder {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        // Commit what was processed, as Kafka's docs recommend.
        let mine: Vec<_> = partitions
            .iter()
            .filter_map(|tp| ctx.position(tp).map(|o| (tp.clone(), o)))
            .collect();
        ctx.commit(&mine);
        self.0
            .lock()
            .unwrap()
            .push(Event::Revoked(partitions.to_vec()));
    }

    fn on_partitions_assigned(
        &mut self,
        _: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.0
            .lock()
            .unwrap()
            .push(Event::Assigned(partitions.to_vec()));
    }

    fn on_partitions_lost(&mut self, _: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.0
            .lock()
            .unwrap()
            .push(Event::Lost(partitions.to_vec()));
    }
}

/// A member polling in its own task: processes (records) every record, commits after
/// processing, and publishes its assignment.
struct Runner {
    name: String,
    assignment: Arc<Mutex<Vec<TopicPartition>>>,
    seen: Arc<Mutex<Vec<String>>>,
    events: Recorder,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Runner {
    fn start(name: &str, config: ConsumerConfig, topics: &[&str]) -> Runner {
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let events = Recorder::default();
        let stop = Arc::new(AtomicBool::new(false));
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let task =
            {
                let (assignment, seen, events, stop) = (
                    assignment.clone(),
                    seen.clone(),
                    events.clone(),
                    stop.clone(),
                );
                let name = name.to_owned();
                tokio::spawn(async move {
                    let mut c = Consumer::connect(config).await.unwrap();
                    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                    c.subscribe(&names).unwrap();
                    c.set_rebalance_listener(events).unwrap();
                    while !stop.load(Ordering::SeqCst) {
                        let records = c
                            .poll(Duration::from_millis(50))
                            .await
                            .unwrap_or_else(|e| panic!("{name}: poll: {e}"));
                        *assignment.lock().unwrap() = c.assignment();
                        if records.is_empty() {
                            continue;
                        }
                        seen.lock().unwrap().extend(records.iter().map(|r| {
                            String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()
                        }));
                        // A commit may fail when a rebalance started meanwhile: the records
                        // are then read again by the new owner (at least once).
                        let _ = c.commit_sync(&c.positions()).await;
                    }
                    c.close().await.unwrap();
                    assignment.lock().unwrap().clear();
                })
            };
        Runner {
            name: name.to_owned(),
            assignment,
            seen,
            events,
            stop,
            task,
        }
    }

    fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.assignment.lock().unwrap().iter().cloned().collect()
    }

    async fn stop(self) -> (Vec<String>, Vec<Event>) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        let events = self.events.0.lock().unwrap().clone();
        let seen = self.seen.lock().unwrap().clone();
        (seen, events)
    }
}

/// Waits until `check` holds over the runners' assignments (or fails after a while).
async fn until(
    runners: &[&Runner],
    what: &str,
    check: impl Fn(&[BTreeSet<TopicPartition>]) -> bool,
) {
    for _ in 0..400 {
        let a: Vec<_> = runners.iter().map(|r| r.assignment()).collect();
        if check(&a) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a: Vec<_> = runners
        .iter()
        .map(|r| (r.name.clone(), r.assignment()))
        .collect();
    panic!("timed out waiting for {what}: {a:?}");
}

fn all(topic: &str, n: i32) -> BTreeSet<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

/// The assignments cover `want` exactly once between them.
fn partition_of(a: &[BTreeSet<TopicPartition>], want: &BTreeSet<TopicPartition>) -> bool {
    let total: usize = a.iter().map(|s| s.len()).sum();
    let union: BTreeSet<_> = a.iter().flatten().cloned().collect();
    total == want.len() && union == *want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_reads_every_partition_commits_and_leaves_on_close() {
    let broker = common::start_for_groups().await;
    create(&broker, "solo", 4).await;
    produce(&broker.bootstrap(), "solo", 4, 0..200).await;
    let mut c = Consumer::connect(consumer_config(
        &broker.bootstrap(),
        "g-solo",
        &[("enable.auto.commit", "false")],
    ))
    .await
    .unwrap();
    assert!(
        c.subscribe(&["solo", ""]).is_err(),
        "empty topic names are refused"
    );
    c.subscribe(&["solo"]).unwrap();
    assert_eq!(c.subscription(), ["solo"]);
    let mut got = BTreeSet::new();
    for _ in 0..200 {
        for r in c.poll(Duration::from_millis(100)).await.unwrap() {
            assert!(got.insert(String::from_utf8(r.value.unwrap().to_vec()).unwrap()));
        }
        if got.len() == 200 {
            break;
        }
    }
    assert_eq!(got.len(), 200);
    assert_eq!(
        c.assignment().into_iter().collect::<BTreeSet<_>>(),
        all("solo", 4)
    );
    let (member, generation) = c.group_membership().expect("joined");
    assert!(
        !member.is_empty() && generation >= 1,
        "{member} {generation}"
    );
    c.commit_sync(&c.positions()).await.unwrap();
    let committed = c.committed(&c.assignment()).await.unwrap();
    let total: i64 = committed.values().map(|o| o.offset).sum();
    assert_eq!(total, 200, "{committed:?}");

    let admin = broker.admin().await;
    let d = admin.describe_groups(&["g-solo"]).await.unwrap();
    let d = d["g-solo"].as_ref().unwrap();
    assert_eq!((d.state.as_str(), d.protocol.as_str()), ("Stable", "range"));
    assert_eq!(d.members.len(), 1);
    c.close().await.unwrap();
    let d = admin.describe_groups(&["g-solo"]).await.unwrap();
    let d = d["g-solo"].as_ref().unwrap();
    assert_eq!(d.state, "Empty", "close left the group: {d:?}");
    // Subscribing needs a group.
    let mut lone = Consumer::connect(ConsumerConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    let e = lone.subscribe(&["solo"]).unwrap_err();
    assert!(e.to_string().contains("group.id"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_members_split_the_partitions_and_rebalance_as_they_come_and_go() {
    let broker = common::start_for_groups().await;
    create(&broker, "ranged", 6).await;
    let config = consumer_config(&broker.bootstrap(), "g-range", &[]);
    let want = all("ranged", 6);
    let a = Runner::start("a", config.clone(), &["ranged"]);
    until(&[&a], "a owns everything", |s| s[0] == want).await;
    let b = Runner::start("b", config.clone(), &["ranged"]);
    let c = Runner::start("c", config.clone(), &["ranged"]);
    until(&[&a, &b, &c], "three members with two each", |s| {
        partition_of(s, &want) && s.iter().all(|x| x.len() == 2)
    })
    .await;
    // Range: contiguous ranges.
    for s in [a.assignment(), b.assignment(), c.assignment()] {
        let ps: Vec<i32> = s.iter().map(|tp| tp.partition).collect();
        assert_eq!(ps[1], ps[0] + 1, "{ps:?}");
    }
    let (_, b_events) = b.stop().await;
    until(&[&a, &c], "two members with three each", |s| {
        partition_of(s, &want) && s.iter().all(|x| x.len() == 3)
    })
    .await;
    // Eager: b revoked everything it had when it closed.
    assert!(
        matches!(b_events.last(), Some(Event::Revoked(p)) if p.len() == 2),
        "{b_events:?}"
    );
    let (_, a_events) = a.stop().await;
    // Eager: every rebalance revoked all of a's partitions before assigning anew.
    let revocations = a_events
        .iter()
        .filter(|e| matches!(e, Event::Revoked(_)))
        .count();
    assert!(revocations >= 3, "{a_events:?}");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_moves_only_what_it_must() {
    let broker = common::start_for_groups().await;
    create(&broker, "coop", 6).await;
    let config = consumer_config(
        &broker.bootstrap(),
        "g-coop",
        &[("partition.assignment.strategy", "cooperative-sticky")],
    );
    let want = all("coop", 6);
    let a = Runner::start("a", config.clone(), &["coop"]);
    let b = Runner::start("b", config.clone(), &["coop"]);
    until(&[&a, &b], "two members with three each", |s| {
        partition_of(s, &want) && s.iter().all(|x| x.len() == 3)
    })
    .await;
    let (before_a, before_b) = (a.assignment(), b.assignment());
    // What the listeners saw before c came (a may have started alone and given b half).
    let (seen_a, seen_b) = (
        a.events.0.lock().unwrap().len(),
        b.events.0.lock().unwrap().len(),
    );
    let c = Runner::start("c", config.clone(), &["coop"]);
    until(&[&a, &b, &c], "three members with two each", |s| {
        partition_of(s, &want) && s.iter().all(|x| x.len() == 2)
    })
    .await;
    // Sticky: a and b kept two of their three each; c got one from each.
    assert!(
        a.assignment().is_subset(&before_a),
        "{:?} {before_a:?}",
        a.assignment()
    );
    assert!(
        b.assignment().is_subset(&before_b),
        "{:?} {before_b:?}",
        b.assignment()
    );
    let (_, a_events) = a.stop().await;
    let (_, b_events) = b.stop().await;
    c.stop().await;
    // Cooperative: while c joined, a revoked exactly the one partition that moved, never
    // everything (the last revocation is close's).
    for events in [&a_events[seen_a..], &b_events[seen_b..]] {
        let revoked: Vec<&Vec<TopicPartition>> = events
            .iter()
            .filter_map(|e| match e {
                Event::Revoked(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(revoked.len(), 2, "{events:?}");
        assert_eq!(revoked[0].len(), 1, "{events:?}");
        assert_eq!(revoked[1].len(), 2, "{events:?}");
        assert!(
            !events.iter().any(|e| matches!(e, Event::Lost(_))),
            "{events:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_joining_and_leaving_under_load_lose_no_record() {
    let broker = common::start_for_groups().await;
    create(&broker, "busy", 4).await;
    let total = 6_000;
    let bootstrap = broker.bootstrap();
    let producer = tokio::spawn(async move {
        for chunk in 0..30 {
            produce(&bootstrap, "busy", 4, chunk * 200..(chunk + 1) * 200).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    });
    for strategy in ["range", "cooperative-sticky"] {
        let group = format!("g-busy-{strategy}");
        let config = consumer_config(
            &broker.bootstrap(),
            &group,
            &[
                ("partition.assignment.strategy", strategy),
                ("enable.auto.commit", "false"),
                ("max.poll.records", "50"),
            ],
        );
        let mut seen: Vec<String> = Vec::new();
        let a = Runner::start("a", config.clone(), &["busy"]);
        let b = Runner::start("b", config.clone(), &["busy"]);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let c = Runner::start("c", config.clone(), &["busy"]);
        tokio::time::sleep(Duration::from_millis(400)).await;
        seen.extend(b.stop().await.0);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let d = Runner::start("d", config.clone(), &["busy"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        seen.extend(a.stop().await.0);
        // c and d read the rest; wait until everything produced was seen.
        let need: BTreeSet<String> = (0..total).map(|i| format!("v{i}")).collect();
        let mut done = false;
        for _ in 0..400 {
            let mut now: BTreeSet<String> = seen.iter().cloned().collect();
            now.extend(c.seen.lock().unwrap().iter().cloned());
            now.extend(d.seen.lock().unwrap().iter().cloned());
            if now.is_superset(&need) {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen.extend(c.stop().await.0);
        seen.extend(d.stop().await.0);
        let got: BTreeSet<String> = seen.iter().cloned().collect();
        let missing: Vec<_> = need.difference(&got).take(10).collect();
        assert!(
            done && missing.is_empty(),
            "{strategy}: missing {missing:?}"
        );
        assert_eq!(got.len(), total, "{strategy}: nothing else was read");
    }
    producer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_loses_its_partitions_and_rejoins() {
    let broker = common::start_for_groups().await;
    create(&broker, "slow", 2).await;
    produce(&broker.bootstrap(), "slow", 2, 0..10).await;
    let mut c = Consumer::connect(consumer_config(
        &broker.bootstrap(),
        "g-slow",
        &[("max.poll.interval.ms", "600")],
    ))
    .await
    .unwrap();
    c.subscribe(&["slow"]).unwrap();
    let events = Recorder::default();
    c.set_rebalance_listener(events.clone()).unwrap();
    let mut n = 0;
    while n < 10 {
        n += c.poll(Duration::from_millis(100)).await.unwrap().len();
    }
    let (first_member, first_generation) = c.group_membership().unwrap();
    // Longer than max.poll.interval.ms without a poll: the heartbeat task leaves.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let admin = broker.admin().await;
    let d = admin.describe_groups(&["g-slow"]).await.unwrap();
    assert_eq!(
        d["g-slow"].as_ref().unwrap().members.len(),
        0,
        "the member left"
    );
    for _ in 0..100 {
        c.poll(Duration::from_millis(50)).await.unwrap();
        if c.assignment().len() == 2 && c.group_membership().is_some() {
            break;
        }
    }
    assert_eq!(c.assignment().len(), 2);
    let (member, generation) = c.group_membership().unwrap();
    assert_ne!(member, first_member, "a new member id after leaving");
    assert!(generation > first_generation);
    let events = events.0.lock().unwrap().clone();
    assert!(
        matches!(events.as_slice(), [Event::Assigned(a), Event::Lost(l), Event::Assigned(b)] if a.len() == 2 && l.len() == 2 && b.len() == 2),
        "{events:?}"
    );
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_subscription_follows_new_topics() {
    let broker = common::start_for_groups().await;
    create(&broker, "pat-a", 2).await;
    create(&broker, "other", 1).await;
    let mut c = Consumer::connect(consumer_config(
        &broker.bootstrap(),
        "g-pat",
        &[("metadata.max.age.ms", "200")],
    ))
    .await
    .unwrap();
    assert!(c.subscribe_pattern("pat-(").is_err());
    c.subscribe_pattern("pat-.*").unwrap();
    let owned = |c: &Consumer| c.assignment().into_iter().collect::<BTreeSet<_>>();
    for _ in 0..100 {
        c.poll(Duration::from_millis(50)).await.unwrap();
        if owned(&c) == all("pat-a", 2) {
            break;
        }
    }
    assert_eq!(owned(&c), all("pat-a", 2));
    assert_eq!(c.subscription(), ["pat-a"]);
    create(&broker, "pat-b", 3).await;
    produce(&broker.bootstrap(), "pat-b", 3, 0..3).await;
    let mut want = all("pat-a", 2);
    want.extend(all("pat-b", 3));
    let mut read = BTreeMap::new();
    for _ in 0..200 {
        for r in c.poll(Duration::from_millis(50)).await.unwrap() {
            read.insert(r.partition, r.topic);
        }
        if owned(&c) == want && read.len() == 3 {
            break;
        }
    }
    assert_eq!(owned(&c), want);
    assert_eq!(read.len(), 3, "{read:?}");
    assert_eq!(c.subscription(), ["pat-a", "pat-b"]);
    c.close().await.unwrap();
}
