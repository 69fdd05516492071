//! Interop tests: Kafka clients that nobody here wrote drive a real `brook server`.
//!
//! - kcat (librdkafka): metadata listing, keyed produce with every compression codec and
//!   acks 0, 1 and all into auto-created topics, consume from the beginning (also with fetch
//!   limits smaller than a batch) and from the tail; 10,000 keyed records with headers read
//!   back identical (keys, values, headers, CreateTime timestamps, a key per partition), the
//!   topic in `kcat -L`.
//! - Records that do not parse (count mismatches, bad compression, overlong keys, trailing
//!   bytes) are refused at Produce, so consumers never stop at them.
//! - confluent-kafka groups (`tests/interop/confluent_group.py`): two members of a group on 6
//!   partitions commit after every record; one leaves mid-stream and the other takes over;
//!   kill -9 and restart; a new member resumes at the committed offsets and reads the rest:
//!   every record once. The AdminClient then lists, describes and deletes the group.
//! - kafka-python (`tests/interop/kafka_python_roundtrip.py`): CreateTopics, keyed produce
//!   with acks=all, consume by partition assignment (no group), ListOffsets.
//! - A restart on the same data directory, after SIGTERM and after SIGKILL, keeps everything
//!   that was acknowledged, and appends go on from the recovered ends.
//! - confluent-kafka (`tests/interop/confluent_elect_leaders.py`): AdminClient
//!   elect_leaders, preferred and unclean, named partitions and all of them.
//! - confluent-kafka (`tests/interop/confluent_roundtrip.py`): AdminClient CreateTopics with
//!   configs (and TOPIC_ALREADY_EXISTS), DescribeConfigs with sources, DeleteRecords,
//!   ListOffsets (earliest, latest, max-timestamp); an idempotent producer with lz4, zstd, gzip and snappy, 3000 keyed records
//!   each with headers (repeated keys, null values), null values and explicit timestamps,
//!   consumed back identical at the offsets of their delivery reports by an assign()ed
//!   consumer; watermarks; offsets_for_times. `brook log dump` then shows every batch stored
//!   with its codec, one producer id and gapless sequence numbers.
//! - kafka-python (`tests/interop/kafka_python_admin.py`): KafkaAdminClient create_topics,
//!   list_topics, describe_topics, describe_configs, alter_configs (whole-set semantics),
//!   create_partitions and delete_topics, with the error codes of refused requests; an
//!   assign()ed consumer's seek, seek_to_beginning, seek_to_end, position and
//!   offsets_for_times against the offsets the producer was given.
//! - Crashes under a producer (`tests/interop/confluent_acked_producer.py` writes down every
//!   acknowledged record): kill -9 in mid-stream of an idempotent and an acks=1 producer loses
//!   nothing acknowledged and duplicates nothing; an idempotent producer carries on through
//!   two kill -9 restarts on the same port and a stall that makes it resend appended batches,
//!   and every record ends up in the log exactly once, in order.
//! - Hostile connections (random bytes, truncated frames, length prefixes of 0x7fffffff and
//!   negative ones, array counts of 0x7fffffff, unknown APIs and versions, stalled peers) are
//!   each closed or answered, never left hanging, while kcat produces and consumes; the server
//!   survives without a panic or a memory spike.
//! - kafkajs 2.2 (`tests/interop/kafkajs_roundtrip.js`, Node.js): admin describeCluster,
//!   createTopics with a config (and again), listTopics, fetchTopicMetadata,
//!   describeConfigs / alterConfigs (values and sources), createPartitions, deleteTopics; an
//!   idempotent producer (maxInFlightRequests 1) sending keyed records with headers (a key
//!   repeated), null values and timestamps in six sends, gzip for every other one; a group of
//!   two consumers (joined before the produce, so none is rebalanced mid-read) committing
//!   after every batch: every record read once, by its partition's owner, identical and at the
//!   offset the produce response implies. Then describeGroups (Stable, two members with their
//!   assignments; Empty once they left), deleteGroups refused with NON_EMPTY_GROUP while they
//!   run, fetchOffsets equal to the partition ends, setOffsets, listGroups, deleteGroups,
//!   fetchTopicOffsets(ByTimestamp) and deleteTopicRecords. `brook log dump` shows one batch
//!   per send and partition, with the send's codec, one producer id, gapless sequences.
//! - aiokafka (`tests/interop/aiokafka_roundtrip.py`): an idempotent gzip producer with
//!   acks=all (headers, null values, timestamps); an assigned consumer's beginning_offsets,
//!   end_offsets, offsets_for_times, seek, seek_to_beginning / seek_to_end and position
//!   against the producer's offsets; a group consumer with manual commits, rebalanced by a
//!   second member joining, every record consumed once and identical, the second member
//!   starting where the commits left each partition; committed() from a member and a fresh
//!   consumer, and the admin client's list / describe / offsets of the group.
//! - kafka-python groups (`tests/interop/kafka_python_group.py`): a consumer with manual
//!   commits reads a third of a topic; after a SIGTERM restart a new consumer of the group
//!   resumes at the committed offsets and reads exactly the rest; KafkaAdminClient
//!   list_consumer_groups, describe_consumer_groups (running and empty),
//!   list_consumer_group_offsets, delete_consumer_groups (then GROUP_ID_NOT_FOUND). A consumer
//!   that stays up while the broker restarts on its address goes on without a rebalance
//!   (the group is rebuilt from `__consumer_offsets`) and reads what is produced after.
//! - Ignored until the broker is fixed: Produce refuses batches with a sound header and CRC
//!   whose records do not decode (as Kafka's LogValidator does), so consumers never meet them.
//!
//! Each test starts its own server on an OS-chosen port with a fresh data directory. A test
//! whose client is not installed is skipped with a message, except under CI (`CI` set), where
//! `scripts/setup.sh` has installed the clients and a missing one is a failure. The Python
//! clients are pip packages; kafkajs lives in the npm prefix `$BROOK_NODE_DIR` (default
//! `~/.cache/brook-node`), put on `NODE_PATH`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any one client command may take before it is killed and the test fails.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

fn brook() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brook"))
}

/// Removes ANSI colour sequences, in case the server's log is coloured after all.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A `brook server` on 127.0.0.1 with an OS-chosen port; killed on drop so that a failing
/// test leaves nothing running.
struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(data: &Path, settings: &[&str]) -> Server {
        Server::start_on(data, "127.0.0.1:0", settings)
    }

    /// Like [`Server::start`], listening on `listen` (e.g. the address of a server that was
    /// just killed, so that its clients reconnect to the new one).
    fn start_on(data: &Path, listen: &str, settings: &[&str]) -> Server {
        let mut cmd = brook();
        cmd.args(["server", "--no-sql"])
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", listen]);
        for s in settings {
            cmd.args(["--set", s]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let line = strip_ansi(&line);
                lines.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            addr: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = listener_addr(&line) {
                        server.addr = addr;
                        return server;
                    }
                }
                Err(_) => {
                    let status = server.child.try_wait().unwrap();
                    panic!(
                        "no `kafka_listener=` line from the server (exit status {status:?}); \
                         its stderr:\n{}",
                        server.stderr()
                    );
                }
            }
        }
    }

    fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM, then waits for the exit (at most 20 s).
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within 20 s of SIGTERM; its stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Server {
    /// SIGKILL, as in a crash.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends a signal (`STOP`, `CONT`, ...) with kill(1).
    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap()
            .success());
    }

    /// Whether the process is still running.
    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a log line containing `kafka_listener=ADDR` (quoted or not).
fn listener_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("kafka_listener=")? + "kafka_listener=".len()..];
    let addr = rest
        .split(|c: char| c.is_whitespace() || c == ',' || c == '}')
        .next()?
        .trim_matches('"');
    (!addr.is_empty()).then(|| addr.to_string())
}

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs a client command with `input` on its standard input; kills it and fails the test when
/// it takes longer than `timeout`.
fn run(cmd: &mut Command, input: &[u8], timeout: Duration, server: &Server) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    let out = Output {
        status: status.unwrap_or_else(ExitStatus::default),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    if status.is_none() {
        panic!(
            "{cmd:?} did not finish within {timeout:?}\n--- its stdout:\n{}\n--- its stderr:\n{}\n\
             --- the server's stderr:\n{}",
            tail(&out.stdout),
            tail(&out.stderr),
            server.stderr()
        );
    }
    out
}

/// The last lines of a long output, for failure messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(20);
    let mut out = String::new();
    if from > 0 {
        out.push_str(&format!("[{from} lines before]\n"));
    }
    out.push_str(&lines[from..].join("\n"));
    out
}

/// Panics with everything useful when a client command failed.
fn expect_success(what: &str, out: &Output, server: &Server) {
    assert!(
        out.status.success(),
        "{what} failed ({})\n--- its stdout:\n{}\n--- its stderr:\n{}\n--- the server's stderr:\n{}",
        out.status,
        tail(&out.stdout),
        tail(&out.stderr),
        server.stderr()
    );
}

/// Whether a client is installed. Under CI a missing client fails the test; elsewhere the
/// test is skipped with a message.
fn client_available(name: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed; scripts/setup.sh installs it"
        );
        eprintln!("SKIPPED: {name} is not installed (scripts/setup.sh installs it)");
    }
    ok
}

fn kcat_available() -> bool {
    client_available("kcat", Command::new("kcat").arg("-V"))
}

fn kcat(server: &Server) -> Command {
    let mut cmd = Command::new("kcat");
    cmd.args(["-b", &server.addr]);
    cmd
}

/// Produces `lines` (`key:value` each) to `topic` with kcat, the given codec and acks.
fn kcat_produce(server: &Server, topic: &str, codec: &str, acks: i8, lines: &[String]) {
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let out = run(
        kcat(server).args([
            "-P",
            "-t",
            topic,
            "-K:",
            "-z",
            codec,
            "-X",
            "enable.idempotence=false",
            "-X",
            "message.timeout.ms=20000",
            "-X",
            &format!("acks={acks}"),
            // Several batches per 1000 messages rather than one.
            "-X",
            "batch.size=16384",
        ]),
        input.as_bytes(),
        CLIENT_TIMEOUT,
        server,
    );
    expect_success(
        &format!("kcat -P -t {topic} -z {codec} acks={acks}"),
        &out,
        server,
    );
    assert!(
        !out.stderr.contains("ERROR"),
        "kcat -P -t {topic} -z {codec} reported errors:\n{}\n--- the server's stderr:\n{}",
        out.stderr,
        server.stderr()
    );
}

