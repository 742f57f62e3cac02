//! Slack Block Kit for the neutral message model, and the reverse for button
//! clicks: a card becomes header / section / fields / actions blocks within
//! Slack's limits, and a `block_actions` interaction payload becomes a typed
//! `ButtonAction` plus the clicking user, or a clear error. Pure: no HTTP here.

use crate::chat::message::{clip, render_mentions, ButtonAction, Message, Tone};
use crate::domain::{BatchId, UserId, WorkflowId};
use serde_json::{json, Value};

// Slack's documented limits.
const HEADER_MAX: usize = 150;
const SECTION_TEXT_MAX: usize = 3000;
const FIELD_TEXT_MAX: usize = 2000;
const FIELDS_PER_SECTION: usize = 10;
const FALLBACK_MAX: usize = 3000;

/// Escapes the three characters Slack's mrkdwn treats as control characters.
fn escape(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    render_mentions(&escaped, is_slack_user, |id| format!("<@{id}>"))
}

/// A Slack user id: `U` or `W` and upper-case letters and digits.
fn is_slack_user(id: &str) -> bool {
    (8..=24).contains(&id.len())
        && (id.starts_with('U') || id.starts_with('W'))
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// A button's `action_id` and `value` (the id it decides).
fn action_id(action: &ButtonAction) -> (&'static str, String) {
    match action {
        ButtonAction::Approve { workflow } => ("approve", workflow.to_string()),
        ButtonAction::Reject { workflow } => ("reject", workflow.to_string()),
        ButtonAction::ApproveBatch { batch } => ("approve_batch", batch.to_string()),
        ButtonAction::RejectBatch { batch } => ("reject_batch", batch.to_string()),
    }
}

/// The `chat.postMessage` / `chat.update` body (without channel) for a message.
pub fn render(message: &Message) -> Value {
    let mut blocks = Vec::new();
    let mut title = message.title.clone().unwrap_or_default();
    if title.is_empty() {
        if let Some(id) = message.workflow {
            title = id.to_string();
        }
    }
    if !title.is_empty() {
        let mark = match message.tone {
            Tone::Info => "",
            Tone::Success => "✅ ",
            Tone::Warning => "⚠️ ",
            Tone::Danger => "🛑 ",
        };
        blocks.push(json!({"type": "header", "text": {"type": "plain_text", "text": clip(&format!("{mark}{title}"), HEADER_MAX), "emoji": true}}));
    }
    if !message.text.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&escape(&message.text), SECTION_TEXT_MAX)}}));
    }
    for chunk in message.fields.chunks(FIELDS_PER_SECTION) {
        let fields: Vec<Value> = chunk
            .iter()
            .map(|f| json!({"type": "mrkdwn", "text": clip(&format!("*{}*\n{}", escape(&f.name), escape(&f.value)), FIELD_TEXT_MAX)}))
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(image) = &message.image {
        // The picture itself is a file on this host; the block names it so
        // the card says a picture belongs to it.
        let name = image.rsplit('/').next().unwrap_or(image);
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&format!("Picture: {}", escape(name)), SECTION_TEXT_MAX)}]}));
    }
    if !message.buttons.is_empty() {
        let elements: Vec<Value> = message
            .buttons
            .iter()
            .map(|b| {
                let (id, value) = action_id(&b.action);
                let mut button = json!({
                    "type": "button",
                    "text": {"type": "plain_text", "text": clip(&b.label, 75)},
                    "action_id": id,
                    "value": value,
                });
                match b.tone {
                    Tone::Success => button["style"] = json!("primary"),
                    Tone::Danger => button["style"] = json!("danger"),
                    _ => {}
                }
                button
            })
            .collect();
        let block_id = message
            .workflow
            .map(|w| w.to_string())
            .unwrap_or_else(|| "actions".into());
        blocks.push(json!({"type": "actions", "block_id": block_id, "elements": elements}));
    }
    let fallback = match (&message.title, message.text.is_empty()) {
        (Some(t), false) => format!("{t}: {}", message.text),
        (Some(t), true) => t.clone(),
        (None, _) => message.text.clone(),
    };
    json!({"text": clip(&fallback, FALLBACK_MAX), "blocks": blocks})
}

