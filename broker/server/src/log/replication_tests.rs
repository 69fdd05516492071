//! Tests of what replication needs from the log: leader epochs on append and their cache,
//! follower appends, truncation.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use brook_protocol::record::{BatchBuilder, BatchHeader, BatchIter, Compression, RecordBatch};
use proptest::prelude::*;

use super::producer::ProducerError;
use super::*;

/// `n` records whose values are `len` bytes of `fill`.
fn batch(n: usize, len: usize, fill: u8) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, 0);
    for _ in 0..n {
        b.append(0, None, Some(&vec![fill; len]), &[]);
    }
    b.build(0)
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

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig, clock: &ManualClock) -> Log {
    Log::open_with(dir, config, Arc::new(OsStorage), Arc::new(clock.clone())).unwrap()
}

fn open_faulty(dir: &Path, config: LogConfig, clock: &ManualClock, faulty: &FaultyStorage) -> Log {
    Log::open_with(
        dir,
        config,
        Arc::new(faulty.clone()),
        Arc::new(clock.clone()),
    )
    .unwrap()
}

/// Every batch of the log as (base offset, bytes), read through `Log::read`.
fn read_all(log: &Log) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1000).unwrap();
        assert!(!bytes.is_empty(), "no data at {offset}");
        for item in BatchIter::new(&bytes) {
            let (h, b) = item.unwrap();
            out.push((h.base_offset, b.to_vec()));
            offset = h.last_offset() + 1;
        }
    }
    out
}

fn header(bytes: &[u8]) -> BatchHeader {
    BatchHeader::parse(bytes).unwrap()
}

/// The epoch cache a log holding `batches` must have: each epoch's first batch.
fn cache_of(batches: &[(i64, Vec<u8>)]) -> Vec<(i32, i64)> {
    let mut cache = LeaderEpochCache::default();
    for (base, b) in batches {
        cache.assign(header(b).partition_leader_epoch, *base);
    }
    cache.entries().to_vec()
}

fn value_fills(bytes: &[u8]) -> Vec<u8> {
    let batch = RecordBatch::decode(bytes, 1 << 20).unwrap();
    batch
        .records
        .iter()
        .map(|r| r.value.as_ref().unwrap()[0])
        .collect()
}

fn checkpoint(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(LEADER_EPOCH_CHECKPOINT_FILE)).unwrap()
}

#[test]
fn append_with_epoch_stamps_every_batch_and_records_where_epochs_start() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), LogConfig::default(), &clock);
    assert_eq!(log.latest_epoch(), None);

    let original = batch(2, 10, b'a');
    let mut b = original.clone();
    log.append_with_epoch(&mut b, 0).unwrap();
    // Only baseOffset (0..8) and partitionLeaderEpoch (12..16) may change; the CRC holds.
    assert_eq!(&b[16..], &original[16..]);
    assert_eq!(&b[8..12], &original[8..12]);
    assert_eq!(i32::from_be_bytes(b[12..16].try_into().unwrap()), 0);
    assert_eq!(header(&original).partition_leader_epoch, -1);
    log.append_with_epoch(&mut batch(1, 10, b'b'), 0).unwrap();
    // Two batches in one append, a new epoch: both stamped, the epoch starts at the first.
    let mut two = batch(2, 10, b'c');
    two.extend_from_slice(&batch(3, 10, b'd'));
    let info = log.append_with_epoch(&mut two, 3).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (3, 7));
    assert_eq!(log.epoch_entries(), vec![(0, 0), (3, 3)]);
    assert_eq!(log.latest_epoch(), Some(3));

    // A plain append in a log with epochs carries the latest one.
    log.append(&mut batch(1, 10, b'e')).unwrap();
    let stored = read_all(&log);
    let epochs: Vec<i32> = stored
        .iter()
        .map(|(_, b)| header(b).partition_leader_epoch)
        .collect();
    assert_eq!(epochs, vec![0, 0, 3, 3, 3]);
    for (_, b) in &stored {
        verify_crc(b).unwrap();
    }
    assert_eq!(checkpoint(dir.path()), "0\n2\n0 0\n3 3\n");

    // A deposed leader's epoch, or a negative one, is refused and writes nothing.
    let end = log.log_end_offset();
    let size = log.size_bytes();
    for epoch in [2, -1] {
        match log.append_with_epoch(&mut batch(1, 10, b'f'), epoch) {
            Err(LogError::InvalidRecords { .. }) => {}
            other => panic!("epoch {epoch}: expected InvalidRecords, got {other:?}"),
        }
    }
    assert_eq!((log.log_end_offset(), log.size_bytes()), (end, size));
    assert_eq!(log.epoch_entries(), vec![(0, 0), (3, 3)]);
}

