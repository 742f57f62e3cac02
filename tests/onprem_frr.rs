//! The on-prem actor against real FRR daemons (`netlab::frr::FrrLab`: an
//! edge router with two eBGP sessions to a cloud router that advertises the
//! target prefix): a route preference moves the edge's kernel route to the
//! backup neighbor and reverts it; applied twice under one key it changes
//! nothing more; a static route goes in and out tagged by its key; a router
//! the actor may not reach, an IOS router and a firewall change are refused;
//! a vtysh that cannot reach its daemons is an error, not a success. Needs
//! root, network namespaces and FRR (`./test` installs it); skipped without
//! them unless SWITCHBOARD_NETLAB=require.

mod netlab;

use netlab::frr::{FrrLab, FrrOptions};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use switchboard::domain::{
    Change, Cloud, Connection, ConnectionId, ConnectionKind, ConnectionStatus, Estate, Gbps,
    Millis, Network, NetworkId, NetworkKind, ResourceId, ServiceId, Usd, UsdPerGb,
};
use switchboard::providers::onprem::router::{RouterAccess, Vendor, Via};
use switchboard::providers::onprem::{OnpremActor, OnpremActorConfig};
use switchboard::providers::{CloudActor, ProviderError};

const DC: &str = "dc1";

/// The edge's own address on the link to `neighbor` (the other end of its /30).
fn edge_side(neighbor: IpAddr) -> IpAddr {
    match neighbor {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) - 1)),
        IpAddr::V6(_) => unreachable!("the lab is IPv4"),
    }
}

/// The on-prem inventory for the lab: the edge router and one circuit per
/// link with its BGP session.
pub fn inventory(lab: &FrrLab) -> String {
    format!(
        "datacenters:\n  - {{ id: {DC}, name: Lab DC, cidrs: [10.251.0.0/16] }}\n\
         routers:\n  - {{ name: edge, datacenter: {DC}, asn: {asn} }}\n\
         circuits:\n\
         \x20 - {{ reference: dxcon-primary, kind: direct_connect, datacenter: {DC}, router: edge,\n\
         \x20     bgp: {{ local_address: {pl}, peer_address: {pp}, peer_asn: {cloud} }} }}\n\
         \x20 - {{ reference: dxcon-backup, kind: direct_connect, datacenter: {DC}, router: edge,\n\
         \x20     bgp: {{ local_address: {bl}, peer_address: {bp}, peer_asn: {cloud} }} }}\n",
        asn = netlab::frr::EDGE_AS,
        cloud = netlab::frr::CLOUD_AS,
        pl = edge_side(lab.primary_neighbor()),
        pp = lab.primary_neighbor(),
        bl = edge_side(lab.backup_neighbor()),
        bp = lab.backup_neighbor(),
    )
}

fn connection(id: &str, circuit: &str) -> Connection {
    Connection {
        id: ConnectionId::new(id),
        kind: ConnectionKind::DirectConnect,
        a: NetworkId::new("vpc-app"),
        b: NetworkId::new(DC),
        bandwidth_gbps: Gbps(1.0),
        latency_ms: Millis(2.0),
        reliability: 0.999,
        status: ConnectionStatus::Up,
        cost_per_gb: UsdPerGb(0.02),
        monthly_base_usd: Usd(300.0),
        group: Some(circuit.into()),
    }
}

/// The estate as discovery would have it: the DC, the cloud network and a
/// Direct Connect virtual interface over each circuit.
fn estate() -> Estate {
    Estate {
        name: "test".into(),
        networks: vec![
            Network {
                id: NetworkId::new(DC),
                name: "Lab DC".into(),
                cloud: Cloud::Onprem,
                region: DC.into(),
                kind: NetworkKind::Datacenter,
                cidrs: vec!["10.251.0.0/16".into()],
            },
            Network {
                id: NetworkId::new("vpc-app"),
                name: "app".into(),
                cloud: Cloud::Aws,
                region: "us-east-1".into(),
                kind: NetworkKind::Vpc,
                cidrs: vec!["198.18.0.0/15".into()],
            },
        ],
        connections: vec![
            connection("dxvif-primary", "dxcon-primary"),
            connection("dxvif-backup", "dxcon-backup"),
        ],
        services: vec![],
        flows: vec![],
    }
}

