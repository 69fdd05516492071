//! End-to-end tests of `brook sql`, the SQL shell: a real `brook server` child process, and
//! the shell driven through a pseudo-terminal (what a person sees) or through a pipe and a
//! file (what a script sees).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};

const BROOK: &str = env!("CARGO_BIN_EXE_brook");
const TIMEOUT: Duration = Duration::from_secs(60);

/// A `brook server` child process, killed when dropped.
struct Server {
    child: Child,
    /// The SQL REST base URL, e.g. `http://127.0.0.1:40123`.
    url: String,
    /// Everything the server wrote to stderr so far (for failure messages).
    log: Arc<Mutex<String>>,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` without ANSI escape sequences (tracing colours its fields).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
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

/// The address after `key=` in a log line: `sql_listener=127.0.0.1:8088` -> `127.0.0.1:8088`.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let value: String = line[start..]
        .trim_start_matches('"')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    (!value.is_empty()).then_some(value)
}

fn start_server() -> Result<Server> {
    let data = tempfile::tempdir()?;
    let mut child = Command::new(BROOK)
        .arg("server")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning brook server")?;
    let stderr = child.stderr.take().context("server stderr")?;
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    {
        let log = Arc::clone(&log);
        // Keeps draining stderr for the server's whole life, so it never blocks on a pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                if let Some(address) = field(&line, "sql_listener") {
                    let _ = tx.send(address);
                }
                if let Ok(mut log) = log.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
    }
    let mut server = Server {
        child,
        url: String::new(),
        log,
        _data: data,
    };
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(address) => {
                server.url = format!("http://{address}");
                return Ok(server);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("brook server exited before it was ready:\n{}", server.log())
            }
        }
        if let Some(status) = server.child.try_wait()? {
            bail!("brook server exited with {status}:\n{}", server.log());
        }
        if Instant::now() > deadline {
            bail!("brook server logged no sql_listener=:\n{}", server.log());
        }
    }
}

impl Server {
    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// What the server answers `/ksql` with for a statement it rejects: its error message.
    fn error_message(&self, statement: &str) -> Result<String> {
        let response = reqwest::blocking::Client::builder()
            .no_proxy()
            .build()?
            .post(format!("{}/ksql", self.url))
            .json(&serde_json::json!({"ksql": statement, "streamsProperties": {}}))
            .send()?;
        if response.status().is_success() {
            bail!("the server accepted {statement}");
        }
        let body: serde_json::Value = response.json()?;
        body["message"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no message in {body}"))
    }
}

/// Runs `brook sql` with `args`, feeding `stdin`; kills it if it runs past the timeout.
fn run_shell(args: &[&str], stdin: &str) -> Result<Output> {
    let mut child = Command::new(BROOK)
        .arg("sql")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning brook sql")?;
    let mut input = child.stdin.take().context("stdin")?;
    input.write_all(stdin.as_bytes())?;
    drop(input);
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("brook sql {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: out.join().map_err(|_| anyhow!("stdout reader"))?,
        stderr: err.join().map_err(|_| anyhow!("stderr reader"))?,
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The shell in a pseudo-terminal, with its own HOME (so its history file is ours).
fn spawn_pty(server: &Server, home: &Path) -> Result<PtySession> {
    let mut command = Command::new(BROOK);
    command
        .args(["sql", "--server", &server.url])
        .env("HOME", home)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let options = Options::new()
        .timeout_ms(Some(TIMEOUT.as_millis() as u64))
        .strip_ansi_escape_codes(true);
    Ok(spawn_with_options(command, options)?)
}

/// Types a line and presses Enter.
fn type_line(pty: &mut PtySession, line: &str) -> Result<()> {
    pty.send(line)?;
    pty.send("\r")?;
    pty.flush()?;
    Ok(())
}

/// Waits for `needle` in what the shell prints.
fn expect(pty: &mut PtySession, needle: &str) -> Result<String> {
    pty.exp_string(needle)
        .with_context(|| format!("waiting for {needle:?}"))
}

fn expect_regex(pty: &mut PtySession, regex: &str) -> Result<String> {
    pty.exp_regex(regex)
        .map(|(before, _)| before)
        .with_context(|| format!("waiting for /{regex}/"))
}

const PROMPT: &str = "brook> ";

#[test]
fn interactive_session_in_a_terminal() -> Result<()> {
    let server = start_server()?;
    let home = tempfile::tempdir()?;
    let result = interactive_session(&server, home.path());
    if result.is_err() {
        eprintln!("server log:\n{}", server.log());
    }
    result
}

fn interactive_session(server: &Server, home: &Path) -> Result<()> {
    let mut pty = spawn_pty(server, home)?;
    // The banner names the server and its version.
    expect(&mut pty, &format!("Server: {}", server.url))?;
    expect(&mut pty, "(Brook ")?;
    expect(&mut pty, PROMPT)?;

    // A statement over two lines: the continuation prompt, then the server's status.
    type_line(
        &mut pty,
        "CREATE STREAM shell_orders (k STRING KEY, id INT)",
    )?;
    expect(&mut pty, "     > ")?;
    type_line(
        &mut pty,
        "  WITH (kafka_topic='shell_orders', value_format='json', partitions=1);",
    )?;
    expect(&mut pty, " Stream created")?;
    expect(&mut pty, PROMPT)?;

    // SHOW STREAMS prints the ksql CLI's table.
    type_line(&mut pty, "SHOW STREAMS;")?;
    expect(&mut pty, " Stream Name ")?;
    expect_regex(&mut pty, r"SHELL_ORDERS\s*\|\s*shell_orders\s*\|")?;
    expect(&mut pty, PROMPT)?;

    // Two statements on one line; INSERT prints nothing.
    type_line(
        &mut pty,
        "INSERT INTO shell_orders (k, id) VALUES ('a', 1); INSERT INTO shell_orders (k, id) VALUES ('b', 2);",
    )?;
    expect(&mut pty, PROMPT)?;

    type_line(&mut pty, "SET 'auto.offset.reset'='earliest';")?;
    expect(
        &mut pty,
        "Successfully changed local property 'auto.offset.reset' to 'earliest'.",
    )?;
    expect(&mut pty, PROMPT)?;

    // A push query with a LIMIT: header, both rows, then the end.
    type_line(&mut pty, "SELECT * FROM shell_orders EMIT CHANGES LIMIT 2;")?;
    expect_regex(&mut pty, r"\|K +\|ID +\|")?;
    expect_regex(&mut pty, r"\|a +\|1 +\|")?;
    expect_regex(&mut pty, r"\|b +\|2 +\|")?;
    expect(&mut pty, "Limit Reached")?;
    expect(&mut pty, "Query terminated")?;
    expect(&mut pty, PROMPT)?;

    // A push query without a LIMIT runs until Ctrl-C, which returns to the prompt.
    type_line(&mut pty, "SELECT id FROM shell_orders EMIT CHANGES;")?;
    expect_regex(&mut pty, r"\|1 +\|")?;
    expect_regex(&mut pty, r"\|2 +\|")?;
    pty.send_control('c')?;
    expect(&mut pty, "Query terminated")?;
    expect(&mut pty, PROMPT)?;

    // A wrong statement shows the server's message, not its JSON.
    let message = server.error_message("DESCRIBE no_such_stream;")?;
    let first_line = message.lines().next().unwrap_or_default().to_string();
    type_line(&mut pty, "DESCRIBE no_such_stream;")?;
    let before = expect(&mut pty, &first_line)?;
    assert!(!before.contains("error_code"), "raw JSON shown: {before}");
    expect(&mut pty, PROMPT)?;

    // Tab completes a stream name fetched from the server.
    pty.send("DESCRIBE shell_ord\t")?;
    pty.flush()?;
    expect(&mut pty, "SHELL_ORDERS")?;
    type_line(&mut pty, ";")?;
    expect(&mut pty, "Name                 : SHELL_ORDERS")?;
    expect_regex(&mut pty, r"K\s*\|\s*VARCHAR\(STRING\)\s+\(key\)")?;
    expect(&mut pty, PROMPT)?;

    // Ctrl-C at the prompt throws the line away.
    pty.send("DROP STREAM shell_orders")?;
    pty.flush()?;
    pty.send_control('c')?;
    expect(&mut pty, PROMPT)?;
    type_line(&mut pty, "SHOW STREAMS;")?;
    expect_regex(&mut pty, r"SHELL_ORDERS\s*\|")?;
    expect(&mut pty, PROMPT)?;

    // OUTPUT JSON prints the raw entities.
    type_line(&mut pty, "OUTPUT JSON;")?;
    expect(&mut pty, PROMPT)?;
    type_line(&mut pty, "SHOW STREAMS;")?;
    expect(&mut pty, "\"@type\": \"streams\"")?;
    expect(&mut pty, PROMPT)?;

    type_line(&mut pty, "exit")?;
    pty.exp_eof().context("the shell did not exit")?;

    let history = std::fs::read_to_string(home.join(".brook_sql_history"))
        .context("reading the history file")?;
    assert!(history.contains("SHOW STREAMS;"), "history: {history}");
    assert!(
        history.contains("SET 'auto.offset.reset'='earliest';"),
        "history: {history}"
    );
    Ok(())
}

#[test]
fn statements_from_stdin_and_from_a_file() -> Result<()> {
    let server = start_server()?;
    let url = server.url.as_str();

    // Piped: no banner, the table on stdout, exit status 0.
    let output = run_shell(&["--server", url], "SHOW STREAMS;\n")?;
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{output:?}\nserver log:\n{}",
        server.log()
    );
    assert!(stdout.contains(" Stream Name "), "{stdout}");
    assert!(!stdout.contains("brook> "), "{stdout}");

    // A file: statements run in order, a push query streams to its LIMIT.
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("orders.sql");
    std::fs::write(
        &script,
        "-- a script\n\
         CREATE STREAM file_orders (k STRING KEY, id INT)\n\
           WITH (kafka_topic='file_orders', value_format='json', partitions=1);\n\
         INSERT INTO file_orders (k, id) VALUES ('x;y', 7);\n\
         SHOW STREAMS; SET 'auto.offset.reset'='earliest';\n\
         SELECT * FROM file_orders EMIT CHANGES LIMIT 1;\n",
    )?;
    let output = run_shell(&["--server", url, "-f", &script.to_string_lossy()], "")?;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains(" Stream created"), "{stdout}");
    assert!(stdout.contains("FILE_ORDERS"), "{stdout}");
    assert!(stdout.contains("|x;y "), "{stdout}");
    assert!(stdout.contains("Limit Reached"), "{stdout}");

    // RUN SCRIPT from stdin; a failing statement stops the script, names itself, and makes
    // the exit status non-zero.
    let bad = dir.path().join("bad.sql");
    std::fs::write(
        &bad,
        "SHOW TOPICS;\nDESCRIBE no_such_stream;\nCREATE STREAM never (id INT) WITH (kafka_topic='never', value_format='json', partitions=1);\n",
    )?;
    let message = server.error_message("DESCRIBE no_such_stream;")?;
    let output = run_shell(
        &["--server", url],
        &format!("RUN SCRIPT '{}';\n", bad.display()),
    )?;
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(stdout.contains(" Kafka Topic "), "{stdout}");
    assert!(stderr.contains(&message), "{stderr}");
    assert!(
        stderr.contains("Statement: DESCRIBE no_such_stream;"),
        "{stderr}"
    );
    assert!(!stdout.contains("Stream created"), "{stdout}");
    Ok(())
}

#[test]
fn an_unreachable_server_is_reported() -> Result<()> {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let output = run_shell(&["--server", &url], "SHOW STREAMS;\n")?;
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        stderr.contains(&format!("Cannot reach the Brook server at {url}: ")),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn embedded_server_from_a_pipe() -> Result<()> {
    let data = tempfile::tempdir()?;
    let output = run_shell(
        &["--embedded", "--data-dir", &data.path().to_string_lossy()],
        "CREATE STREAM embedded_s (id INT) WITH (kafka_topic='embedded_s', value_format='json', partitions=1);\nSHOW STREAMS;\n",
    )?;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains(" Stream created"), "{stdout}");
    assert!(stdout.contains("EMBEDDED_S"), "{stdout}");
    Ok(())
}
