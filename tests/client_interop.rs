//! Brook's Rust client against Kafka clients nobody here wrote, through a real `brook server`:
//! what Brook's client writes, confluent-kafka and kcat read identically, and keyed records
//! land in the same partitions as with Java's client.
//!
//! - Brook's `Producer` writes records with keys, null keys, null and empty values, headers
//!   (repeated names, null and empty values, binary values), explicit and producer-assigned
//!   timestamps, explicit partitions, and binary (non-UTF-8) payloads up to 100 KiB, to a
//!   5-partition topic per `compression.type` (none, gzip, snappy, lz4, zstd). confluent-kafka
//!   (`tests/interop/client_read.py`, bytes as hex) and kcat (`-C -e -f` with key and value
//!   lengths, so nothing binary is lost) read each topic; every reader must see, partition by
//!   partition and in offset order, exactly the records sent, at the partition and offset of
//!   their delivery reports, with their keys, values, headers and CreateTime timestamps
//!   (kcat prints header values as C strings, so there they are compared up to a NUL byte;
//!   confluent-kafka compares them whole). `brook log dump` shows every batch compressed with
//!   the topic's codec, CRCs valid, from one idempotent producer with gapless sequences.
//! - Java-compatible partitioning: the same keys (text and binary, 1 to 1000 bytes) are
//!   produced by Brook's default partitioner, by kafka-python (Java's murmur2
//!   DefaultPartitioner) and by confluent-kafka with `partitioner=murmur2_random`
//!   (`tests/interop/client_partition.py`) to topics of 7 and of 16 partitions; read back by
//!   Brook's consumer, every key is in the same partition in all of them, which is also the
//!   one the delivery reports gave and `partition_for_key` computes.
//! - The reverse direction: confluent-kafka writes (`tests/interop/client_write.py`, an
//!   idempotent producer per codec, binary keys, null keys and values, headers, timestamps);
//!   Brook's `Consumer` reads every record identically at the offset of its delivery report,
//!   also with a `max.partition.fetch.bytes` smaller than one batch.
//!
//! Each test starts its own server on an OS-chosen port with a fresh data directory and kills
//! it on drop. A test whose client is not installed is skipped with a message, except under
//! CI (`CI` set), where `scripts/setup.sh` has installed the clients and a missing one is a
//! failure.

mod server_support;
use server_support::{tail, Server};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use brook_client::producer::partitioner::partition_for_key;
use brook_client::{
    Admin, AdminConfig, Consumer, ConsumerConfig, ConsumerRecord, NewTopic, Producer,
    ProducerConfig, ProducerRecord, RecordMetadata, TopicPartition,
};
use brook_protocol::record::{Header, TimestampType};

/// How long one client command may take before it is killed and the test fails.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// The codecs of `compression.type`, by their Kafka names.
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

// ---------------------------------------------------------------------------------------
// The server and the client processes.

