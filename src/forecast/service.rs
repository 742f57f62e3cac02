//! The forecast driver: reads the probe and usage history from the store,
//! runs the pure forecasts ([`super::report`]) and raises or clears the
//! prediction alerts through the store (which queues them on the outbox).
//! The only part of `forecast/` that does IO.

use super::report::{alert_changes, capacity, cost, daily_medians, latency, Forecasts, Skipped};
use super::{CapacityConfig, TrendConfig};
use crate::store::{Store, StoreError};
use crate::usage::{connection_facts, EstateFeed};
use chrono::{DateTime, Days};
use serde::Serialize;
use std::collections::BTreeMap;

/// Days of probe history the latency trend reads (back from the newest minute).
pub const LATENCY_WINDOW_DAYS: u64 = 30;
/// Days of usage the capacity and cost forecasts read (back from the last day).
pub const USAGE_WINDOW_DAYS: u64 = 180;

#[derive(Debug, thiserror::Error)]
pub enum ForecastServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the estate to forecast: {0}")]
    Estate(String),
}

/// How far ahead and when to alert.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ForecastSettings {
    pub trend: TrendConfig,
    pub capacity: CapacityConfig,
}

impl ForecastSettings {
    /// Both horizons set to `days`.
    pub fn with_horizon(mut self, days: u32) -> ForecastSettings {
        self.trend.horizon_days = days;
        self.capacity.horizon_days = days;
        self
    }
}

/// Which alerts this run raised and cleared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSummary {
    pub raised: Vec<String>,
    pub cleared: Vec<String>,
    /// Raised earlier and still standing (not repeated).
    pub standing: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastRun {
    #[serde(flatten)]
    pub forecasts: Forecasts,
    pub alerts: AlertSummary,
}

pub struct ForecastService {
    store: Store,
    estate: std::sync::Arc<dyn EstateFeed>,
    alerts_channel: String,
}

impl ForecastService {
    /// Runs the forecasts at every occurrence of `schedule` (UTC) until
    /// cancelled, so prediction alerts are raised and cleared without anyone
    /// asking; each run alerts only on what changed.
    pub async fn run_on_schedule(
        self: std::sync::Arc<Self>,
        schedule: crate::scheduler::Schedule,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        crate::scheduler::run(schedule, cancel, || async {
            match self.run(&ForecastSettings::default()).await {
                Ok(run) => tracing::info!(
                    raised = run.alerts.raised.len(),
                    cleared = run.alerts.cleared.len(),
                    "scheduled forecast ran"
                ),
                Err(e) => tracing::warn!(error = %e, "scheduled forecast failed"),
            }
        })
        .await;
    }

    pub fn new(
        store: Store,
        estate: std::sync::Arc<dyn EstateFeed>,
        alerts_channel: String,
    ) -> ForecastService {
        ForecastService {
            store,
            estate,
            alerts_channel,
        }
    }

    /// Forecasts everything and raises or clears the alerts.
    pub async fn run(
        &self,
        settings: &ForecastSettings,
    ) -> Result<ForecastRun, ForecastServiceError> {
        let forecasts = self.forecasts(settings).await?;
        let raised = self.store.raised_conditions().await?;
        let (raise, clear) = alert_changes(&forecasts, &raised, &self.alerts_channel);
        let describe = |subject: &str, condition: &str| format!("{condition} {subject}");
        for r in &raise {
            self.store.raise_condition(r).await?;
            tracing::info!(subject = %r.key.subject, condition = %r.key.condition, "prediction alert raised");
        }
        for key in &clear {
            self.store.clear_condition(key).await?;
            tracing::info!(subject = %key.subject, condition = %key.condition, "prediction alert cleared");
        }
        let standing = raised.len().saturating_sub(clear.len());
        Ok(ForecastRun {
            forecasts,
            alerts: AlertSummary {
                raised: raise
                    .iter()
                    .map(|r| describe(&r.key.subject, &r.key.condition))
                    .collect(),
                cleared: clear
                    .iter()
                    .map(|k| describe(&k.subject, &k.condition))
                    .collect(),
                standing,
            },
        })
    }

    /// The forecasts alone, changing nothing.
    pub async fn forecasts(
        &self,
        settings: &ForecastSettings,
    ) -> Result<Forecasts, ForecastServiceError> {
        let mut skipped: Vec<Skipped> = Vec::new();
        let hourly = self
            .store
            .hourly_latency(LATENCY_WINDOW_DAYS * 86_400_000)
            .await?;
        let mut points: BTreeMap<String, Vec<(chrono::NaiveDate, f64)>> = BTreeMap::new();
        for (path, hour, rtt) in hourly {
            let Some(at) = i64::try_from(hour)
                .ok()
                .and_then(DateTime::from_timestamp_millis)
            else {
                continue;
            };
            points.entry(path).or_default().push((at.date_naive(), rtt));
        }
        let series = points
            .into_iter()
            .map(|(path, p)| (path, daily_medians(p)))
            .collect();
        let latency = latency(&series, &settings.trend, &mut skipped);

        let usage = match self.store.usage_span().await? {
            Some((_, last)) => {
                let from = last
                    .checked_sub_days(Days::new(USAGE_WINDOW_DAYS - 1))
                    .unwrap_or(last);
                self.store.usage_between(from, last).await?
            }
            None => Vec::new(),
        };
        let (estate, pricing) = self
            .estate
            .priced()
            .await
            .map_err(ForecastServiceError::Estate)?;
        let facts = connection_facts(&estate);
        let capacity = capacity(&usage, &facts, &settings.capacity, &mut skipped);
        let cost = cost(&usage, &pricing);
        Ok(Forecasts {
            latency,
            capacity,
            cost,
            skipped,
        })
    }
}
