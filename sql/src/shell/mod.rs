//! `brook sql`: the interactive SQL shell, a client of a Brook server's ksqlDB-compatible
//! REST API (the same API the ksqlDB CLI talks to).
//!
//! Started on a terminal, the shell prints a banner with the server's address and version and
//! a `brook> ` prompt. A statement ends with `;` and may span lines (the prompt becomes
//! `     > ` until it is complete); several may share a line; `--` and `/* */` comments and
//! `;` inside quotes are understood. Tab completes SQL keywords and the server's stream and
//! table names. Up and Down walk the history, kept across sessions in
//! `~/.brook_sql_history`. Ctrl-C clears the line, or stops a running query; Ctrl-D, `exit` or
//! `quit` leaves.
//!
//! Queries (`SELECT`, `PRINT`) are streamed: a push query (`EMIT CHANGES`) prints each row as
//! it arrives until its `LIMIT` or Ctrl-C. Every other statement is sent on its own and its
//! result printed as the ksqlDB CLI prints it (`SHOW STREAMS` as a table, `DESCRIBE` as a
//! field list, a CREATE as its status message); an error prints the server's message.
//! A few statements are the shell's own:
//!
//! - `SET 'auto.offset.reset'='earliest';` and `UNSET 'name';` keep properties in the
//!   session (not on the server); they are sent with every request as `streamsProperties`.
//! - `DEFINE name = 'value';`, `UNDEFINE name;` and `SHOW VARIABLES;` manage the session's
//!   variables, sent with every request for `${name}` substitution.
//! - `OUTPUT JSON;` / `OUTPUT TABULAR;` switch between raw JSON and tables.
//! - `RUN SCRIPT '/path/file.sql';` runs a file's statements in order, stopping at the first
//!   that fails.
//!
//! Without a terminal (`echo 'SHOW STREAMS;' | brook sql`) or with `-f file.sql`, the shell
//! runs the statements it is given, stops at the first that fails, and exits with status 0
//! only when all succeeded.

mod client;
mod complete;
mod query;
mod render;
mod split;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};
use serde_json::Value;

use client::{Client, QueryEnd, RequestContext, RequestError};
use complete::ShellHelper;
use query::QueryPrinter;
use render::{render_entity, table};
use split::{first_keyword, is_query, split_statements, strip_leading_comments};

/// How `brook sql` runs.
#[derive(Debug, Clone)]
pub struct ShellOptions {
    /// The server's base URL, e.g. `http://localhost:8088` (`http://` may be left out).
    pub server: String,
    /// `-f file.sql`: run the file's statements and exit.
    pub file: Option<PathBuf>,
    /// How results are printed at start (`OUTPUT ...;` changes it).
    pub output: OutputFormat,
    /// The history file; `None` means `~/.brook_sql_history`.
    pub history: Option<PathBuf>,
    /// Initial `streamsProperties`, as if set with `SET`.
    pub properties: BTreeMap<String, String>,
}

impl Default for ShellOptions {
    fn default() -> Self {
        ShellOptions {
            server: "http://localhost:8088".to_string(),
            file: None,
            output: OutputFormat::Tabular,
            history: None,
            properties: BTreeMap::new(),
        }
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Tables, as the ksqlDB CLI prints them.
    #[default]
    Tabular,
    /// The server's JSON entities, pretty-printed; query rows one JSON item per line.
    Json,
}

/// Why the shell could not run.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("Cannot reach the Brook server at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("The server at {server} did not answer GET /info as a Brook server: {message}")]
    NotAServer { server: String, message: String },
    #[error("Cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("terminal error: {0}")]
    Terminal(#[from] ReadlineError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Runs the shell: interactive (rustyline) when stdin is a terminal and no file is given,
/// else reads statements from the file or stdin, prints results, and returns.
///
/// Returns `Ok(true)` when every statement succeeded (an interactive session always does:
/// its errors were shown to the person who typed them), `Ok(false)` when one failed.
pub fn run(options: ShellOptions) -> Result<bool, ShellError> {
    let interactive = options.file.is_none() && std::io::stdin().is_terminal();
    let client = Client::new(&options.server, interactive)?;
    let info = client.info().map_err(|e| match e {
        RequestError::Unreachable { server, reason } => ShellError::Unreachable { server, reason },
        other => ShellError::NotAServer {
            server: client.server().to_string(),
            message: other.to_string(),
        },
    })?;
    let mut session = Session {
        client,
        output: options.output,
        properties: options.properties,
        variables: BTreeMap::new(),
        names: Arc::new(Mutex::new(Vec::new())),
        interactive,
        term_width: None,
        script_depth: 0,
    };
    if let Some(file) = &options.file {
        let text = std::fs::read_to_string(file).map_err(|source| ShellError::ReadFile {
            path: file.clone(),
            source,
        })?;
        return Ok(session.run_script(&text) != Outcome::Failed);
    }
    if interactive {
        let history = options.history.or_else(default_history);
        return session.interactive(&info, history.as_deref());
    }
    session.run_lines(std::io::stdin().lock())
}

fn default_history() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".brook_sql_history"))
}

