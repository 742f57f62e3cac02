//! The topology as a petgraph multigraph (networks are nodes, connections are
//! edges) and the cut analysis findings are made of: which failure domains are
//! bridges (the only link between two parts of the estate) and which networks
//! are articulation points (a site whose loss splits the estate). Pure.
//!
//! Cuts are computed over failure domains, not single connections: the two
//! tunnels of one VPN connection (one `group`) fail together, so they count as
//! one edge, while a DX and a VPN between the same two networks are two. The
//! depth-first search is iterative (10,000-node estates must not exhaust a
//! worker thread's stack) and skips the edge it arrived by, not every edge to
//! the parent, so parallel domains are never reported as bridges.

use super::model::{TopoConnection, Topology};
use petgraph::graph::{EdgeIndex, NodeIndex, UnGraph};
use petgraph::visit::EdgeRef;
use std::collections::HashMap;
use std::ops::Range;

/// Networks as nodes (weight: index into `Topology::networks`), connections as
/// edges (weight: index into `Topology::connections`).
pub struct TopologyGraph<'t> {
    pub topology: &'t Topology,
    pub graph: UnGraph<usize, usize>,
    nodes: HashMap<&'t str, NodeIndex>,
}

impl<'t> TopologyGraph<'t> {
    /// Every network, and the connections `include` accepts.
    pub fn build(
        topology: &'t Topology,
        include: impl Fn(&TopoConnection) -> bool,
    ) -> TopologyGraph<'t> {
        let mut graph = UnGraph::with_capacity(topology.networks.len(), topology.connections.len());
        let mut nodes = HashMap::with_capacity(topology.networks.len());
        for (i, n) in topology.networks.iter().enumerate() {
            nodes.insert(n.id.as_str(), graph.add_node(i));
        }
        for (i, c) in topology.connections.iter().enumerate() {
            if !include(c) {
                continue;
            }
            if let (Some(&a), Some(&b)) = (nodes.get(c.a.as_str()), nodes.get(c.b.as_str())) {
                graph.add_edge(a, b, i);
            }
        }
        TopologyGraph {
            topology,
            graph,
            nodes,
        }
    }

    pub fn node(&self, network_id: &str) -> Option<NodeIndex> {
        self.nodes.get(network_id).copied()
    }

    pub fn network_index(&self, node: NodeIndex) -> usize {
        self.graph[node]
    }

    /// Whether a path joins the two networks.
    pub fn connected(&self, a: &str, b: &str) -> bool {
        match (self.node(a), self.node(b)) {
            (Some(x), Some(y)) => petgraph::algo::has_path_connecting(&self.graph, x, y, None),
            _ => false,
        }
    }

    /// Bridges and articulation points over failure domains.
    pub fn cuts(&self) -> Cuts {
        // Collapse each failure domain between a pair of networks into one edge.
        let mut domains: HashMap<(NodeIndex, NodeIndex, &str), EdgeIndex> = HashMap::new();
        let mut domain_graph: UnGraph<(), Vec<usize>> =
            UnGraph::with_capacity(self.graph.node_count(), self.graph.edge_count());
        for _ in 0..self.graph.node_count() {
            domain_graph.add_node(());
        }
        for e in self.graph.edge_references() {
            let c = &self.topology.connections[*e.weight()];
            let (a, b) = if e.source() <= e.target() {
                (e.source(), e.target())
            } else {
                (e.target(), e.source())
            };
            let domain = c.group.as_deref().unwrap_or(c.id.as_str());
            match domains.get(&(a, b, domain)) {
                Some(&d) => domain_graph[d].push(*e.weight()),
                None => {
                    let d = domain_graph.add_edge(a, b, vec![*e.weight()]);
                    domains.insert((a, b, domain), d);
                }
            }
        }
        tarjan(&domain_graph)
    }
}

/// The result of the cut analysis. Node indexes are those of
/// `TopologyGraph::graph`. Sides and pieces are ranges of `order` (the DFS
/// order, in which every subtree is contiguous), so a 10,000-node estate with
/// thousands of bridges costs no more than one pass to describe.
#[derive(Debug, Default)]
pub struct Cuts {
    /// Nodes in depth-first order.
    pub order: Vec<NodeIndex>,
    /// Failure domains whose loss splits a component.
    pub bridges: Vec<Bridge>,
    /// Nodes whose loss splits a component, with the pieces it leaves.
    pub articulation_points: Vec<Articulation>,
}

#[derive(Debug)]
pub struct Bridge {
    /// The connections (indexes into `Topology::connections`) of the domain.
    pub connections: Vec<usize>,
    /// The side cut off (a subtree: one range of `order`).
    pub cut_off: Range<usize>,
    /// The whole component the bridge is in; the other side is this minus `cut_off`.
    pub component: Range<usize>,
}

#[derive(Debug)]
pub struct Articulation {
    pub node: NodeIndex,
    /// The pieces the component falls into without this node, each a union
    /// of ranges of `order`.
    pub pieces: Vec<Vec<Range<usize>>>,
}

