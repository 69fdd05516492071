//! Unit and property tests of the partition log against simple models.

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_protocol::record::{compute_crc, BatchBuilder, BatchIter, Compression, RecordBatch};
use proptest::prelude::*;

use super::producer::ProducerError;
use super::*;

/// A record for tests: key, value (None = tombstone), timestamp.
type Rec = (Option<Vec<u8>>, Option<Vec<u8>>, i64);

fn encode(records: &[Rec], compression: Compression) -> Vec<u8> {
    let base_ts = records.iter().map(|r| r.2).min().unwrap_or(0);
    let mut b = BatchBuilder::new(compression, base_ts);
    for (k, v, ts) in records {
        b.append(*ts, k.as_deref(), v.as_deref(), &[]);
    }
    b.build(0)
}

fn kv(key: &str, value: &str, ts: i64) -> Rec {
    (
        Some(key.as_bytes().to_vec()),
        Some(value.as_bytes().to_vec()),
        ts,
    )
}

fn value_batch(n: usize, value_len: usize, ts: i64) -> Vec<u8> {
    let recs: Vec<Rec> = (0..n)
        .map(|i| (None, Some(vec![b'a' + (i % 26) as u8; value_len]), ts))
        .collect();
    encode(&recs, Compression::None)
}

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig, clock: &ManualClock) -> Log {
    Log::open_with(dir, config, Arc::new(OsStorage), Arc::new(clock.clone())).unwrap()
}

/// Every batch of the log as (base offset, bytes), read through `Log::read`.
fn read_all(log: &Log) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1000).unwrap();
        assert!(
            !bytes.is_empty(),
            "no data at offset {offset} < LEO {}",
            log.log_end_offset()
        );
        for item in BatchIter::new(&bytes) {
            let (h, b) = item.unwrap();
            out.push((h.base_offset, b.to_vec()));
            offset = h.last_offset() + 1;
        }
    }
    out
}

/// A stored record: offset, key, value.
type Stored = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// The records of the log.
fn records_of(log: &Log) -> Vec<Stored> {
    let mut out = Vec::new();
    for (_, bytes) in read_all(log) {
        let batch = RecordBatch::decode(&bytes, 1 << 24).unwrap();
        for r in batch.records {
            out.push((
                batch.header.base_offset + i64::from(r.offset_delta),
                r.key.map(|k| k.to_vec()),
                r.value.map(|v| v.to_vec()),
            ));
        }
    }
    out
}

#[test]
fn append_assigns_offsets_in_place_and_reads_back_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000);
    let log = open(dir.path(), small_config(), &clock);
    let mut expected = Vec::new();
    for i in 0..50 {
        let original = value_batch(1 + i % 4, 30 + i, 500 + i as i64);
        let mut b = original.clone();
        let info = log.append(&mut b).unwrap();
        assert_eq!(
            info.first_offset,
            expected
                .iter()
                .map(|(_, n, _): &(i64, usize, Vec<u8>)| *n as i64)
                .sum::<i64>()
        );
        assert_eq!(info.last_offset - info.first_offset, (i % 4) as i64);
        assert_eq!(info.append_time_ms, 1_000);
        // Only the base offset (bytes 0..8) changed, and the CRC still holds.
        assert_eq!(&b[8..], &original[8..]);
        assert_eq!(
            i64::from_be_bytes(b[..8].try_into().unwrap()),
            info.first_offset
        );
        verify_crc(&b).unwrap();
        expected.push((info.first_offset, 1 + i % 4, b));
    }
    assert!(log.segment_count() > 1, "small segments must have rolled");
    let got = read_all(&log);
    assert_eq!(got.len(), expected.len());
    for ((o, b), (eo, _, eb)) in got.iter().zip(&expected) {
        assert_eq!(o, eo);
        assert_eq!(b, eb);
    }
    // Reading from any offset returns the batch that holds it.
    for (base, n, bytes) in &expected {
        for o in *base..*base + *n as i64 {
            let data = log.read(o, 1).unwrap();
            assert_eq!(&data[..], &bytes[..], "read at {o}");
        }
    }
    assert!(log.read(log.log_end_offset(), 100).unwrap().is_empty());
    assert!(matches!(
        log.read(log.log_end_offset() + 1, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn read_respects_byte_limit_and_upper_bound_with_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), LogConfig::default(), &clock);
    let mut sizes = Vec::new();
    for _ in 0..10 {
        let mut b = value_batch(2, 100, 1);
        sizes.push(b.len());
        log.append(&mut b).unwrap();
    }
    let one = sizes[0];
    // Three and a half batches' worth of bytes: three whole batches.
    let data = log.read(0, one * 3 + one / 2).unwrap();
    assert_eq!(data.len(), one * 3);
    // A limit below one batch still returns one whole batch.
    assert_eq!(log.read(4, 10).unwrap().len(), one);
    // Upper bound: nothing at or past offset 6.
    let bounded = log.read_bounded(0, 1 << 20, 6).unwrap();
    assert_eq!(BatchIter::new(&bounded).count(), 3);
    assert!(log.read_bounded(6, 1 << 20, 6).unwrap().is_empty());
    // A reused buffer (larger, full of stale bytes) gives exactly what fresh reads give.
    let mut buf = vec![0xEE; 1 << 16];
    for (offset, max) in [
        (0, 1 << 20),
        (7, 10),
        (3, one * 2),
        (19, one),
        (1, one * 5 + 1),
    ] {
        let range = log.read_into(offset, max, i64::MAX, &mut buf).unwrap();
        assert_eq!(
            &buf[range],
            &log.read(offset, max).unwrap()[..],
            "offset {offset}"
        );
    }
}

