//! The metadata state machine: applies committed metadata commands to the
//! [`ClusterImage`], publishes each new image, and snapshots it (`snapshot.json` in the
//! metadata directory, replaced atomically; openraft purges the log entries the snapshot
//! covers).

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{
    EntryPayload, LogId, OptionalSend, Snapshot, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::image::{ClusterImage, CommandResult};
use super::TypeConfig;
use crate::log::{OsStorage, Storage};

type NodeId = u64;
type Node = openraft::BasicNode;

/// The applied metadata, shared with the rest of the broker.
#[derive(Debug)]
pub struct MetadataView {
    image: RwLock<Arc<ClusterImage>>,
    /// The index of the last applied entry; bumped after `image` is replaced.
    applied: watch::Sender<u64>,
}

impl MetadataView {
    fn new() -> MetadataView {
        MetadataView {
            image: RwLock::new(Arc::new(ClusterImage::default())),
            applied: watch::channel(0).0,
        }
    }

    /// The latest applied image.
    pub fn image(&self) -> Arc<ClusterImage> {
        self.image.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The index of the last applied metadata entry.
    pub fn applied_index(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Wakes on every applied change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    fn publish(&self, image: ClusterImage, index: u64) {
        *self.image.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(image);
        self.applied.send_replace(index);
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, Node>,
    image: ClusterImage,
}

/// openraft's state machine over [`ClusterImage`].
#[derive(Debug)]
pub struct MetadataStateMachine {
    view: Arc<MetadataView>,
    image: ClusterImage,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, Node>,
    snapshot_path: PathBuf,
    current: Option<StoredSnapshot>,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl MetadataStateMachine {
    /// Opens the state machine at its last snapshot (if any) in `dir`.
    pub fn open(
        dir: &std::path::Path,
    ) -> Result<(MetadataStateMachine, Arc<MetadataView>), String> {
        let snapshot_path = dir.join("snapshot.json");
        let view = Arc::new(MetadataView::new());
        let mut sm = MetadataStateMachine {
            view: view.clone(),
            image: ClusterImage::default(),
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot_path,
            current: None,
        };
        if OsStorage.exists(&sm.snapshot_path) {
            let bytes = OsStorage
                .read_file(&sm.snapshot_path)
                .map_err(|e| format!("reading {}: {e}", sm.snapshot_path.display()))?;
            let stored: StoredSnapshot = serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{} is not a metadata snapshot: {e}",
                    sm.snapshot_path.display()
                )
            })?;
            sm.image = stored.image.clone();
            sm.last_applied = stored.meta.last_log_id;
            sm.membership = stored.meta.last_membership.clone();
            view.publish(sm.image.clone(), sm.last_applied.map_or(0, |l| l.index));
            sm.current = Some(stored);
        }
        Ok((sm, view))
    }

    fn save(&mut self, stored: StoredSnapshot) -> Result<(), std::io::Error> {
        let bytes = serde_json::to_vec(&stored).map_err(io_err)?;
        OsStorage.write_file_atomic(&self.snapshot_path, &bytes)?;
        self.current = Some(stored);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for MetadataStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                self.last_applied.map_or(0, |l| l.leader_id.term),
                self.last_applied.map_or(0, |l| l.index)
            ),
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            image: self.image.clone(),
        };
        let bytes = serde_json::to_vec(&stored)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &io_err(e)))?;
        self.save(stored)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for MetadataStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, Node>), StorageError<NodeId>> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut results = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let result = match &entry.payload {
                EntryPayload::Blank => CommandResult::Ok,
                EntryPayload::Normal(command) => self.image.apply(command),
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    CommandResult::Ok
                }
            };
            results.push(result);
        }
        if let Some(last) = self.last_applied {
            self.view.publish(self.image.clone(), last.index);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        MetadataStateMachine {
            view: self.view.clone(),
            image: self.image.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            snapshot_path: self.snapshot_path.clone(),
            current: None,
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let stored: StoredSnapshot = serde_json::from_slice(snapshot.get_ref())
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &io_err(e)))?;
        self.image = stored.image.clone();
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        let stored = StoredSnapshot {
            meta: meta.clone(),
            image: stored.image,
        };
        self.save(stored)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.view
            .publish(self.image.clone(), self.last_applied.map_or(0, |l| l.index));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        if self.current.is_none() && OsStorage.exists(&self.snapshot_path) {
            let bytes = OsStorage
                .read_file(&self.snapshot_path)
                .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
            self.current = serde_json::from_slice(&bytes).ok();
        }
        let Some(stored) = &self.current else {
            return Ok(None);
        };
        let bytes = serde_json::to_vec(stored).map_err(|e| {
            StorageIOError::read_snapshot(Some(stored.meta.signature()), &io_err(e))
        })?;
        Ok(Some(Snapshot {
            meta: stored.meta.clone(),
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
