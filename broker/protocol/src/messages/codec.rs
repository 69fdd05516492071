//! The primitive encodings of Kafka's message format, used by the generated message code.
//!
//! Fixed-size integers are big-endian. "Flexible" versions (KIP-482) use compact forms:
//! strings, bytes and arrays carry an unsigned varint of length + 1 (0 meaning null), and
//! every struct ends with a tagged-fields section. Older versions use an `i16` length for
//! strings and an `i32` length for bytes and arrays (-1 meaning null).
//!
//! Every `get_*` function is total: it returns an error rather than panicking, checks a
//! length against the bytes left before slicing, and (for arrays) checks the element count
//! against the bytes left, and pre-allocates no more memory than the bytes left
//! ([`capacity_for`]).

use bytes::Bytes;

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before a value did.
    #[error("truncated input: needed {needed} bytes, {remaining} left")]
    Truncated { needed: usize, remaining: usize },
    /// An unsigned varint longer than 5 bytes or above `u32::MAX`.
    #[error("malformed varint")]
    BadVarint,
    /// A negative length other than the null marker -1.
    #[error("invalid length {0}")]
    InvalidLength(i64),
    /// An array count larger than the bytes left could possibly hold.
    #[error("array of {count} elements cannot fit in the {remaining} bytes left")]
    ArrayTooLong { count: u64, remaining: usize },
    /// A null string, bytes or array in a version where the field is not nullable.
    #[error("null value in a non-nullable field")]
    UnexpectedNull,
    /// A string that is not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A version outside the message's valid versions.
    #[error("{message} does not support version {version}")]
    UnsupportedVersion { message: &'static str, version: i16 },
    /// An API key without generated types.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A version outside the message's valid versions.
    #[error("{message} does not support version {version}")]
    UnsupportedVersion { message: &'static str, version: i16 },
    /// A field that is not ignorable holds a non-default value in a version without it.
    #[error("field {field} is not supported in version {version} and is not ignorable")]
    UnsupportedField { field: &'static str, version: i16 },
    /// A null value in a version where the field is not nullable.
    #[error("field {field} cannot be null in version {version}")]
    NullNotAllowed { field: &'static str, version: i16 },
    /// A string, bytes or array too long for its length prefix.
    #[error("{what} of length {len} is too long to encode")]
    TooLong { what: &'static str, len: usize },
}

/// A Kafka UUID (topic ids and the like): 16 raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, Kafka's `Uuid.ZERO_UUID` (no id).
    pub const ZERO: Uuid = Uuid([0; 16]);
}

// ---- encoding ----

#[inline]
pub fn put_bool(out: &mut Vec<u8>, v: bool) {
    out.push(u8::from(v));
}

#[inline]
pub fn put_i8(out: &mut Vec<u8>, v: i8) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub fn put_i16(out: &mut Vec<u8>, v: i16) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub fn put_uuid(out: &mut Vec<u8>, v: &Uuid) {
    out.extend_from_slice(&v.0);
}

/// An unsigned LEB128 varint, as Kafka's `ByteUtils.writeUnsignedVarint`.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The compact length prefix: `len + 1` as an unsigned varint.
fn put_compact_len(out: &mut Vec<u8>, len: usize, what: &'static str) -> Result<(), EncodeError> {
    match u32::try_from(len) {
        Ok(n) if n < u32::MAX => {
            put_uvarint(out, n + 1);
            Ok(())
        }
        _ => Err(EncodeError::TooLong { what, len }),
    }
}

fn put_i32_len(out: &mut Vec<u8>, len: usize, what: &'static str) -> Result<(), EncodeError> {
    let n = i32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })?;
    put_i32(out, n);
    Ok(())
}

pub fn put_str(out: &mut Vec<u8>, s: &str, flexible: bool) -> Result<(), EncodeError> {
    if flexible {
        put_compact_len(out, s.len(), "string")?;
    } else {
        let n = i16::try_from(s.len()).map_err(|_| EncodeError::TooLong {
            what: "string",
            len: s.len(),
        })?;
        put_i16(out, n);
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

pub fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>, flexible: bool) -> Result<(), EncodeError> {
    match s {
        Some(s) => put_str(out, s, flexible),
        None if flexible => {
            put_uvarint(out, 0);
            Ok(())
        }
        None => {
            put_i16(out, -1);
            Ok(())
        }
    }
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8], flexible: bool) -> Result<(), EncodeError> {
    if flexible {
        put_compact_len(out, b.len(), "bytes")?;
    } else {
        put_i32_len(out, b.len(), "bytes")?;
    }
    out.extend_from_slice(b);
    Ok(())
}

pub fn put_opt_bytes(
    out: &mut Vec<u8>,
    b: Option<&[u8]>,
    flexible: bool,
) -> Result<(), EncodeError> {
    match b {
        Some(b) => put_bytes(out, b, flexible),
        None => {
            put_null_array(out, flexible);
            Ok(())
        }
    }
}

pub fn put_array_len(out: &mut Vec<u8>, len: usize, flexible: bool) -> Result<(), EncodeError> {
    if flexible {
        put_compact_len(out, len, "array")
    } else {
        put_i32_len(out, len, "array")
    }
}

/// The null marker of an array (or bytes): `-1` as `i32`, or compact length 0.
pub fn put_null_array(out: &mut Vec<u8>, flexible: bool) {
    if flexible {
        put_uvarint(out, 0);
    } else {
        put_i32(out, -1);
    }
}

/// One entry of a tagged-fields section: tag, size, then the field's bytes.
pub fn put_tagged(out: &mut Vec<u8>, tag: u32, field: &[u8]) -> Result<(), EncodeError> {
    let size = u32::try_from(field.len()).map_err(|_| EncodeError::TooLong {
        what: "tagged field",
        len: field.len(),
    })?;
    put_uvarint(out, tag);
    put_uvarint(out, size);
    out.extend_from_slice(field);
    Ok(())
}

// ---- decoding ----

/// Splits `n` bytes off the front of `buf`.
pub fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if n > buf.len() {
        return Err(DecodeError::Truncated {
            needed: n,
            remaining: buf.len(),
        });
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn take_array<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let head = take(buf, N)?;
    let mut a = [0u8; N];
    a.copy_from_slice(head);
    Ok(a)
}

pub fn get_bool(buf: &mut &[u8]) -> Result<bool, DecodeError> {
    Ok(take_array::<1>(buf)?[0] != 0)
}

pub fn get_i8(buf: &mut &[u8]) -> Result<i8, DecodeError> {
    Ok(i8::from_be_bytes(take_array(buf)?))
}

pub fn get_i16(buf: &mut &[u8]) -> Result<i16, DecodeError> {
    Ok(i16::from_be_bytes(take_array(buf)?))
}

pub fn get_u16(buf: &mut &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(take_array(buf)?))
}

