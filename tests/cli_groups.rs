//! End-to-end tests of `brook groups reset-offsets`: the real binary against a real
//! `brook server`. Records (with chosen timestamps) are written and offsets committed with
//! `brook-client`; a live group member is a kcat consumer in the background.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use brook_client::{
    Admin, AdminConfig, Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord,
    TopicPartition,
};

mod cli_support;
use cli_support::*;

/// 2023-11-14T22:13:20Z: the timestamp of record 0 of `events` partition 0; record `i` is
/// `i` seconds later.
const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .try_into()
        .unwrap()
}

/// A server with:
/// - `events`, 2 partitions: partition 0 has 10 records at `T0 + i s` (2023), partition 1
///   has 4 records at `now - (4 - i) h`;
/// - `other`, 1 partition, 3 records;
/// - group `grp` (no members) committed at `events-0` 5 and `events-1` 2.
struct Fixture {
    server: Server,
    _data: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let data = tempfile::tempdir().unwrap();
        let server = Server::start_with(
            data.path(),
            &["--set", "group.initial.rebalance.delay.ms=0"],
        );
        server
            .brook(&["topics", "create", "events", "--partitions", "2"])
            .success();
        server
            .brook(&["topics", "create", "other", "--partitions", "1"])
            .success();
        let addr = server.addr.clone();
        block_on(async move {
            let mut config = ProducerConfig::default();
            config.set("bootstrap.servers", &addr).unwrap();
            let producer = Producer::connect(config).await.unwrap();
            let now = now_ms();
            let mut sent = Vec::new();
            for i in 0..10 {
                sent.push(
                    producer.send(
                        ProducerRecord::new("events", format!("a{i}").into_bytes().into())
                            .with_partition(0)
                            .with_timestamp(T0 + i * 1000),
                    ),
                );
            }
            for i in 0..4 {
                sent.push(
                    producer.send(
                        ProducerRecord::new("events", format!("b{i}").into_bytes().into())
                            .with_partition(1)
                            .with_timestamp(now - (4 - i) * HOUR),
                    ),
                );
            }
            for i in 0..3 {
                sent.push(
                    producer.send(
                        ProducerRecord::new("other", format!("c{i}").into_bytes().into())
                            .with_partition(0),
                    ),
                );
            }
            for s in sent {
                s.await.unwrap();
            }
            producer.close(Duration::from_secs(10)).await.unwrap();
        });
        commit(&server, "grp", &[(("events", 0), 5), (("events", 1), 2)]);
        Fixture {
            server,
            _data: data,
        }
    }

    /// `brook groups reset-offsets ARGS`.
    fn reset(&self, args: &[&str]) -> Run {
        let mut all = vec!["groups", "reset-offsets"];
        all.extend_from_slice(args);
        self.server.brook(&all)
    }

    /// The plan a successful `reset-offsets ARGS` prints.
    #[track_caller]
    fn plan(&self, args: &[&str]) -> Vec<(String, i32, i64)> {
        let out = self.reset(args).success();
        plan_of(&out.stdout)
    }
}

/// Commits `offsets` for `group` as a client outside the group.
fn commit(server: &Server, group: &str, offsets: &[((&str, i32), i64)]) {
    let addr = server.addr.clone();
    let group = group.to_owned();
    let offsets: Vec<(TopicPartition, i64)> = offsets
        .iter()
        .map(|((t, p), o)| (TopicPartition::new(*t, *p), *o))
        .collect();
    block_on(async move {
        let mut config = ConsumerConfig::new(addr);
        config.group_id = Some(group);
        let consumer = Consumer::connect(config).await.unwrap();
        consumer.commit_sync(&offsets).await.unwrap();
    });
}

/// What `group` has committed, by `(topic, partition)`.
fn committed(server: &Server, group: &str) -> BTreeMap<(String, i32), i64> {
    let addr = server.addr.clone();
    let group = group.to_owned();
    block_on(async move {
        let admin = Admin::connect(&addr, AdminConfig::default()).await.unwrap();
        admin
            .list_consumer_group_offsets(&group, None)
            .await
            .unwrap()
            .into_iter()
            .map(|(tp, o)| ((tp.topic, tp.partition), o.offset))
            .collect()
    })
}

fn offsets(entries: &[((&str, i32), i64)]) -> BTreeMap<(String, i32), i64> {
    entries
        .iter()
        .map(|((t, p), o)| (((*t).to_owned(), *p), *o))
        .collect()
}

