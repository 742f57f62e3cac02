//! Crash and resume: SIGKILL the console while the provision step is applying
//! changes (the lab provider waits after each apply), restart, and check the
//! workflow completes with exactly one set of resources.

mod common;

use common::{Lab, FLAGSHIP};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn killed_during_provision_resumes_without_duplicating_resources() {
    let lab = Lab::new();
    lab.console("alice", &format!("{FLAGSHIP}\n"));

    // Approve in a console whose lab provider takes 700 ms per apply.
    let mut child = lab
        .command(&["console", "--user", "approver"])
        .env("SWITCHBOARD_LAB_APPLY_DELAY", "700ms")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"approve wf-1\n").unwrap();

    // Wait until at least one change is applied but provision is not done.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "provision never started"
        );
        let resources = lab.json(&["lab", "resources", "--format", "json"]);
        let show = lab.show("wf-1");
        if show["current_step"] == "provision" && !resources.as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(stdin);

    let show = lab.show("wf-1");
    assert_eq!(show["state"], "running", "killed mid-provision: {show}");
    assert_eq!(show["current_step"], "provision");
    let applied_before = lab
        .json(&["lab", "resources", "--format", "json"])
        .as_array()
        .unwrap()
        .len();
    assert!(
        (1..4).contains(&applied_before),
        "killed after {applied_before} of 4 applies"
    );

    // Restart: the runner resumes the interrupted step before the script runs.
    let out = lab.console("approver", "status wf-1\n");
    assert!(out.contains("wf-1 · completed"), "{out}");

    let show = lab.show("wf-1");
    assert_eq!(show["state"], "completed");
    let recorded = show["resources"].as_array().unwrap();
    assert_eq!(recorded.len(), 4, "{show}");
    let lab_side = lab.json(&["lab", "resources", "--format", "json"]);
    let lab_side = lab_side.as_array().unwrap();
    assert_eq!(
        lab_side.len(),
        4,
        "the lab holds exactly one set: {lab_side:?}"
    );
    assert!(lab_side.iter().all(|r| r["active"] == true));
    let audit: Vec<&str> = show["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(audit.contains(&"provision.resumed"), "{audit:?}");
}
