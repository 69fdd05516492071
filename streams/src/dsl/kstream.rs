//! [`KStream`]: a record stream, and its stateless operations.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use super::grouped::KGroupedStream;
use super::ktable::{self, KTable};
use super::options::{Grouped, Materialized, Named, Produced};
use super::Shared;
use crate::error::{Result, StreamsError};
use crate::processor::{Processor, ProcessorContext};
use crate::record::{Data, Record};
use crate::serde::SerdeRef;
use crate::topology::{node_supplier, TopicNameExtractor};

type ProcFn<K, V, KO, VO> =
    Arc<dyn Fn(&mut ProcessorContext<'_, KO, VO>, Record<K, V>) -> Result<()> + Send + Sync>;

/// A processor that is one function (the stateless operations).
pub(crate) struct FnProc<K, V, KO, VO> {
    f: ProcFn<K, V, KO, VO>,
}

impl<K: Data, V: Data, KO: Data, VO: Data> Processor<K, V, KO, VO> for FnProc<K, V, KO, VO> {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KO, VO>,
        record: Record<K, V>,
    ) -> Result<()> {
        (self.f)(ctx, record)
    }
}

/// A record stream (Kafka Streams' `KStream`).
pub struct KStream<K, V> {
    pub(crate) b: Shared,
    pub(crate) node: String,
    pub(crate) keys: Option<SerdeRef<K>>,
    pub(crate) values: Option<SerdeRef<V>>,
    /// A key-changing operation came before: a stateful one must repartition first.
    pub(crate) repartition: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            b: self.b.clone(),
            node: self.node.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
            repartition: self.repartition,
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    pub(crate) fn new(
        b: Shared,
        node: String,
        keys: Option<SerdeRef<K>>,
        values: Option<SerdeRef<V>>,
        repartition: bool,
    ) -> Self {
        KStream {
            b,
            node,
            keys,
            values,
            repartition,
        }
    }

