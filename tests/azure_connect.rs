//! The chapter's own request, end to end through the console binary: a
//! Lambda function in AWS us-east-1 (moto behind its front) reaching an
//! Azure SQL server in East US (`bench::fake_arm::FakeArm`, seeded with
//! `seed_chapter`) through its private endpoint, over a site-to-site VPN
//! whose Azure side ends at the AWS VPN's UP tunnel (discovery joins the two
//! clouds on that address). After approval: the NSG rule, the SQL firewall
//! rule and the route in the Azure fake; the VGW route and the Route 53
//! record in moto; `resources` lists each with its cloud. Killed (-9) while
//! the NSG rule's operation runs and restarted, the retry finds its own
//! rule and leaves exactly one of each.

mod common;
mod moto;

use common::{blocking, settled, Lab};
use moto::{route_target, tunnel_ips, vpn_on_vgw, Front, Moto, SeededAccount};
use std::time::{Duration, Instant};
use switchboard::bench::fake_arm::{seed_chapter, FakeArm, FAKE_TOKEN};

/// The Azure VPN gateway's public address: the AWS side's customer gateway.
const GATEWAY_IP: &str = "52.170.10.1";
pub const REQUEST: &str =
    "connect lambda orders-fn to azure sql orderdb.database.windows.net, 200 GB/month";

struct World {
    moto: Moto,
    _front: Front,
    ec2: aws_sdk_ec2::Client,
    app_vpc: String,
    vgw: String,
    azure: FakeArm,
    lab: Lab,
}

