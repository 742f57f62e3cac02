//! Capacity per connection: how fast its daily average traffic grows and the
//! day it reaches 80 % and 100 % of the connection's bandwidth.
//!
//! Growth is fitted as a straight line with the same Theil–Sen fit and
//! confidence as the latency trend (see [`super::trend`]); compound growth
//! is approximated by that line, which over a horizon of months errs late,
//! not early, for a fast-compounding link — a known limit, kept simple until
//! real series say otherwise. "Now" is the fitted level on the last day, so
//! one odd last day does not set the utilisation.

use super::trend::{check_common, fit_daily};
use super::ForecastError;
use crate::domain::Gbps;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Fraction of bandwidth that is worth warning about.
const WARN_UTILISATION: f64 = 0.8;

/// When a capacity forecast is worth an alert.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapacityConfig {
    /// Fewest daily points to fit (at least 2).
    pub min_days: usize,
    /// How far ahead (days after the last point) dates are projected. Longer
    /// than the latency horizon: a bigger circuit takes months to order.
    pub horizon_days: u32,
    /// Least confidence (0..=1) for a projected crossing to alert.
    pub min_confidence: f64,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        CapacityConfig {
            min_days: 14,
            horizon_days: 180,
            min_confidence: 0.8,
        }
    }
}

/// When a connection runs out of bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    /// Theil–Sen slope of the daily averages.
    pub growth_gbps_per_day: f64,
    /// |Kendall's tau| of the series, 0..=1.
    pub confidence: f64,
    /// First day the fitted traffic is at or above 80 % of bandwidth: the
    /// last day of the series if it already is; `None` if not within the
    /// horizon.
    pub reaches_80_on: Option<NaiveDate>,
    /// Same for 100 %.
    pub reaches_100_on: Option<NaiveDate>,
    /// Fitted traffic on the last day over bandwidth (0 or more; above 1
    /// means the fit says the link is saturated).
    pub utilisation_now: f64,
    /// Already at 80 %, or confidently growing to it within the horizon.
    pub alert: bool,
}

