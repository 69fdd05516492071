use super::*;
use brook_protocol::record::RecordBatch;
use proptest::prelude::*;
use std::collections::HashMap;

const MS: Duration = Duration::from_millis(1);

fn rec(value: &[u8]) -> RecordToAppend<'_> {
    RecordToAppend {
        timestamp: 1_000,
        key: None,
        value: Some(value),
        headers: &[],
    }
}

fn config() -> AccumulatorConfig {
    AccumulatorConfig {
        batch_size: 1_000,
        linger: 5 * MS,
        buffer_memory: 10_000,
        max_request_size: 5_000,
        compression: Compression::None,
        retry_backoff: 100 * MS,
    }
}

fn appended(r: Result<AppendResult, AppendError>) -> (RecordHandle, bool, bool) {
    match r {
        Ok(AppendResult::Appended {
            handle,
            batch_is_full,
            new_batch_created,
        }) => (handle, batch_is_full, new_batch_created),
        other => panic!("not appended: {other:?}"),
    }
}

fn values(batch: &ProducerBatch) -> Vec<Vec<u8>> {
    let decoded = RecordBatch::decode(&batch.records, 1 << 24).unwrap();
    assert_eq!(decoded.records.len() as i32, batch.record_count);
    decoded
        .records
        .into_iter()
        .map(|r| r.value.map(|v| v.to_vec()).unwrap_or_default())
        .collect()
}

#[test]
fn records_fill_a_batch_up_to_batch_size() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    let v = [7u8; 90];
    let mut handles = Vec::new();
    let mut last_full = false;
    // Header 61 bytes + ~100-byte records: 9 fit in 1000 bytes.
    loop {
        let (h, full, new) = appended(acc.append("t", 0, &rec(&v), false, t0));
        if h.batch != BatchId(0) {
            assert!(new && full, "a new batch behind a full one is ready");
            break;
        }
        assert_eq!(new, handles.is_empty());
        handles.push(h);
        last_full = full;
    }
    assert!(
        !last_full,
        "the first batch never reached batch.size exactly"
    );
    assert_eq!(handles.len(), 9);
    for (i, h) in handles.iter().enumerate() {
        assert_eq!(h.index, i as i32);
        assert_eq!(h.offset(100), 100 + i as i64);
    }
    assert_eq!(acc.queued_batches(), 2);
    // The first batch is ready (a newer one is queued behind it), the second lingers.
    let drained = acc.drain(t0, usize::MAX);
    assert_eq!(drained.batches.len(), 1);
    let b = &drained.batches[0];
    assert!(b.reserved_bytes() <= 1_000);
    assert_eq!(b.records.len(), b.reserved_bytes(), "uncompressed: exact");
    assert_eq!(values(b).len(), 9);
    assert_eq!(acc.next_ready_in(t0), Some(5 * MS));
}

#[test]
fn a_record_larger_than_batch_size_gets_its_own_batch() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    appended(acc.append("t", 0, &rec(b"small"), false, t0));
    let big = vec![1u8; 2_000];
    let (h, full, new) = appended(acc.append("t", 0, &rec(&big), false, t0));
    assert_eq!((h.batch, h.index, full, new), (BatchId(1), 0, true, true));
    // The next record does not join the oversized batch.
    let (h, _, new) = appended(acc.append("t", 0, &rec(b"x"), false, t0));
    assert_eq!((h.batch, new), (BatchId(2), true));
    let d = acc.drain(t0, usize::MAX);
    assert_eq!(d.batches[0].id, BatchId(0));
    let d = acc.drain(t0, usize::MAX);
    assert_eq!(d.batches[0].id, BatchId(1));
    assert_eq!(values(&d.batches[0]), [big]);
}

#[test]
fn exactly_batch_size_is_full() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    // A value that makes header + record exactly 1000 bytes (the varint length prefix
    // of the value grows by one byte past 63, so search).
    let len = (0..1_000)
        .find(|&n| single_record_batch_size(&rec(&vec![0; n])) == 1_000)
        .unwrap();
    let (_, full, _) = appended(acc.append("t", 0, &rec(&vec![0; len]), false, t0));
    assert!(full);
    assert_eq!(acc.next_ready_in(t0), Some(Duration::ZERO));
}

