//! SQL values, their ordering, and a compact self-describing binary encoding used for the
//! engine's own state (aggregation stores, internal topics).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use bigdecimal::BigDecimal;
use bytes::Bytes;

/// A SQL value. `Null` is the null of every type.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Boolean(bool),
    Int(i32),
    Bigint(i64),
    Double(f64),
    Decimal(BigDecimal),
    String(String),
    Bytes(Bytes),
    /// Milliseconds since the epoch, UTC.
    Timestamp(i64),
    /// Days since the epoch.
    Date(i32),
    /// Milliseconds since midnight.
    Time(i64),
    Array(Vec<Value>),
    /// Entries in insertion order; keys are unique.
    Map(Vec<(Value, Value)>),
    /// Fields in schema order, with their names.
    Struct(Vec<(String, Value)>),
}

/// A row: the values of a schema's columns, in order.
pub type Row = Vec<Value>;

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// INT or BIGINT (and TIMESTAMP/TIME millis) as an i64.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(i64::from(*i)),
            Value::Bigint(i) | Value::Timestamp(i) | Value::Time(i) => Some(*i),
            Value::Date(d) => Some(i64::from(*d)),
            _ => None,
        }
    }

    /// Any numeric value as an f64.
    pub fn as_f64(&self) -> Option<f64> {
        use bigdecimal::ToPrimitive;
        match self {
            Value::Int(i) => Some(f64::from(*i)),
            Value::Bigint(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            Value::Decimal(d) => d.to_f64(),
            _ => None,
        }
    }

    /// Any numeric value as a decimal (doubles converted exactly as printed).
    pub fn as_decimal(&self) -> Option<BigDecimal> {
        match self {
            Value::Int(i) => Some(BigDecimal::from(*i)),
            Value::Bigint(i) => Some(BigDecimal::from(*i)),
            Value::Decimal(d) => Some(d.clone()),
            Value::Double(d) => d.to_string().parse().ok(),
            _ => None,
        }
    }

    /// SQL comparison: `None` when either side is null or the two are not comparable.
    /// Numbers compare across INT, BIGINT, DECIMAL and DOUBLE.
    pub fn sql_cmp(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Null, _) | (_, Null) => None,
            (Boolean(a), Boolean(b)) => Some(a.cmp(b)),
            (Int(a), Int(b)) => Some(a.cmp(b)),
            (Int(_) | Bigint(_), Int(_) | Bigint(_)) => Some(self.as_i64()?.cmp(&other.as_i64()?)),
            (Double(_), _) | (_, Double(_)) if self.is_number() && other.is_number() => {
                self.as_f64()?.partial_cmp(&other.as_f64()?)
            }
            (Decimal(_), _) | (_, Decimal(_)) if self.is_number() && other.is_number() => {
                Some(self.as_decimal()?.cmp(&other.as_decimal()?))
            }
            (String(a), String(b)) => Some(a.cmp(b)),
            (Bytes(a), Bytes(b)) => Some(a.cmp(b)),
            (Timestamp(a), Timestamp(b)) | (Time(a), Time(b)) => Some(a.cmp(b)),
            (Date(a), Date(b)) => Some(a.cmp(b)),
            // ksqlDB compares TIMESTAMP with DATE by the date's midnight, and a string
            // literal with a timestamp by parsing it; the expression compiler casts those
            // operands first, so they never reach here.
            (Array(a), Array(b)) => {
                for (x, y) in a.iter().zip(b) {
                    match x.sql_cmp(y)? {
                        Ordering::Equal => continue,
                        o => return Some(o),
                    }
                }
                Some(a.len().cmp(&b.len()))
            }
            (Map(_), Map(_)) | (Struct(_), Struct(_)) => {
                if self == other {
                    Some(Ordering::Equal)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn is_number(&self) -> bool {
        matches!(
            self,
            Value::Int(_) | Value::Bigint(_) | Value::Double(_) | Value::Decimal(_)
        )
    }

    /// A total order over all values (nulls first), for sorting and for ordered
    /// collections: numbers by value, then by kind.
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        if let Some(o) = self.sql_cmp(other) {
            if o != Ordering::Equal || self == other {
                return o;
            }
        }
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::Double(a), Value::Double(b)) => a.total_cmp(b),
            _ => {
                let r = self.rank().cmp(&other.rank());
                if r != Ordering::Equal {
                    return r;
                }
                let mut a = Vec::new();
                let mut b = Vec::new();
                self.encode(&mut a);
                other.encode(&mut b);
                a.cmp(&b)
            }
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Boolean(_) => 1,
            Value::Int(_) => 2,
            Value::Bigint(_) => 3,
            Value::Double(_) => 4,
            Value::Decimal(_) => 5,
            Value::String(_) => 6,
            Value::Bytes(_) => 7,
            Value::Timestamp(_) => 8,
            Value::Date(_) => 9,
            Value::Time(_) => 10,
            Value::Array(_) => 11,
            Value::Map(_) => 12,
            Value::Struct(_) => 13,
        }
    }

    /// Appends the value's self-describing encoding (a tag byte, then the payload).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.rank());
        match self {
            Value::Null => {}
            Value::Boolean(b) => out.push(u8::from(*b)),
            Value::Int(i) => out.extend_from_slice(&i.to_be_bytes()),
            Value::Bigint(i) | Value::Timestamp(i) | Value::Time(i) => {
                out.extend_from_slice(&i.to_be_bytes())
            }
            Value::Date(d) => out.extend_from_slice(&d.to_be_bytes()),
            Value::Double(d) => out.extend_from_slice(&d.to_bits().to_be_bytes()),
            Value::Decimal(d) => put_bytes(out, d.to_string().as_bytes()),
            Value::String(s) => put_bytes(out, s.as_bytes()),
            Value::Bytes(b) => put_bytes(out, b),
            Value::Array(items) => {
                put_len(out, items.len());
                for v in items {
                    v.encode(out);
                }
            }
            Value::Map(entries) => {
                put_len(out, entries.len());
                for (k, v) in entries {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Value::Struct(fields) => {
                put_len(out, fields.len());
                for (n, v) in fields {
                    put_bytes(out, n.as_bytes());
                    v.encode(out);
                }
            }
        }
    }

    /// Decodes one value from the front of `input`, advancing it. A truncated or damaged
    /// input is an error, never a panic.
    pub fn decode(input: &mut &[u8]) -> Result<Value, DecodeError> {
        let tag = take(input, 1)?[0];
        Ok(match tag {
            0 => Value::Null,
            1 => Value::Boolean(take(input, 1)?[0] != 0),
            2 => Value::Int(i32::from_be_bytes(take_n(input)?)),
            3 => Value::Bigint(i64::from_be_bytes(take_n(input)?)),
            4 => Value::Double(f64::from_bits(u64::from_be_bytes(take_n(input)?))),
            5 => {
                let s = take_str(input)?;
                Value::Decimal(s.parse().map_err(|_| DecodeError("bad decimal"))?)
            }
            6 => Value::String(take_str(input)?.to_owned()),
            7 => Value::Bytes(Bytes::copy_from_slice(take_bytes(input)?)),
            8 => Value::Timestamp(i64::from_be_bytes(take_n(input)?)),
            9 => Value::Date(i32::from_be_bytes(take_n(input)?)),
            10 => Value::Time(i64::from_be_bytes(take_n(input)?)),
            11 => {
                let n = take_len(input)?;
                let mut items = Vec::with_capacity(n.min(input.len()));
                for _ in 0..n {
                    items.push(Value::decode(input)?);
                }
                Value::Array(items)
            }
            12 => {
                let n = take_len(input)?;
                let mut entries = Vec::with_capacity(n.min(input.len() / 2));
                for _ in 0..n {
                    let k = Value::decode(input)?;
                    let v = Value::decode(input)?;
                    entries.push((k, v));
                }
                Value::Map(entries)
            }
            13 => {
                let n = take_len(input)?;
                let mut fields = Vec::with_capacity(n.min(input.len() / 2));
                for _ in 0..n {
                    let name = take_str(input)?.to_owned();
                    fields.push((name, Value::decode(input)?));
                }
                Value::Struct(fields)
            }
            _ => return Err(DecodeError("unknown value tag")),
        })
    }
}

