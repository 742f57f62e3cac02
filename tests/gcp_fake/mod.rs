//! A fake of the GCP write APIs on loopback for the actor's peer tests:
//! Compute v1 firewalls and routes (insert, get, list, delete) whose writes
//! are operations that go PENDING → RUNNING → DONE over polls of
//! `globalOperations.get`/`wait` (the resource changes only at DONE), and
//! Cloud DNS v1 managed zones (list, get, create), record sets (list) and
//! changes (create, get: pending, then done).
//!
//! It refuses what Google refuses: a request without the bearer token
//! (401), a body that does not match the published schema
//! (`tests/fixtures/gcp/{compute.v1.write-subset,dns.v1.subset}.json`:
//! unknown field names, wrong types and enums, missing required fields), a
//! name outside `[a-z]([-a-z0-9]*[a-z0-9])?`, a firewall with both target
//! tags and target service accounts, a route without exactly one next hop,
//! a duplicate name (409 alreadyExists), a DNS deletion that does not match
//! the data exactly (412 conditionNotMet), an addition that exists already
//! (409). A repeated `requestId` answers the first request's operation.
//! Switchable faults: the next operation ends DONE with errors, the next
//! requests are throttled (429 rateLimitExceeded), operations never finish.
//! For discovery it serves the lists a test registers (`serve`: networks,
//! VPN gateways and tunnels, Cloud SQL instances…) at their paths.

#![allow(dead_code)] // each test binary uses a different part of the fake

use super::fakes::{fixture, TOKEN};
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

type Params = Query<HashMap<String, String>>;
/// (project, name)
type Key = (String, String);

/// What a Compute operation does when it reaches DONE.
#[derive(Clone)]
enum Effect {
    Insert(&'static str, Key, Value),
    Delete(&'static str, Key),
}

struct Operation {
    body: Value,
    polls: u32,
    effect: Option<Effect>,
    fail: Option<(String, String)>,
}

#[derive(Default)]
struct FakeState {
    firewalls: BTreeMap<Key, Value>,
    routes: BTreeMap<Key, Value>,
    operations: HashMap<String, Operation>,
    request_ids: HashMap<String, String>,
    zones: BTreeMap<Key, Value>,
    /// (project, zone) → record sets.
    rrsets: BTreeMap<Key, Vec<Value>>,
    changes: HashMap<String, (Value, u32)>,
    next_id: u64,
    /// Per destination range, the route names for it after every write.
    route_sets: Vec<(String, Vec<String>)>,
    /// Insert requests accepted per collection (a repeated requestId not counted).
    inserts: HashMap<&'static str, u32>,
    /// Bodies served as they are at a path (discovery's lists).
    lists: HashMap<String, Value>,
    fail_next: Option<(String, String)>,
    throttle: u32,
    hang: bool,
}

#[derive(Clone)]
pub struct GcpFake {
    pub base: String,
    compute: Arc<Value>,
    dns: Arc<Value>,
    state: Arc<Mutex<FakeState>>,
}

impl GcpFake {
    pub async fn start() -> GcpFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let fake = GcpFake {
            base: format!("http://{}", listener.local_addr().expect("local addr")),
            compute: Arc::new(fixture("gcp/compute.v1.write-subset.json")),
            dns: Arc::new(fixture("gcp/dns.v1.subset.json")),
            state: Arc::default(),
        };
        let compute = "/compute/v1/projects/{project}/global";
        let dns = "/dns/v1/projects/{project}/managedZones";
        let app = Router::new()
            .route(
                &format!("{compute}/{{collection}}"),
                get(compute_list).post(compute_insert),
            )
            .route(
                &format!("{compute}/{{collection}}/{{name}}"),
                get(compute_get).delete(compute_delete),
            )
            .route(&format!("{compute}/operations/{{op}}"), get(operation_poll))
            .route(
                &format!("{compute}/operations/{{op}}/wait"),
                post(operation_poll),
            )
            .route(dns, get(zones_list).post(zones_create))
            .route(&format!("{dns}/{{zone}}"), get(zones_get))
            .route(&format!("{dns}/{{zone}}/rrsets"), get(rrsets_list))
            .route(&format!("{dns}/{{zone}}/changes"), post(changes_create))
            .route(&format!("{dns}/{{zone}}/changes/{{id}}"), get(changes_get))
            .fallback(served)
            .layer(middleware::from_fn_with_state(fake.clone(), gate))
            .with_state(fake.clone());
        // Lives as long as the test's runtime; dropped with it.
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().expect("fake lock"))
    }

