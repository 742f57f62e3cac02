//! Cron schedules for background jobs (discovery refresh; later the daily
//! digest and predictions). `Schedule` is pure: an expression parsed once at
//! the edge and asked for its next time. `run` is the driver: it sleeps until
//! each occurrence, runs the job, and stops when cancelled.

use chrono::{DateTime, Utc};
use croner::Cron;
use std::future::Future;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
#[error("cron expression '{expression}': {reason}")]
pub struct ScheduleError {
    pub expression: String,
    pub reason: String,
}

/// A cron expression with an optional seconds field
/// (`sec min hour day-of-month month day-of-week`, e.g. `0 */30 * * * *`).
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
        let shown: String = expression.chars().take(80).collect();
        let cron = Cron::new(expression.trim())
            .with_seconds_optional()
            .parse()
            .map_err(|e| ScheduleError {
                expression: shown.clone(),
                reason: e.to_string(),
            })?;
        // An expression that never fires (30 February) is a mistake, not a schedule.
        let schedule = Schedule { cron };
        if schedule.next_after(Utc::now()).is_none() {
            return Err(ScheduleError {
                expression: shown,
                reason: "it never fires".into(),
            });
        }
        Ok(schedule)
    }

    pub fn as_str(&self) -> &str {
        self.cron.as_str()
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }
}

/// Runs `job` at every occurrence of `schedule` until `cancel` fires. A job
/// that overruns its next occurrence skips it (no pile-up).
pub async fn run<F, Fut>(schedule: Schedule, cancel: CancellationToken, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let now = Utc::now();
        let Some(next) = schedule.next_after(now) else {
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = job() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_occurrences_follow_the_expression() {
        let s = Schedule::parse("0 */30 * * * *").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 14, 5, 0).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 14, 30, 0).unwrap())
        );
        let five_fields = Schedule::parse("15 9 * * *").unwrap();
        assert_eq!(
            five_fields.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 26, 9, 15, 0).unwrap())
        );
    }

    #[test]
    fn bad_expressions_are_refused_with_the_reason() {
        for bad in [
            "",
            "every day",
            "0 61 * * * *",
            "* * * * * * * *",
            "0 0 0 30 2 *",
        ] {
            let err = Schedule::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("cron expression"), "{bad}: {err}");
        }
    }
}
