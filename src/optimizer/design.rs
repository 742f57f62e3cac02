//! The design step's brain, pure: given a resolved intent, the estate as it is
//! now and the policies, enumerate the paths over existing connections between
//! the two services' networks, drop those that break a constraint (latency
//! bound, compliance, down links, bandwidth), pick the cheapest feasible one as
//! primary (then lower latency, then higher reliability) and the best path that
//! shares no connection with it as backup, and plan the typed changes that make
//! the primary carry the flow.
//!
//! Every cost here is **marginal**: the connections already exist and their
//! monthly base fees are paid whether or not this flow uses them, so adding the
//! flow costs only its per-GB charges.

use crate::compliance::{Policies, Verdict};
use crate::domain::{
    Change, Cloud, Connection, ConnectionId, ConnectionKind, ConnectionStatus, Estate, Intent,
    Network, NetworkId, Service,
};
use crate::workflow::definition::Risk;
use serde::{Deserialize, Serialize};

/// Longest path considered, in connections (e.g. VPC → DX → DC → ER → VNet is 2).
pub const MAX_HOPS: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidatePath {
    pub connections: Vec<ConnectionId>,
    /// Human form: `dx-1 (direct_connect) → er-1 (expressroute)`.
    pub description: String,
    pub latency_ms: f64,
    pub reliability: f64,
    pub bottleneck_gbps: f64,
    pub per_gb_usd: f64,
    /// Marginal monthly cost of this flow on the path (per-GB charges only).
    pub monthly_cost_usd: f64,
    pub public: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub path: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub source_network: NetworkId,
    pub destination_network: NetworkId,
    pub primary: CandidatePath,
    pub backup: Option<CandidatePath>,
    pub monthly_traffic_gb: f64,
    pub cost_basis: String,
    pub risk: Risk,
    pub risk_reasons: Vec<String>,
    pub compliance: Verdict,
    pub changes: Vec<Change>,
    /// How many paths were considered, and the best few that were not chosen.
    pub considered: usize,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DesignError {
    #[error("the {0} end is not resolved to a service in the estate")]
    Unresolved(&'static str),
    #[error("network '{0}' has no CIDR to route or allow")]
    NoCidr(NetworkId),
    #[error("source and destination are in the same network ({0}); nothing to connect")]
    SameNetwork(NetworkId),
    #[error("no feasible path: {}", .0.join("; "))]
    NoFeasiblePath(Vec<String>),
}

/// Traffic above which a flow is risky enough to need a careful look.
const HEAVY_FLOW_GB: f64 = 10_000.0;

pub fn design(
    intent: &Intent,
    estate: &Estate,
    policies: &Policies,
) -> Result<Design, DesignError> {
    let source = endpoint_service(estate, intent, true)?;
    let destination = endpoint_service(estate, intent, false)?;
    let (src_net, dst_net) = (
        network_of(estate, source)?,
        network_of(estate, destination)?,
    );
    if src_net.id == dst_net.id {
        return Err(DesignError::SameNetwork(src_net.id.clone()));
    }
    let src_cidr = src_net
        .cidrs
        .first()
        .ok_or_else(|| DesignError::NoCidr(src_net.id.clone()))?;
    let dst_cidr = dst_net
        .cidrs
        .first()
        .ok_or_else(|| DesignError::NoCidr(dst_net.id.clone()))?;
    let traffic = intent
        .requirements
        .monthly_traffic_gb
        .unwrap_or(0.0)
        .max(0.0);
    // Average rate the flow needs, in Gbps (GB/month → bits/second).
    let needed_gbps = traffic * 8.0 / (30.0 * 24.0 * 3600.0);

    let paths = simple_paths(estate, &src_net.id, &dst_net.id);
    let considered = paths.len();
    let mut feasible: Vec<(CandidatePath, Verdict)> = Vec::new();
    let mut rejected: Vec<(CandidatePath, Vec<String>)> = Vec::new();
    for hops in paths {
        let candidate = describe(estate, &src_net.id, &hops, traffic);
        let mut reasons = Vec::new();
        if let Some(down) = hops.iter().find(|c| c.status == ConnectionStatus::Down) {
            reasons.push(format!("{} is down", down.id));
        }
        if let Some(max) = intent.requirements.max_latency_ms {
            if candidate.latency_ms > max {
                reasons.push(format!(
                    "latency {:.1} ms exceeds the {max} ms bound",
                    candidate.latency_ms
                ));
            }
        }
        if candidate.bottleneck_gbps < needed_gbps {
            reasons.push(format!(
                "needs {needed_gbps:.2} Gbps, the narrowest hop has {:.2}",
                candidate.bottleneck_gbps
            ));
        }
        let verdict = policies.check_design(intent, estate, &hops);
        reasons.extend(verdict.violations.iter().map(|v| v.to_string()));
        if reasons.is_empty() {
            feasible.push((candidate, verdict));
        } else {
            rejected.push((candidate, reasons));
        }
    }
    feasible.sort_by(|(a, _), (b, _)| {
        rank(a)
            .partial_cmp(&rank(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    rejected.sort_by(|(a, _), (b, _)| {
        rank(a)
            .partial_cmp(&rank(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });

    let Some((primary, compliance)) = feasible.first().cloned() else {
        let mut why: Vec<String> = rejected
            .iter()
            .take(3)
            .map(|(p, r)| format!("{}: {}", p.description, r.join(", ")))
            .collect();
        if why.is_empty() {
            why.push(format!(
                "no connections join {} and {}",
                src_net.id, dst_net.id
            ));
        }
        return Err(DesignError::NoFeasiblePath(why));
    };
    let backup = feasible
        .iter()
        .skip(1)
        .map(|(p, _)| p)
        .find(|p| {
            p.connections
                .iter()
                .all(|c| !primary.connections.contains(c))
        })
        .cloned();

    let (risk, risk_reasons) = assess_risk(intent, &primary, backup.is_some(), estate, traffic);
    let first_hop = primary
        .connections
        .first()
        .cloned()
        .ok_or(DesignError::NoFeasiblePath(vec![]))?;
    let last_hop = primary
        .connections
        .last()
        .cloned()
        .unwrap_or_else(|| first_hop.clone());
    let dns_name = destination
        .identifiers
        .iter()
        .find(|i| i.contains('.') && !i.starts_with("arn:") && !i.contains('/'))
        .cloned()
        .unwrap_or_else(|| format!("{}.{}.internal", destination.id, dst_net.id));
    let changes = vec![
        Change::AllowIngress {
            network: dst_net.id.clone(),
            from_cidr: src_cidr.clone(),
            port: destination.port,
            description: format!("{} → {}", source.name, destination.name),
        },
        Change::Route {
            network: src_net.id.clone(),
            destination_cidr: dst_cidr.clone(),
            via: first_hop,
        },
        Change::Route {
            network: dst_net.id.clone(),
            destination_cidr: src_cidr.clone(),
            via: last_hop,
        },
        Change::DnsRecord {
            zone: src_net.id.clone(),
            name: dns_name,
            address: destination.address.clone(),
        },
    ];
    Ok(Design {
        source_network: src_net.id.clone(),
        destination_network: dst_net.id.clone(),
        primary,
        backup,
        monthly_traffic_gb: traffic,
        cost_basis: "marginal: existing connections, per-GB charges only (base fees already paid)"
            .into(),
        risk,
        risk_reasons,
        compliance,
        changes,
        considered,
        rejected: rejected
            .into_iter()
            .take(5)
            .map(|(p, reasons)| Rejected {
                path: p.description,
                reasons,
            })
            .collect(),
    })
}

/// Cheapest first, then fastest, then most reliable.
fn rank(p: &CandidatePath) -> (f64, f64, f64) {
    (p.monthly_cost_usd, p.latency_ms, -p.reliability)
}

fn endpoint_service<'a>(
    estate: &'a Estate,
    intent: &Intent,
    source: bool,
) -> Result<&'a Service, DesignError> {
    let (endpoint, label) = if source {
        (&intent.source, "source")
    } else {
        (&intent.destination, "destination")
    };
    endpoint
        .resolved
        .as_ref()
        .and_then(|id| estate.service(id))
        .ok_or(DesignError::Unresolved(label))
}

fn network_of<'a>(estate: &'a Estate, service: &Service) -> Result<&'a Network, DesignError> {
    estate
        .network(&service.network)
        .ok_or_else(|| DesignError::NoCidr(service.network.clone()))
}

/// Every simple path of at most `MAX_HOPS` connections from `from` to `to`.
/// Parallel connections (two tunnels of one VPN) give distinct paths.
fn simple_paths<'a>(
    estate: &'a Estate,
    from: &'a NetworkId,
    to: &NetworkId,
) -> Vec<Vec<&'a Connection>> {
    let mut out = Vec::new();
    let mut path: Vec<&Connection> = Vec::new();
    let mut visited: Vec<&NetworkId> = vec![from];
    walk(estate, from, to, &mut path, &mut visited, &mut out);
    out
}

fn walk<'a>(
    estate: &'a Estate,
    at: &NetworkId,
    to: &NetworkId,
    path: &mut Vec<&'a Connection>,
    visited: &mut Vec<&'a NetworkId>,
    out: &mut Vec<Vec<&'a Connection>>,
) {
    if path.len() == MAX_HOPS {
        return;
    }
    for conn in &estate.connections {
        let Some(next) = conn.other_end(at) else {
            continue;
        };
        if visited.contains(&next) {
            continue;
        }
        path.push(conn);
        if next == to {
            out.push(path.clone());
        } else {
            visited.push(next);
            walk(estate, next, to, path, visited, out);
            visited.pop();
        }
        path.pop();
    }
}

/// Per-GB charge of a path walked from `from`. Egress is billed by the cloud
/// the traffic leaves and ingress is free, so a hop is charged only when it is
/// entered from a cloud network: leaving AWS over `inet-aws-…` costs internet
/// egress, arriving in Azure over `inet-azure-…` costs nothing, and an
/// ExpressRoute entered from the data centre costs nothing.
fn per_gb_along(estate: &Estate, from: &NetworkId, hops: &[&Connection]) -> f64 {
    let mut at = from;
    let mut total = 0.0;
    for hop in hops {
        let leaving_cloud = estate.network(at).is_some_and(|n| n.cloud != Cloud::Onprem);
        if leaving_cloud {
            total += hop.cost_per_gb.0;
        }
        match hop.other_end(at) {
            Some(next) => at = next,
            None => break,
        }
    }
    total
}

fn describe(
    estate: &Estate,
    from: &NetworkId,
    hops: &[&Connection],
    traffic_gb: f64,
) -> CandidatePath {
    let per_gb = per_gb_along(estate, from, hops);
    CandidatePath {
        connections: hops.iter().map(|c| c.id.clone()).collect(),
        description: hops
            .iter()
            .map(|c| format!("{} ({})", c.id, c.kind.as_str()))
            .collect::<Vec<_>>()
            .join(" → "),
        latency_ms: hops.iter().map(|c| c.latency_ms.0).sum(),
        reliability: hops.iter().map(|c| c.reliability).product(),
        bottleneck_gbps: hops
            .iter()
            .map(|c| c.bandwidth_gbps.0)
            .fold(f64::INFINITY, f64::min),
        per_gb_usd: per_gb,
        monthly_cost_usd: per_gb * traffic_gb,
        public: hops.iter().any(|c| c.kind == ConnectionKind::Internet),
    }
}

fn assess_risk(
    intent: &Intent,
    primary: &CandidatePath,
    has_backup: bool,
    estate: &Estate,
    traffic: f64,
) -> (Risk, Vec<String>) {
    let mut risk = Risk::Low;
    let mut reasons = Vec::new();
    let mut raise = |to: Risk, why: String| {
        risk = risk.max(to);
        reasons.push(why);
    };
    if primary.public {
        raise(Risk::High, "the path crosses the public internet".into());
    }
    if !intent.compliance.is_empty() {
        let tags: Vec<&str> = intent.compliance.iter().map(|t| t.as_str()).collect();
        raise(
            Risk::Medium,
            format!("regulated data ({})", tags.join(", ")),
        );
    }
    if traffic > HEAVY_FLOW_GB {
        raise(Risk::Medium, format!("heavy flow ({traffic:.0} GB/month)"));
    }
    if !has_backup {
        raise(Risk::Medium, "no disjoint backup path".into());
    }
    let degraded: Vec<&str> = primary
        .connections
        .iter()
        .filter_map(|id| estate.connection(id))
        .filter(|c| c.status == ConnectionStatus::Degraded)
        .map(|c| c.id.as_str())
        .collect();
    if !degraded.is_empty() {
        raise(
            Risk::Medium,
            format!("degraded hop(s): {}", degraded.join(", ")),
        );
    }
    if reasons.is_empty() {
        reasons.push("private path over existing connections, backup available".into());
    }
    (risk, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cloud, ComplianceTag, Endpoint, Requirements, ServiceId};
    use crate::providers::lab::EMBEDDED_ESTATE;

    fn estate() -> Estate {
        Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap()
    }

    fn policies() -> Policies {
        Policies::embedded().unwrap()
    }

    fn endpoint(estate: &Estate, service: &str) -> Endpoint {
        let s = estate.service(&ServiceId::new(service)).unwrap();
        let n = estate.network(&s.network).unwrap();
        Endpoint {
            cloud: Some(n.cloud),
            region: Some(n.region.clone()),
            service: Some(s.kind.clone()),
            identifier: Some(s.name.clone()),
            resolved: Some(s.id.clone()),
        }
    }

    fn flagship(estate: &Estate) -> Intent {
        Intent {
            source: endpoint(estate, "order-processor"),
            destination: endpoint(estate, "orderdb"),
            requirements: Requirements {
                max_latency_ms: Some(20.0),
                monthly_traffic_gb: Some(500.0),
                encryption: true,
                private_only: false,
            },
            compliance: vec![ComplianceTag::PciDss],
            missing: vec![],
        }
    }

    #[test]
    fn pci_request_takes_the_private_circuits_with_a_disjoint_backup() {
        let estate = estate();
        let d = design(&flagship(&estate), &estate, &policies()).unwrap();
        assert_eq!(
            d.primary.connections,
            vec![ConnectionId::new("dx-1"), ConnectionId::new("er-1")]
        );
        assert!(!d.primary.public);
        assert!(d.primary.latency_ms < 20.0);
        // $0.02/GB leaving AWS over DX, ExpressRoute unlimited: 500 GB → $10.
        assert!(
            (d.primary.monthly_cost_usd - 10.0).abs() < 1e-9,
            "{}",
            d.primary.monthly_cost_usd
        );
        let backup = d.backup.expect("a backup");
        assert!(backup
            .connections
            .iter()
            .all(|c| !d.primary.connections.contains(c)));
        assert!(
            !backup.public,
            "PCI forbids the internet for the backup too"
        );
        assert_eq!(d.changes.len(), 4);
        assert_eq!(d.risk, Risk::Medium, "{:?}", d.risk_reasons);
    }

    #[test]
    fn an_internet_path_between_clouds_is_charged_once() {
        let estate = estate();
        let mut intent = flagship(&estate);
        intent.compliance.clear();
        intent.requirements.max_latency_ms = None;
        let d = design(&intent, &estate, &policies()).unwrap();
        let all = simple_paths(&estate, &d.source_network, &d.destination_network);
        let internet = all
            .iter()
            .find(|p| p.len() == 2 && p.iter().all(|c| c.kind == ConnectionKind::Internet))
            .expect("an internet path");
        let c = describe(&estate, &d.source_network, internet, 1000.0);
        assert!((c.per_gb_usd - 0.09).abs() < 1e-9, "{}", c.per_gb_usd);
    }

    #[test]
    fn a_down_link_is_avoided() {
        let mut estate = estate();
        for c in estate
            .connections
            .iter_mut()
            .filter(|c| c.id.as_str() == "dx-1")
        {
            c.status = ConnectionStatus::Down;
        }
        let d = design(&flagship(&estate), &estate, &policies()).unwrap();
        assert!(!d.primary.connections.contains(&ConnectionId::new("dx-1")));
        assert!(d.primary.latency_ms <= 20.0);
    }

    #[test]
    fn an_impossible_bound_explains_itself() {
        let estate = estate();
        let mut intent = flagship(&estate);
        intent.requirements.max_latency_ms = Some(1.0);
        let err = design(&intent, &estate, &policies())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no feasible path") && err.contains("1 ms bound"),
            "{err}"
        );
    }

    #[test]
    fn unresolved_endpoints_are_refused() {
        let estate = estate();
        let mut intent = flagship(&estate);
        intent.destination.resolved = None;
        intent.destination.cloud = Some(Cloud::Azure);
        assert_eq!(
            design(&intent, &estate, &policies()).unwrap_err(),
            DesignError::Unresolved("destination")
        );
    }
}
