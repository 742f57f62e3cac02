//! The SVG picture: the layout's boxes colour-coded by cloud, connections
//! coloured by status. Edges inside a cloud are light straight lines; edges
//! between clouds leave their cloud's box through one port per cloud pair and
//! run as a ribbon of parallel curves through the gutter, labelled with the
//! bundle's counts, so 400 connections stay a handful of ribbons rather than a
//! hairball. Details are in each element's `<title>` (a tooltip in browsers).

use super::layout::{layout, Group, Layout, NodeBox, Rect, CLOUD_TITLE, HEADER_H, REGION_TITLE};
use super::FONT_FAMILY;
use crate::domain::{Cloud, ConnectionStatus, NetworkKind};
use crate::topology::{TopoConnection, TopoNetwork, Topology};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

struct Palette {
    stroke: &'static str,
    fill: &'static str,
    label: &'static str,
}

fn palette(group: Group) -> Palette {
    match group {
        Group::Cloud(Cloud::Aws) => Palette {
            stroke: "#FF9900",
            fill: "#FFF5E6",
            label: "AWS",
        },
        Group::Cloud(Cloud::Azure) => Palette {
            stroke: "#0078D4",
            fill: "#EAF3FB",
            label: "Azure",
        },
        Group::Cloud(Cloud::Gcp) => Palette {
            stroke: "#34A853",
            fill: "#EDF7F0",
            label: "GCP",
        },
        Group::Cloud(Cloud::Onprem) => Palette {
            stroke: "#6B7280",
            fill: "#F2F3F5",
            label: "On-prem",
        },
        Group::Internet => Palette {
            stroke: "#4B5B8C",
            fill: "#E6EAF5",
            label: "Internet",
        },
    }
}

fn status_style(status: ConnectionStatus) -> (&'static str, &'static str, &'static str) {
    // colour, dash pattern, word
    match status {
        ConnectionStatus::Up => ("#2F855A", "", "up"),
        ConnectionStatus::Degraded => ("#F08C00", "7 4", "degraded"),
        ConnectionStatus::Down => ("#D62828", "2 3", "down"),
    }
}

/// Draws `layout(topology)`; deterministic.
pub fn svg(topology: &Topology) -> String {
    let drawn = layout(topology);
    let mut out = String::with_capacity(
        2048 + topology.networks.len() * 700 + topology.connections.len() * 400,
    );
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}, sans-serif">"##,
        w = drawn.width,
        h = drawn.height
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#FFFFFF"/>"##
    );
    header(&mut out, topology, &drawn);
    boxes(&mut out, &drawn);
    let bundles = edges(&mut out, topology, &drawn);
    nodes(&mut out, topology, &drawn);
    bundle_labels(&mut out, &drawn, &bundles);
    out.push_str("</svg>\n");
    out
}

