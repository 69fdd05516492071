//! End-to-end tests of `brook perf produce|consume|e2e`: the real binary against a real
//! `brook server`. They check counts and the shape of the figures, never timings.

use std::collections::BTreeMap;

use brook_client::{Admin, AdminConfig, OffsetSpec, TopicPartition};

mod cli_support;
use cli_support::*;

/// The `name: value` lines of a run.
fn figures(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| !k.contains(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[track_caller]
fn num(f: &BTreeMap<String, String>, name: &str) -> f64 {
    let v = f
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` line in {f:#?}"));
    v.parse()
        .unwrap_or_else(|_| panic!("`{name}: {v}` is not a number"))
}

/// p50 <= p99 <= p99.9 <= max, all positive.
#[track_caller]
fn latencies_are_ordered(f: &BTreeMap<String, String>, prefix: &str) {
    let p50 = num(f, &format!("{prefix}_p50_ms"));
    let p99 = num(f, &format!("{prefix}_p99_ms"));
    let p999 = num(f, &format!("{prefix}_p999_ms"));
    let max = num(f, &format!("{prefix}_max_ms"));
    assert!(p50 > 0.0, "{prefix}: p50 {p50}");
    assert!(
        p50 <= p99 && p99 <= p999 && p999 <= max,
        "{prefix}: {p50} {p99} {p999} {max}"
    );
}

/// The sum of the log end offsets of every partition of `topic`.
fn end_offsets(server: &Server, topic: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let admin = Admin::connect(&server.addr, AdminConfig::default())
            .await
            .unwrap();
        let described = admin.describe_topics(&[topic]).await.unwrap();
        let t = described[topic].as_ref().unwrap();
        let asked: Vec<_> = t
            .partitions
            .iter()
            .map(|p| (TopicPartition::new(topic, p.partition), OffsetSpec::Latest))
            .collect();
        let offsets = admin.list_offsets(&asked).await.unwrap();
        assert_eq!(offsets.len(), t.partitions.len());
        offsets.values().map(|o| o.as_ref().unwrap().offset).sum()
    })
}

#[test]
fn produce_then_consume_counts_every_record() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let out = server
        .brook(&[
            "perf",
            "produce",
            "--topic",
            "load",
            "--partitions",
            "3",
            "--num-records",
            "5000",
            "--message-size",
            "200",
            "--keys",
            "round-robin",
            "--key-space",
            "10",
            "--producer-config",
            "acks=1",
            "--producer-config",
            "linger.ms=1",
        ])
        .success();
    assert!(
        out.stdout.starts_with("5000 records sent, "),
        "Kafka's summary line first:\n{}",
        out.stdout
    );
    let f = figures(&out.stdout);
    assert_eq!(f["workload"], "produce");
    assert_eq!(f["topics"], "load");
    assert_eq!(f["partitions"], "3");
    assert_eq!(num(&f, "produce_records"), 5000.0);
    assert_eq!(num(&f, "produce_bytes"), 5000.0 * 200.0);
    assert_eq!(num(&f, "produce_errors"), 0.0);
    assert!(num(&f, "produce_msgs_per_s") > 0.0);
    assert!(num(&f, "produce_mb_per_s") > 0.0);
    latencies_are_ordered(&f, "produce_latency");
    assert!(num(&f, "loopback_mb_per_s") > 0.0);
    assert!(num(&f, "produce_mb_per_s_vs_loopback") >= 0.0);
    assert!(f["producer_config"].contains("acks=1"), "{f:?}");
    assert_eq!(end_offsets(&server, "load"), 5000);

    // Consume reads exactly what is there, from the beginning to the end offsets.
    let out = server
        .brook(&["perf", "consume", "--topic", "load", "--consumers", "2"])
        .success();
    let f = figures(&out.stdout);
    assert_eq!(num(&f, "consume_records"), 5000.0);
    assert_eq!(num(&f, "consume_bytes"), 5000.0 * 200.0);
    assert!(num(&f, "consume_mb_per_s") > 0.0);
    assert!(num(&f, "consume_mb_per_s_vs_loopback") >= 0.0);

    // --num-records stops there exactly, and a group resumes where it stopped.
    let out = server
        .brook(&[
            "perf",
            "consume",
            "--topic",
            "load",
            "--num-records",
            "1234",
            "--group",
            "perf-test",
            "--baseline",
            "none",
        ])
        .success();
    let f = figures(&out.stdout);
    assert_eq!(num(&f, "consume_records"), 1234.0);
    assert!(!f.contains_key("loopback_mb_per_s"));
    let out = server
        .brook(&[
            "perf",
            "consume",
            "--topic",
            "load",
            "--group",
            "perf-test",
            "--baseline",
            "memcpy",
        ])
        .success();
    let f = figures(&out.stdout);
    assert_eq!(num(&f, "consume_records"), 5000.0 - 1234.0);
    assert!(num(&f, "memcpy_mb_per_s") > 0.0);
}

#[test]
fn several_topics_and_producers_at_a_rate() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let out = server
        .brook(&[
            "perf",
            "produce",
            "--topic",
            "multi",
            "--topics",
            "2",
            "--partitions",
            "2",
            "--producers",
            "2",
            "--num-records",
            "1001",
            "--rate",
            "2000",
            "--message-size",
            "64",
            "--keys",
            "random",
            "--json",
        ])
        .success();
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["topics"], "multi-0,multi-1");
    assert_eq!(json["partitions"], 4);
    assert_eq!(json["produce_records"], 1001);
    assert_eq!(json["target_rate"].as_f64(), Some(2000.0));
    assert!(json["produce_latency_p99_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        end_offsets(&server, "multi-0") + end_offsets(&server, "multi-1"),
        1001
    );
    let out = server
        .brook(&["perf", "consume", "--topic", "multi", "--topics", "2"])
        .success();
    assert_eq!(num(&figures(&out.stdout), "consume_records"), 1001.0);
}

#[test]
fn e2e_at_a_low_rate_reports_latencies() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let out = server
        .brook(&[
            "perf",
            "e2e",
            "--partitions",
            "2",
            "--rate",
            "400",
            "--num-records",
            "400",
            "--message-size",
            "512",
            "--producer-config",
            "acks=1",
            "--producer-config",
            "linger.ms=0",
        ])
        .success();
    let f = figures(&out.stdout);
    assert_eq!(f["workload"], "e2e");
    assert!(f["topics"].starts_with("perf-"), "{f:?}");
    assert_eq!(num(&f, "produce_records"), 400.0);
    assert_eq!(num(&f, "consume_records"), 400.0);
    assert_eq!(num(&f, "e2e_records"), 400.0);
    latencies_are_ordered(&f, "e2e_latency");
    latencies_are_ordered(&f, "produce_latency");
    assert!(
        out.stdout.contains("end-to-end latency of 400 records"),
        "{}",
        out.stdout
    );
}

#[test]
fn errors_are_clear_and_exit_nonzero() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    for tool in ["produce", "consume", "e2e"] {
        run(brook().args([
            "perf",
            tool,
            "--topic",
            "t",
            "--num-records",
            "10",
            "--timeout",
            "5",
            "--bootstrap-server",
            &addr,
        ]))
        .failure(&format!("cannot reach the broker at {addr}"));
    }

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    server
        .brook(&["perf", "consume", "--topic", "missing"])
        .failure("unknown topic `missing`");
    server.brook(&["perf", "consume"]).failure("needs --topic");
    server
        .brook(&[
            "perf",
            "produce",
            "--num-records",
            "1",
            "--producer-config",
            "no.such.setting=1",
        ])
        .failure("no.such.setting");
    server
        .brook(&["perf", "e2e", "--message-size", "4", "--num-records", "1"])
        .failure("--message-size");
    // Nothing was created by the failed runs.
    let out = server.brook(&["topics", "list"]).success();
    assert!(!out.stdout.contains("missing"), "{}", out.stdout);
}

#[test]
fn cluster_compares_replication_factors_and_survives_a_leader_kill() {
    let data = tempfile::tempdir().unwrap();
    let out = run(brook()
        .args(["perf", "cluster", "--data-dir"])
        .arg(data.path())
        .args([
            "--num-records",
            "2000",
            "--message-size",
            "100",
            "--failovers",
            "1",
            "--failover-rate",
            "500",
            "--failover-lead",
            "0.3",
            "--failover-tail",
            "0.3",
            "--producer-config",
            "linger.ms=1",
        ]))
    .success();
    let f = figures(&out.stdout);
    assert_eq!(f["workload"], "cluster");
    assert_eq!(num(&f, "brokers"), 3.0);
    assert_eq!(f["topics"], "perf-rf1,perf-rf3");
    assert_eq!(num(&f, "partitions"), 3.0);
    assert!(f["producer_config"].contains("acks=all"), "{f:?}");
    for rf in ["rf1", "rf3"] {
        assert_eq!(num(&f, &format!("{rf}_produce_records")), 2000.0);
        assert_eq!(num(&f, &format!("{rf}_produce_errors")), 0.0);
        assert!(num(&f, &format!("{rf}_produce_msgs_per_s")) > 0.0);
        latencies_are_ordered(&f, &format!("{rf}_produce_latency"));
        assert!(num(&f, &format!("{rf}_produce_mb_per_s_vs_loopback")) >= 0.0);
    }
    assert!(num(&f, "rf3_vs_rf1") > 0.0);
    assert!(num(&f, "loopback_mb_per_s") > 0.0);

    assert_eq!(num(&f, "failover_rounds"), 1.0);
    let killed = num(&f, "failover_killed_node_1");
    assert!((1.0..=3.0).contains(&killed), "{f:?}");
    assert_ne!(num(&f, "failover_new_leader_1"), killed);
    let failover = num(&f, "failover_ms_1");
    assert!(failover > 0.0, "{f:?}");
    assert!(num(&f, "metadata_failover_ms_1") > 0.0, "{f:?}");
    assert!(num(&f, "failover_max_latency_ms_1") > 0.0, "{f:?}");
    assert!(num(&f, "rejoin_ms_1") > 0.0, "{f:?}");
    assert_eq!(num(&f, "failover_ms_max"), failover);
    let acked = num(&f, "failover_acked_records");
    assert!(acked > 0.0, "{f:?}");
    assert_eq!(num(&f, "failover_failed_records"), 0.0);
    assert_eq!(num(&f, "failover_lost_records"), 0.0);
    assert!(num(&f, "failover_consumed_records") >= acked, "{f:?}");
    assert!(
        out.stdout
            .contains("failover after kill -9 of the leader: "),
        "{}",
        out.stdout
    );
    // The nodes and their data are gone.
    let left: Vec<_> = std::fs::read_dir(data.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn help_lists_the_tools() {
    let out = run(brook().args(["perf", "--help"])).success();
    for tool in ["produce", "consume", "e2e", "cluster"] {
        assert!(out.stdout.contains(tool), "{}", out.stdout);
    }
    let out = run(brook().args(["perf", "produce", "--help"])).success();
    for flag in [
        "--bootstrap-server",
        "--topics",
        "--partitions",
        "--message-size",
        "--random-fraction",
        "--keys",
        "--producers",
        "--rate",
        "--duration",
        "--num-records",
        "--warmup",
        "--producer-config",
        "--no-progress",
        "--json",
    ] {
        assert!(out.stdout.contains(flag), "{flag} missing:\n{}", out.stdout);
    }
    let out = run(brook().args(["perf", "cluster", "--help"])).success();
    for flag in [
        "--failovers",
        "--failover-rate",
        "--broker-config",
        "--data-dir",
        "--partitions",
        "--producer-config",
        "[default: 3]",
    ] {
        assert!(out.stdout.contains(flag), "{flag} missing:\n{}", out.stdout);
    }
}
