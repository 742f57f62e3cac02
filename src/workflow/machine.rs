//! The workflow state machine: pure, no IO, no clock of its own. It takes the
//! current state, the workflow's definition, an event and the time, and returns
//! the next state plus the typed effects the runner must commit together (step
//! row update, approval record, notices, audit entry). A user command that does
//! not fit the state is refused with a reason, and nothing changes.

use super::definition::{Action, Definition, OnFailure};
use crate::domain::UserId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

pub type Timestamp = DateTime<Utc>;

/// How many times a step is re-run after the process died under it before the
/// workflow gives up on it (a step that kills the process every time).
pub const MAX_RESUMES: u32 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WorkflowState {
    /// Attempt `attempt` (from 1) of `step` is due, or under way.
    Running {
        step: usize,
        attempt: u32,
        #[serde(default)]
        resumes: u32,
        /// A retry waits for its backoff.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<Timestamp>,
    },
    WaitingApproval {
        step: usize,
        deadline: Timestamp,
    },
    WaitingClarification {
        step: usize,
        question: String,
        deadline: Timestamp,
    },
    /// Reverting what this workflow created; ends in `RolledBack`, or
    /// `Cancelled` when a person cancelled.
    RollingBack {
        step: usize,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cancelled_by: Option<UserId>,
    },
    Completed,
    Failed {
        step: usize,
        reason: String,
    },
    Rejected {
        by: UserId,
        reason: String,
    },
    Expired {
        step: usize,
    },
    Cancelled {
        by: UserId,
    },
    RolledBack {
        step: usize,
        reason: String,
    },
}

impl WorkflowState {
    pub fn start() -> WorkflowState {
        WorkflowState::Running {
            step: 0,
            attempt: 1,
            resumes: 0,
            not_before: None,
        }
    }

    pub fn status(&self) -> &'static str {
        match self {
            WorkflowState::Running { .. } => "running",
            WorkflowState::WaitingApproval { .. } => "waiting_approval",
            WorkflowState::WaitingClarification { .. } => "waiting_clarification",
            WorkflowState::RollingBack { .. } => "rolling_back",
            WorkflowState::Completed => "completed",
            WorkflowState::Failed { .. } => "failed",
            WorkflowState::Rejected { .. } => "rejected",
            WorkflowState::Expired { .. } => "expired",
            WorkflowState::Cancelled { .. } => "cancelled",
            WorkflowState::RolledBack { .. } => "rolled_back",
        }
    }

    /// The step the workflow is on (the last one it reached when finished).
    pub fn current_step(&self, def: &Definition) -> usize {
        match self {
            WorkflowState::Running { step, .. }
            | WorkflowState::WaitingApproval { step, .. }
            | WorkflowState::WaitingClarification { step, .. }
            | WorkflowState::RollingBack { step, .. }
            | WorkflowState::Failed { step, .. }
            | WorkflowState::Expired { step }
            | WorkflowState::RolledBack { step, .. } => *step,
            WorkflowState::Completed
            | WorkflowState::Rejected { .. }
            | WorkflowState::Cancelled { .. } => def.steps.len().saturating_sub(1),
        }
    }

    /// When the runner must look at this workflow again without being asked.
    pub fn deadline(&self) -> Option<Timestamp> {
        match self {
            WorkflowState::Running { not_before, .. } => *not_before,
            WorkflowState::WaitingApproval { deadline, .. }
            | WorkflowState::WaitingClarification { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    /// Whether the runner has work to do on it now or later.
    pub fn is_runnable(&self) -> bool {
        matches!(
            self,
            WorkflowState::Running { .. } | WorkflowState::RollingBack { .. }
        )
    }

    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            WorkflowState::Completed
                | WorkflowState::Failed { .. }
                | WorkflowState::Rejected { .. }
                | WorkflowState::Expired { .. }
                | WorkflowState::Cancelled { .. }
                | WorkflowState::RolledBack { .. }
        )
    }

    /// Resting: nothing will happen until a person acts or a deadline passes
    /// (a wait whose deadline has passed is about to expire, so it is not resting).
    pub fn is_resting(&self, now: Timestamp) -> bool {
        match self {
            WorkflowState::Running { not_before, .. } => {
                not_before.is_some_and(|t| t > now + chrono::Duration::seconds(30))
            }
            WorkflowState::RollingBack { .. } => false,
            WorkflowState::WaitingApproval { deadline, .. }
            | WorkflowState::WaitingClarification { deadline, .. } => *deadline > now,
            _ => true,
        }
    }
}

