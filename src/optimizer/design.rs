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

use super::choose::{choose, ChooseError, Constraints, CostBasis, Objective};
use super::paths::{self, Link, PathOption};
use crate::compliance::{Policies, Verdict};
use crate::domain::{
    Change, Connection, ConnectionId, ConnectionStatus, Estate, Intent, Network, NetworkId, Service,
};
use crate::workflow::definition::Risk;
use serde::{Deserialize, Serialize};

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
    /// The exact provider calls the changes make, when the provider acts on
    /// a real cloud (filled by the design step; the lab lists none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<String>,
    /// The discovery snapshot the design was made on (none for the lab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
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

    // Candidates from the shared path engine (k shortest by latency and by
    // price, failure-domain links), then this request's own constraints.
    let links = paths::links(estate);
    let options = paths::candidates(estate, &links, &src_net.id, &dst_net.id, traffic, 8);
    let considered = options.len();
    let mut feasible: Vec<PathOption> = Vec::new();
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut rejected: Vec<Rejected> = Vec::new();
    for option in options {
        let hops = representatives(estate, &links, &option);
        let verdict = policies.check_design(intent, estate, &hops);
        if verdict.passed() {
            feasible.push(option);
            verdicts.push(verdict);
        } else {
            rejected.push(Rejected {
                path: describe(&option),
                reasons: verdict.violations.iter().map(|v| v.to_string()).collect(),
            });
        }
    }
    let constraints = Constraints {
        max_latency_ms: intent.requirements.max_latency_ms,
        ..Constraints::default()
    };
    let choice = match choose(
        feasible.clone(),
        &constraints,
        Objective::Cost,
        CostBasis::Marginal,
        traffic,
    ) {
        Ok(choice) => choice,
        Err(ChooseError::AllEliminated(eliminated)) => {
            let mut why: Vec<String> = eliminated
                .iter()
                .map(|e| format!("{}: {}", e.links.join(" → "), e.reasons.join(", ")))
                .chain(
                    rejected
                        .iter()
                        .map(|r| format!("{}: {}", r.path, r.reasons.join(", "))),
                )
                .take(3)
                .collect();
            why.sort();
            return Err(DesignError::NoFeasiblePath(why));
        }
        Err(ChooseError::NoPath) => {
            let why = if rejected.is_empty() {
                vec![format!(
                    "no connections join {} and {}",
                    src_net.id, dst_net.id
                )]
            } else {
                rejected
                    .iter()
                    .take(3)
                    .map(|r| format!("{}: {}", r.path, r.reasons.join(", ")))
                    .collect()
            };
            return Err(DesignError::NoFeasiblePath(why));
        }
    };
    rejected.extend(choice.eliminated.iter().map(|e| Rejected {
        path: e.links.join(" → "),
        reasons: e.reasons.clone(),
    }));
    // The primary is one of the feasible options, so its verdict is there.
    let compliance = feasible
        .iter()
        .zip(&verdicts)
        .find(|(o, _)| o.links == choice.primary.links)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            DesignError::NoFeasiblePath(vec!["the chosen path lost its compliance verdict".into()])
        })?;
    let primary = candidate(estate, &links, &choice.primary);
    let backup = choice.backup.as_ref().map(|b| candidate(estate, &links, b));

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
    let mut changes = vec![
        Change::AllowIngress {
            network: dst_net.id.clone(),
            from_cidr: src_cidr.clone(),
            port: destination.port,
            description: format!("{} → {}", source.name, destination.name),
            service: Some(destination.id.clone()),
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
    ];
    changes.extend(dns_record(destination, dst_net, &src_net.id));
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
        calls: Vec::new(),
        basis: None,
        considered,
        rejected: rejected.into_iter().take(5).collect(),
    })
}

/// `dx-1 (direct_connect) → vpn-aws-azure (vpn)`.
/// Whether what `design` relied on is still there in `estate`: its networks,
/// and every connection of its primary path up or degraded. Each way it no
/// longer holds is one line naming the state it was designed on and the
/// state now.
pub fn still_holds(design: &Design, estate: &Estate) -> Result<(), Vec<String>> {
    let basis = design.basis.as_deref().unwrap_or("the design");
    let networks: std::collections::BTreeSet<&NetworkId> =
        [&design.source_network, &design.destination_network]
            .into_iter()
            .chain(design.changes.iter().map(Change::network))
            .collect();
    let mut gone: Vec<String> = networks
        .into_iter()
        .filter(|n| estate.network(n).is_none())
        .map(|n| format!("network {n}: there in {basis}, now gone"))
        .collect();
    for id in &design.primary.connections {
        match estate.connection(id) {
            None => gone.push(format!("connection {id}: up in {basis}, now gone")),
            Some(c) if c.status == ConnectionStatus::Down => {
                gone.push(format!("connection {id}: up in {basis}, now down"))
            }
            Some(_) => {}
        }
    }
    if gone.is_empty() {
        Ok(())
    } else {
        Err(gone)
    }
}

