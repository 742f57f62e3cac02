//! What Slack sends, decoded into one typed request: the
//! `url_verification` challenge, an `event_callback` (app mention, direct
//! message), the `/switchboard` slash command, a button click
//! (`block_actions`) or the rejection modal's `view_submission`. Bot messages,
//! edits and other events decode to `Ignored`. One decoder of the payload
//! (`decode_payload`) serves both transports: the HTTP endpoint's bodies
//! (JSON or form, unwrapped by `decode`) and Socket Mode's envelopes. Pure:
//! the transport has been authenticated before anything here runs (HTTP: the
//! signature; Socket Mode: the app token that opened the connection);
//! nothing here trusts more than the fields it needs, and nothing panics on
//! any input.

use super::slack_blocks::{click_from_payload, form_pairs, Click, PayloadError, REJECT_CALLBACK};
use crate::domain::{UserId, WorkflowId};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackRequest {
    UrlVerification {
        challenge: String,
    },
    /// Text for the router: a mention, a DM or the slash command.
    Text {
        user: UserId,
        channel: String,
        text: String,
    },
    Click(Click),
    /// The rejection modal was submitted with a reason.
    RejectReason {
        user: UserId,
        user_name: Option<String>,
        workflow: WorkflowId,
        channel: Option<String>,
        reason: String,
    },
    /// Acknowledged and otherwise left alone (bot messages, edits, other
    /// events); says why, for the log.
    Ignored(&'static str),
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn user_id(raw: &str) -> Result<UserId, PayloadError> {
    if raw.is_empty() || raw.len() > 64 {
        return Err(PayloadError::Missing("user id"));
    }
    Ok(UserId::new(raw))
}

/// Slack escapes `&`, `<` and `>` in message text and writes mentions as
/// `<@U123>`; the router wants the words. Leading mentions of the bot go.
fn plain_text(text: &str) -> String {
    let mut rest = text.trim_start();
    while let Some(after) = rest.strip_prefix("<@") {
        match after.find('>') {
            Some(end) => rest = after[end + 1..].trim_start(),
            None => break,
        }
    }
    rest.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Which of Slack's payloads a body or a Socket Mode envelope carries. The
/// HTTP endpoint tells them apart by content type and form field; Socket
/// Mode by the envelope's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// Events API: `url_verification` or an `event_callback`.
    Event,
    /// A slash command's fields (`command`, `text`, `user_id`, `channel_id`).
    SlashCommand,
    /// Interactivity: a button click or a modal submission.
    Interactive,
}

/// Decodes a verified HTTP request body. `form` says whether it came as
/// `application/x-www-form-urlencoded` (slash commands, interactivity) rather
/// than JSON (Events API). The transport's wrapping is undone here; the
/// payload inside goes to `decode_payload`, as Socket Mode's do.
pub fn decode(body: &[u8], form: bool) -> Result<SlackRequest, PayloadError> {
    let text = std::str::from_utf8(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    if !form {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PayloadError::NotJson(e.to_string()))?;
        return decode_payload(PayloadKind::Event, &value);
    }
    let pairs = form_pairs(text);
    if let Some((_, payload)) = pairs.iter().find(|(k, _)| k == "payload") {
        let value: Value =
            serde_json::from_str(payload).map_err(|e| PayloadError::NotJson(e.to_string()))?;
        return decode_payload(PayloadKind::Interactive, &value);
    }
    if pairs.iter().any(|(k, _)| k == "command") {
        // The form's fields are the slash command payload Socket Mode sends
        // as a JSON object.
        let fields: serde_json::Map<String, Value> = pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        return decode_payload(PayloadKind::SlashCommand, &Value::Object(fields));
    }
    Err(PayloadError::NoPayload)
}

/// Decodes the payload itself, whichever transport brought it.
pub fn decode_payload(kind: PayloadKind, value: &Value) -> Result<SlackRequest, PayloadError> {
    match kind {
        PayloadKind::Event => decode_event(value),
        PayloadKind::SlashCommand => decode_command(value),
        PayloadKind::Interactive => match str_at(value, "/type") {
            Some("view_submission") => decode_submission(value),
            _ => click_from_payload(value).map(SlackRequest::Click),
        },
    }
}

/// An Events API payload's `event_id`: Slack resends an event under the
/// same id when it did not see our acknowledgement in time.
pub fn event_id(value: &Value) -> Option<&str> {
    str_at(value, "/event_id")
}

fn decode_event(value: &Value) -> Result<SlackRequest, PayloadError> {
    match str_at(value, "/type").ok_or(PayloadError::Missing("type"))? {
        "url_verification" => Ok(SlackRequest::UrlVerification {
            challenge: str_at(value, "/challenge")
                .ok_or(PayloadError::Missing("challenge"))?
                .chars()
                .take(200)
                .collect(),
        }),
        "event_callback" => {
            let event = value.get("event").ok_or(PayloadError::Missing("event"))?;
            let kind = str_at(event, "/type").unwrap_or("");
            let direct = kind == "message" && str_at(event, "/channel_type") == Some("im");
            if kind != "app_mention" && !direct {
                return Ok(SlackRequest::Ignored(
                    "an event switchboard does not handle",
                ));
            }
            if event.get("bot_id").is_some() || str_at(event, "/subtype").is_some() {
                // Our own posts, other bots, edits and deletions.
                return Ok(SlackRequest::Ignored("a bot message or an edit"));
            }
            Ok(SlackRequest::Text {
                user: user_id(str_at(event, "/user").unwrap_or(""))?,
                channel: str_at(event, "/channel")
                    .ok_or(PayloadError::Missing("channel"))?
                    .to_string(),
                text: plain_text(str_at(event, "/text").unwrap_or("")),
            })
        }
        other => Err(PayloadError::UnsupportedType(
            other.chars().take(40).collect(),
        )),
    }
}

fn decode_command(value: &Value) -> Result<SlackRequest, PayloadError> {
    let command = str_at(value, "/command").ok_or(PayloadError::Missing("command"))?;
    if command != "/switchboard" {
        return Ok(SlackRequest::Ignored("another slash command"));
    }
    Ok(SlackRequest::Text {
        user: user_id(str_at(value, "/user_id").unwrap_or(""))?,
        channel: str_at(value, "/channel_id")
            .ok_or(PayloadError::Missing("channel_id"))?
            .to_string(),
        text: str_at(value, "/text").unwrap_or("").to_string(),
    })
}

fn decode_submission(value: &Value) -> Result<SlackRequest, PayloadError> {
    if str_at(value, "/view/callback_id") != Some(REJECT_CALLBACK) {
        return Ok(SlackRequest::Ignored("a modal switchboard did not open"));
    }
    let metadata: Value = serde_json::from_str(
        str_at(value, "/view/private_metadata").ok_or(PayloadError::Missing("private_metadata"))?,
    )
    .map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let raw = str_at(&metadata, "/workflow").ok_or(PayloadError::Missing("workflow"))?;
    let workflow = raw
        .parse()
        .map_err(|_| PayloadError::BadWorkflow(raw.chars().take(40).collect()))?;
    Ok(SlackRequest::RejectReason {
        user: user_id(str_at(value, "/user/id").unwrap_or(""))?,
        user_name: str_at(value, "/user/username")
            .or_else(|| str_at(value, "/user/name"))
            .map(str::to_string),
        workflow,
        channel: str_at(&metadata, "/channel").map(str::to_string),
        reason: str_at(value, "/view/state/values/reason/reason/value")
            .unwrap_or("")
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::message::ButtonAction;
    use serde_json::json;

    fn form_encode(pairs: &[(&str, &str)]) -> String {
        let enc = |t: &str| {
            t.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    #[test]
    fn the_url_challenge_is_echoed() {
        let body = json!({"type": "url_verification", "challenge": "abc123", "token": "x"});
        assert_eq!(
            decode(body.to_string().as_bytes(), false),
            Ok(SlackRequest::UrlVerification {
                challenge: "abc123".into()
            })
        );
    }

    #[test]
    fn a_mention_becomes_router_text_without_the_bot_and_escapes() {
        let body = json!({"type": "event_callback", "event": {"type": "app_mention", "user": "U1", "channel": "C1",
            "text": "<@UBOT> connect a &amp; b &lt;x&gt;", "ts": "1.2"}});
        assert_eq!(
            decode(body.to_string().as_bytes(), false),
            Ok(SlackRequest::Text {
                user: UserId::new("U1"),
                channel: "C1".into(),
                text: "connect a & b <x>".into()
            })
        );
    }

    #[test]
    fn direct_messages_count_but_bots_edits_and_channel_chatter_do_not() {
        let dm = json!({"type": "event_callback", "event": {"type": "message", "channel_type": "im", "user": "U1", "channel": "D1", "text": "status"}});
        assert!(matches!(
            decode(dm.to_string().as_bytes(), false),
            Ok(SlackRequest::Text { .. })
        ));
        for event in [
            json!({"type": "message", "channel_type": "im", "bot_id": "B1", "user": "U1", "channel": "D1", "text": "x"}),
            json!({"type": "message", "channel_type": "im", "subtype": "message_changed", "channel": "D1"}),
            json!({"type": "message", "channel_type": "channel", "user": "U1", "channel": "C1", "text": "x"}),
            json!({"type": "reaction_added", "user": "U1"}),
        ] {
            let body = json!({"type": "event_callback", "event": event});
            assert!(
                matches!(
                    decode(body.to_string().as_bytes(), false),
                    Ok(SlackRequest::Ignored(_))
                ),
                "{event}"
            );
        }
    }

    #[test]
    fn the_slash_command_is_router_text() {
        let body = form_encode(&[
            ("command", "/switchboard"),
            ("text", "status wf-1"),
            ("user_id", "U2"),
            ("channel_id", "C9"),
        ]);
        assert_eq!(
            decode(body.as_bytes(), true),
            Ok(SlackRequest::Text {
                user: UserId::new("U2"),
                channel: "C9".into(),
                text: "status wf-1".into()
            })
        );
    }

    #[test]
    fn a_click_and_the_rejection_modal_decode() {
        let click = json!({"type": "block_actions", "user": {"id": "U3", "username": "bob"}, "trigger_id": "T.1",
            "channel": {"id": "C1"}, "actions": [{"action_id": "reject", "value": "wf-4"}]});
        let Ok(SlackRequest::Click(c)) = decode(
            form_encode(&[("payload", &click.to_string())]).as_bytes(),
            true,
        ) else {
            panic!("not a click")
        };
        assert_eq!(c.trigger_id.as_deref(), Some("T.1"));
        let workflow = WorkflowId::new(4).unwrap();
        assert_eq!(c.action, ButtonAction::Reject { workflow });
        let modal = crate::chat::slack_blocks::reject_modal(workflow, Some("C1"));
        let submission = json!({"type": "view_submission", "user": {"id": "U3", "name": "bob"},
            "view": {"callback_id": modal["callback_id"], "private_metadata": modal["private_metadata"],
                     "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "too dear"}}}}}});
        assert_eq!(
            decode(
                form_encode(&[("payload", &submission.to_string())]).as_bytes(),
                true
            ),
            Ok(SlackRequest::RejectReason {
                user: UserId::new("U3"),
                user_name: Some("bob".into()),
                workflow,
                channel: Some("C1".into()),
                reason: "too dear".into()
            })
        );
    }

    #[test]
    fn socket_mode_payloads_decode_as_their_http_bodies_do() {
        let command = json!({"command": "/switchboard", "text": "status wf-1", "user_id": "U2", "channel_id": "C9"});
        let form = form_encode(&[
            ("command", "/switchboard"),
            ("text", "status wf-1"),
            ("user_id", "U2"),
            ("channel_id", "C9"),
        ]);
        assert_eq!(
            decode_payload(PayloadKind::SlashCommand, &command),
            decode(form.as_bytes(), true)
        );
        let click = json!({"type": "block_actions", "user": {"id": "U3"},
            "actions": [{"action_id": "approve", "value": "wf-4"}]});
        assert_eq!(
            decode_payload(PayloadKind::Interactive, &click),
            decode(
                form_encode(&[("payload", &click.to_string())]).as_bytes(),
                true
            )
        );
        let event = json!({"type": "event_callback", "event_id": "Ev1",
            "event": {"type": "app_mention", "user": "U1", "channel": "C1", "text": "<@UBOT> status"}});
        assert_eq!(event_id(&event), Some("Ev1"));
        assert_eq!(
            decode_payload(PayloadKind::Event, &event),
            decode(event.to_string().as_bytes(), false)
        );
        let other = json!({"command": "/weather", "user_id": "U1", "channel_id": "C1"});
        assert_eq!(
            decode_payload(PayloadKind::SlashCommand, &other),
            Ok(SlackRequest::Ignored("another slash command"))
        );
        assert!(decode_payload(PayloadKind::SlashCommand, &json!("x")).is_err());
    }

    #[test]
    fn malformed_bodies_are_named_errors() {
        assert!(decode(b"{", false).is_err());
        assert!(decode(&[0xff, 0xfe], false).is_err());
        assert!(decode(b"{\"type\":\"event_callback\"}", false).is_err());
        assert!(decode(b"x=1", true).is_err());
        assert!(decode(b"payload=%7B%7D", true).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300), form in proptest::bool::ANY) {
            let _ = decode(&body, form);
        }
    }
}
