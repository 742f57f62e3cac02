//! Findings: what a network engineer should look at in a topology, each with
//! its evidence and, where it has one, the monthly dollar impact. Pure.
//!
//! - single points of failure: a circuit or VPN (as a failure domain) that is
//!   the only private link between two parts of the estate, and data centres
//!   whose loss splits it. Provider-managed fabric (TGW attachments,
//!   peerings) is multi-AZ by design and not reported as a SPOF;
//! - drift against the documented inventory: undocumented connections and
//!   documented ones no provider reported;
//! - zombie and low-traffic connections: a base fee above what their traffic
//!   would cost over the internet;
//! - flows routed over the internet while a private path exists;
//! - connections down or degraded, and link ends nothing resolved.

use super::graph::{Cuts, TopologyGraph};
use super::merge::{INTERNET, UNRESOLVED};
use super::model::{TopoConnection, Topology};
use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, Estate, NetworkKind};
use petgraph::graph::NodeIndex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    SinglePointOfFailure,
    ConnectionDown,
    ConnectionDegraded,
    InternetRouted,
    Zombie,
    LowTraffic,
    Undocumented,
    DocumentedMissing,
    UnresolvedEnd,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::SinglePointOfFailure => "single_point_of_failure",
            FindingKind::ConnectionDown => "connection_down",
            FindingKind::ConnectionDegraded => "connection_degraded",
            FindingKind::InternetRouted => "internet_routed",
            FindingKind::Zombie => "zombie",
            FindingKind::LowTraffic => "low_traffic",
            FindingKind::Undocumented => "undocumented",
            FindingKind::DocumentedMissing => "documented_missing",
            FindingKind::UnresolvedEnd => "unresolved_end",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// Ids of the connections, networks, flows or documented entries concerned.
    pub subjects: Vec<String>,
    pub summary: String,
    pub evidence: Vec<String>,
    /// Monthly dollars at stake (saving available, or cost of the problem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_usd: Option<f64>,
}

/// A connection as the design documents list it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentedConnection {
    /// The id the documents use (matched against discovered ids first).
    pub id: String,
    pub kind: ConnectionKind,
    /// The two networks it joins, as discovery names them.
    pub between: [String; 2],
    /// The provider's reference when the documents record it (`dxcon-…`,
    /// `vpn-…`): matched against every provider record of a connection and
    /// against its group.
    #[serde(default)]
    pub reference: Option<String>,
}

/// A flow and the path it takes today.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRoute {
    pub id: String,
    pub from: String,
    pub to: String,
    pub monthly_gb: f64,
    pub path: Vec<String>,
}

/// Traffic and prices, where known. Findings that need a figure nobody
/// supplied are not made up: without traffic data there are no zombie or
/// low-traffic findings.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// GB per month per connection id; `None` when there is no traffic data.
    pub traffic: Option<HashMap<String, f64>>,
    /// Monthly base fee per connection id.
    pub base_usd: HashMap<String, f64>,
    /// Per-GB price per connection id.
    pub per_gb_usd: HashMap<String, f64>,
    /// What a GB costs over the internet instead (egress, first tier).
    pub internet_per_gb_usd: f64,
    pub flows: Vec<FlowRoute>,
}

impl Usage {
    /// Traffic, prices and flows as an estate file records them (the lab).
    pub fn from_estate(estate: &Estate) -> Usage {
        let mut traffic: HashMap<String, f64> = estate
            .connections
            .iter()
            .map(|c| (c.id.to_string(), 0.0))
            .collect();
        let mut flows = Vec::with_capacity(estate.flows.len());
        for f in &estate.flows {
            for c in &f.path {
                *traffic.entry(c.to_string()).or_insert(0.0) += f.monthly_gb.0;
            }
            let network =
                |s: &crate::domain::ServiceId| estate.service(s).map(|s| s.network.to_string());
            if let (Some(from), Some(to)) = (network(&f.source), network(&f.destination)) {
                flows.push(FlowRoute {
                    id: f.id.clone(),
                    from,
                    to,
                    monthly_gb: f.monthly_gb.0,
                    path: f.path.iter().map(|c| c.to_string()).collect(),
                });
            }
        }
        let internet_per_gb_usd = estate
            .connections
            .iter()
            .filter(|c| c.kind == ConnectionKind::Internet)
            .map(|c| c.cost_per_gb.0)
            .fold(0.0, f64::max);
        Usage {
            traffic: Some(traffic),
            base_usd: estate
                .connections
                .iter()
                .map(|c| (c.id.to_string(), c.monthly_base_usd.0))
                .collect(),
            per_gb_usd: estate
                .connections
                .iter()
                .map(|c| (c.id.to_string(), c.cost_per_gb.0))
                .collect(),
            internet_per_gb_usd,
            flows,
        }
    }
}

