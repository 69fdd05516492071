//! The Processor API on the test driver: topologies built by hand, their validation and
//! description, and what a processor's context offers (forwarding, record metadata, stream
//! time, stores, punctuation, commits), against Kafka Streams' semantics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use brook_streams::{
    Cancellable, Header, Processor, ProcessorContext, PunctuationType, Record, Serdes, Stores,
    StreamsConfig, StreamsError, TaskId, Topology, TopologyTestDriver,
};
use brook_streams::{DeserializationHandler, StoreBuilder};

type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn s(x: &str) -> String {
    x.to_owned()
}

/// Upper-cases values.
struct Upper;

impl Processor<String, String> for Upper {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> brook_streams::Result<()> {
        let v = r.value.to_uppercase();
        ctx.forward(r.with_value(v))
    }
}

fn source(t: &mut Topology, name: &str, topics: &[&str]) -> brook_streams::Result<()> {
    t.add_source(name, topics, Serdes::string(), Serdes::string())
        .map(|_| ())
}

fn sink(t: &mut Topology, name: &str, topic: &str, parents: &[&str]) -> brook_streams::Result<()> {
    t.add_sink(name, topic, Serdes::string(), Serdes::string(), parents)
        .map(|_| ())
}

fn kv_store(name: &str) -> StoreBuilder {
    Stores::key_value(name, Serdes::string(), Serdes::i64())
}

/// The message of a topology error.
fn topology_error<T>(r: brook_streams::Result<T>) -> String {
    match r {
        Err(StreamsError::Topology(m)) => m,
        Err(e) => panic!("expected a topology error, got {e:?}"),
        Ok(_) => panic!("expected a topology error"),
    }
}

fn simple() -> Topology {
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    t.add_processor("up", || Upper, &["src"]).unwrap();
    sink(&mut t, "out", "output", &["up"]).unwrap();
    t
}

// ---------------------------------------------------------------------------------------
// Building and validating

#[test]
fn a_hand_built_topology_runs() {
    let driver = TopologyTestDriver::new(simple()).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("hello"), 3).unwrap();
    let out = driver.create_output_topic("output", Serdes::string(), Serdes::string());
    let r = out.read_record().unwrap().unwrap();
    assert_eq!(
        (r.key.as_str(), r.value.as_str(), r.timestamp),
        ("k", "HELLO", 3)
    );
    assert!(out.read_record().unwrap().is_none());
}