const PROMPT: &str = "brook> ";
const CONTINUATION: &str = "     > ";
/// How deeply `RUN SCRIPT` may nest (a script that runs itself stops here).
const MAX_SCRIPT_DEPTH: usize = 16;

const HELP: &str = "\
Statements end with ';' and may span several lines. Queries (SELECT, PRINT) stream their
rows; a push query (EMIT CHANGES) runs until its LIMIT or Ctrl-C. Everything else is sent
to the server one statement at a time.

Shell commands:
  SET 'property'='value';    set a property sent with every request
                             (e.g. SET 'auto.offset.reset'='earliest';)
  UNSET 'property';          remove it
  DEFINE name = 'value';     define a variable, used as ${name} in statements
  UNDEFINE name;             remove it; SHOW VARIABLES; lists them
  OUTPUT JSON; OUTPUT TABULAR;
                             print results as raw JSON, or as tables
  RUN SCRIPT '/path/file.sql';
                             run a file's statements in order
  help                       this text
  exit, quit, Ctrl-D         leave

Keys: Tab completes keywords and stream/table names, Up/Down walk the history,
Ctrl-R searches it, Ctrl-C clears the line or stops a running query.
";

/// What running a statement led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
    Exit,
}

struct Session {
    client: Client,
    output: OutputFormat,
    properties: BTreeMap<String, String>,
    variables: BTreeMap<String, String>,
    /// Stream and table names for tab completion.
    names: Arc<Mutex<Vec<String>>>,
    interactive: bool,
    /// Terminal columns, for the widths of query result columns.
    term_width: Option<usize>,
    script_depth: usize,
}

/// Writes to stdout, ignoring errors (a closed pipe must not panic the shell).
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn err(text: &str) {
    let _ = std::io::stdout().flush();
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = stderr.write_all(b"\n");
    }
}

/// A line that is a whole command without `;`: `exit`, `quit`, `help`.
fn bare_command(line: &str) -> Option<&'static str> {
    match line.trim().to_ascii_lowercase().as_str() {
        "exit" | "quit" => Some("exit"),
        "help" => Some("help"),
        _ => None,
    }
}

/// The banner of an interactive session.
fn banner(server: &str, info: &Value) -> String {
    let info = &info["KsqlServerInfo"];
    let version = info["version"].as_str().unwrap_or("unknown");
    let status = info["serverStatus"]
        .as_str()
        .map(|s| format!(", {s}"))
        .unwrap_or_default();
    format!(
        "Brook SQL shell {}\nServer: {server} (Brook {version}{status})\n\n\
         Type 'help' for help, 'exit' or Ctrl-D to leave.\n\n",
        env!("CARGO_PKG_VERSION")
    )
}

static SET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^SET\s+'((?:[^']|'')*)'\s*=\s*'((?:[^']|'')*)'$").expect("regex")
});
static UNSET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^UNSET\s+'((?:[^']|'')*)'$").expect("regex"));
static DEFINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^DEFINE\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*'((?:[^']|'')*)'$").expect("regex")
});
static UNDEFINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^UNDEFINE\s+([A-Za-z_][A-Za-z0-9_]*)$").expect("regex"));
static OUTPUT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^OUTPUT(?:\s+([A-Za-z]+))?$").expect("regex"));
static RUN_SCRIPT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^RUN\s+SCRIPT\s+'((?:[^']|'')*)'$").expect("regex"));
static SHOW_VARIABLES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^(?:SHOW|LIST)\s+VARIABLES$").expect("regex"));