pub struct FindingInputs<'a> {
    pub topology: &'a Topology,
    pub documented: Option<&'a [DocumentedConnection]>,
    pub usage: &'a Usage,
}

/// Every finding, most severe kinds first, then by subject.
pub fn findings(inputs: &FindingInputs) -> Vec<Finding> {
    let topology = inputs.topology;
    let mut out = Vec::new();
    let units = failure_domains(topology);
    single_points_of_failure(topology, &mut out);
    status_findings(topology, &mut out);
    internet_routed(topology, inputs.usage, &mut out);
    low_traffic(&units, inputs.usage, &mut out);
    if let Some(documented) = inputs.documented {
        drift(&units, documented, &mut out);
    }
    unresolved(topology, &mut out);
    out.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| a.subjects.cmp(&b.subjects))
    });
    out
}

/// Connections grouped by failure domain (a VPN connection's tunnels are one).
struct Domain<'t> {
    key: String,
    connections: Vec<&'t TopoConnection>,
}

fn failure_domains(topology: &Topology) -> Vec<Domain<'_>> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut domains: Vec<Domain> = Vec::new();
    for c in &topology.connections {
        let key = c.group.clone().unwrap_or_else(|| c.id.clone());
        match index.get(&key) {
            Some(&i) => domains[i].connections.push(c),
            None => {
                index.insert(key.clone(), domains.len());
                domains.push(Domain {
                    key,
                    connections: vec![c],
                });
            }
        }
    }
    domains
}

fn is_operated_link(kind: ConnectionKind) -> bool {
    matches!(
        kind,
        ConnectionKind::DirectConnect
            | ConnectionKind::Expressroute
            | ConnectionKind::Interconnect
            | ConnectionKind::Vpn
    )
}

fn usable_private(c: &TopoConnection) -> bool {
    c.kind != ConnectionKind::Internet && c.status != ConnectionStatus::Down
}

/// Networks per cloud along the DFS order, for O(1) side descriptions.
struct Census {
    prefix: Vec<[u32; 4]>,
}

fn cloud_slot(cloud: Cloud) -> usize {
    match cloud {
        Cloud::Aws => 0,
        Cloud::Azure => 1,
        Cloud::Gcp => 2,
        Cloud::Onprem => 3,
    }
}

impl Census {
    fn new(graph: &TopologyGraph, cuts: &Cuts) -> Census {
        let mut prefix = Vec::with_capacity(cuts.order.len() + 1);
        let mut running = [0u32; 4];
        prefix.push(running);
        for &node in &cuts.order {
            let n = &graph.topology.networks[graph.network_index(node)];
            if n.kind != NetworkKind::Internet && n.provider != UNRESOLVED {
                running[cloud_slot(n.cloud)] += 1;
            }
            prefix.push(running);
        }
        Census { prefix }
    }

    fn count(&self, ranges: &[Range<usize>]) -> [u32; 4] {
        let mut total = [0u32; 4];
        for r in ranges {
            for (slot, t) in total.iter_mut().enumerate() {
                *t += self.prefix[r.end][slot] - self.prefix[r.start][slot];
            }
        }
        total
    }
}

fn describe(counts: [u32; 4], sample: &[String]) -> String {
    let parts: Vec<String> = Cloud::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(cloud, n)| format!("{cloud} ×{n}"))
        .collect();
    let more = counts.iter().sum::<u32>() as usize > sample.len();
    format!(
        "{} ({}{})",
        parts.join(", "),
        sample.join(", "),
        if more { ", …" } else { "" }
    )
}