impl Cuts {
    /// The nodes of a union of ranges.
    pub fn nodes<'a>(&'a self, ranges: &'a [Range<usize>]) -> impl Iterator<Item = NodeIndex> + 'a {
        ranges
            .iter()
            .flat_map(|r| self.order[r.clone()].iter().copied())
    }
}

/// `outer` without the `holes` (sorted, disjoint, inside `outer`).
fn subtract(outer: Range<usize>, holes: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut at = outer.start;
    for h in holes {
        if h.start > at {
            out.push(at..h.start);
        }
        at = at.max(h.end);
    }
    if at < outer.end {
        out.push(at..outer.end);
    }
    out
}

/// Iterative Tarjan over an undirected multigraph.
fn tarjan(graph: &UnGraph<(), Vec<usize>>) -> Cuts {
    const UNSEEN: usize = usize::MAX;
    let n = graph.node_count();
    let mut disc = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut size = vec![1usize; n];
    let mut order: Vec<NodeIndex> = Vec::with_capacity(n);
    let mut component_of = vec![0..0; n];
    struct Frame {
        node: NodeIndex,
        via: Option<EdgeIndex>,
        edges: Vec<(EdgeIndex, NodeIndex)>,
        next: usize,
    }
    let mut bridge_edges: Vec<(EdgeIndex, NodeIndex)> = Vec::new(); // (edge, child)
    let mut separating: HashMap<NodeIndex, Vec<NodeIndex>> = HashMap::new(); // parent → children
    let neighbours = |v: NodeIndex| -> Vec<(EdgeIndex, NodeIndex)> {
        graph.edges(v).map(|e| (e.id(), e.target())).collect()
    };
    for root in graph.node_indices() {
        if disc[root.index()] != UNSEEN {
            continue;
        }
        let start = order.len();
        disc[root.index()] = order.len();
        low[root.index()] = order.len();
        order.push(root);
        let mut stack = vec![Frame {
            node: root,
            via: None,
            edges: neighbours(root),
            next: 0,
        }];
        while let Some(top) = stack.last_mut() {
            if top.next < top.edges.len() {
                let (edge, to) = top.edges[top.next];
                top.next += 1;
                if Some(edge) == top.via {
                    continue;
                }
                let v = top.node.index();
                if disc[to.index()] == UNSEEN {
                    disc[to.index()] = order.len();
                    low[to.index()] = order.len();
                    order.push(to);
                    stack.push(Frame {
                        node: to,
                        via: Some(edge),
                        edges: neighbours(to),
                        next: 0,
                    });
                } else {
                    low[v] = low[v].min(disc[to.index()]);
                }
            } else if let Some(done) = stack.pop() {
                if let Some(parent) = stack.last() {
                    let (p, c) = (parent.node.index(), done.node.index());
                    low[p] = low[p].min(low[c]);
                    size[p] += size[c];
                    if low[c] > disc[p] {
                        if let Some(edge) = done.via {
                            bridge_edges.push((edge, done.node));
                        }
                    }
                    if low[c] >= disc[p] {
                        separating.entry(parent.node).or_default().push(done.node);
                    }
                }
            }
        }
        for &v in &order[start..] {
            component_of[v.index()] = start..order.len();
        }
    }

    let subtree = |v: NodeIndex| disc[v.index()]..disc[v.index()] + size[v.index()];
    let bridges = bridge_edges
        .iter()
        .map(|&(edge, child)| Bridge {
            connections: graph[edge].clone(),
            cut_off: subtree(child),
            component: component_of[child.index()].clone(),
        })
        .collect();

    // A root is an articulation point with two or more separated children;
    // any other node with at least one.
    let mut articulation_points = Vec::new();
    for (node, mut children) in separating {
        let component = component_of[node.index()].clone();
        let is_root = disc[node.index()] == component.start;
        if is_root && children.len() < 2 {
            continue;
        }
        children.sort_by_key(|c| disc[c.index()]);
        let mut pieces: Vec<Vec<Range<usize>>> =
            children.iter().map(|&c| vec![subtree(c)]).collect();
        let own = disc[node.index()];
        let holes: Vec<Range<usize>> = std::iter::once(own..own + 1)
            .chain(children.iter().map(|&c| subtree(c)))
            .collect();
        let rest = subtract(component, &holes);
        if !rest.is_empty() {
            pieces.push(rest);
        }
        articulation_points.push(Articulation { node, pieces });
    }
    articulation_points.sort_by_key(|a| a.node);
    Cuts {
        order,
        bridges,
        articulation_points,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, NetworkKind};
    use crate::topology::model::{TopoNetwork, Topology};
    use chrono::Utc;
    use std::collections::BTreeMap;

    pub(crate) fn topology(
        networks: &[&str],
        links: &[(&str, &str, &str, Option<&str>)],
    ) -> Topology {
        Topology {
            taken_at: Utc::now(),
            networks: networks
                .iter()
                .map(|id| TopoNetwork {
                    id: id.to_string(),
                    name: id.to_string(),
                    cloud: Cloud::Onprem,
                    region: "r".into(),
                    kind: NetworkKind::Datacenter,
                    cidrs: vec![],
                    provider: "t".into(),
                    account: None,
                })
                .collect(),
            connections: links
                .iter()
                .map(|(id, a, b, group)| TopoConnection {
                    id: id.to_string(),
                    kind: ConnectionKind::Vpn,
                    a: a.to_string(),
                    b: b.to_string(),
                    status: ConnectionStatus::Up,
                    bandwidth_gbps: None,
                    latency_ms: None,
                    group: group.map(str::to_string),
                    name: None,
                    seen_by: vec![],
                })
                .collect(),
            services: Vec::new(),
            providers: BTreeMap::new(),
        }
    }

    fn names(topo: &Topology, g: &TopologyGraph, nodes: &[NodeIndex]) -> Vec<String> {
        let mut v: Vec<String> = nodes
            .iter()
            .map(|&n| topo.networks[g.network_index(n)].id.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn two_tunnels_of_one_vpn_are_one_failure_domain_but_a_dx_beside_it_is_another() {
        // a —(t1,t2 of vpn-1)— b —(x)— c
        let topo = topology(
            &["a", "b", "c"],
            &[
                ("t1", "a", "b", Some("vpn-1")),
                ("t2", "a", "b", Some("vpn-1")),
                ("x", "b", "c", None),
            ],
        );
        let g = TopologyGraph::build(&topo, |_| true);
        let cuts = g.cuts();
        assert_eq!(cuts.bridges.len(), 2, "{cuts:?}");
        let with_dx = topology(
            &["a", "b", "c"],
            &[
                ("t1", "a", "b", Some("vpn-1")),
                ("t2", "a", "b", Some("vpn-1")),
                ("dx", "a", "b", None),
                ("x", "b", "c", None),
            ],
        );
        let g = TopologyGraph::build(&with_dx, |_| true);
        let cuts = g.cuts();
        assert_eq!(cuts.bridges.len(), 1);
        let bridge = &cuts.bridges[0];
        assert_eq!(bridge.component.len(), 3);
        let cut_off: Vec<NodeIndex> = cuts.nodes(std::slice::from_ref(&bridge.cut_off)).collect();
        let cut_off = names(&with_dx, &g, &cut_off);
        assert!(cut_off == ["c"] || cut_off == ["a", "b"], "{cut_off:?}");
        assert_eq!(with_dx.connections[cuts.bridges[0].connections[0]].id, "x");
        let ap: Vec<String> = cuts
            .articulation_points
            .iter()
            .map(|a| with_dx.networks[g.network_index(a.node)].id.clone())
            .collect();
        assert_eq!(ap, ["b"]);
        assert_eq!(cuts.articulation_points[0].pieces.len(), 2);
    }

    #[test]
    fn a_ring_has_no_cuts_and_a_star_centre_splits_into_every_leaf() {
        let ring = topology(
            &["a", "b", "c", "d"],
            &[
                ("1", "a", "b", None),
                ("2", "b", "c", None),
                ("3", "c", "d", None),
                ("4", "d", "a", None),
            ],
        );
        let g = TopologyGraph::build(&ring, |_| true);
        let cuts = g.cuts();
        assert!(cuts.bridges.is_empty() && cuts.articulation_points.is_empty());

        let star = topology(
            &["hub", "x", "y", "z"],
            &[
                ("1", "hub", "x", None),
                ("2", "hub", "y", None),
                ("3", "z", "hub", None),
            ],
        );
        let g = TopologyGraph::build(&star, |_| true);
        let cuts = g.cuts();
        assert_eq!(cuts.bridges.len(), 3);
        assert_eq!(cuts.articulation_points.len(), 1);
        let mut pieces: Vec<Vec<String>> = cuts.articulation_points[0]
            .pieces
            .iter()
            .map(|p| names(&star, &g, &cuts.nodes(p).collect::<Vec<_>>()))
            .collect();
        pieces.sort();
        assert_eq!(pieces, [vec!["x"], vec!["y"], vec!["z"]]);
    }

    #[test]
    fn a_long_chain_does_not_exhaust_the_stack() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("n{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let links: Vec<(String, String, String)> = (1..ids.len())
            .map(|i| (format!("l{i}"), ids[i - 1].clone(), ids[i].clone()))
            .collect();
        let link_refs: Vec<(&str, &str, &str, Option<&str>)> = links
            .iter()
            .map(|(i, a, b)| (i.as_str(), a.as_str(), b.as_str(), None))
            .collect();
        let topo = topology(&refs, &link_refs);
        let g = TopologyGraph::build(&topo, |_| true);
        // A thread with a small stack: recursion would overflow it.
        let bridges = std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(s, || g.cuts().bridges.len())
                .unwrap()
                .join()
                .unwrap()
        });
        assert_eq!(bridges, 19_999);
    }
}
