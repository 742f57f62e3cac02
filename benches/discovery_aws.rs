//! AWS discovery at scale against moto's server: seeds 2,100 VPCs over three
//! regions (each region in ten concurrent batches with a transit gateway
//! attaching every VPC, two VPN connections, an internet gateway; plus VPC
//! peerings), then times one discovery and says where the time went: waiting
//! for the API (sum of per-request latencies, requests overlapping) versus
//! turning answers into the inventory. Needs SWITCHBOARD_MOTO_SERVER (set by
//! ./test's install step); says so and exits otherwise.
//!
//! Run: cargo bench --bench discovery_aws (or, without a release build of
//! the SDK, cargo test --bench discovery_aws -- --bench)

#[path = "../tests/moto/mod.rs"]
mod moto;

use std::time::Instant;
use switchboard::providers::aws::{AwsDiscovery, AwsDiscoveryConfig};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const BATCHES_PER_REGION: usize = 10;
const VPCS_PER_BATCH: usize = 70;
const PEERINGS_PER_BATCH: usize = 5;

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` passes nothing
    // and must not spend minutes seeding here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let Some(moto) = moto::Moto::start() else {
        println!("discovery_aws: skipped (set SWITCHBOARD_MOTO_SERVER to moto_server; ./test installs it)");
        return;
    };
    moto::fake_credentials_in_env();

    let seeding = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for region in REGIONS {
        for batch in 0..BATCHES_PER_REGION {
            let ec2 = moto.ec2(region);
            tasks.spawn(async move {
                let cgw = format!("198.51.{}.{}", batch, region.len());
                let s = moto::seed_region(
                    &ec2,
                    &format!("{region}-b{batch}"),
                    VPCS_PER_BATCH,
                    true,
                    &cgw,
                )
                .await;
                for pair in s.vpcs.chunks(2).take(PEERINGS_PER_BATCH) {
                    if let [a, b] = pair {
                        moto::peer(&ec2, a, &ec2, region, b).await;
                    }
                }
                s.vpcs.len()
            });
        }
    }
    let mut vpcs = 0;
    while let Some(done) = tasks.join_next().await {
        vpcs += done.expect("seeding task");
    }
    let seeded = seeding.elapsed();
    println!(
        "seeding: {vpcs} VPCs, {} TGWs, {} VPN connections, {} peerings over {} regions in {:.1} s",
        REGIONS.len() * BATCHES_PER_REGION,
        REGIONS.len() * BATCHES_PER_REGION * 2,
        REGIONS.len() * BATCHES_PER_REGION * PEERINGS_PER_BATCH,
        REGIONS.len(),
        seeded.as_secs_f64()
    );

    let front = moto::Front::start(&moto).await;
    let discovery = AwsDiscovery::new(AwsDiscoveryConfig {
        regions: REGIONS.iter().map(|r| r.to_string()).collect(),
        // Through the front: moto lacks DescribeVirtualInterfaces and VPN
        // tunnel telemetry (one loopback hop more per request).
        endpoint: Some(front.url.clone()),
        timeout_secs: 120,
        max_attempts: 3,
    });
    let (inv, stats) = discovery.discover().await.expect("discovery");
    assert!(inv.problems.is_empty(), "{:#?}", inv.problems);
    let wall = stats.wall.as_secs_f64();
    println!(
        "discovery: {} networks, {} links, {} resources read in {:.2} s wall = {:.0} resources/s",
        inv.networks.len(),
        inv.links.len(),
        inv.resources_read,
        wall,
        inv.resources_read as f64 / wall
    );
    println!(
        "  API: {} requests, summed latency {:.2} s (mean {:.1} ms; requests overlap, so the sum can exceed wall)",
        stats.api_calls,
        stats.api_wait.as_secs_f64(),
        stats.api_wait.as_secs_f64() * 1000.0 / stats.api_calls.max(1) as f64
    );
    println!(
        "  ours: mapping {:.1} ms ({:.2} % of wall); the rest of wall is awaiting the API \
         (which includes moto's work, the front's hop and the SDK's XML parsing)",
        stats.mapping.as_secs_f64() * 1000.0,
        stats.mapping.as_secs_f64() / wall * 100.0
    );
}
