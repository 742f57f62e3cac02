//! switchboard: chat-ops for multi-cloud networks. See ARCHITECTURE.md for the map.

pub mod app;
pub mod bench;
pub mod bulk;
pub mod chat;
pub mod compliance;
pub mod config;
pub mod digest;
pub mod domain;
pub mod forecast;
pub mod intent;
pub mod llm;
pub mod optimizer;
pub mod prober;
pub mod providers;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod topology;
pub mod usage;
pub mod workflow;
