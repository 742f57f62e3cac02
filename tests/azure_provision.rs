//! The Azure actor against the fake ARM (`bench::fake_arm::FakeArm`, seeded with
//! the chapter's estate and read by discovery): each change made and
//! reverted, the same key twice making one of each, and what ARM does when
//! things go wrong — an operation that ends Failed (Azure's words, nothing
//! claimed), a 429 with Retry-After, a priority taken meanwhile
//! (`SecurityRuleConflict`, read again and the next one taken), a route
//! edited meanwhile (412 on If-Match, read again), a record someone else
//! owns, a poll past its deadline.

use serde_json::json;
use std::time::Duration;
use switchboard::bench::fake_arm::{seed_chapter, FakeArm, FAKE_TOKEN};
use switchboard::domain::{
    Change, Cloud, Connection, ConnectionId, ConnectionKind, ConnectionStatus, Estate, Gbps,
    Millis, Network, NetworkId, NetworkKind, ResourceId, ServiceId, Usd, UsdPerGb,
};
use switchboard::providers::azure::{
    AzureActor, AzureCredential, AzureDiscovery, AzureDiscoveryConfig,
};
use switchboard::providers::rest::AccessToken;
use switchboard::providers::CloudActor;
use switchboard::topology::InventorySource;

const VNET: &str = "/subscriptions/sub-1/resourcegroups/rg-net/providers/microsoft.network/virtualnetworks/vnet-eastus";
const SERVER: &str =
    "/subscriptions/sub-1/resourcegroups/rg-net/providers/microsoft.sql/servers/orderdb";

fn config(arm: &FakeArm, deadline_secs: u64) -> AzureDiscoveryConfig {
    AzureDiscoveryConfig {
        subscriptions: vec!["sub-1".into()],
        endpoint: Some(arm.base.clone()),
        poll_ms: 10,
        operation_timeout_secs: deadline_secs,
        max_attempts: 3,
        ..AzureDiscoveryConfig::default()
    }
}

fn credential() -> AzureCredential {
    AzureCredential::AccessToken(AccessToken::new(FAKE_TOKEN))
}

fn connection(id: &str, kind: ConnectionKind) -> Connection {
    Connection {
        id: ConnectionId::new(id),
        kind,
        a: NetworkId::new("vpc-app"),
        b: NetworkId::new(VNET),
        bandwidth_gbps: Gbps(1.25),
        latency_ms: Millis(12.0),
        reliability: 0.999,
        status: ConnectionStatus::Up,
        cost_per_gb: UsdPerGb(0.05),
        monthly_base_usd: Usd(36.0),
        group: None,
    }
}

/// The estate discovery reads from the fake: its services, and the VNet
/// with a VPN and an internet path to an AWS VPC.
async fn world(polls: u32) -> (FakeArm, Estate) {
    let arm = FakeArm::start(polls).await.expect("fake arm");
    seed_chapter(&arm, "203.0.0.1");
    let inventory = AzureDiscovery::with_credential(config(&arm, 10), credential())
        .inventory()
        .await
        .expect("discovery");
    let vnet = inventory
        .networks
        .iter()
        .find(|n| n.id == VNET)
        .expect("vnet");
    let estate = Estate {
        name: "test".into(),
        networks: vec![
            Network {
                id: NetworkId::new(VNET),
                name: vnet.name.clone(),
                cloud: Cloud::Azure,
                region: vnet.region.clone(),
                kind: NetworkKind::Vnet,
                cidrs: vnet.cidrs.clone(),
            },
            Network {
                id: NetworkId::new("vpc-app"),
                name: "app".into(),
                cloud: Cloud::Aws,
                region: "us-east-1".into(),
                kind: NetworkKind::Vpc,
                cidrs: vec!["10.61.0.0/16".into()],
            },
        ],
        connections: vec![
            connection("vpn-1", ConnectionKind::Vpn),
            connection("internet", ConnectionKind::Internet),
        ],
        services: inventory.services.clone(),
        flows: vec![],
    };
    (arm, estate)
}

fn actor(arm: &FakeArm, deadline_secs: u64) -> AzureActor {
    AzureActor::new(config(arm, deadline_secs), Some(credential()))
}

fn ingress() -> Change {
    Change::AllowIngress {
        network: NetworkId::new(VNET),
        from_cidr: "10.61.0.0/16".into(),
        port: 1433,
        description: "orders-fn → orderdb".into(),
        service: Some(ServiceId::new(SERVER)),
    }
}

fn route() -> Change {
    Change::Route {
        network: NetworkId::new(VNET),
        destination_cidr: "10.61.0.0/16".into(),
        via: ConnectionId::new("vpn-1"),
    }
}

#[tokio::test]
async fn discovery_offers_the_sql_server_at_its_private_endpoint_behind_its_nsg() {
    let (_arm, estate) = world(0).await;
    let sql = estate
        .services
        .iter()
        .find(|s| s.id.as_str() == SERVER)
        .expect("the SQL server is a service");
    assert_eq!(sql.kind, "sql");
    assert_eq!(sql.network.as_str(), VNET);
    assert_eq!(sql.address, "10.20.1.5");
    assert_eq!(sql.port, 1433);
    assert!(sql.public_endpoint);
    assert_eq!(
        sql.security_groups,
        vec!["/subscriptions/sub-1/resourcegroups/rg-net/providers/microsoft.network/networksecuritygroups/nsg-data"]
    );
    assert_eq!(
        sql.identifiers[..3],
        [
            "orderdb",
            "orderdb.privatelink.database.windows.net",
            "orderdb.database.windows.net"
        ]
    );
}

