//! The Azure actor: carries out one typed change at a time over ARM
//! (`arm::ArmWriter`: long-running operations followed to their end under a
//! deadline, 429/5xx retried, conditional writes).
//!
//! | change | ARM calls |
//! |---|---|
//! | AllowIngress | PUT a security rule in each NSG of the service (its subnet's, its interface's) at the lowest free inbound priority of the band (default 3000–3999), re-read and retried on `SecurityRuleConflict`; for a SQL server with public network access also PUT a server firewall rule |
//! | Route | PUT a route in the route table of each subnet of the VNet (not the GatewaySubnet), next hop the virtual network gateway; nothing over a peering (a system route) |
//! | RoutePreference | PUT the route to the destination with the preferred next hop, over the route's ETag (`If-Match`), re-read and retried when someone changed it meanwhile |
//! | DnsRecord | PUT an A (or CNAME) record set, `If-None-Match: *`, in the private DNS zone of the name that is linked to the VNet |
//!
//! `check` refuses from the estate alone what cannot be done (a service with
//! no NSG known, a public firewall rule for a non-IPv4 range, a route over a
//! connection no route table can point at, a preference between two
//! connections behind the same gateway), so the design fails before anyone
//! approves it.
//!
//! Idempotency: names come from the key (`sb-<hash>`), a rule carries the
//! key in its description and a record set in its metadata; a retry after a
//! crash finds its own work and creates nothing twice, and never takes a
//! rule or record someone else made for its own.

use super::arm::{ArmError, ArmWriter, Condition, Pace};
use super::discovery::{AzureCredential, AzureDiscoveryConfig, DEFAULT_ENDPOINT};
use super::resource::{
    api_version_of, firewall_rule, free_priority, made_under, name_of, record_set,
    rule_description, security_rule, subscription_of, zones_for, AzureResource, NextHop,
    PRIVATE_DNS_API_VERSION,
};
use crate::domain::{Change, Cloud, ConnectionId, ConnectionKind, Estate, Network, ResourceId};
use crate::providers::rest::RestClient;
use crate::providers::{key_name, CloudActor, ProviderError};
use reqwest::Url;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const NAME: &str = "azure";
/// A token is asked for again after this long (ARM's last an hour).
const TOKEN_REUSE: Duration = Duration::from_secs(30 * 60);
/// Tries at a write that meets a concurrent change (a priority taken, an
/// ETag moved) before giving up.
const CONFLICT_ATTEMPTS: u32 = 4;
/// Pages of a list read before it is taken as a server looping.
const MAX_PAGES: usize = 100;

pub struct AzureActor {
    config: AzureDiscoveryConfig,
    credential: Option<AzureCredential>,
    writer: Mutex<Option<(Instant, Arc<ArmWriter>)>>,
}

fn refused(reason: impl Into<String>) -> ProviderError {
    ProviderError::Refused {
        provider: NAME,
        reason: reason.into(),
    }
}

impl From<ArmError> for ProviderError {
    fn from(e: ArmError) -> ProviderError {
        if e.is_retryable() {
            ProviderError::Transient {
                provider: NAME,
                reason: e.to_string(),
            }
        } else {
            refused(e.to_string())
        }
    }
}

/// The VNet a change lands in.
fn vnet_of<'e>(estate: &'e Estate, change: &Change) -> Result<&'e Network, ProviderError> {
    let network = change.network();
    let n = estate
        .network(network)
        .ok_or_else(|| refused(format!("unknown network '{network}'")))?;
    if n.cloud != Cloud::Azure || !n.id.as_str().contains("/virtualnetworks/") {
        return Err(refused(format!(
            "'{network}' is not an Azure virtual network; the Azure provider acts only in VNets"
        )));
    }
    Ok(n)
}

