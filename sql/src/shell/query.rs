//! Printing a streamed `/query` response as it arrives.
//!
//! The response is a JSON array streamed item by item (`[{"header":...}`, `,\n{"row":...}`,
//! ..., `,\n{"finalMessage":"Limit Reached"}]`); `PRINT` streams plain text lines. Items are
//! cut out of the byte stream as soon as their closing brace arrives, wherever the server
//! puts its newlines, so a push query's row is printed the moment it is received. In tabular
//! output the header becomes a boxed row of column names and each row a `|value |value |`
//! line, as the ksql CLI prints them.

use serde_json::Value;

use super::render::display;
use super::OutputFormat;

/// A piece of a streamed response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    /// One item of the streamed JSON array.
    Item(Value),
    /// One line of a text stream (`PRINT`), or text that is not JSON.
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing but whitespace seen yet.
    Unknown,
    /// A JSON array (or a sequence of JSON values), cut into items.
    Json,
    /// Text, cut into lines.
    Text,
}

/// Cuts a streamed response into [`Piece`]s as bytes arrive.
pub(crate) struct StreamDecoder {
    buf: Vec<u8>,
    mode: Mode,
    /// Whether the array's opening `[` was seen.
    array_open: bool,
    /// Where the value being scanned starts in `buf`, if one has started.
    value_start: Option<usize>,
    /// How far `buf` has been scanned.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl StreamDecoder {
    pub(crate) fn new() -> StreamDecoder {
        StreamDecoder {
            buf: Vec::new(),
            mode: Mode::Unknown,
            array_open: false,
            value_start: None,
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    /// The pieces completed by `bytes`.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<Piece> {
        self.buf.extend_from_slice(bytes);
        let mut pieces = Vec::new();
        if self.mode == Mode::Unknown {
            match self.buf.iter().find(|b| !b.is_ascii_whitespace()) {
                None => return pieces,
                Some(b'[' | b'{') => self.mode = Mode::Json,
                Some(_) => self.mode = Mode::Text,
            }
        }
        if self.mode == Mode::Json {
            self.scan_json(&mut pieces);
        }
        if self.mode == Mode::Text {
            while let Some(newline) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=newline).collect();
                let line = String::from_utf8_lossy(&line);
                pieces.push(Piece::Text(line.trim_end_matches(['\n', '\r']).to_string()));
            }
        }
        pieces
    }

    /// The pieces left when the stream ends.
    pub(crate) fn finish(&mut self) -> Vec<Piece> {
        let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
        let rest = rest.trim();
        let ignorable = self.mode == Mode::Json && self.value_start.is_none();
        if rest.is_empty() || (ignorable && rest.chars().all(|c| matches!(c, ']' | ','))) {
            return Vec::new();
        }
        rest.lines().map(|l| Piece::Text(l.to_string())).collect()
    }

    fn scan_json(&mut self, pieces: &mut Vec<Piece>) {
        let mut i = self.scanned;
        while i < self.buf.len() {
            let b = self.buf[i];
            match self.value_start {
                None => match b {
                    b if b.is_ascii_whitespace() => {}
                    b',' | b']' if self.array_open => {}
                    b'[' if !self.array_open => self.array_open = true,
                    b'{' | b'[' | b'"' => {
                        self.value_start = Some(i);
                        self.depth = usize::from(b != b'"');
                        self.in_string = b == b'"';
                        self.escaped = false;
                    }
                    _ => {
                        // Not JSON after all: the rest is text.
                        self.buf.drain(..i);
                        self.scanned = 0;
                        self.mode = Mode::Text;
                        return;
                    }
                },
                Some(start) => {
                    let mut complete = false;
                    if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                        } else if b == b'\\' {
                            self.escaped = true;
                        } else if b == b'"' {
                            self.in_string = false;
                            complete = self.depth == 0;
                        }
                    } else {
                        match b {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth = self.depth.saturating_sub(1);
                                complete = self.depth == 0;
                            }
                            _ => {}
                        }
                    }
                    if complete {
                        let text = &self.buf[start..=i];
                        pieces.push(match serde_json::from_slice::<Value>(text) {
                            Ok(value) => Piece::Item(value),
                            Err(_) => Piece::Text(String::from_utf8_lossy(text).into_owned()),
                        });
                        self.value_start = None;
                    }
                }
            }
            i += 1;
        }
        // Forget what has been consumed.
        let keep_from = self.value_start.unwrap_or(self.buf.len());
        self.buf.drain(..keep_from);
        self.value_start = self.value_start.map(|_| 0);
        self.scanned = self.buf.len();
    }
}

/// Turns one streamed query response into text to print.
pub(crate) struct QueryPrinter {
    format: OutputFormat,
    term_width: Option<usize>,
    widths: Vec<usize>,
    decoder: StreamDecoder,
    /// An `errorMessage` the server sent inside the stream.
    pub error: Option<String>,
}

impl QueryPrinter {
    pub(crate) fn new(format: OutputFormat, term_width: Option<usize>) -> QueryPrinter {
        QueryPrinter {
            format,
            term_width,
            widths: Vec::new(),
            decoder: StreamDecoder::new(),
            error: None,
        }
    }