#[test]
fn plain_appends_to_a_log_without_epochs_store_the_field_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), LogConfig::default(), &clock);
    let original = BatchBuilder::new(Compression::None, 0)
        .partition_leader_epoch(7)
        .append(0, None, Some(b"v"), &[])
        .build(0);
    let mut b = original.clone();
    log.append(&mut b).unwrap();
    log.append(&mut batch(1, 3, b'x')).unwrap();
    assert_eq!(&b[8..], &original[8..]);
    let stored = read_all(&log);
    assert_eq!(header(&stored[0].1).partition_leader_epoch, 7);
    assert_eq!(header(&stored[1].1).partition_leader_epoch, -1);
    assert!(log.epoch_entries().is_empty());
    assert!(!dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE).exists());
}

#[test]
fn end_offset_for_epoch_answers_offset_for_leader_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!(log.end_offset_for_epoch(0), None, "empty cache");
    // Epoch 1 at 0, epoch 3 at 10, epoch 6 at 25; the log ends at 30.
    for (epoch, batches) in [(1, 5), (3, 3), (6, 1)] {
        for _ in 0..batches {
            log.append_with_epoch(&mut batch(if epoch == 3 { 5 } else { 2 }, 20, 0), epoch)
                .unwrap();
        }
    }
    log.append_with_epoch(&mut batch(3, 20, 0), 6).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (3, 10), (6, 25)]);
    assert_eq!(log.log_end_offset(), 30);
    let cases = [
        (-1, None),
        (0, None),
        (1, Some((1, 10))),
        (2, Some((1, 10))),
        (3, Some((3, 25))),
        (5, Some((3, 25))),
        (6, Some((6, 30))),
        (7, Some((6, 30))),
    ];
    for (epoch, want) in cases {
        assert_eq!(log.end_offset_for_epoch(epoch), want, "epoch {epoch}");
    }
    // A new leader records its epoch at the log end before appending anything.
    assert!(log.assign_leader_epoch(8).unwrap());
    assert!(!log.assign_leader_epoch(8).unwrap());
    assert!(!log.assign_leader_epoch(2).unwrap());
    assert_eq!(log.end_offset_for_epoch(6), Some((6, 30)));
    assert_eq!(log.end_offset_for_epoch(8), Some((8, 30)));
    let info = log.append(&mut batch(1, 20, 0)).unwrap();
    assert_eq!(
        header(&log.read(info.first_offset, 1).unwrap()).partition_leader_epoch,
        8
    );
    assert_eq!(log.end_offset_for_epoch(8), Some((8, 31)));
    assert_eq!(log.end_offset_for_epoch(7), Some((6, 30)));
}

#[test]
fn epoch_cache_survives_reopening_and_is_rebuilt_when_missing_or_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    for i in 0..40 {
        log.append_with_epoch(&mut batch(2, 40, i as u8), i / 7)
            .unwrap();
    }
    assert!(log.segment_count() > 3);
    let entries = log.epoch_entries();
    assert_eq!(entries.len(), 6);
    assert_eq!(entries, cache_of(&read_all(&log)));
    log.close().unwrap();

    // Clean reopen: from the checkpoint.
    let log = open(dir.path(), small_config(), &clock);
    assert!(log.open_report().clean_shutdown);
    assert_eq!(log.epoch_entries(), entries);
    // A new epoch, then a crash: the checkpoint had it written before the batch.
    log.append_with_epoch(&mut batch(1, 40, 0), 9).unwrap();
    let mut entries = entries;
    entries.push((9, 80));
    assert_eq!(log.epoch_entries(), entries);
    log.abandon();
    let log = open(dir.path(), small_config(), &clock);
    assert!(!log.open_report().clean_shutdown);
    assert_eq!(log.epoch_entries(), entries);
    log.abandon();

    // A checkpoint without the epoch of the unflushed tail (as if its last update was
    // lost): recovery, which re-reads that tail, puts it back.
    std::fs::write(
        dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE),
        LeaderEpochCache::from_entries(entries[..6].to_vec())
            .unwrap()
            .encode(),
    )
    .unwrap();
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!(log.epoch_entries(), entries);
    log.close().unwrap();

    // Deleted: rebuilt from the batch headers (after a clean close too), and written back.
    std::fs::remove_file(dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE)).unwrap();
    let log = open(dir.path(), small_config(), &clock);
    assert!(log.open_report().clean_shutdown);
    assert_eq!(log.epoch_entries(), entries);
    assert_eq!(
        LeaderEpochCache::decode(checkpoint(dir.path()).as_bytes())
            .unwrap()
            .entries(),
        &entries[..]
    );
    log.abandon();

    // Corrupt (entries out of order; then garbage): rebuilt, unclean open too.
    for garbage in [&b"0\n2\n5 100\n1 200\n"[..], b"\x00\x01garbage"] {
        std::fs::write(dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE), garbage).unwrap();
        let log = open(dir.path(), small_config(), &clock);
        assert!(!log.open_report().clean_shutdown);
        assert_eq!(log.epoch_entries(), entries);
        assert_eq!(
            checkpoint(dir.path()).as_bytes(),
            LeaderEpochCache::from_entries(entries.clone())
                .unwrap()
                .encode()
        );
        log.abandon();
    }
}

