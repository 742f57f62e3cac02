//! ARM writes (the `ArmWriter`) against the fake Azure Resource Manager on
//! loopback (`bench::fake_arm::FakeArm`), which keeps resources with ETags, checks NSG security-rule bodies as the 2024-07-01
//! schema limits them (priority 100–4096, description ≤ 140 characters,
//! the required properties), and runs long-running operations the way ARM
//! does: 201 with `provisioningState: Updating` and an `Azure-AsyncOperation`
//! URL answering `InProgress` a few times, then `Succeeded` or `Failed`;
//! DELETE 202 with a `Location` answering 202 then 204; 429 with
//! `Retry-After`; 412 on a stale `If-Match`.

use serde_json::{json, Value};
use std::time::Duration;
use switchboard::bench::fake_arm::{FakeArm, FAKE_TOKEN};
use switchboard::providers::azure::arm::{ArmError, ArmWriter, Condition, Pace};
use switchboard::providers::rest::AccessToken;

/// The one NSG the fake has.
const NSG: &str =
    "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1";
const RULE: &str = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules/sb-orders?api-version=2024-07-01";

/// The fake ARM holding one empty NSG; operations answer `InProgress`
/// `polls` times.
async fn fake_arm(polls: u32) -> (FakeArm, String) {
    let arm = FakeArm::start(polls).await.expect("fake arm");
    arm.seed(NSG, json!({"location": "eastus", "properties": {}}));
    let base = arm.base.clone();
    (arm, base)
}

fn writer(deadline: Duration) -> ArmWriter {
    ArmWriter::new(
        reqwest::Client::new(),
        AccessToken::new(FAKE_TOKEN),
        Pace {
            max_attempts: 3,
            poll: Duration::from_millis(20),
            deadline,
        },
    )
}

fn rule(priority: i64, description: &str) -> Value {
    json!({"properties": {
        "protocol": "Tcp", "sourceAddressPrefix": "10.61.0.0/16", "destinationAddressPrefix": "*",
        "sourcePortRange": "*", "destinationPortRange": "1433", "access": "Allow",
        "direction": "Inbound", "priority": priority, "description": description
    }})
}

/// PUTs the security rule with `priority` and `description`, over `etag`.
async fn put_rule(
    w: &ArmWriter,
    base: &str,
    priority: i64,
    description: &str,
    etag: Option<&str>,
) -> Result<Value, ArmError> {
    w.put(
        &url(base),
        &rule(priority, description),
        etag.map_or(Condition::Always, Condition::IfMatch),
        "SecurityRules_CreateOrUpdate",
    )
    .await
}

fn url(base: &str) -> reqwest::Url {
    reqwest::Url::parse(&format!("{base}{RULE}")).expect("url")
}

#[tokio::test]
async fn a_put_is_followed_through_its_polls_to_the_resource() {
    let (arm, base) = fake_arm(3).await;
    let rule = put_rule(
        &writer(Duration::from_secs(10)),
        &base,
        3000,
        "switchboard wf-1/provision/0",
        None,
    )
    .await
    .expect("created");
    assert_eq!(rule["properties"]["provisioningState"], "Succeeded");
    assert_eq!(rule["name"], "sb-orders");
    let seen = arm.state().seen.clone();
    let polls = seen
        .iter()
        .filter(|s| s.starts_with("GET /operations/"))
        .count();
    assert_eq!(polls, 4, "three InProgress, then Succeeded: {seen:?}");
}

