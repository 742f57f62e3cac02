//! Config for a chosen plan (the JSON `switchboard paths --format json`
//! prints), pure: Terraform routes for the clouds at the plan's two ends,
//! and FRR / Cisco IOS route-maps with the plan's local preferences for the
//! on-prem routers its links land on. Rendered by the handlebars templates
//! under `templates/` (embedded, strict mode).
//!
//! Invariants: every next hop, neighbor address and ASN comes from the
//! estate or the on-prem inventory — a link without that data is an error
//! naming it, never a default; every value put into a template is checked
//! (CIDRs parsed, ids limited to plain characters), so a hostile estate
//! cannot inject HCL or router commands.

use super::paths::{links, Link};
use super::query::PathsAnswer;
use crate::domain::{Cloud, ConnectionKind, Estate, Network, NetworkKind};
use crate::providers::onprem::{LinkSessions, OnpremInventory, SessionsError};
use handlebars::Handlebars;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;

const AWS: &str = include_str!("../../templates/terraform/aws.hbs");
const AZURE: &str = include_str!("../../templates/terraform/azure.hbs");
const GCP: &str = include_str!("../../templates/terraform/gcp.hbs");
const FRR: &str = include_str!("../../templates/frr/route-map.hbs");
const IOS: &str = include_str!("../../templates/ios/route-map.hbs");

/// GCP route priorities: lower wins.
const GCP_PRIMARY_PRIORITY: u32 = 100;
const GCP_BACKUP_PRIORITY: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Terraform,
    Frr,
    Ios,
}

impl FromStr for Target {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Target, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "terraform" => Ok(Target::Terraform),
            "frr" => Ok(Target::Frr),
            "ios" => Ok(Target::Ios),
            _ => Err(ConfigError::UnknownTarget(s.chars().take(40).collect())),
        }
    }
}

/// One generated file: `aws.tf`, or a router's name for FRR / IOS.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub name: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the plan is not the JSON `switchboard paths --format json` prints: {0}")]
    BadPlan(String),
    #[error("unknown target '{0}' (terraform, frr or ios)")]
    UnknownTarget(String),
    #[error("the plan names link '{0}', which the estate does not have (is the plan from another estate?)")]
    UnknownLink(String),
    #[error("the plan names network '{0}', which the estate does not have")]
    UnknownNetwork(String),
    #[error("network '{network}': '{cidr}' is not a CIDR like 10.0.0.0/16")]
    BadCidr { network: String, cidr: String },
    #[error("'{0}' has characters that cannot go into generated config (letters, digits and . _ : / - only)")]
    UnsafeValue(String),
    #[error("FRR and IOS config need the on-prem inventory (routers, circuits, tunnels): set [discovery] onprem_inventory or pass --inventory")]
    NoInventory,
    #[error(transparent)]
    Sessions(#[from] SessionsError),
    #[error("no {cloud} route can send traffic over link '{link}' ({kind})")]
    NoRouteFor {
        link: String,
        kind: &'static str,
        cloud: Cloud,
    },
    #[error("the plan {0}; nothing to render for {1}")]
    NothingToRender(String, &'static str),
    #[error("template {0}")]
    Template(String),
}

/// A plan from the JSON `paths --format json` printed.
pub fn parse_plan(json: &str) -> Result<PathsAnswer, ConfigError> {
    serde_json::from_str(json).map_err(|e| ConfigError::BadPlan(e.to_string()))
}

/// Renders the plan for `target`. Terraform needs the on-prem inventory
/// only for a GCP route over an Interconnect (its next hop is the router's
/// BGP address); FRR and IOS always need it.
pub fn render(
    target: Target,
    plan: &PathsAnswer,
    estate: &Estate,
    onprem: Option<&OnpremInventory>,
) -> Result<Vec<Rendered>, ConfigError> {
    let plan = Plan::resolve(plan, estate)?;
    match target {
        Target::Terraform => terraform(&plan, onprem),
        Target::Frr | Target::Ios => {
            routers(&plan, onprem.ok_or(ConfigError::NoInventory)?, target)
        }
    }
}

/// Several rendered files as one text, each under a comment naming it.
pub fn joined(files: &[Rendered], target: Target) -> String {
    let comment = match target {
        Target::Terraform => "#",
        Target::Frr | Target::Ios => "!",
    };
    files
        .iter()
        .map(|f| format!("{comment} ==== {} ====\n{}", f.name, f.text))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    Backup,
    Internet,
}

impl Role {
    fn word(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
            Role::Internet => "internet",
        }
    }

    fn route_map(self) -> &'static str {
        match self {
            Role::Primary => "PRIMARY-IN",
            Role::Backup => "BACKUP-IN",
            Role::Internet => "INTERNET-IN",
        }
    }
}

