//! `brook log dump`: print the batches (and optionally records) of a segment file, like
//! Kafka's `kafka-dump-log.sh`. Every batch's CRC is checked and reported.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use brook_protocol::record::{verify_crc, BatchHeader, RecordBatch, BATCH_HEADER_LEN};

use super::record_timestamp;

/// Summary of a dumped segment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    pub batches: u64,
    pub records: u64,
    pub bad_crc: u64,
    /// Position and reason of the first unreadable byte, if the file does not end cleanly.
    pub invalid_tail: Option<(u64, String)>,
}

fn lossy(b: &Option<bytes::Bytes>) -> String {
    match b {
        None => "null".into(),
        Some(b) => format!("{:?}", String::from_utf8_lossy(b)),
    }
}

/// Writes one line per batch (and per record with `records`) of the segment at `path`.
pub fn dump_segment(path: &Path, records: bool, out: &mut dyn Write) -> io::Result<DumpSummary> {
    let mut file = File::open(path)?;
    let mut summary = DumpSummary::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut start = 0usize; // buf[start..] is unread
    let mut file_pos: u64 = 0; // file position of buf[start]
    let mut eof = false;
    loop {
        // Keep at least one whole batch in the buffer.
        let need = match BatchHeader::parse(&buf[start..]) {
            Ok(h) => h.total_len(),
            Err(_) => BATCH_HEADER_LEN,
        };
        if buf.len() - start < need && !eof {
            buf.drain(..start);
            start = 0;
            let mut chunk = vec![0u8; (need - buf.len()).max(1 << 20)];
            let n = file.read(&mut chunk)?;
            if n == 0 {
                eof = true;
            }
            buf.extend_from_slice(&chunk[..n]);
            continue;
        }
        if buf.len() == start {
            break;
        }
        let h = match BatchHeader::parse(&buf[start..]) {
            Ok(h) if h.total_len() <= buf.len() - start => h,
            Ok(h) => {
                let present = buf.len() - start;
                summary.invalid_tail = Some((
                    file_pos,
                    format!(
                        "torn batch: {} bytes declared, {present} present",
                        h.total_len()
                    ),
                ));
                break;
            }
            Err(e) => {
                summary.invalid_tail = Some((file_pos, e.to_string()));
                break;
            }
        };
        let bytes = &buf[start..start + h.total_len()];
        let crc_ok = verify_crc(bytes).is_ok();
        if !crc_ok {
            summary.bad_crc += 1;
        }
        summary.batches += 1;
        summary.records += h.records_count.max(0) as u64;
        writeln!(
            out,
            "baseOffset: {} lastOffset: {} count: {} position: {} size: {} compression: {} \
             baseTimestamp: {} maxTimestamp: {} producerId: {} producerEpoch: {} baseSequence: {} \
             isTransactional: {} isControl: {} crc: {} crcValid: {}",
            h.base_offset,
            h.last_offset(),
            h.records_count,
            file_pos,
            h.total_len(),
            h.compression()
                .map(|c| format!("{c:?}"))
                .unwrap_or_else(|e| e.to_string()),
            h.base_timestamp,
            h.max_timestamp,
            h.producer_id,
            h.producer_epoch,
            h.base_sequence,
            h.is_transactional(),
            h.is_control(),
            h.crc,
            crc_ok
        )?;
        if records {
            match RecordBatch::decode(bytes, 256 << 20) {
                Ok(batch) => {
                    for r in &batch.records {
                        writeln!(
                            out,
                            "| offset: {} timestamp: {} key: {} value: {} headers: {}",
                            h.base_offset + i64::from(r.offset_delta),
                            record_timestamp(&h, r),
                            lossy(&r.key),
                            lossy(&r.value),
                            r.headers.len()
                        )?;
                    }
                }
                Err(e) => writeln!(out, "| records unreadable: {e}")?,
            }
        }
        start += h.total_len();
        file_pos += h.total_len() as u64;
    }
    Ok(summary)
}
