//! What a batch is made of and how it reads: each row's outcome from its
//! workflow (pure classification), the batch's one approval card, and the
//! summary table at the end. Pure: records in, `BatchView` and `Message` out.

use crate::chat::message::{clip, Button, ButtonAction, Destination, Message, Tone};
use crate::domain::{BatchId, WorkflowId};
use crate::store::batches::{BatchRecord, BatchRefusal};
use crate::store::{StepRecord, WorkflowRecord};
use crate::workflow::definition::{Action, Risk};
use crate::workflow::machine::WorkflowState;
use crate::workflow::steps::design_of;
use serde::Serialize;

/// Where one row of a batch stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RowOutcome {
    /// Still being worked on (parse, compliance, design, provision…).
    InProgress,
    /// Designed and waiting for the batch's approval.
    AwaitingApproval,
    /// The requester must answer a question first (`answer wf-N …`).
    NeedsAnswer {
        question: String,
    },
    /// Refused by the compliance policies: never provisioned.
    FailedPolicy {
        reason: String,
    },
    Failed {
        reason: String,
    },
    Completed,
    Rejected {
        reason: String,
    },
    /// Ended without being done (expired, cancelled, rolled back).
    Ended {
        state: String,
        reason: String,
    },
    /// The line never became a workflow.
    Refused {
        reason: String,
    },
}

impl RowOutcome {
    /// Nothing more will happen to the row without a person.
    pub fn is_settled(&self) -> bool {
        !matches!(self, RowOutcome::InProgress)
    }

    /// Nothing more will happen to the row at all.
    pub fn is_finished(&self) -> bool {
        !matches!(
            self,
            RowOutcome::InProgress | RowOutcome::AwaitingApproval | RowOutcome::NeedsAnswer { .. }
        )
    }

    fn label(&self) -> &'static str {
        match self {
            RowOutcome::InProgress => "in progress",
            RowOutcome::AwaitingApproval => "awaiting approval",
            RowOutcome::NeedsAnswer { .. } => "needs an answer",
            RowOutcome::FailedPolicy { .. } => "failed policy",
            RowOutcome::Failed { .. } => "failed",
            RowOutcome::Completed => "completed",
            RowOutcome::Rejected { .. } => "rejected",
            RowOutcome::Ended { .. } => "ended",
            RowOutcome::Refused { .. } => "bad row",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            RowOutcome::NeedsAnswer { question: reason }
            | RowOutcome::FailedPolicy { reason }
            | RowOutcome::Failed { reason }
            | RowOutcome::Rejected { reason }
            | RowOutcome::Ended { reason, .. }
            | RowOutcome::Refused { reason } => Some(reason),
            _ => None,
        }
    }
}

/// One line of the batch's file and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowView {
    pub line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowId>,
    pub request: String,
    #[serde(flatten)]
    pub outcome: RowOutcome,
    /// The design's monthly cost (marginal), once designed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
}

/// A batch and its rows in file order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchView {
    pub id: BatchId,
    pub requester: String,
    pub source: String,
    /// How many rows the file has (the batch is whole once `rows` holds them).
    pub rows_total: usize,
    pub rows: Vec<RowView>,
}

/// Counts by outcome, for the card and the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub rows: usize,
    pub in_progress: usize,
    pub awaiting_approval: usize,
    pub needs_answer: usize,
    pub failed_policy: usize,
    pub failed: usize,
    pub completed: usize,
    pub rejected: usize,
    pub ended: usize,
    pub refused: usize,
}

/// The outcome of one workflow of the batch.
pub fn outcome(record: &WorkflowRecord) -> RowOutcome {
    match &record.state {
        WorkflowState::Running { .. } | WorkflowState::RollingBack { .. } => RowOutcome::InProgress,
        WorkflowState::WaitingApproval { .. } => RowOutcome::AwaitingApproval,
        WorkflowState::WaitingClarification { question, .. } => RowOutcome::NeedsAnswer {
            question: question.clone(),
        },
        WorkflowState::Completed => RowOutcome::Completed,
        WorkflowState::Failed { step, reason } => {
            let policy = record
                .definition
                .steps
                .get(*step)
                .is_some_and(|s| s.action == Action::Compliance);
            let reason = reason.clone();
            if policy {
                RowOutcome::FailedPolicy { reason }
            } else {
                RowOutcome::Failed { reason }
            }
        }
        WorkflowState::Rejected { reason, .. } => RowOutcome::Rejected {
            reason: reason.clone(),
        },
        WorkflowState::Expired { .. } => RowOutcome::Ended {
            state: "expired".into(),
            reason: "nobody decided in time".into(),
        },
        WorkflowState::Cancelled { by } => RowOutcome::Ended {
            state: "cancelled".into(),
            reason: format!("cancelled by {by}"),
        },
        WorkflowState::RolledBack { reason, .. } => RowOutcome::Ended {
            state: "rolled_back".into(),
            reason: reason.clone(),
        },
    }
}

