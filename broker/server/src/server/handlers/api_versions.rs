//! ApiVersions (key 18): the versions this broker serves, from [`super::SUPPORTED`].

use brook_protocol::messages::api_versions_response::ApiVersion;
use brook_protocol::messages::ApiVersionsResponse;

use crate::server::ErrorCode;

pub fn handle() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::None.code(),
        api_keys: super::SUPPORTED
            .iter()
            .map(|&(api_key, min_version, max_version)| ApiVersion {
                api_key,
                min_version,
                max_version,
            })
            .collect(),
        throttle_time_ms: 0,
        finalized_features_epoch: -1,
        ..ApiVersionsResponse::default()
    }
}

/// The v0 answer to an ApiVersions request of a version the broker does not know.
pub fn unsupported() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        ..handle()
    }
}
