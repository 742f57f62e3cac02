//! The GCP actor against a fake Compute / Cloud DNS (`tests/gcp_fake`) that
//! checks every body against Google's published schemas and runs
//! operations as Compute does: each change applied, listed and reverted;
//! idempotency by key; an operation that ends with errors; throttling; a
//! deadline; a preference that never leaves its destination without a
//! route; a private zone found or created.

mod fakes;
mod gcp_fake;

use fakes::TOKEN;
use gcp_fake::GcpFake;
use serde_json::{json, Value};
use switchboard::domain::{
    Change, Cloud, Connection, ConnectionId, ConnectionKind, ConnectionStatus, Estate, Gbps,
    Millis, Network, NetworkId, NetworkKind, ResourceId, Service, ServiceId, Usd, UsdPerGb,
};
use switchboard::providers::gcp::{GcpActor, GcpCredential, GcpDiscoveryConfig};
use switchboard::providers::rest::AccessToken;
use switchboard::providers::{CloudActor, ProviderError};

const PROJECT: &str = "acme-net";
const PROD: &str = "projects/acme-net/global/networks/prod";
const T0: &str = "projects/acme-net/regions/us-central1/vpnTunnels/aws-tunnel-0";
const T1: &str = "projects/acme-net/regions/us-central1/vpnTunnels/aws-tunnel-1";
const AWS_CIDR: &str = "10.61.0.0/16";

fn actor_with(fake: &GcpFake, token: &str, deadline_secs: u64) -> GcpActor {
    let config = GcpDiscoveryConfig {
        projects: vec![PROJECT.into()],
        endpoint: Some(fake.base.clone()),
        dns_endpoint: Some(fake.base.clone()),
        timeout_secs: 5,
        max_attempts: 4,
        operation_timeout_secs: deadline_secs,
        ..GcpDiscoveryConfig::default()
    };
    GcpActor::with_credential(config, GcpCredential::AccessToken(AccessToken::new(token)))
}

fn actor(fake: &GcpFake) -> GcpActor {
    actor_with(fake, TOKEN, 30)
}

fn network(id: &str, cloud: Cloud, kind: NetworkKind, cidr: &str) -> Network {
    Network {
        id: NetworkId::new(id),
        name: id.rsplit('/').next().unwrap_or(id).into(),
        cloud,
        region: "us-central1".into(),
        kind,
        cidrs: vec![cidr.into()],
    }
}

fn link(id: &str, kind: ConnectionKind) -> Connection {
    Connection {
        id: ConnectionId::new(id),
        kind,
        a: NetworkId::new(PROD),
        b: NetworkId::new("vpc-aws"),
        bandwidth_gbps: Gbps(1.25),
        latency_ms: Millis(12.0),
        reliability: 0.9995,
        status: ConnectionStatus::Up,
        cost_per_gb: UsdPerGb(0.05),
        monthly_base_usd: Usd(36.5),
        group: None,
    }
}

fn service(
    id: &str,
    name: &str,
    kind: &str,
    port: u16,
    address: &str,
    targets: &[&str],
) -> Service {
    Service {
        id: ServiceId::new(id),
        name: name.into(),
        kind: kind.into(),
        network: NetworkId::new(PROD),
        identifiers: vec![name.into()],
        port,
        address: address.into(),
        security_groups: targets.iter().map(|t| t.to_string()).collect(),
        public_endpoint: false,
    }
}

/// A GCP network joined to an AWS VPC by two HA VPN tunnels and an
/// interconnect attachment; a private Cloud SQL instance and a tagged VM.
fn estate() -> Estate {
    Estate {
        name: "snapshot 1".into(),
        networks: vec![
            network(PROD, Cloud::Gcp, NetworkKind::GcpNetwork, "10.80.0.0/16"),
            network("vpc-aws", Cloud::Aws, NetworkKind::Vpc, AWS_CIDR),
        ],
        connections: vec![
            link(T0, ConnectionKind::Vpn),
            link(T1, ConnectionKind::Vpn),
            link(
                "projects/acme-net/regions/us-central1/interconnectAttachments/ic-1",
                ConnectionKind::Interconnect,
            ),
        ],
        services: vec![
            service(
                "acme-net:us-central1:orders",
                "orders",
                "cloud_sql",
                5432,
                "10.80.0.5",
                &[],
            ),
            service(
                "projects/acme-net/zones/us-central1-a/instances/web-1",
                "web-1",
                "gce",
                443,
                "10.80.1.7",
                &[
                    "tag:web",
                    "serviceAccount:web@acme-net.iam.gserviceaccount.com",
                ],
            ),
        ],
        flows: vec![],
    }
}

