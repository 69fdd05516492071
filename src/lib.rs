//! `brook`: the library side of the binary. It re-exports the crates an application uses
//! and holds the one piece of wiring only the root may do, [`embedded`]: the in-process
//! transport through which `brook-client` (and everything built on it) talks to a broker
//! running in the same process, with no sockets. It is not where any feature lives: the
//! broker, client, state, streams and SQL engine are their own crates.

pub mod embedded;
pub mod node;
pub mod rest_qtt;

pub use brook_broker as broker;
pub use brook_client as client;
pub use brook_protocol as protocol;
