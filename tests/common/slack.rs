//! What the Slack tests share: reading what `FakeSlack` recorded, and the
//! bot's settings that make delivery quick.

use serde_json::Value;
use std::time::{Duration, Instant};
use switchboard::app::App;
use switchboard::bench::fake_slack::{FakeCall, FakeSlack};
use switchboard::chat::delivery::DeliverySettings;
use switchboard::domain::WorkflowId;

pub fn fast_delivery() -> DeliverySettings {
    DeliverySettings {
        poll: Duration::from_millis(20),
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..DeliverySettings::default()
    }
}

/// Polls the fake's calls until `check` holds; fails after 20 s with them.
pub async fn wait_for_calls(
    fake: &FakeSlack,
    what: &str,
    check: impl Fn(&[FakeCall]) -> bool,
) -> Vec<FakeCall> {
    let started = Instant::now();
    loop {
        let calls = fake.calls();
        if check(&calls) {
            return calls;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}: {calls:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A workflow's status, None when there is no such workflow.
pub async fn workflow_status(app: &App, id: i64) -> Option<String> {
    app.store
        .load(WorkflowId::new(id).unwrap())
        .await
        .unwrap()
        .map(|r| r.state.status().to_string())
}

pub fn posts(calls: &[FakeCall]) -> Vec<&FakeCall> {
    calls
        .iter()
        .filter(|c| c.method == "chat.postMessage")
        .collect()
}

pub fn text_of(call: &FakeCall) -> String {
    call.body.to_string()
}

pub fn has_buttons(body: &Value) -> bool {
    body["blocks"]
        .as_array()
        .is_some_and(|b| b.iter().any(|b| b["type"] == "actions"))
}

/// Whether some posted message contains `needle`.
pub fn posted_text(calls: &[FakeCall], needle: &str) -> bool {
    posts(calls).iter().any(|p| text_of(p).contains(needle))
}

/// `GET /metrics` of a server on `addr`.
pub async fn scrape_metrics(addr: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
