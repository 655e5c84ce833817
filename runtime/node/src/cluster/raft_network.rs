//! openraft's network over the peer link: one [`PeerClient`] per target node, Raft RPCs as
//! [`PeerRequest`] frames.

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};

use eddy_actors::cluster::raft::TypeConfig;

use super::messages::{PeerRequest, PeerResponse};
use super::peer_client::{CallError, PeerClient};

/// Makes a client per Raft target.
#[derive(Clone, Default)]
pub struct RaftPeers;

impl RaftNetworkFactory<TypeConfig> for RaftPeers {
    type Network = RaftPeer;

    async fn new_client(&mut self, _target: u64, node: &BasicNode) -> Self::Network {
        RaftPeer {
            client: PeerClient::new(node.addr.clone()),
        }
    }
}

/// The Raft network to one node.
pub struct RaftPeer {
    client: PeerClient,
}

type RpcError<E = openraft::error::Infallible> = RPCError<u64, BasicNode, RaftError<u64, E>>;

fn unreachable<E: std::error::Error>(err: CallError) -> RPCError<u64, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&err))
}

fn remote<E: std::error::Error>(reason: String) -> RPCError<u64, BasicNode, E> {
    RPCError::Network(NetworkError::new(&AnyError::error(reason)))
}

impl RaftPeer {
    async fn call<E: std::error::Error>(
        &self,
        req: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerResponse, RPCError<u64, BasicNode, E>> {
        self.client
            .call(&req, option.hard_ttl())
            .await
            .map_err(unreachable)
    }
}

impl RaftNetwork<TypeConfig> for RaftPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RpcError> {
        match self.call(PeerRequest::AppendEntries(rpc), &option).await? {
            PeerResponse::AppendEntries(Ok(resp)) => Ok(resp),
            PeerResponse::AppendEntries(Err(e)) | PeerResponse::Refused(e) => Err(remote(e)),
            other => Err(remote(format!("unexpected answer {other:?}"))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RpcError<InstallSnapshotError>> {
        match self
            .call(PeerRequest::InstallSnapshot(rpc), &option)
            .await?
        {
            PeerResponse::InstallSnapshot(Ok(resp)) => Ok(resp),
            PeerResponse::InstallSnapshot(Err(e)) | PeerResponse::Refused(e) => Err(remote(e)),
            other => Err(remote(format!("unexpected answer {other:?}"))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RpcError> {
        match self.call(PeerRequest::Vote(rpc), &option).await? {
            PeerResponse::Vote(Ok(resp)) => Ok(resp),
            PeerResponse::Vote(Err(e)) | PeerResponse::Refused(e) => Err(remote(e)),
            other => Err(remote(format!("unexpected answer {other:?}"))),
        }
    }
}
