//! The FRR lab (`netlab::frr`) end to end, and a measurement of how fast BGP
//! policy on the edge moves traffic from the primary link to the backup:
//! (a) by rebinding the inbound route-maps, (b) by changing the
//! local-preference inside them, each with and without `soft-reconfiguration
//! inbound`, and (c) how much of a stream a blackholed primary loses while
//! (a) happens. Timings are printed (run with `--nocapture`), not asserted;
//! that the route moved, and moved back, is asserted. Needs root, network
//! namespaces and FRR; skips saying why otherwise (SWITCHBOARD_NETLAB=require
//! makes a skip a failure).

mod netlab;

use netlab::frr::{FrrLab, FrrOptions, BACKUP_IN, EDGE_AS, PRIMARY_IN};
use std::thread::sleep;
use std::time::{Duration, Instant};

const RUNS: usize = 5;
/// How often the kernel route is polled while waiting for a move.
const POLL: Duration = Duration::from_millis(5);
/// A move slower than this is a failure, not a measurement.
const MOVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Left after moving traffic back, so answers to route refreshes still in
/// flight (the cloud delays them 500 ms) do not land in the next run.
const SETTLE: Duration = Duration::from_secs(1);
const STREAM_HZ: u32 = 1000;
/// Between blackholing the primary and the swap: stands in for the time a
/// prober needs to notice.
const DETECTION: Duration = Duration::from_millis(100);

/// How the edge is told to prefer the other link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// (a) Bind `BACKUP-IN` to the primary neighbour and `PRIMARY-IN` to
    /// the backup.
    Rebind,
    /// (b) Swap the local-preference values inside the two route-maps.
    ChangeLocalPref,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Rebind => "rebind route-maps",
            Method::ChangeLocalPref => "change local-pref",
        }
    }

    /// The vtysh commands that make the edge prefer the backup link (or,
    /// with `to_backup` false, the primary again), ending with a soft
    /// inbound clear of both neighbours.
    fn commands(self, lab: &FrrLab, to_backup: bool) -> Vec<String> {
        let (primary, backup) = (lab.primary_neighbor(), lab.backup_neighbor());
        let mut commands = vec!["configure terminal".to_string()];
        match self {
            Method::Rebind => {
                let (on_primary, on_backup) = if to_backup {
                    (BACKUP_IN, PRIMARY_IN)
                } else {
                    (PRIMARY_IN, BACKUP_IN)
                };
                commands.extend([
                    format!("router bgp {EDGE_AS}"),
                    "address-family ipv4 unicast".to_string(),
                    format!("neighbor {primary} route-map {on_primary} in"),
                    format!("neighbor {backup} route-map {on_backup} in"),
                ]);
            }
            Method::ChangeLocalPref => {
                let (primary_pref, backup_pref) = if to_backup { (100, 200) } else { (200, 100) };
                commands.extend([
                    format!("route-map {PRIMARY_IN} permit 10"),
                    format!("set local-preference {primary_pref}"),
                    "exit".to_string(),
                    format!("route-map {BACKUP_IN} permit 10"),
                    format!("set local-preference {backup_pref}"),
                ]);
            }
        }
        commands.push("end".to_string());
        for neighbor in [primary, backup] {
            commands.push(format!("clear bgp ipv4 unicast {neighbor} soft in"));
        }
        commands
    }
}

/// One policy change: how long vtysh took, and how long until the edge's
/// kernel route had moved, both from the moment vtysh was started.
#[derive(Debug, Clone, Copy)]
struct Swap {
    vtysh: Duration,
    moved: Duration,
}

/// Makes the edge prefer the backup (`to_backup`) or the primary by
/// `method`, polls the kernel route every 5 ms until it goes via that
/// neighbour, then checks that BGP agrees (best path from it, local-pref
/// 200, both sessions still up).
fn swap(lab: &FrrLab, method: Method, to_backup: bool) -> Swap {
    let want = if to_backup {
        lab.backup_neighbor()
    } else {
        lab.primary_neighbor()
    };
    let commands = method.commands(lab, to_backup);
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = lab.vtysh_edge(&commands);
    let vtysh = started.elapsed();
    assert!(
        out.status.success(),
        "vtysh failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let moved = loop {
        if lab.edge_next_hop(lab.target()) == Some(want) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < MOVE_TIMEOUT,
            "{} did not move the edge's route to {want} within {MOVE_TIMEOUT:?}",
            method.name()
        );
        sleep(POLL);
    };
    lab.wait_for_best_path(want, MOVE_TIMEOUT);
    let best = lab.best_path().expect("a best path after the swap");
    assert_eq!(
        (best.peer, best.local_pref),
        (want, 200),
        "{}: {best:?}",
        method.name()
    );
    Swap { vtysh, moved }
}

