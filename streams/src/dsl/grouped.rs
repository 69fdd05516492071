//! [`KGroupedStream`] and [`KGroupedTable`]: aggregations into tables.

use std::cell::RefCell;
use std::sync::Arc;

use super::aggregate::TableState;
use super::kstream::KStream;
use super::ktable::{add_table_store, Change, ChangeSerde, KTable};
use super::options::{Grouped, Materialized};
use super::{repartition_through, Shared};
use crate::error::Result;
use crate::processor::{Processor, ProcessorContext};
use crate::record::{Data, Record};
use crate::serde::{SerdeRef, Serdes};
use crate::topology::node_supplier;

/// A stream grouped by key, to aggregate (Kafka Streams' `KGroupedStream`).
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) name: Option<String>,
    /// The stream read back from the repartition topic named by `name`, once made: every
    /// aggregation of a grouping named by the user shares it (as in Kafka Streams).
    pub(crate) repartitioned: RefCell<Option<KStream<K, V>>>,
}

type StreamAgg<K, V, A> = Arc<dyn Fn(&K, V, Option<A>) -> A + Send + Sync>;

/// Folds a stream's records into a per-key aggregate.
struct StreamAggregate<K, V, A> {
    store_name: String,
    /// Whether the store was materialized with caching.
    caching: bool,
    agg: StreamAgg<K, V, A>,
    state: Option<TableState<K, A>>,
}

impl<K: Data, V: Data, A: Data> Processor<K, V, K, Change<A>> for StreamAggregate<K, V, A> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> Result<()> {
        self.state = Some(TableState::open(ctx, &self.store_name, self.caching)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<A>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let state = self.state.as_mut().expect("init opened the store");
        let agg = &self.agg;
        state.update(ctx, r.key, r.timestamp, r.headers, |k, old| {
            Some(agg(k, r.value, old))
        })
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> Result<()> {
        match self.state.as_mut() {
            Some(s) => s.flush(ctx),
            None => Ok(()),
        }
    }
}

/// Adds an aggregation node reading `parent` (`prefix` names it) over store `store`.
fn add_aggregate_node<KI: Data, VI: Data, K: Data, A: Data, P>(
    b: &Shared,
    parent: &str,
    prefix: &str,
    store: &str,
    make: impl Fn(String, bool) -> P + Send + Sync + 'static,
) -> String
where
    P: Processor<KI, VI, K, Change<A>> + 'static,
{
    let mut bb = b.borrow_mut();
    let name = bb.name(prefix);
    let s = store.to_owned();
    let caching = bb.topology.stores.get(store).is_some_and(|d| d.caching);
    let r = bb.topology.add_node(
        &name,
        node_supplier(move || make(s.clone(), caching)),
        &[parent],
    );
    bb.check(r);
    let r = bb
        .topology
        .connect_processor_and_state_stores(&name, &[store])
        .map(|_| ());
    bb.check(r);
    name
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    pub(crate) fn new(stream: &KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        let mut stream = stream.clone();
        if grouped.keys.is_some() {
            stream.keys = grouped.keys;
        }
        if grouped.values.is_some() {
            stream.values = grouped.values;
        }
        KGroupedStream {
            stream,
            name: grouped.name,
            repartitioned: RefCell::new(None),
        }
    }

    /// Aggregates each key's records: `aggregator(key, value, previous)` where
    /// `previous` is `None` for a key's first record.
    fn fold<A: Data>(
        &self,
        materialized: Materialized<K, A>,
        values: Option<SerdeRef<A>>,
        agg: StreamAgg<K, V, A>,
    ) -> KTable<K, A> {
        let b = &self.stream.b;
        let default_store = b.borrow_mut().name("KSTREAM-AGGREGATE-STATE-STORE-");
        let base = self
            .name
            .clone()
            .or_else(|| materialized.store_name.clone())
            .unwrap_or_else(|| default_store.clone());
        let shared = self.repartitioned.borrow().clone();
        let input = match shared {
            Some(s) => s,
            None => {
                let s = self.stream.repartitioned_if_needed(Some(&base));
                if self.name.is_some() {
                    *self.repartitioned.borrow_mut() = Some(s.clone());
                }
                s
            }
        };
        let (store, keys, values) = add_table_store(
            b,
            materialized,
            self.stream.keys.clone(),
            values,
            default_store,
            "aggregation",
        );
        let node = add_aggregate_node::<K, V, K, A, _>(
            b,
            &input.node,
            "KSTREAM-AGGREGATE-",
            &store,
            move |s, caching| StreamAggregate {
                store_name: s,
                caching,
                agg: agg.clone(),
                state: None,
            },
        );
        KTable {
            b: b.clone(),
            node,
            keys: Some(keys),
            values: Some(values),
            store: Some(store),
        }
    }

    /// The number of records per key.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.fold(
            materialized,
            Some(Serdes::i64()),
            Arc::new(|_k, _v, c: Option<i64>| c.unwrap_or(0) + 1),
        )
    }

    /// Each key's records combined with `reducer(aggregate, value)`.
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let values = self.stream.values.clone();
        self.fold(
            materialized,
            values,
            Arc::new(move |_k, v, agg: Option<V>| match agg {
                Some(a) => reducer(a, v),
                None => v,
            }),
        )
    }

    /// Each key's records folded into `initializer()` with `aggregator(key, value,
    /// aggregate)`.
    pub fn aggregate<A: Data>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<K, A> {
        self.fold(
            materialized,
            None,
            Arc::new(move |k, v, agg: Option<A>| {
                aggregator(k, v, agg.unwrap_or_else(&initializer))
            }),
        )
    }
}

