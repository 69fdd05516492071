//! Turning keys and values into bytes and back, with the encodings of Kafka's Java
//! serializers so that records written here read the same from any other client.
//!
//! | Rust type | serde struct | Java equivalent | bytes |
//! |---|---|---|---|
//! | `Vec<u8>`, `[u8]` | [`ByteArraySerde`] | `ByteArraySerializer` | as is |
//! | [`Bytes`] | [`BytesSerde`] | `BytesSerializer` | as is, no copy |
//! | `String`, `str` | [`StringSerde`] | `StringSerializer` | UTF-8 |
//! | `i16` | [`ShortSerde`] | `ShortSerializer` | 2, big-endian |
//! | `i32` | [`IntegerSerde`] | `IntegerSerializer` | 4, big-endian |
//! | `i64` | [`LongSerde`] | `LongSerializer` | 8, big-endian |
//! | `f32` | [`FloatSerde`] | `FloatSerializer` | 4, big-endian IEEE 754 |
//! | `f64` | [`DoubleSerde`] | `DoubleSerializer` | 8, big-endian IEEE 754 |
//! | `bool` | [`BooleanSerde`] | `BooleanSerializer` | 1: `1` true, `0` false |
//! | `()` | [`VoidSerde`] | `VoidSerializer` | always null |
//! | `T: serde::Serialize` | [`JsonSerde`] | Connect's `JsonSerializer` | JSON text |
//!
//! A null key or value is `None`: [`Serializer::serialize_nullable`] and
//! [`Deserializer::deserialize_nullable`] map it to and from a null record field for
//! every serde, as Java's serializers map `null`. Deserializing never panics: wrong
//! lengths, invalid UTF-8 and malformed JSON are [`SerdeError`]s.

use bytes::Bytes;
use thiserror::Error;

/// Why a key or value could not be serialized or deserialized.
#[derive(Debug, Error)]
pub enum SerdeError {
    /// A fixed-size type was read from the wrong number of bytes.
    #[error("{type_name} needs {expected} bytes, got {actual}")]
    WrongLength {
        type_name: &'static str,
        expected: usize,
        actual: usize,
    },
    /// A string was not valid UTF-8.
    #[error("invalid UTF-8: {0}")]
    InvalidUtf8(#[from] std::str::Utf8Error),
    /// A boolean byte was neither 0 nor 1.
    #[error("a boolean must be the byte 0 or 1, got {0}")]
    InvalidBoolean(u8),
    /// JSON could not be written or read.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// [`VoidSerde`] read a record field that was not null.
    #[error("data should be null for a VoidDeserializer, got {0} bytes")]
    NotNull(usize),
    /// Anything a user-written serde reports.
    #[error("{0}")]
    Custom(String),
}

/// Converts a `T` into the bytes of a record key or value.
///
/// `topic` is the record's topic, for serializers that encode per topic (schema
/// registries); the built-in ones ignore it. `Ok(None)` writes a null field.
pub trait Serializer<T: ?Sized> {
    /// The bytes for `data`, or `None` for a null field.
    fn serialize(&self, topic: &str, data: &T) -> Result<Option<Bytes>, SerdeError>;

    /// Like [`serialize`](Self::serialize), with `None` meaning a null field (Java's
    /// `null`).
    fn serialize_nullable(
        &self,
        topic: &str,
        data: Option<&T>,
    ) -> Result<Option<Bytes>, SerdeError> {
        match data {
            Some(data) => self.serialize(topic, data),
            None => Ok(None),
        }
    }
}

/// Converts the bytes of a record key or value back into a `T`.
pub trait Deserializer<T> {
    /// The value encoded in `data` (a non-null field).
    fn deserialize(&self, topic: &str, data: &[u8]) -> Result<T, SerdeError>;

