//! The on-prem actor: changes in a data centre's network made on its FRR
//! routers through vtysh (`router`), with FRR's commands and answers read
//! by `frr`. Which router and which BGP neighbors a connection means comes
//! from the on-prem inventory (a circuit's session, a VPN's tunnels); how
//! each router is reached from `[discovery.onprem.routers]`.
//!
//! - RoutePreference → the preferred connection's neighbors bound to
//!   `PRIMARY-IN`, the other's to `BACKUP-IN`, their routes refreshed, and
//!   then the router's best path for the destination read back until it
//!   comes from a preferred neighbor (or the apply fails). Resource
//!   `onprem:prefer:<router>|<prefix>|<neighbor>=<map>~<previous>,…` (one
//!   section per router, `+` between): enough to revert (the previous
//!   bindings) and to tell whether it still holds.
//! - Route → a static route toward the connection's first neighbor, tagged
//!   with a number from the key (`onprem:route:<router>|<prefix>|<next
//!   hop>|<tag>`).
//! - Firewall rules and DNS records on-prem have no API here: refused.
//!
//! Routers whose access is not configured, and IOS routers, are
//! render-only (`switchboard config`): a change on them is refused at
//! design, naming the router.

use super::frr::{self, Binding, RunningConfig, BACKUP_MAP, PRIMARY_MAP};
use super::router::{run_vtysh, OnpremActorConfig, RouterAccess, RouterError, Vendor};
use super::{OnpremInventory, SessionsError};
use crate::domain::{Change, Cloud, Connection, ConnectionId, Estate, NetworkKind, ResourceId};
use crate::providers::{CloudActor, ProviderError};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const NAME: &str = "onprem";
/// How often apply reads the best path while it waits for it to move.
const CONVERGE_POLL: Duration = Duration::from_millis(10);

fn refused(reason: impl Into<String>) -> ProviderError {
    ProviderError::Refused {
        provider: NAME,
        reason: reason.into(),
    }
}

fn transient(reason: impl Into<String>) -> ProviderError {
    ProviderError::Transient {
        provider: NAME,
        reason: reason.into(),
    }
}

fn router_error(router: &str, e: RouterError) -> ProviderError {
    match e {
        RouterError::Refused(why) => refused(format!("{router}: {why}")),
        other => transient(format!("{router}: {other}")),
    }
}

pub struct OnpremActor {
    config: OnpremActorConfig,
    inventory: Option<PathBuf>,
}

/// What a preference does on one router.
#[derive(Debug, Clone, PartialEq)]
struct RouterPlan {
    router: String,
    asn: u32,
    bindings: Vec<Binding>,
}

/// One router's part of a preference resource: each neighbor's map now and
/// before.
#[derive(Debug, Clone, PartialEq)]
struct Preferred {
    router: String,
    prefix: String,
    neighbors: Vec<(IpAddr, String, Option<String>)>,
}

impl Preferred {
    fn encode(sections: &[Preferred]) -> String {
        let parts: Vec<String> = sections
            .iter()
            .map(|s| {
                let neighbors: Vec<String> = s
                    .neighbors
                    .iter()
                    .map(|(addr, now, before)| {
                        format!("{addr}={now}~{}", before.as_deref().unwrap_or("-"))
                    })
                    .collect();
                format!("{}|{}|{}", s.router, s.prefix, neighbors.join(","))
            })
            .collect();
        format!("{NAME}:prefer:{}", parts.join("+"))
    }

    fn decode(id: &str) -> Option<Vec<Preferred>> {
        let rest = id.strip_prefix(&format!("{NAME}:prefer:"))?;
        rest.split('+')
            .map(|section| {
                let mut parts = section.splitn(3, '|');
                let (router, prefix, neighbors) = (parts.next()?, parts.next()?, parts.next()?);
                let neighbors = neighbors
                    .split(',')
                    .map(|n| {
                        let (addr, maps) = n.split_once('=')?;
                        let (now, before) = maps.split_once('~')?;
                        Some((
                            addr.parse().ok()?,
                            now.to_string(),
                            (before != "-").then(|| before.to_string()),
                        ))
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Preferred {
                    router: router.to_string(),
                    prefix: prefix.to_string(),
                    neighbors,
                })
            })
            .collect()
    }
}

/// A static route resource.
#[derive(Debug, Clone, PartialEq)]
struct StaticRoute {
    router: String,
    prefix: String,
    next_hop: IpAddr,
    tag: u32,
}

impl StaticRoute {
    fn encode(&self) -> String {
        format!(
            "{NAME}:route:{}|{}|{}|{}",
            self.router, self.prefix, self.next_hop, self.tag
        )
    }

