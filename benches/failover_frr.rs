//! Traffic outage on real routing daemons (`sudo cargo bench --bench
//! failover_frr`): the on-prem failover world (tests/onprem_world — FRR
//! edge and cloud routers in namespaces, the estate from discovery,
//! `switchboard probe` in the host's namespace acting on the edge through
//! the on-prem actor) with a 1 kHz UDP stream from the host through the edge
//! to the cloud's prefix. The primary is cut 20 times by link-down and 20
//! times by a blackhole (session up, forwarded packets dropped) at a 100 ms
//! probe interval; for each cut the bench reports the **traffic outage** —
//! the longest gap between received packets —, detection (cut → the sample
//! that made the path down) and apply (detection → the preference applied
//! on the edge, read back), p50 and p99. Needs root, netns, FRR and moto.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/moto/mod.rs"]
mod moto;
#[path = "../tests/netlab/mod.rs"]
mod netlab;
#[path = "../tests/onprem_world/mod.rs"]
mod onprem_world;

use netlab::frr::FrrLab;
use onprem_world::{FrrWorld, PAIR};
use std::time::{Duration, Instant};

const CUTS: usize = 20;
const INTERVAL_MS: u64 = 100;
/// A probe counts as lost 50 ms after it was sent.
const TIMEOUT_MS: u64 = 50;
const HOLD_DOWN_MS: u64 = 1000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A way to break the primary, and to undo it.
type Fault = fn(&FrrLab);

/// One cut's figures, in milliseconds.
struct Cut {
    outage: f64,
    detection: f64,
    apply: f64,
}

/// Cuts the primary with `cut`, measures, restores and waits for the
/// failback (so the next cut starts from the primary).
fn one_cut(world: &FrrWorld, cut: Fault, restore: Fault) -> Result<Cut, String> {
    world.settled();
    let stream = world.net.start_stream(1000);
    std::thread::sleep(Duration::from_millis(300));
    let cut_at = now_ms();
    cut(&world.net);
    let started = Instant::now();
    let event = loop {
        let status = world.lab.json(&["status", "--format", "json"]);
        let event = status["recent_failovers"][0].clone();
        if event["to_path"] == format!("{PAIR}/backup")
            && event["detected_at"].as_u64().is_some_and(|d| d >= cut_at)
        {
            break event;
        }
        if started.elapsed() > Duration::from_secs(10) {
            restore(&world.net);
            let _ = stream.stop();
            return Err(format!(
                "no failover 10 s after the cut: {status:#}\n{}",
                world.prober_log()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(400));
    let report = stream.stop();
    restore(&world.net);
    let failed_back = Instant::now();
    while world.net.edge_next_hop(world.net.target()) != Some(world.net.primary_neighbor()) {
        if failed_back.elapsed() > Duration::from_secs(20) {
            return Err("no failback 20 s after the restore".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(error) = event["error"].as_str() {
        return Err(format!("the failover failed: {error}"));
    }
    let detected = event["detected_at"].as_u64().unwrap_or(cut_at);
    let applied = event["applied_at"].as_u64().unwrap_or(detected);
    Ok(Cut {
        outage: report.longest_gap_ms,
        detection: detected.saturating_sub(cut_at) as f64,
        apply: applied.saturating_sub(detected) as f64,
    })
}

fn report(kind: &str, cuts: &[Cut]) {
    if cuts.is_empty() {
        println!("{kind}: no successful cuts");
        return;
    }
    let line = |what: &str, values: Vec<f64>| {
        println!(
            "  {what:<10} p50 {:>4.0} ms  p99 {:>4.0} ms  (min {:.0}, max {:.0})",
            percentile(&values, 50.0),
            percentile(&values, 99.0),
            values.iter().copied().fold(f64::INFINITY, f64::min),
            values.iter().copied().fold(0.0, f64::max),
        )
    };
    println!(
        "{kind} ({} cuts, {INTERVAL_MS} ms probes, {TIMEOUT_MS} ms timeout, 1 kHz stream):",
        cuts.len()
    );
    line("outage", cuts.iter().map(|c| c.outage).collect());
    line("detection", cuts.iter().map(|c| c.detection).collect());
    line("apply", cuts.iter().map(|c| c.apply).collect());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` must not spend
    // minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Some(world) = FrrWorld::start().await else {
        println!("failover_frr: skipped (needs root, netns, FRR and moto)");
        return;
    };
    // Forty cuts in a few minutes are flapping to the anti-flap rules: no
    // penalty here, so every failback comes after the same hold-down.
    let _prober = world.start_prober(
        INTERVAL_MS,
        TIMEOUT_MS,
        &format!("hold_down: {HOLD_DOWN_MS}ms, flap_penalty_factor: 1"),
    );
    let kinds: [(&str, Fault, Fault); 2] = [
        ("link down", FrrLab::cut_primary, FrrLab::restore_primary),
        (
            "blackhole",
            FrrLab::blackhole_primary,
            FrrLab::clear_blackhole_primary,
        ),
    ];
    for (kind, cut, restore) in kinds {
        let world = &world;
        let cuts = tokio::task::block_in_place(|| {
            let mut cuts = Vec::new();
            for n in 0..CUTS {
                match one_cut(world, cut, restore) {
                    Ok(c) => cuts.push(c),
                    Err(e) => println!("{kind} cut {n}: {e}"),
                }
            }
            cuts
        });
        report(kind, &cuts);
    }
}
