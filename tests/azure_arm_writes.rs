//! ARM writes against a fake Azure Resource Manager on loopback that keeps
//! resources with ETags, checks NSG security-rule bodies as the 2024-07-01
//! schema limits them (priority 100–4096, description ≤ 140 characters,
//! the required properties), and runs long-running operations the way ARM
//! does: 201 with `provisioningState: Updating` and an `Azure-AsyncOperation`
//! URL answering `InProgress` a few times, then `Succeeded` or `Failed`;
//! DELETE 202 with a `Location` answering 202 then 204; 429 with
//! `Retry-After`; 412 on a stale `If-Match`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard::providers::azure::arm::{ArmError, ArmWriter, Condition, Pace};
use switchboard::providers::rest::AccessToken;

/// The one NSG the fake has.
const NSG: &str =
    "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1/";
const RULE: &str = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules/sb-orders?api-version=2024-07-01";

#[derive(Default)]
struct Arm {
    base: String,
    /// Path → (resource, etag).
    resources: HashMap<String, (Value, u32)>,
    /// Operation id → polls left before it ends, and how it ends.
    operations: HashMap<String, (u32, Option<Value>)>,
    next_op: u32,
    /// How many polls an operation runs for.
    polls: u32,
    /// The next operation ends Failed with this error.
    fail_next: Option<Value>,
    /// Answer this many writes with 429 first.
    throttle: u32,
    /// The next operation never ends.
    hang_next: bool,
    /// What the fake saw: method and path of every request, and bad bodies.
    seen: Vec<String>,
    refused_bodies: Vec<String>,
}

type Shared = Arc<Mutex<Arm>>;

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The 2024-07-01 SecurityRule limits a client can break.
fn check_rule(body: &Value) -> Result<(), String> {
    let p = body.get("properties").ok_or("no properties")?;
    for key in ["protocol", "access", "direction", "priority"] {
        if p.get(key).is_none() {
            return Err(format!("properties.{key} is required"));
        }
    }
    let priority = p["priority"].as_i64().ok_or("priority is not an integer")?;
    if !(100..=4096).contains(&priority) {
        return Err(format!("priority {priority} is outside 100-4096"));
    }
    if p.get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| d.chars().count() > 140)
    {
        return Err("description is longer than 140 characters".into());
    }
    for (key, allowed) in [
        ("access", &["Allow", "Deny"][..]),
        ("direction", &["Inbound", "Outbound"][..]),
        ("protocol", &["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"][..]),
    ] {
        let value = p[key].as_str().unwrap_or("");
        if !allowed.contains(&value) {
            return Err(format!(
                "properties.{key} '{value}' is not one of {allowed:?}"
            ));
        }
    }
    Ok(())
}

fn start_operation(arm: &mut Arm) -> String {
    arm.next_op += 1;
    let id = format!("op-{}", arm.next_op);
    let polls = if std::mem::take(&mut arm.hang_next) {
        u32::MAX
    } else {
        arm.polls
    };
    arm.operations
        .insert(id.clone(), (polls, arm.fail_next.take()));
    id
}

