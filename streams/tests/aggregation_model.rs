//! Aggregations against a model in plain Rust: random streams through
//! `group_by_key().count()/.reduce()/.aggregate()` and random upserts and deletes through a
//! table's `group_by().count()/.reduce()/.aggregate()` with adder and subtractor; the
//! stores' final contents, every output record and the last output per key must be what
//! the model computes. Run on in-memory stores and on RocksDB.

use std::collections::BTreeMap;

use proptest::prelude::*;

use brook_streams::{
    Consumed, Grouped, Materialized, Produced, Serdes, StreamsBuilder, StreamsConfig, Topology,
    TopologyTestDriver,
};

fn driver(topology: Topology, rocksdb: bool) -> TopologyTestDriver {
    let mut config = StreamsConfig::new("model-app", "dummy:1");
    if !rocksdb {
        // A cache of three entries (at the config's 128 bytes an entry), so a run over more
        // keys fills it: entries kept clean across commits and a full cache emptied both
        // get exercised. The RocksDB runs keep the default (10 MiB).
        config.cache_max_bytes = 3 * 128;
    }
    TopologyTestDriver::with_config(topology, &config, rocksdb, 0).unwrap()
}

/// An order-sensitive fold, so records applied out of order would show.
fn fold(agg: i64, v: i64) -> i64 {
    agg.wrapping_mul(31).wrapping_add(v)
}

fn key(k: u8) -> String {
    format!("k{k}")
}

// ---------------------------------------------------------------------------------------
// KGroupedStream

fn stream_topology() -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default());
    grouped
        .count(Materialized::as_store("count"))
        .to_stream()
        .to("count", Produced::default());
    grouped
        .reduce(|a, b| a.wrapping_add(b), Materialized::as_store("sum"))
        .to_stream()
        .to("sum", Produced::default());
    grouped
        .aggregate(
            || 7i64,
            |_, v, agg| fold(agg, v),
            Materialized::as_store("fold"),
        )
        .to_stream()
        .to("fold", Produced::default());
    builder.build().unwrap()
}

fn count_topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .count(Materialized::as_store("count"))
        .to_stream()
        .to("count", Produced::default());
    builder.build().unwrap()
}

/// The model of one aggregate: the running outputs (key, value, timestamp) and the final
/// value and timestamp per key.
#[derive(Debug, Default, PartialEq)]
struct Model {
    outputs: Vec<(String, Option<i64>, i64)>,
    last: BTreeMap<String, (i64, i64)>,
}

impl Model {
    /// Folds `v` at `ts` into `k` with `f(previous, v)` (`None`: the key's first record).
    fn update(&mut self, k: String, ts: i64, f: impl FnOnce(Option<i64>) -> i64) {
        let prev = self.last.get(&k).copied();
        let value = f(prev.map(|(v, _)| v));
        let ts = prev.map_or(ts, |(_, t)| t.max(ts));
        self.outputs.push((k.clone(), Some(value), ts));
        self.last.insert(k, (value, ts));
    }

    /// The last output per key, as a map.
    fn last_outputs(outputs: &[(String, Option<i64>, i64)]) -> BTreeMap<String, (i64, i64)> {
        outputs
            .iter()
            .map(|(k, v, t)| (k.clone(), (v.expect("aggregates are never deleted"), *t)))
            .collect()
    }
}

/// What the driver gives for one aggregate: every output, and the store's contents.
fn observed(driver: &TopologyTestDriver, name: &str) -> Model {
    let out = driver.create_output_topic(name, Serdes::string(), Serdes::optional(Serdes::i64()));
    let outputs: Vec<_> = out
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    let store = driver
        .timestamped_key_value_store::<String, i64>(name)
        .unwrap();
    let last = store
        .all()
        .unwrap()
        .into_iter()
        .map(|(k, v, t)| (k, (v, t)))
        .collect();
    Model { outputs, last }
}

fn records() -> impl Strategy<Value = Vec<(u8, i64, i64)>> {
    prop::collection::vec((0u8..4, -1000i64..1000, 0i64..10_000), 0..60)
}