fn sample_ids(graph: &TopologyGraph, cuts: &Cuts, ranges: &[Range<usize>]) -> Vec<String> {
    cuts.nodes(ranges)
        .map(|node| &graph.topology.networks[graph.network_index(node)])
        .filter(|n| n.kind != NetworkKind::Internet)
        .take(3)
        .map(|n| n.id.clone())
        .collect()
}

fn single_points_of_failure(topology: &Topology, out: &mut Vec<Finding>) {
    let graph = TopologyGraph::build(topology, usable_private);
    let cuts = graph.cuts();
    let census = Census::new(&graph, &cuts);
    let has_internet: HashMap<&str, bool> = topology
        .connections
        .iter()
        .filter(|c| c.kind == ConnectionKind::Internet && c.status != ConnectionStatus::Down)
        .flat_map(|c| [(c.a.as_str(), true), (c.b.as_str(), true)])
        .collect();
    let fallback = |ranges: &[Range<usize>]| {
        cuts.nodes(ranges).any(|node| {
            let id = topology.networks[graph.network_index(node)].id.as_str();
            has_internet.contains_key(id)
        })
    };

    for bridge in &cuts.bridges {
        let links: Vec<&TopoConnection> = bridge
            .connections
            .iter()
            .map(|&i| &topology.connections[i])
            .collect();
        let Some(first) = links.first() else { continue };
        if !is_operated_link(first.kind) {
            continue;
        }
        let cut_off = [bridge.cut_off.clone()];
        let rest = subtract_one(bridge.component.clone(), &bridge.cut_off);
        let (a, b) = (census.count(&cut_off), census.count(&rest));
        if a.iter().sum::<u32>() == 0 || b.iter().sum::<u32>() == 0 {
            continue;
        }
        let ids: Vec<String> = links.iter().map(|c| c.id.clone()).collect();
        let domain = first.group.clone().unwrap_or_else(|| first.id.clone());
        let consequence = if fallback(&cut_off) && fallback(&rest) {
            "if it fails, traffic between the two sides falls back to the internet (egress prices, no private routing, PCI/HIPAA flows stop)"
        } else {
            "if it fails, the two sides lose connectivity"
        };
        out.push(Finding {
            kind: FindingKind::SinglePointOfFailure,
            subjects: ids.clone(),
            summary: format!(
                "{domain} ({} {} ↔ {}) is the only private link between {} and {}",
                first.kind.as_str(),
                first.a,
                first.b,
                describe(a, &sample_ids(&graph, &cuts, &cut_off)),
                describe(b, &sample_ids(&graph, &cuts, &rest)),
            ),
            evidence: vec![
                format!(
                    "failure domain {domain}: {} (tunnels of one VPN connection fail together)",
                    ids.join(", ")
                ),
                consequence.to_string(),
            ],
            monthly_usd: None,
        });
    }

    for ap in &cuts.articulation_points {
        let network = &topology.networks[graph.network_index(ap.node)];
        if network.kind != NetworkKind::Datacenter || network.provider == UNRESOLVED {
            continue;
        }
        let described: Vec<String> = ap
            .pieces
            .iter()
            .filter(|piece| census.count(piece).iter().sum::<u32>() > 0)
            .map(|piece| describe(census.count(piece), &sample_ids(&graph, &cuts, piece)))
            .collect();
        if described.len() < 2 {
            continue;
        }
        out.push(Finding {
            kind: FindingKind::SinglePointOfFailure,
            subjects: vec![network.id.clone()],
            summary: format!(
                "data centre {} is the only private transit between {} parts of the estate",
                network.id,
                described.len()
            ),
            evidence: described
                .into_iter()
                .map(|d| format!("without it, cut off from the rest: {d}"))
                .collect(),
            monthly_usd: None,
        });
    }
}

fn subtract_one(outer: Range<usize>, hole: &Range<usize>) -> Vec<Range<usize>> {
    [outer.start..hole.start, hole.end..outer.end]
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect()
}

