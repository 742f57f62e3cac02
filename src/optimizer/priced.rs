//! A discovered topology priced from the catalog, so `paths` and `optimize`
//! work on what discovery found, not only on an estate file. Pure.
//!
//! Prices come from the catalog by the cloud and region of the side that
//! sends (egress is billed where traffic leaves); a price the catalog lacks
//! is an error naming it. What discovery cannot know is filled from typical
//! figures per link kind and said so: latency where no probe measured it,
//! and availability (the providers' SLAs: 99.95 % for a dedicated circuit,
//! 99.9 % for a VPN tunnel, 99.99 % for provider fabric).

use super::pricing::{transfer_kind, PricingCatalog, PricingError, TransferKind};
use crate::domain::{
    Cloud, Connection, ConnectionId, ConnectionKind, Estate, Gbps, Millis, Network, NetworkId, Usd,
    UsdPerGb,
};
use crate::topology::Topology;

/// Typical one-way figures per kind when nothing measured them.
fn typical(kind: ConnectionKind) -> (f64, f64, f64) {
    // (latency ms, availability, bandwidth Gbps)
    match kind {
        ConnectionKind::DirectConnect
        | ConnectionKind::Expressroute
        | ConnectionKind::Interconnect => (2.0, 0.9995, 10.0),
        ConnectionKind::Vpn => (8.0, 0.999, 1.25),
        ConnectionKind::Peering | ConnectionKind::TransitGateway => (1.0, 0.9999, 50.0),
        ConnectionKind::Internet => (15.0, 0.999, 10.0),
    }
}

pub struct Priced {
    pub estate: Estate,
    /// What was assumed rather than discovered, for the output.
    pub assumptions: Vec<String>,
}

pub fn estate_from_topology(
    topology: &Topology,
    catalog: &PricingCatalog,
) -> Result<Priced, PricingError> {
    let networks: Vec<Network> = topology
        .networks
        .iter()
        .map(|n| Network {
            id: NetworkId::new(n.id.clone()),
            name: n.name.clone(),
            cloud: n.cloud,
            region: n.region.clone(),
            kind: n.kind,
            cidrs: n.cidrs.clone(),
        })
        .collect();
    let cloud_of = |id: &str| topology.network(id).map(|n| (n.cloud, n.region.clone()));
    let mut latency_assumed = 0usize;
    let mut connections = Vec::with_capacity(topology.connections.len());
    for c in &topology.connections {
        let (typical_ms, availability, typical_gbps) = typical(c.kind);
        if c.latency_ms.is_none() {
            latency_assumed += 1;
        }
        let bandwidth = c.bandwidth_gbps.unwrap_or(typical_gbps);
        // The cloud side sends and pays; between two clouds, the a side.
        let (cloud, region) = [cloud_of(&c.a), cloud_of(&c.b)]
            .into_iter()
            .flatten()
            .find(|(cloud, _)| *cloud != Cloud::Onprem)
            .unwrap_or((Cloud::Onprem, String::new()));
        let (per_gb, base) = if cloud == Cloud::Onprem {
            (UsdPerGb(0.0), Usd(0.0))
        } else {
            match transfer_kind(c.kind) {
                None => (catalog.internet_per_gb(cloud, &region)?, Usd(0.0)),
                Some(kind) => {
                    let per_gb = catalog.per_gb(cloud, &region, kind)?;
                    let base = match kind {
                        TransferKind::DirectConnect
                        | TransferKind::Expressroute
                        | TransferKind::Interconnect => {
                            catalog.port_monthly(cloud, &region, kind, bandwidth)?
                        }
                        // A VPN connection's fee is shared by its two tunnels.
                        TransferKind::Vpn => Usd(catalog.vpn_monthly(cloud, &region)?.0 / 2.0),
                        TransferKind::TransitGateway => {
                            catalog.transit_attachment_monthly(cloud, &region)?
                        }
                        TransferKind::Peering | TransferKind::InterRegion => Usd(0.0),
                    };
                    (per_gb, base)
                }
            }
        };
        connections.push(Connection {
            id: ConnectionId::new(c.id.clone()),
            kind: c.kind,
            a: NetworkId::new(c.a.clone()),
            b: NetworkId::new(c.b.clone()),
            bandwidth_gbps: Gbps(bandwidth),
            latency_ms: Millis(c.latency_ms.unwrap_or(typical_ms)),
            reliability: availability,
            status: c.status,
            cost_per_gb: per_gb,
            monthly_base_usd: base,
            group: c.group.clone(),
        });
    }
    let mut assumptions = vec![format!(
        "prices from the catalog of {} ({})",
        catalog.as_of, catalog.origin
    )];
    if latency_assumed > 0 {
        assumptions.push(format!(
            "latency of {latency_assumed} connection(s) not measured: typical figures per kind used"
        ));
    }
    assumptions.push("availability from the providers' SLAs per link kind".into());
    Ok(Priced {
        estate: Estate {
            name: format!("discovered {}", topology.taken_at.format("%Y-%m-%d %H:%M")),
            networks,
            connections,
            services: Vec::new(),
            flows: Vec::new(),
        },
        assumptions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Estate;
    use crate::optimizer::choose::{Constraints, CostBasis, Objective};
    use crate::optimizer::query::{answer, PathsRequest};
    use crate::providers::lab::EMBEDDED_ESTATE;
    use crate::topology::Topology;

    fn discovered() -> Topology {
        let estate = Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap();
        let mut t = Topology::from_estate(&estate, chrono::Utc::now());
        // As a cloud API reports it: no latency measured.
        for c in &mut t.connections {
            c.latency_ms = None;
        }
        t
    }

    #[test]
    fn a_discovered_topology_is_priced_from_the_catalog_and_says_what_it_assumed() {
        let catalog = PricingCatalog::embedded().unwrap();
        let priced = estate_from_topology(&discovered(), &catalog).unwrap();
        let dx = priced
            .estate
            .connections
            .iter()
            .find(|c| c.id.as_str() == "dx-1")
            .unwrap();
        assert_eq!((dx.cost_per_gb.0, dx.monthly_base_usd.0), (0.02, 1642.5));
        let er = priced
            .estate
            .connections
            .iter()
            .find(|c| c.id.as_str() == "er-1")
            .unwrap();
        assert_eq!((er.cost_per_gb.0, er.monthly_base_usd.0), (0.0, 1748.0));
        let tunnel = priced
            .estate
            .connections
            .iter()
            .find(|c| c.id.as_str() == "vpn-aws-dc1-t1")
            .unwrap();
        assert!((tunnel.monthly_base_usd.0 - 18.25).abs() < 1e-9);
        assert!(priced
            .assumptions
            .iter()
            .any(|a| a.contains("not measured")));

        let r = answer(
            &priced.estate,
            &PathsRequest {
                from: "aws-use1-prod",
                to: "azure-eus-prod",
                traffic: "5TB",
                objective: Objective::Cost,
                basis: CostBasis::Marginal,
                constraints: Constraints::default(),
            },
        )
        .unwrap();
        assert_eq!(r.recommendation.primary.links, ["dx-1", "er-1"]);
    }

    #[test]
    fn a_price_the_catalog_lacks_is_an_error_not_a_zero() {
        let catalog = PricingCatalog::embedded().unwrap();
        let mut t = discovered();
        for c in t.connections.iter_mut().filter(|c| c.id == "dx-1") {
            c.bandwidth_gbps = Some(2.0);
        }
        let err = estate_from_topology(&t, &catalog)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("direct_connect at 2 Gbps"), "{err}");
    }
}