/// One consumed record.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Consumed {
    partition: i32,
    offset: i64,
    /// `key:value`
    line: String,
}

/// Consumes `topic` with kcat from `offset` (`beginning`, `-10`, `1000`, ...) to the end of
/// every partition, with `extra` kcat arguments.
fn kcat_consume(server: &Server, topic: &str, offset: &str, extra: &[&str]) -> Vec<Consumed> {
    let out = run(
        kcat(server)
            .args(["-C", "-t", topic, "-o", offset, "-e", "-f", "%p:%o:%k:%s\n"])
            .args(extra),
        b"",
        CLIENT_TIMEOUT,
        server,
    );
    let what = format!("kcat -C -t {topic} -o {offset} {}", extra.join(" "));
    expect_success(&what, &out, server);
    out.stdout
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ':');
            let mut field = || {
                parts
                    .next()
                    .unwrap_or_else(|| panic!("{what}: bad line {l:?}"))
            };
            Consumed {
                partition: field().parse().unwrap(),
                offset: field().parse().unwrap(),
                line: field().to_string(),
            }
        })
        .collect()
}

/// `key:value` lines: `n` keys cycling over `keys` distinct ones, values of varying length
/// with some repetition for the compressors to find.
fn messages(tag: &str, from: usize, n: usize, keys: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| format!("key{}:{tag}-value-{i}-{}", i % keys, "abc".repeat(i % 17)))
        .collect()
}

#[test]
fn kcat_lists_produces_and_consumes_with_every_codec() {
    if !kcat_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);

    let out = run(kcat(&server).arg("-L"), b"", CLIENT_TIMEOUT, &server);
    expect_success("kcat -L", &out, &server);
    assert!(out.stdout.contains("1 brokers:"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("at {}", server.addr)),
        "the broker should advertise {}:\n{}",
        server.addr,
        out.stdout
    );

    for (codec, acks) in [
        ("none", -1),
        ("gzip", 1),
        ("snappy", 0),
        ("lz4", -1),
        ("zstd", 1),
    ] {
        // The topic does not exist: the producer's Metadata request auto-creates it.
        let topic = format!("t1-{codec}");
        let sent = messages(codec, 0, 1000, 1000);
        kcat_produce(&server, &topic, codec, acks, &sent);

        let mut got = kcat_consume(&server, &topic, "beginning", &[]);
        // With acks=0 the producer exits without waiting for the appends.
        let deadline = Instant::now() + Duration::from_secs(5);
        while acks == 0 && got.len() < sent.len() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            got = kcat_consume(&server, &topic, "beginning", &[]);
        }
        let lines: Vec<&str> = got.iter().map(|c| c.line.as_str()).collect();
        assert!(
            lines == sent,
            "{codec}: consumed {} records, not the 1000 produced in order; first differences: \
             {:?}",
            lines.len(),
            lines
                .iter()
                .zip(&sent)
                .filter(|(a, b)| a != b)
                .take(3)
                .collect::<Vec<_>>()
        );
        assert!(got.iter().all(|c| c.partition == 0), "{codec}: partitions");
        assert!(
            got.iter().enumerate().all(|(i, c)| c.offset == i as i64),
            "{codec}: offsets are not 0..1000"
        );

        // Fetch limits smaller than a batch: the broker still returns one whole batch at a time.
        let small = kcat_consume(
            &server,
            &topic,
            "beginning",
            &[
                "-X",
                "fetch.message.max.bytes=1000",
                "-X",
                "fetch.max.bytes=1000",
                "-X",
                "message.max.bytes=1000",
            ],
        );
        assert!(
            small == got,
            "{codec}: consumed differently with small fetches"
        );

        // The last 10, through ListOffsets(latest).
        let got = kcat_consume(&server, &topic, "-10", &[]);
        let offsets: Vec<i64> = got.iter().map(|c| c.offset).collect();
        assert_eq!(offsets, (990..1000).collect::<Vec<_>>(), "{codec}: -o -10");
        let lines: Vec<&str> = got.iter().map(|c| c.line.as_str()).collect();
        assert_eq!(lines, sent[990..], "{codec}: -o -10");
    }

    let out = run(
        kcat(&server).args(["-L", "-t", "t1-zstd"]),
        b"",
        CLIENT_TIMEOUT,
        &server,
    );
    expect_success("kcat -L -t t1-zstd", &out, &server);
    assert!(
        out.stdout.contains("topic \"t1-zstd\" with 1 partitions"),
        "{}",
        out.stdout
    );
}

/// Pulls `"name": value` (a scalar or a flat list) out of the script's one-line JSON summary.
fn json_field<'a>(json: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\": ");
    let start = json
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {json}"))
        + key.len();
    let rest = &json[start..];
    let end = if rest.starts_with('[') {
        let mut depth = 0;
        rest.char_indices()
            .find(|&(_, c)| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i + 1)
            .unwrap()
    } else {
        rest.find([',', '}']).unwrap()
    };
    &rest[..end]
}

#[test]
fn kafka_python_creates_produces_consumes_and_lists_offsets() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/kafka_python_roundtrip.py"
    );
    if !client_available(
        "kafka-python",
        Command::new("python3").args(["-c", "import kafka"]),
    ) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let out = run(
        Command::new("python3").args([script, &server.addr, "kp"]),
        b"",
        Duration::from_secs(45),
        &server,
    );
    expect_success("kafka_python_roundtrip.py", &out, &server);
    let summary = out.stdout.lines().last().unwrap_or_default();
    eprintln!("kafka-python summary: {summary}");
    assert_eq!(json_field(summary, "errors"), "[]", "{summary}");
    assert_eq!(
        json_field(summary, "create_topics_errors"),
        "[[\"kp\", 0]]",
        "{summary}"
    );
    assert_eq!(json_field(summary, "produced"), "300", "{summary}");
    assert_eq!(json_field(summary, "consumed"), "300", "{summary}");
    assert_eq!(json_field(summary, "keys"), "30", "{summary}");
    assert_eq!(
        json_field(summary, "beginning_offsets"),
        "[0, 0, 0]",
        "{summary}"
    );
    let ends: Vec<i64> = json_field(summary, "end_offsets")
        .trim_matches(['[', ']'])
        .split(", ")
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(ends.len(), 3, "{summary}");
    assert_eq!(ends.iter().sum::<i64>(), 300, "{summary}");
    assert!(
        ends.iter().all(|&n| n > 0),
        "30 keys should reach all 3 partitions: {summary}"
    );
    assert_eq!(
        json_field(summary, "offsets_for_times_matched"),
        "3",
        "{summary}"
    );
}

