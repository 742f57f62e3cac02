//! moto's server as a child process on loopback, the seeded AWS account the
//! provision bench and the AWS tests share (a Lambda function in one VPC, a
//! Postgres RDS instance in another, a transit gateway, a VPN on a virtual
//! private gateway), and a counting proxy between switchboard and moto that
//! names each AWS call and adds the VPN tunnel telemetry moto does not keep.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// moto's server as a child process on a free loopback port (killed on drop).
pub struct MotoServer {
    child: Child,
    pub url: String,
}

impl MotoServer {
    /// Starts `server` (a `moto_server` executable) and waits until it
    /// listens. The port is picked free, but another process may take it
    /// before moto binds it (two tests starting at once): a moto that exits
    /// after the port answers lost that race, and another port is tried.
    pub fn start(server: &str) -> Result<MotoServer, String> {
        let mut last = String::new();
        for _ in 0..5 {
            match MotoServer::start_once(server)? {
                Ok(moto) => return Ok(moto),
                Err(why) => last = why,
            }
        }
        Err(last)
    }

    /// `Ok(Err(why))` when moto lost its port to another process.
    fn start_once(server: &str) -> Result<Result<MotoServer, String>, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free loopback port: {e}"))?
            .port();
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {server}: {e}"))?;
        let mut moto = MotoServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Ok(Err(format!(
                    "{server} exited ({status}) before it listened on {port}"
                )));
            }
            if answers_http(port) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{server} did not listen within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The port answers; it is moto's own only if moto is still there
        // once it has had time to fail to bind.
        std::thread::sleep(Duration::from_millis(300));
        if let Ok(Some(status)) = moto.child.try_wait() {
            return Ok(Err(format!(
                "{server} exited ({status}): port {port} was taken"
            )));
        }
        Ok(Ok(moto))
    }

    /// An SDK configuration for any service's client, pointed at moto with
    /// static test credentials.
    pub fn sdk(&self, region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "moto"),
            ))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build()
    }

    /// An IAM role Lambda can assume (moto checks a function's role exists),
    /// through IAM's query API over plain HTTP: there is no IAM client here.
    pub async fn lambda_role(&self, name: &str) -> Result<String, String> {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={}",
            urlencode(policy)
        );
        let http = reqwest::Client::new();
        let mut attempt = 0;
        // A busy machine's moto may drop the first connection: three tries.
        let answer = loop {
            attempt += 1;
            let sent = http
                .post(&self.url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                )
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(answer) => break answer,
                Err(e) if attempt >= 3 => return Err(format!("iam CreateRole: {e}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        };
        let text = answer
            .text()
            .await
            .map_err(|e| format!("iam CreateRole: {e}"))?;
        text.split("<Arn>")
            .nth(1)
            .and_then(|rest| rest.split("</Arn>").next())
            .map(str::to_string)
            .ok_or_else(|| format!("CreateRole answered without an ARN: {text}"))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a server on loopback `port` answers an HTTP request (moto
/// accepts connections a moment before it serves them).
fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/")
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the seeded account holds.
pub struct Account {
    pub app_vpc: String,
    pub db_vpc: String,
    pub db_group: String,
    pub tgw: String,
    pub tgw_table: String,
    pub app_attachment: String,
    pub db_attachment: String,
}

fn named(kind: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("Name").value(name).build())
        .build()
}

/// Two VPCs (app 10.61.0.0/16 with a Lambda function, db 10.62.0.0/16 with
/// a Postgres RDS instance and its security group), both attached to a
/// transit gateway that propagates nothing (so the TGW route is ours to add).
pub async fn seed(sdk: &SdkConfig, lambda_role: &str) -> Result<Account, String> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let mut vpcs = Vec::new();
    let mut subnets = Vec::new();
    for (name, cidr, subnet) in [
        ("app", "10.61.0.0/16", "10.61.1.0/24"),
        ("db", "10.62.0.0/16", "10.62.1.0/24"),
    ] {
        let vpc = ec2
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(named(ResourceType::Vpc, name))
            .send()
            .await
            .map_err(|e| format!("vpc: {}", DisplayErrorContext(&e)))?
            .vpc
            .and_then(|v| v.vpc_id)
            .ok_or("vpc id: missing in the answer")?;
        let mut ids = Vec::new();
        for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
            let block = subnet.replace(".1.0/24", &format!(".{}.0/24", i + 1));
            ids.push(
                ec2.create_subnet()
                    .vpc_id(&vpc)
                    .cidr_block(block)
                    .availability_zone(*az)
                    .send()
                    .await
                    .map_err(|e| format!("subnet: {}", DisplayErrorContext(&e)))?
                    .subnet
                    .and_then(|s| s.subnet_id)
                    .ok_or("subnet id: missing in the answer")?,
            );
        }
        vpcs.push(vpc);
        subnets.push(ids);
    }
    let tgw = ec2
        .create_transit_gateway()
        .options(
            aws_sdk_ec2::types::TransitGatewayRequestOptions::builder()
                .default_route_table_propagation(
                    aws_sdk_ec2::types::DefaultRouteTablePropagationValue::Disable,
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("tgw: {}", DisplayErrorContext(&e)))?
        .transit_gateway
        .ok_or("tgw answer: missing in the answer")?;
    let tgw_table = tgw
        .options
        .as_ref()
        .and_then(|o| o.association_default_route_table_id.clone())
        .ok_or("tgw default route table: missing in the answer")?;
    let tgw = tgw
        .transit_gateway_id
        .ok_or("tgw id: missing in the answer")?;
    let mut attachments = Vec::new();
    for (vpc, ids) in vpcs.iter().zip(&subnets) {
        attachments.push(
            ec2.create_transit_gateway_vpc_attachment()
                .transit_gateway_id(&tgw)
                .vpc_id(vpc)
                .subnet_ids(&ids[0])
                .send()
                .await
                .map_err(|e| format!("tgw attachment: {}", DisplayErrorContext(&e)))?
                .transit_gateway_vpc_attachment
                .and_then(|a| a.transit_gateway_attachment_id)
                .ok_or("attachment id: missing in the answer")?,
        );
    }
    let group = |name: &'static str, vpc: &String| {
        ec2.create_security_group()
            .group_name(name)
            .description(name)
            .vpc_id(vpc)
            .send()
    };
    let db_group = group("orders-db", &vpcs[1])
        .await
        .map_err(|e| format!("sg: {}", DisplayErrorContext(&e)))?
        .group_id
        .ok_or("sg id: missing in the answer")?;
    let app_group = group("orders-fn", &vpcs[0])
        .await
        .map_err(|e| format!("sg: {}", DisplayErrorContext(&e)))?
        .group_id
        .ok_or("sg id: missing in the answer")?;

    // The smallest zip there is: an end-of-central-directory record.
    let mut zip = b"PK\x05\x06".to_vec();
    zip.extend([0u8; 18]);
    aws_sdk_lambda::Client::new(sdk)
        .create_function()
        .function_name("orders-fn")
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(lambda_role)
        .handler("app.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(zip))
                .build(),
        )
        .vpc_config(
            aws_sdk_lambda::types::VpcConfig::builder()
                .subnet_ids(&subnets[0][0])
                .security_group_ids(app_group)
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("lambda function: {}", DisplayErrorContext(&e)))?;
    let rds = aws_sdk_rds::Client::new(sdk);
    rds.create_db_subnet_group()
        .db_subnet_group_name("orders-db-subnets")
        .db_subnet_group_description("orders")
        .set_subnet_ids(Some(subnets[1].clone()))
        .send()
        .await
        .map_err(|e| format!("db subnet group: {}", DisplayErrorContext(&e)))?;
    rds.create_db_instance()
        .db_instance_identifier("orders-db")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("orders")
        .master_user_password("not-a-secret-1")
        .db_subnet_group_name("orders-db-subnets")
        .vpc_security_group_ids(&db_group)
        .port(5432)
        .send()
        .await
        .map_err(|e| format!("rds instance: {}", DisplayErrorContext(&e)))?;
    Ok(Account {
        app_vpc: vpcs[0].clone(),
        db_vpc: vpcs[1].clone(),
        db_group,
        tgw,
        tgw_table,
        app_attachment: attachments[0].clone(),
        db_attachment: attachments[1].clone(),
    })
}

/// A VPN connection from `vpc` (through a new virtual private gateway
/// attached to it) to a customer gateway at `cgw_ip`: (customer gateway,
/// VPN gateway, VPN connection).
pub async fn vpn_on_vgw(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    cgw_ip: &str,
) -> Result<(String, String, String), String> {
    use aws_sdk_ec2::types::GatewayType;
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let cgw = ec2
        .create_customer_gateway()
        .r#type(GatewayType::Ipsec1)
        .public_ip(cgw_ip)
        .bgp_asn(65000)
        .send()
        .await
        .map_err(|e| failed("create customer gateway", &DisplayErrorContext(e)))?;
    let cgw = cgw
        .customer_gateway()
        .and_then(|c| c.customer_gateway_id())
        .ok_or("create customer gateway: no id")?
        .to_string();
    let vgw = ec2
        .create_vpn_gateway()
        .r#type(GatewayType::Ipsec1)
        .send()
        .await
        .map_err(|e| failed("create VPN gateway", &DisplayErrorContext(e)))?;
    let vgw = vgw
        .vpn_gateway()
        .and_then(|g| g.vpn_gateway_id())
        .ok_or("create VPN gateway: no id")?
        .to_string();
    ec2.attach_vpn_gateway()
        .vpn_gateway_id(&vgw)
        .vpc_id(vpc)
        .send()
        .await
        .map_err(|e| failed("attach VPN gateway", &DisplayErrorContext(e)))?;
    let vpn = ec2
        .create_vpn_connection()
        .r#type("ipsec.1")
        .customer_gateway_id(&cgw)
        .vpn_gateway_id(&vgw)
        .send()
        .await
        .map_err(|e| failed("create VPN connection", &DisplayErrorContext(e)))?;
    let vpn = vpn
        .vpn_connection()
        .and_then(|v| v.vpn_connection_id())
        .ok_or("create VPN connection: no id")?
        .to_string();
    Ok((cgw, vgw, vpn))
}

/// moto fills no `vgwTelemetry` for VPN connections: inserts two tunnels
/// after each `<vpnConnectionId>` of a DescribeVpnConnections answer (first
/// UP, second DOWN) as AWS reports them, with outside addresses made up on
/// first sight and kept in `tunnels`.
pub fn add_vpn_telemetry(tunnels: &mut HashMap<String, [String; 2]>, xml: &str) -> String {
    let mut out = String::with_capacity(xml.len() + 512);
    let mut rest = xml;
    while let Some(start) = rest.find("<vpnConnectionId>") {
        let Some(len) = rest[start..].find("</vpnConnectionId>") else {
            break;
        };
        let end = start + len + "</vpnConnectionId>".len();
        let id = &rest[start + "<vpnConnectionId>".len()..start + len];
        let next = tunnels.len() * 2;
        let ips = tunnels
            .entry(id.to_string())
            .or_insert_with(|| {
                [
                    format!("203.0.{}.{}", next / 250, next % 250 + 1),
                    format!("203.0.{}.{}", (next + 1) / 250, (next + 1) % 250 + 1),
                ]
            })
            .clone();
        out.push_str(&rest[..end]);
        out.push_str("<vgwTelemetry>");
        for (ip, status) in ips.iter().zip(["UP", "DOWN"]) {
            out.push_str(&format!(
                "<item><outsideIpAddress>{ip}</outsideIpAddress><status>{status}</status>\
                 <statusMessage/><acceptedRouteCount>0</acceptedRouteCount></item>"
            ));
        }
        out.push_str("</vgwTelemetry>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Between switchboard and moto on loopback: passes every request on and
/// counts it by service and API (`ec2:CreateRoute`); adds the VPN tunnel
/// telemetry moto does not keep (`add_vpn_telemetry`).
pub struct CountingProxy {
    pub url: String,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    tunnels: Arc<Mutex<HashMap<String, [String; 2]>>>,
}

/// The API a request calls: the query protocol's `Action`, a JSON
/// protocol's `X-Amz-Target`, or Route 53's REST path.
fn api_of(service: &str, method: &str, path: &str, target: Option<&str>, body: &str) -> String {
    if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return format!("{service}:{action}");
    }
    if let Some(target) = target {
        return format!("{service}:{}", target.rsplit('.').next().unwrap_or(target));
    }
    let route53 = match (method, path) {
        ("GET", p) if p.ends_with("/hostedzonesbyvpc") => "ListHostedZonesByVPC",
        ("POST", p) if p.ends_with("/hostedzone") => "CreateHostedZone",
        ("POST", p) if p.ends_with("/rrset") || p.ends_with("/rrset/") => {
            "ChangeResourceRecordSets"
        }
        ("GET", p) if p.ends_with("/rrset") => "ListResourceRecordSets",
        ("POST", p) if p.contains("/tags/") => "ChangeTagsForResource",
        _ => return format!("{service}:{method} {path}"),
    };
    format!("{service}:{route53}")
}

/// Passes a request on to `upstream` as it came (less `Host` and
/// `Content-Length`, which the client sets) and returns the answer: what a
/// loopback front in front of moto does with everything it does not change.
pub async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    method: axum::http::Method,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<
    (
        axum::http::StatusCode,
        axum::http::HeaderMap,
        axum::body::Bytes,
    ),
    reqwest::Error,
> {
    let url = format!(
        "{upstream}{}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = http.request(method, url).body(body);
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await?;
    let status = answer.status();
    let headers = answer.headers().clone();
    Ok((status, headers, answer.bytes().await?))
}

impl CountingProxy {
    pub async fn start(upstream: &str) -> Result<CountingProxy, String> {
        use axum::body::Bytes;
        use axum::http::{HeaderMap, Method, StatusCode, Uri};
        use axum::response::IntoResponse;
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let tunnels = Arc::new(Mutex::new(HashMap::new()));
        let http = reqwest::Client::new();
        let upstream = upstream.to_string();
        let (seen, made_up) = (counts.clone(), tunnels.clone());
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (http, upstream, seen, made_up) = (
                    http.clone(),
                    upstream.clone(),
                    seen.clone(),
                    made_up.clone(),
                );
                async move {
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                    let service = header("authorization")
                        .and_then(|a| a.split("Credential=").nth(1))
                        .and_then(|c| c.split('/').nth(3))
                        .unwrap_or("?")
                        .to_string();
                    let api = api_of(
                        &service,
                        method.as_str(),
                        uri.path(),
                        header("x-amz-target"),
                        &String::from_utf8_lossy(&body),
                    );
                    let vpns = api == "ec2:DescribeVpnConnections";
                    if let Ok(mut c) = seen.lock() {
                        *c.entry(api).or_insert(0) += 1;
                    }
                    match forward(&http, &upstream, method, &uri, &headers, body).await {
                        Ok((status, headers, mut bytes)) => {
                            if let (true, Ok(xml), Ok(mut tunnels)) =
                                (vpns, std::str::from_utf8(&bytes), made_up.lock())
                            {
                                bytes = add_vpn_telemetry(&mut tunnels, xml).into();
                            }
                            let mut response = (status, bytes).into_response();
                            for (name, value) in &headers {
                                if name != "content-length" && name != "transfer-encoding" {
                                    response.headers_mut().insert(name, value.clone());
                                }
                            }
                            response
                        }
                        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("binding the proxy: {e}"))?;
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .map_err(|e| format!("the proxy's address: {e}"))?
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(CountingProxy {
            url,
            counts,
            tunnels,
        })
    }

    /// The tunnel outside addresses made up for a VPN connection (the UP
    /// one first), once a DescribeVpnConnections through the proxy saw it.
    pub fn tunnel_ips(&self, vpn: &str) -> Option<[String; 2]> {
        self.tunnels.lock().ok()?.get(vpn).cloned()
    }

    /// The calls counted since the last take, and a fresh count.
    pub fn take(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::api_of;

    #[test]
    fn calls_are_named_by_service_and_api_whatever_the_protocol() {
        let query = "Action=CreateRoute&Version=2016-11-15&RouteTableId=rtb-1";
        assert_eq!(api_of("ec2", "POST", "/", None, query), "ec2:CreateRoute");
        assert_eq!(
            api_of("lambda", "GET", "/2015-03-31/functions/", None, ""),
            "lambda:GET /2015-03-31/functions/"
        );
        assert_eq!(
            api_of(
                "directconnect",
                "POST",
                "/",
                Some("OvertureService.DescribeConnections"),
                "{}"
            ),
            "directconnect:DescribeConnections"
        );
        assert_eq!(
            api_of(
                "route53",
                "POST",
                "/2013-04-01/hostedzone/Z1/rrset/",
                None,
                "<xml/>"
            ),
            "route53:ChangeResourceRecordSets"
        );
        assert_eq!(
            api_of("route53", "GET", "/2013-04-01/hostedzonesbyvpc", None, ""),
            "route53:ListHostedZonesByVPC"
        );
    }
}
