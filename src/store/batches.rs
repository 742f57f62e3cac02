//! Bulk requests in the store: the batch (who sent which file where), the
//! lines that did not become workflows, the workflows that did (through
//! `workflows.batch_id`), and messages queued once per key (the batch's card
//! and summary, whoever gets there first).

use super::{now_text, BatchRow, Store, StoreError, Write, Written};
use crate::chat::message::{Destination, Message};
use crate::domain::{BatchId, UserId, WorkflowId};
use sqlx::Row;

/// A batch as recorded when its file arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub id: BatchId,
    pub requester: UserId,
    pub channel: String,
    pub source: String,
    /// How many rows the file has; the batch is whole once it holds them all.
    pub rows_total: usize,
    pub created_at: String,
}

/// A good row of a batch's file: its line and the request it reads as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingRow {
    pub line: u32,
    pub request: String,
}

/// A line of a batch's file that did not become a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRefusal {
    pub line: u32,
    pub request_text: String,
    pub error: String,
}

impl Store {
    pub async fn create_batch(
        &self,
        requester: &UserId,
        channel: &str,
        source: &str,
        rows_total: usize,
        rows: &[PendingRow],
    ) -> Result<BatchId, StoreError> {
        let written = self
            .writer
            .write(Write::CreateBatch {
                requester: requester.as_str().to_string(),
                channel: channel.to_string(),
                source: source.to_string(),
                rows_total: i64::try_from(rows_total).unwrap_or(i64::MAX),
                rows: super::json(rows),
                at: now_text(),
            })
            .await?;
        let Written::Inserted(raw) = written else {
            return Err(corrupt_batch("", "the insert returned no id"));
        };
        BatchId::new(raw).ok_or_else(|| corrupt_batch(&raw.to_string(), "not positive"))
    }

    pub async fn refuse_batch_line(
        &self,
        batch: BatchId,
        line: u32,
        request_text: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Write::RefuseBatchLine {
                batch: batch.get(),
                line: i64::from(line),
                request_text: request_text.to_string(),
                error: error.to_string(),
            })
            .await?;
        Ok(())
    }

    pub async fn batch(&self, id: BatchId) -> Result<Option<BatchRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT requester, channel, source, rows_total, created_at FROM batches WHERE id = ?",
        )
        .bind(id.get())
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|r| BatchRecord {
            id,
            requester: UserId::new(r.get::<String, _>("requester")),
            channel: r.get("channel"),
            source: r.get("source"),
            rows_total: usize::try_from(r.get::<i64, _>("rows_total")).unwrap_or(0),
            created_at: r.get("created_at"),
        }))
    }

    /// The batch's workflows with the line each came from, in file order.
    pub async fn batch_workflows(
        &self,
        id: BatchId,
    ) -> Result<Vec<(BatchRow, WorkflowId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, batch_line FROM workflows WHERE batch_id = ? ORDER BY batch_line, id",
        )
        .bind(id.get())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let raw: i64 = r.get("id");
                let workflow = WorkflowId::new(raw).ok_or_else(|| {
                    corrupt_batch(&id.to_string(), "a workflow id is not positive")
                })?;
                let line = line_number(id, r.get("batch_line"))?;
                Ok((BatchRow { batch: id, line }, workflow))
            })
            .collect()
    }

    pub async fn batch_refusals(&self, id: BatchId) -> Result<Vec<BatchRefusal>, StoreError> {
        let rows = sqlx::query(
            "SELECT line, request_text, error FROM batch_refusals WHERE batch_id = ? ORDER BY line",
        )
        .bind(id.get())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BatchRefusal {
                    line: line_number(id, r.get("line"))?,
                    request_text: r.get("request_text"),
                    error: r.get("error"),
                })
            })
            .collect()
    }

    /// The batch's good rows that are neither a workflow nor a refusal yet
    /// (all of them right after `create_batch`; after a crash, the rest).
    pub async fn batch_pending_rows(&self, id: BatchId) -> Result<Vec<PendingRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT json_extract(r.value, '$.line') AS line, json_extract(r.value, '$.request') AS request \
             FROM batches b, json_each(b.rows) r WHERE b.id = ? \
             AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.batch_id = b.id \
                             AND w.batch_line = json_extract(r.value, '$.line')) \
             AND NOT EXISTS (SELECT 1 FROM batch_refusals f WHERE f.batch_id = b.id \
                             AND f.line = json_extract(r.value, '$.line')) \
             ORDER BY 1",
        )
        .bind(id.get())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingRow {
                    line: line_number(id, r.try_get("line")?)?,
                    request: r.try_get("request")?,
                })
            })
            .collect()
    }

    /// Batches whose summary has not been queued yet, oldest first.
    pub async fn open_batches(&self) -> Result<Vec<BatchId>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM batches b WHERE NOT EXISTS \
             (SELECT 1 FROM outbox o WHERE o.once_key = 'batch-' || b.id || '/summary') ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().filter_map(|r| BatchId::new(r.get(0))).collect())
    }

    /// Queues `message` unless a message with `key` was queued before; true
    /// when this call queued it.
    pub async fn post_once(
        &self,
        destination: &Destination,
        message: &Message,
        key: &str,
    ) -> Result<bool, StoreError> {
        let written = self
            .writer
            .write(Write::Post {
                channel: destination.channel.clone(),
                thread: destination.thread.clone(),
                message: super::json(message),
                at: now_text(),
                once_key: Some(key.to_string()),
            })
            .await?;
        Ok(written == Written::Rows(1))
    }

    /// Whether a message was queued under `key`.
    pub async fn posted(&self, key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM outbox WHERE once_key = ?")
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }
}

/// A stored line number of batch `id`, as the file's line.
fn line_number(id: BatchId, raw: i64) -> Result<u32, StoreError> {
    u32::try_from(raw).map_err(|_| corrupt_batch(&id.to_string(), "a line number is out of range"))
}

fn corrupt_batch(id: &str, detail: &str) -> StoreError {
    StoreError::Corrupt {
        what: "batch",
        id: id.to_string(),
        detail: detail.to_string(),
    }
}
