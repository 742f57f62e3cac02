//! GCP discovery against a fake Compute API serving `tests/fixtures/gcp`:
//! answers written to Google's discovery document (checked here against it),
//! paged with `nextPageToken`, with faults injected per path.

mod fakes;

use fakes::{fixture, unreachable_base, FakeCloud, Fault, TOKEN};
use serde_json::{json, Value};
use switchboard::domain::{ConnectionKind, ConnectionStatus};
use switchboard::providers::gcp::{GcpCredential, GcpDiscovery, GcpDiscoveryConfig};
use switchboard::providers::rest::AccessToken;
use switchboard::topology::{DiscoveryError, Inventory, InventorySource, RemoteEnd};

const PROJECT: &str = "acme-net";
const PROD: &str = "projects/acme-net/global/networks/prod";
/// (fixture resource, method, path under the project)
const LISTS: &[(&str, &str, &str)] = &[
    ("networks", "list", "global/networks"),
    ("subnetworks", "aggregatedList", "aggregated/subnetworks"),
    ("routes", "list", "global/routes"),
    ("firewalls", "list", "global/firewalls"),
    ("vpnGateways", "aggregatedList", "aggregated/vpnGateways"),
    (
        "targetVpnGateways",
        "aggregatedList",
        "aggregated/targetVpnGateways",
    ),
    ("externalVpnGateways", "list", "global/externalVpnGateways"),
    ("vpnTunnels", "aggregatedList", "aggregated/vpnTunnels"),
    ("routers", "aggregatedList", "aggregated/routers"),
    (
        "interconnectAttachments",
        "aggregatedList",
        "aggregated/interconnectAttachments",
    ),
];

fn path(under: &str) -> String {
    format!("/compute/v1/projects/{PROJECT}/{under}")
}

async fn estate() -> FakeCloud {
    let fake = FakeCloud::start("pageToken").await;
    for (resource, method, under) in LISTS {
        let body = fixture(&format!("gcp/{resource}.{method}.json"));
        let pages = if *resource == "networks" {
            // Real paging: one network per page.
            let items = body["items"].as_array().cloned().unwrap_or_default();
            let mut first = body.clone();
            first["items"] = json!([items[0]]);
            first["nextPageToken"] = json!("1");
            let mut second = body;
            second["items"] = json!([items[1]]);
            vec![first, second]
        } else {
            vec![body]
        };
        fake.route(&path(under), pages, &[]);
    }
    fake.route(&path("aggregated/instances"), vec![instances()], &[]);
    fake.route(SQL_INSTANCES, vec![sql_instances()], &[]);
    fake
}

const SQL_INSTANCES: &str = "/v1/projects/acme-net/instances";

