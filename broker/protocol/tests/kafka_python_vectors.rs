//! Interop vectors written by kafka-python (an implementation independent of ours), see
//! `fixtures/gen_fixtures.py`: every batch must decode to exactly the records kafka-python
//! says it wrote, and our re-encoding must decode back to the same records.

use std::path::PathBuf;

use brook_protocol::record::compression::decompress;
use brook_protocol::record::{
    verify_crc, BatchHeader, BatchIter, Compression, RecordBatch, TimestampType, BATCH_HEADER_LEN,
};
use serde_json::Value;

const MAX_UNCOMPRESSED: usize = 1 << 20;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// A byte string from the JSON description: null, {"hex"} or {"repeat_hex", "times"}.
fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    if v.is_null() {
        return None;
    }
    if let Some(h) = v.get("hex") {
        return Some(hex(h.as_str().unwrap()));
    }
    let pattern = hex(v["repeat_hex"].as_str().unwrap());
    Some(pattern.repeat(v["times"].as_u64().unwrap() as usize))
}

fn int(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("missing {field}"))
}

fn check_header(h: &BatchHeader, want: &Value, what: &str) {
    assert_eq!(h.base_offset, int(want, "base_offset"), "{what}");
    assert_eq!(
        i64::from(h.batch_length),
        int(want, "batch_length"),
        "{what}"
    );
    assert_eq!(
        i64::from(h.partition_leader_epoch),
        int(want, "partition_leader_epoch"),
        "{what}"
    );
    assert_eq!(i64::from(h.magic), int(want, "magic"), "{what}");
    assert_eq!(i64::from(h.crc), int(want, "crc"), "{what}");
    assert_eq!(i64::from(h.attributes), int(want, "attributes"), "{what}");
    assert_eq!(
        i64::from(h.last_offset_delta),
        int(want, "last_offset_delta"),
        "{what}"
    );
    assert_eq!(h.base_timestamp, int(want, "base_timestamp"), "{what}");
    assert_eq!(h.max_timestamp, int(want, "max_timestamp"), "{what}");
    assert_eq!(h.producer_id, int(want, "producer_id"), "{what}");
    assert_eq!(
        i64::from(h.producer_epoch),
        int(want, "producer_epoch"),
        "{what}"
    );
    assert_eq!(
        i64::from(h.base_sequence),
        int(want, "base_sequence"),
        "{what}"
    );
    assert_eq!(
        i64::from(h.records_count),
        int(want, "records_count"),
        "{what}"
    );
    assert_eq!(
        h.compression().unwrap(),
        Compression::from_id(int(want, "compression") as i16).unwrap(),
        "{what}"
    );
    assert_eq!(
        h.is_transactional(),
        want["is_transactional"].as_bool().unwrap(),
        "{what}"
    );
    assert!(!h.is_control(), "{what}");
    assert!(!h.has_delete_horizon(), "{what}");
    assert_eq!(h.timestamp_type(), TimestampType::CreateTime, "{what}");
}

fn check_records(batch: &RecordBatch, want: &Value, what: &str) {
    let want = want["records"].as_array().unwrap();
    assert_eq!(batch.records.len(), want.len(), "{what}");
    let h = &batch.header;
    for (i, (rec, w)) in batch.records.iter().zip(want).enumerate() {
        let what = format!("{what} record {i}");
        assert_eq!(rec.offset(h.base_offset), int(w, "offset"), "{what}");
        assert_eq!(
            rec.timestamp(h.base_timestamp),
            int(w, "timestamp"),
            "{what}"
        );
        assert_eq!(rec.attributes, 0, "{what}");
        assert!(
            rec.key.as_deref() == bytes_of(&w["key"]).as_deref(),
            "{what} key"
        );
        assert!(
            rec.value.as_deref() == bytes_of(&w["value"]).as_deref(),
            "{what} value"
        );
        let headers = w["headers"].as_array().unwrap();
        assert_eq!(rec.headers.len(), headers.len(), "{what}");
        for (got, pair) in rec.headers.iter().zip(headers) {
            assert_eq!(got.key, pair[0].as_str().unwrap(), "{what}");
            assert!(
                got.value.as_deref() == bytes_of(&pair[1]).as_deref(),
                "{what} header {}",
                got.key
            );
        }
    }
}

#[test]
fn decodes_every_kafka_python_batch() {
    let expected = expected();
    let files = expected["files"].as_object().unwrap();
    assert_eq!(files.len(), 6, "five codecs plus raw snappy");
    for (file, batches) in files {
        let data = std::fs::read(fixtures().join(file)).unwrap();
        let batches = batches.as_array().unwrap();
        let found: Vec<_> = BatchIter::new(&data).collect::<Result<_, _>>().unwrap();
        assert_eq!(found.len(), batches.len(), "{file}");
        for (n, ((header, bytes), want)) in found.iter().zip(batches).enumerate() {
            let what = format!("{file} batch {n}");
            verify_crc(bytes).unwrap();
            check_header(header, want, &what);
            let batch = RecordBatch::decode(bytes, MAX_UNCOMPRESSED).unwrap();
            assert_eq!(&batch.header, header, "{what}");
            check_records(&batch, want, &what);
        }
    }
}

#[test]
fn our_encoding_decodes_back_equal() {
    let expected = expected();
    for (file, batches) in expected["files"].as_object().unwrap() {
        let data = std::fs::read(fixtures().join(file)).unwrap();
        for (n, (item, want)) in BatchIter::new(&data)
            .zip(batches.as_array().unwrap())
            .enumerate()
        {
            let what = format!("{file} batch {n}");
            let (_, theirs) = item.unwrap();
            let batch = RecordBatch::decode(theirs, MAX_UNCOMPRESSED).unwrap();
            let mut ours = Vec::new();
            batch.encode(&mut ours).unwrap();
            let again = RecordBatch::decode(&ours, MAX_UNCOMPRESSED).unwrap();
            assert_eq!(again.records, batch.records, "{what}");
            check_records(&again, want, &what);
            let h = again.header;
            assert_eq!(
                (h.base_offset, h.attributes, h.last_offset_delta),
                (
                    batch.header.base_offset,
                    batch.header.attributes,
                    batch.header.last_offset_delta
                ),
                "{what}"
            );
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (
                    batch.header.producer_id,
                    batch.header.producer_epoch,
                    batch.header.base_sequence
                ),
                "{what}"
            );

            // The records section is byte-for-byte what kafka-python wrote: identical for
            // uncompressed batches, identical after decompression otherwise.
            let codec = batch.header.compression().unwrap();
            let their_records =
                decompress(codec, &theirs[BATCH_HEADER_LEN..], MAX_UNCOMPRESSED).unwrap();
            let our_records =
                decompress(codec, &ours[BATCH_HEADER_LEN..], MAX_UNCOMPRESSED).unwrap();
            assert!(their_records == our_records, "{what}: records bytes differ");
            if codec == Compression::None {
                assert!(ours == theirs, "{what}: batch bytes differ");
            }
        }
    }
}