    /// The name of the node this stream comes out of.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// Adds a one-function processor fed by this stream; returns its name.
    pub(crate) fn add_fn<KO: Data, VO: Data>(
        &self,
        prefix: &str,
        named: Option<Named>,
        f: impl Fn(&mut ProcessorContext<'_, KO, VO>, Record<K, V>) -> Result<()>
            + Send
            + Sync
            + 'static,
    ) -> String {
        let f: ProcFn<K, V, KO, VO> = Arc::new(f);
        let mut b = self.b.borrow_mut();
        let name = b.name_or(named.as_ref().map(|n| n.0.as_str()), prefix);
        let supplier = node_supplier(move || FnProc { f: f.clone() });
        let r = b.topology.add_node(&name, supplier, &[&self.node]);
        b.check(r);
        name
    }

    fn derive<KO: Data, VO: Data>(
        &self,
        node: String,
        keys: Option<SerdeRef<KO>>,
        values: Option<SerdeRef<VO>>,
        repartition: bool,
    ) -> KStream<KO, VO> {
        KStream::new(self.b.clone(), node, keys, values, repartition)
    }

    /// The records for which `predicate` holds.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        let node = self.add_fn("KSTREAM-FILTER-", None, move |ctx, r| {
            if predicate(&r.key, &r.value) {
                ctx.forward(r)?;
            }
            Ok(())
        });
        self.derive(
            node,
            self.keys.clone(),
            self.values.clone(),
            self.repartition,
        )
    }

    /// The records for which `predicate` does not hold.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Each record turned into a new key and value (marks the stream for repartitioning).
    pub fn map<KO: Data, VO: Data>(
        &self,
        mapper: impl Fn(K, V) -> (KO, VO) + Send + Sync + 'static,
    ) -> KStream<KO, VO> {
        let node = self.add_fn("KSTREAM-MAP-", None, move |ctx, r: Record<K, V>| {
            let (k, v) = mapper(r.key, r.value);
            ctx.forward(Record {
                key: k,
                value: v,
                timestamp: r.timestamp,
                headers: r.headers,
            })
        });
        self.derive(node, None, None, true)
    }

    /// Each value turned into a new one; the key stays.
    pub fn map_values<VO: Data>(
        &self,
        mapper: impl Fn(V) -> VO + Send + Sync + 'static,
    ) -> KStream<K, VO> {
        let node = self.add_fn("KSTREAM-MAPVALUES-", None, move |ctx, r: Record<K, V>| {
            let v = mapper(r.value);
            ctx.forward(Record {
                key: r.key,
                value: v,
                timestamp: r.timestamp,
                headers: r.headers,
            })
        });
        self.derive(node, self.keys.clone(), None, self.repartition)
    }

    /// Each value turned into a new one, seeing the (read-only) key.
    pub fn map_values_with_key<VO: Data>(
        &self,
        mapper: impl Fn(&K, V) -> VO + Send + Sync + 'static,
    ) -> KStream<K, VO> {
        let node = self.add_fn("KSTREAM-MAPVALUES-", None, move |ctx, r: Record<K, V>| {
            let v = mapper(&r.key, r.value);
            ctx.forward(Record {
                key: r.key,
                value: v,
                timestamp: r.timestamp,
                headers: r.headers,
            })
        });
        self.derive(node, self.keys.clone(), None, self.repartition)
    }

    /// Each record turned into any number of records (marks the stream for
    /// repartitioning).
    pub fn flat_map<KO: Data, VO: Data, I>(
        &self,
        mapper: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> KStream<KO, VO>
    where
        I: IntoIterator<Item = (KO, VO)>,
    {
        let node = self.add_fn("KSTREAM-FLATMAP-", None, move |ctx, r: Record<K, V>| {
            for (k, v) in mapper(r.key, r.value) {
                ctx.forward(Record {
                    key: k,
                    value: v,
                    timestamp: r.timestamp,
                    headers: r.headers.clone(),
                })?;
            }
            Ok(())
        });
        self.derive(node, None, None, true)
    }

    /// Each value turned into any number of values under the same key.
    pub fn flat_map_values<VO: Data, I>(
        &self,
        mapper: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> KStream<K, VO>
    where
        I: IntoIterator<Item = VO>,
    {
        let node = self.add_fn(
            "KSTREAM-FLATMAPVALUES-",
            None,
            move |ctx, r: Record<K, V>| {
                for v in mapper(r.value) {
                    ctx.forward(Record {
                        key: r.key.clone(),
                        value: v,
                        timestamp: r.timestamp,
                        headers: r.headers.clone(),
                    })?;
                }
                Ok(())
            },
        );
        self.derive(node, self.keys.clone(), None, self.repartition)
    }

    /// A new key for each record (marks the stream for repartitioning).
    pub fn select_key<KO: Data>(
        &self,
        selector: impl Fn(&K, &V) -> KO + Send + Sync + 'static,
    ) -> KStream<KO, V> {
        let node = self.add_fn("KSTREAM-KEY-SELECT-", None, move |ctx, r: Record<K, V>| {
            let k = selector(&r.key, &r.value);
            ctx.forward(r.with_key(k))
        });
        self.derive(node, None, self.values.clone(), true)
    }

    /// Calls `action` on each record and passes it on.
    pub fn peek(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) -> Self {
        let node = self.add_fn("KSTREAM-PEEK-", None, move |ctx, r| {
            action(&r.key, &r.value);
            ctx.forward(r)
        });
        self.derive(
            node,
            self.keys.clone(),
            self.values.clone(),
            self.repartition,
        )
    }

    /// Calls `action` on each record (a terminal operation).
    pub fn foreach(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) {
        self.add_fn::<K, V>("KSTREAM-FOREACH-", None, move |_ctx, r| {
            action(&r.key, &r.value);
            Ok(())
        });
    }

    /// Splits the stream by predicates (Kafka Streams' `split()`); each record goes to
    /// the first branch whose predicate holds.
    pub fn split(&self, named: Option<Named>) -> BranchedKStream<K, V> {
        let mut b = self.b.borrow_mut();
        let name = b.name_or(named.as_ref().map(|n| n.0.as_str()), "KSTREAM-BRANCH-");
        drop(b);
        BranchedKStream {
            parent: self.clone(),
            name,
            branches: Vec::new(),
            added: false,
        }
    }

    /// The records of this stream and `other`, interleaved.
    pub fn merge(&self, other: &KStream<K, V>) -> Self {
        let mut b = self.b.borrow_mut();
        let name = b.name("KSTREAM-MERGE-");
        let supplier = node_supplier(|| FnProc::<K, V, K, V> {
            f: Arc::new(|ctx, r| ctx.forward(r)),
        });
        let r = b
            .topology
            .add_node(&name, supplier, &[&self.node, &other.node]);
        b.check(r);
        drop(b);
        self.derive(
            name,
            self.keys.clone(),
            self.values.clone(),
            self.repartition || other.repartition,
        )
    }

    /// Writes the stream through a repartition topic `<application.id>-<name>-repartition`
    /// (partitioned by key), and reads it back.
    pub fn repartition(&self, grouped: Grouped<K, V>) -> Self {
        let keys = grouped.keys.or_else(|| self.keys.clone());
        let values = grouped.values.or_else(|| self.values.clone());
        let base = match grouped.name {
            Some(n) => n,
            None => self.b.borrow_mut().name("KSTREAM-REPARTITION-"),
        };
        let node =
            super::repartition_through(&self.b, &self.node, &base, keys.clone(), values.clone());
        self.derive(node, keys, values, false)
    }

    /// Writes every record to `topic`.
    pub fn to(&self, topic: &str, produced: Produced<K, V>) {
        let mut b = self.b.borrow_mut();
        let name = b.name_or(produced.name.as_deref(), "KSTREAM-SINK-");
        let what = format!("sink {name}");
        let keys = b.serde(produced.keys.or_else(|| self.keys.clone()), &what);
        let values = b.serde(produced.values.or_else(|| self.values.clone()), &what);
        let r = b
            .topology
            .add_sink(&name, topic, keys, values, &[&self.node])
            .map(|_| ());
        b.check(r);
    }

    /// Writes each record to the topic `extractor` names for it.
    pub fn to_extractor(&self, extractor: TopicNameExtractor<K, V>, produced: Produced<K, V>) {
        let mut b = self.b.borrow_mut();
        let name = b.name_or(produced.name.as_deref(), "KSTREAM-SINK-");
        let what = format!("sink {name}");
        let keys = b.serde(produced.keys.or_else(|| self.keys.clone()), &what);
        let values = b.serde(produced.values.or_else(|| self.values.clone()), &what);
        let r = b
            .topology
            .add_sink_with_extractor(&name, extractor, keys, values, &[&self.node])
            .map(|_| ());
        b.check(r);
    }

    /// The stream as a table: the latest value per key.
    pub fn to_table(&self, materialized: Materialized<K, V>) -> KTable<K, V> {
        let stream = self.repartitioned_if_needed(None);
        ktable::stream_to_table(&stream, materialized)
    }

    /// Groups by the current key (repartitioning first if the key was changed).
    pub fn group_by_key(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self, grouped)
    }

    /// Groups by a new key (always repartitions).
    pub fn group_by<KO: Data>(
        &self,
        selector: impl Fn(&K, &V) -> KO + Send + Sync + 'static,
        grouped: Grouped<KO, V>,
    ) -> KGroupedStream<KO, V> {
        self.select_key(selector).group_by_key(grouped)
    }

    /// Runs a Processor API processor on the stream, with `stores` (added with
    /// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store))
    /// connected to it.
    pub fn process<P, KO, VO, F>(
        &self,
        supplier: F,
        named: Option<Named>,
        stores: &[&str],
    ) -> KStream<KO, VO>
    where
        F: Fn() -> P + Send + Sync + 'static,
        P: Processor<K, V, KO, VO> + 'static,
        KO: Data,
        VO: Data,
    {
        let mut b = self.b.borrow_mut();
        let name = b.name_or(named.as_ref().map(|n| n.0.as_str()), "KSTREAM-PROCESSOR-");
        let r = b
            .topology
            .add_node(&name, node_supplier(supplier), &[&self.node]);
        b.check(r);
        let r = b
            .topology
            .connect_processor_and_state_stores(&name, stores)
            .map(|_| ());
        b.check(r);
        drop(b);
        self.derive(name, None, None, true)
    }

    /// [`process`](Self::process) for a processor that never changes a record's key
    /// (Kafka Streams' `processValues`): the result keeps this stream's key serde and
    /// partitioning, so a stateful operation after it does not repartition. The processor
    /// must forward records under the key it received.
    pub fn process_values<P, VO, F>(
        &self,
        supplier: F,
        named: Option<Named>,
        stores: &[&str],
    ) -> KStream<K, VO>
    where
        F: Fn() -> P + Send + Sync + 'static,
        P: Processor<K, V, K, VO> + 'static,
        VO: Data,
    {
        let s: KStream<K, VO> = self.process(supplier, named, stores);
        self.derive(s.node, self.keys.clone(), None, self.repartition)
    }

    /// This stream, declared partitioned by its current key although an operation before
    /// it set the key: for a processor that only decoded the key each record came with
    /// (the SQL engine's sources read bytes and decode them themselves), so that a
    /// stateful operation after it does not repartition.
    pub fn assume_partitioned(&self) -> KStream<K, V> {
        let mut s = self.clone();
        s.repartition = false;
        s
    }

    /// This stream with `keys` and `values` as its serdes where it has none.
    pub(crate) fn with_missing_serdes(
        &self,
        keys: Option<SerdeRef<K>>,
        values: Option<SerdeRef<V>>,
    ) -> KStream<K, V> {
        let mut s = self.clone();
        if s.keys.is_none() {
            s.keys = keys;
        }
        if s.values.is_none() {
            s.values = values;
        }
        s
    }

    /// This stream, through a repartition topic if a key-changing operation came before
    /// (named `<base>-repartition`, `base` defaulting to a generated name).
    pub(crate) fn repartitioned_if_needed(&self, base: Option<&str>) -> KStream<K, V> {
        if !self.repartition {
            return self.clone();
        }
        let base = match base {
            Some(b) => b.to_owned(),
            None => self.b.borrow_mut().name("KSTREAM-REPARTITION-"),
        };
        let node = super::repartition_through(
            &self.b,
            &self.node,
            &base,
            self.keys.clone(),
            self.values.clone(),
        );
        self.derive(node, self.keys.clone(), self.values.clone(), false)
    }
}

