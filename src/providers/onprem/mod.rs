//! On-prem inventory: data centres, their routers (ASN, interface addresses)
//! and the circuits that land in them, read from a YAML file the network team
//! keeps. It has no API to ask, so it is also where cross-cloud links get
//! their far ends: a VPN whose peer address is a router interface lands in
//! that router's data centre; a Direct Connect, ExpressRoute or Interconnect
//! known by its provider reference lands where its circuit entry says.
//!
//! The separate *documented* inventory (what the design documents say exists)
//! is read here too; findings compare it with what discovery saw.
//!
//! Acting on the routers lives beside it: `router` (reaching a router and
//! running vtysh), `frr` (FRR's commands and answers, pure) and `actor`
//! (the `OnpremActor`).

pub mod actor;
pub mod frr;
pub mod router;

pub use actor::OnpremActor;
pub use router::OnpremActorConfig;

use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, NetworkKind};
use crate::topology::findings::DocumentedConnection;
use crate::topology::{
    AddressRecord, CircuitRecord, DiscoveryError, Inventory, InventorySource, LinkRecord,
    NetworkRecord, RemoteEnd,
};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

const NAME: &str = "onprem";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnpremInventory {
    pub datacenters: Vec<Datacenter>,
    #[serde(default)]
    pub routers: Vec<Router>,
    #[serde(default)]
    pub circuits: Vec<Circuit>,
    /// BGP over VPN connections that land on a router, one entry per VPN
    /// connection (the estate's `group`).
    #[serde(default)]
    pub tunnels: Vec<TunnelGroup>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Datacenter {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// Whether the data centre has its own internet uplink.
    #[serde(default)]
    pub internet: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Router {
    pub name: String,
    pub datacenter: String,
    pub asn: u32,
    #[serde(default)]
    pub interfaces: Vec<Interface>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: String,
    pub address: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Circuit {
    /// The provider's reference: `dxcon-…`, an ExpressRoute service key or
    /// circuit name, a GCP interconnect name.
    pub reference: String,
    pub kind: ConnectionKind,
    pub datacenter: String,
    pub router: String,
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub bandwidth_gbps: Option<f64>,
    /// The BGP session over the circuit, for generated router config.
    #[serde(default)]
    pub bgp: Option<BgpSession>,
}

/// One BGP session, seen from the on-prem router: its own address on the
/// link and the cloud side's address and ASN (link-local /30s on circuits
/// and tunnels).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpSession {
    pub local_address: IpAddr,
    pub peer_address: IpAddr,
    pub peer_asn: u32,
}

/// The tunnels of one VPN connection landing on one router, each with its
/// inside addresses; the cloud side has one ASN for all of them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelGroup {
    /// The VPN connection: the estate's connection `group`.
    pub group: String,
    pub router: String,
    pub peer_asn: u32,
    pub inside: Vec<InsideAddresses>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsideAddresses {
    pub local_address: IpAddr,
    pub peer_address: IpAddr,
}

/// Where a link meets an on-prem router: the router and its BGP neighbors
/// over the link (address, ASN).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSessions<'i> {
    pub router: &'i Router,
    pub neighbors: Vec<(IpAddr, u32)>,
}

/// Why the inventory has no BGP session for a link.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionsError {
    #[error("link '{0}' lands on-prem but the on-prem inventory lists no circuit '{0}'")]
    MissingCircuit(String),
    #[error("circuit '{0}' has no `bgp` (local_address, peer_address, peer_asn) in the on-prem inventory")]
    MissingCircuitBgp(String),
    #[error("VPN connection '{0}' lands on-prem but the on-prem inventory has no `tunnels` entry for group '{0}'")]
    MissingTunnels(String),
    #[error("circuit or tunnels '{link}' name router '{router}', which the on-prem inventory does not list")]
    UnknownRouter { link: String, router: String },
    #[error("link '{link}' ({kind}) has no BGP session on an on-prem router")]
    NoSession { link: String, kind: &'static str },
}

/// Whether two addresses are the two ends of one /30 (IPv4) or /126 (IPv6).
fn same_link(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a != b && u32::from(a) >> 2 == u32::from(b) >> 2,
        (IpAddr::V6(a), IpAddr::V6(b)) => a != b && u128::from(a) >> 2 == u128::from(b) >> 2,
        _ => false,
    }
}