struct Output {
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs a client command with `input` on its standard input; kills it and fails the test when
/// it takes longer than [`CLIENT_TIMEOUT`], or when it exits unsuccessfully.
fn run(what: &str, cmd: &mut Command, input: &[u8], server: &Server) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + CLIENT_TIMEOUT;
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
        stdout: stdout.join().unwrap(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    match status {
        None => panic!(
            "{what} did not finish within {CLIENT_TIMEOUT:?}\n--- its stdout:\n{}\n--- its \
             stderr:\n{}\n--- the server's stderr:\n{}",
            tail(&stdout, 20),
            tail(&out.stderr, 20),
            server.stderr()
        ),
        Some(s) if !s.success() => panic!(
            "{what} failed ({s})\n--- its stdout:\n{}\n--- its stderr:\n{}\n--- the server's \
             stderr:\n{}",
            tail(&stdout, 20),
            tail(&out.stderr, 20),
            server.stderr()
        ),
        Some(_) => out,
    }
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

fn python_module_available(name: &str, module: &str) -> bool {
    client_available(
        name,
        Command::new("python3").args(["-c", &format!("import {module}")]),
    )
}

fn kcat_available() -> bool {
    client_available("kcat", Command::new("kcat").arg("-V"))
}

/// The path of a script in `tests/interop/`.
fn script(name: &str) -> String {
    format!("{}/tests/interop/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------
// Records, as every reader reports them.

/// One record as written or read: where it is and everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
}

impl Rec {
    fn from_consumed(r: &ConsumerRecord) -> Rec {
        Rec {
            partition: r.partition,
            offset: r.offset,
            key: r.key.as_deref().map(<[u8]>::to_vec),
            value: r.value.as_deref().map(<[u8]>::to_vec),
            headers: r
                .headers
                .iter()
                .map(|h| (h.key.clone(), h.value.as_deref().map(<[u8]>::to_vec)))
                .collect(),
            timestamp: r.timestamp,
        }
    }

    /// A short description for failure messages (long payloads abbreviated).
    fn brief(&self) -> String {
        fn bytes(b: &Option<Vec<u8>>) -> String {
            match b {
                None => "null".into(),
                Some(b) if b.len() > 24 => format!("{}..({} bytes)", hex(&b[..24]), b.len()),
                Some(b) => format!("0x{}", hex(b)),
            }
        }
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}={}", bytes(v)))
            .collect();
        format!(
            "{}@{} key={} value={} headers=[{}] ts={}",
            self.partition,
            self.offset,
            bytes(&self.key),
            bytes(&self.value),
            headers.join(","),
            self.timestamp
        )
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("hex {s:?}")))
        .collect()
}

/// A JSON string of hex digits or null, as the scripts print bytes.
fn json_bytes(v: &serde_json::Value) -> Option<Vec<u8>> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(unhex(s)),
        other => panic!("expected hex or null, got {other}"),
    }
}

/// A record of a script's JSON line (`p`, `o`, `k`, `v`, `h`, `ts`).
fn json_rec(v: &serde_json::Value) -> Rec {
    Rec {
        partition: v["p"].as_i64().unwrap() as i32,
        offset: v["o"].as_i64().unwrap(),
        key: json_bytes(&v["k"]),
        value: json_bytes(&v["v"]),
        headers: v["h"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().to_owned(), json_bytes(&h[1])))
            .collect(),
        timestamp: v["ts"].as_i64().unwrap(),
    }
}

/// The JSON lines a script printed; the last one, its summary, must list no errors.
fn script_lines(what: &str, out: &Output) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e} in {l}")))
        .collect();
    let summary = lines
        .pop()
        .unwrap_or_else(|| panic!("{what} printed nothing; its stderr:\n{}", out.stderr));
    assert_eq!(
        summary["errors"],
        serde_json::json!([]),
        "{what} reported errors: {summary}"
    );
    (lines, summary)
}

