//! Language models, as an optional helper: clients for the Anthropic Messages
//! API and OpenAI-compatible chat completions (Ollama, vLLM, llama.cpp), the
//! versioned prompts they are asked with, and the `Assistant` that renders a
//! prompt, redacts it, checks the monthly token budget, calls the model and
//! records the call in `llm_calls`.
//!
//! Invariants: nothing works only with a model — every caller has a
//! deterministic answer to fall back on, and a model's output is only ever
//! read into a typed value that a person confirms or that is shown marked as
//! model-written; no secret reaches the model, a log or the store (every
//! prompt passes through `redact` first, and API keys come from the
//! environment only and are never printed); every call (and every call the
//! budget refused) is recorded.

mod anthropic;
mod assistant;
mod client;
pub mod narrative;
mod openai;
pub mod prompts;
pub mod redact;

pub use anthropic::AnthropicClient;
pub use assistant::{Asked, Assistant, CallSite, Failed};
pub use client::{build_client, ApiKey, Http, LlmAnswer, LlmClient, LlmRequest, Usage};
pub use openai::OpenAiClient;
pub use prompts::{PromptError, Prompts};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Which API the configured model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    OpenAi,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
        }
    }

    fn default_base_url(self) -> &'static str {
        match self {
            Provider::Anthropic => "https://api.anthropic.com",
            Provider::OpenAi => "https://api.openai.com",
        }
    }

    fn default_key_env(self) -> &'static str {
        match self {
            Provider::Anthropic => "ANTHROPIC_API_KEY",
            Provider::OpenAi => "OPENAI_API_KEY",
        }
    }
}

/// The `[llm]` section as the file writes it. Every key is optional; without
/// `provider` no model is used.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSection {
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub max_tokens: Option<u32>,
    pub monthly_token_budget: Option<u64>,
    /// Overrides the embedded prompts (with or without a model).
    pub prompts_dir: Option<PathBuf>,
}

/// A configured model.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    pub provider: Provider,
    /// Without the trailing slash and without `/v1`.
    pub base_url: String,
    pub model: String,
    /// The environment variable holding the API key (the key itself is never in config).
    pub api_key_env: String,
    pub timeout: Duration,
    /// Extra attempts after a 429, a 5xx or a timeout.
    pub retries: u32,
    pub max_tokens: u32,
    /// Input + output tokens per calendar month (UTC); None: unlimited.
    pub monthly_token_budget: Option<u64>,
}

const MAX_RETRIES: u32 = 10;
const MAX_MAX_TOKENS: u32 = 64_000;

impl LlmSection {
    /// The model to use, if any. Errors name the key (`llm.<key>`) and what it expects.
    pub fn resolve(&self) -> Result<Option<LlmConfig>, (&'static str, String)> {
        let Some(provider) = &self.provider else {
            return Ok(None);
        };
        let provider = match provider.trim().to_ascii_lowercase().as_str() {
            "anthropic" => Provider::Anthropic,
            "openai" => Provider::OpenAi,
            other => {
                return Err((
                    "provider",
                    format!(
                        "\"anthropic\" or \"openai\", got '{}'",
                        other.chars().take(40).collect::<String>()
                    ),
                ))
            }
        };
        let base_url = self
            .base_url
            .as_deref()
            .unwrap_or(provider.default_base_url())
            .trim()
            .trim_end_matches('/');
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err((
                "base_url",
                format!(
                    "an http(s) URL, got '{}'",
                    base_url.chars().take(60).collect::<String>()
                ),
            ));
        }
        let base_url = base_url.trim_end_matches("/v1").to_string();
        let model = match self.model.as_deref().map(str::trim) {
            Some(m) if !m.is_empty() && m.len() <= 200 => m.to_string(),
            _ => {
                return Err((
                    "model",
                    "the model name, e.g. \"claude-sonnet-4-5\" or \"llama3.1\"".into(),
                ))
            }
        };
        let timeout = match &self.timeout {
            Some(t) => {
                crate::workflow::definition::parse_duration(t).map_err(|e| ("timeout", e))?
            }
            None => Duration::from_secs(30),
        };
        if timeout.is_zero() || timeout > Duration::from_secs(600) {
            return Err(("timeout", "a duration above zero and at most 600s".into()));
        }
        let retries = self.retries.unwrap_or(2);
        if retries > MAX_RETRIES {
            return Err((
                "retries",
                format!("at most {MAX_RETRIES} retries, got {retries}"),
            ));
        }
        let max_tokens = self.max_tokens.unwrap_or(1024);
        if !(1..=MAX_MAX_TOKENS).contains(&max_tokens) {
            return Err((
                "max_tokens",
                format!("between 1 and {MAX_MAX_TOKENS}, got {max_tokens}"),
            ));
        }
        Ok(Some(LlmConfig {
            provider,
            base_url,
            model,
            api_key_env: self
                .api_key_env
                .clone()
                .unwrap_or_else(|| provider.default_key_env().to_string()),
            timeout,
            retries,
            max_tokens,
            monthly_token_budget: self.monthly_token_budget,
        }))
    }
}

