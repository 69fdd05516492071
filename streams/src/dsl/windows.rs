//! Windowed aggregation: window definitions ([`TimeWindows`], [`SlidingWindows`],
//! [`SessionWindows`]), [`KGroupedStream::windowed_by`], and the windowed streams it
//! returns ([`TimeWindowedKStream`], [`SessionWindowedKStream`]), whose `count`, `reduce`
//! and `aggregate` make a `KTable<Windowed<K>, V>`. These are what SQL's `WINDOW TUMBLING /
//! HOPPING / SESSION` and `EMIT FINAL` compile into.
//!
//! The semantics are Kafka Streams 3.x's:
//!
//! - **Time windows** of `size`, advancing by `advance` (tumbling when they are equal;
//!   hopping otherwise), aligned to the epoch: a record at `t` falls in every window
//!   `[start, start + size)` with `start` a multiple of `advance` and `start <= t`
//!   ([`TimeWindows::windows_for`]).
//! - **Sliding windows** of a time difference `d` are defined by the records: each record at
//!   `t` makes the window `[t - d, t]` and, once a later record falls in it, the window
//!   `[t + 1, t + 1 + d]`; each window aggregates the records whose timestamps it includes
//!   (both ends included). Records earlier than `d` go into `[0, d]` instead of a
//!   window starting before the epoch, as in Kafka Streams.
//! - **Session windows** with an inactivity gap `g`: a record at `t` starts a session
//!   `[t, t]` or merges into every session of its key that ends at `t - g` or later and
//!   starts at `t + g` or earlier; merging removes the sessions it replaces, each forwarded
//!   as a tombstone (a [`Change`] whose `new` is `None`, `old` the session's last value).
//!
//! **Stream time and lateness.** Each windowed aggregation tracks the largest timestamp it
//! has seen (its stream time). A window is *closed* when stream time reaches its end plus
//! the grace period (`end + grace <= stream time` for time windows, whose end is excluded;
//! `end + grace < stream time` for sliding windows; `end + gap + grace < stream time` for
//! sessions, which the gap could still extend): a record for a closed window is dropped for
//! that window and counted in the task's `dropped-records`
//! ([`TopologyTestDriver::dropped_records_total`](crate::TopologyTestDriver::dropped_records_total)),
//! once per window it could not update, as Kafka Streams' sensor counts it.
//!
//! **Emitting.** By default ([`EmitStrategy::OnWindowUpdate`]) every update of a window is
//! forwarded as it happens, through the store's cache when caching is on (the default),
//! which folds a window's updates between commits into one. With
//! [`EmitStrategy::OnWindowClose`] (SQL's `EMIT FINAL`) nothing is forwarded before a window
//! closes, and then its final result once, with the timestamp of the latest record in it
//! (sessions: the session end): no caching, no tombstones for merged sessions.
//!
//! **Restarts.** Each aggregation keeps its stream time (and, under `OnWindowClose`, the
//! close time it last emitted up to) in a small logged key-value store of its own,
//! `<store>-stream-time`, so a restarted task drops the same late records and emits the
//! same final results, once, as it would have without the restart. The close time is
//! written when finals are emitted; stream time at each commit (the point input is read
//! again from after a crash), not per record, which halved the writes of a windowed count.
//! (Kafka Streams keeps
//! the emitted close time in its commit metadata, and starts a restarted aggregation's
//! stream time afresh, so it may accept a record after a restart that it would have
//! dropped as late.)
//!
//! **Stores.** Time and sliding windows are kept in a window store (values with the
//! timestamp of their latest record, Kafka Streams' timestamped window store layout;
//! opened through its serdes it shows the aggregates alone), sessions in a session store;
//! RocksDB (segmented by time) unless [`Materialized::in_memory`], logged to
//! `<application.id>-<store>-changelog`. The retention defaults to what the windows need
//! (`size + grace`; sliding windows `2 * d + grace`; sessions `gap + grace`), and can be
//! raised with [`Materialized::with_retention`] (for interactive queries of older windows),
//! never below that.
//!
//! **Divergences from Kafka Streams.**
//! - Kafka Streams throttles the final-result check of `OnWindowClose` to once a second of
//!   wall-clock time (`emit.interval.ms.kstreams.windowed.aggregation`); here it runs on
//!   every record that moves the close time, so results come out deterministically.
//! - The stores keep windows 1 ms (sessions) or 2 ms (sliding windows) longer than the
//!   retention says: their ends are included, and without that margin a store could drop a
//!   window in the same millisecond its aggregation still accepts records for it.
//! - Kafka Streams' sliding aggregation can forward the same new window twice when a
//!   record's left window is also the previous record's right window; here it is forwarded
//!   once.
//! - A window newly made has no old value (`Change::old` is `None`); Kafka Streams sends the
//!   initializer's value or the copied aggregate as the old value of some new sliding
//!   windows.
//! - Window definitions are checked when the aggregation is added; a mistake (a zero size,
//!   an advance larger than the size, a retention below `size + grace`) is reported by
//!   [`StreamsBuilder::build`](crate::StreamsBuilder::build), like the DSL's other
//!   mistakes, rather than thrown by the constructor.

use std::collections::{BTreeSet, HashSet};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use brook_state::{SessionWindow, WindowStore};
use bytes::Bytes;

use super::grouped::KGroupedStream;
use super::kstream::KStream;
use super::ktable::{Change, KTable};
use super::options::Materialized;
use super::windowed::{
    de, duration_ms, encode_timestamped, flush_changes, forward_change, record_dropped,
    register_windowed_node, ser, split_timestamped, ChangeCache, SessionWindowedSerde,
    TimeWindowedSerde, TimestampedAggregateSerde, Window, Windowed,
};
use super::Shared;
use crate::error::{Result, StreamsError};
use crate::processor::{Processor, ProcessorContext};
use crate::record::{Data, Headers, Record};
use crate::serde::{SerdeRef, Serdes};
use crate::store::{
    lock, KeyValueStoreHandle, SessionStoreHandle, StoreBuilder, Stores, WindowStoreHandle,
};
use crate::topology::node_supplier;

// ---- window definitions ----------------------------------------------------------------

