//! Outbox delivery: the worker that hands persisted outbox messages to the
//! chat platforms through the `ChatSink` trait (Slack, Discord; one worker
//! serves both), and the pure backoff that decides when a channel is tried
//! again.
//!
//! Invariants:
//! - Each channel belongs to the first sink that `owns` it (Discord: snowflake
//!   ids; Slack: the rest). A channel no sink owns (the console's) is left
//!   pending for whoever reads it.
//! - Per channel, messages go out in outbox order. A message that fails blocks
//!   only its own channel (the rest of that channel waits behind it, order
//!   kept); other channels go on. It is tried again later, never dropped.
//! - 5xx and network errors back off exponentially (capped); Slack's 429 is
//!   honoured with its `Retry-After`.
//! - A message is marked delivered only after the platform accepted it, in the
//!   same statement that records where it landed (thread root, approval card).
//! - One thread per workflow: the first delivered message of a thread key
//!   (`wf-N`) in a channel is the root; every later one is posted under it.
//! - The approval card is updated in place (buttons removed, the decision
//!   shown) before the decision itself is posted: the first message after the
//!   card whose tone is not `Info` is that decision (approved, rejected,
//!   expired, cancelled — nothing else follows a card while it waits).
//!
//! At-least-once window: if the process dies after the platform accepted a
//! message and before the store recorded it, the message is sent again at the
//! next start (chat.postMessage has no idempotency key; Discord drops a
//! repeat within minutes by the outbox id sent as `nonce`). The window is one
//! local SQLite commit (~1 ms) right after the HTTP answer; nothing else runs
//! between the two. A card update is idempotent, so repeating it is harmless.

use super::message::{Message, Tone};
use crate::store::{OutboxItem, Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a platform did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("rate limited: retry after {0:?}")]
    RateLimited(Duration),
    /// Worth trying again soon (5xx, network, a platform hiccup).
    #[error("{0}")]
    Retryable(String),
    /// Will not work as sent (unknown channel, bad token). Still retried, at
    /// the longest backoff, so an operator can fix it without losing the
    /// message.
    #[error("{0}")]
    Permanent(String),
}

/// A chat platform's outbound side.
#[async_trait::async_trait]
pub trait ChatSink: Send + Sync {
    /// The platform's name as stored with delivered messages (`slack`).
    fn platform(&self) -> &'static str;
    /// Whether `channel` is one of this platform's; the worker asks its sinks
    /// in order and the first that says yes gets the channel.
    fn owns(&self, _channel: &str) -> bool {
        true
    }
    /// Posts a message, under `thread` when given; returns the platform's id
    /// for the new message (Slack's `ts`). `key` is the same on every attempt
    /// at one outbox message: a platform that can drop repeats by it does
    /// (Discord's `nonce`).
    async fn post(
        &self,
        channel: &str,
        thread: Option<&str>,
        message: &Message,
        key: &str,
    ) -> Result<String, SendError>;
    /// Replaces a posted message.
    async fn update(&self, channel: &str, id: &str, message: &Message) -> Result<(), SendError>;
}

/// How long a channel waits after its `failures`-th consecutive failure.
/// Pure.
pub fn backoff(error: &SendError, failures: u32, base: Duration, max: Duration) -> Duration {
    match error {
        SendError::RateLimited(after) => (*after).max(base),
        SendError::Retryable(_) => exponential(failures, base, max),
        SendError::Permanent(_) => max,
    }
}

/// `base`, doubled for each consecutive failure after the first, capped at
/// `max` (the Socket Mode reconnects share it). Pure.
pub fn exponential(failures: u32, base: Duration, max: Duration) -> Duration {
    let shift = failures.saturating_sub(1).min(20);
    base.saturating_mul(1 << shift).min(max)
}

/// The approval card once its decision is known: no buttons, the decision
/// shown on it. Pure.
pub fn closed_card(card: &Message, decision: &Message) -> Message {
    let mut closed = card.clone();
    closed.buttons.clear();
    closed.tone = decision.tone;
    let text = decision.text.lines().next().unwrap_or("").to_string();
    closed = closed.field("Decision", text);
    closed
}

/// Most channels remembered as owned by no sink.
const MAX_UNOWNED: usize = 64;

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// How often the outbox is read when nobody wakes the worker.
    pub poll: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Most pending messages read per pass.
    pub batch: u32,
    /// Most channels delivered to concurrently.
    pub max_channels: usize,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings {
            poll: Duration::from_millis(500),
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            batch: 500,
            max_channels: 8,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub delivered: AtomicU64,
    pub failures: AtomicU64,
    pub card_updates: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default)]
