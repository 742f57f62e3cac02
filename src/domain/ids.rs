//! Typed identifiers. Raw strings become ids once, at the edge; a workflow id is
//! never confused with a connection id.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A workflow's id: a positive integer shown to people as `wf-42`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct WorkflowId(i64);

impl WorkflowId {
    pub fn new(raw: i64) -> Option<Self> {
        (raw > 0).then_some(Self(raw))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for WorkflowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wf-{}", self.0)
    }
}

/// Why a text is not a workflow id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a workflow id (expected something like wf-42)")]
pub struct BadWorkflowId(pub String);

impl FromStr for WorkflowId {
    type Err = BadWorkflowId;
    /// Accepts `wf-42`, `WF-42`, `#42` and `42`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t
            .strip_prefix("wf-")
            .or_else(|| t.strip_prefix("WF-"))
            .or_else(|| t.strip_prefix('#'))
            .unwrap_or(t);
        let shown: String = t.chars().take(40).collect();
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadWorkflowId(shown));
        }
        digits
            .parse::<i64>()
            .ok()
            .and_then(WorkflowId::new)
            .ok_or(BadWorkflowId(shown))
    }
}

impl From<WorkflowId> for String {
    fn from(id: WorkflowId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for WorkflowId {
    type Error = BadWorkflowId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A network in the estate: a VPC, VNet, GCP network, on-prem data centre or the internet.
    NetworkId
);
string_id!(
    /// A connection between two networks (a DX, an ExpressRoute, a VPN tunnel…).
    ConnectionId
);
string_id!(
    /// A service that intents can name (a Lambda, an Azure SQL server…).
    ServiceId
);
string_id!(
    /// A chat user as the platform names them (console login, Slack user id…).
    UserId
);
string_id!(
    /// A resource a provider created; returned by `apply`, used by `revert`.
    ResourceId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_ids_read_in_the_forms_people_type() {
        for text in ["wf-42", "WF-42", "#42", "42", " wf-42 "] {
            assert_eq!(text.parse::<WorkflowId>().unwrap().get(), 42, "{text}");
        }
        assert_eq!(WorkflowId::new(7).unwrap().to_string(), "wf-7");
    }

    #[test]
    fn malformed_workflow_ids_are_refused() {
        for text in [
            "",
            "wf-",
            "wf-0",
            "wf--1",
            "wf-1x",
            "abc",
            "wf-99999999999999999999",
            "ｗｆ-1",
        ] {
            assert!(text.parse::<WorkflowId>().is_err(), "{text}");
        }
    }
}
