//! Every DSL operator on the test driver, against Kafka Streams' semantics: what each one
//! emits, with which timestamps and headers, what it keeps in its store, how it shows in
//! `describe()`, and which mistakes `build()` reports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use brook_streams::processor::RecordMetadata;
use brook_streams::{
    Branched, Change, Consumed, Data, Grouped, Header, KStream, KTable, Materialized, Named,
    Processor, ProcessorContext, Produced, Record, SerdeRef, Serdes, Stores, StreamsBuilder,
    StreamsConfig, StreamsError, TestRecord, Topology, TopologyTestDriver,
};

fn s(x: &str) -> String {
    x.to_owned()
}

/// (key, value, timestamp) piped into topic `in`.
const INPUT: &[(&str, i64, i64)] = &[("a", 1, 10), ("b", 2, 20), ("c", 3, 30), ("a", 4, 40)];

/// Builds `source("in": String -> i64) |> op |> to("out")`, pipes `input` and returns what
/// `out` received.
fn through<KO: Data, VO: Data>(
    op: impl FnOnce(&KStream<String, i64>) -> KStream<KO, VO>,
    ko: SerdeRef<KO>,
    vo: SerdeRef<VO>,
    input: &[(&str, i64, i64)],
) -> Vec<TestRecord<KO, VO>> {
    let builder = StreamsBuilder::new();
    let stream = builder.stream(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    op(&stream).to("out", Produced::with(ko.clone(), vo.clone()));
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let mut topic = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    for (k, v, ts) in input {
        topic.pipe_input_at(s(k), *v, *ts).unwrap();
    }
    let out = driver.create_output_topic("out", ko, vo);
    out.read_records_to_list().unwrap()
}

/// (key, value, timestamp) of each record.
fn kvt<K, V>(records: Vec<TestRecord<K, V>>) -> Vec<(K, V, i64)> {
    records
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn owned(v: &[(&str, i64, i64)]) -> Vec<(String, i64, i64)> {
    v.iter().map(|(k, v, t)| (s(k), *v, *t)).collect()
}

fn header(key: &str, value: &[u8]) -> Header {
    Header {
        key: key.to_owned(),
        value: Some(Bytes::copy_from_slice(value)),
    }
}

fn i64_bytes(v: i64) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(&v.to_be_bytes()))
}

fn str_bytes(v: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(v.as_bytes()))
}

fn topology_error(r: brook_streams::Result<Topology>) -> String {
    match r {
        Err(StreamsError::Topology(m)) => m,
        Err(e) => panic!("expected a topology error, got {e:?}"),
        Ok(t) => panic!(
            "expected a topology error, got a topology:\n{}",
            t.describe()
        ),
    }
}

// ---------------------------------------------------------------------------------------
// KStream: stateless operators

#[test]
fn filter_keeps_matching_records_and_filter_not_the_others() {
    let kept = through(
        |s| s.filter(|_, v| *v > 2),
        Serdes::string(),
        Serdes::i64(),
        INPUT,
    );
    assert_eq!(kvt(kept), owned(&[("c", 3, 30), ("a", 4, 40)]));
    let dropped = through(
        |s| s.filter_not(|_, v| *v > 2),
        Serdes::string(),
        Serdes::i64(),
        INPUT,
    );
    assert_eq!(kvt(dropped), owned(&[("a", 1, 10), ("b", 2, 20)]));
    let by_key = through(
        |s| s.filter(|k, _| k == "a"),
        Serdes::string(),
        Serdes::i64(),
        INPUT,
    );
    assert_eq!(kvt(by_key), owned(&[("a", 1, 10), ("a", 4, 40)]));
}

#[test]
fn map_replaces_key_and_value_keeping_the_timestamp() {
    let out = through(
        |s| s.map(|k, v| (v * 100, format!("{k}!"))),
        Serdes::i64(),
        Serdes::string(),
        INPUT,
    );
    assert_eq!(
        kvt(out),
        vec![
            (100, s("a!"), 10),
            (200, s("b!"), 20),
            (300, s("c!"), 30),
            (400, s("a!"), 40)
        ]
    );
}

#[test]
fn map_values_and_map_values_with_key_keep_the_key() {
    let out = through(
        |s| s.map_values(|v| v * -3),
        Serdes::string(),
        Serdes::i64(),
        INPUT,
    );
    assert_eq!(
        kvt(out),
        owned(&[("a", -3, 10), ("b", -6, 20), ("c", -9, 30), ("a", -12, 40)])
    );
    let out = through(
        |s| s.map_values_with_key(|k, v| format!("{k}={v}")),
        Serdes::string(),
        Serdes::string(),
        INPUT,
    );
    let values: Vec<_> = out
        .iter()
        .map(|r| (r.key.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(
        values,
        vec![("a", "a=1"), ("b", "b=2"), ("c", "c=3"), ("a", "a=4")]
    );
}

#[test]
fn flat_map_and_flat_map_values_emit_zero_or_more_records_per_input() {
    // v records per input: (k0, 0), (k1, 1), ...
    let out = through(
        |s| s.flat_map(|k, v| (0..v).map(move |i| (format!("{k}{i}"), i * 10))),
        Serdes::string(),
        Serdes::i64(),
        &[("a", 2, 5), ("b", 0, 6), ("c", 3, 7)],
    );
    assert_eq!(
        kvt(out),
        owned(&[
            ("a0", 0, 5),
            ("a1", 10, 5),
            ("c0", 0, 7),
            ("c1", 10, 7),
            ("c2", 20, 7)
        ])
    );
    // v % 3 copies of v under the same key.
    let out = through(
        |s| s.flat_map_values(|v| vec![v; (v % 3) as usize]),
        Serdes::string(),
        Serdes::i64(),
        INPUT,
    );
    assert_eq!(
        kvt(out),
        owned(&[("a", 1, 10), ("b", 2, 20), ("b", 2, 20), ("a", 4, 40)])
    );
}

#[test]
fn select_key_changes_only_the_key() {
    let out = through(
        |s| s.select_key(|k, v| format!("{k}{}", v % 2)),
        Serdes::string(),
        Serdes::i64(),
        INPUT,
    );
    assert_eq!(
        kvt(out),
        owned(&[("a1", 1, 10), ("b0", 2, 20), ("c1", 3, 30), ("a0", 4, 40)])
    );
}

#[test]
fn peek_sees_every_record_and_passes_it_on_foreach_consumes() {
    let peeked = Arc::new(Mutex::new(Vec::new()));
    let seen = peeked.clone();
    let out = through(
        move |s| {
            s.peek(move |k, v| seen.lock().unwrap().push((k.clone(), *v)))
                .filter(|_, v| v % 2 == 0)
        },
        Serdes::string(),
        Serdes::i64(),
        INPUT,
    );
    assert_eq!(kvt(out), owned(&[("b", 2, 20), ("a", 4, 40)]));
    assert_eq!(
        *peeked.lock().unwrap(),
        vec![(s("a"), 1), (s("b"), 2), (s("c"), 3), (s("a"), 4)]
    );

    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    stream
        .map_values(|v| v + 1)
        .foreach(move |k, v| sink.lock().unwrap().push((k.clone(), *v)));
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("x"), 1, 1).unwrap();
    input.pipe_input_at(s("y"), 5, 2).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![(s("x"), 2), (s("y"), 6)]);
    assert!(driver.produced_topic_names().is_empty());
}