fn header(out: &mut String, topology: &Topology, drawn: &Layout) {
    let count = |s| {
        topology
            .connections
            .iter()
            .filter(|c| c.status == s)
            .count()
    };
    let _ = writeln!(
        out,
        r##"<text x="30" y="32" font-size="20" fill="#111827">Network topology · {}</text>"##,
        topology.taken_at.format("%Y-%m-%d %H:%M UTC")
    );
    let clouds = drawn.clouds.len();
    let _ = writeln!(
        out,
        r##"<text x="30" y="52" font-size="13" fill="#374151">{} networks in {} cloud{} · {} connections: {} up, {} degraded, {} down</text>"##,
        topology.networks.len(),
        clouds,
        if clouds == 1 { "" } else { "s" },
        topology.connections.len(),
        count(ConnectionStatus::Up),
        count(ConnectionStatus::Degraded),
        count(ConnectionStatus::Down),
    );
    let providers: Vec<String> = topology
        .providers
        .iter()
        .map(|(name, outcome)| match outcome {
            crate::topology::ProviderOutcome::Partial { reasons, .. } => {
                format!(
                    "{name} partial ({} problem{})",
                    reasons.len(),
                    if reasons.len() == 1 { "" } else { "s" }
                )
            }
            other => format!("{name} {}", other.label()),
        })
        .collect();
    if !providers.is_empty() {
        let line = fit(
            &format!("Providers: {}", providers.join(" · ")),
            drawn.width - 60.0,
            12.0,
        );
        let _ = writeln!(
            out,
            r##"<text x="30" y="70" font-size="12" fill="#4B5563">{}</text>"##,
            xml(&line)
        );
    }
    // Legend: clouds, hub, then statuses.
    let y = HEADER_H - 8.0;
    let mut x = 30.0;
    for group in [
        Group::Cloud(Cloud::Aws),
        Group::Cloud(Cloud::Azure),
        Group::Cloud(Cloud::Gcp),
        Group::Cloud(Cloud::Onprem),
        Group::Internet,
    ] {
        let p = palette(group);
        let _ = writeln!(
            out,
            r##"<rect x="{x}" y="{}" width="22" height="13" rx="3" fill="{}" stroke="{}" stroke-width="2"/><text x="{}" y="{}" font-size="12" fill="#374151">{}</text>"##,
            y - 10.0,
            p.fill,
            p.stroke,
            x + 28.0,
            y + 1.0,
            p.label
        );
        x += 40.0 + text_width(p.label, 12.0);
    }
    let _ = writeln!(
        out,
        r##"<rect x="{x}" y="{}" width="22" height="13" rx="3" fill="#6B7280"/><text x="{}" y="{}" font-size="12" fill="#374151">transit hub</text>"##,
        y - 10.0,
        x + 28.0,
        y + 1.0
    );
    x += 40.0 + text_width("transit hub", 12.0) + 20.0;
    for status in [
        ConnectionStatus::Up,
        ConnectionStatus::Degraded,
        ConnectionStatus::Down,
    ] {
        let (colour, dash, word) = status_style(status);
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3" stroke-dasharray="{dash}"/><text x="{}" y="{}" font-size="12" fill="#374151">{word}</text>"##,
            x + 30.0,
            x + 36.0,
            y + 1.0,
            ly = y - 3.5,
        );
        x += 50.0 + text_width(word, 12.0);
    }
}

fn boxes(out: &mut String, drawn: &Layout) {
    for cloud in &drawn.clouds {
        let p = palette(Group::Cloud(cloud.cloud));
        let r = cloud.rect;
        let _ = writeln!(
            out,
            r##"<rect x="{}" y="{}" width="{}" height="{}" rx="10" fill="{}" stroke="{}" stroke-width="2.5"/>"##,
            r.x, r.y, r.w, r.h, p.fill, p.stroke
        );
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" font-size="16" fill="{}">{} · {} network{} in {} region{}</text>"##,
            r.x + 14.0,
            r.y + CLOUD_TITLE - 9.0,
            p.stroke,
            p.label,
            cloud.networks,
            if cloud.networks == 1 { "" } else { "s" },
            cloud.regions.len(),
            if cloud.regions.len() == 1 { "" } else { "s" },
        );
        for region in &cloud.regions {
            let r = region.rect;
            let _ = writeln!(
                out,
                r##"<rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="#FFFFFF" fill-opacity="0.75" stroke="{}" stroke-opacity="0.5"/>"##,
                r.x, r.y, r.w, r.h, p.stroke
            );
            let title = fit(
                &format!("{} · {}", region.name, region.networks),
                r.w - 16.0,
                11.0,
            );
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{}" font-size="11" fill="#374151">{}</text>"##,
                r.x + 8.0,
                r.y + REGION_TITLE - 6.0,
                xml(&title)
            );
        }
    }
}

/// Cross-group connections between one pair of groups.
struct Bundle {
    /// Midline of the ribbon, for the label.
    curve: [(f64, f64); 4],
    up: usize,
    degraded: usize,
    down: usize,
}

