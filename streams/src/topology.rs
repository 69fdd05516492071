//! [`Topology`]: the graph of sources, processors, sinks and stores (built by hand with the
//! Processor API or by [`StreamsBuilder`](crate::StreamsBuilder)), its split into
//! sub-topologies, its description, and the tasks it instantiates.
//!
//! Sub-topologies are the connected parts of the graph, nodes that share a store counting
//! as connected: a repartition topic (a sink in one part, a source in another) is where one
//! ends and the next begins. A task is a sub-topology for one partition number of its
//! source topics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use brook_client::ConsumerRecord;

use crate::error::{Result, StreamsError};
use crate::processor::{Cancellable, Processor, ProcessorContext};
use crate::record::{Data, Erased, Record};
use crate::serde::SerdeRef;
use crate::state::StoreProvider;
use crate::store::{OpenStore, StoreBuilder, StoreDef};
use crate::task::{
    new_core, Clock, DeserializationHandler, Node, OutRecord, PassThrough, RecordCollector,
    RecordTimestampExtractor, SourceDecoder, Task, TaskInner, TaskSource, TimestampExtractor,
};
use crate::TaskId;

pub(crate) type NodeSupplier = Arc<dyn Fn() -> Box<dyn Node> + Send + Sync>;

/// Chooses a sink's topic per record (Kafka Streams' `TopicNameExtractor`).
pub type TopicNameExtractor<K, V> = Arc<dyn Fn(&K, &V) -> String + Send + Sync>;

pub(crate) trait SinkEncoder: Send + Sync {
    fn encode(&self, record: Erased, node: &str) -> Result<(Option<String>, OutRecord)>;
}

pub(crate) enum SinkTopic {
    Fixed(String),
    Extractor,
}

pub(crate) enum NodeKind {
    Source {
        topics: Vec<String>,
        decoder: Arc<dyn SourceDecoder>,
        extractor: Option<Arc<dyn TimestampExtractor>>,
    },
    Processor(NodeSupplier),
    Sink {
        topic: SinkTopic,
        encoder: Arc<dyn SinkEncoder>,
    },
}

pub(crate) struct NodeDef {
    pub name: String,
    pub kind: NodeKind,
    pub parents: Vec<usize>,
    pub children: Vec<usize>,
    pub stores: Vec<String>,
}

/// How an internal (repartition) topic is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// The partition count; `None`: that of the sub-topology that writes it.
    pub partitions: Option<i32>,
}

/// A sub-topology: its id, nodes, topics and stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubTopology {
    pub id: u32,
    pub(crate) nodes: Vec<usize>,
    /// The topics its sources read (internal ones without the application prefix).
    pub source_topics: Vec<String>,
    pub sink_topics: Vec<String>,
    pub stores: Vec<String>,
}

/// A processing graph (Kafka Streams' `Topology`).
#[derive(Default)]
pub struct Topology {
    pub(crate) nodes: Vec<NodeDef>,
    pub(crate) stores: BTreeMap<String, Arc<StoreDef>>,
    pub(crate) internal_topics: BTreeMap<String, InternalTopic>,
    /// Groups of source topics that must have the same partition count (joins).
    pub(crate) copartition_groups: Vec<BTreeSet<String>>,
    /// The nodes that keep global stores: they form no tasks of their own and run, over
    /// every partition of their topics, on every instance.
    pub(crate) globals: BTreeSet<usize>,
    /// Global stores and the topics they are read from.
    pub(crate) global_stores: BTreeMap<String, String>,
    /// The global stores once the global task has opened them: every task built from this
    /// topology shares this map, so its processors can read them (a stream-global join).
    pub(crate) global_handles: crate::task::GlobalStores,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.describe())
    }
}

struct SourceDecoderImpl<K, V> {
    keys: SerdeRef<K>,
    values: SerdeRef<V>,
}

impl<K: Data, V: Data> SourceDecoder for SourceDecoderImpl<K, V> {
    fn decode(&self, r: &ConsumerRecord) -> std::result::Result<Erased, String> {
        let key = self
            .keys
            .deserialize(&r.topic, r.key.as_deref())
            .map_err(|e| format!("key: {e}"))?;
        let value = self
            .values
            .deserialize(&r.topic, r.value.as_deref())
            .map_err(|e| format!("value: {e}"))?;
        let mut rec = Record::new(key, value, r.timestamp);
        rec.headers = r.headers.clone();
        Ok(Erased::new(rec))
    }
}

