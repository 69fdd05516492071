//! A Brook node as `brook server` runs it: the broker (unless the SQL engine runs against
//! another cluster, `--bootstrap`), the SQL engine on it, and the SQL REST API. Tests and
//! `brook sql --embedded` start the same node in process, on ports the OS picks.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let node = brook::node::Node::start(brook::node::NodeOptions::embedded("./data")).await?;
//! println!("Kafka on {}, SQL on http://{}", node.bootstrap(), node.http_addr().unwrap());
//! node.stop().await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use brook_broker::log::Maintenance;
use brook_broker::server::{self, Broker, BrokerConfig};
use brook_sql::rest::{RestOptions, SqlService};
use brook_sql::runtime::{RuntimeConfig, SqlRuntime};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What a node runs.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Partition logs under `<data_dir>`, the SQL engine's state under `<data_dir>/sql`.
    pub data_dir: PathBuf,
    /// The Kafka listener of the node's broker.
    pub kafka_listen: String,
    /// Run no broker: the SQL engine works against this Kafka-compatible cluster.
    pub bootstrap: Option<String>,
    /// The SQL REST listener; `None` runs no SQL engine.
    pub http_listen: Option<String>,
    pub broker: BrokerConfig,
    /// SQL engine properties, by ksqlDB name (`ksql.streams.num.stream.threads`, ...).
    pub sql_properties: BTreeMap<String, String>,
    /// Headless mode: run this file's statements at start, refuse statements over REST.
    pub queries_file: Option<PathBuf>,
    /// `ksql.service.id`: SQL servers with the same id share their queries' work.
    pub service_id: String,
}

impl NodeOptions {
    /// A node for tests and `brook sql --embedded`: the broker and the SQL API on ports the
    /// OS picks on 127.0.0.1, and consumer groups that form at once
    /// (`group.initial.rebalance.delay.ms=0`).
    pub fn embedded(data_dir: impl Into<PathBuf>) -> NodeOptions {
        let mut broker = BrokerConfig::default();
        broker.groups.initial_rebalance_delay = Duration::ZERO;
        NodeOptions {
            data_dir: data_dir.into(),
            kafka_listen: "127.0.0.1:0".into(),
            bootstrap: None,
            http_listen: Some("127.0.0.1:0".into()),
            broker,
            sql_properties: BTreeMap::new(),
            queries_file: None,
            service_id: "default_".into(),
        }
    }
}

struct BrokerPart {
    broker: Arc<Broker>,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    maintenance: Maintenance,
}

struct SqlPart {
    service: Arc<SqlService>,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// A running node.
pub struct Node {
    broker: Option<BrokerPart>,
    sql: Option<SqlPart>,
    bootstrap: String,
}

impl Node {
    /// Opens the data directory, starts the broker, the SQL engine (running the queries
    /// file, if any: an error in it fails the start with its line and reason) and the
    /// REST API.
    pub async fn start(options: NodeOptions) -> anyhow::Result<Node> {
        let broker = match &options.bootstrap {
            Some(_) => None,
            None => Some(start_broker(&options).await?),
        };
        let bootstrap = match (&options.bootstrap, &broker) {
            (Some(b), _) => b.clone(),
            (None, Some(b)) => b.addr.to_string(),
            (None, None) => unreachable!("a node without --bootstrap runs a broker"),
        };
        let mut node = Node {
            broker,
            sql: None,
            bootstrap,
        };
        if let Some(listen) = options.http_listen.clone() {
            match start_sql(&options, &node.bootstrap, &listen).await {
                Ok(sql) => node.sql = Some(sql),
                Err(e) => {
                    let _ = node.stop().await;
                    return Err(e);
                }
            }
        }
        Ok(node)
    }

    /// `host:port` of the Kafka cluster the node uses (its own broker, or `--bootstrap`).
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// The broker's listener, when the node runs one.
    pub fn kafka_addr(&self) -> Option<SocketAddr> {
        self.broker.as_ref().map(|b| b.addr)
    }

    /// The SQL REST listener, when the node runs the SQL engine.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.sql.as_ref().map(|s| s.addr)
    }

    /// The broker, when the node runs one.
    pub fn broker(&self) -> Option<&Arc<Broker>> {
        self.broker.as_ref().map(|b| &b.broker)
    }

