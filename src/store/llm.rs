//! The `llm_calls` table (migrations/0007): one row per language-model call,
//! including calls refused before they were made (budget). Rows are written
//! once and never changed; prompt text arrives here already redacted.

use super::writer::{Write, Written};
use super::{Store, StoreError};
use crate::domain::WorkflowId;
use crate::llm::CallOutcome;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// One call as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmCallRow {
    pub at: String,
    pub prompt: String,
    pub version: u32,
    /// sha256 of the template text, hex.
    pub content_hash: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub latency_ms: i64,
    pub outcome: CallOutcome,
    pub error: Option<String>,
    pub workflow: Option<i64>,
    pub step: Option<String>,
    /// What was sent, redacted.
    pub prompt_text: String,
    pub answer_text: Option<String>,
}

/// A recorded call with its id, as `workflows show` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmCallRecord {
    pub id: i64,
    #[serde(flatten)]
    pub call: LlmCallRow,
}

impl Store {
    /// Records a call; returns its id.
    pub async fn record_llm_call(&self, call: LlmCallRow) -> Result<i64, StoreError> {
        match self.writer.write(Write::RecordLlmCall(call)).await? {
            Written::Inserted(id) => Ok(id),
            Written::Rows(_) => Err(StoreError::Corrupt {
                what: "llm call",
                id: "new".into(),
                detail: "the insert returned no id".into(),
            }),
        }
    }

    /// Tokens (input + output) recorded since `since`: what the monthly budget counts.
    pub async fn llm_tokens_since(&self, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) AS tokens FROM llm_calls WHERE at >= ?",
        )
        .bind(since.to_rfc3339())
        .fetch_one(&self.reader)
        .await?;
        let tokens: i64 = row.get("tokens");
        Ok(u64::try_from(tokens).unwrap_or(0))
    }

    /// Every call a workflow's steps made, oldest first.
    pub async fn llm_calls_of(&self, id: WorkflowId) -> Result<Vec<LlmCallRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, prompt, prompt_version, content_hash, model, input_tokens, output_tokens, latency_ms, \
             outcome, error, workflow_id, step, prompt_text, answer_text FROM llm_calls WHERE workflow_id = ? ORDER BY id",
        )
        .bind(id.get())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(read_call).collect()
    }
}

fn read_call(r: &sqlx::sqlite::SqliteRow) -> Result<LlmCallRecord, StoreError> {
    let id: i64 = r.get("id");
    let outcome: String = r.get("outcome");
    let outcome = outcome.parse().map_err(|detail| StoreError::Corrupt {
        what: "llm call",
        id: id.to_string(),
        detail,
    })?;
    let version: i64 = r.get("prompt_version");
    Ok(LlmCallRecord {
        id,
        call: LlmCallRow {
            at: r.get("at"),
            prompt: r.get("prompt"),
            version: u32::try_from(version).unwrap_or(0),
            content_hash: r.get("content_hash"),
            model: r.get("model"),
            input_tokens: r.get("input_tokens"),
            output_tokens: r.get("output_tokens"),
            latency_ms: r.get("latency_ms"),
            outcome,
            error: r.get("error"),
            workflow: r.get("workflow_id"),
            step: r.get("step"),
            prompt_text: r.get("prompt_text"),
            answer_text: r.get("answer_text"),
        },
    })
}