    // ---- faults ----

    /// The next operation ends DONE with this error (and changes nothing).
    pub fn fail_next_operation(&self, code: &str, message: &str) {
        self.with(|s| s.fail_next = Some((code.into(), message.into())));
    }

    /// The next `times` requests answer 429 rateLimitExceeded.
    pub fn throttle(&self, times: u32) {
        self.with(|s| s.throttle = times);
    }

    /// Operations stay RUNNING however often they are polled (`false`:
    /// they move on again).
    pub fn hang_operations(&self, hang: bool) {
        self.with(|s| s.hang = hang);
    }

    /// Answers GET `path` with `body` (a list discovery reads).
    pub fn serve(&self, path: &str, body: Value) {
        self.with(|s| s.lists.insert(path.to_string(), body));
    }

    /// What `serve` registered at `uri`'s path, else 404.
    fn served(&self, uri: &Uri) -> Response {
        match self.with(|s| s.lists.get(uri.path()).cloned()) {
            Some(body) => Json(body).into_response(),
            None => google_error(404, "notFound", &format!("fake: nothing at {uri}")),
        }
    }

    /// Forgets every `requestId` (Compute keeps them only for a while): a
    /// repeated insert then meets its own resource as a duplicate name.
    pub fn forget_request_ids(&self) {
        self.with(|s| s.request_ids.clear());
    }

    // ---- seeding and inspection ----

    pub fn seed(&self, collection: &str, project: &str, resource: Value) {
        let name = resource["name"].as_str().expect("name").to_string();
        self.with(|s| {
            let key = (project.to_string(), name);
            match collection {
                "firewalls" => s.firewalls.insert(key, resource),
                "routes" => s.routes.insert(key, resource),
                "managedZones" => s.zones.insert(key, resource),
                other => panic!("no collection {other}"),
            };
        });
    }

    pub fn seed_rrset(&self, project: &str, zone: &str, rrset: Value) {
        self.with(|s| {
            s.rrsets
                .entry((project.into(), zone.into()))
                .or_default()
                .push(rrset)
        });
    }

    pub fn firewalls(&self, project: &str) -> Vec<Value> {
        self.with(|s| of_project(&s.firewalls, project))
    }

    pub fn routes(&self, project: &str) -> Vec<Value> {
        self.with(|s| of_project(&s.routes, project))
    }

    pub fn zones(&self, project: &str) -> Vec<Value> {
        self.with(|s| of_project(&s.zones, project))
    }

    pub fn rrsets(&self, project: &str, zone: &str) -> Vec<Value> {
        self.with(|s| {
            s.rrsets
                .get(&(project.into(), zone.into()))
                .cloned()
                .unwrap_or_default()
        })
    }

    /// The names of the routes for `dest` after each route write, in order.
    pub fn route_sets(&self, dest: &str) -> Vec<Vec<String>> {
        self.with(|s| {
            s.route_sets
                .iter()
                .filter(|(d, _)| d == dest)
                .map(|(_, names)| names.clone())
                .collect()
        })
    }

    /// Insert requests accepted for `collection`.
    pub fn inserts(&self, collection: &str) -> u32 {
        self.with(|s| s.inserts.get(collection).copied().unwrap_or(0))
    }
}

fn of_project(map: &BTreeMap<Key, Value>, project: &str) -> Vec<Value> {
    map.iter()
        .filter(|((p, _), _)| p == project)
        .map(|(_, v)| v.clone())
        .collect()
}

/// A list registered with `serve`, else 404 as Google answers an unknown path.
async fn served(State(fake): State<GcpFake>, method: Method, uri: Uri) -> Response {
    if method != Method::GET {
        return google_error(404, "notFound", &format!("fake: nothing at {uri}"));
    }
    fake.served(&uri)
}

fn google_error(code: u16, reason: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(code).expect("status");
    let body = json!({"error": {
        "code": code, "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
    }});
    (status, Json(body)).into_response()
}

