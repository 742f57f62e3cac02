//! The Discord REST API (v10) calls switchboard makes, over our reqwest:
//! create and edit channel messages (the picture as a multipart attachment),
//! start a thread from a message, edit an interaction's original response
//! (`PATCH /webhooks/{app}/{token}/messages/@original`) and register the
//! slash commands. Answers become typed outcomes: rate limited (429 with the
//! body's `retry_after` in seconds, or the `X-RateLimit-*` headers), server
//! trouble (5xx, transport: retryable) or a Discord error (code and message).
//! Also the `ChatSink` for Discord.
//!
//! Invariants:
//! - The bot token goes only into the `Authorization: Bot …` header; it never
//!   appears in Debug output, errors or logs. Interaction tokens likewise.
//! - A bucket Discord said is empty (`X-RateLimit-Remaining: 0`) is not used
//!   again before its `X-RateLimit-Reset-After`: short waits are slept, longer
//!   ones returned as `RateLimited`, so the outbox backs off instead.
//! - A workflow's thread is started from its first message, so the thread's
//!   channel id is that message's id (Discord's rule); messages posted into
//!   it get ids `<thread>/<message>` so a card can be edited where it is.

use super::interactions::{is_snowflake, InteractionToken};
use super::render::{attachment_name, render, render_reply};
use crate::chat::delivery::{ChatSink, SendError};
use crate::chat::message::Message;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub const DISCORD_API: &str = "https://discord.com/api/v10";

/// Discord's error code for "a thread has already been created for this
/// message".
const THREAD_EXISTS: i64 = 160004;
/// When a 429 carries no usable wait.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// An emptied bucket is waited out in place up to this long.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(2);
/// Bots may upload 10 MiB per message.
const MAX_UPLOAD: u64 = 10 * 1024 * 1024;
/// Threads remembered as started before the set is forgotten (a forgotten one
/// costs one more start, answered "already exists").
const KNOWN_THREADS_MAX: usize = 10_000;

/// The bot token; shown redacted.
#[derive(Clone)]
pub struct DiscordToken(String);

impl DiscordToken {
    pub fn new(token: impl Into<String>) -> DiscordToken {
        DiscordToken(token.into())
    }

    /// For the gateway's IDENTIFY / RESUME frames only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DiscordToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DiscordToken(redacted)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscordError {
    #[error("Discord rate limit: retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 5xx or no answer: worth trying again.
    #[error("could not reach Discord: {0}")]
    Unavailable(String),
    #[error("Discord {what} failed: HTTP {status}, code {code}: {message}")]
    Api {
        what: &'static str,
        status: u16,
        code: i64,
        message: String,
    },
    #[error("Discord answered something unexpected: {0}")]
    BadResponse(String),
}

impl From<DiscordError> for SendError {
    fn from(e: DiscordError) -> SendError {
        match e {
            DiscordError::RateLimited { retry_after } => SendError::RateLimited(retry_after),
            e @ DiscordError::Unavailable(_) => SendError::Retryable(e.to_string()),
            e => SendError::Permanent(e.to_string()),
        }
    }
}

/// How long a 429 asks to wait: the body's `retry_after` (seconds, float),
/// else `X-RateLimit-Reset-After`, else `Retry-After`. Pure.
pub fn retry_after(body: &[u8], reset_after: Option<&str>, retry_header: Option<&str>) -> Duration {
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(Value::as_f64));
    let seconds = from_body
        .or_else(|| reset_after.and_then(|v| v.trim().parse::<f64>().ok()))
        .or_else(|| retry_header.and_then(|v| v.trim().parse::<f64>().ok()))
        .filter(|s| s.is_finite() && *s >= 0.0);
    match seconds {
        Some(s) => Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())),
        None => DEFAULT_RETRY_AFTER,
    }
}

/// One REST request: what it is (for errors), where, its rate-limit
/// bucket, the JSON body, an optional upload, and whether it carries the bot
/// token (webhook routes do not).
struct Call {
    what: &'static str,
    method: reqwest::Method,
    path: String,
    bucket: String,
    body: Value,
    upload: Option<Upload>,
    bot_auth: bool,
}

/// A picture to upload with a message.
struct Upload {
    name: String,
    bytes: Vec<u8>,
}