    /// Like [`deserialize`](Self::deserialize), with a null field read as `None`.
    fn deserialize_nullable(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> Result<Option<T>, SerdeError> {
        data.map(|d| self.deserialize(topic, d)).transpose()
    }
}

impl<T: ?Sized, S: Serializer<T> + ?Sized> Serializer<T> for &S {
    fn serialize(&self, topic: &str, data: &T) -> Result<Option<Bytes>, SerdeError> {
        (**self).serialize(topic, data)
    }
}

impl<T, D: Deserializer<T> + ?Sized> Deserializer<T> for &D {
    fn deserialize(&self, topic: &str, data: &[u8]) -> Result<T, SerdeError> {
        (**self).deserialize(topic, data)
    }
}

/// Raw bytes (`Vec<u8>`, `[u8]`, `&[u8]`), copied as they are (Java's
/// `ByteArraySerializer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteArraySerde;

impl Serializer<[u8]> for ByteArraySerde {
    fn serialize(&self, _topic: &str, data: &[u8]) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(data)))
    }
}

impl Serializer<&[u8]> for ByteArraySerde {
    fn serialize(&self, _topic: &str, data: &&[u8]) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(data)))
    }
}

impl Serializer<Vec<u8>> for ByteArraySerde {
    fn serialize(&self, _topic: &str, data: &Vec<u8>) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(data)))
    }
}

impl Deserializer<Vec<u8>> for ByteArraySerde {
    fn deserialize(&self, _topic: &str, data: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(data.to_vec())
    }
}

/// [`Bytes`] as they are, without copying on the way out (Java's `BytesSerializer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BytesSerde;

impl Serializer<Bytes> for BytesSerde {
    fn serialize(&self, _topic: &str, data: &Bytes) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(data.clone()))
    }
}

impl Deserializer<Bytes> for BytesSerde {
    fn deserialize(&self, _topic: &str, data: &[u8]) -> Result<Bytes, SerdeError> {
        Ok(Bytes::copy_from_slice(data))
    }
}

/// Strings as UTF-8 (Java's `StringSerializer` with its default encoding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StringSerde;

impl Serializer<str> for StringSerde {
    fn serialize(&self, _topic: &str, data: &str) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(data.as_bytes())))
    }
}

impl Serializer<&str> for StringSerde {
    fn serialize(&self, _topic: &str, data: &&str) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(data.as_bytes())))
    }
}

impl Serializer<String> for StringSerde {
    fn serialize(&self, _topic: &str, data: &String) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(data.as_bytes())))
    }
}

impl Deserializer<String> for StringSerde {
    fn deserialize(&self, _topic: &str, data: &[u8]) -> Result<String, SerdeError> {
        Ok(std::str::from_utf8(data)?.to_owned())
    }
}

macro_rules! big_endian_serde {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $len:expr, $java:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;

        impl Serializer<$ty> for $name {
            fn serialize(&self, _topic: &str, data: &$ty) -> Result<Option<Bytes>, SerdeError> {
                Ok(Some(Bytes::copy_from_slice(&data.to_be_bytes())))
            }
        }

        impl Deserializer<$ty> for $name {
            fn deserialize(&self, _topic: &str, data: &[u8]) -> Result<$ty, SerdeError> {
                let bytes: [u8; $len] = data.try_into().map_err(|_| SerdeError::WrongLength {
                    type_name: $java,
                    expected: $len,
                    actual: data.len(),
                })?;
                Ok(<$ty>::from_be_bytes(bytes))
            }
        }
    };
}

big_endian_serde!(
    /// `i16` as 2 big-endian bytes (Java's `ShortSerializer`).
    ShortSerde, i16, 2, "Short"
);
big_endian_serde!(
    /// `i32` as 4 big-endian bytes (Java's `IntegerSerializer`).
    IntegerSerde, i32, 4, "Integer"
);
big_endian_serde!(
    /// `i64` as 8 big-endian bytes (Java's `LongSerializer`).
    LongSerde, i64, 8, "Long"
);
big_endian_serde!(
    /// `f32` as its 4 IEEE 754 bytes, big-endian (Java's `FloatSerializer`, which writes
    /// `Float.floatToRawIntBits`, so NaN payloads are kept).
    FloatSerde, f32, 4, "Float"
);
big_endian_serde!(
    /// `f64` as its 8 IEEE 754 bytes, big-endian (Java's `DoubleSerializer`).
    DoubleSerde, f64, 8, "Double"
);