/// Where a route over `via` goes from `vnet`: the VNet's gateway for a VPN
/// or ExpressRoute connection, the internet for an internet path; `None`
/// over a peering (Azure routes it by itself).
fn next_hop(
    vnet: &Network,
    via: &ConnectionId,
    estate: &Estate,
) -> Result<Option<NextHop>, String> {
    let conn = estate
        .connection(via)
        .ok_or_else(|| format!("unknown connection '{via}'"))?;
    if conn.other_end(&vnet.id).is_none() {
        return Err(format!("connection '{via}' does not reach {}", vnet.id));
    }
    match conn.kind {
        ConnectionKind::Vpn | ConnectionKind::Expressroute => {
            Ok(Some(NextHop::VirtualNetworkGateway))
        }
        ConnectionKind::Internet => Ok(Some(NextHop::Internet)),
        ConnectionKind::Peering => Ok(None),
        other => Err(format!(
            "a route over a {} connection ('{via}') is not something an Azure route table can point at",
            other.as_str()
        )),
    }
}

/// The NSGs an ingress rule for the change's service goes into: every one
/// it is behind (an interface's and a subnet's NSG must both allow).
fn service_nsgs<'e>(
    change: &Change,
    estate: &'e Estate,
) -> Result<&'e crate::domain::Service, ProviderError> {
    let Change::AllowIngress {
        service, from_cidr, ..
    } = change
    else {
        return Err(refused("not an ingress change"));
    };
    let service = service
        .as_ref()
        .and_then(|id| estate.service(id))
        .ok_or_else(|| refused("the rule names no service of the estate to open"))?;
    if service.security_groups.is_empty() {
        return Err(refused(format!(
            "{} ({}) has no network security group known to take the rule",
            service.name, service.id
        )));
    }
    if service.public_endpoint && firewall_rule(from_cidr).is_none() {
        return Err(refused(format!(
            "{}'s firewall takes IPv4 ranges only, not '{from_cidr}'",
            service.name
        )));
    }
    Ok(service)
}

/// The private zone a record goes into must not be an Azure-owned public
/// domain (it would hide every other name in it from the VNet), except the
/// `privatelink.` zones Azure made for this.
fn record_allowed(name: &str) -> Result<(), ProviderError> {
    let zones = zones_for(name);
    let Some(zone) = zones.first() else {
        return Err(refused(format!("'{name}' has no parent zone to hold it")));
    };
    let azure_owned = [".windows.net", ".azure.com", ".azure.net"]
        .iter()
        .any(|d| zone.ends_with(d));
    if azure_owned && !zone.starts_with("privatelink.") {
        return Err(refused(format!(
            "'{name}' is under an Azure-owned domain; a private zone for {zone} would hide every other name in it"
        )));
    }
    Ok(())
}

/// The calls `apply` makes for `change`, for the approval card.
pub fn plan(change: &Change, estate: &Estate, band: (u16, u16)) -> Vec<String> {
    let short = |id: &str| name_of(id).to_string();
    match change {
        Change::AllowIngress {
            from_cidr, port, ..
        } => match service_nsgs(change, estate) {
            Ok(service) => {
                let mut calls: Vec<String> = service
                    .security_groups
                    .iter()
                    .map(|nsg| {
                        format!(
                            "network:securityRules PUT in {} Tcp/{port} from {from_cidr} to {}, first free priority {}–{}",
                            short(nsg),
                            service.address,
                            band.0,
                            band.1
                        )
                    })
                    .collect();
                if service.public_endpoint {
                    calls.push(format!(
                        "sql:firewallRules PUT on {} for {from_cidr} (public network access is on)",
                        service.name
                    ));
                }
                calls
            }
            Err(e) => vec![format!("refused: {e}")],
        },
        Change::Route {
            network,
            destination_cidr,
            via,
        } => match estate
            .network(network)
            .ok_or_else(|| "unknown network".to_string())
            .and_then(|n| next_hop(n, via, estate))
        {
            Ok(Some(hop)) => vec![format!(
                "network:routes PUT {destination_cidr} → {hop} in the route table of each subnet of {}",
                short(network.as_str())
            )],
            Ok(None) => vec![format!(
                "none: {destination_cidr} is reached over the peering {via} by Azure's own system route"
            )],
            Err(e) => vec![format!("refused: {e}")],
        },
        Change::RoutePreference {
            network,
            destination_cidr,
            preferred,
            ..
        } => vec![format!(
            "network:routes PUT {destination_cidr} next hop toward {preferred} (If-Match) in the route tables of {}",
            short(network.as_str())
        )],
        Change::DnsRecord {
            zone,
            name,
            address,
        } => vec![format!(
            "privatedns:recordSets PUT {name} → {address} (If-None-Match) in the private zone linked to {}",
            short(zone.as_str())
        )],
    }
}

