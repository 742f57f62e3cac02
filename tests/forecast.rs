//! `switchboard usage import`, `lab usage` and `forecast` run as the binary
//! against a temporary database: bad CSV rows named by line, idempotent
//! re-import, the chapter's capacity and latency cases, and prediction
//! alerts that reach the alerts channel once per condition until they clear
//! (read back from what the console drains from the outbox).

mod common;

use common::Lab;
use switchboard::store::prober::SampleRow;
use switchboard::store::Store;

fn import(lab: &Lab, name: &str, text: &str) -> std::process::Output {
    let file = lab.write(name, text);
    lab.command(&[
        "usage",
        "import",
        file.to_str().unwrap(),
        "--format",
        "json",
    ])
    .output()
    .expect("run switchboard")
}

#[test]
fn usage_import_keeps_good_rows_names_bad_ones_and_replaces_a_day_on_reimport() {
    let lab = Lab::new();
    let text = "day,connection,gigabytes,peak_gbps\n\
                2026-01-05,dx-1,1000,0.5\n\
                2026-01-05,no-such-link,10,\n\
                2026-01-06,dx-1,lots,\n\
                2026-01-06,dx-1,1200,\n";
    let out = import(&lab, "usage.csv", text);
    assert!(
        !out.status.success(),
        "bad rows must make the exit status say so"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["imported"], 2, "{report}");
    let refused: Vec<(u64, String)> = report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(refused.len(), 2, "{report}");
    assert_eq!(refused[0].0, 3);
    assert!(
        refused[0].1.contains("unknown connection 'no-such-link'"),
        "{refused:?}"
    );
    assert_eq!(refused[1].0, 4);
    assert!(refused[1].1.contains("gigabytes 'lots'"), "{refused:?}");

    // The same file again changes nothing; a corrected 5 January replaces it.
    import(&lab, "usage.csv", text);
    let digest = lab.json(&["digest", "--date", "2026-01-06", "--format", "json"]);
    let top = &digest["costs"]["top_connections"][0];
    assert_eq!(
        (top["connection"].as_str(), top["gigabytes"].as_f64()),
        (Some("dx-1"), Some(1000.0))
    );
    let out = import(
        &lab,
        "fix.csv",
        "day,connection,gigabytes\n2026-01-05,dx-1,1500\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let digest = lab.json(&["digest", "--date", "2026-01-06", "--format", "json"]);
    assert_eq!(
        digest["costs"]["top_connections"][0]["gigabytes"].as_f64(),
        Some(1500.0)
    );
    assert_eq!(digest["costs"]["connections"], 1, "{digest}");

    let out = import(&lab, "empty.csv", "");
    assert!(!out.status.success());
    let err = lab
        .command(&["usage", "import", lab.path("nope.csv").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&err.stderr).contains("nope.csv"));
}

#[test]
fn imported_peaks_say_when_a_10_gbps_link_fills_and_alert_once() {
    // The chapter: dx-1's peaks at 7 Gbps, +0.033 Gbps/day over 60 days:
    // 80 % in 31 days, the 10 Gbps limit in 91 (three months).
    let lab = Lab::new();
    let mut csv = String::from("day,connection,gigabytes,peak_gbps\n");
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    for i in 0..60u64 {
        let peak = 7.0 - 0.033 * (59 - i) as f64;
        let day = start + chrono::Days::new(i);
        csv.push_str(&format!(
            "{day},dx-1,{},{peak}\n",
            peak / 1.8 * 86_400.0 / 8.0
        ));
    }
    assert!(import(&lab, "dx.csv", &csv).status.success());
    let run = lab.json(&["forecast", "--format", "json"]);
    let dx = run["capacity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connection"] == "dx-1")
        .expect("dx-1 forecast");
    assert_eq!(dx["measure"], "peak");
    assert_eq!(dx["reaches_80_on"], "2026-04-01", "{dx}");
    assert_eq!(dx["reaches_100_on"], "2026-05-31", "{dx}");
    assert_eq!(dx["alert"], true);
    assert_eq!(
        run["alerts"]["raised"],
        serde_json::json!(["capacity dx-1"])
    );
    let again = lab.json(&["forecast", "--format", "json"]);
    assert_eq!(again["alerts"]["raised"], serde_json::json!([]));
    assert_eq!(again["alerts"]["standing"], 1);
    // The month-end cost is priced from the catalog's DX rate.
    assert!(
        run["cost"]["total"]["month_end"]["marginal"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(run["cost"]["prices_from"]
        .as_str()
        .unwrap()
        .contains("pricing catalog"));
}

#[test]
fn the_lab_usage_history_feeds_capacity_and_cost_forecasts() {
    let lab = Lab::new();
    let out = lab.succeed(&["lab", "usage", "--days", "45", "--from", "2026-01-01"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("2026-01-01 to 2026-02-14"), "{said}");
    let run = lab.json(&["forecast", "--format", "json"]);
    let capacity = run["capacity"].as_array().unwrap();
    assert!(capacity.len() >= 20, "{run}");
    assert!(capacity.iter().all(|c| c["alert"] == false), "{run}");
    let total = &run["cost"]["total"];
    assert_eq!(total["as_of"], "2026-02-14");
    let mtd = total["month_to_date"]["marginal"].as_f64().unwrap();
    let end = total["month_end"]["marginal"].as_f64().unwrap();
    assert!(mtd > 0.0 && end > mtd * 1.5, "{total}");
    assert!(total["month_end"]["full"].as_f64().unwrap() > end);
    let clouds: Vec<&str> = run["cost"]["clouds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cloud"].as_str().unwrap())
        .collect();
    assert!(clouds.contains(&"aws") && clouds.contains(&"azure") && clouds.contains(&"gcp"));
    let text = String::from_utf8_lossy(&lab.succeed(&["forecast"]).stdout).into_owned();
    assert!(
        text.contains("Cost as of 2026-02-14 (marginal / full)"),
        "{text}"
    );
    assert!(text.contains("Latency trends (0 paths)"), "{text}");
}

/// Writes hourly probe samples for `path`, one daily value per day from
/// 2026-02-08, folded into the per-minute table as the prober does.
fn probe_history(lab: &Lab, path: &str, daily_ms: &[f64]) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(&lab.db()).await.unwrap();
        let start_ms = 1_770_508_800_000u64; // 2026-02-08T00:00:00Z
        let mut rows = Vec::new();
        for (d, ms) in daily_ms.iter().enumerate() {
            for h in 0..24u64 {
                rows.push(SampleRow {
                    path_id: path.into(),
                    at: start_ms + d as u64 * 86_400_000 + h * 3_600_000,
                    rtt_ms: Some(*ms),
                    failure: None,
                });
            }
        }
        store.insert_samples(rows).await.unwrap();
        store.downsample(u64::MAX / 2, 0).await.unwrap();
    });
}