/// The private record the source network gets for the destination: its
/// DNS identifier (or `<service>.<network>.internal`) → its IP; for a service
/// reached by a hostname (an RDS endpoint) a friendly name in switchboard's
/// own zone, `<name>.switchboard.internal`, aliasing it (a CNAME), so no
/// private zone ever shadows a cloud's own domain. None when the destination
/// has no address (a function).
fn dns_record(destination: &Service, dst_net: &Network, zone: &NetworkId) -> Option<Change> {
    let address = destination.address.trim();
    if address.is_empty() {
        return None;
    }
    let name = if address.parse::<std::net::IpAddr>().is_ok() {
        destination
            .identifiers
            .iter()
            .find(|i| i.contains('.') && !i.starts_with("arn:") && !i.contains('/'))
            .cloned()
            .unwrap_or_else(|| {
                let (service, network) = (
                    dns_label(destination.id.as_str()),
                    dns_label(dst_net.id.as_str()),
                );
                format!("{service}.{network}.internal")
            })
    } else {
        format!("{}.switchboard.internal", dns_label(&destination.name))
    };
    Some(Change::DnsRecord {
        zone: zone.clone(),
        name,
        address: address.to_string(),
    })
}

/// `text` as one DNS label: lower case, anything but letters and digits a
/// dash, at most 63 characters (GCP ids hold `:` and `/`).
fn dns_label(text: &str) -> String {
    let label: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let label = label.trim_matches('-');
    label[..label.len().min(63)]
        .trim_end_matches('-')
        .to_string()
}

fn describe(option: &PathOption) -> String {
    option
        .links
        .iter()
        .zip(&option.kinds)
        .map(|(l, k)| format!("{l} ({})", k.as_str()))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// One connection per link that stands for it (the first one up): the
/// routes point at it and validation checks it.
fn representatives<'e>(
    estate: &'e Estate,
    links: &[Link],
    option: &PathOption,
) -> Vec<&'e Connection> {
    option
        .links
        .iter()
        .filter_map(|id| links.iter().find(|l| &l.id == id))
        .filter_map(|link| {
            let members = || {
                link.connections
                    .iter()
                    .filter_map(|c| estate.connection(&ConnectionId::new(c.clone())))
            };
            members()
                .find(|c| c.status != ConnectionStatus::Down)
                .or_else(|| members().next())
        })
        .collect()
}

fn candidate(estate: &Estate, links: &[Link], option: &PathOption) -> CandidatePath {
    CandidatePath {
        connections: representatives(estate, links, option)
            .into_iter()
            .map(|c| c.id.clone())
            .collect(),
        description: describe(option),
        latency_ms: option.latency_ms,
        reliability: option.reliability,
        bottleneck_gbps: option.bandwidth_gbps,
        per_gb_usd: option.per_gb_usd,
        monthly_cost_usd: option.marginal_monthly_usd,
        public: option.public,
    }
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

    #[test]
    fn dns_labels_hold_only_what_dns_accepts() {
        assert_eq!(dns_label("orderdb"), "orderdb");
        assert_eq!(
            dns_label("acme-net:us-east4:orders"),
            "acme-net-us-east4-orders"
        );
        assert_eq!(
            dns_label("projects/acme-net/global/networks/prod"),
            "projects-acme-net-global-networks-prod"
        );
        assert_eq!(dns_label("Order Processor!"), "order-processor");
        assert!(dns_label(&"x".repeat(80)).len() <= 63);
    }

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
    fn provision_refuses_when_a_designed_connection_is_down_or_gone() {
        let estate = estate();
        let mut design = design(&flagship(&estate), &estate, &policies()).unwrap();
        design.basis = Some("snapshot 4".into());
        assert_eq!(still_holds(&design, &estate), Ok(()));
        let first = design.primary.connections[0].clone();
        let mut down = estate.clone();
        for c in down.connections.iter_mut().filter(|c| c.id == first) {
            c.status = ConnectionStatus::Down;
        }
        let why = still_holds(&design, &down).unwrap_err();
        assert_eq!(
            why,
            vec![format!("connection {first}: up in snapshot 4, now down")]
        );
        let mut gone = estate.clone();
        gone.connections.retain(|c| c.id != first);
        let why = still_holds(&design, &gone).unwrap_err();
        assert_eq!(
            why,
            vec![format!("connection {first}: up in snapshot 4, now gone")]
        );
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
            err.contains("no feasible path") && err.contains("max 1 ms"),
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