#[tokio::test]
async fn each_change_is_made_once_per_key_and_reverted() {
    let (arm, estate) = world(2).await;
    let a = actor(&arm, 10);
    let record = Change::DnsRecord {
        zone: NetworkId::new(VNET),
        name: "orders.privatelink.database.windows.net".into(),
        address: "10.61.1.4".into(),
    };
    let mut made: Vec<ResourceId> = Vec::new();
    for (i, change) in [ingress(), route(), record].iter().enumerate() {
        let key = format!("wf-9/provision/{i}");
        let first = a.apply(change, &key, &estate).await.expect("applied");
        let again = a.apply(change, &key, &estate).await.expect("applied again");
        assert_eq!(first, again, "{change}");
        made.push(first);
    }
    {
        let state = arm.state();
        assert_eq!(state.matching("/securityrules/sb-").len(), 1);
        assert_eq!(state.matching("/firewallrules/sb-").len(), 1);
        assert_eq!(state.matching("/routes/sb-").len(), 1);
        let records = state.matching("/privatednszones/privatelink.database.windows.net/a/");
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0]["properties"]["metadata"]["switchboard-key"],
            "wf-9/provision/2"
        );
        assert_eq!(
            records[0]["properties"]["aRecords"][0]["ipv4Address"],
            "10.61.1.4"
        );
    }
    let present = a.present(&made).await.expect("present");
    assert_eq!(present.len(), 3);
    for id in &made {
        a.revert(id).await.expect("reverted");
        a.revert(id).await.expect("reverting twice is not an error");
    }
    assert!(a.present(&made).await.expect("present").is_empty());
    let state = arm.state();
    assert!(state.matching("/sb-").is_empty());
    assert!(state.has("/subscriptions/sub-1/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-data/securityRules/allow-ops"));
}

#[tokio::test]
async fn an_operation_that_ends_failed_is_refused_in_azures_words() {
    let (arm, estate) = world(1).await;
    arm.state().fail_next = Some(json!({"code": "InternalServerError",
        "message": "An error occurred while provisioning the rule."}));
    let err = actor(&arm, 10)
        .apply(&ingress(), "wf-1/provision/0", &estate)
        .await
        .expect_err("failed operation");
    let text = err.to_string();
    assert!(text.contains("InternalServerError"), "{text}");
    assert!(text.contains("while provisioning the rule"), "{text}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn throttled_writes_wait_for_retry_after() {
    let (arm, estate) = world(0).await;
    arm.state().throttle = 1;
    let started = std::time::Instant::now();
    actor(&arm, 10)
        .apply(&route(), "wf-1/provision/1", &estate)
        .await
        .expect("made after the 429");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(arm.state().count("PUT "), 2);
}

#[tokio::test]
async fn a_priority_taken_meanwhile_is_read_again_and_the_next_one_taken() {
    let (arm, estate) = world(0).await;
    arm.state().steal_priority_next = true;
    actor(&arm, 10)
        .apply(&ingress(), "wf-1/provision/0", &estate)
        .await
        .expect("made at the next free priority");
    let rules = arm.state().matching("/securityrules/sb-");
    // 3000 was there; someone took 3001 meanwhile.
    assert_eq!(rules[0]["properties"]["priority"], 3002);
}

#[tokio::test]
async fn a_route_edited_meanwhile_is_not_overwritten_blindly() {
    let (arm, estate) = world(0).await;
    let a = actor(&arm, 10);
    a.apply(&route(), "wf-1/provision/1", &estate)
        .await
        .expect("route");
    let prefer = Change::RoutePreference {
        network: NetworkId::new(VNET),
        destination_cidr: "10.61.0.0/16".into(),
        preferred: ConnectionId::new("internet"),
        other: ConnectionId::new("vpn-1"),
    };
    let id = a
        .apply(&prefer, "failover/p/1", &estate)
        .await
        .expect("preferred");
    assert!(id.as_str().ends_with("=VirtualNetworkGateway"), "{id}");
    let routes = arm.state().matching("/routes/sb-");
    assert_eq!(routes[0]["properties"]["nextHopType"], "Internet");
    // Every PUT over an existing route carried its ETag.
    a.revert(&id).await.expect("failed back");
    let routes = arm.state().matching("/routes/sb-");
    assert_eq!(
        routes[0]["properties"]["nextHopType"],
        "VirtualNetworkGateway"
    );
}

#[tokio::test]
async fn a_record_someone_else_owns_is_refused_not_taken() {
    let (arm, estate) = world(0).await;
    arm.seed(
        "/subscriptions/sub-1/resourceGroups/rg-net/providers/Microsoft.Network/privateDnsZones/privatelink.database.windows.net/A/orders",
        json!({"properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.9.9.9"}]}}),
    );
    let record = Change::DnsRecord {
        zone: NetworkId::new(VNET),
        name: "orders.privatelink.database.windows.net".into(),
        address: "10.61.1.4".into(),
    };
    let err = actor(&arm, 10)
        .apply(&record, "wf-1/provision/3", &estate)
        .await
        .expect_err("not ours");
    assert!(err.to_string().contains("not switchboard's"), "{err}");
    let unlinked = Change::DnsRecord {
        zone: NetworkId::new(VNET),
        name: "orders.corp.example".into(),
        address: "10.61.1.4".into(),
    };
    let err = actor(&arm, 10)
        .apply(&unlinked, "wf-1/provision/4", &estate)
        .await
        .expect_err("no zone linked");
    assert!(err.to_string().contains("no private DNS zone"), "{err}");
}

#[tokio::test]
async fn a_poll_past_its_deadline_is_a_retryable_timeout() {
    let (arm, estate) = world(0).await;
    arm.state().hang_next = true;
    let err = actor(&arm, 1)
        .apply(&route(), "wf-1/provision/1", &estate)
        .await
        .expect_err("never ends");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("had not ended"), "{err}");
}
