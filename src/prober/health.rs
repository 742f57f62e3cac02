//! Per-path health: a pure machine that turns probe samples into
//! `Unknown` / `Up` / `Degraded` / `Down`. It owns the counters (consecutive
//! failures and successes), the rolling RTT baseline and the loss window, and
//! nothing else: no IO, no clock. Time arrives inside each [`Sample`] as an
//! [`At`], so the same sequence of samples always gives the same answers.
//!
//! Invariants:
//! - A path with no evidence is `Unknown` and not usable: it is never a
//!   failover target. The first reply makes it `Up`.
//! - `Down` happens on the sample that makes the consecutive failures reach
//!   `failure_threshold`, and carries that sample's time and the reason.
//!   Leaving `Down` takes `recovery_threshold` consecutive replies.
//! - The RTT baseline is the median of replies accepted while the path was
//!   `Up` and not slow, so a slow period or an outage never drags it up, and a
//!   lost probe never enters it.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;

/// A point in time: milliseconds since an epoch the driver chooses. The
/// machines only subtract and compare; arithmetic saturates, so a clock that
/// steps back can stretch or shorten a wait but never panics.
///
/// The failover pair state is persisted with `At` values inside it, so a
/// driver that persists it must use an epoch that survives a restart
/// (milliseconds since the Unix epoch, read at the edge).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct At(pub u64);

impl At {
    /// `ms` milliseconds later.
    pub fn plus_ms(self, ms: u64) -> At {
        At(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn ms_since(self, earlier: At) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// Tuning of the health machine. Check with [`HealthConfig::validate`];
/// [`PathHealth::new`] refuses a config that does not pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Consecutive lost probes that make a path `Down`.
    pub failure_threshold: u32,
    /// Consecutive replies that bring a `Down` path back.
    pub recovery_threshold: u32,
    /// Accepted replies needed before the RTT baseline exists (and so before
    /// high RTT can degrade the path).
    pub baseline_min_samples: usize,
    /// How many accepted replies the rolling median is taken over; also the
    /// window for [`PathHealth::rtt_stats`].
    pub baseline_window: usize,
    /// RTT above `degraded_rtt_factor × baseline` counts as high.
    pub degraded_rtt_factor: f64,
    /// Consecutive high-RTT replies that degrade the path. One slow reply among
    /// many is jitter, not a degraded path; the default is 2.
    pub high_rtt_samples: u32,
    /// Samples (replies and losses) the loss rate is measured over. Loss is
    /// judged when a reply arrives (a run of losses that ends in `Down` is an
    /// outage, not loss) and only once the window is full.
    pub loss_window: usize,
    /// Loss fraction (0.05 = 5 %) above which the path is degraded.
    pub max_loss: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            failure_threshold: 3,
            recovery_threshold: 5,
            baseline_min_samples: 10,
            baseline_window: 100,
            degraded_rtt_factor: 2.0,
            high_rtt_samples: 2,
            loss_window: 20,
            max_loss: 0.05,
        }
    }
}

/// Why a health config makes no sense. Messages name the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HealthConfigError {
    #[error("health.{field} must be at least 1 (got 0)")]
    Zero { field: &'static str },
    #[error("health.degraded_rtt_factor must be a finite number above 1 (got {0})")]
    RttFactor(f64),
    #[error("health.max_loss must be a fraction in [0, 1) (got {0}; 5 % is 0.05)")]
    MaxLoss(f64),
    #[error(
        "health.baseline_min_samples ({min}) exceeds health.baseline_window ({window}): \
         the baseline would never form"
    )]
    BaselineNeverForms { min: usize, window: usize },
}

