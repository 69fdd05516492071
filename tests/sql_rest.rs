//! The SQL REST API of the real `brook server` binary, over HTTP: statements, push and
//! pull queries in each response shape, inserts, query closing, status endpoints, errors;
//! and headless mode (`--queries-file`): refused statements, a file error with its line,
//! and queries that continue after a restart without reprocessing.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A `brook server` child process, killed on drop.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    kafka: String,
    http: String,
}

impl Server {
    fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_brook"))
            .arg("server")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
            .args(["--set", "group.initial.rebalance.delay.ms=0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            lines,
            kafka: String::new(),
            http: String::new(),
        };
        let line = server.wait_for("brook server started");
        server.kafka = field(&line, "kafka_listener=");
        server.http = format!("http://{}", field(&line, "sql_listener="));
        server
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(e) => panic!("no `{needle}` from the server: {e}"),
            }
        }
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field(line: &str, key: &str) -> String {
    let at = line
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    line[at + key.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_matches('"')
        .to_string()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// POST /ksql; returns the status and the body.
fn ksql(server: &Server, sql: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/ksql", server.http))
        .json(&json!({"ksql": sql, "streamsProperties": {}}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

fn ok_ksql(server: &Server, sql: &str) -> Vec<Value> {
    let (status, body) = ksql(server, sql);
    assert_eq!(status, 200, "{sql}: {body}");
    body.as_array().unwrap().clone()
}

/// POST /query, read to the end; the items of the streamed JSON array.
fn query(server: &Server, sql: &str) -> (u16, Vec<Value>) {
    let r = client()
        .post(format!("{}/query", server.http))
        .json(&json!({"ksql": sql, "streamsProperties": {"ksql.streams.auto.offset.reset": "earliest"}}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    match body {
        Value::Array(items) => (status, items),
        other => (status, vec![other]),
    }
}

/// Retries a pull query until `done` holds for its rows.
fn pull_until(server: &Server, sql: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, items) = query(server, sql);
        assert_eq!(status, 200, "{items:?}");
        let rows: Vec<Value> = items
            .iter()
            .filter_map(|i| i.get("row").map(|r| r["columns"].clone()))
            .collect();
        if done(&rows) {
            return items;
        }
        assert!(Instant::now() < deadline, "{sql}: last answer {items:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rest_api_runs_statements_and_queries_over_http() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let c = client();

    let info: Value = c
        .get(format!("{}/info", server.http))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(info["KsqlServerInfo"]["serverStatus"], "RUNNING");
    let health: Value = c
        .get(format!("{}/healthcheck", server.http))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["isHealthy"], true);

    let created = ok_ksql(
        &server,
        "CREATE STREAM PAGEVIEWS (USER_ID STRING KEY, PAGE STRING) WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON', PARTITIONS=1);",
    );
    assert_eq!(created[0]["@type"], "currentStatus");
    assert_eq!(created[0]["commandStatus"]["status"], "SUCCESS");
    assert_eq!(created[0]["commandStatus"]["message"], "Stream created");
    assert_eq!(created[0]["commandId"], "stream/`PAGEVIEWS`/create");

    // A bad statement: ksqlDB's error body, and nothing after it runs.
    let (status, err) = ksql(
        &server,
        "CREATE STREAM NOPE AS SELECT NO_SUCH_COLUMN FROM PAGEVIEWS; CREATE STREAM NEVER AS SELECT * FROM PAGEVIEWS;",
    );
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["@type"], "statement_error");
    assert_eq!(err["error_code"], 40001);
    assert!(
        err["message"].as_str().unwrap().contains("NO_SUCH_COLUMN"),
        "{err}"
    );
    let (status, err) = ksql(&server, "SELEKT 1;");
    assert_eq!(status, 400);
    assert!(
        err["message"].as_str().unwrap().contains("syntax error"),
        "{err}"
    );

    let table = ok_ksql(
        &server,
        "CREATE TABLE PAGE_COUNTS AS SELECT PAGE, COUNT(*) AS N FROM PAGEVIEWS GROUP BY PAGE;",
    );
    let query_id = table[0]["commandStatus"]["queryId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(query_id, "CTAS_PAGE_COUNTS_0");

    // Inserts: one ack per row, an error for a row that does not fit.
    let body = "{\"target\":\"PAGEVIEWS\"}\n{\"USER_ID\":\"u1\",\"PAGE\":\"home\"}\n{\"USER_ID\":\"u2\",\"PAGE\":\"home\"}\n{\"USER_ID\":\"u1\",\"PAGE\":\"about\"}\n{\"NOPE\":1}\n";
    let acks = c
        .post(format!("{}/inserts-stream", server.http))
        .body(body)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let acks: Vec<Value> = acks
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(acks.len(), 4, "{acks:?}");
    assert!(acks[..3].iter().all(|a| a["status"] == "ok"), "{acks:?}");
    assert_eq!(acks[3]["status"], "error");
    assert_eq!(acks[3]["seq"], 3);

    // A push query with LIMIT: header, rows, final message.
    let (status, items) = query(&server, "SELECT * FROM PAGEVIEWS EMIT CHANGES LIMIT 3;");
    assert_eq!(status, 200);
    assert_eq!(
        items[0]["header"]["schema"], "`USER_ID` STRING, `PAGE` STRING",
        "{items:?}"
    );
    let rows: Vec<&Value> = items.iter().filter_map(|i| i.get("row")).collect();
    assert_eq!(rows.len(), 3, "{items:?}");
    assert_eq!(rows[0]["columns"], json!(["u1", "home"]));
    assert_eq!(items.last().unwrap()["finalMessage"], "Limit Reached");

    // A pull query: the key is marked in the header.
    let items = pull_until(
        &server,
        "SELECT PAGE, N FROM PAGE_COUNTS WHERE PAGE = 'home';",
        |rows| rows == [json!(["home", 2])],
    );
    assert_eq!(
        items[0]["header"]["schema"],
        "`PAGE` STRING KEY, `N` BIGINT"
    );

    // /query-stream, delimited: a push query without LIMIT runs until /close-query.
    let r = c
        .post(format!("{}/query-stream", server.http))
        .json(&json!({"sql": "SELECT PAGE FROM PAGEVIEWS EMIT CHANGES;", "properties": {"auto.offset.reset": "earliest"}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut lines = BufReader::new(r).lines();
    let header: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(header["columnNames"], json!(["PAGE"]));
    assert_eq!(header["columnTypes"], json!(["STRING"]));
    let push_id = header["queryId"].as_str().unwrap().to_string();
    let mut pages = Vec::new();
    for _ in 0..3 {
        let row: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        pages.push(row[0].as_str().unwrap().to_string());
    }
    assert_eq!(pages, ["home", "home", "about"]);
    let closed = c
        .post(format!("{}/close-query", server.http))
        .json(&json!({ "queryId": push_id }))
        .send()
        .unwrap();
    assert_eq!(closed.status().as_u16(), 200);
    // The stream ends once the query is closed.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().all(|l| l.trim().is_empty()), "{rest:?}");
    let again = c
        .post(format!("{}/close-query", server.http))
        .json(&json!({ "queryId": push_id }))
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 400);

    // /query-stream as Arrow IPC: a stream that starts with the IPC continuation marker.
    let mut r = c
        .post(format!("{}/query-stream", server.http))
        .header("Accept", "application/vnd.apache.arrow.stream")
        .json(&json!({"sql": "SELECT * FROM PAGE_COUNTS;"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes).unwrap();
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    let schema = reader.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["PAGE", "N"]);
    let batches: Vec<arrow_array::RecordBatch> = reader.map(Result::unwrap).collect();
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(total, 2);

    // PRINT streams the topic's records as text.
    let printed = c
        .post(format!("{}/query", server.http))
        .json(&json!({"ksql": "PRINT 'pageviews' FROM BEGINNING LIMIT 2;"}))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(lines[0].contains("key: u1"), "{printed}");
    assert!(lines[0].contains(r#"value: {"PAGE":"home"}"#), "{printed}");
    assert!(lines[1].contains("key: u2"), "{printed}");

    // Listings as ksqlDB's entities.
    let streams = ok_ksql(&server, "SHOW STREAMS;");
    assert_eq!(streams[0]["@type"], "streams");
    let names: Vec<&str> = streams[0]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"PAGEVIEWS"), "{names:?}");
    let queries = ok_ksql(&server, "SHOW QUERIES;");
    assert_eq!(queries[0]["queries"][0]["id"], query_id.as_str());
    let described = ok_ksql(&server, "DESCRIBE PAGE_COUNTS;");
    let fields = &described[0]["sourceDescription"]["fields"];
    assert_eq!(fields[0]["name"], "PAGE");
    assert_eq!(fields[0]["type"], "KEY");
    assert_eq!(fields[1]["schema"]["type"], "BIGINT");
    let status: Value = c
        .get(format!("{}/status", server.http))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        status["commandStatuses"]["table/`PAGE_COUNTS`/create"],
        "SUCCESS"
    );
    // A query sent to /ksql is refused with ksqlDB's pointer to /query.
    let (status, err) = ksql(&server, "SELECT * FROM PAGE_COUNTS;");
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("/query"));
    // A bad body is a 400, not a crash; the server keeps serving.
    let bad = c
        .post(format!("{}/ksql", server.http))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(ok_ksql(&server, "SHOW TABLES;")[0]["@type"], "tables");
    server.stop();
}

fn produce(kafka: &str, topic: &str, records: &[(&str, &str)]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = brook_client::producer::ProducerConfig::from_properties([
            ("bootstrap.servers", kafka),
            ("acks", "all"),
        ])
        .unwrap();
        let p = brook_client::Producer::connect(config).await.unwrap();
        for (k, v) in records {
            p.send(
                brook_client::ProducerRecord::new(topic, bytes::Bytes::from(v.to_string()))
                    .with_key(bytes::Bytes::from(k.to_string())),
            )
            .await
            .unwrap();
        }
        p.close(Duration::from_secs(5)).await.unwrap();
    });
}

/// Reads `topic` from the beginning until `n` records arrived (and a little longer, to
/// catch extra ones); returns the values.
fn consume(kafka: &str, topic: &str, n: usize) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c =
            brook_client::Consumer::connect(brook_client::ConsumerConfig::new(kafka.to_string()))
                .await
                .unwrap();
        let tp = brook_client::TopicPartition::new(topic, 0);
        c.assign(std::slice::from_ref(&tp));
        c.seek_to_beginning(std::slice::from_ref(&tp)).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet_until = None;
        loop {
            for r in c.poll(Duration::from_millis(200)).await.unwrap() {
                out.push(String::from_utf8_lossy(&r.value.unwrap_or_default()).to_string());
            }
            if out.len() >= n && quiet_until.is_none() {
                quiet_until = Some(Instant::now() + Duration::from_secs(2));
            }
            if quiet_until.is_some_and(|q| Instant::now() > q) {
                return out;
            }
            assert!(Instant::now() < deadline, "{topic}: {out:?}");
        }
    })
}

#[test]
fn headless_server_runs_its_file_and_continues_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("app.sql");
    std::fs::write(
        &file,
        "-- the app\nCREATE STREAM CLICKS (USER_ID STRING KEY, PAGE STRING)\n  WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', PARTITIONS=1);\nCREATE TABLE CLICK_COUNTS AS SELECT USER_ID, COUNT(*) AS N FROM CLICKS GROUP BY USER_ID;\n",
    )
    .unwrap();
    let logs = data.path().join("data");
    let args = [
        "--queries-file",
        file.to_str().unwrap(),
        "--sql-set",
        "ksql.streams.cache.max.bytes.buffering=0",
    ];
    let server = Server::start(&logs, &args);
    // Statements and queries over REST are refused; status endpoints answer.
    let (status, err) = ksql(&server, "SHOW STREAMS;");
    assert_eq!(status, 403, "{err}");
    assert_eq!(err["error_code"], 40301);
    let (status, _) = query(&server, "SELECT * FROM CLICK_COUNTS;");
    assert_eq!(status, 403);
    let info = client()
        .get(format!("{}/info", server.http))
        .send()
        .unwrap();
    assert_eq!(info.status().as_u16(), 200);

    let click = r#"{"PAGE":"home"}"#;
    produce(
        &server.kafka,
        "clicks",
        &[("u1", click), ("u1", click), ("u1", click)],
    );
    let counts = consume(&server.kafka, "CLICK_COUNTS", 3);
    assert_eq!(counts, [r#"{"N":1}"#, r#"{"N":2}"#, r#"{"N":3}"#]);
    server.stop();

    // The same file again: the query continues where it was (no record is counted
    // twice, nothing is emitted again).
    let server = Server::start(&logs, &args);
    produce(&server.kafka, "clicks", &[("u1", click)]);
    let counts = consume(&server.kafka, "CLICK_COUNTS", 4);
    assert_eq!(
        counts,
        [r#"{"N":1}"#, r#"{"N":2}"#, r#"{"N":3}"#, r#"{"N":4}"#]
    );
    server.stop();

    // An error in the file stops the start with its line and reason.
    let bad = data.path().join("bad.sql");
    std::fs::write(
        &bad,
        "CREATE STREAM A (K STRING KEY, V INT)\n  WITH (KAFKA_TOPIC='a', VALUE_FORMAT='JSON', PARTITIONS=1);\nCREATE STREAM B AS SELECT NOPE FROM A;\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_brook"))
        .arg("server")
        .arg("--data-dir")
        .arg(data.path().join("bad-data"))
        .args(["--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .arg("--queries-file")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.sql"), "{err}");
    assert!(err.contains("line 3:"), "{err}");
    assert!(err.contains("NOPE"), "{err}");
}

#[test]
fn servers_with_one_service_id_share_the_catalog_and_the_work() {
    let data = tempfile::tempdir().unwrap();
    let a = Server::start(&data.path().join("a"), &[]);
    let bootstrap = a.kafka.clone();
    // The second server runs only the SQL engine, on the first one's broker.
    let b = Server::start(&data.path().join("b"), &["--bootstrap", &bootstrap]);
    ok_ksql(
        &a,
        "CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=2); CREATE STREAM T AS SELECT * FROM S;",
    );
    // B learns the statements from the command topic.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = ok_ksql(&b, "SHOW STREAMS;");
        let names: Vec<String> = listed[0]["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        if names.contains(&"T".to_string()) {
            break;
        }
        assert!(Instant::now() < deadline, "B never saw T: {names:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Both servers are members of the query runtime's group, each with a partition.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let members = rt.block_on(async {
            let admin = brook_client::Admin::connect(&bootstrap, Default::default())
                .await
                .unwrap();
            let g = admin
                .describe_groups(&["_confluent-ksql-default_"])
                .await
                .unwrap();
            match g.get("_confluent-ksql-default_") {
                Some(Ok(d)) if d.state == "Stable" => d
                    .members
                    .iter()
                    .map(|m| m.assignment.len())
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            }
        });
        if members.len() == 2 && members.iter().all(|n| *n >= 1) {
            break;
        }
        assert!(Instant::now() < deadline, "members: {members:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // Every record is processed once, whichever server has its partition.
    let records: Vec<(String, String)> = (0..10)
        .map(|i| (format!("k{i}"), format!("{{\"V\":{i}}}")))
        .collect();
    let refs: Vec<(&str, &str)> = records
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    produce(&bootstrap, "s", &refs);
    let rt2 = tokio::runtime::Runtime::new().unwrap();
    let seen = rt2.block_on(async {
        let mut c =
            brook_client::Consumer::connect(brook_client::ConsumerConfig::new(bootstrap.clone()))
                .await
                .unwrap();
        let tps = [
            brook_client::TopicPartition::new("T", 0),
            brook_client::TopicPartition::new("T", 1),
        ];
        c.assign(&tps);
        c.seek_to_beginning(&tps).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet = None;
        loop {
            for r in c.poll(Duration::from_millis(200)).await.unwrap() {
                out.push(String::from_utf8_lossy(&r.key.unwrap_or_default()).to_string());
            }
            if out.len() >= 10 && quiet.is_none() {
                quiet = Some(Instant::now() + Duration::from_secs(2));
            }
            if quiet.is_some_and(|q| Instant::now() > q) || Instant::now() > deadline {
                return out;
            }
        }
    });
    let mut seen = seen;
    seen.sort();
    let mut want: Vec<String> = records.iter().map(|(k, _)| k.clone()).collect();
    want.sort();
    assert_eq!(seen, want);
    b.stop();
    a.stop();
}
