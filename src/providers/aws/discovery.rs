//! AWS discovery: reads VPCs, subnets, route tables, security groups,
//! internet gateways, transit gateways and their attachments, VPC peerings,
//! VPN gateways and connections (EC2) and Direct Connect connections, virtual
//! interfaces and gateway associations, and the services requests name
//! (Lambda functions, RDS instances and Aurora clusters, EC2 instances), in
//! every configured region, and hands the answers to `map` (pure) to become
//! an [`Inventory`].
//!
//! This module is the IO edge: SDK clients, credentials (the standard chain,
//! loaded when `inventory()` runs, never logged), retries and timeouts (the
//! SDK's standard retry mode with `max_attempts`, so throttling —
//! `RequestLimitExceeded`, HTTP 503 — is retried with jittered backoff),
//! bounded concurrency across regions and pagination (the SDK paginators).
//! A failing API in a region becomes one `problems` entry naming region and
//! API while everything else goes on; `Err` only when no API answered at all.
//! The endpoint can be overridden in the config or with the SDK's own
//! `AWS_ENDPOINT_URL` (how tests point it at moto).

use super::map;
use crate::topology::{DiscoveryError, Inventory, InventorySource};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::ProvideCredentials;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use serde::Deserialize;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

type HttpResponse = aws_sdk_ec2::config::http::HttpResponse;

const PROVIDER: &str = "aws";
/// Regions read at once. Each region runs its ~18 list calls concurrently,
/// so this bounds the requests in flight to about 4 × 18.
const REGION_CONCURRENCY: usize = 4;
/// EC2's largest page for the Describe calls used here (1000), except
/// DescribeRouteTables (100). Fewer pages, fewer round trips.
const PAGE: i32 = 1000;
const ROUTE_TABLE_PAGE: i32 = 100;
/// Where DescribeRegions and the global Direct Connect calls go when neither
/// the config nor the environment names a region.
const HOME_REGION: &str = "us-east-1";

/// `[discovery.aws]` in the config file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsDiscoveryConfig {
    /// Empty: every region enabled for the account (DescribeRegions).
    pub regions: Vec<String>,
    /// Overrides every AWS endpoint (moto, a VPC endpoint, a proxy). Without
    /// it the SDK still honours `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Per API call, retries included.
    pub timeout_secs: u64,
    /// Attempts per request (first try included) on throttling and
    /// transient errors.
    pub max_attempts: u32,
}

impl Default for AwsDiscoveryConfig {
    fn default() -> Self {
        AwsDiscoveryConfig {
            regions: Vec::new(),
            endpoint: None,
            timeout_secs: 30,
            max_attempts: 5,
        }
    }
}

/// Figures of one discovery run, for the benchmark and the logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsRunStats {
    pub wall: Duration,
    /// HTTP requests that answered (pages; retries inside the SDK not counted).
    pub api_calls: u64,
    /// Sum of every call's latency. Calls overlap (regions and APIs run
    /// concurrently), so this can exceed `wall`.
    pub api_wait: Duration,
    /// Time spent turning the answers into the inventory (`map`).
    pub mapping: Duration,
}

pub struct AwsDiscovery {
    config: AwsDiscoveryConfig,
}

impl AwsDiscovery {
    pub fn new(config: AwsDiscoveryConfig) -> AwsDiscovery {
        AwsDiscovery { config }
    }

    /// The inventory and how the run went.
    pub async fn discover(&self) -> Result<(Inventory, AwsRunStats), DiscoveryError> {
        let started = Instant::now();
        let sdk = self.sdk_config().await?;
        check_credentials(&sdk).await?;
        let meter = Arc::new(Meter::default());
        let home = sdk
            .region()
            .cloned()
            .unwrap_or_else(|| Region::from_static(HOME_REGION));
        let endpoint = sdk
            .endpoint_url()
            .map(str::to_string)
            .unwrap_or_else(|| "the AWS regional endpoints".to_string());

        let regions = if self.config.regions.is_empty() {
            let ec2 = ec2_client(&sdk, home.clone());
            let answer = call(&meter, ec2.describe_regions().send())
                .await
                .map_err(|f| {
                    f.at(home.as_ref(), "DescribeRegions")
                        .into_error(&endpoint, 0)
                })?;
            answer
                .regions
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| r.region_name)
                .collect()
        } else {
            self.config.regions.clone()
        };
        info!(regions = regions.len(), "aws discovery");

