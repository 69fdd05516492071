//! The seam between the client and a broker (DESIGN.md, decision 6 "Seams").
//!
//! A [`Transport`] sends one typed request body at a chosen version and resolves to the
//! typed response body; it knows which versions of each API the broker speaks. A
//! [`Connector`] opens a transport to a broker's `host:port`. Everything above this module
//! (the [`Cluster`](crate::Cluster), the admin client, producers and consumers) is written
//! against these two traits only, so the same code runs over TCP ([`TcpTransport`]) and over
//! an in-process transport that hands requests straight to an embedded broker's handlers
//! (wired by the root crate: `brook-client` never depends on `brook-broker`).
//!
//! [`TcpTransport`]: crate::TcpTransport

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use brook_protocol::messages::*;

use crate::error::ClientError;

/// A boxed future borrowing the transport, as the dyn-compatible methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A connection to one broker that carries typed requests.
///
/// Implementations must allow many calls in flight at once (calls may be issued from many
/// tasks through an `Arc<dyn Transport>`), answer every call exactly once, and fail calls
/// (not hang) when the connection is lost.
pub trait Transport: Send + Sync + fmt::Debug {
    /// Sends `body` as version `version` of its API and resolves to the response body.
    fn call(
        &self,
        version: i16,
        body: RequestBody,
    ) -> BoxFuture<'_, Result<ResponseBody, ClientError>>;

    /// Sends `body` expecting no response (a Produce with `acks=0`). Resolves once the
    /// request has been handed to the connection.
    fn send(&self, version: i16, body: RequestBody) -> BoxFuture<'_, Result<(), ClientError>>;

    /// The API versions the broker advertised.
    fn api_versions(&self) -> &ApiVersions;

    /// The highest version of `api_key` both the broker and this client (up to `our_max`)
    /// speak, or `None` if there is none.
    fn version_for(&self, api_key: i16, our_max: i16) -> Option<i16> {
        self.api_versions().version_for(api_key, our_max)
    }

    /// Whether the connection is known to be unusable (calls would fail at once).
    fn is_closed(&self) -> bool;

    /// The broker's address, for messages.
    fn peer(&self) -> &str;
}

/// Opens transports to brokers.
pub trait Connector: Send + Sync + fmt::Debug {
    /// Opens a transport to the broker at `host:port`.
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, ClientError>>;
}

/// The version ranges of the APIs a broker advertised in ApiVersions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersions {
    /// `(api_key, min_version, max_version)`, as the broker sent them.
    pub ranges: Vec<(i16, i16, i16)>,
}

impl ApiVersions {
    /// From an ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> ApiVersions {
        ApiVersions {
            ranges: response
                .api_keys
                .iter()
                .map(|k| (k.api_key, k.min_version, k.max_version))
                .collect(),
        }
    }

    /// The broker's `(min, max)` for `api_key`.
    pub fn range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.ranges
            .iter()
            .find(|r| r.0 == api_key)
            .map(|r| (r.1, r.2))
    }

    /// The highest version of `api_key` in both the broker's range and this client's
    /// (the generated types' minimum up to `our_max`).
    pub fn version_for(&self, api_key: i16, our_max: i16) -> Option<i16> {
        let ours = api_info(api_key)?;
        let (min, max) = self.range(api_key)?;
        let v = max.min(our_max).min(ours.max_version);
        (v >= min.max(ours.min_version)).then_some(v)
    }
}

/// A request type with its response type, so calls can be typed end to end.
pub trait ApiRequest: Sized {
    /// The response type.
    type Response;
    /// The API key.
    const KEY: i16;
    /// The API's name, e.g. `"Metadata"`.
    const NAME: &'static str;
    /// Wraps the request in a [`RequestBody`].
    fn into_body(self) -> RequestBody;
    /// Unwraps the matching response, or gives the API key of the body that came instead.
    fn from_response(body: ResponseBody) -> Result<Self::Response, i16>;
}

macro_rules! api_requests {
    ($(($variant:ident, $req:ident, $resp:ident)),* $(,)?) => {$(
        impl ApiRequest for $req {
            type Response = $resp;
            const KEY: i16 = $req::API_KEY;
            const NAME: &'static str = stringify!($variant);
            fn into_body(self) -> RequestBody {
                RequestBody::$variant(self)
            }
            fn from_response(body: ResponseBody) -> Result<$resp, i16> {
                match body {
                    ResponseBody::$variant(r) => Ok(r),
                    other => Err(other.api_key()),
                }
            }
        }
    )*};
}