/// Tumbling or hopping time windows (Kafka Streams' `TimeWindows`): windows of a fixed
/// size, advancing by a fixed interval, aligned to the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindows {
    size_ms: i64,
    advance_ms: i64,
    grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` with no grace period: a record is late as soon as stream
    /// time has passed its window's end.
    pub fn of_size_with_no_grace(size: Duration) -> TimeWindows {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` that accept out-of-order records for `grace` after they
    /// end.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> TimeWindows {
        let size_ms = duration_ms(size);
        TimeWindows {
            size_ms,
            advance_ms: size_ms,
            grace_ms: duration_ms(grace),
        }
    }

    /// Hopping windows: a new window every `advance` (at least 1 ms, at most the size).
    pub fn advance_by(mut self, advance: Duration) -> TimeWindows {
        self.advance_ms = duration_ms(advance);
        self
    }

    /// The window size, ms.
    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    /// How far apart windows start, ms (the size for tumbling windows).
    pub fn advance_ms(&self) -> i64 {
        self.advance_ms
    }

    /// The grace period, ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Whether the definition can be used: a size of at least 1 ms and an advance between
    /// 1 ms and the size.
    pub fn validate(&self) -> Result<()> {
        if self.size_ms < 1 {
            return Err(StreamsError::Topology(
                "TimeWindows: the window size must be at least 1 ms".into(),
            ));
        }
        if self.advance_ms < 1 || self.advance_ms > self.size_ms {
            return Err(StreamsError::Topology(format!(
                "TimeWindows: the advance ({} ms) must be at least 1 ms and at most the window \
                 size ({} ms)",
                self.advance_ms, self.size_ms
            )));
        }
        Ok(())
    }

    /// The windows a record at `timestamp` falls in, by start (Kafka Streams'
    /// `windowsFor`).
    pub fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        if self.validate().is_err() {
            return Vec::new();
        }
        let first = timestamp
            .saturating_sub(self.size_ms)
            .saturating_add(self.advance_ms)
            .max(0);
        let mut start = first / self.advance_ms * self.advance_ms;
        let mut out = Vec::new();
        while start <= timestamp {
            out.push(Window::new(start, start.saturating_add(self.size_ms)));
            match start.checked_add(self.advance_ms) {
                Some(s) => start = s,
                None => break,
            }
        }
        out
    }
}

/// Sliding windows (Kafka Streams' `SlidingWindows`): windows of a fixed time difference
/// whose bounds are set by the records (see the [module docs](self)); both ends are
/// included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlidingWindows {
    diff_ms: i64,
    grace_ms: i64,
}

impl SlidingWindows {
    /// Windows of `difference` with a grace period of `grace` (the name Kafka Streams 2.7
    /// to 3.2 used).
    pub fn with_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        SlidingWindows {
            diff_ms: duration_ms(difference),
            grace_ms: duration_ms(grace),
        }
    }

    /// Windows of `difference` with a grace period of `grace` (Kafka Streams 3.3's name).
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        Self::with_time_difference_and_grace(difference, grace)
    }

    /// Windows of `difference` with no grace period.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::with_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// The time difference, ms: how far apart two records of one window may be.
    pub fn time_difference_ms(&self) -> i64 {
        self.diff_ms
    }

    /// The grace period, ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Whether the definition can be used (any difference, 0 included, is).
    pub fn validate(&self) -> Result<()> {
        if self.diff_ms == i64::MAX || self.grace_ms == i64::MAX {
            return Err(StreamsError::Topology(
                "SlidingWindows: the time difference and grace period must be finite".into(),
            ));
        }
        Ok(())
    }
}

/// Session windows (Kafka Streams' `SessionWindows`): a key's records closer together than
/// the inactivity gap make one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionWindows {
    gap_ms: i64,
    grace_ms: i64,
}

impl SessionWindows {
    /// Sessions that end after `gap` without a record, with no grace period.
    pub fn with_inactivity_gap_and_no_grace(gap: Duration) -> SessionWindows {
        Self::with_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// Sessions that end after `gap` without a record, accepting out-of-order records for
    /// `grace` more.
    pub fn with_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> SessionWindows {
        SessionWindows {
            gap_ms: duration_ms(gap),
            grace_ms: duration_ms(grace),
        }
    }

    /// [`with_inactivity_gap_and_no_grace`](Self::with_inactivity_gap_and_no_grace), by
    /// Kafka Streams 3.x's name.
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> SessionWindows {
        Self::with_inactivity_gap_and_no_grace(gap)
    }

    /// [`with_inactivity_gap_and_grace`](Self::with_inactivity_gap_and_grace), by Kafka
    /// Streams 3.x's name.
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> SessionWindows {
        Self::with_inactivity_gap_and_grace(gap, grace)
    }

    /// The inactivity gap, ms.
    pub fn inactivity_gap_ms(&self) -> i64 {
        self.gap_ms
    }

    /// The grace period, ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Whether the definition can be used: a gap of at least 1 ms.
    pub fn validate(&self) -> Result<()> {
        if self.gap_ms < 1 {
            return Err(StreamsError::Topology(
                "SessionWindows: the inactivity gap must be at least 1 ms".into(),
            ));
        }
        if self.gap_ms == i64::MAX || self.grace_ms == i64::MAX {
            return Err(StreamsError::Topology(
                "SessionWindows: the inactivity gap and grace period must be finite".into(),
            ));
        }
        Ok(())
    }
}

/// When a windowed aggregation forwards results (Kafka Streams' `EmitStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitStrategy {
    /// Every update of a window, as it happens (folded by the cache when caching is on):
    /// SQL's `EMIT CHANGES`.
    #[default]
    OnWindowUpdate,
    /// Only each window's final result, once, after it closes: SQL's `EMIT FINAL`.
    OnWindowClose,
}

/// How a windowed aggregation is materialized: [`Materialized`] plus the store's retention
/// ([`Materialized::with_retention`]). Every windowed aggregation takes anything that turns
/// into one, a plain [`Materialized`] included.
pub struct WindowedMaterialized<K, V> {
    pub(crate) inner: Materialized<K, V>,
    pub(crate) retention: Option<Duration>,
}

impl<K, V> From<Materialized<K, V>> for WindowedMaterialized<K, V> {
    fn from(inner: Materialized<K, V>) -> Self {
        WindowedMaterialized {
            inner,
            retention: None,
        }
    }
}

impl<K, V> Default for WindowedMaterialized<K, V> {
    fn default() -> Self {
        Materialized::default().into()
    }
}

impl<K, V> Materialized<K, V> {
    /// Keeps a windowed aggregation's windows for `retention` (Kafka Streams'
    /// `Materialized.withRetention`): at least the window size (sliding windows: the time
    /// difference; sessions: the gap) plus the grace period, which is also the default.
    pub fn with_retention(self, retention: Duration) -> WindowedMaterialized<K, V> {
        WindowedMaterialized {
            inner: self,
            retention: Some(retention),
        }
    }
}

impl<K, V> WindowedMaterialized<K, V> {
    /// Sets the retention (see [`Materialized::with_retention`]).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Keeps the store in memory.
    pub fn in_memory(mut self) -> Self {
        self.inner = self.inner.in_memory();
        self
    }

    /// Turns the store's changelog off.
    pub fn with_logging_disabled(mut self) -> Self {
        self.inner = self.inner.with_logging_disabled();
        self
    }

    /// Forwards every update instead of the latest per window at commit.
    pub fn with_caching_disabled(mut self) -> Self {
        self.inner = self.inner.with_caching_disabled();
        self
    }

    /// Folds a window's updates between commits (the default).
    pub fn with_caching_enabled(mut self) -> Self {
        self.inner = self.inner.with_caching_enabled();
        self
    }

    /// The store's key serde.
    pub fn with_key_serde(mut self, keys: SerdeRef<K>) -> Self {
        self.inner = self.inner.with_key_serde(keys);
        self
    }