        let limit = Arc::new(Semaphore::new(REGION_CONCURRENCY));
        let mut tasks = JoinSet::new();
        for region in regions {
            let (sdk, meter, limit) = (sdk.clone(), meter.clone(), limit.clone());
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring only fails if
                // that changes; read anyway rather than drop the region.
                let _permit = limit.acquire_owned().await.ok();
                read_region(region, &sdk, &meter).await
            });
        }
        let mut reads = Vec::new();
        let mut failures = Vec::new();
        let mut answered = 0;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(outcome) => {
                    answered += outcome.answered;
                    failures.extend(outcome.failures);
                    reads.push(outcome.read);
                }
                Err(e) => failures.push(ApiFailure {
                    region: "?".into(),
                    api: "region reader",
                    kind: FailureKind::BadResponse,
                    detail: e.to_string(),
                }),
            }
        }
        reads.sort_by(|a, b| a.region.cmp(&b.region));

        let dx = dx_client(&sdk, home.clone());
        let (associations, dx_failures, dx_answered) =
            dx_associations(&dx, home.as_ref(), &reads, &meter).await;
        answered += dx_answered;
        failures.extend(dx_failures);

        if answered == 0 {
            failures.sort_by(|a, b| a.region.cmp(&b.region));
            let more = failures.len().saturating_sub(1);
            return Err(match failures.into_iter().next() {
                Some(first) => first.into_error(&endpoint, more),
                None => DiscoveryError::Config {
                    provider: PROVIDER,
                    detail: "no regions to read".into(),
                },
            });
        }

        let problems = failures.iter().map(ApiFailure::to_string).collect();
        let mapping_started = Instant::now();
        let inventory = map::inventory(&reads, &associations, problems);
        let stats = AwsRunStats {
            wall: started.elapsed(),
            api_calls: meter.calls.load(Ordering::Relaxed),
            api_wait: Duration::from_nanos(meter.wait_nanos.load(Ordering::Relaxed)),
            mapping: mapping_started.elapsed(),
        };
        info!(
            networks = inventory.networks.len(),
            links = inventory.links.len(),
            resources = inventory.resources_read,
            problems = inventory.problems.len(),
            api_calls = stats.api_calls,
            wall_ms = stats.wall.as_millis() as u64,
            "aws discovery done"
        );
        Ok((inventory, stats))
    }

    async fn sdk_config(&self) -> Result<SdkConfig, DiscoveryError> {
        sdk_config(&self.config).await
    }
}

/// The SDK configuration both discovery and the actor use: rustls on ring,
/// the standard retry mode with `max_attempts`, per-operation timeouts, the
/// endpoint override, credentials and region from the standard chains.
pub(super) async fn sdk_config(c: &AwsDiscoveryConfig) -> Result<SdkConfig, DiscoveryError> {
    if c.max_attempts == 0 || c.timeout_secs == 0 {
        return Err(DiscoveryError::Config {
            provider: PROVIDER,
            detail: format!(
                "max_attempts ({}) and timeout_secs ({}) must be at least 1",
                c.max_attempts, c.timeout_secs
            ),
        });
    }
    let timeout = Duration::from_secs(c.timeout_secs);
    // rustls on ring, which the build already has for reqwest: the SDK's
    // default client would add aws-lc (a C build) for nothing.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // The loader's own region chain (it reuses this HTTP client; a
        // separate RegionProviderChain would not, and panics without one).
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(c.max_attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .build(),
        );
    if let Some(endpoint) = &c.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    Ok(loader.load().await)
}

#[async_trait::async_trait]
impl InventorySource for AwsDiscovery {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn inventory(&self) -> Result<Inventory, DiscoveryError> {
        self.discover().await.map(|(inventory, _)| inventory)
    }
}

/// Resolves credentials once, up front: without them every call would fail
/// with the same less helpful error, region after region.
async fn check_credentials(sdk: &SdkConfig) -> Result<(), DiscoveryError> {
    let missing = |detail: String| DiscoveryError::Credentials {
        provider: PROVIDER,
        detail,
    };
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| missing("no credentials provider configured".into()))?;
    provider.provide_credentials().await.map_err(|e| {
        missing(format!(
            "the standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and \
             ~/.aws files, web identity, container and instance metadata) found none: {}",
            DisplayErrorContext(&e)
        ))
    })?;
    Ok(())
}

fn ec2_client(sdk: &SdkConfig, region: Region) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(sdk)
            .region(region)
            .build(),
    )
}

