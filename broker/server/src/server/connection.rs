//! One client connection: frames in, responses out, in request order.
//!
//! A connection is a pipeline of three stages, so that reading, executing and writing
//! overlap (clients such as librdkafka send many requests without waiting):
//!
//! - the **reader** task reads length-prefixed frames (capped at `socket.request.max.bytes`,
//!   buffered as they arrive, never allocated from the length alone) and decodes them, at
//!   most [`QUEUED`] requests and [`QUEUED_BYTES`] of frames ahead of execution;
//! - the **executor** (the connection's own task) runs the requests one at a time, in the
//!   order they arrived: a producer's batches to a partition must be appended in the order
//!   sent, or idempotent sequences would be refused;
//! - the **writer** task writes the responses in that same order while the next request
//!   executes. A Fetch response is written straight from the buffer its records were read
//!   into (a vectored write), and the buffer is reused by later fetches.
//!
//! A frame that cannot be decoded, an unknown API or version (other than ApiVersions), an
//! oversized frame, an idle timeout or a failed handler end the connection once the
//! requests before it are answered; the error says why.

use std::io::{self, IoSlice};
use std::sync::{Arc, Mutex};

use brook_protocol::messages::{
    decode_request, decode_request_header, response_header_version, ApiVersionsRequest,
    RequestBody, ResponseHeader,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout, Duration};

use super::handlers::{self, fetch::FetchReply, RequestContext};
use super::Broker;

/// Decoded requests that may wait for execution (and responses that may wait for the
/// socket), per connection.
const QUEUED: usize = 16;
/// Bytes of request frames that may wait for execution, per connection. A larger frame
/// waits alone.
const QUEUED_BYTES: usize = 64 << 20;
/// The reader keeps its frame buffer across frames up to this capacity.
const KEEP_FRAME_BUFFER: usize = 16 << 20;
/// The first allocation for a frame body; it then doubles as bytes arrive.
const FIRST_FRAME_CHUNK: usize = 64 << 10;
/// Fetch buffers kept for reuse per connection, and the largest one kept.
const POOLED_BUFFERS: usize = 2;
const POOLED_BUFFER_MAX: usize = 64 << 20;
/// Responses gathered into one vectored write at most.
const WRITE_BATCH: usize = 16;

/// What the reader hands the executor.
enum Inbound {
    Request(Request),
    /// An answer that needs no execution (ApiVersions at an unsupported version).
    Ready(Response),
    /// End the connection once everything before is answered; `Err` says why.
    Close(Result<(), String>),
}

struct Request {
    api_key: i16,
    version: i16,
    correlation_id: i32,
    client_id: String,
    body: RequestBody,
    /// This request's share of [`QUEUED_BYTES`], returned once it has executed.
    _queued: OwnedSemaphorePermit,
}

/// What the executor hands the writer.
enum Outbound {
    Response(Response),
    Close(Result<(), String>),
}

/// A response frame: `head` is the length prefix and the response header.
struct Response {
    head: Vec<u8>,
    body: Body,
    /// Its share of [`QUEUED_BYTES`] of responses waiting for the socket, released once
    /// written: a peer that stops reading holds at most that much.
    _unsent: Option<OwnedSemaphorePermit>,
}

enum Body {
    Encoded(Vec<u8>),
    Fetch(FetchReply),
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Encoded(b) => b.len(),
            Body::Fetch(f) => f.len(),
        }
    }
}

