//! Azure discovery against a fake ARM serving Microsoft's published examples
//! (`tests/fixtures/azure`, see its README). Where the examples cannot be
//! served as they are, the fake composes them and says so: the `"..."`
//! nextLink and `"x.x.x.x"` gateway addresses are placeholders and are
//! rewritten; no resource-group list is published, so one is built in the
//! shape of CreateResourceGroup's answer; the published peerings are embedded
//! in vnet1 (list bodies carry them there); and no ExpressRoute-type gateway
//! connection is published, so `connER` is the published connS2S with its
//! type, status and ends changed.

mod fakes;

use fakes::{fixture, unreachable_base, FakeCloud, Fault, TOKEN};
use serde_json::{json, Value};
use switchboard::domain::{ConnectionKind, ConnectionStatus};
use switchboard::providers::azure::{
    AzureCredential, AzureDiscovery, AzureDiscoveryConfig, NETWORK_API_VERSION,
    RESOURCE_GROUPS_API_VERSION, SQL_API_VERSION, SUBSCRIPTIONS_API_VERSION,
};
use switchboard::providers::rest::AccessToken;
use switchboard::topology::{DiscoveryError, Inventory, InventorySource, RemoteEnd};

const SUB: &str = "subid";
const VNET1: &str =
    "/subscriptions/subid/resourcegroups/rg1/providers/microsoft.network/virtualnetworks/vnet1";
const CIRCUIT1_KEY: &str = "a1410692-ed3b-4ceb-b94a-b90b95d398d1";

fn body(name: &str) -> Value {
    fixture(&format!("azure/{name}.json"))["responses"]["200"]["body"].clone()
}

fn network_path(sub: &str, kind: &str) -> String {
    format!("/subscriptions/{sub}/providers/Microsoft.Network/{kind}")
}

fn group_path(sub: &str, group: &str, kind: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Network/{kind}")
}

/// Serves `value` at `path` across two pages linked by `nextLink`.
fn two_pages(fake: &FakeCloud, path: &str, value: Vec<Value>, api_version: &str) {
    let (first, second) = value.split_at(value.len() / 2);
    let next = fake.page_url(path, 1, &format!("api-version={api_version}"));
    let pages = vec![
        json!({ "value": first, "nextLink": next }),
        json!({ "value": second }),
    ];
    fake.route(path, pages, &[("api-version", api_version)]);
}

fn one_page(fake: &FakeCloud, path: &str, body: Value) {
    fake.route(path, vec![body], &[("api-version", NETWORK_API_VERSION)]);
}

fn list(body: &Value) -> Vec<Value> {
    body["value"].as_array().cloned().unwrap_or_default()
}

/// Rewrites each `"x.x.x.x"` placeholder to the next documentation address.
fn rewrite_placeholder_ips(mut body: Value) -> Value {
    let mut n = 0;
    for item in body["value"].as_array_mut().into_iter().flatten() {
        if item["properties"]["gatewayIpAddress"] == "x.x.x.x" {
            n += 1;
            item["properties"]["gatewayIpAddress"] = json!(format!("203.0.113.{n}"));
        }
    }
    body
}

fn expressroute_connection() -> Value {
    let mut conn = body("VirtualNetworkGatewayConnectionGet");
    let props = &mut conn["properties"];
    props["connectionType"] = json!("ExpressRoute");
    props["connectionStatus"] = json!("Connected");
    props["virtualNetworkGateway1"]["id"] =
        json!("/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworkGateways/vpngw1");
    props["peer"] = json!({ "id": "/subscriptions/SUBID/resourceGroups/RG1/providers/Microsoft.Network/expressRouteCircuits/circuitName1" });
    if let Some(p) = props.as_object_mut() {
        p.remove("localNetworkGateway2");
        p.remove("sharedKey");
    }
    conn["name"] = json!("connER");
    conn["id"] = json!(
        "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/connections/connER"
    );
    conn
}

