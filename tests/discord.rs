//! Discord end to end, in process: `switchboard serve`'s server on loopback
//! with only Discord configured, Discord's REST API replaced by a fake on
//! loopback (axum) that records every call and answers 500 or 429 on demand,
//! interactions signed with an Ed25519 key generated here from a fixed seed.
//! Also the outbox under a failing Discord and snapshots of the Discord JSON.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::FLAGSHIP;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::app::App;
use switchboard::bench::fake_slack::{sign, FakeSlack};
use switchboard::chat::delivery::{closed_card, Delivery, DeliverySettings};
use switchboard::chat::discord::api::{DiscordApi, DiscordToken};
use switchboard::chat::discord::render::{reject_modal, render};
use switchboard::chat::message::{Destination, Message, Tone};
use switchboard::chat::signing::DiscordPublicKey;
use switchboard::chat::slack::api::BotToken;
use switchboard::config::{Config, DiscordConfig};
use switchboard::domain::WorkflowId;
use switchboard::server::discord::{DiscordCredentials, DiscordSettings};
use switchboard::server::{ServeSettings, Server, SigningSecret, SlackCredentials};

const APP_ID: &str = "7777";
const CHANNEL: &str = "5555";
const APPROVERS_ROLE: &str = "9001";
const ALICE: &str = "1111";
const APPROVER: &str = "2222";
const STRANGER: &str = "3333";
const BOT_TOKEN: &str = "discord-bot-token-for-tests";
const SLACK_SECRET: &[u8] = b"slack-signing-secret";

/// One call the fake Discord accepted.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    authorization: String,
    /// The JSON body, or a multipart upload's `payload_json`.
    body: Value,
    /// The uploaded file's bytes, for multipart calls.
    file: Option<Vec<u8>>,
    /// The id the fake answered with.
    id: String,
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    ServerError,
    RateLimited { seconds: f64 },
}

#[derive(Default)]
struct FakeState {
    calls: Mutex<Vec<Call>>,
    faults: Mutex<VecDeque<Fault>>,
    threads: Mutex<HashSet<String>>,
    next_id: Mutex<u64>,
    gateway_url: Mutex<String>,
}

/// A fake Discord REST API (v10 routes under `/api/v10`).
struct FakeDiscord {
    state: Arc<FakeState>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeDiscord {
    async fn start() -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FakeState::default());
        let app = axum::Router::new()
            .fallback(fake_route)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord { state, addr, task }
    }

    fn base(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    fn set_gateway(&self, url: &str) {
        *lock(&self.state.gateway_url) = url.to_string();
    }

    fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.state.faults).extend(faults);
    }

    fn calls(&self) -> Vec<Call> {
        lock(&self.state.calls).clone()
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `payload_json` part and the file of a multipart body.
fn multipart(content_type: &str, body: &[u8]) -> (Value, Option<Vec<u8>>) {
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return (Value::Null, None);
    };
    let delimiter = format!("--{boundary}");
    let text = body.to_vec();
    let mut payload = Value::Null;
    let mut file = None;
    let positions: Vec<usize> = text
        .windows(delimiter.len())
        .enumerate()
        .filter(|(_, w)| *w == delimiter.as_bytes())
        .map(|(i, _)| i)
        .collect();
    for pair in positions.windows(2) {
        let part = &text[pair[0] + delimiter.len()..pair[1]];
        let Some(split) = part.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let mut content = part[split + 4..].to_vec();
        if content.ends_with(b"\r\n") {
            content.truncate(content.len() - 2);
        }
        if head.contains("name=\"payload_json\"") {
            payload = serde_json::from_slice(&content).unwrap_or(Value::Null);
        } else if head.contains("name=\"files[0]\"") {
            file = Some(content);
        }
    }
    (payload, file)
}

