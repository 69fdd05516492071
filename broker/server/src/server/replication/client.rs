//! The broker's own Kafka client for talking to other brokers (followers fetching from
//! leaders), as Kafka's brokers have their own network client: one connection, one request
//! at a time, frames capped like the listener's. It uses the protocol crate's codec only;
//! the client crate stays out of the broker (see ARCHITECTURE.md).

use std::time::Duration;

use brook_protocol::messages::{
    decode_response, request_header_version, response_header_version, RequestBody, RequestHeader,
    ResponseBody, ResponseHeader,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response accepted from a leader.
const MAX_RESPONSE: usize = 128 << 20;

/// One connection to another broker.
#[derive(Debug)]
pub struct BrokerConnection {
    addr: String,
    client_id: String,
    stream: Option<TcpStream>,
    correlation_id: i32,
}

impl BrokerConnection {
    pub fn new(addr: impl Into<String>, client_id: impl Into<String>) -> BrokerConnection {
        BrokerConnection {
            addr: addr.into(),
            client_id: client_id.into(),
            stream: None,
            correlation_id: 0,
        }
    }

    /// Sends `body` at `version` and waits up to `timeout` for its response. Any failure
    /// closes the connection (the next call reconnects).
    pub async fn call(
        &mut self,
        version: i16,
        body: &RequestBody,
        timeout: Duration,
    ) -> Result<ResponseBody, String> {
        let r = tokio::time::timeout(timeout, self.exchange(version, body)).await;
        match r {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
            Err(_) => {
                self.stream = None;
                Err(format!("{} did not answer within {timeout:?}", self.addr))
            }
        }
    }

    async fn exchange(&mut self, version: i16, body: &RequestBody) -> Result<ResponseBody, String> {
        let api_key = body.api_key();
        let header_version = request_header_version(api_key, version)
            .ok_or_else(|| format!("API {api_key} v{version} is unknown"))?;
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let mut frame = vec![0u8; 4];
        RequestHeader {
            request_api_key: api_key,
            request_api_version: version,
            correlation_id,
            client_id: Some(self.client_id.clone()),
        }
        .encode(header_version, &mut frame)
        .map_err(|e| e.to_string())?;
        body.encode(version, &mut frame)
            .map_err(|e| e.to_string())?;
        let len = i32::try_from(frame.len() - 4).map_err(|_| "request too large".to_string())?;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
            let _ = s.set_nodelay(true);
            self.stream = Some(s);
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream
            .write_all(&frame)
            .await
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let mut len = [0u8; 4];
        stream
            .read_exact(&mut len)
            .await
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let len = i32::from_be_bytes(len);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (4..=MAX_RESPONSE).contains(l))
            .ok_or_else(|| format!("{} sent a response frame of {len} bytes", self.addr))?;
        // Grown as the bytes arrive: a peer that announces a large frame and sends little
        // costs no more memory than it sent.
        let mut buf = Vec::with_capacity(len.min(1 << 20));
        (&mut *stream)
            .take(len as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| format!("{}: {e}", self.addr))?;
        if buf.len() != len {
            return Err(format!(
                "{} closed the connection {} bytes into a response frame of {len}",
                self.addr,
                buf.len()
            ));
        }
        let header_version = response_header_version(api_key, version)
            .ok_or_else(|| format!("API {api_key} v{version} is unknown"))?;
        let mut rest = &buf[..];
        let header =
            ResponseHeader::decode(&mut rest, header_version).map_err(|e| e.to_string())?;
        if header.correlation_id != correlation_id {
            return Err(format!(
                "{} answered correlation id {} to {correlation_id}",
                self.addr, header.correlation_id
            ));
        }
        decode_response(api_key, version, rest).map_err(|e| e.to_string())
    }
}
