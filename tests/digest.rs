//! `switchboard digest` and the scheduled digest, run as the binary against
//! a temporary database with the lab's usage history.

mod common;

use common::Lab;
use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};
use switchboard::store::Store;

#[test]
fn the_morning_after_internet_egress_jumps_the_digest_flags_it() {
    let lab = Lab::new();
    lab.succeed(&[
        "lab",
        "usage",
        "--days",
        "60",
        "--from",
        "2026-01-01",
        "--spike",
        "inet-aws-use1-prod:2026-02-20:20",
    ]);
    // The day before the jump is reported: nothing unusual.
    let before = lab.json(&["digest", "--date", "2026-02-20", "--format", "json"]);
    assert_eq!(before["anomalies"], serde_json::json!([]), "{before}");
    // The next morning it is flagged, with what it costs.
    let after = lab.json(&["digest", "--date", "2026-02-21", "--format", "json"]);
    let anomalies = after["anomalies"].as_array().unwrap();
    assert_eq!(anomalies.len(), 1, "{after}");
    let a = &anomalies[0];
    assert_eq!(
        (a["connection"].as_str(), a["kind"].as_str()),
        (Some("inet-aws-use1-prod"), Some("internet"))
    );
    assert!(a["ratio"].as_f64().unwrap() > 15.0, "{a}");
    assert!(a["extra_per_month_usd"].as_f64().unwrap() > 50_000.0, "{a}");
    assert_eq!(after["yesterday"], "2026-02-20");
    // By cloud adds up to the total; the optimizer's top saving is the reroute
    // of that same internet flow.
    let costs = &after["costs"];
    let clouds: f64 = costs["by_cloud"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cost"]["marginal"].as_f64().unwrap())
        .sum();
    assert!((clouds - costs["total"]["marginal"].as_f64().unwrap()).abs() < 1e-6);
    assert!(
        after["savings"][0]["what"]
            .as_str()
            .unwrap()
            .contains("flow-006"),
        "{after}"
    );
    assert!(
        after["month"]["month_end"]["marginal"].as_f64().unwrap()
            > after["month"]["month_to_date"]["marginal"]
                .as_f64()
                .unwrap()
    );

    let text = String::from_utf8_lossy(&lab.succeed(&["digest", "--date", "2026-02-21"]).stdout)
        .into_owned();
    assert!(text.contains("Daily cost digest · 2026-02-21"), "{text}");
    assert!(
        text.contains("⚠ inet-aws-use1-prod (internet, aws)"),
        "{text}"
    );
    assert!(text.contains("February to date"), "{text}");
}

#[test]
fn a_digest_without_usage_says_so_and_shows_no_made_up_costs() {
    let lab = Lab::new();
    let text = String::from_utf8_lossy(&lab.succeed(&["digest", "--date", "2026-03-01"]).stdout)
        .into_owned();
    assert!(text.contains("No usage recorded for 2026-02-28"), "{text}");
    assert!(text.contains("switchboard usage import"), "{text}");
    // No zeros pretending to be data: no day's or month's figures at all
    // (the optimizer's savings, from the estate, are still real).
    assert!(
        !text.contains("$0.00") && !text.contains("Yesterday ("),
        "{text}"
    );
    assert!(!text.contains("to date"), "{text}");
    let json = lab.json(&["digest", "--date", "2026-03-01", "--format", "json"]);
    assert_eq!(
        (json["costs"].is_null(), json["month"].is_null()),
        (true, true),
        "{json}"
    );
    let bad = lab
        .command(&["digest", "--date", "yesterday"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--date"));
}

#[test]
fn the_schedule_posts_the_digest_to_the_digest_channel_under_console() {
    let lab = Lab::new()
        .with_env("SWITCHBOARD_DIGEST_SCHEDULE", "* * * * * *")
        .with_env("SWITCHBOARD_DIGEST_TIMEZONE", "Europe/Berlin");
    // Ten days before today to tomorrow (UTC), so Berlin's yesterday is in it.
    let from = chrono::Utc::now().date_naive() - chrono::Days::new(10);
    lab.succeed(&["lab", "usage", "--days", "12", "--from", &from.to_string()]);
    let mut console = lab
        .command(&["console", "--user", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn console");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let posted = runtime.block_on(async {
        let store = Store::open(&lab.db()).await.unwrap();
        let started = Instant::now();
        loop {
            let pending = store.pending_outbox(50).await.unwrap();
            if let Some(item) = pending.into_iter().find(|i| {
                i.message
                    .title
                    .as_deref()
                    .is_some_and(|t| t.starts_with("Daily cost digest"))
            }) {
                return item;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no digest was posted"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut stdin = console.stdin.take().unwrap();
    let _ = stdin.write_all(b"");
    drop(stdin);
    let out = console.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(posted.destination.channel, "digest");
    assert!(
        posted.message.text.contains("Yesterday ("),
        "{}",
        posted.message.text
    );
}

#[test]
fn chat_answers_digest_and_forecast() {
    let lab = Lab::new();
    lab.succeed(&[
        "lab",
        "usage",
        "--days",
        "40",
        "--from",
        "2026-01-01",
        "--spike",
        "inet-aws-use1-prod:2026-02-08:20",
    ]);
    let out = lab.console("alice", "digest 2026-02-09\ndigest 9 February\nforecast\n");
    assert!(out.contains("Daily cost digest · 2026-02-09"), "{out}");
    assert!(out.contains("⚠ inet-aws-use1-prod"), "{out}");
    assert!(out.contains("Usage: digest [YYYY-MM-DD]"), "{out}");
    assert!(out.contains("Cost as of 2026-02-09"), "{out}");
}
