//! Bulk requests through the real binary on the lab estate: the acquisition
//! file becomes 89 workflows and one approval card; the batch is decided once
//! by an approver (never by its requester or a non-approver); bad rows are
//! reported with their line numbers and stop nothing; a broken file starts
//! nothing.

mod common;

use common::Lab;

const ACQUISITION: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/acquisition.csv");

fn rows_by_outcome(view: &serde_json::Value, outcome: &str) -> Vec<u64> {
    view["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["outcome"] == outcome)
        .map(|r| r["line"].as_u64().expect("line"))
        .collect()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn the_acquisition_is_one_card_decided_once_by_an_approver() {
    let lab = Lab::new();
    let view = lab.json(&["bulk", ACQUISITION, "--user", "lead", "--format", "json"]);
    assert_eq!(view["id"], "batch-1");
    assert_eq!(view["rows"].as_array().unwrap().len(), 89);
    assert_eq!(rows_by_outcome(&view, "awaiting_approval").len(), 87);
    assert_eq!(rows_by_outcome(&view, "failed_policy"), vec![40, 77]);

    // The requester and a non-approver are refused and nothing moves.
    let own = lab.console("lead", "approve batch-1\n");
    assert!(own.contains("requester cannot decide"), "{own}");
    let stranger = lab.console("mallory", "approve batch-1\n");
    assert!(stranger.contains("not an approver"), "{stranger}");
    assert_eq!(
        count(&stranger, "batch approval needed"),
        0,
        "the card was queued once, before: {stranger}"
    );

    let out = lab.console("approver", "approve batch-1\napprove batch-1\n");
    assert!(out.contains("batch-1: 87 rows decided"), "{out}");
    assert!(out.contains("has no rows awaiting approval"), "{out}");
    assert!(out.contains("87 of 89 rows completed"), "{out}");
    assert_eq!(count(&out, "batch finished"), 1, "{out}");
    // Rows never post cards of their own.
    assert_eq!(count(&out, "approval needed"), 0, "{out}");

    // Every approved row was provisioned through the lab, and each row's
    // approval is audited on its own workflow.
    let resources = lab.json(&["lab", "resources", "--format", "json"]);
    let workflows: std::collections::BTreeSet<String> = resources
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["key"].as_str()?.split('/').next().map(str::to_string))
        .collect();
    assert_eq!(workflows.len(), 87, "{workflows:?}");
    let row = &view["rows"][0];
    let shown = lab.show(row["workflow"].as_str().unwrap());
    assert_eq!(shown["state"], "completed", "{shown:#}");
    let audit: Vec<&str> = shown["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(audit.iter().any(|a| a.contains("approv")), "{audit:?}");
}

#[test]
fn bad_rows_are_reported_by_line_and_the_good_rows_go_on() {
    let lab = Lab::new();
    let mut csv = b"source,destination,traffic,encrypted\n\
        OrderProcessor,orderdb,500 GB/month,yes\n\
        \n\
        # a comment line\n\
        ,orderdb,1TB,yes\n\
        CartService,sessions,2TB,maybe\n\
        CartService,sessions,2TB,yes,extra\n"
        .to_vec();
    csv.extend_from_slice(b"Caf\xe9Service,orderdb,1TB,yes\n");
    csv.extend_from_slice(b"CheckoutApi,orderdb,1TB,yes\n");
    let file = lab.path("rows.csv");
    std::fs::write(&file, csv).unwrap();
    let view = lab.json(&[
        "bulk",
        file.to_str().unwrap(),
        "--user",
        "lead",
        "--format",
        "json",
    ]);
    let refused: Vec<(u64, String)> = view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            (
                5,
                "needs a request, or a source and a destination".to_string()
            ),
            (6, "encrypted 'maybe' is not yes or no".to_string()),
            (7, "5 fields, but the header names 4".to_string()),
            (8, "field 1 is not UTF-8 text".to_string()),
        ],
        "{view:#}"
    );
    assert_eq!(
        rows_by_outcome(&view, "awaiting_approval"),
        vec![2, 9],
        "{view:#}"
    );
    let out = lab.console("approver", "approve batch-1\n");
    assert!(out.contains("2 of 6 rows completed"), "{out}");
    assert!(out.contains("4 bad rows"), "{out}");
}