api_requests![
    (Produce, ProduceRequest, ProduceResponse),
    (Fetch, FetchRequest, FetchResponse),
    (ListOffsets, ListOffsetsRequest, ListOffsetsResponse),
    (Metadata, MetadataRequest, MetadataResponse),
    (OffsetCommit, OffsetCommitRequest, OffsetCommitResponse),
    (OffsetFetch, OffsetFetchRequest, OffsetFetchResponse),
    (
        FindCoordinator,
        FindCoordinatorRequest,
        FindCoordinatorResponse
    ),
    (JoinGroup, JoinGroupRequest, JoinGroupResponse),
    (Heartbeat, HeartbeatRequest, HeartbeatResponse),
    (LeaveGroup, LeaveGroupRequest, LeaveGroupResponse),
    (SyncGroup, SyncGroupRequest, SyncGroupResponse),
    (
        DescribeGroups,
        DescribeGroupsRequest,
        DescribeGroupsResponse
    ),
    (ListGroups, ListGroupsRequest, ListGroupsResponse),
    (SaslHandshake, SaslHandshakeRequest, SaslHandshakeResponse),
    (ApiVersions, ApiVersionsRequest, ApiVersionsResponse),
    (CreateTopics, CreateTopicsRequest, CreateTopicsResponse),
    (DeleteTopics, DeleteTopicsRequest, DeleteTopicsResponse),
    (DeleteRecords, DeleteRecordsRequest, DeleteRecordsResponse),
    (ElectLeaders, ElectLeadersRequest, ElectLeadersResponse),
    (
        InitProducerId,
        InitProducerIdRequest,
        InitProducerIdResponse
    ),
    (
        OffsetForLeaderEpoch,
        OffsetForLeaderEpochRequest,
        OffsetForLeaderEpochResponse
    ),
    (
        DescribeConfigs,
        DescribeConfigsRequest,
        DescribeConfigsResponse
    ),
    (AlterConfigs, AlterConfigsRequest, AlterConfigsResponse),
    (
        SaslAuthenticate,
        SaslAuthenticateRequest,
        SaslAuthenticateResponse
    ),
    (
        CreatePartitions,
        CreatePartitionsRequest,
        CreatePartitionsResponse
    ),
    (DeleteGroups, DeleteGroupsRequest, DeleteGroupsResponse),
    (
        IncrementalAlterConfigs,
        IncrementalAlterConfigsRequest,
        IncrementalAlterConfigsResponse
    ),
    (OffsetDelete, OffsetDeleteRequest, OffsetDeleteResponse),
    (
        DescribeCluster,
        DescribeClusterRequest,
        DescribeClusterResponse
    ),
];

/// Sends a typed request at the highest version both sides speak (up to `our_max`) and
/// returns the typed response with the version used.
pub async fn request<R: ApiRequest>(
    transport: &dyn Transport,
    our_max: i16,
    request: R,
) -> Result<(i16, R::Response), ClientError> {
    let version =
        transport
            .version_for(R::KEY, our_max)
            .ok_or(ClientError::UnsupportedVersion {
                api: R::NAME,
                api_key: R::KEY,
            })?;
    let response = request_at(transport, version, request).await?;
    Ok((version, response))
}

/// Sends a typed request at `version` and returns the typed response.
pub async fn request_at<R: ApiRequest>(
    transport: &dyn Transport,
    version: i16,
    request: R,
) -> Result<R::Response, ClientError> {
    let body = transport.call(version, request.into_body()).await?;
    R::from_response(body).map_err(|got| ClientError::UnexpectedResponse {
        expected: R::NAME,
        got,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_common_version() {
        let v = ApiVersions {
            ranges: vec![(3, 0, 12), (0, 3, 11), (1, 4, 100)],
        };
        assert_eq!(v.version_for(3, 9), Some(9));
        assert_eq!(v.version_for(3, 20), Some(12));
        assert_eq!(v.version_for(0, 2), None);
        // Our generated types cap the version too.
        assert_eq!(
            v.version_for(1, i16::MAX),
            Some(api_info(1).unwrap().max_version)
        );
        // An API the broker does not list.
        assert_eq!(v.version_for(19, 7), None);
    }
}