fn ingress(service: &str, port: u16) -> Change {
    Change::AllowIngress {
        network: NetworkId::new(PROD),
        from_cidr: AWS_CIDR.into(),
        port,
        description: "orders-api → orders".into(),
        service: Some(ServiceId::new(service)),
    }
}

fn route(via: &str) -> Change {
    Change::Route {
        network: NetworkId::new(PROD),
        destination_cidr: AWS_CIDR.into(),
        via: ConnectionId::new(via),
    }
}

fn record(name: &str) -> Change {
    Change::DnsRecord {
        zone: NetworkId::new(PROD),
        name: name.into(),
        address: "10.80.0.5".into(),
    }
}

fn name_in(id: &ResourceId) -> String {
    id.as_str()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn private_zone(name: &str, dns_name: &str, network: &str) -> Value {
    json!({
        "kind": "dns#managedZone", "name": name, "dnsName": dns_name, "id": "1234",
        "description": "corp names", "visibility": "private",
        "privateVisibilityConfig": {"kind": "dns#managedZonePrivateVisibilityConfig",
            "networks": [{"kind": "dns#managedZonePrivateVisibilityConfigNetwork",
                "networkUrl": format!("https://www.googleapis.com/compute/v1/{network}")}]}
    })
}

#[tokio::test]
async fn each_change_is_applied_listed_and_reverted() {
    let fake = GcpFake::start().await;
    fake.seed(
        "managedZones",
        PROJECT,
        private_zone("corp", "corp.internal.", PROD),
    );
    let actor = actor(&fake);
    let estate = estate();
    let changes = [
        ingress("acme-net:us-central1:orders", 5432),
        ingress("projects/acme-net/zones/us-central1-a/instances/web-1", 443),
        route(T0),
        record("orders.db.corp.internal"),
    ];
    let mut ids = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        actor.check(change, &estate).expect("makeable");
        let id = actor
            .apply(change, &format!("wf-1/provision/{i}"), &estate)
            .await
            .unwrap_or_else(|e| panic!("{change}: {e}"));
        ids.push(id);
    }

    let firewalls = fake.firewalls(PROJECT);
    assert_eq!(firewalls.len(), 2);
    let sql = firewalls
        .iter()
        .find(|f| f["destinationRanges"].is_array())
        .expect("the Cloud SQL rule");
    assert_eq!(sql["direction"], "INGRESS");
    assert_eq!(sql["priority"], 1000);
    assert_eq!(
        sql["allowed"],
        json!([{"IPProtocol": "tcp", "ports": ["5432"]}])
    );
    assert_eq!(sql["sourceRanges"], json!([AWS_CIDR]));
    assert_eq!(sql["destinationRanges"], json!(["10.80.0.5/32"]));
    assert!(sql["description"]
        .as_str()
        .unwrap()
        .contains("wf-1/provision/0"));
    let web = firewalls
        .iter()
        .find(|f| f["targetTags"].is_array())
        .expect("the VM rule");
    assert_eq!(web["targetTags"], json!(["web"]));
    assert!(web.get("targetServiceAccounts").is_none());

    let routes = fake.routes(PROJECT);
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0]["priority"], 100);
    assert_eq!(routes[0]["destRange"], AWS_CIDR);
    assert_eq!(routes[0]["nextHopVpnTunnel"], T0);

    let records = fake.rrsets(PROJECT, "corp");
    assert_eq!(
        records,
        [
            json!({"kind": "dns#resourceRecordSet", "name": "orders.db.corp.internal.", "type": "A", "ttl": 60, "rrdatas": ["10.80.0.5"]})
        ]
    );
    assert_eq!(
        ids[3].as_str(),
        "gcp:acme-net:record:corp:orders.db.corp.internal.:A:10.80.0.5"
    );

    let present = actor.present(&ids).await.expect("present");
    assert_eq!(present.len(), 4, "{present:?}");

    for id in &ids {
        actor
            .revert(id)
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        actor
            .revert(id)
            .await
            .expect("reverting twice is not an error");
    }
    assert!(fake.firewalls(PROJECT).is_empty());
    assert!(fake.routes(PROJECT).is_empty());
    assert!(fake.rrsets(PROJECT, "corp").is_empty());
    assert!(actor.present(&ids).await.expect("present").is_empty());
}

#[tokio::test]
async fn the_same_key_twice_creates_one_resource() {
    let fake = GcpFake::start().await;
    let actor = actor(&fake);
    let estate = estate();
    let change = ingress("acme-net:us-central1:orders", 5432);
    let first = actor
        .apply(&change, "wf-2/provision/0", &estate)
        .await
        .expect("first");
    let again = actor
        .apply(&change, "wf-2/provision/0", &estate)
        .await
        .expect("again");
    assert_eq!(first, again);
    assert_eq!(fake.inserts("firewalls"), 1, "the requestId was repeated");
    // Long after (Compute has forgotten the requestId): the name is taken,
    // by a rule carrying this key, so it is this key's rule.
    fake.forget_request_ids();
    let later = actor
        .apply(&change, "wf-2/provision/0", &estate)
        .await
        .expect("later");
    assert_eq!(later, first);
    assert_eq!(fake.firewalls(PROJECT).len(), 1);
}

