//! The embedded lab estate, `examples/globalcart.yaml`, pinned against the chapter's
//! GlobalCart case study: it loads and validates; it has the chapter's circuits, VPN
//! tunnels and 220-flow mix; every flow's path runs from its source's network to its
//! destination's; and the happy-path request (OrderProcessor in us-east-1 to orderdb
//! in East US, under 20 ms) has a private path that meets it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;

use switchboard::domain::{
    Cloud, Connection, ConnectionKind, ConnectionStatus, Estate, NetworkId, NetworkKind, Service,
    ServiceId,
};

fn globalcart() -> Estate {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/globalcart.yaml");
    Estate::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn connection<'a>(estate: &'a Estate, id: &str) -> &'a Connection {
    estate
        .connections
        .iter()
        .find(|c| c.id.as_str() == id)
        .unwrap_or_else(|| panic!("no connection '{id}'"))
}

fn service_named<'a>(estate: &'a Estate, name: &str) -> &'a Service {
    estate
        .services
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no service named '{name}'"))
}

fn cloud_of(estate: &Estate, network: &NetworkId) -> Cloud {
    estate.network(network).expect("validated").cloud
}

/// The side of the chapter's flow table a service is on: its cloud, or on-prem for a
/// data centre. Services never live on the internet network.
fn side(estate: &Estate, service: &ServiceId) -> Cloud {
    let s = estate.service(service).expect("validated");
    let n = estate.network(&s.network).expect("validated");
    assert_ne!(
        n.kind,
        NetworkKind::Internet,
        "service '{}' on the internet",
        s.id
    );
    n.cloud
}

#[test]
fn globalcart_loads_and_validates() {
    let estate = globalcart();
    assert_eq!(estate.name, "GlobalCart");
    assert!(estate
        .connections
        .iter()
        .all(|c| c.status == ConnectionStatus::Up));
}

#[test]
fn has_the_chapters_private_circuits() {
    let counts = globalcart().connection_counts();
    let count = |k| counts.get(&k).copied().unwrap_or(0);
    assert_eq!(count(ConnectionKind::DirectConnect), 2);
    assert_eq!(count(ConnectionKind::Expressroute), 1);
    assert_eq!(count(ConnectionKind::Interconnect), 1);
}

