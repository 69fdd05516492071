//! Records as processors see them, and how they travel between processors of a task.
//!
//! Processors of one task pass typed keys and values to each other without serializing
//! (as Kafka Streams passes objects): a record is serialized only at a sink and
//! deserialized only at a source. Between nodes the types are erased ([`Erased`]) and a
//! node takes them back with a checked downcast; the DSL wires nodes so the types always
//! match, and a mismatch (a Processor API topology wired wrong) is an error naming the
//! node, never a panic.

use std::any::Any;

pub use brook_protocol::record::Header;

use crate::error::{Result, StreamsError};

/// A record's headers.
pub type Headers = Vec<Header>;

/// What keys and values must be: processors of a task hand them on, so they are owned,
/// sendable and clonable (a record forwarded to several children is cloned for all but
/// the last).
pub trait Data: Clone + Send + 'static {}

impl<T: Clone + Send + 'static> Data for T {}

/// One record: key, value, timestamp (ms since the epoch) and headers (Kafka Streams'
/// `Record`).
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    pub key: K,
    pub value: V,
    pub timestamp: i64,
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record without headers.
    pub fn new(key: K, value: V, timestamp: i64) -> Record<K, V> {
        Record {
            key,
            value,
            timestamp,
            headers: Vec::new(),
        }
    }

    /// The same record with another key.
    pub fn with_key<K2>(self, key: K2) -> Record<K2, V> {
        Record {
            key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another value.
    pub fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(mut self, timestamp: i64) -> Record<K, V> {
        self.timestamp = timestamp;
        self
    }

    /// The same record with a header added.
    pub fn with_header(mut self, key: impl Into<String>, value: Option<&[u8]>) -> Record<K, V> {
        self.headers.push(Header {
            key: key.into(),
            value: value.map(bytes::Bytes::copy_from_slice),
        });
        self
    }
}

/// A key or value with its type erased.
pub(crate) trait AnyData: Send {
    fn clone_box(&self) -> Box<dyn AnyData>;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn type_name(&self) -> &'static str;
}

impl<T: Data> AnyData for T {
    fn clone_box(&self) -> Box<dyn AnyData> {
        Box::new(self.clone())
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// A record between two nodes of a task.
pub(crate) struct Erased {
    pub key: Box<dyn AnyData>,
    pub value: Box<dyn AnyData>,
    pub timestamp: i64,
    pub headers: Headers,
}

impl Clone for Erased {
    fn clone(&self) -> Erased {
        Erased {
            key: self.key.clone_box(),
            value: self.value.clone_box(),
            timestamp: self.timestamp,
            headers: self.headers.clone(),
        }
    }
}

impl Erased {
    pub fn new<K: Data, V: Data>(record: Record<K, V>) -> Erased {
        Erased {
            key: Box::new(record.key),
            value: Box::new(record.value),
            timestamp: record.timestamp,
            headers: record.headers,
        }
    }

    /// The typed record, or an error naming `node` if the types are not `K` and `V`.
    pub fn typed<K: Data, V: Data>(self, node: &str) -> Result<Record<K, V>> {
        let (kt, vt) = (self.key.type_name(), self.value.type_name());
        let mismatch = |what: &str, got: &str, want: &str| {
            StreamsError::Topology(format!(
                "node {node} takes {what}s of type {want} but was given a {got}: its parent \
                 forwards another type"
            ))
        };
        let key = self
            .key
            .into_any()
            .downcast::<K>()
            .map_err(|_| mismatch("key", kt, std::any::type_name::<K>()))?;
        let value = self
            .value
            .into_any()
            .downcast::<V>()
            .map_err(|_| mismatch("value", vt, std::any::type_name::<V>()))?;
        Ok(Record {
            key: *key,
            value: *value,
            timestamp: self.timestamp,
            headers: self.headers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erased_records_come_back_typed_or_fail_clearly() {
        let r = Record::new("k".to_string(), 5i64, 10).with_header("h", Some(b"v"));
        let e = Erased::new(r.clone());
        let back: Record<String, i64> = e.clone().typed("n").unwrap();
        assert_eq!(back, r);
        let err = e.typed::<String, String>("NODE-1").unwrap_err().to_string();
        assert!(err.contains("NODE-1") && err.contains("i64"), "{err}");
    }
}
