//! Fuzzes record batch decoding: `BatchIter` over arbitrary bytes, `RecordBatch::decode`
//! on each batch it yields, on the whole input and on a copy whose length, magic and CRC
//! are fixed up (so mutations reach the decompressors and the record decoder instead of
//! dying at the CRC check); every successful decode must re-encode and decode back to
//! the same records; and `check_records` (the broker's append check) must agree with the
//! full decoder on every input.
//!
//! The toolchain here is stable, which cargo-fuzz refuses (it passes `-Z` flags to
//! rustc); `RUSTC_BOOTSTRAP=1` lets stable accept them. From `broker/protocol`:
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run record_batch fuzz/corpus/record_batch tests/fixtures \
//!         -- -max_total_time=300
//!
//! See `fuzz/README.md`.

#![no_main]

use brook_protocol::record::{
    check_records, compute_crc, BatchIter, RecordBatch, RecordError, ATTRIBUTES_OFFSET,
    BATCH_HEADER_LEN, CRC_OFFSET, LOG_OVERHEAD, MAGIC_OFFSET, MAGIC_V2,
};
use libfuzzer_sys::fuzz_target;

const MAX_UNCOMPRESSED: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    for item in BatchIter::new(data) {
        match item {
            Ok((header, batch)) => {
                assert_eq!(batch.len(), header.total_len());
                check(batch);
            }
            Err(_) => break,
        }
    }
    check(data);
    if data.len() >= BATCH_HEADER_LEN {
        if let Ok(len) = i32::try_from(data.len() - LOG_OVERHEAD) {
            let mut fixed = data.to_vec();
            fixed[8..12].copy_from_slice(&len.to_be_bytes());
            fixed[MAGIC_OFFSET] = MAGIC_V2 as u8;
            let crc = compute_crc(&fixed);
            fixed[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
            check(&fixed);
        }
    }
});

/// Decodes `bytes`; if that works, the batch must survive encode -> decode unchanged.
fn check(bytes: &[u8]) {
    let decoded = RecordBatch::decode(bytes, MAX_UNCOMPRESSED);
    match (&decoded, check_records(bytes, MAX_UNCOMPRESSED)) {
        (Ok(b), Ok(s)) => {
            assert_eq!(s.count, b.records.len());
            assert_eq!(
                s.first_unkeyed,
                b.records.iter().position(|r| r.key.is_none())
            );
        }
        // The decoder does not check offset deltas; the append check does.
        (Ok(b), Err(RecordError::OffsetDeltaMismatch { .. })) => assert!(b
            .records
            .iter()
            .enumerate()
            .any(|(i, r)| i64::from(r.offset_delta) != i as i64)),
        (Ok(_), Err(e)) => panic!("check_records refused a decodable batch: {e}"),
        (Err(e), Ok(_)) => panic!("check_records accepted an undecodable batch: {e}"),
        (Err(_), Err(_)) => {}
    }
    let Ok(batch) = decoded else {
        return;
    };
    let mut out = Vec::new();
    batch
        .encode(&mut out)
        .expect("a decoded batch must re-encode");
    let again = RecordBatch::decode(&out, MAX_UNCOMPRESSED).expect("our encoding must decode");
    assert_eq!(again.records, batch.records);
    let mut expected = batch.header;
    expected.batch_length = again.header.batch_length;
    expected.crc = again.header.crc;
    assert_eq!(again.header, expected);
    // Encoding is deterministic: the decoded copy encodes to the same bytes.
    let mut twice = Vec::new();
    again.encode(&mut twice).expect("re-encode");
    assert!(twice == out, "encoding is not deterministic");
}
