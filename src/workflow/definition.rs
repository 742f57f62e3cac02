//! Workflow definitions (`workflows/*.yaml`): ordered steps with an action, an
//! optional `when` condition, a timeout, retry with backoff and what to do on
//! failure. Parsed once into typed values; a bad file is an error naming the file
//! and the step.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The built-in connect workflow, so the binary runs with no files around it.
pub const EMBEDDED_CONNECT: &str = include_str!("../../workflows/connect.yaml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Parse,
    Compliance,
    Design,
    Approval,
    Provision,
    Validate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Parse => "parse",
            Action::Compliance => "compliance",
            Action::Design => "design",
            Action::Approval => "approval",
            Action::Provision => "provision",
            Action::Validate => "validate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    #[default]
    Fail,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    pub max: u32,
    #[serde(with = "duration_text")]
    pub backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max: 0,
            backoff: Duration::from_secs(1),
        }
    }
}

impl Retry {
    /// Exponential backoff: `backoff × 2^(attempt-1)`, capped at ten minutes.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.backoff
            .saturating_mul(factor)
            .min(Duration::from_secs(600))
    }
}

/// Risk of a design, ordered so conditions can compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        })
    }
}

/// A step's `when`: the step runs only when the condition holds. On the approval
/// step a false condition means the request approves itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Condition {
    Always,
    Never,
    RiskAtLeast(Risk),
    MonthlyCostAbove(f64),
}

/// Facts a condition reads, gathered from earlier steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConditionFacts {
    pub risk: Risk,
    pub monthly_cost_usd: f64,
}

impl Condition {
    pub fn holds(&self, facts: &ConditionFacts) -> bool {
        match self {
            Condition::Always => true,
            Condition::Never => false,
            Condition::RiskAtLeast(r) => facts.risk >= *r,
            Condition::MonthlyCostAbove(x) => facts.monthly_cost_usd > *x,
        }
    }
}

impl FromStr for Condition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = s.split_whitespace().collect();
        match words.as_slice() {
            ["always"] | ["true"] => Ok(Condition::Always),
            ["never"] | ["false"] => Ok(Condition::Never),
            ["risk", ">=", level] => match *level {
                "low" => Ok(Condition::RiskAtLeast(Risk::Low)),
                "medium" => Ok(Condition::RiskAtLeast(Risk::Medium)),
                "high" => Ok(Condition::RiskAtLeast(Risk::High)),
                other => Err(format!("unknown risk level '{other}' (low, medium, high)")),
            },
            ["monthly_cost_usd", ">", amount] => amount
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Condition::MonthlyCostAbove)
                .ok_or_else(|| format!("'{amount}' is not a number")),
            _ => Err(format!(
                "cannot read condition '{s}' (expected always, never, 'risk >= low|medium|high' or 'monthly_cost_usd > N')"
            )),
        }
    }
}

