//! Cron schedules for background jobs (discovery refresh; later the daily
//! digest and predictions). `Schedule` is pure: an expression parsed once at
//! the edge and asked for its next time. `run` is the driver: it sleeps until
//! each occurrence, runs the job, and stops when cancelled.

use chrono::{DateTime, TimeZone, Utc};
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

    /// The first occurrence strictly after `t` with the expression read as
    /// wall-clock time in `zone` (`0 0 9 * * *` in Europe/Berlin is 09:00
    /// Berlin time, summer or winter).
    pub fn next_after_in<Tz: TimeZone>(
        &self,
        t: DateTime<Utc>,
        zone: &Tz,
    ) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(zone), false)
            .ok()
            .map(|next| next.with_timezone(&Utc))
    }
}

/// Runs `job` at every occurrence of `schedule` until `cancel` fires. A job
/// that overruns its next occurrence skips it (no pile-up).
pub async fn run<F, Fut>(schedule: Schedule, cancel: CancellationToken, job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    run_in(schedule, Utc, cancel, job).await
}

/// [`run`] with the schedule read as wall-clock time in `zone`.
pub async fn run_in<Tz, F, Fut>(schedule: Schedule, zone: Tz, cancel: CancellationToken, mut job: F)
where
    Tz: TimeZone,
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let now = Utc::now();
        let Some(next) = schedule.next_after_in(now, &zone) else {
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
    fn a_zoned_schedule_fires_at_local_wall_clock_time() {
        let nine = Schedule::parse("0 0 9 * * *").unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        // Winter: 09:00 CET is 08:00 UTC; summer: 09:00 CEST is 07:00 UTC.
        let t = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        assert_eq!(
            nine.next_after_in(t, &berlin),
            Some(Utc.with_ymd_and_hms(2026, 1, 16, 8, 0, 0).unwrap())
        );
        let t = Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(
            nine.next_after_in(t, &berlin),
            Some(Utc.with_ymd_and_hms(2026, 7, 16, 7, 0, 0).unwrap())
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
