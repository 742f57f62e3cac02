//! The GCP actor: carries out one typed change at a time in a project,
//! through Compute v1 and Cloud DNS v1 (`api`: operations followed to their
//! end, throttling retried, every insert and delete under a `requestId`
//! derived from the key).
//!
//! | change | calls |
//! |---|---|
//! | AllowIngress | `firewalls.insert`: INGRESS, ALLOW tcp/port from the source CIDR, targeted at the service's network tags, else its service accounts, else its address (`destinationRanges`, Cloud SQL) |
//! | Route | `routes.insert` at the primary priority (100), next hop the connection's VPN tunnel |
//! | RoutePreference | `routes.insert` of the preferred route at the primary priority, *then* `routes.delete` of the other switchboard route for that destination in that network (routes are immutable: never an instant without one) |
//! | DnsRecord | Cloud DNS `changes.create` in the private zone bound to the network whose name is the longest suffix of the record's; the zone created (bound to the network) when there is none |
//!
//! `check` refuses, from the estate alone, what cannot be made (a service
//! with nothing to target, a connection with no static next hop such as an
//! interconnect attachment, whose routes Cloud Router learns over BGP), so
//! the design fails before anyone approves it.
//!
//! Idempotency: names are derived from the key (`sb-<hash>`) and the key is
//! in every description, so a retry after a crash meets its own resource
//! (409 alreadyExists, then a GET that finds the key) and creates nothing
//! twice; a resource of that name without the key is someone else's and is
//! refused, never claimed. `revert` undoes exactly what the id names; a
//! preference is reverted the other way round (the replaced route first).
//! A zone switchboard created stays when its record is reverted, as in AWS.

use super::api::{GcpError, GoogleApi};
use super::discovery::{resource_path, GcpCredential, GcpDiscoveryConfig};
use super::resource::{
    description, made_by, made_by_switchboard, name_for, project_of, request_id, GcpResource,
    Replaced,
};
use crate::domain::{Change, Cloud, ConnectionId, ConnectionKind, Estate, Network, ResourceId};
use crate::providers::aws::{fqdn, zone_of, RecordKind};
use crate::providers::azure::arm::Pace;
use crate::providers::rest::RestClient;
use crate::providers::{CloudActor, ProviderError};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use tokio::sync::OnceCell;

const NAME: &str = "gcp";
/// The priority of the routes a design makes (its primary path).
const PRIMARY_PRIORITY: u32 = 100;
const RECORD_TTL: u32 = 60;
/// How a network is named in a zone's `privateVisibilityConfig`.
const COMPUTE_URL: &str = "https://www.googleapis.com/compute/v1/";
/// The first pause between polls of an operation or a DNS change.
const POLL: Duration = Duration::from_millis(200);

fn refused(reason: impl Into<String>) -> ProviderError {
    ProviderError::Refused {
        provider: NAME,
        reason: reason.into(),
    }
}

impl From<GcpError> for ProviderError {
    fn from(e: GcpError) -> ProviderError {
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

pub struct GcpActor {
    config: GcpDiscoveryConfig,
    credential: Option<GcpCredential>,
    rest: OnceCell<RestClient>,
}

/// The GCP network a change lands in, and its project.
fn network_of<'e>(
    estate: &'e Estate,
    change: &Change,
) -> Result<(&'e Network, String), ProviderError> {
    let id = change.network();
    let network = estate
        .network(id)
        .ok_or_else(|| refused(format!("unknown network '{id}'")))?;
    match project_of(network.id.as_str()) {
        Some(project) if network.cloud == Cloud::Gcp => Ok((network, project.to_string())),
        _ => Err(refused(format!(
            "'{id}' is not a GCP VPC network; the GCP provider acts only in those"
        ))),
    }
}

/// What a firewall rule for a service is targeted at.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Tags(Vec<String>),
    Accounts(Vec<String>),
    /// The service's own address (`<ip>/32`): Cloud SQL has no tags.
    Address(String),
}

impl Target {
    /// The fields of a firewall body that say where it applies.
    fn fields(&self) -> (&'static str, Value) {
        match self {
            Target::Tags(tags) => ("targetTags", json!(tags)),
            Target::Accounts(accounts) => ("targetServiceAccounts", json!(accounts)),
            Target::Address(range) => ("destinationRanges", json!([range])),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Tags(tags) => format!("tags {}", tags.join(",")),
            Target::Accounts(accounts) => format!("service accounts {}", accounts.join(",")),
            Target::Address(range) => range.clone(),
        }
    }
}