async fn fake_route(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(fault) = lock(&state.faults).pop_front() {
        return match fault {
            Fault::ServerError => (StatusCode::BAD_GATEWAY, "upstream failure").into_response(),
            Fault::RateLimited { seconds } => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(json!({"message": "You are being rate limited.", "retry_after": seconds, "global": false})),
                )
                    .into_response();
                r.headers_mut()
                    .insert("x-ratelimit-remaining", "0".parse().unwrap());
                r.headers_mut().insert(
                    "x-ratelimit-reset-after",
                    format!("{seconds}").parse().unwrap(),
                );
                r
            }
        };
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (body, file) = if content_type.starts_with("multipart/form-data") {
        multipart(&content_type, &body)
    } else {
        (serde_json::from_slice(&body).unwrap_or(Value::Null), None)
    };
    let path = uri.path().trim_start_matches("/api/v10").to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let new_id = || {
        let mut next = lock(&state.next_id);
        *next += 1;
        format!("{}", 1_000_000_000_000_000_000u64 + *next)
    };
    let answer = match (method.as_str(), parts.as_slice()) {
        ("POST", ["channels", channel, "messages"]) => {
            json!({"id": new_id(), "channel_id": channel})
        }
        ("PATCH", ["channels", channel, "messages", id]) => {
            json!({"id": id, "channel_id": channel})
        }
        ("POST", ["channels", _, "messages", id, "threads"]) => {
            if !lock(&state.threads).insert(id.to_string()) {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"code": 160004, "message": "A thread has already been created for this message"})),
                )
                    .into_response();
            }
            json!({"id": id, "type": 11})
        }
        ("PATCH", ["webhooks", _, _, "messages", "@original"]) => json!({"id": new_id()}),
        ("GET", ["gateway", "bot"]) => json!({"url": *lock(&state.gateway_url), "shards": 1}),
        ("POST", ["interactions", _, _, "callback"]) => json!({}),
        ("PUT", ["applications", _, "commands"])
        | ("PUT", ["applications", _, "guilds", _, "commands"]) => body.clone(),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"code": 0, "message": "404: Not Found"})),
            )
                .into_response()
        }
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    lock(&state.calls).push(Call {
        method: method.to_string(),
        path,
        authorization,
        body,
        file,
        id: answer["id"].as_str().unwrap_or("").to_string(),
    });
    axum::Json(answer).into_response()
}

/// Our REST client, pointed at the fake.
fn rest_client(fake: &FakeDiscord) -> DiscordApi {
    DiscordApi::new(
        fake.base(),
        DiscordToken::new(BOT_TOKEN),
        APP_ID,
        Duration::from_secs(5),
    )
    .unwrap()
}

use common::fast_delivery;

fn signer() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sign_with(key: &SigningKey, timestamp: i64, body: &[u8]) -> String {
    let mut message = timestamp.to_string().into_bytes();
    message.extend_from_slice(body);
    hex(&key.sign(&message).to_bytes())
}

struct Bot {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    app: App,
    server: Option<Server>,
    fake: FakeDiscord,
    http: reqwest::Client,
}

static NEXT_TOKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// An interaction body of `kind` by `user` holding `roles`, with `data`.
fn interaction(kind: u8, user: &str, roles: &[&str], data: Value) -> (Vec<u8>, String) {
    let n = NEXT_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = format!("interaction-token-{n}");
    let body = json!({
        "id": format!("{}", 2_000_000_000_000_000_000u64 + n),
        "application_id": APP_ID,
        "type": kind,
        "token": token,
        "version": 1,
        "channel_id": CHANNEL,
        "guild_id": "8888",
        "member": {"user": {"id": user, "username": format!("user{user}"), "global_name": format!("Name {user}")}, "roles": roles},
        "data": data,
    });
    (body.to_string().into_bytes(), token)
}

impl Bot {
    async fn start() -> Bot {
        Bot::start_beside(None).await
    }

    /// Discord, and Slack too when a fake Slack is given.
    async fn start_beside(slack: Option<&FakeSlack>) -> Bot {
        Bot::start_with(FakeDiscord::start().await, slack, false).await
    }

