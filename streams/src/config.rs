//! [`StreamsConfig`]: Kafka Streams' configuration names and defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Result, StreamsError};
use crate::task::DeserializationHandler;

/// What to do when a record cannot be written (`default.production.exception.handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductionHandler {
    /// Fail the stream thread (Kafka Streams' default).
    #[default]
    Fail,
    /// Log the record and go on (it is lost).
    LogAndContinue,
}

/// The configuration of a streams application.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// `application.id`: the consumer group id, the prefix of internal topics and the
    /// state directory's name. Required.
    pub application_id: String,
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// `num.stream.threads` (default 1).
    pub num_stream_threads: usize,
    /// `commit.interval.ms` (default 30 000 under at-least-once).
    pub commit_interval: Duration,
    /// `state.dir` (default `<tmp>/kafka-streams`).
    pub state_dir: PathBuf,
    /// `state.memory.bytes`: the one budget of every RocksDB store's block cache and
    /// memtables (default 256 MiB).
    pub state_memory_bytes: usize,
    /// `statestore.cache.max.bytes` (default 10 MiB): the DSL table caches; 0 turns them
    /// off.
    pub cache_max_bytes: usize,
    /// `default.deserialization.exception.handler`.
    pub deserialization_handler: DeserializationHandler,
    /// `default.production.exception.handler`.
    pub production_handler: ProductionHandler,
    /// `replication.factor` of internal topics (default -1: the broker's default).
    pub replication_factor: i16,
    /// `poll.ms` (default 100).
    pub poll: Duration,
    /// `max.poll.records` (default 1000).
    pub max_poll_records: usize,
    /// `session.timeout.ms` of the group (default 45 000).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3 000).
    pub heartbeat_interval: Duration,
    /// `application.server`: `host:port` of this instance, for interactive queries.
    pub application_server: Option<String>,
    /// `producer.<name>` properties: set on every stream thread's producer after the
    /// runtime's own settings (`acks=all`, `linger.ms=5`), so they win.
    pub producer_overrides: Vec<(String, String)>,
    /// `consumer.<name>` properties: set on every stream thread's group consumer.
    pub consumer_overrides: Vec<(String, String)>,
}

impl StreamsConfig {
    /// The defaults, for `application_id` against `bootstrap_servers`.
    pub fn new(application_id: &str, bootstrap_servers: &str) -> StreamsConfig {
        StreamsConfig {
            application_id: application_id.to_owned(),
            bootstrap_servers: bootstrap_servers.to_owned(),
            num_stream_threads: 1,
            commit_interval: Duration::from_secs(30),
            state_dir: std::env::temp_dir().join("kafka-streams"),
            state_memory_bytes: 256 << 20,
            cache_max_bytes: 10 << 20,
            deserialization_handler: DeserializationHandler::LogAndFail,
            production_handler: ProductionHandler::Fail,
            replication_factor: -1,
            poll: Duration::from_millis(100),
            max_poll_records: 1000,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            application_server: None,
            producer_overrides: Vec::new(),
            consumer_overrides: Vec::new(),
        }
    }

