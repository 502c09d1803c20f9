//! Spindle's one shared library: ids, wire messages, the QUIC/TLS transport,
//! certificates, container tokens and the client configuration directory.

#[cfg(feature = "net")]
pub mod client;
#[cfg(feature = "net")]
pub mod clientconf;
pub mod clock;
#[cfg(feature = "net")]
pub mod codec;
#[cfg(feature = "net")]
pub mod configfile;
pub mod duration;
pub mod failover;
#[cfg(feature = "net")]
pub mod faults;
pub mod fetched;
pub mod hostname;
pub mod html;
pub mod identity;
pub mod ids;
#[cfg(feature = "net")]
pub mod launch;
pub mod protocol;
pub mod resource;
#[cfg(feature = "net")]
pub mod staging;
#[cfg(feature = "net")]
pub mod tls;
pub mod token;
#[cfg(feature = "net")]
pub mod transport;

pub use ids::{AppAttemptId, ApplicationId, ContainerId, NodeId};
pub use resource::Resource;
