//! `POST /discord/interactions`: Discord's HTTP interactions endpoint. The
//! Ed25519 signature (and the replay guard) is checked before the body is
//! parsed; then PING gets PONG, a Reject click gets the reason modal, and
//! everything else gets a deferred response at once while the work is queued
//! for the adapter (Discord's limit is 3 s).
//!
//! Invariants:
//! - A refused request (bad, missing, stale or replayed signature) is
//!   answered 401 and leaves no trace in the store.
//! - Nothing is queued that was not answered with a deferred response, and a
//!   full queue answers 503 (Discord shows the failure; nothing half-done).
//! - The bot token and public key come from the environment only.

use super::metrics::Metrics;
use super::ServeError;
use crate::chat::discord::api::DiscordToken;
use crate::chat::discord::interactions::decode;
use crate::chat::discord::{respond, DiscordJob, Respond};
use crate::chat::signing::{verify_discord, DiscordPublicKey, ReplayGuard};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// What Discord gave the application; from the environment only.
#[derive(Debug, Clone)]
pub struct DiscordCredentials {
    pub public_key: DiscordPublicKey,
    pub token: DiscordToken,
}

impl DiscordCredentials {
    /// `DISCORD_PUBLIC_KEY` and `DISCORD_TOKEN`.
    pub fn from_env() -> Result<DiscordCredentials, ServeError> {
        let read = super::env_var;
        let key = read(
            "DISCORD_PUBLIC_KEY",
            "the application's public key (Developer Portal → General Information)",
        )?;
        Ok(DiscordCredentials {
            public_key: DiscordPublicKey::from_hex(&key)
                .map_err(|e| ServeError::BadEnv("DISCORD_PUBLIC_KEY", e.to_string()))?,
            token: DiscordToken::new(read(
                "DISCORD_TOKEN",
                "the bot token (Developer Portal → Bot)",
            )?),
        })
    }
}

/// Discord's side of `serve`.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    pub credentials: DiscordCredentials,
    /// Discord's REST base (`https://discord.com/api/v10`; a fake in tests).
    pub api_base: String,
    pub application_id: String,
    pub approver_roles: Vec<String>,
    /// Registers the slash commands at start: `Some(None)` globally,
    /// `Some(Some(guild))` in one guild.
    pub register_commands: Option<Option<String>>,
    pub timeout: Duration,
    /// Also keep a Gateway session (interactions pushed over a websocket).
    pub gateway: bool,
}

/// Signatures remembered for the replay check.
const REPLAY_CAPACITY: usize = 100_000;

pub(super) struct Endpoint {
    key: DiscordPublicKey,
    replay: Mutex<ReplayGuard>,
    jobs: mpsc::Sender<DiscordJob>,
    metrics: Arc<Metrics>,
}

impl Endpoint {
    pub(super) fn new(
        key: DiscordPublicKey,
        jobs: mpsc::Sender<DiscordJob>,
        metrics: Arc<Metrics>,
    ) -> Endpoint {
        Endpoint {
            key,
            replay: Mutex::new(ReplayGuard::new(REPLAY_CAPACITY)),
            jobs,
            metrics,
        }
    }

    fn answer(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, Value) {
        let accepted = super::accept(
            headers,
            ("x-signature-timestamp", "x-signature-ed25519"),
            &self.replay,
            &self.metrics.discord_signature_failures,
            "discord",
            |timestamp, signature, now| verify_discord(&self.key, timestamp, signature, body, now),
        );
        if !accepted {
            return (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "invalid request signature"}),
            );
        }
        let request = match decode(body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "Discord interaction not understood");
                return (
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": e.to_string()}),
                );
            }
        };
        let (job, ack) = match respond(request) {
            Respond::Now(answer) => return (StatusCode::OK, answer),
            Respond::Queue(job, ack) => (job, ack),
        };
        match self.jobs.try_send(job) {
            Ok(()) => (StatusCode::OK, ack),
            Err(e) => {
                tracing::warn!(error = %e, "background queue full; Discord interaction refused");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"error": "busy"}),
                )
            }
        }
    }
}

pub(super) async fn interactions(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, value) = endpoint.answer(&headers, &body);
    endpoint
        .metrics
        .request("/discord/interactions", status.as_u16());
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}