/// `bool` as one byte, `1` for true and `0` for false (Java's `BooleanSerializer`);
/// any other byte is an error when reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BooleanSerde;

impl Serializer<bool> for BooleanSerde {
    fn serialize(&self, _topic: &str, data: &bool) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::from_static(if *data { &[1] } else { &[0] })))
    }
}

impl Deserializer<bool> for BooleanSerde {
    fn deserialize(&self, _topic: &str, data: &[u8]) -> Result<bool, SerdeError> {
        match data {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(SerdeError::InvalidBoolean(*b)),
            _ => Err(SerdeError::WrongLength {
                type_name: "Boolean",
                expected: 1,
                actual: data.len(),
            }),
        }
    }
}

/// `()` as a null field (Java's `VoidSerializer`): for topics whose keys (or values)
/// are always null. Reading a non-null field is an error, as in Java.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoidSerde;

impl Serializer<()> for VoidSerde {
    fn serialize(&self, _topic: &str, _data: &()) -> Result<Option<Bytes>, SerdeError> {
        Ok(None)
    }
}

impl Deserializer<()> for VoidSerde {
    fn deserialize(&self, _topic: &str, data: &[u8]) -> Result<(), SerdeError> {
        Err(SerdeError::NotNull(data.len()))
    }
}

/// Any `serde` type as compact JSON text (UTF-8), read back with `serde_json`.
///
/// `None` given to [`Serializer::serialize_nullable`] is a null field; a value that
/// serializes to JSON `null` (such as `Option::<T>::None` passed as the value itself) is
/// the four bytes `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonSerde;

impl<T: serde::Serialize + ?Sized> Serializer<T> for JsonSerde {
    fn serialize(&self, _topic: &str, data: &T) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::from(serde_json::to_vec(data)?)))
    }
}