#[test]
fn reads_into_one_buffer_at_a_position_leave_what_is_before_it_alone() {
    // Two logs (a fetch of two partitions), small segments so reads cross them.
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let clock = ManualClock::new(0);
    let logs: Vec<Log> = dirs
        .iter()
        .map(|d| open(d.path(), small_config(), &clock))
        .collect();
    for (i, log) in logs.iter().enumerate() {
        for n in 0..80 {
            log.append(&mut value_batch(1 + (n + i) % 3, 50, n as i64))
                .unwrap();
        }
        assert!(log.segment_count() > 2);
    }
    let mut buf = Vec::new();
    for (o0, o1, max) in [
        (0, 0, 1 << 20),
        (5, 17, 300),
        (40, 2, 1),
        (61, 0, 700),
        (150, 90, 5000),
    ] {
        let first = logs[0]
            .read_into_at(o0, max, i64::MAX, &mut buf, 0)
            .unwrap();
        let before = buf[..first.end].to_vec();
        let second = logs[1]
            .read_into_at(o1, max, i64::MAX, &mut buf, first.end)
            .unwrap();
        assert!(second.start >= first.end);
        assert_eq!(&buf[..first.end], &before[..], "untouched before `at`");
        assert_eq!(&buf[first], &logs[0].read(o0, max).unwrap()[..]);
        assert_eq!(&buf[second], &logs[1].read(o1, max).unwrap()[..]);
    }
    // At the log end: an empty range at the position asked for.
    let end = logs[0].log_end_offset();
    assert_eq!(
        logs[0]
            .read_into_at(end, 100, i64::MAX, &mut buf, 7)
            .unwrap(),
        7..7
    );
}

#[test]
fn bad_batches_are_rejected_with_the_reason_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(
        dir.path(),
        LogConfig {
            max_message_bytes: 2000,
            ..LogConfig::default()
        },
        &clock,
    );
    let good = value_batch(3, 10, 5);

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    let err = log.append(&mut bad_crc).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("crc"), "{err}");

    let mut bad_magic = good.clone();
    bad_magic[16] = 1;
    assert!(matches!(
        log.append(&mut bad_magic),
        Err(LogError::InvalidBatch { .. })
    ));

    let mut truncated = good[..good.len() - 1].to_vec();
    assert!(matches!(
        log.append(&mut truncated),
        Err(LogError::InvalidBatch { .. })
    ));

    let mut short = good[..30].to_vec();
    assert!(matches!(
        log.append(&mut short),
        Err(LogError::InvalidBatch { .. })
    ));

    let mut too_big = value_batch(1, 3000, 5);
    assert!(matches!(
        log.append(&mut too_big),
        Err(LogError::RecordTooLarge { .. })
    ));

    // lastOffsetDelta that does not match the record count (CRC fixed up so only that is wrong).
    let mut wrong_delta = good.clone();
    wrong_delta[23..27].copy_from_slice(&7i32.to_be_bytes());
    let crc = compute_crc(&wrong_delta);
    wrong_delta[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        log.append(&mut wrong_delta),
        Err(LogError::InvalidRecords { .. })
    ));

    // A good batch followed by a bad one: neither is appended.
    let mut pair = good.clone();
    pair.extend_from_slice(&bad_crc);
    assert!(log.append(&mut pair).is_err());
    assert!(log.append(&mut Vec::new()).is_err());

    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
    let mut ok = good.clone();
    assert_eq!(log.append(&mut ok).unwrap().first_offset, 0);
}