/// Fits a connection's daily average traffic and projects when it reaches
/// 80 % and 100 % of `bandwidth`.
pub fn capacity_forecast(
    traffic: &[(NaiveDate, Gbps)],
    bandwidth: Gbps,
    config: &CapacityConfig,
) -> Result<CapacityReport, ForecastError> {
    check_common(config.min_days, config.min_confidence)?;
    if !(bandwidth.0.is_finite() && bandwidth.0 > 0.0) {
        return Err(ForecastError::InvalidBandwidth(bandwidth.0));
    }
    let points: Vec<(NaiveDate, f64)> = traffic.iter().map(|(day, g)| (*day, g.0)).collect();
    let line = fit_daily(&points, config.min_days)?;
    let utilisation_now = line.level_now().max(0.0) / bandwidth.0;
    let reaches_80 = line.reaches(WARN_UTILISATION * bandwidth.0, config.horizon_days);
    let reaches_100 = line.reaches(bandwidth.0, config.horizon_days);
    let growing_into_it =
        line.slope > 0.0 && line.confidence >= config.min_confidence && reaches_80.is_some();
    Ok(CapacityReport {
        growth_gbps_per_day: line.slope,
        confidence: line.confidence,
        reaches_80_on: reaches_80.map(|(day, _)| day),
        reaches_100_on: reaches_100.map(|(day, _)| day),
        utilisation_now,
        alert: utilisation_now >= WARN_UTILISATION || growing_into_it,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Days;
    use proptest::prelude::*;

    fn day0() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date")
    }

    fn daily(values: impl IntoIterator<Item = f64>) -> Vec<(NaiveDate, Gbps)> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (day0() + Days::new(i as u64), Gbps(v)))
            .collect()
    }

    fn last_day(series: &[(NaiveDate, Gbps)]) -> NaiveDate {
        series.last().expect("non-empty").0
    }

    #[test]
    fn chapter_case_a_10_gbps_link_fills_in_about_three_months() {
        // 60 days ending at 7 Gbps, +0.033 Gbps/day. 8 Gbps (80 %) is
        // 1 / 0.033 = 30.3 days out → day 31; 10 Gbps is 3 / 0.033 = 90.9
        // days out → day 91: "hits the 10 Gbps limit in 3 months".
        let series = daily((0..60).map(|i| 7.0 - 0.033 * (59 - i) as f64));
        let report = capacity_forecast(&series, Gbps(10.0), &CapacityConfig::default())
            .expect("valid series");
        let today = last_day(&series);
        assert!((report.growth_gbps_per_day - 0.033).abs() < 1e-9);
        assert!((report.utilisation_now - 0.7).abs() < 1e-9);
        assert_eq!(report.reaches_80_on, Some(today + Days::new(31)));
        assert_eq!(report.reaches_100_on, Some(today + Days::new(91)));
        assert!(report.alert);
    }

    #[test]
    fn already_above_80_percent_alerts_and_reaches_80_today() {
        let series = daily((0..30).map(|i| 8.0 + 0.02 * i as f64));
        let report = capacity_forecast(&series, Gbps(10.0), &CapacityConfig::default())
            .expect("valid series");
        let today = last_day(&series);
        assert!(report.utilisation_now > 0.8);
        assert_eq!(report.reaches_80_on, Some(today));
        // 10 − 8.58 = 1.42 Gbps at 0.02/day = 71 days.
        assert_eq!(report.reaches_100_on, Some(today + Days::new(71)));
        assert!(report.alert);
    }

    #[test]
    fn already_above_80_percent_alerts_even_when_flat() {
        let series = daily([8.5; 20]);
        let report = capacity_forecast(&series, Gbps(10.0), &CapacityConfig::default())
            .expect("valid series");
        assert_eq!(report.reaches_80_on, Some(last_day(&series)));
        assert_eq!(report.reaches_100_on, None);
        assert!(report.alert);
    }

    #[test]
    fn shrinking_traffic_projects_no_dates() {
        let series = daily((0..30).map(|i| 5.0 - 0.05 * i as f64));
        let report = capacity_forecast(&series, Gbps(10.0), &CapacityConfig::default())
            .expect("valid series");
        assert!(report.growth_gbps_per_day < 0.0);
        assert_eq!((report.reaches_80_on, report.reaches_100_on), (None, None));
        assert!(!report.alert);
    }

    #[test]
    fn slow_growth_beyond_the_horizon_does_not_alert() {
        // +0.001 Gbps/day from 2 Gbps: 80 % is ~6000 days away.
        let series = daily((0..30).map(|i| 2.0 + 0.001 * i as f64));
        let report = capacity_forecast(&series, Gbps(10.0), &CapacityConfig::default())
            .expect("valid series");
        assert_eq!(report.reaches_80_on, None);
        assert!(!report.alert);
    }

    #[test]
    fn bad_bandwidth_and_values_are_errors() {
        let config = CapacityConfig::default();
        let series = daily([1.0; 20]);
        assert_eq!(
            capacity_forecast(&series, Gbps(0.0), &config),
            Err(ForecastError::InvalidBandwidth(0.0))
        );
        let negative = daily((0..20).map(|i| if i == 5 { -1.0 } else { 1.0 }));
        assert!(matches!(
            capacity_forecast(&negative, Gbps(10.0), &config),
            Err(ForecastError::InvalidValue { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_traffic_never_panics_and_dates_stay_in_order(
            points in prop::collection::vec((0u64..60, proptest::num::f64::ANY), 0..40),
            bandwidth in proptest::num::f64::ANY,
        ) {
            let series: Vec<_> = points
                .iter()
                .map(|&(offset, value)| (day0() + Days::new(offset), Gbps(value)))
                .collect();
            let config = CapacityConfig { min_days: 2, ..CapacityConfig::default() };
            if let Ok(report) = capacity_forecast(&series, Gbps(bandwidth), &config) {
                prop_assert!((0.0..=1.0).contains(&report.confidence));
                prop_assert!(report.utilisation_now >= 0.0);
                if let (Some(at80), Some(at100)) = (report.reaches_80_on, report.reaches_100_on) {
                    prop_assert!(at80 <= at100);
                }
                if report.reaches_100_on.is_some() {
                    prop_assert!(report.reaches_80_on.is_some());
                }
            }
        }
    }
}
