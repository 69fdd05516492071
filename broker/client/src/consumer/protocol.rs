//! The consumer group protocol's embedded formats: `ConsumerProtocolSubscription` (the
//! metadata a member puts in JoinGroup for protocol type `consumer`) and
//! `ConsumerProtocolAssignment` (what the leader hands each member back in SyncGroup), as Kafka
//! defines them in `ConsumerProtocolSubscription.json` and `ConsumerProtocolAssignment.json`.
//!
//! Both are non-flexible structs behind an `int16` version header: arrays with an `int32`
//! count, strings with an `int16` length, nullable bytes with an `int32` length (-1 for null).
//! Subscription versions: 0 topics and user data, 1 adds the owned partitions, 2 the
//! generation id, 3 the rack id. Assignment versions 0-3 all carry the assigned partitions
//! and user data. Decoding is total: malformed input of any kind is a [`ProtocolError`], never
//! a panic, and no buffer is sized from a count on the wire before the bytes behind it were
//! seen. A version above the highest known one is read as that version and whatever follows
//! is ignored (Kafka's rule for these formats: newer versions only append fields); a negative
//! version is an error, as in Java.
//!
//! This module only encodes and decodes. Choosing partitions is [`super::assignor`]'s job, and
//! the JoinGroup / SyncGroup exchange that carries these bytes is the group membership code's.

use std::collections::HashMap;

use brook_protocol::messages::codec::{
    capacity_for, get_array_len, get_i16, get_i32, get_opt_bytes, get_opt_str, get_str, put_i16,
    put_i32, DecodeError,
};

use crate::admin::TopicPartition;

/// The highest `ConsumerProtocolSubscription` version this module reads and writes.
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The highest `ConsumerProtocolAssignment` version this module reads and writes.
pub const ASSIGNMENT_VERSION: i16 = 3;

/// A member's subscription, as it travels in JoinGroup's protocol metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// The topics the member subscribes to.
    pub topics: Vec<String>,
    /// Assignor-specific data (e.g. the sticky assignors' previous assignment or generation).
    pub user_data: Option<Vec<u8>>,
    /// The partitions the member owns now (v1+), flattened; empty when unknown.
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which the member got `owned_partitions` (v2+); -1 when unknown. Any
    /// negative value means unknown, as in Java.
    pub generation_id: i32,
    /// The member's `client.rack` (v3+). An empty rack on the wire decodes as `None`.
    pub rack_id: Option<String>,
}

/// A member's assignment, as it travels in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The assigned partitions, flattened in wire order.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific data.
    pub user_data: Option<Vec<u8>>,
}

/// Why embedded consumer protocol bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The bytes ended early or held an impossible value.
    #[error("malformed {message}: field {field}: {source}")]
    Malformed {
        /// The struct being read, e.g. `ConsumerProtocolSubscription`.
        message: &'static str,
        /// The field that could not be read.
        field: &'static str,
        #[source]
        source: DecodeError,
    },
    /// A version below 0.
    #[error("unsupported {message} version {version}")]
    UnsupportedVersion { message: &'static str, version: i16 },
}

const SUBSCRIPTION: &str = "ConsumerProtocolSubscription";
const ASSIGNMENT: &str = "ConsumerProtocolAssignment";

/// Encodes `s` as `ConsumerProtocolSubscription` at `version` (clamped to
/// 0..=[`SUBSCRIPTION_VERSION`]; the header carries the clamped version). Fields the version
/// lacks are left out. Owned partitions are grouped by topic, topics in order of first
/// appearance, partitions in the order given.
///
/// Values that no Kafka encoding can hold degrade instead of failing: a topic name longer than
/// `i16::MAX` bytes (Kafka caps names at 249 characters, so no such topic can exist) is left
/// out, and a rack id that long is sent as null.
pub fn encode_subscription(s: &Subscription, version: i16) -> Vec<u8> {
    let version = version.clamp(0, SUBSCRIPTION_VERSION);
    let mut out = Vec::new();
    put_i16(&mut out, version);
    let topics: Vec<&str> = s
        .topics
        .iter()
        .map(String::as_str)
        .filter(|t| fits_str(t))
        .collect();
    put_len(&mut out, topics.len());
    for t in topics {
        put_string(&mut out, t);
    }
    put_nullable_bytes(&mut out, s.user_data.as_deref());
    if version >= 1 {
        put_topic_partitions(&mut out, &s.owned_partitions);
    }
    if version >= 2 {
        put_i32(&mut out, s.generation_id);
    }
    if version >= 3 {
        match s.rack_id.as_deref().filter(|r| fits_str(r)) {
            Some(r) => put_string(&mut out, r),
            None => put_i16(&mut out, -1),
        }
    }
    out
}

