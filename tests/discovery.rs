//! Discovery end to end through the binary: the lab estate and the on-prem
//! inventory merged into snapshots, findings, diffs after a fault, partial and
//! failed runs that never replace a good snapshot, and every output format.

mod common;

use common::Lab;
use serde_json::Value;

const ONPREM: &str = include_str!("../examples/onprem.yaml");

/// The lab plus the on-prem inventory, configured through the environment.
fn lab_with_onprem() -> (Lab, std::path::PathBuf) {
    let lab = Lab::new();
    let inventory = lab.write("onprem.yaml", ONPREM);
    let lab = lab
        .with_env("SWITCHBOARD_DISCOVERY_PROVIDERS", "lab,onprem")
        .with_env("SWITCHBOARD_ONPREM_INVENTORY", inventory.to_str().unwrap());
    (lab, inventory)
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|v| v["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn finding_kinds(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn discovery_merges_the_lab_and_on_prem_inventories_into_a_snapshot() {
    let (lab, _) = lab_with_onprem();
    let report = lab.json(&["discover", "--format", "json"]);
    assert_eq!(report["snapshot"], 1);
    assert_eq!(report["providers"]["lab"]["status"], "ok");
    assert_eq!(report["providers"]["onprem"]["status"], "ok");
    let networks = ids(&report["networks"]);
    assert_eq!(networks.len(), 12, "{networks:?}");
    for id in [
        "aws-use1-prod",
        "azure-eus-prod",
        "gcp-usc1-prod",
        "dc1",
        "internet",
    ] {
        assert!(networks.contains(&id.to_string()), "{id} missing");
    }
    // Both inventories report the DCs' internet uplinks: one connection each.
    let connections = report["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 38);
    let uplink = connections.iter().find(|c| c["id"] == "inet-dc1").unwrap();
    assert_eq!(uplink["seen_by"].as_array().unwrap().len(), 2, "{uplink}");
    let network = &report["networks"][0];
    for key in ["id", "cloud", "region", "kind", "name", "cidrs"] {
        assert!(
            network.get(key).is_some(),
            "network.{key} missing: {network}"
        );
    }
    for key in ["id", "kind", "a", "b", "status", "bandwidth_gbps"] {
        assert!(
            connections[0].get(key).is_some(),
            "connection.{key} missing"
        );
    }

    let kinds = finding_kinds(&report);
    for expected in [
        "internet_routed",
        "low_traffic",
        "undocumented",
        "documented_missing",
    ] {
        assert!(
            kinds.contains(&expected.to_string()),
            "{expected} missing: {kinds:?}"
        );
    }
    let findings = lab.json(&["findings", "--format", "json"]);
    let undocumented = findings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "undocumented")
        .unwrap();
    assert_eq!(undocumented["subjects"][0], "vpn-gcp-aws-t1");
    let routed: f64 = findings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "internet_routed")
        .map(|f| f["monthly_usd"].as_f64().unwrap())
        .sum();
    // flows 003, 006 and 084: 60,820 GB × ($0.09 − $0.02).
    assert!((routed - 4257.40).abs() < 0.01, "{routed}");
}

