//! The AWS actor: carries out one typed change at a time in the account,
//! through EC2 and Route 53 (the SDK's standard retry mode takes throttling,
//! `RequestLimitExceeded` included; eventual consistency right after a
//! creation — `InvalidGroup.NotFound`, `InvalidRouteTableID.NotFound` — is
//! retried here with backoff).
//!
//! | change | calls |
//! |---|---|
//! | AllowIngress | AuthorizeSecurityGroupIngress on the service's security group, tagged, the key in the description |
//! | Route | CreateRoute in every route table of the VPC's subnets toward the target (TGW, peering, VGW); over a TGW also CreateTransitGatewayRoute toward the destination's attachment in the TGW route table the source attachment is associated with |
//! | RoutePreference | ReplaceRoute to the preferred target (failover), and the TGW route onward when that target is a TGW |
//! | DnsRecord | Route 53 UPSERT in the private hosted zone of the record's parent domain associated with the VPC (created, tagged, if missing) |
//!
//! `check` refuses, from the estate alone, what cannot be done (a service
//! with no security group known, a route over the internet, a name under an
//! AWS domain), so the design fails before anyone approves it.
//!
//! Idempotency: every created resource carries `switchboard:key`; a route
//! (which has no tags) is owned through a tag on its route table written
//! before the route, so a retry after a crash finds its own work and creates
//! nothing twice, and never takes a rule or route someone else made for its
//! own. `revert` undoes exactly what the resource id names.

use super::discovery::{sdk_config, SdkFailure};
use super::resource::{
    fqdn, route_owner_tag, rule_description, tags_for, zone_of, AwsResource, RecordKind, KEY_TAG,
};
use super::AwsDiscoveryConfig;
use crate::domain::{Change, Cloud, ConnectionKind, Estate, Network, ResourceId};
use crate::providers::{CloudActor, ProviderError};
use aws_config::{Region, SdkConfig};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types as ec2;
use aws_sdk_route53::types as r53;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use tokio::sync::OnceCell;

const NAME: &str = "aws";
/// Attempts at a call that meets AWS's eventual consistency right after a
/// creation (the SDK's own retries cover throttling and 5xx).
const CONSISTENCY_ATTEMPTS: u32 = 6;
const RECORD_TTL: i64 = 60;

type HttpResponse = aws_sdk_ec2::config::http::HttpResponse;

pub struct AwsActor {
    config: AwsDiscoveryConfig,
    sdk: OnceCell<SdkConfig>,
}

fn refused(reason: impl Into<String>) -> ProviderError {
    ProviderError::Refused {
        provider: NAME,
        reason: reason.into(),
    }
}

/// Codes that say "try again" rather than "no".
const TRANSIENT_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "PriorRequestNotComplete",
    "InternalError",
    "ServiceUnavailable",
    "Unavailable",
];

/// Codes AWS answers while a just-created resource is not yet visible.
const NOT_YET_VISIBLE: &[&str] = &[
    "InvalidGroup.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidTransitGatewayID.NotFound",
    "NoSuchHostedZone",
];

/// An SDK failure with AWS's code and message, classified.
struct Failure {
    code: String,
    message: String,
    transient: bool,
}

impl Failure {
    fn of<E>(api: &str, err: SdkError<E, HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match SdkFailure::of(&err) {
            SdkFailure::Service {
                code,
                status,
                detail,
            } => Failure {
                transient: status >= 500 || TRANSIENT_CODES.contains(&code.as_str()),
                message: format!("{api}: {detail}"),
                code,
            },
            SdkFailure::Transport(detail) => Failure {
                code: String::new(),
                message: format!("{api}: {detail}"),
                transient: true,
            },
            SdkFailure::Other(detail) => Failure {
                code: String::new(),
                message: format!("{api}: {detail}"),
                transient: false,
            },
        }
    }

    fn into_error(self) -> ProviderError {
        if self.transient {
            ProviderError::Transient {
                provider: NAME,
                reason: self.message,
            }
        } else {
            refused(self.message)
        }
    }
}

impl From<Failure> for ProviderError {
    fn from(f: Failure) -> ProviderError {
        f.into_error()
    }
}

/// Runs `call` again while AWS says the resource is not visible yet.
async fn consistent<T, F, Fut>(mut call: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let mut wait = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(f)
                if attempt < CONSISTENCY_ATTEMPTS && NOT_YET_VISIBLE.contains(&f.code.as_str()) =>
            {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn filter(name: &str, value: &str) -> ec2::Filter {
    ec2::Filter::builder().name(name).values(value).build()
}

fn ec2_tags(key: &str) -> Vec<ec2::Tag> {
    tags_for(key)
        .into_iter()
        .map(|(k, v)| ec2::Tag::builder().key(k).value(v).build())
        .collect()
}

fn has_key(tags: &[ec2::Tag], key: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(KEY_TAG) && t.value() == Some(key))
}

/// Where a route toward a connection goes in AWS terms.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    TransitGateway(String),
    Peering(String),
    /// The VPN gateway attached to the VPC (looked up at apply time).
    VpnGateway,
}

fn route_target(change_network: &Network, via: &str, estate: &Estate) -> Result<Target, String> {
    let conn = estate
        .connection(&crate::domain::ConnectionId::new(via))
        .ok_or_else(|| format!("unknown connection '{via}'"))?;
    let far = conn
        .other_end(&change_network.id)
        .ok_or_else(|| format!("connection '{via}' does not reach {}", change_network.id))?;
    match conn.kind {
        ConnectionKind::TransitGateway => Ok(Target::TransitGateway(far.to_string())),
        ConnectionKind::Peering => Ok(Target::Peering(via.to_string())),
        ConnectionKind::Vpn | ConnectionKind::DirectConnect => Ok(Target::VpnGateway),
        other => Err(format!(
            "a route over a {} connection ('{via}') is not something a VPC route table can point at",
            other.as_str()
        )),
    }
}