/// How a call ended, as `llm_calls.outcome` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Ok,
    Refused,
    Malformed,
    Timeout,
    Error,
    Budget,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Refused => "refused",
            CallOutcome::Malformed => "malformed",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Error => "error",
            CallOutcome::Budget => "budget",
        }
    }
}

impl std::str::FromStr for CallOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<CallOutcome, String> {
        [
            CallOutcome::Ok,
            CallOutcome::Refused,
            CallOutcome::Malformed,
            CallOutcome::Timeout,
            CallOutcome::Error,
            CallOutcome::Budget,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| format!("unknown outcome '{s}'"))
    }
}

/// Why a model gave no usable answer. Every caller carries on without it.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("no language model: {0}")]
    NotConfigured(String),
    #[error("the model did not answer within {}s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the model's API answered HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    #[error("the model's API is unreachable: {0}")]
    Unreachable(String),
    #[error("the model refused: {reason}")]
    Refused { reason: String, usage: Usage },
    #[error("the model's answer is malformed: {detail}")]
    Malformed { detail: String, usage: Usage },
    #[error("the monthly token budget is spent ({used} of {budget} tokens this month); carrying on without the model")]
    BudgetExhausted { used: u64, budget: u64 },
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error("recording the call: {0}")]
    Store(String),
}

impl LlmError {
    pub fn outcome(&self) -> CallOutcome {
        match self {
            LlmError::Refused { .. } => CallOutcome::Refused,
            LlmError::Malformed { .. } => CallOutcome::Malformed,
            LlmError::Timeout(_) => CallOutcome::Timeout,
            LlmError::BudgetExhausted { .. } => CallOutcome::Budget,
            LlmError::NotConfigured(_)
            | LlmError::Http { .. }
            | LlmError::Unreachable(_)
            | LlmError::Prompt(_)
            | LlmError::Store(_) => CallOutcome::Error,
        }
    }

    /// Tokens the failed call still used (a refusal or a malformed answer is billed).
    pub fn usage(&self) -> Usage {
        match self {
            LlmError::Refused { usage, .. } | LlmError::Malformed { usage, .. } => *usage,
            _ => Usage::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_provider_means_no_model_and_defaults_fill_the_rest() {
        assert_eq!(LlmSection::default().resolve(), Ok(None));
        let section = LlmSection {
            provider: Some("anthropic".into()),
            model: Some("claude-sonnet-4-5".into()),
            ..LlmSection::default()
        };
        let config = section.resolve().unwrap().unwrap();
        assert_eq!(config.base_url, "https://api.anthropic.com");
        assert_eq!(config.api_key_env, "ANTHROPIC_API_KEY");
        assert_eq!(config.timeout, Duration::from_secs(30));
        assert_eq!(config.monthly_token_budget, None);
    }

    #[test]
    fn bad_llm_keys_are_named() {
        let bad = |section: LlmSection| section.resolve().unwrap_err().0;
        let base = LlmSection {
            provider: Some("openai".into()),
            model: Some("llama3.1".into()),
            ..LlmSection::default()
        };
        assert_eq!(
            bad(LlmSection {
                provider: Some("bard".into()),
                ..base.clone()
            }),
            "provider"
        );
        assert_eq!(
            bad(LlmSection {
                model: None,
                ..base.clone()
            }),
            "model"
        );
        assert_eq!(
            bad(LlmSection {
                base_url: Some("ftp://x".into()),
                ..base.clone()
            }),
            "base_url"
        );
        assert_eq!(
            bad(LlmSection {
                timeout: Some("0s".into()),
                ..base.clone()
            }),
            "timeout"
        );
        assert_eq!(
            bad(LlmSection {
                retries: Some(99),
                ..base
            }),
            "retries"
        );
    }

    #[test]
    fn a_v1_suffix_on_the_base_url_is_tolerated() {
        let config = LlmSection {
            provider: Some("openai".into()),
            model: Some("m".into()),
            base_url: Some("http://127.0.0.1:11434/v1/".into()),
            ..LlmSection::default()
        }
        .resolve()
        .unwrap()
        .unwrap();
        assert_eq!(config.base_url, "http://127.0.0.1:11434");
    }
}