struct ChannelState {
    failures: u32,
    not_before: Option<Instant>,
}

struct Inner {
    store: Store,
    sinks: Vec<Arc<dyn ChatSink>>,
    settings: DeliverySettings,
    channels: Mutex<HashMap<String, ChannelState>>,
    /// Channels no sink owns, left out of the outbox reads.
    unowned: Mutex<Vec<String>>,
    wake: Notify,
    stats: DeliveryStats,
}

/// The delivery worker; cheap to clone.
#[derive(Clone)]
pub struct Delivery {
    inner: Arc<Inner>,
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Delivery {
    pub fn new(store: Store, sink: Arc<dyn ChatSink>, settings: DeliverySettings) -> Delivery {
        Delivery::with_sinks(store, vec![sink], settings)
    }

    /// A worker for several platforms; `sinks` in the order they are asked
    /// whether they own a channel (the most specific first).
    pub fn with_sinks(
        store: Store,
        sinks: Vec<Arc<dyn ChatSink>>,
        settings: DeliverySettings,
    ) -> Delivery {
        Delivery {
            inner: Arc::new(Inner {
                store,
                sinks,
                settings,
                channels: Mutex::new(HashMap::new()),
                unowned: Mutex::new(Vec::new()),
                wake: Notify::new(),
                stats: DeliveryStats::default(),
            }),
        }
    }

    /// Asks the worker to look at the outbox now (something was queued).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub fn stats(&self) -> &DeliveryStats {
        &self.inner.stats
    }