/// What a step's action reported.
#[derive(Debug, Clone, PartialEq)]
pub enum StepResult {
    Succeeded {
        output: Value,
        summary: String,
    },
    /// The step's `when` condition did not hold.
    Skipped {
        output: Value,
        summary: String,
    },
    NeedsClarification {
        output: Value,
        question: String,
    },
    AwaitsApproval {
        output: Value,
    },
    Failed {
        error: String,
        retryable: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    StepFinished {
        step: usize,
        result: StepResult,
    },
    /// The process died while `step` was under way; the runner found it on start.
    Resumed,
    RollbackFinished {
        reverted: usize,
        errors: Vec<String>,
    },
    Approve {
        by: UserId,
        is_approver: bool,
    },
    Reject {
        by: UserId,
        is_approver: bool,
        reason: String,
    },
    Answer {
        by: UserId,
        text: String,
    },
    Cancel {
        by: UserId,
        is_approver: bool,
    },
    /// Time passed: waits past their deadline expire.
    Tick,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Waiting,
    Succeeded,
    Skipped,
    Failed,
}

impl StepStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Waiting => "waiting",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
        }
    }
}

/// A change to one row of `workflow_steps`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepUpdate {
    pub step: usize,
    pub status: StepStatus,
    pub attempts: u32,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub started: bool,
    pub finished: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    AutoApproved,
    Rejected,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRecord {
    pub decision: Decision,
    pub by: UserId,
    pub reason: Option<String>,
}

