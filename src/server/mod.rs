//! `switchboard serve`: the long-running bot. Slack reaches it over Socket
//! Mode (`chat::slack_socket`, when `SLACK_APP_TOKEN` is set) and/or the HTTP
//! endpoint (when `SLACK_SIGNING_SECRET` is set): one HTTP listener (axum)
//! serves Slack's Events API and interactivity at `POST /slack/events`, plus
//! `GET /healthz` and `GET /metrics`; beside it run the workflow engine, the
//! outbox delivery worker, the scheduled discovery refresh, the daily cost
//! digest (`[digest] schedule`), the batch watcher, and a bounded pool of
//! background tasks that do what Slack asked, whichever way it came.
//!
//! Invariants:
//! - The signature is verified (and the replay guard consulted) before the
//!   body is parsed; a refused request leaves no trace in the store.
//! - Slack gets its HTTP 200 as soon as the request is verified, decoded and
//!   queued: the work happens in the background pool (Slack's limit is 3 s).
//!   A full queue answers 503, so Slack retries rather than the work being
//!   lost.
//! - Every task is spawned here, in `Server::start`, and joined by
//!   `Server::shutdown`; queued requests are finished before it returns.
//! - Tokens and the signing secret come from the environment only and are
//!   never logged.

pub mod metrics;

use crate::app::App;
use crate::chat::delivery::{Delivery, DeliverySettings};
use crate::chat::signing::{header_time, verify_slack, ReplayGuard};
use crate::chat::slack::{Admitted, Intake, SlackAdapter};
use crate::chat::slack_api::{AppToken, BotToken, SlackApi, SlackError};
use crate::chat::slack_events::{decode, event_id, SlackRequest};
use crate::chat::slack_socket::{SocketMode, SocketSettings, SocketStats};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use metrics::{Gauges, Metrics};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0} is not set: {1}")]
    MissingEnv(&'static str, &'static str),
    #[error("neither SLACK_APP_TOKEN (Socket Mode: an app-level token xapp-… with connections:write, Basic Information → App-Level Tokens) nor SLACK_SIGNING_SECRET (the HTTP endpoint: Basic Information → App Credentials) is set")]
    NoTransport,
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Slack(#[from] SlackError),
}

/// Slack's signing secret; shown redacted.
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    pub fn new(secret: impl Into<Vec<u8>>) -> SigningSecret {
        SigningSecret(secret.into())
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(redacted)")
    }
}

/// What Slack gave the app at install; from the environment only. The
/// signing secret turns on the HTTP endpoint, the app token Socket Mode; at
/// least one of them is set, and both may be.
#[derive(Debug, Clone)]
pub struct SlackCredentials {
    pub signing_secret: Option<SigningSecret>,
    pub app_token: Option<AppToken>,
    pub bot_token: BotToken,
}

impl SlackCredentials {
    /// `SLACK_BOT_TOKEN`, and `SLACK_APP_TOKEN` and/or `SLACK_SIGNING_SECRET`.
    pub fn from_env() -> Result<SlackCredentials, ServeError> {
        let read = |name: &'static str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let credentials = SlackCredentials {
            signing_secret: read("SLACK_SIGNING_SECRET").map(SigningSecret::new),
            app_token: read("SLACK_APP_TOKEN").map(AppToken::new),
            bot_token: BotToken::new(read("SLACK_BOT_TOKEN").ok_or(ServeError::MissingEnv(
                "SLACK_BOT_TOKEN",
                "the bot token xoxb-… (OAuth & Permissions)",
            ))?),
        };
        if credentials.signing_secret.is_none() && credentials.app_token.is_none() {
            return Err(ServeError::NoTransport);
        }
        Ok(credentials)
    }
}

#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    pub slack: SlackCredentials,
    /// Slack's Web API base (`https://slack.com/api`; a fake in tests).
    pub slack_api: String,
    pub slack_timeout: Duration,
    pub delivery: DeliverySettings,
    pub socket: SocketSettings,
    /// Background tasks doing what acknowledged requests ask.
    pub workers: usize,
    /// Acknowledged requests waiting for a background task.
    pub queue: usize,
}