#[derive(Clone)]
pub struct DiscordApi {
    http: reqwest::Client,
    base: String,
    token: DiscordToken,
    application_id: String,
    /// Buckets Discord said are empty, until when (key: method and the
    /// route's major parameter).
    exhausted: Arc<Mutex<HashMap<String, Instant>>>,
    threads: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for DiscordApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordApi")
            .field("base", &self.base)
            .field("token", &self.token)
            .field("application_id", &self.application_id)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

impl DiscordApi {
    pub fn new(
        base: impl Into<String>,
        token: DiscordToken,
        application_id: impl Into<String>,
        timeout: Duration,
    ) -> Result<DiscordApi, DiscordError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| DiscordError::Unavailable(e.to_string()))?;
        Ok(DiscordApi {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            token,
            application_id: application_id.into(),
            exhausted: Arc::new(Mutex::new(HashMap::new())),
            threads: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// Sends one request and returns the answer's JSON (Null for 204).
    async fn call(&self, call: Call) -> Result<Value, DiscordError> {
        let Call {
            what,
            method,
            path,
            bucket,
            body,
            upload,
            bot_auth,
        } = call;
        let wait = lock(&self.exhausted)
            .get(&bucket)
            .map(|t| t.saturating_duration_since(Instant::now()))
            .filter(|w| !w.is_zero());
        if let Some(wait) = wait {
            if wait > MAX_INLINE_WAIT {
                return Err(DiscordError::RateLimited { retry_after: wait });
            }
            tokio::time::sleep(wait).await;
        }
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if bot_auth {
            request = request.header(
                reqwest::header::AUTHORIZATION,
                format!("Bot {}", self.token.0),
            );
        }
        request = match upload {
            Some(upload) => {
                let mime = if upload.name.ends_with(".png") {
                    "image/png"
                } else if upload.name.ends_with(".svg") {
                    "image/svg+xml"
                } else {
                    "application/octet-stream"
                };
                let part = reqwest::multipart::Part::bytes(upload.bytes)
                    .file_name(upload.name)
                    .mime_str(mime)
                    .map_err(|e| DiscordError::BadResponse(e.to_string()))?;
                let form = reqwest::multipart::Form::new()
                    .text("payload_json", body.to_string())
                    .part("files[0]", part);
                request.multipart(form)
            }
            None if body.is_null() => request,
            None => request.json(&body),
        };
        let response = request
            .send()
            .await
            // reqwest's errors carry the URL: never the bot token, but an
            // interaction token is in webhook URLs, so those are not shown.
            .map_err(|e| DiscordError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let remaining = header(&response, "x-ratelimit-remaining").map(str::trim);
        let reset_after = header(&response, "x-ratelimit-reset-after").map(str::to_string);
        let retry_header = header(&response, "retry-after").map(str::to_string);
        if remaining == Some("0") {
            let wait = retry_after(b"", reset_after.as_deref(), None);
            lock(&self.exhausted).insert(bucket.clone(), Instant::now() + wait);
        } else {
            lock(&self.exhausted).remove(&bucket);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| DiscordError::Unavailable(e.without_url().to_string()))?;
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry_after = retry_after(&bytes, reset_after.as_deref(), retry_header.as_deref());
            lock(&self.exhausted).insert(bucket, Instant::now() + retry_after);
            return Err(DiscordError::RateLimited { retry_after });
        }
        if status.is_server_error() {
            return Err(DiscordError::Unavailable(format!("{what}: HTTP {status}")));
        }
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| DiscordError::BadResponse(format!("{what}: HTTP {status}: {e}")))?
        };
        if !status.is_success() {
            return Err(DiscordError::Api {
                what,
                status: status.as_u16(),
                code: value.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: value
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect(),
            });
        }
        Ok(value)
    }