#[test]
fn an_unknown_parent_is_refused_naming_it() {
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    let err = topology_error(t.add_processor("p", || Upper, &["ghost"]));
    assert!(err.contains("ghost") && err.contains('p'), "{err}");
    let err = topology_error(sink(&mut t, "snk", "out", &["nope"]));
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn a_duplicate_node_name_is_refused() {
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    t.add_processor("p", || Upper, &["src"]).unwrap();
    let err = topology_error(t.add_processor("p", || Upper, &["src"]));
    assert!(err.contains("p already exists"), "{err}");
    let err = topology_error(source(&mut t, "p", &["other"]));
    assert!(err.contains("p already exists"), "{err}");
    let err = topology_error(sink(&mut t, "src", "x", &["p"]));
    assert!(err.contains("src already exists"), "{err}");
}

#[test]
fn a_node_cannot_be_its_own_parent() {
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    let err = topology_error(t.add_processor("loop", || Upper, &["src", "loop"]));
    assert!(err.contains("loop") && err.contains("own parent"), "{err}");
}

#[test]
fn an_unknown_store_is_refused() {
    let mut t = simple();
    let err = topology_error(t.connect_processor_and_state_stores("up", &["missing"]));
    assert!(err.contains("missing"), "{err}");
    // A store connected to a node that is not a processor.
    t.add_state_store(kv_store("st"), &["up"]).unwrap();
    let err = topology_error(t.connect_processor_and_state_stores("src", &["st"]));
    assert!(err.contains("src"), "{err}");
    let err = topology_error(t.connect_processor_and_state_stores("nobody", &["st"]));
    assert!(err.contains("nobody"), "{err}");
    let err = topology_error(t.add_state_store(kv_store("st"), &["up"]));
    assert!(err.contains("st already exists"), "{err}");
}

#[test]
fn a_store_connected_to_no_processor_fails_validation() {
    let mut t = simple();
    t.add_state_store(kv_store("lonely"), &[]).unwrap();
    let err = topology_error(t.validate());
    assert!(
        err.contains("lonely") && err.contains("not connected"),
        "{err}"
    );
    let err = topology_error(TopologyTestDriver::new(t));
    assert!(err.contains("lonely"), "{err}");
}

#[test]
fn a_topic_read_by_two_sources_is_refused() {
    let mut t = Topology::new();
    source(&mut t, "first", &["a", "shared"]).unwrap();
    let err = topology_error(source(&mut t, "second", &["shared"]));
    assert!(err.contains("shared") && err.contains("first"), "{err}");
    let err = topology_error(source(&mut t, "third", &[]));
    assert!(err.contains("third"), "{err}");
}

#[test]
fn a_sink_cannot_be_a_parent() {
    let mut t = simple();
    let err = topology_error(t.add_processor("after", || Upper, &["out"]));
    assert!(err.contains("out") && err.contains("sink"), "{err}");
    let err = topology_error(sink(&mut t, "s2", "x", &["out"]));
    assert!(err.contains("out") && err.contains("sink"), "{err}");
}

#[test]
fn a_processor_needs_a_parent_and_a_topology_needs_a_source() {
    let mut t = Topology::new();
    let err = topology_error(t.add_processor("p", || Upper, &[]));
    assert!(err.contains('p'), "{err}");
    let err = topology_error(Topology::new().validate());
    assert!(err.contains("no source"), "{err}");
    let err = topology_error(TopologyTestDriver::new(Topology::new()));
    assert!(err.contains("no source"), "{err}");
}

// ---------------------------------------------------------------------------------------
// describe()

#[test]
fn describe_prints_as_kafka_streams_does() {
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: src (topics: [in])
      --> up
    Processor: up (stores: [])
      --> out
      <-- src
    Sink: out (topic: output)
      <-- up

";
    assert_eq!(simple().describe().to_string(), expected);
}

#[test]
fn sub_topologies_are_the_connected_parts_stores_joining_them() {
    let mut t = Topology::new();
    // 0: a -> pa -> (sa, sb); a store shared with pc joins c's part.
    source(&mut t, "a", &["ta"]).unwrap();
    t.add_processor("pa", || Upper, &["a"]).unwrap();
    sink(&mut t, "sa", "oa", &["pa"]).unwrap();
    sink(&mut t, "sb", "ob", &["pa"]).unwrap();
    // 1: b -> pb, on its own.
    source(&mut t, "b", &["tb1", "tb2"]).unwrap();
    t.add_processor("pb", || Upper, &["b"]).unwrap();
    // c -> pc, sharing store st with pa: part of 0.
    source(&mut t, "c", &["tc"]).unwrap();
    t.add_processor("pc", || Upper, &["c"]).unwrap();
    t.add_state_store(kv_store("st"), &["pa", "pc"]).unwrap();
    let subs = t.sub_topologies();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0].id, 0);
    assert_eq!(subs[0].source_topics, vec![s("ta"), s("tc")]);
    assert_eq!(subs[0].sink_topics, vec![s("oa"), s("ob")]);
    assert_eq!(subs[0].stores, vec![s("st")]);
    assert_eq!(subs[1].id, 1);
    assert_eq!(subs[1].source_topics, vec![s("tb1"), s("tb2")]);
    assert!(subs[1].stores.is_empty());

    let text = t.describe().to_string();
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: a (topics: [ta])
      --> pa
    Processor: pa (stores: [st])
      --> sa, sb
      <-- a
    Sink: sa (topic: oa)
      <-- pa
    Sink: sb (topic: ob)
      <-- pa
    Source: c (topics: [tc])
      --> pc
    Processor: pc (stores: [st])
      --> none
      <-- c

   Sub-topology: 1
    Source: b (topics: [tb1, tb2])
      --> pb
    Processor: pb (stores: [])
      --> none
      <-- b

";
    assert_eq!(text, expected);
}

// ---------------------------------------------------------------------------------------
// ProcessorContext: forwarding

/// Forwards each record to every child, and to child `only` a second time.
struct FanOut;

impl Processor<String, String> for FanOut {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> brook_streams::Result<()> {
        ctx.forward(r.clone())?;
        let only = r.value.clone() + "!";
        ctx.forward_to("to-b", r.with_value(only))
    }
}

