//! [`KTable`] (a changelog stream: the latest value per key) and [`GlobalKTable`].
//!
//! Between the nodes of a table, values travel as [`Change`]s: the new value and the one
//! it replaces (`None` for none), so a filter or an aggregation downstream can take back
//! what it was given before.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::aggregate::TableState;
use super::grouped::KGroupedTable;
use super::kstream::KStream;
use super::options::{Consumed, Grouped, Materialized};
use super::Shared;
use crate::error::Result;
use crate::processor::{Processor, ProcessorContext};
use crate::record::{Data, Record};
use crate::serde::{Serde, SerdeError, SerdeRef, Serdes};
use crate::store::Stores;
use crate::topology::node_supplier;

/// A table update: the new value (`None`: deleted) and the old one (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Change<V> {
    pub new: Option<V>,
    pub old: Option<V>,
}

/// A table (Kafka Streams' `KTable`).
pub struct KTable<K, V> {
    pub(crate) b: Shared,
    pub(crate) node: String,
    pub(crate) keys: Option<SerdeRef<K>>,
    pub(crate) values: Option<SerdeRef<V>>,
    /// The store holding this table, if it is materialized.
    pub(crate) store: Option<String>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            b: self.b.clone(),
            node: self.node.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
            store: self.store.clone(),
        }
    }
}

/// Materializes the stream it is fed into a timestamped store and forwards changes.
struct Materialize<K, V> {
    store_name: String,
    /// Whether the store was materialized with caching.
    caching: bool,
    state: Option<TableState<K, V>>,
}

impl<K: Data, V: Data> Materialize<K, V> {
    fn state(&mut self) -> &mut TableState<K, V> {
        self.state.as_mut().expect("init opened the store")
    }
}

impl<K: Data, V: Data> Processor<K, Option<V>, K, Change<V>> for Materialize<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.state = Some(TableState::open(ctx, &self.store_name, self.caching)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, Option<V>>,
    ) -> Result<()> {
        self.state()
            .put(ctx, r.key, r.value, r.timestamp, r.headers)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.state().flush(ctx)
    }
}

/// Adds the store of a materialized table; returns its name.
pub(crate) fn add_table_store<K: Data, V: Data>(
    b: &Shared,
    materialized: Materialized<K, V>,
    keys: Option<SerdeRef<K>>,
    values: Option<SerdeRef<V>>,
    default_name: String,
    what: &str,
) -> (String, SerdeRef<K>, SerdeRef<V>) {
    let mut bb = b.borrow_mut();
    let name = materialized.store_name.unwrap_or(default_name);
    let keys = bb.serde(materialized.keys.or(keys), what);
    let values = bb.serde(materialized.values.or(values), what);
    let mut store = Stores::timestamped_key_value(&name, keys.clone(), values.clone());
    if materialized.in_memory {
        store = store.in_memory();
    }
    if !materialized.logging {
        store = store.with_logging_disabled();
    }
    if materialized.caching {
        store = store.with_caching_enabled();
    }
    if bb.topology.stores.contains_key(&name) {
        bb.errors.push(crate::StreamsError::Topology(format!(
            "a store named {name} already exists"
        )));
    } else {
        bb.topology.stores.insert(name.clone(), Arc::new(store.def));
    }
    (name, keys, values)
}

/// Adds a materializing node fed by `parent` (whose values are `Option<V>`).
fn add_materialize<K: Data, V: Data>(
    b: &Shared,
    parent: &str,
    prefix: &str,
    store: &str,
) -> String {
    let mut bb = b.borrow_mut();
    let name = bb.name(prefix);
    let s = store.to_owned();
    let caching = bb.topology.stores.get(store).is_some_and(|d| d.caching);
    let supplier = node_supplier(move || Materialize::<K, V> {
        store_name: s.clone(),
        caching,
        state: None,
    });
    let r = bb.topology.add_node(&name, supplier, &[parent]);
    bb.check(r);
    let r = bb
        .topology
        .connect_processor_and_state_stores(&name, &[store])
        .map(|_| ());
    bb.check(r);
    name
}

