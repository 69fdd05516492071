//! The client's errors: [`ClientError`] for a call that failed as a whole, [`KafkaError`]
//! for an error code a broker answered with (also the per-topic / per-partition value in
//! admin results), and [`ErrorCode`], Kafka's numeric codes with their names.

use std::fmt;
use std::time::Duration;

use brook_protocol::messages::{DecodeError, EncodeError};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A TCP connection could not be opened.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// Opening a connection took longer than the connect timeout.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout { addr: String, after: Duration },
    /// The connection failed or closed while the request was queued or in flight.
    #[error("connection to {addr} lost: {reason}")]
    Disconnected { addr: String, reason: String },
    /// Any other I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A response (or a frame) that could not be decoded.
    #[error("cannot decode {api} response: {source}")]
    Decode {
        api: &'static str,
        #[source]
        source: DecodeError,
    },
    /// A request that could not be encoded in the chosen version.
    #[error("cannot encode request: {0}")]
    Encode(#[from] EncodeError),
    /// The peer broke the framing or correlation rules of the protocol.
    #[error("protocol violation from {addr}: {reason}")]
    Protocol { addr: String, reason: String },
    /// A response of another API than the request's.
    #[error("expected a {expected} response, got API key {got}")]
    UnexpectedResponse { expected: &'static str, got: i16 },
    /// The broker answered with an error code.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// No response within the request timeout.
    #[error("{api} request to {addr} timed out after {after:?}")]
    Timeout {
        api: &'static str,
        addr: String,
        after: Duration,
    },
    /// The broker supports no version of the API that this client speaks.
    #[error(
        "the broker does not support {api} (API key {api_key}) in any version this client speaks"
    )]
    UnsupportedVersion { api: &'static str, api_key: i16 },
    /// A topic absent from the cluster metadata.
    #[error("no such topic: {0}")]
    NoSuchTopic(String),
    /// A partition absent from the cluster metadata.
    #[error("no such partition: {topic}-{partition}")]
    NoSuchPartition { topic: String, partition: i32 },
    /// A partition without a live leader, or a node id absent from the metadata.
    #[error("no broker available: {0}")]
    NoBroker(String),
    /// A configuration value (bootstrap list, option) that is not valid; names the key.
    #[error("invalid configuration {key}: {reason}")]
    Config { key: &'static str, reason: String },
    /// The client (or transport) was closed.
    #[error("the client is closed")]
    Closed,
}

impl ClientError {
    /// Whether retrying the same call later may succeed (a lost connection, a timeout, or a
    /// retriable Kafka error code).
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::Disconnected { .. }
            | ClientError::Io(_)
            | ClientError::Timeout { .. }
            | ClientError::NoBroker(_) => true,
            ClientError::Kafka(e) => e.code.is_retriable(),
            _ => false,
        }
    }

    /// The Kafka error code, if this is an error a broker answered with.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Kafka(e) => Some(e.code),
            _ => None,
        }
    }
}

/// An error code a broker answered with, and its message if the response carried one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct KafkaError {
    pub code: ErrorCode,
    pub message: Option<String>,
}

impl KafkaError {
    pub fn new(code: ErrorCode, message: Option<String>) -> KafkaError {
        KafkaError { code, message }
    }

    /// `Ok(())` for code 0, else the error.
    pub fn check(code: i16, message: Option<&str>) -> Result<(), KafkaError> {
        if code == 0 {
            Ok(())
        } else {
            Err(KafkaError::new(ErrorCode(code), message.map(str::to_owned)))
        }
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        match &self.message {
            Some(m) if !m.is_empty() => write!(f, ": {m}"),
            _ => Ok(()),
        }
    }
}

/// A Kafka protocol error code. Displays as its Kafka name and number, e.g.
/// `UNKNOWN_TOPIC_OR_PARTITION (3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub i16);

macro_rules! error_codes {
    ($(($code:expr, $konst:ident, $retriable:expr)),* $(,)?) => {
        impl ErrorCode {
            $(pub const $konst: ErrorCode = ErrorCode($code);)*
        }
        /// `(code, Kafka name, retriable)` for every code the client knows, as in Kafka's
        /// `org.apache.kafka.common.protocol.Errors`.
        pub const ERROR_CODES: &[(i16, &str, bool)] = &[$(($code, stringify!($konst), $retriable)),*];
    };
}

