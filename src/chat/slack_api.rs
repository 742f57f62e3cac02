//! The Slack Web API calls the adapter needs to post and update cards:
//! `chat.postMessage` (into a thread when given) and `chat.update`, with
//! Slack's answers turned into typed outcomes: posted (channel + ts), rate
//! limited (HTTP 429 with Retry-After), a Slack error that is worth retrying
//! or not, or a transport failure. The base URL is configurable so tests run
//! against a fake Slack on loopback. The bot token never appears in Debug
//! output or errors.

use super::delivery::{ChatSink, SendError};
use super::message::Message;
use super::slack_blocks;
use serde_json::{json, Value};
use std::time::Duration;

pub const SLACK_API: &str = "https://slack.com/api";

/// A bot token (`xoxb-…`); shown redacted.
#[derive(Clone)]
pub struct BotToken(String);

impl BotToken {
    pub fn new(token: impl Into<String>) -> BotToken {
        BotToken(token.into())
    }
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotToken(redacted)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    #[error("Slack rate limit: retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("Slack {method} failed: {error}")]
    Api {
        method: &'static str,
        error: String,
        retryable: bool,
    },
    #[error("could not reach Slack: {0}")]
    Transport(String),
    #[error("Slack answered something unexpected: {0}")]
    BadResponse(String),
}

impl SlackError {
    /// Whether sending again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SlackError::RateLimited { .. } | SlackError::Transport(_) => true,
            SlackError::Api { retryable, .. } => *retryable,
            SlackError::BadResponse(_) => false,
        }
    }
}

/// Where a message landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, Clone)]
pub struct SlackApi {
    http: reqwest::Client,
    base: String,
    token: BotToken,
}

/// Slack errors that say "try again later" rather than "this will never work".
const RETRYABLE: &[&str] = &[
    "ratelimited",
    "internal_error",
    "service_unavailable",
    "request_timeout",
    "fatal_error",
];

/// When Slack sends no usable Retry-After.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

impl SlackApi {
    pub fn new(
        base: impl Into<String>,
        token: BotToken,
        timeout: Duration,
    ) -> Result<SlackApi, SlackError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| SlackError::Transport(e.to_string()))?;
        Ok(SlackApi {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            token,
        })
    }

    async fn call(&self, method: &'static str, body: Value) -> Result<Value, SlackError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.token.0)
            .json(&body)
            .send()
            .await
            // reqwest's errors carry the URL, never the token.
            .map_err(|e| SlackError::Transport(e.to_string()))?;
        if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .min(MAX_RETRY_AFTER);
            return Err(SlackError::RateLimited { retry_after });
        }
        let status = response.status();
        if status.is_server_error() {
            return Err(SlackError::Transport(format!("HTTP {status}")));
        }
        let value: Value = response
            .json()
            .await
            .map_err(|e| SlackError::BadResponse(format!("HTTP {status}: {e}")))?;
        match value.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(value),
            Some(false) => {
                let error = value
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown_error")
                    .chars()
                    .take(100)
                    .collect::<String>();
                Err(SlackError::Api {
                    method,
                    retryable: RETRYABLE.contains(&error.as_str()),
                    error,
                })
            }
            None => Err(SlackError::BadResponse(format!(
                "HTTP {status} without `ok`"
            ))),
        }
    }

    /// Posts a message, into `thread_ts`'s thread when given.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        message: &Message,
    ) -> Result<Posted, SlackError> {
        let mut body = slack_blocks::render(message);
        body["channel"] = json!(channel);
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", body).await?;
        let field = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    SlackError::BadResponse(format!("chat.postMessage answer without `{name}`"))
                })
        };
        Ok(Posted {
            channel: field("channel")?,
            ts: field("ts")?,
        })
    }

    /// Replaces a posted message (a card after a decision).
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        message: &Message,
    ) -> Result<(), SlackError> {
        let body = message_body(message, channel, "ts", ts);
        self.call("chat.update", body).await.map(|_| ())
    }

    /// Opens the modal that asks for a rejection reason (`views.open`).
    pub async fn open_view(&self, trigger_id: &str, view: Value) -> Result<(), SlackError> {
        self.call(
            "views.open",
            json!({"trigger_id": trigger_id, "view": view}),
        )
        .await
        .map(|_| ())
    }

    /// A message only `user` sees (`chat.postEphemeral`).
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        message: &Message,
    ) -> Result<(), SlackError> {
        let body = message_body(message, channel, "user", user);
        self.call("chat.postEphemeral", body).await.map(|_| ())
    }

    /// The members of a user group (`usergroups.users.list`).
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let answer = self
            .call("usergroups.users.list", json!({"usergroup": group}))
            .await?;
        let users = answer
            .get("users")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                SlackError::BadResponse("usergroups.users.list answer without `users`".into())
            })?;
        Ok(users
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect())
    }
}