    /// `POST /channels/{channel}/messages`; returns the new message's id.
    async fn create_message(
        &self,
        channel: &str,
        body: Value,
        upload: Option<Upload>,
    ) -> Result<String, DiscordError> {
        let answer = self
            .call(Call {
                what: "create message",
                method: reqwest::Method::POST,
                path: format!("/channels/{channel}/messages"),
                bucket: format!("POST {channel}"),
                body,
                upload,
                bot_auth: true,
            })
            .await?;
        answer
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| is_snowflake(id))
            .map(str::to_string)
            .ok_or_else(|| DiscordError::BadResponse("create message answer without `id`".into()))
    }

    /// `PATCH /channels/{channel}/messages/{message}`.
    pub async fn edit_message(
        &self,
        channel: &str,
        message_id: &str,
        message: &Message,
    ) -> Result<(), DiscordError> {
        self.call(Call {
            what: "edit message",
            method: reqwest::Method::PATCH,
            path: format!("/channels/{channel}/messages/{message_id}"),
            bucket: format!("PATCH {channel}"),
            body: render(message, None),
            upload: None,
            bot_auth: true,
        })
        .await
        .map(|_| ())
    }

    /// `POST /channels/{channel}/messages/{message}/threads`, unless this
    /// process started it already; "already exists" counts as started.
    async fn ensure_thread(
        &self,
        channel: &str,
        root: &str,
        name: &str,
    ) -> Result<(), DiscordError> {
        if lock(&self.threads).contains(root) {
            return Ok(());
        }
        let started = self
            .call(Call {
                what: "start thread",
                method: reqwest::Method::POST,
                path: format!("/channels/{channel}/messages/{root}/threads"),
                bucket: format!("THREAD {channel}"),
                body: json!({"name": name, "auto_archive_duration": 10080}),
                upload: None,
                bot_auth: true,
            })
            .await;
        match started {
            Ok(_) => {}
            Err(DiscordError::Api { code, .. }) if code == THREAD_EXISTS => {}
            Err(e) => return Err(e),
        }
        let mut threads = lock(&self.threads);
        if threads.len() >= KNOWN_THREADS_MAX {
            threads.clear();
        }
        threads.insert(root.to_string());
        Ok(())
    }

    /// `PATCH /webhooks/{app}/{token}/messages/@original`: the answer to a
    /// deferred interaction. Webhook routes take no bot token.
    pub async fn edit_original(
        &self,
        token: &InteractionToken,
        messages: &[Message],
    ) -> Result<(), DiscordError> {
        let image = messages.first().and_then(|m| m.image.as_deref());
        let (upload, note) = read_picture(image).await;
        let mut messages = messages.to_vec();
        if let (Some(note), Some(first)) = (note, messages.first_mut()) {
            first.fields.push(note);
        }
        let body = render_reply(&messages, upload.as_ref().map(|u| u.name.as_str()));
        self.call(Call {
            what: "edit interaction response",
            method: reqwest::Method::PATCH,
            path: format!(
                "/webhooks/{}/{}/messages/@original",
                self.application_id,
                token.as_str()
            ),
            bucket: "WEBHOOK".into(),
            body,
            upload,
            bot_auth: false,
        })
        .await
        .map(|_| ())
    }

    /// `GET /gateway/bot`: the websocket URL to connect to.
    pub async fn gateway_url(&self) -> Result<String, DiscordError> {
        let answer = self
            .call(Call {
                what: "get gateway",
                method: reqwest::Method::GET,
                path: "/gateway/bot".into(),
                bucket: "GATEWAY".into(),
                body: Value::Null,
                upload: None,
                bot_auth: true,
            })
            .await?;
        answer
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("wss://") || u.starts_with("ws://"))
            .map(str::to_string)
            .ok_or_else(|| DiscordError::BadResponse("gateway answer without a ws(s) `url`".into()))
    }

    /// `POST /interactions/{id}/{token}/callback`: the answer to an
    /// interaction that came over the gateway (no bot token needed).
    pub async fn interaction_callback(
        &self,
        id: &str,
        token: &str,
        answer: Value,
    ) -> Result<(), DiscordError> {
        if !is_snowflake(id) || token.is_empty() || token.contains(['/', '?', '#']) {
            return Err(DiscordError::BadResponse(
                "an interaction without a usable id or token".into(),
            ));
        }
        self.call(Call {
            what: "interaction callback",
            method: reqwest::Method::POST,
            path: format!("/interactions/{id}/{token}/callback"),
            bucket: "CALLBACK".into(),
            body: answer,
            upload: None,
            bot_auth: false,
        })
        .await
        .map(|_| ())
    }

    /// `PUT /applications/{app}/commands` (or a guild's, which take effect
    /// at once): replaces the registered slash commands.
    pub async fn register_commands(
        &self,
        guild: Option<&str>,
        commands: Value,
    ) -> Result<usize, DiscordError> {
        let path = match guild {
            Some(g) => format!("/applications/{}/guilds/{g}/commands", self.application_id),
            None => format!("/applications/{}/commands", self.application_id),
        };
        let answer = self
            .call(Call {
                what: "register commands",
                method: reqwest::Method::PUT,
                path,
                bucket: "COMMANDS".into(),
                body: commands,
                upload: None,
                bot_auth: true,
            })
            .await?;
        Ok(answer.as_array().map(Vec::len).unwrap_or(0))
    }
}