impl World {
    /// `None` when moto is not installed (and peers are not required).
    async fn start() -> Option<World> {
        let SeededAccount {
            moto,
            front,
            account,
        } = SeededAccount::start().await?;
        let sdk = moto.sdk("us-east-1");
        let ec2 = moto.ec2("us-east-1");
        let (_, vgw, vpn) = vpn_on_vgw(&ec2, &account.app_vpc, GATEWAY_IP).await;
        // The front makes up the tunnels' outside addresses on first sight.
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk)
                .endpoint_url(&front.url)
                .build(),
        )
        .describe_vpn_connections()
        .vpn_connection_ids(&vpn)
        .send()
        .await
        .expect("describe vpn");
        let [up, _down] = tunnel_ips(&front, &vpn).expect("tunnel addresses");
        let azure = FakeArm::start(2).await.expect("fake arm");
        seed_chapter(&azure, &up);
        let lab = Lab::new()
            .with_env("AWS_ENDPOINT_URL", &front.url)
            .with_env("AWS_ACCESS_KEY_ID", "testing")
            .with_env("AWS_SECRET_ACCESS_KEY", "testing")
            .with_env("AWS_EC2_METADATA_DISABLED", "true")
            .with_env("AZURE_ACCESS_TOKEN", FAKE_TOKEN)
            .with_env("SWITCHBOARD_CONFIG", "switchboard.toml");
        lab.write(
            "switchboard.toml",
            &format!(
                "[discovery]\nproviders = [\"aws\", \"azure\"]\n\n[discovery.aws]\nregions = [\"us-east-1\"]\nmax_attempts = 3\n\n\
                 [discovery.azure]\nsubscriptions = [\"sub-1\"]\nendpoint = \"{}\"\npoll_ms = 20\n",
                azure.base
            ),
        );
        Some(World {
            moto,
            _front: front,
            ec2,
            app_vpc: account.app_vpc,
            vgw,
            azure,
            lab,
        })
    }

    /// switchboard's NSG rules (not the one someone had there).
    fn our_rules(&self) -> Vec<serde_json::Value> {
        self.azure.state().matching("/securityrules/sb-")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chapters_request_changes_aws_and_azure() {
    let Some(world) = World::start().await else {
        return;
    };
    let lab = &world.lab;
    let out = blocking(|| lab.console("alice", &format!("discover\n{REQUEST}\n")));
    let show = blocking(|| lab.show("wf-1"));
    assert_eq!(show["state"], "waiting_approval", "{out}\n{show:#}");
    for call in [
        "network:securityRules PUT in nsg-data Tcp/1433 from 10.61.0.0/16 to 10.20.1.5, first free priority 3000–3999",
        "sql:firewallRules PUT on orderdb for 10.61.0.0/16",
        "network:routes PUT 10.61.0.0/16 → VirtualNetworkGateway",
    ] {
        assert!(out.contains(call), "the card lists '{call}':\n{out}");
    }

    let out = blocking(|| lab.console("approver", "approve wf-1\n"));
    let show = blocking(|| settled(lab, "wf-1"));
    assert_eq!(show["state"], "completed", "{out}\n{show:#}");

    let rules = world.our_rules();
    assert_eq!(rules.len(), 1, "{rules:#?}");
    let rule = &rules[0]["properties"];
    assert_eq!(rule["priority"], 3001, "3000 was someone else's: {rule:#}");
    assert_eq!(rule["sourceAddressPrefix"], "10.61.0.0/16");
    assert_eq!(rule["destinationAddressPrefix"], "10.20.1.5");
    assert_eq!(rule["destinationPortRange"], "1433");
    assert!(rule["description"]
        .as_str()
        .is_some_and(|d| d.starts_with("switchboard wf-1/provision/0 ")));
    let firewall = world.azure.state().matching("/firewallrules/sb-");
    assert_eq!(firewall.len(), 1, "{firewall:#?}");
    assert_eq!(firewall[0]["properties"]["startIpAddress"], "10.61.0.0");
    assert_eq!(firewall[0]["properties"]["endIpAddress"], "10.61.255.255");
    let routes = world.azure.state().matching("/routetables/rt-data/routes/");
    assert_eq!(routes.len(), 1, "{routes:#?}");
    assert_eq!(routes[0]["properties"]["addressPrefix"], "10.61.0.0/16");
    assert_eq!(
        routes[0]["properties"]["nextHopType"],
        "VirtualNetworkGateway"
    );

    assert_eq!(
        route_target(&world.ec2, &world.app_vpc, "10.20.0.0/16").await,
        vec![world.vgw.clone()]
    );
    let records = moto::records(&world.moto).await;
    assert!(
        records.iter().any(|(name, kind, value)| name
            == "orderdb.privatelink.database.windows.net."
            && kind == "A"
            && value == "10.20.1.5"),
        "{records:?}"
    );

    let listed = blocking(|| lab.json(&["resources", "--format", "json"]));
    let listed = listed.as_array().expect("resources");
    let mut providers: Vec<&str> = listed
        .iter()
        .map(|r| r["provider"].as_str().unwrap_or(""))
        .collect();
    providers.sort_unstable();
    assert_eq!(providers, ["aws", "aws", "azure", "azure"], "{listed:#?}");
    assert!(listed.iter().all(|r| r["present"] == true), "{listed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_an_azure_operation_runs_and_restarted_leaves_one_of_each() {
    let Some(world) = World::start().await else {
        return;
    };
    let lab = &world.lab;
    blocking(|| lab.console("alice", &format!("discover\n{REQUEST}\n")));
    // The NSG rule's operation never finishes while the process lives.
    world.azure.state().hang_next = true;
    let (mut child, stdin) = lab.console_running("approver", "approve wf-1\n");
    let started = Instant::now();
    let rule_written = |seen: &[String]| {
        seen.iter()
            .any(|s| s.starts_with("PUT ") && s.to_lowercase().contains("/securityrules/sb-"))
    };
    while !rule_written(&world.azure.state().seen) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "provision never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    drop(stdin);
    assert!(
        !world.azure.state().hang_next,
        "the rule's operation had started when the process died"
    );
    world.azure.state().finish_operations();

    let show = blocking(|| lab.show("wf-1"));
    assert_eq!(show["state"], "running", "killed mid-provision: {show:#}");
    blocking(|| lab.console("approver", "status wf-1\n"));
    let show = blocking(|| settled(lab, "wf-1"));
    assert_eq!(show["state"], "completed", "{show:#}");
    assert_eq!(world.our_rules().len(), 1);
    assert_eq!(world.azure.state().matching("/firewallrules/sb-").len(), 1);
    assert_eq!(world.azure.state().matching("/routes/sb-").len(), 1);
    assert_eq!(
        route_target(&world.ec2, &world.app_vpc, "10.20.0.0/16")
            .await
            .len(),
        1
    );
    let listed = blocking(|| lab.json(&["resources", "--format", "json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed:#}");
}