error_codes![
    (-1, UNKNOWN_SERVER_ERROR, false),
    (0, NONE, false),
    (1, OFFSET_OUT_OF_RANGE, false),
    (2, CORRUPT_MESSAGE, true),
    (3, UNKNOWN_TOPIC_OR_PARTITION, true),
    (4, INVALID_FETCH_SIZE, false),
    (5, LEADER_NOT_AVAILABLE, true),
    (6, NOT_LEADER_OR_FOLLOWER, true),
    (7, REQUEST_TIMED_OUT, true),
    (8, BROKER_NOT_AVAILABLE, false),
    (9, REPLICA_NOT_AVAILABLE, true),
    (10, MESSAGE_TOO_LARGE, false),
    (11, STALE_CONTROLLER_EPOCH, false),
    (12, OFFSET_METADATA_TOO_LARGE, false),
    (13, NETWORK_EXCEPTION, true),
    (14, COORDINATOR_LOAD_IN_PROGRESS, true),
    (15, COORDINATOR_NOT_AVAILABLE, true),
    (16, NOT_COORDINATOR, true),
    (17, INVALID_TOPIC_EXCEPTION, false),
    (18, RECORD_LIST_TOO_LARGE, false),
    (19, NOT_ENOUGH_REPLICAS, true),
    (20, NOT_ENOUGH_REPLICAS_AFTER_APPEND, true),
    (21, INVALID_REQUIRED_ACKS, false),
    (22, ILLEGAL_GENERATION, false),
    (23, INCONSISTENT_GROUP_PROTOCOL, false),
    (24, INVALID_GROUP_ID, false),
    (25, UNKNOWN_MEMBER_ID, false),
    (26, INVALID_SESSION_TIMEOUT, false),
    (27, REBALANCE_IN_PROGRESS, false),
    (28, INVALID_COMMIT_OFFSET_SIZE, false),
    (29, TOPIC_AUTHORIZATION_FAILED, false),
    (30, GROUP_AUTHORIZATION_FAILED, false),
    (31, CLUSTER_AUTHORIZATION_FAILED, false),
    (32, INVALID_TIMESTAMP, false),
    (33, UNSUPPORTED_SASL_MECHANISM, false),
    (34, ILLEGAL_SASL_STATE, false),
    (35, UNSUPPORTED_VERSION, false),
    (36, TOPIC_ALREADY_EXISTS, false),
    (37, INVALID_PARTITIONS, false),
    (38, INVALID_REPLICATION_FACTOR, false),
    (39, INVALID_REPLICA_ASSIGNMENT, false),
    (40, INVALID_CONFIG, false),
    (41, NOT_CONTROLLER, true),
    (42, INVALID_REQUEST, false),
    (43, UNSUPPORTED_FOR_MESSAGE_FORMAT, false),
    (44, POLICY_VIOLATION, false),
    (45, OUT_OF_ORDER_SEQUENCE_NUMBER, false),
    (46, DUPLICATE_SEQUENCE_NUMBER, false),
    (47, INVALID_PRODUCER_EPOCH, false),
    (48, INVALID_TXN_STATE, false),
    (49, INVALID_PRODUCER_ID_MAPPING, false),
    (50, INVALID_TRANSACTION_TIMEOUT, false),
    (51, CONCURRENT_TRANSACTIONS, true),
    (52, TRANSACTION_COORDINATOR_FENCED, false),
    (53, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, false),
    (54, SECURITY_DISABLED, false),
    (55, OPERATION_NOT_ATTEMPTED, false),
    (56, KAFKA_STORAGE_ERROR, true),
    (57, LOG_DIR_NOT_FOUND, false),
    (58, SASL_AUTHENTICATION_FAILED, false),
    (59, UNKNOWN_PRODUCER_ID, false),
    (60, REASSIGNMENT_IN_PROGRESS, false),
    (61, DELEGATION_TOKEN_AUTH_DISABLED, false),
    (62, DELEGATION_TOKEN_NOT_FOUND, false),
    (63, DELEGATION_TOKEN_OWNER_MISMATCH, false),
    (64, DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, false),
    (65, DELEGATION_TOKEN_AUTHORIZATION_FAILED, false),
    (66, DELEGATION_TOKEN_EXPIRED, false),
    (67, INVALID_PRINCIPAL_TYPE, false),
    (68, NON_EMPTY_GROUP, false),
    (69, GROUP_ID_NOT_FOUND, false),
    (70, FETCH_SESSION_ID_NOT_FOUND, true),
    (71, INVALID_FETCH_SESSION_EPOCH, true),
    (72, LISTENER_NOT_FOUND, true),
    (73, TOPIC_DELETION_DISABLED, false),
    (74, FENCED_LEADER_EPOCH, true),
    (75, UNKNOWN_LEADER_EPOCH, true),
    (76, UNSUPPORTED_COMPRESSION_TYPE, false),
    (77, STALE_BROKER_EPOCH, false),
    (78, OFFSET_NOT_AVAILABLE, true),
    (79, MEMBER_ID_REQUIRED, false),
    (80, PREFERRED_LEADER_NOT_AVAILABLE, true),
    (81, GROUP_MAX_SIZE_REACHED, false),
    (82, FENCED_INSTANCE_ID, false),
    (83, ELIGIBLE_LEADERS_NOT_AVAILABLE, true),
    (84, ELECTION_NOT_NEEDED, true),
    (85, NO_REASSIGNMENT_IN_PROGRESS, false),
    (86, GROUP_SUBSCRIBED_TO_TOPIC, false),
    (87, INVALID_RECORD, false),
    (88, UNSTABLE_OFFSET_COMMIT, true),
    (89, THROTTLING_QUOTA_EXCEEDED, true),
    (90, PRODUCER_FENCED, false),
    (91, RESOURCE_NOT_FOUND, false),
    (92, DUPLICATE_RESOURCE, false),
    (93, UNACCEPTABLE_CREDENTIAL, false),
    (94, INCONSISTENT_VOTER_SET, false),
    (95, INVALID_UPDATE_VERSION, false),
    (96, FEATURE_UPDATE_FAILED, false),
    (97, PRINCIPAL_DESERIALIZATION_FAILURE, false),
    (98, SNAPSHOT_NOT_FOUND, false),
    (99, POSITION_OUT_OF_RANGE, false),
    (100, UNKNOWN_TOPIC_ID, true),
    (101, DUPLICATE_BROKER_REGISTRATION, false),
    (102, BROKER_ID_NOT_REGISTERED, false),
    (103, INCONSISTENT_TOPIC_ID, true),
    (104, INCONSISTENT_CLUSTER_ID, false),
    (105, TRANSACTIONAL_ID_NOT_FOUND, false),
    (106, FETCH_SESSION_TOPIC_ID_ERROR, true),
    (107, INELIGIBLE_REPLICA, false),
    (108, NEW_LEADER_ELECTED, false),
    (109, OFFSET_MOVED_TO_TIERED_STORAGE, false),
    (110, FENCED_MEMBER_EPOCH, false),
    (111, UNRELEASED_INSTANCE_ID, false),
    (112, UNSUPPORTED_ASSIGNOR, false),
    (113, STALE_MEMBER_EPOCH, false),
    (114, MISMATCHED_ENDPOINT_TYPE, false),
    (115, UNSUPPORTED_ENDPOINT_TYPE, false),
    (116, UNKNOWN_CONTROLLER_ID, false),
    (117, UNKNOWN_SUBSCRIPTION_ID, false),
    (118, TELEMETRY_TOO_LARGE, false),
    (119, INVALID_REGISTRATION, false),
    (120, TRANSACTION_ABORTABLE, false),
];