    /// Stops the REST API and the queries, then the broker, closing its logs.
    pub async fn stop(self) -> anyhow::Result<()> {
        if let Some(sql) = self.sql {
            let _ = sql.stop.send(());
            let service = sql.service.clone();
            tokio::task::spawn_blocking(move || service.shutdown()).await?;
            // Streaming responses (push queries) end with their queries.
            let _ = tokio::time::timeout(Duration::from_secs(10), sql.task).await;
        }
        if let Some(b) = self.broker {
            let _ = b.stop.send(());
            let _ = b.task.await;
            b.maintenance.stop();
            let broker = b.broker;
            tokio::task::spawn_blocking(move || broker.close())
                .await?
                .context("closing partition logs")?;
        }
        Ok(())
    }
}

async fn start_broker(options: &NodeOptions) -> anyhow::Result<BrokerPart> {
    let listener = tokio::net::TcpListener::bind(&options.kafka_listen)
        .await
        .with_context(|| format!("binding the Kafka listener on {}", options.kafka_listen))?;
    let addr = listener.local_addr()?;
    let config = options.broker.clone();
    let advertised = config
        .advertised
        .clone()
        .unwrap_or_else(|| (addr.ip().to_string(), addr.port()));
    let data_dir = options.data_dir.clone();
    let broker = tokio::task::spawn_blocking(move || Broker::open(&data_dir, config, advertised))
        .await?
        .with_context(|| format!("opening data directory {}", options.data_dir.display()))?;
    let broker = Arc::new(broker);
    for (tp, reason) in broker.logs.offline() {
        tracing::error!(partition = %tp, %reason, "partition offline");
    }
    let maintenance = broker.start_maintenance();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, broker.clone(), async {
        let _ = stop_rx.await;
    }));
    Ok(BrokerPart {
        broker,
        addr,
        stop,
        task,
        maintenance,
    })
}

/// Runs a queries file statement by statement; an error names its place in the file
/// (`line 3:8: ...`).
fn run_queries_file(runtime: &mut SqlRuntime, text: &str) -> Result<(), brook_sql::SqlError> {
    for s in brook_sql::parser::parse(text)? {
        // The statement, padded to where it stands in the file, so that the positions of
        // its errors are the file's.
        let line = s.pos.line.saturating_sub(1) as usize;
        let col = s.pos.col.saturating_sub(1) as usize;
        let placed = format!("{}{}{}", "\n".repeat(line), " ".repeat(col), s.text);
        runtime.execute(&placed).map_err(|e| match e {
            e @ (brook_sql::SqlError::Parse { .. }
            | brook_sql::SqlError::Analysis { pos: Some(_), .. }
            | brook_sql::SqlError::Unsupported { pos: Some(_), .. }) => e,
            other => brook_sql::SqlError::at(s.pos, other.to_string()),
        })?;
    }
    Ok(())
}

async fn start_sql(
    options: &NodeOptions,
    bootstrap: &str,
    listen: &str,
) -> anyhow::Result<SqlPart> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the SQL listener on {listen}"))?;
    let addr = listener.local_addr()?;
    let mut config = RuntimeConfig::new(bootstrap, options.data_dir.join("sql"));
    config.service_id = options.service_id.clone();
    config.properties = options.sql_properties.clone();
    if let Some(n) = options
        .sql_properties
        .get("ksql.streams.num.stream.threads")
    {
        config.num_stream_threads = n
            .parse()
            .with_context(|| format!("ksql.streams.num.stream.threads is not a number: {n}"))?;
    }
    let script = match &options.queries_file {
        Some(path) => {
            config.headless = true;
            Some((
                path.clone(),
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the queries file {}", path.display()))?,
            ))
        }
        None => None,
    };
    let runtime = tokio::task::spawn_blocking(move || -> anyhow::Result<SqlRuntime> {
        let mut runtime = SqlRuntime::start(config).context("starting the SQL engine")?;
        if let Some((path, text)) = script {
            if let Err(e) = run_queries_file(&mut runtime, &text) {
                runtime.close();
                bail!("queries file {}: {e}", path.display());
            }
        }
        Ok(runtime)
    })
    .await??;
    let service = SqlService::new(
        runtime,
        RestOptions {
            headless: options.queries_file.is_some(),
        },
    );
    let (stop, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(brook_sql::rest::serve(listener, service.clone(), async {
        let _ = stop_rx.await;
    }));
    Ok(SqlPart {
        service,
        addr,
        stop,
        task,
    })
}