pub(crate) struct SinkEncoderImpl<K, V> {
    pub keys: SerdeRef<K>,
    pub values: SerdeRef<V>,
    pub extractor: Option<TopicNameExtractor<K, V>>,
}

impl<K: Data, V: Data> SinkEncoder for SinkEncoderImpl<K, V> {
    fn encode(&self, record: Erased, node: &str) -> Result<(Option<String>, OutRecord)> {
        let r: Record<K, V> = record.typed(node)?;
        let topic = self.extractor.as_ref().map(|e| e(&r.key, &r.value));
        let t = topic.as_deref().unwrap_or("");
        let serde = |what: &str, source| StreamsError::Serde {
            what: what.to_owned(),
            node: node.to_owned(),
            source,
        };
        let key = self
            .keys
            .serialize(t, &r.key)
            .map_err(|e| serde("sink key", e))?;
        let value = self
            .values
            .serialize(t, &r.value)
            .map_err(|e| serde("sink value", e))?;
        Ok((
            topic,
            OutRecord {
                topic: String::new(),
                partition: None,
                key,
                value,
                timestamp: r.timestamp,
                headers: r.headers,
            },
        ))
    }
}

struct SinkNode {
    topic: Option<String>,
    encoder: Arc<dyn SinkEncoder>,
}

impl Node for SinkNode {
    fn init(&mut self, _task: &mut TaskInner, _me: usize) -> Result<()> {
        Ok(())
    }

    fn process(&mut self, task: &mut TaskInner, me: usize, record: Erased) -> Result<()> {
        let (topic, mut out) = self.encoder.encode(record, task.node_name(me))?;
        out.topic = match (topic, &self.topic) {
            (Some(t), _) => t,
            (None, Some(t)) => t.clone(),
            (None, None) => {
                return Err(StreamsError::Topology(format!(
                    "sink {} has no topic",
                    task.node_name(me)
                )))
            }
        };
        task.core.collector.send(out)
    }
}

pub(crate) struct ProcessorNode<P, KIn, VIn, KOut, VOut> {
    pub processor: P,
    pub _types: PhantomData<fn(KIn, VIn, KOut, VOut)>,
}

impl<P, KIn, VIn, KOut, VOut> Node for ProcessorNode<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
    KIn: Data,
    VIn: Data,
    KOut: Data,
    VOut: Data,
{
    fn init(&mut self, task: &mut TaskInner, me: usize) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, me);
        self.processor.init(&mut ctx)
    }

    fn process(&mut self, task: &mut TaskInner, me: usize, record: Erased) -> Result<()> {
        let name = task.node_name(me).to_owned();
        let record = record.typed::<KIn, VIn>(&name)?;
        let mut ctx = ProcessorContext::new(task, me);
        self.processor.process(&mut ctx, record)
    }

    fn punctuate(
        &mut self,
        task: &mut TaskInner,
        me: usize,
        id: Cancellable,
        timestamp: i64,
    ) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, me);
        self.processor.punctuate(&mut ctx, id, timestamp)
    }

    fn flush(&mut self, task: &mut TaskInner, me: usize) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, me);
        self.processor.flush(&mut ctx)
    }

    fn close(&mut self) -> Result<()> {
        self.processor.close()
    }
}