#[test]
fn compacted_log_requires_keys() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config, &clock);
    let mut keyless = encode(
        &[kv("a", "1", 0), (None, Some(b"x".to_vec()), 0)],
        Compression::Lz4,
    );
    assert!(matches!(
        log.append(&mut keyless),
        Err(LogError::MissingKey {
            position: 0,
            record: 1
        })
    ));
    let mut keyed = encode(&[kv("a", "1", 0)], Compression::Lz4);
    log.append(&mut keyed).unwrap();
}

#[test]
fn rolls_by_size_and_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(10_000);
    let config = LogConfig {
        segment_bytes: 1000,
        segment_ms: 60_000,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config, &clock);
    let mut b = value_batch(1, 400, 10_000);
    let one = b.len();
    log.append(&mut b).unwrap();
    log.append(&mut value_batch(1, 400, 10_000)).unwrap();
    assert_eq!(
        log.segment_count(),
        1,
        "two batches of {one} bytes fit in 1000"
    );
    log.append(&mut value_batch(1, 400, 10_000)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    // Age: the active segment's first append was at 10_000 (wall clock, whatever the
    // record timestamps say).
    clock.set(10_000 + 59_999);
    log.append(&mut value_batch(1, 10, 10_000)).unwrap();
    assert_eq!(log.segment_count(), 2);
    clock.set(10_000 + 60_000);
    log.append(&mut value_batch(1, 10, 0)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
    for name in ["00000000000000000002.log", "00000000000000000004.log"] {
        assert!(dir.path().join(name).exists(), "{name}");
    }
    // Records stamped decades ago do not make every append roll.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let log = open(dir.path(), LogConfig::default(), &clock);
    for _ in 0..20 {
        log.append(&mut value_batch(2, 10, 0)).unwrap();
    }
    assert_eq!(log.segment_count(), 1);
}

#[test]
fn finds_offsets_by_timestamp_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    // Timestamps are not monotonic; the model is a plain scan.
    let mut model: Vec<(i64, i64)> = Vec::new();
    let mut offset = 0i64;
    for i in 0..120i64 {
        let ts: Vec<i64> = (0..3)
            .map(|j| 1000 + ((i * 37 + j * 11) % 500) + i * 5)
            .collect();
        let recs: Vec<Rec> = ts
            .iter()
            .map(|&t| (Some(vec![1]), Some(vec![0; 40]), t))
            .collect();
        let c = if i % 2 == 0 {
            Compression::None
        } else {
            Compression::Gzip
        };
        log.append(&mut encode(&recs, c)).unwrap();
        for t in ts {
            model.push((offset, t));
            offset += 1;
        }
    }
    assert!(log.segment_count() > 3);
    for target in (900..2300).step_by(7) {
        let expected = model.iter().find(|(_, t)| *t >= target).copied();
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            expected,
            "target {target}"
        );
    }
    // MAX_TIMESTAMP: the first record carrying the largest timestamp.
    let max = model.iter().map(|(_, t)| *t).max().unwrap();
    let first_max = model.iter().find(|(_, t)| *t == max).copied();
    assert!(first_max.is_some());
    assert_eq!(log.offset_of_max_timestamp().unwrap(), first_max);
}

#[test]
fn retention_by_time_and_size_deletes_whole_closed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 600,
        retention_ms: 1_000,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config.clone(), &clock);
    for i in 0..10i64 {
        log.append(&mut value_batch(1, 400, i * 100)).unwrap(); // one batch per segment
    }
    assert_eq!(log.segment_count(), 10);
    clock.set(1_350); // segments with max ts < 350 are expired: offsets 0..=3
    assert_eq!(log.delete_old_segments().unwrap(), 4);
    assert_eq!(log.log_start_offset(), 4);
    assert!(!dir.path().join(segment_file_name(0, "log")).exists());
    assert!(matches!(
        log.read(3, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(!log.read(4, 100).unwrap().is_empty());
    // Everything expired: the active segment stays.
    clock.set(100_000);
    assert_eq!(log.delete_old_segments().unwrap(), 5);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 9);

    // Size: keep at most 3 segments' worth.
    let dir2 = tempfile::tempdir().unwrap();
    let one = value_batch(1, 400, 0).len() as i64;
    let config = LogConfig {
        segment_bytes: 600,
        retention_bytes: 3 * one,
        ..LogConfig::default()
    };
    let log = open(dir2.path(), config, &clock);
    for _ in 0..10 {
        log.append(&mut value_batch(1, 400, 100_000)).unwrap();
    }
    assert_eq!(log.delete_old_segments().unwrap(), 7);
    assert_eq!(log.size_bytes() as i64, 3 * one);
    assert_eq!(log.log_start_offset(), 7);

    // compact-only logs are never trimmed by retention.
    let dir3 = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 600,
        retention_bytes: 0,
        cleanup_policy: CleanupPolicy::COMPACT,
        ..LogConfig::default()
    };
    let log = open(dir3.path(), config, &clock);
    for i in 0..3 {
        log.append(&mut encode(
            &[kv(&i.to_string(), &"v".repeat(400), 0)],
            Compression::None,
        ))
        .unwrap();
    }
    assert_eq!(log.delete_old_segments().unwrap(), 0);
}

