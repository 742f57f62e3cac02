//! Where everything goes in the SVG: one box per cloud (in a 2-column grid),
//! region boxes packed in rows inside it, networks in a grid inside their
//! region, the internet between the clouds. Deterministic (sorted by cloud,
//! region, hub first, then name and id) and sized to the content, so it never
//! overlaps two boxes, however many networks there are.

use crate::domain::{Cloud, NetworkKind};
use crate::topology::{TopoNetwork, Topology};
use std::collections::BTreeMap;

pub(super) const NODE_W: f64 = 200.0;
pub(super) const NODE_H: f64 = 40.0;
const NODE_GAP_X: f64 = 14.0;
const NODE_GAP_Y: f64 = 12.0;
const REGION_PAD: f64 = 10.0;
pub(super) const REGION_TITLE: f64 = 20.0;
const REGION_GAP: f64 = 14.0;
const CLOUD_PAD: f64 = 14.0;
pub(super) const CLOUD_TITLE: f64 = 30.0;
const INTERNET_W: f64 = 140.0;
const INTERNET_H: f64 = 50.0;
/// Room between cloud boxes for the curves between them and the internet.
const GUTTER: f64 = 160.0;
const MARGIN: f64 = 30.0;
/// Title, counts, providers and legend.
pub(super) const HEADER_H: f64 = 96.0;
/// Wide enough for the title and the legend.
const MIN_WIDTH: f64 = 1100.0;
/// Most networks side by side in one region.
const MAX_REGION_COLUMNS: usize = 5;
/// Clouds placed in this order, two per row: on-prem under AWS, beside GCP.
const CLOUD_ORDER: [Cloud; 4] = [Cloud::Aws, Cloud::Azure, Cloud::Onprem, Cloud::Gcp];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn right(&self) -> f64 {
        self.x + self.w
    }

    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }

    pub fn centre(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// Whether the two share any area (touching edges do not count).
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.right()
            && other.x < self.right()
            && self.y < other.bottom()
            && other.y < self.bottom()
    }

    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.right() <= self.right()
            && other.bottom() <= self.bottom()
    }

    fn moved(&self, dx: f64, dy: f64) -> Rect {
        Rect {
            x: self.x + dx,
            y: self.y + dy,
            ..*self
        }
    }
}

/// What box a network is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Cloud(Cloud),
    /// The public internet: its own node between the clouds, whatever cloud
    /// its record names.
    Internet,
}

