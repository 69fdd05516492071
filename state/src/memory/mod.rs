//! In-memory implementations of every store trait, on `BTreeMap`s: for tests, the test
//! driver and small stores. Nothing survives a restart except through the changelog.

mod kv;
mod session;
mod window;

pub use kv::InMemoryKeyValueStore;
pub use session::InMemorySessionStore;
pub use window::InMemoryWindowStore;

use std::ops::Bound;

/// Whether `from..to` is empty or inverted: `BTreeMap::range` panics on an inverted range,
/// and a store answers one with nothing, as Kafka Streams does.
pub(crate) fn empty_range(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    match (from, to) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

/// Whether `key` is within the bounds.
pub(crate) fn in_range(key: &[u8], from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    let above = match from {
        Bound::Included(a) => key >= a,
        Bound::Excluded(a) => key > a,
        Bound::Unbounded => true,
    };
    let below = match to {
        Bound::Included(b) => key <= b,
        Bound::Excluded(b) => key < b,
        Bound::Unbounded => true,
    };
    above && below
}

/// An owned copy of a key bound, for iterators that outlive the caller's slices.
pub(crate) fn owned(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// A borrowed view of an owned key bound.
pub(crate) fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}
