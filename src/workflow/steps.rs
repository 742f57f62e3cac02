//! The step actions: what each step of a workflow does. Each reads what earlier
//! steps committed, acts (through the provider for side effects, always under
//! an idempotency key of workflow id + step + change index), and reports a
//! `StepResult` for the machine. Re-running a step after a crash is safe.

use super::definition::{Action, ConditionFacts, Risk, StepDefinition};
use super::machine::StepResult;
use crate::compliance::Policies;
use crate::domain::{ConnectionStatus, Intent};
use crate::optimizer::design::still_holds;
use crate::optimizer::{design, Design};
use crate::providers::{CloudProvider, ProviderError};
use crate::store::{StepRecord, Store, WorkflowRecord};
use serde_json::{json, Value};
use std::sync::Arc;

/// What steps may touch.
pub struct StepEnv {
    pub policies: Arc<Policies>,
    pub provider: Arc<dyn CloudProvider>,
    pub store: Store,
    /// The language model the parse step also asks; None: the rules alone.
    pub llm: Option<Arc<crate::llm::Assistant>>,
}

fn fail(error: impl Into<String>) -> StepResult {
    StepResult::Failed {
        error: error.into(),
        retryable: false,
    }
}

pub(super) fn provider_failure(e: ProviderError) -> StepResult {
    StepResult::Failed {
        retryable: e.is_retryable(),
        error: e.to_string(),
    }
}