#[test]
fn compaction_keeps_latest_per_key_preserves_offsets_and_ages_out_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let config = LogConfig {
        segment_bytes: 2048,
        cleanup_policy: CleanupPolicy::COMPACT,
        delete_retention_ms: 10_000,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config, &clock);
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut model: BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)> = BTreeMap::new();
    let mut offset = 0i64;
    for i in 0..200usize {
        let recs: Vec<Rec> = (0..3)
            .map(|j| {
                let key = format!("k{}", (i * 7 + j * 3) % 23).into_bytes();
                let value = if (i + j) % 11 == 0 {
                    None
                } else {
                    Some(format!("v{i}-{j}").into_bytes())
                };
                (Some(key), value, 1_000_000 + i as i64)
            })
            .collect();
        for r in &recs {
            model.insert(r.0.clone().unwrap(), (offset, r.1.clone()));
            offset += 1;
        }
        log.append(&mut encode(&recs, codecs[i % 5])).unwrap();
    }
    // Delete three keys for good, then move the active segment past the tombstones.
    let deletes: Vec<Rec> = (0..3)
        .map(|k| (Some(format!("k{k}").into_bytes()), None, 1_000_000))
        .collect();
    for r in &deletes {
        model.insert(r.0.clone().unwrap(), (offset, None));
        offset += 1;
    }
    log.append(&mut encode(&deletes, Compression::Zstd))
        .unwrap();
    log.roll().unwrap();
    log.append(&mut encode(
        &[kv("other", "x", 1_000_000)],
        Compression::None,
    ))
    .unwrap();
    model.insert(b"other".to_vec(), (offset, Some(b"x".to_vec())));
    offset += 1;
    let before = log.size_bytes();
    let active_base = *log.segment_base_offsets().last().unwrap();
    let stats = log.compact().unwrap().expect("dirty log compacts");
    assert!(stats.records_removed > 0);
    assert!(log.size_bytes() < before);
    // Below the active segment: exactly the latest record of each key (tombstones too).
    let recs = records_of(&log);
    let cleaned: Vec<_> = recs.iter().filter(|r| r.0 < active_base).cloned().collect();
    let expected: Vec<_> = {
        let mut v: Vec<_> = model
            .iter()
            .filter(|(_, (o, _))| *o < active_base)
            .map(|(k, (o, v))| (*o, Some(k.clone()), v.clone()))
            .collect();
        v.sort();
        v
    };
    // A key whose latest record is in the active segment may keep an older copy below it.
    for r in &expected {
        assert!(cleaned.contains(r), "latest record {r:?} lost");
    }
    for r in &cleaned {
        let (latest, _) = &model[r.1.as_ref().unwrap()];
        assert!(
            *latest >= active_base || *latest == r.0,
            "stale record {r:?} kept"
        );
    }
    // The active segment is untouched.
    assert_eq!(
        recs.iter().filter(|r| r.0 >= active_base).count() as i64,
        log.log_end_offset() - active_base
    );
    assert_eq!(log.log_end_offset(), offset);
    // Every batch on disk still has a valid CRC.
    for (_, b) in read_all(&log) {
        verify_crc(&b).unwrap();
    }
    // Nothing new is dirty: no second pass.
    assert_eq!(log.compact().unwrap(), None);

    // Tombstones that are the latest record of their key survive until delete.retention.ms
    // after their first compaction (older ones go as soon as a newer record is compacted).
    let tombstones_below = |log: &Log| {
        records_of(log)
            .iter()
            .filter(|r| r.0 < active_base && r.2.is_none() && model[r.1.as_ref().unwrap()].0 == r.0)
            .count()
    };
    let t0 = tombstones_below(&log);
    assert!(t0 > 0, "the workload writes tombstones");
    log.roll().unwrap();
    log.append(&mut encode(
        &[kv("fresh", "x", 1_000_000)],
        Compression::None,
    ))
    .unwrap();
    clock.advance(9_999);
    log.compact().unwrap();
    assert_eq!(tombstones_below(&log), t0);
    clock.advance(1);
    log.roll().unwrap();
    log.append(&mut encode(
        &[kv("fresher", "x", 1_000_000)],
        Compression::None,
    ))
    .unwrap();
    let stats = log.compact().unwrap().expect("compacts");
    assert_eq!(tombstones_below(&log), 0);
    assert_eq!(stats.tombstones_removed as usize, t0);

    // Survives a clean reopen, with its timestamps intact.
    log.close().unwrap();
    let reopened = open(dir.path(), log.config().as_ref().clone(), &clock);
    assert_eq!(records_of(&reopened).len(), records_of(&log).len());
    let first_at_or_after = |target: i64| {
        reopened.batches().find_map(|b| {
            let batch = RecordBatch::decode(&b.unwrap(), 1 << 24).unwrap();
            batch.records.iter().find_map(|r| {
                let ts = record_timestamp(&batch.header, r);
                (ts >= target).then(|| (batch.header.base_offset + i64::from(r.offset_delta), ts))
            })
        })
    };
    for target in [999_000, 1_000_000, 1_000_150, 1_000_199, 1_000_200] {
        assert_eq!(
            reopened.offset_for_timestamp(target).unwrap(),
            first_at_or_after(target),
            "{target}"
        );
    }
    assert!(first_at_or_after(1_000_150).is_some());
}