fn status_findings(topology: &Topology, out: &mut Vec<Finding>) {
    for c in &topology.connections {
        let kind = match c.status {
            ConnectionStatus::Up => continue,
            ConnectionStatus::Degraded => FindingKind::ConnectionDegraded,
            ConnectionStatus::Down => FindingKind::ConnectionDown,
        };
        let state = c.status.as_str();
        out.push(Finding {
            kind,
            subjects: vec![c.id.clone()],
            summary: format!("{} {} ↔ {} is {state}", c.kind.as_str(), c.a, c.b),
            evidence: vec![format!("reported {state} by {}", c.seen_by.join(", "))],
            monthly_usd: None,
        });
    }
}

fn internet_routed(topology: &Topology, usage: &Usage, out: &mut Vec<Finding>) {
    let kinds: HashMap<&str, ConnectionKind> = topology
        .connections
        .iter()
        .map(|c| (c.id.as_str(), c.kind))
        .collect();
    let graph = TopologyGraph::build(topology, usable_private);
    for flow in &usage.flows {
        let over_internet = flow
            .path
            .iter()
            .any(|id| kinds.get(id.as_str()) == Some(&ConnectionKind::Internet));
        if !over_internet || flow.from == flow.to {
            continue;
        }
        let (Some(from), Some(to)) = (graph.node(&flow.from), graph.node(&flow.to)) else {
            continue;
        };
        let cheapest = cheapest_private_per_gb(&graph, usage, from, to);
        let Some(private_per_gb) = cheapest else {
            continue; // no private path: nothing better to offer
        };
        let saving = flow.monthly_gb * (usage.internet_per_gb_usd - private_per_gb);
        out.push(Finding {
            kind: FindingKind::InternetRouted,
            subjects: vec![flow.id.clone()],
            summary: format!(
                "flow {} ({} → {}, {:.0} GB/month) crosses the internet while a private path exists",
                flow.id, flow.from, flow.to, flow.monthly_gb
            ),
            evidence: vec![
                format!("today: {}", flow.path.join(" → ")),
                format!(
                    "internet egress ${:.3}/GB against ${:.3}/GB on the cheapest private path",
                    usage.internet_per_gb_usd, private_per_gb
                ),
            ],
            monthly_usd: (saving > 0.0).then_some(round_cents(saving)),
        });
    }
}