#[test]
fn a_torn_append_in_a_new_epoch_drops_the_epoch_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let faulty = FaultyStorage::new(Arc::new(OsStorage));
    let log = open_faulty(dir.path(), LogConfig::default(), &clock, &faulty);
    for epoch in [0, 0, 2] {
        log.append_with_epoch(&mut batch(2, 30, 1), epoch).unwrap();
    }
    let before = read_all(&log);
    // Budget: the whole new checkpoint, then half of the batch.
    let mut b = batch(2, 30, 2);
    let new_checkpoint = LeaderEpochCache::from_entries(vec![(0, 0), (2, 4), (5, 6)])
        .unwrap()
        .encode();
    faulty.crash_after_bytes((new_checkpoint.len() + b.len() / 2) as u64);
    assert!(matches!(
        log.append_with_epoch(&mut b, 5),
        Err(LogError::Io { .. })
    ));
    assert!(faulty.crashed());
    log.abandon();
    // The checkpoint got the new epoch; the batch did not survive.
    assert_eq!(checkpoint(dir.path()).as_bytes(), new_checkpoint);
    let log = open(dir.path(), LogConfig::default(), &clock);
    assert!(log.open_report().bytes_truncated > 0);
    assert_eq!(read_all(&log), before);
    assert_eq!(log.epoch_entries(), vec![(0, 0), (2, 4)]);
    assert_eq!(checkpoint(dir.path()), "0\n2\n0 0\n2 4\n");
}

#[test]
fn follower_append_keeps_the_leaders_offsets_bytes_and_epochs() {
    let clock = ManualClock::new(0);
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let leader = open(leader_dir.path(), small_config(), &clock);
    let follower = open(
        follower_dir.path(),
        LogConfig {
            flush_messages: 10,
            ..small_config()
        },
        &clock,
    );
    for i in 0..30 {
        leader
            .append_with_epoch(&mut batch(1 + i % 3, 30, i as u8), (i / 10) as i32 * 2)
            .unwrap();
    }
    // Fetch as a follower would: from the follower's log end, a few batches at a time.
    let hw = follower.high_watermark();
    let empty = follower.append_as_follower(&mut []).unwrap();
    assert_eq!((empty.first_offset, empty.last_offset), (0, -1));
    while follower.log_end_offset() < leader.log_end_offset() {
        let mut fetched = leader
            .read(follower.log_end_offset(), 400)
            .unwrap()
            .to_vec();
        let first = header(&fetched).base_offset;
        let info = follower.append_as_follower(&mut fetched).unwrap();
        assert_eq!(info.first_offset, first, "the leader's offsets are kept");
        assert!(!info.duplicate);
    }
    assert_eq!(read_all(&follower), read_all(&leader));
    assert_eq!(follower.epoch_entries(), leader.epoch_entries());
    assert_eq!(follower.epoch_entries(), vec![(0, 0), (2, 19), (4, 39)]);
    assert_eq!(
        follower.high_watermark(),
        hw,
        "the caller moves the high watermark"
    );
    assert!(follower.segment_count() > 2, "followers roll too");
    assert!(
        follower.recovery_point() >= follower.log_end_offset() - 10,
        "flush.messages applies: {}",
        follower.recovery_point()
    );
    follower.set_high_watermark(leader.log_end_offset());
    assert_eq!(follower.high_watermark(), 60);
    follower.close().unwrap();
    let follower = open(follower_dir.path(), small_config(), &clock);
    assert_eq!(read_all(&follower), read_all(&leader));
    assert_eq!(follower.epoch_entries(), leader.epoch_entries());
}

/// A batch as the leader stored it: base offset and epoch set.
fn leader_batch(base: i64, epoch: i32, records: usize) -> Vec<u8> {
    let mut b = batch(records, 10, 0);
    brook_protocol::record::set_base_offset(&mut b, base);
    brook_protocol::record::set_partition_leader_epoch(&mut b, epoch);
    b
}

fn assert_mismatch(r: Result<AppendInfo, LogError>, what: &str) {
    match r {
        Err(LogError::InvalidRecords { reason, .. }) if reason.contains("offset mismatch") => {}
        other => panic!("{what}: expected an offset mismatch, got {other:?}"),
    }
}

