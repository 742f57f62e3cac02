//! An AWS → GCP connect request, end to end through the console binary: a
//! Lambda function in AWS (moto behind its front) reaching a Cloud SQL
//! instance on a private IP in GCP (`tests/gcp_fake`), over an HA VPN
//! tunnel whose far end is the AWS VPN's UP tunnel (discovery joins the two
//! clouds on those addresses). After approval: the firewall rule and the
//! route in the GCP fake, the VGW route and the Route 53 record in moto;
//! `resources` lists each with its cloud. Killed (-9) while the firewall's
//! operation runs and restarted, the retry repeats the `requestId` and
//! leaves exactly one of each.

mod common;
mod fakes;
mod gcp_fake;
mod moto;

use common::{blocking, settled, Lab};
use fakes::TOKEN;
use gcp_fake::GcpFake;
use moto::{route_target, tunnel_ips, vpn_on_vgw, Front, Moto, SeededAccount};
use serde_json::json;
use std::time::{Duration, Instant};

const PROJECT: &str = "acme-net";
const PROD: &str = "projects/acme-net/global/networks/prod";
const HA_GATEWAY: &str = "projects/acme-net/regions/us-east4/vpnGateways/to-aws";
const TUNNEL: &str = "projects/acme-net/regions/us-east4/vpnTunnels/to-aws-0";
/// The HA VPN gateway's interface 0: the AWS side's customer gateway.
const GATEWAY_IP: &str = "35.242.10.1";
const REQUEST: &str = "connect lambda orders-fn to cloud sql orders, 200 GB/month";

fn link(path: &str) -> String {
    format!("https://www.googleapis.com/compute/v1/{path}")
}

/// What GCP discovery reads: the network and its subnet, the HA VPN
/// gateway and its tunnel to `peer` (the AWS tunnel's outside address),
/// and a Cloud SQL instance on a private IP.
fn serve_estate(fake: &GcpFake, peer: &str) {
    let compute = |path: &str| format!("/compute/v1/projects/{PROJECT}/{path}");
    let empty = |kind: &str| {
        let items = if kind.ends_with("AggregatedList") {
            json!({})
        } else {
            json!([])
        };
        json!({"kind": kind, "items": items})
    };
    fake.serve(
        &compute("global/networks"),
        json!({"kind": "compute#networkList", "items": [
            {"kind": "compute#network", "name": "prod", "selfLink": link(PROD), "autoCreateSubnetworks": false}]}),
    );
    fake.serve(
        &compute("aggregated/subnetworks"),
        json!({"kind": "compute#subnetworkAggregatedList", "items": {"regions/us-east4": {"subnetworks": [
            {"kind": "compute#subnetwork", "name": "prod-east", "network": link(PROD), "ipCidrRange": "10.80.0.0/16",
             "region": link("projects/acme-net/regions/us-east4"),
             "selfLink": link("projects/acme-net/regions/us-east4/subnetworks/prod-east")}]}}}),
    );
    fake.serve(
        &compute("aggregated/vpnGateways"),
        json!({"kind": "compute#vpnGatewayAggregatedList", "items": {"regions/us-east4": {"vpnGateways": [
            {"kind": "compute#vpnGateway", "name": "to-aws", "selfLink": link(HA_GATEWAY), "network": link(PROD),
             "vpnInterfaces": [{"id": 0, "ipAddress": GATEWAY_IP}]}]}}}),
    );
    fake.serve(
        &compute("aggregated/vpnTunnels"),
        json!({"kind": "compute#vpnTunnelAggregatedList", "items": {"regions/us-east4": {"vpnTunnels": [
            {"kind": "compute#vpnTunnel", "name": "to-aws-0", "selfLink": link(TUNNEL), "status": "ESTABLISHED",
             "peerIp": peer, "vpnGateway": link(HA_GATEWAY), "vpnGatewayInterface": 0}]}}}),
    );
    for (path, kind) in [
        (
            "aggregated/targetVpnGateways",
            "compute#targetVpnGatewayAggregatedList",
        ),
        (
            "global/externalVpnGateways",
            "compute#externalVpnGatewayList",
        ),
        ("aggregated/routers", "compute#routerAggregatedList"),
        (
            "aggregated/interconnectAttachments",
            "compute#interconnectAttachmentAggregatedList",
        ),
        ("aggregated/instances", "compute#instanceAggregatedList"),
    ] {
        fake.serve(&compute(path), empty(kind));
    }
    fake.serve(
        &format!("/v1/projects/{PROJECT}/instances"),
        json!({"kind": "sql#instancesList", "items": [
            {"kind": "sql#instance", "name": "orders", "project": PROJECT, "region": "us-east4",
             "connectionName": "acme-net:us-east4:orders", "databaseVersion": "POSTGRES_15",
             "ipAddresses": [{"type": "PRIVATE", "ipAddress": "10.80.0.5"}],
             "settings": {"ipConfiguration": {"ipv4Enabled": false, "privateNetwork": format!("/{PROD}")}}}]}),
    );
}

