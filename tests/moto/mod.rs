//! A real AWS peer for the discovery tests and benchmark: moto's server on
//! loopback (killed on drop), seeded through the AWS SDK, and a small front
//! (axum, loopback) that discovery talks to. The front passes every request
//! on to moto except where moto falls short or where a test wants AWS to
//! misbehave:
//! - moto 5.2 has no Direct Connect virtual interfaces nor gateway
//!   associations, and its DescribeConnections answer does not parse as
//!   AWS's (`loaIssueTime` as a date string, an ARN as connection id): the
//!   front answers `OvertureService.DescribeConnections`,
//!   `DescribeVirtualInterfaces` and `DescribeDirectConnectGatewayAssociations`
//!   (JSON 1.1, AWS's documented shape) from what the test sets;
//! - moto fills no `vgwTelemetry` for VPN connections: the front adds two
//!   tunnels to each one (first UP, second DOWN) as AWS reports them;
//! - moto ignores `MaxResults` on DescribeVpcs: for a chosen region the front
//!   answers with synthetic VPCs five per page, chained by `nextToken`;
//! - moto keeps no attachment on a transit gateway route (its
//!   SearchTransitGatewayRoutes answers `<transitGatewayAttachments/>`): the
//!   front remembers the attachment of each CreateTransitGatewayRoute it
//!   passed on and fills it in, in AWS's shape; nor does it move an
//!   attachment to the route table AssociateTransitGatewayRouteTable names
//!   (DescribeTransitGatewayAttachments keeps the old one): the front does;
//! - throttling (`RequestLimitExceeded`, HTTP 503), access denied in one
//!   region, and a malformed answer, on demand.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;
use switchboard::bench::moto::MotoServer;

/// Static fake credentials, for moto and for discovery through the standard
/// chain (environment). Set once per process, before any SDK call.
pub fn fake_credentials_in_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        // Never ask the instance metadata service (a link-local address).
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    });
}

/// The moto server (`switchboard::bench::moto::MotoServer`, killed on drop),
/// or `None` (after saying why) when it is not installed and peers are not
/// required.
pub struct Moto(MotoServer);

impl std::ops::Deref for Moto {
    type Target = MotoServer;
    fn deref(&self) -> &MotoServer {
        &self.0
    }
}

impl Moto {
    pub fn start() -> Option<Moto> {
        let Ok(server) = std::env::var("SWITCHBOARD_MOTO_SERVER") else {
            let why = "SWITCHBOARD_MOTO_SERVER is not set (./test installs moto and sets it)";
            if std::env::var("SWITCHBOARD_PEERS").as_deref() == Ok("require") {
                panic!("SWITCHBOARD_PEERS=require but {why}");
            }
            eprintln!("skipping the moto test: {why}");
            return None;
        };
        Some(Moto(
            MotoServer::start(&server).unwrap_or_else(|e| panic!("{e}")),
        ))
    }

    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk(region))
    }
}

/// What the front does besides passing requests on.
#[derive(Default)]
pub struct FrontState {
    /// `{"connections": [...]}` as Direct Connect's DescribeConnections answers.
    pub connections: serde_json::Value,
    /// `{"virtualInterfaces": [...]}` as DescribeVirtualInterfaces answers.
    pub virtual_interfaces: serde_json::Value,
    /// `{"directConnectGatewayAssociations": [...]}`.
    pub associations: serde_json::Value,
    /// Answer this many EC2 requests per region with RequestLimitExceeded
    /// (HTTP 503) before passing them on.
    pub throttle_per_region: u32,
    pub denied_region: Option<String>,
    /// DescribeVpcs in this region answers with a 200 that is not XML.
    pub garbage_region: Option<String>,
    /// DescribeVpcs in this region answers this many synthetic VPCs, 5 a page.
    pub paged_region: Option<(String, usize)>,
    /// Added to every answer, so that requests overlap as they do on AWS.
    pub delay: Duration,
    /// DescribeSecurityGroupRules answers no rules (as if they were removed
    /// behind switchboard's back; revoking still reaches moto).
    pub hide_security_group_rules: bool,

    // What the front saw.
    pub throttled: HashMap<String, u32>,
    pub vpc_pages_served: usize,
    pub in_flight: BTreeMap<String, u32>,
    /// Most regions with a request in flight at one time.
    pub max_regions_in_flight: usize,
    tunnels: HashMap<String, [String; 2]>,
    /// (TGW route table, CIDR) → attachment, of the static routes created
    /// through the front: moto forgets the attachment of a TGW route.
    tgw_routes: HashMap<(String, String), String>,
    /// Attachment → TGW route table, of the associations made through the
    /// front: moto's DescribeTransitGatewayAttachments keeps the old one.
    tgw_associations: HashMap<String, String>,
}

