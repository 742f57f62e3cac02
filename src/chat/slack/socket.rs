//! Slack Socket Mode: the transport that needs no public URL. The app-level
//! token (`xapp-…`, scope `connections:write`) asks `apps.connections.open`
//! for a WebSocket URL; Slack then sends envelopes over it
//! (`{envelope_id, type, payload, accepts_response_payload}` with `type`
//! `hello`, `events_api`, `slash_commands`, `interactive` or `disconnect`).
//! Each envelope is acknowledged by `{"envelope_id": …}` and its payload goes
//! through the same decoding (`slack::events::decode_payload`) and the same
//! `Intake` (event-id dedupe, bounded queue) to the same adapter as the HTTP
//! endpoint's requests.
//!
//! Socket Mode payloads are not signed: the app token that opened the
//! connection is what authenticates them, and TLS (`wss://`) protects them on
//! the way. The token is sent only to `apps.connections.open`; it and the
//! WebSocket URL (which carries a one-time ticket) are never logged.
//!
//! Invariants:
//! - Every envelope with an id is acknowledged at once (decoding and queueing
//!   are synchronous, no work is awaited first), except when the bounded
//!   queue is full: then the ack is withheld so Slack sends it again, as the
//!   HTTP endpoint's 503 does.
//! - An unknown envelope type or a payload that does not decode is
//!   acknowledged and dropped with a warning (sending it again cannot help);
//!   a frame that is not JSON is dropped with a warning. Nothing panics.
//! - The connection is replaced on `disconnect`, on close, on an error and
//!   when nothing (not even a pong) arrives for `idle_timeout`, each time
//!   with a fresh URL, after a capped exponential backoff (`reconnect_delay`,
//!   pure); a `disconnect` after a healthy session reconnects at once.

use super::api::{AppToken, SlackApi};
use super::events::{decode_payload, event_id, PayloadKind, SlackRequest};
use crate::chat::delivery::exponential;
use crate::chat::slack::{Admitted, Intake};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_util::sync::CancellationToken;

/// One envelope from Slack, decoded. Pure data.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// The connection is ready.
    Hello,
    /// Slack will close this connection (`refresh_requested`, `warning`,
    /// `link_disabled`, …): open a new one.
    Disconnect { reason: String },
    /// A payload to acknowledge and decode.
    Payload {
        id: String,
        kind: PayloadKind,
        payload: Value,
    },
    /// A type switchboard does not know; acknowledged when it has an id.
    Unknown { id: Option<String>, kind: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the Socket Mode frame is not an envelope: {0}")]
    Malformed(String),
    #[error("the {0} envelope has no envelope_id")]
    NoId(&'static str),
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(default)]
    envelope_id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    reason: Option<String>,
}

/// Decodes one text frame. Pure; never panics.
pub fn parse_envelope(text: &str) -> Result<Envelope, EnvelopeError> {
    let raw: RawEnvelope = serde_json::from_str(text).map_err(|e| {
        // serde's message quotes no input beyond a type name; keep it short.
        EnvelopeError::Malformed(e.to_string().chars().take(120).collect())
    })?;
    let kind = match raw.kind.as_str() {
        "hello" => return Ok(Envelope::Hello),
        "disconnect" => {
            return Ok(Envelope::Disconnect {
                reason: raw.reason.unwrap_or_default().chars().take(60).collect(),
            })
        }
        "events_api" => (PayloadKind::Event, "events_api"),
        "slash_commands" => (PayloadKind::SlashCommand, "slash_commands"),
        "interactive" => (PayloadKind::Interactive, "interactive"),
        other => {
            return Ok(Envelope::Unknown {
                id: raw.envelope_id,
                kind: other.chars().take(40).collect(),
            })
        }
    };
    let id = raw.envelope_id.ok_or(EnvelopeError::NoId(kind.1))?;
    Ok(Envelope::Payload {
        id,
        kind: kind.0,
        payload: raw.payload,
    })
}

/// The acknowledgement of an envelope.
pub fn ack(envelope_id: &str) -> String {
    json!({ "envelope_id": envelope_id }).to_string()
}

/// How a connection ended, for the reconnect policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Slack asked for a new connection after a healthy session.
    Refreshed,
    /// The connection failed or closed; `greeted` when it had said hello
    /// (it worked, so the backoff starts over).
    Lost { greeted: bool },
    /// We are shutting down.
    Cancelled,
}

/// Consecutive failures after a session ended this way. Pure.
pub fn failures_after(failures: u32, end: SessionEnd) -> u32 {
    match end {
        SessionEnd::Refreshed | SessionEnd::Cancelled => 0,
        SessionEnd::Lost { greeted: true } => 1,
        SessionEnd::Lost { greeted: false } => failures.saturating_add(1),
    }
}

/// How long to wait before the next connection: none after a refresh, then
/// `base` doubling per consecutive failure up to `max`. Pure.
pub fn reconnect_delay(failures: u32, base: Duration, max: Duration) -> Duration {
    if failures == 0 {
        Duration::ZERO
    } else {
        exponential(failures, base, max)
    }
}

