//! Chat: the neutral message model (`message`), the router every adapter
//! hands text and clicks to (`router`), the outbox that delivers replies
//! (`delivery`), request signatures (`signing`), and one folder per platform:
//! the console beside them, `slack/` and `discord/`, each plugging into the
//! router without touching it.
//!
//! - `slack/`: `events` (pure decoding of Events API and interaction
//!   payloads), `blocks` (pure Block Kit), `api` (the Web API client),
//!   `socket` (Socket Mode) and the adapter itself.
//! - `discord/`: `interactions` (pure decoding), `render` (pure JSON), `api`
//!   (REST v10), `gateway` (the websocket way in) and the adapter itself.

pub mod console;
pub mod delivery;
pub mod discord;
pub mod message;
pub mod router;
pub mod signing;
pub mod slack;
