//! The store's single writer: one task owns the one connection that changes
//! data and commits writes in groups. Every caller's write waits in a bounded
//! queue; the writer takes whatever is queued (up to `MAX_BATCH`), runs it in
//! one transaction and answers each caller only after COMMIT, so an answer
//! still means "durable". One WAL commit then serves many workflows instead of
//! one each, and writers never meet in SQLite's busy handler (which sleeps in
//! milliseconds).
//!
//! A write is a single statement, so a failing one is undone by SQLite on its
//! own and the rest of the group still commits; the one write made of several
//! statements (downsampling) wraps them in a savepoint for the same effect.

use super::prober::{db_ms as ms, PathHealthRow, SampleRow, SwitchRow};
use crate::usage::UsageRow;
use sqlx::sqlite::SqliteConnection;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

/// Rows per multi-row INSERT (well under SQLite's bound-variable limit).
const ROWS_PER_INSERT: usize = 500;

/// Most writes committed together.
const MAX_BATCH: usize = 128;
/// Writes waiting for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 1024;

/// One write, with everything it binds owned.
#[derive(Debug)]
pub(super) enum Write {
    CreateWorkflow {
        definition_name: String,
        definition_version: u32,
        definition: String,
        state: String,
        status: &'static str,
        requester: String,
        channel: String,
        request_text: String,
        /// The batch and line of the file, for a bulk request's row.
        batch: Option<(i64, i64)>,
        now: String,
        effects: String,
    },
    Transition {
        id: i64,
        version: i64,
        state: String,
        status: &'static str,
        current_step: i64,
        deadline: Option<String>,
        request_text: String,
        now: String,
        effects: String,
    },
    Audit {
        workflow: Option<i64>,
        at: String,
        actor: String,
        action: String,
        detail: String,
    },
    RecordResource {
        workflow: i64,
        step: String,
        idempotency_key: String,
        provider: String,
        resource: String,
        change: String,
        at: String,
    },
    MarkReverted {
        idempotency_key: String,
        at: String,
    },
    MarkDelivered {
        outbox_id: i64,
        at: String,
    },
    /// Delivered to a chat platform, which gave it `ts`; the
    /// `outbox_delivered_on_platform` trigger (migrations/0005) records the
    /// thread root and the approval card in the same statement.
    MarkDeliveredOn {
        outbox_id: i64,
        at: String,
        platform: String,
        ts: String,
    },
    /// A delivery attempt failed; the message stays pending.
    OutboxFailed {
        outbox_id: i64,
        error: String,
    },
    /// The approval card was updated to show the decision.
    CloseCard {
        platform: String,
        channel: String,
        thread_key: String,
    },
    SavePairState {
        pair_id: String,
        state: String,
        at: i64,
    },
    SavePathHealth(Vec<PathHealthRow>),
    RecordSwitch(SwitchRow),
    InsertSamples(Vec<SampleRow>),
    /// Several statements, kept whole by a savepoint.
    Downsample {
        raw_before: i64,
        minutes_before: i64,
    },
    SetPin {
        pair_id: String,
        role: Option<String>,
        by: String,
        at: i64,
    },
    /// Drains a connection until `until` (replacing a drain it had).
    SetDrain {
        connection: String,
        until: i64,
        reason: String,
        by: String,
        at: i64,
    },
    /// Ends a connection's drain, if it has one.
    ClearDrain {
        connection: String,
    },
    SaveSnapshot {
        taken_at: String,
        status: &'static str,
        networks: i64,
        connections: i64,
        topology: String,
    },
    /// Usage rows, replacing any for the same day and connection.
    UpsertUsage {
        rows: Vec<UsageRow>,
        source: String,
    },
    /// A prediction condition; its trigger queues the alert (migrations/0008).
    RaiseCondition {
        subject: String,
        condition: String,
        at: String,
        channel: String,
        alert: String,
        all_clear: String,
    },
    /// Its trigger queues the all-clear.
    ClearCondition {
        subject: String,
        condition: String,
    },
    /// A message outside any workflow transition (an alert).
    Post {
        channel: String,
        thread: Option<String>,
        message: String,
        at: String,
        /// Queued at most once under this key (a second post is a no-op).
        once_key: Option<String>,
    },
    CreateBatch {
        requester: String,
        channel: String,
        source: String,
        rows_total: i64,
        rows: String,
        at: String,
    },
    RefuseBatchLine {
        batch: i64,
        line: i64,
        request_text: String,
        error: String,
    },
    /// One language-model call (or one refused before it was made).
    RecordLlmCall(super::llm::LlmCallRow),
}