/// The attachment of transit gateway `tgw` whose VPC holds `cidr`: where the
/// TGW sends traffic for it.
fn tgw_attachment_toward(estate: &Estate, tgw: &str, cidr: &str) -> Option<String> {
    estate
        .connections
        .iter()
        .filter(|c| c.kind == ConnectionKind::TransitGateway)
        .find(|c| {
            let far = if c.a.as_str() == tgw {
                &c.b
            } else if c.b.as_str() == tgw {
                &c.a
            } else {
                return false;
            };
            estate
                .network(far)
                .is_some_and(|n| n.cidrs.iter().any(|x| x == cidr))
        })
        .map(|c| c.id.to_string())
}

/// The security group an ingress rule for the change's service goes into:
/// the service's first. A service with none known (a services file entry
/// without `security_groups`) is refused: a group made for it could not be
/// attached to something switchboard does not know, and would open nothing.
fn service_group(change: &Change, estate: &Estate) -> Result<String, ProviderError> {
    let Change::AllowIngress { service, .. } = change else {
        return Err(refused("not an ingress change"));
    };
    let service = service
        .as_ref()
        .and_then(|id| estate.service(id))
        .ok_or_else(|| refused("the rule names no service of the estate to open"))?;
    service.security_groups.first().cloned().ok_or_else(|| {
        refused(format!(
            "{} ({}) has no security group known to take the rule; list its security_groups in the services file",
            service.name, service.id
        ))
    })
}

/// The private zone a record goes into; refused when it has none or it
/// would be an AWS-owned domain (a private zone for it would hide every
/// other name in it from the VPC).
fn record_zone<'n>(name: &'n str, vpc: &Network) -> Result<&'n str, ProviderError> {
    let zone =
        zone_of(name).ok_or_else(|| refused(format!("'{name}' has no parent zone to hold it")))?;
    if zone.ends_with("amazonaws.com") {
        return Err(refused(format!(
            "'{name}' is under an AWS-owned domain; a private zone for {zone} would hide every other name in it from {}",
            vpc.id
        )));
    }
    Ok(zone)
}

fn vpc_of<'e>(estate: &'e Estate, change: &Change) -> Result<&'e Network, ProviderError> {
    let network = change.network();
    let n = estate
        .network(network)
        .ok_or_else(|| refused(format!("unknown network '{network}'")))?;
    if n.cloud != Cloud::Aws || !n.id.as_str().starts_with("vpc-") {
        return Err(refused(format!(
            "'{network}' is not an AWS VPC; the AWS provider acts only in VPCs"
        )));
    }
    Ok(n)
}

impl AwsActor {
    pub fn new(config: AwsDiscoveryConfig) -> AwsActor {
        AwsActor {
            config,
            sdk: OnceCell::new(),
        }
    }

    async fn sdk(&self) -> Result<&SdkConfig, ProviderError> {
        self.sdk
            .get_or_try_init(|| async {
                sdk_config(&self.config)
                    .await
                    .map_err(|e| refused(e.to_string()))
            })
            .await
    }

