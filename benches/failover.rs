//! Failover latency on real links (`cargo bench --bench failover`): in network
//! namespaces (tests/netlab), `switchboard probe` watches two paths; the
//! primary is cut 20 times at a 100 ms and at a 1 s probe interval, and for
//! each cut the bench reads the failover event and reports detection latency
//! (cut → the sample that made the path down) and action latency (cut →
//! provider change applied), p50 and p99. Needs root and netns.

#[path = "../tests/netlab/mod.rs"]
mod netlab;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use switchboard::store::Store;

const CUTS: usize = 20;
/// A probe counts as lost this long after it was sent: detection is at most
/// threshold × interval + this (the third lost probe's timeout), so the
/// target of threshold × interval + 50 ms needs a timeout of 50 ms or less.
const TIMEOUT_MS: u64 = 50;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Prober(Child);

impl Drop for Prober {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(values: &mut [u64], p: f64) -> u64 {
    values.sort_unstable();
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn run(interval_ms: u64) -> Result<(), String> {
    let net = netlab::TwoPathLab::create().map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = dir.path().join("bench.db");
    let paths = dir.path().join("paths.yaml");
    std::fs::write(
        &paths,
        format!(
            "defaults: {{ interval: {interval_ms}ms, timeout: {TIMEOUT_MS}ms }}\n\
             failover: {{ hold_down: 1s, flap_penalty_factor: 1 }}\n\
             pairs:\n\
             \x20 - id: bench\n\
             \x20   primary: {{ connection: dx-1, probe: {{ kind: icmp, target: {t} }}, via: {{ source: {p} }} }}\n\
             \x20   backup: {{ connection: vpn-aws-dc1-t1, probe: {{ kind: icmp, target: {t} }}, via: {{ source: {b} }} }}\n\
             \x20   route: {{ network: aws-use1-prod, destination_cidr: 172.16.0.0/16 }}\n",
            t = net.target,
            p = net.primary_source,
            b = net.backup_source
        ),
    )
    .map_err(|e| e.to_string())?;
    let _prober = Prober(
        net.in_probe_ns(env!("CARGO_BIN_EXE_switchboard"))
            .arg("--db")
            .arg(&db)
            .args(["probe", "--paths"])
            .arg(&paths)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store = Store::open(&db).await.map_err(|e| e.to_string())?;
    let both_up = || async {
        store
            .path_health()
            .await
            .map(|p| p.len() == 2 && p.iter().all(|p| p.state == "up"))
            .unwrap_or(false)
    };
    let active_is = |role: &'static str| {
        let store = store.clone();
        async move {
            store
                .pair_states()
                .await
                .ok()
                .and_then(|s| {
                    s.first().and_then(|(_, st)| {
                        st.get("active").and_then(|a| a.as_str()).map(|a| a == role)
                    })
                })
                .unwrap_or(false)
        }
    };
    let settle = Duration::from_millis(interval_ms * 40 + 5_000);
    if !wait_until(settle, both_up).await {
        return Err("paths never came up".into());
    }
    let (mut detection, mut action) = (Vec::new(), Vec::new());
    for cut_number in 0..CUTS {
        let before = store
            .recent_switches(1000)
            .await
            .map_err(|e| e.to_string())?
            .len();
        // Cut at a random point of the probe cycle, as real failures come.
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..interval_ms))).await;
        let cut = now_ms();
        net.cut_primary();
        let switched = wait_until(settle, || async {
            store
                .recent_switches(1000)
                .await
                .map(|s| s.len() > before)
                .unwrap_or(false)
        })
        .await;
        if !switched {
            return Err(format!("cut {cut_number}: no failover"));
        }
        let event = store
            .recent_switches(1)
            .await
            .map_err(|e| e.to_string())?
            .remove(0);
        detection.push(event.detected_at.saturating_sub(cut));
        action.push(event.applied_at.unwrap_or(u64::MAX).saturating_sub(cut));
        net.restore_primary();
        if !wait_until(settle, || active_is("primary")).await || !wait_until(settle, both_up).await
        {
            let health = store.path_health().await.map_err(|e| e.to_string())?;
            let states: Vec<String> = health
                .iter()
                .map(|h| format!("{} {} {}", h.path_id, h.state, h.health))
                .collect();
            let pairs = store.pair_states().await.map_err(|e| e.to_string())?;
            return Err(format!(
                "cut {cut_number}: no failback; paths {states:?}; pair {pairs:?}"
            ));
        }
    }
    let bound = 3 * interval_ms + 50;
    println!(
        "failover at {interval_ms} ms interval over {CUTS} cuts: detection p50 {} ms p99 {} ms (target ≤ {bound} ms); \
         failover applied p50 {} ms p99 {} ms after the cut; action − detection p99 {} ms (target < 1000 ms)",
        percentile(&mut detection.clone(), 50.0),
        percentile(&mut detection.clone(), 99.0),
        percentile(&mut action.clone(), 50.0),
        percentile(&mut action.clone(), 99.0),
        {
            let mut gap: Vec<u64> = action.iter().zip(&detection).map(|(a, d)| a.saturating_sub(*d)).collect();
            percentile(&mut gap, 99.0)
        }
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing
    // useful and must not spend minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    for interval in [100, 1000] {
        if let Err(e) = run(interval).await {
            println!("failover at {interval} ms interval: {e}");
        }
    }
}
