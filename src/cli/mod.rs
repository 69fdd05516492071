//! The admin tools of the `brook` binary, modelled on Kafka's `kafka-topics.sh` and
//! `kafka-consumer-groups.sh`: [`topics`] and [`groups`]. Each tool connects an [`Admin`]
//! client to `--bootstrap-server`, prints aligned tables for humans on stdout and fails with
//! a clear message (Kafka's error names, "cannot reach the broker at ...") and a nonzero exit
//! code.

pub mod consume;
pub mod groups;
pub mod perf;
pub mod produce;
pub mod sql_test;
pub mod topics;

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Context};
use brook_client::{Admin, AdminConfig, ClientError, TcpConfig};

/// The connection options every tool takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// The broker(s) to connect to, `host:port[,host:port...]`.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:9092")]
    pub bootstrap_server: String,
    /// How long to wait for the broker when connecting and for each request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
}

/// An admin client connected to the cluster, and where it came from (for error messages).
pub struct Session {
    pub admin: Admin,
    pub bootstrap: String,
}

impl Session {
    /// Connects to `--bootstrap-server`, fetching the cluster metadata once.
    pub async fn connect(args: &ConnectArgs) -> anyhow::Result<Session> {
        let timeout = Duration::from_secs(args.timeout.max(1));
        let config = AdminConfig {
            tcp: TcpConfig {
                client_id: Some("brook-cli".into()),
                request_timeout: timeout,
                connect_timeout: timeout.min(Duration::from_secs(10)),
                ..TcpConfig::default()
            },
            operation_timeout: timeout,
            ..AdminConfig::default()
        };
        let bootstrap = args.bootstrap_server.clone();
        let admin = match tokio::time::timeout(timeout, Admin::connect(&bootstrap, config)).await {
            Ok(Ok(admin)) => admin,
            Ok(Err(e @ ClientError::Config { .. })) => return Err(anyhow!(e)),
            Ok(Err(e)) => return Err(anyhow!("cannot reach the broker at {bootstrap}: {e}")),
            Err(_) => {
                return Err(anyhow!(
                    "cannot reach the broker at {bootstrap}: no answer within {timeout:?}"
                ))
            }
        };
        Ok(Session { admin, bootstrap })
    }

    /// Turns a failed call into a message: connection failures name the broker, Kafka errors
    /// their code's name.
    pub fn error(&self, e: ClientError) -> anyhow::Error {
        match e {
            ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::Disconnected { .. }
            | ClientError::Io(_)
            | ClientError::Timeout { .. } => {
                anyhow!("cannot reach the broker at {}: {e}", self.bootstrap)
            }
            other => anyhow!(other),
        }
    }
}

/// Runs a tool on a small runtime of its own.
pub fn block_on<F: Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(f)
}

/// Ends a tool: on an error, prints `error: ...` (with its causes) on stderr and exits with
/// status 1, without the backtrace `anyhow` would print from `main`.
pub fn finish(result: anyhow::Result<()>) -> anyhow::Result<()> {
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

/// Parses `key=value` (for `--config`).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// Rows of cells printed in columns padded to their widest cell, two spaces apart, with a
/// header row; no trailing spaces.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A list of node ids as Kafka's tools print them: `1,2,3`.
pub fn id_list(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// A topic id as Kafka prints it: URL-safe base64 of the 16 bytes, without padding.
pub fn topic_id(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_without_trailing_spaces() {
        let mut t = Table::new(&["TOPIC", "PARTITION", "LEADER"]);
        t.row(vec!["orders".into(), "0".into(), "1".into()]);
        t.row(vec!["o".into(), "10".into(), "".into()]);
        assert_eq!(
            t.render(),
            "TOPIC   PARTITION  LEADER\norders  0          1\no       10\n"
        );
    }

    #[test]
    fn topic_ids_print_like_kafka() {
        assert_eq!(topic_id(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        let mut b = [0u8; 16];
        b[15] = 1;
        assert_eq!(topic_id(&b), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(topic_id(&[0xff; 16]), "_____________________w");
    }

    #[test]
    fn key_values_parse() {
        assert_eq!(
            parse_key_value("retention.ms=1000"),
            Ok(("retention.ms".into(), "1000".into()))
        );
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }
}