    /// The channel map; every update is a single insert, so a poisoned lock
    /// still holds a consistent map.
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, ChannelState>> {
        self.inner
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Delivers until `cancel` fires; what is pending then waits for the
    /// next start.
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            let next = self.pass(&cancel).await;
            let wait = next
                .map(|at| at.saturating_duration_since(Instant::now()))
                .unwrap_or(self.inner.settings.poll)
                .min(self.inner.settings.poll);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass over the outbox: every channel that is not backing off gets
    /// its pending messages in order, up to its first failure. Returns when a
    /// backing-off channel may be tried again, if any.
    pub async fn pass(&self, cancel: &CancellationToken) -> Option<Instant> {
        let unowned = self
            .inner
            .unowned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let pending = match self
            .inner
            .store
            .pending_outbox_except(self.inner.settings.batch, &unowned)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "delivery could not read the outbox");
                return None;
            }
        };
        let mut queues: Vec<(String, Vec<OutboxItem>)> = Vec::new();
        for item in pending {
            if self.sink_for(&item.destination.channel).is_none() {
                self.leave_out(&item.destination.channel);
                continue;
            }
            match queues
                .iter_mut()
                .find(|(c, _)| *c == item.destination.channel)
            {
                Some((_, queue)) => queue.push(item),
                None => queues.push((item.destination.channel.clone(), vec![item])),
            }
        }
        let now = Instant::now();
        let ready: Vec<(String, Vec<OutboxItem>)> = {
            let channels = self.channels();
            queues
                .into_iter()
                .filter(|(c, _)| {
                    !matches!(channels.get(c).and_then(|s| s.not_before), Some(t) if t > now)
                })
                .take(self.inner.settings.max_channels.max(1))
                .collect()
        };
        let mut tasks = tokio::task::JoinSet::new();
        for (channel, queue) in ready {
            let this = self.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move { this.drain_channel(&channel, queue, &cancel).await });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "a delivery task ended abnormally");
            }
        }
        self.channels().values().filter_map(|s| s.not_before).min()
    }

    async fn drain_channel(
        &self,
        channel: &str,
        queue: Vec<OutboxItem>,
        cancel: &CancellationToken,
    ) {
        for item in queue {
            if cancel.is_cancelled() {
                return;
            }
            match self.deliver(&item).await {
                Ok(()) => {
                    self.inner.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    self.channels().remove(channel);
                }
                Err(failure) => {
                    self.inner.stats.failures.fetch_add(1, Ordering::Relaxed);
                    let error = match failure {
                        Failure::Send(e) => e,
                        Failure::Store(e) => SendError::Retryable(e.to_string()),
                    };
                    let settings = &self.inner.settings;
                    let delay = {
                        let mut channels = self.channels();
                        let state = channels.entry(channel.to_string()).or_default();
                        state.failures = state.failures.saturating_add(1);
                        let delay = backoff(
                            &error,
                            state.failures,
                            settings.base_backoff,
                            settings.max_backoff,
                        );
                        state.not_before = Some(Instant::now() + delay);
                        delay
                    };
                    tracing::warn!(outbox = item.id, %channel, error = %error, retry_in = ?delay, "delivery failed; the channel waits");
                    if let Err(e) = self
                        .inner
                        .store
                        .outbox_failed(item.id, &error.to_string())
                        .await
                    {
                        tracing::warn!(error = %e, "could not record a failed delivery");
                    }
                    return;
                }
            }
        }
    }

    /// Remembers a channel no sink owns (bounded: past the cap it is only
    /// skipped per pass).
    fn leave_out(&self, channel: &str) {
        let mut unowned = self.inner.unowned.lock().unwrap_or_else(|p| p.into_inner());
        if unowned.len() < MAX_UNOWNED && !unowned.iter().any(|c| c == channel) {
            tracing::info!(%channel, "no chat platform owns this channel; its messages stay in the outbox");
            unowned.push(channel.to_string());
        }
    }

    fn sink_for(&self, channel: &str) -> Option<&Arc<dyn ChatSink>> {
        self.inner.sinks.iter().find(|s| s.owns(channel))
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<(), Failure> {
        let channel = &item.destination.channel;
        let sink = self.sink_for(channel).ok_or_else(|| {
            SendError::Permanent(format!("no chat platform owns channel {channel}"))
        })?;
        let store = &self.inner.store;
        let platform = sink.platform();
        let thread = match &item.destination.thread {
            Some(key) => store
                .chat_thread(platform, channel, key)
                .await?
                .map(|t| (key, t)),
            None => None,
        };
        if let Some((key, t)) = &thread {
            if let Some((card_ts, card)) = &t.open_card {
                if item.message.tone != Tone::Info && item.message.buttons.is_empty() {
                    sink.update(channel, card_ts, &closed_card(card, &item.message))
                        .await?;
                    store.close_card(platform, channel, key).await?;
                    self.inner
                        .stats
                        .card_updates
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let thread_ts = thread.as_ref().map(|(_, t)| t.thread_ts.as_str());
        let key = format!("sb{}", item.id);
        let ts = sink.post(channel, thread_ts, &item.message, &key).await?;
        // The at-least-once window (see the module doc) is between the line
        // above and this commit.
        store.mark_delivered_on(item, platform, &ts).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn server_errors_back_off_exponentially_up_to_the_cap() {
        let e = SendError::Retryable("HTTP 500".into());
        let delays: Vec<Duration> = (1..=9).map(|n| backoff(&e, n, BASE, MAX)).collect();
        assert_eq!(delays[0], BASE);
        assert_eq!(delays[1], BASE * 2);
        assert_eq!(delays[3], BASE * 8);
        assert_eq!(delays[8], MAX);
        assert_eq!(backoff(&e, u32::MAX, BASE, MAX), MAX);
    }

    #[test]
    fn a_rate_limit_waits_as_long_as_the_platform_says() {
        let e = SendError::RateLimited(Duration::from_secs(7));
        assert_eq!(backoff(&e, 1, BASE, MAX), Duration::from_secs(7));
        let e = SendError::RateLimited(Duration::ZERO);
        assert_eq!(backoff(&e, 3, BASE, MAX), BASE);
    }

    #[test]
    fn a_permanent_error_waits_the_longest_but_is_kept() {
        let e = SendError::Permanent("channel_not_found".into());
        assert_eq!(backoff(&e, 1, BASE, MAX), MAX);
    }

    #[test]
    fn a_closed_card_has_no_buttons_and_shows_the_decision() {
        let id = crate::domain::WorkflowId::new(3).unwrap();
        let card = Message::text("alice asks")
            .with_title("wf-3 · approval needed")
            .with_workflow(id)
            .field("Risk", "low")
            .with_decision_buttons(id);
        let decision = Message::text("Approved by U1 at 10:04 UTC").with_tone(Tone::Success);
        let closed = closed_card(&card, &decision);
        assert!(closed.buttons.is_empty());
        assert_eq!(closed.tone, Tone::Success);
        assert_eq!(closed.title, card.title);
        assert_eq!(
            closed.fields.last().unwrap().value,
            "Approved by U1 at 10:04 UTC"
        );
    }
}
