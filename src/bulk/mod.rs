//! Bulk requests: a CSV file of intents becomes a batch of connect workflows
//! with one approval card and one summary. `file` reads the CSV (pure),
//! `batch` classifies rows and renders the card and summary (pure); this
//! module is the driver: it submits the rows with bounded concurrency, lets
//! the approver decide the whole batch, and posts the card once every row
//! waits for a person and the summary once every row is done.
//!
//! Invariants:
//! - A bad row (unreadable, not a request) is recorded with its line number
//!   and never stops the other rows.
//! - Every good row is stored with the batch before any is submitted; rows a
//!   stopped process never submitted are submitted when the watcher starts
//!   again, and a line never becomes two workflows (unique index).
//! - Rows speak only through the batch: their workflows post nothing of their
//!   own (the engine drops a batch row's notices), so 89 rows are one card.
//! - The card, the decision and the summary are each queued at most once
//!   (outbox `once_key`), whichever process gets there first.
//! - Approve all decides only the rows awaiting approval, each through the
//!   engine (so the requester can never approve their own, and each row's
//!   approval is audited); the batch decision is audited once more.

pub mod batch;
pub mod file;

use crate::chat::message::{mention, Message, Tone};
use crate::domain::{BatchId, UserId, WorkflowId};
use crate::store::batches::{BatchRecord, PendingRow};
use crate::store::{BatchRow, Store, StoreError};
use crate::workflow::{Engine, EngineError};
use batch::BatchView;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows in flight at once unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("{source_name}: {error}")]
    File {
        source_name: String,
        error: file::FileError,
    },
    #[error("{0} does not exist")]
    UnknownBatch(BatchId),
    #[error("{by} may not decide {batch}: {why}")]
    NotAllowed {
        batch: BatchId,
        by: UserId,
        why: &'static str,
    },
    #[error("{0} has no rows awaiting approval (already decided, or none got that far)")]
    NothingToDecide(BatchId),
    #[error("a reason is required to reject {0}")]
    ReasonRequired(BatchId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What one batch decision did.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub batch: BatchId,
    pub decided: Vec<WorkflowId>,
    /// Rows the engine refused to decide (moved on meanwhile), with why.
    pub skipped: Vec<(WorkflowId, String)>,
}

#[derive(Clone)]
pub struct Bulk {
    engine: Engine,
    store: Store,
}

/// A row task's end: its error is the batch's; a panicked task is logged.
fn settle(
    joined: Option<Result<Result<(), BulkError>, tokio::task::JoinError>>,
    batch: BatchId,
) -> Result<(), BulkError> {
    match joined {
        Some(Ok(result)) => result,
        Some(Err(e)) => {
            tracing::error!(error = %e, %batch, "a batch row's task failed");
            Ok(())
        }
        None => Ok(()),
    }
}

fn key(batch: BatchId, what: &str) -> String {
    format!("{batch}/{what}")
}

impl Bulk {
    pub fn new(engine: Engine, store: Store) -> Bulk {
        Bulk { engine, store }
    }

    /// Reads the file, records the batch and its bad lines, and starts one
    /// workflow per good row, at most `concurrency` in flight (submitted and
    /// not yet waiting for a person or done). Returns once every row is
    /// submitted; the rows go on in the engine.
    pub async fn submit(
        &self,
        requester: &UserId,
        channel: &str,
        source_name: &str,
        bytes: &[u8],
        concurrency: usize,
    ) -> Result<BatchId, BulkError> {
        let parsed = file::read(bytes).map_err(|error| BulkError::File {
            source_name: source_name.to_string(),
            error,
        })?;
        let rows: Vec<PendingRow> = parsed
            .rows
            .iter()
            .map(|r| PendingRow {
                line: r.line,
                request: r.request.clone(),
            })
            .collect();
        let batch = self
            .store
            .create_batch(
                requester,
                channel,
                source_name,
                parsed.rows.len() + parsed.errors.len(),
                &rows,
            )
            .await?;
        for bad in &parsed.errors {
            self.store
                .refuse_batch_line(batch, bad.line, &bad.text, &bad.reason)
                .await?;
        }
        self.submit_pending(batch, requester, channel, concurrency)
            .await?;
        Ok(batch)
    }