// ---------------------------------------------------------------------------------------
// split / branch

fn split_driver(with_default: bool) -> (TopologyTestDriver, Vec<String>) {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    let split = stream
        .split(Some(Named::as_name("s-")))
        .branch(Branched::new(|_, v: &i64| v % 2 == 0).with_name("even"))
        .branch(Branched::new(|_, v: &i64| *v > 2).with_name("big"));
    let branches = if with_default {
        split.default_branch()
    } else {
        split.no_default_branch()
    };
    let names: Vec<String> = branches.keys().cloned().collect();
    for (name, branch) in &branches {
        branch.to(&format!("out-{name}"), Produced::default());
    }
    let topology = builder.build().unwrap();
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    for (i, v) in [1, 2, 3, 4, 5, 6].into_iter().enumerate() {
        input.pipe_input_at(format!("k{v}"), v, i as i64).unwrap();
    }
    (driver, names)
}

fn values_of(driver: &TopologyTestDriver, topic: &str) -> Vec<i64> {
    driver
        .create_output_topic(topic, Serdes::string(), Serdes::i64())
        .read_values_to_list()
        .unwrap()
}

#[test]
fn split_sends_each_record_to_the_first_matching_branch_or_the_default() {
    let (driver, names) = split_driver(true);
    assert_eq!(names, vec![s("s-0"), s("s-big"), s("s-even")]);
    // 4 and 6 are even and big: the first predicate wins.
    assert_eq!(values_of(&driver, "out-s-even"), vec![2, 4, 6]);
    assert_eq!(values_of(&driver, "out-s-big"), vec![3, 5]);
    assert_eq!(values_of(&driver, "out-s-0"), vec![1]);
}

#[test]
fn split_without_default_drops_unmatched_records() {
    let (driver, names) = split_driver(false);
    assert_eq!(names, vec![s("s-big"), s("s-even")]);
    assert_eq!(values_of(&driver, "out-s-even"), vec![2, 4, 6]);
    assert_eq!(values_of(&driver, "out-s-big"), vec![3, 5]);
    assert!(!driver.produced_topic_names().contains("out-s-0"));
}

#[test]
fn unnamed_branches_are_numbered_after_the_split_and_an_unfinished_split_fails_build() {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    let branches = stream
        .split(None)
        .branch(Branched::new(|_, v: &i64| *v < 0))
        .branch(Branched::new(|_, v: &i64| *v > 0))
        .default_branch();
    let names: Vec<&String> = branches.keys().collect();
    assert_eq!(names.len(), 3);
    let split = names[0]
        .strip_suffix('0')
        .expect("the default branch ends in 0");
    assert!(split.starts_with("KSTREAM-BRANCH-"), "{split}");
    assert_eq!(*names[1], format!("{split}1"));
    assert_eq!(*names[2], format!("{split}2"));
    for (n, b) in &branches {
        b.to(n, Produced::default());
    }
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("n"), -1, 0).unwrap();
    input.pipe_input_at(s("z"), 0, 0).unwrap();
    input.pipe_input_at(s("p"), 1, 0).unwrap();
    assert_eq!(values_of(&driver, names[1]), vec![-1]);
    assert_eq!(values_of(&driver, names[2]), vec![1]);
    assert_eq!(values_of(&driver, names[0]), vec![0]);

    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream.to("out", Produced::default());
    drop(stream.split(None).branch(Branched::new(|_, _| true)));
    let err = topology_error(builder.build());
    assert!(
        err.contains("KSTREAM-BRANCH-") && err.contains("never finished"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// merge, repartition, to, to_extractor

#[test]
fn merge_interleaves_two_streams_in_processing_order() {
    let builder = StreamsBuilder::new();
    let a = builder.stream::<String, i64>(&["a"], Consumed::with(Serdes::string(), Serdes::i64()));
    let b = builder.stream::<String, i64>(&["b"], Consumed::with(Serdes::string(), Serdes::i64()));
    a.map_values(|v| v * 10)
        .merge(&b)
        .to("out", Produced::default());
    let topology = builder.build().unwrap();
    let text = topology.describe().to_string();
    assert!(text.contains("Processor: KSTREAM-MERGE-"), "{text}");
    // Both parents feed the merge node.
    let merge_parents = text
        .lines()
        .skip_while(|l| !l.contains("Processor: KSTREAM-MERGE-"))
        .find(|l| l.trim_start().starts_with("<--"))
        .unwrap();
    assert!(
        merge_parents.contains("KSTREAM-MAPVALUES-") && merge_parents.contains("KSTREAM-SOURCE-"),
        "{merge_parents}"
    );
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut ta = driver.create_input_topic("a", Serdes::string(), Serdes::i64());
    let mut tb = driver.create_input_topic("b", Serdes::string(), Serdes::i64());
    ta.pipe_input_at(s("x"), 1, 5).unwrap();
    tb.pipe_input_at(s("y"), 2, 3).unwrap();
    ta.pipe_input_at(s("z"), 3, 9).unwrap();
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    assert_eq!(
        kvt(out.read_records_to_list().unwrap()),
        owned(&[("x", 10, 5), ("y", 2, 3), ("z", 30, 9)])
    );
}

#[test]
fn repartition_goes_through_an_internal_topic_that_is_not_an_output() {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream
        .select_key(|k, v| format!("{k}{v}"))
        .repartition(Grouped::as_name("rekeyed"))
        .map_values(|v| v + 1)
        .to("out", Produced::default());
    let topology = builder.build().unwrap();
    let text = topology.describe().to_string();
    assert_eq!(topology.sub_topologies().len(), 2, "{text}");
    assert!(
        text.contains("Sink: rekeyed-repartition-sink (topic: rekeyed-repartition)"),
        "{text}"
    );
    assert!(
        text.contains("Source: rekeyed-repartition-source (topics: [rekeyed-repartition])"),
        "{text}"
    );
    assert!(text.contains("Sub-topology: 1"), "{text}");
    let config = StreamsConfig::new("my-app", "dummy:1");
    let driver = TopologyTestDriver::with_config(topology, &config, false, 0).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("a"), 1, 100).unwrap();
    input.pipe_input_at(s("b"), 2, 200).unwrap();
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    assert_eq!(
        kvt(out.read_records_to_list().unwrap()),
        owned(&[("a1", 2, 100), ("b2", 3, 200)])
    );
    let produced = driver.produced_topic_names();
    assert!(
        produced.contains("my-app-rekeyed-repartition"),
        "{produced:?}"
    );
    for internal in ["my-app-rekeyed-repartition", "rekeyed-repartition"] {
        let t = driver.create_output_topic(internal, Serdes::string(), Serdes::i64());
        assert!(t.is_empty(), "{internal} is readable as an output topic");
    }
}

#[test]
fn to_extractor_picks_the_topic_per_record() {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream.to_extractor(
        Arc::new(|k: &String, v: &i64| format!("{k}-{}", if v % 2 == 0 { "even" } else { "odd" })),
        Produced::default(),
    );
    let topology = builder.build().unwrap();
    assert!(topology
        .describe()
        .to_string()
        .contains("Sink: KSTREAM-SINK-"));
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    for (k, v, ts) in INPUT {
        input.pipe_input_at(s(k), *v, *ts).unwrap();
    }
    let produced: Vec<String> = driver.produced_topic_names().into_iter().collect();
    assert_eq!(
        produced,
        vec![s("a-even"), s("a-odd"), s("b-even"), s("c-odd")]
    );
    assert_eq!(values_of(&driver, "a-odd"), vec![1]);
    assert_eq!(values_of(&driver, "a-even"), vec![4]);
    assert_eq!(values_of(&driver, "b-even"), vec![2]);
    assert_eq!(values_of(&driver, "c-odd"), vec![3]);
}

#[test]
fn to_writes_with_the_produced_serdes() {
    // The value is written as a string although the stream's values are i64s.
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream.to(
        "out",
        Produced::with(Serdes::string(), Arc::new(DecimalText) as SerdeRef<i64>),
    );
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("k"), 42, 1).unwrap();
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    assert_eq!(out.read_values_to_list().unwrap(), vec![s("42")]);
}

