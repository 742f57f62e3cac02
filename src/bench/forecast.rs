//! `switchboard bench forecast`: the forecasts over a synthetic fleet (N
//! paths × D days of hourly RTT samples → daily medians → Theil–Sen trends;
//! C connections × D days of usage → capacity), then the digest and the
//! forecast service over D days of the lab estate's usage read from a fresh
//! store. Synthetic data is deterministic (fixed-seed LCG); one path and one
//! connection in ten trend upwards, the rest are noise around a level.

use crate::digest::service::DigestService;
use crate::domain::{Cloud, ConnectionId, ConnectionKind, Estate, Gbps, Gigabytes, Millis};
use crate::forecast::report::{capacity, daily_medians, latency};
use crate::forecast::service::{ForecastService, ForecastSettings};
use crate::forecast::{CapacityConfig, TrendConfig};
use crate::optimizer::pricing::PricingCatalog;
use crate::providers::lab::EMBEDDED_ESTATE;
use crate::store::Store;
use crate::usage::{lab, price_estate, ConnectionFacts, EstateFeed, FixedEstate, UsageRow};
use chrono::{Days, NaiveDate};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ForecastBenchError {
    #[error("{0}")]
    Setup(String),
}

#[derive(Debug, Clone)]
pub struct ForecastBench {
    pub paths: usize,
    pub days: u32,
    pub samples: usize,
    pub latency: Duration,
    pub latency_alerts: usize,
    pub connections: usize,
    pub capacity: Duration,
    pub capacity_alerts: usize,
}

/// A deterministic stream of values in [-1, 1) (Knuth's MMIX LCG).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default()
}

pub fn forecast(
    paths: usize,
    days: u32,
    connections: usize,
) -> Result<ForecastBench, ForecastBenchError> {
    let mut noise = Noise(42);
    let start = first_day();
    // Hourly samples per path: level 10–30 ms, ±10 % noise; every tenth
    // path rises 0.3 ms/day.
    let mut hourly: Vec<(String, Vec<(NaiveDate, f64)>)> = Vec::with_capacity(paths);
    for p in 0..paths {
        let level = 10.0 + (p % 20) as f64;
        let rise = if p % 10 == 0 { 0.3 } else { 0.0 };
        let mut samples = Vec::with_capacity(days as usize * 24);
        for d in 0..days {
            let day = start + Days::new(u64::from(d));
            for _ in 0..24 {
                let v = (level + rise * f64::from(d)) * (1.0 + 0.1 * noise.next());
                samples.push((day, v));
            }
        }
        hourly.push((format!("path-{p}/primary"), samples));
    }
    let samples = hourly.iter().map(|(_, s)| s.len()).sum();

    let started = Instant::now();
    let series: BTreeMap<String, Vec<(NaiveDate, Millis)>> = hourly
        .into_iter()
        .map(|(path, s)| (path, daily_medians(s)))
        .collect();
    let mut skipped = Vec::new();
    let trends = latency(&series, &TrendConfig::default(), &mut skipped);
    let latency_time = started.elapsed();
    if !skipped.is_empty() || trends.len() != paths {
        return Err(ForecastBenchError::Setup(format!(
            "{} of {paths} trends made: {skipped:?}",
            trends.len()
        )));
    }

    // Daily usage per connection: 2–6 Gbps average on 10 Gbps, ±5 %; every
    // tenth connection grows 0.02 Gbps/day.
    let mut facts = BTreeMap::new();
    let mut usage = Vec::with_capacity(connections * days as usize);
    for d in 0..days {
        let day = start + Days::new(u64::from(d));
        for c in 0..connections {
            let id = ConnectionId::new(format!("conn-{c}"));
            let level = 2.0
                + (c % 5) as f64
                + if c % 10 == 0 {
                    0.02 * f64::from(d)
                } else {
                    0.0
                };
            let gbps = level * (1.0 + 0.05 * noise.next());
            usage.push(UsageRow {
                day,
                connection: id.clone(),
                cloud: Cloud::Aws,
                kind: ConnectionKind::DirectConnect,
                gigabytes: Gigabytes(gbps * 86_400.0 / 8.0),
                peak_gbps: Some(Gbps(gbps * 1.5)),
            });
            if d == 0 {
                facts.insert(
                    id,
                    ConnectionFacts {
                        cloud: Cloud::Aws,
                        kind: ConnectionKind::DirectConnect,
                        bandwidth: Gbps(10.0),
                    },
                );
            }
        }
    }
    let started = Instant::now();
    let outlook = capacity(&usage, &facts, &CapacityConfig::default(), &mut skipped);
    let capacity_time = started.elapsed();
    if outlook.len() != connections {
        return Err(ForecastBenchError::Setup(format!(
            "{} of {connections} capacity forecasts made: {skipped:?}",
            outlook.len()
        )));
    }
    Ok(ForecastBench {
        paths,
        days,
        samples,
        latency: latency_time,
        latency_alerts: trends.iter().filter(|t| t.report.alert).count(),
        connections,
        capacity: capacity_time,
        capacity_alerts: outlook.iter().filter(|c| c.report.alert).count(),
    })
}

#[derive(Debug, Clone)]
pub struct DigestBench {
    pub rows: usize,
    pub days: u32,
    pub digest: Duration,
    pub forecast: Duration,
}

/// The digest and the forecast service over `days` of the lab estate's usage.
pub async fn digest(dir: &Path, days: u32) -> Result<DigestBench, ForecastBenchError> {
    let setup = |e: &dyn std::fmt::Display| ForecastBenchError::Setup(e.to_string());
    let estate = Arc::new(Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").map_err(|e| setup(&e))?);
    let store = Store::open(&dir.join("bench.db"))
        .await
        .map_err(|e| setup(&e))?;
    let start = first_day();
    let rows = lab::history(&estate, start, days, &[]);
    let count = rows.len();
    store
        .upsert_usage(rows, "lab")
        .await
        .map_err(|e| setup(&e))?;
    let pricing = price_estate(&estate, PricingCatalog::embedded());
    let feed: Arc<dyn EstateFeed> = Arc::new(FixedEstate {
        estate: estate.clone(),
        pricing,
    });
    let service = DigestService::new(store.clone(), feed.clone(), "digest".into(), chrono_tz::UTC);
    let morning = start + Days::new(u64::from(days));
    let started = Instant::now();
    let digest = service.digest(morning).await.map_err(|e| setup(&e))?;
    let digest_time = started.elapsed();
    if digest.costs.is_none() {
        return Err(ForecastBenchError::Setup(format!("no costs on {morning}")));
    }
    let forecasts = ForecastService::new(store, feed, "alerts".into());
    let started = Instant::now();
    forecasts
        .forecasts(&ForecastSettings::default())
        .await
        .map_err(|e| setup(&e))?;
    Ok(DigestBench {
        rows: count,
        days,
        digest: digest_time,
        forecast: started.elapsed(),
    })
}