impl TryFrom<String> for Condition {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Condition> for String {
    fn from(c: Condition) -> String {
        match c {
            Condition::Always => "always".into(),
            Condition::Never => "never".into(),
            Condition::RiskAtLeast(r) => format!("risk >= {r}"),
            Condition::MonthlyCostAbove(x) => format!("monthly_cost_usd > {x}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDefinition {
    pub name: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    #[serde(default)]
    pub retry: Retry,
    #[serde(default)]
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub name: String,
    pub version: u32,
    pub steps: Vec<StepDefinition>,
}

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("workflow file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("workflow file {path}: {source}")]
    Syntax {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("workflow file {path}: {what}")]
    Invalid { path: String, what: String },
}

impl Definition {
    pub fn from_yaml(text: &str, origin: &str) -> Result<Definition, DefinitionError> {
        let def: Definition =
            serde_yaml::from_str(text).map_err(|source| DefinitionError::Syntax {
                path: origin.to_string(),
                source,
            })?;
        let invalid = |what: String| DefinitionError::Invalid {
            path: origin.to_string(),
            what,
        };
        if def.steps.is_empty() {
            return Err(invalid("a workflow needs at least one step".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for step in &def.steps {
            if !seen.insert(step.name.as_str()) {
                return Err(invalid(format!("step '{}' appears twice", step.name)));
            }
            if step.timeout.is_zero() {
                return Err(invalid(format!(
                    "step '{}': timeout must be > 0",
                    step.name
                )));
            }
            if step.retry.max > 20 {
                return Err(invalid(format!(
                    "step '{}': retry.max {} is more than 20",
                    step.name, step.retry.max
                )));
            }
        }
        Ok(def)
    }

    pub fn load(path: &std::path::Path) -> Result<Definition, DefinitionError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Read {
            path: shown.clone(),
            source,
        })?;
        Definition::from_yaml(&text, &shown)
    }

    pub fn embedded_connect() -> Result<Definition, DefinitionError> {
        Definition::from_yaml(EMBEDDED_CONNECT, "workflows/connect.yaml (embedded)")
    }

    pub fn step_index(&self, action: Action) -> Option<usize> {
        self.steps.iter().position(|s| s.action == action)
    }
}

/// Durations written as `500ms`, `10s`, `5m`, `24h`, `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (expected e.g. 500ms, 10s, 5m, 24h)"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => {
            return Err(format!(
                "'{text}' has no known unit (expected ms, s, m, h or d)"
            ))
        }
    };
    if !seconds.is_finite() || !(0.0..=365.0 * 86400.0).contains(&seconds) {
        return Err(format!("'{text}' is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_connect_workflow_parses_in_order() {
        let def = Definition::embedded_connect().unwrap();
        let actions: Vec<_> = def.steps.iter().map(|s| s.action).collect();
        assert_eq!(
            actions,
            [
                Action::Parse,
                Action::Compliance,
                Action::Design,
                Action::Approval,
                Action::Provision,
                Action::Validate
            ]
        );
        assert_eq!(def.steps[3].timeout, Duration::from_secs(24 * 3600));
        assert_eq!(def.steps[3].when, None, "approval is manual by default");
    }

    #[test]
    fn bad_definitions_name_the_problem() {
        let unknown_action =
            "name: x\nversion: 1\nsteps:\n  - {name: a, action: teleport, timeout: 1s}\n";
        let err = Definition::from_yaml(unknown_action, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.yaml") && err.contains("teleport"), "{err}");
        let bad_when = "name: x\nversion: 1\nsteps:\n  - {name: a, action: approval, timeout: 1s, when: 'risk >= huge'}\n";
        let err = Definition::from_yaml(bad_when, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("huge"), "{err}");
        let dup = "name: x\nversion: 1\nsteps:\n  - {name: a, action: parse, timeout: 1s}\n  - {name: a, action: parse, timeout: 1s}\n";
        assert!(Definition::from_yaml(dup, "x").is_err());
    }

    #[test]
    fn durations_read_and_print_back() {
        for (text, secs) in [
            ("500ms", 0.5),
            ("10s", 10.0),
            ("5m", 300.0),
            ("24h", 86400.0),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.as_secs_f64(), secs);
            assert_eq!(format_duration(d), text);
        }
        for bad in ["", "10", "ten s", "5 weeks", "-1s", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let r = Retry {
            max: 5,
            backoff: Duration::from_secs(2),
        };
        assert_eq!(r.delay_before(1), Duration::from_secs(2));
        assert_eq!(r.delay_before(3), Duration::from_secs(8));
        assert_eq!(r.delay_before(40), Duration::from_secs(600));
    }

    #[test]
    fn conditions_compare_risk() {
        let c: Condition = "risk >= medium".parse().unwrap();
        let low = ConditionFacts {
            risk: Risk::Low,
            monthly_cost_usd: 0.0,
        };
        let high = ConditionFacts {
            risk: Risk::High,
            monthly_cost_usd: 0.0,
        };
        assert!(!c.holds(&low));
        assert!(c.holds(&high));
    }
}