impl<T: serde::de::DeserializeOwned> Deserializer<T> for JsonSerde {
    fn deserialize(&self, _topic: &str, data: &[u8]) -> Result<T, SerdeError> {
        Ok(serde_json::from_slice(data)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    fn ser<T: ?Sized, S: Serializer<T>>(s: S, v: &T) -> Vec<u8> {
        s.serialize("t", v).unwrap().unwrap().to_vec()
    }

    #[test]
    fn bytes_and_strings() {
        assert_eq!(ser(ByteArraySerde, &vec![1u8, 2, 3]), [1, 2, 3]);
        assert_eq!(ser(ByteArraySerde, &[4u8, 5][..]), [4, 5]);
        let slice: &[u8] = b"xy";
        assert_eq!(ser(ByteArraySerde, &slice), b"xy");
        let b = Bytes::from_static(b"shared");
        let out = BytesSerde.serialize("t", &b).unwrap().unwrap();
        assert_eq!(out.as_ptr(), b.as_ptr(), "no copy");
        assert_eq!(ser(StringSerde, "héllo"), "héllo".as_bytes());
        assert_eq!(ser(StringSerde, &"a"), b"a");
        assert_eq!(ser(StringSerde, &String::from("€")), [0xe2, 0x82, 0xac]);
        assert_eq!(
            ser(ByteArraySerde, &Vec::<u8>::new()),
            b"",
            "empty is not null"
        );

        let d: Vec<u8> = ByteArraySerde.deserialize("t", b"raw").unwrap();
        assert_eq!(d, b"raw");
        let d: Bytes = BytesSerde.deserialize("t", b"raw").unwrap();
        assert_eq!(d, Bytes::from_static(b"raw"));
        let s: String = StringSerde.deserialize("t", "é".as_bytes()).unwrap();
        assert_eq!(s, "é");
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let r: Result<String, _> = StringSerde.deserialize("t", &[0x66, 0xff, 0x6f]);
        assert!(matches!(r, Err(SerdeError::InvalidUtf8(_))), "{r:?}");
        let r: Result<String, _> = StringSerde.deserialize("t", &[0xe2, 0x82]);
        assert!(matches!(r, Err(SerdeError::InvalidUtf8(_))));
    }

    #[test]
    fn integers_are_big_endian_like_java() {
        assert_eq!(ser(ShortSerde, &0x0102i16), [1, 2]);
        assert_eq!(ser(ShortSerde, &-1i16), [0xff, 0xff]);
        assert_eq!(ser(IntegerSerde, &1i32), [0, 0, 0, 1]);
        assert_eq!(ser(IntegerSerde, &i32::MIN), [0x80, 0, 0, 0]);
        assert_eq!(
            ser(LongSerde, &0x0102_0304_0506_0708i64),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(
            ser(LongSerde, &-2i64),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
        );
        // Float.floatToRawIntBits(1.0f) = 0x3f800000; Double 1.0 = 0x3ff0000000000000.
        assert_eq!(ser(FloatSerde, &1.0f32), [0x3f, 0x80, 0, 0]);
        assert_eq!(ser(FloatSerde, &-2.5f32), [0xc0, 0x20, 0, 0]);
        assert_eq!(ser(DoubleSerde, &1.0f64), [0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ser(BooleanSerde, &true), [1]);
        assert_eq!(ser(BooleanSerde, &false), [0]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let r: Result<i32, _> = IntegerSerde.deserialize("t", &[0, 1]);
        assert!(matches!(
            r,
            Err(SerdeError::WrongLength {
                type_name: "Integer",
                expected: 4,
                actual: 2
            })
        ));
        let r: Result<i16, _> = ShortSerde.deserialize("t", &[]);
        assert!(matches!(
            r,
            Err(SerdeError::WrongLength {
                expected: 2,
                actual: 0,
                ..
            })
        ));
        let r: Result<i64, _> = LongSerde.deserialize("t", &[0; 9]);
        assert!(matches!(
            r,
            Err(SerdeError::WrongLength {
                expected: 8,
                actual: 9,
                ..
            })
        ));
        let r: Result<f32, _> = FloatSerde.deserialize("t", &[0; 8]);
        assert!(r.is_err());
        let r: Result<f64, _> = DoubleSerde.deserialize("t", &[0; 4]);
        assert!(r.is_err());
        let r: Result<bool, _> = BooleanSerde.deserialize("t", &[2]);
        assert!(matches!(r, Err(SerdeError::InvalidBoolean(2))));
        let r: Result<bool, _> = BooleanSerde.deserialize("t", &[0, 1]);
        assert!(matches!(r, Err(SerdeError::WrongLength { .. })));
        let e = IntegerSerde.deserialize("t", &[0]).unwrap_err();
        assert_eq!(e.to_string(), "Integer needs 4 bytes, got 1");
    }

    #[test]
    fn nulls() {
        assert_eq!(VoidSerde.serialize("t", &()).unwrap(), None);
        assert_eq!(IntegerSerde.serialize_nullable("t", None).unwrap(), None);
        assert_eq!(
            IntegerSerde
                .serialize_nullable("t", Some(&7))
                .unwrap()
                .unwrap()
                .as_ref(),
            &[0, 0, 0, 7]
        );
        let n: Option<i32> = IntegerSerde.deserialize_nullable("t", None).unwrap();
        assert_eq!(n, None);
        let n: Option<i32> = IntegerSerde
            .deserialize_nullable("t", Some(&[0, 0, 1, 0]))
            .unwrap();
        assert_eq!(n, Some(256));
        let v: Option<()> = VoidSerde.deserialize_nullable("t", None).unwrap();
        assert_eq!(v, None);
        let r: Result<Option<()>, _> = VoidSerde.deserialize_nullable("t", Some(b"x"));
        assert!(matches!(r, Err(SerdeError::NotNull(1))));
        let s: Option<String> = StringSerde.deserialize_nullable("t", Some(b"")).unwrap();
        assert_eq!(s.as_deref(), Some(""), "empty is not null");
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct PageView {
        user: String,
        page: u32,
        tags: Vec<String>,
    }

    #[test]
    fn json_round_trip_and_errors() {
        let v = PageView {
            user: "ann".into(),
            page: 3,
            tags: vec!["a".into()],
        };
        let bytes = ser(JsonSerde, &v);
        assert_eq!(bytes, br#"{"user":"ann","page":3,"tags":["a"]}"#);
        let back: PageView = JsonSerde.deserialize("t", &bytes).unwrap();
        assert_eq!(back, v);
        // Through a reference, as producers hold serializers.
        let s = &JsonSerde;
        assert_eq!(ser(s, &[1, 2]), b"[1,2]");
        assert_eq!(ser(JsonSerde, &Option::<u8>::None), b"null");
        assert_eq!(
            JsonSerde
                .serialize_nullable("t", Option::<&u8>::None)
                .unwrap(),
            None
        );

        for bad in [&b"{"[..], b"{\"user\":1}", b"", b"\xff", b"[1,2] trailing"] {
            let r: Result<PageView, _> = JsonSerde.deserialize("t", bad);
            assert!(matches!(r, Err(SerdeError::Json(_))), "{bad:?}: {r:?}");
        }
        // A map with non-string keys cannot be written as JSON.
        let mut m = std::collections::BTreeMap::new();
        m.insert(vec![1u8], 1);
        assert!(matches!(
            JsonSerde.serialize("t", &m),
            Err(SerdeError::Json(_))
        ));
    }

    proptest! {
        #[test]
        fn fixed_width_round_trips(a in any::<i16>(), b in any::<i32>(), c in any::<i64>(), f in any::<u32>(), d in any::<u64>(), t in any::<bool>()) {
            prop_assert_eq!(ShortSerde.deserialize("t", &ser(ShortSerde, &a)).ok(), Some(a));
            prop_assert_eq!(IntegerSerde.deserialize("t", &ser(IntegerSerde, &b)).ok(), Some(b));
            prop_assert_eq!(LongSerde.deserialize("t", &ser(LongSerde, &c)).ok(), Some(c));
            // Bit patterns, so NaNs compare by payload.
            let fv = f32::from_bits(f);
            let back: f32 = FloatSerde.deserialize("t", &ser(FloatSerde, &fv)).unwrap();
            prop_assert_eq!(back.to_bits(), f);
            let dv = f64::from_bits(d);
            let back: f64 = DoubleSerde.deserialize("t", &ser(DoubleSerde, &dv)).unwrap();
            prop_assert_eq!(back.to_bits(), d);
            prop_assert_eq!(BooleanSerde.deserialize("t", &ser(BooleanSerde, &t)).ok(), Some(t));
        }

        #[test]
        fn strings_round_trip(s in ".*") {
            let back: String = StringSerde.deserialize("t", &ser(StringSerde, s.as_str())).unwrap();
            prop_assert_eq!(back, s);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..32)) {
            let _: Result<String, _> = StringSerde.deserialize("t", &data);
            let _: Result<i16, _> = ShortSerde.deserialize("t", &data);
            let _: Result<i32, _> = IntegerSerde.deserialize("t", &data);
            let _: Result<i64, _> = LongSerde.deserialize("t", &data);
            let _: Result<f32, _> = FloatSerde.deserialize("t", &data);
            let _: Result<f64, _> = DoubleSerde.deserialize("t", &data);
            let _: Result<bool, _> = BooleanSerde.deserialize("t", &data);
            let _: Result<serde_json::Value, _> = JsonSerde.deserialize("t", &data);
            let _: Result<PageView, _> = JsonSerde.deserialize("t", &data);
        }
    }
}
