//! The compliance policy engine: which policies a request is subject to, and
//! whether the request (before any design) and a concrete design path satisfy
//! them. Pure: it reads a loaded `Policies`, an `Intent`, the `Estate` and a path,
//! and returns a `Verdict`; no IO besides loading the policy file at the edge.
//!
//! A request is subject to `default` plus the policy of each compliance tag it
//! carries. The engine fails closed: a tag with no policy in the file, a path hop
//! that touches a network the estate does not know, or an endpoint in an
//! unlisted place is a violation, never a silent pass. Every violation names the
//! policy and the rule (the key in the policy file) and says how to fix it.

mod policy;

pub use policy::{Policies, Policy, PolicyError, PolicyName, RegionPattern, Zone, ZoneName};

use crate::domain::{
    Cloud, ComplianceTag, Connection, Endpoint, Estate, Intent, Millis, NetworkId, NetworkKind,
    Region,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The outcome of a check: the policies applied, in order, and what broke them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub applied: Vec<String>,
    pub violations: Vec<Violation>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// One broken rule. `policy` is a policy name, or `request` for the requester's
/// own constraints (`private_only`); `rule` is the key in the policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub policy: String,
    pub rule: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}: {} (fix: {})",
            self.policy, self.rule, self.message, self.fix
        )
    }
}

/// The rules the engine checks, named as the policy file names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// The request carries a tag the file has no policy for.
    Defined,
    EncryptionRequired,
    PublicInternetAllowed,
    DataResidency,
    MaxLatencyMs,
    /// The request itself asked for a private path.
    PrivateOnly,
}

impl Rule {
    fn as_str(self) -> &'static str {
        match self {
            Rule::Defined => "defined",
            Rule::EncryptionRequired => "encryption_required",
            Rule::PublicInternetAllowed => "public_internet_allowed",
            Rule::DataResidency => "data_residency",
            Rule::MaxLatencyMs => "max_latency_ms",
            Rule::PrivateOnly => "private_only",
        }
    }
}

/// Policy name used for violations of the request's own constraints.
const REQUEST: &str = "request";

const FIX_ENCRYPT_REQUEST: &str = "add 'encrypted' (TLS) to the request";
const FIX_PRIVATE_PATH: &str =
    "use a private path (Direct Connect, ExpressRoute, Interconnect or VPN)";

fn violation(policy: &str, rule: Rule, message: String, fix: String) -> Violation {
    Violation {
        policy: policy.to_string(),
        rule: rule.as_str().to_string(),
        message,
        fix,
    }
}

/// The policies a request is subject to, and the tags it carries that have none.
struct Subject<'p> {
    applied: Vec<(PolicyName, &'p Policy)>,
    undefined: Vec<ComplianceTag>,
}

