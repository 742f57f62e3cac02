//! The Slack Web API calls the adapter needs to post and update cards:
//! `chat.postMessage` (into a thread when given) and `chat.update`, with
//! Slack's answers turned into typed outcomes: posted (channel + ts), rate
//! limited (HTTP 429 with Retry-After), a Slack error that is worth retrying
//! or not, or a transport failure. The base URL is configurable so tests run
//! against a fake Slack on loopback. Neither the bot token nor the app token
//! appears in Debug output or errors.
//!
//! Also: a file a user attached (`url_private_download`), fetched with the
//! bot token only from Slack's file host (`files.slack.com`) or the
//! configured API base's host, redirects included: a URL from a payload
//! never gets the token anywhere else. The bytes are capped while read.
//!
//! Also: `apps.connections.open` (with the app token) for Socket Mode, and
//! the external upload flow for a message's picture (`image`):
//! `files.getUploadURLExternal` → the bytes POSTed to the upload URL Slack
//! gave (no token sent there) → `files.completeUploadExternal` into the
//! message's thread. A picture that cannot be read or that Slack refuses
//! outright does not hold the message back: it goes out with a note saying
//! why; a retryable Slack failure before anything was posted retries the
//! whole message through the outbox.

use crate::chat::delivery::{ChatSink, SendError};
use crate::chat::message::Message;
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

/// An app-level token (`xapp-…`, scope `connections:write`) that opens
/// Socket Mode connections; shown redacted.
#[derive(Clone)]
pub struct AppToken(String);

impl AppToken {
    pub fn new(token: impl Into<String>) -> AppToken {
        AppToken(token.into())
    }
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppToken(redacted)")
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
    /// For users' files: follows redirects only to the allowed file hosts.
    files: reqwest::Client,
    base: String,
    token: BotToken,
}

/// Where users' files are served from.
const SLACK_FILE_HOST: &str = "files.slack.com";

/// Why an attached file was not downloaded; `Display` is for the person who
/// attached it (it names the file, never the token or the URL's query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    #[error("{name} is not on Slack's file host ({host}); it was not fetched")]
    ForeignHost { name: String, host: String },
    #[error("Slack has no file {name} (HTTP 404); it may have been deleted")]
    NotFound { name: String },
    #[error("Slack answered HTTP {status} for {name}; try again later")]
    Status { name: String, status: u16 },
    #[error("Slack answered a web page instead of {name}: the app may lack the files:read scope")]
    WebPage { name: String },
    #[error("{name} is larger than {max} bytes (split it)")]
    TooLarge { name: String, max: usize },
    #[error("{name} could not be fetched: {reason}")]
    Transport { name: String, reason: String },
}