/// A table regrouped by new keys, to aggregate with adders and subtractors (Kafka
/// Streams' `KGroupedTable`).
pub struct KGroupedTable<K, V> {
    b: Shared,
    node: String,
    grouped: Grouped<K, V>,
}

type TableAgg<K, V, A> = Arc<dyn Fn(&K, Change<V>, Option<A>) -> Option<A> + Send + Sync>;

struct TableAggregate<K, V, A> {
    store_name: String,
    /// Whether the store was materialized with caching.
    caching: bool,
    agg: TableAgg<K, V, A>,
    state: Option<TableState<K, A>>,
}

impl<K: Data, V: Data, A: Data> Processor<K, Change<V>, K, Change<A>> for TableAggregate<K, V, A> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> Result<()> {
        self.state = Some(TableState::open(ctx, &self.store_name, self.caching)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<A>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let state = self.state.as_mut().expect("init opened the store");
        let agg = &self.agg;
        state.update(ctx, r.key, r.timestamp, r.headers, |k, old| {
            agg(k, r.value, old)
        })
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> Result<()> {
        match self.state.as_mut() {
            Some(s) => s.flush(ctx),
            None => Ok(()),
        }
    }
}

impl<K: Data, V: Data> KGroupedTable<K, V> {
    pub(crate) fn new(b: Shared, node: String, grouped: Grouped<K, V>) -> Self {
        KGroupedTable { b, node, grouped }
    }

    fn fold<A: Data>(
        &self,
        prefix: &str,
        materialized: Materialized<K, A>,
        values: Option<SerdeRef<A>>,
        agg: TableAgg<K, V, A>,
    ) -> KTable<K, A> {
        let b = &self.b;
        let default_store = b.borrow_mut().name(&format!("{prefix}STATE-STORE-"));
        let base = self
            .grouped
            .name
            .clone()
            .or_else(|| materialized.store_name.clone())
            .unwrap_or_else(|| default_store.clone());
        let (keys, vals) = {
            let mut bb = b.borrow_mut();
            let what = format!("group_by of table ({base})");
            (
                bb.serde(self.grouped.keys.clone(), &what),
                bb.serde(self.grouped.values.clone(), &what),
            )
        };
        let change_serde: SerdeRef<Change<V>> = Arc::new(ChangeSerde { inner: vals });
        let source =
            repartition_through(b, &self.node, &base, Some(keys.clone()), Some(change_serde));
        let (store, keys, values) = add_table_store(
            b,
            materialized,
            Some(keys),
            values,
            default_store,
            "table aggregation",
        );
        let node = add_aggregate_node::<K, Change<V>, K, A, _>(
            b,
            &source,
            prefix,
            &store,
            move |s, caching| TableAggregate {
                store_name: s,
                caching,
                agg: agg.clone(),
                state: None,
            },
        );
        KTable {
            b: b.clone(),
            node,
            keys: Some(keys),
            values: Some(values),
            store: Some(store),
        }
    }

    /// The number of rows per new key.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.fold(
            "KTABLE-AGGREGATE-",
            materialized,
            Some(Serdes::i64()),
            Arc::new(|_k, change: Change<V>, c: Option<i64>| {
                let mut c = c.unwrap_or(0);
                if change.old.is_some() {
                    c -= 1;
                }
                if change.new.is_some() {
                    c += 1;
                }
                Some(c)
            }),
        )
    }

    /// The rows per new key combined with `adder`, and taken back out with `subtractor`
    /// when they change or go.
    pub fn reduce(
        &self,
        adder: impl Fn(V, V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let values = self.grouped.values.clone();
        self.fold(
            "KTABLE-REDUCE-",
            materialized,
            values,
            Arc::new(move |_k, change: Change<V>, agg: Option<V>| {
                let mid = match (agg, change.old) {
                    (Some(a), Some(old)) => Some(subtractor(a, old)),
                    (a, _) => a,
                };
                match (mid, change.new) {
                    (Some(a), Some(new)) => Some(adder(a, new)),
                    (None, Some(new)) => Some(new),
                    (mid, None) => mid,
                }
            }),
        )
    }

    /// The rows per new key folded into `initializer()` with `adder`, and taken back out
    /// with `subtractor`.
    pub fn aggregate<A: Data>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        adder: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        subtractor: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<K, A> {
        self.fold(
            "KTABLE-AGGREGATE-",
            materialized,
            None,
            Arc::new(move |k, change: Change<V>, agg: Option<A>| {
                let mut a = agg.unwrap_or_else(&initializer);
                if let Some(old) = change.old {
                    a = subtractor(k, old, a);
                }
                if let Some(new) = change.new {
                    a = adder(k, new, a);
                }
                Some(a)
            }),
        )
    }
}
