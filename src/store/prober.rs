//! The prober's tables: pair failover state, the latest health of each path,
//! failover events, probe samples (raw for the last hour, then per minute) and
//! manual pins. Writes go through the store's writer like every other write.

use super::writer::Write;
use super::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// The latest health of one path, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathHealthRow {
    pub path_id: String,
    pub pair_id: String,
    pub role: String,
    pub connection_id: String,
    /// `unknown`, `up`, `degraded`, `down`.
    pub state: String,
    /// The health machine's value as JSON (since, reason).
    pub health: serde_json::Value,
    pub avg_rtt_ms: Option<f64>,
    pub p99_rtt_ms: Option<f64>,
    pub loss_percent: f64,
    pub consecutive_failures: u32,
    pub last_change_at: Option<u64>,
    pub updated_at: u64,
}

/// A decided switch between the paths of a pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwitchRow {
    pub pair_id: String,
    pub from_path: String,
    pub to_path: String,
    pub cause: String,
    pub detected_at: u64,
    pub decided_at: u64,
    pub applied_at: Option<u64>,
    pub dry_run: bool,
    pub change: Option<serde_json::Value>,
    pub resource_id: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    pub path_id: String,
    pub at: u64,
    /// None: the probe was lost.
    pub rtt_ms: Option<f64>,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteRow {
    pub path_id: String,
    pub minute: u64,
    pub sent: u64,
    pub lost: u64,
    pub avg_rtt_ms: Option<f64>,
    pub max_rtt_ms: Option<f64>,
}