#[test]
fn compaction_runs_beside_appends_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 1024,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config, &clock);
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0..3000usize {
                let key = format!("k{}", i % 50);
                log.append(&mut encode(
                    &[kv(&key, &i.to_string(), 0)],
                    Compression::None,
                ))
                .unwrap();
            }
        })
    };
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while reads < 2000 {
                let end = log.log_end_offset();
                let start = log.log_start_offset();
                if end > start {
                    let o = start + (reads as i64 * 7919) % (end - start);
                    let data = log.read(o, 4096).unwrap();
                    for item in BatchIter::new(&data) {
                        let (h, b) = item.unwrap();
                        verify_crc(b).unwrap();
                        assert!(h.last_offset() >= o);
                    }
                }
                reads += 1;
            }
        })
    };
    let mut passes = 0;
    while !writer.is_finished() {
        if log.compact().unwrap().is_some() {
            passes += 1;
        }
    }
    writer.join().unwrap();
    reader.join().unwrap();
    log.roll().unwrap();
    log.compact().unwrap();
    assert!(passes > 0);
    // Each key's latest value survives.
    let recs = records_of(&log);
    for k in 0..50usize {
        let last = (0..3000).filter(|i| i % 50 == k).max().unwrap();
        let key = format!("k{k}").into_bytes();
        let kept: Vec<_> = recs
            .iter()
            .filter(|r| r.1.as_deref() == Some(&key[..]))
            .collect();
        assert_eq!(kept.len(), 1, "key {k}");
        assert_eq!(kept[0].0, last as i64);
        assert_eq!(kept[0].2.as_deref(), Some(last.to_string().as_bytes()));
    }
}

#[test]
fn clean_reopen_trusts_indexes_and_crash_reopen_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    for i in 0..100 {
        log.append(&mut value_batch(2, 50, i)).unwrap();
    }
    let before = read_all(&log);
    let segments = log.segment_count();
    log.close().unwrap();
    assert!(
        log.append(&mut value_batch(1, 1, 0)).is_err(),
        "closed logs refuse appends"
    );

    let log = open(dir.path(), small_config(), &clock);
    assert_eq!(
        log.open_report(),
        &OpenReport {
            clean_shutdown: true,
            segments_recovered: 0,
            bytes_truncated: 0
        }
    );
    assert_eq!(read_all(&log), before);
    assert_eq!(log.offset_for_timestamp(50).unwrap(), Some((100, 50)));
    log.append(&mut value_batch(1, 50, 100)).unwrap();
    log.abandon(); // crash: no close

    let log = open(dir.path(), small_config(), &clock);
    let report = log.open_report().clone();
    assert!(!report.clean_shutdown);
    assert!(
        report.segments_recovered >= 1 && report.segments_recovered < segments,
        "{report:?}"
    );
    assert_eq!(report.bytes_truncated, 0);
    assert_eq!(log.log_end_offset(), 201);
    assert_eq!(&read_all(&log)[..before.len()], &before[..]);
}