/// The view of a batch from its record, its workflows (with the line each
/// came from) and its refused lines.
pub fn view(
    batch: &BatchRecord,
    workflows: &[(u32, WorkflowRecord, Vec<StepRecord>)],
    refusals: &[BatchRefusal],
) -> BatchView {
    let mut rows: Vec<RowView> = workflows
        .iter()
        .map(|(line, record, steps)| {
            let design = design_of(steps).ok();
            RowView {
                line: *line,
                workflow: Some(record.id),
                request: record.request_text.replace('\n', " / "),
                outcome: outcome(record),
                monthly_cost_usd: design.as_ref().map(|d| d.primary.monthly_cost_usd),
                risk: design.map(|d| d.risk),
            }
        })
        .chain(refusals.iter().map(|r| RowView {
            line: r.line,
            workflow: None,
            request: r.request_text.clone(),
            outcome: RowOutcome::Refused {
                reason: r.error.clone(),
            },
            monthly_cost_usd: None,
            risk: None,
        }))
        .collect();
    rows.sort_by_key(|r| r.line);
    BatchView {
        id: batch.id,
        requester: batch.requester.to_string(),
        source: batch.source.clone(),
        rows_total: batch.rows_total,
        rows,
    }
}

impl BatchView {
    pub fn tally(&self) -> Tally {
        let mut t = Tally {
            rows: self.rows.len(),
            ..Tally::default()
        };
        for row in &self.rows {
            let count = match row.outcome {
                RowOutcome::InProgress => &mut t.in_progress,
                RowOutcome::AwaitingApproval => &mut t.awaiting_approval,
                RowOutcome::NeedsAnswer { .. } => &mut t.needs_answer,
                RowOutcome::FailedPolicy { .. } => &mut t.failed_policy,
                RowOutcome::Failed { .. } => &mut t.failed,
                RowOutcome::Completed => &mut t.completed,
                RowOutcome::Rejected { .. } => &mut t.rejected,
                RowOutcome::Ended { .. } => &mut t.ended,
                RowOutcome::Refused { .. } => &mut t.refused,
            };
            *count += 1;
        }
        t
    }

    /// Every row of the file is in (a workflow or a refusal): until then a
    /// batch being submitted is neither settled nor finished.
    fn is_whole(&self) -> bool {
        self.rows.len() >= self.rows_total
    }

    /// Every row waits for a person or is done: time for the card.
    pub fn is_settled(&self) -> bool {
        self.is_whole() && self.rows.iter().all(|r| r.outcome.is_settled())
    }

    /// Every row is done: time for the summary.
    pub fn is_finished(&self) -> bool {
        self.is_whole() && self.rows.iter().all(|r| r.outcome.is_finished())
    }

    /// The workflows the batch's approval decides.
    pub fn awaiting_approval(&self) -> Vec<WorkflowId> {
        self.rows
            .iter()
            .filter(|r| r.outcome == RowOutcome::AwaitingApproval)
            .filter_map(|r| r.workflow)
            .collect()
    }

    fn awaiting_cost(&self) -> f64 {
        self.rows
            .iter()
            .filter(|r| r.outcome == RowOutcome::AwaitingApproval)
            .filter_map(|r| r.monthly_cost_usd)
            .sum()
    }

    fn highest_awaiting_risk(&self) -> Option<Risk> {
        self.rows
            .iter()
            .filter(|r| r.outcome == RowOutcome::AwaitingApproval)
            .filter_map(|r| r.risk)
            .max()
    }
}

/// Where a batch's card and summary go: the batch's own thread.
pub fn destination(batch: &BatchRecord) -> Destination {
    Destination {
        channel: batch.channel.clone(),
        thread: Some(batch.id.to_string()),
    }
}