#[test]
fn follower_append_refuses_gaps_overlaps_and_stale_epochs_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), LogConfig::default(), &clock);
    log.append_as_follower(&mut leader_batch(0, 1, 3)).unwrap();
    assert_eq!(log.log_end_offset(), 3);
    let size = log.size_bytes();
    assert_mismatch(log.append_as_follower(&mut leader_batch(5, 1, 1)), "a gap");
    assert_mismatch(
        log.append_as_follower(&mut leader_batch(2, 1, 1)),
        "an overlap",
    );
    // The second batch does not follow the first: nothing of either is written.
    let mut two = leader_batch(3, 1, 2);
    two.extend_from_slice(&leader_batch(6, 1, 1));
    assert_mismatch(log.append_as_follower(&mut two), "a gap inside the fetch");
    // Epochs never go back.
    log.append_as_follower(&mut leader_batch(3, 4, 1)).unwrap();
    match log.append_as_follower(&mut leader_batch(4, 2, 1)) {
        Err(LogError::InvalidRecords { reason, .. }) => assert!(reason.contains("stale")),
        other => panic!("expected a stale epoch, got {other:?}"),
    }
    // A corrupt batch is refused as on the leader.
    let mut bad = leader_batch(4, 4, 1);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(log.append_as_follower(&mut bad).is_err());
    assert_eq!(log.log_end_offset(), 4);
    assert!(log.size_bytes() > size);
    // An unstamped batch (epoch -1) is taken and leaves the cache alone.
    log.append_as_follower(&mut leader_batch(4, -1, 1)).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (4, 3)]);
    assert_eq!(log.log_end_offset(), 5);
}

/// A node elected leader for epoch 1 that wrote nothing before the next leader, whose log
/// goes on in epoch 0 from there, took over: the follower's truncation to its log end drops
/// the empty epoch (it is not in the leader's history), so the leader's epoch-0 batches are
/// taken, and the drop survives reopening. (Before, the follower refused them as stale for
/// ever.)
#[test]
fn truncation_at_the_log_end_drops_an_epoch_without_batches() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), LogConfig::default(), &clock);
    log.append_as_follower(&mut leader_batch(0, 0, 3)).unwrap();
    assert!(log.assign_leader_epoch(1).unwrap());
    assert_eq!(log.epoch_entries(), vec![(0, 0), (1, 3)]);
    match log.append_as_follower(&mut leader_batch(3, 0, 2)) {
        Err(LogError::InvalidRecords { reason, .. }) => assert!(reason.contains("stale")),
        other => panic!("expected a stale epoch before the truncation, got {other:?}"),
    }
    // OffsetForLeaderEpoch(1) on the new leader answers (0, 5): the follower's own end of
    // epoch 0 is 3, its log end.
    log.truncate_to(3).unwrap();
    assert_eq!(log.epoch_entries(), vec![(0, 0)]);
    assert_eq!(log.log_end_offset(), 3);
    log.append_as_follower(&mut leader_batch(3, 0, 2)).unwrap();
    assert_eq!(log.log_end_offset(), 5);
    log.close().unwrap();
    let log = open(dir.path(), LogConfig::default(), &clock);
    assert_eq!(log.epoch_entries(), vec![(0, 0)]);
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn follower_of_a_compacted_log_takes_gaps_but_never_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(
        dir.path(),
        LogConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            ..LogConfig::default()
        },
        &clock,
    );
    // Unkeyed records are taken from the leader even though the log is compacted.
    log.append_as_follower(&mut leader_batch(0, 0, 2)).unwrap();
    log.append_as_follower(&mut leader_batch(10, 0, 2)).unwrap();
    assert_eq!(log.log_end_offset(), 12);
    assert_mismatch(
        log.append_as_follower(&mut leader_batch(11, 0, 1)),
        "backwards",
    );
    let offsets: Vec<i64> = read_all(&log).iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, vec![0, 10]);
    assert_eq!(log.read(5, 1).unwrap().len(), leader_batch(10, 0, 2).len());
}

#[test]
fn an_idempotent_batch_replicated_then_retried_on_the_new_leader_is_a_duplicate() {
    let clock = ManualClock::new(0);
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(a_dir.path(), small_config(), &clock);
    let b = open(b_dir.path(), small_config(), &clock);
    a.append_with_epoch(&mut batch(2, 5, 0), 0).unwrap();
    let first = a.append_with_epoch(&mut idempotent(9, 0, 0, 3), 0).unwrap();
    let second = a.append_with_epoch(&mut idempotent(9, 0, 3, 2), 0).unwrap();
    // B replicates everything, then A fails before acknowledging the second batch.
    let mut fetched = a.read(0, 1 << 20).unwrap().to_vec();
    b.append_as_follower(&mut fetched).unwrap();
    // Follower appends are not checked against sequences: a replayed fetch is refused
    // only for its offsets.
    assert_mismatch(b.append_as_follower(&mut fetched), "a replayed fetch");
    a.abandon();

    // B leads in epoch 1; the producer retries.
    assert!(b.assign_leader_epoch(1).unwrap());
    let size = b.size_bytes();
    let retry = b.append_with_epoch(&mut idempotent(9, 0, 3, 2), 1).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.first_offset, second.first_offset);
    let older = b.append_with_epoch(&mut idempotent(9, 0, 0, 3), 1).unwrap();
    assert!(older.duplicate);
    assert_eq!(older.first_offset, first.first_offset);
    assert_eq!(b.size_bytes(), size);
    assert!(matches!(
        b.append_with_epoch(&mut idempotent(9, 0, 9, 1), 1),
        Err(LogError::Producer(ProducerError::OutOfOrder { .. }))
    ));
    let next = b.append_with_epoch(&mut idempotent(9, 0, 5, 1), 1).unwrap();
    assert!(!next.duplicate);
    assert_eq!(next.first_offset, 7);
    assert_eq!(b.epoch_entries(), vec![(0, 0), (1, 7)]);
    // And after a crash of B.
    b.abandon();
    let b = open(b_dir.path(), small_config(), &clock);
    assert!(
        b.append_with_epoch(&mut idempotent(9, 0, 3, 2), 1)
            .unwrap()
            .duplicate
    );
}