impl AzureActor {
    pub fn new(config: AzureDiscoveryConfig, credential: Option<AzureCredential>) -> AzureActor {
        AzureActor {
            config,
            credential,
            writer: Mutex::new(None),
        }
    }

    fn band(&self) -> (u16, u16) {
        let [low, high] = self.config.rule_priorities;
        (low, high)
    }

    fn endpoint(&self) -> Result<Url, ProviderError> {
        let endpoint = self.config.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        Url::parse(endpoint.trim_end_matches('/'))
            .map_err(|e| refused(format!("endpoint '{endpoint}': {e}")))
    }

    /// The writer, with a token asked for at most every half hour.
    async fn arm(&self) -> Result<Arc<ArmWriter>, ProviderError> {
        let mut held = self.writer.lock().await;
        if let Some((since, writer)) = held.as_ref() {
            if since.elapsed() < TOKEN_REUSE {
                return Ok(writer.clone());
            }
        }
        let timeout = Duration::from_secs(self.config.timeout_secs.max(1));
        let rest = RestClient::new(NAME, timeout, self.config.max_attempts)
            .map_err(|e| refused(e.to_string()))?;
        let credential = self
            .credential
            .clone()
            .unwrap_or_else(AzureCredential::from_env);
        let resource = format!("{}/", self.endpoint()?.origin().ascii_serialization());
        let token =
            credential
                .token(&rest, &resource)
                .await
                .map_err(|e| ProviderError::Transient {
                    provider: NAME,
                    reason: e.to_string(),
                })?;
        let writer = Arc::new(ArmWriter::new(
            rest.http().clone(),
            token,
            Pace {
                max_attempts: self.config.max_attempts.max(1),
                poll: Duration::from_millis(self.config.poll_ms.max(1)),
                deadline: Duration::from_secs(self.config.operation_timeout_secs.max(1)),
            },
        ));
        *held = Some((Instant::now(), writer.clone()));
        Ok(writer)
    }