#[test]
fn linger_decides_readiness() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    assert_eq!(acc.next_ready_in(t0), None, "nothing queued");
    appended(acc.append("t", 0, &rec(b"a"), false, t0));
    appended(acc.append("t", 1, &rec(b"b"), false, t0 + 2 * MS));
    assert_eq!(acc.next_ready_in(t0 + MS), Some(4 * MS));
    assert!(acc.drain(t0 + 4 * MS, usize::MAX).batches.is_empty());
    assert_eq!(
        acc.ready_partitions(t0 + 5 * MS),
        [TopicPartition::new("t", 0)]
    );
    let d = acc.drain(t0 + 5 * MS, usize::MAX);
    assert_eq!(d.batches.len(), 1);
    assert_eq!(d.batches[0].topic_partition, TopicPartition::new("t", 0));
    assert_eq!(acc.next_ready_in(t0 + 5 * MS), Some(2 * MS));
    // Flushing makes everything ready at once.
    acc.set_flushing(true);
    assert_eq!(acc.next_ready_in(t0 + 5 * MS), Some(Duration::ZERO));
    assert_eq!(acc.drain(t0 + 5 * MS, usize::MAX).batches.len(), 1);
    acc.set_flushing(false);

    let mut zero = RecordAccumulator::new(AccumulatorConfig {
        linger: Duration::ZERO,
        ..config()
    });
    appended(zero.append("t", 0, &rec(b"a"), false, t0));
    assert_eq!(zero.drain(t0, usize::MAX).batches.len(), 1);

    let mut closing = RecordAccumulator::new(config());
    appended(closing.append("t", 0, &rec(b"a"), false, t0));
    closing.begin_close();
    assert_eq!(closing.drain(t0, usize::MAX).batches.len(), 1);
}

#[test]
fn buffer_memory_blocks_until_batches_complete() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(AccumulatorConfig {
        buffer_memory: 2_500,
        ..config()
    });
    let v = vec![0u8; 900];
    for p in 0..2 {
        appended(acc.append("t", p, &rec(&v), false, t0));
    }
    let used = acc.buffered_bytes();
    assert_eq!(used, 2 * single_record_batch_size(&rec(&v)));
    match acc.append("t", 2, &rec(&v), false, t0) {
        Err(AppendError::BufferFull {
            requested,
            available,
        }) => {
            assert_eq!(requested, single_record_batch_size(&rec(&v)));
            assert_eq!(available, 2_500 - used);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        acc.buffered_bytes(),
        used,
        "a refused append reserves nothing"
    );
    // Exhaustion makes everything ready without waiting for linger.
    assert_eq!(acc.next_ready_in(t0), Some(Duration::ZERO));
    let d = acc.drain(t0, usize::MAX);
    assert_eq!(d.batches.len(), 2);
    assert_eq!(acc.buffered_bytes(), used, "in flight still counts");
    assert!(acc.append("t", 2, &rec(&v), false, t0).is_err());
    let mut batches = d.batches.into_iter();
    acc.complete(batches.next().unwrap());
    appended(acc.append("t", 2, &rec(&v), false, t0));
    acc.complete(batches.next().unwrap());
    for b in acc.abort_all() {
        assert_eq!(b.record_count, 1);
    }
    assert_eq!(acc.buffered_bytes(), 0);
    assert_eq!(acc.available_memory(), 2_500);
    // Memory freed: no longer exhausted, so linger applies again.
    appended(acc.append("t", 0, &rec(b"x"), false, t0));
    assert_eq!(acc.next_ready_in(t0), Some(5 * MS));
}

