//! Kafka request and response messages: typed values for every API Brook speaks, with
//! `encode(version, out)` and total `decode(buf, version)` functions.
//!
//! The types in [`generated`] come from Kafka's JSON message specs through
//! `cargo run -p xtask -- codegen` and are committed; do not edit them by hand. This module
//! adds what the specs do not say: which header version goes with which request, and the
//! API table that ApiVersions is derived from.

pub mod codec;
pub mod generated;
mod segmented;

pub use codec::{DecodeError, EncodeError, Uuid};
pub use generated::*;

/// One API with generated types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiInfo {
    pub api_key: i16,
    /// The API's name without `Request`/`Response`, e.g. `"Metadata"`.
    pub name: &'static str,
    pub min_version: i16,
    pub max_version: i16,
    /// The first request version that is flexible, if any.
    pub flexible_min: Option<i16>,
}

/// The API with key `api_key`, if it has generated types.
pub fn api_info(api_key: i16) -> Option<&'static ApiInfo> {
    APIS.iter().find(|a| a.api_key == api_key)
}

/// The API key of ControlledShutdown, whose v0 is the only user of request header v0.
const CONTROLLED_SHUTDOWN: i16 = 7;

/// The request header version for a request of `api_key` in `api_version`: 2 for flexible
/// versions, else 1 (0 only for ControlledShutdown v0). As in Kafka, a version above the
/// API's maximum still gets an answer, so a broker can read the header of a too-new
/// ApiVersions request and reply with UNSUPPORTED_VERSION. `None` for unknown APIs.
pub fn request_header_version(api_key: i16, api_version: i16) -> Option<i16> {
    if api_key == CONTROLLED_SHUTDOWN && api_version == 0 {
        return Some(0);
    }
    let api = api_info(api_key)?;
    Some(match api.flexible_min {
        Some(f) if api_version >= f => 2,
        _ => 1,
    })
}

/// The response header version for a response of `api_key` in `api_version`: 1 for
/// flexible versions, else 0. ApiVersions responses always use v0, so that a client can
/// read the error of a response to a version the broker does not support.
pub fn response_header_version(api_key: i16, api_version: i16) -> Option<i16> {
    let api = api_info(api_key)?;
    if api_key == ApiVersionsRequest::API_KEY {
        return Some(0);
    }
    Some(match api.flexible_min {
        Some(f) if api_version >= f => 1,
        _ => 0,
    })
}

/// Reads a request header from the front of `buf`, choosing its version from the API key
/// and version in its first four bytes.
pub fn decode_request_header(buf: &mut &[u8]) -> Result<RequestHeader, DecodeError> {
    let mut peek = *buf;
    let api_key = codec::get_i16(&mut peek)?;
    let api_version = codec::get_i16(&mut peek)?;
    let version =
        request_header_version(api_key, api_version).ok_or(DecodeError::UnknownApiKey(api_key))?;
    RequestHeader::decode(buf, version)
}

#[cfg(test)]
mod tests;
