//! Choosing among candidate paths, pure: hard constraints first (each
//! eliminated option says which constraint removed it), then the objective,
//! a primary and a backup that shares no link and no intermediate network
//! with it, the BGP plan, the break-even traffic between every pair of
//! options, and the reason in words.
//!
//! Costs are compared on one basis, named in the result: **marginal** (the
//! links exist and are paid for; only per-GB charges count) or **full** (the
//! flow would pay the links' base fees too). The source chapter's wrong
//! answers come from mixing the two; here every option shows both.

use super::paths::{gbps_of, PathOption};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Cheapest on the cost basis; latency breaks ties.
    Cost,
    /// Lowest latency; cost breaks ties.
    Latency,
    /// Weighted: 0.5 × cost, 0.3 × latency, 0.2 × unavailability, each
    /// divided by the largest value among the feasible options.
    Balanced,
}

impl Objective {
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Cost => "cost",
            Objective::Latency => "latency",
            Objective::Balanced => "balanced",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostBasis {
    Marginal,
    Full,
}

impl CostBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            CostBasis::Marginal => "marginal",
            CostBasis::Full => "full",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraints {
    pub max_latency_ms: Option<f64>,
    pub min_reliability: Option<f64>,
    /// PCI DSS / HIPAA: neither primary nor backup may cross the internet.
    pub private_only: bool,
    /// Reason for `private_only`, for messages (`pci_dss`).
    pub private_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eliminated {
    pub links: Vec<String>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakEven {
    pub a: Vec<String>,
    pub b: Vec<String>,
    /// Traffic where the two full costs are equal; None when one is never dearer.
    pub gb_per_month: Option<f64>,
    pub formula: String,
    pub verdict: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgpPlan {
    /// (links, local preference): primary 200, backup 100, internet 50.
    pub local_preference: Vec<(Vec<String>, u32)>,
    pub alternative: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub basis: CostBasis,
    pub objective: Objective,
    pub traffic_gb: f64,
    /// Feasible options, best first.
    pub options: Vec<PathOption>,
    pub eliminated: Vec<Eliminated>,
    pub primary: PathOption,
    pub backup: Option<PathOption>,
    pub backup_note: Option<String>,
    pub bgp: BgpPlan,
    pub break_even: Vec<BreakEven>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChooseError {
    #[error("no path at all joins the two endpoints")]
    NoPath,
    #[error("no path meets the constraints: {}", .0.iter().map(|e| format!("{} ({})", e.links.join(" → "), e.reasons.join("; "))).collect::<Vec<_>>().join(", "))]
    AllEliminated(Vec<Eliminated>),
}

pub fn cost_of(o: &PathOption, basis: CostBasis) -> f64 {
    match basis {
        CostBasis::Marginal => o.marginal_monthly_usd,
        CostBasis::Full => o.full_monthly_usd,
    }
}

fn check(o: &PathOption, c: &Constraints, traffic_gb: f64) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(max) = c.max_latency_ms {
        if o.latency_ms > max {
            reasons.push(format!("latency {:.1} ms > max {max} ms", o.latency_ms));
        }
    }
    if let Some(min) = c.min_reliability {
        if o.reliability < min {
            reasons.push(format!("reliability {:.5} < min {min}", o.reliability));
        }
    }
    if c.private_only && o.public {
        reasons.push(format!(
            "crosses the internet ({} requires private paths)",
            c.private_reason.as_deref().unwrap_or("compliance")
        ));
    }
    let needed = gbps_of(traffic_gb);
    if o.headroom_gbps < needed {
        reasons.push(format!(
            "needs {needed:.2} Gbps, headroom is {:.2} Gbps",
            o.headroom_gbps.max(0.0)
        ));
    }
    reasons
}

fn scores(options: &[PathOption], objective: Objective, basis: CostBasis) -> Vec<f64> {
    let max = |f: &dyn Fn(&PathOption) -> f64| options.iter().map(f).fold(0.0, f64::max).max(1e-12);
    let (cmax, lmax, umax) = (
        max(&|o| cost_of(o, basis)),
        max(&|o| o.latency_ms),
        max(&|o| 1.0 - o.reliability),
    );
    options
        .iter()
        .map(|o| match objective {
            Objective::Cost => cost_of(o, basis) + o.latency_ms * 1e-9,
            Objective::Latency => o.latency_ms + cost_of(o, basis) * 1e-9,
            Objective::Balanced => {
                0.5 * cost_of(o, basis) / cmax
                    + 0.3 * o.latency_ms / lmax
                    + 0.2 * (1.0 - o.reliability) / umax
            }
        })
        .collect()
}

/// Whether two paths share a link or an intermediate network.
fn disjoint(a: &PathOption, b: &PathOption) -> bool {
    let inner = |o: &PathOption| -> Vec<String> {
        let n = o.hops.len();
        o.hops
            .iter()
            .skip(1)
            .take(n.saturating_sub(2))
            .map(|h| h.to_string())
            .collect()
    };
    let (ia, ib) = (inner(a), inner(b));
    !a.links.iter().any(|l| b.links.contains(l)) && !ia.iter().any(|x| ib.contains(x))
}

/// Where two options' full-cost lines cross: base_a + p_a·T = base_b + p_b·T.
pub fn break_even(a: &PathOption, b: &PathOption) -> BreakEven {
    let (ba, bb, pa, pb) = (
        a.base_monthly_usd,
        b.base_monthly_usd,
        a.per_gb_usd,
        b.per_gb_usd,
    );
    let formula = format!(
        "T = (base_b − base_a) ÷ (per_gb_a − per_gb_b) = (${bb:.2} − ${ba:.2}) ÷ (${pa:.3} − ${pb:.3})"
    );
    let name = |o: &PathOption| o.links.join(" → ");
    let t = if (pa - pb).abs() < 1e-12 {
        None
    } else {
        Some((bb - ba) / (pa - pb)).filter(|t| *t > 0.0)
    };
    let verdict = match t {
        Some(t) => {
            let (cheap_low, cheap_high) = if ba < bb { (a, b) } else { (b, a) };
            format!(
                "below {t:.0} GB/month {} is cheaper; above it {}",
                name(cheap_low),
                name(cheap_high)
            )
        }
        None => {
            let cheaper = if ba + pa <= bb + pb { a } else { b };
            format!("{} is never dearer (full cost)", name(cheaper))
        }
    };
    BreakEven {
        a: a.links.clone(),
        b: b.links.clone(),
        gb_per_month: t,
        formula,
        verdict,
    }
}

pub fn choose(
    mut options: Vec<PathOption>,
    constraints: &Constraints,
    objective: Objective,
    basis: CostBasis,
    traffic_gb: f64,
) -> Result<Recommendation, ChooseError> {
    if options.is_empty() {
        return Err(ChooseError::NoPath);
    }
    let mut eliminated = Vec::new();
    options.retain(|o| {
        let reasons = check(o, constraints, traffic_gb);
        if reasons.is_empty() {
            true
        } else {
            eliminated.push(Eliminated {
                links: o.links.clone(),
                reasons,
            });
            false
        }
    });
    if options.is_empty() {
        return Err(ChooseError::AllEliminated(eliminated));
    }
    let s = scores(&options, objective, basis);
    let mut ranked: Vec<(f64, PathOption)> = s.into_iter().zip(options).collect();
    ranked.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.links.len().cmp(&b.1.links.len()))
    });
    let options: Vec<PathOption> = ranked.into_iter().map(|(_, o)| o).collect();
    let primary = options[0].clone();
    let backup = options[1..].iter().find(|o| disjoint(&primary, o)).cloned();
    let backup_note = match &backup {
        Some(_) => None,
        None => Some(
            "no feasible path shares neither a link nor an intermediate network with the primary: the primary is a single point of failure"
                .to_string(),
        ),
    };
    let mut local_preference = vec![(primary.links.clone(), 200)];
    if let Some(b) = &backup {
        local_preference.push((b.links.clone(), 100));
    }
    if let Some(i) = options.iter().find(|o| {
        o.public && Some(&o.links) != backup.as_ref().map(|b| &b.links) && o.links != primary.links
    }) {
        local_preference.push((i.links.clone(), 50));
    }
    let alternative = format!(
        "or prepend the local AS twice on the backup's advertisements{} so the remote side prefers the primary too",
        if backup.is_some() { "" } else { " (once a backup exists)" }
    );
    let mut pairs = Vec::new();
    for i in 0..options.len() {
        for j in i + 1..options.len() {
            pairs.push(break_even(&options[i], &options[j]));
        }
    }
    let basis_word = match basis {
        CostBasis::Marginal => "marginal (links exist and are paid for: per-GB only)",
        CostBasis::Full => "full (base fees + per-GB)",
    };
    let reason = format!(
        "{} by {}: ${:.2}/month on a {basis_word} basis (full ${:.2}), {:.1} ms, {:.4} available{}{}",
        primary.links.join(" → "),
        objective.as_str(),
        cost_of(&primary, basis),
        primary.full_monthly_usd,
        primary.latency_ms,
        primary.reliability,
        match &backup {
            Some(b) => format!("; backup {} shares nothing with it", b.links.join(" → ")),
            None => String::new(),
        },
        if eliminated.is_empty() {
            String::new()
        } else {
            format!("; {} option(s) eliminated by constraints", eliminated.len())
        }
    );
    Ok(Recommendation {
        basis,
        objective,
        traffic_gb,
        options,
        eliminated,
        primary,
        backup,
        backup_note,
        bgp: BgpPlan {
            local_preference,
            alternative,
        },
        break_even: pairs,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectionKind, NetworkId};

    /// The chapter's three AWS → Azure options.
    #[allow(clippy::too_many_arguments)] // a table row, read in columns
    fn option(
        links: &[&str],
        hops: &[&str],
        kind: ConnectionKind,
        latency: f64,
        rel: f64,
        base: f64,
        per_gb: f64,
        traffic: f64,
    ) -> PathOption {
        PathOption {
            links: links.iter().map(|s| s.to_string()).collect(),
            kinds: vec![kind; links.len()],
            hops: hops.iter().map(|h| NetworkId::new(*h)).collect(),
            latency_ms: latency,
            reliability: rel,
            bandwidth_gbps: 10.0,
            headroom_gbps: 10.0,
            per_gb_usd: per_gb,
            marginal_monthly_usd: per_gb * traffic,
            base_monthly_usd: base,
            full_monthly_usd: base + per_gb * traffic,
            public: kind == ConnectionKind::Internet,
            degraded: vec![],
        }
    }

    fn chapter(traffic: f64) -> Vec<PathOption> {
        vec![
            option(
                &["dx-1", "er-1"],
                &["aws", "dc1", "azure"],
                ConnectionKind::DirectConnect,
                12.0,
                0.9999,
                3368.0,
                0.02,
                traffic,
            ),
            option(
                &["vpn"],
                &["aws", "azure"],
                ConnectionKind::Vpn,
                25.0,
                0.999,
                108.0,
                0.05,
                traffic,
            ),
            option(
                &["inet-aws", "inet-azure"],
                &["aws", "internet", "azure"],
                ConnectionKind::Internet,
                45.0,
                0.99,
                0.0,
                0.09,
                traffic,
            ),
        ]
    }

    fn links(o: &PathOption) -> String {
        o.links.join(" → ")
    }

    #[test]
    fn the_chapters_800_gb_question_on_both_bases() {
        let full = choose(
            chapter(800.0),
            &Constraints::default(),
            Objective::Cost,
            CostBasis::Full,
            800.0,
        )
        .unwrap();
        // Counting full costs: internet $72 < VPN $148 < DX+ER $3,384.
        assert_eq!(links(&full.primary), "inet-aws → inet-azure");
        let costs: Vec<f64> = full.options.iter().map(|o| o.full_monthly_usd).collect();
        assert_eq!(costs, [72.0, 148.0, 3384.0]);
        assert!(
            full.reason.contains("full (base fees + per-GB)"),
            "{}",
            full.reason
        );

        // If the VPN and the circuits exist and are paid for, marginal costs
        // rank them the other way: DX+ER $16, VPN $40, internet $72.
        let marginal = choose(
            chapter(800.0),
            &Constraints::default(),
            Objective::Cost,
            CostBasis::Marginal,
            800.0,
        )
        .unwrap();
        assert_eq!(links(&marginal.primary), "dx-1 → er-1");
        let vpn = marginal
            .options
            .iter()
            .find(|o| o.links == ["vpn"])
            .unwrap();
        assert_eq!(
            (vpn.marginal_monthly_usd, vpn.full_monthly_usd),
            (40.0, 148.0)
        );
        assert!(marginal.reason.contains("marginal"), "{}", marginal.reason);
    }

    #[test]
    fn break_even_is_exact_and_shows_its_formula() {
        let o = chapter(800.0);
        // DX+ER vs internet: 3368 / (0.09 − 0.02) = 48,114 GB, not the chapter's 1.4 TB.
        let dx_inet = break_even(&o[0], &o[2]);
        assert!((dx_inet.gb_per_month.unwrap() - 3368.0 / 0.07).abs() < 1e-6);
        assert!(dx_inet.formula.contains("÷"), "{}", dx_inet.formula);
        assert!(
            dx_inet
                .verdict
                .starts_with("below 48114 GB/month inet-aws → inet-azure is cheaper"),
            "{}",
            dx_inet.verdict
        );
        // VPN vs internet: 108 / 0.04 = 2,700 GB.
        assert!((break_even(&o[1], &o[2]).gb_per_month.unwrap() - 2700.0).abs() < 1e-6);
        // DX+ER vs VPN: 3260 / 0.03 = 108,667 GB.
        assert!((break_even(&o[0], &o[1]).gb_per_month.unwrap() - 3260.0 / 0.03).abs() < 1e-6);
        let r = choose(
            o,
            &Constraints::default(),
            Objective::Cost,
            CostBasis::Full,
            800.0,
        )
        .unwrap();
        assert_eq!(r.break_even.len(), 3);
    }

    #[test]
    fn pci_never_takes_the_internet_as_primary_or_backup() {
        let c = Constraints {
            private_only: true,
            private_reason: Some("pci_dss".into()),
            ..Constraints::default()
        };
        let r = choose(chapter(800.0), &c, Objective::Cost, CostBasis::Full, 800.0).unwrap();
        assert_eq!(links(&r.primary), "vpn");
        assert_eq!(r.backup.as_ref().map(links).as_deref(), Some("dx-1 → er-1"));
        assert_eq!(r.eliminated.len(), 1);
        assert!(r.eliminated[0].reasons[0].contains("pci_dss"));
        assert!(r
            .bgp
            .local_preference
            .iter()
            .all(|(l, _)| !l.contains(&"inet-aws".to_string())));
    }

    #[test]
    fn each_eliminated_option_names_its_constraint() {
        let c = Constraints {
            max_latency_ms: Some(10.0),
            min_reliability: Some(0.9999),
            ..Constraints::default()
        };
        let err = choose(
            chapter(800.0),
            &c,
            Objective::Latency,
            CostBasis::Full,
            800.0,
        )
        .unwrap_err();
        let ChooseError::AllEliminated(list) = &err else {
            panic!("{err}")
        };
        assert_eq!(list.len(), 3);
        assert!(list[0]
            .reasons
            .iter()
            .any(|r| r.contains("latency 12.0 ms > max 10")));
        assert!(list[2].reasons.iter().any(|r| r.contains("reliability")));
        assert!(
            err.to_string()
                .contains("dx-1 → er-1 (latency 12.0 ms > max 10 ms)"),
            "{err}"
        );
    }

    #[test]
    fn the_bgp_plan_prefers_primary_then_backup_then_internet() {
        let r = choose(
            chapter(800.0),
            &Constraints::default(),
            Objective::Latency,
            CostBasis::Marginal,
            800.0,
        )
        .unwrap();
        let prefs: Vec<u32> = r.bgp.local_preference.iter().map(|(_, p)| *p).collect();
        assert_eq!(prefs, [200, 100, 50]);
        assert_eq!(links(&r.primary), "dx-1 → er-1");
    }

    #[test]
    fn a_backup_through_the_same_data_centre_is_not_disjoint() {
        let traffic = 100.0;
        let options = vec![
            option(
                &["dx-1", "er-1"],
                &["aws", "dc1", "azure"],
                ConnectionKind::DirectConnect,
                4.0,
                0.999,
                0.0,
                0.02,
                traffic,
            ),
            option(
                &["vpn-a", "vpn-b"],
                &["aws", "dc1", "azure"],
                ConnectionKind::Vpn,
                8.0,
                0.999,
                0.0,
                0.09,
                traffic,
            ),
        ];
        let r = choose(
            options,
            &Constraints::default(),
            Objective::Cost,
            CostBasis::Marginal,
            traffic,
        )
        .unwrap();
        assert!(r.backup.is_none());
        assert!(r.backup_note.unwrap().contains("single point of failure"));
    }
}
