//! The runner: bounded tokio workers that drive runnable workflows step by step,
//! a timer that wakes workflows whose deadline passed (expiry, retry backoff),
//! and the commands people send (approve, reject, answer, cancel). Every change
//! goes through the pure machine and commits in one guarded transaction before
//! anything else happens, so a crash at any point resumes cleanly: on start the
//! runner re-runs the step each running workflow was on (steps are idempotent)
//! and re-arms every deadline from the database.
//!
//! One engine per database: two processes running workflows on one SQLite file
//! would both resume the same workflow. Commands and read-only CLI calls from
//! other processes are fine.

use super::definition::{Action, Definition};
use super::machine::{self, Context, Event, Refusal, StepResult, Timestamp, WorkflowState};
use super::notify;
use super::steps::{self, StepEnv};
use crate::chat::message::{Destination, Message};
use crate::domain::{UserId, WorkflowId};
use crate::intent::{parse_request, ParseError, MAX_REQUEST_BYTES};
use crate::store::{BatchRow, Commit, StepRecord, Store, StoreError, WorkflowRecord};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

/// Most commands retry a guarded commit this often before giving up.
const MAX_COMMIT_RACES: usize = 8;
const QUEUE_DEPTH: usize = 4096;
/// The timer looks at the database at least this often even if nobody woke it.
const TIMER_SWEEP: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("there is no workflow {0}")]
    NotFound(WorkflowId),
    #[error("{0}: {1}")]
    Refused(WorkflowId, Refusal),
    #[error("{0} kept changing under this command; try again")]
    Busy(WorkflowId),
    #[error("I could not read that as a connectivity request: {0}")]
    NotUnderstood(ParseError),
    #[error("I could not use that answer for {0}: {1}")]
    BadAnswer(WorkflowId, ParseError),
}

pub struct EngineSettings {
    pub definition: Definition,
    pub approvers: Vec<String>,
    /// Overrides how long approvals and clarifications may wait.
    pub wait_timeout: Option<Duration>,
    pub workers: usize,
}