/// Serves one connection until the peer closes it, goes idle, or misbehaves; the error says
/// why it ended.
pub async fn serve(stream: TcpStream, broker: Arc<Broker>) -> Result<(), String> {
    let peer = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let (rd, wr) = stream.into_split();
    let (in_tx, in_rx) = mpsc::channel(QUEUED);
    let (out_tx, out_rx) = mpsc::channel(QUEUED);
    let pool = BufferPool::default();
    let reader = tokio::spawn(read_loop(
        rd,
        broker.config.idle_timeout,
        broker.config.max_request_bytes,
        in_tx,
    ));
    let writer = tokio::spawn(write_loop(
        wr,
        out_rx,
        pool.clone(),
        broker.config.idle_timeout,
    ));
    let unsent = Arc::new(Semaphore::new(QUEUED_BYTES));
    execute_loop(&broker, &format!("/{peer}"), in_rx, out_tx, &pool, &unsent).await;
    reader.abort();
    writer
        .await
        .map_err(|e| format!("connection writer failed: {e}"))?
}

/// Reads and decodes frames until the peer closes the connection or something is wrong.
async fn read_loop(mut rd: OwnedReadHalf, idle: Duration, max: usize, tx: mpsc::Sender<Inbound>) {
    let queued = Arc::new(Semaphore::new(QUEUED_BYTES));
    let mut frame = Vec::new();
    let end = loop {
        let mut len = [0u8; 4];
        match timeout(idle, rd.read_exact(&mut len)).await {
            Err(_) => break Err("idle timeout".to_string()),
            Ok(Err(_)) => break Ok(()),
            Ok(Ok(_)) => {}
        }
        let n = i32::from_be_bytes(len);
        if n < 0 || n as usize > max {
            break Err(format!(
                "frame of {n} bytes exceeds socket.request.max.bytes ({max})"
            ));
        }
        let n = n as usize;
        let Ok(permit) = queued
            .clone()
            .acquire_many_owned(n.min(QUEUED_BYTES) as u32)
            .await
        else {
            break Ok(());
        };
        if let Err(reason) = read_frame(&mut rd, n, &mut frame, idle).await {
            break Err(reason);
        }
        let item = match decode(&frame, permit) {
            Ok(item) => item,
            Err(reason) => break Err(reason),
        };
        if frame.capacity() > KEEP_FRAME_BUFFER {
            frame = Vec::new();
        }
        if tx.send(item).await.is_err() {
            return;
        }
    };
    let _ = tx.send(Inbound::Close(end)).await;
}

/// Reads a frame body of `n` bytes into `frame` (replacing its contents). The buffer grows
/// as bytes arrive: a peer that announces 100 MiB and sends nothing costs nothing.
async fn read_frame(
    rd: &mut OwnedReadHalf,
    n: usize,
    frame: &mut Vec<u8>,
    idle: Duration,
) -> Result<(), String> {
    frame.clear();
    let body = async {
        while frame.len() < n {
            if frame.len() == frame.capacity() {
                let more = (n - frame.len()).min(frame.len().max(FIRST_FRAME_CHUNK));
                frame.reserve_exact(more);
            }
            let room = (frame.capacity() - frame.len()).min(n - frame.len());
            if (&mut *rd).take(room as u64).read_buf(frame).await? == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
        }
        Ok(())
    };
    match timeout(idle, body).await {
        Err(_) => Err("timed out in the middle of a frame".into()),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err("connection closed in the middle of a frame".into())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(())) => Ok(()),
    }
}

/// Decodes one request frame.
fn decode(frame: &[u8], queued: OwnedSemaphorePermit) -> Result<Inbound, String> {
    let mut buf = frame;
    let header = decode_request_header(&mut buf).map_err(|e| format!("bad request header: {e}"))?;
    let (key, version) = (header.request_api_key, header.request_api_version);
    let correlation_id = header.correlation_id;
    if !handlers::is_supported(key, version) {
        if key == ApiVersionsRequest::API_KEY {
            // Kafka answers a too-new ApiVersions with a v0 response carrying the ranges.
            let mut body = Vec::new();
            handlers::api_versions::unsupported()
                .encode(0, &mut body)
                .map_err(|e| e.to_string())?;
            return Ok(Inbound::Ready(response(
                key,
                0,
                correlation_id,
                Body::Encoded(body),
            )?));
        }
        return Err(format!("unsupported API {key} version {version}"));
    }
    let body = decode_request(key, version, buf)
        .map_err(|e| format!("bad request (API {key} v{version}): {e}"))?;
    Ok(Inbound::Request(Request {
        api_key: key,
        version,
        correlation_id,
        client_id: header.client_id.unwrap_or_default(),
        body,
        _queued: queued,
    }))
}

