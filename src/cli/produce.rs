//! `brook produce TOPIC`, like `kafka-console-producer.sh` (and `kcat -P`): one record per
//! line of stdin, `KEY<SEP>VALUE` with `--key-separator`, sent with brook-client's
//! [`Producer`]; flushed at EOF. Prints nothing on success; failed records go to stderr
//! with the Kafka error name and make the exit code 1.

use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail};
use brook_client::{
    Admin, AdminConfig, ClientError, ConfigResource, Producer, ProducerConfig, ProducerRecord,
};

use super::{block_on, parse_key_value};

/// How many failed records are printed one by one; the rest are only counted.
const MAX_REPORTED: usize = 10;

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    /// The topic to write to.
    pub topic: String,
    /// Each line is `KEY<SEP>VALUE` (split at the first SEP); without it, lines are values
    /// with no key.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// A header `key=value` added to every record. May be repeated.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// Acknowledgements to wait for: 0, 1 or all.
    #[arg(long, default_value = "all", value_parser = ["0", "1", "all", "-1"])]
    pub acks: String,
    /// Write every record to this partition instead of the partitioner's choice.
    #[arg(long, value_name = "N")]
    pub partition: Option<i32>,
    /// Batch compression.
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    pub compression: String,
    /// How long a batch waits for more records before it is sent.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub linger_ms: u64,
    /// The broker(s) to connect to, `host:port[,host:port...]`.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:9092")]
    pub bootstrap_server: String,
    /// How long to wait for the broker when connecting, and at EOF for the last records,
    /// in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
}

/// The records that failed: how many, and the first few reasons.
#[derive(Default)]
struct Failures {
    count: usize,
}

impl Failures {
    fn record(&mut self, line: usize, e: &dyn std::fmt::Display) {
        self.count += 1;
        if self.count <= MAX_REPORTED {
            eprintln!("error: record {line}: {e}");
        }
    }
}

pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    block_on(produce(args))
}

fn config(args: &ProduceArgs) -> anyhow::Result<ProducerConfig> {
    let mut config = ProducerConfig::default();
    let acks = if args.acks == "-1" { "all" } else { &args.acks };
    for (k, v) in [
        ("bootstrap.servers", args.bootstrap_server.as_str()),
        ("client.id", "brook-cli"),
        ("acks", acks),
        ("compression.type", args.compression.as_str()),
        ("linger.ms", &args.linger_ms.to_string()),
    ] {
        config.set(k, v).map_err(|e| anyhow!("{e}"))?;
    }
    Ok(config)
}

/// Whether the broker says it creates unknown topics (`auto.create.topics.enable`); `true`
/// when it cannot tell, so that the records are tried anyway.
async fn auto_creates_topics(producer: &Producer) -> bool {
    let cluster = producer.cluster().clone();
    let Some(&node) = cluster.metadata().brokers.keys().next() else {
        return true;
    };
    let admin = Admin::with_cluster(cluster, AdminConfig::default());
    let resource = ConfigResource::Broker(node);
    let Ok(results) = admin
        .describe_configs(std::slice::from_ref(&resource))
        .await
    else {
        return true;
    };
    match results.get(&resource) {
        Some(Ok(entries)) => !entries.iter().any(|e| {
            e.name == "auto.create.topics.enable"
                && e.value
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case("false"))
        }),
        _ => true,
    }
}

async fn produce(args: ProduceArgs) -> anyhow::Result<()> {
    let config = config(&args)?;
    let bootstrap = args.bootstrap_server.clone();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let producer = match tokio::time::timeout(timeout, Producer::connect(config)).await {
        Ok(Ok(p)) => p,
        Ok(Err(e @ ClientError::Config { .. })) => return Err(anyhow!(e)),
        Ok(Err(e)) => bail!("cannot reach the broker at {bootstrap}: {e}"),
        Err(_) => bail!("cannot reach the broker at {bootstrap}: no answer within {timeout:?}"),
    };
    // Look the topic up first so that a missing one is one clear error, not one per line
    // (the broker may still create it on first use when it allows auto-creation).
    match producer.cluster().topic(&args.topic).await {
        Ok(t) => {
            if let Some(p) = args.partition {
                if t.partition(p).is_none() {
                    bail!(
                        "topic `{}` has no partition {p} (it has {})",
                        args.topic,
                        t.partitions.len()
                    );
                }
            }
        }
        Err(ClientError::NoSuchTopic(_)) => {
            if !auto_creates_topics(&producer).await {
                bail!(
                    "unknown topic `{}` (UNKNOWN_TOPIC_OR_PARTITION), and the broker does not \
                     create topics on first use",
                    args.topic
                );
            }
        }
        Err(e) => bail!("cannot reach the broker at {bootstrap}: {e}"),
    }

    // Stdin is read on a thread of its own so the producer's tasks keep running (and
    // `linger.ms` keeps meaning something) while it waits for input.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<String>>(1024);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let stop = line.is_err();
            if tx.blocking_send(line).is_err() || stop {
                break;
            }
        }
    });

    let failures = Arc::new(Mutex::new(Failures::default()));
    let mut line_no = 0usize;
    let mut read_error = None;
    while let Some(line) = rx.recv().await {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                read_error = Some(e);
                break;
            }
        };
        line_no += 1;
        let line = line.strip_suffix('\r').unwrap_or(&line).to_owned();
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k.to_owned()), v.to_owned()),
                None => {
                    failures.lock().unwrap_or_else(|e| e.into_inner()).record(
                        line_no,
                        &format!("no key separator `{sep}` in the line `{line}`"),
                    );
                    continue;
                }
            },
            None => (None, line),
        };
        let mut record = ProducerRecord::new(args.topic.clone(), value.into());
        if let Some(k) = key {
            record = record.with_key(k.into());
        }
        if let Some(p) = args.partition {
            record = record.with_partition(p);
        }
        for (k, v) in &args.headers {
            record = record.with_header(k.clone(), Some(v.as_bytes()));
        }
        let failures = failures.clone();
        producer.send_with_callback(record, move |r| {
            if let Err(e) = r {
                failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(line_no, &e);
            }
        });
    }
    producer.flush().await;
    let closed = producer.close(timeout).await;
    let failed = failures.lock().unwrap_or_else(|e| e.into_inner()).count;
    if let Some(e) = read_error {
        bail!("reading stdin: {e}");
    }
    if failed > 0 {
        if failed > MAX_REPORTED {
            eprintln!("error: ... and {} more", failed - MAX_REPORTED);
        }
        bail!("{failed} of {line_no} record(s) were not written");
    }
    closed.map_err(|e| anyhow!("closing the producer: {e}"))?;
    Ok(())
}