#[test]
fn truncate_inside_the_active_segment_cuts_at_the_batch_and_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), LogConfig::default(), &clock);
    for i in 0..10 {
        log.append_with_epoch(&mut batch(2, 10, i), i32::from(i / 4))
            .unwrap();
    }
    assert_eq!(log.epoch_entries(), vec![(0, 0), (1, 8), (2, 16)]);
    let before = read_all(&log);
    log.set_high_watermark(20);
    // 7 is inside the batch [6, 7]: that batch goes too.
    log.truncate_to(7).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.high_watermark(), 6);
    assert_eq!(log.recovery_point(), 0);
    assert_eq!(read_all(&log), before[..3].to_vec());
    assert_eq!(log.epoch_entries(), vec![(0, 0)]);
    assert_eq!(log.end_offset_for_epoch(2), Some((0, 6)));
    assert!(matches!(
        log.read(7, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(log.read(6, 100).unwrap().is_empty());
    assert_eq!(
        std::fs::metadata(dir.path().join(segment_file_name(0, "log")))
            .unwrap()
            .len(),
        before[..3].iter().map(|(_, b)| b.len() as u64).sum::<u64>()
    );
    // At or past the end: nothing happens.
    log.truncate_to(6).unwrap();
    log.truncate_to(100).unwrap();
    assert_eq!(read_all(&log), before[..3].to_vec());

    let info = log.append_with_epoch(&mut batch(1, 10, b'n'), 3).unwrap();
    assert_eq!(info.first_offset, 6);
    assert_eq!(log.epoch_entries(), vec![(0, 0), (3, 6)]);
    let after = read_all(&log);
    assert_eq!(after.len(), 4);
    assert_eq!(value_fills(&after[3].1), vec![b'n']);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 0)));
    log.close().unwrap();
    let log = open(dir.path(), LogConfig::default(), &clock);
    assert_eq!(log.open_report().segments_recovered, 0);
    assert_eq!(read_all(&log), after);
    assert_eq!(log.epoch_entries(), vec![(0, 0), (3, 6)]);
}

#[test]
fn truncate_at_a_segment_boundary_and_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    for i in 0..60u8 {
        log.append_with_epoch(&mut batch(2, 30, i), i32::from(i / 10))
            .unwrap();
    }
    let before = read_all(&log);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 6, "{bases:?}");
    let files = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".log"))
            .collect();
        names.sort();
        names
    };

    // At the base of the fifth segment: segments above go, it stays, empty.
    let boundary = bases[4];
    log.truncate_to(boundary).unwrap();
    assert_eq!(log.segment_base_offsets(), bases[..5].to_vec());
    assert_eq!(log.log_end_offset(), boundary);
    let kept = before.iter().filter(|(o, _)| *o < boundary).count();
    assert_eq!(read_all(&log), before[..kept].to_vec());
    assert_eq!(
        files(dir.path()),
        bases[..5]
            .iter()
            .map(|b| segment_file_name(*b, "log"))
            .collect::<Vec<_>>()
    );

    // Inside the second segment: three more go.
    let target = bases[1] + 3;
    log.truncate_to(target).unwrap();
    assert_eq!(log.segment_base_offsets(), bases[..2].to_vec());
    let kept: Vec<_> = before
        .iter()
        .filter(|(o, b)| *o + i64::from(header(b).last_offset_delta) < target)
        .cloned()
        .collect();
    assert_eq!(read_all(&log), kept);
    let end = log.log_end_offset();
    assert!(end <= target && end > bases[1]);
    assert_eq!(log.epoch_entries(), cache_of(&kept));
    assert_eq!(files(dir.path()).len(), 2);
    for gone in &bases[2..] {
        assert!(!dir.path().join(segment_file_name(*gone, "index")).exists());
    }

    // Appends continue at the new end, rolling again.
    for i in 0..20u8 {
        let info = log
            .append_with_epoch(&mut batch(2, 30, 100 + i), 10)
            .unwrap();
        assert_eq!(info.first_offset, end + 2 * i64::from(i));
    }
    assert!(log.segment_count() > 3);
    let after = read_all(&log);
    assert_eq!(&after[..kept.len()], &kept[..]);
    assert!(after[kept.len()..]
        .iter()
        .all(|(_, b)| value_fills(b)[0] >= 100));
    let mut expected_epochs = cache_of(&kept);
    expected_epochs.push((10, end));
    assert_eq!(log.epoch_entries(), expected_epochs);
    log.close().unwrap();
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!(read_all(&log), after);
    assert_eq!(log.epoch_entries(), expected_epochs);
}