    /// Starts the workflows of the batch's rows that have none yet, at most
    /// `concurrency` in flight. A row another submitter took first (the
    /// unique line index) is left to it.
    async fn submit_pending(
        &self,
        batch: BatchId,
        requester: &UserId,
        channel: &str,
        concurrency: usize,
    ) -> Result<(), BulkError> {
        let mut rows = tokio::task::JoinSet::new();
        for row in self.store.batch_pending_rows(batch).await? {
            while rows.len() >= concurrency.max(1) {
                settle(rows.join_next().await, batch)?;
            }
            let (engine, store, requester, channel) = (
                self.engine.clone(),
                self.store.clone(),
                requester.clone(),
                channel.to_string(),
            );
            rows.spawn(async move {
                let at = BatchRow {
                    batch,
                    line: row.line,
                };
                match engine
                    .submit_batch_row(&requester, &channel, &row.request, at)
                    .await
                {
                    Ok(id) => engine.wait_resting(id).await.map_err(BulkError::from),
                    Err(EngineError::NotUnderstood(e)) => store
                        .refuse_batch_line(batch, row.line, &row.request, &e.to_string())
                        .await
                        .map_err(BulkError::from),
                    Err(EngineError::Store(e)) if e.is_unique_violation() => Ok(()),
                    Err(e) => Err(e.into()),
                }
            });
        }
        while !rows.is_empty() {
            settle(rows.join_next().await, batch)?;
        }
        Ok(())
    }

    /// Finishes submitting every open batch a previous process left
    /// half-submitted (it crashed or was stopped mid-file).
    pub async fn resume(&self) -> Result<(), BulkError> {
        for batch in self.store.open_batches().await? {
            let Some(record) = self.store.batch(batch).await? else {
                continue;
            };
            let pending = self.store.batch_pending_rows(batch).await?.len();
            if pending > 0 {
                tracing::info!(%batch, pending, "resuming a half-submitted batch");
                self.submit_pending(
                    batch,
                    &record.requester,
                    &record.channel,
                    DEFAULT_CONCURRENCY,
                )
                .await?;
            }
        }
        Ok(())
    }

    pub async fn view(&self, batch: BatchId) -> Result<BatchView, BulkError> {
        self.view_of(&self.record(batch).await?).await
    }

    async fn record(&self, batch: BatchId) -> Result<BatchRecord, BulkError> {
        self.store
            .batch(batch)
            .await?
            .ok_or(BulkError::UnknownBatch(batch))
    }

    async fn view_of(&self, record: &BatchRecord) -> Result<BatchView, BulkError> {
        let batch = record.id;
        let mut workflows = Vec::new();
        for (row, id) in self.store.batch_workflows(batch).await? {
            if let Some((record, steps)) = self.store.load_full(id).await? {
                workflows.push((row.line, record, steps));
            }
        }
        let refusals = self.store.batch_refusals(batch).await?;
        Ok(batch::view(record, &workflows, &refusals))
    }

