//! The pricing catalog (`examples/pricing.yaml`): per cloud, with per-region
//! overrides, the internet egress tiers, per-GB transfer by path kind, hourly
//! VPN and Transit Gateway fees and monthly port/circuit fees by speed.
//! Pure lookups; a price the caller needs and the catalog lacks is an error
//! that names it, never a silent zero.

use crate::domain::{Cloud, ConnectionKind, Usd, UsdPerGb};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The catalog as the file writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingCatalog {
    pub as_of: String,
    pub currency: String,
    pub hours_per_month: f64,
    pub clouds: BTreeMap<Cloud, CloudPrices>,
    /// Where it was read from, for error messages.
    #[serde(skip)]
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudPrices {
    pub default: Prices,
    #[serde(default)]
    pub regions: BTreeMap<String, Prices>,
}

/// One set of prices; a region's set overrides the cloud default item by item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    #[serde(default)]
    pub internet_egress: Option<Vec<Tier>>,
    #[serde(default)]
    pub transfer_per_gb: BTreeMap<TransferKind, f64>,
    #[serde(default)]
    pub vpn_connection_hourly: Option<f64>,
    #[serde(default)]
    pub transit_gateway_attachment_hourly: Option<f64>,
    /// Monthly fee by kind, then by speed in Gbps (written as a number).
    #[serde(default)]
    pub ports_monthly: BTreeMap<TransferKind, BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Cumulative GB this tier reaches; the last tier has none.
    #[serde(default)]
    pub up_to_gb: Option<f64>,
    pub usd_per_gb: f64,
}

/// What a per-GB or port price is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    DirectConnect,
    Expressroute,
    Interconnect,
    InterRegion,
    Peering,
    TransitGateway,
    Vpn,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::DirectConnect => "direct_connect",
            TransferKind::Expressroute => "expressroute",
            TransferKind::Interconnect => "interconnect",
            TransferKind::InterRegion => "inter_region",
            TransferKind::Peering => "peering",
            TransferKind::TransitGateway => "transit_gateway",
            TransferKind::Vpn => "vpn",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("pricing file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("pricing file {path}: {source}")]
    Syntax {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("pricing file {path}: {what}")]
    Invalid { path: String, what: String },
    #[error("pricing file {path} has no {item} price for {cloud} {region}{hint}")]
    Missing {
        path: String,
        cloud: Cloud,
        region: String,
        item: String,
        hint: String,
    },
}

pub const EMBEDDED_PRICING: &str = include_str!("../../examples/pricing.yaml");

