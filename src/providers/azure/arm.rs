//! ARM writes over HTTP, the IO half of `lro`: GET (with the ETag), PUT
//! (optionally conditional with `If-Match`) and DELETE with the bearer token;
//! throttling (429) and 5xx retried with backoff honouring `Retry-After`;
//! a long-running operation followed to its end within a deadline, its
//! failure reported in Azure's words (never a 201 taken for success). A 412
//! is its own error, so a caller re-reads and decides again rather than
//! overwriting someone's concurrent edit.

use super::lro::{after_poll, after_write, Answer, Next, PollKind, Write};
use crate::providers::rest::{backoff, retry_after_delay, AccessToken};
use reqwest::header::{HeaderMap, ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    #[error("{api}: HTTP {status}: {code}: {message}")]
    Refused {
        api: String,
        status: u16,
        code: String,
        message: String,
    },
    /// HTTP 412: the resource changed since it was read (`If-Match`), or
    /// it exists already (`If-None-Match: *`).
    #[error("{api}: precondition failed (HTTP 412 on {condition})")]
    Changed { api: String, condition: String },
    #[error("{api}: the operation ended {state}: {code}: {message}")]
    Failed {
        api: String,
        state: String,
        code: String,
        message: String,
    },
    #[error("{api}: the operation had not ended after {waited:?} (last asked {url})")]
    Timeout {
        api: String,
        waited: Duration,
        url: String,
    },
    #[error("{api}: {detail}")]
    Unreachable { api: String, detail: String },
    #[error("{api}: {detail}")]
    Unfollowable { api: String, detail: String },
}

impl ArmError {
    /// Worth trying the whole write again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ArmError::Unreachable { .. } | ArmError::Timeout { .. }
        )
    }
}

/// How long to wait and how often to ask.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Attempts per request on 429, 5xx and transport errors.
    pub max_attempts: u32,
    /// Between polls when the answer has no `Retry-After`.
    pub poll: Duration,
    /// The most one operation may take, polls included.
    pub deadline: Duration,
}

/// What a write asks of the resource's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    /// Whatever is there is replaced.
    Always,
    /// Only over this ETag: a concurrent edit is not overwritten.
    IfMatch(&'a str),
    /// Only where nothing is (`If-None-Match: *`): create, never replace.
    IfAbsent,
}

impl std::fmt::Display for Condition<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::Always => f.write_str("no condition"),
            Condition::IfMatch(etag) => write!(f, "If-Match {etag}"),
            Condition::IfAbsent => f.write_str("If-None-Match *"),
        }
    }
}

pub struct ArmWriter {
    http: reqwest::Client,
    token: AccessToken,
    pace: Pace,
}

const HEADER_ASYNC: &str = "azure-asyncoperation";

fn header(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Azure's `{"error": {"code", "message"}}`, or the status and the text.
fn error_of(status: StatusCode, body: &str) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |key: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.pointer(&format!("/error/{key}")))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let text: String = body.chars().take(300).collect();
    (
        field("code").unwrap_or_else(|| format!("HTTP{}", status.as_u16())),
        field("message").unwrap_or(text),
    )
}

impl ArmWriter {
    pub fn new(http: reqwest::Client, token: AccessToken, pace: Pace) -> ArmWriter {
        ArmWriter { http, token, pace }
    }

