//! Joins, with Kafka Streams 3.x semantics (what SQL's `JOIN` compiles into):
//!
//! | left        | right          | methods                                                    |
//! |-------------|----------------|------------------------------------------------------------|
//! | `KStream`   | `KStream`      | [`join`], [`left_join`], [`outer_join`] in [`JoinWindows`] |
//! | `KStream`   | `KTable`       | [`join_table`], [`left_join_table`]                        |
//! | `KStream`   | `GlobalKTable` | [`join_global`], [`left_join_global`]                      |
//! | `KTable`    | `KTable`       | [`KTable::join`], [`KTable::left_join`], [`KTable::outer_join`] |
//! | `KTable`    | `KTable` by foreign key | [`join_foreign_key`], [`left_join_foreign_key`]   |
//!
//! Rust has no overloading, so the stream-table and stream-global joins carry the kind of
//! their right side in their names. Joiners take the values by reference; a side that may
//! be missing (left and outer joins) is an `Option`.
//!
//! **Co-partitioning.** Every join but the global one needs records with one key in one
//! task: a stream whose key was changed is first written through a repartition topic (as
//! every stateful operation does), and the source topics of both sides (repartition topics
//! included) are registered as a co-partition group ([`Topology::copartition_groups`]),
//! which the runtime's assignor enforces. A table that is not materialized (the result of
//! a `filter` or `map_values`, say) is materialized into a store of its own first
//! (`KTABLE-MATERIALIZE-…`, uncached), as the join reads it.
//!
//! **Stream-stream joins** (nodes `KSTREAM-WINDOWED-…` per side, `KSTREAM-JOINTHIS-…`/
//! `KSTREAM-JOINOTHER-…` (`OUTERTHIS`/`OUTEROTHER` for the outer sides), `KSTREAM-MERGE-…`)
//! keep each side's records in a window store by key and timestamp, for `before + after +
//! grace` (+1 ms). A brook-state window store keeps one value per key and time, so a store
//! entry is the *list* of the side's values with that key and timestamp (duplicates in
//! arrival order). A left record at `t` joins the right records in `[t - before, t +
//! after]`, a right record at `t` the left ones in `[t - after, t + before]`; a result is
//! `joiner(left, right)` at the larger of the two timestamps.
//!
//! Time is the join's own stream time `S`, the largest timestamp either side has seen. A
//! record's window *closes* once `S` passes its end plus the grace period: `t + after +
//! grace < S` for a left record, `t + before + grace < S` for a right one. A record whose
//! window has closed when it arrives is *late* and dropped (not stored, not joined). A
//! record joins only partners whose windows are still open, so a closed window takes no
//! more partners. For left and outer joins, a record that found no partner waits in the
//! join's *shared outer join store* (`KSTREAM-OUTERSHARED-…-store`, a key-value store
//! keyed by time, side and key, so a scan reads it in time order): a partner that arrives
//! while its window is open takes it out (and produces the inner result), and when its
//! window closes it is emitted with the other side `None`, at its own timestamp, before
//! the record that closed it is joined. So no record ever gets both a `None` result and
//! a match, and every unmatched record gets its `None` result exactly once, when its
//! window closes.
//!
//! Divergences from Kafka Streams 3.x here: (a) Kafka emits the `None` result of an
//! out-of-order record at once when `t + after < S` (and can then join it later, a
//! "spurious" result); Brook always waits for the window to close. (b) Kafka joins a
//! record against whatever the other store still holds, even a partner whose window has
//! closed (and whose `None` result may have been emitted), and does not drop records
//! whose own window has closed; Brook applies the rule above. (c) Kafka throttles the
//! outer-join emission by wall-clock time (`emit.interval.ms.kstreams.outer.join.spurious
//! .results.fix`); Brook checks on every record that advances the stream time, skipping
//! the store scan while nothing can have closed. (d) The emitted `None` results carry no
//! headers. (e) The stream time of a join is in memory: after a restart it starts again at
//! the first record (the stores are restored from their changelogs).
//!
//! **Stream-table joins** (`KSTREAM-JOIN-…`/`KSTREAM-LEFTJOIN-…`) look each stream
//! record up in the table's store: a match yields `joiner(value, table_value)` at the
//! stream record's time; no match drops the record (inner) or yields `joiner(value,
//! None)` (left). Table updates produce nothing. The lookup reads the table's store: with
//! the table's write cache on (the DSL default), updates since the task's last commit are
//! not seen yet (Kafka reads through the cache; `Materialized::with_caching_disabled` on
//! the table gives Kafka's behaviour). Kafka 3.5's versioned-store lookups and 3.6's
//! stream-side grace period are not implemented.
//!
//! **Stream-global joins** look the key chosen by `key_selector` up in the global store,
//! which every task reads (the global task publishes its stores to the tasks of its
//! topology). No repartitioning, no co-partitioning: the result keeps the stream's key.
//!
//! **Table-table joins** (`KTABLE-JOINTHIS-…`/`KTABLE-JOINOTHER-…`, `LEFTTHIS`/
//! `LEFTOTHER`, `OUTERTHIS`/`OUTEROTHER`, then `KTABLE-MERGE-…`) turn each update of
//! either side into the change of the joined row: the new and old joined values are
//! computed from the update's new and old values and the other side's current value, at
//! the later of the two timestamps; a row that stops joining is deleted (`None`).
//! Kafka forwards a change with neither a new nor an old value in some cases; Brook drops
//! it. Lookups read the other table's store, so with caching on a result may pair one
//! side's new value with the other side's value as of its last flush; when both have
//! flushed the result is that of the current rows.
//!
//! **Foreign-key joins** ([`join_foreign_key`]) join each row of the left table with the
//! row of the right table whose key `fk_extractor` picks from the left value, as Kafka
//! does (KIP-213): the left side sends a subscription (the primary key, an instruction and
//! a 128-bit murmur3 hash of the serialized left value) to
//! `<name>-subscription-registration-topic`, keyed by the foreign key, so it reaches the
//! task of the right row; the right side keeps the subscriptions in
//! `<name>-subscription-store` (keyed by foreign key, then primary key, so a right update
//! finds its subscribers with one prefix scan) and answers on
//! `<name>-subscription-response-topic`, keyed by the primary key, with the right value
//! (or `None`) and the hash it was sent; the left side drops an answer whose hash is not
//! that of its current value (stale: the row changed since), and otherwise emits the
//! joined row into the result table (materialized, so downstream operations get old
//! values). A foreign-key change unsubscribes the old foreign key and emits the new
//! result (or a tombstone, for an inner join with no match); a left delete emits a
//! tombstone; a right update or delete updates every subscriber. `fk_extractor` may
//! return `None` (a null foreign key): an inner join then has no result for the row, a
//! left join pairs it with `None`. Kafka skips an inner-join update whose new foreign key
//! is null, leaving the old result standing; Brook retracts it.
//!
//! [`join`]: KStream::join
//! [`left_join`]: KStream::left_join
//! [`outer_join`]: KStream::outer_join
//! [`join_table`]: KStream::join_table
//! [`left_join_table`]: KStream::left_join_table
//! [`join_global`]: KStream::join_global
//! [`left_join_global`]: KStream::left_join_global
//! [`join_foreign_key`]: KTable::join_foreign_key
//! [`left_join_foreign_key`]: KTable::left_join_foreign_key
//! [`Topology::copartition_groups`]: crate::Topology::copartition_groups

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::aggregate::TableState;
use super::kstream::KStream;
use super::ktable::{add_table_store, Change, GlobalKTable, KTable};
use super::options::Materialized;
use super::{Builder, Shared};
use crate::error::{Result, StreamsError};
use crate::processor::{Processor, ProcessorContext};
use crate::record::{Data, Record};
use crate::serde::{Serde, SerdeError, SerdeRef, Serdes};
use crate::store::{
    lock, KeyValueStoreHandle, StoreBuilder, Stores, TimestampedKeyValueStoreHandle,
    WindowStoreHandle,
};
use crate::topology::{node_supplier, NodeKind};
use crate::TaskId;

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The time window of a stream-stream join (Kafka Streams' `JoinWindows`): a left record
/// at `t` joins the right records in `[t - before, t + after]`, and records are accepted
/// until stream time passes their window by the grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    before_ms: i64,
    after_ms: i64,
    grace_ms: i64,
    /// Unmatched records of an outer side get their result at once (see
    /// [`JoinWindows::with_eager_unmatched`]).
    eager: bool,
}

impl JoinWindows {
    /// Records join if their timestamps are at most `time_difference` apart; no grace
    /// period (a record arriving after its window has closed is dropped).
    pub fn of_time_difference_with_no_grace(time_difference: Duration) -> JoinWindows {
        let d = millis(time_difference);
        JoinWindows {
            before_ms: d,
            after_ms: d,
            grace_ms: 0,
            eager: false,
        }
    }

    /// Records join if their timestamps are at most `time_difference` apart; a window
    /// accepts out-of-order records until stream time passes its end by `grace`.
    pub fn of_time_difference_and_grace(time_difference: Duration, grace: Duration) -> JoinWindows {
        let d = millis(time_difference);
        JoinWindows {
            before_ms: d,
            after_ms: d,
            grace_ms: millis(grace),
            eager: false,
        }
    }

    /// The same windows reaching `time_difference` back from a left record (the right
    /// records it joins may be that much earlier).
    pub fn before(mut self, time_difference: Duration) -> JoinWindows {
        self.before_ms = millis(time_difference);
        self
    }

    /// The same windows reaching `time_difference` forward from a left record.
    pub fn after(mut self, time_difference: Duration) -> JoinWindows {
        self.after_ms = millis(time_difference);
        self
    }

    /// How far back from a left record the window reaches, ms.
    /// Kafka Streams' old `JoinWindows.of` behaviour, which ksqlDB keeps for joins
    /// without a `GRACE PERIOD`: a record of an outer side that has no partner when it
    /// arrives gets its unmatched result (`joiner(value, None)`) at once, and again the
    /// joined result if a partner arrives later; nothing waits for the window to close.
    pub fn with_eager_unmatched(mut self) -> JoinWindows {
        self.eager = true;
        self
    }

    pub fn before_ms(&self) -> i64 {
        self.before_ms
    }

    /// How far forward from a left record the window reaches, ms.
    pub fn after_ms(&self) -> i64 {
        self.after_ms
    }

    /// The grace period, ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// `before + after`, ms.
    pub fn size_ms(&self) -> i64 {
        self.before_ms.saturating_add(self.after_ms)
    }

    /// How long the join's window stores keep records: the window, the grace period and
    /// a millisecond (a store drops what is exactly its retention old).
    fn retention_ms(&self) -> i64 {
        self.size_ms()
            .saturating_add(self.grace_ms)
            .saturating_add(1)
    }

