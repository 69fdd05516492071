//! ElectLeaders (key 43), what `kafka-leader-election.sh` and `Admin.electLeaders` send: a
//! preferred election (type 0: the first replica leads again, if it is live and in sync)
//! or an unclean one (type 1: a partition without a leader gets a live replica, in sync or
//! not) for the named partitions, or for every partition when none are named. The
//! controller decides it as one metadata change; each partition gets its own error code
//! (ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE,
//! UNKNOWN_TOPIC_OR_PARTITION).

use std::collections::BTreeMap;

use brook_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use brook_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use crate::server::controller::image::{CommandResult, MetadataCommand};
use crate::server::{Broker, ErrorCode};

/// `ElectionType` 1.
const UNCLEAN: i8 = 1;

pub fn handle(broker: &Broker, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let mut response = ElectLeadersResponse::default();
    if !(0..=UNCLEAN).contains(&req.election_type) {
        response.error_code = ErrorCode::InvalidRequest.code();
        return response;
    }
    let partitions = req.topic_partitions.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect::<Vec<_>>()
    });
    let named = partitions.clone();
    let command = MetadataCommand::ElectLeaders {
        unclean: req.election_type == UNCLEAN,
        partitions,
    };
    let results = match broker.controller.propose_blocking(command) {
        Ok(CommandResult::Elections(results)) => results,
        Ok(other) => failed(named, format!("unexpected controller answer {other:?}")),
        Err(e) => failed(named, e.to_string()),
    };
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for (topic, partition_id, error_code, error_message) in results {
        by_topic.entry(topic).or_default().push(PartitionResult {
            partition_id,
            error_code,
            error_message,
        });
    }
    response.replica_election_results = by_topic
        .into_iter()
        .map(|(topic, partition_result)| ReplicaElectionResult {
            topic,
            partition_result,
        })
        .collect();
    response
}

/// Every named partition with REQUEST_TIMED_OUT (the change did not commit); nothing when
/// none were named.
fn failed(
    named: Option<Vec<(String, i32)>>,
    message: String,
) -> Vec<(String, i32, i16, Option<String>)> {
    named
        .unwrap_or_default()
        .into_iter()
        .map(|(t, p)| {
            (
                t,
                p,
                ErrorCode::RequestTimedOut.code(),
                Some(message.clone()),
            )
        })
        .collect()
}
