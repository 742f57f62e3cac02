//! What Slack sends, decoded into one typed request: the
//! `url_verification` challenge, an `event_callback` (app mention, direct
//! message), the `/switchboard` slash command, a button click
//! (`block_actions`) or the rejection modal's `view_submission`. Bot messages,
//! edits and other events decode to `Ignored`. A mention or DM that carries
//! a file and asks for `bulk` (or carries one CSV and no words) decodes to
//! `BulkFile` with what Slack says of the file; `bulk_file` picks the one CSV
//! and refuses anything else before a byte is fetched. One decoder of the payload
//! (`decode_payload`) serves both transports: the HTTP endpoint's bodies
//! (JSON or form, unwrapped by `decode`) and Socket Mode's envelopes. Pure:
//! the transport has been authenticated before anything here runs (HTTP: the
//! signature; Socket Mode: the app token that opened the connection);
//! nothing here trusts more than the fields it needs, and nothing panics on
//! any input.

use super::blocks::{click_from_payload, form_pairs, Click, PayloadError, REJECT_CALLBACK};
use crate::bulk::file::MAX_FILE_BYTES;
use crate::chat::message::ButtonAction;
use crate::domain::{BatchId, UserId, WorkflowId};
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
    /// A mention or DM asking for a bulk request with file(s) attached.
    BulkFile {
        user: UserId,
        channel: String,
        files: Vec<SharedFile>,
    },
    Click(Click),
    /// The rejection modal was submitted with a reason; `action` is the
    /// rejection it decides (`Reject` or `RejectBatch`).
    RejectReason {
        user: UserId,
        user_name: Option<String>,
        action: ButtonAction,
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

/// What Slack says of a file attached to a message. Nothing here is
/// trusted further than as a description: the size is checked again while
/// downloading, and the URL's host before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    pub name: String,
    pub filetype: String,
    pub mimetype: String,
    pub size: u64,
    /// `url_private_download`, fetched with the bot token.
    pub url: Option<String>,
}

impl SharedFile {
    fn from_payload(file: &Value) -> SharedFile {
        let text = |key: &str| {
            str_at(file, key)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>()
        };
        let name = match text("/name") {
            n if n.is_empty() => text("/id"),
            n => n,
        };
        SharedFile {
            name,
            filetype: text("/filetype"),
            mimetype: text("/mimetype"),
            size: file.get("size").and_then(Value::as_u64).unwrap_or(0),
            url: str_at(file, "/url_private_download").map(str::to_string),
        }
    }

    fn is_csv(&self) -> bool {
        self.filetype.eq_ignore_ascii_case("csv")
            || self.mimetype.eq_ignore_ascii_case("text/csv")
            || self.name.to_ascii_lowercase().ends_with(".csv")
    }
}

/// Why an attachment cannot start a bulk request; shown to the requester.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    #[error("Attach one CSV file to `bulk` (this message has {0}). Nothing was started.")]
    NotOne(String),
    #[error("{name} is not a CSV file ({kind}); `bulk` takes a UTF-8 CSV. Nothing was started.")]
    NotCsv { name: String, kind: String },
    #[error("{name} is {size} bytes; at most {max} are accepted (split it). Nothing was started.")]
    TooLarge { name: String, size: u64, max: usize },
    #[error("Slack gave no download link for {0}. Nothing was started.")]
    NoUrl(String),
}