pub struct Front {
    pub url: String,
    pub state: Arc<Mutex<FrontState>>,
}

struct Shared {
    moto: String,
    http: reqwest::Client,
    state: Arc<Mutex<FrontState>>,
}

impl Front {
    /// Starts the front on the current tokio runtime (it stops with it).
    pub async fn start(moto: &Moto) -> Front {
        let state = Arc::new(Mutex::new(FrontState {
            connections: serde_json::json!({ "connections": [] }),
            virtual_interfaces: serde_json::json!({ "virtualInterfaces": [] }),
            associations: serde_json::json!({ "directConnectGatewayAssociations": [] }),
            ..FrontState::default()
        }));
        let shared = Arc::new(Shared {
            moto: moto.url.clone(),
            http: reqwest::Client::new(),
            state: state.clone(),
        });
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move { handle(&shared, method, uri, headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind front");
        let url = format!("http://{}", listener.local_addr().expect("front address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Front { url, state }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, FrontState> {
        self.state.lock().expect("front state")
    }
}

/// Part `n` of the SigV4 credential scope a request is signed with
/// (`key/date/region/service/aws4_request`): 2 is the region, 3 the service.
fn signed_scope(headers: &HeaderMap, n: usize) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split('/').nth(n))
        .unwrap_or("?")
        .to_string()
}

fn ec2_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors><RequestID>front</RequestID></Response>"
    );
    (status, [("content-type", "text/xml")], body).into_response()
}

async fn handle(
    shared: &Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let region = signed_scope(&headers, 2);
    {
        let mut s = shared.state.lock().expect("front state");
        *s.in_flight.entry(region.clone()).or_default() += 1;
        let busy = s.in_flight.values().filter(|n| **n > 0).count();
        s.max_regions_in_flight = s.max_regions_in_flight.max(busy);
    }
    let delay = shared.state.lock().expect("front state").delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let response = answer(shared, &region, method, uri, headers, body).await;
    if let Some(n) = shared
        .state
        .lock()
        .expect("front state")
        .in_flight
        .get_mut(&region)
    {
        *n -= 1;
    }
    response
}

async fn answer(
    shared: &Shared,
    region: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let form = String::from_utf8_lossy(&body).to_string();
    let action = form
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("")
        .to_string();
    {
        let mut s = shared.state.lock().expect("front state");
        if target == "OvertureService.DescribeConnections" {
            return json11(&s.connections);
        }
        if target == "OvertureService.DescribeVirtualInterfaces" {
            return json11(&s.virtual_interfaces);
        }
        if target == "OvertureService.DescribeDirectConnectGatewayAssociations" {
            return json11(&s.associations);
        }
        // Throttling and denials in EC2's shape, so only for EC2.
        if !action.is_empty() && signed_scope(&headers, 3) == "ec2" {
            if s.denied_region.as_deref() == Some(region) {
                return ec2_error(
                    StatusCode::FORBIDDEN,
                    "UnauthorizedOperation",
                    "You are not authorized to perform this operation.",
                );
            }
            let limit = s.throttle_per_region;
            let done = s.throttled.entry(region.to_string()).or_default();
            if *done < limit {
                *done += 1;
                return ec2_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "RequestLimitExceeded",
                    "Request limit exceeded.",
                );
            }
            if action == "DescribeSecurityGroupRules" && s.hide_security_group_rules {
                return (
                    StatusCode::OK,
                    [("content-type", "text/xml")],
                    "<DescribeSecurityGroupRulesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>front</requestId><securityGroupRuleSet/></DescribeSecurityGroupRulesResponse>",
                )
                    .into_response();
            }
            if action == "DescribeVpcs" && s.garbage_region.as_deref() == Some(region) {
                return (StatusCode::OK, [("content-type", "text/xml")], "<<<not xml")
                    .into_response();
            }
            if action == "DescribeVpcs" {
                if let Some((paged, count)) = s.paged_region.clone() {
                    if paged == region {
                        s.vpc_pages_served += 1;
                        return vpc_page(&form, count);
                    }
                }
            }
        }
    }
    let forwarded = pass_on(shared, method, uri, headers, body).await;
    let field = |key: &str| form_value(&form, key).unwrap_or_default();
    let key = || {
        (
            field("TransitGatewayRouteTableId"),
            field("DestinationCidrBlock"),
        )
    };
    match action.as_str() {
        "CreateTransitGatewayRoute" if forwarded.0.is_success() => {
            let attachment = field("TransitGatewayAttachmentId");
            shared
                .state
                .lock()
                .expect("front state")
                .tgw_routes
                .insert(key(), attachment);
        }
        "DeleteTransitGatewayRoute" if forwarded.0.is_success() => {
            shared
                .state
                .lock()
                .expect("front state")
                .tgw_routes
                .remove(&key());
        }
        "AssociateTransitGatewayRouteTable" if forwarded.0.is_success() => {
            shared
                .state
                .lock()
                .expect("front state")
                .tgw_associations
                .insert(
                    field("TransitGatewayAttachmentId"),
                    field("TransitGatewayRouteTableId"),
                );
        }
        "DescribeTransitGatewayAttachments" => {
            if let Ok(xml) = std::str::from_utf8(&forwarded.1) {
                let xml = fix_tgw_associations(
                    &shared.state.lock().expect("front state").tgw_associations,
                    xml,
                );
                return (forwarded.0, [("content-type", "text/xml")], xml).into_response();
            }
        }
        "SearchTransitGatewayRoutes" => {
            if let Ok(xml) = std::str::from_utf8(&forwarded.1) {
                let table = field("TransitGatewayRouteTableId");
                let xml = add_tgw_attachments(
                    &shared.state.lock().expect("front state").tgw_routes,
                    &table,
                    xml,
                );
                return (forwarded.0, [("content-type", "text/xml")], xml).into_response();
            }
        }
        _ => {}
    }
    if action == "DescribeVpnConnections" {
        if let Ok(xml) = std::str::from_utf8(&forwarded.1) {
            let xml = switchboard::bench::moto::add_vpn_telemetry(
                &mut shared.state.lock().expect("front state").tunnels,
                xml,
            );
            return (forwarded.0, [("content-type", "text/xml")], xml).into_response();
        }
    }
    let mut response = (forwarded.0, forwarded.1).into_response();
    if let Some(ct) = forwarded.2 {
        response.headers_mut().insert("content-type", ct);
    }
    response
}

