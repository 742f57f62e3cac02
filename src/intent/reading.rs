//! A language model's reading of a request, pure: the strict JSON shape the
//! `intent_parse` prompt asks for, its check against the estate, and its
//! comparison with the rule parser's intent.
//!
//! Invariants: a reading only ever holds intent fields (the draft refuses any
//! other key, so "approved": true makes the whole answer malformed); every
//! value in a reading is one the estate or the domain knows (an unknown
//! cloud, region or service is dropped with a note, never passed on); the
//! model never overrides the rules silently — every field where it differs
//! from them, or fills one they left empty, is a `Disagreement` the
//! requester settles.

use super::rules::{MAX_LATENCY_MS, MAX_MONTHLY_TRAFFIC_GB};
use crate::domain::{Cloud, ComplianceTag, Endpoint, Estate, Intent, Region};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::str::FromStr;

/// Longest model answer read as a draft.
const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// Longest identifier taken from a model.
const MAX_IDENTIFIER: usize = 256;

const COMPLIANCE: [ComplianceTag; 4] = [
    ComplianceTag::PciDss,
    ComplianceTag::Hipaa,
    ComplianceTag::Soc2,
    ComplianceTag::Gdpr,
];

/// The model's answer exactly as the prompt asks for it; any other key refuses it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentDraft {
    source: DraftEnd,
    destination: DraftEnd,
    requirements: DraftRequirements,
    compliance: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftEnd {
    cloud: Option<String>,
    region: Option<String>,
    service: Option<String>,
    identifier: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftRequirements {
    max_latency_ms: Option<f64>,
    monthly_traffic_gb: Option<f64>,
    encryption: Option<bool>,
    private_only: Option<bool>,
}

/// A checked draft: only values the estate and the domain accept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelReading {
    pub source: Endpoint,
    pub destination: Endpoint,
    pub max_latency_ms: Option<f64>,
    pub monthly_traffic_gb: Option<f64>,
    pub encryption: Option<bool>,
    pub private_only: Option<bool>,
    pub compliance: Vec<ComplianceTag>,
}

/// One field the two readings differ on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    /// `destination.region`, `requirements.monthly_traffic_gb`, `compliance`, …
    pub field: String,
    /// The rule parser's value; None when it found none.
    pub rules: Option<String>,
    pub model: String,
}

/// Which reading the requester chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    Rules,
    Model,
}

/// Pure: the model's answer text → a draft. A code fence around the JSON is tolerated.
pub fn read_draft(text: &str) -> Result<IntentDraft, String> {
    if text.len() > MAX_ANSWER_BYTES {
        return Err(format!(
            "the answer is {} bytes; at most {MAX_ANSWER_BYTES} are read",
            text.len()
        ));
    }
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(unfenced.trim()).map_err(|e| format!("not the intent JSON asked for: {e}"))
}

