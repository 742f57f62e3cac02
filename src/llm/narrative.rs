//! The model-written narrative of a `paths` answer (prompt `path_explain`).
//! The answer's own deterministic `reason` stays the explanation of record;
//! the narrative is added beside it, marked as model-written, and simply
//! left out when there is no model or the call fails.

use super::{Assistant, CallSite};
use crate::optimizer::choose::CostBasis;
use crate::optimizer::paths::PathOption;
use crate::optimizer::query::PathsAnswer;
use serde::Serialize;
use serde_json::{json, Value};

/// A narrative and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Narrative {
    pub text: String,
    /// Always `"model"`: say so wherever it is shown.
    pub written_by: &'static str,
    pub model: String,
    /// The `llm_calls` row.
    pub llm_call: i64,
}

impl Narrative {
    /// The narrative under a heading that says who wrote it.
    pub fn text_block(&self) -> String {
        format!(
            "Narrative (model-written by {}, call {}; the numbers above are authoritative):\n{}",
            self.model,
            self.llm_call,
            self.text.trim()
        )
    }
}

/// Pure: the `path_explain` variables for an answer, numbers rounded as the table shows them.
pub fn path_explain_vars(answer: &PathsAnswer) -> Value {
    let r = &answer.recommendation;
    let cost = |o: &PathOption| match r.basis {
        CostBasis::Marginal => o.marginal_monthly_usd,
        CostBasis::Full => o.full_monthly_usd,
    };
    let option = |o: &PathOption| {
        json!({
            "links": o.links,
            "latency_ms": format!("{:.1}", o.latency_ms),
            "reliability": format!("{:.5}", o.reliability),
            "cost_usd": format!("{:.2}", cost(o)),
            "public": o.public,
        })
    };
    json!({
        "from": answer.from.to_string(),
        "to": answer.to.to_string(),
        "traffic_gb": format!("{:.0}", r.traffic_gb),
        "basis": r.basis.as_str(),
        "objective": r.objective.as_str(),
        "reason": r.reason,
        "primary": option(&r.primary),
        "backup": r.backup.as_ref().map(option),
        "backup_note": r.backup_note,
        "options": r.options.iter().map(option).collect::<Vec<_>>(),
        "eliminated": r.eliminated.iter().map(|e| json!({"links": e.links, "reasons": e.reasons})).collect::<Vec<_>>(),
        "break_even": r.break_even.iter().map(|b| json!({"a": b.a, "b": b.b, "verdict": b.verdict})).collect::<Vec<_>>(),
    })
}

/// Asks for the narrative; None (logged and recorded) on any failure.
pub async fn narrate(assistant: &Assistant, answer: &PathsAnswer) -> Option<Narrative> {
    match assistant
        .ask(
            "path_explain",
            &path_explain_vars(answer),
            &CallSite::default(),
        )
        .await
    {
        Ok(asked) => Some(Narrative {
            text: asked.text,
            written_by: "model",
            model: asked.model,
            llm_call: asked.call_id,
        }),
        Err(failed) => {
            let error = assistant.redact(&failed.error.to_string());
            tracing::info!(%error, "paths: no narrative, the deterministic explanation stands");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Estate;
    use crate::llm::Prompts;
    use crate::optimizer::choose::{Constraints, Objective};
    use crate::optimizer::query::{answer, PathsRequest};

    #[test]
    fn path_explain_renders_every_number_of_the_answer() {
        let estate =
            Estate::from_yaml(crate::providers::lab::EMBEDDED_ESTATE, "globalcart").unwrap();
        let a = answer(
            &estate,
            &PathsRequest {
                from: "aws:us-east-1",
                to: "azure:eastus",
                traffic: "5TB",
                objective: Objective::Cost,
                basis: CostBasis::Marginal,
                constraints: Constraints::default(),
            },
        )
        .unwrap();
        let text = Prompts::embedded()
            .unwrap()
            .render("path_explain", None, &path_explain_vars(&a))
            .unwrap()
            .text;
        assert!(text.contains(&a.recommendation.reason), "{text}");
        assert!(text.contains("5000 GB/month"), "{text}");
        assert!(
            text.contains(&format!(
                "{:.2}",
                a.recommendation.primary.marginal_monthly_usd
            )),
            "{text}"
        );
        assert!(text.contains("per-GB charges only"), "{text}");
    }
}
