//! Chat: the neutral message model, the router every adapter hands text and
//! clicks to, and the adapters (console today; Slack and Discord plug in beside
//! it without touching the router).

pub mod console;
pub mod delivery;
pub mod message;
pub mod router;
pub mod signing;
pub mod slack;
pub mod slack_api;
pub mod slack_blocks;
pub mod slack_events;
pub mod slack_socket;
