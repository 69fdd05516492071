//! The logs of one data directory: `<data dir>/<topic>-<partition>/`, opened together,
//! kept by topic-partition, and maintained by one background thread (retention,
//! compaction, `flush.ms`).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Clock, Log, LogConfig, LogError, OsStorage, Storage, SystemClock};

/// A topic name and partition number; the log directory is `<topic>-<partition>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses `<topic>-<partition>`, with Kafka's topic name rules (1 to 249 characters of
    /// `[a-zA-Z0-9._-]`, not `.` or `..`).
    pub fn parse_dir_name(name: &str) -> Option<TopicPartition> {
        let (topic, partition) = name.rsplit_once('-')?;
        let partition: i32 = partition.parse().ok()?;
        if partition < 0 || !valid_topic_name(topic) {
            return None;
        }
        Some(TopicPartition::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Kafka's legal topic names.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// What one maintenance pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub segments_deleted: usize,
    pub logs_compacted: usize,
    pub logs_flushed: usize,
    pub errors: Vec<String>,
}

/// All partition logs of one data directory.
#[derive(Debug)]
pub struct LogManager {
    data_dir: PathBuf,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    default_config: LogConfig,
    logs: RwLock<BTreeMap<TopicPartition, Log>>,
    offline: RwLock<BTreeMap<TopicPartition, String>>,
    /// Held until close: one process per data directory.
    lock: std::sync::Mutex<Option<File>>,
}

impl LogManager {
    /// Opens every partition log under `data_dir` on the real file system, taking the
    /// directory's lock file so that no second process uses it.
    pub fn open(
        data_dir: impl AsRef<Path>,
        default_config: LogConfig,
    ) -> Result<LogManager, LogError> {
        let data_dir = data_dir.as_ref();
        std::fs::create_dir_all(data_dir).map_err(LogError::io(data_dir))?;
        let lock_path = data_dir.join(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(LogError::io(&lock_path))?;
        lock.try_lock().map_err(|e| LogError::Io {
            path: lock_path.clone(),
            source: std::io::Error::other(format!(
                "the data directory is in use by another process ({e})"
            )),
        })?;
        let manager = Self::open_with(
            data_dir,
            default_config,
            Arc::new(OsStorage),
            Arc::new(SystemClock),
        )?;
        *manager.lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(lock);
        Ok(manager)
    }

    /// Opens every partition log under `data_dir`. A log that fails to open (corruption,
    /// I/O errors) is reported in [`offline`](Self::offline) and the others are served.
    pub fn open_with(
        data_dir: impl AsRef<Path>,
        default_config: LogConfig,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
    ) -> Result<LogManager, LogError> {
        let data_dir = data_dir.as_ref().to_path_buf();
        storage
            .create_dir_all(&data_dir)
            .map_err(LogError::io(&data_dir))?;
        let mut logs = BTreeMap::new();
        let mut offline = BTreeMap::new();
        for name in storage
            .list_dir(&data_dir)
            .map_err(LogError::io(&data_dir))?
        {
            let Some(tp) = TopicPartition::parse_dir_name(&name) else {
                continue;
            };
            let dir = data_dir.join(&name);
            match Log::open_with(&dir, default_config.clone(), storage.clone(), clock.clone()) {
                Ok(log) => {
                    logs.insert(tp, log);
                }
                Err(e) => {
                    tracing::error!(partition = %tp, error = %e, "partition log is offline");
                    offline.insert(tp, e.to_string());
                }
            }
        }
        Ok(LogManager {
            data_dir,
            storage,
            clock,
            default_config,
            logs: RwLock::new(logs),
            offline: RwLock::new(offline),
            lock: std::sync::Mutex::new(None),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn default_config(&self) -> &LogConfig {
        &self.default_config
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Log> {
        self.logs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tp)
            .cloned()
    }

    /// The log of `tp`, created with `config` if it does not exist yet.
    pub fn get_or_create(&self, tp: &TopicPartition, config: LogConfig) -> Result<Log, LogError> {
        if let Some(log) = self.get(tp) {
            return Ok(log);
        }
        if !valid_topic_name(&tp.topic) || tp.partition < 0 {
            return Err(LogError::InvalidTopicPartition(tp.to_string()));
        }
        let mut logs = self.logs.write().unwrap_or_else(|e| e.into_inner());
        if let Some(log) = logs.get(tp) {
            return Ok(log.clone());
        }
        let log = Log::open_with(
            self.data_dir.join(tp.dir_name()),
            config,
            self.storage.clone(),
            self.clock.clone(),
        )?;
        logs.insert(tp.clone(), log.clone());
        Ok(log)
    }

    /// Deletes a partition's log and its directory.
    pub fn delete(&self, tp: &TopicPartition) -> Result<bool, LogError> {
        let log = self
            .logs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tp);
        match log {
            Some(log) => log.delete().map(|_| true),
            None => Ok(false),
        }
    }

    /// Every online log.
    pub fn logs(&self) -> Vec<(TopicPartition, Log)> {
        let logs = self.logs.read().unwrap_or_else(|e| e.into_inner());
        logs.iter().map(|(tp, l)| (tp.clone(), l.clone())).collect()
    }

    /// Logs that failed to open, with the reason.
    pub fn offline(&self) -> Vec<(TopicPartition, String)> {
        let offline = self.offline.read().unwrap_or_else(|e| e.into_inner());
        offline
            .iter()
            .map(|(tp, r)| (tp.clone(), r.clone()))
            .collect()
    }

    /// One pass of retention, compaction and time-based flushing over every log.
    pub fn run_maintenance(&self) -> MaintenanceReport {
        let mut report = MaintenanceReport::default();
        for (tp, log) in self.logs() {
            match log.delete_old_segments() {
                Ok(n) => report.segments_deleted += n,
                Err(e) => report.errors.push(format!("{tp}: retention: {e}")),
            }
            match log.compact() {
                Ok(Some(_)) => report.logs_compacted += 1,
                Ok(None) => {}
                Err(e) => report.errors.push(format!("{tp}: compaction: {e}")),
            }
            match log.flush_if_due() {
                Ok(true) => report.logs_flushed += 1,
                Ok(false) => {}
                Err(e) => report.errors.push(format!("{tp}: flush: {e}")),
            }
        }
        for e in &report.errors {
            tracing::warn!(error = %e, "log maintenance");
        }
        report
    }

    /// Runs [`run_maintenance`](Self::run_maintenance) every `interval` on a background
    /// thread until the returned handle is stopped or dropped.
    pub fn start_maintenance(self: &Arc<Self>, interval: Duration) -> Maintenance {
        let (stop, stopped) = mpsc::channel::<()>();
        let manager = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("brook-log-maintenance".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {
                        manager.run_maintenance();
                    }
                    _ => return,
                }
            })
            .ok();
        Maintenance {
            stop: Some(stop),
            thread,
        }
    }

    /// Closes every log cleanly (flush, indexes, clean-shutdown markers) and releases the
    /// data directory's lock.
    pub fn close(&self) -> Result<(), LogError> {
        let mut first_err = None;
        for (tp, log) in self.logs() {
            if let Err(e) = log.close() {
                tracing::error!(partition = %tp, error = %e, "closing log failed");
                first_err.get_or_insert(e);
            }
        }
        if first_err.is_none() {
            drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()).take());
        }
        first_err.map_or(Ok(()), Err)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

/// The background maintenance thread; stopped (and joined) by [`stop`](Self::stop) or drop.
#[derive(Debug)]
pub struct Maintenance {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_round_trip() {
        let tp = TopicPartition::new("my.topic-with_dash", 7);
        assert_eq!(tp.dir_name(), "my.topic-with_dash-7");
        assert_eq!(TopicPartition::parse_dir_name(&tp.dir_name()), Some(tp));
        assert_eq!(TopicPartition::parse_dir_name("nodash"), None);
        assert_eq!(
            TopicPartition::parse_dir_name("t--1"),
            Some(TopicPartition::new("t-", 1))
        );
        assert_eq!(TopicPartition::parse_dir_name("t-x"), None);
        assert_eq!(TopicPartition::parse_dir_name("bad topic-0"), None);
        assert_eq!(TopicPartition::parse_dir_name(".-0"), None);
    }

    #[test]
    fn manager_creates_reopens_deletes_and_reports_offline_logs() {
        let data = tempfile::tempdir().unwrap();
        let manager = LogManager::open(data.path(), LogConfig::default()).unwrap();
        let tp = TopicPartition::new("orders", 3);
        let log = manager.get_or_create(&tp, LogConfig::default()).unwrap();
        let mut b =
            brook_protocol::record::BatchBuilder::new(brook_protocol::record::Compression::None, 0);
        b.append(0, Some(b"k"), Some(b"v"), &[]);
        log.append(&mut b.build(0)).unwrap();
        assert!(data.path().join("orders-3").is_dir());
        assert!(matches!(
            manager.get_or_create(&TopicPartition::new("bad name", 0), LogConfig::default()),
            Err(LogError::InvalidTopicPartition(_))
        ));
        // The same directory cannot be opened twice.
        assert!(LogManager::open(data.path(), LogConfig::default()).is_err());
        manager.close().unwrap();
        drop(manager);

        // A partition whose closed segment is corrupt stays offline; the others are served.
        let victim = data.path().join("victim-0");
        let vlog = Log::open(
            &victim,
            LogConfig {
                segment_bytes: 100,
                ..LogConfig::default()
            },
        )
        .unwrap();
        for _ in 0..3 {
            log_append_one(&vlog);
        }
        vlog.close().unwrap();
        let seg = victim.join(super::super::segment_file_name(0, "log"));
        let mut bytes = std::fs::read(&seg).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&seg, bytes).unwrap();
        std::fs::remove_file(victim.join(super::super::segment_file_name(0, "index"))).unwrap();

        let manager = LogManager::open(data.path(), LogConfig::default()).unwrap();
        assert_eq!(manager.get(&tp).unwrap().log_end_offset(), 1);
        let offline = manager.offline();
        assert_eq!(offline.len(), 1);
        assert_eq!(offline[0].0, TopicPartition::new("victim", 0));
        assert!(offline[0].1.contains("corrupt"), "{}", offline[0].1);
        assert!(manager.delete(&tp).unwrap());
        assert!(!data.path().join("orders-3").exists());
        assert!(manager.get(&tp).is_none());
    }

    fn log_append_one(log: &Log) {
        let mut b =
            brook_protocol::record::BatchBuilder::new(brook_protocol::record::Compression::None, 0);
        b.append(0, Some(b"key"), Some(&[7u8; 60]), &[]);
        log.append(&mut b.build(0)).unwrap();
    }
}
