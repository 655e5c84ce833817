//! Which version of each Kafka API the client speaks, and the negotiation with a node.
//!
//! The client implements a fixed range per API (`client_range`); a node advertises its
//! ranges in ApiVersions; the version used is the highest both share. The caps are below
//! what `kafka-protocol` can encode on purpose: Fetch and Produce stop at versions that are
//! still keyed by topic name (v13 switches to topic ids), Metadata stops before v13 which
//! only adds a top-level error code. Group membership (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup) stops at the versions Eddy's coordinator serves, without static membership.

use std::collections::HashMap;

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::VersionRange;

/// The ApiVersions version the client opens with (flexible; librdkafka does the same).
pub(crate) const API_VERSIONS_FIRST: i16 = 3;

/// The versions of `api` this client implements, or `None` for an API it never sends.
pub(crate) fn client_range(api: ApiKey) -> Option<VersionRange> {
    let (min, max) = match api {
        ApiKey::ApiVersions => (0, API_VERSIONS_FIRST),
        ApiKey::Metadata => (1, 12),
        ApiKey::Produce => (3, 9),
        ApiKey::Fetch => (4, 12),
        ApiKey::ListOffsets => (1, 7),
        ApiKey::CreateTopics => (2, 7),
        ApiKey::DeleteTopics => (1, 6),
        ApiKey::DescribeConfigs => (1, 4),
        // FindCoordinator v4 batches keys; one group at a time needs no more than v3.
        ApiKey::FindCoordinator => (0, 3),
        ApiKey::ListGroups => (0, 4),
        ApiKey::DescribeGroups => (0, 5),
        // v2 is the first that fetches every partition (null topics); v8 batches groups.
        ApiKey::OffsetFetch => (2, 7),
        // v2 is the first with a retention field; v8 (flexible) is the node's highest.
        ApiKey::OffsetCommit => (2, 8),
        ApiKey::DeleteGroups => (0, 2),
        // v1 is the first with a rebalance timeout; v4+ hands out member ids (KIP-394).
        ApiKey::JoinGroup => (1, 7),
        ApiKey::SyncGroup => (0, 5),
        ApiKey::Heartbeat => (0, 4),
        // v3 switches from one member id to a batch of members.
        ApiKey::LeaveGroup => (0, 4),
        ApiKey::DeleteRecords => (0, 2),
        _ => return None,
    };
    Some(VersionRange { min, max })
}

/// The API ranges a node advertised in its ApiVersions response.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeVersions {
    ranges: HashMap<i16, VersionRange>,
}

impl NodeVersions {
    /// Reads the advertised ranges out of an ApiVersions response.
    pub(crate) fn from_response(response: &ApiVersionsResponse) -> Self {
        let ranges = response
            .api_keys
            .iter()
            .map(|key| {
                let range = VersionRange {
                    min: key.min_version,
                    max: key.max_version,
                };
                (key.api_key, range)
            })
            .collect();
        Self { ranges }
    }

    /// The range advertised for `api`, if any.
    pub(crate) fn advertised(&self, api: ApiKey) -> Option<VersionRange> {
        self.ranges.get(&(api as i16)).copied()
    }

    /// The highest version of `api` that both the node and the client speak.
    pub(crate) fn negotiate(&self, api: ApiKey) -> Result<i16, Unsupported> {
        let client = client_range(api).ok_or(Unsupported {
            client: None,
            node: self.advertised(api),
        })?;
        let node = self.advertised(api).ok_or(Unsupported {
            client: Some(client),
            node: None,
        })?;
        let shared = client.intersect(&node);
        if shared.is_empty() {
            Err(Unsupported {
                client: Some(client),
                node: Some(node),
            })
        } else {
            Ok(shared.max)
        }
    }
}

/// Why a negotiation failed: the two ranges involved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unsupported {
    /// The client's range, `None` if the client never sends this API.
    pub(crate) client: Option<VersionRange>,
    /// The node's range, `None` if it did not advertise the API.
    pub(crate) node: Option<VersionRange>,
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    use super::*;

    fn node(ranges: &[(ApiKey, i16, i16)]) -> NodeVersions {
        let mut response = ApiVersionsResponse::default();
        response.api_keys = ranges
            .iter()
            .map(|&(key, min, max)| {
                ApiVersion::default()
                    .with_api_key(key as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect();
        NodeVersions::from_response(&response)
    }

    #[test]
    fn picks_the_highest_shared_version() {
        let versions = node(&[(ApiKey::Fetch, 0, 17), (ApiKey::Produce, 0, 7)]);
        assert_eq!(versions.negotiate(ApiKey::Fetch).ok(), Some(12));
        assert_eq!(versions.negotiate(ApiKey::Produce).ok(), Some(7));
    }

    #[test]
    fn fails_without_overlap_or_advertisement() {
        let versions = node(&[(ApiKey::Fetch, 0, 3)]);
        let err = versions.negotiate(ApiKey::Fetch).unwrap_err();
        assert_eq!(err.node.map(|r| r.max), Some(3));
        assert!(versions.negotiate(ApiKey::Metadata).is_err());
        assert!(versions.negotiate(ApiKey::JoinGroup).is_err());
    }
}
