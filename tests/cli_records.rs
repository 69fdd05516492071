//! End-to-end tests of `brook produce` and `brook consume`: the real binary against a real
//! `brook server`; kcat reads what `brook produce` wrote.

use std::collections::BTreeMap;

mod cli_support;
use cli_support::*;

/// 1000 lines `key-I:value-I` over 50 distinct keys.
fn keyed_input() -> (String, Vec<(String, String)>) {
    let pairs: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("key-{}", i % 50), format!("value-{i}")))
        .collect();
    let text = pairs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    (text, pairs)
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

/// Splits `a\tb` lines into pairs.
fn tab_pairs(out: &str) -> Vec<(String, String)> {
    out.lines()
        .map(|l| {
            let (k, v) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("no tab in `{l}`"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn setup(server: &Server, topic: &str) -> Vec<(String, String)> {
    server
        .brook(&["topics", "create", topic, "--partitions", "3"])
        .success();
    let (input, pairs) = keyed_input();
    let out = server
        .brook_with_input(
            &[
                "produce",
                topic,
                "--key-separator",
                ":",
                "--header",
                "source=cli",
                "--acks",
                "all",
                "--compression",
                "lz4",
            ],
            &input,
        )
        .success();
    assert_eq!(out.stdout, "", "produce prints nothing on success");
    pairs
}

#[test]
fn produce_then_consume_keyed_records() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let pairs = setup(&server, "orders");

    let out = server
        .brook(&[
            "consume",
            "orders",
            "--from-beginning",
            "--print-key",
            "--max-messages",
            "1000",
            "--timeout-ms",
            "10000",
        ])
        .success();
    assert_eq!(sorted(tab_pairs(&out.stdout)), sorted(pairs.clone()));

    // Per partition, in the order produced, offsets 0.. without gaps; one key, one partition;
    // every record carries the header.
    let out = server
        .brook(&[
            "consume",
            "orders",
            "--from-beginning",
            "--print-key",
            "--print-partition",
            "--print-offset",
            "--print-headers",
            "--max-messages",
            "1000",
            "--timeout-ms",
            "10000",
        ])
        .success();
    let mut per_partition: BTreeMap<i32, Vec<(i64, String, String)>> = BTreeMap::new();
    let mut key_partition: BTreeMap<String, i32> = BTreeMap::new();
    for line in out.stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 5, "{line}");
        let p: i32 = f[0].strip_prefix("Partition:").unwrap().parse().unwrap();
        let o: i64 = f[1].strip_prefix("Offset:").unwrap().parse().unwrap();
        assert_eq!(f[2], "source:cli");
        assert_eq!(*key_partition.entry(f[3].to_owned()).or_insert(p), p);
        per_partition
            .entry(p)
            .or_default()
            .push((o, f[3].to_owned(), f[4].to_owned()));
    }
    assert_eq!(per_partition.len(), 3, "keys spread over all 3 partitions");
    let mut total = 0;
    for (p, records) in &per_partition {
        let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
        assert_eq!(
            offsets,
            (0..records.len() as i64).collect::<Vec<_>>(),
            "p{p}"
        );
        // The values of a partition come in the order they were produced.
        let expected: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| key_partition[k] == *p)
            .cloned()
            .collect();
        let got: Vec<(String, String)> =
            records.iter().map(|r| (r.1.clone(), r.2.clone())).collect();
        assert_eq!(got, expected, "p{p}");
        total += records.len();
    }
    assert_eq!(total, 1000);

    // --partition and --offset select.
    let (&p, records) = per_partition.iter().next().unwrap();
    let p_str = p.to_string();
    let out = server
        .brook(&[
            "consume",
            "orders",
            "--partition",
            &p_str,
            "--offset",
            "5",
            "--print-key",
            "--print-offset",
            "--timeout-ms",
            "1500",
        ])
        .success();
    let expected: Vec<String> = records[5..]
        .iter()
        .map(|(o, k, v)| format!("Offset:{o}\t{k}\t{v}"))
        .collect();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), expected);

    // --max-messages stops early; --timestamp 0 is the beginning.
    let out = server
        .brook(&[
            "consume",
            "orders",
            "--partition",
            &p_str,
            "--timestamp",
            "0",
            "--max-messages",
            "3",
        ])
        .success();
    let expected: Vec<&str> = records[..3].iter().map(|r| r.2.as_str()).collect();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), expected);

    // Without a position flag only new records are read: none here.
    let out = server
        .brook(&["consume", "orders", "--timeout-ms", "1000"])
        .success();
    assert_eq!(out.stdout, "");
}

