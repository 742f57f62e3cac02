//! The Anthropic Messages API: `POST {base}/v1/messages` with `x-api-key` and
//! `anthropic-version: 2023-06-01`; the answer's text blocks joined, its
//! usage, and `stop_reason: "refusal"` as a refusal.

use super::client::{tokens, ApiKey, Http, LlmAnswer, LlmClient, LlmRequest, ModelEndpoint, Usage};
use super::LlmError;
use serde_json::{json, Value};

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub struct AnthropicClient {
    endpoint: ModelEndpoint,
    key: ApiKey,
}

impl AnthropicClient {
    pub fn new(http: Http, base_url: &str, model: &str, key: ApiKey) -> AnthropicClient {
        let endpoint = ModelEndpoint::new(http, base_url, "/v1/messages", model);
        AnthropicClient { endpoint, key }
    }
}

#[async_trait::async_trait]
impl LlmClient for AnthropicClient {
    fn model(&self) -> &str {
        &self.endpoint.model
    }

    async fn complete(&self, request: &LlmRequest) -> Result<LlmAnswer, LlmError> {
        let headers = [
            ("x-api-key", self.key.0.clone()),
            ("anthropic-version", ANTHROPIC_VERSION.to_string()),
        ];
        let body = body(&self.endpoint.model, request);
        let answer = self.endpoint.post(&headers, &body).await?;
        read_answer(&answer)
    }
}

fn body(model: &str, request: &LlmRequest) -> Value {
    json!({
        "model": model,
        "max_tokens": request.max_tokens,
        "system": request.system,
        "messages": [{ "role": "user", "content": request.prompt }],
    })
}

/// Pure: a Messages API answer → the text, or why it is unusable.
pub(super) fn read_answer(answer: &Value) -> Result<LlmAnswer, LlmError> {
    let usage = Usage {
        input_tokens: tokens(answer.get("usage"), "input_tokens"),
        output_tokens: tokens(answer.get("usage"), "output_tokens"),
    };
    let stop_reason = answer
        .get("stop_reason")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let blocks = answer.get("content").and_then(Value::as_array);
    let text: Vec<&str> = blocks
        .into_iter()
        .flatten()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    if stop_reason == "refusal" {
        return Err(LlmError::Refused {
            reason: if text.is_empty() {
                "stop_reason refusal".into()
            } else {
                text.join("")
            },
            usage,
        });
    }
    if blocks.is_none() || text.is_empty() {
        return Err(LlmError::Malformed {
            detail: "the answer has no text content".into(),
            usage,
        });
    }
    Ok(LlmAnswer {
        text: text.join(""),
        usage,
        stop_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_blocks_and_usage_are_read() {
        let answer = json!({
            "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "world"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "output_tokens": 3}
        });
        let read = read_answer(&answer).unwrap();
        assert_eq!(read.text, "hello world");
        assert_eq!(read.usage.total(), 15);
        assert_eq!(read.stop_reason, "end_turn");
    }

    #[test]
    fn a_refusal_keeps_its_usage() {
        let answer = json!({
            "content": [],
            "stop_reason": "refusal",
            "usage": {"input_tokens": 7, "output_tokens": 0}
        });
        match read_answer(&answer) {
            Err(LlmError::Refused { usage, .. }) => assert_eq!(usage.input_tokens, 7),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_answer_without_text_is_malformed() {
        assert!(matches!(
            read_answer(&json!({"type": "error"})),
            Err(LlmError::Malformed { .. })
        ));
    }

    #[test]
    fn the_body_carries_model_system_and_one_user_message() {
        let b = body(
            "m",
            &LlmRequest {
                system: "s".into(),
                prompt: "p".into(),
                max_tokens: 9,
            },
        );
        assert_eq!(b["model"], "m");
        assert_eq!(b["max_tokens"], 9);
        assert_eq!(b["system"], "s");
        assert_eq!(b["messages"][0]["content"], "p");
    }
}