#[test]
fn forward_reaches_every_child_and_forward_to_one() {
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    t.add_processor("fan", || FanOut, &["src"]).unwrap();
    sink(&mut t, "to-a", "a", &["fan"]).unwrap();
    sink(&mut t, "to-b", "b", &["fan"]).unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("v"), 0).unwrap();
    let a = driver.create_output_topic("a", Serdes::string(), Serdes::string());
    let b = driver.create_output_topic("b", Serdes::string(), Serdes::string());
    assert_eq!(a.read_values_to_list().unwrap(), vec![s("v")]);
    assert_eq!(b.read_values_to_list().unwrap(), vec![s("v"), s("v!")]);
}

#[test]
fn forward_to_an_unknown_child_is_an_error_naming_it() {
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    t.add_processor("fan", || FanOut, &["src"]).unwrap();
    sink(&mut t, "to-a", "a", &["fan"]).unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    let err = topology_error(input.pipe_input_at(s("k"), s("v"), 0));
    assert!(err.contains("to-b") && err.contains("fan"), "{err}");
}

// ---------------------------------------------------------------------------------------
// ProcessorContext: what it knows about the record and the task

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: String,
    task: TaskId,
    app: String,
    timestamp: i64,
    record_timestamp: i64,
    headers: Vec<Header>,
    topic: Option<String>,
    partition: Option<i32>,
    offset: Option<i64>,
    stream_time: i64,
}

struct Observer(Log<Seen>);

impl Processor<String, String> for Observer {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> brook_streams::Result<()> {
        self.0.lock().unwrap().push(Seen {
            name: ctx.name().to_owned(),
            task: ctx.task_id(),
            app: ctx.application_id().to_owned(),
            timestamp: ctx.timestamp(),
            record_timestamp: r.timestamp,
            headers: ctx.headers().clone(),
            topic: ctx.topic().map(str::to_owned),
            partition: ctx.partition(),
            offset: ctx.offset(),
            stream_time: ctx.current_stream_time(),
        });
        ctx.forward(r)
    }
}

fn header(key: &str, value: Option<&[u8]>) -> Header {
    Header {
        key: key.to_owned(),
        value: value.map(Bytes::copy_from_slice),
    }
}

#[test]
fn the_context_knows_the_records_metadata_headers_and_stream_time() {
    let seen = log();
    let mut t = Topology::new();
    source(&mut t, "src", &["in", "in2"]).unwrap();
    let l = seen.clone();
    t.add_processor("obs", move || Observer(l.clone()), &["src"])
        .unwrap();
    sink(&mut t, "snk", "out", &["obs"]).unwrap();
    let config = StreamsConfig::new("ctx-app", "dummy:1");
    let driver = TopologyTestDriver::with_config(t, &config, false, 0).unwrap();
    let h = vec![header("a", Some(b"1")), header("null", None)];
    let v = |x: &str| Some(Bytes::copy_from_slice(x.as_bytes()));
    driver
        .pipe_raw("in", v("k"), v("x"), 10, h.clone())
        .unwrap();
    driver.pipe_raw("in", v("k"), v("y"), 5, vec![]).unwrap();
    driver.pipe_raw("in2", v("k"), v("z"), 20, vec![]).unwrap();
    driver.pipe_raw("in", v("k"), v("w"), 15, vec![]).unwrap();
    let seen = seen.lock().unwrap().clone();
    let expect = |ts, headers: &Vec<Header>, topic: &str, offset, stream_time| Seen {
        name: s("obs"),
        task: TaskId {
            subtopology: 0,
            partition: 0,
        },
        app: s("ctx-app"),
        timestamp: ts,
        record_timestamp: ts,
        headers: headers.clone(),
        topic: Some(s(topic)),
        partition: Some(0),
        offset: Some(offset),
        stream_time,
    };
    assert_eq!(
        seen,
        vec![
            expect(10, &h, "in", 0, 10),
            expect(5, &vec![], "in", 1, 10),
            expect(20, &vec![], "in2", 0, 20),
            expect(15, &vec![], "in", 2, 20),
        ]
    );
    // Headers and timestamps reach the sink.
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    let records = out.read_records_to_list().unwrap();
    assert_eq!(records[0].headers, h);
    let times: Vec<i64> = records.iter().map(|r| r.timestamp).collect();
    assert_eq!(times, vec![10, 5, 20, 15]);
}