pub fn get_i32(buf: &mut &[u8]) -> Result<i32, DecodeError> {
    Ok(i32::from_be_bytes(take_array(buf)?))
}

pub fn get_u32(buf: &mut &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_be_bytes(take_array(buf)?))
}

pub fn get_i64(buf: &mut &[u8]) -> Result<i64, DecodeError> {
    Ok(i64::from_be_bytes(take_array(buf)?))
}

pub fn get_f64(buf: &mut &[u8]) -> Result<f64, DecodeError> {
    Ok(f64::from_be_bytes(take_array(buf)?))
}

pub fn get_uuid(buf: &mut &[u8]) -> Result<Uuid, DecodeError> {
    Ok(Uuid(take_array(buf)?))
}

/// An unsigned varint of at most 5 bytes that fits in a `u32`.
pub fn get_uvarint(buf: &mut &[u8]) -> Result<u32, DecodeError> {
    let mut v: u32 = 0;
    for i in 0..5 {
        let b = take_array::<1>(buf)?[0];
        if i == 4 && b > 0x0f {
            return Err(DecodeError::BadVarint);
        }
        v |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError::BadVarint)
}

/// A length prefix: `None` for null, else a length not yet checked against the input.
fn get_len(buf: &mut &[u8], flexible: bool, wide: bool) -> Result<Option<usize>, DecodeError> {
    if flexible {
        match get_uvarint(buf)? {
            0 => Ok(None),
            n => Ok(Some(n as usize - 1)),
        }
    } else {
        let n = if wide {
            i64::from(get_i32(buf)?)
        } else {
            i64::from(get_i16(buf)?)
        };
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError::InvalidLength(n)),
            n => usize::try_from(n)
                .map(Some)
                .map_err(|_| DecodeError::InvalidLength(n)),
        }
    }
}

fn utf8(b: &[u8]) -> Result<String, DecodeError> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| DecodeError::InvalidUtf8)
}

pub fn get_opt_str(buf: &mut &[u8], flexible: bool) -> Result<Option<String>, DecodeError> {
    match get_len(buf, flexible, false)? {
        None => Ok(None),
        Some(n) => utf8(take(buf, n)?).map(Some),
    }
}

pub fn get_str(buf: &mut &[u8], flexible: bool) -> Result<String, DecodeError> {
    get_opt_str(buf, flexible)?.ok_or(DecodeError::UnexpectedNull)
}

pub fn get_opt_bytes(buf: &mut &[u8], flexible: bool) -> Result<Option<Bytes>, DecodeError> {
    match get_len(buf, flexible, true)? {
        None => Ok(None),
        Some(n) => Ok(Some(Bytes::copy_from_slice(take(buf, n)?))),
    }
}

pub fn get_bytes(buf: &mut &[u8], flexible: bool) -> Result<Bytes, DecodeError> {
    get_opt_bytes(buf, flexible)?.ok_or(DecodeError::UnexpectedNull)
}

/// An array count, `None` for null. Errors unless `count * min_elem_size` bytes are left,
/// so a caller may `Vec::with_capacity(count)` without trusting the wire.
pub fn get_opt_array_len(
    buf: &mut &[u8],
    flexible: bool,
    min_elem_size: usize,
) -> Result<Option<usize>, DecodeError> {
    match get_len(buf, flexible, true)? {
        None => Ok(None),
        Some(n) => {
            let need = n.checked_mul(min_elem_size.max(1));
            if need.is_none_or(|need| need > buf.len()) {
                return Err(DecodeError::ArrayTooLong {
                    count: n as u64,
                    remaining: buf.len(),
                });
            }
            Ok(Some(n))
        }
    }
}

