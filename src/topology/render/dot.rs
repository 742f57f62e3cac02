//! Graphviz DOT: one cluster per cloud with one per region inside, networks
//! labelled name / region / CIDR / id, connections labelled kind and bandwidth
//! and styled by status. All provider text goes into HTML-like labels
//! (`label=<…>`, XML-escaped); node ids are our own (`n0`, `n1`…), because a
//! DOT quoted string cannot end in a backslash and provider ids might.

use super::svg::xml;
use crate::domain::{Cloud, ConnectionStatus, NetworkKind};
use crate::topology::{TopoConnection, TopoNetwork, Topology};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

fn cloud_colour(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Aws => "#FF9900",
        Cloud::Azure => "#0078D4",
        Cloud::Gcp => "#34A853",
        Cloud::Onprem => "#6B7280",
    }
}

/// The topology as an undirected Graphviz graph; deterministic.
pub fn dot(topology: &Topology) -> String {
    let mut out = String::new();
    out.push_str("graph topology {\n");
    let _ = writeln!(
        out,
        "  graph [newrank=true, charset=\"UTF-8\", rankdir=LR, compound=true, fontname=\"DejaVu Sans\", labelloc=t, label=<{}>];",
        label_lines(&[format!(
            "Network topology · {} · {} networks, {} connections",
            topology.taken_at.format("%Y-%m-%d %H:%M UTC"),
            topology.networks.len(),
            topology.connections.len()
        )])
    );
    out.push_str("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#FFFFFF\", fontname=\"DejaVu Sans\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"DejaVu Sans\", fontsize=9];\n");

    let mut by_cloud: BTreeMap<Cloud, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    let mut outside = Vec::new();
    for (i, n) in topology.networks.iter().enumerate() {
        if n.kind == NetworkKind::Internet {
            outside.push(i);
        } else {
            by_cloud
                .entry(n.cloud)
                .or_default()
                .entry(n.region.as_str())
                .or_default()
                .push(i);
        }
    }
    for (cloud, regions) in &by_cloud {
        let colour = cloud_colour(*cloud);
        let _ = writeln!(out, "  subgraph cluster_{cloud} {{");
        let _ = writeln!(
            out,
            "    label=<<b>{cloud}</b>>; color=\"{colour}\"; penwidth=2; fontcolor=\"{colour}\";"
        );
        for (r, (region, members)) in regions.iter().enumerate() {
            // Our own cluster name: region names come from providers.
            let _ = writeln!(out, "    subgraph cluster_{cloud}_{r} {{");
            let _ = writeln!(
                out,
                "      label=<{}>; color=\"{colour}\"; style=dashed; penwidth=1;",
                label_lines(&[region.to_string()])
            );
            for &i in members {
                let _ = writeln!(out, "      {}", node(i, &topology.networks[i]));
            }
            out.push_str("    }\n");
        }
        out.push_str("  }\n");
    }
    for &i in &outside {
        let _ = writeln!(out, "  {}", node(i, &topology.networks[i]));
    }

    // Each network id to its first node; ends nobody reported get a node of
    // their own rather than vanishing.
    let mut ids: HashMap<&str, String> = HashMap::new();
    for (i, n) in topology.networks.iter().enumerate() {
        ids.entry(n.id.as_str()).or_insert_with(|| format!("n{i}"));
    }
    let mut unknown = 0;
    for c in &topology.connections {
        for end in [&c.a, &c.b] {
            if !ids.contains_key(end.as_str()) {
                let name = format!("u{unknown}");
                unknown += 1;
                let _ = writeln!(
                    out,
                    "  {name} [shape=box, style=dashed, label=<{}>];",
                    label_lines(&["unknown network".to_string(), end.clone()])
                );
                ids.insert(end.as_str(), name);
            }
        }
    }
    for c in &topology.connections {
        let (a, b) = (&ids[c.a.as_str()], &ids[c.b.as_str()]);
        let _ = writeln!(out, "  {a} -- {b} [{}];", edge_attributes(c));
    }
    out.push_str("}\n");
    out
}

fn node(i: usize, n: &TopoNetwork) -> String {
    let mut lines = vec![n.name.clone(), n.region.clone()];
    if !n.cidrs.is_empty() {
        lines.push(n.cidrs.join(", "));
    }
    let (shape, fill, font) = match n.kind {
        NetworkKind::TransitHub => ("hexagon", cloud_colour(n.cloud), "#FFFFFF"),
        NetworkKind::Internet => ("ellipse", "#E6EAF5", "#000000"),
        NetworkKind::Datacenter => ("box3d", "#F2F3F5", "#000000"),
        NetworkKind::Vpc | NetworkKind::Vnet | NetworkKind::GcpNetwork => {
            ("box", "#FFFFFF", "#000000")
        }
    };
    format!(
        "n{i} [shape={shape}, fillcolor=\"{fill}\", fontcolor=\"{font}\", color=\"{}\", label=<{}<br/><font point-size=\"8\">{}</font>>];",
        cloud_colour(n.cloud),
        label_lines(&lines),
        xml_line(&n.id)
    )
}

