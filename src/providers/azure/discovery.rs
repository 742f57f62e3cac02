//! Azure discovery over the ARM REST API: per subscription, virtual networks
//! (with their peerings and subnets), ExpressRoute circuits, NSGs and route
//! tables, private endpoints, network interfaces and SQL servers, then per
//! resource group the virtual network gateways, gateway connections and local
//! network gateways, mapped to an `Inventory`. Services: a SQL server reached
//! through a private endpoint (in the endpoint's VNet, at its IP, behind its
//! subnet's NSG) and a VM by its interface (behind the NSGs of its interface
//! and subnet). The driver (`AzureDiscovery`)
//! does the IO through `rest::RestClient`; `map_subscription` is pure.
//!
//! Invariants: network and link ids are ARM resource ids lower-cased (ARM ids
//! are case-insensitive and Microsoft's own answers mix case); a failing
//! subscription or API becomes a `problems` entry and the rest is still read;
//! `Err` only when nothing at all could be read. An ExpressRoute circuit is
//! referred to by its service key: the one identifier the connectivity
//! provider and the on-prem side are given for it (names are only unique per
//! resource group and can be reused).

use crate::domain::{
    Cloud, ConnectionKind, ConnectionStatus, NetworkId, NetworkKind, Region, Service, ServiceId,
};
use crate::providers::rest::{self, AccessToken, RestClient};
use crate::topology::{
    DiscoveryError, Inventory, InventorySource, LinkRecord, NetworkRecord, RemoteEnd,
};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use tracing::Instrument;

const PROVIDER: &str = "azure";
pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Microsoft.Network API version every network list is read with.
pub const NETWORK_API_VERSION: &str = "2024-05-01";
pub const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";
pub const RESOURCE_GROUPS_API_VERSION: &str = "2024-11-01";
/// Microsoft.Sql API version (servers, firewall rules).
pub const SQL_API_VERSION: &str = "2025-01-01";
/// The port Azure SQL answers on.
const SQL_PORT: u16 = 1433;
/// Managed identity (IMDS) answers at once on Azure; elsewhere nothing does.
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureDiscoveryConfig {
    /// Subscription ids to read; empty = every subscription the token sees.
    pub subscriptions: Vec<String>,
    /// ARM endpoint; `https://management.azure.com` when unset.
    pub endpoint: Option<String>,
    pub timeout_secs: u64,
    pub max_attempts: u32,
    /// The priorities NSG rules switchboard makes take (the first free one).
    pub rule_priorities: [u16; 2],
    /// Between polls of a long-running operation when Azure names no
    /// `Retry-After`.
    pub poll_ms: u64,
    /// The most one write may take, its polls included.
    pub operation_timeout_secs: u64,
}

impl Default for AzureDiscoveryConfig {
    fn default() -> Self {
        AzureDiscoveryConfig {
            subscriptions: Vec::new(),
            endpoint: None,
            timeout_secs: 30,
            max_attempts: 5,
            rule_priorities: [3000, 3999],
            poll_ms: 10_000,
            operation_timeout_secs: 600,
        }
    }
}

/// Where the ARM token comes from.
#[derive(Debug, Clone)]
pub enum AzureCredential {
    /// A token obtained elsewhere (`AZURE_ACCESS_TOKEN`).
    AccessToken(AccessToken),
    /// A service principal's client secret (OAuth client credentials).
    ClientSecret {
        tenant_id: String,
        client_id: String,
        client_secret: AccessToken,
        /// Entra ID authority; `https://login.microsoftonline.com` normally.
        authority: String,
    },
    /// The VM's managed identity (IMDS), then the Azure CLI's login.
    ManagedIdentityThenCli,
}

impl AzureCredential {
    /// `AZURE_ACCESS_TOKEN`, else `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` +
    /// `AZURE_CLIENT_SECRET`, else managed identity then `az`.
    pub fn from_env() -> AzureCredential {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(token) = var("AZURE_ACCESS_TOKEN") {
            return AzureCredential::AccessToken(AccessToken::new(token));
        }
        match (
            var("AZURE_TENANT_ID"),
            var("AZURE_CLIENT_ID"),
            var("AZURE_CLIENT_SECRET"),
        ) {
            (Some(tenant_id), Some(client_id), Some(secret)) => AzureCredential::ClientSecret {
                tenant_id,
                client_id,
                client_secret: AccessToken::new(secret),
                authority: var("AZURE_AUTHORITY_HOST")
                    .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string()),
            },
            _ => AzureCredential::ManagedIdentityThenCli,
        }
    }

    pub(crate) async fn token(
        &self,
        rest: &RestClient,
        resource: &str,
    ) -> Result<AccessToken, DiscoveryError> {
        match self {
            AzureCredential::AccessToken(token) => Ok(token.clone()),
            AzureCredential::ClientSecret {
                tenant_id,
                client_id,
                client_secret,
                authority,
            } => {
                let url = format!(
                    "{}/{tenant_id}/oauth2/v2.0/token",
                    authority.trim_end_matches('/')
                );
                let scope = format!("{}/.default", resource.trim_end_matches('/'));
                let request = rest.http().post(url).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.expose()),
                    ("scope", scope.as_str()),
                ]);
                rest.token(request, "client secret").await
            }
            AzureCredential::ManagedIdentityThenCli => {
                let imds = rest
                    .http()
                    .get("http://169.254.169.254/metadata/identity/oauth2/token")
                    .query(&[("api-version", "2018-02-01"), ("resource", resource)])
                    .header("Metadata", "true")
                    .timeout(IMDS_TIMEOUT);
                match rest.token(imds, "managed identity").await {
                    Ok(token) => Ok(token),
                    Err(imds_error) => cli_token(resource).await.map_err(|cli_error| {
                        DiscoveryError::Credentials {
                            provider: PROVIDER,
                            detail: format!(
                                "set AZURE_ACCESS_TOKEN or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET; \
                                 tried {imds_error}; tried {cli_error}"
                            ),
                        }
                    }),
                }
            }
        }
    }
}

