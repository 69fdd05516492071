//! Windowed aggregation, emit-final and suppression on the test driver, each against a
//! model in plain Rust: tumbling, hopping, sliding and session windows with out-of-order
//! and late records, grace boundaries to the millisecond, session merges and their
//! tombstones, final results exactly once, `suppress` until the window closes or a time
//! limit (eager and strict buffers), windowed key serdes, and a suppression buffer that
//! survives a restart (its changelog replayed into a fresh driver on RocksDB).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;

use brook_streams::test_driver::RawTestRecord;
use brook_streams::{
    BufferConfig, Consumed, EmitStrategy, Grouped, Materialized, Produced, Serdes, SessionWindows,
    SlidingWindows, StreamsBuilder, StreamsConfig, Suppressed, TestRecord, TimeWindows, Topology,
    TopologyTestDriver, Window, Windowed, WindowedSerdes,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn key(k: u8) -> String {
    format!("k{k}")
}

fn config() -> StreamsConfig {
    StreamsConfig::new("win-app", "dummy:1")
}

fn driver(topology: Topology) -> TopologyTestDriver {
    TopologyTestDriver::with_config(topology, &config(), false, 0).unwrap()
}

type Out = (Windowed<String>, Option<i64>, i64);

/// Every record of `topic` as (windowed key, value, timestamp).
fn read_time(driver: &TopologyTestDriver, topic: &str, size: i64) -> Vec<Out> {
    let out = driver.create_output_topic(
        topic,
        WindowedSerdes::time_windowed(Serdes::string(), ms(size as u64)),
        Serdes::optional(Serdes::i64()),
    );
    to_outs(out.read_records_to_list().unwrap())
}

fn read_session(driver: &TopologyTestDriver, topic: &str) -> Vec<Out> {
    let out = driver.create_output_topic(
        topic,
        WindowedSerdes::session_windowed(Serdes::string()),
        Serdes::optional(Serdes::i64()),
    );
    to_outs(out.read_records_to_list().unwrap())
}

fn to_outs(records: Vec<TestRecord<Windowed<String>, Option<i64>>>) -> Vec<Out> {
    records
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn w(k: &str, start: i64, end: i64) -> Windowed<String> {
    Windowed::new(k.to_owned(), Window::new(start, end))
}

fn pipe(driver: &TopologyTestDriver, records: &[(u8, i64)]) {
    let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    for &(k, t) in records {
        input.pipe_input_at(key(k), 1, t).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Time windows (tumbling and hopping)

fn time_topology(windows: TimeWindows, emit: EmitStrategy) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(windows)
        .emit_strategy(emit)
        .count(Materialized::as_store("counts").with_caching_disabled())
        .to_stream()
        .to("out", Produced::default());
    builder.build().unwrap()
}

/// The windows starting at multiples of `advance` that hold `t`.
fn model_windows(t: i64, size: i64, advance: i64) -> Vec<i64> {
    (0..=t / advance)
        .map(|i| i * advance)
        .filter(|s| *s <= t && t < s + size)
        .collect()
}

struct TimeModel {
    updates: Vec<Out>,
    finals: Vec<Out>,
    dropped: u64,
    windows: BTreeMap<(String, i64), (i64, i64)>,
}

/// Counts per key and window: every update, the final results in the order emit-final
/// forwards them (by close, then start, then key), and the drops.
fn time_model(records: &[(u8, i64)], size: i64, advance: i64, grace: i64) -> TimeModel {
    let mut m = TimeModel {
        updates: Vec::new(),
        finals: Vec::new(),
        dropped: 0,
        windows: BTreeMap::new(),
    };
    let mut emitted = BTreeSet::new();
    let mut observed = i64::MIN;
    for &(k, t) in records {
        observed = observed.max(t);
        let close = observed - grace;
        for s in model_windows(t, size, advance) {
            if s + size <= close {
                m.dropped += 1;
                continue;
            }
            let e = m.windows.entry((key(k), s)).or_insert((0, t));
            e.0 += 1;
            e.1 = e.1.max(t);
            m.updates.push((w(&key(k), s, s + size), Some(e.0), e.1));
        }
        let mut due: Vec<(i64, String)> = m
            .windows
            .keys()
            .filter(|(k, s)| s + size <= close && !emitted.contains(&(k.clone(), *s)))
            .map(|(k, s)| (*s, k.clone()))
            .collect();
        due.sort();
        for (s, k) in due {
            let (c, ts) = m.windows[&(k.clone(), s)];
            m.finals.push((w(&k, s, s + size), Some(c), ts));
            emitted.insert((k, s));
        }
    }
    m
}

fn check_time_windows(records: &[(u8, i64)], size: i64, advance: i64, grace: i64) {
    let windows = TimeWindows::of_size_and_grace(ms(size as u64), ms(grace as u64))
        .advance_by(ms(advance as u64));
    let model = time_model(records, size, advance, grace);

    let d = driver(time_topology(windows.clone(), EmitStrategy::OnWindowUpdate));
    pipe(&d, records);
    assert_eq!(read_time(&d, "out", size), model.updates, "updates");
    assert_eq!(d.dropped_records_total(), model.dropped, "dropped");
    // The store holds the latest count of every window still retained (size + grace).
    let store = d.window_store::<String, i64>("counts").unwrap();
    let observed = records.iter().map(|r| r.1).max().unwrap_or(i64::MIN);
    let max_start = model.windows.keys().map(|(_, s)| *s).max().unwrap_or(0);
    let live: BTreeMap<(String, i64), i64> = model
        .windows
        .iter()
        .filter(|((_, s), _)| *s > max_start - (size + grace))
        .map(|(k, (c, _))| (k.clone(), *c))
        .collect();
    let got: BTreeMap<(String, i64), i64> = store
        .all()
        .unwrap()
        .into_iter()
        .map(|(k, s, c)| ((k, s), c))
        .collect();
    assert_eq!(got, live, "store (stream time {observed})");

    let d = driver(time_topology(windows, EmitStrategy::OnWindowClose));
    pipe(&d, records);
    assert_eq!(read_time(&d, "out", size), model.finals, "finals");
    assert_eq!(
        d.dropped_records_total(),
        model.dropped,
        "dropped (emit final)"
    );
}

#[test]
fn tumbling_windows_with_out_of_order_and_late_records_match_the_model() {
    let records = [
        (0, 1),
        (1, 3),
        (0, 12),
        (0, 5), // out of order, within grace
        (1, 25),
        (0, 8), // late: window [0, 10) closed at 25 - 5 = 20
        (1, 19),
        (0, 30),
        (2, 22), // [20, 30) closes at 35: accepted
        (1, 40),
        (0, 29), // late: 30 + 5 <= 40
    ];
    check_time_windows(&records, 10, 10, 5);
}

#[test]
fn hopping_windows_with_out_of_order_and_late_records_match_the_model() {
    let records = [
        (0, 0),
        (0, 4),
        (1, 11),
        (0, 9),
        (0, 17),
        (1, 3), // in [0, 10) and [5, 15), both closed at 17 - 2: counted twice
        (0, 30),
        (1, 21),
        (1, 26),
        (0, 13),
    ];
    check_time_windows(&records, 10, 5, 2);
    check_time_windows(&records, 10, 3, 0);
}

#[test]
fn the_grace_period_ends_to_the_millisecond() {
    // Window [0, 10) with a grace of 5 closes at stream time 15.
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(5));
    let d = driver(time_topology(windows.clone(), EmitStrategy::OnWindowUpdate));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("a".into(), 1, 0).unwrap();
    input.pipe_input_at("b".into(), 1, 14).unwrap(); // end + grace - 1
    input.pipe_input_at("a".into(), 1, 9).unwrap(); // accepted
    assert_eq!(d.dropped_records_total(), 0);
    input.pipe_input_at("b".into(), 1, 15).unwrap(); // end + grace
    input.pipe_input_at("a".into(), 1, 9).unwrap(); // dropped
    assert_eq!(d.dropped_records_total(), 1);
    assert_eq!(
        read_time(&d, "out", 10),
        vec![
            (w("a", 0, 10), Some(1), 0),
            (w("b", 10, 20), Some(1), 14),
            (w("a", 0, 10), Some(2), 9),
            (w("b", 10, 20), Some(2), 15),
        ]
    );
    let store = d.window_store::<String, i64>("counts").unwrap();
    assert_eq!(store.fetch(&"a".into(), 0).unwrap(), Some(2));

    // Emit final: [0, 10) comes out once, at stream time 15, and never again.
    let d = driver(time_topology(windows, EmitStrategy::OnWindowClose));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("a".into(), 1, 0).unwrap();
    input.pipe_input_at("b".into(), 1, 14).unwrap();
    input.pipe_input_at("a".into(), 1, 9).unwrap();
    assert_eq!(read_time(&d, "out", 10), vec![], "nothing before the close");
    input.pipe_input_at("b".into(), 1, 15).unwrap();
    assert_eq!(read_time(&d, "out", 10), vec![(w("a", 0, 10), Some(2), 9)]);
    input.pipe_input_at("a".into(), 1, 9).unwrap();
    input.pipe_input_at("b".into(), 1, 16).unwrap();
    assert_eq!(read_time(&d, "out", 10), vec![], "a closed window again");
    assert_eq!(d.dropped_records_total(), 1);
    input.pipe_input_at("c".into(), 1, 25).unwrap();
    assert_eq!(
        read_time(&d, "out", 10),
        vec![(w("b", 10, 20), Some(3), 16)]
    );
}

fn records() -> impl Strategy<Value = Vec<(u8, i64)>> {
    proptest::collection::vec((0u8..3, 0i64..200), 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Tumbling counts (updates, final results, drops, store) against the model, for
    /// random out-of-order timestamps.
    #[test]
    fn tumbling_counts_match_the_model(
        input in records(),
        size in 1i64..40,
        grace in 0i64..30,
    ) {
        check_time_windows(&input, size, size, grace);
    }
}

// ---------------------------------------------------------------------------------------
// Sliding windows

fn sliding_topology(windows: SlidingWindows, emit: EmitStrategy, cache: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let m = Materialized::as_store("sliding");
    let m = if cache { m } else { m.with_caching_disabled() };
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(windows)
        .emit_strategy(emit)
        .reduce(|a, b| a + b, m)
        .to_stream()
        .to("out", Produced::default());
    builder.build().unwrap()
}

/// The sliding windows of a key's records and their sums: the window `[t - d, t]` of each
/// record at `t >= d` (`[0, d]` for earlier ones) and, when a record falls in it, the
/// window `[t + 1, t + 1 + d]`.
fn sliding_model(records: &[(i64, i64)], d: i64) -> BTreeMap<i64, i64> {
    let mut starts = BTreeSet::new();
    for &(t, _) in records {
        starts.insert((t - d).max(0));
        if records.iter().any(|&(r, _)| r > t && r <= t + 1 + d) {
            starts.insert(t + 1);
        }
    }
    starts
        .into_iter()
        .map(|s| {
            let sum = records
                .iter()
                .filter(|(t, _)| *t >= s && *t <= s + d)
                .map(|(_, v)| v)
                .sum();
            (s, sum)
        })
        .collect()
}

fn check_sliding(records: &[(u8, i64, i64)], d: i64) {
    // A grace beyond every timestamp: nothing is late, so every record counts.
    let windows = SlidingWindows::with_time_difference_and_grace(ms(d as u64), ms(1000));
    let dr = driver(sliding_topology(
        windows,
        EmitStrategy::OnWindowUpdate,
        false,
    ));
    let mut input = dr.create_input_topic("in", Serdes::string(), Serdes::i64());
    let mut by_key: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for &(k, t, v) in records {
        input.pipe_input_at(key(k), v, t).unwrap();
        by_key.entry(key(k)).or_default().push((t, v));
    }
    let want: BTreeMap<(String, i64), i64> = by_key
        .iter()
        .flat_map(|(k, rs)| {
            sliding_model(rs, d)
                .into_iter()
                .map(move |(s, sum)| ((k.clone(), s), sum))
        })
        .collect();
    let store = dr.window_store::<String, i64>("sliding").unwrap();
    let got: BTreeMap<(String, i64), i64> = store
        .all()
        .unwrap()
        .into_iter()
        .map(|(k, s, v)| ((k, s), v))
        .collect();
    assert_eq!(got, want, "windows of {records:?}");
    // The last update of each window is what the store holds; windows end at start + d.
    let mut last = BTreeMap::new();
    for (k, v, _) in read_time(&dr, "out", d) {
        assert_eq!(k.window.end, k.window.start + d);
        last.insert((k.key, k.window.start), v.unwrap());
    }
    assert_eq!(last, want, "last updates");
    assert_eq!(dr.dropped_records_total(), 0);
}

#[test]
fn sliding_windows_in_order_out_of_order_and_early_match_the_model() {
    check_sliding(&[(0, 100, 1), (0, 110, 2), (0, 105, 4)], 10);
    check_sliding(
        &[(0, 3, 1), (0, 7, 2), (0, 1, 4), (0, 12, 8), (0, 25, 16)],
        10,
    );
    check_sliding(
        &[
            (0, 50, 1),
            (1, 52, 1),
            (0, 61, 2),
            (0, 40, 4),
            (0, 60, 8),
            (0, 60, 16),
            (1, 40, 2),
        ],
        10,
    );
    check_sliding(&[(0, 5, 1), (0, 6, 2), (0, 5, 4)], 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Sliding sums for random out-of-order records (early ones included) are the sums of
    /// the windows the records define.
    #[test]
    fn sliding_sums_match_the_model(
        input in proptest::collection::vec((0u8..2, 0i64..80, 1i64..100), 0..25),
        d in 0i64..20,
    ) {
        check_sliding(&input, d);
    }
}

#[test]
fn late_sliding_records_are_dropped_and_counted() {
    // Difference 10, grace 5: a record at t is late once t + 1 + 10 <= stream time - 5.
    let windows = SlidingWindows::of_time_difference_and_grace(ms(10), ms(5));
    let d = driver(sliding_topology(
        windows,
        EmitStrategy::OnWindowUpdate,
        false,
    ));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("a".into(), 1, 20).unwrap();
    input.pipe_input_at("a".into(), 1, 50).unwrap();
    let _ = read_time(&d, "out", 10);
    input.pipe_input_at("a".into(), 1, 34).unwrap(); // 34 + 11 = 45 > 45? no: 45 <= 45, late
    assert_eq!(d.dropped_records_total(), 1);
    assert_eq!(read_time(&d, "out", 10), vec![]);
    // 35: not late, but its left window [25, 35] ends before 45 (closed): dropped for that
    // window (counted); the previous record's (20) right window [21, 31] does not hold it.
    input.pipe_input_at("a".into(), 1, 35).unwrap();
    assert_eq!(d.dropped_records_total(), 2);
    assert_eq!(read_time(&d, "out", 10), vec![]);
    // 40: its left window [30, 40] is closed too (dropped, counted), [40, 50] takes it,
    // and its right window [41, 51] is made from the records after it.
    input.pipe_input_at("a".into(), 1, 40).unwrap();
    assert_eq!(d.dropped_records_total(), 3);
    assert_eq!(
        read_time(&d, "out", 10),
        vec![(w("a", 40, 50), Some(2), 50), (w("a", 41, 51), Some(1), 50)]
    );
}

#[test]
fn sliding_emit_final_emits_each_window_once_after_it_closes() {
    let windows = SlidingWindows::of_time_difference_and_grace(ms(10), ms(0));
    let d = driver(sliding_topology(windows, EmitStrategy::OnWindowClose, true));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("a".into(), 1, 10).unwrap();
    assert_eq!(read_time(&d, "out", 10), vec![]);
    // Stream time 15: [0, 10] ends before 15, so it is final.
    input.pipe_input_at("a".into(), 2, 15).unwrap();
    assert_eq!(read_time(&d, "out", 10), vec![(w("a", 0, 10), Some(1), 10)]);
    // Stream time 26: [5, 15] (1 + 2) and [11, 21] (2) are final.
    input.pipe_input_at("b".into(), 4, 26).unwrap();
    assert_eq!(
        read_time(&d, "out", 10),
        vec![(w("a", 5, 15), Some(3), 15), (w("a", 11, 21), Some(2), 15)]
    );
    // Stream time 27: b's [16, 26] is final; [17, 27] (4 + 8) and [27, 37] (8) are not.
    input.pipe_input_at("b".into(), 8, 27).unwrap();
    assert_eq!(
        read_time(&d, "out", 10),
        vec![(w("b", 16, 26), Some(4), 26)]
    );
    // A late record changes nothing.
    input.pipe_input_at("a".into(), 16, 12).unwrap();
    assert_eq!(read_time(&d, "out", 10), vec![]);
    assert_eq!(d.dropped_records_total(), 1);
}

// ---------------------------------------------------------------------------------------
// Session windows

fn session_topology(windows: SessionWindows, emit: EmitStrategy) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(windows)
        .emit_strategy(emit)
        .count(Materialized::as_store("sessions").with_caching_disabled())
        .to_stream()
        .to("out", Produced::default());
    builder.build().unwrap()
}

struct SessionModel {
    updates: Vec<Out>,
    finals: Vec<Out>,
    dropped: u64,
    /// (key, end, start) -> count
    live: BTreeMap<(String, i64, i64), i64>,
}

fn session_model(records: &[(u8, i64)], gap: i64, grace: i64) -> SessionModel {
    let mut m = SessionModel {
        updates: Vec::new(),
        finals: Vec::new(),
        dropped: 0,
        live: BTreeMap::new(),
    };
    let mut sessions: BTreeMap<(String, i64, i64), i64> = BTreeMap::new();
    let mut emitted = BTreeSet::new();
    let (mut observed, mut max_end) = (i64::MIN, i64::MIN);
    let retained = gap + grace;
    for &(k, t) in records {
        let k = key(k);
        observed = observed.max(t);
        let close = observed - grace - gap;
        // The store keeps sessions ending at max_end - (gap + grace) or later.
        let found: Vec<(i64, i64, i64)> = sessions
            .iter()
            .filter(|((sk, end, start), _)| {
                *sk == k
                    && *end >= max_end.saturating_sub(retained)
                    && *end >= t - gap
                    && *start <= t + gap
            })
            .map(|((_, end, start), c)| (*end, *start, *c))
            .collect();
        let start = found.iter().map(|f| f.1).min().unwrap_or(t).min(t);
        let end = found.iter().map(|f| f.0).max().unwrap_or(t).max(t);
        if end < close {
            m.dropped += 1;
        } else {
            let count = found.iter().map(|f| f.2).sum::<i64>() + 1;
            if (start, end) != (t, t) {
                for &(e, s, _) in &found {
                    sessions.remove(&(k.clone(), e, s));
                    m.updates.push((w(&k, s, e), None, e));
                }
            }
            sessions.insert((k.clone(), end, start), count);
            max_end = max_end.max(end);
            m.updates.push((w(&k, start, end), Some(count), end));
        }
        let mut due: Vec<(i64, String, i64, i64)> = sessions
            .iter()
            .filter(|((sk, e, s), _)| *e < close && !emitted.contains(&(sk.clone(), *e, *s)))
            .map(|((sk, e, s), c)| (*e, sk.clone(), *s, *c))
            .collect();
        due.sort();
        for (e, sk, s, c) in due {
            m.finals.push((w(&sk, s, e), Some(c), e));
            emitted.insert((sk, e, s));
        }
    }
    m.live = sessions
        .into_iter()
        .filter(|((_, e, _), _)| *e >= max_end.saturating_sub(retained))
        .collect();
    m
}

fn check_sessions(records: &[(u8, i64)], gap: i64, grace: i64) {
    let windows = SessionWindows::with_inactivity_gap_and_grace(ms(gap as u64), ms(grace as u64));
    let model = session_model(records, gap, grace);

    let d = driver(session_topology(
        windows.clone(),
        EmitStrategy::OnWindowUpdate,
    ));
    pipe(&d, records);
    assert_eq!(
        read_session(&d, "out"),
        model.updates,
        "updates of {records:?}"
    );
    assert_eq!(d.dropped_records_total(), model.dropped, "dropped");
    let store = d.session_store::<String, i64>("sessions").unwrap();
    let mut got = BTreeMap::new();
    for k in 0..3 {
        for (sw, c) in store.fetch(&key(k)).unwrap() {
            got.insert((key(k), sw.end, sw.start), c);
        }
    }
    assert_eq!(got, model.live, "store");

    let d = driver(session_topology(windows, EmitStrategy::OnWindowClose));
    pipe(&d, records);
    assert_eq!(
        read_session(&d, "out"),
        model.finals,
        "finals of {records:?}"
    );
    assert_eq!(
        d.dropped_records_total(),
        model.dropped,
        "dropped (emit final)"
    );
}

#[test]
fn merging_sessions_forwards_tombstones_for_the_sessions_it_replaces() {
    // A grace of 10, so [0, 0] is still open at stream time 20 (0 + 10 + 10 >= 20).
    let windows = SessionWindows::with_inactivity_gap_and_grace(ms(10), ms(10));
    let d = driver(session_topology(windows, EmitStrategy::OnWindowUpdate));
    pipe(&d, &[(0, 0), (0, 20), (0, 10), (0, 15)]);
    let k = key(0);
    assert_eq!(
        read_session(&d, "out"),
        vec![
            (w(&k, 0, 0), Some(1), 0),
            (w(&k, 20, 20), Some(1), 20),
            // 10 is within 10 of both: they merge into [0, 20].
            (w(&k, 0, 0), None, 0),
            (w(&k, 20, 20), None, 20),
            (w(&k, 0, 20), Some(3), 20),
            // 15 falls inside [0, 20]: the session is replaced by itself.
            (w(&k, 0, 20), None, 20),
            (w(&k, 0, 20), Some(4), 20),
        ]
    );
    let store = d.session_store::<String, i64>("sessions").unwrap();
    assert_eq!(
        store.fetch(&k).unwrap(),
        vec![(brook_state::SessionWindow { start: 0, end: 20 }, 4)]
    );
}

#[test]
fn sessions_with_out_of_order_and_late_records_match_the_model() {
    // Gap 10, grace 5: a session is closed once end + 15 < stream time.
    check_sessions(
        &[
            (0, 0),
            (0, 5),
            (1, 3),
            (0, 30),
            (0, 18), // within 10 of [30, 30] but not of [0, 5]: merges with the former
            (1, 40),
            (0, 2),  // stream time 40, close 25: [0,5] ends at 5 < 25, merged end 5: dropped
            (0, 26), // merges into [18, 30]
            (1, 60),
            (0, 46), // [18,30] closed (30 < 45); 46 - 10 = 36 > 30: a new session, open
        ],
        10,
        5,
    );
    // The boundary: end + gap + grace == stream time is still open.
    check_sessions(&[(0, 0), (1, 15), (0, 4), (1, 16), (0, 4)], 10, 5);
    check_sessions(&[(0, 10), (1, 30), (0, 20), (1, 45), (0, 21)], 10, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Session counts (updates with tombstones, finals, drops, store) against the model.
    #[test]
    fn session_counts_match_the_model(
        input in proptest::collection::vec((0u8..3, 0i64..150), 0..40),
        gap in 1i64..20,
        grace in 0i64..20,
    ) {
        check_sessions(&input, gap, grace);
    }
}

#[test]
fn session_reduce_and_aggregate_merge_with_their_functions() {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default());
    let sessions = grouped.windowed_by(SessionWindows::with_inactivity_gap_and_grace(
        ms(10),
        ms(10),
    ));
    sessions
        .reduce(
            |a, b| a.max(b),
            Materialized::as_store("max").with_caching_disabled(),
        )
        .to_stream()
        .to("max", Produced::default());
    sessions
        .aggregate(
            || 100i64,
            |_, v, agg| agg + v,
            |_, a, b| a + b,
            Materialized::as_store("agg")
                .with_value_serde(Serdes::i64())
                .with_caching_disabled(),
        )
        .to_stream()
        .to("agg", Produced::default());
    let d = driver(builder.build().unwrap());
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("a".into(), 5, 0).unwrap();
    input.pipe_input_at("a".into(), 3, 20).unwrap();
    input.pipe_input_at("a".into(), 4, 10).unwrap();
    let last = |topic| read_session(&d, topic).last().cloned().unwrap();
    assert_eq!(last("max"), (w("a", 0, 20), Some(5), 20));
    // Merged: 100 (initializer) + (100 + 5) + (100 + 3), then + 4.
    assert_eq!(last("agg"), (w("a", 0, 20), Some(312), 20));
}

#[test]
fn a_cache_folds_a_session_replaced_by_itself() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::with_inactivity_gap_and_no_grace(ms(10)))
        .count(Materialized::as_store("sessions"))
        .to_stream()
        .to("out", Produced::default());
    let d = driver(builder.build().unwrap());
    pipe(&d, &[(0, 0), (0, 5), (0, 3)]);
    let k = key(0);
    assert_eq!(
        read_session(&d, "out"),
        vec![
            (w(&k, 0, 0), Some(1), 0),
            // [0,0] replaced by [0,5]: the tombstone and the new session, apart.
            (w(&k, 0, 0), None, 0),
            (w(&k, 0, 5), Some(2), 5),
            // [0,5] replaced by itself: one update, not a tombstone and a put.
            (w(&k, 0, 5), Some(3), 5),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// suppress

fn suppressed_topology(suppressed: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let windowed = builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)));
    let counts = if suppressed {
        windowed
            .count(Materialized::as_store("counts"))
            .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
    } else {
        windowed
            .emit_strategy(EmitStrategy::OnWindowClose)
            .count(Materialized::as_store("counts"))
    };
    counts.to_stream().to("out", Produced::default());
    builder.build().unwrap()
}

#[test]
fn suppress_until_window_closes_emits_what_emit_final_does() {
    let records = [
        (0, 1),
        (1, 3),
        (0, 12),
        (0, 5),
        (1, 25),
        (0, 8),
        (1, 19),
        (0, 30),
        (2, 22),
        (1, 40),
        (0, 29),
        (2, 41),
        (0, 55),
    ];
    let a = driver(suppressed_topology(true));
    pipe(&a, &records);
    let b = driver(suppressed_topology(false));
    pipe(&b, &records);
    let suppressed = read_time(&a, "out", 10);
    assert_eq!(suppressed, read_time(&b, "out", 10));
    assert_eq!(suppressed, time_model(&records, 10, 10, 5).finals);
    assert!(a
        .produced_topic_names()
        .contains("win-app-KTABLE-SUPPRESS-STATE-STORE-0000000004-changelog"));
}

#[test]
fn suppress_of_sessions_waits_for_gap_and_grace() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::with_inactivity_gap_and_grace(ms(10), ms(5)))
        .count(Materialized::as_store("sessions"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()).with_name("final"))
        .to_stream()
        .to("out", Produced::default());
    let records = [
        (0, 0),
        (0, 5),
        (1, 3),
        (0, 30),
        (0, 18),
        (1, 40),
        (0, 2),
        (0, 26),
        (1, 60),
        (0, 46),
        (1, 90),
    ];
    let d = driver(builder.build().unwrap());
    pipe(&d, &records);
    let want = session_model(&records, 10, 5).finals;
    assert_eq!(read_session(&d, "out"), want);
    assert!(d
        .produced_topic_names()
        .contains("win-app-final-store-changelog"));
}