/// The plan with its networks and links looked up in the estate.
struct Plan<'e> {
    label: String,
    from: &'e Network,
    to: &'e Network,
    /// (role, links, local preference), primary first, as the BGP plan says.
    paths: Vec<(Role, Vec<Link>, u32)>,
    estate: &'e Estate,
}

impl<'e> Plan<'e> {
    fn resolve(answer: &PathsAnswer, estate: &'e Estate) -> Result<Plan<'e>, ConfigError> {
        let network = |id: &str| {
            estate
                .networks
                .iter()
                .find(|n| n.id.as_str() == id)
                .ok_or_else(|| ConfigError::UnknownNetwork(id.to_string()))
        };
        let all = links(estate);
        let r = &answer.recommendation;
        let mut paths = Vec::new();
        for (ids, preference) in &r.bgp.local_preference {
            let role = if *ids == r.primary.links {
                Role::Primary
            } else if r.backup.as_ref().is_some_and(|b| b.links == *ids) {
                Role::Backup
            } else {
                Role::Internet
            };
            let resolved = ids
                .iter()
                .map(|id| {
                    all.iter()
                        .find(|l| &l.id == id)
                        .cloned()
                        .ok_or_else(|| ConfigError::UnknownLink(id.clone()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            paths.push((role, resolved, *preference));
        }
        Ok(Plan {
            label: format!(
                "{} → {} (primary {})",
                answer.from,
                answer.to,
                r.primary.links.join(" → ")
            ),
            from: network(answer.from.as_str())?,
            to: network(answer.to.as_str())?,
            paths,
            estate,
        })
    }

    /// Each cloud end of each private path: the network, the link it leaves
    /// by, and the far end's CIDRs.
    fn cloud_ends(&self) -> Result<Vec<End<'_>>, ConfigError> {
        let mut ends = Vec::new();
        for (role, path, _) in &self.paths {
            if *role == Role::Internet {
                continue;
            }
            let (Some(first), Some(last)) = (path.first(), path.last()) else {
                continue;
            };
            for (here, link, there) in [(self.from, first, self.to), (self.to, last, self.from)] {
                if here.cloud == Cloud::Onprem {
                    continue;
                }
                ends.push(End {
                    role: *role,
                    network: here,
                    link,
                    cidrs: cidrs(there)?,
                });
            }
        }
        Ok(ends)
    }
}

struct End<'p> {
    role: Role,
    network: &'p Network,
    link: &'p Link,
    cidrs: Vec<String>,
}

/// A network's CIDRs, parsed and written back canonically.
fn cidrs(network: &Network) -> Result<Vec<String>, ConfigError> {
    network
        .cidrs
        .iter()
        .map(|c| {
            let bad = || ConfigError::BadCidr {
                network: network.id.to_string(),
                cidr: c.clone(),
            };
            let (ip, len) = c.trim().split_once('/').ok_or_else(bad)?;
            let ip: IpAddr = ip.parse().map_err(|_| bad())?;
            let len: u8 = len.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if len > max {
                return Err(bad());
            }
            Ok(format!("{ip}/{len}"))
        })
        .collect()
}

/// A value that goes into generated config as it is.
fn token(s: &str) -> Result<String, ConfigError> {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c))
    {
        Ok(s.to_string())
    } else {
        Err(ConfigError::UnsafeValue(s.chars().take(60).collect()))
    }
}

/// A Terraform resource label.
fn label(parts: &[&str]) -> String {
    parts
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A GCP or Azure resource name: lowercase letters, digits and dashes.
fn resource_name(parts: &[&str]) -> String {
    let name: String = parts
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    name.trim_end_matches('-').to_string()
}

fn registry() -> Result<Handlebars<'static>, ConfigError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    for (name, text) in [
        ("aws", AWS),
        ("azure", AZURE),
        ("gcp", GCP),
        ("frr", FRR),
        ("ios", IOS),
    ] {
        hb.register_template_string(name, text)
            .map_err(|e| ConfigError::Template(format!("{name}: {e}")))?;
    }
    Ok(hb)
}