    /// The text to print for a chunk of the response.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> String {
        let pieces = self.decoder.push(bytes);
        self.print(pieces)
    }

    /// The text to print when the response ends.
    pub(crate) fn finish(&mut self) -> String {
        let pieces = self.decoder.finish();
        self.print(pieces)
    }

    fn print(&mut self, pieces: Vec<Piece>) -> String {
        pieces
            .into_iter()
            .map(|piece| match piece {
                Piece::Item(item) => self.item(&item),
                Piece::Text(line) => format!("{}\n", line.trim_end()),
            })
            .collect()
    }

    fn item(&mut self, item: &Value) -> String {
        if let Some(header) = item.get("header") {
            let columns = schema_columns(header["schema"].as_str().unwrap_or(""));
            self.set_widths(&columns);
            if self.format == OutputFormat::Json {
                return format!("{item}\n");
            }
            return self.header(&columns);
        }
        if let Some(error) = item.get("errorMessage") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| display(error));
            self.error = Some(message);
            return String::new();
        }
        if self.format == OutputFormat::Json {
            return format!("{item}\n");
        }
        if let Some(row) = item.get("row") {
            let tombstone = row["tombstone"].as_bool().unwrap_or(false);
            let cells: Vec<String> = row["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| match v {
                    Value::Null if tombstone => "<TOMBSTONE>".to_string(),
                    v => display(v),
                })
                .collect();
            return self.row(&cells);
        }
        if let Some(message) = item.get("finalMessage") {
            return format!("{}\n", display(message));
        }
        match item {
            Value::String(text) => format!("{text}\n"),
            other => format!("{other}\n"),
        }
    }

    fn set_widths(&mut self, columns: &[String]) {
        let n = columns.len().max(1);
        let minimum = match self.term_width {
            Some(width) => (width.saturating_sub(n + 1) / n).clamp(8, 40),
            None => 16,
        };
        self.widths = columns
            .iter()
            .map(|c| c.chars().count().max(minimum))
            .collect();
    }

    fn rule(&self) -> String {
        let mut out = String::from("+");
        for width in &self.widths {
            out.push_str(&"-".repeat(*width));
            out.push('+');
        }
        out.push('\n');
        out
    }

    fn header(&self, columns: &[String]) -> String {
        format!("{}{}{}", self.rule(), self.row(columns), self.rule())
    }

    fn row(&self, cells: &[String]) -> String {
        let mut out = String::from("|");
        for (i, cell) in cells.iter().enumerate() {
            let width = self.widths.get(i).copied().unwrap_or(16);
            out.push_str(&format!("{cell:<width$}|"));
        }
        out.push('\n');
        out
    }
}