/// A source reading `topic` for a table: its values as `Option<V>` (a null value is a
/// deletion). Returns the source's name and the serdes.
fn add_table_source<K: Data, V: Data>(
    b: &Shared,
    topic: &str,
    consumed: Consumed<K, V>,
    what: &str,
) -> (String, SerdeRef<K>, SerdeRef<V>) {
    let mut bb = b.borrow_mut();
    let source = bb.name_or(consumed.name.as_deref(), "KSTREAM-SOURCE-");
    let what = format!("{what} {source}");
    let keys = bb.serde(consumed.keys, &what);
    let values = bb.serde(consumed.values, &what);
    let r = bb
        .topology
        .add_source_with(
            &source,
            &[topic],
            keys.clone(),
            Serdes::optional(values.clone()),
            consumed.extractor,
        )
        .map(|_| ());
    bb.check(r);
    (source, keys, values)
}

pub(crate) fn source_table<K: Data, V: Data>(
    b: &Shared,
    topic: &str,
    consumed: Consumed<K, V>,
    materialized: Materialized<K, V>,
) -> KTable<K, V> {
    let (source, keys, values) = add_table_source(b, topic, consumed, "table source");
    let default_store = {
        let mut bb = b.borrow_mut();
        bb.name(&format!("{topic}-STATE-STORE-"))
    };
    let (store, keys, values) = add_table_store(
        b,
        materialized,
        Some(keys),
        Some(values),
        default_store,
        &format!("table {topic}"),
    );
    let node = add_materialize::<K, V>(b, &source, "KTABLE-SOURCE-", &store);
    KTable {
        b: b.clone(),
        node,
        keys: Some(keys),
        values: Some(values),
        store: Some(store),
    }
}