#[test]
fn kcat_data_survives_a_restart() {
    if !kcat_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let settings = ["num.partitions=2"];
    let mut server = Server::start(data.path(), &settings);
    let first = messages("lz4", 0, 500, 50);
    let second = messages("gzip", 500, 500, 50);
    kcat_produce(&server, "durable", "lz4", -1, &first);
    kcat_produce(&server, "durable", "gzip", 1, &second);
    let mut before = kcat_consume(&server, "durable", "beginning", &[]);
    before.sort();
    assert_eq!(before.len(), 1000);
    let status = server.terminate();
    assert!(status.success(), "{status}\n{}", server.stderr());
    drop(server);

    let mut server = Server::start(data.path(), &settings);
    let out = run(
        kcat(&server).args(["-L", "-t", "durable"]),
        b"",
        CLIENT_TIMEOUT,
        &server,
    );
    expect_success("kcat -L -t durable", &out, &server);
    assert!(
        out.stdout.contains("topic \"durable\" with 2 partitions"),
        "{}",
        out.stdout
    );
    let mut after = kcat_consume(&server, "durable", "beginning", &[]);
    after.sort();
    assert!(
        after == before,
        "after the restart: {} records, before: {}",
        after.len(),
        before.len()
    );

    // Each partition holds offsets 0..n, every key in one partition, and per partition the
    // records are in the order produced.
    let mut key_partition = std::collections::HashMap::new();
    for p in 0..2 {
        let records: Vec<&Consumed> = after.iter().filter(|c| c.partition == p).collect();
        assert!(!records.is_empty(), "partition {p} is empty");
        assert!(records
            .iter()
            .enumerate()
            .all(|(i, c)| c.offset == i as i64));
        let order: Vec<usize> = records
            .iter()
            .map(|c| {
                first
                    .iter()
                    .chain(&second)
                    .position(|l| *l == c.line)
                    .unwrap()
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "partition {p} order");
        for c in &records {
            let key = c.line.split(':').next().unwrap().to_string();
            assert_eq!(*key_partition.entry(key).or_insert(p), p, "{}", c.line);
        }
    }

    // Appends continue after the recovered end.
    let more = messages("zstd", 1000, 100, 50);
    kcat_produce(&server, "durable", "zstd", -1, &more);
    let mut all = kcat_consume(&server, "durable", "beginning", &[]);
    all.sort();
    assert_eq!(all.len(), 1100);
    assert_eq!(
        all.iter().filter(|c| c.line.contains("zstd-value")).count(),
        100
    );
    for p in 0..2 {
        let offsets: Vec<i64> = all
            .iter()
            .filter(|c| c.partition == p)
            .map(|c| c.offset)
            .collect();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
    }

    // Killed without warning, the server recovers everything it acknowledged.
    server.kill();
    let server = Server::start(data.path(), &settings);
    let mut recovered = kcat_consume(&server, "durable", "beginning", &[]);
    recovered.sort();
    assert!(
        recovered == all,
        "after kill -9: {} records, before: {}",
        recovered.len(),
        all.len()
    );
}

/// The path of a script in `tests/interop/`.
fn script(name: &str) -> String {
    format!("{}/tests/interop/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn confluent_kafka_available() -> bool {
    client_available(
        "confluent-kafka",
        Command::new("python3").args(["-c", "import confluent_kafka"]),
    )
}

fn kafka_python_available() -> bool {
    client_available(
        "kafka-python",
        Command::new("python3").args(["-c", "import kafka"]),
    )
}

/// Runs a script that prints a one-line JSON summary last; fails the test unless it exits
/// successfully, and returns the summary.
fn run_script(server: &Server, args: &[&str], timeout: Duration) -> String {
    run_summary(server, Command::new("python3").args(args), args[0], timeout)
}

/// Runs `cmd`, a client script that prints a one-line JSON summary last; fails the test
/// unless it exits successfully (within `timeout`), and returns the summary.
fn run_summary(server: &Server, cmd: &mut Command, what: &str, timeout: Duration) -> String {
    let started = Instant::now();
    let out = run(cmd, b"", timeout, server);
    expect_success(what, &out, server);
    let summary = out.stdout.lines().last().unwrap_or_default().to_string();
    eprintln!(
        "{what} ({:.1} s) summary: {summary}",
        started.elapsed().as_secs_f64()
    );
    summary
}

/// The numbers of a flat JSON list field.
fn json_numbers(json: &str, name: &str) -> Vec<i64> {
    let list = json_field(json, name).trim_matches(['[', ']']);
    list.split(',')
        .filter(|n| !n.trim().is_empty())
        .map(|n| {
            n.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: {n:?} in {json}"))
        })
        .collect()
}

/// The batches of one partition as `brook log dump` prints them: `name: value` pairs
/// (`count`, `compression`, `producerId`, `baseSequence`, `crcValid`, ...).
fn dump_batches(data: &Path, topic: &str, partition: i32) -> Vec<HashMap<String, String>> {
    let dir = data.join(format!("{topic}-{partition}"));
    let out = brook().arg("log").arg("dump").arg(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "brook log dump {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .chunks_exact(2)
                .map(|w| (w[0].trim_end_matches(':').to_string(), w[1].to_string()))
                .collect()
        })
        .collect()
}

/// A request frame with a v1 header (API key, version, correlation id, client id).
fn request_frame(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let client_id = b"brook-interop";
    let mut frame = Vec::new();
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    frame.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    frame.extend_from_slice(client_id);
    frame.extend_from_slice(body);
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    out
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// What became of a connection that was sent something.
#[derive(Debug, PartialEq, Eq)]
enum Reaction {
    /// The server closed it (EOF or a reset) without answering.
    Closed,
    /// A whole response frame (without its length prefix).
    Response(Vec<u8>),
}

/// Waits for the server to close the connection or to send one whole response frame. A read
/// timeout (the server neither answered nor hung up) is an error.
fn reaction(stream: &mut TcpStream) -> Result<Reaction, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if buf.len() >= 4 {
            let n = i32::from_be_bytes(buf[..4].try_into().unwrap());
            if n < 0 {
                return Err(format!("a response frame of {n} bytes"));
            }
            if buf.len() >= 4 + n as usize {
                return Ok(Reaction::Response(buf[4..4 + n as usize].to_vec()));
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Ok(Reaction::Closed),
            Ok(0) => return Err(format!("closed after {} bytes of a response", buf.len())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) && buf.is_empty() =>
            {
                return Ok(Reaction::Closed)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "neither an answer nor a close within 10 s ({} bytes read)",
                    buf.len()
                ))
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Sends `bytes` (a write cut short by the server closing counts as sent), optionally
/// half-closes, and waits for the server's reaction.
fn send_hostile(addr: &str, bytes: &[u8], half_close: bool) -> Result<Reaction, String> {
    let mut stream = connect(addr);
    match stream.write_all(bytes) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) => {}
        Err(e) => return Err(format!("write: {e}")),
    }
    if half_close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    reaction(&mut stream)
}

/// The (API key, min, max) ranges the broker advertises, from a raw ApiVersions v0.
fn api_versions(addr: &str) -> Vec<(i16, i16, i16)> {
    let mut stream = connect(addr);
    stream.write_all(&request_frame(18, 0, 7, &[])).unwrap();
    let Reaction::Response(r) = reaction(&mut stream).unwrap() else {
        panic!("ApiVersions v0: the connection was closed");
    };
    let i16_at = |i: usize| i16::from_be_bytes([r[i], r[i + 1]]);
    assert_eq!(
        i32::from_be_bytes(r[..4].try_into().unwrap()),
        7,
        "correlation id"
    );
    assert_eq!(i16_at(4), 0, "ApiVersions error code");
    let n = i32::from_be_bytes(r[6..10].try_into().unwrap()) as usize;
    assert_eq!(r.len(), 10 + 6 * n, "ApiVersions v0 response size");
    (0..n)
        .map(|k| (i16_at(10 + 6 * k), i16_at(12 + 6 * k), i16_at(14 + 6 * k)))
        .collect()
}

#[test]
fn confluent_kafka_elect_leaders() {
    if !confluent_kafka_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let summary = run_script(
        &server,
        &[&script("confluent_elect_leaders.py"), &server.addr, "el"],
        Duration::from_secs(40),
    );
    assert_eq!(
        summary.trim(),
        r#"{"all": {}, "preferred": {"el-0": "ELECTION_NOT_NEEDED"}, "unclean_unknown": {"el-9": "UNKNOWN_TOPIC_OR_PART"}}"#,
        "{summary}"
    );
}

#[test]
fn confluent_kafka_idempotent_codecs_admin_and_assigned_consumer() {
    if !confluent_kafka_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let summary = run_script(
        &server,
        &[&script("confluent_roundtrip.py"), &server.addr, "cf"],
        Duration::from_secs(50),
    );
    assert_eq!(json_field(&summary, "errors"), "[]", "{summary}");
    assert_eq!(
        json_field(&summary, "codecs"),
        r#"["lz4", "zstd", "gzip", "snappy"]"#
    );
    for field in ["delivered", "consumed", "identical"] {
        assert_eq!(
            json_numbers(&summary, field),
            [3000; 4],
            "{field}: {summary}"
        );
    }
    assert_eq!(json_field(&summary, "keys"), "200", "{summary}");
    assert_eq!(json_field(&summary, "watermarks_ok"), "12", "{summary}");
    assert_eq!(json_field(&summary, "list_offsets_ok"), "6", "{summary}");
    assert_eq!(
        json_field(&summary, "offsets_for_times_matched"),
        "12",
        "{summary}"
    );
    assert_eq!(
        json_field(&summary, "duplicate_create_error"),
        "\"TOPIC_ALREADY_EXISTS\"",
        "{summary}"
    );
    assert!(
        json_field(&summary, "described_configs")
            .parse::<usize>()
            .unwrap()
            >= 10,
        "{summary}"
    );
    // DeleteRecords moved partition 0 of cf-lz4 to 10 and emptied partition 1.
    let lows = json_numbers(&summary, "delete_records_low_watermarks");
    assert_eq!(lows[0], 10, "{summary}");
    assert!(lows[1] > 0, "{summary}");
    assert_eq!(
        json_numbers(&summary, "earliest_after_delete"),
        lows,
        "{summary}"
    );
    assert_eq!(
        json_field(&summary, "first_offset_after_delete"),
        "10",
        "{summary}"
    );

    // The log holds the batches as the producer sent them: compressed with the topic's codec,
    // stamped with one producer id, and with sequence numbers that run on without gaps.
    // librdkafka takes FindCoordinator in ApiVersions as the sign that a broker reads lz4
    // (both came with Kafka 0.8.2) and sends plain batches to one without it.
    let lz4 = if api_versions(&server.addr).iter().any(|r| r.0 == 10) {
        "Lz4"
    } else {
        eprintln!("the broker does not advertise FindCoordinator: librdkafka will not use lz4");
        "None"
    };
    for (codec, expected) in [
        ("lz4", lz4),
        ("zstd", "Zstd"),
        ("gzip", "Gzip"),
        ("snappy", "Snappy"),
    ] {
        let topic = format!("cf-{codec}");
        let mut records = 0;
        let mut producer_ids = std::collections::BTreeSet::new();
        for p in 0..3 {
            let mut next_sequence = 0;
            for batch in dump_batches(data.path(), &topic, p) {
                let count: i64 = batch["count"].parse().unwrap();
                records += count;
                assert_eq!(batch["crcValid"], "true", "{topic}-{p}: {batch:?}");
                // librdkafka sends a batch uncompressed when compression does not make it
                // smaller, which only a tiny batch might.
                assert!(
                    batch["compression"] == expected
                        || (count < 10 && batch["compression"] == "None"),
                    "{topic}-{p}: a batch of {count} stored with {}, expected {expected}",
                    batch["compression"]
                );
                producer_ids.insert(batch["producerId"].clone());
                assert_eq!(
                    batch["baseSequence"],
                    next_sequence.to_string(),
                    "{topic}-{p}: {batch:?}"
                );
                next_sequence += count;
            }
        }
        assert_eq!(records, 3000, "{topic}: records in the log");
        assert_eq!(
            producer_ids.len(),
            1,
            "{topic}: producer ids {producer_ids:?}"
        );
        let id: i64 = producer_ids.first().unwrap().parse().unwrap();
        assert!(id >= 0, "{topic}: not idempotent (producer id {id})");
    }
}

#[test]
fn kafka_python_admin_configs_and_consumer_positions() {
    if !kafka_python_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let summary = run_script(
        &server,
        &[&script("kafka_python_admin.py"), &server.addr, "ka"],
        Duration::from_secs(45),
    );
    let field = |name| json_field(&summary, name);
    assert_eq!(field("errors"), "[]", "{summary}");
    assert_eq!(field("create_topics_errors"), "[0, 0, 0]", "{summary}");
    // TOPIC_ALREADY_EXISTS, INVALID_CONFIG twice, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR.
    assert_eq!(
        field("refused_creates"),
        "[36, 40, 40, 37, 38]",
        "{summary}"
    );
    assert!(field("described_configs").parse::<usize>().unwrap() >= 10);
    assert_eq!(field("alter_configs_errors"), "[0]", "{summary}");
    // retention.ms set by the alter (a topic config, source 1); cleanup.policy back to its
    // default (source 5), because AlterConfigs replaces the whole set.
    assert_eq!(
        field("altered"),
        r#"[["3600000", 1], ["delete", 5]]"#,
        "{summary}"
    );
    // INVALID_CONFIG, UNKNOWN_TOPIC_OR_PARTITION.
    assert_eq!(field("refused_alters"), "[40, 3]", "{summary}");
    assert_eq!(field("describe_missing"), "3", "{summary}");
    assert_eq!(field("create_partitions"), "[0, 37]", "{summary}");
    assert_eq!(field("grown_partitions"), "[0, 1, 2]", "{summary}");
    assert_eq!(field("delete_topics"), "[0, 3]", "{summary}");
    assert_eq!(field("produced"), "600", "{summary}");
    let ends = json_numbers(&summary, "positions_at_end");
    assert_eq!(ends.len(), 3, "{summary}");
    assert_eq!(ends.iter().sum::<i64>(), 600, "{summary}");
    assert!(ends.iter().all(|&n| n > 0), "{summary}");
    assert_eq!(field("positions_at_beginning"), "[0, 0, 0]", "{summary}");
    assert_eq!(field("read_back"), "600", "{summary}");
    assert_eq!(field("seek_matched"), "3", "{summary}");
    assert_eq!(field("offsets_for_times_matched"), "5", "{summary}");
}

/// A client process killed on drop.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `confluent_acked_producer.py` in MODE on `topic`, appending its acknowledged
/// records to `acked`; its stdout and stderr go to files beside `acked`.
fn acked_producer(
    server: &Server,
    topic: &str,
    acked: &Path,
    mode: &str,
    count: u32,
    rate: u32,
    socket_timeout_ms: u32,
) -> Background {
    let out = std::fs::File::create(acked.with_extension("stdout")).unwrap();
    let err = std::fs::File::create(acked.with_extension("stderr")).unwrap();
    let child = Command::new("python3")
        .arg(script("confluent_acked_producer.py"))
        .args([&server.addr, topic])
        .arg(acked)
        .args([
            mode,
            &count.to_string(),
            &rate.to_string(),
            &socket_timeout_ms.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    Background(child)
}

/// The records in an acked file, `(seq, partition, offset)`; a last line cut short by a kill
/// is ignored.
fn acked_records(acked: &Path) -> Vec<(u32, i32, i64)> {
    let text = std::fs::read_to_string(acked).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 3, "{}: bad line {l:?}", acked.display());
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// Waits until the producer has had at least `n` records acknowledged.
fn await_acked(producer: &mut Background, acked: &Path, n: usize, server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked_records(acked).len() < n {
        let exited = producer.0.try_wait().unwrap();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "{}: {} records acknowledged, waiting for {n} (producer exit: {exited:?})\n\
             --- its stderr:\n{}\n--- the server's stderr:\n{}",
            acked.display(),
            acked_records(acked).len(),
            tail(&std::fs::read_to_string(acked.with_extension("stderr")).unwrap_or_default()),
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads `topic` back and checks it against what the producer was told: every acknowledged
/// record at its offset, every sequence number at most once, each partition in the order
/// produced, offsets without gaps. Returns the sequence numbers in the log.
fn check_acked_in_log(server: &Server, topic: &str, acked: &[(u32, i32, i64)]) -> Vec<u32> {
    let log = kcat_consume(server, topic, "beginning", &[]);
    let mut at = HashMap::new();
    let mut seen = HashMap::new();
    for c in &log {
        let (key, value) = c.line.split_once(':').unwrap();
        let seq: u32 = value
            .strip_prefix("seq-")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{topic}: unexpected record {c:?}"));
        assert_eq!(key, format!("k{}", seq % 20), "{topic}: {c:?}");
        if let Some(first) = seen.insert(seq, (c.partition, c.offset)) {
            panic!(
                "{topic}: seq {seq} twice, at {first:?} and {:?}",
                (c.partition, c.offset)
            );
        }
        at.insert((c.partition, c.offset), seq);
    }
    for p in 0..3 {
        let rows: Vec<&Consumed> = log.iter().filter(|c| c.partition == p).collect();
        assert!(
            rows.iter().enumerate().all(|(i, c)| c.offset == i as i64),
            "{topic}-{p}: offsets are not 0..{}",
            rows.len()
        );
        let seqs: Vec<u32> = rows.iter().map(|c| at[&(p, c.offset)]).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{topic}-{p}: out of the order produced"
        );
    }
    let lost: Vec<_> = acked
        .iter()
        .filter(|&&(seq, p, o)| at.get(&(p, o)) != Some(&seq))
        .collect();
    assert!(
        lost.is_empty(),
        "{topic}: {} of {} acknowledged records are not where the producer was told, e.g. \
         {:?} (the log has {} records)",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)],
        log.len()
    );
    let mut seqs: Vec<u32> = seen.into_keys().collect();
    seqs.sort_unstable();
    seqs
}

#[test]
fn acknowledged_records_survive_a_kill_9_mid_produce() {
    if !confluent_kafka_available() || !kcat_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let settings = ["num.partitions=3"];
    let mut server = Server::start(data.path(), &settings);
    let modes = ["idempotent", "acks1"];
    let acked: Vec<_> = modes
        .iter()
        .map(|m| files.path().join(format!("{m}.acked")))
        .collect();
    // As fast as they go, for longer than the test waits.
    let mut producers: Vec<Background> = modes
        .iter()
        .zip(&acked)
        .map(|(m, f)| acked_producer(&server, &format!("crash-{m}"), f, m, 10_000_000, 0, 60_000))
        .collect();
    for (p, f) in producers.iter_mut().zip(&acked) {
        await_acked(p, f, 5000, &server);
    }
    server.kill();
    // Delivery reports that arrived before the kill are written down; then the producers go.
    std::thread::sleep(Duration::from_secs(1));
    for p in &mut producers {
        assert!(p.0.try_wait().unwrap().is_none(), "a producer exited early");
    }
    drop(producers);

    let server = Server::start(data.path(), &settings);
    for (m, f) in modes.iter().zip(&acked) {
        let acked = acked_records(f);
        let seqs = check_acked_in_log(&server, &format!("crash-{m}"), &acked);
        eprintln!(
            "{m}: {} records acknowledged, {} in the log after the restart",
            acked.len(),
            seqs.len()
        );
        assert!(seqs.len() >= acked.len());
    }
}

#[test]
fn idempotent_producer_carries_on_through_kill_9_restarts_and_a_stall_exactly_once() {
    if !confluent_kafka_available() || !kcat_available() {
        return;
    }
    const COUNT: u32 = 24_000;
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let settings = ["num.partitions=3"];
    let mut server = Server::start(data.path(), &settings);
    let addr = server.addr.clone();
    let acked = files.path().join("idempotent.acked");
    // About 6 s of records, with requests given up on after 1 s.
    let mut producer = acked_producer(&server, "once", &acked, "idempotent", COUNT, 4000, 1000);
    // Twice the broker dies under the producer and comes back on the same port.
    for n in [3000, 10_000] {
        await_acked(&mut producer, &acked, n, &server);
        server.kill();
        std::thread::sleep(Duration::from_millis(300));
        server = Server::start_on(data.path(), &addr, &settings);
    }
    // Then it stalls for longer than the producer waits for answers: the producer reconnects
    // and sends the batches again, while the broker, resumed, appends the ones it had read
    // from the old connection. The retries are duplicates it has to recognise.
    await_acked(&mut producer, &acked, 16_000, &server);
    server.signal("STOP");
    std::thread::sleep(Duration::from_millis(2500));
    server.signal("CONT");

    let deadline = Instant::now() + Duration::from_secs(45);
    let status = loop {
        if let Some(status) = producer.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the producer did not finish; {} records acknowledged\n--- the server's stderr:\n{}",
            acked_records(&acked).len(),
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(acked.with_extension("stdout")).unwrap();
    let stderr = std::fs::read_to_string(acked.with_extension("stderr")).unwrap();
    let summary = stdout.lines().last().unwrap_or_default();
    eprintln!("producer summary: {summary}");
    assert!(
        status.success(),
        "the producer failed ({status}): {summary}\n--- its stderr:\n{}\n--- the server's \
         stderr:\n{}",
        tail(&stderr),
        server.stderr()
    );
    assert_eq!(json_field(summary, "acked"), COUNT.to_string(), "{summary}");
    assert_eq!(json_field(summary, "failed"), "0", "{summary}");
    assert!(
        stderr.contains("Timed out ProduceRequest"),
        "the stall did not make the producer retry anything:\n{}",
        tail(&stderr)
    );

    let acked = acked_records(&acked);
    assert_eq!(acked.len(), COUNT as usize);
    let seqs = check_acked_in_log(&server, "once", &acked);
    assert!(
        seqs == (0..COUNT).collect::<Vec<_>>(),
        "the log holds {} distinct records, not exactly 0..{COUNT}",
        seqs.len()
    );
}

/// A pseudo-random byte stream (xorshift64), the same for the same seed.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// One hostile connection: what it sends, whether it half-closes after, and what the server
/// may do about it.
struct Hostile {
    name: String,
    bytes: Vec<u8>,
    half_close: bool,
    /// None: it must close the connection. Some(check): it may answer instead, and the
    /// answer must pass the check.
    answer: Option<fn(&[u8]) -> bool>,
}

fn hostile_connections() -> Vec<Hostile> {
    let close = |name: &str, bytes: Vec<u8>, half_close| Hostile {
        name: name.to_string(),
        bytes,
        half_close,
        answer: None,
    };
    let mut all = Vec::new();
    for seed in 1..=6u64 {
        // Random bytes, then EOF: whatever the first four announce, the frame ends early.
        let bytes = noise(seed, 1 + (seed as usize * 797) % 4096);
        all.push(close(&format!("random bytes #{seed}"), bytes, true));
        // A well-formed length around random contents: an unknown API, a bad version or a
        // bad header, all of which close the connection (a lucky valid request may answer).
        let body = noise(seed + 100, 8 + (seed as usize * 131) % 600);
        let mut framed = (body.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&body);
        all.push(Hostile {
            name: format!("framed random body #{seed}"),
            bytes: framed,
            half_close: false,
            answer: Some(|_| true),
        });
    }
    let metadata_all = request_frame(3, 1, 1, &(-1i32).to_be_bytes());
    for len in [
        0x7fff_ffffu32,
        0x8000_0000,
        0xffff_ffff,
        100 * 1024 * 1024 + 1,
    ] {
        all.push(close(
            &format!("length prefix {len:#x}"),
            len.to_be_bytes().to_vec(),
            false,
        ));
    }
    all.push(close("length prefix 0", 0u32.to_be_bytes().to_vec(), false));
    all.push(close(
        "frame cut short, then EOF",
        metadata_all[..metadata_all.len() - 3].to_vec(),
        true,
    ));
    let mut big = (50u32 << 20).to_be_bytes().to_vec();
    big.extend_from_slice(&noise(42, 2 << 20));
    all.push(close("2 MiB of a 50 MiB frame, then EOF", big, true));
    all.push(close("length prefix cut short, then EOF", vec![0, 0], true));
    // Whole frames whose contents end early or announce more than they hold.
    let mut header_only = request_frame(3, 1, 2, &[]);
    header_only.truncate(4 + 4);
    header_only[..4].copy_from_slice(&4i32.to_be_bytes());
    all.push(close("request header cut short", header_only, false));
    let mut long_client_id = request_frame(3, 1, 3, &(-1i32).to_be_bytes());
    long_client_id[12..14].copy_from_slice(&1000i16.to_be_bytes());
    all.push(close(
        "client id longer than the frame",
        long_client_id,
        false,
    ));
    all.push(close(
        "MetadataRequest v1 with 0x7fffffff topics",
        request_frame(3, 1, 4, &0x7fff_ffffi32.to_be_bytes()),
        false,
    ));
    let mut three_topics_one_given = 3i32.to_be_bytes().to_vec();
    three_topics_one_given.extend_from_slice(&[0, 1, b'a']);
    all.push(close(
        "MetadataRequest v1 with 3 topics, 1 given",
        request_frame(3, 1, 5, &three_topics_one_given),
        false,
    ));
    all.push(close(
        "MetadataRequest v1 with a topic name of 0x7fff bytes",
        request_frame(3, 1, 6, &[0, 0, 0, 1, 0x7f, 0xff, b'a']),
        false,
    ));
    // Metadata v9 is flexible: header v2 (tagged fields after the client id), compact arrays
    // with an unsigned varint count + 1, here 0xffffffff.
    let mut flexible = request_frame(3, 9, 7, &[]);
    flexible.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    let len = (flexible.len() - 4) as i32;
    flexible[..4].copy_from_slice(&len.to_be_bytes());
    all.push(close(
        "MetadataRequest v9 with a compact array of 2^32 - 2 topics",
        flexible,
        false,
    ));
    // Tagged fields in a flexible header: 2^31 - 1 of them, or one of 2^31 - 1 bytes.
    for (what, tags) in [
        ("2^31 - 1 tagged fields", vec![0xff, 0xff, 0xff, 0xff, 0x07]),
        (
            "a tagged field of 2^31 - 1 bytes",
            vec![1, 0, 0xff, 0xff, 0xff, 0xff, 0x07],
        ),
    ] {
        let mut frame = request_frame(3, 9, 13, &tags);
        frame.extend_from_slice(&[1, 1, 0, 0, 0]);
        let len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        all.push(close(
            &format!("MetadataRequest v9 with {what} in its header"),
            frame,
            false,
        ));
    }
    // ApiVersions v3 (flexible) whose client software name is a compact string of 2^31 bytes.
    let mut software = request_frame(18, 3, 14, &[0]);
    software.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07, b'x', 1, 0]);
    let len = (software.len() - 4) as i32;
    software[..4].copy_from_slice(&len.to_be_bytes());
    all.push(Hostile {
        name: "ApiVersionsRequest v3 with a client software name of 2^31 bytes".into(),
        bytes: software,
        half_close: false,
        // Kafka answers an ApiVersions it cannot parse with INVALID_REQUEST (42).
        answer: Some(|r| r.len() >= 6 && r[..4] == 14i32.to_be_bytes() && r[4..6] == [0, 42]),
    });
    // Produce v3: transactional id null, acks -1, timeout, 0x7fffffff topics.
    let mut produce = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0x75, 0x30];
    produce.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
    all.push(close(
        "ProduceRequest v3 with 0x7fffffff topics",
        request_frame(0, 3, 8, &produce),
        false,
    ));
    // A whole, well-formed Produce whose batch has a wrong CRC: CORRUPT_MESSAGE (2).
    let mut bad_crc = raw_batch(0, 1, &raw_record(0, b"k", b"v"));
    bad_crc[20] ^= 0xff;
    all.push(Hostile {
        name: "ProduceRequest v3 with a batch whose CRC is wrong".into(),
        bytes: request_frame(0, 3, 12, &produce_v3("hostile-target", 0, &bad_crc)),
        half_close: false,
        answer: Some(|r| produce_error(r, "hostile-target") == Some(2)),
    });
    all.push(close(
        "an API key nobody has (9999)",
        request_frame(9999, 0, 9, &[]),
        false,
    ));
    all.push(close(
        "MetadataRequest v999",
        request_frame(3, 999, 10, &(-1i32).to_be_bytes()),
        false,
    ));
    // Kafka answers a too-new ApiVersions with UNSUPPORTED_VERSION (35) and the ranges.
    all.push(Hostile {
        name: "ApiVersionsRequest v999".into(),
        bytes: request_frame(18, 999, 11, &[]),
        half_close: false,
        answer: Some(|r| r.len() >= 6 && r[..4] == 11i32.to_be_bytes() && r[4..6] == [0, 35]),
    });
    all
}

