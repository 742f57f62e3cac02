//! Usage history: how many gigabytes went over each connection each day, the
//! data the cost digest and the capacity forecasts read. Pure: rows are made
//! here from a CSV export ([`csv`]) or from the lab's fake billing export
//! ([`lab`]) and stored by the store (`usage_daily`, migrations/0008).
//!
//! Invariants:
//! - A row names a connection the estate knows; its cloud (the sending,
//!   billed side) and path kind come from the estate, never from the file.
//! - Gigabytes and peaks are finite and non-negative; a row is one
//!   connection on one UTC day (re-importing that day replaces it).

pub mod csv;
pub mod lab;

use crate::domain::{Cloud, ConnectionId, ConnectionKind, Estate, Gbps, Gigabytes, Usd, UsdPerGb};
use crate::optimizer::priced::estate_from_topology;
use crate::optimizer::pricing::{PricingCatalog, PricingError};
use crate::topology::Topology;
use chrono::{DateTime, NaiveDate};
use serde::Serialize;
use std::collections::BTreeMap;

/// One connection's traffic on one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    pub day: NaiveDate,
    pub connection: ConnectionId,
    /// The side that sends and is billed.
    pub cloud: Cloud,
    pub kind: ConnectionKind,
    pub gigabytes: Gigabytes,
    /// The day's peak rate, when the export has it.
    pub peak_gbps: Option<Gbps>,
}

impl UsageRow {
    /// The day's average rate: gigabytes over 86,400 seconds, in Gbps.
    pub fn average_gbps(&self) -> Gbps {
        Gbps(self.gigabytes.0 * 8.0 / 86_400.0)
    }
}

/// What the estate says about a connection that a usage row needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionFacts {
    pub cloud: Cloud,
    pub kind: ConnectionKind,
    pub bandwidth: Gbps,
}

/// Every connection's billed cloud (the first end that is a cloud; on-prem
/// when neither is), kind and bandwidth.
pub fn connection_facts(estate: &Estate) -> BTreeMap<ConnectionId, ConnectionFacts> {
    estate
        .connections
        .iter()
        .map(|c| {
            let cloud = [&c.a, &c.b]
                .into_iter()
                .filter_map(|end| estate.network(end).map(|n| n.cloud))
                .find(|cloud| *cloud != Cloud::Onprem)
                .unwrap_or(Cloud::Onprem);
            let facts = ConnectionFacts {
                cloud,
                kind: c.kind,
                bandwidth: c.bandwidth_gbps,
            };
            (c.id.clone(), facts)
        })
        .collect()
}

/// What a connection costs, from the pricing catalog.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    /// The billed side.
    pub cloud: Cloud,
    pub per_gb: UsdPerGb,
    /// Port, circuit, VPN or attachment fee.
    pub monthly_base: Usd,
}

/// Every connection of the estate priced from the catalog the way the
/// optimizer prices a discovered topology (by the sending side's cloud and
/// region); a price the catalog lacks is an error naming it.
pub fn connection_prices(
    estate: &Estate,
    catalog: &PricingCatalog,
) -> Result<BTreeMap<ConnectionId, Price>, PricingError> {
    // The time only labels the topology; the prices do not depend on it.
    let topology = Topology::from_estate(estate, DateTime::UNIX_EPOCH);
    let priced = estate_from_topology(&topology, catalog)?;
    let facts = connection_facts(estate);
    Ok(priced
        .estate
        .connections
        .iter()
        .map(|c| {
            let cloud = facts.get(&c.id).map_or(Cloud::Onprem, |f| f.cloud);
            let price = Price {
                cloud,
                per_gb: c.cost_per_gb,
                monthly_base: c.monthly_base_usd,
            };
            (c.id.clone(), price)
        })
        .collect())
}

/// Connection prices and where they came from (said in every cost output).
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub prices: BTreeMap<ConnectionId, Price>,
    pub source: String,
}