fn fill<T: Serialize>(hb: &Handlebars, name: &str, data: &T) -> Result<String, ConfigError> {
    hb.render(name, data)
        .map_err(|e| ConfigError::Template(format!("{name}: {e}")))
}

#[derive(Serialize)]
struct AwsData {
    plan: String,
    notes: Vec<String>,
    variables: Vec<String>,
    routes: Vec<AwsRoute>,
    tgw_routes: Vec<AwsRoute>,
}

#[derive(Serialize)]
struct AwsRoute {
    name: String,
    comment: String,
    route_table_var: String,
    cidr: String,
    next_hop_attr: &'static str,
    next_hop: String,
}

#[derive(Serialize)]
struct AzureData {
    plan: String,
    notes: Vec<String>,
    tables: Vec<AzureTable>,
}

#[derive(Serialize)]
struct AzureTable {
    name: String,
    table_name: String,
    location: String,
    routes: Vec<AzureRoute>,
}

#[derive(Serialize)]
struct AzureRoute {
    name: String,
    route_name: String,
    comment: String,
    cidr: String,
    next_hop_type: &'static str,
}

#[derive(Serialize)]
struct GcpData {
    plan: String,
    notes: Vec<String>,
    routes: Vec<GcpRoute>,
}

#[derive(Serialize)]
struct GcpRoute {
    name: String,
    route_name: String,
    comment: String,
    network: String,
    cidr: String,
    priority: u32,
    next_hop_attr: &'static str,
    next_hop: String,
}

fn no_route(end: &End) -> ConfigError {
    ConfigError::NoRouteFor {
        link: end.link.id.clone(),
        kind: end.link.kind.as_str(),
        cloud: end.network.cloud,
    }
}

