//! SQLite storage (sqlx, WAL). Owns the schema (migrations/ applied at open) and
//! every query. A workflow transition, its step rows, approval, audit entry and
//! outbox messages commit in one transaction, guarded by the workflow's version,
//! so a step's result is durable before the next step starts and two writers can
//! never both move the same workflow.

pub mod batches;
pub mod chat;
pub mod llm;
pub mod prober;
pub mod snapshots;
pub mod usage;
mod writer;

use crate::chat::message::{Destination, Message};
use crate::domain::{BatchId, Change, ResourceId, UserId, WorkflowId};
use crate::workflow::definition::Definition;
use crate::workflow::machine::{Decision, StepUpdate, Timestamp, Transition, WorkflowState};
use chrono::Utc;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use writer::{Write, WriteError, Writer, Written};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("database {path}: applying migrations: {source}")]
    Migrate {
        path: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database: {0}")]
    Write(#[from] WriteError),
    #[error("database holds a corrupt {what} for {id}: {detail}")]
    Corrupt {
        what: &'static str,
        id: String,
        detail: String,
    },
}

impl StoreError {
    /// A write refused by a UNIQUE constraint (someone else wrote it first).
    pub fn is_unique_violation(&self) -> bool {
        let sql = match self {
            StoreError::Sql(e) | StoreError::Write(WriteError::Sql(e)) => e,
            _ => return false,
        };
        matches!(sql, sqlx::Error::Database(db) if db.is_unique_violation())
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StepRecord {
    pub index: usize,
    pub name: String,
    pub action: String,
    pub status: String,
    pub attempts: u32,
    pub output: Option<serde_json::Value>,
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WorkflowRecord {
    pub id: WorkflowId,
    pub definition: Definition,
    pub state: WorkflowState,
    pub requester: UserId,
    pub channel: String,
    pub request_text: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// The bulk request this workflow is a row of, and its line in the file.
    pub batch: Option<BatchRow>,
}

/// Where a batch workflow came from: its batch and the line of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRow {
    pub batch: BatchId,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkflowSummary {
    pub id: WorkflowId,
    pub state: String,
    pub requester: String,
    pub current_step: String,
    pub request: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceRecord {
    pub workflow: WorkflowId,
    pub idempotency_key: String,
    pub provider: String,
    pub resource_id: ResourceId,
    pub change: Change,
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub destination: Destination,
    pub message: Message,
}

/// The outcome of a guarded commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    Done {
        version: i64,
    },
    /// Someone else moved the workflow first; reload and try again.
    Conflict,
}

/// How often `open` retries a database that another process holds locked.
const OPEN_ATTEMPTS: u32 = 60;

impl StoreError {
    /// SQLite said the database is busy or locked.
    fn is_busy(&self) -> bool {
        match self {
            StoreError::Open { source, .. } | StoreError::Sql(source) => is_busy(source),
            StoreError::Migrate {
                source: sqlx::migrate::MigrateError::Execute(source),
                ..
            } => is_busy(source),
            _ => false,
        }
    }
}

/// Runs `attempt` again while it fails with an error `busy` says is
/// transient: another process is creating or migrating the same file this
/// instant (switching a new file to WAL takes an exclusive lock that SQLite's
/// busy timeout does not cover). Gives up after `OPEN_ATTEMPTS` tries.
pub async fn retry_while_busy<T, E, F, Fut>(
    mut attempt: F,
    busy: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut tries = 0u32;
    loop {
        match attempt().await {
            Err(e) if tries < OPEN_ATTEMPTS && busy(&e) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50 * u64::from(tries.min(10)))).await;
            }
            other => return other,
        }
    }
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), with any extended code: another
/// process holds the file for a moment (e.g. while switching it to WAL, which
/// SQLite's busy timeout does not cover).
pub fn is_busy(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<u32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

#[derive(Clone)]
pub struct Store {
    writer: Writer,
    reader: SqlitePool,
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn time_text(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        retry_while_busy(|| Store::open_once(path), StoreError::is_busy).await
    }

    async fn open_once(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| StoreError::Open {
                path: shown.clone(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(15))
            .foreign_keys(true);
        // One connection writes, through the group-committing writer task
        // (see writer.rs); a pool of connections reads beside it (WAL).
        let opened = |source| StoreError::Open {
            path: shown.clone(),
            source,
        };
        let mut conn = options.connect().await.map_err(opened)?;
        // sqlx's migrator takes no lock on SQLite, so two processes opening a
        // new file at once would both apply migration 1. An advisory lock on a
        // file beside the database makes the second wait, then find the
        // migrations applied. (Never the database file itself: closing any
        // descriptor of it drops the process's SQLite locks.)
        let lock_path = path.with_file_name(format!(
            "{}.lock",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let io_error = |e: std::io::Error| StoreError::Open {
            path: lock_path.display().to_string(),
            source: sqlx::Error::Io(e),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error)?;
        let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|e| io_error(std::io::Error::other(e)))?
            .map_err(io_error)?;
        let migrated = sqlx::migrate!("./migrations").run(&mut conn).await;
        drop(file);
        migrated.map_err(|source| StoreError::Migrate {
            path: shown.clone(),
            source,
        })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            // A local file needs no liveness ping before every query (it would
            // double the round trips to sqlx's connection thread).
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .map_err(opened)?;
        Ok(Store {
            writer: Writer::start(conn),
            reader,
        })
    }

    /// Creates a workflow, its step rows (the first running) and an audit
    /// entry: one INSERT, fanned out by the `workflow_created` trigger
    /// (migrations/0002).
    pub async fn create_workflow(
        &self,
        definition: &Definition,
        requester: &UserId,
        channel: &str,
        request_text: &str,
        batch: Option<BatchRow>,
    ) -> Result<WorkflowId, StoreError> {
        let now = now_text();
        let state = WorkflowState::start();
        let effects = Effects {
            steps: vec![],
            approval: None,
            audit: AuditRow {
                actor: requester.as_str(),
                action: "workflow.created",
                detail: request_text,
            },
            outbox: vec![],
        };
        let written = self
            .writer
            .write(Write::CreateWorkflow {
                definition_name: definition.name.clone(),
                definition_version: definition.version,
                definition: json(definition),
                state: json(&state),
                status: state.status(),
                requester: requester.as_str().to_string(),
                channel: channel.to_string(),
                request_text: request_text.to_string(),
                batch: batch.map(|b| (b.batch.get(), i64::from(b.line))),
                now,
                effects: json(&effects),
            })
            .await?;
        let Written::Inserted(raw) = written else {
            return Err(StoreError::Corrupt {
                what: "workflow id",
                id: String::new(),
                detail: "the insert returned no id".into(),
            });
        };
        WorkflowId::new(raw).ok_or(StoreError::Corrupt {
            what: "workflow id",
            id: raw.to_string(),
            detail: "not positive".into(),
        })
    }

    /// A workflow and its steps, read in one query (the steps come back as a
    /// JSON array).
    pub async fn load_full(
        &self,
        id: WorkflowId,
    ) -> Result<Option<(WorkflowRecord, Vec<StepRecord>)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, definition, state, requester, channel, request_text, version, created_at, updated_at, \
             batch_id, batch_line, \
             (SELECT json_group_array(json_object('index', idx, 'name', name, 'action', action, 'status', status, \
                     'attempts', attempts, 'output', json(output), 'error', error, \
                     'started_at', started_at, 'finished_at', finished_at)) \
              FROM (SELECT * FROM workflow_steps WHERE workflow_id = workflows.id ORDER BY idx)) AS steps \
             FROM workflows WHERE id = ?",
        )
        .bind(id.get())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let record = workflow_from_row(&row)?;
        let steps: String = row.get("steps");
        let steps = serde_json::from_str(&steps).map_err(|e| StoreError::Corrupt {
            what: "steps",
            id: id.to_string(),
            detail: e.to_string(),
        })?;
        Ok(Some((record, steps)))
    }

    pub async fn load(&self, id: WorkflowId) -> Result<Option<WorkflowRecord>, StoreError> {
        Ok(self.load_full(id).await?.map(|(record, _)| record))
    }

    /// Most recent first.
    pub async fn list(&self, limit: u32) -> Result<Vec<WorkflowSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.id, w.status, w.requester, w.request_text, w.created_at, w.updated_at, s.name AS step \
             FROM workflows w LEFT JOIN workflow_steps s ON s.workflow_id = w.id AND s.idx = w.current_step \
             ORDER BY w.id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let raw: i64 = row.get("id");
                Ok(WorkflowSummary {
                    id: WorkflowId::new(raw).ok_or(StoreError::Corrupt {
                        what: "workflow id",
                        id: raw.to_string(),
                        detail: "not positive".into(),
                    })?,
                    state: row.get("status"),
                    requester: row.get("requester"),
                    current_step: row.get::<Option<String>, _>("step").unwrap_or_default(),
                    request: row.get("request_text"),
                    created_at: row.get("created_at"),
                    updated_at: row.get("updated_at"),
                })
            })
            .collect()
    }

    /// Workflows the runner must pick up: running or rolling back.
    pub async fn runnable(&self) -> Result<Vec<WorkflowId>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM workflows WHERE status IN ('running', 'rolling_back') ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| WorkflowId::new(r.get(0)))
            .collect())
    }

    /// Workflows whose deadline (a wait's expiry or a retry's backoff) has passed.
    pub async fn due(&self, now: Timestamp) -> Result<Vec<WorkflowId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM workflows WHERE deadline IS NOT NULL AND deadline <= ? ORDER BY deadline")
            .bind(time_text(now))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| WorkflowId::new(r.get(0)))
            .collect())
    }

    pub async fn next_deadline(&self) -> Result<Option<Timestamp>, StoreError> {
        let row = sqlx::query("SELECT MIN(deadline) FROM workflows WHERE deadline IS NOT NULL")
            .fetch_one(&self.reader)
            .await?;
        let text: Option<String> = row.get(0);
        Ok(text.and_then(|t| t.parse().ok()))
    }

    /// Commits a transition if the workflow is still at the version `record`
    /// was read at: one guarded UPDATE, whose `workflow_transitioned` trigger
    /// applies the step rows, approval, audit entry and outbox messages in the
    /// same statement (migrations/0002). `answer` is appended to the request
    /// text (a clarification's reply). On success `record` and `steps` are
    /// updated in place to match what was written, so the caller can go on
    /// without reading them back.
    pub async fn commit(
        &self,
        record: &mut WorkflowRecord,
        steps: &mut [StepRecord],
        transition: &Transition,
        messages: &[(Destination, Message)],
        answer: Option<&str>,
    ) -> Result<Commit, StoreError> {
        let now = now_text();
        let next = &transition.next;
        let current_step = next.current_step(&record.definition) as i64;
        let request_text = match answer {
            Some(a) => format!("{}\n{}", record.request_text, a),
            None => record.request_text.clone(),
        };
        let effects = Effects {
            steps: transition.steps.iter().map(StepRow::from).collect(),
            approval: transition.approval.as_ref().map(|a| ApprovalRow {
                decision: &a.decision,
                by: a.by.as_str(),
                reason: a.reason.as_deref(),
            }),
            audit: AuditRow {
                actor: &transition.audit.actor,
                action: &transition.audit.action,
                detail: &transition.audit.detail,
            },
            outbox: outbox_rows(messages),
        };
        let written = self
            .writer
            .write(Write::Transition {
                id: record.id.get(),
                version: record.version,
                state: json(next),
                status: next.status(),
                current_step,
                deadline: next.deadline().map(time_text),
                request_text: request_text.clone(),
                now: now.clone(),
                effects: json(&effects),
            })
            .await?;
        // Trigger writes do not count here: 0 means the version guard failed.
        if written == Written::Rows(0) {
            return Ok(Commit::Conflict);
        }
        record.state = next.clone();
        record.version += 1;
        record.request_text = request_text;
        record.updated_at = now.clone();
        for update in &transition.steps {
            if let Some(step) = steps.iter_mut().find(|s| s.index == update.step) {
                step.status = update.status.as_str().to_string();
                step.attempts = update.attempts;
                if update.output.is_some() {
                    step.output = update.output.clone();
                }
                step.error = update.error.clone();
                if update.started {
                    step.started_at = Some(now.clone());
                }
                step.finished_at = update.finished.then(|| now.clone());
            }
        }
        Ok(Commit::Done {
            version: record.version,
        })
    }

    /// An audit entry outside a transition (e.g. a refused click).
    pub async fn audit(
        &self,
        workflow: Option<WorkflowId>,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Write::Audit {
                workflow: workflow.map(WorkflowId::get),
                at: now_text(),
                actor: actor.to_string(),
                action: action.to_string(),
                detail: detail.to_string(),
            })
            .await?;
        Ok(())
    }

    pub async fn audit_trail(&self, id: WorkflowId) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, detail FROM audit_events WHERE workflow_id = ? ORDER BY id",
        )
        .bind(id.get())
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AuditRecord {
                at: r.get("at"),
                actor: r.get("actor"),
                action: r.get("action"),
                detail: r.get("detail"),
            })
            .collect())
    }

    /// Records a resource a provider created. Recording the same idempotency key
    /// twice keeps the first row (a re-run step after a crash).
    pub async fn record_resource(
        &self,
        workflow: WorkflowId,
        step: &str,
        idempotency_key: &str,
        provider: &str,
        resource: &ResourceId,
        change: &Change,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Write::RecordResource {
                workflow: workflow.get(),
                step: step.to_string(),
                idempotency_key: idempotency_key.to_string(),
                provider: provider.to_string(),
                resource: resource.as_str().to_string(),
                change: json(change),
                at: now_text(),
            })
            .await?;
        Ok(())
    }

    /// Resources of a workflow, oldest first; `active_only` leaves out reverted ones.
    pub async fn resources(
        &self,
        workflow: WorkflowId,
        active_only: bool,
    ) -> Result<Vec<ResourceRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT workflow_id, idempotency_key, provider, resource_id, change, status FROM provisioned_resources \
             WHERE workflow_id = ? AND (status = 'active' OR NOT ?) ORDER BY id",
        )
        .bind(workflow.get())
        .bind(active_only)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(resource_record).collect()
    }

    /// Every resource any workflow created, reverted ones too, oldest first.
    pub async fn all_resources(&self) -> Result<Vec<ResourceRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT workflow_id, idempotency_key, provider, resource_id, change, status FROM provisioned_resources ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(resource_record).collect()
    }

    pub async fn mark_reverted(&self, idempotency_key: &str) -> Result<(), StoreError> {
        self.writer
            .write(Write::MarkReverted {
                idempotency_key: idempotency_key.to_string(),
                at: now_text(),
            })
            .await?;
        Ok(())
    }

    /// Queues a message that belongs to no workflow transition (an alert).
    pub async fn post(
        &self,
        destination: &Destination,
        message: &Message,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Write::Post {
                channel: destination.channel.clone(),
                thread: destination.thread.clone(),
                message: json(message),
                at: now_text(),
                once_key: None,
            })
            .await?;
        Ok(())
    }

    /// Undelivered outbox messages, oldest first.
    pub async fn pending_outbox(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        self.pending_outbox_except(limit, &[]).await
    }

    /// Pending messages in order, leaving out the channels in `skip` (those
    /// another reader delivers), so they never crowd out the rest of a batch.
    pub async fn pending_outbox_except(
        &self,
        limit: u32,
        skip: &[String],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let placeholders = vec!["?"; skip.len()].join(", ");
        let sql = format!(
            "SELECT id, channel, thread, message FROM outbox WHERE delivered_at IS NULL \
             AND channel NOT IN ({placeholders}) ORDER BY id LIMIT ?"
        );
        let mut query = sqlx::query(&sql);
        for channel in skip {
            query = query.bind(channel);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.get("id");
                let text: String = r.get("message");
                Ok(OutboxItem {
                    id,
                    destination: Destination {
                        channel: r.get("channel"),
                        thread: r.get("thread"),
                    },
                    message: serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                        what: "outbox message",
                        id: id.to_string(),
                        detail: e.to_string(),
                    })?,
                })
            })
            .collect()
    }

    pub async fn mark_delivered(&self, outbox_id: i64) -> Result<(), StoreError> {
        self.writer
            .write(Write::MarkDelivered {
                outbox_id,
                at: now_text(),
            })
            .await?;
        Ok(())
    }

    /// How many workflows have completed (a cheap check before reading
    /// their outputs).
    pub async fn completed_count(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM workflows WHERE status = 'completed'";
        Ok(sqlx::query(sql).fetch_one(&self.reader).await?.get(0))
    }

    /// The outputs of the `action` step of every completed workflow, by
    /// workflow, oldest first (the requests that are now part of the estate).
    pub async fn completed_outputs(
        &self,
        action: &str,
    ) -> Result<Vec<(WorkflowId, serde_json::Value)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.workflow_id, s.output FROM workflow_steps s JOIN workflows w ON w.id = s.workflow_id \
             WHERE w.status = 'completed' AND s.action = ? AND s.output IS NOT NULL ORDER BY s.workflow_id",
        )
        .bind(action)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .filter_map(|r| {
                let id = WorkflowId::new(r.get::<i64, _>(0))?;
                let text: String = r.get(1);
                Some(serde_json::from_str(&text).map(|v| (id, v)).map_err(|e| {
                    StoreError::Corrupt {
                        what: "step output",
                        id: id.to_string(),
                        detail: e.to_string(),
                    }
                }))
            })
            .collect()
    }

    /// How many workflows the runner still has work on (running or rolling back).
    pub async fn running_count(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM workflows WHERE status IN ('running', 'rolling_back')";
        Ok(sqlx::query(sql).fetch_one(&self.reader).await?.get(0))
    }
}

