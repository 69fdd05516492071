//! A small per-call-site cache for values derived from non-literal arguments (compiled
//! regexes, date-time patterns, time zones), so a column of repeating patterns is not
//! recompiled on every record.

use std::sync::{Arc, Mutex};

/// How many distinct keys a [`Memo`] keeps.
const CAPACITY: usize = 16;

/// Remembers the last few `key -> value` derivations, failures included.
pub struct Memo<T> {
    slots: Mutex<Vec<Slot<T>>>,
}

/// One remembered derivation.
type Slot<T> = (String, Result<Arc<T>, String>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo {
            slots: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Memo<T> {
    pub fn new() -> Memo<T> {
        Memo::default()
    }

    /// The value for `key`, made with `make` on a miss.
    pub fn get(
        &self,
        key: &str,
        make: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Arc<T>, String> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = slots.iter().position(|(k, _)| k == key) {
            let entry = slots.remove(i);
            let result = entry.1.clone();
            slots.push(entry);
            return result;
        }
        let result = make(key).map(Arc::new);
        if slots.len() >= CAPACITY {
            drop(slots.remove(0));
        }
        slots.push((key.to_string(), result.clone()));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_results_and_errors() {
        let memo: Memo<usize> = Memo::new();
        let mut calls = 0;
        for _ in 0..3 {
            let v = memo
                .get("abc", |k| {
                    calls += 1;
                    Ok(k.len())
                })
                .unwrap();
            assert_eq!(*v, 3);
        }
        assert_eq!(calls, 1);
        assert!(memo.get("bad", |_| Err("no".to_string())).is_err());
        for i in 0..40 {
            let _ = memo.get(&i.to_string(), |k| Ok(k.len()));
        }
        assert!(memo.slots.lock().unwrap().len() <= CAPACITY);
    }
}