/// Executes requests one at a time, in order, and hands their responses to the writer.
async fn execute_loop(
    broker: &Arc<Broker>,
    client_host: &str,
    mut rx: mpsc::Receiver<Inbound>,
    tx: mpsc::Sender<Outbound>,
    pool: &BufferPool,
    unsent: &Arc<Semaphore>,
) {
    while let Some(item) = rx.recv().await {
        let out = match item {
            Inbound::Request(req) => match execute(broker, client_host, req, pool).await {
                Ok(Some(r)) => Outbound::Response(r),
                Ok(None) => continue,
                Err(reason) => Outbound::Close(Err(reason)),
            },
            Inbound::Ready(r) => Outbound::Response(r),
            Inbound::Close(r) => Outbound::Close(r),
        };
        let out = match out {
            Outbound::Response(mut r) => {
                let share = (r.head.len() + r.body.len()).min(QUEUED_BYTES) as u32;
                let Ok(permit) = unsent.clone().acquire_many_owned(share).await else {
                    return;
                };
                r._unsent = Some(permit);
                Outbound::Response(r)
            }
            close => close,
        };
        let close = matches!(out, Outbound::Close(_));
        if tx.send(out).await.is_err() || close {
            return;
        }
    }
}

/// Answers one request. `Ok(None)`: no response (acks=0 produce).
async fn execute(
    broker: &Arc<Broker>,
    client_host: &str,
    req: Request,
    pool: &BufferPool,
) -> Result<Option<Response>, String> {
    let Request {
        api_key,
        version,
        correlation_id,
        client_id,
        body,
        _queued,
    } = req;
    let body = match body {
        RequestBody::Produce(p) if p.acks == 0 => {
            handlers::produce::handle_no_ack(broker.clone(), RequestBody::Produce(p)).await;
            return Ok(None);
        }
        // Fetch is answered here rather than through `handlers::handle`, which returns one
        // encoded buffer: this keeps the records in the buffer they were read into.
        RequestBody::Fetch(req) => Body::Fetch(
            handlers::fetch::handle_into(broker.clone(), req, version, pool.take()).await?,
        ),
        body => {
            let ctx = RequestContext {
                version,
                client_id,
                client_host: client_host.to_string(),
            };
            Body::Encoded(handlers::handle(broker.clone(), body, ctx).await?)
        }
    };
    response(api_key, version, correlation_id, body).map(Some)
}

/// A response frame for `body`: the length prefix and response header go in `head`.
fn response(key: i16, version: i16, correlation_id: i32, body: Body) -> Result<Response, String> {
    let mut head = vec![0; 4];
    let header_version = response_header_version(key, version).ok_or("unknown API")?;
    ResponseHeader { correlation_id }
        .encode(header_version, &mut head)
        .map_err(|e| e.to_string())?;
    let len = i32::try_from(head.len() - 4 + body.len())
        .map_err(|_| format!("response of {} bytes is too large", body.len()))?;
    head[..4].copy_from_slice(&len.to_be_bytes());
    Ok(Response {
        head,
        body,
        _unsent: None,
    })
}