impl Group {
    pub fn of(network: &TopoNetwork) -> Group {
        if network.kind == NetworkKind::Internet {
            Group::Internet
        } else {
            Group::Cloud(network.cloud)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeBox {
    /// Index into `Topology::networks`.
    pub network: usize,
    pub group: Group,
    pub rect: Rect,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegionBox {
    pub name: String,
    pub rect: Rect,
    pub networks: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudBox {
    pub cloud: Cloud,
    pub rect: Rect,
    pub regions: Vec<RegionBox>,
    pub networks: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub clouds: Vec<CloudBox>,
    /// One per network, in drawing order (cloud, region, hubs first, name).
    pub nodes: Vec<NodeBox>,
}

impl Layout {
    /// The box a connection leaves `node`'s group through: its cloud's box, or
    /// the node itself for the internet.
    pub fn group_rect(&self, node: &NodeBox) -> Rect {
        match node.group {
            Group::Cloud(cloud) => self
                .clouds
                .iter()
                .find(|c| c.cloud == cloud)
                .map_or(node.rect, |c| c.rect),
            Group::Internet => node.rect,
        }
    }
}

/// A region's box and its networks' boxes.
type RegionNodes = (RegionBox, Vec<NodeBox>);

/// A box laid out at the origin, with its contents relative to it.
struct Packed<T> {
    w: f64,
    h: f64,
    content: T,
}

/// Lays the topology out; pure and deterministic.
pub fn layout(topology: &Topology) -> Layout {
    // cloud → region → network indices
    let mut grouped: BTreeMap<Cloud, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    let mut internet = Vec::new();
    for (i, n) in topology.networks.iter().enumerate() {
        match Group::of(n) {
            Group::Internet => internet.push(i),
            Group::Cloud(cloud) => grouped
                .entry(cloud)
                .or_default()
                .entry(n.region.as_str())
                .or_default()
                .push(i),
        }
    }
    let clouds: Vec<(Cloud, Packed<Vec<RegionNodes>>)> = CLOUD_ORDER
        .iter()
        .filter_map(|cloud| {
            let regions = grouped.remove(cloud)?;
            Some((*cloud, pack_cloud(topology, *cloud, regions)))
        })
        .collect();

    let columns = if clouds.len() >= 2 { 2 } else { 1 };
    let rows = clouds.len().div_ceil(columns).max(1);
    let mut column_w = vec![0.0f64; columns];
    let mut row_h = vec![0.0f64; rows];
    for (i, (_, packed)) in clouds.iter().enumerate() {
        column_w[i % columns] = column_w[i % columns].max(packed.w);
        row_h[i / columns] = row_h[i / columns].max(packed.h);
    }
    let internet_row_w = match internet.len() {
        0 => 0.0,
        n => n as f64 * INTERNET_W + (n - 1) as f64 * NODE_GAP_X,
    };
    let gutter_x = GUTTER.max(internet_row_w + 2.0 * NODE_GAP_X);
    let column_x: Vec<f64> = column_w
        .iter()
        .scan(MARGIN, |x, w| {
            let here = *x;
            *x += w + gutter_x;
            Some(here)
        })
        .collect();
    let top = HEADER_H + MARGIN;
    let row_y: Vec<f64> = row_h
        .iter()
        .scan(top, |y, h| {
            let here = *y;
            *y += h + GUTTER;
            Some(here)
        })
        .collect();

    let mut nodes = Vec::with_capacity(topology.networks.len());
    let mut cloud_boxes = Vec::with_capacity(clouds.len());
    for (i, (cloud, packed)) in clouds.into_iter().enumerate() {
        let (dx, dy) = (column_x[i % columns], row_y[i / columns]);
        let mut regions = Vec::with_capacity(packed.content.len());
        let mut count = 0;
        for (mut region, region_nodes) in packed.content {
            region.rect = region.rect.moved(dx, dy);
            count += region.networks;
            regions.push(region);
            nodes.extend(region_nodes.into_iter().map(|mut n| {
                n.rect = n.rect.moved(dx, dy);
                n
            }));
        }
        cloud_boxes.push(CloudBox {
            cloud,
            rect: Rect {
                x: dx,
                y: dy,
                w: packed.w,
                h: packed.h,
            },
            regions,
            networks: count,
        });
    }

    // The internet sits where the curves between clouds pass: at the crossing
    // of the gutters, or beside the only column.
    let anchor_x = column_x[0] + column_w[0] + gutter_x / 2.0;
    let anchor_y = if rows >= 2 {
        row_y[0] + row_h[0] + GUTTER / 2.0
    } else {
        top + row_h[0].max(INTERNET_H) / 2.0
    };
    let mut x = anchor_x - internet_row_w / 2.0;
    for network in internet {
        nodes.push(NodeBox {
            network,
            group: Group::Internet,
            rect: Rect {
                x,
                y: anchor_y - INTERNET_H / 2.0,
                w: INTERNET_W,
                h: INTERNET_H,
            },
        });
        x += INTERNET_W + NODE_GAP_X;
    }

    let right = cloud_boxes
        .iter()
        .map(|c| c.rect.right())
        .chain(nodes.iter().map(|n| n.rect.right()))
        .fold(0.0, f64::max);
    let bottom = cloud_boxes
        .iter()
        .map(|c| c.rect.bottom())
        .chain(nodes.iter().map(|n| n.rect.bottom()))
        .fold(top, f64::max);
    Layout {
        width: (right + MARGIN).max(MIN_WIDTH).ceil(),
        height: (bottom + MARGIN).ceil(),
        clouds: cloud_boxes,
        nodes,
    }
}

/// One cloud's regions packed in rows (about √regions per row), at the origin.
fn pack_cloud(
    topology: &Topology,
    cloud: Cloud,
    regions: BTreeMap<&str, Vec<usize>>,
) -> Packed<Vec<RegionNodes>> {
    let packed: Vec<Packed<RegionNodes>> = regions
        .into_iter()
        .map(|(name, members)| pack_region(topology, cloud, name, members))
        .collect();
    // A little under √regions per row: clouds come out about as tall as wide.
    let per_row = ((packed.len() as f64).sqrt() * 0.8).ceil().max(1.0);
    let average_w = packed.iter().map(|p| p.w).sum::<f64>() / packed.len().max(1) as f64;
    let widest = packed.iter().map(|p| p.w).fold(0.0, f64::max);
    let target = widest.max(per_row * average_w + (per_row - 1.0) * REGION_GAP);

    let left = CLOUD_PAD;
    let (mut x, mut y, mut row_h, mut used_w) = (left, CLOUD_TITLE, 0.0f64, 0.0f64);
    let mut content = Vec::with_capacity(packed.len());
    for p in packed {
        if x > left && x + p.w > left + target + 0.5 {
            x = left;
            y += row_h + REGION_GAP;
            row_h = 0.0;
        }
        let (mut region, region_nodes) = p.content;
        region.rect = region.rect.moved(x, y);
        let region_nodes = region_nodes
            .into_iter()
            .map(|mut n| {
                n.rect = n.rect.moved(x, y);
                n
            })
            .collect();
        content.push((region, region_nodes));
        used_w = used_w.max(x + p.w);
        row_h = row_h.max(p.h);
        x += p.w + REGION_GAP;
    }
    Packed {
        w: used_w + CLOUD_PAD,
        h: y + row_h + CLOUD_PAD,
        content,
    }
}

/// One region's networks in a grid (hubs first), at the origin.
fn pack_region(
    topology: &Topology,
    cloud: Cloud,
    name: &str,
    mut members: Vec<usize>,
) -> Packed<RegionNodes> {
    let networks = &topology.networks;
    members.sort_by(|&a, &b| {
        let (a, b) = (&networks[a], &networks[b]);
        (b.kind == NetworkKind::TransitHub)
            .cmp(&(a.kind == NetworkKind::TransitHub))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    let n = members.len();
    let columns = if n <= 3 {
        n
    } else {
        ((n as f64).sqrt().ceil() as usize).min(MAX_REGION_COLUMNS)
    };
    let rows = n.div_ceil(columns.max(1));
    let w = 2.0 * REGION_PAD + columns as f64 * NODE_W + (columns.max(1) - 1) as f64 * NODE_GAP_X;
    let h =
        REGION_TITLE + REGION_PAD + rows as f64 * NODE_H + (rows.max(1) - 1) as f64 * NODE_GAP_Y;
    let nodes = members
        .into_iter()
        .enumerate()
        .map(|(k, network)| NodeBox {
            network,
            group: Group::Cloud(cloud),
            rect: Rect {
                x: REGION_PAD + (k % columns) as f64 * (NODE_W + NODE_GAP_X),
                y: REGION_TITLE + (k / columns) as f64 * (NODE_H + NODE_GAP_Y),
                w: NODE_W,
                h: NODE_H,
            },
        })
        .collect();
    Packed {
        w,
        h,
        content: (
            RegionBox {
                name: name.to_string(),
                rect: Rect {
                    x: 0.0,
                    y: 0.0,
                    w,
                    h,
                },
                networks: n,
            },
            nodes,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectionStatus;
    use crate::topology::render::fixtures;

    fn assert_no_overlaps(drawn: &Layout) {
        for (i, a) in drawn.nodes.iter().enumerate() {
            for b in &drawn.nodes[i + 1..] {
                assert!(!a.rect.overlaps(&b.rect), "{a:?} overlaps {b:?}");
            }
        }
        for (i, a) in drawn.clouds.iter().enumerate() {
            for b in &drawn.clouds[i + 1..] {
                assert!(
                    !a.rect.overlaps(&b.rect),
                    "{:?} overlaps {:?}",
                    a.cloud,
                    b.cloud
                );
            }
            for (j, r) in a.regions.iter().enumerate() {
                assert!(a.rect.contains(&r.rect), "{} outside {:?}", r.name, a.cloud);
                for s in &a.regions[j + 1..] {
                    assert!(!r.rect.overlaps(&s.rect), "{} overlaps {}", r.name, s.name);
                }
            }
        }
    }

    #[test]
    fn two_hundred_networks_get_disjoint_boxes_inside_their_region_and_cloud() {
        let topology = fixtures::large();
        let drawn = layout(&topology);
        assert_eq!(drawn.nodes.len(), 200);
        assert_eq!(drawn.clouds.len(), 4);
        assert_no_overlaps(&drawn);
        let canvas = Rect {
            x: 0.0,
            y: HEADER_H,
            w: drawn.width,
            h: drawn.height - HEADER_H,
        };
        let mut seen = vec![false; topology.networks.len()];
        for node in &drawn.nodes {
            let network = &topology.networks[node.network];
            assert!(!seen[node.network], "{} placed twice", network.id);
            seen[node.network] = true;
            assert!(canvas.contains(&node.rect), "{} off the canvas", network.id);
            match node.group {
                Group::Internet => {
                    assert_eq!(network.kind, NetworkKind::Internet);
                    for cloud in &drawn.clouds {
                        assert!(
                            !cloud.rect.overlaps(&node.rect),
                            "internet over {:?}",
                            cloud.cloud
                        );
                    }
                }
                Group::Cloud(cloud) => {
                    let cloud_box = drawn.clouds.iter().find(|c| c.cloud == cloud).unwrap();
                    let region = cloud_box
                        .regions
                        .iter()
                        .find(|r| r.name == network.region)
                        .unwrap();
                    assert!(
                        region.rect.contains(&node.rect),
                        "{} outside {}",
                        network.id,
                        region.name
                    );
                }
            }
        }
        // Sized to the content: not a sliver, not a poster.
        assert!(
            drawn.width < 6000.0 && drawn.height < 4000.0,
            "{}×{}",
            drawn.width,
            drawn.height
        );
    }

    #[test]
    fn hubs_come_first_in_their_region() {
        let drawn = layout(&fixtures::large());
        let topology = fixtures::large();
        for cloud in &drawn.clouds {
            for region in &cloud.regions {
                let first = drawn
                    .nodes
                    .iter()
                    .find(|n| region.rect.contains(&n.rect))
                    .map(|n| &topology.networks[n.network]);
                if matches!(cloud.cloud, Cloud::Aws | Cloud::Azure) {
                    assert_eq!(
                        first.map(|n| n.kind),
                        Some(NetworkKind::TransitHub),
                        "{}",
                        region.name
                    );
                }
            }
        }
    }

    #[test]
    fn lone_cloud_and_internet_do_not_collide() {
        let topology = fixtures::topology(
            vec![
                fixtures::network(
                    "i1",
                    "Internet",
                    Cloud::Onprem,
                    "global",
                    NetworkKind::Internet,
                ),
                fixtures::network(
                    "i2",
                    "Internet (backup)",
                    Cloud::Aws,
                    "global",
                    NetworkKind::Internet,
                ),
                fixtures::network("v", "vpc", Cloud::Aws, "us-east-1", NetworkKind::Vpc),
            ],
            vec![fixtures::connection("c", "v", "i1", ConnectionStatus::Up)],
        );
        let drawn = layout(&topology);
        assert_no_overlaps(&drawn);
        assert_eq!(drawn.nodes.len(), 3);
        for n in &drawn.nodes {
            assert!(!drawn.clouds[0].rect.overlaps(&n.rect) || n.group != Group::Internet);
        }
    }

    #[test]
    fn empty_topology_has_a_canvas() {
        let drawn = layout(&fixtures::topology(vec![], vec![]));
        assert!(drawn.nodes.is_empty() && drawn.width >= MIN_WIDTH && drawn.height > HEADER_H);
    }
}