/// Encodes a row (a count, then each value).
pub fn encode_row(row: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * row.len());
    put_len(&mut out, row.len());
    for v in row {
        v.encode(&mut out);
    }
    out
}

/// Decodes a row written by [`encode_row`]; trailing bytes are an error.
pub fn decode_row(mut input: &[u8]) -> Result<Row, DecodeError> {
    let n = take_len(&mut input)?;
    let mut row = Vec::with_capacity(n.min(input.len()));
    for _ in 0..n {
        row.push(Value::decode(&mut input)?);
    }
    if !input.is_empty() {
        return Err(DecodeError("trailing bytes after a row"));
    }
    Ok(row)
}

/// A damaged encoded value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode a value: {0}")]
pub struct DecodeError(pub &'static str);

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len());
    out.extend_from_slice(b);
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if input.len() < n {
        return Err(DecodeError("truncated"));
    }
    let (a, b) = input.split_at(n);
    *input = b;
    Ok(a)
}

fn take_n<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let s = take(input, N)?;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Ok(a)
}

fn take_len(input: &mut &[u8]) -> Result<usize, DecodeError> {
    Ok(u32::from_be_bytes(take_n(input)?) as usize)
}

fn take_bytes<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let n = take_len(input)?;
    take(input, n)
}

fn take_str<'a>(input: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(take_bytes(input)?).map_err(|_| DecodeError("bad utf-8"))
}