    async fn ec2(&self, region: &str) -> Result<aws_sdk_ec2::Client, ProviderError> {
        let sdk = self.sdk().await?;
        Ok(aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(sdk)
                .region(Region::new(region.to_string()))
                .build(),
        ))
    }

    async fn route53(&self) -> Result<aws_sdk_route53::Client, ProviderError> {
        let sdk = self.sdk().await?;
        // Route 53 is global; its endpoint lives in us-east-1.
        Ok(aws_sdk_route53::Client::from_conf(
            aws_sdk_route53::config::Builder::from(sdk)
                .region(Region::from_static("us-east-1"))
                .build(),
        ))
    }

    // ---- AllowIngress ---------------------------------------------------

    async fn allow_ingress(
        &self,
        vpc: &Network,
        change: &Change,
        key: &str,
        estate: &Estate,
    ) -> Result<AwsResource, ProviderError> {
        let Change::AllowIngress {
            from_cidr,
            port,
            description,
            ..
        } = change
        else {
            return Err(refused("not an ingress change"));
        };
        let region = vpc.region.as_str();
        let ec2 = self.ec2(region).await?;
        // The rule already made under this key (a retry, a crash before the
        // result was recorded) is the answer.
        let group = service_group(change, estate)?;
        if let Some(rule) = find_rule(&ec2, &group, |r| has_key(r.tags(), key)).await? {
            return Ok(AwsResource::Rule {
                region: region.to_string(),
                group,
                rule,
            });
        }
        let permission = ec2::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(i32::from(*port))
            .to_port(i32::from(*port))
            .ip_ranges(
                ec2::IpRange::builder()
                    .cidr_ip(from_cidr)
                    .description(rule_description(key, description))
                    .build(),
            )
            .build();
        let tags = ec2::TagSpecification::builder()
            .resource_type(ec2::ResourceType::SecurityGroupRule)
            .set_tags(Some(ec2_tags(key)))
            .build();
        let answer = consistent(|| async {
            ec2.authorize_security_group_ingress()
                .group_id(&group)
                .ip_permissions(permission.clone())
                .tag_specifications(tags.clone())
                .send()
                .await
                .map_err(|e| Failure::of("ec2:AuthorizeSecurityGroupIngress", e))
        })
        .await;
        let rule = match answer {
            Ok(out) => out
                .security_group_rules()
                .iter()
                .find_map(|r| r.security_group_rule_id())
                .map(str::to_string),
            Err(f) if f.code == "InvalidPermission.Duplicate" => {
                // Ours only if it carries our key; someone else's rule is
                // not ours to claim (or to revoke later).
                let same = |r: &ec2::SecurityGroupRule| {
                    !r.is_egress().unwrap_or(false)
                        && r.cidr_ipv4() == Some(from_cidr.as_str())
                        && r.from_port() == Some(i32::from(*port))
                };
                match find_rule(&ec2, &group, same).await? {
                    Some(rule) if self.rule_is_ours(&ec2, &group, &rule, key).await? => Some(rule),
                    _ => {
                        return Err(refused(format!(
                            "{} (a rule for {from_cidr} on tcp/{port} already exists in {group}, not created by switchboard)",
                            f.message
                        )))
                    }
                }
            }
            Err(f) => return Err(f.into()),
        };
        let rule = match rule {
            Some(rule) => rule,
            // Older API answers carry no rule ids: find it by its key.
            None => find_rule(&ec2, &group, |r| has_key(r.tags(), key))
                .await?
                .ok_or_else(|| refused(format!("the rule added to {group} cannot be found")))?,
        };
        Ok(AwsResource::Rule {
            region: region.to_string(),
            group,
            rule,
        })
    }

    async fn rule_is_ours(
        &self,
        ec2: &aws_sdk_ec2::Client,
        group: &str,
        rule: &str,
        key: &str,
    ) -> Result<bool, ProviderError> {
        Ok(find_rule(ec2, group, |r| {
            r.security_group_rule_id() == Some(rule)
                && (has_key(r.tags(), key)
                    || r.description()
                        .is_some_and(|d| d.starts_with(&format!("switchboard {key} "))))
        })
        .await?
        .is_some())
    }

    // ---- Route / RoutePreference ------------------------------------------

    /// The route tables the VPC's subnets use: those associated with a
    /// subnet, and the main table (used by every subnet without one).
    async fn subnet_tables(
        &self,
        ec2: &aws_sdk_ec2::Client,
        vpc: &str,
    ) -> Result<Vec<ec2::RouteTable>, ProviderError> {
        let mut tables = Vec::new();
        let mut pages = ec2
            .describe_route_tables()
            .filters(filter("vpc-id", vpc))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::of("ec2:DescribeRouteTables", e))?;
            tables.extend(page.route_tables.unwrap_or_default());
        }
        tables.retain(|t| {
            t.associations()
                .iter()
                .any(|a| a.main().unwrap_or(false) || a.subnet_id().is_some())
        });
        tables.sort_by(|a, b| a.route_table_id().cmp(&b.route_table_id()));
        if tables.is_empty() {
            return Err(refused(format!(
                "{vpc} has no route table to add a route to"
            )));
        }
        Ok(tables)
    }

    async fn target_id(
        &self,
        ec2: &aws_sdk_ec2::Client,
        vpc: &str,
        target: &Target,
    ) -> Result<String, ProviderError> {
        match target {
            Target::TransitGateway(id) | Target::Peering(id) => Ok(id.clone()),
            Target::VpnGateway => {
                let answer = ec2
                    .describe_vpn_gateways()
                    .filters(filter("attachment.vpc-id", vpc))
                    .filters(filter("attachment.state", "attached"))
                    .send()
                    .await
                    .map_err(|e| Failure::of("ec2:DescribeVpnGateways", e))?;
                answer
                    .vpn_gateways()
                    .iter()
                    .find_map(|g| g.vpn_gateway_id())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        refused(format!("{vpc} has no attached virtual private gateway"))
                    })
            }
        }
    }

    async fn route(
        &self,
        vpc: &Network,
        change: &Change,
        key: &str,
        estate: &Estate,
    ) -> Result<AwsResource, ProviderError> {
        let Change::Route {
            destination_cidr,
            via,
            ..
        } = change
        else {
            return Err(refused("not a route change"));
        };
        let region = vpc.region.as_str();
        let target = route_target(vpc, via.as_str(), estate).map_err(refused)?;
        let ec2 = self.ec2(region).await?;
        let target_id = self.target_id(&ec2, vpc.id.as_str(), &target).await?;
        let tables = self.subnet_tables(&ec2, vpc.id.as_str()).await?;
        let owner_tag = route_owner_tag(destination_cidr);
        // Look first, act after: a table whose route for the CIDR points
        // elsewhere refuses the whole change before anything is created.
        let mut to_create = Vec::new();
        let mut ours = Vec::new();
        for table in &tables {
            let id = table.route_table_id().unwrap_or_default().to_string();
            let tagged_ours = table
                .tags()
                .iter()
                .any(|t| t.key() == Some(owner_tag.as_str()) && t.value() == Some(key));
            match table
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some(destination_cidr.as_str()))
            {
                None => to_create.push(id),
                Some(r) if route_points_at(r, &target_id) => {
                    if tagged_ours {
                        ours.push(id);
                    }
                }
                Some(r) => {
                    return Err(refused(format!(
                        "RouteAlreadyExists: {id} already routes {destination_cidr} to {}, not {target_id}",
                        route_target_of(r)
                    )))
                }
            }
        }
        for table in to_create {
            // The owner tag first: a crash after it leaves a mark a retry reads.
            ec2.create_tags()
                .resources(&table)
                .tags(ec2::Tag::builder().key(&owner_tag).value(key).build())
                .send()
                .await
                .map_err(|e| Failure::of("ec2:CreateTags", e))?;
            let mut request = ec2
                .create_route()
                .route_table_id(&table)
                .destination_cidr_block(destination_cidr);
            request = match &target {
                Target::TransitGateway(_) => request.transit_gateway_id(&target_id),
                Target::Peering(_) => request.vpc_peering_connection_id(&target_id),
                Target::VpnGateway => request.gateway_id(&target_id),
            };
            let sent = consistent(|| async {
                request
                    .clone()
                    .send()
                    .await
                    .map_err(|e| Failure::of("ec2:CreateRoute", e))
            })
            .await;
            if let Err(f) = sent {
                // What this call created so far is undone before failing.
                self.delete_routes(&ec2, destination_cidr, &ours).await?;
                return Err(f.into());
            }
            ours.push(table);
        }
        let tgw_route = match &target {
            Target::TransitGateway(tgw) => {
                self.tgw_route(&ec2, tgw, via.as_str(), destination_cidr, estate)
                    .await?
            }
            _ => None,
        };
        Ok(AwsResource::Routes {
            region: region.to_string(),
            cidr: destination_cidr.clone(),
            target: target_id,
            tables: ours,
            tgw_route,
        })
    }

    /// The static route toward the destination's attachment in the route
    /// table the traffic arrives at: the one `from` (the source VPC's
    /// attachment) is associated with, else the TGW's default association
    /// table; nothing when a route (static or propagated) to that attachment
    /// is already there.
    async fn tgw_route(
        &self,
        ec2: &aws_sdk_ec2::Client,
        tgw: &str,
        from: &str,
        cidr: &str,
        estate: &Estate,
    ) -> Result<Option<(String, String)>, ProviderError> {
        let attachment = tgw_attachment_toward(estate, tgw, cidr).ok_or_else(|| {
            refused(format!(
                "transit gateway {tgw} has no attachment to a network holding {cidr}"
            ))
        })?;
        let associated = ec2
            .describe_transit_gateway_attachments()
            .transit_gateway_attachment_ids(from)
            .send()
            .await
            .map_err(|e| Failure::of("ec2:DescribeTransitGatewayAttachments", e))?
            .transit_gateway_attachments()
            .first()
            .and_then(|a| a.association())
            .filter(|a| a.state() == Some(&ec2::TransitGatewayAssociationState::Associated))
            .and_then(|a| a.transit_gateway_route_table_id())
            .map(str::to_string);
        let table = match associated {
            Some(table) => table,
            None => ec2
                .describe_transit_gateways()
                .transit_gateway_ids(tgw)
                .send()
                .await
                .map_err(|e| Failure::of("ec2:DescribeTransitGateways", e))?
                .transit_gateways()
                .first()
                .and_then(|t| t.options())
                .and_then(|o| o.association_default_route_table_id())
                .map(str::to_string)
                .ok_or_else(|| {
                    refused(format!(
                        "{from} is associated with no route table of {tgw}, and {tgw} has no default one"
                    ))
                })?,
        };
        let routes = ec2
            .search_transit_gateway_routes()
            .transit_gateway_route_table_id(&table)
            .filters(filter("route-search.exact-match", cidr))
            .send()
            .await
            .map_err(|e| Failure::of("ec2:SearchTransitGatewayRoutes", e))?;
        if let Some(existing) = routes
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some(cidr))
        {
            let to: Vec<&str> = existing
                .transit_gateway_attachments()
                .iter()
                .filter_map(|a| a.transit_gateway_attachment_id())
                .collect();
            return if to.contains(&attachment.as_str()) {
                Ok(None)
            } else {
                Err(refused(format!(
                    "{table} already routes {cidr} to {}, not {attachment}",
                    to.join(", ")
                )))
            };
        }
        ec2.create_transit_gateway_route()
            .transit_gateway_route_table_id(&table)
            .destination_cidr_block(cidr)
            .transit_gateway_attachment_id(&attachment)
            .send()
            .await
            .map_err(|e| Failure::of("ec2:CreateTransitGatewayRoute", e))?;
        Ok(Some((table, attachment)))
    }

    async fn prefer(
        &self,
        vpc: &Network,
        change: &Change,
        estate: &Estate,
    ) -> Result<AwsResource, ProviderError> {
        let Change::RoutePreference {
            destination_cidr,
            preferred,
            other,
            ..
        } = change
        else {
            return Err(refused("not a route preference"));
        };
        let region = vpc.region.as_str();
        let ec2 = self.ec2(region).await?;
        let want = route_target(vpc, preferred.as_str(), estate).map_err(refused)?;
        let was = route_target(vpc, other.as_str(), estate).map_err(refused)?;
        let want_id = self.target_id(&ec2, vpc.id.as_str(), &want).await?;
        let was_id = self.target_id(&ec2, vpc.id.as_str(), &was).await?;
        let tables = self.subnet_tables(&ec2, vpc.id.as_str()).await?;
        let mut replaced = Vec::new();
        for table in &tables {
            let id = table.route_table_id().unwrap_or_default().to_string();
            let Some(route) = table
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some(destination_cidr.as_str()))
            else {
                continue;
            };
            if route_points_at(route, &want_id) {
                replaced.push(id);
                continue;
            }
            let mut request = ec2
                .replace_route()
                .route_table_id(&id)
                .destination_cidr_block(destination_cidr);
            request = match &want {
                Target::TransitGateway(_) => request.transit_gateway_id(&want_id),
                Target::Peering(_) => request.vpc_peering_connection_id(&want_id),
                Target::VpnGateway => request.gateway_id(&want_id),
            };
            request
                .send()
                .await
                .map_err(|e| Failure::of("ec2:ReplaceRoute", e))?;
            replaced.push(id);
        }
        if replaced.is_empty() {
            return Err(refused(format!(
                "no route table of {} routes {destination_cidr}; nothing to prefer",
                vpc.id
            )));
        }
        // Over a transit gateway the traffic must also be routed onward
        // there, or the failover would blackhole it.
        let tgw_route = match &want {
            Target::TransitGateway(tgw) => {
                self.tgw_route(&ec2, tgw, preferred.as_str(), destination_cidr, estate)
                    .await?
            }
            _ => None,
        };
        Ok(AwsResource::Preferred {
            region: region.to_string(),
            cidr: destination_cidr.clone(),
            preferred: want_id,
            previous: was_id,
            tables: replaced,
            tgw_route,
        })
    }

    async fn delete_routes(
        &self,
        ec2: &aws_sdk_ec2::Client,
        cidr: &str,
        tables: &[String],
    ) -> Result<(), ProviderError> {
        for table in tables {
            let deleted = ec2
                .delete_route()
                .route_table_id(table)
                .destination_cidr_block(cidr)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| Failure::of("ec2:DeleteRoute", e));
            gone_is_done(deleted, |f| f.code == "InvalidRoute.NotFound")?;
            ec2.delete_tags()
                .resources(table)
                .tags(ec2::Tag::builder().key(route_owner_tag(cidr)).build())
                .send()
                .await
                .map_err(|e| Failure::of("ec2:DeleteTags", e))?;
        }
        Ok(())
    }

    // ---- DnsRecord --------------------------------------------------------

    async fn record(
        &self,
        vpc: &Network,
        change: &Change,
        key: &str,
    ) -> Result<AwsResource, ProviderError> {
        let Change::DnsRecord { name, address, .. } = change else {
            return Err(refused("not a DNS change"));
        };
        let zone_name = record_zone(name, vpc)?;
        let r53 = self.route53().await?;
        let zone = self.private_zone(&r53, vpc, zone_name, key).await?;
        let kind = RecordKind::for_value(address);
        let rr_type = rr_type(kind);
        let fqdn = fqdn(name);
        let existing = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .start_record_name(&fqdn)
            .start_record_type(rr_type.clone())
            .max_items(1)
            .send()
            .await
            .map_err(|e| Failure::of("route53:ListResourceRecordSets", e))?;
        if let Some(set) = existing
            .resource_record_sets()
            .iter()
            .find(|s| s.name() == fqdn && s.r#type() == &rr_type)
        {
            let values: Vec<&str> = set.resource_records().iter().map(|r| r.value()).collect();
            if values != [address.as_str()] {
                return Err(refused(format!(
                    "{fqdn} {} already points at {} in zone {zone}, not {address}",
                    kind.as_str(),
                    values.join(", ")
                )));
            }
        }
        let batch = record_batch(r53::ChangeAction::Upsert, &fqdn, kind, address)?;
        consistent(|| async {
            r53.change_resource_record_sets()
                .hosted_zone_id(&zone)
                .change_batch(batch.clone())
                .send()
                .await
                .map_err(|e| Failure::of("route53:ChangeResourceRecordSets", e))
        })
        .await?;
        Ok(AwsResource::Record {
            region: vpc.region.clone(),
            zone,
            name: fqdn,
            kind,
            value: address.clone(),
        })
    }

    /// The private hosted zone `zone_name` associated with the VPC; created
    /// (with the key as caller reference, so a retry cannot make a second
    /// one) and tagged when missing.
    async fn private_zone(
        &self,
        r53: &aws_sdk_route53::Client,
        vpc: &Network,
        zone_name: &str,
        key: &str,
    ) -> Result<String, ProviderError> {
        let wanted = fqdn(zone_name);
        let zones = r53
            .list_hosted_zones_by_vpc()
            .vpc_id(vpc.id.as_str())
            .vpc_region(r53::VpcRegion::from(vpc.region.as_str()))
            .send()
            .await
            .map_err(|e| Failure::of("route53:ListHostedZonesByVPC", e))?;
        if let Some(zone) = zones
            .hosted_zone_summaries()
            .iter()
            .find(|z| fqdn(z.name()) == wanted)
        {
            return Ok(bare_zone_id(zone.hosted_zone_id()));
        }
        let created = r53
            .create_hosted_zone()
            .name(&wanted)
            .caller_reference(key)
            .vpc(
                r53::Vpc::builder()
                    .vpc_id(vpc.id.as_str())
                    .vpc_region(r53::VpcRegion::from(vpc.region.as_str()))
                    .build(),
            )
            .hosted_zone_config(
                r53::HostedZoneConfig::builder()
                    .private_zone(true)
                    .comment(rule_description(key, "private zone"))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| Failure::of("route53:CreateHostedZone", e))?;
        let zone = created
            .hosted_zone()
            .map(|z| bare_zone_id(z.id()))
            .ok_or_else(|| refused("CreateHostedZone answered without a zone"))?;
        let tags: Vec<r53::Tag> = tags_for(key)
            .into_iter()
            .map(|(k, v)| r53::Tag::builder().key(k).value(v).build())
            .collect();
        r53.change_tags_for_resource()
            .resource_type(r53::TagResourceType::Hostedzone)
            .resource_id(&zone)
            .set_add_tags(Some(tags))
            .send()
            .await
            .map_err(|e| Failure::of("route53:ChangeTagsForResource", e))?;
        Ok(zone)
    }

    async fn revert_resource(&self, resource: AwsResource) -> Result<(), ProviderError> {
        match resource {
            AwsResource::Rule {
                region,
                group,
                rule,
            } => {
                let ec2 = self.ec2(&region).await?;
                // By its id: exactly the rule made, never another one;
                // gone already (with its group, or by hand) is reverted.
                let revoked = ec2
                    .revoke_security_group_ingress()
                    .group_id(&group)
                    .security_group_rule_ids(&rule)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Failure::of("ec2:RevokeSecurityGroupIngress", e));
                gone_is_done(revoked, |f| f.code.contains("NotFound"))
            }
            AwsResource::Routes {
                region,
                cidr,
                tables,
                tgw_route,
                ..
            } => {
                let ec2 = self.ec2(&region).await?;
                self.delete_routes(&ec2, &cidr, &tables).await?;
                delete_tgw_route(&ec2, &cidr, tgw_route).await
            }
            AwsResource::Preferred {
                region,
                cidr,
                previous,
                tables,
                tgw_route,
                ..
            } => {
                let ec2 = self.ec2(&region).await?;
                for table in &tables {
                    let mut request = ec2
                        .replace_route()
                        .route_table_id(table)
                        .destination_cidr_block(&cidr);
                    request = match previous.split('-').next() {
                        Some("tgw") => request.transit_gateway_id(&previous),
                        Some("pcx") => request.vpc_peering_connection_id(&previous),
                        _ => request.gateway_id(&previous),
                    };
                    request
                        .send()
                        .await
                        .map_err(|e| Failure::of("ec2:ReplaceRoute", e))?;
                }
                delete_tgw_route(&ec2, &cidr, tgw_route).await
            }
            AwsResource::Record {
                zone,
                name,
                kind,
                value,
                ..
            } => {
                let r53 = self.route53().await?;
                let batch = record_batch(r53::ChangeAction::Delete, &name, kind, &value)?;
                let deleted = r53
                    .change_resource_record_sets()
                    .hosted_zone_id(&zone)
                    .change_batch(batch)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Failure::of("route53:ChangeResourceRecordSets", e));
                gone_is_done(deleted, |f| {
                    f.code == "InvalidChangeBatch" && f.message.contains("not found")
                })
            }
        }
    }
}

