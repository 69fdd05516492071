//! Joins on the test driver, against models in plain Rust: stream-stream (inner, left,
//! outer; windows, grace, out-of-order and late records), stream-table, stream-global,
//! table-table and foreign-key table joins; how they show in `describe()`, and the
//! co-partition groups they record.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;

use brook_streams::{
    Consumed, Grouped, JoinWindows, Joined, Materialized, Produced, Serdes, StreamJoined,
    StreamsBuilder, StreamsConfig, TableJoined, TestOutputTopic, Topology, TopologyTestDriver,
};

fn s(x: &str) -> String {
    x.to_owned()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn show(l: Option<&i64>, r: Option<&i64>) -> String {
    let f = |v: Option<&i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    format!("{}|{}", f(l), f(r))
}

fn strings() -> Consumed<String, i64> {
    Consumed::with(Serdes::string(), Serdes::i64())
}

fn drain<K: brook_streams::Data, V: brook_streams::Data>(
    out: &TestOutputTopic<K, V>,
) -> Vec<(K, V, i64)> {
    out.read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Stream-stream joins
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inner,
    Left,
    Outer,
}

/// A record piped into `left` or `right`.
#[derive(Debug, Clone)]
struct In {
    left: bool,
    key: String,
    value: i64,
    ts: i64,
}

fn l(key: &str, value: i64, ts: i64) -> In {
    In {
        left: true,
        key: s(key),
        value,
        ts,
    }
}

fn r(key: &str, value: i64, ts: i64) -> In {
    In {
        left: false,
        key: s(key),
        value,
        ts,
    }
}

type Out = (String, String, i64);

fn stream_join_topology(kind: Kind, windows: JoinWindows) -> Topology {
    let b = StreamsBuilder::new();
    let left = b.stream(&["left"], strings());
    let right = b.stream(&["right"], strings());
    let joined = StreamJoined::default();
    let out = match kind {
        Kind::Inner => left.join(&right, |a, b| show(Some(a), Some(b)), windows, joined),
        Kind::Left => left.left_join(&right, |a, b| show(Some(a), b), windows, joined),
        Kind::Outer => left.outer_join(&right, show, windows, joined),
    };
    out.to("out", Produced::with(Serdes::string(), Serdes::string()));
    b.build().unwrap()
}

/// What `out` receives after each input.
fn run_stream_join(
    kind: Kind,
    windows: JoinWindows,
    inputs: &[In],
    rocksdb: bool,
) -> Vec<Vec<Out>> {
    let topology = stream_join_topology(kind, windows);
    let config = StreamsConfig::new("join-app", "dummy:1");
    let driver = TopologyTestDriver::with_config(topology, &config, rocksdb, 0).unwrap();
    let mut lt = driver.create_input_topic("left", Serdes::string(), Serdes::i64());
    let mut rt = driver.create_input_topic("right", Serdes::string(), Serdes::i64());
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    inputs
        .iter()
        .map(|i| {
            let topic = if i.left { &mut lt } else { &mut rt };
            topic.pipe_input_at(i.key.clone(), i.value, i.ts).unwrap();
            drain(&out)
        })
        .collect()
}

/// The model: a record is late (dropped) once stream time has passed its window's end by
/// the grace period; it joins the other side's records in its window whose windows are
/// still open; an unmatched record of a kept side is emitted with `-` when its window
/// closes, ordered by (time, side, key), before the record that closed it is joined.
fn model_stream_join(
    kind: Kind,
    before: i64,
    after: i64,
    grace: i64,
    inputs: &[In],
) -> Vec<Vec<Out>> {
    // (time, left side?, key, value) of each side's stored records, in arrival order.
    let mut lefts: Vec<(i64, String, i64)> = Vec::new();
    let mut rights: Vec<(i64, String, i64)> = Vec::new();
    // Unmatched: (time, side: 0 left / 1 right, key, value), arrival order.
    let mut pending: Vec<(i64, u8, String, i64)> = Vec::new();
    let mut stream = i64::MIN;
    let lookback = |side: u8| if side == 0 { after } else { before };
    let closed = |side: u8, t: i64, s: i64| t + lookback(side) + grace < s;
    let keeps = |side: u8| match kind {
        Kind::Inner => false,
        Kind::Left => side == 0,
        Kind::Outer => true,
    };
    let mut steps = Vec::new();
    for i in inputs {
        let side = if i.left { 0 } else { 1 };
        let mut out = Vec::new();
        if stream != i64::MIN && closed(side, i.ts, stream) {
            steps.push(out);
            continue;
        }
        stream = stream.max(i.ts);
        let mut done: Vec<(i64, u8, String, i64)> = Vec::new();
        pending.retain(|p| {
            if closed(p.1, p.0, stream) {
                done.push(p.clone());
                false
            } else {
                true
            }
        });
        done.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        for (t, sd, k, v) in done {
            let value = if sd == 0 {
                show(Some(&v), None)
            } else {
                show(None, Some(&v))
            };
            out.push((k, value, t));
        }
        let (lo, hi) = if i.left {
            (i.ts - before, i.ts + after)
        } else {
            (i.ts - after, i.ts + before)
        };
        let other = if i.left { &rights } else { &lefts };
        let mut partners: Vec<(i64, i64)> = other
            .iter()
            .filter(|(t, k, _)| {
                *k == i.key && (lo..=hi).contains(t) && !closed(1 - side, *t, stream)
            })
            .map(|(t, _, v)| (*t, *v))
            .collect();
        partners.sort_by_key(|p| p.0);
        for (t, v) in &partners {
            let value = if i.left {
                show(Some(&i.value), Some(v))
            } else {
                show(Some(v), Some(&i.value))
            };
            out.push((i.key.clone(), value, i.ts.max(*t)));
            pending.retain(|p| !(p.0 == *t && p.1 == 1 - side && p.2 == i.key));
        }
        let mine = if i.left { &mut lefts } else { &mut rights };
        mine.push((i.ts, i.key.clone(), i.value));
        if partners.is_empty() && keeps(side) {
            pending.push((i.ts, side, i.key.clone(), i.value));
        }
        steps.push(out);
    }
    steps
}

fn windows(before: u64, after: u64, grace: u64) -> JoinWindows {
    JoinWindows::of_time_difference_and_grace(ms(after), ms(grace)).before(ms(before))
}

#[test]
fn left_join_emits_unmatched_records_when_their_window_closes() {
    let w = JoinWindows::of_time_difference_and_grace(ms(10), ms(5));
    let inputs = [
        l("a", 1, 100),
        r("a", 2, 105),
        l("b", 3, 110),
        r("c", 4, 120),
        // Out of order and late: 104 + 10 + 5 < 120.
        l("b", 5, 104),
        // Out of order within the grace period: joins the right a@105.
        l("a", 6, 108),
        // Closes b@110's window (110 + 10 + 5 < 126).
        r("d", 7, 126),
        // b's window is closed: no join with b@110, whose `-` result was emitted.
        r("b", 8, 118),
    ];
    let got = run_stream_join(Kind::Left, w, &inputs, false);
    let want: Vec<Vec<Out>> = vec![
        vec![],
        vec![(s("a"), s("1|2"), 105)],
        vec![],
        vec![],
        vec![],
        vec![(s("a"), s("6|2"), 108)],
        vec![(s("b"), s("3|-"), 110)],
        vec![],
    ];
    assert_eq!(got, want);
    assert_eq!(model_stream_join(Kind::Left, 10, 10, 5, &inputs), want);
}

#[test]
fn outer_join_emits_both_sides_unmatched_and_never_both_a_match_and_a_null() {
    let w = JoinWindows::of_time_difference_with_no_grace(ms(5));
    let inputs = [
        l("a", 1, 10),
        r("b", 2, 12),
        // a@10 closes at 16, b@12 at 18.
        l("a", 3, 16),
        r("a", 4, 17),
        l("z", 5, 30),
    ];
    let got = run_stream_join(Kind::Outer, w, &inputs, false);
    let want: Vec<Vec<Out>> = vec![
        vec![],
        vec![],
        // a@16 closes a@10's window (10 + 5 < 16) before it is joined.
        vec![(s("a"), s("1|-"), 10)],
        // a@17 joins a@16 (which then never gets a `-` result), not a@10.
        vec![(s("a"), s("3|4"), 17)],
        vec![(s("b"), s("-|2"), 12)],
    ];
    assert_eq!(got, want);
    assert_eq!(model_stream_join(Kind::Outer, 5, 5, 0, &inputs), want);
}

#[test]
fn inner_join_of_in_order_records_yields_every_pair_within_the_window() {
    // With timestamps in order nothing is late and no partner is closed: the result is
    // every pair of one key within [-before, +after], at the later timestamp.
    let mut inputs = Vec::new();
    let mut x = 7u64;
    for ts in 0..120i64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if x >> 62 == 0 {
            continue;
        }
        let key = ["a", "b", "c"][((x >> 40) % 3) as usize];
        let rec = if (x >> 33) & 1 == 0 { l } else { r };
        inputs.push(rec(key, ts, ts));
    }
    let (before, after) = (7, 3);
    let got: BTreeSet<(Out, usize)> = multiset(
        run_stream_join(Kind::Inner, windows(before, after, 0), &inputs, false)
            .into_iter()
            .flatten(),
    );
    let mut pairs = Vec::new();
    for a in inputs.iter().filter(|i| i.left) {
        for b in inputs.iter().filter(|i| !i.left) {
            let d = b.ts - a.ts;
            if a.key == b.key && -(before as i64) <= d && d <= after as i64 {
                pairs.push((
                    a.key.clone(),
                    show(Some(&a.value), Some(&b.value)),
                    a.ts.max(b.ts),
                ));
            }
        }
    }
    assert!(pairs.len() > 50, "the data should join a fair amount");
    assert_eq!(got, multiset(pairs));
}

