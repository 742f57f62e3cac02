//! Slack end to end, in process: `switchboard serve`'s server on loopback,
//! Slack's Web API replaced by `FakeSlack` (recording every call), requests
//! signed as Slack signs them. Also the outbox under a failing platform and
//! snapshots of the Block Kit JSON users see.

mod common;

use common::slack::{
    fast_delivery, has_buttons, posted_text, posts, scrape_metrics, text_of, wait_for_calls,
    workflow_status,
};
use common::FLAGSHIP;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchboard::app::App;
use switchboard::bench::fake_slack::{
    form_payload, sign, FakeCall, FakeFault, FakeFile, FakeSlack,
};
use switchboard::chat::delivery::{closed_card, Delivery};
use switchboard::chat::message::{ButtonAction, Message, Tone};
use switchboard::chat::slack::api::{BotToken, SlackApi};
use switchboard::chat::slack::blocks::{reject_modal, render};
use switchboard::config::Config;
use switchboard::domain::WorkflowId;
use switchboard::server::{ServeSettings, Server, SigningSecret, SlackCredentials};

const SECRET: &[u8] = b"test-signing-secret";
const ALICE: &str = "UALICE";
const APPROVER: &str = "UAPPROVER";

struct Bot {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    app: App,
    server: Option<Server>,
    fake: FakeSlack,
    http: reqwest::Client,
}

impl Bot {
    /// Alice is an approver too, so her own request is refused by the
    /// requester rule rather than for not being one.
    async fn start() -> Bot {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeSlack::start().await.unwrap();
        let db = dir.path().join("switchboard.db");
        let config = Config {
            db: db.clone(),
            slack_api: fake.base(),
            approvers: vec![APPROVER.into(), ALICE.into()],
            ..Config::default()
        };
        let app = App::open(config).await.unwrap();
        let credentials = SlackCredentials {
            signing_secret: Some(SigningSecret::new(SECRET)),
            app_token: None,
            bot_token: BotToken::new("xoxb-test"),
        };
        let mut settings = ServeSettings::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            credentials,
            fake.base(),
        );
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

    fn url(&self) -> String {
        let addr = self.server.as_ref().unwrap().addr();
        format!("http://{addr}/slack/events")
    }

    async fn post_raw(&self, body: &[u8], form: bool, timestamp: i64, signature: &str) -> u16 {
        let content_type = if form {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        self.http
            .post(self.url())
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn post_signed(&self, body: &[u8], form: bool) -> u16 {
        let now = chrono::Utc::now().timestamp();
        self.post_raw(body, form, now, &sign(SECRET, now, body))
            .await
    }

    async fn click(&self, user: &str, action: &str, workflow: &str, card_ts: &str) -> u16 {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": user, "username": user.to_lowercase()},
            "channel": {"id": "C1"},
            "message": {"ts": card_ts},
            "trigger_id": "trigger-1",
            "actions": [{"action_id": action, "value": workflow}]
        });
        self.post_signed(form_payload(&payload).as_bytes(), true)
            .await
    }

    /// The first ephemeral answer, once posted; it went to `user` in C1.
    async fn ephemeral_to(&self, user: &str) -> FakeCall {
        let calls = self
            .wait_for("the ephemeral refusal", |c| {
                c.iter().any(|c| c.method == "chat.postEphemeral")
            })
            .await;
        let ephemeral = calls
            .into_iter()
            .find(|c| c.method == "chat.postEphemeral")
            .unwrap();
        assert_eq!(ephemeral.body["user"], user);
        assert_eq!(ephemeral.body["channel"], "C1");
        ephemeral
    }

    async fn state(&self, id: i64) -> Option<String> {
        workflow_status(&self.app, id).await
    }