pub(crate) fn stream_to_table<K: Data, V: Data>(
    stream: &KStream<K, V>,
    materialized: Materialized<K, V>,
) -> KTable<K, V> {
    let wrap = stream.add_fn("KSTREAM-TOTABLE-", None, |ctx, r: Record<K, V>| {
        let v = Some(r.value);
        ctx.forward(Record {
            key: r.key,
            value: v,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    });
    let default_store = stream.b.borrow_mut().name("KSTREAM-TOTABLE-STATE-STORE-");
    let (store, keys, values) = add_table_store(
        &stream.b,
        materialized,
        stream.keys.clone(),
        stream.values.clone(),
        default_store,
        "to_table",
    );
    let node = add_materialize::<K, V>(&stream.b, &wrap, "KTABLE-MATERIALIZE-", &store);
    KTable {
        b: stream.b.clone(),
        node,
        keys: Some(keys),
        values: Some(values),
        store: Some(store),
    }
}

/// A stream of optional values as a table, where a `None` value deletes its key (a
/// tombstone): what a table read from a topic does, for a stream that was transformed
/// first (the SQL engine adds its columns to each record before it becomes a table).
pub(crate) fn optional_stream_to_table<K: Data, V: Data>(
    stream: &KStream<K, Option<V>>,
    materialized: Materialized<K, V>,
) -> KTable<K, V> {
    let default_store = stream.b.borrow_mut().name("KSTREAM-TOTABLE-STATE-STORE-");
    let (store, keys, values) = add_table_store(
        &stream.b,
        materialized,
        stream.keys.clone(),
        None,
        default_store,
        "to_table_with_tombstones",
    );
    let node = add_materialize::<K, V>(&stream.b, &stream.node, "KTABLE-MATERIALIZE-", &store);
    KTable {
        b: stream.b.clone(),
        node,
        keys: Some(keys),
        values: Some(values),
        store: Some(store),
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    pub(crate) fn add_change_fn<KO: Data, VO: Data>(
        &self,
        prefix: &str,
        f: impl Fn(&mut ProcessorContext<'_, KO, VO>, Record<K, Change<V>>) -> Result<()>
            + Send
            + Sync
            + 'static,
    ) -> String {
        let as_stream: KStream<K, Change<V>> =
            KStream::new(self.b.clone(), self.node.clone(), None, None, false);
        as_stream.add_fn(prefix, None, f)
    }

    /// The name of the store holding this table, if it is materialized.
    pub fn queryable_store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The node this table comes out of.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// The rows `predicate` holds for; a row that stops passing is deleted downstream.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        let node = self.add_change_fn("KTABLE-FILTER-", move |ctx, r: Record<K, Change<V>>| {
            let keep = |v: Option<V>| v.filter(|v| predicate(&r.key, v));
            let change = Change {
                new: keep(r.value.new),
                old: keep(r.value.old),
            };
            if change.new.is_none() && change.old.is_none() {
                return Ok(());
            }
            ctx.forward(Record {
                key: r.key,
                value: change,
                timestamp: r.timestamp,
                headers: r.headers,
            })
        });
        KTable {
            b: self.b.clone(),
            node,
            keys: self.keys.clone(),
            values: self.values.clone(),
            store: None,
        }
    }

    /// The rows `predicate` does not hold for.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Each value turned into a new one.
    pub fn map_values<VO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> VO + Send + Sync + 'static,
    ) -> KTable<K, VO> {
        let node = self.add_change_fn("KTABLE-MAPVALUES-", move |ctx, r: Record<K, Change<V>>| {
            let change = Change {
                new: r.value.new.as_ref().map(|v| mapper(&r.key, v)),
                old: r.value.old.as_ref().map(|v| mapper(&r.key, v)),
            };
            ctx.forward(Record {
                key: r.key,
                value: change,
                timestamp: r.timestamp,
                headers: r.headers,
            })
        });
        KTable {
            b: self.b.clone(),
            node,
            keys: self.keys.clone(),
            values: None,
            store: None,
        }
    }

    /// The table's updates as a stream; a deletion is a `None` value (a tombstone when
    /// written to a topic).
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        let node = self.add_change_fn("KTABLE-TOSTREAM-", |ctx, r: Record<K, Change<V>>| {
            ctx.forward(Record {
                key: r.key,
                value: r.value.new,
                timestamp: r.timestamp,
                headers: r.headers,
            })
        });
        let values = self.values.clone().map(Serdes::optional);
        KStream::new(self.b.clone(), node, self.keys.clone(), values, false)
    }

    /// Regroups the rows under new keys (always through a repartition topic), for
    /// aggregation with adder and subtractor.
    pub fn group_by<KO: Data, VO: Data>(
        &self,
        selector: impl Fn(&K, &V) -> (KO, VO) + Send + Sync + 'static,
        grouped: Grouped<KO, VO>,
    ) -> KGroupedTable<KO, VO> {
        let keys = grouped.keys.clone();
        let node = self.add_change_fn(
            "KTABLE-SELECT-",
            move |ctx: &mut ProcessorContext<'_, KO, Change<VO>>, r: Record<K, Change<V>>| {
                // A row that stays in its group is sent once, old and new together, so the
                // aggregation updates it in one step (KIP-904); the key serde tells whether
                // the two keys are the same.
                if let (Some(old), Some(new), Some(keys)) = (&r.value.old, &r.value.new, &keys) {
                    let (ko, vo) = selector(&r.key, old);
                    let (kn, vn) = selector(&r.key, new);
                    let same = matches!(
                        (keys.serialize("", &ko), keys.serialize("", &kn)),
                        (Ok(a), Ok(b)) if a == b
                    );
                    if same {
                        let change = Change {
                            new: Some(vn),
                            old: Some(vo),
                        };
                        let mut out = Record::new(kn, change, r.timestamp);
                        out.headers = r.headers.clone();
                        return ctx.forward(out);
                    }
                }
                // The old row is taken back (subtracted) before the new one is added.
                if let Some(old) = &r.value.old {
                    let (k, v) = selector(&r.key, old);
                    let change = Change {
                        new: None,
                        old: Some(v),
                    };
                    let mut out = Record::new(k, change, r.timestamp);
                    out.headers = r.headers.clone();
                    ctx.forward(out)?;
                }
                if let Some(new) = &r.value.new {
                    let (k, v) = selector(&r.key, new);
                    let change = Change {
                        new: Some(v),
                        old: None,
                    };
                    let mut out = Record::new(k, change, r.timestamp);
                    out.headers = r.headers.clone();
                    ctx.forward(out)?;
                }
                Ok(())
            },
        );
        KGroupedTable::new(self.b.clone(), node, grouped)
    }
}