    /// The store's value serde.
    pub fn with_value_serde(mut self, values: SerdeRef<V>) -> Self {
        self.inner = self.inner.with_value_serde(values);
        self
    }
}

// ---- windowed_by ----------------------------------------------------------------------

/// A window definition a grouped stream can be windowed by: [`TimeWindows`] and
/// [`SlidingWindows`] make a [`TimeWindowedKStream`], [`SessionWindows`] a
/// [`SessionWindowedKStream`].
pub trait WindowedBy<K, V> {
    /// The windowed stream.
    type Stream;

    /// `grouped`, windowed by `self` (what [`KGroupedStream::windowed_by`] calls).
    fn windowed_stream(self, grouped: &KGroupedStream<K, V>) -> Self::Stream;
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// The grouped stream in windows (Kafka Streams' `windowedBy`), to aggregate per key
    /// and window: `TimeWindows` or `SlidingWindows` give a [`TimeWindowedKStream`],
    /// `SessionWindows` a [`SessionWindowedKStream`].
    pub fn windowed_by<W: WindowedBy<K, V>>(&self, windows: W) -> W::Stream {
        windows.windowed_stream(self)
    }

    /// What a windowed aggregation reads: the stream read back from the repartition topic
    /// of a grouping named by the user, shared by all its aggregations; `None` when each
    /// aggregation decides (after the store name).
    fn shared_input(&self) -> Option<KStream<K, V>> {
        let name = self.name.as_ref()?;
        let shared = self.repartitioned.borrow().clone();
        Some(match shared {
            Some(s) => s,
            None => {
                let s = self.stream.repartitioned_if_needed(Some(name));
                *self.repartitioned.borrow_mut() = Some(s.clone());
                s
            }
        })
    }
}

impl<K: Data, V: Data> WindowedBy<K, V> for TimeWindows {
    type Stream = TimeWindowedKStream<K, V>;

    fn windowed_stream(self, grouped: &KGroupedStream<K, V>) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
            input: Input::new(grouped),
            windows: TimeSpec::Fixed(self),
            emit: EmitStrategy::default(),
        }
    }
}

impl<K: Data, V: Data> WindowedBy<K, V> for SlidingWindows {
    type Stream = TimeWindowedKStream<K, V>;

    fn windowed_stream(self, grouped: &KGroupedStream<K, V>) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
            input: Input::new(grouped),
            windows: TimeSpec::Sliding(self),
            emit: EmitStrategy::default(),
        }
    }
}

impl<K: Data, V: Data> WindowedBy<K, V> for SessionWindows {
    type Stream = SessionWindowedKStream<K, V>;

    fn windowed_stream(self, grouped: &KGroupedStream<K, V>) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream {
            input: Input::new(grouped),
            windows: self,
            emit: EmitStrategy::default(),
        }
    }
}

/// The grouped stream a windowed stream aggregates.
struct Input<K, V> {
    stream: KStream<K, V>,
    name: Option<String>,
    shared: Option<KStream<K, V>>,
}