/// Most problem rows listed on a card (the rest are counted).
const LISTED: usize = 15;

/// Lines of the rows that need a look (failed policy, bad, unanswered…).
fn problem_lines(view: &BatchView) -> Vec<String> {
    let problems: Vec<&RowView> = view
        .rows
        .iter()
        .filter(|r| r.outcome.reason().is_some())
        .collect();
    let mut lines: Vec<String> = problems
        .iter()
        .take(LISTED)
        .map(|r| {
            let id = r.workflow.map(|w| format!(" {w}")).unwrap_or_default();
            format!(
                "line {}{id} · {}: {}",
                r.line,
                r.outcome.label(),
                clip(r.outcome.reason().unwrap_or(""), 160)
            )
        })
        .collect();
    if problems.len() > LISTED {
        lines.push(format!(
            "… and {} more (`batch {}`)",
            problems.len() - LISTED,
            view.id
        ));
    }
    lines
}

/// The batch's one approval card: what the approval covers (rows, total
/// monthly cost, highest risk), the rows that failed policy or were bad, and
/// Approve all / Reject all.
pub fn card(view: &BatchView) -> Message {
    let t = view.tally();
    let mut card = Message::text(format!(
        "{} sent {} rows from {}: {} await approval, {} failed policy, {} bad rows, {} need an answer, {} other.",
        view.requester,
        t.rows,
        view.source,
        t.awaiting_approval,
        t.failed_policy,
        t.refused,
        t.needs_answer,
        t.rows - t.awaiting_approval - t.failed_policy - t.refused - t.needs_answer,
    ))
    .with_title(format!("{} · batch approval needed", view.id))
    .field(
        "Approve all covers",
        format!(
            "{} connections · ${:.2}/month (marginal) · highest risk {}",
            t.awaiting_approval,
            view.awaiting_cost(),
            view.highest_awaiting_risk()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "n/a".into())
        ),
    );
    let problems = problem_lines(view);
    if !problems.is_empty() {
        card = card.field("Rows that need a look", problems.join("\n"));
    }
    if t.awaiting_approval > 0 {
        card.buttons = vec![
            Button {
                label: format!("Approve all {}", t.awaiting_approval),
                action: ButtonAction::ApproveBatch { batch: view.id },
                tone: Tone::Success,
            },
            Button {
                label: "Reject all".into(),
                action: ButtonAction::RejectBatch { batch: view.id },
                tone: Tone::Danger,
            },
        ];
    }
    card
}

/// The end of a batch: counts, the rows that did not complete, and the table.
pub fn summary(view: &BatchView) -> Message {
    let t = view.tally();
    let tone = if t.completed == t.rows {
        Tone::Success
    } else {
        Tone::Warning
    };
    let mut message = Message::text(format!(
        "{} of {} rows completed · {} failed policy · {} failed · {} rejected · {} bad rows · {} ended otherwise",
        t.completed, t.rows, t.failed_policy, t.failed, t.rejected, t.refused, t.ended + t.needs_answer
    ))
    .with_title(format!("{} · batch finished", view.id))
    .with_tone(tone)
    .field("Rows", table(view));
    let problems = problem_lines(view);
    if !problems.is_empty() {
        message = message.field("Not completed", problems.join("\n"));
    }
    message
}

/// One line per row: line, workflow, outcome, monthly cost.
pub fn table(view: &BatchView) -> String {
    let mut out = format!(
        "{:>5}  {:<8}  {:<17}  {:>10}\n",
        "line", "workflow", "state", "$/month"
    );
    for row in &view.rows {
        out.push_str(&format!(
            "{:>5}  {:<8}  {:<17}  {:>10}\n",
            row.line,
            row.workflow
                .map(|w| w.to_string())
                .unwrap_or_else(|| "-".into()),
            row.outcome.label(),
            row.monthly_cost_usd
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "-".into())
        ));
    }
    out
}