#[test]
fn a_rising_latency_alerts_once_across_runs_and_clears_once() {
    let lab = Lab::new();
    // 12 → 14 → 16 ms over 7 days.
    probe_history(
        &lab,
        "dx-1/primary",
        &[12.0, 12.7, 13.3, 14.0, 14.7, 15.3, 16.0],
    );
    let run = lab.json(&["forecast", "--format", "json"]);
    let trend = &run["latency"][0];
    assert_eq!(trend["path"], "dx-1/primary");
    assert_eq!(trend["baseline_ms"], 12.0);
    assert_eq!(trend["alert"], true, "{trend}");
    assert_eq!(trend["crosses_on"], "2026-02-26", "{trend}");
    let text = String::from_utf8_lossy(&lab.succeed(&["forecast"]).stdout).into_owned();
    assert!(
        text.contains("0 raised") && text.contains("1 still standing"),
        "{text}"
    );

    let out = lab.console("alice", "");
    assert_eq!(
        out.matches("Prediction: latency rising on dx-1/primary")
            .count(),
        1,
        "{out}"
    );
    assert!(out.contains("12.0 → 16.0 ms over 7 days"), "{out}");

    // Back to 12 ms for two weeks: the trend is gone, one all-clear.
    let mut days = vec![12.0, 12.7, 13.3, 14.0, 14.7, 15.3, 16.0];
    days.extend([12.0; 14]);
    probe_history(&lab, "dx-1/primary", &days);
    let run = lab.json(&["forecast", "--format", "json"]);
    assert_eq!(run["latency"][0]["alert"], false, "{run}");
    assert_eq!(
        run["alerts"]["cleared"],
        serde_json::json!(["latency_trend dx-1/primary"])
    );
    lab.succeed(&["forecast"]);
    let out = lab.console("alice", "");
    assert_eq!(
        out.matches("Cleared: latency trend on dx-1/primary")
            .count(),
        1,
        "{out}"
    );
    assert!(!out.contains("Prediction:"), "{out}");
}