/// `instances.aggregatedList` (Compute v1 `InstanceAggregatedList`): one
/// instance in prod with a network tag and a service account, an empty zone.
fn instances() -> Value {
    json!({
        "kind": "compute#instanceAggregatedList",
        "items": {
            "zones/us-central1-a": {"instances": [{
                "kind": "compute#instance", "id": "4711", "name": "web-1", "status": "RUNNING",
                "selfLink": "https://www.googleapis.com/compute/v1/projects/acme-net/zones/us-central1-a/instances/web-1",
                "networkInterfaces": [{"name": "nic0", "networkIP": "10.10.0.7",
                    "network": "https://www.googleapis.com/compute/v1/projects/acme-net/global/networks/prod",
                    "subnetwork": "https://www.googleapis.com/compute/v1/projects/acme-net/regions/us-central1/subnetworks/prod-a"}],
                "tags": {"items": ["web"], "fingerprint": "42WmSpB8rSM="},
                "serviceAccounts": [{"email": "web@acme-net.iam.gserviceaccount.com",
                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]
            }]},
            "zones/us-central1-b": {"warning": {"code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope 'zones/us-central1-b' on this page."}}
        }
    })
}

/// Cloud SQL Admin v1 `instances.list` (`InstancesListResponse`): one
/// Postgres instance on a private IP, one MySQL instance on a public IP only.
fn sql_instances() -> Value {
    json!({
        "kind": "sql#instancesList",
        "items": [
            {"kind": "sql#instance", "name": "orders", "project": "acme-net", "region": "us-central1",
             "connectionName": "acme-net:us-central1:orders", "databaseVersion": "POSTGRES_15",
             "selfLink": "https://sqladmin.googleapis.com/v1/projects/acme-net/instances/orders",
             "ipAddresses": [{"type": "PRIVATE", "ipAddress": "10.10.16.5"}],
             "settings": {"tier": "db-custom-2-7680",
                 "ipConfiguration": {"ipv4Enabled": false, "privateNetwork": "/projects/acme-net/global/networks/prod"}}},
            {"kind": "sql#instance", "name": "reports", "connectionName": "acme-net:us-central1:reports",
             "databaseVersion": "MYSQL_8_0",
             "ipAddresses": [{"type": "PRIMARY", "ipAddress": "34.66.1.2"}],
             "settings": {"ipConfiguration": {"ipv4Enabled": true}}}
        ]
    })
}

fn config(base: &str) -> GcpDiscoveryConfig {
    GcpDiscoveryConfig {
        projects: vec![PROJECT.to_string()],
        endpoint: Some(base.to_string()),
        sql_endpoint: Some(base.to_string()),
        timeout_secs: 5,
        max_attempts: 2,
        ..GcpDiscoveryConfig::default()
    }
}

async fn discover(config: GcpDiscoveryConfig) -> Result<Inventory, DiscoveryError> {
    let credential = GcpCredential::AccessToken(AccessToken::new(TOKEN));
    GcpDiscovery::with_credential(config, credential)
        .inventory()
        .await
}

#[tokio::test]
async fn networks_tunnels_and_interconnects_are_mapped() {
    let fake = estate().await;
    let inv = discover(config(&fake.base)).await.expect("inventory");
    assert!(fake.misses().is_empty(), "{:?}", fake.misses());
    assert!(inv.problems.is_empty(), "{:#?}", inv.problems);
    assert_eq!(fake.hits(&path("global/networks")), 2, "both pages read");

    assert_eq!(inv.networks.len(), 2);
    let prod = inv.networks.iter().find(|n| n.id == PROD).expect("prod");
    assert_eq!(prod.region, "us-central1", "where its subnetworks are");
    assert_eq!(prod.cidrs, vec!["10.10.0.0/20", "10.10.16.0/20"]);
    assert_eq!(prod.account.as_deref(), Some(PROJECT));

    let owners: Vec<_> = inv
        .addresses
        .iter()
        .map(|a| (a.address.to_string(), a.network.as_str()))
        .collect();
    assert_eq!(
        owners,
        vec![
            ("35.242.10.1".to_string(), PROD),
            ("35.220.10.1".to_string(), PROD)
        ]
    );

    let tunnels: Vec<_> = inv
        .links
        .iter()
        .filter(|l| l.kind == ConnectionKind::Vpn)
        .collect();
    assert_eq!(tunnels.len(), 2);
    let t0 = tunnels
        .iter()
        .find(|t| t.name.as_deref() == Some("dc1-tunnel-0"))
        .expect("tunnel 0");
    assert_eq!(t0.local, PROD);
    assert_eq!(
        t0.remote,
        RemoteEnd::Address("203.0.113.10".parse().unwrap())
    );
    assert_eq!(t0.local_address, Some("35.242.10.1".parse().unwrap()));
    assert_eq!(t0.status, ConnectionStatus::Up);
    assert_eq!(
        t0.group.as_deref(),
        Some("projects/acme-net/regions/us-central1/vpnGateways/ha-gw")
    );
    let t1 = tunnels
        .iter()
        .find(|t| t.name.as_deref() == Some("dc1-tunnel-1"))
        .expect("tunnel 1");
    assert_eq!(t1.local_address, Some("35.220.10.1".parse().unwrap()));
    assert_eq!(t1.status, ConnectionStatus::Down);

    let ic = inv
        .links
        .iter()
        .find(|l| l.kind == ConnectionKind::Interconnect)
        .expect("attachment");
    assert_eq!(ic.local, PROD);
    assert_eq!(ic.remote, RemoteEnd::Circuit("ic-ashburn-1".into()));
    assert_eq!(ic.bandwidth_gbps, Some(10.0));
    assert_eq!(ic.status, ConnectionStatus::Up);

    let names: Vec<(&str, &str, &str, u16)> = inv
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str(), s.address.as_str(), s.port))
        .collect();
    assert_eq!(
        names,
        [
            ("web-1", "gce", "10.10.0.7", 443),
            ("orders", "cloud_sql", "10.10.16.5", 5432)
        ],
        "the public-only instance is not a private service"
    );
    assert!(inv.services.iter().all(|s| s.network.as_str() == PROD));
    assert_eq!(
        inv.services[0].security_groups,
        [
            "tag:web",
            "serviceAccount:web@acme-net.iam.gserviceaccount.com"
        ]
    );
    assert!(inv.services[1]
        .identifiers
        .contains(&"acme-net:us-central1:orders".to_string()));
    // 2 networks, 3 subnets, route, firewall, HA gateway, external gateway,
    // 2 tunnels, router, attachment, instance, Cloud SQL instance.
    assert_eq!(inv.resources_read, 15);
}

