//! The Slack adapter's work after a request was acknowledged: text goes to
//! the router and its replies into the outbox (threaded under the workflow
//! they touched); an Approve click goes to `Router::click`; a Reject click
//! (a workflow's or a whole batch's) opens the reason modal, whose
//! submission goes to `Router::click` with the reason. A CSV attached to
//! `bulk` is checked (one CSV, size), downloaded with the bot token from
//! Slack's file host only, read as UTF-8 and handed to the router as the
//! text command `bulk` with the CSV on the next lines; every refusal is a
//! reply naming the file, and nothing is started. A refused click gets a message only the clicker sees
//! (`chat.postEphemeral`); the engine audits the refusal. Every decision is
//! also audited here with the Slack user id and display name.
//!
//! `Intake` is where both transports (the HTTP endpoint and Socket Mode)
//! hand a decoded request over: a bounded queue in front of the adapter, and
//! the event ids already taken, so a retry Slack sends because it missed our
//! acknowledgement runs once.
//!
//! Approvers may be Slack user-group ids (`S…`): their members are read with
//! `usergroups.users.list` before a decision when the last read is older than
//! `GROUP_TTL`, and handed to the engine.

pub mod api;
pub mod blocks;
pub mod events;
pub mod socket;

use self::api::SlackApi;
use self::blocks::{reject_modal, Click};
use self::events::{bulk_file, SharedFile, SlackRequest};
use super::delivery::Delivery;
use super::message::{ButtonAction, Destination, Message, Tone};
use super::router::{Inbound, Router};
use super::signing::ReplayGuard;
use crate::bulk::file::MAX_FILE_BYTES;
use crate::domain::UserId;
use crate::store::Store;
use crate::workflow::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Event ids remembered for Slack's retries (a window's worth at 300/s).
const EVENTS_REMEMBERED: usize = 100_000;

/// What became of a request handed to the `Intake`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Queued for the adapter: acknowledge it.
    Queued,
    /// A retry of an event already taken: acknowledge it, do nothing.
    Duplicate,
    /// The queue is full: do not acknowledge, so Slack sends it again.
    Busy,
}

/// The hand-off from a transport to the adapter's workers; cheap to clone.
#[derive(Clone)]
pub struct Intake {
    jobs: mpsc::Sender<SlackRequest>,
    events_seen: Arc<Mutex<ReplayGuard>>,
}