/// Per-GB price of the cheapest private path (Dijkstra over per-GB prices;
/// a connection without a known price counts at the internet's price, so a
/// saving is never claimed on a guess).
fn cheapest_private_per_gb(
    graph: &TopologyGraph,
    usage: &Usage,
    from: NodeIndex,
    to: NodeIndex,
) -> Option<f64> {
    let costs = petgraph::algo::dijkstra(&graph.graph, from, Some(to), |e| {
        let c = &graph.topology.connections[*e.weight()];
        usage
            .per_gb_usd
            .get(&c.id)
            .copied()
            .unwrap_or(usage.internet_per_gb_usd)
            .max(0.0)
    });
    costs.get(&to).copied()
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Zombie: an operated link (circuit or VPN) that carries nothing and is not
/// the standby of a link that does (a VPN beside a busy DX between the same
/// networks is a backup, not a zombie). Low traffic: a circuit priced per GB
/// below the internet whose volume does not pay for its base fee (a VPN's
/// traffic is billed as internet egress anyway, so only zombies apply to it).
fn low_traffic(units: &[Domain], usage: &Usage, out: &mut Vec<Finding>) {
    let Some(traffic) = &usage.traffic else {
        return;
    };
    let unit_gb = |unit: &Domain| -> f64 {
        unit.connections
            .iter()
            .map(|c| traffic.get(&c.id).copied().unwrap_or(0.0))
            .sum()
    };
    let ends = |unit: &Domain| {
        unit.connections
            .first()
            .map(|c| unordered(&c.a, &c.b))
            .unwrap_or_default()
    };
    let mut busy_pairs: HashMap<(String, String), Vec<String>> = HashMap::new();
    for unit in units {
        if unit_gb(unit) > 0.0 {
            busy_pairs
                .entry(ends(unit))
                .or_default()
                .push(unit.key.clone());
        }
    }
    for unit in units {
        let Some(first) = unit.connections.first() else {
            continue;
        };
        if !is_operated_link(first.kind) {
            continue;
        }
        let base: f64 = unit
            .connections
            .iter()
            .filter_map(|c| usage.base_usd.get(&c.id))
            .sum();
        if base <= 0.0 {
            continue;
        }
        let gb = unit_gb(unit);
        let ids: Vec<String> = unit.connections.iter().map(|c| c.id.clone()).collect();
        let label = format!(
            "{} ({} {} ↔ {})",
            unit.key,
            first.kind.as_str(),
            first.a,
            first.b
        );
        if gb == 0.0 {
            if let Some(primaries) = busy_pairs.get(&ends(unit)) {
                tracing::debug!(unit = %unit.key, ?primaries, "idle link is a standby");
                continue;
            }
            out.push(Finding {
                kind: FindingKind::Zombie,
                subjects: ids,
                summary: format!("{label} carries no traffic and costs ${base:.2}/month"),
                evidence: vec![
                    "no flow uses it, and no busy link between the same networks needs it as a standby"
                        .to_string(),
                ],
                monthly_usd: Some(round_cents(base)),
            });
            continue;
        }
        let per_gb = unit
            .connections
            .iter()
            .filter_map(|c| usage.per_gb_usd.get(&c.id).copied())
            .fold(f64::NAN, f64::max);
        let margin = usage.internet_per_gb_usd - per_gb;
        if per_gb.is_nan() || margin <= 0.0 {
            continue;
        }
        let current = base + gb * per_gb;
        let over_internet = gb * usage.internet_per_gb_usd;
        if current <= over_internet {
            continue;
        }
        let break_even = base / margin;
        let flows: Vec<&str> = usage
            .flows
            .iter()
            .filter(|f| f.path.iter().any(|p| ids.contains(p)))
            .map(|f| f.id.as_str())
            .collect();
        let mut evidence = vec![
            format!(
                "full cost ${current:.2}/month (base ${base:.2} + {gb:.0} GB × ${per_gb:.3}); the same traffic over the internet: ${over_internet:.2} ({gb:.0} GB × ${:.3})",
                usage.internet_per_gb_usd
            ),
            format!(
                "breaks even at {break_even:.0} GB/month = base ${base:.2} ÷ (${:.3} − ${per_gb:.3}) per GB",
                usage.internet_per_gb_usd
            ),
        ];
        if !flows.is_empty() {
            evidence.push(format!(
                "flows that would move: {} (check their compliance before moving any to the internet)",
                flows.join(", ")
            ));
        }
        out.push(Finding {
            kind: FindingKind::LowTraffic,
            subjects: ids,
            summary: format!(
                "{label} carries {gb:.0} GB/month, below the {break_even:.0} GB/month that pays for its base fee"
            ),
            evidence,
            monthly_usd: Some(round_cents(current - over_internet)),
        });
    }
}

fn unordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn drift(units: &[Domain], documented: &[DocumentedConnection], out: &mut Vec<Finding>) {
    let mut unit_matched = vec![false; units.len()];
    let mut doc_matched = vec![false; documented.len()];
    // Every name a unit answers to: its key, its connections' ids, their
    // groups and the provider records they were seen as. Indexed, so a
    // 10,000-link estate is matched in one pass, not a scan per document.
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_ends: HashMap<(ConnectionKind, (String, String)), Vec<usize>> = HashMap::new();
    for (u, unit) in units.iter().enumerate() {
        by_name.entry(unit.key.as_str()).or_default().push(u);
        for c in &unit.connections {
            by_name.entry(c.id.as_str()).or_default().push(u);
            for seen in &c.seen_by {
                if let Some((_, id)) = seen.split_once(':') {
                    by_name.entry(id).or_default().push(u);
                }
            }
        }
        if let Some(c) = unit.connections.first() {
            by_ends
                .entry((c.kind, unordered(&c.a, &c.b)))
                .or_default()
                .push(u);
        }
    }
    let claim = |candidates: Option<&Vec<usize>>, unit_matched: &mut Vec<bool>| {
        let u = candidates?.iter().copied().find(|&u| !unit_matched[u])?;
        unit_matched[u] = true;
        Some(u)
    };
    // By id or provider reference first, then by kind and ends.
    for (d, doc) in documented.iter().enumerate() {
        let names = std::iter::once(doc.id.as_str()).chain(doc.reference.as_deref());
        for name in names {
            if claim(by_name.get(name), &mut unit_matched).is_some() {
                doc_matched[d] = true;
                break;
            }
        }
    }
    for (d, doc) in documented.iter().enumerate() {
        if doc_matched[d] {
            continue;
        }
        let key = (doc.kind, unordered(&doc.between[0], &doc.between[1]));
        if claim(by_ends.get(&key), &mut unit_matched).is_some() {
            doc_matched[d] = true;
        }
    }
    for (d, doc) in documented.iter().enumerate() {
        if doc_matched[d] {
            continue;
        }
        out.push(Finding {
            kind: FindingKind::DocumentedMissing,
            subjects: vec![doc.id.clone()],
            summary: format!(
                "documented {} {} ↔ {} was not found by discovery",
                doc.kind.as_str(),
                doc.between[0],
                doc.between[1]
            ),
            evidence: vec![match &doc.reference {
                Some(r) => format!(
                    "no provider reported {r} or a {} between these networks",
                    doc.kind.as_str()
                ),
                None => format!(
                    "no provider reported a {} between these networks",
                    doc.kind.as_str()
                ),
            }],
            monthly_usd: None,
        });
    }
    for (u, unit) in units.iter().enumerate() {
        let Some(first) = unit.connections.first() else {
            continue;
        };
        if unit_matched[u] || first.kind == ConnectionKind::Internet {
            continue;
        }
        out.push(Finding {
            kind: FindingKind::Undocumented,
            subjects: unit.connections.iter().map(|c| c.id.clone()).collect(),
            summary: format!(
                "{} ({} {} ↔ {}) exists but is not in the documented inventory",
                unit.key,
                first.kind.as_str(),
                first.a,
                first.b
            ),
            evidence: vec![format!(
                "seen by {}",
                unit.connections
                    .iter()
                    .flat_map(|c| c.seen_by.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
            monthly_usd: None,
        });
    }
}

fn unresolved(topology: &Topology, out: &mut Vec<Finding>) {
    let mut links: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in &topology.connections {
        for end in [&c.a, &c.b] {
            links.entry(end.as_str()).or_default().push(c.id.as_str());
        }
    }
    for n in &topology.networks {
        if n.provider != UNRESOLVED || n.id == INTERNET {
            continue;
        }
        let ids = links.get(n.id.as_str()).cloned().unwrap_or_default();
        let hint = if n.id.starts_with("peer:") {
            "add the router interface with this address to the on-prem inventory, or enable discovery of the cloud that owns it"
        } else if n.id.starts_with("circuit:") {
            "add the circuit to the on-prem inventory with the data centre it lands in"
        } else {
            "the network is in an account, subscription or project discovery does not read"
        };
        let mut subjects = vec![n.id.clone()];
        subjects.extend(ids.iter().map(|s| s.to_string()));
        out.push(Finding {
            kind: FindingKind::UnresolvedEnd,
            subjects,
            summary: format!(
                "{} is the far end of {} but no inventory has it",
                n.name,
                ids.join(", ")
            ),
            evidence: vec![hint.to_string()],
            monthly_usd: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::model::TopoNetwork;
    use chrono::Utc;

    fn net(id: &str, cloud: Cloud, kind: NetworkKind) -> TopoNetwork {
        TopoNetwork {
            id: id.into(),
            name: id.into(),
            cloud,
            region: "r".into(),
            kind,
            cidrs: vec![],
            provider: "t".into(),
            account: None,
        }
    }

    fn conn(
        id: &str,
        kind: ConnectionKind,
        a: &str,
        b: &str,
        group: Option<&str>,
    ) -> TopoConnection {
        TopoConnection {
            id: id.into(),
            kind,
            a: a.into(),
            b: b.into(),
            status: ConnectionStatus::Up,
            bandwidth_gbps: None,
            latency_ms: None,
            group: group.map(str::to_string),
            name: None,
            seen_by: vec![format!("t:{id}")],
        }
    }

    /// AWS VPC and Azure VNet, each tied to dc1; the VPC also has dc2 behind
    /// it; everyone has an internet uplink.
    fn estate() -> Topology {
        use ConnectionKind::*;
        Topology {
            taken_at: Utc::now(),
            networks: vec![
                net("vpc", Cloud::Aws, NetworkKind::Vpc),
                net("vnet", Cloud::Azure, NetworkKind::Vnet),
                net("dc1", Cloud::Onprem, NetworkKind::Datacenter),
                net("dc2", Cloud::Onprem, NetworkKind::Datacenter),
                net("internet", Cloud::Onprem, NetworkKind::Internet),
            ],
            connections: vec![
                conn("dx", DirectConnect, "vpc", "dc1", None),
                conn("t1", Vpn, "vpc", "dc1", Some("vpn-a")),
                conn("t2", Vpn, "vpc", "dc1", Some("vpn-a")),
                conn("er", Expressroute, "vnet", "dc1", None),
                conn("v1", Vpn, "vpc", "dc2", Some("vpn-b")),
                conn("v2", Vpn, "vpc", "dc2", Some("vpn-b")),
                conn("i-vpc", Internet, "vpc", "internet", None),
                conn("i-vnet", Internet, "vnet", "internet", None),
                conn("i-dc1", Internet, "dc1", "internet", None),
            ],
            services: Vec::new(),
            providers: Default::default(),
        }
    }

    fn usage(traffic: &[(&str, f64)], base: &[(&str, f64)], per_gb: &[(&str, f64)]) -> Usage {
        let map = |v: &[(&str, f64)]| v.iter().map(|(k, x)| (k.to_string(), *x)).collect();
        Usage {
            traffic: Some(map(traffic)),
            base_usd: map(base),
            per_gb_usd: map(per_gb),
            internet_per_gb_usd: 0.09,
            flows: vec![],
        }
    }

    fn run(
        topology: &Topology,
        usage: &Usage,
        documented: Option<&[DocumentedConnection]>,
    ) -> Vec<Finding> {
        findings(&FindingInputs {
            topology,
            documented,
            usage,
        })
    }

    fn of_kind(findings: &[Finding], kind: FindingKind) -> Vec<Vec<String>> {
        findings
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.subjects.clone())
            .collect()
    }

    #[test]
    fn single_circuits_and_transit_sites_are_single_points_of_failure() {
        let topo = estate();
        let found = run(&topo, &Usage::default(), None);
        let spof = of_kind(&found, FindingKind::SinglePointOfFailure);
        // The ER is the VNet's only private link; both VPN tunnels to dc2 are
        // one failure domain; dc1 is the only transit between AWS and Azure.
        // The DX and the VPN beside it back each other up.
        assert!(spof.contains(&vec!["er".to_string()]), "{spof:?}");
        assert!(
            spof.contains(&vec!["v1".to_string(), "v2".to_string()]),
            "{spof:?}"
        );
        assert!(spof.contains(&vec!["dc1".to_string()]), "{spof:?}");
        assert!(
            !spof.iter().any(|s| s.contains(&"dx".to_string())),
            "{spof:?}"
        );
        let er = found.iter().find(|f| f.subjects == ["er"]).unwrap();
        assert!(
            er.evidence
                .iter()
                .any(|e| e.contains("falls back to the internet")),
            "{er:?}"
        );
        let vpn_b = found.iter().find(|f| f.subjects == ["v1", "v2"]).unwrap();
        assert!(
            vpn_b
                .evidence
                .iter()
                .any(|e| e.contains("lose connectivity")),
            "{vpn_b:?}"
        );
    }

    #[test]
    fn a_down_link_is_reported_and_no_longer_counts_as_redundancy() {
        let mut topo = estate();
        topo.connections[0].status = ConnectionStatus::Down; // dx
        let found = run(&topo, &Usage::default(), None);
        assert_eq!(
            of_kind(&found, FindingKind::ConnectionDown),
            [vec!["dx".to_string()]]
        );
        let spof = of_kind(&found, FindingKind::SinglePointOfFailure);
        assert!(
            spof.contains(&vec!["t1".to_string(), "t2".to_string()]),
            "{spof:?}"
        );
    }

    #[test]
    fn idle_standby_is_not_a_zombie_but_an_idle_lone_link_is() {
        let topo = estate();
        let u = usage(
            &[("dx", 50_000.0)],
            &[
                ("dx", 1620.0),
                ("t1", 18.0),
                ("t2", 18.0),
                ("v1", 18.0),
                ("v2", 18.0),
            ],
            &[
                ("dx", 0.02),
                ("t1", 0.09),
                ("t2", 0.09),
                ("v1", 0.09),
                ("v2", 0.09),
            ],
        );
        let found = run(&topo, &u, None);
        let zombies: Vec<&Finding> = found
            .iter()
            .filter(|f| f.kind == FindingKind::Zombie)
            .collect();
        assert_eq!(zombies.len(), 1, "{found:?}");
        assert_eq!(zombies[0].subjects, ["v1", "v2"]);
        assert_eq!(zombies[0].monthly_usd, Some(36.0));
        assert!(
            of_kind(&found, FindingKind::LowTraffic).is_empty(),
            "50 TB pays for the DX"
        );
    }

    #[test]
    fn a_circuit_below_break_even_is_low_traffic_with_the_formula_shown() {
        let topo = estate();
        // $1,620 base, $0.02/GB against $0.09 internet: break-even 1620 / 0.07 = 23,142.9 GB.
        let u = usage(&[("dx", 3_000.0)], &[("dx", 1620.0)], &[("dx", 0.02)]);
        let found = run(&topo, &u, None);
        let low: Vec<&Finding> = found
            .iter()
            .filter(|f| f.kind == FindingKind::LowTraffic)
            .collect();
        assert_eq!(low.len(), 1);
        // full 1620 + 60 = 1680 against 270 over the internet.
        assert_eq!(low[0].monthly_usd, Some(1410.0));
        assert!(
            low[0].summary.contains("23143 GB/month"),
            "{}",
            low[0].summary
        );
        assert!(
            low[0].evidence.iter().any(|e| e.contains("÷")),
            "{:?}",
            low[0].evidence
        );
    }

    #[test]
    fn without_traffic_data_nothing_is_called_a_zombie() {
        let found = run(&estate(), &Usage::default(), None);
        assert!(of_kind(&found, FindingKind::Zombie).is_empty());
    }

    #[test]
    fn internet_flows_with_a_private_path_are_priced() {
        let topo = estate();
        let mut u = usage(&[], &[], &[("dx", 0.02), ("er", 0.0)]);
        u.flows.push(FlowRoute {
            id: "f1".into(),
            from: "vpc".into(),
            to: "vnet".into(),
            monthly_gb: 1000.0,
            path: vec!["i-vpc".into(), "i-vnet".into()],
        });
        let found = run(&topo, &u, None);
        let f = found
            .iter()
            .find(|f| f.kind == FindingKind::InternetRouted)
            .unwrap();
        // 1000 GB × (0.09 − 0.02) on DX + ER.
        assert_eq!(f.monthly_usd, Some(70.0));
    }

    #[test]
    fn drift_matches_by_id_reference_and_ends() {
        let topo = estate();
        let doc =
            |id: &str, kind, a: &str, b: &str, reference: Option<&str>| DocumentedConnection {
                id: id.into(),
                kind,
                between: [a.into(), b.into()],
                reference: reference.map(str::to_string),
            };
        let documented = vec![
            doc("dx", ConnectionKind::DirectConnect, "vpc", "dc1", None),
            doc(
                "backup-vpn",
                ConnectionKind::Vpn,
                "vpc",
                "dc1",
                Some("vpn-a"),
            ),
            doc(
                "er-circuit",
                ConnectionKind::Expressroute,
                "dc1",
                "vnet",
                None,
            ),
            doc("dx-eu", ConnectionKind::DirectConnect, "vpc", "dc2", None),
        ];
        let found = run(&topo, &Usage::default(), Some(&documented));
        assert_eq!(
            of_kind(&found, FindingKind::DocumentedMissing),
            [vec!["dx-eu".to_string()]]
        );
        assert_eq!(
            of_kind(&found, FindingKind::Undocumented),
            [vec!["v1".to_string(), "v2".to_string()]],
            "internet uplinks are not expected in design documents"
        );
    }
}