impl ServeSettings {
    pub fn new(listen: SocketAddr, slack: SlackCredentials, slack_api: String) -> ServeSettings {
        ServeSettings {
            listen,
            slack,
            slack_api,
            slack_timeout: Duration::from_secs(10),
            delivery: DeliverySettings::default(),
            socket: SocketSettings::default(),
            workers: 8,
            queue: 1024,
        }
    }
}

/// Signatures remembered for the replay check (a window's worth at 300/s).
const REPLAY_CAPACITY: usize = 100_000;

struct Shared {
    secret: SigningSecret,
    replay: Mutex<ReplayGuard>,
    /// The queue to the adapter, and the event ids already taken: Slack
    /// resends an event (newly signed, with `X-Slack-Retry-Num`) when our
    /// 200 did not reach it in time.
    intake: Intake,
    metrics: Arc<Metrics>,
}

/// Scrape-time sources for `/metrics`.
struct MetricsSources {
    metrics: Arc<Metrics>,
    store: crate::store::Store,
    delivery: Delivery,
    socket: Option<Arc<SocketStats>>,
}

pub struct Server {
    addr: SocketAddr,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

impl Server {
    /// Binds the listener and starts every part; returns once it listens.
    pub async fn start(app: &App, settings: ServeSettings) -> Result<Server, ServeError> {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: settings.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Listen {
            addr: settings.listen,
            source,
        })?;
        let api = SlackApi::new(
            settings.slack_api.clone(),
            settings.slack.bot_token.clone(),
            settings.slack_timeout,
        )?;
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let engine = app.engine.clone();
        let engine_cancel = cancel.clone();
        tasks.spawn(async move {
            if let Err(e) = engine.run(engine_cancel).await {
                tracing::error!(error = %e, "the workflow engine stopped");
            }
        });
        if let Some(schedule) = app.discovery_schedule(cancel.clone()) {
            tasks.spawn(schedule);
        }
        tasks.spawn(app.bulk().watch(cancel.clone()));
        if let Some(digest) = app.digest_schedule(cancel.clone()) {
            tasks.spawn(digest);
        }
        let delivery = Delivery::new(
            app.store.clone(),
            Arc::new(api.clone()),
            settings.delivery.clone(),
        );
        tasks.spawn(delivery.clone().run(cancel.clone()));

        let adapter = Arc::new(SlackAdapter::new(
            app.router(),
            app.engine.clone(),
            api.clone(),
            delivery.clone(),
        ));
        let (intake, queue) = Intake::new(settings.queue);
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        for _ in 0..settings.workers.max(1) {
            let queue = queue.clone();
            let adapter = adapter.clone();
            // Ends when the transports (the only senders) are gone and the
            // queue is drained.
            tasks.spawn(async move {
                loop {
                    let next = queue.lock().await.recv().await;
                    let Some(request) = next else { return };
                    adapter.handle(request).await;
                }
            });
        }

        let socket = settings.slack.app_token.clone().map(|token| {
            let socket = SocketMode::new(api, token, intake.clone(), settings.socket.clone());
            let stats = socket.stats();
            tasks.spawn(socket.run(cancel.clone()));
            stats
        });

        let metrics = Arc::new(Metrics::default());
        let sources = Arc::new(MetricsSources {
            metrics: metrics.clone(),
            store: app.store.clone(),
            delivery,
            socket,
        });
        let mut router = axum::Router::new();
        if let Some(secret) = settings.slack.signing_secret.clone() {
            let shared = Arc::new(Shared {
                secret,
                replay: Mutex::new(ReplayGuard::new(REPLAY_CAPACITY)),
                intake,
                metrics: metrics.clone(),
            });
            router = router.route("/slack/events", post(slack_events).with_state(shared));
        }
        let router = router
            .route("/metrics", get(metrics_text).with_state(sources))
            .route("/healthz", get(healthz).with_state(metrics));
        let http_cancel = cancel.clone();
        tasks.spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(http_cancel.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the HTTP server stopped");
            }
        });
        tracing::info!(
            %addr,
            socket_mode = settings.slack.app_token.is_some(),
            http_events = settings.slack.signing_secret.is_some(),
            "serving Slack, /healthz and /metrics"
        );
        Ok(Server {
            addr,
            cancel,
            tasks,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, finishes queued requests, stops every task and waits
    /// for them.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "a serve task ended abnormally");
            }
        }
    }

    /// Runs until `stop` resolves, then shuts down.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) {
        stop.await;
        self.shutdown().await;
    }
}

