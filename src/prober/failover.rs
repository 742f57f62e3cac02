//! Failover for one primary/backup path pair: a pure decision that takes the
//! persisted [`PairState`], the two paths' health as [`PathView`]s and the time,
//! and returns the next state plus typed [`Action`]s (fail over, fail back,
//! alert). The driver applies a switch through the provider, records when it
//! did, posts the alerts and persists the state; it adopts the returned state
//! only once the switch is applied, so a failed apply is simply decided again
//! on the next tick.
//!
//! Invariants:
//! - Traffic only ever moves to a path that is usable (`Up` or `Degraded`):
//!   never to one that is `Down` or has not answered yet (`Unknown`).
//! - Switches alternate: fail over, fail back, fail over… never two of a kind
//!   in a row.
//! - Failback waits until the primary has been `Up` for the current hold-down
//!   *and* the hold-down since the failover has passed. Each failover within
//!   `flap_memory_ms` of the previous one multiplies the hold-down (capped);
//!   a quiet `flap_memory_ms` on the primary brings it back to the base. So a
//!   link bouncing every few seconds costs at most one failover and one
//!   failback per hold-down. The one exception is deliberate: when the backup
//!   carrying the traffic goes down and the primary answers, traffic goes back
//!   at once, since a live path beats the hold-down.
//! - A pinned pair never moves except to its pinned path.
//! - Dry run emits alerts only; it follows a simulated active path so its
//!   alerts say what would have happened, once each.
//! - Each alert is raised once per condition; health alerts escalate at once
//!   and give the all-clear only after the path has been up for the base
//!   hold-down, so a flapping path does not flood the chat.

use super::health::{At, DegradedReason, Health, PathHealth};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A path's id, as the estate and the chat name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PathId(String);

impl PathId {
    const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<PathId, FailoverError> {
        let bad = |why: &'static str| FailoverError::BadPathId {
            raw: raw.chars().take(40).collect(),
            why,
        };
        let id = raw.trim();
        if id.is_empty() {
            return Err(bad("it is empty"));
        }
        if id.len() > Self::MAX_LEN {
            return Err(bad("it is longer than 128 bytes"));
        }
        if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains spaces or control characters"));
        }
        Ok(PathId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PathId {
    type Error = FailoverError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        PathId::parse(&raw)
    }
}

impl From<PathId> for String {
    fn from(id: PathId) -> String {
        id.0
    }
}

impl fmt::Display for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which side of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Primary,
    Backup,
}

impl Role {
    pub fn other(self) -> Role {
        match self {
            Role::Primary => Role::Backup,
            Role::Backup => Role::Primary,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        })
    }
}

/// Tuning of the failover decision. Check with [`FailoverConfig::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailoverConfig {
    /// Base hold-down: how long the primary must be up before failback.
    pub hold_down_ms: u64,
    /// Cap on the escalated hold-down.
    pub max_hold_down_ms: u64,
    /// Each failover within `flap_memory_ms` of the previous one multiplies
    /// the hold-down by this (1 disables escalation).
    pub flap_penalty_factor: u32,
    /// How long a failover counts as recent; also the quiet time after which
    /// the hold-down decays back to the base.
    pub flap_memory_ms: u64,
    /// Alerts only: never emit a switch.
    pub dry_run: bool,
    /// How often an alert that stays true (both paths down) is repeated.
    pub remind_every_ms: u64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            hold_down_ms: 300_000,
            max_hold_down_ms: 3_600_000,
            flap_penalty_factor: 2,
            flap_memory_ms: 3_600_000,
            dry_run: false,
            remind_every_ms: 1_800_000,
        }
    }
}

/// What is wrong with a failover config or a path pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailoverError {
    #[error(
        "failover.hold_down_ms must be at least 1: without a hold-down a flapping primary \
         fails back and over on every bounce"
    )]
    NoHoldDown,
    #[error("failover.max_hold_down_ms ({max}) is below failover.hold_down_ms ({base})")]
    MaxBelowBase { max: u64, base: u64 },
    #[error("failover.flap_penalty_factor must be at least 1 (1 disables escalation)")]
    NoPenaltyFactor,
    #[error("'{raw}' is not a path id: {why}")]
    BadPathId { raw: String, why: &'static str },
    #[error("primary and backup are the same path '{0}'")]
    SamePath(PathId),
}

impl FailoverConfig {
    pub fn validate(&self) -> Result<(), FailoverError> {
        if self.hold_down_ms == 0 {
            return Err(FailoverError::NoHoldDown);
        }
        if self.max_hold_down_ms < self.hold_down_ms {
            return Err(FailoverError::MaxBelowBase {
                max: self.max_hold_down_ms,
                base: self.hold_down_ms,
            });
        }
        if self.flap_penalty_factor == 0 {
            return Err(FailoverError::NoPenaltyFactor);
        }
        Ok(())
    }

    /// Base and cap, ordered even if the config was not validated.
    fn bounds(&self) -> (u64, u64) {
        (
            self.hold_down_ms,
            self.max_hold_down_ms.max(self.hold_down_ms),
        )
    }
}

/// What the failover decision needs to know about a path's health.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PathView {
    /// Not answered yet: not a target.
    Unknown,
    /// Up, stable since `since`.
    Up { since: At },
    /// Answering poorly: still a target, since it beats a dead path.
    Degraded { reason: DegradedReason },
    /// Down, detected at `since`.
    Down { since: At },
}

impl PathView {
    /// May carry traffic: `Up` or `Degraded`.
    pub fn is_usable(self) -> bool {
        matches!(self, PathView::Up { .. } | PathView::Degraded { .. })
    }

    fn up_ms(self, now: At) -> u64 {
        match self {
            PathView::Up { since } => now.ms_since(since),
            _ => 0,
        }
    }

    fn down_since(self) -> Option<At> {
        match self {
            PathView::Down { since } => Some(since),
            _ => None,
        }
    }
}

