//! The usage history (`usage_daily`) and the prediction conditions raised
//! and not yet cleared (`forecast_conditions`; migrations/0008). Raising a
//! condition queues its alert and clearing it queues its all-clear in the
//! same statement (triggers), so an alert is never recorded unsent or sent
//! twice.

use super::writer::Write;
use super::{Store, StoreError};
use crate::chat::message::Message;
use crate::domain::{Cloud, ConnectionId, ConnectionKind, Gbps, Gigabytes};
use crate::usage::UsageRow;
use chrono::NaiveDate;
use sqlx::Row;

/// A raised prediction: what it is about and which condition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConditionKey {
    /// A path id or a connection id.
    pub subject: String,
    /// `latency_trend`, `capacity`, …
    pub condition: String,
}

/// A condition to raise: its key, where the alert goes, the alert and the
/// all-clear posted when it clears.
#[derive(Debug, Clone, PartialEq)]
pub struct Raise {
    pub key: ConditionKey,
    pub channel: String,
    pub alert: Message,
    pub all_clear: Message,
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

impl Store {
    /// Stores `rows`, replacing any row for the same day and connection.
    /// Returns how many rows were written.
    pub async fn upsert_usage(&self, rows: Vec<UsageRow>, source: &str) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let written = self
            .writer
            .write(Write::UpsertUsage {
                rows,
                source: source.to_string(),
            })
            .await?;
        Ok(match written {
            super::writer::Written::Rows(n) => n,
            super::writer::Written::Inserted(_) => 1,
        })
    }

    /// Usage rows from `from` to `to` (inclusive), by day then connection.
    pub async fn usage_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, connection_id, cloud, path_kind, gigabytes, peak_gbps FROM usage_daily \
             WHERE day >= ? AND day <= ? ORDER BY day, connection_id",
        )
        .bind(day_text(from))
        .bind(day_text(to))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let day: String = r.get("day");
                let connection: String = r.get("connection_id");
                let corrupt = |detail: String| StoreError::Corrupt {
                    what: "usage row",
                    id: format!("{connection} on {day}"),
                    detail,
                };
                let cloud: String = r.get("cloud");
                let kind: String = r.get("path_kind");
                Ok(UsageRow {
                    day: NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                        .map_err(|e| corrupt(e.to_string()))?,
                    cloud: cloud.parse::<Cloud>().map_err(|e| corrupt(e.to_string()))?,
                    kind: serde_json::from_value::<ConnectionKind>(serde_json::Value::String(kind))
                        .map_err(|e| corrupt(e.to_string()))?,
                    gigabytes: Gigabytes(r.get("gigabytes")),
                    peak_gbps: r.get::<Option<f64>, _>("peak_gbps").map(Gbps),
                    connection: ConnectionId::new(connection.clone()),
                })
            })
            .collect()
    }

    /// The first and last day with usage, if any.
    pub async fn usage_span(&self) -> Result<Option<(NaiveDate, NaiveDate)>, StoreError> {
        let row = sqlx::query("SELECT MIN(day), MAX(day) FROM usage_daily")
            .fetch_one(&self.reader)
            .await?;
        let (first, last): (Option<String>, Option<String>) = (row.get(0), row.get(1));
        let parse =
            |t: Option<String>| t.and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok());
        Ok(parse(first).zip(parse(last)))
    }

    /// Conditions raised and not cleared.
    pub async fn raised_conditions(&self) -> Result<Vec<ConditionKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT subject, condition FROM forecast_conditions ORDER BY subject, condition",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ConditionKey {
                subject: r.get(0),
                condition: r.get(1),
            })
            .collect())
    }

    /// Raises a condition and queues its alert; a condition already raised
    /// stays as it is and nothing is queued.
    pub async fn raise_condition(&self, raise: &Raise) -> Result<(), StoreError> {
        self.writer
            .write(Write::RaiseCondition {
                subject: raise.key.subject.clone(),
                condition: raise.key.condition.clone(),
                at: super::now_text(),
                channel: raise.channel.clone(),
                alert: super::json(&raise.alert),
                all_clear: super::json(&raise.all_clear),
            })
            .await?;
        Ok(())
    }

    /// Clears a condition and queues its all-clear (nothing if it was not raised).
    pub async fn clear_condition(&self, key: &ConditionKey) -> Result<(), StoreError> {
        self.writer
            .write(Write::ClearCondition {
                subject: key.subject.clone(),
                condition: key.condition.clone(),
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, connection: &str, gb: f64) -> UsageRow {
        UsageRow {
            day: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(),
            connection: ConnectionId::new(connection),
            cloud: Cloud::Aws,
            kind: ConnectionKind::DirectConnect,
            gigabytes: Gigabytes(gb),
            peak_gbps: None,
        }
    }

    #[tokio::test]
    async fn re_importing_a_day_replaces_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        store
            .upsert_usage(
                vec![
                    row("2026-01-01", "dx-1", 1.0),
                    row("2026-01-02", "dx-1", 2.0),
                ],
                "a",
            )
            .await
            .unwrap();
        store
            .upsert_usage(vec![row("2026-01-02", "dx-1", 5.0)], "b")
            .await
            .unwrap();
        let day = |t| NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap();
        let rows = store
            .usage_between(day("2026-01-01"), day("2026-01-31"))
            .await
            .unwrap();
        let gb: Vec<f64> = rows.iter().map(|r| r.gigabytes.0).collect();
        assert_eq!(gb, [1.0, 5.0]);
        assert_eq!(rows[1].kind, ConnectionKind::DirectConnect);
        assert_eq!(
            store.usage_span().await.unwrap(),
            Some((day("2026-01-01"), day("2026-01-02")))
        );
    }

    #[tokio::test]
    async fn a_condition_alerts_once_until_it_clears() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        let raise = Raise {
            key: ConditionKey {
                subject: "p/primary".into(),
                condition: "latency_trend".into(),
            },
            channel: "alerts".into(),
            alert: Message::text("rising"),
            all_clear: Message::text("cleared"),
        };
        store.raise_condition(&raise).await.unwrap();
        store.raise_condition(&raise).await.unwrap();
        assert_eq!(
            store.raised_conditions().await.unwrap(),
            std::slice::from_ref(&raise.key)
        );
        store.clear_condition(&raise.key).await.unwrap();
        store.clear_condition(&raise.key).await.unwrap();
        let texts: Vec<String> = store
            .pending_outbox(10)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.message.text)
            .collect();
        assert_eq!(texts, ["rising", "cleared"]);
        assert!(store.raised_conditions().await.unwrap().is_empty());
    }
}
