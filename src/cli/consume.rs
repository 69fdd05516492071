//! `brook consume TOPIC`, like `kafka-console-consumer.sh` (and `kcat -C`).
//!
//! - With `--group G` (and no `--partition`, `--offset` or `--timestamp`): brook-client's
//!   [`Consumer`] subscribes as a member of the consumer group, so several `brook consume
//!   --group G` share the topic's partitions and rebalance as they come and go. Partitions
//!   start from the group's committed offsets, else from the end (or the beginning with
//!   `--from-beginning`). What was printed is committed when partitions are revoked and at
//!   exit, which leaves the group.
//! - Otherwise in assign mode over every partition of the topic (or the one given),
//!   starting from the end, the beginning, an offset or a timestamp; with `--group`, from
//!   the group's committed offsets where it has some, committing what was printed at exit.
//!
//! One line per record: the asked-for fields, then the key (with `--print-key`) and the
//! value, separated by `--key-separator`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail};
use brook_client::consumer::{ConsumerRebalanceListener, RebalanceContext};
use brook_client::{ClientError, Consumer, ConsumerConfig, ConsumerRecord, TopicPartition};
use brook_protocol::record::TimestampType;
use tokio::time::Instant;

use super::block_on;

#[derive(clap::Args, Debug)]
pub struct ConsumeArgs {
    /// The topic to read.
    pub topic: String,
    /// Start at the first record of each partition (default: the end, new records only).
    #[arg(long, conflicts_with_all = ["offset", "timestamp"])]
    pub from_beginning: bool,
    /// Start at this offset in each partition read.
    #[arg(long, value_name = "N", conflicts_with = "timestamp")]
    pub offset: Option<i64>,
    /// Start at the first record with a timestamp at or after this one (ms since the epoch).
    #[arg(long, value_name = "MS")]
    pub timestamp: Option<i64>,
    /// Read only this partition.
    #[arg(long, value_name = "N")]
    pub partition: Option<i32>,
    /// Exit after printing this many records.
    #[arg(long, value_name = "N")]
    pub max_messages: Option<u64>,
    /// Start from this group's committed offsets (where it has some) and commit the
    /// positions consumed at exit.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// Print each record's key.
    #[arg(long)]
    pub print_key: bool,
    /// Print each record's partition (`Partition:N`).
    #[arg(long)]
    pub print_partition: bool,
    /// Print each record's offset (`Offset:N`).
    #[arg(long)]
    pub print_offset: bool,
    /// Print each record's timestamp (`CreateTime:MS` or `LogAppendTime:MS`).
    #[arg(long)]
    pub print_timestamp: bool,
    /// Print each record's headers (`k:v,k2:v2`, or `NO_HEADERS`).
    #[arg(long)]
    pub print_headers: bool,
    /// What separates the printed fields.
    #[arg(long, value_name = "SEP", default_value = "\t")]
    pub key_separator: String,
    /// Exit after this long without records (default: wait for ever).
    #[arg(long, value_name = "N")]
    pub timeout_ms: Option<u64>,
    /// The broker(s) to connect to, `host:port[,host:port...]`.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:9092")]
    pub bootstrap_server: String,
    /// How long to wait for the broker when connecting, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
}

pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    block_on(consume(args))
}

/// The way a record is printed.
fn format_record(args: &ConsumeArgs, r: &ConsumerRecord) -> String {
    let mut fields: Vec<String> = Vec::new();
    if args.print_timestamp {
        fields.push(match r.timestamp_type {
            _ if r.timestamp < 0 => "NO_TIMESTAMP".to_owned(),
            TimestampType::CreateTime => format!("CreateTime:{}", r.timestamp),
            TimestampType::LogAppendTime => format!("LogAppendTime:{}", r.timestamp),
        });
    }
    if args.print_partition {
        fields.push(format!("Partition:{}", r.partition));
    }
    if args.print_offset {
        fields.push(format!("Offset:{}", r.offset));
    }
    if args.print_headers {
        if r.headers.is_empty() {
            fields.push("NO_HEADERS".to_owned());
        } else {
            let hs: Vec<String> = r
                .headers
                .iter()
                .map(|h| match &h.value {
                    Some(v) => format!("{}:{}", h.key, String::from_utf8_lossy(v)),
                    None => format!("{}:null", h.key),
                })
                .collect();
            fields.push(hs.join(","));
        }
    }
    let text = |b: Option<&[u8]>| match b {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => "null".to_owned(),
    };
    if args.print_key {
        fields.push(text(r.key.as_deref()));
    }
    fields.push(text(r.value.as_deref()));
    fields.join(&args.key_separator)
}

