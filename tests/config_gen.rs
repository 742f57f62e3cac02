//! `switchboard config` on GlobalCart plans: the Terraform parses as HCL and
//! routes the right CIDRs over the right next hops, the IOS route-maps hang
//! together, the outputs match their snapshots, and the CLI names bad input.

mod common;

use common::{globalcart, globalcart_config, globalcart_plan, snapshot, Lab};
use hcl::{Body, Expression};
use std::collections::BTreeMap;
use switchboard::optimizer::config_gen::{joined, render, ConfigError, Rendered, Target};

struct Resource {
    kind: String,
    attributes: BTreeMap<String, Expression>,
}

impl Resource {
    fn string(&self, key: &str) -> &str {
        match self.attributes.get(key) {
            Some(Expression::String(s)) => s,
            other => panic!("{}.{key} is not a string: {other:?}", self.kind),
        }
    }

    fn number(&self, key: &str) -> u64 {
        match self.attributes.get(key) {
            Some(Expression::Number(n)) => n.as_u64().unwrap(),
            other => panic!("{}.{key} is not a number: {other:?}", self.kind),
        }
    }
}

/// The `resource` blocks of a Terraform file, parsed as HCL.
fn resources(file: &Rendered) -> Vec<Resource> {
    let body: Body = hcl::parse(&file.text)
        .unwrap_or_else(|e| panic!("{} is not HCL: {e}\n{}", file.name, file.text));
    body.blocks()
        .filter(|b| b.identifier() == "resource")
        .map(|b| Resource {
            kind: b.labels()[0].as_str().to_string(),
            attributes: b
                .body()
                .attributes()
                .map(|a| (a.key().to_string(), a.expr().clone()))
                .collect(),
        })
        .collect()
}

fn file<'r>(files: &'r [Rendered], name: &str) -> &'r Rendered {
    files.iter().find(|f| f.name == name).unwrap_or_else(|| {
        panic!(
            "no {name} among {:?}",
            files.iter().map(|f| &f.name).collect::<Vec<_>>()
        )
    })
}

#[test]
fn onprem_to_aws_routes_the_datacentre_over_direct_connect_and_touches_only_aws() {
    let files = globalcart_config("onprem:dc1", "aws:us-east-1", Target::Terraform);
    assert_eq!(files.len(), 1, "only AWS is in the plan");
    let routes = resources(file(&files, "aws.tf"));
    let mut cidrs: Vec<&str> = routes
        .iter()
        .filter(|r| r.kind == "aws_route")
        .map(|r| {
            assert_eq!(r.string("gateway_id"), "dx-1");
            r.string("destination_cidr_block")
        })
        .collect();
    cidrs.sort();
    assert_eq!(cidrs, ["172.16.0.0/16", "192.168.10.0/24"]);
}

#[test]
fn aws_to_azure_routes_each_end_over_its_own_circuit() {
    let files = globalcart_config("aws:us-east-1", "azure:eastus", Target::Terraform);
    let aws = resources(file(&files, "aws.tf"));
    assert!(aws.iter().any(|r| r.kind == "aws_route"
        && r.string("destination_cidr_block") == "10.40.0.0/16"
        && r.string("gateway_id") == "dx-1"));
    let azure = resources(file(&files, "azure.tf"));
    let table = azure
        .iter()
        .find(|r| r.kind == "azurerm_route_table")
        .unwrap();
    assert_eq!(table.string("location"), "eastus");
    let route = azure.iter().find(|r| r.kind == "azurerm_route").unwrap();
    assert_eq!(route.string("address_prefix"), "10.10.0.0/16");
    assert_eq!(route.string("next_hop_type"), "VirtualNetworkGateway");
    assert!(!files.iter().any(|f| f.name == "gcp.tf"));
}

#[test]
fn gcp_prefers_the_primary_by_a_lower_priority_number() {
    let files = globalcart_config("gcp:us-central1", "onprem:dc1", Target::Terraform);
    let routes = resources(file(&files, "gcp.tf"));
    let priority = |hop: &str| -> Vec<u64> {
        routes
            .iter()
            .filter(|r| r.attributes.contains_key(hop))
            .map(|r| {
                assert_eq!(r.kind, "google_compute_route");
                assert_eq!(r.string("network"), "gcp-usc1-prod");
                r.number("priority")
            })
            .collect()
    };
    // Primary ic-1: next hop is dc1-edge-2's BGP address on the interconnect.
    let primary = priority("next_hop_ip");
    // Backup vpn-azure-gcp → er-1: one route per tunnel and CIDR.
    let backup = priority("next_hop_vpn_tunnel");
    assert_eq!(primary.len(), 2, "one per dc1 CIDR");
    assert_eq!(backup.len(), 4, "two tunnels × two CIDRs");
    assert!(
        primary.iter().max() < backup.iter().min(),
        "{primary:?} {backup:?}"
    );
    assert!(routes
        .iter()
        .filter(|r| r.attributes.contains_key("next_hop_ip"))
        .all(|r| r.string("next_hop_ip") == "169.254.40.1"));
}