/// Decodes a `ConsumerProtocolSubscription`. Fields of versions above the one in the header
/// keep their defaults (no owned partitions, generation -1, no rack).
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, ProtocolError> {
    let mut buf = bytes;
    let r = Reader(SUBSCRIPTION);
    let version = r.field("Version", get_i16(&mut buf))?;
    if version < 0 {
        return Err(ProtocolError::UnsupportedVersion {
            message: SUBSCRIPTION,
            version,
        });
    }
    // Each topic is at least its 2-byte length.
    let n = r.field("Topics", get_array_len(&mut buf, false, 2))?;
    let mut topics = Vec::with_capacity(capacity_for::<String>(n, buf.len()));
    for _ in 0..n {
        topics.push(r.field("Topics", get_str(&mut buf, false))?);
    }
    let user_data = r
        .field("UserData", get_opt_bytes(&mut buf, false))?
        .map(|b| b.to_vec());
    let mut s = Subscription {
        topics,
        user_data,
        owned_partitions: Vec::new(),
        generation_id: -1,
        rack_id: None,
    };
    if version >= 1 {
        s.owned_partitions = get_topic_partitions(&mut buf, r, "OwnedPartitions")?;
    }
    if version >= 2 {
        s.generation_id = r.field("GenerationId", get_i32(&mut buf))?;
    }
    if version >= 3 {
        s.rack_id = r
            .field("RackId", get_opt_str(&mut buf, false))?
            .filter(|r| !r.is_empty());
    }
    Ok(s)
}

/// Encodes `a` as `ConsumerProtocolAssignment` at `version` (clamped to
/// 0..=[`ASSIGNMENT_VERSION`]; every version has the same fields). Partitions are grouped by
/// topic, topics in order of first appearance, partitions in the order given.
pub fn encode_assignment(a: &Assignment, version: i16) -> Vec<u8> {
    let version = version.clamp(0, ASSIGNMENT_VERSION);
    let mut out = Vec::new();
    put_i16(&mut out, version);
    put_topic_partitions(&mut out, &a.partitions);
    put_nullable_bytes(&mut out, a.user_data.as_deref());
    out
}

/// Decodes a `ConsumerProtocolAssignment`. Empty input is the empty assignment: what a broker
/// hands a member the leader gave nothing (or whose assignment it does not have).
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, ProtocolError> {
    if bytes.is_empty() {
        return Ok(Assignment::default());
    }
    let mut buf = bytes;
    let r = Reader(ASSIGNMENT);
    let version = r.field("Version", get_i16(&mut buf))?;
    if version < 0 {
        return Err(ProtocolError::UnsupportedVersion {
            message: ASSIGNMENT,
            version,
        });
    }
    let partitions = get_topic_partitions(&mut buf, r, "AssignedPartitions")?;
    let user_data = r
        .field("UserData", get_opt_bytes(&mut buf, false))?
        .map(|b| b.to_vec());
    Ok(Assignment {
        partitions,
        user_data,
    })
}

// ---- shared pieces (also used by the sticky assignor's user data) ----