fn edge_attributes(c: &TopoConnection) -> String {
    let (colour, style, width) = match c.status {
        ConnectionStatus::Up => ("#2F855A", "solid", 1.2),
        ConnectionStatus::Degraded => ("#F08C00", "dashed", 2.0),
        ConnectionStatus::Down => ("#D62828", "dotted", 2.0),
    };
    let mut lines = vec![c.kind.as_str().to_string()];
    if let Some(g) = c.bandwidth_gbps.filter(|g| g.is_finite()) {
        lines.push(format!("{g} Gbps"));
    }
    format!(
        "color=\"{colour}\", fontcolor=\"{colour}\", style={style}, penwidth={width}, label=<{}<br/><font point-size=\"7\">{}</font>>",
        label_lines(&lines),
        xml_line(&c.id)
    )
}

/// Lines of an HTML-like label, each escaped; newlines inside a line (from a
/// provider's name) become breaks too.
fn label_lines(lines: &[String]) -> String {
    lines
        .iter()
        .flat_map(|l| l.lines())
        .map(xml_line)
        .collect::<Vec<_>>()
        .join("<br/>")
}

/// One line of label text: XML-escaped, without line breaks.
fn xml_line(text: &str) -> String {
    xml(&text.replace(['\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::render::fixtures;

    fn hostile() -> Topology {
        let n = fixtures::network(
            "vpc-\"x\\",
            "prod \"core\" <b>&\nline two\\",
            Cloud::Aws,
            "us-east-1\"",
            NetworkKind::Vpc,
        );
        let hub = fixtures::network(
            "tgw\\",
            "東京 hub 🚀",
            Cloud::Aws,
            "us-east-1\"",
            NetworkKind::TransitHub,
        );
        let c = fixtures::connection("pcx-\"}", &n.id, &hub.id, ConnectionStatus::Degraded);
        let dangling = fixtures::connection("vpn-9", &n.id, "cgw-\\\"gone", ConnectionStatus::Down);
        fixtures::topology(vec![n, hub], vec![c, dangling])
    }

    /// The checks Graphviz's lexer makes: every quoted string closes, every
    /// HTML label's angle brackets balance, braces balance.
    fn assert_lexes(text: &str) {
        let (mut depth, mut braces) = (0i32, 0i32);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if depth == 0 => loop {
                    match chars.next() {
                        Some('\\') => {
                            chars.next();
                        }
                        Some('"') => break,
                        Some('\n') | None => panic!("unterminated string in\n{text}"),
                        Some(_) => {}
                    }
                },
                '<' => depth += 1,
                '>' => {
                    depth -= 1;
                    assert!(depth >= 0, "stray > in\n{text}");
                }
                '{' if depth == 0 => braces += 1,
                '}' if depth == 0 => braces -= 1,
                '\n' => assert_eq!(depth, 0, "label spans lines in\n{text}"),
                _ => {}
            }
        }
        assert_eq!((depth, braces), (0, 0));
    }

    #[test]
    fn hostile_provider_text_is_escaped() {
        let text = dot(&hostile());
        assert_lexes(&text);
        assert!(
            text.contains("prod &quot;core&quot; &lt;b&gt;&amp;<br/>line two\\"),
            "{text}"
        );
        assert!(text.contains("東京 hub 🚀"));
        assert!(text.contains("vpc-&quot;x\\"));
        assert!(
            text.contains("cgw-\\&quot;gone"),
            "the dangling end gets a node: {text}"
        );
        assert!(
            text.contains("subgraph cluster_aws {") && text.contains("subgraph cluster_aws_0 {")
        );
        assert!(text.contains("n0 -- n1 [color=\"#F08C00\", fontcolor=\"#F08C00\", style=dashed"));
        assert!(text.contains("n0 -- u0 [color=\"#D62828\""));
    }

    #[test]
    fn every_network_and_connection_of_200_appears() {
        let topology = fixtures::large();
        let text = dot(&topology);
        assert_lexes(&text);
        for n in &topology.networks {
            assert!(
                text.contains(&format!("<font point-size=\"8\">{}</font>", xml(&n.id))),
                "{}",
                n.id
            );
        }
        for c in &topology.connections {
            assert!(
                text.contains(&format!(">{}</font>", xml(&c.id))),
                "{}",
                c.id
            );
        }
        assert_eq!(text.matches(" -- ").count(), 400);
        assert!(text.contains("subgraph cluster_onprem {") && text.contains("shape=hexagon"));
    }
}