/// What a write reports: the new row's id, or how many rows it changed
/// (trigger writes not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    Inserted(i64),
    Rows(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("the transaction failed: {0}")]
    Transaction(String),
    #[error("the store's writer has stopped")]
    Stopped,
}

type Reply = oneshot::Sender<Result<Written, WriteError>>;

#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<(Write, Reply)>,
}

impl Writer {
    /// Starts the writer task on `conn`. It ends when every `Writer` clone is
    /// dropped, after finishing what is queued.
    pub(super) fn start(conn: SqliteConnection) -> Writer {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(conn, rx));
        Writer { queue }
    }

    pub(super) async fn write(&self, write: Write) -> Result<Written, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((write, reply))
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<(Write, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&mut conn, &mut batch).await;
    }
}

async fn commit_batch(conn: &mut SqliteConnection, batch: &mut Vec<(Write, Reply)>) {
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        let reason = e.to_string();
        for (_, reply) in batch.drain(..) {
            let _ = reply.send(Err(WriteError::Transaction(reason.clone())));
        }
        return;
    }
    let mut done = Vec::with_capacity(batch.len());
    for (write, reply) in batch.drain(..) {
        let result = execute(conn, &write).await;
        done.push((result, reply));
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => {
            for (result, reply) in done {
                let _ = reply.send(result.map_err(WriteError::from));
            }
        }
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            let reason = e.to_string();
            for (_, reply) in done {
                let _ = reply.send(Err(WriteError::Transaction(reason.clone())));
            }
        }
    }
}

