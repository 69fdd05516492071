//! Producer ids for idempotent producers (InitProducerId), unique across restarts: ids are
//! handed out from blocks of `BLOCK`, and the end of a block is written to
//! `<data dir>/producer-ids` (atomically, fsynced) before any id in it is used.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::log::{OsStorage, Storage};

const BLOCK: i64 = 1000;

#[derive(Debug)]
pub struct ProducerIds {
    path: PathBuf,
    /// (next id to hand out, end of the persisted block).
    range: Mutex<(i64, i64)>,
}

impl ProducerIds {
    pub fn open(data_dir: &std::path::Path) -> Result<ProducerIds, String> {
        let path = data_dir.join("producer-ids");
        let start = match OsStorage.read_file(&path) {
            Ok(bytes) => String::from_utf8(bytes)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("{} is corrupt", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        Ok(ProducerIds {
            path,
            range: Mutex::new((start, start)),
        })
    }

    /// A fresh producer id.
    pub fn next(&self) -> Result<i64, String> {
        let mut range = self.range.lock().unwrap_or_else(|e| e.into_inner());
        if range.0 == range.1 {
            let end = range.1 + BLOCK;
            OsStorage
                .write_file_atomic(&self.path, end.to_string().as_bytes())
                .map_err(|e| format!("writing {}: {e}", self.path.display()))?;
            range.1 = end;
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_repeat_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        let first: Vec<i64> = (0..5).map(|_| ids.next().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2, 3, 4]);
        drop(ids);
        let ids = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(
            ids.next().unwrap(),
            BLOCK,
            "a restart starts after the persisted block"
        );
        std::fs::write(dir.path().join("producer-ids"), b"garbage").unwrap();
        assert!(ProducerIds::open(dir.path()).is_err());
    }
}
