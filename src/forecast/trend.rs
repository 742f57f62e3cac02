//! Latency trend per path, and the robust line fit both forecasts share.
//!
//! The fit is Theil–Sen over `(days since the first point, value)`: the slope
//! is the median of the slopes of all pairs of points, the intercept the
//! median of `y − slope·x`. Up to ~29 % of the points can be arbitrary
//! without moving it far, which is the point: one spike is not a trend.
//!
//! **Confidence** is |Kendall's tau-a|: over all pairs of points,
//! `|rising pairs − falling pairs| / pairs` (ties count in the denominator
//! only). It is 1 for a strictly monotone series, near 0 for noise around a
//! flat level (for 30 days of i.i.d. noise its spread is about ±0.13), and
//! about half for a single step between two flat levels. It shares the fit's
//! pairs, so it costs nothing extra. It is less robust than the slope: one
//! outlier against the trend reverses up to n − 1 of the n(n − 1)/2 pairs,
//! costing up to 4/n — which is why `min_days` matters.
//!
//! Gaps between days are fine (x is the real day offset); the series must be
//! strictly increasing by day.

use super::ForecastError;
use crate::domain::Millis;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Upper bound on points per fit: the fit looks at every pair, so this bounds
/// the work (~500 k pairs) and memory. Daily points, so ~2.7 years.
pub const MAX_POINTS: usize = 1000;

/// Projections up to this far past a threshold's exact crossing (in days)
/// still count as that day: floating error in the slope must not push a
/// crossing that lands on a whole day to the next one.
const DAY_EPSILON: f64 = 1e-9;

/// When a latency trend is worth an alert.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendConfig {
    /// Fewest daily points to fit (at least 2).
    pub min_days: usize,
    /// How far ahead (days after the last point) a crossing still alerts.
    pub horizon_days: u32,
    /// Least confidence (0..=1, see module doc) for an alert.
    pub min_confidence: f64,
    /// The alert threshold as a multiple of the baseline.
    pub factor: f64,
}

impl Default for TrendConfig {
    fn default() -> Self {
        TrendConfig {
            min_days: 5,
            horizon_days: 90,
            min_confidence: 0.8,
            factor: 2.0,
        }
    }
}

/// Where a path's latency is heading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendReport {
    /// Theil–Sen slope of the daily medians.
    pub slope_ms_per_day: f64,
    /// The fitted line's value on the first day of the series.
    pub intercept_ms: Millis,
    /// |Kendall's tau| of the series, 0..=1 (see module doc).
    pub confidence: f64,
    /// First day the fitted line is at or above `factor × baseline`; the last
    /// day of the series if it already is; `None` if it never gets there
    /// within the horizon.
    pub crosses_on: Option<NaiveDate>,
    /// Days from the last day of the series to `crosses_on`.
    pub days_until: Option<u32>,
    /// Rising, confident, and crossing within the horizon.
    pub alert: bool,
}

/// Fits the trend of a path's daily median latency and projects when it
/// crosses `config.factor × baseline`.
pub fn latency_trend(
    series: &[(NaiveDate, Millis)],
    baseline: Millis,
    config: &TrendConfig,
) -> Result<TrendReport, ForecastError> {
    check_common(config.min_days, config.min_confidence)?;
    if !(config.factor.is_finite() && config.factor > 0.0) {
        return Err(ForecastError::InvalidConfig(
            "factor must be finite and positive",
        ));
    }
    if !(baseline.0.is_finite() && baseline.0 > 0.0) {
        return Err(ForecastError::InvalidBaseline(baseline.0));
    }
    let threshold = config.factor * baseline.0;
    if !threshold.is_finite() {
        return Err(ForecastError::Overflow);
    }
    let points: Vec<(NaiveDate, f64)> = series.iter().map(|(day, ms)| (*day, ms.0)).collect();
    let line = fit_daily(&points, config.min_days)?;
    let crossing = line.reaches(threshold, config.horizon_days);
    Ok(TrendReport {
        slope_ms_per_day: line.slope,
        intercept_ms: Millis(line.intercept),
        confidence: line.confidence,
        crosses_on: crossing.map(|(day, _)| day),
        days_until: crossing.map(|(_, days)| days),
        alert: line.slope > 0.0 && line.confidence >= config.min_confidence && crossing.is_some(),
    })
}