/// What a transition writes besides the workflow row (see migrations/0002).
#[derive(Serialize)]
struct Effects<'a> {
    steps: Vec<StepRow<'a>>,
    approval: Option<ApprovalRow<'a>>,
    audit: AuditRow<'a>,
    outbox: Vec<OutboxRow<'a>>,
}

#[derive(Serialize)]
struct StepRow<'a> {
    idx: usize,
    status: &'static str,
    attempts: u32,
    output: Option<&'a serde_json::Value>,
    error: Option<&'a str>,
    started: bool,
    finished: bool,
}

impl<'a> From<&'a StepUpdate> for StepRow<'a> {
    fn from(u: &'a StepUpdate) -> StepRow<'a> {
        StepRow {
            idx: u.step,
            status: u.status.as_str(),
            attempts: u.attempts,
            output: u.output.as_ref(),
            error: u.error.as_deref(),
            started: u.started,
            finished: u.finished,
        }
    }
}

#[derive(Serialize)]
struct ApprovalRow<'a> {
    decision: &'a Decision,
    by: &'a str,
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct AuditRow<'a> {
    actor: &'a str,
    action: &'a str,
    detail: &'a str,
}

#[derive(Serialize)]
struct OutboxRow<'a> {
    channel: &'a str,
    thread: Option<&'a str>,
    message: &'a Message,
}