struct DecimalText;

impl brook_streams::Serde<i64> for DecimalText {
    fn serialize(
        &self,
        _topic: &str,
        data: &i64,
    ) -> Result<Option<Bytes>, brook_streams::serde::SerdeError> {
        Ok(Some(Bytes::from(data.to_string())))
    }

    fn deserialize(
        &self,
        _topic: &str,
        data: Option<&[u8]>,
    ) -> Result<i64, brook_streams::serde::SerdeError> {
        std::str::from_utf8(data.unwrap_or_default())
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| brook_streams::serde::SerdeError::Custom("not a number".into()))
    }
}

// ---------------------------------------------------------------------------------------
// to_table, group_by_key, group_by and the KGroupedStream aggregations

#[test]
fn to_table_keeps_the_latest_value_per_key() {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream
        .to_table(Materialized::as_store("latest"))
        .to_stream()
        .to("out", Produced::default());
    let topology = builder.build().unwrap();
    assert_eq!(topology.sub_topologies().len(), 1);
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    for (k, v, ts) in INPUT {
        input.pipe_input_at(s(k), *v, *ts).unwrap();
    }
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::optional(Serdes::i64()));
    assert_eq!(
        kvt(out.read_records_to_list().unwrap()),
        vec![
            (s("a"), Some(1), 10),
            (s("b"), Some(2), 20),
            (s("c"), Some(3), 30),
            (s("a"), Some(4), 40)
        ]
    );
    let store = driver
        .timestamped_key_value_store::<String, i64>("latest")
        .unwrap();
    assert_eq!(
        store.all().unwrap(),
        vec![(s("a"), 4, 40), (s("b"), 2, 20), (s("c"), 3, 30)]
    );
}

#[test]
fn to_table_after_a_key_change_repartitions() {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream
        .select_key(|_, v| format!("v{}", v % 2))
        .to_table(Materialized::as_store("by-parity"));
    let topology = builder.build().unwrap();
    let text = topology.describe().to_string();
    assert_eq!(topology.sub_topologies().len(), 2, "{text}");
    assert!(text.contains("-repartition"), "{text}");
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    for (k, v, ts) in INPUT {
        input.pipe_input_at(s(k), *v, *ts).unwrap();
    }
    let store = driver
        .timestamped_key_value_store::<String, i64>("by-parity")
        .unwrap();
    assert_eq!(
        store.all().unwrap(),
        vec![(s("v0"), 4, 40), (s("v1"), 3, 30)]
    );
}

#[test]
fn group_by_key_on_an_unchanged_key_does_not_repartition() {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream
        .filter(|_, v| *v != 3)
        .map_values(|v| v * 2)
        .group_by_key(Grouped::default())
        .count(Materialized::as_store("n"));
    let topology = builder.build().unwrap();
    let text = topology.describe().to_string();
    assert_eq!(topology.sub_topologies().len(), 1, "{text}");
    assert!(!text.contains("repartition"), "{text}");
    assert!(topology.internal_topics().is_empty());
}

#[test]
fn group_by_key_after_a_key_change_repartitions() {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream
        .map(|k, v| (format!("{k}{k}"), v))
        .group_by_key(Grouped::as_name("doubled"))
        .count(Materialized::as_store("n"));
    let topology = builder.build().unwrap();
    let text = topology.describe().to_string();
    assert_eq!(topology.sub_topologies().len(), 2, "{text}");
    assert!(text.contains("(topic: doubled-repartition)"), "{text}");
    assert!(topology
        .internal_topics()
        .contains_key("doubled-repartition"));
}