/// Removes the transit gateway route a change created, if it did.
async fn delete_tgw_route(
    ec2: &aws_sdk_ec2::Client,
    cidr: &str,
    created: Option<(String, String)>,
) -> Result<(), ProviderError> {
    let Some((table, _)) = created else {
        return Ok(());
    };
    let deleted = ec2
        .delete_transit_gateway_route()
        .transit_gateway_route_table_id(&table)
        .destination_cidr_block(cidr)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Failure::of("ec2:DeleteTransitGatewayRoute", e));
    gone_is_done(deleted, |f| f.code.contains("NotFound"))
}

/// A removal that found the thing already gone did its job: reverting
/// twice is not an error.
fn gone_is_done(
    result: Result<(), Failure>,
    gone: impl Fn(&Failure) -> bool,
) -> Result<(), ProviderError> {
    match result {
        Err(f) if !gone(&f) => Err(f.into()),
        _ => Ok(()),
    }
}

fn rr_type(kind: RecordKind) -> r53::RrType {
    match kind {
        RecordKind::A => r53::RrType::A,
        RecordKind::Cname => r53::RrType::Cname,
    }
}

/// One change to one record (TTL 60) as a Route 53 change batch.
fn record_batch(
    action: r53::ChangeAction,
    name: &str,
    kind: RecordKind,
    value: &str,
) -> Result<r53::ChangeBatch, ProviderError> {
    let invalid = |e: aws_sdk_route53::error::BuildError| refused(e.to_string());
    let set = r53::ResourceRecordSet::builder()
        .name(name)
        .r#type(rr_type(kind))
        .ttl(RECORD_TTL)
        .resource_records(
            r53::ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(invalid)?,
        )
        .build()
        .map_err(invalid)?;
    r53::ChangeBatch::builder()
        .changes(
            r53::Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .map_err(invalid)?,
        )
        .build()
        .map_err(invalid)
}

