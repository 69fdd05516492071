//! Fetch (key 1): whole stored batches from each partition's fetch offset up to the high
//! watermark (consumers; only from the partition's leader, checked against the leader
//! epoch they send) or up to the log end (followers, whose fetch offset tells the leader
//! how far they are: see `replication`), within `partition_max_bytes` and `max_bytes` (at most the broker's
//! `fetch.max.bytes`, [`MAX_FETCH_BYTES`] by default;
//! the first partition with data always gets at least one whole batch, as KIP-74
//! requires), waiting up to `max_wait_ms` for `min_bytes`. Topics are named (v4-12) or
//! identified by id (v13+). Fetch sessions (KIP-227) are declined: the response's session
//! id is 0, so clients send full fetches.
//!
//! The record bytes are read from the segment files into one buffer per response (which
//! the connection reuses) and written to the socket from there: [`handle_into`] encodes
//! everything else around them ([`FetchReply`]), so they are neither decoded nor copied
//! again. [`handle`] returns the same response as a [`FetchResponse`] value.

use std::io::IoSlice;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_protocol::messages::codec::{
    put_array_len, put_i16, put_i32, put_i64, put_null_array, put_str, put_uuid, put_uvarint,
};
use brook_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData, SnapshotId,
};
use brook_protocol::messages::{EncodeError, FetchRequest, FetchResponse, Uuid};
use bytes::Bytes;

use crate::log::{LogError, TopicPartition};
use crate::server::replication::NotServed;
use crate::server::{Broker, ErrorCode};

/// Longest wait honoured, whatever the client asks for.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// The default of the broker's `fetch.max.bytes`: the most record bytes one response
/// carries, whatever the client asks for (beyond the first batch, which is always whole).
/// Kafka's default, 55 MiB.
pub const MAX_FETCH_BYTES: usize = 55 << 20;

/// Answers a fetch as a [`FetchResponse`] value (its records share one buffer).
pub async fn handle(
    broker: Arc<Broker>,
    req: FetchRequest,
    version: i16,
) -> Result<FetchResponse, String> {
    let read = fetch(broker, req, version, Vec::new()).await?;
    let Read {
        mut response,
        ranges,
        records,
        ..
    } = read;
    let records = Bytes::from(records);
    let partitions = response
        .responses
        .iter_mut()
        .flat_map(|t| t.partitions.iter_mut());
    for (p, r) in partitions.zip(ranges) {
        p.records = Some(records.slice(r));
    }
    Ok(response)
}

/// Answers a fetch as an encoded body for a vectored write, reading the records into
/// `buffer` (scratch space of earlier replies, see [`FetchReply::into_buffer`]).
pub async fn handle_into(
    broker: Arc<Broker>,
    req: FetchRequest,
    version: i16,
    buffer: Vec<u8>,
) -> Result<FetchReply, String> {
    let read = fetch(broker, req, version, buffer).await?;
    FetchReply::encode(&read.response, &read.ranges, read.records, version)
        .map_err(|e| e.to_string())
}

/// A fetch's outcome: the response with `records` left out, and where each partition's
/// records are in `records` (one range per partition, in response order).
struct Read {
    response: FetchResponse,
    ranges: Vec<Range<usize>>,
    records: Vec<u8>,
    bytes: usize,
    any_error: bool,
}

async fn fetch(
    broker: Arc<Broker>,
    req: FetchRequest,
    version: i16,
    mut buffer: Vec<u8>,
) -> Result<Read, String> {
    let req = Arc::new(req);
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let from_replica = replica_id(&req, version) >= 0;
    loop {
        // Register for wake-ups before reading, so an append in between is not missed.
        let appended = broker.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let read = if from_replica {
            // A follower reads the tail that was just appended, which is in the page cache:
            // reading it here costs less than a hop to the blocking pool and back.
            read_all(&broker, &req, version, buffer)
        } else {
            // A consumer may read anything, also what only the disk still holds.
            let (b, r) = (broker.clone(), req.clone());
            tokio::task::spawn_blocking(move || read_all(&b, &r, version, buffer))
                .await
                .map_err(|e| format!("fetch failed: {e}"))?
        };
        let now = Instant::now();
        if read.any_error || read.bytes >= req.min_bytes.max(1) as usize || now >= deadline {
            return Ok(read);
        }
        buffer = read.records;
        let _ = tokio::time::timeout(deadline - now, appended).await;
    }
}