impl<K: Data, V: Data> Clone for Input<K, V> {
    fn clone(&self) -> Self {
        Input {
            stream: self.stream.clone(),
            name: self.name.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<K: Data, V: Data> Input<K, V> {
    fn new(grouped: &KGroupedStream<K, V>) -> Self {
        Input {
            stream: grouped.stream.clone(),
            name: grouped.name.clone(),
            shared: grouped.shared_input(),
        }
    }

    fn b(&self) -> &Shared {
        &self.stream.b
    }

    /// The stream to aggregate, repartitioned (as `<base>-repartition`) if its key was
    /// changed.
    fn stream(&self, base: &str) -> KStream<K, V> {
        match &self.shared {
            Some(s) => s.clone(),
            None => self.stream.repartitioned_if_needed(Some(base)),
        }
    }
}

#[derive(Debug, Clone)]
enum TimeSpec {
    Fixed(TimeWindows),
    Sliding(SlidingWindows),
}

/// Shared aggregation functions: `aggregator(key, value, aggregate)` (`None`: a new
/// window, which for `aggregate` starts from the initializer).
type AggFn<K, V, A> = Arc<dyn Fn(&K, V, Option<A>) -> A + Send + Sync>;
/// `merger(key, one, two)`: two sessions' aggregates as one.
type MergeFn<K, A> = Arc<dyn Fn(&K, A, A) -> A + Send + Sync>;
/// A session aggregate's initializer (`None` for `reduce`).
type InitFn<A> = Arc<dyn Fn() -> A + Send + Sync>;

/// What every windowed aggregation is built from.
struct AggDef<K, V, A> {
    prefix: &'static str,
    materialized: WindowedMaterialized<K, A>,
    values: Option<SerdeRef<A>>,
    aggregator: AggFn<K, V, A>,
}

/// The store names, serdes and options an aggregation ends up with.
struct Built<K, A> {
    store: String,
    meta: String,
    input: String,
    keys: SerdeRef<K>,
    values: SerdeRef<A>,
    caching: bool,
}

/// Adds the stores of a windowed aggregation; `store` makes the main store from its name,
/// retention and serdes. `min_retention` is what the windows need, `slack` what the store
/// keeps beyond the retention.
#[allow(clippy::too_many_arguments)]
fn add_stores<K: Data, V: Data, A: Data>(
    input: &Input<K, V>,
    def: AggDef<K, V, A>,
    spec_error: Option<StreamsError>,
    default_retention: i64,
    min_retention: i64,
    slack: i64,
    emit: EmitStrategy,
    store: impl FnOnce(&str, i64, SerdeRef<K>, SerdeRef<A>) -> StoreBuilder,
) -> (Built<K, A>, AggFn<K, V, A>) {
    let b = input.b();
    let default_store = b.borrow_mut().name(&format!("{}STATE-STORE-", def.prefix));
    let m = def.materialized;
    let store_name = m.inner.store_name.clone().unwrap_or(default_store);
    let base = input.name.clone().unwrap_or_else(|| store_name.clone());
    let stream = input.stream(&base);
    let mut bb = b.borrow_mut();
    let what = format!("windowed aggregation ({store_name})");
    if let Some(e) = spec_error {
        bb.errors.push(e);
    }
    let retention = m.retention.map(duration_ms).unwrap_or(default_retention);
    if retention < min_retention {
        bb.errors.push(StreamsError::Topology(format!(
            "the retention period of the window store {store_name} ({retention} ms) must be no \
             smaller than its window size plus the grace period ({min_retention} ms)"
        )));
    }
    let keys = bb.serde(m.inner.keys.or_else(|| stream.keys.clone()), &what);
    let values = bb.serde(m.inner.values.or(def.values), &what);
    let mut main = store(
        &store_name,
        retention.saturating_add(slack),
        keys.clone(),
        values.clone(),
    );
    let mut meta = Stores::key_value(
        &format!("{store_name}-stream-time"),
        Serdes::bytes(),
        Serdes::bytes(),
    );
    if m.inner.in_memory {
        main = main.in_memory();
        meta = meta.in_memory();
    }
    if !m.inner.logging {
        main = main.with_logging_disabled();
        meta = meta.with_logging_disabled();
    }
    let caching = m.inner.caching && emit == EmitStrategy::OnWindowUpdate;
    if caching {
        main = main.with_caching_enabled();
    }
    let meta_name = meta.name().to_owned();
    for s in [main, meta] {
        let name = s.name().to_owned();
        if bb.topology.stores.contains_key(&name) {
            bb.errors.push(StreamsError::Topology(format!(
                "a store named {name} already exists"
            )));
        } else {
            bb.topology.stores.insert(name.clone(), Arc::new(s.def));
        }
    }
    (
        Built {
            store: store_name,
            meta: meta_name,
            input: stream.node.clone(),
            keys,
            values,
            caching,
        },
        def.aggregator,
    )
}

/// Adds the aggregation node `prefix…` made by `make`, reading `built.input`, connected to
/// its stores, and registers when its windows close (`close_delay` after their end).
fn add_node<K: Data, V: Data, A: Data, P>(
    b: &Shared,
    prefix: &str,
    built: &Built<K, A>,
    close_delay: i64,
    make: impl Fn() -> P + Send + Sync + 'static,
) -> String
where
    P: Processor<K, V, Windowed<K>, Change<A>> + 'static,
{
    let mut bb = b.borrow_mut();
    let name = bb.name(prefix);
    let r = bb
        .topology
        .add_node(&name, node_supplier(make), &[&built.input]);
    bb.check(r);
    let r = bb
        .topology
        .connect_processor_and_state_stores(&name, &[&built.store, &built.meta])
        .map(|_| ());
    bb.check(r);
    drop(bb);
    register_windowed_node(b, &name, close_delay);
    name
}

// ---- time-windowed streams --------------------------------------------------------------

/// A grouped stream in time windows (tumbling, hopping or sliding), to aggregate per key
/// and window (Kafka Streams' `TimeWindowedKStream`).
pub struct TimeWindowedKStream<K, V> {
    input: Input<K, V>,
    windows: TimeSpec,
    emit: EmitStrategy,
}

impl<K: Data, V: Data> TimeWindowedKStream<K, V> {
    /// When results are forwarded: on every update (the default) or once per window when
    /// it closes.
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    fn build<A: Data>(&self, def: AggDef<K, V, A>) -> KTable<Windowed<K>, A> {
        let b = self.input.b().clone();
        let prefix = def.prefix;
        let emit = self.emit;
        match &self.windows {
            TimeSpec::Fixed(w) => {
                let need = w.size_ms.saturating_add(w.grace_ms);
                let size = w.size_ms;
                let (built, agg) = add_stores(
                    &self.input,
                    def,
                    w.validate().err(),
                    need,
                    need,
                    0,
                    emit,
                    |name, retention, keys, values| {
                        Stores::window(
                            name,
                            retention,
                            size,
                            false,
                            keys,
                            Arc::new(TimestampedAggregateSerde { inner: values }) as SerdeRef<A>,
                        )
                    },
                );
                let (w, store, meta, values, caching) = (
                    w.clone(),
                    built.store.clone(),
                    built.meta.clone(),
                    built.values.clone(),
                    built.caching,
                );
                let node = add_node(&b, prefix, &built, w.grace_ms, move || TimeAggregate {
                    windows: w.clone(),
                    common: Common::new(&store, &meta, values.clone(), caching, emit),
                    aggregator: agg.clone(),
                    store: None,
                });
                self.table(b, node, built, size)
            }
            TimeSpec::Sliding(w) => {
                let d = w.diff_ms;
                let need = d.saturating_add(w.grace_ms);
                let default = d.saturating_mul(2).saturating_add(w.grace_ms);
                let (built, agg) = add_stores(
                    &self.input,
                    def,
                    w.validate().err(),
                    default,
                    need,
                    2,
                    emit,
                    |name, retention, keys, values| {
                        Stores::window(
                            name,
                            retention,
                            d,
                            false,
                            keys,
                            Arc::new(TimestampedAggregateSerde { inner: values }) as SerdeRef<A>,
                        )
                    },
                );
                let (w, store, meta, values, caching) = (
                    w.clone(),
                    built.store.clone(),
                    built.meta.clone(),
                    built.values.clone(),
                    built.caching,
                );
                let delay = w.grace_ms.saturating_add(1);
                let node = add_node(&b, prefix, &built, delay, move || SlidingAggregate {
                    windows: w.clone(),
                    common: Common::new(&store, &meta, values.clone(), caching, emit),
                    aggregator: agg.clone(),
                    store: None,
                });
                self.table(b, node, built, d)
            }
        }
    }

    fn table<A: Data>(
        &self,
        b: Shared,
        node: String,
        built: Built<K, A>,
        size: i64,
    ) -> KTable<Windowed<K>, A> {
        KTable {
            b,
            node,
            keys: Some(Arc::new(TimeWindowedSerde::new(built.keys, size))),
            values: Some(built.values),
            store: Some(built.store),
        }
    }

    /// The number of records per key and window.
    pub fn count(
        &self,
        materialized: impl Into<WindowedMaterialized<K, i64>>,
    ) -> KTable<Windowed<K>, i64> {
        self.build(AggDef {
            prefix: "KSTREAM-AGGREGATE-",
            materialized: materialized.into(),
            values: Some(Serdes::i64()),
            aggregator: Arc::new(|_k, _v, c: Option<i64>| c.unwrap_or(0) + 1),
        })
    }

    /// Each key's records per window combined with `reducer(aggregate, value)`.
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: impl Into<WindowedMaterialized<K, V>>,
    ) -> KTable<Windowed<K>, V> {
        self.build(AggDef {
            prefix: "KSTREAM-REDUCE-",
            materialized: materialized.into(),
            values: self.input.stream.values.clone(),
            aggregator: Arc::new(move |_k, v, agg: Option<V>| match agg {
                Some(a) => reducer(a, v),
                None => v,
            }),
        })
    }

    /// Each key's records per window folded into `initializer()` with `aggregator(key,
    /// value, aggregate)`.
    pub fn aggregate<A: Data>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        materialized: impl Into<WindowedMaterialized<K, A>>,
    ) -> KTable<Windowed<K>, A> {
        self.build(AggDef {
            prefix: "KSTREAM-AGGREGATE-",
            materialized: materialized.into(),
            values: None,
            aggregator: Arc::new(move |k, v, agg: Option<A>| {
                aggregator(k, v, agg.unwrap_or_else(&initializer))
            }),
        })
    }
}

// ---- session-windowed streams -----------------------------------------------------------

/// A grouped stream in session windows, to aggregate per key and session (Kafka Streams'
/// `SessionWindowedKStream`).
pub struct SessionWindowedKStream<K, V> {
    input: Input<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
}

impl<K: Data, V: Data> SessionWindowedKStream<K, V> {
    /// When results are forwarded: on every update (the default, merged sessions as
    /// tombstones) or once per session when it closes.
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    fn build<A: Data>(
        &self,
        def: AggDef<K, V, A>,
        initializer: Option<InitFn<A>>,
        merger: MergeFn<K, A>,
    ) -> KTable<Windowed<K>, A> {
        let b = self.input.b().clone();
        let prefix = def.prefix;
        let emit = self.emit;
        let w = self.windows.clone();
        let need = w.gap_ms.saturating_add(w.grace_ms);
        let (built, agg) = add_stores(
            &self.input,
            def,
            w.validate().err(),
            need,
            need,
            1,
            emit,
            |name, retention, keys, values| Stores::session(name, retention, keys, values),
        );
        let (store, meta, caching) = (built.store.clone(), built.meta.clone(), built.caching);
        let values = built.values.clone();
        let delay = need.saturating_add(1);
        let node = add_node(&b, prefix, &built, delay, move || SessionAggregate {
            windows: w.clone(),
            common: Common::new(&store, &meta, values.clone(), caching, emit),
            initializer: initializer.clone(),
            aggregator: agg.clone(),
            merger: merger.clone(),
            index: BTreeSet::new(),
            session_store: None,
        });
        KTable {
            b,
            node,
            keys: Some(Arc::new(SessionWindowedSerde::new(built.keys))),
            values: Some(built.values),
            store: Some(built.store),
        }
    }