/// The serde of [`Change`]s on a table's repartition topic: one record per side, a
/// leading byte saying which (0: new value, 1: old value), then the value's bytes; or 2,
/// the old value's length (4 bytes, big-endian), the old value and the new one, for a row
/// that stays under the same key. A row whose new key differs is sent as two records, the
/// old value (to subtract) and the new one (to add).
pub(crate) struct ChangeSerde<V> {
    pub inner: SerdeRef<V>,
}

impl<V: Data> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize(&self, topic: &str, c: &Change<V>) -> Result<Option<Bytes>, SerdeError> {
        let (flag, v) = match (&c.new, &c.old) {
            (Some(v), None) => (0u8, v),
            (None, Some(v)) => (1u8, v),
            (Some(new), Some(old)) => {
                // Both sides: flag 2, the old value's length (4 bytes), old, new.
                let old = self.inner.serialize(topic, old)?.unwrap_or_default();
                let new = self.inner.serialize(topic, new)?.unwrap_or_default();
                let mut out = BytesMut::with_capacity(5 + old.len() + new.len());
                out.put_u8(2);
                out.put_u32(old.len() as u32);
                out.put_slice(&old);
                out.put_slice(&new);
                return Ok(Some(out.freeze()));
            }
            (None, None) => {
                return Err(SerdeError::Custom(
                    "a repartitioned table change carries a side".into(),
                ))
            }
        };
        let body = self.inner.serialize(topic, v)?.unwrap_or_default();
        let mut out = BytesMut::with_capacity(1 + body.len());
        out.put_u8(flag);
        out.put_slice(&body);
        Ok(Some(out.freeze()))
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Change<V>, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Custom("a table change is never null".into()))?;
        let (&flag, body) = data
            .split_first()
            .ok_or_else(|| SerdeError::Custom("an empty table change".into()))?;
        if flag == 2 {
            if body.len() < 4 {
                return Err(SerdeError::Custom("a truncated table change".into()));
            }
            let (len, rest) = body.split_at(4);
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if rest.len() < len {
                return Err(SerdeError::Custom("a truncated table change".into()));
            }
            let (old, new) = rest.split_at(len);
            return Ok(Change {
                old: Some(self.inner.deserialize(topic, Some(old))?),
                new: Some(self.inner.deserialize(topic, Some(new))?),
            });
        }
        let v = self.inner.deserialize(topic, Some(body))?;
        match flag {
            0 => Ok(Change {
                new: Some(v),
                old: None,
            }),
            1 => Ok(Change {
                new: None,
                old: Some(v),
            }),
            f => Err(SerdeError::Custom(format!("unknown table change flag {f}"))),
        }
    }
}

/// A table of every partition of a topic, on every instance (Kafka Streams'
/// `GlobalKTable`): read in full by each instance into a store of its own.
pub struct GlobalKTable<K, V> {
    pub(crate) store: String,
    pub(crate) keys: SerdeRef<K>,
    pub(crate) values: SerdeRef<V>,
}

impl<K, V> Clone for GlobalKTable<K, V> {
    fn clone(&self) -> Self {
        GlobalKTable {
            store: self.store.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
        }
    }
}

impl<K, V> GlobalKTable<K, V> {
    /// The store holding the table.
    pub fn queryable_store_name(&self) -> &str {
        &self.store
    }
}

pub(crate) fn global_table<K: Data, V: Data>(
    b: &Shared,
    topic: &str,
    consumed: Consumed<K, V>,
    materialized: Materialized<K, V>,
) -> GlobalKTable<K, V> {
    let (source, keys, values) = add_table_source(b, topic, consumed, "global table source");
    let default_store = b.borrow_mut().name(&format!("{topic}-STATE-STORE-"));
    // A global store is restored from its source topic itself: no changelog.
    let materialized = materialized.with_logging_disabled().with_caching_disabled();
    let (store, keys, values) = add_table_store(
        b,
        materialized,
        Some(keys),
        Some(values),
        default_store,
        &format!("global table {topic}"),
    );
    let node = add_materialize::<K, V>(b, &source, "KTABLE-SOURCE-", &store);
    {
        let mut bb = b.borrow_mut();
        bb.topology.mark_global(&[&source, &node], &store, topic);
    }
    GlobalKTable {
        store,
        keys,
        values,
    }
}
