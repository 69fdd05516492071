//! A `brook server` process for end-to-end tests that need its log (for failure messages),
//! `--set` settings, a chosen listen address (to restart on the same one) and a way to stop it
//! with SIGTERM or SIGKILL. Shared by `tests/client_interop.rs` and `tests/client_restart.rs`.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A `brook server` on 127.0.0.1; killed on drop so that a failing test leaves nothing
/// running.
pub struct Server {
    pub child: Child,
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts a server on `listen` (`127.0.0.1:0` for an OS-chosen port, or the address of a
    /// server that was just stopped, so that its clients reconnect to the new one), with
    /// `settings` (`key=value`, each passed as `--set`).
    pub fn start(data: &Path, listen: &str, settings: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_brook"));
        cmd.args(["server", "--no-sql"])
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", listen]);
        for s in settings {
            cmd.args(["--set", s]);
        }
        let mut child = cmd
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning brook server");
        let stderr = child.stderr.take().expect("the server's stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let line = strip_ansi(&line);
                lines.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            addr: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(addr) = listener_addr(&line) {
                        server.addr = addr;
                        return server;
                    }
                }
                Err(_) => panic!(
                    "no `kafka_listener=` line from the server on {listen} (exit status {:?}); \
                     its stderr:\n{}",
                    server.child.try_wait(),
                    server.stderr()
                ),
            }
        }
    }

    /// The last lines the server logged.
    pub fn stderr(&self) -> String {
        tail(&self.log.lock().unwrap().join("\n"), 40)
    }

    /// SIGTERM, then waits for the exit (at most 30 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}: {sent}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within 30 s of SIGTERM; its stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as in a crash.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes ANSI colour sequences, in case the server's log is coloured after all.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address in a log line containing `kafka_listener=ADDR` (quoted or not).
pub fn listener_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("kafka_listener=")? + "kafka_listener=".len()..];
    let addr = rest
        .split(|c: char| c.is_whitespace() || c == ',' || c == '}')
        .next()?
        .trim_matches('"');
    (!addr.is_empty()).then(|| addr.to_string())
}

/// The last `n` lines of a long text, for failure messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    let mut out = String::new();
    if from > 0 {
        out.push_str(&format!("[{from} lines before]\n"));
    }
    out.push_str(&lines[from..].join("\n"));
    out
}