/// Every list one subscription's discovery reads.
fn serve_estate(fake: &FakeCloud, sub: &str) {
    let mut vnets = body("VirtualNetworkListAll");
    vnets["value"][0]["properties"]["virtualNetworkPeerings"] =
        body("VirtualNetworkPeeringList")["value"].clone();
    two_pages(
        fake,
        &network_path(sub, "virtualNetworks"),
        list(&vnets),
        NETWORK_API_VERSION,
    );
    one_page(
        fake,
        &network_path(sub, "expressRouteCircuits"),
        body("ExpressRouteCircuitListBySubscription"),
    );
    one_page(
        fake,
        &network_path(sub, "networkSecurityGroups"),
        body("NetworkSecurityGroupListAll"),
    );
    one_page(
        fake,
        &network_path(sub, "routeTables"),
        body("RouteTableListAll"),
    );
    // The services' lists (no published examples here): none.
    for kind in ["privateEndpoints", "networkInterfaces"] {
        one_page(fake, &network_path(sub, kind), json!({ "value": [] }));
    }
    fake.route(
        &format!("/subscriptions/{sub}/providers/Microsoft.Sql/servers"),
        vec![json!({ "value": [] })],
        &[("api-version", SQL_API_VERSION)],
    );

    let group = |name: &str| {
        let mut g = body("CreateResourceGroup");
        g["id"] = json!(format!("/subscriptions/{sub}/resourceGroups/{name}"));
        g["name"] = json!(name);
        g
    };
    fake.route(
        &format!("/subscriptions/{sub}/resourcegroups"),
        vec![json!({ "value": [group("rg1"), group("testrg")] })],
        &[("api-version", RESOURCE_GROUPS_API_VERSION)],
    );

    one_page(
        fake,
        &group_path(sub, "rg1", "virtualNetworkGateways"),
        body("VirtualNetworkGatewayList"),
    );
    let mut connections = list(&body("VirtualNetworkGatewayConnectionsList"));
    connections.push(body("VirtualNetworkGatewayConnectionGet"));
    connections.push(expressroute_connection());
    two_pages(
        fake,
        &group_path(sub, "rg1", "connections"),
        connections,
        NETWORK_API_VERSION,
    );
    one_page(
        fake,
        &group_path(sub, "rg1", "localNetworkGateways"),
        rewrite_placeholder_ips(body("LocalNetworkGatewayList")),
    );

    one_page(
        fake,
        &group_path(sub, "testrg", "virtualNetworkGateways"),
        json!({ "value": [] }),
    );
    one_page(
        fake,
        &group_path(sub, "testrg", "connections"),
        body("VirtualNetworkGatewaysListConnections"),
    );
    one_page(
        fake,
        &group_path(sub, "testrg", "localNetworkGateways"),
        json!({ "value": [] }),
    );
}

fn config(fake_base: &str, subscriptions: &[&str]) -> AzureDiscoveryConfig {
    AzureDiscoveryConfig {
        subscriptions: subscriptions.iter().map(|s| s.to_string()).collect(),
        endpoint: Some(fake_base.to_string()),
        timeout_secs: 5,
        max_attempts: 2,
        ..AzureDiscoveryConfig::default()
    }
}

async fn discover(config: AzureDiscoveryConfig) -> Result<Inventory, DiscoveryError> {
    let credential = AzureCredential::AccessToken(AccessToken::new(TOKEN));
    AzureDiscovery::with_credential(config, credential)
        .inventory()
        .await
}

async fn estate() -> FakeCloud {
    let fake = FakeCloud::start("$skiptoken").await;
    serve_estate(&fake, SUB);
    fake
}