fn json11(value: &serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        value.to_string(),
    )
        .into_response()
}

async fn pass_on(
    shared: &Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Bytes, Option<axum::http::HeaderValue>) {
    let (status, answer_headers, bytes) =
        switchboard::bench::moto::forward(&shared.http, &shared.moto, method, &uri, &headers, body)
            .await
            .expect("moto answers the front");
    (status, bytes, answer_headers.get("content-type").cloned())
}

/// A form field, percent-decoded.
fn form_value(form: &str, key: &str) -> Option<String> {
    let raw = form
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?;
    let bytes = raw.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Fills the empty `<transitGatewayAttachments/>` moto answers for each
/// route it knows the attachment of, as AWS answers it.
fn add_tgw_attachments(
    routes: &HashMap<(String, String), String>,
    table: &str,
    xml: &str,
) -> String {
    let mut out = String::with_capacity(xml.len() + 256);
    for item in xml.split_inclusive("</item>") {
        let cidr = item
            .split("<destinationCidrBlock>")
            .nth(1)
            .and_then(|rest| rest.split("</destinationCidrBlock>").next());
        match cidr.and_then(|c| routes.get(&(table.to_string(), c.to_string()))) {
            Some(attachment) => out.push_str(&item.replace(
                "<transitGatewayAttachments/>",
                &format!(
                    "<transitGatewayAttachments><item><transitGatewayAttachmentId>{attachment}</transitGatewayAttachmentId><resourceType>vpc</resourceType></item></transitGatewayAttachments>"
                ),
            )),
            None => out.push_str(item),
        }
    }
    out
}

/// Puts the route table each attachment was associated with (through the
/// front) into moto's DescribeTransitGatewayAttachments answer.
fn fix_tgw_associations(associations: &HashMap<String, String>, xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    for item in xml.split_inclusive("</item>") {
        let attachment = item
            .split("<transitGatewayAttachmentId>")
            .nth(1)
            .and_then(|rest| rest.split("</transitGatewayAttachmentId>").next());
        let table = attachment.and_then(|a| associations.get(a));
        let association = item
            .split("<association><transitGatewayRouteTableId>")
            .nth(1)
            .and_then(|rest| rest.split("</transitGatewayRouteTableId>").next());
        match (table, association) {
            (Some(table), Some(old)) => out.push_str(&item.replace(
                &format!("<association><transitGatewayRouteTableId>{old}<"),
                &format!("<association><transitGatewayRouteTableId>{table}<"),
            )),
            _ => out.push_str(item),
        }
    }
    out
}

/// The front's tunnel outside IPs for a VPN connection (UP one first).
pub fn tunnel_ips(front: &Front, vpn: &str) -> Option<[String; 2]> {
    front.state().tunnels.get(vpn).cloned()
}

/// One page of synthetic VPCs `vpc-page-N`, five a page, whatever
/// `MaxResults` says (AWS may return fewer than asked).
fn vpc_page(form: &str, count: usize) -> Response {
    let start: usize = form
        .split('&')
        .find_map(|kv| kv.strip_prefix("NextToken="))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let end = (start + 5).min(count);
    let items: String = (start..end)
        .map(|i| {
            format!(
                "<item><vpcId>vpc-page-{i}</vpcId><ownerId>123456789012</ownerId>\
                 <state>available</state><cidrBlock>10.{}.{}.0/24</cidrBlock></item>",
                i / 256,
                i % 256
            )
        })
        .collect();
    let token = if end < count {
        format!("<nextToken>{end}</nextToken>")
    } else {
        String::new()
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeVpcsResponse \
         xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>front</requestId>\
         <vpcSet>{items}</vpcSet>{token}</DescribeVpcsResponse>"
    );
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

/// Ids of the resources one `seed_region` call created.
#[derive(Debug, Default, Clone)]
pub struct Seeded {
    pub vpcs: Vec<String>,
    pub igws: Vec<String>,
    pub tgw: Option<String>,
    pub tgw_attachments: Vec<String>,
    pub vgw: Option<String>,
    pub vpn_on_vgw: Option<String>,
    pub vpn_on_tgw: Option<String>,
    pub cgw_ip: String,
}

fn name_tag(
    kind: aws_sdk_ec2::types::ResourceType,
    name: &str,
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(kind)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Name")
                .value(name)
                .build(),
        )
        .build()
}

/// moto with the seeded account (`bench::moto::seed`: a Lambda function in
/// the app VPC, an RDS instance in the db VPC, a transit gateway), and the
/// front switchboard talks to.
pub struct SeededAccount {
    pub moto: Moto,
    pub front: Front,
    pub account: switchboard::bench::moto::Account,
}

impl SeededAccount {
    /// `None` when moto is not installed (and peers are not required).
    pub async fn start() -> Option<SeededAccount> {
        let moto = Moto::start()?;
        fake_credentials_in_env();
        let front = Front::start(&moto).await;
        let sdk = moto.sdk("us-east-1");
        let role = moto
            .lambda_role("orders-fn-role")
            .await
            .expect("lambda role");
        let account = switchboard::bench::moto::seed(&sdk, &role)
            .await
            .expect("seed the account");
        Some(SeededAccount {
            moto,
            front,
            account,
        })
    }
}

/// The routes for `cidr` in the route tables of `vpc`, as their targets.
pub async fn route_target(ec2: &aws_sdk_ec2::Client, vpc: &str, cidr: &str) -> Vec<String> {
    let tables = ec2
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build(),
        )
        .send()
        .await
        .expect("route tables");
    tables
        .route_tables()
        .iter()
        .flat_map(|t| t.routes())
        .filter(|r| r.destination_cidr_block() == Some(cidr))
        .filter_map(|r| {
            r.transit_gateway_id()
                .or(r.vpc_peering_connection_id())
                .or(r.gateway_id())
                .map(str::to_string)
        })
        .collect()
}