/// Config checks both forecasts share.
pub(super) fn check_common(min_days: usize, min_confidence: f64) -> Result<(), ForecastError> {
    if min_days < 2 {
        return Err(ForecastError::InvalidConfig(
            "min_days must be at least 2 to fit a line",
        ));
    }
    if !(0.0..=1.0).contains(&min_confidence) {
        return Err(ForecastError::InvalidConfig(
            "min_confidence must be between 0 and 1",
        ));
    }
    Ok(())
}

/// A robust straight line over a daily series; x is days since its first day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Line {
    pub slope: f64,
    pub intercept: f64,
    pub confidence: f64,
    last_x: f64,
    last_day: NaiveDate,
}

impl Line {
    /// The fitted value on the series' last day ("today").
    pub fn level_now(&self) -> f64 {
        self.intercept + self.slope * self.last_x
    }

    /// The first day (and days from today) the line is at or above
    /// `threshold`: today if it already is, `None` if it falls or stays flat
    /// below it, or gets there only after `horizon` days.
    pub fn reaches(&self, threshold: f64, horizon: u32) -> Option<(NaiveDate, u32)> {
        let now = self.level_now();
        let days = if now >= threshold {
            0
        } else if self.slope <= 0.0 {
            return None;
        } else {
            let ahead = (threshold - now) / self.slope - DAY_EPSILON;
            if !ahead.is_finite() || ahead > f64::from(horizon) {
                return None;
            }
            // 0 < ahead ≤ horizon, so the cast neither truncates nor wraps.
            ahead.ceil().max(0.0) as u32
        };
        let day = self.last_day.checked_add_days(Days::new(u64::from(days)))?;
        Some((day, days))
    }
}

/// Validates a daily series and fits it with Theil–Sen.
pub(super) fn fit_daily(
    points: &[(NaiveDate, f64)],
    min_days: usize,
) -> Result<Line, ForecastError> {
    if points.len() < min_days {
        return Err(ForecastError::TooFewPoints {
            got: points.len(),
            needed: min_days,
        });
    }
    if points.len() > MAX_POINTS {
        return Err(ForecastError::TooManyPoints {
            got: points.len(),
            max: MAX_POINTS,
        });
    }
    let (Some(&(first_day, _)), Some(&(last_day, _))) = (points.first(), points.last()) else {
        // min_days ≥ 2 is checked by the callers; this keeps the fit total.
        return Err(ForecastError::TooFewPoints {
            got: 0,
            needed: min_days,
        });
    };
    for &(day, value) in points {
        if !(value.is_finite() && value >= 0.0) {
            return Err(ForecastError::InvalidValue { day, value });
        }
    }
    for pair in points.windows(2) {
        if pair[1].0 <= pair[0].0 {
            return Err(ForecastError::UnorderedDays {
                previous: pair[0].0,
                day: pair[1].0,
            });
        }
    }
    // Day offsets fit an f64 exactly (NaiveDate spans < 2^53 days).
    let xy: Vec<(f64, f64)> = points
        .iter()
        .map(|&(day, value)| ((day - first_day).num_days() as f64, value))
        .collect();

    let mut slopes = Vec::with_capacity(xy.len() * (xy.len() - 1) / 2);
    let (mut rising, mut falling) = (0i64, 0i64);
    for (i, &(xi, yi)) in xy.iter().enumerate() {
        for &(xj, yj) in &xy[i + 1..] {
            // Values are finite and ≥ 0, so the difference cannot overflow;
            // days strictly increase, so xj − xi ≥ 1.
            let slope = (yj - yi) / (xj - xi);
            if slope > 0.0 {
                rising += 1;
            } else if slope < 0.0 {
                falling += 1;
            }
            slopes.push(slope);
        }
    }
    let pairs = slopes.len() as f64;
    let slope = median(&mut slopes).ok_or(ForecastError::Overflow)?;
    let mut residuals: Vec<f64> = xy.iter().map(|&(x, y)| y - slope * x).collect();
    let intercept = median(&mut residuals).ok_or(ForecastError::Overflow)?;
    let last_x = xy.last().map_or(0.0, |&(x, _)| x);
    let line = Line {
        slope,
        intercept,
        confidence: (rising - falling).unsigned_abs() as f64 / pairs,
        last_x,
        last_day,
    };
    if !(line.slope.is_finite() && line.intercept.is_finite() && line.level_now().is_finite()) {
        return Err(ForecastError::Overflow);
    }
    Ok(line)
}