fn check_session(what: &str, local: IpAddr, peer: IpAddr) -> Result<(), String> {
    if same_link(local, peer) {
        Ok(())
    } else {
        Err(format!(
            "{what}: local {local} and peer {peer} are not the two ends of one /30"
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryFileError {
    #[error("inventory file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("inventory file {path}: {source}")]
    Syntax {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("inventory file {path}: {what}")]
    Invalid { path: String, what: String },
}

fn read(path: &Path) -> Result<String, InventoryFileError> {
    std::fs::read_to_string(path).map_err(|source| InventoryFileError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str, origin: &str) -> Result<T, InventoryFileError> {
    serde_yaml::from_str(text).map_err(|source| InventoryFileError::Syntax {
        path: origin.to_string(),
        source,
    })
}

impl OnpremInventory {
    pub fn load(path: &Path) -> Result<OnpremInventory, InventoryFileError> {
        OnpremInventory::from_yaml(&read(path)?, &path.display().to_string())
    }

    pub fn from_yaml(text: &str, origin: &str) -> Result<OnpremInventory, InventoryFileError> {
        let inventory: OnpremInventory = parse(text, origin)?;
        inventory
            .validate()
            .map_err(|what| InventoryFileError::Invalid {
                path: origin.to_string(),
                what,
            })?;
        Ok(inventory)
    }

    fn validate(&self) -> Result<(), String> {
        let mut dcs = BTreeSet::new();
        for dc in &self.datacenters {
            if dc.id.trim().is_empty() {
                return Err("a data centre has an empty id".into());
            }
            if !dcs.insert(dc.id.as_str()) {
                return Err(format!("data centre '{}' is listed twice", dc.id));
            }
        }
        let mut routers = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for r in &self.routers {
            if !dcs.contains(r.datacenter.as_str()) {
                return Err(format!(
                    "router '{}': unknown data centre '{}'",
                    r.name, r.datacenter
                ));
            }
            if !routers.insert(r.name.as_str()) {
                return Err(format!("router '{}' is listed twice", r.name));
            }
            for i in &r.interfaces {
                if !addresses.insert(i.address) {
                    return Err(format!(
                        "router '{}' interface {}: address {} is used twice",
                        r.name, i.name, i.address
                    ));
                }
            }
        }
        let mut references = BTreeSet::new();
        for c in &self.circuits {
            if !matches!(
                c.kind,
                ConnectionKind::DirectConnect
                    | ConnectionKind::Expressroute
                    | ConnectionKind::Interconnect
            ) {
                return Err(format!(
                    "circuit '{}': kind {} is not a circuit (direct_connect, expressroute or interconnect)",
                    c.reference,
                    c.kind.as_str()
                ));
            }
            if !dcs.contains(c.datacenter.as_str()) {
                return Err(format!(
                    "circuit '{}': unknown data centre '{}'",
                    c.reference, c.datacenter
                ));
            }
            if !routers.contains(c.router.as_str()) {
                return Err(format!(
                    "circuit '{}': unknown router '{}'",
                    c.reference, c.router
                ));
            }
            if !references.insert(c.reference.as_str()) {
                return Err(format!("circuit '{}' is listed twice", c.reference));
            }
            if let Some(b) = &c.bgp {
                check_session(
                    &format!("circuit '{}' bgp", c.reference),
                    b.local_address,
                    b.peer_address,
                )?;
            }
            if let Some(bw) = c.bandwidth_gbps {
                if !bw.is_finite() || bw <= 0.0 {
                    return Err(format!(
                        "circuit '{}': bandwidth_gbps must be > 0, got {bw}",
                        c.reference
                    ));
                }
            }
        }
        let mut groups = BTreeSet::new();
        for t in &self.tunnels {
            if !routers.contains(t.router.as_str()) {
                return Err(format!(
                    "tunnels '{}': unknown router '{}'",
                    t.group, t.router
                ));
            }
            if !groups.insert(t.group.as_str()) {
                return Err(format!("tunnels '{}' are listed twice", t.group));
            }
            if t.inside.is_empty() {
                return Err(format!("tunnels '{}': no inside addresses", t.group));
            }
            for i in &t.inside {
                check_session(
                    &format!("tunnels '{}'", t.group),
                    i.local_address,
                    i.peer_address,
                )?;
            }
        }
        Ok(())
    }

    pub fn circuit(&self, reference: &str) -> Option<&Circuit> {
        self.circuits.iter().find(|c| c.reference == reference)
    }

    pub fn tunnel_group(&self, group: &str) -> Option<&TunnelGroup> {
        self.tunnels.iter().find(|t| t.group == group)
    }

    pub fn router(&self, name: &str) -> Option<&Router> {
        self.routers.iter().find(|r| r.name == name)
    }

    /// The session a circuit's BGP runs over, and its router's name.
    pub fn circuit_session(&self, reference: &str) -> Result<(&str, &BgpSession), SessionsError> {
        let circuit = self
            .circuit(reference)
            .ok_or_else(|| SessionsError::MissingCircuit(reference.to_string()))?;
        let session = circuit
            .bgp
            .as_ref()
            .ok_or_else(|| SessionsError::MissingCircuitBgp(reference.to_string()))?;
        Ok((circuit.router.as_str(), session))
    }

    /// The on-prem router a link lands on and its BGP neighbors over that
    /// link (address, ASN): a circuit's one session by its reference, or
    /// every tunnel of a VPN connection by its group (a preference holds
    /// for the connection, not one tunnel).
    pub fn sessions(
        &self,
        link: &str,
        kind: ConnectionKind,
    ) -> Result<LinkSessions<'_>, SessionsError> {
        let (router, neighbors) = match kind {
            ConnectionKind::DirectConnect
            | ConnectionKind::Expressroute
            | ConnectionKind::Interconnect => {
                let (router, s) = self.circuit_session(link)?;
                (router, vec![(s.peer_address, s.peer_asn)])
            }
            ConnectionKind::Vpn => {
                let group = self
                    .tunnel_group(link)
                    .ok_or_else(|| SessionsError::MissingTunnels(link.to_string()))?;
                let neighbors = group
                    .inside
                    .iter()
                    .map(|i| (i.peer_address, group.peer_asn))
                    .collect();
                (group.router.as_str(), neighbors)
            }
            other => {
                return Err(SessionsError::NoSession {
                    link: link.to_string(),
                    kind: other.as_str(),
                })
            }
        };
        let router = self
            .router(router)
            .ok_or_else(|| SessionsError::UnknownRouter {
                link: link.to_string(),
                router: router.to_string(),
            })?;
        Ok(LinkSessions { router, neighbors })
    }

    /// The inventory as discovery reports it.
    pub fn to_inventory(&self) -> Inventory {
        let mut inventory = Inventory::new(NAME);
        for dc in &self.datacenters {
            inventory.networks.push(NetworkRecord {
                id: dc.id.clone(),
                name: dc.name.clone(),
                cloud: Cloud::Onprem,
                region: dc.id.clone(),
                kind: NetworkKind::Datacenter,
                cidrs: dc.cidrs.clone(),
                account: None,
            });
            if dc.internet {
                inventory.links.push(LinkRecord {
                    name: Some(format!("{} internet uplink", dc.name)),
                    ..LinkRecord::new(
                        format!("inet-{}", dc.id),
                        ConnectionKind::Internet,
                        dc.id.clone(),
                        RemoteEnd::Internet,
                        ConnectionStatus::Up,
                    )
                });
            }
        }
        for r in &self.routers {
            for i in &r.interfaces {
                inventory.addresses.push(AddressRecord {
                    address: i.address,
                    network: r.datacenter.clone(),
                    owner: format!("router {} {} (AS{})", r.name, i.name, r.asn),
                });
            }
        }
        for c in &self.circuits {
            inventory.circuits.push(CircuitRecord {
                reference: c.reference.clone(),
                network: c.datacenter.clone(),
                device: Some(match &c.port {
                    Some(port) => format!("{} {port}", c.router),
                    None => c.router.clone(),
                }),
            });
        }
        inventory.resources_read =
            (self.datacenters.len() + self.routers.len() + self.circuits.len()) as u64;
        inventory
    }
}

/// The on-prem inventory file as an inventory source (read at every run, so
/// edits to the file show up at the next discovery).
pub struct OnpremSource {
    path: PathBuf,
}

impl OnpremSource {
    pub fn new(path: PathBuf) -> OnpremSource {
        OnpremSource { path }
    }
}

#[async_trait]
impl InventorySource for OnpremSource {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn inventory(&self) -> Result<Inventory, DiscoveryError> {
        let inventory = OnpremInventory::load(&self.path).map_err(|e| DiscoveryError::Config {
            provider: NAME,
            detail: e.to_string(),
        })?;
        Ok(inventory.to_inventory())
    }
}

/// What the design documents say exists: the reference for drift findings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentedInventory {
    pub connections: Vec<DocumentedConnection>,
}

impl DocumentedInventory {
    pub fn load(path: &Path) -> Result<DocumentedInventory, InventoryFileError> {
        DocumentedInventory::from_yaml(&read(path)?, &path.display().to_string())
    }

    pub fn from_yaml(text: &str, origin: &str) -> Result<DocumentedInventory, InventoryFileError> {
        let documented: DocumentedInventory = parse(text, origin)?;
        let invalid = |what: String| InventoryFileError::Invalid {
            path: origin.to_string(),
            what,
        };
        let mut ids = BTreeSet::new();
        for c in &documented.connections {
            if !ids.insert(c.id.as_str()) {
                return Err(invalid(format!("connection '{}' is listed twice", c.id)));
            }
            if c.between[0] == c.between[1] {
                return Err(invalid(format!(
                    "connection '{}' joins '{}' to itself",
                    c.id, c.between[0]
                )));
            }
        }
        Ok(documented)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "
datacenters:
  - { id: dc1, name: Ashburn, cidrs: [10.100.0.0/16], internet: true }
routers:
  - name: dc1-edge-1
    datacenter: dc1
    asn: 65001
    interfaces: [{ name: ge-0/0/0, address: 198.51.100.10 }]
circuits:
  - { reference: dxcon-ffabc123, kind: direct_connect, datacenter: dc1, router: dc1-edge-1, port: xe-0/1/0 }
";

    #[test]
    fn inventory_file_gives_networks_addresses_and_circuits() {
        let inv = OnpremInventory::from_yaml(SAMPLE, "t.yaml")
            .unwrap()
            .to_inventory();
        assert_eq!(inv.networks.len(), 1);
        assert_eq!(inv.networks[0].kind, NetworkKind::Datacenter);
        assert_eq!(inv.addresses[0].network, "dc1");
        assert_eq!(inv.addresses[0].address.to_string(), "198.51.100.10");
        assert_eq!(inv.circuits[0].reference, "dxcon-ffabc123");
        assert_eq!(
            inv.circuits[0].device.as_deref(),
            Some("dc1-edge-1 xe-0/1/0")
        );
        assert_eq!(inv.links.len(), 1, "internet uplink");
        assert_eq!(inv.links[0].remote, RemoteEnd::Internet);
    }

    #[test]
    fn bad_inventories_name_the_problem() {
        let cases = [
            (
                SAMPLE.replace("datacenter: dc1\n    asn", "datacenter: dc9\n    asn"),
                "unknown data centre 'dc9'",
            ),
            (SAMPLE.replace("198.51.100.10", "not-an-ip"), "invalid IP"),
            (
                SAMPLE.replace("kind: direct_connect", "kind: vpn"),
                "is not a circuit",
            ),
            (SAMPLE.replace("asn: 65001", "asn: -1"), "asn"),
            (
                SAMPLE.replace(
                    "port: xe-0/1/0 }",
                    "port: xe-0/1/0, bgp: { local_address: 169.254.10.1, peer_address: 169.254.10.6, peer_asn: 64512 } }",
                ),
                "not the two ends of one /30",
            ),
            (
                format!("{SAMPLE}tunnels:\n  - {{ group: vpn-1, router: r9, peer_asn: 64512, inside: [] }}\n"),
                "tunnels 'vpn-1': unknown router 'r9'",
            ),
            (
                SAMPLE.replace("router: dc1-edge-1, port", "router: r9, port"),
                "unknown router 'r9'",
            ),
        ];
        for (text, expected) in cases {
            let err = OnpremInventory::from_yaml(&text, "inv.yaml")
                .unwrap_err()
                .to_string();
            assert!(err.contains("inv.yaml"), "{err}");
            assert!(err.contains(expected), "expected '{expected}' in: {err}");
        }
    }
}
