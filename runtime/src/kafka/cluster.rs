//! DescribeCluster: this node as the only broker and the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;

use super::Broker;

pub async fn describe(
    broker: &Broker,
    _header: &RequestHeader,
    _req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let (host, port) = broker.advertised.clone();
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.node_id))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(broker.node_id))
            .with_host(StrBytes::from_string(host))
            .with_port(port)])
}
