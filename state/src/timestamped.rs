//! Timestamped values, as a `KTable`'s store holds them: Kafka Streams'
//! `ValueAndTimestamp`, stored as the timestamp (8 bytes, big-endian) followed by the value,
//! the layout of Kafka Streams' timestamped stores, so a store's bytes mean the same here.

use crate::error::StoreError;

/// A value and the timestamp of the record that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueAndTimestamp {
    pub value: Vec<u8>,
    /// ms since the epoch.
    pub timestamp: i64,
}

impl ValueAndTimestamp {
    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.value.len());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.value);
        out
    }

    /// Reads stored bytes of `store`; fewer than 8 bytes are a corrupt entry.
    pub fn decode(store: &str, bytes: &[u8]) -> Result<ValueAndTimestamp, StoreError> {
        let Some((ts, value)) = bytes.split_first_chunk::<8>() else {
            return Err(StoreError::Corrupt {
                store: store.to_owned(),
                reason: format!(
                    "a timestamped value of {} byte(s), shorter than its 8-byte timestamp",
                    bytes.len()
                ),
            });
        };
        Ok(ValueAndTimestamp {
            value: value.to_vec(),
            timestamp: i64::from_be_bytes(*ts),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InMemoryKeyValueStore, KeyValueStore};

    #[test]
    fn round_trip_through_a_store_and_corruption() {
        let mut s = InMemoryKeyValueStore::new("table");
        let v = ValueAndTimestamp {
            value: b"alice".to_vec(),
            timestamp: 1_700_000_000_000,
        };
        s.put(b"k", &v.encode()).unwrap();
        let back = ValueAndTimestamp::decode("table", &s.get(b"k").unwrap().unwrap()).unwrap();
        assert_eq!(back, v);
        assert_eq!(&v.encode()[..8], &1_700_000_000_000i64.to_be_bytes());
        let e = ValueAndTimestamp::decode("table", &[1, 2, 3]).unwrap_err();
        assert!(
            e.to_string().contains("table") && e.to_string().contains("3 byte"),
            "{e}"
        );
        assert_eq!(
            ValueAndTimestamp::decode("t", &[0; 8]).unwrap(),
            ValueAndTimestamp {
                value: vec![],
                timestamp: 0
            }
        );
    }
}
