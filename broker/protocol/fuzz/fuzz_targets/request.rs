//! Fuzzes the request path of `brook_protocol::messages`, twice per input:
//!
//! * as a request frame body (request header, then request body): `decode_request_header`,
//!   then `decode_request` with the API key and version the header names;
//! * as a bare body: `decode_request` on the bytes after the first four, with the API key
//!   and version read from those four (big-endian, as in a header). Both are used as read,
//!   and also mapped onto `APIS` (a key not in the table picks an entry by index, a version
//!   outside the entry's range is wrapped into it) so every API at each of its versions is
//!   reachable.
//!
//! Errors must be the right ones (unknown key, unsupported version). Whatever decodes must
//! re-encode in the same version and decode back to an equal value, and the re-encoding
//! must encode to the same bytes again. The decoders skip unknown tagged fields, so the
//! bytes are only compared from the first re-encoding on.
//!
//! Run like `record_batch` (see `fuzz/README.md`); from `broker/protocol`:
//!
//!     python3 fuzz/seed_request.py fuzz/corpus/request   # optional seeds
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run request fuzz/corpus/request -- -max_total_time=300

#![no_main]

use brook_protocol::messages::{
    api_info, decode_request, decode_request_header, request_header_version, DecodeError,
    RequestHeader, APIS,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A frame body: header, then request body.
    let mut buf = data;
    if let Ok(header) = decode_request_header(&mut buf) {
        check_header(data, &header);
        check_body(header.request_api_key, header.request_api_version, buf);
    }

    // A bare body, key and version from the first four bytes.
    let Some((head, body)) = data.split_first_chunk::<4>() else {
        return;
    };
    let key = i16::from_be_bytes([head[0], head[1]]);
    let version = i16::from_be_bytes([head[2], head[3]]);
    check_body(key, version, body);
    let api = api_info(key).unwrap_or(&APIS[usize::from(key as u16) % APIS.len()]);
    let mapped = if (api.min_version..=api.max_version).contains(&version) {
        version
    } else {
        let span = (api.max_version - api.min_version) as u16 + 1;
        api.min_version + (version as u16 % span) as i16
    };
    if (api.api_key, mapped) != (key, version) {
        check_body(api.api_key, mapped, body);
    }
});

/// `header` was decoded from the front of `frame`: it must name the key and version of the
/// first four bytes and survive encode -> decode in its header version.
fn check_header(frame: &[u8], header: &RequestHeader) {
    assert_eq!(frame[0..2], header.request_api_key.to_be_bytes());
    assert_eq!(frame[2..4], header.request_api_version.to_be_bytes());
    let hv = request_header_version(header.request_api_key, header.request_api_version)
        .expect("a decoded header has a known API key");
    let mut out = Vec::new();
    header
        .encode(hv, &mut out)
        .unwrap_or_else(|e| panic!("decoded header {header:?} does not encode in v{hv}: {e}"));
    let mut buf = &out[..];
    let again = decode_request_header(&mut buf).expect("our header encoding must decode");
    assert!(
        buf.is_empty(),
        "header v{hv}: trailing bytes after our own encoding"
    );
    assert_eq!(&again, header, "header v{hv} roundtrip");
    let mut twice = Vec::new();
    again.encode(hv, &mut twice).expect("re-encode header");
    assert!(twice == out, "header v{hv}: encoding is not deterministic");
}

/// Decodes `body` as a request of `api_key` in `version`; if that works, the request must
/// survive encode -> decode unchanged.
fn check_body(api_key: i16, version: i16, body: &[u8]) {
    let supported = api_info(api_key).map(|a| (a.min_version..=a.max_version).contains(&version));
    let first = match decode_request(api_key, version, body) {
        Ok(first) => first,
        Err(DecodeError::UnknownApiKey(k)) => {
            assert_eq!(k, api_key);
            assert_eq!(supported, None, "API {api_key} is in the table");
            return;
        }
        Err(DecodeError::UnsupportedVersion { .. }) => {
            assert_eq!(
                supported,
                Some(false),
                "API {api_key} v{version} is supported"
            );
            return;
        }
        Err(_) => {
            assert_eq!(
                supported,
                Some(true),
                "API {api_key} v{version}: wrong error"
            );
            return;
        }
    };
    assert_eq!(supported, Some(true), "API {api_key} v{version} decoded");
    assert_eq!(first.api_key(), api_key);
    let mut out = Vec::new();
    first.encode(version, &mut out).unwrap_or_else(|e| {
        panic!("API {api_key} v{version}: decoded {first:?} does not re-encode: {e}")
    });
    let again = decode_request(api_key, version, &out).unwrap_or_else(|e| {
        panic!("API {api_key} v{version}: our encoding of {first:?} does not decode: {e}")
    });
    assert_eq!(again, first, "API {api_key} v{version} roundtrip");
    let mut twice = Vec::new();
    again
        .encode(version, &mut twice)
        .expect("a decoded value that encoded once encodes again");
    assert!(
        twice == out,
        "API {api_key} v{version}: encoding is not deterministic"
    );
}
