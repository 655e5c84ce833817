//! The connections a client holds to a cluster, and the Metadata requests that map it.
//!
//! A `Cluster` keeps one *control* connection (opened to the first bootstrap server that
//! answers; used for Metadata and admin requests) and at most one connection per node id
//! (used for Produce and Fetch to partition leaders). A connection that broke is replaced
//! on next use; nothing is retried here, callers decide from `ClientError::is_retriable`.

use std::collections::HashMap;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, TopicName};
use kafka_protocol::protocol::{Request, StrBytes};

use super::connection::{Connection, ConnectionConfig};
use super::error::ClientError;
use super::metadata::{BrokerInfo, Metadata};

/// The most bootstrap addresses accepted in one bootstrap string.
const BOOTSTRAP_ADDRS_MAX: usize = 64;

/// Splits `HOST:PORT[,HOST:PORT...]` into addresses, rejecting anything else.
pub(crate) fn parse_bootstrap(bootstrap: &str) -> Result<Vec<String>, ClientError> {
    let invalid = || ClientError::InvalidBootstrap {
        bootstrap: bootstrap.to_owned(),
    };
    let addrs: Vec<String> = bootstrap
        .split(',')
        .map(str::trim)
        .filter(|addr| !addr.is_empty())
        .map(str::to_owned)
        .collect();
    if addrs.is_empty() || addrs.len() > BOOTSTRAP_ADDRS_MAX {
        return Err(invalid());
    }
    for addr in &addrs {
        let (host, port) = addr.rsplit_once(':').ok_or_else(invalid)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(invalid());
        }
    }
    Ok(addrs)
}

/// The connections of one client to one cluster.
#[derive(Debug)]
pub(crate) struct Cluster {
    bootstrap: String,
    addrs: Vec<String>,
    config: ConnectionConfig,
    control: Option<Connection>,
    nodes: HashMap<i32, Connection>,
    brokers: Vec<BrokerInfo>,
}

impl Cluster {
    /// Connects to the first bootstrap server that answers.
    pub(crate) async fn connect(
        bootstrap: &str,
        config: ConnectionConfig,
    ) -> Result<Self, ClientError> {
        let addrs = parse_bootstrap(bootstrap)?;
        let mut cluster = Self {
            bootstrap: bootstrap.to_owned(),
            addrs,
            config,
            control: None,
            nodes: HashMap::new(),
            brokers: Vec::new(),
        };
        cluster.control().await?;
        Ok(cluster)
    }

    /// The control connection, reopened if it broke.
    pub(crate) async fn control(&mut self) -> Result<&mut Connection, ClientError> {
        let healthy = self.control.as_ref().is_some_and(|c| !c.is_broken());
        if !healthy {
            self.control = None;
            self.control = Some(self.open_any().await?);
        }
        self.control
            .as_mut()
            .ok_or_else(|| unreachable_error(&self.bootstrap))
    }

    /// The connection to node `node_id`, opened (or reopened) from the last metadata.
    pub(crate) async fn node(&mut self, node_id: i32) -> Result<&mut Connection, ClientError> {
        let healthy = self.nodes.get(&node_id).is_some_and(|c| !c.is_broken());
        if !healthy {
            self.nodes.remove(&node_id);
            let addr = self
                .brokers
                .iter()
                .find(|b| b.node_id == node_id)
                .map(BrokerInfo::addr)
                .ok_or(ClientError::UnknownNode { node_id })?;
            let connection = Connection::connect(&addr, &self.config).await?;
            self.nodes.insert(node_id, connection);
        }
        self.nodes
            .get_mut(&node_id)
            .ok_or(ClientError::UnknownNode { node_id })
    }

    /// Sends `request` on the control connection.
    pub(crate) async fn send_control<R: Request>(
        &mut self,
        request: &R,
    ) -> Result<(R::Response, i16), ClientError> {
        self.control().await?.send(request).await
    }

    /// The negotiated version of `api` on the control connection.
    pub(crate) async fn control_version(&mut self, api: ApiKey) -> Result<i16, ClientError> {
        self.control().await?.version(api)
    }

    /// Fetches metadata for `topics` (`None`: every topic) and remembers the brokers; never
    /// asks the broker to create a missing topic (consumers and admin).
    pub(crate) async fn metadata(
        &mut self,
        topics: Option<&[&str]>,
    ) -> Result<Metadata, ClientError> {
        self.metadata_with(topics, false).await
    }

    /// Like [`Cluster::metadata`] for a producer: a missing topic is created if the
    /// cluster auto-creates topics (`auto.create.topics.enable`), as Kafka's producers and
    /// librdkafka (kcat) ask for it.
    pub(crate) async fn metadata_creating(
        &mut self,
        topics: &[&str],
    ) -> Result<Metadata, ClientError> {
        self.metadata_with(Some(topics), true).await
    }

    async fn metadata_with(
        &mut self,
        topics: Option<&[&str]>,
        allow_auto_create: bool,
    ) -> Result<Metadata, ClientError> {
        let version = self.control_version(ApiKey::Metadata).await?;
        let mut request = MetadataRequest::default();
        request.topics = topics.map(|names| {
            names
                .iter()
                .map(|name| {
                    let name = TopicName(StrBytes::from_string((*name).to_owned()));
                    MetadataRequestTopic::default().with_name(Some(name))
                })
                .collect()
        });
        // The field exists from v4 on; earlier versions leave it to the broker's setting.
        if version >= 4 {
            request.allow_auto_topic_creation = allow_auto_create;
        }
        let (response, _) = self.send_control(&request).await?;
        let metadata = Metadata::from_response(response);
        self.brokers.clone_from(&metadata.cluster.brokers);
        Ok(metadata)
    }

    /// Opens a connection to the first bootstrap server (then known broker) that answers.
    async fn open_any(&self) -> Result<Connection, ClientError> {
        let known = self.brokers.iter().map(BrokerInfo::addr);
        let candidates: Vec<String> = self.addrs.iter().cloned().chain(known).collect();
        let mut last = None;
        for addr in &candidates {
            match Connection::connect(addr, &self.config).await {
                Ok(connection) => return Ok(connection),
                Err(err) => last = Some(err),
            }
        }
        Err(match last {
            Some(err) if self.addrs.len() == 1 => err,
            Some(err) => ClientError::NoBrokerReachable {
                bootstrap: self.bootstrap.clone(),
                last: Box::new(err),
            },
            None => unreachable_error(&self.bootstrap),
        })
    }
}

fn unreachable_error(bootstrap: &str) -> ClientError {
    ClientError::InvalidBootstrap {
        bootstrap: bootstrap.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bootstrap_lists() {
        assert_eq!(
            parse_bootstrap("127.0.0.1:9092, localhost:19092").unwrap(),
            ["127.0.0.1:9092", "localhost:19092"]
        );
        assert_eq!(parse_bootstrap("[::1]:9092").unwrap(), ["[::1]:9092"]);
        for bad in ["", ",", "localhost", ":9092", "host:port", "host:70000"] {
            assert!(parse_bootstrap(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[tokio::test]
    async fn reports_unreachable_bootstrap() {
        // Port 1 on loopback: nothing listens there in a test environment.
        let err = Cluster::connect("127.0.0.1:1", ConnectionConfig::default())
            .await
            .unwrap_err();
        assert!(err.is_unreachable(), "{err}");
        let err = Cluster::connect("127.0.0.1:1,127.0.0.1:2", ConnectionConfig::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::NoBrokerReachable { .. }),
            "{err}"
        );
        assert!(err.is_unreachable());
    }
}
