//! Fetch (key 1): whole stored batches from each partition's fetch offset up to the high
//! watermark, within `partition_max_bytes` and `max_bytes` (the first partition with data
//! always gets at least one whole batch, as KIP-74 requires), waiting up to `max_wait_ms`
//! for `min_bytes`. Topics are named (v4-12) or identified by id (v13+). Fetch sessions
//! (KIP-227) are declined: the response's session id is 0, so clients send full fetches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use brook_protocol::messages::{FetchRequest, FetchResponse, Uuid};

use crate::log::LogError;
use crate::server::{Broker, ErrorCode};

/// Longest wait honoured, whatever the client asks for.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub async fn handle(
    broker: Arc<Broker>,
    req: FetchRequest,
    version: i16,
) -> Result<FetchResponse, String> {
    let req = Arc::new(req);
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    loop {
        // Register for wake-ups before reading, so an append in between is not missed.
        let appended = broker.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let (b, r) = (broker.clone(), req.clone());
        let (response, bytes, any_error) =
            tokio::task::spawn_blocking(move || read_all(&b, &r, version))
                .await
                .map_err(|e| format!("fetch failed: {e}"))?;
        let now = Instant::now();
        if any_error || bytes >= req.min_bytes.max(1) as usize || now >= deadline {
            return Ok(response);
        }
        let _ = tokio::time::timeout(deadline - now, appended).await;
    }
}

/// Reads every requested partition once: the response, its record bytes, and whether any
/// partition had an error (which answers at once).
fn read_all(broker: &Broker, req: &FetchRequest, version: i16) -> (FetchResponse, usize, bool) {
    let by_id = version >= 13;
    let mut budget = if req.max_bytes > 0 {
        req.max_bytes as usize
    } else {
        usize::MAX
    };
    let mut total = 0usize;
    let mut any_error = false;
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let meta = if by_id { broker.topics.by_id(&t.topic_id.0) } else { broker.topics.get(&t.topic) };
            let unknown = if by_id { ErrorCode::UnknownTopicId } else { ErrorCode::UnknownTopicOrPartition };
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut d = PartitionData {
                        partition_index: p.partition,
                        high_watermark: -1,
                        last_stable_offset: -1,
                        log_start_offset: -1,
                        aborted_transactions: Some(vec![]),
                        preferred_read_replica: -1,
                        records: Some(Default::default()),
                        ..PartitionData::default()
                    };
                    let log = meta.as_ref().and_then(|m| broker.topics.log(&m.name, p.partition));
                    let Some(log) = log else {
                        d.error_code = unknown.code();
                        any_error = true;
                        return d;
                    };
                    let hw = log.high_watermark();
                    d.high_watermark = hw;
                    d.last_stable_offset = hw;
                    d.log_start_offset = log.log_start_offset();
                    let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                    // A fetch at the high watermark (or between it and the log end) is
                    // simply empty; offsets outside the log are out of range.
                    if p.fetch_offset >= hw && p.fetch_offset <= log.log_end_offset() {
                        return d;
                    }
                    match log.read_bounded(p.fetch_offset, if total == 0 { limit.max(1) } else { limit }, hw) {
                        Ok(bytes) => {
                            if total > 0 && bytes.len() > limit {
                                // Only the first partition may exceed the budget.
                                return d;
                            }
                            total += bytes.len();
                            budget = budget.saturating_sub(bytes.len());
                            d.records = Some(bytes);
                        }
                        Err(e) => {
                            if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                                tracing::warn!(topic = %t.topic, partition = p.partition, error = %e, "fetch failed");
                            }
                            d.error_code = ErrorCode::from(&e).code();
                            any_error = true;
                        }
                    }
                    d
                })
                .collect();
            FetchableTopicResponse {
                topic: meta.as_ref().map_or_else(|| t.topic.clone(), |m| m.name.clone()),
                topic_id: meta.as_ref().map_or(t.topic_id, |m| Uuid(m.id)),
                partitions,
            }
        })
        .collect();
    let response = FetchResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None.code(),
        session_id: 0,
        responses,
        node_endpoints: vec![],
    };
    (response, total, any_error)
}
