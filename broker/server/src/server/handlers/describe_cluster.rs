//! DescribeCluster (key 60): the live brokers, the cluster id, the active controller.

use brook_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use brook_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};

use crate::server::{Broker, ErrorCode};

/// `endpointType` 1: brokers (the only kind this node serves).
const BROKERS: i8 = 1;

pub fn handle(broker: &Broker, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let mut r = DescribeClusterResponse {
        endpoint_type: req.endpoint_type,
        cluster_id: broker.config.cluster_id.clone(),
        controller_id: broker.live_controller_id(),
        cluster_authorized_operations: i32::MIN,
        ..DescribeClusterResponse::default()
    };
    if req.endpoint_type != BROKERS {
        r.error_code = ErrorCode::UnsupportedEndpointType.code();
        r.error_message = Some("only broker endpoints are served".into());
        return r;
    }
    r.brokers = broker
        .controller
        .view()
        .image()
        .live_brokers()
        .map(|b| DescribeClusterBroker {
            broker_id: b.id,
            host: b.host.clone(),
            port: i32::from(b.port),
            rack: b.rack.clone(),
        })
        .collect();
    r
}