fn edges(out: &mut String, topology: &Topology, drawn: &Layout) -> Vec<Bundle> {
    let mut node_of: HashMap<&str, &NodeBox> = HashMap::new();
    for node in &drawn.nodes {
        node_of
            .entry(topology.networks[node.network].id.as_str())
            .or_insert(node);
    }
    let placed: Vec<(&TopoConnection, &NodeBox, &NodeBox)> = topology
        .connections
        .iter()
        .filter_map(|c| Some((c, *node_of.get(c.a.as_str())?, *node_of.get(c.b.as_str())?)))
        .collect();

    // Each cross-group connection's rank within its bundle, in a stable order.
    let mut bundles: BTreeMap<(Group, Group), Vec<usize>> = BTreeMap::new();
    for (i, (_, a, b)) in placed.iter().enumerate() {
        if a.group != b.group {
            bundles
                .entry(ordered(a.group, b.group))
                .or_default()
                .push(i);
        }
    }
    let mut rank = vec![(0usize, 1usize); placed.len()];
    for members in bundles.values() {
        for (k, &i) in members.iter().enumerate() {
            rank[i] = (k, members.len());
        }
    }

    // Problems are drawn last so that a ribbon shows them on top.
    let mut order: Vec<usize> = (0..placed.len()).collect();
    order.sort_by_key(|&i| match placed[i].0.status {
        ConnectionStatus::Up => 0,
        ConnectionStatus::Degraded => 1,
        ConnectionStatus::Down => 2,
    });
    let _ = writeln!(out, r##"<g fill="none" stroke-linecap="round">"##);
    for i in order {
        let (c, a, b) = placed[i];
        let (colour, dash, _) = status_style(c.status);
        // Inside a box lines stay light whatever their status (the nodes'
        // badges show where problems end); ribbons carry the colour.
        let light = if c.status == ConnectionStatus::Up {
            "0.3"
        } else {
            "0.45"
        };
        let _ = write!(
            out,
            r##"<g data-connection="{}" stroke="{colour}" stroke-dasharray="{dash}"><title>{}</title>"##,
            xml(&c.id),
            xml(&describe_connection(c, topology))
        );
        let (ca, cb) = (a.rect.centre(), b.rect.centre());
        if a.group == b.group {
            let _ = write!(
                out,
                r##"<path d="M{} {} Q{} {} {} {}" stroke-width="1.2" stroke-opacity="{light}"/>"##,
                ca.0,
                ca.1,
                (ca.0 + cb.0) / 2.0 + (cb.1 - ca.1) * 0.12,
                (ca.1 + cb.1) / 2.0 - (cb.0 - ca.0) * 0.12,
                cb.0,
                cb.1
            );
        } else {
            // Ports in the same order on both ends keep the ribbon untangled.
            let (first, second) = if ordered(a.group, b.group) == (a.group, b.group) {
                (a, b)
            } else {
                (b, a)
            };
            let (ra, rb) = (drawn.group_rect(first), drawn.group_rect(second));
            let (k, n) = rank[i];
            let curve = ribbon_curve(ra, rb, k, n);
            let (p0, p3) = (curve[0], curve[3]);
            let (f, s) = (first.rect.centre(), second.rect.centre());
            let _ = write!(
                out,
                r##"<path d="M{} {} L{} {} M{} {} L{} {}" stroke-width="1" stroke-opacity="{light}"/><path d="M{} {} C{} {} {} {} {} {}" stroke-width="1.6" stroke-opacity="0.85"/>"##,
                f.0,
                f.1,
                p0.0,
                p0.1,
                p3.0,
                p3.1,
                s.0,
                s.1,
                curve[0].0,
                curve[0].1,
                curve[1].0,
                curve[1].1,
                curve[2].0,
                curve[2].1,
                curve[3].0,
                curve[3].1,
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n");

    bundles
        .iter()
        .map(|((ga, _), members)| {
            let count = |s| members.iter().filter(|&&i| placed[i].0.status == s).count();
            let (_, a, b) = placed[members[0]];
            let (first, second) = if a.group == *ga { (a, b) } else { (b, a) };
            Bundle {
                curve: ribbon_curve(drawn.group_rect(first), drawn.group_rect(second), 0, 1),
                up: count(ConnectionStatus::Up),
                degraded: count(ConnectionStatus::Degraded),
                down: count(ConnectionStatus::Down),
            }
        })
        .collect()
}

fn ordered(a: Group, b: Group) -> (Group, Group) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The `k`th of `n` parallel curves from box `a`'s border to box `b`'s, each
/// leaving along the border's outward normal.
fn ribbon_curve(a: Rect, b: Rect, k: usize, n: usize) -> [(f64, f64); 4] {
    let (pa, na) = port(a, b.centre(), k, n);
    let (pb, nb) = port(b, a.centre(), k, n);
    let distance = ((pb.0 - pa.0).powi(2) + (pb.1 - pa.1).powi(2)).sqrt();
    let pull = (distance * 0.4).clamp(30.0, 220.0);
    [
        pa,
        (pa.0 + na.0 * pull, pa.1 + na.1 * pull),
        (pb.0 + nb.0 * pull, pb.1 + nb.1 * pull),
        pb,
    ]
}

/// Where the line from `r`'s centre towards `target` leaves `r`, shifted
/// along that side for the `k`th of `n` curves, and the side's outward normal.
fn port(r: Rect, target: (f64, f64), k: usize, n: usize) -> ((f64, f64), (f64, f64)) {
    let (cx, cy) = r.centre();
    let (dx, dy) = (target.0 - cx, target.1 - cy);
    let spacing = |side: f64| (side * 0.6 / n as f64).min(4.0);
    let shift = |side: f64| (k as f64 - (n as f64 - 1.0) / 2.0) * spacing(side);
    // Which side the ray crosses first.
    if dx.abs() * r.h > dy.abs() * r.w {
        let sign = dx.signum();
        let y = cy + dy * (r.w / 2.0) / dx.abs() + shift(r.h);
        let y = y.clamp(r.y + 4.0, r.bottom() - 4.0);
        ((cx + sign * r.w / 2.0, y), (sign, 0.0))
    } else {
        let sign = if dy == 0.0 { 1.0 } else { dy.signum() };
        let x = if dy == 0.0 {
            cx
        } else {
            cx + dx * (r.h / 2.0) / dy.abs()
        } + shift(r.w);
        let x = x.clamp(r.x + 4.0, r.right() - 4.0);
        ((x, cy + sign * r.h / 2.0), (0.0, sign))
    }
}

fn nodes(out: &mut String, topology: &Topology, drawn: &Layout) {
    // Per network: connections down, degraded.
    let mut problems: HashMap<&str, (usize, usize)> = HashMap::new();
    for c in &topology.connections {
        for end in [&c.a, &c.b] {
            let entry = problems.entry(end.as_str()).or_default();
            match c.status {
                ConnectionStatus::Down => entry.0 += 1,
                ConnectionStatus::Degraded => entry.1 += 1,
                ConnectionStatus::Up => {}
            }
        }
    }
    for node in &drawn.nodes {
        let n = &topology.networks[node.network];
        let p = palette(node.group);
        let r = node.rect;
        let hub = n.kind == NetworkKind::TransitHub;
        let _ = write!(
            out,
            r##"<g data-network="{}"><title>{}</title>"##,
            xml(&n.id),
            xml(&describe_network(n))
        );
        let (fill, text, detail) = if hub {
            (p.stroke, "#FFFFFF", "#FFFFFF")
        } else {
            ("#FFFFFF", "#111827", "#4B5563")
        };
        if node.group == Group::Internet {
            let (cx, cy) = r.centre();
            let _ = write!(
                out,
                r##"<ellipse cx="{cx}" cy="{cy}" rx="{}" ry="{}" fill="{}" stroke="{}" stroke-width="2.5"/>"##,
                r.w / 2.0,
                r.h / 2.0,
                p.fill,
                p.stroke
            );
        } else {
            let _ = write!(
                out,
                r##"<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{fill}" stroke="{}" stroke-width="{}"/>"##,
                r.x,
                r.y,
                r.w,
                r.h,
                if hub { 12 } else { 4 },
                p.stroke,
                if hub { 3.0 } else { 1.5 }
            );
        }
        let inner = r.w - 14.0;
        let (cx, _) = r.centre();
        let _ = write!(
            out,
            r##"<text x="{cx}" y="{}" font-size="12" text-anchor="middle" fill="{text}">{}</text>"##,
            r.y + 17.0,
            xml(&fit(&one_line(&n.name), inner, 12.0))
        );
        let second = node_detail(n);
        let _ = write!(
            out,
            r##"<text x="{cx}" y="{}" font-size="10" text-anchor="middle" fill="{detail}">{}</text>"##,
            r.y + 31.0,
            xml(&fit(&second, inner, 10.0))
        );
        let (down, degraded) = problems.get(n.id.as_str()).copied().unwrap_or_default();
        let mut x = r.right() - 4.0;
        for (count, status) in [
            (down, ConnectionStatus::Down),
            (degraded, ConnectionStatus::Degraded),
        ] {
            if count > 0 {
                let _ = write!(
                    out,
                    r##"<circle cx="{x}" cy="{}" r="8" fill="{}" stroke="#FFFFFF"/><text x="{x}" y="{}" font-size="10" text-anchor="middle" fill="#FFFFFF">{}</text>"##,
                    r.y + 2.0,
                    status_style(status).0,
                    r.y + 5.5,
                    count.min(99)
                );
                x -= 19.0;
            }
        }
        out.push_str("</g>\n");
    }
}

fn bundle_labels(out: &mut String, drawn: &Layout, bundles: &[Bundle]) {
    let mut taken: Vec<Rect> = drawn.nodes.iter().map(|n| n.rect).collect();
    for bundle in bundles {
        let total = bundle.up + bundle.degraded + bundle.down;
        let mut text = format!("{total} link{}", if total == 1 { "" } else { "s" });
        if bundle.down > 0 {
            let _ = write!(text, " · {} down", bundle.down);
        }
        if bundle.degraded > 0 {
            let _ = write!(text, " · {} degraded", bundle.degraded);
        }
        let w = text_width(&text, 11.0) + 14.0;
        let h = 18.0;
        let spot = [0.5, 0.35, 0.65, 0.22, 0.78]
            .iter()
            .map(|&t| {
                let (x, y) = cubic(&bundle.curve, t);
                Rect {
                    x: x - w / 2.0,
                    y: y - h / 2.0,
                    w,
                    h,
                }
            })
            .find(|r| !taken.iter().any(|t| t.overlaps(r)));
        let Some(r) = spot else { continue };
        taken.push(r);
        let colour = if bundle.down > 0 {
            status_style(ConnectionStatus::Down).0
        } else if bundle.degraded > 0 {
            status_style(ConnectionStatus::Degraded).0
        } else {
            "#374151"
        };
        let _ = writeln!(
            out,
            r##"<g><rect x="{}" y="{}" width="{w}" height="{h}" rx="9" fill="#FFFFFF" stroke="{colour}"/><text x="{}" y="{}" font-size="11" text-anchor="middle" fill="{colour}">{}</text></g>"##,
            r.x,
            r.y,
            r.x + w / 2.0,
            r.y + 13.0,
            xml(&text)
        );
    }
}

fn cubic(p: &[(f64, f64); 4], t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (
        a * p[0].0 + b * p[1].0 + c * p[2].0 + d * p[3].0,
        a * p[0].1 + b * p[1].1 + c * p[2].1 + d * p[3].1,
    )
}

/// The line under a network's name: its CIDRs, or what it is.
fn node_detail(n: &TopoNetwork) -> String {
    let what = match n.kind {
        NetworkKind::TransitHub => "transit hub",
        NetworkKind::Internet => "public internet",
        NetworkKind::Datacenter => "data centre",
        NetworkKind::Vpc | NetworkKind::Vnet | NetworkKind::GcpNetwork => "",
    };
    let cidrs = match n.cidrs.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} +{}", rest.len()),
    };
    let parts: Vec<String> = [what.to_string(), one_line(&cidrs)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        n.id.clone()
    } else {
        parts.join(" · ")
    }
}

fn describe_network(n: &TopoNetwork) -> String {
    let mut s = format!(
        "{}\n{}\n{} {} · {:?}",
        n.name, n.id, n.cloud, n.region, n.kind
    );
    if !n.cidrs.is_empty() {
        let _ = write!(s, "\n{}", n.cidrs.join(", "));
    }
    if let Some(account) = &n.account {
        let _ = write!(s, "\naccount {account}");
    }
    s
}

fn describe_connection(c: &TopoConnection, topology: &Topology) -> String {
    let end = |id: &str| {
        topology
            .network(id)
            .map_or_else(|| id.to_string(), |n| n.name.clone())
    };
    let mut s = format!(
        "{} ({}, {})\n{} ↔ {}",
        c.id,
        c.kind.as_str(),
        status_style(c.status).2,
        end(&c.a),
        end(&c.b)
    );
    if let Some(g) = c.bandwidth_gbps.filter(|g| g.is_finite()) {
        let _ = write!(s, "\n{g} Gbps");
    }
    if let Some(ms) = c.latency_ms.filter(|m| m.is_finite()) {
        let _ = write!(s, "\n{ms:.1} ms");
    }
    s
}

/// Provider names may carry newlines and tabs; a box has one line for them.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A conservative estimate of `text`'s width in DejaVu Sans Condensed: wide
/// enough that a fitted label never spills out of its box.
pub(super) fn text_width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '|' | '!' | '\'' | ' ' | 'I' | 'f' | 't'
            | 'r' => 0.34,
            'm' | 'w' | 'M' | 'W' | '@' => 0.82,
            'A'..='Z' => 0.66,
            c if c.is_ascii() => 0.57,
            _ => 1.0,
        })
        .sum::<f64>()
        * size
}