fn time_limited(buffer: BufferConfig) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .count(Materialized::as_store("counts").with_caching_disabled())
        .suppress(Suppressed::until_time_limit(ms(10), buffer))
        .to_stream()
        .to("out", Produced::default());
    driver(builder.build().unwrap())
}

fn read_plain(d: &TopologyTestDriver) -> Vec<(String, Option<i64>, i64)> {
    let out = d.create_output_topic("out", Serdes::string(), Serdes::optional(Serdes::i64()));
    out.read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

#[test]
fn suppress_until_time_limit_forwards_the_latest_after_the_limit() {
    let d = time_limited(BufferConfig::unbounded());
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("a".into(), 1, 0).unwrap();
    input.pipe_input_at("a".into(), 1, 4).unwrap();
    input.pipe_input_at("b".into(), 1, 6).unwrap();
    input.pipe_input_at("a".into(), 1, 9).unwrap(); // replaces a's update, keeps time 0
    assert_eq!(read_plain(&d), vec![]);
    input.pipe_input_at("c".into(), 1, 10).unwrap(); // 0 <= 10 - 10: a leaves
    assert_eq!(read_plain(&d), vec![("a".into(), Some(3), 9)]);
    input.pipe_input_at("a".into(), 1, 12).unwrap();
    input.pipe_input_at("c".into(), 1, 16).unwrap(); // b (6) leaves
    assert_eq!(read_plain(&d), vec![("b".into(), Some(1), 6)]);
    // At stream time 40 the buffer holds c (first buffered at 10, latest count 3 at 40)
    // and a (buffered at 12): both leave, by buffer time.
    input.pipe_input_at("c".into(), 1, 40).unwrap();
    assert_eq!(
        read_plain(&d),
        vec![("c".into(), Some(3), 40), ("a".into(), Some(4), 12)]
    );
}

#[test]
fn an_eager_buffer_emits_early_and_a_strict_one_fails_when_full() {
    let d = time_limited(BufferConfig::max_records(2));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("a".into(), 1, 0).unwrap();
    input.pipe_input_at("b".into(), 1, 1).unwrap();
    input.pipe_input_at("a".into(), 1, 2).unwrap();
    assert_eq!(read_plain(&d), vec![]);
    input.pipe_input_at("c".into(), 1, 3).unwrap(); // three keys: the oldest (a) goes
    assert_eq!(read_plain(&d), vec![("a".into(), Some(2), 2)]);

    let d = time_limited(BufferConfig::max_records(2).shut_down_when_full());
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("a".into(), 1, 0).unwrap();
    input.pipe_input_at("b".into(), 1, 1).unwrap();
    let e = input
        .pipe_input_at("c".into(), 1, 3)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("exceeded its max capacity") && e.contains("3/2 records"),
        "{e}"
    );

    // Bytes: each entry is its key and stored value (a few dozen bytes here).
    let d = time_limited(BufferConfig::max_bytes(60));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("a".into(), 1, 0).unwrap();
    assert_eq!(read_plain(&d), vec![]);
    input.pipe_input_at("b".into(), 1, 1).unwrap();
    assert_eq!(read_plain(&d), vec![("a".into(), Some(1), 0)]);
}