#[test]
fn corrupt_indexes_are_rebuilt_and_corrupt_closed_segments_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    for i in 0..60 {
        log.append(&mut value_batch(2, 50, i)).unwrap();
    }
    let before = read_all(&log);
    let second = log.segment_base_offsets()[1];
    log.close().unwrap();
    // Garbage index: swap two entries so it is no longer increasing.
    let idx = dir.path().join(segment_file_name(second, "index"));
    let mut bytes = std::fs::read(&idx).unwrap();
    assert!(bytes.len() >= 16);
    bytes.swap(3, 11);
    bytes.swap(7, 15);
    std::fs::write(&idx, &bytes).unwrap();
    std::fs::remove_file(dir.path().join(segment_file_name(0, "timeindex"))).unwrap();
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!(log.open_report().segments_recovered, 2);
    assert_eq!(read_all(&log), before);
    log.close().unwrap();
    // The rebuilt indexes were written back: the next clean open trusts them all.
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!(log.open_report().segments_recovered, 0);
    log.close().unwrap();

    // Flip a byte inside a closed segment and remove its index: the rebuild finds the bad
    // CRC and refuses to open rather than drop data.
    let seg = dir.path().join(segment_file_name(second, "log"));
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    std::fs::remove_file(dir.path().join(segment_file_name(second, "index"))).unwrap();
    let err = Log::open_with(
        dir.path(),
        small_config(),
        Arc::new(OsStorage),
        Arc::new(clock.clone()),
    )
    .unwrap_err();
    match err {
        LogError::Corrupt { file, .. } => assert_eq!(file, seg),
        other => panic!("expected Corrupt, got {other}"),
    }
}

#[test]
fn torn_write_takes_the_log_offline_and_recovery_keeps_acknowledged_batches() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let faulty = FaultyStorage::new(Arc::new(OsStorage));
    let log = Log::open_with(
        dir.path(),
        small_config(),
        Arc::new(faulty.clone()),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let mut acked = Vec::new();
    for i in 0..10 {
        let mut b = value_batch(1, 100, i);
        log.append(&mut b).unwrap();
        acked.push(b);
    }
    let mut b = value_batch(1, 100, 10);
    faulty.crash_after_bytes(b.len() as u64 / 2);
    assert!(matches!(log.append(&mut b), Err(LogError::Io { .. })));
    assert!(matches!(
        log.append(&mut value_batch(1, 1, 0)),
        Err(LogError::Offline { .. })
    ));
    // Reads of acknowledged data go on.
    assert_eq!(&log.read(0, 1).unwrap()[..], &acked[0][..]);
    log.abandon();

    let log = open(dir.path(), small_config(), &clock);
    assert!(log.open_report().bytes_truncated > 0);
    let all: Vec<Vec<u8>> = read_all(&log).into_iter().map(|(_, b)| b).collect();
    assert_eq!(all, acked);
    assert_eq!(
        log.append(&mut value_batch(1, 1, 0)).unwrap().first_offset,
        10
    );
}

