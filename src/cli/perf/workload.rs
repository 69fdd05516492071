//! What a workload sends: a pool of payloads generated before the run (so the hot path only
//! clones a [`Bytes`]), the keys, and a small fast random generator for both.

use bytes::{BufMut, Bytes, BytesMut};

/// How records get keys, OpenMessaging Benchmark's `keyDistributor`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// No key: the partitioner spreads records itself (sticky batches).
    None,
    /// Keys `0, 1, 2, ...` of `--key-space` in turn.
    RoundRobin,
    /// A uniformly random key of `--key-space`.
    Random,
}

/// At most this many distinct keys (they are generated up front).
pub const MAX_KEY_SPACE: u64 = 1 << 20;

/// The pool of payloads takes at most about this many bytes.
const POOL_BYTES: usize = 64 << 20;
/// And holds at most this many payloads.
const POOL_MAX: usize = 1024;

/// The compressible part of a payload: English-like text, as real records often are.
const TEXT: &[u8] = b"brook perf record: the compressible part of a payload, text that repeats \
    the way log lines, JSON documents and other real records usually do. ";

/// xorshift64*: fast, good enough for payload bytes and key choice; not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // SplitMix64 once, so that nearby seeds give unrelated streams (and never 0).
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// Seeded from the clock and the process id.
    pub fn from_entropy() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng::new(nanos ^ (u64::from(std::process::id()) << 32))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// Payloads of one size: the first `random_fraction` of each is random bytes, the rest
/// compressible text.
#[derive(Debug)]
pub struct Payloads {
    values: Vec<Bytes>,
    size: usize,
}

impl Payloads {
    pub fn new(size: usize, random_fraction: f64, rng: &mut Rng) -> Payloads {
        let count = (POOL_BYTES / size.max(1)).clamp(1, POOL_MAX);
        let random = ((size as f64) * random_fraction.clamp(0.0, 1.0)).round() as usize;
        let random = random.min(size);
        let values = (0..count)
            .map(|i| {
                let mut v = vec![0u8; size];
                rng.fill(&mut v[..random]);
                for (j, b) in v[random..].iter_mut().enumerate() {
                    *b = TEXT[(i + j) % TEXT.len()];
                }
                Bytes::from(v)
            })
            .collect();
        Payloads { values, size }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The `n`-th payload (the pool is cycled through).
    pub fn get(&self, n: u64) -> Bytes {
        self.values[(n % self.values.len() as u64) as usize].clone()
    }

    /// The `n`-th payload with its first 8 bytes replaced by `stamp` (little endian): the
    /// intended send time an end-to-end consumer reads back. A copy, unlike [`get`](Self::get).
    pub fn stamped(&self, n: u64, stamp: u64) -> Bytes {
        let src = &self.values[(n % self.values.len() as u64) as usize];
        let mut b = BytesMut::with_capacity(src.len().max(8));
        b.put_u64_le(stamp);
        if src.len() > 8 {
            b.extend_from_slice(&src[8..]);
        }
        b.freeze()
    }
}

/// The stamp [`Payloads::stamped`] wrote, if the value is long enough to hold one.
pub fn read_stamp(value: &[u8]) -> Option<u64> {
    let b: [u8; 8] = value.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// The key pool and the choice of the next key, for one producer.
#[derive(Debug)]
pub struct KeyChooser {
    keys: std::sync::Arc<Vec<Bytes>>,
    kind: Keys,
    next: u64,
}

/// The keys `0 ..= key_space - 1` as decimal text (none for [`Keys::None`]).
pub fn key_pool(kind: Keys, key_space: u64) -> std::sync::Arc<Vec<Bytes>> {
    std::sync::Arc::new(match kind {
        Keys::None => Vec::new(),
        _ => (0..key_space.clamp(1, MAX_KEY_SPACE))
            .map(|i| Bytes::from(i.to_string()))
            .collect(),
    })
}

impl KeyChooser {
    /// Producer number `index` starts its round robin at its own offset.
    pub fn new(kind: Keys, keys: std::sync::Arc<Vec<Bytes>>, index: u64) -> KeyChooser {
        KeyChooser {
            keys,
            kind,
            next: index,
        }
    }

    pub fn next(&mut self, rng: &mut Rng) -> Option<Bytes> {
        if self.keys.is_empty() {
            return None;
        }
        let n = self.keys.len() as u64;
        let i = match self.kind {
            Keys::None => return None,
            Keys::RoundRobin => {
                let i = self.next % n;
                self.next = self.next.wrapping_add(1);
                i
            }
            Keys::Random => rng.below(n),
        };
        Some(self.keys[i as usize].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_half_random_half_text() {
        let mut rng = Rng::new(7);
        let p = Payloads::new(1024, 0.5, &mut rng);
        let v = p.get(3);
        assert_eq!(v.len(), 1024);
        assert!(v[512..].iter().all(|b| TEXT.contains(b)));
        assert_ne!(p.get(0), p.get(1));
        let s = p.stamped(3, 0x0102_0304_0506_0708);
        assert_eq!(read_stamp(&s), Some(0x0102_0304_0506_0708));
        assert_eq!(&s[8..], &v[8..]);
        assert_eq!(read_stamp(b"short"), None);
        let tiny = Payloads::new(0, 0.5, &mut rng);
        assert!(tiny.get(5).is_empty());
    }

    #[test]
    fn keys_cycle_or_stay_in_range() {
        let mut rng = Rng::new(1);
        let pool = key_pool(Keys::RoundRobin, 3);
        let mut rr = KeyChooser::new(Keys::RoundRobin, pool.clone(), 1);
        let got: Vec<Bytes> = (0..4).filter_map(|_| rr.next(&mut rng)).collect();
        assert_eq!(got, ["1", "2", "0", "1"].map(Bytes::from));
        let mut random = KeyChooser::new(Keys::Random, pool, 0);
        for _ in 0..100 {
            let k = random.next(&mut rng).unwrap();
            assert!(["0", "1", "2"].contains(&std::str::from_utf8(&k).unwrap()));
        }
        let mut none = KeyChooser::new(Keys::None, key_pool(Keys::None, 3), 0);
        assert_eq!(none.next(&mut rng), None);
        assert!((0..1000).all(|_| rng.below(10) < 10));
    }
}