pub fn get_array_len(
    buf: &mut &[u8],
    flexible: bool,
    min_elem_size: usize,
) -> Result<usize, DecodeError> {
    get_opt_array_len(buf, flexible, min_elem_size)?.ok_or(DecodeError::UnexpectedNull)
}

/// How many `T`s to pre-allocate for an array of `count` elements (already checked against
/// the input) when `remaining` bytes are left: never more memory than the bytes left, so a
/// hostile count cannot make the decoder allocate more than its input. The vector still
/// grows as elements actually decode.
#[inline]
pub fn capacity_for<T>(count: usize, remaining: usize) -> usize {
    count.min(remaining / std::mem::size_of::<T>().max(1))
}

/// Reads and drops a whole tagged-fields section.
pub fn skip_tagged_fields(buf: &mut &[u8]) -> Result<(), DecodeError> {
    let n = get_uvarint(buf)?;
    for _ in 0..n {
        let _tag = get_uvarint(buf)?;
        let size = get_uvarint(buf)? as usize;
        take(buf, size)?;
    }
    Ok(())
}

// ---- test values ----

/// A well-mixed 64-bit value from `seed` and `salt` (splitmix64's finalizer).
#[cfg(test)]
pub(crate) fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
pub(crate) fn sample_string(seed: u64) -> String {
    let len = (seed % 7) as usize;
    (0..len)
        .map(|i| char::from(b'a' + ((seed >> (i * 5)) % 26) as u8))
        .collect()
}

#[cfg(test)]
pub(crate) fn sample_bytes(seed: u64) -> Bytes {
    let len = (seed % 9) as usize;
    Bytes::from(seed.to_le_bytes()[..len.min(8)].to_vec())
}

#[cfg(test)]
pub(crate) fn sample_uuid(seed: u64) -> Uuid {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&seed.to_be_bytes());
    b[8..].copy_from_slice(&mix(seed, 1).to_be_bytes());
    Uuid(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_round_trip_and_bounds() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            let mut buf = &out[..];
            assert_eq!(get_uvarint(&mut buf), Ok(v));
            assert!(buf.is_empty());
        }
        let mut five = &[0xff, 0xff, 0xff, 0xff, 0x10][..];
        assert_eq!(get_uvarint(&mut five), Err(DecodeError::BadVarint));
        let mut six = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00][..];
        assert_eq!(get_uvarint(&mut six), Err(DecodeError::BadVarint));
        let mut short = &[0x80][..];
        assert!(matches!(
            get_uvarint(&mut short),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn strings_and_nulls() {
        let mut out = Vec::new();
        put_opt_str(&mut out, None, false).unwrap();
        put_opt_str(&mut out, None, true).unwrap();
        put_str(&mut out, "ab", false).unwrap();
        put_str(&mut out, "ab", true).unwrap();
        assert_eq!(
            out,
            [0xff, 0xff, 0x00, 0x00, 0x02, b'a', b'b', 0x03, b'a', b'b']
        );
        let mut buf = &out[..];
        assert_eq!(get_opt_str(&mut buf, false), Ok(None));
        assert_eq!(get_str(&mut buf, true), Err(DecodeError::UnexpectedNull));
        assert_eq!(get_str(&mut buf, false).as_deref(), Ok("ab"));
        assert_eq!(get_str(&mut buf, true).as_deref(), Ok("ab"));
        assert!(buf.is_empty());
        let mut neg = &[0xff, 0xfe][..];
        assert_eq!(
            get_opt_str(&mut neg, false),
            Err(DecodeError::InvalidLength(-2))
        );
        let mut long = &[0x00, 0x05, b'a'][..];
        assert!(matches!(
            get_str(&mut long, false),
            Err(DecodeError::Truncated { .. })
        ));
        let mut bad = &[0x00, 0x01, 0xff][..];
        assert_eq!(get_str(&mut bad, false), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn preallocation_never_exceeds_the_input() {
        assert_eq!(capacity_for::<u8>(10, 100), 10);
        assert_eq!(capacity_for::<u64>(10, 40), 5);
        assert_eq!(capacity_for::<[u8; 100]>(1000, 1000), 10);
        assert_eq!(capacity_for::<()>(7, 3), 3);
    }

    #[test]
    fn array_counts_are_checked_against_the_input() {
        let mut buf = &[0x7f, 0xff, 0xff, 0xff][..];
        assert!(matches!(
            get_array_len(&mut buf, false, 1),
            Err(DecodeError::ArrayTooLong { .. })
        ));
        let mut buf = &[0x00, 0x00, 0x00, 0x02, 0, 0, 0, 1][..];
        assert!(matches!(
            get_array_len(&mut buf, false, 4),
            Err(DecodeError::ArrayTooLong { .. })
        ));
        let mut buf = &[0x03, 1, 2][..];
        assert_eq!(get_array_len(&mut buf, true, 1), Ok(2));
    }
}