/// `in` -> group_by(value % 3 as "g<n>") -> count / reduce / aggregate, each to a topic.
fn grouped_stream_topology() -> Topology {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    let grouped = stream.group_by(
        |_, v: &i64| format!("g{}", v.rem_euclid(3)),
        Grouped::as_name("by-mod"),
    );
    grouped
        .count(Materialized::as_store("count"))
        .to_stream()
        .to("count", Produced::default());
    grouped
        .reduce(|a, b| a + b, Materialized::as_store("sum"))
        .to_stream()
        .to("sum", Produced::default());
    grouped
        .aggregate(
            String::new,
            |k: &String, v, agg: String| format!("{agg}{k}:{v};"),
            Materialized::as_store("trail"),
        )
        .to_stream()
        .to("trail", Produced::default());
    builder.build().unwrap()
}

#[test]
fn group_by_repartitions_once_and_hides_the_internal_topic() {
    let topology = grouped_stream_topology();
    let text = topology.describe().to_string();
    assert_eq!(topology.sub_topologies().len(), 2, "{text}");
    assert_eq!(
        topology.internal_topics().keys().collect::<Vec<_>>(),
        vec!["by-mod-repartition"]
    );
    assert!(
        text.contains("Sink: by-mod-repartition-sink (topic: by-mod-repartition)"),
        "{text}"
    );
    for store in ["count", "sum", "trail"] {
        assert!(text.contains(&format!("(stores: [{store}])")), "{text}");
    }
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("x"), 4, 1).unwrap();
    let produced = driver.produced_topic_names();
    assert!(
        produced.contains("test-app-by-mod-repartition"),
        "{produced:?}"
    );
    let internal = driver.create_output_topic(
        "test-app-by-mod-repartition",
        Serdes::string(),
        Serdes::i64(),
    );
    assert!(internal.is_empty());
}

#[test]
fn grouped_stream_count_reduce_and_aggregate() {
    let driver = TopologyTestDriver::new(grouped_stream_topology()).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    // groups: 4 -> g1, 7 -> g1, 3 -> g0, 1 -> g1, 6 -> g0
    let records = [
        ("p", 4, 100),
        ("q", 7, 50),
        ("r", 3, 70),
        ("p", 1, 120),
        ("s", 6, 60),
    ];
    for (k, v, ts) in records {
        input.pipe_input_at(s(k), v, ts).unwrap();
    }
    let opt = || Serdes::optional(Serdes::i64());
    let count = driver.create_output_topic("count", Serdes::string(), opt());
    // An aggregate's timestamp is the largest of its records'.
    assert_eq!(
        kvt(count.read_records_to_list().unwrap()),
        vec![
            (s("g1"), Some(1), 100),
            (s("g1"), Some(2), 100),
            (s("g0"), Some(1), 70),
            (s("g1"), Some(3), 120),
            (s("g0"), Some(2), 70),
        ]
    );
    let sum = driver.create_output_topic("sum", Serdes::string(), opt());
    assert_eq!(
        kvt(sum.read_records_to_list().unwrap()),
        vec![
            (s("g1"), Some(4), 100),
            (s("g1"), Some(11), 100),
            (s("g0"), Some(3), 70),
            (s("g1"), Some(12), 120),
            (s("g0"), Some(9), 70),
        ]
    );
    let trail = driver.create_output_topic(
        "trail",
        Serdes::string(),
        Serdes::optional(Serdes::string()),
    );
    let last = trail.read_key_values_to_map().unwrap();
    assert_eq!(last["g1"].as_deref(), Some("g1:4;g1:7;g1:1;"));
    assert_eq!(last["g0"].as_deref(), Some("g0:3;g0:6;"));

    let counts = driver
        .timestamped_key_value_store::<String, i64>("count")
        .unwrap();
    assert_eq!(
        counts.all().unwrap(),
        vec![(s("g0"), 2, 70), (s("g1"), 3, 120)]
    );
    let sums = driver.key_value_store::<String, i64>("sum").unwrap();
    assert_eq!(sums.get(&s("g1")).unwrap(), Some(12));
    assert_eq!(sums.get(&s("g2")).unwrap(), None);
}

// ---------------------------------------------------------------------------------------
// process(): a Processor API processor inside the DSL

/// Counts records per key in store `seen`, forwards (key, "value#count").
struct CountingProcessor;

impl Processor<String, i64, String, String> for CountingProcessor {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, i64>,
    ) -> brook_streams::Result<()> {
        let store = ctx.key_value_store::<String, i64>("seen")?;
        let n = store.get(&r.key)?.unwrap_or(0) + 1;
        store.put(&r.key, &n)?;
        let value = format!("{}#{n}", r.value);
        ctx.forward(r.with_value(value))
    }
}

#[test]
fn process_runs_a_processor_with_a_store_added_to_the_builder() {
    let builder = StreamsBuilder::new();
    builder.add_state_store(
        Stores::key_value("seen", Serdes::string(), Serdes::i64()).with_logging_disabled(),
    );
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream
        .process(
            || CountingProcessor,
            Some(Named::as_name("counter")),
            &["seen"],
        )
        .to("out", Produced::default());
    let topology = builder.build().unwrap();
    let text = topology.describe().to_string();
    assert!(
        text.contains("Processor: counter (stores: [seen])"),
        "{text}"
    );
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    for (k, v, ts) in INPUT {
        input.pipe_input_at(s(k), *v, *ts).unwrap();
    }
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    let got: Vec<_> = kvt(out.read_records_to_list().unwrap());
    assert_eq!(
        got,
        vec![
            (s("a"), s("1#1"), 10),
            (s("b"), s("2#1"), 20),
            (s("c"), s("3#1"), 30),
            (s("a"), s("4#2"), 40)
        ]
    );
    let seen = driver.key_value_store::<String, i64>("seen").unwrap();
    assert_eq!(
        seen.all().unwrap(),
        vec![(s("a"), 2), (s("b"), 1), (s("c"), 1)]
    );
}

#[test]
fn process_with_a_store_never_added_fails_build_naming_it() {
    let builder = StreamsBuilder::new();
    let stream =
        builder.stream::<String, i64>(&["in"], Consumed::with(Serdes::string(), Serdes::i64()));
    stream
        .process(|| CountingProcessor, None, &["nowhere"])
        .to("out", Produced::default());
    let err = topology_error(builder.build());
    assert!(err.contains("nowhere"), "{err}");
}

