//! DeleteTopics (key 20): by name (v1-5) or by name or topic id (v6).

use brook_protocol::messages::delete_topics_response::DeletableTopicResult;
use brook_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, Uuid};

use crate::server::{Broker, ErrorCode};

pub fn handle(broker: &Broker, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let targets: Vec<(Option<String>, Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::ZERO))
            .collect()
    };
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let meta = match &name {
                Some(n) => broker.topics.get(n),
                None => broker.topics.by_id(&id.0),
            };
            let mut r = DeletableTopicResult {
                name: name.clone(),
                topic_id: id,
                ..DeletableTopicResult::default()
            };
            let Some(meta) = meta else {
                r.error_code = if name.is_none() {
                    ErrorCode::UnknownTopicId
                } else {
                    ErrorCode::UnknownTopicOrPartition
                }
                .code();
                return r;
            };
            r.name = Some(meta.name.clone());
            if version >= 6 {
                r.topic_id = Uuid(meta.id);
            }
            if let Err(e) = broker.topics.delete(&meta.name) {
                r.error_code = e.code.code();
                if version >= 5 {
                    r.error_message = Some(e.message);
                }
            }
            r
        })
        .collect();
    DeleteTopicsResponse {
        throttle_time_ms: 0,
        responses,
    }
}