#[test]
fn suppression_mistakes_are_reported_by_build() {
    // A final-results suppression needs a strict buffer.
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count(Materialized::default())
        .suppress(Suppressed::until_window_closes(BufferConfig::max_records(
            5,
        )));
    let e = builder.build().unwrap_err().to_string();
    assert!(e.contains("strict buffer"), "{e}");

    // A windowed table that no windowed aggregation made has no close time.
    let builder = StreamsBuilder::new();
    let keys = WindowedSerdes::time_windowed(Serdes::string(), ms(10));
    builder
        .table::<Windowed<String>, i64>(
            "windows",
            Consumed::with(keys, Serdes::i64()),
            Materialized::default(),
        )
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    let e = builder.build().unwrap_err().to_string();
    assert!(e.contains("only defined for windowed computations"), "{e}");
}

#[test]
fn window_definition_and_retention_mistakes_are_reported_by_build() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(20)))
        .count(Materialized::default());
    let e = builder.build().unwrap_err().to_string();
    assert!(e.contains("advance (20 ms)"), "{e}");

    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_store("short").with_retention(ms(14)));
    let e = builder.build().unwrap_err().to_string();
    assert!(e.contains("short") && e.contains("(15 ms)"), "{e}");

    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::with_inactivity_gap_and_no_grace(ms(0)))
        .count(Materialized::default());
    let e = builder.build().unwrap_err().to_string();
    assert!(e.contains("inactivity gap"), "{e}");
}