/// The request as the parser sees it: the original text plus each answer to a
/// clarifying question, joined as one sentence.
pub fn request_sentence(request_text: &str) -> String {
    request_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn output_of(steps: &[StepRecord], action: Action) -> Option<&Value> {
    steps
        .iter()
        .find(|s| s.action == action.as_str())
        .and_then(|s| s.output.as_ref())
}

pub fn intent_of(steps: &[StepRecord]) -> Result<Intent, String> {
    let value = output_of(steps, Action::Parse).ok_or("the parse step has no output")?;
    serde_json::from_value(value.clone()).map_err(|e| format!("stored intent is unreadable: {e}"))
}

pub fn design_of(steps: &[StepRecord]) -> Result<Design, String> {
    let value = output_of(steps, Action::Design).ok_or("the design step has no output")?;
    serde_json::from_value(value.clone()).map_err(|e| format!("stored design is unreadable: {e}"))
}

/// Facts `when` conditions read; taken from the design.
pub fn condition_facts(steps: &[StepRecord]) -> Option<ConditionFacts> {
    let design = design_of(steps).ok()?;
    Some(ConditionFacts {
        risk: design.risk,
        monthly_cost_usd: design.primary.monthly_cost_usd,
    })
}

pub async fn run(
    env: &StepEnv,
    record: &WorkflowRecord,
    steps: &[StepRecord],
    step: &StepDefinition,
) -> StepResult {
    if let Some(condition) = &step.when {
        let facts = condition_facts(steps).unwrap_or(ConditionFacts {
            risk: Risk::High,
            monthly_cost_usd: f64::INFINITY,
        });
        if !condition.holds(&facts) {
            let why = format!(
                "condition '{}' does not hold (risk {}, ${:.2}/month)",
                String::from(condition.clone()),
                facts.risk,
                facts.monthly_cost_usd
            );
            let summary = if step.action == Action::Approval {
                format!("approved by policy: {why}")
            } else {
                format!("skipped: {why}")
            };
            return StepResult::Skipped {
                output: json!({ "skipped": why }),
                summary,
            };
        }
    }
    match step.action {
        Action::Parse => super::parse_step::parse(env, record, steps, step).await,
        Action::Compliance => compliance(env, steps),
        Action::Design => design_step(env, steps).await,
        Action::Approval => StepResult::AwaitsApproval { output: json!({}) },
        Action::Provision => provision(env, record, steps, &step.name).await,
        Action::Validate => validate(env, record, steps).await,
    }
}

fn violations_text(verdict: &crate::compliance::Verdict) -> String {
    verdict
        .violations
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn compliance(env: &StepEnv, steps: &[StepRecord]) -> StepResult {
    let intent = match intent_of(steps) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let verdict = env.policies.check_intent(&intent);
    if verdict.passed() {
        StepResult::Succeeded {
            summary: format!("passes {}", verdict.applied.join(", ")),
            output: serde_json::to_value(&verdict).unwrap_or(Value::Null),
        }
    } else {
        fail(format!("policy violations: {}", violations_text(&verdict)))
    }
}

async fn design_step(env: &StepEnv, steps: &[StepRecord]) -> StepResult {
    let intent = match intent_of(steps) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let live = match env.provider.discover().await {
        Ok(estate) => estate,
        Err(e) => return provider_failure(e),
    };
    match design(&intent, &live, &env.policies) {
        Ok(mut d) => {
            // A change no provider can make fails the design, before anyone
            // is asked to approve it.
            if let Some(e) = d
                .changes
                .iter()
                .find_map(|c| env.provider.can_act(c, &live).err())
            {
                return fail(e.to_string());
            }
            d.calls = d
                .changes
                .iter()
                .flat_map(|c| env.provider.plan(c, &live))
                .collect();
            d.basis = env.provider.basis(&live);
            StepResult::Succeeded {
                summary: format!(
                    "{} · {:.1} ms · ${:.2}/month (marginal) · backup {} · risk {}",
                    d.primary.description,
                    d.primary.latency_ms,
                    d.primary.monthly_cost_usd,
                    d.backup
                        .as_ref()
                        .map(|b| b.description.as_str())
                        .unwrap_or("none"),
                    d.risk
                ),
                output: serde_json::to_value(&d).unwrap_or(Value::Null),
            }
        }
        Err(e) => fail(e.to_string()),
    }
}

/// The idempotency key for change `index` of a workflow's provision step.
pub fn idempotency_key(record: &WorkflowRecord, step_name: &str, index: usize) -> String {
    format!("{}/{step_name}/{index}", record.id)
}

async fn provision(
    env: &StepEnv,
    record: &WorkflowRecord,
    steps: &[StepRecord],
    step_name: &str,
) -> StepResult {
    let design = match design_of(steps) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    // What the design relied on must still be there before anything changes.
    let live = match env.provider.discover().await {
        Ok(estate) => estate,
        Err(e) => return provider_failure(e),
    };
    if let Err(gone) = still_holds(&design, &live) {
        return fail(format!(
            "the estate changed since the design ({}): {}",
            live.name,
            gone.join("; ")
        ));
    }
    let mut applied = Vec::new();
    for (index, change) in design.changes.iter().enumerate() {
        let key = idempotency_key(record, step_name, index);
        let resource = match env.provider.apply(change, &key).await {
            Ok(r) => r,
            Err(e) => return provider_failure(e),
        };
        if let Err(e) = env
            .store
            .record_resource(
                record.id,
                step_name,
                &key,
                env.provider.owner(&resource),
                &resource,
                change,
            )
            .await
        {
            return StepResult::Failed {
                error: e.to_string(),
                retryable: true,
            };
        }
        applied.push(json!({ "key": key, "resource": resource, "change": change.to_string() }));
    }
    StepResult::Succeeded {
        summary: format!(
            "applied {} change(s): {}",
            design.changes.len(),
            design
                .changes
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        output: json!({ "resources": applied }),
    }
}

async fn validate(env: &StepEnv, record: &WorkflowRecord, steps: &[StepRecord]) -> StepResult {
    let (intent, design) = match (intent_of(steps), design_of(steps)) {
        (Ok(i), Ok(d)) => (i, d),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let retry = |error: String| StepResult::Failed {
        error,
        retryable: true,
    };
    let resources = match env.store.resources(record.id, true).await {
        Ok(r) => r,
        Err(e) => return retry(e.to_string()),
    };
    if resources.len() != design.changes.len() {
        return retry(format!(
            "expected {} provisioned resources, found {}",
            design.changes.len(),
            resources.len()
        ));
    }
    let ids: Vec<_> = resources.iter().map(|r| r.resource_id.clone()).collect();
    let present = match env.provider.present(&ids).await {
        Ok(p) => p,
        Err(e) => return provider_failure(e),
    };
    let mut checks = Vec::new();
    for r in &resources {
        if !present.contains(&r.resource_id) {
            return retry(format!("{} ({}) is missing", r.resource_id, r.change));
        }
        checks.push(format!("{} present ({})", r.resource_id, r.change));
    }
    let live = match env.provider.discover().await {
        Ok(estate) => estate,
        Err(e) => return provider_failure(e),
    };
    let mut hops = Vec::new();
    for id in &design.primary.connections {
        match live.connection(id) {
            Some(c) if c.status == ConnectionStatus::Down => return retry(format!("{id} is down")),
            Some(c) => hops.push(c),
            None => return retry(format!("{id} no longer exists")),
        }
    }
    let latency: f64 = hops.iter().map(|c| c.latency_ms.0).sum();
    if let Some(max) = intent.requirements.max_latency_ms {
        if latency > max {
            return retry(format!(
                "path latency {latency:.1} ms exceeds the {max} ms bound"
            ));
        }
    }
    checks.push(format!("path latency {latency:.1} ms"));
    let verdict = env.policies.check_design(&intent, &live, &hops);
    if !verdict.passed() {
        return retry(format!(
            "policy no longer met: {}",
            violations_text(&verdict)
        ));
    }
    checks.push(format!("policy met ({})", verdict.applied.join(", ")));
    StepResult::Succeeded {
        summary: checks.join("; "),
        output: json!({ "checks": checks, "latency_ms": latency }),
    }
}