/// Writes responses in order, gathering those already waiting into one vectored write.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Outbound>,
    pool: BufferPool,
    idle: Duration,
) -> Result<(), String> {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(first) = rx.recv().await {
        let mut end = None;
        let mut next = Some(first);
        while let Some(out) = next.take() {
            match out {
                Outbound::Response(r) => batch.push(r),
                Outbound::Close(r) => {
                    end = Some(r);
                    break;
                }
            }
            if batch.len() < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        // A peer that reads nothing for the idle timeout is dropped, with what it holds.
        match timeout(idle, write_all(&mut wr, &batch)).await {
            Err(_) => return Err("timed out writing to a peer that does not read".into()),
            Ok(r) => r.map_err(|e| e.to_string())?,
        }
        for r in batch.drain(..) {
            if let Body::Fetch(reply) = r.body {
                pool.put(reply.into_buffer());
            }
        }
        if let Some(r) = end {
            return r;
        }
    }
    Ok(())
}

async fn write_all(wr: &mut OwnedWriteHalf, responses: &[Response]) -> io::Result<()> {
    let mut slices = Vec::with_capacity(2 * responses.len());
    for r in responses {
        slices.push(IoSlice::new(&r.head));
        match &r.body {
            Body::Encoded(b) if b.is_empty() => {}
            Body::Encoded(b) => slices.push(IoSlice::new(b)),
            Body::Fetch(f) => slices.extend(f.io_slices()),
        }
    }
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        let n = wr.write_vectored(bufs).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

/// Buffers that fetches read records into, handed back by the writer once written.
#[derive(Debug, Clone, Default)]
struct BufferPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BufferPool {
    fn take(&self) -> Vec<u8> {
        self.lock().pop().unwrap_or_default()
    }

    fn put(&self, buf: Vec<u8>) {
        if buf.capacity() <= POOLED_BUFFER_MAX {
            let mut pool = self.lock();
            if pool.len() < POOLED_BUFFERS {
                pool.push(buf);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // Holds plain buffers; a panic elsewhere cannot leave it inconsistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use brook_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use brook_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use brook_protocol::messages::*;
    use brook_protocol::record::{BatchBuilder, BatchIter, Compression};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::server::BrokerConfig;

    async fn start(config: BrokerConfig) -> (std::net::SocketAddr, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let broker = Broker::open(dir.path(), config, ("127.0.0.1".into(), addr.port())).unwrap();
        tokio::spawn(crate::server::run(
            listener,
            Arc::new(broker),
            std::future::pending(),
        ));
        (addr, dir)
    }

    fn frame(
        key: i16,
        version: i16,
        correlation_id: i32,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Vec<u8> {
        let mut out = vec![0; 4];
        RequestHeader {
            request_api_key: key,
            request_api_version: version,
            correlation_id,
            client_id: Some("pipelined".into()),
        }
        .encode(request_header_version(key, version).unwrap(), &mut out)
        .unwrap();
        body(&mut out);
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        out
    }

    /// The next response: its correlation id and body.
    async fn response(s: &mut TcpStream, key: i16, version: i16) -> Option<(i32, Vec<u8>)> {
        let mut len = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut len))
            .await
            .unwrap()
            .ok()?;
        let mut buf = vec![0; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).await.ok()?;
        let mut body = &buf[..];
        let h = ResponseHeader::decode(&mut body, response_header_version(key, version).unwrap())
            .unwrap();
        Some((h.correlation_id, body.to_vec()))
    }

    fn produce(acks: i16, batch: Vec<u8>) -> ProduceRequest {
        ProduceRequest {
            acks,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "pipe".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.into()),
                }],
            }],
            ..Default::default()
        }
    }

    fn fetch(offset: i64) -> FetchRequest {
        FetchRequest {
            replica_id: -1,
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 1 << 20,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: "pipe".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: offset,
                    partition_max_bytes: 1 << 20,
                    log_start_offset: -1,
                    current_leader_epoch: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_requests_execute_and_answer_in_order() {
        let (addr, _dir) = start(BrokerConfig::default()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        // An idempotent producer: its batches are refused unless appended in sequence.
        s.write_all(&frame(22, 4, 1, |out| {
            InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 60_000,
                producer_id: -1,
                producer_epoch: -1,
            }
            .encode(4, out)
            .unwrap()
        }))
        .await
        .unwrap();
        let (_, body) = response(&mut s, 22, 4).await.unwrap();
        let init = InitProducerIdResponse::decode(&mut &body[..], 4).unwrap();
        assert_eq!(init.error_code, 0);

        // 40 produce requests of 3 records, a fetch after every tenth and one acks=0 produce
        // (no response) in the middle, all written before any response is read.
        let mut burst = Vec::new();
        let mut expected = Vec::new();
        // Request i's base offset; the acks=0 record is appended after request 20.
        let base = |i: i32| i64::from(i) * 3 + i64::from(i > 20);
        for i in 0..40 {
            let mut b = BatchBuilder::new(Compression::None, 1000)
                .producer_id(init.producer_id)
                .producer_epoch(init.producer_epoch)
                .base_sequence(i * 3);
            for r in 0..3 {
                b.append(1000 + r, None, Some(format!("v{i}-{r}").as_bytes()), &[]);
            }
            let cid = 100 + i;
            burst.extend(frame(0, 9, cid, |out| {
                produce(1, b.build(0)).encode(9, out).unwrap()
            }));
            expected.push((cid, 0));
            if i % 10 == 9 {
                let cid = 1000 + i;
                let at = base(i - 9);
                burst.extend(frame(1, 12, cid, |out| fetch(at).encode(12, out).unwrap()));
                expected.push((cid, 1));
            }
            if i == 20 {
                let mut b = BatchBuilder::new(Compression::None, 1000);
                b.append(1000, None, Some(b"no ack"), &[]);
                burst.extend(frame(0, 9, 5000, |out| {
                    produce(0, b.build(0)).encode(9, out).unwrap()
                }));
            }
        }
        s.write_all(&burst).await.unwrap();

        for (cid, key) in expected {
            let version = if key == 0 { 9 } else { 12 };
            let (got, body) = response(&mut s, key, version).await.unwrap();
            assert_eq!(got, cid, "responses in request order");
            if key == 0 {
                let r = ProduceResponse::decode(&mut &body[..], 9).unwrap();
                let p = &r.responses[0].partition_responses[0];
                assert_eq!(p.error_code, 0, "request {cid}");
                assert_eq!(
                    p.base_offset,
                    base(cid - 100),
                    "request {cid}: appended in order"
                );
            } else {
                let r = FetchResponse::decode(&mut &body[..], 12).unwrap();
                let d = &r.responses[0].partitions[0];
                assert_eq!(d.error_code, 0);
                let records = d.records.clone().unwrap();
                let first = BatchIter::new(&records).next().unwrap().unwrap().0;
                assert_eq!(first.base_offset, base(cid - 1000 - 9));
                assert_eq!(
                    d.high_watermark,
                    base(cid - 1000) + 3,
                    "after the produce before it"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_bad_frame_closes_the_connection_after_the_answers_before_it() {
        let (addr, _dir) = start(BrokerConfig::default()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut burst = Vec::new();
        for cid in 0..5 {
            burst.extend(frame(3, 12, cid, |out| {
                MetadataRequest::default().encode(12, out).unwrap()
            }));
        }
        burst.extend_from_slice(&[0, 0, 0, 3, 0xff, 0xff, 0xff]); // not a request header
        s.write_all(&burst).await.unwrap();
        for cid in 0..5 {
            assert_eq!(response(&mut s, 3, 12).await.unwrap().0, cid);
        }
        assert!(response(&mut s, 3, 12).await.is_none(), "then closed");
    }

    #[tokio::test]
    async fn a_frame_that_stops_arriving_ends_the_connection_at_the_idle_timeout() {
        let (addr, _dir) = start(BrokerConfig {
            idle_timeout: Duration::from_millis(300),
            ..BrokerConfig::default()
        })
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&(50i32 << 20).to_be_bytes()).await.unwrap();
        s.write_all(&[0; 100]).await.unwrap();
        // The connection gives up mid-frame after the idle timeout.
        assert!(response(&mut s, 3, 12).await.is_none());
    }
}
