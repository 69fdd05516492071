//! The engine on a real broker: statements recorded in the command topic, the queries run
//! by one streams runtime, and everything back after a restart without reprocessing.

#[path = "../../streams/tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use brook_client::{Consumer, ConsumerConfig, TopicPartition};
use brook_sql::runtime::{RuntimeConfig, SqlRuntime};
use support::TestBroker;

impl TestBroker {
    /// Waits until `topic` partition 0 holds `n` records and returns them as (key, value)
    /// text; then checks for a moment that no more arrive.
    fn read_exactly(&self, topic: &str, n: usize) -> Vec<(String, String)> {
        let out = self.read_until(topic, |rs| rs.len() >= n);
        std::thread::sleep(Duration::from_secs(1));
        let again = self.read_until(topic, |rs| rs.len() >= n);
        assert_eq!(
            again.len(),
            n,
            "not exactly {n} records on {topic}: {again:?}"
        );
        assert_eq!(again[..out.len().min(n)], out[..out.len().min(n)]);
        again
    }
}

impl TestBroker {
    /// Reads `topic` partition 0 until `done` holds for what was read.
    fn read_until(
        &self,
        topic: &str,
        done: impl Fn(&[(String, String)]) -> bool,
    ) -> Vec<(String, String)> {
        self.rt.block_on(async {
            let mut c = Consumer::connect(ConsumerConfig::new(self.addr.clone()))
                .await
                .unwrap();
            let tp = TopicPartition::new(topic, 0);
            c.assign(std::slice::from_ref(&tp));
            c.seek_to_beginning(std::slice::from_ref(&tp)).unwrap();
            let mut out = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !done(&out) {
                assert!(Instant::now() < deadline, "only {out:?} on {topic}");
                for r in c.poll(Duration::from_millis(200)).await.unwrap() {
                    out.push((text(r.key), text(r.value)));
                }
            }
            // And whatever else is there already.
            loop {
                let more = c.poll(Duration::from_millis(300)).await.unwrap();
                if more.is_empty() {
                    break;
                }
                for r in more {
                    out.push((text(r.key), text(r.value)));
                }
            }
            out
        })
    }
}

/// A record field as text (empty for null).
fn text(b: Option<bytes::Bytes>) -> String {
    b.map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[test]
fn queries_survive_a_restart_without_reprocessing() {
    let broker = TestBroker::start();
    broker.create_topic("pageviews", 1);
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig::new(&broker.addr, dir.path());

    let mut sql = SqlRuntime::start(config.clone()).unwrap();
    sql.execute(
        "CREATE STREAM PV (USER_ID STRING KEY, PAGE STRING) WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON');
         CREATE STREAM HOME AS SELECT USER_ID, PAGE FROM PV WHERE PAGE = 'home';",
    )
    .unwrap();
    // A statement that cannot run is refused and not recorded.
    let err = sql
        .execute("CREATE STREAM BAD AS SELECT * FROM NOPE;")
        .unwrap_err();
    assert!(err.to_string().contains("NOPE does not exist"), "{err}");
    sql.execute("INSERT INTO PV (USER_ID, PAGE) VALUES ('u1', 'home'); INSERT INTO PV (USER_ID, PAGE) VALUES ('u2', 'about');")
        .unwrap();
    // A record that does not match its schema is skipped and logged to the processing
    // log topic.
    broker.rt.block_on(async {
        let config = brook_client::producer::ProducerConfig::from_properties([(
            "bootstrap.servers",
            broker.addr.as_str(),
        )])
        .unwrap();
        let p = brook_client::Producer::connect(config).await.unwrap();
        p.send(
            brook_client::ProducerRecord::new("pageviews", bytes::Bytes::from_static(b"not json"))
                .with_key(bytes::Bytes::from_static(b"u9")),
        )
        .await
        .unwrap();
        p.close(Duration::from_secs(5)).await.unwrap();
    });
    let logged = broker.read_until("default_ksql_processing_log", |rs| !rs.is_empty());
    assert!(
        logged[0].1.contains("does not match the schema"),
        "{logged:?}"
    );
    let first = broker.read_exactly("HOME", 1);
    assert_eq!(
        first,
        vec![("u1".to_owned(), r#"{"PAGE":"home"}"#.to_owned())]
    );
    sql.close();

    // A new server with the same service id: the catalog and the query come back from the
    // command topic, and the query goes on from its committed offsets.
    let mut sql = SqlRuntime::start(config.clone()).unwrap();
    let engine = sql.engine();
    assert!(engine.catalog.sources.contains_key("PV"));
    assert!(engine.catalog.sources.contains_key("HOME"));
    assert!(!engine.catalog.sources.contains_key("BAD"));
    assert_eq!(
        engine
            .queries
            .iter()
            .map(|q| q.id.as_str())
            .collect::<Vec<_>>(),
        vec!["CSAS_HOME_0"]
    );
    sql.execute("INSERT INTO PV (USER_ID, PAGE) VALUES ('u3', 'home');")
        .unwrap();
    let all = broker.read_exactly("HOME", 2);
    assert_eq!(all[1], ("u3".to_owned(), r#"{"PAGE":"home"}"#.to_owned()));

    // A second query joins the same runtime. It shares the source with the first, so it
    // goes on from the runtime's position on `pageviews`: it sees what comes next.
    // Terminating it is recorded too.
    sql.execute("CREATE TABLE COUNTS AS SELECT PAGE, COUNT(*) AS N FROM PV GROUP BY PAGE;")
        .unwrap();
    sql.execute(
        "INSERT INTO PV (USER_ID, PAGE) VALUES ('u4', 'home');
         INSERT INTO PV (USER_ID, PAGE) VALUES ('u5', 'about');
         INSERT INTO PV (USER_ID, PAGE) VALUES ('u6', 'home');",
    )
    .unwrap();
    // Updates to a key between commits fold into one (the table cache).
    let counts = broker.read_until("COUNTS", |rs| {
        let last = |k: &str| {
            rs.iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        last("home") == Some(r#"{"N":2}"#) && last("about") == Some(r#"{"N":1}"#)
    });
    assert!(counts.len() <= 3, "{counts:?}");
    // A pull query reads the aggregation's store.
    let home = sql
        .pull("SELECT PAGE, N FROM COUNTS WHERE PAGE = 'home';")
        .unwrap();
    let names: Vec<&str> = home.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["PAGE", "N"]);
    assert_eq!(
        home.rows,
        vec![vec![
            brook_sql::Value::String("home".into()),
            brook_sql::Value::Bigint(2)
        ]]
    );
    let all = sql.pull("SELECT * FROM COUNTS;").unwrap();
    assert_eq!(all.rows.len(), 2);
    // A pull query on a stream reads its topic.
    let home = sql.pull("SELECT * FROM HOME;").unwrap();
    assert!(home.rows.len() >= 2, "{:?}", home.rows);
    assert_eq!(broker.read_exactly("HOME", 4).len(), 4);
    sql.execute("TERMINATE CTAS_COUNTS_1;").unwrap();
    sql.close();
    let sql = SqlRuntime::start(config).unwrap();
    assert_eq!(sql.engine().queries.len(), 1);
    sql.close();
}
