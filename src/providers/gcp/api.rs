//! Google's REST writes over HTTP, the IO half of `operation`: GET (404 is
//! "none"), paged lists, Compute inserts and deletes with a `requestId` and
//! their operation followed through `globalOperations.wait` until `DONE`,
//! and Cloud DNS changes followed through `changes.get` until `done`, all
//! under one deadline. Throttling (429, `rateLimitExceeded`) and 5xx are
//! retried with backoff honouring `Retry-After`; an operation that ends
//! with errors is a failure in Google's words, never a success.

use super::operation::{self, OpError, OpState, Reply};
use crate::providers::azure::arm::Pace;
use crate::providers::rest::{backoff, retry_after_delay, AccessToken, MAX_PAGES};
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, Url};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The longest pause between two polls of one operation.
const MAX_POLL_PAUSE: Duration = Duration::from_secs(5);
/// `globalOperations.wait` answers within two minutes; a little more.
const WAIT_CALL_LIMIT: Duration = Duration::from_secs(130);

#[derive(Debug, thiserror::Error)]
pub enum GcpError {
    #[error("{api}: {reason}: {message}")]
    Refused {
        api: String,
        reason: String,
        message: String,
    },
    #[error("{api}: alreadyExists: {message}")]
    AlreadyExists { api: String, message: String },
    #[error("{api}: conditionNotMet: {message}")]
    ConditionNotMet { api: String, message: String },
    #[error("{api}: the operation failed: {}", describe(errors))]
    Failed { api: String, errors: Vec<OpError> },
    #[error("{api}: {what} had not finished after {waited:?}")]
    Timeout {
        api: String,
        what: String,
        waited: Duration,
    },
    #[error("{api}: {detail}")]
    Unreachable { api: String, detail: String },
}

fn describe(errors: &[OpError]) -> String {
    let each: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.code, e.message))
        .collect();
    each.join("; ")
}

impl GcpError {
    /// Worth trying the whole change again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GcpError::Timeout { .. } | GcpError::Unreachable { .. }
        )
    }
}

/// The Compute and Cloud DNS endpoints with one token.
pub struct GoogleApi {
    http: reqwest::Client,
    token: AccessToken,
    compute: Url,
    dns: Url,
    pace: Pace,
}

impl GoogleApi {
    pub fn new(
        http: reqwest::Client,
        token: AccessToken,
        [compute, dns]: [Url; 2],
        pace: Pace,
    ) -> GoogleApi {
        GoogleApi {
            http,
            token,
            compute,
            dns,
            pace,
        }
    }

    fn join(base: &Url, path: &str) -> Result<Url, GcpError> {
        base.join(path).map_err(|e| GcpError::Refused {
            api: path.to_string(),
            reason: "badUrl".into(),
            message: e.to_string(),
        })
    }

    /// The pause before poll number `polls + 1`: growing, capped.
    fn pause(&self, polls: u32) -> Duration {
        self.pace.poll.saturating_mul(polls).min(MAX_POLL_PAUSE)
    }

    /// `compute/v1/projects/<project>/<path>` on the Compute endpoint.
    pub fn compute(&self, project: &str, path: &str) -> Result<Url, GcpError> {
        Self::join(
            &self.compute,
            &format!("compute/v1/projects/{project}/{path}"),
        )
    }

    /// `dns/v1/projects/<project>/<path>` on the Cloud DNS endpoint.
    pub fn dns(&self, project: &str, path: &str) -> Result<Url, GcpError> {
        Self::join(&self.dns, &format!("dns/v1/projects/{project}/{path}"))
    }

