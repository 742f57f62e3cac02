//! Typed changes: the only way anything in switchboard asks a provider to act.
//! No free-form commands, no CLI strings built from chat text.

use super::ids::{ConnectionId, NetworkId, ServiceId};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// Allow traffic from `from_cidr` into `network` on `port` (security group,
    /// NSG or firewall rule, whichever the network's cloud has).
    AllowIngress {
        network: NetworkId,
        from_cidr: String,
        port: u16,
        description: String,
        /// The service the rule is for, when known: its own security group
        /// takes the rule where the cloud has per-service groups.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<ServiceId>,
    },
    /// Route `destination_cidr` from `network` over `via`.
    Route {
        network: NetworkId,
        destination_cidr: String,
        via: ConnectionId,
    },
    /// Prefer `preferred` over `other` for traffic to `destination_cidr`.
    RoutePreference {
        network: NetworkId,
        destination_cidr: String,
        preferred: ConnectionId,
        other: ConnectionId,
    },
    /// A private DNS record in `zone` pointing `name` at `address`.
    DnsRecord {
        zone: NetworkId,
        name: String,
        address: String,
    },
}

impl Change {
    /// The network the change lands in (used to pick the provider).
    pub fn network(&self) -> &NetworkId {
        match self {
            Change::AllowIngress { network, .. }
            | Change::Route { network, .. }
            | Change::RoutePreference { network, .. } => network,
            Change::DnsRecord { zone, .. } => zone,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Change::AllowIngress { .. } => "allow_ingress",
            Change::Route { .. } => "route",
            Change::RoutePreference { .. } => "route_preference",
            Change::DnsRecord { .. } => "dns_record",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::AllowIngress {
                network,
                from_cidr,
                port,
                ..
            } => write!(f, "allow {from_cidr} → {network}:{port}"),
            Change::Route {
                network,
                destination_cidr,
                via,
            } => write!(f, "route {destination_cidr} from {network} via {via}"),
            Change::RoutePreference {
                network,
                destination_cidr,
                preferred,
                other,
            } => write!(
                f,
                "prefer {preferred} over {other} for {destination_cidr} in {network}"
            ),
            Change::DnsRecord {
                zone,
                name,
                address,
            } => write!(f, "dns {name} → {address} in {zone}"),
        }
    }
}