#[test]
fn a_longer_retention_keeps_closed_windows_queryable() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count(
            Materialized::as_store("kept")
                .with_retention(ms(1000))
                .in_memory(),
        );
    let d = driver(builder.build().unwrap());
    pipe(&d, &[(0, 1), (0, 500)]);
    let store = d.window_store::<String, i64>("kept").unwrap();
    assert_eq!(store.fetch(&key(0), 0).unwrap(), Some(1));
    assert_eq!(store.fetch(&key(0), 500).unwrap(), Some(1));
}

// ---------------------------------------------------------------------------------------
// Serdes and topology

#[test]
fn windowed_keys_are_written_in_kafka_streams_layout() {
    let d = driver(time_topology(
        TimeWindows::of_size_with_no_grace(ms(10)),
        EmitStrategy::OnWindowUpdate,
    ));
    pipe(&d, &[(0, 25)]);
    let raw = d.create_output_topic("out", Serdes::bytes(), Serdes::bytes());
    let r = raw.read_record().unwrap().unwrap();
    let mut want = b"k0".to_vec();
    want.extend_from_slice(&20i64.to_be_bytes());
    assert_eq!(&r.key[..], &want[..]);
    assert_eq!(&r.value[..], &1i64.to_be_bytes());
    let serde = WindowedSerdes::time_windowed(Serdes::string(), ms(10));
    assert_eq!(
        serde.deserialize("out", Some(&r.key)).unwrap(),
        w("k0", 20, 30)
    );
    assert_eq!(
        serde.serialize("out", &w("k0", 20, 30)).unwrap().as_deref(),
        Some(&want[..])
    );

    let d = driver(session_topology(
        SessionWindows::with_inactivity_gap_and_no_grace(ms(10)),
        EmitStrategy::OnWindowUpdate,
    ));
    pipe(&d, &[(0, 25), (0, 30)]);
    let raw = d.create_output_topic("out", Serdes::bytes(), Serdes::optional(Serdes::bytes()));
    let records = raw.read_records_to_list().unwrap();
    let mut want = b"k0".to_vec();
    want.extend_from_slice(&30i64.to_be_bytes());
    want.extend_from_slice(&25i64.to_be_bytes());
    assert_eq!(&records[2].key[..], &want[..]);
    assert_eq!(records[1].value, None, "the tombstone of [25, 25]");
    let serde = WindowedSerdes::session_windowed(Serdes::string());
    assert_eq!(
        serde.deserialize("out", Some(&want)).unwrap(),
        w("k0", 25, 30)
    );
}

