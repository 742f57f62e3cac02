//! Discord JSON for the neutral message model: one embed (title, description,
//! fields, colour from the tone, the picture as an attachment) plus an action
//! row of buttons; the reason modal; and the button `custom_id` that carries a
//! typed `ButtonAction` and nothing else. Pure: no HTTP here.
//!
//! Invariants: every rendered message is within Discord's documented limits
//! (embed title 256, description 4096, 25 fields of name 256 / value 1024,
//! footer 2048, 6000 characters summed over all embeds of a message, 10
//! embeds per message, 5 buttons
//! per row, label 80, `custom_id` 100); a `custom_id` decodes only to an
//! action on a valid workflow id, or to a named error.

use super::interactions::is_snowflake;
use crate::chat::message::{clip, render_mentions, ButtonAction, Message, Tone};
use crate::domain::{BatchId, WorkflowId};
use serde_json::{json, Value};

const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;
const FIELDS_MAX: usize = 25;
const FIELD_NAME_MAX: usize = 256;
const FIELD_VALUE_MAX: usize = 1024;
const FOOTER_MAX: usize = 2048;
/// Discord counts title, description, field names and values, footer and
/// author of every embed of a message together against this.
const EMBED_TOTAL_MAX: usize = 6000;
const EMBEDS_PER_MESSAGE: usize = 10;
const BUTTONS_PER_ROW: usize = 5;
const LABEL_MAX: usize = 80;
const CONTENT_MAX: usize = 2000;

/// Embed colours (Discord's brand palette) per tone.
fn colour(tone: Tone) -> u32 {
    match tone {
        Tone::Info => 0x5865F2,
        Tone::Success => 0x57F287,
        Tone::Warning => 0xFEE75C,
        Tone::Danger => 0xED4245,
    }
}

/// Button styles: 1 primary, 2 secondary, 3 success, 4 danger.
fn button_style(tone: Tone) -> u8 {
    match tone {
        Tone::Info => 2,
        Tone::Warning => 1,
        Tone::Success => 3,
        Tone::Danger => 4,
    }
}

/// `@<user id>` as Discord's mention `<@id>` (shown as the member's name).
fn mentions(text: &str) -> String {
    render_mentions(text, is_snowflake, |id| format!("<@{id}>"))
}

/// Discord rejects empty field names and values.
fn non_empty(text: &str) -> &str {
    if text.trim().is_empty() {
        "\u{200b}"
    } else {
        text
    }
}

const CUSTOM_ID_PREFIX: &str = "sb";