    /// How long past its timestamp a record of `side` waits for partners (its window's
    /// end).
    fn lookback(&self, side: Side) -> i64 {
        match side {
            Side::Left => self.after_ms,
            Side::Right => self.before_ms,
        }
    }

    /// Whether the window of a record of `side` at `t` has closed at stream time `s`.
    fn closed(&self, side: Side, t: i64, s: i64) -> bool {
        t.saturating_add(self.lookback(side))
            .saturating_add(self.grace_ms)
            < s
    }
}

/// The serdes, names and stores of a stream-stream join (Kafka Streams'
/// `StreamJoined`): the key serde, this stream's and the other stream's value serdes
/// (each defaulting to the stream's own, then to the type's default).
pub struct StreamJoined<K, V, VO> {
    pub(crate) keys: Option<SerdeRef<K>>,
    pub(crate) values: Option<SerdeRef<V>>,
    pub(crate) other_values: Option<SerdeRef<VO>>,
    pub(crate) name: Option<String>,
    pub(crate) store_name: Option<String>,
    pub(crate) this_store_name: Option<String>,
    pub(crate) other_store_name: Option<String>,
    pub(crate) logging: bool,
    pub(crate) in_memory: bool,
}

impl<K, V, VO> Default for StreamJoined<K, V, VO> {
    fn default() -> Self {
        StreamJoined {
            keys: None,
            values: None,
            other_values: None,
            name: None,
            store_name: None,
            this_store_name: None,
            other_store_name: None,
            logging: true,
            in_memory: false,
        }
    }
}

impl<K, V, VO> StreamJoined<K, V, VO> {
    /// With these serdes: keys, this stream's values, the other stream's values.
    pub fn with(keys: SerdeRef<K>, values: SerdeRef<V>, other_values: SerdeRef<VO>) -> Self {
        StreamJoined {
            keys: Some(keys),
            values: Some(values),
            other_values: Some(other_values),
            ..Default::default()
        }
    }

    /// With this key serde.
    pub fn with_key_serde(mut self, keys: SerdeRef<K>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// With this serde for this stream's values.
    pub fn with_value_serde(mut self, values: SerdeRef<V>) -> Self {
        self.values = Some(values);
        self
    }

    /// With this serde for the other stream's values.
    pub fn with_other_value_serde(mut self, other_values: SerdeRef<VO>) -> Self {
        self.other_values = Some(other_values);
        self
    }

    /// Names the join's processors (`<name>-this-windowed`, `<name>-this-join`,
    /// `<name>-merge`, …) and repartition topics (`<name>-left-repartition`,
    /// `<name>-right-repartition`).
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Names the join's stores after `name`: `<name>-this-join-store`,
    /// `<name>-other-join-store` (`-outer-this-join-store`/`-outer-other-join-store` for
    /// the outer sides) and `<name>-shared-left-join-store` (or
    /// `-shared-outer-join-store`).
    pub fn with_store_name(mut self, name: &str) -> Self {
        self.store_name = Some(name.to_owned());
        self
    }

    /// The full name of the store of this stream's records.
    pub fn with_this_store_name(mut self, name: &str) -> Self {
        self.this_store_name = Some(name.to_owned());
        self
    }

    /// The full name of the store of the other stream's records.
    pub fn with_other_store_name(mut self, name: &str) -> Self {
        self.other_store_name = Some(name.to_owned());
        self
    }

    /// Turns off the changelogs of the join's stores (they are then not restored).
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Keeps the join's stores in memory (restored from their changelogs).
    pub fn in_memory(mut self) -> Self {
        self.in_memory = true;
        self
    }
}

/// The serdes and name of a stream-table join (Kafka Streams' `Joined`): keys, the
/// stream's values, the table's values (used to materialize a table that is not, and by
/// table-table joins likewise).
pub struct Joined<K, V, VO> {
    pub(crate) keys: Option<SerdeRef<K>>,
    pub(crate) values: Option<SerdeRef<V>>,
    pub(crate) other_values: Option<SerdeRef<VO>>,
    pub(crate) name: Option<String>,
}

impl<K, V, VO> Default for Joined<K, V, VO> {
    fn default() -> Self {
        Joined {
            keys: None,
            values: None,
            other_values: None,
            name: None,
        }
    }
}

impl<K, V, VO> Joined<K, V, VO> {
    /// With these serdes: keys, the stream's (left) values, the table's (right) values.
    pub fn with(keys: SerdeRef<K>, values: SerdeRef<V>, other_values: SerdeRef<VO>) -> Self {
        Joined {
            keys: Some(keys),
            values: Some(values),
            other_values: Some(other_values),
            name: None,
        }
    }

    /// Only a name: the join's processor (and its repartition topic,
    /// `<name>-repartition`, if the stream needs one).
    pub fn as_name(name: &str) -> Self {
        Joined {
            name: Some(name.to_owned()),
            ..Default::default()
        }
    }

    /// With a name (see [`as_name`](Self::as_name)).
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// With this key serde.
    pub fn with_key_serde(mut self, keys: SerdeRef<K>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// With this serde for the left values.
    pub fn with_value_serde(mut self, values: SerdeRef<V>) -> Self {
        self.values = Some(values);
        self
    }

    /// With this serde for the right values.
    pub fn with_other_value_serde(mut self, other_values: SerdeRef<VO>) -> Self {
        self.other_values = Some(other_values);
        self
    }
}

/// The name of a foreign-key join (Kafka Streams' `TableJoined`): its topics are
/// `<name>-subscription-registration-topic` and `<name>-subscription-response-topic`,
/// its subscription store `<name>-subscription-store`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableJoined {
    pub(crate) name: Option<String>,
}

impl TableJoined {
    /// Named `name`.
    pub fn as_name(name: &str) -> TableJoined {
        TableJoined {
            name: Some(name.to_owned()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

/// A joiner, by kind of join: what it makes of a pair, of a left value alone, of a right
/// value alone.
enum Joiner<V, VO, VR> {
    Inner(InnerFn<V, VO, VR>),
    Left(LeftFn<V, VO, VR>),
    Outer(OuterFn<V, VO, VR>),
}

type InnerFn<V, VO, VR> = Arc<dyn Fn(&V, &VO) -> VR + Send + Sync>;
type LeftFn<V, VO, VR> = Arc<dyn Fn(&V, Option<&VO>) -> VR + Send + Sync>;
type OuterFn<V, VO, VR> = Arc<dyn Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync>;

impl<V, VO, VR> Clone for Joiner<V, VO, VR> {
    fn clone(&self) -> Self {
        match self {
            Joiner::Inner(f) => Joiner::Inner(f.clone()),
            Joiner::Left(f) => Joiner::Left(f.clone()),
            Joiner::Outer(f) => Joiner::Outer(f.clone()),
        }
    }
}

impl<V, VO, VR> Joiner<V, VO, VR> {
    fn both(&self, v: &V, vo: &VO) -> VR {
        match self {
            Joiner::Inner(f) => f(v, vo),
            Joiner::Left(f) => f(v, Some(vo)),
            Joiner::Outer(f) => f(Some(v), Some(vo)),
        }
    }

    fn left_only(&self, v: &V) -> Option<VR> {
        match self {
            Joiner::Inner(_) => None,
            Joiner::Left(f) => Some(f(v, None)),
            Joiner::Outer(f) => Some(f(Some(v), None)),
        }
    }

    fn right_only(&self, vo: &VO) -> Option<VR> {
        match self {
            Joiner::Outer(f) => Some(f(None, Some(vo))),
            _ => None,
        }
    }

    /// The joined row of a left row and a right row, either possibly absent.
    fn row(&self, v: Option<&V>, vo: Option<&VO>) -> Option<VR> {
        match (v, vo) {
            (Some(v), Some(vo)) => Some(self.both(v, vo)),
            (Some(v), None) => self.left_only(v),
            (None, Some(vo)) => self.right_only(vo),
            (None, None) => None,
        }
    }

    fn keeps_left(&self) -> bool {
        !matches!(self, Joiner::Inner(_))
    }

    fn keeps_right(&self) -> bool {
        matches!(self, Joiner::Outer(_))
    }
}

/// The source topics `node` reads from, through its ancestors (as the topology names
/// them: repartition topics without the application prefix).
pub(crate) fn source_topics_of(b: &Builder, node: &str) -> BTreeSet<String> {
    let nodes = &b.topology.nodes;
    let mut topics = BTreeSet::new();
    let Some(start) = nodes.iter().position(|n| n.name == node) else {
        return topics;
    };
    let mut seen = vec![false; nodes.len()];
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        if let NodeKind::Source { topics: t, .. } = &nodes[i].kind {
            topics.extend(t.iter().cloned());
        }
        stack.extend(nodes[i].parents.iter().copied());
    }
    topics
}

/// Registers the source topics of `nodes` (and their ancestors) as one co-partition
/// group, plus `extra` topics.
fn copartition(b: &Shared, nodes: &[&str], extra: &[&str]) {
    let mut bb = b.borrow_mut();
    let mut topics: BTreeSet<String> = extra.iter().map(|t| (*t).to_owned()).collect();
    for n in nodes {
        topics.extend(source_topics_of(&bb, n));
    }
    if !topics.is_empty() && !bb.topology.copartition_groups.contains(&topics) {
        bb.topology.copartition(topics);
    }
}

/// Adds a store declared by `store`, or records an error if the name is taken.
fn add_store(bb: &mut Builder, store: StoreBuilder) {
    match bb.topology.stores.entry(store.name().to_owned()) {
        std::collections::btree_map::Entry::Occupied(e) => {
            let e = StreamsError::Topology(format!("a store named {} already exists", e.key()));
            bb.errors.push(e);
        }
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(Arc::new(store.def));
        }
    }
}

/// Adds processor `name` fed by `parents`, using `stores`.
fn add_processor(
    bb: &mut Builder,
    name: &str,
    supplier: crate::topology::NodeSupplier,
    parents: &[&str],
    stores: &[&str],
) {
    let r = bb.topology.add_node(name, supplier, parents);
    bb.check(r);
    if !stores.is_empty() {
        let r = bb
            .topology
            .connect_processor_and_state_stores(name, stores)
            .map(|_| ());
        bb.check(r);
    }
}

/// Forwards what it is given (a merge of the two sides of a join).
struct PassOn<K, V>(PhantomData<fn(K, V)>);

impl<K: Data, V: Data> Processor<K, V> for PassOn<K, V> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>) -> Result<()> {
        ctx.forward(r)
    }
}

fn pass_on<K: Data, V: Data>() -> crate::topology::NodeSupplier {
    node_supplier(|| PassOn::<K, V>(PhantomData))
}

/// Keeps a table's rows in its store as their changes pass (no cache) and forwards each
/// change, its old value read from the store.
struct MaterializeChanges<K, V> {
    store: String,
    caching: bool,
    state: Option<TableState<K, V>>,
}

impl<K: Data, V: Data> Processor<K, Change<V>> for MaterializeChanges<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.state = Some(TableState::open(ctx, &self.store, self.caching)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let state = self.state.as_mut().expect("init opened the store");
        state.put(ctx, r.key, r.value.new, r.timestamp, r.headers)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        match self.state.as_mut() {
            Some(s) => s.flush(ctx),
            None => Ok(()),
        }
    }
}