    /// The number of records per key and session.
    pub fn count(
        &self,
        materialized: impl Into<WindowedMaterialized<K, i64>>,
    ) -> KTable<Windowed<K>, i64> {
        self.build(
            AggDef {
                prefix: "KSTREAM-AGGREGATE-",
                materialized: materialized.into(),
                values: Some(Serdes::i64()),
                aggregator: Arc::new(|_k, _v, c: Option<i64>| c.unwrap_or(0) + 1),
            },
            Some(Arc::new(|| 0)),
            Arc::new(|_k, a, b| a + b),
        )
    }

    /// Each key's records per session combined with `reducer(aggregate, value)`; merged
    /// sessions are combined with it too.
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: impl Into<WindowedMaterialized<K, V>>,
    ) -> KTable<Windowed<K>, V> {
        let reducer = Arc::new(reducer);
        let r2 = reducer.clone();
        self.build(
            AggDef {
                prefix: "KSTREAM-REDUCE-",
                materialized: materialized.into(),
                values: self.input.stream.values.clone(),
                aggregator: Arc::new(move |_k, v, agg: Option<V>| match agg {
                    Some(a) => reducer(a, v),
                    None => v,
                }),
            },
            None,
            Arc::new(move |_k, a, b| r2(a, b)),
        )
    }

    /// Each key's records per session folded into `initializer()` with `aggregator(key,
    /// value, aggregate)`. When a record merges sessions, their aggregates are folded into
    /// `initializer()` with `merger(key, aggregate, session)` first, as in Kafka Streams.
    pub fn aggregate<A: Data>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        merger: impl Fn(&K, A, A) -> A + Send + Sync + 'static,
        materialized: impl Into<WindowedMaterialized<K, A>>,
    ) -> KTable<Windowed<K>, A> {
        let initializer: InitFn<A> = Arc::new(initializer);
        let i2 = initializer.clone();
        self.build(
            AggDef {
                prefix: "KSTREAM-AGGREGATE-",
                materialized: materialized.into(),
                values: None,
                aggregator: Arc::new(move |k, v, agg: Option<A>| {
                    aggregator(k, v, agg.unwrap_or_else(|| i2()))
                }),
            },
            Some(initializer),
            Arc::new(merger),
        )
    }
}

// ---- the processors -------------------------------------------------------------------

/// What every windowed aggregation processor keeps: its stores, cache and times.
struct Common<K, A> {
    store_name: String,
    meta_name: String,
    values: SerdeRef<A>,
    caching: bool,
    emit: EmitStrategy,
    cache: Option<ChangeCache<Windowed<K>, A>>,
    meta: Option<KeyValueStoreHandle<Bytes, Bytes>>,
    /// The largest timestamp seen (`i64::MIN` before the first).
    observed: i64,
    /// The close time up to which final results were emitted (`i64::MIN`: none yet).
    last_emit: i64,
    /// Stream time moved since the times were last saved.
    times_dirty: bool,
}

const META_KEY: &[u8] = b"stream-time";

impl<K: Data, A: Data> Common<K, A> {
    fn new(
        store: &str,
        meta: &str,
        values: SerdeRef<A>,
        caching: bool,
        emit: EmitStrategy,
    ) -> Self {
        Common {
            store_name: store.to_owned(),
            meta_name: meta.to_owned(),
            values,
            caching,
            emit,
            cache: None,
            meta: None,
            observed: i64::MIN,
            last_emit: i64::MIN,
            times_dirty: false,
        }
    }

    fn final_only(&self) -> bool {
        self.emit == EmitStrategy::OnWindowClose
    }

    fn init(&mut self, ctx: &ProcessorContext<'_, Windowed<K>, Change<A>>) -> Result<()> {
        self.cache = if self.caching {
            ChangeCache::new(ctx.cache_max_entries())
        } else {
            None
        };
        let name = &self.meta_name;
        let meta = ctx.key_value_store::<Bytes, Bytes>(name)?;
        if let Some(b) = meta.get(&Bytes::from_static(META_KEY))? {
            let Ok(times) = <[u8; 16]>::try_from(&b[..]) else {
                return Err(StreamsError::Store(brook_state::StoreError::Corrupt {
                    store: name.clone(),
                    reason: format!("stream times of {} byte(s), not 16", b.len()),
                }));
            };
            let (o, l) = times.split_at(8);
            self.observed = i64::from_be_bytes(o.try_into().expect("8 bytes"));
            self.last_emit = i64::from_be_bytes(l.try_into().expect("8 bytes"));
        }
        self.meta = Some(meta);
        Ok(())
    }

    /// Moves stream time to `timestamp` if it is later.
    fn observe(&mut self, timestamp: i64) {
        self.observed = self.observed.max(timestamp);
    }

    /// Persists the times.
    fn save_times(&self) -> Result<()> {
        if let Some(meta) = &self.meta {
            let mut v = Vec::with_capacity(16);
            v.extend_from_slice(&self.observed.to_be_bytes());
            v.extend_from_slice(&self.last_emit.to_be_bytes());
            meta.put(&Bytes::from_static(META_KEY), &Bytes::from(v))?;
        }
        Ok(())
    }

    /// After a record: the close time of emitted finals (`due`) is saved at once, so they
    /// are not emitted again after a restart; a stream time moved from `before` is saved
    /// at commit ([`flush`](Self::flush)), which is where input is replayed from after a
    /// crash.
    fn record_done(&mut self, due: bool, before: i64) -> Result<()> {
        if due {
            self.save_times()?;
        } else if before != self.observed {
            self.times_dirty = true;
        }
        Ok(())
    }

