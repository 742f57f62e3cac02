//! What `switchboard forecast` answers, assembled from the pure forecasts:
//! the latency trend of every monitored path, the capacity of every
//! connection with usage, the cost per cloud and per connection, and which
//! prediction alerts to raise or clear. Pure: the service hands in the
//! series it read.
//!
//! - Latency: hourly mean RTTs (from the prober's per-minute aggregates) →
//!   a daily median per path → [`latency_trend`]. The baseline is the path's
//!   best (lowest) daily median in the window.
//! - Capacity: each connection's daily peak when every day has one (links
//!   saturate at peaks), else its daily average → [`capacity_forecast`].
//! - Cost: daily marginal cost per connection and per cloud →
//!   [`cost_forecast`] (month end, next month; marginal and full).
//!
//! A subject whose forecast cannot be made (too few days) is listed under
//! `skipped` with the reason, and its alert state is left as it was:
//! not knowing is not the same as all clear.

use super::cost::{cost_forecast, CostForecast};
use super::{
    capacity_forecast, latency_trend, CapacityConfig, CapacityReport, TrendConfig, TrendReport,
};
use crate::chat::message::{Message, Tone};
use crate::digest::{connection_label, dollars};
use crate::domain::{Cloud, ConnectionId, ConnectionKind, Gbps, Millis, Usd};
use crate::store::usage::{ConditionKey, Raise};
use crate::usage::{ConnectionFacts, Pricing, UsageRow};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub const LATENCY_CONDITION: &str = "latency_trend";
pub const CAPACITY_CONDITION: &str = "capacity";

/// One path's trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathTrend {
    pub path: String,
    pub days: usize,
    pub first_median_ms: Millis,
    pub last_median_ms: Millis,
    pub baseline_ms: Millis,
    pub threshold_ms: Millis,
    #[serde(flatten)]
    pub report: TrendReport,
}

