//! Query results as an [Arrow IPC stream](https://arrow.apache.org/docs/format/Columnar.html#ipc-streaming-format):
//! a schema message, then one record batch message per group of rows, then the
//! end-of-stream marker. Any Arrow reader (pyarrow's `pa.ipc.open_stream`, arrow-rs'
//! `StreamReader`, DuckDB, Polars) reads the concatenated bytes; nothing is compressed
//! and no dictionaries are used.
//!
//! ```
//! use brook_sql::arrow::ArrowStreamEncoder;
//! use brook_sql::result::ResultColumn;
//! use brook_sql::{SqlType, Value};
//!
//! let columns = vec![
//!     ResultColumn::new("ID", SqlType::String, true),
//!     ResultColumn::new("COUNT", SqlType::Bigint, false),
//! ];
//! let (mut encoder, mut stream) = ArrowStreamEncoder::new(&columns)?;
//! stream.extend(encoder.batch(&[vec![Value::String("a".into()), Value::Bigint(2)]])?);
//! stream.extend(encoder.batch(&[vec![Value::String("b".into()), Value::Null]])?);
//! stream.extend(encoder.finish()?);
//!
//! let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(stream), None).unwrap();
//! let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
//! assert_eq!(rows, 2);
//! # Ok::<(), brook_sql::SqlError>(())
//! ```
//!
//! # Types
//!
//! | SQL type | Arrow type |
//! |---|---|
//! | `BOOLEAN` | `Boolean` |
//! | `INTEGER` | `Int32` |
//! | `BIGINT` | `Int64` |
//! | `DOUBLE` | `Float64` |
//! | `DECIMAL(p, s)` | `Decimal128(p, s)` (`Decimal256(p, s)` when `p > 38`) |
//! | `STRING` | `Utf8` |
//! | `BYTES` | `Binary` |
//! | `TIMESTAMP` | `Timestamp(Millisecond, "UTC")` |
//! | `DATE` | `Date32` (days since the epoch) |
//! | `TIME` | `Time32(Millisecond)` (since midnight) |
//! | `ARRAY<T>` | `List<item: T>` |
//! | `MAP<K, V>` | `Map<entries: Struct<key: K not null, value: V>>` (unsorted keys) |
//! | `STRUCT<A T, ...>` | `Struct<A: T, ...>` |
//!
//! Every field is nullable and SQL NULLs are Arrow nulls, at any depth. Each top-level
//! field carries metadata: `ksql.type` (the SQL type as ksqlDB prints it, e.g.
//! `DECIMAL(4, 2)`) and, for key columns, `ksql.key` = `true`. A map entry with a NULL key
//! (which no ksqlDB format writes) cannot be encoded: Arrow map keys are never null.
//!
//! Values are taken as the column's type says; a numeric value of a narrower kind
//! (an `INTEGER` in a `BIGINT` column) is widened, and a value of another kind is an
//! error naming the column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{NullBufferBuilder, OffsetBufferBuilder};
use arrow_array::types::{ArrowPrimitiveType, Decimal256Type};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
    Float64Array, Int32Array, Int64Array, ListArray, MapArray, RecordBatch, RecordBatchOptions,
    StringArray, StructArray, Time32MillisecondArray, TimestampMillisecondArray,
};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use bigdecimal::{BigDecimal, ToPrimitive};

use crate::error::{Result, SqlError};
use crate::result::ResultColumn;
use crate::types::SqlType;
use crate::value::{Row, Value};

/// The largest precision `Decimal128` holds.
const DECIMAL128_MAX_PRECISION: u8 = 38;
/// The largest precision `Decimal256` holds.
const DECIMAL256_MAX_PRECISION: u8 = 76;

/// Field metadata: the SQL type of a top-level column.
pub const SQL_TYPE_METADATA: &str = "ksql.type";
/// Field metadata: `true` on key columns.
pub const KEY_METADATA: &str = "ksql.key";

/// Encodes query results as an Arrow IPC stream, one message at a time: the bytes of
/// [`new`](Self::new), then of each [`batch`](Self::batch), then of
/// [`finish`](Self::finish), concatenated, are one valid stream.
pub struct ArrowStreamEncoder {
    columns: Vec<ResultColumn>,
    schema: SchemaRef,
    writer: StreamWriter<Vec<u8>>,
}