// ---------------------------------------------------------------------------------------
// KTable

/// `table("t")` materialized as `tstore`, its changes to `out`.
fn table_driver(f: impl FnOnce(&KTable<String, i64>) -> KTable<String, i64>) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let table = builder.table(
        "t",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::as_store("tstore"),
    );
    f(&table).to_stream().to("out", Produced::default());
    TopologyTestDriver::new(builder.build().unwrap()).unwrap()
}

fn table_out(driver: &TopologyTestDriver) -> Vec<(String, Option<i64>, i64)> {
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::optional(Serdes::i64()));
    kvt(out.read_records_to_list().unwrap())
}

#[test]
fn table_upserts_and_tombstones_delete() {
    let driver = table_driver(|t| t.clone());
    let mut input = driver.create_input_topic("t", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("a"), 1, 10).unwrap();
    input.pipe_input_at(s("b"), 2, 20).unwrap();
    input.pipe_input_at(s("a"), 3, 15).unwrap();
    input.pipe_tombstone(s("b"), 30).unwrap();
    assert_eq!(
        table_out(&driver),
        vec![
            (s("a"), Some(1), 10),
            (s("b"), Some(2), 20),
            (s("a"), Some(3), 15),
            (s("b"), None, 30)
        ]
    );
    let store = driver
        .timestamped_key_value_store::<String, i64>("tstore")
        .unwrap();
    // A table row's timestamp is its latest record's, even an older one.
    assert_eq!(store.all().unwrap(), vec![(s("a"), 3, 15)]);
    assert_eq!(store.get(&s("b")).unwrap(), None);
}

/// Records the [`Change`]s a table node forwards.
type Changes = Arc<Mutex<Vec<(String, Change<i64>)>>>;

struct ChangeSpy(Changes);

impl Processor<String, Change<i64>> for ChangeSpy {
    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, String, Change<i64>>,
        r: Record<String, Change<i64>>,
    ) -> brook_streams::Result<()> {
        self.0.lock().unwrap().push((r.key, r.value));
        Ok(())
    }
}

#[test]
fn table_updates_carry_the_old_value() {
    let builder = StreamsBuilder::new();
    let table = builder.table::<String, i64>(
        "t",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::default(),
    );
    let node = table.node_name().to_owned();
    let mut topology = builder.build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spy = seen.clone();
    topology
        .add_processor("spy", move || ChangeSpy(spy.clone()), &[&node])
        .unwrap();
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("t", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("a"), 1, 1).unwrap();
    input.pipe_input_at(s("a"), 2, 2).unwrap();
    input.pipe_tombstone(s("a"), 3).unwrap();
    let change = |new, old| Change { new, old };
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (s("a"), change(Some(1), None)),
            (s("a"), change(Some(2), Some(1))),
            (s("a"), change(None, Some(2))),
        ]
    );
}

#[test]
fn table_filter_deletes_rows_that_stop_passing() {
    let driver = table_driver(|t| t.filter(|_, v| *v > 3));
    let mut input = driver.create_input_topic("t", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("a"), 5, 1).unwrap(); // passes
    input.pipe_input_at(s("b"), 1, 2).unwrap(); // never passes: nothing
    input.pipe_input_at(s("a"), 2, 3).unwrap(); // stops passing: delete
    input.pipe_tombstone(s("b"), 4).unwrap(); // deleting a row that never passed: nothing
    input.pipe_input_at(s("a"), 7, 5).unwrap(); // passes again
    input.pipe_tombstone(s("a"), 6).unwrap(); // deleted
    assert_eq!(
        table_out(&driver),
        vec![
            (s("a"), Some(5), 1),
            (s("a"), None, 3),
            (s("a"), Some(7), 5),
            (s("a"), None, 6)
        ]
    );
}

#[test]
fn table_filter_not_keeps_the_rows_the_predicate_rejects() {
    let driver = table_driver(|t| t.filter_not(|k, _| k.starts_with('x')));
    let mut input = driver.create_input_topic("t", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("xa"), 1, 1).unwrap();
    input.pipe_input_at(s("b"), 2, 2).unwrap();
    input.pipe_tombstone(s("b"), 3).unwrap();
    assert_eq!(
        table_out(&driver),
        vec![(s("b"), Some(2), 2), (s("b"), None, 3)]
    );
}

#[test]
fn table_map_values_maps_both_sides_and_passes_deletes() {
    let driver = table_driver(|t| t.map_values(|k, v| v * 10 + k.len() as i64));
    let mut input = driver.create_input_topic("t", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("ab"), 1, 1).unwrap();
    input.pipe_input_at(s("ab"), 2, 2).unwrap();
    input.pipe_tombstone(s("ab"), 3).unwrap();
    assert_eq!(
        table_out(&driver),
        vec![
            (s("ab"), Some(12), 1),
            (s("ab"), Some(22), 2),
            (s("ab"), None, 3)
        ]
    );
}

/// users (name -> "region:amount") regrouped by region.
fn regrouped() -> (
    TopologyTestDriver,
    brook_streams::TestInputTopic<String, String>,
) {
    let builder = StreamsBuilder::new();
    let users = builder.table::<String, String>(
        "users",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_store("users"),
    );
    let grouped = users.group_by(
        |_, v: &String| {
            let (region, amount) = v.split_once(':').unwrap();
            (region.to_owned(), amount.parse::<i64>().unwrap())
        },
        Grouped::with(Serdes::string(), Serdes::i64()),
    );
    grouped
        .count(Materialized::as_store("region-count"))
        .to_stream()
        .to("count", Produced::default());
    grouped
        .reduce(
            |a, b| a + b,
            |a, b| a - b,
            Materialized::as_store("region-sum"),
        )
        .to_stream()
        .to("sum", Produced::default());
    grouped
        .aggregate(
            || 0i64,
            |_, v, agg| agg + v * v,
            |_, v, agg| agg - v * v,
            Materialized::as_store("region-squares"),
        )
        .to_stream()
        .to("squares", Produced::default());
    let topology = builder.build().unwrap();
    assert_eq!(
        topology.sub_topologies().len(),
        4,
        "{}",
        topology.describe()
    );
    let driver = TopologyTestDriver::new(topology).unwrap();
    let input = driver.create_input_topic("users", Serdes::string(), Serdes::string());
    (driver, input)
}