fn dx_client(sdk: &SdkConfig, region: Region) -> aws_sdk_directconnect::Client {
    aws_sdk_directconnect::Client::from_conf(
        aws_sdk_directconnect::config::Builder::from(sdk)
            .region(region)
            .build(),
    )
}

/// Latency of every answered request, summed across tasks.
#[derive(Default)]
struct Meter {
    calls: AtomicU64,
    wait_nanos: AtomicU64,
}

impl Meter {
    fn record(&self, took: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.wait_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FailureKind {
    AccessDenied,
    Unreachable,
    BadResponse,
}

/// One API that failed in one region.
#[derive(Debug)]
struct ApiFailure {
    region: String,
    api: &'static str,
    kind: FailureKind,
    detail: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            FailureKind::AccessDenied => "access denied",
            FailureKind::Unreachable => "no answer",
            FailureKind::BadResponse => "unexpected answer",
        };
        write!(f, "{}: {}: {what}: {}", self.region, self.api, self.detail)
    }
}

/// A failed call before it is placed (region, API).
struct CallFailure {
    kind: FailureKind,
    detail: String,
}

impl CallFailure {
    fn at(self, region: &str, api: &'static str) -> ApiFailure {
        ApiFailure {
            region: region.to_string(),
            api,
            kind: self.kind,
            detail: self.detail,
        }
    }
}

impl ApiFailure {
    /// The error for a run where nothing answered, this being the first of
    /// `1 + more` failures.
    fn into_error(self, endpoint: &str, more: usize) -> DiscoveryError {
        let api = self.api;
        let mut detail = format!("{}: {}", self.region, self.detail);
        if more > 0 {
            detail.push_str(&format!(" (and {more} more failures)"));
        }
        match self.kind {
            FailureKind::AccessDenied => DiscoveryError::AccessDenied {
                provider: PROVIDER,
                api: api.to_string(),
                detail,
            },
            FailureKind::Unreachable => DiscoveryError::Unreachable {
                provider: PROVIDER,
                endpoint: endpoint.to_string(),
                detail: format!("{api} in {detail}"),
            },
            FailureKind::BadResponse => DiscoveryError::BadResponse {
                provider: PROVIDER,
                api: api.to_string(),
                detail,
            },
        }
    }
}

/// Error codes that mean "you may not" (or "not in this region"), not "try
/// again".
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthFailure",
    "OptInRequired",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
];

/// What an SDK error says, for discovery and the actor to classify each
/// their own way.
pub(super) enum SdkFailure {
    /// AWS answered with an error: its code, HTTP status and the line
    /// `<code> (HTTP <status>) <message>`.
    Service {
        code: String,
        status: u16,
        detail: String,
    },
    /// No answer: a timeout or a connection that failed.
    Transport(String),
    /// An answer that could not be read.
    Other(String),
}

impl SdkFailure {
    pub(super) fn of<E>(err: &SdkError<E, HttpResponse>) -> SdkFailure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match err {
            SdkError::ServiceError(ctx) => {
                let code = ctx.err().code().unwrap_or("no error code").to_string();
                let status = ctx.raw().status().as_u16();
                let message = ctx.err().message().unwrap_or("");
                SdkFailure::Service {
                    detail: format!("{code} (HTTP {status}) {message}")
                        .trim_end()
                        .to_string(),
                    code,
                    status,
                }
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
                SdkFailure::Transport(DisplayErrorContext(err).to_string())
            }
            _ => SdkFailure::Other(DisplayErrorContext(err).to_string()),
        }
    }
}

fn classify<E>(err: &SdkError<E, HttpResponse>) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, detail) = match SdkFailure::of(err) {
        SdkFailure::Service {
            code,
            status,
            detail,
        } => {
            let kind = if DENIED_CODES.contains(&code.as_str()) || status == 403 {
                FailureKind::AccessDenied
            } else if status >= 500 || code.contains("Throttl") || code == "RequestLimitExceeded" {
                FailureKind::Unreachable
            } else {
                FailureKind::BadResponse
            };
            (kind, detail)
        }
        SdkFailure::Transport(detail) => (FailureKind::Unreachable, detail),
        SdkFailure::Other(detail) => (FailureKind::BadResponse, detail),
    };
    CallFailure { kind, detail }
}

async fn call<T, E>(
    meter: &Meter,
    request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T, CallFailure>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let answer = request.await;
    meter.record(started.elapsed());
    answer.map_err(|e| classify(&e))
}

