//! The model clients and the assistant against the fake Anthropic / OpenAI
//! server on loopback: what the peer received (path, headers, body), usage
//! and content read back, retries, timeouts, refusals, malformed answers,
//! the monthly budget and redaction.

mod llm_fake;

use llm_fake::{fixture, text_of, FakeLlm, Reply};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use switchboard::llm::redact::Redactor;
use switchboard::llm::{
    AnthropicClient, ApiKey, Assistant, CallOutcome, CallSite, Http, LlmClient, LlmError,
    LlmRequest, OpenAiClient, Prompts,
};
use switchboard::store::Store;

const KEY: &str = "sk-ant-test-0123456789abcdef";

fn request() -> LlmRequest {
    LlmRequest {
        system: "be brief".into(),
        prompt: "hello".into(),
        max_tokens: 64,
    }
}

fn anthropic(fake: &FakeLlm, timeout: Duration, retries: u32) -> AnthropicClient {
    AnthropicClient::new(
        Http::new(timeout, retries).unwrap(),
        &fake.base,
        "claude-test",
        ApiKey::new(KEY),
    )
}

fn openai(fake: &FakeLlm, key: Option<&str>) -> OpenAiClient {
    OpenAiClient::new(
        Http::new(Duration::from_secs(5), 0).unwrap(),
        &fake.base,
        "llama3.1",
        key.map(ApiKey::new),
    )
}

#[tokio::test]
async fn anthropic_sends_the_messages_api_shape_and_reads_content_and_usage() {
    let fake = FakeLlm::start(Reply::Ok(fixture("anthropic_ok.json")));
    let answer = anthropic(&fake, Duration::from_secs(5), 0)
        .complete(&request())
        .await
        .unwrap();
    assert_eq!(answer.text, text_of(&fixture("anthropic_ok.json")));
    assert_eq!(answer.usage.input_tokens, 812);
    assert_eq!(answer.usage.output_tokens, 96);
    assert_eq!(answer.stop_reason, "end_turn");

    let got = &fake.received()[0];
    assert_eq!(got.path, "/v1/messages");
    assert_eq!(got.headers["x-api-key"], KEY);
    assert_eq!(got.headers["anthropic-version"], "2023-06-01");
    assert_eq!(got.body["model"], "claude-test");
    assert_eq!(got.body["max_tokens"], 64);
    assert_eq!(got.body["system"], "be brief");
    assert_eq!(
        got.body["messages"],
        json!([{"role": "user", "content": "hello"}])
    );
}

#[tokio::test]
async fn openai_compatible_reads_choices_and_sends_a_bearer_only_with_a_key() {
    let fake = FakeLlm::start(Reply::Ok(fixture("openai_ok.json")));
    let answer = openai(&fake, None).complete(&request()).await.unwrap();
    assert_eq!(answer.text, text_of(&fixture("openai_ok.json")));
    assert_eq!(answer.usage.input_tokens, 790);
    assert_eq!(answer.usage.output_tokens, 88);
    assert_eq!(answer.stop_reason, "stop");
    openai(&fake, Some("sk-local"))
        .complete(&request())
        .await
        .unwrap();

    let got = fake.received();
    assert_eq!(got[0].path, "/v1/chat/completions");
    assert!(got[0].headers.get("authorization").is_none());
    assert_eq!(got[1].headers["authorization"], "Bearer sk-local");
    assert_eq!(got[0].body["messages"][0]["role"], "system");
    assert_eq!(got[0].body["messages"][1]["content"], "hello");
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_then_succeeds() {
    let fake = FakeLlm::start(Reply::Ok(fixture("anthropic_ok.json")));
    fake.script(vec![
        Reply::Status(429, fixture("anthropic_rate_limited.json"), Some(1)),
        Reply::Ok(fixture("anthropic_ok.json")),
    ]);
    let started = std::time::Instant::now();
    let answer = anthropic(&fake, Duration::from_secs(5), 2)
        .complete(&request())
        .await
        .unwrap();
    assert_eq!(answer.usage.input_tokens, 812);
    assert_eq!(fake.hits(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "retry-after: 1 was not honoured ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn retries_are_bounded_and_a_400_is_not_retried() {
    let fake = FakeLlm::start(Reply::Status(503, json!({"error": "overloaded"}), Some(0)));
    let e = anthropic(&fake, Duration::from_secs(5), 2)
        .complete(&request())
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Http { status: 503, .. }), "{e}");
    assert_eq!(fake.hits(), 3);

    let fake = FakeLlm::start(Reply::Status(400, json!({"error": "bad"}), None));
    let e = anthropic(&fake, Duration::from_secs(5), 2)
        .complete(&request())
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Http { status: 400, .. }), "{e}");
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_each_attempt_is_bounded() {
    let fake = FakeLlm::start(Reply::Slow(
        Duration::from_secs(3),
        fixture("anthropic_ok.json"),
    ));
    let started = std::time::Instant::now();
    let e = anthropic(&fake, Duration::from_millis(300), 1)
        .complete(&request())
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Timeout(_)), "{e}");
    assert_eq!(fake.hits(), 2);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn refusals_of_both_apis_are_refusals_with_their_usage() {
    let fake = FakeLlm::start(Reply::Ok(fixture("anthropic_refusal.json")));
    match anthropic(&fake, Duration::from_secs(5), 0)
        .complete(&request())
        .await
    {
        Err(LlmError::Refused { usage, .. }) => assert_eq!(usage.input_tokens, 640),
        other => panic!("{other:?}"),
    }
    let fake = FakeLlm::start(Reply::Ok(fixture("openai_refusal.json")));
    match openai(&fake, None).complete(&request()).await {
        Err(LlmError::Refused { reason, usage }) => {
            assert!(reason.contains("can't help"), "{reason}");
            assert_eq!(usage.output_tokens, 12);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_malformed_not_retried() {
    let fake = FakeLlm::start(Reply::NotJson);
    let e = anthropic(&fake, Duration::from_secs(5), 2)
        .complete(&request())
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Malformed { .. }), "{e}");
    assert_eq!(fake.hits(), 1);
}

async fn assistant(
    fake: &FakeLlm,
    dir: &tempfile::TempDir,
    budget: Option<u64>,
) -> (Assistant, Store) {
    let store = Store::open(&dir.path().join("s.db")).await.unwrap();
    let client: Arc<dyn LlmClient> = Arc::new(anthropic(fake, Duration::from_secs(5), 0));
    let assistant = Assistant::new(
        client,
        Arc::new(Prompts::embedded().unwrap()),
        store.clone(),
        Redactor::new([KEY.to_string()]),
        256,
        budget,
    );
    (assistant, store)
}

fn clarify_vars(request: &str) -> serde_json::Value {
    json!({"request": request, "missing": ["requirements.monthly_traffic_gb"], "questions": ["How much?"]})
}

#[tokio::test]
async fn a_spent_budget_refuses_without_calling_the_server_and_is_recorded() {
    let fake = FakeLlm::start(Reply::Ok(fixture("anthropic_ok.json")));
    let dir = tempfile::tempdir().unwrap();
    // 812 + 96 tokens per answer: the first call spends a 900-token budget.
    let (assistant, store) = assistant(&fake, &dir, Some(900)).await;
    let site = CallSite::default();
    let first = assistant
        .ask("clarify", &clarify_vars("x"), &site)
        .await
        .unwrap();
    assert_eq!(first.usage.total(), 908);
    let refused = assistant
        .ask("clarify", &clarify_vars("x"), &site)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused.error,
            LlmError::BudgetExhausted {
                used: 908,
                budget: 900
            }
        ),
        "{}",
        refused.error
    );
    assert!(refused.error.to_string().contains("budget"));
    assert_eq!(
        fake.hits(),
        1,
        "the budget must stop the call before it is made"
    );
    assert!(refused.call_id.is_some());
    assert_eq!(
        store
            .llm_tokens_since(chrono::Utc::now() - chrono::Duration::days(40))
            .await
            .unwrap(),
        908
    );
}