fn out_map(driver: &TopologyTestDriver, topic: &str) -> Vec<(String, Option<i64>)> {
    driver
        .create_output_topic(topic, Serdes::string(), Serdes::optional(Serdes::i64()))
        .read_key_values_to_list()
        .unwrap()
}

#[test]
fn grouped_table_moves_a_row_from_its_old_group_to_its_new_one() {
    let (driver, mut users) = regrouped();
    users.pipe_input_at(s("alice"), s("eu:5"), 1).unwrap();
    users.pipe_input_at(s("bob"), s("us:3"), 2).unwrap();
    users.pipe_input_at(s("carol"), s("eu:2"), 3).unwrap();
    users.pipe_input_at(s("alice"), s("us:4"), 4).unwrap(); // eu -> us
    users.pipe_tombstone(s("bob"), 5).unwrap();
    users.pipe_tombstone(s("nobody"), 6).unwrap(); // no row: nothing to take back
    let some = |k: &str, v: i64| (s(k), Some(v));
    assert_eq!(
        out_map(&driver, "count"),
        vec![
            some("eu", 1),
            some("us", 1),
            some("eu", 2),
            some("eu", 1), // alice leaves eu ...
            some("us", 2), // ... and joins us
            some("us", 1), // bob deleted
        ]
    );
    assert_eq!(
        out_map(&driver, "sum"),
        vec![
            some("eu", 5),
            some("us", 3),
            some("eu", 7),
            some("eu", 2),
            some("us", 7),
            some("us", 4),
        ]
    );
    assert_eq!(
        out_map(&driver, "squares").last(),
        Some(&some("us", 16)),
        "us holds alice (4) only"
    );
    let counts = driver
        .timestamped_key_value_store::<String, i64>("region-count")
        .unwrap();
    assert_eq!(
        counts.all().unwrap(),
        vec![(s("eu"), 1, 4), (s("us"), 1, 5)]
    );
    let sums = driver.key_value_store::<String, i64>("region-sum").unwrap();
    assert_eq!(sums.all().unwrap(), vec![(s("eu"), 2), (s("us"), 4)]);
    let squares = driver
        .key_value_store::<String, i64>("region-squares")
        .unwrap();
    assert_eq!(squares.all().unwrap(), vec![(s("eu"), 4), (s("us"), 16)]);
}

#[test]
fn grouped_table_update_within_one_group_ends_with_the_new_value() {
    let (driver, mut users) = regrouped();
    users.pipe_input_at(s("alice"), s("eu:5"), 1).unwrap();
    users.pipe_input_at(s("alice"), s("eu:8"), 2).unwrap();
    let sums = out_map(&driver, "sum");
    assert_eq!(sums.first(), Some(&(s("eu"), Some(5))));
    assert_eq!(sums.last(), Some(&(s("eu"), Some(8))));
    let counts = out_map(&driver, "count");
    assert_eq!(counts.last(), Some(&(s("eu"), Some(1))));
    let squares = driver
        .key_value_store::<String, i64>("region-squares")
        .unwrap();
    assert_eq!(squares.get(&s("eu")).unwrap(), Some(64));
}

// ---------------------------------------------------------------------------------------
// GlobalKTable

#[test]
fn global_table_fills_its_store_and_describes_as_global() {
    let builder = StreamsBuilder::new();
    let global = builder.global_table::<String, String>(
        "countries",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_store("countries-store"),
    );
    assert_eq!(global.queryable_store_name(), "countries-store");
    builder
        .stream::<String, String>(&["in"], Consumed::default())
        .to("out", Produced::default());
    let topology = builder.build().unwrap();
    let text = topology.describe().to_string();
    assert!(text.contains("Sub-topology: 0\n"), "{text}");
    assert!(
        text.contains("Sub-topology: 1 for global store (will not generate tasks)"),
        "{text}"
    );
    assert!(text.contains("(topics: [countries])"), "{text}");
    assert_eq!(topology.sub_topologies().len(), 1);
    assert_eq!(
        topology
            .global_stores()
            .get("countries-store")
            .map(String::as_str),
        Some("countries")
    );

    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("countries", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("fr"), s("France"), 5).unwrap();
    input.pipe_input_at(s("de"), s("Germany"), 6).unwrap();
    input
        .pipe_input_at(s("fr"), s("République française"), 7)
        .unwrap();
    input.pipe_input_at(s("it"), s("Italy"), 8).unwrap();
    input.pipe_tombstone(s("it"), 9).unwrap();
    let ts = driver
        .timestamped_key_value_store::<String, String>("countries-store")
        .unwrap();
    assert_eq!(
        ts.all().unwrap(),
        vec![
            (s("de"), s("Germany"), 6),
            (s("fr"), s("République française"), 7)
        ]
    );
    // A plain key-value view of the timestamped store shows the values only (Kafka
    // Streams' driver gives a facade the same way).
    let kv = driver
        .key_value_store::<String, String>("countries-store")
        .unwrap();
    assert_eq!(kv.get(&s("de")).unwrap(), Some(s("Germany")));
    assert_eq!(kv.get(&s("it")).unwrap(), None);
    assert_eq!(
        kv.all().unwrap(),
        vec![
            (s("de"), s("Germany")),
            (s("fr"), s("République française"))
        ]
    );
    // Nothing global reaches an output topic.
    assert!(driver.produced_topic_names().is_empty());
}

// ---------------------------------------------------------------------------------------
// Serdes and Materialized

#[derive(Debug, Clone, PartialEq)]
struct Point {
    x: i64,
}