/// The checks every request passes first: the token, then a throttle.
async fn gate(State(fake): State<GcpFake>, request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if bearer != format!("Bearer {TOKEN}") {
        return google_error(
            401,
            "required",
            "Request is missing required authentication credential. Expected OAuth 2 access token.",
        );
    }
    let throttled = fake.with(|s| {
        let throttled = s.throttle > 0;
        s.throttle = s.throttle.saturating_sub(1);
        throttled
    });
    if throttled {
        return google_error(429, "rateLimitExceeded", "Rate Limit Exceeded");
    }
    next.run(request).await
}

// ---- schema checks ----

/// Checks `value` against schema `schema` of discovery document `doc`, the
/// way Google's JSON reader does: every field must be in the schema, of its
/// type (and enum); `at` names the place in messages.
fn check_schema(doc: &Value, schema: &str, value: &Value, at: &str) -> Result<(), String> {
    let properties = &doc["schemas"][schema]["properties"];
    check_object(doc, properties, value, at)
}

fn check_object(doc: &Value, properties: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(object) = value.as_object() else {
        return Err(format!(
            "Invalid JSON payload received. Expected an object at '{at}'."
        ));
    };
    for (name, field) in object {
        let Some(spec) = properties.get(name) else {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."
            ));
        };
        check_value(doc, spec, field, &format!("{at}.{name}"))?;
    }
    Ok(())
}

fn check_value(doc: &Value, spec: &Value, value: &Value, at: &str) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    if let Some(schema) = spec["$ref"].as_str() {
        return check_schema(doc, schema, value, at);
    }
    let bad = || format!("Invalid value at '{at}': {value}");
    match spec["type"].as_str() {
        Some("string") => {
            let text = value.as_str().ok_or_else(bad)?;
            match spec["enum"].as_array() {
                Some(allowed) if !allowed.iter().any(|a| a == text) => Err(bad()),
                _ => Ok(()),
            }
        }
        Some("integer") => {
            let numeric = value.is_i64()
                || value.is_u64()
                || value.as_str().is_some_and(|s| s.parse::<i64>().is_ok());
            numeric.then_some(()).ok_or_else(bad)
        }
        Some("boolean") => value.is_boolean().then_some(()).ok_or_else(bad),
        Some("number") => value.is_number().then_some(()).ok_or_else(bad),
        Some("array") => {
            let items = value.as_array().ok_or_else(bad)?;
            items.iter().enumerate().try_for_each(|(i, item)| {
                check_value(doc, &spec["items"], item, &format!("{at}[{i}]"))
            })
        }
        Some("object") if spec.get("properties").is_some() => {
            check_object(doc, &spec["properties"], value, at)
        }
        Some("object") => value.is_object().then_some(()).ok_or_else(bad),
        _ => Ok(()),
    }
}

