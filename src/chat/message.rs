//! The platform-neutral message model. Steps, the router and alerts speak only
//! this; each adapter (console, Slack, Discord) renders it in its own way.

use crate::domain::{BatchId, UserId, WorkflowId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    #[default]
    Info,
    Success,
    Warning,
    Danger,
}

/// What a button does when clicked; adapters encode it in their payloads and
/// decode it back, never trusting anything else in the click.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ButtonAction {
    Approve {
        workflow: WorkflowId,
    },
    Reject {
        workflow: WorkflowId,
    },
    /// Approve every row of a bulk request that awaits approval.
    ApproveBatch {
        batch: BatchId,
    },
    /// Reject every row of a bulk request that awaits approval (with a reason).
    RejectBatch {
        batch: BatchId,
    },
}

impl ButtonAction {
    /// What the click does (`approve` / `reject`) and the id it decides, as
    /// people read them.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            ButtonAction::Approve { workflow } => ("approve", workflow.to_string()),
            ButtonAction::Reject { workflow } => ("reject", workflow.to_string()),
            ButtonAction::ApproveBatch { batch } => ("approve", batch.to_string()),
            ButtonAction::RejectBatch { batch } => ("reject", batch.to_string()),
        }
    }

    /// The workflow a single-workflow button decides.
    pub fn workflow(&self) -> Option<WorkflowId> {
        match self {
            ButtonAction::Approve { workflow } | ButtonAction::Reject { workflow } => {
                Some(*workflow)
            }
            ButtonAction::ApproveBatch { .. } | ButtonAction::RejectBatch { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub action: ButtonAction,
    pub tone: Tone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// Where a message goes: a channel and, optionally, a thread in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    #[serde(default)]
    pub tone: Tone,
    /// The workflow this message is about; its id is shown on every card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowId>,
    /// A picture that goes with the message (a file the adapter uploads, or
    /// whose path the console prints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl Message {
    pub fn text(text: impl Into<String>) -> Message {
        Message {
            text: text.into(),
            ..Message::default()
        }
    }

    pub fn with_tone(mut self, tone: Tone) -> Message {
        self.tone = tone;
        self
    }

    pub fn with_image(mut self, path: impl Into<String>) -> Message {
        self.image = Some(path.into());
        self
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Message {
        self.title = Some(title.into());
        self
    }

    pub fn with_workflow(mut self, id: WorkflowId) -> Message {
        self.workflow = Some(id);
        self
    }

    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Message {
        self.fields.push(Field {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// The Approve / Reject buttons of an approval card.
    pub fn with_decision_buttons(mut self, workflow: WorkflowId) -> Message {
        self.buttons = vec![
            Button {
                label: "Approve".into(),
                action: ButtonAction::Approve { workflow },
                tone: Tone::Success,
            },
            Button {
                label: "Reject".into(),
                action: ButtonAction::Reject { workflow },
                tone: Tone::Danger,
            },
        ];
        self
    }
}

/// Messages the renderers' unit tests share.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::Message;
    use crate::domain::WorkflowId;

    /// A small approval card with text that needs escaping on some platforms.
    pub fn card() -> Message {
        let id = WorkflowId::new(42).unwrap();
        Message::text("alice asks: connect <lambda> & more")
            .with_title("wf-42 · approval needed")
            .with_workflow(id)
            .field("Risk", "medium")
            .with_decision_buttons(id)
    }
}

/// `text` cut to at most `max` characters, an ellipsis marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A person named in a message's text: `@<platform user id>`. Adapters turn
/// the ids that are theirs into their own mention syntax (Slack `<@U…>`,
/// Discord `<@…>`), so the card reads "Approved by @Ana"; the console shows
/// the text as it is.
pub fn mention(user: &UserId) -> String {
    format!("@{user}")
}

/// `text` with every `@<id>` for which `is_id` holds rendered by `render`.
/// An id runs to the next character that is not ASCII alphanumeric.
pub fn render_mentions(
    text: &str,
    is_id: impl Fn(&str) -> bool,
    render: impl Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        let id = &after[..end];
        let preceded_by_word = out.chars().last().is_some_and(|c| c.is_alphanumeric());
        if !id.is_empty() && !preceded_by_word && is_id(id) {
            out.push_str(&render(id));
        } else {
            out.push('@');
            out.push_str(id);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod mention_tests {
    use super::*;

    fn slack_like(id: &str) -> bool {
        id.len() >= 7
            && id.starts_with('U')
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    }

    #[test]
    fn only_ids_the_platform_owns_become_mentions() {
        let render = |id: &str| format!("<@{id}>");
        assert_eq!(
            render_mentions("Approved by @U024BE7LH at 10:04", slack_like, render),
            "Approved by <@U024BE7LH> at 10:04"
        );
        assert_eq!(
            render_mentions(
                "mail ops@U024BE7LH.example or @alice, @",
                slack_like,
                render
            ),
            "mail ops@U024BE7LH.example or @alice, @"
        );
        assert_eq!(
            render_mentions("@U024BE7LH@U024BE7LI", slack_like, render),
            "<@U024BE7LH><@U024BE7LI>"
        );
        assert_eq!(mention(&UserId::new("U1")), "@U1");
    }
}
