//! Kafka's `__consumer_offsets` record formats for committed offsets: OffsetCommit key
//! version 1 (group, topic, partition) and value version 3 (offset, leader epoch, metadata,
//! commit timestamp). Big-endian, `int16`-length strings, as Kafka writes them.

/// A decoded OffsetCommit key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

/// A decoded OffsetCommit value (version 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len as usize]);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.i16()?).ok()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

impl OffsetKey {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = 1i16.to_be_bytes().to_vec();
        put_str(&mut out, &self.group);
        put_str(&mut out, &self.topic);
        out.extend_from_slice(&self.partition.to_be_bytes());
        out
    }

    /// `None` for anything that is not an OffsetCommit key (versions 0 and 1 share a layout).
    pub fn decode(bytes: &[u8]) -> Option<OffsetKey> {
        let mut r = Reader(bytes);
        if !matches!(r.i16()?, 0 | 1) {
            return None;
        }
        Some(OffsetKey {
            group: r.string()?,
            topic: r.string()?,
            partition: r.i32()?,
        })
    }
}

impl OffsetValue {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = 3i16.to_be_bytes().to_vec();
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.leader_epoch.to_be_bytes());
        put_str(&mut out, &self.metadata);
        out.extend_from_slice(&self.commit_timestamp.to_be_bytes());
        out
    }

    /// Decodes value version 3; `None` for other versions or truncated input.
    pub fn decode(bytes: &[u8]) -> Option<OffsetValue> {
        let mut r = Reader(bytes);
        if r.i16()? != 3 {
            return None;
        }
        Some(OffsetValue {
            offset: r.i64()?,
            leader_epoch: r.i32()?,
            metadata: r.string()?,
            commit_timestamp: r.i64()?,
        })
    }
}

/// The GroupMetadata key (version 2): just the group id. Its value (version 3, members and
/// assignments) is not written yet.
pub fn encode_group_key(group: &str) -> Vec<u8> {
    let mut out = 2i16.to_be_bytes().to_vec();
    put_str(&mut out, group);
    out
}

/// The group id of a GroupMetadata key; `None` for any other key.
pub fn decode_group_key(bytes: &[u8]) -> Option<String> {
    let mut r = Reader(bytes);
    if r.i16()? != 2 {
        return None;
    }
    r.string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let k = OffsetKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let kb = k.encode();
        assert_eq!(kb, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(OffsetKey::decode(&kb), Some(k));
        let v = OffsetValue {
            offset: 42,
            leader_epoch: -1,
            metadata: "m".into(),
            commit_timestamp: 7,
        };
        let vb = v.encode();
        assert_eq!(OffsetValue::decode(&vb), Some(v));
        for n in 0..vb.len() {
            assert_eq!(OffsetValue::decode(&vb[..n]), None);
        }
        for n in 0..kb.len() {
            assert_eq!(OffsetKey::decode(&kb[..n]), None);
        }
        assert_eq!(OffsetKey::decode(&[0, 2, 0, 0]), None);
        assert_eq!(
            decode_group_key(&encode_group_key("grp")).as_deref(),
            Some("grp")
        );
        assert_eq!(decode_group_key(&kb), None);
    }
}
