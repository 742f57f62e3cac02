//! The whole prober on loopback: `switchboard probe` watches a pair of TCP
//! paths, the primary's listener goes away, the prober fails over through the
//! lab provider and queues an alert, and after the primary has been back for
//! the hold-down it fails back. (The netns tests prove the same on real links.)

mod common;

use common::Lab;
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn listen() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Accepts and closes connections until the returned switch is dropped, then
/// closes the listening socket (so connections are refused).
struct Serving(
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Option<std::thread::JoinHandle<()>>,
);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.1.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener) -> Serving {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    listener.set_nonblocking(true).unwrap();
    let thread = std::thread::spawn(move || {
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            match listener.accept() {
                Ok((conn, _)) => drop(conn),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Serving(stop, Some(thread))
}

fn paths_file(primary: u16, backup: u16) -> String {
    format!(
        "defaults: {{ interval: 100ms, timeout: 80ms }}\n\
         failover: {{ hold_down: 1500ms }}\n\
         pairs:\n\
         \x20 - id: use1-to-dc1\n\
         \x20   primary: {{ connection: dx-1, probe: {{ kind: tcp, target: \"127.0.0.1:{primary}\" }}, via: {{ source: 127.0.0.1 }} }}\n\
         \x20   backup: {{ connection: vpn-aws-dc1-t1, probe: {{ kind: tcp, target: \"127.0.0.1:{backup}\" }}, via: {{ source: 127.0.0.1 }} }}\n\
         \x20   route: {{ network: aws-use1-prod, destination_cidr: 172.16.0.0/16 }}\n"
    )
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `switchboard probe` on `paths`, killed when dropped.
fn start_prober(lab: &Lab, paths: &std::path::Path) -> Running {
    Running(
        lab.command(&["probe", "--paths", paths.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Both paths answer and the pair carries traffic on its primary. (On a loaded
/// machine a start-up probe can time out and cause a brief failover and
/// failback; the tests start from the settled state, not from that history.)
fn wait_both_up(lab: &Lab) {
    lab.wait_for_status(
        "both paths up, on the primary",
        Duration::from_secs(10),
        |s| states(s) == ["up", "up"] && s["pairs"][0]["active_path"] == "use1-to-dc1/primary",
    );
}

fn states(status: &serde_json::Value) -> Vec<String> {
    status["paths"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["state"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_dead_primary_fails_over_and_comes_back_after_the_hold_down() {
    let lab = Lab::new();
    let primary = listen();
    let primary_port = primary.local_addr().unwrap().port();
    let backup = listen();
    let backup_port = backup.local_addr().unwrap().port();
    let _backup = serve(backup);
    let primary = serve(primary);
    let file = lab.write("paths.yaml", &paths_file(primary_port, backup_port));
    let _prober = start_prober(&lab, &file);
    wait_both_up(&lab);

    // The primary stops answering: connections are refused from now on.
    let cut = Instant::now();
    drop(primary);
    let status = lab.wait_for_status("a failover", Duration::from_secs(10), |s| {
        s["recent_failovers"][0]["to_path"] == "use1-to-dc1/backup"
    });
    let failover = &status["recent_failovers"][0];
    assert_eq!(failover["to_path"], "use1-to-dc1/backup", "{status:#}");
    assert!(failover["error"].is_null(), "{status:#}");
    let detected = failover["detected_at"].as_u64().unwrap();
    let applied = failover["applied_at"].as_u64().unwrap();
    assert!(
        applied >= detected && applied - detected < 1000,
        "action {} ms after detection",
        applied - detected
    );
    assert!(cut.elapsed() < Duration::from_secs(5));
    assert_eq!(status["pairs"][0]["active_path"], "use1-to-dc1/backup");

    // The alert is in the outbox: a console run prints it.
    let out = lab.console("approver", "");
    assert!(out.to_lowercase().contains("use1-to-dc1"), "{out}");

    // The lab provider holds the typed change.
    let resources = lab.json(&["lab", "resources", "--format", "json"]);
    assert!(resources.as_array().unwrap().iter().any(|r| r["key"]
        .as_str()
        .unwrap()
        .starts_with("failover/use1-to-dc1/")));

    // The primary returns on the same port; after the hold-down, failback.
    let back = TcpListener::bind(("127.0.0.1", primary_port)).unwrap();
    let _back = serve(back);
    let returned = Instant::now();
    let status = lab.wait_for_status("failback", Duration::from_secs(15), |s| {
        s["pairs"][0]["active_path"] == "use1-to-dc1/primary"
    });
    assert!(
        returned.elapsed() >= Duration::from_millis(1500),
        "failback came before the hold-down"
    );
    assert_eq!(
        status["recent_failovers"][0]["to_path"],
        "use1-to-dc1/primary"
    );
}

#[test]
fn a_pin_moves_traffic_and_a_restarted_prober_remembers_where_it_is() {
    let lab = Lab::new();
    let primary = listen();
    let backup = listen();
    let file = lab.write(
        "paths.yaml",
        &paths_file(
            primary.local_addr().unwrap().port(),
            backup.local_addr().unwrap().port(),
        ),
    );
    let (_primary, _backup) = (serve(primary), serve(backup));
    let prober = start_prober(&lab, &file);
    wait_both_up(&lab);

    let pin = lab
        .command(&["pin", "use1-to-dc1", "backup", "--user", "approver"])
        .output()
        .unwrap();
    assert!(
        pin.status.success(),
        "{}",
        String::from_utf8_lossy(&pin.stderr)
    );
    let status = lab.wait_for_status("the pin to move traffic", Duration::from_secs(5), |s| {
        s["pairs"][0]["active_path"] == "use1-to-dc1/backup"
    });
    assert_eq!(status["pairs"][0]["pinned"], "backup");
    assert_eq!(status["recent_failovers"][0]["cause"], "Pinned");

    // Restart: the saved state says the backup carries the traffic.
    drop(prober);
    let _prober = start_prober(&lab, &file);
    let status = lab.wait_for_status("the restarted prober", Duration::from_secs(5), |s| {
        s["paths"].as_array().is_some_and(|p| {
            p.iter()
                .all(|p| p["state"] == "unknown" || p["state"] == "up")
        }) && s["pairs"][0]["active_path"] != serde_json::Value::Null
    });
    assert_eq!(
        status["pairs"][0]["active_path"], "use1-to-dc1/backup",
        "{status:#}"
    );

    // Unpinned, the primary (up for longer than the hold-down) takes over again.
    let unpin = lab.command(&["unpin", "use1-to-dc1"]).output().unwrap();
    assert!(unpin.status.success());
    lab.wait_for_status("failback after unpin", Duration::from_secs(10), |s| {
        s["pairs"][0]["active_path"] == "use1-to-dc1/primary"
    });

    // Chat: pins are for approvers, and name known pairs only.
    let out = lab.console("mallory", "pin use1-to-dc1 backup\n/as approver\npin nosuch backup\npin use1-to-dc1 sideways\nstatus\n");
    assert!(out.contains("only approvers may pin"), "{out}");
    assert!(
        out.contains("unknown pair 'nosuch' (known: use1-to-dc1)"),
        "{out}"
    );
    let cli = lab.command(&["pin", "nosuch", "backup"]).output().unwrap();
    assert!(!cli.status.success());
    assert!(String::from_utf8_lossy(&cli.stderr).contains("unknown pair 'nosuch'"));
    assert!(out.contains("Usage: `pin <pair> primary|backup`"), "{out}");
    assert!(
        out.contains("use1-to-dc1: active use1-to-dc1/primary"),
        "{out}"
    );
}

#[test]
fn dry_run_alerts_and_changes_nothing() {
    let lab = Lab::new();
    let primary = listen();
    let backup = listen();
    let text = paths_file(
        primary.local_addr().unwrap().port(),
        backup.local_addr().unwrap().port(),
    )
    .replace("hold_down: 1500ms", "hold_down: 1500ms, dry_run: true");
    let file = lab.write("paths.yaml", &text);
    let (primary, _backup) = (serve(primary), serve(backup));
    let _prober = start_prober(&lab, &file);
    wait_both_up(&lab);
    drop(primary);
    lab.wait_for_status("the primary down", Duration::from_secs(10), |s| {
        states(s)[0] == "down"
    });
    std::thread::sleep(Duration::from_millis(500));
    let status = lab.json(&["status", "--format", "json"]);
    assert!(
        status["recent_failovers"].as_array().unwrap().is_empty(),
        "{status:#}"
    );
    assert_eq!(status["pairs"][0]["active_path"], "use1-to-dc1/primary");
    let alerts = lab.console("approver", "");
    assert!(alerts.to_lowercase().contains("dry run"), "{alerts}");
    let resources = lab.json(&["lab", "resources", "--format", "json"]);
    assert!(
        resources.as_array().unwrap().is_empty(),
        "dry run applied a change: {resources}"
    );
}

#[test]
fn a_pair_that_could_not_fail_over_is_refused_at_start_naming_why() {
    let lab = Lab::new();
    let text = paths_file(9, 10)
        .replace("connection: vpn-aws-dc1-t1", "connection: no-such-vpn")
        .replace("172.16.0.0/16", "172.16.0.0/99");
    let file = lab.write("paths.yaml", &text);
    let out = lab
        .command(&["probe", "--paths", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the prober started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("use1-to-dc1") && err.contains("no-such-vpn"),
        "{err}"
    );
    // Connections that exist but a route the provider cannot make.
    let file = lab.write(
        "paths.yaml",
        &paths_file(9, 10).replace("172.16.0.0/16", "172.16.0.0/99"),
    );
    let out = lab
        .command(&["probe", "--paths", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the prober started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("172.16.0.0/99"), "{err}");
}

#[test]
fn a_drain_moves_traffic_off_a_connection_silences_it_and_undrain_returns_it() {
    let lab = Lab::new();
    let primary = listen();
    let primary_port = primary.local_addr().unwrap().port();
    let backup = listen();
    let file = lab.write(
        "paths.yaml",
        &paths_file(primary_port, backup.local_addr().unwrap().port()),
    );
    let (primary, _backup) = (serve(primary), serve(backup));
    let _prober = start_prober(&lab, &file);
    wait_both_up(&lab);
    lab.console("approver", "");

    // A requester may not drain; an approver may, in chat.
    let refused = lab.console("alice", "drain dx-1 for 1h fiber work\n");
    assert!(refused.contains("only approvers"), "{refused}");
    let unknown = lab.console("approver", "drain dx-404 for 1h\n");
    assert!(unknown.contains("no monitored path"), "{unknown}");
    let out = lab.console("approver", "drain dx-1 for 1h fiber work\n");
    assert!(out.contains("dx-1 drained until"), "{out}");
    let status = lab.wait_for_status("the drain to move traffic", Duration::from_secs(5), |s| {
        s["pairs"][0]["active_path"] == "use1-to-dc1/backup"
    });
    let drained = status["pairs"][0]["drained"].to_string();
    assert!(
        drained.contains("dx-1 drained until") && drained.contains("fiber work"),
        "{status:#}"
    );

    // The planned work takes the primary down: nothing is said about it.
    drop(primary);
    lab.wait_for_status("the drained primary down", Duration::from_secs(10), |s| {
        states(s)[0] == "down"
    });
    std::thread::sleep(Duration::from_millis(500));
    let alerts = lab.console("approver", "");
    assert!(alerts.contains("dx-1 drained until"), "{alerts}");
    assert!(!alerts.to_lowercase().contains("is down"), "{alerts}");

    // Work done: the primary answers again, the drain ends, traffic returns.
    let back = TcpListener::bind(("127.0.0.1", primary_port)).unwrap();
    let _back = serve(back);
    lab.succeed(&["undrain", "dx-1", "--user", "approver"]);
    lab.wait_for_status(
        "traffic back on the primary",
        Duration::from_secs(15),
        |s| {
            s["pairs"][0]["active_path"] == "use1-to-dc1/primary"
                && s["pairs"][0]["drained"]
                    .as_array()
                    .is_some_and(Vec::is_empty)
        },
    );
    let alerts = lab.console("approver", "");
    assert!(alerts.contains("no longer drained"), "{alerts}");
    let threads: Vec<String> = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Row;
        let pool = common::read_only_pool(&lab.db()).await;
        sqlx::query("SELECT thread FROM outbox WHERE thread LIKE 'drain-dx-1-%'")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect()
    });
    assert_eq!(threads.len(), 2, "begin and end: {threads:?}");
    assert_eq!(threads[0], threads[1], "in one thread");
    let again = lab.command(&["undrain", "dx-1"]).output().unwrap();
    assert!(!again.status.success(), "undrain of nothing succeeded");
}

#[test]
fn a_maintenance_window_in_the_config_drains_its_connection() {
    let lab = Lab::new();
    let primary = listen();
    let backup = listen();
    let file = lab.write(
        "paths.yaml",
        &paths_file(
            primary.local_addr().unwrap().port(),
            backup.local_addr().unwrap().port(),
        ),
    );
    // A window that began at the last whole second and lasts an hour.
    let config = lab.write(
        "switchboard.toml",
        "[[prober.maintenance]]\nconnection = \"dx-1\"\nschedule = \"* * * * * *\"\nduration = \"1h\"\nreason = \"carrier work\"\n",
    );
    let lab = lab.with_env("SWITCHBOARD_CONFIG", config.to_str().unwrap());
    let (_primary, _backup) = (serve(primary), serve(backup));
    let _prober = start_prober(&lab, &file);
    let status = lab.wait_for_status("the window to hold traffic", Duration::from_secs(10), |s| {
        s["pairs"][0]["active_path"] == "use1-to-dc1/backup"
    });
    let drained = status["pairs"][0]["drained"].to_string();
    assert!(
        drained.contains("maintenance window") && drained.contains("carrier work"),
        "{status:#}"
    );

    let bad = lab.write(
        "bad.toml",
        "[[prober.maintenance]]\nconnection = \"dx-1\"\nschedule = \"every sunday\"\nduration = \"1h\"\n",
    );
    let out = lab
        .command(&["probe", "--paths", file.to_str().unwrap()])
        .env("SWITCHBOARD_CONFIG", bad.to_str().unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("prober.maintenance[0].schedule"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The prober's pair alerts as (thread, text), oldest first.
async fn pair_alerts(lab: &Lab) -> Vec<(String, String)> {
    use sqlx::Row;
    let pool = common::read_only_pool(&lab.db()).await;
    sqlx::query("SELECT thread, message FROM outbox WHERE thread LIKE 'alert-%' ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_one_thread_reminded_while_it_lasts_and_resolved_in_it() {
    let lab = Lab::new();
    let primary = listen();
    let primary_port = primary.local_addr().unwrap().port();
    let backup = listen();
    let backup_port = backup.local_addr().unwrap().port();
    let file = lab.write(
        "paths.yaml",
        &paths_file(primary_port, backup_port)
            .replace("hold_down: 1500ms", "hold_down: 1500ms, remind_every: 1s"),
    );
    let (primary, backup) = (serve(primary), serve(backup));
    let _prober = start_prober(&lab, &file);
    common::blocking(|| wait_both_up(&lab));
    let before = pair_alerts(&lab).await.len();

    // Both paths die: one incident, reminded every second while it lasts.
    drop((primary, backup));
    common::blocking(|| {
        lab.wait_for_status("both down", Duration::from_secs(10), |s| {
            states(s) == ["down", "down"]
        })
    });
    // Reminded every second (the flush's pace) while it lasts.
    let started = std::time::Instant::now();
    loop {
        let during = pair_alerts(&lab).await;
        let incident = &during[before..];
        let reminders = incident
            .iter()
            .filter(|(_, m)| m.contains("both paths are still down"))
            .count();
        if reminders >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "reminded: {incident:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Both return: the all-clear lands in the same thread.
    let _primary = serve(TcpListener::bind(("127.0.0.1", primary_port)).unwrap());
    let _backup = serve(TcpListener::bind(("127.0.0.1", backup_port)).unwrap());
    common::blocking(|| {
        lab.wait_for_status("both back", Duration::from_secs(15), |s| {
            states(s) == ["up", "up"] && s["pairs"][0]["active_path"] == "use1-to-dc1/primary"
        })
    });
    // The all-clear comes once the paths have been up for the hold-down.
    let started = std::time::Instant::now();
    let after = loop {
        let after = pair_alerts(&lab).await;
        if after[before..].iter().any(|(_, m)| m.contains("up again")) {
            break after;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no all-clear: {:#?}",
            &after[before..]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The outage's alerts up to the last all-clear (a later, unrelated
    // alert — loopback RTT noise reads as degraded — opens its own).
    let last_clear = after
        .iter()
        .rposition(|(_, m)| m.contains("up again"))
        .expect("an all-clear");
    let incident = &after[before..=last_clear];
    let thread = &incident[0].0;
    assert!(
        incident.iter().all(|(t, _)| t == thread),
        "one thread for the whole incident: {incident:#?}"
    );
    let reminders_after = incident
        .iter()
        .filter(|(_, m)| m.contains("both paths are still down"))
        .count();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        pair_alerts(&lab)
            .await
            .iter()
            .filter(|(_, m)| m.contains("both paths are still down"))
            .count(),
        reminders_after,
        "no reminders once it is over"
    );
}

#[test]
fn a_path_naming_a_vpn_connection_probes_one_of_its_tunnels_and_says_which() {
    let lab = Lab::new();
    let primary = listen();
    let backup = listen();
    let text = paths_file(
        primary.local_addr().unwrap().port(),
        backup.local_addr().unwrap().port(),
    )
    .replace("connection: vpn-aws-dc1-t1", "connection: vpn-aws-dc1");
    let file = lab.write("paths.yaml", &text);
    let (_primary, _backup) = (serve(primary), serve(backup));
    let mut prober = lab
        .command(&["probe", "--paths", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = lab.wait_for_status("the prober running", Duration::from_secs(10), |s| {
        s["paths"].as_array().is_some_and(|p| p.len() == 2)
    });
    let _ = prober.kill();
    let out = prober.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let backup_path = status["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "backup")
        .cloned()
        .unwrap();
    assert!(
        backup_path["connection_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("vpn-aws-dc1-t")),
        "{status:#}"
    );
    assert!(
        log.contains("is a VPN connection") && log.contains("probing and routing over tunnel"),
        "{log}"
    );
}
