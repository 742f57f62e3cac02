//! The Discord adapter's work after an interaction was acknowledged (the
//! server answered PONG, a deferred response or the reason modal within
//! Discord's 3 s): a slash command goes to the router and its reply becomes
//! the interaction's answer (`@original` edited); an Approve click or a
//! submitted reason goes to `Router::click`, the outcome answered to the
//! clicker alone (the deferred answer was ephemeral). The card itself is
//! updated in place by the outbox, like every other message.
//!
//! Approvers may be Discord role ids: the roles Discord sends with each
//! (signed) interaction are the member's roles at that moment, so every
//! interaction refreshes that member's place in the approver roles before the
//! engine decides. Every decision is audited with the Discord user id and
//! display name.

pub mod api;
pub mod gateway;
pub mod interactions;
pub mod render;

use self::api::DiscordApi;
use self::interactions::{Actor, DiscordRequest, Interaction};
use self::render::{deferred, ephemeral, pong, reject_modal};
use super::delivery::Delivery;
use super::message::{ButtonAction, Destination, Message, Tone};
use super::router::{Inbound, Router};
use crate::store::Store;
use crate::workflow::Engine;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Work an acknowledged interaction asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscordJob {
    Command {
        at: Interaction,
        text: String,
    },
    Decision {
        at: Interaction,
        action: ButtonAction,
        reason: Option<String>,
    },
}

/// How an interaction is answered within Discord's 3 s, whichever way it
/// came (HTTP endpoint or gateway).
#[derive(Debug, Clone, PartialEq)]
pub enum Respond {
    /// The answer is all there is (PONG, the reason modal, "unknown").
    Now(serde_json::Value),
    /// A deferred answer now; the job does the rest.
    Queue(DiscordJob, serde_json::Value),
}

/// The immediate answer to a decoded interaction, and the work it leaves.
/// Pure.
pub fn respond(request: DiscordRequest) -> Respond {
    match request {
        DiscordRequest::Ping => Respond::Now(pong()),
        DiscordRequest::Unknown(what) => {
            Respond::Now(ephemeral(&format!("switchboard does not offer {what}.")))
        }
        DiscordRequest::Click {
            action: action @ (ButtonAction::Reject { .. } | ButtonAction::RejectBatch { .. }),
            ..
        } => Respond::Now(reject_modal(&action.describe().1)),
        DiscordRequest::Command { at, text } => {
            Respond::Queue(DiscordJob::Command { at, text }, deferred(false))
        }
        DiscordRequest::Click { at, action } => Respond::Queue(
            DiscordJob::Decision {
                at,
                action,
                reason: None,
            },
            deferred(true),
        ),
        DiscordRequest::RejectReason { at, action, reason } => Respond::Queue(
            DiscordJob::Decision {
                at,
                action,
                reason: Some(reason),
            },
            deferred(true),
        ),
    }
}

pub struct DiscordAdapter {
    router: Router,
    engine: Engine,
    store: Store,
    api: DiscordApi,
    delivery: Delivery,
    approver_roles: Vec<String>,
    /// Who Discord last said holds each approver role.
    role_members: Mutex<HashMap<String, HashSet<String>>>,
}

impl DiscordAdapter {
    pub fn new(
        router: Router,
        engine: Engine,
        api: DiscordApi,
        delivery: Delivery,
        approver_roles: Vec<String>,
    ) -> DiscordAdapter {
        DiscordAdapter {
            router,
            store: engine.store().clone(),
            engine,
            api,
            delivery,
            approver_roles,
            role_members: Mutex::new(HashMap::new()),
        }
    }

    pub async fn handle(&self, job: DiscordJob) {
        match job {
            DiscordJob::Command { at, text } => self.command(at, text).await,
            DiscordJob::Decision { at, action, reason } => {
                self.decide(at, action, reason.as_deref()).await
            }
        }
    }

    async fn command(&self, at: Interaction, text: String) {
        self.sync_roles(&at.actor);
        let channel = at.channel.clone().unwrap_or_default();
        let reply = self
            .router
            .handle(&Inbound {
                user: at.actor.user.clone(),
                channel: channel.clone(),
                text,
            })
            .await;
        let mut messages = reply.messages;
        if messages.is_empty() {
            let done = match reply.touched {
                Some(id) => Message::text(format!("Done: {id}.")).with_workflow(id),
                None => Message::text("Done."),
            };
            messages.push(done.with_tone(Tone::Success));
        }
        if let Err(e) = self.api.edit_original(&at.token, &messages).await {
            // The answer is not lost: it goes to the channel through the
            // outbox instead.
            tracing::warn!(error = %e, "the interaction answer was not edited; posting it instead");
            let to = Destination {
                channel,
                thread: reply.touched.map(|id| id.to_string()),
            };
            for message in &messages {
                if let Err(e) = self.store.post(&to, message).await {
                    tracing::error!(error = %e, "a reply could not be queued");
                }
            }
        }
        self.delivery.wake();
    }

    async fn decide(&self, at: Interaction, action: ButtonAction, reason: Option<&str>) {
        self.sync_roles(&at.actor);
        let (what, subject) = action.describe();
        let reply = self.router.click(&at.actor.user, &action, reason).await;
        let done = reply.touched.is_some();
        self.audit(&action, &at.actor, if done { "done" } else { "refused" })
            .await;
        self.delivery.wake();
        let answer = if done {
            let verb = if what == "approve" {
                "Approved"
            } else {
                "Rejected"
            };
            Message::text(format!("{verb} {subject}.")).with_tone(Tone::Success)
        } else {
            let text: Vec<&str> = reply.messages.iter().map(|m| m.text.as_str()).collect();
            Message::text(text.join("\n")).with_tone(Tone::Danger)
        };
        // Only the clicker sees it (the deferred answer was ephemeral); it
        // answers now or not at all.
        if let Err(e) = self.api.edit_original(&at.token, &[answer]).await {
            tracing::warn!(%subject, error = %e, "the clicker was not answered");
        }
    }

    async fn audit(&self, action: &ButtonAction, actor: &Actor, outcome: &str) {
        let (what, subject) = action.describe();
        let detail = format!(
            "discord user {} ({}): {what} {subject}: {outcome}",
            actor.user,
            actor.name.as_deref().unwrap_or("name unknown")
        );
        if let Err(e) = self
            .store
            .audit(
                action.workflow(),
                actor.user.as_str(),
                "discord.decision",
                &detail,
            )
            .await
        {
            tracing::warn!(error = %e, "a decision could not be audited");
        }
    }

    /// Records whether this member holds each approver role now, and hands
    /// the engine the members known per role.
    fn sync_roles(&self, actor: &Actor) {
        if self.approver_roles.is_empty() {
            return;
        }
        let mut members = self.role_members.lock().unwrap_or_else(|p| p.into_inner());
        for role in &self.approver_roles {
            let holders = members.entry(role.clone()).or_default();
            let user = actor.user.as_str().to_string();
            if actor.roles.contains(role) {
                holders.insert(user);
            } else {
                holders.remove(&user);
            }
            self.engine
                .set_group_members(role, holders.iter().cloned().collect());
        }
    }
}