/// The rows of a `GROUP TOPIC PARTITION NEW-OFFSET` table.
#[track_caller]
fn plan_of(stdout: &str) -> Vec<(String, i32, i64)> {
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
        "{stdout}"
    );
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells.len(), 4, "{stdout}");
            (
                format!("{}/{}", cells[0], cells[1]),
                cells[2].parse().unwrap(),
                cells[3].parse().unwrap(),
            )
        })
        .collect()
}

/// Plan rows of group `grp`: `(topic, partition, new offset)`.
fn rows(entries: &[(&str, i32, i64)]) -> Vec<(String, i32, i64)> {
    entries
        .iter()
        .map(|(t, p, o)| (format!("grp/{t}"), *p, *o))
        .collect()
}

/// The whitespace-separated cells of the table row whose first cells are `prefix`.
fn row<'a>(table: &'a str, prefix: &[&str]) -> Option<Vec<&'a str>> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.len() >= prefix.len() && cells[..prefix.len()] == *prefix)
}

#[test]
fn without_execute_it_is_a_dry_run_that_changes_nothing() {
    let f = Fixture::new();
    let before = offsets(&[(("events", 0), 5), (("events", 1), 2)]);
    assert_eq!(committed(&f.server, "grp"), before);

    // Neither flag: a dry run, with a warning on stderr; stdout is only the table.
    let out = f.reset(&["grp", "--all-topics", "--to-earliest"]).success();
    assert!(out.stderr.contains("WARN"), "{}", out.stderr);
    assert!(out.stderr.contains("--execute"), "{}", out.stderr);
    assert_eq!(
        plan_of(&out.stdout),
        rows(&[("events", 0, 0), ("events", 1, 0)])
    );
    assert_eq!(committed(&f.server, "grp"), before);

    // An explicit --dry-run: the same plan, no warning.
    let out = f
        .reset(&["grp", "--all-topics", "--to-latest", "--dry-run"])
        .success();
    assert!(!out.stderr.contains("WARN"), "{}", out.stderr);
    assert_eq!(
        plan_of(&out.stdout),
        rows(&[("events", 0, 10), ("events", 1, 4)])
    );
    assert_eq!(committed(&f.server, "grp"), before);
    // `groups describe` agrees: nothing moved.
    let out = f.server.brook(&["groups", "describe", "grp"]).success();
    let p0 = row(&out.stdout, &["grp", "events", "0"]).unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(&p0[3..6], ["5", "10", "5"], "{}", out.stdout);
}

#[test]
fn every_mode_plans_the_offsets_kafka_would() {
    let f = Fixture::new();
    let all = ["grp", "--all-topics", "--dry-run"];
    let with = |extra: &[&str]| -> Vec<(String, i32, i64)> {
        let mut args = all.to_vec();
        args.extend_from_slice(extra);
        f.plan(&args)
    };

    assert_eq!(
        with(&["--to-earliest"]),
        rows(&[("events", 0, 0), ("events", 1, 0)])
    );
    assert_eq!(
        with(&["--to-latest"]),
        rows(&[("events", 0, 10), ("events", 1, 4)])
    );
    assert_eq!(
        with(&["--to-current"]),
        rows(&[("events", 0, 5), ("events", 1, 2)])
    );
    // --to-offset, clamped to [log start, log end] per partition.
    assert_eq!(
        with(&["--to-offset", "3"]),
        rows(&[("events", 0, 3), ("events", 1, 3)])
    );
    assert_eq!(
        with(&["--to-offset", "7"]),
        rows(&[("events", 0, 7), ("events", 1, 4)])
    );
    assert_eq!(
        with(&["--to-offset", "-5"]),
        rows(&[("events", 0, 0), ("events", 1, 0)])
    );
    // --shift-by moves the committed offsets, clamped.
    assert_eq!(
        with(&["--shift-by", "2"]),
        rows(&[("events", 0, 7), ("events", 1, 4)])
    );
    assert_eq!(
        with(&["--shift-by", "-3"]),
        rows(&[("events", 0, 2), ("events", 1, 0)])
    );
    assert_eq!(
        with(&["--shift-by", "1000"]),
        rows(&[("events", 0, 10), ("events", 1, 4)])
    );
    // --to-datetime: the first offset at or after the time; partition 1 is all later.
    assert_eq!(
        with(&["--to-datetime", "2023-11-14T22:13:23.000"]),
        rows(&[("events", 0, 3), ("events", 1, 0)])
    );
    assert_eq!(
        with(&["--to-datetime", "2023-11-14T23:13:25.500+01:00"]),
        rows(&[("events", 0, 6), ("events", 1, 0)])
    );
    assert_eq!(
        with(&["--to-datetime", "2023-11-14T22:13:23Z"]),
        rows(&[("events", 0, 3), ("events", 1, 0)])
    );
    // After every record: the log end, as Kafka does.
    assert_eq!(
        with(&["--to-datetime", "2100-01-01T00:00:00"]),
        rows(&[("events", 0, 10), ("events", 1, 4)])
    );
    // --by-duration: partition 1's records are 4, 3, 2 and 1 hours old; partition 0's are
    // from 2023, older than 2.5 hours (log end) but not than a century (log start).
    assert_eq!(
        with(&["--by-duration", "PT2H30M"]),
        rows(&[("events", 0, 10), ("events", 1, 2)])
    );
    assert_eq!(
        with(&["--by-duration", "P36500D"]),
        rows(&[("events", 0, 0), ("events", 1, 0)])
    );
    assert_eq!(
        with(&["--by-duration", "P0DT3H30M0S"]),
        rows(&[("events", 0, 10), ("events", 1, 1)])
    );

    // --topic picks topics and partitions instead of the committed ones; --to-current
    // goes to the log end where the group has no commit.
    assert_eq!(
        f.plan(&["grp", "--topic", "events:1", "--to-earliest"]),
        rows(&[("events", 1, 0)])
    );
    assert_eq!(
        f.plan(&[
            "grp",
            "--topic",
            "other",
            "--topic",
            "events:0",
            "--to-current"
        ]),
        rows(&[("events", 0, 5), ("other", 0, 3)])
    );
    assert_eq!(
        f.plan(&["grp", "--topic", "events", "--to-offset", "1"]),
        rows(&[("events", 0, 1), ("events", 1, 1)])
    );
    assert_eq!(
        committed(&f.server, "grp"),
        offsets(&[(("events", 0), 5), (("events", 1), 2)])
    );
}

