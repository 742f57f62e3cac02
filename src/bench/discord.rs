//! `switchboard bench discord-ack`: the server on loopback with only Discord
//! configured (its REST API replaced by a stand-in that accepts everything),
//! and N concurrent Ed25519-signed Approve clicks posted at
//! `/discord/interactions`; prints p50/p99 time to the acknowledgement (the
//! deferred response Discord needs within 3 s).

use crate::app::App;
use crate::bench::slack::{fire, AckBench};
use crate::bench::BenchError;
use crate::chat::discord::api::DiscordToken;
use crate::chat::signing::DiscordPublicKey;
use crate::config::Config;
use crate::server::discord::{DiscordCredentials, DiscordSettings};
use crate::server::{ServeSettings, Server};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

/// The bench's own key pair (a fixed seed: nothing secret).
const BENCH_SEED: [u8; 32] = [7; 32];

/// Starts the server, posts `clicks` concurrent signed Approve clicks (on
/// workflows that do not exist: the acknowledgement does not wait for the
/// work) and measures each one's time to its HTTP answer.
pub async fn discord_ack(dir: &std::path::Path, clicks: usize) -> Result<AckBench, BenchError> {
    let setup = |e: &dyn std::fmt::Display| BenchError::Setup(e.to_string());
    // Discord's REST API: accepts every call (the work after the ack edits
    // each click's answer there).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| setup(&e))?;
    let rest = listener.local_addr().map_err(|e| setup(&e))?;
    let stand_in = tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { axum::Json(json!({"id": "1"})) });
        let _ = axum::serve(listener, app).await;
    });
    let config = Config {
        db: dir.join("bench-discord.db"),
        ..Config::default()
    };
    let app = App::open(config).await?;
    let signer = SigningKey::from_bytes(&BENCH_SEED);
    let public_key =
        DiscordPublicKey::from_bytes(signer.verifying_key().as_bytes()).map_err(|e| setup(&e))?;
    let discord = DiscordSettings {
        credentials: DiscordCredentials {
            public_key,
            token: DiscordToken::new("bench-token"),
        },
        api_base: format!("http://{rest}/api/v10"),
        application_id: "1000".into(),
        approver_roles: Vec::new(),
        register_commands: None,
        timeout: Duration::from_secs(10),
        gateway: false,
    };
    let mut settings = ServeSettings::discord(SocketAddr::from(([127, 0, 0, 1], 0)), discord);
    settings.queue = clicks.max(1024);
    let server = Server::start(&app, settings).await.map_err(|e| setup(&e))?;
    let url = format!("http://{}/discord/interactions", server.addr());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clicks)
        .build()
        .map_err(|e| setup(&e))?;
    let now = chrono::Utc::now().timestamp().to_string();
    let requests = (0..clicks).map(|i| {
        let body = json!({
            "type": 3, "id": format!("{}", 2_000_000 + i), "application_id": "1000",
            "token": format!("bench-{i}"), "channel_id": "3000",
            "member": {"user": {"id": format!("{}", 4_000_000 + i), "username": format!("user{i}")}, "roles": []},
            "data": {"component_type": 2, "custom_id": format!("sb:approve:wf-{}", 1_000_000 + i)}
        })
        .to_string();
        let mut signed = now.clone().into_bytes();
        signed.extend_from_slice(body.as_bytes());
        let signature: String = signer
            .sign(&signed)
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        http.post(&url)
            .header("content-type", "application/json")
            .header("x-signature-timestamp", now.as_str())
            .header("x-signature-ed25519", signature)
            .body(body)
    });
    let result = fire(requests.collect()).await;
    server.shutdown().await;
    stand_in.abort();
    result
}
