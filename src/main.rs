//! The `brook` command line: parse arguments, build configs, call into the crates.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use brook_broker::log::{dump::dump_segment, topic_key_for_broker_key, LogConfig, LogManager};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "brook",
    version,
    about = "Kafka-compatible streaming in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Brook node on its data directory.
    Server(ServerArgs),
    /// Inspect partition logs on disk.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where partition logs live.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// A broker setting `key=value` with Kafka's name, e.g. `log.retention.ms=3600000`
    /// or `log.segment.bytes=104857600`. May be repeated.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

#[derive(Subcommand)]
enum LogCommand {
    /// Print the batches of segment files (like kafka-dump-log.sh), checking every CRC.
    Dump {
        /// Segment files (`*.log`) or partition directories.
        paths: Vec<PathBuf>,
        /// Also print every record.
        #[arg(long)]
        records: bool,
    },
}

/// Broker settings understood today, beyond the log defaults.
struct ServerConfig {
    log_defaults: LogConfig,
    /// `log.retention.check.interval.ms`: how often retention, compaction and `flush.ms`
    /// run. Default 5 minutes, as Kafka.
    maintenance_interval: Duration,
}

fn server_config(settings: &[String]) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig {
        log_defaults: LogConfig::default(),
        maintenance_interval: Duration::from_millis(300_000),
    };
    for s in settings {
        let Some((key, value)) = s.split_once('=') else {
            bail!("--set expects KEY=VALUE, got `{s}`");
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "log.retention.check.interval.ms" {
            let ms: u64 = value.parse().ok().filter(|&ms| ms > 0).with_context(|| {
                format!("invalid value `{value}` for `{key}`: expected a positive integer")
            })?;
            config.maintenance_interval = Duration::from_millis(ms);
        } else if let Some(topic_key) = topic_key_for_broker_key(key) {
            config.log_defaults.set(topic_key, value)?;
        } else {
            bail!("unknown setting `{key}`");
        }
    }
    Ok(config)
}

fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let config = server_config(&args.settings)?;
    let manager = LogManager::open(&args.data_dir, config.log_defaults.clone())
        .with_context(|| format!("opening data directory {}", args.data_dir.display()))?;
    let manager = Arc::new(manager);
    for (tp, reason) in manager.offline() {
        tracing::error!(partition = %tp, %reason, "partition offline");
    }
    let maintenance = manager.start_maintenance(config.maintenance_interval);
    tracing::info!(
        data_dir = %args.data_dir.display(),
        partitions = manager.logs().len(),
        "brook server started: partition logs recovered and maintained \
         (the Kafka protocol listener is not built yet); Ctrl-C to stop"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(shutdown_signal())?;
    tracing::info!("shutting down");
    maintenance.stop();
    manager.close().context("closing partition logs")?;
    tracing::info!("clean shutdown");
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn run_dump(paths: Vec<PathBuf>, records: bool) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut segs: Vec<PathBuf> = std::fs::read_dir(&p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .collect();
            segs.sort();
            files.extend(segs);
        } else {
            files.push(p);
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut problems = 0;
    for f in files {
        use std::io::Write;
        writeln!(out, "Dumping {}", f.display())?;
        let summary = dump_segment(&f, records, &mut out)
            .with_context(|| format!("reading {}", f.display()))?;
        writeln!(
            out,
            "batches: {} records: {} bad CRCs: {}",
            summary.batches, summary.records, summary.bad_crc
        )?;
        if let Some((pos, reason)) = &summary.invalid_tail {
            writeln!(out, "invalid data at byte {pos}: {reason}")?;
            problems += 1;
        }
        problems += summary.bad_crc;
    }
    if problems > 0 {
        bail!("{problems} problem(s) found");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Server(args) => run_server(args),
        Command::Log {
            command: LogCommand::Dump { paths, records },
        } => run_dump(paths, records),
    }
}