#[tokio::test]
async fn published_examples_map_to_vnets_peerings_vpn_and_expressroute_links() {
    let fake = estate().await;
    let inv = discover(config(&fake.base, &[SUB]))
        .await
        .expect("inventory");
    assert!(fake.misses().is_empty(), "{:?}", fake.misses());

    let ids: Vec<&str> = inv.networks.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "both pages of vnets read: {ids:?}");
    let vnet1 = inv.networks.iter().find(|n| n.id == VNET1).expect("vnet1");
    assert_eq!(vnet1.region, "westus");
    assert_eq!(vnet1.cidrs, vec!["10.0.0.0/8"]);
    assert_eq!(vnet1.account.as_deref(), Some(SUB));
    assert_eq!(fake.hits(&network_path(SUB, "virtualNetworks")), 2);

    let peerings: Vec<_> = inv
        .links
        .iter()
        .filter(|l| l.kind == ConnectionKind::Peering)
        .collect();
    assert_eq!(peerings.len(), 2);
    assert!(peerings
        .iter()
        .all(|p| p.local == VNET1 && p.status == ConnectionStatus::Down));
    assert!(peerings.iter().any(|p| p.remote
        == RemoteEnd::Network("/subscriptions/subid/resourcegroups/peertest/providers/microsoft.network/virtualnetworks/vnet3".into())));

    let conn1 = inv
        .links
        .iter()
        .find(|l| l.name.as_deref() == Some("conn1"))
        .expect("conn1");
    assert_eq!(conn1.kind, ConnectionKind::Vpn);
    assert_eq!(conn1.local, VNET1);
    assert_eq!(
        conn1.remote,
        RemoteEnd::Address("203.0.113.1".parse().unwrap())
    );
    assert_eq!(
        conn1.status,
        ConnectionStatus::Down,
        "no connectionStatus in the list example"
    );
    assert_eq!(conn1.group.as_deref(), Some(conn1.id.as_str()));
    let conn2 = inv
        .links
        .iter()
        .find(|l| l.name.as_deref() == Some("conn2"))
        .expect("conn2");
    assert!(conn2
        .local
        .ends_with("/rg1/providers/microsoft.network/virtualnetworks/vnet2"));

    let er = inv
        .links
        .iter()
        .find(|l| l.kind == ConnectionKind::Expressroute)
        .expect("ER link");
    assert_eq!(er.remote, RemoteEnd::Circuit(CIRCUIT1_KEY.into()));
    assert_eq!(er.local, VNET1);
    assert_eq!(er.bandwidth_gbps, Some(0.2));
    assert_eq!(er.status, ConnectionStatus::Up);
    assert_eq!(inv.links.len(), 5);

    // The examples' dangling references (gateway `vpngw`, the Vnet2Vnet peer
    // in another resource group) are reported, not guessed.
    assert_eq!(inv.problems.len(), 2, "{:#?}", inv.problems);
    assert!(inv
        .problems
        .iter()
        .any(|p| p.contains("connS2S") && p.contains("not found")));
    assert!(inv
        .problems
        .iter()
        .any(|p| p.contains("test-vpn-connection")));
    // 2 vnets + 2 peerings, 2 circuits, 2 gateways, 2 local gateways,
    // 5 connections, 2 NSGs, 2 route tables, 2 resource groups.
    assert_eq!(inv.resources_read, 21);
}

#[tokio::test]
async fn subscriptions_are_listed_across_pages_and_a_denied_one_is_a_partial_result() {
    let fake = FakeCloud::start("$skiptoken").await;
    let good = "291bba3f-e0a5-47bc-a099-3bdcb2a50a05";
    let denied = "72ac930a-f34e-42d8-b06d-dc2a9e12ed71";
    // The published "nextLink": "..." placeholder becomes a real second page.
    let subscriptions = list(&body("GetSubscriptions"));
    two_pages(
        &fake,
        "/subscriptions",
        subscriptions,
        SUBSCRIPTIONS_API_VERSION,
    );
    serve_estate(&fake, good);
    serve_estate(&fake, denied);
    let forbidden = r#"{"error":{"code":"AuthorizationFailed","message":"The client does not have authorization"}}"#;
    fake.fault(
        &network_path(denied, "virtualNetworks"),
        Fault::Status(403, forbidden.into()),
    );

    let inv = discover(config(&fake.base, &[]))
        .await
        .expect("partial inventory");
    assert_eq!(inv.networks.len(), 2, "the readable subscription's vnets");
    assert!(inv
        .networks
        .iter()
        .all(|n| n.account.as_deref() == Some(good)));
    let denial: Vec<_> = inv
        .problems
        .iter()
        .filter(|p| p.contains("AuthorizationFailed"))
        .collect();
    assert_eq!(denial.len(), 1, "{:#?}", inv.problems);
    assert!(
        denial[0].contains(denied) && denial[0].contains("virtual networks"),
        "{}",
        denial[0]
    );
}