#[test]
fn execute_commits_the_new_offsets() {
    let f = Fixture::new();
    let out = f
        .reset(&[
            "grp",
            "--topic",
            "events:0",
            "--to-offset",
            "3",
            "--execute",
        ])
        .success();
    assert_eq!(plan_of(&out.stdout), rows(&[("events", 0, 3)]));
    assert!(!out.stderr.contains("WARN"), "{}", out.stderr);
    assert_eq!(
        committed(&f.server, "grp"),
        offsets(&[(("events", 0), 3), (("events", 1), 2)])
    );
    let out = f.server.brook(&["groups", "describe", "grp"]).success();
    let p0 = row(&out.stdout, &["grp", "events", "0"]).unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(&p0[3..6], ["3", "10", "7"], "{}", out.stdout);

    f.reset(&["grp", "--all-topics", "--shift-by", "-1", "--execute"])
        .success();
    assert_eq!(
        committed(&f.server, "grp"),
        offsets(&[(("events", 0), 2), (("events", 1), 1)])
    );

    // Clamped to the log end.
    f.reset(&["grp", "--all-topics", "--to-offset", "100", "--execute"])
        .success();
    assert_eq!(
        committed(&f.server, "grp"),
        offsets(&[(("events", 0), 10), (("events", 1), 4)])
    );
    let out = f.server.brook(&["groups", "describe", "grp"]).success();
    let p1 = row(&out.stdout, &["grp", "events", "1"]).unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(&p1[3..6], ["4", "4", "0"], "{}", out.stdout);

    // Clamped to the log start once records are deleted.
    let addr = f.server.addr.clone();
    block_on(async move {
        let admin = Admin::connect(&addr, AdminConfig::default()).await.unwrap();
        let r = admin
            .delete_records(&[(TopicPartition::new("events", 0), 4)])
            .await
            .unwrap();
        assert_eq!(r[&TopicPartition::new("events", 0)], Ok(4));
    });
    f.reset(&["grp", "--all-topics", "--to-offset", "1", "--execute"])
        .success();
    assert_eq!(
        committed(&f.server, "grp"),
        offsets(&[(("events", 0), 4), (("events", 1), 1)])
    );
    f.reset(&["grp", "--all-topics", "--to-earliest", "--execute"])
        .success();
    assert_eq!(
        committed(&f.server, "grp"),
        offsets(&[(("events", 0), 4), (("events", 1), 0)])
    );

    // A group that does not exist yet gets offsets (as with Kafka), and then exists.
    let out = f
        .reset(&["fresh", "--topic", "other", "--to-latest", "--execute"])
        .success();
    assert_eq!(plan_of(&out.stdout), vec![("fresh/other".into(), 0, 3)]);
    assert_eq!(committed(&f.server, "fresh"), offsets(&[(("other", 0), 3)]));
    let out = f.server.brook(&["groups", "describe", "fresh"]).success();
    let p0 = row(&out.stdout, &["fresh", "other", "0"]).unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(&p0[3..6], ["3", "3", "0"], "{}", out.stdout);
}