impl std::fmt::Debug for ArrowStreamEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowStreamEncoder")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn arrow_error(what: &str, e: impl std::fmt::Display) -> SqlError {
    SqlError::Record(format!("{what}: {e}"))
}

impl ArrowStreamEncoder {
    /// An encoder for rows of `columns`, and the stream's first message (the schema).
    pub fn new(columns: &[ResultColumn]) -> Result<(ArrowStreamEncoder, Vec<u8>)> {
        let schema = Arc::new(schema(columns)?);
        let mut writer = StreamWriter::try_new(Vec::new(), &schema)
            .map_err(|e| arrow_error("cannot start an Arrow stream", e))?;
        let head = std::mem::take(writer.get_mut());
        Ok((
            ArrowStreamEncoder {
                columns: columns.to_vec(),
                schema,
                writer,
            },
            head,
        ))
    }

    /// The stream's Arrow schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// One record batch message holding `rows` (each as wide as the columns). An empty
    /// slice gives a batch of no rows.
    pub fn batch(&mut self, rows: &[Row]) -> Result<Vec<u8>> {
        let batch = record_batch(&self.schema, &self.columns, rows)?;
        self.writer
            .write(&batch)
            .map_err(|e| arrow_error("cannot write an Arrow record batch", e))?;
        Ok(std::mem::take(self.writer.get_mut()))
    }

    /// The end-of-stream marker.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.writer
            .finish()
            .map_err(|e| arrow_error("cannot end an Arrow stream", e))?;
        Ok(std::mem::take(self.writer.get_mut()))
    }
}

