//! The on-prem failover world the loop test and the `failover_frr` bench
//! share: an FRR lab (`netlab::frr::FrrLab`), moto with the app VPC on a
//! virtual private gateway and one private Direct Connect virtual interface
//! per lab link (from the front: moto has no Direct Connect), the on-prem
//! inventory naming each circuit's BGP session on the edge, a config whose
//! on-prem actor reaches the edge by vtysh in its namespace and pathspace,
//! and a discovery snapshot — then `switchboard probe` in the host's
//! namespace over both links.

use crate::common::Lab;
use crate::moto::{Front, Moto, SeededAccount};
use crate::netlab::frr::{FrrLab, FrrOptions};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Stdio};
use std::time::Duration;

/// The monitored pair.
pub const PAIR: &str = "dc1-to-app";

/// The edge's own address on the link to `neighbor` (the other end of its /30).
pub fn edge_side(neighbor: IpAddr) -> IpAddr {
    match neighbor {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) - 1)),
        IpAddr::V6(_) => unreachable!("the lab is IPv4"),
    }
}

/// `switchboard probe`, killed when dropped.
pub struct Prober(Child);

impl Drop for Prober {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct FrrWorld {
    pub lab: Lab,
    pub net: FrrLab,
    _moto: Moto,
    _front: Front,
}

impl FrrWorld {
    /// The FRR lab, moto with the app VPC on a virtual private gateway and
    /// one private virtual interface per circuit, the inventory and config,
    /// and a discovery snapshot. `None` when the lab or moto is missing and
    /// not required.
    pub async fn start() -> Option<FrrWorld> {
        let net = FrrLab::create_or_skip(FrrOptions {
            soft_reconfiguration_inbound: true,
        })?;
        let SeededAccount {
            moto,
            front,
            account,
        } = SeededAccount::start().await?;
        let ec2 = moto.ec2("us-east-1");
        let vgw = ec2
            .create_vpn_gateway()
            .r#type(aws_sdk_ec2::types::GatewayType::Ipsec1)
            .send()
            .await
            .expect("vgw");
        let vgw = vgw
            .vpn_gateway()
            .and_then(|g| g.vpn_gateway_id())
            .expect("vgw id")
            .to_string();
        ec2.attach_vpn_gateway()
            .vpn_gateway_id(&vgw)
            .vpc_id(&account.app_vpc)
            .send()
            .await
            .expect("attach vgw");
        let dx = |id: &str, name: &str| {
            serde_json::json!({ "connectionId": id, "connectionName": name,
                "connectionState": "available", "location": "EqDC2", "bandwidth": "1Gbps",
                "region": "us-east-1", "ownerAccount": "123456789012", "vlan": 0 })
        };
        let vif = |id: &str, circuit: &str| {
            serde_json::json!({ "virtualInterfaceId": id, "connectionId": circuit,
                "virtualInterfaceName": id, "virtualInterfaceType": "private",
                "virtualInterfaceState": "available", "virtualGatewayId": vgw,
                "bgpPeers": [{ "bgpStatus": "up" }] })
        };
        front.state().connections = serde_json::json!({ "connections": [
            dx("dxcon-primary", "dc1-primary"), dx("dxcon-backup", "dc1-backup")
        ]});
        front.state().virtual_interfaces = serde_json::json!({ "virtualInterfaces": [
            vif("dxvif-primary", "dxcon-primary"), vif("dxvif-backup", "dxcon-backup")
        ]});

        let lab = Lab::new()
            .with_env("AWS_ENDPOINT_URL", &front.url)
            .with_env("AWS_ACCESS_KEY_ID", "testing")
            .with_env("AWS_SECRET_ACCESS_KEY", "testing")
            .with_env("AWS_EC2_METADATA_DISABLED", "true");
        lab.write(
            "onprem.yaml",
            &format!(
                "datacenters:\n  - {{ id: dc1, name: Lab DC, cidrs: [10.251.0.0/16] }}\n\
                 routers:\n  - {{ name: edge, datacenter: dc1, asn: {asn} }}\n\
                 circuits:\n\
                 \x20 - {{ reference: dxcon-primary, kind: direct_connect, datacenter: dc1, router: edge,\n\
                 \x20     bgp: {{ local_address: {pl}, peer_address: {pp}, peer_asn: {cloud} }} }}\n\
                 \x20 - {{ reference: dxcon-backup, kind: direct_connect, datacenter: dc1, router: edge,\n\
                 \x20     bgp: {{ local_address: {bl}, peer_address: {bp}, peer_asn: {cloud} }} }}\n",
                asn = crate::netlab::frr::EDGE_AS,
                cloud = crate::netlab::frr::CLOUD_AS,
                pl = edge_side(net.primary_neighbor()),
                pp = net.primary_neighbor(),
                bl = edge_side(net.backup_neighbor()),
                bp = net.backup_neighbor(),
            ),
        );
        let config = lab.write(
            "switchboard.toml",
            &format!(
                "[discovery]\nproviders = [\"aws\", \"onprem\"]\nonprem_inventory = \"{inventory}\"\n\n\
                 [discovery.aws]\nregions = [\"us-east-1\"]\nmax_attempts = 3\n\n\
                 [discovery.onprem.routers.edge]\nvia = \"vtysh\"\nnetns = \"{ns}\"\npathspace = \"{ps}\"\n",
                inventory = lab.path("onprem.yaml").display(),
                ns = net.edge_ns(),
                ps = net.edge_pathspace(),
            ),
        );
        let lab = lab.with_env("SWITCHBOARD_CONFIG", config.to_str().expect("utf-8 path"));
        let topology = lab.json(&["discover", "--format", "json"]);
        let connections = topology["connections"].to_string();
        assert!(
            connections.contains("dxvif-primary") && connections.contains("dxvif-backup"),
            "discovery found both circuits: {topology:#}"
        );
        Some(FrrWorld {
            lab,
            net,
            _moto: moto,
            _front: front,
        })
    }

