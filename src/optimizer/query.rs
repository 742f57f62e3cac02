//! A `paths` question, from text to answer: endpoints (`cloud:region` or a
//! network id), traffic (`5TB`, `800 GB`), constraints, then the candidates,
//! the choice and the saving against the path the estate's flows take today.
//! Pure; CLI and chat both call `answer`.

use super::choose::{
    choose, cost_of, ChooseError, Constraints, CostBasis, Objective, Recommendation,
};
use super::paths::{candidates, links};
use crate::domain::{Cloud, Estate, NetworkId, NetworkKind, Region};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown endpoint '{given}': {hint}")]
    UnknownEndpoint { given: String, hint: String },
    #[error("traffic '{0}' is not an amount like 800GB, 5TB or 1.5 TB (GB and TB per month, TB = 1000 GB)")]
    BadTraffic(String),
    #[error("traffic must not be negative (got '{0}')")]
    NegativeTraffic(String),
    #[error(
        "unknown compliance policy '{0}' (see examples/policies.yaml: pci_dss, hipaa, soc2, gdpr)"
    )]
    UnknownCompliance(String),
    #[error("the two endpoints are the same network ({0})")]
    SameNetwork(NetworkId),
    #[error(transparent)]
    Choose(#[from] ChooseError),
    #[error("the estate changed since the design: it approved {approved}, the best path now is {now}; run `paths` and pass its JSON to --plan")]
    Changed { approved: String, now: String },
}

/// GB per month from `800GB`, `5 TB`, `1.5tb`, `800` (GB).
pub fn parse_traffic(text: &str) -> Result<f64, QueryError> {
    let t = text.trim().to_ascii_lowercase().replace(' ', "");
    let shown = || text.chars().take(40).collect::<String>();
    let (number, scale) = if let Some(n) = t.strip_suffix("tb") {
        (n, 1000.0)
    } else if let Some(n) = t.strip_suffix("gb") {
        (n, 1.0)
    } else {
        (t.as_str(), 1.0)
    };
    let value: f64 = number
        .parse()
        .map_err(|_| QueryError::BadTraffic(shown()))?;
    if !value.is_finite() {
        return Err(QueryError::BadTraffic(shown()));
    }
    if value < 0.0 {
        return Err(QueryError::NegativeTraffic(shown()));
    }
    Ok(value * scale)
}

/// A network id, or `cloud:region` (the region's network with the most
/// services when there are several; the note says which was taken).
pub fn resolve_endpoint(
    estate: &Estate,
    given: &str,
) -> Result<(NetworkId, Option<String>), QueryError> {
    let text = given.trim();
    if let Some(n) = estate.networks.iter().find(|n| n.id.as_str() == text) {
        return Ok((n.id.clone(), None));
    }
    let unknown = |hint: String| QueryError::UnknownEndpoint {
        given: text.chars().take(60).collect(),
        hint,
    };
    let Some((cloud, place)) = text.split_once(':') else {
        return Err(unknown(
            "write cloud:region (aws:us-east-1, azure:eastus, onprem:dc1) or a network id".into(),
        ));
    };
    let cloud: Cloud = cloud
        .parse()
        .map_err(|e: crate::domain::CloudError| unknown(e.to_string()))?;
    let region = match cloud {
        Cloud::Onprem => place.trim().to_string(),
        _ => {
            Region::parse(cloud, place)
                .map_err(|e| unknown(e.to_string()))?
                .name
        }
    };
    let mut here: Vec<(&NetworkId, usize)> = estate
        .networks
        .iter()
        .filter(|n| n.cloud == cloud && n.region == region && n.kind != NetworkKind::Internet)
        .map(|n| {
            (
                &n.id,
                estate.services.iter().filter(|s| s.network == n.id).count(),
            )
        })
        .collect();
    here.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    match here.as_slice() {
        [] => Err(unknown(format!(
            "the estate has no {cloud} network in {region}"
        ))),
        [(only, _)] => Ok(((*only).clone(), None)),
        [(first, _), rest @ ..] => {
            Ok((
                (*first).clone(),
                Some(format!(
                "{text} → {first} (the {} networks there: {first}, {}; the one with most services)",
                rest.len() + 1,
                rest.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>().join(", ")
            )),
            ))
        }
    }
}

/// Constraints from compliance names (`pci_dss`, `hipaa`…): a policy that
/// forbids the public internet makes the request private-only.
pub fn compliance_constraints(
    policies: &crate::compliance::Policies,
    names: &[String],
) -> Result<(bool, Option<String>), QueryError> {
    let mut private = Vec::new();
    for name in names {
        let key = name.trim().to_ascii_lowercase().replace('-', "_");
        let policy = policies
            .get(&key)
            .ok_or_else(|| QueryError::UnknownCompliance(name.clone()))?;
        if !policy.public_internet_allowed {
            private.push(key);
        }
    }
    Ok((
        !private.is_empty(),
        (!private.is_empty()).then(|| private.join(", ")),
    ))
}