/// A branch's predicate.
type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// A named branch of [`KStream::split`].
pub struct Branched<K, V> {
    name: Option<String>,
    predicate: Predicate<K, V>,
}

impl<K, V> Branched<K, V> {
    /// A branch of the records `predicate` holds for.
    pub fn new(predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        Branched {
            name: None,
            predicate: Arc::new(predicate),
        }
    }

    /// Names the branch (its key in the map `default_branch`/`no_default_branch` return
    /// is the split's name followed by this).
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// The branches being defined on a split stream.
pub struct BranchedKStream<K, V> {
    parent: KStream<K, V>,
    name: String,
    branches: Vec<(String, Predicate<K, V>)>,
    added: bool,
}

struct BranchProc<K, V> {
    branches: Arc<Vec<(String, Predicate<K, V>)>>,
    default: Option<String>,
    _t: PhantomData<fn(K, V)>,
}

impl<K: Data, V: Data> Processor<K, V> for BranchProc<K, V> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>) -> Result<()> {
        for (child, pred) in self.branches.iter() {
            if pred(&r.key, &r.value) {
                return ctx.forward_to(child, r);
            }
        }
        match &self.default {
            Some(child) => ctx.forward_to(child, r),
            None => Ok(()),
        }
    }
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    /// Adds a branch.
    pub fn branch(mut self, branch: Branched<K, V>) -> Self {
        let n = self.branches.len() + 1;
        let name = format!(
            "{}{}",
            self.name,
            branch.name.unwrap_or_else(|| n.to_string())
        );
        self.branches.push((name, branch.predicate));
        self
    }

    /// The branches, with a last one (named `<split>0`) for the records no predicate
    /// holds for.
    pub fn default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        let default = format!("{}0", self.name);
        self.finish(Some(default))
    }

    /// The branches; records no predicate holds for are dropped.
    pub fn no_default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.finish(None)
    }

    fn finish(mut self, default: Option<String>) -> BTreeMap<String, KStream<K, V>> {
        self.added = true;
        let branches = Arc::new(std::mem::take(&mut self.branches));
        let mut b = self.parent.b.borrow_mut();
        let split = self.name.clone();
        let (bs, d) = (branches.clone(), default.clone());
        let supplier = node_supplier(move || BranchProc {
            branches: bs.clone(),
            default: d.clone(),
            _t: PhantomData,
        });
        let r = b.topology.add_node(&split, supplier, &[&self.parent.node]);
        b.check(r);
        let mut out = BTreeMap::new();
        let children = branches.iter().map(|(n, _)| n.clone()).chain(default);
        for child in children {
            let supplier = node_supplier(|| FnProc::<K, V, K, V> {
                f: Arc::new(|ctx, r| ctx.forward(r)),
            });
            let r = b.topology.add_node(&child, supplier, &[&split]);
            b.check(r);
            out.insert(
                child.clone(),
                KStream::new(
                    self.parent.b.clone(),
                    child,
                    self.parent.keys.clone(),
                    self.parent.values.clone(),
                    self.parent.repartition,
                ),
            );
        }
        out
    }
}

impl<K, V> Drop for BranchedKStream<K, V> {
    fn drop(&mut self) {
        if !self.added && !self.branches.is_empty() {
            if let Ok(mut b) = self.parent.b.try_borrow_mut() {
                b.errors.push(StreamsError::Topology(format!(
                    "split {} was never finished with default_branch() or no_default_branch()",
                    self.name
                )));
            }
        }
    }
}

impl<K: Data, V: Data> KStream<K, Option<V>> {
    /// The stream as a table where a `None` value deletes its key, as a table read from a
    /// topic treats tombstones. The value serde comes from `materialized`. (The SQL engine
    /// uses it: it adds its columns to each record of a table's topic first.)
    pub fn to_table_with_tombstones(&self, materialized: Materialized<K, V>) -> KTable<K, V> {
        let stream = self.repartitioned_if_needed(None);
        super::ktable::optional_stream_to_table(&stream, materialized)
    }
}