#[test]
fn oversized_records_are_refused_naming_the_setting() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    let v = vec![0u8; 5_000];
    let e = acc.append("t", 0, &rec(&v), false, t0).unwrap_err();
    assert!(matches!(
        e,
        AppendError::RecordTooLarge {
            max_request_size: 5_000,
            ..
        }
    ));
    assert!(e.to_string().contains("max.request.size"), "{e}");
    let mut small_memory = RecordAccumulator::new(AccumulatorConfig {
        buffer_memory: 500,
        ..config()
    });
    let e = small_memory
        .append("t", 0, &rec(&[0; 600]), false, t0)
        .unwrap_err();
    assert!(e.to_string().contains("buffer.memory"), "{e}");
    assert_eq!(
        acc.append("t", -1, &rec(b"x"), false, t0),
        Err(AppendError::InvalidPartition(-1))
    );
    assert_eq!(acc.buffered_bytes(), 0);
    assert!(acc.is_empty());
}

#[test]
fn batches_use_the_codec_and_keep_records() {
    let t0 = Instant::now();
    for codec in Compression::ALL {
        let mut acc = RecordAccumulator::new(AccumulatorConfig {
            compression: codec,
            ..config()
        });
        let headers = [Header::new("h", Some(Bytes::from_static(b"hv")))];
        let with_all = RecordToAppend {
            timestamp: 2_000,
            key: Some(b"key"),
            value: None,
            headers: &headers,
        };
        appended(acc.append("t", 0, &with_all, false, t0));
        appended(acc.append("t", 0, &rec(&[b'z'; 300]), false, t0));
        acc.set_flushing(true);
        let d = acc.drain(t0, usize::MAX);
        let b = &d.batches[0];
        let decoded = RecordBatch::decode(&b.records, 1 << 20).unwrap();
        assert_eq!(decoded.header.compression(), Ok(codec));
        assert_eq!(decoded.header.base_timestamp, 2_000);
        assert_eq!(decoded.header.max_timestamp, 2_000);
        assert_eq!(decoded.records[0].key.as_deref(), Some(&b"key"[..]));
        assert_eq!(decoded.records[0].value, None);
        assert_eq!(decoded.records[0].headers, headers);
        assert_eq!(decoded.records[1].timestamp(2_000), 1_000);
        assert_eq!(decoded.records[1].value.as_deref(), Some(&[b'z'; 300][..]));
        if codec != Compression::None {
            assert!(b.records.len() < b.reserved_bytes(), "{codec:?} compresses");
        }
        assert_eq!(
            (b.producer_id, b.producer_epoch, b.base_sequence),
            (-1, -1, -1)
        );
        assert_eq!(b.last_sequence(), -1);
    }
}

#[test]
fn sequences_are_assigned_at_drain_and_wrap() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(AccumulatorConfig {
        linger: Duration::ZERO,
        ..config()
    });
    acc.set_producer_identity(Some(ProducerIdentity {
        producer_id: 42,
        producer_epoch: 3,
    }));
    for _ in 0..3 {
        appended(acc.append("t", 0, &rec(b"a"), false, t0));
    }
    appended(acc.append("t", 1, &rec(b"b"), false, t0));
    let d = acc.drain(t0, usize::MAX);
    let seqs: Vec<(i32, i32, i32)> = d
        .batches
        .iter()
        .map(|b| {
            (
                b.topic_partition.partition,
                b.base_sequence,
                b.last_sequence(),
            )
        })
        .collect();
    assert_eq!(seqs, [(0, 0, 2), (1, 0, 0)]);
    let h = RecordBatch::decode(&d.batches[0].records, 1 << 20)
        .unwrap()
        .header;
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (42, 3, 0)
    );
    assert_eq!(acc.next_sequence("t", 0), 3);

    acc.set_next_sequence("t", 0, i32::MAX - 1);
    for _ in 0..3 {
        appended(acc.append("t", 0, &rec(b"a"), false, t0));
    }
    let b = acc.drain(t0, usize::MAX).batches.remove(0);
    assert_eq!((b.base_sequence, b.last_sequence()), (i32::MAX - 1, 0));
    assert_eq!(acc.next_sequence("t", 0), 1);

    // An epoch bump restarts sequences.
    acc.set_producer_identity(Some(ProducerIdentity {
        producer_id: 42,
        producer_epoch: 4,
    }));
    assert_eq!(acc.next_sequence("t", 0), 0);
    assert_eq!(acc.next_sequence("t", 1), 0);
    acc.set_next_sequence("t", 1, 5);
    acc.set_producer_identity(acc.producer_identity());
    assert_eq!(acc.next_sequence("t", 1), 5, "same identity: kept");
}

