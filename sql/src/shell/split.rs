//! Splitting typed or scripted text into statements.
//!
//! A statement ends at a `;` that is not inside a string literal (`'...'`, where `''` is an
//! escaped quote), a quoted identifier (`"..."` or `` `...` ``), a `--` line comment or a
//! `/* ... */` block comment. Leading comments are dropped from a statement (they are what
//! scripts usually start a statement with); comments inside one are kept for the server.

/// The complete statements found in some text, and the text after the last one.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    /// Each statement without its terminating `;`, trimmed, leading comments removed.
    pub statements: Vec<String>,
    /// An unfinished statement (empty when the text ended with complete statements, or
    /// only whitespace and comments follow the last `;`).
    pub rest: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    SingleQuote,
    DoubleQuote,
    Backtick,
    LineComment,
    BlockComment,
}

/// Splits `input` into complete statements and an unfinished rest.
pub(crate) fn split_statements(input: &str) -> Split {
    let mut split = Split::default();
    let mut state = State::Normal;
    // Byte offset where the current statement's first non-comment character is.
    let mut content_start: Option<usize> = None;
    // Byte offset just after the previous statement's `;`.
    let mut segment_start = 0;
    let mut chars = input.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match state {
            State::Normal => match c {
                ';' => {
                    if let Some(start) = content_start.take() {
                        let text = input[start..i].trim();
                        if !text.is_empty() {
                            split.statements.push(text.to_string());
                        }
                    }
                    segment_start = i + 1;
                }
                '-' if chars.peek().map(|&(_, n)| n) == Some('-') => {
                    chars.next();
                    state = State::LineComment;
                }
                '/' if chars.peek().map(|&(_, n)| n) == Some('*') => {
                    chars.next();
                    state = State::BlockComment;
                }
                c if c.is_whitespace() => {}
                c => {
                    content_start.get_or_insert(i);
                    state = match c {
                        '\'' => State::SingleQuote,
                        '"' => State::DoubleQuote,
                        '`' => State::Backtick,
                        _ => State::Normal,
                    };
                }
            },
            // A doubled quote closes and reopens, which is what `''` inside a literal means.
            State::SingleQuote if c == '\'' => state = State::Normal,
            State::DoubleQuote if c == '"' => state = State::Normal,
            State::Backtick if c == '`' => state = State::Normal,
            State::LineComment if c == '\n' => state = State::Normal,
            State::BlockComment if c == '*' && chars.peek().map(|&(_, n)| n) == Some('/') => {
                chars.next();
                state = State::Normal;
            }
            _ => {}
        }
    }
    let unfinished_comment = state == State::BlockComment;
    if content_start.is_some() || unfinished_comment {
        split.rest = input[segment_start..].to_string();
    }
    split
}

/// `text` without the whitespace and comments it starts with.
pub(crate) fn strip_leading_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix("--") {
            text = after.find('\n').map_or("", |i| &after[i + 1..]);
        } else if let Some(after) = text.strip_prefix("/*") {
            text = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else {
            return text;
        }
    }
}

/// The first word of a statement, upper-cased (`SELECT`, `CREATE`, ...).
pub(crate) fn first_keyword(statement: &str) -> String {
    strip_leading_comments(statement)
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Whether a statement is a query, sent to `/query` and streamed (`SELECT`, `PRINT`).
pub(crate) fn is_query(statement: &str) -> bool {
    matches!(first_keyword(statement).as_str(), "SELECT" | "PRINT")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmts(input: &str) -> Vec<String> {
        split_statements(input).statements
    }

    #[test]
    fn splits_several_statements_on_a_line() {
        let s = split_statements("SHOW STREAMS; SHOW TABLES;  ");
        assert_eq!(s.statements, ["SHOW STREAMS", "SHOW TABLES"]);
        assert_eq!(s.rest, "");
    }

    #[test]
    fn keeps_an_unfinished_statement() {
        let s = split_statements("SHOW STREAMS; CREATE STREAM s (id INT)\n  WITH (");
        assert_eq!(s.statements, ["SHOW STREAMS"]);
        assert_eq!(s.rest, " CREATE STREAM s (id INT)\n  WITH (");
        let again = split_statements(&format!("{}kafka_topic='s', value_format='json');", s.rest));
        assert_eq!(
            again.statements,
            ["CREATE STREAM s (id INT)\n  WITH (kafka_topic='s', value_format='json')"]
        );
        assert_eq!(again.rest, "");
    }

    #[test]
    fn semicolons_in_quotes_do_not_split() {
        assert_eq!(
            stmts("INSERT INTO s (a) VALUES ('x;y'); SELECT \"a;b\", `c;d` FROM s;"),
            [
                "INSERT INTO s (a) VALUES ('x;y')",
                "SELECT \"a;b\", `c;d` FROM s"
            ]
        );
        // '' is an escaped quote inside a literal.
        assert_eq!(
            stmts("INSERT INTO s VALUES ('it''s; fine'); SHOW TOPICS;"),
            ["INSERT INTO s VALUES ('it''s; fine')", "SHOW TOPICS"]
        );
        let open = split_statements("INSERT INTO s VALUES ('open;");
        assert!(open.statements.is_empty());
        assert_eq!(open.rest, "INSERT INTO s VALUES ('open;");
    }

    #[test]
    fn comments() {
        assert_eq!(
            stmts("-- the first; not a statement\nSHOW STREAMS; -- trailing; comment\n"),
            ["SHOW STREAMS"]
        );
        assert_eq!(split_statements("SHOW STREAMS; -- only a comment").rest, "");
        assert_eq!(
            stmts("/* block; comment */ SHOW /* inner; */ TABLES;"),
            ["SHOW /* inner; */ TABLES"]
        );
        assert_eq!(
            stmts("SELECT a -- why;\nFROM s;"),
            ["SELECT a -- why;\nFROM s"]
        );
        // An unterminated block comment waits for more input.
        let open = split_statements("SHOW STREAMS; /* still; open");
        assert_eq!(open.statements, ["SHOW STREAMS"]);
        assert_eq!(open.rest, " /* still; open");
        // A minus sign is not a comment.
        assert_eq!(stmts("SELECT 1-2 FROM s;"), ["SELECT 1-2 FROM s"]);
    }

    #[test]
    fn empty_statements_are_skipped() {
        assert_eq!(stmts(";; ;\n;SHOW STREAMS;;"), ["SHOW STREAMS"]);
        assert_eq!(split_statements("   \n\t").rest, "");
        assert_eq!(split_statements("").statements.len(), 0);
    }

    #[test]
    fn multibyte_text() {
        assert_eq!(
            stmts("INSERT INTO s VALUES ('héllo; wörld'); SHOW STREAMS;"),
            ["INSERT INTO s VALUES ('héllo; wörld')", "SHOW STREAMS"]
        );
    }

    #[test]
    fn classifies_queries() {
        assert!(is_query("SELECT * FROM s EMIT CHANGES"));
        assert!(is_query("-- comment\n  select * from t"));
        assert!(is_query("PRINT 'topic' FROM BEGINNING"));
        assert!(!is_query("CREATE STREAM x AS SELECT * FROM s"));
        assert!(!is_query("SHOW STREAMS"));
        assert!(!is_query("SELECTED"));
        assert_eq!(first_keyword("/* c */ describe s"), "DESCRIBE");
    }
}