/// A tunnel counts towards the cloud its group names: `vpn-aws-dc1` is AWS's,
/// `vpn-azure-gcp` is Azure's. For a tunnel between a cloud and a data centre that is
/// the cloud end; for one between two clouds (vpn-aws-azure, vpn-azure-gcp,
/// vpn-gcp-aws) the group says which cloud's VPN it is, and must name one of its ends.
#[test]
fn vpn_tunnels_per_cloud_match_the_chapter() {
    let estate = globalcart();
    let mut per_cloud: BTreeMap<Cloud, usize> = BTreeMap::new();
    let mut per_group: BTreeMap<&str, Vec<&Connection>> = BTreeMap::new();
    for c in estate
        .connections
        .iter()
        .filter(|c| c.kind == ConnectionKind::Vpn)
    {
        let group = c
            .group
            .as_deref()
            .unwrap_or_else(|| panic!("tunnel '{}' has no group", c.id));
        let named: Cloud = group
            .strip_prefix("vpn-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|word| word.parse().ok())
            .unwrap_or_else(|| panic!("tunnel '{}': group '{group}' names no cloud", c.id));
        // Naming a cloud end also settles cloud↔DC tunnels: the DC end is on-prem.
        let ends = [cloud_of(&estate, &c.a), cloud_of(&estate, &c.b)];
        assert!(
            named != Cloud::Onprem && ends.contains(&named),
            "tunnel '{}' in {group} does not touch {named}",
            c.id
        );
        *per_cloud.entry(named).or_insert(0) += 1;
        per_group.entry(group).or_default().push(c);
    }
    assert_eq!(per_cloud.get(&Cloud::Aws), Some(&8));
    assert_eq!(per_cloud.get(&Cloud::Azure), Some(&6));
    assert_eq!(per_cloud.get(&Cloud::Gcp), Some(&4));
    for (group, tunnels) in &per_group {
        assert_eq!(tunnels.len(), 2, "{group} should pair two tunnels");
        assert!(
            tunnels[1].joins(&tunnels[0].a, &tunnels[0].b),
            "{group} tunnels differ"
        );
    }
}

#[test]
fn flows_follow_the_chapters_mix() {
    let estate = globalcart();
    assert_eq!(estate.flows.len(), 220);
    for (i, f) in estate.flows.iter().enumerate() {
        assert_eq!(f.id, format!("flow-{:03}", i + 1));
        assert!(f.monthly_gb.0 > 0.0, "{} carries nothing", f.id);
    }
    let mut per_pair: BTreeMap<(Cloud, Cloud), usize> = BTreeMap::new();
    for f in &estate.flows {
        let (x, y) = (side(&estate, &f.source), side(&estate, &f.destination));
        *per_pair.entry((x.min(y), x.max(y))).or_insert(0) += 1;
    }
    let expected = BTreeMap::from([
        ((Cloud::Aws, Cloud::Azure), 47),
        ((Cloud::Aws, Cloud::Gcp), 23),
        ((Cloud::Azure, Cloud::Gcp), 18),
        ((Cloud::Aws, Cloud::Onprem), 89),
        ((Cloud::Azure, Cloud::Onprem), 31),
        ((Cloud::Gcp, Cloud::Onprem), 12),
    ]);
    assert_eq!(per_pair, expected);
}

#[test]
fn every_flow_path_runs_from_source_to_destination() {
    let estate = globalcart();
    for f in &estate.flows {
        let from = &estate.service(&f.source).expect("validated").network;
        let to = &estate.service(&f.destination).expect("validated").network;
        assert!(
            !f.path.is_empty(),
            "{}: cross-network flow with no path",
            f.id
        );
        let mut at = from;
        for hop in &f.path {
            let c = estate.connection(hop).expect("validated");
            at = c
                .other_end(at)
                .unwrap_or_else(|| panic!("{}: {hop} does not touch {at}", f.id));
        }
        assert_eq!(at, to, "{}: path ends at {at}, not {to}", f.id);
    }
}

#[test]
fn three_flows_still_cross_the_internet() {
    let estate = globalcart();
    let public = estate
        .flows
        .iter()
        .filter(|f| {
            f.path
                .iter()
                .any(|c| estate.connection(c).expect("validated").kind.is_public())
        })
        .count();
    assert_eq!(public, 3);
}

#[test]
fn three_data_centres_and_the_internet() {
    let estate = globalcart();
    for dc in ["dc1", "dc2", "dc3"] {
        let n = estate
            .network(&NetworkId::new(dc))
            .unwrap_or_else(|| panic!("no {dc}"));
        assert_eq!((n.cloud, n.kind), (Cloud::Onprem, NetworkKind::Datacenter));
        assert_eq!(n.region, dc);
    }
    let internet = NetworkId::new("internet");
    let n = estate.network(&internet).expect("an internet network");
    assert_eq!(n.kind, NetworkKind::Internet);
    assert!(n.cidrs.is_empty());
    // Every other network has exactly one way out to the internet.
    for other in estate.networks.iter().filter(|o| o.id != internet) {
        let edges = estate
            .connections
            .iter()
            .filter(|c| c.kind == ConnectionKind::Internet && c.joins(&other.id, &internet))
            .count();
        assert_eq!(edges, 1, "{} has {edges} internet connections", other.id);
    }
}

#[test]
fn regions_are_the_chapters() {
    let estate = globalcart();
    let regions = |cloud| -> BTreeSet<&str> {
        estate
            .networks
            .iter()
            .filter(|n| n.cloud == cloud)
            .map(|n| n.region.as_str())
            .collect()
    };
    assert_eq!(
        regions(Cloud::Aws),
        BTreeSet::from(["us-east-1", "us-west-2", "eu-west-1"])
    );
    assert_eq!(
        regions(Cloud::Azure),
        BTreeSet::from(["eastus", "westeurope"])
    );
    assert_eq!(
        regions(Cloud::Gcp),
        BTreeSet::from(["us-central1", "europe-west1"])
    );
}

#[test]
fn the_happy_path_services_are_there() {
    let estate = globalcart();
    let lambda = service_named(&estate, "OrderProcessor");
    assert_eq!(lambda.kind, "lambda");
    assert_eq!(
        lambda.identifiers,
        ["arn:aws:lambda:us-east-1:123456789012:function:OrderProcessor"]
    );
    let net = estate.network(&lambda.network).expect("validated");
    assert_eq!((net.cloud, net.region.as_str()), (Cloud::Aws, "us-east-1"));

    let db = service_named(&estate, "orderdb");
    assert_eq!(db.kind, "sql");
    assert_eq!(db.identifiers, ["orderdb.database.windows.net"]);
    assert_eq!(db.port, 1433);
    let net = estate.network(&db.network).expect("validated");
    assert_eq!((net.cloud, net.region.as_str()), (Cloud::Azure, "eastus"));

    // The request asks for a new connection, so none exists yet.
    assert!(!estate.flows.iter().any(|f| {
        (f.source == lambda.id && f.destination == db.id)
            || (f.source == db.id && f.destination == lambda.id)
    }));
}

/// Least total latency from `from` to `to` over the connections `usable` admits
/// (Bellman-Ford: the graph has a dozen nodes).
fn least_latency(
    estate: &Estate,
    from: &NetworkId,
    to: &NetworkId,
    usable: impl Fn(&Connection) -> bool,
) -> Option<f64> {
    let mut best: BTreeMap<&NetworkId, f64> = BTreeMap::from([(from, 0.0)]);
    for _ in 0..estate.networks.len() {
        let mut changed = false;
        for c in estate.connections.iter().filter(|c| usable(c)) {
            for (x, y) in [(&c.a, &c.b), (&c.b, &c.a)] {
                if let Some(&d) = best.get(x) {
                    let nd = d + c.latency_ms.0;
                    if best.get(y).is_none_or(|&old| nd < old) {
                        best.insert(y, nd);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    best.get(to).copied()
}

#[test]
fn order_processor_reaches_orderdb_privately_under_20ms() {
    let estate = globalcart();
    let from = &service_named(&estate, "OrderProcessor").network;
    let to = &service_named(&estate, "orderdb").network;

    // DX into DC1, ExpressRoute out of it.
    let dx = connection(&estate, "dx-1");
    let er = connection(&estate, "er-1");
    let dc1 = NetworkId::new("dc1");
    assert_eq!(dx.kind, ConnectionKind::DirectConnect);
    assert_eq!(er.kind, ConnectionKind::Expressroute);
    assert!(dx.joins(from, &dc1) && er.joins(&dc1, to));
    assert!(dx.latency_ms.0 + er.latency_ms.0 < 20.0);

    let private = least_latency(&estate, from, to, |c| {
        !c.kind.is_public() && c.status == ConnectionStatus::Up
    });
    assert!(private.is_some_and(|ms| ms < 20.0), "private: {private:?}");

    // The alternatives exist and are slower: a direct AWS↔Azure VPN as backup, and
    // the internet, which misses the 20 ms budget.
    let vpn = least_latency(&estate, from, to, |c| {
        c.kind == ConnectionKind::Vpn && c.group.as_deref() == Some("vpn-aws-azure")
    });
    assert!(
        vpn.is_some_and(|ms| ms > private.unwrap_or(0.0) && ms < 20.0),
        "vpn: {vpn:?}"
    );
    let public = least_latency(&estate, from, to, |c| c.kind.is_public());
    assert!(public.is_some_and(|ms| ms >= 20.0), "internet: {public:?}");
}

fn parse_cidr(text: &str) -> (u32, u32) {
    let (addr, len) = text
        .split_once('/')
        .unwrap_or_else(|| panic!("'{text}' is not a CIDR"));
    let addr: Ipv4Addr = addr.parse().unwrap_or_else(|e| panic!("'{text}': {e}"));
    let len: u32 = len.parse().unwrap_or_else(|e| panic!("'{text}': {e}"));
    assert!((8..=32).contains(&len), "'{text}'");
    let mask = u32::MAX << (32 - len);
    assert_eq!(u32::from(addr) & !mask, 0, "'{text}' has host bits set");
    (u32::from(addr), mask)
}

#[test]
fn addresses_are_private_distinct_and_inside_their_networks() {
    let estate = globalcart();
    let mut blocks: Vec<(&str, u32, u32)> = Vec::new();
    for n in &estate.networks {
        assert_eq!(
            n.cidrs.is_empty(),
            n.kind == NetworkKind::Internet,
            "{}",
            n.id
        );
        for cidr in &n.cidrs {
            let (base, mask) = parse_cidr(cidr);
            let last = base | !mask;
            assert!(
                Ipv4Addr::from(base).is_private() && Ipv4Addr::from(last).is_private(),
                "{cidr} is not RFC 1918"
            );
            for (other, b, m) in &blocks {
                assert!(
                    base & m != *b && b & mask != base,
                    "{cidr} ({}) overlaps {other}",
                    n.id
                );
            }
            blocks.push((cidr, base, mask));
        }
    }

    let mut names = BTreeSet::new();
    let mut identifiers = BTreeSet::new();
    for s in &estate.services {
        assert!(
            names.insert(s.name.to_lowercase()),
            "name '{}' twice",
            s.name
        );
        for i in &s.identifiers {
            assert!(identifiers.insert(i.as_str()), "identifier '{i}' twice");
        }
        let addr: Ipv4Addr = s
            .address
            .parse()
            .unwrap_or_else(|e| panic!("{}: '{}': {e}", s.id, s.address));
        let net = estate.network(&s.network).expect("validated");
        assert!(
            net.cidrs.iter().any(|c| {
                let (base, mask) = parse_cidr(c);
                u32::from(addr) & mask == base
            }),
            "{} at {addr} is outside {}",
            s.id,
            net.id
        );
    }
}
