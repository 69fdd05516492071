//! Choosing a partition for a record: Kafka's murmur2 key hashing, sticky partitioning
//! for records without a key (KIP-480), round robin, and user-provided partitioners.
//!
//! Keyed records land in the same partition as with Java's client, librdkafka's
//! `murmur2_random` partitioner and every other client that copies Java's: the partition is
//! `to_positive(murmur2(key)) % num_partitions` over *all* partitions of the topic, whether
//! or not they currently have a leader.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// The 32-bit murmur2 hash of `data`, bit for bit as Kafka's Java client computes it
/// (`org.apache.kafka.common.utils.Utils.murmur2`): seed `0x9747b28c`, little-endian 4-byte
/// blocks, and the remaining 1-3 bytes folded in at the end.
///
/// Java reads bytes as signed and masks each with `& 0xff` before shifting, which is the
/// same as widening an unsigned `u8`; all arithmetic wraps at 32 bits and Java's `>>>` is a
/// logical shift, so everything is done on `u32` and reinterpreted as `i32` at the end.
///
/// ```
/// use brook_client::producer::partitioner::murmur2;
/// assert_eq!(murmur2(b"foobar"), -790_332_482);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java: `int h = seed ^ length` with an int length; lengths beyond i32 cannot occur
    // for a Java byte[], and truncating keeps the same bits for all that can.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    // Java's switch falls through from case 3 to case 1.
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (`n & 0x7fffffff`), so `i32::MIN` maps
/// to 0 rather than overflowing as `abs` would.
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Java's default partitioner picks for a record with `key`:
/// `to_positive(murmur2(key)) % num_partitions`.
///
/// # Panics
/// If `num_partitions` is not positive; [`Partitions`] guarantees that it is.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    assert!(num_partitions > 0, "num_partitions must be positive");
    to_positive(murmur2(key)) % num_partitions
}

/// What a partitioner knows about a topic: how many partitions it has (at least one) and
/// which of them are available (have a leader), as of the producer's current metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitions<'a> {
    count: i32,
    available: &'a [i32],
}

impl<'a> Partitions<'a> {
    /// `count` partitions of which `available` currently have a leader; `None` unless
    /// `count` is positive. Entries of `available` outside `0..count` are never chosen.
    pub fn new(count: i32, available: &'a [i32]) -> Option<Partitions<'a>> {
        (count > 0).then_some(Partitions { count, available })
    }

    /// `count` partitions with no availability known (so all are candidates); `None`
    /// unless `count` is positive.
    pub fn all(count: i32) -> Option<Partitions<'static>> {
        (count > 0).then_some(Partitions {
            count,
            available: &[],
        })
    }

    /// The number of partitions of the topic (positive).
    pub fn count(&self) -> i32 {
        self.count
    }

    /// The partitions with a leader. Empty when the producer does not know (or none has a
    /// leader); the built-in partitioners then choose among all `count` partitions.
    pub fn available(&self) -> &'a [i32] {
        self.available
    }

    /// A partition chosen at random among the available ones (all of them if none is
    /// known to be available), different from `avoid` whenever there is another choice.
    fn pick(&self, rng: &mut SplitMix64, avoid: Option<i32>) -> i32 {
        let candidates: Vec<i32> = self
            .available
            .iter()
            .copied()
            .filter(|p| (0..self.count).contains(p))
            .collect();
        if candidates.is_empty() {
            // Uniform over 0..count without `avoid` (when it is one of them).
            let count = self.count as u64;
            return match avoid {
                Some(a) if count > 1 && (0..self.count).contains(&a) => {
                    let r = (rng.next() % (count - 1)) as i32;
                    if r >= a {
                        r + 1
                    } else {
                        r
                    }
                }
                _ => (rng.next() % count) as i32,
            };
        }
        let others: Vec<i32> = candidates
            .iter()
            .copied()
            .filter(|&p| Some(p) != avoid)
            .collect();
        let from = if others.is_empty() {
            &candidates
        } else {
            &others
        };
        // `from` is never empty: `candidates` is not.
        from[(rng.next() % from.len() as u64) as usize]
    }
}

