//! Pictures of the merged topology: Graphviz DOT text (`dot`), an SVG drawn by
//! our own deterministic layout (`layout`, `svg`) and that SVG rasterised in
//! process (`png`, resvg with an embedded font: no system fonts, no `dot`
//! binary). Pure functions of a `Topology`; the only failure is rasterising.
//!
//! Invariants: the layout never overlaps two network boxes; every network and
//! every connection of the topology appears in each output; text that came from
//! providers is escaped for the format it lands in.

mod dot;
mod layout;
mod svg;

pub use dot::dot;
pub use layout::{layout, CloudBox, Group, Layout, NodeBox, Rect, RegionBox};
pub use svg::svg;

use super::Topology;
use resvg::{tiny_skia, usvg};
use std::sync::Arc;

/// DejaVu Sans Condensed (Bitstream Vera licence, `assets/fonts/LICENSE-DejaVu.txt`):
/// condensed so that names fit in network boxes, embedded so that a PNG looks
/// the same on every machine.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansCondensed.ttf");

/// The family name the SVG asks for; the embedded font answers to it.
const FONT_FAMILY: &str = "DejaVu Sans";

/// Longest side of a PNG; larger drawings are scaled down to fit (a chat
/// upload or an image viewer gives up well before a 16k-pixel canvas).
const MAX_PNG_SIDE: f32 = 8000.0;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the topology SVG could not be read back for rasterising: {0}")]
    Svg(#[from] usvg::Error),
    #[error("cannot allocate a {width}×{height} pixel canvas")]
    Canvas { width: u32, height: u32 },
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

/// The SVG of `svg(topology)` as a PNG, one pixel per SVG unit (scaled down
/// only past `MAX_PNG_SIDE`).
pub fn png(topology: &Topology) -> Result<Vec<u8>, RenderError> {
    rasterise(&svg(topology))
}

fn rasterise(svg_text: &str) -> Result<Vec<u8>, RenderError> {
    let tree = usvg::Tree::from_str(svg_text, &svg_options())?;
    let size = tree.size();
    let scale = (MAX_PNG_SIDE / size.width().max(size.height())).min(1.0);
    let width = (size.width() * scale).ceil() as u32;
    let height = (size.height() * scale).ceil() as u32;
    let mut pixmap =
        tiny_skia::Pixmap::new(width, height).ok_or(RenderError::Canvas { width, height })?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| RenderError::Encode(e.to_string()))
}

/// usvg options whose only font is the embedded one, whatever family is asked.
fn svg_options() -> usvg::Options<'static> {
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_font_source(usvg::fontdb::Source::Binary(Arc::new(FONT)));
    fonts.set_sans_serif_family(FONT_FAMILY);
    fonts.set_serif_family(FONT_FAMILY);
    fonts.set_monospace_family(FONT_FAMILY);
    usvg::Options {
        font_family: FONT_FAMILY.to_string(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    }
}

