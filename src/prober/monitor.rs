//! The monitor: the driver around the pure machines. It runs the probe
//! schedule, turns each observation into a health sample stamped with the
//! time the probe *fired* (milliseconds on a monotonic clock anchored to wall
//! time at start, so hold-downs never jump with the wall clock and saved
//! state survives restarts), asks the failover machine what to do, applies
//! switches as typed `RoutePreference` changes through the provider, and
//! records everything: samples (flushed each second), path health for
//! `status`, pair state after every change, failover events with detection
//! and action times, and alerts through the outbox. Pins set from chat or CLI
//! are read from the store each second.
//!
//! Applies run off the monitor loop (a task each, under a deadline), so a
//! slow or failing router never delays probing or another pair; a pair with
//! a switch in flight is not decided again until it lands. A switch that
//! fails opens a failure episode: one event and one critical alert, then
//! retries with backoff while the machine still wants the switch, the pair
//! showing "failover failed: <reason>" in `status`; the episode ends when a
//! retry succeeds or the switch is no longer needed, each said in an alert.

use super::drain::{drain_pin, drained_now, Drained, MaintenanceWindow};
use super::failover::{
    decide, Action, Alert, AlertKind, PairState, PathId, PathView, Role, Severity,
};
use super::health::{At, Health, LossReason, Outcome, PathHealth, Sample};
use super::paths::{PairSpec, PathsConfig, PathsError};
use super::probe::{IcmpAccess, ProbeFailure, Prober, ICMP_FIX};
use super::scheduler::{self, Observation, ScheduleError};
use crate::chat::message::{Destination, Message, Tone};
use crate::providers::CloudProvider;
use crate::store::prober::{PathHealthRow, SampleRow, SwitchRow};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long raw samples are kept before they are folded into minutes.
const RAW_SAMPLES_FOR: Duration = Duration::from_secs(3600);
/// How long an apply may take before the switch counts as failed.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);
const OBSERVATION_QUEUE: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Setup(String),
    #[error("pairs that could not fail over, refused before any outage:\n{}", .0.join("\n"))]
    Unfit(Vec<String>),
}

/// Why each pair could not fail over, from the estate and the provider
/// alone (before any outage): its connections and network must be in the
/// estate, each connection must join the network, and the provider must be
/// able to act on both preferences. A dry run only moves nothing, so only
/// the estate is checked.
pub fn unfit_pairs(
    config: &PathsConfig,
    provider: &dyn CloudProvider,
    estate: &crate::domain::Estate,
) -> Vec<String> {
    let mut unfit = Vec::new();
    for pair in &config.pairs {
        let mut reasons = Vec::new();
        if estate.network(&pair.network).is_none() {
            reasons.push(format!(
                "network '{}' is not in {}",
                pair.network, estate.name
            ));
        }
        for spec in [&pair.primary, &pair.backup] {
            match estate.connection(&spec.connection) {
                None => reasons.push(format!(
                    "connection '{}' is not in {}",
                    spec.connection, estate.name
                )),
                Some(c) if c.a != pair.network && c.b != pair.network => reasons.push(format!(
                    "connection '{}' joins {} and {}, not '{}'",
                    spec.connection, c.a, c.b, pair.network
                )),
                Some(_) => {}
            }
        }
        if reasons.is_empty() && !config.failover.dry_run {
            for spec in [&pair.backup, &pair.primary] {
                if let Err(e) = provider.can_act(&pair.prefer(spec), estate) {
                    reasons.push(e.to_string());
                    break;
                }
            }
        }
        if !reasons.is_empty() {
            unfit.push(format!("{}: {}", pair.id, reasons.join("; ")));
        }
    }
    unfit
}

pub struct MonitorSettings {
    pub alerts_channel: String,
    /// How long per-minute aggregates are kept.
    pub retention: Duration,
    /// Planned work from the config: connections drained on a schedule.
    pub maintenance: Vec<MaintenanceWindow>,
}

/// Milliseconds since the Unix epoch.
pub fn now() -> At {
    At(u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0))
}

