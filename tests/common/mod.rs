//! Runs the real `switchboard` binary against a temporary database.

#![allow(dead_code)]

pub mod slack;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const FLAGSHIP: &str = "connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb.database.windows.net in East US, PCI-DSS, encrypted, under 20ms, 500 GB/month";

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Lab {
    pub fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().expect("temp dir"),
            env: Vec::new(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("switchboard.db")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Lab {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.current_dir(self.dir.path())
            .arg("--db")
            .arg(self.db())
            .args(args)
            .env_remove("SWITCHBOARD_CONFIG")
            .env("USER", "alice");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `args` with `stdin` piped in; returns the output.
    pub fn run_with_input(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchboard");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    /// Runs a console script as `user`; returns stdout, asserting success.
    pub fn console(&self, user: &str, script: &str) -> String {
        let out = self.run_with_input(&["console", "--user", user], script.as_bytes());
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "console failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Runs `args`, asserting success (stderr shown otherwise).
    /// A console of `user` that has been given `script` and keeps running
    /// (its stdin open) until the caller kills it.
    pub fn console_running(
        &self,
        user: &str,
        script: &str,
    ) -> (std::process::Child, std::process::ChildStdin) {
        let mut child = self
            .command(&["console", "--user", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("console");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(script.as_bytes()).expect("script");
        (child, stdin)
    }

    pub fn succeed(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run switchboard");
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_slice(&self.succeed(args).stdout).expect("json output")
    }

    /// Polls `status --format json` until `check` holds; fails after `limit`
    /// with the last status.
    pub fn wait_for_status(
        &self,
        what: &str,
        limit: std::time::Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = std::time::Instant::now();
        loop {
            let status = self.json(&["status", "--format", "json"]);
            if check(&status) {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "timed out waiting for {what}: {status:#}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn show(&self, id: &str) -> serde_json::Value {
        self.json(&["workflows", "show", id, "--format", "json"])
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

/// Runs blocking work (the binary) without starving what serves its calls
/// on this runtime (a fake cloud, moto's front).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Waits until the workflow settles (completed or failed); its record.
pub fn settled(lab: &Lab, id: &str) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let show = lab.show(id);
        if show["state"] == "completed" || show["state"] == "failed" {
            return show;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{id} did not settle: {show:#}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn step_status(show: &serde_json::Value, name: &str) -> String {
    show["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| s["status"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// Compares `text` with `tests/snapshots/<file>`; `UPDATE_SNAPSHOTS=1` writes it.
pub fn snapshot(file: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(file);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(
        text, expected,
        "{file} changed; review and UPDATE_SNAPSHOTS=1"
    );
}

/// The GlobalCart estate and `examples/onprem.yaml`.
pub fn globalcart() -> (
    switchboard::domain::Estate,
    switchboard::providers::onprem::OnpremInventory,
) {
    let estate = switchboard::domain::Estate::from_yaml(
        switchboard::providers::lab::EMBEDDED_ESTATE,
        "globalcart",
    )
    .unwrap();
    let onprem = switchboard::providers::onprem::OnpremInventory::from_yaml(
        include_str!("../../examples/onprem.yaml"),
        "onprem.yaml",
    )
    .unwrap();
    (estate, onprem)
}

/// A GlobalCart plan at 5 TB/month, taken through its JSON as the CLI
/// takes it; None when no path joins the two.
pub fn globalcart_plan(
    estate: &switchboard::domain::Estate,
    from: &str,
    to: &str,
) -> Option<switchboard::optimizer::query::PathsAnswer> {
    use switchboard::optimizer::choose::{Constraints, CostBasis, Objective};
    use switchboard::optimizer::{config_gen, query};
    let request = query::PathsRequest {
        from,
        to,
        traffic: "5TB",
        objective: Objective::Cost,
        basis: CostBasis::Marginal,
        constraints: Constraints::default(),
    };
    let answer = query::answer(estate, &request).ok()?;
    Some(config_gen::parse_plan(&serde_json::to_string(&answer).unwrap()).unwrap())
}

/// `switchboard config` for a GlobalCart plan, with `examples/onprem.yaml`.
pub fn globalcart_config(
    from: &str,
    to: &str,
    target: switchboard::optimizer::config_gen::Target,
) -> Vec<switchboard::optimizer::config_gen::Rendered> {
    let (estate, onprem) = globalcart();
    let plan = globalcart_plan(&estate, from, to).unwrap();
    switchboard::optimizer::config_gen::render(target, &plan, &estate, Some(&onprem)).unwrap()
}

/// A read-only connection pool on a test's database, for asserting on tables.
pub async fn read_only_pool(db: &Path) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db)
                .read_only(true),
        )
        .await
        .unwrap()
}

/// How many workflows, audit events and outbox messages a database holds:
/// what a refused request must not change.
pub async fn trace_counts(db: &Path) -> (i64, i64, i64) {
    use sqlx::Row;
    let pool = read_only_pool(db).await;
    let mut out = [0i64; 3];
    for (i, table) in ["workflows", "audit_events", "outbox"].iter().enumerate() {
        out[i] = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
    }
    (out[0], out[1], out[2])
}

/// Workflow `wf-<id>`'s status, if it exists.
/// The audit trail of workflow `id` (panics in a test when it cannot be read).
pub async fn audit_trail(
    store: &switchboard::store::Store,
    id: i64,
) -> Vec<switchboard::store::AuditRecord> {
    let id = switchboard::domain::WorkflowId::new(id).expect("a workflow id");
    store.audit_trail(id).await.expect("the audit trail")
}

pub async fn workflow_status(store: &switchboard::store::Store, id: i64) -> Option<String> {
    store
        .load(switchboard::domain::WorkflowId::new(id).unwrap())
        .await
        .unwrap()
        .map(|r| r.state.status().to_string())
}

/// Polls `calls` (what a fake platform recorded) until `check` holds; fails
/// after 20 s showing the last calls.
pub async fn wait_for_calls<T: std::fmt::Debug>(
    what: &str,
    calls: impl Fn() -> Vec<T>,
    check: impl Fn(&[T]) -> bool,
) -> Vec<T> {
    let started = std::time::Instant::now();
    loop {
        let seen = calls();
        if check(&seen) {
            return seen;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}: {seen:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The approval card the snapshot tests render for each platform.
pub fn approval_card(requester: &str) -> switchboard::chat::message::Message {
    let id = switchboard::domain::WorkflowId::new(7).unwrap();
    switchboard::chat::message::Message::text(format!("{requester} asks: {FLAGSHIP}"))
        .with_title("wf-7 · approval needed")
        .with_workflow(id)
        .field("From", "lambda OrderProcessor in aws/us-east-1")
        .field("To", "sql orderdb.database.windows.net in azure/eastus")
        .field("Compliance", "passes PCI-DSS")
        .field(
            "Design",
            "dx-1 (direct_connect) → er-1 (expressroute) · 12.0 ms",
        )
        .field("Cost", "$10.00/month at $0.020/GB")
        .field("Risk", "medium (new route between clouds)")
        .with_decision_buttons(id)
}

/// Delivery settings for tests: short polls and backoffs.
pub fn fast_delivery() -> switchboard::chat::delivery::DeliverySettings {
    switchboard::chat::delivery::DeliverySettings {
        poll: std::time::Duration::from_millis(20),
        base_backoff: std::time::Duration::from_millis(20),
        max_backoff: std::time::Duration::from_millis(200),
        ..Default::default()
    }
}

/// Queues `alert 0` … `alert n-1` (warnings) for `channel`.
pub async fn post_alerts(store: &switchboard::store::Store, channel: &str, n: usize) {
    use switchboard::chat::message::{Destination, Message, Tone};
    let to = Destination {
        channel: channel.into(),
        thread: None,
    };
    for i in 0..n {
        let alert = Message::text(format!("alert {i}")).with_tone(Tone::Warning);
        store.post(&to, &alert).await.unwrap();
    }
}

/// Runs `delivery` until at most `leave` messages are pending (20 s at
/// most), stops it, and returns how long that took.
pub async fn deliver_until(
    store: &switchboard::store::Store,
    delivery: switchboard::chat::delivery::Delivery,
    leave: i64,
) -> std::time::Duration {
    let cancel = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(delivery.run(cancel.clone()));
    let started = std::time::Instant::now();
    while store.outbox_stats().await.unwrap().pending > leave {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "still pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    cancel.cancel();
    worker.await.unwrap();
    took
}

/// `GET url` as text.
pub async fn get_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}