struct Inner {
    store: Store,
    env: StepEnv,
    settings: EngineSettings,
    queue_tx: mpsc::Sender<WorkflowId>,
    queue_rx: tokio::sync::Mutex<mpsc::Receiver<WorkflowId>>,
    /// Workflows a worker is on; `true` when someone asked for another pass.
    in_flight: Mutex<HashMap<WorkflowId, bool>>,
    changed: watch::Sender<u64>,
    deadline_set: Notify,
    transitions: AtomicU64,
    /// Members of approver entries that are groups (Slack user groups), as a
    /// chat adapter last read them.
    group_members: std::sync::RwLock<HashMap<String, Vec<String>>>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

fn now() -> Timestamp {
    Utc::now()
}

impl Engine {
    pub fn new(store: Store, env: StepEnv, settings: EngineSettings) -> Engine {
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE_DEPTH);
        let (changed, _) = watch::channel(0);
        Engine {
            inner: Arc::new(Inner {
                store,
                env,
                settings,
                queue_tx,
                queue_rx: tokio::sync::Mutex::new(queue_rx),
                in_flight: Mutex::new(HashMap::new()),
                changed,
                deadline_set: Notify::new(),
                transitions: AtomicU64::new(0),
                group_members: std::sync::RwLock::new(HashMap::new()),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// An approver is listed by id, or is a member of a listed group.
    pub fn is_approver(&self, user: &UserId) -> bool {
        let groups = self
            .inner
            .group_members
            .read()
            .unwrap_or_else(|p| p.into_inner());
        self.inner.settings.approvers.iter().any(|a| {
            a == user.as_str()
                || groups
                    .get(a)
                    .is_some_and(|members| members.iter().any(|m| m == user.as_str()))
        })
    }

    /// The approver entries (user ids, names or group ids) from the config.
    pub fn approvers(&self) -> &[String] {
        &self.inner.settings.approvers
    }

    /// Sets who is in an approver group (a chat adapter reads the platform's
    /// groups and keeps this fresh).
    pub fn set_group_members(&self, group: &str, members: Vec<String>) {
        self.inner
            .group_members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group.to_string(), members);
    }

    /// Committed transitions since start (for benchmarks).
    /// Ticks whenever a workflow is created or moves.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    pub fn transitions(&self) -> u64 {
        self.inner.transitions.load(Ordering::Relaxed)
    }

    /// Starts the workers and the timer, after resuming what a previous run left
    /// running. Returns when `cancel` fires and every task has stopped.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), EngineError> {
        let resumed = self.recover().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed interrupted workflows");
        }
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..self.inner.settings.workers.max(1) {
            let engine = self.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move { engine.worker(worker, cancel).await });
        }
        let engine = self.clone();
        let timer_cancel = cancel.clone();
        tasks.spawn(async move { engine.timer(timer_cancel).await });
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "engine task ended abnormally");
            }
        }
        Ok(())
    }

    /// Marks workflows interrupted mid-step as resumed and queues everything runnable.
    async fn recover(&self) -> Result<usize, EngineError> {
        let ids = self.inner.store.runnable().await?;
        for id in &ids {
            if let Some(record) = self.inner.store.load(*id).await? {
                let interrupted = matches!(
                    record.state,
                    WorkflowState::Running {
                        not_before: None,
                        ..
                    }
                );
                if interrupted {
                    self.command(*id, |_| Event::Resumed, None).await?;
                }
            }
            self.enqueue(*id).await;
        }
        for id in self.inner.store.due(now()).await? {
            self.enqueue(id).await;
        }
        Ok(ids.len())
    }

    /// The in-flight map; a worker that panicked while holding it left the map
    /// consistent (every update is a single insert/remove), so poisoning is ignored.
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<WorkflowId, bool>> {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    async fn enqueue(&self, id: WorkflowId) {
        {
            let mut in_flight = self.in_flight();
            if let Some(again) = in_flight.get_mut(&id) {
                *again = true;
                return;
            }
        }
        // Bounded: a full queue makes the sender wait rather than drop work.
        if self.inner.queue_tx.send(id).await.is_err() {
            tracing::warn!(%id, "engine queue closed; the workflow resumes at next start");
        }
    }

    fn claim(&self, id: WorkflowId) -> bool {
        let mut in_flight = self.in_flight();
        if let Some(again) = in_flight.get_mut(&id) {
            *again = true;
            false
        } else {
            in_flight.insert(id, false);
            true
        }
    }

    /// Releases a claim unless someone asked for another pass meanwhile.
    fn release(&self, id: WorkflowId) -> bool {
        let mut in_flight = self.in_flight();
        match in_flight.get_mut(&id) {
            Some(again) if *again => {
                *again = false;
                false
            }
            _ => {
                in_flight.remove(&id);
                true
            }
        }
    }

    async fn worker(&self, worker: usize, cancel: CancellationToken) {
        loop {
            let next = {
                let mut rx = self.inner.queue_rx.lock().await;
                tokio::select! {
                    id = rx.recv() => id,
                    _ = cancel.cancelled() => None,
                }
            };
            let Some(id) = next else { break };
            if !self.claim(id) {
                continue;
            }
            loop {
                if let Err(e) = self.drive(id, &cancel).await {
                    tracing::error!(worker, %id, error = %e, "workflow step could not be committed; it resumes at next start");
                }
                if self.release(id) {
                    break;
                }
            }
        }
    }

    async fn timer(&self, cancel: CancellationToken) {
        loop {
            let wait = match self.inner.store.next_deadline().await {
                Ok(Some(at)) => (at - now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(TIMER_SWEEP),
                Ok(None) => TIMER_SWEEP,
                Err(e) => {
                    tracing::warn!(error = %e, "timer could not read deadlines");
                    TIMER_SWEEP
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.inner.deadline_set.notified() => continue,
                _ = cancel.cancelled() => break,
            }
            match self.inner.store.due(now()).await {
                Ok(ids) => {
                    for id in ids {
                        self.enqueue(id).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "timer could not read due workflows"),
            }
        }
    }

    /// Moves one workflow as far as it can go without a person. After each
    /// commit it goes on from the committed copy in memory; it reads the
    /// database again only when another writer got there first.
    async fn drive(&self, id: WorkflowId, cancel: &CancellationToken) -> Result<(), EngineError> {
        let mut loaded: Option<(WorkflowRecord, Vec<StepRecord>)> = None;
        loop {
            if cancel.is_cancelled() {
                return Ok(());
            }
            let (record, steps) = match &mut loaded {
                Some(current) => current,
                None => match self.inner.store.load_full(id).await? {
                    Some(full) => loaded.insert(full),
                    None => return Ok(()),
                },
            };
            let event = match &record.state {
                WorkflowState::Running {
                    step, not_before, ..
                } => {
                    if not_before.is_some_and(|t| t > now()) {
                        return Ok(());
                    }
                    let Some(step_def) = record.definition.steps.get(*step) else {
                        return Err(StoreError::Corrupt {
                            what: "current step",
                            id: id.to_string(),
                            detail: format!("step {step} is not in the definition"),
                        }
                        .into());
                    };
                    let span = tracing::info_span!("step", workflow = %id, step = %step_def.name);
                    let _entered = span.enter();
                    let result = match tokio::time::timeout(
                        step_def.timeout,
                        steps::run(&self.inner.env, record, steps, step_def),
                    )
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => StepResult::Failed {
                            error: format!("timed out after {:?}", step_def.timeout),
                            retryable: true,
                        },
                    };
                    Event::StepFinished {
                        step: *step,
                        result,
                    }
                }
                WorkflowState::RollingBack { .. } => self.roll_back(id).await?,
                WorkflowState::WaitingApproval { deadline, .. }
                | WorkflowState::WaitingClarification { deadline, .. }
                    if *deadline <= now() =>
                {
                    Event::Tick
                }
                _ => return Ok(()),
            };
            match self.commit(record, steps, event, None).await? {
                Ok(Commit::Done { .. }) => {}
                // Someone moved the workflow meanwhile (a cancel, say): read it
                // again and decide afresh; the stale result is dropped.
                Ok(Commit::Conflict) | Err(Refusal::Stale(_)) => loaded = None,
                Err(refusal) => return Err(EngineError::Refused(id, refusal)),
            }
        }
    }

    /// Reverts every active resource of the workflow, newest first.
    async fn roll_back(&self, id: WorkflowId) -> Result<Event, EngineError> {
        let resources = self.inner.store.resources(id, true).await?;
        let mut reverted = 0;
        let mut errors = Vec::new();
        for r in resources.iter().rev() {
            match self.inner.env.provider.revert(&r.resource_id).await {
                Ok(()) => {
                    self.inner.store.mark_reverted(&r.idempotency_key).await?;
                    reverted += 1;
                }
                Err(e) => errors.push(format!("{} ({}): {e}", r.resource_id, r.change)),
            }
        }
        Ok(Event::RollbackFinished { reverted, errors })
    }

    fn wait_timeout(&self, def: &Definition) -> Duration {
        self.inner.settings.wait_timeout.unwrap_or_else(|| {
            def.step_index(Action::Approval)
                .map(|i| def.steps[i].timeout)
                .unwrap_or(Duration::from_secs(24 * 3600))
        })
    }

    /// Runs the machine and commits its transition with the rendered notices.
    async fn commit(
        &self,
        record: &mut WorkflowRecord,
        steps: &mut [StepRecord],
        event: Event,
        answer: Option<&str>,
    ) -> Result<Result<Commit, Refusal>, EngineError> {
        let ctx = Context {
            definition: &record.definition,
            requester: &record.requester,
            now: now(),
            wait_timeout: self.wait_timeout(&record.definition),
        };
        let transition = match machine::apply(&record.state, event, &ctx) {
            Ok(t) => t,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let to = notify::destination(record);
        let messages: Vec<(Destination, Message)> = match record.batch {
            Some(_) => vec![],
            None => transition
                .notices
                .iter()
                .map(|n| (to.clone(), notify::render(record, steps, n)))
                .collect(),
        };
        let outcome = self
            .inner
            .store
            .commit(record, steps, &transition, &messages, answer)
            .await?;
        if let Commit::Done { .. } = outcome {
            self.inner.transitions.fetch_add(1, Ordering::Relaxed);
            if transition.next.deadline().is_some() {
                self.inner.deadline_set.notify_one();
            }
            self.inner.changed.send_modify(|v| *v += 1);
        }
        Ok(Ok(outcome))
    }

    /// Applies a person's command, retrying when a worker moved the workflow
    /// first, and queues the workflow if it can move on.
    async fn command(
        &self,
        id: WorkflowId,
        event: impl Fn(&WorkflowRecord) -> Event,
        answer: Option<&str>,
    ) -> Result<(), EngineError> {
        for _ in 0..MAX_COMMIT_RACES {
            let (mut record, mut steps) = self
                .inner
                .store
                .load_full(id)
                .await?
                .ok_or(EngineError::NotFound(id))?;
            let event = event(&record);
            match self.commit(&mut record, &mut steps, event, answer).await? {
                Ok(Commit::Done { .. }) => {
                    self.enqueue(id).await;
                    return Ok(());
                }
                Ok(Commit::Conflict) => continue,
                Err(refusal) => return Err(EngineError::Refused(id, refusal)),
            }
        }
        Err(EngineError::Busy(id))
    }

    /// Starts a workflow for a request. Text that is not a connectivity request
    /// at all is refused here and no workflow is created.
    pub async fn submit(
        &self,
        requester: &UserId,
        channel: &str,
        text: &str,
    ) -> Result<WorkflowId, EngineError> {
        self.start(requester, channel, text, None).await
    }

    /// Starts the workflow for one row of a bulk request. It posts nothing of
    /// its own: the batch's card and summary speak for it.
    pub async fn submit_batch_row(
        &self,
        requester: &UserId,
        channel: &str,
        text: &str,
        row: BatchRow,
    ) -> Result<WorkflowId, EngineError> {
        self.start(requester, channel, text, Some(row)).await
    }

    async fn start(
        &self,
        requester: &UserId,
        channel: &str,
        text: &str,
        batch: Option<BatchRow>,
    ) -> Result<WorkflowId, EngineError> {
        let text = text.trim();
        if let Err(e) = parse_request(text) {
            return Err(EngineError::NotUnderstood(e));
        }
        let def = &self.inner.settings.definition;
        let id = self
            .inner
            .store
            .create_workflow(def, requester, channel, text, batch)
            .await?;
        self.inner.changed.send_modify(|v| *v += 1);
        self.enqueue(id).await;
        Ok(id)
    }

    pub async fn approve(&self, id: WorkflowId, by: &UserId) -> Result<(), EngineError> {
        self.decide(id, by, "approve", |is_approver| Event::Approve {
            by: by.clone(),
            is_approver,
        })
        .await
    }

    pub async fn reject(
        &self,
        id: WorkflowId,
        by: &UserId,
        reason: &str,
    ) -> Result<(), EngineError> {
        self.decide(id, by, "reject", |is_approver| Event::Reject {
            by: by.clone(),
            is_approver,
            reason: reason.to_string(),
        })
        .await
    }

    pub async fn cancel(&self, id: WorkflowId, by: &UserId) -> Result<(), EngineError> {
        self.decide(id, by, "cancel", |is_approver| Event::Cancel {
            by: by.clone(),
            is_approver,
        })
        .await
    }

    /// A command whose right depends on being an approver; a refusal leaves an
    /// audit event (`<what>.refused`).
    async fn decide(
        &self,
        id: WorkflowId,
        by: &UserId,
        what: &str,
        event: impl Fn(bool) -> Event,
    ) -> Result<(), EngineError> {
        let is_approver = self.is_approver(by);
        let result = self.command(id, |_| event(is_approver), None).await;
        if let Err(EngineError::Refused(_, refusal)) = &result {
            let action = format!("{what}.refused");
            if let Err(e) = self
                .inner
                .store
                .audit(Some(id), by.as_str(), &action, &refusal.to_string())
                .await
            {
                tracing::warn!(error = %e, "could not record a refused command");
            }
        }
        result
    }

    /// Answers a clarifying question. The answer joins the request text, so it
    /// must leave the request readable; otherwise nothing changes.
    pub async fn answer(&self, id: WorkflowId, by: &UserId, text: &str) -> Result<(), EngineError> {
        let text = text.trim();
        let record = self
            .inner
            .store
            .load(id)
            .await?
            .ok_or(EngineError::NotFound(id))?;
        let combined = steps::request_sentence(&format!("{}\n{text}", record.request_text));
        if combined.len() > MAX_REQUEST_BYTES {
            return Err(EngineError::BadAnswer(
                id,
                ParseError::TooLong {
                    len: combined.len(),
                    max: MAX_REQUEST_BYTES,
                },
            ));
        }
        if let Err(e) = parse_request(&combined) {
            return Err(EngineError::BadAnswer(id, e));
        }
        self.command(
            id,
            |_| Event::Answer {
                by: by.clone(),
                text: text.to_string(),
            },
            Some(text),
        )
        .await
    }

    /// Waits until the workflow is resting: waiting for a person, finished, or
    /// backing off for a long retry.
    pub async fn wait_resting(&self, id: WorkflowId) -> Result<(), EngineError> {
        let mut changed = self.inner.changed.subscribe();
        loop {
            match self.inner.store.load(id).await? {
                None => return Ok(()),
                Some(record) if record.state.is_resting(now()) => return Ok(()),
                Some(_) => {}
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    /// The workflow this user most recently started that waits for their answer.
    pub async fn pending_question_for(
        &self,
        user: &UserId,
    ) -> Result<Option<WorkflowId>, EngineError> {
        for summary in self.inner.store.list(50).await? {
            if summary.state == "waiting_clarification" && summary.requester == user.as_str() {
                return Ok(Some(summary.id));
            }
        }
        Ok(None)
    }

    /// Workflows a worker has not finished with, or whose deadline passed (for
    /// waiting at start).
    pub async fn unsettled(&self) -> Result<Vec<WorkflowId>, EngineError> {
        let mut ids = self.inner.store.runnable().await?;
        ids.extend(self.inner.store.due(now()).await?);
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}