#[tokio::test]
async fn secrets_never_reach_the_model_or_the_record() {
    let fake = FakeLlm::start(Reply::Ok(fixture("anthropic_ok.json")));
    let dir = tempfile::tempdir().unwrap();
    let (assistant, _store) = assistant(&fake, &dir, None).await;
    let request = format!(
        "connect aws lambda in us-east-1 with AKIAIOSFODNN7EXAMPLE and {KEY}, password=hunter22, token xoxb-1234-5678-abcd"
    );
    let asked = assistant
        .ask("clarify", &clarify_vars(&request), &CallSite::default())
        .await
        .unwrap();
    let sent = fake.received()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        KEY,
        "hunter22",
        "xoxb-1234-5678-abcd",
    ] {
        assert!(!sent.contains(secret), "{secret} was sent: {sent}");
    }
    assert!(sent.contains("[redacted]"), "{sent}");
    assert!(sent.contains("connect aws lambda in us-east-1"), "{sent}");
    let (stored,): (String,) = sqlx::query_as("SELECT prompt_text FROM llm_calls WHERE id = ?")
        .bind(asked.call_id)
        .fetch_one(&db(&dir).await)
        .await
        .unwrap();
    assert!(stored.contains(&sent), "the record holds what was sent");
    assert!(!stored.contains(KEY) && !stored.contains("hunter22"));
}

async fn db(dir: &tempfile::TempDir) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .unwrap()
}

#[tokio::test]
async fn every_outcome_is_recorded_with_prompt_hash_model_and_tokens() {
    let fake = FakeLlm::start(Reply::Ok(fixture("anthropic_ok.json")));
    fake.script(vec![
        Reply::Ok(fixture("anthropic_ok.json")),
        Reply::Ok(fixture("anthropic_refusal.json")),
        Reply::NotJson,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (assistant, _store) = assistant(&fake, &dir, None).await;
    let site = CallSite {
        workflow: None,
        step: None,
    };
    let vars = clarify_vars("x");
    assert!(assistant.ask("clarify", &vars, &site).await.is_ok());
    let refused = assistant.ask("clarify", &vars, &site).await.unwrap_err();
    assert_eq!(refused.error.outcome(), CallOutcome::Refused);
    let broken = assistant.ask("clarify", &vars, &site).await.unwrap_err();
    assert_eq!(broken.error.outcome(), CallOutcome::Malformed);
    // Only a workflow's calls are listed by workflow; read the three through SQL.
    let pool = db(&dir).await;
    let rows: Vec<(String, i64, String, String, i64, i64, String)> = sqlx::query_as(
        "SELECT prompt, prompt_version, content_hash, model, input_tokens, output_tokens, outcome FROM llm_calls ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let hash = switchboard::llm::prompts::content_hash(include_str!("../prompts/clarify/v1.hbs"));
    assert_eq!(
        rows,
        [
            (
                "clarify".into(),
                1,
                hash.clone(),
                "claude-test".into(),
                812,
                96,
                "ok".into()
            ),
            (
                "clarify".into(),
                1,
                hash.clone(),
                "claude-test".into(),
                640,
                0,
                "refused".into()
            ),
            (
                "clarify".into(),
                1,
                hash,
                "claude-test".into(),
                0,
                0,
                "malformed".into()
            ),
        ]
    );
}