#[tokio::test]
async fn a_name_taken_by_a_rule_switchboard_did_not_make_is_refused() {
    let made = GcpFake::start().await;
    let change = ingress("acme-net:us-central1:orders", 5432);
    let id = actor(&made)
        .apply(&change, "wf-3/provision/0", &estate())
        .await
        .expect("apply");
    let fake = GcpFake::start().await;
    fake.seed(
        "firewalls",
        PROJECT,
        json!({"name": name_in(&id), "description": "the database team's rule", "network": PROD}),
    );
    let err = actor(&fake)
        .apply(&change, "wf-3/provision/0", &estate())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("alreadyExists"), "{err}");
    assert_eq!(
        fake.firewalls(PROJECT)[0]["description"],
        "the database team's rule"
    );
}

#[tokio::test]
async fn an_operation_that_ends_with_errors_fails_in_googles_words() {
    let fake = GcpFake::start().await;
    fake.fail_next_operation(
        "QUOTA_EXCEEDED",
        "Quota 'FIREWALLS' exceeded.  Limit: 100.0 globally.",
    );
    let err = actor(&fake)
        .apply(
            &ingress("acme-net:us-central1:orders", 5432),
            "wf-4/provision/0",
            &estate(),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ProviderError::Refused { .. }), "{text}");
    assert!(
        text.contains("QUOTA_EXCEEDED") && text.contains("Quota 'FIREWALLS' exceeded"),
        "{text}"
    );
    assert!(fake.firewalls(PROJECT).is_empty());
}

#[tokio::test]
async fn throttling_is_retried() {
    let fake = GcpFake::start().await;
    fake.throttle(2);
    actor(&fake)
        .apply(&route(T0), "wf-5/provision/0", &estate())
        .await
        .expect("applied after two 429s");
    assert_eq!(fake.routes(PROJECT).len(), 1);
}

#[tokio::test]
async fn an_operation_that_never_finishes_is_a_timeout() {
    let fake = GcpFake::start().await;
    fake.hang_operations(true);
    let started = std::time::Instant::now();
    let err = actor_with(&fake, TOKEN, 1)
        .apply(&route(T0), "wf-6/provision/0", &estate())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("had not finished"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn no_token_is_refused_with_googles_401() {
    let fake = GcpFake::start().await;
    let err = actor_with(&fake, "wrong", 30)
        .apply(&route(T0), "wf-7/provision/0", &estate())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("missing required authentication"),
        "{err}"
    );
    assert!(fake.routes(PROJECT).is_empty());
}

#[tokio::test]
async fn a_preference_never_leaves_the_destination_without_a_route() {
    let fake = GcpFake::start().await;
    let actor = actor(&fake);
    let estate = estate();
    let primary = actor
        .apply(&route(T0), "wf-8/provision/1", &estate)
        .await
        .expect("route");
    let failover = Change::RoutePreference {
        network: NetworkId::new(PROD),
        destination_cidr: AWS_CIDR.into(),
        preferred: ConnectionId::new(T1),
        other: ConnectionId::new(T0),
    };
    let preferred = actor
        .apply(&failover, "failover/pair-1/2026-12-04T20:00:00Z", &estate)
        .await
        .expect("prefer");
    let routes = fake.routes(PROJECT);
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0]["nextHopVpnTunnel"], T1);
    assert_eq!(routes[0]["priority"], 100);

    actor.revert(&preferred).await.expect("revert");
    let routes = fake.routes(PROJECT);
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0]["name"], name_in(&primary));
    assert_eq!(routes[0]["nextHopVpnTunnel"], T0);

    let sets = fake.route_sets(AWS_CIDR);
    assert_eq!(
        sets.len(),
        5,
        "insert, insert, delete, insert, delete: {sets:?}"
    );
    assert!(sets.iter().all(|s| !s.is_empty()), "{sets:?}");
}