/// One connection's capacity outlook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionCapacity {
    pub connection: ConnectionId,
    pub bandwidth_gbps: Gbps,
    /// `peak` or `average`: which daily figure was fitted.
    pub measure: &'static str,
    pub days: usize,
    #[serde(flatten)]
    pub report: CapacityReport,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudForecast {
    pub cloud: Cloud,
    #[serde(flatten)]
    pub forecast: CostForecast,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionForecast {
    pub connection: ConnectionId,
    pub cloud: Cloud,
    pub kind: ConnectionKind,
    #[serde(flatten)]
    pub forecast: CostForecast,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostSection {
    pub basis: &'static str,
    /// Where the prices came from (the catalog, or the estate's own figures).
    pub prices_from: String,
    pub total: Option<CostForecast>,
    pub clouds: Vec<CloudForecast>,
    pub connections: Vec<ConnectionForecast>,
}

/// A subject left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub subject: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecasts {
    pub latency: Vec<PathTrend>,
    pub capacity: Vec<ConnectionCapacity>,
    pub cost: CostSection,
    pub skipped: Vec<Skipped>,
}

pub const COST_BASIS: &str = "marginal: traffic × the catalog's per-GB price of each connection; full: plus base fees (ports, circuits, VPN hours) for the whole month";

/// Daily medians of `(day, value)` points (any order), sorted by day.
pub fn daily_medians(
    points: impl IntoIterator<Item = (NaiveDate, f64)>,
) -> Vec<(NaiveDate, Millis)> {
    let mut by_day: BTreeMap<NaiveDate, Vec<f64>> = BTreeMap::new();
    for (day, value) in points {
        if value.is_finite() {
            by_day.entry(day).or_default().push(value);
        }
    }
    by_day
        .into_iter()
        .filter_map(|(day, mut values)| super::trend::median(&mut values).map(|m| (day, Millis(m))))
        .collect()
}

/// Latency trends from daily medians per path.
pub fn latency(
    series: &BTreeMap<String, Vec<(NaiveDate, Millis)>>,
    config: &TrendConfig,
    skipped: &mut Vec<Skipped>,
) -> Vec<PathTrend> {
    let mut out = Vec::new();
    for (path, days) in series {
        let baseline = days.iter().map(|(_, m)| m.0).fold(f64::INFINITY, f64::min);
        let (Some(first), Some(last)) = (days.first(), days.last()) else {
            continue;
        };
        match latency_trend(days, Millis(baseline), config) {
            Ok(report) => out.push(PathTrend {
                path: path.clone(),
                days: days.len(),
                first_median_ms: first.1,
                last_median_ms: last.1,
                baseline_ms: Millis(baseline),
                threshold_ms: Millis(baseline * config.factor),
                report,
            }),
            Err(e) => skipped.push(Skipped {
                subject: path.clone(),
                reason: format!("latency trend: {e}"),
            }),
        }
    }
    out
}

/// Capacity per connection with usage (rows sorted by day).
pub fn capacity(
    usage: &[UsageRow],
    facts: &BTreeMap<ConnectionId, ConnectionFacts>,
    config: &CapacityConfig,
    skipped: &mut Vec<Skipped>,
) -> Vec<ConnectionCapacity> {
    let mut by_connection: BTreeMap<&ConnectionId, Vec<&UsageRow>> = BTreeMap::new();
    for row in usage {
        by_connection.entry(&row.connection).or_default().push(row);
    }
    let mut out = Vec::new();
    for (id, rows) in by_connection {
        let Some(f) = facts.get(id) else {
            skipped.push(Skipped {
                subject: id.to_string(),
                reason: "capacity: the connection is not in the estate (bandwidth unknown)".into(),
            });
            continue;
        };
        let peaks = rows.iter().all(|r| r.peak_gbps.is_some());
        let series: Vec<(NaiveDate, Gbps)> = rows
            .iter()
            .map(|r| {
                (
                    r.day,
                    r.peak_gbps
                        .filter(|_| peaks)
                        .unwrap_or_else(|| r.average_gbps()),
                )
            })
            .collect();
        match capacity_forecast(&series, f.bandwidth, config) {
            Ok(report) => out.push(ConnectionCapacity {
                connection: id.clone(),
                bandwidth_gbps: f.bandwidth,
                measure: if peaks { "peak" } else { "average" },
                days: series.len(),
                report,
            }),
            Err(e) => skipped.push(Skipped {
                subject: id.to_string(),
                reason: format!("capacity: {e}"),
            }),
        }
    }
    out
}

/// A connection's billed cloud, kind and daily marginal costs.
type DailyCosts = (Cloud, ConnectionKind, Vec<(NaiveDate, Usd)>);

/// Cost forecasts for the estate, each cloud and each connection with usage.
pub fn cost(usage: &[UsageRow], pricing: &Pricing) -> CostSection {
    let prices = &pricing.prices;
    let Some(as_of) = usage.iter().map(|r| r.day).max() else {
        return CostSection {
            basis: COST_BASIS,
            prices_from: pricing.source.clone(),
            total: None,
            clouds: Vec::new(),
            connections: Vec::new(),
        };
    };
    let mut total: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    let mut per_cloud: BTreeMap<Cloud, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    let mut per_connection: BTreeMap<&ConnectionId, DailyCosts> = BTreeMap::new();
    for row in usage {
        let Some(price) = prices.get(&row.connection) else {
            continue;
        };
        let m = row.gigabytes.0 * price.per_gb.0;
        *total.entry(row.day).or_default() += m;
        *per_cloud
            .entry(price.cloud)
            .or_default()
            .entry(row.day)
            .or_default() += m;
        per_connection
            .entry(&row.connection)
            .or_insert_with(|| (price.cloud, row.kind, Vec::new()))
            .2
            .push((row.day, Usd(m)));
    }
    let dated =
        |m: BTreeMap<NaiveDate, f64>| m.into_iter().map(|(d, c)| (d, Usd(c))).collect::<Vec<_>>();
    let base_of = |cloud: Option<Cloud>| {
        Usd(prices
            .values()
            .filter(|p| cloud.is_none_or(|c| p.cloud == c))
            .map(|p| p.monthly_base.0)
            .sum())
    };
    let clouds = per_cloud
        .into_iter()
        .filter_map(|(cloud, days)| {
            cost_forecast(&dated(days), base_of(Some(cloud)), as_of)
                .map(|forecast| CloudForecast { cloud, forecast })
        })
        .collect();
    let mut connections: Vec<ConnectionForecast> = per_connection
        .into_iter()
        .filter_map(|(id, (cloud, kind, days))| {
            let base = prices.get(id).map_or(Usd(0.0), |p| p.monthly_base);
            cost_forecast(&days, base, as_of).map(|forecast| ConnectionForecast {
                connection: id.clone(),
                cloud,
                kind,
                forecast,
            })
        })
        .collect();
    connections.sort_by(|a, b| {
        b.forecast
            .month_end
            .marginal
            .0
            .total_cmp(&a.forecast.month_end.marginal.0)
            .then_with(|| a.connection.cmp(&b.connection))
    });
    CostSection {
        basis: COST_BASIS,
        prices_from: pricing.source.clone(),
        total: cost_forecast(&dated(total), base_of(None), as_of),
        clouds,
        connections,
    }
}

/// The alerts to raise (not raised yet) and the raised conditions to clear.
pub fn alert_changes(
    forecasts: &Forecasts,
    raised: &[ConditionKey],
    channel: &str,
) -> (Vec<Raise>, Vec<ConditionKey>) {
    let raised: BTreeSet<&ConditionKey> = raised.iter().collect();
    let mut raise = Vec::new();
    let mut clear = Vec::new();
    let mut decide =
        |key: ConditionKey, alert: bool, message: &dyn Fn() -> (Message, Message)| match (
            alert,
            raised.contains(&key),
        ) {
            (true, false) => {
                let (alert, all_clear) = message();
                raise.push(Raise {
                    key,
                    channel: channel.to_string(),
                    alert,
                    all_clear,
                });
            }
            (false, true) => clear.push(key),
            _ => {}
        };
    for t in &forecasts.latency {
        let key = ConditionKey {
            subject: t.path.clone(),
            condition: LATENCY_CONDITION.into(),
        };
        decide(key, t.report.alert, &|| latency_messages(t));
    }
    for c in &forecasts.capacity {
        let key = ConditionKey {
            subject: c.connection.to_string(),
            condition: CAPACITY_CONDITION.into(),
        };
        decide(key, c.report.alert, &|| capacity_messages(c));
    }
    (raise, clear)
}

fn when(day: Option<NaiveDate>) -> String {
    day.map_or_else(|| "not within the horizon".to_string(), |d| d.to_string())
}

fn latency_messages(t: &PathTrend) -> (Message, Message) {
    let r = &t.report;
    let alert = Message::text(format!(
        "Daily median latency {:.1} → {:.1} ms over {} days ({:+.2} ms/day, confidence {:.2}). Projected to reach {:.1} ms (2× its {:.1} ms baseline) on {}{}.",
        t.first_median_ms.0,
        t.last_median_ms.0,
        t.days,
        r.slope_ms_per_day,
        r.confidence,
        t.threshold_ms.0,
        t.baseline_ms.0,
        when(r.crosses_on),
        r.days_until.map_or(String::new(), |d| format!(", in {d} days")),
    ))
    .with_title(format!("Prediction: latency rising on {}", t.path))
    .with_tone(Tone::Warning);
    let all_clear = Message::text(format!(
        "{}: the latency trend no longer projects 2× its baseline within the horizon.",
        t.path
    ))
    .with_title(format!("Cleared: latency trend on {}", t.path))
    .with_tone(Tone::Success);
    (alert, all_clear)
}

fn capacity_messages(c: &ConnectionCapacity) -> (Message, Message) {
    let r = &c.report;
    let alert = Message::text(format!(
        "{}: {} traffic at {:.0} % of {} ({:+.3} Gbps/day, confidence {:.2}). Reaches 80 % on {}, 100 % on {}.",
        c.connection,
        c.measure,
        r.utilisation_now * 100.0,
        c.bandwidth_gbps,
        r.growth_gbps_per_day,
        r.confidence,
        when(r.reaches_80_on),
        when(r.reaches_100_on),
    ))
    .with_title(format!("Prediction: {} is running out of capacity", c.connection))
    .with_tone(Tone::Warning);
    let all_clear = Message::text(format!(
        "{}: no longer projected to reach 80 % of {} within the horizon.",
        c.connection, c.bandwidth_gbps
    ))
    .with_title(format!("Cleared: capacity on {}", c.connection))
    .with_tone(Tone::Success);
    (alert, all_clear)
}

/// The text `switchboard forecast` prints.
pub fn text(f: &Forecasts, top: usize) -> String {
    let mut out = Vec::new();
    out.push(format!("Latency trends ({} paths):", f.latency.len()));
    if f.latency.is_empty() {
        out.push("  none: no probe history yet (run `switchboard probe`)".into());
    }
    for t in &f.latency {
        out.push(format!(
            "  {} {}: {:.1} → {:.1} ms over {} days, {:+.2} ms/day (confidence {:.2}); 2× baseline ({:.1} ms): {}",
            if t.report.alert { "⚠" } else { "·" },
            t.path,
            t.first_median_ms.0,
            t.last_median_ms.0,
            t.days,
            t.report.slope_ms_per_day,
            t.report.confidence,
            t.threshold_ms.0,
            when(t.report.crosses_on)
        ));
    }
    out.push(format!("Capacity ({} connections):", f.capacity.len()));
    if f.capacity.is_empty() {
        out.push(
            "  none: no usage history yet (`switchboard usage import` or `switchboard lab usage`)"
                .into(),
        );
    }
    let mut capacity: Vec<&ConnectionCapacity> = f.capacity.iter().collect();
    capacity.sort_by(|a, b| {
        b.report.alert.cmp(&a.report.alert).then_with(|| {
            b.report
                .utilisation_now
                .total_cmp(&a.report.utilisation_now)
        })
    });
    for c in capacity.iter().take(top) {
        out.push(format!(
            "  {} {}: {} {:.0} % of {}, {:+.4} Gbps/day; 80 %: {}, 100 %: {}",
            if c.report.alert { "⚠" } else { "·" },
            c.connection,
            c.measure,
            c.report.utilisation_now * 100.0,
            c.bandwidth_gbps,
            c.report.growth_gbps_per_day,
            when(c.report.reaches_80_on),
            when(c.report.reaches_100_on)
        ));
    }
    if capacity.len() > top {
        out.push(format!(
            "  … and {} more (--format json lists all)",
            capacity.len() - top
        ));
    }
    match &f.cost.total {
        None => out.push("Cost: no usage history, so no forecast.".into()),
        Some(t) => {
            out.push(format!(
                "Cost as of {} (marginal / full): month to date {} / {}; month end {} / {}; next month {} / {}",
                t.as_of,
                dollars(t.month_to_date.marginal),
                dollars(t.month_to_date.full),
                dollars(t.month_end.marginal),
                dollars(t.month_end.full),
                dollars(t.next_month.marginal),
                dollars(t.next_month.full)
            ));
            for c in &f.cost.clouds {
                out.push(format!(
                    "  {}: month end {} / {}, next month {} / {}",
                    c.cloud,
                    dollars(c.forecast.month_end.marginal),
                    dollars(c.forecast.month_end.full),
                    dollars(c.forecast.next_month.marginal),
                    dollars(c.forecast.next_month.full)
                ));
            }
            out.push(format!(
                "  Top connections by month end (of {}):",
                f.cost.connections.len()
            ));
            for c in f.cost.connections.iter().take(top) {
                out.push(format!(
                    "    {}: month end {} / {}, next month {} / {}",
                    connection_label(&c.connection, c.kind, c.cloud),
                    dollars(c.forecast.month_end.marginal),
                    dollars(c.forecast.month_end.full),
                    dollars(c.forecast.next_month.marginal),
                    dollars(c.forecast.next_month.full)
                ));
            }
            out.push(format!("  Basis: {}.", f.cost.basis));
            out.push(format!("  Prices: {}.", f.cost.prices_from));
        }
    }
    for s in &f.skipped {
        out.push(format!("Skipped {}: {}", s.subject, s.reason));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Days};

    fn day0() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 2, 8).unwrap()
    }

    fn one_path(values: &[f64]) -> BTreeMap<String, Vec<(NaiveDate, Millis)>> {
        let days = values
            .iter()
            .enumerate()
            .map(|(i, v)| (day0() + Days::new(i as u64), Millis(*v)))
            .collect();
        BTreeMap::from([("dx-1/primary".to_string(), days)])
    }

    fn forecasts(latency: Vec<PathTrend>) -> Forecasts {
        Forecasts {
            latency,
            capacity: Vec::new(),
            cost: cost(
                &[],
                &Pricing {
                    prices: BTreeMap::new(),
                    source: "none".into(),
                },
            ),
            skipped: Vec::new(),
        }
    }

    #[test]
    fn daily_medians_are_per_day_and_sorted() {
        let d = |i| day0() + Days::new(i);
        let m = daily_medians([
            (d(1), 5.0),
            (d(0), 1.0),
            (d(0), 3.0),
            (d(0), 100.0),
            (d(1), f64::NAN),
        ]);
        assert_eq!(m, [(d(0), Millis(3.0)), (d(1), Millis(5.0))]);
    }

    #[test]
    fn the_chapter_trend_alerts_once_and_clears_once() {
        // 12 → 14 → 16 ms over 7 days: baseline 12, 24 ms in 12 days.
        let rising = one_path(&[12.0, 12.7, 13.3, 14.0, 14.7, 15.3, 16.0]);
        let mut skipped = Vec::new();
        let trends = latency(&rising, &TrendConfig::default(), &mut skipped);
        assert!(skipped.is_empty());
        assert_eq!(trends[0].baseline_ms, Millis(12.0));
        assert!(trends[0].report.alert);
        let f = forecasts(trends);
        let (raise, clear) = alert_changes(&f, &[], "alerts");
        assert_eq!((raise.len(), clear.len()), (1, 0));
        assert!(
            raise[0].alert.text.contains("12.0 → 16.0 ms over 7 days"),
            "{}",
            raise[0].alert.text
        );
        // Already raised: nothing new, nothing cleared.
        let raised = vec![raise[0].key.clone()];
        let (again, clear) = alert_changes(&f, &raised, "alerts");
        assert_eq!((again.len(), clear.len()), (0, 0));
        // Flat again: one clear.
        let flat = latency(
            &one_path(&[12.0, 12.1, 11.9, 12.0, 12.1, 11.9, 12.0]),
            &TrendConfig::default(),
            &mut skipped,
        );
        let (raise, clear) = alert_changes(&forecasts(flat), &raised, "alerts");
        assert_eq!((raise.len(), clear), (0, raised));
    }

    #[test]
    fn a_weekly_pattern_is_not_a_trend() {
        // Busy weekdays (20 ms, 6 Gbps) and quiet weekends (14 ms, 4 Gbps)
        // for six weeks, ±3 % noise: no latency or capacity alert.
        let mut state = 7u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            1.0 + 0.03 * ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        };
        let weekend = |i: usize| {
            (day0() + Days::new(i as u64))
                .weekday()
                .number_from_monday()
                > 5
        };
        let ms: Vec<f64> = (0..42)
            .map(|i| if weekend(i) { 14.0 } else { 20.0 } * noise())
            .collect();
        let mut skipped = Vec::new();
        let trends = latency(&one_path(&ms), &TrendConfig::default(), &mut skipped);
        assert!(!trends[0].report.alert, "{:?}", trends[0]);
        let id = ConnectionId::new("dx-1");
        let usage: Vec<UsageRow> = (0..42)
            .map(|i| UsageRow {
                day: day0() + Days::new(i as u64),
                connection: id.clone(),
                cloud: Cloud::Aws,
                kind: ConnectionKind::DirectConnect,
                gigabytes: crate::domain::Gigabytes(
                    if weekend(i) { 4.0 } else { 6.0 } * noise() * 86_400.0 / 8.0,
                ),
                peak_gbps: None,
            })
            .collect();
        let facts = BTreeMap::from([(
            id,
            ConnectionFacts {
                cloud: Cloud::Aws,
                kind: ConnectionKind::DirectConnect,
                bandwidth: Gbps(10.0),
            },
        )]);
        let outlook = capacity(&usage, &facts, &CapacityConfig::default(), &mut skipped);
        assert_eq!(outlook[0].measure, "average");
        assert!(!outlook[0].report.alert, "{:?}", outlook[0]);
        assert!(skipped.is_empty(), "{skipped:?}");
    }

    #[test]
    fn too_little_history_is_skipped_and_leaves_alerts_alone() {
        let mut skipped = Vec::new();
        let trends = latency(
            &one_path(&[12.0, 30.0]),
            &TrendConfig::default(),
            &mut skipped,
        );
        assert!(trends.is_empty());
        assert!(skipped[0].reason.contains("at least 5"), "{skipped:?}");
        let raised = vec![ConditionKey {
            subject: "dx-1/primary".into(),
            condition: LATENCY_CONDITION.into(),
        }];
        let (raise, clear) = alert_changes(&forecasts(trends), &raised, "alerts");
        assert!(raise.is_empty() && clear.is_empty());
    }
}
