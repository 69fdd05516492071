//! The `brook` command line: parse arguments, build configs, call into the crates.

use std::path::PathBuf;

use anyhow::{bail, Context};
use brook_broker::log::dump::dump_segment;
use brook_broker::server::BrokerConfig;
use clap::{Parser, Subcommand};

mod cli;

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
    /// Create, list, describe, alter and delete topics (like kafka-topics.sh).
    Topics {
        #[command(subcommand)]
        command: cli::topics::TopicsCommand,
    },
    /// List, describe (with lag), reset the offsets of and delete consumer groups (like
    /// kafka-consumer-groups.sh).
    Groups {
        #[command(subcommand)]
        command: cli::groups::GroupsCommand,
    },
    /// Write lines of stdin to a topic as records (like kafka-console-producer.sh).
    Produce(cli::produce::ProduceArgs),
    /// Print a topic's records (like kafka-console-consumer.sh).
    Consume(cli::consume::ConsumeArgs),
    /// Load-test a broker: throughput and latency of producers and consumers (like
    /// kafka-producer-perf-test.sh and the OpenMessaging Benchmark).
    Perf {
        #[command(subcommand)]
        command: cli::perf::PerfCommand,
    },
    /// Run ksqlDB's conformance cases against Brook's SQL engine: query-validation-test
    /// (QTT) files on test drivers, REST (rest-qtt) files over HTTP on fresh in-process
    /// nodes; one `FAIL` line per failing run, then `N passed, N failed, N skipped`.
    SqlTest(cli::sql_test::SqlTestArgs),
    /// The SQL shell (like the ksql CLI): statements and queries against a Brook server's
    /// REST API, or an embedded one.
    Sql(SqlArgs),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// A TOML file of broker settings with Kafka's names, e.g. `num.partitions = 3` and
    /// `log.retention.ms = 3600000` (dotted keys or nested tables). `--set` overrides it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where partition logs and the topic registry live.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// The Kafka protocol listener (port 0 picks a free port; the log line says which).
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: String,
    /// The host:port clients are told to connect to; by default the listener's address.
    #[arg(long, value_name = "HOST:PORT")]
    advertised_listener: Option<String>,
    /// `node.id`: this node's id in the cluster (default 1).
    #[arg(long, value_name = "N")]
    node_id: Option<i32>,
    /// `controller.quorum.voters`: the controller quorum, `id@host:port,...` (the port is
    /// the controller listener of that node). Without it the node is a one-voter quorum of
    /// itself.
    #[arg(long, value_name = "ID@HOST:PORT,...")]
    controller_voters: Option<String>,
    /// `broker.rack`: replicas of a partition spread over racks.
    #[arg(long, value_name = "RACK")]
    rack: Option<String>,
    /// A broker setting `key=value` with Kafka's name, e.g. `num.partitions=3`,
    /// `log.retention.ms=3600000` or `auto.create.topics.enable=false`. May be repeated.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// The SQL engine's REST listener (ksqlDB's API).
    #[arg(long, default_value = "127.0.0.1:8088")]
    http_listen: String,
    /// Run no SQL engine, only the broker.
    #[arg(long, conflicts_with_all = ["bootstrap", "queries_file"])]
    no_sql: bool,
    /// Run only the SQL engine, against this Kafka-compatible cluster (no broker here).
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: Option<String>,
    /// Headless mode: run this file's SQL statements at start (again at every start; the
    /// queries continue where they were) and refuse statements over REST.
    #[arg(long, value_name = "FILE")]
    queries_file: Option<PathBuf>,
    /// `ksql.service.id`: SQL servers with the same id share the catalog and the work.
    #[arg(long, default_value = "default_")]
    service_id: String,
    /// A SQL engine property `key=value` with ksqlDB's name, e.g.
    /// `ksql.streams.num.stream.threads=2`. May be repeated.
    #[arg(long = "sql-set", value_name = "KEY=VALUE")]
    sql_settings: Vec<String>,
}

#[derive(clap::Args)]
struct SqlArgs {
    /// The Brook (or ksqlDB) server's REST address.
    #[arg(
        long,
        default_value = "http://localhost:8088",
        conflicts_with = "embedded"
    )]
    server: String,
    /// Start a server in this process (broker and SQL engine) on a data directory.
    #[arg(long)]
    embedded: bool,
    /// The embedded server's data directory.
    #[arg(long, default_value = "./data", requires = "embedded")]
    data_dir: PathBuf,
    /// Run the statements of a file, print their results and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// How results are printed.
    #[arg(long, value_enum, default_value = "tabular")]
    output: OutputArg,
    /// The history file (default `~/.brook_sql_history`).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputArg {
    Tabular,
    Json,
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

/// Flattens a TOML table into `(dotted.key, value)` pairs: `log.retention.ms = 1` parses as
/// nested tables, which become the Kafka name again.
fn flatten_toml(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten_toml(&key, t, out)?,
            toml::Value::String(s) => out.push((key, s.clone())),
            toml::Value::Integer(i) => out.push((key, i.to_string())),
            toml::Value::Float(f) => out.push((key, f.to_string())),
            toml::Value::Boolean(b) => out.push((key, b.to_string())),
            toml::Value::Array(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                out.push((key, parts.join(",")));
            }
            toml::Value::Datetime(_) => bail!("`{key}`: dates are not a setting"),
        }
    }
    Ok(())
}