/// `text`, shortened with an ellipsis to fit `width` at `size`.
pub(super) fn fit(text: &str, width: f64, size: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let budget = width - text_width("…", size);
    let mut used = 0.0;
    let mut kept = String::new();
    for c in text.chars() {
        let w = text_width(c.encode_utf8(&mut [0; 4]), size);
        if used + w > budget {
            break;
        }
        used += w;
        kept.push(c);
    }
    format!("{}…", kept.trim_end())
}

/// Text and attribute values for XML: markup escaped, characters XML 1.0
/// forbids (control characters, U+FFFE/U+FFFF) replaced.
pub(super) fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::render::{fixtures, svg_options};
    use resvg::usvg;

    fn hostile() -> Topology {
        let mut n = fixtures::network(
            "vpc-\"<&>'\\",
            "prod \"core\" <script>&amp;\n\u{0}\u{7}\tünïcödé 東京 🚀",
            Cloud::Aws,
            "us-east-1",
            NetworkKind::Vpc,
        );
        n.cidrs = vec!["10.0.0.0/16]]>".to_string()];
        let other = fixtures::network(
            "dc\\1",
            "DC1\\",
            Cloud::Onprem,
            "dc1",
            NetworkKind::Datacenter,
        );
        let mut c = fixtures::connection("c-\"1\"&\n", &n.id, &other.id, ConnectionStatus::Down);
        c.bandwidth_gbps = Some(f64::NAN);
        fixtures::topology(vec![n, other], vec![c])
    }

    #[test]
    fn hostile_names_make_a_well_formed_svg() {
        let text = svg(&hostile());
        let tree = usvg::Tree::from_str(&text, &svg_options()).unwrap();
        assert!(tree.size().width() > 100.0);
        assert!(
            text.contains(r#"data-network="vpc-&quot;&lt;&amp;&gt;&apos;\""#),
            "{text}"
        );
        assert!(!text.contains("<script>") && !text.contains('\u{0}'));
    }

    #[test]
    fn every_network_and_connection_of_200_appears_and_parses() {
        let topology = fixtures::large();
        let text = svg(&topology);
        usvg::Tree::from_str(&text, &svg_options()).unwrap();
        for n in &topology.networks {
            assert!(
                text.contains(&format!(r#"data-network="{}""#, xml(&n.id))),
                "{}",
                n.id
            );
        }
        for c in &topology.connections {
            assert!(
                text.contains(&format!(r#"data-connection="{}""#, xml(&c.id))),
                "{}",
                c.id
            );
        }
        assert!(text.contains("400 connections"));
    }

    #[test]
    fn long_names_are_cut_to_fit_their_box_with_an_ellipsis() {
        let long = "AWS us-east-1 payments-and-settlement production workload network 171";
        let fitted = fit(long, 162.0, 12.0);
        assert!(
            fitted.ends_with('…') && fitted.len() < long.len(),
            "{fitted}"
        );
        assert!(text_width(&fitted, 12.0) <= 162.0);
        assert_eq!(fit("short", 162.0, 12.0), "short");
        assert!(
            text_width(
                &fit("東京東京東京東京東京東京東京東京東京東京", 100.0, 12.0),
                12.0
            ) <= 100.0
        );
    }

    #[test]
    fn ports_sit_on_the_facing_border() {
        let a = Rect {
            x: 0.0,
            y: 0.0,
            w: 100.0,
            h: 50.0,
        };
        let b = Rect {
            x: 300.0,
            y: 0.0,
            w: 100.0,
            h: 50.0,
        };
        let curve = ribbon_curve(a, b, 0, 1);
        assert_eq!(curve[0], (100.0, 25.0));
        assert_eq!(curve[3], (300.0, 25.0));
        let below = Rect {
            x: 0.0,
            y: 300.0,
            w: 100.0,
            h: 50.0,
        };
        let ((_, y), normal) = port(a, below.centre(), 0, 1);
        assert_eq!((y, normal), (50.0, (0.0, 1.0)));
    }
}