#[test]
fn increment_sequence_matches_kafka() {
    assert_eq!(increment_sequence(0, 1), 1);
    assert_eq!(increment_sequence(5, 10), 15);
    assert_eq!(increment_sequence(i32::MAX, 1), 0);
    assert_eq!(increment_sequence(i32::MAX - 1, 1), i32::MAX);
    assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    assert_eq!(increment_sequence(i32::MAX, 0), i32::MAX);
}

#[test]
fn drain_respects_max_bytes_and_rotates() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(AccumulatorConfig {
        linger: Duration::ZERO,
        ..config()
    });
    let v = vec![0u8; 400];
    let size = single_record_batch_size(&rec(&v));
    for p in 0..4 {
        appended(acc.append("t", p, &rec(&v), false, t0));
    }
    let d = acc.drain(t0, 2 * size);
    let parts: Vec<i32> = d
        .batches
        .iter()
        .map(|b| b.topic_partition.partition)
        .collect();
    assert_eq!(parts, [0, 1]);
    for p in 0..2 {
        appended(acc.append("t", p, &rec(&v), false, t0));
    }
    // The next drain starts where the last one stopped.
    let d = acc.drain(t0, 2 * size);
    let parts: Vec<i32> = d
        .batches
        .iter()
        .map(|b| b.topic_partition.partition)
        .collect();
    assert_eq!(parts, [2, 3]);
    // A batch larger than the limit still goes, alone.
    let d = acc.drain(t0, 1);
    assert_eq!(d.batches.len(), 1);
    // One batch per partition per drain.
    appended(acc.append("u", 0, &rec(&v), false, t0));
    appended(acc.append("u", 0, &rec(&[1; 700]), false, t0));
    let d = acc.drain(t0, usize::MAX);
    let tps: Vec<String> = d
        .batches
        .iter()
        .map(|b| b.topic_partition.to_string())
        .collect();
    assert_eq!(tps, ["t-1", "u-0"]);
}

#[test]
fn drain_with_filters_partitions() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(AccumulatorConfig {
        linger: Duration::ZERO,
        ..config()
    });
    for p in 0..4 {
        appended(acc.append("t", p, &rec(b"v"), false, t0));
    }
    let d = acc.drain_with(t0, usize::MAX, |tp| tp.partition % 2 == 1);
    let parts: Vec<i32> = d
        .batches
        .iter()
        .map(|b| b.topic_partition.partition)
        .collect();
    assert_eq!(parts, [1, 3]);
    assert_eq!(acc.queued_batches(), 2);
}

#[test]
fn reenqueued_batches_go_first_after_backoff_with_their_sequence() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(AccumulatorConfig {
        linger: Duration::ZERO,
        ..config()
    });
    acc.set_producer_identity(Some(ProducerIdentity {
        producer_id: 1,
        producer_epoch: 0,
    }));
    appended(acc.append("t", 0, &rec(b"first"), false, t0));
    let first = acc.drain(t0, usize::MAX).batches.remove(0);
    appended(acc.append("t", 0, &rec(b"second"), false, t0));
    let second = acc.drain(t0, usize::MAX).batches.remove(0);
    appended(acc.append("t", 0, &rec(b"third"), false, t0));
    assert_eq!((first.base_sequence, second.base_sequence), (0, 1));
    // Both fail; put back in either order, they queue in creation order before "third".
    let t1 = t0 + 10 * MS;
    acc.reenqueue(second, t1);
    acc.reenqueue(first, t1);
    assert_eq!(acc.next_ready_in(t1), Some(100 * MS), "backing off");
    assert!(acc.drain(t1 + 99 * MS, usize::MAX).batches.is_empty());
    let t2 = t1 + 100 * MS;
    let mut order = Vec::new();
    while let Some(b) = acc.drain(t2, usize::MAX).batches.pop() {
        order.push((values(&b), b.base_sequence, b.attempts));
        acc.complete(b);
    }
    assert_eq!(
        order,
        [
            (vec![b"first".to_vec()], 0, 2),
            (vec![b"second".to_vec()], 1, 2),
            (vec![b"third".to_vec()], 2, 1),
        ]
    );
    assert_eq!(acc.buffered_bytes(), 0);
}

