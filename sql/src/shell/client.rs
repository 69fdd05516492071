//! The shell's HTTP client for Brook's ksqlDB-compatible REST API (`/info`, `/ksql`,
//! `/query`).
//!
//! Requests run on a small current-thread tokio runtime owned by the client, so that in an
//! interactive session every request, and above all a push query that streams until it is
//! stopped, can be raced against Ctrl-C: dropping the response closes the connection, which
//! is how a ksqlDB-compatible server learns that a push query should end.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{json, Value};

/// Why a request did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestError {
    /// No connection could be made.
    Unreachable { server: String, reason: String },
    /// The connection broke, or the request could not be sent.
    Transport { server: String, reason: String },
    /// The server answered with an error status; `message` is the body's `message`.
    Server { status: u16, message: String },
    /// The server answered 2xx with a body the shell cannot read.
    Protocol(String),
    /// The user pressed Ctrl-C.
    Interrupted,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Unreachable { server, reason } => {
                write!(f, "Cannot reach the Brook server at {server}: {reason}")
            }
            RequestError::Transport { server, reason } => {
                write!(
                    f,
                    "The request to the Brook server at {server} failed: {reason}"
                )
            }
            RequestError::Server { message, .. } => f.write_str(message),
            RequestError::Protocol(message) => {
                write!(f, "Unexpected response from the server: {message}")
            }
            RequestError::Interrupted => f.write_str("Interrupted"),
        }
    }
}

/// How a streamed query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryEnd {
    /// The server closed the stream (a LIMIT was reached, a pull query finished).
    Completed,
    /// Ctrl-C: the response was dropped, closing the connection.
    Interrupted,
    /// The chunk handler asked to stop reading.
    Stopped,
}

/// The properties and variables sent with every request.
pub(crate) struct RequestContext<'a> {
    pub properties: &'a BTreeMap<String, String>,
    pub variables: &'a BTreeMap<String, String>,
}

impl RequestContext<'_> {
    fn body(&self, statement: &str) -> Value {
        json!({
            "ksql": format!("{statement};"),
            "streamsProperties": self.properties,
            "sessionVariables": self.variables,
        })
    }
}

pub(crate) struct Client {
    server: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    interruptible: bool,
}

impl Client {
    /// A client for `server` (a base URL such as `http://localhost:8088`). With
    /// `interruptible`, Ctrl-C cancels the request in flight (interactive sessions only:
    /// listening for Ctrl-C replaces the default action of SIGINT, ending the process).
    pub(crate) fn new(server: &str, interruptible: bool) -> std::io::Result<Client> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .map_err(std::io::Error::other)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Client {
            server: normalize_server(server),
            http,
            runtime,
            interruptible,
        })
    }

    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// `GET /info`.
    pub(crate) fn info(&self) -> Result<Value, RequestError> {
        let request = self.http.get(format!("{}/info", self.server));
        self.json_request(request)
    }

    /// `POST /ksql` with one statement; the server's entities.
    pub(crate) fn ksql(
        &self,
        statement: &str,
        context: &RequestContext<'_>,
    ) -> Result<Vec<Value>, RequestError> {
        let request = self
            .http
            .post(format!("{}/ksql", self.server))
            .header("Accept", "application/json")
            .json(&context.body(statement));
        match self.json_request(request)? {
            Value::Array(entities) => Ok(entities),
            other => Err(RequestError::Protocol(format!(
                "expected a JSON array of entities, got {other}"
            ))),
        }
    }

    /// `POST /query`: calls `on_chunk` with the bytes of the streamed response as they arrive.
    pub(crate) fn query(
        &self,
        statement: &str,
        context: &RequestContext<'_>,
        on_chunk: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<QueryEnd, RequestError> {
        let request = self
            .http
            .post(format!("{}/query", self.server))
            .header("Accept", "application/json")
            .json(&context.body(statement));
        let mut interrupt = self.interrupt();
        self.runtime.block_on(async {
            let mut response = tokio::select! {
                response = request.send() => response.map_err(|e| self.error(e))?,
                _ = &mut interrupt => return Ok(QueryEnd::Interrupted),
            };
            let status = response.status();
            if !status.is_success() {
                let body = tokio::select! {
                    body = response.text() => body.unwrap_or_default(),
                    _ = &mut interrupt => return Ok(QueryEnd::Interrupted),
                };
                return Err(server_error(status.as_u16(), &body));
            }
            loop {
                let chunk = tokio::select! {
                    chunk = response.chunk() => chunk.map_err(|e| self.error(e))?,
                    _ = &mut interrupt => return Ok(QueryEnd::Interrupted),
                };
                let Some(chunk) = chunk else { break };
                if on_chunk(&chunk).is_break() {
                    return Ok(QueryEnd::Stopped);
                }
            }
            Ok(QueryEnd::Completed)
        })
    }

    fn json_request(&self, request: reqwest::RequestBuilder) -> Result<Value, RequestError> {
        let mut interrupt = self.interrupt();
        self.runtime.block_on(async {
            let response = tokio::select! {
                response = request.send() => response.map_err(|e| self.error(e))?,
                _ = &mut interrupt => return Err(RequestError::Interrupted),
            };
            let status = response.status();
            let body = tokio::select! {
                body = response.text() => body.map_err(|e| self.error(e))?,
                _ = &mut interrupt => return Err(RequestError::Interrupted),
            };
            if !status.is_success() {
                return Err(server_error(status.as_u16(), &body));
            }
            serde_json::from_str(&body).map_err(|e| RequestError::Protocol(format!("{e}: {body}")))
        })
    }

    /// A future that completes on Ctrl-C (never, when the client is not interruptible).
    fn interrupt(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        if self.interruptible {
            Box::pin(async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
        } else {
            Box::pin(std::future::pending())
        }
    }

    fn error(&self, error: reqwest::Error) -> RequestError {
        let reason = innermost_reason(&error);
        if error.is_connect() || (error.is_timeout() && !error.is_body()) {
            RequestError::Unreachable {
                server: self.server.clone(),
                reason,
            }
        } else {
            RequestError::Transport {
                server: self.server.clone(),
                reason,
            }
        }
    }
}

/// `localhost:8088/` -> `http://localhost:8088`.
pub(crate) fn normalize_server(server: &str) -> String {
    let server = server.trim().trim_end_matches('/');
    if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    }
}