/// Fields the schema's `annotations.required` lists for `method`.
fn required_missing(doc: &Value, schema: &str, method: &str, value: &Value) -> Option<String> {
    let properties = doc["schemas"][schema]["properties"].as_object()?;
    properties.iter().find_map(|(name, spec)| {
        let required = spec
            .pointer("/annotations/required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|m| m == method));
        (required && value.get(name).is_none_or(Value::is_null)).then(|| name.clone())
    })
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

fn valid_request_id(id: &str) -> bool {
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    groups == [8, 4, 4, 4, 12]
        && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        && id.chars().any(|c| c.is_ascii_hexdigit() && c != '0')
}

fn invalid(message: String) -> Response {
    google_error(400, "invalid", &message)
}

// ---- Compute ----

/// A Compute collection this fake serves, and its schema.
fn collection_of(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "firewalls" => Some(("firewalls", "Firewall")),
        "routes" => Some(("routes", "Route")),
        _ => None,
    }
}

fn no_collection() -> Response {
    google_error(404, "notFound", "fake: no such collection")
}

/// The semantic checks Compute makes beyond the schema.
fn compute_rules(collection: &str, body: &Value) -> Result<(), String> {
    let has = |field: &str| body.get(field).is_some_and(|v| !v.is_null());
    match collection {
        "firewalls" => {
            if has("targetTags") && has("targetServiceAccounts") {
                return Err("Invalid value for field 'resource.targetServiceAccounts': ''. targetServiceAccounts cannot be used at the same time as targetTags or sourceTags.".into());
            }
            let ingress = body["direction"].as_str().unwrap_or("INGRESS") == "INGRESS";
            if ingress
                && !["sourceRanges", "sourceTags", "sourceServiceAccounts"]
                    .iter()
                    .any(|f| has(f))
            {
                return Err("Invalid value for field 'resource.sourceRanges': ''. Must specify at least one source.".into());
            }
            let rules = body["allowed"].as_array().map_or(0, Vec::len)
                + body["denied"].as_array().map_or(0, Vec::len);
            if rules == 0 {
                return Err("Invalid value for field 'resource.allowed': ''. Must specify at least one rule.".into());
            }
            Ok(())
        }
        _ => {
            let hops = [
                "nextHopGateway",
                "nextHopIlb",
                "nextHopInstance",
                "nextHopIp",
                "nextHopNetwork",
                "nextHopVpnTunnel",
            ]
            .iter()
            .filter(|f| has(f))
            .count();
            if hops != 1 {
                return Err(format!("Invalid value for field 'resource': ''. A route must have exactly one next hop, not {hops}."));
            }
            match body["priority"].as_u64() {
                Some(p) if p <= 65535 => Ok(()),
                _ => Err("Invalid value for field 'resource.priority': must be 0 to 65535.".into()),
            }
        }
    }
}

impl GcpFake {
    fn link(&self, project: &str, collection: &str, name: &str) -> String {
        format!(
            "{}/compute/v1/projects/{project}/global/{collection}/{name}",
            self.base
        )
    }

    /// A new operation (PENDING) with `effect` at DONE.
    fn operation(
        &self,
        s: &mut FakeState,
        project: &str,
        kind: &str,
        target: String,
        request_id: &str,
        effect: Effect,
    ) -> Value {
        s.next_id += 1;
        let name = format!("operation-{}-{:08x}", s.next_id, s.next_id * 2654435761);
        let body = json!({
            "kind": "compute#operation",
            "id": (1_000_000 + s.next_id).to_string(),
            "name": name,
            "operationType": kind,
            "targetLink": target,
            "targetId": (5_000_000 + s.next_id).to_string(),
            "status": "PENDING",
            "user": "switchboard@acme.iam.gserviceaccount.com",
            "progress": 0,
            "insertTime": "2026-12-04T12:00:00.000-08:00",
            "selfLink": format!("{}/compute/v1/projects/{project}/global/operations/{name}", self.base),
            "clientOperationId": request_id,
        });
        let fail = s.fail_next.take();
        s.request_ids.insert(request_id.to_string(), name.clone());
        s.operations.insert(
            name,
            Operation {
                body: body.clone(),
                polls: 0,
                effect: Some(effect),
                fail,
            },
        );
        body
    }
}

fn map_of<'s>(s: &'s mut FakeState, collection: &str) -> &'s mut BTreeMap<Key, Value> {
    if collection == "firewalls" {
        &mut s.firewalls
    } else {
        &mut s.routes
    }
}

fn record_routes(s: &mut FakeState, dest: &str) {
    let names = s
        .routes
        .values()
        .filter(|r| r["destRange"] == dest)
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    s.route_sets.push((dest.to_string(), names));
}

/// Whether a write (insert or delete) has already been asked for with this
/// `requestId`: then its operation is the answer.
fn repeated(s: &FakeState, request_id: &str) -> Option<Value> {
    let name = s.request_ids.get(request_id)?;
    s.operations.get(name).map(|op| op.body.clone())
}

