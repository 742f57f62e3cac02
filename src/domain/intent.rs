//! The typed intent a request is parsed into. Whatever parsed the text (rules
//! today, an LLM later), this is all the workflow ever sees of it.

use super::cloud::Cloud;
use super::ids::ServiceId;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceTag {
    PciDss,
    Hipaa,
    Soc2,
    Gdpr,
}

impl ComplianceTag {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceTag::PciDss => "pci_dss",
            ComplianceTag::Hipaa => "hipaa",
            ComplianceTag::Soc2 => "soc2",
            ComplianceTag::Gdpr => "gdpr",
        }
    }
}

impl fmt::Display for ComplianceTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One end of a requested connection, as far as the text told us.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub cloud: Option<Cloud>,
    /// Canonical region (`us-east-1`, `eastus`, `us-central1`, `dc1`).
    pub region: Option<String>,
    /// Service kind in the estate's words (`lambda`, `sql`, `vertex_ai`, …).
    pub service: Option<String>,
    /// The name, ARN or hostname the requester gave.
    pub identifier: Option<String>,
    /// The estate service this end resolved to, once resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<ServiceId>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Requirements {
    pub max_latency_ms: Option<f64>,
    pub monthly_traffic_gb: Option<f64>,
    pub encryption: bool,
    pub private_only: bool,
}

/// A field a clarifying question would ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MissingField {
    #[serde(rename = "source")]
    Source,
    #[serde(rename = "source.cloud")]
    SourceCloud,
    #[serde(rename = "source.region")]
    SourceRegion,
    #[serde(rename = "destination")]
    Destination,
    #[serde(rename = "destination.cloud")]
    DestinationCloud,
    #[serde(rename = "destination.region")]
    DestinationRegion,
    #[serde(rename = "requirements.monthly_traffic_gb")]
    MonthlyTraffic,
}

impl MissingField {
    pub fn as_str(self) -> &'static str {
        match self {
            MissingField::Source => "source",
            MissingField::SourceCloud => "source.cloud",
            MissingField::SourceRegion => "source.region",
            MissingField::Destination => "destination",
            MissingField::DestinationCloud => "destination.cloud",
            MissingField::DestinationRegion => "destination.region",
            MissingField::MonthlyTraffic => "requirements.monthly_traffic_gb",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub source: Endpoint,
    pub destination: Endpoint,
    pub requirements: Requirements,
    pub compliance: Vec<ComplianceTag>,
    pub missing: Vec<MissingField>,
}

impl Intent {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}
