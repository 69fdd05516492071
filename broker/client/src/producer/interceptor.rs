//! Producer interceptors, as Java's `ProducerInterceptor`: code that sees every record
//! before it is partitioned and batched, and every outcome before the application does
//! (tracing headers, metrics, auditing). Added with
//! [`Producer::add_interceptor`](super::Producer::add_interceptor); they run in the order
//! added, on the sending task for [`on_send`](ProducerInterceptor::on_send) and on a
//! producer task for [`on_acknowledgement`](ProducerInterceptor::on_acknowledgement), so
//! both should be quick.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use brook_client::producer::{ProducerInterceptor, ProducerRecord, RecordMetadata};
//! use brook_client::ClientError;
//!
//! /// Stamps a header on every record and counts failures.
//! #[derive(Default)]
//! struct Audit {
//!     failed: AtomicU64,
//! }
//!
//! impl ProducerInterceptor for Audit {
//!     fn on_send(&self, record: ProducerRecord) -> ProducerRecord {
//!         record.with_header("audited-by", Some(&b"billing"[..]))
//!     }
//!     fn on_acknowledgement(&self, outcome: &Result<RecordMetadata, ClientError>) {
//!         if outcome.is_err() {
//!             self.failed.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//! let r = Audit::default().on_send(ProducerRecord::new("t", "v".into()));
//! assert_eq!(r.headers[0].key, "audited-by");
//! ```

use super::record::{ProducerRecord, RecordMetadata};
use crate::error::ClientError;

/// Sees records on their way in and their outcomes on the way out.
pub trait ProducerInterceptor: Send + Sync {
    /// Called by `send` before the partitioner: returns the record to send (the same one,
    /// or a changed one: other headers, another partition, another value).
    fn on_send(&self, record: ProducerRecord) -> ProducerRecord {
        record
    }

    /// Called once per record with its outcome, before the record's future or callback
    /// completes.
    fn on_acknowledgement(&self, outcome: &Result<RecordMetadata, ClientError>) {
        let _ = outcome;
    }
}