    fn url(&self, arm_id: &str, api_version: &str) -> Result<Url, ProviderError> {
        let mut url = self
            .endpoint()?
            .join(arm_id)
            .map_err(|e| refused(format!("'{arm_id}': {e}")))?;
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url)
    }

    async fn get(
        &self,
        arm_id: &str,
        api: &str,
    ) -> Result<Option<(Value, Option<String>)>, ProviderError> {
        let url = self.url(arm_id, api_version_of(arm_id))?;
        Ok(self.arm().await?.get(&url, api).await?)
    }

    async fn put(
        &self,
        arm_id: &str,
        body: &Value,
        condition: Condition<'_>,
        api: &str,
    ) -> Result<Value, ArmError> {
        let url = self
            .url(arm_id, api_version_of(arm_id))
            .map_err(|e| ArmError::Unfollowable {
                api: api.to_string(),
                detail: e.to_string(),
            })?;
        let arm = self.arm().await.map_err(|e| ArmError::Unreachable {
            api: api.to_string(),
            detail: e.to_string(),
        })?;
        arm.put(&url, body, condition, api).await
    }

    /// Every item of an ARM list under `path`, following `nextLink` on the
    /// same endpoint only.
    async fn list(
        &self,
        path: &str,
        api_version: &str,
        api: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        let endpoint = self.endpoint()?;
        let mut url = self.url(path, api_version)?;
        let arm = self.arm().await?;
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = arm
                .get(&url, api)
                .await?
                .map(|(v, _)| v)
                .unwrap_or_default();
            items.extend(page["value"].as_array().into_iter().flatten().cloned());
            match page["nextLink"].as_str().map(Url::parse) {
                Some(Ok(next)) if next.origin() == endpoint.origin() => url = next,
                Some(_) => {
                    return Err(refused(format!("{api}: a nextLink that leaves {endpoint}")))
                }
                None => return Ok(items),
            }
        }
        Err(refused(format!("{api}: more than {MAX_PAGES} pages")))
    }

    async fn allow_ingress(
        &self,
        change: &Change,
        key: &str,
        estate: &Estate,
    ) -> Result<AzureResource, ProviderError> {
        let service = service_nsgs(change, estate)?;
        let Change::AllowIngress {
            from_cidr,
            port,
            description,
            ..
        } = change
        else {
            return Err(refused("not an ingress change"));
        };
        let name = key_name(key, "rule");
        let text = rule_description(key, description);
        let mut made = Vec::new();
        for nsg in &service.security_groups {
            let rule_id = format!("{nsg}/securityRules/{name}");
            made.push(
                self.security_rule(nsg, &rule_id, key, |priority| {
                    security_rule(from_cidr, &service.address, *port, priority, &text)
                })
                .await?,
            );
        }
        if service.public_endpoint {
            let server = service.id.as_str();
            if !server.contains("/providers/microsoft.sql/servers/") {
                return Err(refused(format!(
                    "{} has a public endpoint but is not a SQL server ARM id",
                    service.name
                )));
            }
            let body = firewall_rule(from_cidr)
                .ok_or_else(|| refused(format!("'{from_cidr}' is not an IPv4 range")))?;
            let rule_id = format!("{server}/firewallRules/{name}");
            self.put(
                &rule_id,
                &body,
                Condition::Always,
                "FirewallRules_CreateOrUpdate",
            )
            .await?;
            made.push(rule_id);
        }
        Ok(AzureResource::Made(made))
    }

    /// The rule `rule_id` in `nsg`, made under `key`: found when a retry
    /// made it already, else put at the first free priority, again at the
    /// next one when someone else took it meanwhile.
    async fn security_rule(
        &self,
        nsg: &str,
        rule_id: &str,
        key: &str,
        body: impl Fn(u16) -> Value,
    ) -> Result<String, ProviderError> {
        const API: &str = "SecurityRules_CreateOrUpdate";
        if let Some((rule, _)) = self.get(rule_id, "SecurityRules_Get").await? {
            return if made_under(&rule, key) {
                Ok(rule_id.to_string())
            } else {
                Err(refused(format!(
                    "{rule_id} exists and is not switchboard's for {key}"
                )))
            };
        }
        for _ in 0..CONFLICT_ATTEMPTS {
            let (group, _) = self
                .get(nsg, "NetworkSecurityGroups_Get")
                .await?
                .ok_or_else(|| refused(format!("network security group {nsg} is gone")))?;
            let priority = free_priority(&group, self.band()).ok_or_else(|| {
                refused(format!(
                    "{nsg} has no free inbound priority in {}–{}",
                    self.band().0,
                    self.band().1
                ))
            })?;
            match self
                .put(rule_id, &body(priority), Condition::Always, API)
                .await
            {
                Ok(_) => return Ok(rule_id.to_string()),
                Err(ArmError::Refused { ref code, .. }) if code == "SecurityRuleConflict" => {
                    tracing::info!(
                        nsg,
                        priority,
                        "azure: priority taken meanwhile; reading the NSG again"
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(refused(format!(
            "{nsg}: every priority tried was taken by someone else meanwhile ({CONFLICT_ATTEMPTS} tries)"
        )))
    }

    /// The route tables of the VNet's subnets (not the GatewaySubnet's).
    async fn route_tables(&self, vnet: &Network) -> Result<Vec<String>, ProviderError> {
        let (body, _) = self
            .get(vnet.id.as_str(), "VirtualNetworks_Get")
            .await?
            .ok_or_else(|| refused(format!("virtual network {} is gone", vnet.id)))?;
        let mut tables: Vec<String> = Vec::new();
        for subnet in body["properties"]["subnets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if subnet["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("GatewaySubnet"))
            {
                continue;
            }
            if let Some(table) = subnet["properties"]["routeTable"]["id"].as_str() {
                let table = table.to_ascii_lowercase();
                if !tables.contains(&table) {
                    tables.push(table);
                }
            }
        }
        if tables.is_empty() {
            return Err(refused(format!(
                "no subnet of {} has a route table; its traffic follows the routes its gateway propagates. Associate a route table for switchboard to route it",
                vnet.name
            )));
        }
        Ok(tables)
    }

    async fn route(
        &self,
        vnet: &Network,
        cidr: &str,
        via: &ConnectionId,
        key: &str,
        estate: &Estate,
    ) -> Result<AzureResource, ProviderError> {
        let Some(hop) = next_hop(vnet, via, estate).map_err(refused)? else {
            return Ok(AzureResource::Made(Vec::new()));
        };
        let name = key_name(key, "route");
        let mut made = Vec::new();
        for table in self.route_tables(vnet).await? {
            let (body, _) = self
                .get(&table, "RouteTables_Get")
                .await?
                .ok_or_else(|| refused(format!("route table {table} is gone")))?;
            let theirs = body["properties"]["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| {
                    r["properties"]["addressPrefix"].as_str() == Some(cidr)
                        && !r["name"]
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                });
            if let Some(route) = theirs {
                return Err(refused(format!(
                    "route table {} already routes {cidr} (route {}, next hop {}), not switchboard's",
                    name_of(&table),
                    route["name"].as_str().unwrap_or("?"),
                    NextHop::of_route(route)
                )));
            }
            let route_id = format!("{table}/routes/{name}");
            self.put(
                &route_id,
                &hop.route_body(cidr),
                Condition::Always,
                "Routes_CreateOrUpdate",
            )
            .await?;
            made.push(route_id);
        }
        Ok(AzureResource::Made(made))
    }

    async fn prefer(
        &self,
        vnet: &Network,
        cidr: &str,
        preferred: &ConnectionId,
        key: &str,
        estate: &Estate,
    ) -> Result<AzureResource, ProviderError> {
        let hop = next_hop(vnet, preferred, estate)
            .map_err(refused)?
            .ok_or_else(|| refused(format!("{preferred} is a peering: no route to point at it")))?;
        let mut pairs = Vec::new();
        for table in self.route_tables(vnet).await? {
            let (body, _) = self
                .get(&table, "RouteTables_Get")
                .await?
                .ok_or_else(|| refused(format!("route table {table} is gone")))?;
            let existing = body["properties"]["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["properties"]["addressPrefix"].as_str() == Some(cidr))
                .and_then(|r| r["name"].as_str())
                .map(|n| format!("{table}/routes/{n}"));
            match existing {
                Some(route_id) => {
                    let previous = self.set_hop(&route_id, cidr, &hop).await?;
                    pairs.push((route_id, previous));
                }
                None => {
                    let route_id = format!("{table}/routes/{}", key_name(key, "route"));
                    self.put(
                        &route_id,
                        &hop.route_body(cidr),
                        Condition::Always,
                        "Routes_CreateOrUpdate",
                    )
                    .await?;
                    pairs.push((route_id, NextHop::Absent));
                }
            }
        }
        Ok(AzureResource::Preferred(pairs))
    }

    /// Points an existing route at `hop` over its ETag, reading it again
    /// when someone changed it meanwhile; the hop it had.
    async fn set_hop(
        &self,
        route_id: &str,
        cidr: &str,
        hop: &NextHop,
    ) -> Result<NextHop, ProviderError> {
        for _ in 0..CONFLICT_ATTEMPTS {
            let Some((route, etag)) = self.get(route_id, "Routes_Get").await? else {
                return Err(refused(format!("route {route_id} is gone")));
            };
            let previous = NextHop::of_route(&route);
            if &previous == hop {
                return Ok(previous);
            }
            let condition = etag
                .as_deref()
                .map_or(Condition::Always, Condition::IfMatch);
            match self
                .put(
                    route_id,
                    &hop.route_body(cidr),
                    condition,
                    "Routes_CreateOrUpdate",
                )
                .await
            {
                Ok(_) => return Ok(previous),
                Err(ArmError::Changed { .. }) => {
                    tracing::info!(route_id, "azure: route changed meanwhile; reading it again");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(refused(format!(
            "{route_id} kept changing under switchboard ({CONFLICT_ATTEMPTS} tries)"
        )))
    }

    /// The private zone named like a suffix of `name` (longest first) that
    /// is linked to `vnet`.
    async fn linked_zone(
        &self,
        vnet: &Network,
        name: &str,
    ) -> Result<(String, String), ProviderError> {
        let subscription = subscription_of(vnet.id.as_str())
            .ok_or_else(|| refused(format!("'{}' names no subscription", vnet.id)))?;
        let zones = self
            .list(
                &format!(
                    "/subscriptions/{subscription}/providers/Microsoft.Network/privateDnsZones"
                ),
                PRIVATE_DNS_API_VERSION,
                "PrivateZones_List",
            )
            .await?;
        for candidate in zones_for(name) {
            let Some(zone) = zones.iter().find(|z| {
                z["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&candidate))
            }) else {
                continue;
            };
            let Some(zone_id) = zone["id"].as_str() else {
                continue;
            };
            let links = self
                .list(
                    &format!("{zone_id}/virtualNetworkLinks"),
                    PRIVATE_DNS_API_VERSION,
                    "VirtualNetworkLinks_List",
                )
                .await?;
            let linked = links.iter().any(|l| {
                l["properties"]["virtualNetwork"]["id"]
                    .as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case(vnet.id.as_str()))
            });
            if linked {
                return Ok((zone_id.to_string(), candidate));
            }
        }
        Err(refused(format!(
            "no private DNS zone for '{name}' is linked to {}; link one for switchboard to write the record",
            vnet.name
        )))
    }

    async fn record(
        &self,
        vnet: &Network,
        name: &str,
        address: &str,
        key: &str,
    ) -> Result<AzureResource, ProviderError> {
        record_allowed(name)?;
        let (zone_id, zone) = self.linked_zone(vnet, name).await?;
        let fqdn = name.trim_end_matches('.').to_ascii_lowercase();
        let relative = fqdn
            .strip_suffix(&format!(".{zone}"))
            .ok_or_else(|| refused(format!("'{name}' is not in {zone}")))?;
        let (kind, body) = record_set(address, key);
        let record_id = format!("{zone_id}/{kind}/{relative}");
        match self
            .put(
                &record_id,
                &body,
                Condition::IfAbsent,
                "RecordSets_CreateOrUpdate",
            )
            .await
        {
            Ok(_) => {}
            Err(ArmError::Changed { .. }) => {
                let mine = self
                    .get(&record_id, "RecordSets_Get")
                    .await?
                    .is_some_and(|(record, _)| made_under(&record, key));
                if !mine {
                    return Err(refused(format!(
                        "{fqdn} ({kind}) exists in {zone} and is not switchboard's"
                    )));
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(AzureResource::Made(vec![record_id]))
    }

    async fn delete(&self, arm_id: &str) -> Result<(), ProviderError> {
        let url = self.url(arm_id, api_version_of(arm_id))?;
        Ok(self.arm().await?.delete(&url, "delete").await?)
    }
}

#[async_trait::async_trait]
impl CloudActor for AzureActor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cloud(&self) -> Cloud {
        Cloud::Azure
    }

    fn check(&self, change: &Change, estate: &Estate) -> Result<(), ProviderError> {
        let vnet = vnet_of(estate, change)?;
        match change {
            Change::AllowIngress { .. } => service_nsgs(change, estate).map(|_| ()),
            Change::Route { via, .. } => next_hop(vnet, via, estate).map(|_| ()).map_err(refused),
            Change::RoutePreference {
                preferred, other, ..
            } => {
                let hops = [preferred, other]
                    .iter()
                    .map(|c| next_hop(vnet, c, estate))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(refused)?;
                if hops[0].is_none() {
                    return Err(refused(format!(
                        "{preferred} is a peering: no route points at it"
                    )));
                }
                if hops[0] == hops[1] {
                    return Err(refused(format!(
                        "{preferred} and {other} both leave {} through its gateway; Azure chooses between them by the connections' routing weight, not a route",
                        vnet.name
                    )));
                }
                Ok(())
            }
            Change::DnsRecord { name, .. } => record_allowed(name),
        }
    }

    fn plan(&self, change: &Change, estate: &Estate) -> Vec<String> {
        plan(change, estate, self.band())
    }

    async fn apply(
        &self,
        change: &Change,
        key: &str,
        estate: &Estate,
    ) -> Result<ResourceId, ProviderError> {
        let vnet = vnet_of(estate, change)?;
        let resource = match change {
            Change::AllowIngress { .. } => self.allow_ingress(change, key, estate).await?,
            Change::Route {
                destination_cidr,
                via,
                ..
            } => self.route(vnet, destination_cidr, via, key, estate).await?,
            Change::RoutePreference {
                destination_cidr,
                preferred,
                ..
            } => {
                self.prefer(vnet, destination_cidr, preferred, key, estate)
                    .await?
            }
            Change::DnsRecord { name, address, .. } => {
                self.record(vnet, name, address, key).await?
            }
        };
        Ok(ResourceId::new(resource.to_string()))
    }

    async fn revert(&self, resource: &ResourceId) -> Result<(), ProviderError> {
        let parsed = AzureResource::parse(resource.as_str()).ok_or_else(|| {
            refused(format!(
                "'{resource}' is not an Azure resource switchboard made"
            ))
        })?;
        match parsed {
            AzureResource::Made(ids) => {
                for id in ids.iter().rev() {
                    self.delete(id).await?;
                }
            }
            AzureResource::Preferred(pairs) => {
                for (route_id, previous) in pairs {
                    if previous == NextHop::Absent {
                        self.delete(&route_id).await?;
                        continue;
                    }
                    let Some((route, _)) = self.get(&route_id, "Routes_Get").await? else {
                        continue;
                    };
                    let cidr = route["properties"]["addressPrefix"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    self.set_hop(&route_id, &cidr, &previous).await?;
                }
            }
        }
        Ok(())
    }

    async fn present(
        &self,
        resources: &[ResourceId],
    ) -> Result<HashSet<ResourceId>, ProviderError> {
        let mut present = HashSet::new();
        for resource in resources {
            let Some(parsed) = AzureResource::parse(resource.as_str()) else {
                continue;
            };
            let mut all = true;
            for id in parsed.arm_ids() {
                if self.get(id, "get").await?.is_none() {
                    all = false;
                    break;
                }
            }
            if all {
                present.insert(resource.clone());
            }
        }
        Ok(present)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Connection, ConnectionStatus, Gbps, Millis, NetworkId, NetworkKind, Service, ServiceId,
        Usd, UsdPerGb,
    };

    const VNET: &str =
        "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/eastus";
    const NSG: &str =
        "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/networksecuritygroups/data";
    const SQL: &str = "/subscriptions/s/resourcegroups/rg/providers/microsoft.sql/servers/orderdb";

    fn network(id: &str, cloud: Cloud) -> Network {
        Network {
            id: NetworkId::new(id),
            name: name_of(id).to_string(),
            cloud,
            region: "eastus".into(),
            kind: NetworkKind::Vnet,
            cidrs: vec!["10.20.0.0/16".into()],
        }
    }

    fn link(id: &str, kind: ConnectionKind, a: &str, b: &str) -> Connection {
        Connection {
            id: ConnectionId::new(id),
            kind,
            a: NetworkId::new(a),
            b: NetworkId::new(b),
            bandwidth_gbps: Gbps(1.0),
            latency_ms: Millis(10.0),
            reliability: 0.999,
            status: ConnectionStatus::Up,
            cost_per_gb: UsdPerGb(0.02),
            monthly_base_usd: Usd(0.0),
            group: None,
        }
    }

    fn estate(nsgs: Vec<String>) -> Estate {
        Estate {
            name: "t".into(),
            networks: vec![network(VNET, Cloud::Azure), network("vpc-1", Cloud::Aws)],
            connections: vec![
                link("vpn-1", ConnectionKind::Vpn, "vpc-1", VNET),
                link("er-1", ConnectionKind::Expressroute, "vpc-1", VNET),
                link("inet", ConnectionKind::Internet, "vpc-1", VNET),
                link("tgw-1", ConnectionKind::TransitGateway, "vpc-1", VNET),
            ],
            services: vec![Service {
                id: ServiceId::new(SQL),
                name: "orderdb".into(),
                kind: "sql".into(),
                network: NetworkId::new(VNET),
                identifiers: vec![],
                port: 1433,
                address: "10.20.1.5".into(),
                security_groups: nsgs,
                public_endpoint: true,
            }],
            flows: vec![],
        }
    }

    fn ingress(from: &str) -> Change {
        Change::AllowIngress {
            network: NetworkId::new(VNET),
            from_cidr: from.into(),
            port: 1433,
            description: "orders → orderdb".into(),
            service: Some(ServiceId::new(SQL)),
        }
    }

    fn actor() -> AzureActor {
        AzureActor::new(AzureDiscoveryConfig::default(), None)
    }

    #[test]
    fn the_card_names_every_nsg_and_the_sql_firewall() {
        let calls = actor().plan(&ingress("10.61.0.0/16"), &estate(vec![NSG.into()]));
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(
            calls[0].contains(
                "in data Tcp/1433 from 10.61.0.0/16 to 10.20.1.5, first free priority 3000–3999"
            ),
            "{calls:?}"
        );
        assert!(
            calls[1].starts_with("sql:firewallRules PUT on orderdb"),
            "{calls:?}"
        );
    }

    #[test]
    fn changes_azure_cannot_make_are_refused_before_approval() {
        let a = actor();
        let e = estate(vec![NSG.into()]);
        let refusal = |change: &Change, estate: &Estate| {
            a.check(change, estate).expect_err("refused").to_string()
        };
        assert!(refusal(&ingress("10.61.0.0/16"), &estate(vec![]))
            .contains("no network security group"));
        assert!(refusal(&ingress("fd00::/8"), &e).contains("IPv4 ranges only"));
        let route = |via: &str| Change::Route {
            network: NetworkId::new(VNET),
            destination_cidr: "10.61.0.0/16".into(),
            via: ConnectionId::new(via),
        };
        assert!(a.check(&route("vpn-1"), &e).is_ok());
        assert!(refusal(&route("tgw-1"), &e).contains("not something an Azure route table"));
        let prefer = |p: &str, o: &str| Change::RoutePreference {
            network: NetworkId::new(VNET),
            destination_cidr: "10.61.0.0/16".into(),
            preferred: ConnectionId::new(p),
            other: ConnectionId::new(o),
        };
        assert!(refusal(&prefer("vpn-1", "er-1"), &e).contains("routing weight"));
        assert!(a.check(&prefer("vpn-1", "inet"), &e).is_ok());
        let record = |name: &str| Change::DnsRecord {
            zone: NetworkId::new(VNET),
            name: name.into(),
            address: "10.61.1.4".into(),
        };
        assert!(refusal(&record("orderdb.database.windows.net"), &e).contains("Azure-owned"));
        assert!(a
            .check(&record("orderdb.privatelink.database.windows.net"), &e)
            .is_ok());
        assert!(a.check(&record("orders.switchboard.internal"), &e).is_ok());
        let elsewhere = Change::Route {
            network: NetworkId::new("vpc-1"),
            destination_cidr: "10.20.0.0/16".into(),
            via: ConnectionId::new("vpn-1"),
        };
        assert!(refusal(&elsewhere, &e).contains("not an Azure virtual network"));
    }
}
