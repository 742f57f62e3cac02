//! Candidate paths between two networks: Yen's k shortest simple paths over
//! the estate's links, ranked by latency and, separately, by per-GB price,
//! and merged, so a path that is cheap but slow and one that is fast but dear
//! are both on the table. Pure.
//!
//! A link is a failure domain: the tunnels of one VPN connection (one
//! `group`) are one link with their bandwidth summed, because traffic is
//! spread over them and they fail together. Each option carries its metrics
//! and both cost figures: **marginal** (the links exist and their base fees
//! are paid anyway: per-GB charges only) and **full** (as if the flow paid
//! for the links alone: base fees + per-GB).

use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, Estate, NetworkId};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// Longest path considered, in links.
pub const MAX_LINKS: usize = 5;

/// Parallel connections of one failure domain between two networks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// The group (VPN connection) or the connection's own id.
    pub id: String,
    pub kind: ConnectionKind,
    pub connections: Vec<String>,
    pub a: NetworkId,
    pub b: NetworkId,
    pub latency_ms: f64,
    pub reliability: f64,
    pub bandwidth_gbps: f64,
    pub per_gb_usd: f64,
    pub base_monthly_usd: f64,
    pub status: ConnectionStatus,
    /// GB per month the estate's flows already send over it.
    pub carried_gb: f64,
}

/// The estate's links, grouped, with what the flows already carry.
pub fn links(estate: &Estate) -> Vec<Link> {
    let mut carried: HashMap<&str, f64> = HashMap::new();
    for f in &estate.flows {
        for c in &f.path {
            *carried.entry(c.as_str()).or_default() += f.monthly_gb.0;
        }
    }
    let mut out: Vec<Link> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // A group whose members all join the same two networks is one link (a
    // VPN connection's tunnels); a group spread over several (a transit
    // gateway's attachments, grouped by their gateway) is a failure domain
    // only, each member a link of its own.
    let mut one_link: HashMap<&str, (&crate::domain::Connection, bool)> = HashMap::new();
    for c in &estate.connections {
        if let Some(g) = c.group.as_deref() {
            let (first, same) = one_link.entry(g).or_insert((c, true));
            *same = *same && first.joins(&c.a, &c.b);
        }
    }
    for c in &estate.connections {
        let key = match c.group.as_deref() {
            Some(g) if one_link.get(g).is_some_and(|(_, same)| *same) => g.to_string(),
            _ => c.id.to_string(),
        };
        let gb = carried.get(c.id.as_str()).copied().unwrap_or(0.0);
        let usable = c.status != ConnectionStatus::Down;
        match index.get(&key) {
            Some(&i) => {
                let l = &mut out[i];
                l.connections.push(c.id.to_string());
                if usable {
                    l.bandwidth_gbps += c.bandwidth_gbps.0;
                }
                l.latency_ms = l.latency_ms.min(c.latency_ms.0);
                // The link works while any member does.
                l.reliability = 1.0 - (1.0 - l.reliability) * (1.0 - c.reliability);
                l.base_monthly_usd += c.monthly_base_usd.0;
                l.carried_gb += gb;
                if usable && l.status == ConnectionStatus::Down {
                    l.status = c.status;
                }
            }
            None => {
                index.insert(key.clone(), out.len());
                out.push(Link {
                    id: key,
                    kind: c.kind,
                    connections: vec![c.id.to_string()],
                    a: c.a.clone(),
                    b: c.b.clone(),
                    latency_ms: c.latency_ms.0,
                    reliability: c.reliability,
                    bandwidth_gbps: if usable { c.bandwidth_gbps.0 } else { 0.0 },
                    per_gb_usd: c.cost_per_gb.0,
                    base_monthly_usd: c.monthly_base_usd.0,
                    status: c.status,
                    carried_gb: gb,
                });
            }
        }
    }
    out
}

/// One candidate path and its figures at the queried traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathOption {
    /// Link ids in order (`dx-1`, `er-1`; a VPN connection's group id).
    pub links: Vec<String>,
    pub kinds: Vec<ConnectionKind>,
    /// Networks from source to destination.
    pub hops: Vec<NetworkId>,
    pub latency_ms: f64,
    /// Product of the links' availabilities.
    pub reliability: f64,
    pub bandwidth_gbps: f64,
    /// Bottleneck bandwidth left after what the links already carry.
    pub headroom_gbps: f64,
    /// What one GB costs along the path (egress billed where it leaves a cloud).
    pub per_gb_usd: f64,
    /// Per-GB charges for this flow only: the links exist and are paid for.
    pub marginal_monthly_usd: f64,
    /// Base fees of every link on the path.
    pub base_monthly_usd: f64,
    /// Base fees + per-GB: as if the flow paid for the links alone.
    pub full_monthly_usd: f64,
    pub public: bool,
    /// Links on the path that are degraded (usable, but worth knowing).
    pub degraded: Vec<String>,
}

