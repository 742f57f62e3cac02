//! What chat delivery keeps: where outbox messages landed on a platform, the
//! thread each workflow lives in, its approval card, and the counts `/metrics`
//! shows. The thread and card rows are written by the trigger that fires when
//! a message is marked delivered on a platform (migrations/0005), so "sent"
//! and "where it went" commit together.

use super::writer::Write;
use super::{now_text, OutboxItem, Store, StoreError};
use crate::chat::message::Message;
use sqlx::Row;

/// A workflow's thread on one platform and channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatThread {
    pub thread_ts: String,
    /// The approval card still showing its buttons, with its `ts`.
    pub open_card: Option<(String, Message)>,
}

/// Outbox figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: i64,
    pub delivered: i64,
    /// Failed delivery attempts recorded (delivered or not).
    pub failed_attempts: i64,
}

impl Store {
    /// Marks a message delivered on `platform`, which answered with `ts`.
    /// Marking twice keeps the first.
    pub async fn mark_delivered_on(
        &self,
        item: &OutboxItem,
        platform: &str,
        ts: &str,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Write::MarkDeliveredOn {
                outbox_id: item.id,
                at: now_text(),
                platform: platform.to_string(),
                ts: ts.to_string(),
            })
            .await?;
        Ok(())
    }

    /// Records a failed attempt; the message stays pending.
    pub async fn outbox_failed(&self, outbox_id: i64, error: &str) -> Result<(), StoreError> {
        let error: String = error.chars().take(500).collect();
        self.writer
            .write(Write::OutboxFailed { outbox_id, error })
            .await?;
        Ok(())
    }

    pub async fn chat_thread(
        &self,
        platform: &str,
        channel: &str,
        thread_key: &str,
    ) -> Result<Option<ChatThread>, StoreError> {
        let row = sqlx::query(
            "SELECT t.thread_ts, t.card_ts, t.card_closed, o.message FROM chat_threads t \
             LEFT JOIN outbox o ON o.id = t.card_outbox_id \
             WHERE t.platform = ? AND t.channel = ? AND t.thread_key = ?",
        )
        .bind(platform)
        .bind(channel)
        .bind(thread_key)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let card_ts: Option<String> = row.get("card_ts");
        let closed: bool = row.get("card_closed");
        let card: Option<String> = row.get("message");
        let open_card = match (card_ts, card, closed) {
            (Some(ts), Some(text), false) => {
                let message = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    what: "approval card",
                    id: thread_key.to_string(),
                    detail: e.to_string(),
                })?;
                Some((ts, message))
            }
            _ => None,
        };
        Ok(Some(ChatThread {
            thread_ts: row.get("thread_ts"),
            open_card,
        }))
    }

    /// The card of `thread_key` now shows its decision.
    pub async fn close_card(
        &self,
        platform: &str,
        channel: &str,
        thread_key: &str,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Write::CloseCard {
                platform: platform.to_string(),
                channel: channel.to_string(),
                thread_key: thread_key.to_string(),
            })
            .await?;
        Ok(())
    }

    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(delivered_at IS NULL), 0), COALESCE(SUM(delivered_at IS NOT NULL), 0), \
             COALESCE(SUM(attempts - (delivered_at IS NOT NULL)), 0) FROM outbox",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(OutboxStats {
            pending: row.get(0),
            delivered: row.get(1),
            failed_attempts: row.get(2),
        })
    }

    /// How many workflows are in each status.
    pub async fn workflow_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) FROM workflows GROUP BY status ORDER BY status")
                .fetch_all(&self.reader)
                .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