/// Boxes a typed processor supplier as a node supplier.
pub(crate) fn node_supplier<P, KIn, VIn, KOut, VOut, F>(supplier: F) -> NodeSupplier
where
    F: Fn() -> P + Send + Sync + 'static,
    P: Processor<KIn, VIn, KOut, VOut> + 'static,
    KIn: Data,
    VIn: Data,
    KOut: Data,
    VOut: Data,
{
    Arc::new(move || {
        Box::new(ProcessorNode {
            processor: supplier(),
            _types: PhantomData,
        }) as Box<dyn Node>
    })
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Topology {
        Topology::default()
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    fn check_new(&self, name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(StreamsError::Topology(
                "a node name must not be empty".into(),
            ));
        }
        if self.index(name).is_some() {
            return Err(StreamsError::Topology(format!(
                "a node named {name} already exists"
            )));
        }
        Ok(())
    }

    fn parents(&self, name: &str, parents: &[&str]) -> Result<Vec<usize>> {
        if parents.is_empty() {
            return Err(StreamsError::Topology(format!(
                "{name} needs at least one parent"
            )));
        }
        parents
            .iter()
            .map(|p| {
                if *p == name {
                    return Err(StreamsError::Topology(format!(
                        "{name} cannot be its own parent (a cycle)"
                    )));
                }
                let i = self.index(p).ok_or_else(|| {
                    StreamsError::Topology(format!("{name}: parent {p} is not in the topology"))
                })?;
                if matches!(self.nodes[i].kind, NodeKind::Sink { .. }) {
                    return Err(StreamsError::Topology(format!(
                        "{name}: parent {p} is a sink, which has no children"
                    )));
                }
                Ok(i)
            })
            .collect()
    }

    fn push(&mut self, name: &str, kind: NodeKind, parents: Vec<usize>) -> usize {
        let i = self.nodes.len();
        for &p in &parents {
            self.nodes[p].children.push(i);
        }
        self.nodes.push(NodeDef {
            name: name.to_owned(),
            kind,
            parents,
            children: Vec::new(),
            stores: Vec::new(),
        });
        i
    }

    /// A source reading `topics` with the given serdes.
    pub fn add_source<K: Data, V: Data>(
        &mut self,
        name: &str,
        topics: &[&str],
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
    ) -> Result<&mut Topology> {
        self.add_source_with(name, topics, keys, values, None)
    }

    /// [`add_source`](Self::add_source) with a timestamp extractor of its own.
    pub fn add_source_with<K: Data, V: Data>(
        &mut self,
        name: &str,
        topics: &[&str],
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
        extractor: Option<Arc<dyn TimestampExtractor>>,
    ) -> Result<&mut Topology> {
        self.check_new(name)?;
        if topics.is_empty() {
            return Err(StreamsError::Topology(format!(
                "source {name} has no topics"
            )));
        }
        for t in topics {
            if let Some(other) = self.source_of(t) {
                return Err(StreamsError::Topology(format!(
                    "topic {t} is already read by source {other}"
                )));
            }
        }
        let kind = NodeKind::Source {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            decoder: Arc::new(SourceDecoderImpl { keys, values }),
            extractor,
        };
        self.push(name, kind, Vec::new());
        Ok(self)
    }

    fn source_of(&self, topic: &str) -> Option<&str> {
        self.nodes.iter().find_map(|n| match &n.kind {
            NodeKind::Source { topics, .. } if topics.iter().any(|t| t == topic) => {
                Some(n.name.as_str())
            }
            _ => None,
        })
    }

    /// A processor made by `supplier` (once per task), fed by `parents`.
    pub fn add_processor<P, KIn, VIn, KOut, VOut, F>(
        &mut self,
        name: &str,
        supplier: F,
        parents: &[&str],
    ) -> Result<&mut Topology>
    where
        F: Fn() -> P + Send + Sync + 'static,
        P: Processor<KIn, VIn, KOut, VOut> + 'static,
        KIn: Data,
        VIn: Data,
        KOut: Data,
        VOut: Data,
    {
        self.check_new(name)?;
        let parents = self.parents(name, parents)?;
        self.push(name, NodeKind::Processor(node_supplier(supplier)), parents);
        Ok(self)
    }

    pub(crate) fn add_node(
        &mut self,
        name: &str,
        supplier: NodeSupplier,
        parents: &[&str],
    ) -> Result<()> {
        self.check_new(name)?;
        let parents = self.parents(name, parents)?;
        self.push(name, NodeKind::Processor(supplier), parents);
        Ok(())
    }

    /// A sink writing to `topic` with the given serdes.
    pub fn add_sink<K: Data, V: Data>(
        &mut self,
        name: &str,
        topic: &str,
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
        parents: &[&str],
    ) -> Result<&mut Topology> {
        self.check_new(name)?;
        let parents = self.parents(name, parents)?;
        let encoder = Arc::new(SinkEncoderImpl {
            keys,
            values,
            extractor: None,
        });
        let kind = NodeKind::Sink {
            topic: SinkTopic::Fixed(topic.to_owned()),
            encoder,
        };
        self.push(name, kind, parents);
        Ok(self)
    }

    /// A sink choosing each record's topic with `extractor`.
    pub fn add_sink_with_extractor<K: Data, V: Data>(
        &mut self,
        name: &str,
        extractor: TopicNameExtractor<K, V>,
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
        parents: &[&str],
    ) -> Result<&mut Topology> {
        self.check_new(name)?;
        let parents = self.parents(name, parents)?;
        let encoder = Arc::new(SinkEncoderImpl {
            keys,
            values,
            extractor: Some(extractor),
        });
        let kind = NodeKind::Sink {
            topic: SinkTopic::Extractor,
            encoder,
        };
        self.push(name, kind, parents);
        Ok(self)
    }

    /// Adds a store and connects it to `processors`.
    pub fn add_state_store(
        &mut self,
        store: StoreBuilder,
        processors: &[&str],
    ) -> Result<&mut Topology> {
        let name = store.def.name.clone();
        if name.is_empty() {
            return Err(StreamsError::Topology(
                "a store name must not be empty".into(),
            ));
        }
        if self.stores.contains_key(&name) {
            return Err(StreamsError::Topology(format!(
                "a store named {name} already exists"
            )));
        }
        self.stores.insert(name.clone(), Arc::new(store.def));
        if let Err(e) = self.connect_processor_and_state_stores_inner(processors, &[&name]) {
            // Leave the topology as it was, so a corrected call can add the store.
            self.stores.remove(&name);
            return Err(e);
        }
        Ok(self)
    }

    /// Lets `processor` use `stores` (already added).
    pub fn connect_processor_and_state_stores(
        &mut self,
        processor: &str,
        stores: &[&str],
    ) -> Result<&mut Topology> {
        self.connect_processor_and_state_stores_inner(&[processor], stores)?;
        Ok(self)
    }

    fn connect_processor_and_state_stores_inner(
        &mut self,
        processors: &[&str],
        stores: &[&str],
    ) -> Result<()> {
        for s in stores {
            if !self.stores.contains_key(*s) {
                return Err(StreamsError::Topology(format!(
                    "store {s} is not in the topology"
                )));
            }
        }
        // Check every processor before connecting any, so an error changes nothing.
        let mut targets = Vec::with_capacity(processors.len());
        for p in processors {
            let i = self.index(p).ok_or_else(|| {
                StreamsError::Topology(format!("processor {p} is not in the topology"))
            })?;
            if !matches!(self.nodes[i].kind, NodeKind::Processor(_)) {
                return Err(StreamsError::Topology(format!(
                    "{p} is not a processor; only processors use stores"
                )));
            }
            targets.push(i);
        }
        for i in targets {
            for s in stores {
                if !self.nodes[i].stores.iter().any(|x| x == s) {
                    self.nodes[i].stores.push((*s).to_owned());
                }
            }
        }
        Ok(())
    }

    /// Declares `topic` internal: created by the application, named
    /// `<application.id>-<topic>`.
    pub(crate) fn add_internal_topic(&mut self, topic: &str, partitions: Option<i32>) {
        self.internal_topics
            .insert(topic.to_owned(), InternalTopic { partitions });
    }

    /// Requires `topics` (as the topology names them) to have the same partition count,
    /// as joins do; the runtime refuses to start otherwise.
    pub fn copartition(&mut self, topics: BTreeSet<String>) {
        self.copartition_groups.push(topics);
    }

    /// The groups of topics that must have the same partition count.
    pub fn copartition_groups(&self) -> &[BTreeSet<String>] {
        &self.copartition_groups
    }

    /// Marks `nodes` as those keeping global store `store`, read from `topic`.
    pub(crate) fn mark_global(&mut self, nodes: &[&str], store: &str, topic: &str) {
        for n in nodes {
            if let Some(i) = self.index(n) {
                self.globals.insert(i);
            }
        }
        self.global_stores
            .insert(store.to_owned(), topic.to_owned());
    }

    /// The global stores, with the topic each is read from.
    pub fn global_stores(&self) -> &BTreeMap<String, String> {
        &self.global_stores
    }

    /// The part of the graph that keeps the global stores, if there is one; its id follows
    /// those of the sub-topologies.
    pub fn global_sub_topology(&self) -> Option<SubTopology> {
        if self.globals.is_empty() {
            return None;
        }
        let id = self.sub_topologies().len() as u32;
        Some(self.group(id, self.globals.iter().copied().collect()))
    }

    /// The internal topics.
    pub fn internal_topics(&self) -> &BTreeMap<String, InternalTopic> {
        &self.internal_topics
    }

    /// The stores.
    pub fn stores(&self) -> impl Iterator<Item = &StoreDef> {
        self.stores.values().map(|s| s.as_ref())
    }

    /// A topic's name in application `application_id`.
    pub fn resolve_topic(&self, topic: &str, application_id: &str) -> String {
        if self.internal_topics.contains_key(topic) {
            format!("{application_id}-{topic}")
        } else {
            topic.to_owned()
        }
    }

    /// Every topic a source reads (as the topology names them).
    pub fn source_topics(&self) -> Vec<String> {
        self.sub_topologies()
            .into_iter()
            .flat_map(|s| s.source_topics)
            .collect()
    }

    /// The sub-topologies, numbered in the order of their first node.
    pub fn sub_topologies(&self) -> Vec<SubTopology> {
        let n = self.nodes.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        let union = |p: &mut Vec<usize>, a: usize, b: usize| {
            let (ra, rb) = (find(p, a), find(p, b));
            if ra != rb {
                p[ra.max(rb)] = ra.min(rb);
            }
        };
        for (i, node) in self.nodes.iter().enumerate() {
            for &c in &node.children {
                union(&mut parent, i, c);
            }
        }
        let mut by_store: HashMap<&str, usize> = HashMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            for s in &node.stores {
                match by_store.get(s.as_str()) {
                    Some(&j) => union(&mut parent, i, j),
                    None => {
                        by_store.insert(s, i);
                    }
                }
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..n {
            if self.globals.contains(&i) {
                continue;
            }
            let r = find(&mut parent, i);
            groups.entry(r).or_default().push(i);
        }
        groups
            .into_values()
            .enumerate()
            .map(|(id, nodes)| self.group(id as u32, nodes))
            .collect()
    }

    fn group(&self, id: u32, nodes: Vec<usize>) -> SubTopology {
        let mut source_topics = Vec::new();
        let mut sink_topics = Vec::new();
        let mut stores = BTreeSet::new();
        for &i in &nodes {
            match &self.nodes[i].kind {
                NodeKind::Source { topics, .. } => source_topics.extend(topics.clone()),
                NodeKind::Sink {
                    topic: SinkTopic::Fixed(t),
                    ..
                } => sink_topics.push(t.clone()),
                _ => {}
            }
            stores.extend(self.nodes[i].stores.iter().cloned());
        }
        SubTopology {
            id,
            nodes,
            source_topics,
            sink_topics,
            stores: stores.into_iter().collect(),
        }
    }

    /// Checks the topology as a whole: every processor is reachable from a source, every
    /// store is used, and there is something to run.
    pub fn validate(&self) -> Result<()> {
        if !self
            .nodes
            .iter()
            .any(|n| matches!(n.kind, NodeKind::Source { .. }))
        {
            return Err(StreamsError::Topology(
                "the topology has no source: nothing would be read".into(),
            ));
        }
        for s in self.stores.keys() {
            if !self.nodes.iter().any(|n| n.stores.contains(s)) {
                return Err(StreamsError::Topology(format!(
                    "store {s} is not connected to any processor"
                )));
            }
        }
        Ok(())
    }

    /// The topology as Kafka Streams prints it.
    pub fn describe(&self) -> TopologyDescription {
        let mut out = String::from("Topologies:\n");
        let subs = self.sub_topologies().into_iter().map(|s| (s, false));
        for (sub, global) in subs.chain(self.global_sub_topology().map(|s| (s, true))) {
            if global {
                out.push_str(&format!(
                    "   Sub-topology: {} for global store (will not generate tasks)\n",
                    sub.id
                ));
            } else {
                out.push_str(&format!("   Sub-topology: {}\n", sub.id));
            }
            for &i in &sub.nodes {
                let node = &self.nodes[i];
                let names = |v: &[usize]| {
                    if v.is_empty() {
                        "none".to_owned()
                    } else {
                        v.iter()
                            .map(|&j| self.nodes[j].name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                };
                match &node.kind {
                    NodeKind::Source { topics, .. } => {
                        out.push_str(&format!(
                            "    Source: {} (topics: [{}])\n      --> {}\n",
                            node.name,
                            topics.join(", "),
                            names(&node.children)
                        ));
                    }
                    NodeKind::Processor(_) => {
                        out.push_str(&format!(
                            "    Processor: {} (stores: [{}])\n      --> {}\n      <-- {}\n",
                            node.name,
                            node.stores.join(", "),
                            names(&node.children),
                            names(&node.parents)
                        ));
                    }
                    NodeKind::Sink { topic, .. } => {
                        let topic = match topic {
                            SinkTopic::Fixed(t) => format!("topic: {t}"),
                            SinkTopic::Extractor => "extractor".to_owned(),
                        };
                        out.push_str(&format!(
                            "    Sink: {} ({topic})\n      <-- {}\n",
                            node.name,
                            names(&node.parents)
                        ));
                    }
                }
            }
            out.push('\n');
        }
        TopologyDescription(out)
    }

    /// The task of sub-topology `sub` for `partition`, with stores from `provider`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build_task(
        &self,
        sub: &SubTopology,
        partition: i32,
        application_id: &str,
        provider: &mut dyn StoreProvider,
        collector: Arc<dyn RecordCollector>,
        clock: Arc<dyn Clock>,
        deserialization: DeserializationHandler,
        default_extractor: Arc<dyn TimestampExtractor>,
    ) -> Result<Task> {
        let task_id = TaskId {
            subtopology: sub.id,
            partition,
        };
        let local: HashMap<usize, usize> =
            sub.nodes.iter().enumerate().map(|(l, &g)| (g, l)).collect();
        let names: Vec<String> = sub
            .nodes
            .iter()
            .map(|&g| self.nodes[g].name.clone())
            .collect();
        let children: Vec<Vec<usize>> = sub
            .nodes
            .iter()
            .map(|&g| self.nodes[g].children.iter().map(|c| local[c]).collect())
            .collect();
        let node_stores: Vec<Vec<String>> = sub
            .nodes
            .iter()
            .map(|&g| self.nodes[g].stores.clone())
            .collect();
        let sink = crate::state::TaskChangelogSink {
            collector: collector.clone(),
            partition,
            topics: sub
                .stores
                .iter()
                .filter_map(|s| self.stores.get(s))
                .filter(|d| d.logging)
                .map(|d| (d.name.clone(), d.changelog_topic(application_id)))
                .collect(),
        };
        let changelog =
            brook_state::changelog::ChangelogContext::new(Arc::new(std::sync::Mutex::new(sink)));
        let mut stores: HashMap<String, (OpenStore, Arc<StoreDef>)> = HashMap::new();
        let defs = sub
            .stores
            .iter()
            .map(|s| {
                self.stores.get(s).ok_or_else(|| {
                    StreamsError::Topology(format!("store {s} is used but not added"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&StoreDef> = defs.iter().map(|d| d.as_ref()).collect();
        let opened = provider.open(task_id, &refs)?;
        for (def, open) in defs.into_iter().zip(opened) {
            let s = &def.name;
            let open = crate::state::with_logging(open, def, &changelog);
            stores.insert(s.clone(), (open, def.clone()));
        }
        // The global task publishes its stores to every task of this topology.
        if !sub.nodes.is_empty() && sub.nodes.iter().all(|n| self.globals.contains(n)) {
            let mut globals = crate::store::lock(&self.global_handles);
            for (name, store) in &stores {
                if self.global_stores.contains_key(name) {
                    globals.insert(name.clone(), store.clone());
                }
            }
        }
        let mut nodes: Vec<Option<Box<dyn Node>>> = Vec::with_capacity(sub.nodes.len());
        let mut sources = HashMap::new();
        for (l, &g) in sub.nodes.iter().enumerate() {
            let node: Box<dyn Node> = match &self.nodes[g].kind {
                NodeKind::Source {
                    topics,
                    decoder,
                    extractor,
                } => {
                    for t in topics {
                        sources.insert(
                            self.resolve_topic(t, application_id),
                            TaskSource {
                                node: l,
                                decoder: decoder.clone(),
                                extractor: extractor
                                    .clone()
                                    .unwrap_or_else(|| default_extractor.clone()),
                            },
                        );
                    }
                    Box::new(PassThrough)
                }
                NodeKind::Processor(supplier) => supplier(),
                NodeKind::Sink { topic, encoder } => Box::new(SinkNode {
                    topic: match topic {
                        SinkTopic::Fixed(t) => Some(self.resolve_topic(t, application_id)),
                        SinkTopic::Extractor => None,
                    },
                    encoder: encoder.clone(),
                }),
            };
            nodes.push(Some(node));
        }
        let mut core = new_core(
            task_id,
            application_id,
            collector,
            clock,
            stores,
            node_stores,
            changelog,
        );
        core.globals = self.global_handles.clone();
        let inner = TaskInner {
            nodes,
            names: Arc::new(names),
            children: Arc::new(children),
            core,
        };
        Ok(Task::new(inner, sources, deserialization))
    }

    /// A default extractor for [`build_task`](Self::build_task).
    pub(crate) fn record_time() -> Arc<dyn TimestampExtractor> {
        Arc::new(RecordTimestampExtractor)
    }
}

/// What [`Topology::describe`] returns; prints as Kafka Streams prints a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyDescription(String);

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