#[test]
fn a_fault_shows_in_the_next_snapshot_its_diff_and_its_findings() {
    let (lab, _) = lab_with_onprem();
    lab.json(&["discover", "--format", "json"]);
    let out = lab
        .command(&["lab", "fault", "er-1", "--status", "down"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let second = lab.json(&["discover", "--format", "json"]);
    assert_eq!(second["snapshot"], 2);
    let kinds = finding_kinds(&second);
    assert!(kinds.contains(&"connection_down".to_string()), "{kinds:?}");

    let diff = lab.json(&["diff", "--format", "json"]);
    assert_eq!(
        (diff["from"].as_i64(), diff["to"].as_i64()),
        (Some(1), Some(2))
    );
    let changed = &diff["diff"]["status_changed"];
    assert_eq!(changed.as_array().unwrap().len(), 1, "{diff}");
    assert_eq!(changed[0]["connection"], "er-1");
    assert_eq!(changed[0]["to"], "down");

    let text = lab.command(&["diff"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("er-1: up → down"), "{text}");

    // Chat says the same.
    let chat = lab.console("alice", "diff\nfindings\n");
    assert!(chat.contains("er-1: up → down"), "{chat}");
    assert!(chat.contains("connection_down"), "{chat}");
}

#[test]
fn a_broken_provider_keeps_its_last_picture_and_a_total_failure_saves_nothing() {
    let (lab, inventory) = lab_with_onprem();
    // A site only the on-prem inventory knows.
    let with_dc4 = ONPREM.replace(
        "routers:",
        "  - { id: dc4, name: DC4 Singapore, cidrs: [172.19.0.0/16], internet: true }\n\nrouters:",
    );
    std::fs::write(&inventory, with_dc4).unwrap();
    let first = lab.json(&["discover", "--format", "json"]);
    assert!(ids(&first["networks"]).contains(&"dc4".to_string()));

    // The on-prem file breaks: the lab is still read, on-prem's part is
    // carried over from snapshot 1 and marked failed with the reason.
    std::fs::write(&inventory, "datacenters: [ {id: dc1").unwrap();
    let out = lab.succeed(&["discover", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("partial"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["providers"]["lab"]["status"], "ok");
    let onprem = &report["providers"]["onprem"];
    assert_eq!(onprem["status"], "failed");
    let reason = onprem["reason"].as_str().unwrap();
    assert!(
        reason.contains("onprem.yaml") && reason.contains("carried over"),
        "{reason}"
    );
    assert!(ids(&report["networks"]).contains(&"dc4".to_string()));
    assert_eq!(report["connections"].as_array().unwrap().len(), 39);

    // Nothing readable at all: an error, and the snapshots stay as they were.
    let only_onprem = lab.with_env("SWITCHBOARD_DISCOVERY_PROVIDERS", "onprem");
    let out = only_onprem.command(&["discover"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("previous snapshot is kept"), "{stderr}");
    let snapshots = only_onprem.json(&["snapshots", "--format", "json"]);
    assert_eq!(snapshots.as_array().unwrap().len(), 2);
    assert_eq!(snapshots[0]["status"], "partial");
    assert_eq!(snapshots[0]["networks"], 13);
}

#[test]
fn bad_configuration_is_refused_before_anything_runs() {
    let lab = Lab::new().with_env("SWITCHBOARD_DISCOVERY_PROVIDERS", "lab,oracle");
    let out = lab.command(&["discover"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SWITCHBOARD_DISCOVERY_PROVIDERS") && stderr.contains("oracle"),
        "{stderr}"
    );

    let lab = Lab::new().with_env("SWITCHBOARD_DISCOVERY_PROVIDERS", "onprem");
    let out = lab.command(&["discover"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SWITCHBOARD_ONPREM_INVENTORY"), "{stderr}");

    let out = Lab::new().command(&["diff", "1"]).output().unwrap();
    assert!(!out.status.success());
    let out = Lab::new()
        .command(&["discover", "--provider", "moon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_output_format_is_written() {
    let lab = Lab::new();
    let dot = lab
        .command(&["topology", "--format", "dot"])
        .output()
        .unwrap();
    assert!(dot.status.success());
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.starts_with("graph") || dot.contains("graph "), "{dot}");
    assert!(dot.contains("cluster_aws"), "{dot}");

    let svg = lab.path("t.svg");
    let png = lab.path("t.png");
    for (format, path) in [("svg", &svg), ("png", &png)] {
        lab.succeed(&[
            "topology",
            "--format",
            format,
            "--out",
            path.to_str().unwrap(),
        ]);
    }
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("aws-use1-prod"));
    let png = std::fs::read(png).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // The console's `topology` names the picture it rendered.
    let chat = lab.console("alice", "topology\n");
    assert!(
        chat.contains("Image: ") && chat.contains("topology-1.png"),
        "{chat}"
    );
    assert!(lab.path("topology-1.png").exists());
}
