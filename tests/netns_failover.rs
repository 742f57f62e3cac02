//! Failover proven on real links: two paths through router namespaces from a
//! probe namespace to a target, `switchboard probe` running inside the probe
//! namespace, and the primary cut (link down), blackholed (link up, packets
//! dropped) or the backup made lossy. Needs root and network namespaces; where
//! they are missing the tests say "skipped: needs root and netns" (set
//! SWITCHBOARD_NETLAB=require to make that a failure).

mod common;
mod netlab;

use common::Lab;
use netlab::TwoPathLab;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const INTERVAL_MS: u64 = 100;
const THRESHOLD: u64 = 3;

struct Prober(Child);

impl Drop for Prober {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn start(lab: &Lab, net: &TwoPathLab, hold_down: &str) -> Prober {
    let paths = format!(
        "defaults: {{ interval: {INTERVAL_MS}ms, timeout: 50ms }}\n\
         failover: {{ hold_down: {hold_down} }}\n\
         pairs:\n\
         \x20 - id: use1-to-dc1\n\
         \x20   primary: {{ connection: dx-1, probe: {{ kind: icmp, target: {t} }}, via: {{ source: {p} }} }}\n\
         \x20   backup: {{ connection: vpn-aws-dc1-t1, probe: {{ kind: icmp, target: {t} }}, via: {{ source: {b} }} }}\n\
         \x20   route: {{ network: aws-use1-prod, destination_cidr: 172.16.0.0/16 }}\n",
        t = net.target,
        p = net.primary_source,
        b = net.backup_source,
    );
    let file = lab.write("paths.yaml", &paths);
    let child = net
        .in_probe_ns(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--db")
        .arg(lab.db())
        .args(["probe", "--paths"])
        .arg(&file)
        .env_remove("SWITCHBOARD_CONFIG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(lab.path("prober.log")).expect("prober log"))
        .spawn()
        .expect("start switchboard probe in the probe namespace");
    Prober(child)
}

/// Both paths answer and the pair carries traffic on its primary: where every
/// test starts (on a loaded machine a start-up probe can time out and cause a
/// failover and failback first; the tests count switches from here).
fn settled(lab: &Lab) -> usize {
    let status = lab.wait_for_status(
        "both paths up, on the primary",
        Duration::from_secs(10),
        |s| both_up(s) && active(s) == "use1-to-dc1/primary",
    );
    failovers(&status).len()
}

/// The latest switch is the failover to the backup.
fn failed_over(s: &serde_json::Value) -> bool {
    failovers(s)
        .first()
        .is_some_and(|f| f["to_path"] == "use1-to-dc1/backup")
}

fn both_up(s: &serde_json::Value) -> bool {
    s["paths"]
        .as_array()
        .is_some_and(|p| p.len() == 2 && p.iter().all(|p| p["state"] == "up"))
}

fn failovers(s: &serde_json::Value) -> Vec<serde_json::Value> {
    s["recent_failovers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn active(s: &serde_json::Value) -> String {
    s["pairs"][0]["active_path"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Asserts the failover to the backup happened within BFD-like bounds of `cut`.
fn assert_prompt_failover(status: &serde_json::Value, cut: u64) {
    let f = &failovers(status)[0];
    assert_eq!(f["to_path"], "use1-to-dc1/backup", "{status:#}");
    let detected = f["detected_at"].as_u64().unwrap();
    let applied = f["applied_at"].as_u64().expect("applied");
    let detection = detected.saturating_sub(cut);
    assert!(
        detection <= THRESHOLD * INTERVAL_MS + 100,
        "detected {detection} ms after the cut (bound {} ms)",
        THRESHOLD * INTERVAL_MS + 100
    );
    assert!(
        applied - detected < 1000,
        "applied {} ms after detection",
        applied - detected
    );
}

#[test]
fn a_cut_primary_fails_over_fast_and_fails_back_after_the_hold_down() {
    let Some(net) = TwoPathLab::create_or_skip() else {
        return;
    };
    let lab = Lab::new();
    let _prober = start(&lab, &net, "2s");
    let before = settled(&lab);

    let cut = now_ms();
    net.cut_primary();
    let status = lab.wait_for_status("failover", Duration::from_secs(5), failed_over);
    assert_prompt_failover(&status, cut);
    assert_eq!(active(&status), "use1-to-dc1/backup");
    let alerts = lab.console("approver", "");
    assert!(
        alerts.contains("use1-to-dc1"),
        "the failover alert is queued: {alerts}"
    );

    net.restore_primary();
    let back = Instant::now();
    let status = lab.wait_for_status("failback", Duration::from_secs(15), |s| {
        active(s) == "use1-to-dc1/primary"
    });
    assert!(
        back.elapsed() >= Duration::from_secs(2),
        "failback before the hold-down"
    );
    assert_eq!(
        failovers(&status).len(),
        before + 2,
        "one failover, one failback: {status:#}"
    );
}

#[test]
fn a_blackholed_primary_with_its_link_up_fails_over_too() {
    let Some(net) = TwoPathLab::create_or_skip() else {
        return;
    };
    let lab = Lab::new();
    let _prober = start(&lab, &net, "2s");
    settled(&lab);
    let cut = now_ms();
    net.blackhole_primary();
    let status = lab.wait_for_status("failover", Duration::from_secs(5), failed_over);
    assert_prompt_failover(&status, cut);
    net.clear_blackhole_primary();
    lab.wait_for_status("failback", Duration::from_secs(15), |s| {
        active(s) == "use1-to-dc1/primary"
    });
}

#[test]
fn a_lossy_backup_does_not_make_the_pair_flap() {
    let Some(net) = TwoPathLab::create_or_skip() else {
        return;
    };
    let lab = Lab::new();
    let _prober = start(&lab, &net, "30s");
    let before = settled(&lab);
    // 20 % random loss on the backup while the primary is fine: nothing moves.
    net.set_backup_loss(20);
    std::thread::sleep(Duration::from_secs(3));
    let status = lab.json(&["status", "--format", "json"]);
    assert_eq!(
        failovers(&status).len(),
        before,
        "a lossy backup moved traffic: {status:#}"
    );
    // The primary dies: one failover to the (lossy, still usable) backup, and
    // no switching back and forth while the loss goes on.
    net.cut_primary();
    lab.wait_for_status("failover", Duration::from_secs(5), failed_over);
    std::thread::sleep(Duration::from_secs(4));
    let status = lab.json(&["status", "--format", "json"]);
    assert_eq!(failovers(&status).len(), before + 1, "flapping: {status:#}");
    assert_eq!(active(&status), "use1-to-dc1/backup");
}
