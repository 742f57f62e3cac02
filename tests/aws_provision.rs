//! A connect request that changes a real AWS account (moto's server on
//! loopback, behind the discovery front for what moto lacks), driven through
//! the console binary: discover, connect a Lambda function to an RDS
//! database, approve; then read moto for the security group rule, the routes
//! both ways, the transit gateway route and the Route 53 record.

mod common;
mod moto;

use aws_sdk_ec2::types::Filter;
use common::{blocking, settled, Lab};
use moto::{route_target, Front, Moto, SeededAccount as World};
use std::time::{Duration, Instant};
use switchboard::bench::provision::REQUEST;

/// As alice: discover, then the connect request; the console's output.
fn request(lab: &Lab) -> String {
    blocking(|| lab.console("alice", &format!("discover\n{REQUEST}\n")))
}

fn approve(lab: &Lab) -> String {
    blocking(|| lab.console("approver", "approve wf-1\n"))
}

/// An ingress rule on the database's port that switchboard did not make.
async fn someone_elses_rule(ec2: &aws_sdk_ec2::Client, group: &str, cidr: &str) {
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .cidr_ip(cidr)
        .send()
        .await
        .expect("someone else's rule");
}

/// A lab directory whose config discovers only AWS, through the front.
fn aws_lab(front: &Front) -> Lab {
    let lab = Lab::new()
        .with_env("AWS_ENDPOINT_URL", &front.url)
        .with_env("AWS_ACCESS_KEY_ID", "testing")
        .with_env("AWS_SECRET_ACCESS_KEY", "testing")
        .with_env("AWS_EC2_METADATA_DISABLED", "true")
        .with_env("SWITCHBOARD_CONFIG", "switchboard.toml");
    lab.write(
        "switchboard.toml",
        "[discovery]\nproviders = [\"aws\"]\n\n[discovery.aws]\nregions = [\"us-east-1\"]\nmax_attempts = 3\n",
    );
    lab
}

/// An EC2 client reading moto through the front (which fills in what moto
/// forgets, as for switchboard).
fn through_front(moto: &Moto, front: &Front) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&moto.sdk("us-east-1"))
            .endpoint_url(&front.url)
            .build(),
    )
}

async fn ingress_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
) -> Vec<aws_sdk_ec2::types::SecurityGroupRule> {
    ec2.describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(group).build())
        .send()
        .await
        .expect("rules")
        .security_group_rules
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !r.is_egress().unwrap_or(false) && r.cidr_ipv4() == Some("10.61.0.0/16"))
        .collect()
}

async fn tgw_routes(ec2: &aws_sdk_ec2::Client, table: &str) -> Vec<String> {
    ec2.search_transit_gateway_routes()
        .transit_gateway_route_table_id(table)
        .filters(Filter::builder().name("type").values("static").build())
        .send()
        .await
        .expect("tgw routes")
        .routes()
        .iter()
        .filter(|r| r.destination_cidr_block() == Some("10.62.0.0/16"))
        .flat_map(|r| r.transit_gateway_attachments())
        .filter_map(|a| a.transit_gateway_attachment_id())
        .map(str::to_string)
        .collect()
}

