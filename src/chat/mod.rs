//! Chat: the neutral message model, the router every adapter hands text and
//! clicks to, and the adapters (console today; Slack and Discord plug in beside
//! it without touching the router). Discord: `discord_interactions` (pure
//! decoding), `discord_render` (pure JSON), `discord_api` (REST v10),
//! `discord` (the answer to an interaction and the adapter) and, optionally,
//! `discord_gateway` (the websocket way in).

pub mod console;
pub mod delivery;
pub mod discord;
pub mod discord_api;
pub mod discord_gateway;
pub mod discord_interactions;
pub mod discord_render;
pub mod message;
pub mod router;
pub mod signing;
pub mod slack;
pub mod slack_api;
pub mod slack_blocks;
pub mod slack_events;
pub mod slack_socket;