/// The error of an error response: the body's `message` when it is a ksqlDB error entity.
pub(crate) fn server_error(status: u16, body: &str) -> RequestError {
    let message = match serde_json::from_str::<Value>(body) {
        Ok(value) => match value.get("message").and_then(Value::as_str) {
            Some(message) => message.to_string(),
            None => format!("HTTP {status}: {value}"),
        },
        Err(_) if body.trim().is_empty() => format!("HTTP {status}"),
        Err(_) => format!("HTTP {status}: {}", body.trim()),
    };
    RequestError::Server { status, message }
}

/// The most specific cause in an error's chain, e.g. `Connection refused (os error 111)`
/// rather than reqwest's `error sending request for url (...)`.
fn innermost_reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_show_the_message() {
        let body = r#"{"@type":"statement_error","error_code":40001,
            "message":"Stream S does not exist.","statementText":"SELECT * FROM S;","entities":[]}"#;
        let error = server_error(400, body);
        assert_eq!(error.to_string(), "Stream S does not exist.");
        assert_eq!(server_error(502, "").to_string(), "HTTP 502");
        assert_eq!(server_error(500, "boom\n").to_string(), "HTTP 500: boom");
        assert_eq!(
            server_error(404, r#"{"error":"x"}"#).to_string(),
            r#"HTTP 404: {"error":"x"}"#
        );
    }

    #[test]
    fn unreachable_servers_are_named() {
        let error = RequestError::Unreachable {
            server: "http://localhost:8088".into(),
            reason: "Connection refused (os error 111)".into(),
        };
        assert_eq!(
            error.to_string(),
            "Cannot reach the Brook server at http://localhost:8088: Connection refused (os error 111)"
        );
    }

    #[test]
    fn normalizes_server_addresses() {
        assert_eq!(normalize_server("localhost:8088"), "http://localhost:8088");
        assert_eq!(
            normalize_server("http://127.0.0.1:8088/"),
            "http://127.0.0.1:8088"
        );
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        // Bind and drop a listener to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind");
        let client = Client::new(&format!("127.0.0.1:{port}"), false).expect("client");
        match client.info() {
            Err(RequestError::Unreachable { server, reason }) => {
                assert_eq!(server, format!("http://127.0.0.1:{port}"));
                assert!(!reason.is_empty());
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }

    #[test]
    fn request_bodies_carry_properties_and_variables() {
        let mut properties = BTreeMap::new();
        properties.insert("auto.offset.reset".to_string(), "earliest".to_string());
        let variables = BTreeMap::new();
        let context = RequestContext {
            properties: &properties,
            variables: &variables,
        };
        assert_eq!(
            context.body("SHOW STREAMS"),
            json!({"ksql": "SHOW STREAMS;",
                   "streamsProperties": {"auto.offset.reset": "earliest"},
                   "sessionVariables": {}})
        );
    }
}
