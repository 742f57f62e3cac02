//! `FakeSlack` is the Slack Web API stand-in the bench and the integration
//! tests share: it answers every method Switchboard calls, records each call
//! it accepted (method, bearer token and body, JSON or form), and can answer
//! HTTP 500 or 429 with `Retry-After` for the first calls. It serves the
//! external file upload too (the upload URL is on the fake itself, and the
//! bytes are recorded) and answers `apps.connections.open` with the
//! WebSocket URL a test set (`set_socket_url`). It serves users' files too
//! (`serve_file`: a URL on itself answering the status, content type and
//! bytes a test chose), recording each download as a `files.download` call
//! with its bearer token.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A fault the fake answers with instead of the normal reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeFault {
    ServerError,
    RateLimited { retry_after_secs: u64 },
}

/// One call the fake accepted.
#[derive(Debug, Clone)]
pub struct FakeCall {
    pub method: String,
    /// The bearer token it came with (which token a method gets matters).
    pub token: String,
    /// The JSON body, or a form body as an object of strings.
    pub body: Value,
}

/// Bytes POSTed to an upload URL the fake handed out.
#[derive(Debug, Clone)]
pub struct FakeUpload {
    pub file_id: String,
    pub bytes: Vec<u8>,
}

/// What a file URL on the fake answers.
#[derive(Debug, Clone)]
pub struct FakeFile {
    pub status: u16,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl FakeFile {
    /// A file served with HTTP 200.
    pub fn ok(content_type: &str, bytes: impl Into<Vec<u8>>) -> FakeFile {
        FakeFile {
            status: 200,
            content_type: content_type.to_string(),
            bytes: bytes.into(),
        }
    }
}

#[derive(Default)]
struct FakeState {
    /// `http://addr`, for the upload URLs it hands out.
    origin: String,
    calls: Mutex<Vec<FakeCall>>,
    faults: Mutex<VecDeque<FakeFault>>,
    group_members: Mutex<Vec<String>>,
    next_ts: Mutex<u64>,
    next_file: Mutex<u64>,
    uploads: Mutex<Vec<FakeUpload>>,
    socket_url: Mutex<Option<String>>,
    files: Mutex<std::collections::HashMap<String, FakeFile>>,
    /// Requests Slack would have refused, and why.
    refused: Mutex<Vec<String>>,
}

pub struct FakeSlack {
    state: Arc<FakeState>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FakeSlack {
    pub async fn start() -> Result<FakeSlack, std::io::Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(FakeState {
            origin: format!("http://{addr}"),
            ..FakeState::default()
        });
        let app = axum::Router::new()
            .route("/api/{method}", axum::routing::post(fake_method))
            .route("/upload/{file}", axum::routing::post(fake_upload))
            .route("/files/{name}", axum::routing::get(fake_file))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeSlack { state, addr, task })
    }

    /// The base URL to configure as `[slack] api_base`.
    pub fn base(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The next calls get these answers, in order, before normal ones.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = FakeFault>) {
        lock(&self.state.faults).extend(faults);
    }

    pub fn set_group_members(&self, members: Vec<String>) {
        *lock(&self.state.group_members) = members;
    }

    /// Requests Slack would have refused (an argument it could not read),
    /// with why: a test that sees one has found a bug.
    pub fn refused(&self) -> Vec<String> {
        lock(&self.state.refused).clone()
    }

    pub fn calls(&self) -> Vec<FakeCall> {
        lock(&self.state.calls).clone()
    }

    /// What `apps.connections.open` answers from now on.
    pub fn set_socket_url(&self, url: impl Into<String>) {
        *lock(&self.state.socket_url) = Some(url.into());
    }

    /// Serves `file` at a URL on the fake (returned), as Slack serves
    /// `url_private_download`.
    pub fn serve_file(&self, name: &str, file: FakeFile) -> String {
        lock(&self.state.files).insert(name.to_string(), file);
        format!("{}/files/{name}", self.state.origin)
    }