impl ErrorCode {
    fn entry(self) -> Option<&'static (i16, &'static str, bool)> {
        ERROR_CODES.iter().find(|e| e.0 == self.0)
    }

    /// Kafka's name for the code, e.g. `"NOT_LEADER_OR_FOLLOWER"`; `"UNKNOWN_ERROR_CODE"`
    /// for a code the client does not know.
    pub fn name(self) -> &'static str {
        self.entry().map_or("UNKNOWN_ERROR_CODE", |e| e.1)
    }

    /// Whether Kafka marks the error retriable (a later attempt may succeed).
    pub fn is_retriable(self) -> bool {
        self.entry().is_some_and(|e| e.2)
    }

    /// Whether the error means the client's cluster metadata is stale (leaders moved,
    /// topics created or deleted), so it should refresh before retrying.
    pub fn invalidates_metadata(self) -> bool {
        matches!(
            self,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                | ErrorCode::LEADER_NOT_AVAILABLE
                | ErrorCode::NOT_LEADER_OR_FOLLOWER
                | ErrorCode::REPLICA_NOT_AVAILABLE
                | ErrorCode::KAFKA_STORAGE_ERROR
                | ErrorCode::NOT_CONTROLLER
                | ErrorCode::FENCED_LEADER_EPOCH
                | ErrorCode::UNKNOWN_LEADER_EPOCH
                | ErrorCode::UNKNOWN_TOPIC_ID
                | ErrorCode::INCONSISTENT_TOPIC_ID
        )
    }

    /// Whether the error means the group coordinator moved or is not ready.
    pub fn invalidates_coordinator(self) -> bool {
        matches!(
            self,
            ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_retriability() {
        assert_eq!(ErrorCode(6).name(), "NOT_LEADER_OR_FOLLOWER");
        assert!(ErrorCode::NOT_LEADER_OR_FOLLOWER.is_retriable());
        assert!(ErrorCode::NOT_LEADER_OR_FOLLOWER.invalidates_metadata());
        assert!(!ErrorCode::TOPIC_ALREADY_EXISTS.is_retriable());
        assert_eq!(ErrorCode(-1).name(), "UNKNOWN_SERVER_ERROR");
        assert_eq!(ErrorCode(9999).name(), "UNKNOWN_ERROR_CODE");
        assert_eq!(ErrorCode(36).to_string(), "TOPIC_ALREADY_EXISTS (36)");
        let e = KafkaError::check(3, Some("no topic x")).unwrap_err();
        assert_eq!(e.to_string(), "UNKNOWN_TOPIC_OR_PARTITION (3): no topic x");
        assert!(KafkaError::check(0, None).is_ok());
        // Codes are unique and sorted.
        assert!(ERROR_CODES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