impl Policies {
    /// Which policy names apply to this intent (default first, then tags).
    pub fn applicable(&self, intent: &Intent) -> Vec<String> {
        self.subject(intent)
            .applied
            .iter()
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// Whether any applicable policy asks for a second, disjoint private path.
    /// A single path cannot show this, so the designer asks here.
    pub fn backup_path_required(&self, intent: &Intent) -> bool {
        self.subject(intent)
            .applied
            .iter()
            .any(|(_, p)| p.require_backup_path)
    }

    /// Checks the request alone, before a design exists: encryption must be asked
    /// for where required, and endpoints whose cloud and region are given must lie
    /// in every applicable residency zone. Endpoints without a region are left to
    /// `check_design`, which sees the networks.
    pub fn check_intent(&self, intent: &Intent) -> Verdict {
        let subject = self.subject(intent);
        let mut violations = undefined_tag_violations(&subject);
        for (name, policy) in &subject.applied {
            let name = name.as_str();
            if policy.encryption_required && !intent.requirements.encryption {
                violations.push(violation(
                    name,
                    Rule::EncryptionRequired,
                    format!(
                        "{name} requires encryption in transit; the request does not ask for it"
                    ),
                    FIX_ENCRYPT_REQUEST.to_string(),
                ));
            }
            violations.extend(self.endpoint_residency(name, policy, intent));
        }
        verdict(&subject, violations)
    }

    /// Checks a concrete design path (its connections in order) for the intent:
    /// no public hop where a policy or the request forbids it; encryption where
    /// required (TLS asked for in the request, or every hop encrypts); every
    /// network the path touches inside the residency zones (the internet is in
    /// none); the path's total latency within each policy's ceiling.
    pub fn check_design(&self, intent: &Intent, estate: &Estate, path: &[&Connection]) -> Verdict {
        let subject = self.subject(intent);
        let mut violations = undefined_tag_violations(&subject);
        let public_hops: Vec<&Connection> = path
            .iter()
            .copied()
            .filter(|c| hop_is_public(estate, c))
            .collect();
        let total_latency = path.iter().fold(Millis(0.0), |sum, c| sum + c.latency_ms);

        for (name, policy) in &subject.applied {
            let name = name.as_str();
            if policy.encryption_required && !intent.requirements.encryption {
                violations.extend(encryption_violation(name, path));
            }
            if !policy.public_internet_allowed {
                for hop in &public_hops {
                    violations.push(violation(
                        name,
                        Rule::PublicInternetAllowed,
                        format!("hop {} crosses the public internet", hop.id),
                        FIX_PRIVATE_PATH.to_string(),
                    ));
                }
            }
            if !policy.data_residency.is_empty() {
                if path.is_empty() {
                    // Nothing to walk (both ends in one network): judge the endpoints.
                    violations.extend(self.endpoint_residency(name, policy, intent));
                } else {
                    violations.extend(self.path_residency(name, policy, estate, path));
                }
            }
            if let Some(max) = policy.max_latency_ms {
                if total_latency > max {
                    violations.push(violation(
                        name,
                        Rule::MaxLatencyMs,
                        format!("path latency {total_latency} exceeds {name}'s ceiling of {max}"),
                        "choose a lower-latency path (fewer hops, a direct circuit or closer regions)"
                            .to_string(),
                    ));
                }
            }
        }
        if intent.requirements.private_only {
            for hop in &public_hops {
                violations.push(violation(
                    REQUEST,
                    Rule::PrivateOnly,
                    format!(
                        "hop {} crosses the public internet; the request asks for a private path",
                        hop.id
                    ),
                    FIX_PRIVATE_PATH.to_string(),
                ));
            }
        }
        verdict(&subject, violations)
    }

    /// `default` first, then each tag's policy once, in the order the request gave them.
    fn subject(&self, intent: &Intent) -> Subject<'_> {
        let mut applied = Vec::new();
        let mut undefined = Vec::new();
        if let Some(p) = self.policies.get(&PolicyName::Default) {
            applied.push((PolicyName::Default, p));
        }
        for tag in &intent.compliance {
            let name = PolicyName::Tag(*tag);
            if applied.iter().any(|(n, _)| *n == name) || undefined.contains(tag) {
                continue;
            }
            match self.policies.get(&name) {
                Some(p) => applied.push((name, p)),
                None => undefined.push(*tag),
            }
        }
        Subject { applied, undefined }
    }

    /// Whether `region` of `cloud` lies in one of `zones`.
    fn in_zones(&self, zones: &[ZoneName], cloud: Cloud, region: &str) -> bool {
        zones
            .iter()
            .filter_map(|z| self.zones.get(z))
            .any(|zone| zone.contains(cloud, region))
    }

    fn endpoint_residency(&self, name: &str, policy: &Policy, intent: &Intent) -> Vec<Violation> {
        let zones = &policy.data_residency;
        if zones.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (side, end) in [
            ("source", &intent.source),
            ("destination", &intent.destination),
        ] {
            let Some(region) = end.region.as_deref() else {
                continue;
            };
            let outside: Vec<(Cloud, String)> = endpoint_places(end, region)
                .into_iter()
                .filter(|(cloud, region)| !self.in_zones(zones, *cloud, region))
                .collect();
            if let Some((cloud, region)) = outside.first() {
                out.push(violation(
                    name,
                    Rule::DataResidency,
                    format!(
                        "{side} region {region} ({cloud}) is outside {name}'s residency zone {}",
                        zone_list(zones)
                    ),
                    format!("choose a {side} region in {}", zone_list(zones)),
                ));
            }
        }
        out
    }

