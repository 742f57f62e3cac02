//! ARM long-running operations, pure: what the answer to a PUT or DELETE
//! means, what to poll next and how long to wait, and how the operation
//! ended. The driver does the HTTP and keeps the deadline; nothing here
//! sleeps or sends.
//!
//! The rules (ARM's async API contract, as `shared/fixtures/azure/apply/
//! README.md` sets them out for the operations switchboard writes):
//! - A PUT answers 200/201 with the resource. A `provisioningState` of
//!   `Succeeded` (or none at all) means done; `Failed`/`Canceled` means
//!   failed; anything else (`Updating`, `Accepted`, an RP's own value) means
//!   poll: the `Azure-AsyncOperation` URL if given, else `Location`, else the
//!   resource itself.
//! - A 202 (a DELETE, or an old-model PUT) means poll `Azure-AsyncOperation`
//!   when given (Network's delete examples carry only it, although their
//!   swagger says `final-state-via: location`), else `Location`; without
//!   either it cannot be followed.
//! - A DELETE answering 200 or 204 is done (204: it did not exist).
//! - The `Azure-AsyncOperation` URL always answers 200 with `status`:
//!   `Succeeded`, `Failed`/`Canceled` (with `error.code` and
//!   `error.message`), anything else still running. A 4xx/5xx there means
//!   reading the status failed, not the operation: poll again.
//! - The `Location` URL answers 202 while running, then what the operation
//!   would have answered synchronously (200/204 for a delete).
//! - `Retry-After` (whole seconds) is the least wait between polls; without
//!   it the caller's default.

use serde_json::Value;
use std::time::Duration;

/// The write an answer is to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Put,
    Delete,
}

/// One HTTP answer, as far as the operation's state goes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    pub status: u16,
    /// The `Azure-AsyncOperation` header.
    pub async_operation: Option<String>,
    /// The `Location` header.
    pub location: Option<String>,
    /// `Retry-After`, read by `rest::retry_after_delay`.
    pub retry_after: Option<Duration>,
    pub body: Option<Value>,
}

/// How a poll URL is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKind {
    /// The operation-status resource (`Azure-AsyncOperation`).
    AsyncOperation,
    /// The `Location` URL (202 while running).
    Location,
    /// The resource itself, until its `provisioningState` is terminal.
    Resource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Done; the resource as the write left it, when the answer carried it
    /// (after a status poll the caller reads the resource itself).
    Done(Option<Value>),
    /// Ask `url` again after `wait`, reading it as `kind`.
    Poll {
        url: String,
        kind: PollKind,
        wait: Duration,
    },
    /// The operation ended `Failed` or `Canceled`, with Azure's words.
    Failed {
        state: String,
        code: String,
        message: String,
    },
    /// An answer no operation can give (a 202 with nowhere to poll).
    Unfollowable(String),
}

fn wait(answer: &Answer, default: Duration) -> Duration {
    answer.retry_after.unwrap_or(default)
}

fn provisioning_state(body: Option<&Value>) -> Option<&str> {
    body?.get("properties")?.get("provisioningState")?.as_str()
}