#[test]
fn flush_messages_advances_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(
        dir.path(),
        LogConfig {
            flush_messages: 3,
            flush_ms: 1000,
            ..LogConfig::default()
        },
        &clock,
    );
    log.append(&mut value_batch(2, 10, 0)).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append(&mut value_batch(1, 10, 0)).unwrap();
    assert_eq!(log.recovery_point(), 3);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(RECOVERY_POINT_FILE)).unwrap(),
        "3"
    );
    log.append(&mut value_batch(1, 10, 0)).unwrap();
    assert!(!log.flush_if_due().unwrap());
    clock.advance(1000);
    assert!(log.flush_if_due().unwrap());
    assert_eq!(log.recovery_point(), 4);
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: usize,
        value_len: usize,
        compression: u8,
    },
    Roll,
    Read {
        at: u16,
        max_bytes: u16,
    },
    Reopen {
        clean: bool,
    },
    Expire {
        advance_ms: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..5, 0usize..300, 0u8..5).prop_map(|(records, value_len, compression)| Op::Append { records, value_len, compression }),
        1 => Just(Op::Roll),
        3 => (any::<u16>(), 1u16..3000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => (0i64..400).prop_map(|advance_ms| Op::Expire { advance_ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random appends, rolls, reads, retention and reopenings against a model: the list of
    /// appended batches with their offsets.
    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(0);
        let config = LogConfig { segment_bytes: 1500, index_interval_bytes: 200, retention_ms: 1000, ..LogConfig::default() };
        let mut log = open(dir.path(), config.clone(), &clock);
        // (base offset, last offset, bytes, max timestamp)
        let mut model: Vec<(i64, i64, Vec<u8>, i64)> = Vec::new();
        let mut next = 0i64;
        let codecs = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
        for op in ops {
            match op {
                Op::Append { records, value_len, compression } => {
                    let ts = clock.now_ms();
                    let recs: Vec<Rec> = (0..records).map(|i| (Some(vec![i as u8]), Some(vec![7; value_len]), ts)).collect();
                    let mut b = encode(&recs, codecs[compression as usize]);
                    let info = log.append(&mut b).unwrap();
                    prop_assert_eq!(info.first_offset, next);
                    model.push((next, info.last_offset, b, ts));
                    next = info.last_offset + 1;
                }
                Op::Roll => log.roll().unwrap(),
                Op::Read { at, max_bytes } => {
                    let start = log.log_start_offset();
                    let offset = start + i64::from(at) % (next - start + 1);
                    let data = log.read(offset, max_bytes as usize).unwrap();
                    let first = model.iter().position(|(_, last, _, _)| *last >= offset);
                    match first {
                        None => prop_assert!(data.is_empty()),
                        Some(i) => {
                            // Whole batches from the one holding `offset`, in order, within
                            // the limit unless it is the first one.
                            let mut expect = model[i].2.clone();
                            for (_, _, b, _) in &model[i + 1..] {
                                if expect.len() + b.len() > max_bytes as usize { break; }
                                expect.extend_from_slice(b);
                            }
                            prop_assert!(expect.starts_with(&data));
                            prop_assert!(data.len() >= model[i].2.len());
                        }
                    }
                }
                Op::Reopen { clean } => {
                    if clean { log.close().unwrap(); } else { log.abandon(); }
                    log = open(dir.path(), config.clone(), &clock);
                    prop_assert_eq!(log.open_report().clean_shutdown, clean);
                    prop_assert_eq!(log.log_end_offset(), next);
                }
                Op::Expire { advance_ms } => {
                    clock.advance(advance_ms);
                    let old_start = log.log_start_offset();
                    log.delete_old_segments().unwrap();
                    let start = log.log_start_offset();
                    prop_assert!(start >= old_start);
                    // Only expired data went, and only whole batches.
                    for (base, last, _, ts) in &model {
                        if *last < start {
                            prop_assert!(clock.now_ms() - ts > 1000, "unexpired batch {} deleted", base);
                        }
                    }
                    model.retain(|(_, last, _, _)| *last >= start);
                    prop_assert!(model.first().is_none_or(|(base, _, _, _)| *base == start) || model.is_empty());
                }
            }
        }
        let got: Vec<Vec<u8>> = read_all(&log).into_iter().map(|(_, b)| b).collect();
        let want: Vec<Vec<u8>> = model.iter().map(|(_, _, b, _)| b.clone()).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(log.log_end_offset(), next);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever bytes a segment file holds, opening the log returns a log or an error, never
    /// a panic; a log that opens reads back whole, valid batches only.
    #[test]
    fn hostile_segment_files_never_panic(
        garbage in prop::collection::vec(any::<u8>(), 0..400),
        valid_prefix in any::<bool>(),
        base_offset in prop_oneof![Just(0i64), Just(i64::MAX - 1), Just(i64::MIN), any::<i64>()],
        clean in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        if valid_prefix {
            let mut b = BatchBuilder::new(Compression::None, 0);
            b.append(0, Some(b"k"), Some(b"v"), &[]).append(1, None, None, &[]);
            bytes.extend_from_slice(&b.build(base_offset));
        }
        bytes.extend_from_slice(&garbage);
        std::fs::write(dir.path().join(segment_file_name(0, "log")), &bytes).unwrap();
        if clean {
            std::fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), b"").unwrap();
        }
        let clock = ManualClock::new(0);
        if let Ok(log) = Log::open_with(dir.path(), LogConfig::default(), Arc::new(OsStorage), Arc::new(clock)) {
            for b in log.batches() {
                let b = b.unwrap();
                verify_crc(&b).unwrap();
            }
            let mut more = value_batch(1, 3, 0);
            let end = log.log_end_offset();
            prop_assert_eq!(log.append(&mut more).unwrap().first_offset, end);
        }
    }
}

fn idempotent(pid: i64, epoch: i16, seq: i32, records: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, 0)
        .producer_id(pid)
        .producer_epoch(epoch)
        .base_sequence(seq);
    for i in 0..records {
        b.append(0, Some(b"k"), Some(format!("v{seq}-{i}").as_bytes()), &[]);
    }
    b.build(0)
}

