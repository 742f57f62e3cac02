//! GCP discovery over the Compute Engine v1 and Cloud SQL Admin v1 REST
//! APIs: per project, networks (CIDRs from their subnetworks), routes and
//! firewalls (counted), HA and classic VPN gateways (interface IPs become
//! addresses), external VPN gateways (counted), VPN tunnels, Cloud Routers
//! and interconnect attachments, and the services requests can name: Compute
//! instances by name (their network tags and service accounts are where a
//! firewall rule for them is targeted) and Cloud SQL instances with a private
//! IP. The driver (`GcpDiscovery`) does the IO through `rest::RestClient`;
//! `map_project` is pure. The credential (`GcpCredential`) is the one the
//! actor uses too.
//!
//! A network's region is the one most of its subnetworks are in (the
//! estate places every network in one), `global` when it has none.
//!
//! Invariants: resources are joined on the path of their URLs
//! (`projects/p/regions/r/routers/x`), never the host; network ids are
//! `projects/p/global/networks/n`; an aggregated list's `unreachables` are
//! reported as problems, never read as empty; a failing project or API
//! (Cloud SQL's included) is a `problems` entry while the rest is read;
//! `Err` only when nothing could be.

use crate::domain::{
    Cloud, ConnectionKind, ConnectionStatus, NetworkId, NetworkKind, Service, ServiceId,
};
use crate::providers::rest::{self, AccessToken, RestClient};
use crate::topology::{
    AddressRecord, DiscoveryError, Inventory, InventorySource, LinkRecord, NetworkRecord, RemoteEnd,
};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;
use tracing::Instrument;

const PROVIDER: &str = "gcp";
const DEFAULT_ENDPOINT: &str = "https://compute.googleapis.com";
const DEFAULT_SQL_ENDPOINT: &str = "https://sqladmin.googleapis.com";
const DEFAULT_DNS_ENDPOINT: &str = "https://dns.googleapis.com";
const METADATA_TOKEN_URL: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";
/// The metadata server answers at once on GCP; elsewhere nothing does.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpDiscoveryConfig {
    /// Project ids to read (Compute has no "every project" list).
    pub projects: Vec<String>,
    /// Compute endpoint; `https://compute.googleapis.com` when unset.
    pub endpoint: Option<String>,
    /// Cloud SQL Admin endpoint; `https://sqladmin.googleapis.com` when unset.
    pub sql_endpoint: Option<String>,
    /// Cloud DNS endpoint (the actor's); `https://dns.googleapis.com` when unset.
    pub dns_endpoint: Option<String>,
    pub timeout_secs: u64,
    pub max_attempts: u32,
    /// Priority of the firewall rules the actor inserts (lower wins; the
    /// implied rules sit at 65535).
    pub firewall_priority: u16,
    /// The most one Compute operation or DNS change may take, polls included.
    pub operation_timeout_secs: u64,
}

impl Default for GcpDiscoveryConfig {
    fn default() -> Self {
        GcpDiscoveryConfig {
            projects: Vec::new(),
            endpoint: None,
            sql_endpoint: None,
            dns_endpoint: None,
            timeout_secs: 30,
            max_attempts: 5,
            firewall_priority: 1000,
            operation_timeout_secs: 300,
        }
    }
}

impl GcpDiscoveryConfig {
    /// The Compute, Cloud SQL and Cloud DNS endpoints, parsed.
    pub(crate) fn endpoints(&self) -> Result<[Url; 3], DiscoveryError> {
        let parse = |configured: &Option<String>, default: &str| {
            let text = configured.as_deref().unwrap_or(default);
            Url::parse(text).map_err(|e| DiscoveryError::Config {
                provider: PROVIDER,
                detail: format!("endpoint '{text}': {e}"),
            })
        };
        Ok([
            parse(&self.endpoint, DEFAULT_ENDPOINT)?,
            parse(&self.sql_endpoint, DEFAULT_SQL_ENDPOINT)?,
            parse(&self.dns_endpoint, DEFAULT_DNS_ENDPOINT)?,
        ])
    }

