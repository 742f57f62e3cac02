//! What Discord posts to `/discord/interactions`, decoded into one typed
//! request: PING, a slash command (as the router's text), a button click (a
//! typed `ButtonAction` from its `custom_id`) or the rejection modal's
//! submission; plus the slash commands switchboard registers. Pure: the
//! signature has been checked before anything here runs; nothing here trusts
//! more than the fields it needs, and nothing panics on any input.

use super::render::{decode_custom_id, decode_modal_id, CustomIdError, REASON_INPUT};
use crate::chat::message::ButtonAction;
use crate::domain::UserId;
use serde_json::{json, Value};

/// An interaction's token: lets the bot edit its answer for 15 minutes, so
/// it is treated as a secret (never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct InteractionToken(String);

impl InteractionToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for InteractionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InteractionToken(redacted)")
    }
}

/// Who acted: the platform id, a display name and (in a server) the roles
/// Discord says the member has at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: UserId,
    pub name: Option<String>,
    pub roles: Vec<String>,
}

/// What every interaction carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    pub token: InteractionToken,
    pub channel: Option<String>,
    pub actor: Actor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscordRequest {
    Ping,
    /// A slash command, as the text the router reads (`paths a b 5TB`).
    Command {
        at: Interaction,
        text: String,
    },
    Click {
        at: Interaction,
        action: ButtonAction,
    },
    /// The rejection modal was submitted with a reason.
    RejectReason {
        at: Interaction,
        /// `Reject` of a workflow or `RejectBatch`.
        action: ButtonAction,
        reason: String,
    },
    /// A command or component switchboard does not offer; says which.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the interaction has no {0}")]
    Missing(&'static str),
    #[error("unsupported interaction type {0}")]
    UnsupportedType(i64),
    #[error(transparent)]
    CustomId(#[from] CustomIdError),
}

/// The slash commands and their options, in the order the router reads
/// them. `required` options come first (Discord's rule).
/// An option: name, description, required.
type CommandOption = (&'static str, &'static str, bool);

const COMMANDS: &[(&str, &str, &[CommandOption])] = &[
    (
        "connect",
        "Ask for connectivity in plain words",
        &[(
            "request",
            "e.g. aws lambda OrderProcessor in us-east-1 to azure sql … under 20ms",
            true,
        )],
    ),
    ("topology", "The latest discovered topology", &[]),
    (
        "paths",
        "Candidate paths between two endpoints",
        &[
            ("from", "a network, service or region", true),
            ("to", "a network, service or region", true),
            ("traffic", "e.g. 5TB/month", true),
        ],
    ),
    (
        "status",
        "Monitored paths, or one workflow",
        &[("workflow", "a workflow id such as wf-42", false)],
    ),
    ("workflows", "Recent workflows", &[]),
    (
        "approve",
        "Approve a workflow",
        &[("workflow", "a workflow id such as wf-42", true)],
    ),
    (
        "reject",
        "Reject a workflow, saying why",
        &[
            ("workflow", "a workflow id such as wf-42", true),
            ("reason", "why it is rejected", true),
        ],
    ),
];

/// The body of `PUT /applications/{app}/commands`: every command as a
/// CHAT_INPUT command with string options.
pub fn command_definitions() -> Value {
    let commands: Vec<Value> = COMMANDS
        .iter()
        .map(|(name, description, options)| {
            let options: Vec<Value> = options
                .iter()
                .map(|(name, description, required)| {
                    json!({"type": 3, "name": name, "description": description, "required": required})
                })
                .collect();
            json!({"type": 1, "name": name, "description": description, "options": options})
        })
        .collect();
    Value::Array(commands)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Discord ids are snowflakes: decimal digits.
pub fn is_snowflake(text: &str) -> bool {
    (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

fn actor(value: &Value) -> Result<Actor, InteractionError> {
    // In a server the user is under `member`; in a DM it is `user`.
    let user = value
        .pointer("/member/user")
        .or_else(|| value.get("user"))
        .ok_or(InteractionError::Missing("user"))?;
    let id = str_at(user, "/id")
        .filter(|id| is_snowflake(id))
        .ok_or(InteractionError::Missing("user id"))?;
    let name = str_at(value, "/member/nick")
        .or_else(|| str_at(user, "/global_name"))
        .or_else(|| str_at(user, "/username"))
        .map(|n| n.chars().take(100).collect());
    let roles = value
        .pointer("/member/roles")
        .and_then(Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(Value::as_str)
                .filter(|r| is_snowflake(r))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Actor {
        user: UserId::new(id),
        name,
        roles,
    })
}

fn interaction(value: &Value) -> Result<Interaction, InteractionError> {
    let token = str_at(value, "/token")
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 500
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .ok_or(InteractionError::Missing("token"))?;
    Ok(Interaction {
        token: InteractionToken(token.to_string()),
        channel: str_at(value, "/channel_id")
            .or_else(|| str_at(value, "/channel/id"))
            .filter(|c| is_snowflake(c))
            .map(str::to_string),
        actor: actor(value)?,
    })
}

fn option_text(option: &Value) -> Option<String> {
    match option.get("value")? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn command(value: &Value) -> Result<DiscordRequest, InteractionError> {
    let name = str_at(value, "/data/name").ok_or(InteractionError::Missing("command name"))?;
    let Some((name, _, declared)) = COMMANDS.iter().find(|(n, _, _)| *n == name) else {
        return Ok(DiscordRequest::Unknown(format!(
            "/{}",
            name.chars().take(40).collect::<String>()
        )));
    };
    let given = value
        .pointer("/data/options")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut words = vec![name.to_string()];
    for (option, _, _) in declared.iter() {
        let text = given
            .iter()
            .find(|o| str_at(o, "/name") == Some(option))
            .and_then(option_text);
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            words.push(text);
        }
    }
    Ok(DiscordRequest::Command {
        at: interaction(value)?,
        text: words.join(" "),
    })
}

fn modal_reason(value: &Value) -> Option<String> {
    value
        .pointer("/data/components")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|row| row.get("components").and_then(Value::as_array))
        .flatten()
        .find(|c| str_at(c, "/custom_id") == Some(REASON_INPUT))
        .and_then(|c| str_at(c, "/value"))
        .map(|r| r.trim().chars().take(2000).collect())
}

/// Decodes a verified request body.
pub fn decode(body: &[u8]) -> Result<DiscordRequest, InteractionError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| InteractionError::NotJson(e.to_string()))?;
    let kind = value
        .get("type")
        .and_then(Value::as_i64)
        .ok_or(InteractionError::Missing("type"))?;
    match kind {
        1 => Ok(DiscordRequest::Ping),
        2 => command(&value),
        3 => {
            let id =
                str_at(&value, "/data/custom_id").ok_or(InteractionError::Missing("custom_id"))?;
            Ok(DiscordRequest::Click {
                action: decode_custom_id(id)?,
                at: interaction(&value)?,
            })
        }
        5 => {
            let id =
                str_at(&value, "/data/custom_id").ok_or(InteractionError::Missing("custom_id"))?;
            Ok(DiscordRequest::RejectReason {
                action: decode_modal_id(id)?,
                reason: modal_reason(&value).ok_or(InteractionError::Missing("reason"))?,
                at: interaction(&value)?,
            })
        }
        other => Err(InteractionError::UnsupportedType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::WorkflowId;

    fn member(user: &str, roles: &[&str]) -> Value {
        json!({"user": {"id": user, "username": "ap", "global_name": "Ada Approver"}, "roles": roles})
    }

    #[test]
    fn a_ping_is_a_ping() {
        assert_eq!(decode(br#"{"type":1,"id":"1"}"#), Ok(DiscordRequest::Ping));
    }

    #[test]
    fn a_slash_command_becomes_the_routers_text_in_declared_order() {
        let body = json!({"type": 2, "token": "tok", "channel_id": "555",
            "member": member("111", &["900"]),
            "data": {"name": "paths", "options": [
                {"name": "traffic", "type": 3, "value": "5TB/month"},
                {"name": "from", "type": 3, "value": " aws-prod "},
                {"name": "to", "type": 3, "value": "azure-core"}]}});
        let DiscordRequest::Command { at, text } = decode(body.to_string().as_bytes()).unwrap()
        else {
            panic!("not a command")
        };
        assert_eq!(text, "paths aws-prod azure-core 5TB/month");
        assert_eq!(at.channel.as_deref(), Some("555"));
        assert_eq!(at.actor.user, UserId::new("111"));
        assert_eq!(at.actor.name.as_deref(), Some("Ada Approver"));
        assert_eq!(at.actor.roles, vec!["900".to_string()]);
        assert!(!format!("{at:?}").contains("tok\""));
    }

    #[test]
    fn a_dm_command_has_its_user_at_the_top_and_no_roles() {
        let body = json!({"type": 2, "token": "t", "channel_id": "1",
            "user": {"id": "222", "username": "bob"}, "data": {"name": "workflows"}});
        let DiscordRequest::Command { at, text } = decode(body.to_string().as_bytes()).unwrap()
        else {
            panic!("not a command")
        };
        assert_eq!(text, "workflows");
        assert_eq!(at.actor.name.as_deref(), Some("bob"));
        assert!(at.actor.roles.is_empty());
    }

    #[test]
    fn a_button_click_decodes_only_from_its_custom_id() {
        let body = json!({"type": 3, "token": "t", "channel_id": "555",
            "member": member("111", &[]),
            "message": {"id": "777", "channel_id": "555"},
            "data": {"component_type": 2, "custom_id": "sb:reject:wf-9", "value": "sb:approve:wf-1"}});
        let DiscordRequest::Click { action, .. } = decode(body.to_string().as_bytes()).unwrap()
        else {
            panic!("not a click")
        };
        assert_eq!(
            action,
            ButtonAction::Reject {
                workflow: WorkflowId::new(9).unwrap()
            }
        );
    }

    #[test]
    fn a_modal_submission_carries_the_reason() {
        let body = json!({"type": 5, "token": "t", "channel_id": "555",
            "member": member("111", &[]),
            "data": {"custom_id": "sb-reason:wf-3", "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": "reason", "value": " too dear "}]}]}});
        assert_eq!(
            decode(body.to_string().as_bytes()),
            Ok(DiscordRequest::RejectReason {
                at: interaction(&body).unwrap(),
                action: ButtonAction::Reject {
                    workflow: WorkflowId::new(3).unwrap()
                },
                reason: "too dear".into()
            })
        );
    }

    #[test]
    fn bad_interactions_are_named() {
        assert!(matches!(decode(b"{"), Err(InteractionError::NotJson(_))));
        assert_eq!(
            decode(br#"{"type":4}"#),
            Err(InteractionError::UnsupportedType(4))
        );
        assert_eq!(decode(br#"{}"#), Err(InteractionError::Missing("type")));
        let no_user = json!({"type": 2, "token": "t", "data": {"name": "status"}});
        assert_eq!(
            decode(no_user.to_string().as_bytes()),
            Err(InteractionError::Missing("user"))
        );
        let bad_user = json!({"type": 2, "token": "t", "user": {"id": "U1; drop"}, "data": {"name": "status"}});
        assert_eq!(
            decode(bad_user.to_string().as_bytes()),
            Err(InteractionError::Missing("user id"))
        );
        let other =
            json!({"type": 2, "token": "t", "user": {"id": "1"}, "data": {"name": "deploy"}});
        assert_eq!(
            decode(other.to_string().as_bytes()),
            Ok(DiscordRequest::Unknown("/deploy".into()))
        );
        let foreign =
            json!({"type": 3, "token": "t", "user": {"id": "1"}, "data": {"custom_id": "x"}});
        assert!(matches!(
            decode(foreign.to_string().as_bytes()),
            Err(InteractionError::CustomId(CustomIdError::Foreign(_)))
        ));
    }

    #[test]
    fn every_command_is_registered_with_required_options_first() {
        let defs = command_definitions();
        let names: Vec<&str> = defs
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "connect",
                "topology",
                "paths",
                "status",
                "workflows",
                "approve",
                "reject"
            ]
        );
        for c in defs.as_array().unwrap() {
            let required: Vec<bool> = c["options"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["required"].as_bool().unwrap())
                .collect();
            assert!(required.windows(2).all(|w| w[0] || !w[1]), "{c}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = decode(&body);
        }

        #[test]
        fn decoding_json_shapes_never_panics(kind in 0i64..7, name in ".{0,20}", id in ".{0,30}") {
            let body = json!({"type": kind, "token": "t", "user": {"id": "1"},
                "data": {"name": name, "custom_id": id, "options": [{"name": "request", "value": {"x": 1}}]}});
            let _ = decode(body.to_string().as_bytes());
        }
    }
}
