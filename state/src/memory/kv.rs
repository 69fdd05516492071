//! [`InMemoryKeyValueStore`].

use std::collections::BTreeMap;
use std::ops::Bound;

use super::empty_range;
use crate::error::StoreError;
use crate::store::{KeyValueIter, KeyValueStore, StateStore};

/// A key-value store in a `BTreeMap`.
#[derive(Debug, Clone)]
pub struct InMemoryKeyValueStore {
    name: String,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    open: bool,
}

impl InMemoryKeyValueStore {
    pub fn new(name: impl Into<String>) -> InMemoryKeyValueStore {
        InMemoryKeyValueStore {
            name: name.into(),
            map: BTreeMap::new(),
            open: true,
        }
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed(self.name.clone()))
        }
    }
}

impl StateStore for InMemoryKeyValueStore {
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
        self.map.clear();
        Ok(())
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

impl KeyValueStore for InMemoryKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        Ok(self.map.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.check_open()?;
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn write_batch(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<(), StoreError> {
        self.check_open()?;
        for (k, v) in entries {
            match v {
                Some(v) => self.map.insert(k.to_vec(), v.to_vec()),
                None => self.map.remove(*k),
            };
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        Ok(self.map.remove(key))
    }

    fn range(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        self.check_open()?;
        if empty_range(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let it = self
            .map
            .range::<[u8], _>((from, to))
            .map(|(k, v)| Ok((k.clone(), v.clone())));
        Ok(if reverse {
            Box::new(it.rev())
        } else {
            Box::new(it)
        })
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.check_open()?;
        Ok(self.map.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(it: KeyValueIter<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
        it.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn basic_operations_and_closing() {
        let mut s = InMemoryKeyValueStore::new("counts");
        assert_eq!(s.name(), "counts");
        assert!(!s.persistent());
        s.put(b"a", b"1").unwrap();
        assert_eq!(s.put_if_absent(b"a", b"2").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.put_if_absent(b"b", b"2").unwrap(), None);
        assert_eq!(s.get(b"b").unwrap(), Some(b"2".to_vec()));
        s.write_batch(&[(b"c", Some(b"3")), (b"a", None), (b"c", Some(b"4"))])
            .unwrap();
        assert_eq!(s.get(b"a").unwrap(), None);
        assert_eq!(s.get(b"c").unwrap(), Some(b"4".to_vec()));
        assert_eq!(s.delete(b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.delete(b"b").unwrap(), None);
        assert_eq!(s.approximate_num_entries().unwrap(), 1);
        // An inverted range is empty, not a panic.
        assert!(collect(
            s.range(Bound::Included(b"z"), Bound::Included(b"a"), false)
                .unwrap()
        )
        .is_empty());
        assert!(collect(
            s.range(Bound::Excluded(b"c"), Bound::Excluded(b"c"), false)
                .unwrap()
        )
        .is_empty());
        s.close().unwrap();
        assert!(!s.is_open());
        assert!(matches!(s.get(b"c"), Err(StoreError::Closed(_))));
        assert!(matches!(s.put(b"c", b"1"), Err(StoreError::Closed(_))));
    }

    fn bound(b: &Option<(bool, Vec<u8>)>) -> Bound<&[u8]> {
        match b {
            None => Bound::Unbounded,
            Some((true, k)) => Bound::Included(k),
            Some((false, k)) => Bound::Excluded(k),
        }
    }

    fn small_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(0xfe), Just(0xff)],
            0..3,
        )
    }

    proptest! {
        /// Ranges, reverse ranges and prefix scans answer as a filter over a model map.
        #[test]
        fn scans_match_a_model(
            puts in proptest::collection::vec((small_key(), any::<u8>()), 0..40),
            deletes in proptest::collection::vec(small_key(), 0..10),
            from in proptest::option::of((any::<bool>(), small_key())),
            to in proptest::option::of((any::<bool>(), small_key())),
            prefix in small_key(),
        ) {
            let mut s = InMemoryKeyValueStore::new("p");
            let mut model = BTreeMap::new();
            for (k, v) in &puts {
                s.put(k, &[*v]).unwrap();
                model.insert(k.clone(), vec![*v]);
            }
            for k in &deletes {
                prop_assert_eq!(s.delete(k).unwrap(), model.remove(k));
            }
            let (f, t) = (bound(&from), bound(&to));
            let want: Vec<(Vec<u8>, Vec<u8>)> = model
                .iter()
                .filter(|(k, _)| super::super::in_range(k, f, t))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(&collect(s.range(f, t, false).unwrap()), &want);
            let mut rev = want.clone();
            rev.reverse();
            prop_assert_eq!(collect(s.range(f, t, true).unwrap()), rev);
            let with_prefix: Vec<(Vec<u8>, Vec<u8>)> = model
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(collect(s.prefix_scan(&prefix).unwrap()), with_prefix);
            prop_assert_eq!(s.approximate_num_entries().unwrap(), model.len() as u64);
        }
    }
}