fn ms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Milliseconds as SQLite stores them (saturating, never wrapping).
pub(super) fn db_ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    pub async fn save_pair_state(
        &self,
        pair_id: &str,
        state: &serde_json::Value,
        at: u64,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Write::SavePairState {
                pair_id: pair_id.to_string(),
                state: state.to_string(),
                at: db_ms(at),
            })
            .await?;
        Ok(())
    }

    /// Failover state per pair, as saved.
    pub async fn pair_states(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let rows = sqlx::query("SELECT pair_id, state FROM path_state ORDER BY pair_id")
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(0);
                let text: String = r.get(1);
                let state = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    what: "path state",
                    id: id.clone(),
                    detail: e.to_string(),
                })?;
                Ok((id, state))
            })
            .collect()
    }

    pub async fn save_path_health(&self, rows: Vec<PathHealthRow>) -> Result<(), StoreError> {
        if !rows.is_empty() {
            self.writer.write(Write::SavePathHealth(rows)).await?;
        }
        Ok(())
    }

    pub async fn path_health(&self) -> Result<Vec<PathHealthRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT path_id, pair_id, role, connection_id, state, health, avg_rtt_ms, p99_rtt_ms, loss_percent, \
             consecutive_failures, last_change_at, updated_at FROM path_health ORDER BY pair_id, role DESC",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let health: String = r.get("health");
                Ok(PathHealthRow {
                    path_id: r.get("path_id"),
                    pair_id: r.get("pair_id"),
                    role: r.get("role"),
                    connection_id: r.get("connection_id"),
                    state: r.get("state"),
                    health: serde_json::from_str(&health).unwrap_or(serde_json::Value::Null),
                    avg_rtt_ms: r.get("avg_rtt_ms"),
                    p99_rtt_ms: r.get("p99_rtt_ms"),
                    loss_percent: r.get("loss_percent"),
                    consecutive_failures: u32::try_from(r.get::<i64, _>("consecutive_failures"))
                        .unwrap_or(0),
                    last_change_at: r.get::<Option<i64>, _>("last_change_at").map(ms),
                    updated_at: ms(r.get("updated_at")),
                })
            })
            .collect()
    }

    pub async fn record_switch(&self, row: SwitchRow) -> Result<(), StoreError> {
        self.writer.write(Write::RecordSwitch(row)).await?;
        Ok(())
    }

    /// Most recent first.
    pub async fn recent_switches(&self, limit: u32) -> Result<Vec<SwitchRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT pair_id, from_path, to_path, cause, detected_at, decided_at, applied_at, dry_run, change, \
             resource_id, error FROM failover_events ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| SwitchRow {
                pair_id: r.get("pair_id"),
                from_path: r.get("from_path"),
                to_path: r.get("to_path"),
                cause: r.get("cause"),
                detected_at: ms(r.get("detected_at")),
                decided_at: ms(r.get("decided_at")),
                applied_at: r.get::<Option<i64>, _>("applied_at").map(ms),
                dry_run: r.get("dry_run"),
                change: r
                    .get::<Option<String>, _>("change")
                    .and_then(|t| serde_json::from_str(&t).ok()),
                resource_id: r.get("resource_id"),
                error: r.get("error"),
            })
            .collect())
    }

    pub async fn insert_samples(&self, rows: Vec<SampleRow>) -> Result<(), StoreError> {
        if !rows.is_empty() {
            self.writer.write(Write::InsertSamples(rows)).await?;
        }
        Ok(())
    }

    /// Folds raw samples older than `raw_before` into per-minute rows and drops
    /// minute rows older than `minutes_before`.
    pub async fn downsample(&self, raw_before: u64, minutes_before: u64) -> Result<(), StoreError> {
        self.writer
            .write(Write::Downsample {
                raw_before: db_ms(raw_before),
                minutes_before: db_ms(minutes_before),
            })
            .await?;
        Ok(())
    }

    /// Raw samples of a path since `since`, oldest first.
    pub async fn samples(&self, path_id: &str, since: u64) -> Result<Vec<SampleRow>, StoreError> {
        let rows = sqlx::query("SELECT at, rtt_ms, failure FROM probe_samples WHERE path_id = ? AND at >= ? ORDER BY at")
            .bind(path_id)
            .bind(db_ms(since))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows
            .iter()
            .map(|r| SampleRow {
                path_id: path_id.to_string(),
                at: ms(r.get("at")),
                rtt_ms: r.get("rtt_ms"),
                failure: r.get("failure"),
            })
            .collect())
    }

    pub async fn minutes(&self, path_id: &str) -> Result<Vec<MinuteRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT minute, sent, lost, rtt_sum, rtt_max FROM probe_minutes WHERE path_id = ? ORDER BY minute",
        )
        .bind(path_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let sent = ms(r.get("sent"));
                let lost = ms(r.get("lost"));
                let answered = sent.saturating_sub(lost);
                let sum: f64 = r.get("rtt_sum");
                MinuteRow {
                    path_id: path_id.to_string(),
                    minute: ms(r.get("minute")),
                    sent,
                    lost,
                    avg_rtt_ms: (answered > 0).then(|| sum / answered as f64),
                    max_rtt_ms: r.get("rtt_max"),
                }
            })
            .collect())
    }

    /// Mean RTT per path per hour over the last `window_ms` of per-minute
    /// aggregates (counted back from the newest minute, not the clock), as
    /// `(path, hour start in ms, mean RTT)`, by path then hour. Hours in which
    /// every probe was lost are left out.
    pub async fn hourly_latency(
        &self,
        window_ms: u64,
    ) -> Result<Vec<(String, u64, f64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT path_id, (minute / 3600000) * 3600000 AS hour, SUM(rtt_sum) / SUM(sent - lost) AS rtt \
             FROM probe_minutes WHERE minute >= (SELECT MAX(minute) FROM probe_minutes) - ? \
             GROUP BY path_id, hour HAVING SUM(sent - lost) > 0 ORDER BY path_id, hour",
        )
        .bind(db_ms(window_ms))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("path_id"), ms(r.get("hour")), r.get("rtt")))
            .collect())
    }

    /// Pins (pair → role) set from chat or CLI; `None` role means unpinned.
    pub async fn set_pin(
        &self,
        pair_id: &str,
        role: Option<&str>,
        by: &str,
        at: u64,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Write::SetPin {
                pair_id: pair_id.to_string(),
                role: role.map(str::to_string),
                by: by.to_string(),
                at: db_ms(at),
            })
            .await?;
        Ok(())
    }

    /// Drains `connection` until `until` (ms), replacing a drain it had.
    pub async fn set_drain(
        &self,
        connection: &str,
        until: u64,
        reason: &str,
        by: &str,
        at: u64,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Write::SetDrain {
                connection: connection.to_string(),
                until: db_ms(until),
                reason: reason.to_string(),
                by: by.to_string(),
                at: db_ms(at),
            })
            .await?;
        Ok(())
    }

    /// Ends `connection`'s drain; whether it had one.
    pub async fn clear_drain(&self, connection: &str) -> Result<bool, StoreError> {
        let had = self
            .drains()
            .await?
            .iter()
            .any(|d| d.connection == connection);
        self.writer
            .write(Write::ClearDrain {
                connection: connection.to_string(),
            })
            .await?;
        Ok(had)
    }

    /// Every drain asked for (ended ones too, until `undrain` removes them).
    pub async fn drains(&self) -> Result<Vec<crate::prober::drain::Drain>, StoreError> {
        let rows = sqlx::query(
            "SELECT connection_id, until_ms, reason, by_user FROM connection_drains ORDER BY connection_id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| crate::prober::drain::Drain {
                connection: r.get(0),
                until: crate::prober::health::At(ms(r.get(1))),
                reason: r.get(2),
                by: r.get(3),
            })
            .collect())
    }

    pub async fn pins(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let rows = sqlx::query("SELECT pair_id, role FROM path_pins ORDER BY pair_id")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn samples_fold_into_minutes_and_age_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        let minute = 60_000u64;
        let rows = (0..10)
            .map(|i| SampleRow {
                path_id: "p/primary".into(),
                at: 5 * minute + i * 1000,
                rtt_ms: (i % 5 != 0).then_some(2.0),
                failure: (i % 5 == 0).then(|| "timeout".into()),
            })
            .collect();
        store.insert_samples(rows).await.unwrap();
        store.downsample(6 * minute, 0).await.unwrap();
        assert!(store.samples("p/primary", 0).await.unwrap().is_empty());
        let minutes = store.minutes("p/primary").await.unwrap();
        assert_eq!(minutes.len(), 1);
        assert_eq!((minutes[0].sent, minutes[0].lost), (10, 2));
        assert_eq!(minutes[0].avg_rtt_ms, Some(2.0));
        store.downsample(6 * minute, 7 * minute).await.unwrap();
        assert!(store.minutes("p/primary").await.unwrap().is_empty());
    }
}