/// Attaches the struct and field names to a primitive decoding error.
#[derive(Clone, Copy)]
pub(crate) struct Reader(pub(crate) &'static str);

impl Reader {
    pub(crate) fn field<T>(
        self,
        field: &'static str,
        r: Result<T, DecodeError>,
    ) -> Result<T, ProtocolError> {
        r.map_err(|source| ProtocolError::Malformed {
            message: self.0,
            field,
            source,
        })
    }
}

/// `[TopicPartition]` where `TopicPartition => topic: string, partitions: [int32]`, flattened.
pub(crate) fn get_topic_partitions(
    buf: &mut &[u8],
    r: Reader,
    field: &'static str,
) -> Result<Vec<TopicPartition>, ProtocolError> {
    // Each entry is at least a 2-byte topic length and a 4-byte partition count.
    let n = r.field(field, get_array_len(buf, false, 6))?;
    let mut out = Vec::new();
    for _ in 0..n {
        let topic = r.field(field, get_str(buf, false))?;
        let m = r.field(field, get_array_len(buf, false, 4))?;
        out.reserve(capacity_for::<TopicPartition>(m, buf.len()));
        for _ in 0..m {
            let partition = r.field(field, get_i32(buf))?;
            out.push(TopicPartition {
                topic: topic.clone(),
                partition,
            });
        }
    }
    Ok(out)
}

/// Writes `partitions` as `[TopicPartition]`, grouped by topic (first appearance order).
/// Topics whose names cannot be encoded are left out.
pub(crate) fn put_topic_partitions(out: &mut Vec<u8>, partitions: &[TopicPartition]) {
    let mut groups: Vec<(&str, Vec<i32>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for tp in partitions.iter().filter(|tp| fits_str(&tp.topic)) {
        let i = *index.entry(tp.topic.as_str()).or_insert_with(|| {
            groups.push((tp.topic.as_str(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(tp.partition);
    }
    put_len(out, groups.len());
    for (topic, ps) in groups {
        put_string(out, topic);
        put_len(out, ps.len());
        for p in ps {
            put_i32(out, p);
        }
    }
}

fn fits_str(s: &str) -> bool {
    s.len() <= i16::MAX as usize
}

/// A non-null string; callers have checked [`fits_str`].
fn put_string(out: &mut Vec<u8>, s: &str) {
    debug_assert!(fits_str(s));
    put_i16(out, s.len() as i16);
    out.extend_from_slice(s.as_bytes());
}

/// An array count. Counts above `i32::MAX` cannot occur for in-memory collections of
/// non-zero-sized wire elements on any machine this runs on; they saturate.
fn put_len(out: &mut Vec<u8>, n: usize) {
    put_i32(out, i32::try_from(n).unwrap_or(i32::MAX));
}

/// Nullable bytes; data longer than `i32::MAX` bytes cannot be framed and is sent as null.
fn put_nullable_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b.filter(|b| i32::try_from(b.len()).is_ok()) {
        Some(b) => {
            put_len(out, b.len());
            out.extend_from_slice(b);
        }
        None => put_i32(out, -1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    /// A v3 subscription built by hand from the JSON spec.
    fn v3_bytes() -> Vec<u8> {
        let mut b = vec![0, 3]; // version
        b.extend_from_slice(&[0, 0, 0, 2]); // Topics: 2
        b.extend_from_slice(&[0, 1, b'a']);
        b.extend_from_slice(&[0, 2, b'b', b'c']);
        b.extend_from_slice(&[0, 0, 0, 2, 7, 8]); // UserData
        b.extend_from_slice(&[0, 0, 0, 2]); // OwnedPartitions: 2 topics
        b.extend_from_slice(&[0, 1, b'a', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3]);
        b.extend_from_slice(&[0, 2, b'b', b'c', 0, 0, 0, 1, 0, 0, 0, 1]);
        b.extend_from_slice(&[0, 0, 0, 9]); // GenerationId
        b.extend_from_slice(&[0, 2, b'r', b'1']); // RackId
        b
    }

    fn v3_value() -> Subscription {
        Subscription {
            topics: vec!["a".into(), "bc".into()],
            user_data: Some(vec![7, 8]),
            owned_partitions: vec![tp("a", 0), tp("a", 3), tp("bc", 1)],
            generation_id: 9,
            rack_id: Some("r1".into()),
        }
    }

    #[test]
    fn subscription_v3_matches_the_spec() {
        assert_eq!(decode_subscription(&v3_bytes()).unwrap(), v3_value());
        assert_eq!(encode_subscription(&v3_value(), 3), v3_bytes());
    }

    #[test]
    fn subscription_v0_has_topics_and_user_data_only() {
        let b = [0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff];
        let s = decode_subscription(&b).unwrap();
        assert_eq!(
            s,
            Subscription {
                topics: vec!["t".into()],
                user_data: None,
                owned_partitions: vec![],
                generation_id: -1,
                rack_id: None,
            }
        );
        // Encoding at v0 drops the later fields.
        assert_eq!(encode_subscription(&v3_value(), 0)[..2], [0, 0]);
        let back = decode_subscription(&encode_subscription(&v3_value(), 0)).unwrap();
        assert_eq!(back.topics, v3_value().topics);
        assert_eq!(back.user_data, v3_value().user_data);
        assert!(back.owned_partitions.is_empty());
        assert_eq!(back.generation_id, -1);
        assert_eq!(back.rack_id, None);
    }

    #[test]
    fn subscription_versions_one_and_two() {
        let v = v3_value();
        let v1 = decode_subscription(&encode_subscription(&v, 1)).unwrap();
        assert_eq!(v1.owned_partitions, v.owned_partitions);
        assert_eq!((v1.generation_id, v1.rack_id), (-1, None));
        let v2 = decode_subscription(&encode_subscription(&v, 2)).unwrap();
        assert_eq!(v2.generation_id, 9);
        assert_eq!(v2.rack_id, None);
        // v2 is v1 plus 4 bytes; v3 is v2 plus the rack.
        assert_eq!(
            encode_subscription(&v, 2).len(),
            encode_subscription(&v, 1).len() + 4
        );
    }

    #[test]
    fn newer_versions_are_read_as_far_as_known() {
        let mut b = v3_bytes();
        b[1] = 7; // version 7
        b.extend_from_slice(&[1, 2, 3, 4, 5]); // fields we do not know
        assert_eq!(decode_subscription(&b).unwrap(), v3_value());
        let mut a = encode_assignment(
            &Assignment {
                partitions: vec![tp("x", 1)],
                user_data: None,
            },
            3,
        );
        a[1] = 42;
        a.extend_from_slice(&[9, 9]);
        assert_eq!(decode_assignment(&a).unwrap().partitions, vec![tp("x", 1)]);
        // Encoding above the highest version writes the highest.
        assert_eq!(encode_subscription(&v3_value(), 99), v3_bytes());
        assert_eq!(encode_subscription(&v3_value(), -4)[..2], [0, 0]);
    }

    #[test]
    fn negative_versions_are_errors() {
        let mut b = v3_bytes();
        b[0] = 0xff;
        assert!(matches!(
            decode_subscription(&b),
            Err(ProtocolError::UnsupportedVersion { version, .. }) if version < 0
        ));
        assert!(matches!(
            decode_assignment(&[0xff, 0xfe, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(ProtocolError::UnsupportedVersion { version: -2, .. })
        ));
    }

    #[test]
    fn empty_rack_is_no_rack() {
        let mut s = v3_value();
        s.rack_id = Some(String::new());
        assert_eq!(
            decode_subscription(&encode_subscription(&s, 3))
                .unwrap()
                .rack_id,
            None
        );
    }

    #[test]
    fn assignment_matches_the_spec() {
        let b = [
            0, 1, // version
            0, 0, 0, 2, // 2 topics
            0, 1, b'x', 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 1, // x: 5, 1
            0, 1, b'y', 0, 0, 0, 0, // y: none
            0, 0, 0, 1, 0xaa, // user data
        ];
        let a = decode_assignment(&b).unwrap();
        assert_eq!(a.partitions, vec![tp("x", 5), tp("x", 1)]);
        assert_eq!(a.user_data, Some(vec![0xaa]));
        // Grouping by topic, in order of first appearance.
        let enc = encode_assignment(
            &Assignment {
                partitions: vec![tp("y", 2), tp("x", 0), tp("y", 1)],
                user_data: None,
            },
            0,
        );
        assert_eq!(
            enc,
            [
                0, 0, 0, 0, 0, 2, 0, 1, b'y', 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 1, b'x', 0, 0,
                0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff
            ]
        );
        assert_eq!(decode_assignment(&[]).unwrap(), Assignment::default());
    }

    #[test]
    fn truncation_at_every_byte_is_an_error() {
        let s = v3_bytes();
        for i in 0..s.len() {
            assert!(decode_subscription(&s[..i]).is_err(), "prefix {i}");
        }
        let a = encode_assignment(
            &Assignment {
                partitions: vec![tp("x", 5), tp("yy", 1)],
                user_data: Some(vec![1, 2, 3]),
            },
            3,
        );
        // The empty prefix is the empty assignment; every other prefix is an error.
        for i in 1..a.len() {
            assert!(decode_assignment(&a[..i]).is_err(), "prefix {i}");
        }
    }

    #[test]
    fn hostile_counts_are_errors() {
        let huge = [0x7f, 0xff, 0xff, 0xff];
        // Topics count.
        let mut b = vec![0, 3];
        b.extend_from_slice(&huge);
        assert!(decode_subscription(&b).is_err());
        // Owned partitions count, and a partition count inside a topic.
        let mut b = vec![0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        b.extend_from_slice(&huge);
        assert!(decode_subscription(&b).is_err());
        let mut b = vec![
            0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 1, b't',
        ];
        b.extend_from_slice(&huge);
        assert!(decode_subscription(&b).is_err());
        // User data length.
        let mut b = vec![0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&huge);
        assert!(decode_subscription(&b).is_err());
        // Assignment counts and user data.
        let mut b = vec![0, 0];
        b.extend_from_slice(&huge);
        assert!(decode_assignment(&b).is_err());
        let mut b = vec![0, 0, 0, 0, 0, 1, 0, 1, b't'];
        b.extend_from_slice(&huge);
        assert!(decode_assignment(&b).is_err());
        let mut b = vec![0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&huge);
        assert!(decode_assignment(&b).is_err());
        // Negative lengths other than null, and a null where none is allowed.
        assert!(decode_assignment(&[0, 0, 0xff, 0xff, 0xff, 0xfe]).is_err());
        assert!(decode_assignment(&[0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_subscription(&[0, 0, 0, 0, 0, 1, 0xff, 0xff]).is_err());
        // Invalid UTF-8 in a topic.
        assert!(decode_subscription(&[0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn unencodable_values_degrade() {
        let long = "x".repeat(i16::MAX as usize + 1);
        let s = Subscription {
            topics: vec![long.clone(), "t".into()],
            owned_partitions: vec![tp(&long, 0), tp("t", 1)],
            rack_id: Some(long.clone()),
            ..v3_value()
        };
        let back = decode_subscription(&encode_subscription(&s, 3)).unwrap();
        assert_eq!(back.topics, vec!["t".to_string()]);
        assert_eq!(back.owned_partitions, vec![tp("t", 1)]);
        assert_eq!(back.rack_id, None);
        // The longest encodable name still goes through.
        let longest = "y".repeat(i16::MAX as usize);
        let a = Assignment {
            partitions: vec![tp(&longest, 3)],
            user_data: None,
        };
        assert_eq!(decode_assignment(&encode_assignment(&a, 3)).unwrap(), a);
    }

    #[test]
    fn errors_name_the_field() {
        let e = decode_subscription(&[0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ConsumerProtocolSubscription"), "{e}");
        assert!(e.contains("OwnedPartitions"), "{e}");
    }

    fn arb_topic() -> impl Strategy<Value = String> {
        "[a-z0-9._-]{1,12}"
    }

    /// Partitions already grouped by topic (what the encoder's grouping preserves).
    fn arb_grouped() -> impl Strategy<Value = Vec<TopicPartition>> {
        proptest::collection::btree_map(
            arb_topic(),
            proptest::collection::vec(any::<i32>(), 0..5),
            0..4,
        )
        .prop_map(|m| {
            m.into_iter()
                .flat_map(|(t, ps)| {
                    ps.into_iter()
                        .map(move |p| TopicPartition::new(t.clone(), p))
                })
                .collect()
        })
    }

    fn arb_subscription() -> impl Strategy<Value = Subscription> {
        (
            proptest::collection::vec(arb_topic(), 0..5),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            arb_grouped(),
            any::<i32>(),
            proptest::option::of("[a-z0-9]{1,8}"),
        )
            .prop_map(
                |(topics, user_data, owned_partitions, generation_id, rack_id)| Subscription {
                    topics,
                    user_data,
                    owned_partitions,
                    generation_id,
                    rack_id,
                },
            )
    }

    proptest! {
        #[test]
        fn subscriptions_round_trip(s in arb_subscription()) {
            prop_assert_eq!(decode_subscription(&encode_subscription(&s, 3)).unwrap(), s);
        }

        #[test]
        fn assignments_round_trip(
            partitions in arb_grouped(),
            user_data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            version in 0i16..=3,
        ) {
            let a = Assignment { partitions, user_data };
            let bytes = encode_assignment(&a, version);
            prop_assert_eq!(decode_assignment(&bytes).unwrap(), a);
        }

        #[test]
        fn ungrouped_partitions_survive_as_a_set(
            partitions in proptest::collection::vec((0u8..3, 0i32..4), 0..10),
        ) {
            let partitions: Vec<TopicPartition> =
                partitions.into_iter().map(|(t, p)| tp(&format!("t{t}"), p)).collect();
            let a = Assignment { partitions: partitions.clone(), user_data: None };
            let mut back = decode_assignment(&encode_assignment(&a, 3)).unwrap().partitions;
            let mut want = partitions;
            back.sort();
            want.sort();
            prop_assert_eq!(back, want);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&bytes);
        }

        #[test]
        fn mutated_encodings_never_panic(s in arb_subscription(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = encode_subscription(&s, 3);
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&bytes);
        }
    }
}
