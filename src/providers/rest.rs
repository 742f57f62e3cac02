//! The HTTP edge the REST discovery providers (Azure ARM, GCP Compute) share:
//! GET JSON with a bearer token under a per-request timeout, bounded retries of
//! throttling (429), server errors (5xx) and transport failures with a backoff
//! that honours `Retry-After`, OAuth token answers and CLI token helpers, and
//! the mapping of every failure to a `DiscoveryError` that names the API.
//! Paging and response shapes belong to each provider. Tokens never reach a
//! log or an error message: `AccessToken`'s `Debug` is redacted and reqwest's
//! errors carry URLs, not headers.

use crate::topology::DiscoveryError;
use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// A bearer token for one discovery run.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> AccessToken {
        AccessToken(token.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// First wait when the server gave no `Retry-After`; doubled per attempt.
const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// No single wait is longer, whatever the server asks: discovery is bounded.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A list longer than this many pages is taken as a server looping.
pub const MAX_PAGES: usize = 1000;
/// Error bodies are quoted in problems; keep them readable.
const MAX_DETAIL: usize = 300;

/// A JSON-over-HTTPS reader for one provider.
#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
    provider: &'static str,
    max_attempts: u32,
}

/// What one attempt came to, before deciding whether to retry.
enum Attempt {
    Done(Value),
    Retry {
        wait: Duration,
        error: DiscoveryError,
    },
    Fail(DiscoveryError),
}

impl RestClient {
    pub fn new(
        provider: &'static str,
        timeout: Duration,
        max_attempts: u32,
    ) -> Result<RestClient, DiscoveryError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| DiscoveryError::Config {
                provider,
                detail: format!("HTTP client: {e}"),
            })?;
        Ok(RestClient {
            http,
            provider,
            max_attempts: max_attempts.max(1),
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// GETs `url` as JSON, retrying what is worth retrying. `api` names the
    /// call in errors ("virtual networks").
    pub async fn get_json(
        &self,
        token: &AccessToken,
        url: &Url,
        api: &str,
    ) -> Result<Value, DiscoveryError> {
        let mut attempt = 1;
        loop {
            match self.attempt(token, url, api, attempt).await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { wait, error } => {
                    if attempt >= self.max_attempts {
                        return Err(error);
                    }
                    tracing::debug!(provider = self.provider, api, attempt, ?wait, %error, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, token: &AccessToken, url: &Url, api: &str, attempt: u32) -> Attempt {
        let sent = self
            .http
            .get(url.clone())
            .bearer_auth(&token.0)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                return Attempt::Retry {
                    wait: backoff(attempt),
                    error: self.unreachable(url, &e),
                }
            }
        };
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let body = match response.text().await {
            Ok(body) => body,
            Err(e) => {
                return Attempt::Retry {
                    wait: backoff(attempt),
                    error: self.unreachable(url, &e),
                }
            }
        };
        if status.is_success() {
            return match serde_json::from_str(&body) {
                Ok(value) => Attempt::Done(value),
                Err(e) => Attempt::Fail(DiscoveryError::BadResponse {
                    provider: self.provider,
                    api: api.to_string(),
                    detail: format!("malformed JSON: {e}"),
                }),
            };
        }
        let detail = format!("HTTP {}: {}", status.as_u16(), error_message(&body));
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Attempt::Fail(DiscoveryError::AccessDenied {
                    provider: self.provider,
                    api: api.to_string(),
                    detail,
                })
            }
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => Attempt::Retry {
                wait: retry_after
                    .as_ref()
                    .and_then(|v| retry_after_delay(v, chrono::Utc::now()))
                    .unwrap_or_else(|| backoff(attempt))
                    .min(MAX_BACKOFF),
                error: DiscoveryError::BadResponse {
                    provider: self.provider,
                    api: api.to_string(),
                    detail: format!("{detail} (after {attempt} attempt(s))"),
                },
            },
            _ => Attempt::Fail(DiscoveryError::BadResponse {
                provider: self.provider,
                api: api.to_string(),
                detail,
            }),
        }
    }

    fn unreachable(&self, url: &Url, error: &reqwest::Error) -> DiscoveryError {
        let what = if error.is_timeout() {
            "timed out".to_string()
        } else {
            error_chain(error)
        };
        DiscoveryError::Unreachable {
            provider: self.provider,
            endpoint: url.origin().ascii_serialization(),
            detail: what,
        }
    }

    /// Sends a token request (OAuth client credentials, a metadata server)
    /// and reads the standard `access_token` field of its answer.
    pub async fn token(
        &self,
        request: RequestBuilder,
        source: &str,
    ) -> Result<AccessToken, DiscoveryError> {
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
        }
        let credentials = |detail: String| DiscoveryError::Credentials {
            provider: self.provider,
            detail: format!("{source}: {detail}"),
        };
        let response = request
            .send()
            .await
            .map_err(|e| credentials(error_chain(&e)))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| credentials(error_chain(&e)))?;
        if !status.is_success() {
            return Err(credentials(format!(
                "HTTP {}: {}",
                status.as_u16(),
                error_message(&body)
            )));
        }
        let answer: TokenAnswer = serde_json::from_str(&body)
            .map_err(|e| credentials(format!("unexpected token answer: {e}")))?;
        Ok(AccessToken(answer.access_token))
    }
}

