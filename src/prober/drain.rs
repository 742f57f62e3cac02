//! Planned work, pure: which connections are drained now — by an approver's
//! `drain <connection> [for 2h] [reason]` (kept in the store until it ends
//! or `undrain`) or by a maintenance window in the config (cron + duration)
//! — and what that means for a pair: traffic kept off the drained path (the
//! pair held on its other path, as a pin would, unless someone pinned it),
//! and the drained path's alerts silenced for the window.

use super::failover::Role;
use super::health::At;
use crate::scheduler::Schedule;
use crate::workflow::definition::parse_duration;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a drain lasts when the command names no duration.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(2 * 3600);
/// The longest drain one command may ask for.
pub const MAX_DRAIN: Duration = Duration::from_secs(7 * 24 * 3600);

/// A drain an approver asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drain {
    pub connection: String,
    pub until: At,
    pub reason: String,
    pub by: String,
}

/// A maintenance window from the config: every occurrence of `schedule`
/// drains `connection` for `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindow {
    pub connection: String,
    pub schedule: Schedule,
    pub duration: Duration,
    pub reason: String,
}

/// Why a connection is drained now and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drained {
    pub connection: String,
    pub until: u64,
    pub reason: String,
    /// Who drained it, or `maintenance window`.
    pub by: String,
}

fn at_of(t: DateTime<Utc>) -> At {
    At(u64::try_from(t.timestamp_millis()).unwrap_or(0))
}

impl MaintenanceWindow {
    /// When the window that holds `now` ends, if one does: the occurrence
    /// after `now - duration` has begun by `now`.
    pub fn active_until(&self, now: At) -> Option<At> {
        let now_t = DateTime::from_timestamp_millis(i64::try_from(now.0).ok()?)?;
        let span = chrono::Duration::from_std(self.duration).ok()?;
        let start = self.schedule.next_after(now_t - span)?;
        (start <= now_t).then(|| at_of(start + span))
    }
}

/// Every connection drained at `now`, by a drain or a window (the later end
/// wins where both hold).
pub fn drained_now(
    drains: &[Drain],
    windows: &[MaintenanceWindow],
    now: At,
) -> BTreeMap<String, Drained> {
    let mut drained: BTreeMap<String, Drained> = BTreeMap::new();
    let mut add = |d: Drained| match drained.get(&d.connection) {
        Some(have) if have.until >= d.until => {}
        _ => {
            drained.insert(d.connection.clone(), d);
        }
    };
    for d in drains.iter().filter(|d| d.until > now) {
        add(Drained {
            connection: d.connection.clone(),
            until: d.until.0,
            reason: d.reason.clone(),
            by: d.by.clone(),
        });
    }
    for w in windows {
        if let Some(until) = w.active_until(now) {
            add(Drained {
                connection: w.connection.clone(),
                until: until.0,
                reason: w.reason.clone(),
                by: "maintenance window".into(),
            });
        }
    }
    drained
}

/// Where a drain holds a pair: off a drained primary onto its backup, off
/// a drained backup onto its primary; nowhere when both or neither are.
pub fn drain_pin(
    primary_connection: &str,
    backup_connection: &str,
    drained: &BTreeMap<String, Drained>,
) -> Option<Role> {
    match (
        drained.contains_key(primary_connection),
        drained.contains_key(backup_connection),
    ) {
        (true, false) => Some(Role::Backup),
        (false, true) => Some(Role::Primary),
        _ => None,
    }
}

/// `<connection> [for <duration>] [reason…]`, as chat and the CLI take it.
pub fn parse_drain(rest: &str) -> Result<(String, Duration, String), String> {
    const USAGE: &str = "Usage: `drain <connection> [for 2h] [reason]`";
    let mut words = rest.split_whitespace();
    let connection = words.next().ok_or(USAGE)?;
    if connection.len() > 128
        || !connection
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
    {
        return Err(format!(
            "'{}' is not a connection id. {USAGE}",
            connection.chars().take(40).collect::<String>()
        ));
    }
    let mut rest: Vec<&str> = words.collect();
    let mut duration = DEFAULT_DRAIN;
    if rest.first().is_some_and(|w| w.eq_ignore_ascii_case("for")) {
        let given = rest.get(1).ok_or(USAGE)?;
        duration = parse_duration(given).map_err(|e| format!("'{given}': {e}. {USAGE}"))?;
        if duration.is_zero() || duration > MAX_DRAIN {
            return Err(format!(
                "a drain lasts more than 0 and at most 7 days, not '{given}'"
            ));
        }
        rest.drain(..2);
    }
    let reason: String = rest.join(" ").chars().take(200).collect();
    Ok((connection.to_string(), duration, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t: &str) -> At {
        at_of(DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn drain_commands_read_connection_duration_and_reason() {
        assert_eq!(
            parse_drain("dx-1 for 90m fiber work at EqDC2").unwrap(),
            (
                "dx-1".into(),
                Duration::from_secs(5400),
                "fiber work at EqDC2".into()
            )
        );
        assert_eq!(
            parse_drain("dx-1").unwrap(),
            ("dx-1".into(), DEFAULT_DRAIN, String::new())
        );
        assert!(parse_drain("").unwrap_err().contains("Usage"));
        assert!(parse_drain("dx-1 for").unwrap_err().contains("Usage"));
        assert!(parse_drain("dx-1 for soon").is_err());
        assert!(parse_drain("dx-1 for 30d").unwrap_err().contains("7 days"));
        assert!(parse_drain("dx;rm for 1h").is_err());
    }

    #[test]
    fn a_window_holds_from_each_occurrence_for_its_duration() {
        let window = MaintenanceWindow {
            connection: "dx-1".into(),
            // Sundays 02:00 UTC.
            schedule: Schedule::parse("0 0 2 * * Sun").unwrap(),
            duration: Duration::from_secs(2 * 3600),
            reason: "provider maintenance".into(),
        };
        // 2026-12-06 is a Sunday.
        assert_eq!(window.active_until(ms("2026-12-06T01:59:59Z")), None);
        assert_eq!(
            window.active_until(ms("2026-12-06T02:00:00Z")),
            Some(ms("2026-12-06T04:00:00Z"))
        );
        assert_eq!(
            window.active_until(ms("2026-12-06T03:30:00Z")),
            Some(ms("2026-12-06T04:00:00Z"))
        );
        assert_eq!(window.active_until(ms("2026-12-06T04:00:00Z")), None);
        let drained = drained_now(&[], &[window], ms("2026-12-06T03:00:00Z"));
        assert_eq!(drained["dx-1"].by, "maintenance window");
    }

    #[test]
    fn drains_end_by_themselves_and_hold_a_pair_off_the_drained_path() {
        let drain = Drain {
            connection: "dx-1".into(),
            until: At(2_000),
            reason: "fiber".into(),
            by: "alice".into(),
        };
        let now = drained_now(std::slice::from_ref(&drain), &[], At(1_000));
        assert_eq!(drain_pin("dx-1", "vpn-1", &now), Some(Role::Backup));
        assert_eq!(drain_pin("vpn-1", "dx-1", &now), Some(Role::Primary));
        assert_eq!(drain_pin("a", "b", &now), None);
        let both = drained_now(
            &[
                drain.clone(),
                Drain {
                    connection: "vpn-1".into(),
                    ..drain.clone()
                },
            ],
            &[],
            At(1_000),
        );
        assert_eq!(drain_pin("dx-1", "vpn-1", &both), None);
        assert!(drained_now(&[drain], &[], At(2_000)).is_empty());
    }
}
