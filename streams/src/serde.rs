//! Serdes: how a stream's keys and values become record bytes and back.
//!
//! A [`Serde<T>`] pairs the encodings of `brook-client`'s serializers (so a record written
//! here reads the same from any Kafka client) with the null rule of a typed stream: a
//! `KStream<String, String>` has no room for a null key, so a null field read as a `String`
//! is a [`SerdeError`], handled by the deserialization error handler like any other bad
//! record. Streams whose keys or values may be null use `Option<T>` with
//! [`Serdes::optional`], or `()` with [`Serdes::void`] for keys that are always null.

use std::marker::PhantomData;
use std::sync::Arc;

use brook_client::producer::serializer::{
    BooleanSerde, ByteArraySerde, DoubleSerde, IntegerSerde, JsonSerde, LongSerde, StringSerde,
};
use brook_client::producer::{Deserializer, Serializer};
use bytes::Bytes;

pub use brook_client::producer::SerdeError;

/// Turns a `T` into a record field and back. `topic` is the record's topic (serdes that
/// encode per topic use it; the built-in ones do not).
pub trait Serde<T>: Send + Sync + 'static {
    /// The field for `data`; `None` writes a null field.
    fn serialize(&self, topic: &str, data: &T) -> Result<Option<Bytes>, SerdeError>;

    /// The value of a field; `None` is a null field.
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError>;
}

/// A shared serde, as the DSL's options hold them.
pub type SerdeRef<T> = Arc<dyn Serde<T>>;

fn null_error(type_name: &str) -> SerdeError {
    SerdeError::Custom(format!(
        "a null field cannot be read as {type_name}; use Serdes::optional for nullable fields"
    ))
}

/// A `brook-client` serializer/deserializer pair as a streams serde: a null field is an
/// error.
struct NonNull<S, T> {
    inner: S,
    type_name: &'static str,
    _t: PhantomData<fn() -> T>,
}

impl<S, T> Serde<T> for NonNull<S, T>
where
    S: Serializer<T> + Deserializer<T> + Send + Sync + 'static,
    T: 'static,
{
    fn serialize(&self, topic: &str, data: &T) -> Result<Option<Bytes>, SerdeError> {
        self.inner.serialize(topic, data)
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        match data {
            Some(d) => self.inner.deserialize(topic, d),
            None => Err(null_error(self.type_name)),
        }
    }
}

/// `Option<T>` over a serde of `T`: `None` is a null field.
struct Optional<T> {
    inner: SerdeRef<T>,
}

impl<T: 'static> Serde<Option<T>> for Optional<T> {
    fn serialize(&self, topic: &str, data: &Option<T>) -> Result<Option<Bytes>, SerdeError> {
        match data {
            Some(d) => self.inner.serialize(topic, d),
            None => Ok(None),
        }
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
        match data {
            Some(d) => self.inner.deserialize(topic, Some(d)).map(Some),
            None => Ok(None),
        }
    }
}

/// `()`: always a null field; a non-null field is ignored (keys of a topic whose keys a
/// stream does not use).
struct Void;

impl Serde<()> for Void {
    fn serialize(&self, _topic: &str, _data: &()) -> Result<Option<Bytes>, SerdeError> {
        Ok(None)
    }

    fn deserialize(&self, _topic: &str, _data: Option<&[u8]>) -> Result<(), SerdeError> {
        Ok(())
    }
}

/// Bytes as they are, without copying on the way out.
struct RawBytes;

impl Serde<Bytes> for RawBytes {
    fn serialize(&self, _topic: &str, data: &Bytes) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(data.clone()))
    }

    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Bytes, SerdeError> {
        data.map(Bytes::copy_from_slice)
            .ok_or_else(|| null_error("Bytes"))
    }
}

/// The built-in serdes, as Kafka Streams' `Serdes` class names them.
pub struct Serdes;

impl Serdes {
    /// UTF-8 strings (Java's `Serdes.String()`).
    pub fn string() -> SerdeRef<String> {
        non_null(StringSerde, "String")
    }

    /// Raw bytes, copied (Java's `Serdes.ByteArray()`).
    pub fn byte_array() -> SerdeRef<Vec<u8>> {
        non_null(ByteArraySerde, "Vec<u8>")
    }

    /// [`Bytes`] (Java's `Serdes.Bytes()`).
    pub fn bytes() -> SerdeRef<Bytes> {
        Arc::new(RawBytes)
    }

    /// 4-byte big-endian integers (Java's `Serdes.Integer()`).
    pub fn i32() -> SerdeRef<i32> {
        non_null(IntegerSerde, "i32")
    }

    /// 8-byte big-endian integers (Java's `Serdes.Long()`).
    pub fn i64() -> SerdeRef<i64> {
        non_null(LongSerde, "i64")
    }

    /// 8-byte IEEE 754 doubles (Java's `Serdes.Double()`).
    pub fn f64() -> SerdeRef<f64> {
        non_null(DoubleSerde, "f64")
    }

    /// One byte, 1 or 0 (Java's `Serdes.Boolean()`).
    pub fn bool() -> SerdeRef<bool> {
        non_null(BooleanSerde, "bool")
    }

    /// JSON text of any serde type.
    pub fn json<T>() -> SerdeRef<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        non_null(JsonSerde, std::any::type_name::<T>())
    }

    /// Always null (Java's `Serdes.Void()`), for keys a stream does not use.
    pub fn void() -> SerdeRef<()> {
        Arc::new(Void)
    }

    /// `Option<T>`: `None` is a null field, `Some` is `inner`'s encoding.
    pub fn optional<T: 'static>(inner: SerdeRef<T>) -> SerdeRef<Option<T>> {
        Arc::new(Optional { inner })
    }
}

