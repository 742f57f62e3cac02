//! The parse step: the request text (plus every answer to a clarifying
//! question) → the typed intent. The rule parser always runs. With a model
//! configured, the model reads the same text through the `intent_parse`
//! prompt; its checked reading is compared with the rules', and every field
//! where they differ is put to the requester, whose `model` / `rules` answer
//! picks. A model that fails in any way (malformed answer, refusal, timeout,
//! budget) leaves the rules' reading, with the failure recorded.
//!
//! Invariants: the intent is only ever the rules' reading, or the rules'
//! reading with fields the requester chose from the model; nothing else the
//! model says reaches the workflow (approval in particular is never derived
//! from it); a re-run of the step for the same text reuses the reading it
//! stored instead of asking the model again, so a question and its answer
//! refer to the same reading.

use super::definition::{Action, StepDefinition};
use super::machine::StepResult;
use crate::domain::{Intent, MissingField, WorkflowId};
use crate::intent::reading::{
    apply_model, check_draft, confirm_question, disagreements, intent_parse_vars, pick_of,
    read_draft, Disagreement, ModelReading, Pick,
};
use crate::intent::{parse_request, resolve, Resolution};
use crate::llm::{Assistant, CallSite};
use crate::store::{StepRecord, WorkflowRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

use super::steps::{request_sentence, StepEnv};

/// What the step stores under `llm` in its output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelCheck {
    /// `llm_calls` ids this step's runs made, oldest first.
    pub calls: Vec<i64>,
    pub model: String,
    pub outcome: CheckOutcome,
    /// Why the model's reading was not used, when it failed.
    pub error: Option<String>,
    /// Values of the model's reading that were dropped, and why.
    pub notes: Vec<String>,
    /// The text the model read (the request and its answers).
    pub sentence: String,
    pub reading: Option<ModelReading>,
    /// Where the readings differ and are not settled yet.
    pub disagreements: Vec<Disagreement>,
    /// Differences the requester settled, and how.
    pub settled: Vec<(Disagreement, Pick)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// Both readings agree (or every difference was settled).
    #[default]
    Agreed,
    /// The requester is asked to pick.
    Confirm,
    /// No usable reading: the rules' alone.
    Failed,
}

/// Share of the step's timeout the model may take, so that a slow model
/// ends as a recorded timeout and the step still finishes on the rules.
const MODEL_SHARE_OF_STEP: f64 = 0.8;