/// Whether the bot token may be sent to `url`: Slack's file host over
/// https, or the API base's own scheme, host and port (a fake in tests).
fn file_url_allowed(url: &reqwest::Url, base: Option<&reqwest::Url>) -> bool {
    let slack = url.scheme() == "https" && url.host_str() == Some(SLACK_FILE_HOST);
    let own = base.is_some_and(|b| {
        b.scheme() == url.scheme()
            && b.host_str().is_some()
            && b.host_str() == url.host_str()
            && b.port_or_known_default() == url.port_or_known_default()
    });
    slack || own
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
        let base = base.into().trim_end_matches('/').to_string();
        let base_url = reqwest::Url::parse(&base).ok();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 || !file_url_allowed(attempt.url(), base_url.as_ref())
            {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let files = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(redirects)
            .build()
            .map_err(|e| SlackError::Transport(e.to_string()))?;
        Ok(SlackApi {
            http,
            files,
            base,
            token,
        })
    }

    /// A POST of `method` with `token`, body still to be added.
    fn request(&self, method: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(token)
    }

    async fn call(&self, method: &'static str, body: Value) -> Result<Value, SlackError> {
        self.send(method, self.request(method, &self.token.0).json(&body))
            .await
    }

    /// Sends a Web API request and turns Slack's answer into a typed outcome.
    async fn send(
        &self,
        method: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, SlackError> {
        let response = request
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
        let mut body = super::blocks::render(message);
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
        // Slack reads this method's arguments from a form (or the query),
        // never from JSON.
        const METHOD: &str = "usergroups.users.list";
        let answer = self
            .send(
                METHOD,
                self.request(METHOD, &self.token.0)
                    .form(&[("usergroup", group)]),
            )
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

impl SlackApi {
    /// A fresh Socket Mode WebSocket URL (`apps.connections.open`, with the
    /// app-level token). The URL carries a one-time ticket: callers must not
    /// log it.
    pub async fn open_connection(&self, app: &AppToken) -> Result<String, SlackError> {
        const METHOD: &str = "apps.connections.open";
        let answer = self
            .send(
                METHOD,
                // No arguments: the token goes in the header (Slack refuses
                // it as a POST parameter here).
                self.request(METHOD, &app.0).header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                ),
            )
            .await?;
        let url = answer
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| SlackError::BadResponse(format!("{METHOD} answer without `url`")))?;
        if !(url.starts_with("wss://") || url.starts_with("ws://")) {
            return Err(SlackError::BadResponse(format!(
                "{METHOD} answered a URL that is not ws:// or wss://"
            )));
        }
        Ok(url.to_string())
    }

    /// Uploads a file's bytes (`files.getUploadURLExternal`, then a POST of
    /// the bytes to the URL Slack gave); it is shared by `share_upload`.
    pub async fn upload(&self, filename: &str, bytes: Vec<u8>) -> Result<FileId, SlackError> {
        const METHOD: &str = "files.getUploadURLExternal";
        let length = bytes.len().to_string();
        let answer = self
            .send(
                METHOD,
                self.request(METHOD, &self.token.0)
                    .form(&[("filename", filename), ("length", length.as_str())]),
            )
            .await?;
        let field = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| SlackError::BadResponse(format!("{METHOD} answer without `{name}`")))
        };
        let (url, id) = (field("upload_url")?, field("file_id")?);
        // The upload URL authorises itself: the bot token is not sent there.
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| SlackError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(SlackError::Transport(format!("file upload: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(SlackError::Api {
                method: "file upload",
                error: format!("HTTP {status}"),
                retryable: false,
            });
        }
        Ok(FileId(id))
    }

    /// Shares uploaded files into a channel, under `thread_ts`
    /// (`files.completeUploadExternal`).
    pub async fn share_upload(
        &self,
        file: &FileId,
        title: &str,
        channel: &str,
        thread_ts: &str,
    ) -> Result<(), SlackError> {
        let body = json!({
            "files": [{"id": file.0, "title": title}],
            "channel_id": channel,
            "thread_ts": thread_ts,
            "initial_comment": title,
        });
        self.call("files.completeUploadExternal", body)
            .await
            .map(|_| ())
    }

    /// Posts a message with its picture: the bytes are uploaded first (a
    /// retryable failure there posts nothing, so the outbox retries the
    /// whole message), then the message, then the picture is shared in the
    /// message's thread. A picture that cannot be read or is refused
    /// outright is replaced by a note; the message always goes out.
    async fn post_with_image(
        &self,
        channel: &str,
        thread: Option<&str>,
        message: &Message,
        path: &str,
    ) -> Result<String, SlackError> {
        let filename = path.rsplit('/').next().unwrap_or(path).to_string();
        let uploaded = match read_image(path).await {
            Ok(bytes) => match self.upload(&filename, bytes).await {
                Ok(file) => Ok(file),
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        };
        let file = match uploaded {
            Ok(file) => file,
            Err(why) => {
                tracing::warn!(picture = %filename, %why, "picture not attached; the message goes without it");
                let noted = with_note(message, &format!("picture not attached: {why}"));
                return Ok(self.post_message(channel, thread, &noted).await?.ts);
            }
        };
        let ts = self.post_message(channel, thread, message).await?.ts;
        // Into the workflow's thread, else under the message itself; Slack
        // wants the thread's root, never a reply's ts.
        let root = thread.unwrap_or(&ts);
        let title = message.title.as_deref().unwrap_or(&filename);
        if let Err(e) = self.share_upload(&file, title, channel, root).await {
            // The message is out: retrying it would post it twice. Say so on
            // the message instead.
            tracing::warn!(picture = %filename, error = %e, "picture uploaded but not shared");
            let noted = with_note(message, &format!("picture not shared: {e}"));
            if let Err(e) = self.update_message(channel, &ts, &noted).await {
                tracing::warn!(error = %e, "the note about the picture was not added");
            }
        }
        Ok(ts)
    }
}