/// Topologies for the tests of every renderer.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, NetworkKind};
    use crate::topology::{ProviderOutcome, TopoConnection, TopoNetwork, Topology};
    use chrono::TimeZone;

    pub fn network(
        id: &str,
        name: &str,
        cloud: Cloud,
        region: &str,
        kind: NetworkKind,
    ) -> TopoNetwork {
        TopoNetwork {
            id: id.to_string(),
            name: name.to_string(),
            cloud,
            region: region.to_string(),
            kind,
            cidrs: vec!["10.0.0.0/16".to_string()],
            provider: cloud.as_str().to_string(),
            account: None,
        }
    }

    pub fn connection(id: &str, a: &str, b: &str, status: ConnectionStatus) -> TopoConnection {
        TopoConnection {
            id: id.to_string(),
            kind: ConnectionKind::Vpn,
            a: a.to_string(),
            b: b.to_string(),
            status,
            bandwidth_gbps: Some(1.25),
            latency_ms: Some(12.0),
            group: None,
            name: None,
            seen_by: vec![format!("test:{id}")],
        }
    }

    pub fn topology(networks: Vec<TopoNetwork>, connections: Vec<TopoConnection>) -> Topology {
        Topology {
            taken_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 25, 9, 30, 0)
                .single()
                .unwrap_or_default(),
            networks,
            connections,
            services: Vec::new(),
            providers: [
                ("aws".to_string(), ProviderOutcome::Ok { resources: 120 }),
                (
                    "azure".to_string(),
                    ProviderOutcome::Partial {
                        resources: 40,
                        reasons: vec!["westeurope: 403".to_string()],
                    },
                ),
            ]
            .into_iter()
            .collect(),
        }
    }

    /// 200 networks in 4 clouds and 23 regions (a transit hub in the AWS and
    /// Azure regions, one internet), 400 connections of every status, some
    /// names long enough to need truncating. Deterministic.
    pub fn large() -> Topology {
        let regions: [(Cloud, &[&str]); 4] = [
            (
                Cloud::Aws,
                &[
                    "us-east-1",
                    "us-east-2",
                    "us-west-2",
                    "eu-west-1",
                    "eu-central-1",
                    "ap-southeast-1",
                    "ap-northeast-1",
                ],
            ),
            (
                Cloud::Azure,
                &[
                    "eastus",
                    "westus2",
                    "westeurope",
                    "northeurope",
                    "southeastasia",
                    "uksouth",
                ],
            ),
            (
                Cloud::Gcp,
                &[
                    "us-central1",
                    "us-east4",
                    "europe-west1",
                    "europe-west4",
                    "asia-east1",
                    "asia-southeast1",
                ],
            ),
            (
                Cloud::Onprem,
                &[
                    "dc1-ashburn",
                    "dc2-frankfurt",
                    "dc3-singapore",
                    "dc4-chicago",
                ],
            ),
        ];
        let mut networks = vec![network(
            "internet",
            "Internet",
            Cloud::Onprem,
            "global",
            NetworkKind::Internet,
        )];
        let mut slot = 0usize;
        while networks.len() < 200 {
            let (cloud, names) = regions[slot % 4];
            let region = names[(slot / 4) % names.len()];
            let index = networks.len();
            let first_in_region = !networks.iter().any(|n| n.region == region);
            let kind = match cloud {
                Cloud::Aws | Cloud::Azure if first_in_region => NetworkKind::TransitHub,
                Cloud::Aws => NetworkKind::Vpc,
                Cloud::Azure => NetworkKind::Vnet,
                Cloud::Gcp => NetworkKind::GcpNetwork,
                Cloud::Onprem => NetworkKind::Datacenter,
            };
            let name = if index % 9 == 0 {
                format!(
                    "{cloud} {region} payments-and-settlement production workload network {index}"
                )
            } else {
                format!("{cloud}-{region}-net-{index}")
            };
            let mut n = network(&format!("net-{index:03}"), &name, cloud, region, kind);
            n.cidrs = vec![format!("10.{}.{}.0/24", index / 250, index % 250)];
            networks.push(n);
            slot += 1;
        }
        let statuses = [
            ConnectionStatus::Up,
            ConnectionStatus::Up,
            ConnectionStatus::Up,
            ConnectionStatus::Degraded,
            ConnectionStatus::Up,
            ConnectionStatus::Down,
        ];
        let mut connections = Vec::new();
        let mut i = 0usize;
        while connections.len() < 400 {
            // Mostly near neighbours (same cloud), some far away, some to the internet.
            let a = 1 + (i * 7) % 199;
            let b = match i % 10 {
                0 => 0, // the internet
                5 => (a * 31 + 17) % 200,
                // Same cloud: networks are dealt to the clouds in turn.
                _ => 1 + (a - 1 + 4 * (1 + i % 3)) % 199,
            };
            if a != b {
                let mut c = connection(
                    &format!("conn-{:03}", connections.len()),
                    &networks[a].id,
                    &networks[b].id,
                    statuses[i % statuses.len()],
                );
                c.kind = [
                    ConnectionKind::Vpn,
                    ConnectionKind::Peering,
                    ConnectionKind::TransitGateway,
                    ConnectionKind::DirectConnect,
                    ConnectionKind::Internet,
                ][i % 5];
                connections.push(c);
            }
            i += 1;
        }
        topology(networks, connections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Estate;

    fn globalcart() -> Topology {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/globalcart.yaml");
        let estate = Estate::load(&path).unwrap();
        Topology::from_estate(&estate, fixtures::large().taken_at)
    }

    #[test]
    fn the_lab_estate_shows_every_network_and_connection() {
        let topology = globalcart();
        assert!(topology.networks.len() >= 10 && topology.connections.len() >= 20);
        let (drawn, dot_text) = (svg(&topology), dot(&topology));
        for n in &topology.networks {
            assert!(
                drawn.contains(&format!("data-network=\"{}\"", n.id)),
                "{}",
                n.id
            );
            assert!(dot_text.contains(&n.id), "{}", n.id);
        }
        for c in &topology.connections {
            assert!(
                drawn.contains(&format!("data-connection=\"{}\"", c.id)),
                "{}",
                c.id
            );
            assert!(dot_text.contains(&c.id), "{}", c.id);
        }
        assert!(!png(&topology).unwrap().is_empty());
    }

    /// `cargo test --lib render -- --ignored` writes the pictures to look at.
    #[test]
    #[ignore = "writes /tmp/render-*.{png,svg,dot} for a person to look at"]
    fn write_pictures_for_review() {
        for (name, topology) in [
            ("globalcart", globalcart()),
            ("synthetic-200", fixtures::large()),
        ] {
            std::fs::write(format!("/tmp/render-{name}.png"), png(&topology).unwrap()).unwrap();
            std::fs::write(format!("/tmp/render-{name}.svg"), svg(&topology)).unwrap();
            std::fs::write(format!("/tmp/render-{name}.dot"), dot(&topology)).unwrap();
        }
    }

    #[test]
    fn png_decodes_with_the_svg_canvas_size() {
        let topology = fixtures::large();
        let drawn = layout(&topology);
        let bytes = png(&topology).unwrap();
        let image = tiny_skia::Pixmap::decode_png(&bytes).unwrap();
        assert_eq!(image.width(), drawn.width.ceil() as u32);
        assert_eq!(image.height(), drawn.height.ceil() as u32);
        // Not blank: the clouds' colours are in it.
        let distinct: std::collections::BTreeSet<[u8; 4]> = image
            .pixels()
            .iter()
            .step_by(97)
            .map(|p| [p.red(), p.green(), p.blue(), p.alpha()])
            .collect();
        assert!(distinct.len() > 20, "{} colours", distinct.len());
    }

    #[test]
    fn text_is_drawn_with_the_embedded_font() {
        let options = svg_options();
        assert_eq!(options.fontdb.len(), 1);
        let text = r#"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="5" y="30" font-family="sans-serif" font-size="20">Hello</text></svg>"#;
        let tree = usvg::Tree::from_str(text, &options).unwrap();
        // Text became glyph outlines: there is something with a size to draw.
        assert!(tree.root().has_children());
        let bbox = tree.root().abs_bounding_box();
        assert!(bbox.width() > 30.0, "text width {}", bbox.width());
    }
}