/// AWS and Azure get the primary's routes only (a route table holds one
/// route per prefix; the backup takes over through BGP); GCP gets both,
/// the primary at the lower priority number.
fn terraform(plan: &Plan, onprem: Option<&OnpremInventory>) -> Result<Vec<Rendered>, ConfigError> {
    let ends = plan.cloud_ends()?;
    let mut aws = AwsData {
        plan: plan.label.clone(),
        notes: Vec::new(),
        variables: Vec::new(),
        routes: Vec::new(),
        tgw_routes: Vec::new(),
    };
    let mut azure = AzureData {
        plan: plan.label.clone(),
        notes: Vec::new(),
        tables: Vec::new(),
    };
    let mut gcp = GcpData {
        plan: plan.label.clone(),
        notes: Vec::new(),
        routes: Vec::new(),
    };
    let mut touched: Vec<Cloud> = Vec::new();
    for end in &ends {
        let net = token(end.network.id.as_str())?;
        let link = token(&end.link.id)?;
        let role = end.role.word();
        if !touched.contains(&end.network.cloud) {
            touched.push(end.network.cloud);
        }
        let comment = format!("{net}: {role} over {link} ({})", end.link.kind.as_str());
        // Routes the cloud already has: the internet's, and Azure and GCP
        // peerings and hubs, which exchange their networks' routes themselves.
        let given = match (end.network.cloud, end.link.kind) {
            (_, ConnectionKind::Internet) => Some("crosses the internet; no private route to add"),
            (
                Cloud::Azure | Cloud::Gcp,
                ConnectionKind::Peering | ConnectionKind::TransitGateway,
            ) => {
                Some("leaves by a peering or hub, which carries the routes itself; nothing to add")
            }
            _ => None,
        };
        if let Some(why) = given {
            let note = format!("{net}: the {role} over {link} {why}");
            match end.network.cloud {
                Cloud::Aws => aws.notes.push(note),
                Cloud::Azure => azure.notes.push(note),
                _ => gcp.notes.push(note),
            }
            continue;
        }
        match end.network.cloud {
            Cloud::Aws if end.role == Role::Primary => {
                let table = label(&["route_table", &net]);
                if !aws.variables.contains(&table) {
                    aws.variables.push(table.clone());
                }
                let attr = match end.link.kind {
                    ConnectionKind::DirectConnect | ConnectionKind::Vpn => "gateway_id",
                    ConnectionKind::Peering => "vpc_peering_connection_id",
                    ConnectionKind::TransitGateway => "transit_gateway_id",
                    _ => return Err(no_route(end)),
                };
                for (i, cidr) in end.cidrs.iter().enumerate() {
                    let name = label(&[&net, role, &i.to_string()]);
                    if end.link.kind == ConnectionKind::TransitGateway {
                        let tgw_table = label(&["tgw_route_table", &link]);
                        if !aws.variables.contains(&tgw_table) {
                            aws.variables.push(tgw_table.clone());
                        }
                        aws.tgw_routes.push(AwsRoute {
                            name: name.clone(),
                            comment: comment.clone(),
                            route_table_var: tgw_table,
                            cidr: cidr.clone(),
                            next_hop_attr: "transit_gateway_attachment_id",
                            next_hop: link.clone(),
                        });
                    }
                    aws.routes.push(AwsRoute {
                        name,
                        comment: comment.clone(),
                        route_table_var: table.clone(),
                        cidr: cidr.clone(),
                        next_hop_attr: attr,
                        next_hop: link.clone(),
                    });
                }
            }
            Cloud::Azure if end.role == Role::Primary => {
                let next_hop_type = match end.link.kind {
                    ConnectionKind::Expressroute | ConnectionKind::Vpn => "VirtualNetworkGateway",
                    _ => return Err(no_route(end)),
                };
                let routes = end
                    .cidrs
                    .iter()
                    .enumerate()
                    .map(|(i, cidr)| AzureRoute {
                        name: label(&[&net, role, &i.to_string()]),
                        route_name: resource_name(&[&net, role, &i.to_string()]),
                        comment: comment.clone(),
                        cidr: cidr.clone(),
                        next_hop_type,
                    })
                    .collect();
                azure.tables.push(AzureTable {
                    name: label(&[&net]),
                    table_name: resource_name(&["switchboard", &net]),
                    location: token(&end.network.region)?,
                    routes,
                });
            }
            Cloud::Gcp => {
                let priority = match end.role {
                    Role::Primary => GCP_PRIMARY_PRIORITY,
                    _ => GCP_BACKUP_PRIORITY,
                };
                let hops: Vec<(&'static str, String)> = match end.link.kind {
                    // One route per tunnel: GCP spreads traffic over equal routes.
                    ConnectionKind::Vpn => end
                        .link
                        .connections
                        .iter()
                        .map(|t| token(t).map(|t| ("next_hop_vpn_tunnel", t)))
                        .collect::<Result<_, _>>()?,
                    ConnectionKind::Interconnect => {
                        let inventory = onprem.ok_or(ConfigError::NoInventory)?;
                        let (_, session) = inventory.circuit_session(&end.link.id)?;
                        vec![("next_hop_ip", session.local_address.to_string())]
                    }
                    _ => return Err(no_route(end)),
                };
                for (i, cidr) in end.cidrs.iter().enumerate() {
                    for (j, (attr, hop)) in hops.iter().enumerate() {
                        let (i, j) = (i.to_string(), j.to_string());
                        gcp.routes.push(GcpRoute {
                            name: label(&[&net, role, &i, &j]),
                            route_name: resource_name(&["sb", &net, role, &i, &j]),
                            comment: comment.clone(),
                            network: net.clone(),
                            cidr: cidr.clone(),
                            priority,
                            next_hop_attr: attr,
                            next_hop: hop.clone(),
                        });
                    }
                }
            }
            // AWS and Azure backups: BGP, not a static route.
            _ => {}
        }
    }
    let hb = registry()?;
    let mut out = Vec::new();
    for cloud in [Cloud::Aws, Cloud::Azure, Cloud::Gcp] {
        if !touched.contains(&cloud) {
            continue;
        }
        let text = match cloud {
            Cloud::Aws => fill(&hb, "aws", &aws)?,
            Cloud::Azure => fill(&hb, "azure", &azure)?,
            _ => fill(&hb, "gcp", &gcp)?,
        };
        out.push(Rendered {
            name: format!("{}.tf", cloud_word(cloud)),
            text,
        });
    }
    if out.is_empty() {
        return Err(ConfigError::NothingToRender(
            "joins no cloud network".into(),
            "terraform",
        ));
    }
    Ok(out)
}