/// Runs a cloud CLI that prints a token (`az account get-access-token`,
/// `gcloud auth print-access-token`) and returns its trimmed stdout.
pub async fn cli_output(
    provider: &'static str,
    program: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<String, DiscoveryError> {
    let credentials = |detail: String| DiscoveryError::Credentials {
        provider,
        detail: format!("{program} CLI: {detail}"),
    };
    let run = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| credentials(format!("no answer within {timeout:?}")))?
        .map_err(|e| credentials(e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(credentials(format!(
            "{}: {}",
            output.status,
            truncate(stderr.trim())
        )));
    }
    String::from_utf8(output.stdout)
        .map(|s| s.trim().to_string())
        .map_err(|_| credentials("output is not UTF-8".to_string()))
}

/// Doubling backoff from `BASE_BACKOFF`, capped.
pub(crate) fn backoff(attempt: u32) -> Duration {
    BASE_BACKOFF
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after_delay(
    value: &HeaderValue,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// The human part of an error body: ARM's `{"error":{"code","message"}}`,
/// Google's `{"error":{"code":403,"message"}}`, or the start of the text.
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str);
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str);
    match (code, message) {
        (Some(code), Some(message)) => truncate(&format!("{code}: {message}")),
        (None, Some(message)) => truncate(message),
        _ => truncate(body.trim()),
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_DETAIL {
        text.to_string()
    } else {
        let cut: String = text.chars().take(MAX_DETAIL).collect();
        format!("{cut}…")
    }
}

/// reqwest's Display hides the cause ("error sending request"); the chain
/// says what happened (connection refused, DNS).
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    truncate(&text)
}

/// Parses a provider's list item into its typed form; `None` (with the reason
/// pushed to `problems`) when the item does not have the expected shape, so
/// one odd item never sinks the whole list.
pub fn parse_item<T: DeserializeOwned>(
    item: &Value,
    what: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    match T::deserialize(item) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            let id = item
                .get("id")
                .or_else(|| item.get("selfLink"))
                .and_then(Value::as_str)
                .unwrap_or("(no id)");
            problems.push(format!("{what} {id}: unexpected shape: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let secs = HeaderValue::from_static("7");
        assert_eq!(retry_after_delay(&secs, now), Some(Duration::from_secs(7)));
        let date = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:05 GMT");
        assert_eq!(retry_after_delay(&date, now), Some(Duration::from_secs(5)));
        let past = HeaderValue::from_static("Wed, 21 Oct 2015 07:27:00 GMT");
        assert_eq!(retry_after_delay(&past, now), Some(Duration::ZERO));
        let junk = HeaderValue::from_static("soon");
        assert_eq!(retry_after_delay(&junk, now), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn error_bodies_of_both_clouds_are_summarised() {
        let arm = r#"{"error":{"code":"AuthorizationFailed","message":"no read on vnets"}}"#;
        assert_eq!(error_message(arm), "AuthorizationFailed: no read on vnets");
        let google = r#"{"error":{"code":403,"message":"Required 'compute.networks.list'"}}"#;
        assert_eq!(error_message(google), "Required 'compute.networks.list'");
        assert_eq!(
            error_message(&"x".repeat(1000)).chars().count(),
            MAX_DETAIL + 1
        );
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let token = AccessToken::new("eyJ-secret");
        assert!(!format!("{token:?}").contains("secret"));
    }
}