impl From<&Health> for PathView {
    fn from(health: &Health) -> PathView {
        match health {
            Health::Unknown => PathView::Unknown,
            Health::Up { since } => PathView::Up { since: *since },
            Health::Degraded { reason, .. } => PathView::Degraded { reason: *reason },
            Health::Down { since, .. } => PathView::Down { since: *since },
        }
    }
}

impl From<&PathHealth> for PathView {
    fn from(path: &PathHealth) -> PathView {
        PathView::from(path.health())
    }
}

/// Why traffic moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchCause {
    /// The primary carried the traffic and went down.
    PrimaryDown,
    /// The primary has been up for the hold-down.
    PrimaryStable,
    /// The backup carried the traffic and went down while the primary answers.
    BackupDown,
    /// A person pinned the other path.
    Pinned,
}

/// The last switch that was decided (dry-run switches are not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchRecord {
    pub from: Role,
    pub to: Role,
    pub cause: SwitchCause,
    /// When the cause was detected (for a down path: the sample that made it down).
    pub detected_at: At,
    /// When the switch was decided.
    pub decided_at: At,
    /// When the driver applied it, see [`PairState::record_applied`].
    pub applied_at: Option<At>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    FailingOver,
    FailingBack,
    DryRunWouldFailOver,
    DryRunWouldFailBack,
    /// The active path is down and the other one is not usable either.
    NoBackupAvailable,
    /// The pinned path is down (traffic is not moved because of the pin).
    PinnedPathDown,
    /// A path went down without any switch or pair alert saying so.
    PathDown {
        role: Role,
    },
    Degraded {
        role: Role,
    },
    /// All clear: up for the base hold-down after being reported down or degraded.
    Recovered {
        role: Role,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub severity: Severity,
    pub kind: AlertKind,
    pub text: String,
}

/// What the driver must do. A switch's roles follow from its kind: a failover
/// moves traffic from the primary to the backup, a failback the other way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    FailOver { detected_at: At, cause: SwitchCause },
    FailBack { detected_at: At, cause: SwitchCause },
    Alert(Alert),
}

impl Action {
    /// `(from, to)` for a switch, `None` for an alert.
    pub fn roles(&self) -> Option<(Role, Role)> {
        match self {
            Action::FailOver { .. } => Some((Role::Primary, Role::Backup)),
            Action::FailBack { .. } => Some((Role::Backup, Role::Primary)),
            Action::Alert(_) => None,
        }
    }
}

/// How bad a path was last reported; health alerts fire when this rises and
/// the all-clear when it falls back to `Fine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reported {
    #[default]
    Fine,
    Degraded,
    Down,
}

/// Which alerts are currently raised, so none repeats while its condition lasts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Raised {
    primary: Reported,
    backup: Reported,
    no_backup: bool,
    pinned_down: bool,
}

impl Raised {
    fn path(&mut self, role: Role) -> &mut Reported {
        match role {
            Role::Primary => &mut self.primary,
            Role::Backup => &mut self.backup,
        }
    }
}

/// Everything the failover for one pair remembers; persisted by the driver
/// so a restart comes back knowing which path is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairState {
    primary: PathId,
    backup: PathId,
    /// The path that really carries the traffic.
    active: Role,
    /// Dry run only: where traffic would be had switches been applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    simulated_active: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pinned: Option<Role>,
    /// No failback before this (set by each failover).
    #[serde(default)]
    hold_down_until: Option<At>,
    current_hold_down_ms: u64,
    #[serde(default)]
    last_failover_at: Option<At>,
    #[serde(default)]
    last_switch: Option<SwitchRecord>,
    #[serde(default)]
    raised: Raised,
}

impl PairState {
    /// A fresh pair with traffic on the primary.
    pub fn new(
        primary: PathId,
        backup: PathId,
        config: &FailoverConfig,
    ) -> Result<PairState, FailoverError> {
        if primary == backup {
            return Err(FailoverError::SamePath(primary));
        }
        Ok(PairState {
            primary,
            backup,
            active: Role::Primary,
            simulated_active: None,
            pinned: None,
            hold_down_until: None,
            current_hold_down_ms: config.hold_down_ms,
            last_failover_at: None,
            last_switch: None,
            raised: Raised::default(),
        })
    }

    pub fn path(&self, role: Role) -> &PathId {
        match role {
            Role::Primary => &self.primary,
            Role::Backup => &self.backup,
        }
    }

    /// The role that really carries traffic.
    pub fn active(&self) -> Role {
        self.active
    }

    pub fn active_path(&self) -> &PathId {
        self.path(self.active)
    }

    /// In dry run, where traffic would be; `None` outside dry run or before
    /// the first simulated switch.
    pub fn simulated_active(&self) -> Option<Role> {
        self.simulated_active
    }

    pub fn pinned(&self) -> Option<Role> {
        self.pinned
    }

    pub fn hold_down_until(&self) -> Option<At> {
        self.hold_down_until
    }

    pub fn current_hold_down_ms(&self) -> u64 {
        self.current_hold_down_ms
    }

    pub fn last_switch(&self) -> Option<&SwitchRecord> {
        self.last_switch.as_ref()
    }

    /// Keeps traffic on `role`; the next [`decide`] moves it there if needed
    /// and the path is usable.
    pub fn pin(&self, role: Role) -> PairState {
        let mut next = self.clone();
        next.pinned = Some(role);
        next.raised.pinned_down = false;
        next
    }

    /// Hands the pair back to the automatic rules from the next [`decide`].
    pub fn unpin(&self) -> PairState {
        let mut next = self.clone();
        next.pinned = None;
        next.raised.pinned_down = false;
        next
    }

    /// Nothing raised, and traffic where it belongs (the primary, or where
    /// a pin holds it): an incident about the pair is over.
    pub fn quiet(&self) -> bool {
        self.raised == Raised::default()
            && (self.pinned.is_some() || self.acting() == Role::Primary)
    }