async fn compute_insert(
    State(fake): State<GcpFake>,
    Path((project, collection)): Path<(String, String)>,
    Query(query): Params,
    body: String,
) -> Response {
    let Some((collection, schema)) = collection_of(&collection) else {
        return no_collection();
    };
    let request_id = query.get("requestId").cloned().unwrap_or_default();
    if !request_id.is_empty() && !valid_request_id(&request_id) {
        return invalid(format!("Invalid value for field 'requestId': '{request_id}'. The request id must be a valid UUID with the exception that zero UUID is not supported (00000000-0000-0000-0000-000000000000)."));
    }
    let Ok(resource) = serde_json::from_str::<Value>(&body) else {
        return invalid("Invalid JSON payload received.".into());
    };
    if let Err(message) = check_schema(&fake.compute, schema, &resource, "resource") {
        return invalid(message);
    }
    if let Some(field) = required_missing(
        &fake.compute,
        schema,
        &format!("compute.{collection}.insert"),
        &resource,
    ) {
        return invalid(format!("Required field '{field}' not specified"));
    }
    let name = resource["name"].as_str().unwrap_or_default().to_string();
    if !valid_name(&name) {
        return invalid(format!("Invalid value for field 'resource.name': '{name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'"));
    }
    if let Err(message) = compute_rules(collection, &resource) {
        return invalid(message);
    }
    fake.with(|s| {
        if let Some(op) = repeated(s, &request_id) {
            return Json(op).into_response();
        }
        let key = (project.clone(), name.clone());
        let pending = s.operations.values().any(|op| {
            matches!(&op.effect, Some(Effect::Insert(c, k, _)) if *c == collection && *k == key)
        });
        if map_of(s, collection).contains_key(&key) || pending {
            return google_error(
                409,
                "alreadyExists",
                &format!(
                    "The resource 'projects/{project}/global/{collection}/{name}' already exists"
                ),
            );
        }
        let target = fake.link(&project, collection, &name);
        let mut stored = resource.clone();
        stored["kind"] = json!(format!("compute#{}", &schema.to_ascii_lowercase()));
        stored["selfLink"] = json!(target);
        stored["network"] = json!(format!(
            "https://www.googleapis.com/compute/v1/{}",
            resource["network"]
                .as_str()
                .unwrap_or("global/networks/default")
        ));
        *s.inserts.entry(collection).or_default() += 1;
        let op = fake.operation(
            s,
            &project,
            "insert",
            target,
            &request_id,
            Effect::Insert(collection, key, stored),
        );
        Json(op).into_response()
    })
}

async fn compute_delete(
    State(fake): State<GcpFake>,
    Path((project, collection, name)): Path<(String, String, String)>,
    Query(query): Params,
) -> Response {
    let Some((collection, _)) = collection_of(&collection) else {
        return no_collection();
    };
    let request_id = query.get("requestId").cloned().unwrap_or_default();
    fake.with(|s| {
        if let Some(op) = repeated(s, &request_id) {
            return Json(op).into_response();
        }
        let key = (project.clone(), name.clone());
        if !map_of(s, collection).contains_key(&key) {
            return google_error(
                404,
                "notFound",
                &format!(
                    "The resource 'projects/{project}/global/{collection}/{name}' was not found"
                ),
            );
        }
        let target = fake.link(&project, collection, &name);
        let op = fake.operation(
            s,
            &project,
            "delete",
            target,
            &request_id,
            Effect::Delete(collection, key),
        );
        Json(op).into_response()
    })
}

async fn compute_get(
    State(fake): State<GcpFake>,
    Path((project, collection, name)): Path<(String, String, String)>,
) -> Response {
    let Some((collection, _)) = collection_of(&collection) else {
        return no_collection();
    };
    fake.with(
        |s| match map_of(s, collection).get(&(project.clone(), name.clone())) {
            Some(found) => Json(found.clone()).into_response(),
            None => google_error(
                404,
                "notFound",
                &format!(
                    "The resource 'projects/{project}/global/{collection}/{name}' was not found"
                ),
            ),
        },
    )
}

