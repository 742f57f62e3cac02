//! Typed identifiers. Raw strings become ids once, at the edge; a workflow id is
//! never confused with a connection id.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The digits of a numbered id typed as `<prefix>42`, `<PREFIX>42`, `#42` or
/// `42`; None when it is not one (empty, signs, too long, zero).
fn numbered(text: &str, prefix: &str) -> Option<i64> {
    let t = text.trim();
    let digits = t
        .strip_prefix(prefix)
        .or_else(|| t.strip_prefix(prefix.to_ascii_uppercase().as_str()))
        .or_else(|| t.strip_prefix('#'))
        .unwrap_or(t);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().filter(|n| *n > 0)
}

macro_rules! numbered_id {
    ($(#[$doc:meta])* $name:ident, $bad:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(i64);

        impl $name {
            pub fn new(raw: i64) -> Option<Self> {
                (raw > 0).then_some(Self(raw))
            }
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        #[doc = concat!("Why a text is not a ", $what, " id.")]
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("'{text}' is not a {what} id (expected something like {prefix}42)", text = .0, what = $what, prefix = $prefix)]
        pub struct $bad(pub String);

        impl FromStr for $name {
            type Err = $bad;
            #[doc = concat!("Accepts `", $prefix, "42`, its upper case, `#42` and `42`.")]
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                numbered(s, $prefix)
                    .map(Self)
                    .ok_or_else(|| $bad(s.trim().chars().take(40).collect()))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }

        impl TryFrom<String> for $name {
            type Error = $bad;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

numbered_id!(
    /// A workflow's id: a positive integer shown to people as `wf-42`.
    WorkflowId,
    BadWorkflowId,
    "wf-",
    "workflow"
);
numbered_id!(
    /// A bulk request's id (one CSV file, many workflows): `batch-7`.
    BatchId,
    BadBatchId,
    "batch-",
    "batch"
);

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
        assert_eq!("batch-3".parse::<BatchId>().unwrap().to_string(), "batch-3");
        assert_eq!("BATCH-3".parse::<BatchId>().unwrap().get(), 3);
        assert!("wf-3".parse::<BatchId>().is_err());
        assert!("batch-3".parse::<WorkflowId>().is_err());
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
