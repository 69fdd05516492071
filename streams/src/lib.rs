//! `brook-streams`: the Kafka-Streams-style library: the DSL (`KStream`, `KTable`, ...), the
//! processor API, topologies split into sub-topologies and tasks, stream threads, event time,
//! windows and joins, and a `TopologyTestDriver`. It is a Kafka client application: it never
//! depends on `brook-broker`, and its unit tests run on the test driver with no broker.
//!
//! Nothing is implemented here yet: the runtime arrives with issues 5 and 6.
