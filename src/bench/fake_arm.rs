//! A fake Azure Resource Manager on loopback, for the provision benchmark
//! and the tests: Azure has no emulator of its control plane (as moto is for
//! AWS), so this one answers in ARM's published shapes and refuses what ARM
//! refuses.
//!
//! It keeps resources by ARM id (case-insensitively, as ARM compares them),
//! with ETags; composes a parent's children into it (an NSG's
//! `securityRules`, a route table's `routes`); lists a scope's children and
//! a subscription's resources of one type; and writes what switchboard
//! writes, each checked against its 2024-07-01 / 2025-01-01 / 2024-06-01
//! schema (required and known properties, enums, limits): NSG security rules
//! and routes as long-running operations (201 with `provisioningState:
//! Updating` and an `Azure-AsyncOperation` answering `InProgress` a few
//! times, then `Succeeded` or `Failed`; DELETE 202 with a `Location`
//! answering 202 then 204), SQL firewall rules and private DNS record sets
//! at once. Conflicts as ARM has them: `SecurityRuleConflict` for a priority
//! and direction taken, 412 on a stale `If-Match` or an `If-None-Match: *`
//! over an existing resource, `ParentResourceNotFound` under a missing
//! parent, 401 without the token, 400 without the family's api-version.
//! Faults to switch on: throttling (429 with `Retry-After`), an operation
//! that ends Failed, one that never ends, a priority taken by someone else
//! just before a rule is written.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// The bearer token the fake takes.
pub const FAKE_TOKEN: &str = "fake-arm-token";

struct Stored {
    /// The id as first written (ARM answers with it).
    id: String,
    body: Value,
    etag: u64,
}

struct Operation {
    polls_left: u32,
    error: Option<Value>,
}

/// What the fake holds and how it misbehaves; tests reach it through
/// `FakeArm::state`.
#[derive(Default)]
pub struct ArmState {
    base: String,
    resources: BTreeMap<String, Stored>,
    operations: HashMap<String, Operation>,
    next_op: u64,
    /// How many `InProgress` polls an operation answers before it ends.
    pub polls: u32,
    /// The next operation ends Failed with this error.
    pub fail_next: Option<Value>,
    /// Answer this many writes with 429 (`Retry-After: 1`) first.
    pub throttle: u32,
    /// The next operation never ends.
    pub hang_next: bool,
    /// Before the next security rule is written, someone else's rule takes
    /// the priority it asks for.
    pub steal_priority_next: bool,
    /// Every request: `METHOD path`.
    pub seen: Vec<String>,
    /// Why bodies were refused.
    pub refused_bodies: Vec<String>,
}

impl ArmState {
    /// Whether a resource is there.
    pub fn has(&self, id: &str) -> bool {
        self.resources.contains_key(&key(id))
    }

    /// The resources whose ids contain `part` (case-insensitive), as ARM
    /// would answer a GET of each.
    pub fn matching(&self, part: &str) -> Vec<Value> {
        let part = part.to_ascii_lowercase();
        self.resources
            .keys()
            .filter(|k| k.contains(&part))
            .filter_map(|k| self.answer(k))
            .collect()
    }

    /// How many requests the fake saw whose `METHOD path` has `part`.
    pub fn count(&self, part: &str) -> usize {
        self.seen.iter().filter(|s| s.contains(part)).count()
    }