/// The fetching broker's id (v15+ in `replica_state`), or a negative value for a consumer.
fn replica_id(req: &FetchRequest, version: i16) -> i32 {
    if version >= 15 {
        req.replica_state.replica_id
    } else {
        req.replica_id
    }
}

/// Reads every requested partition once, into `records` (from its start; it is only
/// grown): the response, where each partition's records are, their total size, and
/// whether any partition had an error (which answers at once).
fn read_all(broker: &Arc<Broker>, req: &FetchRequest, version: i16, mut records: Vec<u8>) -> Read {
    let by_id = version >= 13;
    let replica_id = replica_id(req, version);
    let cap = broker.config.fetch_max_bytes;
    let mut budget = if req.max_bytes > 0 {
        (req.max_bytes as usize).min(cap)
    } else {
        cap
    };
    let mut total = 0usize;
    let mut any_error = false;
    let mut ranges = Vec::with_capacity(req.topics.iter().map(|t| t.partitions.len()).sum());
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
                        records: None,
                        ..PartitionData::default()
                    };
                    // Where this partition's records go; it stays empty unless some are kept.
                    let at = ranges.last().map_or(0, |r: &Range<usize>| r.end);
                    ranges.push(at..at);
                    let Some(meta) = meta.as_ref() else {
                        d.error_code = unknown.code();
                        any_error = true;
                        return d;
                    };
                    let tp = TopicPartition::new(meta.name.clone(), p.partition);
                    let served = if replica_id >= 0 {
                        broker.replicas.on_follower_fetch(&tp, replica_id, p.fetch_offset, p.current_leader_epoch)
                    } else {
                        broker.replicas.leader_log(&tp, p.current_leader_epoch).map(|(log, _)| log)
                    };
                    let log = match served {
                        Ok(log) => log,
                        Err(NotServed::UnknownPartition) => {
                            d.error_code = unknown.code();
                            any_error = true;
                            return d;
                        }
                        Err(e) => {
                            d.error_code = e.code().code();
                            any_error = true;
                            return d;
                        }
                    };
                    let hw = log.high_watermark();
                    // Followers read to the log end; consumers to the high watermark.
                    let bound = if replica_id >= 0 { log.log_end_offset() } else { hw };
                    d.high_watermark = hw;
                    d.last_stable_offset = hw;
                    d.log_start_offset = log.log_start_offset();
                    let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                    // A fetch at the high watermark (or between it and the log end) is
                    // simply empty; offsets outside the log are out of range.
                    if p.fetch_offset >= bound && p.fetch_offset <= log.log_end_offset() {
                        return d;
                    }
                    let max = if total == 0 { limit.max(1) } else { limit };
                    match log.read_into_at(p.fetch_offset, max, bound, &mut records, at) {
                        Ok(range) => {
                            if total > 0 && range.len() > limit {
                                // Only the first partition may exceed the budget.
                                return d;
                            }
                            total += range.len();
                            budget = budget.saturating_sub(range.len());
                            // The batches may start past `at` (the read began at an index
                            // entry); what is before them is scratch.
                            if let Some(last) = ranges.last_mut() {
                                *last = range;
                            }
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
    Read {
        response,
        ranges,
        records,
        bytes: total,
        any_error,
    }
}

/// An encoded Fetch response body whose record bytes stay where they were read:
/// `head` holds everything else, and `splices` say where in it each partition's records go.
#[derive(Debug)]
pub struct FetchReply {
    head: Vec<u8>,
    records: Vec<u8>,
    /// (position in `head`, range of `records`), by increasing position.
    splices: Vec<(usize, Range<usize>)>,
}

impl FetchReply {
    /// Encodes `response` (whose `records` fields are ignored) with the records of the
    /// n-th partition in `records[ranges[n]]`, exactly as [`FetchResponse::encode`] would.
    fn encode(
        response: &FetchResponse,
        ranges: &[Range<usize>],
        records: Vec<u8>,
        version: i16,
    ) -> Result<FetchReply, EncodeError> {
        let partitions = || response.responses.iter().flat_map(|t| t.partitions.iter());
        let plain = (4..=17).contains(&version)
            && (version >= 7 || response.session_id == 0)
            && response.node_endpoints.is_empty()
            && partitions().count() == ranges.len()
            && partitions().all(|p| {
                p.diverging_epoch == EpochEndOffset::default()
                    && p.current_leader == LeaderIdAndEpoch::default()
                    && p.snapshot_id == SnapshotId::default()
                    && (version >= 11 || p.preferred_read_replica == -1)
            });
        if !plain {
            // Fields this encoder does not write (or versions it does not know): the
            // generated encoder, with the records copied in.
            let mut full = response.clone();
            let all = full
                .responses
                .iter_mut()
                .flat_map(|t| t.partitions.iter_mut());
            for (p, r) in all.zip(ranges) {
                p.records = Some(Bytes::copy_from_slice(&records[r.clone()]));
            }
            let mut head = Vec::new();
            full.encode(version, &mut head)?;
            return Ok(FetchReply {
                head,
                records,
                splices: Vec::new(),
            });
        }
        let flexible = version >= 12;
        let mut head = Vec::with_capacity(32 + 64 * ranges.len());
        let mut splices = Vec::with_capacity(ranges.len());
        let mut ranges = ranges.iter();
        put_i32(&mut head, response.throttle_time_ms);
        if version >= 7 {
            put_i16(&mut head, response.error_code);
            put_i32(&mut head, response.session_id);
        }
        put_array_len(&mut head, response.responses.len(), flexible)?;
        for t in &response.responses {
            if version <= 12 {
                put_str(&mut head, &t.topic, flexible)?;
            }
            if version >= 13 {
                put_uuid(&mut head, &t.topic_id);
            }
            put_array_len(&mut head, t.partitions.len(), flexible)?;
            for p in &t.partitions {
                put_i32(&mut head, p.partition_index);
                put_i16(&mut head, p.error_code);
                put_i64(&mut head, p.high_watermark);
                put_i64(&mut head, p.last_stable_offset);
                if version >= 5 {
                    put_i64(&mut head, p.log_start_offset);
                }
                match &p.aborted_transactions {
                    None => put_null_array(&mut head, flexible),
                    Some(v) => {
                        put_array_len(&mut head, v.len(), flexible)?;
                        for e in v {
                            e.encode(version, &mut head)?;
                        }
                    }
                }
                if version >= 11 {
                    put_i32(&mut head, p.preferred_read_replica);
                }
                // Checked above: there is one range per partition.
                let r = ranges.next().cloned().unwrap_or_default();
                put_records_len(&mut head, r.len(), flexible)?;
                splices.push((head.len(), r));
                if flexible {
                    put_uvarint(&mut head, 0); // no tagged fields
                }
            }
            if flexible {
                put_uvarint(&mut head, 0);
            }
        }
        if flexible {
            put_uvarint(&mut head, 0);
        }
        Ok(FetchReply {
            head,
            records,
            splices,
        })
    }

    /// The encoded size.
    pub fn len(&self) -> usize {
        self.head.len() + self.splices.iter().map(|(_, r)| r.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoded body as slices, in order.
    pub fn io_slices(&self) -> Vec<IoSlice<'_>> {
        let mut out = Vec::with_capacity(2 * self.splices.len() + 1);
        let mut at = 0;
        for (pos, r) in &self.splices {
            if *pos > at {
                out.push(IoSlice::new(&self.head[at..*pos]));
            }
            if !r.is_empty() {
                out.push(IoSlice::new(&self.records[r.clone()]));
            }
            at = *pos;
        }
        if at < self.head.len() {
            out.push(IoSlice::new(&self.head[at..]));
        }
        out
    }

    /// The encoded body in one buffer (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        self.io_slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    /// The buffer the records were read into, for the next reply.
    pub fn into_buffer(self) -> Vec<u8> {
        self.records
    }
}

/// The length prefix of non-null `records`, as `put_bytes` writes it.
fn put_records_len(out: &mut Vec<u8>, len: usize, flexible: bool) -> Result<(), EncodeError> {
    let too_long = || EncodeError::TooLong { what: "bytes", len };
    if flexible {
        let n = u32::try_from(len)
            .ok()
            .filter(|&n| n < u32::MAX)
            .ok_or_else(too_long)?;
        put_uvarint(out, n + 1);
    } else {
        put_i32(out, i32::try_from(len).map_err(|_| too_long())?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_protocol::messages::fetch_response::AbortedTransaction;

    /// Responses with every shape the encoder distinguishes, records in one buffer.
    fn samples(version: i16) -> Vec<(FetchResponse, Vec<Range<usize>>, Vec<u8>)> {
        let mut out = Vec::new();
        for seed in 0u64..40 {
            let mut records = Vec::new();
            let mut ranges = Vec::new();
            let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let topics = (0..next() % 4)
                .map(|t| FetchableTopicResponse {
                    topic: if version <= 12 {
                        format!("topic-{t}")
                    } else {
                        String::new()
                    },
                    topic_id: if version >= 13 {
                        Uuid([t as u8 + 1; 16])
                    } else {
                        Uuid::ZERO
                    },
                    partitions: (0..next() % 5)
                        .map(|p| {
                            let len = match next() % 4 {
                                0 => 0,
                                1 => 1 + next() as usize % 100,
                                _ => 100 + next() as usize % 300,
                            };
                            let start = records.len();
                            records.extend((0..len).map(|i| (i as u64 ^ seed) as u8));
                            ranges.push(start..start + len);
                            PartitionData {
                                partition_index: p as i32,
                                error_code: (next() % 3) as i16,
                                high_watermark: next() as i64 >> 8,
                                last_stable_offset: next() as i64 >> 9,
                                log_start_offset: if version >= 5 {
                                    next() as i64 >> 10
                                } else {
                                    -1
                                },
                                aborted_transactions: match next() % 3 {
                                    0 => None,
                                    1 => Some(vec![]),
                                    _ => Some(vec![AbortedTransaction {
                                        producer_id: 7,
                                        first_offset: 9,
                                    }]),
                                },
                                preferred_read_replica: if version >= 11 {
                                    (next() % 3) as i32 - 1
                                } else {
                                    -1
                                },
                                current_leader: if version >= 12 && next() % 5 == 0 {
                                    LeaderIdAndEpoch {
                                        leader_id: 3,
                                        leader_epoch: 4,
                                    }
                                } else {
                                    LeaderIdAndEpoch::default()
                                },
                                records: None,
                                ..PartitionData::default()
                            }
                        })
                        .collect(),
                })
                .collect();
            let response = FetchResponse {
                throttle_time_ms: (next() % 100) as i32,
                error_code: if version >= 7 { (next() % 2) as i16 } else { 0 },
                session_id: if version >= 7 { (next() % 9) as i32 } else { 0 },
                responses: topics,
                node_endpoints: vec![],
            };
            // Scratch bytes after the records, which must not leak into the reply.
            records.extend_from_slice(b"scratch");
            out.push((response, ranges, records));
        }
        out
    }

    #[test]
    fn reply_matches_the_generated_encoder_in_every_version() {
        for version in 4..=17 {
            for (response, ranges, records) in samples(version) {
                let mut full = response.clone();
                let all = full
                    .responses
                    .iter_mut()
                    .flat_map(|t| t.partitions.iter_mut());
                for (p, r) in all.zip(&ranges) {
                    p.records = Some(Bytes::copy_from_slice(&records[r.clone()]));
                }
                let mut expected = Vec::new();
                full.encode(version, &mut expected).unwrap();
                let reply = FetchReply::encode(&response, &ranges, records, version).unwrap();
                assert_eq!(reply.len(), expected.len(), "v{version}");
                assert_eq!(reply.to_vec(), expected, "v{version}");
                let decoded = FetchResponse::decode(&mut &expected[..], version).unwrap();
                assert_eq!(decoded, full, "v{version}");
            }
        }
    }

    #[test]
    fn reply_splices_records_without_copying_them() {
        let records = vec![1u8; 1000];
        let response = FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                partitions: vec![PartitionData::default(), PartitionData::default()],
                ..FetchableTopicResponse::default()
            }],
            ..FetchResponse::default()
        };
        let reply = FetchReply::encode(&response, &[0..600, 600..1000], records, 12).unwrap();
        assert!(reply.head.len() < 200);
        let slices = reply.io_slices();
        let ptr = reply.records.as_ptr();
        assert!(slices.iter().any(|s| s.as_ptr() == ptr && s.len() == 600));
        assert_eq!(reply.into_buffer().len(), 1000);
    }
}
