//! Slack over Socket Mode, in process: `switchboard serve`'s server with only
//! an app token (no signing secret, so no HTTP endpoint), `FakeSlack` for the
//! Web API (it answers `apps.connections.open` with the URL of a fake Socket
//! Mode server on loopback, `FakeSocket` below, which plays Slack's side of
//! the WebSocket: it sends envelopes and reads the bot's acknowledgements).
//! Also the topology picture upload through the external upload flow.

mod common;

use common::slack::{
    fast_delivery, has_buttons, posted_text, posts, scrape_metrics, text_of, wait_for_calls,
    workflow_status,
};
use common::FLAGSHIP;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::app::App;
use switchboard::bench::fake_slack::{FakeCall, FakeFault, FakeSlack};
use switchboard::chat::delivery::{ChatSink, SendError};
use switchboard::chat::message::Message;
use switchboard::chat::slack::api::{AppToken, BotToken, SlackApi};
use switchboard::chat::slack::socket::SocketSettings;
use switchboard::config::Config;
use switchboard::server::{ServeSettings, Server, SlackCredentials};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

const ALICE: &str = "UALICE";
const APPROVER: &str = "UAPPROVER";
const APP_TOKEN: &str = "xapp-1-test-app-token";
const BOT_TOKEN: &str = "xoxb-test";
const LIMIT: Duration = Duration::from_secs(20);

/// Slack's side of Socket Mode: accepts the bot's WebSocket connections and
/// hands each to the test.
struct FakeSocket {
    addr: SocketAddr,
    accepted: mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeSocket {
    async fn start() -> FakeSocket {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, accepted) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                    let _ = tx.send(ws);
                }
            }
        });
        FakeSocket {
            addr,
            accepted,
            task,
        }
    }

    /// What `apps.connections.open` hands out (a ticket, as Slack's has).
    fn url(&self) -> String {
        format!("ws://{}/link/?ticket=secret-ticket&app_id=A1", self.addr)
    }

    /// The bot's next connection, greeted with `hello`.
    async fn connection(&mut self) -> Conn {
        let ws = tokio::time::timeout(LIMIT, self.accepted.recv())
            .await
            .expect("the bot did not connect")
            .expect("fake socket gone");
        let mut conn = Conn { ws };
        conn.send(json!({"type": "hello", "num_connections": 1,
            "connection_info": {"app_id": "A1"}}))
            .await;
        conn
    }
}

impl Drop for FakeSocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Conn {
    ws: WebSocketStream<TcpStream>,
}

impl Conn {
    async fn send(&mut self, envelope: Value) {
        self.send_text(envelope.to_string()).await;
    }

    async fn send_text(&mut self, text: String) {
        self.ws.send(Frame::text(text)).await.unwrap();
    }

    /// The next text frame the bot sent, as JSON; None when it closed.
    async fn next(&mut self) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(LIMIT, self.ws.next())
                .await
                .expect("nothing from the bot");
            match frame {
                Some(Ok(Frame::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("an ack is JSON"))
                }
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Sends an envelope and asserts its acknowledgement comes back.
    async fn deliver(&mut self, envelope: Value) {
        let id = envelope["envelope_id"].clone();
        self.send(envelope).await;
        assert_eq!(self.next().await, Some(json!({"envelope_id": id})));
    }
}

fn mention(envelope: &str, event_id: &str, user: &str, text: &str) -> Value {
    json!({"envelope_id": envelope, "type": "events_api", "accepts_response_payload": false,
        "retry_attempt": 0, "retry_reason": "",
        "payload": {"type": "event_callback", "event_id": event_id, "team_id": "T1",
            "event": {"type": "app_mention", "user": user, "channel": "C1",
                "ts": "1700000000.000001", "text": format!("<@UBOT> {text}")}}})
}

fn command(envelope: &str, user: &str, channel: &str, text: &str) -> Value {
    json!({"envelope_id": envelope, "type": "slash_commands", "accepts_response_payload": true,
        "payload": {"command": "/switchboard", "text": text, "user_id": user,
            "user_name": user.to_lowercase(), "channel_id": channel, "team_id": "T1",
            "trigger_id": "T.9", "response_url": "https://hooks.slack.invalid/x"}})
}

fn click(envelope: &str, user: &str, action: &str, workflow: &str, card_ts: &str) -> Value {
    json!({"envelope_id": envelope, "type": "interactive", "accepts_response_payload": false,
        "payload": {"type": "block_actions", "user": {"id": user, "username": user.to_lowercase()},
            "channel": {"id": "C1"}, "message": {"ts": card_ts}, "trigger_id": "trigger-1",
            "actions": [{"action_id": action, "value": workflow}]}})
}

struct Bot {
    _dir: tempfile::TempDir,
    app: App,
    server: Option<Server>,
    fake: FakeSlack,
    socket: FakeSocket,
}

impl Bot {
    async fn start() -> Bot {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeSlack::start().await.unwrap();
        let socket = FakeSocket::start().await;
        fake.set_socket_url(socket.url());
        let config = Config {
            db: dir.path().join("switchboard.db"),
            slack_api: fake.base(),
            approvers: vec![APPROVER.into(), ALICE.into()],
            ..Config::default()
        };
        let app = App::open(config).await.unwrap();
        let credentials = SlackCredentials {
            signing_secret: None,
            app_token: Some(AppToken::new(APP_TOKEN)),
            bot_token: BotToken::new(BOT_TOKEN),
        };
        assert!(!format!("{credentials:?}").contains("xapp-"));
        let mut settings = ServeSettings::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            credentials,
            fake.base(),
        );
        settings.delivery = fast_delivery();
        settings.socket = SocketSettings {
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
            ..SocketSettings::default()
        };
        let server = Server::start(&app, settings).await.unwrap();
        Bot {
            _dir: dir,
            app,
            server: Some(server),
            fake,
            socket,
        }
    }

