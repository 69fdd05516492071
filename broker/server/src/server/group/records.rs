//! Kafka's `__consumer_offsets` record formats, so the topic stays readable by Kafka
//! tooling: OffsetCommit key version 1 (group, topic, partition) with value version 3
//! (offset, leader epoch, metadata, commit timestamp), and GroupMetadata key version 2 (the
//! group id) with value version 3 (generation, protocol, leader, members). Big-endian,
//! `int16`-length strings and `int32`-length bytes, as Kafka writes them. Decoding is total.
//!
//! Also the consumer protocol's subscription (the member metadata of protocol type
//! `consumer`), of which the coordinator reads only the topic names (for OffsetDelete).

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
    /// An explicit expiry (OffsetCommit v2-v4 `retention_time_ms`): written as value
    /// version 1, the only one that has the field, as Kafka does.
    pub expire_timestamp: Option<i64>,
}

/// The longest string an `int16` length can carry.
pub const MAX_STRING: usize = i16::MAX as usize;

/// Writes an `int16`-length string. Longer strings (the coordinator refuses group ids that
/// long; a client id can come close) are cut at a character boundary, so the record still
/// decodes.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut len = s.len().min(MAX_STRING);
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    out.extend_from_slice(&(len as i16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len]);
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&(-1i16).to_be_bytes()),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
    out.extend_from_slice(b);
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
    /// A nullable string: `Some(None)` for length -1.
    fn opt_string(&mut self) -> Option<Option<String>> {
        let len = self.i16()?;
        if len == -1 {
            return Some(None);
        }
        let len = usize::try_from(len).ok()?;
        Some(Some(String::from_utf8(self.take(len)?.to_vec()).ok()?))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = usize::try_from(self.i32()?).ok()?;
        Some(self.take(len)?.to_vec())
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
    /// Version 3, or version 1 when there is an explicit expiry.
    pub fn encode(&self) -> Vec<u8> {
        if let Some(expire) = self.expire_timestamp {
            let mut out = 1i16.to_be_bytes().to_vec();
            out.extend_from_slice(&self.offset.to_be_bytes());
            put_str(&mut out, &self.metadata);
            out.extend_from_slice(&self.commit_timestamp.to_be_bytes());
            out.extend_from_slice(&expire.to_be_bytes());
            return out;
        }
        let mut out = 3i16.to_be_bytes().to_vec();
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.leader_epoch.to_be_bytes());
        put_str(&mut out, &self.metadata);
        out.extend_from_slice(&self.commit_timestamp.to_be_bytes());
        out
    }

    /// Decodes value versions 0 to 3 (Kafka's layouts); `None` for other versions,
    /// truncated input or trailing bytes.
    pub fn decode(bytes: &[u8]) -> Option<OffsetValue> {
        let mut r = Reader(bytes);
        let version = r.i16()?;
        let offset = r.i64()?;
        let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
        let v = match version {
            0..=3 => OffsetValue {
                offset,
                leader_epoch,
                metadata: r.string()?,
                commit_timestamp: r.i64()?,
                expire_timestamp: if version == 1 { Some(r.i64()?) } else { None },
            },
            _ => return None,
        };
        r.0.is_empty().then_some(v)
    }
}

/// The GroupMetadata key (version 2): just the group id.
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

/// One member in a GroupMetadata value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberRecord {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A GroupMetadata value (version 3): the group as of its last completed rebalance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupRecord {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberRecord>,
}