fn outbox_rows(messages: &[(Destination, Message)]) -> Vec<OutboxRow<'_>> {
    messages
        .iter()
        .map(|(d, m)| OutboxRow {
            channel: &d.channel,
            thread: d.thread.as_deref(),
            message: m,
        })
        .collect()
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serialising our own plain data types to JSON cannot fail (no maps with
    // non-string keys, no custom serialisers that error).
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn workflow_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<WorkflowRecord, StoreError> {
    let raw: i64 = row.get("id");
    let shown = format!("wf-{raw}");
    let corrupt = |what: &'static str, detail: String| StoreError::Corrupt {
        what,
        id: shown.clone(),
        detail,
    };
    let id = WorkflowId::new(raw).ok_or_else(|| corrupt("workflow id", "not positive".into()))?;
    let definition: String = row.get("definition");
    let state: String = row.get("state");
    Ok(WorkflowRecord {
        id,
        definition: serde_json::from_str(&definition)
            .map_err(|e| corrupt("definition", e.to_string()))?,
        state: serde_json::from_str(&state).map_err(|e| corrupt("state", e.to_string()))?,
        requester: UserId::new(row.get::<String, _>("requester")),
        channel: row.get("channel"),
        request_text: row.get("request_text"),
        version: row.get("version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        batch: match (
            row.get::<Option<i64>, _>("batch_id"),
            row.get::<Option<i64>, _>("batch_line"),
        ) {
            (None, _) => None,
            (Some(batch), line) => Some(BatchRow {
                batch: BatchId::new(batch)
                    .ok_or_else(|| corrupt("batch id", "not positive".into()))?,
                line: line
                    .and_then(|l| u32::try_from(l).ok())
                    .ok_or_else(|| corrupt("batch line", format!("{line:?}")))?,
            }),
        },
    })
}

fn resource_record(r: &sqlx::sqlite::SqliteRow) -> Result<ResourceRecord, StoreError> {
    let raw: i64 = r.get("workflow_id");
    let workflow = WorkflowId::new(raw).ok_or_else(|| StoreError::Corrupt {
        what: "provisioned resource's workflow",
        id: raw.to_string(),
        detail: "not a workflow id".into(),
    })?;
    let change: String = r.get("change");
    Ok(ResourceRecord {
        workflow,
        idempotency_key: r.get("idempotency_key"),
        provider: r.get("provider"),
        resource_id: ResourceId::new(r.get::<String, _>("resource_id")),
        change: serde_json::from_str(&change).map_err(|e| StoreError::Corrupt {
            what: "provisioned change",
            id: workflow.to_string(),
            detail: e.to_string(),
        })?,
        status: r.get("status"),
    })
}