fn server_config(args: &ServerArgs) -> anyhow::Result<BrokerConfig> {
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table: toml::Table = text
            .parse()
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        let mut pairs = Vec::new();
        flatten_toml("", &table, &mut pairs)?;
        for (key, value) in pairs {
            config
                .set(&key, &value)
                .with_context(|| format!("in {}", path.display()))?;
        }
    }
    for s in &args.settings {
        let Some((key, value)) = s.split_once('=') else {
            bail!("--set expects KEY=VALUE, got `{s}`");
        };
        config.set(key, value)?;
    }
    if let Some(adv) = &args.advertised_listener {
        config.set("advertised.listeners", adv)?;
    }
    if let Some(id) = args.node_id {
        config.set("node.id", &id.to_string())?;
    }
    if let Some(voters) = &args.controller_voters {
        config.set("controller.quorum.voters", voters)?;
    }
    if let Some(rack) = &args.rack {
        config.set("broker.rack", rack)?;
    }
    Ok(config)
}

fn node_options(args: &ServerArgs) -> anyhow::Result<brook::node::NodeOptions> {
    let broker = server_config(args)?;
    let mut sql_properties = std::collections::BTreeMap::new();
    for s in &args.sql_settings {
        let Some((key, value)) = s.split_once('=') else {
            bail!("--sql-set expects KEY=VALUE, got `{s}`");
        };
        sql_properties.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(brook::node::NodeOptions {
        data_dir: args.data_dir.clone(),
        kafka_listen: args.listen.clone(),
        bootstrap: args.bootstrap.clone(),
        http_listen: (!args.no_sql).then(|| args.http_listen.clone()),
        broker,
        sql_properties,
        queries_file: args.queries_file.clone(),
        service_id: args.service_id.clone(),
    })
}

fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let options = node_options(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let node = brook::node::Node::start(options).await?;
        let kafka = node
            .kafka_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| format!("none (SQL against {})", node.bootstrap()));
        let sql = node
            .http_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "none".into());
        match node.broker() {
            Some(broker) => tracing::info!(
                data_dir = %args.data_dir.display(),
                kafka_listener = %kafka,
                sql_listener = %sql,
                topics = broker.topics.all().len(),
                num_partitions = broker.config.num_partitions,
                partitions = broker.logs.logs().len(),
                headless = args.queries_file.is_some(),
                "brook server started; Ctrl-C to stop"
            ),
            None => tracing::info!(
                kafka_listener = %kafka,
                sql_listener = %sql,
                headless = args.queries_file.is_some(),
                "brook server started; Ctrl-C to stop"
            ),
        }
        shutdown_signal().await?;
        tracing::info!("shutting down");
        node.stop().await?;
        tracing::info!("clean shutdown");
        Ok(())
    })
}

/// `brook sql`: the shell against `--server`, or against a node started here.
fn run_sql(args: SqlArgs) -> anyhow::Result<()> {
    let output = match args.output {
        OutputArg::Tabular => brook_sql::shell::OutputFormat::Tabular,
        OutputArg::Json => brook_sql::shell::OutputFormat::Json,
    };
    let mut options = brook_sql::shell::ShellOptions {
        server: args.server.clone(),
        file: args.file.clone(),
        output,
        history: args.history.clone(),
        properties: Default::default(),
    };
    let ok = if args.embedded {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let node_options = brook::node::NodeOptions::embedded(&args.data_dir);
        let node = runtime.block_on(brook::node::Node::start(node_options))?;
        let addr = node
            .http_addr()
            .context("the embedded node runs no SQL engine")?;
        options.server = format!("http://{addr}");
        let result = brook_sql::shell::run(options);
        runtime.block_on(node.stop())?;
        result?
    } else {
        brook_sql::shell::run(options)?
    };
    if !ok {
        std::process::exit(1);
    }
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
        } => match run_dump(paths, records) {
            // `brook log dump ... | head`: the reader has seen enough.
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
            {
                Ok(())
            }
            r => r,
        },
        Command::Topics { command } => cli::finish(cli::topics::run(command)),
        Command::Groups { command } => cli::finish(cli::groups::run(command)),
        Command::Produce(args) => cli::finish(cli::produce::run(args)),
        Command::Consume(args) => cli::finish(cli::consume::run(args)),
        Command::Perf { command } => cli::finish(cli::perf::run(command)),
        Command::SqlTest(args) => cli::finish(cli::sql_test::run(args)),
        Command::Sql(args) => cli::finish(run_sql(args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_settings_flatten_to_kafka_names() {
        let table: toml::Table = "num.partitions = 3\n\"log.retention.ms\" = 60000\n[log.cleanup]\npolicy = [\"compact\", \"delete\"]\n"
            .parse()
            .unwrap();
        let mut pairs = Vec::new();
        flatten_toml("", &table, &mut pairs).unwrap();
        pairs.sort();
        assert_eq!(
            pairs,
            vec![
                (
                    "log.cleanup.policy".to_string(),
                    "compact,delete".to_string()
                ),
                ("log.retention.ms".to_string(), "60000".to_string()),
                ("num.partitions".to_string(), "3".to_string()),
            ]
        );
        let mut config = BrokerConfig::default();
        for (k, v) in &pairs {
            config.set(k, v).unwrap();
        }
        assert!(
            config.log_defaults.cleanup_policy.compact && config.log_defaults.cleanup_policy.delete
        );
        assert_eq!(config.log_defaults.retention_ms, 60000);
    }
}
