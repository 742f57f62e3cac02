//! Text a person reads: the topology summary (`topology`, `discover`), the
//! findings list and a snapshot diff. Pure; chat and CLI print the same text.

use super::diff::TopologyDiff;
use super::findings::Finding;
use super::merge::UNRESOLVED;
use super::model::{ProviderOutcome, Topology};
use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, NetworkKind};
use std::collections::BTreeMap;

pub fn summary(topology: &Topology) -> String {
    let mut out = vec![format!(
        "Topology at {} — {} networks, {} connections",
        topology.taken_at.format("%Y-%m-%d %H:%M UTC"),
        topology.networks.len(),
        topology.connections.len()
    )];
    for cloud in Cloud::ALL {
        let mut by_region: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for n in topology.networks.iter().filter(|n| {
            n.cloud == cloud && n.kind != NetworkKind::Internet && n.provider != UNRESOLVED
        }) {
            by_region
                .entry(n.region.as_str())
                .or_default()
                .push(n.id.as_str());
        }
        if by_region.is_empty() {
            continue;
        }
        let regions: Vec<String> = by_region
            .iter()
            .map(|(r, ids)| {
                if ids.len() <= 4 {
                    format!("{r} ({})", ids.join(", "))
                } else {
                    format!("{r} ({} networks)", ids.len())
                }
            })
            .collect();
        out.push(format!("  {:<7} {}", cloud.as_str(), regions.join("; ")));
    }
    let mut counts: BTreeMap<ConnectionKind, usize> = BTreeMap::new();
    for c in &topology.connections {
        *counts.entry(c.kind).or_default() += 1;
    }
    out.push("Connections:".into());
    for (kind, n) in counts {
        let mut line = format!("  {:<16} {n}", kind.as_str());
        if kind == ConnectionKind::Vpn {
            let groups = topology
                .connections
                .iter()
                .filter(|c| c.kind == ConnectionKind::Vpn)
                .filter_map(|c| c.group.as_deref())
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            if groups > 0 {
                line.push_str(&format!(" tunnels in {groups} VPN connections"));
            }
        }
        out.push(line);
    }
    let not_up: Vec<String> = topology
        .connections
        .iter()
        .filter(|c| c.status != ConnectionStatus::Up)
        .map(|c| format!("{} {}", c.id, c.status.as_str()))
        .collect();
    if not_up.is_empty() {
        out.push("All connections up.".into());
    } else {
        out.push(format!("Not up: {}", not_up.join(", ")));
    }
    out.push(format!("Providers: {}", providers_line(topology)));
    out.join("\n")
}

pub fn providers_line(topology: &Topology) -> String {
    topology
        .providers
        .iter()
        .map(|(name, outcome)| match outcome {
            ProviderOutcome::Ok { resources } => format!("{name} ok ({resources} resources)"),
            ProviderOutcome::Partial { resources, reasons } => format!(
                "{name} partial ({resources} resources; {})",
                reasons.join("; ")
            ),
            ProviderOutcome::Failed { reason } => format!("{name} FAILED ({reason})"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn findings_text(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "No findings.".into();
    }
    let total: f64 = findings.iter().filter_map(|f| f.monthly_usd).sum();
    let mut out = vec![format!(
        "{} findings{}",
        findings.len(),
        if total > 0.0 {
            format!(" — ${total:.2}/month at stake")
        } else {
            String::new()
        }
    )];
    for f in findings {
        let money = f
            .monthly_usd
            .map(|usd| format!(" [${usd:.2}/month]"))
            .unwrap_or_default();
        out.push(format!("• {}: {}{money}", f.kind.as_str(), f.summary));
        for e in &f.evidence {
            out.push(format!("    {e}"));
        }
    }
    out.join("\n")
}

pub fn diff_text(from: i64, to: i64, diff: &TopologyDiff) -> String {
    if diff.is_empty() {
        return format!("No change between snapshots {from} and {to}.");
    }
    let mut out = vec![format!("Changes from snapshot {from} to {to}:")];
    let mut list = |label: &str, items: &[String]| {
        if !items.is_empty() {
            out.push(format!("  {label}: {}", items.join(", ")));
        }
    };
    list("networks appeared", &diff.networks_appeared);
    list("networks vanished", &diff.networks_vanished);
    list("connections appeared", &diff.connections_appeared);
    list("connections vanished", &diff.connections_vanished);
    for s in &diff.status_changed {
        out.push(format!(
            "  {}: {} → {}",
            s.connection,
            s.from.as_str(),
            s.to.as_str()
        ));
    }
    out.join("\n")
}
