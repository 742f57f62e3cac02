//! A fake cloud REST API on loopback for the discovery peer tests: serves the
//! bodies a test registers per path (pages chosen by a query parameter),
//! checks the bearer token and required query parameters, injects faults per
//! path, and counts requests. Each cloud's test file builds its own bodies
//! (ARM `value`/`nextLink`, Compute `items`/`nextPageToken`) from the vendors'
//! published fixtures; this module knows nothing of either cloud's shapes.

#![allow(dead_code)] // each test binary uses a different part of the fake

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const TOKEN: &str = "fake-token-1234";

/// What a path does instead of answering normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with this body.
    Status(u16, String),
    /// 200 with a body that is not JSON.
    Malformed,
    /// 429 with `Retry-After: secs` for the first `times` requests, then normal.
    Throttle { retry_after_secs: u64, times: u32 },
    /// Never answer (the client's timeout must fire).
    Hang,
}

#[derive(Default)]
struct Route {
    /// Page bodies; a request without the page parameter gets the first.
    pages: Vec<Value>,
    required_query: Vec<(String, String)>,
    fault: Option<Fault>,
    hits: u32,
    /// Answers without a bearer token (a token endpoint).
    open: bool,
}

#[derive(Default)]
struct Inner {
    routes: HashMap<String, Route>,
    /// Paths asked for that had no route, for debugging a failing test.
    misses: Vec<String>,
}

#[derive(Clone)]
pub struct FakeCloud {
    pub base: String,
    page_param: &'static str,
    inner: Arc<Mutex<Inner>>,
}

impl FakeCloud {
    /// Starts on 127.0.0.1 (a free port); `page_param` is the query parameter
    /// that selects a page (`$skiptoken`, `pageToken`) holding its index.
    pub async fn start(page_param: &'static str) -> FakeCloud {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let fake = FakeCloud {
            base,
            page_param,
            inner: Arc::default(),
        };
        let app = Router::new().fallback(handle).with_state(fake.clone());
        // Lives as long as the test's runtime; dropped with it.
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    /// Serves `pages` at `path` (matched case-insensitively, as ARM does).
    pub fn route(&self, path: &str, pages: Vec<Value>, required_query: &[(&str, &str)]) {
        let mut inner = self.inner.lock().expect("fake lock");
        inner.routes.insert(
            path.to_ascii_lowercase(),
            Route {
                pages,
                required_query: required_query
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Route::default()
            },
        );
    }

    /// Serves `body` at `path` to anyone (a token endpoint takes no token).
    pub fn open_route(&self, path: &str, body: Value) {
        let mut inner = self.inner.lock().expect("fake lock");
        inner.routes.insert(
            path.to_ascii_lowercase(),
            Route {
                pages: vec![body],
                open: true,
                ..Route::default()
            },
        );
    }

    pub fn fault(&self, path: &str, fault: Fault) {
        let mut inner = self.inner.lock().expect("fake lock");
        if let Some(route) = inner.routes.get_mut(&path.to_ascii_lowercase()) {
            route.fault = Some(fault);
        } else {
            panic!("no route {path} to fault");
        }
    }

    pub fn hits(&self, path: &str) -> u32 {
        let inner = self.inner.lock().expect("fake lock");
        inner
            .routes
            .get(&path.to_ascii_lowercase())
            .map_or(0, |r| r.hits)
    }

    pub fn misses(&self) -> Vec<String> {
        self.inner.lock().expect("fake lock").misses.clone()
    }

    /// The URL of page `index` of `path` (for a next-page link).
    pub fn page_url(&self, path: &str, index: usize, extra_query: &str) -> String {
        format!(
            "{}{path}?{extra_query}&{}={index}",
            self.base, self.page_param
        )
    }
}

async fn handle(
    State(fake): State<FakeCloud>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (page, fault) = {
        let mut inner = fake.inner.lock().expect("fake lock");
        let path = uri.path().to_ascii_lowercase();
        let Some(route) = inner.routes.get_mut(&path) else {
            inner.misses.push(uri.to_string());
            return error(StatusCode::NOT_FOUND, "ResourceNotFound");
        };
        if !route.open && bearer != format!("Bearer {TOKEN}") {
            return error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
        }
        route.hits += 1;
        for (key, want) in &route.required_query {
            if query.get(key) != Some(want) {
                return error(StatusCode::BAD_REQUEST, &format!("{key} must be {want}"));
            }
        }
        let fault = match &mut route.fault {
            Some(Fault::Throttle { times, .. }) if *times == 0 => None,
            Some(Fault::Throttle {
                times,
                retry_after_secs,
            }) => {
                *times -= 1;
                Some(Fault::Throttle {
                    times: *times,
                    retry_after_secs: *retry_after_secs,
                })
            }
            other => other.clone(),
        };
        let index = query
            .get(fake.page_param)
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(0);
        (route.pages.get(index).cloned(), fault)
    };
    match fault {
        Some(Fault::Status(code, body)) => {
            let status = StatusCode::from_u16(code).expect("status code");
            (status, [("content-type", "application/json")], body).into_response()
        }
        Some(Fault::Malformed) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            "{\"value\": [",
        )
            .into_response(),
        Some(Fault::Throttle {
            retry_after_secs, ..
        }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after_secs.to_string())],
            "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}",
        )
            .into_response(),
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            error(StatusCode::GATEWAY_TIMEOUT, "hung")
        }
        None => match page {
            Some(body) => axum::Json(body).into_response(),
            None => error(StatusCode::NOT_FOUND, "NoSuchPage"),
        },
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": format!("fake: {code}") } });
    (status, axum::Json(body)).into_response()
}

/// Reads a JSON fixture from `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An address nobody listens on: a port bound and released at once.
pub async fn unreachable_base() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    format!("http://{addr}")
}