async fn cli_token(resource: &str) -> Result<AccessToken, DiscoveryError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct CliToken {
        access_token: String,
    }
    let out = rest::cli_output(
        PROVIDER,
        "az",
        &[
            "account",
            "get-access-token",
            "--resource",
            resource,
            "--output",
            "json",
        ],
        Duration::from_secs(30),
    )
    .await?;
    serde_json::from_str::<CliToken>(&out)
        .map(|t| AccessToken::new(t.access_token))
        .map_err(|e| DiscoveryError::Credentials {
            provider: PROVIDER,
            detail: format!("az CLI: unexpected output: {e}"),
        })
}

/// Reads an Azure estate through ARM.
#[derive(Debug, Clone)]
pub struct AzureDiscovery {
    config: AzureDiscoveryConfig,
    credential: Option<AzureCredential>,
}

impl AzureDiscovery {
    /// Credentials come from the environment when `inventory` runs.
    pub fn new(config: AzureDiscoveryConfig) -> AzureDiscovery {
        AzureDiscovery {
            config,
            credential: None,
        }
    }

    pub fn with_credential(
        config: AzureDiscoveryConfig,
        credential: AzureCredential,
    ) -> AzureDiscovery {
        AzureDiscovery {
            config,
            credential: Some(credential),
        }
    }
}

#[async_trait::async_trait]
impl InventorySource for AzureDiscovery {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn inventory(&self) -> Result<Inventory, DiscoveryError> {
        let endpoint = self
            .config
            .endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/');
        let endpoint = Url::parse(endpoint).map_err(|e| DiscoveryError::Config {
            provider: PROVIDER,
            detail: format!("endpoint '{endpoint}': {e}"),
        })?;
        let rest = RestClient::new(
            PROVIDER,
            Duration::from_secs(self.config.timeout_secs.max(1)),
            self.config.max_attempts,
        )?;
        let credential = self
            .credential
            .clone()
            .unwrap_or_else(AzureCredential::from_env);
        let resource = format!("{}/", endpoint.origin().ascii_serialization());
        let token = credential.token(&rest, &resource).await?;
        let arm = Arm {
            rest,
            token,
            endpoint,
        };
        arm.read_all(&self.config.subscriptions).await
    }
}

/// One discovery run's ARM session.
struct Arm {
    rest: RestClient,
    token: AccessToken,
    endpoint: Url,
}

/// The raw lists of one subscription, and what failed while reading them.
#[derive(Debug, Default)]
pub struct SubscriptionRead {
    pub subscription: String,
    pub virtual_networks: Vec<Value>,
    pub circuits: Vec<Value>,
    pub gateways: Vec<Value>,
    pub connections: Vec<Value>,
    pub local_gateways: Vec<Value>,
    pub private_endpoints: Vec<Value>,
    pub interfaces: Vec<Value>,
    pub sql_servers: Vec<Value>,
    /// Resources read only to be counted (NSGs, route tables, resource groups).
    pub counted: u64,
    pub problems: Vec<String>,
}

/// Successful calls and the first failure, to tell "partial" from "nothing".
#[derive(Default)]
struct Tally {
    succeeded: usize,
    first_error: Option<DiscoveryError>,
}