#[tokio::test]
async fn unreachable_scopes_and_a_failing_api_make_a_partial_result() {
    let fake = estate().await;
    let mut tunnels = fixture("gcp/vpnTunnels.aggregatedList.json");
    tunnels["unreachables"] = json!(["regions/europe-west1"]);
    fake.route(&path("aggregated/vpnTunnels"), vec![tunnels], &[]);
    fake.fault(
        &path("aggregated/interconnectAttachments"),
        Fault::Status(403, r#"{"error":{"code":403,"message":"Required 'compute.interconnectAttachments.list' permission"}}"#.into()),
    );
    fake.fault(&path("global/routes"), Fault::Malformed);
    let inv = discover(config(&fake.base))
        .await
        .expect("partial inventory");
    assert_eq!(inv.networks.len(), 2);
    assert_eq!(inv.links.len(), 2, "the tunnels, not the attachment");
    let problems = inv.problems.join("\n");
    assert!(
        problems.contains("not reachable: regions/europe-west1"),
        "{problems}"
    );
    assert!(
        problems.contains("compute.interconnectAttachments.list"),
        "{problems}"
    );
    assert!(
        problems.contains("routes") && problems.contains("malformed JSON"),
        "{problems}"
    );
}

#[tokio::test]
async fn a_failing_cloud_sql_api_is_a_problem_not_a_failure() {
    let fake = estate().await;
    fake.fault(
        SQL_INSTANCES,
        Fault::Status(
            403,
            r#"{"error":{"code":403,"message":"Cloud SQL Admin API has not been used in project acme-net before or it is disabled."}}"#.into(),
        ),
    );
    let inv = discover(config(&fake.base)).await.expect("inventory");
    assert!(
        inv.problems
            .join("\n")
            .contains("Cloud SQL Admin API has not been used"),
        "{:?}",
        inv.problems
    );
    assert_eq!(inv.networks.len(), 2);
    assert_eq!(inv.services.len(), 1, "the instance is still read");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let fake = estate().await;
    fake.fault(
        &path("aggregated/routers"),
        Fault::Throttle {
            retry_after_secs: 1,
            times: 1,
        },
    );
    let inv = discover(config(&fake.base)).await.expect("inventory");
    assert!(inv.problems.is_empty(), "{:#?}", inv.problems);
    assert_eq!(fake.hits(&path("aggregated/routers")), 2);
    assert!(inv
        .links
        .iter()
        .any(|l| l.kind == ConnectionKind::Interconnect));
}

#[tokio::test]
async fn a_hang_times_out_and_an_unreachable_endpoint_is_a_clear_error() {
    let fake = estate().await;
    fake.fault(&path("global/firewalls"), Fault::Hang);
    let mut cfg = config(&fake.base);
    cfg.timeout_secs = 1;
    cfg.max_attempts = 1;
    let inv = discover(cfg.clone()).await.expect("partial inventory");
    assert!(
        inv.problems.iter().any(|p| p.contains("timed out")),
        "{:#?}",
        inv.problems
    );

    let nowhere = unreachable_base().await;
    cfg.endpoint = Some(nowhere.clone());
    cfg.sql_endpoint = Some(nowhere);
    let err = discover(cfg).await.expect_err("nothing readable");
    assert!(matches!(err, DiscoveryError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn no_projects_is_a_configuration_error() {
    let mut cfg = config("http://127.0.0.1:9");
    cfg.projects.clear();
    let err = discover(cfg).await.expect_err("config");
    assert!(matches!(err, DiscoveryError::Config { .. }), "{err}");
}

/// Every object in every fixture uses only properties (and enum values) the
/// discovery document defines for its type.
#[test]
fn fixtures_follow_the_published_discovery_schema() {
    let doc = fixture("gcp/compute.v1.network-subset.json");
    let schemas = &doc["schemas"];
    let mut errors = Vec::new();
    for (resource, method, _) in LISTS {
        let response = &doc["resources"][resource]["methods"][method]["response"];
        assert!(
            response.is_object(),
            "{resource}.{method} not in the discovery document"
        );
        let body = fixture(&format!("gcp/{resource}.{method}.json"));
        check(
            &body,
            response,
            schemas,
            &format!("{resource}.{method}"),
            &mut errors,
        );
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

fn check(value: &Value, schema: &Value, schemas: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str) {
        return check(value, &schemas[name], schemas, at, errors);
    }
    match value {
        Value::Object(fields) => {
            for (key, v) in fields {
                let at = format!("{at}.{key}");
                if let Some(s) = schema.get("properties").and_then(|p| p.get(key)) {
                    check(v, s, schemas, &at, errors);
                } else if let Some(s) = schema.get("additionalProperties") {
                    check(v, s, schemas, &at, errors);
                } else {
                    errors.push(format!("{at}: not in the schema"));
                }
            }
        }
        Value::Array(items) => match schema.get("items") {
            Some(s) => items.iter().for_each(|i| check(i, s, schemas, at, errors)),
            None => errors.push(format!("{at}: a list where the schema has none")),
        },
        Value::String(s) => {
            if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
                if !allowed.iter().any(|a| a == s) {
                    errors.push(format!("{at}: '{s}' not in the enum"));
                }
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn gcp_links_land_in_the_data_centre_the_on_prem_inventory_names() {
    use switchboard::providers::onprem::OnpremInventory;
    use switchboard::topology::merge::{merge, ProviderResult};
    let fake = estate().await;
    let gcp = discover(config(&fake.base)).await.expect("inventory");
    let onprem = OnpremInventory::from_yaml(
        "datacenters: [{ id: dc1, name: Ashburn }]
routers:
  - { name: edge-1, datacenter: dc1, asn: 65001, interfaces: [{ name: ge-0/0/0, address: 203.0.113.10 }] }
circuits:
  - { reference: ic-ashburn-1, kind: interconnect, datacenter: dc1, router: edge-1 }
",
        "inline",
    )
    .expect("inventory")
    .to_inventory();
    let topology = merge(
        vec![ProviderResult::Read(gcp), ProviderResult::Read(onprem)],
        chrono::Utc::now(),
    );
    for kind in [ConnectionKind::Vpn, ConnectionKind::Interconnect] {
        assert!(
            topology
                .connections
                .iter()
                .any(|c| c.kind == kind && c.a == PROD && c.b == "dc1"),
            "{kind:?}: {:#?}",
            topology.connections
        );
    }
}