type Answer = (StatusCode, [(header::HeaderName, &'static str); 1], String);

fn answer(status: StatusCode, body: impl Into<String>) -> Answer {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
}

async fn slack_events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let started = Instant::now();
    let reply = shared.events(&headers, &body);
    shared.metrics.ack(started.elapsed());
    shared.metrics.request("/slack/events", reply.0.as_u16());
    reply
}

impl Shared {
    fn events(&self, headers: &HeaderMap, body: &[u8]) -> Answer {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let timestamp = text("x-slack-request-timestamp");
        let signature = text("x-slack-signature");
        let now = chrono::Utc::now().timestamp();
        let verified = verify_slack(&self.secret.0, timestamp, signature, body, now)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let first = self
                    .replay
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .first_time(signature, header_time(timestamp), now);
                if first {
                    Ok(())
                } else {
                    Err("the signature was seen before: refused as a replay".into())
                }
            });
        if let Err(reason) = verified {
            self.metrics
                .signature_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%reason, "Slack request refused");
            return answer(StatusCode::UNAUTHORIZED, "invalid signature");
        }
        let form = text("content-type").starts_with("application/x-www-form-urlencoded");
        let request = match decode(body, form) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "Slack request not understood");
                return answer(StatusCode::BAD_REQUEST, e.to_string());
            }
        };
        match request {
            SlackRequest::UrlVerification { challenge } => answer(StatusCode::OK, challenge),
            SlackRequest::Ignored(why) => {
                tracing::debug!(why, "Slack request ignored");
                answer(StatusCode::OK, "")
            }
            request => {
                let event = if form {
                    None
                } else {
                    serde_json::from_slice::<serde_json::Value>(body)
                        .ok()
                        .and_then(|v| event_id(&v).map(str::to_string))
                };
                match self.intake.take(request, event.as_deref(), now) {
                    Admitted::Queued => answer(StatusCode::OK, ""),
                    Admitted::Duplicate => {
                        tracing::info!(
                            event_id = event.as_deref().unwrap_or(""),
                            retry = text("x-slack-retry-num"),
                            "Slack event seen before: acknowledged, not run again"
                        );
                        answer(StatusCode::OK, "")
                    }
                    Admitted::Busy => answer(StatusCode::SERVICE_UNAVAILABLE, "busy"),
                }
            }
        }
    }
}

async fn healthz(State(metrics): State<Arc<Metrics>>) -> Answer {
    metrics.request("/healthz", 200);
    answer(StatusCode::OK, "ok\n")
}

async fn metrics_text(State(sources): State<Arc<MetricsSources>>) -> Answer {
    let mut gauges = Gauges::default();
    match sources.store.outbox_stats().await {
        Ok(s) => {
            gauges.outbox_pending = s.pending;
            gauges.outbox_delivered = s.delivered;
            gauges.outbox_failed_attempts = s.failed_attempts;
        }
        Err(e) => tracing::warn!(error = %e, "outbox figures not read"),
    }
    match sources.store.workflow_counts().await {
        Ok(w) => gauges.workflows = w,
        Err(e) => tracing::warn!(error = %e, "workflow figures not read"),
    }
    let stats = sources.delivery.stats();
    gauges.delivery_retries = stats.failures.load(Ordering::Relaxed);
    gauges.card_updates = stats.card_updates.load(Ordering::Relaxed);
    if let Some(socket) = &sources.socket {
        gauges.socket_connections = socket.connections.load(Ordering::Relaxed);
        gauges.socket_envelopes = socket.envelopes.load(Ordering::Relaxed);
    }
    sources.metrics.request("/metrics", 200);
    answer(StatusCode::OK, sources.metrics.render(&gauges))
}