#[test]
fn truncate_restores_the_producer_state_of_the_batches_kept() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    // Producer 9 appends 40 batches of 2 records (sequences 0, 2, 4, ...) across segments.
    let mut firsts = Vec::new();
    for i in 0..40 {
        let info = log.append(&mut idempotent(9, 0, i * 2, 2)).unwrap();
        firsts.push(info.first_offset);
    }
    assert!(log.segment_count() > 2);
    for (keep, how) in [(35, "within the rolled snapshots"), (12, "far back")] {
        // Keep `keep` batches: the last kept one's retry is a duplicate, the first cut one
        // is appended anew (it is no longer in the log).
        log.truncate_to(firsts[keep]).unwrap();
        assert_eq!(log.log_end_offset(), firsts[keep], "{how}");
        let seq = (keep as i32 - 1) * 2;
        let retry = log.append(&mut idempotent(9, 0, seq, 2)).unwrap();
        assert!(retry.duplicate, "{how}");
        assert_eq!(retry.first_offset, firsts[keep - 1]);
        let again = log.append(&mut idempotent(9, 0, seq + 2, 2)).unwrap();
        assert!(!again.duplicate, "{how}");
        assert_eq!(again.first_offset, firsts[keep]);
        assert!(matches!(
            log.append(&mut idempotent(9, 0, seq + 8, 2)),
            Err(LogError::Producer(ProducerError::OutOfOrder { .. }))
        ));
        // Put the rest back for the next round.
        for i in keep + 1..40 {
            log.append(&mut idempotent(9, 0, i as i32 * 2, 2)).unwrap();
        }
    }
    // All the way back: the producer is unknown again.
    log.truncate_to(0).unwrap();
    assert!(matches!(
        log.append(&mut idempotent(9, 0, 4, 2)),
        Err(LogError::Producer(ProducerError::UnknownProducer { .. }))
    ));
    assert!(!log.append(&mut idempotent(9, 0, 0, 2)).unwrap().duplicate);
}

#[test]
fn truncate_then_unclean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    for i in 0..30 {
        log.append_with_epoch(&mut idempotent(3, 0, i * 2, 2), i / 8)
            .unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 60);
    log.truncate_to(31).unwrap();
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(log.recovery_point(), 30);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(RECOVERY_POINT_FILE)).unwrap(),
        "30"
    );
    log.append_with_epoch(&mut idempotent(3, 0, 30, 2), 7)
        .unwrap();
    let expected = read_all(&log);
    let epochs = log.epoch_entries();
    assert_eq!(epochs, vec![(0, 0), (1, 16), (7, 30)]);
    log.abandon();

    let log = open(dir.path(), small_config(), &clock);
    assert!(!log.open_report().clean_shutdown);
    assert_eq!(read_all(&log), expected);
    assert_eq!(log.epoch_entries(), epochs);
    assert_eq!(log.log_end_offset(), 32);
    assert!(log.append(&mut idempotent(3, 0, 30, 2)).unwrap().duplicate);
    // Truncated, then crashed before anything else was written.
    log.truncate_to(20).unwrap();
    log.abandon();
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!(read_all(&log), expected[..10].to_vec());
    assert_eq!(log.epoch_entries(), vec![(0, 0), (1, 16)]);
    assert!(log.append(&mut idempotent(3, 0, 18, 2)).unwrap().duplicate);
    assert!(!log.append(&mut idempotent(3, 0, 20, 2)).unwrap().duplicate);
}