    fn decode(id: &str) -> Option<StaticRoute> {
        let rest = id.strip_prefix(&format!("{NAME}:route:"))?;
        let mut parts = rest.split('|');
        let route = StaticRoute {
            router: parts.next()?.to_string(),
            prefix: parts.next()?.to_string(),
            next_hop: parts.next()?.parse().ok()?,
            tag: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(route)
    }

    fn line(&self) -> String {
        frr::static_route(&self.prefix, self.next_hop, self.tag)
    }
}

/// `cidr` as FRR prints a prefix (`10.0.0.0/8`), or why not.
fn checked_prefix(cidr: &str) -> Result<String, ProviderError> {
    let (address, bits) = cidr
        .split_once('/')
        .ok_or_else(|| refused(format!("'{cidr}' is not a CIDR")))?;
    let address: IpAddr = address
        .parse()
        .map_err(|_| refused(format!("'{cidr}' is not a CIDR")))?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits: u8 = bits
        .parse()
        .ok()
        .filter(|b| *b <= max)
        .ok_or_else(|| refused(format!("'{cidr}' is not a CIDR")))?;
    Ok(format!("{address}/{bits}"))
}

impl OnpremActor {
    /// `inventory`: the on-prem inventory file (`[discovery]
    /// onprem_inventory`), read afresh for each change.
    pub fn new(config: OnpremActorConfig, inventory: Option<PathBuf>) -> OnpremActor {
        OnpremActor { config, inventory }
    }

    fn deadline(&self) -> Duration {
        Duration::from_secs(self.config.command_timeout_secs)
    }

    fn inventory(&self) -> Result<OnpremInventory, ProviderError> {
        let path = self.inventory.as_ref().ok_or_else(|| {
            refused("no on-prem inventory ([discovery] onprem_inventory): which router a connection lands on is unknown")
        })?;
        OnpremInventory::load(path).map_err(|e| refused(e.to_string()))
    }

    fn access(&self, router: &str) -> Result<&RouterAccess, ProviderError> {
        let access = self.config.routers.get(router).ok_or_else(|| {
            refused(format!(
                "router '{router}' is render-only: no [discovery.onprem.routers.{router}] says how to reach it (`switchboard config --target frr` renders its config)"
            ))
        })?;
        if access.vendor == Vendor::Ios {
            return Err(refused(format!(
                "router '{router}' runs IOS, which switchboard only renders config for (`switchboard config --target ios`)"
            )));
        }
        Ok(access)
    }

    /// The connection's router, its ASN and the connection's neighbors.
    fn sessions(
        &self,
        inventory: &OnpremInventory,
        connection: &Connection,
    ) -> Result<(String, u32, Vec<IpAddr>), ProviderError> {
        // Discovery names the circuit (a DX connection, an ExpressRoute
        // service key) or the VPN connection a link rides as its group.
        let link = connection
            .group
            .as_deref()
            .unwrap_or(connection.id.as_str());
        let sessions = inventory
            .sessions(link, connection.kind)
            .map_err(|e: SessionsError| refused(e.to_string()))?;
        Ok((
            sessions.router.name.clone(),
            sessions.router.asn,
            sessions.neighbors.iter().map(|(a, _)| *a).collect(),
        ))
    }

    fn connection<'e>(
        estate: &'e Estate,
        id: &ConnectionId,
    ) -> Result<&'e Connection, ProviderError> {
        estate
            .connection(id)
            .ok_or_else(|| refused(format!("connection '{id}' is not in {}", estate.name)))
    }

    fn datacenter(change: &Change, estate: &Estate) -> Result<(), ProviderError> {
        let network = change.network();
        match estate.network(network) {
            Some(n) if n.cloud == Cloud::Onprem && n.kind == NetworkKind::Datacenter => Ok(()),
            Some(_) => Err(refused(format!(
                "'{network}' is not an on-prem data centre"
            ))),
            None => Err(refused(format!(
                "network '{network}' is not in {}",
                estate.name
            ))),
        }
    }