/// Where a batch stands now (the `batch` command, `switchboard bulk`).
pub fn status(view: &BatchView) -> Message {
    let t = view.tally();
    let mut message = Message::text(format!(
        "{} rows from {}: {} in progress · {} await approval · {} need an answer · {} completed · \
         {} failed policy · {} failed · {} rejected · {} bad rows · {} ended otherwise",
        t.rows,
        view.source,
        t.in_progress,
        t.awaiting_approval,
        t.needs_answer,
        t.completed,
        t.failed_policy,
        t.failed,
        t.rejected,
        t.refused,
        t.ended
    ))
    .with_title(format!("{} · {}", view.id, view.requester))
    .field("Rows", table(view));
    let problems = problem_lines(view);
    if !problems.is_empty() {
        message = message.field("Rows that need a look", problems.join("\n"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u32, outcome: RowOutcome, cost: Option<f64>, risk: Option<Risk>) -> RowView {
        RowView {
            line,
            workflow: WorkflowId::new(i64::from(line)),
            request: format!("connect a{line} to b{line}"),
            outcome,
            monthly_cost_usd: cost,
            risk,
        }
    }

    fn batch(rows: Vec<RowView>) -> BatchView {
        BatchView {
            id: BatchId::new(3).unwrap(),
            requester: "lead".into(),
            source: "acq.csv".into(),
            rows_total: rows.len(),
            rows,
        }
    }

    #[test]
    fn the_card_sums_what_approve_all_covers_and_lists_the_rows_to_look_at() {
        let view = batch(vec![
            row(2, RowOutcome::AwaitingApproval, Some(10.0), Some(Risk::Low)),
            row(
                3,
                RowOutcome::AwaitingApproval,
                Some(32.5),
                Some(Risk::Medium),
            ),
            row(
                4,
                RowOutcome::FailedPolicy {
                    reason: "pci_dss requires encryption".into(),
                },
                None,
                None,
            ),
            row(
                5,
                RowOutcome::Refused {
                    reason: "needs a source".into(),
                },
                None,
                None,
            ),
        ]);
        assert!(view.is_settled() && !view.is_finished());
        let card = card(&view);
        assert_eq!(
            card.title.as_deref(),
            Some("batch-3 · batch approval needed")
        );
        assert_eq!(
            card.fields[0].value,
            "2 connections · $42.50/month (marginal) · highest risk medium"
        );
        assert_eq!(
            card.fields[1].value,
            "line 4 wf-4 · failed policy: pci_dss requires encryption\nline 5 wf-5 · bad row: needs a source"
        );
        assert_eq!(
            card.buttons.iter().map(|b| &b.action).collect::<Vec<_>>(),
            vec![
                &ButtonAction::ApproveBatch { batch: view.id },
                &ButtonAction::RejectBatch { batch: view.id }
            ]
        );
        assert_eq!(
            view.awaiting_approval(),
            vec![WorkflowId::new(2).unwrap(), WorkflowId::new(3).unwrap()]
        );
    }

    #[test]
    fn nothing_to_approve_means_no_buttons_and_long_lists_are_counted() {
        let rows = (1..=20)
            .map(|l| {
                row(
                    l,
                    RowOutcome::Failed {
                        reason: "no feasible path".into(),
                    },
                    None,
                    None,
                )
            })
            .collect();
        let view = batch(rows);
        assert!(view.is_finished());
        assert!(card(&view).buttons.is_empty());
        let summary = summary(&view);
        assert_eq!(summary.tone, Tone::Warning);
        let listed = &summary.fields[1].value;
        assert_eq!(listed.lines().count(), LISTED + 1);
        assert!(
            listed.ends_with("… and 5 more (`batch batch-3`)"),
            "{listed}"
        );
        assert_eq!(view.tally().failed, 20);
    }

    #[test]
    fn a_batch_still_being_submitted_is_neither_settled_nor_finished() {
        let mut view = batch(vec![row(
            5,
            RowOutcome::Refused {
                reason: "needs a source".into(),
            },
            None,
            None,
        )]);
        view.rows_total = 3;
        assert!(!view.is_settled());
        assert!(!view.is_finished());
    }

    #[test]
    fn in_progress_rows_keep_the_batch_unsettled() {
        let view = batch(vec![
            row(2, RowOutcome::InProgress, None, None),
            row(3, RowOutcome::Completed, Some(1.0), Some(Risk::Low)),
        ]);
        assert!(!view.is_settled());
        assert!(!view.is_finished());
        let table = table(&view);
        assert!(
            table.contains("    3  wf-3      completed                1.00"),
            "{table}"
        );
    }
}