impl Arm {
    async fn read_all(&self, configured: &[String]) -> Result<Inventory, DiscoveryError> {
        let subscriptions = if configured.is_empty() {
            let list = self
                .list("/subscriptions", SUBSCRIPTIONS_API_VERSION, "subscriptions")
                .await?;
            list.iter()
                .filter_map(|s| s.get("subscriptionId").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        } else {
            configured.to_vec()
        };
        let mut inventory = Inventory::new(PROVIDER);
        let mut tally = Tally::default();
        for subscription in subscriptions {
            let span = tracing::info_span!("azure_subscription", %subscription);
            let read = self
                .read_subscription(&subscription, &mut tally)
                .instrument(span)
                .await;
            inventory.absorb(map_subscription(&read));
        }
        match tally.first_error {
            Some(error) if tally.succeeded == 0 => Err(error),
            _ => Ok(inventory),
        }
    }

    async fn read_subscription(&self, subscription: &str, tally: &mut Tally) -> SubscriptionRead {
        let mut read = SubscriptionRead {
            subscription: subscription.to_string(),
            ..SubscriptionRead::default()
        };
        let base = format!("/subscriptions/{subscription}");
        let network = |kind: &str| format!("{base}/providers/Microsoft.Network/{kind}");
        read.virtual_networks = self
            .list_or_note(
                &network("virtualNetworks"),
                "virtual networks",
                &mut read.problems,
                tally,
            )
            .await;
        read.circuits = self
            .list_or_note(
                &network("expressRouteCircuits"),
                "ExpressRoute circuits",
                &mut read.problems,
                tally,
            )
            .await;
        for (kind, api) in [
            ("networkSecurityGroups", "network security groups"),
            ("routeTables", "route tables"),
        ] {
            read.counted += self
                .list_or_note(&network(kind), api, &mut read.problems, tally)
                .await
                .len() as u64;
        }
        read.private_endpoints = self
            .list_or_note(
                &network("privateEndpoints"),
                "private endpoints",
                &mut read.problems,
                tally,
            )
            .await;
        read.interfaces = self
            .list_or_note(
                &network("networkInterfaces"),
                "network interfaces",
                &mut read.problems,
                tally,
            )
            .await;
        read.sql_servers = self
            .list_or_note_as(
                &format!("{base}/providers/Microsoft.Sql/servers"),
                SQL_API_VERSION,
                "SQL servers",
                &mut read.problems,
                tally,
            )
            .await;
        let groups = self
            .list_or_note_as(
                &format!("{base}/resourcegroups"),
                RESOURCE_GROUPS_API_VERSION,
                "resource groups",
                &mut read.problems,
                tally,
            )
            .await;
        read.counted += groups.len() as u64;
        for group in groups
            .iter()
            .filter_map(|g| g.get("name").and_then(Value::as_str))
        {
            let in_group = |kind: &str| {
                format!("{base}/resourceGroups/{group}/providers/Microsoft.Network/{kind}")
            };
            let gateways = self
                .list_or_note(
                    &in_group("virtualNetworkGateways"),
                    &format!("virtual network gateways of {group}"),
                    &mut read.problems,
                    tally,
                )
                .await;
            read.gateways.extend(gateways);
            let connections = self
                .list_or_note(
                    &in_group("connections"),
                    &format!("gateway connections of {group}"),
                    &mut read.problems,
                    tally,
                )
                .await;
            read.connections.extend(connections);
            let local = self
                .list_or_note(
                    &in_group("localNetworkGateways"),
                    &format!("local network gateways of {group}"),
                    &mut read.problems,
                    tally,
                )
                .await;
            read.local_gateways.extend(local);
        }
        read
    }

    /// A Microsoft.Network list; a failure becomes a problem and an empty list.
    async fn list_or_note(
        &self,
        path: &str,
        api: &str,
        problems: &mut Vec<String>,
        tally: &mut Tally,
    ) -> Vec<Value> {
        self.list_or_note_as(path, NETWORK_API_VERSION, api, problems, tally)
            .await
    }

    /// A list in `api_version`; a failure becomes a problem and an empty list.
    async fn list_or_note_as(
        &self,
        path: &str,
        api_version: &str,
        api: &str,
        problems: &mut Vec<String>,
        tally: &mut Tally,
    ) -> Vec<Value> {
        match self.list(path, api_version, api).await {
            Ok(items) => {
                tally.succeeded += 1;
                items
            }
            Err(error) => {
                let subscription = path.split('/').nth(2).unwrap_or_default();
                note(problems, subscription, tally, error);
                Vec::new()
            }
        }
    }

    /// Every item of an ARM list, following `nextLink` (only to the same
    /// endpoint: the token must not travel anywhere else).
    async fn list(
        &self,
        path: &str,
        api_version: &str,
        api: &str,
    ) -> Result<Vec<Value>, DiscoveryError> {
        let mut url = self
            .endpoint
            .join(path)
            .map_err(|e| DiscoveryError::Config {
                provider: PROVIDER,
                detail: format!("{path}: {e}"),
            })?;
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        let mut items = Vec::new();
        for _ in 0..rest::MAX_PAGES {
            let mut page = self.rest.get_json(&self.token, &url, api).await?;
            match page.get_mut("value").map(Value::take) {
                Some(Value::Array(values)) => items.extend(values),
                Some(Value::Null) | None => {}
                Some(_) => return Err(bad(api, "`value` is not a list")),
            }
            match page.get("nextLink").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => {
                    let next_url = Url::parse(next)
                        .map_err(|e| bad(api, &format!("nextLink '{next}': {e}")))?;
                    if next_url.origin() != self.endpoint.origin() {
                        return Err(bad(api, &format!("nextLink leaves {}", self.endpoint)));
                    }
                    url = next_url;
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

fn note(problems: &mut Vec<String>, subscription: &str, tally: &mut Tally, error: DiscoveryError) {
    tracing::warn!(%subscription, %error, "azure: part of the estate could not be read");
    problems.push(format!("subscription {subscription}: {error}"));
    tally.first_error.get_or_insert(error);
}

// ---- pure mapping ---------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Resource<P> {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    properties: P,
}

#[derive(Debug, Deserialize)]
struct IdRef {
    id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VnetProps {
    address_space: Option<AddressSpace>,
    #[serde(default)]
    virtual_network_peerings: Vec<Resource<PeeringProps>>,
    #[serde(default)]
    subnets: Vec<Resource<SubnetProps>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubnetProps {
    network_security_group: Option<IdRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointProps {
    subnet: Option<IdRef>,
    #[serde(default)]
    private_link_service_connections: Vec<Resource<LinkServiceProps>>,
    #[serde(default)]
    manual_private_link_service_connections: Vec<Resource<LinkServiceProps>>,
    #[serde(default)]
    custom_dns_configs: Vec<DnsConfig>,
    #[serde(default)]
    network_interfaces: Vec<IdRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkServiceProps {
    private_link_service_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DnsConfig {
    #[serde(default)]
    ip_addresses: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InterfaceProps {
    #[serde(default)]
    ip_configurations: Vec<Resource<InterfaceIpProps>>,
    network_security_group: Option<IdRef>,
    virtual_machine: Option<IdRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InterfaceIpProps {
    private_ip_address: Option<String>,
    subnet: Option<IdRef>,
    primary: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqlServerProps {
    fully_qualified_domain_name: Option<String>,
    public_network_access: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressSpace {
    #[serde(default)]
    address_prefixes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeeringProps {
    remote_virtual_network: Option<IdRef>,
    peering_state: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GatewayProps {
    #[serde(default)]
    ip_configurations: Vec<Resource<IpConfigProps>>,
}

#[derive(Debug, Default, Deserialize)]
struct IpConfigProps {
    subnet: Option<IdRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionProps {
    connection_type: Option<String>,
    connection_status: Option<String>,
    virtual_network_gateway1: Option<IdRef>,
    virtual_network_gateway2: Option<IdRef>,
    local_network_gateway2: Option<IdRef>,
    /// The ExpressRoute circuit of an ExpressRoute connection.
    peer: Option<IdRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocalGatewayProps {
    gateway_ip_address: Option<String>,
    fqdn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CircuitProps {
    service_key: Option<String>,
    service_provider_properties: Option<ServiceProviderProps>,
    service_provider_provisioning_state: Option<String>,
    /// ExpressRoute Direct circuits state their bandwidth here instead.
    bandwidth_in_gbps: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceProviderProps {
    bandwidth_in_mbps: Option<f64>,
}

struct Circuit {
    reference: Option<String>,
    bandwidth_gbps: Option<f64>,
    provisioned: bool,
}

/// Maps one subscription's lists to its inventory. Pure.
pub fn map_subscription(read: &SubscriptionRead) -> Inventory {
    let mut inv = Inventory::new(PROVIDER);
    inv.problems = read.problems.clone();
    inv.resources_read = read.counted;
    let sub = read.subscription.as_str();
    let mut problems = Vec::new();
    // Subnet id → its NSG, for the services in it.
    let mut subnet_nsgs: HashMap<String, Option<String>> = HashMap::new();

    for item in &read.virtual_networks {
        let Some(vnet) =
            rest::parse_item::<Resource<VnetProps>>(item, "virtual network", &mut problems)
        else {
            continue;
        };
        inv.resources_read += 1 + vnet.properties.virtual_network_peerings.len() as u64;
        let id = arm_id(&vnet.id);
        for subnet in &vnet.properties.subnets {
            let nsg = subnet
                .properties
                .network_security_group
                .as_ref()
                .map(|n| arm_id(&n.id));
            subnet_nsgs.insert(arm_id(&subnet.id), nsg);
        }
        for peering in &vnet.properties.virtual_network_peerings {
            let Some(remote) = &peering.properties.remote_virtual_network else {
                problems.push(format!("peering {}: no remote virtual network", peering.id));
                continue;
            };
            inv.links.push(LinkRecord {
                id: arm_id(&peering.id),
                kind: ConnectionKind::Peering,
                local: id.clone(),
                remote: RemoteEnd::Network(arm_id(&remote.id)),
                status: peering_status(peering.properties.peering_state.as_deref()),
                bandwidth_gbps: None,
                latency_ms: None,
                local_address: None,
                group: None,
                name: Some(peering.name.clone()),
            });
        }
        inv.networks.push(NetworkRecord {
            id,
            name: vnet.name,
            cloud: Cloud::Azure,
            region: region(vnet.location.as_deref()),
            kind: NetworkKind::Vnet,
            cidrs: vnet
                .properties
                .address_space
                .map(|a| a.address_prefixes)
                .unwrap_or_default(),
            account: Some(sub.to_string()),
        });
    }

    let circuits: HashMap<String, Circuit> = read
        .circuits
        .iter()
        .filter_map(|item| {
            rest::parse_item::<Resource<CircuitProps>>(item, "ExpressRoute circuit", &mut problems)
        })
        .map(|c| {
            let p = c.properties;
            let bandwidth_gbps = p.bandwidth_in_gbps.or_else(|| {
                p.service_provider_properties
                    .and_then(|s| s.bandwidth_in_mbps)
                    .map(|m| m / 1000.0)
            });
            let provisioned = p
                .service_provider_provisioning_state
                .is_some_and(|s| s.eq_ignore_ascii_case("Provisioned"));
            let circuit = Circuit {
                reference: p.service_key,
                bandwidth_gbps,
                provisioned,
            };
            (arm_id(&c.id), circuit)
        })
        .collect();

    // Gateway id → the VNet its GatewaySubnet is in.
    let gateway_vnets: HashMap<String, String> = read
        .gateways
        .iter()
        .filter_map(|item| {
            rest::parse_item::<Resource<GatewayProps>>(
                item,
                "virtual network gateway",
                &mut problems,
            )
        })
        .filter_map(|g| {
            let vnet = g.properties.ip_configurations.iter().find_map(|c| {
                c.properties
                    .subnet
                    .as_ref()
                    .and_then(|s| vnet_of_subnet(&s.id))
            });
            vnet.map(|v| (arm_id(&g.id), v))
        })
        .collect();

    let local_gateways: HashMap<String, Resource<LocalGatewayProps>> = read
        .local_gateways
        .iter()
        .filter_map(|item| {
            rest::parse_item::<Resource<LocalGatewayProps>>(
                item,
                "local network gateway",
                &mut problems,
            )
        })
        .map(|l| (arm_id(&l.id), l))
        .collect();

    inv.resources_read += (circuits.len() + gateway_vnets.len() + local_gateways.len()) as u64;

    for item in &read.connections {
        let Some(conn) = rest::parse_item::<Resource<ConnectionProps>>(
            item,
            "gateway connection",
            &mut problems,
        ) else {
            continue;
        };
        inv.resources_read += 1;
        match connection_link(&conn, &gateway_vnets, &local_gateways, &circuits) {
            Ok(Some(link)) => inv.links.push(link),
            Ok(None) => {}
            Err(why) => problems.push(format!("connection {}: {why}", conn.id)),
        }
    }

    services(read, &subnet_nsgs, &mut inv, &mut problems);
    inv.problems.extend(
        problems
            .into_iter()
            .map(|p| format!("subscription {sub}: {p}")),
    );
    inv
}

/// The services requests can name: SQL servers through their private
/// endpoints, VMs through their interfaces. A SQL server without a private
/// endpoint is reachable only over its public endpoint and is not offered
/// (said in `problems`). The identifiers list the private-link name before
/// the public one: it is the name a private zone answers for (the public
/// name is a CNAME to it), so a record for it hides nothing else.
fn services(
    read: &SubscriptionRead,
    subnet_nsgs: &HashMap<String, Option<String>>,
    inv: &mut Inventory,
    problems: &mut Vec<String>,
) {
    struct Nic {
        address: String,
        subnet: String,
        nsg: Option<String>,
        vm: Option<String>,
    }
    let nics: HashMap<String, Nic> = read
        .interfaces
        .iter()
        .filter_map(|item| {
            rest::parse_item::<Resource<InterfaceProps>>(item, "network interface", problems)
        })
        .filter_map(|nic| {
            let configs = &nic.properties.ip_configurations;
            let config = configs
                .iter()
                .find(|c| c.properties.primary == Some(true))
                .or(configs.first())?;
            Some((
                arm_id(&nic.id),
                Nic {
                    address: config.properties.private_ip_address.clone()?,
                    subnet: arm_id(&config.properties.subnet.as_ref()?.id),
                    nsg: nic
                        .properties
                        .network_security_group
                        .as_ref()
                        .map(|n| arm_id(&n.id)),
                    vm: nic
                        .properties
                        .virtual_machine
                        .as_ref()
                        .map(|v| arm_id(&v.id)),
                },
            ))
        })
        .collect();
    let subnet_nsg = |subnet: &str| subnet_nsgs.get(subnet).cloned().flatten();

    // Linked resource id → (subnet, address) of the endpoint reaching it.
    let mut endpoints: HashMap<String, (String, String)> = HashMap::new();
    for item in &read.private_endpoints {
        let Some(pe) =
            rest::parse_item::<Resource<EndpointProps>>(item, "private endpoint", problems)
        else {
            continue;
        };
        let p = &pe.properties;
        let Some(subnet) = p.subnet.as_ref().map(|s| arm_id(&s.id)) else {
            problems.push(format!("private endpoint {}: no subnet", pe.id));
            continue;
        };
        let address = p
            .custom_dns_configs
            .iter()
            .flat_map(|c| &c.ip_addresses)
            .next()
            .cloned()
            .or_else(|| {
                p.network_interfaces
                    .iter()
                    .find_map(|n| nics.get(&arm_id(&n.id)).map(|nic| nic.address.clone()))
            });
        let Some(address) = address else {
            problems.push(format!("private endpoint {}: no private IP address", pe.id));
            continue;
        };
        for target in p
            .private_link_service_connections
            .iter()
            .chain(&p.manual_private_link_service_connections)
            .filter_map(|c| c.properties.private_link_service_id.as_deref())
        {
            endpoints.insert(arm_id(target), (subnet.clone(), address.clone()));
        }
    }

    for item in &read.sql_servers {
        let Some(server) =
            rest::parse_item::<Resource<SqlServerProps>>(item, "SQL server", problems)
        else {
            continue;
        };
        inv.resources_read += 1;
        let id = arm_id(&server.id);
        let Some((subnet, address)) = endpoints.get(&id) else {
            problems.push(format!(
                "SQL server {}: no private endpoint; reachable only over its public endpoint, not offered as a service",
                server.name
            ));
            continue;
        };
        let Some(vnet) = vnet_of_subnet(subnet) else {
            continue;
        };
        let p = &server.properties;
        let public = p.fully_qualified_domain_name.clone().unwrap_or_else(|| {
            format!("{}.database.windows.net", server.name.to_ascii_lowercase())
        });
        let private_link = match public.split_once('.') {
            Some((host, domain)) => format!("{host}.privatelink.{domain}"),
            None => public.clone(),
        };
        inv.services.push(Service {
            id: ServiceId::new(id.clone()),
            name: server.name.clone(),
            kind: "sql".into(),
            network: NetworkId::new(vnet),
            identifiers: vec![server.name.clone(), private_link, public, id],
            port: SQL_PORT,
            address: address.clone(),
            security_groups: subnet_nsg(subnet).into_iter().collect(),
            public_endpoint: p
                .public_network_access
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case("Enabled")),
        });
    }

    for nic in nics.values() {
        let (Some(vm), Some(vnet)) = (&nic.vm, vnet_of_subnet(&nic.subnet)) else {
            continue;
        };
        let name = vm.rsplit('/').next().unwrap_or(vm).to_string();
        inv.services.push(Service {
            id: ServiceId::new(vm.clone()),
            name: name.clone(),
            kind: "vm".into(),
            network: NetworkId::new(vnet),
            identifiers: vec![name, vm.clone(), nic.address.clone()],
            port: 443,
            address: nic.address.clone(),
            security_groups: nic
                .nsg
                .iter()
                .cloned()
                .chain(subnet_nsg(&nic.subnet))
                .collect(),
            public_endpoint: false,
        });
    }
    inv.services.sort_by(|a, b| a.id.cmp(&b.id));
}

/// The link a gateway connection stands for; `Ok(None)` for kinds that are
/// not site links (point-to-site client connections).
fn connection_link(
    conn: &Resource<ConnectionProps>,
    gateway_vnets: &HashMap<String, String>,
    local_gateways: &HashMap<String, Resource<LocalGatewayProps>>,
    circuits: &HashMap<String, Circuit>,
) -> Result<Option<LinkRecord>, String> {
    let p = &conn.properties;
    let vnet_of = |gateway: &Option<IdRef>| -> Result<String, String> {
        let gateway = gateway.as_ref().ok_or("no virtual network gateway")?;
        gateway_vnets
            .get(&arm_id(&gateway.id))
            .cloned()
            .ok_or_else(|| format!("gateway {} not found among the gateways read", gateway.id))
    };
    let id = arm_id(&conn.id);
    let mut status = connection_status(p.connection_status.as_deref());
    let mut bandwidth_gbps = None;
    let mut group = Some(id.clone());
    let (kind, remote) = match p
        .connection_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("ipsec") => {
            let local_ref = p
                .local_network_gateway2
                .as_ref()
                .ok_or("IPsec without a local network gateway")?;
            let local = local_gateways
                .get(&arm_id(&local_ref.id))
                .ok_or_else(|| format!("local network gateway {} not found", local_ref.id))?;
            let address = local
                .properties
                .gateway_ip_address
                .as_deref()
                .and_then(|a| a.trim().parse::<IpAddr>().ok())
                .ok_or_else(|| {
                    format!(
                        "local network gateway {} has no usable gatewayIpAddress ({:?}, fqdn {:?})",
                        local.name, local.properties.gateway_ip_address, local.properties.fqdn
                    )
                })?;
            (ConnectionKind::Vpn, RemoteEnd::Address(address))
        }
        Some("expressroute") => {
            let peer = p
                .peer
                .as_ref()
                .ok_or("ExpressRoute connection without a circuit")?;
            let circuit = circuits
                .get(&arm_id(&peer.id))
                .ok_or_else(|| format!("circuit {} not found among the circuits read", peer.id))?;
            let reference = circuit
                .reference
                .clone()
                .ok_or_else(|| format!("circuit {} has no service key", peer.id))?;
            bandwidth_gbps = circuit.bandwidth_gbps;
            if !circuit.provisioned {
                // The connectivity provider has not set the circuit up: no traffic.
                status = ConnectionStatus::Down;
            }
            group = Some(reference.clone());
            (ConnectionKind::Expressroute, RemoteEnd::Circuit(reference))
        }
        Some("vnet2vnet") => (
            ConnectionKind::Vpn,
            RemoteEnd::Network(vnet_of(&p.virtual_network_gateway2)?),
        ),
        _ => return Ok(None),
    };
    Ok(Some(LinkRecord {
        id,
        kind,
        local: vnet_of(&p.virtual_network_gateway1)?,
        remote,
        status,
        bandwidth_gbps,
        latency_ms: None,
        local_address: None,
        group,
        name: Some(conn.name.clone()),
    }))
}

/// ARM ids compare case-insensitively; the inventory keeps them lower-cased.
fn arm_id(id: &str) -> String {
    id.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `…/virtualNetworks/v/subnets/GatewaySubnet` → `…/virtualnetworks/v`.
fn vnet_of_subnet(subnet_id: &str) -> Option<String> {
    let id = arm_id(subnet_id);
    let (vnet, _) = id.split_once("/subnets/")?;
    vnet.contains("/virtualnetworks/").then(|| vnet.to_string())
}

/// Canonical region; a location this build does not know (a new region, or
/// the placeholders in Microsoft's examples) is kept lower-cased.
fn region(location: Option<&str>) -> String {
    let location = location.unwrap_or_default();
    Region::parse(Cloud::Azure, location)
        .map(|r| r.name)
        .unwrap_or_else(|_| {
            tracing::debug!(location, "azure: unknown region kept as written");
            location.trim().to_ascii_lowercase()
        })
}

fn peering_status(state: Option<&str>) -> ConnectionStatus {
    match state {
        Some(s) if s.eq_ignore_ascii_case("Connected") => ConnectionStatus::Up,
        // Initiated (the other side has not peered back), Disconnected.
        _ => ConnectionStatus::Down,
    }
}

fn connection_status(status: Option<&str>) -> ConnectionStatus {
    match status.map(str::to_ascii_lowercase).as_deref() {
        Some("connected") => ConnectionStatus::Up,
        Some("connecting") => ConnectionStatus::Degraded,
        // NotConnected, Unknown, or absent.
        _ => ConnectionStatus::Down,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(
        vnets: Value,
        gateways: Value,
        connections: Value,
        locals: Value,
        circuits: Value,
    ) -> SubscriptionRead {
        let list = |v: Value| v.as_array().cloned().unwrap_or_default();
        SubscriptionRead {
            subscription: "s1".into(),
            virtual_networks: list(vnets),
            gateways: list(gateways),
            connections: list(connections),
            local_gateways: list(locals),
            circuits: list(circuits),
            ..SubscriptionRead::default()
        }
    }

    const GW: &str =
        "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.Network/virtualNetworkGateways/gw";
    const VNET: &str =
        "/subscriptions/s1/resourcegroups/rg/providers/microsoft.network/virtualnetworks/hub";

    fn gateway() -> Value {
        json!([{ "id": GW, "name": "gw", "properties": { "ipConfigurations": [
            { "id": format!("{GW}/ipConfigurations/default"), "properties": { "subnet": {
                "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/HUB/subnets/GatewaySubnet" } } } ] } }])
    }

    fn connection(kind: &str, status: Option<&str>, extra: Value) -> Value {
        let mut props = json!({ "connectionType": kind, "virtualNetworkGateway1": { "id": GW } });
        if let Some(s) = status {
            props["connectionStatus"] = json!(s);
        }
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        json!([{ "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/connections/C1", "name": "c1", "properties": props }])
    }

    #[test]
    fn vpn_connection_ends_at_the_local_gateway_address_with_mixed_case_ids_joined() {
        let locals = json!([{ "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/localNetworkGateways/LGW",
            "name": "lgw", "properties": { "gatewayIpAddress": "203.0.113.9" } }]);
        let conn = connection(
            "IPsec",
            Some("Connected"),
            json!({ "localNetworkGateway2": {
            "id": "/subscriptions/s1/resourcegroups/RG/providers/Microsoft.Network/localNetworkGateways/lgw" } }),
        );
        let inv = map_subscription(&read(json!([]), gateway(), conn, locals, json!([])));
        assert!(inv.problems.is_empty(), "{:?}", inv.problems);
        let link = &inv.links[0];
        assert_eq!(link.kind, ConnectionKind::Vpn);
        assert_eq!(link.local, VNET);
        assert_eq!(
            link.remote,
            RemoteEnd::Address("203.0.113.9".parse().unwrap())
        );
        assert_eq!(link.status, ConnectionStatus::Up);
        assert_eq!(link.group.as_deref(), Some(link.id.as_str()));
    }

    #[test]
    fn connection_statuses_map_to_up_degraded_down() {
        for (given, want) in [
            (Some("Connected"), ConnectionStatus::Up),
            (Some("Connecting"), ConnectionStatus::Degraded),
            (Some("NotConnected"), ConnectionStatus::Down),
            (Some("Unknown"), ConnectionStatus::Down),
            (None, ConnectionStatus::Down),
        ] {
            assert_eq!(connection_status(given), want, "{given:?}");
        }
        assert_eq!(peering_status(Some("Connected")), ConnectionStatus::Up);
        assert_eq!(peering_status(Some("Initiated")), ConnectionStatus::Down);
        assert_eq!(peering_status(Some("Disconnected")), ConnectionStatus::Down);
    }

    #[test]
    fn expressroute_connection_names_the_circuit_by_service_key_with_its_bandwidth() {
        let circuit_id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/expressRouteCircuits/er1";
        let circuits = json!([{ "id": circuit_id, "name": "er1", "properties": { "serviceKey": "KEY-1",
            "serviceProviderProperties": { "bandwidthInMbps": 1000 }, "serviceProviderProvisioningState": "Provisioned" } }]);
        let conn = connection(
            "ExpressRoute",
            Some("Connected"),
            json!({ "peer": { "id": circuit_id.to_uppercase() } }),
        );
        let inv = map_subscription(&read(json!([]), gateway(), conn, json!([]), circuits));
        let link = &inv.links[0];
        assert_eq!(link.kind, ConnectionKind::Expressroute);
        assert_eq!(link.remote, RemoteEnd::Circuit("KEY-1".into()));
        assert_eq!(link.bandwidth_gbps, Some(1.0));
        assert_eq!(link.status, ConnectionStatus::Up);
    }

    #[test]
    fn an_unprovisioned_circuit_is_down_whatever_the_connection_says() {
        let circuit_id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/expressRouteCircuits/er1";
        let circuits = json!([{ "id": circuit_id, "properties": { "serviceKey": "K",
            "serviceProviderProvisioningState": "NotProvisioned" } }]);
        let conn = connection(
            "ExpressRoute",
            Some("Connected"),
            json!({ "peer": { "id": circuit_id } }),
        );
        let inv = map_subscription(&read(json!([]), gateway(), conn, json!([]), circuits));
        assert_eq!(inv.links[0].status, ConnectionStatus::Down);
    }

    #[test]
    fn dangling_references_and_odd_items_become_problems_not_panics() {
        let conn = connection(
            "IPsec",
            None,
            json!({ "localNetworkGateway2": { "id": "/x/localNetworkGateways/gone" } }),
        );
        let vnets = json!([{ "name": "no id" }, 42]);
        let inv = map_subscription(&read(vnets, gateway(), conn, json!([]), json!([])));
        assert!(inv.links.is_empty());
        assert_eq!(inv.problems.len(), 3, "{:?}", inv.problems);
        assert!(inv
            .problems
            .iter()
            .all(|p| p.starts_with("subscription s1: ")));
        assert!(inv.problems.iter().any(|p| p.contains("gone")));
    }

    #[test]
    fn peerings_link_vnets_and_regions_are_canonical() {
        let vnets = json!([{ "id": VNET.to_uppercase(), "name": "hub", "location": "East US",
            "properties": { "addressSpace": { "addressPrefixes": ["10.0.0.0/16"] },
            "virtualNetworkPeerings": [{ "id": format!("{VNET}/virtualNetworkPeerings/p"), "name": "p",
                "properties": { "remoteVirtualNetwork": { "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/Spoke" },
                "peeringState": "Connected" } }] } }]);
        let inv = map_subscription(&read(vnets, json!([]), json!([]), json!([]), json!([])));
        assert_eq!(inv.networks[0].id, VNET);
        assert_eq!(inv.networks[0].region, "eastus");
        assert_eq!(inv.networks[0].cidrs, vec!["10.0.0.0/16"]);
        assert_eq!(inv.links[0].local, VNET);
        assert_eq!(
            inv.links[0].remote,
            RemoteEnd::Network("/subscriptions/s1/resourcegroups/rg/providers/microsoft.network/virtualnetworks/spoke".into())
        );
        assert_eq!(inv.links[0].status, ConnectionStatus::Up);
    }
}