#[derive(Debug, Clone)]
pub struct SocketSettings {
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// How often we ping Slack, so a dead link shows.
    pub ping_every: Duration,
    /// A connection that receives nothing for this long is replaced.
    pub idle_timeout: Duration,
    /// The largest frame and message accepted.
    pub max_message: usize,
}

impl Default for SocketSettings {
    fn default() -> SocketSettings {
        SocketSettings {
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            ping_every: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            max_message: 4 * 1024 * 1024,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct SocketStats {
    /// Connections Slack greeted with `hello`.
    pub connections: AtomicU64,
    /// Envelopes acknowledged.
    pub envelopes: AtomicU64,
}

/// The Socket Mode driver: owns the connection, does the IO.
pub struct SocketMode {
    api: SlackApi,
    token: AppToken,
    intake: Intake,
    settings: SocketSettings,
    stats: Arc<SocketStats>,
}

/// What one text frame asks of the connection.
enum Step {
    Reply(String),
    Greeted,
    End(SessionEnd),
    Nothing,
}

impl SocketMode {
    pub fn new(
        api: SlackApi,
        token: AppToken,
        intake: Intake,
        settings: SocketSettings,
    ) -> SocketMode {
        SocketMode {
            api,
            token,
            intake,
            settings,
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> Arc<SocketStats> {
        self.stats.clone()
    }

    /// Connects, reconnects and hands payloads over until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let end = self.session(&cancel).await;
            if end == SessionEnd::Cancelled || cancel.is_cancelled() {
                return;
            }
            failures = failures_after(failures, end);
            let delay = reconnect_delay(
                failures,
                self.settings.base_backoff,
                self.settings.max_backoff,
            );
            tracing::info!(?end, failures, retry_in = ?delay, "Socket Mode connection ended; reconnecting");
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One connection, from `apps.connections.open` to its end.
    async fn session(&self, cancel: &CancellationToken) -> SessionEnd {
        let lost = SessionEnd::Lost { greeted: false };
        let url = tokio::select! {
            _ = cancel.cancelled() => return SessionEnd::Cancelled,
            url = self.api.open_connection(&self.token) => match url {
                Ok(url) => url,
                Err(e) => {
                    tracing::warn!(error = %e, "apps.connections.open failed");
                    return lost;
                }
            },
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.settings.max_message))
            .max_frame_size(Some(self.settings.max_message));
        let connect =
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false);
        let ws = tokio::select! {
            _ = cancel.cancelled() => return SessionEnd::Cancelled,
            ws = tokio::time::timeout(self.settings.idle_timeout, connect) => match ws {
                Ok(Ok((ws, _))) => ws,
                // The error names neither the URL nor its ticket.
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Socket Mode connection failed");
                    return lost;
                }
                Err(_) => {
                    tracing::warn!("Socket Mode connection timed out");
                    return lost;
                }
            },
        };
        let (mut write, mut read) = ws.split();
        let mut greeted = false;
        let mut ping = tokio::time::interval_at(
            tokio::time::Instant::now() + self.settings.ping_every,
            self.settings.ping_every,
        );
        loop {
            let frame = tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = write.send(Frame::Close(None)).await;
                    return SessionEnd::Cancelled;
                }
                _ = ping.tick() => {
                    if let Err(e) = write.send(Frame::Ping(Default::default())).await {
                        tracing::warn!(error = %e, "Socket Mode ping failed");
                        return SessionEnd::Lost { greeted };
                    }
                    continue;
                }
                frame = tokio::time::timeout(self.settings.idle_timeout, read.next()) => frame,
            };
            let text = match frame {
                Err(_) => {
                    tracing::warn!(idle = ?self.settings.idle_timeout, "Socket Mode connection silent; replacing it");
                    return SessionEnd::Lost { greeted };
                }
                Ok(None) | Ok(Some(Ok(Frame::Close(_)))) => {
                    return SessionEnd::Lost { greeted };
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "Socket Mode connection broke");
                    return SessionEnd::Lost { greeted };
                }
                Ok(Some(Ok(Frame::Text(text)))) => text,
                // Pings are answered by tungstenite; pongs and binary frames
                // carry nothing for us.
                Ok(Some(Ok(_))) => continue,
            };
            match self.on_text(text.as_str(), greeted) {
                Step::Reply(ack) => {
                    if let Err(e) = write.send(Frame::text(ack)).await {
                        tracing::warn!(error = %e, "Socket Mode acknowledgement not sent");
                        return SessionEnd::Lost { greeted };
                    }
                    self.stats.envelopes.fetch_add(1, Ordering::Relaxed);
                }
                Step::Greeted => {
                    greeted = true;
                    self.stats.connections.fetch_add(1, Ordering::Relaxed);
                }
                Step::End(end) => {
                    let _ = write.send(Frame::Close(None)).await;
                    return end;
                }
                Step::Nothing => {}
            }
        }
    }

    /// What one text frame asks for; hands payloads to the intake.
    fn on_text(&self, text: &str, greeted: bool) -> Step {
        let envelope = match parse_envelope(text) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "Socket Mode frame ignored");
                return Step::Nothing;
            }
        };
        match envelope {
            Envelope::Hello => {
                tracing::info!("Socket Mode connected");
                Step::Greeted
            }
            Envelope::Disconnect { reason } => {
                if reason == "link_disabled" {
                    tracing::error!(
                        "Slack disabled Socket Mode for this app (app settings → Socket Mode)"
                    );
                    return Step::End(SessionEnd::Lost { greeted: false });
                }
                tracing::info!(%reason, "Slack asked for a new Socket Mode connection");
                Step::End(if greeted {
                    SessionEnd::Refreshed
                } else {
                    SessionEnd::Lost { greeted }
                })
            }
            Envelope::Unknown { id, kind } => {
                tracing::warn!(%kind, "Socket Mode envelope of an unknown type acknowledged and ignored");
                id.map_or(Step::Nothing, |id| Step::Reply(ack(&id)))
            }
            Envelope::Payload { id, kind, payload } => {
                match decode_payload(kind, &payload) {
                    Err(e) => {
                        tracing::warn!(error = %e, ?kind, "Socket Mode payload not understood");
                    }
                    Ok(SlackRequest::Ignored(why)) => {
                        tracing::debug!(why, "Socket Mode payload ignored");
                    }
                    Ok(SlackRequest::UrlVerification { .. }) => {
                        tracing::debug!("url_verification over Socket Mode ignored");
                    }
                    Ok(request) => {
                        let now = chrono::Utc::now().timestamp();
                        match self.intake.take(request, event_id(&payload), now) {
                            Admitted::Queued => {}
                            Admitted::Duplicate => {
                                tracing::info!(
                                    "Slack event seen before: acknowledged, not run again"
                                );
                            }
                            // Not acknowledged: Slack sends it again.
                            Admitted::Busy => return Step::Nothing,
                        }
                    }
                }
                Step::Reply(ack(&id))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_decode_by_type() {
        assert_eq!(
            parse_envelope(r#"{"type":"hello","num_connections":1}"#),
            Ok(Envelope::Hello)
        );
        assert_eq!(
            parse_envelope(r#"{"type":"disconnect","reason":"refresh_requested"}"#),
            Ok(Envelope::Disconnect {
                reason: "refresh_requested".into()
            })
        );
        let command = r#"{"envelope_id":"e1","type":"slash_commands","accepts_response_payload":true,
            "payload":{"command":"/switchboard","text":"status","user_id":"U1","channel_id":"C1"}}"#;
        let Ok(Envelope::Payload { id, kind, payload }) = parse_envelope(command) else {
            panic!("not a payload")
        };
        assert_eq!((id.as_str(), kind), ("e1", PayloadKind::SlashCommand));
        assert_eq!(payload["text"], "status");
        assert_eq!(
            parse_envelope(r#"{"envelope_id":"e2","type":"shortcut_v9"}"#),
            Ok(Envelope::Unknown {
                id: Some("e2".into()),
                kind: "shortcut_v9".into()
            })
        );
    }

    #[test]
    fn malformed_frames_are_named_errors() {
        assert!(matches!(
            parse_envelope("{not json"),
            Err(EnvelopeError::Malformed(_))
        ));
        assert!(matches!(
            parse_envelope(r#"{"envelope_id":"e1"}"#),
            Err(EnvelopeError::Malformed(_))
        ));
        assert_eq!(
            parse_envelope(r#"{"type":"events_api","payload":{}}"#),
            Err(EnvelopeError::NoId("events_api"))
        );
    }

    #[test]
    fn an_ack_names_the_envelope() {
        let value: Value = serde_json::from_str(&ack("a\"b")).unwrap();
        assert_eq!(value, json!({"envelope_id": "a\"b"}));
    }

    const BASE: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn failed_connections_back_off_exponentially_up_to_the_cap() {
        let mut failures = 0;
        let mut delays = Vec::new();
        for _ in 0..9 {
            failures = failures_after(failures, SessionEnd::Lost { greeted: false });
            delays.push(reconnect_delay(failures, BASE, MAX).as_secs());
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(reconnect_delay(u32::MAX, BASE, MAX), MAX);
    }

    #[test]
    fn a_refresh_reconnects_at_once_and_a_healthy_session_resets_the_backoff() {
        assert_eq!(failures_after(7, SessionEnd::Refreshed), 0);
        assert_eq!(reconnect_delay(0, BASE, MAX), Duration::ZERO);
        // It said hello, so it worked: the next wait starts at base again.
        assert_eq!(failures_after(7, SessionEnd::Lost { greeted: true }), 1);
        assert_eq!(reconnect_delay(1, BASE, MAX), BASE);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,300}") {
            let _ = parse_envelope(&text);
        }

        #[test]
        fn the_delay_never_exceeds_the_cap(failures in proptest::num::u32::ANY) {
            proptest::prop_assert!(reconnect_delay(failures, BASE, MAX) <= MAX);
        }
    }
}
