//! Merging provider inventories into one topology. Pure.
//!
//! Far ends are resolved in this order: a network id names the network; a
//! peer address is looked up among the addresses every inventory owns (router
//! interfaces, gateway IPs, tunnel outside IPs); a circuit reference among
//! the circuits the on-prem inventory lists; the internet is one shared node.
//! An end that resolves to nothing becomes a placeholder network from the
//! `unresolved` provider, so the link is still shown and a finding can name it.
//!
//! One link seen from both sides is one connection: a record whose peer
//! address is another record's own address (and vice versa, when both are
//! known) merges with it, as do the two halves of a peering. The merged
//! connection takes the worse status of its sides.

use super::inventory::{Inventory, LinkRecord, RemoteEnd};
use super::model::{ProviderOutcome, TopoConnection, TopoNetwork, Topology};
use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, NetworkKind, Service};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// The id of the shared internet node.
pub const INTERNET: &str = "internet";
/// Provider name of placeholder networks for ends nothing resolved.
pub const UNRESOLVED: &str = "unresolved";

/// One provider's result as discovery saw it.
#[derive(Debug)]
pub enum ProviderResult {
    Read(Inventory),
    Failed {
        provider: String,
        reason: String,
    },
    /// Discovery failed, and what the previous snapshot had from this
    /// provider is shown instead (so a failing API does not make half the
    /// estate vanish from the picture).
    Stale {
        inventory: Inventory,
        reason: String,
        from: DateTime<Utc>,
    },
}

fn severity(status: ConnectionStatus) -> u8 {
    match status {
        ConnectionStatus::Up => 0,
        ConnectionStatus::Degraded => 1,
        ConnectionStatus::Down => 2,
    }
}

fn worse(a: ConnectionStatus, b: ConnectionStatus) -> ConnectionStatus {
    if severity(b) > severity(a) {
        b
    } else {
        a
    }
}

struct Merger {
    networks: Vec<TopoNetwork>,
    index: HashMap<String, usize>,
}

impl Merger {
    fn add_network(&mut self, network: TopoNetwork) {
        match self.index.get(&network.id) {
            Some(&i) => {
                // Seen by two inventories (a data centre in the lab estate and
                // the on-prem file): keep the first, add what the second knows.
                let known = &mut self.networks[i];
                for cidr in network.cidrs {
                    if !known.cidrs.contains(&cidr) {
                        known.cidrs.push(cidr);
                    }
                }
            }
            None => {
                self.index.insert(network.id.clone(), self.networks.len());
                self.networks.push(network);
            }
        }
    }

    fn placeholder(&mut self, id: String, name: String, cloud: Cloud, kind: NetworkKind) -> String {
        if !self.index.contains_key(&id) {
            self.add_network(TopoNetwork {
                id: id.clone(),
                name,
                cloud,
                region: if kind == NetworkKind::Internet {
                    "global".into()
                } else {
                    "unknown".into()
                },
                kind,
                cidrs: Vec::new(),
                provider: if kind == NetworkKind::Internet {
                    "internet".into()
                } else {
                    UNRESOLVED.into()
                },
                account: None,
            });
        }
        id
    }
}

/// A link record with its provider, its resolved far end, and whether it was
/// merged into another one.
struct Side<'a> {
    provider: &'a str,
    record: &'a LinkRecord,
}

