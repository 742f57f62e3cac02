//! The merged topology: every network and connection from every provider, with
//! cross-provider ends resolved, and how each provider's discovery went. This is
//! what snapshots store, `discover --format json` prints and the graph is built
//! from.

use super::inventory::{Inventory, NetworkRecord};
use super::merge::{merge, ProviderResult};
use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, Estate, NetworkKind, Service};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub taken_at: DateTime<Utc>,
    pub networks: Vec<TopoNetwork>,
    pub connections: Vec<TopoConnection>,
    /// Services discovered in the networks (Lambda functions, databases,
    /// instances): what requests can name. Absent in older snapshots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    /// Per provider: ok, partial (with reasons) or failed (with the reason).
    pub providers: BTreeMap<String, ProviderOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopoNetwork {
    pub id: String,
    pub name: String,
    pub cloud: Cloud,
    pub region: String,
    pub kind: NetworkKind,
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// The inventory it came from (`aws`, `onprem`…).
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopoConnection {
    pub id: String,
    pub kind: ConnectionKind,
    pub a: String,
    pub b: String,
    pub status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_gbps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Failure domain: the VPN connection or device the link belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every provider record this connection was seen as (`aws:vpn-1/tunnel-1`,
    /// `azure:<connection id>`): one link seen from both ends is one connection.
    pub seen_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ProviderOutcome {
    Ok {
        resources: u64,
    },
    Partial {
        resources: u64,
        reasons: Vec<String>,
    },
    Failed {
        reason: String,
    },
}

impl ProviderOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            ProviderOutcome::Ok { .. } => "ok",
            ProviderOutcome::Partial { .. } => "partial",
            ProviderOutcome::Failed { .. } => "failed",
        }
    }
}

impl TopoNetwork {
    /// A provider's record as a network of the merged topology.
    pub fn from_record(record: &NetworkRecord, provider: &str) -> TopoNetwork {
        TopoNetwork {
            id: record.id.clone(),
            name: record.name.clone(),
            cloud: record.cloud,
            region: record.region.clone(),
            kind: record.kind,
            cidrs: record.cidrs.clone(),
            provider: provider.to_string(),
            account: record.account.clone(),
        }
    }

    /// Back to the record its provider reported (to carry it over).
    pub fn to_record(&self) -> NetworkRecord {
        NetworkRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            cloud: self.cloud,
            region: self.region.clone(),
            kind: self.kind,
            cidrs: self.cidrs.clone(),
            account: self.account.clone(),
        }
    }
}

impl Topology {
    pub fn network(&self, id: &str) -> Option<&TopoNetwork> {
        self.networks.iter().find(|n| n.id == id)
    }

    /// The estate file's networks and connections as the lab provider's
    /// topology, taken at `taken_at` (for the renderers' tests and pictures).
    pub fn from_estate(estate: &Estate, taken_at: DateTime<Utc>) -> Topology {
        merge(
            vec![ProviderResult::Read(Inventory::from_estate(estate, "lab"))],
            taken_at,
        )
    }
}