/// Every record in moto's hosted zones: (name, type, value).
pub async fn records(moto: &Moto) -> Vec<(String, String, String)> {
    let r53 = aws_sdk_route53::Client::new(&moto.sdk("us-east-1"));
    let zones = r53.list_hosted_zones().send().await.expect("zones");
    let mut out = Vec::new();
    for zone in zones.hosted_zones() {
        let sets = r53
            .list_resource_record_sets()
            .hosted_zone_id(zone.id())
            .send()
            .await
            .expect("record sets");
        for set in sets.resource_record_sets() {
            for r in set.resource_records() {
                let kind = set.r#type().as_str().to_string();
                out.push((set.name().to_string(), kind, r.value().to_string()));
            }
        }
    }
    out
}

/// A customer gateway at `cgw_ip` and a VPN connection to it from a VGW
/// attached to `vpc`: (customer gateway, VGW, VPN connection) ids.
pub async fn vpn_on_vgw(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    cgw_ip: &str,
) -> (String, String, String) {
    switchboard::bench::moto::vpn_on_vgw(ec2, vpc, cgw_ip)
        .await
        .expect("a VPN on a VGW")
}

/// `vpcs` named VPCs `<prefix>-<i>` (10.<i>.0.0/16) in `region`, each with a
/// subnet; the first gets an internet gateway with a default route, a VGW
/// and a VPN connection to customer gateway `cgw_ip`; with `with_tgw`, a
/// transit gateway attaches every VPC and terminates a second VPN.
pub async fn seed_region(
    ec2: &aws_sdk_ec2::Client,
    prefix: &str,
    vpcs: usize,
    with_tgw: bool,
    cgw_ip: &str,
) -> Seeded {
    use aws_sdk_ec2::types::ResourceType;
    let mut s = Seeded {
        cgw_ip: cgw_ip.to_string(),
        ..Seeded::default()
    };
    for i in 0..vpcs {
        let vpc = ec2
            .create_vpc()
            .cidr_block(format!("10.{}.{}.0/24", i / 256, i % 256))
            .tag_specifications(name_tag(ResourceType::Vpc, &format!("{prefix}-{i}")))
            .send()
            .await
            .expect("create vpc");
        let id = vpc
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        s.vpcs.push(id);
    }
    let first = s.vpcs[0].clone();
    ec2.create_subnet()
        .vpc_id(&first)
        .cidr_block("10.0.0.0/26")
        .send()
        .await
        .expect("create subnet");

    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .expect("create igw");
    let igw = igw
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .expect("igw id")
        .to_string();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&first)
        .send()
        .await
        .expect("attach igw");
    let tables = ec2
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&first)
                .build(),
        )
        .send()
        .await
        .expect("route tables");
    let table = tables.route_tables()[0]
        .route_table_id()
        .expect("route table id")
        .to_string();
    ec2.create_route()
        .route_table_id(table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .expect("default route");
    s.igws.push(igw);

    let (cgw, vgw, vpn) = vpn_on_vgw(ec2, &first, cgw_ip).await;
    s.vpn_on_vgw = Some(vpn);
    s.vgw = Some(vgw);

    if with_tgw {
        let tgw = ec2
            .create_transit_gateway()
            .description(format!("{prefix} hub"))
            .tag_specifications(name_tag(
                ResourceType::TransitGateway,
                &format!("{prefix}-hub"),
            ))
            .send()
            .await
            .expect("create tgw");
        let tgw = tgw
            .transit_gateway()
            .and_then(|t| t.transit_gateway_id())
            .expect("tgw id")
            .to_string();
        for vpc in &s.vpcs {
            let a = ec2
                .create_transit_gateway_vpc_attachment()
                .transit_gateway_id(&tgw)
                .vpc_id(vpc)
                .subnet_ids("subnet-unused")
                .send()
                .await
                .expect("attach vpc to tgw");
            s.tgw_attachments.push(
                a.transit_gateway_vpc_attachment()
                    .and_then(|a| a.transit_gateway_attachment_id())
                    .expect("attachment id")
                    .to_string(),
            );
        }
        let vpn = ec2
            .create_vpn_connection()
            .r#type("ipsec.1")
            .customer_gateway_id(&cgw)
            .transit_gateway_id(&tgw)
            .send()
            .await
            .expect("create vpn on tgw");
        s.vpn_on_tgw = vpn
            .vpn_connection()
            .and_then(|v| v.vpn_connection_id())
            .map(str::to_string);
        s.tgw = Some(tgw);
    }
    s
}

/// A VPC peering from `requester` (in `from`) to `accepter` in `to`,
/// accepted on the accepter's side. Returns the pcx id.
pub async fn peer(
    from: &aws_sdk_ec2::Client,
    requester: &str,
    to: &aws_sdk_ec2::Client,
    to_region: &str,
    accepter: &str,
) -> String {
    let pcx = from
        .create_vpc_peering_connection()
        .vpc_id(requester)
        .peer_vpc_id(accepter)
        .peer_region(to_region)
        .send()
        .await
        .expect("create peering");
    let id = pcx
        .vpc_peering_connection()
        .and_then(|p| p.vpc_peering_connection_id())
        .expect("pcx id")
        .to_string();
    to.accept_vpc_peering_connection()
        .vpc_peering_connection_id(&id)
        .send()
        .await
        .expect("accept peering");
    id
}

/// Distinct values, for assertions.
pub fn set<'a>(items: impl IntoIterator<Item = &'a str>) -> HashSet<&'a str> {
    items.into_iter().collect()
}