    /// Both paths down: no switch can help.
    pub fn both_down(&self) -> bool {
        self.raised.no_backup
    }

    /// Notes when the driver applied the last switch.
    pub fn record_applied(&self, at: At) -> PairState {
        let mut next = self.clone();
        if let Some(record) = next.last_switch.as_mut() {
            record.applied_at = Some(at);
        }
        next
    }

    /// Where traffic is for the rules: the simulated path in dry run.
    fn acting(&self) -> Role {
        self.simulated_active.unwrap_or(self.active)
    }
}

/// One tick of the failover rules for a pair. See the module doc for the rules.
pub fn decide(
    state: &PairState,
    config: &FailoverConfig,
    now: At,
    primary: PathView,
    backup: PathView,
) -> (PairState, Vec<Action>) {
    let mut tick = Tick {
        next: state.clone(),
        config,
        now,
        primary,
        backup,
        actions: Vec::new(),
    };
    tick.settle_hold_down();
    tick.route();
    tick.report_paths();
    (tick.next, tick.actions)
}

struct Tick<'a> {
    next: PairState,
    config: &'a FailoverConfig,
    now: At,
    primary: PathView,
    backup: PathView,
    actions: Vec<Action>,
}

impl Tick<'_> {
    fn view(&self, role: Role) -> PathView {
        match role {
            Role::Primary => self.primary,
            Role::Backup => self.backup,
        }
    }

    fn named(&self, role: Role) -> String {
        format!("{role} path {}", self.next.path(role))
    }

    fn alert(&mut self, severity: Severity, kind: AlertKind, text: String) {
        self.actions.push(Action::Alert(Alert {
            severity,
            kind,
            text,
        }));
    }

    fn settle_hold_down(&mut self) {
        if !self.config.dry_run {
            self.next.simulated_active = None;
        }
        let (base, cap) = self.config.bounds();
        let n = &mut self.next;
        n.current_hold_down_ms = n.current_hold_down_ms.clamp(base, cap);
        let recent = n
            .last_failover_at
            .is_some_and(|at| self.now.ms_since(at) <= self.config.flap_memory_ms);
        // Only on the primary: shortening a hold-down under way would let a
        // flapping primary back early.
        if !recent && n.acting() == Role::Primary {
            n.current_hold_down_ms = base;
        }
    }

    fn route(&mut self) {
        let acting = self.next.acting();
        let acting_down = self.view(acting).down_since();
        if let Some(pin) = self.next.pinned {
            self.next.raised.no_backup = false;
            self.route_pinned(pin, acting);
            return;
        }
        self.next.raised.pinned_down = false;
        if let Some(since) = acting_down {
            let standby = acting.other();
            if self.view(standby).is_usable() {
                let cause = match acting {
                    Role::Primary => SwitchCause::PrimaryDown,
                    Role::Backup => SwitchCause::BackupDown,
                };
                self.switch(standby, cause, since);
            } else {
                self.no_backup(acting, since);
            }
            return;
        }
        // Cleared only once the all-clear is given, so a primary bouncing
        // over a dead backup does not repeat the alert on every bounce.
        if *self.next.raised.path(acting) == Reported::Fine {
            self.next.raised.no_backup = false;
        }
        if acting == Role::Backup {
            if let PathView::Up { since } = self.primary {
                let stable_ms = self.now.ms_since(since);
                let held = self.next.hold_down_until.is_some_and(|u| self.now < u);
                if stable_ms >= self.next.current_hold_down_ms && !held {
                    self.switch(Role::Primary, SwitchCause::PrimaryStable, self.now);
                    // The failback alert is the all-clear for the primary.
                    *self.next.raised.path(Role::Primary) = Reported::Fine;
                }
            }
        }
    }

    fn route_pinned(&mut self, pin: Role, acting: Role) {
        let pinned_view = self.view(pin);
        if pin != acting && pinned_view.is_usable() {
            self.switch(pin, SwitchCause::Pinned, self.now);
            return;
        }
        let Some(since) = pinned_view.down_since() else {
            // Pinned path answers, or a pending pin waits for a first reply.
            // As for health alerts, a bouncing pinned path alerts once.
            if *self.next.raised.path(pin) == Reported::Fine {
                self.next.raised.pinned_down = false;
            }
            return;
        };
        if self.next.raised.pinned_down {
            return;
        }
        self.next.raised.pinned_down = true;
        *self.next.raised.path(pin) = Reported::Down;
        let (severity, tail) = if pin == acting {
            (
                Severity::Critical,
                " and carries the traffic; it stays there while pinned (unpin to allow failover)"
                    .to_string(),
            )
        } else {
            (
                Severity::Warning,
                format!(", so traffic stays on {}", self.named(acting)),
            )
        };
        let text = format!(
            "{} is pinned but down (detected {since}){tail}",
            self.named(pin)
        );
        self.alert(severity, AlertKind::PinnedPathDown, text);
    }

    fn no_backup(&mut self, acting: Role, since: At) {
        if self.next.raised.no_backup {
            return;
        }
        self.next.raised.no_backup = true;
        let standby = acting.other();
        *self.next.raised.path(acting) = Reported::Down;
        let standby_state = match self.view(standby) {
            PathView::Down { since } => {
                *self.next.raised.path(standby) = Reported::Down;
                format!("down too (detected {since})")
            }
            _ => "not answering yet".to_string(),
        };
        let text = format!(
            "{} is down (detected {since}) and {} is {standby_state}: no backup available, \
             nothing switched",
            self.named(acting),
            self.named(standby),
        );
        self.alert(Severity::Critical, AlertKind::NoBackupAvailable, text);
    }

    /// Moves (or, in dry run, would move) traffic to `to`, which the caller
    /// has checked is usable.
    fn switch(&mut self, to: Role, cause: SwitchCause, detected_at: At) {
        let from = to.other();
        let now = self.now;
        if to == Role::Backup && cause != SwitchCause::Pinned {
            let (base, cap) = self.config.bounds();
            let n = &mut self.next;
            let recent = n
                .last_failover_at
                .is_some_and(|at| now.ms_since(at) <= self.config.flap_memory_ms);
            n.current_hold_down_ms = if recent {
                n.current_hold_down_ms
                    .saturating_mul(u64::from(self.config.flap_penalty_factor))
                    .clamp(base, cap)
            } else {
                base
            };
            n.hold_down_until = Some(now.plus_ms(n.current_hold_down_ms));
            n.last_failover_at = Some(now);
        }
        if matches!(cause, SwitchCause::PrimaryDown | SwitchCause::BackupDown) {
            *self.next.raised.path(from) = Reported::Down;
        }
        let what = match cause {
            SwitchCause::PrimaryDown => format!(
                "{} is down (detected {detected_at}): failing over to {}; failback once it has \
                 been up for {}",
                self.named(from),
                self.named(to),
                duration(self.next.current_hold_down_ms),
            ),
            SwitchCause::BackupDown => format!(
                "{} is down (detected {detected_at}) and {} answers: failing back now, \
                 before its hold-down ends",
                self.named(from),
                self.named(to),
            ),
            SwitchCause::PrimaryStable => format!(
                "{} has been up for {}: failing back from {}",
                self.named(to),
                duration(self.view(to).up_ms(now)),
                self.named(from),
            ),
            SwitchCause::Pinned => format!(
                "{} is pinned: moving traffic to it from {}",
                self.named(to),
                self.named(from),
            ),
        };
        let severity = match cause {
            SwitchCause::PrimaryDown | SwitchCause::BackupDown => Severity::Warning,
            SwitchCause::PrimaryStable | SwitchCause::Pinned => Severity::Info,
        };
        let (real, simulated) = match to {
            Role::Backup => (AlertKind::FailingOver, AlertKind::DryRunWouldFailOver),
            Role::Primary => (AlertKind::FailingBack, AlertKind::DryRunWouldFailBack),
        };
        self.next.raised.no_backup = false;
        self.next.raised.pinned_down = false;
        if self.config.dry_run {
            self.next.simulated_active = Some(to);
            self.alert(
                severity,
                simulated,
                format!("dry run, nothing changed: {what}"),
            );
            return;
        }
        self.next.active = to;
        self.next.last_switch = Some(SwitchRecord {
            from,
            to,
            cause,
            detected_at,
            decided_at: now,
            applied_at: None,
        });
        self.actions.push(match to {
            Role::Backup => Action::FailOver { detected_at, cause },
            Role::Primary => Action::FailBack { detected_at, cause },
        });
        self.alert(severity, real, what);
    }

    /// Health alerts for what no switch or pair alert has already said.
    fn report_paths(&mut self) {
        let acting = self.next.acting();
        for role in [Role::Primary, Role::Backup] {
            let view = self.view(role);
            let reported = *self.next.raised.path(role);
            match view {
                PathView::Unknown => {}
                PathView::Up { since } => {
                    let stable = self.now.ms_since(since) >= self.config.hold_down_ms;
                    if reported != Reported::Fine && stable {
                        *self.next.raised.path(role) = Reported::Fine;
                        let text = format!(
                            "{} is up again (for {})",
                            self.named(role),
                            duration(self.now.ms_since(since))
                        );
                        self.alert(Severity::Info, AlertKind::Recovered { role }, text);
                    }
                }
                PathView::Degraded { reason } => {
                    if reported < Reported::Degraded {
                        *self.next.raised.path(role) = Reported::Degraded;
                        let text = format!("{} is degraded: {reason}", self.named(role));
                        self.alert(Severity::Warning, AlertKind::Degraded { role }, text);
                    }
                }
                PathView::Down { since } => {
                    if reported < Reported::Down {
                        *self.next.raised.path(role) = Reported::Down;
                        let (severity, tail) = if role == acting {
                            (Severity::Critical, "and carries the traffic")
                        } else {
                            (
                                Severity::Warning,
                                "; no failover protection until it recovers",
                            )
                        };
                        let text = format!("{} is down (detected {since}){tail}", self.named(role));
                        self.alert(severity, AlertKind::PathDown { role }, text);
                    }
                }
            }
        }
    }
}

