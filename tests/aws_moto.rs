//! AWS discovery against moto's server (a real EC2/Direct Connect peer),
//! through the front in `moto/` where moto lacks an API or a test wants AWS
//! to throttle, deny or garble. Skips with a message when moto is not
//! installed, unless `SWITCHBOARD_PEERS=require`.

mod moto;

use moto::{fake_credentials_in_env, peer, seed_region, set, tunnel_ips, Front, Moto};
use switchboard::domain::{ConnectionKind, ConnectionStatus, NetworkKind};
use switchboard::providers::aws::{AwsDiscovery, AwsDiscoveryConfig};
use switchboard::topology::{DiscoveryError, InventorySource, LinkRecord, RemoteEnd};

fn config(endpoint: &str, regions: &[&str]) -> AwsDiscoveryConfig {
    AwsDiscoveryConfig {
        regions: regions.iter().map(|r| r.to_string()).collect(),
        endpoint: Some(endpoint.to_string()),
        timeout_secs: 10,
        max_attempts: 3,
    }
}

fn link<'a>(links: &'a [LinkRecord], id: &str) -> &'a LinkRecord {
    links
        .iter()
        .find(|l| l.id == id)
        .unwrap_or_else(|| panic!("no link {id} in {links:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovers_networks_links_and_tunnels_in_three_regions() {
    let Some(moto) = Moto::start() else { return };
    fake_credentials_in_env();
    let (use1, euw1, aps2) = (
        moto.ec2("us-east-1"),
        moto.ec2("eu-west-1"),
        moto.ec2("ap-southeast-2"),
    );
    let us = seed_region(&use1, "shop", 2, true, "198.51.100.10").await;
    let eu = seed_region(&euw1, "erp", 1, true, "198.51.100.20").await;
    let ap = seed_region(&aps2, "lab", 1, false, "198.51.100.30").await;
    // A second CIDR on the first VPC.
    use1.associate_vpc_cidr_block()
        .vpc_id(&us.vpcs[0])
        .cidr_block("10.100.0.0/16")
        .send()
        .await
        .expect("associate cidr");
    let pcx = peer(&use1, &us.vpcs[0], &euw1, "eu-west-1", &eu.vpcs[0]).await;
    let (us_tgw, eu_tgw) = (us.tgw.clone().unwrap(), eu.tgw.clone().unwrap());
    let tgw_peering = use1
        .create_transit_gateway_peering_attachment()
        .transit_gateway_id(&us_tgw)
        .peer_transit_gateway_id(&eu_tgw)
        .peer_region("eu-west-1")
        .peer_account_id("123456789012")
        .send()
        .await
        .expect("tgw peering");
    let tgw_peering = tgw_peering
        .transit_gateway_peering_attachment()
        .and_then(|p| p.transit_gateway_attachment_id())
        .unwrap()
        .to_string();
    euw1.accept_transit_gateway_peering_attachment()
        .transit_gateway_attachment_id(&tgw_peering)
        .send()
        .await
        .expect("accept tgw peering");
    let front = Front::start(&moto).await;
    front.state().delay = std::time::Duration::from_millis(5);
    // Direct Connect comes from the front (moto's does not parse, see moto/).
    let dxcon = "dxcon-fgq4b2ow".to_string();
    front.state().connections = serde_json::json!({ "connections": [
        { "connectionId": dxcon, "connectionName": "dc1-primary", "connectionState": "available",
          "location": "EqDC2", "bandwidth": "500Mbps", "region": "us-east-1",
          "ownerAccount": "123456789012", "vlan": 0 }
    ]});
    front.state().virtual_interfaces = serde_json::json!({ "virtualInterfaces": [
        { "virtualInterfaceId": "dxvif-private", "connectionId": dxcon,
          "virtualInterfaceName": "to-shop", "virtualInterfaceType": "private",
          "virtualInterfaceState": "available", "virtualGatewayId": us.vgw,
          "bgpPeers": [{ "bgpStatus": "up" }] },
        { "virtualInterfaceId": "dxvif-transit", "connectionId": dxcon,
          "virtualInterfaceName": "to-hub", "virtualInterfaceType": "transit",
          "virtualInterfaceState": "available", "directConnectGatewayId": "dxgw-1",
          "bgpPeers": [{ "bgpStatus": "up" }, { "bgpStatus": "down" }] }
    ]});
    front.state().associations = serde_json::json!({ "directConnectGatewayAssociations": [
        { "directConnectGatewayId": "dxgw-1", "associationState": "associated",
          "associatedGateway": { "id": us_tgw, "type": "transitGateway", "region": "us-east-1" } }
    ]});

    let inv = AwsDiscovery::new(config(
        &front.url,
        &["us-east-1", "eu-west-1", "ap-southeast-2"],
    ))
    .inventory()
    .await
    .expect("inventory");
    assert!(inv.problems.is_empty(), "{:#?}", inv.problems);
    assert_eq!(inv.provider, "aws");

    // Networks: named VPCs with region, CIDRs and account; TGWs as hubs.
    let shop0 = inv
        .networks
        .iter()
        .find(|n| n.id == us.vpcs[0])
        .expect("shop-0");
    assert_eq!(shop0.name, "shop-0");
    assert_eq!(shop0.region, "us-east-1");
    assert_eq!(shop0.kind, NetworkKind::Vpc);
    assert_eq!(shop0.cidrs, vec!["10.0.0.0/24", "10.100.0.0/16"]);
    assert!(shop0.account.is_some());
    for (vpc, region) in [(&eu.vpcs[0], "eu-west-1"), (&ap.vpcs[0], "ap-southeast-2")] {
        let n = inv.networks.iter().find(|n| &n.id == vpc).expect("vpc");
        assert_eq!(n.region, region);
    }
    let hub = inv.networks.iter().find(|n| n.id == us_tgw).expect("tgw");
    assert_eq!(
        (hub.kind, hub.name.as_str()),
        (NetworkKind::TransitHub, "shop-hub")
    );

    // Internet gateway with a default route: up.
    let igw = link(&inv.links, &us.igws[0]);
    assert_eq!(
        (igw.kind, igw.local.as_str(), &igw.remote, igw.status),
        (
            ConnectionKind::Internet,
            us.vpcs[0].as_str(),
            &RemoteEnd::Internet,
            ConnectionStatus::Up
        )
    );
    // Every VPC attached to its region's TGW.
    for (i, attachment) in us.tgw_attachments.iter().enumerate() {
        let l = link(&inv.links, attachment);
        assert_eq!(l.kind, ConnectionKind::TransitGateway);
        assert_eq!(l.local, us.vpcs[i]);
        assert_eq!(l.remote, RemoteEnd::Network(us_tgw.clone()));
        assert_eq!(l.status, ConnectionStatus::Up);
    }
    // TGW peering between the hubs, once although both regions list it.
    let p = link(&inv.links, &tgw_peering);
    assert_eq!(
        (p.local.as_str(), &p.remote),
        (us_tgw.as_str(), &RemoteEnd::Network(eu_tgw.clone()))
    );
    assert_eq!(p.status, ConnectionStatus::Up);
    assert_eq!(inv.links.iter().filter(|l| l.id == tgw_peering).count(), 1);
    // Cross-region VPC peering, accepted: up, reported once.
    let p = link(&inv.links, &pcx);
    assert_eq!(p.kind, ConnectionKind::Peering);
    assert_eq!(
        (p.local.as_str(), &p.remote),
        (us.vpcs[0].as_str(), &RemoteEnd::Network(eu.vpcs[0].clone()))
    );
    assert_eq!(p.status, ConnectionStatus::Up);
    assert_eq!(inv.links.iter().filter(|l| l.id == pcx).count(), 1);

    // VPN tunnels: on the VGW they land in its VPC, on the TGW in the TGW.
    for (vpn, local, cgw) in [
        (
            us.vpn_on_vgw.clone().unwrap(),
            us.vpcs[0].clone(),
            "198.51.100.10",
        ),
        (
            us.vpn_on_tgw.clone().unwrap(),
            us_tgw.clone(),
            "198.51.100.10",
        ),
        (
            ap.vpn_on_vgw.clone().unwrap(),
            ap.vpcs[0].clone(),
            "198.51.100.30",
        ),
    ] {
        let [up_ip, down_ip] = tunnel_ips(&front, &vpn).expect("front added tunnels");
        for (ip, status) in [
            (&up_ip, ConnectionStatus::Up),
            (&down_ip, ConnectionStatus::Down),
        ] {
            let t = link(&inv.links, &format!("{vpn}/{ip}"));
            assert_eq!(t.kind, ConnectionKind::Vpn);
            assert_eq!(t.local, local);
            assert_eq!(t.remote, RemoteEnd::Address(cgw.parse().unwrap()));
            assert_eq!(t.local_address, Some(ip.parse().unwrap()));
            assert_eq!(t.group.as_deref(), Some(vpn.as_str()));
            assert_eq!(t.status, status);
            assert_eq!(t.bandwidth_gbps, Some(1.25));
            let a = inv
                .addresses
                .iter()
                .find(|a| a.address.to_string() == *ip)
                .expect("tunnel address");
            assert_eq!(a.network, local);
        }
    }

    // Direct Connect: the private VIF reaches the VGW's VPC, the transit VIF
    // the TGW through the DX gateway; 500Mbps = 0.5 Gbps.
    let private = link(&inv.links, "dxvif-private");
    assert_eq!(
        (
            private.kind,
            private.local.as_str(),
            &private.remote,
            private.status
        ),
        (
            ConnectionKind::DirectConnect,
            us.vpcs[0].as_str(),
            &RemoteEnd::Circuit(dxcon.clone()),
            ConnectionStatus::Up
        )
    );
    assert_eq!(private.bandwidth_gbps, Some(0.5));
    assert_eq!(private.name.as_deref(), Some("to-shop @ EqDC2"));
    let transit = link(&inv.links, "dxvif-transit");
    assert_eq!(
        (transit.local.as_str(), transit.status),
        (us_tgw.as_str(), ConnectionStatus::Degraded)
    );

    // Subnets, route tables, security groups, customer gateways counted too.
    assert!(inv.resources_read > inv.networks.len() as u64 + inv.links.len() as u64 / 2);
    // Regions were read at the same time.
    assert!(
        front.state().max_regions_in_flight >= 2,
        "regions read one after the other"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_every_page_of_vpcs() {
    let Some(moto) = Moto::start() else { return };
    fake_credentials_in_env();
    let front = Front::start(&moto).await;
    front.state().paged_region = Some(("eu-north-1".into(), 23));
    let inv = AwsDiscovery::new(config(&front.url, &["eu-north-1"]))
        .inventory()
        .await
        .expect("inventory");
    let paged: Vec<_> = inv
        .networks
        .iter()
        .filter(|n| n.id.starts_with("vpc-page-"))
        .collect();
    assert_eq!(paged.len(), 23);
    assert_eq!(front.state().vpc_pages_served, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_calls_are_retried_until_they_answer() {
    let Some(moto) = Moto::start() else { return };
    fake_credentials_in_env();
    let vpc = seed_region(
        &moto.ec2("us-west-2"),
        "throttled",
        1,
        false,
        "198.51.100.40",
    )
    .await
    .vpcs[0]
        .clone();
    let front = Front::start(&moto).await;
    front.state().throttle_per_region = 2;
    let inv = AwsDiscovery::new(config(&front.url, &["us-west-2"]))
        .inventory()
        .await
        .expect("inventory");
    assert!(inv.problems.is_empty(), "{:#?}", inv.problems);
    assert!(inv.networks.iter().any(|n| n.id == vpc));
    assert_eq!(front.state().throttled.get("us-west-2"), Some(&2));

    // With one attempt only, the same throttling is a problem, not data:
    // the retry setting is the one in effect.
    let front = Front::start(&moto).await;
    front.state().throttle_per_region = 1;
    let mut one_try = config(&front.url, &["us-west-2"]);
    one_try.max_attempts = 1;
    let inv = AwsDiscovery::new(one_try)
        .inventory()
        .await
        .expect("partial inventory");
    // One API (whichever came first) failed; its consequences, like VPN
    // tunnels without their customer gateway, may follow as problems.
    let failed: Vec<_> = inv
        .problems
        .iter()
        .filter(|p| p.starts_with("us-west-2: "))
        .collect();
    assert_eq!(failed.len(), 1, "{:#?}", inv.problems);
    assert!(failed[0].contains("RequestLimitExceeded"), "{}", failed[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_or_garbled_region_is_a_problem_and_the_others_are_read() {
    let Some(moto) = Moto::start() else { return };
    fake_credentials_in_env();
    let ok = seed_region(&moto.ec2("ca-central-1"), "ok", 1, false, "198.51.100.50").await;
    let front = Front::start(&moto).await;
    front.state().denied_region = Some("sa-east-1".into());
    front.state().garbage_region = Some("eu-central-1".into());
    let inv = AwsDiscovery::new(config(
        &front.url,
        &["ca-central-1", "sa-east-1", "eu-central-1"],
    ))
    .inventory()
    .await
    .expect("partial inventory");
    assert!(inv.networks.iter().any(|n| n.id == ok.vpcs[0]));
    let denied: Vec<_> = inv
        .problems
        .iter()
        .filter(|p| p.starts_with("sa-east-1: "))
        .collect();
    // Every EC2 list call in the denied region, each named.
    assert_eq!(denied.len(), 13, "{:#?}", inv.problems);
    assert!(denied
        .iter()
        .any(|p| p.contains("DescribeVpcs: access denied: UnauthorizedOperation")));
    let garbled: Vec<_> = inv
        .problems
        .iter()
        .filter(|p| p.starts_with("eu-central-1: "))
        .collect();
    assert_eq!(garbled.len(), 1, "{:#?}", inv.problems);
    // Only DescribeVpcs: the garbled region's other APIs were read.
    assert!(
        garbled[0].contains("DescribeVpcs: unexpected answer"),
        "{}",
        garbled[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_does_not_exist_is_a_problem_with_its_name() {
    let Some(moto) = Moto::start() else { return };
    fake_credentials_in_env();
    // moto answers HTTP 500 (an HTML page) for a region it does not know.
    let front = Front::start(&moto).await;
    let inv = AwsDiscovery::new(config(&front.url, &["us-east-1", "xx-nowhere-9"]))
        .inventory()
        .await
        .expect("partial inventory");
    assert!(inv.networks.iter().any(|n| n.region == "us-east-1"));
    assert!(!inv.problems.is_empty());
    assert!(
        inv.problems.iter().all(|p| p.starts_with("xx-nowhere-9: ")),
        "{:#?}",
        inv.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_regions_configured_reads_every_region_describe_regions_lists() {
    let Some(moto) = Moto::start() else { return };
    fake_credentials_in_env();
    let front = Front::start(&moto).await;
    let inv = AwsDiscovery::new(config(&front.url, &[]))
        .inventory()
        .await
        .expect("inventory");
    let regions = set(inv.networks.iter().map(|n| n.region.as_str()));
    // moto gives every region a default VPC.
    assert!(regions.len() >= 10, "{regions:?}");
    assert!(regions.contains("us-east-1") && regions.contains("eu-west-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_does_not_answer_is_a_clear_error() {
    fake_credentials_in_env();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut c = config(
        &format!("http://127.0.0.1:{port}"),
        &["us-east-1", "eu-west-1"],
    );
    c.max_attempts = 1;
    c.timeout_secs = 2;
    match AwsDiscovery::new(c).inventory().await {
        Err(DiscoveryError::Unreachable {
            endpoint, detail, ..
        }) => {
            assert_eq!(endpoint, format!("http://127.0.0.1:{port}"));
            assert!(detail.contains("more failures"), "{detail}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

/// The whole pipeline through the binary, pointed at the emulator only by
/// the standard `AWS_ENDPOINT_URL` (no switchboard flag): AWS and the on-prem
/// inventory merged, the VPN's customer gateway landing in its data centre.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_discovers_through_aws_endpoint_url_and_lands_vpns_on_prem() {
    let Some(moto) = Moto::start() else { return };
    fake_credentials_in_env();
    let front = Front::start(&moto).await;
    let use1 = moto.ec2("us-east-1");
    let seeded = seed_region(&use1, "shop", 1, false, "198.51.100.10").await;
    let vpn = seeded.vpn_on_vgw.clone().expect("vpn");

    let dir = tempfile::tempdir().expect("temp dir");
    let inventory = dir.path().join("onprem.yaml");
    std::fs::write(
        &inventory,
        "datacenters: [{ id: dc1, name: Ashburn }]
routers:
  - { name: edge-1, datacenter: dc1, asn: 65001, interfaces: [{ name: ge-0/0/0, address: 198.51.100.10 }] }
",
    )
    .expect("inventory");
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[discovery]\nproviders = [\"aws\", \"onprem\"]\nonprem_inventory = {:?}\n\n[discovery.aws]\nregions = [\"us-east-1\"]\nmax_attempts = 2\n",
            inventory.display().to_string()
        ),
    )
    .expect("config");
    let out = tokio::task::spawn_blocking({
        let (url, dir) = (front.url.clone(), dir.path().to_path_buf());
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
                .current_dir(&dir)
                .args(["--config", "switchboard.toml", "--db"])
                .arg(dir.join("sb.db"))
                .args(["discover", "--format", "json"])
                .env("AWS_ENDPOINT_URL", url)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env_remove("SWITCHBOARD_CONFIG")
                .output()
                .expect("run switchboard")
        }
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        report["providers"]["aws"]["status"], "ok",
        "{:#}",
        report["providers"]
    );
    let networks: Vec<&str> = report["networks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert!(networks.contains(&seeded.vpcs[0].as_str()), "{networks:?}");
    let tunnels: Vec<&serde_json::Value> = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["group"] == vpn.as_str())
        .collect();
    assert_eq!(tunnels.len(), 2, "{:#}", report["connections"]);
    for t in tunnels {
        assert_eq!(t["a"], seeded.vpcs[0].as_str());
        assert_eq!(t["b"], "dc1", "the customer gateway is dc1's router: {t}");
    }
    // A real account is not measured against the lab's documented links.
    let findings = report["findings"].to_string();
    assert!(
        !findings.contains("documented_missing"),
        "GlobalCart's documented inventory applied to an AWS account: {findings}"
    );
}