/// moto (behind its front) seeded with the app VPC's Lambda and a VPN to
/// the GCP gateway, the GCP fake serving the other end, and a lab whose
/// config discovers both (GCP first: a connection seen from both sides is
/// named by the first, so routes on both sides name the GCP tunnel).
struct World {
    moto: Moto,
    /// Serves the binary's AWS calls; kept for as long as the world.
    _front: Front,
    ec2: aws_sdk_ec2::Client,
    app_vpc: String,
    vgw: String,
    gcp: GcpFake,
    lab: Lab,
}

impl World {
    /// `None` when moto is not installed (and peers are not required).
    async fn start() -> Option<World> {
        let SeededAccount {
            moto,
            front,
            account,
        } = SeededAccount::start().await?;
        let sdk = moto.sdk("us-east-1");
        let ec2 = moto.ec2("us-east-1");
        let (_, vgw, vpn) = vpn_on_vgw(&ec2, &account.app_vpc, GATEWAY_IP).await;
        // The front makes up the tunnels' outside addresses on first sight.
        let through_front = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk)
                .endpoint_url(&front.url)
                .build(),
        );
        through_front
            .describe_vpn_connections()
            .vpn_connection_ids(&vpn)
            .send()
            .await
            .expect("describe vpn");
        let [up, _down] = tunnel_ips(&front, &vpn).expect("tunnel addresses");

        let gcp = GcpFake::start().await;
        serve_estate(&gcp, &up);
        let lab = Lab::new()
            .with_env("AWS_ENDPOINT_URL", &front.url)
            .with_env("AWS_ACCESS_KEY_ID", "testing")
            .with_env("AWS_SECRET_ACCESS_KEY", "testing")
            .with_env("AWS_EC2_METADATA_DISABLED", "true")
            .with_env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .with_env("SWITCHBOARD_CONFIG", "switchboard.toml");
        lab.write(
            "switchboard.toml",
            &format!(
                "[discovery]\nproviders = [\"gcp\", \"aws\"]\n\n[discovery.aws]\nregions = [\"us-east-1\"]\nmax_attempts = 3\n\n\
                 [discovery.gcp]\nprojects = [\"{PROJECT}\"]\nendpoint = \"{0}\"\nsql_endpoint = \"{0}\"\ndns_endpoint = \"{0}\"\n",
                gcp.base
            ),
        );
        Some(World {
            moto,
            _front: front,
            ec2,
            app_vpc: account.app_vpc,
            vgw,
            gcp,
            lab,
        })
    }

    /// The app VPC's routes to the GCP network, as their targets.
    async fn routes_to_gcp(&self) -> Vec<String> {
        route_target(&self.ec2, &self.app_vpc, "10.80.0.0/16").await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_to_cloud_sql_request_changes_both_clouds() {
    let Some(world) = World::start().await else {
        return;
    };
    let (lab, gcp) = (&world.lab, &world.gcp);
    let out = blocking(|| lab.console("alice", &format!("discover\n{REQUEST}\n")));
    let show = blocking(|| lab.show("wf-1"));
    assert_eq!(show["state"], "waiting_approval", "{out}\n{show:#}");
    assert!(
        out.contains("compute:firewalls.insert sb-… tcp/5432 from 10.61.0.0/16 → 10.80.0.5/32"),
        "the card lists the GCP calls:\n{out}"
    );
    assert!(
        out.contains(&format!(
            "compute:routes.insert sb-… 10.61.0.0/16 → {TUNNEL}"
        )),
        "{out}"
    );

    let out = blocking(|| lab.console("approver", "approve wf-1\n"));
    let show = blocking(|| settled(lab, "wf-1"));
    assert_eq!(show["state"], "completed", "{out}\n{show:#}");

    let firewalls = gcp.firewalls(PROJECT);
    assert_eq!(firewalls.len(), 1, "{firewalls:#?}");
    assert_eq!(firewalls[0]["destinationRanges"], json!(["10.80.0.5/32"]));
    assert_eq!(firewalls[0]["sourceRanges"], json!(["10.61.0.0/16"]));
    assert!(firewalls[0]["description"]
        .as_str()
        .unwrap_or_default()
        .contains("wf-1/provision/0"));
    let routes = gcp.routes(PROJECT);
    assert_eq!(routes.len(), 1, "{routes:#?}");
    assert_eq!(routes[0]["destRange"], "10.61.0.0/16");
    assert_eq!(routes[0]["nextHopVpnTunnel"], TUNNEL);
    assert_eq!(routes[0]["priority"], 100);
    assert_eq!(world.routes_to_gcp().await, vec![world.vgw.clone()]);
    let records: Vec<(String, String, String)> = moto::records(&world.moto)
        .await
        .into_iter()
        .filter(|(_, kind, _)| kind == "A")
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].2, "10.80.0.5", "{records:?}");

    let listed = blocking(|| lab.json(&["resources", "--format", "json"]));
    let listed = listed.as_array().expect("resources");
    let mut clouds: Vec<(&str, &str)> = listed
        .iter()
        .map(|r| {
            (
                r["provider"].as_str().unwrap_or(""),
                r["resource"].as_str().unwrap_or(""),
            )
        })
        .map(|(p, id)| (p, id.split(':').nth(2).unwrap_or("")))
        .collect();
    clouds.sort_unstable();
    assert_eq!(
        clouds,
        [
            ("aws", "record"),
            ("aws", "route"),
            ("gcp", "firewall"),
            ("gcp", "route")
        ],
        "{listed:#?}"
    );
    assert!(listed.iter().all(|r| r["present"] == true), "{listed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_a_gcp_operation_runs_and_restarted_leaves_one_of_each() {
    let Some(world) = World::start().await else {
        return;
    };
    let (lab, gcp) = (&world.lab, &world.gcp);
    blocking(|| lab.console("alice", &format!("discover\n{REQUEST}\n")));
    // The firewall's operation never finishes while the process lives.
    gcp.hang_operations(true);
    let (mut child, stdin) = lab.console_running("approver", "approve wf-1\n");
    let started = Instant::now();
    while gcp.inserts("firewalls") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "provision never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    drop(stdin);
    gcp.hang_operations(false);

    let show = blocking(|| lab.show("wf-1"));
    assert_eq!(show["state"], "running", "killed mid-provision: {show:#}");
    blocking(|| lab.console("approver", "status wf-1\n"));
    let show = blocking(|| settled(lab, "wf-1"));
    assert_eq!(show["state"], "completed", "{show:#}");
    assert_eq!(
        gcp.inserts("firewalls"),
        1,
        "the retry repeated the requestId"
    );
    assert_eq!(gcp.firewalls(PROJECT).len(), 1);
    assert_eq!(gcp.routes(PROJECT).len(), 1);
    assert_eq!(world.routes_to_gcp().await.len(), 1);
    let listed = blocking(|| lab.json(&["resources", "--format", "json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed:#}");
}