/// `table`, materialized: itself if it has a store, else the table kept in a new store
/// (`KTABLE-MATERIALIZE-<n>-store`, uncached) by a node fed by it.
fn materialized_table<K: Data, V: Data>(
    table: &KTable<K, V>,
    keys: Option<SerdeRef<K>>,
    values: Option<SerdeRef<V>>,
    what: &str,
) -> KTable<K, V> {
    if table.store.is_some() {
        return table.clone();
    }
    let b = &table.b;
    let node = b.borrow_mut().name("KTABLE-MATERIALIZE-");
    let (store, keys, values) = add_table_store(
        b,
        Materialized::default().with_caching_disabled(),
        keys.or_else(|| table.keys.clone()),
        values.or_else(|| table.values.clone()),
        format!("{node}-store"),
        &format!("{what}: materializing table {}", table.node),
    );
    let s = store.clone();
    let supplier = node_supplier(move || MaterializeChanges::<K, V> {
        store: s.clone(),
        caching: false,
        state: None,
    });
    add_processor(
        &mut b.borrow_mut(),
        &node,
        supplier,
        &[&table.node],
        &[&store],
    );
    KTable {
        b: b.clone(),
        node,
        keys: Some(keys),
        values: Some(values),
        store: Some(store),
    }
}

fn serde_err(what: &str, node: &str, source: SerdeError) -> StreamsError {
    StreamsError::Serde {
        what: what.to_owned(),
        node: node.to_owned(),
        source,
    }
}

/// Serializes `v`, which must not be null (a key in a store or an internal record).
fn to_bytes<T: 'static>(
    serde: &SerdeRef<T>,
    topic: &str,
    v: &T,
    what: &str,
    node: &str,
) -> Result<Bytes> {
    match serde.serialize(topic, v) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(StreamsError::processor(
            node,
            format!("the {what} serde wrote a null field; a join needs non-null {what}s"),
        )),
        Err(e) => Err(serde_err(what, node, e)),
    }
}

/// A list of values, for a window-store entry holding every record of one key and time:
/// a 4-byte count, then each value as a 4-byte length (`0xffffffff`: null) and its bytes.
pub(crate) struct ListSerde<V> {
    pub inner: SerdeRef<V>,
}

impl<V: Data> Serde<Vec<V>> for ListSerde<V> {
    fn serialize(
        &self,
        topic: &str,
        data: &Vec<V>,
    ) -> std::result::Result<Option<Bytes>, SerdeError> {
        let mut out = BytesMut::new();
        let n = u32::try_from(data.len())
            .map_err(|_| SerdeError::Custom("too many values in a join list".into()))?;
        out.put_u32(n);
        for v in data {
            match self.inner.serialize(topic, v)? {
                Some(b) => {
                    let len = u32::try_from(b.len())
                        .ok()
                        .filter(|l| *l != u32::MAX)
                        .ok_or_else(|| SerdeError::Custom("a join value is too large".into()))?;
                    out.put_u32(len);
                    out.put_slice(&b);
                }
                None => out.put_u32(u32::MAX),
            }
        }
        Ok(Some(out.freeze()))
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> std::result::Result<Vec<V>, SerdeError> {
        let bad = || SerdeError::Custom("a truncated join value list".into());
        let mut data =
            data.ok_or_else(|| SerdeError::Custom("a join list is never null".into()))?;
        let mut take = |n: usize| -> std::result::Result<&[u8], SerdeError> {
            if data.len() < n {
                return Err(bad());
            }
            let (head, rest) = data.split_at(n);
            data = rest;
            Ok(head)
        };
        let word = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let n = word(take(4)?);
        let mut out = Vec::new();
        for _ in 0..n {
            let len = word(take(4)?);
            if len == u32::MAX {
                out.push(self.inner.deserialize(topic, None)?);
            } else {
                let body = take(len as usize)?;
                out.push(self.inner.deserialize(topic, Some(body))?);
            }
        }
        if !data.is_empty() {
            return Err(SerdeError::Custom(
                "trailing bytes after a join value list".into(),
            ));
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// Stream-stream joins
// ---------------------------------------------------------------------------------------

/// A side of a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Side::Left => 0,
            Side::Right => 1,
        }
    }
}

/// A join's time in one task: the largest timestamp either side has seen, and a lower
/// bound of the times in the outer join store (`i64::MIN`: unknown, scan).
#[derive(Debug, Clone, Copy)]
struct JoinTime {
    stream: i64,
    min_pending: i64,
}

/// The times of one join, per task: both sides' processors of a task share one.
type JoinTimes = Arc<Mutex<HashMap<TaskId, JoinTime>>>;

fn join_time(times: &JoinTimes, task: TaskId) -> JoinTime {
    lock(times).get(&task).copied().unwrap_or(JoinTime {
        stream: i64::MIN,
        min_pending: i64::MIN,
    })
}

/// `t` as 8 bytes ordered as the numbers (the sign bit flipped, big-endian).
fn time_bytes(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_of(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    (u64::from_be_bytes(a) ^ (1 << 63)) as i64
}

/// The outer join store's key: time, side, key bytes.
fn outer_key(t: i64, side: Side, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + key.len());
    k.extend_from_slice(&time_bytes(t));
    k.push(side.byte());
    k.extend_from_slice(key);
    k
}

/// Stores each record of one side in the side's window store (unless it is late, which
/// drops it) and passes it on to the side's join processor.
struct JoinWindowProc<K, T> {
    store_name: String,
    side: Side,
    windows: JoinWindows,
    times: JoinTimes,
    task: Option<TaskId>,
    store: Option<WindowStoreHandle<K, Vec<T>>>,
}

impl<K: Data, T: Data> Processor<K, T> for JoinWindowProc<K, T> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, T>) -> Result<()> {
        self.task = Some(ctx.task_id());
        self.store = Some(ctx.window_store(&self.store_name)?);
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, T>, r: Record<K, T>) -> Result<()> {
        {
            let mut times = lock(&self.times);
            let time = times.entry(ctx.task_id()).or_insert(JoinTime {
                stream: i64::MIN,
                min_pending: i64::MIN,
            });
            if self.windows.closed(self.side, r.timestamp, time.stream) {
                tracing::debug!(
                    node = ctx.name(),
                    timestamp = r.timestamp,
                    stream_time = time.stream,
                    "skipping a record for a closed join window"
                );
                return Ok(());
            }
            time.stream = time.stream.max(r.timestamp);
        }
        let store = self.store.as_ref().expect("init opened the store");
        let mut list = store.fetch(&r.key, r.timestamp)?.unwrap_or_default();
        list.push(r.value.clone());
        store.put(&r.key, Some(&list), r.timestamp)?;
        ctx.forward(r)
    }

    fn close(&mut self) -> Result<()> {
        if let Some(task) = self.task {
            lock(&self.times).remove(&task);
        }
        Ok(())
    }
}

type PairFn<T, O, VR> = Arc<dyn Fn(&T, &O) -> VR + Send + Sync>;
type UnmatchedFn<VR> = Arc<dyn Fn(Side, &[u8], &str) -> Result<Vec<VR>> + Send + Sync>;

/// One side's join processor: joins each record with the other side's records in its
/// window, and keeps or emits the unmatched ones (left and outer joins).
struct StreamJoinProc<K, T, O, VR> {
    side: Side,
    other_store_name: String,
    outer_store_name: Option<String>,
    /// Whether this side's unmatched records get a result of their own.
    this_outer: bool,
    windows: JoinWindows,
    times: JoinTimes,
    keys: SerdeRef<K>,
    this_list: Arc<ListSerde<T>>,
    pair: PairFn<T, O, VR>,
    unmatched: UnmatchedFn<VR>,
    other: Option<WindowStoreHandle<K, Vec<O>>>,
    outer: Option<KeyValueStoreHandle<Vec<u8>, Vec<u8>>>,
}

impl<K: Data, T: Data, O: Data, VR: Data> StreamJoinProc<K, T, O, VR> {
    /// Emits (and forgets) the unmatched records whose windows have closed at `s`.
    fn emit_closed(&self, ctx: &mut ProcessorContext<'_, K, VR>, s: i64) -> Result<()> {
        let Some(outer) = &self.outer else {
            return Ok(());
        };
        let w = self.windows;
        let limit = s
            .saturating_sub(w.before_ms.min(w.after_ms))
            .saturating_sub(w.grace_ms);
        let task = ctx.task_id();
        let known = join_time(&self.times, task).min_pending;
        if limit == i64::MIN || (known != i64::MIN && known >= limit) {
            return Ok(());
        }
        let node = ctx.name().to_owned();
        let topic = outer.name().to_owned();
        let mut min_open = limit;
        for (k, v) in outer.range(&Vec::new(), &time_bytes(limit).to_vec())? {
            if k.len() < 9 {
                return Err(StreamsError::processor(
                    &node,
                    "a corrupt outer join store key",
                ));
            }
            let t = time_of(&k);
            let side = if k[8] == 0 { Side::Left } else { Side::Right };
            if !w.closed(side, t, s) {
                min_open = min_open.min(t);
                continue;
            }
            let key = self
                .keys
                .deserialize(&topic, Some(&k[9..]))
                .map_err(|e| serde_err("outer join store key", &node, e))?;
            for value in (self.unmatched)(side, &v, &node)? {
                ctx.forward(Record::new(key.clone(), value, t))?;
            }
            outer.delete(&k)?;
        }
        if let Some(time) = lock(&self.times).get_mut(&task) {
            time.min_pending = min_open;
        }
        Ok(())
    }
}