fn bare_zone_id(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

fn route_target_of(r: &ec2::Route) -> &str {
    r.transit_gateway_id()
        .or(r.vpc_peering_connection_id())
        .or(r.gateway_id())
        .or(r.network_interface_id())
        .or(r.nat_gateway_id())
        .unwrap_or("another target")
}

fn route_points_at(r: &ec2::Route, target: &str) -> bool {
    r.state() != Some(&ec2::RouteState::Blackhole) && route_target_of(r) == target
}

/// The first ingress rule of `group` that `wanted` accepts.
async fn find_rule(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    wanted: impl Fn(&ec2::SecurityGroupRule) -> bool,
) -> Result<Option<String>, ProviderError> {
    let answer = consistent(|| async {
        ec2.describe_security_group_rules()
            .filters(filter("group-id", group))
            .send()
            .await
            .map_err(|e| Failure::of("ec2:DescribeSecurityGroupRules", e))
    })
    .await?;
    Ok(answer
        .security_group_rules()
        .iter()
        .filter(|r| !r.is_egress().unwrap_or(false))
        .find(|r| wanted(r))
        .and_then(|r| r.security_group_rule_id())
        .map(str::to_string))
}

#[async_trait::async_trait]
impl CloudActor for AwsActor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cloud(&self) -> Cloud {
        Cloud::Aws
    }

    fn check(&self, change: &Change, estate: &Estate) -> Result<(), ProviderError> {
        let vpc = vpc_of(estate, change)?;
        match change {
            Change::AllowIngress { .. } => service_group(change, estate).map(|_| ()),
            Change::Route { via, .. } => route_target(vpc, via.as_str(), estate)
                .map(|_| ())
                .map_err(refused),
            Change::RoutePreference {
                preferred, other, ..
            } => [preferred, other]
                .iter()
                .try_for_each(|c| route_target(vpc, c.as_str(), estate).map(|_| ()))
                .map_err(refused),
            Change::DnsRecord { name, .. } => record_zone(name, vpc).map(|_| ()),
        }
    }

    fn plan(&self, change: &Change, estate: &Estate) -> Vec<String> {
        plan(change, estate)
    }

    async fn apply(
        &self,
        change: &Change,
        key: &str,
        estate: &Estate,
    ) -> Result<ResourceId, ProviderError> {
        let vpc = vpc_of(estate, change)?;
        let resource = match change {
            Change::AllowIngress { .. } => self.allow_ingress(vpc, change, key, estate).await?,
            Change::Route { .. } => self.route(vpc, change, key, estate).await?,
            Change::RoutePreference { .. } => self.prefer(vpc, change, estate).await?,
            Change::DnsRecord { .. } => self.record(vpc, change, key).await?,
        };
        Ok(ResourceId::new(resource.to_string()))
    }

    async fn revert(&self, resource: &ResourceId) -> Result<(), ProviderError> {
        let parsed = AwsResource::parse(resource.as_str()).ok_or_else(|| {
            refused(format!(
                "'{resource}' is not an AWS resource switchboard made"
            ))
        })?;
        self.revert_resource(parsed).await
    }

    async fn present(
        &self,
        resources: &[ResourceId],
    ) -> Result<HashSet<ResourceId>, ProviderError> {
        // One Describe per region and kind, however many ids.
        let mut by_region: BTreeMap<String, Vec<(&ResourceId, AwsResource)>> = BTreeMap::new();
        for id in resources {
            if let Some(parsed) = AwsResource::parse(id.as_str()) {
                by_region
                    .entry(parsed.region().to_string())
                    .or_default()
                    .push((id, parsed));
            }
        }
        let mut present = HashSet::new();
        for (region, items) in by_region {
            let ec2 = self.ec2(&region).await?;
            let rules: Vec<&str> = items
                .iter()
                .filter_map(|(_, r)| match r {
                    AwsResource::Rule { rule, .. } => Some(rule.as_str()),
                    _ => None,
                })
                .collect();
            let mut live_rules = HashSet::new();
            if !rules.is_empty() {
                let mut f = ec2::Filter::builder().name("security-group-rule-id");
                for rule in &rules {
                    f = f.values(*rule);
                }
                let answer = ec2
                    .describe_security_group_rules()
                    .filters(f.build())
                    .send()
                    .await
                    .map_err(|e| Failure::of("ec2:DescribeSecurityGroupRules", e))?;
                live_rules.extend(
                    answer
                        .security_group_rules()
                        .iter()
                        .filter_map(|r| r.security_group_rule_id())
                        .map(str::to_string),
                );
            }
            let mut tables: Vec<&str> = items
                .iter()
                .flat_map(|(_, r)| match r {
                    AwsResource::Routes { tables, .. } | AwsResource::Preferred { tables, .. } => {
                        tables.iter().map(String::as_str).collect::<Vec<_>>()
                    }
                    _ => Vec::new(),
                })
                .collect();
            tables.sort_unstable();
            tables.dedup();
            let mut routes: BTreeMap<String, Vec<ec2::Route>> = BTreeMap::new();
            if !tables.is_empty() {
                let mut f = ec2::Filter::builder().name("route-table-id");
                for t in &tables {
                    f = f.values(*t);
                }
                let answer = ec2
                    .describe_route_tables()
                    .filters(f.build())
                    .send()
                    .await
                    .map_err(|e| Failure::of("ec2:DescribeRouteTables", e))?;
                for t in answer.route_tables() {
                    routes.insert(
                        t.route_table_id().unwrap_or_default().to_string(),
                        t.routes().to_vec(),
                    );
                }
            }
            let routed = |table: &str, cidr: &str, target: &str| {
                routes.get(table).is_some_and(|rs| {
                    rs.iter().any(|r| {
                        r.destination_cidr_block() == Some(cidr) && route_points_at(r, target)
                    })
                })
            };
            for (id, r) in &items {
                let here = match r {
                    AwsResource::Rule { rule, .. } => live_rules.contains(rule),
                    AwsResource::Routes {
                        cidr,
                        target,
                        tables,
                        ..
                    } => tables.iter().all(|t| routed(t, cidr, target)),
                    AwsResource::Preferred {
                        cidr,
                        preferred,
                        tables,
                        ..
                    } => tables.iter().all(|t| routed(t, cidr, preferred)),
                    AwsResource::Record {
                        zone,
                        name,
                        kind,
                        value,
                        ..
                    } => self.record_present(zone, name, *kind, value).await?,
                };
                if here {
                    present.insert((*id).clone());
                }
            }
        }
        Ok(present)
    }
}