fn broker_error(bootstrap: &str, e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Connect { .. }
        | ClientError::ConnectTimeout { .. }
        | ClientError::Disconnected { .. }
        | ClientError::Io(_)
        | ClientError::Timeout { .. } => anyhow!("cannot reach the broker at {bootstrap}: {e}"),
        other => anyhow!(other),
    }
}

async fn consume(args: ConsumeArgs) -> anyhow::Result<()> {
    let bootstrap = args.bootstrap_server.clone();
    let mut config = ConsumerConfig::new(bootstrap.clone());
    let reset = if args.from_beginning {
        "earliest"
    } else {
        "latest"
    };
    for (k, v) in [
        ("client.id", "brook-cli"),
        ("auto.offset.reset", reset),
        ("fetch.max.wait.ms", "200"),
        // What was printed is committed (on revocation and at exit), not what was polled.
        ("enable.auto.commit", "false"),
    ] {
        config.set(k, v).map_err(|e| anyhow!("{e}"))?;
    }
    if let Some(g) = &args.group {
        config.set("group.id", g).map_err(|e| anyhow!("{e}"))?;
    }
    let connect_timeout = Duration::from_secs(args.timeout.max(1));
    let mut consumer = match tokio::time::timeout(connect_timeout, Consumer::connect(config)).await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e @ ClientError::Config { .. })) => return Err(anyhow!(e)),
        Ok(Err(e)) => bail!("cannot reach the broker at {bootstrap}: {e}"),
        Err(_) => {
            bail!("cannot reach the broker at {bootstrap}: no answer within {connect_timeout:?}")
        }
    };
    let topic = match consumer.cluster().topic(&args.topic).await {
        Ok(t) => t,
        Err(ClientError::NoSuchTopic(_)) => bail!(
            "unknown topic `{}` (UNKNOWN_TOPIC_OR_PARTITION)",
            args.topic
        ),
        Err(e) => return Err(broker_error(&bootstrap, e)),
    };
    // The next offset to read after what was printed, per partition: what is committed.
    let consumed: Arc<Mutex<BTreeMap<TopicPartition, i64>>> = Arc::default();
    let subscribe = args.group.is_some()
        && args.partition.is_none()
        && args.offset.is_none()
        && args.timestamp.is_none();
    if subscribe {
        consumer.subscribe(&[&args.topic]).map_err(|e| anyhow!(e))?;
        consumer
            .set_rebalance_listener(CommitPrinted(consumed.clone()))
            .map_err(|e| anyhow!(e))?;
        let _ = topic;
        return print_records(&args, consumer, consumed).await;
    }
    let parts: Vec<TopicPartition> = match args.partition {
        Some(p) if topic.partition(p).is_none() => bail!(
            "topic `{}` has no partition {p} (it has {})",
            args.topic,
            topic.partitions.len()
        ),
        Some(p) => vec![TopicPartition::new(&args.topic, p)],
        None => topic
            .partitions
            .iter()
            .map(|p| TopicPartition::new(&args.topic, p.partition))
            .collect(),
    };
    consumer.assign(&parts);

    // Partitions with a committed offset start there (the consumer does that itself); the
    // others from the flag's position.
    let unpositioned: Vec<TopicPartition> = if args.group.is_some() {
        let committed = consumer
            .committed(&parts)
            .await
            .map_err(|e| broker_error(&bootstrap, e))?;
        parts
            .iter()
            .filter(|tp| committed.get(*tp).is_none_or(|o| o.offset < 0))
            .cloned()
            .collect()
    } else {
        parts.clone()
    };
    if !unpositioned.is_empty() {
        if let Some(n) = args.offset {
            for tp in &unpositioned {
                consumer.seek(tp, n).map_err(|e| anyhow!(e))?;
            }
        } else if let Some(ts) = args.timestamp {
            let times: Vec<_> = unpositioned.iter().map(|tp| (tp.clone(), ts)).collect();
            let found = consumer
                .offsets_for_times(&times)
                .await
                .map_err(|e| broker_error(&bootstrap, e))?;
            let mut past_end = Vec::new();
            for tp in &unpositioned {
                match found.get(tp).copied().flatten() {
                    Some(o) => consumer.seek(tp, o.offset).map_err(|e| anyhow!(e))?,
                    None => past_end.push(tp.clone()),
                }
            }
            consumer.seek_to_end(&past_end).map_err(|e| anyhow!(e))?;
        } else if args.from_beginning {
            consumer
                .seek_to_beginning(&unpositioned)
                .map_err(|e| anyhow!(e))?;
        } else {
            consumer
                .seek_to_end(&unpositioned)
                .map_err(|e| anyhow!(e))?;
        }
    }

    print_records(&args, consumer, consumed).await
}