fn non_null<S, T>(inner: S, type_name: &'static str) -> SerdeRef<T>
where
    S: Serializer<T> + Deserializer<T> + Send + Sync + 'static,
    T: 'static,
{
    Arc::new(NonNull {
        inner,
        type_name,
        _t: PhantomData,
    })
}

/// The serde a type uses when an operation is given none (Kafka Streams' default serdes,
/// picked by type here rather than by configuration).
pub trait DefaultSerde: Sized + 'static {
    fn default_serde() -> SerdeRef<Self>;
}

impl DefaultSerde for String {
    fn default_serde() -> SerdeRef<String> {
        Serdes::string()
    }
}

impl DefaultSerde for Vec<u8> {
    fn default_serde() -> SerdeRef<Vec<u8>> {
        Serdes::byte_array()
    }
}

impl DefaultSerde for Bytes {
    fn default_serde() -> SerdeRef<Bytes> {
        Serdes::bytes()
    }
}

impl DefaultSerde for i32 {
    fn default_serde() -> SerdeRef<i32> {
        Serdes::i32()
    }
}

impl DefaultSerde for i64 {
    fn default_serde() -> SerdeRef<i64> {
        Serdes::i64()
    }
}

impl DefaultSerde for f64 {
    fn default_serde() -> SerdeRef<f64> {
        Serdes::f64()
    }
}

impl DefaultSerde for bool {
    fn default_serde() -> SerdeRef<bool> {
        Serdes::bool()
    }
}

impl DefaultSerde for () {
    fn default_serde() -> SerdeRef<()> {
        Serdes::void()
    }
}

impl<T: DefaultSerde> DefaultSerde for Option<T> {
    fn default_serde() -> SerdeRef<Option<T>> {
        Serdes::optional(T::default_serde())
    }
}

/// The serde the DSL uses for `T` when an operation is given none: that of
/// [`DefaultSerde`] for the built-in types (and `Option`s of them), `None` for any other
/// type, which then needs a serde given to the operation.
pub fn default_serde<T: 'static>() -> Option<SerdeRef<T>> {
    use std::any::{Any, TypeId};
    fn pick<T: 'static, D: DefaultSerde>() -> Option<Box<dyn Any>> {
        (TypeId::of::<T>() == TypeId::of::<D>())
            .then(|| Box::new(D::default_serde()) as Box<dyn Any>)
    }
    let found = pick::<T, String>()
        .or_else(pick::<T, Vec<u8>>)
        .or_else(pick::<T, Bytes>)
        .or_else(pick::<T, i32>)
        .or_else(pick::<T, i64>)
        .or_else(pick::<T, f64>)
        .or_else(pick::<T, bool>)
        .or_else(pick::<T, ()>)
        .or_else(pick::<T, Option<String>>)
        .or_else(pick::<T, Option<Vec<u8>>>)
        .or_else(pick::<T, Option<Bytes>>)
        .or_else(pick::<T, Option<i32>>)
        .or_else(pick::<T, Option<i64>>)
        .or_else(pick::<T, Option<f64>>)
        .or_else(pick::<T, Option<bool>>)?;
    found.downcast::<SerdeRef<T>>().ok().map(|b| *b)
}

/// A serde standing in for one that is missing (the builder has recorded the error, and
/// `build()` fails before it could be used).
pub(crate) fn missing_serde<T: 'static>() -> SerdeRef<T> {
    struct Missing;
    impl<T: 'static> Serde<T> for Missing {
        fn serialize(&self, _: &str, _: &T) -> Result<Option<Bytes>, SerdeError> {
            Err(SerdeError::Custom("no serde was given".into()))
        }
        fn deserialize(&self, _: &str, _: Option<&[u8]>) -> Result<T, SerdeError> {
            Err(SerdeError::Custom("no serde was given".into()))
        }
    }
    Arc::new(Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_fields_follow_the_type() {
        let s = Serdes::string();
        assert!(s.deserialize("t", None).is_err());
        assert_eq!(s.deserialize("t", Some(b"hi")).unwrap(), "hi");
        let o = Serdes::optional(Serdes::string());
        assert_eq!(o.deserialize("t", None).unwrap(), None);
        assert_eq!(o.serialize("t", &None).unwrap(), None);
        assert_eq!(
            o.serialize("t", &Some("x".into())).unwrap().as_deref(),
            Some(&b"x"[..])
        );
        Serdes::void().deserialize("t", Some(b"k")).unwrap();
        assert!(Serdes::i64().deserialize("t", Some(b"abc")).is_err());
        assert_eq!(
            Serdes::i64()
                .deserialize("t", Some(&7i64.to_be_bytes()))
                .unwrap(),
            7
        );
    }

    #[test]
    fn defaults_by_type() {
        assert!(default_serde::<String>().is_some());
        let o = default_serde::<Option<i64>>().unwrap();
        assert_eq!(o.deserialize("t", None).unwrap(), None);
        assert!(default_serde::<Vec<u32>>().is_none());
    }

    #[test]
    fn json_round_trips_and_rejects_garbage() {
        let s = Serdes::json::<Vec<u32>>();
        let b = s.serialize("t", &vec![1, 2]).unwrap().unwrap();
        assert_eq!(&b[..], b"[1,2]");
        assert_eq!(s.deserialize("t", Some(&b)).unwrap(), vec![1, 2]);
        assert!(s.deserialize("t", Some(b"{")).is_err());
    }
}
