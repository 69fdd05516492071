//! The KAFKA format: one column in the encoding of Kafka's standard serializers: INT as 4
//! bytes and BIGINT as 8 bytes big-endian, DOUBLE as 8 bytes of IEEE 754 big-endian, STRING
//! as UTF-8 (bad sequences replaced, as Java's decoder does), BYTES as they are. A NULL
//! value is written as a null field.

use bytes::Bytes;

use super::RowSerde;
use crate::types::SqlType;
use crate::value::{Row, Value};

/// Whether KAFKA can hold a column of `ty`.
pub(crate) fn supports(ty: &SqlType) -> bool {
    matches!(
        ty,
        SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::String | SqlType::Bytes
    )
}

/// A value of `ty` in the KAFKA encoding (`None` for NULL).
pub(crate) fn encode(ty: &SqlType, value: &Value) -> Result<Option<Bytes>, String> {
    Ok(Some(match (ty, value) {
        (_, Value::Null) => return Ok(None),
        (SqlType::Int, Value::Int(i)) => Bytes::copy_from_slice(&i.to_be_bytes()),
        (SqlType::Bigint, Value::Int(_) | Value::Bigint(_)) => {
            Bytes::copy_from_slice(&value.as_i64().unwrap_or(0).to_be_bytes())
        }
        (
            SqlType::Double,
            Value::Int(_) | Value::Bigint(_) | Value::Double(_) | Value::Decimal(_),
        ) => {
            let d = value.as_f64().unwrap_or(f64::NAN);
            Bytes::copy_from_slice(&d.to_bits().to_be_bytes())
        }
        (SqlType::String, Value::String(s)) => Bytes::from(s.clone().into_bytes()),
        (SqlType::Bytes, Value::Bytes(b)) => b.clone(),
        (ty, v) => return Err(format!("cannot write {v:?} as a KAFKA {ty} value")),
    }))
}

fn fixed<const N: usize>(bytes: &[u8], deserializer: &str) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("Size of data received by {deserializer} is not {N}"))
}

/// KAFKA bytes as a value of `ty`.
pub(crate) fn decode(ty: &SqlType, bytes: &[u8]) -> Result<Value, String> {
    Ok(match ty {
        SqlType::Int => Value::Int(i32::from_be_bytes(fixed(bytes, "IntegerDeserializer")?)),
        SqlType::Bigint => Value::Bigint(i64::from_be_bytes(fixed(bytes, "LongDeserializer")?)),
        SqlType::Double => Value::Double(f64::from_bits(u64::from_be_bytes(fixed(
            bytes,
            "DoubleDeserializer",
        )?))),
        SqlType::String => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        SqlType::Bytes => Value::Bytes(Bytes::copy_from_slice(bytes)),
        other => {
            return Err(format!(
                "The 'KAFKA' format does not support type '{other}'"
            ))
        }
    })
}

/// The KAFKA serde for one supported column.
pub(crate) struct KafkaSerde {
    ty: SqlType,
}

impl KafkaSerde {
    /// `ty` must be one [`supports`] accepts (`row_serde` checks).
    pub(crate) fn new(ty: &SqlType) -> KafkaSerde {
        KafkaSerde { ty: ty.clone() }
    }
}

impl RowSerde for KafkaSerde {
    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Bytes>, String> {
        let Some(row) = row else {
            return Ok(None);
        };
        super::check_width(row, 1)?;
        match row.first() {
            Some(v) => encode(&self.ty, v),
            None => Ok(None),
        }
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<Row>, String> {
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        decode(&self.ty, bytes)
            .map(|v| Some(vec![v]))
            .map_err(|e| format!("Error deserializing KAFKA message: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_kafka_serializers() {
        assert_eq!(
            encode(&SqlType::Int, &Value::Int(1))
                .unwrap()
                .unwrap()
                .as_ref(),
            &[0, 0, 0, 1]
        );
        assert_eq!(
            encode(&SqlType::Bigint, &Value::Bigint(-2))
                .unwrap()
                .unwrap()
                .as_ref(),
            &(-2i64).to_be_bytes()
        );
        assert_eq!(
            encode(&SqlType::Double, &Value::Double(1.5))
                .unwrap()
                .unwrap()
                .as_ref(),
            &1.5f64.to_be_bytes()
        );
        assert_eq!(encode(&SqlType::String, &Value::Null).unwrap(), None);
        assert!(encode(&SqlType::Int, &Value::String("x".into())).is_err());
    }

    #[test]
    fn decodes_and_checks_sizes() {
        let int = KafkaSerde::new(&SqlType::Int);
        assert_eq!(
            int.deserialize(Some(&[0, 0, 0, 7])).unwrap(),
            Some(vec![Value::Int(7)])
        );
        assert_eq!(
            int.deserialize(Some(&[0, 7])).unwrap_err(),
            "Error deserializing KAFKA message: Size of data received by IntegerDeserializer is not 4"
        );
        assert!(int.deserialize(Some(&[])).is_err());
        assert_eq!(int.deserialize(None).unwrap(), None);
        let s = KafkaSerde::new(&SqlType::String);
        assert_eq!(
            s.deserialize(Some(b"")).unwrap(),
            Some(vec![Value::String(String::new())])
        );
        assert_eq!(
            s.deserialize(Some(&[b'a', 0xff])).unwrap(),
            Some(vec![Value::String("a\u{fffd}".into())])
        );
        assert_eq!(s.serialize(Some(&[Value::Null])).unwrap(), None);
        let b = KafkaSerde::new(&SqlType::Bytes);
        assert_eq!(
            b.deserialize(Some(&[1, 2])).unwrap(),
            Some(vec![Value::Bytes(Bytes::from_static(&[1, 2]))])
        );
    }
}