/// Forwards each record with a new timestamp and an extra header.
struct Restamp;

impl Processor<String, String> for Restamp {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> brook_streams::Result<()> {
        let ts = r.timestamp + 1000;
        ctx.forward(r.with_timestamp(ts).with_header("added", Some(b"yes")))
    }
}

#[test]
fn a_child_sees_the_forwarded_records_timestamp_and_headers() {
    let seen = log();
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    t.add_processor("restamp", || Restamp, &["src"]).unwrap();
    let l = seen.clone();
    t.add_processor("obs", move || Observer(l.clone()), &["restamp"])
        .unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("v"), 7).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].timestamp, 1007);
    assert_eq!(seen[0].headers, vec![header("added", Some(b"yes"))]);
    // Stream time is the input's.
    assert_eq!(seen[0].stream_time, 7);
}

// ---------------------------------------------------------------------------------------
// Stores

/// Sums values per key in store `sums`, forwards the running sum.
struct Summer;

impl Processor<String, i64> for Summer {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, i64>,
    ) -> brook_streams::Result<()> {
        let store = ctx.key_value_store::<String, i64>("sums")?;
        let sum = store.get(&r.key)?.unwrap_or(0) + r.value;
        store.put(&r.key, &sum)?;
        ctx.forward(r.with_value(sum))
    }
}

fn summer_topology(connect: bool) -> Topology {
    let mut t = Topology::new();
    t.add_source("src", &["in"], Serdes::string(), Serdes::i64())
        .unwrap();
    t.add_processor("sum", || Summer, &["src"]).unwrap();
    t.add_processor("other", || Summer, &["src"]).unwrap();
    t.add_sink("snk", "out", Serdes::string(), Serdes::i64(), &["sum"])
        .unwrap();
    let owner = if connect { "sum" } else { "other" };
    t.add_state_store(kv_store("sums").with_logging_disabled(), &[owner])
        .unwrap();
    t
}

#[test]
fn a_connected_store_is_readable_and_writable() {
    let mut t = Topology::new();
    t.add_source("src", &["in"], Serdes::string(), Serdes::i64())
        .unwrap();
    t.add_processor("sum", || Summer, &["src"]).unwrap();
    t.add_sink("snk", "out", Serdes::string(), Serdes::i64(), &["sum"])
        .unwrap();
    t.add_state_store(kv_store("sums"), &["sum"]).unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    for (k, v) in [("a", 1), ("b", 10), ("a", 2), ("a", -5)] {
        input.pipe_input_at(s(k), v, 0).unwrap();
    }
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    assert_eq!(out.read_values_to_list().unwrap(), vec![1, 10, 3, -2]);
    let store = driver.key_value_store::<String, i64>("sums").unwrap();
    assert_eq!(store.all().unwrap(), vec![(s("a"), -2), (s("b"), 10)]);
    // The driver refuses a store's handle with the wrong types.
    assert!(driver.key_value_store::<String, String>("sums").is_err());
}

#[test]
fn asking_for_an_unconnected_store_is_an_error_naming_processor_and_store() {
    let driver = TopologyTestDriver::new(summer_topology(false)).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    // "other" (connected) runs after "sum" (not connected): the record fails at "sum".
    let err = topology_error(input.pipe_input_at(s("a"), 1, 0));
    assert!(err.contains("sum") && err.contains("sums"), "{err}");
    assert!(err.contains("not connected"), "{err}");
}

