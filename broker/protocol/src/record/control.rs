//! Control records: the transaction markers a transaction coordinator has the partition
//! leaders write (in batches with the control attribute set) when a transaction commits or
//! aborts.
//!
//! Key: version int16 (0) and type int16 (0 ABORT, 1 COMMIT). Value (an
//! `EndTransactionMarker`): version int16 (0) and coordinator epoch int32.

use super::{Record, RecordError};

/// What a transaction marker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    Abort,
    Commit,
}

impl ControlRecordType {
    /// The wire id: 0 ABORT, 1 COMMIT.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
        }
    }

    /// The type with wire id `id`. Other ids (KRaft's leader-change and snapshot records)
    /// never appear in a partition's log and are errors here.
    pub fn from_id(id: i16) -> Result<ControlRecordType, RecordError> {
        match id {
            0 => Ok(ControlRecordType::Abort),
            1 => Ok(ControlRecordType::Commit),
            _ => Err(RecordError::BadControlRecord("unknown control record type")),
        }
    }

    /// Reads the type from a control record's key (version int16, type int16). Longer keys
    /// (a future version) are accepted; only the fields known here are read.
    pub fn from_key(key: &[u8]) -> Result<ControlRecordType, RecordError> {
        let Some(&[v0, v1, t0, t1]) = key.first_chunk::<4>() else {
            return Err(RecordError::BadControlRecord("key shorter than 4 bytes"));
        };
        if i16::from_be_bytes([v0, v1]) < 0 {
            return Err(RecordError::BadControlRecord("negative key version"));
        }
        ControlRecordType::from_id(i16::from_be_bytes([t0, t1]))
    }
}

/// A transaction marker: its type and the epoch of the coordinator that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecord {
    pub kind: ControlRecordType,
    pub coordinator_epoch: i32,
}

impl ControlRecord {
    /// The key and value version this codec writes.
    pub const VERSION: i16 = 0;

    /// The record key: version 0 and the type.
    pub fn key_bytes(&self) -> [u8; 4] {
        let [v0, v1] = Self::VERSION.to_be_bytes();
        let [t0, t1] = self.kind.id().to_be_bytes();
        [v0, v1, t0, t1]
    }

    /// The record value: version 0 and the coordinator epoch.
    pub fn value_bytes(&self) -> [u8; 6] {
        let [v0, v1] = Self::VERSION.to_be_bytes();
        let [e0, e1, e2, e3] = self.coordinator_epoch.to_be_bytes();
        [v0, v1, e0, e1, e2, e3]
    }

    /// Decodes a marker from a control record's key and value. Like Kafka, accepts newer
    /// versions with extra trailing fields and reads the fields known here.
    pub fn decode(key: &[u8], value: &[u8]) -> Result<ControlRecord, RecordError> {
        let kind = ControlRecordType::from_key(key)?;
        let Some(&[v0, v1, e0, e1, e2, e3]) = value.first_chunk::<6>() else {
            return Err(RecordError::BadControlRecord("value shorter than 6 bytes"));
        };
        if i16::from_be_bytes([v0, v1]) < 0 {
            return Err(RecordError::BadControlRecord("negative value version"));
        }
        Ok(ControlRecord {
            kind,
            coordinator_epoch: i32::from_be_bytes([e0, e1, e2, e3]),
        })
    }

    /// Decodes a marker from a record of a control batch.
    pub fn from_record(record: &Record) -> Result<ControlRecord, RecordError> {
        let key = record
            .key
            .as_deref()
            .ok_or(RecordError::BadControlRecord("null key"))?;
        let value = record
            .value
            .as_deref()
            .ok_or(RecordError::BadControlRecord("null value"))?;
        ControlRecord::decode(key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for kind in [ControlRecordType::Abort, ControlRecordType::Commit] {
            for coordinator_epoch in [0, 1, -1, i32::MAX] {
                let marker = ControlRecord {
                    kind,
                    coordinator_epoch,
                };
                let (key, value) = (marker.key_bytes(), marker.value_bytes());
                assert_eq!(ControlRecord::decode(&key, &value), Ok(marker));
                assert_eq!(ControlRecordType::from_key(&key), Ok(kind));
                assert_eq!(ControlRecordType::from_id(kind.id()), Ok(kind));
            }
        }
    }

    #[test]
    fn wire_bytes() {
        let commit = ControlRecord {
            kind: ControlRecordType::Commit,
            coordinator_epoch: 258,
        };
        assert_eq!(commit.key_bytes(), [0, 0, 0, 1]);
        assert_eq!(commit.value_bytes(), [0, 0, 0, 0, 1, 2]);
        let abort = ControlRecord {
            kind: ControlRecordType::Abort,
            coordinator_epoch: 0,
        };
        assert_eq!(abort.key_bytes(), [0, 0, 0, 0]);
    }

    #[test]
    fn errors() {
        let value = [0, 0, 0, 0, 0, 1];
        assert!(ControlRecord::decode(&[0, 0, 0], &value).is_err());
        assert!(ControlRecord::decode(&[0, 0, 0, 2], &value).is_err());
        assert!(ControlRecord::decode(&[0xff, 0xff, 0, 1], &value).is_err());
        assert!(ControlRecord::decode(&[0, 0, 0, 1], &value[..5]).is_err());
        assert!(ControlRecord::decode(&[0, 0, 0, 1], &[0x80, 0, 0, 0, 0, 1]).is_err());
        // Newer versions with extra fields are read as far as we know them.
        assert_eq!(
            ControlRecord::decode(&[0, 1, 0, 1, 9], &[0, 1, 0, 0, 0, 7, 9, 9]),
            Ok(ControlRecord {
                kind: ControlRecordType::Commit,
                coordinator_epoch: 7
            })
        );
        let record = Record {
            attributes: 0,
            timestamp_delta: 0,
            offset_delta: 0,
            key: None,
            value: None,
            headers: vec![],
        };
        assert!(ControlRecord::from_record(&record).is_err());
    }
}