#[tokio::test]
async fn a_failing_api_leaves_the_rest_read_with_the_reason() {
    let fake = estate().await;
    let path = network_path(SUB, "expressRouteCircuits");
    fake.fault(
        &path,
        Fault::Status(
            500,
            "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"boom\"}}".into(),
        ),
    );
    let inv = discover(config(&fake.base, &[SUB]))
        .await
        .expect("partial inventory");
    assert_eq!(fake.hits(&path), 2, "retried up to max_attempts");
    assert_eq!(inv.networks.len(), 2);
    assert!(
        inv.problems
            .iter()
            .any(|p| p.contains("ExpressRoute circuits") && p.contains("HTTP 500")),
        "{:#?}",
        inv.problems
    );
    // Without circuits the ER connection cannot be resolved: a reason, not a guess.
    assert!(inv
        .problems
        .iter()
        .any(|p| p.contains("connER") && p.contains("circuitName1")));
    assert!(inv.links.iter().any(|l| l.name.as_deref() == Some("conn1")));
}

#[tokio::test]
async fn malformed_json_is_a_problem_not_a_panic() {
    let fake = estate().await;
    fake.fault(&network_path(SUB, "virtualNetworks"), Fault::Malformed);
    let inv = discover(config(&fake.base, &[SUB]))
        .await
        .expect("partial inventory");
    assert!(inv.networks.is_empty());
    assert!(
        inv.problems
            .iter()
            .any(|p| p.contains("virtual networks") && p.contains("malformed JSON")),
        "{:#?}",
        inv.problems
    );
    assert!(inv
        .links
        .iter()
        .any(|l| l.kind == ConnectionKind::Expressroute));
}

#[tokio::test]
async fn throttling_is_retried_after_the_retry_after_delay() {
    let fake = estate().await;
    let path = network_path(SUB, "virtualNetworks");
    fake.fault(
        &path,
        Fault::Throttle {
            retry_after_secs: 1,
            times: 1,
        },
    );
    let started = std::time::Instant::now();
    let inv = discover(config(&fake.base, &[SUB]))
        .await
        .expect("inventory");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "waited as told"
    );
    assert_eq!(inv.networks.len(), 2);
    assert_eq!(
        fake.hits(&path),
        3,
        "one throttled request, then both pages"
    );
    assert_eq!(
        inv.problems.len(),
        2,
        "only the examples' own dangling references"
    );
}