    fn path_residency(
        &self,
        name: &str,
        policy: &Policy,
        estate: &Estate,
        path: &[&Connection],
    ) -> Vec<Violation> {
        let zones = &policy.data_residency;
        let fix = format!(
            "route only through networks and circuits in {}",
            zone_list(zones)
        );
        let mut seen: Vec<&NetworkId> = Vec::new();
        let mut out = Vec::new();
        for hop in path {
            for end in [&hop.a, &hop.b] {
                if seen.contains(&end) {
                    continue;
                }
                seen.push(end);
                let message = match estate.network(end) {
                    None => Some(format!(
                        "hop {} touches network {end}, which the estate does not know",
                        hop.id
                    )),
                    Some(n) if n.kind == NetworkKind::Internet => Some(format!(
                        "hop {} touches the public internet (network {end}), which is outside every residency zone",
                        hop.id
                    )),
                    Some(n) if !self.in_zones(zones, n.cloud, &n.region) => Some(format!(
                        "hop {} touches network {end} ({} {}), outside {name}'s residency zone {}",
                        hop.id,
                        n.cloud,
                        n.region,
                        zone_list(zones)
                    )),
                    Some(_) => None,
                };
                if let Some(message) = message {
                    out.push(violation(name, Rule::DataResidency, message, fix.clone()));
                }
            }
        }
        out
    }
}

fn verdict(subject: &Subject<'_>, violations: Vec<Violation>) -> Verdict {
    Verdict {
        applied: subject.applied.iter().map(|(n, _)| n.to_string()).collect(),
        violations,
    }
}

/// A tag with no policy cannot be checked, so it cannot pass.
fn undefined_tag_violations(subject: &Subject<'_>) -> Vec<Violation> {
    subject
        .undefined
        .iter()
        .map(|tag| {
            violation(
                tag.as_str(),
                Rule::Defined,
                format!("the request is tagged {tag} but the policy file has no '{tag}' policy"),
                format!(
                    "add a '{tag}' policy to the policy file, or remove the tag from the request"
                ),
            )
        })
        .collect()
}

/// Encryption holds when every hop encrypts; an empty path encrypts nothing.
fn encryption_violation(name: &str, path: &[&Connection]) -> Option<Violation> {
    let plain: Vec<String> = path
        .iter()
        .filter(|c| !c.kind.encrypts())
        .map(|c| format!("{} ({})", c.id, c.kind.as_str()))
        .collect();
    if !path.is_empty() && plain.is_empty() {
        return None;
    }
    let message = if path.is_empty() {
        format!("{name} requires encryption in transit; the request does not ask for TLS and the path has no encrypting hop")
    } else {
        format!(
            "{name} requires encryption in transit; the request does not ask for TLS and these hops do not encrypt: {}",
            plain.join(", ")
        )
    };
    Some(violation(
        name,
        Rule::EncryptionRequired,
        message,
        format!("{FIX_ENCRYPT_REQUEST}, or use a path whose every hop is a VPN (IPsec)"),
    ))
}

/// A hop is public if it is an internet connection or touches the internet network.
fn hop_is_public(estate: &Estate, hop: &Connection) -> bool {
    hop.kind.is_public()
        || [&hop.a, &hop.b].into_iter().any(|end| {
            estate
                .network(end)
                .is_some_and(|n| n.kind == NetworkKind::Internet)
        })
}

/// The places an endpoint's region could be: its own cloud if given; otherwise
/// every cloud that knows the name, or a data centre if none does.
fn endpoint_places(end: &Endpoint, region: &str) -> Vec<(Cloud, String)> {
    let clouds = match end.cloud {
        Some(cloud) => vec![cloud],
        None => {
            let found = Region::clouds_with(region);
            if found.is_empty() {
                vec![Cloud::Onprem]
            } else {
                found
            }
        }
    };
    clouds
        .into_iter()
        .map(|cloud| {
            // Fold display names ("West Europe") to canonical ones when the cloud knows them.
            let name = Region::parse(cloud, region)
                .map(|r| r.name)
                .unwrap_or_else(|_| region.trim().to_ascii_lowercase());
            (cloud, name)
        })
        .collect()
}

