//! The small file-system seam every byte of the log goes through.
//!
//! [`OsStorage`] is the real thing (positional reads and writes on `std::fs::File`).
//! [`FaultyStorage`] wraps it for tests: it can cut the stream of written bytes at any point
//! (a torn write: the write is partly applied, then every later write and sync fails, as if
//! the machine lost power) and fail syncs, so crash behaviour can be tested without killing
//! processes.

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// An open file. All methods take `&self` so one handle can be shared by the appender and
/// any number of readers.
pub trait StorageFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// The current length of the file.
    fn file_size(&self) -> io::Result<u64>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Forces written data to stable storage (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;

    /// Reads exactly `buf.len()` bytes at `offset`, failing with `UnexpectedEof` if the file
    /// is shorter.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// Directory and file operations the log needs.
pub trait Storage: Send + Sync + Debug + 'static {
    /// Opens `path` for reading and writing, creating it when `create` is set.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries of a directory.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn exists(&self, path: &Path) -> bool;
    /// Makes a directory's entries (creations, renames, deletions) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;

    /// Reads a whole (small) file.
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open(path, false)?;
        let len = usize::try_from(file.file_size()?).map_err(|_| io::ErrorKind::OutOfMemory)?;
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }

    /// Replaces `path` with `contents` atomically: write a temporary file, sync it, rename
    /// it over `path`.
    fn write_file_atomic(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = self.open(&tmp, true)?;
        file.set_len(0)?;
        file.write_all_at(contents, 0)?;
        file.sync_data()?;
        drop(file);
        self.rename(&tmp, path)
    }
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsStorage;

#[derive(Debug)]
struct OsFile(File);

impl StorageFile for OsFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        loop {
            match self.0.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn file_size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Storage for OsStorage {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(OsFile(file)))
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}

/// What [`FaultyStorage`] does to the writes that pass through it.
#[derive(Debug, Default)]
struct FaultPlan {
    /// Bytes that may still be written before the "power cut"; `None` = unlimited.
    write_budget: Option<u64>,
    /// Set once the budget ran out: every later write and sync fails.
    crashed: bool,
    /// Fail every sync with an I/O error.
    fail_syncs: bool,
}

/// A [`Storage`] that injects faults into another one, for crash and I/O-error tests.
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    plan: Arc<Mutex<FaultPlan>>,
}

impl FaultyStorage {
    pub fn new(inner: Arc<dyn Storage>) -> FaultyStorage {
        FaultyStorage {
            inner,
            plan: Arc::new(Mutex::new(FaultPlan::default())),
        }
    }

    /// After `bytes` more bytes have been written (across all files), the write in progress
    /// is torn at that byte and every later write and sync fails.
    pub fn crash_after_bytes(&self, bytes: u64) {
        self.plan().write_budget = Some(bytes);
    }

    /// Makes every sync fail (or succeed again).
    pub fn fail_syncs(&self, fail: bool) {
        self.plan().fail_syncs = fail;
    }

    /// Whether the simulated power cut has happened.
    pub fn crashed(&self) -> bool {
        self.plan().crashed
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, FaultPlan> {
        // The plan holds plain flags; a panic elsewhere cannot leave it inconsistent.
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_alive(&self) -> io::Result<()> {
        if self.plan().crashed {
            return Err(io::Error::other("injected fault: storage is down"));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn StorageFile>,
    plan: Arc<Mutex<FaultPlan>>,
}

impl StorageFile for FaultyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let allowed = {
            let mut plan = self.plan.lock().unwrap_or_else(|e| e.into_inner());
            if plan.crashed {
                return Err(io::Error::other("injected fault: storage is down"));
            }
            match plan.write_budget {
                None => buf.len(),
                Some(budget) => {
                    let allowed = (budget.min(buf.len() as u64)) as usize;
                    plan.write_budget = Some(budget - allowed as u64);
                    if allowed < buf.len() {
                        plan.crashed = true;
                    }
                    allowed
                }
            }
        };
        self.inner.write_all_at(&buf[..allowed], offset)?;
        if allowed < buf.len() {
            return Err(io::Error::other("injected fault: torn write"));
        }
        Ok(())
    }
    fn file_size(&self) -> io::Result<u64> {
        self.inner.file_size()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        if self.plan.lock().unwrap_or_else(|e| e.into_inner()).crashed {
            return Err(io::Error::other("injected fault: storage is down"));
        }
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        let plan = self.plan.lock().unwrap_or_else(|e| e.into_inner());
        if plan.crashed || plan.fail_syncs {
            return Err(io::Error::other("injected fault: sync failed"));
        }
        drop(plan);
        self.inner.sync_data()
    }
}

impl Storage for FaultyStorage {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        if create {
            self.check_alive()?;
        }
        Ok(Arc::new(FaultyFile {
            inner: self.inner.open(path, create)?,
            plan: self.plan.clone(),
        }))
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.check_alive()?;
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check_alive()?;
        self.inner.remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.check_alive()?;
        self.inner.remove_dir_all(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check_alive()?;
        self.inner.rename(from, to)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.check_alive()?;
        self.inner.sync_dir(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_write_applies_a_prefix_then_fails_everything() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FaultyStorage::new(Arc::new(OsStorage));
        let file = storage.open(&dir.path().join("f"), true).unwrap();
        storage.crash_after_bytes(5);
        file.write_all_at(b"abc", 0).unwrap();
        assert!(file.write_all_at(b"defgh", 3).is_err());
        assert!(storage.crashed());
        assert!(file.write_all_at(b"x", 10).is_err());
        assert!(file.sync_data().is_err());
        assert_eq!(
            OsStorage.read_file(&dir.path().join("f")).unwrap(),
            b"abcde"
        );
    }

    #[test]
    fn atomic_write_replaces_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        OsStorage
            .write_file_atomic(&path, b"first, longer")
            .unwrap();
        OsStorage.write_file_atomic(&path, b"second").unwrap();
        assert_eq!(OsStorage.read_file(&path).unwrap(), b"second");
        assert!(!dir.path().join("cp.tmp").exists());
    }
}
