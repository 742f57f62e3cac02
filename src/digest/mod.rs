//! The daily cost digest: yesterday's cost by cloud and by connection, the
//! month to date against its forecast, anomalies (a connection's traffic far
//! above its own normal, e.g. egress suddenly through the internet) and the
//! optimizer's top savings. Pure: [`build`] takes the usage rows, prices and
//! plan and returns a [`Digest`]; [`message`] renders it as a neutral chat
//! `Message`. `service` is the driver (store, schedule, outbox).
//!
//! Invariants:
//! - No usage for yesterday is said as such; no cost figure is made up from
//!   missing data (a zero is a zero only when a row says so).
//! - Costs are on both bases: marginal (traffic × per-GB) and full (plus
//!   each connection's base fee spread over the month's days).

pub mod anomaly;
pub mod service;

use crate::chat::message::{Message, Tone};
use crate::domain::{Cloud, ConnectionId, ConnectionKind, Gigabytes, Usd};
use crate::forecast::cost::{cost_forecast, days_in_month, CostForecast, Costs};
use crate::optimizer::plan::Plan;
use crate::usage::{Price, Pricing, UsageRow};
use anomaly::{jump, AnomalyConfig};
use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;
use std::collections::BTreeMap;

/// Connections listed by yesterday's cost.
pub const TOP_CONNECTIONS: usize = 5;
/// Savings listed from the optimizer's plan.
pub const TOP_SAVINGS: usize = 3;

/// Days of usage before the digest's month the digest reads (the anomaly
/// detector's trailing window).
pub const HISTORY_DAYS: u64 = 28;

/// One cloud's cost yesterday.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudCost {
    pub cloud: Cloud,
    pub cost: Costs,
}

/// One connection's cost yesterday.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionCost {
    pub connection: ConnectionId,
    pub cloud: Cloud,
    pub kind: ConnectionKind,
    pub gigabytes: Gigabytes,
    pub cost: Costs,
}

/// A connection whose traffic jumped yesterday.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    pub connection: ConnectionId,
    pub cloud: Cloud,
    pub kind: ConnectionKind,
    pub gigabytes: Gigabytes,
    /// Its median over the trailing days.
    pub normal_gigabytes: Gigabytes,
    pub ratio: f64,
    pub z: f64,
    /// What the extra traffic cost yesterday.
    pub extra_usd: Usd,
    /// The same extra every day for 30 days.
    pub extra_per_month_usd: Usd,
}

/// One saving from the optimizer's plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saving {
    pub what: String,
    pub monthly_usd: Usd,
}

/// Yesterday's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Yesterday {
    pub total: Costs,
    pub by_cloud: Vec<CloudCost>,
    /// The top connections by marginal cost.
    pub top_connections: Vec<ConnectionCost>,
    /// Connections with a usage row.
    pub connections: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    /// The day the digest is for (posted that morning).
    pub date: NaiveDate,
    /// The day it reports: the day before `date`.
    pub yesterday: NaiveDate,
    /// `None`: no usage row for yesterday.
    pub costs: Option<Yesterday>,
    /// The estate's month (of `yesterday`) to date and forecast; `None`
    /// when the month has no usage yet.
    pub month: Option<CostForecast>,
    pub anomalies: Vec<Anomaly>,
    pub savings: Vec<Saving>,
    /// Where the prices came from.
    pub prices_from: String,
    pub notes: Vec<String>,
}

/// What the digest is made from.
pub struct DigestInputs<'a> {
    pub date: NaiveDate,
    /// Usage rows up to yesterday, from at least [`HISTORY_DAYS`] before
    /// the first of yesterday's month (sorted by day).
    pub usage: &'a [UsageRow],
    pub pricing: &'a Pricing,
    pub plan: Option<&'a Plan>,
}

/// The first day of the window `build` needs for a digest on `date`.
pub fn history_start(date: NaiveDate) -> NaiveDate {
    let yesterday = date.pred_opt().unwrap_or(date);
    yesterday
        .with_day(1)
        .unwrap_or(yesterday)
        .checked_sub_days(Days::new(HISTORY_DAYS))
        .unwrap_or(yesterday)
}

fn marginal(row: &UsageRow, prices: &BTreeMap<ConnectionId, Price>) -> Option<Usd> {
    prices
        .get(&row.connection)
        .map(|p| Usd(row.gigabytes.0 * p.per_gb.0))
}