#[test]
fn a_missing_serde_is_a_build_error_naming_the_operation() {
    // A source of a type without a default serde.
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Point>(&["in"], Consumed::default())
        .to(
            "out",
            Produced::with(Serdes::string(), Arc::new(PointSerde)),
        );
    let err = topology_error(builder.build());
    assert!(err.contains("source KSTREAM-SOURCE-0000000000"), "{err}");
    assert!(err.contains("Point"), "{err}");

    // A sink after map_values to the type.
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .map_values(|v| Point { x: v })
        .to("out", Produced::default());
    let err = topology_error(builder.build());
    assert!(err.contains("sink KSTREAM-SINK-"), "{err}");
    assert!(err.contains("Point"), "{err}");

    // An aggregation into the type.
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .aggregate(
            || Point { x: 0 },
            |_, v, p: Point| Point { x: p.x + v },
            Materialized::as_store("points"),
        );
    let err = topology_error(builder.build());
    assert!(err.contains("aggregation"), "{err}");
    assert!(err.contains("Point"), "{err}");

    // The same aggregation with a serde builds and runs.
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .aggregate(
            || Point { x: 0 },
            |_, v, p: Point| Point { x: p.x + v },
            Materialized::as_store("points").with_value_serde(Arc::new(PointSerde)),
        );
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("k"), 3, 0).unwrap();
    input.pipe_input_at(s("k"), 4, 0).unwrap();
    let store = driver
        .timestamped_key_value_store::<String, Point>("points")
        .unwrap();
    assert_eq!(store.get(&s("k")).unwrap(), Some((Point { x: 7 }, 0)));

    // A repartition with a key of the type.
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by(|_, v| Point { x: *v }, Grouped::as_name("pts"))
        .count(Materialized::default().with_key_serde(Arc::new(PointSerde)));
    let err = topology_error(builder.build());
    assert!(err.contains("repartition topic pts-repartition"), "{err}");
    assert!(err.contains("Point"), "{err}");
}

struct PointSerde;

impl brook_streams::Serde<Point> for PointSerde {
    fn serialize(
        &self,
        topic: &str,
        p: &Point,
    ) -> Result<Option<Bytes>, brook_streams::serde::SerdeError> {
        Serdes::i64().serialize(topic, &p.x)
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> Result<Point, brook_streams::serde::SerdeError> {
        Serdes::i64().deserialize(topic, data).map(|x| Point { x })
    }
}

#[test]
fn materialized_as_store_names_the_store() {
    let builder = StreamsBuilder::new();
    let table = builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .count(Materialized::as_store("my-counts"));
    assert_eq!(table.queryable_store_name(), Some("my-counts"));
    let topology = builder.build().unwrap();
    let names: Vec<&str> = topology.stores().map(|d| d.name()).collect();
    assert_eq!(names, vec!["my-counts"]);
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("k"), 0, 0).unwrap();
    assert_eq!(
        driver
            .key_value_store::<String, i64>("my-counts")
            .unwrap()
            .get(&s("k"))
            .unwrap(),
        Some(1)
    );
    assert!(driver.key_value_store::<String, i64>("counts").is_err());

    // Without a name, a generated one.
    let builder = StreamsBuilder::new();
    let table = builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .count(Materialized::default());
    let name = table.queryable_store_name().unwrap().to_owned();
    assert!(name.starts_with("KSTREAM-AGGREGATE-STATE-STORE-"), "{name}");

    // Two stores of one name are a build error.
    let builder = StreamsBuilder::new();
    let g = builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default());
    g.count(Materialized::as_store("same"));
    g.reduce(|a, b| a + b, Materialized::as_store("same"));
    let err = topology_error(builder.build());
    assert!(err.contains("same"), "{err}");
}

/// `in` -> flat_map_values (each value v repeated v times, same key) -> count.
fn repeated_count(materialized: Materialized<String, i64>, config: &StreamsConfig) -> Vec<i64> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .flat_map_values(|v| vec![v; v as usize])
        .group_by_key(Grouped::default())
        .count(materialized.with_key_serde(Serdes::string()))
        .to_stream()
        .map_values(|v| v.unwrap_or(-1))
        .to("out", Produced::default());
    let driver =
        TopologyTestDriver::with_config(builder.build().unwrap(), config, false, 0).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("k"), 1, 0).unwrap();
    input.pipe_input_at(s("k"), 3, 1).unwrap();
    input.pipe_input_at(s("j"), 2, 2).unwrap();
    values_of(&driver, "out")
}

#[test]
fn caching_on_or_off_gives_every_per_record_update_on_the_driver() {
    let config = StreamsConfig::new("test-app", "dummy:1");
    for materialized in [
        Materialized::as_store("c").with_caching_enabled(),
        Materialized::as_store("c").with_caching_disabled(),
    ] {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, i64>(&["in"], Consumed::default())
            .group_by_key(Grouped::default())
            .count(materialized)
            .to_stream()
            .to("out", Produced::default());
        let driver =
            TopologyTestDriver::with_config(builder.build().unwrap(), &config, false, 0).unwrap();
        let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
        for (k, v, ts) in INPUT {
            input.pipe_input_at(s(k), *v, *ts).unwrap();
        }
        assert_eq!(
            out_map(&driver, "out"),
            vec![
                (s("a"), Some(1)),
                (s("b"), Some(1)),
                (s("c"), Some(1)),
                (s("a"), Some(2))
            ]
        );
    }
}

#[test]
fn caching_folds_updates_within_one_record_and_disabling_it_does_not() {
    let config = StreamsConfig::new("test-app", "dummy:1");
    // Cached (the default): the driver commits after each input record, so the updates
    // one record causes to one key are folded into the last (as in Kafka Streams' driver).
    assert_eq!(
        repeated_count(Materialized::as_store("c"), &config),
        vec![1, 4, 2]
    );
    // Uncached: every update.
    assert_eq!(
        repeated_count(Materialized::as_store("c").with_caching_disabled(), &config),
        vec![1, 2, 3, 4, 1, 2]
    );
    // statestore.cache.max.bytes=0 turns every cache off.
    let mut no_cache = config.clone();
    no_cache.cache_max_bytes = 0;
    assert_eq!(
        repeated_count(Materialized::as_store("c"), &no_cache),
        vec![1, 2, 3, 4, 1, 2]
    );
}

// ---------------------------------------------------------------------------------------
// Timestamps and headers

#[test]
fn headers_and_timestamps_propagate_through_stateless_operators_and_repartitions() {
    let builder = StreamsBuilder::new();
    let stream = builder.stream::<String, i64>(&["in"], Consumed::default());
    stream
        .filter(|_, v| *v > 0)
        .map_values(|v| v + 1)
        .flat_map(|k, v| [(k.clone(), v), (format!("{k}'"), -v)])
        .repartition(Grouped::as_name("rp"))
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let headers = vec![header("trace", b"t-1"), header("n", b"\x00\x01")];
    driver
        .pipe_raw("in", str_bytes("k"), i64_bytes(5), 1234, headers.clone())
        .unwrap();
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    let records = out.read_records_to_list().unwrap();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.timestamp, 1234);
        assert_eq!(r.headers, headers);
    }
    assert_eq!(kvt(records), vec![(s("k"), 6, 1234), (s("k'"), -6, 1234)]);
}