/// Prices the estate from the catalog; when there is no usable catalog or it
/// lacks a price the estate needs, from the estate file's own figures
/// (`cost_per_gb`, `monthly_base_usd`), saying why.
pub fn price_estate(estate: &Estate, catalog: Result<PricingCatalog, PricingError>) -> Pricing {
    match catalog.and_then(|c| connection_prices(estate, &c).map(|p| (p, c))) {
        Ok((prices, catalog)) => Pricing {
            prices,
            source: format!(
                "the pricing catalog of {} ({})",
                catalog.as_of, catalog.origin
            ),
        },
        Err(e) => {
            let facts = connection_facts(estate);
            let prices = estate
                .connections
                .iter()
                .map(|c| {
                    let price = Price {
                        cloud: facts.get(&c.id).map_or(Cloud::Onprem, |f| f.cloud),
                        per_gb: c.cost_per_gb,
                        monthly_base: c.monthly_base_usd,
                    };
                    (c.id.clone(), price)
                })
                .collect();
            Pricing {
                prices,
                source: format!(
                    "the estate file's own prices (the pricing catalog could not be used: {e})"
                ),
            }
        }
    }
}

/// Where the scheduled services (forecasts, the digest) read the estate and
/// its prices at each run: fixed for the lab, the latest discovery snapshot
/// when acting for real (so a process started before the first discovery
/// does not forecast an empty estate for ever).
#[async_trait::async_trait]
pub trait EstateFeed: Send + Sync {
    async fn priced(&self) -> Result<(std::sync::Arc<Estate>, Pricing), String>;
}

/// An estate priced once (the lab's, a benchmark's).
pub struct FixedEstate {
    pub estate: std::sync::Arc<Estate>,
    pub pricing: Pricing,
}

#[async_trait::async_trait]
impl EstateFeed for FixedEstate {
    async fn priced(&self) -> Result<(std::sync::Arc<Estate>, Pricing), String> {
        Ok((self.estate.clone(), self.pricing.clone()))
    }
}

/// Parses a day written `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        format!(
            "'{}' is not a day (write YYYY-MM-DD)",
            text.chars().take(40).collect::<String>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::lab::EMBEDDED_ESTATE;

    #[test]
    fn connections_are_billed_to_their_cloud_side() {
        let estate = Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap();
        let facts = connection_facts(&estate);
        let dx = facts[&ConnectionId::new("dx-1")];
        assert_eq!(
            (dx.cloud, dx.kind),
            (Cloud::Aws, ConnectionKind::DirectConnect)
        );
        let inet = facts[&ConnectionId::new("inet-azure-eus-prod")];
        assert_eq!(
            (inet.cloud, inet.kind),
            (Cloud::Azure, ConnectionKind::Internet)
        );
    }

    #[test]
    fn connections_are_priced_from_the_catalog() {
        let estate = Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap();
        let prices = connection_prices(&estate, &PricingCatalog::embedded().unwrap()).unwrap();
        let dx = prices[&ConnectionId::new("dx-1")];
        assert_eq!(
            (dx.cloud, dx.per_gb, dx.monthly_base),
            (Cloud::Aws, UsdPerGb(0.02), Usd(1642.5))
        );
        let inet = prices[&ConnectionId::new("inet-aws-use1-prod")];
        assert_eq!(inet.per_gb, UsdPerGb(0.09));
        assert_eq!(prices.len(), estate.connections.len());
    }

    #[test]
    fn without_a_usable_catalog_the_estate_prices_itself_and_says_so() {
        let estate = Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap();
        let broken = PricingCatalog::from_yaml("as_of: x", "broken.yaml");
        assert!(broken.is_err());
        let pricing = price_estate(&estate, broken);
        assert!(pricing.source.contains("broken.yaml"), "{}", pricing.source);
        let inet = pricing.prices[&ConnectionId::new("inet-aws-use1-prod")];
        assert_eq!((inet.cloud, inet.per_gb), (Cloud::Aws, UsdPerGb(0.09)));
        let good = price_estate(&estate, PricingCatalog::embedded());
        assert!(
            good.source.starts_with("the pricing catalog of"),
            "{}",
            good.source
        );
    }

    #[test]
    fn a_day_of_traffic_is_an_average_rate() {
        let row = UsageRow {
            day: parse_day("2026-01-01").unwrap(),
            connection: ConnectionId::new("dx-1"),
            cloud: Cloud::Aws,
            kind: ConnectionKind::DirectConnect,
            gigabytes: Gigabytes(108_000.0),
            peak_gbps: None,
        };
        assert!((row.average_gbps().0 - 10.0).abs() < 1e-9);
        assert!(parse_day("2026-02-30").is_err());
    }
}