impl AwsActor {
    async fn record_present(
        &self,
        zone: &str,
        name: &str,
        kind: RecordKind,
        value: &str,
    ) -> Result<bool, ProviderError> {
        let r53 = self.route53().await?;
        let rr_type = rr_type(kind);
        let answer = r53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(name)
            .start_record_type(rr_type.clone())
            .max_items(1)
            .send()
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                let f = Failure::of("route53:ListResourceRecordSets", e);
                if f.code == "NoSuchHostedZone" {
                    return Ok(false);
                }
                return Err(f.into());
            }
        };
        Ok(answer.resource_record_sets().iter().any(|s| {
            s.name() == name
                && s.r#type() == &rr_type
                && s.resource_records().iter().any(|r| r.value() == value)
        }))
    }
}

/// The calls `apply` makes for `change`, for the approval card: pure, from
/// the estate the design used.
pub fn plan(change: &Change, estate: &Estate) -> Vec<String> {
    let Some(vpc) = estate.network(change.network()) else {
        return vec![format!("refused: unknown network '{}'", change.network())];
    };
    match change {
        Change::AllowIngress {
            from_cidr, port, ..
        } => match service_group(change, estate) {
            Ok(group) => vec![format!(
                "ec2:AuthorizeSecurityGroupIngress {group} tcp/{port} from {from_cidr} ({})",
                vpc.region
            )],
            Err(e) => vec![format!("refused: {e}")],
        },
        Change::Route {
            destination_cidr,
            via,
            ..
        } => match route_target(vpc, via.as_str(), estate) {
            Ok(Target::TransitGateway(tgw)) => {
                let mut calls = vec![format!(
                    "ec2:CreateRoute {destination_cidr} → {tgw} in every subnet route table of {} ({})",
                    vpc.id, vpc.region
                )];
                calls.push(match tgw_attachment_toward(estate, &tgw, destination_cidr) {
                    Some(attachment) => format!(
                        "ec2:CreateTransitGatewayRoute {destination_cidr} → {attachment} in the {tgw} route table {via} is associated with (unless already routed)"
                    ),
                    None => format!("refused: {tgw} has no attachment toward {destination_cidr}"),
                });
                calls
            }
            Ok(Target::Peering(pcx)) => vec![format!(
                "ec2:CreateRoute {destination_cidr} → {pcx} in every subnet route table of {} ({})",
                vpc.id, vpc.region
            )],
            Ok(Target::VpnGateway) => vec![format!(
                "ec2:CreateRoute {destination_cidr} → the VGW attached to {} in every subnet route table ({})",
                vpc.id, vpc.region
            )],
            Err(why) => vec![format!("refused: {why}")],
        },
        Change::RoutePreference {
            destination_cidr,
            preferred,
            ..
        } => vec![format!(
            "ec2:ReplaceRoute {destination_cidr} → {preferred}'s target in {} ({})",
            vpc.id, vpc.region
        )],
        Change::DnsRecord { name, address, .. } => vec![format!(
            "route53:ChangeResourceRecordSets UPSERT {} {name} → {address} in the private zone {} of {}",
            RecordKind::for_value(address).as_str(),
            zone_of(name).unwrap_or("?"),
            vpc.id
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Connection, ConnectionId, ConnectionStatus, Gbps, Millis, NetworkId, NetworkKind, Service,
        ServiceId, Usd, UsdPerGb,
    };

    fn network(id: &str, cloud: Cloud, kind: NetworkKind, cidr: &str) -> Network {
        Network {
            id: NetworkId::new(id),
            name: id.into(),
            cloud,
            region: "us-east-1".into(),
            kind,
            cidrs: vec![cidr.into()],
        }
    }

    fn link(id: &str, kind: ConnectionKind, a: &str, b: &str) -> Connection {
        Connection {
            id: ConnectionId::new(id),
            kind,
            a: NetworkId::new(a),
            b: NetworkId::new(b),
            bandwidth_gbps: Gbps(50.0),
            latency_ms: Millis(1.0),
            reliability: 0.9999,
            status: ConnectionStatus::Up,
            cost_per_gb: UsdPerGb(0.02),
            monthly_base_usd: Usd(36.5),
            group: None,
        }
    }

    /// Two VPCs on a transit gateway, a database with a group in the second
    /// and a listed service without one.
    fn estate() -> Estate {
        let db = Service {
            id: ServiceId::new("arn:db"),
            name: "orders-db".into(),
            kind: "rds".into(),
            network: NetworkId::new("vpc-b"),
            identifiers: vec![],
            port: 5432,
            address: "orders-db.x.rds.amazonaws.com".into(),
            security_groups: vec!["sg-db".into()],
            public_endpoint: false,
        };
        let bare = Service {
            id: ServiceId::new("aws:bare"),
            security_groups: vec![],
            public_endpoint: false,
            ..db.clone()
        };
        Estate {
            name: "snapshot 1".into(),
            networks: vec![
                network("vpc-a", Cloud::Aws, NetworkKind::Vpc, "10.61.0.0/16"),
                network("vpc-b", Cloud::Aws, NetworkKind::Vpc, "10.62.0.0/16"),
                network(
                    "tgw-1",
                    Cloud::Aws,
                    NetworkKind::TransitHub,
                    "100.64.0.0/24",
                ),
            ],
            connections: vec![
                link(
                    "tgw-attach-a",
                    ConnectionKind::TransitGateway,
                    "vpc-a",
                    "tgw-1",
                ),
                link(
                    "tgw-attach-b",
                    ConnectionKind::TransitGateway,
                    "vpc-b",
                    "tgw-1",
                ),
                link("inet-a", ConnectionKind::Internet, "vpc-a", "tgw-1"),
            ],
            services: vec![db, bare],
            flows: vec![],
        }
    }

    fn ingress(service: &str) -> Change {
        Change::AllowIngress {
            network: NetworkId::new("vpc-b"),
            from_cidr: "10.61.0.0/16".into(),
            port: 5432,
            description: "orders".into(),
            service: Some(ServiceId::new(service)),
        }
    }

    #[test]
    fn the_card_names_the_group_the_tgw_and_the_attachment_onward() {
        let estate = estate();
        assert_eq!(
            plan(&ingress("arn:db"), &estate),
            vec!["ec2:AuthorizeSecurityGroupIngress sg-db tcp/5432 from 10.61.0.0/16 (us-east-1)"]
        );
        let route = Change::Route {
            network: NetworkId::new("vpc-a"),
            destination_cidr: "10.62.0.0/16".into(),
            via: ConnectionId::new("tgw-attach-a"),
        };
        let calls = plan(&route, &estate);
        assert!(
            calls[0].starts_with("ec2:CreateRoute 10.62.0.0/16 → tgw-1"),
            "{calls:?}"
        );
        assert!(
            calls[1].contains("CreateTransitGatewayRoute 10.62.0.0/16 → tgw-attach-b"),
            "{calls:?}"
        );
    }

    #[test]
    fn changes_aws_cannot_make_are_refused_before_approval() {
        let estate = estate();
        let actor = AwsActor::new(AwsDiscoveryConfig::default());
        assert!(actor.check(&ingress("arn:db"), &estate).is_ok());
        let err = actor
            .check(&ingress("aws:bare"), &estate)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no security group") && err.contains("services file"),
            "{err}"
        );
        let over_internet = Change::Route {
            network: NetworkId::new("vpc-a"),
            destination_cidr: "10.62.0.0/16".into(),
            via: ConnectionId::new("inet-a"),
        };
        let err = actor
            .check(&over_internet, &estate)
            .unwrap_err()
            .to_string();
        assert!(err.contains("internet"), "{err}");
        let shadowing = Change::DnsRecord {
            zone: NetworkId::new("vpc-a"),
            name: "orders-db.x.rds.amazonaws.com".into(),
            address: "10.62.1.5".into(),
        };
        let err = actor.check(&shadowing, &estate).unwrap_err().to_string();
        assert!(err.contains("AWS-owned"), "{err}");
        let not_a_vpc = Change::Route {
            network: NetworkId::new("tgw-1"),
            destination_cidr: "10.62.0.0/16".into(),
            via: ConnectionId::new("tgw-attach-b"),
        };
        assert!(actor.check(&not_a_vpc, &estate).is_err());
    }
}