#[test]
fn a_broken_file_starts_nothing_and_says_why() {
    let lab = Lab::new();
    for (name, text, expected) in [
        (
            "typo.csv",
            "source,destination,trafic\na,b,1TB\n",
            "unknown column 'trafic'",
        ),
        ("empty.csv", "", "the file is empty"),
        (
            "header.csv",
            "source,destination\n",
            "has a header but no rows",
        ),
        (
            "columns.csv",
            "source,traffic\na,1TB\n",
            "needs a 'request' column",
        ),
    ] {
        let file = lab.write(name, text);
        let out = lab
            .command(&["bulk", file.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: the file is named: {stderr}");
    }
    let missing = lab.command(&["bulk", "nope.csv"]).output().unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.csv"));
    let list = lab.json(&["workflows", "list", "--format", "json"]);
    assert_eq!(list.as_array().unwrap().len(), 0, "{list:#}");
}

#[test]
fn rejecting_a_batch_needs_a_reason_and_rejects_every_waiting_row() {
    let lab = Lab::new();
    let file = lab.write(
        "two.csv",
        "request\n\"connect OrderProcessor to orderdb, encrypted, 500 GB/month\"\n\"connect CartService to globalcart-dw, encrypted, 2TB/month\"\n",
    );
    lab.succeed(&["bulk", file.to_str().unwrap(), "--user", "lead"]);
    let out = lab.console(
        "approver",
        "reject batch-1\nreject batch-1 budget freeze until Q3\n",
    );
    assert!(out.contains("Say why"), "{out}");
    assert!(out.contains("batch-1: 2 rows decided"), "{out}");
    assert!(out.contains("0 of 2 rows completed"), "{out}");
    assert!(out.contains("2 rejected"), "{out}");
    let list = lab.json(&["workflows", "list", "--format", "json"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|w| w["state"] == "rejected"),
        "{list:#}"
    );
}

#[test]
fn a_csv_file_named_in_the_console_is_a_batch_too() {
    let lab = Lab::new();
    lab.write(
        "two.csv",
        "source,destination,traffic,encrypted\nOrderProcessor,orderdb,500 GB/month,yes\nnot a row at all\n",
    );
    let out = lab.console("lead", "bulk\nbulk two.csv\nbulk missing.csv\n");
    assert!(out.contains("Put the CSV after `bulk`"), "{out}");
    assert!(out.contains("batch-1 · lead"), "{out}");
    assert!(out.contains("line 3"), "{out}");
    assert_eq!(out.matches("batch approval needed").count(), 1, "{out}");
    assert!(out.contains("missing.csv"), "{out}");
    let list = lab.json(&["workflows", "list", "--format", "json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
}

/// A process stopped mid-file: the batch and all its rows are stored, one row
/// became a workflow. The next process's watcher submits the rest, and no
/// line ever becomes two workflows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_submitted_batch_is_finished_by_the_next_process() {
    use switchboard::domain::UserId;
    use switchboard::store::batches::PendingRow;
    use switchboard::store::BatchRow;

    let dir = tempfile::tempdir().unwrap();
    let config = switchboard::config::Config {
        db: dir.path().join("switchboard.db"),
        ..switchboard::config::Config::default()
    };
    let app = switchboard::app::App::open(config).await.unwrap();
    let lead = UserId::new("lead");
    let rows: Vec<PendingRow> = [
        (
            2,
            "connect OrderProcessor to orderdb, encrypted, 500 GB/month",
        ),
        (
            3,
            "connect CartService to globalcart-dw, encrypted, 2TB/month",
        ),
        (4, "connect CheckoutApi to orderdb, encrypted, 1TB/month"),
    ]
    .into_iter()
    .map(|(line, request)| PendingRow {
        line,
        request: request.into(),
    })
    .collect();
    let batch = app
        .store
        .create_batch(&lead, "console", "acq.csv", 3, &rows)
        .await
        .unwrap();
    app.engine
        .submit_batch_row(
            &lead,
            "console",
            &rows[0].request,
            BatchRow { batch, line: 2 },
        )
        .await
        .unwrap();
    // The same line again is refused by the store, whoever tries.
    let twice = app
        .engine
        .submit_batch_row(
            &lead,
            "console",
            &rows[0].request,
            BatchRow { batch, line: 2 },
        )
        .await;
    assert!(twice.is_err(), "{twice:?}");

    let cancel = tokio_util::sync::CancellationToken::new();
    let engine = app.engine.clone();
    let runner = tokio::spawn({
        let cancel = cancel.clone();
        async move { engine.run(cancel).await }
    });
    let watcher = tokio::spawn(app.bulk().watch(cancel.clone()));
    let view = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        app.bulk().wait_until(batch, |v| v.is_settled()),
    )
    .await
    .expect("the batch settles")
    .unwrap();
    let lines: Vec<u32> = view.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![2, 3, 4]);
    assert_eq!(view.awaiting_approval().len(), 3, "{view:?}");
    assert!(app
        .store
        .batch_pending_rows(batch)
        .await
        .unwrap()
        .is_empty());
    app.bulk().resume().await.unwrap();
    assert_eq!(app.store.batch_workflows(batch).await.unwrap().len(), 3);
    cancel.cancel();
    runner.await.unwrap().unwrap();
    watcher.await.unwrap();
}