impl GroupRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = 3i16.to_be_bytes().to_vec();
        put_str(&mut out, &self.protocol_type);
        out.extend_from_slice(&self.generation.to_be_bytes());
        put_opt_str(&mut out, self.protocol.as_deref());
        put_opt_str(&mut out, self.leader.as_deref());
        out.extend_from_slice(&self.current_state_timestamp.to_be_bytes());
        out.extend_from_slice(&(self.members.len() as i32).to_be_bytes());
        for m in &self.members {
            put_str(&mut out, &m.member_id);
            put_opt_str(&mut out, m.group_instance_id.as_deref());
            put_str(&mut out, &m.client_id);
            put_str(&mut out, &m.client_host);
            out.extend_from_slice(&m.rebalance_timeout_ms.to_be_bytes());
            out.extend_from_slice(&m.session_timeout_ms.to_be_bytes());
            put_bytes(&mut out, &m.subscription);
            put_bytes(&mut out, &m.assignment);
        }
        out
    }

    /// Decodes value versions 0 to 3 (Kafka's layouts, each adding fields); `None` for
    /// anything else, truncated input or trailing bytes.
    pub fn decode(bytes: &[u8]) -> Option<GroupRecord> {
        let mut r = Reader(bytes);
        let version = r.i16()?;
        if !(0..=3).contains(&version) {
            return None;
        }
        let mut g = GroupRecord {
            protocol_type: r.string()?,
            generation: r.i32()?,
            protocol: r.opt_string()?,
            leader: r.opt_string()?,
            current_state_timestamp: -1,
            members: Vec::new(),
        };
        if version >= 2 {
            g.current_state_timestamp = r.i64()?;
        }
        let count = r.i32()?;
        for _ in 0..count.max(0) {
            let member_id = r.string()?;
            let group_instance_id = if version >= 3 { r.opt_string()? } else { None };
            let client_id = r.string()?;
            let client_host = r.string()?;
            let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
            let session_timeout_ms = r.i32()?;
            // Each member takes at least its fixed fields, so a hostile count runs out of
            // input long before it could allocate much.
            g.members.push(MemberRecord {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms: if version >= 1 {
                    rebalance_timeout_ms
                } else {
                    session_timeout_ms
                },
                session_timeout_ms,
                subscription: r.bytes()?,
                assignment: r.bytes()?,
            });
        }
        r.0.is_empty().then_some(g)
    }
}

/// The topics of a consumer-protocol subscription (`ConsumerProtocolSubscription`, any
/// version: they all start with the topic array). `None` if it does not parse.
pub fn subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader(metadata);
    r.i16()?;
    let count = r.i32()?;
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        topics.push(r.string()?);
    }
    Some(topics)
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
            expire_timestamp: None,
        };
        let with_expiry = OffsetValue {
            expire_timestamp: Some(99),
            ..v.clone()
        };
        let eb = with_expiry.encode();
        assert_eq!(&eb[..2], &[0, 1], "an expiry is written as value version 1");
        let back = OffsetValue::decode(&eb).unwrap();
        assert_eq!((back.offset, back.expire_timestamp), (42, Some(99)));
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
        // Too long for an int16 length: cut at a character boundary, still decodable.
        let long = "é".repeat(MAX_STRING);
        let cut = decode_group_key(&encode_group_key(&long)).unwrap();
        assert!(cut.len() <= MAX_STRING && long.starts_with(&cut));
    }

    #[test]
    fn group_record_round_trip_and_truncation() {
        let g = GroupRecord {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 99,
            members: vec![MemberRecord {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: vec![1, 2, 3],
                assignment: vec![4],
            }],
        };
        let b = g.encode();
        assert_eq!(GroupRecord::decode(&b), Some(g.clone()));
        for n in 0..b.len() {
            assert_eq!(GroupRecord::decode(&b[..n]), None, "prefix of {n} bytes");
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(GroupRecord::decode(&long), None);
        let empty = GroupRecord {
            protocol: None,
            leader: None,
            members: vec![],
            ..g
        };
        assert_eq!(GroupRecord::decode(&empty.encode()), Some(empty));
        // A hostile member count with nothing behind it.
        let mut hostile = 3i16.to_be_bytes().to_vec();
        put_str(&mut hostile, "consumer");
        hostile.extend_from_slice(&1i32.to_be_bytes());
        put_opt_str(&mut hostile, None);
        put_opt_str(&mut hostile, None);
        hostile.extend_from_slice(&0i64.to_be_bytes());
        hostile.extend_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(GroupRecord::decode(&hostile), None);
    }

    #[test]
    fn subscription_topics_parse() {
        let mut sub = 1i16.to_be_bytes().to_vec();
        sub.extend_from_slice(&2i32.to_be_bytes());
        put_str(&mut sub, "a");
        put_str(&mut sub, "bb");
        sub.extend_from_slice(&(-1i32).to_be_bytes()); // null user data
        assert_eq!(
            subscription_topics(&sub),
            Some(vec!["a".to_string(), "bb".to_string()])
        );
        assert_eq!(subscription_topics(&sub[..7]), None);
    }
}
