//! Fuzzes the codecs directly: the first byte picks gzip, snappy, lz4 or zstd, the rest is
//! fed to `compression::decompress` with a 1 MiB limit; whatever decodes must compress and
//! decompress back to itself. Run like `record_batch` (see `fuzz/README.md`).

#![no_main]

use brook_protocol::record::compression::{compress, decompress};
use brook_protocol::record::{Compression, RecordError};
use libfuzzer_sys::fuzz_target;

const MAX_UNCOMPRESSED: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let codec = Compression::ALL[1 + usize::from(selector) % 4];
    match decompress(codec, input, MAX_UNCOMPRESSED) {
        Ok(plain) => {
            assert!(plain.len() <= MAX_UNCOMPRESSED);
            let mut packed = Vec::new();
            compress(codec, &plain, &mut packed).expect("compress");
            let back = decompress(codec, &packed, MAX_UNCOMPRESSED).expect("our own output");
            assert!(back == plain, "{codec:?} roundtrip");
        }
        Err(RecordError::TooLarge { limit }) => assert_eq!(limit, MAX_UNCOMPRESSED),
        Err(_) => {}
    }
});