    /// The HTTP client discovery and the actor send through.
    pub(crate) fn rest_client(&self) -> Result<RestClient, DiscoveryError> {
        RestClient::new(
            PROVIDER,
            Duration::from_secs(self.timeout_secs.max(1)),
            self.max_attempts,
        )
    }
}

/// Where the Compute token comes from.
#[derive(Debug, Clone)]
pub enum GcpCredential {
    /// A token obtained elsewhere (`GOOGLE_OAUTH_ACCESS_TOKEN`).
    AccessToken(AccessToken),
    /// The instance's service account (metadata server), then `gcloud`'s login.
    MetadataThenGcloud,
}

impl GcpCredential {
    pub fn from_env() -> GcpCredential {
        match std::env::var("GOOGLE_OAUTH_ACCESS_TOKEN") {
            Ok(token) if !token.trim().is_empty() => {
                GcpCredential::AccessToken(AccessToken::new(token.trim()))
            }
            _ => GcpCredential::MetadataThenGcloud,
        }
    }

    pub(crate) async fn token(&self, rest: &RestClient) -> Result<AccessToken, DiscoveryError> {
        match self {
            GcpCredential::AccessToken(token) => Ok(token.clone()),
            GcpCredential::MetadataThenGcloud => {
                let metadata = rest
                    .http()
                    .get(METADATA_TOKEN_URL)
                    .header("Metadata-Flavor", "Google")
                    .timeout(METADATA_TIMEOUT);
                match rest.token(metadata, "metadata server").await {
                    Ok(token) => Ok(token),
                    Err(metadata_error) => rest::cli_output(
                        PROVIDER,
                        "gcloud",
                        &["auth", "print-access-token"],
                        Duration::from_secs(30),
                    )
                    .await
                    .map(AccessToken::new)
                    .map_err(|cli_error| DiscoveryError::Credentials {
                        provider: PROVIDER,
                        detail: format!(
                            "set GOOGLE_OAUTH_ACCESS_TOKEN; tried {metadata_error}; tried {cli_error}"
                        ),
                    }),
                }
            }
        }
    }
}

/// Reads a GCP estate through the Compute API.
#[derive(Debug, Clone)]
pub struct GcpDiscovery {
    config: GcpDiscoveryConfig,
    credential: Option<GcpCredential>,
}

impl GcpDiscovery {
    /// Credentials come from the environment when `inventory` runs.
    pub fn new(config: GcpDiscoveryConfig) -> GcpDiscovery {
        GcpDiscovery {
            config,
            credential: None,
        }
    }

    pub fn with_credential(config: GcpDiscoveryConfig, credential: GcpCredential) -> GcpDiscovery {
        GcpDiscovery {
            config,
            credential: Some(credential),
        }
    }
}

#[async_trait::async_trait]
impl InventorySource for GcpDiscovery {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn inventory(&self) -> Result<Inventory, DiscoveryError> {
        if self.config.projects.is_empty() {
            return Err(DiscoveryError::Config {
                provider: PROVIDER,
                detail: "no projects configured (projects = [\"my-project\"])".into(),
            });
        }
        let [endpoint, sql_endpoint, _] = self.config.endpoints()?;
        let rest = self.config.rest_client()?;
        let credential = self
            .credential
            .clone()
            .unwrap_or_else(GcpCredential::from_env);
        let token = credential.token(&rest).await?;
        let compute = Compute {
            rest,
            token,
            endpoint,
            sql_endpoint,
        };
        let mut inventory = Inventory::new(PROVIDER);
        let mut succeeded = 0;
        let mut first_error = None;
        for project in &self.config.projects {
            let span = tracing::info_span!("gcp_project", %project);
            let (read, errors, ok) = compute.read_project(project).instrument(span).await;
            succeeded += ok;
            if first_error.is_none() {
                first_error = errors.into_iter().next();
            }
            inventory.absorb(map_project(&read));
        }
        match first_error {
            Some(error) if succeeded == 0 => Err(error),
            _ => Ok(inventory),
        }
    }
}

struct Compute {
    rest: RestClient,
    token: AccessToken,
    endpoint: Url,
    sql_endpoint: Url,
}

