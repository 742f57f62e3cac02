//! GCP, in one place: `discovery` reads the projects over Compute v1 and
//! Cloud SQL Admin v1 (networks, VPN, interconnect attachments, and the
//! services requests name: instances, private Cloud SQL) into an inventory;
//! `resource` is the pure id scheme, names, descriptions and request ids of
//! what switchboard creates; `operation` is the pure reading of Google's
//! answers to writes (error bodies, Compute operations, DNS changes) and
//! `api` its IO half (inserts and deletes followed to `DONE`, DNS changes
//! to `done`, under a deadline); `actor` acts: firewall rules, routes,
//! preferred routes, Cloud DNS private records.
//!
//! Both halves share one configuration (`[discovery.gcp]`: endpoints,
//! timeouts, attempts, the firewall priority) and one credential.

mod actor;
mod api;
mod discovery;
mod operation;
mod resource;

pub use actor::GcpActor;
pub use discovery::*;
pub use resource::GcpResource;