impl HealthConfig {
    pub fn validate(&self) -> Result<(), HealthConfigError> {
        let counts = [
            ("failure_threshold", self.failure_threshold as usize),
            ("recovery_threshold", self.recovery_threshold as usize),
            ("high_rtt_samples", self.high_rtt_samples as usize),
            ("baseline_min_samples", self.baseline_min_samples),
            ("baseline_window", self.baseline_window),
            ("loss_window", self.loss_window),
        ];
        if let Some((field, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(HealthConfigError::Zero { field });
        }
        if !(self.degraded_rtt_factor.is_finite() && self.degraded_rtt_factor > 1.0) {
            return Err(HealthConfigError::RttFactor(self.degraded_rtt_factor));
        }
        if !(0.0..1.0).contains(&self.max_loss) {
            return Err(HealthConfigError::MaxLoss(self.max_loss));
        }
        if self.baseline_min_samples > self.baseline_window {
            return Err(HealthConfigError::BaselineNeverForms {
                min: self.baseline_min_samples,
                window: self.baseline_window,
            });
        }
        Ok(())
    }
}

/// Why a probe got no usable reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossReason {
    Timeout,
    Unreachable,
    Refused,
    /// A reply with an RTT that is not a finite, non-negative number: it proves
    /// nothing about the path, so it counts as lost.
    InvalidReply,
    /// Anything else, in a few words.
    Other(String),
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossReason::Timeout => f.write_str("timeout"),
            LossReason::Unreachable => f.write_str("unreachable"),
            LossReason::Refused => f.write_str("refused"),
            LossReason::InvalidReply => f.write_str("invalid reply"),
            LossReason::Other(text) => f.write_str(text),
        }
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Reply { rtt_ms: f64 },
    Lost { reason: LossReason },
}

/// One probe result and when it was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at: At,
    pub outcome: Outcome,
}

impl Sample {
    pub fn reply(at: At, rtt_ms: f64) -> Sample {
        Sample {
            at,
            outcome: Outcome::Reply { rtt_ms },
        }
    }

    pub fn lost(at: At, reason: LossReason) -> Sample {
        Sample {
            at,
            outcome: Outcome::Lost { reason },
        }
    }
}

/// Why a path that answers is not good enough.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DegradedReason {
    HighRtt { rtt_ms: f64, baseline_ms: f64 },
    Loss { percent: f64 },
}

impl DegradedReason {
    fn same_kind(&self, other: &DegradedReason) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl fmt::Display for DegradedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DegradedReason::HighRtt {
                rtt_ms,
                baseline_ms,
            } => write!(
                f,
                "RTT {rtt_ms:.1} ms against a baseline of {baseline_ms:.1} ms"
            ),
            DegradedReason::Loss { percent } => write!(f, "{percent:.1} % of probes lost"),
        }
    }
}

/// A path's health. Each state carries what a person needs to act on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    /// No reply yet (and fewer lost probes than the failure threshold).
    Unknown,
    /// Answering well since `since` (the last time it became `Up`).
    Up { since: At },
    /// Answering, but slowly or lossily, since `since`. The reason is the one
    /// it entered with; it is replaced only when the other kind takes over.
    Degraded { since: At, reason: DegradedReason },
    /// Not answering since `since` (the sample that reached the threshold).
    Down { since: At, reason: String },
}

/// A transition, reported by [`PathHealth::observe`] when the health changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthChange {
    pub from: Health,
    pub to: Health,
    pub at: At,
}

/// Average and 99th percentile RTT over the recent replies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RttStats {
    pub avg_ms: f64,
    pub p99_ms: f64,
    pub samples: usize,
}

/// The health machine for one path.
#[derive(Debug, Clone)]
pub struct PathHealth {
    config: HealthConfig,
    health: Health,
    consecutive_failures: u32,
    consecutive_successes: u32,
    consecutive_high_rtt: u32,
    /// Replies accepted into the baseline (Up and not slow), newest last.
    baseline: VecDeque<f64>,
    /// Every reply, newest last, for the RTT statistics.
    recent_rtts: VecDeque<f64>,
    /// Recent samples, `true` for a lost one. Restarted when the path leaves
    /// `Down`: the outage was already reported as `Down`, and counting it again
    /// would make every recovered path come back `Degraded`.
    losses: VecDeque<bool>,
}