impl SlackApi {
    /// A file a user attached, at most `max` bytes, fetched with the bot
    /// token; `name` is how errors call it. A URL off the allowed hosts is
    /// refused before any request.
    pub async fn download_file(
        &self,
        name: &str,
        url: &str,
        max: usize,
    ) -> Result<Vec<u8>, DownloadError> {
        let name = name.to_string();
        let parsed = reqwest::Url::parse(url).map_err(|_| DownloadError::ForeignHost {
            name: name.clone(),
            host: "not a URL".into(),
        })?;
        let base = reqwest::Url::parse(&self.base).ok();
        if !file_url_allowed(&parsed, base.as_ref()) {
            return Err(DownloadError::ForeignHost {
                name,
                host: parsed
                    .host_str()
                    .unwrap_or("no host")
                    .chars()
                    .take(100)
                    .collect(),
            });
        }
        let transport = |name: &str, e: reqwest::Error| DownloadError::Transport {
            name: name.to_string(),
            // Without the URL: a file URL is not for the log or the channel.
            reason: e.without_url().to_string(),
        };
        let mut response = self
            .files
            .get(parsed)
            .bearer_auth(&self.token.0)
            .send()
            .await
            .map_err(|e| transport(&name, e))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(DownloadError::NotFound { name });
        }
        if !status.is_success() {
            return Err(DownloadError::Status {
                name,
                status: status.as_u16(),
            });
        }
        let html = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
        if html {
            return Err(DownloadError::WebPage { name });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(&name, e))? {
            if bytes.len() + chunk.len() > max {
                return Err(DownloadError::TooLarge { name, max });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// An uploaded file not yet shared (`files.getUploadURLExternal`'s `file_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileId(pub String);

/// The largest picture uploaded (topology PNGs are far smaller).
const MAX_IMAGE_BYTES: u64 = 16 * 1024 * 1024;

/// A picture's bytes, or why it cannot be sent (naming the file).
async fn read_image(path: &str) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(format!(
            "{path} is larger than {} MiB",
            MAX_IMAGE_BYTES / 1024 / 1024
        ));
    }
    if bytes.is_empty() {
        return Err(format!("{path} is empty"));
    }
    Ok(bytes)
}

/// The message without its picture, a note in its place.
fn with_note(message: &Message, note: &str) -> Message {
    let mut noted = message.clone();
    noted.image = None;
    noted.text = if noted.text.is_empty() {
        format!("({note})")
    } else {
        format!("{}\n({note})", noted.text)
    };
    noted
}

/// A message's Block Kit body for `channel`, with one more field (`ts` of
/// the message to update, `user` of an ephemeral).
fn message_body(message: &Message, channel: &str, key: &str, value: &str) -> Value {
    let mut body = super::blocks::render(message);
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
        match &message.image {
            Some(path) => Ok(self.post_with_image(channel, thread, message, path).await?),
            None => Ok(self.post_message(channel, thread, message).await?.ts),
        }
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

    #[test]
    fn the_bot_token_goes_only_to_slack_files_or_the_api_base_host() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let base = url("http://127.0.0.1:4000/api");
        let allowed = |u: &str| file_url_allowed(&url(u), Some(&base));
        assert!(allowed(
            "https://files.slack.com/files-pri/T1-F1/download/a.csv"
        ));
        assert!(allowed("http://127.0.0.1:4000/files/a.csv"));
        assert!(
            !allowed("http://files.slack.com/files-pri/a.csv"),
            "not over http"
        );
        assert!(!allowed("https://files.slack.com.evil.example/a.csv"));
        assert!(!allowed("https://evil.example/a.csv"));
        assert!(
            !allowed("http://127.0.0.1:4001/files/a.csv"),
            "another port"
        );
        assert!(
            !allowed("https://127.0.0.1:4000/files/a.csv"),
            "another scheme"
        );
        assert!(!file_url_allowed(&url("http://127.0.0.1:4000/x"), None));
    }

    #[tokio::test]
    async fn a_foreign_file_url_is_refused_without_a_request() {
        let (base, mut seen) = fake_slack(vec![]).await;
        let api = api(&base);
        let err = api
            .download_file("rows.csv", "https://attacker.example/rows.csv", 1024)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            DownloadError::ForeignHost {
                name: "rows.csv".into(),
                host: "attacker.example".into()
            }
        );
        assert!(seen.try_recv().is_err());
    }
}
