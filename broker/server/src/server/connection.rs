//! One client connection: frames in, responses out, in request order.

use std::sync::Arc;

use brook_protocol::messages::{
    decode_request, decode_request_header, response_header_version, ApiVersionsRequest,
    RequestBody, ResponseHeader,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::handlers::{self, RequestContext};
use super::Broker;

/// Serves one connection until the peer closes it, goes idle, or misbehaves; the error says
/// why it ended.
pub async fn serve(stream: TcpStream, broker: Arc<Broker>) -> Result<(), String> {
    let peer = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let (mut rd, mut wr) = stream.into_split();
    let idle = broker.config.idle_timeout;
    let max = broker.config.max_request_bytes;
    loop {
        let mut len = [0u8; 4];
        match timeout(idle, rd.read_exact(&mut len)).await {
            Err(_) => return Err("idle timeout".into()),
            Ok(Err(_)) => return Ok(()),
            Ok(Ok(_)) => {}
        }
        let n = i32::from_be_bytes(len);
        if n < 0 || n as usize > max {
            return Err(format!(
                "frame of {n} bytes exceeds socket.request.max.bytes ({max})"
            ));
        }
        // Grows as bytes arrive: a peer that announces 100 MiB and sends nothing costs nothing.
        let mut frame = Vec::new();
        match timeout(idle, (&mut rd).take(n as u64).read_to_end(&mut frame)).await {
            Err(_) => return Err("timed out in the middle of a frame".into()),
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(got)) if got != n as usize => {
                return Err("connection closed in the middle of a frame".into())
            }
            Ok(Ok(_)) => {}
        }
        if let Some(response) = handle_frame(&broker, &peer, frame).await? {
            wr.write_all(&response).await.map_err(|e| e.to_string())?;
        }
    }
}

/// Decodes and answers one request frame. `Ok(None)`: no response (acks=0 produce).
async fn handle_frame(
    broker: &Arc<Broker>,
    peer: &str,
    frame: Vec<u8>,
) -> Result<Option<Vec<u8>>, String> {
    let mut buf = &frame[..];
    let header = decode_request_header(&mut buf).map_err(|e| format!("bad request header: {e}"))?;
    let (key, version) = (header.request_api_key, header.request_api_version);
    let correlation_id = header.correlation_id;
    if !handlers::is_supported(key, version) {
        if key == ApiVersionsRequest::API_KEY {
            // Kafka answers a too-new ApiVersions with a v0 response carrying the ranges.
            let body = handlers::api_versions::unsupported();
            return Ok(Some(frame_response(key, 0, correlation_id, |out| {
                body.encode(0, out)
            })?));
        }
        return Err(format!("unsupported API {key} version {version}"));
    }
    let body = decode_request(key, version, buf)
        .map_err(|e| format!("bad request (API {key} v{version}): {e}"))?;
    if let RequestBody::Produce(p) = &body {
        if p.acks == 0 {
            handlers::produce::handle_no_ack(broker.clone(), body).await;
            return Ok(None);
        }
    }
    let ctx = RequestContext {
        version,
        client_id: header.client_id.unwrap_or_default(),
        client_host: format!("/{peer}"),
    };
    let encoded = handlers::handle(broker.clone(), body, ctx).await?;
    let response = frame_response(key, version, correlation_id, |out| {
        out.extend_from_slice(&encoded);
        Ok(())
    })?;
    Ok(Some(response))
}

/// Builds a length-prefixed response frame from a header and an encoder for the body.
fn frame_response(
    key: i16,
    version: i16,
    correlation_id: i32,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), brook_protocol::messages::EncodeError>,
) -> Result<Vec<u8>, String> {
    let mut out = vec![0; 4];
    let header_version = response_header_version(key, version).ok_or("unknown API")?;
    ResponseHeader { correlation_id }
        .encode(header_version, &mut out)
        .map_err(|e| e.to_string())?;
    body(&mut out).map_err(|e| e.to_string())?;
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}