    /// One request, with 429/5xx/transport retries; any other answer is
    /// handed back as it came.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        condition: Condition<'_>,
        api: &str,
    ) -> Result<(Answer, Option<String>), ArmError> {
        let mut attempt = 1;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(self.token.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            match condition {
                Condition::Always => {}
                Condition::IfMatch(etag) => request = request.header(IF_MATCH, etag),
                Condition::IfAbsent => request = request.header(IF_NONE_MATCH, "*"),
            }
            // Ok: an answer to hand back; Err: wait this long and try again.
            let outcome = match request.send().await {
                Err(e) => Err((backoff(attempt), e.to_string())),
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let text = response.text().await.unwrap_or_default();
                    let wait = headers
                        .get(RETRY_AFTER)
                        .and_then(|v| retry_after_delay(v, chrono::Utc::now()));
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                        let (code, message) = error_of(status, &text);
                        Err((
                            wait.unwrap_or_else(|| backoff(attempt)),
                            format!("HTTP {}: {code}: {message}", status.as_u16()),
                        ))
                    } else {
                        Ok((status, headers, text, wait))
                    }
                }
            };
            match outcome {
                Ok((status, headers, text, wait)) => {
                    if status == StatusCode::PRECONDITION_FAILED {
                        return Err(ArmError::Changed {
                            api: api.to_string(),
                            condition: condition.to_string(),
                        });
                    }
                    let ok = status.is_success() || status == StatusCode::NOT_FOUND;
                    if !ok {
                        let (code, message) = error_of(status, &text);
                        return Err(ArmError::Refused {
                            api: api.to_string(),
                            status: status.as_u16(),
                            code,
                            message,
                        });
                    }
                    let body: Option<Value> = serde_json::from_str(&text).ok();
                    let etag = header(&headers, ETAG).or_else(|| {
                        body.as_ref()
                            .and_then(|b| b.get("etag"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    });
                    return Ok((
                        Answer {
                            status: status.as_u16(),
                            async_operation: header(&headers, HEADER_ASYNC),
                            location: header(&headers, LOCATION),
                            retry_after: wait,
                            body,
                        },
                        etag,
                    ));
                }
                Err((wait, detail)) if attempt < self.pace.max_attempts.max(1) => {
                    tracing::debug!(api, attempt, ?wait, %detail, "arm: retrying");
                    tokio::time::sleep(wait.min(self.pace.deadline)).await;
                    attempt += 1;
                }
                Err((_, detail)) => {
                    return Err(ArmError::Unreachable {
                        api: api.to_string(),
                        detail: format!("{detail} (after {attempt} attempt(s))"),
                    })
                }
            }
        }
    }

    /// The resource and its ETag; `None` when it does not exist.
    pub async fn get(
        &self,
        url: &Url,
        api: &str,
    ) -> Result<Option<(Value, Option<String>)>, ArmError> {
        let (answer, etag) = self
            .send(Method::GET, url.as_str(), None, Condition::Always, api)
            .await?;
        if answer.status == 404 {
            return Ok(None);
        }
        Ok(Some((answer.body.unwrap_or(Value::Null), etag)))
    }

    /// PUTs `body` under `condition` and follows the operation to its end;
    /// the resource as it then is.
    pub async fn put(
        &self,
        url: &Url,
        body: &Value,
        condition: Condition<'_>,
        api: &str,
    ) -> Result<Value, ArmError> {
        let (answer, _) = self
            .send(Method::PUT, url.as_str(), Some(body), condition, api)
            .await?;
        if answer.status == 404 {
            // A PUT's 404: the parent is missing; Azure's words say which.
            let (code, message) = error_of(
                StatusCode::NOT_FOUND,
                &answer.body.map(|b| b.to_string()).unwrap_or_default(),
            );
            return Err(ArmError::Refused {
                api: api.to_string(),
                status: 404,
                code,
                message,
            });
        }
        match self.follow(Write::Put, url, answer, api).await? {
            Some(resource) => Ok(resource),
            // A status poll ends without the resource: read it.
            None => Ok(self
                .get(url, api)
                .await?
                .map(|(resource, _)| resource)
                .unwrap_or(Value::Null)),
        }
    }

    /// DELETEs and follows the operation to its end; a resource already gone
    /// (404, 204) is deleted.
    pub async fn delete(&self, url: &Url, api: &str) -> Result<(), ArmError> {
        let (answer, _) = self
            .send(Method::DELETE, url.as_str(), None, Condition::Always, api)
            .await?;
        if answer.status == 404 {
            return Ok(());
        }
        self.follow(Write::Delete, url, answer, api)
            .await
            .map(|_| ())
    }

    async fn follow(
        &self,
        write: Write,
        url: &Url,
        first: Answer,
        api: &str,
    ) -> Result<Option<Value>, ArmError> {
        let started = Instant::now();
        let mut next = after_write(write, url.as_str(), &first, self.pace.poll);
        loop {
            match next {
                Next::Done(resource) => return Ok(resource),
                Next::Failed {
                    state,
                    code,
                    message,
                } => {
                    return Err(ArmError::Failed {
                        api: api.to_string(),
                        state,
                        code,
                        message,
                    })
                }
                Next::Unfollowable(detail) => {
                    return Err(ArmError::Unfollowable {
                        api: api.to_string(),
                        detail,
                    })
                }
                Next::Poll {
                    url: poll,
                    kind,
                    wait,
                } => {
                    if started.elapsed() + wait > self.pace.deadline {
                        return Err(ArmError::Timeout {
                            api: api.to_string(),
                            waited: started.elapsed(),
                            url: poll,
                        });
                    }
                    tokio::time::sleep(wait).await;
                    let answer = match self
                        .send(Method::GET, &poll, None, Condition::Always, api)
                        .await
                    {
                        Ok((answer, _)) => answer,
                        // The status could not be read: that is not the
                        // operation failing; ask again until the deadline.
                        Err(ArmError::Unreachable { .. }) if kind == PollKind::AsyncOperation => {
                            Answer {
                                status: 503,
                                ..Answer::default()
                            }
                        }
                        Err(e) => return Err(e),
                    };
                    next = after_poll(kind, &poll, &answer, self.pace.poll);
                }
            }
        }
    }
}