    /// At commit: saves a moved stream time and forwards the cached changes.
    fn flush(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> Result<()> {
        if std::mem::take(&mut self.times_dirty) {
            self.save_times()?;
        }
        flush_changes(ctx, &mut self.cache)
    }

    /// Whether final results are due: emit-final and the close time moved past the last.
    fn close_advanced(&self, close: i64) -> bool {
        self.final_only() && (self.last_emit == i64::MIN || self.last_emit < close)
    }

    fn decode(&self, store: &str, topic: &str, b: &[u8]) -> Result<(A, i64)> {
        let (ts, body) = split_timestamped(b).ok_or_else(|| {
            StreamsError::Store(brook_state::StoreError::Corrupt {
                store: store.to_owned(),
                reason: format!(
                    "a windowed aggregate of {} byte(s) is shorter than its 8-byte timestamp",
                    b.len()
                ),
            })
        })?;
        Ok((de(&self.values, topic, store, "value", body)?, ts))
    }

    fn encode(&self, store: &str, topic: &str, value: &A, timestamp: i64) -> Result<Vec<u8>> {
        let body = ser(&self.values, topic, store, "value", value)?;
        Ok(encode_timestamped(timestamp, &body))
    }

    /// Forwards an update (unless only final results are forwarded).
    fn update(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        id: impl FnOnce() -> Vec<u8>,
        record: Record<Windowed<K>, Change<A>>,
    ) -> Result<()> {
        if self.final_only() {
            return Ok(());
        }
        forward_change(ctx, &mut self.cache, id, record)
    }
}

/// A window store's raw key-value access, with the aggregate's timestamps.
struct Windows<'h, K, A> {
    handle: &'h WindowStoreHandle<K, A>,
    key_bytes: Vec<u8>,
}

impl<K: Data, A: Data> Windows<'_, K, A> {
    fn fetch(&self, common: &Common<K, A>, start: i64) -> Result<Option<(A, i64)>> {
        let raw = lock(&self.handle.store).fetch(&self.key_bytes, start)?;
        raw.map(|b| common.decode(&self.handle.name, &self.handle.topic, &b))
            .transpose()
    }

    fn range(&self, common: &Common<K, A>, from: i64, to: i64) -> Result<Vec<(i64, A, i64)>> {
        let raw = {
            let s = lock(&self.handle.store);
            let v = s
                .fetch_key_range(&self.key_bytes, from, to, false)?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            v
        };
        raw.into_iter()
            .map(|e| {
                let (a, ts) = common.decode(&self.handle.name, &self.handle.topic, &e.value)?;
                Ok((e.start, a, ts))
            })
            .collect()
    }

    fn put(&self, common: &Common<K, A>, start: i64, value: &A, timestamp: i64) -> Result<()> {
        let b = common.encode(&self.handle.name, &self.handle.topic, value, timestamp)?;
        Ok(lock(&self.handle.store).put(&self.key_bytes, Some(&b), start)?)
    }

    /// The cache id of `key`'s window starting at `start`.
    fn id(&self, start: i64) -> Vec<u8> {
        let mut id = self.key_bytes.clone();
        id.extend_from_slice(&start.to_be_bytes());
        id
    }
}

/// The windows of every key starting within `from..=to`, by start then key, decoded: what
/// becomes final when the close time moves.
fn closed_windows<K: Data, A: Data>(
    handle: &WindowStoreHandle<K, A>,
    common: &Common<K, A>,
    from: i64,
    to: i64,
) -> Result<Vec<(K, i64, A, i64)>> {
    if to < from {
        return Ok(Vec::new());
    }
    let raw = {
        let s = lock(&handle.store);
        let v = s
            .fetch_all(from, to)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        v
    };
    raw.into_iter()
        .map(|e| {
            let k = de(&handle.keys, &handle.topic, &handle.name, "key", &e.key)?;
            let (a, ts) = common.decode(&handle.name, &handle.topic, &e.value)?;
            Ok((k, e.start, a, ts))
        })
        .collect()
}

/// Forwards final results: `(key, window, aggregate, timestamp)`, with `headers`.
fn emit_finals<K: Data, A: Data>(
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
    finals: Vec<(K, Window, A, i64)>,
    headers: &Headers,
) -> Result<()> {
    for (k, w, a, ts) in finals {
        let mut r = Record::new(
            Windowed::new(k, w),
            Change {
                new: Some(a),
                old: None,
            },
            ts,
        );
        r.headers = headers.clone();
        ctx.forward(r)?;
    }
    Ok(())
}

/// Tumbling and hopping windows.
struct TimeAggregate<K, V, A> {
    windows: TimeWindows,
    common: Common<K, A>,
    aggregator: AggFn<K, V, A>,
    store: Option<WindowStoreHandle<K, A>>,
}

