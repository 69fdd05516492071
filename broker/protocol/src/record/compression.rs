//! The four codecs Kafka compresses record batches with, each as one block over all the
//! records of a batch.
//!
//! - gzip: a standard gzip stream (concatenated members are accepted).
//! - snappy: Kafka's Java client writes the xerial snappy-java stream (magic
//!   `\x82SNAPPY\0`, version and compat int32s, then `[int32 length][raw snappy block]`
//!   chunks of at most 32 KiB of input each). We write that; we read it and, as some
//!   clients send it, a single raw snappy block.
//! - lz4: the standard LZ4 frame format (what Kafka uses from magic v1 on). We write
//!   independent 64 KiB blocks without checksums, like Kafka's `KafkaLZ4BlockOutputStream`.
//! - zstd: a standard zstd frame (level 3, Kafka's default), with its content size.
//!
//! Decompression never produces more than the caller's limit: gzip and zstd are read
//! through a limited reader, snappy's declared lengths are checked before anything is
//! allocated, and LZ4 frames are parsed here with blocks decoded straight into the limited
//! output. zstd's decoder also keeps a window buffer, so frames declaring a window larger
//! than `max(limit, 8 MiB)` are refused rather than decoded.

use std::io::{Read, Write};

use super::{Compression, RecordError};

/// Magic bytes opening a xerial snappy-java stream.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Length of the xerial header: magic, version int32, compatible-version int32.
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial chunk, snappy-java's default block size.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// Kafka's default zstd level.
const ZSTD_LEVEL: i32 = 3;
/// zstd windows up to this size (log2) are always accepted, so frames written by a
/// streaming compressor (whose window does not shrink to the input) at levels up to 19
/// still decode under a small limit.
const ZSTD_MIN_WINDOW_LOG: u32 = 23;

/// Compresses `data` with `compression`, appending the result to `out`.
/// [`Compression::None`] appends `data` as is.
pub fn compress(
    compression: Compression,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RecordError> {
    let io = |e: std::io::Error| RecordError::Compress(format!("{}: {e}", compression.name()));
    match compression {
        Compression::None => out.extend_from_slice(data),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            encoder.write_all(data).map_err(io)?;
            encoder.finish().map_err(io)?;
        }
        Compression::Snappy => xerial_compress(data, out)?,
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
            encoder.write_all(data).map_err(io)?;
            encoder.finish().map_err(|e| io(std::io::Error::other(e)))?;
        }
        Compression::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).map_err(io)?;
            encoder
                .set_pledged_src_size(Some(data.len() as u64))
                .map_err(io)?;
            encoder.include_contentsize(true).map_err(io)?;
            encoder.write_all(data).map_err(io)?;
            encoder.finish().map_err(io)?;
        }
    }
    Ok(())
}

/// Decompresses `data`, producing at most `max_uncompressed` bytes
/// ([`RecordError::TooLarge`] otherwise). [`Compression::None`] copies `data` under the
/// same limit.
pub fn decompress(
    compression: Compression,
    data: &[u8],
    max_uncompressed: usize,
) -> Result<Vec<u8>, RecordError> {
    match compression {
        Compression::None => {
            if data.len() > max_uncompressed {
                return Err(RecordError::TooLarge {
                    limit: max_uncompressed,
                });
            }
            Ok(data.to_vec())
        }
        Compression::Gzip => read_limited(
            Compression::Gzip,
            flate2::read::MultiGzDecoder::new(data),
            data.len(),
            max_uncompressed,
        ),
        Compression::Snappy => snappy_decompress(data, max_uncompressed),
        Compression::Lz4 => super::lz4::decompress(data, max_uncompressed),
        Compression::Zstd => {
            let err = |e: std::io::Error| RecordError::Decompress(format!("zstd: {e}"));
            let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(err)?;
            decoder
                .window_log_max(zstd_window_log_max(max_uncompressed))
                .map_err(err)?;
            read_limited(Compression::Zstd, decoder, data.len(), max_uncompressed)
        }
    }
}

