//! Spindle's one shared library: ids, wire messages, the QUIC/TLS transport,
//! certificates, container tokens and the client configuration directory.

pub mod client;
pub mod clientconf;
pub mod clock;
pub mod codec;
pub mod configfile;
pub mod duration;
pub mod ids;
pub mod protocol;
pub mod resource;
pub mod staging;
pub mod tls;
pub mod token;
pub mod transport;

pub use ids::{AppAttemptId, ApplicationId, ContainerId, NodeId};
pub use resource::Resource;