/// Monotonic milliseconds, anchored to wall time when the monitor started:
/// the time base of every decision.
#[derive(Debug, Clone, Copy)]
struct Clock {
    origin: Instant,
    wall: At,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            origin: Instant::now(),
            wall: now(),
        }
    }

    fn at(&self, instant: Instant) -> At {
        let since = instant.saturating_duration_since(self.origin);
        self.wall
            .plus_ms(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    fn now(&self) -> At {
        self.at(Instant::now())
    }
}

/// How long to wait before retry `attempt` (1-based) of a failed switch:
/// 1 s, doubling, at most 30 s.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

/// A switch being applied: what the machine decided, kept until the
/// provider answers.
struct InFlight {
    to: Role,
    cause: String,
    detected_at: At,
    decided_at: At,
    change: crate::domain::Change,
    next: PairState,
}

/// A switch that failed and is being retried.
#[derive(Debug, Clone, serde::Serialize)]
struct Failing {
    to_path: String,
    reason: String,
    since: u64,
    attempts: u32,
    #[serde(skip)]
    retry_at: At,
}

/// What an apply task reports back.
struct Applied {
    pair: usize,
    result: Result<String, String>,
    finished: Instant,
}

struct PathRuntime {
    id: PathId,
    pair: usize,
    role: Role,
    health: PathHealth,
    last_change: Option<At>,
}

pub struct Monitor {
    config: PathsConfig,
    paths: Vec<PathRuntime>,
    states: Vec<PairState>,
    prober: Arc<Prober>,
    provider: Arc<dyn CloudProvider>,
    store: Store,
    settings: MonitorSettings,
    pending_samples: Vec<SampleRow>,
    clock: Clock,
    in_flight: Vec<Option<InFlight>>,
    failing: Vec<Option<Failing>>,
    applied_tx: mpsc::Sender<Applied>,
    applied_rx: Option<mpsc::Receiver<Applied>>,
    /// Connections drained now (by `drain` or a maintenance window).
    drained: BTreeMap<String, Drained>,
    /// Each pair's open incident: the thread its alerts go to.
    incidents: Vec<Option<Incident>>,
    /// Each drained connection's thread (its begin and end).
    drain_threads: BTreeMap<String, String>,
}

/// Alerts about one pair from its first until it is quiet again, in one
/// chat thread.
struct Incident {
    thread: String,
    since: At,
    reminded_at: At,
}

impl Monitor {
    /// Checks every pair can fail over (`unfit_pairs`: refused now, not
    /// during an outage), builds the runtime and restores each pair's saved
    /// state (a pair whose paths changed in the file starts fresh).
    pub async fn new(
        config: PathsConfig,
        prober: Arc<Prober>,
        provider: Arc<dyn CloudProvider>,
        store: Store,
        settings: MonitorSettings,
    ) -> Result<Monitor, MonitorError> {
        let estate = provider.estate().await.map_err(|e| {
            MonitorError::Setup(format!("reading the estate to check the pairs: {e}"))
        })?;
        let mut config = config;
        // Said at the default log level: the file named something else.
        for note in config.resolve_tunnels(&estate) {
            tracing::warn!("{note}");
        }
        let unfit = unfit_pairs(&config, provider.as_ref(), &estate);
        if !unfit.is_empty() {
            return Err(MonitorError::Unfit(unfit));
        }
        let saved = store.pair_states().await?;
        let mut states = Vec::with_capacity(config.pairs.len());
        let mut paths = Vec::new();
        for (index, pair) in config.pairs.iter().enumerate() {
            let fresh = PairState::new(
                pair.primary.id.clone(),
                pair.backup.id.clone(),
                &config.failover,
            )
            .map_err(|e| MonitorError::Setup(e.to_string()))?;
            let restored = saved
                .iter()
                .find(|(id, _)| id == &pair.id)
                .and_then(|(_, json)| serde_json::from_value::<PairState>(json.clone()).ok())
                .filter(|s| {
                    s.path(Role::Primary) == &pair.primary.id
                        && s.path(Role::Backup) == &pair.backup.id
                });
            states.push(restored.unwrap_or(fresh));
            for (role, spec) in [(Role::Primary, &pair.primary), (Role::Backup, &pair.backup)] {
                paths.push(PathRuntime {
                    id: spec.id.clone(),
                    pair: index,
                    role,
                    health: PathHealth::new(config.health.clone())
                        .map_err(|e| MonitorError::Setup(e.to_string()))?,
                    last_change: None,
                });
            }
        }
        let pairs = states.len();
        let (applied_tx, applied_rx) = mpsc::channel(pairs.max(1) * 2);
        Ok(Monitor {
            config,
            paths,
            states,
            prober,
            provider,
            store,
            settings,
            pending_samples: Vec::new(),
            clock: Clock::start(),
            in_flight: (0..pairs).map(|_| None).collect(),
            failing: vec![None; pairs],
            applied_tx,
            applied_rx: Some(applied_rx),
            drained: BTreeMap::new(),
            incidents: (0..pairs).map(|_| None).collect(),
            drain_threads: BTreeMap::new(),
        })
    }

    /// The active path of each pair (after a restore, before any probing).
    pub fn active_paths(&self) -> Vec<(String, PathId)> {
        self.config
            .pairs
            .iter()
            .zip(&self.states)
            .map(|(p, s)| (p.id.clone(), s.active_path().clone()))
            .collect()
    }

    /// Probes and decides until `cancel` fires.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<(), MonitorError> {
        let access = self.prober.icmp_access();
        if access == IcmpAccess::None {
            tracing::error!("{ICMP_FIX}");
            let text = format!("ICMP probes are not allowed on this host; ICMP paths use their TCP fallback. Fix: {ICMP_FIX}");
            self.alert(Severity::Warning, "prober", &text).await?;
        }
        // Status shows every pair from the start, with its (restored) active path.
        let started = self.clock.now();
        for pair in 0..self.states.len() {
            self.save_state(pair, started).await?;
        }
        let targets = self.config.targets(access != IcmpAccess::None)?;
        for t in &targets {
            t.check()?;
        }
        let (tx, mut rx) = mpsc::channel(OBSERVATION_QUEUE);
        let schedule = tokio::spawn(scheduler::run(
            self.prober.clone(),
            targets,
            tx,
            cancel.clone(),
        ));
        let mut flush = tokio::time::interval(Duration::from_secs(1));
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut downsample = tokio::time::interval(Duration::from_secs(60));
        downsample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut applied = self
            .applied_rx
            .take()
            .ok_or_else(|| MonitorError::Setup("the monitor runs once".into()))?;
        loop {
            tokio::select! {
                observation = rx.recv() => match observation {
                    Some(o) => self.observe(o).await?,
                    None => break,
                },
                Some(done) = applied.recv() => self.landed(done).await?,
                _ = flush.tick() => self.flush().await?,
                _ = downsample.tick() => {
                    let at = self.clock.now().0;
                    let raw_before = at.saturating_sub(RAW_SAMPLES_FOR.as_millis() as u64);
                    let minutes_before = at.saturating_sub(self.settings.retention.as_millis() as u64);
                    self.store.downsample(raw_before, minutes_before).await?;
                }
                _ = cancel.cancelled() => break,
            }
        }
        cancel.cancel();
        let _ = schedule.await;
        self.flush().await
    }

    async fn observe(&mut self, observation: Observation) -> Result<(), MonitorError> {
        // Judged when the probe fired, not when the loop got to it.
        let at = self.clock.at(observation.fired.into_std());
        let Some(path) = self.paths.get_mut(observation.path) else {
            return Ok(());
        };
        let (outcome, row) = match &observation.result {
            Ok(rtt) => {
                let ms = rtt.as_secs_f64() * 1000.0;
                (Outcome::Reply { rtt_ms: ms }, (Some(ms), None))
            }
            Err(failure) => {
                let reason = match failure {
                    ProbeFailure::Timeout => LossReason::Timeout,
                    ProbeFailure::Refused => LossReason::Refused,
                    ProbeFailure::Unreachable(_) => LossReason::Unreachable,
                    other => LossReason::Other(other.to_string()),
                };
                (Outcome::Lost { reason }, (None, Some(failure.to_string())))
            }
        };
        self.pending_samples.push(SampleRow {
            path_id: path.id.to_string(),
            at: at.0,
            rtt_ms: row.0,
            failure: row.1,
        });
        if path.health.observe(Sample { at, outcome }).is_some() {
            path.last_change = Some(at);
        }
        let pair = path.pair;
        self.decide_pair(pair, at).await
    }

    fn views(&self, pair: usize) -> (PathView, PathView) {
        let view = |role: Role| {
            self.paths
                .iter()
                .find(|p| p.pair == pair && p.role == role)
                .map(|p| PathView::from(&p.health))
                .unwrap_or(PathView::Unknown)
        };
        (view(Role::Primary), view(Role::Backup))
    }

    async fn decide_pair(&mut self, pair: usize, at: At) -> Result<(), MonitorError> {
        if self.in_flight[pair].is_some() {
            // Decided again once the switch lands.
            return Ok(());
        }
        let (primary, backup) = self.views(pair);
        let state = &self.states[pair];
        let (next, actions) = decide(state, &self.config.failover, at, primary, backup);
        let switch = actions.iter().find_map(|a| match a {
            Action::FailOver { detected_at, cause } | Action::FailBack { detected_at, cause } => a
                .roles()
                .map(|(_, to)| (to, *detected_at, format!("{cause:?}"))),
            Action::Alert(_) => None,
        });
        let Some((to, detected_at, cause)) = switch else {
            if let Some(failing) = self.failing[pair].take() {
                let text = format!(
                    "{}: the switch to {} is no longer needed; it had failed {} times ({})",
                    self.config.pairs[pair].id, failing.to_path, failing.attempts, failing.reason
                );
                self.pair_alert(pair, at, Severity::Info, &text).await?;
            }
            for action in &actions {
                if let Action::Alert(alert) = action {
                    self.post_alert(pair, at, alert).await?;
                }
            }
            if next != self.states[pair] {
                self.states[pair] = next;
                self.save_state(pair, at).await?;
            }
            self.close_if_quiet(pair);
            return Ok(());
        };
        match &self.failing[pair] {
            // Still waiting out the backoff: the machine asks again later.
            Some(failing) if at < failing.retry_at => return Ok(()),
            // A retry: its alerts were said the first time.
            Some(_) => {}
            None => {
                for action in &actions {
                    if let Action::Alert(alert) = action {
                        self.post_alert(pair, at, alert).await?;
                    }
                }
            }
        }
        let spec = &self.config.pairs[pair];
        let to_spec = if to == Role::Primary {
            &spec.primary
        } else {
            &spec.backup
        };
        let change = spec.prefer(to_spec);
        let key = format!("failover/{}/{}", spec.id, at.0);
        let provider = self.provider.clone();
        let report = self.applied_tx.clone();
        let task_change = change.clone();
        tokio::spawn(async move {
            let result =
                match tokio::time::timeout(APPLY_TIMEOUT, provider.apply(&task_change, &key)).await
                {
                    Ok(Ok(resource)) => Ok(resource.to_string()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {APPLY_TIMEOUT:?}")),
                };
            let _ = report
                .send(Applied {
                    pair,
                    result,
                    finished: Instant::now(),
                })
                .await;
        });
        self.in_flight[pair] = Some(InFlight {
            to,
            cause,
            detected_at,
            decided_at: at,
            change,
            next,
        });
        Ok(())
    }

    /// A switch's apply answered: the pair moves (and says so when it had
    /// failed before), or the failure episode opens or goes on.
    async fn landed(&mut self, done: Applied) -> Result<(), MonitorError> {
        let Some(flight) = self.in_flight.get_mut(done.pair).and_then(Option::take) else {
            return Ok(());
        };
        let pair = done.pair;
        let at = self.clock.at(done.finished);
        let pair_id = self.config.pairs[pair].id.clone();
        let from_path = self.states[pair].path(flight.to.other()).to_string();
        let to_path = self.states[pair].path(flight.to).to_string();
        let mut event = SwitchRow {
            pair_id: pair_id.clone(),
            from_path,
            to_path: to_path.clone(),
            cause: flight.cause.clone(),
            detected_at: flight.detected_at.0,
            decided_at: flight.decided_at.0,
            applied_at: None,
            dry_run: false,
            change: serde_json::to_value(&flight.change).ok(),
            resource_id: None,
            error: None,
        };
        match done.result {
            Ok(resource) => {
                // Persist the new active path before the event, so nobody
                // reads an event the state does not show yet.
                self.states[pair] = flight.next.record_applied(at);
                let recovered = self.failing[pair].take();
                self.save_state(pair, at).await?;
                event.applied_at = Some(at.0);
                event.resource_id = Some(resource);
                self.store.record_switch(event).await?;
                if let Some(failing) = recovered {
                    let text = format!(
                        "{pair_id}: the switch to {to_path} is applied after {} failed attempts (last: {})",
                        failing.attempts, failing.reason
                    );
                    self.pair_alert(pair, at, Severity::Info, &text).await?;
                }
                self.close_if_quiet(pair);
            }
            Err(reason) => {
                match self.failing[pair].as_mut() {
                    Some(failing) => {
                        failing.attempts += 1;
                        failing.reason = reason;
                        failing.retry_at =
                            at.plus_ms(retry_delay(failing.attempts).as_millis() as u64);
                    }
                    None => {
                        event.error = Some(reason.clone());
                        self.store.record_switch(event).await?;
                        let text = format!(
                            "{pair_id}: could not apply the switch to {to_path}: {reason}; retrying with backoff"
                        );
                        self.pair_alert(pair, at, Severity::Critical, &text).await?;
                        self.failing[pair] = Some(Failing {
                            to_path,
                            reason,
                            since: at.0,
                            attempts: 1,
                            retry_at: at.plus_ms(retry_delay(1).as_millis() as u64),
                        });
                    }
                }
                self.save_state(pair, at).await?;
            }
        }
        Ok(())
    }

    async fn save_state(&self, pair: usize, at: At) -> Result<(), MonitorError> {
        let mut json = serde_json::to_value(&self.states[pair])
            .map_err(|e| MonitorError::Setup(e.to_string()))?;
        // Beside the machine's state, for `status`: a switch being retried,
        // and the pair's connections drained now.
        if let Some(object) = json.as_object_mut() {
            if let Some(failing) = &self.failing[pair] {
                object.insert(
                    "failing".into(),
                    serde_json::to_value(failing).unwrap_or_default(),
                );
            }
            let spec = &self.config.pairs[pair];
            let drained: Vec<&Drained> = [&spec.primary.connection, &spec.backup.connection]
                .iter()
                .filter_map(|c| self.drained.get(c.as_str()))
                .collect();
            if !drained.is_empty() {
                object.insert(
                    "drained".into(),
                    serde_json::to_value(drained).unwrap_or_default(),
                );
            }
        }
        self.store
            .save_pair_state(&self.config.pairs[pair].id, &json, at.0)
            .await?;
        Ok(())
    }

    /// Whether `alert` is about a path whose connection is drained: planned
    /// work says nothing.
    fn silenced(&self, pair: usize, alert: &Alert) -> bool {
        let role = match alert.kind {
            AlertKind::PathDown { role }
            | AlertKind::Degraded { role }
            | AlertKind::Recovered { role } => role,
            _ => return false,
        };
        let spec = &self.config.pairs[pair];
        let connection = if role == Role::Primary {
            &spec.primary.connection
        } else {
            &spec.backup.connection
        };
        self.drained.contains_key(connection.as_str())
    }

    async fn post_alert(&mut self, pair: usize, at: At, alert: &Alert) -> Result<(), MonitorError> {
        if self.silenced(pair, alert) {
            return Ok(());
        }
        self.pair_alert(pair, at, alert.severity, &alert.text).await
    }

    async fn alert(
        &self,
        severity: Severity,
        subject: &str,
        text: &str,
    ) -> Result<(), MonitorError> {
        self.alert_in(severity, subject, text, None).await
    }

    /// An alert about a pair: in the thread of its open incident (opened
    /// by this alert when none is), so what resolves it lands beside it.
    async fn pair_alert(
        &mut self,
        pair: usize,
        at: At,
        severity: Severity,
        text: &str,
    ) -> Result<(), MonitorError> {
        let pair_id = self.config.pairs[pair].id.clone();
        let incident = self.incidents[pair].get_or_insert_with(|| Incident {
            thread: format!("alert-{pair_id}-{}", at.0),
            since: at,
            reminded_at: at,
        });
        let thread = incident.thread.clone();
        self.alert_in(severity, &pair_id, text, Some(thread)).await
    }

    /// Closes the pair's incident once nothing about it is raised, being
    /// retried or in flight, and it is back where it belongs.
    fn close_if_quiet(&mut self, pair: usize) {
        if self.states[pair].quiet()
            && self.failing[pair].is_none()
            && self.in_flight[pair].is_none()
        {
            self.incidents[pair] = None;
        }
    }

    /// Reminds, in the incident's thread, of a pair whose two paths are
    /// still down, every `remind_every`.
    async fn remind(&mut self, at: At) -> Result<(), MonitorError> {
        let every = self.config.failover.remind_every_ms;
        for pair in 0..self.states.len() {
            let Some(incident) = &self.incidents[pair] else {
                continue;
            };
            if !self.states[pair].both_down() || at.ms_since(incident.reminded_at) < every {
                continue;
            }
            let text = format!(
                "{}: both paths are still down (since {}); nothing can move traffic",
                self.config.pairs[pair].id,
                super::status::time(incident.since.0)
            );
            if let Some(incident) = self.incidents[pair].as_mut() {
                incident.reminded_at = at;
            }
            self.pair_alert(pair, at, Severity::Critical, &text).await?;
        }
        Ok(())
    }

    async fn alert_in(
        &self,
        severity: Severity,
        subject: &str,
        text: &str,
        thread: Option<String>,
    ) -> Result<(), MonitorError> {
        let tone = match severity {
            Severity::Info => Tone::Info,
            Severity::Warning => Tone::Warning,
            Severity::Critical => Tone::Danger,
        };
        let message = Message::text(text)
            .with_title(format!("{subject} · {severity:?}").to_lowercase())
            .with_tone(tone);
        let to = Destination {
            channel: self.settings.alerts_channel.clone(),
            thread,
        };
        self.store.post(&to, &message).await?;
        Ok(())
    }

    /// Writes buffered samples and every path's health, and applies pins.
    async fn flush(&mut self) -> Result<(), MonitorError> {
        let at = self.clock.now();
        self.store
            .insert_samples(std::mem::take(&mut self.pending_samples))
            .await?;
        let rows = self
            .paths
            .iter()
            .map(|p| health_row(&self.config.pairs[p.pair], p, at))
            .collect();
        self.store.save_path_health(rows).await?;
        self.update_drains(at).await?;
        self.remind(at).await?;
        let pins = self.store.pins().await?;
        for index in 0..self.config.pairs.len() {
            let spec = &self.config.pairs[index];
            let pinned = pins
                .iter()
                .find(|(pair_id, _)| pair_id == &spec.id)
                .and_then(|(_, role)| match role.as_deref() {
                    Some("primary") => Some(Role::Primary),
                    Some("backup") => Some(Role::Backup),
                    _ => None,
                });
            // A person's pin wins; else a drain holds the pair off the
            // drained path.
            let wanted = pinned.or_else(|| {
                drain_pin(
                    spec.primary.connection.as_str(),
                    spec.backup.connection.as_str(),
                    &self.drained,
                )
            });
            if self.states[index].pinned() != wanted {
                self.states[index] = match wanted {
                    Some(role) => self.states[index].pin(role),
                    None => self.states[index].unpin(),
                };
                self.save_state(index, at).await?;
                // A pin may move traffic now.
                self.decide_pair(index, at).await?;
            }
        }
        Ok(())
    }
}

impl Monitor {
    /// Reads the drains and windows in force at `at`, says when one begins
    /// or ends, and keeps the set for pins, alerts and status.
    async fn update_drains(&mut self, at: At) -> Result<(), MonitorError> {
        let drains = self.store.drains().await?;
        let now = drained_now(&drains, &self.settings.maintenance, at);
        let monitored = |connection: &str| {
            self.config.pairs.iter().any(|p| {
                p.primary.connection.as_str() == connection
                    || p.backup.connection.as_str() == connection
            })
        };
        // Each drain's begin and end share a thread.
        let mut notes = Vec::new();
        for (connection, d) in &now {
            if !self.drained.contains_key(connection) && monitored(connection) {
                let reason = if d.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.reason)
                };
                let thread = format!("drain-{connection}-{}", at.0);
                self.drain_threads
                    .insert(connection.clone(), thread.clone());
                notes.push((
                    thread,
                    format!(
                        "{connection} drained until {} by {}{reason}: traffic moves off it and its alerts are silenced",
                        super::status::time(d.until),
                        d.by
                    ),
                ));
            }
        }
        for connection in self.drained.keys() {
            if !now.contains_key(connection) && monitored(connection) {
                let thread = self
                    .drain_threads
                    .remove(connection)
                    .unwrap_or_else(|| format!("drain-{connection}-{}", at.0));
                notes.push((
                    thread,
                    format!(
                        "{connection} is no longer drained: its alerts are back and traffic may return to it"
                    ),
                ));
            }
        }
        let changed = now != self.drained;
        self.drained = now;
        for (thread, text) in notes {
            self.alert_in(Severity::Info, "drain", &text, Some(thread))
                .await?;
        }
        if changed {
            for pair in 0..self.states.len() {
                self.save_state(pair, at).await?;
            }
        }
        Ok(())
    }
}

