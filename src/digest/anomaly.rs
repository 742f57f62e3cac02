//! The digest's anomaly detector: is a connection's traffic on one day far
//! above its own recent normal? Pure.
//!
//! Robust z-score against the trailing 28 days (the day itself excluded):
//! `z = (x − median) / (1.4826 × MAD)`, the MAD floored at 2 % of the median
//! so a very steady series does not turn a small wobble into a huge z. A day
//! is anomalous only when all three hold: z ≥ 4, the day is at least 1.5 × the
//! median (a ratio floor), and the extra traffic costs at least $50 that day
//! (tiny connections don't alert). Only rises count: a drop is not a surprise
//! bill. Needs 7 days of history; fewer is "not enough history", not "normal".

use crate::forecast::trend::median;
use chrono::NaiveDate;
use serde::Serialize;

/// When a day counts as an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AnomalyConfig {
    pub trailing_days: usize,
    pub min_history: usize,
    pub min_z: f64,
    pub min_ratio: f64,
    pub min_extra_usd: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            trailing_days: 28,
            min_history: 7,
            min_z: 4.0,
            min_ratio: 1.5,
            min_extra_usd: 50.0,
        }
    }
}

/// A day far above normal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Jump {
    /// The trailing median, in the series' unit (gigabytes).
    pub median: f64,
    pub value: f64,
    pub ratio: f64,
    pub z: f64,
    /// (value − median) × price: what the jump cost that day.
    pub extra_usd: f64,
}

/// Scores `value` on `day` against `history` (days before it, sorted, any
/// gaps) at `usd_per_unit`. `None`: not an anomaly or not enough history.
pub fn jump(
    history: &[(NaiveDate, f64)],
    day: NaiveDate,
    value: f64,
    usd_per_unit: f64,
    config: &AnomalyConfig,
) -> Option<Jump> {
    let mut trailing: Vec<f64> = history
        .iter()
        .filter(|(d, v)| *d < day && v.is_finite())
        .map(|(_, v)| *v)
        .collect();
    let keep = trailing.len().saturating_sub(config.trailing_days);
    trailing.drain(..keep);
    if trailing.len() < config.min_history.max(1) || !value.is_finite() {
        return None;
    }
    let normal = median(&mut trailing)?;
    let mut deviations: Vec<f64> = trailing.iter().map(|v| (v - normal).abs()).collect();
    let mad = median(&mut deviations)?.max(0.02 * normal.abs());
    let extra = value - normal;
    let z = if mad > 0.0 {
        extra / (1.4826 * mad)
    } else if extra > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    let ratio = if normal > 0.0 {
        value / normal
    } else if value > 0.0 {
        f64::INFINITY
    } else {
        1.0
    };
    let extra_usd = extra * usd_per_unit;
    (z >= config.min_z && ratio >= config.min_ratio && extra_usd >= config.min_extra_usd).then_some(
        Jump {
            median: normal,
            value,
            ratio,
            z,
            extra_usd,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Days;
    use proptest::prelude::*;

    fn history(values: &[f64]) -> (Vec<(NaiveDate, f64)>, NaiveDate) {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let points = values
            .iter()
            .enumerate()
            .map(|(i, v)| (start + Days::new(i as u64), *v))
            .collect();
        (points, start + Days::new(values.len() as u64))
    }

    fn weekly(days: usize, level: f64) -> Vec<f64> {
        (0..days)
            .map(|i| {
                if i % 7 >= 5 {
                    0.75 * level
                } else {
                    1.1 * level
                }
            })
            .collect()
    }

    #[test]
    fn the_chapter_internet_egress_jump_is_flagged_the_first_day() {
        // ~1,500 GB/day of internet egress at $0.09/GB, then 20× (the
        // $87K → $287K month is a jump of this kind, on one route).
        let (h, day) = history(&weekly(28, 1500.0));
        let j = jump(&h, day, 30_000.0, 0.09, &AnomalyConfig::default()).expect("flagged");
        assert!(j.ratio > 18.0 && j.z > 100.0, "{j:?}");
        assert!((j.extra_usd - (30_000.0 - 1650.0) * 0.09).abs() < 1e-6);
    }

    #[test]
    fn the_weekly_shape_and_noise_are_not_anomalies() {
        let values = weekly(35, 1500.0);
        for end in 7..35 {
            let (h, day) = history(&values[..end]);
            assert_eq!(
                jump(
                    &h,
                    day,
                    values[end - 1] * 1.05,
                    0.09,
                    &AnomalyConfig::default()
                ),
                None
            );
        }
    }

    #[test]
    fn tiny_connections_and_short_histories_do_not_alert() {
        // 10 GB/day → 100 GB/day is 10×, but $8 of extra egress.
        let (h, day) = history(&[10.0; 28]);
        assert_eq!(jump(&h, day, 100.0, 0.09, &AnomalyConfig::default()), None);
        let (h, day) = history(&[1500.0; 6]);
        assert_eq!(
            jump(&h, day, 30_000.0, 0.09, &AnomalyConfig::default()),
            None
        );
    }

    proptest! {
        #[test]
        fn arbitrary_series_never_panic(
            values in prop::collection::vec(proptest::num::f64::ANY, 0..40),
            value in proptest::num::f64::ANY,
        ) {
            let (h, day) = history(&values);
            if let Some(j) = jump(&h, day, value, 0.09, &AnomalyConfig::default()) {
                prop_assert!(j.ratio >= 1.5 && j.extra_usd >= 50.0);
            }
        }
    }
}
