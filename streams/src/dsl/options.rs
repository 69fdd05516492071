//! The options of DSL operations: [`Consumed`], [`Produced`], [`Grouped`], [`Materialized`]
//! and [`Named`] (Kafka Streams' names). A serde left out is the type's default serde
//! ([`default_serde`](crate::serde::default_serde)); a type without one is a topology
//! error at `build()` naming the operation.

use std::sync::Arc;

use crate::serde::SerdeRef;
use crate::task::TimestampExtractor;

/// How a source topic is read.
pub struct Consumed<K, V> {
    pub(crate) keys: Option<SerdeRef<K>>,
    pub(crate) values: Option<SerdeRef<V>>,
    pub(crate) extractor: Option<Arc<dyn TimestampExtractor>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Default for Consumed<K, V> {
    fn default() -> Self {
        Consumed {
            keys: None,
            values: None,
            extractor: None,
            name: None,
        }
    }
}

impl<K, V> Consumed<K, V> {
    /// With these serdes.
    pub fn with(keys: SerdeRef<K>, values: SerdeRef<V>) -> Self {
        Consumed {
            keys: Some(keys),
            values: Some(values),
            ..Default::default()
        }
    }

    /// With a timestamp extractor of its own.
    pub fn with_timestamp_extractor(mut self, extractor: Arc<dyn TimestampExtractor>) -> Self {
        self.extractor = Some(extractor);
        self
    }

    /// Names the source node.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// How records are written to a topic.
pub struct Produced<K, V> {
    pub(crate) keys: Option<SerdeRef<K>>,
    pub(crate) values: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Default for Produced<K, V> {
    fn default() -> Self {
        Produced {
            keys: None,
            values: None,
            name: None,
        }
    }
}

impl<K, V> Produced<K, V> {
    pub fn with(keys: SerdeRef<K>, values: SerdeRef<V>) -> Self {
        Produced {
            keys: Some(keys),
            values: Some(values),
            name: None,
        }
    }

    /// Names the sink node.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// How a stream is grouped (the serdes and name of the repartition topic, if one is
/// needed).
pub struct Grouped<K, V> {
    pub(crate) keys: Option<SerdeRef<K>>,
    pub(crate) values: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Default for Grouped<K, V> {
    fn default() -> Self {
        Grouped {
            keys: None,
            values: None,
            name: None,
        }
    }
}

impl<K, V> Grouped<K, V> {
    pub fn with(keys: SerdeRef<K>, values: SerdeRef<V>) -> Self {
        Grouped {
            keys: Some(keys),
            values: Some(values),
            name: None,
        }
    }

    /// Names the repartition topic `<application.id>-<name>-repartition`.
    pub fn as_name(name: &str) -> Self {
        Grouped {
            name: Some(name.to_owned()),
            ..Default::default()
        }
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// How a table or aggregation is kept: store name, serdes, persistence, logging, caching.
pub struct Materialized<K, V> {
    pub(crate) store_name: Option<String>,
    pub(crate) keys: Option<SerdeRef<K>>,
    pub(crate) values: Option<SerdeRef<V>>,
    pub(crate) in_memory: bool,
    pub(crate) logging: bool,
    pub(crate) caching: bool,
}

impl<K, V> Default for Materialized<K, V> {
    fn default() -> Self {
        Materialized {
            store_name: None,
            keys: None,
            values: None,
            in_memory: false,
            logging: true,
            caching: true,
        }
    }
}

impl<K, V> Materialized<K, V> {
    /// In the store `name` (queryable, and its changelog is `<app>-<name>-changelog`).
    pub fn as_store(name: &str) -> Self {
        Materialized {
            store_name: Some(name.to_owned()),
            ..Default::default()
        }
    }

    pub fn with(keys: SerdeRef<K>, values: SerdeRef<V>) -> Self {
        Materialized {
            keys: Some(keys),
            values: Some(values),
            ..Default::default()
        }
    }

    pub fn with_key_serde(mut self, keys: SerdeRef<K>) -> Self {
        self.keys = Some(keys);
        self
    }

    pub fn with_value_serde(mut self, values: SerdeRef<V>) -> Self {
        self.values = Some(values);
        self
    }

    /// Keeps the store in memory (restored from its changelog after a restart).
    pub fn in_memory(mut self) -> Self {
        self.in_memory = true;
        self
    }

    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Forwards every update instead of the latest per key at commit.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }
}

/// A name for an operation's processor node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named(pub(crate) String);

impl Named {
    pub fn as_name(name: &str) -> Named {
        Named(name.to_owned())
    }
}