fn zone_list(zones: &[ZoneName]) -> String {
    zones
        .iter()
        .map(ZoneName::as_str)
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectionId, Requirements};

    /// US side: aws-use1 — dc1 — azure-eastus over DX + ER; EU side: aws-euw1 —
    /// dc3 — azure-weu; internet links on both; a VPN EU pair; a DX from the EU
    /// VPC into the US data centre.
    const ESTATE: &str = r#"
name: test
networks:
  - { id: aws-use1, name: AWS us-east-1, cloud: aws, region: us-east-1, kind: vpc }
  - { id: azure-eastus, name: Azure East US, cloud: azure, region: eastus, kind: vnet }
  - { id: dc1, name: DC1, cloud: onprem, region: dc1, kind: datacenter }
  - { id: aws-euw1, name: AWS eu-west-1, cloud: aws, region: eu-west-1, kind: vpc }
  - { id: azure-weu, name: Azure West Europe, cloud: azure, region: westeurope, kind: vnet }
  - { id: dc3, name: DC3, cloud: onprem, region: dc3, kind: datacenter }
  - { id: internet, name: Internet, cloud: onprem, region: global, kind: internet }
connections:
  - { id: dx-use1, kind: direct_connect, a: aws-use1, b: dc1, bandwidth_gbps: 10, latency_ms: 4, reliability: 0.9995, status: up, cost_per_gb: 0.02, monthly_base_usd: 1600 }
  - { id: er-eastus, kind: expressroute, a: dc1, b: azure-eastus, bandwidth_gbps: 10, latency_ms: 5, reliability: 0.9995, status: up, cost_per_gb: 0.0, monthly_base_usd: 1768 }
  - { id: internet-aws-use1, kind: internet, a: aws-use1, b: internet, bandwidth_gbps: 5, latency_ms: 20, reliability: 0.999, status: up, cost_per_gb: 0.09, monthly_base_usd: 0 }
  - { id: internet-azure-eastus, kind: internet, a: internet, b: azure-eastus, bandwidth_gbps: 5, latency_ms: 20, reliability: 0.999, status: up, cost_per_gb: 0.087, monthly_base_usd: 0 }
  - { id: dx-euw1, kind: direct_connect, a: aws-euw1, b: dc3, bandwidth_gbps: 10, latency_ms: 3, reliability: 0.9995, status: up, cost_per_gb: 0.02, monthly_base_usd: 1600 }
  - { id: er-weu, kind: expressroute, a: dc3, b: azure-weu, bandwidth_gbps: 10, latency_ms: 3, reliability: 0.9995, status: up, cost_per_gb: 0.0, monthly_base_usd: 1768 }
  - { id: vpn-euw1-weu, kind: vpn, a: aws-euw1, b: azure-weu, bandwidth_gbps: 1.25, latency_ms: 15, reliability: 0.999, status: up, cost_per_gb: 0.09, monthly_base_usd: 72 }
  - { id: internet-aws-euw1, kind: internet, a: aws-euw1, b: internet, bandwidth_gbps: 5, latency_ms: 20, reliability: 0.999, status: up, cost_per_gb: 0.09, monthly_base_usd: 0 }
  - { id: internet-azure-weu, kind: internet, a: internet, b: azure-weu, bandwidth_gbps: 5, latency_ms: 20, reliability: 0.999, status: up, cost_per_gb: 0.087, monthly_base_usd: 0 }
  - { id: dx-euw1-dc1, kind: direct_connect, a: aws-euw1, b: dc1, bandwidth_gbps: 10, latency_ms: 40, reliability: 0.9995, status: up, cost_per_gb: 0.02, monthly_base_usd: 1600 }
  - { id: er-dc1-weu, kind: expressroute, a: dc1, b: azure-weu, bandwidth_gbps: 10, latency_ms: 40, reliability: 0.9995, status: up, cost_per_gb: 0.0, monthly_base_usd: 1768 }
