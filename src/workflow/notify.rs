//! Turns the machine's notices into neutral chat messages for the workflow's
//! thread. The approval card carries everything an approver needs: the intent,
//! the compliance result, the design with its cost, the risk, and the buttons.

use super::definition::Definition;
use super::machine::Notice;
use super::steps::{design_of, intent_of};
use crate::chat::message::{mention, Destination, Message, Tone};
use crate::store::{StepRecord, WorkflowRecord};

pub fn destination(record: &WorkflowRecord) -> Destination {
    Destination {
        channel: record.channel.clone(),
        thread: Some(record.id.to_string()),
    }
}

fn step_name(def: &Definition, step: usize) -> &str {
    def.steps.get(step).map(|s| s.name.as_str()).unwrap_or("?")
}

pub fn render(record: &WorkflowRecord, steps: &[StepRecord], notice: &Notice) -> Message {
    let id = record.id;
    let def = &record.definition;
    let message = match notice {
        Notice::StepSucceeded { step, summary } => Message::text(format!("✓ {}: {summary}", step_name(def, *step))),
        Notice::Question { question } => Message::text(format!(
            "{question}\nReply in this thread (console: just type the answer, or `answer {id} <text>`)."
        ))
        .with_title(format!("{id} · a question for {}", record.requester))
        .with_tone(Tone::Warning),
        Notice::ApprovalRequested => approval_card(record, steps),
        Notice::AutoApproved { summary } => Message::text(format!("✓ approval: {summary}")),
        Notice::Approved { by } => Message::text(format!(
            "Approved by {} at {}",
            mention(by),
            chrono::Utc::now().format("%H:%M UTC")
        ))
        .with_tone(Tone::Success),
        Notice::Rejected { by, reason } => Message::text(format!("Rejected by {}: {reason}", mention(by)))
            .with_title(format!("{id} · rejected"))
            .with_tone(Tone::Danger),
        Notice::Retrying { step, attempt, error, at } => Message::text(format!(
            "{} failed ({error}); attempt {attempt} at {}",
            step_name(def, *step),
            at.format("%H:%M:%S UTC")
        ))
        .with_tone(Tone::Warning),
        Notice::Completed => Message::text(format!("{id} is complete: provisioned and validated."))
            .with_title(format!("{id} · completed"))
            .with_tone(Tone::Success),
        Notice::Failed { step, reason } => Message::text(format!("{} failed: {reason}", step_name(def, *step)))
            .with_title(format!("{id} · failed"))
            .with_tone(Tone::Danger),
        Notice::Expired { step } => Message::text(format!(
            "{}, nobody answered in time at the {} step; the request has expired. Submit it again if it is still needed.",
            record.requester,
            step_name(def, *step)
        ))
        .with_title(format!("{id} · expired"))
        .with_tone(Tone::Warning),
        Notice::Cancelled { by } => Message::text(format!("Cancelled by {}.", mention(by)))
            .with_title(format!("{id} · cancelled"))
            .with_tone(Tone::Warning),
        Notice::RollingBack { reason } => {
            Message::text(format!("Rolling back what {id} created: {reason}")).with_tone(Tone::Warning)
        }
        Notice::RolledBack { reverted, errors } => {
            let mut text = format!("Rolled back: reverted {reverted} resource(s).");
            if !errors.is_empty() {
                text.push_str(&format!(" Could not revert: {}", errors.join("; ")));
            }
            Message::text(text)
                .with_title(format!("{id} · rolled back"))
                .with_tone(if errors.is_empty() { Tone::Warning } else { Tone::Danger })
        }
    };
    message.with_workflow(id)
}

fn approval_card(record: &WorkflowRecord, steps: &[StepRecord]) -> Message {
    let id = record.id;
    let mut card = Message::text(format!(
        "{} asks: {}",
        record.requester,
        record.request_text.replace('\n', " / ")
    ))
    .with_title(format!("{id} · approval needed"))
    .with_tone(Tone::Info);
    if let Ok(intent) = intent_of(steps) {
        let end = |e: &crate::domain::Endpoint| {
            format!(
                "{} {} in {}/{}",
                e.service.as_deref().unwrap_or("service"),
                e.identifier.as_deref().unwrap_or("?"),
                e.cloud.map(|c| c.as_str()).unwrap_or("?"),
                e.region.as_deref().unwrap_or("?")
            )
        };
        card = card
            .field("From", end(&intent.source))
            .field("To", end(&intent.destination));
        if let Some(note) = super::parse_step::model_note(id, steps) {
            card = card.field("Model", note);
        }
        let r = &intent.requirements;
        card = card.field(
            "Requirements",
            format!(
                "latency ≤ {} · {} · encryption {} · private only {}",
                r.max_latency_ms
                    .map(|v| format!("{v} ms"))
                    .unwrap_or("any".into()),
                r.monthly_traffic_gb
                    .map(|v| format!("{v} GB/month"))
                    .unwrap_or("traffic ?".into()),
                if r.encryption { "yes" } else { "no" },
                if r.private_only { "yes" } else { "no" }
            ),
        );
    }
    if let Ok(design) = design_of(steps) {
        card = card
            .field(
                "Compliance",
                format!("passes {}", design.compliance.applied.join(", ")),
            )
            .field(
                "Design",
                format!(
                    "{} · {:.1} ms · reliability {:.4}",
                    design.primary.description,
                    design.primary.latency_ms,
                    design.primary.reliability
                ),
            )
            .field(
                "Cost",
                format!(
                    "${:.2}/month at ${:.3}/GB (marginal: existing connections)",
                    design.primary.monthly_cost_usd, design.primary.per_gb_usd
                ),
            )
            .field(
                "Backup",
                design
                    .backup
                    .as_ref()
                    .map(|b| b.description.clone())
                    .unwrap_or_else(|| "none".into()),
            )
            .field(
                "Risk",
                format!("{} ({})", design.risk, design.risk_reasons.join("; ")),
            )
            .field(
                "Changes",
                design
                    .changes
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        if !design.calls.is_empty() {
            card = card.field("Calls", design.calls.join("\n"));
        }
        if let Some(basis) = &design.basis {
            card = card.field("Estate", basis.clone());
        }
    }
    card.with_decision_buttons(id)
}