    /// Waits until `done` holds for the batch (re-checked whenever a
    /// workflow moves, and at least every 250 ms).
    pub async fn wait_until(
        &self,
        batch: BatchId,
        done: impl Fn(&BatchView) -> bool,
    ) -> Result<BatchView, BulkError> {
        let mut changes = self.engine.changes();
        loop {
            let view = self.view(batch).await?;
            if done(&view) {
                return Ok(view);
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    /// Queues what the batch's state calls for: the card once every row
    /// waits for a person or is done (when some row waits), the summary once
    /// every row is done. Each at most once.
    pub async fn advance(&self, batch: BatchId) -> Result<BatchView, BulkError> {
        let record = self.record(batch).await?;
        let view = self.view_of(&record).await?;
        let to = batch::destination(&record);
        let tally = view.tally();
        if view.is_settled() && tally.awaiting_approval + tally.needs_answer > 0 {
            self.store
                .post_once(&to, &batch::card(&view), &key(batch, "card"))
                .await?;
        }
        if view.is_finished() {
            self.store
                .post_once(&to, &batch::summary(&view), &key(batch, "summary"))
                .await?;
        }
        Ok(view)
    }

    /// Keeps every open batch's card and summary coming, until cancelled.
    /// Runs beside the engine in `console`, `serve` and `bulk`.
    pub async fn watch(self, cancel: CancellationToken) {
        let mut changes = self.engine.changes();
        // Rows a stopped process never submitted go in first, in the
        // background, so the loop below keeps advancing cards meanwhile.
        let (resuming, stop) = (self.clone(), cancel.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                resumed = resuming.resume() => {
                    if let Err(e) = resumed {
                        tracing::warn!(error = %e, "could not resume half-submitted batches");
                    }
                }
            }
        });
        loop {
            match self.store.open_batches().await {
                Ok(open) => {
                    for batch in open {
                        if let Err(e) = self.advance(batch).await {
                            tracing::warn!(error = %e, %batch, "could not advance a batch");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not list open batches"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = changes.changed() => {
                    // Let a burst of transitions land before looking again.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// Approves every row of the batch that awaits approval.
    pub async fn approve(&self, batch: BatchId, by: &UserId) -> Result<Decided, BulkError> {
        self.decide(batch, by, None).await
    }

    /// Rejects every row of the batch that awaits approval, with the reason.
    pub async fn reject(
        &self,
        batch: BatchId,
        by: &UserId,
        reason: &str,
    ) -> Result<Decided, BulkError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(BulkError::ReasonRequired(batch));
        }
        self.decide(batch, by, Some(reason)).await
    }

    async fn decide(
        &self,
        batch: BatchId,
        by: &UserId,
        rejection: Option<&str>,
    ) -> Result<Decided, BulkError> {
        let record = self.record(batch).await?;
        let verb = if rejection.is_some() {
            "reject"
        } else {
            "approve"
        };
        let why = if &record.requester == by {
            Some("the requester cannot decide their own request")
        } else if !self.engine.is_approver(by) {
            Some("not an approver")
        } else {
            None
        };
        if let Some(why) = why {
            self.store
                .audit(
                    None,
                    by.as_str(),
                    &format!("batch.{verb}.refused"),
                    &format!("{batch}: {why}"),
                )
                .await?;
            return Err(BulkError::NotAllowed {
                batch,
                by: by.clone(),
                why,
            });
        }
        let view = self.view_of(&record).await?;
        let waiting = view.awaiting_approval();
        if waiting.is_empty() {
            return Err(BulkError::NothingToDecide(batch));
        }
        let mut decided = Vec::new();
        let mut skipped = Vec::new();
        for id in waiting {
            let result = match rejection {
                None => self.engine.approve(id, by).await,
                Some(reason) => self.engine.reject(id, by, reason).await,
            };
            match result {
                Ok(()) => decided.push(id),
                Err(e @ (EngineError::Refused(..) | EngineError::NotFound(_))) => {
                    skipped.push((id, e.to_string()))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let detail = format!(
            "{batch}: {verb}d {} rows, {} skipped",
            decided.len(),
            skipped.len()
        );
        self.store
            .audit(None, by.as_str(), &format!("batch.{verb}d"), &detail)
            .await?;
        let at = chrono::Utc::now().format("%H:%M UTC");
        let message = match rejection {
            None => Message::text(format!(
                "Approved by {} at {at}: {} rows",
                mention(by),
                decided.len()
            ))
            .with_tone(Tone::Success),
            Some(reason) => Message::text(format!(
                "Rejected by {} at {at}: {} rows. Reason: {reason}",
                mention(by),
                decided.len()
            ))
            .with_tone(Tone::Danger),
        };
        self.store
            .post_once(
                &batch::destination(&record),
                &message,
                &key(batch, "decision"),
            )
            .await?;
        Ok(Decided {
            batch,
            decided,
            skipped,
        })
    }
}