fn access(lab: &FrrLab) -> RouterAccess {
    RouterAccess {
        via: Via::Vtysh,
        vendor: Vendor::Frr,
        netns: Some(lab.edge_ns().to_string()),
        pathspace: Some(lab.edge_pathspace().to_string()),
        host: None,
        user: None,
        key_file: None,
        port: None,
        known_hosts: None,
    }
}

fn actor(lab: &FrrLab, dir: &tempfile::TempDir, router: Option<RouterAccess>) -> OnpremActor {
    let file = dir.path().join("onprem.yaml");
    std::fs::write(&file, inventory(lab)).expect("inventory");
    let mut routers = BTreeMap::new();
    if let Some(access) = router {
        routers.insert("edge".to_string(), access);
    }
    OnpremActor::new(
        OnpremActorConfig {
            routers,
            ..OnpremActorConfig::default()
        },
        Some(file),
    )
}

fn prefer(lab: &FrrLab, preferred: &str, other: &str) -> Change {
    Change::RoutePreference {
        network: NetworkId::new(DC),
        destination_cidr: lab.target_prefix(),
        preferred: ConnectionId::new(preferred),
        other: ConnectionId::new(other),
    }
}

/// Waits until the edge's kernel route for `address` goes via `next_hop`.
fn wait_next_hop(lab: &FrrLab, address: IpAddr, next_hop: Option<IpAddr>) -> Duration {
    let started = Instant::now();
    loop {
        if lab.edge_next_hop(address) == next_hop {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the edge's route to {address} is via {:?}, not {next_hop:?}",
            lab.edge_next_hop(address)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test]
async fn a_preference_moves_the_kernel_route_once_per_key_and_reverts() {
    let Some(lab) = FrrLab::create_or_skip(FrrOptions {
        soft_reconfiguration_inbound: true,
    }) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let actor = actor(&lab, &dir, Some(access(&lab)));
    let estate = estate();
    let change = prefer(&lab, "dxvif-backup", "dxvif-primary");
    actor.check(&change, &estate).expect("the actor can act");
    assert!(
        actor.plan(&change, &estate)[0].contains("route-map PRIMARY-IN in"),
        "{:?}",
        actor.plan(&change, &estate)
    );

    let started = Instant::now();
    let made = actor
        .apply(&change, "failover/p1/1", &estate)
        .await
        .expect("applied");
    let applied = started.elapsed();
    let moved = wait_next_hop(&lab, lab.target(), Some(lab.backup_neighbor()));
    eprintln!("apply returned after {applied:?}; kernel route moved {moved:?} later");
    // Apply read the best path back: it returned once BGP had chosen.
    assert_eq!(lab.best_path().map(|b| b.peer), Some(lab.backup_neighbor()));
    assert_eq!(
        lab.inbound_route_map(lab.backup_neighbor()).as_deref(),
        Some("PRIMARY-IN")
    );
    assert!(made.as_str().starts_with("onprem:prefer:edge|"), "{made}");
    let present = actor
        .present(std::slice::from_ref(&made))
        .await
        .expect("present");
    assert!(present.contains(&made));

    // The same key again: the same resource, nothing changed.
    let again = actor
        .apply(&change, "failover/p1/1", &estate)
        .await
        .expect("applied again");
    assert_eq!(again, made);

    actor.revert(&made).await.expect("reverted");
    wait_next_hop(&lab, lab.target(), Some(lab.primary_neighbor()));
    assert_eq!(
        lab.inbound_route_map(lab.primary_neighbor()).as_deref(),
        Some("PRIMARY-IN")
    );
    assert!(actor
        .present(std::slice::from_ref(&made))
        .await
        .expect("present")
        .is_empty());
    actor.revert(&made).await.expect("reverting twice is fine");
}

#[tokio::test]
async fn a_static_route_is_tagged_by_its_key_and_removed_on_revert() {
    let Some(lab) = FrrLab::create_or_skip(FrrOptions::default()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let actor = actor(&lab, &dir, Some(access(&lab)));
    let estate = estate();
    let change = Change::Route {
        network: NetworkId::new(DC),
        destination_cidr: "10.99.0.0/16".into(),
        via: ConnectionId::new("dxvif-backup"),
    };
    let probe = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1));
    let made = actor
        .apply(&change, "wf-1/provision/1", &estate)
        .await
        .expect("applied");
    wait_next_hop(&lab, probe, Some(lab.backup_neighbor()));
    assert_eq!(
        actor
            .apply(&change, "wf-1/provision/1", &estate)
            .await
            .expect("again"),
        made
    );
    assert!(actor
        .present(std::slice::from_ref(&made))
        .await
        .expect("present")
        .contains(&made));
    actor.revert(&made).await.expect("reverted");
    wait_next_hop(&lab, probe, None);
    assert!(actor
        .present(std::slice::from_ref(&made))
        .await
        .expect("present")
        .is_empty());
}

#[tokio::test]
async fn what_the_actor_may_not_do_is_refused_and_a_dead_daemon_is_an_error() {
    let Some(lab) = FrrLab::create_or_skip(FrrOptions::default()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let estate = estate();
    let change = prefer(&lab, "dxvif-backup", "dxvif-primary");

    let unreached = actor(&lab, &dir, None);
    let refused = unreached.check(&change, &estate).expect_err("render-only");
    assert!(refused.to_string().contains("render-only"), "{refused}");

    let mut ios = access(&lab);
    ios.vendor = Vendor::Ios;
    let refused = actor(&lab, &dir, Some(ios))
        .check(&change, &estate)
        .expect_err("IOS");
    assert!(refused.to_string().contains("IOS"), "{refused}");

    let acting = actor(&lab, &dir, Some(access(&lab)));
    let firewall = Change::AllowIngress {
        network: NetworkId::new(DC),
        from_cidr: "10.61.0.0/16".into(),
        port: 443,
        description: "x".into(),
        service: Some(ServiceId::new("svc")),
    };
    assert!(matches!(
        acting.check(&firewall, &estate),
        Err(ProviderError::Refused { .. })
    ));

    // vtysh pointed at a pathspace with no daemons: the apply fails and the
    // edge keeps its route.
    let mut wrong = access(&lab);
    wrong.pathspace = Some("no-such-pathspace".into());
    let err = actor(&lab, &dir, Some(wrong))
        .apply(&change, "failover/p1/9", &estate)
        .await
        .expect_err("no daemons there");
    eprintln!("{err}");
    assert_eq!(
        lab.edge_next_hop(lab.target()),
        Some(lab.primary_neighbor())
    );
    let err = acting
        .revert(&ResourceId::new("onprem:nonsense"))
        .await
        .expect_err("not ours");
    assert!(err.to_string().contains("not an on-prem resource"), "{err}");
}

/// An OpenSSH server on loopback standing in for the router's: logins by
/// key only, and `vtysh` on its PATH reaching the edge's daemons (a router
/// runs vtysh against its own; here they live in the lab's namespace).
struct SshRouter {
    child: std::process::Child,
    port: u16,
    key: std::path::PathBuf,
    known_hosts: std::path::PathBuf,
}

impl Drop for SshRouter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl SshRouter {
    /// `None` when sshd is not installed (and the lab is not required).
    fn start(lab: &FrrLab, dir: &std::path::Path) -> Option<SshRouter> {
        let sshd = "/usr/sbin/sshd";
        if !std::path::Path::new(sshd).exists() {
            assert!(
                std::env::var("SWITCHBOARD_NETLAB").as_deref() != Ok("require"),
                "SWITCHBOARD_NETLAB=require but sshd is missing (./test installs openssh-server)"
            );
            eprintln!("skipped: no sshd (apt-get install openssh-server)");
            return None;
        }
        let path = |name: &str| dir.join(name);
        for key in ["host_key", "client_key"] {
            run(
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", "", "-f", path(key).to_str()?],
            );
        }
        std::fs::copy(path("client_key.pub"), path("authorized_keys")).ok()?;
        let bin = path("bin");
        std::fs::create_dir_all(&bin).ok()?;
        let wrapper = bin.join("vtysh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec ip netns exec {ns} /usr/bin/vtysh -N {ps} \"$@\"\n",
                ns = lab.edge_ns(),
                ps = lab.edge_pathspace()
            ),
        )
        .ok()?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        std::fs::write(
            path("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PidFile {pid}\nSetEnv PATH={bin}:/usr/sbin:/usr/bin:/sbin:/bin\nLogLevel ERROR\n",
                hk = path("host_key").display(),
                ak = path("authorized_keys").display(),
                pid = path("sshd.pid").display(),
                bin = bin.display(),
            ),
        )
        .ok()?;
        let host_key = std::fs::read_to_string(path("host_key.pub")).ok()?;
        std::fs::write(
            path("known_hosts"),
            format!("[127.0.0.1]:{port} {}", host_key.trim()),
        )
        .ok()?;
        std::fs::create_dir_all("/run/sshd").ok()?;
        let child = std::process::Command::new(sshd)
            .args(["-D", "-e", "-f", path("sshd_config").to_str()?])
            .stderr(std::fs::File::create(path("sshd.log")).ok()?)
            .spawn()
            .ok()?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(SshRouter {
            child,
            port,
            key: path("client_key"),
            known_hosts: path("known_hosts"),
        })
    }

    fn access(&self) -> RouterAccess {
        RouterAccess {
            via: Via::Ssh,
            vendor: Vendor::Frr,
            netns: None,
            pathspace: None,
            host: Some("127.0.0.1".into()),
            user: Some("root".into()),
            key_file: Some(self.key.clone()),
            port: Some(self.port),
            known_hosts: Some(self.known_hosts.clone()),
        }
    }
}

#[tokio::test]
async fn over_ssh_a_preference_moves_the_route_and_an_unknown_host_key_is_refused() {
    let Some(lab) = FrrLab::create_or_skip(FrrOptions {
        soft_reconfiguration_inbound: true,
    }) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let Some(router) = SshRouter::start(&lab, dir.path()) else {
        return;
    };
    let estate = estate();
    let change = prefer(&lab, "dxvif-backup", "dxvif-primary");
    let actor = actor(&lab, &dir, Some(router.access()));
    let made = actor
        .apply(&change, "failover/ssh/1", &estate)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "applied over ssh: {e}\n{}",
                std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default()
            )
        });
    wait_next_hop(&lab, lab.target(), Some(lab.backup_neighbor()));
    assert!(actor
        .present(std::slice::from_ref(&made))
        .await
        .expect("present")
        .contains(&made));
    actor.revert(&made).await.expect("reverted over ssh");
    wait_next_hop(&lab, lab.target(), Some(lab.primary_neighbor()));

    // A host key that is not the one on record: ssh refuses, nothing changes.
    std::fs::write(
        dir.path().join("known_hosts"),
        format!("[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", router.port),
    )
    .expect("known_hosts");
    let err = actor
        .apply(&change, "failover/ssh/2", &estate)
        .await
        .expect_err("an unknown host key");
    eprintln!("{err}");
    assert_eq!(
        lab.edge_next_hop(lab.target()),
        Some(lab.primary_neighbor())
    );
}
