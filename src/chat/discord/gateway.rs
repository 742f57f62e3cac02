//! Discord's Gateway, the optional second way in (`[discord] gateway = true`):
//! a websocket on which Discord pushes INTERACTION_CREATE; answered through
//! `POST /interactions/{id}/{token}/callback` with the same responses the
//! HTTP endpoint gives, then handed to the same adapter.
//!
//! `Session` is the pure protocol machine (frames and heartbeat ticks in,
//! effects out): HELLO → IDENTIFY with only the GUILDS intent (slash commands
//! and components need no privileged intent) or RESUME when a session is
//! known; heartbeats carry the last sequence; a heartbeat not acknowledged
//! before the next is due means a zombie connection, so it reconnects and
//! resumes; RECONNECT resumes; INVALID_SESSION resumes or starts afresh as
//! Discord says. `run` is the IO driver around it.
//!
//! Invariants: the bot token goes only into IDENTIFY/RESUME frames and is
//! never logged; a close code Discord documents as fatal (bad token, bad
//! intents) stops the gateway instead of reconnecting in a loop; reconnects
//! back off (1 s doubling to 60 s).

use super::api::{DiscordApi, DiscordToken};
use super::interactions::decode;
use crate::chat::discord::{respond, DiscordJob, Respond};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_util::sync::CancellationToken;

/// The GUILDS intent (1 << 0): enough for interactions.
const INTENTS: u64 = 1;
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What the driver does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Value),
    /// Beat every `interval` from now on.
    Heartbeat(Duration),
    /// Close and connect again; `resume` when the session may be resumed.
    Reconnect {
        resume: bool,
    },
    /// Stop: Discord refused us for good (the reason, for the log).
    Fatal(String),
    /// An INTERACTION_CREATE payload.
    Interaction(Value),
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Session {
    seq: Option<u64>,
    session_id: Option<String>,
    resume_url: Option<String>,
    awaiting_ack: bool,
}

impl Session {
    /// Where to connect: the resume URL Discord gave while a session may be
    /// resumed, else `default`.
    pub fn url<'a>(&'a self, default: &'a str) -> &'a str {
        match (&self.session_id, &self.resume_url) {
            (Some(_), Some(url)) => url,
            _ => default,
        }
    }

    fn heartbeat(&self) -> Value {
        json!({"op": 1, "d": self.seq})
    }