/// What the workflow's thread is told. Rendering into chat is the notifier's job.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    StepSucceeded {
        step: usize,
        summary: String,
    },
    Question {
        question: String,
    },
    ApprovalRequested,
    AutoApproved {
        summary: String,
    },
    Approved {
        by: UserId,
    },
    Rejected {
        by: UserId,
        reason: String,
    },
    Retrying {
        step: usize,
        attempt: u32,
        error: String,
        at: Timestamp,
    },
    Completed,
    Failed {
        step: usize,
        reason: String,
    },
    Expired {
        step: usize,
    },
    Cancelled {
        by: UserId,
    },
    RollingBack {
        reason: String,
    },
    RolledBack {
        reverted: usize,
        errors: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    pub actor: String,
    pub action: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub next: WorkflowState,
    pub steps: Vec<StepUpdate>,
    pub approval: Option<ApprovalRecord>,
    pub notices: Vec<Notice>,
    pub audit: Audit,
}

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("it is not waiting for approval (it is {0})")]
    NotWaitingForApproval(&'static str),
    #[error("it is not waiting for an answer (it is {0})")]
    NotWaitingForAnswer(&'static str),
    #[error("you cannot approve or reject your own request")]
    OwnRequest,
    #[error("you are not an approver")]
    NotApprover,
    #[error("only the requester can answer its questions")]
    NotRequester,
    #[error("only the requester or an approver can cancel it")]
    MayNotCancel,
    #[error("it has already finished ({0})")]
    AlreadyFinished(&'static str),
    #[error("a reason is required to reject")]
    ReasonRequired,
    #[error("that event does not apply to this workflow's current state ({0})")]
    Stale(&'static str),
}

/// What the machine needs to know besides state and event.
pub struct Context<'a> {
    pub definition: &'a Definition,
    pub requester: &'a UserId,
    pub now: Timestamp,
    /// How long an approval or clarification may wait before the workflow expires.
    pub wait_timeout: Duration,
}

fn deadline(ctx: &Context<'_>) -> Timestamp {
    ctx.now + chrono::Duration::from_std(ctx.wait_timeout).unwrap_or(chrono::Duration::days(1))
}

fn audit(actor: &str, action: &str, detail: impl Into<String>) -> Audit {
    Audit {
        actor: actor.to_string(),
        action: action.to_string(),
        detail: detail.into(),
    }
}

fn step_update(step: usize, status: StepStatus, attempts: u32) -> StepUpdate {
    StepUpdate {
        step,
        status,
        attempts,
        output: None,
        error: None,
        started: false,
        finished: false,
    }
}

/// Moves on to `step + 1`, or completes.
fn after_step(
    ctx: &Context<'_>,
    step: usize,
    mut steps: Vec<StepUpdate>,
) -> (WorkflowState, Vec<StepUpdate>, Vec<Notice>) {
    let next = step + 1;
    if next >= ctx.definition.steps.len() {
        return (WorkflowState::Completed, steps, vec![Notice::Completed]);
    }
    steps.push(StepUpdate {
        started: true,
        ..step_update(next, StepStatus::Running, 1)
    });
    (
        WorkflowState::Running {
            step: next,
            attempt: 1,
            resumes: 0,
            not_before: None,
        },
        steps,
        vec![],
    )
}

/// Whether a step at or before `step` may have created resources.
fn may_have_side_effects(def: &Definition, step: usize) -> bool {
    def.steps
        .iter()
        .take(step + 1)
        .any(|s| s.action == Action::Provision)
}

pub fn apply(
    state: &WorkflowState,
    event: Event,
    ctx: &Context<'_>,
) -> Result<Transition, Refusal> {
    let def = ctx.definition;
    let status = state.status();
    match (state, event) {
        (
            WorkflowState::Running {
                step: current,
                attempt,
                ..
            },
            Event::StepFinished { step, result },
        ) => {
            if step != *current {
                return Err(Refusal::Stale(status));
            }
            let (current, attempt) = (*current, *attempt);
            // A state naming a step the definition lacks is refused, not indexed.
            let step_def = def.steps.get(current).ok_or(Refusal::Stale(status))?;
            let name = step_def.name.clone();
            match result {
                StepResult::Succeeded { output, summary } => {
                    let done = StepUpdate {
                        output: Some(output),
                        finished: true,
                        ..step_update(current, StepStatus::Succeeded, attempt)
                    };
                    let (next, steps, mut notices) = after_step(ctx, current, vec![done]);
                    notices.insert(
                        0,
                        Notice::StepSucceeded {
                            step: current,
                            summary: summary.clone(),
                        },
                    );
                    Ok(Transition {
                        next,
                        steps,
                        approval: None,
                        notices,
                        audit: audit("switchboard", &format!("{name}.succeeded"), summary),
                    })
                }
                StepResult::Skipped { output, summary } => {
                    let done = StepUpdate {
                        output: Some(output),
                        finished: true,
                        ..step_update(current, StepStatus::Skipped, attempt)
                    };
                    let (next, steps, mut notices) = after_step(ctx, current, vec![done]);
                    let approval = (step_def.action == Action::Approval).then(|| ApprovalRecord {
                        decision: Decision::AutoApproved,
                        by: UserId::new("policy"),
                        reason: Some(summary.clone()),
                    });
                    let notice = if approval.is_some() {
                        Notice::AutoApproved {
                            summary: summary.clone(),
                        }
                    } else {
                        Notice::StepSucceeded {
                            step: current,
                            summary: summary.clone(),
                        }
                    };
                    notices.insert(0, notice);
                    Ok(Transition {
                        next,
                        steps,
                        approval,
                        notices,
                        audit: audit("policy", &format!("{name}.skipped"), summary),
                    })
                }
                StepResult::NeedsClarification { output, question } => Ok(Transition {
                    next: WorkflowState::WaitingClarification {
                        step: current,
                        question: question.clone(),
                        deadline: deadline(ctx),
                    },
                    steps: vec![StepUpdate {
                        output: Some(output),
                        ..step_update(current, StepStatus::Waiting, attempt)
                    }],
                    approval: None,
                    notices: vec![Notice::Question {
                        question: question.clone(),
                    }],
                    audit: audit("switchboard", &format!("{name}.clarification"), question),
                }),
                StepResult::AwaitsApproval { output } => Ok(Transition {
                    next: WorkflowState::WaitingApproval {
                        step: current,
                        deadline: deadline(ctx),
                    },
                    steps: vec![StepUpdate {
                        output: Some(output),
                        ..step_update(current, StepStatus::Waiting, attempt)
                    }],
                    approval: None,
                    notices: vec![Notice::ApprovalRequested],
                    audit: audit(
                        "switchboard",
                        "approval.requested",
                        "waiting for an approver",
                    ),
                }),
                StepResult::Failed { error, retryable } => {
                    if retryable && attempt <= step_def.retry.max {
                        let at = ctx.now
                            + chrono::Duration::from_std(step_def.retry.delay_before(attempt))
                                .unwrap_or(chrono::Duration::seconds(1));
                        return Ok(Transition {
                            next: WorkflowState::Running {
                                step: current,
                                attempt: attempt + 1,
                                resumes: 0,
                                not_before: Some(at),
                            },
                            steps: vec![StepUpdate {
                                error: Some(error.clone()),
                                ..step_update(current, StepStatus::Running, attempt + 1)
                            }],
                            approval: None,
                            notices: vec![Notice::Retrying {
                                step: current,
                                attempt: attempt + 1,
                                error: error.clone(),
                                at,
                            }],
                            audit: audit("switchboard", &format!("{name}.retry"), error),
                        });
                    }
                    let failed = StepUpdate {
                        error: Some(error.clone()),
                        finished: true,
                        ..step_update(current, StepStatus::Failed, attempt)
                    };
                    if step_def.on_failure == OnFailure::Rollback {
                        return Ok(Transition {
                            next: WorkflowState::RollingBack {
                                step: current,
                                reason: error.clone(),
                                cancelled_by: None,
                            },
                            steps: vec![failed],
                            approval: None,
                            notices: vec![Notice::RollingBack {
                                reason: format!("{name} failed: {error}"),
                            }],
                            audit: audit("switchboard", &format!("{name}.failed"), error),
                        });
                    }
                    Ok(Transition {
                        next: WorkflowState::Failed {
                            step: current,
                            reason: error.clone(),
                        },
                        steps: vec![failed],
                        approval: None,
                        notices: vec![Notice::Failed {
                            step: current,
                            reason: error.clone(),
                        }],
                        audit: audit("switchboard", &format!("{name}.failed"), error),
                    })
                }
            }
        }
        (
            WorkflowState::Running {
                step,
                attempt,
                resumes,
                ..
            },
            Event::Resumed,
        ) => {
            let name = &def.steps.get(*step).ok_or(Refusal::Stale(status))?.name;
            if *resumes >= MAX_RESUMES {
                let reason = format!("{name} was interrupted {MAX_RESUMES} times; giving up");
                let failed = StepUpdate {
                    error: Some(reason.clone()),
                    finished: true,
                    ..step_update(*step, StepStatus::Failed, *attempt)
                };
                let next = if may_have_side_effects(def, *step) {
                    WorkflowState::RollingBack {
                        step: *step,
                        reason: reason.clone(),
                        cancelled_by: None,
                    }
                } else {
                    WorkflowState::Failed {
                        step: *step,
                        reason: reason.clone(),
                    }
                };
                let notice = match &next {
                    WorkflowState::RollingBack { .. } => Notice::RollingBack {
                        reason: reason.clone(),
                    },
                    _ => Notice::Failed {
                        step: *step,
                        reason: reason.clone(),
                    },
                };
                return Ok(Transition {
                    next,
                    steps: vec![failed],
                    approval: None,
                    notices: vec![notice],
                    audit: audit("switchboard", &format!("{name}.abandoned"), reason),
                });
            }
            Ok(Transition {
                next: WorkflowState::Running {
                    step: *step,
                    attempt: *attempt,
                    resumes: resumes + 1,
                    not_before: None,
                },
                steps: vec![],
                approval: None,
                notices: vec![],
                audit: audit(
                    "switchboard",
                    &format!("{name}.resumed"),
                    "re-running the interrupted step",
                ),
            })
        }
        (
            WorkflowState::RollingBack {
                step,
                reason,
                cancelled_by,
            },
            Event::RollbackFinished { reverted, errors },
        ) => {
            let detail = format!("reverted {reverted} resource(s); {} error(s)", errors.len());
            let mut notices = vec![Notice::RolledBack { reverted, errors }];
            let next = match cancelled_by {
                Some(by) => {
                    notices.push(Notice::Cancelled { by: by.clone() });
                    WorkflowState::Cancelled { by: by.clone() }
                }
                None => WorkflowState::RolledBack {
                    step: *step,
                    reason: reason.clone(),
                },
            };
            Ok(Transition {
                next,
                steps: vec![],
                approval: None,
                notices,
                audit: audit("switchboard", "rollback.finished", detail),
            })
        }
        (WorkflowState::WaitingApproval { step, .. }, Event::Approve { by, is_approver }) => {
            check_decider(&by, is_approver, ctx)?;
            let done = StepUpdate {
                finished: true,
                ..step_update(*step, StepStatus::Succeeded, 1)
            };
            let (next, steps, mut notices) = after_step(ctx, *step, vec![done]);
            notices.insert(0, Notice::Approved { by: by.clone() });
            Ok(Transition {
                next,
                steps,
                approval: Some(ApprovalRecord {
                    decision: Decision::Approved,
                    by: by.clone(),
                    reason: None,
                }),
                notices,
                audit: audit(by.as_str(), "approval.approved", "approved"),
            })
        }
        (
            WorkflowState::WaitingApproval { step, .. },
            Event::Reject {
                by,
                is_approver,
                reason,
            },
        ) => {
            check_decider(&by, is_approver, ctx)?;
            let reason = reason.trim().to_string();
            if reason.is_empty() {
                return Err(Refusal::ReasonRequired);
            }
            Ok(Transition {
                next: WorkflowState::Rejected {
                    by: by.clone(),
                    reason: reason.clone(),
                },
                steps: vec![StepUpdate {
                    error: Some(format!("rejected by {by}: {reason}")),
                    finished: true,
                    ..step_update(*step, StepStatus::Failed, 1)
                }],
                approval: Some(ApprovalRecord {
                    decision: Decision::Rejected,
                    by: by.clone(),
                    reason: Some(reason.clone()),
                }),
                notices: vec![Notice::Rejected {
                    by: by.clone(),
                    reason: reason.clone(),
                }],
                audit: audit(by.as_str(), "approval.rejected", reason),
            })
        }
        (_, Event::Approve { .. } | Event::Reject { .. }) => {
            if state.is_finished() {
                Err(Refusal::AlreadyFinished(status))
            } else {
                Err(Refusal::NotWaitingForApproval(status))
            }
        }
        (WorkflowState::WaitingClarification { step, .. }, Event::Answer { by, text }) => {
            if &by != ctx.requester {
                return Err(Refusal::NotRequester);
            }
            let step = *step;
            Ok(Transition {
                next: WorkflowState::Running {
                    step,
                    attempt: 1,
                    resumes: 0,
                    not_before: None,
                },
                steps: vec![StepUpdate {
                    started: true,
                    ..step_update(step, StepStatus::Running, 1)
                }],
                approval: None,
                notices: vec![],
                audit: audit(by.as_str(), "clarification.answered", text),
            })
        }
        (_, Event::Answer { .. }) => Err(Refusal::NotWaitingForAnswer(status)),
        (_, Event::Cancel { by, is_approver }) => {
            if state.is_finished() {
                return Err(Refusal::AlreadyFinished(status));
            }
            if &by != ctx.requester && !is_approver {
                return Err(Refusal::MayNotCancel);
            }
            let step = state.current_step(def);
            if let WorkflowState::RollingBack { .. } = state {
                return Err(Refusal::Stale(status));
            }
            if matches!(state, WorkflowState::Running { .. }) && may_have_side_effects(def, step) {
                return Ok(Transition {
                    next: WorkflowState::RollingBack {
                        step,
                        reason: format!("cancelled by {by}"),
                        cancelled_by: Some(by.clone()),
                    },
                    steps: vec![],
                    approval: None,
                    notices: vec![Notice::RollingBack {
                        reason: format!("cancelled by {by}"),
                    }],
                    audit: audit(
                        by.as_str(),
                        "workflow.cancelled",
                        "cancelled; rolling back what was created",
                    ),
                });
            }
            Ok(Transition {
                next: WorkflowState::Cancelled { by: by.clone() },
                steps: vec![],
                approval: None,
                notices: vec![Notice::Cancelled { by: by.clone() }],
                audit: audit(by.as_str(), "workflow.cancelled", "cancelled"),
            })
        }
        (
            WorkflowState::WaitingApproval { step, deadline }
            | WorkflowState::WaitingClarification { step, deadline, .. },
            Event::Tick,
        ) if *deadline <= ctx.now => Ok(Transition {
            next: WorkflowState::Expired { step: *step },
            steps: vec![StepUpdate {
                error: Some("expired".into()),
                finished: true,
                ..step_update(*step, StepStatus::Failed, 1)
            }],
            approval: None,
            notices: vec![Notice::Expired { step: *step }],
            audit: audit(
                "switchboard",
                "workflow.expired",
                format!("no answer by {deadline}"),
            ),
        }),
        _ => Err(Refusal::Stale(status)),
    }
}

fn check_decider(by: &UserId, is_approver: bool, ctx: &Context<'_>) -> Result<(), Refusal> {
    if by == ctx.requester {
        return Err(Refusal::OwnRequest);
    }
    if !is_approver {
        return Err(Refusal::NotApprover);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def() -> Definition {
        Definition::embedded_connect().unwrap()
    }

    fn ctx<'a>(def: &'a Definition, requester: &'a UserId, now: Timestamp) -> Context<'a> {
        Context {
            definition: def,
            requester,
            now,
            wait_timeout: Duration::from_secs(3600),
        }
    }

    fn t0() -> Timestamp {
        "2026-11-25T10:00:00Z".parse().unwrap()
    }

    fn ok(step: usize) -> Event {
        Event::StepFinished {
            step,
            result: StepResult::Succeeded {
                output: json!({}),
                summary: "ok".into(),
            },
        }
    }

    /// Runs the connect workflow to its approval wait.
    fn to_approval(def: &Definition, requester: &UserId) -> WorkflowState {
        let mut state = WorkflowState::start();
        for step in 0..3 {
            state = apply(&state, ok(step), &ctx(def, requester, t0()))
                .unwrap()
                .next;
        }
        let t = apply(
            &state,
            Event::StepFinished {
                step: 3,
                result: StepResult::AwaitsApproval { output: json!({}) },
            },
            &ctx(def, requester, t0()),
        )
        .unwrap();
        assert_eq!(t.notices, vec![Notice::ApprovalRequested]);
        t.next
    }

    #[test]
    fn happy_path_runs_every_step_in_order_and_completes() {
        let def = def();
        let alice = UserId::new("alice");
        let mut state = to_approval(&def, &alice);
        let t = apply(
            &state,
            Event::Approve {
                by: UserId::new("bob"),
                is_approver: true,
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap();
        assert_eq!(t.approval.as_ref().unwrap().decision, Decision::Approved);
        state = t.next;
        assert_eq!(
            state,
            WorkflowState::Running {
                step: 4,
                attempt: 1,
                resumes: 0,
                not_before: None
            }
        );
        state = apply(&state, ok(4), &ctx(&def, &alice, t0())).unwrap().next;
        let t = apply(&state, ok(5), &ctx(&def, &alice, t0())).unwrap();
        assert_eq!(t.next, WorkflowState::Completed);
        assert!(t.notices.contains(&Notice::Completed));
    }

    #[test]
    fn approver_cannot_be_requester() {
        let def = def();
        let alice = UserId::new("alice");
        let state = to_approval(&def, &alice);
        let err = apply(
            &state,
            Event::Approve {
                by: alice.clone(),
                is_approver: true,
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap_err();
        assert_eq!(err, Refusal::OwnRequest);
        let err = apply(
            &state,
            Event::Approve {
                by: UserId::new("mallory"),
                is_approver: false,
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap_err();
        assert_eq!(err, Refusal::NotApprover);
    }

    #[test]
    fn second_decision_changes_nothing_and_says_why() {
        let def = def();
        let alice = UserId::new("alice");
        let state = to_approval(&def, &alice);
        let bob = UserId::new("bob");
        let rejected = apply(
            &state,
            Event::Reject {
                by: bob.clone(),
                is_approver: true,
                reason: "too costly".into(),
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap()
        .next;
        assert_eq!(rejected.status(), "rejected");
        let err = apply(
            &rejected,
            Event::Approve {
                by: bob,
                is_approver: true,
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap_err();
        assert_eq!(err, Refusal::AlreadyFinished("rejected"));
    }

    #[test]
    fn reject_needs_a_reason() {
        let def = def();
        let alice = UserId::new("alice");
        let state = to_approval(&def, &alice);
        let err = apply(
            &state,
            Event::Reject {
                by: UserId::new("bob"),
                is_approver: true,
                reason: "  ".into(),
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap_err();
        assert_eq!(err, Refusal::ReasonRequired);
    }

    #[test]
    fn approval_expires_only_after_its_deadline() {
        let def = def();
        let alice = UserId::new("alice");
        let state = to_approval(&def, &alice);
        let early = t0() + chrono::Duration::minutes(59);
        assert!(apply(&state, Event::Tick, &ctx(&def, &alice, early)).is_err());
        let late = t0() + chrono::Duration::minutes(61);
        let t = apply(&state, Event::Tick, &ctx(&def, &alice, late)).unwrap();
        assert_eq!(t.next, WorkflowState::Expired { step: 3 });
        assert_eq!(t.notices, vec![Notice::Expired { step: 3 }]);
    }

    #[test]
    fn retryable_failures_back_off_then_roll_back_when_the_step_says_so() {
        let def = def();
        let alice = UserId::new("alice");
        let mut state = WorkflowState::Running {
            step: 4,
            attempt: 1,
            resumes: 0,
            not_before: None,
        };
        let fail = || Event::StepFinished {
            step: 4,
            result: StepResult::Failed {
                error: "throttled".into(),
                retryable: true,
            },
        };
        for attempt in 2..=4 {
            let t = apply(&state, fail(), &ctx(&def, &alice, t0())).unwrap();
            match &t.next {
                WorkflowState::Running {
                    attempt: a,
                    not_before: Some(at),
                    ..
                } => {
                    assert_eq!(*a, attempt);
                    assert!(*at > t0());
                }
                other => panic!("expected a retry, got {other:?}"),
            }
            state = t.next;
        }
        let t = apply(&state, fail(), &ctx(&def, &alice, t0())).unwrap();
        assert!(
            matches!(t.next, WorkflowState::RollingBack { step: 4, .. }),
            "{:?}",
            t.next
        );
        let t = apply(
            &t.next,
            Event::RollbackFinished {
                reverted: 2,
                errors: vec![],
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap();
        assert_eq!(t.next.status(), "rolled_back");
    }

    #[test]
    fn non_retryable_failure_before_provision_fails_without_rollback() {
        let def = def();
        let alice = UserId::new("alice");
        let state = WorkflowState::Running {
            step: 1,
            attempt: 1,
            resumes: 0,
            not_before: None,
        };
        let t = apply(
            &state,
            Event::StepFinished {
                step: 1,
                result: StepResult::Failed {
                    error: "pci_dss: encryption_required".into(),
                    retryable: true,
                },
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap();
        assert_eq!(t.next.status(), "failed", "compliance has no retries left");
    }

    #[test]
    fn clarification_answer_reruns_the_step_and_only_the_requester_may_answer() {
        let def = def();
        let alice = UserId::new("alice");
        let state = WorkflowState::start();
        let waiting = apply(
            &state,
            Event::StepFinished {
                step: 0,
                result: StepResult::NeedsClarification {
                    output: json!({}),
                    question: "How much traffic?".into(),
                },
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap()
        .next;
        assert_eq!(waiting.status(), "waiting_clarification");
        assert_eq!(
            apply(
                &waiting,
                Event::Answer {
                    by: UserId::new("bob"),
                    text: "1 TB".into()
                },
                &ctx(&def, &alice, t0())
            )
            .unwrap_err(),
            Refusal::NotRequester
        );
        let t = apply(
            &waiting,
            Event::Answer {
                by: alice.clone(),
                text: "1 TB".into(),
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap();
        assert_eq!(t.next, WorkflowState::start());
    }

    #[test]
    fn cancel_after_provisioning_started_rolls_back_first() {
        let def = def();
        let alice = UserId::new("alice");
        let provisioning = WorkflowState::Running {
            step: 4,
            attempt: 1,
            resumes: 0,
            not_before: None,
        };
        let t = apply(
            &provisioning,
            Event::Cancel {
                by: alice.clone(),
                is_approver: false,
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap();
        assert!(matches!(
            t.next,
            WorkflowState::RollingBack {
                cancelled_by: Some(_),
                ..
            }
        ));
        let t = apply(
            &t.next,
            Event::RollbackFinished {
                reverted: 1,
                errors: vec![],
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap();
        assert_eq!(t.next, WorkflowState::Cancelled { by: alice.clone() });
        let err = apply(
            &t.next,
            Event::Cancel {
                by: alice.clone(),
                is_approver: false,
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap_err();
        assert_eq!(err, Refusal::AlreadyFinished("cancelled"));
    }

    #[test]
    fn strangers_cannot_cancel() {
        let def = def();
        let alice = UserId::new("alice");
        let state = to_approval(&def, &alice);
        let err = apply(
            &state,
            Event::Cancel {
                by: UserId::new("eve"),
                is_approver: false,
            },
            &ctx(&def, &alice, t0()),
        )
        .unwrap_err();
        assert_eq!(err, Refusal::MayNotCancel);
    }

    #[test]
    fn a_step_that_keeps_killing_the_process_is_abandoned() {
        let def = def();
        let alice = UserId::new("alice");
        let mut state = WorkflowState::Running {
            step: 2,
            attempt: 1,
            resumes: 0,
            not_before: None,
        };
        for _ in 0..MAX_RESUMES {
            state = apply(&state, Event::Resumed, &ctx(&def, &alice, t0()))
                .unwrap()
                .next;
        }
        let t = apply(&state, Event::Resumed, &ctx(&def, &alice, t0())).unwrap();
        assert_eq!(t.next.status(), "failed");
    }

    #[test]
    fn a_state_beyond_the_definition_is_refused_not_a_panic() {
        let def = def();
        let alice = UserId::new("alice");
        let corrupt = WorkflowState::Running {
            step: 99,
            attempt: 1,
            resumes: 0,
            not_before: None,
        };
        assert!(apply(&corrupt, ok(99), &ctx(&def, &alice, t0())).is_err());
        assert!(apply(&corrupt, Event::Resumed, &ctx(&def, &alice, t0())).is_err());
    }

    #[test]
    fn stale_step_results_are_refused() {
        let def = def();
        let alice = UserId::new("alice");
        let state = WorkflowState::start();
        assert!(matches!(
            apply(&state, ok(3), &ctx(&def, &alice, t0())),
            Err(Refusal::Stale(_))
        ));
    }

    #[test]
    fn state_round_trips_through_json() {
        let def = def();
        let alice = UserId::new("alice");
        let state = to_approval(&def, &alice);
        let text = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<WorkflowState>(&text).unwrap(), state);
    }
}