/// A kcat group member in the background; stopped with SIGTERM (so it leaves the group)
/// on drop.
struct Member(Option<Child>);

impl Member {
    fn join(server: &Server, group: &str, topic: &str) -> Member {
        let child = Command::new("timeout")
            .args(["120", "kcat", "-b", &server.addr, "-q", "-G", group, topic])
            .args(["-X", "enable.auto.commit=false"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kcat is installed");
        Member(Some(child))
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // `timeout` passes SIGTERM on to kcat, which then leaves the group.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `brook groups describe GROUP` says `State: STATE`.
#[track_caller]
fn wait_for_state(server: &Server, group: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = server.brook(&["groups", "describe", group]);
        if out.stdout.contains(&format!("State: {state} ")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {group} never became {state}:\n{}{}",
            out.stdout,
            out.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_group_with_active_members_is_refused() {
    let f = Fixture::new();
    let mut member = Member::join(&f.server, "grp", "events");
    wait_for_state(&f.server, "grp", "Stable");

    for extra in [&["--execute"][..], &["--dry-run"], &[]] {
        let mut args = vec!["grp", "--all-topics", "--to-earliest"];
        args.extend_from_slice(extra);
        let out = f
            .reset(&args)
            .failure("Assignments can only be reset if the group `grp` is inactive");
        assert!(out.stderr.contains("Stable"), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    assert_eq!(
        committed(&f.server, "grp"),
        offsets(&[(("events", 0), 5), (("events", 1), 2)])
    );

    // Once the member left, the reset goes through.
    member.stop();
    wait_for_state(&f.server, "grp", "Empty");
    f.reset(&["grp", "--all-topics", "--to-earliest", "--execute"])
        .success();
    assert_eq!(
        committed(&f.server, "grp"),
        offsets(&[(("events", 0), 0), (("events", 1), 0)])
    );
}

#[test]
fn bad_arguments_fail_clearly() {
    let f = Fixture::new();
    // What clap refuses: a missing or doubled choice.
    f.reset(&["grp", "--all-topics"]).failure("--to-earliest");
    f.reset(&["grp", "--to-earliest"]).failure("--all-topics");
    f.reset(&["grp", "--all-topics", "--to-earliest", "--to-latest"])
        .failure("cannot be used with");
    f.reset(&["grp", "--all-topics", "--topic", "events", "--to-earliest"])
        .failure("cannot be used with");
    f.reset(&[
        "grp",
        "--all-topics",
        "--to-earliest",
        "--dry-run",
        "--execute",
    ])
    .failure("cannot be used with");
    f.reset(&["grp", "--all-topics", "--to-offset", "abc"])
        .failure("invalid value");
    f.reset(&["--all-topics", "--to-earliest"]).failure("GROUP");

    // What the tool refuses before asking the broker.
    f.reset(&["grp", "--all-topics", "--to-datetime", "yesterday"])
        .failure("invalid --to-datetime `yesterday`");
    f.reset(&[
        "grp",
        "--all-topics",
        "--to-datetime",
        "2026-02-30T00:00:00",
    ])
    .failure("no such date");
    f.reset(&["grp", "--all-topics", "--by-duration", "30m"])
        .failure("invalid --by-duration `30m`");
    f.reset(&["grp", "--topic", "events:x", "--to-earliest"])
        .failure("invalid --topic `events:x`");

    // What the cluster refutes.
    f.reset(&["grp", "--topic", "nosuch", "--to-earliest"])
        .failure("unknown topic `nosuch`");
    f.reset(&["grp", "--topic", "events:7", "--to-earliest"])
        .failure("topic `events` has no partition 7");
    f.reset(&["grp", "--topic", "other", "--shift-by", "1"])
        .failure("no committed offset");
    f.reset(&["nobody", "--all-topics", "--to-earliest"])
        .failure("has no committed offsets");
    run(brook()
        .args([
            "groups",
            "reset-offsets",
            "grp",
            "--all-topics",
            "--to-earliest",
        ])
        .args(["--bootstrap-server", "127.0.0.1:1", "--timeout", "5"]))
    .failure("cannot reach the broker at 127.0.0.1:1");

    // None of it changed anything.
    assert_eq!(
        committed(&f.server, "grp"),
        offsets(&[(("events", 0), 5), (("events", 1), 2)])
    );
}