/// log2 of the largest zstd window accepted under `max_uncompressed`.
fn zstd_window_log_max(max_uncompressed: usize) -> u32 {
    // ceil(log2(max)), at least the floor, at most zstd's own maximum on 64-bit (31).
    let needed = usize::BITS - max_uncompressed.saturating_sub(1).leading_zeros();
    needed.clamp(ZSTD_MIN_WINDOW_LOG, 31)
}

/// Reads `reader` to its end, failing once it yields more than `max` bytes.
fn read_limited<R: Read>(
    compression: Compression,
    reader: R,
    input_len: usize,
    max: usize,
) -> Result<Vec<u8>, RecordError> {
    // A guess at the output size saves regrowing; never above the limit.
    let mut out = Vec::with_capacity(input_len.saturating_mul(4).min(max));
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| RecordError::Decompress(format!("{}: {e}", compression.name())))?;
    if out.len() > max {
        return Err(RecordError::TooLarge { limit: max });
    }
    Ok(out)
}

fn snappy_error(e: snap::Error) -> RecordError {
    RecordError::Decompress(format!("snappy: {e}"))
}

fn snappy_decompress(data: &[u8], max: usize) -> Result<Vec<u8>, RecordError> {
    let mut decoder = snap::raw::Decoder::new();
    let mut out = Vec::new();
    if !data.starts_with(&XERIAL_MAGIC) {
        append_snappy_block(&mut decoder, data, &mut out, max)?;
        return Ok(out);
    }
    // Version and compatible version (both 1 in the wild) are not checked: the chunk
    // layout has never changed.
    let Some(mut rest) = data.get(XERIAL_HEADER_LEN..) else {
        return Err(RecordError::Decompress(
            "snappy: truncated xerial header".into(),
        ));
    };
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(RecordError::Decompress(
                "snappy: truncated xerial chunk length".into(),
            ));
        };
        let len = usize::try_from(i32::from_be_bytes(*len))
            .map_err(|_| RecordError::Decompress("snappy: negative xerial chunk length".into()))?;
        let Some((chunk, tail)) = tail.split_at_checked(len) else {
            return Err(RecordError::Decompress(
                "snappy: truncated xerial chunk".into(),
            ));
        };
        append_snappy_block(&mut decoder, chunk, &mut out, max)?;
        rest = tail;
    }
    Ok(out)
}