/// The raw lists of one project, and what failed while reading them.
#[derive(Debug, Default)]
pub struct ProjectRead {
    pub project: String,
    pub networks: Vec<Value>,
    pub subnetworks: Vec<Value>,
    pub vpn_gateways: Vec<Value>,
    pub target_vpn_gateways: Vec<Value>,
    pub vpn_tunnels: Vec<Value>,
    pub routers: Vec<Value>,
    pub attachments: Vec<Value>,
    /// Compute instances (`instances.aggregatedList`).
    pub instances: Vec<Value>,
    /// Cloud SQL instances (`instances.list` of the SQL Admin API).
    pub sql_instances: Vec<Value>,
    /// Routes, firewalls, external VPN gateways: read to be counted.
    pub counted: u64,
    pub problems: Vec<String>,
}

/// Global lists (`items` is an array) and aggregated ones (`items` maps a
/// scope to `{<key>: [...]}` or a warning).
enum Shape {
    Global,
    Aggregated(&'static str),
}

impl Compute {
    /// Reads one project; returns the lists, the failures and how many calls succeeded.
    async fn read_project(&self, project: &str) -> (ProjectRead, Vec<DiscoveryError>, usize) {
        let mut read = ProjectRead {
            project: project.to_string(),
            ..ProjectRead::default()
        };
        let mut errors = Vec::new();
        let mut ok = 0;
        let calls: [(&str, Shape, &str); 11] = [
            ("global/networks", Shape::Global, "networks"),
            (
                "aggregated/subnetworks",
                Shape::Aggregated("subnetworks"),
                "subnetworks",
            ),
            ("global/routes", Shape::Global, "routes"),
            ("global/firewalls", Shape::Global, "firewalls"),
            (
                "aggregated/vpnGateways",
                Shape::Aggregated("vpnGateways"),
                "VPN gateways",
            ),
            (
                "aggregated/targetVpnGateways",
                Shape::Aggregated("targetVpnGateways"),
                "classic VPN gateways",
            ),
            (
                "global/externalVpnGateways",
                Shape::Global,
                "external VPN gateways",
            ),
            (
                "aggregated/vpnTunnels",
                Shape::Aggregated("vpnTunnels"),
                "VPN tunnels",
            ),
            (
                "aggregated/routers",
                Shape::Aggregated("routers"),
                "routers",
            ),
            (
                "aggregated/interconnectAttachments",
                Shape::Aggregated("interconnectAttachments"),
                "interconnect attachments",
            ),
            (
                "aggregated/instances",
                Shape::Aggregated("instances"),
                "instances",
            ),
        ];
        let sql = (
            &self.sql_endpoint,
            format!("v1/projects/{project}/instances"),
            Shape::Global,
            "Cloud SQL instances",
        );
        let compute = calls.into_iter().map(|(path, shape, api)| {
            let path = format!("compute/v1/projects/{project}/{path}");
            (&self.endpoint, path, shape, api)
        });
        for (base, path, shape, api) in compute.chain([sql]) {
            let items = match self
                .list(base, &path, &shape, api, &mut read.problems)
                .await
            {
                Ok(items) => {
                    ok += 1;
                    items
                }
                Err(error) => {
                    tracing::warn!(%project, %error, "gcp: part of the estate could not be read");
                    read.problems.push(format!("project {project}: {error}"));
                    errors.push(error);
                    continue;
                }
            };
            let slot = match api {
                "networks" => &mut read.networks,
                "subnetworks" => &mut read.subnetworks,
                "VPN gateways" => &mut read.vpn_gateways,
                "classic VPN gateways" => &mut read.target_vpn_gateways,
                "VPN tunnels" => &mut read.vpn_tunnels,
                "routers" => &mut read.routers,
                "interconnect attachments" => &mut read.attachments,
                "instances" => &mut read.instances,
                "Cloud SQL instances" => &mut read.sql_instances,
                _ => {
                    read.counted += items.len() as u64;
                    continue;
                }
            };
            *slot = items;
        }
        (read, errors, ok)
    }

