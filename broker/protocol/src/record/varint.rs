//! Variable-length integers as Kafka writes them.
//!
//! Records use zigzag varints (protobuf's `sint32`/`sint64`): the sign is moved to the
//! lowest bit, then the value is written seven bits at a time, least significant group
//! first, with the high bit of each byte saying "more follows". A 32-bit varint takes at
//! most 5 bytes and a 64-bit varlong at most 10; longer encodings, or a last byte carrying
//! bits beyond the type's width, are [`RecordError::BadVarint`]. The unsigned forms (no
//! zigzag) are what flexible protocol versions use for lengths and tagged fields.
//!
//! Readers take a cursor `&mut &[u8]` and advance it past what they consumed.

use super::RecordError;

/// Zigzag-encodes an `i32`: 0 → 0, -1 → 1, 1 → 2, -2 → 3, ...
#[inline]
pub fn zigzag_encode_32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Inverse of [`zigzag_encode_32`].
#[inline]
pub fn zigzag_decode_32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Zigzag-encodes an `i64`.
#[inline]
pub fn zigzag_encode_64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag_encode_64`].
#[inline]
pub fn zigzag_decode_64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads up to `max_bytes` 7-bit groups; the last allowed byte may not exceed `last_max`
/// (which also forbids a continuation bit on it).
#[inline]
fn read_groups(buf: &mut &[u8], max_bytes: usize, last_max: u8) -> Result<u64, RecordError> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let Some((&byte, rest)) = buf.split_first() else {
            return Err(RecordError::Truncated {
                needed: i + 1,
                available: i,
            });
        };
        *buf = rest;
        if i + 1 == max_bytes && byte > last_max {
            return Err(RecordError::BadVarint);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    // Unreachable for `last_max < 0x80`: the last byte either ends the varint or errors.
    Err(RecordError::BadVarint)
}

/// Reads an unsigned 32-bit varint (at most 5 bytes).
pub fn read_unsigned_varint(buf: &mut &[u8]) -> Result<u32, RecordError> {
    // 4 * 7 = 28 bits before the fifth byte, which may add only 4 more.
    let v = read_groups(buf, 5, 0x0f)?;
    u32::try_from(v).map_err(|_| RecordError::BadVarint)
}

/// Reads an unsigned 64-bit varlong (at most 10 bytes).
pub fn read_unsigned_varlong(buf: &mut &[u8]) -> Result<u64, RecordError> {
    // 9 * 7 = 63 bits before the tenth byte, which may add only 1 more.
    read_groups(buf, 10, 0x01)
}

/// Reads a zigzag 32-bit varint (at most 5 bytes).
pub fn read_varint(buf: &mut &[u8]) -> Result<i32, RecordError> {
    read_unsigned_varint(buf).map(zigzag_decode_32)
}

/// Reads a zigzag 64-bit varlong (at most 10 bytes).
pub fn read_varlong(buf: &mut &[u8]) -> Result<i64, RecordError> {
    read_unsigned_varlong(buf).map(zigzag_decode_64)
}

/// Appends an unsigned varlong (the unsigned varint writer shares it).
#[inline]
pub fn write_unsigned_varlong(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends an unsigned 32-bit varint.
#[inline]
pub fn write_unsigned_varint(out: &mut Vec<u8>, v: u32) {
    write_unsigned_varlong(out, u64::from(v));
}

/// Appends a zigzag 32-bit varint.
#[inline]
pub fn write_varint(out: &mut Vec<u8>, v: i32) {
    write_unsigned_varint(out, zigzag_encode_32(v));
}

/// Appends a zigzag 64-bit varlong.
#[inline]
pub fn write_varlong(out: &mut Vec<u8>, v: i64) {
    write_unsigned_varlong(out, zigzag_encode_64(v));
}

/// Encoded size of an unsigned varlong, 1..=10 bytes.
#[inline]
pub fn unsigned_varlong_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Encoded size of an unsigned varint, 1..=5 bytes.
#[inline]
pub fn unsigned_varint_len(v: u32) -> usize {
    unsigned_varlong_len(u64::from(v))
}

/// Encoded size of a zigzag varint, 1..=5 bytes.
#[inline]
pub fn varint_len(v: i32) -> usize {
    unsigned_varint_len(zigzag_encode_32(v))
}

/// Encoded size of a zigzag varlong, 1..=10 bytes.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    unsigned_varlong_len(zigzag_encode_64(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zigzag_vectors() {
        let cases: [(i32, u32); 8] = [
            (0, 0),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (2, 4),
            (300, 600),
            (i32::MAX, u32::MAX - 1),
            (i32::MIN, u32::MAX),
        ];
        for (signed, unsigned) in cases {
            assert_eq!(zigzag_encode_32(signed), unsigned, "{signed}");
            assert_eq!(zigzag_decode_32(unsigned), signed, "{unsigned}");
        }
        assert_eq!(zigzag_encode_64(i64::MIN), u64::MAX);
        assert_eq!(zigzag_encode_64(i64::MAX), u64::MAX - 1);
        assert_eq!(zigzag_decode_64(u64::MAX), i64::MIN);
    }

    #[test]
    fn varint_byte_vectors() {
        // (value, zigzag varint bytes); 300 zigzags to 600 = 0b100_1011000.
        let cases: [(i32, &[u8]); 9] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(out, bytes, "encoding {value}");
            assert_eq!(varint_len(value), bytes.len());
            let mut cursor = bytes;
            assert_eq!(read_varint(&mut cursor), Ok(value));
            assert!(cursor.is_empty());
        }
    }

    #[test]
    fn varlong_byte_vectors() {
        let mut out = Vec::new();
        write_varlong(&mut out, i64::MIN);
        assert_eq!(
            out,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        let mut cursor = &out[..];
        assert_eq!(read_varlong(&mut cursor), Ok(i64::MIN));
        let mut cursor: &[u8] = &[0xd8, 0x04];
        assert_eq!(read_varlong(&mut cursor), Ok(300));
    }

    #[test]
    fn rejects_overlong_and_overflowing() {
        // Six bytes for a varint.
        let mut c: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(read_varint(&mut c), Err(RecordError::BadVarint));
        // Five bytes whose last carries bits beyond 32.
        let mut c: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x1f];
        assert_eq!(read_varint(&mut c), Err(RecordError::BadVarint));
        // Eleven bytes for a varlong; ten bytes with bits beyond 64.
        let mut c: &[u8] = &[0x80; 11];
        assert_eq!(read_varlong(&mut c), Err(RecordError::BadVarint));
        let mut c: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(read_varlong(&mut c), Err(RecordError::BadVarint));
        // Non-minimal but in-range encodings are accepted, as Kafka does.
        let mut c: &[u8] = &[0x80, 0x00];
        assert_eq!(read_varint(&mut c), Ok(0));
    }

    #[test]
    fn truncated() {
        let mut c: &[u8] = &[];
        assert!(matches!(
            read_varint(&mut c),
            Err(RecordError::Truncated { .. })
        ));
        let mut c: &[u8] = &[0x80, 0x80];
        assert!(matches!(
            read_varlong(&mut c),
            Err(RecordError::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn varint_roundtrip(v in any::<i32>()) {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            let mut c = &out[..];
            prop_assert_eq!(read_varint(&mut c), Ok(v));
            prop_assert!(c.is_empty());
        }

        #[test]
        fn varlong_roundtrip(v in any::<i64>()) {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            prop_assert_eq!(out.len(), varlong_len(v));
            let mut c = &out[..];
            prop_assert_eq!(read_varlong(&mut c), Ok(v));
            prop_assert!(c.is_empty());
        }

        #[test]
        fn unsigned_varint_roundtrip(v in any::<u32>()) {
            let mut out = Vec::new();
            write_unsigned_varint(&mut out, v);
            prop_assert_eq!(out.len(), unsigned_varint_len(v));
            let mut c = &out[..];
            prop_assert_eq!(read_unsigned_varint(&mut c), Ok(v));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let mut c = &bytes[..];
            let _ = read_varint(&mut c);
            let mut c = &bytes[..];
            let _ = read_varlong(&mut c);
        }
    }
}
