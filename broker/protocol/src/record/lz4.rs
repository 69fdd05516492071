//! An LZ4 frame decoder with an exact output limit.
//!
//! The frame format (magic, descriptor with its header checksum, size-prefixed blocks, end
//! mark, optional checksums) is parsed here and each block is handed to `lz4_flex`'s block
//! decoder, writing straight into the output, which also serves as the window for linked
//! blocks. Compared to a streaming decoder this allocates nothing beyond the output, never
//! writes past `max`, and rejects frames that end without their end mark. Dictionary ids
//! are not supported (Kafka never writes them); skippable frames are skipped.

use twox_hash::XxHash32;

use super::RecordError;

const FRAME_MAGIC: u32 = 0x184D_2204;
const SKIPPABLE_MAGIC_MASK: u32 = 0xFFFF_FFF0;
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
/// How far back a linked block may reference.
const WINDOW: usize = 64 * 1024;

const FLG_VERSION_MASK: u8 = 0xC0;
const FLG_VERSION_01: u8 = 0x40;
const FLG_BLOCK_INDEPENDENCE: u8 = 0x20;
const FLG_BLOCK_CHECKSUM: u8 = 0x10;
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_CONTENT_CHECKSUM: u8 = 0x04;
const FLG_RESERVED: u8 = 0x02;
const FLG_DICT_ID: u8 = 0x01;
const BD_RESERVED: u8 = 0x8F;
const BLOCK_UNCOMPRESSED: u32 = 0x8000_0000;

fn error(what: &str) -> RecordError {
    RecordError::Decompress(format!("lz4: {what}"))
}

fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], RecordError> {
    let Some((head, tail)) = rest.split_at_checked(n) else {
        return Err(error(&format!("truncated {what}")));
    };
    *rest = tail;
    Ok(head)
}

fn take_u8(rest: &mut &[u8], what: &str) -> Result<u8, RecordError> {
    let Some((&b, tail)) = rest.split_first() else {
        return Err(error(&format!("truncated {what}")));
    };
    *rest = tail;
    Ok(b)
}

fn take_u32(rest: &mut &[u8], what: &str) -> Result<u32, RecordError> {
    let Some((b, tail)) = rest.split_first_chunk::<4>() else {
        return Err(error(&format!("truncated {what}")));
    };
    *rest = tail;
    Ok(u32::from_le_bytes(*b))
}

fn take_u64(rest: &mut &[u8], what: &str) -> Result<u64, RecordError> {
    let Some((b, tail)) = rest.split_first_chunk::<8>() else {
        return Err(error(&format!("truncated {what}")));
    };
    *rest = tail;
    Ok(u64::from_le_bytes(*b))
}

/// Decodes one or more concatenated LZ4 frames, producing at most `max` bytes.
pub(crate) fn decompress(input: &[u8], max: usize) -> Result<Vec<u8>, RecordError> {
    let mut out = Output {
        buf: Vec::new(),
        filled: 0,
        max,
    };
    let mut rest = input;
    loop {
        decode_frame(&mut rest, &mut out)?;
        if rest.is_empty() {
            break;
        }
    }
    out.buf.truncate(out.filled);
    Ok(out.buf)
}

/// The output buffer: `buf[..filled]` is decoded data; `buf[filled..]` is zeroed spare
/// room kept between blocks so that each block does not re-zero its maximum size.
struct Output {
    buf: Vec<u8>,
    filled: usize,
    max: usize,
}

impl Output {
    fn room(&self) -> usize {
        self.max - self.filled
    }

    /// Makes `buf[filled..filled + n]` exist; `n` must not exceed `room()`.
    fn reserve(&mut self, n: usize) {
        let end = self.filled + n;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
    }
}