/// Compares, partition by partition and in the order each reader returned them, the records
/// `reader` saw with those `sent`; panics with the first differences.
fn assert_same_records(reader: &str, topic: &str, sent: &[Rec], got: &[Rec]) {
    let by_partition = |rs: &[Rec]| {
        let mut m: BTreeMap<i32, Vec<Rec>> = BTreeMap::new();
        for r in rs {
            m.entry(r.partition).or_default().push(r.clone());
        }
        m
    };
    let mut want = by_partition(sent);
    for rs in want.values_mut() {
        rs.sort_by_key(|r| r.offset);
    }
    let got = by_partition(got);
    let mut problems = Vec::new();
    let partitions: BTreeSet<i32> = want.keys().chain(got.keys()).copied().collect();
    for p in partitions {
        let w = want.get(&p).map_or(&[][..], Vec::as_slice);
        let g = got.get(&p).map_or(&[][..], Vec::as_slice);
        if w.len() != g.len() {
            problems.push(format!(
                "partition {p}: {} records read, {} sent",
                g.len(),
                w.len()
            ));
        }
        for (i, (w, g)) in w.iter().zip(g).enumerate() {
            if w != g {
                problems.push(format!(
                    "partition {p}, record {i}:\n    read {}\n    sent {}",
                    g.brief(),
                    w.brief()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{reader} read {topic} differently from what was sent ({} problems); the first:\n{}",
        problems.len(),
        problems
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The batches of one partition as `brook log dump` prints them: `name: value` pairs
/// (`count`, `compression`, `producerId`, `baseSequence`, `crcValid`, ...).
fn dump_batches(data: &Path, topic: &str, partition: i32) -> Vec<BTreeMap<String, String>> {
    let dir = data.join(format!("{topic}-{partition}"));
    let out = Command::new(env!("CARGO_BIN_EXE_brook"))
        .arg("log")
        .arg("dump")
        .arg(&dir)
        .output()
        .unwrap();
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

// ---------------------------------------------------------------------------------------
// Brook's client.

async fn create_topics(addr: &str, topics: &[(&str, i32)]) {
    let admin = Admin::connect(addr, AdminConfig::default()).await.unwrap();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(*name, *partitions, 1))
        .collect();
    let created = admin.create_topics(&new, false).await.unwrap();
    for (name, result) in &created {
        assert!(result.is_ok(), "creating {name}: {result:?}");
    }
    assert_eq!(created.len(), topics.len(), "{created:?}");
}

async fn producer(addr: &str, settings: &[(&str, &str)]) -> Producer {
    let mut config = ProducerConfig::default();
    config.set("bootstrap.servers", addr).unwrap();
    for (k, v) in settings {
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    Producer::connect(config).await.unwrap()
}

/// Every record of `topic` (all `partitions`, from offset 0 up to the end offsets taken
/// first) read by Brook's consumer, in the order `poll` returned them.
async fn read_all(
    addr: &str,
    topic: &str,
    partitions: i32,
    settings: &[(&str, &str)],
) -> Vec<ConsumerRecord> {
    let mut config = ConsumerConfig::new(addr);
    config.set("auto.offset.reset", "earliest").unwrap();
    for (k, v) in settings {
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    let mut consumer = Consumer::connect(config).await.unwrap();
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    let ends = consumer.end_offsets(&tps).await.unwrap();
    consumer.assign(&tps);
    let mut next: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while tps.iter().any(|tp| next[&tp.partition] < ends[tp]) {
        assert!(
            Instant::now() < deadline,
            "Brook's consumer read {topic} up to {next:?}, not to the ends {ends:?}, within \
             {CLIENT_TIMEOUT:?}"
        );
        for r in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            assert_eq!(r.topic, topic);
            assert_eq!(
                r.offset, next[&r.partition],
                "Brook's consumer skipped or repeated offsets of {topic}-{}",
                r.partition
            );
            next.insert(r.partition, r.offset + 1);
            out.push(r);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Brook's producer, read by confluent-kafka and kcat.

const WRITE_PARTITIONS: i32 = 5;
const WRITE_RECORDS: usize = 600;

/// A deterministic byte stream (xorshift), for binary payloads.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Record `i` of a codec's topic, as given to Brook's producer.
fn brook_record(topic: &str, i: usize, base_ts: i64) -> ProducerRecord {
    let key = match i % 10 {
        3 => None,
        7 => Some(vec![0xff, 0x00, b'\n', (i % 13) as u8, 0xc3, b',', b'=']),
        8 => Some(Vec::new()),
        _ => Some(format!("key-{}-\u{e9}", i % 29).into_bytes()),
    };
    let value = if i % 19 == 2 {
        None
    } else if i % 23 == 4 {
        Some(Vec::new())
    } else if i % 150 == 75 {
        // Larger than batch.size: a batch of its own.
        Some(noise(i as u64, 100 * 1024))
    } else {
        let mut v = noise(i as u64, (i * 37) % 500);
        v.push(0xff);
        v.extend_from_slice(format!("\u{1F980} record {i}").as_bytes());
        v.push(0xc3);
        Some(v)
    };
    let headers = match i % 3 {
        0 => vec![],
        1 => vec![
            Header::new("seq", Some(i.to_string().into_bytes().into())),
            Header::new("bin", Some(vec![0xfe, 0x00, b'\n', i as u8, 0x80].into())),
        ],
        _ => vec![
            Header::new("dup", Some(b"a".to_vec().into())),
            Header::new("null", None),
            Header::new("dup", Some(b"b".to_vec().into())),
            Header::new("empty", Some(Vec::new().into())),
            Header::new(
                "\u{fc}nicode",
                Some("v\u{e4}lue".as_bytes().to_vec().into()),
            ),
        ],
    };
    let timestamp = (i % 8 != 5).then_some(base_ts + 3 * i as i64);
    let partition = (i % 25 == 11).then_some((i % WRITE_PARTITIONS as usize) as i32);
    ProducerRecord {
        topic: topic.to_owned(),
        partition,
        key: key.map(Into::into),
        value: value.map(Into::into),
        headers,
        timestamp,
    }
}

/// What kcat's `-f` format prints of a record: partition, offset, timestamp, key length and
/// value length (-1 for null) on a line, then the key and value bytes, then the headers as
/// `name=value` joined by commas (a null value printed as `NULL`), then [`KCAT_END`].
const KCAT_FORMAT: &str = "%p %o %T %K %S\n%k%s%h|#end#|\n";
const KCAT_END: &[u8] = b"|#end#|\n";

/// A record as kcat prints it: everything but the headers, and the headers as text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KcatRec {
    rec: Rec,
    headers: Vec<u8>,
}

/// The headers as kcat's `%h` prints them: `name=value` joined by commas, `NULL` for a null
/// value, and each value as a C string, up to its first NUL byte (kcat's own limitation: the
/// full binary values are checked through confluent-kafka).
fn kcat_headers(headers: &[(String, Option<Vec<u8>>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (k, v)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        let v = v.as_deref().unwrap_or(b"NULL");
        out.extend(v.iter().take_while(|&&b| b != 0));
    }
    out
}

/// Parses kcat's output in [`KCAT_FORMAT`], byte for byte.
fn parse_kcat(mut out: &[u8]) -> Vec<KcatRec> {
    let mut recs = Vec::new();
    while !out.is_empty() {
        let nl = out
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or_else(|| panic!("kcat: no line in {:?}", String::from_utf8_lossy(out)));
        let line = std::str::from_utf8(&out[..nl]).unwrap();
        let fields: Vec<i64> = line
            .split(' ')
            .map(|f| {
                f.parse()
                    .unwrap_or_else(|_| panic!("kcat: bad line {line:?}"))
            })
            .collect();
        let [partition, offset, timestamp, key_len, value_len] = fields[..] else {
            panic!("kcat: bad line {line:?}");
        };
        out = &out[nl + 1..];
        let mut take = |len: i64| {
            (len >= 0).then(|| {
                let (b, rest) = out.split_at(len as usize);
                out = rest;
                b.to_vec()
            })
        };
        let key = take(key_len);
        let value = take(value_len);
        let end = out
            .windows(KCAT_END.len())
            .position(|w| w == KCAT_END)
            .expect("kcat: a record without its end marker");
        let headers = out[..end].to_vec();
        out = &out[end + KCAT_END.len()..];
        recs.push(KcatRec {
            rec: Rec {
                partition: partition as i32,
                offset,
                key,
                value,
                headers: Vec::new(),
                timestamp,
            },
            headers,
        });
    }
    recs
}

#[test]
fn confluent_kafka_and_kcat_read_what_brooks_producer_wrote_with_every_codec() {
    if !python_module_available("confluent-kafka", "confluent_kafka") || !kcat_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), "127.0.0.1:0", &[]);
    let rt = runtime();
    let base_ts = now_ms() - 3_600_000;
    let topics: Vec<String> = CODECS.iter().map(|c| format!("from-brook-{c}")).collect();
    rt.block_on(create_topics(
        &server.addr,
        &topics
            .iter()
            .map(|t| (t.as_str(), WRITE_PARTITIONS))
            .collect::<Vec<_>>(),
    ));

    for (codec, topic) in CODECS.iter().zip(&topics) {
        // What Brook's producer wrote, where its delivery reports put it.
        let sent: Vec<Rec> = rt.block_on(async {
            let producer = producer(
                &server.addr,
                &[("compression.type", *codec), ("linger.ms", "5")],
            )
            .await;
            let records: Vec<ProducerRecord> = (0..WRITE_RECORDS)
                .map(|i| brook_record(topic, i, base_ts))
                .collect();
            let futures: Vec<_> = records.iter().map(|r| producer.send(r.clone())).collect();
            let mut sent = Vec::new();
            for (i, (record, future)) in records.into_iter().zip(futures).enumerate() {
                let md: RecordMetadata = future
                    .await
                    .unwrap_or_else(|e| panic!("{topic}: record {i} was not written: {e}"));
                assert_eq!(md.topic, *topic);
                if let Some(p) = record.partition {
                    assert_eq!(md.partition, p, "{topic}: record {i} has its own partition");
                } else if let Some(key) = &record.key {
                    assert_eq!(
                        md.partition,
                        partition_for_key(key, WRITE_PARTITIONS),
                        "{topic}: record {i}'s key hashed to another partition"
                    );
                }
                if let Some(ts) = record.timestamp {
                    assert_eq!(md.timestamp, ts, "{topic}: record {i}'s timestamp");
                }
                sent.push(Rec {
                    partition: md.partition,
                    offset: md.offset,
                    key: record.key.as_deref().map(<[u8]>::to_vec),
                    value: record.value.as_deref().map(<[u8]>::to_vec),
                    headers: record
                        .headers
                        .iter()
                        .map(|h| (h.key.clone(), h.value.as_deref().map(<[u8]>::to_vec)))
                        .collect(),
                    timestamp: md.timestamp,
                });
            }
            producer.close(Duration::from_secs(10)).await.unwrap();
            sent
        });
        // Per partition the offsets are 0, 1, 2, ... in send order.
        for p in 0..WRITE_PARTITIONS {
            let offsets: Vec<i64> = sent
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset)
                .collect();
            assert_eq!(
                offsets,
                (0..offsets.len() as i64).collect::<Vec<_>>(),
                "{topic}-{p}: the delivery reports' offsets"
            );
            assert!(!offsets.is_empty(), "{topic}-{p} got no records");
        }

        // The log holds the batches as Brook's producer made them: compressed with the
        // codec, CRCs valid, from one idempotent producer with gapless sequence numbers.
        let mut producer_ids = BTreeSet::new();
        for p in 0..WRITE_PARTITIONS {
            let batches = dump_batches(data.path(), topic, p);
            let mut records = 0;
            for b in &batches {
                assert!(
                    b["compression"].eq_ignore_ascii_case(codec),
                    "{topic}-{p}: not {codec}: {b:?}"
                );
                assert_eq!(b["crcValid"], "true", "{topic}-{p}: {b:?}");
                assert_eq!(b["baseSequence"], b["baseOffset"], "{topic}-{p}: {b:?}");
                producer_ids.insert(b["producerId"].parse::<i64>().unwrap());
                records += b["count"].parse::<usize>().unwrap();
            }
            assert_eq!(
                records,
                sent.iter().filter(|r| r.partition == p).count(),
                "{topic}-{p}: records in the log"
            );
        }
        assert!(
            producer_ids.len() == 1 && *producer_ids.first().unwrap() >= 0,
            "{topic}: one idempotent producer wrote it, not {producer_ids:?}"
        );

        // confluent-kafka.
        let what = format!("client_read.py {topic}");
        let out = run(
            &what,
            Command::new("python3").args([
                &script("client_read.py"),
                &server.addr,
                topic,
                &WRITE_PARTITIONS.to_string(),
            ]),
            b"",
            &server,
        );
        let (lines, summary) = script_lines(&what, &out);
        assert_eq!(summary["read"], WRITE_RECORDS, "{what}: {summary}");
        for l in &lines {
            assert_eq!(l["tstype"], 1, "{what}: not a CreateTime timestamp: {l}");
        }
        let got: Vec<Rec> = lines.iter().map(json_rec).collect();
        assert_same_records("confluent-kafka", topic, &sent, &got);

        // kcat.
        let out = run(
            &format!("kcat -C -t {topic}"),
            Command::new("kcat").args([
                "-b",
                &server.addr,
                "-C",
                "-t",
                topic,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                KCAT_FORMAT,
            ]),
            b"",
            &server,
        );
        let got = parse_kcat(&out.stdout);
        let got_recs: Vec<Rec> = got.iter().map(|k| k.rec.clone()).collect();
        let sent_without_headers: Vec<Rec> = sent
            .iter()
            .map(|r| Rec {
                headers: Vec::new(),
                ..r.clone()
            })
            .collect();
        assert_same_records("kcat", topic, &sent_without_headers, &got_recs);
        let sent_at: BTreeMap<(i32, i64), &Rec> =
            sent.iter().map(|r| ((r.partition, r.offset), r)).collect();
        for k in &got {
            let want = kcat_headers(&sent_at[&(k.rec.partition, k.rec.offset)].headers);
            assert!(
                k.headers == want,
                "kcat: the headers of {topic}-{}@{}: {:?}, sent {:?}",
                k.rec.partition,
                k.rec.offset,
                String::from_utf8_lossy(&k.headers),
                String::from_utf8_lossy(&want)
            );
        }
        eprintln!(
            "{topic}: {} records identical through confluent-kafka and kcat",
            sent.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Partitioning as in Java's client.

/// Keys of every shape murmur2 treats differently: text, binary with every tail length
/// (0 to 3 bytes after the 4-byte blocks), bytes above 0x7f (signed in Java), long ones.
fn partition_keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..200).map(|i| format!("user-{i}").into_bytes()).collect();
    keys.extend((1..=40).map(|len| noise(len as u64 + 1000, len)));
    keys.extend((0..40).map(|i| vec![0x80 | i as u8; 1 + i % 9]));
    keys.push(b"foobar".to_vec());
    keys.push(noise(7, 1000));
    keys.push("\u{1F980} crab".as_bytes().to_vec());
    let mut seen = BTreeSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

#[test]
fn keyed_records_land_in_the_same_partitions_as_with_javas_partitioner() {
    if !python_module_available("kafka-python", "kafka")
        || !python_module_available("confluent-kafka", "confluent_kafka")
    {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), "127.0.0.1:0", &[]);
    let rt = runtime();
    let keys = partition_keys();
    let unique: BTreeSet<&Vec<u8>> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "the keys are distinct");
    let clients = ["brook", "kafka-python", "confluent-kafka"];
    let counts = [7, 16];
    let topics: Vec<(String, i32)> = counts
        .iter()
        .flat_map(|&n| clients.iter().map(move |c| (format!("keys-{n}-{c}"), n)))
        .collect();
    rt.block_on(create_topics(
        &server.addr,
        &topics
            .iter()
            .map(|(t, n)| (t.as_str(), *n))
            .collect::<Vec<_>>(),
    ));

    let input: String = keys.iter().map(|k| format!("{}\n", hex(k))).collect();
    for &n in &counts {
        // The partition of each key by each client's delivery reports.
        let mut reported: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        let topic = format!("keys-{n}-brook");
        let brook: Vec<i32> = rt.block_on(async {
            let producer = producer(&server.addr, &[]).await;
            let futures: Vec<_> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let r: ProducerRecord = ProducerRecord::new(&topic, i.to_string().into())
                        .with_key(k.clone().into());
                    producer.send(r)
                })
                .collect();
            let mut partitions = Vec::new();
            for f in futures {
                partitions.push(f.await.unwrap().partition);
            }
            producer.close(Duration::from_secs(10)).await.unwrap();
            partitions
        });
        reported.insert("brook", brook);
        for client in &clients[1..] {
            let topic = format!("keys-{n}-{client}");
            let what = format!("client_partition.py {client} {topic}");
            let out = run(
                &what,
                Command::new("python3").args([
                    script("client_partition.py").as_str(),
                    client,
                    &server.addr,
                    &topic,
                ]),
                input.as_bytes(),
                &server,
            );
            let (_, summary) = script_lines(&what, &out);
            let partitions: Vec<i32> = summary["partitions"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {summary}"))
                .iter()
                .map(|p| p.as_i64().unwrap_or_else(|| panic!("{what}: {summary}")) as i32)
                .collect();
            assert_eq!(partitions.len(), keys.len(), "{what}: {summary}");
            reported.insert(client, partitions);
        }

        // Where the records are, read back by Brook's consumer.
        let mut stored: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for client in clients {
            let topic = format!("keys-{n}-{client}");
            let records = rt.block_on(read_all(&server.addr, &topic, n, &[]));
            assert_eq!(records.len(), keys.len(), "{topic}: one record per key");
            let mut at = vec![-1; keys.len()];
            for r in &records {
                let i: usize = std::str::from_utf8(r.value.as_deref().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(
                    r.key.as_deref(),
                    Some(&keys[i][..]),
                    "{topic}: record {i}'s key"
                );
                assert_eq!(at[i], -1, "{topic}: key {i} twice");
                at[i] = r.partition;
            }
            assert_eq!(
                at, reported[client],
                "{topic}: the partitions read differ from {client}'s delivery reports"
            );
            stored.insert(client, at);
        }

        let mut differ = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let java = partition_for_key(key, n);
            let seen: Vec<i32> = clients.iter().map(|c| stored[c][i]).collect();
            if seen.iter().any(|&p| p != java) {
                differ.push(format!(
                    "key 0x{} ({} bytes): partition_for_key {java}, {}",
                    hex(&key[..key.len().min(16)]),
                    key.len(),
                    clients
                        .iter()
                        .zip(&seen)
                        .map(|(c, p)| format!("{c} {p}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        assert!(
            differ.is_empty(),
            "{} of {} keys are in different partitions of the {n}-partition topics:\n{}",
            differ.len(),
            keys.len(),
            differ[..differ.len().min(10)].join("\n")
        );
        let used: BTreeSet<i32> = stored["brook"].iter().copied().collect();
        assert_eq!(
            used.len(),
            n as usize,
            "{} keys should reach all {n} partitions",
            keys.len()
        );
        eprintln!(
            "{n} partitions: {} keys in the same partition with Brook, kafka-python and \
             confluent-kafka (murmur2_random)",
            keys.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// confluent-kafka writes, Brook's consumer reads.

const READ_PARTITIONS: i32 = 3;
const READ_RECORDS: usize = 800;

#[test]
fn brooks_consumer_reads_what_confluent_kafka_wrote_with_every_codec() {
    if !python_module_available("confluent-kafka", "confluent_kafka") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), "127.0.0.1:0", &[]);
    let rt = runtime();
    let topics: Vec<String> = CODECS.iter().map(|c| format!("to-brook-{c}")).collect();
    rt.block_on(create_topics(
        &server.addr,
        &topics
            .iter()
            .map(|t| (t.as_str(), READ_PARTITIONS))
            .collect::<Vec<_>>(),
    ));
    let what = "client_write.py";
    let count = READ_RECORDS.to_string();
    let mut args = vec![
        script("client_write.py"),
        server.addr.clone(),
        "to-brook".into(),
        count,
    ];
    args.extend(CODECS.iter().map(|c| c.to_string()));
    let out = run(what, Command::new("python3").args(&args), b"", &server);
    let (lines, summary) = script_lines(what, &out);
    assert_eq!(
        summary["delivered"],
        READ_RECORDS * CODECS.len(),
        "{summary}"
    );

    for topic in &topics {
        let sent: Vec<Rec> = lines
            .iter()
            .filter(|l| l["t"] == topic.as_str())
            .map(json_rec)
            .collect();
        assert_eq!(sent.len(), READ_RECORDS, "{topic}: delivery reports");
        for p in 0..READ_PARTITIONS {
            let mut offsets: Vec<i64> = sent
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset)
                .collect();
            offsets.sort();
            assert_eq!(
                offsets,
                (0..offsets.len() as i64).collect::<Vec<_>>(),
                "{topic}-{p}: the delivery reports' offsets"
            );
        }
        // The default fetch sizes, and a max.partition.fetch.bytes below the size of most
        // batches (the broker still returns at least one whole batch).
        for settings in [&[][..], &[("max.partition.fetch.bytes", "1000")][..]] {
            let records = rt.block_on(read_all(&server.addr, topic, READ_PARTITIONS, settings));
            for r in &records {
                assert_eq!(
                    r.timestamp_type,
                    TimestampType::CreateTime,
                    "{topic}-{}@{}",
                    r.partition,
                    r.offset
                );
            }
            let got: Vec<Rec> = records.iter().map(Rec::from_consumed).collect();
            assert_same_records(
                &format!("Brook's consumer ({settings:?})"),
                topic,
                &sent,
                &got,
            );
        }
        eprintln!("{topic}: {READ_RECORDS} records identical through Brook's consumer");
    }
}
