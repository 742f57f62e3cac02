//! Pure domain types: clouds, regions, ids, units, the estate, intents and typed
//! changes. No IO here beyond reading an estate file at the edge.

pub mod change;
pub mod cloud;
pub mod estate;
pub mod ids;
pub mod intent;
pub mod units;

pub use change::Change;
pub use cloud::{Cloud, CloudError, Region};
pub use estate::{
    Connection, ConnectionKind, ConnectionStatus, Estate, EstateError, Flow, Network, NetworkKind,
    Service,
};
pub use ids::{
    BadBatchId, BadWorkflowId, BatchId, ConnectionId, NetworkId, ResourceId, ServiceId, UserId,
    WorkflowId,
};
pub use intent::{ComplianceTag, Endpoint, Intent, MissingField, Requirements};
pub use units::{GbPerMonth, Gbps, Gigabytes, Millis, Usd, UsdPerGb};