#[test]
fn a_crash_anywhere_in_a_truncation_reopens_to_a_prefix() {
    let clock = ManualClock::new(0);
    let mut budgets: Vec<u64> = (0..120).collect();
    budgets.extend((120..600).step_by(17));
    budgets.push(u64::MAX);
    let mut crashes = 0;
    for budget in budgets {
        let dir = tempfile::tempdir().unwrap();
        let faulty = FaultyStorage::new(Arc::new(OsStorage));
        let log = open_faulty(dir.path(), small_config(), &clock, &faulty);
        // (base offset, sequence) of producer 5's batches.
        let mut idem = Vec::new();
        for i in 0..36 {
            if i % 3 == 0 {
                let seq = idem.len() as i32;
                let info = log
                    .append_with_epoch(&mut idempotent(5, 0, seq, 1), i / 5)
                    .unwrap();
                idem.push((info.first_offset, seq));
            } else {
                log.append_with_epoch(&mut batch(2, 40, i as u8), i / 5)
                    .unwrap();
            }
        }
        log.flush().unwrap();
        let original = read_all(&log);
        let target = original[14].0 + 1;
        let new_end = original[14].0;
        faulty.crash_after_bytes(budget);
        let r = log.truncate_to(target);
        let crashed = faulty.crashed();
        assert_eq!(r.is_err(), crashed, "budget {budget}: {r:?}");
        crashes += usize::from(crashed);
        log.abandon();

        let log = open(dir.path(), small_config(), &clock);
        let got = read_all(&log);
        assert!(original.starts_with(&got), "budget {budget}: not a prefix");
        assert!(got.len() >= 14, "budget {budget}: kept data lost");
        if !crashed {
            assert_eq!(log.log_end_offset(), new_end);
        }
        assert_eq!(log.epoch_entries(), cache_of(&got), "budget {budget}");
        // The producer state is that of the batches present.
        let end = log.log_end_offset();
        let &(last_base, last_seq) = idem.iter().rev().find(|(o, _)| *o < end).unwrap();
        let retry = log.append(&mut idempotent(5, 0, last_seq, 1)).unwrap();
        assert!(retry.duplicate, "budget {budget}");
        assert_eq!(retry.first_offset, last_base);
        let next = log.append(&mut idempotent(5, 0, last_seq + 1, 1)).unwrap();
        assert_eq!((next.first_offset, next.duplicate), (end, false));
    }
    assert!(crashes > 50, "only {crashes} budgets crashed");
}

#[test]
fn truncate_fully_restarts_the_log_empty_at_an_offset() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), small_config(), &clock);
    for i in 0..30 {
        log.append_with_epoch(&mut idempotent(4, 0, i, 1), 2)
            .unwrap();
    }
    assert!(log.segment_count() > 1);
    log.truncate_fully_and_start_at(1000).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.high_watermark(),
            log.recovery_point()
        ),
        (1000, 1000, 1000, 1000)
    );
    assert!(log.epoch_entries().is_empty());
    assert_eq!(log.segment_base_offsets(), vec![1000]);
    assert!(matches!(
        log.read(999, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(log.read(1000, 100).unwrap().is_empty());
    // The producer state went too: its next sequence is that of an unknown producer.
    assert!(matches!(
        log.append(&mut idempotent(4, 0, 30, 1)),
        Err(LogError::Producer(ProducerError::UnknownProducer { .. }))
    ));
    let info = log.append_with_epoch(&mut batch(1, 5, 1), 3).unwrap();
    assert_eq!(info.first_offset, 1000);
    assert_eq!(log.epoch_entries(), vec![(3, 1000)]);
    log.abandon();
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (1000, 1001));
    assert_eq!(log.epoch_entries(), vec![(3, 1000)]);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert_eq!(names, vec![segment_file_name(1000, "log")]);

    // Back below the first segment: truncate_to restarts the log there too.
    log.truncate_to(10).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (10, 10));
    assert_eq!(log.segment_base_offsets(), vec![10]);
    assert!(matches!(
        log.truncate_fully_and_start_at(-1),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    log.close().unwrap();
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (10, 10));
    assert_eq!(log.append(&mut batch(1, 5, 1)).unwrap().first_offset, 10);
}

#[test]
fn a_full_truncation_that_crashed_after_deleting_the_segments_reopens_empty() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let faulty = FaultyStorage::new(Arc::new(OsStorage));
    let log = open_faulty(dir.path(), small_config(), &clock, &faulty);
    for i in 0..20 {
        log.append_with_epoch(&mut batch(1, 50, 0), i / 5).unwrap();
    }
    log.flush().unwrap(); // no background flush may write meanwhile
                          // The segments go (no bytes written), then the first checkpoint write is torn.
    faulty.crash_after_bytes(3);
    assert!(log.truncate_fully_and_start_at(500).is_err());
    log.abandon();
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!(log.log_end_offset(), log.log_start_offset());
    assert!(read_all(&log).is_empty());
    // The stale checkpoint's epochs are all at or past the (empty) log's end.
    assert!(log.epoch_entries().is_empty());
    let end = log.log_end_offset();
    assert_eq!(log.append(&mut batch(1, 5, 0)).unwrap().first_offset, end);
}

#[test]
fn truncating_below_a_deleted_records_start_lowers_it_durably() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), LogConfig::default(), &clock);
    for _ in 0..10 {
        log.append_with_epoch(&mut batch(1, 5, 0), 1).unwrap();
    }
    log.set_high_watermark(10);
    assert_eq!(log.delete_records_before(8).unwrap(), 8);
    assert_eq!(
        log.epoch_entries(),
        vec![(1, 8)],
        "the cache follows the start"
    );
    log.truncate_to(5).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (5, 5));
    assert!(log.epoch_entries().is_empty());
    log.append_with_epoch(&mut batch(1, 5, b'z'), 2).unwrap();
    log.abandon();
    let log = open(dir.path(), LogConfig::default(), &clock);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (5, 6));
    assert_eq!(value_fills(&log.read(5, 100).unwrap()), vec![b'z']);
    assert_eq!(log.epoch_entries(), vec![(2, 5)]);
}