#[test]
fn idempotent_retries_are_acknowledged_once_and_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    log.append(&mut value_batch(2, 10, 0)).unwrap(); // a plain producer too
    let first = log.append(&mut idempotent(9, 0, 0, 3)).unwrap();
    assert_eq!((first.first_offset, first.duplicate), (2, false));
    let size = log.size_bytes();
    // The retry: same offsets, nothing written.
    let retry = log.append(&mut idempotent(9, 0, 0, 3)).unwrap();
    assert_eq!(
        (retry.first_offset, retry.last_offset, retry.duplicate),
        (2, 4, true)
    );
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.log_end_offset(), 5);
    // Gaps, unknown producers and old epochs are refused and change nothing.
    assert!(matches!(
        log.append(&mut idempotent(9, 0, 5, 1)),
        Err(LogError::Producer(ProducerError::OutOfOrder { .. }))
    ));
    assert!(matches!(
        log.append(&mut idempotent(10, 0, 7, 1)),
        Err(LogError::Producer(ProducerError::UnknownProducer { .. }))
    ));
    log.append(&mut idempotent(9, 1, 0, 1)).unwrap();
    assert!(matches!(
        log.append(&mut idempotent(9, 0, 3, 1)),
        Err(LogError::Producer(ProducerError::StaleEpoch { .. }))
    ));
    // Many batches so the state spans segments and rolls.
    let mut seq = 1;
    for _ in 0..150 {
        log.append(&mut idempotent(9, 1, seq, 2)).unwrap();
        seq += 2;
    }
    assert!(log.segment_count() > 2);
    let end = log.log_end_offset();
    log.close().unwrap();

    // Clean reopen: from the snapshot. A retry of the last batch is still a duplicate.
    let log = open(dir.path(), small_config(), &clock);
    let r = log.append(&mut idempotent(9, 1, seq - 2, 2)).unwrap();
    assert!(r.duplicate);
    assert_eq!(r.first_offset, end - 2);
    log.append(&mut idempotent(9, 1, seq, 2)).unwrap();
    seq += 2;
    log.abandon();

    // Crash reopen: snapshot plus the batches after it.
    let log = open(dir.path(), small_config(), &clock);
    assert!(
        log.append(&mut idempotent(9, 1, seq - 2, 2))
            .unwrap()
            .duplicate
    );
    assert!(matches!(
        log.append(&mut idempotent(9, 1, seq + 2, 2)),
        Err(LogError::Producer(_))
    ));
    log.abandon();

    // No snapshot at all: rebuilt from the whole log.
    std::fs::remove_file(dir.path().join(PRODUCER_STATE_FILE)).unwrap();
    let log = open(dir.path(), small_config(), &clock);
    assert!(
        log.append(&mut idempotent(9, 1, seq - 2, 2))
            .unwrap()
            .duplicate
    );
    assert!(!log.append(&mut idempotent(9, 1, seq, 2)).unwrap().duplicate);
}

#[test]
fn delete_records_raises_the_start_durably_and_drops_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 600,
        cleanup_policy: CleanupPolicy::COMPACT,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config.clone(), &clock);
    for i in 0..10 {
        log.append(&mut encode(
            &[kv(&i.to_string(), &"v".repeat(400), 0)],
            Compression::None,
        ))
        .unwrap();
    }
    assert_eq!(log.segment_count(), 10);
    // The broker moves the high watermark after appends; nothing at or past it may go.
    assert!(matches!(
        log.delete_records_before(4),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    log.set_high_watermark(10);
    assert!(matches!(
        log.delete_records_before(11),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records_before(4).unwrap(), 4);
    assert_eq!(
        log.segment_base_offsets()[0],
        4,
        "segments below the start go, even when compacted"
    );
    assert!(matches!(
        log.read(3, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Never moves backwards; -1 means the high watermark.
    assert_eq!(log.delete_records_before(2).unwrap(), 4);
    log.set_high_watermark(7);
    assert_eq!(log.delete_records_before(-1).unwrap(), 7);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(LOG_START_OFFSET_FILE)).unwrap(),
        "7"
    );
    log.abandon();
    // Within a segment after a crash: the start is still 7, not the segment's base.
    let log = open(dir.path(), config, &clock);
    assert_eq!(log.log_start_offset(), 7);
    assert!(matches!(
        log.read(6, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn log_append_time_stamps_batches_with_the_broker_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(5_000);
    let mut config = LogConfig::default();
    config
        .set("message.timestamp.type", "LogAppendTime")
        .unwrap();
    let log = open(dir.path(), config, &clock);
    let mut b = encode(&[kv("a", "1", 10), kv("b", "2", 20)], Compression::Gzip);
    let info = log.append(&mut b).unwrap();
    assert_eq!((info.append_time_ms, info.max_timestamp), (5_000, 5_000));
    let stored = log.read(0, 1 << 20).unwrap();
    verify_crc(&stored).unwrap();
    let batch = RecordBatch::decode(&stored, 1 << 20).unwrap();
    assert_eq!(
        batch.header.timestamp_type(),
        brook_protocol::record::TimestampType::LogAppendTime
    );
    for r in &batch.records {
        assert_eq!(record_timestamp(&batch.header, r), 5_000);
    }
    assert_eq!(log.offset_for_timestamp(5_000).unwrap(), Some((0, 5_000)));
    assert_eq!(log.offset_for_timestamp(5_001).unwrap(), None);
}