/// Chooses the partition of each record sent without an explicit partition.
///
/// The producer calls [`partition`](Self::partition) for every such record and uses the
/// result if it lies in `0..partitions.count()` (anything else fails the send). Hooks with
/// defaults let a partitioner keep records together: [`on_new_batch`](Self::on_new_batch)
/// is how sticky partitioning (KIP-480) learns that the batch of its current partition was
/// completed.
pub trait Partitioner: Send {
    /// The partition for a record of `topic` with `key` and `value` (already serialized;
    /// `None` is a null key or value).
    fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: &Partitions<'_>,
    ) -> i32;

    /// Whether the producer should call [`on_new_batch`](Self::on_new_batch) and ask again
    /// before a record chosen for `partition` opens a new batch there (Kafka's
    /// `abortOnNewBatch`). Only sticky partitioners need this; the default is `false`.
    fn wants_new_batch_notice(&self, _topic: &str, _key: Option<&[u8]>) -> bool {
        false
    }

    /// Called when a record [`partition`](Self::partition) placed in `prev_partition` would
    /// open a new batch there, i.e. the previous batch of that partition was completed.
    /// The producer then calls `partition` again for that record.
    fn on_new_batch(&mut self, _topic: &str, _partitions: &Partitions<'_>, _prev_partition: i32) {}

    /// Called when the producer closes.
    fn close(&mut self) {}
}

impl<P: Partitioner + ?Sized> Partitioner for Box<P> {
    fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: &Partitions<'_>,
    ) -> i32 {
        (**self).partition(topic, key, value, partitions)
    }

    fn wants_new_batch_notice(&self, topic: &str, key: Option<&[u8]>) -> bool {
        (**self).wants_new_batch_notice(topic, key)
    }

    fn on_new_batch(&mut self, topic: &str, partitions: &Partitions<'_>, prev_partition: i32) {
        (**self).on_new_batch(topic, partitions, prev_partition);
    }

    fn close(&mut self) {
        (**self).close();
    }
}

/// The default partitioner, as Java's before KIP-794: murmur2 of the key for keyed
/// records ([`partition_for_key`]), sticky partitioning for records without a key.
///
/// Sticky partitioning (KIP-480) sends every keyless record of a topic to one partition
/// until a batch there is completed ([`Partitioner::on_new_batch`]), then switches to
/// another partition chosen at random among the available ones (all of them when none is
/// known to be available), never the same one twice in a row when there is a choice. This
/// fills batches instead of spreading a trickle of records over every partition.
///
/// With [`ignore_keys`](Self::ignore_keys) (Kafka's `partitioner.ignore.keys=true`, Java's
/// `UniformStickyPartitioner`) keyed records are sticky too.
pub struct DefaultPartitioner {
    ignore_keys: bool,
    sticky: HashMap<String, i32>,
    rng: SplitMix64,
}

impl DefaultPartitioner {
    /// A partitioner whose random choices are seeded from the process's hash seed and
    /// the clock.
    pub fn new() -> DefaultPartitioner {
        DefaultPartitioner::with_seed(random_seed())
    }

    /// A partitioner whose random choices come from `seed`, for reproducible tests.
    pub fn with_seed(seed: u64) -> DefaultPartitioner {
        DefaultPartitioner {
            ignore_keys: false,
            sticky: HashMap::new(),
            rng: SplitMix64(seed),
        }
    }

    /// Treats keyed records like keyless ones (sticky) when `ignore` is true.
    #[must_use]
    pub fn ignore_keys(mut self, ignore: bool) -> Self {
        self.ignore_keys = ignore;
        self
    }

    /// The partition keyless records of `topic` currently stick to, if one was chosen.
    pub fn sticky_partition(&self, topic: &str) -> Option<i32> {
        self.sticky.get(topic).copied()
    }

    fn sticky_for(&mut self, topic: &str, partitions: &Partitions<'_>) -> i32 {
        match self.sticky.get(topic) {
            Some(&p) if p < partitions.count() => p,
            _ => {
                let p = partitions.pick(&mut self.rng, None);
                self.sticky.insert(topic.to_owned(), p);
                p
            }
        }
    }
}

impl Default for DefaultPartitioner {
    fn default() -> Self {
        DefaultPartitioner::new()
    }
}

impl fmt::Debug for DefaultPartitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultPartitioner")
            .field("ignore_keys", &self.ignore_keys)
            .field("sticky", &self.sticky)
            .finish_non_exhaustive()
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: &Partitions<'_>,
    ) -> i32 {
        match key {
            Some(key) if !self.ignore_keys => partition_for_key(key, partitions.count()),
            _ => self.sticky_for(topic, partitions),
        }
    }

    fn wants_new_batch_notice(&self, _topic: &str, key: Option<&[u8]>) -> bool {
        key.is_none() || self.ignore_keys
    }

    fn on_new_batch(&mut self, topic: &str, partitions: &Partitions<'_>, prev_partition: i32) {
        // Only switch if nobody switched since the record was placed (Kafka's
        // StickyPartitionCache.nextPartition).
        match self.sticky.get(topic) {
            Some(&current) if current != prev_partition && current < partitions.count() => {}
            _ => {
                let p = partitions.pick(&mut self.rng, Some(prev_partition));
                self.sticky.insert(topic.to_owned(), p);
            }
        }
    }
}

