//! Cost: month to date, the month-end and next month's bill, for any group
//! of connections (one connection, a cloud, the estate) from its daily
//! usage cost.
//!
//! Marginal cost is what the traffic costs (GB × the per-GB price of the
//! connection, from the pricing catalog); full cost adds the connections'
//! monthly base fees (ports, circuits, VPN hours), spread evenly over the
//! month's days — the optimizer's two bases.
//!
//! The projection: the level is the mean of the last 7 days with data (a
//! whole week, so the weekday/weekend shape averages out), placed at their
//! mean day; the trend is the Theil–Sen slope of the last 28 days when
//! there are at least 14 and the trend is steady (confidence ≥ 0.6; a step
//! change scores about 0.5 and is carried forward as its new level, not as a
//! ramp; fewer days or noise: flat). Each future day is
//! `level + slope × days from the level's day`, never below zero. Month end =
//! month to date + the projected days left; next month = its projected days.

use super::trend::fit_daily;
use crate::domain::Usd;
use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;

/// Days averaged for the level.
const LEVEL_DAYS: usize = 7;
/// Days the slope is fitted over, and the fewest that give a slope.
const TREND_DAYS: usize = 28;
const MIN_TREND_DAYS: usize = 14;
/// Least |Kendall's tau| for the slope to count (see [`super::trend`]).
const MIN_TREND_CONFIDENCE: f64 = 0.6;

/// A cost on both bases.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Costs {
    pub marginal: Usd,
    pub full: Usd,
}

impl Costs {
    pub fn add(&mut self, other: Costs) {
        self.marginal.0 += other.marginal.0;
        self.full.0 += other.full.0;
    }
}

/// A group's bill this month and next.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostForecast {
    /// The last day with data: what "to date" means.
    pub as_of: NaiveDate,
    pub month_to_date: Costs,
    pub month_end: Costs,
    pub next_month: Costs,
    /// The projected marginal cost per day at `as_of`.
    pub daily_run_rate: Usd,
    /// Marginal trend, dollars per day per day.
    pub trend_per_day: f64,
}

/// Days in the month `day` falls in.
pub fn days_in_month(day: NaiveDate) -> u32 {
    let first = day.with_day(1).unwrap_or(day);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    u32::try_from((next - first).num_days())
        .unwrap_or(30)
        .max(1)
}