fn check_stream_aggregates(input: &[(u8, i64, i64)], rocksdb: bool, count_only: bool) {
    let topology = if count_only {
        count_topology()
    } else {
        stream_topology()
    };
    let d = driver(topology, rocksdb);
    let mut topic = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    let (mut count, mut sum, mut folded) = (Model::default(), Model::default(), Model::default());
    for &(k, v, ts) in input {
        topic.pipe_input_at(key(k), v, ts).unwrap();
        count.update(key(k), ts, |c| c.unwrap_or(0) + 1);
        sum.update(key(k), ts, |s| s.map_or(v, |s| s.wrapping_add(v)));
        folded.update(key(k), ts, |a| fold(a.unwrap_or(7), v));
    }
    let mut models = vec![("count", count)];
    if !count_only {
        models.push(("sum", sum));
        models.push(("fold", folded));
    }
    for (name, model) in models {
        let got = observed(&d, name);
        assert_eq!(got.outputs, model.outputs, "{name}: outputs");
        assert_eq!(got.last, model.last, "{name}: store");
        assert_eq!(
            Model::last_outputs(&got.outputs),
            model.last,
            "{name}: last output per key"
        );
    }
    d.close().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn stream_aggregations_match_the_model(input in records()) {
        check_stream_aggregates(&input, false, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn stream_count_on_rocksdb_matches_the_model(input in records()) {
        check_stream_aggregates(&input, true, true);
    }

    #[test]
    fn stream_aggregations_on_rocksdb_match_the_model(input in records()) {
        check_stream_aggregates(&input, true, false);
    }
}

// ---------------------------------------------------------------------------------------
// KGroupedTable: adder and subtractor

/// A row's group: its value modulo 3 (so an update may move it between groups).
fn group_of(v: i64) -> String {
    format!("g{}", v.rem_euclid(3))
}

fn table_topology() -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .table::<String, i64>("rows", Consumed::default(), Materialized::as_store("rows"))
        .group_by(
            |_, v: &i64| (group_of(*v), *v),
            Grouped::with(Serdes::string(), Serdes::i64()),
        );
    grouped
        .count(Materialized::as_store("count"))
        .to_stream()
        .to("count", Produced::default());
    grouped
        .reduce(
            |a, b| a.wrapping_add(b),
            |a, b| a.wrapping_sub(b),
            Materialized::as_store("sum"),
        )
        .to_stream()
        .to("sum", Produced::default());
    // Sum of squares and count packed in one i64: subtraction must undo addition exactly.
    grouped
        .aggregate(
            || 0i64,
            |_, v, agg| agg.wrapping_add(v * v).wrapping_add(1 << 40),
            |_, v, agg| agg.wrapping_sub(v * v).wrapping_sub(1 << 40),
            Materialized::as_store("squares"),
        )
        .to_stream()
        .to("squares", Produced::default());
    builder.build().unwrap()
}

/// One op on the table: upsert `Some(value)` or delete `None`, for row `row`, at `ts`.
type Op = (u8, Option<i64>, i64);

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (
            0u8..6,
            prop::option::weighted(0.75, -100i64..100),
            0i64..10_000,
        ),
        0..60,
    )
}

fn check_table_aggregates(input: &[Op], rocksdb: bool) {
    let d = driver(table_topology(), rocksdb);
    let mut topic = d.create_input_topic("rows", Serdes::string(), Serdes::i64());
    // The model: the table, and per group (every group ever touched) its final aggregates
    // and the largest timestamp of the records that touched it.
    let mut table: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut touched: BTreeMap<String, i64> = BTreeMap::new();
    for &(row, value, ts) in input {
        let row = format!("r{row}");
        let old = match value {
            Some(v) => {
                topic.pipe_input_at(row.clone(), v, ts).unwrap();
                table.insert(row, (v, ts))
            }
            None => {
                topic.pipe_tombstone(row.clone(), ts).unwrap();
                table.remove(&row)
            }
        };
        let groups = old
            .map(|(v, _)| group_of(v))
            .into_iter()
            .chain(value.map(group_of));
        for g in groups {
            let t = touched.entry(g).or_insert(ts);
            *t = (*t).max(ts);
        }
    }
    let per_group = |f: &dyn Fn(i64) -> i64| -> BTreeMap<String, (i64, i64)> {
        touched
            .iter()
            .map(|(g, ts)| {
                let agg = table
                    .values()
                    .filter(|(v, _)| group_of(*v) == *g)
                    .fold(0i64, |a, (v, _)| a.wrapping_add(f(*v)));
                (g.clone(), (agg, *ts))
            })
            .collect()
    };
    let expected = [
        ("count", per_group(&|_| 1)),
        ("sum", per_group(&|v| v)),
        ("squares", per_group(&|v| v * v + (1 << 40))),
    ];
    for (name, model) in expected {
        let got = observed(&d, name);
        assert_eq!(got.last, model, "{name}: store");
        assert_eq!(
            Model::last_outputs(&got.outputs),
            model,
            "{name}: last output per group"
        );
    }
    // The source table itself.
    let rows = d
        .timestamped_key_value_store::<String, i64>("rows")
        .unwrap();
    let got: BTreeMap<String, (i64, i64)> = rows
        .all()
        .unwrap()
        .into_iter()
        .map(|(k, v, t)| (k, (v, t)))
        .collect();
    assert_eq!(got, table, "source table");
    d.close().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn table_aggregations_match_the_model(input in ops()) {
        check_table_aggregates(&input, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn table_aggregations_on_rocksdb_match_the_model(input in ops()) {
        check_table_aggregates(&input, true);
    }
}