/// The column names of a header schema: "`K` STRING KEY, `S` STRUCT<`A` INT, `B` INT>" ->
/// ["K", "S"].
pub(crate) fn schema_columns(schema: &str) -> Vec<String> {
    let mut columns = Vec::new();
    let mut depth = 0usize;
    let mut in_backticks = false;
    let mut start = 0;
    for (i, c) in schema.char_indices() {
        match c {
            '`' => in_backticks = !in_backticks,
            '<' | '(' if !in_backticks => depth += 1,
            '>' | ')' if !in_backticks => depth = depth.saturating_sub(1),
            ',' if !in_backticks && depth == 0 => {
                columns.push(column_name(&schema[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if !schema[start..].trim().is_empty() {
        columns.push(column_name(&schema[start..]));
    }
    columns
}

fn column_name(definition: &str) -> String {
    let definition = definition.trim();
    if let Some(rest) = definition.strip_prefix('`') {
        // `` inside a quoted name is an escaped backtick.
        let mut name = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '`' {
                if chars.peek() == Some(&'`') {
                    chars.next();
                    name.push('`');
                } else {
                    break;
                }
            } else {
                name.push(c);
            }
        }
        name
    } else {
        definition
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ksqlDB's framing as Brook's server writes it: the newline before each item.
    const PUSH: &str = concat!(
        r#"[{"header":{"queryId":"transient_S_123","schema":"`K` STRING, `ID` INTEGER"}}"#,
        ",\n",
        r#"{"row":{"columns":["11",100]}}"#,
        ",\n",
        r#"{"row":{"columns":["12",101]}}"#,
        ",\n",
        r#"{"finalMessage":"Limit Reached"}]"#,
        "\n",
    );

    const PUSH_TABLE: &str = concat!(
        "+----------------+----------------+\n",
        "|K               |ID              |\n",
        "+----------------+----------------+\n",
        "|11              |100             |\n",
        "|12              |101             |\n",
        "Limit Reached\n",
    );

    fn print_all(printer: &mut QueryPrinter, chunks: &[&[u8]]) -> String {
        let mut out: String = chunks.iter().map(|c| printer.feed(c)).collect();
        out.push_str(&printer.finish());
        out
    }

    #[test]
    fn push_query_rows() {
        let mut printer = QueryPrinter::new(OutputFormat::Tabular, None);
        assert_eq!(print_all(&mut printer, &[PUSH.as_bytes()]), PUSH_TABLE);
        assert_eq!(printer.error, None);
    }

    #[test]
    fn any_chunking_gives_the_same_output() {
        let bytes = PUSH.as_bytes();
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        let mut printer = QueryPrinter::new(OutputFormat::Tabular, None);
        assert_eq!(print_all(&mut printer, &one_by_one), PUSH_TABLE);
        let sevens: Vec<&[u8]> = bytes.chunks(7).collect();
        let mut printer = QueryPrinter::new(OutputFormat::Tabular, None);
        assert_eq!(print_all(&mut printer, &sevens), PUSH_TABLE);
    }

    #[test]
    fn a_row_prints_when_its_item_closes() {
        // Without waiting for the next item's separator or newline.
        let mut printer = QueryPrinter::new(OutputFormat::Tabular, None);
        let header = printer.feed(br#"[{"header":{"queryId":"q","schema":"`ID` INTEGER"}}"#);
        assert!(header.contains("|ID              |\n"), "{header}");
        assert_eq!(
            printer.feed(b",\n{\"row\":{\"columns\":[1]}}"),
            "|1               |\n"
        );
        // Braces and quotes inside strings do not confuse the cutting.
        assert_eq!(
            printer.feed(br#",{"row":{"columns":["}{\"]["]}}"#),
            "|}{\"][           |\n"
        );
    }

    #[test]
    fn newline_after_each_item_works_too() {
        let mut printer = QueryPrinter::new(OutputFormat::Tabular, None);
        let text = concat!(
            r#"[{"header":{"queryId":"q","schema":"`K` STRING, `ID` INTEGER"}},"#,
            "\n",
            r#"{"row":{"columns":["11",100]}},"#,
            "\n",
            r#"{"row":{"columns":["12",101]}},"#,
            "\n",
            r#"{"finalMessage":"Limit Reached"}]"#,
            "\n",
        );
        assert_eq!(print_all(&mut printer, &[text.as_bytes()]), PUSH_TABLE);
    }

    #[test]
    fn widths_follow_the_terminal() {
        let mut printer = QueryPrinter::new(OutputFormat::Tabular, Some(23));
        let out = printer.feed(PUSH.as_bytes());
        assert_eq!(out.lines().next(), Some("+----------+----------+"));
    }

    #[test]
    fn json_output_prints_the_items() {
        let mut printer = QueryPrinter::new(OutputFormat::Json, None);
        let out = print_all(&mut printer, &[PUSH.as_bytes()]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1], r#"{"row":{"columns":["11",100]}}"#);
        assert_eq!(lines[3], r#"{"finalMessage":"Limit Reached"}"#);
    }

    #[test]
    fn pull_query_with_tombstones_and_no_final_message() {
        let mut printer = QueryPrinter::new(OutputFormat::Tabular, None);
        let out = print_all(
            &mut printer,
            &[br#"[{"header":{"queryId":"q","schema":"`ID` STRING KEY, `COUNT` BIGINT"}},{"row":{"columns":["a",null],"tombstone":true}}]"#],
        );
        assert!(
            out.contains("|ID              |COUNT           |\n"),
            "{out}"
        );
        assert!(
            out.ends_with("|a               |<TOMBSTONE>     |\n"),
            "{out}"
        );
    }

    #[test]
    fn errors_in_the_stream() {
        let mut printer = QueryPrinter::new(OutputFormat::Tabular, None);
        let out = print_all(
            &mut printer,
            &[b"[", br#"{"errorMessage":{"@type":"generic_error","error_code":50000,"message":"boom"}}]"#],
        );
        assert_eq!(out, "");
        assert_eq!(printer.error.as_deref(), Some("boom"));
    }

    #[test]
    fn print_streams_text_lines() {
        let mut printer = QueryPrinter::new(OutputFormat::Tabular, None);
        let first = printer.feed(b"rowtime: 2024/01/01 00:00:00.000 Z, key: 1, value: {\"A\":1}, partition: 0\nrowtime: 2024/01/01 00:00:0");
        assert_eq!(
            first,
            "rowtime: 2024/01/01 00:00:00.000 Z, key: 1, value: {\"A\":1}, partition: 0\n"
        );
        let rest = printer.feed(b"1.000 Z, key: 2, value: {\"A\":2}, partition: 0\n");
        assert_eq!(
            rest,
            "rowtime: 2024/01/01 00:00:01.000 Z, key: 2, value: {\"A\":2}, partition: 0\n"
        );
        assert_eq!(printer.finish(), "");
    }

    #[test]
    fn schema_column_names() {
        assert_eq!(schema_columns("`K` STRING, `ID` INTEGER"), ["K", "ID"]);
        assert_eq!(
            schema_columns(
                "`ID` STRING KEY, `S` STRUCT<`A` INTEGER, `B` MAP<STRING, INTEGER>>, `D` DECIMAL(10, 2), `we``ird` INT"
            ),
            ["ID", "S", "D", "we`ird"]
        );
        assert_eq!(schema_columns("A INT, B STRING"), ["A", "B"]);
        assert!(schema_columns("").is_empty());
    }
}