    /// Every running operation ends at its next poll.
    pub fn finish_operations(&mut self) {
        for op in self.operations.values_mut() {
            op.polls_left = 0;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// A resource as a GET answers it: its id, name, ETag and children.
    fn answer(&self, k: &str) -> Option<Value> {
        let stored = self.resources.get(k)?;
        let mut body = stored.body.clone();
        body["id"] = json!(stored.id);
        body["name"] = json!(stored.id.rsplit('/').next().unwrap_or_default());
        body["etag"] = json!(format!("W/\"{}\"", stored.etag));
        if !body["properties"].is_object() {
            body["properties"] = json!({});
        }
        if k.contains("/microsoft.network/") && !k.contains("/privatednszones/") {
            body["properties"]["provisioningState"] = json!("Succeeded");
        }
        for (child, field) in [("securityrules", "securityRules"), ("routes", "routes")] {
            if is_parent_of(k, child) {
                let children: Vec<Value> = self
                    .children(k, child)
                    .into_iter()
                    .filter_map(|c| self.answer(&c))
                    .collect();
                body["properties"][field] = json!(children);
            }
        }
        Some(body)
    }

    /// Keys of `parent`'s children of type `child`.
    fn children(&self, parent: &str, child: &str) -> Vec<String> {
        let prefix = format!("{parent}/{child}/");
        self.resources
            .keys()
            .filter(|k| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
            .cloned()
            .collect()
    }

    /// A list: the direct children under `path`, or a subscription's
    /// resources of one provider type across its resource groups.
    fn list(&self, path: &str) -> Vec<Value> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let keys: Vec<String> = match parts.as_slice() {
            ["subscriptions", sub, "providers", namespace, kind] => {
                let prefix = format!("/subscriptions/{sub}/resourcegroups/");
                let tail = format!("/providers/{namespace}/{kind}/");
                self.resources
                    .keys()
                    .filter(|k| {
                        k.strip_prefix(&prefix)
                            .and_then(|rest| rest.split_once('/'))
                            .and_then(|(_, rest)| rest.strip_prefix(&tail[1..]))
                            .is_some_and(|name| !name.contains('/'))
                    })
                    .cloned()
                    .collect()
            }
            _ => {
                let prefix = format!("{path}/");
                self.resources
                    .keys()
                    .filter(|k| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
                    .cloned()
                    .collect()
            }
        };
        keys.iter().filter_map(|k| self.answer(k)).collect()
    }

    fn start_operation(&mut self) -> String {
        self.next_op += 1;
        let id = format!("op-{}", self.next_op);
        let polls_left = if std::mem::take(&mut self.hang_next) {
            u32::MAX
        } else {
            self.polls
        };
        let error = self.fail_next.take();
        self.operations
            .insert(id.clone(), Operation { polls_left, error });
        id
    }

    fn store(&mut self, id: &str, body: Value) -> u64 {
        let k = key(id);
        let etag = self.resources.get(&k).map_or(1, |s| s.etag + 1);
        let id = self
            .resources
            .get(&k)
            .map_or_else(|| id.to_string(), |s| s.id.clone());
        self.resources.insert(k, Stored { id, body, etag });
        etag
    }
}

fn key(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

/// Whether `k` is a resource whose children of type `child` exist in ARM
/// (an NSG has security rules, a route table routes).
fn is_parent_of(k: &str, child: &str) -> bool {
    let kind = k.rsplit('/').nth(1).unwrap_or_default();
    matches!(
        (kind, child),
        ("networksecuritygroups", "securityrules") | ("routetables", "routes")
    )
}

/// The fake on its port.
pub struct FakeArm {
    pub base: String,
    state: Arc<Mutex<ArmState>>,
}

impl FakeArm {
    /// Starts the fake on the current tokio runtime (it stops with it);
    /// operations answer `InProgress` `polls` times.
    pub async fn start(polls: u32) -> std::io::Result<FakeArm> {
        let state = Arc::new(Mutex::new(ArmState {
            polls,
            ..ArmState::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        lock(&state).base = base.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeArm { base, state })
    }

    pub fn state(&self) -> MutexGuard<'_, ArmState> {
        lock(&self.state)
    }

    /// Puts a resource in place as it is (the estate a test starts from).
    pub fn seed(&self, id: &str, body: Value) {
        self.state().store(id, body);
    }
}

fn lock(state: &Mutex<ArmState>) -> MutexGuard<'_, ArmState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// What a path is: the kinds of resource switchboard writes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    SecurityRule,
    Route,
    FirewallRule,
    RecordSet,
    Other,
}

fn kind_of(k: &str) -> Kind {
    let parts: Vec<&str> = k.split('/').collect();
    let parent_kind = parts.len().checked_sub(4).map(|i| parts[i]);
    match (parent_kind, parts.len().checked_sub(2).map(|i| parts[i])) {
        (Some("networksecuritygroups"), Some("securityrules")) => Kind::SecurityRule,
        (Some("routetables"), Some("routes")) => Kind::Route,
        (Some("servers"), Some("firewallrules")) => Kind::FirewallRule,
        (Some("privatednszones"), Some("a" | "cname")) => Kind::RecordSet,
        _ => Kind::Other,
    }
}

/// The api-version each family answers to.
fn versions_for(k: &str) -> &'static [&'static str] {
    if k.contains("/providers/microsoft.sql/") {
        &["2025-01-01"]
    } else if k.contains("/privatednszones") {
        &["2024-06-01"]
    } else if k.ends_with("/resourcegroups") {
        &["2024-11-01"]
    } else {
        &["2024-05-01", "2024-07-01"]
    }
}

fn known_properties(body: &Value, known: &[&str]) -> Result<(), String> {
    let props = body
        .get("properties")
        .and_then(Value::as_object)
        .ok_or("properties is required")?;
    match props.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(format!(
            "Could not find member '{unknown}' on object of type 'properties'"
        )),
        None => Ok(()),
    }
}

/// SecurityRulePropertiesFormat (2024-07-01): the required properties, the
/// enums, priority 100–4096, description ≤ 140 characters.
pub fn check_security_rule(body: &Value) -> Result<(), String> {
    known_properties(
        body,
        &[
            "description",
            "protocol",
            "sourcePortRange",
            "destinationPortRange",
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            "sourceApplicationSecurityGroups",
            "destinationAddressPrefix",
            "destinationAddressPrefixes",
            "destinationApplicationSecurityGroups",
            "sourcePortRanges",
            "destinationPortRanges",
            "access",
            "priority",
            "direction",
        ],
    )?;
    let p = &body["properties"];
    for key in ["protocol", "access", "direction", "priority"] {
        if p.get(key).is_none() {
            return Err(format!("properties.{key} is required"));
        }
    }
    let priority = p["priority"].as_i64().ok_or("priority is not an integer")?;
    if !(100..=4096).contains(&priority) {
        return Err(format!("priority {priority} is outside 100-4096"));
    }
    if p["description"]
        .as_str()
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

/// RoutePropertiesFormat: a CIDR, a next hop type of the enum, an IP only
/// for a virtual appliance.
fn check_route(body: &Value) -> Result<(), String> {
    known_properties(body, &["addressPrefix", "nextHopType", "nextHopIpAddress"])?;
    let p = &body["properties"];
    let prefix = p["addressPrefix"]
        .as_str()
        .ok_or("properties.addressPrefix is required")?;
    let (ip, bits) = prefix.split_once('/').unwrap_or((prefix, ""));
    if ip.parse::<std::net::IpAddr>().is_err() || bits.parse::<u8>().is_err() {
        return Err(format!("addressPrefix '{prefix}' is not a CIDR"));
    }
    let hop = p["nextHopType"]
        .as_str()
        .ok_or("properties.nextHopType is required")?;
    let allowed = [
        "VirtualNetworkGateway",
        "VnetLocal",
        "Internet",
        "VirtualAppliance",
        "None",
    ];
    if !allowed.contains(&hop) {
        return Err(format!("nextHopType '{hop}' is not one of {allowed:?}"));
    }
    if (hop == "VirtualAppliance") != p.get("nextHopIpAddress").is_some() {
        return Err("nextHopIpAddress is allowed only, and required, for VirtualAppliance".into());
    }
    Ok(())
}

/// ServerFirewallRuleProperties: two IPv4 addresses, start ≤ end.
fn check_firewall_rule(body: &Value) -> Result<(), (String, String)> {
    let plain = |e: String| ("InvalidRequestContent".to_string(), e);
    known_properties(body, &["startIpAddress", "endIpAddress"]).map_err(plain)?;
    let ip = |key: &str| -> Result<std::net::Ipv4Addr, (String, String)> {
        body["properties"][key]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                (
                    "FirewallRuleNotIPv4Address".to_string(),
                    format!("{key} is not an IPv4 address"),
                )
            })
    };
    let (start, end) = (ip("startIpAddress")?, ip("endIpAddress")?);
    if start > end {
        return Err(plain("startIpAddress is after endIpAddress".into()));
    }
    Ok(())
}

/// RecordSetProperties for an A or CNAME set: a TTL, string metadata, the
/// records of the set's type and no other.
fn check_record_set(kind: &str, body: &Value) -> Result<(), String> {
    known_properties(
        body,
        &[
            "metadata",
            "ttl",
            "aRecords",
            "aaaaRecords",
            "cnameRecord",
            "mxRecords",
            "ptrRecords",
            "soaRecord",
            "srvRecords",
            "txtRecords",
        ],
    )?;
    let p = &body["properties"];
    if p.get("ttl").is_some_and(|t| !t.is_u64()) {
        return Err("ttl is not an integer".into());
    }
    if let Some(metadata) = p.get("metadata") {
        let ok = metadata
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string));
        if !ok {
            return Err("metadata is not a map of strings".into());
        }
    }
    match kind {
        "a" => {
            let records = p["aRecords"].as_array().ok_or("aRecords is required")?;
            for r in records {
                r["ipv4Address"]
                    .as_str()
                    .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
                    .ok_or("aRecords[].ipv4Address is not an IPv4 address")?;
            }
            if p.get("cnameRecord").is_some() {
                return Err("an A record set holds no cnameRecord".into());
            }
        }
        _ => {
            p["cnameRecord"]["cname"]
                .as_str()
                .ok_or("cnameRecord.cname is required")?;
            if p.get("aRecords").is_some() {
                return Err("a CNAME record set holds no aRecords".into());
            }
        }
    }
    Ok(())
}