/// The Arrow schema of `columns` (see the module docs for the types and metadata).
pub fn schema(columns: &[ResultColumn]) -> Result<Schema> {
    let fields = columns
        .iter()
        .map(|c| {
            let mut metadata = HashMap::new();
            metadata.insert(SQL_TYPE_METADATA.to_owned(), c.ty.to_string());
            if c.key {
                metadata.insert(KEY_METADATA.to_owned(), "true".to_owned());
            }
            Ok(Field::new(&c.name, data_type(&c.ty)?, true).with_metadata(metadata))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Schema::new(fields))
}

/// The Arrow type of a SQL type.
pub fn data_type(ty: &SqlType) -> Result<DataType> {
    Ok(match ty {
        SqlType::Boolean => DataType::Boolean,
        SqlType::Int => DataType::Int32,
        SqlType::Bigint => DataType::Int64,
        SqlType::Double => DataType::Float64,
        SqlType::Decimal(p, s) => {
            let scale = i8::try_from(*s).map_err(|_| {
                SqlError::Record(format!("DECIMAL scale {s} is too large for Arrow"))
            })?;
            if *p <= DECIMAL128_MAX_PRECISION {
                DataType::Decimal128(*p, scale)
            } else if *p <= DECIMAL256_MAX_PRECISION {
                DataType::Decimal256(*p, scale)
            } else {
                return Err(SqlError::Record(format!(
                    "DECIMAL({p}, {s}) is too wide for Arrow (at most {DECIMAL256_MAX_PRECISION} digits)"
                )));
            }
        }
        SqlType::String => DataType::Utf8,
        SqlType::Bytes => DataType::Binary,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        SqlType::Date => DataType::Date32,
        SqlType::Time => DataType::Time32(TimeUnit::Millisecond),
        SqlType::Array(inner) => DataType::List(item_field(inner)?),
        SqlType::Map(k, v) => DataType::Map(entries_field(k, v)?, false),
        SqlType::Struct(fields) => DataType::Struct(struct_fields(fields)?),
    })
}

fn item_field(inner: &SqlType) -> Result<FieldRef> {
    Ok(Arc::new(Field::new("item", data_type(inner)?, true)))
}

fn entries_field(k: &SqlType, v: &SqlType) -> Result<FieldRef> {
    let fields = Fields::from(vec![
        Field::new("key", data_type(k)?, false),
        Field::new("value", data_type(v)?, true),
    ]);
    Ok(Arc::new(Field::new(
        "entries",
        DataType::Struct(fields),
        false,
    )))
}

fn struct_fields(fields: &[(String, SqlType)]) -> Result<Fields> {
    Ok(Fields::from(
        fields
            .iter()
            .map(|(n, t)| Ok(Field::new(n, data_type(t)?, true)))
            .collect::<Result<Vec<_>>>()?,
    ))
}

/// `rows` as a record batch of `schema` (which is `schema(columns)`).
pub fn record_batch(
    schema: &SchemaRef,
    columns: &[ResultColumn],
    rows: &[Row],
) -> Result<RecordBatch> {
    if let Some((i, r)) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| r.len() != columns.len())
    {
        return Err(SqlError::Record(format!(
            "row {i} has {} values for {} columns",
            r.len(),
            columns.len()
        )));
    }
    let arrays = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let values: Vec<Option<&Value>> = rows.iter().map(|r| present(&r[i])).collect();
            build(&c.ty, &values).map_err(|m| SqlError::Record(format!("column {}: {m}", c.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| arrow_error("cannot build an Arrow record batch", e))
}

/// `None` for a SQL NULL.
fn present(v: &Value) -> Option<&Value> {
    (!v.is_null()).then_some(v)
}

type Built = std::result::Result<ArrayRef, String>;

fn mismatch(v: &Value, ty: &SqlType) -> String {
    format!("{v:?} is not a value of type {ty}")
}

/// The nulls of `values` (`None` when there are none).
fn nulls_of(values: &[Option<&Value>]) -> Option<arrow_array::builder::NullBufferBuilder> {
    if values.iter().all(Option::is_some) {
        return None;
    }
    let mut b = NullBufferBuilder::new(values.len());
    for v in values {
        b.append(v.is_some());
    }
    Some(b)
}

/// The array of `values` (all of type `ty`, `None` for NULL).
fn build(ty: &SqlType, values: &[Option<&Value>]) -> Built {
    macro_rules! each {
        ($f:expr) => {
            values
                .iter()
                .map(|v| v.map($f).transpose())
                .collect::<std::result::Result<Vec<_>, String>>()?
        };
    }
    Ok(match ty {
        SqlType::Boolean => Arc::new(BooleanArray::from(each!(|v: &Value| v
            .as_bool()
            .ok_or_else(|| mismatch(v, ty))))),
        SqlType::Int => Arc::new(Int32Array::from(each!(|v: &Value| match v {
            Value::Int(i) => Ok(*i),
            _ => Err(mismatch(v, ty)),
        }))),
        SqlType::Bigint => Arc::new(Int64Array::from(each!(|v: &Value| match v {
            Value::Int(i) => Ok(i64::from(*i)),
            Value::Bigint(i) => Ok(*i),
            _ => Err(mismatch(v, ty)),
        }))),
        SqlType::Double => Arc::new(Float64Array::from(each!(|v: &Value| match v {
            Value::Int(_) | Value::Bigint(_) | Value::Double(_) | Value::Decimal(_) => {
                v.as_f64().ok_or_else(|| mismatch(v, ty))
            }
            _ => Err(mismatch(v, ty)),
        }))),
        SqlType::Decimal(p, s) => {
            let scale = i8::try_from(*s).map_err(|_| format!("scale {s} is too large"))?;
            let decimal = |v: &Value| -> std::result::Result<BigDecimal, String> {
                match v {
                    Value::Decimal(d) => Ok(d.clone()),
                    Value::Int(_) | Value::Bigint(_) => {
                        v.as_decimal().ok_or_else(|| mismatch(v, ty))
                    }
                    _ => Err(mismatch(v, ty)),
                }
            };
            if *p <= DECIMAL128_MAX_PRECISION {
                let unscaled = each!(|v: &Value| {
                    let (digits, _) = decimal(v)?
                        .with_scale(i64::from(*s))
                        .into_bigint_and_exponent();
                    let limit = 10i128.pow(u32::from(*p));
                    digits
                        .to_i128()
                        .filter(|d| d.abs() < limit)
                        .ok_or_else(|| format!("{v:?} does not fit DECIMAL({p}, {s})"))
                });
                Arc::new(
                    Decimal128Array::from(unscaled)
                        .with_precision_and_scale(*p, scale)
                        .map_err(|e| e.to_string())?,
                )
            } else {
                type I256 = <Decimal256Type as ArrowPrimitiveType>::Native;
                let unscaled = each!(|v: &Value| {
                    let (digits, _) = decimal(v)?
                        .with_scale(i64::from(*s))
                        .into_bigint_and_exponent();
                    let text = digits.to_string();
                    let width = text.trim_start_matches('-').len();
                    I256::from_string(&text)
                        .filter(|_| width <= usize::from(*p))
                        .ok_or_else(|| format!("{v:?} does not fit DECIMAL({p}, {s})"))
                });
                Arc::new(
                    Decimal256Array::from(unscaled)
                        .with_precision_and_scale(*p, scale)
                        .map_err(|e| e.to_string())?,
                )
            }
        }
        SqlType::String => Arc::new(StringArray::from(each!(|v: &Value| v
            .as_str()
            .ok_or_else(|| mismatch(v, ty))))),
        SqlType::Bytes => Arc::new(BinaryArray::from(each!(|v: &Value| match v {
            Value::Bytes(b) => Ok(b.as_ref()),
            _ => Err(mismatch(v, ty)),
        }))),
        SqlType::Timestamp => Arc::new(
            TimestampMillisecondArray::from(each!(|v: &Value| match v {
                Value::Timestamp(t) | Value::Bigint(t) => Ok(*t),
                _ => Err(mismatch(v, ty)),
            }))
            .with_timezone("UTC"),
        ),
        SqlType::Date => Arc::new(Date32Array::from(each!(|v: &Value| match v {
            Value::Date(d) => Ok(*d),
            _ => Err(mismatch(v, ty)),
        }))),
        SqlType::Time => Arc::new(Time32MillisecondArray::from(each!(|v: &Value| match v {
            Value::Time(t) => i32::try_from(*t).map_err(|_| mismatch(v, ty)),
            _ => Err(mismatch(v, ty)),
        }))),
        SqlType::Array(inner) => {
            let mut offsets = OffsetBufferBuilder::<i32>::new(values.len());
            let mut items: Vec<Option<&Value>> = Vec::new();
            for v in values {
                match v {
                    None => offsets.push_length(0),
                    Some(Value::Array(xs)) => {
                        offsets.push_length(xs.len());
                        items.extend(xs.iter().map(present));
                    }
                    Some(v) => return Err(mismatch(v, ty)),
                }
            }
            let child = build(inner, &items)?;
            let nulls = nulls_of(values).and_then(|mut b| b.finish());
            Arc::new(
                ListArray::try_new(
                    item_field(inner).map_err(|e| e.to_string())?,
                    offsets.finish(),
                    child,
                    nulls,
                )
                .map_err(|e| e.to_string())?,
            )
        }
        SqlType::Map(k, vt) => {
            let mut offsets = OffsetBufferBuilder::<i32>::new(values.len());
            let mut keys: Vec<Option<&Value>> = Vec::new();
            let mut vals: Vec<Option<&Value>> = Vec::new();
            for v in values {
                match v {
                    None => offsets.push_length(0),
                    Some(Value::Map(entries)) => {
                        offsets.push_length(entries.len());
                        for (key, val) in entries {
                            if key.is_null() {
                                return Err(
                                    "a map has a NULL key, which Arrow maps cannot hold".into()
                                );
                            }
                            keys.push(Some(key));
                            vals.push(present(val));
                        }
                    }
                    Some(v) => return Err(mismatch(v, ty)),
                }
            }
            let field = entries_field(k, vt).map_err(|e| e.to_string())?;
            let DataType::Struct(fields) = field.data_type().clone() else {
                return Err("map entries are not a struct".into());
            };
            let entries =
                StructArray::try_new(fields, vec![build(k, &keys)?, build(vt, &vals)?], None)
                    .map_err(|e| e.to_string())?;
            let nulls = nulls_of(values).and_then(|mut b| b.finish());
            Arc::new(
                MapArray::try_new(field, offsets.finish(), entries, nulls, false)
                    .map_err(|e| e.to_string())?,
            )
        }
        SqlType::Struct(fields) => {
            let mut children = Vec::with_capacity(fields.len());
            for (i, (name, fty)) in fields.iter().enumerate() {
                let column: Vec<Option<&Value>> = values
                    .iter()
                    .map(|v| match v {
                        None => Ok(None),
                        Some(Value::Struct(fs)) => Ok(fs
                            .get(i)
                            .filter(|(n, _)| n == name)
                            .or_else(|| fs.iter().find(|(n, _)| n == name))
                            .and_then(|(_, x)| present(x))),
                        Some(v) => Err(mismatch(v, ty)),
                    })
                    .collect::<std::result::Result<_, String>>()?;
                children.push(build(fty, &column).map_err(|m| format!("field {name}: {m}"))?);
            }
            let nulls = nulls_of(values).and_then(|mut b| b.finish());
            Arc::new(
                StructArray::try_new_with_length(
                    struct_fields(fields).map_err(|e| e.to_string())?,
                    children,
                    nulls,
                    values.len(),
                )
                .map_err(|e| e.to_string())?,
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, Time32MillisecondType,
        TimestampMillisecondType,
    };
    use arrow_array::Array;
    use bytes::Bytes;
    use proptest::prelude::*;

    /// The value at `i` of `a` (of SQL type `ty`), back as a SQL value.
    fn value_at(a: &dyn Array, ty: &SqlType, i: usize) -> Value {
        if a.is_null(i) {
            return Value::Null;
        }
        match ty {
            SqlType::Boolean => Value::Boolean(a.as_boolean().value(i)),
            SqlType::Int => Value::Int(a.as_primitive::<Int32Type>().value(i)),
            SqlType::Bigint => Value::Bigint(a.as_primitive::<Int64Type>().value(i)),
            SqlType::Double => Value::Double(a.as_primitive::<Float64Type>().value(i)),
            SqlType::Decimal(p, s) if *p <= 38 => {
                let raw = a.as_primitive::<Decimal128Type>().value(i);
                Value::Decimal(BigDecimal::new(raw.into(), i64::from(*s)))
            }
            SqlType::Decimal(_, s) => {
                let raw = a.as_primitive::<Decimal256Type>().value(i);
                Value::Decimal(BigDecimal::new(
                    raw.to_string().parse().unwrap(),
                    i64::from(*s),
                ))
            }
            SqlType::String => Value::String(a.as_string::<i32>().value(i).to_owned()),
            SqlType::Bytes => Value::Bytes(Bytes::copy_from_slice(a.as_binary::<i32>().value(i))),
            SqlType::Timestamp => {
                Value::Timestamp(a.as_primitive::<TimestampMillisecondType>().value(i))
            }
            SqlType::Date => Value::Date(a.as_primitive::<Date32Type>().value(i)),
            SqlType::Time => Value::Time(i64::from(
                a.as_primitive::<Time32MillisecondType>().value(i),
            )),
            SqlType::Array(inner) => {
                let items = a.as_list::<i32>().value(i);
                Value::Array(
                    (0..items.len())
                        .map(|j| value_at(&items, inner, j))
                        .collect(),
                )
            }
            SqlType::Map(k, v) => {
                let entries = a.as_map().value(i);
                let keys = entries.column(0);
                let values = entries.column(1);
                Value::Map(
                    (0..entries.len())
                        .map(|j| (value_at(keys, k, j), value_at(values, v, j)))
                        .collect(),
                )
            }
            SqlType::Struct(fields) => {
                let s = a.as_struct();
                Value::Struct(
                    fields
                        .iter()
                        .enumerate()
                        .map(|(j, (n, t))| (n.clone(), value_at(s.column(j), t, i)))
                        .collect(),
                )
            }
        }
    }

    /// Encodes `batches` as one stream and reads it back with arrow-rs' reader.
    fn round_trip(columns: &[ResultColumn], batches: &[Vec<Row>]) -> (SchemaRef, Vec<Row>) {
        let (mut e, mut bytes) = ArrowStreamEncoder::new(columns).unwrap();
        for b in batches {
            bytes.extend(e.batch(b).unwrap());
        }
        bytes.extend(e.finish().unwrap());
        let reader =
            arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
        let schema = reader.schema();
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            for i in 0..batch.num_rows() {
                rows.push(
                    columns
                        .iter()
                        .enumerate()
                        .map(|(c, col)| value_at(batch.column(c), &col.ty, i))
                        .collect(),
                );
            }
        }
        (schema, rows)
    }

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    #[test]
    fn every_type_round_trips_with_nulls() {
        let point = SqlType::Struct(vec![
            ("X".into(), SqlType::Int),
            ("Y".into(), SqlType::String),
        ]);
        let columns = vec![
            ResultColumn::new("B", SqlType::Boolean, true),
            ResultColumn::new("I", SqlType::Int, false),
            ResultColumn::new("L", SqlType::Bigint, false),
            ResultColumn::new("D", SqlType::Double, false),
            ResultColumn::new("M", SqlType::Decimal(4, 2), false),
            ResultColumn::new("W", SqlType::Decimal(50, 3), false),
            ResultColumn::new("S", SqlType::String, false),
            ResultColumn::new("Y", SqlType::Bytes, false),
            ResultColumn::new("T", SqlType::Timestamp, false),
            ResultColumn::new("DT", SqlType::Date, false),
            ResultColumn::new("TM", SqlType::Time, false),
            ResultColumn::new("A", SqlType::array(SqlType::Int), false),
            ResultColumn::new("MP", SqlType::map(SqlType::String, SqlType::Double), false),
            ResultColumn::new("ST", point.clone(), false),
            ResultColumn::new("AS", SqlType::array(point.clone()), false),
            ResultColumn::new(
                "MA",
                SqlType::map(SqlType::String, SqlType::array(SqlType::Bigint)),
                false,
            ),
        ];
        let full: Row = vec![
            Value::Boolean(true),
            Value::Int(-7),
            Value::Bigint(1 << 40),
            Value::Double(2.5),
            dec("-12.34"),
            dec("123456789012345678901234567890123456789012.345"),
            Value::String("héllo".into()),
            Value::Bytes(Bytes::from_static(b"\x00\x01")),
            Value::Timestamp(1_582_501_512_456),
            Value::Date(18_000),
            Value::Time(45_296_789),
            Value::Array(vec![Value::Int(1), Value::Null, Value::Int(3)]),
            Value::Map(vec![
                (Value::String("a".into()), Value::Double(1.0)),
                (Value::String("b".into()), Value::Null),
            ]),
            Value::Struct(vec![("X".into(), Value::Int(1)), ("Y".into(), Value::Null)]),
            Value::Array(vec![
                Value::Null,
                Value::Struct(vec![
                    ("X".into(), Value::Int(2)),
                    ("Y".into(), Value::String("z".into())),
                ]),
            ]),
            Value::Map(vec![(
                Value::String("k".into()),
                Value::Array(vec![Value::Bigint(5), Value::Null]),
            )]),
        ];
        let nulls: Row = vec![Value::Null; columns.len()];
        let empties: Row = {
            let mut r = nulls.clone();
            r[11] = Value::Array(vec![]);
            r[12] = Value::Map(vec![]);
            r[13] = Value::Struct(vec![("X".into(), Value::Null), ("Y".into(), Value::Null)]);
            r
        };
        let (schema, rows) = round_trip(
            &columns,
            &[
                vec![full.clone(), nulls.clone()],
                vec![],
                vec![empties.clone()],
            ],
        );
        assert_eq!(rows, vec![full, nulls, empties]);
        // Types and metadata.
        assert_eq!(schema.field(1).data_type(), &DataType::Int32);
        assert_eq!(schema.field(4).data_type(), &DataType::Decimal128(4, 2));
        assert_eq!(schema.field(5).data_type(), &DataType::Decimal256(50, 3));
        assert_eq!(
            schema.field(8).data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        assert_eq!(
            schema.field(10).data_type(),
            &DataType::Time32(TimeUnit::Millisecond)
        );
        assert!(matches!(
            schema.field(12).data_type(),
            DataType::Map(_, false)
        ));
        assert_eq!(
            schema
                .field(0)
                .metadata()
                .get(KEY_METADATA)
                .map(String::as_str),
            Some("true")
        );
        assert_eq!(schema.field(1).metadata().get(KEY_METADATA), None);
        assert_eq!(
            schema
                .field(4)
                .metadata()
                .get(SQL_TYPE_METADATA)
                .map(String::as_str),
            Some("DECIMAL(4, 2)")
        );
        assert!(schema.fields().iter().all(|f| f.is_nullable()));
    }

    #[test]
    fn narrower_numbers_widen_and_wrong_kinds_are_errors() {
        let columns = vec![
            ResultColumn::new("L", SqlType::Bigint, false),
            ResultColumn::new("D", SqlType::Double, false),
            ResultColumn::new("M", SqlType::Decimal(5, 1), false),
        ];
        let (_, rows) = round_trip(
            &columns,
            &[vec![vec![Value::Int(3), Value::Bigint(4), Value::Int(5)]]],
        );
        assert_eq!(
            rows,
            vec![vec![Value::Bigint(3), Value::Double(4.0), dec("5.0")]]
        );

        let (mut e, _) = ArrowStreamEncoder::new(&columns).unwrap();
        let err = e
            .batch(&[vec![Value::String("x".into()), Value::Null, Value::Null]])
            .unwrap_err();
        assert!(err.to_string().contains("column L"), "{err}");
        let err = e.batch(&[vec![Value::Null]]).unwrap_err();
        assert!(err.to_string().contains("1 values for 3 columns"), "{err}");
        let err = e
            .batch(&[vec![Value::Null, Value::Null, dec("123456.7")]])
            .unwrap_err();
        assert!(err.to_string().contains("column M"), "{err}");
        // A failed batch leaves the stream usable.
        let ok = e
            .batch(&[vec![Value::Null, Value::Null, dec("1.5")]])
            .unwrap();
        assert!(!ok.is_empty());
    }

    #[test]
    fn no_columns_and_no_batches() {
        let (_, rows) = round_trip(&[], &[vec![vec![], vec![]]]);
        assert_eq!(rows.len(), 2);
        let columns = vec![ResultColumn::new("S", SqlType::String, false)];
        let (schema, rows) = round_trip(&columns, &[]);
        assert!(rows.is_empty());
        assert_eq!(schema.fields().len(), 1);
    }

    fn leaf(ty: SqlType) -> BoxedStrategy<Value> {
        let v: BoxedStrategy<Value> = match ty {
            SqlType::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
            SqlType::Int => any::<i32>().prop_map(Value::Int).boxed(),
            SqlType::Bigint => any::<i64>().prop_map(Value::Bigint).boxed(),
            SqlType::Double => any::<f64>()
                .prop_filter("nan", |d| !d.is_nan())
                .prop_map(Value::Double)
                .boxed(),
            SqlType::Decimal(_, s) => (-99_999_999i64..99_999_999)
                .prop_map(move |m| Value::Decimal(BigDecimal::new(m.into(), i64::from(s))))
                .boxed(),
            SqlType::String => ".{0,6}".prop_map(Value::String).boxed(),
            SqlType::Bytes => prop::collection::vec(any::<u8>(), 0..4)
                .prop_map(|b| Value::Bytes(Bytes::from(b)))
                .boxed(),
            SqlType::Timestamp => any::<i64>().prop_map(Value::Timestamp).boxed(),
            SqlType::Date => any::<i32>().prop_map(Value::Date).boxed(),
            SqlType::Time => (0i64..86_400_000).prop_map(Value::Time).boxed(),
            SqlType::Array(inner) => prop::collection::vec(leaf(*inner), 0..3)
                .prop_map(Value::Array)
                .boxed(),
            SqlType::Map(_, v) => prop::collection::btree_map("[a-c]{1,2}", leaf(*v), 0..3)
                .prop_map(|m| {
                    Value::Map(m.into_iter().map(|(k, v)| (Value::String(k), v)).collect())
                })
                .boxed(),
            SqlType::Struct(fields) => {
                let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
                fields
                    .into_iter()
                    .map(|(_, t)| leaf(t))
                    .collect::<Vec<_>>()
                    .prop_map(move |vs| Value::Struct(names.iter().cloned().zip(vs).collect()))
                    .boxed()
            }
        };
        prop_oneof![1 => Just(Value::Null), 4 => v].boxed()
    }

    fn random_types() -> Vec<SqlType> {
        vec![
            SqlType::Boolean,
            SqlType::Int,
            SqlType::Bigint,
            SqlType::Double,
            SqlType::Decimal(10, 3),
            SqlType::String,
            SqlType::Bytes,
            SqlType::Timestamp,
            SqlType::Date,
            SqlType::Time,
            SqlType::array(SqlType::array(SqlType::String)),
            SqlType::map(SqlType::String, SqlType::Decimal(12, 2)),
            SqlType::Struct(vec![
                ("A".into(), SqlType::array(SqlType::Int)),
                ("B".into(), SqlType::map(SqlType::String, SqlType::Boolean)),
            ]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn random_rows_round_trip(
            batches in prop::collection::vec(
                prop::collection::vec(
                    random_types().into_iter().map(leaf).collect::<Vec<_>>(),
                    0..5,
                ),
                1..3,
            )
        ) {
            let columns: Vec<ResultColumn> = random_types()
                .into_iter()
                .enumerate()
                .map(|(i, t)| ResultColumn::new(format!("C{i}"), t, i == 0))
                .collect();
            let (_, rows) = round_trip(&columns, &batches);
            let expected: Vec<Row> = batches.into_iter().flatten().collect();
            prop_assert_eq!(rows, expected);
        }
    }
}