/// Azure's own code and message from an `error` object, or from the state.
fn failure(state: &str, body: Option<&Value>) -> Next {
    let error = body.and_then(|b| b.get("error"));
    let text = |key: &str| {
        error
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Next::Failed {
        state: state.to_string(),
        code: text("code").unwrap_or_else(|| format!("Provisioning{state}")),
        message: text("message").unwrap_or_else(|| format!("the operation ended {state}")),
    }
}

fn terminal(state: &str) -> Option<bool> {
    if state.eq_ignore_ascii_case("Succeeded") {
        Some(true)
    } else if state.eq_ignore_ascii_case("Failed") || state.eq_ignore_ascii_case("Canceled") {
        Some(false)
    } else {
        None
    }
}

/// Where to follow an operation that is still running: the status URL,
/// else `Location`.
fn follow(answer: &Answer, default: Duration) -> Option<Next> {
    let (url, kind) = match (&answer.async_operation, &answer.location) {
        (Some(url), _) => (url, PollKind::AsyncOperation),
        (None, Some(url)) => (url, PollKind::Location),
        (None, None) => return None,
    };
    Some(Next::Poll {
        url: url.clone(),
        kind,
        wait: wait(answer, default),
    })
}

/// What the first answer to a write means. `resource_url` is where the
/// resource itself is read; `default_wait` stands in for a missing
/// `Retry-After`.
pub fn after_write(
    write: Write,
    resource_url: &str,
    answer: &Answer,
    default_wait: Duration,
) -> Next {
    match (write, answer.status) {
        (Write::Delete, 200 | 204) => Next::Done(None),
        (_, 202) => follow(answer, default_wait).unwrap_or_else(|| {
            Next::Unfollowable(
                "202 Accepted without an Azure-AsyncOperation or Location header".into(),
            )
        }),
        (Write::Put, 200 | 201) => match provisioning_state(answer.body.as_ref()) {
            None => Next::Done(answer.body.clone()),
            Some(state) => match terminal(state) {
                Some(true) => Next::Done(answer.body.clone()),
                Some(false) => failure(state, answer.body.as_ref()),
                None => follow(answer, default_wait).unwrap_or_else(|| Next::Poll {
                    url: resource_url.to_string(),
                    kind: PollKind::Resource,
                    wait: wait(answer, default_wait),
                }),
            },
        },
        (_, status) => Next::Unfollowable(format!("HTTP {status} is not an answer to a write")),
    }
}

/// What a poll's answer means, for a poll of `kind` at `url`.
pub fn after_poll(kind: PollKind, url: &str, answer: &Answer, default_wait: Duration) -> Next {
    let again = || Next::Poll {
        url: url.to_string(),
        kind,
        wait: wait(answer, default_wait),
    };
    match kind {
        PollKind::AsyncOperation => {
            if answer.status != 200 {
                // Reading the status failed, not the operation.
                return again();
            }
            let state = answer
                .body
                .as_ref()
                .and_then(|b| b.get("status"))
                .and_then(Value::as_str)
                .unwrap_or("");
            match terminal(state) {
                Some(true) => Next::Done(None),
                Some(false) => failure(state, answer.body.as_ref()),
                None => again(),
            }
        }
        PollKind::Location => match answer.status {
            202 => again(),
            200..=299 => Next::Done(answer.body.clone()),
            408 | 429 | 500..=599 => again(),
            status => failure(
                "Failed",
                Some(&serde_json::json!({
                    "error": {
                        "code": format!("HTTP{status}"),
                        "message": answer
                            .body
                            .as_ref()
                            .and_then(|b| b.pointer("/error/message"))
                            .and_then(Value::as_str)
                            .unwrap_or("the operation's Location answered an error"),
                    }
                })),
            ),
        },
        PollKind::Resource => {
            if answer.status != 200 {
                return again();
            }
            match provisioning_state(answer.body.as_ref()).map(terminal) {
                None | Some(Some(true)) => Next::Done(answer.body.clone()),
                Some(Some(false)) => failure(
                    provisioning_state(answer.body.as_ref()).unwrap_or("Failed"),
                    answer.body.as_ref(),
                ),
                Some(None) => again(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEFAULT: Duration = Duration::from_millis(50);
    const RULE: &str = "https://management.azure.com/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg/securityRules/rule1?api-version=2024-07-01";
    const STATUS: &str = "https://management.azure.com/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Network/locations/eastus/operations/op-1?api-version=2022-09-01";

    fn rule(state: &str) -> Value {
        json!({"name": "rule1", "properties": {"access": "Deny", "priority": 100, "provisioningState": state}})
    }

    #[test]
    fn a_put_that_answers_succeeded_is_done_with_the_resource() {
        let answer = Answer {
            status: 201,
            body: Some(rule("Succeeded")),
            ..Answer::default()
        };
        assert_eq!(
            after_write(Write::Put, RULE, &answer, DEFAULT),
            Next::Done(Some(rule("Succeeded")))
        );
        let no_state = Answer {
            status: 200,
            body: Some(json!({"name": "recorda", "properties": {"ttl": 3600}})),
            ..Answer::default()
        };
        assert!(matches!(
            after_write(Write::Put, RULE, &no_state, DEFAULT),
            Next::Done(Some(_))
        ));
    }

    #[test]
    fn a_put_still_updating_is_followed_at_its_status_url_then_location_then_itself() {
        let updating = Answer {
            status: 201,
            async_operation: Some(STATUS.into()),
            location: Some("https://loc".into()),
            retry_after: Some(Duration::from_secs(10)),
            body: Some(rule("Updating")),
        };
        assert_eq!(
            after_write(Write::Put, RULE, &updating, DEFAULT),
            Next::Poll {
                url: STATUS.into(),
                kind: PollKind::AsyncOperation,
                wait: Duration::from_secs(10)
            }
        );
        let only_location = Answer {
            async_operation: None,
            retry_after: None,
            ..updating.clone()
        };
        assert_eq!(
            after_write(Write::Put, RULE, &only_location, DEFAULT),
            Next::Poll {
                url: "https://loc".into(),
                kind: PollKind::Location,
                wait: DEFAULT
            }
        );
        let bare = Answer {
            async_operation: None,
            location: None,
            ..updating
        };
        assert!(matches!(
            after_write(Write::Put, RULE, &bare, DEFAULT),
            Next::Poll { kind: PollKind::Resource, ref url, .. } if url == RULE
        ));
    }

    #[test]
    fn a_put_that_answers_failed_is_a_failure_not_a_success() {
        let answer = Answer {
            status: 200,
            body: Some(rule("Failed")),
            ..Answer::default()
        };
        assert!(matches!(
            after_write(Write::Put, RULE, &answer, DEFAULT),
            Next::Failed { ref state, .. } if state == "Failed"
        ));
    }

    #[test]
    fn deletes_are_done_on_200_or_204_and_followed_on_202() {
        for status in [200, 204] {
            let answer = Answer {
                status,
                async_operation: Some(STATUS.into()),
                ..Answer::default()
            };
            assert_eq!(
                after_write(Write::Delete, RULE, &answer, DEFAULT),
                Next::Done(None)
            );
        }
        // NetworkSecurityGroupRuleDelete.json: a 202 with only the status URL.
        let accepted = Answer {
            status: 202,
            async_operation: Some(STATUS.into()),
            ..Answer::default()
        };
        assert!(matches!(
            after_write(Write::Delete, RULE, &accepted, DEFAULT),
            Next::Poll {
                kind: PollKind::AsyncOperation,
                ..
            }
        ));
        let lost = Answer {
            status: 202,
            ..Answer::default()
        };
        assert!(matches!(
            after_write(Write::Delete, RULE, &lost, DEFAULT),
            Next::Unfollowable(_)
        ));
    }

    #[test]
    fn the_status_url_is_polled_until_terminal_and_failures_carry_azures_words() {
        let running = Answer {
            status: 200,
            retry_after: Some(Duration::from_secs(2)),
            body: Some(json!({"status": "InProgress"})),
            ..Answer::default()
        };
        assert_eq!(
            after_poll(PollKind::AsyncOperation, STATUS, &running, DEFAULT),
            Next::Poll {
                url: STATUS.into(),
                kind: PollKind::AsyncOperation,
                wait: Duration::from_secs(2)
            }
        );
        let done = Answer {
            status: 200,
            body: Some(json!({"status": "Succeeded"})),
            ..Answer::default()
        };
        assert_eq!(
            after_poll(PollKind::AsyncOperation, STATUS, &done, DEFAULT),
            Next::Done(None)
        );
        let failed = Answer {
            status: 200,
            body: Some(
                json!({"status": "Failed", "error": {"code": "SecurityRuleConflict", "message": "Rule priority 3000 is already taken"}}),
            ),
            ..Answer::default()
        };
        assert_eq!(
            after_poll(PollKind::AsyncOperation, STATUS, &failed, DEFAULT),
            Next::Failed {
                state: "Failed".into(),
                code: "SecurityRuleConflict".into(),
                message: "Rule priority 3000 is already taken".into()
            }
        );
        let canceled = Answer {
            status: 200,
            body: Some(json!({"status": "Canceled"})),
            ..Answer::default()
        };
        assert!(matches!(
            after_poll(PollKind::AsyncOperation, STATUS, &canceled, DEFAULT),
            Next::Failed { ref code, .. } if code == "ProvisioningCanceled"
        ));
        // Reading the status failed: ask again, the operation is not failed.
        let unreadable = Answer {
            status: 503,
            ..Answer::default()
        };
        assert!(matches!(
            after_poll(PollKind::AsyncOperation, STATUS, &unreadable, DEFAULT),
            Next::Poll { .. }
        ));
    }

    #[test]
    fn the_location_url_answers_202_while_running_then_the_final_answer() {
        let running = Answer {
            status: 202,
            ..Answer::default()
        };
        assert!(matches!(
            after_poll(PollKind::Location, "https://loc", &running, DEFAULT),
            Next::Poll {
                kind: PollKind::Location,
                ..
            }
        ));
        let gone = Answer {
            status: 204,
            ..Answer::default()
        };
        assert_eq!(
            after_poll(PollKind::Location, "https://loc", &gone, DEFAULT),
            Next::Done(None)
        );
        let refused = Answer {
            status: 409,
            body: Some(json!({"error": {"code": "Conflict", "message": "in use by subnet"}})),
            ..Answer::default()
        };
        assert!(matches!(
            after_poll(PollKind::Location, "https://loc", &refused, DEFAULT),
            Next::Failed { ref message, .. } if message == "in use by subnet"
        ));
    }

    #[test]
    fn a_resource_is_polled_until_its_provisioning_state_is_terminal() {
        let updating = Answer {
            status: 200,
            body: Some(rule("Updating")),
            ..Answer::default()
        };
        assert!(matches!(
            after_poll(PollKind::Resource, RULE, &updating, DEFAULT),
            Next::Poll {
                kind: PollKind::Resource,
                ..
            }
        ));
        let done = Answer {
            status: 200,
            body: Some(rule("Succeeded")),
            ..Answer::default()
        };
        assert_eq!(
            after_poll(PollKind::Resource, RULE, &done, DEFAULT),
            Next::Done(Some(rule("Succeeded")))
        );
    }
}