    /// A text frame from Discord. `token` goes into IDENTIFY / RESUME.
    pub fn on_frame(&mut self, text: &str, token: &str) -> Vec<Effect> {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            tracing::warn!("a gateway frame is not JSON; ignored");
            return Vec::new();
        };
        if let Some(s) = frame.get("s").and_then(Value::as_u64) {
            self.seq = Some(s);
        }
        match frame.get("op").and_then(Value::as_u64) {
            Some(0) => self.dispatch(&frame),
            Some(1) => vec![Effect::Send(self.heartbeat())],
            Some(7) => vec![Effect::Reconnect { resume: true }],
            Some(9) => {
                let resumable = frame.get("d").and_then(Value::as_bool).unwrap_or(false);
                if !resumable {
                    *self = Session::default();
                }
                vec![Effect::Reconnect { resume: resumable }]
            }
            Some(10) => {
                let interval = frame
                    .pointer("/d/heartbeat_interval")
                    .and_then(Value::as_u64)
                    .unwrap_or(41_250)
                    .clamp(1, 600_000);
                self.awaiting_ack = false;
                let hello = match (&self.session_id, self.seq) {
                    (Some(id), Some(seq)) => {
                        json!({"op": 6, "d": {"token": token, "session_id": id, "seq": seq}})
                    }
                    _ => json!({"op": 2, "d": {"token": token, "intents": INTENTS,
                        "properties": {"os": std::env::consts::OS, "browser": "switchboard", "device": "switchboard"}}}),
                };
                vec![
                    Effect::Heartbeat(Duration::from_millis(interval)),
                    Effect::Send(hello),
                ]
            }
            Some(11) => {
                self.awaiting_ack = false;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn dispatch(&mut self, frame: &Value) -> Vec<Effect> {
        let data = frame.get("d").cloned().unwrap_or(Value::Null);
        match frame.get("t").and_then(Value::as_str) {
            Some("READY") => {
                self.session_id = data
                    .get("session_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.resume_url = data
                    .get("resume_gateway_url")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Vec::new()
            }
            Some("INTERACTION_CREATE") => vec![Effect::Interaction(data)],
            _ => Vec::new(),
        }
    }

    /// The heartbeat interval elapsed.
    pub fn heartbeat_due(&mut self) -> Effect {
        if self.awaiting_ack {
            return Effect::Reconnect { resume: true };
        }
        self.awaiting_ack = true;
        Effect::Send(self.heartbeat())
    }

    /// The connection closed with `code`.
    pub fn on_close(&mut self, code: Option<u16>) -> Effect {
        match code {
            Some(c @ (4004 | 4010..=4014)) => {
                Effect::Fatal(format!("Discord closed the gateway with code {c}"))
            }
            // Invalid sequence, session timed out: start afresh.
            Some(4007 | 4009) => {
                *self = Session::default();
                Effect::Reconnect { resume: false }
            }
            _ => Effect::Reconnect { resume: true },
        }
    }
}

/// Answers one interaction from the gateway and queues its work.
async fn interaction(api: &DiscordApi, jobs: &mpsc::Sender<DiscordJob>, data: Value) {
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let token = data
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let request = match decode(data.to_string().as_bytes()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "gateway interaction not understood");
            return;
        }
    };
    let (job, answer) = match respond(request) {
        Respond::Now(answer) => (None, answer),
        Respond::Queue(job, answer) => (Some(job), answer),
    };
    if let Err(e) = api.interaction_callback(&id, &token, answer).await {
        tracing::warn!(error = %e, "gateway interaction not answered");
        return;
    }
    if let Some(job) = job {
        if let Err(e) = jobs.try_send(job) {
            tracing::warn!(error = %e, "background queue full; gateway interaction dropped");
        }
    }
}

/// Keeps a gateway session until `cancel` fires or Discord refuses us.
pub async fn run(
    api: DiscordApi,
    token: DiscordToken,
    jobs: mpsc::Sender<DiscordJob>,
    cancel: CancellationToken,
) {
    let mut session = Session::default();
    let mut backoff = Duration::from_secs(1);
    loop {
        let base = match api.gateway_url().await {
            Ok(url) => url,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "no gateway URL");
                if sleep_or_cancel(backoff, &cancel).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let url = format!(
            "{}/?v=10&encoding=json",
            session.url(&base).trim_end_matches('/')
        );
        let mut socket = match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((socket, _)) => socket,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "gateway connection failed");
                if sleep_or_cancel(backoff, &cancel).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let mut beat: Option<tokio::time::Interval> = None;
        let ended = loop {
            let next = async {
                match beat.as_mut() {
                    Some(b) => {
                        b.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let effects = tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = socket.close(None).await;
                    return;
                }
                _ = next => vec![session.heartbeat_due()],
                frame = socket.next() => match frame {
                    Some(Ok(Frame::Text(text))) => session.on_frame(text.as_str(), token.expose()),
                    Some(Ok(Frame::Close(close))) => vec![session.on_close(close.map(|c| c.code.into()))],
                    Some(Ok(_)) => Vec::new(),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "gateway connection broke");
                        vec![session.on_close(None)]
                    }
                    None => vec![session.on_close(None)],
                },
            };
            let mut ended = None;
            for effect in effects {
                match effect {
                    Effect::Send(frame) => {
                        if let Err(e) = socket.send(Frame::text(frame.to_string())).await {
                            tracing::warn!(error = %e, "gateway send failed");
                            ended = Some(session.on_close(None));
                        }
                    }
                    Effect::Heartbeat(every) => {
                        let mut interval =
                            tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        beat = Some(interval);
                        backoff = Duration::from_secs(1);
                    }
                    Effect::Interaction(data) => interaction(&api, &jobs, data).await,
                    end @ (Effect::Reconnect { .. } | Effect::Fatal(_)) => ended = Some(end),
                }
            }
            if let Some(end) = ended {
                break end;
            }
        };
        let _ = socket.close(None).await;
        match ended {
            Effect::Fatal(reason) => {
                tracing::error!(%reason, "the Discord gateway stopped");
                return;
            }
            _ => {
                tracing::info!(retry_in = ?backoff, "reconnecting to the Discord gateway");
                if sleep_or_cancel(backoff, &cancel).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Sleeps `wait`; true when cancelled meanwhile.
async fn sleep_or_cancel(wait: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> String {
        json!({"op": 10, "d": {"heartbeat_interval": 45000}}).to_string()
    }

    #[test]
    fn hello_identifies_with_only_the_guilds_intent() {
        let mut s = Session::default();
        let effects = s.on_frame(&hello(), "tok");
        assert_eq!(effects[0], Effect::Heartbeat(Duration::from_millis(45000)));
        let Effect::Send(identify) = &effects[1] else {
            panic!("{effects:?}")
        };
        assert_eq!(identify["op"], 2);
        assert_eq!(identify["d"]["intents"], 1);
        assert_eq!(identify["d"]["token"], "tok");
    }

    #[test]
    fn heartbeats_carry_the_last_sequence_and_a_missing_ack_reconnects() {
        let mut s = Session::default();
        s.on_frame(&hello(), "tok");
        assert_eq!(s.heartbeat_due(), Effect::Send(json!({"op": 1, "d": null})));
        s.on_frame(r#"{"op":11}"#, "tok");
        s.on_frame(r#"{"op":0,"s":42,"t":"GUILD_CREATE","d":{}}"#, "tok");
        assert_eq!(s.heartbeat_due(), Effect::Send(json!({"op": 1, "d": 42})));
        // No ack before the next beat: a zombie connection.
        assert_eq!(s.heartbeat_due(), Effect::Reconnect { resume: true });
        // Discord asking for a beat now gets one.
        assert_eq!(
            s.on_frame(r#"{"op":1}"#, "tok"),
            vec![Effect::Send(json!({"op": 1, "d": 42}))]
        );
    }

    #[test]
    fn a_known_session_resumes_at_its_resume_url() {
        let mut s = Session::default();
        s.on_frame(&hello(), "tok");
        s.on_frame(r#"{"op":0,"s":1,"t":"READY","d":{"session_id":"abc","resume_gateway_url":"wss://resume.example"}}"#, "tok");
        s.on_frame(
            r#"{"op":0,"s":5,"t":"INTERACTION_CREATE","d":{"id":"9"}}"#,
            "tok",
        );
        assert_eq!(s.url("wss://gateway.example"), "wss://resume.example");
        assert_eq!(
            s.on_frame(r#"{"op":7}"#, "tok"),
            vec![Effect::Reconnect { resume: true }]
        );
        let effects = s.on_frame(&hello(), "tok");
        assert_eq!(
            effects[1],
            Effect::Send(json!({"op": 6, "d": {"token": "tok", "session_id": "abc", "seq": 5}}))
        );
    }

    #[test]
    fn an_invalid_session_starts_afresh_unless_resumable() {
        let mut s = Session::default();
        s.on_frame(
            r#"{"op":0,"s":1,"t":"READY","d":{"session_id":"abc","resume_gateway_url":"wss://r"}}"#,
            "tok",
        );
        assert_eq!(
            s.on_frame(r#"{"op":9,"d":true}"#, "tok"),
            vec![Effect::Reconnect { resume: true }]
        );
        assert_eq!(s.url("wss://g"), "wss://r");
        assert_eq!(
            s.on_frame(r#"{"op":9,"d":false}"#, "tok"),
            vec![Effect::Reconnect { resume: false }]
        );
        assert_eq!(s.url("wss://g"), "wss://g");
        let Effect::Send(identify) = &s.on_frame(&hello(), "tok")[1] else {
            panic!()
        };
        assert_eq!(identify["op"], 2);
    }

    #[test]
    fn interactions_are_handed_on_and_fatal_closes_stop() {
        let mut s = Session::default();
        assert_eq!(
            s.on_frame(
                r#"{"op":0,"s":3,"t":"INTERACTION_CREATE","d":{"id":"9","type":2}}"#,
                "tok"
            ),
            vec![Effect::Interaction(json!({"id": "9", "type": 2}))]
        );
        assert!(matches!(s.on_close(Some(4004)), Effect::Fatal(_)));
        assert!(matches!(s.on_close(Some(4014)), Effect::Fatal(_)));
        assert_eq!(s.on_close(Some(1001)), Effect::Reconnect { resume: true });
        assert_eq!(s.on_close(Some(4009)), Effect::Reconnect { resume: false });
        assert!(s.on_frame("not json", "tok").is_empty());
    }
}
