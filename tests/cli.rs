//! End-to-end tests of `brook topics` and `brook groups`: the real binary against a real
//! `brook server`, checking outputs and exit codes; offsets are committed by kcat.

use std::time::{Duration, Instant};

mod cli_support;
use cli_support::*;

/// The whitespace-separated cells of the table row whose first cells are `prefix`.
fn row<'a>(table: &'a str, prefix: &[&str]) -> Option<Vec<&'a str>> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.len() >= prefix.len() && cells[..prefix.len()] == *prefix)
}

#[test]
fn topics_create_list_describe_alter_delete() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());

    let out = server
        .brook(&[
            "topics",
            "create",
            "orders",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=60000",
        ])
        .success();
    assert_eq!(out.stdout.trim(), "Created topic orders.");
    server.brook(&["topics", "create", "payments"]).success();

    // A duplicate fails by Kafka's name, with a nonzero exit code.
    server
        .brook(&["topics", "create", "orders", "--partitions", "1"])
        .failure("TOPIC_ALREADY_EXISTS");
    // A config that is not KEY=VALUE is refused by the parser.
    let bad = server.brook(&["topics", "create", "x", "--config", "oops"]);
    assert!(
        !bad.ok && bad.stderr.contains("KEY=VALUE"),
        "{}",
        bad.stderr
    );

    let out = server.brook(&["topics", "list"]).success();
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["orders", "payments"]
    );

    let out = server.brook(&["topics", "describe", "orders"]).success();
    let header = out.stdout.lines().next().unwrap();
    assert!(header.starts_with("Topic: orders"), "{}", out.stdout);
    assert!(header.contains("PartitionCount: 3"), "{header}");
    assert!(header.contains("ReplicationFactor: 1"), "{header}");
    assert!(header.contains("Configs: retention.ms=60000"), "{header}");
    assert!(row(
        &out.stdout,
        &["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"]
    )
    .is_some());
    for p in 0..3 {
        let p = p.to_string();
        let cells = row(&out.stdout, &["orders", &p]).unwrap_or_else(|| panic!("{}", out.stdout));
        assert_eq!(cells.len(), 5, "{cells:?}");
        assert_eq!(cells[3], cells[2], "one replica, the leader: {cells:?}");
        assert_eq!(cells[4], cells[2], "ISR is the leader: {cells:?}");
    }
    // Columns line up: every row of the table has its PARTITION cell at the same column.
    let second_column = |l: &str| {
        let gap = l.find(' ').unwrap_or(l.len());
        gap + l[gap..].find(|c: char| c != ' ').unwrap_or(0)
    };
    let starts: Vec<usize> = out.stdout.lines().skip(1).map(second_column).collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{}", out.stdout);

    // Without names, every topic; an unknown one fails by name.
    let out = server.brook(&["topics", "describe"]).success();
    assert!(out.stdout.contains("Topic: orders") && out.stdout.contains("Topic: payments"));
    server
        .brook(&["topics", "describe", "nosuch"])
        .failure("unknown topic `nosuch`");

    let out = server
        .brook(&[
            "topics",
            "alter",
            "orders",
            "--partitions",
            "5",
            "--config",
            "cleanup.policy=compact",
            "--delete-config",
            "retention.ms",
        ])
        .success();
    assert!(out.stdout.contains("to 5"), "{}", out.stdout);
    let out = server.brook(&["topics", "describe", "orders"]).success();
    let header = out.stdout.lines().next().unwrap();
    assert!(header.contains("PartitionCount: 5"), "{header}");
    assert!(header.contains("cleanup.policy=compact"), "{header}");
    assert!(!header.contains("retention.ms"), "{header}");
    server
        .brook(&["topics", "alter", "orders", "--partitions", "2"])
        .failure("INVALID_PARTITIONS");
    server
        .brook(&["topics", "alter", "nosuch", "--partitions", "2"])
        .failure("unknown topic `nosuch`");
    server
        .brook(&["topics", "alter", "orders"])
        .failure("nothing to alter");

    // One broker: each partition's only replica already leads it.
    let out = server
        .brook(&["topics", "elect-leaders", "--topic", "orders"])
        .success();
    assert!(
        out.stdout
            .starts_with("Valid replica already elected for partitions orders-0"),
        "{}",
        out.stdout
    );
    let out = server
        .brook(&["topics", "elect-leaders", "--all-topic-partitions"])
        .success();
    assert_eq!(out.stdout.trim(), "No partition needed an election.");
    server
        .brook(&[
            "topics",
            "elect-leaders",
            "--election-type",
            "unclean",
            "--topic",
            "orders",
            "--partition",
            "99",
        ])
        .failure("UNKNOWN_TOPIC_OR_PARTITION");

    let out = server.brook(&["topics", "delete", "orders"]).success();
    assert_eq!(out.stdout.trim(), "Deleted topic orders.");
    let out = server.brook(&["topics", "list"]).success();
    assert_eq!(out.stdout.trim(), "payments");
    server
        .brook(&["topics", "delete", "orders"])
        .failure("UNKNOWN_TOPIC_OR_PARTITION");
}

#[test]
fn groups_list_describe_with_lag_and_delete() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    server
        .brook(&["topics", "create", "events", "--partitions", "2"])
        .success();
    let ten: String = (0..10).map(|i| format!("v{i}\n")).collect();
    let four: String = (0..4).map(|i| format!("w{i}\n")).collect();
    server.kcat(&["-P", "-t", "events", "-p", "0"], &ten);
    server.kcat(&["-P", "-t", "events", "-p", "1"], &four);
    // A group consumes everything, commits and leaves.
    server.kcat(&["-G", "grp", "-q", "-e", "-o", "beginning", "events"], "");
    // Five more records: the group lags by 5 on partition 0.
    let five: String = (0..5).map(|i| format!("x{i}\n")).collect();
    server.kcat(&["-P", "-t", "events", "-p", "0"], &five);

    let out = server.brook(&["groups", "list"]).success();
    let cells = row(&out.stdout, &["grp"]).unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(cells, ["grp", "Empty", "consumer"]);

    let out = server.brook(&["groups", "describe", "grp"]).success();
    assert!(out.stdout.contains("State: Empty"), "{}", out.stdout);
    assert!(
        row(
            &out.stdout,
            &[
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG"
            ]
        )
        .is_some(),
        "{}",
        out.stdout
    );
    let p0 = row(&out.stdout, &["grp", "events", "0"]).unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(&p0[3..6], ["10", "15", "5"], "{}", out.stdout);
    let p1 = row(&out.stdout, &["grp", "events", "1"]).unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(&p1[3..6], ["4", "4", "0"], "{}", out.stdout);

    server
        .brook(&["groups", "describe", "nosuch"])
        .failure("GROUP_ID_NOT_FOUND");

    let out = server.brook(&["groups", "delete", "grp"]).success();
    assert_eq!(out.stdout.trim(), "Deleted consumer group grp.");
    let out = server.brook(&["groups", "list"]).success();
    assert!(row(&out.stdout, &["grp"]).is_none(), "{}", out.stdout);
    server
        .brook(&["groups", "delete", "grp"])
        .failure("GROUP_ID_NOT_FOUND");
}

#[test]
fn an_unreachable_broker_fails_fast_and_clearly() {
    for args in [
        &["topics", "list"][..],
        &["topics", "create", "t"],
        &["groups", "list"],
    ] {
        let started = Instant::now();
        run(brook()
            .args(args)
            .args(["--bootstrap-server", "127.0.0.1:1"]))
        .failure("cannot reach the broker at 127.0.0.1:1");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
}