async fn handle(
    State(arm): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut arm = arm.lock().expect("fake arm");
    let path = uri.path().to_string();
    arm.seen.push(format!("{method} {path}"));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer test-token") {
        return arm_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "no bearer token",
        );
    }
    // ARM refuses a write or read of a resource without its api-version.
    let versioned = uri
        .query()
        .is_some_and(|q| q.contains("api-version=2024-07-01"));
    if !versioned && !path.starts_with("/operation") {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    if let Some(id) = path.strip_prefix("/operations/") {
        let Some((left, outcome)) = arm.operations.get_mut(id) else {
            return arm_error(StatusCode::NOT_FOUND, "NotFound", "no such operation");
        };
        if *left > 0 {
            *left = left.saturating_sub(1);
            return axum::Json(json!({"status": "InProgress"})).into_response();
        }
        return match outcome {
            Some(error) => axum::Json(json!({"status": "Failed", "error": error})).into_response(),
            None => axum::Json(json!({"status": "Succeeded"})).into_response(),
        };
    }
    if let Some(id) = path.strip_prefix("/operationResults/") {
        let Some((left, _)) = arm.operations.get_mut(id) else {
            return arm_error(StatusCode::NOT_FOUND, "NotFound", "no such operation");
        };
        if *left > 0 {
            *left -= 1;
            return StatusCode::ACCEPTED.into_response();
        }
        return StatusCode::NO_CONTENT.into_response();
    }
    if method != Method::GET && arm.throttle > 0 {
        arm.throttle -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"error": {"code": "TooManyRequests", "message": "slow down"}})),
        )
            .into_response();
    }
    match method {
        Method::GET => match arm.resources.get(&path) {
            Some((resource, etag)) => {
                let mut resource = resource.clone();
                resource["etag"] = json!(format!("W/\"{etag}\""));
                resource["properties"]["provisioningState"] = json!("Succeeded");
                axum::Json(resource).into_response()
            }
            None => arm_error(StatusCode::NOT_FOUND, "NotFound", "no such rule"),
        },
        // Resources under an NSG that does not exist are refused, as ARM does.
        _ if !path.starts_with(NSG) => arm_error(
            StatusCode::NOT_FOUND,
            "ParentResourceNotFound",
            "Can not perform requested operation on nested resource. Parent resource 'nsg-missing' not found.",
        ),
        Method::PUT => {
            let Ok(mut resource) = serde_json::from_slice::<Value>(&body) else {
                return arm_error(StatusCode::BAD_REQUEST, "InvalidRequestFormat", "not JSON");
            };
            if let Err(why) = check_rule(&resource) {
                arm.refused_bodies.push(why.clone());
                return arm_error(StatusCode::BAD_REQUEST, "InvalidRequestContent", &why);
            }
            let current = arm.resources.get(&path).map(|(_, etag)| *etag);
            if let Some(wanted) = headers.get("if-match").and_then(|v| v.to_str().ok()) {
                if current.map(|e| format!("W/\"{e}\"")).as_deref() != Some(wanted) {
                    return arm_error(
                        StatusCode::PRECONDITION_FAILED,
                        "PreconditionFailed",
                        "etag mismatch",
                    );
                }
            }
            let etag = current.map_or(1, |e| e + 1);
            resource["name"] = json!(path.rsplit('/').next().unwrap_or(""));
            arm.resources.insert(path.clone(), (resource.clone(), etag));
            let op = start_operation(&mut arm);
            resource["properties"]["provisioningState"] = json!("Updating");
            let status = if current.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let url = format!("{}/operations/{op}", arm.base);
            (
                status,
                [("azure-asyncoperation", url.as_str())],
                axum::Json(resource),
            )
                .into_response()
        }
        Method::DELETE => {
            if arm.resources.remove(&path).is_none() {
                return StatusCode::NO_CONTENT.into_response();
            }
            let op = start_operation(&mut arm);
            let url = format!("{}/operationResults/{op}", arm.base);
            (StatusCode::ACCEPTED, [("location", url.as_str())]).into_response()
        }
        _ => arm_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "no"),
    }
}

async fn fake_arm(polls: u32) -> (Shared, String) {
    let arm: Shared = Arc::new(Mutex::new(Arm {
        polls,
        ..Arm::default()
    }));
    let app = axum::Router::new().fallback(handle).with_state(arm.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    arm.lock().expect("fake arm").base = base.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (arm, base)
}

fn writer(deadline: Duration) -> ArmWriter {
    ArmWriter::new(
        reqwest::Client::new(),
        AccessToken::new("test-token"),
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
    let seen = arm.lock().expect("fake arm").seen.clone();
    let polls = seen
        .iter()
        .filter(|s| s.starts_with("GET /operations/"))
        .count();
    assert_eq!(polls, 4, "three InProgress, then Succeeded: {seen:?}");
}

#[tokio::test]
async fn an_operation_that_fails_is_a_failure_with_azures_words() {
    let (arm, base) = fake_arm(1).await;
    arm.lock().expect("fake arm").fail_next = Some(json!({
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
    arm.lock().expect("fake arm").throttle = 1;
    let started = std::time::Instant::now();
    put_rule(&writer(Duration::from_secs(10)), &base, 3001, "x", None)
        .await
        .expect("created after the 429");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
    let puts = arm
        .lock()
        .expect("fake arm")
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
    arm.lock().expect("fake arm").hang_next = true;
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
    let seen = arm.lock().expect("fake arm").seen.clone();
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
    assert_eq!(arm.lock().expect("fake arm").refused_bodies.len(), 1);
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
        arm.lock().expect("fake arm").resources.is_empty(),
        "nothing was written"
    );
}
