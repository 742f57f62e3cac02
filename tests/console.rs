//! End-to-end: scripts piped into `switchboard console`, checked through what
//! the console prints and what `workflows show --format json` reports.

mod common;

use common::{step_status, Lab, FLAGSHIP};

#[test]
fn happy_path_from_request_to_validated_connection() {
    let lab = Lab::new();
    let out = lab.console(
        "alice",
        &format!("{FLAGSHIP}\n/as approver\napprove wf-1\nstatus wf-1\n"),
    );
    assert!(out.contains("Started wf-1"), "{out}");
    assert!(out.contains("wf-1 · approval needed"), "{out}");
    assert!(out.contains("[Approve: approve wf-1]"), "{out}");
    assert!(
        out.contains("dx-1 (direct_connect) → er-1 (expressroute)"),
        "{out}"
    );
    assert!(out.contains("Approved by @approver"), "{out}");
    assert!(out.contains("✓ provision"), "{out}");
    assert!(out.contains("✓ validate"), "{out}");
    assert!(out.contains("wf-1 · completed"), "{out}");

    let show = lab.show("wf-1");
    assert_eq!(show["state"], "completed");
    assert_eq!(show["requester"], "alice");
    for step in [
        "parse",
        "compliance",
        "design",
        "approval",
        "provision",
        "validate",
    ] {
        assert_eq!(step_status(&show, step), "succeeded", "{step}: {show}");
    }
    assert_eq!(show["resources"].as_array().unwrap().len(), 4, "{show}");
    let parse = &show["steps"][0]["output"];
    assert_eq!(parse["source"]["region"], "us-east-1");
    assert_eq!(parse["destination"]["region"], "eastus");
    let actions: Vec<&str> = show["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(actions.contains(&"approval.approved"), "{actions:?}");
    assert_eq!(actions.first(), Some(&"workflow.created"));
}

#[test]
fn state_carries_over_between_console_runs() {
    let lab = Lab::new();
    let first = lab.console("alice", &format!("{FLAGSHIP}\n"));
    assert!(first.contains("approval needed"), "{first}");
    assert_eq!(lab.show("wf-1")["state"], "waiting_approval");
    let second = lab.console("approver", "approve wf-1\n");
    assert!(second.contains("wf-1 · completed"), "{second}");
    let list = lab.json(&["workflows", "list", "--format", "json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["state"], "completed");
}

#[test]
fn rejection_needs_a_reason_and_is_final() {
    let lab = Lab::new();
    let out = lab.console(
        "alice",
        &format!("{FLAGSHIP}\n/as approver\nreject wf-1\nreject wf-1 use the existing VPN instead\napprove wf-1\n"),
    );
    assert!(out.contains("Say why"), "{out}");
    assert!(
        out.contains("Rejected by @approver: use the existing VPN instead"),
        "{out}"
    );
    assert!(out.contains("already finished (rejected)"), "{out}");
    let show = lab.show("wf-1");
    assert_eq!(show["state"], "rejected");
    assert!(show["resources"].as_array().unwrap().is_empty());
}

#[test]
fn requesters_and_strangers_cannot_approve() {
    let lab = Lab::new();
    let out = lab.console(
        "approver",
        &format!("{FLAGSHIP}\napprove wf-1\n/as mallory\napprove wf-1\n"),
    );
    assert!(
        out.contains("cannot approve or reject your own request"),
        "{out}"
    );
    assert!(out.contains("not an approver"), "{out}");
    let show = lab.show("wf-1");
    assert_eq!(show["state"], "waiting_approval");
    let refused: Vec<&str> = show["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "approve.refused")
        .filter_map(|a| a["actor"].as_str())
        .collect();
    assert_eq!(refused, ["approver", "mallory"]);
}

#[test]
fn a_missing_volume_is_asked_for_and_the_answer_used() {
    let lab = Lab::new();
    let out = lab.console(
        "alice",
        "connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb.database.windows.net in East US, PCI-DSS, encrypted, under 20ms\n500 GB/month\n",
    );
    assert!(
        out.contains("How much traffic") || out.contains("how much traffic"),
        "{out}"
    );
    assert!(out.contains("approval needed"), "{out}");
    let show = lab.show("wf-1");
    assert_eq!(show["state"], "waiting_approval");
    assert_eq!(
        show["steps"][0]["output"]["requirements"]["monthly_traffic_gb"],
        500.0
    );
}

#[test]
fn an_unanswered_approval_expires_and_the_requester_is_told() {
    let lab = Lab::new();
    let config = lab.write(
        "switchboard.toml",
        "[approvals]\napprovers = [\"approver\"]\ntimeout = \"1s\"\n",
    );
    let config = config.to_str().unwrap();
    let first = lab.run_with_input(
        &["--config", config, "console", "--user", "alice"],
        format!("{FLAGSHIP}\n").as_bytes(),
    );
    assert!(first.status.success());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let second = lab.run_with_input(
        &["--config", config, "console", "--user", "approver"],
        b"approve wf-1\n",
    );
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(out.contains("wf-1 · expired"), "{out}");
    assert!(out.contains("already finished (expired)"), "{out}");
    assert_eq!(lab.show("wf-1")["state"], "expired");
}

#[test]
fn cancel_by_the_requester_stops_the_workflow() {
    let lab = Lab::new();
    let out = lab.console(
        "alice",
        &format!("{FLAGSHIP}\n/as mallory\ncancel wf-1\n/as alice\ncancel wf-1\ncancel wf-1\n"),
    );
    assert!(out.contains("only the requester or an approver"), "{out}");
    assert!(out.contains("Cancelled by @alice"), "{out}");
    assert!(out.contains("already finished (cancelled)"), "{out}");
}

#[test]
fn bad_input_gets_clear_replies_and_writes_nothing() {
    let lab = Lab::new();
    let mut script: Vec<u8> = Vec::new();
    script.extend_from_slice(b"\n   \nasdf qwer zxcv\n");
    script.extend_from_slice(&vec![b'a'; 1024 * 1024]);
    script.extend_from_slice(b"\n");
    script.extend_from_slice(b"connect \xff\xfe lambda\n");
    script.extend_from_slice(b"approve wf-999\napprove banana\nstatus\nreject\n/as \n");
    script.extend_from_slice(
        b"connect aws lambda OrderProcessor in us-east-9 to azure sql orderdb in East US\n",
    );
    script.extend_from_slice(b"help\n");
    let out = lab.run_with_input(&["console", "--user", "alice"], &script);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Nothing was started"), "{text}");
    assert!(text.contains("the limit is 16384"), "{text}");
    assert!(text.contains("not valid UTF-8"), "{text}");
    assert!(text.contains("no workflow wf-999"), "{text}");
    assert!(text.contains("'banana' is not a workflow id"), "{text}");
    assert!(text.contains("Usage: `reject <id> <reason>`"), "{text}");
    assert!(text.contains("No monitored paths yet"), "{text}");
    assert!(text.contains("us-east-9"), "{text}");
    assert!(text.contains("Commands:"), "{text}");
    let list = lab.json(&["workflows", "list", "--format", "json"]);
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
}

#[test]
fn broken_files_are_named_and_no_database_is_written() {
    let lab = Lab::new();
    let estate = lab.write("estate.yaml", "name: x\nnetworks: [oops\n");
    let out = lab
        .command(&["console"])
        .env("SWITCHBOARD_ESTATE", &estate)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("estate.yaml"), "{err}");
    assert!(!lab.db().exists());

    let policies = lab.write(
        "policies.yaml",
        "policies:\n  default: {encryption_required: maybe}\n",
    );
    let out = lab
        .command(&["console"])
        .env("SWITCHBOARD_POLICIES", &policies)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("policies.yaml"));

    let config = lab.write("bad.toml", "[approvals]\ntimeout = \"soon\"\n");
    let out = lab
        .command(&["--config", config.to_str().unwrap(), "console"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("approvals.timeout"),
        "{err}"
    );
    assert!(!lab.db().exists());
}

#[test]
fn parse_prints_the_intent_as_json() {
    let lab = Lab::new();
    let v = lab.json(&["parse", FLAGSHIP, "--format", "json"]);
    assert_eq!(v["source"]["cloud"], "aws");
    assert_eq!(v["source"]["region"], "us-east-1");
    assert_eq!(v["source"]["service"], "lambda");
    assert_eq!(v["source"]["identifier"], "OrderProcessor");
    assert_eq!(v["destination"]["cloud"], "azure");
    assert_eq!(v["destination"]["region"], "eastus");
    assert_eq!(
        v["destination"]["identifier"],
        "orderdb.database.windows.net"
    );
    assert_eq!(v["requirements"]["max_latency_ms"], 20.0);
    assert_eq!(v["requirements"]["monthly_traffic_gb"], 500.0);
    assert_eq!(v["requirements"]["encryption"], true);
    assert_eq!(v["compliance"], serde_json::json!(["pci_dss"]));
    assert_eq!(v["missing"], serde_json::json!([]));

    let out = lab
        .command(&["parse", "hello there", "--format", "json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
}

#[test]
fn a_failed_validation_rolls_back_exactly_what_was_created() {
    let lab = Lab::new();
    lab.console("alice", &format!("{FLAGSHIP}\n"));
    let fault = lab
        .command(&[
            "lab",
            "fault",
            "er-1",
            "--status",
            "degraded",
            "--extra-latency-ms",
            "40",
        ])
        .output()
        .unwrap();
    assert!(
        fault.status.success(),
        "{}",
        String::from_utf8_lossy(&fault.stderr)
    );
    let out = lab.console("approver", "approve wf-1\n");
    assert!(out.contains("wf-1 · rolled back"), "{out}");
    let show = lab.show("wf-1");
    assert_eq!(show["state"], "rolled_back");
    let resources = show["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 4);
    assert!(
        resources.iter().all(|r| r["status"] == "reverted"),
        "{show}"
    );
    let lab_side = lab.json(&["lab", "resources", "--format", "json"]);
    assert_eq!(lab_side.as_array().unwrap().len(), 4);
    assert!(lab_side
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["active"] == false));
}

#[test]
fn low_risk_requests_approve_themselves_when_the_workflow_says_so() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows/connect.yaml"
    ))
    .unwrap();
    let auto = shipped.replace("# when: \"risk >= medium\"", "when: \"risk >= medium\"");
    assert_ne!(auto, shipped, "the shipped file documents the `when` line");
    let lab = Lab::new();
    let path = lab.write("connect.yaml", &auto);
    let lab = lab.with_env("SWITCHBOARD_CONNECT_WORKFLOW", path.to_str().unwrap());
    let low = "connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb.database.windows.net in East US, encrypted, under 20ms, 500 GB/month";
    let out = lab.console("alice", &format!("{low}\n{FLAGSHIP}\n"));
    assert!(out.contains("approved by policy"), "{out}");
    assert!(out.contains("wf-1 · completed"), "{out}");
    assert!(
        out.contains("wf-2 · approval needed"),
        "PCI is medium risk: {out}"
    );
    let show = lab.show("wf-1");
    assert_eq!(step_status(&show, "approval"), "skipped");
    let actions: Vec<&str> = show["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(actions.contains(&"approval.skipped"), "{actions:?}");
    assert_eq!(lab.show("wf-2")["state"], "waiting_approval");
}