async fn handle(
    State(state): State<Arc<Mutex<ArmState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut arm = lock(&state);
    let path = uri.path().to_string();
    arm.seen.push(format!("{method} {path}"));
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {FAKE_TOKEN}")) {
        return arm_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing or invalid.",
        );
    }
    if let Some(id) = path.strip_prefix("/operations/") {
        let Some(op) = arm.operations.get_mut(id) else {
            return arm_error(StatusCode::NOT_FOUND, "NotFound", "no such operation");
        };
        if op.polls_left > 0 {
            op.polls_left = op.polls_left.saturating_sub(1);
            return axum::Json(json!({"status": "InProgress"})).into_response();
        }
        return match &op.error {
            Some(error) => axum::Json(json!({"status": "Failed", "error": error})).into_response(),
            None => axum::Json(json!({"status": "Succeeded"})).into_response(),
        };
    }
    if let Some(id) = path.strip_prefix("/operationResults/") {
        let Some(op) = arm.operations.get_mut(id) else {
            return arm_error(StatusCode::NOT_FOUND, "NotFound", "no such operation");
        };
        if op.polls_left > 0 {
            op.polls_left = op.polls_left.saturating_sub(1);
            return StatusCode::ACCEPTED.into_response();
        }
        return StatusCode::NO_CONTENT.into_response();
    }
    let k = key(&path);
    let version = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("api-version="))
        .unwrap_or_default()
        .to_string();
    if version.is_empty() {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    if !versions_for(&k).contains(&version.as_str()) {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            &format!("The api-version '{version}' is invalid for {path}."),
        );
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
        Method::GET => match arm.answer(&k) {
            Some(resource) => axum::Json(resource).into_response(),
            None if kind_of(&k) != Kind::Other || is_resource_path(&k) => arm_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &format!("The Resource '{path}' was not found."),
            ),
            None => axum::Json(json!({"value": arm.list(&k)})).into_response(),
        },
        Method::PUT => put(&mut arm, &path, &k, &headers, &body),
        Method::DELETE => delete(&mut arm, &k),
        _ => arm_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "no"),
    }
}