/// Records named `orders-db.switchboard.internal.` in private zones.
async fn records(moto: &Moto) -> Vec<(String, String)> {
    moto::records(moto)
        .await
        .into_iter()
        .filter(|(name, ..)| name == "orders-db.switchboard.internal.")
        .map(|(_, kind, value)| (kind, value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_request_changes_the_account_end_to_end() {
    let Some(world) = World::start().await else {
        return;
    };
    let (moto, front, account) = (&world.moto, &world.front, &world.account);
    let lab = aws_lab(front);

    let out = request(&lab);
    assert!(out.contains("wf-1"), "{out}");
    let show = blocking(|| lab.show("wf-1"));
    assert_eq!(show["state"], "waiting_approval", "{out}\n{show:#}");
    // Names resolve against what discovery found, on the CLI too.
    let parsed = blocking(|| lab.json(&["parse", REQUEST, "--format", "json"]));
    let resolved = parsed["destination"]["resolved"].as_str().unwrap_or("");
    assert!(
        resolved.starts_with("arn:aws:rds:") && resolved.ends_with(":db:orders-db"),
        "{parsed:#}"
    );
    assert!(
        parsed["source"]["resolved"]
            .as_str()
            .unwrap_or("")
            .contains(":function:orders-fn"),
        "{parsed:#}"
    );
    assert!(
        out.contains(&format!(
            "ec2:AuthorizeSecurityGroupIngress {}",
            account.db_group
        )),
        "the card lists the calls:\n{out}"
    );
    assert!(
        out.contains("Estate"),
        "the card names the snapshot:\n{out}"
    );

    let out = approve(&lab);
    let show = blocking(|| settled(&lab, "wf-1"));
    assert_eq!(show["state"], "completed", "{out}\n{show:#}");

    let ec2 = through_front(moto, front);
    let rules = ingress_rules(&ec2, &account.db_group).await;
    assert_eq!(
        rules.len(),
        1,
        "one ingress rule from the app VPC: {rules:?}"
    );
    let rule = &rules[0];
    assert_eq!(rule.from_port(), Some(5432));
    let tags: Vec<(&str, &str)> = rule
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?, t.value()?)))
        .collect();
    assert!(tags.contains(&("managed-by", "switchboard")), "{tags:?}");
    assert!(tags.contains(&("switchboard:workflow", "wf-1")), "{tags:?}");
    assert!(rule
        .description()
        .unwrap_or("")
        .contains("wf-1/provision/0"));

    assert_eq!(
        route_target(&ec2, &account.app_vpc, "10.62.0.0/16").await,
        vec![account.tgw.clone()]
    );
    assert_eq!(
        route_target(&ec2, &account.db_vpc, "10.61.0.0/16").await,
        vec![account.tgw.clone()]
    );
    assert_eq!(
        tgw_routes(&ec2, &account.tgw_table).await,
        vec![account.db_attachment.clone()]
    );
    let records = records(moto).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].0, "CNAME");
    assert!(records[0].1.starts_with("orders-db."), "{records:?}");

    let listed = blocking(|| lab.json(&["resources", "--format", "json"]));
    let listed = listed.as_array().expect("resources");
    assert_eq!(listed.len(), 4, "{listed:#?}");
    assert!(
        listed
            .iter()
            .all(|r| r["present"] == true && r["provider"] == "aws"),
        "{listed:#?}"
    );
    // The digest and the forecasts read the discovered estate too.
    let digest = blocking(|| lab.succeed(&["digest"]));
    assert!(digest.status.success());
    let forecast = blocking(|| lab.json(&["forecast", "--format", "json"]));
    assert!(forecast.is_object(), "{forecast:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_provision_and_restarted_leaves_one_of_each() {
    let Some(world) = World::start().await else {
        return;
    };
    let (moto, front, account) = (&world.moto, &world.front, &world.account);
    let lab = aws_lab(front);
    request(&lab);

    // Every answer from the front takes a while, so provision is slow
    // enough to be killed in the middle.
    front.state().delay = Duration::from_millis(120);
    let (mut child, stdin) = lab.console_running("approver", "approve wf-1\n");
    let ec2 = through_front(moto, front);
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "provision never started"
        );
        if !ingress_rules(&ec2, &account.db_group).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    drop(stdin);
    front.state().delay = Duration::ZERO;

    let show = blocking(|| lab.show("wf-1"));
    assert_eq!(show["state"], "running", "killed mid-provision: {show:#}");
    blocking(|| lab.console("approver", "status wf-1\n"));
    let show = blocking(|| settled(&lab, "wf-1"));
    assert_eq!(show["state"], "completed", "{show:#}");
    assert_eq!(ingress_rules(&ec2, &account.db_group).await.len(), 1);
    assert_eq!(
        route_target(&ec2, &account.app_vpc, "10.62.0.0/16")
            .await
            .len(),
        1
    );
    assert_eq!(tgw_routes(&ec2, &account.tgw_table).await.len(), 1);
    assert_eq!(records(moto).await.len(), 1);
    let listed = blocking(|| lab.json(&["resources", "--format", "json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed:#}");
}

/// Validation finds the rule gone (the front hides it from every Describe):
/// after its retries the workflow rolls back, and exactly what it created is
/// removed from the account; a rule someone else made stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_failure_reverts_exactly_what_was_created() {
    let Some(world) = World::start().await else {
        return;
    };
    let (moto, front, account) = (&world.moto, &world.front, &world.account);
    let ec2 = through_front(moto, front);
    someone_elses_rule(&ec2, &account.db_group, "10.99.0.0/16").await;
    let lab = aws_lab(front);
    request(&lab);
    front.state().hide_security_group_rules = true;
    approve(&lab);
    let show = blocking(|| settled_or_rolled_back(&lab, "wf-1"));
    front.state().hide_security_group_rules = false;
    assert_eq!(show["state"], "rolled_back", "{show:#}");

    assert!(ingress_rules(&ec2, &account.db_group).await.is_empty());
    let all: Vec<String> = ec2
        .describe_security_group_rules()
        .filters(
            Filter::builder()
                .name("group-id")
                .values(&account.db_group)
                .build(),
        )
        .send()
        .await
        .expect("rules")
        .security_group_rules()
        .iter()
        .filter_map(|r| r.cidr_ipv4().map(str::to_string))
        .collect();
    assert!(all.contains(&"10.99.0.0/16".to_string()), "{all:?}");
    assert!(route_target(&ec2, &account.app_vpc, "10.62.0.0/16")
        .await
        .is_empty());
    assert!(route_target(&ec2, &account.db_vpc, "10.61.0.0/16")
        .await
        .is_empty());
    assert!(tgw_routes(&ec2, &account.tgw_table).await.is_empty());
    assert!(records(moto).await.is_empty());
    let listed = blocking(|| lab.json(&["resources", "--format", "json"]));
    let listed = listed.as_array().expect("resources");
    assert_eq!(listed.len(), 4, "{listed:#?}");
    assert!(
        listed.iter().all(|r| r["status"] == "reverted"),
        "{listed:#?}"
    );
}