pub fn build(inputs: &DigestInputs<'_>) -> Digest {
    let date = inputs.date;
    let yesterday = date.pred_opt().unwrap_or(date);
    let prices = &inputs.pricing.prices;
    let mut notes = Vec::new();
    let unpriced: Vec<&str> = inputs
        .usage
        .iter()
        .filter(|r| !prices.contains_key(&r.connection))
        .map(|r| r.connection.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !unpriced.is_empty() {
        notes.push(format!(
            "no price for {} (not in the estate): left out of the costs",
            unpriced.join(", ")
        ));
    }
    let rows_before = |day: NaiveDate| inputs.usage.iter().filter(move |r| r.day <= day);

    // Yesterday, by connection and by cloud; full cost spreads every priced
    // connection's base fee over the month, traffic or not.
    let month_days = f64::from(days_in_month(yesterday));
    let yesterday_rows: Vec<&UsageRow> =
        inputs.usage.iter().filter(|r| r.day == yesterday).collect();
    let costs = (!yesterday_rows.is_empty()).then(|| {
        let mut by_cloud: BTreeMap<Cloud, Costs> = BTreeMap::new();
        for price in prices.values() {
            by_cloud.entry(price.cloud).or_default().full.0 += price.monthly_base.0 / month_days;
        }
        let mut connections: Vec<ConnectionCost> = yesterday_rows
            .iter()
            .filter_map(|r| {
                let m = marginal(r, prices)?;
                let base = prices.get(&r.connection)?.monthly_base.0 / month_days;
                Some(ConnectionCost {
                    connection: r.connection.clone(),
                    cloud: r.cloud,
                    kind: r.kind,
                    gigabytes: r.gigabytes,
                    cost: Costs {
                        marginal: m,
                        full: Usd(m.0 + base),
                    },
                })
            })
            .collect();
        for c in &connections {
            let entry = by_cloud.entry(c.cloud).or_default();
            entry.marginal.0 += c.cost.marginal.0;
            entry.full.0 += c.cost.marginal.0;
        }
        let mut total = Costs::default();
        for cost in by_cloud.values() {
            total.add(*cost);
        }
        connections.sort_by(|a, b| {
            b.cost
                .marginal
                .0
                .total_cmp(&a.cost.marginal.0)
                .then_with(|| a.connection.cmp(&b.connection))
        });
        let count = connections.len();
        connections.truncate(TOP_CONNECTIONS);
        Yesterday {
            total,
            by_cloud: by_cloud
                .into_iter()
                .map(|(cloud, cost)| CloudCost { cloud, cost })
                .collect(),
            top_connections: connections,
            connections: count,
        }
    });

    // The month: daily marginal totals of the estate.
    let month_start = yesterday.with_day(1).unwrap_or(yesterday);
    let mut daily: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for row in rows_before(yesterday) {
        if let Some(m) = marginal(row, prices) {
            *daily.entry(row.day).or_default() += m.0;
        }
    }
    let series: Vec<(NaiveDate, Usd)> = daily.into_iter().map(|(d, c)| (d, Usd(c))).collect();
    let base: f64 = prices.values().map(|p| p.monthly_base.0).sum();
    let month = cost_forecast(&series, Usd(base), yesterday).filter(|f| f.as_of >= month_start);
    if month.is_some_and(|m| m.as_of < yesterday) {
        notes.push("the month's figures stop at the last day with usage".into());
    }

    // Anomalies: yesterday against each connection's own trailing days.
    let mut by_connection: BTreeMap<&ConnectionId, Vec<(NaiveDate, f64)>> = BTreeMap::new();
    for row in rows_before(yesterday) {
        if row.day < yesterday {
            by_connection
                .entry(&row.connection)
                .or_default()
                .push((row.day, row.gigabytes.0));
        }
    }
    let config = AnomalyConfig::default();
    let mut anomalies: Vec<Anomaly> = yesterday_rows
        .iter()
        .filter_map(|r| {
            let price = prices.get(&r.connection)?;
            let history = by_connection.get(&r.connection)?;
            let j = jump(history, yesterday, r.gigabytes.0, price.per_gb.0, &config)?;
            Some(Anomaly {
                connection: r.connection.clone(),
                cloud: r.cloud,
                kind: r.kind,
                gigabytes: r.gigabytes,
                normal_gigabytes: Gigabytes(j.median),
                ratio: j.ratio,
                z: j.z,
                extra_usd: Usd(j.extra_usd),
                extra_per_month_usd: Usd(j.extra_usd * 30.0),
            })
        })
        .collect();
    anomalies.sort_by(|a, b| b.extra_usd.0.total_cmp(&a.extra_usd.0));

    Digest {
        date,
        yesterday,
        costs,
        month,
        anomalies,
        savings: inputs.plan.map(top_savings).unwrap_or_default(),
        prices_from: inputs.pricing.source.clone(),
        notes,
    }
}

fn top_savings(plan: &Plan) -> Vec<Saving> {
    let mut savings: Vec<Saving> = plan
        .reroutes
        .iter()
        .map(|r| Saving {
            what: format!(
                "reroute {} ({:.0} GB/month) from {} to {}",
                r.flow,
                r.monthly_gb,
                r.from_links.join(" → "),
                r.to_links.join(" → ")
            ),
            monthly_usd: Usd(r.saving_usd),
        })
        .chain(plan.decommission.iter().map(|d| Saving {
            what: format!("decommission {} ({} flows moved)", d.link, d.moved.len()),
            monthly_usd: Usd(d.saving_usd),
        }))
        .filter(|s| s.monthly_usd.0 > 0.0)
        .collect();
    savings.sort_by(|a, b| b.monthly_usd.0.total_cmp(&a.monthly_usd.0));
    savings.truncate(TOP_SAVINGS);
    savings
}

/// Dollars with thousands separators: $287,000.00.
pub fn dollars(amount: Usd) -> String {
    let cents = (amount.0 * 100.0).round();
    if !cents.is_finite() {
        return format!("${}", amount.0);
    }
    let negative = cents < 0.0;
    let cents = cents.abs() as u64;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!(
        "{}${grouped}.{:02}",
        if negative { "-" } else { "" },
        cents % 100
    )
}

/// `dx-1 (direct_connect, aws)`: a connection as the digest and forecast name it.
pub fn connection_label(connection: &ConnectionId, kind: ConnectionKind, cloud: Cloud) -> String {
    format!("{connection} ({}, {cloud})", kind.as_str())
}

fn both(c: Costs) -> String {
    format!(
        "{} marginal · {} full",
        dollars(c.marginal),
        dollars(c.full)
    )
}

/// The digest as a chat message (what `digest` prints and the cron posts).
pub fn message(d: &Digest) -> Message {
    let mut lines = Vec::new();
    let title = format!("Daily cost digest · {}", d.date);
    match &d.costs {
        None => lines.push(format!(
            "No usage recorded for {}: no costs to report for that day. Import the billing export (`switchboard usage import FILE.csv`) or, on the lab, write its history (`switchboard lab usage --days N`).",
            d.yesterday
        )),
        Some(y) => {
            lines.push(format!("Yesterday ({}): {}", d.yesterday, both(y.total)));
            lines.push(format!(
                "By cloud: {}",
                y.by_cloud
                    .iter()
                    .map(|c| format!("{} {}", c.cloud, dollars(c.cost.marginal)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            lines.push(format!(
                "Top connections ({} with traffic):",
                y.connections
            ));
            for c in &y.top_connections {
                lines.push(format!(
                    "  {}: {:.0} GB, {}",
                    connection_label(&c.connection, c.kind, c.cloud),
                    c.gigabytes.0,
                    dollars(c.cost.marginal)
                ));
            }
        }
    }
    match &d.month {
        Some(m) => lines.push(format!(
            "{} to date ({}): {}; forecast month end {} marginal, {} full; next month {} marginal, {} full.",
            m.as_of.format("%B"),
            m.as_of,
            dollars(m.month_to_date.marginal),
            dollars(m.month_end.marginal),
            dollars(m.month_end.full),
            dollars(m.next_month.marginal),
            dollars(m.next_month.full)
        )),
        None if d.costs.is_some() => {}
        None => lines.push("No usage this month yet, so no month-to-date or forecast.".into()),
    }
    if d.anomalies.is_empty() {
        if d.costs.is_some() {
            lines.push("Anomalies: none.".into());
        }
    } else {
        lines.push("Anomalies:".into());
        for a in &d.anomalies {
            lines.push(format!(
                "  ⚠ {}: {:.0} GB against a normal {:.0} GB ({:.1}×): {} extra yesterday, about {} a month if it stays.",
                connection_label(&a.connection, a.kind, a.cloud),
                a.gigabytes.0,
                a.normal_gigabytes.0,
                a.ratio,
                dollars(a.extra_usd),
                dollars(a.extra_per_month_usd)
            ));
        }
    }
    if !d.savings.is_empty() {
        lines.push("Top savings (switchboard optimize):".into());
        for s in &d.savings {
            lines.push(format!("  {}: {}/month", s.what, dollars(s.monthly_usd)));
        }
    }
    if d.costs.is_some() || d.month.is_some() {
        lines.push(format!("Costs: marginal = traffic × per-GB price; full adds base fees spread over the month. Prices: {}.", d.prices_from));
    }
    for note in &d.notes {
        lines.push(format!("Note: {note}."));
    }
    let tone = if !d.anomalies.is_empty() {
        Tone::Danger
    } else if d.costs.is_none() {
        Tone::Warning
    } else {
        Tone::Info
    };
    Message::text(lines.join("\n"))
        .with_title(title)
        .with_tone(tone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Estate;
    use crate::optimizer::pricing::PricingCatalog;
    use crate::providers::lab::EMBEDDED_ESTATE;
    use crate::usage::lab::{history, Spike};
    use crate::usage::{parse_day, price_estate};

    fn lab(days: u32, spikes: &[Spike]) -> (Vec<UsageRow>, Pricing) {
        let estate = Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap();
        let prices = price_estate(&estate, PricingCatalog::embedded());
        (
            history(&estate, parse_day("2026-01-01").unwrap(), days, spikes),
            prices,
        )
    }

    #[test]
    fn an_internet_egress_jump_is_flagged_the_next_morning_and_not_before() {
        let estate = Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap();
        let spike = Spike::parse("inet-aws-use1-prod:2026-02-10:20", &estate).unwrap();
        let (usage, prices) = lab(60, &[spike]);
        let digest_on = |day: &str| {
            let date = parse_day(day).unwrap();
            let rows: Vec<UsageRow> = usage.iter().filter(|r| r.day < date).cloned().collect();
            build(&DigestInputs {
                date,
                usage: &rows,
                pricing: &prices,
                plan: None,
            })
        };
        assert!(digest_on("2026-02-10").anomalies.is_empty());
        let morning = digest_on("2026-02-11");
        let [a] = morning.anomalies.as_slice() else {
            panic!("one anomaly expected: {:?}", morning.anomalies);
        };
        assert_eq!(a.connection.as_str(), "inet-aws-use1-prod");
        assert!(a.ratio > 15.0, "{a:?}");
        let text = message(&morning).text;
        assert!(
            text.contains("⚠ inet-aws-use1-prod (internet, aws)"),
            "{text}"
        );
        // Yesterday's total is the sum of its clouds.
        let y = morning.costs.unwrap();
        let clouds: f64 = y.by_cloud.iter().map(|c| c.cost.marginal.0).sum();
        assert!((clouds - y.total.marginal.0).abs() < 1e-6);
    }

    #[test]
    fn a_quiet_history_has_no_anomalies() {
        let (usage, prices) = lab(90, &[]);
        for offset in 30..90 {
            let date = parse_day("2026-01-01").unwrap() + Days::new(offset);
            let rows: Vec<UsageRow> = usage.iter().filter(|r| r.day < date).cloned().collect();
            let d = build(&DigestInputs {
                date,
                usage: &rows,
                pricing: &prices,
                plan: None,
            });
            assert!(d.anomalies.is_empty(), "{date}: {:?}", d.anomalies);
        }
    }

    #[test]
    fn no_usage_is_said_and_no_figures_are_invented() {
        let (_, prices) = lab(0, &[]);
        let d = build(&DigestInputs {
            date: parse_day("2026-03-01").unwrap(),
            usage: &[],
            pricing: &prices,
            plan: None,
        });
        assert_eq!((d.costs.is_none(), d.month.is_none()), (true, true));
        let m = message(&d);
        assert!(
            m.text.starts_with("No usage recorded for 2026-02-28"),
            "{}",
            m.text
        );
        assert!(!m.text.contains('$'), "{}", m.text);
    }

    #[test]
    fn dollars_are_grouped_by_thousands() {
        assert_eq!(dollars(Usd(287_000.0)), "$287,000.00");
        assert_eq!(dollars(Usd(999.999)), "$1,000.00");
        assert_eq!(dollars(Usd(-12.5)), "-$12.50");
    }
}