/// Every page of a paginated call, each timed on its own.
async fn pages<P, E>(
    meter: &Meter,
    mut stream: PaginationStream<Result<P, SdkError<E, HttpResponse>>>,
) -> Result<Vec<P>, CallFailure>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut out = Vec::new();
    loop {
        let started = Instant::now();
        match stream.next().await {
            None => return Ok(out),
            Some(page) => {
                meter.record(started.elapsed());
                out.push(page.map_err(|e| classify(&e))?);
            }
        }
    }
}

struct RegionOutcome {
    read: map::RegionRead,
    failures: Vec<ApiFailure>,
    /// APIs that answered.
    answered: u32,
}

impl RegionOutcome {
    /// The answer, or nothing and a failure on record.
    fn take<T: Default>(&mut self, api: &'static str, answer: Result<T, CallFailure>) -> T {
        match answer {
            Ok(v) => {
                self.answered += 1;
                v
            }
            Err(f) => {
                let failure = f.at(&self.read.region, api);
                warn!(region = %failure.region, api, "aws discovery: {}", failure.detail);
                self.failures.push(failure);
                T::default()
            }
        }
    }
}

/// Flattens pages into their items.
fn items<P, T>(
    answer: Result<Vec<P>, CallFailure>,
    f: impl Fn(P) -> Option<Vec<T>>,
) -> Result<Vec<T>, CallFailure> {
    answer.map(|pages| pages.into_iter().filter_map(f).flatten().collect())
}

async fn read_region(region: String, sdk: &SdkConfig, meter: &Meter) -> RegionOutcome {
    debug!(region = %region, "aws discovery: reading region");
    let ec2 = ec2_client(sdk, Region::new(region.clone()));
    let dx = dx_client(sdk, Region::new(region.clone()));
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .build(),
    );
    let rds = aws_sdk_rds::Client::from_conf(
        aws_sdk_rds::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .build(),
    );
    let m = meter;
    // The services requests name, read beside the network.
    let (functions, db_instances, db_clusters, instances) = tokio::join!(
        pages(m, lambda.list_functions().into_paginator().send()),
        pages(
            m,
            rds.describe_db_instances()
                .into_paginator()
                .page_size(100)
                .send()
        ),
        pages(
            m,
            rds.describe_db_clusters()
                .into_paginator()
                .page_size(100)
                .send()
        ),
        pages(
            m,
            ec2.describe_instances()
                .into_paginator()
                .page_size(PAGE)
                .send()
        ),
    );
    let (
        vpcs,
        subnets,
        route_tables,
        sgs,
        cgws,
        igws,
        tgws,
        tgw_vpc,
        tgw_peer,
        pcx,
        vgws,
        vpns,
        dx_conns,
        vifs,
    ) = tokio::join!(
        pages(
            m,
            ec2.describe_vpcs().into_paginator().page_size(PAGE).send()
        ),
        pages(
            m,
            ec2.describe_subnets()
                .into_paginator()
                .page_size(PAGE)
                .send()
        ),
        pages(
            m,
            ec2.describe_route_tables()
                .into_paginator()
                .page_size(ROUTE_TABLE_PAGE)
                .send()
        ),
        pages(
            m,
            ec2.describe_security_groups()
                .into_paginator()
                .page_size(PAGE)
                .send()
        ),
        // Customer gateways, VPN gateways and VPN connections are not
        // paginated by EC2: one call answers all.
        call(m, ec2.describe_customer_gateways().send()),
        pages(
            m,
            ec2.describe_internet_gateways()
                .into_paginator()
                .page_size(PAGE)
                .send()
        ),
        pages(
            m,
            ec2.describe_transit_gateways()
                .into_paginator()
                .page_size(PAGE)
                .send()
        ),
        pages(
            m,
            ec2.describe_transit_gateway_vpc_attachments()
                .into_paginator()
                .page_size(PAGE)
                .send()
        ),
        pages(
            m,
            ec2.describe_transit_gateway_peering_attachments()
                .into_paginator()
                .page_size(PAGE)
                .send()
        ),
        pages(
            m,
            ec2.describe_vpc_peering_connections()
                .into_paginator()
                .page_size(PAGE)
                .send()
        ),
        call(m, ec2.describe_vpn_gateways().send()),
        call(m, ec2.describe_vpn_connections().send()),
        // Neither Direct Connect list is paginated.
        call(m, dx.describe_connections().send()),
        call(m, dx.describe_virtual_interfaces().send()),
    );
    let mut out = RegionOutcome {
        read: map::RegionRead {
            region,
            ..map::RegionRead::default()
        },
        failures: Vec::new(),
        answered: 0,
    };
    out.read.vpcs = out.take("DescribeVpcs", items(vpcs, |p| p.vpcs));
    out.read.subnets = out.take("DescribeSubnets", items(subnets, |p| p.subnets));
    out.read.functions = out.take("Lambda ListFunctions", items(functions, |p| p.functions));
    out.read.db_instances = out.take(
        "RDS DescribeDBInstances",
        items(db_instances, |p| p.db_instances),
    );
    out.read.db_clusters = out.take(
        "RDS DescribeDBClusters",
        items(db_clusters, |p| p.db_clusters),
    );
    out.read.instances = out.take(
        "DescribeInstances",
        items(instances, |p| {
            p.reservations.map(|rs| {
                rs.into_iter()
                    .flat_map(|r| r.instances.unwrap_or_default())
                    .collect()
            })
        }),
    );
    out.read.route_tables = out.take(
        "DescribeRouteTables",
        items(route_tables, |p| p.route_tables),
    );
    out.read.security_groups = out
        .take("DescribeSecurityGroups", items(sgs, |p| p.security_groups))
        .len() as u64;
    out.read.customer_gateways = out.take(
        "DescribeCustomerGateways",
        cgws.map(|a| a.customer_gateways.unwrap_or_default()),
    );
    out.read.internet_gateways = out.take(
        "DescribeInternetGateways",
        items(igws, |p| p.internet_gateways),
    );
    out.read.transit_gateways = out.take(
        "DescribeTransitGateways",
        items(tgws, |p| p.transit_gateways),
    );
    out.read.tgw_vpc_attachments = out.take(
        "DescribeTransitGatewayVpcAttachments",
        items(tgw_vpc, |p| p.transit_gateway_vpc_attachments),
    );
    out.read.tgw_peerings = out.take(
        "DescribeTransitGatewayPeeringAttachments",
        items(tgw_peer, |p| p.transit_gateway_peering_attachments),
    );
    out.read.vpc_peerings = out.take(
        "DescribeVpcPeeringConnections",
        items(pcx, |p| p.vpc_peering_connections),
    );
    out.read.vpn_gateways = out.take(
        "DescribeVpnGateways",
        vgws.map(|a| a.vpn_gateways.unwrap_or_default()),
    );
    out.read.vpn_connections = out.take(
        "DescribeVpnConnections",
        vpns.map(|a| a.vpn_connections.unwrap_or_default()),
    );
    out.read.dx_connections = out.take(
        "DirectConnect DescribeConnections",
        dx_conns.map(|a| a.connections.unwrap_or_default()),
    );
    out.read.dx_interfaces = out.take(
        "DirectConnect DescribeVirtualInterfaces",
        vifs.map(|a| a.virtual_interfaces.unwrap_or_default()),
    );
    out
}

