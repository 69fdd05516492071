//! The DSL: [`StreamsBuilder`], [`KStream`], [`KTable`], [`KGroupedStream`],
//! [`KGroupedTable`], [`GlobalKTable`] and their options.
//!
//! Every operation adds processor nodes to the builder's [`Topology`] and names them as
//! Kafka Streams does (`KSTREAM-FILTER-0000000001`), so `describe()` reads the same. Keys
//! and values travel typed between the nodes of a task. Operations that change the key
//! mark the stream; a stateful operation on a marked stream first writes it through a
//! repartition topic (`<application.id>-<name>-repartition`), so records with one key meet
//! in one task.
//!
//! Mistakes found while building (a missing serde, an unknown store, a name used twice)
//! are kept and reported by [`StreamsBuilder::build`], with the operation they concern.

mod aggregate;
mod grouped;
pub mod join;
mod kstream;
mod ktable;
pub mod options;
pub mod suppress;
pub mod windowed;
pub mod windows;

use std::cell::RefCell;
use std::rc::Rc;

pub use grouped::{KGroupedStream, KGroupedTable};
pub use join::{JoinWindows, Joined, StreamJoined, TableJoined};
pub use kstream::{Branched, BranchedKStream, KStream};
pub use ktable::{Change, GlobalKTable, KTable};
pub use options::{Consumed, Grouped, Materialized, Named, Produced};
pub use suppress::{BufferConfig, BufferFullStrategy, Suppressed};
pub use windowed::{SessionWindowedSerde, TimeWindowedSerde, Window, Windowed, WindowedSerdes};
pub use windows::{
    EmitStrategy, SessionWindowedKStream, SessionWindows, SlidingWindows, TimeWindowedKStream,
    TimeWindows, WindowedBy, WindowedMaterialized,
};

use crate::error::{Result, StreamsError};
use crate::record::Data;
use crate::serde::{default_serde, SerdeRef};
use crate::store::StoreBuilder;
use crate::topology::Topology;

/// The state being built, shared by every stream and table of one builder.
pub(crate) struct Builder {
    pub topology: Topology,
    index: usize,
    pub errors: Vec<StreamsError>,
}

pub(crate) type Shared = Rc<RefCell<Builder>>;

impl Builder {
    /// The next name with `prefix`, numbered as Kafka Streams numbers them.
    pub fn name(&mut self, prefix: &str) -> String {
        let n = format!("{prefix}{:010}", self.index);
        self.index += 1;
        n
    }

    /// `named` if given, else the next name with `prefix`.
    pub fn name_or(&mut self, named: Option<&str>, prefix: &str) -> String {
        match named {
            Some(n) => n.to_owned(),
            None => self.name(prefix),
        }
    }

    pub fn check(&mut self, r: Result<()>) {
        if let Err(e) = r {
            self.errors.push(e);
        }
    }

    /// `given`, or the default serde of `T`; records an error naming `what` if neither.
    pub fn serde<T: Data>(&mut self, given: Option<SerdeRef<T>>, what: &str) -> SerdeRef<T> {
        if let Some(s) = given.or_else(default_serde::<T>) {
            return s;
        }
        self.errors.push(StreamsError::Topology(format!(
            "{what}: no serde for type {}; give one (Consumed/Produced/Grouped/Materialized::with)",
            std::any::type_name::<T>()
        )));
        crate::serde::missing_serde()
    }
}

/// Builds a topology with the DSL (Kafka Streams' `StreamsBuilder`).
pub struct StreamsBuilder {
    pub(crate) b: Shared,
}

impl Default for StreamsBuilder {
    fn default() -> Self {
        StreamsBuilder::new()
    }
}

impl StreamsBuilder {
    pub fn new() -> StreamsBuilder {
        StreamsBuilder {
            b: Rc::new(RefCell::new(Builder {
                topology: Topology::new(),
                index: 0,
                errors: Vec::new(),
            })),
        }
    }

    /// A stream of the records of `topics`.
    pub fn stream<K: Data, V: Data>(
        &self,
        topics: &[&str],
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let mut b = self.b.borrow_mut();
        let name = b.name_or(consumed.name.as_deref(), "KSTREAM-SOURCE-");
        let what = format!("source {name}");
        let keys = b.serde(consumed.keys, &what);
        let values = b.serde(consumed.values, &what);
        let r = b
            .topology
            .add_source_with(
                &name,
                topics,
                keys.clone(),
                values.clone(),
                consumed.extractor,
            )
            .map(|_| ());
        b.check(r);
        drop(b);
        KStream::new(self.b.clone(), name, Some(keys), Some(values), false)
    }

    /// A table of the latest value per key of `topic` (a null value deletes the key).
    pub fn table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        ktable::source_table(&self.b, topic, consumed, materialized)
    }

    /// A table of all of `topic`'s partitions on every instance.
    pub fn global_table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        ktable::global_table(&self.b, topic, consumed, materialized)
    }

    /// Adds a store for processors added with [`KStream::process`].
    pub fn add_state_store(&self, store: StoreBuilder) -> &StreamsBuilder {
        let mut guard = self.b.borrow_mut();
        let b = &mut *guard;
        let name = store.name().to_owned();
        match b.topology.stores.entry(name) {
            std::collections::btree_map::Entry::Occupied(e) => {
                b.errors.push(StreamsError::Topology(format!(
                    "a store named {} already exists",
                    e.key()
                )));
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(std::sync::Arc::new(store.def));
            }
        }
        drop(guard);
        self
    }

    /// The topology, or the first mistake made while building it. The builder is empty
    /// afterwards.
    pub fn build(&self) -> Result<Topology> {
        let mut b = self.b.borrow_mut();
        let topology = std::mem::take(&mut b.topology);
        let errors = std::mem::take(&mut b.errors);
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        topology.validate()?;
        Ok(topology)
    }
}

/// Writes the output of `node` to the internal topic `<base>-repartition` and reads it
/// back in a new sub-topology; returns the name of the source node reading it.
pub(crate) fn repartition_through<K: Data, V: Data>(
    b: &Shared,
    node: &str,
    base: &str,
    keys: Option<SerdeRef<K>>,
    values: Option<SerdeRef<V>>,
) -> String {
    let mut b = b.borrow_mut();
    let topic = format!("{base}-repartition");
    let sink = format!("{topic}-sink");
    let source = format!("{topic}-source");
    let what = format!("repartition topic {topic}");
    let keys = b.serde(keys, &what);
    let values = b.serde(values, &what);
    b.topology.add_internal_topic(&topic, None);
    let r = b
        .topology
        .add_sink(&sink, &topic, keys.clone(), values.clone(), &[node])
        .map(|_| ());
    b.check(r);
    let r = b
        .topology
        .add_source(&source, &[&topic], keys, values)
        .map(|_| ());
    b.check(r);
    source
}