impl PricingCatalog {
    pub fn load(path: &Path) -> Result<PricingCatalog, PricingError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PricingError::Read {
            path: shown.clone(),
            source,
        })?;
        PricingCatalog::from_yaml(&text, &shown)
    }

    /// The catalog `[pricing] path` names, or the embedded one.
    pub fn configured(path: Option<&Path>) -> Result<PricingCatalog, PricingError> {
        match path {
            Some(path) => PricingCatalog::load(path),
            None => PricingCatalog::embedded(),
        }
    }

    pub fn embedded() -> Result<PricingCatalog, PricingError> {
        PricingCatalog::from_yaml(EMBEDDED_PRICING, "examples/pricing.yaml (embedded)")
    }

    pub fn from_yaml(text: &str, origin: &str) -> Result<PricingCatalog, PricingError> {
        let mut catalog: PricingCatalog =
            serde_yaml::from_str(text).map_err(|source| PricingError::Syntax {
                path: origin.to_string(),
                source,
            })?;
        catalog.origin = origin.to_string();
        catalog.validate().map_err(|what| PricingError::Invalid {
            path: origin.to_string(),
            what,
        })?;
        Ok(catalog)
    }

    fn validate(&self) -> Result<(), String> {
        if !(self.hours_per_month > 0.0 && self.hours_per_month <= 744.0) {
            return Err(format!(
                "hours_per_month must be in (0, 744], got {}",
                self.hours_per_month
            ));
        }
        for (cloud, prices) in &self.clouds {
            let sets = std::iter::once(("default".to_string(), &prices.default))
                .chain(prices.regions.iter().map(|(r, p)| (r.clone(), p)));
            for (scope, p) in sets {
                let at = format!("{cloud} {scope}");
                let mut money: Vec<(String, f64)> = p
                    .transfer_per_gb
                    .iter()
                    .map(|(k, v)| (format!("transfer_per_gb.{}", k.as_str()), *v))
                    .collect();
                money.extend(
                    p.vpn_connection_hourly
                        .map(|v| ("vpn_connection_hourly".into(), v)),
                );
                money.extend(
                    p.transit_gateway_attachment_hourly
                        .map(|v| ("transit_gateway_attachment_hourly".into(), v)),
                );
                for (kind, speeds) in &p.ports_monthly {
                    for (speed, fee) in speeds {
                        let gbps: f64 = speed.parse().map_err(|_| {
                            format!(
                                "{at}: ports_monthly.{}: speed '{speed}' is not a number of Gbps",
                                kind.as_str()
                            )
                        })?;
                        if gbps <= 0.0 {
                            return Err(format!(
                                "{at}: ports_monthly.{}: speed must be > 0",
                                kind.as_str()
                            ));
                        }
                        money.push((format!("ports_monthly.{}.{speed}", kind.as_str()), *fee));
                    }
                }
                if let Some(tiers) = &p.internet_egress {
                    if tiers.is_empty() {
                        return Err(format!("{at}: internet_egress has no tiers"));
                    }
                    let mut last = 0.0;
                    for (i, t) in tiers.iter().enumerate() {
                        money.push((format!("internet_egress[{i}]"), t.usd_per_gb));
                        match t.up_to_gb {
                            Some(up) if up > last => last = up,
                            Some(up) => {
                                return Err(format!(
                                    "{at}: internet_egress tier {i} ends at {up} GB, not above the previous {last} GB"
                                ))
                            }
                            None if i + 1 != tiers.len() => {
                                return Err(format!(
                                    "{at}: internet_egress tier {i} has no up_to_gb but is not the last"
                                ))
                            }
                            None => {}
                        }
                    }
                    if tiers.last().and_then(|t| t.up_to_gb).is_some() {
                        return Err(format!(
                            "{at}: the last internet_egress tier must be open-ended (no up_to_gb)"
                        ));
                    }
                }
                if let Some((what, v)) = money.iter().find(|(_, v)| !v.is_finite() || *v < 0.0) {
                    return Err(format!("{at}: {what} must be a price ≥ 0, got {v}"));
                }
            }
        }
        Ok(())
    }

    fn missing(&self, cloud: Cloud, region: &str, item: String, hint: String) -> PricingError {
        PricingError::Missing {
            path: self.origin.clone(),
            cloud,
            region: region.to_string(),
            item,
            hint,
        }
    }

    /// The region's value of an item, else the cloud default's.
    fn pick<'a, T>(
        &'a self,
        cloud: Cloud,
        region: &str,
        item: impl Fn(&'a Prices) -> Option<T>,
    ) -> Option<T> {
        let prices = self.clouds.get(&cloud)?;
        prices
            .regions
            .get(region)
            .and_then(&item)
            .or_else(|| item(&prices.default))
    }

    fn egress_tiers(&self, cloud: Cloud, region: &str) -> Result<&[Tier], PricingError> {
        self.pick(cloud, region, |p| p.internet_egress.as_deref())
            .ok_or_else(|| self.missing(cloud, region, "internet_egress".into(), String::new()))
    }

    /// The first-tier internet egress price: what one more GB costs a small sender.
    pub fn internet_per_gb(&self, cloud: Cloud, region: &str) -> Result<UsdPerGb, PricingError> {
        let tiers = self.egress_tiers(cloud, region)?;
        // A free allowance (Azure's first 100 GB) is not the marginal price.
        let paid = tiers
            .iter()
            .find(|t| t.usd_per_gb > 0.0)
            .or(tiers.first())
            .map(|t| t.usd_per_gb)
            .unwrap_or(0.0);
        Ok(UsdPerGb(paid))
    }

    /// The internet egress bill for `monthly_gb`, through the tiers.
    pub fn internet_egress(
        &self,
        cloud: Cloud,
        region: &str,
        monthly_gb: f64,
    ) -> Result<Usd, PricingError> {
        let tiers = self.egress_tiers(cloud, region)?;
        let mut left = monthly_gb.max(0.0);
        let mut floor = 0.0;
        let mut total = 0.0;
        for t in tiers {
            if left <= 0.0 {
                break;
            }
            let span = t.up_to_gb.map(|up| up - floor).unwrap_or(f64::INFINITY);
            let here = left.min(span);
            total += here * t.usd_per_gb;
            left -= here;
            floor = t.up_to_gb.unwrap_or(floor);
        }
        Ok(Usd(total))
    }

    /// Per-GB price of sending over a link of `kind` from `cloud`/`region`.
    /// VPN and internet traffic is billed as internet egress unless the
    /// catalog names a VPN price.
    pub fn per_gb(
        &self,
        cloud: Cloud,
        region: &str,
        kind: TransferKind,
    ) -> Result<UsdPerGb, PricingError> {
        if let Some(v) = self.pick(cloud, region, |p| p.transfer_per_gb.get(&kind).copied()) {
            return Ok(UsdPerGb(v));
        }
        if kind == TransferKind::Vpn {
            return self.internet_per_gb(cloud, region);
        }
        Err(self.missing(
            cloud,
            region,
            format!("transfer_per_gb.{}", kind.as_str()),
            String::new(),
        ))
    }

    /// Monthly fee of a port or circuit of `kind` at `gbps`.
    pub fn port_monthly(
        &self,
        cloud: Cloud,
        region: &str,
        kind: TransferKind,
        gbps: f64,
    ) -> Result<Usd, PricingError> {
        let speeds = self
            .pick(cloud, region, |p| p.ports_monthly.get(&kind))
            .ok_or_else(|| {
                self.missing(
                    cloud,
                    region,
                    format!("ports_monthly.{}", kind.as_str()),
                    String::new(),
                )
            })?;
        let found = speeds
            .iter()
            .find(|(speed, _)| speed.parse::<f64>().is_ok_and(|s| (s - gbps).abs() < 1e-9));
        match found {
            Some((_, fee)) => Ok(Usd(*fee)),
            None => Err(self.missing(
                cloud,
                region,
                format!("ports_monthly.{} at {gbps} Gbps", kind.as_str()),
                format!(
                    " (known speeds: {} Gbps)",
                    speeds.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// Monthly fee of one VPN connection (gateway or tunnel hours).
    pub fn vpn_monthly(&self, cloud: Cloud, region: &str) -> Result<Usd, PricingError> {
        self.pick(cloud, region, |p| p.vpn_connection_hourly)
            .map(|h| Usd(h * self.hours_per_month))
            .ok_or_else(|| {
                self.missing(cloud, region, "vpn_connection_hourly".into(), String::new())
            })
    }

    /// Monthly fee of one Transit Gateway attachment.
    pub fn transit_attachment_monthly(
        &self,
        cloud: Cloud,
        region: &str,
    ) -> Result<Usd, PricingError> {
        self.pick(cloud, region, |p| p.transit_gateway_attachment_hourly)
            .map(|h| Usd(h * self.hours_per_month))
            .ok_or_else(|| {
                self.missing(
                    cloud,
                    region,
                    "transit_gateway_attachment_hourly".into(),
                    String::new(),
                )
            })
    }
}

/// The transfer kind a connection's traffic is billed as.
pub fn transfer_kind(kind: ConnectionKind) -> Option<TransferKind> {
    match kind {
        ConnectionKind::DirectConnect => Some(TransferKind::DirectConnect),
        ConnectionKind::Expressroute => Some(TransferKind::Expressroute),
        ConnectionKind::Interconnect => Some(TransferKind::Interconnect),
        ConnectionKind::Vpn => Some(TransferKind::Vpn),
        ConnectionKind::Peering => Some(TransferKind::Peering),
        ConnectionKind::TransitGateway => Some(TransferKind::TransitGateway),
        ConnectionKind::Internet => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> PricingCatalog {
        PricingCatalog::embedded().unwrap()
    }

    #[test]
    fn the_embedded_catalog_reads_and_is_dated() {
        let c = catalog();
        assert_eq!(c.as_of, "2026-11-01");
        assert_eq!(c.clouds.len(), 3);
    }

    #[test]
    fn egress_is_billed_through_the_tiers() {
        let c = catalog();
        // 10 TB at $0.09 + 5 TB at $0.085 = 921.60 + 435.20.
        let bill = c
            .internet_egress(Cloud::Aws, "us-east-1", 15_360.0)
            .unwrap();
        assert!(
            (bill.0 - (10_240.0 * 0.09 + 5_120.0 * 0.085)).abs() < 1e-6,
            "{bill}"
        );
        // 800 GB, the chapter's question: $72.
        let small = c.internet_egress(Cloud::Aws, "us-east-1", 800.0).unwrap();
        assert!((small.0 - 72.0).abs() < 1e-9);
        // Azure's first 100 GB are free, but the marginal price is the first paid tier.
        assert_eq!(c.internet_per_gb(Cloud::Azure, "eastus").unwrap().0, 0.087);
        assert_eq!(
            c.internet_egress(Cloud::Azure, "eastus", 100.0).unwrap().0,
            0.0
        );
    }

    #[test]
    fn regions_override_the_default_item_by_item() {
        let c = catalog();
        let sg = c
            .per_gb(Cloud::Aws, "ap-southeast-1", TransferKind::DirectConnect)
            .unwrap();
        let us = c
            .per_gb(Cloud::Aws, "us-east-1", TransferKind::DirectConnect)
            .unwrap();
        assert_eq!((sg.0, us.0), (0.09, 0.02));
        // Not overridden there: falls back to the default.
        assert_eq!(
            c.per_gb(Cloud::Aws, "ap-southeast-1", TransferKind::Peering)
                .unwrap()
                .0,
            0.01
        );
        // VPN traffic is internet egress unless priced.
        assert_eq!(
            c.per_gb(Cloud::Gcp, "us-central1", TransferKind::Vpn)
                .unwrap()
                .0,
            0.12
        );
        assert!((c.vpn_monthly(Cloud::Aws, "us-east-1").unwrap().0 - 36.5).abs() < 1e-9);
    }

    #[test]
    fn a_missing_price_is_an_error_that_names_it() {
        let c = catalog();
        let err = c
            .port_monthly(Cloud::Aws, "us-east-1", TransferKind::DirectConnect, 2.0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ports_monthly.direct_connect at 2 Gbps")
                && err.contains("known speeds: 1, 10, 100"),
            "{err}"
        );
        let err = c
            .per_gb(Cloud::Azure, "eastus", TransferKind::TransitGateway)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("transfer_per_gb.transit_gateway") && err.contains("azure eastus"),
            "{err}"
        );
        let err = c
            .transit_attachment_monthly(Cloud::Gcp, "us-central1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("transit_gateway_attachment_hourly"), "{err}");
    }

    #[test]
    fn bad_catalogs_are_refused_with_the_place() {
        let base = EMBEDDED_PRICING;
        for (text, expected) in [
            (
                base.replace("up_to_gb: 51200", "up_to_gb: 5000"),
                "not above the previous",
            ),
            (
                base.replace("direct_connect: 0.02 ", "direct_connect: -0.02 "),
                "must be a price ≥ 0",
            ),
            (
                base.replace("hours_per_month: 730", "hours_per_month: 0"),
                "hours_per_month",
            ),
            (
                base.replace("{ 1: 219.0,", "{ fast: 219.0,"),
                "is not a number of Gbps",
            ),
            (base.replace("clouds:", "cloudz:"), "unknown field"),
            (base.replace("  gcp:", "  oracle:"), "oracle"),
        ] {
            let err = PricingCatalog::from_yaml(&text, "p.yaml")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("p.yaml") && err.contains(expected),
                "expected '{expected}': {err}"
            );
        }
    }
}
