//! Workflows: definitions (`workflows/*.yaml`), the pure state machine, the step
//! actions, how notices become chat messages, and the engine that runs them.

pub mod definition;
pub mod engine;
pub mod machine;
pub mod notify;
pub mod parse_step;
pub mod steps;

pub use engine::{Engine, EngineError, EngineSettings};
