//! The whole loop on real routing daemons: detect, decide, change BGP,
//! traffic flows again. An FRR edge router (`netlab::frr::FrrLab`) reaches a
//! cloud router's prefix over two links, each a Direct Connect circuit in
//! the on-prem inventory; the estate comes from discovery (moto, with the
//! circuits' virtual interfaces from the front, and the inventory), and
//! `switchboard probe` runs in the host's namespace with a paths file over
//! both links, acting on the edge through the on-prem actor (vtysh in the
//! edge's namespace and pathspace). A 1 kHz UDP stream crosses the edge
//! throughout. The primary is cut (link down: BGP notices by itself) or
//! blackholed (the session stays up and forwarded packets are dropped: BGP
//! never notices); switchboard fails over by local preference, the edge's
//! kernel route moves to the backup neighbor and the stream flows again;
//! after the hold-down it fails back — exactly two events.

mod common;
mod moto;
mod netlab;
mod onprem_world;

use netlab::frr::{FrrLab, PRIMARY_IN};
use onprem_world::{FrrWorld, PAIR};
use std::time::{Duration, Instant};

const HOLD_DOWN_MS: u64 = 3000;

/// Cuts the primary with `cut`, asserts switchboard moved traffic and the
/// stream flows again, undoes it with `restore` and asserts the failback
/// after the hold-down: exactly two more events.
fn fail_over_and_back(world: &FrrWorld, cut: impl Fn(&FrrLab), restore: impl Fn(&FrrLab)) {
    let before = world.settled();
    let stream = world.net.start_stream(1000);
    std::thread::sleep(Duration::from_millis(300));
    let cut_at = Instant::now();
    cut(&world.net);
    let status = world
        .lab
        .wait_for_status("the failover", Duration::from_secs(10), |s| {
            s["pairs"][0]["active_path"] == format!("{PAIR}/backup")
        });
    let failover = &status["recent_failovers"][0];
    assert_eq!(failover["to_path"], format!("{PAIR}/backup"), "{status:#}");
    assert!(
        failover["error"].is_null(),
        "{status:#}\n{}",
        world.prober_log()
    );
    assert!(
        failover["resource_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("onprem:prefer:edge|")),
        "{status:#}"
    );
    let took = cut_at.elapsed();
    // Through the provider: the backup neighbor is preferred on the edge.
    assert_eq!(
        world
            .net
            .inbound_route_map(world.net.backup_neighbor())
            .as_deref(),
        Some(PRIMARY_IN)
    );
    assert_eq!(
        world.net.edge_next_hop(world.net.target()),
        Some(world.net.backup_neighbor())
    );
    std::thread::sleep(Duration::from_millis(500));
    let elapsed_ms = stream.elapsed_ms();
    let report = stream.stop();
    eprintln!("failover {took:?} after the cut; stream: {report:?}");
    let last_gap_end = report
        .gaps
        .iter()
        .map(|g| g.start_ms + g.length_ms)
        .fold(0.0, f64::max);
    assert!(
        report.received > 0 && last_gap_end < elapsed_ms - 300.0,
        "the stream flows again after the failover: {report:?}"
    );

    restore(&world.net);
    let restored = Instant::now();
    let status = world
        .lab
        .wait_for_status("the failback", Duration::from_secs(20), |s| {
            s["pairs"][0]["active_path"] == format!("{PAIR}/primary")
        });
    assert!(
        restored.elapsed() >= Duration::from_millis(HOLD_DOWN_MS),
        "failback before the hold-down"
    );
    let events = status["recent_failovers"].as_array().map_or(0, Vec::len);
    assert_eq!(events - before, 2, "exactly two events: {status:#}");
    assert!(status["recent_failovers"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .all(|e| e["error"].is_null()));
    let started = Instant::now();
    while world.net.edge_next_hop(world.net.target()) != Some(world.net.primary_neighbor()) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the edge's route went back to the primary"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_primary_that_bgp_never_notices_is_routed_around() {
    let Some(world) = FrrWorld::start().await else {
        return;
    };
    let _prober = world.start_prober(100, 80, &format!("hold_down: {HOLD_DOWN_MS}ms"));
    common::blocking(|| {
        fail_over_and_back(
            &world,
            FrrLab::blackhole_primary,
            FrrLab::clear_blackhole_primary,
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_link_that_goes_down_fails_over_and_back() {
    let Some(world) = FrrWorld::start().await else {
        return;
    };
    let _prober = world.start_prober(100, 80, &format!("hold_down: {HOLD_DOWN_MS}ms"));
    common::blocking(|| fail_over_and_back(&world, FrrLab::cut_primary, FrrLab::restore_primary));
}

/// How many switch events `status` lists.
fn events(status: &serde_json::Value) -> Vec<serde_json::Value> {
    status["recent_failovers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_the_router_refuses_is_one_event_and_one_alert_retried_until_it_lands() {
    let Some(world) = FrrWorld::start().await else {
        return;
    };
    let _prober = world.start_prober(100, 80, &format!("hold_down: {HOLD_DOWN_MS}ms"));
    common::blocking(|| {
        let before = world.settled();
        // Drain what start-up queued, so the alerts counted are this episode's.
        world.lab.console("approver", "");
        world.net.break_edge_management();
        world.net.blackhole_primary();
        let status =
            world
                .lab
                .wait_for_status("the failover to fail", Duration::from_secs(10), |s| {
                    s["pairs"][0]["failover_failed"].is_string()
                });
        let failed = status["pairs"][0]["failover_failed"].as_str().unwrap_or("");
        assert!(failed.contains("bgpd"), "{status:#}");
        assert_eq!(status["pairs"][0]["active_path"], format!("{PAIR}/primary"));
        // Retries (1 s, 2 s, …) make no more events while the episode lasts.
        std::thread::sleep(Duration::from_millis(3500));
        let status = world.lab.json(&["status", "--format", "json"]);
        let events_now = events(&status);
        assert_eq!(events_now.len() - before, 1, "{status:#}");
        assert!(events_now[0]["error"].is_string(), "{status:#}");
        assert!(
            status["pairs"][0]["failover_failed"]
                .as_str()
                .is_some_and(|f| !f.contains(" 1 attempts")),
            "retried: {status:#}"
        );

        world.net.restore_edge_management();
        let status = world
            .lab
            .wait_for_status("the retry to land", Duration::from_secs(15), |s| {
                s["pairs"][0]["active_path"] == format!("{PAIR}/backup")
            });
        assert!(
            status["pairs"][0]["failover_failed"].is_null(),
            "{status:#}"
        );
        let events_now = events(&status);
        assert_eq!(events_now.len() - before, 2, "{status:#}");
        assert!(events_now[0]["error"].is_null() && events_now[1]["error"].is_string());
        assert_eq!(
            world.net.edge_next_hop(world.net.target()),
            Some(world.net.backup_neighbor())
        );
        let alerts = world.lab.console("approver", "");
        assert_eq!(
            alerts.matches("could not apply the switch").count(),
            1,
            "one critical alert per episode:\n{alerts}"
        );
        assert!(alerts.contains("failed attempts"), "{alerts}");
        world.net.clear_blackhole_primary();
    });
}