/// The modal that asks why a workflow or a whole batch is rejected
/// (`views.open`). What the click decides (`{"workflow": "wf-3"}` or
/// `{"batch": "batch-3"}`) and the card's channel travel in
/// `private_metadata` and come back with the `view_submission`, which
/// rejects that subject: the modal only ever rejects, whichever button of
/// the subject opened it.
pub fn reject_modal(action: &ButtonAction, channel: Option<&str>) -> Value {
    let (key, subject) = match action {
        ButtonAction::Approve { workflow } | ButtonAction::Reject { workflow } => {
            ("workflow", workflow.to_string())
        }
        ButtonAction::ApproveBatch { batch } | ButtonAction::RejectBatch { batch } => {
            ("batch", batch.to_string())
        }
    };
    let metadata = json!({key: subject, "channel": channel}).to_string();
    json!({
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": clip(&format!("Reject {subject}"), 24)},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Why is it rejected?"},
            "element": {"type": "plain_text_input", "action_id": "reason", "multiline": true, "max_length": 2000}
        }]
    })
}

/// The `callback_id` of the rejection modal.
pub const REJECT_CALLBACK: &str = "switchboard_reject";

/// A decoded button click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub user: UserId,
    pub user_name: Option<String>,
    pub action: ButtonAction,
    /// Where the card is, so it can be updated in place.
    pub channel: Option<String>,
    pub message_ts: Option<String>,
    /// Lets the adapter open a modal (the rejection reason) for this click.
    pub trigger_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body has no `payload` form field")]
    NoPayload,
    #[error("the payload is not JSON: {0}")]
    NotJson(String),
    #[error("unsupported interaction type '{0}'")]
    UnsupportedType(String),
    #[error("the payload has no {0}")]
    Missing(&'static str),
    #[error("unknown action '{0}'")]
    UnknownAction(String),
    #[error("'{0}' is not a workflow id")]
    BadWorkflow(String),
}