/// Peak resident memory of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn hostile_connections_do_not_disturb_a_working_client() {
    if !kcat_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &["num.partitions=2"]);
    let addr = server.addr.clone();
    let good = raw_batch(0, 1, &raw_record(0, b"k", b"v"));
    assert_eq!(raw_produce(&addr, "hostile-target", &good), 0);
    let cases = hostile_connections();
    // Peers that announce a frame and then stall: the server waits for them (Kafka's
    // connections.max.idle.ms), and must serve everyone else meanwhile.
    let stalled: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = connect(&addr);
            s.write_all(&request_frame(3, 1, 1, &(-1i32).to_be_bytes())[..9])
                .unwrap();
            s
        })
        .collect();

    let done = std::sync::atomic::AtomicBool::new(false);
    let (rounds, failures) = std::thread::scope(|scope| {
        let hostile = scope.spawn(|| {
            let mut failures = Vec::new();
            let mut rounds = 0;
            // At least two rounds, and on until the good client is done.
            while rounds < 2 || !done.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::scope(|s| {
                    let handles: Vec<_> = cases
                        .iter()
                        .map(|c| (c, s.spawn(|| send_hostile(&addr, &c.bytes, c.half_close))))
                        .collect();
                    for (c, h) in handles {
                        match (h.join().unwrap(), c.answer) {
                            (Ok(Reaction::Closed), _) => {}
                            (Ok(Reaction::Response(r)), Some(check)) if check(&r) => {}
                            (Ok(Reaction::Response(r)), _) => failures.push(format!(
                                "{}: answered {:02x?}",
                                c.name,
                                &r[..r.len().min(32)]
                            )),
                            (Err(e), _) => failures.push(format!("{}: {e}", c.name)),
                        }
                    }
                });
                rounds += 1;
                // Leave the client some of the machine.
                std::thread::sleep(Duration::from_millis(10));
            }
            (rounds, failures)
        });

        // The well-behaved client, all the while.
        for (topic, codec) in [
            ("calm-zstd", "zstd"),
            ("calm-gzip", "gzip"),
            ("calm-none", "none"),
        ] {
            let sent = messages(codec, 0, 2000, 100);
            kcat_produce(&server, topic, codec, -1, &sent);
            let mut got: Vec<String> = kcat_consume(&server, topic, "beginning", &[])
                .into_iter()
                .map(|c| c.line)
                .collect();
            got.sort();
            let mut want = sent.clone();
            want.sort();
            assert!(
                got == want,
                "{topic}: {} records back, {} sent",
                got.len(),
                sent.len()
            );
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        hostile.join().unwrap()
    });
    eprintln!("{rounds} rounds of {} hostile connections", cases.len());
    assert!(
        failures.is_empty(),
        "hostile connections not closed or answered properly:\n{}\n--- the server's stderr:\n{}",
        failures.join("\n"),
        server.stderr()
    );
    drop(stalled);

    assert!(
        server.alive(),
        "the server died; its stderr:\n{}",
        server.stderr()
    );
    assert!(
        !server.stderr().contains("panicked"),
        "the server panicked:\n{}",
        server.stderr()
    );
    let versions = api_versions(&server.addr);
    assert!(versions.iter().any(|r| r.0 == 3), "{versions:?}");
    let out = run(kcat(&server).arg("-L"), b"", CLIENT_TIMEOUT, &server);
    expect_success("kcat -L", &out, &server);
    assert!(out.stdout.contains("calm-zstd"), "{}", out.stdout);
    if let Some(kib) = peak_rss_kib(server.child.id()) {
        eprintln!("the server's peak RSS: {} MiB", kib / 1024);
        assert!(
            kib < 512 * 1024,
            "the server's peak RSS is {} MiB: something was allocated from a length on the wire",
            kib / 1024
        );
    }
}

