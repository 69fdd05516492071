//! Tab completion: SQL keywords, the shell's own commands, and the names of the server's
//! streams and tables (refreshed by the shell after each CREATE or DROP).

use std::sync::{Arc, Mutex};

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

/// Words completed at any position.
const KEYWORDS: &[&str] = &[
    "ADVANCE",
    "ALL",
    "AND",
    "ARRAY",
    "AS",
    "ASSERT",
    "BEGINNING",
    "BETWEEN",
    "BIGINT",
    "BOOLEAN",
    "BY",
    "BYTES",
    "CASE",
    "CAST",
    "CHANGES",
    "CONNECTORS",
    "CREATE",
    "DATE",
    "DECIMAL",
    "DEFINE",
    "DELETE",
    "DESCRIBE",
    "DISTINCT",
    "DOUBLE",
    "DROP",
    "ELSE",
    "EMIT",
    "END",
    "EXISTS",
    "EXPLAIN",
    "EXTENDED",
    "FALSE",
    "FINAL",
    "FROM",
    "FULL",
    "FUNCTION",
    "FUNCTIONS",
    "GRACE",
    "GROUP",
    "HAVING",
    "HEADER",
    "HEADERS",
    "HOPPING",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INT",
    "INTEGER",
    "INTO",
    "IS",
    "JOIN",
    "JSON",
    "KAFKA_TOPIC",
    "KEY",
    "KEY_FORMAT",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LIST",
    "MAP",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "OUTER",
    "OUTPUT",
    "PARTITION",
    "PARTITIONS",
    "PERIOD",
    "PRIMARY",
    "PRINT",
    "PROPERTIES",
    "QUERIES",
    "QUERY",
    "REPLACE",
    "RETENTION",
    "RIGHT",
    "RUN",
    "SCRIPT",
    "SELECT",
    "SESSION",
    "SET",
    "SHOW",
    "SIZE",
    "SOURCE",
    "STREAM",
    "STREAMS",
    "STRING",
    "STRUCT",
    "TABLE",
    "TABLES",
    "TABULAR",
    "TERMINATE",
    "THEN",
    "TIME",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "TOPIC",
    "TOPICS",
    "TRUE",
    "TUMBLING",
    "TYPE",
    "TYPES",
    "UNDEFINE",
    "UNSET",
    "VALUES",
    "VALUE_FORMAT",
    "VARCHAR",
    "VARIABLES",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHIN",
];

/// The rustyline helper of an interactive session.
pub(crate) struct ShellHelper {
    /// Stream and table names known on the server.
    pub names: Arc<Mutex<Vec<String>>>,
}

impl Helper for ShellHelper {}
impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let start = word_start(line, pos);
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        Ok((start, completions(&line[start..pos], &names)))
    }
}

/// The byte offset where the word ending at `pos` starts.
fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(pos, |(i, _)| i)
}

/// The candidates for a partial word: source names (as the server spells them) and keywords
/// (in the case the user is typing: lower-case when the word so far is lower-case).
pub(crate) fn completions(word: &str, names: &[String]) -> Vec<String> {
    if word.is_empty() {
        return Vec::new();
    }
    let upper = word.to_uppercase();
    let lower_case = word.chars().all(|c| !c.is_uppercase());
    let mut candidates: Vec<String> = names
        .iter()
        .filter(|n| n.to_uppercase().starts_with(&upper))
        .cloned()
        .collect();
    candidates.extend(KEYWORDS.iter().filter(|k| k.starts_with(&upper)).map(|k| {
        if lower_case {
            k.to_lowercase()
        } else {
            k.to_string()
        }
    }));
    candidates.sort();
    candidates.dedup();
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_keywords_and_names() {
        let names = vec!["PAGEVIEWS".to_string(), "PAGES_TABLE".to_string()];
        assert_eq!(completions("SEL", &names), ["SELECT"]);
        assert_eq!(completions("sel", &names), ["select"]);
        assert_eq!(completions("page", &names), ["PAGES_TABLE", "PAGEVIEWS"]);
        assert_eq!(completions("STREAM", &names), ["STREAM", "STREAMS"]);
        assert!(completions("", &names).is_empty());
        assert!(completions("zzz", &names).is_empty());
    }

    #[test]
    fn finds_the_word_under_the_cursor() {
        assert_eq!(word_start("SELECT * FROM pa", 16), 14);
        assert_eq!(word_start("SELECT * FROM ", 14), 14);
        assert_eq!(word_start("sho", 3), 0);
        assert_eq!(word_start("x é_b", 6), 2);
    }
}
