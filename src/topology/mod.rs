//! Discovery's result and what is made of it: provider inventories
//! (`inventory`), their merge into one topology with cross-provider ends
//! resolved (`merge`, `model`), the petgraph graph (`graph`), findings,
//! snapshots and diff, and rendering (text, JSON, DOT, SVG, PNG).

pub mod diff;
pub mod discovery;
pub mod findings;
pub mod graph;
pub mod inventory;
pub mod merge;
pub mod model;
pub mod render;
pub mod report;
pub mod service;

pub use inventory::{
    AddressRecord, CircuitRecord, DiscoveryError, Inventory, InventorySource, LinkRecord,
    NetworkRecord, RemoteEnd,
};
pub use model::{ProviderOutcome, TopoConnection, TopoNetwork, Topology};
