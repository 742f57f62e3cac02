//! switchboard: chat-ops for multi-cloud networks. See ARCHITECTURE.md for the map.

pub mod domain;