fn health_row(pair: &PairSpec, path: &PathRuntime, at: At) -> PathHealthRow {
    let state = match path.health.health() {
        Health::Unknown => "unknown",
        Health::Up { .. } => "up",
        Health::Degraded { .. } => "degraded",
        Health::Down { .. } => "down",
    };
    let stats = path.health.rtt_stats();
    let spec = if path.role == Role::Primary {
        &pair.primary
    } else {
        &pair.backup
    };
    PathHealthRow {
        path_id: path.id.to_string(),
        pair_id: pair.id.clone(),
        role: format!("{:?}", path.role).to_lowercase(),
        connection_id: spec.connection.to_string(),
        state: state.into(),
        health: serde_json::to_value(path.health.health()).unwrap_or(serde_json::Value::Null),
        avg_rtt_ms: stats.as_ref().map(|s| s.avg_ms),
        p99_rtt_ms: stats.as_ref().map(|s| s.p99_ms),
        loss_percent: path.health.loss_percent(),
        consecutive_failures: path.health.consecutive_failures(),
        last_change_at: path.last_change.map(|a| a.0),
        updated_at: at.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_one_second_doubling_to_thirty() {
        let delays: Vec<u64> = (1..=8).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(retry_delay(0), Duration::from_secs(1));
    }

    #[test]
    fn the_clock_stamps_instants_not_reading_time_and_never_goes_back() {
        let clock = Clock::start();
        let fired = clock.origin + Duration::from_millis(250);
        // However late the loop reads it, the probe counts when it fired.
        assert_eq!(clock.at(fired), clock.wall.plus_ms(250));
        assert_eq!(
            clock.at(clock.origin - Duration::from_millis(5)),
            clock.wall
        );
        assert!(clock.now() >= clock.wall);
    }
}