    /// Per router, the bindings a preference of `preferred` over `other` makes.
    fn preference_plan(
        &self,
        estate: &Estate,
        preferred: &ConnectionId,
        other: &ConnectionId,
    ) -> Result<Vec<RouterPlan>, ProviderError> {
        let inventory = self.inventory()?;
        let mut plans: BTreeMap<String, RouterPlan> = BTreeMap::new();
        for (id, map) in [(preferred, PRIMARY_MAP), (other, BACKUP_MAP)] {
            let (router, asn, neighbors) =
                self.sessions(&inventory, Self::connection(estate, id)?)?;
            self.access(&router)?;
            let plan = plans.entry(router.clone()).or_insert_with(|| RouterPlan {
                router,
                asn,
                bindings: Vec::new(),
            });
            for neighbor in neighbors {
                if plan.bindings.iter().any(|b| b.neighbor == neighbor) {
                    return Err(refused(format!(
                        "neighbor {neighbor} carries both '{preferred}' and '{other}': no preference can tell them apart"
                    )));
                }
                plan.bindings.push(Binding {
                    neighbor,
                    map: map.to_string(),
                });
            }
        }
        Ok(plans.into_values().collect())
    }

    fn route_plan(
        &self,
        estate: &Estate,
        via: &ConnectionId,
    ) -> Result<(String, IpAddr), ProviderError> {
        let inventory = self.inventory()?;
        let (router, _, neighbors) = self.sessions(&inventory, Self::connection(estate, via)?)?;
        self.access(&router)?;
        let next_hop = neighbors
            .first()
            .copied()
            .ok_or_else(|| refused(format!("'{via}' has no BGP neighbor to route through")))?;
        Ok((router, next_hop))
    }

    async fn vtysh(&self, router: &str, commands: &[String]) -> Result<String, ProviderError> {
        run_vtysh(self.access(router)?, commands, self.deadline())
            .await
            .map_err(|e| router_error(router, e))
    }

    async fn running(&self, router: &str) -> Result<RunningConfig, ProviderError> {
        let text = self
            .vtysh(router, &["show running-config".to_string()])
            .await?;
        Ok(frr::parse_running_config(&text))
    }

    async fn best_peer(&self, router: &str, prefix: &str) -> Result<Option<IpAddr>, ProviderError> {
        let json = self
            .vtysh(router, &[format!("show bgp ipv4 unicast {prefix} json")])
            .await?;
        frr::best_path_peer(&json).map_err(|e| transient(format!("{router}: {e}")))
    }