async fn compute_list(
    State(fake): State<GcpFake>,
    Path((project, collection)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    // Other global lists (networks…) are discovery's, served as registered.
    let Some((collection, schema)) = collection_of(&collection) else {
        return fake.served(&uri);
    };
    let items = fake.with(|s| of_project(map_of(s, collection), &project));
    Json(json!({"kind": format!("compute#{}List", schema.to_ascii_lowercase()), "id": format!("projects/{project}/global/{collection}"), "items": items})).into_response()
}

/// `globalOperations.get` and `wait`: each poll moves the operation on one
/// step (PENDING → RUNNING → DONE) unless operations hang.
async fn operation_poll(
    State(fake): State<GcpFake>,
    Path((_project, name)): Path<(String, String)>,
) -> Response {
    fake.with(|s| {
        let hang = s.hang;
        let Some(op) = s.operations.get_mut(&name) else {
            return google_error(
                404,
                "notFound",
                &format!("The resource 'operation {name}' was not found"),
            );
        };
        if op.body["status"] != "DONE" && !hang {
            op.polls += 1;
        }
        let status = match (hang, op.polls) {
            (true, _) | (false, 1) => "RUNNING",
            (false, 0) => "PENDING",
            _ => "DONE",
        };
        op.body["status"] = json!(status);
        if status != "DONE" {
            return Json(op.body.clone()).into_response();
        }
        let effect = op.effect.take();
        if let Some((code, message)) = op.fail.clone() {
            op.body["progress"] = json!(100);
            op.body["httpErrorStatusCode"] = json!(400);
            op.body["httpErrorMessage"] = json!("BAD REQUEST");
            op.body["error"] = json!({"errors": [{"code": code, "message": message}]});
            return Json(op.body.clone()).into_response();
        }
        op.body["progress"] = json!(100);
        let body = op.body.clone();
        match effect {
            Some(Effect::Insert(collection, key, resource)) => {
                let dest = resource["destRange"].as_str().map(str::to_string);
                map_of(s, collection).insert(key, resource);
                if let Some(dest) = dest {
                    record_routes(s, &dest);
                }
            }
            Some(Effect::Delete(collection, key)) => {
                let removed = map_of(s, collection).remove(&key);
                if let Some(dest) = removed.as_ref().and_then(|r| r["destRange"].as_str()) {
                    record_routes(s, dest);
                }
            }
            None => {}
        }
        Json(body).into_response()
    })
}

// ---- Cloud DNS ----

async fn zones_list(State(fake): State<GcpFake>, Path(project): Path<String>) -> Response {
    let zones = fake.zones(&project);
    Json(json!({"kind": "dns#managedZonesListResponse", "managedZones": zones})).into_response()
}

async fn zones_get(
    State(fake): State<GcpFake>,
    Path((project, zone)): Path<(String, String)>,
) -> Response {
    fake.with(|s| match s.zones.get(&(project, zone.clone())) {
        Some(found) => Json(found.clone()).into_response(),
        None => google_error(
            404,
            "notFound",
            &format!("The 'parameters.managedZone' resource named '{zone}' does not exist."),
        ),
    })
}

async fn zones_create(
    State(fake): State<GcpFake>,
    Path(project): Path<String>,
    body: String,
) -> Response {
    let Ok(zone) = serde_json::from_str::<Value>(&body) else {
        return invalid("Invalid JSON payload received.".into());
    };
    if let Err(message) = check_schema(&fake.dns, "ManagedZone", &zone, "managedZone") {
        return invalid(message);
    }
    for field in ["name", "dnsName", "description"] {
        if zone.get(field).is_none() {
            return invalid(format!("Required field '{field}' not specified"));
        }
    }
    let name = zone["name"].as_str().unwrap_or_default().to_string();
    if !valid_name(&name) || !zone["dnsName"].as_str().unwrap_or_default().ends_with('.') {
        return invalid(format!("Invalid value for 'entity.managedZone': '{name}'"));
    }
    let private = zone["visibility"] == "private";
    let networks = zone
        .pointer("/privateVisibilityConfig/networks")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if private && networks == 0 {
        return invalid("Invalid value for 'entity.managedZone.privateVisibilityConfig': a private zone must be visible to a network".into());
    }
    fake.with(|s| {
        let key = (project.clone(), name.clone());
        if s.zones.contains_key(&key) {
            return google_error(
                409,
                "alreadyExists",
                &format!("The resource 'entity.managedZone' named '{name}' already exists"),
            );
        }
        s.next_id += 1;
        let mut created = zone.clone();
        created["kind"] = json!("dns#managedZone");
        created["id"] = json!((7_000_000 + s.next_id).to_string());
        created["creationTime"] = json!("2026-12-04T20:00:00.000Z");
        created["nameServers"] = json!(["ns-gcp-private.googledomains.com."]);
        s.zones.insert(key, created.clone());
        Json(created).into_response()
    })
}

async fn rrsets_list(
    State(fake): State<GcpFake>,
    Path((project, zone)): Path<(String, String)>,
    Query(query): Params,
) -> Response {
    if query.contains_key("type") && !query.contains_key("name") {
        return invalid("Invalid value for 'parameters.type': type requires name".into());
    }
    fake.with(|s| {
        if !s.zones.contains_key(&(project.clone(), zone.clone())) {
            return google_error(
                404,
                "notFound",
                &format!("The 'parameters.managedZone' resource named '{zone}' does not exist."),
            );
        }
        let sets: Vec<Value> = s
            .rrsets
            .get(&(project, zone))
            .into_iter()
            .flatten()
            .filter(|r| query.get("name").is_none_or(|n| r["name"] == n.as_str()))
            .filter(|r| query.get("type").is_none_or(|t| r["type"] == t.as_str()))
            .cloned()
            .collect();
        Json(json!({"kind": "dns#resourceRecordSetsListResponse", "rrsets": sets})).into_response()
    })
}

fn no_zone(zone: &str) -> Response {
    google_error(
        404,
        "notFound",
        &format!("The 'parameters.managedZone' resource named '{zone}' does not exist."),
    )
}

fn same_set(a: &Value, b: &Value) -> bool {
    ["name", "type", "ttl", "rrdatas"]
        .iter()
        .all(|f| a.get(f) == b.get(f))
}

async fn changes_create(
    State(fake): State<GcpFake>,
    Path((project, zone)): Path<(String, String)>,
    body: String,
) -> Response {
    let Ok(change) = serde_json::from_str::<Value>(&body) else {
        return invalid("Invalid JSON payload received.".into());
    };
    if let Err(message) = check_schema(&fake.dns, "Change", &change, "change") {
        return invalid(message);
    }
    let list = |field: &str| change[field].as_array().cloned().unwrap_or_default();
    let (additions, deletions) = (list("additions"), list("deletions"));
    if additions.is_empty() && deletions.is_empty() {
        return invalid("The 'entity.change' resource must have additions or deletions".into());
    }
    fake.with(|s| {
        let key = (project.clone(), zone.clone());
        let Some(dns_name) = s.zones.get(&key).and_then(|z| z["dnsName"].as_str()).map(str::to_string) else {
            return no_zone(&zone);
        };
        let mut sets = s.rrsets.get(&key).cloned().unwrap_or_default();
        for (i, deletion) in deletions.iter().enumerate() {
            let Some(at) = sets.iter().position(|r| same_set(r, deletion)) else {
                return google_error(412, "conditionNotMet", &format!("Precondition not met for 'entity.change.deletions[{i}]'"));
            };
            sets.remove(at);
        }
        for (i, addition) in additions.iter().enumerate() {
            let name = addition["name"].as_str().unwrap_or_default();
            let in_zone = name == dns_name || name.ends_with(&format!(".{dns_name}"));
            let complete = addition["type"].is_string() && addition["rrdatas"].as_array().is_some_and(|d| !d.is_empty());
            if !in_zone || !complete {
                return invalid(format!("Invalid value for 'entity.change.additions[{i}].name': '{name}'"));
            }
            if sets.iter().any(|r| r["name"] == addition["name"] && r["type"] == addition["type"]) {
                return google_error(409, "alreadyExists", &format!("The resource 'entity.change.additions[{i}]' named '{name} ({})' already exists", addition["type"].as_str().unwrap_or_default()));
            }
            let mut stored = addition.clone();
            stored["kind"] = json!("dns#resourceRecordSet");
            sets.push(stored);
        }
        s.rrsets.insert(key, sets);
        s.next_id += 1;
        let id = s.next_id.to_string();
        let mut answer = change.clone();
        answer["kind"] = json!("dns#change");
        answer["id"] = json!(id);
        answer["status"] = json!("pending");
        answer["startTime"] = json!("2026-12-04T20:00:00.000Z");
        s.changes.insert(format!("{project}/{zone}/{id}"), (answer.clone(), 0));
        Json(answer).into_response()
    })
}

async fn changes_get(
    State(fake): State<GcpFake>,
    Path((project, zone, id)): Path<(String, String, String)>,
) -> Response {
    fake.with(|s| {
        let hang = s.hang;
        let Some((change, polls)) = s.changes.get_mut(&format!("{project}/{zone}/{id}")) else {
            return google_error(
                404,
                "notFound",
                &format!("The 'parameters.changeId' resource named '{id}' does not exist."),
            );
        };
        *polls += 1;
        if !hang {
            change["status"] = json!("done");
        }
        Json(change.clone()).into_response()
    })
}