/// Moves traffic back to the primary the same way and lets it settle.
fn swap_back(lab: &FrrLab, method: Method) {
    swap(lab, method, false);
    sleep(SETTLE);
}

/// The state `FrrLab::create` promises, and the probes' pinned paths.
fn assert_converged(lab: &FrrLab) {
    let (primary, backup) = (lab.primary_neighbor(), lab.backup_neighbor());
    let best = lab.best_path().expect("a best path for the target prefix");
    assert_eq!(
        (best.peer, best.next_hop, best.local_pref),
        (primary, primary, 200)
    );
    assert_eq!(lab.edge_next_hop(lab.target()), Some(primary));
    let soft = lab.options().soft_reconfiguration_inbound;
    for (neighbor, map, description) in [
        (primary, PRIMARY_IN, "dx-1-primary"),
        (backup, BACKUP_IN, "vpn-1-backup"),
    ] {
        assert_eq!(lab.session_state(neighbor).as_deref(), Some("Established"));
        assert_eq!(lab.inbound_route_map(neighbor).as_deref(), Some(map));
        assert_eq!(lab.soft_reconfiguration_inbound(neighbor), soft);
        assert_eq!(lab.neighbor_json(neighbor)["nbrDesc"], description);
    }
    let sources = [
        lab.host_address(),
        lab.primary_probe_source(),
        lab.backup_probe_source(),
    ];
    for source in sources {
        assert!(lab.icmp_answers(source), "no answer from {source}");
    }

    // A blackhole on the primary drops forwarded traffic only: the primary
    // probe and the BGP-routed main address go dark, the backup probe does
    // not, and the primary session stays up.
    lab.blackhole_primary();
    assert!(!lab.icmp_answers(lab.primary_probe_source()));
    assert!(!lab.icmp_answers(lab.host_address()));
    assert!(lab.icmp_answers(lab.backup_probe_source()));
    assert_eq!(lab.session_state(primary).as_deref(), Some("Established"));
    lab.clear_blackhole_primary();
    for source in sources {
        assert!(
            lab.icmp_answers(source),
            "no answer from {source} after clearing"
        );
    }
}

/// (c): a stream from the host's main address, the primary blackholed, then
/// after [`DETECTION`] the rebinding swap. Returns the swap and how long the
/// stream stayed silent after the swap command was sent, and what it lost.
fn stream_through_blackhole(lab: &FrrLab) -> (Swap, f64, u64) {
    let stream = lab.start_stream(STREAM_HZ);
    sleep(Duration::from_millis(300));
    lab.blackhole_primary();
    sleep(DETECTION);
    let swap_at = stream.elapsed_ms();
    let swapped = swap(lab, Method::Rebind, true);
    sleep(Duration::from_millis(300));
    let report = stream.stop();
    lab.clear_blackhole_primary();
    // A gap lies between two arrivals: finding the one around the swap also
    // proves that the stream flowed again afterwards.
    let outage = report
        .gaps
        .iter()
        .find(|g| g.start_ms <= swap_at && swap_at <= g.start_ms + g.length_ms)
        .unwrap_or_else(|| {
            panic!("no gap around the swap at {swap_at:.0} ms, or no recovery: {report:?}")
        });
    let silent_after_swap = outage.start_ms + outage.length_ms - swap_at;
    swap_back(lab, Method::Rebind);
    (swapped, silent_after_swap, report.lost())
}