#[test]
fn reads_never_return_truncated_data() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(
        dir.path(),
        LogConfig {
            segment_bytes: 2048,
            index_interval_bytes: 64,
            ..LogConfig::default()
        },
        &clock,
    );
    const CUT: i64 = 20;
    const END: i64 = 80;
    while log.log_end_offset() < END {
        log.append(&mut batch(2, 40, 0)).unwrap();
    }
    // Rounds: truncate to CUT, announce the round, refill with values = the round.
    let round = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (log, round, done) = (log.clone(), round.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut buf = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    let started = round.load(Ordering::SeqCst);
                    let range = match log.read_into(CUT, 4096, i64::MAX, &mut buf) {
                        Ok(r) => r,
                        Err(e) => panic!("read failed: {e}"),
                    };
                    for item in BatchIter::new(&buf[range]) {
                        let (h, b) = item.unwrap();
                        verify_crc(b).unwrap();
                        assert!(h.base_offset >= CUT);
                        let fill = u64::from(value_fills(b)[0]);
                        assert!(
                            fill >= started,
                            "read data of round {fill} after round {started} truncated it"
                        );
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for r in 1..=40u8 {
        log.truncate_to(CUT).unwrap();
        round.store(u64::from(r), Ordering::SeqCst);
        while log.log_end_offset() < END {
            log.append(&mut batch(2, 40, r)).unwrap();
        }
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let all = read_all(&log);
    assert!(all
        .iter()
        .filter(|(o, _)| *o >= CUT)
        .all(|(_, b)| value_fills(b)[0] == 40));
}

#[derive(Debug, Clone)]
enum Op {
    Append { records: usize, bump: bool },
    Follower { records: usize, bump: bool },
    Truncate { back: u16 },
    Roll,
    Reopen { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..4, any::<bool>()).prop_map(|(records, bump)| Op::Append { records, bump }),
        2 => (1usize..4, any::<bool>()).prop_map(|(records, bump)| Op::Follower { records, bump }),
        2 => any::<u16>().prop_map(|back| Op::Truncate { back }),
        1 => Just(Op::Roll),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Leader and follower appends with rising epochs, truncations, rolls and reopenings
    /// against a model: the batches, and the epoch cache they imply.
    #[test]
    fn log_with_epochs_and_truncation_matches_model(ops in prop::collection::vec(op(), 1..50)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(0);
        let config = LogConfig { segment_bytes: 700, index_interval_bytes: 100, ..LogConfig::default() };
        let mut log = open(dir.path(), config.clone(), &clock);
        let mut model: Vec<(i64, Vec<u8>)> = Vec::new();
        let mut epoch = 0;
        let mut fill = 0u8;
        for op in ops {
            fill = fill.wrapping_add(1);
            let end = model.last().map(|(o, b)| o + i64::from(header(b).last_offset_delta) + 1).unwrap_or(0);
            match op {
                Op::Append { records, bump } => {
                    epoch += i32::from(bump);
                    let mut b = batch(records, 30, fill);
                    let info = log.append_with_epoch(&mut b, epoch).unwrap();
                    prop_assert_eq!(info.first_offset, end);
                    model.push((end, b));
                }
                Op::Follower { records, bump } => {
                    epoch += i32::from(bump);
                    let mut b = batch(records, 30, fill);
                    brook_protocol::record::set_base_offset(&mut b, end);
                    brook_protocol::record::set_partition_leader_epoch(&mut b, epoch);
                    log.append_as_follower(&mut b.clone()).unwrap();
                    model.push((end, b));
                }
                Op::Truncate { back } => {
                    let to = end - i64::from(back) % (end + 1);
                    log.truncate_to(to).unwrap();
                    model.retain(|(o, b)| o + i64::from(header(b).last_offset_delta) < to);
                }
                Op::Roll => log.roll().unwrap(),
                Op::Reopen { clean } => {
                    if clean { log.close().unwrap(); } else { log.abandon(); }
                    log = open(dir.path(), config.clone(), &clock);
                }
            }
            let end = model.last().map(|(o, b)| o + i64::from(header(b).last_offset_delta) + 1).unwrap_or(0);
            prop_assert_eq!(log.log_end_offset(), end);
            prop_assert_eq!(log.epoch_entries(), cache_of(&model));
            // Epochs may go on from the latest one the log still has.
            epoch = epoch.max(log.latest_epoch().unwrap_or(0));
        }
        prop_assert_eq!(read_all(&log), model.clone());
        log.close().unwrap();
        let log = open(dir.path(), config, &clock);
        prop_assert_eq!(read_all(&log), model.clone());
        prop_assert_eq!(log.epoch_entries(), cache_of(&model));
    }
}
