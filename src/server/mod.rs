//! `switchboard serve`: the long-running bot. Slack reaches it over Socket
//! Mode (`chat::slack::socket`, when `SLACK_APP_TOKEN` is set) and/or the HTTP
//! endpoint `POST /slack/events` (when `SLACK_SIGNING_SECRET` is set);
//! Discord at `POST /discord/interactions` (optionally also over its Gateway
//! websocket). One HTTP listener (axum) serves those plus `GET /healthz` and
//! `GET /metrics`; beside them run the workflow engine, one outbox delivery
//! worker for both platforms, the scheduled discovery refresh, the daily cost
//! digest (`[digest] schedule`), the batch watcher, and a bounded pool of
//! background tasks per platform that do what was asked, whichever way it came.
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

pub mod discord;
pub mod metrics;

use crate::app::App;
use crate::chat::delivery::{ChatSink, Delivery, DeliverySettings};
use crate::chat::discord::api::{DiscordApi, DiscordError};
use crate::chat::discord::interactions::command_definitions;
use crate::chat::discord::DiscordAdapter;
use crate::chat::signing::{header_time, verify_slack, ReplayGuard, SignatureError};
use crate::chat::slack::api::{AppToken, BotToken, SlackApi, SlackError};
use crate::chat::slack::events::{decode, event_id, SlackRequest};
use crate::chat::slack::socket::{SocketMode, SocketSettings, SocketStats};
use crate::chat::slack::{Admitted, Intake, SlackAdapter};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use metrics::{Gauges, Metrics};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0} is not set: {1}")]
    MissingEnv(&'static str, &'static str),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0} is not usable: {1}")]
    BadEnv(&'static str, String),
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error(transparent)]
    Discord(#[from] DiscordError),
    #[error("nothing to serve: set SLACK_BOT_TOKEN with SLACK_APP_TOKEN (Socket Mode) and/or SLACK_SIGNING_SECRET (HTTP) for Slack, or DISCORD_PUBLIC_KEY and DISCORD_TOKEN (with [discord] application_id) for Discord")]
    NoPlatform,
    #[error("neither SLACK_APP_TOKEN (Socket Mode: an app-level token xapp-… with connections:write, Basic Information → App-Level Tokens) nor SLACK_SIGNING_SECRET (the HTTP endpoint: Basic Information → App Credentials) is set")]
    NoTransport,
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

/// A credential from the environment; `what` says where to find it.
fn env_var(name: &'static str, what: &'static str) -> Result<String, ServeError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(ServeError::MissingEnv(name, what))
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
            bot_token: BotToken::new(env_var(
                "SLACK_BOT_TOKEN",
                "the bot token xoxb-… (OAuth & Permissions)",
            )?),
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
    /// None: Slack is not served.
    pub slack: Option<SlackCredentials>,
    /// Slack's Web API base (`https://slack.com/api`; a fake in tests).
    pub slack_api: String,
    pub slack_timeout: Duration,
    pub delivery: DeliverySettings,
    /// Background tasks doing what acknowledged requests ask.
    pub workers: usize,
    /// Acknowledged requests waiting for a background task.
    pub queue: usize,
    /// None: Discord is not served.
    pub discord: Option<discord::DiscordSettings>,
    pub socket: SocketSettings,
}

impl ServeSettings {
    pub fn new(listen: SocketAddr, slack: SlackCredentials, slack_api: String) -> ServeSettings {
        ServeSettings {
            listen,
            slack: Some(slack),
            slack_api,
            slack_timeout: Duration::from_secs(10),
            delivery: DeliverySettings::default(),
            workers: 8,
            queue: 1024,
            discord: None,
            socket: SocketSettings::default(),
        }
    }