/// The one CSV among `files` a bulk request reads, with its download URL.
pub fn bulk_file(files: &[SharedFile]) -> Result<(&SharedFile, &str), AttachmentError> {
    let csv: Vec<&SharedFile> = files.iter().filter(|f| f.is_csv()).collect();
    let file = match (csv.as_slice(), files) {
        ([one], _) => *one,
        ([], [only]) => {
            let kind = [&only.filetype, &only.mimetype]
                .into_iter()
                .find(|k| !k.is_empty())
                .map_or_else(|| "unknown type".to_string(), |k| k.to_string());
            return Err(AttachmentError::NotCsv {
                name: only.name.clone(),
                kind,
            });
        }
        ([], _) => return Err(AttachmentError::NotOne("no CSV file".into())),
        (many, _) => return Err(AttachmentError::NotOne(format!("{} CSV files", many.len()))),
    };
    if file.size > MAX_FILE_BYTES as u64 {
        return Err(AttachmentError::TooLarge {
            name: file.name.clone(),
            size: file.size,
            max: MAX_FILE_BYTES,
        });
    }
    let url = file
        .url
        .as_deref()
        .ok_or_else(|| AttachmentError::NoUrl(file.name.clone()))?;
    Ok((file, url))
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
            let subtype = str_at(event, "/subtype");
            if event.get("bot_id").is_some() || subtype.is_some_and(|s| s != "file_share") {
                // Our own posts, other bots, edits and deletions.
                return Ok(SlackRequest::Ignored("a bot message or an edit"));
            }
            let user = user_id(str_at(event, "/user").unwrap_or(""))?;
            let channel = str_at(event, "/channel")
                .ok_or(PayloadError::Missing("channel"))?
                .to_string();
            let text = plain_text(str_at(event, "/text").unwrap_or(""));
            let files: Vec<SharedFile> = event
                .get("files")
                .and_then(Value::as_array)
                .map(|files| {
                    files
                        .iter()
                        .take(20)
                        .map(SharedFile::from_payload)
                        .collect()
                })
                .unwrap_or_default();
            if asks_for_bulk_file(&text, &files) {
                return Ok(SlackRequest::BulkFile {
                    user,
                    channel,
                    files,
                });
            }
            Ok(SlackRequest::Text {
                user,
                channel,
                text,
            })
        }
        other => Err(PayloadError::UnsupportedType(
            other.chars().take(40).collect(),
        )),
    }
}

