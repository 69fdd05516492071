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
    MessageTooLarge = 10,
    OffsetMetadataTooLarge = 12,
    CoordinatorLoadInProgress = 14,
    CoordinatorNotAvailable = 15,
    NotCoordinator = 16,
    InvalidTopicException = 17,
    NotEnoughReplicas = 19,
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
    InvalidRequest = 42,
    OutOfOrderSequenceNumber = 45,
    InvalidProducerEpoch = 47,
    KafkaStorageError = 56,
    NonEmptyGroup = 68,
    GroupIdNotFound = 69,
    UnknownLeaderEpoch = 75,
    UnknownProducerId = 59,
    UnsupportedCompressionType = 76,
    MemberIdRequired = 79,
    GroupMaxSizeReached = 81,
    FencedInstanceId = 82,
    GroupSubscribedToTopic = 86,
    InvalidRecord = 87,
    UnknownTopicId = 100,
    UnsupportedEndpointType = 115,
    UnknownServerError = -1,
}

impl ErrorCode {
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