/// GB per month → average Gbps over a 30-day month.
pub fn gbps_of(monthly_gb: f64) -> f64 {
    monthly_gb * 8.0 / (30.0 * 24.0 * 3600.0)
}

/// Dijkstra's bookkeeping per network: distance and the (link, previous
/// network) it was reached by.
pub(super) type Reached<'a> = (f64, Option<(usize, &'a str)>);

/// A heap entry: distance and network, smallest distance first.
#[derive(PartialEq)]
struct Entry<'a>(f64, &'a str);
impl Eq for Entry<'_> {}
impl PartialOrd for Entry<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then_with(|| other.1.cmp(self.1))
    }
}

/// Links as an adjacency list, and the one shortest-path search every
/// planner here uses (with its own step cost).
pub(super) struct Graph<'l> {
    pub(super) links: &'l [Link],
    /// network → (link index, far end)
    adjacency: HashMap<&'l str, Vec<(usize, &'l str)>>,
}

impl<'l> Graph<'l> {
    /// Every link that is not down; the internet is never transit between
    /// private networks (the end-to-end internet option is added on its own).
    pub(super) fn new(links: &'l [Link]) -> Graph<'l> {
        let mut adjacency: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
        for (i, l) in links.iter().enumerate() {
            if l.status == ConnectionStatus::Down || l.kind == ConnectionKind::Internet {
                continue;
            }
            adjacency
                .entry(l.a.as_str())
                .or_default()
                .push((i, l.b.as_str()));
            adjacency
                .entry(l.b.as_str())
                .or_default()
                .push((i, l.a.as_str()));
        }
        Graph { links, adjacency }
    }

    /// Dijkstra from `from` (to every network, or until `to` is settled).
    /// `step(at, link, next)` is the cost of taking `link` from `at` to
    /// `next`, or None when it may not be taken.
    pub(super) fn search(
        &self,
        from: &'l str,
        to: Option<&str>,
        step: impl Fn(&'l str, usize, &'l str) -> Option<f64>,
    ) -> HashMap<&'l str, Reached<'l>> {
        let mut best: HashMap<&str, Reached> = HashMap::from([(from, (0.0, None))]);
        let mut heap = BinaryHeap::from([Entry(0.0, from)]);
        while let Some(Entry(d, at)) = heap.pop() {
            if Some(at) == to {
                break;
            }
            if best.get(at).is_some_and(|(b, _)| d > *b) {
                continue;
            }
            for &(link, next) in self.adjacency.get(at).into_iter().flatten() {
                let Some(cost) = step(at, link, next) else {
                    continue;
                };
                let nd = d + cost.max(0.0) + 1e-9;
                if best.get(next).is_none_or(|(b, _)| nd < *b) {
                    best.insert(next, (nd, Some((link, at))));
                    heap.push(Entry(nd, next));
                }
            }
        }
        best
    }

    /// Dijkstra from `from` to `to` avoiding `banned_links` and `banned_nodes`.
    fn shortest(
        &self,
        from: &'l str,
        to: &str,
        weight: &dyn Fn(&Link) -> f64,
        banned_links: &HashSet<usize>,
        banned_nodes: &HashSet<&str>,
    ) -> Option<Vec<usize>> {
        let reach = self.search(from, Some(to), |_, link, next| {
            (!banned_links.contains(&link) && !banned_nodes.contains(next))
                .then(|| weight(&self.links[link]))
        });
        path_to(&reach, to)
    }

    fn nodes_of(&self, from: &'l str, path: &[usize]) -> Vec<&'l str> {
        nodes_along(self.links, from, path)
    }

    /// Yen's algorithm: up to `k` loopless paths in order of `weight`.
    fn yen(
        &self,
        from: &'l str,
        to: &str,
        k: usize,
        weight: &dyn Fn(&Link) -> f64,
    ) -> Vec<Vec<usize>> {
        let cost = |p: &[usize]| {
            p.iter()
                .map(|&l| weight(&self.links[l]).max(0.0))
                .sum::<f64>()
        };
        let Some(first) = self.shortest(from, to, weight, &HashSet::new(), &HashSet::new()) else {
            return Vec::new();
        };
        let mut found: Vec<Vec<usize>> = vec![first];
        let mut candidates: Vec<(f64, Vec<usize>)> = Vec::new();
        while found.len() < k {
            let Some(last) = found.last().cloned() else {
                break;
            };
            let last_nodes = self.nodes_of(from, &last);
            for i in 0..last.len() {
                let spur = last_nodes[i];
                let root = &last[..i];
                let mut banned_links = HashSet::new();
                for p in &found {
                    if p.len() > i && p[..i] == *root {
                        banned_links.insert(p[i]);
                    }
                }
                let banned_nodes: HashSet<&str> = last_nodes[..i].iter().copied().collect();
                if let Some(spur_path) =
                    self.shortest(spur, to, weight, &banned_links, &banned_nodes)
                {
                    let mut total = root.to_vec();
                    total.extend(spur_path);
                    if total.len() <= MAX_LINKS
                        && !found.contains(&total)
                        && !candidates.iter().any(|(_, c)| *c == total)
                    {
                        candidates.push((cost(&total), total));
                    }
                }
            }
            if candidates.is_empty() {
                break;
            }
            candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.len().cmp(&b.1.len())));
            found.push(candidates.remove(0).1);
        }
        found
    }
}

