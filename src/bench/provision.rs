//! `switchboard bench provision`: a connect request against real peers on
//! loopback, from approval to validated, over many runs. With `--clouds aws`
//! it is the AWS issue's request — a Lambda function in one VPC reaching a
//! Postgres RDS instance in another over a transit gateway — against moto's
//! server; with `--clouds aws,azure` the chapter's own — the Lambda function
//! reaching an Azure SQL server in East US over a site-to-site VPN — against
//! moto and the fake ARM (`bench::fake_arm`). Also the seeded account the tests
//! share (`tests/aws_provision.rs`, `tests/azure_connect.rs`). A counting
//! proxy between switchboard and moto says which AWS calls each run made
//! (and adds the VPN tunnel telemetry moto does not keep); the fake ARM
//! says which ARM calls and operation polls.

use crate::app::App;
use crate::bench::fake_arm::{seed_chapter, FakeArm, FAKE_TOKEN};
use crate::bench::moto::{seed, vpn_on_vgw, CountingProxy, MotoServer};
use crate::bench::BenchError;
use crate::config::{Config, DiscoveryProvider};
use crate::domain::{Cloud, UserId, WorkflowId};
use aws_sdk_ec2::error::DisplayErrorContext;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The request the bench and the tests make.
pub const REQUEST: &str = "connect lambda orders-fn to rds orders-db, 200 GB/month";
/// The chapter's request: the Lambda function to the Azure SQL server.
pub const AZURE_REQUEST: &str =
    "connect lambda orders-fn to azure sql orderdb.database.windows.net, 200 GB/month";
/// The Azure VPN gateway's public address: the AWS side's customer gateway.
pub const AZURE_GATEWAY_IP: &str = "52.170.10.1";
/// The calls one cloud's API saw in a run.
#[derive(Debug, Clone)]
pub struct CloudCalls {
    pub cloud: Cloud,
    /// By API (`ec2:CreateRoute`, `arm:PUT securityRules`).
    pub calls: BTreeMap<String, u64>,
    /// Of those, polls of long-running operations.
    pub polls: u64,
}

impl CloudCalls {
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// Figures of `bench provision`.
#[derive(Debug)]
pub struct ProvisionBench {
    pub request: &'static str,
    /// Approval to validated, one per run, sorted.
    pub runs: Vec<Duration>,
    /// Calls per cloud from approval to validated (the median run's).
    pub calls: Vec<CloudCalls>,
    /// Calls to revert one run's resources, over all clouds.
    pub revert_calls: u64,
}

impl ProvisionBench {
    pub fn p50(&self) -> Duration {
        self.runs
            .get(self.runs.len() / 2)
            .copied()
            .unwrap_or_default()
    }

    pub fn report(&self) -> String {
        let clouds: Vec<&str> = self.calls.iter().map(|c| c.cloud.as_str()).collect();
        let mut out = format!(
            "provision ({} on loopback, {} runs): \"{}\"\n\
             approval → validated p50 {:.0} ms, min {:.0} ms, max {:.0} ms\n",
            clouds.join(" + "),
            self.runs.len(),
            self.request,
            self.p50().as_secs_f64() * 1e3,
            self.runs.first().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            self.runs.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        );
        for cloud in &self.calls {
            out.push_str(&format!(
                "{} calls per run: {} ({} operation polls)\n",
                cloud.cloud,
                cloud.total(),
                cloud.polls
            ));
            for (api, n) in &cloud.calls {
                out.push_str(&format!("  {n:>3}  {api}\n"));
            }
        }
        out.push_str(&format!(
            "revert of one run's resources: {} calls\n",
            self.revert_calls
        ));
        out
    }
}

fn setup(what: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(what.to_string())
}

async fn state_of(app: &App, id: WorkflowId) -> Result<&'static str, BenchError> {
    let loaded = app
        .store
        .load_full(id)
        .await
        .map_err(setup)?
        .ok_or_else(|| setup(format!("{id} vanished")))?;
    Ok(loaded.0.state.status())
}

async fn wait_while(
    app: &App,
    id: WorkflowId,
    states: &[&str],
) -> Result<&'static str, BenchError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = state_of(app, id).await?;
        if !states.contains(&state) {
            return Ok(state);
        }
        if Instant::now() > deadline {
            return Err(setup(format!("{id} stayed {state} for 2 minutes")));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The ARM calls the fake saw since the last take, by method and resource
/// type (`arm:PUT securityRules`), and how many were operation polls.
fn take_arm_calls(arm: &FakeArm) -> CloudCalls {
    let seen = std::mem::take(&mut arm.state().seen);
    let mut calls = CloudCalls {
        cloud: Cloud::Azure,
        calls: BTreeMap::new(),
        polls: 0,
    };
    for request in seen {
        let (method, path) = request.split_once(' ').unwrap_or(("?", &request));
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let what = match segments.as_slice() {
            ["operations" | "operationResults", ..] => {
                calls.polls += 1;
                "operation poll"
            }
            // A resource's type is the segment before its name; a list's
            // the last one.
            [.., kind, _] if segments.len().is_multiple_of(2) => kind,
            [.., kind] => kind,
            [] => "?",
        };
        *calls
            .calls
            .entry(format!("arm:{method} {what}"))
            .or_insert(0) += 1;
    }
    calls
}

/// Which clouds `bench provision` can run: AWS alone, or AWS and Azure.
pub fn provision_clouds(clouds: &[Cloud]) -> Result<&'static str, String> {
    let mut sorted = clouds.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    match sorted.as_slice() {
        [Cloud::Aws] => Ok(REQUEST),
        [Cloud::Aws, Cloud::Azure] => Ok(AZURE_REQUEST),
        _ => Err(format!(
            "bench provision runs --clouds aws or --clouds aws,azure, not {}",
            clouds
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(",")
        )),
    }
}

