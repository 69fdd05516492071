//! NULL handling (COALESCE, IFNULL, NULLIF), AS_VALUE, UUID, and the random source RANDOM
//! and UUID use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use crate::functions::{FunctionRegistry, ScalarUdf};
use crate::types::SqlType;
use crate::value::Value;

use super::conv;
use super::sig::{generic, p, ret, ret_generic, ParamType as P, Udf, Variant};

static STATE: AtomicU64 = AtomicU64::new(0);

/// 64 random bits: SplitMix64 over a process-wide counter seeded from the clock. Not
/// cryptographic; good enough for RANDOM() and UUID().
pub fn random_u64() -> u64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    if STATE.load(Ordering::Relaxed) == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(GOLDEN);
        let _ = STATE.compare_exchange(0, nanos | 1, Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut z = STATE
        .fetch_add(GOLDEN, Ordering::Relaxed)
        .wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniformly distributed DOUBLE in [0, 1).
pub fn random_f64() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random (version 4) UUID in its canonical text form.
pub fn uuid_v4() -> String {
    let hi = (random_u64() & !0xF000) | 0x4000;
    let lo = (random_u64() & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// Registers COALESCE, IFNULL, NULLIF, AS_VALUE and UUID.
pub fn register(r: &mut FunctionRegistry) {
    r.register_scalar(
        Udf::new("COALESCE", "Returns first non-null element")
            .variant(
                Variant::new(
                    vec![p("first", generic("T")), p("others", generic("T"))],
                    ret_generic(generic("T")),
                )
                .variadic()
                .handles_nulls()
                .eval(|a| {
                    Ok(a.iter()
                        .find(|v| !v.is_null())
                        .cloned()
                        .unwrap_or(Value::Null))
                }),
            )
            .shared(),
    );
    r.register_scalar(
        Udf::new(
            "IFNULL",
            "Returns expression if not NULL, otherwise the alternative value.",
        )
        .variant(
            Variant::new(
                vec![p("expression", generic("T")), p("altValue", generic("T"))],
                ret_generic(generic("T")),
            )
            .handles_nulls()
            .eval(|a| {
                Ok(if a[0].is_null() {
                    a[1].clone()
                } else {
                    a[0].clone()
                })
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "NULLIF",
            "Returns NULL if value1 and value2 are equal. Otherwise it returns value1.",
        )
        .variant(
            Variant::new(
                vec![p("expr1", generic("T")), p("expr2", generic("T"))],
                ret_generic(generic("T")),
            )
            .handles_nulls()
            .eval(|a| {
                Ok(if a[0].is_null() || a[0] == a[1] {
                    Value::Null
                } else {
                    a[0].clone()
                })
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "AS_VALUE",
            "Used exclusively in the projection of a query to allow a key column to be copied \
             into the value schema. Has no effect if used anywhere else.",
        )
        .variant(
            Variant::new(vec![p("key", generic("T"))], ret_generic(generic("T")))
                .handles_nulls()
                .eval(|a| Ok(a[0].clone())),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "UUID",
            "Create a Universally Unique Identifier (UUID) generated according to RFC 4122: a \
             random (version 4) UUID, or the UUID of 16 bytes.",
        )
        .variant(Variant::new(vec![], ret(SqlType::String)).eval(|_| Ok(Value::String(uuid_v4()))))
        .variant(
            Variant::new(vec![p("bytes", P::Bytes)], ret(SqlType::String)).eval(|a| {
                let b = conv::bytes(&a[0])?;
                if b.len() != 16 {
                    return Ok(Value::Null);
                }
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                Ok(Value::String(format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                )))
            }),
        )
        .shared(),
    );
    r.register_scalar(from_bytes_udf(
        "INT_FROM_BYTES",
        "Converts a BYTES value to an INT.",
        SqlType::Int,
        4,
        |b| Value::Int(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
    ));
    r.register_scalar(from_bytes_udf(
        "BIGINT_FROM_BYTES",
        "Converts a BYTES value to a BIGINT.",
        SqlType::Bigint,
        8,
        |b| Value::Bigint(i64::from_be_bytes(eight(b))),
    ));
    r.register_scalar(from_bytes_udf(
        "DOUBLE_FROM_BYTES",
        "Converts a BYTES value to a DOUBLE.",
        SqlType::Double,
        8,
        |b| Value::Double(f64::from_be_bytes(eight(b))),
    ));
    r.register_scalar(
        Udf::new(
            "INT_FROM_BOOLEAN",
            "Converts a BOOLEAN value to an INT: 1 for true, 0 for false.",
        )
        .variant(
            Variant::new(vec![p("bool", P::Boolean)], ret(SqlType::Int))
                .eval(|a| Ok(Value::Int(i32::from(conv::boolean(&a[0])?)))),
        )
        .shared(),
    );
}

/// The first eight bytes (the caller checked the length).
fn eight(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    for (dst, src) in a.iter_mut().zip(b) {
        *dst = *src;
    }
    a
}

/// INT_FROM_BYTES and friends: exactly `size` bytes, big-endian unless a byte order
/// (`BIG_ENDIAN`, `LITTLE_ENDIAN`) is given.
fn from_bytes_udf(
    name: &str,
    description: &str,
    ty: SqlType,
    size: usize,
    read_be: fn(&[u8]) -> Value,
) -> Arc<dyn ScalarUdf> {
    let convert = move |a: &[Value]| -> Result<Value, String> {
        let b = conv::bytes(&a[0])?;
        if b.len() != size {
            return Err(format!(
                "Number of bytes must be equal to {size}, but found {}",
                b.len()
            ));
        }
        let little = match a.get(1) {
            None => false,
            Some(v) => match conv::text(v)?.to_ascii_uppercase().as_str() {
                "BIG_ENDIAN" => false,
                "LITTLE_ENDIAN" => true,
                other => {
                    return Err(format!(
                        "Byte order must be BIG_ENDIAN or LITTLE_ENDIAN. Unknown byte order \
                         '{other}'."
                    ))
                }
            },
        };
        if little {
            let reversed: Vec<u8> = b.iter().rev().copied().collect();
            Ok(read_be(&reversed))
        } else {
            Ok(read_be(b))
        }
    };
    Udf::new(name, description)
        .error_name(&name.to_ascii_lowercase())
        .variant(Variant::new(vec![p("value", P::Bytes)], ret(ty.clone())).eval(convert))
        .variant(
            Variant::new(
                vec![p("value", P::Bytes), p("byteOrder", P::String)],
                ret(ty),
            )
            .eval(convert),
        )
        .shared()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{call, lit, null, reg, ret_type, typed};
    use super::*;

    #[test]
    fn coalesce_and_ifnull_pick_the_first_non_null() {
        let r = reg();
        let args = [
            typed(SqlType::Int),
            typed(SqlType::Int),
            typed(SqlType::Int),
        ];
        assert_eq!(
            call(
                &r,
                "COALESCE",
                &args,
                &[Value::Null, Value::Int(2), Value::Int(3)]
            ),
            Ok(Value::Int(2))
        );
        assert!(r.scalar("COALESCE").unwrap().bind(&[]).is_err());
        let arr = SqlType::array(SqlType::Int);
        assert_eq!(
            ret_type(&r, "IFNULL", &[typed(arr.clone()), typed(arr.clone())]),
            Ok(arr)
        );
        assert_eq!(
            call(
                &r,
                "IFNULL",
                &[typed(SqlType::String), lit(Value::String("x".into()))],
                &[Value::Null, Value::String("x".into())]
            ),
            Ok(Value::String("x".into()))
        );
        // A widening unification: IFNULL(INT, BIGINT) is BIGINT.
        assert_eq!(
            call(
                &r,
                "IFNULL",
                &[typed(SqlType::Int), typed(SqlType::Bigint)],
                &[Value::Int(1), Value::Bigint(5)]
            ),
            Ok(Value::Bigint(1))
        );
        assert!(r.scalar("IFNULL").unwrap().bind(&[null(), null()]).is_err());
    }

    #[test]
    fn nullif_compares_whole_values() {
        let r = reg();
        let arr = SqlType::array(SqlType::Int);
        let a = Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]);
        assert_eq!(
            call(
                &r,
                "NULLIF",
                &[typed(arr.clone()), typed(arr.clone())],
                &[a.clone(), a.clone()]
            ),
            Ok(Value::Null)
        );
        assert_eq!(
            call(
                &r,
                "NULLIF",
                &[typed(SqlType::String), typed(SqlType::String)],
                &[Value::String("X".into()), Value::String("x".into())]
            ),
            Ok(Value::String("X".into()))
        );
    }

    #[test]
    fn conversions_from_bytes() {
        let r = reg();
        let b = |v: &[u8]| Value::Bytes(bytes::Bytes::copy_from_slice(v));
        let one = |name: &str, v: Value| call(&r, name, &[typed(SqlType::Bytes)], &[v]);
        assert_eq!(one("INT_FROM_BYTES", b(&[0, 0, 1, 0])), Ok(Value::Int(256)));
        assert!(one("INT_FROM_BYTES", b(&[0, 1, 0])).is_err());
        assert_eq!(
            call(
                &r,
                "INT_FROM_BYTES",
                &[typed(SqlType::Bytes), typed(SqlType::String)],
                &[b(&[0, 1, 0, 0]), Value::String("little_endian".into())]
            ),
            Ok(Value::Int(256))
        );
        assert_eq!(
            one("BIGINT_FROM_BYTES", b(&[0, 0, 0, 0, 0, 0, 0, 7])),
            Ok(Value::Bigint(7))
        );
        assert_eq!(
            one("DOUBLE_FROM_BYTES", b(&1.5f64.to_be_bytes())),
            Ok(Value::Double(1.5))
        );
        assert_eq!(
            call(
                &r,
                "INT_FROM_BOOLEAN",
                &[typed(SqlType::Boolean)],
                &[Value::Boolean(true)]
            ),
            Ok(Value::Int(1))
        );
        let id: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            one("UUID", b(&id)),
            Ok(Value::String("00010203-0405-0607-0809-0a0b0c0d0e0f".into()))
        );
        assert_eq!(one("UUID", b(&[1, 2])), Ok(Value::Null));
    }

    #[test]
    fn uuids_are_version_4() {
        let a = uuid_v4();
        let b = uuid_v4();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }
}