async fn execute(conn: &mut SqliteConnection, write: &Write) -> Result<Written, sqlx::Error> {
    let rows = |r: sqlx::sqlite::SqliteQueryResult| Written::Rows(r.rows_affected());
    match write {
        Write::CreateWorkflow {
            definition_name,
            definition_version,
            definition,
            state,
            status,
            requester,
            channel,
            request_text,
            batch,
            now,
            effects,
        } => {
            let row = sqlx::query(
                "INSERT INTO workflows (definition_name, definition_version, definition, state, status, current_step, \
                 deadline, requester, channel, request_text, version, created_at, updated_at, last_transition, \
                 batch_id, batch_line) \
                 VALUES (?, ?, ?, ?, ?, 0, NULL, ?, ?, ?, 0, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(definition_name)
            .bind(definition_version)
            .bind(definition)
            .bind(state)
            .bind(status)
            .bind(requester)
            .bind(channel)
            .bind(request_text)
            .bind(now)
            .bind(now)
            .bind(effects)
            .bind(batch.map(|b| b.0))
            .bind(batch.map(|b| b.1))
            .fetch_one(&mut *conn)
            .await?;
            Ok(Written::Inserted(row.get(0)))
        }
        Write::Transition {
            id,
            version,
            state,
            status,
            current_step,
            deadline,
            request_text,
            now,
            effects,
        } => sqlx::query(
            "UPDATE workflows SET state = ?, status = ?, current_step = ?, deadline = ?, request_text = ?, \
             version = version + 1, updated_at = ?, last_transition = ? WHERE id = ? AND version = ?",
        )
        .bind(state)
        .bind(status)
        .bind(current_step)
        .bind(deadline)
        .bind(request_text)
        .bind(now)
        .bind(effects)
        .bind(id)
        .bind(version)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::Audit {
            workflow,
            at,
            actor,
            action,
            detail,
        } => sqlx::query(
            "INSERT INTO audit_events (workflow_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(workflow)
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(detail)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::RecordResource {
            workflow,
            step,
            idempotency_key,
            provider,
            resource,
            change,
            at,
        } => sqlx::query(
            "INSERT INTO provisioned_resources (workflow_id, step, idempotency_key, provider, resource_id, change, status, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'active', ?) ON CONFLICT(idempotency_key) DO NOTHING",
        )
        .bind(workflow)
        .bind(step)
        .bind(idempotency_key)
        .bind(provider)
        .bind(resource)
        .bind(change)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::MarkReverted {
            idempotency_key,
            at,
        } => sqlx::query(
            "UPDATE provisioned_resources SET status = 'reverted', reverted_at = ? WHERE idempotency_key = ?",
        )
        .bind(at)
        .bind(idempotency_key)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::SavePairState { pair_id, state, at } => sqlx::query(
            "INSERT INTO path_state (pair_id, state, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT(pair_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(pair_id)
        .bind(state)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::SavePathHealth(health) => save_health(conn, health).await,
        Write::RecordSwitch(s) => sqlx::query(
            "INSERT INTO failover_events (pair_id, from_path, to_path, cause, detected_at, decided_at, applied_at, \
             dry_run, change, resource_id, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.pair_id)
        .bind(&s.from_path)
        .bind(&s.to_path)
        .bind(&s.cause)
        .bind(ms(s.detected_at))
        .bind(ms(s.decided_at))
        .bind(s.applied_at.map(ms))
        .bind(s.dry_run)
        .bind(s.change.as_ref().map(|c| c.to_string()))
        .bind(&s.resource_id)
        .bind(&s.error)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::InsertSamples(samples) => insert_samples(conn, samples).await,
        Write::Downsample {
            raw_before,
            minutes_before,
        } => {
            sqlx::query("SAVEPOINT downsample").execute(&mut *conn).await?;
            let result = downsample(conn, *raw_before, *minutes_before).await;
            if result.is_err() {
                sqlx::query("ROLLBACK TO downsample").execute(&mut *conn).await?;
            }
            sqlx::query("RELEASE downsample").execute(&mut *conn).await?;
            result
        }
        Write::SetPin {
            pair_id,
            role,
            by,
            at,
        } => sqlx::query(
            "INSERT INTO path_pins (pair_id, role, by_user, at) VALUES (?, ?, ?, ?) \
             ON CONFLICT(pair_id) DO UPDATE SET role = excluded.role, by_user = excluded.by_user, at = excluded.at",
        )
        .bind(pair_id)
        .bind(role)
        .bind(by)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::SetDrain {
            connection,
            until,
            reason,
            by,
            at,
        } => sqlx::query(
            "INSERT INTO connection_drains (connection_id, until_ms, reason, by_user, at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT(connection_id) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason, \
             by_user = excluded.by_user, at = excluded.at",
        )
        .bind(connection)
        .bind(until)
        .bind(reason)
        .bind(by)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::ClearDrain { connection } => {
            sqlx::query("DELETE FROM connection_drains WHERE connection_id = ?")
                .bind(connection)
                .execute(&mut *conn)
                .await
                .map(rows)
        }
        Write::SaveSnapshot {
            taken_at,
            status,
            networks,
            connections,
            topology,
        } => {
            let row = sqlx::query(
                "INSERT INTO topology_snapshots (taken_at, status, networks, connections, topology) \
                 VALUES (?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(taken_at)
            .bind(status)
            .bind(networks)
            .bind(connections)
            .bind(topology)
            .fetch_one(&mut *conn)
            .await?;
            Ok(Written::Inserted(row.get(0)))
        }
        Write::Post {
            channel,
            thread,
            message,
            at,
            once_key,
        } => sqlx::query(
            "INSERT OR IGNORE INTO outbox (channel, thread, message, created_at, once_key) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(channel)
        .bind(thread)
        .bind(message)
        .bind(at)
        .bind(once_key)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::CreateBatch {
            requester,
            channel,
            source,
            rows_total,
            rows,
            at,
        } => {
            let row = sqlx::query(
                "INSERT INTO batches (requester, channel, source, rows_total, rows, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(requester)
            .bind(channel)
            .bind(source)
            .bind(rows_total)
            .bind(rows)
            .bind(at)
            .fetch_one(&mut *conn)
            .await?;
            Ok(Written::Inserted(row.get(0)))
        }
        Write::RefuseBatchLine {
            batch,
            line,
            request_text,
            error,
        } => sqlx::query(
            "INSERT OR REPLACE INTO batch_refusals (batch_id, line, request_text, error) VALUES (?, ?, ?, ?)",
        )
        .bind(batch)
        .bind(line)
        .bind(request_text)
        .bind(error)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::RecordLlmCall(c) => {
            let row = sqlx::query(
                "INSERT INTO llm_calls (at, prompt, prompt_version, content_hash, model, input_tokens, output_tokens, \
                 latency_ms, outcome, error, workflow_id, step, prompt_text, answer_text) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&c.at)
            .bind(&c.prompt)
            .bind(c.version)
            .bind(&c.content_hash)
            .bind(&c.model)
            .bind(c.input_tokens)
            .bind(c.output_tokens)
            .bind(c.latency_ms)
            .bind(c.outcome.as_str())
            .bind(&c.error)
            .bind(c.workflow)
            .bind(&c.step)
            .bind(&c.prompt_text)
            .bind(&c.answer_text)
            .fetch_one(&mut *conn)
            .await?;
            Ok(Written::Inserted(row.get(0)))
        }
        Write::MarkDeliveredOn {
            outbox_id,
            at,
            platform,
            ts,
        } => sqlx::query(
            "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, platform = ?, platform_ts = ? \
             WHERE id = ? AND delivered_at IS NULL",
        )
        .bind(at)
        .bind(platform)
        .bind(ts)
        .bind(outbox_id)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::OutboxFailed { outbox_id, error } => {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?")
                .bind(error)
                .bind(outbox_id)
                .execute(&mut *conn)
                .await
                .map(rows)
        }
        Write::CloseCard {
            platform,
            channel,
            thread_key,
        } => sqlx::query(
            "UPDATE chat_threads SET card_closed = 1 WHERE platform = ? AND channel = ? AND thread_key = ?",
        )
        .bind(platform)
        .bind(channel)
        .bind(thread_key)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::UpsertUsage { rows, source } => upsert_usage(conn, rows, source).await,
        Write::RaiseCondition {
            subject,
            condition,
            at,
            channel,
            alert,
            all_clear,
        } => sqlx::query(
            "INSERT INTO forecast_conditions (subject, condition, raised_at, channel, alert, all_clear) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(subject, condition) DO NOTHING",
        )
        .bind(subject)
        .bind(condition)
        .bind(at)
        .bind(channel)
        .bind(alert)
        .bind(all_clear)
        .execute(&mut *conn)
        .await
        .map(rows),
        Write::ClearCondition { subject, condition } => {
            sqlx::query("DELETE FROM forecast_conditions WHERE subject = ? AND condition = ?")
                .bind(subject)
                .bind(condition)
                .execute(&mut *conn)
                .await
                .map(rows)
        }
        Write::MarkDelivered { outbox_id, at } => {
            sqlx::query("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?")
                .bind(at)
                .bind(outbox_id)
                .execute(&mut *conn)
                .await
                .map(rows)
        }
    }
}

async fn downsample(
    conn: &mut SqliteConnection,
    raw_before: i64,
    minutes_before: i64,
) -> Result<Written, sqlx::Error> {
    let folded = sqlx::query(
        "INSERT INTO probe_minutes (path_id, minute, sent, lost, rtt_sum, rtt_max) \
         SELECT path_id, (at / 60000) * 60000, COUNT(*), SUM(rtt_ms IS NULL), COALESCE(SUM(rtt_ms), 0), MAX(rtt_ms) \
         FROM probe_samples WHERE at < ? GROUP BY path_id, at / 60000 \
         ON CONFLICT(path_id, minute) DO UPDATE SET sent = sent + excluded.sent, lost = lost + excluded.lost, \
         rtt_sum = rtt_sum + excluded.rtt_sum, rtt_max = MAX(COALESCE(rtt_max, excluded.rtt_max), COALESCE(excluded.rtt_max, rtt_max))",
    )
    .bind(raw_before)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM probe_samples WHERE at < ?")
        .bind(raw_before)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM probe_minutes WHERE minute < ?")
        .bind(minutes_before)
        .execute(&mut *conn)
        .await?;
    Ok(Written::Rows(folded))
}

async fn save_health(
    conn: &mut SqliteConnection,
    health: &[PathHealthRow],
) -> Result<Written, sqlx::Error> {
    let mut changed = 0;
    for chunk in health.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO path_health (path_id, pair_id, role, connection_id, state, health, avg_rtt_ms, \
             p99_rtt_ms, loss_percent, consecutive_failures, last_change_at, updated_at) ",
        );
        insert.push_values(chunk, |mut row, h| {
            row.push_bind(h.path_id.clone())
                .push_bind(h.pair_id.clone())
                .push_bind(h.role.clone())
                .push_bind(h.connection_id.clone())
                .push_bind(h.state.clone())
                .push_bind(h.health.to_string())
                .push_bind(h.avg_rtt_ms)
                .push_bind(h.p99_rtt_ms)
                .push_bind(h.loss_percent)
                .push_bind(i64::from(h.consecutive_failures))
                .push_bind(h.last_change_at.map(ms))
                .push_bind(ms(h.updated_at));
        });
        insert.push(
            " ON CONFLICT(path_id) DO UPDATE SET pair_id = excluded.pair_id, role = excluded.role, \
             connection_id = excluded.connection_id, state = excluded.state, health = excluded.health, \
             avg_rtt_ms = excluded.avg_rtt_ms, p99_rtt_ms = excluded.p99_rtt_ms, \
             loss_percent = excluded.loss_percent, consecutive_failures = excluded.consecutive_failures, \
             last_change_at = excluded.last_change_at, updated_at = excluded.updated_at",
        );
        let query = insert.build();
        changed += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(Written::Rows(changed))
}

async fn insert_samples(
    conn: &mut SqliteConnection,
    samples: &[SampleRow],
) -> Result<Written, sqlx::Error> {
    let mut inserted = 0;
    for chunk in samples.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO probe_samples (path_id, at, rtt_ms, failure) ",
        );
        insert.push_values(chunk, |mut row, s| {
            row.push_bind(s.path_id.clone())
                .push_bind(ms(s.at))
                .push_bind(s.rtt_ms)
                .push_bind(s.failure.clone());
        });
        let query = insert.build();
        inserted += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(Written::Rows(inserted))
}

async fn upsert_usage(
    conn: &mut SqliteConnection,
    usage: &[UsageRow],
    source: &str,
) -> Result<Written, sqlx::Error> {
    let mut written = 0;
    for chunk in usage.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO usage_daily (day, connection_id, cloud, path_kind, gigabytes, peak_gbps, source) ",
        );
        insert.push_values(chunk, |mut row, u| {
            row.push_bind(u.day.format("%Y-%m-%d").to_string())
                .push_bind(u.connection.as_str().to_string())
                .push_bind(u.cloud.as_str())
                .push_bind(u.kind.as_str())
                .push_bind(u.gigabytes.0)
                .push_bind(u.peak_gbps.map(|p| p.0))
                .push_bind(source.to_string());
        });
        insert.push(
            " ON CONFLICT(day, connection_id) DO UPDATE SET cloud = excluded.cloud, \
             path_kind = excluded.path_kind, gigabytes = excluded.gigabytes, \
             peak_gbps = excluded.peak_gbps, source = excluded.source",
        );
        written += insert.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(Written::Rows(written))
}