/// Opens a store in `init`.
struct OpensInInit(&'static str);

impl Processor<String, String> for OpensInInit {
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> brook_streams::Result<()> {
        ctx.key_value_store::<String, i64>(self.0).map(|_| ())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> brook_streams::Result<()> {
        ctx.forward(r)
    }
}

#[test]
fn an_unconnected_store_in_init_fails_the_driver() {
    let mut t = simple();
    t.add_processor("opener", || OpensInInit("st"), &["src"])
        .unwrap();
    t.add_state_store(kv_store("st"), &["up"]).unwrap();
    let err = topology_error(TopologyTestDriver::new(t));
    assert!(err.contains("opener") && err.contains("st"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Punctuation

/// Schedules a punctuation in `init`; logs (timestamp, ctx.timestamp(), topic) of each
/// firing, forwards a record from it, and cancels itself after `cancel_after` firings.
struct Ticker {
    interval: Duration,
    kind: PunctuationType,
    cancel_after: usize,
    fired: Log<(i64, i64, Option<String>)>,
    id: Option<Cancellable>,
}

impl Processor<String, String> for Ticker {
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> brook_streams::Result<()> {
        self.id = Some(ctx.schedule(self.interval, self.kind)?);
        Ok(())
    }

    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, String, String>,
        _r: Record<String, String>,
    ) -> brook_streams::Result<()> {
        Ok(())
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        id: Cancellable,
        timestamp: i64,
    ) -> brook_streams::Result<()> {
        assert_eq!(Some(id), self.id);
        let mut fired = self.fired.lock().unwrap();
        fired.push((timestamp, ctx.timestamp(), ctx.topic().map(str::to_owned)));
        let n = fired.len();
        drop(fired);
        ctx.forward(Record::new(s("tick"), n.to_string(), timestamp))?;
        if n == self.cancel_after {
            ctx.cancel(id);
        }
        Ok(())
    }
}

fn ticker(
    kind: PunctuationType,
    interval_ms: u64,
    cancel_after: usize,
    wall_clock: i64,
) -> (TopologyTestDriver, Log<(i64, i64, Option<String>)>) {
    let fired = log();
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    let f = fired.clone();
    t.add_processor(
        "ticker",
        move || Ticker {
            interval: Duration::from_millis(interval_ms),
            kind,
            cancel_after,
            fired: f.clone(),
            id: None,
        },
        &["src"],
    )
    .unwrap();
    sink(&mut t, "snk", "ticks", &["ticker"]).unwrap();
    let config = StreamsConfig::new("test-app", "dummy:1");
    let driver = TopologyTestDriver::with_config(t, &config, false, wall_clock).unwrap();
    (driver, fired)
}

fn times(fired: &Log<(i64, i64, Option<String>)>) -> Vec<i64> {
    fired.lock().unwrap().iter().map(|f| f.0).collect()
}

#[test]
fn stream_time_punctuation_fires_once_per_advance_and_stops_when_cancelled() {
    let (driver, fired) = ticker(PunctuationType::StreamTime, 10, 4, 0);
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    let mut pipe = |ts| input.pipe_input_at(s("k"), s("v"), ts).unwrap();
    pipe(12); // fires at 12; next due at 20
    assert_eq!(times(&fired), vec![12]);
    pipe(15); // not due
    pipe(8); // an older record does not move stream time back
    assert_eq!(times(&fired), vec![12]);
    pipe(47); // three intervals passed: fires once; next due at 50
    assert_eq!(times(&fired), vec![12, 47]);
    pipe(49);
    assert_eq!(times(&fired), vec![12, 47]);
    pipe(50); // fires, then at 60; cancelled after the 4th
    pipe(60);
    pipe(100);
    pipe(1000);
    assert_eq!(times(&fired), vec![12, 47, 50, 60]);
    // In a punctuation the context's time is the punctuation's, and there is no record.
    for (ts, ctx_ts, topic) in fired.lock().unwrap().iter() {
        assert_eq!(ts, ctx_ts);
        assert_eq!(*topic, None);
    }
    // What a punctuation forwards reaches the sink.
    let ticks = driver.create_output_topic("ticks", Serdes::string(), Serdes::string());
    let records = ticks.read_records_to_list().unwrap();
    let got: Vec<(String, i64)> = records
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(
        got,
        vec![(s("1"), 12), (s("2"), 47), (s("3"), 50), (s("4"), 60)]
    );
}

#[test]
fn stream_time_punctuation_does_not_move_with_the_wall_clock() {
    let (driver, fired) = ticker(PunctuationType::StreamTime, 10, 100, 0);
    driver
        .advance_wall_clock_time(Duration::from_secs(3600))
        .unwrap();
    assert!(times(&fired).is_empty());
}

/// Kafka Streams aligns stream-time punctuation to 0 and fires "as soon as we have data":
/// the first record (at any time >= 0) fires it.
#[test]
fn stream_time_punctuation_fires_at_the_first_record_as_in_kafka_streams() {
    let (driver, fired) = ticker(PunctuationType::StreamTime, 10, 100, 0);
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("v"), 3).unwrap();
    assert_eq!(times(&fired), vec![3]);
    input.pipe_input_at(s("k"), s("v"), 9).unwrap();
    input.pipe_input_at(s("k"), s("v"), 10).unwrap();
    assert_eq!(times(&fired), vec![3, 10]);
}

#[test]
fn wall_clock_punctuation_fires_as_the_driver_clock_advances() {
    let (driver, fired) = ticker(PunctuationType::WallClockTime, 100, 3, 1000);
    // Records do not fire it.
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("v"), 5000).unwrap();
    assert!(times(&fired).is_empty());
    let advance = |ms| {
        driver
            .advance_wall_clock_time(Duration::from_millis(ms))
            .unwrap()
    };
    advance(50);
    assert!(times(&fired).is_empty());
    advance(50); // 1100
    assert_eq!(times(&fired), vec![1100]);
    advance(250); // 1350: once, next due at 1400
    assert_eq!(times(&fired), vec![1100, 1350]);
    advance(40); // 1390
    assert_eq!(times(&fired), vec![1100, 1350]);
    advance(10); // 1400: third, then cancelled
    advance(1000);
    assert_eq!(times(&fired), vec![1100, 1350, 1400]);
    let ticks = driver.create_output_topic("ticks", Serdes::string(), Serdes::string());
    assert_eq!(
        ticks.read_values_to_list().unwrap(),
        vec![s("1"), s("2"), s("3")]
    );
}

/// Schedules with a zero interval.
struct ZeroInterval;

impl Processor<String, String> for ZeroInterval {
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> brook_streams::Result<()> {
        ctx.schedule(Duration::ZERO, PunctuationType::StreamTime)
            .map(|_| ())
    }

    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, String, String>,
        _r: Record<String, String>,
    ) -> brook_streams::Result<()> {
        Ok(())
    }
}

#[test]
fn a_zero_punctuation_interval_is_refused() {
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    t.add_processor("zero", || ZeroInterval, &["src"]).unwrap();
    match TopologyTestDriver::new(t) {
        Err(StreamsError::Processor { node, .. }) => assert_eq!(node, "zero"),
        Err(e) => panic!("unexpected error {e:?}"),
        Ok(_) => panic!("a zero interval was accepted"),
    }
}

// ---------------------------------------------------------------------------------------
// Commit requests and errors from processors

/// Requests a commit on every record and fails on the value "boom".
struct Committer(Log<String>);

impl Processor<String, String> for Committer {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> brook_streams::Result<()> {
        ctx.commit();
        if r.value == "boom" {
            return Err(StreamsError::processor(ctx.name(), "it went boom"));
        }
        self.0.lock().unwrap().push(r.value.clone());
        ctx.forward(r)
    }
}

#[test]
fn commit_requests_are_harmless_and_a_processor_error_reaches_the_caller() {
    let seen = log();
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    let l = seen.clone();
    t.add_processor("committer", move || Committer(l.clone()), &["src"])
        .unwrap();
    sink(&mut t, "snk", "out", &["committer"]).unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("a"), 0).unwrap();
    match input.pipe_input_at(s("k"), s("boom"), 1) {
        Err(StreamsError::Processor { node, reason }) => {
            assert_eq!(node, "committer");
            assert!(reason.contains("boom"), "{reason}");
        }
        other => panic!("expected the processor's error, got {other:?}"),
    }
    input.pipe_input_at(s("k"), s("b"), 2).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![s("a"), s("b")]);
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    assert_eq!(out.read_values_to_list().unwrap(), vec![s("a"), s("b")]);
}

