//! Producer ids for idempotent producers (InitProducerId), unique across the cluster and
//! across restarts: each broker takes blocks of [`BLOCK`] ids from the controller quorum
//! (`AllocateProducerIds`, committed to the metadata log before any id in the block is
//! used), as Kafka's brokers do.
//!
//! A data directory from before the quorum kept its high-water mark in
//! `<data dir>/producer-ids`; blocks below it are skipped, so no id is ever handed out twice.

use std::path::Path;
use std::sync::Mutex;

use crate::log::{OsStorage, Storage};

pub const BLOCK: i64 = 1000;

/// Commits the allocation of `count` ids and returns the first.
pub type Allocator = Box<dyn Fn(i64) -> Result<i64, String> + Send + Sync>;

pub struct ProducerIds {
    allocate: Allocator,
    /// Ids below this were handed out before the quorum existed.
    floor: i64,
    /// (next id to hand out, end of the allocated block).
    range: Mutex<(i64, i64)>,
}

impl std::fmt::Debug for ProducerIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerIds")
            .field("floor", &self.floor)
            .finish_non_exhaustive()
    }
}

impl ProducerIds {
    pub fn open(data_dir: &Path, allocate: Allocator) -> Result<ProducerIds, String> {
        let path = data_dir.join("producer-ids");
        let floor = match OsStorage.read_file(&path) {
            Ok(bytes) => String::from_utf8(bytes)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("{} is corrupt", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        Ok(ProducerIds {
            allocate,
            floor,
            range: Mutex::new((0, 0)),
        })
    }

    /// A fresh producer id.
    pub fn next(&self) -> Result<i64, String> {
        let mut range = self.range.lock().unwrap_or_else(|e| e.into_inner());
        if range.0 == range.1 {
            let mut start = (self.allocate)(BLOCK)?;
            if start < self.floor {
                // Skip what the pre-quorum broker handed out, then take a block.
                (self.allocate)(self.floor - start - BLOCK)?;
                start = (self.allocate)(BLOCK)?;
            }
            *range = (start, start + BLOCK);
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn counter() -> (Arc<Mutex<i64>>, Allocator) {
        let next = Arc::new(Mutex::new(0i64));
        let n = next.clone();
        let allocate: Allocator = Box::new(move |count| {
            let mut n = n.lock().unwrap();
            let start = *n;
            *n += count.max(1);
            Ok(start)
        });
        (next, allocate)
    }

    #[test]
    fn ids_come_from_allocated_blocks_and_skip_pre_quorum_ids() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, allocate) = counter();
        let ids = ProducerIds::open(dir.path(), allocate).unwrap();
        let first: Vec<i64> = (0..5).map(|_| ids.next().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2, 3, 4]);
        // A second broker takes the next block: no overlap.
        let other = ProducerIds::open(dir.path(), {
            let s = shared.clone();
            Box::new(move |count| {
                let mut n = s.lock().unwrap();
                let start = *n;
                *n += count;
                Ok(start)
            })
        })
        .unwrap();
        assert_eq!(other.next().unwrap(), BLOCK);
        // An old data directory handed out ids up to 5000: the first id is past them.
        std::fs::write(dir.path().join("producer-ids"), b"5000").unwrap();
        let (_, allocate) = counter();
        let old = ProducerIds::open(dir.path(), allocate).unwrap();
        assert!(old.next().unwrap() >= 5000);
        std::fs::write(dir.path().join("producer-ids"), b"garbage").unwrap();
        let (_, allocate) = counter();
        assert!(ProducerIds::open(dir.path(), allocate).is_err());
    }
}