    /// From Kafka Streams property names; unknown names are an error (a typo would
    /// otherwise go unnoticed).
    pub fn from_props<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<StreamsConfig> {
        let mut c = StreamsConfig::new("", "localhost:9092");
        for (k, v) in props {
            let bad = |why: &str| StreamsError::Config(format!("{k}={v}: {why}"));
            let num = |v: &str| v.trim().parse::<u64>().map_err(|_| bad("not a number"));
            match k {
                "application.id" => c.application_id = v.to_owned(),
                "bootstrap.servers" => c.bootstrap_servers = v.to_owned(),
                "num.stream.threads" => c.num_stream_threads = num(v)? as usize,
                "commit.interval.ms" => c.commit_interval = Duration::from_millis(num(v)?),
                "state.dir" => c.state_dir = PathBuf::from(v),
                "state.memory.bytes" => c.state_memory_bytes = num(v)? as usize,
                "statestore.cache.max.bytes" | "cache.max.bytes.buffering" => {
                    c.cache_max_bytes = num(v)? as usize
                }
                "default.deserialization.exception.handler" => {
                    c.deserialization_handler =
                        match v {
                            "LogAndContinueExceptionHandler"
                            | "org.apache.kafka.streams.errors.LogAndContinueExceptionHandler" => {
                                DeserializationHandler::LogAndContinue
                            }
                            "LogAndFailExceptionHandler"
                            | "org.apache.kafka.streams.errors.LogAndFailExceptionHandler" => {
                                DeserializationHandler::LogAndFail
                            }
                            _ => return Err(bad(
                                "use LogAndContinueExceptionHandler or LogAndFailExceptionHandler",
                            )),
                        }
                }
                "default.production.exception.handler" => {
                    c.production_handler = match v {
                        "DefaultProductionExceptionHandler"
                        | "org.apache.kafka.streams.errors.DefaultProductionExceptionHandler" => {
                            ProductionHandler::Fail
                        }
                        "LogAndContinueProductionExceptionHandler" => {
                            ProductionHandler::LogAndContinue
                        }
                        _ => return Err(bad("unknown production exception handler")),
                    }
                }
                "processing.guarantee" => {
                    if v != "at_least_once" {
                        return Err(bad(
                            "only at_least_once is supported until transactions arrive",
                        ));
                    }
                }
                "replication.factor" => {
                    c.replication_factor = v.trim().parse().map_err(|_| bad("not a number"))?
                }
                "poll.ms" => c.poll = Duration::from_millis(num(v)?),
                "max.poll.records" => c.max_poll_records = num(v)? as usize,
                "session.timeout.ms" => c.session_timeout = Duration::from_millis(num(v)?),
                "heartbeat.interval.ms" => c.heartbeat_interval = Duration::from_millis(num(v)?),
                "application.server" => c.application_server = Some(v.to_owned()),
                _ if k.starts_with("producer.") => c
                    .producer_overrides
                    .push((k["producer.".len()..].to_owned(), v.to_owned())),
                _ if k.starts_with("consumer.") => c
                    .consumer_overrides
                    .push((k["consumer.".len()..].to_owned(), v.to_owned())),
                _ => return Err(StreamsError::Config(format!("unknown streams config {k}"))),
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the values that must hold.
    pub fn validate(&self) -> Result<()> {
        let id = &self.application_id;
        if id.is_empty() {
            return Err(StreamsError::Config("application.id is required".into()));
        }
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(StreamsError::Config(format!(
                "application.id {id:?} may hold only ASCII letters, digits, '.', '_' and '-' \
                 (it names topics)"
            )));
        }
        if self.num_stream_threads == 0 {
            return Err(StreamsError::Config(
                "num.stream.threads must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// How many entries each DSL table cache may hold: `statestore.cache.max.bytes` at an
    /// estimated 128 bytes per entry (keys and values are typed in the cache, so their size
    /// is not known exactly).
    pub fn cache_max_entries(&self) -> usize {
        self.cache_max_bytes / 128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_and_typos_are_refused() {
        let c = StreamsConfig::from_props([
            ("application.id", "wc"),
            ("num.stream.threads", "2"),
            ("commit.interval.ms", "100"),
            (
                "default.deserialization.exception.handler",
                "LogAndContinueExceptionHandler",
            ),
        ])
        .unwrap();
        assert_eq!(c.num_stream_threads, 2);
        assert_eq!(c.commit_interval, Duration::from_millis(100));
        assert_eq!(
            c.deserialization_handler,
            DeserializationHandler::LogAndContinue
        );
        assert!(
            StreamsConfig::from_props([("application.id", "a"), ("num.stream.thread", "2")])
                .is_err()
        );
        assert!(StreamsConfig::from_props([("application.id", "a b")]).is_err());
        assert!(StreamsConfig::from_props([("num.stream.threads", "1")]).is_err());
    }
}