fn decode_frame(rest: &mut &[u8], out: &mut Output) -> Result<(), RecordError> {
    let magic = take_u32(rest, "frame magic")?;
    if magic & SKIPPABLE_MAGIC_MASK == SKIPPABLE_MAGIC {
        let len = take_u32(rest, "skippable frame length")?;
        take(rest, len as usize, "skippable frame")?;
        return Ok(());
    }
    if magic != FRAME_MAGIC {
        return Err(error("bad frame magic"));
    }

    let descriptor = *rest;
    let flg = take_u8(rest, "frame descriptor")?;
    let bd = take_u8(rest, "frame descriptor")?;
    if flg & FLG_VERSION_MASK != FLG_VERSION_01 {
        return Err(error("unsupported frame version"));
    }
    if flg & FLG_RESERVED != 0 || bd & BD_RESERVED != 0 {
        return Err(error("reserved descriptor bits set"));
    }
    if flg & FLG_DICT_ID != 0 {
        return Err(error("dictionary ids are not supported"));
    }
    let block_max = match (bd >> 4) & 0x07 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err(error("invalid block maximum size")),
    };
    let content_size = if flg & FLG_CONTENT_SIZE != 0 {
        Some(take_u64(rest, "content size")?)
    } else {
        None
    };
    let descriptor_len = descriptor.len() - rest.len();
    let hc = take_u8(rest, "header checksum")?;
    let expected_hc = (XxHash32::oneshot(0, &descriptor[..descriptor_len]) >> 8) as u8;
    if hc != expected_hc {
        return Err(error("header checksum mismatch"));
    }
    if let Some(size) = content_size {
        if size > out.room() as u64 {
            return Err(RecordError::TooLarge { limit: out.max });
        }
    }

    let frame_start = out.filled;
    let independent = flg & FLG_BLOCK_INDEPENDENCE != 0;
    loop {
        let block = take_u32(rest, "block size")?;
        if block == 0 {
            break; // end mark
        }
        let len = (block & !BLOCK_UNCOMPRESSED) as usize;
        if len > block_max {
            return Err(error("block larger than the frame's maximum block size"));
        }
        let data = take(rest, len, "block")?;
        if flg & FLG_BLOCK_CHECKSUM != 0 {
            let checksum = take_u32(rest, "block checksum")?;
            if XxHash32::oneshot(0, data) != checksum {
                return Err(error("block checksum mismatch"));
            }
        }
        if block & BLOCK_UNCOMPRESSED != 0 {
            if len > out.room() {
                return Err(RecordError::TooLarge { limit: out.max });
            }
            out.reserve(len);
            out.buf[out.filled..out.filled + len].copy_from_slice(data);
            out.filled += len;
            continue;
        }
        let room = block_max.min(out.room());
        out.reserve(room);
        let start = out.filled;
        let (before, after) = out.buf.split_at_mut(start);
        let spare = &mut after[..room];
        let written = if independent || start == frame_start {
            lz4_flex::block::decompress_into(data, spare)
        } else {
            let dict = &before[frame_start.max(start.saturating_sub(WINDOW))..];
            lz4_flex::block::decompress_into_with_dict(data, spare, dict)
        };
        match written {
            Ok(n) => out.filled += n,
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if room < block_max => {
                return Err(RecordError::TooLarge { limit: out.max });
            }
            Err(e) => return Err(error(&e.to_string())),
        }
    }
    if flg & FLG_CONTENT_CHECKSUM != 0 {
        let checksum = take_u32(rest, "content checksum")?;
        if XxHash32::oneshot(0, &out.buf[frame_start..out.filled]) != checksum {
            return Err(error("content checksum mismatch"));
        }
    }
    if let Some(size) = content_size {
        if (out.filled - frame_start) as u64 != size {
            return Err(error("content size mismatch"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    use std::io::Write;

    fn data() -> Vec<u8> {
        (0..300_000u32).map(|i| ((i / 7) % 253) as u8).collect()
    }

    fn encode(info: FrameInfo, data: &[u8]) -> Vec<u8> {
        let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn every_frame_option_decodes() {
        let data = data();
        for mode in [BlockMode::Independent, BlockMode::Linked] {
            for size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max4MB] {
                for checksums in [false, true] {
                    let info = FrameInfo::new()
                        .block_mode(mode)
                        .block_size(size)
                        .block_checksums(checksums)
                        .content_checksum(checksums)
                        .content_size(checksums.then_some(data.len() as u64));
                    let frame = encode(info, &data);
                    let what = format!("{mode:?} {size:?} {checksums}");
                    assert!(decompress(&frame, data.len()).unwrap() == data, "{what}");
                    assert_eq!(
                        decompress(&frame, data.len() - 1),
                        Err(RecordError::TooLarge {
                            limit: data.len() - 1
                        }),
                        "{what}"
                    );
                    // Two frames back to back.
                    let mut two = frame.clone();
                    two.extend_from_slice(&frame);
                    assert_eq!(
                        decompress(&two, 2 * data.len()).unwrap().len(),
                        2 * data.len()
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_damage() {
        let data = &data()[..70_000]; // two blocks
        let info = FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .content_checksum(true);
        let frame = encode(info, data);
        // Every truncation, including a missing end mark or content checksum.
        for cut in 0..frame.len() {
            assert!(decompress(&frame[..cut], 1 << 20).is_err(), "cut at {cut}");
        }
        // Header checksum and content checksum.
        let mut bad = frame.clone();
        bad[6] ^= 1;
        assert!(decompress(&bad, 1 << 20).is_err());
        let mut bad = frame.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(decompress(&bad, 1 << 20).is_err());
        // Trailing garbage after the frame.
        let mut bad = frame;
        bad.push(0);
        assert!(decompress(&bad, 1 << 20).is_err());
    }

    #[test]
    fn skips_skippable_frames() {
        let frame = encode(FrameInfo::new(), b"hello");
        let mut input = vec![0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
        input.extend_from_slice(&frame);
        assert_eq!(decompress(&input, 100).unwrap(), b"hello");
    }
}