#[test]
fn group_commits_what_it_consumed() {
    let data = tempfile::tempdir().unwrap();
    // A new group's first rebalance would otherwise wait 3 s for more members, longer
    // than the --timeout-ms below.
    let server = Server::start_with(
        data.path(),
        &["--set", "group.initial.rebalance.delay.ms=0"],
    );
    let pairs = setup(&server, "events");

    let args = [
        "consume",
        "events",
        "--group",
        "g",
        "--from-beginning",
        "--print-key",
        "--timeout-ms",
        "2000",
    ];
    let out = server.brook(&args).success();
    assert_eq!(sorted(tab_pairs(&out.stdout)), sorted(pairs));
    // The commits worked: the second run starts at the end.
    let out = server.brook(&args).success();
    assert_eq!(out.stdout, "", "nothing left for group g");

    // More records: the group reads only those.
    server
        .brook_with_input(&["produce", "events", "--key-separator", ":"], "late:1\n")
        .success();
    let out = server.brook(&args).success();
    assert_eq!(out.stdout, "late\t1\n");

    let described = server.brook(&["groups", "describe", "g"]).success();
    assert!(described.stdout.contains("events"), "{}", described.stdout);
}

#[test]
fn consumers_of_one_group_share_the_partitions() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        data.path(),
        &["--set", "group.initial.rebalance.delay.ms=0"],
    );
    let pairs = setup(&server, "shared-events");
    let args = [
        "consume",
        "shared-events",
        "--group",
        "sharing",
        "--from-beginning",
        "--print-key",
        "--print-partition",
        "--timeout-ms",
        "3000",
        "--bootstrap-server",
        &server.addr,
    ];
    // Two members at once: each prints what it owned; what one printed before a
    // rebalance moved a partition was committed on revocation, so nothing is printed twice.
    let spawn = || {
        cli_support::brook()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let mut seen = Vec::new();
    let mut partitions_of = Vec::new();
    for out in [&a.stdout, &b.stdout] {
        let text = String::from_utf8(out.clone()).unwrap();
        let mut parts = std::collections::BTreeSet::new();
        for line in text.lines() {
            let mut f = line.splitn(3, '\t');
            let (p, k, v) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            parts.insert(p.to_owned());
            seen.push((k.to_owned(), v.to_owned()));
        }
        partitions_of.push(parts);
    }
    assert_eq!(seen.len(), pairs.len(), "every record once, none twice");
    assert_eq!(sorted(seen), sorted(pairs));
}

#[test]
fn kcat_reads_what_brook_produced() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let pairs = setup(&server, "shared");
    let out = server.kcat_read("shared", "%k\t%s\n");
    assert_eq!(sorted(tab_pairs(&out)), sorted(pairs));
    let headers = server.kcat_read("shared", "%h\n");
    assert_eq!(headers.lines().count(), 1000);
    assert!(headers.lines().all(|h| h == "source=cli"), "{headers}");

    // Every codec and acks level, into one partition: kcat reads them in order.
    server
        .brook(&["topics", "create", "codecs", "--partitions", "2"])
        .success();
    let mut expected = String::new();
    for (codec, acks) in [
        ("none", "0"),
        ("gzip", "1"),
        ("snappy", "all"),
        ("lz4", "1"),
        ("zstd", "all"),
    ] {
        let input: String = (0..100).map(|i| format!("{codec}-{i}={acks}\n")).collect();
        server
            .brook_with_input(
                &[
                    "produce",
                    "codecs",
                    "--key-separator",
                    "=",
                    "--partition",
                    "1",
                    "--compression",
                    codec,
                    "--acks",
                    acks,
                    "--linger-ms",
                    "20",
                ],
                &input,
            )
            .success();
        expected.push_str(&input.replace('=', "\t"));
    }
    assert_eq!(server.kcat_read("codecs", "%p %k\t%s\n"), {
        expected
            .lines()
            .map(|l| format!("1 {l}\n"))
            .collect::<String>()
    });
}

#[test]
fn errors_are_clear() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    server
        .brook(&["consume", "missing", "--timeout-ms", "1000"])
        .failure("unknown topic `missing`");
    server
        .brook(&["topics", "create", "t", "--partitions", "1"])
        .success();
    server
        .brook(&["consume", "t", "--partition", "4", "--timeout-ms", "1000"])
        .failure("no partition 4");
    server
        .brook_with_input(&["produce", "t", "--key-separator", ":"], "no-separator\n")
        .failure("no key separator");
    server
        .brook_with_input(&["produce", "t", "--partition", "9"], "x\n")
        .failure("no partition 9");
    // Unreachable broker.
    let out = run(brook()
        .args(["consume", "t", "--timeout", "2"])
        .args(["--bootstrap-server", "127.0.0.1:1"]));
    assert!(
        !out.ok && out.stderr.contains("cannot reach the broker"),
        "{}",
        out.stderr
    );

    // A topic the broker creates on first use.
    server
        .brook_with_input(&["produce", "fresh"], "a\nb\n")
        .success();
    let out = server
        .brook(&[
            "consume",
            "fresh",
            "--from-beginning",
            "--max-messages",
            "2",
        ])
        .success();
    assert_eq!(out.stdout, "a\nb\n");
}

#[test]
fn produce_to_an_unknown_topic_fails_when_the_broker_does_not_create_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &["--set", "auto.create.topics.enable=false"]);
    server
        .brook_with_input(&["produce", "nope"], "x\n")
        .failure("UNKNOWN_TOPIC_OR_PARTITION");
}