impl Intake {
    /// An intake in front of a queue of `capacity`; the receiver goes to the
    /// adapter's workers.
    pub fn new(capacity: usize) -> (Intake, mpsc::Receiver<SlackRequest>) {
        let (jobs, queue) = mpsc::channel(capacity.max(1));
        let intake = Intake {
            jobs,
            events_seen: Arc::new(Mutex::new(ReplayGuard::new(EVENTS_REMEMBERED))),
        };
        (intake, queue)
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, ReplayGuard> {
        // Every update is one insert or remove: a poisoned guard is whole.
        self.events_seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a decoded request, unless its event id (Slack's retries of an
    /// event carry the same one) was taken before. When the queue is full
    /// the id is given back, so Slack's resend is not taken for a duplicate.
    pub fn take(&self, request: SlackRequest, event_id: Option<&str>, now_unix: i64) -> Admitted {
        if let Some(id) = event_id {
            if !self.seen().first_time(id, now_unix, now_unix) {
                return Admitted::Duplicate;
            }
        }
        match self.jobs.try_send(request) {
            Ok(()) => Admitted::Queued,
            Err(e) => {
                if let Some(id) = event_id {
                    self.seen().forget(id);
                }
                tracing::warn!(error = %e, "background queue full; Slack will resend");
                Admitted::Busy
            }
        }
    }
}

/// How long a user group's members are trusted before they are read again.
const GROUP_TTL: Duration = Duration::from_secs(60);

/// Slack user-group ids start with `S` (user ids with `U` or `W`).
fn is_group_id(entry: &str) -> bool {
    entry.len() > 1
        && entry.starts_with('S')
        && entry
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

pub struct SlackAdapter {
    router: Router,
    engine: Engine,
    store: Store,
    api: SlackApi,
    delivery: Delivery,
    groups_read: Mutex<HashMap<String, Instant>>,
}

impl SlackAdapter {
    pub fn new(router: Router, engine: Engine, api: SlackApi, delivery: Delivery) -> SlackAdapter {
        SlackAdapter {
            router,
            store: engine.store().clone(),
            engine,
            api,
            delivery,
            groups_read: Mutex::new(HashMap::new()),
        }
    }

    /// Does what a verified, acknowledged request asks.
    pub async fn handle(&self, request: SlackRequest) {
        match request {
            SlackRequest::Text {
                user,
                channel,
                text,
            } => self.text(user, channel, text).await,
            SlackRequest::BulkFile {
                user,
                channel,
                files,
            } => match self.read_bulk_file(&files).await {
                Ok(csv) => self.text(user, channel, format!("bulk\n{csv}")).await,
                Err(why) => {
                    let to = Destination {
                        channel,
                        thread: None,
                    };
                    self.reply(&to, &[Message::text(why).with_tone(Tone::Danger)])
                        .await
                }
            },
            SlackRequest::Click(click) => self.click(click).await,
            SlackRequest::RejectReason {
                user,
                user_name,
                action,
                channel,
                reason,
            } => {
                self.decide(
                    &user,
                    user_name.as_deref(),
                    &action,
                    Some(&reason),
                    channel.as_deref(),
                )
                .await
            }
            SlackRequest::UrlVerification { .. } | SlackRequest::Ignored(_) => {}
        }
    }

    /// Router text, its replies threaded under the workflow they touched.
    async fn text(&self, user: UserId, channel: String, text: String) {
        let reply = self
            .router
            .handle(&Inbound {
                user,
                channel: channel.clone(),
                text,
            })
            .await;
        let to = Destination {
            channel,
            thread: reply.touched.map(|id| id.to_string()),
        };
        self.reply(&to, &reply.messages).await;
    }

    async fn reply(&self, to: &Destination, messages: &[Message]) {
        for message in messages {
            if let Err(e) = self.store.post(to, message).await {
                tracing::error!(error = %e, "a reply could not be queued");
            }
        }
        self.delivery.wake();
    }

    /// The CSV text of the one CSV attached to `bulk`, or what to tell the
    /// requester.
    async fn read_bulk_file(&self, files: &[SharedFile]) -> Result<String, String> {
        let (file, url) = bulk_file(files).map_err(|e| e.to_string())?;
        let nothing = "Nothing was started.";
        let bytes = match self
            .api
            .download_file(&file.name, url, MAX_FILE_BYTES)
            .await
        {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(file = %file.name, error = %e, "an attached CSV was not downloaded");
                return Err(format!("{e}. {nothing}"));
            }
        };
        String::from_utf8(bytes).map_err(|e| {
            format!(
                "{} is not UTF-8 text (byte {}): `bulk` takes a UTF-8 CSV; save it as \"CSV UTF-8\". {nothing}",
                file.name,
                e.utf8_error().valid_up_to() + 1
            )
        })
    }

    async fn click(&self, click: Click) {
        let Click {
            user,
            user_name,
            action,
            channel,
            trigger_id,
            ..
        } = click;
        match (&action, trigger_id) {
            (ButtonAction::Reject { .. } | ButtonAction::RejectBatch { .. }, Some(trigger)) => {
                let modal = reject_modal(&action, channel.as_deref());
                if let Err(e) = self.api.open_view(&trigger, modal).await {
                    let (_, subject) = action.describe();
                    tracing::warn!(%subject, error = %e, "the rejection modal did not open");
                    self.tell(
                        channel.as_deref(),
                        &user,
                        &format!(
                            "Could not ask for a reason; type `reject {subject} <reason>` instead."
                        ),
                    )
                    .await;
                }
            }
            _ => {
                self.decide(
                    &user,
                    user_name.as_deref(),
                    &action,
                    None,
                    channel.as_deref(),
                )
                .await
            }
        }
    }

    async fn decide(
        &self,
        user: &UserId,
        name: Option<&str>,
        action: &ButtonAction,
        reason: Option<&str>,
        channel: Option<&str>,
    ) {
        self.refresh_groups().await;
        let reply = self.router.click(user, action, reason).await;
        let outcome = if reply.touched.is_some() {
            "done"
        } else {
            "refused"
        };
        self.audit(action, user, name, outcome).await;
        if reply.touched.is_none() {
            let text: Vec<&str> = reply.messages.iter().map(|m| m.text.as_str()).collect();
            self.tell(channel, user, &text.join("\n")).await;
        }
        self.delivery.wake();
    }

    async fn audit(&self, action: &ButtonAction, user: &UserId, name: Option<&str>, outcome: &str) {
        let (what, subject) = action.describe();
        let detail = format!(
            "slack user {} ({}): {what} {subject}: {outcome}",
            user,
            name.unwrap_or("name unknown")
        );
        if let Err(e) = self
            .store
            .audit(action.workflow(), user.as_str(), "slack.decision", &detail)
            .await
        {
            tracing::warn!(error = %e, "a decision could not be audited");
        }
    }

    /// A message only `user` sees. Not through the outbox: it answers a
    /// click now or not at all (Slack drops ephemerals for absent users).
    async fn tell(&self, channel: Option<&str>, user: &UserId, text: &str) {
        let Some(channel) = channel else {
            tracing::warn!(%user, "no channel to answer a click in");
            return;
        };
        let message = Message::text(text).with_tone(Tone::Danger);
        if let Err(e) = self
            .api
            .post_ephemeral(channel, user.as_str(), &message)
            .await
        {
            tracing::warn!(%user, error = %e, "an ephemeral answer was not posted");
        }
    }

    /// Reads the members of approver groups whose last read is stale.
    async fn refresh_groups(&self) {
        let stale: Vec<String> = {
            let read = self.groups_read.lock().unwrap_or_else(|p| p.into_inner());
            self.engine
                .approvers()
                .iter()
                .filter(|a| is_group_id(a))
                .filter(|a| !matches!(read.get(*a), Some(t) if t.elapsed() <= GROUP_TTL))
                .cloned()
                .collect()
        };
        for group in stale {
            match self.api.usergroup_members(&group).await {
                Ok(members) => {
                    self.engine.set_group_members(&group, members);
                    self.groups_read
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(group, Instant::now());
                }
                // The last members read stay in force.
                Err(e) => tracing::warn!(%group, error = %e, "approver group not read"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_told_from_user_ids() {
        assert!(is_group_id("S0614TZR7"));
        assert!(!is_group_id("U2CERLKJA"));
        assert!(!is_group_id("S"));
        assert!(!is_group_id("Sam"));
        assert!(!is_group_id("approver"));
    }

    #[test]
    fn an_event_is_taken_once_unless_the_queue_was_full() {
        let (intake, mut queue) = Intake::new(1);
        let ignored = || SlackRequest::Ignored("test");
        assert_eq!(intake.take(ignored(), Some("Ev1"), 100), Admitted::Queued);
        assert_eq!(
            intake.take(ignored(), Some("Ev1"), 101),
            Admitted::Duplicate
        );
        // Full: refused, and the id is given back for Slack's resend.
        assert_eq!(intake.take(ignored(), Some("Ev2"), 102), Admitted::Busy);
        assert!(queue.try_recv().is_ok());
        assert_eq!(intake.take(ignored(), Some("Ev2"), 103), Admitted::Queued);
        // Requests without an event id (clicks, commands) are never held back.
        assert!(queue.try_recv().is_ok());
        assert_eq!(intake.take(ignored(), None, 104), Admitted::Queued);
    }
}