/// Files with a one-line text whose first word is `bulk` (CSV text on the
/// next lines is the text command's), or no words and exactly one file that
/// is a CSV.
fn asks_for_bulk_file(text: &str, files: &[SharedFile]) -> bool {
    let text = text.trim();
    let says_bulk = text.lines().count() == 1
        && text
            .split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("bulk"));
    match files {
        [] => false,
        [only] if text.is_empty() => only.is_csv(),
        _ => says_bulk,
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
    let bad = |raw: &str| PayloadError::BadWorkflow(raw.chars().take(40).collect());
    let action = match (str_at(&metadata, "/workflow"), str_at(&metadata, "/batch")) {
        (Some(raw), None) => ButtonAction::Reject {
            workflow: raw.parse::<WorkflowId>().map_err(|_| bad(raw))?,
        },
        (None, Some(raw)) => ButtonAction::RejectBatch {
            batch: raw.parse::<BatchId>().map_err(|_| bad(raw))?,
        },
        _ => return Err(PayloadError::Missing("workflow or batch")),
    };
    Ok(SlackRequest::RejectReason {
        user: user_id(str_at(value, "/user/id").unwrap_or(""))?,
        user_name: str_at(value, "/user/username")
            .or_else(|| str_at(value, "/user/name"))
            .map(str::to_string),
        action,
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
        let modal = crate::chat::slack::blocks::reject_modal(&c.action, Some("C1"));
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
                action: ButtonAction::Reject { workflow },
                channel: Some("C1".into()),
                reason: "too dear".into()
            })
        );
    }

    #[test]
    fn the_batch_rejection_modal_decodes_to_a_batch_rejection() {
        let batch: BatchId = "batch-3".parse().unwrap();
        let action = ButtonAction::RejectBatch { batch };
        let modal = crate::chat::slack::blocks::reject_modal(&action, None);
        assert_eq!(
            modal["private_metadata"],
            json!({"batch": "batch-3", "channel": null}).to_string()
        );
        let submission = json!({"type": "view_submission", "user": {"id": "U3"},
            "view": {"callback_id": modal["callback_id"], "private_metadata": modal["private_metadata"],
                     "state": {"values": {"reason": {"reason": {"value": "not this quarter"}}}}}});
        assert_eq!(
            decode_payload(PayloadKind::Interactive, &submission),
            Ok(SlackRequest::RejectReason {
                user: UserId::new("U3"),
                user_name: None,
                action,
                channel: None,
                reason: "not this quarter".into()
            })
        );
        for metadata in [
            json!({}),
            json!({"batch": "wf-1"}),
            json!({"batch": "batch-1", "workflow": "wf-1"}),
        ] {
            let submission = json!({"type": "view_submission", "user": {"id": "U3"},
                "view": {"callback_id": REJECT_CALLBACK, "private_metadata": metadata.to_string()}});
            assert!(
                decode_payload(PayloadKind::Interactive, &submission).is_err(),
                "{metadata}"
            );
        }
    }

    fn csv_file(name: &str, size: u64) -> Value {
        json!({"id": "F1", "name": name, "filetype": "csv", "mimetype": "text/csv", "size": size,
               "url_private_download": format!("https://files.slack.com/files-pri/T1-F1/download/{name}")})
    }

    fn with_files(kind: &str, text: &str, files: Value) -> Result<SlackRequest, PayloadError> {
        let mut event =
            json!({"type": kind, "user": "U1", "channel": "C1", "text": text, "files": files});
        if kind == "message" {
            event["channel_type"] = json!("im");
            event["subtype"] = json!("file_share");
        }
        decode_payload(
            PayloadKind::Event,
            &json!({"type": "event_callback", "event": event}),
        )
    }

    #[test]
    fn a_csv_attached_to_bulk_or_alone_is_a_bulk_file() {
        for (kind, text) in [
            ("app_mention", "<@UBOT> bulk"),
            ("app_mention", "<@UBOT>"),
            ("message", "BULK please"),
            ("message", ""),
        ] {
            let Ok(SlackRequest::BulkFile {
                user,
                channel,
                files,
            }) = with_files(kind, text, json!([csv_file("rows.csv", 120)]))
            else {
                panic!("{kind} {text:?} is not a bulk file");
            };
            assert_eq!((user.as_str(), channel.as_str()), ("U1", "C1"));
            let (file, url) = bulk_file(&files).unwrap();
            assert_eq!(file.name, "rows.csv");
            assert!(url.ends_with("/rows.csv"));
        }
        // Other words with a file are the text command's, as is a picture alone.
        let png = json!([{"name": "a.png", "filetype": "png", "mimetype": "image/png", "size": 1}]);
        assert!(matches!(
            with_files(
                "app_mention",
                "<@UBOT> status",
                json!([csv_file("a.csv", 1)])
            ),
            Ok(SlackRequest::Text { .. })
        ));
        assert!(matches!(
            with_files("app_mention", "<@UBOT>", png),
            Ok(SlackRequest::Text { .. })
        ));
    }

    #[test]
    fn attachments_that_cannot_be_a_bulk_request_say_why() {
        let file = |value: Value| SharedFile::from_payload(&value);
        let big = file(csv_file("big.csv", MAX_FILE_BYTES as u64 + 1));
        assert!(
            matches!(bulk_file(&[big]), Err(AttachmentError::TooLarge { size, .. }) if size == MAX_FILE_BYTES as u64 + 1)
        );
        let png = file(json!({"name": "a.png", "filetype": "png", "mimetype": "image/png"}));
        let err = bulk_file(std::slice::from_ref(&png)).unwrap_err();
        assert!(
            err.to_string().contains("a.png is not a CSV file (png)"),
            "{err}"
        );
        let two = [file(csv_file("a.csv", 1)), file(csv_file("b.csv", 1))];
        assert_eq!(
            bulk_file(&two).unwrap_err(),
            AttachmentError::NotOne("2 CSV files".into())
        );
        assert!(bulk_file(&[png.clone(), png]).is_err());
        let no_url = file(json!({"name": "a.csv", "filetype": "csv"}));
        assert_eq!(
            bulk_file(&[no_url]).unwrap_err(),
            AttachmentError::NoUrl("a.csv".into())
        );
        // One CSV beside a picture is the one.
        let mixed = [
            file(json!({"name": "a.png", "filetype": "png"})),
            file(csv_file("rows.csv", 9)),
        ];
        assert_eq!(bulk_file(&mixed).unwrap().0.name, "rows.csv");
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