impl<K: Data, T: Data, O: Data, VR: Data> Processor<K, T, K, VR> for StreamJoinProc<K, T, O, VR> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.other = Some(ctx.window_store(&self.other_store_name)?);
        if let Some(name) = &self.outer_store_name {
            self.outer = Some(ctx.key_value_store(name)?);
        }
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, T>) -> Result<()> {
        let s = join_time(&self.times, ctx.task_id()).stream;
        self.emit_closed(ctx, s)?;
        let w = self.windows;
        // This record's window over the other side's times, from the other side's
        // partners whose own windows are still open.
        let (before, after) = match self.side {
            Side::Left => (w.before_ms, w.after_ms),
            Side::Right => (w.after_ms, w.before_ms),
        };
        let open_from = s
            .saturating_sub(w.lookback(self.side.other()))
            .saturating_sub(w.grace_ms);
        let from = r.timestamp.saturating_sub(before).max(open_from);
        let to = r.timestamp.saturating_add(after);
        let other = self.other.as_ref().expect("init opened the store");
        let matches = if from > to {
            Vec::new()
        } else {
            other.fetch_range(&r.key, from, to)?
        };
        let node = ctx.name().to_owned();
        let key_bytes = match &self.outer {
            Some(outer) => Some(to_bytes(&self.keys, outer.name(), &r.key, "key", &node)?),
            None => None,
        };
        for (t, partners) in &matches {
            if let (Some(outer), Some(kb)) = (&self.outer, &key_bytes) {
                let k = outer_key(*t, self.side.other(), kb);
                if outer.get(&k)?.is_some() {
                    outer.delete(&k)?;
                }
            }
            for o in partners {
                let mut out =
                    Record::new(r.key.clone(), (self.pair)(&r.value, o), r.timestamp.max(*t));
                out.headers = r.headers.clone();
                ctx.forward(out)?;
            }
        }
        if matches.is_empty() && self.this_outer && w.eager {
            let topic = self.other_store_name.clone();
            let bytes = self
                .this_list
                .serialize(&topic, &vec![r.value])
                .map_err(|e| serde_err("outer join value", &node, e))?
                .unwrap_or_default();
            for value in (self.unmatched)(self.side, &bytes, &node)? {
                let mut out = Record::new(r.key.clone(), value, r.timestamp);
                out.headers = r.headers.clone();
                ctx.forward(out)?;
            }
            return Ok(());
        }
        if matches.is_empty() && self.this_outer {
            if let (Some(outer), Some(kb)) = (&self.outer, &key_bytes) {
                let k = outer_key(r.timestamp, self.side, kb);
                let topic = outer.name().to_owned();
                let mut list = match outer.get(&k)? {
                    Some(b) => self
                        .this_list
                        .deserialize(&topic, Some(&b))
                        .map_err(|e| serde_err("outer join store value", &node, e))?,
                    None => Vec::new(),
                };
                list.push(r.value);
                let bytes = self
                    .this_list
                    .serialize(&topic, &list)
                    .map_err(|e| serde_err("outer join store value", &node, e))?
                    .unwrap_or_default();
                outer.put(&k, &bytes.to_vec())?;
                if let Some(time) = lock(&self.times).get_mut(&ctx.task_id()) {
                    if time.min_pending != i64::MIN {
                        time.min_pending = time.min_pending.min(r.timestamp);
                    }
                }
            }
        }
        Ok(())
    }
}

fn window_supplier<K: Data, T: Data>(
    store: &str,
    side: Side,
    windows: JoinWindows,
    times: &JoinTimes,
) -> crate::topology::NodeSupplier {
    let (store, times) = (store.to_owned(), times.clone());
    node_supplier(move || JoinWindowProc::<K, T> {
        store_name: store.clone(),
        side,
        windows,
        times: times.clone(),
        task: None,
        store: None,
    })
}

/// Builds a stream-stream join of `this` (left) and `other` (right).
fn stream_stream_join<K: Data, V: Data, VO: Data, VR: Data>(
    this: &KStream<K, V>,
    other: &KStream<K, VO>,
    joiner: Joiner<V, VO, VR>,
    windows: JoinWindows,
    joined: StreamJoined<K, V, VO>,
) -> KStream<K, VR> {
    let left_outer = joiner.keeps_left();
    let right_outer = joiner.keeps_right();
    let name = joined.name.clone();
    // The join's serdes, where given, are the repartition topics' (as in Kafka Streams).
    let this = this
        .with_missing_serdes(joined.keys.clone(), joined.values.clone())
        .repartitioned_if_needed(name.as_ref().map(|n| format!("{n}-left")).as_deref());
    let other = other
        .with_missing_serdes(joined.keys.clone(), joined.other_values.clone())
        .repartitioned_if_needed(name.as_ref().map(|n| format!("{n}-right")).as_deref());
    let b = this.b.clone();
    let mut guard = b.borrow_mut();
    let bb = &mut *guard;
    let what = "stream-stream join";
    let keys = bb.serde(joined.keys.or_else(|| this.keys.clone()), what);
    let values = bb.serde(joined.values.or_else(|| this.values.clone()), what);
    let other_values = bb.serde(joined.other_values.or_else(|| other.values.clone()), what);

    let this_window_gen = bb.name("KSTREAM-WINDOWED-");
    let other_window_gen = bb.name("KSTREAM-WINDOWED-");
    let this_gen = bb.name(if right_outer {
        "KSTREAM-OUTERTHIS-"
    } else {
        "KSTREAM-JOINTHIS-"
    });
    let other_gen = bb.name(if left_outer {
        "KSTREAM-OUTEROTHER-"
    } else {
        "KSTREAM-JOINOTHER-"
    });
    let outer_gen = left_outer.then(|| bb.name("KSTREAM-OUTERSHARED-"));
    let merge_gen = bb.name("KSTREAM-MERGE-");
    let named = |suffix: &str, generated: &str| match &name {
        Some(n) => format!("{n}{suffix}"),
        None => generated.to_owned(),
    };
    let this_window = named("-this-windowed", &this_window_gen);
    let other_window = named("-other-windowed", &other_window_gen);
    let this_join = named("-this-join", &this_gen);
    let other_join = named("-other-join", &other_gen);
    let merge = named("-merge", &merge_gen);
    let store_named = |full: &Option<String>, suffix: &str, generated: &str| {
        full.clone().unwrap_or_else(|| match &joined.store_name {
            Some(n) => format!("{n}{suffix}-store"),
            None => format!("{generated}-store"),
        })
    };
    let this_store = store_named(
        &joined.this_store_name,
        if right_outer {
            "-outer-this-join"
        } else {
            "-this-join"
        },
        &this_gen,
    );
    let other_store = store_named(
        &joined.other_store_name,
        if left_outer {
            "-outer-other-join"
        } else {
            "-other-join"
        },
        &other_gen,
    );
    let outer_store = outer_gen.map(|g| {
        store_named(
            &None,
            if right_outer {
                "-shared-outer-join"
            } else {
                "-shared-left-join"
            },
            &g,
        )
    });

    let list_v = Arc::new(ListSerde {
        inner: values.clone(),
    });
    let list_vo = Arc::new(ListSerde {
        inner: other_values.clone(),
    });
    let tune = |mut s: StoreBuilder| {
        if joined.in_memory {
            s = s.in_memory();
        }
        if !joined.logging {
            s = s.with_logging_disabled();
        }
        s
    };
    let (retention, size) = (windows.retention_ms(), windows.size_ms());
    let this_list: SerdeRef<Vec<V>> = list_v.clone();
    let other_list: SerdeRef<Vec<VO>> = list_vo.clone();
    let this_def = Stores::window(&this_store, retention, size, false, keys.clone(), this_list);
    let other_def = Stores::window(
        &other_store,
        retention,
        size,
        false,
        keys.clone(),
        other_list,
    );
    add_store(bb, tune(this_def));
    add_store(bb, tune(other_def));
    if let Some(o) = &outer_store {
        add_store(
            bb,
            tune(Stores::key_value(
                o,
                Serdes::byte_array(),
                Serdes::byte_array(),
            )),
        );
    }

    let times: JoinTimes = Arc::default();
    add_processor(
        bb,
        &this_window,
        window_supplier::<K, V>(&this_store, Side::Left, windows, &times),
        &[&this.node],
        &[&this_store],
    );
    add_processor(
        bb,
        &other_window,
        window_supplier::<K, VO>(&other_store, Side::Right, windows, &times),
        &[&other.node],
        &[&other_store],
    );

    let unmatched: UnmatchedFn<VR> = {
        let (j, lv, lo) = (joiner.clone(), list_v.clone(), list_vo.clone());
        Arc::new(move |side: Side, bytes: &[u8], node: &str| {
            let bad = |e| serde_err("outer join store value", node, e);
            Ok(match side {
                Side::Left => lv
                    .deserialize(node, Some(bytes))
                    .map_err(bad)?
                    .iter()
                    .filter_map(|v| j.left_only(v))
                    .collect(),
                Side::Right => lo
                    .deserialize(node, Some(bytes))
                    .map_err(bad)?
                    .iter()
                    .filter_map(|v| j.right_only(v))
                    .collect(),
            })
        })
    };
    let this_pair: PairFn<V, VO, VR> = {
        let j = joiner.clone();
        Arc::new(move |v: &V, vo: &VO| j.both(v, vo))
    };
    let other_pair: PairFn<VO, V, VR> = {
        let j = joiner.clone();
        Arc::new(move |vo: &VO, v: &V| j.both(v, vo))
    };
    let mut this_stores = vec![other_store.as_str()];
    let mut other_stores = vec![this_store.as_str()];
    if let Some(o) = &outer_store {
        this_stores.push(o);
        other_stores.push(o);
    }
    {
        let (times, keys, unmatched) = (times.clone(), keys.clone(), unmatched.clone());
        let (store, outer) = (other_store.clone(), outer_store.clone());
        let list = list_v.clone();
        add_processor(
            bb,
            &this_join,
            node_supplier(move || StreamJoinProc::<K, V, VO, VR> {
                side: Side::Left,
                other_store_name: store.clone(),
                outer_store_name: outer.clone(),
                this_outer: left_outer,
                windows,
                times: times.clone(),
                keys: keys.clone(),
                this_list: list.clone(),
                pair: this_pair.clone(),
                unmatched: unmatched.clone(),
                other: None,
                outer: None,
            }),
            &[&this_window],
            &this_stores,
        );
    }
    {
        let (times, keys) = (times.clone(), keys.clone());
        let (store, outer) = (this_store.clone(), outer_store.clone());
        let list = list_vo.clone();
        add_processor(
            bb,
            &other_join,
            node_supplier(move || StreamJoinProc::<K, VO, V, VR> {
                side: Side::Right,
                other_store_name: store.clone(),
                outer_store_name: outer.clone(),
                this_outer: right_outer,
                windows,
                times: times.clone(),
                keys: keys.clone(),
                this_list: list.clone(),
                pair: other_pair.clone(),
                unmatched: unmatched.clone(),
                other: None,
                outer: None,
            }),
            &[&other_window],
            &other_stores,
        );
    }
    add_processor(
        bb,
        &merge,
        pass_on::<K, VR>(),
        &[&this_join, &other_join],
        &[],
    );
    drop(guard);
    copartition(&b, &[&this.node, &other.node], &[]);
    KStream::new(b, merge, Some(keys), None, false)
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Joins this stream with `other` (Kafka Streams' windowed `join`): each pair of
    /// records with one key whose timestamps are within `windows` yields
    /// `joiner(value, other_value)`, at the later timestamp. See the
    /// [module docs](crate::dsl::join) for time, grace and late records.
    pub fn join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        stream_stream_join(
            self,
            other,
            Joiner::Inner(Arc::new(joiner)),
            windows,
            joined,
        )
    }

    /// [`join`](Self::join), and each record of this stream that joins no record of
    /// `other` yields `joiner(value, None)` when its window closes.
    pub fn left_join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        stream_stream_join(self, other, Joiner::Left(Arc::new(joiner)), windows, joined)
    }

    /// [`join`](Self::join), and each record of either stream that joins no record of
    /// the other yields a result with `None` for the other side when its window closes.
    pub fn outer_join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        stream_stream_join(
            self,
            other,
            Joiner::Outer(Arc::new(joiner)),
            windows,
            joined,
        )
    }

    /// Joins each record with the row of `table` with its key (Kafka Streams'
    /// stream-table `join`): `joiner(value, row)` at the record's timestamp; records
    /// without a row are dropped. Table updates yield nothing.
    pub fn join_table<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        self.stream_table_join(table, Joiner::Inner(Arc::new(joiner)), joined)
    }

    /// [`join_table`](Self::join_table), but a record without a row yields
    /// `joiner(value, None)`.
    pub fn left_join_table<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        self.stream_table_join(table, Joiner::Left(Arc::new(joiner)), joined)
    }

    fn stream_table_join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: Joiner<V, VT, VR>,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        let left = joiner.keeps_left();
        let stream = self
            .with_missing_serdes(joined.keys.clone(), joined.values.clone())
            .repartitioned_if_needed(joined.name.as_deref());
        let table = materialized_table(
            table,
            joined.keys.clone(),
            joined.other_values,
            "stream-table join",
        );
        let store = table.store.clone().expect("materialized");
        let b = self.b.clone();
        let mut bb = b.borrow_mut();
        let prefix = if left {
            "KSTREAM-LEFTJOIN-"
        } else {
            "KSTREAM-JOIN-"
        };
        let name = bb.name_or(joined.name.as_deref(), prefix);
        let s = store.clone();
        let supplier = node_supplier(move || StreamTableJoinProc::<K, V, VT, VR> {
            store: s.clone(),
            joiner: joiner.clone(),
            table: None,
        });
        add_processor(&mut bb, &name, supplier, &[&stream.node], &[&store]);
        drop(bb);
        copartition(&b, &[&stream.node, &table.node], &[]);
        let keys = joined.keys.or_else(|| stream.keys.clone());
        KStream::new(b, name, keys, None, false)
    }

    /// Joins each record with the row of `global` whose key `key_selector` picks
    /// (Kafka Streams' stream-globalTable `join`): `joiner(value, row)` at the record's
    /// timestamp, under the record's key; records without a row are dropped.
    pub fn join_global<GK: Data, GV: Data, VR: Data>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_selector: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, &GV) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.stream_global_join(
            global,
            Arc::new(key_selector),
            Joiner::Inner(Arc::new(joiner)),
        )
    }

    /// [`join_global`](Self::join_global), but a record without a row yields
    /// `joiner(value, None)`.
    pub fn left_join_global<GK: Data, GV: Data, VR: Data>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_selector: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&GV>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.stream_global_join(
            global,
            Arc::new(key_selector),
            Joiner::Left(Arc::new(joiner)),
        )
    }

    fn stream_global_join<GK: Data, GV: Data, VR: Data>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_selector: KeySelector<K, V, GK>,
        joiner: Joiner<V, GV, VR>,
    ) -> KStream<K, VR> {
        let mut bb = self.b.borrow_mut();
        let prefix = if joiner.keeps_left() {
            "KSTREAM-LEFTJOIN-"
        } else {
            "KSTREAM-JOIN-"
        };
        let name = bb.name(prefix);
        let store = global.store.clone();
        let supplier = node_supplier(move || StreamGlobalJoinProc::<K, V, GK, GV, VR> {
            store: store.clone(),
            key_selector: key_selector.clone(),
            joiner: joiner.clone(),
            global: None,
        });
        add_processor(&mut bb, &name, supplier, &[&self.node], &[]);
        drop(bb);
        KStream::new(
            self.b.clone(),
            name,
            self.keys.clone(),
            None,
            self.repartition,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Stream-table and stream-global joins
// ---------------------------------------------------------------------------------------

struct StreamTableJoinProc<K, V, VT, VR> {
    store: String,
    joiner: Joiner<V, VT, VR>,
    table: Option<TimestampedKeyValueStoreHandle<K, VT>>,
}

impl<K: Data, V: Data, VT: Data, VR: Data> Processor<K, V, K, VR>
    for StreamTableJoinProc<K, V, VT, VR>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.table = Some(ctx.timestamped_key_value_store(&self.store)?);
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, V>) -> Result<()> {
        let table = self.table.as_ref().expect("init opened the store");
        let out = match table.get(&r.key)? {
            Some((row, _)) => Some(self.joiner.both(&r.value, &row)),
            None => self.joiner.left_only(&r.value),
        };
        match out {
            Some(v) => ctx.forward(r.with_value(v)),
            None => Ok(()),
        }
    }
}