/// A message's Block Kit body for `channel`, with one more field (`ts` of
/// the message to update, `user` of an ephemeral).
fn message_body(message: &Message, channel: &str, key: &str, value: &str) -> Value {
    let mut body = slack_blocks::render(message);
    body["channel"] = json!(channel);
    body[key] = json!(value);
    body
}

impl From<SlackError> for SendError {
    fn from(e: SlackError) -> SendError {
        match e {
            SlackError::RateLimited { retry_after } => SendError::RateLimited(retry_after),
            e if e.is_retryable() => SendError::Retryable(e.to_string()),
            e => SendError::Permanent(e.to_string()),
        }
    }
}

#[async_trait::async_trait]
impl ChatSink for SlackApi {
    fn platform(&self) -> &'static str {
        "slack"
    }

    async fn post(
        &self,
        channel: &str,
        thread: Option<&str>,
        message: &Message,
        // chat.postMessage takes no idempotency key.
        _key: &str,
    ) -> Result<String, SendError> {
        Ok(self.post_message(channel, thread, message).await?.ts)
    }

    async fn update(&self, channel: &str, id: &str, message: &Message) -> Result<(), SendError> {
        Ok(self.update_message(channel, id, message).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One request as the fake Slack saw it.
    #[derive(Debug)]
    struct Seen {
        path: String,
        authorization: String,
        body: Value,
    }

    /// A fake Slack Web API: answers each connection with the next canned
    /// reply and reports what it received.
    async fn fake_slack(
        replies: Vec<String>,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<Seen>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            for reply in replies {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let length: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        while buf.len() < end + 4 + length {
                            let n = conn.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, buf[end + 4..].to_vec());
                    }
                };
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let authorization = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("authorization: ")
                            .or_else(|| l.strip_prefix("Authorization: "))
                    })
                    .unwrap_or("")
                    .to_string();
                let _ = tx.send(Seen {
                    path,
                    authorization,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let _ = conn.write_all(reply.as_bytes()).await;
            }
        });
        (format!("http://{addr}/api"), rx)
    }

    fn ok(body: &str) -> String {
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
    }

    fn api(base: &str) -> SlackApi {
        SlackApi::new(
            base,
            BotToken::new("xoxb-test-token"),
            Duration::from_secs(5),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_card_is_posted_into_its_thread_with_the_bot_token() {
        let (base, mut seen) = fake_slack(vec![ok(
            r#"{"ok":true,"channel":"C123","ts":"1700000000.000100"}"#,
        )])
        .await;
        let card = Message::text("hello").with_title("wf-7 · approval needed");
        let posted = api(&base)
            .post_message("C123", Some("1699999999.000001"), &card)
            .await
            .unwrap();
        assert_eq!(
            posted,
            Posted {
                channel: "C123".into(),
                ts: "1700000000.000100".into()
            }
        );
        let request = seen.recv().await.unwrap();
        assert_eq!(request.path, "/api/chat.postMessage");
        assert_eq!(request.authorization, "Bearer xoxb-test-token");
        assert_eq!(request.body["channel"], "C123");
        assert_eq!(request.body["thread_ts"], "1699999999.000001");
        assert_eq!(
            request.body["blocks"][0]["text"]["text"],
            "wf-7 · approval needed"
        );
    }

    #[tokio::test]
    async fn rate_limits_and_slack_errors_are_typed() {
        let limited = "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string();
        let (base, _seen) = fake_slack(vec![
            limited,
            ok(r#"{"ok":false,"error":"channel_not_found"}"#),
            ok(r#"{"ok":false,"error":"service_unavailable"}"#),
            ok("not json"),
        ])
        .await;
        let api = api(&base);
        let m = Message::text("x");
        let e = api.post_message("C1", None, &m).await.unwrap_err();
        assert_eq!(
            e,
            SlackError::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        assert!(e.is_retryable());
        let e = api.post_message("C1", None, &m).await.unwrap_err();
        assert!(matches!(&e, SlackError::Api { error, .. } if error == "channel_not_found"));
        assert!(!e.is_retryable());
        let e = api.update_message("C1", "1.2", &m).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let e = api.post_message("C1", None, &m).await.unwrap_err();
        assert!(matches!(e, SlackError::BadResponse(_)));
    }

    #[tokio::test]
    async fn an_unreachable_slack_is_a_retryable_transport_error_without_the_token() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = api(&format!("http://{addr}/api"))
            .post_message("C1", None, &Message::text("x"))
            .await
            .unwrap_err();
        assert!(e.is_retryable());
        assert!(!e.to_string().contains("xoxb-test-token"));
        assert!(!format!("{:?}", api("http://x")).contains("xoxb"));
    }
}