#[tokio::test]
async fn a_private_zone_bound_to_the_network_is_used_else_one_is_created() {
    let fake = GcpFake::start().await;
    fake.seed(
        "managedZones",
        PROJECT,
        private_zone(
            "other-net",
            "corp.internal.",
            "projects/acme-net/global/networks/dev",
        ),
    );
    let actor = actor(&fake);
    let estate = estate();
    let created = actor
        .apply(&record("orders.corp.internal"), "wf-9/provision/3", &estate)
        .await
        .expect("record");
    let zones = fake.zones(PROJECT);
    let zone = zones
        .iter()
        .find(|z| z["name"] != "other-net")
        .expect("created zone");
    assert_eq!(zone["dnsName"], "corp.internal.");
    assert_eq!(zone["visibility"], "private");
    assert!(zone["description"]
        .as_str()
        .unwrap()
        .contains("wf-9/provision/3"));
    let bound = zone["privateVisibilityConfig"]["networks"][0]["networkUrl"]
        .as_str()
        .unwrap();
    assert!(bound.ends_with(PROD), "{bound}");
    let zone_name = zone["name"].as_str().unwrap().to_string();
    assert_eq!(fake.rrsets(PROJECT, &zone_name).len(), 1);
    assert!(fake.rrsets(PROJECT, "other-net").is_empty());

    // Again under the same key after a crash: the zone is found, not made twice.
    let again = actor
        .apply(&record("orders.corp.internal"), "wf-9/provision/3", &estate)
        .await
        .expect("again");
    assert_eq!(again, created);
    assert_eq!(fake.zones(PROJECT).len(), 2);

    // A record a longer zone of the network holds goes there.
    fake.seed(
        "managedZones",
        PROJECT,
        private_zone("db", "db.corp.internal.", PROD),
    );
    actor
        .apply(&record("pg.db.corp.internal"), "wf-9/provision/4", &estate)
        .await
        .expect("record in db zone");
    assert_eq!(fake.rrsets(PROJECT, "db").len(), 1);
}

#[tokio::test]
async fn a_record_already_pointing_elsewhere_is_refused() {
    let fake = GcpFake::start().await;
    fake.seed(
        "managedZones",
        PROJECT,
        private_zone("corp", "corp.internal.", PROD),
    );
    fake.seed_rrset(PROJECT, "corp", json!({"kind": "dns#resourceRecordSet", "name": "orders.corp.internal.", "type": "A", "ttl": 300, "rrdatas": ["10.80.9.9"]}));
    let err = actor(&fake)
        .apply(
            &record("orders.corp.internal"),
            "wf-10/provision/3",
            &estate(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("10.80.9.9"), "{err}");
}

#[tokio::test]
async fn the_fake_refuses_what_google_refuses() {
    let fake = GcpFake::start().await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", fake.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let firewalls = "/compute/v1/projects/acme-net/global/firewalls";
    let unknown = post(
        firewalls,
        json!({"name": "a", "sourceRanges": ["10.0.0.0/8"], "allowed": [{"protocol": "tcp"}]}),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), 400);
    let text = unknown.text().await.unwrap();
    assert!(text.contains("Unknown name \\\"protocol\\\""), "{text}");
    let nameless = post(
        firewalls,
        json!({"sourceRanges": ["10.0.0.0/8"], "allowed": [{"IPProtocol": "tcp"}]}),
    )
    .await
    .unwrap();
    assert_eq!(nameless.status(), 400);
    let bad_name = post(firewalls, json!({"name": "Bad_Name", "sourceRanges": ["10.0.0.0/8"], "allowed": [{"IPProtocol": "tcp"}]})).await.unwrap();
    assert_eq!(bad_name.status(), 400);
    let routes = "/compute/v1/projects/acme-net/global/routes";
    let no_priority = post(
        routes,
        json!({"name": "r", "network": PROD, "destRange": "10.0.0.0/8", "nextHopVpnTunnel": T0}),
    )
    .await
    .unwrap();
    assert_eq!(no_priority.status(), 400);
    let anonymous = http
        .get(format!("{}{routes}", fake.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    fake.seed(
        "managedZones",
        PROJECT,
        private_zone("corp", "corp.internal.", PROD),
    );
    let a = json!({"name": "db.corp.internal.", "type": "A", "ttl": 300, "rrdatas": ["10.80.0.5"]});
    fake.seed_rrset(PROJECT, "corp", a.clone());
    let changes = "/dns/v1/projects/acme-net/managedZones/corp/changes";
    let mut stale = a.clone();
    stale["ttl"] = json!(60);
    let mismatch = post(changes, json!({"deletions": [stale]})).await.unwrap();
    assert_eq!(
        mismatch.status(),
        412,
        "a deletion must match the data exactly"
    );
    let twice = post(changes, json!({"additions": [a]})).await.unwrap();
    assert_eq!(twice.status(), 409);
    let unknown = post(
        changes,
        json!({"additions": [{"name": "x.corp.internal.", "type": "A", "data": ["1.2.3.4"]}]}),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), 400);
    assert_eq!(fake.rrsets(PROJECT, "corp").len(), 1);
}