/// A path naming one resource (an even number of segments after the
/// provider), not a collection.
fn is_resource_path(k: &str) -> bool {
    match k.split_once("/providers/") {
        // namespace/type/name, …/child-type/child-name: odd.
        Some((_, rest)) => rest.split('/').count() % 2 == 1,
        None => k.split('/').count() == 5,
    }
}

fn parent_of(k: &str) -> &str {
    let mut cut = k;
    for _ in 0..2 {
        cut = cut.rsplit_once('/').map_or(cut, |(p, _)| p);
    }
    cut
}

fn put(arm: &mut ArmState, path: &str, k: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let Ok(resource) = serde_json::from_slice::<Value>(body) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestFormat",
            "Cannot parse the request.",
        );
    };
    let kind = kind_of(k);
    if kind == Kind::Other {
        return arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!("the fake takes no writes to {path}"),
        );
    }
    let parent = parent_of(k);
    if !arm.resources.contains_key(parent) {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ParentResourceNotFound",
            &format!(
                "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
                parent.rsplit('/').next().unwrap_or_default()
            ),
        );
    }
    let checked = match kind {
        Kind::SecurityRule => {
            check_security_rule(&resource).map_err(|e| ("InvalidRequestContent".to_string(), e))
        }
        Kind::Route => check_route(&resource).map_err(|e| ("InvalidRequestContent".to_string(), e)),
        Kind::FirewallRule => check_firewall_rule(&resource),
        Kind::RecordSet => {
            let record_kind = k.rsplit('/').nth(1).unwrap_or_default();
            check_record_set(record_kind, &resource)
                .map_err(|e| ("InvalidRequestContent".to_string(), e))
        }
        Kind::Other => Ok(()),
    };
    if let Err((code, why)) = checked {
        arm.refused_bodies.push(why.clone());
        return arm_error(StatusCode::BAD_REQUEST, &code, &why);
    }
    let current = arm.resources.get(k).map(|s| s.etag);
    if let Some(wanted) = headers.get("if-match").and_then(|v| v.to_str().ok()) {
        if current.map(|e| format!("W/\"{e}\"")).as_deref() != Some(wanted) {
            return arm_error(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "The condition specified using HTTP conditional header(s) is not met.",
            );
        }
    }
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some("*") && current.is_some()
    {
        return arm_error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "The resource exists and If-None-Match: * was given.",
        );
    }
    if kind == Kind::SecurityRule {
        if let Some(conflict) = priority_conflict(arm, parent, k, &resource) {
            return conflict;
        }
    }
    arm.store(path, resource);
    let status = if current.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut answer = arm.answer(k).unwrap_or_default();
    match kind {
        Kind::SecurityRule | Kind::Route => {
            let op = arm.start_operation();
            answer["properties"]["provisioningState"] = json!("Updating");
            let url = format!("{}/operations/{op}", arm.base);
            (
                status,
                [("azure-asyncoperation", url.as_str())],
                axum::Json(answer),
            )
                .into_response()
        }
        _ => (status, axum::Json(answer)).into_response(),
    }
}

