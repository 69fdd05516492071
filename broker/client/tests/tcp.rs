//! `TcpTransport` against fake brokers that answer from a script: framing, correlation,
//! negotiation, timeouts, and hostile or broken responses (errors, never panics or hangs).

use std::time::Duration;

use brook_client::transport::request;
use brook_client::{ClientError, TcpConfig, TcpTransport, Transport};
use brook_protocol::messages::api_versions_response::ApiVersion;
use brook_protocol::messages::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn config() -> TcpConfig {
    TcpConfig {
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        ..TcpConfig::default()
    }
}

async fn read_request(s: &mut TcpStream) -> Option<(RequestHeader, Vec<u8>)> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.ok()?;
    let mut buf = vec![0; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).await.ok()?;
    let mut rest = &buf[..];
    let header = decode_request_header(&mut rest).unwrap();
    let body = rest.to_vec();
    Some((header, body))
}

fn response_frame(correlation_id: i32, api_key: i16, version: i16, body: &ResponseBody) -> Vec<u8> {
    let mut frame = vec![0; 4];
    ResponseHeader { correlation_id }
        .encode(
            response_header_version(api_key, version).unwrap(),
            &mut frame,
        )
        .unwrap();
    body.encode(version, &mut frame).unwrap();
    let len = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    frame
}

fn api_versions_body(error_code: i16, apis: &[(i16, i16, i16)]) -> ResponseBody {
    ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code,
        api_keys: apis
            .iter()
            .map(|&(api_key, min_version, max_version)| ApiVersion {
                api_key,
                min_version,
                max_version,
            })
            .collect(),
        ..Default::default()
    })
}

const APIS: &[(i16, i16, i16)] = &[(18, 0, 3), (3, 0, 12)];

/// Answers the client's ApiVersions request.
async fn handshake(s: &mut TcpStream) {
    let (h, _) = read_request(s).await.unwrap();
    assert_eq!(h.request_api_key, 18);
    let body = api_versions_body(0, APIS);
    let frame = response_frame(h.correlation_id, 18, h.request_api_version, &body);
    s.write_all(&frame).await.unwrap();
}

/// A listener and a client connected to it; `script` runs the server side.
async fn with_server<F, Fut>(script: F) -> TcpTransport
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        handshake(&mut s).await;
        script(s).await;
    });
    TcpTransport::connect("127.0.0.1", port, config())
        .await
        .unwrap()
}

fn metadata_body(controller_id: i32) -> ResponseBody {
    ResponseBody::Metadata(MetadataResponse {
        controller_id,
        ..Default::default()
    })
}

#[tokio::test]
async fn pipelined_requests_are_matched_in_order() {
    let t = with_server(|mut s| async move {
        // Read ten requests before answering any, then answer all in one write.
        let mut out = Vec::new();
        for i in 0..10 {
            let (h, _) = read_request(&mut s).await.unwrap();
            out.extend(response_frame(
                h.correlation_id,
                3,
                h.request_api_version,
                &metadata_body(i),
            ));
        }
        s.write_all(&out).await.unwrap();
        // Keep the connection open until the client goes.
        let _ = s.read(&mut [0u8; 1]).await;
    })
    .await;
    assert_eq!(t.version_for(3, 9), Some(9));
    assert_eq!(t.version_for(0, 9), None);
    let t = std::sync::Arc::new(t);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            request(&*t, 9, MetadataRequest::default()).await
        }));
        // Keep the order of sends deterministic, so answer i goes to task i.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let (v, r) = task.await.unwrap().unwrap();
        assert_eq!(v, 9);
        assert_eq!(r.controller_id, i as i32);
    }
}

#[tokio::test]
async fn api_versions_falls_back_to_v0() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        // An old broker: answers v3 with UNSUPPORTED_VERSION in a v0 body.
        let (h, _) = read_request(&mut s).await.unwrap();
        assert_eq!(h.request_api_version, 3);
        let body = api_versions_body(35, &[(18, 0, 2)]);
        s.write_all(&response_frame(h.correlation_id, 18, 0, &body))
            .await
            .unwrap();
        let (h, _) = read_request(&mut s).await.unwrap();
        let v = h.request_api_version;
        let body = api_versions_body(0, &[(18, 0, 2), (3, 0, 5)]);
        s.write_all(&response_frame(h.correlation_id, 18, v, &body))
            .await
            .unwrap();
        let _ = s.read(&mut [0u8; 1]).await;
        v
    });
    let t = TcpTransport::connect("127.0.0.1", port, config())
        .await
        .unwrap();
    assert_eq!(t.version_for(3, 12), Some(5));
    drop(t);
    assert_eq!(server.await.unwrap(), 2);
}

#[tokio::test]
async fn dead_address_is_a_connection_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let started = std::time::Instant::now();
    let e = TcpTransport::connect("127.0.0.1", port, config())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The admin client says the same.
    let e = brook_client::Admin::connect(&format!("127.0.0.1:{port}"), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
}