fn multiset<T: Ord + Clone>(items: impl IntoIterator<Item = T>) -> BTreeSet<(T, usize)> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i).or_default() += 1;
    }
    counts
        .into_iter()
        .flat_map(|(t, n)| (0..n).map(move |i| (t.clone(), i)))
        .collect()
}

#[test]
fn duplicates_with_one_key_and_timestamp_all_join() {
    let w = JoinWindows::of_time_difference_with_no_grace(ms(0));
    let inputs = [
        l("k", 1, 5),
        l("k", 2, 5),
        r("k", 3, 5),
        r("k", 4, 5),
        l("k", 5, 5),
    ];
    let got = run_stream_join(Kind::Inner, w, &inputs, false);
    let want: Vec<Vec<Out>> = vec![
        vec![],
        vec![],
        vec![(s("k"), s("1|3"), 5), (s("k"), s("2|3"), 5)],
        vec![(s("k"), s("1|4"), 5), (s("k"), s("2|4"), 5)],
        vec![(s("k"), s("5|3"), 5), (s("k"), s("5|4"), 5)],
    ];
    assert_eq!(got, want);
}

/// A deterministic spread of inputs: out of order, late, duplicate timestamps, few keys.
fn scrambled(seed: u64, n: usize) -> Vec<In> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let mut t = 50i64;
    (0..n)
        .map(|i| {
            t += (next() % 7) as i64;
            let ts = (t - (next() % 25) as i64).max(0);
            let key = ["a", "b", "c"][(next() % 3) as usize];
            if next().is_multiple_of(2) {
                l(key, i as i64, ts)
            } else {
                r(key, i as i64, ts)
            }
        })
        .collect()
}

#[test]
fn every_stream_join_kind_matches_the_model_on_scrambled_input() {
    for (seed, kind) in (0..36u64).zip([Kind::Inner, Kind::Left, Kind::Outer].into_iter().cycle()) {
        let p = seed / 3;
        let (before, after, grace) = ((p * 7) % 11, (p * 5 + 2) % 9, (p * 3) % 13);
        let inputs = scrambled(seed, 60);
        let got = run_stream_join(kind, windows(before, after, grace), &inputs, false);
        let want = model_stream_join(kind, before as i64, after as i64, grace as i64, &inputs);
        assert_eq!(
            got, want,
            "{kind:?} before={before} after={after} grace={grace} inputs={inputs:?}"
        );
    }
}

