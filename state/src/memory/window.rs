//! [`InMemoryWindowStore`].

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{as_ref, empty_range, in_range, owned};
use crate::error::StoreError;
use crate::store::{StateStore, WindowIter, WindowStore, WindowedEntry};

/// A window store in a `BTreeMap` by window start, then key: a time range is one range
/// scan, and expiry drops whole starts.
#[derive(Debug, Clone)]
pub struct InMemoryWindowStore {
    name: String,
    retention_ms: i64,
    windows: BTreeMap<i64, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// The largest window start written: windows at or before it minus the retention are
    /// gone.
    observed: i64,
    open: bool,
}

impl InMemoryWindowStore {
    /// A store keeping windows for `retention_ms` (Kafka Streams' default is the window
    /// size plus the grace period, set by the caller).
    pub fn new(
        name: impl Into<String>,
        retention_ms: i64,
    ) -> Result<InMemoryWindowStore, StoreError> {
        let name = name.into();
        if retention_ms < 0 {
            return Err(StoreError::InvalidArgument {
                store: name,
                reason: format!("retention {retention_ms} ms is negative"),
            });
        }
        Ok(InMemoryWindowStore {
            name,
            retention_ms,
            windows: BTreeMap::new(),
            observed: i64::MIN,
            open: true,
        })
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed(self.name.clone()))
        }
    }

    /// The earliest live window start.
    fn earliest_live(&self) -> i64 {
        self.observed
            .saturating_sub(self.retention_ms)
            .saturating_add(1)
    }

    /// The live starts within `time_from..=time_to`.
    fn starts(
        &self,
        time_from: i64,
        time_to: i64,
    ) -> impl DoubleEndedIterator<Item = (&i64, &BTreeMap<Vec<u8>, Vec<u8>>)> {
        let from = time_from.max(self.earliest_live());
        let range = if from > time_to {
            None
        } else {
            Some(self.windows.range(from..=time_to))
        };
        range.into_iter().flatten()
    }
}

impl StateStore for InMemoryWindowStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        false
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.check_open()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.open = false;
        self.windows.clear();
        Ok(())
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