    /// Waits until the router's best path for `prefix` comes from one of
    /// `preferred`.
    async fn converged(
        &self,
        router: &str,
        prefix: &str,
        preferred: &[IpAddr],
    ) -> Result<(), ProviderError> {
        let deadline = Instant::now() + Duration::from_secs(self.config.converge_timeout_secs);
        loop {
            let best = self.best_peer(router, prefix).await?;
            if best.is_some_and(|b| preferred.contains(&b)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(transient(format!(
                    "{router}: the best path for {prefix} still comes from {} {:?} after the change (preferred: {})",
                    best.map_or("no neighbor".to_string(), |b| b.to_string()),
                    Duration::from_secs(self.config.converge_timeout_secs),
                    preferred
                        .iter()
                        .map(IpAddr::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            tokio::time::sleep(CONVERGE_POLL).await;
        }
    }

    async fn prefer(
        &self,
        plans: Vec<RouterPlan>,
        prefix: String,
        key: &str,
    ) -> Result<ResourceId, ProviderError> {
        let description = frr::key_description(key);
        let mut sections = Vec::new();
        for plan in &plans {
            let running = self.running(&plan.router).await?;
            match running.asn {
                Some(asn) if asn == plan.asn => {}
                Some(asn) => {
                    return Err(refused(format!(
                        "{}: runs AS{asn} but the inventory says AS{}",
                        plan.router, plan.asn
                    )))
                }
                // vtysh leaves out what a daemon it cannot reach holds.
                None => {
                    return Err(transient(format!(
                    "{}: vtysh shows no BGP instance: bgpd is not running or vtysh cannot reach it",
                    plan.router
                )))
                }
            }
            frr::preferences_in_order(&running)
                .map_err(|e| refused(format!("{}: {e}", plan.router)))?;
            // A retry of this key finds its own bindings in place: what was
            // there before is the swap it made.
            let ours = running
                .route_maps
                .get(PRIMARY_MAP)
                .and_then(|m| m.description.as_deref())
                == Some(description.as_str());
            let neighbors = plan
                .bindings
                .iter()
                .map(|b| {
                    let now = running.inbound.get(&b.neighbor).cloned();
                    let before = match now {
                        Some(ref m) if m == &b.map && ours => Some(if b.map == PRIMARY_MAP {
                            BACKUP_MAP.to_string()
                        } else {
                            PRIMARY_MAP.to_string()
                        }),
                        other => other,
                    };
                    (b.neighbor, b.map.clone(), before)
                })
                .collect();
            sections.push(Preferred {
                router: plan.router.clone(),
                prefix: prefix.clone(),
                neighbors,
            });
            let commands =
                frr::preference_commands(&running, plan.asn, &plan.bindings, &description);
            if !commands.is_empty() {
                self.vtysh(&plan.router, &commands).await?;
            }
        }
        for plan in &plans {
            let preferred: Vec<IpAddr> = plan
                .bindings
                .iter()
                .filter(|b| b.map == PRIMARY_MAP)
                .map(|b| b.neighbor)
                .collect();
            if !preferred.is_empty() {
                self.converged(&plan.router, &prefix, &preferred).await?;
            }
        }
        Ok(ResourceId::new(Preferred::encode(&sections)))
    }

    async fn add_route(&self, route: StaticRoute) -> Result<ResourceId, ProviderError> {
        let running = self.running(&route.router).await?;
        let line = route.line();
        if !running.static_routes.contains(&line) {
            self.vtysh(
                &route.router,
                &["configure terminal".into(), line, "end".into()],
            )
            .await?;
        }
        Ok(ResourceId::new(route.encode()))
    }
}

#[async_trait]
impl CloudActor for OnpremActor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cloud(&self) -> Cloud {
        Cloud::Onprem
    }

    fn check(&self, change: &Change, estate: &Estate) -> Result<(), ProviderError> {
        Self::datacenter(change, estate)?;
        match change {
            Change::RoutePreference {
                destination_cidr,
                preferred,
                other,
                ..
            } => {
                checked_prefix(destination_cidr)?;
                self.preference_plan(estate, preferred, other).map(|_| ())
            }
            Change::Route {
                destination_cidr,
                via,
                ..
            } => {
                checked_prefix(destination_cidr)?;
                self.route_plan(estate, via).map(|_| ())
            }
            Change::AllowIngress { .. } => Err(refused(
                "on-prem firewalls are not switchboard's to change: open it by hand",
            )),
            Change::DnsRecord { .. } => Err(refused(
                "on-prem DNS is not switchboard's to change: add the record by hand",
            )),
        }
    }

    fn plan(&self, change: &Change, estate: &Estate) -> Vec<String> {
        match change {
            Change::RoutePreference {
                destination_cidr,
                preferred,
                other,
                ..
            } => self
                .preference_plan(estate, preferred, other)
                .map(|plans| {
                    plans
                        .iter()
                        .flat_map(|p| {
                            p.bindings.iter().map(move |b| {
                                format!(
                                    "vtysh@{}: neighbor {} route-map {} in; clear bgp ipv4 unicast {} soft in; best path for {destination_cidr} read back",
                                    p.router, b.neighbor, b.map, b.neighbor
                                )
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Change::Route {
                destination_cidr,
                via,
                ..
            } => self
                .route_plan(estate, via)
                .map(|(router, next_hop)| {
                    vec![format!(
                        "vtysh@{router}: ip route {destination_cidr} {next_hop} tag <from the key>"
                    )]
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    async fn apply(
        &self,
        change: &Change,
        idempotency_key: &str,
        estate: &Estate,
    ) -> Result<ResourceId, ProviderError> {
        self.check(change, estate)?;
        match change {
            Change::RoutePreference {
                destination_cidr,
                preferred,
                other,
                ..
            } => {
                let plans = self.preference_plan(estate, preferred, other)?;
                self.prefer(plans, checked_prefix(destination_cidr)?, idempotency_key)
                    .await
            }
            Change::Route {
                destination_cidr,
                via,
                ..
            } => {
                let (router, next_hop) = self.route_plan(estate, via)?;
                self.add_route(StaticRoute {
                    router,
                    prefix: checked_prefix(destination_cidr)?,
                    next_hop,
                    tag: frr::route_tag(idempotency_key),
                })
                .await
            }
            _ => unreachable!("check refused it"),
        }
    }

    async fn revert(&self, resource: &ResourceId) -> Result<(), ProviderError> {
        let id = resource.as_str();
        match Made::decode(id) {
            Some(Made::Prefer(sections)) => {
                for section in sections {
                    let running = self.running(&section.router).await?;
                    let asn = running
                        .asn
                        .ok_or_else(|| refused(format!("{}: runs no BGP", section.router)))?;
                    for (neighbor, now, before) in &section.neighbors {
                        // Put back only what is still as this change left it.
                        if running.inbound.get(neighbor) != Some(now)
                            || before.as_ref() == Some(now)
                        {
                            continue;
                        }
                        let commands = frr::unbind_commands(asn, *neighbor, now, before.as_deref());
                        self.vtysh(&section.router, &commands).await?;
                    }
                }
                Ok(())
            }
            Some(Made::Route(route)) => {
                let running = self.running(&route.router).await?;
                if running.static_routes.contains(&route.line()) {
                    self.vtysh(
                        &route.router,
                        &[
                            "configure terminal".into(),
                            format!("no {}", route.line()),
                            "end".into(),
                        ],
                    )
                    .await?;
                }
                Ok(())
            }
            None => Err(refused(format!(
                "'{id}' is not an on-prem resource switchboard made"
            ))),
        }
    }

    async fn present(
        &self,
        resources: &[ResourceId],
    ) -> Result<HashSet<ResourceId>, ProviderError> {
        let mut running: BTreeMap<String, RunningConfig> = BTreeMap::new();
        let mut present = HashSet::new();
        for resource in resources {
            let Some(made) = Made::decode(resource.as_str()) else {
                continue;
            };
            for router in made.routers() {
                if !running.contains_key(router) {
                    let config = self.running(router).await?;
                    running.insert(router.to_string(), config);
                }
            }
            if made.holds(&running) {
                present.insert(resource.clone());
            }
        }
        Ok(present)
    }
}

/// What an on-prem resource id stands for.
enum Made {
    Prefer(Vec<Preferred>),
    Route(StaticRoute),
}

impl Made {
    fn decode(id: &str) -> Option<Made> {
        Preferred::decode(id)
            .map(Made::Prefer)
            .or_else(|| StaticRoute::decode(id).map(Made::Route))
    }

    fn routers(&self) -> Vec<&str> {
        match self {
            Made::Prefer(sections) => sections.iter().map(|s| s.router.as_str()).collect(),
            Made::Route(route) => vec![route.router.as_str()],
        }
    }

    /// Whether the routers' running configs still hold it.
    fn holds(&self, running: &BTreeMap<String, RunningConfig>) -> bool {
        match self {
            Made::Prefer(sections) => sections.iter().all(|s| {
                running.get(&s.router).is_some_and(|c| {
                    s.neighbors
                        .iter()
                        .all(|(n, now, _)| c.inbound.get(n) == Some(now))
                })
            }),
            Made::Route(route) => running
                .get(&route.router)
                .is_some_and(|c| c.static_routes.contains(&route.line())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_carry_what_revert_and_present_need() {
        let sections = vec![
            Preferred {
                router: "dc1-edge-1".into(),
                prefix: "198.18.4.0/24".into(),
                neighbors: vec![
                    (
                        "10.251.0.6".parse().unwrap(),
                        "PRIMARY-IN".into(),
                        Some("BACKUP-IN".into()),
                    ),
                    ("10.251.0.2".parse().unwrap(), "BACKUP-IN".into(), None),
                ],
            },
            Preferred {
                router: "dc1-edge-2".into(),
                prefix: "198.18.4.0/24".into(),
                neighbors: vec![(
                    "fd00::2".parse().unwrap(),
                    "BACKUP-IN".into(),
                    Some("PRIMARY-IN".into()),
                )],
            },
        ];
        let id = Preferred::encode(&sections);
        assert!(id.starts_with(
            "onprem:prefer:dc1-edge-1|198.18.4.0/24|10.251.0.6=PRIMARY-IN~BACKUP-IN,"
        ));
        assert_eq!(Preferred::decode(&id), Some(sections));
        let route = StaticRoute {
            router: "dc1-edge-1".into(),
            prefix: "10.70.0.0/16".into(),
            next_hop: "10.251.0.2".parse().unwrap(),
            tag: 42,
        };
        assert_eq!(StaticRoute::decode(&route.encode()), Some(route));
        assert_eq!(Preferred::decode("aws:x"), None);
        assert_eq!(StaticRoute::decode("onprem:route:a|b|notip|1"), None);
    }

    #[test]
    fn prefixes_are_checked_before_they_reach_a_command() {
        assert_eq!(checked_prefix("198.18.4.0/24").unwrap(), "198.18.4.0/24");
        assert!(checked_prefix("198.18.4.0/24\nend").is_err());
        assert!(checked_prefix("198.18.4.0/33").is_err());
        assert!(checked_prefix("10.0.0.0").is_err());
    }
}
