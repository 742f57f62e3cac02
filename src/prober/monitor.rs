//! The monitor: the driver around the pure machines. It runs the probe
//! schedule, turns each observation into a health sample (stamped with wall
//! time in milliseconds, so saved state survives restarts), asks the failover
//! machine what to do, applies switches as typed `RoutePreference` changes
//! through the provider, and records everything: samples (flushed each second),
//! path health for `status`, pair state after every change, failover events
//! with detection and action times, and alerts through the outbox. Pins set
//! from chat or CLI are read from the store each second.

use super::failover::{decide, Action, Alert, PairState, PathId, PathView, Role, Severity};
use super::health::{At, Health, LossReason, Outcome, PathHealth, Sample};
use super::paths::{PairSpec, PathsConfig, PathsError};
use super::probe::{IcmpAccess, ProbeFailure, Prober, ICMP_FIX};
use super::scheduler::{self, Observation, ScheduleError};
use crate::chat::message::{Destination, Message, Tone};
use crate::providers::CloudProvider;
use crate::store::prober::{PathHealthRow, SampleRow, SwitchRow};
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
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
}

pub struct MonitorSettings {
    pub alerts_channel: String,
    /// How long per-minute aggregates are kept.
    pub retention: Duration,
}

/// Milliseconds since the Unix epoch.
pub fn now() -> At {
    At(u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0))
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
}

impl Monitor {
    /// Builds the runtime and restores each pair's saved state (a pair whose
    /// paths changed in the file starts fresh).
    pub async fn new(
        config: PathsConfig,
        prober: Arc<Prober>,
        provider: Arc<dyn CloudProvider>,
        store: Store,
        settings: MonitorSettings,
    ) -> Result<Monitor, MonitorError> {
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
        Ok(Monitor {
            config,
            paths,
            states,
            prober,
            provider,
            store,
            settings,
            pending_samples: Vec::new(),
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
        let started = now();
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
        loop {
            tokio::select! {
                observation = rx.recv() => match observation {
                    Some(o) => self.observe(o).await?,
                    None => break,
                },
                _ = flush.tick() => self.flush().await?,
                _ = downsample.tick() => {
                    let at = now().0;
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
        let at = now();
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
        let (primary, backup) = self.views(pair);
        let state = &self.states[pair];
        let (mut next, actions) = decide(state, &self.config.failover, at, primary, backup);
        let mut adopt = true;
        for action in &actions {
            match action {
                Action::Alert(alert) => self.post_alert(pair, alert).await?,
                Action::FailOver { detected_at, cause }
                | Action::FailBack { detected_at, cause } => {
                    let Some((from, to)) = action.roles() else {
                        continue;
                    };
                    let spec = &self.config.pairs[pair];
                    let to_spec = if to == Role::Primary {
                        &spec.primary
                    } else {
                        &spec.backup
                    };
                    let change = spec.prefer(to_spec);
                    let key = format!("failover/{}/{}", spec.id, at.0);
                    let applied =
                        tokio::time::timeout(APPLY_TIMEOUT, self.provider.apply(&change, &key))
                            .await;
                    let applied_at = now();
                    let (resource, error) = match applied {
                        Ok(Ok(resource)) => (Some(resource.to_string()), None),
                        Ok(Err(e)) => (None, Some(e.to_string())),
                        Err(_) => (None, Some(format!("no answer within {APPLY_TIMEOUT:?}"))),
                    };
                    let from_path = self.states[pair].path(from).to_string();
                    let to_path = self.states[pair].path(to).to_string();
                    if error.is_none() {
                        // Persist the new active path before the event, so
                        // nobody reads an event the state does not show yet.
                        next = next.record_applied(applied_at);
                        self.states[pair] = next.clone();
                        self.save_state(pair, at).await?;
                    }
                    self.store
                        .record_switch(SwitchRow {
                            pair_id: spec.id.clone(),
                            from_path,
                            to_path: to_path.clone(),
                            cause: format!("{cause:?}"),
                            detected_at: detected_at.0,
                            decided_at: at.0,
                            applied_at: error.is_none().then_some(applied_at.0),
                            dry_run: false,
                            change: serde_json::to_value(&change).ok(),
                            resource_id: resource,
                            error: error.clone(),
                        })
                        .await?;
                    if let Some(e) = error {
                        // Keep the old state: the next sample decides the switch again.
                        adopt = false;
                        let text =
                            format!("{}: could not apply the switch to {to_path}: {e}", spec.id);
                        self.alert(Severity::Critical, &spec.id.clone(), &text)
                            .await?;
                    }
                }
            }
        }
        if adopt && next != self.states[pair] {
            self.states[pair] = next;
            self.save_state(pair, at).await?;
        }
        Ok(())
    }

    async fn save_state(&self, pair: usize, at: At) -> Result<(), MonitorError> {
        let json = serde_json::to_value(&self.states[pair])
            .map_err(|e| MonitorError::Setup(e.to_string()))?;
        self.store
            .save_pair_state(&self.config.pairs[pair].id, &json, at.0)
            .await?;
        Ok(())
    }

    async fn post_alert(&self, pair: usize, alert: &Alert) -> Result<(), MonitorError> {
        self.alert(alert.severity, &self.config.pairs[pair].id, &alert.text)
            .await
    }

    async fn alert(
        &self,
        severity: Severity,
        subject: &str,
        text: &str,
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
            thread: None,
        };
        self.store.post(&to, &message).await?;
        Ok(())
    }

    /// Writes buffered samples and every path's health, and applies pins.
    async fn flush(&mut self) -> Result<(), MonitorError> {
        let at = now();
        self.store
            .insert_samples(std::mem::take(&mut self.pending_samples))
            .await?;
        let rows = self
            .paths
            .iter()
            .map(|p| health_row(&self.config.pairs[p.pair], p, at))
            .collect();
        self.store.save_path_health(rows).await?;
        for (pair_id, role) in self.store.pins().await? {
            let Some(index) = self.config.pairs.iter().position(|p| p.id == pair_id) else {
                continue;
            };
            let wanted = match role.as_deref() {
                Some("primary") => Some(Role::Primary),
                Some("backup") => Some(Role::Backup),
                _ => None,
            };
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