    async fn start_with(fake: FakeDiscord, slack: Option<&FakeSlack>, gateway: bool) -> Bot {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("switchboard.db");
        let config = Config {
            db: db.clone(),
            approvers: vec![],
            discord: DiscordConfig {
                api_base: fake.base(),
                application_id: Some(APP_ID.into()),
                approver_roles: vec![APPROVERS_ROLE.into()],
                ..DiscordConfig::default()
            },
            ..Config::default()
        };
        let app = App::open(config).await.unwrap();
        let settings = DiscordSettings {
            credentials: DiscordCredentials {
                public_key: DiscordPublicKey::from_bytes(signer().verifying_key().as_bytes())
                    .unwrap(),
                token: DiscordToken::new(BOT_TOKEN),
            },
            api_base: fake.base(),
            application_id: APP_ID.into(),
            approver_roles: vec![APPROVERS_ROLE.into()],
            register_commands: Some(Some("8888".into())),
            timeout: Duration::from_secs(5),
            gateway,
        };
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut settings = match slack {
            Some(fake) => {
                let credentials = SlackCredentials {
                    signing_secret: Some(SigningSecret::new(SLACK_SECRET)),
                    app_token: None,
                    bot_token: BotToken::new("xoxb-test"),
                };
                let mut both = ServeSettings::new(listen, credentials, fake.base());
                both.discord = Some(settings);
                both
            }
            None => ServeSettings::discord(listen, settings),
        };
        settings.delivery = fast_delivery();
        let server = Server::start(&app, settings).await.unwrap();
        Bot {
            _dir: dir,
            db,
            app,
            server: Some(server),
            fake,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        let addr = self.server.as_ref().unwrap().addr();
        format!("http://{addr}{path}")
    }

    /// Posts with the given headers; returns status and JSON answer.
    async fn post_raw(&self, body: &[u8], headers: &[(&str, String)]) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url("/discord/interactions"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let value = response.json().await.unwrap_or(Value::Null);
        (status, value)
    }

    async fn post_signed(&self, body: &[u8]) -> (u16, Value) {
        let now = chrono::Utc::now().timestamp();
        self.post_raw(
            body,
            &[
                ("x-signature-timestamp", now.to_string()),
                ("x-signature-ed25519", sign_with(&signer(), now, body)),
            ],
        )
        .await
    }

    async fn command(&self, user: &str, roles: &[&str], data: Value) -> (Value, String) {
        let (body, token) = interaction(2, user, roles, data);
        let (status, answer) = self.post_signed(&body).await;
        assert_eq!(status, 200, "{answer}");
        (answer, token)
    }

    async fn click(&self, user: &str, roles: &[&str], custom_id: &str) -> (Value, String) {
        let (body, token) = interaction(
            3,
            user,
            roles,
            json!({"component_type": 2, "custom_id": custom_id}),
        );
        let (status, answer) = self.post_signed(&body).await;
        assert_eq!(status, 200, "{answer}");
        (answer, token)
    }

    async fn wait_for(&self, what: &str, check: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        common::wait_for_calls(what, || self.fake.calls(), check).await
    }

    async fn state(&self, id: i64) -> Option<String> {
        common::workflow_status(&self.app.store, id).await
    }

    async fn audit(&self, id: i64) -> Vec<switchboard::store::AuditRecord> {
        common::audit_trail(&self.app.store, id).await
    }

    async fn counts(&self) -> (i64, i64, i64) {
        common::trace_counts(&self.db).await
    }

    async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

fn connect_data() -> Value {
    json!({"name": "connect", "type": 1, "options": [{"name": "request", "type": 3, "value": FLAGSHIP.trim_start_matches("connect ")}]})
}

fn is_post(c: &Call) -> bool {
    c.method == "POST" && c.path.ends_with("/messages")
}

fn has_buttons(c: &Call) -> bool {
    c.body["components"]
        .as_array()
        .is_some_and(|rows| !rows.is_empty())
}

fn text_of(c: &Call) -> String {
    c.body.to_string()
}

fn original_edit<'a>(calls: &'a [Call], token: &str) -> Option<&'a Call> {
    calls.iter().find(|c| {
        c.method == "PATCH" && c.path == format!("/webhooks/{APP_ID}/{token}/messages/@original")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_workflow_runs_in_one_discord_thread_with_the_card_edited_in_place() {
    let bot = Bot::start().await;
    let registered = bot
        .wait_for("command registration", |c| {
            c.iter().any(|c| c.method == "PUT")
        })
        .await;
    let put = registered.iter().find(|c| c.method == "PUT").unwrap();
    assert_eq!(
        put.path,
        format!("/applications/{APP_ID}/guilds/8888/commands")
    );
    assert_eq!(put.body.as_array().unwrap().len(), 7);
    assert_eq!(put.authorization, format!("Bot {BOT_TOKEN}"));

    let (ping, _) = interaction(1, ALICE, &[], Value::Null);
    assert_eq!(bot.post_signed(&ping).await, (200, json!({"type": 1})));

    // Alice holds the approvers' role too, so her own request is refused by
    // the requester rule rather than for not being one.
    let (ack, token) = bot.command(ALICE, &[APPROVERS_ROLE], connect_data()).await;
    assert_eq!(ack, json!({"type": 5}), "a deferred answer, at once");
    let calls = bot
        .wait_for("the answer and the card", |c| {
            original_edit(c, &token).is_some() && c.iter().any(has_buttons)
        })
        .await;
    let answer = original_edit(&calls, &token).unwrap();
    assert!(text_of(answer).contains("Started wf-1"), "{answer:?}");
    assert_eq!(answer.authorization, "", "webhook routes get no bot token");

    // The first message is the thread's root in the channel; the thread is
    // started from it; the card and everything after go into the thread.
    let posts: Vec<&Call> = calls.iter().filter(|c| is_post(c)).collect();
    let root = posts[0];
    assert_eq!(root.path, format!("/channels/{CHANNEL}/messages"));
    assert_eq!(root.authorization, format!("Bot {BOT_TOKEN}"));
    let root_id = root.id.as_str();
    let thread_start = calls
        .iter()
        .find(|c| c.path.ends_with("/threads"))
        .expect("a thread was started");
    assert_eq!(
        thread_start.path,
        format!("/channels/{CHANNEL}/messages/{root_id}/threads")
    );
    assert_eq!(thread_start.body["name"], "wf-1");
    let card = posts.iter().find(|c| has_buttons(c)).unwrap();
    assert_eq!(card.path, format!("/channels/{root_id}/messages"));
    assert_eq!(card.body["embeds"][0]["title"], "wf-1 · approval needed");
    let buttons = &card.body["components"][0]["components"];
    assert_eq!(buttons[0]["custom_id"], "sb:approve:wf-1");
    assert_eq!(buttons[1]["custom_id"], "sb:reject:wf-1");
    let card_id = card.id.clone();

    // A member without the role: refused, told privately, audited.
    let (ack, stranger_token) = bot.click(STRANGER, &[], "sb:approve:wf-1").await;
    assert_eq!(ack, json!({"type": 5, "data": {"flags": 64}}));
    let calls = bot
        .wait_for("the stranger's refusal", |c| {
            original_edit(c, &stranger_token).is_some()
        })
        .await;
    let refusal = original_edit(&calls, &stranger_token).unwrap();
    assert!(
        text_of(refusal).contains("you are not an approver"),
        "{refusal:?}"
    );
    // The requester, approver or not, may not approve her own request.
    let (_, alice_token) = bot.click(ALICE, &[APPROVERS_ROLE], "sb:approve:wf-1").await;
    let calls = bot
        .wait_for("alice's refusal", |c| {
            original_edit(c, &alice_token).is_some()
        })
        .await;
    assert!(text_of(original_edit(&calls, &alice_token).unwrap()).contains("your own request"));
    assert_eq!(bot.state(1).await.as_deref(), Some("waiting_approval"));
    let audit = bot.audit(1).await;
    assert!(
        audit.iter().any(|a| a.action == "discord.decision"
            && a.actor == STRANGER
            && a.detail.contains("Name 3333")
            && a.detail.contains("refused")),
        "{audit:?}"
    );

    // A role holder approves: the card is edited in place, the thread goes on.
    let (_, approver_token) = bot
        .click(APPROVER, &[APPROVERS_ROLE], "sb:approve:wf-1")
        .await;
    let calls = bot
        .wait_for("completion in the thread", |c| {
            c.iter()
                .any(|c| is_post(c) && text_of(c).contains("wf-1 · completed"))
        })
        .await;
    assert!(text_of(original_edit(&calls, &approver_token).unwrap()).contains("Approved wf-1"));
    let edit_path = format!("/channels/{root_id}/messages/{card_id}");
    let edit_at = calls
        .iter()
        .position(|c| c.method == "PATCH" && c.path == edit_path)
        .unwrap_or_else(|| panic!("the card {edit_path} was edited: {calls:#?}"));
    let edit = &calls[edit_at];
    assert!(!has_buttons(edit), "{edit:?}");
    assert!(
        text_of(edit).contains(&format!("Approved by <@{APPROVER}>")),
        "{edit:?}"
    );
    let decision_at = calls
        .iter()
        .position(|c| is_post(c) && text_of(c).contains("Approved by"))
        .unwrap();
    assert!(
        edit_at < decision_at,
        "the card changes before the thread moves on"
    );
    for post in calls.iter().filter(|c| is_post(c)).skip(1) {
        assert_eq!(
            post.path,
            format!("/channels/{root_id}/messages"),
            "{post:?}"
        );
    }
    for progress in ["✓ provision", "✓ validate"] {
        assert!(
            calls
                .iter()
                .any(|c| is_post(c) && text_of(c).contains(progress)),
            "{progress}"
        );
    }
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.path.ends_with("/threads"))
            .count(),
        1,
        "one thread per workflow"
    );
    assert_eq!(bot.state(1).await.as_deref(), Some("completed"));
    let audit = bot.audit(1).await;
    assert!(audit.iter().any(|a| a.action == "approval.approved"));
    assert!(
        audit.iter().any(|a| a.action == "discord.decision"
            && a.actor == APPROVER
            && a.detail.contains("Name 2222")
            && a.detail.contains("done")),
        "{audit:?}"
    );
    let text: String = calls.iter().map(text_of).collect();
    assert!(!text.contains(BOT_TOKEN), "the token is only in the header");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_discord_side_by_side_each_get_their_own_workflows() {
    let slack = FakeSlack::start().await.unwrap();
    let bot = Bot::start_beside(Some(&slack)).await;
    let mention = json!({"type": "event_callback", "event_id": "Ev1", "event": {
        "type": "app_mention", "user": "UALICE", "channel": "C1", "ts": "1700000000.000001",
        "text": format!("<@UBOT> {FLAGSHIP}")}})
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let status = bot
        .http
        .post(bot.url("/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", now.to_string())
        .header(
            "x-slack-signature",
            sign(SLACK_SECRET, now, mention.as_bytes()),
        )
        .body(mention)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let started = Instant::now();
    while !slack.calls().iter().any(|c| {
        c.method == "chat.postMessage" && c.body.to_string().contains("wf-1 · approval needed")
    }) {
        assert!(started.elapsed() < Duration::from_secs(20), "no Slack card");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bot.command(ALICE, &[], connect_data()).await;
    let calls = bot
        .wait_for("the Discord card", |c| c.iter().any(has_buttons))
        .await;
    assert!(
        calls
            .iter()
            .filter(|c| is_post(c))
            .all(|c| !text_of(c).contains("wf-1")),
        "wf-1 belongs to Slack"
    );
    assert!(calls
        .iter()
        .any(|c| has_buttons(c) && text_of(c).contains("wf-2 · approval needed")));
    assert!(
        slack
            .calls()
            .iter()
            .all(|c| c.body["channel"] == "C1" && !c.body.to_string().contains("wf-2")),
        "wf-2 belongs to Discord"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_opens_a_modal_and_the_submitted_reason_rejects() {
    let bot = Bot::start().await;
    let (_, _) = bot.command(ALICE, &[], connect_data()).await;
    bot.wait_for("the card", |c| c.iter().any(has_buttons))
        .await;
    let (modal, _) = bot
        .click(APPROVER, &[APPROVERS_ROLE], "sb:reject:wf-1")
        .await;
    assert_eq!(modal["type"], 9);
    assert_eq!(modal["data"]["custom_id"], "sb-reason:wf-1");
    let input = &modal["data"]["components"][0]["components"][0];
    let (body, token) = interaction(
        5,
        APPROVER,
        &[APPROVERS_ROLE],
        json!({"custom_id": modal["data"]["custom_id"], "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": input["custom_id"], "value": "too dear for now"}]}]}),
    );
    let (status, ack) = bot.post_signed(&body).await;
    assert_eq!(
        (status, ack),
        (200, json!({"type": 5, "data": {"flags": 64}}))
    );
    let calls = bot
        .wait_for("the rejection", |c| {
            c.iter().any(|c| {
                c.method == "PATCH"
                    && c.path.starts_with("/channels/")
                    && text_of(c).contains("Rejected by <@2222>: too dear")
            })
        })
        .await;
    assert!(text_of(original_edit(&calls, &token).unwrap()).contains("Rejected wf-1"));
    assert!(calls
        .iter()
        .any(|c| is_post(c) && text_of(c).contains("wf-1 · rejected")));
    assert_eq!(bot.state(1).await.as_deref(), Some("rejected"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_refused_with_401_and_leave_no_trace() {
    let bot = Bot::start().await;
    let (body, _) = interaction(2, ALICE, &[], connect_data());
    let now = chrono::Utc::now().timestamp();
    let good = sign_with(&signer(), now, &body);
    let before = bot.counts().await;
    assert_eq!(before, (0, 0, 0));
    let ts = ("x-signature-timestamp", now.to_string());

    let other = SigningKey::from_bytes(&[43u8; 32]);
    let wrong = sign_with(&other, now, &body);
    assert_eq!(
        bot.post_raw(&body, &[ts.clone(), ("x-signature-ed25519", wrong)])
            .await
            .0,
        401,
        "signed with another key"
    );
    let mut altered = body.clone();
    let at = altered.len() / 2;
    altered[at] ^= 0x01;
    assert_eq!(
        bot.post_raw(
            &altered,
            &[ts.clone(), ("x-signature-ed25519", good.clone())]
        )
        .await
        .0,
        401,
        "one byte altered"
    );
    let stale = now - 301;
    assert_eq!(
        bot.post_raw(
            &body,
            &[
                ("x-signature-timestamp", stale.to_string()),
                ("x-signature-ed25519", sign_with(&signer(), stale, &body))
            ]
        )
        .await
        .0,
        401,
        "stale timestamp"
    );
    assert_eq!(
        bot.post_raw(&body, std::slice::from_ref(&ts)).await.0,
        401,
        "no signature"
    );
    assert_eq!(
        bot.post_raw(&body, &[("x-signature-ed25519", good.clone())])
            .await
            .0,
        401,
        "no timestamp"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bot.counts().await, before, "refused requests left a trace");

    // The correctly signed one is taken; the same bytes again are a replay.
    let signed = [ts.clone(), ("x-signature-ed25519", good.clone())];
    assert_eq!(
        bot.post_raw(&body, &signed).await,
        (200, json!({"type": 5}))
    );
    bot.wait_for("the card", |c| c.iter().any(has_buttons))
        .await;
    let settled = bot.counts().await;
    assert_eq!(settled.0, 1);
    assert_eq!(bot.post_raw(&body, &signed).await.0, 401, "a replay");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bot.counts().await, settled, "a replay left a trace");

    let metrics = common::get_text(&bot.http, &bot.url("/metrics")).await;
    assert!(
        metrics.contains("switchboard_discord_signature_failures_total 6"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/discord/interactions\",status=\"401\"} 6"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_delivers_everything_once_in_order_after_5xx_and_429s() {
    let dir = tempfile::tempdir().unwrap();
    let store = switchboard::store::Store::open(&dir.path().join("x.db"))
        .await
        .unwrap();
    let fake = FakeDiscord::start().await;
    fake.fail_next([
        Fault::ServerError,
        Fault::ServerError,
        Fault::RateLimited { seconds: 0.8 },
        Fault::ServerError,
        Fault::RateLimited { seconds: 0.8 },
    ]);
    // Not Discord's, and first in the outbox: left alone by a Discord-only
    // worker, and never crowding Discord's messages out of its small batches.
    let console = Destination {
        channel: "console".into(),
        thread: None,
    };
    for i in 0..6 {
        store
            .post(&console, &Message::text(format!("for the console {i}")))
            .await
            .unwrap();
    }
    common::post_alerts(&store, "4444", 12).await;
    let api = rest_client(&fake);
    let settings = DeliverySettings {
        batch: 4,
        ..fast_delivery()
    };
    let delivery = Delivery::new(store.clone(), Arc::new(api), settings);
    let took = common::deliver_until(&store, delivery, 6).await;
    // Two retry_after answers of 0.8 s each were honoured.
    assert!(took >= Duration::from_millis(1600));
    let texts: Vec<String> = fake
        .calls()
        .iter()
        .filter(|c| is_post(c))
        .map(|c| {
            assert_eq!(c.path, "/channels/4444/messages");
            c.body["embeds"][0]["description"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let expected: Vec<String> = (0..12).map(|i| format!("alert {i}")).collect();
    assert_eq!(texts, expected);
    // Each carries its outbox id as the nonce Discord drops repeats by.
    let nonces: HashSet<String> = fake
        .calls()
        .iter()
        .filter(|c| is_post(c))
        .map(|c| {
            assert_eq!(c.body["enforce_nonce"], true);
            c.body["nonce"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(nonces.len(), 12);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(
        (stats.delivered, stats.failed_attempts, stats.pending),
        (12, 5, 6)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_goes_up_as_a_multipart_attachment() {
    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("topology-4.png");
    std::fs::write(&picture, b"\x89PNG fake picture").unwrap();
    let fake = FakeDiscord::start().await;
    let api = rest_client(&fake);
    use switchboard::chat::delivery::ChatSink;
    let message = Message::text("12 networks")
        .with_title("Topology (snapshot 4)")
        .with_image(picture.display().to_string());
    api.post("4444", None, &message, "sb1").await.unwrap();
    let gone = Message::text("x").with_image(dir.path().join("gone.png").display().to_string());
    api.post("4444", None, &gone, "sb2").await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls[0].file.as_deref(), Some(&b"\x89PNG fake picture"[..]));
    assert_eq!(
        calls[0].body["embeds"][0]["image"]["url"],
        "attachment://topology-4.png"
    );
    assert_eq!(
        calls[0].body["attachments"][0]["filename"],
        "topology-4.png"
    );
    assert!(calls[1].file.is_none());
    assert!(
        text_of(&calls[1]).contains("gone.png not attached"),
        "a missing picture is said, not fatal: {:?}",
        calls[1]
    );
}

/// Compares with `tests/snapshots/discord_<name>.json`; `UPDATE_SNAPSHOTS=1` writes it.
fn snapshot(name: &str, value: &Value) {
    common::snapshot(
        &format!("discord_{name}.json"),
        &(serde_json::to_string_pretty(value).unwrap() + "\n"),
    );
}

fn approval_card() -> Message {
    common::approval_card("1111")
}

#[test]
fn discord_json_for_each_message_kind_matches_its_snapshot() {
    let id = WorkflowId::new(7).unwrap();
    snapshot("approval_card", &render(&approval_card(), None));
    let decision = Message::text("Approved by 2222 at 10:04 UTC").with_tone(Tone::Success);
    snapshot(
        "closed_card",
        &render(&closed_card(&approval_card(), &decision), None),
    );
    snapshot(
        "progress",
        &render(
            &Message::text("✓ provision: 4 changes applied").with_workflow(id),
            None,
        ),
    );
    snapshot(
        "alert",
        &render(
            &Message::text("pair orders-db: failed over to backup (primary down: 100% loss)")
                .with_title("Failover")
                .with_tone(Tone::Warning),
            None,
        ),
    );
    snapshot(
        "topology",
        &render(
            &Message::text("12 networks, 9 connections across aws, azure, gcp, onprem\n3 findings (`findings` lists them).")
                .with_title("Topology (snapshot 4)")
                .with_image("/var/lib/switchboard/topology-4.png"),
            Some("topology-4.png"),
        ),
    );
    snapshot(
        "error",
        &render(
            &Message::text("Not done: wf-7 — you are not an approver.").with_tone(Tone::Danger),
            None,
        ),
    );
    snapshot("reject_modal", &reject_modal(&id.to_string()));
}

/// `switchboard serve` as a process, with only the given credentials in its
/// environment.
fn serve_command(lab: &common::Lab, env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = lab.command(&["serve", "--listen", "127.0.0.1:0"]);
    for name in [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "DISCORD_TOKEN",
        "DISCORD_PUBLIC_KEY",
    ] {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[test]
fn serve_names_the_credentials_it_misses() {
    let lab = common::Lab::new();
    let key = hex(signer().verifying_key().as_bytes());
    for (env, expected) in [
        (vec![], "nothing to serve"),
        (
            vec![("DISCORD_TOKEN", "t"), ("DISCORD_PUBLIC_KEY", "xyz")],
            "application_id",
        ),
        (
            vec![
                ("DISCORD_TOKEN", "t"),
                ("DISCORD_PUBLIC_KEY", "xyz"),
                ("SWITCHBOARD_DISCORD_APPLICATION_ID", APP_ID),
            ],
            "DISCORD_PUBLIC_KEY is not usable",
        ),
        (
            vec![
                ("DISCORD_PUBLIC_KEY", key.as_str()),
                ("SWITCHBOARD_DISCORD_APPLICATION_ID", APP_ID),
            ],
            "DISCORD_TOKEN is not set",
        ),
    ] {
        let out = serve_command(&lab, &env).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{env:?}");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
        assert!(!stderr.contains("secret-bot-token"));
    }
}

#[test]
fn serve_runs_discord_alone_from_the_environment() {
    use std::io::BufRead;
    let lab = common::Lab::new();
    let key = hex(signer().verifying_key().as_bytes());
    let mut child = serve_command(
        &lab,
        &[
            ("DISCORD_TOKEN", "secret-bot-token"),
            ("DISCORD_PUBLIC_KEY", &key),
            ("SWITCHBOARD_DISCORD_APPLICATION_ID", APP_ID),
            ("SWITCHBOARD_DISCORD_API", "http://127.0.0.1:9/api/v10"),
        ],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("serve ended before listening").unwrap();
        if let Some(at) = line.split("listening on http://").nth(1) {
            break at.trim().to_string();
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answered = runtime.block_on(async {
        let (body, _) = interaction(1, ALICE, &[], Value::Null);
        let now = chrono::Utc::now().timestamp();
        let http = reqwest::Client::new();
        let pong: Value = http
            .post(format!("http://{addr}/discord/interactions"))
            .header("x-signature-timestamp", now.to_string())
            .header("x-signature-ed25519", sign_with(&signer(), now, &body))
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let slack = http
            .post(format!("http://{addr}/slack/events"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        (pong, slack)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        answered,
        (json!({"type": 1}), 404),
        "Discord only: no Slack route"
    );
}

/// A fake Discord Gateway: each connection runs the next script step.
/// Frames the bot sent come back on the channel, tagged with the connection.
async fn fake_gateway(
    scripts: Vec<Vec<Value>>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<(usize, Value)>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Frame;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let own_url = url.clone();
    tokio::spawn(async move {
        for (n, script) in scripts.into_iter().enumerate() {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            // HELLO, then the bot's IDENTIFY or RESUME, then the script.
            let hello = json!({"op": 10, "d": {"heartbeat_interval": 60000}});
            let _ = socket.send(Frame::text(hello.to_string())).await;
            if let Some(Ok(Frame::Text(text))) = socket.next().await {
                let _ = tx.send((
                    n,
                    serde_json::from_str(text.as_str()).unwrap_or(Value::Null),
                ));
            }
            for frame in script {
                // "RESUME" stands for this gateway's own URL.
                let text = frame
                    .to_string()
                    .replace("\"RESUME\"", &format!("\"{own_url}\""));
                let _ = socket.send(Frame::text(text)).await;
            }
            // Keep reading until the bot leaves.
            while let Some(Ok(frame)) = socket.next().await {
                if let Frame::Text(text) = frame {
                    let _ = tx.send((
                        n,
                        serde_json::from_str(text.as_str()).unwrap_or(Value::Null),
                    ));
                }
            }
        }
    });
    (url, rx)
}

/// The next frame the bot sent to the fake gateway (20 s at most).
async fn next_frame(
    frames: &mut tokio::sync::mpsc::UnboundedReceiver<(usize, Value)>,
) -> (usize, Value) {
    tokio::time::timeout(Duration::from_secs(20), frames.recv())
        .await
        .expect("the bot sent nothing to the gateway")
        .expect("the fake gateway stopped")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_gateway_an_interaction_is_answered_by_callback_and_the_session_resumes() {
    let fake = FakeDiscord::start().await;
    let (command, token) = interaction(2, ALICE, &[], connect_data());
    let command: Value = serde_json::from_slice(&command).unwrap();
    let id = command["id"].as_str().unwrap().to_string();
    let (url, mut frames) = fake_gateway(vec![
        vec![
            json!({"op": 0, "s": 1, "t": "READY", "d": {"session_id": "sess-1", "resume_gateway_url": "RESUME"}}),
            json!({"op": 0, "s": 2, "t": "INTERACTION_CREATE", "d": command}),
            json!({"op": 7, "d": null}),
        ],
        vec![],
    ])
    .await;
    fake.set_gateway(&url);
    let bot = Bot::start_with(fake, None, true).await;

    let (n, identify) = next_frame(&mut frames).await;
    assert_eq!((n, identify["op"].clone()), (0, json!(2)));
    assert_eq!(identify["d"]["intents"], 1, "GUILDS only");
    assert_eq!(identify["d"]["token"], BOT_TOKEN);

    let calls = bot
        .wait_for("the callback, the answer and the card", |c| {
            c.iter().any(|c| c.path.ends_with("/callback"))
                && original_edit(c, &token).is_some()
                && c.iter().any(has_buttons)
        })
        .await;
    let callback = calls
        .iter()
        .find(|c| c.path.ends_with("/callback"))
        .unwrap();
    assert_eq!(
        callback.path,
        format!("/interactions/{id}/{token}/callback")
    );
    assert_eq!(callback.body, json!({"type": 5}));
    assert!(text_of(original_edit(&calls, &token).unwrap()).contains("Started wf-1"));

    // RECONNECT: the bot comes back and resumes where it was.
    let resume = loop {
        let (n, frame) = next_frame(&mut frames).await;
        if n == 1 {
            break frame;
        }
    };
    assert_eq!(
        resume,
        json!({"op": 6, "d": {"token": BOT_TOKEN, "session_id": "sess-1", "seq": 2}})
    );
    bot.stop().await;
}
