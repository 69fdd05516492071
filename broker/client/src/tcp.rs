//! [`TcpTransport`]: the [`Transport`] over one TCP connection to a broker.
//!
//! Frames are Kafka's: a big-endian `i32` length, then a request header (API key, version,
//! correlation id, `client.id`) and the body. Many requests may be in flight: callers hand
//! encoded frames to a writer task (which batches them into few socket writes and records
//! each expected response, in write order), and a reader task reads response frames, checks
//! that each carries the correlation id of the oldest request in flight (Kafka answers in
//! order), decodes it and completes that caller. Response frames are capped at
//! [`TcpConfig::max_frame_size`] and buffers grow only as bytes arrive, so a hostile length
//! prefix costs nothing; decoding is total. When the connection fails every request in flight
//! fails with [`ClientError::Disconnected`] naming the cause, and later calls fail at once.
//!
//! On connect the transport sends ApiVersions v3, falling back to v0 when the broker answers
//! `UNSUPPORTED_VERSION`, and keeps the broker's version ranges for
//! [`Transport::version_for`].

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brook_protocol::messages::*;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{ClientError, ErrorCode};
use crate::transport::{ApiVersions, BoxFuture, Connector, Transport};

/// Settings of a TCP connection, with Kafka's names where they exist.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// `client.id`, sent in every request header. Default `"brook-client"`.
    pub client_id: Option<String>,
    /// `request.timeout.ms`: how long a call waits for its response. Default 30 s.
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`: how long opening the connection (and the
    /// ApiVersions exchange) may take. Default 10 s.
    pub connect_timeout: Duration,
    /// The largest response frame accepted; a larger length prefix fails the connection.
    /// Default 100 MiB.
    pub max_frame_size: usize,
    /// How many requests may wait for the writer before callers wait. Default 1024.
    pub queue_depth: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            client_id: Some("brook-client".into()),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_frame_size: 100 << 20,
            queue_depth: 1024,
        }
    }
}

/// Opens [`TcpTransport`]s with one [`TcpConfig`].
#[derive(Debug, Clone, Default)]
pub struct TcpConnector {
    pub config: TcpConfig,
}

impl TcpConnector {
    pub fn new(config: TcpConfig) -> TcpConnector {
        TcpConnector { config }
    }
}

impl Connector for TcpConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, ClientError>> {
        Box::pin(async move {
            let t = TcpTransport::connect(host, port, self.config.clone()).await?;
            Ok(Arc::new(t) as Arc<dyn Transport>)
        })
    }
}

/// A request waiting for its response.
struct Pending {
    correlation_id: i32,
    api_key: i16,
    version: i16,
    reply: oneshot::Sender<Result<ResponseBody, ClientError>>,
}

/// A frame for the writer.
struct Outgoing {
    /// The frame, length prefix first, in segments (a Produce request's record batches
    /// are segments of their own, written from the producer's buffers without a copy).
    frame: Vec<Bytes>,
    /// `None` for requests without a response.
    pending: Option<Pending>,
    /// Told once the frame is written (requests without a response).
    written: Option<oneshot::Sender<Result<(), ClientError>>>,
}

#[derive(Default)]
struct State {
    in_flight: VecDeque<Pending>,
    /// Why the connection is unusable, once it is.
    closed: Option<String>,
}

struct Shared {
    addr: String,
    state: Mutex<State>,
    /// Wakes the writer when the connection fails, so it exits and the socket closes.
    failed: tokio::sync::Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn disconnected(&self, reason: &str) -> ClientError {
        ClientError::Disconnected {
            addr: self.addr.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Marks the connection failed and fails every request in flight.
    fn fail(&self, reason: String) {
        let drained: Vec<Pending> = {
            let mut state = self.lock();
            if state.closed.is_none() {
                tracing::debug!(addr = %self.addr, %reason, "connection failed");
                state.closed = Some(reason);
            }
            state.in_flight.drain(..).collect()
        };
        self.failed.notify_one();
        let reason = self.closed_reason();
        for p in drained {
            let _ = p.reply.send(Err(self.disconnected(&reason)));
        }
    }

    fn closed_reason(&self) -> String {
        self.lock()
            .closed
            .clone()
            .unwrap_or_else(|| "connection closed".into())
    }
}

/// A [`Transport`] over one TCP connection. Dropping it closes the connection.
pub struct TcpTransport {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Outgoing>,
    versions: ApiVersions,
    client_id: Option<String>,
    request_timeout: Duration,
    next_correlation_id: AtomicI32,
    tasks: [JoinHandle<()>; 2],
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("addr", &self.shared.addr)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.shared.fail("the transport was dropped".into());
    }
}

/// The ApiVersions version tried first.
const API_VERSIONS_FIRST: i16 = 3;

impl TcpTransport {
    /// Connects to `host:port` and negotiates API versions.
    pub async fn connect(
        host: &str,
        port: u16,
        config: TcpConfig,
    ) -> Result<TcpTransport, ClientError> {
        let addr = format_addr(host, port);
        let stream =
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect((host, port)))
                .await
            {
                Err(_) => {
                    return Err(ClientError::ConnectTimeout {
                        addr,
                        after: config.connect_timeout,
                    })
                }
                Ok(Err(source)) => return Err(ClientError::Connect { addr, source }),
                Ok(Ok(s)) => s,
            };
        let _ = stream.set_nodelay(true);
        let mut t = TcpTransport::start(stream, addr.clone(), &config);
        let versions = tokio::time::timeout(config.connect_timeout, t.negotiate())
            .await
            .map_err(|_| ClientError::ConnectTimeout {
                addr,
                after: config.connect_timeout,
            })??;
        t.versions = versions;
        Ok(t)
    }

    /// Starts the reader and writer tasks on a connected stream (no negotiation).
    fn start(stream: TcpStream, addr: String, config: &TcpConfig) -> TcpTransport {
        let (rd, wr) = stream.into_split();
        let shared = Arc::new(Shared {
            addr,
            state: Mutex::new(State::default()),
            failed: tokio::sync::Notify::new(),
        });
        let (tx, rx) = mpsc::channel(config.queue_depth.max(1));
        let reader = tokio::spawn(read_loop(rd, shared.clone(), config.max_frame_size));
        let writer = tokio::spawn(write_loop(rx, wr, shared.clone()));
        TcpTransport {
            shared,
            tx,
            versions: ApiVersions::default(),
            client_id: config.client_id.clone(),
            request_timeout: config.request_timeout,
            next_correlation_id: AtomicI32::new(0),
            tasks: [reader, writer],
        }
    }

    async fn negotiate(&self) -> Result<ApiVersions, ClientError> {
        let request = ApiVersionsRequest {
            client_software_name: "brook-client".into(),
            client_software_version: env!("CARGO_PKG_VERSION").into(),
        };
        let mut version = API_VERSIONS_FIRST;
        loop {
            let body = self
                .call_inner(version, RequestBody::ApiVersions(request.clone()))
                .await?;
            let ResponseBody::ApiVersions(response) = body else {
                return Err(ClientError::UnexpectedResponse {
                    expected: "ApiVersions",
                    got: body.api_key(),
                });
            };
            if response.error_code == ErrorCode::UNSUPPORTED_VERSION.0 && version > 0 {
                // The broker names its own range in a v0 body; retry at its highest
                // version below ours, or v0.
                let theirs = ApiVersions::from_response(&response)
                    .range(ApiVersionsRequest::API_KEY)
                    .map_or(0, |(_, max)| max);
                version = if theirs < version { theirs.max(0) } else { 0 };
                continue;
            }
            crate::error::KafkaError::check(response.error_code, None)?;
            return Ok(ApiVersions::from_response(&response));
        }
    }

    /// The broker's address, `host:port`.
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    fn encode(&self, version: i16, body: &RequestBody) -> Result<(i32, Vec<Bytes>), ClientError> {
        let api_key = body.api_key();
        let header_version =
            request_header_version(api_key, version).ok_or(ClientError::UnsupportedVersion {
                api: api_name(api_key),
                api_key,
            })?;
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let mut head = Vec::new();
        RequestHeader {
            request_api_key: api_key,
            request_api_version: version,
            correlation_id,
            client_id: self.client_id.clone(),
        }
        .encode(header_version, &mut head)?;
        let mut segments = match body {
            RequestBody::Produce(p) => p.encode_segmented(version, head)?,
            other => {
                other.encode(version, &mut head)?;
                vec![Bytes::from(head)]
            }
        };
        let total: usize = segments.iter().map(Bytes::len).sum();
        let len = i32::try_from(total).map_err(|_| {
            ClientError::Encode(EncodeError::TooLong {
                what: "request",
                len: total,
            })
        })?;
        segments.insert(0, Bytes::copy_from_slice(&len.to_be_bytes()));
        Ok((correlation_id, segments))
    }

    fn closed_error(&self) -> ClientError {
        self.shared.disconnected(&self.shared.closed_reason())
    }

    async fn call_inner(
        &self,
        version: i16,
        body: RequestBody,
    ) -> Result<ResponseBody, ClientError> {
        let api_key = body.api_key();
        let (correlation_id, frame) = self.encode(version, &body)?;
        drop(body);
        let (reply, rx) = oneshot::channel();
        let out = Outgoing {
            frame,
            pending: Some(Pending {
                correlation_id,
                api_key,
                version,
                reply,
            }),
            written: None,
        };
        let exchange = async {
            self.tx.send(out).await.map_err(|_| self.closed_error())?;
            rx.await.map_err(|_| self.closed_error())?
        };
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                api: api_name(api_key),
                addr: self.shared.addr.clone(),
                after: self.request_timeout,
            }),
        }
    }
}

impl Transport for TcpTransport {
    fn call(
        &self,
        version: i16,
        body: RequestBody,
    ) -> BoxFuture<'_, Result<ResponseBody, ClientError>> {
        Box::pin(self.call_inner(version, body))
    }

    fn send(&self, version: i16, body: RequestBody) -> BoxFuture<'_, Result<(), ClientError>> {
        Box::pin(async move {
            let api_key = body.api_key();
            let (_, frame) = self.encode(version, &body)?;
            drop(body);
            let (written, rx) = oneshot::channel();
            let out = Outgoing {
                frame,
                pending: None,
                written: Some(written),
            };
            let exchange = async {
                self.tx.send(out).await.map_err(|_| self.closed_error())?;
                rx.await.map_err(|_| self.closed_error())?
            };
            match tokio::time::timeout(self.request_timeout, exchange).await {
                Ok(result) => result,
                Err(_) => Err(ClientError::Timeout {
                    api: api_name(api_key),
                    addr: self.shared.addr.clone(),
                    after: self.request_timeout,
                }),
            }
        })
    }

    fn api_versions(&self) -> &ApiVersions {
        &self.versions
    }

    fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.shared.lock().closed.is_some()
    }

    fn peer(&self) -> &str {
        &self.shared.addr
    }
}

/// `host:port`, bracketing IPv6 literals.
pub(crate) fn format_addr(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The API's name for messages.
pub(crate) fn api_name(api_key: i16) -> &'static str {
    api_info(api_key).map_or("unknown API", |a| a.name)
}

/// The most frames the writer takes from its queue before one flush.
const WRITE_BATCH: usize = 64;

async fn write_loop(mut rx: mpsc::Receiver<Outgoing>, wr: OwnedWriteHalf, shared: Arc<Shared>) {
    let mut wr = BufWriter::with_capacity(64 << 10, wr);
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let mut acks = Vec::new();
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut batch, WRITE_BATCH) => n,
            // The reader failed: stop, dropping the socket and every queued request.
            () = shared.failed.notified() => return,
        };
        if n == 0 {
            return;
        }
        for out in batch.drain(..) {
            if let Some(p) = out.pending {
                let mut state = shared.lock();
                if let Some(reason) = &state.closed {
                    let e = shared.disconnected(reason);
                    drop(state);
                    let _ = p.reply.send(Err(e));
                    continue;
                }
                state.in_flight.push_back(p);
            } else if let Some(reason) = shared.lock().closed.clone() {
                if let Some(w) = out.written {
                    let _ = w.send(Err(shared.disconnected(&reason)));
                }
                continue;
            }
            for segment in &out.frame {
                if let Err(e) = wr.write_all(segment).await {
                    shared.fail(format!("write failed: {e}"));
                    return;
                }
            }
            if let Some(w) = out.written {
                acks.push(w);
            }
        }
        if let Err(e) = wr.flush().await {
            shared.fail(format!("write failed: {e}"));
            return;
        }
        for w in acks.drain(..) {
            let _ = w.send(Ok(()));
        }
    }
}

/// The first allocation for a response frame; it grows as bytes arrive.
const INITIAL_FRAME_CAPACITY: usize = 1 << 20;

async fn read_loop(rd: OwnedReadHalf, shared: Arc<Shared>, max_frame: usize) {
    let reason = read_frames(rd, &shared, max_frame).await;
    shared.fail(reason);
}

/// Reads and dispatches frames until the connection fails; returns why.
async fn read_frames(rd: OwnedReadHalf, shared: &Shared, max_frame: usize) -> String {
    let mut rd = BufReader::with_capacity(64 << 10, rd);
    loop {
        let mut len = [0u8; 4];
        if let Err(e) = rd.read_exact(&mut len).await {
            return if e.kind() == ErrorKind::UnexpectedEof {
                "the broker closed the connection".into()
            } else {
                format!("read failed: {e}")
            };
        }
        let len = i32::from_be_bytes(len);
        if len < 4 || len as usize > max_frame {
            return format!(
                "protocol violation: response frame length {len} outside 4..={max_frame}"
            );
        }
        let len = len as usize;
        let mut frame = Vec::with_capacity(len.min(INITIAL_FRAME_CAPACITY));
        match (&mut rd).take(len as u64).read_to_end(&mut frame).await {
            Ok(n) if n == len => {}
            Ok(n) => {
                return format!("the broker closed the connection mid-frame ({n} of {len} bytes)")
            }
            Err(e) => return format!("read failed: {e}"),
        }
        let correlation_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let Some(pending) = shared.lock().in_flight.pop_front() else {
            return format!(
                "protocol violation: response with correlation id {correlation_id} but no request in flight"
            );
        };
        if pending.correlation_id != correlation_id {
            let reason = format!(
                "protocol violation: response with correlation id {correlation_id}, expected {}",
                pending.correlation_id
            );
            let _ = pending.reply.send(Err(shared.disconnected(&reason)));
            return reason;
        }
        let result = decode(&pending, &frame);
        // The caller may have timed out and gone; that is fine.
        let _ = pending.reply.send(result);
    }
}

fn decode(pending: &Pending, frame: &[u8]) -> Result<ResponseBody, ClientError> {
    let api = api_name(pending.api_key);
    let decode_err = |source| ClientError::Decode { api, source };
    let header_version = response_header_version(pending.api_key, pending.version)
        .ok_or(decode_err(DecodeError::UnknownApiKey(pending.api_key)))?;
    let mut buf = frame;
    ResponseHeader::decode(&mut buf, header_version).map_err(decode_err)?;
    match decode_response(pending.api_key, pending.version, buf) {
        Ok(body) => Ok(body),
        // A broker that does not support our ApiVersions version answers in v0.
        Err(_) if pending.api_key == ApiVersionsRequest::API_KEY && pending.version > 0 => {
            decode_response(pending.api_key, 0, buf).map_err(decode_err)
        }
        Err(e) => Err(decode_err(e)),
    }
}