#[test]
fn stream_joins_on_rocksdb_stores_answer_as_in_memory() {
    let inputs = scrambled(99, 80);
    for kind in [Kind::Inner, Kind::Left, Kind::Outer] {
        let w = windows(6, 4, 3);
        assert_eq!(
            run_stream_join(kind, w, &inputs, true),
            run_stream_join(kind, w, &inputs, false),
            "{kind:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The inner join matches the model on arbitrary input.
    #[test]
    fn inner_join_matches_the_model(
        recs in proptest::collection::vec((any::<bool>(), 0u8..3, 0i64..80), 0..40),
        before in 0u64..15,
        after in 0u64..15,
        grace in 0u64..15,
    ) {
        let inputs: Vec<In> = recs
            .iter()
            .enumerate()
            .map(|(i, (left, key, ts))| In {
                left: *left,
                key: ((b'a' + key) as char).to_string(),
                value: i as i64,
                ts: *ts,
            })
            .collect();
        let got = run_stream_join(Kind::Inner, windows(before, after, grace), &inputs, false);
        let want = model_stream_join(Kind::Inner, before as i64, after as i64, grace as i64, &inputs);
        prop_assert_eq!(got, want);
    }
}

#[test]
fn a_stream_join_shows_its_windowed_and_join_nodes_and_stores() {
    let topology = stream_join_topology(
        Kind::Left,
        JoinWindows::of_time_difference_with_no_grace(ms(5)),
    );
    let d = topology.describe().to_string();
    for want in [
        "Processor: KSTREAM-WINDOWED-0000000002 (stores: [KSTREAM-JOINTHIS-0000000004-store])",
        "Processor: KSTREAM-WINDOWED-0000000003 (stores: [KSTREAM-OUTEROTHER-0000000005-store])",
        "Processor: KSTREAM-JOINTHIS-0000000004 (stores: [KSTREAM-OUTEROTHER-0000000005-store, KSTREAM-OUTERSHARED-0000000006-store])",
        "Processor: KSTREAM-OUTEROTHER-0000000005 (stores: [KSTREAM-JOINTHIS-0000000004-store, KSTREAM-OUTERSHARED-0000000006-store])",
        "Processor: KSTREAM-MERGE-0000000007 (stores: [])",
        "<-- KSTREAM-JOINTHIS-0000000004, KSTREAM-OUTEROTHER-0000000005",
    ] {
        assert!(d.contains(want), "missing {want:?} in\n{d}");
    }
    assert_eq!(d.matches("Sub-topology").count(), 1, "{d}");
    let groups: Vec<BTreeSet<String>> = topology.copartition_groups().to_vec();
    assert_eq!(groups, vec![BTreeSet::from([s("left"), s("right")])]);
    let stores: Vec<&str> = topology.stores().map(|d| d.name()).collect();
    assert_eq!(stores.len(), 3, "{stores:?}");
}

#[test]
fn named_stream_joins_name_their_nodes_stores_and_repartition_topics() {
    let b = StreamsBuilder::new();
    let left = b
        .stream(&["left"], strings())
        .select_key(|_, v: &i64| format!("k{}", v % 2));
    let right = b.stream(&["right"], strings());
    left.outer_join(
        &right,
        show,
        JoinWindows::of_time_difference_with_no_grace(ms(100)),
        StreamJoined::with(Serdes::string(), Serdes::i64(), Serdes::i64())
            .with_name("j")
            .with_store_name("js")
            .in_memory(),
    )
    .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let topology = b.build().unwrap();
    let d = topology.describe().to_string();
    for want in [
        "j-left-repartition",
        "Processor: j-this-windowed (stores: [js-outer-this-join-store])",
        "Processor: j-other-windowed (stores: [js-outer-other-join-store])",
        "Processor: j-this-join (stores: [js-outer-other-join-store, js-shared-outer-join-store])",
        "Processor: j-merge",
    ] {
        assert!(d.contains(want), "missing {want:?} in\n{d}");
    }
    assert!(topology
        .internal_topics()
        .contains_key("j-left-repartition"));
    assert!(!topology
        .internal_topics()
        .contains_key("j-right-repartition"));
    assert_eq!(
        topology.copartition_groups(),
        &[BTreeSet::from([s("j-left-repartition"), s("right")])]
    );
    // The re-keyed side goes through its repartition topic and joins under the new key.
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut lt = driver.create_input_topic("left", Serdes::string(), Serdes::i64());
    let mut rt = driver.create_input_topic("right", Serdes::string(), Serdes::i64());
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    rt.pipe_input_at(s("k1"), 10, 0).unwrap();
    lt.pipe_input_at(s("x"), 3, 5).unwrap();
    assert_eq!(drain(&out), vec![(s("k1"), s("3|10"), 5)]);
}

// ---------------------------------------------------------------------------------------
// Stream-table joins
// ---------------------------------------------------------------------------------------

/// An input of a stream-table or table-table test: a stream record, a table update
/// (`None`: a tombstone).
#[derive(Debug, Clone)]
enum Op {
    Stream(String, i64, i64),
    Table(String, Option<i64>, i64),
}

#[test]
fn stream_table_joins_look_records_up_in_the_current_table() {
    for left in [false, true] {
        let b = StreamsBuilder::new();
        let stream = b.stream(&["clicks"], strings());
        let table = b.table("users", strings(), Materialized::as_store("users-store"));
        let out = if left {
            stream.left_join_table(&table, |v, t| show(Some(v), t), Joined::default())
        } else {
            stream.join_table(&table, |v, t| show(Some(v), Some(t)), Joined::default())
        };
        out.to("out", Produced::with(Serdes::string(), Serdes::string()));
        let topology = b.build().unwrap();
        let d = topology.describe().to_string();
        let node = if left {
            "KSTREAM-LEFTJOIN-"
        } else {
            "KSTREAM-JOIN-"
        };
        assert!(
            d.contains(&format!(
                "Processor: {node}0000000004 (stores: [users-store])"
            )),
            "{d}"
        );
        assert_eq!(
            topology.copartition_groups(),
            &[BTreeSet::from([s("clicks"), s("users")])]
        );
        let driver = TopologyTestDriver::new(topology).unwrap();
        let mut clicks = driver.create_input_topic("clicks", Serdes::string(), Serdes::i64());
        let mut users = driver.create_input_topic("users", Serdes::string(), Serdes::i64());
        let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
        let ops = [
            Op::Stream(s("a"), 1, 10),
            Op::Table(s("a"), Some(100), 20),
            Op::Stream(s("a"), 2, 5), // out of order: still sees the current row
            Op::Table(s("b"), Some(200), 30),
            Op::Table(s("a"), Some(101), 40),
            Op::Stream(s("a"), 3, 50),
            Op::Stream(s("b"), 4, 50),
            Op::Table(s("a"), None, 60),
            Op::Stream(s("a"), 5, 70),
            Op::Stream(s("c"), 6, 70),
        ];
        let mut rows: BTreeMap<String, i64> = BTreeMap::new();
        for op in ops {
            let mut want = Vec::new();
            match op {
                Op::Stream(k, v, ts) => {
                    clicks.pipe_input_at(k.clone(), v, ts).unwrap();
                    match rows.get(&k) {
                        Some(t) => want.push((k, show(Some(&v), Some(t)), ts)),
                        None if left => want.push((k, show(Some(&v), None), ts)),
                        None => {}
                    }
                }
                Op::Table(k, v, ts) => {
                    match v {
                        Some(v) => {
                            users.pipe_input_at(k.clone(), v, ts).unwrap();
                            rows.insert(k, v);
                        }
                        None => {
                            users.pipe_tombstone(k.clone(), ts).unwrap();
                            rows.remove(&k);
                        }
                    }
                    // Table updates yield nothing.
                }
            }
            assert_eq!(drain(&out), want, "left={left}");
        }
    }
}

#[test]
fn a_stream_joins_a_table_that_is_not_materialized_through_a_store_of_its_own() {
    let b = StreamsBuilder::new();
    let stream = b
        .stream(&["s"], strings())
        .map(|k: String, v: i64| (k.to_uppercase(), v));
    let table = b
        .table("t", strings(), Materialized::default())
        .filter(|_, v| *v > 0)
        .map_values(|_, v| v * 10);
    stream
        .join_table(
            &table,
            |v, t| show(Some(v), Some(t)),
            Joined::with(Serdes::string(), Serdes::i64(), Serdes::i64()).with_name("sj"),
        )
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let topology = b.build().unwrap();
    let d = topology.describe().to_string();
    assert!(d.contains("Processor: KTABLE-MATERIALIZE-"), "{d}");
    assert!(
        d.contains("Processor: sj (stores: [KTABLE-MATERIALIZE-"),
        "{d}"
    );
    assert!(
        topology.internal_topics().contains_key("sj-repartition"),
        "{d}"
    );
    assert_eq!(
        topology.copartition_groups(),
        &[BTreeSet::from([s("sj-repartition"), s("t")])]
    );
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut st = driver.create_input_topic("s", Serdes::string(), Serdes::i64());
    let mut tt = driver.create_input_topic("t", Serdes::string(), Serdes::i64());
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    tt.pipe_input_at(s("A"), 4, 0).unwrap();
    tt.pipe_input_at(s("B"), -1, 0).unwrap();
    st.pipe_input_at(s("a"), 1, 1).unwrap();
    st.pipe_input_at(s("b"), 2, 2).unwrap();
    tt.pipe_input_at(s("A"), -5, 3).unwrap(); // filtered out: deleted from the join's view
    st.pipe_input_at(s("a"), 3, 4).unwrap();
    assert_eq!(drain(&out), vec![(s("A"), s("1|40"), 1)]);
}

// ---------------------------------------------------------------------------------------
// Stream-global joins
// ---------------------------------------------------------------------------------------

#[test]
fn stream_global_joins_look_up_the_selected_key_from_every_task() {
    for left in [false, true] {
        let b = StreamsBuilder::new();
        let orders = b.stream(&["orders"], strings());
        let products = b.global_table("products", strings(), Materialized::as_store("products"));
        // The product of an order is its value's last digit.
        let select = |_: &String, v: &i64| format!("p{}", v % 10);
        let out = if left {
            orders.left_join_global(&products, select, |v, p| show(Some(v), p))
        } else {
            orders.join_global(&products, select, |v, p| show(Some(v), Some(p)))
        };
        out.to("out", Produced::with(Serdes::string(), Serdes::string()));
        let topology = b.build().unwrap();
        assert!(topology.copartition_groups().is_empty());
        let d = topology.describe().to_string();
        assert!(d.contains("for global store"), "{d}");
        let driver = TopologyTestDriver::new(topology).unwrap();
        let mut o = driver.create_input_topic("orders", Serdes::string(), Serdes::i64());
        let mut p = driver.create_input_topic("products", Serdes::string(), Serdes::i64());
        let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
        o.pipe_input_at(s("o1"), 11, 1).unwrap();
        p.pipe_input_at(s("p1"), 500, 2).unwrap();
        o.pipe_input_at(s("o2"), 21, 3).unwrap();
        o.pipe_input_at(s("o3"), 22, 4).unwrap();
        p.pipe_tombstone(s("p1"), 5).unwrap();
        o.pipe_input_at(s("o4"), 31, 6).unwrap();
        let mut want = vec![(s("o2"), s("21|500"), 3)];
        if left {
            want = vec![
                (s("o1"), s("11|-"), 1),
                (s("o2"), s("21|500"), 3),
                (s("o3"), s("22|-"), 4),
                (s("o4"), s("31|-"), 6),
            ];
        }
        assert_eq!(drain(&out), want, "left={left}");
    }
}

// ---------------------------------------------------------------------------------------
// Table-table joins
// ---------------------------------------------------------------------------------------

/// The joined row of `k` in the model.
fn table_row(
    kind: Kind,
    left: &BTreeMap<String, i64>,
    right: &BTreeMap<String, i64>,
    k: &str,
) -> Option<i64> {
    let (a, b) = (left.get(k), right.get(k));
    let v = |a: Option<&i64>, b: Option<&i64>| a.map_or(0, |x| x * 1000) + b.map_or(0, |x| *x) + 7;
    match (a, b, kind) {
        (Some(_), Some(_), _) => Some(v(a, b)),
        (Some(_), None, Kind::Left | Kind::Outer) => Some(v(a, None)),
        (None, Some(_), Kind::Outer) => Some(v(None, b)),
        _ => None,
    }
}

#[test]
fn table_joins_follow_the_joined_rows_of_a_model() {
    let joined =
        |a: Option<&i64>, b: Option<&i64>| a.map_or(0, |x| x * 1000) + b.map_or(0, |x| *x) + 7;
    for kind in [Kind::Inner, Kind::Left, Kind::Outer] {
        let b = StreamsBuilder::new();
        let lt = b.table("lt", strings(), Materialized::default());
        let rt = b.table("rt", strings(), Materialized::default());
        let result = match kind {
            Kind::Inner => lt.join(&rt, move |a, b| joined(Some(a), Some(b))),
            Kind::Left => lt.left_join(&rt, move |a, b| joined(Some(a), b)),
            Kind::Outer => lt.outer_join(&rt, joined),
        };
        result.to_stream().to(
            "out",
            Produced::with(Serdes::string(), Serdes::optional(Serdes::i64())),
        );
        // The sum of the joined rows, kept by subtracting old values: checks the changes'
        // old values.
        result
            .group_by(
                |_, v| (s("sum"), *v),
                Grouped::with(Serdes::string(), Serdes::i64()),
            )
            .reduce(
                |a, b| a + b,
                |a, b| a - b,
                Materialized::with(Serdes::string(), Serdes::i64()),
            )
            .to_stream()
            .to(
                "sum",
                Produced::with(Serdes::string(), Serdes::optional(Serdes::i64())),
            );
        let topology = b.build().unwrap();
        let d = topology.describe().to_string();
        let (this, other) = match kind {
            Kind::Inner => ("KTABLE-JOINTHIS-", "KTABLE-JOINOTHER-"),
            Kind::Left => ("KTABLE-LEFTTHIS-", "KTABLE-LEFTOTHER-"),
            Kind::Outer => ("KTABLE-OUTERTHIS-", "KTABLE-OUTEROTHER-"),
        };
        assert!(
            d.contains(&format!(
                "Processor: {this}0000000006 (stores: [rt-STATE-STORE-0000000004])"
            )),
            "{d}"
        );
        assert!(
            d.contains(&format!(
                "Processor: {other}0000000007 (stores: [lt-STATE-STORE-0000000001])"
            )),
            "{d}"
        );
        assert!(
            d.contains("Processor: KTABLE-MERGE-0000000008 (stores: [])"),
            "{d}"
        );
        assert!(topology
            .copartition_groups()
            .contains(&BTreeSet::from([s("lt"), s("rt")])));
        let driver = TopologyTestDriver::new(topology).unwrap();
        let mut ltt = driver.create_input_topic("lt", Serdes::string(), Serdes::i64());
        let mut rtt = driver.create_input_topic("rt", Serdes::string(), Serdes::i64());
        let out =
            driver.create_output_topic("out", Serdes::string(), Serdes::optional(Serdes::i64()));
        let sum =
            driver.create_output_topic("sum", Serdes::string(), Serdes::optional(Serdes::i64()));
        let (mut left, mut right) = (BTreeMap::new(), BTreeMap::new());
        let mut x = 12345u64;
        let mut last_sum = None;
        for step in 0..150i64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = ["a", "b", "c", "d"][((x >> 35) % 4) as usize];
            let value = ((x >> 45) % 9) as i64;
            let tombstone = (x >> 50).is_multiple_of(4);
            let on_left = (x >> 55).is_multiple_of(2);
            let ts = 1000 - step * 3 + ((x >> 20) % 17) as i64; // mostly backwards in time
            let before = table_row(kind, &left, &right, key);
            let (topic, rows) = if on_left {
                (&mut ltt, &mut left)
            } else {
                (&mut rtt, &mut right)
            };
            if tombstone {
                topic.pipe_tombstone(s(key), ts).unwrap();
                rows.remove(key);
            } else {
                topic.pipe_input_at(s(key), value, ts).unwrap();
                rows.insert(s(key), value);
            }
            let after = table_row(kind, &left, &right, key);
            let got: Vec<(String, Option<i64>)> =
                drain(&out).into_iter().map(|(k, v, _)| (k, v)).collect();
            let want = if before.is_some() || after.is_some() {
                vec![(s(key), after)]
            } else {
                vec![]
            };
            assert_eq!(got, want, "{kind:?} step {step}");
            let model_sum: i64 = ["a", "b", "c", "d"]
                .iter()
                .filter_map(|k| table_row(kind, &left, &right, k))
                .sum();
            if let Some((_, v, _)) = drain(&sum).pop() {
                last_sum = v;
            }
            if last_sum.is_some() || model_sum != 0 {
                assert_eq!(last_sum.unwrap_or(0), model_sum, "{kind:?} step {step}");
            }
        }
    }
}

#[test]
fn table_join_results_take_the_later_timestamp_and_can_be_materialized() {
    let b = StreamsBuilder::new();
    let lt = b.table("lt", strings(), Materialized::default());
    let rt = b.table("rt", strings(), Materialized::default());
    lt.left_join_with(
        &rt,
        |a, b| show(Some(a), b),
        Joined::as_name("tj"),
        Materialized::as_store("tj-store"),
    )
    .to_stream()
    .to(
        "out",
        Produced::with(Serdes::string(), Serdes::optional(Serdes::string())),
    );
    let topology = b.build().unwrap();
    let d = topology.describe().to_string();
    assert!(
        d.contains("Processor: tj-join-this (stores: [rt-STATE-STORE-"),
        "{d}"
    );
    assert!(
        d.contains("Processor: tj-merge (stores: [tj-store])"),
        "{d}"
    );
    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut ltt = driver.create_input_topic("lt", Serdes::string(), Serdes::i64());
    let mut rtt = driver.create_input_topic("rt", Serdes::string(), Serdes::i64());
    let out =
        driver.create_output_topic("out", Serdes::string(), Serdes::optional(Serdes::string()));
    rtt.pipe_input_at(s("a"), 2, 50).unwrap();
    ltt.pipe_input_at(s("a"), 1, 10).unwrap();
    rtt.pipe_tombstone(s("a"), 20).unwrap();
    ltt.pipe_tombstone(s("a"), 30).unwrap();
    assert_eq!(
        drain(&out),
        vec![
            (s("a"), Some(s("1|2")), 50),
            (s("a"), Some(s("1|-")), 20),
            (s("a"), None, 30),
        ]
    );
    let store = driver
        .key_value_store::<String, String>("tj-store")
        .unwrap();
    assert_eq!(store.get(&s("a")).unwrap(), None);
}

// ---------------------------------------------------------------------------------------
// Foreign-key joins
// ---------------------------------------------------------------------------------------

/// A left row: its foreign key and a number.
type Order = (Option<String>, i64);

fn fk_topology(left_join: bool, named: bool) -> Topology {
    let b = StreamsBuilder::new();
    let orders = b.table(
        "orders",
        Consumed::with(Serdes::string(), Serdes::json::<Order>()),
        Materialized::default(),
    );
    let customers = b.table("customers", strings(), Materialized::default());
    let fk = |o: &Order| o.0.clone();
    let result = match (left_join, named) {
        (false, false) => orders.join_foreign_key(&customers, fk, |o, c| format!("{}/{c}", o.1)),
        (true, false) => orders.left_join_foreign_key(&customers, fk, |o, c| {
            format!("{}/{}", o.1, c.map_or_else(|| s("-"), |c| c.to_string()))
        }),
        (false, true) => orders.join_foreign_key_with(
            &customers,
            fk,
            |o, c| format!("{}/{c}", o.1),
            TableJoined::as_name("fkj"),
            Materialized::as_store("fkj-result"),
        ),
        (true, true) => orders.left_join_foreign_key_with(
            &customers,
            fk,
            |o, c| format!("{}/{}", o.1, c.map_or_else(|| s("-"), |c| c.to_string())),
            TableJoined::as_name("fkj"),
            Materialized::as_store("fkj-result"),
        ),
    };
    result.to_stream().to(
        "out",
        Produced::with(Serdes::string(), Serdes::optional(Serdes::string())),
    );
    b.build().unwrap()
}

/// An input of a foreign-key join test.
#[derive(Debug, Clone)]
enum FkOp {
    /// An order row (`None`: deleted).
    Order(&'static str, Option<Order>),
    /// A customer row (`None`: deleted).
    Customer(&'static str, Option<i64>),
}

struct FkHarness {
    driver: TopologyTestDriver,
    left_join: bool,
    orders: BTreeMap<String, Order>,
    customers: BTreeMap<String, i64>,
    /// The output as a table: the latest value per key.
    seen: BTreeMap<String, String>,
}

impl FkHarness {
    fn new(left_join: bool, named: bool) -> FkHarness {
        FkHarness {
            driver: TopologyTestDriver::new(fk_topology(left_join, named)).unwrap(),
            left_join,
            orders: BTreeMap::new(),
            customers: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }

    fn model(&self) -> BTreeMap<String, String> {
        self.orders
            .iter()
            .filter_map(|(pk, (fk, n))| {
                let c = fk.as_ref().and_then(|f| self.customers.get(f));
                match c {
                    Some(c) => Some((pk.clone(), format!("{n}/{c}"))),
                    None if self.left_join => Some((pk.clone(), format!("{n}/-"))),
                    None => None,
                }
            })
            .collect()
    }

    /// Applies `op`; returns what the join emitted.
    fn apply(&mut self, op: &FkOp, ts: i64) -> Vec<(String, Option<String>)> {
        match op {
            FkOp::Order(k, v) => {
                let mut t = self.driver.create_input_topic(
                    "orders",
                    Serdes::string(),
                    Serdes::json::<Order>(),
                );
                match v {
                    Some(v) => {
                        t.pipe_input_at(s(k), v.clone(), ts).unwrap();
                        self.orders.insert(s(k), v.clone());
                    }
                    None => {
                        t.pipe_tombstone(s(k), ts).unwrap();
                        self.orders.remove(*k);
                    }
                }
            }
            FkOp::Customer(k, v) => {
                let mut t =
                    self.driver
                        .create_input_topic("customers", Serdes::string(), Serdes::i64());
                match v {
                    Some(v) => {
                        t.pipe_input_at(s(k), *v, ts).unwrap();
                        self.customers.insert(s(k), *v);
                    }
                    None => {
                        t.pipe_tombstone(s(k), ts).unwrap();
                        self.customers.remove(*k);
                    }
                }
            }
        }
        let out = self.driver.create_output_topic(
            "out",
            Serdes::string(),
            Serdes::optional(Serdes::string()),
        );
        let emitted: Vec<(String, Option<String>)> =
            drain(&out).into_iter().map(|(k, v, _)| (k, v)).collect();
        for (k, v) in &emitted {
            match v {
                Some(v) => self.seen.insert(k.clone(), v.clone()),
                None => self.seen.remove(k),
            };
        }
        emitted
    }
}

fn order(fk: Option<&str>, n: i64) -> Option<Order> {
    Some((fk.map(s), n))
}

#[test]
fn foreign_key_joins_follow_foreign_key_changes_and_deletes_on_both_sides() {
    use FkOp::*;
    // (op, what an inner join emits, what a left join emits)
    type Emitted = Vec<(&'static str, Option<&'static str>)>;
    let steps: Vec<(FkOp, Emitted, Emitted)> = vec![
        (
            Order("o1", order(Some("c1"), 1)),
            vec![],
            vec![("o1", Some("1/-"))],
        ),
        (
            Customer("c1", Some(100)),
            vec![("o1", Some("1/100"))],
            vec![("o1", Some("1/100"))],
        ),
        (
            Order("o2", order(Some("c1"), 2)),
            vec![("o2", Some("2/100"))],
            vec![("o2", Some("2/100"))],
        ),
        (Customer("c2", Some(200)), vec![], vec![]),
        // o1 moves to c2: the old subscription goes, the new result comes.
        (
            Order("o1", order(Some("c2"), 1)),
            vec![("o1", Some("1/200"))],
            vec![("o1", Some("1/200"))],
        ),
        // c1 now only has o2.
        (
            Customer("c1", Some(101)),
            vec![("o2", Some("2/101"))],
            vec![("o2", Some("2/101"))],
        ),
        // o2 moves to a customer that does not exist.
        (
            Order("o2", order(Some("c9"), 2)),
            vec![("o2", None)],
            vec![("o2", Some("2/-"))],
        ),
        // c9 appears.
        (
            Customer("c9", Some(900)),
            vec![("o2", Some("2/900"))],
            vec![("o2", Some("2/900"))],
        ),
        // A right delete.
        (
            Customer("c9", None),
            vec![("o2", None)],
            vec![("o2", Some("2/-"))],
        ),
        // A null foreign key.
        (
            Order("o1", order(None, 1)),
            vec![("o1", None)],
            vec![("o1", Some("1/-"))],
        ),
        (
            Order("o1", order(Some("c2"), 3)),
            vec![("o1", Some("3/200"))],
            vec![("o1", Some("3/200"))],
        ),
        // A left delete.
        (Order("o1", None), vec![("o1", None)], vec![("o1", None)]),
        (Customer("c2", Some(201)), vec![], vec![]),
    ];
    for left_join in [false, true] {
        let mut h = FkHarness::new(left_join, false);
        for (i, (op, inner, left)) in steps.iter().enumerate() {
            let want = if left_join { left } else { inner };
            let want: Vec<(String, Option<String>)> =
                want.iter().map(|(k, v)| (s(k), v.map(s))).collect();
            assert_eq!(
                h.apply(op, i as i64),
                want,
                "left_join={left_join} step {i}: {op:?}"
            );
            assert_eq!(h.seen, h.model(), "left_join={left_join} step {i}");
        }
    }
}

#[test]
fn foreign_key_joins_converge_to_the_model_after_every_update() {
    for left_join in [false, true] {
        let mut h = FkHarness::new(left_join, true);
        let mut x = 42u64;
        for step in 0..200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let op = if (x >> 60).is_multiple_of(2) {
                let pk = ["o1", "o2", "o3", "o4", "o5"][((x >> 30) % 5) as usize];
                let fk = ["c1", "c2", "c3"][((x >> 40) % 3) as usize];
                match (x >> 50) % 6 {
                    0 => FkOp::Order(pk, None),
                    1 => FkOp::Order(pk, order(None, step)),
                    _ => FkOp::Order(pk, order(Some(fk), (x >> 20) as i64 % 4)),
                }
            } else {
                let fk = ["c1", "c2", "c3"][((x >> 30) % 3) as usize];
                match (x >> 50) % 4 {
                    0 => FkOp::Customer(fk, None),
                    _ => FkOp::Customer(fk, Some((x >> 40) as i64 % 5)),
                }
            };
            h.apply(&op, step);
            assert_eq!(
                h.seen,
                h.model(),
                "left_join={left_join} step {step}: {op:?}"
            );
        }
        let store = h
            .driver
            .key_value_store::<String, String>("fkj-result")
            .unwrap();
        let stored: BTreeMap<String, String> = store.all().unwrap().into_iter().collect();
        assert_eq!(stored, h.model(), "left_join={left_join}");
    }
}

#[test]
fn a_foreign_key_join_shows_its_subscription_topics_stores_and_copartition_groups() {
    let topology = fk_topology(false, true);
    let d = topology.describe().to_string();
    for want in [
        "Sink: fkj-subscription-registration-topic-sink (topic: fkj-subscription-registration-topic)",
        "Source: fkj-subscription-registration-topic-source (topics: [fkj-subscription-registration-topic])",
        "Processor: fkj-subscription-processor (stores: [fkj-subscription-store, customers-STATE-STORE-",
        "Processor: fkj-foreign-processor (stores: [fkj-subscription-store])",
        "Sink: fkj-subscription-response-topic-sink (topic: fkj-subscription-response-topic)",
        "Processor: fkj-subscription-response-resolver (stores: [orders-STATE-STORE-",
        "Processor: fkj-output (stores: [fkj-result])",
    ] {
        assert!(d.contains(want), "missing {want:?} in\n{d}");
    }
    assert_eq!(d.matches("Sub-topology").count(), 2, "{d}");
    let internal: Vec<&String> = topology.internal_topics().keys().collect();
    assert_eq!(
        internal,
        [
            &s("fkj-subscription-registration-topic"),
            &s("fkj-subscription-response-topic")
        ]
    );
    let groups: BTreeSet<BTreeSet<String>> =
        topology.copartition_groups().iter().cloned().collect();
    assert_eq!(
        groups,
        BTreeSet::from([
            BTreeSet::from([s("fkj-subscription-registration-topic"), s("customers")]),
            BTreeSet::from([s("fkj-subscription-response-topic"), s("orders")]),
        ])
    );
    // Unnamed: Kafka-style generated names.
    let d = fk_topology(true, false).describe().to_string();
    assert!(
        d.contains("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic"),
        "{d}"
    );
    assert!(d.contains("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-"), "{d}");
}

#[test]
fn joins_without_serdes_are_reported_at_build() {
    #[derive(Clone, Debug)]
    struct NoSerde;
    let b = StreamsBuilder::new();
    let left = b.stream(&["left"], strings()).map_values(|_| NoSerde);
    let right = b.stream(&["right"], strings());
    left.join(
        &right,
        |_, b| *b,
        JoinWindows::of_time_difference_with_no_grace(ms(1)),
        StreamJoined::default(),
    )
    .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    let err = b.build().unwrap_err().to_string();
    assert!(
        err.contains("stream-stream join") && err.contains("NoSerde"),
        "{err}"
    );
}

#[test]
fn stale_foreign_key_responses_are_dropped() {
    let mut h = FkHarness::new(false, true);
    h.apply(&FkOp::Customer("c1", Some(100)), 0);
    assert_eq!(
        h.apply(&FkOp::Order("o1", order(Some("c1"), 1)), 1),
        vec![(s("o1"), Some(s("1/100")))]
    );
    // Answers carrying the hash of another left value (or of none) are stale.
    let topic = "test-app-fkj-subscription-response-topic";
    let mut wrong_hash = vec![0u8, 1];
    wrong_hash.extend_from_slice(&[0xab; 16]);
    wrong_hash.push(1);
    wrong_hash.extend_from_slice(&999i64.to_be_bytes());
    let no_hash = vec![0u8, 0, 0];
    for value in [wrong_hash, no_hash] {
        h.driver
            .pipe_raw(topic, Some("o1".into()), Some(value.into()), 2, Vec::new())
            .unwrap();
        let out = h.driver.create_output_topic(
            "out",
            Serdes::string(),
            Serdes::optional(Serdes::string()),
        );
        assert!(out.is_empty());
    }
    assert_eq!(
        h.apply(&FkOp::Customer("c1", Some(7)), 3),
        vec![(s("o1"), Some(s("1/7")))]
    );
}

// ---------------------------------------------------------------------------------------
// On the runtime, against a real broker
// ---------------------------------------------------------------------------------------

mod on_a_broker {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use brook_client::consumer::OffsetReset;
    use brook_client::{
        Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord, TopicPartition,
    };
    use brook_streams::{
        Consumed, JoinWindows, Joined, KafkaStreams, Materialized, Produced, Serdes, StreamJoined,
        StreamsBuilder, StreamsConfig, TableJoined,
    };
    use bytes::Bytes;

    use super::support::TestBroker;

    impl TestBroker {
        /// Writes string records, partitioned by key (the default partitioner).
        fn produce(&self, topic: &str, records: &[(&str, &str)]) {
            let cluster = self.cluster();
            self.rt.block_on(async {
                let producer = Producer::with_cluster(cluster, ProducerConfig::default()).unwrap();
                for (k, v) in records {
                    let r = ProducerRecord::new(topic, Bytes::from(v.to_string()))
                        .with_key(Bytes::from(k.to_string()));
                    producer.send(r).await.unwrap();
                }
                producer.close(Duration::from_secs(5)).await.unwrap();
            });
        }

        /// The latest string value per key of `topic`, read to its end.
        fn table(&self, topic: &str) -> BTreeMap<String, Option<String>> {
            let cluster = self.cluster();
            self.rt.block_on(async {
                let meta = cluster.topic(topic).await.unwrap();
                let tps: Vec<TopicPartition> = meta
                    .partitions
                    .iter()
                    .map(|p| TopicPartition::new(topic, p.partition))
                    .collect();
                let mut config = ConsumerConfig::new(self.addr.clone());
                config.auto_offset_reset = OffsetReset::Earliest;
                config.enable_auto_commit = false;
                let mut consumer = Consumer::with_cluster(cluster, config);
                consumer.assign(&tps);
                let ends = consumer.end_offsets(&tps).await.unwrap();
                let mut out = BTreeMap::new();
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let mut done = true;
                    for tp in &tps {
                        if consumer.position(tp).await.unwrap() < ends[tp] {
                            done = false;
                        }
                    }
                    if done {
                        break;
                    }
                    assert!(Instant::now() < deadline, "cannot read {topic} to its end");
                    for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
                        let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                        let value = r.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
                        out.insert(key, value);
                    }
                }
                out
            })
        }
    }

    fn wait_for(broker: &TestBroker, topic: &str, want: &BTreeMap<String, Option<String>>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = broker.table(topic);
            if &got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{topic} never matched:\n got  {got:?}\n want {want:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, Option<String>> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect()
    }

    /// Foreign-key, stream-table and stream-global joins over 2 partitions, with the
    /// subscription topics, repartitioning and the global task of the real runtime.
    #[test]
    fn joins_run_on_the_runtime() {
        let broker = TestBroker::start();
        for (t, n) in [
            ("orders", 2),
            ("customers", 2),
            ("clicks", 2),
            ("products", 1),
            ("fk-out", 1),
            ("st-out", 1),
            ("g-out", 1),
            ("views", 2),
            ("ss-out", 1),
        ] {
            broker.create_topic(t, n);
        }
        let strings = || Consumed::with(Serdes::string(), Serdes::string());
        let out = || Produced::with(Serdes::string(), Serdes::string());
        let b = StreamsBuilder::new();
        let orders = b.table("orders", strings(), Materialized::default());
        let customers = b.table("customers", strings(), Materialized::default());
        orders
            .join_foreign_key_with(
                &customers,
                |c: &String| Some(c.clone()),
                |c, name| format!("{c}:{name}"),
                TableJoined::as_name("fk"),
                Materialized::with(Serdes::string(), Serdes::string()),
            )
            .to_stream()
            .to(
                "fk-out",
                Produced::with(Serdes::string(), Serdes::optional(Serdes::string())),
            );
        let clicks = b.stream(&["clicks"], strings());
        // Re-keyed by customer: joined with the customers through a repartition topic.
        clicks
            .map(|click: String, customer: String| (customer, click))
            .join_table(
                &customers,
                |page, name| format!("{page}@{name}"),
                Joined::as_name("st"),
            )
            .to("st-out", out());
        let products = b.global_table("products", strings(), Materialized::as_store("products"));
        clicks
            .join_global(
                &products,
                |_, v: &String| format!("p-{v}"),
                |v, p| format!("{v}={p}"),
            )
            .to("g-out", out());
        let views = b.stream(&["views"], strings());
        clicks
            .join(
                &views,
                |c, v| format!("{c}+{v}"),
                JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(3600)),
                StreamJoined::default(),
            )
            .to("ss-out", out());
        let topology = b.build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = StreamsConfig::new("joins-e2e", &broker.addr);
        config.state_dir = dir.path().to_owned();
        config.commit_interval = Duration::from_millis(100);
        config.poll = Duration::from_millis(50);
        config.session_timeout = Duration::from_secs(3);
        config.heartbeat_interval = Duration::from_millis(300);

        broker.produce("products", &[("p-c1", "shoes"), ("p-c2", "hats")]);
        broker.produce("customers", &[("c1", "ann"), ("c2", "bob"), ("c3", "cyd")]);
        let streams = KafkaStreams::new(topology, config).unwrap();
        streams.start().unwrap();
        broker.produce(
            "orders",
            &[
                ("o1", "c1"),
                ("o2", "c2"),
                ("o3", "c3"),
                ("o4", "c9"),
                ("o5", "c1"),
            ],
        );
        wait_for(
            &broker,
            "fk-out",
            &map(&[
                ("o1", "c1:ann"),
                ("o2", "c2:bob"),
                ("o3", "c3:cyd"),
                ("o5", "c1:ann"),
            ]),
        );
        // A right update reaches its subscribers; a foreign-key change moves a row.
        broker.produce("customers", &[("c1", "amy"), ("c9", "zed")]);
        broker.produce("orders", &[("o2", "c3")]);
        wait_for(
            &broker,
            "fk-out",
            &map(&[
                ("o1", "c1:amy"),
                ("o2", "c3:cyd"),
                ("o3", "c3:cyd"),
                ("o4", "c9:zed"),
                ("o5", "c1:amy"),
            ]),
        );
        broker.produce("clicks", &[("x1", "c1"), ("x2", "c2"), ("x3", "c7")]);
        wait_for(
            &broker,
            "st-out",
            &map(&[("c1", "x1@amy"), ("c2", "x2@bob")]),
        );
        wait_for(
            &broker,
            "g-out",
            &map(&[("x1", "c1=shoes"), ("x2", "c2=hats")]),
        );
        broker.produce("views", &[("x1", "v1"), ("x3", "v3"), ("x4", "v4")]);
        wait_for(&broker, "ss-out", &map(&[("x1", "c1+v1"), ("x3", "c7+v3")]));
        streams.close();
    }
}