/// Where an ingress rule for the change's service is targeted: its network
/// tags, else its service accounts (Compute takes one kind or the other in
/// a rule, and tags are the narrower: a service account is often shared),
/// else its address. A service with none of them, or no service at all, is
/// refused: a rule for the whole network would open everything in it.
fn ingress_target(change: &Change, estate: &Estate) -> Result<Target, ProviderError> {
    let Change::AllowIngress { service, .. } = change else {
        return Err(refused("not an ingress change"));
    };
    let service = service
        .as_ref()
        .and_then(|id| estate.service(id))
        .ok_or_else(|| refused("the rule names no service of the estate to open"))?;
    let with = |prefix: &str| -> Vec<String> {
        service
            .security_groups
            .iter()
            .filter_map(|g| g.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    };
    let (tags, accounts) = (with("tag:"), with("serviceAccount:"));
    if !tags.is_empty() {
        return Ok(Target::Tags(tags));
    }
    if !accounts.is_empty() {
        return Ok(Target::Accounts(accounts));
    }
    match service.address.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(Target::Address(format!(
            "{ip}/{}",
            if ip.is_ipv4() { 32 } else { 128 }
        ))),
        Err(_) => Err(refused(format!(
            "{} ({}) has no network tag, service account or IP address to target a firewall rule at",
            service.name, service.id
        ))),
    }
}

/// The VPN tunnel a route over `via` points at. A connection with no static
/// next hop (an interconnect attachment: its routes are dynamic, learned by
/// its Cloud Router over BGP) or that is not a GCP tunnel is refused. A VPN
/// seen from both clouds is one connection named by the inventory merged
/// first, so it names the GCP tunnel only when `gcp` comes before the other
/// cloud in `[discovery] providers` (otherwise this refuses, at design).
fn next_hop(network: &Network, via: &ConnectionId, estate: &Estate) -> Result<String, String> {
    let conn = estate
        .connection(via)
        .ok_or_else(|| format!("unknown connection '{via}'"))?;
    if conn.other_end(&network.id).is_none() {
        return Err(format!("connection '{via}' does not reach {}", network.id));
    }
    match conn.kind {
        ConnectionKind::Vpn if via.as_str().contains("/vpnTunnels/") => Ok(via.to_string()),
        ConnectionKind::Interconnect => Err(format!(
            "'{via}' is an interconnect attachment: its routes are dynamic, learned by its Cloud Router over BGP; there is no static next hop for a route to point at"
        )),
        kind => Err(format!(
            "'{via}' ({}) is not a GCP VPN tunnel a static route can point at",
            kind.as_str()
        )),
    }
}

/// The private zone a record is created in when the network has none for
/// it: the record's parent domain.
fn new_zone_name(name: &str) -> Result<&str, ProviderError> {
    zone_of(name).ok_or_else(|| refused(format!("'{name}' has no parent zone to hold it")))
}

/// The value a record of `kind` holds (a CNAME's target as a full name).
fn rrdata(kind: RecordKind, address: &str) -> String {
    match kind {
        RecordKind::A => address.to_string(),
        RecordKind::Cname => fqdn(address),
    }
}

fn text<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