#[test]
fn expire_and_abort_release_memory() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    appended(acc.append("t", 0, &rec(b"old"), false, t0));
    appended(acc.append("t", 0, &rec(&[0; 990]), false, t0)); // a second batch
    appended(acc.append("t", 1, &rec(b"new"), false, t0 + 50 * MS));
    let expired = acc.expire(t0 + 120 * MS, 120 * MS);
    let ids: Vec<BatchId> = expired.iter().map(|b| b.id).collect();
    assert_eq!(ids, [BatchId(0), BatchId(1)]);
    assert_eq!(expired[0].topic_partition, TopicPartition::new("t", 0));
    assert_eq!(acc.buffered_bytes(), acc.queued_bytes());
    assert_eq!(acc.queued_batches(), 1);
    let aborted = acc.abort_all();
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0].created, t0 + 50 * MS);
    assert_eq!(acc.buffered_bytes(), 0);
    assert!(acc.is_empty());
}

#[test]
fn abort_on_new_batch_lets_sticky_partitioners_switch() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    // No batch yet: a new one would be needed.
    assert_eq!(
        acc.append("t", 0, &rec(b"a"), true, t0),
        Ok(AppendResult::NewBatchRequired)
    );
    assert!(acc.is_empty());
    appended(acc.append("t", 0, &rec(b"a"), false, t0));
    // Room left: appended as usual even when asked to abort on a new batch.
    let (h, _, new) = appended(acc.append("t", 0, &rec(b"b"), true, t0));
    assert_eq!((h.index, new), (1, false));
    // No room: nothing appended, and the batch that could not take it is now ready.
    assert_eq!(
        acc.append("t", 0, &rec(&[0; 950]), true, t0),
        Ok(AppendResult::NewBatchRequired)
    );
    assert_eq!(acc.queued_batches(), 1);
    assert_eq!(acc.next_ready_in(t0), Some(Duration::ZERO));
    let before = acc.buffered_bytes();
    assert_eq!(before, acc.queued_bytes());
}

#[test]
fn sticky_partitioner_with_accumulator() {
    use crate::producer::partitioner::{DefaultPartitioner, Partitioner, Partitions};
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(config());
    let mut p = DefaultPartitioner::with_seed(11);
    let parts = Partitions::all(3).unwrap();
    let v = [0u8; 300];
    let mut per_batch: HashMap<BatchId, i32> = HashMap::new();
    for _ in 0..30 {
        let mut partition = p.partition("t", None, Some(&v), &parts);
        let result = match acc.append("t", partition, &rec(&v), true, t0).unwrap() {
            AppendResult::NewBatchRequired => {
                p.on_new_batch("t", &parts, partition);
                partition = p.partition("t", None, Some(&v), &parts);
                acc.append("t", partition, &rec(&v), false, t0).unwrap()
            }
            r => r,
        };
        let (h, _, _) = appended(Ok(result));
        *per_batch.entry(h.batch).or_default() += 1;
    }
    // Records stick until a batch is completed: every completed batch is full (3 records
    // of ~310 bytes fit in 1000), none is a one-record fragment.
    acc.set_flushing(true);
    let mut counts = Vec::new();
    loop {
        let d = acc.drain(t0, usize::MAX);
        if d.batches.is_empty() {
            break;
        }
        for b in d.batches {
            counts.push(b.record_count);
            acc.complete(b);
        }
    }
    assert_eq!(counts.iter().sum::<i32>(), 30);
    let not_last = &counts[..counts.len() - 3];
    assert!(not_last.iter().all(|&c| c == 3), "{counts:?}");
}