/// Java's `RoundRobinPartitioner`: each record of a topic, keyed or not, goes to the next
/// available partition in turn (the next of all partitions when none is known to be
/// available).
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: HashMap<String, u32>,
}

impl RoundRobinPartitioner {
    /// A partitioner whose counters all start at 0.
    pub fn new() -> RoundRobinPartitioner {
        RoundRobinPartitioner::default()
    }
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &mut self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: &Partitions<'_>,
    ) -> i32 {
        let counter = match self.counters.get_mut(topic) {
            Some(c) => c,
            None => self.counters.entry(topic.to_owned()).or_insert(0),
        };
        let next = *counter;
        *counter = counter.wrapping_add(1);
        let available = partitions.available();
        if available.is_empty() {
            (next % partitions.count() as u32) as i32
        } else {
            available[(next % available.len() as u32) as usize]
        }
    }
}

/// A partitioner made of a closure `(topic, key, value, num_partitions) -> partition`, for
/// users who bring their own rule:
///
/// ```
/// use brook_client::producer::partitioner::{FnPartitioner, Partitioner, Partitions};
///
/// // Everything whose key starts with "vip" goes to partition 0.
/// let mut p = FnPartitioner::new(|_topic: &str, key: Option<&[u8]>, _value: Option<&[u8]>, n: i32| {
///     match key {
///         Some(k) if k.starts_with(b"vip") => 0,
///         _ => n - 1,
///     }
/// });
/// let parts = Partitions::all(4).unwrap();
/// assert_eq!(p.partition("t", Some(b"vip-1"), None, &parts), 0);
/// assert_eq!(p.partition("t", None, None, &parts), 3);
/// ```
pub struct FnPartitioner<F> {
    f: F,
}

impl<F> FnPartitioner<F>
where
    F: FnMut(&str, Option<&[u8]>, Option<&[u8]>, i32) -> i32 + Send,
{
    /// Wraps `f`.
    pub fn new(f: F) -> FnPartitioner<F> {
        FnPartitioner { f }
    }
}

impl<F> fmt::Debug for FnPartitioner<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnPartitioner").finish_non_exhaustive()
    }
}

impl<F> Partitioner for FnPartitioner<F>
where
    F: FnMut(&str, Option<&[u8]>, Option<&[u8]>, i32) -> i32 + Send,
{
    fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: &Partitions<'_>,
    ) -> i32 {
        (self.f)(topic, key, value, partitions.count())
    }
}

/// Which built-in partitioner a [`ProducerConfig`](super::ProducerConfig) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionerKind {
    /// [`DefaultPartitioner`]: murmur2 for keys, sticky without.
    #[default]
    Default,
    /// [`RoundRobinPartitioner`].
    RoundRobin,
    /// [`DefaultPartitioner`] with keys ignored (Java's `UniformStickyPartitioner`).
    UniformSticky,
}

impl PartitionerKind {
    /// The partitioner, boxed; `ignore_keys` is `partitioner.ignore.keys`.
    pub fn build(self, ignore_keys: bool) -> Box<dyn Partitioner> {
        match self {
            PartitionerKind::Default => {
                Box::new(DefaultPartitioner::new().ignore_keys(ignore_keys))
            }
            PartitionerKind::RoundRobin => Box::new(RoundRobinPartitioner::new()),
            PartitionerKind::UniformSticky => Box::new(DefaultPartitioner::new().ignore_keys(true)),
        }
    }
}