/// The `custom_id` of a button: `sb:approve:wf-7`.
pub fn custom_id(action: &ButtonAction) -> String {
    match action {
        ButtonAction::Approve { workflow } => format!("{CUSTOM_ID_PREFIX}:approve:{workflow}"),
        ButtonAction::Reject { workflow } => format!("{CUSTOM_ID_PREFIX}:reject:{workflow}"),
        ButtonAction::ApproveBatch { batch } => {
            format!("{CUSTOM_ID_PREFIX}:approve_batch:{batch}")
        }
        ButtonAction::RejectBatch { batch } => format!("{CUSTOM_ID_PREFIX}:reject_batch:{batch}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomIdError {
    #[error("custom_id '{0}' is not one of switchboard's buttons")]
    Foreign(String),
    #[error("custom_id names an unknown action '{0}'")]
    UnknownAction(String),
    #[error("custom_id names '{0}', which is not a workflow or batch id")]
    BadWorkflow(String),
}

fn shown(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The action a button's `custom_id` stands for.
pub fn decode_custom_id(id: &str) -> Result<ButtonAction, CustomIdError> {
    let mut parts = id.splitn(3, ':');
    let (Some(CUSTOM_ID_PREFIX), Some(action), Some(raw)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(CustomIdError::Foreign(shown(id)));
    };
    let bad = || CustomIdError::BadWorkflow(shown(raw));
    let workflow = || raw.parse::<WorkflowId>().map_err(|_| bad());
    let batch = || raw.parse::<BatchId>().map_err(|_| bad());
    match action {
        "approve" => Ok(ButtonAction::Approve {
            workflow: workflow()?,
        }),
        "reject" => Ok(ButtonAction::Reject {
            workflow: workflow()?,
        }),
        "approve_batch" => Ok(ButtonAction::ApproveBatch { batch: batch()? }),
        "reject_batch" => Ok(ButtonAction::RejectBatch { batch: batch()? }),
        other => Err(CustomIdError::UnknownAction(shown(other))),
    }
}

/// What is left of a message's 6000 embed characters.
struct Budget(usize);

impl Budget {
    fn take(&mut self, text: &str, max: usize) -> String {
        let out = clip(text, max.min(self.0));
        self.0 = self.0.saturating_sub(out.chars().count());
        out
    }
}

/// The embed for one message, its text taken from `budget`; `attachment`
/// names the uploaded picture.
fn embed(message: &Message, attachment: Option<&str>, budget: &mut Budget) -> Value {
    let mut embed = json!({"color": colour(message.tone)});
    let title = match (&message.title, message.workflow) {
        (Some(t), _) if !t.is_empty() => Some(t.clone()),
        (_, Some(id)) => Some(id.to_string()),
        _ => None,
    };
    if let Some(title) = title {
        embed["title"] = json!(budget.take(&title, TITLE_MAX));
    }
    if !message.text.is_empty() {
        embed["description"] = json!(budget.take(&mentions(&message.text), DESCRIPTION_MAX));
    }
    let mut fields = Vec::new();
    for f in message.fields.iter().take(FIELDS_MAX) {
        // Two characters at least per field (the zero-width fallbacks).
        if budget.0 < 2 {
            break;
        }
        // Leave at least one character for the value.
        let name = budget.take(non_empty(&f.name), FIELD_NAME_MAX.min(budget.0 - 1));
        let value = budget.take(non_empty(&mentions(&f.value)), FIELD_VALUE_MAX);
        fields.push(json!({"name": name, "value": value, "inline": false}));
    }
    if !fields.is_empty() {
        embed["fields"] = json!(fields);
    }
    if let Some(workflow) = message.workflow {
        embed["footer"] = json!({"text": budget.take(&workflow.to_string(), FOOTER_MAX)});
    }
    if let Some(name) = attachment {
        embed["image"] = json!({"url": format!("attachment://{name}")});
    }
    embed
}

fn components(message: &Message) -> Vec<Value> {
    message
        .buttons
        .chunks(BUTTONS_PER_ROW)
        // A message holds at most five rows.
        .take(5)
        .map(|row| {
            let buttons: Vec<Value> = row
                .iter()
                .map(|b| {
                    json!({
                        "type": 2,
                        "style": button_style(b.tone),
                        "label": clip(&b.label, LABEL_MAX),
                        "custom_id": custom_id(&b.action),
                    })
                })
                .collect();
            json!({"type": 1, "components": buttons})
        })
        .collect()
}

/// The file name a picture is uploaded under.
pub fn attachment_name(path: &str) -> String {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if clean.is_empty() {
        "picture.png".into()
    } else {
        clean
    }
}

/// The body of `POST /channels/{id}/messages` (and of an edit): the embed,
/// the buttons (an edit without buttons removes them) and, when the picture
/// is uploaded with it, the attachment reference. `allowed_mentions` is empty
/// so text quoted from a request never pings anyone.
pub fn render(message: &Message, attachment: Option<&str>) -> Value {
    let mut body = json!({
        "embeds": [embed(message, attachment, &mut Budget(EMBED_TOTAL_MAX))],
        "components": components(message),
        "allowed_mentions": {"parse": []},
    });
    if let Some(name) = attachment {
        body["attachments"] = json!([{"id": 0, "filename": name}]);
    }
    body
}

/// Several router replies as one interaction response edit: up to ten
/// embeds sharing the message's 6000 characters; the replies that do not
/// fit are counted in the content.
pub fn render_reply(messages: &[Message], attachment: Option<&str>) -> Value {
    let mut budget = Budget(EMBED_TOTAL_MAX);
    let mut embeds: Vec<Value> = Vec::new();
    for (i, m) in messages.iter().take(EMBEDS_PER_MESSAGE).enumerate() {
        // An embed needs a few characters to say anything.
        if budget.0 < 16 {
            break;
        }
        embeds.push(embed(
            m,
            if i == 0 { attachment } else { None },
            &mut budget,
        ));
    }
    let mut content = String::new();
    if messages.len() > embeds.len() {
        content = format!("{} more replies not shown.", messages.len() - embeds.len());
    }
    if embeds.is_empty() {
        embeds.push(embed(&Message::text("Done."), None, &mut budget));
    }
    let mut body = json!({
        "content": clip(&content, CONTENT_MAX),
        "embeds": embeds,
        "components": messages.iter().flat_map(components).take(5).collect::<Vec<_>>(),
        "allowed_mentions": {"parse": []},
    });
    if let Some(name) = attachment {
        body["attachments"] = json!([{"id": 0, "filename": name}]);
    }
    body
}

/// The `custom_id` prefix of the rejection modal (`sb-reason:wf-7`).
const MODAL_PREFIX: &str = "sb-reason:";
/// The text input's `custom_id` inside the modal.
pub const REASON_INPUT: &str = "reason";

/// Interaction response type 9: the modal asking why a workflow (or every
/// waiting row of a batch) is rejected; `subject` is `wf-7` or `batch-3`.
pub fn reject_modal(subject: &str) -> Value {
    json!({
        "type": 9,
        "data": {
            "custom_id": format!("{MODAL_PREFIX}{subject}"),
            "title": clip(&format!("Reject {subject}"), 45),
            "components": [{
                "type": 1,
                "components": [{
                    "type": 4,
                    "custom_id": REASON_INPUT,
                    "label": "Why is it rejected?",
                    "style": 2,
                    "min_length": 1,
                    "max_length": 2000,
                    "required": true
                }]
            }]
        }
    })
}

/// What a submitted rejection modal rejects: a workflow or a batch.
pub fn decode_modal_id(id: &str) -> Result<ButtonAction, CustomIdError> {
    let raw = id
        .strip_prefix(MODAL_PREFIX)
        .ok_or_else(|| CustomIdError::Foreign(shown(id)))?;
    if let Ok(workflow) = raw.parse::<WorkflowId>() {
        return Ok(ButtonAction::Reject { workflow });
    }
    raw.parse::<BatchId>()
        .map(|batch| ButtonAction::RejectBatch { batch })
        .map_err(|_| CustomIdError::BadWorkflow(shown(raw)))
}

/// Interaction response type 1.
pub fn pong() -> Value {
    json!({"type": 1})
}

/// Interaction response type 5: "thinking…", the answer follows as an edit
/// of the original response; `private` makes it ephemeral (flags 64).
pub fn deferred(private: bool) -> Value {
    if private {
        json!({"type": 5, "data": {"flags": 64}})
    } else {
        json!({"type": 5})
    }
}

/// Interaction response type 4 with flags 64: a message only the clicker sees.
pub fn ephemeral(text: &str) -> Value {
    json!({"type": 4, "data": {"content": clip(text, CONTENT_MAX), "flags": 64, "allowed_mentions": {"parse": []}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::chat::message::fixtures::card;

    #[test]
    fn an_approval_card_is_an_embed_with_two_buttons() {
        let v = render(&card(), None);
        let embed = &v["embeds"][0];
        assert_eq!(embed["title"], "wf-42 · approval needed");
        assert_eq!(embed["description"], "alice asks: connect <lambda> & more");
        assert_eq!(embed["fields"][0]["name"], "Risk");
        assert_eq!(embed["color"], 0x5865F2);
        assert_eq!(embed["footer"]["text"], "wf-42");
        let row = &v["components"][0];
        assert_eq!(row["type"], 1);
        assert_eq!(row["components"][0]["custom_id"], "sb:approve:wf-42");
        assert_eq!(row["components"][0]["style"], 3);
        assert_eq!(row["components"][1]["custom_id"], "sb:reject:wf-42");
        assert_eq!(row["components"][1]["style"], 4);
        assert_eq!(v["allowed_mentions"]["parse"], json!([]));
    }

    /// The characters Discord counts against the 6000 of a message: title,
    /// description, field names and values, footer of every embed.
    fn embed_chars(body: &Value) -> usize {
        let count = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(0);
        body["embeds"]
            .as_array()
            .map(|embeds| {
                embeds
                    .iter()
                    .map(|e| {
                        count(&e["title"])
                            + count(&e["description"])
                            + count(&e["footer"]["text"])
                            + e["fields"].as_array().map_or(0, |fields| {
                                fields
                                    .iter()
                                    .map(|f| count(&f["name"]) + count(&f["value"]))
                                    .sum()
                            })
                    })
                    .sum()
            })
            .unwrap_or(0)
    }

    #[test]
    fn many_long_replies_share_one_6000_character_budget() {
        let replies: Vec<Message> = (0..10)
            .map(|i| Message::text("y".repeat(3000)).with_title(format!("reply {i}")))
            .collect();
        let body = render_reply(&replies, None);
        assert!(
            embed_chars(&body) <= EMBED_TOTAL_MAX,
            "{}",
            embed_chars(&body)
        );
        let shown = body["embeds"].as_array().unwrap().len();
        assert!(shown < 10, "not all fit: {shown}");
        assert_eq!(
            body["content"],
            format!("{} more replies not shown.", 10 - shown)
        );
    }

    #[test]
    fn long_text_and_many_fields_stay_within_discords_limits() {
        let mut m = Message::text("x".repeat(10_000)).with_title("t".repeat(500));
        for i in 0..40 {
            m = m.field(format!("f{i}"), "v".repeat(5000));
        }
        let id = WorkflowId::new(1).unwrap();
        for _ in 0..3 {
            m.buttons
                .extend(m.clone().with_decision_buttons(id).buttons);
        }
        let v = render(&m, None);
        let embed = &v["embeds"][0];
        let count = |v: &Value| v.as_str().unwrap().chars().count();
        assert_eq!(count(&embed["title"]), TITLE_MAX);
        assert_eq!(count(&embed["description"]), DESCRIPTION_MAX);
        let fields = embed["fields"].as_array().unwrap();
        assert!(fields.len() <= FIELDS_MAX);
        assert!(fields.iter().all(|f| count(&f["value"]) <= FIELD_VALUE_MAX));
        let total: usize = count(&embed["title"])
            + count(&embed["description"])
            + fields
                .iter()
                .map(|f| count(&f["name"]) + count(&f["value"]))
                .sum::<usize>();
        assert!(total <= EMBED_TOTAL_MAX, "{total}");
        let rows = v["components"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows
            .iter()
            .all(|r| r["components"].as_array().unwrap().len() <= BUTTONS_PER_ROW));
    }

    #[test]
    fn custom_ids_round_trip_and_foreign_ones_are_named() {
        let workflow = WorkflowId::new(7).unwrap();
        for action in [
            ButtonAction::Approve { workflow },
            ButtonAction::Reject { workflow },
        ] {
            assert_eq!(decode_custom_id(&custom_id(&action)), Ok(action));
        }
        assert_eq!(
            decode_custom_id("other:approve:wf-1"),
            Err(CustomIdError::Foreign("other:approve:wf-1".into()))
        );
        assert_eq!(
            decode_custom_id("sb:delete:wf-1"),
            Err(CustomIdError::UnknownAction("delete".into()))
        );
        assert_eq!(
            decode_custom_id("sb:approve:wf-0"),
            Err(CustomIdError::BadWorkflow("wf-0".into()))
        );
        assert_eq!(
            decode_modal_id("sb-reason:wf-7"),
            Ok(ButtonAction::Reject { workflow })
        );
        assert_eq!(
            decode_modal_id("sb-reason:batch-3"),
            Ok(ButtonAction::RejectBatch {
                batch: BatchId::new(3).unwrap()
            })
        );
        assert!(decode_modal_id("sb-reason:mine").is_err());
        let modal = reject_modal("batch-3");
        assert_eq!(
            modal["data"]["custom_id"].as_str().map(decode_modal_id),
            Some(Ok(ButtonAction::RejectBatch {
                batch: BatchId::new(3).unwrap()
            }))
        );
        assert!(decode_modal_id("sb:reject:wf-7").is_err());
    }

    #[test]
    fn a_picture_is_referenced_as_an_attachment_with_a_safe_name() {
        assert_eq!(
            attachment_name("/var/lib/x/topology 4.png"),
            "topology_4.png"
        );
        let v = render(
            &Message::text("t").with_image("/x/topology-4.png"),
            Some("topology-4.png"),
        );
        assert_eq!(
            v["embeds"][0]["image"]["url"],
            "attachment://topology-4.png"
        );
        assert_eq!(v["attachments"][0]["filename"], "topology-4.png");
    }

    #[test]
    fn empty_field_values_are_not_sent_empty() {
        let v = render(&Message::text("t").field("", " "), None);
        assert_eq!(v["embeds"][0]["fields"][0]["name"], "\u{200b}");
        assert_eq!(v["embeds"][0]["fields"][0]["value"], "\u{200b}");
    }

    proptest::proptest! {
        #[test]
        fn any_replies_render_within_the_message_total(
            replies in proptest::collection::vec((".{0,300}", ".{0,4500}", 0usize..6), 0..14),
        ) {
            let messages: Vec<Message> = replies
                .into_iter()
                .map(|(title, text, fields)| {
                    let mut m = Message::text(text).with_title(title);
                    for i in 0..fields {
                        m = m.field(format!("f{i}"), "v".repeat(900));
                    }
                    m
                })
                .collect();
            let body = render_reply(&messages, None);
            proptest::prop_assert!(embed_chars(&body) <= EMBED_TOTAL_MAX, "{}", embed_chars(&body));
            proptest::prop_assert!(body["embeds"].as_array().map_or(0, Vec::len) <= EMBEDS_PER_MESSAGE);
        }

        #[test]
        fn any_message_renders_within_the_limits(
            title in ".{0,300}",
            text in ".{0,5000}",
            fields in proptest::collection::vec((".{0,300}", ".{0,1500}"), 0..40),
        ) {
            let mut m = Message::text(text).with_title(title);
            for (name, value) in fields {
                m = m.field(name, value);
            }
            let v = render(&m, None);
            let embed = &v["embeds"][0];
            let count = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(0);
            let fields = embed["fields"].as_array().cloned().unwrap_or_default();
            proptest::prop_assert!(count(&embed["title"]) <= TITLE_MAX);
            proptest::prop_assert!(count(&embed["description"]) <= DESCRIPTION_MAX);
            proptest::prop_assert!(fields.len() <= FIELDS_MAX);
            let mut total = count(&embed["title"]) + count(&embed["description"]);
            for f in &fields {
                proptest::prop_assert!(count(&f["name"]) <= FIELD_NAME_MAX && count(&f["name"]) > 0);
                proptest::prop_assert!(count(&f["value"]) <= FIELD_VALUE_MAX && count(&f["value"]) > 0);
                total += count(&f["name"]) + count(&f["value"]);
            }
            proptest::prop_assert!(total <= EMBED_TOTAL_MAX, "{}", total);
        }

        #[test]
        fn decoding_a_custom_id_never_panics(id in ".{0,120}") {
            let _ = decode_custom_id(&id);
            let _ = decode_modal_id(&id);
        }
    }
}