impl PartialEq for Value {
    /// Structural equality (NULL equals NULL, doubles by bits except that 0.0 == -0.0);
    /// values of different numeric kinds are not equal here: use `sql_cmp` for SQL `=`.
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Boolean(a), Boolean(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Bigint(a), Bigint(b)) => a == b,
            (Double(a), Double(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Decimal(a), Decimal(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Timestamp(a), Timestamp(b)) => a == b,
            (Date(a), Date(b)) => a == b,
            (Time(a), Time(b)) => a == b,
            (Array(a), Array(b)) => a == b,
            (Map(a), Map(b)) => a.len() == b.len() && a.iter().all(|e| b.contains(e)),
            (Struct(a), Struct(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Value::Null => {}
            Value::Boolean(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Bigint(i) | Value::Timestamp(i) | Value::Time(i) => i.hash(state),
            Value::Date(d) => d.hash(state),
            Value::Double(d) => {
                if *d == 0.0 {
                    0u64.hash(state)
                } else {
                    d.to_bits().hash(state)
                }
            }
            Value::Decimal(d) => d.normalized().to_string().hash(state),
            Value::String(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Array(a) => a.hash(state),
            // Order-insensitive, as equality is.
            Value::Map(m) => m.len().hash(state),
            Value::Struct(f) => f.hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Boolean),
            any::<i32>().prop_map(Value::Int),
            any::<i64>().prop_map(Value::Bigint),
            any::<f64>()
                .prop_filter("nan", |d| !d.is_nan())
                .prop_map(Value::Double),
            (any::<i64>(), 0u8..6)
                .prop_map(|(m, s)| Value::Decimal(BigDecimal::new(m.into(), s.into()))),
            ".{0,8}".prop_map(Value::String),
            any::<i64>().prop_map(Value::Timestamp),
            any::<i32>().prop_map(Value::Date),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[A-Z]{1,3}", inner), 0..3).prop_map(Value::Struct),
            ]
        })
    }

    proptest! {
        #[test]
        fn encoding_round_trips(row in prop::collection::vec(value(), 0..5)) {
            let bytes = encode_row(&row);
            prop_assert_eq!(decode_row(&bytes).unwrap(), row);
        }

        #[test]
        fn truncated_encodings_are_errors(row in prop::collection::vec(value(), 1..5), cut in 0usize..64) {
            let bytes = encode_row(&row);
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(decode_row(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn numbers_compare_across_kinds() {
        assert_eq!(
            Value::Int(3).sql_cmp(&Value::Double(2.5)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Value::Bigint(2).sql_cmp(&Value::Decimal("2.00".parse().unwrap())),
            Some(Ordering::Equal)
        );
        assert_eq!(Value::Null.sql_cmp(&Value::Int(1)), None);
        assert_eq!(Value::String("a".into()).sql_cmp(&Value::Int(1)), None);
    }
}