    async fn wait_for(&self, what: &str, check: impl Fn(&[FakeCall]) -> bool) -> Vec<FakeCall> {
        wait_for_calls(&self.fake, what, check).await
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

/// A signed app_mention body; every call has its own event id, as Slack's do.
fn mention(user: &str, text: &str) -> Vec<u8> {
    mention_with_files(user, text, json!([]))
}

/// A mention with `files` attached, as Slack sends it.
fn mention_with_files(user: &str, text: &str, files: Value) -> Vec<u8> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut event = json!({"type": "app_mention", "user": user, "channel": "C1",
        "ts": "1700000000.000001", "text": format!("<@UBOT> {text}")});
    if files.as_array().is_some_and(|f| !f.is_empty()) {
        event["files"] = files;
    }
    json!({"type": "event_callback", "event_id": format!("Ev{id}"), "event": event})
        .to_string()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_workflow_runs_in_one_slack_thread_with_the_card_updated_in_place() {
    let bot = Bot::start().await;
    assert_eq!(bot.post_signed(&mention(ALICE, FLAGSHIP), false).await, 200);

    let calls = bot
        .wait_for("the approval card", |c| {
            posts(c).iter().any(|p| has_buttons(&p.body))
        })
        .await;
    let posted = posts(&calls);
    let root = posted[0];
    assert!(root.body.get("thread_ts").is_none(), "{root:?}");
    let fake_ts = |i: usize| format!("1700000000.{:06}", i + 1);
    let card_index = posted.iter().position(|p| has_buttons(&p.body)).unwrap();
    let card = posted[card_index];
    assert_eq!(card.body["channel"], "C1");
    assert_eq!(
        card.body["thread_ts"],
        fake_ts(0),
        "the card is in the thread"
    );
    assert!(text_of(card).contains("wf-1 · approval needed"));
    let elements = card.body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap()["elements"]
        .clone();
    assert_eq!(elements[0]["action_id"], "approve");
    assert_eq!(elements[1]["action_id"], "reject");
    let card_ts = fake_ts(card_index);

    // The requester may not approve their own request, approver or not.
    assert_eq!(bot.click(ALICE, "approve", "wf-1", &card_ts).await, 200);
    let ephemeral = bot.ephemeral_to(ALICE).await;
    assert!(text_of(&ephemeral).contains("Not done"), "{ephemeral:?}");
    assert_eq!(bot.state(1).await.as_deref(), Some("waiting_approval"));
    let audit = bot.audit(1).await;
    assert!(
        audit
            .iter()
            .any(|a| a.action == "approve.refused" && a.actor == ALICE),
        "{audit:?}"
    );

    // An approver clicks: the card is updated in place, the thread goes on.
    assert_eq!(bot.click(APPROVER, "approve", "wf-1", &card_ts).await, 200);
    let calls = bot
        .wait_for("completion in the thread", |c| {
            posted_text(c, "wf-1 · completed")
        })
        .await;
    let update = calls
        .iter()
        .find(|c| c.method == "chat.update")
        .expect("the card was updated");
    assert_eq!(update.body["channel"], "C1");
    assert_eq!(update.body["ts"], card_ts.as_str());
    assert!(!has_buttons(&update.body), "{update:?}");
    assert!(
        text_of(update).contains(&format!("Approved by <@{APPROVER}>")),
        "{update:?}"
    );
    let update_at = calls
        .iter()
        .position(|c| c.method == "chat.update")
        .unwrap();
    let decision_at = calls
        .iter()
        .position(|c| c.method == "chat.postMessage" && text_of(c).contains("Approved by"))
        .unwrap();
    assert!(
        update_at < decision_at,
        "the card changes before the thread moves on"
    );
    for p in &posts(&calls)[1..] {
        assert_eq!(p.body["thread_ts"], fake_ts(0), "{p:?}");
    }
    for progress in ["✓ provision", "✓ validate"] {
        assert!(
            posts(&calls).iter().any(|p| text_of(p).contains(progress)),
            "{progress}"
        );
    }
    assert_eq!(bot.state(1).await.as_deref(), Some("completed"));
    let audit = bot.audit(1).await;
    assert!(audit.iter().any(|a| a.action == "approval.approved"));
    assert!(
        audit.iter().any(|a| a.action == "slack.decision"
            && a.actor == APPROVER
            && a.detail.contains("uapprover")
            && a.detail.contains("done")),
        "the decision is audited with the Slack id and name: {audit:?}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_asks_for_a_reason_in_a_modal_and_the_reason_lands() {
    let bot = Bot::start().await;
    assert_eq!(bot.post_signed(&mention(ALICE, FLAGSHIP), false).await, 200);
    bot.wait_for("the approval card", |c| {
        posts(c).iter().any(|p| has_buttons(&p.body))
    })
    .await;
    assert_eq!(bot.click(APPROVER, "reject", "wf-1", "x").await, 200);
    let calls = bot
        .wait_for("the modal", |c| c.iter().any(|c| c.method == "views.open"))
        .await;
    let view = calls.iter().find(|c| c.method == "views.open").unwrap();
    assert_eq!(view.body["trigger_id"], "trigger-1");
    let submission = json!({"type": "view_submission", "user": {"id": APPROVER, "username": "ap"},
        "view": {"callback_id": view.body["view"]["callback_id"], "private_metadata": view.body["view"]["private_metadata"],
                 "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "too dear for now"}}}}}});
    assert_eq!(
        bot.post_signed(form_payload(&submission).as_bytes(), true)
            .await,
        200
    );
    let calls = bot
        .wait_for("the rejection", |c| {
            c.iter().any(|c| {
                c.method == "chat.update"
                    && text_of(c).contains("Rejected by <@UAPPROVER>: too dear")
            })
        })
        .await;
    assert!(posts(&calls)
        .iter()
        .any(|p| text_of(p).contains("wf-1 · rejected")));
    assert_eq!(bot.state(1).await.as_deref(), Some("rejected"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_refused_with_401_and_leave_no_trace() {
    let bot = Bot::start().await;
    let body = mention(ALICE, FLAGSHIP);
    let now = chrono::Utc::now().timestamp();
    let before = bot.counts().await;
    assert_eq!(before, (0, 0, 0));

    let wrong = sign(b"another-secret", now, &body);
    assert_eq!(bot.post_raw(&body, false, now, &wrong).await, 401);
    let stale = now - 301;
    assert_eq!(
        bot.post_raw(&body, false, stale, &sign(SECRET, stale, &body))
            .await,
        401
    );
    let mut altered = body.clone();
    let signature = sign(SECRET, now, &body);
    let at = altered.len() / 2;
    altered[at] ^= 0x01;
    assert_eq!(bot.post_raw(&altered, false, now, &signature).await, 401);
    assert_eq!(bot.post_raw(&body, false, now, "").await, 401);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bot.counts().await, before, "refused requests left a trace");

    // The correct one is accepted; the same request again is a replay.
    assert_eq!(bot.post_raw(&body, false, now, &signature).await, 200);
    bot.wait_for("the card", |c| {
        posts(c).iter().any(|p| has_buttons(&p.body))
    })
    .await;
    let settled = bot.counts().await;
    assert_eq!(settled.0, 1);
    assert_eq!(bot.post_raw(&body, false, now, &signature).await, 401);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bot.counts().await, settled, "a replay left a trace");

    // Slack's own retry of the event: signed anew, same event id, so it is
    // acknowledged and not run twice.
    let later = now + 1;
    assert_eq!(
        bot.post_raw(&body, false, later, &sign(SECRET, later, &body))
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bot.counts().await, settled, "a retried event ran twice");

    let metrics = scrape_metrics(bot.server.as_ref().unwrap().addr()).await;
    assert!(
        metrics.contains("switchboard_slack_signature_failures_total 5"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/slack/events\",status=\"401\"} 5"));
    assert!(metrics.contains("switchboard_workflows{status=\"waiting_approval\"} 1"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_delivers_everything_once_in_order_after_500s_and_429s() {
    let dir = tempfile::tempdir().unwrap();
    let store = switchboard::store::Store::open(&dir.path().join("x.db"))
        .await
        .unwrap();
    let fake = FakeSlack::start().await.unwrap();
    fake.fail_next([
        FakeFault::ServerError,
        FakeFault::ServerError,
        FakeFault::RateLimited {
            retry_after_secs: 1,
        },
        FakeFault::ServerError,
        FakeFault::RateLimited {
            retry_after_secs: 1,
        },
    ]);
    common::post_alerts(&store, "CALERTS", 12).await;
    let api = SlackApi::new(fake.base(), BotToken::new("xoxb-t"), Duration::from_secs(5)).unwrap();
    let delivery = Delivery::new(store.clone(), Arc::new(api), fast_delivery());
    let took = common::deliver_until(&store, delivery.clone(), 0).await;
    // Two Retry-After answers of 1 s each were honoured.
    assert!(took >= Duration::from_secs(2));
    let texts: Vec<String> = fake
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage")
        .map(|c| c.body["text"].as_str().unwrap_or("").to_string())
        .collect();
    let expected: Vec<String> = (0..12).map(|i| format!("alert {i}")).collect();
    assert_eq!(texts, expected);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.delivered, stats.failed_attempts), (12, 5));
    assert_eq!(
        delivery
            .stats()
            .failures
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
}

/// Compares with `tests/snapshots/<name>.json`; `UPDATE_SNAPSHOTS=1` writes it.
fn snapshot(name: &str, value: &Value) {
    common::snapshot(
        &format!("{name}.json"),
        &(serde_json::to_string_pretty(value).unwrap() + "\n"),
    );
}

fn approval_card() -> Message {
    common::approval_card("UALICE")
}

#[test]
fn block_kit_for_each_message_kind_matches_its_snapshot() {
    let id = WorkflowId::new(7).unwrap();
    snapshot("approval_card", &render(&approval_card()));
    let decision = Message::text("Approved by UAPPROVER at 10:04 UTC").with_tone(Tone::Success);
    snapshot(
        "approval_card_decided",
        &render(&closed_card(&approval_card(), &decision)),
    );
    snapshot(
        "progress_notice",
        &render(&Message::text("✓ provision: 4 changes applied").with_workflow(id)),
    );
    snapshot(
        "alert",
        &render(
            &Message::text("pair orders-db: failed over to backup (primary down: 100% loss)")
                .with_title("Failover")
                .with_tone(Tone::Warning),
        ),
    );
    snapshot(
        "topology_summary",
        &render(
            &Message::text("12 networks, 9 connections across aws, azure, gcp, onprem\n3 findings (`findings` lists them).")
                .with_title("Topology (snapshot 4)")
                .with_image("/var/lib/switchboard/topology-4.png"),
        ),
    );
    snapshot(
        "reject_modal",
        &reject_modal(&ButtonAction::Reject { workflow: id }, Some("C1")),
    );
}

/// Three rows, the middle one without a source (line 3).
const ROWS_CSV: &str = "source,destination,traffic,encrypted\n\
    OrderProcessor,orderdb,500 GB/month,yes\n\
    ,orderdb,1TB,yes\n\
    CheckoutApi,orderdb,1TB,yes\n";

/// A CSV attachment as Slack describes it in an event's `files`.
fn csv_attachment(name: &str, size: usize, url: &str) -> Value {
    json!([{"id": "F0CSV", "name": name, "title": name, "filetype": "csv", "mimetype": "text/csv",
        "size": size, "url_private": url, "url_private_download": url}])
}

/// Posted messages whose buttons include `action_id`.
fn cards_with<'a>(calls: &'a [FakeCall], action_id: &str) -> Vec<&'a FakeCall> {
    posts(calls)
        .into_iter()
        .filter(|p| {
            p.body["blocks"].as_array().is_some_and(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| b["elements"].as_array())
                    .flatten()
                    .any(|e| e["action_id"] == action_id)
            })
        })
        .collect()
}

/// Audit entries that belong to no workflow (batch decisions): (actor, action).
async fn batch_audit(db: &std::path::Path) -> Vec<(String, String)> {
    use sqlx::Row;
    let pool = common::read_only_pool(db).await;
    sqlx::query("SELECT actor, action FROM audit_events WHERE workflow_id IS NULL ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

impl Bot {
    /// Alice mentions the bot with `bulk` and rows.csv (served by the fake)
    /// attached; returns the calls once the batch card is out.
    async fn bulk_file_until_card(&self) -> Vec<FakeCall> {
        let url = self
            .fake
            .serve_file("rows.csv", FakeFile::ok("text/csv", ROWS_CSV));
        let body = mention_with_files(
            ALICE,
            "bulk",
            csv_attachment("rows.csv", ROWS_CSV.len(), &url),
        );
        assert_eq!(self.post_signed(&body, false).await, 200);
        self.wait_for("the batch card", |c| {
            !cards_with(c, "approve_batch").is_empty()
        })
        .await
    }

    async fn click_batch(&self, user: &str, action: &str) -> u16 {
        self.click(user, action, "batch-1", "1700000000.000009")
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_attached_to_bulk_becomes_a_batch_that_one_click_approves() {
    let bot = Bot::start().await;
    let calls = bot.bulk_file_until_card().await;
    let downloads: Vec<&FakeCall> = calls
        .iter()
        .filter(|c| c.method == "files.download")
        .collect();
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    assert_eq!(
        downloads[0].token, "xoxb-test",
        "downloaded with the bot token"
    );
    assert_eq!(downloads[0].body["file"], "rows.csv");
    let cards = cards_with(&calls, "approve_batch");
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].body["channel"], "C1");
    assert!(
        text_of(cards[0]).contains("batch-1 · batch approval needed"),
        "{:?}",
        cards[0]
    );
    assert!(
        text_of(cards[0]).contains("line 3"),
        "the bad row is on the card: {:?}",
        cards[0]
    );
    assert_eq!(bot.counts().await.0, 2, "one workflow per good row");

    // The requester may not approve their own batch: told privately, audited.
    assert_eq!(bot.click_batch(ALICE, "approve_batch").await, 200);
    let ephemeral = bot.ephemeral_to(ALICE).await;
    assert!(text_of(&ephemeral).contains("requester"), "{ephemeral:?}");
    for id in [1, 2] {
        assert_eq!(bot.state(id).await.as_deref(), Some("waiting_approval"));
    }
    let audit = batch_audit(&bot.db).await;
    assert!(
        audit.contains(&(ALICE.to_string(), "batch.approve.refused".to_string())),
        "{audit:?}"
    );

    // An approver's click completes every row; the summary is posted.
    assert_eq!(bot.click_batch(APPROVER, "approve_batch").await, 200);
    let calls = bot
        .wait_for("the batch summary", |c| {
            posted_text(c, "batch-1 · batch finished")
        })
        .await;
    for id in [1, 2] {
        assert_eq!(bot.state(id).await.as_deref(), Some("completed"), "wf-{id}");
    }
    assert_eq!(cards_with(&calls, "approve_batch").len(), 1, "one card");
    assert!(batch_audit(&bot.db)
        .await
        .contains(&(APPROVER.to_string(), "batch.approved".to_string())));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_all_asks_for_a_reason_in_a_modal_and_rejects_every_row() {
    let bot = Bot::start().await;
    bot.bulk_file_until_card().await;
    assert_eq!(bot.click_batch(APPROVER, "reject_batch").await, 200);
    let calls = bot
        .wait_for("the modal", |c| c.iter().any(|c| c.method == "views.open"))
        .await;
    assert!(
        !calls.iter().any(|c| c.method == "chat.postEphemeral"),
        "a modal, not a 'say why' note"
    );
    let view = calls.iter().find(|c| c.method == "views.open").unwrap();
    assert_eq!(view.body["trigger_id"], "trigger-1");
    let metadata: Value =
        serde_json::from_str(view.body["view"]["private_metadata"].as_str().unwrap()).unwrap();
    assert_eq!(metadata["batch"], "batch-1");
    let submission = json!({"type": "view_submission", "user": {"id": APPROVER, "username": "ap"},
        "view": {"callback_id": view.body["view"]["callback_id"], "private_metadata": view.body["view"]["private_metadata"],
                 "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "wrong quarter"}}}}}});
    assert_eq!(
        bot.post_signed(form_payload(&submission).as_bytes(), true)
            .await,
        200
    );
    bot.wait_for("the batch summary", |c| {
        posted_text(c, "batch-1 · batch finished")
    })
    .await;
    for id in [1, 2] {
        assert_eq!(bot.state(id).await.as_deref(), Some("rejected"), "wf-{id}");
    }
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_that_cannot_be_read_get_a_clear_reply_and_start_nothing() {
    let bot = Bot::start().await;
    let fake = &bot.fake;
    let port = fake
        .base()
        .trim_start_matches("http://")
        .split(['/', ':'])
        .nth(1)
        .unwrap()
        .to_string();
    let served = |name: &str, file: FakeFile| fake.serve_file(name, file);
    let big = served(
        "big.csv",
        FakeFile::ok("text/csv", vec![b'a'; 4 * 1024 * 1024 + 1]),
    );
    let latin1 = served(
        "latin1.csv",
        FakeFile::ok(
            "text/csv",
            b"source,destination\nCaf\xe9,orderdb\n".to_vec(),
        ),
    );
    let login = served(
        "login.csv",
        FakeFile::ok(
            "text/html; charset=utf-8",
            "<!DOCTYPE html><title>Slack</title>",
        ),
    );
    let broken = served(
        "broken.csv",
        FakeFile {
            status: 503,
            content_type: "text/plain".into(),
            bytes: b"down".to_vec(),
        },
    );
    let gone = format!("{}/files/gone.csv", fake.base().trim_end_matches("/api"));
    // The fake itself under another name: a request would reach it.
    let foreign = format!("http://localhost:{port}/files/rows.csv");
    fake.serve_file("rows.csv", FakeFile::ok("text/csv", ROWS_CSV));
    let png = json!([{"id": "F1", "name": "map.png", "filetype": "png", "mimetype": "image/png",
        "size": 10, "url_private_download": served("map.png", FakeFile::ok("image/png", "x"))}]);
    let cases: Vec<(Value, &str)> = vec![
        (
            csv_attachment("huge.csv", 5 * 1024 * 1024, &big),
            "huge.csv is 5242880 bytes; at most 4194304",
        ),
        (
            csv_attachment("big.csv", 100, &big),
            "big.csv is larger than 4194304 bytes",
        ),
        (png, "map.png is not a CSV file (png)"),
        (
            csv_attachment("latin1.csv", 30, &latin1),
            "latin1.csv is not UTF-8 text",
        ),
        (
            csv_attachment("login.csv", 30, &login),
            "web page instead of login.csv",
        ),
        (
            csv_attachment("broken.csv", 30, &broken),
            "HTTP 503 for broken.csv",
        ),
        (
            csv_attachment("gone.csv", 30, &gone),
            "no file gone.csv (HTTP 404)",
        ),
        (
            csv_attachment("rows.csv", 30, &foreign),
            "rows.csv is not on Slack's file host (localhost)",
        ),
    ];
    for (files, expected) in &cases {
        let body = mention_with_files(ALICE, "bulk", files.clone());
        assert_eq!(bot.post_signed(&body, false).await, 200);
        bot.wait_for(expected, |c| posted_text(c, expected)).await;
    }
    let calls = fake.calls();
    let downloaded: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "files.download")
        .filter_map(|c| c.body["file"].as_str())
        .collect();
    assert_eq!(
        downloaded,
        [
            "big.csv",
            "latin1.csv",
            "login.csv",
            "broken.csv",
            "gone.csv"
        ],
        "nothing fetched for a refused size, type or host"
    );
    for reply in posts(&calls) {
        assert!(text_of(reply).contains("Nothing was started"), "{reply:?}");
    }
    let (workflows, _, _) = bot.counts().await;
    assert_eq!(workflows, 0);
    assert!(batch_audit(&bot.db).await.is_empty());
    bot.stop().await;
}

#[tokio::test]
async fn approver_groups_load_with_the_form_slack_reads_and_json_is_refused() {
    let fake = FakeSlack::start().await.unwrap();
    fake.set_group_members(vec!["U1".into(), "U2".into()]);
    let api = SlackApi::new(fake.base(), BotToken::new("xoxb-t"), Duration::from_secs(5)).unwrap();
    let members = api.usergroup_members("S0614TZR7").await.expect("members");
    assert_eq!(members, ["U1", "U2"]);
    assert!(fake.refused().is_empty(), "{:?}", fake.refused());
    assert_eq!(
        fake.calls().last().map(|c| c.body["usergroup"].clone()),
        Some(json!("S0614TZR7"))
    );

    // What the client used to send: a JSON body Slack does not read.
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/usergroups.users.list", fake.base()))
        .bearer_auth("xoxb-t")
        .json(&json!({"usergroup": "S0614TZR7"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["error"], "invalid_arguments");
    assert_eq!(fake.refused().len(), 1);
}
