//! The two-path namespace lab itself: each path answers only from its own
//! source, and each fault (cut, blackhole, random loss) hits the path it
//! names and goes away when cleared. Skips, saying why, where the machine
//! cannot host network namespaces.

mod netlab;

use netlab::TwoPathLab;
use std::net::IpAddr;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

const PORT: u16 = 8443;

fn lab_with_listener() -> Option<TwoPathLab> {
    let lab = TwoPathLab::create_or_skip()?;
    lab.start_tcp_listener(PORT);
    Some(lab)
}

/// Polls `check` for up to 2 s.
fn within_two_seconds(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        sleep(Duration::from_millis(50));
    }
}

/// One TCP connect from `source`, exactly as a test would write it by hand:
/// python3 in the probe namespace, exit code 0 on success.
fn python_connect(lab: &TwoPathLab, source: IpAddr) -> bool {
    python_connect_from(lab, &source.to_string())
}

/// `source` "" binds no address, leaving the choice to routing.
fn python_connect_from(lab: &TwoPathLab, source: &str) -> bool {
    lab.in_probe_ns("python3")
        .args([
            "-c",
            "import socket, sys\n\
             s = socket.socket(); s.settimeout(0.5)\n\
             if sys.argv[1]: s.bind((sys.argv[1], 0))\n\
             try: s.connect((sys.argv[2], int(sys.argv[3])))\n\
             except OSError: sys.exit(1)",
        ])
        .args([source.to_string(), lab.target.to_string(), PORT.to_string()])
        .status()
        .expect("run python3 in the probe namespace")
        .success()
}

fn link_is_up(ns: &str, dev: &str) -> bool {
    let out = Command::new("ip")
        .args(["-n", ns, "-br", "link", "show", "dev", dev])
        .output()
        .expect("run ip");
    let text = String::from_utf8_lossy(&out.stdout);
    // e.g. "ra-p@if2  UP  02:53:42:0a:00:02 <BROADCAST,MULTICAST,UP,LOWER_UP>"
    text.split_whitespace().nth(1) == Some("UP")
}

#[test]
fn both_paths_answer_each_from_its_own_source() {
    let Some(lab) = lab_with_listener() else {
        return;
    };
    assert!(python_connect(&lab, lab.primary_source));
    assert!(python_connect(&lab, lab.backup_source));
    assert!(lab.icmp_answers(lab.primary_source));
    assert!(lab.icmp_answers(lab.backup_source));
    // A probe that picks no path has none: the main table has no route.
    assert!(
        !python_connect_from(&lab, ""),
        "a connect with no source should find no route"
    );
}

#[test]
fn cutting_primary_leaves_backup_answering_until_restored() {
    let Some(lab) = lab_with_listener() else {
        return;
    };
    lab.cut_primary();
    assert!(!python_connect(&lab, lab.primary_source));
    assert!(!lab.icmp_answers(lab.primary_source));
    assert!(python_connect(&lab, lab.backup_source));
    assert!(lab.icmp_answers(lab.backup_source));
    // The probe's own end keeps its routes through the cut.
    let routes = Command::new("ip")
        .args(["-n", &lab.probe_ns, "route", "show", "table", "100"])
        .output()
        .expect("run ip");
    assert!(
        String::from_utf8_lossy(&routes.stdout).contains("default via"),
        "{routes:?}"
    );

    lab.restore_primary();
    assert!(within_two_seconds(|| python_connect(
        &lab,
        lab.primary_source
    )));
    assert!(within_two_seconds(|| lab.icmp_answers(lab.primary_source)));
    assert!(python_connect(&lab, lab.backup_source));
}

#[test]
fn blackholed_primary_drops_while_its_links_stay_up() {
    let Some(lab) = lab_with_listener() else {
        return;
    };
    lab.blackhole_primary();
    assert!(link_is_up(lab.primary_router_ns(), "ra-p"));
    assert!(link_is_up(lab.primary_router_ns(), "ra-t"));
    assert!(link_is_up(&lab.probe_ns, &lab.primary_interface));
    assert!(!python_connect(&lab, lab.primary_source));
    assert!(!lab.icmp_answers(lab.primary_source));
    assert!(python_connect(&lab, lab.backup_source));

    lab.clear_blackhole_primary();
    assert!(within_two_seconds(|| python_connect(
        &lab,
        lab.primary_source
    )));
}

#[test]
fn backup_loss_drops_about_the_requested_share() {
    let Some(lab) = lab_with_listener() else {
        return;
    };
    lab.set_backup_loss(50);
    let failures = 40 - lab.tcp_successes(lab.backup_source, PORT, 40);
    eprintln!("50 % loss: {failures} of 40 connects failed");
    assert!((5..=35).contains(&failures), "{failures} of 40 failed");
    // The primary path is untouched.
    assert_eq!(lab.tcp_successes(lab.primary_source, PORT, 10), 10);

    lab.clear_backup_loss();
    assert_eq!(lab.tcp_successes(lab.backup_source, PORT, 20), 20);
}

#[test]
fn interface_bound_sockets_take_their_interface_path() {
    let Some(lab) = lab_with_listener() else {
        return;
    };
    // What `Via { interface: Some(..), source: None }` does: SO_BINDTODEVICE.
    let connect_on = |dev: &str| {
        lab.in_probe_ns("python3")
            .args([
                "-c",
                "import socket, sys\n\
                 s = socket.socket(); s.settimeout(0.5)\n\
                 s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[1].encode())\n\
                 try: s.connect((sys.argv[2], int(sys.argv[3])))\n\
                 except OSError: sys.exit(1)",
            ])
            .args([dev.to_string(), lab.target.to_string(), PORT.to_string()])
            .status()
            .expect("run python3")
            .success()
    };
    assert!(connect_on(&lab.primary_interface));
    assert!(connect_on(&lab.backup_interface));
    lab.cut_primary();
    assert!(!connect_on(&lab.primary_interface));
    assert!(connect_on(&lab.backup_interface));
}

#[test]
fn dropping_the_lab_removes_its_namespaces() {
    let Some(lab) = TwoPathLab::create_or_skip() else {
        return;
    };
    let names = [
        lab.probe_ns.clone(),
        lab.primary_router_ns().to_string(),
        lab.backup_router_ns().to_string(),
        lab.target_ns().to_string(),
    ];
    lab.start_tcp_listener(PORT);
    drop(lab);
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("run ip");
    let list = String::from_utf8_lossy(&list.stdout);
    for name in names {
        assert!(
            !list
                .lines()
                .any(|l| l.split_whitespace().next() == Some(&name)),
            "{name} left behind:\n{list}"
        );
    }
}