type KeySelector<K, V, GK> = Arc<dyn Fn(&K, &V) -> GK + Send + Sync>;

struct StreamGlobalJoinProc<K, V, GK, GV, VR> {
    store: String,
    key_selector: KeySelector<K, V, GK>,
    joiner: Joiner<V, GV, VR>,
    /// Opened at the first record: the global task may be built after this one.
    global: Option<TimestampedKeyValueStoreHandle<GK, GV>>,
}

impl<K: Data, V: Data, GK: Data, GV: Data, VR: Data> Processor<K, V, K, VR>
    for StreamGlobalJoinProc<K, V, GK, GV, VR>
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, V>) -> Result<()> {
        if self.global.is_none() {
            self.global = Some(ctx.timestamped_key_value_store(&self.store)?);
        }
        let global = self.global.as_ref().expect("opened above");
        let gk = (self.key_selector)(&r.key, &r.value);
        let out = match global.get(&gk)? {
            Some((row, _)) => Some(self.joiner.both(&r.value, &row)),
            None => self.joiner.left_only(&r.value),
        };
        match out {
            Some(v) => ctx.forward(r.with_value(v)),
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Table-table joins
// ---------------------------------------------------------------------------------------

type RowFn<T, O, VR> = Arc<dyn Fn(Option<&T>, Option<&O>) -> Option<VR> + Send + Sync>;

/// One side's processor of a table-table join: turns the side's change into the joined
/// row's change, with the other side's current row.
struct TableJoinProc<K, T, O, VR> {
    other_store: String,
    row: RowFn<T, O, VR>,
    other: Option<TimestampedKeyValueStoreHandle<K, O>>,
}

impl<K: Data, T: Data, O: Data, VR: Data> Processor<K, Change<T>, K, Change<VR>>
    for TableJoinProc<K, T, O, VR>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        self.other = Some(ctx.timestamped_key_value_store(&self.other_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        r: Record<K, Change<T>>,
    ) -> Result<()> {
        let other = self.other.as_ref().expect("init opened the store");
        let found = other.get(&r.key)?;
        let o = found.as_ref().map(|(v, _)| v);
        let change = Change {
            new: (self.row)(r.value.new.as_ref(), o),
            old: (self.row)(r.value.old.as_ref(), o),
        };
        if change.new.is_none() && change.old.is_none() {
            return Ok(());
        }
        let ts = found.map_or(r.timestamp, |(_, t)| t.max(r.timestamp));
        let mut out = Record::new(r.key, change, ts);
        out.headers = r.headers;
        ctx.forward(out)
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    /// Joins this table with `other` on the key (Kafka Streams' table-table `join`): the
    /// result has a row `joiner(row, other_row)` for each key with rows on both sides.
    pub fn join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.table_table_join(
            other,
            Joiner::Inner(Arc::new(joiner)),
            Joined::default(),
            None,
        )
    }

    /// [`join`](Self::join), plus a row `joiner(row, None)` for each key with a row on
    /// this side only.
    pub fn left_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.table_table_join(
            other,
            Joiner::Left(Arc::new(joiner)),
            Joined::default(),
            None,
        )
    }

    /// [`join`](Self::join), plus a row for each key with a row on one side only, `None`
    /// for the other.
    pub fn outer_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.table_table_join(
            other,
            Joiner::Outer(Arc::new(joiner)),
            Joined::default(),
            None,
        )
    }

    /// [`join`](Self::join) with a name and serdes (`joined`: the processors are
    /// `<name>-join-this`, `<name>-join-other`, `<name>-merge`; the serdes materialize a
    /// side that has no store), the result kept in a store as `materialized` says.
    pub fn join_with<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VO>,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        self.table_table_join(
            other,
            Joiner::Inner(Arc::new(joiner)),
            joined,
            Some(materialized),
        )
    }

    /// [`left_join`](Self::left_join) with a name, serdes and a store for the result (see
    /// [`join_with`](Self::join_with)).
    pub fn left_join_with<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VO>,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        self.table_table_join(
            other,
            Joiner::Left(Arc::new(joiner)),
            joined,
            Some(materialized),
        )
    }

    /// [`outer_join`](Self::outer_join) with a name, serdes and a store for the result
    /// (see [`join_with`](Self::join_with)).
    pub fn outer_join_with<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VO>,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        self.table_table_join(
            other,
            Joiner::Outer(Arc::new(joiner)),
            joined,
            Some(materialized),
        )
    }

    fn table_table_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: Joiner<V, VO, VR>,
        joined: Joined<K, V, VO>,
        materialized: Option<Materialized<K, VR>>,
    ) -> KTable<K, VR> {
        let what = "table-table join";
        let this = materialized_table(self, joined.keys.clone(), joined.values, what);
        let other = materialized_table(other, joined.keys.clone(), joined.other_values, what);
        let this_store = this.store.clone().expect("materialized");
        let other_store = other.store.clone().expect("materialized");
        let b = self.b.clone();
        let (this_prefix, other_prefix) = match &joiner {
            Joiner::Inner(_) => ("KTABLE-JOINTHIS-", "KTABLE-JOINOTHER-"),
            Joiner::Left(_) => ("KTABLE-LEFTTHIS-", "KTABLE-LEFTOTHER-"),
            Joiner::Outer(_) => ("KTABLE-OUTERTHIS-", "KTABLE-OUTEROTHER-"),
        };
        let (this_name, other_name, merge) = {
            let mut bb = b.borrow_mut();
            let (t, o, m) = (
                bb.name(this_prefix),
                bb.name(other_prefix),
                bb.name("KTABLE-MERGE-"),
            );
            match &joined.name {
                Some(n) => (
                    format!("{n}-join-this"),
                    format!("{n}-join-other"),
                    format!("{n}-merge"),
                ),
                None => (t, o, m),
            }
        };
        let keys = joined.keys.or_else(|| this.keys.clone());
        let store = materialized.map(|m| {
            let default = b.borrow_mut().name("KTABLE-JOIN-STATE-STORE-");
            add_table_store(&b, m, keys.clone(), None, default, what)
        });
        let mut bb = b.borrow_mut();
        let this_row: RowFn<V, VO, VR> = {
            let j = joiner.clone();
            Arc::new(move |v: Option<&V>, vo: Option<&VO>| j.row(v, vo))
        };
        let other_row: RowFn<VO, V, VR> = {
            let j = joiner.clone();
            Arc::new(move |vo: Option<&VO>, v: Option<&V>| j.row(v, vo))
        };
        let s = other_store.clone();
        add_processor(
            &mut bb,
            &this_name,
            node_supplier(move || TableJoinProc::<K, V, VO, VR> {
                other_store: s.clone(),
                row: this_row.clone(),
                other: None,
            }),
            &[&this.node],
            &[&other_store],
        );
        let s = this_store.clone();
        add_processor(
            &mut bb,
            &other_name,
            node_supplier(move || TableJoinProc::<K, VO, V, VR> {
                other_store: s.clone(),
                row: other_row.clone(),
                other: None,
            }),
            &[&other.node],
            &[&this_store],
        );
        let (store_name, keys, values) = match store {
            Some((name, keys, values)) => {
                let caching = bb.topology.stores.get(&name).is_some_and(|d| d.caching);
                let s = name.clone();
                add_processor(
                    &mut bb,
                    &merge,
                    node_supplier(move || MaterializeChanges::<K, VR> {
                        store: s.clone(),
                        caching,
                        state: None,
                    }),
                    &[&this_name, &other_name],
                    &[&name],
                );
                (Some(name), Some(keys), Some(values))
            }
            None => {
                add_processor(
                    &mut bb,
                    &merge,
                    pass_on::<K, Change<VR>>(),
                    &[&this_name, &other_name],
                    &[],
                );
                (None, keys, None)
            }
        };
        drop(bb);
        copartition(&b, &[&this.node, &other.node], &[]);
        KTable {
            b,
            node: merge,
            keys,
            values,
            store: store_name,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Foreign-key joins
// ---------------------------------------------------------------------------------------

/// Kafka's murmur3 seed for subscription hashes.
const HASH_SEED: u64 = 104_729;

/// MurmurHash3 x64 128 of `data` (as Kafka hashes a left value), as 16 big-endian bytes
/// (`h1`, then `h2`).
fn murmur3_128(data: &[u8], seed: u64) -> [u8; 16] {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    fn fmix(mut k: u64) -> u64 {
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
    let mix1 = |k: u64| k.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    let mix2 = |k: u64| k.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    let (mut h1, mut h2) = (seed, seed);
    let blocks = data.chunks_exact(16);
    let tail = blocks.remainder();
    for block in blocks {
        let mut a = [0u8; 8];
        a.copy_from_slice(&block[..8]);
        let k1 = u64::from_le_bytes(a);
        a.copy_from_slice(&block[8..]);
        let k2 = u64::from_le_bytes(a);
        h1 ^= mix1(k1);
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix2(k2);
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let (mut k1, mut k2) = (0u64, 0u64);
    for (i, &b) in tail.iter().enumerate() {
        if i < 8 {
            k1 ^= u64::from(b) << (8 * i);
        } else {
            k2 ^= u64::from(b) << (8 * (i - 8));
        }
    }
    if tail.len() > 8 {
        h2 ^= mix2(k2);
    }
    if !tail.is_empty() {
        h1 ^= mix1(k1);
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h1.to_be_bytes());
    out[8..].copy_from_slice(&h2.to_be_bytes());
    out
}

type Hash = [u8; 16];

/// What the right side does with a subscription (Kafka's `SubscriptionWrapper.Instruction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Instruction {
    /// Unsubscribe; answer nothing (the row moved to another foreign key).
    DeleteKeyNoPropagate,
    /// Unsubscribe and answer `None` (the row was deleted).
    DeleteKeyAndPropagate,
    /// Subscribe and answer, `None` if there is no right row.
    PropagateNullIfNoFkValAvailable,
    /// Subscribe and answer only if there is a right row.
    PropagateOnlyIfFkValAvailable,
}

impl Instruction {
    fn byte(self) -> u8 {
        match self {
            Instruction::DeleteKeyNoPropagate => 0,
            Instruction::DeleteKeyAndPropagate => 1,
            Instruction::PropagateNullIfNoFkValAvailable => 2,
            Instruction::PropagateOnlyIfFkValAvailable => 3,
        }
    }

    fn of(b: u8) -> Option<Instruction> {
        Some(match b {
            0 => Instruction::DeleteKeyNoPropagate,
            1 => Instruction::DeleteKeyAndPropagate,
            2 => Instruction::PropagateNullIfNoFkValAvailable,
            3 => Instruction::PropagateOnlyIfFkValAvailable,
            _ => return None,
        })
    }
}

/// A subscription on the registration topic, keyed by the foreign key.
#[derive(Clone)]
struct Subscription<K> {
    instruction: Instruction,
    /// The hash of the left value it was sent for (`None`: deleted).
    hash: Option<Hash>,
    pk: K,
}

fn put_hash(out: &mut BytesMut, hash: &Option<Hash>) {
    match hash {
        Some(h) => {
            out.put_u8(1);
            out.put_slice(h);
        }
        None => out.put_u8(0),
    }
}

/// Reads an optional hash; returns it and the rest.
fn take_hash(data: &[u8]) -> std::result::Result<(Option<Hash>, &[u8]), SerdeError> {
    let bad = || SerdeError::Custom("a truncated subscription hash".into());
    let (&flag, rest) = data.split_first().ok_or_else(bad)?;
    match flag {
        0 => Ok((None, rest)),
        1 if rest.len() >= 16 => {
            let mut h = [0u8; 16];
            h.copy_from_slice(&rest[..16]);
            Ok((Some(h), &rest[16..]))
        }
        _ => Err(bad()),
    }
}

/// Version byte of the subscription and response encodings.
const FK_VERSION: u8 = 0;

/// `[version][instruction][hash flag][hash?][primary key]`.
struct SubscriptionSerde<K> {
    keys: SerdeRef<K>,
}

impl<K: Data> Serde<Subscription<K>> for SubscriptionSerde<K> {
    fn serialize(
        &self,
        topic: &str,
        s: &Subscription<K>,
    ) -> std::result::Result<Option<Bytes>, SerdeError> {
        let pk = self
            .keys
            .serialize(topic, &s.pk)?
            .ok_or_else(|| SerdeError::Custom("a null primary key".into()))?;
        let mut out = BytesMut::with_capacity(19 + pk.len());
        out.put_u8(FK_VERSION);
        out.put_u8(s.instruction.byte());
        put_hash(&mut out, &s.hash);
        out.put_slice(&pk);
        Ok(Some(out.freeze()))
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> std::result::Result<Subscription<K>, SerdeError> {
        let bad = |m: &str| SerdeError::Custom(format!("a bad subscription: {m}"));
        let data = data.ok_or_else(|| bad("null"))?;
        if data.len() < 2 || data[0] != FK_VERSION {
            return Err(bad("unknown version"));
        }
        let instruction = Instruction::of(data[1]).ok_or_else(|| bad("unknown instruction"))?;
        let (hash, rest) = take_hash(&data[2..])?;
        Ok(Subscription {
            instruction,
            hash,
            pk: self.keys.deserialize(topic, Some(rest))?,
        })
    }
}

/// An answer on the response topic, keyed by the primary key.
#[derive(Clone)]
struct Response<VO> {
    hash: Option<Hash>,
    value: Option<VO>,
}

/// `[version][hash flag][hash?][value flag][value?]`.
struct ResponseSerde<VO> {
    values: SerdeRef<VO>,
}

impl<VO: Data> Serde<Response<VO>> for ResponseSerde<VO> {
    fn serialize(
        &self,
        topic: &str,
        r: &Response<VO>,
    ) -> std::result::Result<Option<Bytes>, SerdeError> {
        let mut out = BytesMut::new();
        out.put_u8(FK_VERSION);
        put_hash(&mut out, &r.hash);
        match &r.value {
            Some(v) => match self.values.serialize(topic, v)? {
                Some(b) => {
                    out.put_u8(1);
                    out.put_slice(&b);
                }
                None => out.put_u8(2),
            },
            None => out.put_u8(0),
        }
        Ok(Some(out.freeze()))
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> std::result::Result<Response<VO>, SerdeError> {
        let bad = |m: &str| SerdeError::Custom(format!("a bad subscription response: {m}"));
        let data = data.ok_or_else(|| bad("null"))?;
        let (&version, rest) = data.split_first().ok_or_else(|| bad("empty"))?;
        if version != FK_VERSION {
            return Err(bad("unknown version"));
        }
        let (hash, rest) = take_hash(rest)?;
        let (&flag, body) = rest.split_first().ok_or_else(|| bad("truncated"))?;
        let value = match flag {
            0 => None,
            1 => Some(self.values.deserialize(topic, Some(body))?),
            2 => Some(self.values.deserialize(topic, None)?),
            _ => return Err(bad("unknown value flag")),
        };
        Ok(Response { hash, value })
    }
}

type FkExtractor<V, KO> = Arc<dyn Fn(&V) -> Option<KO> + Send + Sync>;

/// The left side's sender: turns each change of a left row into subscriptions.
struct FkSendProc<K, V, KO> {
    fk: FkExtractor<V, KO>,
    fk_serde: SerdeRef<KO>,
    values: SerdeRef<V>,
    topic: String,
    left_join: bool,
    _t: PhantomData<fn(K)>,
}

impl<K: Data, V: Data, KO: Data> FkSendProc<K, V, KO> {
    fn fk_bytes(&self, fk: &Option<KO>, node: &str) -> Result<Option<Bytes>> {
        fk.as_ref()
            .map(|k| to_bytes(&self.fk_serde, &self.topic, k, "foreign key", node))
            .transpose()
    }
}

/// The hash of a left value as the subscription carries it.
fn value_hash<V: 'static>(values: &SerdeRef<V>, topic: &str, v: &V, node: &str) -> Result<Hash> {
    let bytes = values
        .serialize(topic, v)
        .map_err(|e| serde_err("left value", node, e))?
        .unwrap_or_default();
    Ok(murmur3_128(&bytes, HASH_SEED))
}

impl<K: Data, V: Data, KO: Data> Processor<K, Change<V>, Option<KO>, Subscription<K>>
    for FkSendProc<K, V, KO>
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Option<KO>, Subscription<K>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let node = ctx.name().to_owned();
        let Change { new, old } = r.value;
        let new_fk = new.as_ref().and_then(|v| (self.fk)(v));
        let old_fk = old.as_ref().and_then(|v| (self.fk)(v));
        let hash = new
            .as_ref()
            .map(|v| value_hash(&self.values, &self.topic, v, &node))
            .transpose()?;
        let mut send = |fk: Option<KO>, instruction: Instruction| {
            let s = Subscription {
                instruction,
                hash,
                pk: r.key.clone(),
            };
            let mut out = Record::new(fk, s, r.timestamp);
            out.headers = r.headers.clone();
            ctx.forward(out)
        };
        match (&old, &new) {
            (None, None) => Ok(()),
            (Some(_), None) => send(old_fk, Instruction::DeleteKeyAndPropagate),
            (Some(_), Some(_)) => {
                let (o, n) = (
                    self.fk_bytes(&old_fk, &node)?,
                    self.fk_bytes(&new_fk, &node)?,
                );
                if o.is_some() && o != n {
                    send(old_fk, Instruction::DeleteKeyNoPropagate)?;
                }
                send(new_fk, Instruction::PropagateNullIfNoFkValAvailable)
            }
            (None, Some(_)) => {
                if self.left_join {
                    send(new_fk, Instruction::PropagateNullIfNoFkValAvailable)
                } else if new_fk.is_some() {
                    send(new_fk, Instruction::PropagateOnlyIfFkValAvailable)
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The subscription store's key: the foreign key's length (4 bytes), the foreign key, the
/// primary key.
fn fk_prefix(fk: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + fk.len());
    k.extend_from_slice(&(fk.len() as u32).to_be_bytes());
    k.extend_from_slice(fk);
    k
}

/// The right side's receiver: keeps the subscription and answers it with the right row.
struct FkSubscriptionProc<K, KO, VO> {
    subscriptions: String,
    right_store: String,
    keys: SerdeRef<K>,
    fk_serde: SerdeRef<KO>,
    store: Option<KeyValueStoreHandle<Vec<u8>, Vec<u8>>>,
    right: Option<TimestampedKeyValueStoreHandle<KO, VO>>,
}

impl<K: Data, KO: Data, VO: Data> Processor<Option<KO>, Subscription<K>, K, Response<VO>>
    for FkSubscriptionProc<K, KO, VO>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Response<VO>>) -> Result<()> {
        self.store = Some(ctx.key_value_store(&self.subscriptions)?);
        self.right = Some(ctx.timestamped_key_value_store(&self.right_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Response<VO>>,
        r: Record<Option<KO>, Subscription<K>>,
    ) -> Result<()> {
        let node = ctx.name().to_owned();
        let store = self.store.as_ref().expect("init opened the store");
        let right = self.right.as_ref().expect("init opened the store");
        let s = r.value;
        let mut row = None;
        if let Some(fk) = &r.key {
            let topic = store.name().to_owned();
            let mut key = fk_prefix(&to_bytes(&self.fk_serde, &topic, fk, "foreign key", &node)?);
            key.extend_from_slice(&to_bytes(&self.keys, &topic, &s.pk, "key", &node)?);
            match s.instruction {
                Instruction::DeleteKeyNoPropagate | Instruction::DeleteKeyAndPropagate => {
                    if store.get(&key)?.is_some() {
                        store.delete(&key)?;
                    }
                }
                _ => {
                    let mut v = BytesMut::new();
                    put_hash(&mut v, &s.hash);
                    store.put(&key, &v.to_vec())?;
                }
            }
            row = right.get(fk)?;
        }
        let ts = row
            .as_ref()
            .map_or(r.timestamp, |(_, t)| r.timestamp.max(*t));
        let value = row.map(|(v, _)| v);
        let response = match s.instruction {
            Instruction::DeleteKeyNoPropagate => None,
            Instruction::DeleteKeyAndPropagate => Some(Response {
                hash: s.hash,
                value: None,
            }),
            Instruction::PropagateNullIfNoFkValAvailable => Some(Response {
                hash: s.hash,
                value,
            }),
            Instruction::PropagateOnlyIfFkValAvailable => value.map(|v| Response {
                hash: s.hash,
                value: Some(v),
            }),
        };
        match response {
            Some(resp) => {
                let mut out = Record::new(s.pk, resp, ts);
                out.headers = r.headers;
                ctx.forward(out)
            }
            None => Ok(()),
        }
    }
}

/// The right side's updater: answers every subscriber of a right row that changed.
struct FkForeignProc<K, KO, VO> {
    subscriptions: String,
    keys: SerdeRef<K>,
    fk_serde: SerdeRef<KO>,
    store: Option<KeyValueStoreHandle<Vec<u8>, Vec<u8>>>,
    _t: PhantomData<fn(VO)>,
}

impl<K: Data, KO: Data, VO: Data> Processor<KO, Change<VO>, K, Response<VO>>
    for FkForeignProc<K, KO, VO>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Response<VO>>) -> Result<()> {
        self.store = Some(ctx.key_value_store(&self.subscriptions)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Response<VO>>,
        r: Record<KO, Change<VO>>,
    ) -> Result<()> {
        let node = ctx.name().to_owned();
        let store = self.store.as_ref().expect("init opened the store");
        let topic = store.name().to_owned();
        let prefix = fk_prefix(&to_bytes(
            &self.fk_serde,
            &topic,
            &r.key,
            "foreign key",
            &node,
        )?);
        let subscribers = match brook_state::store::prefix_end(&prefix) {
            Some(end) => store.range(&prefix, &end)?,
            None => store.all()?,
        };
        for (k, v) in subscribers {
            if !k.starts_with(&prefix) {
                continue;
            }
            let pk = self
                .keys
                .deserialize(&topic, Some(&k[prefix.len()..]))
                .map_err(|e| serde_err("subscription key", &node, e))?;
            let (hash, _) = take_hash(&v).map_err(|e| serde_err("subscription", &node, e))?;
            let response = Response {
                hash,
                value: r.value.new.clone(),
            };
            let mut out = Record::new(pk, response, r.timestamp);
            out.headers = r.headers.clone();
            ctx.forward(out)?;
        }
        Ok(())
    }
}

/// The left side's resolver: turns an answer into the joined row, unless it is stale.
struct FkResolveProc<K, V, VO, VR> {
    left_store: String,
    values: SerdeRef<V>,
    topic: String,
    joiner: Joiner<V, VO, VR>,
    left: Option<TimestampedKeyValueStoreHandle<K, V>>,
}

impl<K: Data, V: Data, VO: Data, VR: Data> Processor<K, Response<VO>, K, Option<VR>>
    for FkResolveProc<K, V, VO, VR>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Option<VR>>) -> Result<()> {
        self.left = Some(ctx.timestamped_key_value_store(&self.left_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Option<VR>>,
        r: Record<K, Response<VO>>,
    ) -> Result<()> {
        let node = ctx.name().to_owned();
        let left = self.left.as_ref().expect("init opened the store");
        let current = left.get(&r.key)?.map(|(v, _)| v);
        let hash = current
            .as_ref()
            .map(|v| value_hash(&self.values, &self.topic, v, &node))
            .transpose()?;
        if hash != r.value.hash {
            tracing::trace!(node = %node, "dropping a stale foreign-key join response");
            return Ok(());
        }
        let result = match (&current, &r.value.value) {
            (Some(v), Some(vo)) => Some(self.joiner.both(v, vo)),
            (Some(v), None) => self.joiner.left_only(v),
            (None, _) => None,
        };
        ctx.forward(r.with_value(result))
    }
}

/// Keeps the joined rows of a foreign-key join and forwards their changes.
struct FkOutputProc<K, VR> {
    store: String,
    caching: bool,
    state: Option<TableState<K, VR>>,
}

impl<K: Data, VR: Data> Processor<K, Option<VR>, K, Change<VR>> for FkOutputProc<K, VR> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        self.state = Some(TableState::open(ctx, &self.store, self.caching)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        r: Record<K, Option<VR>>,
    ) -> Result<()> {
        let state = self.state.as_mut().expect("init opened the store");
        state.put(ctx, r.key, r.value, r.timestamp, r.headers)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        match self.state.as_mut() {
            Some(s) => s.flush(ctx),
            None => Ok(()),
        }
    }
}

/// Writes what `parents` forward to internal topic `topic` and reads it back; returns the
/// source's name.
fn through_topic<K: Data, V: Data>(
    bb: &mut Builder,
    parents: &[&str],
    topic: &str,
    keys: SerdeRef<K>,
    values: SerdeRef<V>,
) -> String {
    let sink = format!("{topic}-sink");
    let source = format!("{topic}-source");
    bb.topology.add_internal_topic(topic, None);
    let r = bb
        .topology
        .add_sink(&sink, topic, keys.clone(), values.clone(), parents)
        .map(|_| ());
    bb.check(r);
    let r = bb
        .topology
        .add_source(&source, &[topic], keys, values)
        .map(|_| ());
    bb.check(r);
    source
}

impl<K: Data, V: Data> KTable<K, V> {
    /// Joins each row of this table with the row of `other` whose key `fk_extractor`
    /// picks from it (Kafka Streams' foreign-key `join`): the result has a row
    /// `joiner(row, other_row)` under this row's key where both exist. See the
    /// [module docs](crate::dsl::join) for the subscription topics. The result is kept in
    /// a store (its values need a default serde; see
    /// [`join_foreign_key_with`](Self::join_foreign_key_with) to give one).
    pub fn join_foreign_key<KO: Data, VO: Data, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        fk_extractor: impl Fn(&V) -> Option<KO> + Send + Sync + 'static,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.fk_join(
            other,
            Arc::new(fk_extractor),
            Joiner::Inner(Arc::new(joiner)),
            TableJoined::default(),
            Materialized::default(),
        )
    }

    /// [`join_foreign_key`](Self::join_foreign_key), plus a row `joiner(row, None)` for
    /// each row without a right row (or with no foreign key).
    pub fn left_join_foreign_key<KO: Data, VO: Data, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        fk_extractor: impl Fn(&V) -> Option<KO> + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.fk_join(
            other,
            Arc::new(fk_extractor),
            Joiner::Left(Arc::new(joiner)),
            TableJoined::default(),
            Materialized::default(),
        )
    }

    /// [`join_foreign_key`](Self::join_foreign_key) named by `table_joined`, the result
    /// kept as `materialized` says.
    pub fn join_foreign_key_with<KO: Data, VO: Data, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        fk_extractor: impl Fn(&V) -> Option<KO> + Send + Sync + 'static,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        table_joined: TableJoined,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        self.fk_join(
            other,
            Arc::new(fk_extractor),
            Joiner::Inner(Arc::new(joiner)),
            table_joined,
            materialized,
        )
    }

    /// [`left_join_foreign_key`](Self::left_join_foreign_key) named by `table_joined`, the
    /// result kept as `materialized` says.
    pub fn left_join_foreign_key_with<KO: Data, VO: Data, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        fk_extractor: impl Fn(&V) -> Option<KO> + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        table_joined: TableJoined,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        self.fk_join(
            other,
            Arc::new(fk_extractor),
            Joiner::Left(Arc::new(joiner)),
            table_joined,
            materialized,
        )
    }

    fn fk_join<KO: Data, VO: Data, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        fk: FkExtractor<V, KO>,
        joiner: Joiner<V, VO, VR>,
        table_joined: TableJoined,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let what = "foreign-key join";
        let left = materialized_table(self, None, None, what);
        let right = materialized_table(other, None, None, what);
        let left_store = left.store.clone().expect("materialized");
        let right_store = right.store.clone().expect("materialized");
        let b = self.b.clone();
        let base = table_joined.name;
        let mut guard = b.borrow_mut();
        let bb = &mut *guard;
        let keys = bb.serde(left.keys.clone(), what);
        let values = bb.serde(left.values.clone(), what);
        let fk_serde = bb.serde(right.keys.clone(), what);
        let right_values = bb.serde(right.values.clone(), what);
        let mut named = |suffix: &str, prefix: &str| match &base {
            Some(n) => format!("{n}-{suffix}"),
            None => bb.name(prefix),
        };
        let send = named(
            "subscription-registration-processor",
            "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-",
        );
        let receive = named(
            "subscription-processor",
            "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-",
        );
        let foreign = named("foreign-processor", "KTABLE-FK-JOIN-FOREIGN-PROCESSOR-");
        let response_gen = named(
            "subscription-response",
            "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-",
        );
        let resolve = named(
            "subscription-response-resolver",
            "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-",
        );
        let output = named("output", "KTABLE-FK-JOIN-OUTPUT-");
        let subscriptions = named(
            "subscription-store",
            "KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-",
        );
        let registration_topic = match &base {
            Some(n) => format!("{n}-subscription-registration-topic"),
            None => format!("{send}-topic"),
        };
        let response_topic = match &base {
            Some(n) => format!("{n}-subscription-response-topic"),
            None => format!("{response_gen}-topic"),
        };
        let output_default = match &base {
            Some(n) => format!("{n}-output-store"),
            None => bb.name("KTABLE-FK-JOIN-OUTPUT-STATE-STORE-"),
        };
        add_store(
            bb,
            Stores::key_value(&subscriptions, Serdes::byte_array(), Serdes::byte_array()),
        );

        // Left: changes -> subscriptions -> registration topic.
        {
            let (fk, fk_serde, values, topic) = (
                fk.clone(),
                fk_serde.clone(),
                values.clone(),
                registration_topic.clone(),
            );
            let left_join = joiner.keeps_left();
            add_processor(
                bb,
                &send,
                node_supplier(move || FkSendProc::<K, V, KO> {
                    fk: fk.clone(),
                    fk_serde: fk_serde.clone(),
                    values: values.clone(),
                    topic: topic.clone(),
                    left_join,
                    _t: PhantomData,
                }),
                &[&left.node],
                &[],
            );
        }
        let subscription_serde: SerdeRef<Subscription<K>> =
            Arc::new(SubscriptionSerde { keys: keys.clone() });
        let registration_source = through_topic(
            bb,
            &[&send],
            &registration_topic,
            Serdes::optional(fk_serde.clone()),
            subscription_serde,
        );

        // Right: subscriptions and right changes -> responses -> response topic.
        {
            let (subs, rs, keys, fk_serde) = (
                subscriptions.clone(),
                right_store.clone(),
                keys.clone(),
                fk_serde.clone(),
            );
            add_processor(
                bb,
                &receive,
                node_supplier(move || FkSubscriptionProc::<K, KO, VO> {
                    subscriptions: subs.clone(),
                    right_store: rs.clone(),
                    keys: keys.clone(),
                    fk_serde: fk_serde.clone(),
                    store: None,
                    right: None,
                }),
                &[&registration_source],
                &[&subscriptions, &right_store],
            );
        }
        {
            let (subs, keys, fk_serde) = (subscriptions.clone(), keys.clone(), fk_serde.clone());
            add_processor(
                bb,
                &foreign,
                node_supplier(move || FkForeignProc::<K, KO, VO> {
                    subscriptions: subs.clone(),
                    keys: keys.clone(),
                    fk_serde: fk_serde.clone(),
                    store: None,
                    _t: PhantomData,
                }),
                &[&right.node],
                &[&subscriptions],
            );
        }
        let response_serde: SerdeRef<Response<VO>> = Arc::new(ResponseSerde {
            values: right_values,
        });
        let response_source = through_topic(
            bb,
            &[&receive, &foreign],
            &response_topic,
            keys.clone(),
            response_serde,
        );

        // Left: responses -> joined rows -> the result table.
        {
            let (ls, values, topic, joiner) = (
                left_store.clone(),
                values.clone(),
                registration_topic.clone(),
                joiner.clone(),
            );
            add_processor(
                bb,
                &resolve,
                node_supplier(move || FkResolveProc::<K, V, VO, VR> {
                    left_store: ls.clone(),
                    values: values.clone(),
                    topic: topic.clone(),
                    joiner: joiner.clone(),
                    left: None,
                }),
                &[&response_source],
                &[&left_store],
            );
        }
        drop(guard);
        let (store, out_keys, out_values) =
            add_table_store(&b, materialized, Some(keys), None, output_default, what);
        let mut bb = b.borrow_mut();
        let caching = bb.topology.stores.get(&store).is_some_and(|d| d.caching);
        let s = store.clone();
        add_processor(
            &mut bb,
            &output,
            node_supplier(move || FkOutputProc::<K, VR> {
                store: s.clone(),
                caching,
                state: None,
            }),
            &[&resolve],
            &[&store],
        );
        drop(bb);
        copartition(&b, &[&right.node], &[&registration_topic]);
        copartition(&b, &[&left.node], &[&response_topic]);
        KTable {
            b,
            node: output,
            keys: Some(out_keys),
            values: Some(out_values),
            store: Some(store),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_the_reference() {
        // mmh3.hash64(b"hello", seed=0) == (-3758069500696749310, 6565844092913065241)
        let h = murmur3_128(b"hello", 0);
        assert_eq!(&h[..8], &(-3_758_069_500_696_749_310i64).to_be_bytes());
        assert_eq!(&h[8..], &6_565_844_092_913_065_241i64.to_be_bytes());
        assert_eq!(murmur3_128(b"", 0), [0u8; 16]);
        // Tails of every length and whole blocks hash differently.
        let data: Vec<u8> = (0..40).collect();
        let hashes: BTreeSet<Hash> = (0..=40)
            .map(|n| murmur3_128(&data[..n], HASH_SEED))
            .collect();
        assert_eq!(hashes.len(), 41);
    }

    #[test]
    fn lists_round_trip_and_reject_garbage() {
        let s = ListSerde {
            inner: Serdes::optional(Serdes::string()),
        };
        let v = vec![Some("a".to_owned()), None, Some(String::new())];
        let b = s.serialize("t", &v).unwrap().unwrap();
        assert_eq!(s.deserialize("t", Some(&b)).unwrap(), v);
        assert!(s.deserialize("t", Some(&b[..b.len() - 1])).is_err());
        assert!(s.deserialize("t", None).is_err());
        let mut extra = b.to_vec();
        extra.push(0);
        assert!(s.deserialize("t", Some(&extra)).is_err());
        assert!(s.deserialize("t", Some(&[0xff, 0xff, 0xff, 0xff])).is_err());
    }

    #[test]
    fn outer_keys_sort_by_time_then_side() {
        let a = outer_key(-5, Side::Right, b"z");
        let b = outer_key(3, Side::Left, b"z");
        let c = outer_key(3, Side::Right, b"a");
        assert!(a < b && b < c);
        assert_eq!(time_of(&a), -5);
        assert_eq!(time_of(&c), 3);
    }

    #[test]
    fn subscriptions_and_responses_round_trip() {
        let s = SubscriptionSerde {
            keys: Serdes::string(),
        };
        let sub = Subscription {
            instruction: Instruction::PropagateOnlyIfFkValAvailable,
            hash: Some([7; 16]),
            pk: "pk".to_owned(),
        };
        let b = s.serialize("t", &sub).unwrap().unwrap();
        let back = s.deserialize("t", Some(&b)).unwrap();
        assert_eq!(back.instruction, sub.instruction);
        assert_eq!(back.hash, sub.hash);
        assert_eq!(back.pk, "pk");
        assert!(s.deserialize("t", Some(&b[..5])).is_err());
        assert!(s.deserialize("t", Some(&[9, 0, 0])).is_err());
        let r = ResponseSerde {
            values: Serdes::i64(),
        };
        for resp in [
            Response {
                hash: None,
                value: Some(5i64),
            },
            Response {
                hash: Some([1; 16]),
                value: None,
            },
        ] {
            let b = r.serialize("t", &resp).unwrap().unwrap();
            let back = r.deserialize("t", Some(&b)).unwrap();
            assert_eq!((back.hash, back.value), (resp.hash, resp.value));
        }
        assert!(r.deserialize("t", Some(&[0, 0, 7])).is_err());
    }

    #[test]
    fn windows_close_after_their_end_and_grace() {
        let w = JoinWindows::of_time_difference_and_grace(
            Duration::from_millis(10),
            Duration::from_millis(5),
        )
        .before(Duration::from_millis(3));
        assert_eq!(
            (w.before_ms(), w.after_ms(), w.grace_ms(), w.size_ms()),
            (3, 10, 5, 13)
        );
        assert!(!w.closed(Side::Left, 0, 15));
        assert!(w.closed(Side::Left, 0, 16));
        assert!(!w.closed(Side::Right, 0, 8));
        assert!(w.closed(Side::Right, 0, 9));
        assert!(!w.closed(Side::Left, 0, i64::MIN));
        assert!(!w.closed(Side::Left, i64::MAX, i64::MAX));
    }
}