/// Merges every provider's result into one topology taken at `taken_at`.
pub fn merge(results: Vec<ProviderResult>, taken_at: DateTime<Utc>) -> Topology {
    let mut providers = BTreeMap::new();
    let mut inventories = Vec::new();
    for result in results {
        match result {
            ProviderResult::Read(inventory) => {
                let outcome = if inventory.problems.is_empty() {
                    ProviderOutcome::Ok {
                        resources: inventory.resources_read,
                    }
                } else {
                    ProviderOutcome::Partial {
                        resources: inventory.resources_read,
                        reasons: inventory.problems.clone(),
                    }
                };
                providers.insert(inventory.provider.clone(), outcome);
                inventories.push(inventory);
            }
            ProviderResult::Failed { provider, reason } => {
                providers.insert(provider, ProviderOutcome::Failed { reason });
            }
            ProviderResult::Stale {
                inventory,
                reason,
                from,
            } => {
                let reason = format!(
                    "{reason}; its networks and connections are carried over from the snapshot of {}",
                    from.to_rfc3339()
                );
                providers.insert(
                    inventory.provider.clone(),
                    ProviderOutcome::Failed { reason },
                );
                inventories.push(inventory);
            }
        }
    }

    let mut merger = Merger {
        networks: Vec::new(),
        index: HashMap::new(),
    };
    for inventory in &inventories {
        for n in &inventory.networks {
            merger.add_network(TopoNetwork::from_record(n, &inventory.provider));
        }
    }

    // Who owns which address and circuit.
    let mut addresses: HashMap<IpAddr, String> = HashMap::new();
    let mut circuits: HashMap<&str, &str> = HashMap::new();
    for inventory in &inventories {
        for a in &inventory.addresses {
            addresses
                .entry(a.address)
                .or_insert_with(|| a.network.clone());
        }
        for l in &inventory.links {
            if let Some(addr) = l.local_address {
                addresses.entry(addr).or_insert_with(|| l.local.clone());
            }
        }
        for c in &inventory.circuits {
            circuits
                .entry(c.reference.as_str())
                .or_insert(c.network.as_str());
        }
    }

    let sides: Vec<Side> = inventories
        .iter()
        .flat_map(|inv| {
            inv.links.iter().map(|record| Side {
                provider: inv.provider.as_str(),
                record,
            })
        })
        .collect();

    // Pair the two halves of one link: mirrored addresses, or the two halves
    // of a peering between the same networks.
    let mut by_local_address: HashMap<(ConnectionKind, IpAddr), usize> = HashMap::new();
    for (i, side) in sides.iter().enumerate() {
        if let Some(addr) = side.record.local_address {
            by_local_address
                .entry((side.record.kind, addr))
                .or_insert(i);
        }
    }
    let mut partner: Vec<Option<usize>> = vec![None; sides.len()];
    for (i, side) in sides.iter().enumerate() {
        if partner[i].is_some() {
            continue;
        }
        if let RemoteEnd::Address(peer) = side.record.remote {
            if let Some(&j) = by_local_address.get(&(side.record.kind, peer)) {
                let other = sides[j].record;
                let mirrored = match other.remote {
                    RemoteEnd::Address(back) => {
                        side.record.local_address.is_none_or(|own| own == back)
                    }
                    _ => false,
                };
                if j != i && partner[j].is_none() && mirrored {
                    partner[i] = Some(j);
                    partner[j] = Some(i);
                }
            }
        }
    }
    // A peering's two halves name each other's networks; a network's internet
    // uplink may be reported by two inventories (the lab and the on-prem file).
    let mut halves: HashMap<(String, String), usize> = HashMap::new();
    for (i, side) in sides.iter().enumerate() {
        if partner[i].is_some() {
            continue;
        }
        let key = match (&side.record.kind, &side.record.remote) {
            (ConnectionKind::Peering, RemoteEnd::Network(remote)) => {
                unordered(&side.record.local, remote)
            }
            (ConnectionKind::Internet, RemoteEnd::Internet) => {
                unordered(&side.record.local, INTERNET)
            }
            (ConnectionKind::Internet, RemoteEnd::Network(remote)) if remote == INTERNET => {
                unordered(&side.record.local, INTERNET)
            }
            _ => continue,
        };
        {
            match halves.get(&key) {
                Some(&j) if partner[j].is_none() => {
                    partner[i] = Some(j);
                    partner[j] = Some(i);
                }
                _ => {
                    halves.insert(key, i);
                }
            }
        }
    }

    let mut connections: Vec<TopoConnection> = Vec::new();
    let mut used_ids: HashMap<String, usize> = HashMap::new();
    for (i, side) in sides.iter().enumerate() {
        if partner[i].is_some_and(|j| j < i) {
            continue; // merged into its partner's connection
        }
        let record = side.record;
        let local = resolve_local(&mut merger, side);
        let (far, status, seen_by, bandwidth, latency) = match partner[i] {
            Some(j) => {
                let other = &sides[j];
                // Two reports of one uplink share their local end; the far
                // end is the one they both name.
                let far = if other.record.local == record.local {
                    resolve_remote(&mut merger, &addresses, &circuits, side)
                } else {
                    resolve_local(&mut merger, other)
                };
                (
                    far,
                    worse(record.status, other.record.status),
                    vec![seen(side), seen(other)],
                    min_known(record.bandwidth_gbps, other.record.bandwidth_gbps),
                    record.latency_ms.or(other.record.latency_ms),
                )
            }
            None => (
                resolve_remote(&mut merger, &addresses, &circuits, side),
                record.status,
                vec![seen(side)],
                record.bandwidth_gbps,
                record.latency_ms,
            ),
        };
        let count = used_ids.entry(record.id.clone()).or_insert(0);
        *count += 1;
        let id = if *count == 1 {
            record.id.clone()
        } else {
            format!("{}:{}", side.provider, record.id)
        };
        connections.push(TopoConnection {
            id,
            kind: record.kind,
            a: local,
            b: far,
            status,
            bandwidth_gbps: bandwidth,
            latency_ms: latency,
            group: record.group.clone(),
            name: record.name.clone(),
            seen_by,
        });
    }

    // A service is kept when its network is in the topology (one id once).
    let mut services: Vec<Service> = Vec::new();
    for service in inventories.iter().flat_map(|i| &i.services) {
        let known = merger.index.contains_key(service.network.as_str());
        if known && !services.iter().any(|s| s.id == service.id) {
            services.push(service.clone());
        }
    }

    Topology {
        taken_at,
        networks: merger.networks,
        connections,
        services,
        providers,
    }
}