    /// What the environment and config enable: Slack when a `SLACK_*`
    /// credential is set, Discord when a `DISCORD_*` one is (each then needs
    /// its whole set); at least one.
    pub fn from_env(config: &crate::config::Config) -> Result<ServeSettings, ServeError> {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        let slack =
            if set("SLACK_SIGNING_SECRET") || set("SLACK_BOT_TOKEN") || set("SLACK_APP_TOKEN") {
                Some(SlackCredentials::from_env()?)
            } else {
                None
            };
        let discord = if set("DISCORD_PUBLIC_KEY") || set("DISCORD_TOKEN") {
            let d = &config.discord;
            let application_id = d.application_id.clone().ok_or(ServeError::MissingEnv(
                "[discord] application_id (or SWITCHBOARD_DISCORD_APPLICATION_ID)",
                "the application id (Developer Portal → General Information)",
            ))?;
            Some(discord::DiscordSettings {
                credentials: discord::DiscordCredentials::from_env()?,
                api_base: d.api_base.clone(),
                application_id,
                approver_roles: d.approver_roles.clone(),
                register_commands: d.register_commands.then(|| d.guild.clone()),
                timeout: Duration::from_secs(10),
                gateway: d.gateway,
            })
        } else {
            None
        };
        if slack.is_none() && discord.is_none() {
            return Err(ServeError::NoPlatform);
        }
        let mut settings = match (slack, discord) {
            (Some(slack), discord) => {
                let mut s = ServeSettings::new(config.listen, slack, config.slack_api.clone());
                s.discord = discord;
                s
            }
            (None, Some(discord)) => ServeSettings::discord(config.listen, discord),
            (None, None) => return Err(ServeError::NoPlatform),
        };
        settings.slack_api = config.slack_api.clone();
        Ok(settings)
    }

    /// Discord only.
    pub fn discord(listen: SocketAddr, discord: discord::DiscordSettings) -> ServeSettings {
        ServeSettings {
            listen,
            slack: None,
            slack_api: crate::chat::slack::api::SLACK_API.to_string(),
            slack_timeout: Duration::from_secs(10),
            delivery: DeliverySettings::default(),
            workers: 8,
            queue: 1024,
            discord: Some(discord),
            socket: SocketSettings::default(),
        }
    }
}

/// An adapter's work after the acknowledgement, run by a worker pool.
#[async_trait::async_trait]
trait Handler<J>: Send + Sync {
    async fn handle(&self, job: J);
}

#[async_trait::async_trait]
impl Handler<SlackRequest> for SlackAdapter {
    async fn handle(&self, job: SlackRequest) {
        SlackAdapter::handle(self, job).await
    }
}

#[async_trait::async_trait]
impl Handler<crate::chat::discord::DiscordJob> for DiscordAdapter {
    async fn handle(&self, job: crate::chat::discord::DiscordJob) {
        DiscordAdapter::handle(self, job).await
    }
}

/// Starts `workers` tasks taking jobs from `queue`. The tasks end when every
/// sender is gone and the queue is drained.
fn spawn_pool<J: Send + 'static>(
    tasks: &mut JoinSet<()>,
    workers: usize,
    queue: mpsc::Receiver<J>,
    handler: Arc<dyn Handler<J>>,
) {
    let queue = Arc::new(tokio::sync::Mutex::new(queue));
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let handler = handler.clone();
        tasks.spawn(async move {
            loop {
                let next = queue.lock().await.recv().await;
                let Some(job) = next else { return };
                handler.handle(job).await;
            }
        });
    }
}

/// Signatures remembered for the replay check (a window's worth at 300/s).
const REPLAY_CAPACITY: usize = 100_000;