/// The text of a single-quoted literal's body (`it''s` -> `it's`).
fn unquote(body: &str) -> String {
    body.replace("''", "'")
}

/// A statement the shell answers itself, with the text to print.
#[derive(Debug, PartialEq, Eq)]
enum Local {
    Exit,
    Help,
    Output(Option<OutputFormat>),
    BadOutput(String),
    Set(String, String),
    Unset(String),
    Define(String, String),
    Undefine(String),
    ShowVariables,
    RunScript(PathBuf),
}

fn local_statement(statement: &str) -> Option<Local> {
    if let Some(command) = bare_command(statement) {
        return Some(if command == "exit" {
            Local::Exit
        } else {
            Local::Help
        });
    }
    if let Some(c) = SET.captures(statement) {
        return Some(Local::Set(unquote(&c[1]), unquote(&c[2])));
    }
    if let Some(c) = UNSET.captures(statement) {
        return Some(Local::Unset(unquote(&c[1])));
    }
    if let Some(c) = DEFINE.captures(statement) {
        return Some(Local::Define(c[1].to_string(), unquote(&c[2])));
    }
    if let Some(c) = UNDEFINE.captures(statement) {
        return Some(Local::Undefine(c[1].to_string()));
    }
    if let Some(c) = OUTPUT.captures(statement) {
        return Some(match c.get(1).map(|m| m.as_str().to_ascii_uppercase()) {
            None => Local::Output(None),
            Some(f) if f == "JSON" => Local::Output(Some(OutputFormat::Json)),
            Some(f) if f == "TABULAR" => Local::Output(Some(OutputFormat::Tabular)),
            Some(f) => Local::BadOutput(f),
        });
    }
    if let Some(c) = RUN_SCRIPT.captures(statement) {
        return Some(Local::RunScript(PathBuf::from(unquote(&c[1]))));
    }
    if SHOW_VARIABLES.is_match(statement) {
        return Some(Local::ShowVariables);
    }
    None
}

/// `statement` with each `${name}` of a defined variable replaced by its value (the
/// variables are also sent to the server as `sessionVariables`; an undefined one is left for
/// the server to report).
fn substitute(statement: &str, variables: &BTreeMap<String, String>) -> String {
    if variables.is_empty() || !statement.contains("${") {
        return statement.to_string();
    }
    static VARIABLE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}").expect("regex"));
    VARIABLE
        .replace_all(statement, |c: &regex::Captures<'_>| {
            variables
                .get(&c[1])
                .cloned()
                .unwrap_or_else(|| c[0].to_string())
        })
        .into_owned()
}

/// Whether an entity answers a `DEFINE` the server made of the `sessionVariables` rather
/// than the statement that was sent.
fn is_variable_echo(entity: &Value, statement: &str) -> bool {
    let answered = entity["statementText"].as_str().unwrap_or("");
    first_keyword(answered) == "DEFINE" && first_keyword(statement) != "DEFINE"
}

fn set_message(name: &str, old: Option<&str>, new: &str) -> String {
    match old {
        Some(old) => {
            format!("Successfully changed local property '{name}' from '{old}' to '{new}'.\n")
        }
        None => format!("Successfully changed local property '{name}' to '{new}'.\n"),
    }
}