/// Waits until the workflow is completed, failed or rolled back.
fn settled_or_rolled_back(lab: &Lab, id: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let show = lab.show(id);
        if ["completed", "failed", "rolled_back"].contains(&show["state"].as_str().unwrap_or("")) {
            return show;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{id} did not settle: {show:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// With a VPC peering beside the transit gateway, the design takes the
/// cheaper peering; a failover to the transit gateway (the typed change the
/// prober applies, through the same provider) replaces the route and routes
/// onward in the transit gateway, and its revert (failback) undoes both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_replaces_the_route_through_the_same_provider() {
    let Some(world) = World::start().await else {
        return;
    };
    let (moto, front, account) = (&world.moto, &world.front, &world.account);
    let direct = moto.ec2("us-east-1");
    let pcx = moto::peer(
        &direct,
        &account.app_vpc,
        &direct,
        "us-east-1",
        &account.db_vpc,
    )
    .await;
    let lab = aws_lab(front);
    request(&lab);
    approve(&lab);
    let show = blocking(|| settled(&lab, "wf-1"));
    assert_eq!(show["state"], "completed", "{show:#}");
    let ec2 = through_front(moto, front);
    assert_eq!(
        route_target(&ec2, &account.app_vpc, "10.62.0.0/16").await,
        vec![pcx.clone()],
        "the cheaper peering is the primary"
    );

    let mut config = switchboard::config::Config::load(Some(&lab.path("switchboard.toml")), &[])
        .expect("config");
    config.db = lab.db();
    config.discovery.aws.endpoint = Some(front.url.clone());
    let app = switchboard::app::App::open(config).await.expect("app");
    let estate = app.provider.estate().await.expect("estate");
    let tgw_attachment = estate
        .connections
        .iter()
        .find(|c| c.a.as_str() == account.app_vpc && c.b.as_str() == account.tgw)
        .map(|c| c.id.clone())
        .expect("the app VPC's TGW attachment");
    let failover = switchboard::domain::Change::RoutePreference {
        network: switchboard::domain::NetworkId::new(account.app_vpc.clone()),
        destination_cidr: "10.62.0.0/16".into(),
        preferred: tgw_attachment,
        other: switchboard::domain::ConnectionId::new(pcx.clone()),
    };
    let resource = app
        .provider
        .apply(&failover, "failover/orders/2026-12-04T00:00:00Z")
        .await
        .expect("failover applied");
    assert_eq!(
        route_target(&ec2, &account.app_vpc, "10.62.0.0/16").await,
        vec![account.tgw.clone()]
    );
    assert_eq!(
        tgw_routes(&ec2, &account.tgw_table).await,
        vec![account.db_attachment.clone()],
        "the transit gateway carries the traffic on to the database's VPC"
    );
    let present = app
        .provider
        .present(std::slice::from_ref(&resource))
        .await
        .expect("present");
    assert!(present.contains(&resource), "{resource}");
    app.provider.revert(&resource).await.expect("failback");
    assert_eq!(
        route_target(&ec2, &account.app_vpc, "10.62.0.0/16").await,
        vec![pcx]
    );
    assert!(tgw_routes(&ec2, &account.tgw_table).await.is_empty());
}

/// AWS refusing a change fails the step with AWS's words, and the rollback
/// removes exactly what the workflow had made before it: here the record's
/// name already points elsewhere in the VPC's private zone (someone else's),
/// so the last change is refused after the rule and the routes were made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_rolls_back_exactly_what_was_applied_before_it() {
    let Some(world) = World::start().await else {
        return;
    };
    let (moto, front, account) = (&world.moto, &world.front, &world.account);
    let r53 = aws_sdk_route53::Client::new(&moto.sdk("us-east-1"));
    let zone = r53
        .create_hosted_zone()
        .name("switchboard.internal.")
        .caller_reference("someone-else")
        .vpc(
            aws_sdk_route53::types::Vpc::builder()
                .vpc_id(&account.app_vpc)
                .vpc_region(aws_sdk_route53::types::VpcRegion::UsEast1)
                .build(),
        )
        .hosted_zone_config(
            aws_sdk_route53::types::HostedZoneConfig::builder()
                .private_zone(true)
                .build(),
        )
        .send()
        .await
        .expect("zone")
        .hosted_zone
        .expect("zone answer")
        .id;
    let theirs = aws_sdk_route53::types::ResourceRecordSet::builder()
        .name("orders-db.switchboard.internal.")
        .r#type(aws_sdk_route53::types::RrType::Cname)
        .ttl(300)
        .resource_records(
            aws_sdk_route53::types::ResourceRecord::builder()
                .value("legacy-db.example.com")
                .build()
                .expect("record"),
        )
        .build()
        .expect("record set");
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(
                    aws_sdk_route53::types::Change::builder()
                        .action(aws_sdk_route53::types::ChangeAction::Create)
                        .resource_record_set(theirs)
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("someone else's record");

    let lab = aws_lab(front);
    request(&lab);
    approve(&lab);
    let show = blocking(|| settled_or_rolled_back(&lab, "wf-1"));
    assert_eq!(show["state"], "rolled_back", "{show:#}");
    let shown = show.to_string();
    assert!(
        shown.contains("already points at legacy-db.example.com"),
        "the step says why: {show:#}"
    );

    let ec2 = through_front(moto, front);
    assert!(ingress_rules(&ec2, &account.db_group).await.is_empty());
    assert!(route_target(&ec2, &account.app_vpc, "10.62.0.0/16")
        .await
        .is_empty());
    assert!(route_target(&ec2, &account.db_vpc, "10.61.0.0/16")
        .await
        .is_empty());
    assert!(tgw_routes(&ec2, &account.tgw_table).await.is_empty());
    assert_eq!(
        records(moto).await,
        vec![("CNAME".to_string(), "legacy-db.example.com".to_string())],
        "someone else's record stays as it was"
    );
}

/// A rule for the same source and port that switchboard did not make is not
/// taken for its own: AWS's InvalidPermission.Duplicate fails the step, and
/// the rule stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identical_rule_someone_else_made_is_not_claimed() {
    let Some(world) = World::start().await else {
        return;
    };
    let (moto, front, account) = (&world.moto, &world.front, &world.account);
    let ec2 = through_front(moto, front);
    someone_elses_rule(&ec2, &account.db_group, "10.61.0.0/16").await;
    let lab = aws_lab(front);
    request(&lab);
    approve(&lab);
    let show = blocking(|| settled_or_rolled_back(&lab, "wf-1"));
    assert_eq!(show["state"], "rolled_back", "{show:#}");
    let shown = show.to_string();
    assert!(
        shown.contains("InvalidPermission.Duplicate")
            && shown.contains("not created by switchboard"),
        "{show:#}"
    );
    assert_eq!(ingress_rules(&ec2, &account.db_group).await.len(), 1);
    let listed = blocking(|| lab.json(&["resources", "--format", "json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed:#}");
}

/// A transit gateway segmented by route tables: the app VPC's attachment is
/// associated with a table of its own, so the route onward to the database
/// goes there, not into the default table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transit_gateway_route_goes_into_the_table_the_source_attachment_uses() {
    let Some(world) = World::start().await else {
        return;
    };
    let (moto, front, account) = (&world.moto, &world.front, &world.account);
    let ec2 = through_front(moto, front);
    let apps = ec2
        .create_transit_gateway_route_table()
        .transit_gateway_id(&account.tgw)
        .send()
        .await
        .expect("route table")
        .transit_gateway_route_table
        .and_then(|t| t.transit_gateway_route_table_id)
        .expect("route table id");
    // (AWS wants the default table left first; moto's
    // DisassociateTransitGatewayRouteTable answers 500, and its association
    // replaces the old one.)
    ec2.associate_transit_gateway_route_table()
        .transit_gateway_route_table_id(&apps)
        .transit_gateway_attachment_id(&account.app_attachment)
        .send()
        .await
        .expect("join the apps table");
    let lab = aws_lab(front);
    request(&lab);
    approve(&lab);
    let show = blocking(|| settled(&lab, "wf-1"));
    assert_eq!(show["state"], "completed", "{show:#}");
    assert_eq!(
        tgw_routes(&ec2, &apps).await,
        vec![account.db_attachment.clone()],
        "the route onward is in the apps table"
    );
    assert!(
        tgw_routes(&ec2, &account.tgw_table).await.is_empty(),
        "and not in the default table"
    );
}
