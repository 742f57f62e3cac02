//! What one provider reports: its networks, its links (with one end or both
//! ends known), and the addresses and circuits it owns. Providers fill this
//! from their APIs; `merge` resolves the ends across providers into one
//! topology. Pure data; no IO.

use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, Estate, NetworkKind, Service};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Everything one provider (or one on-prem inventory) reported in one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// `aws`, `azure`, `gcp`, `onprem`, `lab`.
    pub provider: String,
    pub networks: Vec<NetworkRecord>,
    pub links: Vec<LinkRecord>,
    /// Addresses that terminate links in one of this provider's networks
    /// (VPN gateway public IPs, router interface IPs). A link elsewhere whose
    /// peer address is one of these lands in that network.
    pub addresses: Vec<AddressRecord>,
    /// Circuits this inventory knows by the provider's reference (on-prem:
    /// which data centre a DX connection / ER circuit / interconnect lands in).
    pub circuits: Vec<CircuitRecord>,
    /// Services requests can name (functions, databases, instances), each in
    /// one of the networks (by id).
    #[serde(default)]
    pub services: Vec<Service>,
    /// What could not be read (one account, region or API failing) while the
    /// rest was: the provider's result is then partial, with these reasons.
    pub problems: Vec<String>,
    /// Resources read, of every type (VPCs, subnets, route tables, security
    /// groups…), for the figures and the report; not only those in the graph.
    pub resources_read: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// Globally unique: AWS `vpc-…`, Azure ARM id, GCP `projects/p/global/networks/n`,
    /// on-prem data-centre id. Transit hubs (TGW, virtual hub) are networks too.
    pub id: String,
    pub name: String,
    pub cloud: Cloud,
    /// Canonical region; data-centre name on-prem; `global` for global networks.
    pub region: String,
    pub kind: NetworkKind,
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// Account / subscription / project the network lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// One link as one side sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// Provider-native id, unique within the provider (`vpn-0abc/tunnel-1`,
    /// `pcx-…`, `tgw-attach-…`, an ARM connection id).
    pub id: String,
    pub kind: ConnectionKind,
    /// The network this side of the link is in (a `NetworkRecord::id` of the
    /// same inventory, or of another one for cross-account links).
    pub local: String,
    pub remote: RemoteEnd,
    pub status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_gbps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// This side's public address for the link (a VPN tunnel's outside IP).
    /// Two records whose local/peer addresses mirror each other are one link
    /// seen from both ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<IpAddr>,
    /// Grouping: the VPN connection a tunnel belongs to, the device that
    /// terminates it. Links in one group share a failure domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl LinkRecord {
    /// A link with what every link has; the optional facts (bandwidth,
    /// latency, own address, group, name) are set with struct update syntax:
    /// `LinkRecord { group: Some(g), ..LinkRecord::new(…) }`.
    pub fn new(
        id: impl Into<String>,
        kind: ConnectionKind,
        local: impl Into<String>,
        remote: RemoteEnd,
        status: ConnectionStatus,
    ) -> LinkRecord {
        LinkRecord {
            id: id.into(),
            kind,
            local: local.into(),
            remote,
            status,
            bandwidth_gbps: None,
            latency_ms: None,
            local_address: None,
            group: None,
            name: None,
        }
    }
}

/// Where the far end of a link is, as far as its provider knows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum RemoteEnd {
    /// A network id (same or another inventory): peerings, TGW attachments.
    Network(String),
    /// A peer's public address: VPN customer gateways, local network gateways,
    /// GCP tunnel peer IPs.
    Address(IpAddr),
    /// A circuit known by the provider's reference (DX connection id, ER
    /// circuit service key or name, interconnect name), landing somewhere the
    /// on-prem inventory says.
    Circuit(String),
    /// The public internet.
    Internet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressRecord {
    pub address: IpAddr,
    pub network: String,
    /// What owns it: `vgw-…`, a gateway's ARM id, `router r1 eth0`.
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircuitRecord {
    /// The provider's reference as `RemoteEnd::Circuit` carries it.
    pub reference: String,
    /// The network (data centre) the circuit lands in.
    pub network: String,
    /// Router and port it lands on, for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

impl Inventory {
    pub fn new(provider: &str) -> Inventory {
        Inventory {
            provider: provider.to_string(),
            ..Inventory::default()
        }
    }

    /// An estate file's networks and connections as `provider` reports them:
    /// every connection with both ends known.
    pub fn from_estate(estate: &Estate, provider: &str) -> Inventory {
        let mut inventory = Inventory::new(provider);
        inventory.networks = estate
            .networks
            .iter()
            .map(|n| NetworkRecord {
                id: n.id.to_string(),
                name: n.name.clone(),
                cloud: n.cloud,
                region: n.region.clone(),
                kind: n.kind,
                cidrs: n.cidrs.clone(),
                account: None,
            })
            .collect();
        inventory.links = estate
            .connections
            .iter()
            .map(|c| LinkRecord {
                id: c.id.to_string(),
                kind: c.kind,
                local: c.a.to_string(),
                remote: RemoteEnd::Network(c.b.to_string()),
                status: c.status,
                bandwidth_gbps: Some(c.bandwidth_gbps.0),
                latency_ms: Some(c.latency_ms.0),
                local_address: None,
                group: c.group.clone(),
                name: None,
            })
            .collect();
        inventory.resources_read = (estate.networks.len() + estate.connections.len()) as u64;
        inventory
    }

    /// Adds another inventory of the same provider (another region, account).
    pub fn absorb(&mut self, other: Inventory) {
        self.networks.extend(other.networks);
        self.links.extend(other.links);
        self.addresses.extend(other.addresses);
        self.circuits.extend(other.circuits);
        self.services.extend(other.services);
        self.problems.extend(other.problems);
        self.resources_read += other.resources_read;
    }
}

/// Why a provider produced nothing at all. Failures of one part (a region, an
/// API) do not use this: they go into `Inventory::problems`.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{provider}: no credentials: {detail}")]
    Credentials {
        provider: &'static str,
        detail: String,
    },
    #[error("{provider}: access denied to {api}: {detail}")]
    AccessDenied {
        provider: &'static str,
        api: String,
        detail: String,
    },
    #[error("{provider}: {endpoint} did not answer: {detail}")]
    Unreachable {
        provider: &'static str,
        endpoint: String,
        detail: String,
    },
    #[error("{provider}: unexpected answer from {api}: {detail}")]
    BadResponse {
        provider: &'static str,
        api: String,
        detail: String,
    },
    #[error("{provider}: configuration: {detail}")]
    Config {
        provider: &'static str,
        detail: String,
    },
}

/// A source of inventory: a cloud provider's API, an on-prem inventory file,
/// the lab estate.
#[async_trait::async_trait]
pub trait InventorySource: Send + Sync {
    fn name(&self) -> &'static str;
    /// Reads everything. Parts that fail are listed in `problems` while the
    /// rest is returned; `Err` only when nothing could be read.
    async fn inventory(&self) -> Result<Inventory, DiscoveryError>;
}
