//! The DELIMITED format: one CSV record per field, read and written as ksqlDB does with
//! Apache Commons CSV's default format and the configured delimiter.
//!
//! Reading: the text is UTF-8 (bad sequences replaced); the first record counts (blank lines
//! before it are skipped, later records must still parse); a field that starts with `"` is
//! quoted, with `""` for a quote, and may be followed only by whitespace; an empty field is
//! NULL; the number of fields must be the number of columns. Values are parsed with Java's
//! rules (`Integer.parseInt`, `Boolean.parseBoolean`, `new BigDecimal`, base64 for BYTES, ...).
//!
//! Writing: fields in column order, NULL as an empty field, values in Java's text (`1.0E7`,
//! plain decimals at the column scale, base64 bytes), quoted with Commons CSV's minimal
//! policy: when a field contains a quote, the delimiter or a line break, starts with a
//! character up to `#` or ends with one up to space, is the empty first field, or is the first
//! field and does not start with an ASCII letter or digit (so `-10` first is `"-10"`).

use bytes::Bytes;

use super::text::{
    base64_decode, base64_encode, decimal_to_plain, java_double_to_string, java_is_whitespace,
    parse_java_boolean, parse_java_double, parse_java_int, parse_java_long, DecimalText,
    MAX_TIME_MILLIS, TIME_RANGE_ERROR,
};
use super::RowSerde;
use crate::types::SqlType;
use crate::value::{Row, Value};

