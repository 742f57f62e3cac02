//! A fake Anthropic / OpenAI-compatible server on loopback: answers
//! `POST /v1/messages` and `POST /v1/chat/completions` from a script of
//! recorded responses (`tests/fixtures/llm`), the last one repeating, and
//! records every request it received (path, headers, body) so tests assert
//! on what a real peer would have seen. It runs on its own thread and
//! runtime, so both async library tests and tests that run the binary can
//! use it.

#![allow(dead_code)] // each test binary uses a different part of the fake

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this JSON.
    Ok(Value),
    /// This status, body and `retry-after` (seconds), if any.
    Status(u16, Value, Option<u64>),
    /// 200 with a body that is not JSON at all.
    NotJson,
    /// The JSON, after holding the request this long.
    Slow(Duration, Value),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    last: Option<Reply>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct FakeLlm {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

/// A recorded response from `tests/fixtures/llm`.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/llm")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// A recorded answer with its text replaced (Anthropic or OpenAI shape).
pub fn with_text(mut answer: Value, text: &str) -> Value {
    if let Some(t) = answer.pointer_mut("/content/0/text") {
        *t = Value::String(text.into());
    } else if let Some(t) = answer.pointer_mut("/choices/0/message/content") {
        *t = Value::String(text.into());
    } else {
        panic!("not a recorded answer: {answer}");
    }
    answer
}

/// The model text of a recorded answer.
pub fn text_of(answer: &Value) -> String {
    answer
        .pointer("/content/0/text")
        .or_else(|| answer.pointer("/choices/0/message/content"))
        .and_then(Value::as_str)
        .expect("answer text")
        .to_string()
}

impl FakeLlm {
    /// Starts on 127.0.0.1 (a free port), answering `default` to everything
    /// until a script is queued.
    pub fn start(default: Reply) -> FakeLlm {
        let inner = Arc::new(Mutex::new(Inner {
            last: Some(default),
            ..Inner::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = inner.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                let addr = listener.local_addr().expect("local addr");
                tx.send(addr).expect("send address");
                let app = axum::Router::new().fallback(
                    move |uri: Uri, headers: HeaderMap, body: Bytes| {
                        let state = state.clone();
                        async move { answer(state, uri, headers, body).await }
                    },
                );
                // Serves until the test process exits.
                let _ = axum::serve(listener, app).await;
            });
        });
        let addr = rx.recv().expect("fake address");
        FakeLlm {
            base: format!("http://{addr}"),
            inner,
        }
    }

    /// Answers the next requests with these, in order; the last one then repeats.
    pub fn script(&self, replies: Vec<Reply>) {
        let mut inner = self.inner.lock().expect("fake lock");
        inner.script.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("fake lock").received.clone()
    }

    pub fn hits(&self) -> usize {
        self.inner.lock().expect("fake lock").received.len()
    }
}

async fn answer(state: Arc<Mutex<Inner>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let reply = {
        let mut inner = state.lock().expect("fake lock");
        inner.received.push(Received {
            path: uri.path().to_string(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        match inner.script.pop_front() {
            Some(next) => {
                inner.last = Some(next.clone());
                next
            }
            None => inner.last.clone().expect("a default reply"),
        }
    };
    if !matches!(uri.path(), "/v1/messages" | "/v1/chat/completions") {
        return (StatusCode::NOT_FOUND, "no such API").into_response();
    }
    match reply {
        Reply::Ok(json) => axum::Json(json).into_response(),
        Reply::Status(status, json, retry_after) => {
            let status = StatusCode::from_u16(status).expect("status");
            let mut response = (status, axum::Json(json)).into_response();
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", secs.to_string().parse().expect("header"));
            }
            response
        }
        Reply::NotJson => (StatusCode::OK, "<html>gateway hiccup</html>").into_response(),
        Reply::Slow(delay, json) => {
            tokio::time::sleep(delay).await;
            axum::Json(json).into_response()
        }
    }
}
