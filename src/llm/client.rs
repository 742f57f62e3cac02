//! The one contract both model APIs implement, and the HTTP they share: POST
//! JSON under a per-request timeout, retrying 429, 5xx, timeouts and
//! unreachable servers a bounded number of times with a backoff that honours
//! `Retry-After`. Each API's body and answer shapes live in its own module as
//! pure functions.

use super::{LlmConfig, LlmError, Provider};
use crate::providers::rest::{backoff, retry_after_delay};
use reqwest::header::RETRY_AFTER;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// No wait between attempts is longer, whatever the server asks.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// Error bodies quoted in errors are cut to this many characters.
const MAX_DETAIL: usize = 300;

/// What is sent: an instruction for the model's role and the rendered prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    pub system: String,
    pub prompt: String,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// A usable answer (refusals and malformed answers are errors).
#[derive(Debug, Clone, PartialEq)]
pub struct LlmAnswer {
    pub text: String,
    pub usage: Usage,
    /// `end_turn`, `stop`, `max_tokens`, … as the API said it.
    pub stop_reason: String,
}

#[async_trait::async_trait]
pub trait LlmClient: Send + Sync {
    /// The model name calls are recorded under.
    fn model(&self) -> &str;
    async fn complete(&self, request: &LlmRequest) -> Result<LlmAnswer, LlmError>;
}

/// The client `config` names, its key read from the environment now.
pub fn build_client(config: &LlmConfig) -> Result<Arc<dyn LlmClient>, LlmError> {
    let key = std::env::var(&config.api_key_env)
        .ok()
        .filter(|k| !k.trim().is_empty());
    let http = Http::new(config.timeout, config.retries)?;
    match config.provider {
        Provider::Anthropic => {
            let key = key.ok_or_else(|| {
                LlmError::NotConfigured(format!(
                    "the Anthropic API needs a key in the environment variable {}",
                    config.api_key_env
                ))
            })?;
            Ok(Arc::new(super::AnthropicClient::new(
                http,
                &config.base_url,
                &config.model,
                ApiKey(key),
            )))
        }
        Provider::OpenAi => Ok(Arc::new(super::OpenAiClient::new(
            http,
            &config.base_url,
            &config.model,
            key.map(ApiKey),
        ))),
    }
}

/// An API key; its `Debug` never shows it.
#[derive(Clone)]
pub struct ApiKey(pub(super) String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// One model behind one API URL: what both clients hold.
#[derive(Debug, Clone)]
pub(super) struct ModelEndpoint {
    http: Http,
    url: String,
    pub(super) model: String,
}

impl ModelEndpoint {
    pub(super) fn new(http: Http, base_url: &str, path: &str, model: &str) -> ModelEndpoint {
        ModelEndpoint {
            http,
            url: format!("{}{path}", base_url.trim_end_matches('/')),
            model: model.to_string(),
        }
    }

    pub(super) async fn post(
        &self,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, LlmError> {
        self.http.post_json(&self.url, headers, body).await
    }
}

/// The shared HTTP side of both clients.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
    retries: u32,
}

enum Attempt {
    Done(Value),
    Retry { wait: Duration, error: LlmError },
    Fail(LlmError),
}

impl Http {
    pub fn new(timeout: Duration, retries: u32) -> Result<Http, LlmError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| LlmError::NotConfigured(format!("HTTP client: {e}")))?;
        Ok(Http {
            client,
            timeout,
            retries,
        })
    }

    /// POSTs `body` to `url` with `headers`; the JSON answer of the first
    /// attempt that succeeds.
    async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, LlmError> {
        let mut attempt = 1;
        loop {
            match self.attempt(url, headers, body, attempt).await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { wait, error } => {
                    if attempt > self.retries {
                        return Err(error);
                    }
                    tracing::debug!(attempt, ?wait, %error, "retrying the model's API");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &Value,
        attempt: u32,
    ) -> Attempt {
        let mut request = self.client.post(url).json(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let transport = |e: reqwest::Error| {
            let error = if e.is_timeout() {
                LlmError::Timeout(self.timeout)
            } else {
                // reqwest's errors carry the URL, never the headers (the key).
                LlmError::Unreachable(e.without_url().to_string())
            };
            Attempt::Retry {
                wait: backoff(attempt),
                error,
            }
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return transport(e),
        };
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return transport(e),
        };
        if status.is_success() {
            return match serde_json::from_str(&text) {
                Ok(value) => Attempt::Done(value),
                Err(e) => Attempt::Fail(LlmError::Malformed {
                    detail: format!("the API's answer is not JSON: {e}"),
                    usage: Default::default(),
                }),
            };
        }
        let error = LlmError::Http {
            status: status.as_u16(),
            detail: text.chars().take(MAX_DETAIL).collect(),
        };
        if status.as_u16() == 429 || status.is_server_error() {
            let wait = retry_after
                .and_then(|v| retry_after_delay(&v, chrono::Utc::now()))
                .unwrap_or_else(|| backoff(attempt))
                .min(MAX_WAIT);
            Attempt::Retry { wait, error }
        } else {
            Attempt::Fail(error)
        }
    }
}

/// A number from the answer's usage object (absent: 0).
pub(super) fn tokens(usage: Option<&Value>, key: &str) -> u64 {
    usage
        .and_then(|u| u.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}
