//! OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp):
//! `POST {base}/v1/chat/completions`, a Bearer key only when one is set;
//! `choices[0].message.content`, its usage, and the message's `refusal` (or
//! `finish_reason: "content_filter"`) as a refusal.

use super::client::{tokens, ApiKey, Http, LlmAnswer, LlmClient, LlmRequest, ModelEndpoint, Usage};
use super::LlmError;
use serde_json::{json, Value};

pub struct OpenAiClient {
    endpoint: ModelEndpoint,
    /// None: a local server (Ollama, vLLM, llama.cpp) without authentication.
    key: Option<ApiKey>,
}

impl OpenAiClient {
    pub fn new(http: Http, base_url: &str, model: &str, key: Option<ApiKey>) -> OpenAiClient {
        let endpoint = ModelEndpoint::new(http, base_url, "/v1/chat/completions", model);
        OpenAiClient { endpoint, key }
    }
}

#[async_trait::async_trait]
impl LlmClient for OpenAiClient {
    fn model(&self) -> &str {
        &self.endpoint.model
    }

    async fn complete(&self, request: &LlmRequest) -> Result<LlmAnswer, LlmError> {
        let headers: Vec<(&str, String)> = self
            .key
            .iter()
            .map(|k| ("authorization", format!("Bearer {}", k.0)))
            .collect();
        let body = body(&self.endpoint.model, request);
        let answer = self.endpoint.post(&headers, &body).await?;
        read_answer(&answer)
    }
}

fn body(model: &str, request: &LlmRequest) -> Value {
    json!({
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [
            { "role": "system", "content": request.system },
            { "role": "user", "content": request.prompt },
        ],
    })
}

/// Pure: a chat completion → the text, or why it is unusable.
pub(super) fn read_answer(answer: &Value) -> Result<LlmAnswer, LlmError> {
    let usage = Usage {
        input_tokens: tokens(answer.get("usage"), "prompt_tokens"),
        output_tokens: tokens(answer.get("usage"), "completion_tokens"),
    };
    let Some(choice) = answer.pointer("/choices/0") else {
        return Err(LlmError::Malformed {
            detail: "the answer has no choices".into(),
            usage,
        });
    };
    let finish_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let message = choice.get("message");
    if let Some(refusal) = message
        .and_then(|m| m.get("refusal"))
        .and_then(Value::as_str)
    {
        return Err(LlmError::Refused {
            reason: refusal.to_string(),
            usage,
        });
    }
    if finish_reason == "content_filter" {
        return Err(LlmError::Refused {
            reason: "finish_reason content_filter".into(),
            usage,
        });
    }
    match message
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
    {
        Some(text) if !text.trim().is_empty() => Ok(LlmAnswer {
            text: text.to_string(),
            usage,
            stop_reason: finish_reason,
        }),
        _ => Err(LlmError::Malformed {
            detail: "choices[0].message has no content".into(),
            usage,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_and_usage_are_read() {
        let answer = json!({
            "choices": [{"message": {"role": "assistant", "content": "hi", "refusal": null}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22}
        });
        let read = read_answer(&answer).unwrap();
        assert_eq!(read.text, "hi");
        assert_eq!(read.usage.input_tokens, 20);
        assert_eq!(read.usage.output_tokens, 2);
        assert_eq!(read.stop_reason, "stop");
    }

    #[test]
    fn a_refusal_message_is_a_refusal() {
        let answer = json!({
            "choices": [{"message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 6}
        });
        match read_answer(&answer) {
            Err(LlmError::Refused { reason, usage }) => {
                assert_eq!(reason, "I can't help with that.");
                assert_eq!(usage.total(), 11);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_system_instruction_goes_first_then_the_prompt() {
        let b = body(
            "llama3.1",
            &LlmRequest {
                system: "s".into(),
                prompt: "p".into(),
                max_tokens: 5,
            },
        );
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["content"], "p");
    }
}
