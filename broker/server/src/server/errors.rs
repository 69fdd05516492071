//! Kafka's error codes (the subset Brook answers with), stable on the wire.

/// A Kafka protocol error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i16)]
pub enum ErrorCode {
    None = 0,
    OffsetOutOfRange = 1,
    CorruptMessage = 2,
    UnknownTopicOrPartition = 3,
    LeaderNotAvailable = 5,
    NotLeaderOrFollower = 6,
    RequestTimedOut = 7,
    BrokerNotAvailable = 8,
    ReplicaNotAvailable = 9,
    MessageTooLarge = 10,
    OffsetMetadataTooLarge = 12,
    CoordinatorLoadInProgress = 14,
    CoordinatorNotAvailable = 15,
    NotCoordinator = 16,
    InvalidTopicException = 17,
    NotEnoughReplicas = 19,
    NotEnoughReplicasAfterAppend = 20,
    InvalidRequiredAcks = 21,
    IllegalGeneration = 22,
    InconsistentGroupProtocol = 23,
    InvalidGroupId = 24,
    UnknownMemberId = 25,
    InvalidSessionTimeout = 26,
    RebalanceInProgress = 27,
    UnsupportedVersion = 35,
    TopicAlreadyExists = 36,
    InvalidPartitions = 37,
    InvalidReplicationFactor = 38,
    InvalidReplicaAssignment = 39,
    InvalidConfig = 40,
    NotController = 41,
    InvalidRequest = 42,
    OutOfOrderSequenceNumber = 45,
    InvalidProducerEpoch = 47,
    KafkaStorageError = 56,
    FencedLeaderEpoch = 74,
    NonEmptyGroup = 68,
    GroupIdNotFound = 69,
    UnknownLeaderEpoch = 75,
    UnknownProducerId = 59,
    UnsupportedCompressionType = 76,
    MemberIdRequired = 79,
    PreferredLeaderNotAvailable = 80,
    GroupMaxSizeReached = 81,
    FencedInstanceId = 82,
    EligibleLeadersNotAvailable = 83,
    ElectionNotNeeded = 84,
    GroupSubscribedToTopic = 86,
    InvalidRecord = 87,
    UnknownTopicId = 100,
    InvalidUpdateVersion = 95,
    IneligibleReplica = 107,
    UnsupportedEndpointType = 115,
    UnknownServerError = -1,
}

impl ErrorCode {
    /// Every code, for [`ErrorCode::from_code`].
    const ALL: &'static [ErrorCode] = &[
        ErrorCode::None,
        ErrorCode::OffsetOutOfRange,
        ErrorCode::CorruptMessage,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::LeaderNotAvailable,
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::RequestTimedOut,
        ErrorCode::BrokerNotAvailable,
        ErrorCode::ReplicaNotAvailable,
        ErrorCode::MessageTooLarge,
        ErrorCode::OffsetMetadataTooLarge,
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotCoordinator,
        ErrorCode::InvalidTopicException,
        ErrorCode::NotEnoughReplicas,
        ErrorCode::NotEnoughReplicasAfterAppend,
        ErrorCode::InvalidRequiredAcks,
        ErrorCode::IllegalGeneration,
        ErrorCode::InconsistentGroupProtocol,
        ErrorCode::InvalidGroupId,
        ErrorCode::UnknownMemberId,
        ErrorCode::InvalidSessionTimeout,
        ErrorCode::RebalanceInProgress,
        ErrorCode::UnsupportedVersion,
        ErrorCode::TopicAlreadyExists,
        ErrorCode::InvalidPartitions,
        ErrorCode::InvalidReplicationFactor,
        ErrorCode::InvalidReplicaAssignment,
        ErrorCode::InvalidConfig,
        ErrorCode::NotController,
        ErrorCode::InvalidRequest,
        ErrorCode::OutOfOrderSequenceNumber,
        ErrorCode::InvalidProducerEpoch,
        ErrorCode::KafkaStorageError,
        ErrorCode::FencedLeaderEpoch,
        ErrorCode::NonEmptyGroup,
        ErrorCode::GroupIdNotFound,
        ErrorCode::UnknownLeaderEpoch,
        ErrorCode::UnknownProducerId,
        ErrorCode::UnsupportedCompressionType,
        ErrorCode::MemberIdRequired,
        ErrorCode::PreferredLeaderNotAvailable,
        ErrorCode::GroupMaxSizeReached,
        ErrorCode::FencedInstanceId,
        ErrorCode::EligibleLeadersNotAvailable,
        ErrorCode::ElectionNotNeeded,
        ErrorCode::GroupSubscribedToTopic,
        ErrorCode::InvalidRecord,
        ErrorCode::UnknownTopicId,
        ErrorCode::InvalidUpdateVersion,
        ErrorCode::IneligibleReplica,
        ErrorCode::UnsupportedEndpointType,
        ErrorCode::UnknownServerError,
    ];

    /// The variant of a wire code; codes Brook does not know are UNKNOWN_SERVER_ERROR.
    pub fn from_code(code: i16) -> ErrorCode {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.code() == code)
            .unwrap_or(ErrorCode::UnknownServerError)
    }

    pub fn code(self) -> i16 {
        self as i16
    }
}

impl From<&crate::log::LogError> for ErrorCode {
    fn from(e: &crate::log::LogError) -> ErrorCode {
        use crate::log::producer::ProducerError;
        use crate::log::LogError::*;
        use brook_protocol::record::RecordError;
        match e {
            InvalidBatch {
                source: RecordError::UnknownCompression(_),
                ..
            } => ErrorCode::UnsupportedCompressionType,
            InvalidBatch { .. } => ErrorCode::CorruptMessage,
            InvalidRecords { .. } | MissingKey { .. } | InvalidRecord { .. } => {
                ErrorCode::InvalidRecord
            }
            RecordTooLarge { .. } => ErrorCode::MessageTooLarge,
            OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            Corrupt { .. } | Io { .. } | Offline { .. } => ErrorCode::KafkaStorageError,
            InvalidTopicPartition(_) => ErrorCode::InvalidTopicException,
            Config(_) => ErrorCode::InvalidConfig,
            Producer(ProducerError::StaleEpoch { .. }) => ErrorCode::InvalidProducerEpoch,
            Producer(ProducerError::OutOfOrder { .. }) => ErrorCode::OutOfOrderSequenceNumber,
            Producer(ProducerError::UnknownProducer { .. }) => ErrorCode::UnknownProducerId,
        }
    }
}