/// The links (in order) by which a search reached `to`.
pub(super) fn path_to(reach: &HashMap<&str, Reached>, to: &str) -> Option<Vec<usize>> {
    reach.get(to)?;
    let mut path = Vec::new();
    let mut at = to;
    while let Some((_, Some((link, prev)))) = reach.get(at) {
        path.push(*link);
        at = prev;
    }
    path.reverse();
    Some(path)
}

/// The networks a path visits, from `from`.
pub(super) fn nodes_along<'l>(links: &'l [Link], from: &'l str, path: &[usize]) -> Vec<&'l str> {
    let mut nodes = vec![from];
    let mut at = from;
    for &l in path {
        let link = &links[l];
        at = if link.a.as_str() == at {
            link.b.as_str()
        } else {
            link.a.as_str()
        };
        nodes.push(at);
    }
    nodes
}

/// Per-GB price of a path walked from `from`: egress is billed by the cloud
/// the traffic leaves (ingress is free), so a link entered from a data centre
/// or from the internet costs nothing, and an internet path between two clouds
/// is charged once.
fn per_gb_along(estate: &Estate, links: &[Link], from: &str, path: &[usize]) -> f64 {
    let mut at = from;
    let mut total = 0.0;
    for &l in path {
        let link = &links[l];
        let leaving_cloud = estate
            .networks
            .iter()
            .find(|n| n.id.as_str() == at)
            .is_some_and(|n| n.cloud != Cloud::Onprem);
        if leaving_cloud {
            total += link.per_gb_usd;
        }
        at = if link.a.as_str() == at {
            link.b.as_str()
        } else {
            link.a.as_str()
        };
    }
    total
}