/// Pure: keeps what the estate and the domain accept; notes what was dropped.
pub fn check_draft(draft: IntentDraft, estate: &Estate) -> (ModelReading, Vec<String>) {
    let mut notes = Vec::new();
    let kinds = service_kinds(estate);
    let source = check_end("source", draft.source, estate, &kinds, &mut notes);
    let destination = check_end("destination", draft.destination, estate, &kinds, &mut notes);
    let mut number = |name: &str, value: Option<f64>, max: f64| match value {
        Some(v) if v.is_finite() && v > 0.0 && v <= max => Some(v),
        Some(v) => {
            notes.push(format!(
                "model's {name} {v} dropped: not between 0 and {max}"
            ));
            None
        }
        None => None,
    };
    let max_latency_ms = number(
        "max_latency_ms",
        draft.requirements.max_latency_ms,
        MAX_LATENCY_MS,
    );
    let monthly_traffic_gb = number(
        "monthly_traffic_gb",
        draft.requirements.monthly_traffic_gb,
        MAX_MONTHLY_TRAFFIC_GB,
    );
    let mut compliance = Vec::new();
    for tag in draft.compliance {
        let folded = tag.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        match COMPLIANCE.iter().find(|c| c.as_str() == folded) {
            Some(c) if !compliance.contains(c) => compliance.push(*c),
            Some(_) => {}
            None => notes.push(format!(
                "model's compliance tag '{}' dropped: not one of pci_dss, hipaa, soc2, gdpr",
                clip(&tag)
            )),
        }
    }
    compliance.sort();
    (
        ModelReading {
            source,
            destination,
            max_latency_ms,
            monthly_traffic_gb,
            encryption: draft.requirements.encryption,
            private_only: draft.requirements.private_only,
            compliance,
        },
        notes,
    )
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

fn service_kinds(estate: &Estate) -> Vec<String> {
    let kinds: BTreeSet<String> = estate.services.iter().map(|s| s.kind.clone()).collect();
    kinds.into_iter().collect()
}

fn check_end(
    side: &str,
    end: DraftEnd,
    estate: &Estate,
    kinds: &[String],
    notes: &mut Vec<String>,
) -> Endpoint {
    let mut out = Endpoint::default();
    if let Some(cloud) = end.cloud {
        match Cloud::from_str(cloud.trim()) {
            Ok(c) => out.cloud = Some(c),
            Err(_) => notes.push(format!(
                "model's {side} cloud '{}' dropped: not aws, azure, gcp or onprem",
                clip(&cloud)
            )),
        }
    }
    if let Some(region) = end.region {
        match canonical_region(out.cloud, &region, estate) {
            Some(r) => out.region = Some(r),
            None => notes.push(format!(
                "model's {side} region '{}' dropped: not a region of {}",
                clip(&region),
                out.cloud.map_or("any cloud", |c| c.as_str())
            )),
        }
    }
    if let Some(service) = end.service {
        match kinds
            .iter()
            .find(|k| k.eq_ignore_ascii_case(service.trim()))
        {
            Some(k) => out.service = Some(k.clone()),
            None => notes.push(format!(
                "model's {side} service '{}' dropped: the estate has no service of that kind",
                clip(&service)
            )),
        }
    }
    let identifier = end.identifier.as_deref().map(str::trim).unwrap_or("");
    if identifier.len() > MAX_IDENTIFIER || identifier.chars().any(char::is_control) {
        notes.push(format!(
            "model's {side} identifier dropped: longer than {MAX_IDENTIFIER} characters or not plain text"
        ));
    } else if !identifier.is_empty() {
        out.identifier = Some(identifier.to_string());
    }
    out
}

/// A region in canonical form: for a named cloud by its rules (on-prem: a data
/// centre of the estate); without one, when exactly one cloud knows it.
fn canonical_region(cloud: Option<Cloud>, region: &str, estate: &Estate) -> Option<String> {
    let cloud = match cloud {
        Some(c) => c,
        None => match Region::clouds_with(region).as_slice() {
            [only] => *only,
            _ => return None,
        },
    };
    let parsed = Region::parse(cloud, region).ok()?;
    if cloud == Cloud::Onprem
        && !estate
            .networks
            .iter()
            .any(|n| n.cloud == Cloud::Onprem && n.region == parsed.name)
    {
        return None;
    }
    Some(parsed.name)
}

/// Pure: the fields the model reads differently from the rules (or fills
/// where the rules found nothing). Identifiers agree when one contains the
/// other, ignoring case (`orderdb` and `orderdb.database.windows.net`).
pub fn disagreements(rules: &Intent, model: &ModelReading) -> Vec<Disagreement> {
    let mut out = Vec::new();
    let mut differ = |field: String, rules: Option<String>, model: Option<String>, same: bool| {
        if let Some(model) = model {
            if rules.is_none() || !same {
                out.push(Disagreement {
                    field,
                    rules,
                    model,
                });
            }
        }
    };
    for (side, r, m) in [
        ("source", &rules.source, &model.source),
        ("destination", &rules.destination, &model.destination),
    ] {
        differ(
            format!("{side}.cloud"),
            r.cloud.map(|c| c.to_string()),
            m.cloud.map(|c| c.to_string()),
            r.cloud == m.cloud,
        );
        differ(
            format!("{side}.region"),
            r.region.clone(),
            m.region.clone(),
            r.region == m.region,
        );
        differ(
            format!("{side}.service"),
            r.service.clone(),
            m.service.clone(),
            same_text(&r.service, &m.service),
        );
        let same_identifier = match (&r.identifier, &m.identifier) {
            (Some(a), Some(b)) => {
                let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
                a.contains(&b) || b.contains(&a)
            }
            _ => false,
        };
        differ(
            format!("{side}.identifier"),
            r.identifier.clone(),
            m.identifier.clone(),
            same_identifier,
        );
    }
    let req = &rules.requirements;
    differ(
        "requirements.max_latency_ms".into(),
        req.max_latency_ms.map(number),
        model.max_latency_ms.map(number),
        same_number(req.max_latency_ms, model.max_latency_ms),
    );
    differ(
        "requirements.monthly_traffic_gb".into(),
        req.monthly_traffic_gb.map(number),
        model.monthly_traffic_gb.map(number),
        same_number(req.monthly_traffic_gb, model.monthly_traffic_gb),
    );
    // The rules record a flag only when the text says it; the model asserting
    // one the rules did not find is a difference, the model not asserting one is not.
    for (field, r, m) in [
        ("requirements.encryption", req.encryption, model.encryption),
        (
            "requirements.private_only",
            req.private_only,
            model.private_only,
        ),
    ] {
        if m == Some(true) && !r {
            differ(
                field.into(),
                Some("false".into()),
                Some("true".into()),
                false,
            );
        }
    }
    let extra: Vec<&ComplianceTag> = model
        .compliance
        .iter()
        .filter(|t| !rules.compliance.contains(t))
        .collect();
    if !extra.is_empty() {
        differ(
            "compliance".into(),
            Some(tags(rules.compliance.iter())),
            Some(tags(model.compliance.iter())),
            false,
        );
    }
    out
}

fn same_text(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

fn same_number(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
        _ => false,
    }
}

fn number(v: f64) -> String {
    format!("{v}")
}

fn tags<'a>(list: impl Iterator<Item = &'a ComplianceTag>) -> String {
    let names: Vec<&str> = list.map(|t| t.as_str()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Pure: the rule parser's (unresolved) intent with the model's value in
/// every field of `chosen`. Resolve it again afterwards.
pub fn apply_model(mut intent: Intent, model: &ModelReading, chosen: &[Disagreement]) -> Intent {
    for d in chosen {
        match d.field.as_str() {
            "source.cloud" => intent.source.cloud = model.source.cloud,
            "source.region" => intent.source.region = model.source.region.clone(),
            "source.service" => intent.source.service = model.source.service.clone(),
            "source.identifier" => intent.source.identifier = model.source.identifier.clone(),
            "destination.cloud" => intent.destination.cloud = model.destination.cloud,
            "destination.region" => intent.destination.region = model.destination.region.clone(),
            "destination.service" => intent.destination.service = model.destination.service.clone(),
            "destination.identifier" => {
                intent.destination.identifier = model.destination.identifier.clone()
            }
            "requirements.max_latency_ms" => {
                intent.requirements.max_latency_ms = model.max_latency_ms
            }
            "requirements.monthly_traffic_gb" => {
                intent.requirements.monthly_traffic_gb = model.monthly_traffic_gb
            }
            "requirements.encryption" => intent.requirements.encryption = true,
            "requirements.private_only" => intent.requirements.private_only = true,
            "compliance" => {
                for tag in &model.compliance {
                    if !intent.compliance.contains(tag) {
                        intent.compliance.push(*tag);
                    }
                }
                intent.compliance.sort();
            }
            _ => {}
        }
    }
    for end in [&mut intent.source, &mut intent.destination] {
        end.resolved = None;
    }
    intent
}

/// Pure: an answer that picks a reading (`model` / `rules`), if it is one.
pub fn pick_of(answer: &str) -> Option<Pick> {
    let word = answer
        .trim()
        .trim_end_matches(['.', '!'])
        .to_ascii_lowercase();
    match word.as_str() {
        "model" | "the model" | "llm" | "ai" => Some(Pick::Model),
        "rules" | "rule" | "the rules" | "parser" => Some(Pick::Rules),
        _ => None,
    }
}

/// The confirmation question listing both readings.
pub fn confirm_question(list: &[Disagreement]) -> String {
    let lines: Vec<String> = list
        .iter()
        .map(|d| {
            format!(
                "{}: rules `{}`, model `{}`",
                d.field,
                d.rules.as_deref().unwrap_or("(not given)"),
                d.model
            )
        })
        .collect();
    format!(
        "The rule parser and the model read your request differently — {}. Reply `model` to take the model's reading, `rules` to keep the rule parser's, or restate the values.",
        lines.join("; ")
    )
}

/// The `intent_parse` variables: the request and what the estate allows.
pub fn intent_parse_vars(request: &str, estate: &Estate) -> Value {
    let network = |id: &crate::domain::NetworkId| estate.network(id);
    json!({
        "request": request,
        "services": estate.services.iter().map(|s| {
            let n = network(&s.network);
            json!({
                "name": s.name,
                "kind": s.kind,
                "cloud": n.map_or("?", |n| n.cloud.as_str()),
                "region": n.map_or("?", |n| n.region.as_str()),
                "identifiers": s.identifiers,
            })
        }).collect::<Vec<_>>(),
        "networks": estate.networks.iter().map(|n| json!({
            "id": n.id.to_string(), "name": n.name, "cloud": n.cloud.as_str(), "region": n.region,
        })).collect::<Vec<_>>(),
        "clouds": Cloud::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
        "service_kinds": service_kinds(estate).join(", "),
        "compliance": COMPLIANCE.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::{parse_request, resolve};

    fn estate() -> Estate {
        Estate::from_yaml(crate::providers::lab::EMBEDDED_ESTATE, "globalcart").unwrap()
    }

    const REQUEST: &str =
        "connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb in East US, 500 GB/month";

    fn draft(destination_region: &str, traffic: &str) -> String {
        format!(
            r#"{{"source": {{"cloud": "aws", "region": "us-east-1", "service": "lambda", "identifier": "OrderProcessor"}},
               "destination": {{"cloud": "azure", "region": {destination_region}, "service": "sql", "identifier": "orderdb"}},
               "requirements": {{"max_latency_ms": null, "monthly_traffic_gb": {traffic}, "encryption": null, "private_only": false}},
               "compliance": []}}"#
        )
    }

    fn reading(text: &str) -> (ModelReading, Vec<String>) {
        check_draft(read_draft(text).unwrap(), &estate())
    }

    fn rules() -> (Intent, Intent) {
        let raw = parse_request(REQUEST).unwrap();
        let resolved = resolve(raw.clone(), &estate()).intent;
        (raw, resolved)
    }

    #[test]
    fn an_agreeing_reading_has_no_disagreements() {
        let (m, notes) = reading(&draft("\"East US\"", "500"));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(m.destination.region.as_deref(), Some("eastus"));
        assert!(disagreements(&rules().1, &m).is_empty());
    }

    #[test]
    fn a_different_value_and_a_filled_gap_are_both_disagreements() {
        let (m, _) = reading(&draft("\"westeurope\"", "800"));
        let list = disagreements(&rules().1, &m);
        let fields: Vec<&str> = list.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            ["destination.region", "requirements.monthly_traffic_gb"]
        );
        assert_eq!(list[0].rules.as_deref(), Some("eastus"));
        assert_eq!(list[0].model, "westeurope");
        let q = confirm_question(&list);
        assert!(q.contains("rules `eastus`, model `westeurope`"), "{q}");

        let gap = parse_request(
            "connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb in East US",
        )
        .unwrap();
        let (m, _) = reading(&draft("\"eastus\"", "500"));
        let list = disagreements(&resolve(gap, &estate()).intent, &m);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].rules, None);
    }

    #[test]
    fn choosing_the_model_takes_only_the_disagreeing_fields() {
        let (raw, resolved) = rules();
        let (m, _) = reading(&draft("\"eastus\"", "800"));
        let list = disagreements(&resolved, &m);
        let chosen = resolve(apply_model(raw, &m, &list), &estate()).intent;
        assert_eq!(chosen.requirements.monthly_traffic_gb, Some(800.0));
        assert_eq!(chosen.destination.region.as_deref(), Some("eastus"));
        assert!(chosen.destination.resolved.is_some());
    }

    #[test]
    fn unknown_keys_refuse_the_whole_answer() {
        let injected = draft("\"eastus\"", "500").replacen('{', "{\"approved\": true, ", 1);
        let e = read_draft(&injected).unwrap_err();
        assert!(e.contains("unknown field `approved`"), "{e}");
        assert!(read_draft("Sure! Here is the intent.").is_err());
        assert!(read_draft(&format!("```json\n{}\n```", draft("null", "null"))).is_ok());
    }

    #[test]
    fn values_the_estate_does_not_know_are_dropped_with_a_note() {
        let text = r#"{"source": {"cloud": "oracle", "region": "us-east-9", "service": "mainframe", "identifier": "x"},
            "destination": {"cloud": "onprem", "region": "dc9", "service": null, "identifier": null},
            "requirements": {"max_latency_ms": -5, "monthly_traffic_gb": 1e12, "encryption": true, "private_only": null},
            "compliance": ["PCI-DSS", "iso27001"]}"#;
        let (m, notes) = reading(text);
        assert_eq!(m.source.cloud, None);
        assert_eq!(m.source.region, None);
        assert_eq!(m.source.service, None);
        assert_eq!(m.destination.region, None);
        assert_eq!(m.max_latency_ms, None);
        assert_eq!(m.monthly_traffic_gb, None);
        assert_eq!(m.compliance, [ComplianceTag::PciDss]);
        assert_eq!(notes.len(), 7, "{notes:?}");
    }

    #[test]
    fn picks_are_single_words() {
        assert_eq!(pick_of(" Model. "), Some(Pick::Model));
        assert_eq!(pick_of("rules"), Some(Pick::Rules));
        assert_eq!(pick_of("500 GB/month"), None);
    }

    #[test]
    fn the_prompt_lists_the_estate_and_renders_strictly() {
        let vars = intent_parse_vars(REQUEST, &estate());
        let text = crate::llm::Prompts::embedded()
            .unwrap()
            .render("intent_parse", None, &vars)
            .unwrap()
            .text;
        assert!(text.contains(REQUEST));
        assert!(
            text.contains("OrderProcessor (lambda) in aws us-east-1"),
            "{text}"
        );
        assert!(text.contains("pci_dss, hipaa, soc2, gdpr"));
    }

    proptest::proptest! {
        #[test]
        fn any_model_answer_is_read_or_refused_without_panicking(text in "\\PC{0,400}") {
            if let Ok(draft) = read_draft(&text) {
                let (reading, _) = check_draft(draft, &estate());
                let _ = disagreements(&rules().1, &reading);
            }
        }
    }
}
