//! The in-process broker harness shared by the protocol tests: a broker on port 0 and a
//! raw connection that sends generated request types and returns response bodies.

#![allow(dead_code)] // each test file uses a different part

use std::sync::Arc;

use brook_broker::server::{self, Broker, BrokerConfig};
use brook_protocol::messages::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct TestBroker {
    pub addr: std::net::SocketAddr,
    pub broker: Arc<Broker>,
    stop: tokio::sync::oneshot::Sender<()>,
    pub dir: tempfile::TempDir,
}

/// A broker on a fresh data directory.
pub async fn start(config: BrokerConfig) -> TestBroker {
    start_in(tempfile::tempdir().unwrap(), config).await
}

/// A broker on `dir` (e.g. one a stopped broker left behind).
pub async fn start_in(dir: tempfile::TempDir, config: BrokerConfig) -> TestBroker {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let broker =
        Arc::new(Broker::open(dir.path(), config, ("127.0.0.1".into(), addr.port())).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::run(listener, broker.clone(), async {
        let _ = stopped.await;
    }));
    TestBroker {
        addr,
        broker,
        stop,
        dir,
    }
}

/// Sends one request frame and reads one response frame (without its length).
pub async fn call(
    stream: &mut TcpStream,
    key: i16,
    version: i16,
    body: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut frame = vec![0; 4];
    RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id: 42,
        client_id: Some("test".into()),
    }
    .encode(request_header_version(key, version).unwrap(), &mut frame)
    .unwrap();
    body(&mut frame);
    let len = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&frame).await.unwrap();
    read_frame(stream).await.expect("a response")
}

pub async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let mut buf = vec![0; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

pub fn body_of(response: &[u8], key: i16, version: i16) -> &[u8] {
    let mut buf = response;
    let header =
        ResponseHeader::decode(&mut buf, response_header_version(key, version).unwrap()).unwrap();
    assert_eq!(header.correlation_id, 42);
    buf
}

impl TestBroker {
    /// Stops serving and closes every log cleanly, keeping the data directory.
    pub fn stop(self) -> tempfile::TempDir {
        let _ = self.stop.send(());
        self.broker.close().unwrap();
        self.dir
    }
}