/// The median (mean of the middle two for an even count); `None` if empty.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        // Halve first so two huge values cannot overflow.
        _ => Some(values[n / 2 - 1] / 2.0 + values[n / 2] / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day0() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, 1).expect("valid date")
    }

    fn daily(values: &[f64]) -> Vec<(NaiveDate, Millis)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (day0() + Days::new(i as u64), Millis(v)))
            .collect()
    }

    /// Deterministic noise in [-amplitude, amplitude] from a 64-bit LCG
    /// (Knuth's MMIX constants), so backtests never flake.
    fn lcg_noise(seed: u64, n: usize, amplitude: f64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
                (unit * 2.0 - 1.0) * amplitude
            })
            .collect()
    }

    #[test]
    fn chapter_case_12_to_16_ms_in_a_week_alerts_and_projects_the_24_ms_day() {
        // 12 → 14 → 16 ms over 7 daily medians (1–7 March): +4 ms in 6 days,
        // a slope of 2/3 ms/day from 12 ms. 2 × 12 ms = 24 ms is 12 ms above
        // the start, reached at x = 12 / (2/3) = 18 days → 19 March, which is
        // 12 days after the last median (7 March).
        let series = daily(&[
            12.0,
            12.0 + 2.0 / 3.0,
            13.0 + 1.0 / 3.0,
            14.0,
            14.0 + 2.0 / 3.0,
            15.0 + 1.0 / 3.0,
            16.0,
        ]);
        let report =
            latency_trend(&series, Millis(12.0), &TrendConfig::default()).expect("valid series");
        assert!((report.slope_ms_per_day - 2.0 / 3.0).abs() < 1e-9);
        assert!((report.intercept_ms.0 - 12.0).abs() < 1e-9);
        assert_eq!(report.confidence, 1.0);
        assert_eq!(report.crosses_on, NaiveDate::from_ymd_opt(2024, 3, 19));
        assert_eq!(report.days_until, Some(12));
        assert!(report.alert);
    }

    #[test]
    fn linear_growth_backtest_recovers_the_slope_within_one_percent() {
        let noise = lcg_noise(7, 60, 0.3);
        let values: Vec<f64> = (0..60).map(|i| 20.0 + 0.25 * i as f64 + noise[i]).collect();
        let report = latency_trend(&daily(&values), Millis(20.0), &TrendConfig::default())
            .expect("valid series");
        assert!(
            (report.slope_ms_per_day - 0.25).abs() <= 0.0025,
            "slope {}",
            report.slope_ms_per_day
        );
        assert!(report.confidence > 0.9);
        // Fitted ≈ 34.75 ms today, 40 ms in ≈ 21 days.
        assert!(report.alert);
        let days = report.days_until.expect("crosses within the horizon");
        assert!((20..=23).contains(&days), "days_until {days}");
    }

    #[test]
    fn a_step_to_a_new_flat_level_is_not_projected_as_a_steep_trend() {
        // 15 days at 10 ms, then 15 days at 14 ms. The 210 same-side pairs
        // have slope 0 and the 225 cross pairs 4/dx > 0, so the median slope
        // is the 8th-smallest cross slope: 4/26 ≈ 0.154 ms/day (a least-
        // squares line would say ≈ 0.2). Half the pairs are ties, so
        // |tau| = 225/435 ≈ 0.52: below the alert bar. The fitted line
        // reaches 20 ms over a month out, not days.
        let mut values = vec![10.0; 15];
        values.extend([14.0; 15]);
        let report = latency_trend(&daily(&values), Millis(10.0), &TrendConfig::default())
            .expect("valid series");
        assert!((report.slope_ms_per_day - 4.0 / 26.0).abs() < 1e-12);
        assert!((report.confidence - 225.0 / 435.0).abs() < 1e-12);
        assert!(!report.alert);
        assert!(report.days_until.is_none_or(|days| days > 30), "{report:?}");
    }

    #[test]
    fn noise_around_a_flat_baseline_has_low_confidence_and_no_alert() {
        for seed in 1..=20 {
            let values: Vec<f64> = lcg_noise(seed, 30, 3.0).iter().map(|n| 20.0 + n).collect();
            let report = latency_trend(&daily(&values), Millis(20.0), &TrendConfig::default())
                .expect("valid series");
            assert!(report.confidence < 0.4, "seed {seed}: {report:?}");
            assert!(!report.alert, "seed {seed}: {report:?}");
        }
    }

    #[test]
    fn one_spike_in_a_flat_series_does_not_alert() {
        let mut values = vec![15.0; 10];
        values[6] = 80.0;
        let report = latency_trend(&daily(&values), Millis(15.0), &TrendConfig::default())
            .expect("valid series");
        assert_eq!(report.slope_ms_per_day, 0.0);
        assert_eq!(report.intercept_ms, Millis(15.0));
        assert!(report.confidence < 0.1);
        assert_eq!(report.crosses_on, None);
        assert!(!report.alert);
    }

    #[test]
    fn one_spike_in_a_steady_rise_does_not_hide_it() {
        // A latency spike (up) mid-rise: the slope is untouched and only the
        // one pair after the spike falls, so confidence stays at 44/45.
        let mut values: Vec<f64> = (0..10).map(|i| 12.0 + 0.5 * i as f64).collect();
        values[8] = 60.0;
        let report = latency_trend(&daily(&values), Millis(12.0), &TrendConfig::default())
            .expect("valid series");
        assert!((report.slope_ms_per_day - 0.5).abs() < 1e-9);
        assert!(report.alert, "{report:?}");

        // A dip (down) late in the series reverses every pair before it: it
        // costs up to 2(n−1)/pairs = 4/n of confidence, so over a month it
        // still alerts (over 10 days it would not: 29/45).
        let mut values: Vec<f64> = (0..30).map(|i| 12.0 + 0.5 * i as f64).collect();
        values[27] = 3.0;
        let report = latency_trend(&daily(&values), Millis(12.0), &TrendConfig::default())
            .expect("valid series");
        assert!((report.slope_ms_per_day - 0.5).abs() < 1e-9);
        assert!(report.alert, "{report:?}");
    }

    #[test]
    fn already_above_the_threshold_and_rising_crosses_today() {
        let values: Vec<f64> = (0..7).map(|i| 20.0 + i as f64).collect();
        let report = latency_trend(&daily(&values), Millis(10.0), &TrendConfig::default())
            .expect("valid series");
        assert_eq!(report.days_until, Some(0));
        assert_eq!(report.crosses_on, Some(day0() + Days::new(6)));
        assert!(report.alert);
    }

    #[test]
    fn a_crossing_beyond_the_horizon_is_not_reported() {
        // +0.01 ms/day from 10 ms: 20 ms is ~1000 days away.
        let values: Vec<f64> = (0..10).map(|i| 10.0 + 0.01 * i as f64).collect();
        let report = latency_trend(&daily(&values), Millis(10.0), &TrendConfig::default())
            .expect("valid series");
        assert_eq!(report.confidence, 1.0);
        assert_eq!((report.crosses_on, report.days_until), (None, None));
        assert!(!report.alert);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let config = TrendConfig::default();
        let good = daily(&[10.0, 11.0, 12.0, 13.0, 14.0]);
        assert_eq!(
            latency_trend(&good[..4], Millis(10.0), &config),
            Err(ForecastError::TooFewPoints { got: 4, needed: 5 })
        );
        assert_eq!(
            latency_trend(&good, Millis(0.0), &config),
            Err(ForecastError::InvalidBaseline(0.0))
        );
        let mut nan = good.clone();
        nan[2].1 = Millis(f64::NAN);
        assert!(matches!(
            latency_trend(&nan, Millis(10.0), &config),
            Err(ForecastError::InvalidValue { .. })
        ));
        let mut duplicate = good.clone();
        duplicate[3].0 = duplicate[2].0;
        assert_eq!(
            latency_trend(&duplicate, Millis(10.0), &config),
            Err(ForecastError::UnorderedDays {
                previous: good[2].0,
                day: good[2].0
            })
        );
        let mut unsorted = good.clone();
        unsorted.swap(0, 1);
        assert!(matches!(
            latency_trend(&unsorted, Millis(10.0), &config),
            Err(ForecastError::UnorderedDays { .. })
        ));
        let too_many = daily(&vec![10.0; MAX_POINTS + 1]);
        assert!(matches!(
            latency_trend(&too_many, Millis(10.0), &config),
            Err(ForecastError::TooManyPoints { .. })
        ));
        let bad_config = TrendConfig {
            min_days: 1,
            ..config
        };
        assert!(matches!(
            latency_trend(&good, Millis(10.0), &bad_config),
            Err(ForecastError::InvalidConfig(_))
        ));
    }

    #[test]
    fn gaps_between_days_use_the_real_day_offsets() {
        // 1 ms every 2 days, sampled every other day.
        let series: Vec<_> = (0..6)
            .map(|i| (day0() + Days::new(2 * i), Millis(10.0 + i as f64)))
            .collect();
        let report =
            latency_trend(&series, Millis(10.0), &TrendConfig::default()).expect("valid series");
        assert!((report.slope_ms_per_day - 0.5).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics_and_reports_stay_in_range(
            points in prop::collection::vec((0u64..60, proptest::num::f64::ANY), 0..40),
            baseline in proptest::num::f64::ANY,
            horizon in 0u32..400,
        ) {
            let series: Vec<_> = points
                .iter()
                .map(|&(offset, value)| (day0() + Days::new(offset), Millis(value)))
                .collect();
            let config = TrendConfig { horizon_days: horizon, ..TrendConfig::default() };
            if let Ok(report) = latency_trend(&series, Millis(baseline), &config) {
                prop_assert!((0.0..=1.0).contains(&report.confidence));
                prop_assert!(report.days_until.is_none_or(|days| days <= horizon));
                prop_assert_eq!(report.crosses_on.is_some(), report.days_until.is_some());
            }
        }

        #[test]
        fn one_spike_never_moves_the_slope_of_a_straight_line(
            start in 50.0f64..100.0,
            slope in -1.0f64..1.0,
            n in 5usize..40,
            spike_at in 0usize..40,
            spike in 0.0f64..1e6,
        ) {
            let mut values: Vec<f64> = (0..n).map(|i| start + slope * i as f64).collect();
            values[spike_at % n] = spike;
            let report = latency_trend(&daily(&values), Millis(50.0), &TrendConfig::default())
                .expect("valid series");
            prop_assert!((report.slope_ms_per_day - slope).abs() < 1e-9,
                "slope {} vs {}", report.slope_ms_per_day, slope);
        }
    }
}