/// Slack's endpoint state.
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
        let slack_api = match &settings.slack {
            Some(slack) => Some(SlackApi::new(
                settings.slack_api.clone(),
                slack.bot_token.clone(),
                settings.slack_timeout,
            )?),
            None => None,
        };
        let discord_api = match &settings.discord {
            Some(d) => Some(DiscordApi::new(
                d.api_base.clone(),
                d.credentials.token.clone(),
                d.application_id.clone(),
                d.timeout,
            )?),
            None => None,
        };
        if slack_api.is_none() && discord_api.is_none() {
            return Err(ServeError::NoPlatform);
        }
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
        if let Some(forecast) = app.forecast_schedule(cancel.clone()) {
            tasks.spawn(forecast);
        }
        // Discord first: it owns only snowflake channel ids; Slack takes the
        // rest (ids and channel names).
        let mut sinks: Vec<Arc<dyn ChatSink>> = Vec::new();
        if let Some(api) = &discord_api {
            sinks.push(Arc::new(api.clone()));
        }
        if let Some(api) = &slack_api {
            sinks.push(Arc::new(api.clone()));
        }
        let delivery = Delivery::with_sinks(app.store.clone(), sinks, settings.delivery.clone());
        tasks.spawn(delivery.clone().run(cancel.clone()));

        let metrics = Arc::new(Metrics::default());
        let mut router =
            axum::Router::new().route("/healthz", get(healthz).with_state(metrics.clone()));
        let mut socket = None;
        if let (Some(api), Some(slack)) = (slack_api, &settings.slack) {
            let adapter = Arc::new(SlackAdapter::new(
                app.router(),
                app.engine.clone(),
                api.clone(),
                delivery.clone(),
            ));
            let (intake, queue) = Intake::new(settings.queue);
            spawn_pool(&mut tasks, settings.workers, queue, adapter);
            if let Some(token) = slack.app_token.clone() {
                let mode = SocketMode::new(api, token, intake.clone(), settings.socket.clone());
                socket = Some(mode.stats());
                tasks.spawn(mode.run(cancel.clone()));
            }
            if let Some(secret) = slack.signing_secret.clone() {
                let shared = Arc::new(Shared {
                    secret,
                    replay: Mutex::new(ReplayGuard::new(REPLAY_CAPACITY)),
                    intake,
                    metrics: metrics.clone(),
                });
                router = router.route("/slack/events", post(slack_events).with_state(shared));
            }
        }
        let sources = Arc::new(MetricsSources {
            metrics: metrics.clone(),
            store: app.store.clone(),
            delivery: delivery.clone(),
            socket,
        });
        router = router.route("/metrics", get(metrics_text).with_state(sources));
        if let (Some(api), Some(d)) = (discord_api, &settings.discord) {
            if let Some(guild) = &d.register_commands {
                match api
                    .register_commands(guild.as_deref(), command_definitions())
                    .await
                {
                    Ok(n) => tracing::info!(commands = n, "Discord slash commands registered"),
                    // Commands registered earlier keep working.
                    Err(e) => tracing::warn!(error = %e, "Discord slash commands not registered"),
                }
            }
            let gateway_api = api.clone();
            let adapter = Arc::new(DiscordAdapter::new(
                app.router(),
                app.engine.clone(),
                api,
                delivery.clone(),
                d.approver_roles.clone(),
            ));
            let (jobs, queue) = mpsc::channel(settings.queue.max(1));
            spawn_pool(&mut tasks, settings.workers, queue, adapter);
            if d.gateway {
                tasks.spawn(crate::chat::discord::gateway::run(
                    gateway_api,
                    d.credentials.token.clone(),
                    jobs.clone(),
                    cancel.clone(),
                ));
            }
            let endpoint = Arc::new(discord::Endpoint::new(
                d.credentials.public_key.clone(),
                jobs,
                metrics.clone(),
            ));
            router = router.route(
                "/discord/interactions",
                post(discord::interactions).with_state(endpoint),
            );
        }
        let http_cancel = cancel.clone();
        tasks.spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(http_cancel.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the HTTP server stopped");
            }
        });
        let slack = settings.slack.as_ref();
        tracing::info!(
            %addr,
            socket_mode = slack.is_some_and(|s| s.app_token.is_some()),
            http_events = slack.is_some_and(|s| s.signing_secret.is_some()),
            discord = settings.discord.is_some(),
            "serving Slack and Discord as configured, /healthz and /metrics"
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

/// A header's text, or "" when absent or not text.
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Checks a request's signature with `verify` (given the timestamp and
/// signature header values and the time) and accepts it the first time its
/// signature is seen within the window. A refusal is counted in `failures`
/// and logged with its reason.
fn accept(
    headers: &HeaderMap,
    (timestamp_header, signature_header): (&str, &str),
    replay: &Mutex<ReplayGuard>,
    failures: &std::sync::atomic::AtomicU64,
    platform: &'static str,
    verify: impl FnOnce(&str, &str, i64) -> Result<(), SignatureError>,
) -> bool {
    let timestamp = header_text(headers, timestamp_header);
    let signature = header_text(headers, signature_header);
    let now = chrono::Utc::now().timestamp();
    let verified = verify(timestamp, signature, now)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            let first = replay.lock().unwrap_or_else(|p| p.into_inner()).first_time(
                signature,
                header_time(timestamp),
                now,
            );
            if first {
                Ok(())
            } else {
                Err("the signature was seen before: refused as a replay".to_string())
            }
        });
    match verified {
        Ok(()) => true,
        Err(reason) => {
            failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%reason, platform, "request refused");
            false
        }
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
        let text = |name: &str| header_text(headers, name);
        let accepted = accept(
            headers,
            ("x-slack-request-timestamp", "x-slack-signature"),
            &self.replay,
            &self.metrics.signature_failures,
            "slack",
            |timestamp, signature, now| {
                verify_slack(&self.secret.0, timestamp, signature, body, now)
            },
        );
        if !accepted {
            return answer(StatusCode::UNAUTHORIZED, "invalid signature");
        }
        let now = chrono::Utc::now().timestamp();
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