    pub fn uploads(&self) -> Vec<FakeUpload> {
        lock(&self.state.uploads).clone()
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn fake_upload(
    State(state): State<Arc<FakeState>>,
    Path(file_id): Path<String>,
    body: Bytes,
) -> Response {
    let length = body.len();
    lock(&state.uploads).push(FakeUpload {
        file_id,
        bytes: body.to_vec(),
    });
    (StatusCode::OK, format!("OK - {length}")).into_response()
}

async fn fake_file(
    State(state): State<Arc<FakeState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    lock(&state.calls).push(FakeCall {
        method: "files.download".into(),
        token: bearer(&headers),
        body: json!({"file": name}),
    });
    let Some(file) = lock(&state.files).get(&name).cloned() else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let status = StatusCode::from_u16(file.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, file.bytes).into_response();
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        response.headers_mut().insert("content-type", v);
    }
    response
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string()
}

/// Content types and required arguments per Web API method, as Slack
/// documents them (tests/fixtures/slack/methods.json).
const METHODS: &str = include_str!("../../tests/fixtures/slack/methods.json");

/// What Slack takes for `method`: whether it reads a JSON body, and the
/// arguments it requires besides the token. `None` for a method the facts
/// do not cover.
fn method_facts(method: &str) -> Option<(bool, Vec<String>)> {
    let facts: Value = serde_json::from_str(METHODS).ok()?;
    let entry = facts["methods"]
        .as_array()?
        .iter()
        .find(|m| m["method"] == method)?;
    // `"unknown"` is taken as accepted: only a documented refusal refuses.
    let json = entry["content_types"]["application/json"] != Value::Bool(false);
    let required = entry["required_arguments"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .filter(|a| *a != "token")
        .map(str::to_string)
        .collect();
    Some((json, required))
}

/// The arguments Slack reads from a request: a JSON body where the method
/// takes JSON, a form body as strings; none from a body it does not read.
fn fake_body(headers: &HeaderMap, body: &[u8], takes_json: bool) -> Value {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        return match (takes_json, serde_json::from_slice(body)) {
            (true, Ok(value)) => value,
            _ => json!({}),
        };
    }
    let text = String::from_utf8_lossy(body);
    Value::Object(
        crate::chat::slack::blocks::form_pairs(&text)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

async fn fake_method(
    State(state): State<Arc<FakeState>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = lock(&state.faults).pop_front();
    match fault {
        Some(FakeFault::ServerError) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response()
        }
        Some(FakeFault::RateLimited { retry_after_secs }) => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "").into_response();
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert("retry-after", v);
            }
            return response;
        }
        None => {}
    }
    let (takes_json, required) = method_facts(&method).unwrap_or((true, Vec::new()));
    let body = fake_body(&headers, &body, takes_json);
    let token = bearer(&headers);
    let missing: Vec<&String> = required
        .iter()
        .filter(|a| body.get(a.as_str()).is_none_or(|v| v.is_null() || v == ""))
        .collect();
    if !missing.is_empty() {
        // What Slack answers when it finds no argument it needs (a JSON
        // body to a method that reads only forms looks exactly like this).
        let messages: Vec<String> = missing
            .iter()
            .map(|a| format!("[ERROR] missing required field: {a}"))
            .collect();
        lock(&state.refused).push(format!("{method}: missing {missing:?}"));
        return axum::Json(json!({"ok": false, "error": "invalid_arguments",
            "response_metadata": {"messages": messages}}))
        .into_response();
    }
    let answer = match method.as_str() {
        "chat.postMessage" => {
            let ts = {
                let mut next = lock(&state.next_ts);
                *next += 1;
                format!("1700000000.{:06}", *next)
            };
            json!({"ok": true, "channel": body["channel"], "ts": ts})
        }
        "chat.update" => json!({"ok": true, "channel": body["channel"], "ts": body["ts"]}),
        "chat.postEphemeral" => json!({"ok": true, "message_ts": "1700000000.999999"}),
        "views.open" => json!({"ok": true, "view": {"id": "V1"}}),
        "usergroups.users.list" => json!({"ok": true, "users": *lock(&state.group_members)}),
        "apps.connections.open" => match lock(&state.socket_url).clone() {
            Some(url) => json!({"ok": true, "url": url}),
            None => json!({"ok": false, "error": "socket_mode_not_served"}),
        },
        "files.getUploadURLExternal" => {
            let id = {
                let mut next = lock(&state.next_file);
                *next += 1;
                format!("F{:04}", *next)
            };
            json!({"ok": true, "file_id": id, "upload_url": format!("{}/upload/{id}", state.origin)})
        }
        "files.completeUploadExternal" => {
            let uploaded = lock(&state.uploads);
            let ids: Vec<&str> = body["files"]
                .as_array()
                .map(|files| files.iter().filter_map(|f| f["id"].as_str()).collect())
                .unwrap_or_default();
            if !ids.is_empty()
                && ids
                    .iter()
                    .all(|id| uploaded.iter().any(|u| u.file_id == *id))
            {
                json!({"ok": true, "files": body["files"]})
            } else {
                json!({"ok": false, "error": "file_not_found"})
            }
        }
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    lock(&state.calls).push(FakeCall {
        method,
        token,
        body,
    });
    axum::Json(answer).into_response()
}

/// Slack's v0 signature headers for `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// `payload=<url-encoded JSON>`, as Slack posts interactions.
pub fn form_payload(payload: &Value) -> String {
    let mut out = String::from("payload=");
    for b in payload.to_string().bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
