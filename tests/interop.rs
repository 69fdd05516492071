//! Interop tests: Kafka clients that nobody here wrote drive a real `brook server`.
//!
//! - kcat (librdkafka): metadata listing, keyed produce with every compression codec and
//!   acks 0, 1 and all into auto-created topics, consume from the beginning (also with fetch
//!   limits smaller than a batch) and from the tail.
//! - kafka-python (`tests/interop/kafka_python_roundtrip.py`): CreateTopics, keyed produce
//!   with acks=all, consume by partition assignment (no group), ListOffsets.
//! - A restart on the same data directory, after SIGTERM and after SIGKILL, keeps everything
//!   that was acknowledged, and appends go on from the recovered ends.
//!
//! Each test starts its own server on an OS-chosen port with a fresh data directory. A test
//! whose client is not installed is skipped with a message, except under CI (`CI` set), where
//! `scripts/setup.sh` has installed the clients and a missing one is a failure.

use std::io::{BufRead, BufReader, Read, Write};
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
        let mut cmd = brook();
        cmd.arg("server")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"]);
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
