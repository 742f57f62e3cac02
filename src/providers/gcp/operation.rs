//! Google's answers to writes, pure: what an HTTP error body means (retry,
//! already exists, gone, a failed precondition, a refusal in Google's
//! words), how a Compute `Operation` stands, and how a Cloud DNS `Change`
//! stands. The driver (`api`) does the HTTP and keeps the deadline; nothing
//! here sleeps or sends.
//!
//! The rules (`shared/fixtures/gcp/README.md`, from the discovery documents):
//! - An `Operation`'s `status` is `PENDING`, `RUNNING` or `DONE`; `DONE`
//!   means finished *successfully or not*: `error.errors[]` (each with
//!   `code` and `message`) makes it a failure although the poll answered
//!   200. `warnings[]` on a success are not errors.
//! - A Cloud DNS `Change`'s `status` is lower case, `pending` or `done`.
//! - Errors answer `{"error": {"code": <http>, "message", "errors":
//!   [{"reason", "message", "domain"}]}}`: 429 and 5xx, and a 403 whose
//!   reason is `rateLimitExceeded` / `userRateLimitExceeded`, are worth
//!   retrying; 409 `alreadyExists` and 404 are answers a caller decides on;
//!   412 is Cloud DNS's "a deletion did not match the data".

use serde_json::Value;

/// One error of a failed operation, in Google's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub code: String,
    pub message: String,
}

/// Where a Compute operation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpState {
    /// Still `PENDING` or `RUNNING`: ask `wait` again.
    Running { name: String },
    /// `DONE` without `error`: the warnings, to log.
    Done { warnings: Vec<String> },
    /// `DONE` with `error.errors[]` (or an `httpErrorStatusCode` alone).
    Failed(Vec<OpError>),
    /// Not an operation at all.
    Unreadable(String),
}

/// Reads an `Operation`.
pub fn operation(body: &Value) -> OpState {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let Some(status) = text(body, "status") else {
        return OpState::Unreadable("an operation without a status".into());
    };
    if status != "DONE" {
        return match text(body, "name") {
            Some(name) => OpState::Running { name },
            None => OpState::Unreadable(format!("a {status} operation without a name")),
        };
    }
    let mut errors: Vec<OpError> = body
        .pointer("/error/errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| OpError {
            code: text(e, "code").unwrap_or_else(|| "UNKNOWN".into()),
            message: text(e, "message").unwrap_or_default(),
        })
        .collect();
    let http_error = body
        .get("httpErrorStatusCode")
        .and_then(Value::as_u64)
        .filter(|code| *code >= 400);
    if let (true, Some(code)) = (errors.is_empty(), http_error) {
        errors.push(OpError {
            code: format!("HTTP{code}"),
            message: text(body, "httpErrorMessage").unwrap_or_default(),
        });
    }
    if body.get("error").is_some() && errors.is_empty() {
        errors.push(OpError {
            code: "UNKNOWN".into(),
            message: "the operation ended with an error and no details".into(),
        });
    }
    if !errors.is_empty() {
        return OpState::Failed(errors);
    }
    let warnings = body
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|w| {
            format!(
                "{}: {}",
                text(w, "code").unwrap_or_default(),
                text(w, "message").unwrap_or_default()
            )
        })
        .collect();
    OpState::Done { warnings }
}

/// Whether a Cloud DNS `Change` is `done`; `None` when it has no status.
pub fn change_done(body: &Value) -> Option<bool> {
    match body.get("status")?.as_str()? {
        "done" => Some(true),
        _ => Some(false),
    }
}

/// What a non-success HTTP answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Throttled or a server error: the same request again, after a wait.
    Retry(String),
    /// 404.
    NotFound(String),
    /// 409 `alreadyExists` (or any 409).
    AlreadyExists(String),
    /// 412: a Cloud DNS deletion that did not match the data, and the like.
    ConditionNotMet(String),
    /// Anything else: Google's reason and message.
    Refused { reason: String, message: String },
}