#[tokio::test]
async fn silent_broker_times_out() {
    // A broker that accepts but never answers ApiVersions: connect times out.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let cfg = TcpConfig {
        connect_timeout: Duration::from_millis(300),
        ..config()
    };
    let e = TcpTransport::connect("127.0.0.1", port, cfg)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::ConnectTimeout { .. }), "{e}");

    // A broker that stops answering after the handshake: the request times out.
    let t = with_server(|mut s| async move {
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    let started = std::time::Instant::now();
    let e = request(&t, 12, MetadataRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Timeout {
                api: "Metadata",
                ..
            }
        ),
        "{e}"
    );
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Runs `reply` as the answer to the first request and returns the client's error.
async fn hostile(reply: impl FnOnce(i32) -> Vec<u8> + Send + 'static, close: bool) -> ClientError {
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    let t = with_server(move |mut s| async move {
        let (h, _) = read_request(&mut s).await.unwrap();
        let _ = s.write_all(&reply(h.correlation_id)).await;
        if close {
            drop(s);
        } else {
            // Reports whether the client closed its side within 5 s.
            let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut [0u8; 1])).await;
            let _ = closed_tx.send(matches!(r, Ok(Ok(0)) | Ok(Err(_))));
        }
    })
    .await;
    let e = request(&t, 12, MetadataRequest::default())
        .await
        .unwrap_err();
    // The connection is unusable afterwards, says so at once, and is closed.
    if !matches!(e, ClientError::Decode { .. }) {
        assert!(t.is_closed());
        let again = request(&t, 12, MetadataRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(again, ClientError::Disconnected { .. }), "{again}");
        if !close {
            assert!(closed_rx.await.unwrap(), "the client kept the socket open");
        }
    }
    e
}

#[tokio::test]
async fn hostile_responses_are_errors() {
    // A 2 GiB length prefix: refused without allocating.
    let e = hostile(|_| vec![0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0], false).await;
    assert!(
        matches!(&e, ClientError::Disconnected { reason, .. } if reason.contains("frame length")),
        "{e}"
    );
    // A negative length.
    let e = hostile(|_| vec![0xff, 0xff, 0xff, 0xfe], false).await;
    assert!(
        matches!(&e, ClientError::Disconnected { reason, .. } if reason.contains("frame length")),
        "{e}"
    );
    // A frame of 100 MiB announced, 10 bytes sent, then the connection closes.
    let e = hostile(
        |c| {
            let mut f = (100i32 << 20).to_be_bytes().to_vec();
            f.extend_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&[0; 6]);
            f
        },
        true,
    )
    .await;
    assert!(
        matches!(&e, ClientError::Disconnected { reason, .. } if reason.contains("mid-frame")),
        "{e}"
    );
    // Another request's correlation id.
    let e = hostile(|c| response_frame(c + 7, 3, 12, &metadata_body(0)), false).await;
    assert!(
        matches!(&e, ClientError::Disconnected { reason, .. } if reason.contains("correlation id")),
        "{e}"
    );
    // A well-framed but undecodable body: that request fails, the framing is intact.
    let e = hostile(
        |c| {
            let mut f = 9i32.to_be_bytes().to_vec();
            f.extend_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&[0, 0x7f, 0xff, 0xff, 0xff]);
            f
        },
        false,
    )
    .await;
    assert!(
        matches!(
            e,
            ClientError::Decode {
                api: "Metadata",
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn dropped_connection_fails_everything_in_flight() {
    let t = with_server(|mut s| async move {
        for _ in 0..5 {
            read_request(&mut s).await.unwrap();
        }
        drop(s);
    })
    .await;
    let t = std::sync::Arc::new(t);
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move { request(&*t, 12, MetadataRequest::default()).await })
        })
        .collect();
    // Each fails as disconnected, not by its 500 ms request timeout (a Timeout error).
    for task in tasks {
        let e = task.await.unwrap().unwrap_err();
        assert!(
            matches!(&e, ClientError::Disconnected { reason, .. } if reason.contains("closed the connection")),
            "{e}"
        );
    }
    // A request without a response fails too once the connection is gone.
    let e = t
        .send(11, RequestBody::Produce(ProduceRequest::default()))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Disconnected { .. }), "{e}");
}

#[tokio::test]
async fn requests_without_response_are_written() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let t = with_server(|mut s| async move {
        let (h, _) = read_request(&mut s).await.unwrap();
        let _ = tx.send(h.request_api_key);
        let _ = s.read(&mut [0u8; 1]).await;
    })
    .await;
    let produce = ProduceRequest {
        acks: 0,
        ..Default::default()
    };
    t.send(9, RequestBody::Produce(produce)).await.unwrap();
    assert_eq!(rx.await.unwrap(), 0);
}