// ---------------------------------------------------------------------------------------
// Bad input

fn i64_topology() -> Topology {
    let mut t = Topology::new();
    t.add_source("numbers", &["in"], Serdes::string(), Serdes::i64())
        .unwrap();
    t.add_sink("snk", "out", Serdes::string(), Serdes::i64(), &["numbers"])
        .unwrap();
    t
}

fn raw(x: &[u8]) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(x))
}

#[test]
fn a_record_that_does_not_deserialize_fails_by_default() {
    let driver = TopologyTestDriver::new(i64_topology()).unwrap();
    let err = driver
        .pipe_raw("in", raw(b"k"), raw(b"abc"), 0, vec![])
        .unwrap_err();
    match &err {
        StreamsError::Serde { node, what, .. } => {
            assert_eq!(node, "numbers");
            assert!(what.contains("in-0@0"), "{what}");
        }
        e => panic!("expected a serde error, got {e:?}"),
    }
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    assert!(out.is_empty());
}

#[test]
fn log_and_continue_skips_the_bad_record_and_processes_the_next() {
    let mut config = StreamsConfig::new("test-app", "dummy:1");
    config.deserialization_handler = DeserializationHandler::LogAndContinue;
    let driver = TopologyTestDriver::with_config(i64_topology(), &config, false, 0).unwrap();
    driver
        .pipe_raw("in", raw(b"k"), raw(&1i64.to_be_bytes()), 0, vec![])
        .unwrap();
    driver
        .pipe_raw("in", raw(b"k"), raw(b"abc"), 1, vec![])
        .unwrap();
    // A null value cannot be an i64 either.
    driver.pipe_raw("in", raw(b"k"), None, 2, vec![]).unwrap();
    driver
        .pipe_raw("in", raw(b"k"), raw(&3i64.to_be_bytes()), 3, vec![])
        .unwrap();
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    let got: Vec<(i64, i64)> = out
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(got, vec![(1, 0), (3, 3)]);

    let config = StreamsConfig::from_props([
        ("application.id", "x"),
        (
            "default.deserialization.exception.handler",
            "LogAndContinueExceptionHandler",
        ),
    ])
    .unwrap();
    let driver = TopologyTestDriver::with_config(i64_topology(), &config, false, 0).unwrap();
    driver
        .pipe_raw("in", raw(b"k"), raw(b"?"), 0, vec![])
        .unwrap();
}

