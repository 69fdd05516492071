//! The harness of the CLI tests (`tests/cli.rs`, `tests/cli_records.rs`): a real
//! `brook server` on a free port, killed on drop, and runs of the `brook` binary and kcat
//! against it.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn brook() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brook"))
}

/// A `brook server` on a free port; killed on drop so a failing test leaves nothing running.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// [`start`](Self::start) with more `brook server` arguments.
    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let mut child = brook()
            .args(["server", "--no-sql"])
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawning brook server");
        let stderr = child.stderr.take().expect("server stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            addr: String::new(),
        };
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("no `kafka_listener=` line from the server");
            if let Some(addr) = listener_addr(&line) {
                server.addr = addr;
                break;
            }
        }
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        server
    }

    /// Runs `brook ARGS --bootstrap-server ADDR`.
    pub fn brook(&self, args: &[&str]) -> Run {
        run(brook().args(args).args(["--bootstrap-server", &self.addr]))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running brook");
    Run {
        ok: status.success(),
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

impl Run {
    #[track_caller]
    pub fn success(self) -> Run {
        assert!(
            self.ok,
            "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn failure(self, needle: &str) -> Run {
        assert!(
            !self.ok && self.code.is_some_and(|c| c != 0),
            "expected a failure, got {:?}\nstdout:\n{}",
            self.code,
            self.stdout
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks `{needle}`:\n{}",
            self.stderr
        );
        assert!(
            !self.stderr.contains("Stack backtrace"),
            "no backtraces for users:\n{}",
            self.stderr
        );
        self
    }
}

impl Server {
    /// Runs `brook ARGS --bootstrap-server ADDR` with `input` on stdin.
    pub fn brook_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = brook()
            .args(args)
            .args(["--bootstrap-server", &self.addr])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning brook");
        let mut stdin = child.stdin.take().expect("brook stdin");
        let input = input.to_owned();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().expect("running brook");
        // A brook that fails early exits without reading all its input: not our error.
        match writer.join().unwrap() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            fed => fed.expect("feeding brook"),
        }
        Run {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// What kcat prints reading `topic` from the beginning with `format`.
    pub fn kcat_read(&self, topic: &str, format: &str) -> String {
        let out = Command::new("timeout")
            .arg("30")
            .arg("kcat")
            .args([
                "-b",
                &self.addr,
                "-C",
                "-t",
                topic,
                "-o",
                "beginning",
                "-e",
                "-q",
            ])
            .args(["-f", format])
            .stdin(Stdio::null())
            .output()
            .expect("kcat is installed");
        assert!(
            out.status.success(),
            "kcat failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Server {
    /// Runs kcat against the server (bounded by `timeout`), feeding `input`.
    pub fn kcat(&self, args: &[&str], input: &str) {
        let mut child = Command::new("timeout")
            .arg("30")
            .arg("kcat")
            .args(["-b", &self.addr])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kcat is installed");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("kcat stdin");
            stdin.write_all(input.as_bytes()).expect("feeding kcat");
        }
        let out = child.wait_with_output().expect("running kcat");
        assert!(
            out.status.success(),
            "kcat {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
