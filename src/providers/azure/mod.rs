//! Azure, in one place: `discovery` reads the subscriptions over ARM
//! (virtual networks, gateways, circuits, NSGs, route tables) into an
//! inventory; `lro` is the pure reading of ARM's long-running operations
//! (what a write's answer means, what to poll next, when it ended and how)
//! and `arm` its IO half (conditional PUT, DELETE, polling under a deadline),
//! which the writes build on; `resource` the ids and ARM bodies of what
//! switchboard makes (pure) and `apply` the actor that makes them.

mod apply;
pub mod arm;
mod discovery;
pub mod lro;
pub mod resource;

pub use apply::AzureActor;

pub use discovery::*;