/// Seeds moto (`moto_server`) and, with Azure, the fake ARM with the
/// chapter's estate at the end of a VPN from the app VPC; then `runs`
/// times: the request, approval, timed until validated, and its resources
/// reverted for the next run.
pub async fn provision(
    dir: &Path,
    moto_server: &str,
    runs: usize,
    clouds: &[Cloud],
) -> Result<ProvisionBench, BenchError> {
    let request = provision_clouds(clouds).map_err(setup)?;
    let moto = MotoServer::start(moto_server).map_err(setup)?;
    let sdk = moto.sdk("us-east-1");
    let role = moto.lambda_role("orders-fn-role").await.map_err(setup)?;
    let account = seed(&sdk, &role).await.map_err(setup)?;
    let proxy = CountingProxy::start(&moto.url).await.map_err(setup)?;
    // Only moto and the fake ARM on loopback are ever asked: their static
    // test credentials.
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let mut config = Config {
        db: dir.join("bench.db"),
        ..Config::default()
    };
    config.discovery.providers = vec![DiscoveryProvider::Aws];
    config.discovery.aws.regions = vec!["us-east-1".into()];
    config.discovery.aws.endpoint = Some(proxy.url.clone());
    let arm = if request == AZURE_REQUEST {
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let (_, _, vpn) = vpn_on_vgw(&ec2, &account.app_vpc, AZURE_GATEWAY_IP)
            .await
            .map_err(setup)?;
        let through_proxy = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk)
                .endpoint_url(&proxy.url)
                .build(),
        );
        through_proxy
            .describe_vpn_connections()
            .vpn_connection_ids(&vpn)
            .send()
            .await
            .map_err(|e| setup(DisplayErrorContext(e)))?;
        let [up, _] = proxy
            .tunnel_ips(&vpn)
            .ok_or_else(|| setup("the proxy made up no tunnels for the VPN"))?;
        // ARM operations take a few polls, as they do on Azure.
        let arm = FakeArm::start(2).await.map_err(setup)?;
        seed_chapter(&arm, &up);
        std::env::set_var("AZURE_ACCESS_TOKEN", FAKE_TOKEN);
        config.discovery.providers.push(DiscoveryProvider::Azure);
        config.discovery.azure.subscriptions = vec!["sub-1".into()];
        config.discovery.azure.endpoint = Some(arm.base.clone());
        config.discovery.azure.poll_ms = 20;
        Some(arm)
    } else {
        None
    };
    let app = App::open(config).await?;
    app.topology.refresh().await.map_err(setup)?;
    let cancel = CancellationToken::new();
    let engine = app.engine.clone();
    let runner = tokio::spawn({
        let cancel = cancel.clone();
        async move { engine.run(cancel).await }
    });
    let (requester, approver) = (
        UserId::new("alice"),
        UserId::new(crate::config::DEFAULT_APPROVER),
    );
    let take_calls = || {
        let mut calls = vec![CloudCalls {
            cloud: Cloud::Aws,
            calls: proxy.take(),
            polls: 0,
        }];
        calls.extend(arm.as_ref().map(take_arm_calls));
        calls
    };
    let mut timed = Vec::with_capacity(runs);
    let mut revert_calls = 0;
    for _ in 0..runs {
        let id = app.engine.submit(&requester, "bench", request).await?;
        let state = wait_while(&app, id, &["running"]).await?;
        if state != "waiting_approval" {
            return Err(setup(format!("{id} is {state}, not waiting for approval")));
        }
        take_calls();
        let started = Instant::now();
        app.engine.approve(id, &approver).await?;
        let state = wait_while(&app, id, &["running", "waiting_approval"]).await?;
        let took = started.elapsed();
        if state != "completed" {
            let steps = app
                .store
                .load_full(id)
                .await
                .map_err(setup)?
                .map(|(_, s)| s)
                .unwrap_or_default();
            let errors: Vec<String> = steps.iter().filter_map(|s| s.error.clone()).collect();
            return Err(setup(format!("{id} ended {state}: {}", errors.join("; "))));
        }
        timed.push((took, take_calls()));
        for r in app.store.resources(id, true).await.map_err(setup)? {
            app.provider.revert(&r.resource_id).await.map_err(setup)?;
            app.store
                .mark_reverted(&r.idempotency_key)
                .await
                .map_err(setup)?;
        }
        revert_calls = take_calls().iter().map(CloudCalls::total).sum();
    }
    cancel.cancel();
    let _ = runner.await;
    timed.sort_by_key(|(took, _)| *took);
    let calls = timed
        .get(timed.len() / 2)
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    Ok(ProvisionBench {
        request,
        runs: timed.into_iter().map(|(took, _)| took).collect(),
        calls,
        revert_calls,
    })
}