    async fn wait_for(&self, what: &str, check: impl Fn(&[FakeCall]) -> bool) -> Vec<FakeCall> {
        wait_for_calls(&self.fake, what, check).await
    }

    async fn state(&self, id: i64) -> Option<String> {
        workflow_status(&self.app, id).await
    }

    fn opens(&self) -> Vec<FakeCall> {
        calls_of(&self.fake.calls(), "apps.connections.open")
    }

    async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

fn calls_of(calls: &[FakeCall], method: &str) -> Vec<FakeCall> {
    calls
        .iter()
        .filter(|c| c.method == method)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_workflow_runs_over_socket_mode_card_click_update_thread() {
    let mut bot = Bot::start().await;
    let mut conn = bot.socket.connection().await;
    let opens = bot.opens();
    assert_eq!(opens.len(), 1);
    assert_eq!(opens[0].token, APP_TOKEN, "the app token opens the socket");

    conn.deliver(mention("env-1", "Ev1", ALICE, FLAGSHIP)).await;
    let calls = bot
        .wait_for("the approval card", |c| {
            posts(c).iter().any(|p| has_buttons(&p.body))
        })
        .await;
    let posted = posts(&calls);
    for p in &posted {
        assert_eq!(p.token, BOT_TOKEN, "the Web API gets the bot token");
    }
    let root_ts = "1700000000.000001";
    assert!(posted[0].body.get("thread_ts").is_none());
    let card_index = posted.iter().position(|p| has_buttons(&p.body)).unwrap();
    let card = &posted[card_index];
    assert_eq!(card.body["channel"], "C1");
    assert_eq!(card.body["thread_ts"], root_ts, "the card is in the thread");
    assert!(text_of(card).contains("wf-1 · approval needed"));
    let card_ts = format!("1700000000.{:06}", card_index + 1);

    // Slack resends the event (it missed the ack): acknowledged, run once.
    let mut retry = mention("env-2", "Ev1", ALICE, FLAGSHIP);
    retry["retry_attempt"] = json!(1);
    retry["retry_reason"] = json!("timeout");
    conn.deliver(retry).await;

    // The approver clicks Approve: the card is updated in place and the
    // workflow goes on in its thread.
    conn.deliver(click("env-3", APPROVER, "approve", "wf-1", &card_ts))
        .await;
    let calls = bot
        .wait_for("completion in the thread", |c| {
            posted_text(c, "wf-1 · completed")
        })
        .await;
    let updates = calls_of(&calls, "chat.update");
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(updates[0].body["ts"], card_ts.as_str());
    assert!(!has_buttons(&updates[0].body));
    assert!(text_of(&updates[0]).contains(&format!("Approved by <@{APPROVER}>")));
    let posted = posts(&calls);
    for p in &posted[1..] {
        assert_eq!(p.body["thread_ts"], root_ts, "{p:?}");
    }
    for progress in ["✓ provision", "✓ validate"] {
        assert!(posted.iter().any(|p| text_of(p).contains(progress)));
    }
    assert_eq!(bot.state(1).await.as_deref(), Some("completed"));
    assert_eq!(bot.state(2).await, None, "the resent event ran twice");

    // The slash command answers where it was typed.
    conn.deliver(command("env-4", APPROVER, "C2", "status wf-1"))
        .await;
    bot.wait_for("the status answer", |c| {
        posts(c)
            .iter()
            .any(|p| p.body["channel"] == "C2" && text_of(p).contains("wf-1"))
    })
    .await;
    assert_eq!(bot.opens().len(), 1, "one connection did it all");
    bot.stop().await;
    assert_eq!(conn.next().await, None, "shutdown closes the socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_reconnects_on_disconnect_and_on_a_dropped_link_and_shrugs_off_junk() {
    let mut bot = Bot::start().await;
    let mut first = bot.socket.connection().await;
    first
        .send(json!({"type": "disconnect", "reason": "refresh_requested",
            "debug_info": {"host": "applink-1"}}))
        .await;
    assert_eq!(first.next().await, None, "the old connection is closed");
    let mut second = bot.socket.connection().await;
    assert_eq!(bot.opens().len(), 2, "a fresh URL for the new connection");

    // Junk: an unknown envelope type is acknowledged; a payload that does
    // not decode is acknowledged; a frame that is not JSON is dropped.
    second
        .deliver(json!({"envelope_id": "env-x", "type": "shortcut_v9", "payload": {}}))
        .await;
    second
        .deliver(json!({"envelope_id": "env-y", "type": "events_api",
            "payload": {"type": "event_callback"}}))
        .await;
    second.send_text("{not json".into()).await;
    second.send_text("[1, 2, 3]".into()).await;

    // The connection still works.
    second.deliver(command("env-5", ALICE, "C7", "help")).await;
    bot.wait_for("the help answer", |c| {
        posts(c).iter().any(|p| p.body["channel"] == "C7")
    })
    .await;

    // The link drops without a word: the bot opens a new one.
    drop(second);
    let mut third = bot.socket.connection().await;
    assert_eq!(bot.opens().len(), 3);
    third.deliver(command("env-6", ALICE, "C8", "help")).await;
    bot.wait_for("the help answer on the third connection", |c| {
        posts(c).iter().any(|p| p.body["channel"] == "C8")
    })
    .await;
    let metrics = scrape_metrics(bot.server.as_ref().unwrap().addr()).await;
    assert!(
        metrics.contains("switchboard_slack_socket_connections_total 3"),
        "{metrics}"
    );
    // env-x, env-y, env-5 and env-6.
    assert!(
        metrics.contains("switchboard_slack_socket_envelopes_total 4"),
        "{metrics}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_signing_secret_there_is_no_http_endpoint() {
    let bot = Bot::start().await;
    let addr = bot.server.as_ref().unwrap().addr();
    let http = reqwest::Client::new();
    let events = http
        .post(format!("http://{addr}/slack/events"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status().as_u16(), 404);
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    bot.stop().await;
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topology_command_uploads_the_png_into_the_thread() {
    let mut bot = Bot::start().await;
    let mut conn = bot.socket.connection().await;
    conn.deliver(command("env-7", ALICE, "C1", "topology"))
        .await;
    let calls = bot
        .wait_for("the shared picture", |c| {
            c.iter().any(|c| c.method == "files.completeUploadExternal")
        })
        .await;
    let uploads = bot.fake.uploads();
    assert_eq!(uploads.len(), 1);
    let upload = &uploads[0];
    assert!(
        upload.bytes.starts_with(PNG_SIGNATURE),
        "not a PNG: {:?}",
        &upload.bytes[..upload.bytes.len().min(8)]
    );

    let position = |method: &str| calls.iter().position(|c| c.method == method).unwrap();
    let asked = &calls[position("files.getUploadURLExternal")];
    assert_eq!(asked.token, BOT_TOKEN);
    let filename = asked.body["filename"].as_str().unwrap();
    assert!(
        filename.starts_with("topology-") && filename.ends_with(".png"),
        "{filename}"
    );
    assert_eq!(asked.body["length"], upload.bytes.len().to_string());

    let summary = posts(&calls)
        .into_iter()
        .find(|p| text_of(p).contains("Topology (snapshot"))
        .expect("the summary was posted");
    assert_eq!(summary.body["channel"], "C1");
    let summary_at = calls
        .iter()
        .position(|c| c.method == "chat.postMessage" && text_of(c).contains("Topology (snapshot"))
        .unwrap();
    let shared_at = position("files.completeUploadExternal");
    assert!(position("files.getUploadURLExternal") < summary_at);
    assert!(summary_at < shared_at);
    let shared = &calls[shared_at];
    assert_eq!(shared.body["channel_id"], "C1");
    assert_eq!(shared.body["files"][0]["id"], upload.file_id.as_str());
    assert!(shared.body["files"][0]["title"]
        .as_str()
        .unwrap()
        .starts_with("Topology (snapshot"));
    // The summary is the thread's root; the picture hangs under it.
    let summary_ts = format!(
        "1700000000.{:06}",
        posts(&calls)
            .iter()
            .position(|p| text_of(p).contains("Topology (snapshot"))
            .unwrap()
            + 1
    );
    assert_eq!(shared.body["thread_ts"], summary_ts.as_str());
    bot.stop().await;
}

/// The Slack sink alone against the fake, and a folder for pictures.
async fn sink() -> (FakeSlack, SlackApi, tempfile::TempDir) {
    let fake = FakeSlack::start().await.unwrap();
    let api = SlackApi::new(
        fake.base(),
        BotToken::new(BOT_TOKEN),
        Duration::from_secs(5),
    )
    .unwrap();
    (fake, api, tempfile::tempdir().unwrap())
}

#[tokio::test]
async fn a_missing_picture_leaves_a_note_and_the_text_still_goes_out() {
    let (fake, api, dir) = sink().await;
    let missing = dir.path().join("topology-9.png");
    let message = Message::text("12 networks")
        .with_title("Topology (snapshot 9)")
        .with_image(missing.display().to_string());
    let ts = api
        .post("C1", Some("1699.1"), &message, "outbox-1")
        .await
        .unwrap();
    assert!(!ts.is_empty());
    let calls = fake.calls();
    assert_eq!(
        calls.iter().map(|c| c.method.as_str()).collect::<Vec<_>>(),
        ["chat.postMessage"],
        "nothing is uploaded"
    );
    let text = text_of(&calls[0]);
    assert!(text.contains("12 networks"), "{text}");
    assert!(text.contains("picture not attached"), "{text}");
    assert!(text.contains("topology-9.png"), "{text}");
    assert_eq!(calls[0].body["thread_ts"], "1699.1");

    // An empty file is no picture either.
    std::fs::write(&missing, b"").unwrap();
    api.post("C1", None, &message, "outbox-2").await.unwrap();
    assert!(fake.uploads().is_empty());
    assert!(text_of(&fake.calls()[1]).contains("is empty"));
}

#[test]
fn the_manifest_asks_for_socket_mode_and_the_scopes_the_bot_uses() {
    let manifest: serde_yaml::Value = serde_yaml::from_str(include_str!("../slack/manifest.yaml"))
        .expect("slack/manifest.yaml is YAML");
    assert_eq!(
        manifest["settings"]["socket_mode_enabled"],
        serde_yaml::Value::Bool(true)
    );
    let scopes: Vec<&str> = manifest["oauth_config"]["scopes"]["bot"]
        .as_sequence()
        .expect("bot scopes")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for needed in [
        "chat:write",
        "commands",
        "app_mentions:read",
        "im:history",
        "usergroups:read",
        "files:write",
        "files:read",
    ] {
        assert!(scopes.contains(&needed), "{needed} missing from {scopes:?}");
    }
}

#[tokio::test]
async fn a_picture_goes_under_the_workflow_thread_root_and_a_slack_outage_posts_nothing() {
    let (fake, api, dir) = sink().await;
    let path = dir.path().join("topology-3.png");
    let mut png = PNG_SIGNATURE.to_vec();
    png.extend_from_slice(b"rest of the picture");
    std::fs::write(&path, &png).unwrap();
    let message = Message::text("5 networks").with_image(path.display().to_string());

    // Slack fails before anything is posted: the whole message is retried
    // later by the outbox, so nothing may have gone out.
    fake.fail_next([FakeFault::ServerError]);
    let e = api
        .post("C1", Some("1699.1"), &message, "outbox-1")
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Retryable(_)), "{e:?}");
    assert!(posts(&fake.calls()).is_empty());

    let ts = api
        .post("C1", Some("1699.1"), &message, "outbox-1")
        .await
        .unwrap();
    let calls = fake.calls();
    let shared = calls_of(&calls, "files.completeUploadExternal");
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].body["thread_ts"], "1699.1", "the thread's root");
    assert_ne!(ts, "1699.1");
    assert_eq!(shared[0].body["files"][0]["title"], "topology-3.png");
    assert_eq!(fake.uploads()[0].bytes, png);
    assert!(!text_of(posts(&calls)[0]).contains("not attached"));
}

#[test]
fn serve_refuses_to_start_without_a_transport_and_names_both() {
    let lab = common::Lab::new().with_env("SLACK_BOT_TOKEN", "xoxb-secret-bot");
    let out = lab
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env_remove("SLACK_APP_TOKEN")
        .env_remove("SLACK_SIGNING_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SLACK_APP_TOKEN"), "{stderr}");
    assert!(stderr.contains("SLACK_SIGNING_SECRET"), "{stderr}");
    assert!(stderr.contains("connections:write"), "{stderr}");
    assert!(!stderr.contains("xoxb-secret-bot"), "{stderr}");
}