/// Decompresses one raw snappy block onto the end of `out`, checking its declared length
/// against what is left of `max` before allocating.
fn append_snappy_block(
    decoder: &mut snap::raw::Decoder,
    block: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> Result<(), RecordError> {
    let len = snap::raw::decompress_len(block).map_err(snappy_error)?;
    let start = out.len();
    if len > max.saturating_sub(start) {
        return Err(RecordError::TooLarge { limit: max });
    }
    out.resize(start + len, 0);
    let written = decoder
        .decompress(block, &mut out[start..])
        .map_err(snappy_error)?;
    if written != len {
        return Err(RecordError::Decompress(
            "snappy: block shorter than its declared length".into(),
        ));
    }
    Ok(())
}

fn xerial_compress(data: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
    let mut encoder = snap::raw::Encoder::new();
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes()); // version
    out.extend_from_slice(&1i32.to_be_bytes()); // compatible version
    for chunk in data.chunks(XERIAL_BLOCK_SIZE) {
        let len_at = out.len();
        let body_at = len_at + 4;
        out.resize(body_at + snap::raw::max_compress_len(chunk.len()), 0);
        let written = encoder
            .compress(chunk, &mut out[body_at..])
            .map_err(|e| RecordError::Compress(format!("snappy: {e}")))?;
        out.truncate(body_at + written);
        // A compressed 32 KiB chunk is far below i32::MAX.
        let written = i32::try_from(written).map_err(|_| RecordError::BatchTooLarge(written))?;
        out[len_at..body_at].copy_from_slice(&written.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        // Compressible, larger than one xerial chunk and one LZ4 block.
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_roundtrips() {
        let data = sample();
        for c in Compression::ALL {
            for input in [&data[..], b"", b"x"] {
                let mut out = Vec::new();
                compress(c, input, &mut out).unwrap();
                let back = decompress(c, &out, input.len()).unwrap();
                assert_eq!(back, input, "{c:?}");
            }
        }
    }

    #[test]
    fn compress_appends() {
        for c in Compression::ALL {
            let mut out = b"prefix".to_vec();
            compress(c, b"hello hello hello", &mut out).unwrap();
            assert!(out.starts_with(b"prefix"));
            assert_eq!(decompress(c, &out[6..], 100).unwrap(), b"hello hello hello");
        }
    }

    #[test]
    fn limit_is_enforced() {
        let data = sample();
        for c in Compression::ALL {
            let mut out = Vec::new();
            compress(c, &data, &mut out).unwrap();
            assert_eq!(
                decompress(c, &out, data.len() - 1),
                Err(RecordError::TooLarge {
                    limit: data.len() - 1
                }),
                "{c:?}"
            );
            assert_eq!(decompress(c, &out, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn decompression_bomb_is_stopped() {
        // 64 MiB of zeros compresses to a few KiB with every codec.
        let zeros = vec![0u8; 64 << 20];
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut out = Vec::new();
            compress(c, &zeros, &mut out).unwrap();
            assert!(out.len() < 4 << 20, "{c:?} {}", out.len());
            assert_eq!(
                decompress(c, &out, 1 << 20),
                Err(RecordError::TooLarge { limit: 1 << 20 })
            );
        }
    }

    #[test]
    fn snappy_accepts_a_raw_block() {
        let data = sample();
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, data.len()).unwrap(),
            data
        );
        assert_eq!(
            decompress(Compression::Snappy, &raw, 10),
            Err(RecordError::TooLarge { limit: 10 })
        );
    }

    #[test]
    fn snappy_writes_xerial_framing() {
        let mut out = Vec::new();
        compress(Compression::Snappy, &sample(), &mut out).unwrap();
        assert_eq!(&out[..8], &XERIAL_MAGIC);
        assert_eq!(&out[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // The first chunk holds exactly 32 KiB of input.
        let len = i32::from_be_bytes(out[16..20].try_into().unwrap()) as usize;
        let first = &out[20..20 + len];
        assert_eq!(snap::raw::decompress_len(first).unwrap(), XERIAL_BLOCK_SIZE);
    }

    #[test]
    fn lz4_frame_header_is_kafka_compatible() {
        let mut out = Vec::new();
        compress(Compression::Lz4, &sample(), &mut out).unwrap();
        assert_eq!(&out[..4], &[0x04, 0x22, 0x4d, 0x18]); // frame magic, little-endian
        let flg = out[4];
        assert_eq!(flg >> 6, 1, "version 01");
        assert_ne!(flg & 0x20, 0, "independent blocks");
        assert_eq!(out[5], 0x40, "64 KiB blocks");
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let data = sample();
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut out = Vec::new();
            compress(c, &data, &mut out).unwrap();
            for cut in [0, 1, 10, 17, out.len() / 2, out.len() - 1] {
                let r = decompress(c, &out[..cut], 1 << 22);
                // An empty stream may legitimately decode to nothing; a cut one never
                // yields the original.
                assert!(r.as_deref().ok() != Some(&data[..]), "{c:?} cut at {cut}");
            }
            let garbage: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 256) as u8).collect();
            assert!(decompress(c, &garbage, 1 << 20).is_err(), "{c:?}");
        }
        // xerial with a negative chunk length, and with a truncated chunk.
        let mut x = XERIAL_MAGIC.to_vec();
        x.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            decompress(Compression::Snappy, &x, 100),
            Err(RecordError::Decompress(_))
        ));
        let mut x = XERIAL_MAGIC.to_vec();
        x.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1]);
        assert!(matches!(
            decompress(Compression::Snappy, &x, 100),
            Err(RecordError::Decompress(_))
        ));
    }

    #[test]
    fn zstd_window_limit() {
        assert_eq!(zstd_window_log_max(0), ZSTD_MIN_WINDOW_LOG);
        assert_eq!(zstd_window_log_max(1 << 20), ZSTD_MIN_WINDOW_LOG);
        assert_eq!(zstd_window_log_max(1 << 26), 26);
        assert_eq!(zstd_window_log_max((1 << 26) + 1), 27);
        assert_eq!(zstd_window_log_max(usize::MAX), 31);
    }
}
