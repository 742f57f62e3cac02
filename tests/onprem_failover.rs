//! The whole loop on real routing daemons: detect, decide, change BGP,
//! traffic flows again. An FRR edge router (`netlab::frr::FrrLab`) reaches a
//! cloud router's prefix over two links, each a Direct Connect circuit in
//! the on-prem inventory; the estate comes from discovery (moto, with the
//! circuits' virtual interfaces from the front, and the inventory), and
//! `switchboard probe` runs in the host's namespace with a paths file over
//! both links, acting on the edge through the on-prem actor (vtysh in the
//! edge's namespace and pathspace). A 1 kHz UDP stream crosses the edge
//! throughout. The primary is cut (link down: BGP notices by itself) or
//! blackholed (the session stays up and forwarded packets are dropped: BGP
//! never notices); switchboard fails over by local preference, the edge's
//! kernel route moves to the backup neighbor and the stream flows again;
//! after the hold-down it fails back — exactly two events.

mod common;
mod moto;
mod netlab;

use common::Lab;
use moto::{Front, SeededAccount};
use netlab::frr::{FrrLab, FrrOptions, PRIMARY_IN};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const PAIR: &str = "dc1-to-app";
const HOLD_DOWN_MS: u64 = 3000;

/// The edge's own address on the link to `neighbor` (the other end of its /30).
fn edge_side(neighbor: IpAddr) -> IpAddr {
    match neighbor {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) - 1)),
        IpAddr::V6(_) => unreachable!("the lab is IPv4"),
    }
}

struct Prober(Child);

impl Drop for Prober {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct World {
    lab: Lab,
    net: FrrLab,
    _moto: moto::Moto,
    _front: Front,
}

impl World {
    /// The FRR lab, moto with the app VPC on a virtual private gateway and
    /// one private virtual interface per circuit, the inventory and config,
    /// and a discovery snapshot. `None` when the lab or moto is missing and
    /// not required.
    async fn start() -> Option<World> {
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
                asn = netlab::frr::EDGE_AS,
                cloud = netlab::frr::CLOUD_AS,
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
        Some(World {
            lab,
            net,
            _moto: moto,
            _front: front,
        })
    }

    /// `switchboard probe` in the host's namespace, watching both links.
    fn start_prober(&self) -> Prober {
        let paths = format!(
            "defaults: {{ interval: 100ms, timeout: 80ms }}\n\
             failover: {{ hold_down: {HOLD_DOWN_MS}ms }}\n\
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
    fn settled(&self) -> usize {
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

    fn prober_log(&self) -> String {
        std::fs::read_to_string(self.lab.path("prober.log")).unwrap_or_default()
    }

    /// Cuts the primary with `cut`, asserts switchboard moved traffic and the
    /// stream flows again, undoes it with `restore` and asserts the failback
    /// after the hold-down: exactly two more events.
    fn fail_over_and_back(&self, cut: impl Fn(&FrrLab), restore: impl Fn(&FrrLab)) {
        let before = self.settled();
        let stream = self.net.start_stream(1000);
        std::thread::sleep(Duration::from_millis(300));
        let cut_at = Instant::now();
        cut(&self.net);
        let status = self
            .lab
            .wait_for_status("the failover", Duration::from_secs(10), |s| {
                s["pairs"][0]["active_path"] == format!("{PAIR}/backup")
            });
        let failover = &status["recent_failovers"][0];
        assert_eq!(failover["to_path"], format!("{PAIR}/backup"), "{status:#}");
        assert!(
            failover["error"].is_null(),
            "{status:#}\n{}",
            self.prober_log()
        );
        assert!(
            failover["resource_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("onprem:prefer:edge|")),
            "{status:#}"
        );
        let took = cut_at.elapsed();
        // Through the provider: the backup neighbor is preferred on the edge.
        assert_eq!(
            self.net
                .inbound_route_map(self.net.backup_neighbor())
                .as_deref(),
            Some(PRIMARY_IN)
        );
        assert_eq!(
            self.net.edge_next_hop(self.net.target()),
            Some(self.net.backup_neighbor())
        );
        std::thread::sleep(Duration::from_millis(500));
        let elapsed_ms = stream.elapsed_ms();
        let report = stream.stop();
        eprintln!("failover {took:?} after the cut; stream: {report:?}");
        let last_gap_end = report
            .gaps
            .iter()
            .map(|g| g.start_ms + g.length_ms)
            .fold(0.0, f64::max);
        assert!(
            report.received > 0 && last_gap_end < elapsed_ms - 300.0,
            "the stream flows again after the failover: {report:?}"
        );

        restore(&self.net);
        let restored = Instant::now();
        let status = self
            .lab
            .wait_for_status("the failback", Duration::from_secs(20), |s| {
                s["pairs"][0]["active_path"] == format!("{PAIR}/primary")
            });
        assert!(
            restored.elapsed() >= Duration::from_millis(HOLD_DOWN_MS),
            "failback before the hold-down"
        );
        let events = status["recent_failovers"].as_array().map_or(0, Vec::len);
        assert_eq!(events - before, 2, "exactly two events: {status:#}");
        assert!(status["recent_failovers"]
            .as_array()
            .unwrap()
            .iter()
            .take(2)
            .all(|e| e["error"].is_null()));
        let started = Instant::now();
        while self.net.edge_next_hop(self.net.target()) != Some(self.net.primary_neighbor()) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the edge's route went back to the primary"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_primary_that_bgp_never_notices_is_routed_around() {
    let Some(world) = World::start().await else {
        return;
    };
    let _prober = world.start_prober();
    common::blocking(|| {
        world.fail_over_and_back(FrrLab::blackhole_primary, FrrLab::clear_blackhole_primary)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_link_that_goes_down_fails_over_and_back() {
    let Some(world) = World::start().await else {
        return;
    };
    let _prober = world.start_prober();
    common::blocking(|| world.fail_over_and_back(FrrLab::cut_primary, FrrLab::restore_primary));
}
