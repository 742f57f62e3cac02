//! The lab's fake billing export: a deterministic daily usage history for an
//! estate, made from its flows' monthly volumes. It stands for a cloud's
//! billing or flow-log export feeding the real pipeline; nothing downstream
//! knows it is fake.
//!
//! Each connection carries the flows whose path uses it, except the far
//! internet hop of an internet path (the receiving cloud's ingress, which is
//! neither billed nor its egress). A day's volume is the monthly volume over
//! 30.4 days, shaped by the weekday (×1.1 Monday–Friday, ×0.75 at weekends:
//! the week averages 1), mild growth (+0.1 %/day from the first day) and
//! ±5 % noise from a fixed-seed generator keyed by connection and day, so the
//! same arguments always give the same history. The peak is 1.8 × the day's
//! average rate. Spikes multiply one connection's traffic from a day on (a
//! route that went wrong and stayed wrong, like the chapter's internet egress).

use super::{connection_facts, parse_day, UsageRow};
use crate::domain::{ConnectionId, ConnectionKind, Estate, Gbps, Gigabytes};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use std::collections::BTreeMap;

const DAYS_PER_MONTH: f64 = 30.4;
const GROWTH_PER_DAY: f64 = 0.001;
const NOISE: f64 = 0.05;
const PEAK_OVER_AVERAGE: f64 = 1.8;
/// Longest history the lab writes in one go (ten years).
pub const MAX_DAYS: u32 = 3653;

/// One connection's traffic multiplied by `factor` from `from` on.
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    pub connection: ConnectionId,
    pub from: NaiveDate,
    pub factor: f64,
}

impl Spike {
    /// Reads `connection:YYYY-MM-DD:factor`, checking the connection exists.
    pub fn parse(text: &str, estate: &Estate) -> Result<Spike, String> {
        let usage =
            "write a spike as connection:YYYY-MM-DD:factor, e.g. inet-aws-use1-prod:2026-01-10:20";
        let parts: Vec<&str> = text.split(':').collect();
        let [connection, day, factor] = parts.as_slice() else {
            return Err(format!(
                "'{}': {usage}",
                text.chars().take(80).collect::<String>()
            ));
        };
        let connection = ConnectionId::new(connection.trim());
        if estate.connection(&connection).is_none() {
            return Err(format!("spike: unknown connection '{connection}'"));
        }
        let from = parse_day(day).map_err(|e| format!("spike: {e}"))?;
        let factor = factor
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f <= 1000.0)
            .ok_or_else(|| format!("spike: factor '{factor}' must be a number from 0 to 1000"))?;
        Ok(Spike {
            connection,
            from,
            factor,
        })
    }
}

/// Monthly gigabytes per connection from the estate's flows.
pub fn monthly_volumes(estate: &Estate) -> BTreeMap<ConnectionId, f64> {
    let mut volumes: BTreeMap<ConnectionId, f64> = BTreeMap::new();
    for flow in &estate.flows {
        let mut internet_hops = 0;
        for id in &flow.path {
            let Some(connection) = estate.connection(id) else {
                continue;
            };
            if connection.kind == ConnectionKind::Internet {
                internet_hops += 1;
                if internet_hops > 1 {
                    continue;
                }
            }
            *volumes.entry(id.clone()).or_default() += flow.monthly_gb.0;
        }
    }
    volumes
}

/// A deterministic value in [-1, 1] for a connection and a day (SplitMix64
/// over an FNV-1a hash of the id and the day number).
fn noise(connection: &ConnectionId, day: NaiveDate) -> f64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in connection.as_str().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
    }
    let mut z = hash ^ (day.num_days_from_ce() as u64).wrapping_mul(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

fn weekday_shape(day: NaiveDate) -> f64 {
    match day.weekday() {
        Weekday::Sat | Weekday::Sun => 0.75,
        _ => 1.1,
    }
}

/// `days` days of history from `from`, one row per connection that carries
/// traffic, day by day.
pub fn history(estate: &Estate, from: NaiveDate, days: u32, spikes: &[Spike]) -> Vec<UsageRow> {
    let facts = connection_facts(estate);
    let volumes = monthly_volumes(estate);
    let mut rows = Vec::with_capacity(days as usize * volumes.len());
    for offset in 0..days.min(MAX_DAYS) {
        let Some(day) = from.checked_add_days(Days::new(u64::from(offset))) else {
            break;
        };
        let growth = 1.0 + GROWTH_PER_DAY * f64::from(offset);
        for (id, monthly) in &volumes {
            let Some(f) = facts.get(id) else { continue };
            let spike: f64 = spikes
                .iter()
                .filter(|s| &s.connection == id && s.from <= day)
                .map(|s| s.factor)
                .product();
            let gigabytes = monthly / DAYS_PER_MONTH
                * weekday_shape(day)
                * growth
                * (1.0 + NOISE * noise(id, day))
                * spike;
            let average = gigabytes * 8.0 / 86_400.0;
            rows.push(UsageRow {
                day,
                connection: id.clone(),
                cloud: f.cloud,
                kind: f.kind,
                gigabytes: Gigabytes(gigabytes),
                peak_gbps: Some(Gbps(average * PEAK_OVER_AVERAGE)),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::lab::EMBEDDED_ESTATE;

    fn estate() -> Estate {
        Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap()
    }

    #[test]
    fn the_history_is_deterministic_and_follows_the_flows() {
        let estate = estate();
        let from = parse_day("2026-01-01").unwrap();
        let a = history(&estate, from, 28, &[]);
        assert_eq!(a, history(&estate, from, 28, &[]));
        // Four whole weeks average the weekday shape out: the month's volume
        // per day within noise and growth.
        let volumes = monthly_volumes(&estate);
        let dx = ConnectionId::new("dx-1");
        let total: f64 = a
            .iter()
            .filter(|r| r.connection == dx)
            .map(|r| r.gigabytes.0)
            .sum();
        let expected = volumes[&dx] / DAYS_PER_MONTH * 28.0;
        assert!(
            (total / expected - 1.0).abs() < 0.03,
            "{total} vs {expected}"
        );
        // The far internet hop of flow-006 (46,000 GB/month) is ingress.
        assert!(volumes[&ConnectionId::new("inet-aws-use1-prod")] >= 46_000.0);
    }

    #[test]
    fn a_spike_multiplies_one_connection_from_its_day_on() {
        let estate = estate();
        let from = parse_day("2026-01-01").unwrap();
        let spike = Spike::parse("inet-aws-use1-prod:2026-01-10:20", &estate).unwrap();
        let plain = history(&estate, from, 14, &[]);
        let spiked = history(&estate, from, 14, std::slice::from_ref(&spike));
        for (p, s) in plain.iter().zip(&spiked) {
            let ratio = s.gigabytes.0 / p.gigabytes.0;
            let expected = if p.connection == spike.connection && p.day >= spike.from {
                20.0
            } else {
                1.0
            };
            assert!((ratio - expected).abs() < 1e-9, "{p:?}");
        }
    }

    #[test]
    fn bad_spikes_are_refused_with_the_reason() {
        let estate = estate();
        for (text, says) in [
            ("dx-1:2026-01-01", "connection:YYYY-MM-DD:factor"),
            ("nope:2026-01-01:2", "unknown connection 'nope'"),
            ("dx-1:yesterday:2", "not a day"),
            ("dx-1:2026-01-01:-1", "factor"),
        ] {
            let err = Spike::parse(text, &estate).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