impl<K: Data, V: Data, A: Data> Processor<K, V, Windowed<K>, Change<A>> for TimeAggregate<K, V, A> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> Result<()> {
        self.common.init(ctx)?;
        self.store = Some(ctx.window_store::<K, A>(&self.common.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let store = self.store.clone().expect("init opened the window store");
        let t = r.timestamp;
        let before = self.common.observed;
        self.common.observe(t);
        let close = self.common.observed.saturating_sub(self.windows.grace_ms);
        let size = self.windows.size_ms;
        // Collected before this record's writes, which might expire them in the store.
        let due = self.common.close_advanced(close);
        let finals = if due {
            let from = if self.common.last_emit == i64::MIN {
                i64::MIN
            } else {
                self.common.last_emit.saturating_sub(size).saturating_add(1)
            };
            closed_windows(&store, &self.common, from, close.saturating_sub(size))?
        } else {
            Vec::new()
        };
        let w = Windows {
            handle: &store,
            key_bytes: ser(&store.keys, &store.topic, &store.name, "key", &r.key)?,
        };
        for win in self.windows.windows_for(t) {
            if win.end <= close {
                record_dropped(ctx);
                continue;
            }
            let old = w.fetch(&self.common, win.start)?;
            let (old_value, ts) = match old {
                Some((a, ots)) => (Some(a), ots.max(t)),
                None => (None, t),
            };
            let new = (self.aggregator)(&r.key, r.value.clone(), old_value.clone());
            w.put(&self.common, win.start, &new, ts)?;
            let mut out = Record::new(
                Windowed::new(r.key.clone(), win),
                Change {
                    new: Some(new),
                    old: old_value,
                },
                ts,
            );
            out.headers = r.headers.clone();
            self.common.update(ctx, || w.id(win.start), out)?;
        }
        if due {
            self.common.last_emit = close;
            let finals = finals
                .into_iter()
                .map(|(k, start, a, ts)| (k, Window::new(start, start.saturating_add(size)), a, ts))
                .collect();
            emit_finals(ctx, finals, &r.headers)?;
        }
        self.common.record_done(due, before)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> Result<()> {
        self.common.flush(ctx)
    }
}

/// Sliding windows, after Kafka Streams' `KStreamSlidingWindowAggregate`.
struct SlidingAggregate<K, V, A> {
    windows: SlidingWindows,
    common: Common<K, A>,
    aggregator: AggFn<K, V, A>,
    store: Option<WindowStoreHandle<K, A>>,
}

/// One record's work in a sliding aggregation.
struct Slide<'a, 'h, K, V, A> {
    w: Windows<'h, K, A>,
    key: &'a K,
    value: &'a V,
    t: i64,
    d: i64,
    close: i64,
    headers: &'a Headers,
}

impl<K: Data, V: Data, A: Data> SlidingAggregate<K, V, A> {
    /// Adds the record to the window `[start, start + d]`, which holds `existing` (`None`:
    /// a window made now, from `base`), unless the window is closed.
    fn update(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        s: &Slide<'_, '_, K, V, A>,
        start: i64,
        existing: Option<(A, i64)>,
        base: Option<A>,
    ) -> Result<()> {
        let end = start.saturating_add(s.d);
        if end < s.close {
            record_dropped(ctx);
            return Ok(());
        }
        let (old, from, ts) = match existing {
            Some((a, ots)) => (Some(a.clone()), Some(a), ots.max(s.t)),
            None => (None, base, s.t),
        };
        let new = (self.aggregator)(s.key, s.value.clone(), from);
        s.w.put(&self.common, start, &new, ts)?;
        let mut out = Record::new(
            Windowed::new(s.key.clone(), Window::new(start, end)),
            Change {
                new: Some(new),
                old,
            },
            ts,
        );
        out.headers = s.headers.clone();
        self.common.update(ctx, || s.w.id(start), out)
    }

    /// Makes the window `[t + 1, t + 1 + d]` holding `agg` (the records after `t`).
    fn right_window(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        s: &Slide<'_, '_, K, V, A>,
        agg: (A, i64),
    ) -> Result<()> {
        let start = s.t.saturating_add(1);
        let (a, ts) = agg;
        s.w.put(&self.common, start, &a, ts)?;
        let mut out = Record::new(
            Windowed::new(s.key.clone(), Window::new(start, start.saturating_add(s.d))),
            Change {
                new: Some(a),
                old: None,
            },
            ts,
        );
        out.headers = s.headers.clone();
        self.common.update(ctx, || s.w.id(start), out)
    }

    /// A record at `t >= d`.
    fn in_order(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        s: &Slide<'_, '_, K, V, A>,
    ) -> Result<()> {
        let (t, d) = (s.t, s.d);
        let existing = s.w.range(
            &self.common,
            t.saturating_sub(d.saturating_mul(2)).max(0),
            t.saturating_add(1),
        )?;
        let mut starts = HashSet::new();
        // The aggregate of the latest window ending before `t` (the records up to the
        // previous one), and that of the latest window holding `t` (before `t` is added).
        let mut left_agg: Option<A> = None;
        let mut right_agg: Option<(A, i64)> = None;
        let mut left_made = false;
        let mut right_made = false;
        let mut previous: Option<i64> = None;
        for (start, a, max_ts) in existing {
            starts.insert(start);
            let end = start.saturating_add(d);
            if end < t {
                left_agg = Some(a);
                previous = Some(max_ts);
            } else if end == t {
                left_made = true;
                if max_ts < t {
                    previous = Some(max_ts);
                }
                self.update(ctx, s, start, Some((a, max_ts)), None)?;
            } else if start <= t {
                right_agg = Some((a.clone(), max_ts));
                self.update(ctx, s, start, Some((a, max_ts)), None)?;
            } else {
                // start == t + 1: the record's right window exists.
                right_made = true;
            }
        }
        // The previous record's right window, if the record falls in it and it is new.
        if let Some(p) = previous {
            let start = p.saturating_add(1);
            if !starts.contains(&start) && start.saturating_add(d) >= t {
                self.update(ctx, s, start, None, None)?;
                if start == t.saturating_sub(d) {
                    left_made = true;
                }
            }
        }
        if !left_made {
            let base = match previous {
                Some(p) if t.saturating_sub(d) <= p => left_agg,
                _ => None,
            };
            self.update(ctx, s, t.saturating_sub(d), None, base)?;
        }
        if !right_made {
            if let Some(agg) = right_agg.filter(|(_, ts)| *ts > t) {
                self.right_window(ctx, s, agg)?;
            }
        }
        Ok(())
    }

    /// A record at `0 <= t < d`: its left window is `[0, d]`, which holds every early
    /// record.
    fn early(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        s: &Slide<'_, '_, K, V, A>,
    ) -> Result<()> {
        let t = s.t;
        let existing = s.w.range(&self.common, 0, t.saturating_add(1))?;
        let mut starts = HashSet::new();
        let mut combined: Option<(A, i64)> = None;
        let mut right_agg: Option<(A, i64)> = None;
        let mut right_made = false;
        let mut previous: Option<i64> = None;
        for (start, a, max_ts) in existing {
            starts.insert(start);
            if start == 0 {
                if max_ts < t {
                    previous = Some(max_ts);
                }
                combined = Some((a, max_ts));
            } else if start <= t {
                right_agg = Some((a.clone(), max_ts));
                self.update(ctx, s, start, Some((a, max_ts)), None)?;
            } else {
                right_made = true;
            }
        }
        // Records after `t` but all within [0, d]: the combined window holds only them.
        if right_agg.is_none() {
            right_agg = combined.clone().filter(|(_, ts)| *ts > t);
        }
        if !right_made {
            if let Some(agg) = right_agg.filter(|(_, ts)| *ts > t) {
                self.right_window(ctx, s, agg)?;
            }
        }
        if let Some(p) = previous {
            let start = p.saturating_add(1);
            if !starts.contains(&start) {
                self.update(ctx, s, start, None, None)?;
            }
        }
        self.update(ctx, s, 0, combined, None)
    }
}

impl<K: Data, V: Data, A: Data> Processor<K, V, Windowed<K>, Change<A>>
    for SlidingAggregate<K, V, A>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> Result<()> {
        self.common.init(ctx)?;
        self.store = Some(ctx.window_store::<K, A>(&self.common.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let store = self.store.clone().expect("init opened the window store");
        let (t, d) = (r.timestamp, self.windows.diff_ms);
        let before = self.common.observed;
        self.common.observe(t);
        let close = self.common.observed.saturating_sub(self.windows.grace_ms);
        // A window [s, s + d] is closed once s + d < close.
        let due = self.common.close_advanced(close);
        let finals = if due {
            let from = if self.common.last_emit == i64::MIN {
                i64::MIN
            } else {
                self.common.last_emit.saturating_sub(d)
            };
            closed_windows(
                &store,
                &self.common,
                from,
                close.saturating_sub(d).saturating_sub(1),
            )?
        } else {
            Vec::new()
        };
        if t.saturating_add(1).saturating_add(d) <= close {
            record_dropped(ctx);
        } else {
            let s = Slide {
                w: Windows {
                    handle: &store,
                    key_bytes: ser(&store.keys, &store.topic, &store.name, "key", &r.key)?,
                },
                key: &r.key,
                value: &r.value,
                t,
                d,
                close,
                headers: &r.headers,
            };
            if t < d {
                self.early(ctx, &s)?;
            } else {
                self.in_order(ctx, &s)?;
            }
        }
        if due {
            self.common.last_emit = close;
            let finals = finals
                .into_iter()
                .map(|(k, start, a, ts)| (k, Window::new(start, start.saturating_add(d)), a, ts))
                .collect();
            emit_finals(ctx, finals, &r.headers)?;
        }
        self.common.record_done(due, before)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> Result<()> {
        self.common.flush(ctx)
    }
}

/// Session windows, after Kafka Streams' `KStreamSessionWindowAggregate`.
struct SessionAggregate<K, V, A> {
    windows: SessionWindows,
    common: Common<K, A>,
    initializer: Option<InitFn<A>>,
    aggregator: AggFn<K, V, A>,
    merger: MergeFn<K, A>,
    /// Under emit-final: the sessions not emitted yet, by (end, key bytes, start).
    index: BTreeSet<(i64, Vec<u8>, i64)>,
    session_store: Option<SessionStoreHandle<K, A>>,
}

fn session_id(key_bytes: &[u8], w: SessionWindow) -> Vec<u8> {
    let mut id = key_bytes.to_vec();
    id.extend_from_slice(&w.end.to_be_bytes());
    id.extend_from_slice(&w.start.to_be_bytes());
    id
}

impl<K: Data, V: Data, A: Data> Processor<K, V, Windowed<K>, Change<A>>
    for SessionAggregate<K, V, A>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> Result<()> {
        self.common.init(ctx)?;
        let store = ctx.session_store::<K, A>(&self.common.store_name)?;
        if self.common.final_only() {
            // Rebuild the sessions still to emit (after a restart, from the restored store).
            let s = lock(&store.store);
            let from = self.common.last_emit;
            for e in s.find_sessions(Bound::Unbounded, Bound::Unbounded, from, i64::MAX)? {
                let e = e?;
                self.index.insert((e.window.end, e.key, e.window.start));
            }
        }
        self.session_store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let store = self
            .session_store
            .clone()
            .expect("init opened the session store");
        let t = r.timestamp;
        let gap = self.windows.gap_ms;
        let before = self.common.observed;
        self.common.observe(t);
        let close = self
            .common
            .observed
            .saturating_sub(self.windows.grace_ms)
            .saturating_sub(gap);
        let due = self.common.close_advanced(close);
        // Sessions ending before `close` are final; read before this record's writes, which
        // may expire them in the store.
        let mut finals = Vec::new();
        if due {
            let s = lock(&store.store);
            for entry in self.index.range(..(close, Vec::new(), i64::MIN)) {
                let (end, key_bytes, start) = entry;
                let w = SessionWindow {
                    start: *start,
                    end: *end,
                };
                if let Some(raw) = s.fetch_session(key_bytes, w)? {
                    finals.push((entry.clone(), raw));
                }
            }
        }
        let kb = ser(&store.keys, &store.topic, &store.name, "key", &r.key)?;
        let found = store.find_sessions(&r.key, t.saturating_sub(gap), t.saturating_add(gap))?;
        let new_window = SessionWindow { start: t, end: t };
        let mut merged = new_window;
        let mut agg: Option<A> = self.initializer.as_ref().map(|f| f());
        for (w, a) in &found {
            agg = Some(match agg {
                None => a.clone(),
                Some(acc) => (self.merger)(&r.key, acc, a.clone()),
            });
            merged.start = merged.start.min(w.start);
            merged.end = merged.end.max(w.end);
        }
        if merged.end < close {
            record_dropped(ctx);
        } else {
            let mut old = None;
            if merged != new_window {
                for (w, a) in found {
                    store.remove(&r.key, w)?;
                    self.index.remove(&(w.end, kb.clone(), w.start));
                    let mut out = Record::new(
                        Windowed::new(r.key.clone(), Window::new(w.start, w.end)),
                        Change {
                            new: None,
                            old: Some(a),
                        },
                        w.end,
                    );
                    out.headers = r.headers.clone();
                    self.common.update(ctx, || session_id(&kb, w), out)?;
                }
            } else {
                old = found.into_iter().next().map(|(_, a)| a);
            }
            let new = (self.aggregator)(&r.key, r.value, agg);
            store.put(&r.key, merged, &new)?;
            if self.common.final_only() {
                self.index.insert((merged.end, kb.clone(), merged.start));
            }
            let mut out = Record::new(
                Windowed::new(r.key.clone(), Window::new(merged.start, merged.end)),
                Change {
                    new: Some(new),
                    old,
                },
                merged.end,
            );
            out.headers = r.headers.clone();
            self.common.update(ctx, || session_id(&kb, merged), out)?;
        }
        if due {
            self.common.last_emit = close;
            let mut out = Vec::with_capacity(finals.len());
            for (entry, raw) in finals {
                // A session merged away by this record is not final.
                if !self.index.remove(&entry) {
                    continue;
                }
                let (end, key_bytes, start) = entry;
                let k = de(&store.keys, &store.topic, &store.name, "key", &key_bytes)?;
                let a = de(
                    &self.common.values,
                    &store.topic,
                    &store.name,
                    "value",
                    &raw,
                )?;
                out.push((k, Window::new(start, end), a, end));
            }
            emit_finals(ctx, out, &r.headers)?;
        }
        self.common.record_done(due, before)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> Result<()> {
        self.common.flush(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn tumbling_and_hopping_windows_for_a_timestamp() {
        let t = TimeWindows::of_size_with_no_grace(ms(10));
        assert_eq!(t.windows_for(15), vec![Window::new(10, 20)]);
        assert_eq!(t.windows_for(0), vec![Window::new(0, 10)]);
        let h = TimeWindows::of_size_and_grace(ms(10), ms(5)).advance_by(ms(3));
        assert_eq!(
            h.windows_for(12),
            vec![
                Window::new(3, 13),
                Window::new(6, 16),
                Window::new(9, 19),
                Window::new(12, 22)
            ]
        );
        assert_eq!(h.windows_for(1), vec![Window::new(0, 10)]);
        assert_eq!(h.grace_ms(), 5);
    }

    #[test]
    fn bad_definitions_are_refused_with_their_reason() {
        let e = TimeWindows::of_size_with_no_grace(Duration::ZERO)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("size must be at least 1 ms"), "{e}");
        let e = TimeWindows::of_size_with_no_grace(ms(10))
            .advance_by(ms(11))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("advance (11 ms)"), "{e}");
        assert!(TimeWindows::of_size_with_no_grace(ms(10))
            .advance_by(Duration::ZERO)
            .validate()
            .is_err());
        let e = SessionWindows::with_inactivity_gap_and_no_grace(Duration::ZERO)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("inactivity gap"), "{e}");
        SlidingWindows::of_time_difference_with_no_grace(Duration::ZERO)
            .validate()
            .unwrap();
    }
}