/// Up to `k` paths by latency and `k` by price between two networks, merged
/// and described at `traffic_gb` per month.
pub fn candidates(
    estate: &Estate,
    links: &[Link],
    from: &NetworkId,
    to: &NetworkId,
    traffic_gb: f64,
    k: usize,
) -> Vec<PathOption> {
    let graph = Graph::new(links);
    let by_latency = |l: &Link| l.latency_ms;
    let by_price = |l: &Link| l.per_gb_usd + l.base_monthly_usd / 1e6;
    let mut seen: Vec<Vec<usize>> = Vec::new();
    for weight in [&by_latency as &dyn Fn(&Link) -> f64, &by_price] {
        for p in graph.yen(from.as_str(), to.as_str(), k, weight) {
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
    }
    // Over the internet: out through the source's uplink, in through the
    // destination's.
    let uplink = |network: &NetworkId| {
        links.iter().position(|l| {
            l.kind == ConnectionKind::Internet
                && l.status != ConnectionStatus::Down
                && (&l.a == network || &l.b == network)
        })
    };
    if let (Some(out), Some(into)) = (uplink(from), uplink(to)) {
        seen.push(vec![out, into]);
    }
    seen.into_iter()
        .map(|p| {
            let per_gb = per_gb_along(estate, links, from.as_str(), &p);
            let base: f64 = p.iter().map(|&l| links[l].base_monthly_usd).sum();
            let bandwidth = p
                .iter()
                .map(|&l| links[l].bandwidth_gbps)
                .fold(f64::INFINITY, f64::min);
            let headroom = p
                .iter()
                .map(|&l| links[l].bandwidth_gbps - gbps_of(links[l].carried_gb))
                .fold(f64::INFINITY, f64::min);
            PathOption {
                links: p.iter().map(|&l| links[l].id.clone()).collect(),
                kinds: p.iter().map(|&l| links[l].kind).collect(),
                hops: nodes_along(links, from.as_str(), &p)
                    .into_iter()
                    .map(NetworkId::new)
                    .collect(),
                latency_ms: p.iter().map(|&l| links[l].latency_ms).sum(),
                reliability: p.iter().map(|&l| links[l].reliability).product(),
                bandwidth_gbps: bandwidth,
                headroom_gbps: headroom,
                per_gb_usd: per_gb,
                marginal_monthly_usd: per_gb * traffic_gb,
                base_monthly_usd: base,
                full_monthly_usd: base + per_gb * traffic_gb,
                public: p.iter().any(|&l| links[l].kind == ConnectionKind::Internet),
                degraded: p
                    .iter()
                    .filter(|&&l| links[l].status == ConnectionStatus::Degraded)
                    .map(|&l| links[l].id.clone())
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::lab::EMBEDDED_ESTATE;

    fn globalcart() -> Estate {
        Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap()
    }

    #[test]
    fn vpn_tunnels_are_one_link_with_their_bandwidth_summed() {
        let estate = globalcart();
        let links = links(&estate);
        let vpn = links.iter().find(|l| l.id == "vpn-aws-azure").unwrap();
        assert_eq!(vpn.connections, ["vpn-aws-azure-t1", "vpn-aws-azure-t2"]);
        assert_eq!(vpn.bandwidth_gbps, 2.5);
        assert!(
            (vpn.reliability - (1.0 - 0.001f64.powi(2))).abs() < 1e-12 || vpn.reliability > 0.999
        );
    }

    #[test]
    fn aws_to_azure_offers_the_vpn_the_circuits_via_dc1_and_the_internet() {
        let estate = globalcart();
        let links = links(&estate);
        let options = candidates(
            &estate,
            &links,
            &NetworkId::new("aws-use1-prod"),
            &NetworkId::new("azure-eus-prod"),
            800.0,
            8,
        );
        let find = |ids: &[&str]| {
            options.iter().find(|o| o.links == ids).unwrap_or_else(|| {
                panic!(
                    "{ids:?} not among {:#?}",
                    options.iter().map(|o| &o.links).collect::<Vec<_>>()
                )
            })
        };
        let vpn = find(&["vpn-aws-azure"]);
        let circuits = find(&["dx-1", "er-1"]);
        let internet = find(&["inet-aws-use1-prod", "inet-azure-eus-prod"]);
        assert!(internet.public && !vpn.public && !circuits.public);
        assert_eq!(circuits.hops.len(), 3);
        // Egress billed once where traffic leaves AWS.
        assert!((internet.per_gb_usd - 0.09).abs() < 1e-12);
        assert!((circuits.per_gb_usd - 0.02).abs() < 1e-12, "{circuits:?}");
        // Marginal vs full.
        assert!((circuits.marginal_monthly_usd - 16.0).abs() < 1e-9);
        assert!((circuits.full_monthly_usd - (1620.0 + 1748.0 + 16.0)).abs() < 1e-9);
        // Paths are simple and no longer than the bound.
        for o in &options {
            let unique: HashSet<_> = o.hops.iter().collect();
            assert_eq!(unique.len(), o.hops.len(), "{o:?}");
            assert!(o.links.len() <= MAX_LINKS);
        }
    }

    #[test]
    fn a_down_link_is_not_a_candidate() {
        let mut estate = globalcart();
        for c in estate
            .connections
            .iter_mut()
            .filter(|c| c.id.as_str() == "er-1")
        {
            c.status = ConnectionStatus::Down;
        }
        let links = links(&estate);
        let options = candidates(
            &estate,
            &links,
            &NetworkId::new("aws-use1-prod"),
            &NetworkId::new("azure-eus-prod"),
            800.0,
            8,
        );
        assert!(!options
            .iter()
            .any(|o| o.links.contains(&"er-1".to_string())));
        assert!(!options.is_empty());
    }
}