/// Reads a message's picture for upload. A picture that cannot be sent
/// (gone, unreadable, too big) does not block the message: it goes without
/// it, saying why.
async fn read_picture(path: Option<&str>) -> (Option<Upload>, Option<crate::chat::message::Field>) {
    let Some(path) = path else {
        return (None, None);
    };
    let name = attachment_name(path);
    let unavailable = |why: String| {
        tracing::warn!(%path, %why, "picture not attached");
        (
            None,
            Some(crate::chat::message::Field {
                name: "Picture".into(),
                value: format!("{name} not attached: {why}"),
            }),
        )
    };
    match tokio::fs::metadata(path).await {
        Ok(m) if m.len() > MAX_UPLOAD => {
            return unavailable(format!("{} bytes, over Discord's 10 MiB", m.len()))
        }
        Ok(_) => {}
        Err(e) => return unavailable(e.to_string()),
    }
    match tokio::fs::read(path).await {
        Ok(bytes) => (Some(Upload { name, bytes }), None),
        Err(e) => unavailable(e.to_string()),
    }
}

#[async_trait::async_trait]
impl ChatSink for DiscordApi {
    fn platform(&self) -> &'static str {
        "discord"
    }

    /// Discord channel ids are snowflakes; everything else belongs to another
    /// platform.
    fn owns(&self, channel: &str) -> bool {
        is_snowflake(channel)
    }

    async fn post(
        &self,
        channel: &str,
        thread: Option<&str>,
        message: &Message,
        key: &str,
    ) -> Result<String, SendError> {
        let target = match thread {
            Some(root) => {
                let name = message
                    .workflow
                    .map(|w| w.to_string())
                    .unwrap_or_else(|| "switchboard".into());
                self.ensure_thread(channel, root, &name).await?;
                root
            }
            None => channel,
        };
        let (upload, note) = read_picture(message.image.as_deref()).await;
        let mut message = message.clone();
        message.fields.extend(note);
        let mut body = render(&message, upload.as_ref().map(|u| u.name.as_str()));
        // A repeat with the same nonce within minutes returns the first
        // message instead of a second one.
        body["nonce"] = json!(key.chars().take(25).collect::<String>());
        body["enforce_nonce"] = json!(true);
        let id = self.create_message(target, body, upload).await?;
        Ok(match thread {
            Some(root) => format!("{root}/{id}"),
            None => id,
        })
    }

    async fn update(&self, channel: &str, id: &str, message: &Message) -> Result<(), SendError> {
        let (channel, id) = id.split_once('/').unwrap_or((channel, id));
        Ok(self.edit_message(channel, id, message).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_waits_as_the_body_then_the_headers_say() {
        assert_eq!(
            retry_after(
                br#"{"message":"You are being rate limited.","retry_after":0.25,"global":false}"#,
                Some("9"),
                Some("9")
            ),
            Duration::from_millis(250)
        );
        assert_eq!(
            retry_after(b"", Some("1.5"), Some("9")),
            Duration::from_millis(1500)
        );
        assert_eq!(
            retry_after(b"not json", None, Some("3")),
            Duration::from_secs(3)
        );
        assert_eq!(retry_after(b"", None, None), DEFAULT_RETRY_AFTER);
        assert_eq!(
            retry_after(br#"{"retry_after":-1}"#, None, None),
            DEFAULT_RETRY_AFTER
        );
        assert_eq!(
            retry_after(br#"{"retry_after":1e9}"#, None, None),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn errors_map_to_the_outboxs_retry_classes() {
        let limited = DiscordError::RateLimited {
            retry_after: Duration::from_secs(2),
        };
        assert_eq!(
            SendError::from(limited),
            SendError::RateLimited(Duration::from_secs(2))
        );
        assert!(matches!(
            SendError::from(DiscordError::Unavailable("HTTP 502".into())),
            SendError::Retryable(_)
        ));
        let missing = DiscordError::Api {
            what: "create message",
            status: 403,
            code: 50001,
            message: "Missing Access".into(),
        };
        assert!(matches!(SendError::from(missing), SendError::Permanent(_)));
    }

    #[test]
    fn the_token_is_never_shown() {
        let api = DiscordApi::new(
            "http://x",
            DiscordToken::new("secret-bot-token"),
            "1",
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{api:?}").contains("secret-bot-token"));
    }
}