fn cloud_word(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Aws => "aws",
        Cloud::Azure => "azure",
        Cloud::Gcp => "gcp",
        Cloud::Onprem => "onprem",
    }
}

#[derive(Serialize)]
struct RouterData {
    plan: String,
    router: String,
    asn: u32,
    notes: Vec<String>,
    route_maps: Vec<RouteMap>,
    neighbors: Vec<Neighbor>,
}

#[derive(Serialize, PartialEq)]
struct RouteMap {
    name: &'static str,
    preference: u32,
}

#[derive(Serialize)]
struct Neighbor {
    address: IpAddr,
    asn: u32,
    description: String,
    route_map: &'static str,
}

/// One file per on-prem router a path's links land on: a route-map per
/// role with the plan's local preference, bound to the neighbors over those
/// links.
fn routers(
    plan: &Plan,
    inventory: &OnpremInventory,
    target: Target,
) -> Result<Vec<Rendered>, ConfigError> {
    let mut by_router: BTreeMap<String, RouterData> = BTreeMap::new();
    let mut notes = Vec::new();
    let on_prem = |id: &str| {
        plan.estate
            .networks
            .iter()
            .any(|n| n.id.as_str() == id && n.kind == NetworkKind::Datacenter)
    };
    for (role, path, preference) in &plan.paths {
        for link in path {
            if !on_prem(link.a.as_str()) && !on_prem(link.b.as_str()) {
                continue;
            }
            if link.kind == ConnectionKind::Internet {
                notes.push(format!(
                    "{} ({}): the inventory has no BGP session with the ISP; set local-preference {preference} on that neighbor by hand",
                    token(&link.id)?,
                    role.word()
                ));
                continue;
            }
            let LinkSessions {
                router,
                neighbors: sessions,
            } = match inventory.sessions(&link.id, link.kind) {
                Err(SessionsError::NoSession { .. }) => {
                    return Err(ConfigError::NoRouteFor {
                        link: link.id.clone(),
                        kind: link.kind.as_str(),
                        cloud: Cloud::Onprem,
                    })
                }
                other => other?,
            };
            let (router, asn) = (router.name.as_str(), router.asn);
            let data = by_router
                .entry(router.to_string())
                .or_insert_with(|| RouterData {
                    plan: plan.label.clone(),
                    router: router.to_string(),
                    asn,
                    notes: Vec::new(),
                    route_maps: Vec::new(),
                    neighbors: Vec::new(),
                });
            let map = RouteMap {
                name: role.route_map(),
                preference: *preference,
            };
            if !data.route_maps.contains(&map) {
                data.route_maps.push(map);
            }
            let description = token(&link.id)?;
            for (address, peer_asn) in sessions {
                data.neighbors.push(Neighbor {
                    address,
                    asn: peer_asn,
                    description: format!("{description}-{}", role.word()),
                    route_map: role.route_map(),
                });
            }
        }
    }
    if by_router.is_empty() {
        return Err(ConfigError::NothingToRender(
            "lands on no on-prem router".into(),
            if target == Target::Frr { "frr" } else { "ios" },
        ));
    }
    let hb = registry()?;
    let template = if target == Target::Frr { "frr" } else { "ios" };
    by_router
        .into_values()
        .map(|mut data| {
            token(&data.router)?;
            data.notes = notes.clone();
            Ok(Rendered {
                name: data.router.clone(),
                text: fill(&hb, template, &data)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::choose::{Constraints, CostBasis, Objective};
    use crate::optimizer::query::{answer, PathsRequest};
    use crate::providers::lab::EMBEDDED_ESTATE;

    const ONPREM: &str = include_str!("../../examples/onprem.yaml");

    fn estate() -> Estate {
        Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap()
    }

    fn plan(estate: &Estate, from: &str, to: &str) -> PathsAnswer {
        let request = PathsRequest {
            from,
            to,
            traffic: "5TB",
            objective: Objective::Cost,
            basis: CostBasis::Marginal,
            constraints: Constraints::default(),
        };
        answer(estate, &request).unwrap()
    }

    fn inventory() -> OnpremInventory {
        OnpremInventory::from_yaml(ONPREM, "onprem.yaml").unwrap()
    }

    #[test]
    fn a_plan_survives_its_json() {
        let e = estate();
        let p = plan(&e, "aws:us-east-1", "azure:eastus");
        let back = parse_plan(&serde_json::to_string_pretty(&p).unwrap()).unwrap();
        // Floats may move in the last bit through JSON; what config uses may not.
        assert_eq!((&back.from, &back.to), (&p.from, &p.to));
        assert_eq!(back.recommendation.bgp, p.recommendation.bgp);
        assert_eq!(
            back.recommendation.primary.links,
            p.recommendation.primary.links
        );
    }

    #[test]
    fn bad_plans_and_targets_are_named() {
        for bad in ["not json", "{}", "[1,2]", r#"{"from": 3}"#] {
            let err = parse_plan(bad).unwrap_err().to_string();
            assert!(err.starts_with("the plan is not the JSON"), "{err}");
        }
        assert!("pulumi"
            .parse::<Target>()
            .unwrap_err()
            .to_string()
            .contains("terraform, frr or ios"));
        assert_eq!("FRR".parse::<Target>().unwrap(), Target::Frr);
    }

    #[test]
    fn routers_need_the_circuit_bgp_data_and_name_what_is_missing() {
        let e = estate();
        let p = plan(&e, "onprem:dc1", "aws:us-east-1");
        let mut inv = inventory();
        inv.circuits.retain(|c| c.reference != "dx-1");
        let err = render(Target::Frr, &p, &e, Some(&inv)).unwrap_err();
        assert!(err.to_string().contains("no circuit 'dx-1'"), "{err}");
        let mut inv = inventory();
        for c in &mut inv.circuits {
            c.bgp = None;
        }
        let err = render(Target::Ios, &p, &e, Some(&inv)).unwrap_err();
        assert!(
            err.to_string().contains("circuit 'dx-1' has no `bgp`"),
            "{err}"
        );
        let mut inv = inventory();
        inv.tunnels.clear();
        let err = render(Target::Frr, &p, &e, Some(&inv)).unwrap_err();
        assert!(err.to_string().contains("group 'vpn-aws-dc1'"), "{err}");
        let err = render(Target::Frr, &p, &e, None).unwrap_err();
        assert!(matches!(err, ConfigError::NoInventory), "{err}");
    }

    #[test]
    fn a_plan_from_another_estate_is_refused() {
        let e = estate();
        let mut p = plan(&e, "onprem:dc1", "aws:us-east-1");
        p.recommendation.bgp.local_preference[0].0 = vec!["dx-99".into()];
        let err = render(Target::Terraform, &p, &e, None).unwrap_err();
        assert!(err.to_string().contains("'dx-99'"), "{err}");
    }

    #[test]
    fn hostile_values_never_reach_the_config() {
        assert!(token("dx-1").is_ok());
        for bad in ["a\"b", "x\n router bgp 1", "${var.x}", ""] {
            assert!(token(bad).is_err(), "{bad}");
        }
        let mut e = estate();
        for n in &mut e.networks {
            if n.id.as_str() == "dc1" {
                n.cidrs = vec!["172.16.0.0/16\" }".into()];
            }
        }
        let p = plan(&e, "onprem:dc1", "aws:us-east-1");
        let err = render(Target::Terraform, &p, &e, None).unwrap_err();
        assert!(matches!(err, ConfigError::BadCidr { .. }), "{err}");
    }
}