/// A small, fast, seedable generator (SplitMix64); partition choice needs no more.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn random_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(d.as_nanos());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Kafka's `UtilsTest.testMurmur2` vectors, plus the short ones other Java-compatible
    /// implementations check (Akka's Murmur2Spec) and a few with bytes >= 0x80 in the
    /// blocks and the tail, computed with Java (signed bytes, `& 0xff`).
    #[test]
    fn murmur2_matches_kafka_vectors() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
            (b"1", -1_993_445_489),
            (b"12", 126_087_238),
            (b"123", -267_702_483),
            (b"1234", -1_614_185_708),
            (b"12345", -1_188_365_604),
        ];
        for (data, expected) in cases {
            assert_eq!(
                murmur2(data),
                *expected,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn murmur2_high_bytes_match_java() {
        for (data, expected) in JAVA_HIGH_BYTE_VECTORS {
            assert_eq!(murmur2(data), *expected, "{data:?}");
        }
    }

    // Computed with a JVM running Kafka's `Utils.murmur2` algorithm (signed Java bytes,
    // masked with `& 0xff`) over these arrays: bytes >= 0x80 in blocks and in every tail
    // length, and the empty key.
    const JAVA_HIGH_BYTE_VECTORS: &[(&[u8], i32)] = &[
        (&[], 275_646_681),
        (&[0xff], -311_467_685),
        (&[0x80, 0xff], -80_095_470),
        (&[0xfe, 0x81, 0x90], 604_088_052),
        (&[0xff, 0xff, 0xff, 0xff], 644_171_429),
        (&[0xc3, 0xa9, 0xe2, 0x82, 0xac], 1_912_689_889),
        (&[0x01, 0x80, 0x02, 0x90, 0x03, 0xa0, 0x04], 1_465_329_699),
        ("héllo wörld €".as_bytes(), -6_057_523),
    ];

    #[test]
    fn to_positive_clears_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-973_932_308), -973_932_308 & 0x7fff_ffff);
    }

    #[test]
    fn keyed_partition_is_java_default() {
        // to_positive(-790332482) = 1357151166; 1357151166 % 10 = 6.
        assert_eq!(partition_for_key(b"foobar", 10), 1_357_151_166 % 10);
        assert_eq!(partition_for_key(b"abc", 7), 479_470_107 % 7);
        assert_eq!(partition_for_key(b"anything", 1), 0);
    }

    #[test]
    fn partitions_requires_positive_count() {
        assert!(Partitions::new(0, &[]).is_none());
        assert!(Partitions::new(-3, &[0]).is_none());
        assert!(Partitions::all(0).is_none());
        let p = Partitions::new(3, &[0, 2]).unwrap();
        assert_eq!((p.count(), p.available()), (3, &[0, 2][..]));
        assert_eq!(Partitions::all(4).unwrap().available(), &[] as &[i32]);
    }

    #[test]
    fn default_partitioner_hashes_keys_over_all_partitions() {
        let mut p = DefaultPartitioner::with_seed(1);
        // Only partition 1 is available, but keyed records ignore availability.
        let parts = Partitions::new(10, &[1]).unwrap();
        assert_eq!(p.partition("t", Some(b"foobar"), None, &parts), 6);
        assert!(!p.wants_new_batch_notice("t", Some(b"foobar")));
        assert!(p.wants_new_batch_notice("t", None));
    }

    #[test]
    fn sticky_stays_until_new_batch_then_switches() {
        let mut p = DefaultPartitioner::with_seed(42);
        let parts = Partitions::all(8).unwrap();
        let first = p.partition("t", None, Some(b"v"), &parts);
        for _ in 0..100 {
            assert_eq!(p.partition("t", None, Some(b"v"), &parts), first);
        }
        assert_eq!(p.sticky_partition("t"), Some(first));
        p.on_new_batch("t", &parts, first);
        let second = p.partition("t", None, None, &parts);
        assert_ne!(second, first, "switches to another partition");
        // A stale notice (for a partition we already left) does not switch again.
        p.on_new_batch("t", &parts, first);
        assert_eq!(p.partition("t", None, None, &parts), second);
        // Topics stick independently.
        let other = p.partition("u", None, None, &parts);
        p.on_new_batch("u", &parts, other);
        assert_eq!(p.partition("t", None, None, &parts), second);
    }

    #[test]
    fn sticky_picks_only_available_partitions() {
        let mut p = DefaultPartitioner::with_seed(7);
        let parts = Partitions::new(6, &[1, 4]).unwrap();
        let mut prev = p.partition("t", None, None, &parts);
        for _ in 0..50 {
            assert!(prev == 1 || prev == 4);
            p.on_new_batch("t", &parts, prev);
            let next = p.partition("t", None, None, &parts);
            assert_ne!(next, prev, "two choices: always the other one");
            prev = next;
        }
        // A single available partition is always chosen.
        let one = Partitions::new(6, &[3]).unwrap();
        p.on_new_batch("t", &one, prev);
        assert_eq!(p.partition("t", None, None, &one), 3);
        p.on_new_batch("t", &one, 3);
        assert_eq!(p.partition("t", None, None, &one), 3);
    }

    #[test]
    fn sticky_rechooses_when_partition_count_shrinks() {
        let mut p = DefaultPartitioner::with_seed(3);
        let many = Partitions::all(1000).unwrap();
        let mut first = p.partition("t", None, None, &many);
        while first == 0 {
            p.on_new_batch("t", &many, first);
            first = p.partition("t", None, None, &many);
        }
        let one = Partitions::all(1).unwrap();
        assert_eq!(p.partition("t", None, None, &one), 0);
    }

    #[test]
    fn sticky_spreads_over_partitions() {
        let mut p = DefaultPartitioner::with_seed(99);
        let parts = Partitions::all(4).unwrap();
        let mut seen = [0u32; 4];
        for _ in 0..400 {
            let cur = p.partition("t", None, None, &parts);
            seen[cur as usize] += 1;
            p.on_new_batch("t", &parts, cur);
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }

    #[test]
    fn ignore_keys_makes_keys_sticky() {
        let mut p = DefaultPartitioner::with_seed(5).ignore_keys(true);
        let parts = Partitions::all(16).unwrap();
        let a = p.partition("t", Some(b"k1"), None, &parts);
        assert_eq!(p.partition("t", Some(b"k2"), None, &parts), a);
        assert!(p.wants_new_batch_notice("t", Some(b"k1")));
    }

    #[test]
    fn round_robin_cycles() {
        let mut p = RoundRobinPartitioner::new();
        let all = Partitions::all(3).unwrap();
        let got: Vec<i32> = (0..7)
            .map(|_| p.partition("t", Some(b"same"), None, &all))
            .collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
        // Another topic has its own counter; available partitions are used when known.
        let avail = Partitions::new(5, &[1, 3]).unwrap();
        let got: Vec<i32> = (0..4)
            .map(|_| p.partition("u", None, None, &avail))
            .collect();
        assert_eq!(got, [1, 3, 1, 3]);
    }

    #[test]
    fn closure_partitioner_and_boxing() {
        let mut calls = 0;
        let mut p: Box<dyn Partitioner> = Box::new(FnPartitioner::new(
            move |topic: &str, _k: Option<&[u8]>, v: Option<&[u8]>, n: i32| {
                calls += 1;
                (topic.len() as i32 + v.map_or(0, |v| v.len() as i32) + calls) % n
            },
        ));
        let parts = Partitions::all(100).unwrap();
        assert_eq!(p.partition("abc", None, Some(b"xy"), &parts), 6);
        assert_eq!(p.partition("abc", None, Some(b"xy"), &parts), 7);
        assert!(!p.wants_new_batch_notice("abc", None));
        p.on_new_batch("abc", &parts, 6);
        p.close();
    }

    #[test]
    fn kinds_build_their_partitioner() {
        let parts = Partitions::all(5).unwrap();
        let mut rr = PartitionerKind::RoundRobin.build(false);
        assert_eq!(rr.partition("t", None, None, &parts), 0);
        assert_eq!(rr.partition("t", None, None, &parts), 1);
        let mut d = PartitionerKind::Default.build(false);
        assert_eq!(
            d.partition("t", Some(b"foobar"), None, &parts),
            1_357_151_166 % 5
        );
        let u = PartitionerKind::UniformSticky.build(false);
        assert!(u.wants_new_batch_notice("t", Some(b"k")));
    }

    proptest! {
        #[test]
        fn keyed_partition_in_range(key in proptest::collection::vec(any::<u8>(), 0..64), n in 1i32..10_000) {
            let p = partition_for_key(&key, n);
            prop_assert!((0..n).contains(&p));
        }

        #[test]
        fn sticky_always_in_range(seed in any::<u64>(), n in 1i32..64, avail in proptest::collection::vec(0i32..80, 0..5)) {
            let mut p = DefaultPartitioner::with_seed(seed);
            let parts = Partitions::new(n, &avail).unwrap();
            for _ in 0..20 {
                let got = p.partition("t", None, None, &parts);
                prop_assert!((0..n).contains(&got));
                let valid: Vec<i32> = avail.iter().copied().filter(|a| *a < n).collect();
                if !valid.is_empty() {
                    prop_assert!(valid.contains(&got));
                }
                p.on_new_batch("t", &parts, got);
            }
        }
    }
}
