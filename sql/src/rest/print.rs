//! `PRINT 'topic' [FROM BEGINNING] [INTERVAL n] [LIMIT n]` over `/query`: the topic's
//! records as text lines, as ksqlDB prints them:
//! `rowtime: 2020/05/26 10:01:35.123 Z, key: k1, value: {"a":1}, partition: 0`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use brook_client::{Admin, AdminConfig, Consumer, ConsumerConfig, TopicPartition};
use tokio::sync::mpsc;

use crate::error::{Result, SqlError};

/// A PRINT about to run.
pub struct Print {
    bootstrap: String,
    partitions: Vec<TopicPartition>,
    from_beginning: bool,
    interval: u64,
    limit: Option<u64>,
}

impl Print {
    /// Checks that the topic exists (call from a blocking thread).
    pub fn start(
        bootstrap: &str,
        topic: &str,
        from_beginning: bool,
        interval: u64,
        limit: Option<u64>,
    ) -> Result<Print> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SqlError::Streams(e.to_string()))?;
        let partitions = rt.block_on(async {
            let admin = Admin::connect(bootstrap, AdminConfig::default())
                .await
                .map_err(|e| SqlError::Streams(format!("cannot reach the cluster: {e}")))?;
            let described = admin
                .describe_topics(&[topic])
                .await
                .map_err(|e| SqlError::Streams(e.to_string()))?;
            match described.get(topic) {
                Some(Ok(t)) => Ok((0..t.partitions.len() as i32)
                    .map(|p| TopicPartition::new(topic, p))
                    .collect::<Vec<_>>()),
                _ => Err(SqlError::analysis(
                    None,
                    format!("Could not find topic '{topic}', or the KSQL user does not have permissions to list the topic. Topic names are case-sensitive."),
                )),
            }
        })?;
        Ok(Print {
            bootstrap: bootstrap.to_owned(),
            partitions,
            from_beginning,
            interval: interval.max(1),
            limit,
        })
    }
}

/// Shows bytes as text when they are UTF-8, else as hex.
fn show(b: &Option<Bytes>) -> String {
    match b {
        None => "<null>".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => b.iter().map(|x| format!("{x:02x}")).collect(),
        },
    }
}

/// Streams the records until the limit or the client going away.
pub async fn stream(p: Print, tx: mpsc::Sender<std::result::Result<Bytes, Infallible>>) {
    let Ok(mut c) = Consumer::connect(ConsumerConfig::new(p.bootstrap.clone())).await else {
        return;
    };
    c.assign(&p.partitions);
    let seek = if p.from_beginning {
        c.seek_to_beginning(&p.partitions)
    } else {
        c.seek_to_end(&p.partitions)
    };
    if seek.is_err() {
        return;
    }
    let (mut seen, mut printed) = (0u64, 0u64);
    loop {
        let records = tokio::select! {
            r = c.poll(Duration::from_millis(500)) => r,
            _ = tx.closed() => return,
        };
        let Ok(records) = records else { return };
        for r in records {
            seen += 1;
            if (seen - 1) % p.interval != 0 {
                continue;
            }
            let time = chrono::DateTime::from_timestamp_millis(r.timestamp)
                .map(|t| t.format("%Y/%m/%d %H:%M:%S%.3f Z").to_string())
                .unwrap_or_else(|| r.timestamp.to_string());
            let line = format!(
                "rowtime: {time}, key: {}, value: {}, partition: {}\n",
                show(&r.key),
                show(&r.value),
                r.partition
            );
            if tx.send(Ok(Bytes::from(line))).await.is_err() {
                return;
            }
            printed += 1;
            if p.limit.is_some_and(|n| printed >= n) {
                return;
            }
        }
    }
}
