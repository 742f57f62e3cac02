//! `switchboard bench slack-ack`: the server on loopback, Slack's Web API
//! replaced by `FakeSlack`, and N concurrent signed `block_actions` clicks
//! posted at `/slack/events`; prints p50/p99 time to the HTTP acknowledgement.

use super::fake_slack::{form_payload, sign, FakeSlack};
use crate::app::App;
use crate::bench::BenchError;
use crate::chat::slack::api::BotToken;
use crate::config::Config;
use crate::server::{ServeSettings, Server, SigningSecret, SlackCredentials};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct AckBench {
    pub clicks: usize,
    pub ok: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

const BENCH_SECRET: &[u8] = b"bench-signing-secret";

/// Starts the server against `FakeSlack`, posts `clicks` concurrent signed
/// Approve clicks (on workflows that do not exist: the acknowledgement does
/// not wait for the work, which is the point) and measures each request's
/// time to its HTTP answer.
pub async fn slack_ack(dir: &std::path::Path, clicks: usize) -> Result<AckBench, BenchError> {
    let setup = |e: &dyn std::fmt::Display| BenchError::Setup(e.to_string());
    let fake = FakeSlack::start().await.map_err(|e| setup(&e))?;
    let config = Config {
        db: dir.join("bench-slack.db"),
        slack_api: fake.base(),
        ..Config::default()
    };
    let app = App::open(config).await?;
    let credentials = SlackCredentials {
        signing_secret: Some(SigningSecret::new(BENCH_SECRET)),
        app_token: None,
        bot_token: BotToken::new("xoxb-bench"),
    };
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut settings = ServeSettings::new(listen, credentials, fake.base());
    settings.queue = clicks.max(1024);
    let server = Server::start(&app, settings).await.map_err(|e| setup(&e))?;
    let url = format!("http://{}/slack/events", server.addr());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clicks)
        .build()
        .map_err(|e| setup(&e))?;
    let now = chrono::Utc::now().timestamp();
    let requests = (0..clicks).map(|i| {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": format!("U{i:05}"), "username": format!("user{i}")},
            "channel": {"id": "CBENCH"},
            "trigger_id": format!("T{i}"),
            "actions": [{"action_id": "approve", "value": format!("wf-{}", 1_000_000 + i)}]
        });
        let body = form_payload(&payload);
        let signature = sign(BENCH_SECRET, now, body.as_bytes());
        http.post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", now.to_string())
            .header("x-slack-signature", signature)
            .body(body)
    });
    let result = fire(requests.collect()).await;
    server.shutdown().await;
    result
}

/// Sends every request at once (released together by a barrier) and
/// measures each one's time to its HTTP answer: the acknowledgement
/// figures `bench slack-ack` and `bench discord-ack` print.
pub(crate) async fn fire(requests: Vec<reqwest::RequestBuilder>) -> Result<AckBench, BenchError> {
    let clicks = requests.len();
    let mut tasks = tokio::task::JoinSet::new();
    let start = Arc::new(tokio::sync::Barrier::new(clicks + 1));
    for request in requests {
        let start = start.clone();
        tasks.spawn(async move {
            start.wait().await;
            let sent = Instant::now();
            let ok = request
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            (sent.elapsed(), ok)
        });
    }
    start.wait().await;
    let mut times = Vec::with_capacity(clicks);
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        let (took, success) = joined.map_err(|e| BenchError::Setup(e.to_string()))?;
        times.push(took);
        ok += usize::from(success);
    }
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len().max(1)) - 1;
        times.get(i).copied().unwrap_or_default()
    };
    Ok(AckBench {
        clicks,
        ok,
        p50: at(0.50),
        p99: at(0.99),
        max: times.last().copied().unwrap_or_default(),
    })
}