#[test]
fn windowed_aggregations_read_a_named_repartition_topic_once() {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .select_key(|_, v| format!("k{}", v % 2))
        .group_by_key(Grouped::as_name("by-parity"));
    let windowed = grouped.windowed_by(TimeWindows::of_size_with_no_grace(ms(10)));
    windowed
        .count(Materialized::as_store("c"))
        .to_stream()
        .to("c", Produced::default());
    windowed
        .reduce(|a, b| a + b, Materialized::as_store("s"))
        .to_stream()
        .to("s", Produced::default());
    let topology = builder.build().unwrap();
    let description = topology.describe().to_string();
    assert_eq!(
        description
            .matches("Source: by-parity-repartition-source")
            .count(),
        1,
        "{description}"
    );
    assert!(description.contains("KSTREAM-REDUCE-"), "{description}");
    let d = driver(topology);
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    input.pipe_input_at("x".into(), 3, 1).unwrap();
    input.pipe_input_at("y".into(), 5, 2).unwrap();
    assert_eq!(
        read_time(&d, "s", 10).last().cloned(),
        Some((w("k1", 0, 10), Some(8), 2))
    );
}

// ---------------------------------------------------------------------------------------
// Restarts

fn restart_topology() -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream::<String, i64>(&["in"], Consumed::default())
        .group_by_key(Grouped::default());
    grouped
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_store("counts"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("suppressed", Produced::default());
    grouped
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count(Materialized::as_store("final"))
        .to_stream()
        .to("final", Produced::default());
    grouped
        .windowed_by(SessionWindows::with_inactivity_gap_and_grace(ms(10), ms(5)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count(Materialized::as_store("sessions"))
        .to_stream()
        .to("session-final", Produced::default());
    grouped
        .count(Materialized::as_store("totals"))
        .suppress(Suppressed::until_time_limit(
            ms(7),
            BufferConfig::max_records(2),
        ))
        .to_stream()
        .to("limited", Produced::default());
    builder.build().unwrap()
}

#[derive(Debug, Default, PartialEq)]
struct Outputs {
    suppressed: Vec<Out>,
    finals: Vec<Out>,
    sessions: Vec<Out>,
    limited: Vec<(String, Option<i64>, i64)>,
}

impl Outputs {
    fn read(&mut self, d: &TopologyTestDriver) {
        self.suppressed.extend(read_time(d, "suppressed", 10));
        self.finals.extend(read_time(d, "final", 10));
        self.sessions.extend(read_session(d, "session-final"));
        let limited =
            d.create_output_topic("limited", Serdes::string(), Serdes::optional(Serdes::i64()));
        self.limited.extend(
            limited
                .read_records_to_list()
                .unwrap()
                .into_iter()
                .map(|r| (r.key, r.value, r.timestamp)),
        );
    }
}

/// Every changelog record `d` wrote, by topic.
fn changelogs(d: &TopologyTestDriver) -> Vec<(String, Vec<RawTestRecord>)> {
    let topology = restart_topology();
    topology
        .stores()
        .map(|s| s.changelog_topic("win-app"))
        .map(|topic| {
            let out =
                d.create_output_topic(&topic, Serdes::bytes(), Serdes::optional(Serdes::bytes()));
            let records = out.read_records_to_list().unwrap();
            (topic, records)
        })
        .collect()
}

fn check_restart(records: &[(u8, i64)], cut: usize, rocksdb: bool) {
    let mut straight = Outputs::default();
    let d = TopologyTestDriver::with_config(restart_topology(), &config(), rocksdb, 0).unwrap();
    pipe(&d, records);
    straight.read(&d);

    let cut = cut.min(records.len());
    let mut restarted = Outputs::default();
    let first = TopologyTestDriver::with_config(restart_topology(), &config(), rocksdb, 0).unwrap();
    pipe(&first, &records[..cut]);
    restarted.read(&first);
    let logs = changelogs(&first);
    first.close().unwrap();
    let second = TopologyTestDriver::with_restored_changelogs(
        restart_topology(),
        &config(),
        rocksdb,
        0,
        &logs,
    )
    .unwrap();
    pipe(&second, &records[cut..]);
    restarted.read(&second);
    assert_eq!(restarted, straight, "restarted after {cut} of {records:?}");
}

#[test]
fn suppression_buffers_and_final_results_survive_a_restart_on_rocksdb() {
    let records = [
        (0, 1),
        (1, 3),
        (0, 12),
        (0, 5),
        (1, 25),
        (0, 8),
        (1, 19),
        (2, 22),
        (0, 30),
        (1, 40),
        (0, 29),
        (2, 41),
        (0, 55),
        (1, 80),
    ];
    for cut in [0, 3, 5, 8, 11, records.len()] {
        check_restart(&records, cut, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A restart anywhere changes nothing downstream: nothing buffered is lost and nothing
    /// emitted comes out again.
    #[test]
    fn a_restart_anywhere_changes_nothing(input in records(), cut in 0usize..60) {
        check_restart(&input, cut, false);
    }
}