/// Reads an error answer.
pub fn reply(status: u16, body: &str) -> Reply {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(300).collect());
    let reason = error
        .and_then(|e| e.pointer("/errors/0/reason"))
        .and_then(Value::as_str)
        .or_else(|| error.and_then(|e| e.get("status")).and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let throttled = matches!(
        reason.as_str(),
        "rateLimitExceeded" | "userRateLimitExceeded" | "RESOURCE_EXHAUSTED"
    );
    match status {
        429 => Reply::Retry(format!("HTTP 429: {reason}: {message}")),
        s if s >= 500 => Reply::Retry(format!("HTTP {s}: {message}")),
        403 if throttled => Reply::Retry(format!("HTTP 403: {reason}: {message}")),
        404 => Reply::NotFound(message),
        409 => Reply::AlreadyExists(message),
        412 => Reply::ConditionNotMet(message),
        _ => Reply::Refused {
            reason: if reason.is_empty() {
                format!("HTTP{status}")
            } else {
                reason
            },
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pending_and_running_operations_are_polled_by_name() {
        for status in ["PENDING", "RUNNING"] {
            let op = json!({"kind": "compute#operation", "name": "operation-1", "status": status});
            assert_eq!(
                operation(&op),
                OpState::Running {
                    name: "operation-1".into()
                }
            );
        }
        assert!(matches!(
            operation(&json!({"name": "x"})),
            OpState::Unreadable(_)
        ));
    }

    #[test]
    fn done_with_errors_is_a_failure_with_every_code_and_message() {
        let op = json!({
            "name": "operation-2", "status": "DONE", "httpErrorStatusCode": 403,
            "httpErrorMessage": "FORBIDDEN",
            "error": {"errors": [
                {"code": "QUOTA_EXCEEDED", "message": "Quota 'FIREWALLS' exceeded.  Limit: 100.0 globally."},
                {"code": "RESOURCE_NOT_READY", "message": "not ready"}
            ]}
        });
        let OpState::Failed(errors) = operation(&op) else {
            panic!("{:?}", operation(&op))
        };
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].code, "QUOTA_EXCEEDED");
        assert!(errors[0].message.contains("FIREWALLS"));
        let bare = json!({"name": "o", "status": "DONE", "httpErrorStatusCode": 404, "httpErrorMessage": "NOT FOUND"});
        assert_eq!(
            operation(&bare),
            OpState::Failed(vec![OpError {
                code: "HTTP404".into(),
                message: "NOT FOUND".into()
            }])
        );
    }

    #[test]
    fn done_without_errors_is_success_even_with_warnings() {
        let op = json!({"name": "o", "status": "DONE", "httpErrorStatusCode": 200,
            "warnings": [{"code": "DEPRECATED_RESOURCE_USED", "message": "old"}]});
        assert_eq!(
            operation(&op),
            OpState::Done {
                warnings: vec!["DEPRECATED_RESOURCE_USED: old".into()]
            }
        );
        assert_eq!(change_done(&json!({"status": "pending"})), Some(false));
        assert_eq!(change_done(&json!({"status": "done"})), Some(true));
        assert_eq!(change_done(&json!({})), None);
    }

    #[test]
    fn error_answers_are_read_by_status_and_reason() {
        let body = |code: u16, reason: &str| {
            json!({"error": {"code": code, "message": "m", "errors": [{"reason": reason, "message": "m", "domain": "global"}]}})
                .to_string()
        };
        assert!(matches!(
            reply(429, &body(429, "rateLimitExceeded")),
            Reply::Retry(_)
        ));
        assert!(matches!(
            reply(403, &body(403, "rateLimitExceeded")),
            Reply::Retry(_)
        ));
        assert!(matches!(reply(503, "upstream"), Reply::Retry(_)));
        assert_eq!(
            reply(409, &body(409, "alreadyExists")),
            Reply::AlreadyExists("m".into())
        );
        assert_eq!(
            reply(404, &body(404, "notFound")),
            Reply::NotFound("m".into())
        );
        assert_eq!(
            reply(412, &body(412, "conditionNotMet")),
            Reply::ConditionNotMet("m".into())
        );
        assert_eq!(
            reply(403, &body(403, "forbidden")),
            Reply::Refused {
                reason: "forbidden".into(),
                message: "m".into()
            }
        );
        assert_eq!(
            reply(400, "not json"),
            Reply::Refused {
                reason: "HTTP400".into(),
                message: "not json".into()
            }
        );
    }
}
