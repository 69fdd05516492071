//! `cargo bench -p brook-broker --bench log`: the partition log against the raw file system,
//! measured in the same run and the same directory (the machines are shared and noisy, so
//! ratios are what count).
//!
//! 1. raw sequential `write()` of N bytes, 16 KiB per call (the size of one batch, so one
//!    syscall per batch like the log) and, for reference, 1 MiB per call;
//! 2. Brook appends of the same N bytes as 1 KiB records in ~16 KiB uncompressed batches
//!    (CRC check, offset assignment, index upkeep; no fsync);
//! 3. raw sequential read of the file in 1 MiB reads into one buffer, then Brook reading the
//!    whole log back with 1 MiB `Log::read_into` calls reusing one buffer;
//! 4. reopening the log after a clean shutdown and after a crash (no close: the active
//!    segment is re-read and CRC-checked).
//!
//! Each throughput phase runs `ROUNDS` times interleaved and the best round counts.
//! `BROOK_BENCH_BYTES` sets N (default 1 GiB).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use brook_broker::log::{Log, LogConfig};
use brook_protocol::record::{BatchBuilder, Compression};

const ROUNDS: usize = 3;
const RECORD: usize = 1024;
const RECORDS_PER_BATCH: usize = 16;

fn mib_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn make_batches() -> Vec<Vec<u8>> {
    (0..64u8)
        .map(|seed| {
            let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
            for i in 0..RECORDS_PER_BATCH {
                let value: Vec<u8> = (0..RECORD)
                    .map(|j| seed.wrapping_add((i * 31 + j) as u8))
                    .collect();
                b.append(1_700_000_000_000 + i as i64, None, Some(&value), &[]);
            }
            b.build(0)
        })
        .collect()
}

fn raw_write(path: &Path, total: u64, chunk: &[u8]) -> Duration {
    let mut f = File::create(path).unwrap();
    let start = Instant::now();
    let mut written = 0u64;
    while written < total {
        f.write_all(chunk).unwrap();
        written += chunk.len() as u64;
    }
    let d = start.elapsed();
    drop(f);
    d
}

fn brook_append(dir: &Path, batches: &mut [Vec<u8>], count: usize) -> (Duration, Log) {
    let log = Log::open(dir, LogConfig::default()).unwrap();
    let start = Instant::now();
    for i in 0..count {
        let n = batches.len();
        log.append(&mut batches[i % n]).unwrap();
    }
    (start.elapsed(), log)
}

fn raw_read(path: &Path) -> (Duration, u64) {
    let mut f = File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let start = Instant::now();
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    (start.elapsed(), total)
}

fn brook_read(log: &Log) -> (Duration, u64) {
    // One reused buffer, like the raw read.
    let mut buf = Vec::new();
    let start = Instant::now();
    let mut total = 0u64;
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let range = log.read_into(offset, 1 << 20, end, &mut buf).unwrap();
        let data = &buf[range];
        total += data.len() as u64;
        // The next offset follows the last whole batch returned.
        let mut at = 0;
        let mut last = offset;
        while at < data.len() {
            let h = brook_protocol::record::BatchHeader::parse(&data[at..]).unwrap();
            last = h.last_offset();
            at += h.total_len();
        }
        offset = last + 1;
    }
    (start.elapsed(), total)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let total: u64 = std::env::var("BROOK_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("log-bench");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let mut batches = make_batches();
    let batch_len = batches[0].len();
    // Stay within one default (1 GiB) segment so no background roll flush overlaps a timing.
    let count = total as usize / batch_len;
    let bytes = (count * batch_len) as u64;
    println!("bytes: {bytes} ({count} batches of {batch_len} bytes, {RECORDS_PER_BATCH} x {RECORD} B records)");
    println!("dir: {}", base.display());

    let chunk16: Vec<u8> = batches[0].clone();
    let chunk1m: Vec<u8> = vec![7u8; 1 << 20];
    let (mut best_raw16, mut best_raw1m, mut best_append) =
        (Duration::MAX, Duration::MAX, Duration::MAX);
    let (mut best_raw_read, mut best_read) = (Duration::MAX, Duration::MAX);
    for round in 0..ROUNDS {
        let raw = base.join("raw.bin");
        best_raw16 = best_raw16.min(raw_write(&raw, bytes, &chunk16));
        let (d, n) = raw_read(&raw);
        assert_eq!(n, bytes);
        best_raw_read = best_raw_read.min(d);
        std::fs::remove_file(&raw).unwrap();
        best_raw1m = best_raw1m.min(raw_write(&raw, bytes, &chunk1m));
        std::fs::remove_file(&raw).unwrap();

        let dir = base.join(format!("log-{round}"));
        let (d, log) = brook_append(&dir, &mut batches, count);
        best_append = best_append.min(d);
        let (d, n) = brook_read(&log);
        assert_eq!(n, bytes);
        best_read = best_read.min(d);
        if round + 1 < ROUNDS {
            drop(log);
            std::fs::remove_dir_all(&dir).unwrap();
        } else {
            // Reopen timings on the last round's log.
            log.close().unwrap();
            drop(log);
            let start = Instant::now();
            let log = Log::open(&dir, LogConfig::default()).unwrap();
            let clean = start.elapsed();
            assert!(log.open_report().clean_shutdown);
            assert_eq!(log.log_end_offset() as usize, count * RECORDS_PER_BATCH);
            log.abandon(); // a crash: no close, no marker
            let start = Instant::now();
            let log = Log::open(&dir, LogConfig::default()).unwrap();
            let crash = start.elapsed();
            assert!(!log.open_report().clean_shutdown);
            assert_eq!(log.log_end_offset() as usize, count * RECORDS_PER_BATCH);
            println!("log_size_bytes: {}", log.size_bytes());
            println!("reopen_after_clean_shutdown_s: {:.4}", clean.as_secs_f64());
            println!("reopen_after_crash_s: {:.4}", crash.as_secs_f64());
            drop(log);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    println!(
        "raw_write_16k_mib_per_s: {:.0}",
        mib_per_s(bytes, best_raw16)
    );
    println!(
        "raw_write_1m_mib_per_s: {:.0}",
        mib_per_s(bytes, best_raw1m)
    );
    println!("append_mib_per_s: {:.0}", mib_per_s(bytes, best_append));
    println!("raw_read_mib_per_s: {:.0}", mib_per_s(bytes, best_raw_read));
    println!("read_mib_per_s: {:.0}", mib_per_s(bytes, best_read));
    println!(
        "append_vs_raw_write_1m: {:.3}",
        best_raw1m.as_secs_f64() / best_append.as_secs_f64()
    );
    println!(
        "append_vs_raw_write: {:.3}",
        best_raw16.as_secs_f64() / best_append.as_secs_f64()
    );
    println!(
        "read_vs_raw_read: {:.3}",
        best_raw_read.as_secs_f64() / best_read.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&base);
}