#[tokio::test]
async fn a_hanging_api_times_out_into_a_problem() {
    let fake = estate().await;
    fake.fault(&network_path(SUB, "routeTables"), Fault::Hang);
    let mut cfg = config(&fake.base, &[SUB]);
    cfg.timeout_secs = 1;
    cfg.max_attempts = 1;
    let inv = discover(cfg).await.expect("partial inventory");
    assert!(
        inv.problems.iter().any(|p| p.contains("timed out")),
        "{:#?}",
        inv.problems
    );
    assert_eq!(inv.links.len(), 5);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_clear_error() {
    let base = unreachable_base().await;
    let mut cfg = config(&base, &[SUB]);
    cfg.max_attempts = 1;
    let err = discover(cfg).await.expect_err("nothing readable");
    assert!(matches!(err, DiscoveryError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&base), "{err}");
}

#[tokio::test]
async fn a_rejected_token_is_access_denied() {
    let fake = estate().await;
    let credential = AzureCredential::AccessToken(AccessToken::new("stolen"));
    let err = AzureDiscovery::with_credential(config(&fake.base, &[SUB]), credential)
        .inventory()
        .await
        .expect_err("nothing readable");
    assert!(matches!(err, DiscoveryError::AccessDenied { .. }), "{err}");
    assert!(!err.to_string().contains("stolen"));
}

#[tokio::test]
async fn a_client_secret_is_exchanged_for_the_arm_token() {
    let fake = estate().await;
    fake.open_route(
        "/tenant-1/oauth2/v2.0/token",
        json!({ "token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN }),
    );
    let credential = AzureCredential::ClientSecret {
        tenant_id: "tenant-1".into(),
        client_id: "app".into(),
        client_secret: AccessToken::new("s3cret"),
        authority: fake.base.clone(),
    };
    let inv = AzureDiscovery::with_credential(config(&fake.base, &[SUB]), credential)
        .inventory()
        .await
        .expect("inventory");
    assert_eq!(inv.networks.len(), 2);
}

#[tokio::test]
async fn a_failing_token_endpoint_is_a_credentials_error() {
    let base = unreachable_base().await;
    let credential = AzureCredential::ClientSecret {
        tenant_id: "t".into(),
        client_id: "app".into(),
        client_secret: AccessToken::new("s3cret"),
        authority: base.clone(),
    };
    let err = AzureDiscovery::with_credential(config(&base, &[SUB]), credential)
        .inventory()
        .await
        .expect_err("no token");
    assert!(matches!(err, DiscoveryError::Credentials { .. }), "{err}");
    assert!(!err.to_string().contains("s3cret"));
}

#[test]
fn config_rejects_unknown_keys_and_has_defaults() {
    let cfg: AzureDiscoveryConfig = toml::from_str("subscriptions = [\"s\"]").expect("config");
    assert_eq!(
        (cfg.timeout_secs, cfg.max_attempts, cfg.endpoint),
        (30, 5, None)
    );
    assert!(toml::from_str::<AzureDiscoveryConfig>("subscription = []").is_err());
}

#[tokio::test]
async fn azure_links_land_in_the_data_centre_the_on_prem_inventory_names() {
    use switchboard::providers::onprem::OnpremInventory;
    use switchboard::topology::merge::{merge, ProviderResult};
    let fake = estate().await;
    let azure = discover(config(&fake.base, &[SUB]))
        .await
        .expect("inventory");
    // conn1's local network gateway is 203.0.113.1; circuit1's service key.
    let onprem = OnpremInventory::from_yaml(
        &format!(
            "datacenters: [{{ id: dc1, name: Ashburn }}]
routers:
  - {{ name: edge-1, datacenter: dc1, asn: 65001, interfaces: [{{ name: ge-0/0/0, address: 203.0.113.1 }}] }}
circuits:
  - {{ reference: {CIRCUIT1_KEY}, kind: expressroute, datacenter: dc1, router: edge-1 }}
"
        ),
        "inline",
    )
    .expect("inventory")
    .to_inventory();
    let topology = merge(
        vec![ProviderResult::Read(azure), ProviderResult::Read(onprem)],
        chrono::Utc::now(),
    );
    let lands_in_dc1 = |kind: ConnectionKind| {
        topology
            .connections
            .iter()
            .filter(|c| c.kind == kind && c.a == VNET1)
            .any(|c| c.b == "dc1")
    };
    assert!(
        lands_in_dc1(ConnectionKind::Vpn),
        "{:#?}",
        topology.connections
    );
    assert!(
        lands_in_dc1(ConnectionKind::Expressroute),
        "{:#?}",
        topology.connections
    );
}