#[test]
fn headers_propagate_through_aggregations_and_tables() {
    for caching in [true, false] {
        let builder = StreamsBuilder::new();
        let m = if caching {
            Materialized::as_store("n")
        } else {
            Materialized::as_store("n").with_caching_disabled()
        };
        builder
            .stream::<String, i64>(&["in"], Consumed::default())
            .group_by_key(Grouped::default())
            .count(m)
            .to_stream()
            .to("count", Produced::default());
        builder
            .table::<String, i64>("t", Consumed::default(), Materialized::default())
            .to_stream()
            .to("table", Produced::default());
        let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
        let h1 = vec![header("h", b"1")];
        let h2 = vec![header("h", b"2"), header("x", b"")];
        driver
            .pipe_raw("in", str_bytes("k"), i64_bytes(0), 5, h1.clone())
            .unwrap();
        driver
            .pipe_raw("in", str_bytes("k"), i64_bytes(0), 6, h2.clone())
            .unwrap();
        driver
            .pipe_raw("t", str_bytes("k"), i64_bytes(9), 7, h1.clone())
            .unwrap();
        driver
            .pipe_raw("t", str_bytes("k"), None, 8, h2.clone())
            .unwrap();
        for topic in ["count", "table"] {
            let out = driver.create_output_topic(
                topic,
                Serdes::string(),
                Serdes::optional(Serdes::i64()),
            );
            let headers: Vec<_> = out
                .read_records_to_list()
                .unwrap()
                .into_iter()
                .map(|r| r.headers)
                .collect();
            assert_eq!(
                headers,
                vec![h1.clone(), h2.clone()],
                "{topic}, caching {caching}"
            );
        }
    }
}

#[test]
fn an_aggregate_keeps_the_largest_timestamp_a_table_its_latest() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .reduce(|a, b| a.max(b), Materialized::as_store("max"))
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("k"), 1, 50).unwrap();
    input.pipe_input_at(s("k"), 2, 20).unwrap();
    input.pipe_input_at(s("k"), 0, 70).unwrap();
    input.pipe_input_at(s("j"), 4, 10).unwrap();
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::optional(Serdes::i64()));
    assert_eq!(
        kvt(out.read_records_to_list().unwrap()),
        vec![
            (s("k"), Some(1), 50),
            (s("k"), Some(2), 50),
            (s("k"), Some(2), 70),
            (s("j"), Some(4), 10)
        ]
    );
    let store = driver
        .timestamped_key_value_store::<String, i64>("max")
        .unwrap();
    assert_eq!(store.get(&s("k")).unwrap(), Some((2, 70)));
}

#[test]
fn record_metadata_is_that_of_the_record_being_processed() {
    // A processor in the DSL sees the repartition topic as the record's topic after a
    // repartition, and the source topic before it.
    struct Meta(Arc<Mutex<Vec<Option<RecordMetadata>>>>);
    impl Processor<String, i64> for Meta {
        fn process(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, i64>,
            r: Record<String, i64>,
        ) -> brook_streams::Result<()> {
            self.0.lock().unwrap().push(ctx.record_metadata().cloned());
            ctx.forward(r)
        }
    }
    let builder = StreamsBuilder::new();
    let before = Arc::new(Mutex::new(Vec::new()));
    let after = Arc::new(Mutex::new(Vec::new()));
    let (b, a) = (before.clone(), after.clone());
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .process(move || Meta(b.clone()), None, &[])
        .repartition(Grouped::as_name("r"))
        .process(move || Meta(a.clone()), None, &[])
        .to("out", Produced::<String, i64>::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("k"), 1, 0).unwrap();
    input.pipe_input_at(s("k"), 2, 0).unwrap();
    let meta = |t: &str, o| {
        Some(RecordMetadata {
            topic: t.to_owned(),
            partition: 0,
            offset: o,
        })
    };
    assert_eq!(*before.lock().unwrap(), vec![meta("in", 0), meta("in", 1)]);
    assert_eq!(
        *after.lock().unwrap(),
        vec![
            meta("test-app-r-repartition", 0),
            meta("test-app-r-repartition", 1)
        ]
    );
}

#[test]
fn describe_names_nodes_as_kafka_streams_does() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .filter(|_, _| true)
        .map_values(|v| v)
        .to("out", Produced::default());
    let text = builder.build().unwrap().describe().to_string();
    let expected = "Topologies:\n   Sub-topology: 0\n    \
        Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n      --> KSTREAM-FILTER-0000000001\n    \
        Processor: KSTREAM-FILTER-0000000001 (stores: [])\n      --> KSTREAM-MAPVALUES-0000000002\n      <-- KSTREAM-SOURCE-0000000000\n    \
        Processor: KSTREAM-MAPVALUES-0000000002 (stores: [])\n      --> KSTREAM-SINK-0000000003\n      <-- KSTREAM-FILTER-0000000001\n    \
        Sink: KSTREAM-SINK-0000000003 (topic: out)\n      <-- KSTREAM-MAPVALUES-0000000002\n\n";
    assert_eq!(text, expected);
}

#[test]
fn reading_a_topic_twice_is_a_build_error() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .to("a", Produced::default());
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .to("b", Produced::default());
    let err = topology_error(builder.build());
    assert!(
        err.contains("in") && err.contains("KSTREAM-SOURCE-0000000000"),
        "{err}"
    );
}

#[test]
fn the_latest_value_map_of_an_output_is_the_model_table() {
    // read_key_values_to_map over a table's changes is the table (deletes as None).
    let driver = table_driver(|t| t.clone());
    let mut input = driver.create_input_topic("t", Serdes::string(), Serdes::i64());
    let mut model = BTreeMap::new();
    for (i, (k, v)) in [("a", 1), ("b", 2), ("a", -1), ("c", 0), ("b", -2)]
        .into_iter()
        .enumerate()
    {
        if v < 0 {
            input.pipe_tombstone(s(k), i as i64).unwrap();
            model.insert(s(k), None);
        } else {
            input.pipe_input_at(s(k), v, i as i64).unwrap();
            model.insert(s(k), Some(v));
        }
    }
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::optional(Serdes::i64()));
    assert_eq!(out.read_key_values_to_map().unwrap(), model);
}