    /// `switchboard probe` in the host's namespace, watching both links
    /// every `interval_ms` (a probe lost after `timeout_ms`); `failover`:
    /// the paths file's failover settings (`hold_down: 3s`).
    pub fn start_prober(&self, interval_ms: u64, timeout_ms: u64, failover: &str) -> Prober {
        let paths = format!(
            "defaults: {{ interval: {interval_ms}ms, timeout: {timeout_ms}ms }}\n\
             failover: {{ {failover} }}\n\
             pairs:\n\
             \x20 - id: {PAIR}\n\
             \x20   primary: {{ connection: dxvif-primary, probe: {{ kind: icmp, target: {t} }}, via: {{ source: {p} }} }}\n\
             \x20   backup: {{ connection: dxvif-backup, probe: {{ kind: icmp, target: {t} }}, via: {{ source: {b} }} }}\n\
             \x20   route: {{ network: dc1, destination_cidr: {prefix} }}\n",
            t = self.net.target(),
            p = self.net.primary_probe_source(),
            b = self.net.backup_probe_source(),
            prefix = self.net.target_prefix(),
        );
        let file = self.lab.write("paths.yaml", &paths);
        let mut command = self.net.in_host_ns(env!("CARGO_BIN_EXE_switchboard"));
        command
            .arg("--db")
            .arg(self.lab.db())
            .args(["probe", "--paths"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.lab.path("prober.log")).expect("prober log"));
        for (k, v) in &self.lab.env {
            command.env(k, v);
        }
        Prober(command.spawn().expect("start switchboard probe"))
    }

    /// Both paths up and the pair on its primary; the number of switches so far.
    pub fn settled(&self) -> usize {
        let status = self.lab.wait_for_status(
            "both paths up, on the primary",
            Duration::from_secs(20),
            |s| {
                s["paths"]
                    .as_array()
                    .is_some_and(|p| p.len() == 2 && p.iter().all(|p| p["state"] == "up"))
                    && s["pairs"][0]["active_path"] == format!("{PAIR}/primary")
            },
        );
        status["recent_failovers"].as_array().map_or(0, Vec::len)
    }

    pub fn prober_log(&self) -> String {
        std::fs::read_to_string(self.lab.path("prober.log")).unwrap_or_default()
    }
}
