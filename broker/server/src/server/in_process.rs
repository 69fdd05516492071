//! Requests from inside the process: an application that embeds the broker hands typed
//! requests straight to the handlers, with no socket and no framing (DESIGN.md, decision 6).
//! The root crate plugs [`InProcess`] into `brook-client`'s transport seam; this crate knows
//! nothing of the client.
//!
//! A request goes through the same checks and handlers as one from the network: versions
//! outside [`handlers::SUPPORTED`] are refused, `acks=0` produce gets no response, and
//! JoinGroup/SyncGroup wait for the other members as they do on a connection. Responses
//! are the handlers' encoded bodies decoded back into typed values, so what an in-process
//! caller sees is exactly what a TCP client would.

use std::sync::Arc;

use brook_protocol::messages::{decode_response, RequestBody, ResponseBody};

use super::handlers::{self, RequestContext};
use super::Broker;

/// Why an in-process request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InProcessError {
    #[error("API {api_key} version {version} is not served")]
    Unsupported { api_key: i16, version: i16 },
    #[error("the request failed: {0}")]
    Failed(String),
}

/// A caller inside the broker's process, as if it were one client connection.
#[derive(Debug, Clone)]
pub struct InProcess {
    broker: Arc<Broker>,
    client_id: String,
}

impl InProcess {
    /// A caller named `client_id` (as a connection's `client.id`, shown by
    /// DescribeGroups).
    pub fn new(broker: Arc<Broker>, client_id: impl Into<String>) -> InProcess {
        InProcess {
            broker,
            client_id: client_id.into(),
        }
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Answers one request at `version`; `Ok(None)` for `acks=0` produce, which has no
    /// response.
    pub async fn call(
        &self,
        version: i16,
        body: RequestBody,
    ) -> Result<Option<ResponseBody>, InProcessError> {
        let api_key = body.api_key();
        if !handlers::is_supported(api_key, version) {
            return Err(InProcessError::Unsupported { api_key, version });
        }
        if let RequestBody::Produce(p) = &body {
            if p.acks == 0 {
                handlers::produce::handle_no_ack(self.broker.clone(), body).await;
                return Ok(None);
            }
        }
        let ctx = RequestContext {
            version,
            client_id: self.client_id.clone(),
            client_host: "/in-process".into(),
        };
        let encoded = handlers::handle(self.broker.clone(), body, ctx)
            .await
            .map_err(InProcessError::Failed)?;
        decode_response(api_key, version, &encoded)
            .map(Some)
            .map_err(|e| InProcessError::Failed(format!("decoding our own response: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::BrokerConfig;
    use brook_protocol::messages::create_topics_request::CreatableTopic;
    use brook_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use brook_protocol::messages::{
        ApiVersionsRequest, CreateTopicsRequest, MetadataRequest, ProduceRequest,
    };
    use brook_protocol::record::{BatchBuilder, Compression};

    #[tokio::test]
    async fn requests_reach_the_handlers_without_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Arc::new(
            Broker::open(dir.path(), BrokerConfig::default(), ("127.0.0.1".into(), 9)).unwrap(),
        );
        let c = InProcess::new(broker.clone(), "embedded");
        let Some(ResponseBody::ApiVersions(v)) = c
            .call(3, RequestBody::ApiVersions(ApiVersionsRequest::default()))
            .await
            .unwrap()
        else {
            panic!("an ApiVersions response");
        };
        assert_eq!(v.api_keys.len(), handlers::SUPPORTED.len());
        let create = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "embedded".into(),
                num_partitions: 2,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 1000,
            ..Default::default()
        };
        let Some(ResponseBody::CreateTopics(r)) =
            c.call(7, RequestBody::CreateTopics(create)).await.unwrap()
        else {
            panic!("a CreateTopics response");
        };
        assert_eq!(r.topics[0].error_code, 0);
        let mut b = BatchBuilder::new(Compression::None, 1);
        b.append(1, Some(b"k"), Some(b"v"), &[]);
        let produce = |acks| ProduceRequest {
            acks,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "embedded".into(),
                partition_data: vec![PartitionProduceData {
                    index: 1,
                    records: Some(b.build(0).into()),
                }],
            }],
            ..Default::default()
        };
        assert_eq!(
            c.call(9, RequestBody::Produce(produce(0))).await.unwrap(),
            None,
            "acks=0 has no response"
        );
        let Some(ResponseBody::Produce(p)) =
            c.call(9, RequestBody::Produce(produce(1))).await.unwrap()
        else {
            panic!("a Produce response");
        };
        assert_eq!(p.responses[0].partition_responses[0].base_offset, 1);
        let all = MetadataRequest {
            topics: None,
            ..Default::default()
        };
        let Some(ResponseBody::Metadata(m)) = c.call(12, RequestBody::Metadata(all)).await.unwrap()
        else {
            panic!("a Metadata response");
        };
        assert!(m
            .topics
            .iter()
            .any(|t| t.name.as_deref() == Some("embedded")));
        assert_eq!(
            c.call(99, RequestBody::Metadata(MetadataRequest::default()))
                .await,
            Err(InProcessError::Unsupported {
                api_key: 3,
                version: 99
            })
        );
        broker.close().unwrap();
    }
}