impl Session {
    fn context(&self) -> RequestContext<'_> {
        RequestContext {
            properties: &self.properties,
            variables: &self.variables,
        }
    }

    /// Runs one statement (without its `;`).
    fn execute(&mut self, statement: &str) -> Outcome {
        let statement = strip_leading_comments(statement).trim();
        if statement.is_empty() {
            return Outcome::Ok;
        }
        let keyword = first_keyword(statement);
        let substituted;
        let statement = if keyword == "DEFINE" || keyword == "UNDEFINE" {
            statement
        } else {
            substituted = substitute(statement, &self.variables);
            substituted.as_str()
        };
        if let Some(local) = local_statement(statement) {
            return self.execute_local(local);
        }
        if is_query(statement) {
            self.run_query(statement)
        } else {
            self.run_ksql(statement)
        }
    }

    fn execute_local(&mut self, local: Local) -> Outcome {
        match local {
            Local::Exit => return Outcome::Exit,
            Local::Help => out(HELP),
            Local::Output(None) => {
                let name = match self.output {
                    OutputFormat::Tabular => "TABULAR",
                    OutputFormat::Json => "JSON",
                };
                out(&format!("Output format: {name}\n"));
            }
            Local::Output(Some(format)) => self.output = format,
            Local::BadOutput(format) => {
                err(&format!(
                    "Unknown output format '{format}': use OUTPUT JSON; or OUTPUT TABULAR;"
                ));
                return Outcome::Failed;
            }
            Local::Set(name, value) => {
                let old = self.properties.insert(name.clone(), value.clone());
                out(&set_message(&name, old.as_deref(), &value));
            }
            Local::Unset(name) => match self.properties.remove(&name) {
                Some(old) => out(&format!(
                    "Successfully unset local property '{name}' (value was '{old}').\n"
                )),
                None => out(&format!("Local property '{name}' was not set.\n")),
            },
            Local::Define(name, value) => {
                self.variables.insert(name, value);
            }
            Local::Undefine(name) => {
                if self.variables.remove(&name).is_none() {
                    out(&format!("Variable '{name}' is undefined.\n"));
                }
            }
            Local::ShowVariables => {
                let rows = self
                    .variables
                    .iter()
                    .map(|(n, v)| vec![n.clone(), v.clone()])
                    .collect();
                out(&table(&["Variable Name", "Value"], rows));
            }
            Local::RunScript(path) => return self.run_script_file(&path),
        }
        Outcome::Ok
    }

    fn run_ksql(&mut self, statement: &str) -> Outcome {
        match self.client.ksql(statement, &self.context()) {
            Ok(entities) => {
                for entity in entities.iter().filter(|e| !is_variable_echo(e, statement)) {
                    out(&render_entity(entity, self.output));
                }
                if self.interactive
                    && matches!(first_keyword(statement).as_str(), "CREATE" | "DROP")
                {
                    self.refresh_names();
                }
                Outcome::Ok
            }
            Err(error) => self.failed(statement, &error),
        }
    }

    fn run_query(&mut self, statement: &str) -> Outcome {
        let mut printer = QueryPrinter::new(self.output, self.term_width);
        let result = self
            .client
            .query(statement, &self.context(), &mut |chunk: &[u8]| {
                let text = printer.feed(chunk);
                if text.is_empty() {
                    return ControlFlow::Continue(());
                }
                let mut stdout = std::io::stdout().lock();
                match stdout
                    .write_all(text.as_bytes())
                    .and_then(|_| stdout.flush())
                {
                    Ok(()) => ControlFlow::Continue(()),
                    // Nobody reads what we print any more: stop the query.
                    Err(_) => ControlFlow::Break(()),
                }
            });
        match result {
            Ok(end) => {
                if end == QueryEnd::Completed {
                    out(&printer.finish());
                }
                if let Some(message) = printer.error.take() {
                    return self.failed(
                        statement,
                        &RequestError::Server {
                            status: 200,
                            message,
                        },
                    );
                }
                if end != QueryEnd::Stopped && self.output == OutputFormat::Tabular {
                    out("Query terminated\n");
                }
                Outcome::Ok
            }
            Err(error) => self.failed(statement, &error),
        }
    }

    /// Prints a failed statement's error; in a script, also which statement it was.
    fn failed(&self, statement: &str, error: &RequestError) -> Outcome {
        err(&error.to_string());
        if !self.interactive || self.script_depth > 0 {
            err(&format!("Statement: {statement};"));
        }
        Outcome::Failed
    }

    /// Runs a script's statements in order, stopping at the first that fails or at `exit`.
    fn run_script(&mut self, text: &str) -> Outcome {
        let split = split_statements(text);
        let rest = split.rest.trim().to_string();
        let statements = split
            .statements
            .into_iter()
            .chain((!rest.is_empty()).then_some(rest));
        for statement in statements {
            match self.execute(&statement) {
                Outcome::Ok => {}
                Outcome::Failed => return Outcome::Failed,
                Outcome::Exit => return Outcome::Exit,
            }
        }
        Outcome::Ok
    }

    fn run_script_file(&mut self, path: &Path) -> Outcome {
        if self.script_depth >= MAX_SCRIPT_DEPTH {
            err(&format!(
                "RUN SCRIPT '{}': scripts nest more than {MAX_SCRIPT_DEPTH} deep",
                path.display()
            ));
            return Outcome::Failed;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                err(&format!("Cannot read {}: {e}", path.display()));
                return Outcome::Failed;
            }
        };
        self.script_depth += 1;
        let outcome = self.run_script(&text);
        self.script_depth -= 1;
        match outcome {
            // `exit` in a script ends the script, not the session.
            Outcome::Exit => Outcome::Ok,
            other => other,
        }
    }

    /// Runs statements read line by line (stdin without a terminal): each statement runs as
    /// soon as its `;` is read; the first failure stops.
    fn run_lines(&mut self, input: impl BufRead) -> Result<bool, ShellError> {
        let mut buffer = String::new();
        for line in input.lines() {
            let line = line?;
            if buffer.trim().is_empty() {
                match bare_command(&line) {
                    Some("exit") => return Ok(true),
                    Some(_) => {
                        out(HELP);
                        continue;
                    }
                    None => {}
                }
            }
            buffer.push_str(&line);
            buffer.push('\n');
            let split = split_statements(&buffer);
            buffer = split.rest;
            for statement in split.statements {
                match self.execute(&statement) {
                    Outcome::Ok => {}
                    Outcome::Failed => return Ok(false),
                    Outcome::Exit => return Ok(true),
                }
            }
        }
        Ok(self.run_script(&buffer) != Outcome::Failed)
    }

    fn interactive(&mut self, info: &Value, history: Option<&Path>) -> Result<bool, ShellError> {
        let config = Config::builder()
            .auto_add_history(false)
            .max_history_size(1000)?
            .history_ignore_dups(true)?
            .completion_type(CompletionType::List)
            .build();
        let mut editor: Editor<ShellHelper, FileHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(ShellHelper {
            names: Arc::clone(&self.names),
        }));
        if let Some(path) = history.filter(|p| p.exists()) {
            if let Err(e) = editor.load_history(path) {
                err(&format!("Cannot read the history {}: {e}", path.display()));
            }
        }
        out(&banner(self.client.server(), info));
        self.refresh_names();
        // The unfinished statement, and everything typed since the last history entry.
        let mut buffer = String::new();
        let mut typed = String::new();
        loop {
            self.term_width = editor.dimensions().map(|(w, _)| usize::from(w));
            let prompt = if buffer.is_empty() {
                PROMPT
            } else {
                CONTINUATION
            };
            let line = match editor.readline(prompt) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => {
                    buffer.clear();
                    typed.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            };
            if buffer.is_empty() {
                if let Some(command) = bare_command(&line) {
                    self.remember(&mut editor, &line, history);
                    if command == "exit" {
                        break;
                    }
                    out(HELP);
                    continue;
                }
            }
            buffer.push_str(&line);
            buffer.push('\n');
            typed.push_str(&line);
            typed.push('\n');
            let split = split_statements(&buffer);
            if split.rest.is_empty() {
                self.remember(&mut editor, typed.trim(), history);
                typed.clear();
            }
            buffer = split.rest;
            for statement in split.statements {
                if self.execute(&statement) == Outcome::Exit {
                    return Ok(true);
                }
            }
        }
        Ok(true)
    }

    /// Adds an entry to the history and appends it to the history file at once, so that a
    /// session that is killed keeps what was typed.
    fn remember(
        &self,
        editor: &mut Editor<ShellHelper, FileHistory>,
        entry: &str,
        history: Option<&Path>,
    ) {
        if entry.trim().is_empty() {
            return;
        }
        let _ = editor.add_history_entry(entry);
        if let Some(path) = history {
            if let Err(e) = editor.append_history(path) {
                err(&format!("Cannot write the history {}: {e}", path.display()));
            }
        }
    }

    /// Fetches the stream and table names for tab completion.
    fn refresh_names(&mut self) {
        let Ok(entities) = self
            .client
            .ksql("SHOW STREAMS; SHOW TABLES", &self.context())
        else {
            return;
        };
        let names: Vec<String> = entities
            .iter()
            .flat_map(|e| {
                ["streams", "tables"]
                    .into_iter()
                    .flat_map(move |key| e[key].as_array().into_iter().flatten())
            })
            .filter_map(|s| s["name"].as_str().map(str::to_string))
            .collect();
        if let Ok(mut known) = self.names.lock() {
            *known = names;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn local_statements() {
        assert_eq!(
            local_statement("SET 'auto.offset.reset'='earliest'"),
            Some(Local::Set("auto.offset.reset".into(), "earliest".into()))
        );
        assert_eq!(
            local_statement("set 'a' = 'it''s'"),
            Some(Local::Set("a".into(), "it's".into()))
        );
        assert_eq!(local_statement("UNSET 'a'"), Some(Local::Unset("a".into())));
        assert_eq!(
            local_statement("output json"),
            Some(Local::Output(Some(OutputFormat::Json)))
        );
        assert_eq!(
            local_statement("OUTPUT TABULAR"),
            Some(Local::Output(Some(OutputFormat::Tabular)))
        );
        assert_eq!(local_statement("OUTPUT"), Some(Local::Output(None)));
        assert_eq!(
            local_statement("OUTPUT XML"),
            Some(Local::BadOutput("XML".into()))
        );
        assert_eq!(
            local_statement("RUN SCRIPT '/tmp/a b.sql'"),
            Some(Local::RunScript("/tmp/a b.sql".into()))
        );
        assert_eq!(
            local_statement("DEFINE topic = 'pageviews'"),
            Some(Local::Define("topic".into(), "pageviews".into()))
        );
        assert_eq!(
            local_statement("UNDEFINE topic"),
            Some(Local::Undefine("topic".into()))
        );
        assert_eq!(
            local_statement("SHOW VARIABLES"),
            Some(Local::ShowVariables)
        );
        assert_eq!(local_statement("exit"), Some(Local::Exit));
        assert_eq!(local_statement("QUIT"), Some(Local::Exit));
        // Everything else is the server's.
        assert_eq!(local_statement("SHOW STREAMS"), None);
        assert_eq!(local_statement("SHOW PROPERTIES"), None);
        assert_eq!(local_statement("SET x = 1"), None);
        assert_eq!(local_statement("SELECT * FROM OUTPUT"), None);
    }

    #[test]
    fn variables_are_substituted() {
        let mut variables = BTreeMap::new();
        variables.insert("src".to_string(), "pageviews".to_string());
        assert_eq!(
            substitute(
                "SELECT * FROM ${src} WHERE x = '${src}' AND ${other}",
                &variables
            ),
            "SELECT * FROM pageviews WHERE x = 'pageviews' AND ${other}"
        );
        assert_eq!(substitute("SHOW STREAMS", &variables), "SHOW STREAMS");
    }

    #[test]
    fn entities_for_session_variables_are_not_printed() {
        let echo = json!({"@type": "currentStatus", "statementText": "DEFINE src = 'x'"});
        assert!(is_variable_echo(&echo, "DESCRIBE x"));
        assert!(!is_variable_echo(&echo, "DEFINE src = 'x'"));
        let own = json!({"@type": "sourceDescription", "statementText": "DESCRIBE x"});
        assert!(!is_variable_echo(&own, "DESCRIBE x"));
    }

    #[test]
    fn set_messages() {
        assert_eq!(
            set_message("auto.offset.reset", None, "earliest"),
            "Successfully changed local property 'auto.offset.reset' to 'earliest'.\n"
        );
        assert_eq!(
            set_message("auto.offset.reset", Some("earliest"), "latest"),
            "Successfully changed local property 'auto.offset.reset' from 'earliest' to 'latest'.\n"
        );
    }

    #[test]
    fn the_banner_names_server_and_version() {
        let info = json!({"KsqlServerInfo": {"version": "0.1.0", "kafkaClusterId": "x",
            "ksqlServiceId": "default_", "serverStatus": "RUNNING"}});
        let text = banner("http://127.0.0.1:8088", &info);
        assert!(
            text.contains("Server: http://127.0.0.1:8088 (Brook 0.1.0, RUNNING)"),
            "{text}"
        );
    }

    #[test]
    fn bare_commands() {
        assert_eq!(bare_command("  EXIT "), Some("exit"));
        assert_eq!(bare_command("quit"), Some("exit"));
        assert_eq!(bare_command("help"), Some("help"));
        assert_eq!(bare_command("exit;"), None);
        assert_eq!(bare_command("SHOW STREAMS"), None);
    }
}