#[test]
fn every_globalcart_plan_renders_valid_terraform_and_router_config_or_says_why_not() {
    let (estate, onprem) = globalcart();
    let networks: Vec<&str> = estate
        .networks
        .iter()
        .filter(|n| n.id.as_str() != "internet")
        .map(|n| n.id.as_str())
        .collect();
    let mut rendered = 0;
    for from in &networks {
        for to in networks.iter().filter(|to| *to != from) {
            let Some(plan) = globalcart_plan(&estate, from, to) else {
                continue;
            };
            for target in [Target::Terraform, Target::Frr, Target::Ios] {
                match render(target, &plan, &estate, Some(&onprem)) {
                    Ok(files) => {
                        for file in files.iter().filter(|_| target == Target::Terraform) {
                            resources(file);
                        }
                        rendered += files.len();
                    }
                    // dc → dc for Terraform; cloud → cloud with no router on the way.
                    Err(ConfigError::NothingToRender(..)) => {}
                    Err(e) => panic!("{from} → {to}: {e}"),
                }
            }
        }
    }
    assert!(rendered > 100, "{rendered}");
}

/// Route-map name → local preference, and neighbor → route-map, from IOS text.
fn ios_structure(text: &str) -> (BTreeMap<String, u32>, BTreeMap<String, String>) {
    let mut maps = BTreeMap::new();
    let mut bound = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut remote_as = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["route-map", name, "permit", _] => current = Some(name.to_string()),
            ["set", "local-preference", value] => {
                let name = current.clone().expect("set outside a route-map");
                maps.insert(name, value.parse().unwrap());
            }
            ["neighbor", address, "remote-as", _] => remote_as.push(address.to_string()),
            ["neighbor", address, "route-map", name, "in"] => {
                assert!(
                    remote_as.contains(&address.to_string()),
                    "{address} has no remote-as"
                );
                bound.insert(address.to_string(), name.to_string());
            }
            _ => {}
        }
    }
    (maps, bound)
}

#[test]
fn ios_binds_only_route_maps_it_defines_with_the_plans_preferences() {
    let files = globalcart_config("onprem:dc1", "aws:us-east-1", Target::Ios);
    assert_eq!(files.len(), 1);
    let (maps, bound) = ios_structure(&file(&files, "dc1-edge-1").text);
    assert_eq!(maps["PRIMARY-IN"], 200);
    assert_eq!(maps["BACKUP-IN"], 100);
    for (neighbor, map) in &bound {
        assert!(maps.contains_key(map), "{neighbor} uses undefined {map}");
    }
    assert_eq!(bound["169.254.10.2"], "PRIMARY-IN", "dx-1's AWS peer");
    assert_eq!(bound["169.254.100.1"], "BACKUP-IN", "vpn-aws-dc1 tunnel 1");
    assert_eq!(bound["169.254.100.5"], "BACKUP-IN", "vpn-aws-dc1 tunnel 2");
}

#[test]
fn the_flagship_plan_renders_as_its_snapshots() {
    for (target, name) in [
        (Target::Terraform, "terraform"),
        (Target::Frr, "frr"),
        (Target::Ios, "ios"),
    ] {
        let files = globalcart_config("aws:us-east-1", "azure:eastus", target);
        snapshot(&format!("config_{name}.txt"), &joined(&files, target));
    }
}

#[test]
fn the_cli_renders_a_plan_paths_wrote_and_names_bad_input() {
    let lab = Lab::new();
    let inventory = lab.write("onprem.yaml", include_str!("../examples/onprem.yaml"));
    let inventory = inventory.to_str().unwrap();
    let plan = lab.succeed(&[
        "paths",
        "--from",
        "onprem:dc1",
        "--to",
        "aws:us-east-1",
        "--traffic",
        "5TB",
        "--format",
        "json",
    ]);
    lab.write("plan.json", &String::from_utf8(plan.stdout).unwrap());
    let out = lab.path("dc1.conf");
    lab.succeed(&[
        "config",
        "--plan",
        "plan.json",
        "--target",
        "frr",
        "--inventory",
        inventory,
        "--router",
        "dc1-edge-1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("neighbor 169.254.10.2 route-map PRIMARY-IN in"),
        "{text}"
    );

    lab.write("junk.json", "not json at all");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--plan", "junk.json", "--target", "terraform"],
            "is not the JSON",
        ),
        (
            &["--plan", "plan.json", "--target", "pulumi"],
            "terraform, frr or ios",
        ),
        (
            &["--plan", "missing.json", "--target", "ios"],
            "missing.json",
        ),
        (
            &["--plan", "plan.json", "--target", "frr"],
            "onprem_inventory",
        ),
    ];
    for (args, expected) in cases {
        let run = lab.command(&[&["config"], args].concat()).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?} should fail");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected '{expected}' in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_workflows_approved_design_is_a_plan() {
    let lab = Lab::new();
    lab.console(
        "alice",
        &format!("{}\n/as approver\napprove wf-1\n", common::FLAGSHIP),
    );
    let out = lab.succeed(&["config", "--plan", "wf-1", "--target", "terraform"]);
    let text = String::from_utf8_lossy(&out.stdout);
    // The flagship: us-east-1 prod reaches East US's 10.40.0.0/16 over dx-1.
    assert!(
        text.contains("10.40.0.0/16") && text.contains("dx-1"),
        "{text}"
    );

    let out = lab
        .command(&["config", "--plan", "wf-9", "--target", "terraform"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no workflow wf-9"));
}