/// A zigzag varint, as records encode their fields.
fn zigzag(n: i64) -> Vec<u8> {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// One record with no headers, at `offset_delta` and timestamp delta 0.
fn raw_record(offset_delta: i64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut body = vec![0];
    body.extend(zigzag(0));
    body.extend(zigzag(offset_delta));
    body.extend(zigzag(key.len() as i64));
    body.extend_from_slice(key);
    body.extend(zigzag(value.len() as i64));
    body.extend_from_slice(value);
    body.extend(zigzag(0));
    let mut out = zigzag(body.len() as i64);
    out.extend(body);
    out
}

/// A record batch (v2, no producer id) around `records` as given, claiming `count` records,
/// with a correct CRC: its header is sound whatever the records are.
fn raw_batch(attributes: i16, count: i32, records: &[u8]) -> Vec<u8> {
    let timestamp = 1_700_000_000_000i64;
    let mut batch = Vec::new();
    batch.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    batch.extend_from_slice(&0i32.to_be_bytes()); // batchLength, below
    batch.extend_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch
    batch.push(2); // magic
    batch.extend_from_slice(&0u32.to_be_bytes()); // crc, below
    batch.extend_from_slice(&attributes.to_be_bytes());
    batch.extend_from_slice(&(count - 1).to_be_bytes()); // lastOffsetDelta
    batch.extend_from_slice(&timestamp.to_be_bytes());
    batch.extend_from_slice(&timestamp.to_be_bytes());
    batch.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    batch.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    batch.extend_from_slice(&count.to_be_bytes());
    batch.extend_from_slice(records);
    let len = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = brook_protocol::record::compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// The body of a ProduceRequest v3 (acks=all) of `records` to one partition.
fn produce_v3(topic: &str, partition: i32, records: &[u8]) -> Vec<u8> {
    let mut body = (-1i16).to_be_bytes().to_vec(); // transactional id: null
    body.extend_from_slice(&(-1i16).to_be_bytes()); // acks
    body.extend_from_slice(&10_000i32.to_be_bytes()); // timeout
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&partition.to_be_bytes());
    body.extend_from_slice(&(records.len() as i32).to_be_bytes());
    body.extend_from_slice(records);
    body
}

/// The error code of the one partition of a ProduceResponse v3 (after the correlation id).
fn produce_error(response: &[u8], topic: &str) -> Option<i16> {
    let at = 4 + 4 + 2 + topic.len() + 4 + 4;
    let bytes = response.get(at..at + 2)?;
    Some(i16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Produces `records` raw and returns the partition's error code.
fn raw_produce(addr: &str, topic: &str, records: &[u8]) -> i16 {
    let mut stream = connect(addr);
    stream
        .write_all(&request_frame(0, 3, 1, &produce_v3(topic, 0, records)))
        .unwrap();
    match reaction(&mut stream).unwrap() {
        Reaction::Response(r) => produce_error(&r, topic).unwrap(),
        Reaction::Closed => panic!("the server closed the connection"),
    }
}

#[test]
fn produce_refuses_batches_whose_records_do_not_decode() {
    if !kcat_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let good = raw_batch(0, 1, &raw_record(0, b"k", b"good"));
    assert_eq!(raw_produce(&server.addr, "poison", &good), 0);
    let one = raw_record(0, b"k", b"v");
    let mut two = one.clone();
    two.extend(raw_record(1, b"k2", b"v2"));
    let mut key_too_long = vec![0];
    key_too_long.extend(zigzag(0));
    key_too_long.extend(zigzag(0));
    key_too_long.extend(zigzag(1 << 30));
    key_too_long.extend_from_slice(b"k");
    let mut with_len = zigzag(key_too_long.len() as i64);
    with_len.extend(key_too_long);
    let mut trailing = one.clone();
    trailing.extend_from_slice(&[1, 2, 3]);
    let poison = [
        ("2 records claimed, 1 present", raw_batch(0, 2, &one)),
        ("1 record claimed, 2 present", raw_batch(0, 1, &two)),
        (
            "gzip flag over bytes that are not gzip",
            raw_batch(1, 1, b"\x1f\x8b not gzip"),
        ),
        ("a key longer than the record", raw_batch(0, 1, &with_len)),
        ("bytes after the last record", raw_batch(0, 1, &trailing)),
    ];
    let mut accepted = Vec::new();
    for (what, batch) in &poison {
        // CORRUPT_MESSAGE (2) or INVALID_RECORD (87), as Kafka's LogValidator answers.
        let code = raw_produce(&server.addr, "poison", batch);
        if code != 2 && code != 87 {
            accepted.push(format!("{what}: error code {code}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "batches with unreadable records were appended (a consumer stops at them):\n{}",
        accepted.join("\n")
    );
    assert_eq!(raw_produce(&server.addr, "poison", &good), 0);
    let got = kcat_consume(&server, "poison", "beginning", &[]);
    let lines: Vec<&str> = got.iter().map(|c| c.line.as_str()).collect();
    assert_eq!(lines, ["k:good", "k:good"]);
}

/// The records (sequence numbers) of a JSON list field, as a set; fails on duplicates.
fn seq_set(v: &serde_json::Value, field: &str) -> BTreeSet<u64> {
    let list: Vec<u64> = v[field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` in {v}"))
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    let set: BTreeSet<u64> = list.iter().copied().collect();
    assert_eq!(set.len(), list.len(), "`{field}` processed a record twice");
    set
}

/// Partition -> offset from a JSON object keyed by partition number.
fn partition_offsets(v: &serde_json::Value, field: &str) -> BTreeMap<i32, i64> {
    v[field]
        .as_object()
        .unwrap_or_else(|| panic!("no `{field}` in {v}"))
        .iter()
        .map(|(p, o)| (p.parse().unwrap(), o.as_i64().unwrap()))
        .collect()
}

#[test]
fn confluent_kafka_group_rebalances_on_leave_and_resumes_after_kill_9() {
    if !confluent_kafka_available() {
        return;
    }
    const MESSAGES: u64 = 6000;
    let data = tempfile::tempdir().unwrap();
    // Kafka's defaults, group.initial.rebalance.delay.ms=3000 included.
    let mut server = Server::start(data.path(), &[]);
    let group = script("confluent_group.py");
    let summary = run_script(
        &server,
        &[&group, &server.addr, "grouped", "first"],
        Duration::from_secs(120),
    );
    let first: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let (a, b) = (seq_set(&first, "a"), seq_set(&first, "b"));
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both members consumed: {} and {}",
        a.len(),
        b.len()
    );
    assert!(a.is_disjoint(&b), "no record went to both members");
    let consumed: BTreeSet<u64> = a.union(&b).copied().collect();
    assert!(consumed.len() as u64 >= 2 * MESSAGES / 3);
    // Every processed record was committed right after it, and nothing else: per partition
    // the committed offset is the count consumed from it (offsets start at 0, no gaps).
    let committed = partition_offsets(&first, "committed");
    let committed_total: i64 = committed.values().filter(|o| **o > 0).sum();
    assert_eq!(
        committed_total as usize,
        consumed.len(),
        "committed: {committed:?}"
    );

    // A crash: the commits were acknowledged, so they must all be there after the restart.
    server.kill();
    let server = Server::start(data.path(), &[]);
    let left = (MESSAGES as usize - consumed.len()).to_string();
    let summary = run_script(
        &server,
        &[&group, &server.addr, "grouped", "resume", &left],
        Duration::from_secs(120),
    );
    let second: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let c = seq_set(&second, "c");
    assert!(c.is_disjoint(&consumed), "nothing committed was read again");
    let all: BTreeSet<u64> = consumed.union(&c).copied().collect();
    assert_eq!(all, (0..MESSAGES).collect(), "every record was consumed");
    // The new member started each partition where the group's commits left it.
    for (p, o) in partition_offsets(&second, "first_offsets") {
        let from = committed.get(&p).copied().filter(|o| *o >= 0).unwrap_or(0);
        assert_eq!(
            o, from,
            "partition {p} resumed at {o}, committed was {from}"
        );
    }
    let end = partition_offsets(&second, "committed");
    assert_eq!(
        end.values().sum::<i64>(),
        MESSAGES as i64,
        "final commits: {end:?}"
    );
    // The AdminClient saw the group, empty after its last member left, with those offsets,
    // and deleted it.
    assert!(second["listed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "brook-interop-group"));
    assert_eq!(second["state"], "ConsumerGroupState.EMPTY");
    assert_eq!(second["members"], 0);
    assert_eq!(partition_offsets(&second, "admin_offsets"), end);
    assert!(!second["after_delete"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "brook-interop-group"));
}

/// Checks the stored batches of `topic` as written by one idempotent producer from offset 0:
/// valid CRCs, one producer id (not -1), every batch's base sequence equal to its base offset
/// (sequences without gaps), and `ends[p]` records in partition `p`. Returns the codec of
/// each batch, per partition, in log order.
fn check_idempotent_batches(data: &Path, topic: &str, ends: &[i64]) -> Vec<Vec<String>> {
    let mut producer_ids = BTreeSet::new();
    let mut codecs = Vec::new();
    for (p, &end) in ends.iter().enumerate() {
        let batches = dump_batches(data, topic, p as i32);
        let mut records = 0;
        for batch in &batches {
            assert_eq!(batch["crcValid"], "true", "{topic}-{p}: {batch:?}");
            assert_eq!(
                batch["baseSequence"], batch["baseOffset"],
                "{topic}-{p}: {batch:?}"
            );
            records += batch["count"].parse::<i64>().unwrap();
            producer_ids.insert(batch["producerId"].parse::<i64>().unwrap());
        }
        assert_eq!(records, end, "{topic}-{p}: records in the log");
        codecs.push(batches.iter().map(|b| b["compression"].clone()).collect());
    }
    assert_eq!(
        producer_ids.len(),
        1,
        "{topic}: producer ids {producer_ids:?}"
    );
    assert!(
        *producer_ids.first().unwrap() >= 0,
        "{topic}: not idempotent ({producer_ids:?})"
    );
    codecs
}

/// The integers of a JSON list field; JSON strings of digits (kafkajs's offsets) count too.
fn int_list(v: &serde_json::Value, field: &str) -> Vec<i64> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("no list `{field}` in {v}"))
        .iter()
        .map(|n| {
            n.as_i64()
                .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or_else(|| panic!("`{field}`: {n} in {v}"))
        })
        .collect()
}

/// Two assignments that split `0..partitions` between two members, each getting some.
fn assert_split(a: &[i64], b: &[i64], partitions: i64, summary: &serde_json::Value) {
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both members got partitions: {summary}"
    );
    let mut all: Vec<i64> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..partitions).collect::<Vec<_>>(),
        "the assignments split the partitions: {summary}"
    );
}

/// Where `scripts/setup.sh` installs the Node.js clients: `$BROOK_NODE_DIR`, or else the npm
/// prefix `~/.cache/brook-node` (outside the work tree).
fn node_dir() -> std::path::PathBuf {
    match std::env::var_os("BROOK_NODE_DIR") {
        Some(dir) => dir.into(),
        None => Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache/brook-node"),
    }
}

/// `node` with the clients of `node_dir()` on its module path.
fn node() -> Command {
    let mut cmd = Command::new("node");
    cmd.env("NODE_PATH", node_dir().join("node_modules"));
    cmd
}

fn kafkajs_available() -> bool {
    client_available(
        "kafkajs 2.2",
        node().args([
            "-e",
            "process.exit(require('kafkajs/package.json').version.startsWith('2.2.') ? 0 : 1)",
        ]),
    )
}

#[test]
fn kafkajs_admin_idempotent_gzip_producer_and_a_two_member_group() {
    if !kafkajs_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["group.initial.rebalance.delay.ms=0"]);
    let script = script("kafkajs_roundtrip.js");
    let summary = run_summary(
        &server,
        node().args([&script, &server.addr, "js"]),
        "kafkajs_roundtrip.js",
        Duration::from_secs(40),
    );
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    use serde_json::json;
    assert_eq!(v["errors"], json!([]), "{summary}");
    // Admin.
    assert_eq!(v["brokers"], json!([server.addr]), "{summary}");
    assert_eq!(v["created"], json!(true), "{summary}");
    assert_eq!(v["created_again"], json!(false), "{summary}");
    assert_eq!(v["metadata_partitions"], json!([0, 1, 2]), "{summary}");
    assert!(v["described_configs"].as_u64().unwrap() >= 10, "{summary}");
    // Created with retention.ms, then altered; a topic config both times (source 1).
    assert_eq!(v["retention_created"], json!(["7200000", 1]), "{summary}");
    assert_eq!(v["retention_altered"], json!(["3600000", 1]), "{summary}");
    assert_eq!(v["scratch_partitions"], json!([0, 1]), "{summary}");
    assert_eq!(v["scratch_listed_after_delete"], json!(false), "{summary}");

    // Every record read once, by the member that owned its partition, as it was sent.
    for field in ["produced", "consumed", "distinct", "identical"] {
        assert_eq!(v[field], json!(600), "{field}: {summary}");
    }
    for field in ["duplicates", "misplaced", "wrong_consumer"] {
        assert_eq!(v[field], json!(0), "{field}: {summary}");
    }
    assert_eq!(v["keys"], json!(40), "{summary}");
    let ends = int_list(&v, "ends");
    assert_eq!(ends.iter().sum::<i64>(), 600, "{summary}");
    assert!(ends.iter().all(|&e| e > 0), "{summary}");
    let a = int_list(&v["assignments"], "a");
    let b = int_list(&v["assignments"], "b");
    assert_split(&a, &b, 3, &v);
    let owned = |parts: &[i64]| parts.iter().map(|&p| ends[p as usize]).sum::<i64>();
    assert_eq!(
        v["consumed_by"],
        json!({"a": owned(&a), "b": owned(&b)}),
        "{summary}"
    );

    // The group as the admin client saw it, running and then empty.
    let running = &v["running_group"];
    assert_eq!(running["state"], "Stable", "{summary}");
    assert_eq!(running["protocol"], "RoundRobinAssigner", "{summary}");
    assert_eq!(running["members"], 2, "{summary}");
    let mut assignments = vec![a.clone(), b.clone()];
    assignments.sort();
    assert_eq!(running["assignments"], json!(assignments), "{summary}");
    // NON_EMPTY_GROUP while its members run.
    assert_eq!(v["delete_running"], json!([68]), "{summary}");
    assert_eq!(
        v["empty_group"],
        json!({"state": "Empty", "members": 0}),
        "{summary}"
    );
    // The commits are the partition ends.
    assert_eq!(int_list(&v, "committed"), ends, "{summary}");
    let low_high = |field: &str| -> Vec<(i64, i64)> {
        v[field]
            .as_array()
            .unwrap_or_else(|| panic!("no `{field}`: {summary}"))
            .iter()
            .map(|pair| {
                let n = |i: usize| pair[i].as_str().unwrap().parse::<i64>().unwrap();
                (n(0), n(1))
            })
            .collect()
    };
    let zeros_to_ends: Vec<(i64, i64)> = ends.iter().map(|&e| (0, e)).collect();
    assert_eq!(low_high("topic_offsets"), zeros_to_ends, "{summary}");
    let by_time = int_list(&v, "offsets_by_time");
    assert_eq!(
        by_time,
        int_list(&v, "expected_by_time"),
        "ListOffsets by timestamp: {summary}"
    );
    assert!(
        by_time.iter().zip(&ends).all(|(&o, &e)| 0 < o && o < e),
        "{summary}"
    );
    // setOffsets (an OffsetCommit from a member that joins just for it), list and delete.
    assert_eq!(
        int_list(&v, "after_set_offsets"),
        [5, ends[1], ends[2]],
        "{summary}"
    );
    assert_eq!(v["listed"], json!([["js-group", "consumer"]]), "{summary}");
    assert_eq!(v["deleted"], json!([["js-group", 0]]), "{summary}");
    assert_eq!(v["listed_after_delete"], json!(0), "{summary}");
    assert_eq!(
        int_list(&v, "committed_after_delete"),
        [-1, -1, -1],
        "{summary}"
    );
    // DeleteRecords moved the start of partition 0.
    let mut after = zeros_to_ends.clone();
    after[0].0 = 10;
    assert_eq!(low_high("after_delete_records"), after, "{summary}");

    // The log: each send became one batch per partition, gzip for every other send, all
    // from one idempotent producer.
    let expected: Vec<&str> = v["send_compression"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| if c == "gzip" { "Gzip" } else { "None" })
        .collect();
    assert_eq!(
        expected,
        ["Gzip", "None", "Gzip", "None", "Gzip", "None"],
        "{summary}"
    );
    for (p, codecs) in check_idempotent_batches(data.path(), "js", &ends)
        .iter()
        .enumerate()
    {
        assert_eq!(codecs, &expected, "js-{p}: the codecs of its batches");
    }
}

fn aiokafka_available() -> bool {
    client_available(
        "aiokafka",
        Command::new("python3").args(["-c", "import aiokafka"]),
    )
}

#[test]
fn aiokafka_idempotent_gzip_positions_and_a_group_rebalanced_by_a_second_member() {
    if !aiokafka_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["group.initial.rebalance.delay.ms=0"]);
    let summary = run_script(
        &server,
        &[&script("aiokafka_roundtrip.py"), &server.addr, "aio"],
        Duration::from_secs(40),
    );
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    use serde_json::json;
    assert_eq!(v["errors"], json!([]), "{summary}");
    assert!(v["described_configs"].as_u64().unwrap() >= 10, "{summary}");
    assert_eq!(v["cleanup_policy"], "delete", "{summary}");
    assert_eq!(v["produced"], 1200, "{summary}");
    let ends = int_list(&v, "ends");
    assert_eq!(ends.len(), 4, "{summary}");
    assert_eq!(ends.iter().sum::<i64>(), 1200, "{summary}");
    assert!(ends.iter().all(|&e| e > 0), "{summary}");

    // The assigned consumer's view matches the producer's offsets.
    assert_eq!(int_list(&v, "beginning_offsets"), [0; 4], "{summary}");
    assert_eq!(int_list(&v, "end_offsets"), ends, "{summary}");
    assert_eq!(int_list(&v, "positions_at_end"), ends, "{summary}");
    assert_eq!(int_list(&v, "positions_at_beginning"), [0; 4], "{summary}");
    assert_eq!(v["seek_matched"], 4, "{summary}");
    assert_eq!(
        int_list(&v, "offsets_for_times"),
        int_list(&v, "offsets_for_times_expected"),
        "{summary}"
    );
    assert_eq!(v["offsets_for_times_timestamps_ok"], 4, "{summary}");
    assert_eq!(
        v["offsets_for_future_times"],
        json!([null, null, null, null]),
        "{summary}"
    );

    // The group: A alone had all four partitions, B's join took some of them away.
    let events = v["events"].as_array().unwrap();
    let has = |e: serde_json::Value| events.contains(&e);
    assert!(has(json!(["a", "assigned", [0, 1, 2, 3]])), "{summary}");
    assert!(has(json!(["a", "revoked", [0, 1, 2, 3]])), "{summary}");
    let a = int_list(&v["assigned"], "a");
    let b = int_list(&v["assigned"], "b");
    assert_split(&a, &b, 4, &v);
    assert!(
        v["a_before_rebalance"].as_u64().unwrap() >= 300,
        "{summary}"
    );
    assert_eq!(v["consumed"], 1200, "{summary}");
    assert_eq!(v["identical"], 1200, "{summary}");
    assert_eq!(v["duplicates"], 0, "{summary}");
    assert!(
        v["consumed_by"]["b"].as_u64().unwrap() > 0,
        "B read nothing: {summary}"
    );
    assert_eq!(v["b_resumed_at_commits"], true, "{summary}");
    // The commits, read back by a member, a fresh consumer and the admin client.
    for field in ["committed_by_member", "committed_by_fresh", "admin_offsets"] {
        assert_eq!(int_list(&v, field), ends, "{field}: {summary}");
    }
    assert_eq!(v["listed"], json!([["aio-group", "consumer"]]), "{summary}");
    assert_eq!(
        v["described_running"],
        json!([[0, "aio-group", "Stable", "consumer", "roundrobin", 2]]),
        "{summary}"
    );
    assert_eq!(
        v["described_empty"],
        json!([[0, "aio-group", "Empty", "consumer", "", 0]]),
        "{summary}"
    );

    // Gzip batches from one idempotent producer, sequences without gaps.
    for (p, codecs) in check_idempotent_batches(data.path(), "aio", &ends)
        .iter()
        .enumerate()
    {
        assert!(
            codecs.len() > 1 && codecs.iter().all(|c| c == "Gzip"),
            "aio-{p}: {codecs:?}"
        );
    }
}

#[test]
fn kafka_python_group_commits_survive_a_restart_and_admin_deletes_the_group() {
    if !kafka_python_available() {
        return;
    }
    const MESSAGES: u64 = 900;
    let data = tempfile::tempdir().unwrap();
    let settings = ["group.initial.rebalance.delay.ms=0"];
    let mut server = Server::start(data.path(), &settings);
    let group = script("kafka_python_group.py");
    let summary = run_script(
        &server,
        &[&group, &server.addr, "kpg", "first"],
        Duration::from_secs(40),
    );
    let first: serde_json::Value = serde_json::from_str(&summary).unwrap();
    use serde_json::json;
    assert_eq!(first["errors"], json!([]), "{summary}");
    let ends = int_list(&first, "ends");
    assert_eq!(ends.iter().sum::<i64>(), MESSAGES as i64, "{summary}");
    let consumed = seq_set(&first, "consumed");
    assert!(consumed.len() as u64 >= MESSAGES / 3, "{summary}");
    // Every record read was committed (per partition, offsets from 0 without gaps).
    let committed: Vec<i64> = first["committed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_i64().unwrap_or(0))
        .collect();
    assert_eq!(
        committed.iter().sum::<i64>(),
        consumed.len() as i64,
        "{summary}"
    );
    assert_eq!(first["running"]["state"], "Stable", "{summary}");
    assert_eq!(first["running"]["protocol"], "range", "{summary}");
    assert_eq!(
        first["running"]["assignments"],
        json!([[0, 1, 2]]),
        "{summary}"
    );
    assert_eq!(first["empty"]["state"], "Empty", "{summary}");
    assert_eq!(first["empty"]["assignments"], json!([]), "{summary}");

    // A clean restart on the same data directory: the group and its commits come back.
    let status = server.terminate();
    assert!(status.success(), "{status}\n{}", server.stderr());
    drop(server);
    let server = Server::start(data.path(), &settings);
    let left = (MESSAGES as usize - consumed.len()).to_string();
    let summary = run_script(
        &server,
        &[&group, &server.addr, "kpg", "resume", &left],
        Duration::from_secs(40),
    );
    let second: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(second["errors"], json!([]), "{summary}");
    let rest = seq_set(&second, "consumed");
    assert!(
        rest.is_disjoint(&consumed),
        "records committed before the restart were read again: {summary}"
    );
    let all: BTreeSet<u64> = consumed.union(&rest).copied().collect();
    assert_eq!(
        all,
        (0..MESSAGES).collect(),
        "every record was consumed: {summary}"
    );
    // The new consumer started every partition it read at the offset committed before.
    let first_offsets = partition_offsets(&second, "first_offsets");
    for (p, (&c, &e)) in committed.iter().zip(&ends).enumerate() {
        assert_eq!(
            first_offsets.get(&(p as i32)).copied(),
            (c < e).then_some(c),
            "partition {p}: {summary}"
        );
    }
    assert_eq!(int_list(&second, "committed"), ends, "{summary}");
    assert_eq!(int_list(&second, "end_offsets"), ends, "{summary}");
    assert_eq!(
        second["listed"],
        json!([["kp-interop-group", "consumer"]]),
        "{summary}"
    );
    assert_eq!(second["running"]["state"], "Stable", "{summary}");
    assert_eq!(
        second["running"]["assignments"],
        json!([[0, 1, 2]]),
        "{summary}"
    );
    assert_eq!(second["empty"]["state"], "Empty", "{summary}");
    let admin: Vec<i64> = (0..3)
        .map(|p| partition_offsets(&second, "admin_offsets")[&p])
        .collect();
    assert_eq!(admin, ends, "{summary}");
    // Deleted, then GROUP_ID_NOT_FOUND; gone from the list, no offsets left.
    assert_eq!(
        second["deleted"],
        json!([["kp-interop-group", 0]]),
        "{summary}"
    );
    assert_eq!(
        second["deleted_again"],
        json!([["kp-interop-group", 69]]),
        "{summary}"
    );
    assert_eq!(second["listed_after_delete"], json!([]), "{summary}");
    assert_eq!(second["admin_offsets_after_delete"], json!({}), "{summary}");

    // One consumer (another group) that stays up while the broker restarts on its address.
    let control = tempfile::tempdir().unwrap();
    let stdout = control.path().join("live.stdout");
    let stderr = control.path().join("live.stderr");
    let addr = server.addr.clone();
    let mut live = Background(
        Command::new("python3")
            .arg(&group)
            .args([&addr, "kpg", "live"])
            .arg(control.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap(),
    );
    let live_failed = |what: &str, server: &Server| -> String {
        format!(
            "the live consumer {what}\n--- its stdout:\n{}\n--- its stderr:\n{}\n--- the \
             server's stderr:\n{}",
            tail(&std::fs::read_to_string(&stdout).unwrap_or_default()),
            tail(&std::fs::read_to_string(&stderr).unwrap_or_default()),
            server.stderr()
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !control.path().join("ready").exists() {
        let exited = live.0.try_wait().unwrap();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "{}",
            live_failed(&format!("was not ready (exit: {exited:?})"), &server)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut server = server;
    let status = server.terminate();
    assert!(status.success(), "{status}\n{}", server.stderr());
    drop(server);
    let server = Server::start_on(data.path(), &addr, &settings);
    std::fs::write(control.path().join("go"), "go\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = live.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            live_failed("did not finish within 30 s", &server)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "{}",
        live_failed(&status.to_string(), &server)
    );
    let summary = std::fs::read_to_string(&stdout).unwrap();
    let summary = summary.lines().last().unwrap_or_default();
    eprintln!("kafka_python_group.py live summary: {summary}");
    let third: serde_json::Value = serde_json::from_str(summary).unwrap();
    assert_eq!(third["errors"], json!([]), "{summary}");
    assert_eq!(third["before"], MESSAGES, "{summary}");
    assert_eq!(int_list(&third, "committed_before"), ends, "{summary}");
    assert_eq!(third["go"], true, "{summary}");
    // Every record once, the 300 produced after the restart included, all committed.
    assert_eq!(
        seq_set(&third, "consumed"),
        (0..MESSAGES + 300).collect(),
        "{summary}"
    );
    let end_offsets = int_list(&third, "end_offsets");
    assert_eq!(end_offsets.iter().sum::<i64>(), 1200, "{summary}");
    assert_eq!(int_list(&third, "committed"), end_offsets, "{summary}");
    // The broker rebuilt the group from __consumer_offsets: the member's heartbeats went on
    // being accepted, so it was assigned its partitions once.
    assert_eq!(
        third["events"],
        json!([["revoked", []], ["assigned", [0, 1, 2]]]),
        "{summary}"
    );
}

/// Runs kcat with `args`, failing the test on a nonzero exit or an ERROR line.
fn kcat_ok(server: &Server, args: &[&str], input: &[u8]) -> String {
    let out = run(kcat(server).args(args), input, CLIENT_TIMEOUT, server);
    let what = format!("kcat {}", args.join(" "));
    expect_success(&what, &out, server);
    assert!(!out.stderr.contains("ERROR"), "{what}:\n{}", out.stderr);
    out.stdout
}

#[test]
fn kcat_round_trips_10000_keyed_records_with_headers_and_timestamps() {
    if !kcat_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["num.partitions=4"]);
    let topic = "kcat-headers";
    let sent: Vec<String> = (0..10_000)
        .map(|i| format!("key-{}\tvalue-{i}-{}", i % 97, "x".repeat(i % 50)))
        .collect();
    let input: String = sent.iter().map(|l| format!("{l}\n")).collect();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    kcat_ok(
        &server,
        &[
            "-P",
            "-t",
            topic,
            "-K",
            "\t",
            "-z",
            "lz4",
            "-H",
            "trace=abc-123",
            "-H",
            "empty=",
            "-H",
            "trace=second value",
        ],
        input.as_bytes(),
    );
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let listing = kcat_ok(&server, &["-L"], b"");
    assert!(
        listing.contains(&format!("topic \"{topic}\" with 4 partitions")),
        "{listing}"
    );
    let read = || {
        kcat_ok(
            &server,
            &[
                "-C",
                "-t",
                topic,
                "-o",
                "beginning",
                "-e",
                "-f",
                "%p\t%o\t%T\t%h\t%k\t%s\n",
            ],
            b"",
        )
    };
    let first = read();
    let mut got: Vec<(i32, i64, i64, String, String)> = first
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(6, '\t').collect();
            assert_eq!(f.len(), 6, "bad line {l:?}");
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].to_string(),
                format!("{}\t{}", f[4], f[5]),
            )
        })
        .collect();
    assert_eq!(got.len(), sent.len());
    for (_, _, ts, headers, _) in &got {
        assert_eq!(headers, "trace=abc-123,empty=,trace=second value");
        assert!(
            (before - 1000..=after + 1000).contains(ts),
            "CreateTime {ts} outside the produce window {before}..{after}"
        );
    }
    // Per partition the records come back in the order sent, each key in one partition.
    let mut keys: HashMap<String, i32> = HashMap::new();
    for (p, _, _, _, line) in &got {
        let key = line.split('\t').next().unwrap().to_string();
        assert_eq!(
            *keys.entry(key.clone()).or_insert(*p),
            *p,
            "{key} in two partitions"
        );
    }
    got.sort_by_key(|(p, o, ..)| (*p, *o));
    let mut by_value: Vec<&String> = got.iter().map(|g| &g.4).collect();
    by_value.sort();
    let mut want: Vec<&String> = sent.iter().collect();
    want.sort();
    assert_eq!(by_value, want, "keys and values come back identical");
    // Stored, not made up on read: a second read is the same to the byte.
    assert_eq!(read(), first);
}
