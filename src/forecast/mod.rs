//! Forecasts over daily series: where a path's latency is heading
//! ([`latency_trend`]), when a connection's traffic fills its bandwidth
//! ([`capacity_forecast`]) and what the month's bill will be
//! ([`cost::cost_forecast`]); [`report`] assembles them for every path and
//! connection and decides which prediction alerts to raise or clear. Pure:
//! callers hand in daily points (medians or averages they computed) and get a
//! report back; no clock, no store, no IO — except [`service`], the driver
//! that reads the store and queues the alerts.
//! "Today" is the last day in the series, so the same input always gives the
//! same dates.
//!
//! Both forecasts fit a straight line robustly (Theil–Sen: the median of the
//! pairwise slopes), so one bad day cannot flip the answer, and both carry a
//! confidence figure (|Kendall's tau|, see [`trend`]) that is near 0 for noise
//! and 1 for a steady trend; alerts need that confidence.
//!
//! Invariants:
//! - Bad input is an error, never a panic: too few or too many points,
//!   non-finite or negative values, days not strictly increasing (rejected,
//!   not sorted: two medians for one day or an unsorted series is a caller
//!   bug worth hearing about), a non-positive baseline or bandwidth.
//! - Projected dates are never before today and never beyond the horizon;
//!   a level the fit already puts at or above a threshold is reported as
//!   reached today.

pub mod capacity;
pub mod cost;
pub mod report;
pub mod service;
pub mod trend;

pub use capacity::{capacity_forecast, CapacityConfig, CapacityReport};
pub use trend::{latency_trend, TrendConfig, TrendReport};

use chrono::NaiveDate;

/// Why a forecast could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error("need at least {needed} daily points to forecast, got {got}")]
    TooFewPoints { got: usize, needed: usize },
    #[error("at most {max} daily points can be forecast at once, got {got}")]
    TooManyPoints { got: usize, max: usize },
    #[error("value {value} on {day} is not a finite, non-negative number")]
    InvalidValue { day: NaiveDate, value: f64 },
    #[error("days must be strictly increasing, one point per day: {day} follows {previous}")]
    UnorderedDays { previous: NaiveDate, day: NaiveDate },
    #[error("baseline {0} ms must be finite and positive")]
    InvalidBaseline(f64),
    #[error("bandwidth {0} Gbps must be finite and positive")]
    InvalidBandwidth(f64),
    #[error("forecast config: {0}")]
    InvalidConfig(&'static str),
    #[error("values too large to forecast with: the fit overflowed")]
    Overflow,
}