#[tokio::test]
async fn an_operation_that_fails_is_a_failure_with_azures_words() {
    let (arm, base) = fake_arm(1).await;
    arm.state().fail_next = Some(json!({
        "code": "SecurityRuleConflict", "message": "Security rule conflicts with rule allow-sql"
    }));
    let err = put_rule(&writer(Duration::from_secs(10)), &base, 3000, "x", None)
        .await
        .expect_err("failed operation");
    match &err {
        ArmError::Failed { code, message, .. } => {
            assert_eq!(code, "SecurityRuleConflict");
            assert!(message.contains("allow-sql"));
        }
        other => panic!("not a failure: {other}"),
    }
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn throttled_writes_wait_for_retry_after_and_go_through() {
    let (arm, base) = fake_arm(0).await;
    arm.state().throttle = 1;
    let started = std::time::Instant::now();
    put_rule(&writer(Duration::from_secs(10)), &base, 3001, "x", None)
        .await
        .expect("created after the 429");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
    let puts = arm
        .state()
        .seen
        .iter()
        .filter(|s| s.starts_with("PUT "))
        .count();
    assert_eq!(puts, 2);
}

#[tokio::test]
async fn a_stale_etag_is_refused_and_nothing_is_overwritten() {
    let (arm, base) = fake_arm(0).await;
    let w = writer(Duration::from_secs(10));
    put_rule(&w, &base, 3000, "first", None)
        .await
        .expect("created");
    let (_, etag) = w
        .get(&url(&base), "SecurityRules_Get")
        .await
        .expect("get")
        .expect("exists");
    let etag = etag.expect("an etag");
    // Someone else edits it in between.
    put_rule(&w, &base, 3000, "theirs", None)
        .await
        .expect("their edit");
    let err = put_rule(&w, &base, 3000, "mine", Some(&etag))
        .await
        .expect_err("stale etag");
    assert!(matches!(err, ArmError::Changed { .. }), "{err}");
    let (now, _) = w
        .get(&url(&base), "SecurityRules_Get")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(now["properties"]["description"], "theirs");
    drop(arm);
}

#[tokio::test]
async fn a_poll_past_the_deadline_is_a_timeout_not_a_success() {
    let (arm, base) = fake_arm(0).await;
    arm.state().hang_next = true;
    let err = put_rule(&writer(Duration::from_millis(300)), &base, 3000, "x", None)
        .await
        .expect_err("never ends");
    assert!(matches!(err, ArmError::Timeout { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_delete_is_followed_at_its_location_and_twice_is_not_an_error() {
    let (arm, base) = fake_arm(2).await;
    let w = writer(Duration::from_secs(10));
    put_rule(&w, &base, 3000, "x", None).await.expect("created");
    w.delete(&url(&base), "SecurityRules_Delete")
        .await
        .expect("deleted");
    w.delete(&url(&base), "SecurityRules_Delete")
        .await
        .expect("already gone");
    assert!(w
        .get(&url(&base), "SecurityRules_Get")
        .await
        .expect("get")
        .is_none());
    let seen = arm.state().seen.clone();
    let location_polls = seen
        .iter()
        .filter(|s| s.starts_with("GET /operationResults/"))
        .count();
    assert_eq!(location_polls, 3, "202 twice, then 204: {seen:?}");
}

#[tokio::test]
async fn a_body_outside_the_schema_is_refused_by_the_fake_and_reported() {
    let (arm, base) = fake_arm(0).await;
    let err = put_rule(&writer(Duration::from_secs(10)), &base, 5000, "x", None)
        .await
        .expect_err("priority out of range");
    assert!(
        matches!(err, ArmError::Refused { status: 400, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("outside 100-4096"), "{err}");
    assert_eq!(arm.state().refused_bodies.len(), 1);
}

#[tokio::test]
async fn the_fake_refuses_what_arm_refuses_and_the_writer_says_so() {
    let (arm, base) = fake_arm(0).await;
    let w = writer(Duration::from_secs(10));
    let nowhere = reqwest::Url::parse(&format!(
        "{base}/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg-missing/securityRules/sb-orders?api-version=2024-07-01"
    ))
    .expect("url");
    let err = w
        .put(
            &nowhere,
            &rule(3000, "x"),
            Condition::Always,
            "SecurityRules_CreateOrUpdate",
        )
        .await
        .expect_err("no such NSG");
    assert!(
        matches!(err, ArmError::Refused { status: 404, ref code, .. } if code == "ParentResourceNotFound"),
        "{err}"
    );
    let unversioned =
        reqwest::Url::parse(&format!("{base}{}", RULE.split('?').next().unwrap_or("")))
            .expect("url");
    let err = w
        .put(
            &unversioned,
            &rule(3000, "x"),
            Condition::Always,
            "SecurityRules_CreateOrUpdate",
        )
        .await
        .expect_err("no api-version");
    assert!(
        err.to_string().contains("MissingApiVersionParameter"),
        "{err}"
    );
    let long = "x".repeat(141);
    let err = put_rule(&w, &base, 3000, &long, None)
        .await
        .expect_err("too long");
    assert!(err.to_string().contains("140 characters"), "{err}");
    let anonymous = ArmWriter::new(
        reqwest::Client::new(),
        AccessToken::new("someone-else"),
        Pace {
            max_attempts: 1,
            poll: Duration::from_millis(20),
            deadline: Duration::from_secs(5),
        },
    );
    let err = put_rule(&anonymous, &base, 3000, "x", None)
        .await
        .expect_err("no token");
    assert!(
        matches!(err, ArmError::Refused { status: 401, .. }),
        "{err}"
    );
    assert!(
        arm.state().matching("/securityrules/").is_empty(),
        "nothing was written"
    );
}