/// How a token of the CSV text ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Delimiter,
    Record,
    Input,
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    delimiter: char,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    /// Consumes a line break (`\r\n`, `\n` or `\r`) if there is one.
    fn eat_eol(&mut self) -> bool {
        match self.peek() {
            Some('\n') => {
                self.i += 1;
                true
            }
            Some('\r') => {
                self.i += 1;
                if self.peek() == Some('\n') {
                    self.i += 1;
                }
                true
            }
            _ => false,
        }
    }

    fn token(&mut self) -> Result<(String, End), String> {
        let mut token = String::new();
        if self.peek() == Some('"') {
            self.i += 1;
            loop {
                let Some(c) = self.peek() else {
                    return Err("EOF reached before encapsulated token finished".into());
                };
                self.i += 1;
                if c != '"' {
                    token.push(c);
                } else if self.peek() == Some('"') {
                    self.i += 1;
                    token.push('"');
                } else {
                    break;
                }
            }
            // After the closing quote only whitespace may come before the delimiter.
            loop {
                match self.peek() {
                    None => return Ok((token, End::Input)),
                    Some(c) if c == self.delimiter => {
                        self.i += 1;
                        return Ok((token, End::Delimiter));
                    }
                    Some(_) if self.eat_eol() => return Ok((token, End::Record)),
                    Some(c) if java_is_whitespace(c) => self.i += 1,
                    Some(_) => {
                        return Err("invalid char between encapsulated token and delimiter".into())
                    }
                }
            }
        }
        loop {
            match self.peek() {
                None => return Ok((token, End::Input)),
                Some(c) if c == self.delimiter => {
                    self.i += 1;
                    return Ok((token, End::Delimiter));
                }
                Some(_) if self.eat_eol() => return Ok((token, End::Record)),
                Some(c) => {
                    token.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

/// Every record of `text` (Commons CSV's `CSVParser.getRecords()` with the default format).
fn parse_records(text: &str, delimiter: char) -> Result<Vec<Vec<String>>, String> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        i: 0,
        delimiter,
    };
    let mut records = Vec::new();
    loop {
        while lexer.eat_eol() {}
        if lexer.peek().is_none() {
            return Ok(records);
        }
        let mut record = Vec::new();
        loop {
            let (token, end) = lexer.token()?;
            record.push(token);
            match end {
                End::Delimiter => continue,
                End::Record => break,
                End::Input => {
                    records.push(record);
                    return Ok(records);
                }
            }
        }
        records.push(record);
    }
}

/// Whether Commons CSV's minimal quoting quotes `field` (`first` for the record's first).
fn needs_quotes(field: &str, first: bool, delimiter: char) -> bool {
    let Some(c) = field.chars().next() else {
        return first;
    };
    if first && !c.is_ascii_alphanumeric() {
        return true;
    }
    if c <= '#' {
        return true;
    }
    if field
        .chars()
        .any(|c| c == '\n' || c == '\r' || c == '"' || c == delimiter)
    {
        return true;
    }
    field.chars().last().is_some_and(|c| c <= ' ')
}

/// One record; `None` fields are NULL (an empty, unquoted field).
fn print_record(fields: &[Option<String>], delimiter: char) -> String {
    let mut out = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        let Some(field) = field else {
            continue;
        };
        if needs_quotes(field, i == 0, delimiter) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out
}

/// A column value as DELIMITED text (`None` for NULL).
fn field_text(ty: &SqlType, value: &Value) -> Result<Option<String>, String> {
    Ok(Some(match (ty, value) {
        (_, Value::Null) => return Ok(None),
        (SqlType::Boolean, Value::Boolean(b)) => b.to_string(),
        (SqlType::Int, Value::Int(i)) => i.to_string(),
        (SqlType::Bigint, Value::Int(_) | Value::Bigint(_)) => {
            value.as_i64().unwrap_or(0).to_string()
        }
        (
            SqlType::Double,
            Value::Int(_) | Value::Bigint(_) | Value::Double(_) | Value::Decimal(_),
        ) => java_double_to_string(value.as_f64().unwrap_or(f64::NAN)),
        (SqlType::Decimal(_, s), Value::Int(_) | Value::Bigint(_) | Value::Decimal(_)) => {
            decimal_to_plain(&value.as_decimal().unwrap_or_default(), *s)?
        }
        (SqlType::String, Value::String(s)) => s.clone(),
        (SqlType::Bytes, Value::Bytes(b)) => base64_encode(b),
        (SqlType::Timestamp, Value::Timestamp(t) | Value::Bigint(t)) => t.to_string(),
        (SqlType::Date, Value::Date(d) | Value::Int(d)) => d.to_string(),
        (SqlType::Time, Value::Time(t) | Value::Bigint(t)) => t.to_string(),
        (SqlType::Time | SqlType::Timestamp, Value::Int(t)) => t.to_string(),
        (ty, v) => return Err(format!("cannot write {v:?} as a {ty} value")),
    }))
}

fn number_error(text: &str) -> String {
    format!("For input string: \"{text}\"")
}

/// A non-empty DELIMITED field as a value of `ty`.
fn parse_field(ty: &SqlType, text: &str) -> Result<Value, String> {
    Ok(match ty {
        SqlType::Boolean => Value::Boolean(parse_java_boolean(text)),
        SqlType::Int => Value::Int(parse_java_int(text).ok_or_else(|| number_error(text))?),
        SqlType::Bigint => Value::Bigint(parse_java_long(text).ok_or_else(|| number_error(text))?),
        SqlType::Double => {
            Value::Double(parse_java_double(text).ok_or_else(|| number_error(text))?)
        }
        SqlType::Decimal(p, s) => Value::Decimal(
            DecimalText::parse(text)
                .ok_or_else(|| number_error(text))?
                .fit(*p, *s)?,
        ),
        SqlType::String => Value::String(text.to_owned()),
        SqlType::Bytes => Value::Bytes(Bytes::from(base64_decode(text)?)),
        SqlType::Timestamp => {
            Value::Timestamp(parse_java_long(text).ok_or_else(|| number_error(text))?)
        }
        SqlType::Date => Value::Date(parse_java_int(text).ok_or_else(|| number_error(text))?),
        SqlType::Time => {
            let millis = parse_java_long(text).ok_or_else(|| number_error(text))?;
            if !(0..=MAX_TIME_MILLIS).contains(&millis) {
                return Err(TIME_RANGE_ERROR.into());
            }
            Value::Time(millis)
        }
        SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_) => {
            return Err(format!(
                "The 'DELIMITED' format does not support type '{ty}'"
            ))
        }
    })
}

/// The DELIMITED serde for a list of primitive columns.
pub(crate) struct DelimitedSerde {
    columns: Vec<(String, SqlType)>,
    delimiter: char,
}

impl DelimitedSerde {
    /// `columns` must all be primitive and `delimiter` neither `"` nor a line break
    /// (`row_serde` checks both).
    pub(crate) fn new(columns: &[(String, SqlType)], delimiter: char) -> DelimitedSerde {
        DelimitedSerde {
            columns: columns.to_vec(),
            delimiter,
        }
    }
}

impl RowSerde for DelimitedSerde {
    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Bytes>, String> {
        let Some(row) = row else {
            return Ok(None);
        };
        super::check_width(row, self.columns.len())?;
        let fields = self
            .columns
            .iter()
            .zip(row)
            .map(|((_, ty), v)| field_text(ty, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("Error serializing CSV message: {e}"))?;
        Ok(Some(Bytes::from(print_record(&fields, self.delimiter))))
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<Row>, String> {
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let fail = |e: String| format!("Error deserializing delimited: {e}");
        let text = String::from_utf8_lossy(bytes);
        let records = parse_records(&text, self.delimiter).map_err(fail)?;
        let Some(record) = records.into_iter().next() else {
            return Err(fail("No fields in record".into()));
        };
        if record.len() != self.columns.len() {
            return Err(fail(format!(
                "Column count mismatch on deserialization. expected: {}, got: {}",
                self.columns.len(),
                record.len()
            )));
        }
        let row = self
            .columns
            .iter()
            .zip(&record)
            .map(|((_, ty), field)| {
                if field.is_empty() {
                    Ok(Value::Null)
                } else {
                    parse_field(ty, field)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        Ok(Some(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Result<Vec<Vec<String>>, String> {
        parse_records(text, ',')
    }

    fn rec(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_like_commons_csv() {
        assert_eq!(records("a,b").unwrap(), vec![rec(&["a", "b"])]);
        assert_eq!(records("a,").unwrap(), vec![rec(&["a", ""])]);
        assert_eq!(records(",").unwrap(), vec![rec(&["", ""])]);
        assert_eq!(
            records("\"a,\"\"b\",c").unwrap(),
            vec![rec(&["a,\"b", "c"])]
        );
        assert_eq!(records("\"a\"  ,b").unwrap(), vec![rec(&["a", "b"])]);
        assert_eq!(records(" \"a\",b").unwrap(), vec![rec(&[" \"a\"", "b"])]);
        assert_eq!(records("a\"b").unwrap(), vec![rec(&["a\"b"])]);
        assert_eq!(records("\"x\ny\"").unwrap(), vec![rec(&["x\ny"])]);
        assert_eq!(
            records("\r\n\na,b\r\nc\n").unwrap(),
            vec![rec(&["a", "b"]), rec(&["c"])]
        );
        assert_eq!(records(" ").unwrap(), vec![rec(&[" "])]);
        assert!(records("").unwrap().is_empty());
        assert!(records("\n\n").unwrap().is_empty());
        assert!(records("\"a").is_err());
        assert!(records("\"a\"b").is_err());
        assert!(records("a\n\"b").is_err());
    }

    #[test]
    fn prints_with_minimal_quoting() {
        let p = |fields: &[Option<&str>]| {
            let fields: Vec<Option<String>> = fields.iter().map(|f| f.map(str::to_owned)).collect();
            print_record(&fields, ',')
        };
        assert_eq!(p(&[Some("0"), Some("zero"), Some("0")]), "0,zero,0");
        assert_eq!(p(&[Some("-10")]), "\"-10\"");
        assert_eq!(p(&[Some("101"), Some("-101")]), "101,-101");
        assert_eq!(p(&[Some("-1"), Some("a"), Some("1")]), "\"-1\",a,1");
        assert_eq!(p(&[None, None, Some("100")]), ",,100");
        assert_eq!(p(&[None, None]), ",");
        assert_eq!(p(&[Some("")]), "\"\"");
        assert_eq!(p(&[Some("a"), Some("")]), "a,");
        assert_eq!(
            p(&[
                Some(" \t with white space \t"),
                Some(" \t WITH WHITE SPACE \t"),
                Some("with white space"),
                Some("\t wit")
            ]),
            "\" \t with white space \t\",\" \t WITH WHITE SPACE \t\",with white space,\"\t wit\""
        );
        assert_eq!(p(&[Some("\" + x + \"")]), "\"\"\" + x + \"\"\"");
        assert_eq!(
            p(&[Some("a"), Some("b,c"), Some("d\ne"), Some("#x")]),
            "a,\"b,c\",\"d\ne\",\"#x\""
        );
        assert_eq!(p(&[Some("é")]), "\"é\"");
        assert_eq!(p(&[Some("a"), Some("é")]), "a,é");
    }

    fn serde(cols: &[(&str, SqlType)], d: char) -> DelimitedSerde {
        let cols: Vec<(String, SqlType)> = cols
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect();
        DelimitedSerde::new(&cols, d)
    }

    #[test]
    fn reads_values_like_ksqldb() {
        let s = serde(
            &[
                ("A", SqlType::Bigint),
                ("B", SqlType::String),
                ("C", SqlType::Double),
                ("D", SqlType::Decimal(4, 2)),
                ("E", SqlType::Time),
                ("F", SqlType::Date),
                ("G", SqlType::Timestamp),
                ("H", SqlType::Bytes),
                ("I", SqlType::Boolean),
            ],
            ',',
        );
        let row = s
            .deserialize(Some(
                b"1511897796092,item_1,10.0,10.10,100,10,100,ew==,TRUE\r\n",
            ))
            .unwrap()
            .unwrap();
        assert_eq!(
            row,
            vec![
                Value::Bigint(1511897796092),
                Value::String("item_1".into()),
                Value::Double(10.0),
                Value::Decimal("10.10".parse().unwrap()),
                Value::Time(100),
                Value::Date(10),
                Value::Timestamp(100),
                Value::Bytes(Bytes::from_static(&[123])),
                Value::Boolean(true),
            ]
        );
        let row = s.deserialize(Some(b"1,,,,,,,,")).unwrap().unwrap();
        assert_eq!(row[0], Value::Bigint(1));
        assert!(row[1..].iter().all(Value::is_null));
        assert_eq!(
            s.deserialize(Some(b"1,x")).unwrap_err(),
            "Error deserializing delimited: Column count mismatch on deserialization. \
             expected: 9, got: 2"
        );
        assert_eq!(s.deserialize(None).unwrap(), None);
    }

    #[test]
    fn parse_errors_are_errors() {
        let time = serde(&[("T", SqlType::Time)], ',');
        assert!(time
            .deserialize(Some(b"3000000000"))
            .unwrap_err()
            .contains(TIME_RANGE_ERROR));
        assert!(time
            .deserialize(Some(b"-5"))
            .unwrap_err()
            .contains(TIME_RANGE_ERROR));
        let bytes = serde(&[("B", SqlType::Bytes)], ',');
        assert!(bytes
            .deserialize(Some(b"a"))
            .unwrap_err()
            .contains("Value is not a valid Base64 encoded string: a"));
        let int = serde(&[("I", SqlType::Int)], ',');
        assert!(int.deserialize(Some(b" 1")).is_err());
        assert!(int
            .deserialize(Some(b""))
            .unwrap_err()
            .contains("No fields in record"));
        assert_eq!(
            int.deserialize(Some(b"\"22\"")).unwrap(),
            Some(vec![Value::Int(22)])
        );
        let b = serde(&[("B", SqlType::Boolean)], ',');
        assert_eq!(
            b.deserialize(Some(b"yes")).unwrap(),
            Some(vec![Value::Boolean(false)])
        );
    }

    #[test]
    fn decimals_follow_the_column_scale() {
        let s = serde(&[("V", SqlType::Decimal(33, 16))], ',');
        for (input, output) in [
            (
                "12345678987654321.2345678987654321",
                "12345678987654321.2345678987654321",
            ),
            (".12", "0.1200000000000000"),
            ("-12345.12", "\"-12345.1200000000000000\""),
            ("\"-12345.12\"", "\"-12345.1200000000000000\""),
            ("0", "0.0000000000000000"),
        ] {
            let row = s.deserialize(Some(input.as_bytes())).unwrap();
            let bytes = s.serialize(row.as_deref()).unwrap().unwrap();
            assert_eq!(std::str::from_utf8(&bytes).unwrap(), output, "{input}");
        }
    }

    #[test]
    fn writes_with_the_delimiter() {
        let s = serde(
            &[
                ("A", SqlType::Bigint),
                ("B", SqlType::String),
                ("C", SqlType::Int),
            ],
            '\t',
        );
        let row = s.deserialize(Some(b"0\tzero\t0")).unwrap();
        assert_eq!(
            s.serialize(row.as_deref()).unwrap().unwrap(),
            Bytes::from_static(b"0\tzero\t0")
        );
        let key = serde(&[("K1", SqlType::String), ("K2", SqlType::String)], ';');
        assert_eq!(
            key.deserialize(Some(b"foo,bar;baz")).unwrap(),
            Some(vec![
                Value::String("foo,bar".into()),
                Value::String("baz".into())
            ])
        );
        let d = serde(&[("D", SqlType::Double)], ',');
        assert_eq!(
            d.serialize(Some(&[Value::Double(1e10)])).unwrap().unwrap(),
            Bytes::from_static(b"1.0E10")
        );
    }
}