/// Expects String values.
struct WantsStrings;

impl Processor<String, String> for WantsStrings {
    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, String, String>,
        _r: Record<String, String>,
    ) -> brook_streams::Result<()> {
        Ok(())
    }
}

#[test]
fn wiring_mismatched_types_is_an_error_naming_the_node_not_a_panic() {
    let mut t = Topology::new();
    t.add_source("numbers", &["in"], Serdes::string(), Serdes::i64())
        .unwrap();
    t.add_processor("strings", || WantsStrings, &["numbers"])
        .unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    let err = topology_error(input.pipe_input_at(s("k"), 1, 0));
    assert!(err.contains("strings") && err.contains("i64"), "{err}");

    // The same at a sink with the wrong serde types.
    let mut t = Topology::new();
    t.add_source("numbers", &["in"], Serdes::string(), Serdes::i64())
        .unwrap();
    sink(&mut t, "text-sink", "out", &["numbers"]).unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    let err = topology_error(input.pipe_input_at(s("k"), 1, 0));
    assert!(err.contains("text-sink"), "{err}");
}

#[test]
fn records_with_negative_timestamps_are_skipped() {
    let seen = log();
    let mut t = Topology::new();
    source(&mut t, "src", &["in"]).unwrap();
    let l = seen.clone();
    t.add_processor("obs", move || Observer(l.clone()), &["src"])
        .unwrap();
    sink(&mut t, "snk", "out", &["obs"]).unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("a"), 5).unwrap();
    input.pipe_input_at(s("k"), s("negative"), -1).unwrap();
    input.pipe_input_at(s("k"), s("b"), 3).unwrap();
    let seen = seen.lock().unwrap();
    let offsets: Vec<Option<i64>> = seen.iter().map(|x| x.offset).collect();
    assert_eq!(offsets, vec![Some(0), Some(2)]);
    assert_eq!(seen[1].stream_time, 5);
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    assert_eq!(out.read_values_to_list().unwrap(), vec![s("a"), s("b")]);
}

#[test]
fn piping_into_a_topic_nobody_reads_is_an_error() {
    let driver = TopologyTestDriver::new(simple()).unwrap();
    let mut input = driver.create_input_topic("elsewhere", Serdes::string(), Serdes::string());
    match input.pipe_input_at(s("k"), s("v"), 0) {
        Err(StreamsError::State(m)) => assert!(m.contains("elsewhere"), "{m}"),
        other => panic!("expected a state error, got {other:?}"),
    }
}