pub async fn parse(
    env: &StepEnv,
    record: &WorkflowRecord,
    steps: &[StepRecord],
    step: &StepDefinition,
) -> StepResult {
    let step_name = step.name.as_str();
    let lines: Vec<&str> = record
        .request_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // Only the latest answer can pick: it answers the latest question.
    let pick = match lines.as_slice() {
        [_, .., last] => pick_of(last),
        _ => None,
    };
    let sentence = request_sentence(
        &lines
            .iter()
            .filter(|l| pick_of(l).is_none())
            .copied()
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let raw = match parse_request(&sentence) {
        Ok(intent) => intent,
        Err(e) => {
            return StepResult::Failed {
                error: e.to_string(),
                retryable: false,
            }
        }
    };
    // The estate as last discovered: what names resolve against.
    let estate = match env.provider.estate().await {
        Ok(estate) => estate,
        Err(e) => return super::steps::provider_failure(e),
    };
    let rules = resolve(raw.clone(), &estate);
    let Some(assistant) = &env.llm else {
        return finish(rules, None);
    };
    let previous = previous_check(steps, step_name);
    let site = CallSite {
        workflow: Some(record.id),
        step: Some(step_name.to_string()),
    };
    let limit = step.timeout.mul_f64(MODEL_SHARE_OF_STEP);
    let mut check = read_with_model(
        assistant,
        &estate,
        &sentence,
        previous.as_ref(),
        &site,
        limit,
    )
    .await;
    let Some(reading) = check.reading.clone() else {
        return finish(rules, Some(check));
    };
    let mut open = Vec::new();
    let mut take_model = Vec::new();
    for d in disagreements(&rules.intent, &reading) {
        match settled_pick(&check.settled, &d) {
            Some(Pick::Model) => take_model.push(d),
            Some(Pick::Rules) => {}
            None => open.push(d),
        }
    }
    // The answer picks for the differences the last question listed.
    let asked = previous
        .as_ref()
        .filter(|p| p.outcome == CheckOutcome::Confirm && p.sentence == sentence);
    if let (Some(pick), Some(_)) = (pick, asked) {
        for d in open.drain(..) {
            if pick == Pick::Model {
                take_model.push(d.clone());
            }
            check.settled.push((d, pick));
        }
    }
    if !open.is_empty() {
        check.outcome = CheckOutcome::Confirm;
        check.disagreements = open.clone();
        return StepResult::NeedsClarification {
            question: confirm_question(&open),
            output: output(&rules.intent, &check),
        };
    }
    check.outcome = CheckOutcome::Agreed;
    check.disagreements.clear();
    let chosen = if take_model.is_empty() {
        rules
    } else {
        resolve(apply_model(raw, &reading, &take_model), &estate)
    };
    finish(chosen, Some(check))
}

/// One line for the approval card: what the model was asked and how its
/// reading was used; None when no model took part.
pub fn model_note(id: WorkflowId, steps: &[StepRecord]) -> Option<String> {
    let step = steps.iter().find(|s| s.action == Action::Parse.as_str())?;
    let check: ModelCheck =
        serde_json::from_value(step.output.as_ref()?.get("llm")?.clone()).ok()?;
    let calls = check
        .calls
        .iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let chosen: Vec<&str> = check
        .settled
        .iter()
        .filter(|(_, pick)| *pick == Pick::Model)
        .map(|(d, _)| d.field.as_str())
        .collect();
    let how = match check.outcome {
        CheckOutcome::Failed => format!(
            "not used ({}); the rule parser's reading",
            check.error.as_deref().unwrap_or("failed")
        ),
        _ if chosen.is_empty() => "agreed with the rule parser".to_string(),
        _ => format!("the requester took its reading of {}", chosen.join(", ")),
    };
    Some(format!(
        "{}: {how} · llm call {calls} (`workflows show {id}`)",
        check.model
    ))
}

fn settled_pick(settled: &[(Disagreement, Pick)], d: &Disagreement) -> Option<Pick> {
    settled.iter().find(|(s, _)| s == d).map(|(_, pick)| *pick)
}

/// The check a previous run of this step stored, if any.
fn previous_check(steps: &[StepRecord], step_name: &str) -> Option<ModelCheck> {
    let output = steps
        .iter()
        .find(|s| s.name == step_name)?
        .output
        .as_ref()?;
    serde_json::from_value(output.get("llm")?.clone()).ok()
}

/// The model's reading of `sentence`: the stored one when the text has not
/// changed since, else a new call.
async fn read_with_model(
    assistant: &Assistant,
    estate: &crate::domain::Estate,
    sentence: &str,
    previous: Option<&ModelCheck>,
    site: &CallSite,
    limit: Duration,
) -> ModelCheck {
    let mut check = ModelCheck {
        model: assistant.model().to_string(),
        sentence: sentence.to_string(),
        ..ModelCheck::default()
    };
    if let Some(p) = previous {
        check.calls = p.calls.clone();
        check.settled = p.settled.clone();
        if p.sentence == sentence && p.outcome != CheckOutcome::Failed {
            check.reading = p.reading.clone();
            check.notes = p.notes.clone();
            return check;
        }
    }
    let vars = intent_parse_vars(sentence, estate);
    match assistant
        .ask_checked("intent_parse", &vars, site, Some(limit), read_draft)
        .await
    {
        Ok((asked, draft)) => {
            check.calls.push(asked.call_id);
            let (reading, notes) = check_draft(draft, estate);
            check.reading = Some(reading);
            check.notes = notes;
        }
        Err(failed) => {
            check.calls.extend(failed.call_id);
            check.outcome = CheckOutcome::Failed;
            check.error = Some(assistant.redact(&failed.error.to_string()));
        }
    }
    check
}

fn output(intent: &Intent, check: &ModelCheck) -> Value {
    let mut value = serde_json::to_value(intent).unwrap_or(Value::Null);
    if let (Some(obj), Ok(llm)) = (value.as_object_mut(), serde_json::to_value(check)) {
        obj.insert("llm".into(), llm);
    }
    value
}

fn finish(resolution: Resolution, check: Option<ModelCheck>) -> StepResult {
    let output = match &check {
        Some(c) => output(&resolution.intent, c),
        None => serde_json::to_value(&resolution.intent).unwrap_or(Value::Null),
    };
    if !resolution.intent.missing.is_empty() || !resolution.ambiguities.is_empty() {
        return StepResult::NeedsClarification {
            question: question_for(&resolution.intent.missing, &resolution.ambiguities),
            output,
        };
    }
    let mut summary = summarise_intent(&resolution.intent);
    match &check {
        Some(c) if c.outcome == CheckOutcome::Failed => summary.push_str(&format!(
            " · rules only ({})",
            c.error.as_deref().unwrap_or("model failed")
        )),
        Some(c) => summary.push_str(&format!(
            " · model {} agreed (llm call {})",
            c.model,
            c.calls
                .iter()
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => {}
    }
    StepResult::Succeeded { summary, output }
}

fn question_for(missing: &[MissingField], ambiguities: &[String]) -> String {
    let mut asks: Vec<String> = missing
        .iter()
        .map(|m| match m {
            MissingField::Source => "What is the source (cloud, region and service, e.g. `aws lambda OrderProcessor in us-east-1`)?".to_string(),
            MissingField::Destination => "What is the destination (cloud, region and service, e.g. `azure sql orderdb in East US`)?".to_string(),
            MissingField::SourceCloud => "Which cloud is the source in (aws, azure, gcp, onprem)?".to_string(),
            MissingField::DestinationCloud => "Which cloud is the destination in (aws, azure, gcp, onprem)?".to_string(),
            MissingField::SourceRegion => "Which region is the source in?".to_string(),
            MissingField::DestinationRegion => "Which region is the destination in?".to_string(),
            MissingField::MonthlyTraffic => "About how much traffic per month (e.g. `500 GB/month`)?".to_string(),
        })
        .collect();
    asks.extend(ambiguities.iter().cloned());
    asks.join(" ")
}

fn summarise_intent(intent: &Intent) -> String {
    let end = |e: &crate::domain::Endpoint| {
        format!(
            "{}/{} {} {}",
            e.cloud.map(|c| c.as_str()).unwrap_or("?"),
            e.region.as_deref().unwrap_or("?"),
            e.service.as_deref().unwrap_or("service"),
            e.identifier.as_deref().unwrap_or("?")
        )
    };
    let mut parts = vec![format!(
        "{} → {}",
        end(&intent.source),
        end(&intent.destination)
    )];
    if let Some(ms) = intent.requirements.max_latency_ms {
        parts.push(format!("≤{ms} ms"));
    }
    if let Some(gb) = intent.requirements.monthly_traffic_gb {
        parts.push(format!("{gb} GB/month"));
    }
    if intent.requirements.encryption {
        parts.push("encrypted".into());
    }
    if intent.requirements.private_only {
        parts.push("private only".into());
    }
    if !intent.compliance.is_empty() {
        parts.push(
            intent
                .compliance
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    parts.join(" · ")
}
