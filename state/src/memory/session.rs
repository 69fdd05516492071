//! [`InMemorySessionStore`].

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::empty_range;
use crate::error::StoreError;
use crate::store::{SessionEntry, SessionIter, SessionStore, SessionWindow, StateStore};

/// A key's sessions by (end, start).
type KeySessions = BTreeMap<(i64, i64), Vec<u8>>;

/// A session store in a `BTreeMap` by key, then session end and start; an index by end
/// time makes expiry cheap.
#[derive(Debug, Clone)]
pub struct InMemorySessionStore {
    name: String,
    retention_ms: i64,
    sessions: BTreeMap<Vec<u8>, KeySessions>,
    by_end: BTreeSet<(i64, Vec<u8>, i64)>,
    /// The largest session end written.
    observed: i64,
    open: bool,
}

impl InMemorySessionStore {
    /// A store keeping sessions for `retention_ms` after they end (Kafka Streams' default
    /// is the inactivity gap plus the grace period, set by the caller).
    pub fn new(
        name: impl Into<String>,
        retention_ms: i64,
    ) -> Result<InMemorySessionStore, StoreError> {
        let name = name.into();
        if retention_ms < 0 {
            return Err(StoreError::InvalidArgument {
                store: name,
                reason: format!("retention {retention_ms} ms is negative"),
            });
        }
        Ok(InMemorySessionStore {
            name,
            retention_ms,
            sessions: BTreeMap::new(),
            by_end: BTreeSet::new(),
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

    fn earliest_live_end(&self) -> i64 {
        self.observed
            .saturating_sub(self.retention_ms)
            .saturating_add(1)
    }

    fn remove_entry(&mut self, key: &[u8], window: SessionWindow) {
        if let Some(s) = self.sessions.get_mut(key) {
            s.remove(&(window.end, window.start));
            if s.is_empty() {
                self.sessions.remove(key);
            }
        }
        self.by_end
            .remove(&(window.end, key.to_vec(), window.start));
    }
}

fn invalid_window(store: &str, w: SessionWindow) -> StoreError {
    StoreError::InvalidArgument {
        store: store.to_owned(),
        reason: format!(
            "session window ends ({}) before it starts ({})",
            w.end, w.start
        ),
    }
}

impl StateStore for InMemorySessionStore {
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
        self.sessions.clear();
        self.by_end.clear();
        Ok(())
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

impl SessionStore for InMemorySessionStore {
    fn put(&mut self, key: &[u8], window: SessionWindow, value: &[u8]) -> Result<(), StoreError> {
        self.check_open()?;
        if window.end < window.start {
            return Err(invalid_window(&self.name, window));
        }
        self.observed = self.observed.max(window.end);
        if window.end < self.earliest_live_end() {
            return Ok(());
        }
        self.sessions
            .entry(key.to_vec())
            .or_default()
            .insert((window.end, window.start), value.to_vec());
        self.by_end.insert((window.end, key.to_vec(), window.start));
        let live = self.earliest_live_end();
        while let Some((end, k, start)) = self.by_end.first().cloned() {
            if end >= live {
                break;
            }
            self.remove_entry(&k, SessionWindow { start, end });
        }
        Ok(())
    }

    fn remove(&mut self, key: &[u8], window: SessionWindow) -> Result<(), StoreError> {
        self.check_open()?;
        self.remove_entry(key, window);
        Ok(())
    }

    fn fetch_session(
        &self,
        key: &[u8],
        window: SessionWindow,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        if window.end < self.earliest_live_end() {
            return Ok(None);
        }
        Ok(self
            .sessions
            .get(key)
            .and_then(|s| s.get(&(window.end, window.start)))
            .cloned())
    }

    fn find_sessions(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>, StoreError> {
        self.check_open()?;
        if empty_range(key_from, key_to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let earliest_end = earliest_end.max(self.earliest_live_end());
        Ok(Box::new(
            self.sessions
                .range::<[u8], _>((key_from, key_to))
                .flat_map(move |(key, s)| {
                    s.range((earliest_end, i64::MIN)..)
                        .filter(move |((_, start), _)| *start <= latest_start)
                        .map(move |((end, start), v)| {
                            Ok(SessionEntry {
                                key: key.clone(),
                                window: SessionWindow {
                                    start: *start,
                                    end: *end,
                                },
                                value: v.clone(),
                            })
                        })
                }),
        ))
    }

    fn retention_ms(&self) -> i64 {
        self.retention_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(start: i64, end: i64) -> SessionWindow {
        SessionWindow { start, end }
    }

    fn found(it: SessionIter<'_>) -> Vec<(Vec<u8>, i64, i64)> {
        it.map(|e| e.map(|e| (e.key, e.window.start, e.window.end)))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn sessions_merge_candidates_and_expiry() {
        let mut s = InMemorySessionStore::new("s", 100).unwrap();
        s.put(b"a", w(0, 10), b"x").unwrap();
        s.put(b"a", w(30, 40), b"y").unwrap();
        s.put(b"b", w(5, 5), b"z").unwrap();
        assert!(s.put(b"a", w(9, 8), b"bad").is_err());
        // A record at 20 with a gap of 10 may merge with sessions ending at >= 10 and
        // starting at <= 30: both of a's.
        assert_eq!(
            found(s.find_key_sessions(b"a", 10, 30).unwrap()),
            vec![(b"a".to_vec(), 0, 10), (b"a".to_vec(), 30, 40)]
        );
        assert_eq!(found(s.find_key_sessions(b"a", 11, 29).unwrap()), vec![]);
        assert_eq!(s.fetch_session(b"b", w(5, 5)).unwrap(), Some(b"z".to_vec()));
        s.remove(b"a", w(0, 10)).unwrap();
        assert_eq!(found(s.fetch(b"a").unwrap()), vec![(b"a".to_vec(), 30, 40)]);
        // Stream time 145: sessions that ended at or before 45 are gone.
        s.put(b"c", w(140, 145), b"w").unwrap();
        assert_eq!(found(s.fetch(b"a").unwrap()), vec![]);
        assert_eq!(found(s.fetch(b"b").unwrap()), vec![]);
        s.put(b"a", w(0, 1), b"late").unwrap();
        assert_eq!(s.fetch_session(b"a", w(0, 1)).unwrap(), None);
        assert_eq!(
            found(
                s.find_sessions(Bound::Unbounded, Bound::Unbounded, i64::MIN, i64::MAX)
                    .unwrap()
            ),
            vec![(b"c".to_vec(), 140, 145)]
        );
    }

    proptest! {
        #[test]
        fn finds_match_a_model(
            puts in proptest::collection::vec((0u8..3, 0i64..40, 0i64..10, any::<bool>()), 0..50),
            retention in 0i64..40,
            earliest_end in 0i64..50,
            latest_start in 0i64..50,
        ) {
            let mut s = InMemorySessionStore::new("p", retention).unwrap();
            let mut model: BTreeMap<(Vec<u8>, i64, i64), ()> = BTreeMap::new();
            let mut observed = i64::MIN;
            for (k, start, len, remove) in &puts {
                let win = w(*start, start + len);
                if *remove {
                    s.remove(&[*k], win).unwrap();
                    model.remove(&(vec![*k], win.end, win.start));
                } else {
                    s.put(&[*k], win, b"v").unwrap();
                    observed = observed.max(win.end);
                    if win.end > observed - retention {
                        model.insert((vec![*k], win.end, win.start), ());
                    }
                }
            }
            let want: Vec<(Vec<u8>, i64, i64)> = model
                .keys()
                .filter(|(_, end, start)| *end > observed - retention && *end >= earliest_end && *start <= latest_start)
                .map(|(k, end, start)| (k.clone(), *start, *end))
                .collect();
            let got = found(s.find_sessions(Bound::Unbounded, Bound::Unbounded, earliest_end, latest_start).unwrap());
            prop_assert_eq!(got, want);
        }
    }
}
