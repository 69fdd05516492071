//! The controller's RPC: Raft's messages between voters (and learners), and the brokers'
//! requests to the active controller (proposals forwarded to it, heartbeats). Frames are
//! length-delimited (tokio-util's codec, capped at [`MAX_FRAME`]) and carry JSON; each
//! connection answers its requests in order. A peer that sends garbage gets its connection
//! closed and nothing else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use super::image::{CommandResult, MetadataCommand};
use super::TypeConfig;

type NodeId = u64;

/// The largest frame accepted (a snapshot chunk is far smaller).
pub const MAX_FRAME: usize = 64 << 20;
/// How long one RPC may take before the peer counts as unreachable.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A request to a controller node.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A metadata change, for the active controller to commit.
    Propose(MetadataCommand),
    /// A broker is alive.
    Heartbeat {
        broker: i32,
    },
    /// A broker that is not a voter asks to follow the metadata log as a learner.
    AddLearner {
        id: i32,
        addr: String,
    },
}

/// Its answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The committed entry's index and what applying it gave.
    Proposed(Result<(u64, CommandResult), ProposeError>),
    /// A heartbeat was taken (by the active controller).
    HeartbeatOk,
}

/// Why a proposal did not commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum ProposeError {
    /// This node is not the active controller; the leader, if known.
    #[error("not the active controller (leader: {0:?})")]
    NotLeader(Option<NodeId>),
    #[error("{0}")]
    Failed(String),
}

/// What the server side answers with: implemented by the controller.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> impl std::future::Future<Output = Response> + Send;
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// Serves controller RPC on `listener` until the task is dropped.
pub async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let mut framed = Framed::new(stream, codec());
            while let Some(frame) = framed.next().await {
                let Ok(frame) = frame else { break };
                let request: Request = match serde_json::from_slice(&frame) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "bad controller request; closing");
                        break;
                    }
                };
                let response = handler.handle(request).await;
                let Ok(bytes) = serde_json::to_vec(&response) else {
                    break;
                };
                if framed.send(bytes::Bytes::from(bytes)).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// A connection to one controller node, reopened after any failure.
#[derive(Debug)]
pub struct Peer {
    addr: String,
    conn: Option<Framed<TcpStream, LengthDelimitedCodec>>,
}

impl Peer {
    pub fn new(addr: impl Into<String>) -> Peer {
        Peer {
            addr: addr.into(),
            conn: None,
        }
    }

    /// Sends one request and waits for its answer.
    pub async fn call(&mut self, request: &Request) -> Result<Response, std::io::Error> {
        let bytes = serde_json::to_vec(request).map_err(std::io::Error::other)?;
        let result = tokio::time::timeout(RPC_TIMEOUT, self.exchange(bytes)).await;
        match result {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                self.conn = None;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("controller {} did not answer in time", self.addr),
                ))
            }
        }
    }

    async fn exchange(&mut self, bytes: Vec<u8>) -> Result<Response, std::io::Error> {
        if self.conn.is_none() {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.addr))
                .await
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connecting to controller {}", self.addr),
                    )
                })??;
            let _ = stream.set_nodelay(true);
            self.conn = Some(Framed::new(stream, codec()));
        }
        let conn = self.conn.as_mut().expect("connected above");
        conn.send(bytes::Bytes::from(bytes)).await?;
        let frame = conn.next().await.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "controller closed")
        })??;
        serde_json::from_slice(&frame).map_err(std::io::Error::other)
    }
}

/// openraft's network: one [`Peer`] per target.
#[derive(Debug, Clone, Default)]
pub struct Network;

/// A connection openraft replicates or votes over.
#[derive(Debug)]
pub struct RaftPeer {
    target: NodeId,
    peer: Peer,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = RaftPeer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> RaftPeer {
        RaftPeer {
            target,
            peer: Peer::new(node.addr.clone()),
        }
    }
}

fn unreachable<E: std::error::Error>(e: std::io::Error) -> RPCError<NodeId, BasicNode, E> {
    if e.kind() == std::io::ErrorKind::InvalidData {
        RPCError::Network(NetworkError::new(&e))
    } else {
        RPCError::Unreachable(Unreachable::new(&e))
    }
}

