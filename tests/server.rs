//! End-to-end tests of the `brook` binary: `brook server` recovers and maintains the logs of
//! its data directory and shuts down cleanly on SIGTERM; `brook log dump` reads segments.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use brook_broker::log::{segment_file_name, Log, LogConfig, CLEAN_SHUTDOWN_FILE};
use brook_protocol::record::{BatchBuilder, Compression};

fn brook() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brook"))
}

/// Writes `n` batches of two records into `<data>/<topic>-0` with old timestamps, rolling
/// after every batch, and leaves the log as if the process had crashed.
fn crashed_log(data: &Path, topic: &str, n: usize) -> std::path::PathBuf {
    let dir = data.join(format!("{topic}-0"));
    let log = Log::open(
        &dir,
        LogConfig {
            segment_bytes: 200,
            ..LogConfig::default()
        },
    )
    .unwrap();
    for i in 0..n {
        let mut b = BatchBuilder::new(Compression::None, 1_000);
        b.append(1_000, Some(format!("k{i}").as_bytes()), Some(b"value"), &[]);
        b.append(
            1_001,
            Some(format!("k{i}").as_bytes()),
            Some(b"value2"),
            &[],
        );
        let mut bytes = b.build(0);
        log.append(&mut bytes).unwrap();
    }
    log.abandon();
    dir
}

/// Kills the server on drop so a failing test leaves nothing running.
struct Server(Child, mpsc::Receiver<String>);

impl Server {
    fn start(data: &Path, settings: &[&str]) -> Server {
        let mut cmd = brook();
        cmd.args(["server", "--no-sql"])
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"]);
        for s in settings {
            cmd.args(["--set", s]);
        }
        Server::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Server(child, rx)
    }

    fn wait_for(&self, needle: &str) -> String {
        loop {
            let line = self
                .1
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no `{needle}` from the server"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        self.0.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn server_recovers_maintains_and_closes_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let dir = crashed_log(data.path(), "events", 10);
    assert!(!dir.join(CLEAN_SHUTDOWN_FILE).exists());
    let segments_before = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert!(segments_before >= 5);

    // Record timestamps are from 1970, so a 1-hour retention expires every closed segment.
    let server = Server::start(
        data.path(),
        &[
            "log.retention.ms=3600000",
            "log.retention.check.interval.ms=100",
        ],
    );
    let started = server.wait_for("brook server started");
    assert!(started.contains("partitions=1"), "{started}");
    // A second server on the same directory is refused.
    let second = brook()
        .args(["server", "--no-sql"])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    // Maintenance deletes the expired closed segments; the active one stays.
    let mut remaining = segments_before;
    for _ in 0..300 {
        remaining = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "log")
            })
            .count();
        if remaining == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        remaining, 1,
        "retention should leave only the active segment"
    );

    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(dir.join(CLEAN_SHUTDOWN_FILE).exists());
    let log = Log::open(&dir, LogConfig::default()).unwrap();
    assert!(log.open_report().clean_shutdown);
    assert_eq!(log.log_end_offset(), 20);
    // Only the active segment (the last batches) is left, and the log starts there.
    assert_eq!(log.segment_base_offsets(), vec![log.log_start_offset()]);
    assert!(log.log_start_offset() >= 16, "{}", log.log_start_offset());
}

#[test]
fn server_rejects_bad_settings_with_the_key() {
    let data = tempfile::tempdir().unwrap();
    let out = brook()
        .args(["server", "--no-sql"])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0", "--set", "log.segment.bytes=lots"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("segment.bytes"), "{err}");
    let out = brook()
        .args(["server", "--no-sql"])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0", "--set", "no.such.thing=1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no.such.thing"));
}

#[test]
fn log_dump_prints_batches_records_and_crc_problems() {
    let data = tempfile::tempdir().unwrap();
    let dir = crashed_log(data.path(), "dumped", 3);
    let out = brook()
        .args(["log", "dump", "--records"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("baseOffset:").count(), 3, "{text}");
    assert!(
        text.contains("| offset: 5 timestamp: 1001 key: \"k2\" value: \"value2\""),
        "{text}"
    );
    assert!(text.contains("crcValid: true"));

    // Corrupt one byte of a record: the dump reports it and fails.
    let seg = dir.join(segment_file_name(0, "log"));
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x55;
    std::fs::write(&seg, &bytes).unwrap();
    let out = brook().args(["log", "dump"]).arg(&seg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("crcValid: false"));
}

#[test]
fn server_reads_a_toml_config_with_kafka_names() {
    let data = tempfile::tempdir().unwrap();
    let cfg = data.path().join("brook.toml");
    std::fs::write(
        &cfg,
        "num.partitions = 3\n\"log.retention.ms\" = 60000\n[log.cleanup]\npolicy = [\"compact\", \"delete\"]\n",
    )
    .unwrap();
    let logs = data.path().join("logs");
    let mut cmd = brook();
    cmd.args(["server", "--no-sql"])
        .arg("--data-dir")
        .arg(&logs)
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg);
    let server = Server::spawn(cmd);
    let started = server.wait_for("brook server started");
    assert!(started.contains("num_partitions=3"), "{started}");
    drop(server);
    // A bad value names the key and the file.
    std::fs::write(&cfg, "num.partitions = \"many\"\n").unwrap();
    let out = brook()
        .args(["server", "--no-sql"])
        .arg("--data-dir")
        .arg(&logs)
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("num.partitions") && err.contains("brook.toml"),
        "{err}"
    );
}
