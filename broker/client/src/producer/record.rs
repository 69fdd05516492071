//! What a producer is given to send ([`ProducerRecord`]) and what it reports back once
//! the record is written ([`RecordMetadata`]), named as in Kafka's Java client.

use brook_protocol::record::Header;
use bytes::Bytes;

use super::serializer::{SerdeError, Serializer};

/// A record to send: a topic, optionally a partition (otherwise the partitioner chooses),
/// a key and a value (either may be null), headers, and optionally a timestamp (otherwise
/// the producer's clock at send time).
///
/// `K` and `V` are the application's types, turned into bytes by serializers
/// ([`serialize`](Self::serialize)); the default, [`Bytes`], is what the accumulator
/// takes.
///
/// ```
/// use brook_client::producer::ProducerRecord;
///
/// let r = ProducerRecord::new("orders", "payload")
///     .with_key("order-17")
///     .with_header("trace", Some(&b"abc"[..]))
///     .with_timestamp(1_700_000_000_000);
/// assert_eq!(r.partition, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerRecord<K = Bytes, V = Bytes> {
    pub topic: String,
    /// The partition to write to; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    pub key: Option<K>,
    pub value: Option<V>,
    pub headers: Vec<Header>,
    /// Milliseconds since the epoch (CreateTime); `None` means "now" at send time.
    pub timestamp: Option<i64>,
}

impl<K, V> ProducerRecord<K, V> {
    /// A record of `topic` with `value`, no key, no headers, no partition and no
    /// timestamp.
    pub fn new(topic: impl Into<String>, value: V) -> ProducerRecord<K, V> {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A record of `topic` with a null value (a tombstone once it has a key).
    pub fn tombstone(topic: impl Into<String>) -> ProducerRecord<K, V> {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn with_key(mut self, key: K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sends to `partition` instead of asking the partitioner.
    #[must_use]
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp (milliseconds since the epoch).
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Adds a header (headers may repeat keys; order is kept).
    #[must_use]
    pub fn with_header(mut self, key: impl Into<String>, value: Option<&[u8]>) -> Self {
        self.headers
            .push(Header::new(key, value.map(Bytes::copy_from_slice)));
        self
    }

    /// The same record with key and value turned into bytes by `key_serializer` and
    /// `value_serializer` (null stays null).
    pub fn serialize<KS, VS>(
        self,
        key_serializer: &KS,
        value_serializer: &VS,
    ) -> Result<ProducerRecord<Bytes, Bytes>, SerdeError>
    where
        KS: Serializer<K> + ?Sized,
        VS: Serializer<V> + ?Sized,
    {
        let key = key_serializer.serialize_nullable(&self.topic, self.key.as_ref())?;
        let value = value_serializer.serialize_nullable(&self.topic, self.value.as_ref())?;
        Ok(ProducerRecord {
            topic: self.topic,
            partition: self.partition,
            key,
            value,
            headers: self.headers,
            timestamp: self.timestamp,
        })
    }
}

/// Where a record was written, as the producer's future or callback reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// The record's offset; `-1` when it is not known (`acks=0`).
    pub offset: i64,
    /// The record's CreateTime, or the broker's append time if the topic uses
    /// LogAppendTime.
    pub timestamp: i64,
    /// Size of the serialized key in bytes, `-1` for a null key (as in Java).
    pub serialized_key_size: i32,
    /// Size of the serialized value in bytes, `-1` for a null value.
    pub serialized_value_size: i32,
}

impl RecordMetadata {
    /// Java's convention for a field's size: its length, or `-1` when null.
    pub fn serialized_size(field: Option<&[u8]>) -> i32 {
        field.map_or(-1, |f| i32::try_from(f.len()).unwrap_or(i32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::serializer::{IntegerSerde, JsonSerde, StringSerde, VoidSerde};

    #[test]
    fn builders_fill_fields() {
        let r: ProducerRecord<&str, &str> = ProducerRecord::new("t", "v")
            .with_key("k")
            .with_partition(3)
            .with_timestamp(10)
            .with_header("h", None)
            .with_header("h", Some(b"x"));
        assert_eq!(r.topic, "t");
        assert_eq!((r.partition, r.timestamp), (Some(3), Some(10)));
        assert_eq!((r.key, r.value), (Some("k"), Some("v")));
        assert_eq!(
            r.headers,
            vec![
                Header::new("h", None),
                Header::new("h", Some(Bytes::from_static(b"x")))
            ]
        );
        let t: ProducerRecord = ProducerRecord::tombstone("t").with_key(Bytes::from_static(b"k"));
        assert_eq!(t.value, None);
    }

    #[test]
    fn serialize_key_and_value() {
        let r = ProducerRecord::new("t", 258i32).with_key("k".to_string());
        let b = r.serialize(&StringSerde, &IntegerSerde).unwrap();
        assert_eq!(b.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(b.value.as_deref(), Some(&[0, 0, 1, 2][..]));

        let r: ProducerRecord<(), serde_json::Value> =
            ProducerRecord::new("t", serde_json::json!({"a": 1}));
        let b = r.serialize(&VoidSerde, &JsonSerde).unwrap();
        assert_eq!(b.key, None);
        assert_eq!(b.value.as_deref(), Some(&br#"{"a":1}"#[..]));

        let r: ProducerRecord<(), i32> = ProducerRecord::tombstone("t");
        assert_eq!(r.serialize(&VoidSerde, &IntegerSerde).unwrap().value, None);
    }

    #[test]
    fn sizes_follow_java() {
        assert_eq!(RecordMetadata::serialized_size(None), -1);
        assert_eq!(RecordMetadata::serialized_size(Some(b"")), 0);
        assert_eq!(RecordMetadata::serialized_size(Some(b"abc")), 3);
    }
}