/// Per partition: (batch, base sequence, values) of each completed batch.
type Completed = HashMap<i32, Vec<(BatchId, i32, Vec<Vec<u8>>)>>;

#[derive(Debug, Clone)]
enum Op {
    Append { partition: i32, len: usize },
    Advance(u64),
    Drain(usize),
    Complete(usize),
    Retry(usize),
    Flush(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0i32..3, 0usize..1_200).prop_map(|(partition, len)| Op::Append { partition, len }),
        2 => (0u64..8).prop_map(Op::Advance),
        2 => (0usize..3_000).prop_map(Op::Drain),
        2 => any::<usize>().prop_map(Op::Complete),
        1 => any::<usize>().prop_map(Op::Retry),
        1 => any::<bool>().prop_map(Op::Flush),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Against a model: every appended record is completed exactly once, in append order
    /// per partition; sequences are contiguous per partition; memory never exceeds
    /// buffer.memory and returns to zero.
    #[test]
    fn matches_a_simple_model(ops in proptest::collection::vec(op(), 1..120), codec in 0usize..5) {
        let t0 = Instant::now();
        let mut now = t0;
        let cfg = AccumulatorConfig {
            batch_size: 1_000,
            linger: 3 * MS,
            buffer_memory: 6_000,
            max_request_size: 1_150,
            compression: Compression::ALL[codec],
            retry_backoff: 2 * MS,
        };
        let mut acc = RecordAccumulator::new(cfg.clone());
        acc.set_producer_identity(Some(ProducerIdentity { producer_id: 9, producer_epoch: 0 }));
        let mut next_value = 0u32;
        let mut appended_model: HashMap<i32, Vec<Vec<u8>>> = HashMap::new();
        let mut completed: Completed = HashMap::new();
        let mut in_flight: Vec<ProducerBatch> = Vec::new();
        let mut handles: HashMap<Vec<u8>, RecordHandle> = HashMap::new();

        let check = |acc: &RecordAccumulator, in_flight: &[ProducerBatch]| {
            let flying: usize = in_flight.iter().map(|b| b.reserved_bytes()).sum();
            assert_eq!(acc.buffered_bytes(), acc.queued_bytes() + flying);
            assert!(acc.buffered_bytes() <= cfg.buffer_memory);
        };

        for op in ops {
            match op {
                Op::Append { partition, len } => {
                    let mut value = next_value.to_be_bytes().to_vec();
                    value.resize(len.max(4), b'.');
                    next_value += 1;
                    match acc.append("t", partition, &rec(&value), false, now) {
                        Ok(AppendResult::Appended { handle, .. }) => {
                            handles.insert(value.clone(), handle);
                            appended_model.entry(partition).or_default().push(value);
                        }
                        Ok(AppendResult::NewBatchRequired) => unreachable!(),
                        Err(AppendError::BufferFull { .. }) => {}
                        Err(AppendError::RecordTooLarge { size, .. }) => {
                            prop_assert!(size > cfg.max_request_size);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Advance(ms) => now += Duration::from_millis(ms),
                Op::Drain(max) => {
                    let d = acc.drain(now, max);
                    prop_assert!(d.failed.is_empty());
                    let mut seen = std::collections::HashSet::new();
                    let total: usize = d.batches.iter().map(|b| b.reserved_bytes()).sum();
                    prop_assert!(d.batches.len() <= 1 || total <= max);
                    for b in &d.batches {
                        prop_assert!(seen.insert(b.topic_partition.clone()), "one per partition");
                    }
                    in_flight.extend(d.batches);
                }
                Op::Complete(i) if !in_flight.is_empty() => {
                    let b = in_flight.remove(i % in_flight.len());
                    let vals = values(&b);
                    for (i, v) in vals.iter().enumerate() {
                        prop_assert_eq!(handles[v], b.handle(i as i32));
                    }
                    completed
                        .entry(b.topic_partition.partition)
                        .or_default()
                        .push((b.id, b.base_sequence, vals));
                    acc.complete(b);
                }
                Op::Retry(i) if !in_flight.is_empty() => {
                    let b = in_flight.remove(i % in_flight.len());
                    acc.reenqueue(b, now);
                }
                Op::Flush(f) => acc.set_flushing(f),
                Op::Complete(_) | Op::Retry(_) => {}
            }
            check(&acc, &in_flight);
        }

        // Send everything that is left.
        acc.set_flushing(true);
        for b in in_flight.drain(..) {
            acc.reenqueue(b, now);
        }
        now += cfg.retry_backoff;
        loop {
            let d = acc.drain(now, usize::MAX);
            if d.batches.is_empty() {
                break;
            }
            for b in d.batches {
                let p = b.topic_partition.partition;
                let vals = values(&b);
                completed.entry(p).or_default().push((b.id, b.base_sequence, vals));
                acc.complete(b);
            }
        }
        prop_assert!(acc.is_empty());
        prop_assert_eq!(acc.buffered_bytes(), 0);

        for p in 0..3 {
            let mut batches = completed.remove(&p).unwrap_or_default();
            batches.sort_by_key(|(id, _, _)| *id);
            let mut expected_seq = 0;
            let mut got = Vec::new();
            for (_, seq, vals) in batches {
                prop_assert_eq!(seq, expected_seq);
                expected_seq += vals.len() as i32;
                got.extend(vals);
            }
            let want = appended_model.remove(&p).unwrap_or_default();
            prop_assert_eq!(got, want);
        }
    }
}

#[test]
fn retries_stamped_before_an_epoch_bump_are_restamped_in_order() {
    let t0 = Instant::now();
    let mut acc = RecordAccumulator::new(AccumulatorConfig {
        linger: Duration::ZERO,
        retry_backoff: Duration::ZERO,
        batch_size: 1,
        ..config()
    });
    let old = ProducerIdentity {
        producer_id: 7,
        producer_epoch: 1,
    };
    acc.set_producer_identity(Some(old));
    // Three single-record batches of one partition, drained one at a time.
    for v in [&b"a"[..], b"b", b"c"] {
        appended(acc.append("t", 0, &rec(v), false, t0));
    }
    let mut first = Vec::new();
    for _ in 0..3 {
        first.extend(acc.drain(t0, usize::MAX).batches);
    }
    let seqs: Vec<i32> = first.iter().map(|b| b.base_sequence).collect();
    assert_eq!(seqs, [0, 1, 2]);
    // The first succeeds; the other two come back (out of order) for a retry.
    let mut first = first.into_iter();
    acc.complete(first.next().unwrap());
    let (b, c) = (first.next().unwrap(), first.next().unwrap());
    acc.reenqueue(c, t0);
    acc.reenqueue(b, t0);
    assert!(acc.head_is_retry(&TopicPartition::new("t", 0)));
    // A new batch behind them, then the epoch is bumped.
    appended(acc.append("t", 0, &rec(b"d"), false, t0));
    let new = ProducerIdentity {
        producer_id: 7,
        producer_epoch: 2,
    };
    acc.set_producer_identity(Some(new));
    let mut again = Vec::new();
    for _ in 0..3 {
        again.extend(acc.drain(t0, usize::MAX).batches);
    }
    assert!(!acc.head_is_retry(&TopicPartition::new("t", 0)));
    let seen: Vec<(Vec<u8>, i16, i32, u32)> = again
        .iter()
        .map(|b| {
            // decode checks the CRC, which covers the rewritten fields.
            let d = RecordBatch::decode(&b.records, 1 << 20).unwrap();
            assert_eq!(
                (
                    d.header.producer_id,
                    d.header.producer_epoch,
                    d.header.base_sequence
                ),
                (b.producer_id, b.producer_epoch, b.base_sequence)
            );
            (
                d.records[0].value.as_deref().unwrap().to_vec(),
                d.header.producer_epoch,
                d.header.base_sequence,
                b.attempts,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (b"b".to_vec(), 2, 0, 2),
            (b"c".to_vec(), 2, 1, 2),
            (b"d".to_vec(), 2, 2, 1)
        ]
    );
    assert_eq!(acc.next_sequence("t", 0), 3);
}