    /// One request, with throttling, 5xx and transport failures retried;
    /// `None` for a 404, any other error in Google's words.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        timeout: Option<Duration>,
        api: &str,
    ) -> Result<Option<Value>, GcpError> {
        let mut attempt = 1;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(self.token.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            let (wait, detail) = match request.send().await {
                Err(e) => (backoff(attempt), e.to_string()),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| retry_after_delay(v, chrono::Utc::now()));
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return serde_json::from_str(&text).map(Some).map_err(|e| {
                            GcpError::Refused {
                                api: api.to_string(),
                                reason: "malformedAnswer".into(),
                                message: e.to_string(),
                            }
                        });
                    }
                    let api = api.to_string();
                    match operation::reply(status.as_u16(), &text) {
                        Reply::Retry(detail) => {
                            (retry_after.unwrap_or_else(|| backoff(attempt)), detail)
                        }
                        Reply::NotFound(_) => return Ok(None),
                        Reply::AlreadyExists(message) => {
                            return Err(GcpError::AlreadyExists { api, message })
                        }
                        Reply::ConditionNotMet(message) => {
                            return Err(GcpError::ConditionNotMet { api, message })
                        }
                        Reply::Refused { reason, message } => {
                            return Err(GcpError::Refused {
                                api,
                                reason,
                                message,
                            })
                        }
                    }
                }
            };
            if attempt >= self.pace.max_attempts.max(1) {
                return Err(GcpError::Unreachable {
                    api: api.to_string(),
                    detail: format!("{detail} (after {attempt} attempt(s))"),
                });
            }
            tracing::debug!(api, attempt, ?wait, %detail, "gcp: retrying");
            tokio::time::sleep(wait.min(self.pace.deadline)).await;
            attempt += 1;
        }
    }

    /// The resource at `url`; `None` when it does not exist.
    pub async fn get(&self, url: &Url, api: &str) -> Result<Option<Value>, GcpError> {
        self.send(Method::GET, url, None, None, api).await
    }

    /// Every item of a list whose items are under `field`, page by page.
    pub async fn list(&self, url: &Url, field: &str, api: &str) -> Result<Vec<Value>, GcpError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut page_url = url.clone();
            if let Some(token) = &token {
                page_url.query_pairs_mut().append_pair("pageToken", token);
            }
            let Some(mut page) = self.get(&page_url, api).await? else {
                return Ok(items);
            };
            if let Some(Value::Array(list)) = page.get_mut(field).map(Value::take) {
                items.extend(list);
            }
            match page.get("nextPageToken").and_then(Value::as_str) {
                Some(next) if !next.is_empty() && token.as_deref() != Some(next) => {
                    token = Some(next.to_string());
                }
                _ => return Ok(items),
            }
        }
        Err(GcpError::Refused {
            api: api.to_string(),
            reason: "tooManyPages".into(),
            message: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// POSTs `body` to a collection that answers with what it created at
    /// once (Cloud DNS's managed zones).
    pub async fn create(&self, url: &Url, body: &Value, api: &str) -> Result<Value, GcpError> {
        let created = self.send(Method::POST, url, Some(body), None, api).await?;
        created.ok_or_else(|| GcpError::Refused {
            api: api.to_string(),
            reason: "notFound".into(),
            message: format!("{url} does not exist"),
        })
    }

    /// POSTs `body` to a Compute collection with `requestId` and follows the
    /// operation until `DONE`.
    pub async fn insert(
        &self,
        project: &str,
        collection: &Url,
        body: &Value,
        request_id: &str,
        api: &str,
    ) -> Result<(), GcpError> {
        let mut url = collection.clone();
        url.query_pairs_mut().append_pair("requestId", request_id);
        let op = self.send(Method::POST, &url, Some(body), None, api).await?;
        let op = op.ok_or_else(|| GcpError::Refused {
            api: api.to_string(),
            reason: "notFound".into(),
            message: format!("{collection} does not exist"),
        })?;
        self.wait(project, op, api).await
    }

    /// DELETEs a Compute resource with `requestId` and follows the operation
    /// until `DONE`; one already gone (404) is deleted.
    pub async fn delete(
        &self,
        project: &str,
        resource: &Url,
        request_id: &str,
        api: &str,
    ) -> Result<(), GcpError> {
        let mut url = resource.clone();
        url.query_pairs_mut().append_pair("requestId", request_id);
        match self.send(Method::DELETE, &url, None, None, api).await? {
            None => Ok(()),
            Some(op) => self.wait(project, op, api).await,
        }
    }

    /// Calls `globalOperations.wait` until the operation is `DONE` or the
    /// deadline passes (`wait` may answer early, still running).
    async fn wait(&self, project: &str, first: Value, api: &str) -> Result<(), GcpError> {
        let started = Instant::now();
        let mut op = first;
        let mut polls = 0;
        loop {
            let name = match operation::operation(&op) {
                OpState::Done { warnings } => {
                    for warning in warnings {
                        tracing::warn!(api, %warning, "gcp: operation succeeded with a warning");
                    }
                    return Ok(());
                }
                OpState::Failed(errors) => {
                    return Err(GcpError::Failed {
                        api: api.to_string(),
                        errors,
                    })
                }
                OpState::Unreadable(detail) => {
                    return Err(GcpError::Refused {
                        api: api.to_string(),
                        reason: "unreadableOperation".into(),
                        message: detail,
                    })
                }
                OpState::Running { name } => name,
            };
            let timeout = || GcpError::Timeout {
                api: api.to_string(),
                what: format!("operation {name}"),
                waited: started.elapsed(),
            };
            let left = self
                .pace
                .deadline
                .checked_sub(started.elapsed())
                .filter(|left| !left.is_zero())
                .ok_or_else(timeout)?;
            if polls > 0 {
                tokio::time::sleep(self.pause(polls).min(left)).await;
            }
            polls += 1;
            let url = self.compute(project, &format!("global/operations/{name}/wait"))?;
            let limit = left.min(WAIT_CALL_LIMIT);
            let answer =
                tokio::time::timeout(limit, self.send(Method::POST, &url, None, Some(limit), api))
                    .await
                    .map_err(|_| timeout())?;
            op = answer?.ok_or_else(|| GcpError::Refused {
                api: api.to_string(),
                reason: "notFound".into(),
                message: format!("operation {name} is gone"),
            })?;
        }
    }

    /// POSTs a Cloud DNS change to managed zone `zone` and polls
    /// `changes.get` until it is `done`.
    pub async fn dns_change(
        &self,
        project: &str,
        zone: &str,
        change: &Value,
        api: &str,
    ) -> Result<(), GcpError> {
        let started = Instant::now();
        let collection = self.dns(project, &format!("managedZones/{zone}/changes"))?;
        let mut answer = self
            .send(Method::POST, &collection, Some(change), None, api)
            .await?
            .unwrap_or(Value::Null);
        let mut polls = 0;
        loop {
            match operation::change_done(&answer) {
                Some(true) => return Ok(()),
                None => {
                    return Err(GcpError::Refused {
                        api: api.to_string(),
                        reason: "unreadableChange".into(),
                        message: "a change without a status".into(),
                    })
                }
                Some(false) => {}
            }
            let id = answer
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if started.elapsed() >= self.pace.deadline {
                return Err(GcpError::Timeout {
                    api: api.to_string(),
                    what: format!("change {id}"),
                    waited: started.elapsed(),
                });
            }
            polls += 1;
            tokio::time::sleep(self.pause(polls)).await;
            let url = self.dns(project, &format!("managedZones/{zone}/changes/{id}"))?;
            answer = self.get(&url, api).await?.unwrap_or(Value::Null);
        }
    }
}
