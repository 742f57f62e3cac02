//! Path choice. Today: choose among existing connections for one request
//! (`design`). The pricing catalog, multi-hop k-shortest paths and estate-wide
//! plan grow here later; the workflow only sees `Design`.

pub mod choose;
pub mod config_gen;
pub mod design;
pub mod paths;
pub mod plan;
pub mod priced;
pub mod pricing;
pub mod query;

pub use design::{design, CandidatePath, Design, DesignError};