/// A hold-down or uptime the way a person reads it.
fn duration(ms: u64) -> String {
    if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else if ms >= 1_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prober::health::{HealthConfig, LossReason, Sample};
    use proptest::prelude::*;

    const TICK: u64 = 100;

    fn pair(config: &FailoverConfig) -> PairState {
        PairState::new(
            PathId::parse("aws-gcp-vpn").unwrap(),
            PathId::parse("aws-gcp-interconnect").unwrap(),
            config,
        )
        .unwrap()
    }

    fn up(since: u64) -> PathView {
        PathView::Up { since: At(since) }
    }

    fn down(since: u64) -> PathView {
        PathView::Down { since: At(since) }
    }

    fn failover(detected_at: u64, cause: SwitchCause) -> Action {
        Action::FailOver {
            detected_at: At(detected_at),
            cause,
        }
    }

    fn failback(detected_at: u64, cause: SwitchCause) -> Action {
        Action::FailBack {
            detected_at: At(detected_at),
            cause,
        }
    }

    /// A fresh pair that failed over at 1 s.
    fn on_backup(config: &FailoverConfig) -> PairState {
        decide(&pair(config), config, At(1_000), down(1_000), up(0)).0
    }

    fn alerts(actions: &[Action]) -> Vec<&Alert> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Alert(alert) => Some(alert),
                _ => None,
            })
            .collect()
    }

    fn switches(actions: &[Action]) -> Vec<&Action> {
        actions.iter().filter(|a| a.roles().is_some()).collect()
    }

    /// Two health machines probed every 100 ms and one pair, as the driver
    /// would run them.
    struct Sim {
        primary: PathHealth,
        backup: PathHealth,
        state: PairState,
        config: FailoverConfig,
        failovers: Vec<At>,
        failbacks: Vec<At>,
        alerts: Vec<(At, Alert)>,
    }

    impl Sim {
        fn new(config: FailoverConfig) -> Sim {
            Sim {
                primary: PathHealth::new(HealthConfig::default()).unwrap(),
                backup: PathHealth::new(HealthConfig::default()).unwrap(),
                state: pair(&config),
                config,
                failovers: Vec::new(),
                failbacks: Vec::new(),
                alerts: Vec::new(),
            }
        }

        fn tick(&mut self, t: u64, primary_ok: bool, backup_ok: bool) -> Vec<Action> {
            for (path, ok) in [
                (&mut self.primary, primary_ok),
                (&mut self.backup, backup_ok),
            ] {
                path.observe(if ok {
                    Sample::reply(At(t), 20.0)
                } else {
                    Sample::lost(At(t), LossReason::Timeout)
                });
            }
            let (next, actions) = decide(
                &self.state,
                &self.config,
                At(t),
                PathView::from(&self.primary),
                PathView::from(&self.backup),
            );
            self.state = next;
            for action in &actions {
                match action {
                    Action::FailOver { .. } => self.failovers.push(At(t)),
                    Action::FailBack { .. } => self.failbacks.push(At(t)),
                    Action::Alert(alert) => self.alerts.push((At(t), alert.clone())),
                }
            }
            actions
        }

        /// Ticks from `from` (inclusive) to `to` (exclusive).
        fn run(&mut self, from: u64, to: u64, pattern: impl Fn(u64) -> (bool, bool)) {
            for t in (from..to).step_by(TICK as usize) {
                let (p, b) = pattern(t);
                self.tick(t, p, b);
            }
        }
    }

    /// Switch times of one kind are at least `gap` apart: at most one per
    /// window of that length.
    fn spaced(times: &[At], gap: u64) -> bool {
        times.windows(2).all(|w| w[1].ms_since(w[0]) >= gap)
    }

    #[test]
    fn fails_over_when_the_primary_is_down_and_the_backup_up() {
        let config = FailoverConfig::default();
        let (state, actions) = decide(&pair(&config), &config, At(5_000), down(4_800), up(0));
        assert_eq!(
            switches(&actions),
            [&failover(4_800, SwitchCause::PrimaryDown)]
        );
        assert_eq!(state.active(), Role::Backup);
        assert_eq!(state.active_path().as_str(), "aws-gcp-interconnect");
        let record = state.last_switch().unwrap();
        assert_eq!(
            (record.detected_at, record.decided_at, record.applied_at),
            (At(4_800), At(5_000), None)
        );
        assert_eq!(
            state
                .record_applied(At(5_900))
                .last_switch()
                .unwrap()
                .applied_at,
            Some(At(5_900))
        );
        let alerts = alerts(&actions);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::FailingOver);
        assert_eq!(alerts[0].severity, Severity::Warning);
        assert!(alerts[0].text.contains("aws-gcp-vpn") && alerts[0].text.contains("5 min"));
    }

    #[test]
    fn detection_lands_on_the_third_lost_probe_and_failover_on_that_tick() {
        let mut sim = Sim::new(FailoverConfig::default());
        sim.run(0, 2_000, |_| (true, true));
        sim.run(2_000, 3_000, |_| (false, true));
        // Losses at 2.0, 2.1, 2.2 s: down and failed over at 2.2 s, i.e.
        // within threshold × interval of the first loss.
        assert_eq!(sim.failovers, [At(2_200)]);
        assert_eq!(sim.state.last_switch().unwrap().detected_at, At(2_200));
    }

    #[test]
    fn a_degraded_backup_is_still_a_failover_target() {
        let config = FailoverConfig::default();
        let degraded = PathView::Degraded {
            reason: DegradedReason::Loss { percent: 10.0 },
        };
        let (state, _) = decide(&pair(&config), &config, At(1_000), down(900), degraded);
        assert_eq!(state.active(), Role::Backup);
    }

    #[test]
    fn no_action_and_one_critical_alert_when_both_paths_are_down() {
        let mut sim = Sim::new(FailoverConfig::default());
        sim.run(0, 1_000, |_| (true, true));
        sim.run(1_000, 60_000, |_| (false, false));
        assert!(sim.failovers.is_empty());
        assert_eq!(sim.state.active(), Role::Primary);
        assert_eq!(sim.alerts.len(), 1, "{:?}", sim.alerts);
        let (at, alert) = &sim.alerts[0];
        assert_eq!(*at, At(1_200));
        assert_eq!(alert.kind, AlertKind::NoBackupAvailable);
        assert_eq!(alert.severity, Severity::Critical);
        // Once the backup answers again, traffic moves to it.
        sim.run(60_000, 61_000, |_| (false, true));
        assert_eq!(sim.failovers.len(), 1);
    }

    #[test]
    fn a_primary_bouncing_over_a_dead_backup_raises_no_backup_once() {
        let mut sim = Sim::new(FailoverConfig::default());
        sim.run(0, 1_000, |_| (true, true));
        sim.run(1_000, 600_000, |t| ((t / 2_000) % 2 == 0, false));
        assert!(sim.failovers.is_empty());
        let kinds: Vec<AlertKind> = sim.alerts.iter().map(|(_, a)| a.kind).collect();
        assert_eq!(
            kinds,
            [
                AlertKind::PathDown { role: Role::Backup },
                AlertKind::NoBackupAvailable
            ]
        );
    }

    #[test]
    fn a_backup_that_has_not_answered_yet_is_not_a_target() {
        let config = FailoverConfig::default();
        let (state, actions) = decide(
            &pair(&config),
            &config,
            At(1_000),
            down(900),
            PathView::Unknown,
        );
        assert_eq!(state.active(), Role::Primary);
        assert!(switches(&actions).is_empty());
        assert_eq!(alerts(&actions)[0].kind, AlertKind::NoBackupAvailable);
        assert!(alerts(&actions)[0].text.contains("not answering yet"));
    }

    #[test]
    fn no_failback_before_the_hold_down_and_failback_after() {
        let config = FailoverConfig::default();
        let state = on_backup(&config);
        // The primary is back at 2 s; 300 s of stability are due at 302 s.
        let (held, actions) = decide(&state, &config, At(301_999), up(2_000), up(0));
        assert!(switches(&actions).is_empty());
        assert_eq!(held.active(), Role::Backup);
        let (back, actions) = decide(&held, &config, At(302_000), up(2_000), up(0));
        assert_eq!(
            switches(&actions),
            [&failback(302_000, SwitchCause::PrimaryStable)]
        );
        assert_eq!(back.active(), Role::Primary);
        assert_eq!(alerts(&actions)[0].kind, AlertKind::FailingBack);
    }

    #[test]
    fn failback_also_waits_for_the_hold_down_since_the_failover() {
        // A primary whose `since` predates the failover (a stale view) still
        // cannot come back before the hold-down measured from the failover.
        let config = FailoverConfig::default();
        let state = on_backup(&config);
        let (held, actions) = decide(&state, &config, At(2_000), up(0), up(0));
        assert!(switches(&actions).is_empty());
        let (_, actions) = decide(&held, &config, At(301_000), up(0), up(0));
        assert_eq!(switches(&actions).len(), 1);
    }

    #[test]
    fn a_flapping_primary_causes_exactly_one_failover_and_one_failback() {
        // Down 2 s / up 2 s for 30 minutes with 100 ms probes, then stable.
        let mut sim = Sim::new(FailoverConfig::default());
        let flapping_until = 1_800_000;
        sim.run(0, 2_400_000, |t| {
            let up = t >= flapping_until || (t / 2_000) % 2 == 0;
            (up, true)
        });
        assert_eq!(sim.failovers, [At(2_200)]);
        // The last down phase ends at 1 800 s; recovery takes 5 probes, so the
        // primary is up from 1 800.4 s and fails back 300 s later.
        assert_eq!(sim.failbacks, [At(1_800_400 + 300_000)]);
        let hold = sim.config.hold_down_ms;
        assert!(spaced(&sim.failovers, hold) && spaced(&sim.failbacks, hold));
        // Chat sees the failover and the failback, nothing per bounce.
        let kinds: Vec<AlertKind> = sim.alerts.iter().map(|(_, a)| a.kind).collect();
        assert_eq!(kinds, [AlertKind::FailingOver, AlertKind::FailingBack]);
    }

    #[test]
    fn repeated_failovers_double_the_hold_down_and_a_quiet_hour_resets_it() {
        let mut sim = Sim::new(FailoverConfig::default());
        // Down 10 s at 60 s, 420 s and 780 s; up otherwise; down again at 4 100 s.
        let pattern = |t: u64| {
            let outage = [60_000, 420_000, 780_000, 4_100_000]
                .iter()
                .any(|start| (*start..start + 10_000).contains(&t));
            (!outage, true)
        };
        sim.run(0, 4_200_000, pattern);
        assert_eq!(
            sim.failovers,
            [At(60_200), At(420_200), At(4_100_200)],
            "the outage at 780 s hits while traffic is already on the backup"
        );
        // First failback after 300 s up; the second failover doubled the
        // hold-down to 600 s, which the primary only meets after 780 s.
        assert_eq!(sim.failbacks, [At(70_400 + 300_000), At(790_400 + 600_000)]);
        // The third failover comes more than an hour after the second: base again.
        assert_eq!(sim.state.current_hold_down_ms(), 300_000);
        assert_eq!(sim.state.hold_down_until(), Some(At(4_100_200 + 300_000)));
    }

    #[test]
    fn escalation_is_capped_at_the_maximum_hold_down() {
        let config = FailoverConfig {
            hold_down_ms: 1_000,
            max_hold_down_ms: 3_000,
            ..FailoverConfig::default()
        };
        let mut state = pair(&config);
        let mut t = 0;
        let mut holds = Vec::new();
        for _ in 0..4 {
            let (s, _) = decide(&state, &config, At(t), down(t), up(0));
            holds.push(s.current_hold_down_ms());
            t += s.current_hold_down_ms();
            let (s, _) = decide(&s, &config, At(t), up(t - s.current_hold_down_ms()), up(0));
            assert_eq!(s.active(), Role::Primary);
            state = s;
            t += 10;
        }
        assert_eq!(holds, [1_000, 2_000, 3_000, 3_000]);
    }

    #[test]
    fn backup_going_down_fails_back_at_once_to_an_answering_primary() {
        let config = FailoverConfig::default();
        let state = on_backup(&config);
        // Primary answers again since 5 s (far from stable) and the backup dies.
        let (state, actions) = decide(&state, &config, At(6_000), up(5_000), down(5_900));
        assert_eq!(
            switches(&actions),
            [&failback(5_900, SwitchCause::BackupDown)]
        );
        assert_eq!(state.active(), Role::Primary);
        assert_eq!(alerts(&actions)[0].severity, Severity::Warning);
    }

    #[test]
    fn dry_run_emits_only_alerts_once_each() {
        let config = FailoverConfig {
            dry_run: true,
            ..FailoverConfig::default()
        };
        let mut sim = Sim::new(config);
        sim.run(0, 1_000, |_| (true, true));
        sim.run(1_000, 60_000, |_| (false, true));
        sim.run(60_000, 400_000, |_| (true, true));
        assert!(sim.failovers.is_empty() && sim.failbacks.is_empty());
        assert_eq!(sim.state.active(), Role::Primary);
        let kinds: Vec<(At, AlertKind)> = sim.alerts.iter().map(|(t, a)| (*t, a.kind)).collect();
        assert_eq!(
            kinds,
            [
                (At(1_200), AlertKind::DryRunWouldFailOver),
                (At(60_400 + 300_000), AlertKind::DryRunWouldFailBack),
            ]
        );
        assert!(sim.alerts[0].1.text.starts_with("dry run"));
    }

    #[test]
    fn leaving_dry_run_acts_on_the_real_active_path() {
        let dry = FailoverConfig {
            dry_run: true,
            ..FailoverConfig::default()
        };
        let (state, _) = decide(&pair(&dry), &dry, At(1_000), down(1_000), up(0));
        assert_eq!(state.simulated_active(), Some(Role::Backup));
        let live = FailoverConfig::default();
        let (state, actions) = decide(&state, &live, At(1_100), down(1_000), up(0));
        assert_eq!(state.simulated_active(), None);
        assert_eq!(state.active(), Role::Backup);
        assert_eq!(switches(&actions).len(), 1);
    }

    #[test]
    fn a_pin_moves_traffic_once_and_holds_it_until_unpinned() {
        let config = FailoverConfig::default();
        let state = pair(&config).pin(Role::Backup);
        let (state, actions) = decide(&state, &config, At(1_000), up(0), up(0));
        assert_eq!(switches(&actions), [&failover(1_000, SwitchCause::Pinned)]);
        // A long-stable primary does not pull traffic back while pinned…
        let (state, actions) = decide(&state, &config, At(10_000_000), up(0), up(0));
        assert!(actions.is_empty());
        assert_eq!(state.active(), Role::Backup);
        // …nor does a dead backup: one alert, no switch, no repeat.
        let (state, actions) = decide(&state, &config, At(10_000_100), up(0), down(10_000_100));
        assert!(switches(&actions).is_empty());
        assert_eq!(alerts(&actions)[0].kind, AlertKind::PinnedPathDown);
        assert_eq!(alerts(&actions)[0].severity, Severity::Critical);
        let (state, actions) = decide(&state, &config, At(10_000_200), up(0), down(10_000_100));
        assert!(actions.is_empty());
        // Unpinned, the rules apply again: the backup is down, back to primary.
        let (state, actions) = decide(
            &state.unpin(),
            &config,
            At(10_000_300),
            up(0),
            down(10_000_100),
        );
        assert_eq!(switches(&actions).len(), 1);
        assert_eq!(state.active(), Role::Primary);
        assert_eq!(state.pinned(), None);
    }

    #[test]
    fn pinning_a_down_path_alerts_and_moves_nothing() {
        let config = FailoverConfig::default();
        let state = pair(&config).pin(Role::Backup);
        let (state, actions) = decide(&state, &config, At(1_000), up(0), down(900));
        assert!(switches(&actions).is_empty());
        assert_eq!(state.active(), Role::Primary);
        assert_eq!(alerts(&actions)[0].kind, AlertKind::PinnedPathDown);
        assert_eq!(alerts(&actions)[0].severity, Severity::Warning);
        // It moves once the pinned path answers.
        let (state, _) = decide(&state, &config, At(2_000), up(0), up(1_900));
        assert_eq!(state.active(), Role::Backup);
    }

    #[test]
    fn a_pinned_primary_that_dies_is_not_failed_over() {
        let config = FailoverConfig::default();
        let state = pair(&config).pin(Role::Primary);
        let (state, actions) = decide(&state, &config, At(1_000), down(900), up(0));
        assert_eq!(state.active(), Role::Primary);
        assert!(switches(&actions).is_empty());
        assert_eq!(alerts(&actions).len(), 1);
    }

    #[test]
    fn health_alerts_escalate_at_once_and_clear_after_a_stable_period() {
        let config = FailoverConfig::default();
        let state = pair(&config);
        let slow = PathView::Degraded {
            reason: DegradedReason::HighRtt {
                rtt_ms: 50.0,
                baseline_ms: 20.0,
            },
        };
        let (state, actions) = decide(&state, &config, At(0), up(0), slow);
        assert_eq!(
            alerts(&actions)[0].kind,
            AlertKind::Degraded { role: Role::Backup }
        );
        assert!(alerts(&actions)[0].text.contains("50.0 ms"));
        let (state, actions) = decide(&state, &config, At(100), up(0), down(100));
        assert_eq!(
            alerts(&actions)[0].kind,
            AlertKind::PathDown { role: Role::Backup }
        );
        // Up again, but not for the hold-down yet: no all-clear.
        let (state, actions) = decide(&state, &config, At(200), up(0), up(200));
        assert!(actions.is_empty());
        let (_, actions) = decide(&state, &config, At(300_200), up(0), up(200));
        assert_eq!(
            alerts(&actions)[0].kind,
            AlertKind::Recovered { role: Role::Backup }
        );
    }

    #[test]
    fn the_state_round_trips_through_json_and_a_restart_knows_the_active_path() {
        let config = FailoverConfig::default();
        let state = on_backup(&config);
        let state = state.pin(Role::Backup).record_applied(At(1_050));
        let json = serde_json::to_string(&state).unwrap();
        let back: PairState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.active_path().as_str(), "aws-gcp-interconnect");
        // After a restart both paths are unknown until probed: nothing moves.
        let (after, actions) = decide(
            &back,
            &config,
            At(2_000),
            PathView::Unknown,
            PathView::Unknown,
        );
        assert!(actions.is_empty());
        assert_eq!(after.active(), Role::Backup);
    }

    #[test]
    fn persisted_state_with_a_bad_path_id_is_refused() {
        let config = FailoverConfig::default();
        let json = serde_json::to_string(&pair(&config))
            .unwrap()
            .replace("aws-gcp-vpn", "aws gcp");
        let err = serde_json::from_str::<PairState>(&json).unwrap_err();
        assert!(err.to_string().contains("not a path id"));
    }

    #[test]
    fn nonsense_config_and_pairs_are_refused() {
        let bad = |config: FailoverConfig| config.validate().unwrap_err().to_string();
        let base = FailoverConfig::default();
        assert!(bad(FailoverConfig {
            hold_down_ms: 0,
            ..base.clone()
        })
        .contains("hold_down_ms"));
        assert!(bad(FailoverConfig {
            max_hold_down_ms: 1,
            ..base.clone()
        })
        .contains("max_hold_down_ms"));
        assert!(bad(FailoverConfig {
            flap_penalty_factor: 0,
            ..base.clone()
        })
        .contains("flap_penalty_factor"));
        assert!(base.validate().is_ok());
        let id = PathId::parse("p").unwrap();
        assert_eq!(
            PairState::new(id.clone(), id.clone(), &base),
            Err(FailoverError::SamePath(id))
        );
        assert!(PathId::parse("  ").is_err());
        assert!(PathId::parse(&"x".repeat(200)).is_err());
    }

    /// A path view relative to the tick's time, so `since` is never in the future.
    #[derive(Debug, Clone, Copy)]
    enum Gen {
        Unknown,
        Up(u64),
        Degraded,
        Down(u64),
    }

    impl Gen {
        fn at(self, now: u64) -> PathView {
            match self {
                Gen::Unknown => PathView::Unknown,
                Gen::Up(ago) => up(now.saturating_sub(ago)),
                Gen::Degraded => PathView::Degraded {
                    reason: DegradedReason::Loss { percent: 10.0 },
                },
                Gen::Down(ago) => down(now.saturating_sub(ago)),
            }
        }
    }

    fn arb_view() -> impl Strategy<Value = Gen> {
        prop_oneof![
            Just(Gen::Unknown),
            (0u64..5_000).prop_map(Gen::Up),
            Just(Gen::Degraded),
            (0u64..5_000).prop_map(Gen::Down),
        ]
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        Nothing,
        Pin(Role),
        Unpin,
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            20 => Just(Op::Nothing),
            1 => Just(Op::Pin(Role::Primary)),
            1 => Just(Op::Pin(Role::Backup)),
            2 => Just(Op::Unpin),
        ]
    }

    fn small_config(dry_run: bool) -> FailoverConfig {
        FailoverConfig {
            hold_down_ms: 1_000,
            max_hold_down_ms: 8_000,
            flap_penalty_factor: 2,
            flap_memory_ms: 8_000,
            dry_run,
            ..FailoverConfig::default()
        }
    }

    /// Checks one tick's actions against the views they were decided on and
    /// the previous switch; returns the last switch seen.
    fn check_switches(
        actions: &[Action],
        primary: PathView,
        backup: PathView,
        dry_run: bool,
        mut last: Option<Role>,
    ) -> Result<Option<Role>, TestCaseError> {
        for action in actions {
            if let Some((_, to)) = action.roles() {
                prop_assert!(!dry_run, "dry run emitted {action:?}");
                let target = if to == Role::Backup { backup } else { primary };
                prop_assert!(target.is_usable(), "{action:?} onto {target:?}");
                // Starting on the primary, switches alternate: over, back, over…
                prop_assert_ne!(last.unwrap_or(Role::Primary), to);
                last = Some(to);
            }
        }
        Ok(last)
    }

    proptest! {
        #[test]
        fn decide_never_switches_to_an_unusable_path_and_switches_alternate(
            dry_run in any::<bool>(),
            ticks in proptest::collection::vec(
                (0u64..3_000, arb_view(), arb_view(), arb_op()), 1..200),
        ) {
            let config = small_config(dry_run);
            let mut state = pair(&config);
            let mut last = None;
            let mut now = 0;
            for (dt, p, b, op) in ticks {
                now += dt;
                state = match op {
                    Op::Nothing => state,
                    Op::Pin(role) => state.pin(role),
                    Op::Unpin => state.unpin(),
                };
                let (primary, backup) = (p.at(now), b.at(now));
                let (next, actions) = decide(&state, &config, At(now), primary, backup);
                last = check_switches(&actions, primary, backup, dry_run, last)?;
                prop_assert_eq!(next.active(), last.unwrap_or(Role::Primary));
                state = next;
            }
        }

        #[test]
        fn probed_paths_never_fail_over_to_a_down_path(
            runs in proptest::collection::vec((any::<bool>(), any::<bool>(), 1u64..40), 1..60),
        ) {
            let config = small_config(false);
            let mut sim = Sim::new(config.clone());
            let mut last = None;
            let mut t = 0;
            for (p_ok, b_ok, len) in runs {
                for _ in 0..len {
                    let actions = sim.tick(t, p_ok, b_ok);
                    let (p, b) = (PathView::from(&sim.primary), PathView::from(&sim.backup));
                    last = check_switches(&actions, p, b, false, last)?;
                    t += TICK;
                }
            }
        }

        #[test]
        fn with_a_healthy_backup_a_flapping_primary_switches_once_per_hold_down(
            runs in proptest::collection::vec((any::<bool>(), 1u64..40), 1..80),
        ) {
            let config = small_config(false);
            let hold = config.hold_down_ms;
            let mut sim = Sim::new(config);
            let mut t = 0;
            for (p_ok, len) in runs {
                for _ in 0..len {
                    sim.tick(t, p_ok, true);
                    t += TICK;
                }
            }
            prop_assert!(spaced(&sim.failovers, hold), "{:?}", sim.failovers);
            prop_assert!(spaced(&sim.failbacks, hold), "{:?}", sim.failbacks);
            for (over, back) in sim.failovers.iter().zip(&sim.failbacks) {
                prop_assert!(back.ms_since(*over) >= hold);
            }
        }
    }
}