fn unordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn min_known(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn seen(side: &Side) -> String {
    format!("{}:{}", side.provider, side.record.id)
}

/// The local end is normally a network of the same inventory; one that is not
/// (a cross-account attachment) still gets a node.
fn resolve_local(merger: &mut Merger, side: &Side) -> String {
    let id = &side.record.local;
    if merger.index.contains_key(id) {
        return id.clone();
    }
    merger.placeholder(
        id.clone(),
        format!("{id} (not discovered)"),
        Cloud::Onprem,
        NetworkKind::Datacenter,
    )
}

fn resolve_remote(
    merger: &mut Merger,
    addresses: &HashMap<IpAddr, String>,
    circuits: &HashMap<&str, &str>,
    side: &Side,
) -> String {
    let local_cloud = merger
        .index
        .get(&side.record.local)
        .map(|&i| merger.networks[i].cloud)
        .unwrap_or(Cloud::Onprem);
    match &side.record.remote {
        RemoteEnd::Network(id) => {
            if merger.index.contains_key(id) {
                id.clone()
            } else {
                // A peer VPC in an account we do not read: same cloud, unknown place.
                let kind = match local_cloud {
                    Cloud::Aws => NetworkKind::Vpc,
                    Cloud::Azure => NetworkKind::Vnet,
                    Cloud::Gcp => NetworkKind::GcpNetwork,
                    Cloud::Onprem => NetworkKind::Datacenter,
                };
                merger.placeholder(
                    id.clone(),
                    format!("{id} (not discovered)"),
                    local_cloud,
                    kind,
                )
            }
        }
        RemoteEnd::Address(ip) => match addresses.get(ip) {
            Some(network) => network.clone(),
            None => merger.placeholder(
                format!("peer:{ip}"),
                format!("unknown peer {ip}"),
                Cloud::Onprem,
                NetworkKind::Datacenter,
            ),
        },
        RemoteEnd::Circuit(reference) => match circuits.get(reference.as_str()) {
            Some(network) => network.to_string(),
            None => merger.placeholder(
                format!("circuit:{reference}"),
                format!("circuit {reference} (landing unknown)"),
                Cloud::Onprem,
                NetworkKind::Datacenter,
            ),
        },
        RemoteEnd::Internet => merger.placeholder(
            INTERNET.into(),
            "Public internet".into(),
            Cloud::Onprem,
            NetworkKind::Internet,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::inventory::{AddressRecord, CircuitRecord, NetworkRecord};

    fn network(id: &str, cloud: Cloud, kind: NetworkKind) -> NetworkRecord {
        NetworkRecord {
            id: id.into(),
            name: id.into(),
            cloud,
            region: "r".into(),
            kind,
            cidrs: vec![],
            account: None,
        }
    }

    fn link(id: &str, kind: ConnectionKind, local: &str, remote: RemoteEnd) -> LinkRecord {
        LinkRecord::new(id, kind, local, remote, ConnectionStatus::Up)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn onprem() -> Inventory {
        let mut inv = Inventory::new("onprem");
        inv.networks
            .push(network("dc1", Cloud::Onprem, NetworkKind::Datacenter));
        inv.addresses.push(AddressRecord {
            address: ip("198.51.100.10"),
            network: "dc1".into(),
            owner: "router r1".into(),
        });
        inv.circuits.push(CircuitRecord {
            reference: "dxcon-1".into(),
            network: "dc1".into(),
            device: None,
        });
        inv
    }

    #[test]
    fn vpn_and_circuit_ends_land_in_the_data_centre() {
        let mut aws = Inventory::new("aws");
        aws.networks
            .push(network("vpc-1", Cloud::Aws, NetworkKind::Vpc));
        let mut tunnel = link(
            "vpn-1/203.0.113.1",
            ConnectionKind::Vpn,
            "vpc-1",
            RemoteEnd::Address(ip("198.51.100.10")),
        );
        tunnel.local_address = Some(ip("203.0.113.1"));
        aws.links.push(tunnel);
        aws.links.push(link(
            "dxvif-1",
            ConnectionKind::DirectConnect,
            "vpc-1",
            RemoteEnd::Circuit("dxcon-1".into()),
        ));
        let topo = merge(
            vec![ProviderResult::Read(aws), ProviderResult::Read(onprem())],
            Utc::now(),
        );
        assert_eq!(topo.networks.len(), 2, "{:?}", topo.networks);
        for c in &topo.connections {
            assert_eq!((c.a.as_str(), c.b.as_str()), ("vpc-1", "dc1"), "{c:?}");
        }
        assert_eq!(topo.providers["aws"].label(), "ok");
    }

    #[test]
    fn a_tunnel_seen_from_both_clouds_is_one_connection_with_the_worse_status() {
        let mut aws = Inventory::new("aws");
        aws.networks
            .push(network("vpc-1", Cloud::Aws, NetworkKind::Vpc));
        let mut a = link(
            "vpn-1/203.0.113.1",
            ConnectionKind::Vpn,
            "vpc-1",
            RemoteEnd::Address(ip("192.0.2.7")),
        );
        a.local_address = Some(ip("203.0.113.1"));
        aws.links.push(a);
        let mut azure = Inventory::new("azure");
        azure
            .networks
            .push(network("vnet-1", Cloud::Azure, NetworkKind::Vnet));
        let mut b = link(
            "conn-1",
            ConnectionKind::Vpn,
            "vnet-1",
            RemoteEnd::Address(ip("203.0.113.1")),
        );
        b.status = ConnectionStatus::Degraded;
        azure.links.push(b);
        let topo = merge(
            vec![ProviderResult::Read(aws), ProviderResult::Read(azure)],
            Utc::now(),
        );
        assert_eq!(topo.connections.len(), 1, "{:?}", topo.connections);
        let c = &topo.connections[0];
        assert_eq!((c.a.as_str(), c.b.as_str()), ("vpc-1", "vnet-1"));
        assert_eq!(c.status, ConnectionStatus::Degraded);
        assert_eq!(c.seen_by, vec!["aws:vpn-1/203.0.113.1", "azure:conn-1"]);
        assert!(topo.networks.iter().all(|n| n.provider != UNRESOLVED));
    }

    #[test]
    fn both_halves_of_a_peering_are_one_connection() {
        let mut azure = Inventory::new("azure");
        azure
            .networks
            .push(network("v1", Cloud::Azure, NetworkKind::Vnet));
        azure
            .networks
            .push(network("v2", Cloud::Azure, NetworkKind::Vnet));
        azure.links.push(link(
            "p12",
            ConnectionKind::Peering,
            "v1",
            RemoteEnd::Network("v2".into()),
        ));
        azure.links.push(link(
            "p21",
            ConnectionKind::Peering,
            "v2",
            RemoteEnd::Network("v1".into()),
        ));
        let topo = merge(vec![ProviderResult::Read(azure)], Utc::now());
        assert_eq!(topo.connections.len(), 1);
    }

    #[test]
    fn an_uplink_reported_by_two_inventories_is_one_connection_to_the_internet() {
        let mut lab = Inventory::new("lab");
        lab.networks
            .push(network("dc1", Cloud::Onprem, NetworkKind::Datacenter));
        lab.networks
            .push(network(INTERNET, Cloud::Onprem, NetworkKind::Internet));
        lab.links.push(link(
            "inet-dc1",
            ConnectionKind::Internet,
            "dc1",
            RemoteEnd::Network(INTERNET.into()),
        ));
        let mut onprem = onprem();
        onprem.links.push(link(
            "inet-dc1",
            ConnectionKind::Internet,
            "dc1",
            RemoteEnd::Internet,
        ));
        let topo = merge(
            vec![ProviderResult::Read(lab), ProviderResult::Read(onprem)],
            Utc::now(),
        );
        assert_eq!(topo.connections.len(), 1, "{:?}", topo.connections);
        let c = &topo.connections[0];
        assert_eq!((c.a.as_str(), c.b.as_str()), ("dc1", INTERNET));
        assert_eq!(c.seen_by, ["lab:inet-dc1", "onprem:inet-dc1"]);
    }

    #[test]
    fn unresolved_ends_become_named_placeholders_and_failures_are_reported() {
        let mut aws = Inventory::new("aws");
        aws.networks
            .push(network("vpc-1", Cloud::Aws, NetworkKind::Vpc));
        aws.links.push(link(
            "vpn-9/1.1.1.1",
            ConnectionKind::Vpn,
            "vpc-1",
            RemoteEnd::Address(ip("192.0.2.99")),
        ));
        aws.links.push(link(
            "igw-1",
            ConnectionKind::Internet,
            "vpc-1",
            RemoteEnd::Internet,
        ));
        aws.links.push(link(
            "dxvif-9",
            ConnectionKind::DirectConnect,
            "vpc-1",
            RemoteEnd::Circuit("dxcon-unknown".into()),
        ));
        aws.problems.push("eu-west-1: access denied".into());
        let topo = merge(
            vec![
                ProviderResult::Read(aws),
                ProviderResult::Failed {
                    provider: "gcp".into(),
                    reason: "no credentials".into(),
                },
            ],
            Utc::now(),
        );
        let ids: Vec<&str> = topo.networks.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "vpc-1",
                "peer:192.0.2.99",
                INTERNET,
                "circuit:dxcon-unknown"
            ]
        );
        assert_eq!(topo.providers["aws"].label(), "partial");
        assert_eq!(topo.providers["gcp"].label(), "failed");
    }
}