/// Forecasts a group's bill from its daily marginal costs (`daily`: sorted by
/// day, one point per day, finite and ≥ 0) up to `as_of`, and its monthly
/// base fees. `None` when there is no data on or before `as_of`.
pub fn cost_forecast(
    daily: &[(NaiveDate, Usd)],
    monthly_base: Usd,
    as_of: NaiveDate,
) -> Option<CostForecast> {
    let known: Vec<(NaiveDate, f64)> = daily
        .iter()
        .filter(|(day, cost)| *day <= as_of && cost.0.is_finite() && cost.0 >= 0.0)
        .map(|(day, cost)| (*day, cost.0))
        .collect();
    let last_day = known.last()?.0;
    let month_start = last_day.with_day(1)?;
    let month_days = days_in_month(last_day);
    let elapsed = last_day.day();
    let mtd_marginal: f64 = known
        .iter()
        .filter(|(day, _)| *day >= month_start)
        .map(|(_, c)| c)
        .sum();

    let recent = &known[known.len().saturating_sub(LEVEL_DAYS)..];
    let level = recent.iter().map(|(_, c)| c).sum::<f64>() / recent.len() as f64;
    let level_at = recent
        .iter()
        .map(|(day, _)| (*day - last_day).num_days() as f64)
        .sum::<f64>()
        / recent.len() as f64;
    let window = &known[known.len().saturating_sub(TREND_DAYS)..];
    let slope = if window.len() >= MIN_TREND_DAYS {
        fit_daily(window, MIN_TREND_DAYS)
            .ok()
            .filter(|line| line.confidence >= MIN_TREND_CONFIDENCE)
            .map_or(0.0, |line| line.slope)
    } else {
        0.0
    };
    let projected = |ahead: u32| (level + slope * (f64::from(ahead) - level_at)).max(0.0);
    let remaining = month_days.saturating_sub(elapsed);
    let rest_of_month: f64 = (1..=remaining).map(projected).sum();
    let next_days = last_day
        .checked_add_days(Days::new(u64::from(remaining) + 1))
        .map_or(30, days_in_month);
    let next_month: f64 = (remaining + 1..=remaining + next_days).map(projected).sum();
    let base = monthly_base.0.max(0.0);
    let month_end = mtd_marginal + rest_of_month;
    Some(CostForecast {
        as_of: last_day,
        month_to_date: Costs {
            marginal: Usd(mtd_marginal),
            full: Usd(mtd_marginal + base * f64::from(elapsed) / f64::from(month_days)),
        },
        month_end: Costs {
            marginal: Usd(month_end),
            full: Usd(month_end + base),
        },
        next_month: Costs {
            marginal: Usd(next_month),
            full: Usd(next_month + base),
        },
        daily_run_rate: Usd(projected(0)),
        trend_per_day: slope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn series(from: &str, values: impl IntoIterator<Item = f64>) -> Vec<(NaiveDate, Usd)> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (day(from) + Days::new(i as u64), Usd(v)))
            .collect()
    }

    #[test]
    fn a_flat_bill_projects_the_same_rate_to_month_end_and_next_month() {
        // 1–10 January at $100/day, $310 of base fees a month.
        let f = cost_forecast(
            &series("2026-01-01", [100.0; 10]),
            Usd(310.0),
            day("2026-01-10"),
        )
        .unwrap();
        assert_eq!(f.month_to_date.marginal, Usd(1000.0));
        assert!((f.month_to_date.full.0 - 1100.0).abs() < 1e-9);
        assert!((f.month_end.marginal.0 - 3100.0).abs() < 1e-9);
        assert!((f.month_end.full.0 - 3410.0).abs() < 1e-9);
        // February 2026 has 28 days.
        assert!((f.next_month.marginal.0 - 2800.0).abs() < 1e-9);
    }

    #[test]
    fn a_weekly_shape_does_not_bend_the_forecast() {
        // Four weeks of 5 × $110 + 2 × $75 = $700/week: $100/day on average.
        let week = [110.0, 110.0, 110.0, 110.0, 110.0, 75.0, 75.0];
        let values: Vec<f64> = week.iter().cycle().take(28).copied().collect();
        let f = cost_forecast(&series("2026-03-02", values), Usd(0.0), day("2026-03-29")).unwrap();
        // 2 days left in March, April's 30 days: close to $100/day.
        assert!(
            (f.next_month.marginal.0 / 3000.0 - 1.0).abs() < 0.05,
            "{f:?}"
        );
        assert!(f.trend_per_day.abs() < 1e-9);
    }

    #[test]
    fn linear_growth_is_carried_forward() {
        // $100 + $2/day from 1 January for 31 days: 1 February is $162.
        let values: Vec<f64> = (0..31).map(|i| 100.0 + 2.0 * f64::from(i)).collect();
        let f = cost_forecast(&series("2026-01-01", values), Usd(0.0), day("2026-01-31")).unwrap();
        assert!((f.trend_per_day - 2.0).abs() < 1e-9);
        // February: Σ (162 + 2k), k = 0..27 = 28 × 162 + 2 × 378 = 5292.
        assert!((f.next_month.marginal.0 - 5292.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.month_end.marginal, f.month_to_date.marginal);
    }

    #[test]
    fn a_step_change_is_carried_forward_as_its_new_level_not_a_ramp() {
        // 18 days at $100, then 10 at $2,000 (egress suddenly through the
        // internet): March is 31 days at $2,000.
        let values: Vec<f64> = (0..28)
            .map(|i| if i < 18 { 100.0 } else { 2000.0 })
            .collect();
        let f = cost_forecast(&series("2026-02-01", values), Usd(0.0), day("2026-02-28")).unwrap();
        assert_eq!(f.trend_per_day, 0.0);
        assert!((f.next_month.marginal.0 - 62_000.0).abs() < 1e-6, "{f:?}");
    }

    #[test]
    fn no_data_is_no_forecast() {
        assert_eq!(cost_forecast(&[], Usd(10.0), day("2026-01-01")), None);
        let later = series("2026-02-01", [5.0]);
        assert_eq!(cost_forecast(&later, Usd(0.0), day("2026-01-31")), None);
        assert_eq!(days_in_month(day("2024-02-10")), 29);
    }
}