/// Takes the primary link down and up: the route leaves it (fast external
/// failover) and comes back once the session is up again.
fn cut_and_restore(lab: &FrrLab) -> (Duration, Duration) {
    let (primary, backup) = (lab.primary_neighbor(), lab.backup_neighbor());
    let started = Instant::now();
    lab.cut_primary();
    while lab.edge_next_hop(lab.target()) != Some(backup) {
        assert!(
            started.elapsed() < MOVE_TIMEOUT,
            "the cut did not move the route"
        );
        sleep(POLL);
    }
    let failed_over = started.elapsed();
    assert!(!lab.icmp_answers(lab.primary_probe_source()));
    assert!(lab.icmp_answers(lab.backup_probe_source()));
    lab.restore_primary();
    let restored = lab.wait_for_best_path(primary, Duration::from_secs(30));
    assert!(lab.icmp_answers(lab.primary_probe_source()));
    assert!(lab.icmp_answers(lab.host_address()));
    (failed_over, restored)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// "min / median / max" of `values`.
fn spread(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "{:>5.0} / {:>5.0} / {:>5.0}",
        values[0],
        values[values.len() / 2],
        values[values.len() - 1]
    )
}

#[test]
fn bgp_policy_moves_traffic_between_links() {
    let mut table = Vec::new();
    for soft in [false, true] {
        let options = FrrOptions {
            soft_reconfiguration_inbound: soft,
        };
        let built = Instant::now();
        let Some(lab) = FrrLab::create_or_skip(options) else {
            return;
        };
        let soft_name = if soft {
            "soft-reconfig"
        } else {
            "no soft-reconfig"
        };
        eprintln!(
            "{soft_name}: lab {} converged in {:.1} s",
            lab.edge_ns(),
            built.elapsed().as_secs_f64()
        );
        assert_converged(&lab);

        for method in [Method::Rebind, Method::ChangeLocalPref] {
            let mut runs = Vec::new();
            for run in 1..=RUNS {
                let swapped = swap(&lab, method, true);
                eprintln!(
                    "{soft_name}, {}, run {run}: vtysh {:.0} ms, route moved after {:.0} ms",
                    method.name(),
                    ms(swapped.vtysh),
                    ms(swapped.moved)
                );
                runs.push(swapped);
                swap_back(&lab, method);
            }
            table.push((
                soft_name,
                method.name(),
                spread(runs.iter().map(|s| ms(s.vtysh)).collect()),
                spread(runs.iter().map(|s| ms(s.moved)).collect()),
                String::new(),
            ));
        }

        let mut streams = Vec::new();
        for run in 1..=RUNS {
            let (swapped, silent, lost) = stream_through_blackhole(&lab);
            eprintln!(
                "{soft_name}, blackhole + rebind, run {run}: route moved after {:.0} ms, \
                 stream silent {silent:.0} ms after the swap, {lost} packets lost at {STREAM_HZ} Hz \
                 ({DETECTION:?} of blackhole before the swap)",
                ms(swapped.moved)
            );
            streams.push((swapped, silent, lost));
        }
        table.push((
            soft_name,
            "blackhole + rebind",
            spread(streams.iter().map(|(s, _, _)| ms(s.vtysh)).collect()),
            spread(streams.iter().map(|(s, _, _)| ms(s.moved)).collect()),
            format!(
                "silent after swap {} ms; lost {}",
                spread(streams.iter().map(|(_, silent, _)| *silent).collect()),
                spread(streams.iter().map(|(_, _, lost)| *lost as f64).collect())
            ),
        ));

        let (failed_over, restored) = cut_and_restore(&lab);
        eprintln!(
            "{soft_name}, cut primary (c-p1 down): route on the backup after {:.0} ms; \
             restored: primary best again after {:.1} s",
            ms(failed_over),
            restored.as_secs_f64()
        );

        // Where every measurement started: the primary is best again.
        let best = lab.best_path().expect("a best path at the end");
        assert_eq!((best.peer, best.local_pref), (lab.primary_neighbor(), 200));
        assert_eq!(
            lab.edge_next_hop(lab.target()),
            Some(lab.primary_neighbor())
        );
    }

    eprintln!("\n{RUNS} runs each, ms as min / median / max, from the start of the vtysh call:");
    eprintln!(
        "{:<17} {:<19} {:<21} {:<21} stream",
        "edge", "method", "vtysh returned", "kernel route moved"
    );
    for (soft, method, vtysh, moved, stream) in table {
        eprintln!("{soft:<17} {method:<19} {vtysh:<21} {moved:<21} {stream}");
    }
}