/// Decodes `application/x-www-form-urlencoded` into (name, value) pairs.
pub(crate) fn form_pairs(body: &str) -> Vec<(String, String)> {
    fn decode(part: &str) -> String {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b'%' => {
                    let escaped = bytes
                        .get(i + 1..i + 3)
                        .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match escaped {
                        Some(byte) => {
                            out.push(byte);
                            i += 3;
                        }
                        None => {
                            out.push(b'%');
                            i += 1;
                        }
                    }
                }
                byte => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Decodes the body Slack posts to the interactivity endpoint for a button.
pub fn decode_click(form_body: &str) -> Result<Click, PayloadError> {
    let payload = form_pairs(form_body)
        .into_iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v)
        .ok_or(PayloadError::NoPayload)?;
    let value: Value =
        serde_json::from_str(&payload).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    click_from_payload(&value)
}

/// A `block_actions` interaction payload (already parsed) as a click.
pub(super) fn click_from_payload(value: &Value) -> Result<Click, PayloadError> {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or(PayloadError::Missing("type"))?;
    if kind != "block_actions" {
        return Err(PayloadError::UnsupportedType(
            kind.chars().take(40).collect(),
        ));
    }
    let user = value
        .pointer("/user/id")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty() && u.len() <= 64)
        .ok_or(PayloadError::Missing("user id"))?;
    let action = value
        .pointer("/actions/0")
        .ok_or(PayloadError::Missing("action"))?;
    let id = action
        .get("action_id")
        .and_then(Value::as_str)
        .ok_or(PayloadError::Missing("action_id"))?;
    let raw = action
        .get("value")
        .and_then(Value::as_str)
        .ok_or(PayloadError::Missing("action value"))?;
    let bad = || PayloadError::BadWorkflow(raw.chars().take(40).collect());
    let workflow = || raw.parse::<WorkflowId>().map_err(|_| bad());
    let batch = || raw.parse::<BatchId>().map_err(|_| bad());
    let action = match id {
        "approve" => ButtonAction::Approve {
            workflow: workflow()?,
        },
        "reject" => ButtonAction::Reject {
            workflow: workflow()?,
        },
        "approve_batch" => ButtonAction::ApproveBatch { batch: batch()? },
        "reject_batch" => ButtonAction::RejectBatch { batch: batch()? },
        other => {
            return Err(PayloadError::UnknownAction(
                other.chars().take(40).collect(),
            ))
        }
    };
    Ok(Click {
        user: UserId::new(user),
        user_name: value
            .pointer("/user/username")
            .or_else(|| value.pointer("/user/name"))
            .and_then(Value::as_str)
            .map(str::to_string),
        action,
        channel: value
            .pointer("/channel/id")
            .and_then(Value::as_str)
            .map(str::to_string),
        message_ts: value
            .pointer("/message/ts")
            .and_then(Value::as_str)
            .map(str::to_string),
        trigger_id: value
            .get("trigger_id")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::chat::message::fixtures::card;

    #[test]
    fn an_approval_card_renders_as_block_kit() {
        let v = render(&card());
        assert_eq!(v["blocks"][0]["type"], "header");
        assert_eq!(v["blocks"][0]["text"]["text"], "wf-42 · approval needed");
        assert_eq!(
            v["blocks"][1]["text"]["text"],
            "alice asks: connect &lt;lambda&gt; &amp; more"
        );
        assert_eq!(v["blocks"][2]["fields"][0]["text"], "*Risk*\nmedium");
        let actions = &v["blocks"][3];
        assert_eq!(actions["type"], "actions");
        assert_eq!(actions["block_id"], "wf-42");
        assert_eq!(actions["elements"][0]["action_id"], "approve");
        assert_eq!(actions["elements"][0]["value"], "wf-42");
        assert_eq!(actions["elements"][0]["style"], "primary");
        assert_eq!(actions["elements"][1]["style"], "danger");
        assert!(v["text"]
            .as_str()
            .unwrap()
            .starts_with("wf-42 · approval needed: "));
    }

    #[test]
    fn long_text_and_many_fields_stay_within_slacks_limits() {
        let mut m = Message::text("x".repeat(10_000)).with_title("t".repeat(500));
        for i in 0..25 {
            m = m.field(format!("f{i}"), "v".repeat(5000));
        }
        let v = render(&m);
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(
            blocks[0]["text"]["text"].as_str().unwrap().chars().count(),
            HEADER_MAX
        );
        assert_eq!(
            blocks[1]["text"]["text"].as_str().unwrap().chars().count(),
            SECTION_TEXT_MAX
        );
        let field_sections: Vec<&Value> = blocks
            .iter()
            .filter(|b| b.get("fields").is_some())
            .collect();
        assert_eq!(field_sections.len(), 3);
        assert!(field_sections
            .iter()
            .all(|s| s["fields"].as_array().unwrap().len() <= FIELDS_PER_SECTION));
    }

    fn form(payload: &Value) -> String {
        let text = payload.to_string();
        let mut out = String::from("payload=");
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    #[test]
    fn a_button_click_decodes_to_a_typed_action() {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U2CERLKJA", "username": "approver"},
            "channel": {"id": "C123"},
            "message": {"ts": "1531420618.000200"},
            "actions": [{"action_id": "approve", "value": "wf-42", "block_id": "wf-42"}]
        });
        let click = decode_click(&form(&payload)).unwrap();
        assert_eq!(click.user, UserId::new("U2CERLKJA"));
        assert_eq!(click.user_name.as_deref(), Some("approver"));
        assert_eq!(
            click.action,
            ButtonAction::Approve {
                workflow: WorkflowId::new(42).unwrap()
            }
        );
        assert_eq!(click.channel.as_deref(), Some("C123"));
        assert_eq!(click.message_ts.as_deref(), Some("1531420618.000200"));
    }

    #[test]
    fn bad_payloads_are_named() {
        assert_eq!(decode_click("token=x"), Err(PayloadError::NoPayload));
        assert!(matches!(
            decode_click("payload=%7Bnot"),
            Err(PayloadError::NotJson(_))
        ));
        let shortcut = json!({"type": "shortcut", "user": {"id": "U1"}});
        assert_eq!(
            decode_click(&form(&shortcut)),
            Err(PayloadError::UnsupportedType("shortcut".into()))
        );
        let no_user = json!({"type": "block_actions", "actions": [{"action_id": "approve", "value": "wf-1"}]});
        assert_eq!(
            decode_click(&form(&no_user)),
            Err(PayloadError::Missing("user id"))
        );
        let bad_id = json!({"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "approve", "value": "wf-0"}]});
        assert_eq!(
            decode_click(&form(&bad_id)),
            Err(PayloadError::BadWorkflow("wf-0".into()))
        );
        let other = json!({"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "delete_all", "value": "wf-1"}]});
        assert_eq!(
            decode_click(&form(&other)),
            Err(PayloadError::UnknownAction("delete_all".into()))
        );
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(body in ".{0,400}") {
            let _ = decode_click(&body);
        }
    }
}