    /// Every item of a list, following `nextPageToken`. Scopes an aggregated
    /// list could not reach go to `problems`.
    async fn list(
        &self,
        endpoint: &Url,
        path: &str,
        shape: &Shape,
        api: &str,
        problems: &mut Vec<String>,
    ) -> Result<Vec<Value>, DiscoveryError> {
        let base = endpoint.join(path).map_err(|e| DiscoveryError::Config {
            provider: PROVIDER,
            detail: format!("{path}: {e}"),
        })?;
        let mut items = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..rest::MAX_PAGES {
            let mut url = base.clone();
            if let Some(token) = &page_token {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            let mut page = self.rest.get_json(&self.token, &url, api).await?;
            match (shape, page.get_mut("items").map(Value::take)) {
                (_, None | Some(Value::Null)) => {}
                (Shape::Global, Some(Value::Array(list))) => items.extend(list),
                (Shape::Aggregated(key), Some(Value::Object(scopes))) => {
                    for (_, mut scoped) in scopes {
                        if let Some(Value::Array(list)) = scoped.get_mut(*key).map(Value::take) {
                            items.extend(list);
                        }
                    }
                }
                _ => return Err(bad(api, "`items` has an unexpected shape")),
            }
            if let Some(Value::Array(unreachable)) = page.get("unreachables") {
                let scopes: Vec<&str> = unreachable.iter().filter_map(Value::as_str).collect();
                if !scopes.is_empty() {
                    problems.push(format!("{path}: not reachable: {}", scopes.join(", ")));
                }
            }
            match page.get("nextPageToken").and_then(Value::as_str) {
                Some(next) if !next.is_empty() && page_token.as_deref() != Some(next) => {
                    page_token = Some(next.to_string());
                }
                _ => return Ok(items),
            }
        }
        Err(bad(api, &format!("more than {} pages", rest::MAX_PAGES)))
    }
}

fn bad(api: &str, detail: &str) -> DiscoveryError {
    DiscoveryError::BadResponse {
        provider: PROVIDER,
        api: api.to_string(),
        detail: detail.to_string(),
    }
}

// ---- pure mapping ---------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Network {
    self_link: String,
    name: String,
    #[serde(rename = "IPv4Range")]
    ipv4_range: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subnetwork {
    network: String,
    ip_cidr_range: Option<String>,
    region: Option<String>,
}

/// HA VPN gateways, classic target VPN gateways and routers: all sit in a network.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InNetwork {
    self_link: String,
    network: Option<String>,
    #[serde(default)]
    vpn_interfaces: Vec<VpnInterface>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VpnInterface {
    id: Option<u32>,
    ip_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VpnTunnel {
    self_link: String,
    name: String,
    status: Option<String>,
    peer_ip: Option<String>,
    vpn_gateway: Option<String>,
    vpn_gateway_interface: Option<u32>,
    target_vpn_gateway: Option<String>,
    router: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    self_link: String,
    name: String,
    router: Option<String>,
    interconnect: Option<String>,
    pairing_key: Option<String>,
    state: Option<String>,
    operational_status: Option<String>,
    bandwidth: Option<String>,
    admin_enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    self_link: String,
    name: String,
    #[serde(default)]
    network_interfaces: Vec<NetworkInterface>,
    tags: Option<Tags>,
    #[serde(default)]
    service_accounts: Vec<ServiceAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetworkInterface {
    network: Option<String>,
    #[serde(rename = "networkIP")]
    network_ip: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Tags {
    #[serde(default)]
    items: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ServiceAccount {
    email: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqlInstance {
    name: String,
    connection_name: Option<String>,
    self_link: Option<String>,
    database_version: Option<String>,
    #[serde(default)]
    ip_addresses: Vec<SqlAddress>,
    settings: Option<SqlSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqlAddress {
    #[serde(rename = "type")]
    kind: Option<String>,
    ip_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqlSettings {
    ip_configuration: Option<SqlIpConfiguration>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqlIpConfiguration {
    private_network: Option<String>,
}

/// The port a Cloud SQL engine listens on, from its `databaseVersion`.
fn sql_port(version: &str) -> Option<u16> {
    match version.split('_').next()? {
        "POSTGRES" => Some(5432),
        "MYSQL" => Some(3306),
        "SQLSERVER" => Some(1433),
        _ => None,
    }
}

/// A Compute instance as a service on its first interface's network; its
/// network tags (`tag:<t>`) and service accounts (`serviceAccount:<email>`)
/// are what a firewall rule for it can target.
fn instance_service(i: Instance, problems: &mut Vec<String>) -> Option<Service> {
    let Some(nic) = i.network_interfaces.iter().find(|n| n.network.is_some()) else {
        problems.push(format!("instance {}: no network interface", i.self_link));
        return None;
    };
    let id = resource_path(&i.self_link);
    let mut targets: Vec<String> = i
        .tags
        .map(|t| t.items)
        .unwrap_or_default()
        .into_iter()
        .map(|t| format!("tag:{t}"))
        .collect();
    targets.extend(
        i.service_accounts
            .iter()
            .map(|a| format!("serviceAccount:{}", a.email)),
    );
    Some(Service {
        id: ServiceId::new(id.clone()),
        network: NetworkId::new(resource_path(nic.network.as_deref().unwrap_or_default())),
        address: nic.network_ip.clone().unwrap_or_default(),
        identifiers: vec![i.name.clone(), id],
        name: i.name,
        kind: "gce".into(),
        port: 443,
        security_groups: targets,
        public_endpoint: false,
    })
}

/// A Cloud SQL instance reachable on a private IP as a service of its
/// private network; one without (public IP only) is not one a private
/// connection can reach, and is left out.
fn sql_service(s: SqlInstance, problems: &mut Vec<String>) -> Option<Service> {
    let network = s
        .settings
        .and_then(|x| x.ip_configuration)
        .and_then(|c| c.private_network)?;
    let address = s
        .ip_addresses
        .iter()
        .find(|a| a.kind.as_deref() == Some("PRIVATE"))
        .and_then(|a| a.ip_address.clone())?;
    let version = s.database_version.unwrap_or_default();
    let Some(port) = sql_port(&version) else {
        problems.push(format!(
            "Cloud SQL instance {}: unknown database version '{version}'",
            s.name
        ));
        return None;
    };
    let id = s.connection_name.clone().unwrap_or_else(|| s.name.clone());
    let mut identifiers = vec![s.name.clone()];
    identifiers.extend(s.connection_name);
    identifiers.extend(s.self_link);
    Some(Service {
        id: ServiceId::new(id),
        name: s.name,
        kind: "cloud_sql".into(),
        network: NetworkId::new(resource_path(&network)),
        identifiers,
        port,
        address,
        security_groups: Vec::new(),
        public_endpoint: false,
    })
}

/// Maps one project's lists to its inventory. Pure.
pub fn map_project(read: &ProjectRead) -> Inventory {
    let mut inv = Inventory::new(PROVIDER);
    inv.problems = read.problems.clone();
    inv.resources_read = read.counted;
    let mut problems = Vec::new();

    let mut cidrs: HashMap<String, Vec<String>> = HashMap::new();
    // Network → region → how many of its subnetworks are there.
    let mut regions: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
    for item in &read.subnetworks {
        if let Some(s) = rest::parse_item::<Subnetwork>(item, "subnetwork", &mut problems) {
            inv.resources_read += 1;
            let network = resource_path(&s.network);
            if let Some(region) = s.region.as_deref().and_then(last_segment) {
                *regions
                    .entry(network.clone())
                    .or_default()
                    .entry(region.to_string())
                    .or_default() += 1;
            }
            if let Some(range) = s.ip_cidr_range {
                cidrs.entry(network).or_default().push(range);
            }
        }
    }
    for item in &read.networks {
        let Some(n) = rest::parse_item::<Network>(item, "network", &mut problems) else {
            continue;
        };
        inv.resources_read += 1;
        let id = resource_path(&n.self_link);
        let mut ranges = cidrs.remove(&id).unwrap_or_default();
        ranges.extend(n.ipv4_range);
        let region = regions
            .remove(&id)
            .map_or_else(|| "global".into(), main_region);
        inv.networks.push(NetworkRecord {
            id,
            name: n.name,
            cloud: Cloud::Gcp,
            region,
            kind: NetworkKind::GcpNetwork,
            cidrs: ranges,
            account: Some(read.project.clone()),
        });
    }

    // Gateway / router path → (network, interface addresses).
    let mut devices: HashMap<String, InNetwork> = HashMap::new();
    for (items, what) in [
        (&read.vpn_gateways, "VPN gateway"),
        (&read.target_vpn_gateways, "classic VPN gateway"),
        (&read.routers, "router"),
    ] {
        for item in items {
            if let Some(d) = rest::parse_item::<InNetwork>(item, what, &mut problems) {
                inv.resources_read += 1;
                devices.insert(resource_path(&d.self_link), d);
            }
        }
    }
    for (path, device) in &devices {
        let Some(network) = &device.network else {
            continue;
        };
        for interface in &device.vpn_interfaces {
            if let Some(address) = interface.ip_address.as_deref().and_then(|a| a.parse().ok()) {
                inv.addresses.push(AddressRecord {
                    address,
                    network: resource_path(network),
                    owner: format!("{path} interface {}", interface.id.unwrap_or_default()),
                });
            }
        }
    }
    inv.addresses.sort_by(|a, b| a.owner.cmp(&b.owner));
    let network_of = |url: &Option<String>| -> Option<String> {
        let device = devices.get(&resource_path(url.as_deref()?))?;
        device.network.as_deref().map(resource_path)
    };

    for item in &read.vpn_tunnels {
        let Some(t) = rest::parse_item::<VpnTunnel>(item, "VPN tunnel", &mut problems) else {
            continue;
        };
        inv.resources_read += 1;
        let gateway = t.vpn_gateway.as_ref().or(t.target_vpn_gateway.as_ref());
        let local = network_of(&t.vpn_gateway)
            .or_else(|| network_of(&t.target_vpn_gateway))
            .or_else(|| network_of(&t.router));
        let peer = t.peer_ip.as_deref().and_then(|p| p.parse::<IpAddr>().ok());
        let (Some(local), Some(peer)) = (local, peer) else {
            problems.push(format!(
                "VPN tunnel {}: gateway/router network or peer IP unknown",
                t.self_link
            ));
            continue;
        };
        let local_address = t.vpn_gateway.as_deref().and_then(|g| {
            let device = devices.get(&resource_path(g))?;
            let wanted = t.vpn_gateway_interface.unwrap_or_default();
            let interface = device
                .vpn_interfaces
                .iter()
                .find(|i| i.id.unwrap_or_default() == wanted)?;
            interface.ip_address.as_deref()?.parse().ok()
        });
        inv.links.push(LinkRecord {
            id: resource_path(&t.self_link),
            kind: ConnectionKind::Vpn,
            local,
            remote: RemoteEnd::Address(peer),
            status: tunnel_status(t.status.as_deref()),
            bandwidth_gbps: None,
            latency_ms: None,
            local_address,
            group: gateway.map(|g| resource_path(g)),
            name: Some(t.name),
        });
    }

    for item in &read.attachments {
        let Some(a) =
            rest::parse_item::<Attachment>(item, "interconnect attachment", &mut problems)
        else {
            continue;
        };
        inv.resources_read += 1;
        // Dedicated attachments name their interconnect; partner ones have
        // only the pairing key the partner was given.
        let circuit = a
            .interconnect
            .as_deref()
            .and_then(last_segment)
            .map(str::to_string)
            .or(a.pairing_key.clone());
        let (Some(local), Some(circuit)) = (network_of(&a.router), circuit) else {
            problems.push(format!(
                "interconnect attachment {}: router network or interconnect unknown",
                a.self_link
            ));
            continue;
        };
        inv.links.push(LinkRecord {
            id: resource_path(&a.self_link),
            kind: ConnectionKind::Interconnect,
            local,
            remote: RemoteEnd::Circuit(circuit.clone()),
            status: attachment_status(&a),
            bandwidth_gbps: a.bandwidth.as_deref().and_then(bandwidth_gbps),
            latency_ms: None,
            local_address: None,
            group: Some(circuit),
            name: Some(a.name),
        });
    }

    for item in &read.instances {
        let parsed = rest::parse_item::<Instance>(item, "instance", &mut problems);
        if let Some(service) = parsed.and_then(|i| instance_service(i, &mut problems)) {
            inv.resources_read += 1;
            inv.services.push(service);
        }
    }
    for item in &read.sql_instances {
        let parsed = rest::parse_item::<SqlInstance>(item, "Cloud SQL instance", &mut problems);
        if let Some(service) = parsed.and_then(|s| sql_service(s, &mut problems)) {
            inv.resources_read += 1;
            inv.services.push(service);
        }
    }

    inv.problems.extend(
        problems
            .into_iter()
            .map(|p| format!("project {}: {p}", read.project)),
    );
    inv
}

/// `https://host/compute/v1/projects/p/global/networks/n` → `projects/p/global/networks/n`.
pub(crate) fn resource_path(url: &str) -> String {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    match path.find("projects/") {
        Some(at) => path[at..].trim_end_matches('/').to_string(),
        None => path.trim_end_matches('/').to_string(),
    }
}

/// `…/regions/us-central1` → `us-central1`.
fn last_segment(url: &str) -> Option<&str> {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// A VPC network is global, but the estate places every network in a
/// region: the one most of its subnetworks are in (the first by name on a
/// tie). A network without subnetworks stays `global`.
fn main_region(counts: BTreeMap<String, usize>) -> String {
    let most = counts.values().copied().max().unwrap_or_default();
    counts
        .into_iter()
        .find(|(_, n)| *n == most)
        .map(|(region, _)| region)
        .unwrap_or_else(|| "global".into())
}

/// ESTABLISHED carries traffic. The set-up stages (no fault yet, no traffic
/// either) are degraded so they read differently from a failed tunnel; every
/// error, stop or teardown state is down.
fn tunnel_status(status: Option<&str>) -> ConnectionStatus {
    match status {
        Some("ESTABLISHED") => ConnectionStatus::Up,
        Some(
            "PROVISIONING" | "WAITING_FOR_FULL_CONFIG" | "FIRST_HANDSHAKE" | "ALLOCATING_RESOURCES",
        ) => ConnectionStatus::Degraded,
        _ => ConnectionStatus::Down,
    }
}

/// Up only when active, operational and not administratively disabled.
fn attachment_status(a: &Attachment) -> ConnectionStatus {
    let active = a.state.as_deref() == Some("ACTIVE");
    let operational = matches!(a.operational_status.as_deref(), None | Some("OS_ACTIVE"));
    if active && operational && a.admin_enabled != Some(false) {
        ConnectionStatus::Up
    } else {
        ConnectionStatus::Down
    }
}

/// `BPS_10G` → 10.0, `BPS_500M` → 0.5.
fn bandwidth_gbps(bandwidth: &str) -> Option<f64> {
    let amount = bandwidth.strip_prefix("BPS_")?;
    if let Some(g) = amount.strip_suffix('G') {
        g.parse::<f64>().ok()
    } else {
        amount
            .strip_suffix('M')?
            .parse::<f64>()
            .ok()
            .map(|m| m / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_are_joined_on_their_path_not_their_host() {
        assert_eq!(
            resource_path("https://www.googleapis.com/compute/v1/projects/p/global/networks/n"),
            "projects/p/global/networks/n"
        );
        assert_eq!(
            resource_path("http://127.0.0.1:9/compute/v1/projects/p/global/networks/n/"),
            "projects/p/global/networks/n"
        );
    }

    #[test]
    fn tunnel_and_attachment_states_map_to_health() {
        assert_eq!(tunnel_status(Some("ESTABLISHED")), ConnectionStatus::Up);
        assert_eq!(
            tunnel_status(Some("FIRST_HANDSHAKE")),
            ConnectionStatus::Degraded
        );
        assert_eq!(
            tunnel_status(Some("NO_INCOMING_PACKETS")),
            ConnectionStatus::Down
        );
        assert_eq!(tunnel_status(None), ConnectionStatus::Down);
        let attachment = |state: &str, os: &str| -> Attachment {
            serde_json::from_value(
                json!({ "selfLink": "x", "name": "a", "state": state, "operationalStatus": os }),
            )
            .unwrap()
        };
        assert_eq!(
            attachment_status(&attachment("ACTIVE", "OS_ACTIVE")),
            ConnectionStatus::Up
        );
        assert_eq!(
            attachment_status(&attachment("ACTIVE", "OS_UNPROVISIONED")),
            ConnectionStatus::Down
        );
        assert_eq!(
            attachment_status(&attachment("PENDING_PARTNER", "OS_ACTIVE")),
            ConnectionStatus::Down
        );
    }

    #[test]
    fn a_network_is_placed_where_most_of_its_subnetworks_are() {
        let counts = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
            pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect()
        };
        assert_eq!(
            main_region(counts(&[("europe-west1", 1), ("us-east4", 2)])),
            "us-east4"
        );
        assert_eq!(
            main_region(counts(&[("us-west1", 1), ("us-east1", 1)])),
            "us-east1"
        );
        assert_eq!(main_region(BTreeMap::new()), "global");
    }

    #[test]
    fn bandwidth_enums_become_gbps() {
        assert_eq!(bandwidth_gbps("BPS_10G"), Some(10.0));
        assert_eq!(bandwidth_gbps("BPS_500M"), Some(0.5));
        assert_eq!(bandwidth_gbps("10G"), None);
    }

    #[test]
    fn instances_and_private_cloud_sql_become_services() {
        let read = ProjectRead {
            project: "p".into(),
            instances: vec![json!({
                "selfLink": "https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/web-1",
                "name": "web-1",
                "networkInterfaces": [{"network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod", "networkIP": "10.80.0.7"}],
                "tags": {"items": ["web"], "fingerprint": "x"},
                "serviceAccounts": [{"email": "web@p.iam.gserviceaccount.com", "scopes": []}]
            })],
            sql_instances: vec![
                json!({"name": "orders", "connectionName": "p:us-central1:orders",
                    "databaseVersion": "MYSQL_8_0",
                    "ipAddresses": [{"type": "PRIMARY", "ipAddress": "34.1.2.3"}, {"type": "PRIVATE", "ipAddress": "10.80.0.5"}],
                    "settings": {"ipConfiguration": {"privateNetwork": "/projects/p/global/networks/prod"}}}),
                json!({"name": "public-only", "databaseVersion": "POSTGRES_15",
                    "ipAddresses": [{"type": "PRIMARY", "ipAddress": "34.1.2.4"}],
                    "settings": {"ipConfiguration": {"ipv4Enabled": true}}}),
            ],
            ..ProjectRead::default()
        };
        let inv = map_project(&read);
        assert!(inv.problems.is_empty(), "{:?}", inv.problems);
        let [web, sql] = inv.services.as_slice() else {
            panic!("{:?}", inv.services)
        };
        assert_eq!(web.network.as_str(), "projects/p/global/networks/prod");
        assert_eq!(web.address, "10.80.0.7");
        assert_eq!(
            web.security_groups,
            ["tag:web", "serviceAccount:web@p.iam.gserviceaccount.com"]
        );
        assert_eq!(sql.id.as_str(), "p:us-central1:orders");
        assert_eq!((sql.port, sql.address.as_str()), (3306, "10.80.0.5"));
        assert_eq!(sql.network.as_str(), "projects/p/global/networks/prod");
        assert!(sql.security_groups.is_empty());
        assert_eq!(sql_port("SQLSERVER_2019_STANDARD"), Some(1433));
        assert_eq!(sql_port("POSTGRES_16"), Some(5432));
    }

    #[test]
    fn a_tunnel_without_a_known_gateway_is_a_problem_not_a_guess() {
        let read = ProjectRead {
            project: "p".into(),
            vpn_tunnels: vec![
                json!({ "selfLink": "projects/p/regions/r/vpnTunnels/t", "name": "t",
                "peerIp": "203.0.113.1", "vpnGateway": "projects/p/regions/r/vpnGateways/gone" }),
                json!(7),
            ],
            ..ProjectRead::default()
        };
        let inv = map_project(&read);
        assert!(inv.links.is_empty());
        assert_eq!(inv.problems.len(), 2, "{:?}", inv.problems);
    }
}