impl PathHealth {
    pub fn new(config: HealthConfig) -> Result<PathHealth, HealthConfigError> {
        config.validate()?;
        Ok(PathHealth {
            baseline: VecDeque::with_capacity(config.baseline_window),
            recent_rtts: VecDeque::with_capacity(config.baseline_window),
            losses: VecDeque::with_capacity(config.loss_window),
            config,
            health: Health::Unknown,
            consecutive_failures: 0,
            consecutive_successes: 0,
            consecutive_high_rtt: 0,
        })
    }

    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    pub fn consecutive_successes(&self) -> u32 {
        self.consecutive_successes
    }

    /// Can carry traffic: `Up` or `Degraded`. `Unknown` and `Down` cannot.
    pub fn is_usable(&self) -> bool {
        matches!(self.health, Health::Up { .. } | Health::Degraded { .. })
    }

    /// When the path last became `Up`, if it is `Up` now.
    pub fn up_since(&self) -> Option<At> {
        match self.health {
            Health::Up { since } => Some(since),
            _ => None,
        }
    }

    /// Median of the accepted replies, once there are `baseline_min_samples`.
    pub fn baseline_ms(&self) -> Option<f64> {
        if self.baseline.len() < self.config.baseline_min_samples {
            return None;
        }
        let mut sorted: Vec<f64> = self.baseline.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        Some(if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        })
    }

    /// Percentage of lost samples in the loss window (0 when it is empty).
    pub fn loss_percent(&self) -> f64 {
        if self.losses.is_empty() {
            return 0.0;
        }
        let lost = self.losses.iter().filter(|lost| **lost).count();
        100.0 * lost as f64 / self.losses.len() as f64
    }

    /// Average and p99 (nearest rank) over the last `baseline_window`
    /// replies, slow ones included; `None` before the first reply.
    pub fn rtt_stats(&self) -> Option<RttStats> {
        if self.recent_rtts.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = self.recent_rtts.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let rank = (0.99 * n as f64).ceil() as usize;
        Some(RttStats {
            avg_ms: sorted.iter().sum::<f64>() / n as f64,
            p99_ms: sorted[rank.clamp(1, n) - 1],
            samples: n,
        })
    }

    /// Takes one sample; returns the transition if the health changed.
    pub fn observe(&mut self, sample: Sample) -> Option<HealthChange> {
        let at = sample.at;
        let before = self.health.clone();
        let next = match sample.outcome {
            Outcome::Reply { rtt_ms } if rtt_ms.is_finite() && rtt_ms >= 0.0 => {
                self.on_reply(at, rtt_ms)
            }
            Outcome::Reply { .. } => self.on_lost(at, &LossReason::InvalidReply),
            Outcome::Lost { reason } => self.on_lost(at, &reason),
        };
        if next == before {
            return None;
        }
        self.health = next.clone();
        Some(HealthChange {
            from: before,
            to: next,
            at,
        })
    }

    fn on_lost(&mut self, at: At, reason: &LossReason) -> Health {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.consecutive_successes = 0;
        push_bounded(&mut self.losses, true, self.config.loss_window);
        match &self.health {
            Health::Down { .. } => self.health.clone(),
            _ if self.consecutive_failures >= self.config.failure_threshold => Health::Down {
                since: at,
                reason: format!(
                    "{} consecutive probes lost (last: {reason})",
                    self.consecutive_failures
                ),
            },
            // A run of lost probes is judged as a whole: an outage once it
            // reaches the threshold, otherwise loss, counted when a reply ends
            // it. Judging it earlier would pass every outage through a
            // `Degraded` that lasts one probe.
            _ => self.health.clone(),
        }
    }

    fn on_reply(&mut self, at: At, rtt_ms: f64) -> Health {
        self.consecutive_successes = self.consecutive_successes.saturating_add(1);
        self.consecutive_failures = 0;
        // The baseline is taken before this reply joins anything.
        let baseline = self.baseline_ms();
        let high = baseline.is_some_and(|b| rtt_ms > self.config.degraded_rtt_factor * b);
        self.consecutive_high_rtt = if high {
            self.consecutive_high_rtt.saturating_add(1)
        } else {
            0
        };
        push_bounded(&mut self.recent_rtts, rtt_ms, self.config.baseline_window);

        let recovering = matches!(self.health, Health::Down { .. });
        if recovering {
            if self.consecutive_successes < self.config.recovery_threshold {
                push_bounded(&mut self.losses, false, self.config.loss_window);
                return self.health.clone();
            }
            self.losses.clear();
        }
        push_bounded(&mut self.losses, false, self.config.loss_window);

        let slow = baseline.map(|baseline_ms| DegradedReason::HighRtt {
            rtt_ms,
            baseline_ms,
        });
        let next = self.judge(at, slow);
        if matches!(next, Health::Up { .. }) && !high {
            push_bounded(&mut self.baseline, rtt_ms, self.config.baseline_window);
        }
        next
    }

    /// Up or degraded, for a path that has just replied. `slow` describes the
    /// reply against the baseline, if there is one.
    fn judge(&self, at: At, slow: Option<DegradedReason>) -> Health {
        let high_rtt = (self.consecutive_high_rtt >= self.config.high_rtt_samples)
            .then_some(slow)
            .flatten();
        let lossy = (self.losses.len() >= self.config.loss_window
            && self.loss_percent() > 100.0 * self.config.max_loss)
            .then(|| DegradedReason::Loss {
                percent: self.loss_percent(),
            });
        match high_rtt.or(lossy) {
            Some(reason) => match &self.health {
                Health::Degraded {
                    since,
                    reason: current,
                } if current.same_kind(&reason) => Health::Degraded {
                    since: *since,
                    reason: *current,
                },
                Health::Degraded { since, .. } => Health::Degraded {
                    since: *since,
                    reason,
                },
                _ => Health::Degraded { since: at, reason },
            },
            None => match self.health {
                Health::Up { since } => Health::Up { since },
                _ => Health::Up { since: at },
            },
        }
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, value: T, cap: usize) {
    while queue.len() >= cap.max(1) {
        queue.pop_front();
    }
    queue.push_back(value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn path() -> PathHealth {
        PathHealth::new(HealthConfig::default()).unwrap()
    }

    /// Feeds replies every 100 ms from `start`; returns the next free time.
    fn replies(p: &mut PathHealth, start: u64, rtts: &[f64]) -> u64 {
        let mut t = start;
        for rtt in rtts {
            p.observe(Sample::reply(At(t), *rtt));
            t += 100;
        }
        t
    }

    /// Feeds `n` lost probes every 100 ms from `start`; returns the next free time.
    fn losses(p: &mut PathHealth, start: u64, n: u64) -> u64 {
        for i in 0..n {
            p.observe(Sample::lost(At(start + i * 100), LossReason::Timeout));
        }
        start + n * 100
    }

    #[test]
    fn new_path_is_unknown_and_not_usable_until_it_replies() {
        let mut p = path();
        assert_eq!(p.health(), &Health::Unknown);
        assert!(!p.is_usable());
        assert_eq!(p.observe(Sample::lost(At(0), LossReason::Timeout)), None);
        assert!(!p.is_usable());
        let change = p.observe(Sample::reply(At(100), 10.0)).unwrap();
        assert_eq!(change.from, Health::Unknown);
        assert_eq!(change.to, Health::Up { since: At(100) });
        assert!(p.is_usable());
        assert_eq!(p.up_since(), Some(At(100)));
    }

    #[test]
    fn down_after_exactly_three_failures_detected_at_the_third_sample() {
        let mut p = path();
        let t = replies(&mut p, 0, &[10.0; 5]);
        assert_eq!(p.observe(Sample::lost(At(t), LossReason::Timeout)), None);
        assert_eq!(
            p.observe(Sample::lost(At(t + 100), LossReason::Unreachable)),
            None
        );
        assert_eq!(p.consecutive_failures(), 2);
        assert!(p.is_usable());
        let change = p
            .observe(Sample::lost(At(t + 200), LossReason::Refused))
            .unwrap();
        assert_eq!(change.at, At(t + 200));
        match change.to {
            Health::Down { since, reason } => {
                assert_eq!(since, At(t + 200));
                assert!(reason.contains("3 consecutive") && reason.contains("refused"));
            }
            other => panic!("expected down, got {other:?}"),
        }
        assert!(!p.is_usable());
        // Further losses do not move the detection time.
        assert_eq!(
            p.observe(Sample::lost(At(t + 300), LossReason::Timeout)),
            None
        );
    }

    #[test]
    fn a_reply_between_losses_resets_the_failure_count() {
        let mut p = path();
        replies(&mut p, 0, &[10.0]);
        p.observe(Sample::lost(At(100), LossReason::Timeout));
        p.observe(Sample::lost(At(200), LossReason::Timeout));
        p.observe(Sample::reply(At(300), 10.0));
        p.observe(Sample::lost(At(400), LossReason::Timeout));
        p.observe(Sample::lost(At(500), LossReason::Timeout));
        assert!(p.is_usable());
        assert_eq!(p.consecutive_failures(), 2);
    }

    #[test]
    fn an_unknown_path_that_never_replies_goes_down_at_the_threshold() {
        let mut p = path();
        p.observe(Sample::lost(At(0), LossReason::Timeout));
        p.observe(Sample::lost(At(100), LossReason::Timeout));
        let change = p
            .observe(Sample::lost(At(200), LossReason::Timeout))
            .unwrap();
        assert_eq!(change.from, Health::Unknown);
        assert!(matches!(change.to, Health::Down { since: At(200), .. }));
    }

    #[test]
    fn recovery_needs_five_consecutive_successes() {
        let mut p = path();
        let t = replies(&mut p, 0, &[10.0; 3]);
        losses(&mut p, t, 3);
        assert!(matches!(p.health(), Health::Down { .. }));
        // Four replies, then a loss: the count starts over.
        replies(&mut p, 600, &[10.0; 4]);
        assert!(matches!(p.health(), Health::Down { .. }));
        p.observe(Sample::lost(At(1000), LossReason::Timeout));
        assert_eq!(p.consecutive_successes(), 0);
        let t = replies(&mut p, 1100, &[10.0; 4]);
        assert!(matches!(p.health(), Health::Down { .. }));
        let change = p.observe(Sample::reply(At(t), 10.0)).unwrap();
        assert_eq!(change.to, Health::Up { since: At(t) });
        // The outage does not linger in the loss window.
        assert_eq!(p.loss_percent(), 0.0);
    }

    #[test]
    fn high_rtt_is_ignored_until_the_baseline_has_ten_samples() {
        let mut p = path();
        let t = replies(&mut p, 0, &[10.0; 9]);
        assert_eq!(p.baseline_ms(), None);
        // Slow replies before the baseline exists do not degrade; they join it.
        replies(&mut p, t, &[50.0, 50.0]);
        assert!(matches!(p.health(), Health::Up { .. }));
        assert_eq!(p.baseline_ms(), Some(10.0));
    }

    #[test]
    fn two_consecutive_replies_above_twice_the_baseline_degrade() {
        let mut p = path();
        let t = replies(&mut p, 0, &[10.0; 10]);
        assert_eq!(p.baseline_ms(), Some(10.0));
        assert_eq!(p.observe(Sample::reply(At(t), 25.0)), None);
        let change = p.observe(Sample::reply(At(t + 100), 25.0)).unwrap();
        assert_eq!(
            change.to,
            Health::Degraded {
                since: At(t + 100),
                reason: DegradedReason::HighRtt {
                    rtt_ms: 25.0,
                    baseline_ms: 10.0
                }
            }
        );
        assert!(p.is_usable());
        // One normal reply clears it.
        let change = p.observe(Sample::reply(At(t + 200), 11.0)).unwrap();
        assert_eq!(change.to, Health::Up { since: At(t + 200) });
    }

    #[test]
    fn a_single_slow_reply_among_normal_ones_does_not_degrade() {
        let mut p = path();
        let t = replies(&mut p, 0, &[10.0; 20]);
        let t = replies(&mut p, t, &[100.0, 10.0, 100.0, 10.0, 100.0, 10.0]);
        assert!(matches!(p.health(), Health::Up { since: At(0) }));
        // Exactly twice the baseline is not above it.
        replies(&mut p, t, &[20.0, 20.0, 20.0]);
        assert!(matches!(p.health(), Health::Up { .. }));
    }

    #[test]
    fn loss_above_five_percent_over_the_window_degrades() {
        let mut p = path();
        // 19 replies and one loss: 5 %, not above it.
        let t = replies(&mut p, 0, &[10.0; 19]);
        p.observe(Sample::lost(At(t), LossReason::Timeout));
        assert!(matches!(p.health(), Health::Up { .. }));
        assert_eq!(p.loss_percent(), 5.0);
        let t = replies(&mut p, t + 100, &[10.0; 5]);
        // A second loss: 10 %, judged when the next reply ends the lost run.
        assert_eq!(p.observe(Sample::lost(At(t), LossReason::Timeout)), None);
        let change = p.observe(Sample::reply(At(t + 100), 10.0)).unwrap();
        assert_eq!(
            change.to,
            Health::Degraded {
                since: At(t + 100),
                reason: DegradedReason::Loss { percent: 10.0 }
            }
        );
        // Once the first loss slides out of the window the path is up again.
        let t = replies(&mut p, t + 200, &[10.0; 12]);
        assert!(matches!(p.health(), Health::Degraded { .. }));
        replies(&mut p, t, &[10.0]);
        assert!(matches!(p.health(), Health::Up { .. }));
    }

    #[test]
    fn loss_is_not_judged_before_the_window_is_full() {
        let mut p = path();
        replies(&mut p, 0, &[10.0; 3]);
        p.observe(Sample::lost(At(300), LossReason::Timeout));
        replies(&mut p, 400, &[10.0]);
        assert!(matches!(p.health(), Health::Up { .. }));
        assert_eq!(p.loss_percent(), 20.0);
    }

    #[test]
    fn a_slow_period_does_not_drag_the_baseline_up() {
        let mut p = path();
        let t = replies(&mut p, 0, &[10.0; 20]);
        let t = replies(&mut p, t, &[40.0; 200]);
        assert!(matches!(p.health(), Health::Degraded { .. }));
        assert_eq!(p.baseline_ms(), Some(10.0));
        // Recent stats do show the slow period.
        let stats = p.rtt_stats().unwrap();
        assert_eq!(stats.p99_ms, 40.0);
        replies(&mut p, t, &[10.0]);
        assert!(matches!(p.health(), Health::Up { .. }));
    }

    #[test]
    fn lost_probes_and_outages_never_enter_the_baseline() {
        let mut p = path();
        let t = replies(&mut p, 0, &[10.0; 10]);
        let t = losses(&mut p, t, 5);
        // Recovery replies while still down do not join the baseline either.
        replies(&mut p, t, &[30.0; 4]);
        assert_eq!(p.baseline.len(), 10);
        assert_eq!(p.baseline_ms(), Some(10.0));
    }

    #[test]
    fn a_path_recovering_slowly_comes_back_degraded() {
        let mut p = path();
        let t = replies(&mut p, 0, &[10.0; 10]);
        let t = losses(&mut p, t, 3);
        let t = replies(&mut p, t, &[50.0; 4]);
        assert!(matches!(p.health(), Health::Down { .. }));
        let change = p.observe(Sample::reply(At(t), 50.0)).unwrap();
        assert!(matches!(change.from, Health::Down { .. }));
        assert!(matches!(
            p.health(),
            Health::Degraded {
                reason: DegradedReason::HighRtt { .. },
                ..
            }
        ));
    }

    #[test]
    fn an_invalid_rtt_counts_as_a_lost_probe() {
        let mut p = path();
        replies(&mut p, 0, &[10.0]);
        for (i, rtt) in [f64::NAN, -1.0, f64::INFINITY].into_iter().enumerate() {
            p.observe(Sample::reply(At(100 + i as u64 * 100), rtt));
        }
        match p.health() {
            Health::Down { reason, .. } => assert!(reason.contains("invalid reply")),
            other => panic!("expected down, got {other:?}"),
        }
        assert_eq!(p.rtt_stats().map(|s| s.samples), Some(1));
    }

    #[test]
    fn rtt_stats_give_average_and_p99() {
        let mut p = path();
        let rtts: Vec<f64> = (1..=100).map(f64::from).collect();
        replies(&mut p, 0, &rtts);
        let stats = p.rtt_stats().unwrap();
        assert_eq!(stats.avg_ms, 50.5);
        assert_eq!(stats.p99_ms, 99.0);
        assert_eq!(stats.samples, 100);
    }

    #[test]
    fn nonsense_configs_are_refused_with_the_key_named() {
        let bad = |edit: fn(&mut HealthConfig)| {
            let mut c = HealthConfig::default();
            edit(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.failure_threshold = 0).contains("failure_threshold"));
        assert!(bad(|c| c.recovery_threshold = 0).contains("recovery_threshold"));
        assert!(bad(|c| c.loss_window = 0).contains("loss_window"));
        assert!(bad(|c| c.baseline_window = 0).contains("baseline_window"));
        assert!(bad(|c| c.degraded_rtt_factor = 1.0).contains("degraded_rtt_factor"));
        assert!(bad(|c| c.degraded_rtt_factor = f64::NAN).contains("degraded_rtt_factor"));
        assert!(bad(|c| c.max_loss = 5.0).contains("0.05"));
        assert!(bad(|c| c.max_loss = -0.1).contains("max_loss"));
        assert!(bad(|c| c.baseline_min_samples = 200).contains("never form"));
        assert!(HealthConfig::default().validate().is_ok());
        let zero = HealthConfig {
            failure_threshold: 0,
            ..HealthConfig::default()
        };
        assert!(PathHealth::new(zero).is_err());
    }

    fn arb_outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            4 => (0.0f64..500.0).prop_map(|rtt_ms| Outcome::Reply { rtt_ms }),
            1 => Just(Outcome::Reply { rtt_ms: f64::NAN }),
            2 => Just(Outcome::Lost { reason: LossReason::Timeout }),
        ]
    }

    proptest! {
        #[test]
        fn health_follows_its_counters_for_any_samples(
            outcomes in proptest::collection::vec(arb_outcome(), 0..400),
        ) {
            let mut p = path();
            let threshold = p.config().failure_threshold;
            for (i, outcome) in outcomes.into_iter().enumerate() {
                let before = p.health().clone();
                let at = At(i as u64 * 100);
                let change = p.observe(Sample { at, outcome });
                if let Some(change) = &change {
                    prop_assert_eq!(&change.from, &before);
                    prop_assert_ne!(&change.from, &change.to);
                    prop_assert_eq!(change.at, at);
                }
                prop_assert_eq!(change.is_none(), &before == p.health());
                let is_down = matches!(p.health(), Health::Down { .. });
                prop_assert!(is_down || p.consecutive_failures() < threshold);
                if let Health::Down { since, .. } = p.health() {
                    prop_assert!(*since <= at);
                }
                let answering = matches!(p.health(), Health::Up { .. } | Health::Degraded { .. });
                prop_assert_eq!(p.is_usable(), answering);
                let loss = p.loss_percent();
                prop_assert!((0.0..=100.0).contains(&loss));
                prop_assert!(p.baseline.len() <= p.config().baseline_window);
            }
        }
    }
}
