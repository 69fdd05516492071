//! Crash tests for the partition log:
//! - the active segment cut at every byte of its last batches, with and without garbage
//!   after the cut: exactly the whole batches remain and appends continue at the next offset;
//! - a real writer process killed with SIGKILL mid-stream: every acknowledged batch is there.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use brook_broker::log::{segment_file_name, Log, LogConfig};
use brook_protocol::record::{BatchBuilder, BatchIter, Compression};

fn batch(seed: usize, records: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(
        if seed.is_multiple_of(3) {
            Compression::Lz4
        } else {
            Compression::None
        },
        1_000,
    );
    for i in 0..records {
        let key = format!("key-{seed}-{i}");
        let value = vec![(seed + i) as u8; 20 + (seed * 7 + i) % 50];
        b.append(1_000 + i as i64, Some(key.as_bytes()), Some(&value), &[]);
    }
    b.build(0)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn all_batches(log: &Log) -> Vec<Vec<u8>> {
    log.batches().map(|b| b.unwrap().to_vec()).collect()
}

#[test]
fn torn_tail_at_every_byte_keeps_exactly_the_whole_batches() {
    let template = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 2000,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let log = Log::open(template.path(), config.clone()).unwrap();
    let mut written = Vec::new();
    let active_base = |log: &Log| *log.segment_base_offsets().last().unwrap();
    // At least 40 batches, and at least three (of at most three records) in the active segment.
    let mut i = 0;
    while i < 40 || log.log_end_offset() - active_base(&log) < 9 {
        let mut b = batch(i, 1 + i % 3);
        log.append(&mut b).unwrap();
        written.push(b);
        i += 1;
    }
    let active = active_base(&log);
    log.abandon(); // a crash: no clean shutdown, nothing flushed beyond the rolls
    let seg_name = segment_file_name(active, "log");
    let seg_bytes = std::fs::read(template.path().join(&seg_name)).unwrap();
    // Batch boundaries inside the active segment.
    let mut ends = vec![0usize];
    for item in BatchIter::new(&seg_bytes) {
        let (_, b) = item.unwrap();
        ends.push(ends.last().unwrap() + b.len());
    }
    assert_eq!(*ends.last().unwrap(), seg_bytes.len());
    assert!(
        ends.len() >= 4,
        "the active segment holds at least three batches"
    );
    let batches_before_active = written.len() - (ends.len() - 1);
    let cut_from = ends[ends.len() - 4];
    let garbage: [&[u8]; 3] = [&[], &[0u8; 100], b"\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x40garbage that is not a batch at all........................."];
    let mut runs = 0;
    for cut in cut_from..=seg_bytes.len() {
        for junk in garbage {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(template.path(), dir.path());
            let mut torn = seg_bytes[..cut].to_vec();
            torn.extend_from_slice(junk);
            std::fs::write(dir.path().join(&seg_name), &torn).unwrap();

            let log = Log::open(dir.path(), config.clone()).unwrap();
            // Batches whose bytes are intact (the junk can happen to restore a cut-off tail,
            // e.g. a final 0x00 varint followed by zero padding: that batch is whole again).
            let whole = ends
                .windows(2)
                .take_while(|w| torn.get(w[0]..w[1]) == Some(&seg_bytes[w[0]..w[1]]))
                .count();
            let expect = &written[..batches_before_active + whole];
            let got = all_batches(&log);
            assert_eq!(
                got.len(),
                expect.len(),
                "cut at {cut} + {} junk bytes",
                junk.len()
            );
            assert_eq!(&got[..], expect, "cut at {cut}");
            let next: i64 = expect
                .iter()
                .map(|b| BatchIter::new(b).next().unwrap().unwrap().0.records_count as i64)
                .sum();
            assert_eq!(log.log_end_offset(), next);
            let mut more = batch(999, 2);
            assert_eq!(log.append(&mut more).unwrap().first_offset, next);
            let expected_truncated = (torn.len() - ends[whole]) as u64;
            assert_eq!(log.open_report().bytes_truncated, expected_truncated);
            runs += 1;
        }
    }
    assert!(runs > 100);
}

/// Run by `acknowledged_batches_survive_kill_9` in a child process: appends batches forever,
/// printing each acknowledged base offset.
#[test]
#[ignore = "child process of acknowledged_batches_survive_kill_9"]
fn crash_child_writer() {
    let Ok(dir) = std::env::var("BROOK_CRASH_DIR") else {
        return;
    };
    let config = LogConfig {
        segment_bytes: 64 << 10,
        ..LogConfig::default()
    };
    let log = Log::open(&dir, config).unwrap();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for i in 0.. {
        let mut b = batch(i, 1 + i % 5);
        let info = log.append(&mut b).unwrap();
        writeln!(out, "{} {}", info.first_offset, i).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_batches_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BROOK_CRASH_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked: Vec<(i64, usize)> = Vec::new();
        while acked.len() < 300 + round * 100 {
            let line = lines.next().expect("writer stopped early").unwrap();
            let Some((o, i)) = line.split_once(' ') else {
                continue;
            };
            let (Ok(o), Ok(i)) = (o.parse(), i.parse()) else {
                continue;
            };
            acked.push((o, i));
        }
        // SIGKILL, no chance to close cleanly.
        child.kill().unwrap();
        child.wait().unwrap();

        let log = Log::open(
            dir.path(),
            LogConfig {
                segment_bytes: 64 << 10,
                ..LogConfig::default()
            },
        )
        .unwrap();
        assert!(!log.open_report().clean_shutdown);
        let start_of_round = acked[0].0;
        for (offset, seed) in &acked {
            let data = log.read(*offset, 1).unwrap();
            let (h, stored) = BatchIter::new(&data).next().unwrap().unwrap();
            assert_eq!(h.base_offset, *offset);
            let mut expected = batch(*seed, 1 + seed % 5);
            expected[..8].copy_from_slice(&offset.to_be_bytes());
            assert_eq!(stored, &expected[..], "round {round}, offset {offset}");
        }
        assert!(log.log_end_offset() > acked.last().unwrap().0);
        assert!(start_of_round >= 0);
        drop(log);
    }
}