services: []
"#;

    fn estate() -> Estate {
        Estate::from_yaml(ESTATE, "test").expect("test estate parses")
    }

    fn policies() -> Policies {
        Policies::embedded().expect("embedded policies parse")
    }

    fn end(cloud: Cloud, region: &str) -> Endpoint {
        Endpoint {
            cloud: Some(cloud),
            region: Some(region.to_string()),
            ..Endpoint::default()
        }
    }

    fn intent(src: Endpoint, dst: Endpoint, tags: &[ComplianceTag], encryption: bool) -> Intent {
        Intent {
            source: src,
            destination: dst,
            requirements: Requirements {
                encryption,
                ..Requirements::default()
            },
            compliance: tags.to_vec(),
            missing: Vec::new(),
        }
    }

    fn us_intent(tags: &[ComplianceTag], encryption: bool) -> Intent {
        intent(
            end(Cloud::Aws, "us-east-1"),
            end(Cloud::Azure, "eastus"),
            tags,
            encryption,
        )
    }

    fn eu_intent(tags: &[ComplianceTag], encryption: bool) -> Intent {
        intent(
            end(Cloud::Aws, "eu-west-1"),
            end(Cloud::Azure, "westeurope"),
            tags,
            encryption,
        )
    }

    fn path<'e>(estate: &'e Estate, ids: &[&str]) -> Vec<&'e Connection> {
        ids.iter()
            .map(|id| {
                estate
                    .connection(&ConnectionId::new(*id))
                    .expect("hop in test estate")
            })
            .collect()
    }

    fn has(v: &Verdict, policy: &str, rule: &str) -> bool {
        v.violations
            .iter()
            .any(|x| x.policy == policy && x.rule == rule)
    }

    #[test]
    fn default_applies_first_then_each_tag_once() {
        let p = policies();
        let i = us_intent(
            &[
                ComplianceTag::Gdpr,
                ComplianceTag::PciDss,
                ComplianceTag::Gdpr,
            ],
            true,
        );
        assert_eq!(p.applicable(&i), vec!["default", "gdpr", "pci_dss"]);
        assert_eq!(p.applicable(&us_intent(&[], false)), vec!["default"]);
    }

    #[test]
    fn an_untagged_plain_request_passes() {
        let p = policies();
        let e = estate();
        let i = us_intent(&[], false);
        assert!(p.check_intent(&i).passed());
        let v = p.check_design(
            &i,
            &e,
            &path(&e, &["internet-aws-use1", "internet-azure-eastus"]),
        );
        assert!(v.passed(), "{:?}", v.violations);
        assert_eq!(v.applied, vec!["default"]);
    }

    #[test]
    fn pci_request_without_encryption_is_told_to_add_tls() {
        let v = policies().check_intent(&us_intent(&[ComplianceTag::PciDss], false));
        assert!(!v.passed());
        assert_eq!(v.applied, vec!["default", "pci_dss"]);
        let x = v
            .violations
            .iter()
            .find(|x| x.policy == "pci_dss" && x.rule == "encryption_required")
            .expect("pci_dss encryption violation");
        assert!(
            x.fix.contains("add 'encrypted' (TLS) to the request"),
            "{x}"
        );
    }

    #[test]
    fn hipaa_request_without_encryption_is_a_violation_and_with_it_passes() {
        let p = policies();
        assert!(has(
            &p.check_intent(&us_intent(&[ComplianceTag::Hipaa], false)),
            "hipaa",
            "encryption_required"
        ));
        assert!(p
            .check_intent(&us_intent(&[ComplianceTag::Hipaa], true))
            .passed());
    }

    #[test]
    fn pci_over_an_internet_hop_is_a_violation_naming_the_hop() {
        let p = policies();
        let e = estate();
        let i = us_intent(&[ComplianceTag::PciDss], true);
        let v = p.check_design(
            &i,
            &e,
            &path(&e, &["internet-aws-use1", "internet-azure-eastus"]),
        );
        let x = v
            .violations
            .iter()
            .find(|x| x.policy == "pci_dss" && x.rule == "public_internet_allowed")
            .expect("pci_dss public internet violation");
        assert_eq!(
            x.message,
            "hop internet-aws-use1 crosses the public internet"
        );
        assert!(x.fix.contains("private path"), "{x}");
        assert_eq!(
            v.violations
                .iter()
                .filter(|x| x.rule == "public_internet_allowed")
                .count(),
            2
        );
    }

    #[test]
    fn pci_over_direct_connect_and_expressroute_with_tls_passes() {
        let p = policies();
        let e = estate();
        let i = us_intent(&[ComplianceTag::PciDss], true);
        assert!(p.check_intent(&i).passed());
        let v = p.check_design(&i, &e, &path(&e, &["dx-use1", "er-eastus"]));
        assert!(v.passed(), "{:?}", v.violations);
    }

    #[test]
    fn pci_over_private_circuits_without_tls_is_unencrypted() {
        let p = policies();
        let e = estate();
        let i = us_intent(&[ComplianceTag::PciDss], false);
        let v = p.check_design(&i, &e, &path(&e, &["dx-use1", "er-eastus"]));
        let x = v
            .violations
            .iter()
            .find(|x| x.policy == "pci_dss" && x.rule == "encryption_required")
            .expect("unencrypted hops");
        assert!(
            x.message.contains("dx-use1") && x.message.contains("er-eastus"),
            "{x}"
        );
    }

    #[test]
    fn a_vpn_path_encrypts_without_tls_in_the_request() {
        let p = policies();
        let e = estate();
        let i = eu_intent(&[ComplianceTag::Gdpr], false);
        let v = p.check_design(&i, &e, &path(&e, &["vpn-euw1-weu"]));
        assert!(v.passed(), "{:?}", v.violations);
    }

    #[test]
    fn private_only_request_refuses_internet_hops_even_without_tags() {
        let p = policies();
        let e = estate();
        let mut i = us_intent(&[], false);
        i.requirements.private_only = true;
        let v = p.check_design(
            &i,
            &e,
            &path(&e, &["internet-aws-use1", "internet-azure-eastus"]),
        );
        assert!(has(&v, "request", "private_only"), "{:?}", v.violations);
        assert!(p
            .check_design(&i, &e, &path(&e, &["dx-use1", "er-eastus"]))
            .passed());
    }

    #[test]
    fn gdpr_with_a_us_endpoint_breaks_residency() {
        let p = policies();
        let i = intent(
            end(Cloud::Aws, "us-east-1"),
            end(Cloud::Azure, "westeurope"),
            &[ComplianceTag::Gdpr],
            true,
        );
        let v = p.check_intent(&i);
        let x = v
            .violations
            .iter()
            .find(|x| x.policy == "gdpr" && x.rule == "data_residency")
            .expect("residency violation");
        assert!(x.message.contains("source region us-east-1"), "{x}");
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
        assert!(p
            .check_intent(&eu_intent(&[ComplianceTag::Gdpr], true))
            .passed());
    }

    #[test]
    fn gdpr_endpoints_without_a_cloud_are_placed_by_region_name() {
        let p = policies();
        let mut src = end(Cloud::Aws, "us-east-1");
        src.cloud = None;
        let mut dst = end(Cloud::Onprem, "dc3");
        dst.cloud = None;
        let v = p.check_intent(&intent(src, dst, &[ComplianceTag::Gdpr], true));
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
        assert!(v.violations[0].message.contains("us-east-1"));
        // Display names fold to canonical ones.
        let i = intent(
            end(Cloud::Azure, "West Europe"),
            end(Cloud::Onprem, "DC3"),
            &[ComplianceTag::Gdpr],
            true,
        );
        assert!(p.check_intent(&i).passed());
    }

    #[test]
    fn gdpr_path_through_the_internet_breaks_residency() {
        let p = policies();
        let e = estate();
        let i = eu_intent(&[ComplianceTag::Gdpr], true);
        let v = p.check_design(
            &i,
            &e,
            &path(&e, &["internet-aws-euw1", "internet-azure-weu"]),
        );
        let residency: Vec<&Violation> = v
            .violations
            .iter()
            .filter(|x| x.policy == "gdpr" && x.rule == "data_residency")
            .collect();
        assert_eq!(residency.len(), 1, "{:?}", v.violations);
        assert!(
            residency[0].message.contains("public internet"),
            "{}",
            residency[0]
        );
    }

    #[test]
    fn gdpr_path_through_a_us_data_centre_breaks_residency() {
        let p = policies();
        let e = estate();
        let i = eu_intent(&[ComplianceTag::Gdpr], true);
        let v = p.check_design(&i, &e, &path(&e, &["dx-euw1-dc1", "er-dc1-weu"]));
        let x = v
            .violations
            .iter()
            .find(|x| x.policy == "gdpr" && x.rule == "data_residency")
            .expect("residency violation");
        assert!(
            x.message.contains("dc1") && x.message.contains("dx-euw1-dc1"),
            "{x}"
        );
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
        let ok = p.check_design(&i, &e, &path(&e, &["dx-euw1", "er-weu"]));
        assert!(ok.passed(), "{:?}", ok.violations);
    }

    #[test]
    fn hipaa_keeps_data_in_the_us() {
        let p = policies();
        let e = estate();
        let i = eu_intent(&[ComplianceTag::Hipaa], true);
        assert!(has(&p.check_intent(&i), "hipaa", "data_residency"));
        let v = p.check_design(&i, &e, &path(&e, &["dx-euw1", "er-weu"]));
        assert!(has(&v, "hipaa", "data_residency"));
    }

    #[test]
    fn a_policy_latency_ceiling_is_enforced_on_the_path_total() {
        let yaml = "
policies:
  default:
    description: baseline
    encryption_required: false
    public_internet_allowed: true
    require_backup_path: false
  soc2:
    description: fast
    encryption_required: false
    public_internet_allowed: true
    require_backup_path: false
    max_latency_ms: 30
";
        let p = Policies::from_yaml(yaml, "test.yaml").unwrap();
        let e = estate();
        let i = eu_intent(&[ComplianceTag::Soc2], false);
        let slow = p.check_design(&i, &e, &path(&e, &["dx-euw1-dc1", "er-dc1-weu"]));
        let x = slow.violations.first().expect("latency violation");
        assert_eq!(
            (x.policy.as_str(), x.rule.as_str()),
            ("soc2", "max_latency_ms")
        );
        assert!(
            x.message.contains("80.0 ms") && x.message.contains("30.0 ms"),
            "{x}"
        );
        assert!(p
            .check_design(&i, &e, &path(&e, &["dx-euw1", "er-weu"]))
            .passed());
    }

    #[test]
    fn a_tag_without_a_policy_fails_closed() {
        let yaml = "
policies:
  default:
    description: baseline
    encryption_required: false
    public_internet_allowed: true
    require_backup_path: false
";
        let p = Policies::from_yaml(yaml, "test.yaml").unwrap();
        let i = us_intent(&[ComplianceTag::Hipaa], true);
        assert_eq!(p.applicable(&i), vec!["default"]);
        let v = p.check_intent(&i);
        assert!(has(&v, "hipaa", "defined"), "{:?}", v.violations);
    }

    #[test]
    fn a_hop_into_an_unknown_network_breaks_residency() {
        let p = policies();
        let e = estate();
        let mut stray = e.connections[4].clone();
        stray.b = NetworkId::new("nowhere");
        let i = eu_intent(&[ComplianceTag::Gdpr], true);
        let v = p.check_design(&i, &e, &[&stray]);
        assert!(has(&v, "gdpr", "data_residency"), "{:?}", v.violations);
        assert!(v.violations[0].message.contains("nowhere"));
    }

    #[test]
    fn backup_paths_are_required_by_pci_and_soc2_only() {
        let p = policies();
        assert!(p.backup_path_required(&us_intent(&[ComplianceTag::PciDss], true)));
        assert!(p.backup_path_required(&us_intent(&[ComplianceTag::Soc2], true)));
        assert!(!p.backup_path_required(&us_intent(&[ComplianceTag::Gdpr], true)));
        assert!(!p.backup_path_required(&us_intent(&[], true)));
    }

    #[test]
    fn verdicts_round_trip_through_json() {
        let v = policies().check_intent(&us_intent(&[ComplianceTag::PciDss], false));
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v);
    }
}