/// The associations of every Direct Connect gateway a VIF uses (a global
/// API, asked in the home region), following `nextToken`.
async fn dx_associations(
    dx: &aws_sdk_directconnect::Client,
    home: &str,
    reads: &[map::RegionRead],
    meter: &Meter,
) -> (
    Vec<aws_sdk_directconnect::types::DirectConnectGatewayAssociation>,
    Vec<ApiFailure>,
    u32,
) {
    let mut gateways: Vec<&str> = reads
        .iter()
        .flat_map(|r| &r.dx_interfaces)
        .filter_map(|v| v.direct_connect_gateway_id())
        .filter(|g| !g.is_empty())
        .collect();
    gateways.sort_unstable();
    gateways.dedup();
    let (mut out, mut failures, mut answered) = (Vec::new(), Vec::new(), 0);
    for gateway in gateways {
        let mut token = None;
        loop {
            let request = dx
                .describe_direct_connect_gateway_associations()
                .direct_connect_gateway_id(gateway)
                .set_next_token(token.take())
                .send();
            match call(meter, request).await {
                Ok(answer) => {
                    answered += 1;
                    out.extend(
                        answer
                            .direct_connect_gateway_associations
                            .unwrap_or_default(),
                    );
                    match answer.next_token.filter(|t| !t.is_empty()) {
                        Some(next) => token = Some(next),
                        None => break,
                    }
                }
                Err(f) => {
                    failures.push(f.at(
                        home,
                        "DirectConnect DescribeDirectConnectGatewayAssociations",
                    ));
                    break;
                }
            }
        }
    }
    (out, failures, answered)
}