pub struct PathsRequest<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub traffic: &'a str,
    pub objective: Objective,
    pub basis: CostBasis,
    pub constraints: Constraints,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathsAnswer {
    pub from: NetworkId,
    pub to: NetworkId,
    pub notes: Vec<String>,
    #[serde(flatten)]
    pub recommendation: Recommendation,
    /// The path the estate's largest flow between the two takes today, and
    /// what the queried traffic would save by moving to the primary.
    pub current: Option<CurrentPath>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentPath {
    pub links: Vec<String>,
    pub monthly_cost_usd: f64,
    pub saving_usd: f64,
}

pub fn answer(estate: &Estate, request: &PathsRequest) -> Result<PathsAnswer, QueryError> {
    let traffic = parse_traffic(request.traffic)?;
    let (from, note_from) = resolve_endpoint(estate, request.from)?;
    let (to, note_to) = resolve_endpoint(estate, request.to)?;
    if from == to {
        return Err(QueryError::SameNetwork(from));
    }
    let all_links = links(estate);
    let options = candidates(estate, &all_links, &from, &to, traffic, 5);
    let recommendation = choose(
        options.clone(),
        &request.constraints,
        request.objective,
        request.basis,
        traffic,
    )?;
    // Today's path: the largest flow between these networks, as links.
    let network_of = |s: &crate::domain::ServiceId| estate.service(s).map(|s| s.network.clone());
    let today = estate
        .flows
        .iter()
        .filter(|f| {
            let (a, b) = (network_of(&f.source), network_of(&f.destination));
            (a.as_ref() == Some(&from) && b.as_ref() == Some(&to))
                || (a.as_ref() == Some(&to) && b.as_ref() == Some(&from))
        })
        .max_by(|a, b| a.monthly_gb.0.total_cmp(&b.monthly_gb.0));
    let current = today.and_then(|flow| {
        let link_of = |c: &crate::domain::ConnectionId| {
            all_links
                .iter()
                .find(|l| l.connections.iter().any(|x| x == c.as_str()))
                .map(|l| l.id.clone())
        };
        let mut ids: Vec<String> = Vec::new();
        for c in &flow.path {
            let id = link_of(c)?;
            if ids.last() != Some(&id) {
                ids.push(id);
            }
        }
        let option = options.iter().find(|o| o.links == ids)?;
        let cost = cost_of(option, request.basis);
        Some(CurrentPath {
            links: ids,
            monthly_cost_usd: cost,
            saving_usd: cost - cost_of(&recommendation.primary, request.basis),
        })
    });
    Ok(PathsAnswer {
        from,
        to,
        notes: [note_from, note_to].into_iter().flatten().collect(),
        recommendation,
        current,
    })
}

/// The plan a workflow's design step chose, asked again of the estate as it
/// is now (same ends, traffic and compliance), so config can be generated
/// for it. Refused when the estate changed and the answer is no longer the
/// path that was approved.
pub fn replan(
    estate: &Estate,
    policies: &crate::compliance::Policies,
    design: &super::Design,
) -> Result<PathsAnswer, QueryError> {
    let (private_only, private_reason) =
        compliance_constraints(policies, &design.compliance.applied)?;
    let traffic = format!("{}GB", design.monthly_traffic_gb);
    let request = PathsRequest {
        from: design.source_network.as_str(),
        to: design.destination_network.as_str(),
        traffic: &traffic,
        objective: Objective::Cost,
        basis: CostBasis::Marginal,
        constraints: Constraints {
            private_only,
            private_reason,
            ..Constraints::default()
        },
    };
    let answer = answer(estate, &request)?;
    let all = links(estate);
    let approved: Vec<String> = design
        .primary
        .connections
        .iter()
        .filter_map(|c| {
            all.iter()
                .find(|l| l.connections.iter().any(|x| x == c.as_str()))
                .map(|l| l.id.clone())
        })
        .collect();
    if answer.recommendation.primary.links != approved {
        return Err(QueryError::Changed {
            approved: approved.join(" → "),
            now: answer.recommendation.primary.links.join(" → "),
        });
    }
    Ok(answer)
}

/// The compact table chat and the CLI's text output show.
pub fn table(answer: &PathsAnswer) -> String {
    let r = &answer.recommendation;
    let mut out = vec![format!(
        "{} → {} at {:.0} GB/month, by {} on a {} cost basis",
        answer.from,
        answer.to,
        r.traffic_gb,
        r.objective.as_str(),
        r.basis.as_str()
    )];
    out.extend(answer.notes.iter().cloned());
    out.push(format!(
        "  {:<3} {:<44} {:>8} {:>9} {:>10} {:>10} {:>9}",
        "", "path", "ms", "avail", "marginal", "full", "Gbps"
    ));
    for o in &r.options {
        let mark = if o.links == r.primary.links {
            "P"
        } else if r.backup.as_ref().is_some_and(|b| b.links == o.links) {
            "B"
        } else {
            ""
        };
        let mut path = o.links.join(" → ");
        if path.chars().count() > 44 {
            path = path.chars().take(43).collect::<String>() + "…";
        }
        out.push(format!(
            "  {mark:<3} {path:<44} {:>8.1} {:>9.5} {:>10} {:>10} {:>9.2}",
            o.latency_ms,
            o.reliability,
            format!("${:.2}", o.marginal_monthly_usd),
            format!("${:.2}", o.full_monthly_usd),
            o.headroom_gbps
        ));
    }
    for e in &r.eliminated {
        out.push(format!(
            "  ✗   {} — {}",
            e.links.join(" → "),
            e.reasons.join("; ")
        ));
    }
    out.push(format!("Choice: {}", r.reason));
    if let Some(note) = &r.backup_note {
        out.push(format!("Backup: {note}"));
    }
    out.push(format!(
        "BGP: {}; {}",
        r.bgp
            .local_preference
            .iter()
            .map(|(l, p)| format!("local-pref {p} on {}", l.join(" → ")))
            .collect::<Vec<_>>()
            .join(", "),
        r.bgp.alternative
    ));
    // The primary's break-evens; JSON has every pair.
    for b in r
        .break_even
        .iter()
        .filter(|b| b.gb_per_month.is_some() && (b.a == r.primary.links || b.b == r.primary.links))
    {
        out.push(format!("Break-even: {} [{}]", b.verdict, b.formula));
    }
    if let Some(c) = &answer.current {
        let change = if c.saving_usd >= 0.0 {
            format!("moving saves ${:.2}/month", c.saving_usd)
        } else {
            format!("moving costs ${:.2}/month more", -c.saving_usd)
        };
        out.push(format!(
            "Today: {} at ${:.2}/month; {change}",
            c.links.join(" → "),
            c.monthly_cost_usd
        ));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::lab::EMBEDDED_ESTATE;

    fn estate() -> Estate {
        Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap()
    }

    fn request<'a>(from: &'a str, to: &'a str, traffic: &'a str) -> PathsRequest<'a> {
        PathsRequest {
            from,
            to,
            traffic,
            objective: Objective::Cost,
            basis: CostBasis::Marginal,
            constraints: Constraints::default(),
        }
    }

    #[test]
    fn traffic_reads_in_the_forms_people_write() {
        assert_eq!(parse_traffic("5TB").unwrap(), 5000.0);
        assert_eq!(parse_traffic("1.5 tb").unwrap(), 1500.0);
        assert_eq!(parse_traffic("800GB").unwrap(), 800.0);
        assert_eq!(parse_traffic("800").unwrap(), 800.0);
        assert!(matches!(
            parse_traffic("-5TB"),
            Err(QueryError::NegativeTraffic(_))
        ));
        for bad in ["lots", "", "5PB", "NaNGB", "infTB"] {
            assert!(
                matches!(parse_traffic(bad), Err(QueryError::BadTraffic(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn endpoints_are_cloud_region_or_network_ids() {
        let e = estate();
        assert_eq!(
            resolve_endpoint(&e, "azure:East US").unwrap().0.as_str(),
            "azure-eus-prod"
        );
        assert_eq!(
            resolve_endpoint(&e, "onprem:dc1").unwrap().0.as_str(),
            "dc1"
        );
        assert_eq!(
            resolve_endpoint(&e, "gcp-usc1-prod").unwrap().0.as_str(),
            "gcp-usc1-prod"
        );
        let (id, note) = resolve_endpoint(&e, "aws:us-east-1").unwrap();
        assert_eq!(id.as_str(), "aws-use1-prod");
        assert!(note.unwrap().contains("aws-use1-shared"));
        for bad in ["aws:us-east-9", "oracle:x", "nowhere", "azure:brazilsouth"] {
            let err = resolve_endpoint(&e, bad).unwrap_err().to_string();
            assert!(err.starts_with("unknown endpoint"), "{bad}: {err}");
        }
    }

    #[test]
    fn aws_to_azure_on_globalcart_takes_the_circuits_and_shows_the_saving() {
        let a = answer(&estate(), &request("aws:us-east-1", "azure:eastus", "5TB")).unwrap();
        assert_eq!(a.recommendation.primary.links, ["dx-1", "er-1"]);
        let backup = a.recommendation.backup.as_ref().unwrap();
        assert!(!backup.links.iter().any(|l| l == "dx-1" || l == "er-1"));
        // flow-006 (46 TB) crosses the internet today.
        let current = a.current.as_ref().unwrap();
        assert_eq!(current.links, ["inet-aws-use1-prod", "inet-azure-eus-prod"]);
        assert!(
            (current.saving_usd - 5000.0 * 0.07).abs() < 1e-6,
            "{current:?}"
        );
        let text = table(&a);
        assert!(
            text.contains("marginal") && text.contains("Break-even"),
            "{text}"
        );
    }

    #[test]
    fn pci_with_an_impossible_latency_says_which_constraint_removed_each_option() {
        let mut r = request("aws:us-east-1", "azure:eastus", "500GB");
        r.constraints = Constraints {
            max_latency_ms: Some(1.0),
            private_only: true,
            private_reason: Some("pci_dss".into()),
            ..Constraints::default()
        };
        let err = answer(&estate(), &r).unwrap_err().to_string();
        assert!(err.contains("latency") && err.contains("pci_dss"), "{err}");
    }
}