/// Whether managed zone `zone` is private to `network` and `fqdn` is in it.
fn zone_holds(zone: &Value, network: &str, fqdn: &str) -> bool {
    let private = text(zone, "visibility") == Some("private");
    let bound = zone
        .pointer("/privateVisibilityConfig/networks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| text(n, "networkUrl"))
        .any(|url| resource_path(url) == network);
    let suffix = text(zone, "dnsName")
        .is_some_and(|d| fqdn == d || fqdn.strip_suffix(d).is_some_and(|head| head.ends_with('.')));
    private && bound && suffix
}

/// The switchboard route a preference replaces, read from its listing: the
/// lowest priority number among switchboard's routes for `cidr` in
/// `network` over `tunnel`.
fn replaced_route(routes: &[Value], network: &str, cidr: &str, tunnel: &str) -> Option<Replaced> {
    routes
        .iter()
        .filter(|r| route_matches(r, network, cidr, tunnel))
        .filter(|r| made_by_switchboard(text(r, "description")))
        .filter_map(|r| {
            Some(Replaced {
                name: text(r, "name")?.to_string(),
                priority: r.get("priority")?.as_u64()?.try_into().ok()?,
                tunnel: tunnel.to_string(),
            })
        })
        .min_by_key(|r| r.priority)
}

fn route_matches(route: &Value, network: &str, cidr: &str, tunnel: &str) -> bool {
    text(route, "network").map(resource_path).as_deref() == Some(network)
        && text(route, "destRange") == Some(cidr)
        && text(route, "nextHopVpnTunnel")
            .map(resource_path)
            .as_deref()
            == Some(tunnel)
}

/// A route body.
fn route_body(
    name: &str,
    network: &str,
    cidr: &str,
    priority: u32,
    tunnel: &str,
    description: &str,
) -> Value {
    json!({
        "name": name,
        "network": network,
        "destRange": cidr,
        "priority": priority,
        "nextHopVpnTunnel": tunnel,
        "description": description,
    })
}

/// What a preference writes in its route's description after the key: the
/// route it replaces, so a retry after the replaced one was deleted still
/// knows what revert must put back.
fn preference_note(replaced: &Option<Replaced>) -> String {
    match replaced {
        Some(r) => format!(
            "preference; replaces {} {} {}",
            r.name, r.priority, r.tunnel
        ),
        None => "preference; replaces nothing".into(),
    }
}

fn replaced_from_note(description: &str) -> Option<Replaced> {
    let (_, tail) = description.split_once("; replaces ")?;
    let mut words = tail.split(' ');
    let (name, priority, tunnel) = (words.next()?, words.next()?, words.next()?);
    Some(Replaced {
        name: name.to_string(),
        priority: priority.parse().ok()?,
        tunnel: tunnel.to_string(),
    })
}

impl GcpActor {
    /// Credentials come from the environment when the actor first acts.
    pub fn new(config: GcpDiscoveryConfig) -> GcpActor {
        GcpActor {
            config,
            credential: None,
            rest: OnceCell::new(),
        }
    }

    pub fn with_credential(config: GcpDiscoveryConfig, credential: GcpCredential) -> GcpActor {
        GcpActor {
            config,
            credential: Some(credential),
            rest: OnceCell::new(),
        }
    }

    /// The API with a fresh token (a metadata token expires within the hour).
    async fn api(&self) -> Result<GoogleApi, ProviderError> {
        let setup = |e: crate::topology::DiscoveryError| refused(e.to_string());
        let rest = self
            .rest
            .get_or_try_init(|| async { self.config.rest_client() })
            .await
            .map_err(setup)?;
        let credential = self
            .credential
            .clone()
            .unwrap_or_else(GcpCredential::from_env);
        let token = credential.token(rest).await.map_err(setup)?;
        let [compute, _, dns] = self.config.endpoints().map_err(setup)?;
        let pace = Pace {
            max_attempts: self.config.max_attempts,
            poll: POLL,
            deadline: Duration::from_secs(self.config.operation_timeout_secs.max(1)),
        };
        Ok(GoogleApi::new(
            rest.http().clone(),
            token,
            [compute, dns],
            pace,
        ))
    }

    /// Inserts `body` (named `name`) into a Compute collection; when the name
    /// is taken (a retry after a crash, or a clash), the resource is read
    /// and taken only when its description carries `key`.
    async fn insert_owned(
        &self,
        api: &GoogleApi,
        project: &str,
        collection: &str,
        body: &Value,
        key: &str,
    ) -> Result<(), ProviderError> {
        let name = text(body, "name").unwrap_or_default();
        let what = format!("compute:{collection}.insert");
        let url = api.compute(project, &format!("global/{collection}"))?;
        match api
            .insert(
                project,
                &url,
                body,
                &request_id(&[key, what.as_str(), name]),
                &what,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(GcpError::AlreadyExists { message, .. }) => {
                let url = api.compute(project, &format!("global/{collection}/{name}"))?;
                let existing = api.get(&url, &format!("compute:{collection}.get")).await?;
                match existing {
                    Some(found) if made_by(text(&found, "description"), key) => Ok(()),
                    _ => Err(refused(format!(
                        "{what}: alreadyExists: {message} (a resource named {name} that switchboard did not make under {key})"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    // ---- AllowIngress / Route ---------------------------------------------

    /// What an AllowIngress or a Route inserts: the collection, the body
    /// and the id of what it makes. Pure.
    fn insertion(
        &self,
        network: &Network,
        project: &str,
        change: &Change,
        key: &str,
        estate: &Estate,
    ) -> Result<(&'static str, Value, GcpResource), ProviderError> {
        let project = project.to_string();
        match change {
            Change::AllowIngress {
                from_cidr,
                port,
                description: what,
                ..
            } => {
                let target = ingress_target(change, estate)?;
                let name = name_for(key, "firewall");
                let mut body = json!({
                    "name": name,
                    "description": description(key, what),
                    "network": network.id.as_str(),
                    "direction": "INGRESS",
                    "priority": self.config.firewall_priority,
                    "allowed": [{"IPProtocol": "tcp", "ports": [port.to_string()]}],
                    "sourceRanges": [from_cidr],
                });
                let (field, value) = target.fields();
                body[field] = value;
                Ok(("firewalls", body, GcpResource::Firewall { project, name }))
            }
            Change::Route {
                destination_cidr,
                via,
                ..
            } => {
                let tunnel = next_hop(network, via, estate).map_err(refused)?;
                let name = name_for(key, "route");
                let body = route_body(
                    &name,
                    network.id.as_str(),
                    destination_cidr,
                    PRIMARY_PRIORITY,
                    &tunnel,
                    &description(key, &format!("route {destination_cidr} via {via}")),
                );
                Ok(("routes", body, GcpResource::Route { project, name }))
            }
            other => Err(refused(format!(
                "{} is not inserted as one resource",
                other.kind()
            ))),
        }
    }

    // ---- RoutePreference ----------------------------------------------------

    async fn prefer(
        &self,
        network: &Network,
        project: &str,
        change: &Change,
        key: &str,
        estate: &Estate,
    ) -> Result<GcpResource, ProviderError> {
        let Change::RoutePreference {
            destination_cidr: cidr,
            preferred,
            other,
            ..
        } = change
        else {
            return Err(refused("not a route preference"));
        };
        let want = next_hop(network, preferred, estate).map_err(refused)?;
        let was = next_hop(network, other, estate).map_err(refused)?;
        let api = self.api().await?;
        let routes = api
            .list(
                &api.compute(project, "global/routes")?,
                "items",
                "compute:routes.list",
            )
            .await?;
        let name = name_for(key, "prefer");
        let net = network.id.as_str();
        // A retry finds its own route, whose description names what it
        // replaced (deleted since, perhaps).
        let ours = routes
            .iter()
            .find(|r| text(r, "name") == Some(name.as_str()));
        let replaced = match ours.and_then(|r| text(r, "description")) {
            Some(d) if made_by(Some(d), key) => replaced_from_note(d),
            _ => replaced_route(&routes, net, cidr, &was),
        };
        let note = format!("{}: {}", change, preference_note(&replaced));
        let body = route_body(
            &name,
            net,
            cidr,
            PRIMARY_PRIORITY,
            &want,
            &description(key, &note),
        );
        // First the preferred route, then (only once it exists) the other.
        self.insert_owned(&api, project, "routes", &body, key)
            .await?;
        if let Some(r) = &replaced {
            let url = api.compute(project, &format!("global/routes/{}", r.name))?;
            api.delete(
                project,
                &url,
                &request_id(&[key, "prefer", "delete", r.name.as_str()]),
                "compute:routes.delete",
            )
            .await?;
        }
        Ok(GcpResource::Preferred {
            project: project.to_string(),
            route: name,
            network: net.to_string(),
            cidr: cidr.clone(),
            replaced,
        })
    }

    // ---- DnsRecord --------------------------------------------------------

    async fn record(
        &self,
        network: &Network,
        project: &str,
        change: &Change,
        key: &str,
    ) -> Result<GcpResource, ProviderError> {
        let Change::DnsRecord { name, address, .. } = change else {
            return Err(refused("not a DNS change"));
        };
        let api = self.api().await?;
        let name = fqdn(name);
        let zone = self
            .private_zone(&api, network, project, &name, key)
            .await?;
        let kind = RecordKind::for_value(address);
        let data = rrdata(kind, address);
        let resource = GcpResource::Record {
            project: project.to_string(),
            zone: zone.clone(),
            name: name.clone(),
            kind,
            value: data.clone(),
        };
        let matches = |found: &[Value]| -> Result<bool, ProviderError> {
            match found.first() {
                None => Ok(false),
                Some(set) if set.get("rrdatas") == Some(&json!([data])) => Ok(true),
                Some(set) => Err(refused(format!(
                    "{name} {} already holds {} in zone {zone}, not {data}",
                    kind.as_str(),
                    set.get("rrdatas").cloned().unwrap_or_default()
                ))),
            }
        };
        if matches(&self.rrsets(&api, project, &zone, &name, kind).await?)? {
            return Ok(resource);
        }
        let change = json!({
            "kind": "dns#change",
            "additions": [{"name": name, "type": kind.as_str(), "ttl": RECORD_TTL, "rrdatas": [data]}],
        });
        match api
            .dns_change(project, &zone, &change, "dns:changes.create")
            .await
        {
            Ok(()) => Ok(resource),
            // A retried create that had gone through: ours if it holds our data.
            Err(GcpError::AlreadyExists { message, .. }) => {
                if matches(&self.rrsets(&api, project, &zone, &name, kind).await?)? {
                    Ok(resource)
                } else {
                    Err(refused(format!(
                        "dns:changes.create: alreadyExists: {message}"
                    )))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn rrsets(
        &self,
        api: &GoogleApi,
        project: &str,
        zone: &str,
        name: &str,
        kind: RecordKind,
    ) -> Result<Vec<Value>, ProviderError> {
        let mut url = api.dns(project, &format!("managedZones/{zone}/rrsets"))?;
        url.query_pairs_mut()
            .append_pair("name", name)
            .append_pair("type", kind.as_str());
        Ok(api
            .list(&url, "rrsets", "dns:resourceRecordSets.list")
            .await?)
    }

    /// The private zone bound to the network with the longest name that
    /// holds `name`; created (named from the key, bound to the network, the
    /// key in its description) when there is none.
    async fn private_zone(
        &self,
        api: &GoogleApi,
        network: &Network,
        project: &str,
        name: &str,
        key: &str,
    ) -> Result<String, ProviderError> {
        let zones = api
            .list(
                &api.dns(project, "managedZones")?,
                "managedZones",
                "dns:managedZones.list",
            )
            .await?;
        let best = zones
            .iter()
            .filter(|z| zone_holds(z, network.id.as_str(), name))
            .max_by_key(|z| text(z, "dnsName").map_or(0, str::len))
            .and_then(|z| text(z, "name"));
        if let Some(zone) = best {
            return Ok(zone.to_string());
        }
        let zone = name_for(key, "zone");
        let body = json!({
            "name": zone,
            "dnsName": fqdn(new_zone_name(name)?),
            "description": description(key, &format!("private zone for {}", network.id)),
            "visibility": "private",
            "privateVisibilityConfig": {
                "networks": [{"networkUrl": format!("{COMPUTE_URL}{}", network.id)}],
            },
        });
        let url = api.dns(project, "managedZones")?;
        match api.create(&url, &body, "dns:managedZones.create").await {
            Ok(_) => Ok(zone),
            Err(GcpError::AlreadyExists { message, .. }) => {
                let url = api.dns(project, &format!("managedZones/{zone}"))?;
                match api.get(&url, "dns:managedZones.get").await? {
                    Some(found) if made_by(text(&found, "description"), key) => Ok(zone),
                    _ => Err(refused(format!(
                        "dns:managedZones.create: alreadyExists: {message} (a zone named {zone} that switchboard did not make under {key})"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    // ---- revert -------------------------------------------------------------

    async fn delete_route(
        &self,
        api: &GoogleApi,
        project: &str,
        name: &str,
        seed: &str,
    ) -> Result<(), ProviderError> {
        let url = api.compute(project, &format!("global/routes/{name}"))?;
        let id = request_id(&[seed, "routes.delete", name]);
        Ok(api
            .delete(project, &url, &id, "compute:routes.delete")
            .await?)
    }

    async fn revert_resource(&self, resource: GcpResource) -> Result<(), ProviderError> {
        let api = self.api().await?;
        let seed = resource.to_string();
        match &resource {
            GcpResource::Firewall { project, name } => {
                let url = api.compute(project, &format!("global/firewalls/{name}"))?;
                let id = request_id(&[&seed, "firewalls.delete"]);
                Ok(api
                    .delete(project, &url, &id, "compute:firewalls.delete")
                    .await?)
            }
            GcpResource::Route { project, name } => {
                self.delete_route(&api, project, name, &seed).await
            }
            GcpResource::Preferred {
                project,
                route,
                network,
                cidr,
                replaced,
            } => {
                // The replaced route back first, then the preferred one goes.
                if let Some(r) = replaced {
                    let body = route_body(
                        &r.name,
                        network,
                        cidr,
                        r.priority,
                        &r.tunnel,
                        &description(&seed, "restored by revert"),
                    );
                    let what = "compute:routes.insert";
                    let url = api.compute(project, "global/routes")?;
                    let id = request_id(&[&seed, "restore"]);
                    match api.insert(project, &url, &body, &id, what).await {
                        Ok(()) => {}
                        // Already back (a retried revert, or never deleted):
                        // the same route is what revert wants.
                        Err(GcpError::AlreadyExists { message, .. }) => {
                            let url = api.compute(project, &format!("global/routes/{}", r.name))?;
                            let found = api.get(&url, "compute:routes.get").await?;
                            if !found.is_some_and(|f| route_matches(&f, network, cidr, &r.tunnel)) {
                                return Err(refused(format!(
                                    "{what}: {message} (and it does not route {cidr} over {})",
                                    r.tunnel
                                )));
                            }
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                self.delete_route(&api, project, route, &seed).await
            }
            GcpResource::Record {
                project,
                zone,
                name,
                kind,
                value,
            } => {
                let found = self.rrsets(&api, project, zone, name, *kind).await?;
                let Some(set) = found
                    .into_iter()
                    .find(|s| s.get("rrdatas").is_some_and(|d| d == &json!([value])))
                else {
                    // Gone, or no longer what switchboard wrote: nothing of
                    // ours to remove.
                    return Ok(());
                };
                // A deletion must match the data exactly: as it was read.
                let deletion = json!({
                    "name": set.get("name"),
                    "type": set.get("type"),
                    "ttl": set.get("ttl"),
                    "rrdatas": set.get("rrdatas"),
                });
                let change = json!({"kind": "dns#change", "deletions": [deletion]});
                Ok(api
                    .dns_change(project, zone, &change, "dns:changes.create")
                    .await?)
            }
        }
    }
}

#[async_trait::async_trait]
impl CloudActor for GcpActor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cloud(&self) -> Cloud {
        Cloud::Gcp
    }

    fn check(&self, change: &Change, estate: &Estate) -> Result<(), ProviderError> {
        let (network, _) = network_of(estate, change)?;
        match change {
            Change::AllowIngress { .. } => ingress_target(change, estate).map(|_| ()),
            Change::Route { via, .. } => {
                next_hop(network, via, estate).map(|_| ()).map_err(refused)
            }
            Change::RoutePreference {
                preferred, other, ..
            } => [preferred, other]
                .iter()
                .try_for_each(|c| next_hop(network, c, estate).map(|_| ()))
                .map_err(refused),
            Change::DnsRecord { name, .. } => new_zone_name(name).map(|_| ()),
        }
    }

    fn plan(&self, change: &Change, estate: &Estate) -> Vec<String> {
        plan(change, estate, self.config.firewall_priority)
    }

    async fn apply(
        &self,
        change: &Change,
        key: &str,
        estate: &Estate,
    ) -> Result<ResourceId, ProviderError> {
        let (network, project) = network_of(estate, change)?;
        let resource = match change {
            Change::AllowIngress { .. } | Change::Route { .. } => {
                let (collection, body, resource) =
                    self.insertion(network, &project, change, key, estate)?;
                let api = self.api().await?;
                self.insert_owned(&api, &project, collection, &body, key)
                    .await?;
                resource
            }
            Change::RoutePreference { .. } => {
                self.prefer(network, &project, change, key, estate).await?
            }
            Change::DnsRecord { .. } => self.record(network, &project, change, key).await?,
        };
        Ok(ResourceId::new(resource.to_string()))
    }

    async fn revert(&self, resource: &ResourceId) -> Result<(), ProviderError> {
        let parsed = GcpResource::parse(resource.as_str()).ok_or_else(|| {
            refused(format!(
                "'{resource}' is not a GCP resource switchboard made"
            ))
        })?;
        self.revert_resource(parsed).await
    }

    async fn present(
        &self,
        resources: &[ResourceId],
    ) -> Result<HashSet<ResourceId>, ProviderError> {
        let parsed: Vec<(&ResourceId, GcpResource)> = resources
            .iter()
            .filter_map(|id| Some((id, GcpResource::parse(id.as_str())?)))
            .collect();
        if parsed.is_empty() {
            return Ok(HashSet::new());
        }
        let api = self.api().await?;
        // One list per project and collection, however many ids.
        let mut names: BTreeMap<(String, &str), HashSet<String>> = BTreeMap::new();
        for (_, r) in &parsed {
            let collection = match r {
                GcpResource::Firewall { .. } => "firewalls",
                GcpResource::Route { .. } | GcpResource::Preferred { .. } => "routes",
                GcpResource::Record { .. } => continue,
            };
            let slot = (r.project().to_string(), collection);
            if names.contains_key(&slot) {
                continue;
            }
            let url = api.compute(r.project(), &format!("global/{collection}"))?;
            let items = api
                .list(&url, "items", &format!("compute:{collection}.list"))
                .await?;
            let listed = items
                .iter()
                .filter_map(|i| text(i, "name"))
                .map(str::to_string)
                .collect();
            names.insert(slot, listed);
        }
        let listed = |project: &str, collection: &str, name: &str| {
            names
                .get(&(project.to_string(), collection))
                .is_some_and(|n| n.contains(name))
        };
        let mut present = HashSet::new();
        for (id, r) in &parsed {
            let here = match r {
                GcpResource::Firewall { project, name } => listed(project, "firewalls", name),
                GcpResource::Route { project, name }
                | GcpResource::Preferred {
                    project,
                    route: name,
                    ..
                } => listed(project, "routes", name),
                GcpResource::Record {
                    project,
                    zone,
                    name,
                    kind,
                    value,
                } => self
                    .rrsets(&api, project, zone, name, *kind)
                    .await?
                    .iter()
                    .any(|s| s.get("rrdatas").is_some_and(|d| d == &json!([value]))),
            };
            if here {
                present.insert((*id).clone());
            }
        }
        Ok(present)
    }
}

/// The calls `apply` makes for `change`, for the approval card: pure, from
/// the estate the design used (names are derived from the key at apply
/// time, hence `sb-…`).
pub fn plan(change: &Change, estate: &Estate, firewall_priority: u16) -> Vec<String> {
    let (network, _) = match network_of(estate, change) {
        Ok(found) => found,
        Err(e) => return vec![format!("refused: {e}")],
    };
    let net = network.id.as_str();
    match change {
        Change::AllowIngress {
            from_cidr, port, ..
        } => match ingress_target(change, estate) {
            Ok(target) => vec![format!(
                "compute:firewalls.insert sb-… tcp/{port} from {from_cidr} → {} priority {firewall_priority} ({net})",
                target.describe()
            )],
            Err(e) => vec![format!("refused: {e}")],
        },
        Change::Route {
            destination_cidr,
            via,
            ..
        } => match next_hop(network, via, estate) {
            Ok(tunnel) => vec![format!(
                "compute:routes.insert sb-… {destination_cidr} → {tunnel} priority {PRIMARY_PRIORITY} ({net})"
            )],
            Err(why) => vec![format!("refused: {why}")],
        },
        Change::RoutePreference {
            destination_cidr,
            preferred,
            other,
            ..
        } => match (
            next_hop(network, preferred, estate),
            next_hop(network, other, estate),
        ) {
            (Ok(want), Ok(was)) => vec![
                format!(
                    "compute:routes.insert sb-… {destination_cidr} → {want} priority {PRIMARY_PRIORITY} ({net})"
                ),
                format!(
                    "then compute:routes.delete switchboard's route {destination_cidr} → {was} ({net})"
                ),
            ],
            (Err(why), _) | (_, Err(why)) => vec![format!("refused: {why}")],
        },
        Change::DnsRecord { name, address, .. } => vec![format!(
            "dns:changes.create add {} {} → {} in the private zone of {net} holding it (else dns:managedZones.create {})",
            RecordKind::for_value(address).as_str(),
            fqdn(name),
            rrdata(RecordKind::for_value(address), address),
            zone_of(name).map(fqdn).unwrap_or_else(|| "?".into()),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Connection, ConnectionStatus, Gbps, Millis, NetworkId, NetworkKind, Service, ServiceId,
        Usd, UsdPerGb,
    };

    const PROD: &str = "projects/p/global/networks/prod";
    const TUNNEL: &str = "projects/p/regions/r/vpnTunnels/t0";
    const ATTACHMENT: &str = "projects/p/regions/r/interconnectAttachments/ic";

    fn estate() -> Estate {
        let network = |id: &str, cloud| Network {
            id: NetworkId::new(id),
            name: id.into(),
            cloud,
            region: "us-central1".into(),
            kind: NetworkKind::GcpNetwork,
            cidrs: vec![],
        };
        let link = |id: &str, kind| Connection {
            id: ConnectionId::new(id),
            kind,
            a: NetworkId::new(PROD),
            b: NetworkId::new("vpc-1"),
            bandwidth_gbps: Gbps(1.0),
            latency_ms: Millis(10.0),
            reliability: 0.999,
            status: ConnectionStatus::Up,
            cost_per_gb: UsdPerGb(0.05),
            monthly_base_usd: Usd(0.0),
            group: None,
        };
        let sql = Service {
            id: ServiceId::new("p:r:orders"),
            name: "orders".into(),
            kind: "cloud_sql".into(),
            network: NetworkId::new(PROD),
            identifiers: vec![],
            port: 5432,
            address: "10.80.0.5".into(),
            security_groups: vec![],
            public_endpoint: false,
        };
        let nameless = Service {
            id: ServiceId::new("p:r:ghost"),
            address: String::new(),
            ..sql.clone()
        };
        let vm = Service {
            id: ServiceId::new("vm"),
            security_groups: vec!["serviceAccount:vm@p.iam.gserviceaccount.com".into()],
            public_endpoint: false,
            ..sql.clone()
        };
        Estate {
            name: "snapshot 1".into(),
            networks: vec![network(PROD, Cloud::Gcp), network("vpc-1", Cloud::Aws)],
            connections: vec![
                link(TUNNEL, ConnectionKind::Vpn),
                link(ATTACHMENT, ConnectionKind::Interconnect),
            ],
            services: vec![sql, nameless, vm],
            flows: vec![],
        }
    }

    fn ingress(service: &str) -> Change {
        Change::AllowIngress {
            network: NetworkId::new(PROD),
            from_cidr: "10.61.0.0/16".into(),
            port: 5432,
            description: "orders".into(),
            service: Some(ServiceId::new(service)),
        }
    }

    fn route(via: &str) -> Change {
        Change::Route {
            network: NetworkId::new(PROD),
            destination_cidr: "10.61.0.0/16".into(),
            via: ConnectionId::new(via),
        }
    }

    #[test]
    fn the_card_names_each_call_and_its_target() {
        let estate = estate();
        assert_eq!(
            plan(&ingress("p:r:orders"), &estate, 1000),
            ["compute:firewalls.insert sb-… tcp/5432 from 10.61.0.0/16 → 10.80.0.5/32 priority 1000 (projects/p/global/networks/prod)"]
        );
        assert_eq!(
            plan(&ingress("vm"), &estate, 900),
            ["compute:firewalls.insert sb-… tcp/5432 from 10.61.0.0/16 → service accounts vm@p.iam.gserviceaccount.com priority 900 (projects/p/global/networks/prod)"]
        );
        assert_eq!(
            plan(&route(TUNNEL), &estate, 1000),
            [format!(
                "compute:routes.insert sb-… 10.61.0.0/16 → {TUNNEL} priority 100 ({PROD})"
            )]
        );
        let record = Change::DnsRecord {
            zone: NetworkId::new(PROD),
            name: "orders.corp.internal".into(),
            address: "10.80.0.5".into(),
        };
        assert_eq!(
            plan(&record, &estate, 1000),
            [format!("dns:changes.create add A orders.corp.internal. → 10.80.0.5 in the private zone of {PROD} holding it (else dns:managedZones.create corp.internal.)")]
        );
    }

    #[test]
    fn what_gcp_cannot_make_is_refused_before_approval() {
        let estate = estate();
        let actor = GcpActor::new(GcpDiscoveryConfig::default());
        assert!(actor.check(&ingress("p:r:orders"), &estate).is_ok());
        assert!(actor.check(&route(TUNNEL), &estate).is_ok());
        let err = actor
            .check(&route(ATTACHMENT), &estate)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Cloud Router") && err.contains("no static next hop"),
            "{err}"
        );
        let err = actor
            .check(&ingress("p:r:ghost"), &estate)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nothing") || err.contains("no network tag"),
            "{err}"
        );
        let aws = Change::Route {
            network: NetworkId::new("vpc-1"),
            destination_cidr: "10.80.0.0/16".into(),
            via: ConnectionId::new(TUNNEL),
        };
        assert!(actor.check(&aws, &estate).is_err());
        let top_level = Change::DnsRecord {
            zone: NetworkId::new(PROD),
            name: "internal".into(),
            address: "10.80.0.5".into(),
        };
        assert!(actor.check(&top_level, &estate).is_err());
    }

    #[test]
    fn a_preference_reads_back_what_it_replaced() {
        let replaced = Some(Replaced {
            name: "sb-1".into(),
            priority: 100,
            tunnel: TUNNEL.into(),
        });
        let note = description(
            "k",
            &format!("prefer x over y: {}", preference_note(&replaced)),
        );
        assert_eq!(replaced_from_note(&note), replaced);
        assert_eq!(
            replaced_from_note(&description("k", &preference_note(&None))),
            None
        );
        let routes = [
            json!({"name": "sb-1", "priority": 100, "network": format!("https://x/compute/v1/{PROD}"), "destRange": "10.61.0.0/16", "nextHopVpnTunnel": TUNNEL, "description": "switchboard k route"}),
            json!({"name": "sb-2", "priority": 200, "network": PROD, "destRange": "10.61.0.0/16", "nextHopVpnTunnel": TUNNEL, "description": "switchboard j route"}),
            json!({"name": "theirs", "priority": 50, "network": PROD, "destRange": "10.61.0.0/16", "nextHopVpnTunnel": TUNNEL, "description": "hand made"}),
        ];
        assert_eq!(
            replaced_route(&routes, PROD, "10.61.0.0/16", TUNNEL),
            replaced
        );
        assert_eq!(replaced_route(&routes, PROD, "10.62.0.0/16", TUNNEL), None);
    }

    #[test]
    fn a_zone_holds_a_name_when_private_bound_and_a_suffix() {
        let zone = json!({"name": "corp", "dnsName": "corp.internal.", "visibility": "private",
            "privateVisibilityConfig": {"networks": [{"networkUrl": format!("https://www.googleapis.com/compute/v1/{PROD}")}]}});
        assert!(zone_holds(&zone, PROD, "orders.corp.internal."));
        assert!(zone_holds(&zone, PROD, "corp.internal."));
        assert!(!zone_holds(&zone, PROD, "orders.xcorp.internal."));
        assert!(!zone_holds(
            &zone,
            "projects/p/global/networks/dev",
            "orders.corp.internal."
        ));
        let mut public = zone.clone();
        public["visibility"] = json!("public");
        assert!(!zone_holds(&public, PROD, "orders.corp.internal."));
    }
}