impl WindowStore for InMemoryWindowStore {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, start: i64) -> Result<(), StoreError> {
        self.check_open()?;
        self.observed = self.observed.max(start);
        if start < self.earliest_live() {
            // Too late: the window has expired (Kafka Streams drops it and logs).
            return Ok(());
        }
        match value {
            Some(v) => {
                self.windows
                    .entry(start)
                    .or_default()
                    .insert(key.to_vec(), v.to_vec());
            }
            None => {
                if let Some(keys) = self.windows.get_mut(&start) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.windows.remove(&start);
                    }
                }
            }
        }
        // Expiry drops whole starts.
        let live = self.earliest_live();
        while let Some((&first, _)) = self.windows.first_key_value() {
            if first >= live {
                break;
            }
            self.windows.remove(&first);
        }
        Ok(())
    }

    fn fetch(&self, key: &[u8], start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        if start < self.earliest_live() {
            return Ok(None);
        }
        Ok(self.windows.get(&start).and_then(|k| k.get(key)).cloned())
    }

    fn fetch_key_range(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        reverse: bool,
    ) -> Result<WindowIter<'_>, StoreError> {
        self.check_open()?;
        let key = key.to_vec();
        let entries: Vec<_> = self
            .starts(time_from, time_to)
            .filter_map(|(start, keys)| {
                keys.get(&key).map(|v| {
                    Ok(WindowedEntry {
                        key: key.clone(),
                        start: *start,
                        value: v.clone(),
                    })
                })
            })
            .collect();
        Ok(if reverse {
            Box::new(entries.into_iter().rev())
        } else {
            Box::new(entries.into_iter())
        })
    }

    fn fetch_range(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<WindowIter<'_>, StoreError> {
        self.check_open()?;
        if empty_range(key_from, key_to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let (from, to) = (owned(key_from), owned(key_to));
        Ok(Box::new(self.starts(time_from, time_to).flat_map(
            move |(start, keys)| {
                let (from, to) = (from.clone(), to.clone());
                keys.iter()
                    .filter(move |(k, _)| in_range(k, as_ref(&from), as_ref(&to)))
                    .map(move |(k, v)| {
                        Ok(WindowedEntry {
                            key: k.clone(),
                            start: *start,
                            value: v.clone(),
                        })
                    })
            },
        )))
    }

    fn retention_ms(&self) -> i64 {
        self.retention_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entries(it: WindowIter<'_>) -> Vec<(Vec<u8>, i64, Vec<u8>)> {
        it.map(|e| e.map(|e| (e.key, e.start, e.value)))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn windows_expire_after_the_retention() {
        let mut s = InMemoryWindowStore::new("w", 100).unwrap();
        assert!(InMemoryWindowStore::new("w", -1).is_err());
        s.put(b"a", Some(b"1"), 0).unwrap();
        s.put(b"a", Some(b"2"), 50).unwrap();
        s.put(b"b", Some(b"3"), 50).unwrap();
        assert_eq!(s.fetch(b"a", 0).unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            entries(s.fetch_key_range(b"a", 0, 100, false).unwrap()),
            vec![
                (b"a".to_vec(), 0, b"1".to_vec()),
                (b"a".to_vec(), 50, b"2".to_vec())
            ]
        );
        assert_eq!(
            entries(s.fetch_key_range(b"a", 0, 100, true).unwrap())[0].1,
            50,
            "reverse"
        );
        // Stream time 100: start 0 is at the edge (100 - 100), so gone.
        s.put(b"c", Some(b"4"), 100).unwrap();
        assert_eq!(s.fetch(b"a", 0).unwrap(), None);
        // A late put of an expired window is dropped.
        s.put(b"a", Some(b"5"), 0).unwrap();
        assert_eq!(s.fetch(b"a", 0).unwrap(), None);
        assert_eq!(
            entries(s.all().unwrap()),
            vec![
                (b"a".to_vec(), 50, b"2".to_vec()),
                (b"b".to_vec(), 50, b"3".to_vec()),
                (b"c".to_vec(), 100, b"4".to_vec()),
            ]
        );
        s.put(b"b", None, 50).unwrap();
        assert_eq!(s.fetch(b"b", 50).unwrap(), None);
        assert!(
            entries(s.fetch_all(60, 40).unwrap()).is_empty(),
            "inverted time range"
        );
        s.close().unwrap();
        assert!(matches!(s.fetch(b"a", 50), Err(StoreError::Closed(_))));
    }

    proptest! {
        /// Fetches answer as a filter over a model of live windows.
        #[test]
        fn fetches_match_a_model(
            puts in proptest::collection::vec((0u8..4, 0i64..50, proptest::option::of(any::<u8>())), 0..60),
            retention in 0i64..30,
            from in 0i64..50,
            len in 0i64..50,
            key_lo in 0u8..4,
            key_hi in 0u8..4,
        ) {
            let mut s = InMemoryWindowStore::new("p", retention).unwrap();
            let mut model: BTreeMap<(i64, Vec<u8>), Vec<u8>> = BTreeMap::new();
            let mut observed = i64::MIN;
            for (k, start, v) in &puts {
                s.put(&[*k], v.as_ref().map(std::slice::from_ref), *start).unwrap();
                observed = observed.max(*start);
                if *start > observed - retention {
                    match v {
                        Some(v) => { model.insert((*start, vec![*k]), vec![*v]); }
                        None => { model.remove(&(*start, vec![*k])); }
                    }
                }
            }
            let live = |start: i64| start > observed - retention;
            let to = from + len;
            let want: Vec<(Vec<u8>, i64, Vec<u8>)> = model
                .iter()
                .filter(|((start, k), _)| live(*start) && (from..=to).contains(start)
                    && k[0] >= key_lo && k[0] <= key_hi)
                .map(|((start, k), v)| (k.clone(), *start, v.clone()))
                .collect();
            let got = entries(s.fetch_range(Bound::Included(&[key_lo]), Bound::Included(&[key_hi]), from, to).unwrap());
            prop_assert_eq!(got, want);
            let one: Vec<(Vec<u8>, i64, Vec<u8>)> = model
                .iter()
                .filter(|((start, k), _)| live(*start) && (from..=to).contains(start) && k[0] == key_lo)
                .map(|((start, k), v)| (k.clone(), *start, v.clone()))
                .collect();
            prop_assert_eq!(entries(s.fetch_key_range(&[key_lo], from, to, false).unwrap()), one);
        }
    }
}
