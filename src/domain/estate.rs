//! The estate: networks, the connections between them, the services intents can
//! name, and the flows that run over it. Loaded once from YAML at the edge and
//! validated as a whole (every reference resolves, every region is canonical), so
//! the rest of the code never meets a dangling id.

use super::cloud::{Cloud, CloudError, Region};
use super::ids::{ConnectionId, NetworkId, ServiceId};
use super::units::{GbPerMonth, Gbps, Millis, Usd, UsdPerGb};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    Vpc,
    Vnet,
    GcpNetwork,
    Datacenter,
    Internet,
    /// A routing hub networks attach to: AWS Transit Gateway, Azure virtual hub.
    TransitHub,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub id: NetworkId,
    pub name: String,
    pub cloud: Cloud,
    /// Canonical region; for on-prem the data-centre name; for the internet "global".
    pub region: String,
    pub kind: NetworkKind,
    #[serde(default)]
    pub cidrs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    DirectConnect,
    Expressroute,
    Interconnect,
    Vpn,
    Peering,
    TransitGateway,
    Internet,
}

impl ConnectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::DirectConnect => "direct_connect",
            ConnectionKind::Expressroute => "expressroute",
            ConnectionKind::Interconnect => "interconnect",
            ConnectionKind::Vpn => "vpn",
            ConnectionKind::Peering => "peering",
            ConnectionKind::TransitGateway => "transit_gateway",
            ConnectionKind::Internet => "internet",
        }
    }

    /// Whether traffic on this kind of connection crosses the public internet.
    pub fn is_public(self) -> bool {
        matches!(self, ConnectionKind::Internet)
    }

    /// Whether the link itself encrypts (IPsec); private circuits do not, so
    /// encryption over them comes from TLS or MACsec at the ends.
    pub fn encrypts(self) -> bool {
        matches!(self, ConnectionKind::Vpn)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Up,
    Degraded,
    Down,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Up => "up",
            ConnectionStatus::Degraded => "degraded",
            ConnectionStatus::Down => "down",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub id: ConnectionId,
    pub kind: ConnectionKind,
    pub a: NetworkId,
    pub b: NetworkId,
    pub bandwidth_gbps: Gbps,
    pub latency_ms: Millis,
    /// Availability as a fraction, e.g. 0.9995.
    pub reliability: f64,
    pub status: ConnectionStatus,
    pub cost_per_gb: UsdPerGb,
    pub monthly_base_usd: Usd,
    /// Free-form grouping, e.g. the VPN connection a tunnel belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Connection {
    pub fn joins(&self, x: &NetworkId, y: &NetworkId) -> bool {
        (&self.a == x && &self.b == y) || (&self.a == y && &self.b == x)
    }

    /// The far end of this connection seen from `from`, if it touches `from`.
    pub fn other_end(&self, from: &NetworkId) -> Option<&NetworkId> {
        if &self.a == from {
            Some(&self.b)
        } else if &self.b == from {
            Some(&self.a)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: ServiceId,
    /// The name people use ("OrderProcessor", "orderdb").
    pub name: String,
    /// What it is, in the words intents use: lambda, sql, vertex_ai, bigquery, sap…
    pub kind: String,
    pub network: NetworkId,
    /// ARNs, hostnames, resource ids that identify it.
    #[serde(default)]
    pub identifiers: Vec<String>,
    /// The port its clients reach it on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Address inside its network (used for ingress rules and DNS): an IP,
    /// or a hostname the cloud resolves (an RDS endpoint); empty for a
    /// service nothing connects to (a Lambda function).
    pub address: String,
    /// Where an ingress rule for it is targeted: the security groups (AWS)
    /// its interfaces are in; the NSGs (Azure, ARM ids) of its interface and
    /// subnet; for a GCP instance its network tags as `tag:<t>` and service
    /// accounts as `serviceAccount:<email>` (none for Cloud SQL: its rule
    /// targets its address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// It also answers on a public endpoint (an Azure SQL server with public
    /// network access on): its own firewall takes a rule as well.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_endpoint: bool,
}

fn default_port() -> u16 {
    443
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub id: String,
    pub source: ServiceId,
    pub destination: ServiceId,
    pub monthly_gb: GbPerMonth,
    /// The connections this flow uses today, in order from source to destination.
    #[serde(default)]
    pub path: Vec<ConnectionId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estate {
    pub name: String,
    pub networks: Vec<Network>,
    pub connections: Vec<Connection>,
    pub services: Vec<Service>,
    #[serde(default)]
    pub flows: Vec<Flow>,
}

#[derive(Debug, thiserror::Error)]
pub enum EstateError {
    #[error("estate file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("estate file {path}: {source}")]
    Syntax {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("estate file {path}: {what}")]
    Invalid { path: String, what: String },
}

impl Estate {
    pub fn load(path: &Path) -> Result<Estate, EstateError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| EstateError::Read {
            path: shown.clone(),
            source,
        })?;
        Estate::from_yaml(&text, &shown)
    }

    /// Parses and validates; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Estate, EstateError> {
        let estate: Estate = serde_yaml::from_str(text).map_err(|source| EstateError::Syntax {
            path: origin.to_string(),
            source,
        })?;
        estate.checked(origin)
    }

    /// Checks an estate built in code (from discovery) as a file's would
    /// be; `origin` names it in errors.
    pub fn checked(self, origin: &str) -> Result<Estate, EstateError> {
        self.validate().map_err(|what| EstateError::Invalid {
            path: origin.to_string(),
            what,
        })?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), String> {
        let mut network_ids = BTreeSet::new();
        for n in &self.networks {
            if !network_ids.insert(&n.id) {
                return Err(format!("network '{}' is defined twice", n.id));
            }
            if matches!(n.cloud, Cloud::Aws | Cloud::Azure | Cloud::Gcp) {
                let region = Region::parse(n.cloud, &n.region)
                    .map_err(|e: CloudError| format!("network '{}': {e}", n.id))?;
                if region.name != n.region {
                    return Err(format!(
                        "network '{}': region '{}' is not canonical (write '{}')",
                        n.id, n.region, region.name
                    ));
                }
            }
        }
        let mut connection_ids = BTreeSet::new();
        for c in &self.connections {
            if !connection_ids.insert(&c.id) {
                return Err(format!("connection '{}' is defined twice", c.id));
            }
            for end in [&c.a, &c.b] {
                if !network_ids.contains(end) {
                    return Err(format!("connection '{}': unknown network '{end}'", c.id));
                }
            }
            if c.a == c.b {
                return Err(format!("connection '{}' joins '{}' to itself", c.id, c.a));
            }
            if !(0.0..=1.0).contains(&c.reliability) {
                return Err(format!(
                    "connection '{}': reliability {} is not between 0 and 1",
                    c.id, c.reliability
                ));
            }
            for (what, v) in [
                ("bandwidth_gbps", c.bandwidth_gbps.0),
                ("latency_ms", c.latency_ms.0),
                ("cost_per_gb", c.cost_per_gb.0),
                ("monthly_base_usd", c.monthly_base_usd.0),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(format!(
                        "connection '{}': {what} must be ≥ 0, got {v}",
                        c.id
                    ));
                }
            }
        }
        let mut service_ids = BTreeSet::new();
        for s in &self.services {
            if !service_ids.insert(&s.id) {
                return Err(format!("service '{}' is defined twice", s.id));
            }
            if !network_ids.contains(&s.network) {
                return Err(format!(
                    "service '{}': unknown network '{}'",
                    s.id, s.network
                ));
            }
        }
        let mut flow_ids = BTreeSet::new();
        for f in &self.flows {
            if !flow_ids.insert(&f.id) {
                return Err(format!("flow '{}' is defined twice", f.id));
            }
            for s in [&f.source, &f.destination] {
                if !service_ids.contains(s) {
                    return Err(format!("flow '{}': unknown service '{s}'", f.id));
                }
            }
            for c in &f.path {
                if !connection_ids.contains(c) {
                    return Err(format!("flow '{}': unknown connection '{c}'", f.id));
                }
            }
        }
        Ok(())
    }

    pub fn network(&self, id: &NetworkId) -> Option<&Network> {
        self.networks.iter().find(|n| &n.id == id)
    }

    pub fn connection(&self, id: &ConnectionId) -> Option<&Connection> {
        self.connections.iter().find(|c| &c.id == id)
    }

    pub fn service(&self, id: &ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| &s.id == id)
    }

    /// Counts of connections by kind, for summaries.
    pub fn connection_counts(&self) -> BTreeMap<ConnectionKind, usize> {
        let mut counts = BTreeMap::new();
        for c in &self.connections {
            *counts.entry(c.kind).or_insert(0) += 1;
        }
        counts
    }
}