/// `SecurityRuleConflict` when another rule of the NSG has the priority
/// and direction (after someone else took it, when that fault is on).
fn priority_conflict(arm: &mut ArmState, nsg: &str, k: &str, rule: &Value) -> Option<Response> {
    let p = &rule["properties"];
    let (priority, direction) = (
        p["priority"].as_i64()?,
        p["direction"].as_str()?.to_string(),
    );
    if std::mem::take(&mut arm.steal_priority_next) {
        let theirs = format!("{nsg}/securityrules/someone-elses-rule");
        arm.store(
            &theirs,
            json!({"properties": {"protocol": "Tcp", "access": "Allow", "direction": direction,
                "priority": priority, "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                "sourcePortRange": "*", "destinationPortRange": "22"}}),
        );
    }
    let rivals = arm.children(nsg, "securityrules");
    let rival = rivals.iter().filter(|c| c.as_str() != k).find(|c| {
        let q = &arm.resources[c.as_str()].body["properties"];
        q["priority"].as_i64() == Some(priority) && q["direction"].as_str() == Some(&direction)
    })?;
    Some(arm_error(
        StatusCode::BAD_REQUEST,
        "SecurityRuleConflict",
        &format!(
            "Security rule {} conflicts with rule {}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.",
            k.rsplit('/').next().unwrap_or_default(),
            rival.rsplit('/').next().unwrap_or_default()
        ),
    ))
}

fn delete(arm: &mut ArmState, k: &str) -> Response {
    let kind = kind_of(k);
    if kind == Kind::Other {
        return arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the fake deletes only what switchboard writes",
        );
    }
    if arm.resources.remove(k).is_none() {
        return StatusCode::NO_CONTENT.into_response();
    }
    match kind {
        Kind::SecurityRule | Kind::Route => {
            let op = arm.start_operation();
            let url = format!("{}/operationResults/{op}", arm.base);
            (StatusCode::ACCEPTED, [("location", url.as_str())]).into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

/// The chapter's Azure side, in subscription `sub-1`, group `rg-net`: VNet
/// `vnet-eastus` (10.20.0.0/16) with a gateway and a data subnet behind NSG
/// `nsg-data` (someone's rule already at priority 3000) and route table
/// `rt-data`; an IPsec connection to `aws_tunnel` (the AWS VPN's outside
/// address); SQL server `orderdb` with public network access and a private
/// endpoint at 10.20.1.5; the private zone `privatelink.database.windows.net`
/// linked to the VNet.
pub fn seed_chapter(arm: &FakeArm, aws_tunnel: &str) {
    let group = "/subscriptions/sub-1/resourceGroups/rg-net";
    let net = format!("{group}/providers/Microsoft.Network");
    let vnet = format!("{net}/virtualNetworks/vnet-eastus");
    arm.seed(group, json!({"location": "eastus", "properties": {}}));
    arm.seed(
        &format!("{net}/networkSecurityGroups/nsg-data"),
        json!({"location": "eastus", "properties": {}}),
    );
    arm.seed(
        &format!("{net}/networkSecurityGroups/nsg-data/securityRules/allow-ops"),
        json!({"properties": {"protocol": "Tcp", "access": "Allow", "direction": "Inbound",
            "priority": 3000, "sourceAddressPrefix": "10.99.0.0/16", "destinationAddressPrefix": "*",
            "sourcePortRange": "*", "destinationPortRange": "22"}}),
    );
    arm.seed(
        &format!("{net}/routeTables/rt-data"),
        json!({"location": "eastus", "properties": {}}),
    );
    arm.seed(
        &vnet,
        json!({"location": "eastus", "properties": {
            "addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
            "subnets": [
                {"id": format!("{vnet}/subnets/GatewaySubnet"), "name": "GatewaySubnet",
                 "properties": {"addressPrefix": "10.20.255.0/27"}},
                {"id": format!("{vnet}/subnets/data"), "name": "data",
                 "properties": {"addressPrefix": "10.20.1.0/24",
                    "networkSecurityGroup": {"id": format!("{net}/networkSecurityGroups/nsg-data")},
                    "routeTable": {"id": format!("{net}/routeTables/rt-data")}}}],
            "virtualNetworkPeerings": []}}),
    );
    arm.seed(
        &format!("{net}/virtualNetworkGateways/vgw-eastus"),
        json!({"location": "eastus", "properties": {"gatewayType": "Vpn", "ipConfigurations": [
            {"id": format!("{net}/virtualNetworkGateways/vgw-eastus/ipConfigurations/default"),
             "properties": {"subnet": {"id": format!("{vnet}/subnets/GatewaySubnet")}}}]}}),
    );
    arm.seed(
        &format!("{net}/localNetworkGateways/lgw-aws"),
        json!({"location": "eastus", "properties": {"gatewayIpAddress": aws_tunnel,
            "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16"]}}}),
    );
    arm.seed(
        &format!("{net}/connections/cn-aws"),
        json!({"location": "eastus", "properties": {"connectionType": "IPsec",
            "connectionStatus": "Connected",
            "virtualNetworkGateway1": {"id": format!("{net}/virtualNetworkGateways/vgw-eastus")},
            "localNetworkGateway2": {"id": format!("{net}/localNetworkGateways/lgw-aws")}}}),
    );
    let server = format!("{group}/providers/Microsoft.Sql/servers/orderdb");
    arm.seed(
        &server,
        json!({"location": "eastus", "kind": "v12.0", "properties": {
            "fullyQualifiedDomainName": "orderdb.database.windows.net",
            "publicNetworkAccess": "Enabled", "state": "Ready", "version": "12.0"}}),
    );
    arm.seed(
        &format!("{net}/privateEndpoints/pe-orderdb"),
        json!({"location": "eastus", "properties": {
            "subnet": {"id": format!("{vnet}/subnets/data")},
            "privateLinkServiceConnections": [{"name": "orderdb",
                "id": format!("{net}/privateEndpoints/pe-orderdb/privateLinkServiceConnections/orderdb"),
                "properties": {"privateLinkServiceId": server, "groupIds": ["sqlServer"]}}],
            "customDnsConfigs": [{"fqdn": "orderdb.database.windows.net", "ipAddresses": ["10.20.1.5"]}]}}),
    );
    let zone = format!("{net}/privateDnsZones/privatelink.database.windows.net");
    arm.seed(&zone, json!({"location": "global", "properties": {}}));
    arm.seed(
        &format!("{zone}/virtualNetworkLinks/to-vnet-eastus"),
        json!({"location": "global", "properties": {
            "virtualNetwork": {"id": vnet}, "registrationEnabled": false}}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_tell_the_kinds_switchboard_writes() {
        let nsg =
            "/subscriptions/s/resourcegroups/g/providers/microsoft.network/networksecuritygroups/n";
        assert_eq!(
            kind_of(&format!("{nsg}/securityrules/r")),
            Kind::SecurityRule
        );
        assert_eq!(kind_of(nsg), Kind::Other);
        assert_eq!(
            kind_of("/subscriptions/s/resourcegroups/g/providers/microsoft.network/privatednszones/z.com/a/www"),
            Kind::RecordSet
        );
        assert_eq!(parent_of(&format!("{nsg}/securityrules/r")), nsg);
        assert!(is_resource_path(nsg));
        assert!(!is_resource_path(
            "/subscriptions/s/providers/microsoft.network/virtualnetworks"
        ));
    }

    #[test]
    fn bodies_outside_the_schemas_are_refused() {
        let rule = json!({"properties": {"protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 3000}});
        assert!(check_security_rule(&rule).is_ok());
        let mut typo = rule.clone();
        typo["properties"]["destinationPort"] = json!("1433");
        assert!(check_security_rule(&typo)
            .unwrap_err()
            .contains("destinationPort"));
        assert!(check_route(&json!({"properties": {"addressPrefix": "10.0.0.0/8", "nextHopType": "VirtualAppliance"}})).is_err());
        assert!(check_route(&json!({"properties": {"addressPrefix": "10.0.0.0/8", "nextHopType": "VirtualNetworkGateway"}})).is_ok());
        assert_eq!(
            check_firewall_rule(
                &json!({"properties": {"startIpAddress": "fd00::1", "endIpAddress": "10.0.0.1"}})
            )
            .unwrap_err()
            .0,
            "FirewallRuleNotIPv4Address"
        );
        assert!(check_record_set(
            "a",
            &json!({"properties": {"ttl": 300, "aRecords": [{"ipv4Address": "10.0.0.1"}]}})
        )
        .is_ok());
        assert!(check_record_set(
            "a",
            &json!({"properties": {"ttl": 300, "cnameRecord": {"cname": "x"}}})
        )
        .is_err());
    }
}