/// Commits what was printed of the partitions a rebalance revokes.
struct CommitPrinted(Arc<Mutex<BTreeMap<TopicPartition, i64>>>);

impl ConsumerRebalanceListener for CommitPrinted {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let mut consumed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let offsets: Vec<(TopicPartition, i64)> = partitions
            .iter()
            .filter_map(|tp| consumed.remove(tp).map(|o| (tp.clone(), o)))
            .collect();
        ctx.commit(&offsets);
    }

    fn on_partitions_lost(&mut self, _: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        // Another member owns them now: what this one printed is not its to commit.
        let mut consumed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for tp in partitions {
            consumed.remove(tp);
        }
    }
}

/// Polls and prints until `--max-messages`, `--timeout-ms` of silence, Ctrl-C or a closed
/// stdout; then commits what was printed (with `--group`) and closes the consumer.
async fn print_records(
    args: &ConsumeArgs,
    mut consumer: Consumer,
    consumed: Arc<Mutex<BTreeMap<TopicPartition, i64>>>,
) -> anyhow::Result<()> {
    let bootstrap = args.bootstrap_server.clone();
    let idle = args.timeout_ms.map(Duration::from_millis);
    let mut deadline = idle.map(|d| Instant::now() + d);
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    let result: anyhow::Result<()> = async {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        'outer: loop {
            if args.max_messages.is_some_and(|m| printed >= m) {
                break;
            }
            let wait = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    (d - now).min(Duration::from_millis(500))
                }
                None => Duration::from_millis(500),
            };
            let records = tokio::select! {
                r = consumer.poll(wait) => r.map_err(|e| broker_error(&bootstrap, e))?,
                _ = &mut ctrl_c => break,
            };
            if records.is_empty() {
                continue;
            }
            let mut out = stdout.lock();
            for r in &records {
                if args.max_messages.is_some_and(|m| printed >= m) {
                    break;
                }
                if let Err(e) = writeln!(out, "{}", format_record(args, r)) {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        break 'outer;
                    }
                    return Err(anyhow!("writing to stdout: {e}"));
                }
                printed += 1;
                consumed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(TopicPartition::new(&r.topic, r.partition), r.offset + 1);
            }
            if let Err(e) = out.flush() {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    break;
                }
                return Err(anyhow!("writing to stdout: {e}"));
            }
            deadline = idle.map(|d| Instant::now() + d);
        }
        Ok(())
    }
    .await;
    let offsets: Vec<_> = std::mem::take(&mut *consumed.lock().unwrap_or_else(|e| e.into_inner()))
        .into_iter()
        .collect();
    let committed = if args.group.is_some() && !offsets.is_empty() {
        consumer
            .commit_sync(&offsets)
            .await
            .map_err(|e| anyhow!("committing the offsets consumed: {e}"))
    } else {
        Ok(())
    };
    // Leaves the group (a subscription); nothing more to commit.
    if let Err(e) = consumer.close().await {
        tracing::debug!(error = %e, "closing the consumer");
    }
    result?;
    committed
}