fn unexpected<E: std::error::Error>(target: NodeId) -> RPCError<NodeId, BasicNode, E> {
    let e = std::io::Error::other(format!("controller {target} answered another request"));
    RPCError::Network(NetworkError::new(&e))
}

impl RaftNetwork<TypeConfig> for RaftPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .peer
            .call(&Request::AppendEntries(rpc))
            .await
            .map_err(unreachable)?
        {
            Response::AppendEntries(r) => r.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            _ => Err(unexpected(self.target)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self
            .peer
            .call(&Request::InstallSnapshot(rpc))
            .await
            .map_err(unreachable)?
        {
            Response::InstallSnapshot(r) => r.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            _ => Err(unexpected(self.target)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .peer
            .call(&Request::Vote(rpc))
            .await
            .map_err(unreachable)?
        {
            Response::Vote(r) => r.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            _ => Err(unexpected(self.target)),
        }
    }
}

/// Parses `--controller-voters`: `id@host:port,...`.
pub fn parse_voters(s: &str) -> Result<Vec<(i32, String)>, String> {
    let mut voters = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('@')
            .ok_or_else(|| format!("`{part}` is not id@host:port"))?;
        let id: i32 = id
            .trim()
            .parse()
            .map_err(|_| format!("`{id}` in `{part}` is not a node id"))?;
        if id < 0 {
            return Err(format!("node id {id} in `{part}` is negative"));
        }
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("`{addr}` in `{part}` is not host:port"))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!("`{addr}` in `{part}` is not host:port"));
        }
        if voters.iter().any(|(v, _)| *v == id) {
            return Err(format!("node id {id} appears twice"));
        }
        voters.push((id, addr.to_string()));
    }
    if voters.is_empty() {
        return Err("no voters given".into());
    }
    Ok(voters)
}

/// The address to bind for a `host:port` voter entry.
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to nothing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_parse_and_bad_lists_are_refused() {
        assert_eq!(
            parse_voters("1@localhost:9093, 2@127.0.0.1:9094").unwrap(),
            vec![(1, "localhost:9093".into()), (2, "127.0.0.1:9094".into())]
        );
        for bad in [
            "",
            "1localhost:9",
            "x@h:1",
            "1@h",
            "1@h:99999",
            "1@h:1,1@h:2",
            "-1@h:1",
        ] {
            assert!(parse_voters(bad).is_err(), "{bad}");
        }
    }

    struct Echo;
    impl Handler for Echo {
        async fn handle(&self, request: Request) -> Response {
            match request {
                Request::Propose(MetadataCommand::DeleteTopic { name }) => {
                    Response::Proposed(Err(ProposeError::Failed(name)))
                }
                _ => Response::HeartbeatOk,
            }
        }
    }

    #[tokio::test]
    async fn a_peer_gets_answers_and_garbage_closes_only_its_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Arc::new(Echo)));
        // A hostile client: a frame of junk, then a length prefix that is far too large.
        let mut junk = TcpStream::connect(addr).await.unwrap();
        use tokio::io::AsyncWriteExt;
        junk.write_all(&[0, 0, 0, 3, b'x', b'y', b'z'])
            .await
            .unwrap();
        junk.write_all(&[0x7f, 0xff, 0xff, 0xff]).await.unwrap();
        let mut peer = Peer::new(addr.to_string());
        let r = peer
            .call(&Request::Propose(MetadataCommand::DeleteTopic {
                name: "t".into(),
            }))
            .await
            .unwrap();
        assert!(matches!(r, Response::Proposed(Err(ProposeError::Failed(n))) if n == "t"));
        let r = peer.call(&Request::Heartbeat { broker: 1 }).await.unwrap();
        assert!(matches!(r, Response::HeartbeatOk));
        server.abort();
        // The server is gone: the peer reports it instead of hanging.
        let _ = server.await;
        let mut fresh = Peer::new(addr.to_string());
        assert!(fresh.call(&Request::Heartbeat { broker: 1 }).await.is_err());
    }
}
