//! The probe schedule: every target fires on its own interval, at a random
//! phase within it so thousands of targets spread over the interval instead of
//! firing in the same millisecond. Each probe runs in its own task so a slow
//! answer never delays the next tick; results go to one bounded channel for
//! the health driver, stamped with when the tick was planned and when it fired
//! (the difference is schedule drift).

use super::probe::{ProbeResult, ProbeSpec, Prober, Via};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Shortest interval a target may be probed at.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Index of the path this target belongs to (the driver's own numbering).
    pub path: usize,
    pub spec: ProbeSpec,
    pub via: Via,
    pub interval: Duration,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    #[error("path {path}: interval {interval:?} is below the minimum of {MIN_INTERVAL:?}")]
    IntervalTooShort { path: usize, interval: Duration },
    #[error(
        "path {path}: timeout {timeout:?} must be above zero and at most the interval {interval:?}"
    )]
    BadTimeout {
        path: usize,
        timeout: Duration,
        interval: Duration,
    },
}

impl Target {
    pub fn check(&self) -> Result<(), ScheduleError> {
        if self.interval < MIN_INTERVAL {
            return Err(ScheduleError::IntervalTooShort {
                path: self.path,
                interval: self.interval,
            });
        }
        if self.timeout.is_zero() || self.timeout > self.interval {
            return Err(ScheduleError::BadTimeout {
                path: self.path,
                timeout: self.timeout,
                interval: self.interval,
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Observation {
    pub path: usize,
    /// When the tick was due.
    pub planned: Instant,
    /// When it fired; `fired - planned` is the schedule drift.
    pub fired: Instant,
    pub result: ProbeResult,
}

/// Probes every target until `cancel` fires. Returns when all probe loops
/// have stopped.
pub async fn run(
    prober: Arc<Prober>,
    targets: Vec<Target>,
    out: mpsc::Sender<Observation>,
    cancel: CancellationToken,
) -> Result<(), ScheduleError> {
    for target in &targets {
        target.check()?;
    }
    let start = Instant::now();
    let mut loops = tokio::task::JoinSet::new();
    for target in targets {
        let phase = rand::rng().random_range(Duration::ZERO..target.interval);
        loops.spawn(probe_loop(
            prober.clone(),
            target,
            start + phase,
            out.clone(),
            cancel.clone(),
        ));
    }
    drop(out);
    while loops.join_next().await.is_some() {}
    Ok(())
}

async fn probe_loop(
    prober: Arc<Prober>,
    target: Target,
    first: Instant,
    out: mpsc::Sender<Observation>,
    cancel: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(first, target.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let target = Arc::new(target);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut sequence: u16 = 0;
    loop {
        let planned = tokio::select! {
            planned = ticks.tick() => planned,
            _ = cancel.cancelled() => break,
            // Reap finished probes so the set stays small.
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
        };
        let fired = Instant::now();
        sequence = sequence.wrapping_add(1);
        let (prober, target, out) = (prober.clone(), target.clone(), out.clone());
        in_flight.spawn(async move {
            let result = prober
                .probe(&target.spec, &target.via, sequence, target.timeout)
                .await;
            // A full channel means the driver is behind: wait rather than drop
            // a sample the health machine needs.
            let _ = out
                .send(Observation {
                    path: target.path,
                    planned,
                    fired,
                    result,
                })
                .await;
        });
    }
    in_flight.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_target(path: usize, port: u16, interval_ms: u64) -> Target {
        Target {
            path,
            spec: ProbeSpec::Tcp {
                target: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            },
            via: Via::default(),
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(interval_ms),
        }
    }

    #[test]
    fn nonsense_schedules_are_refused() {
        assert!(matches!(
            tcp_target(0, 1, 50).check(),
            Err(ScheduleError::IntervalTooShort { .. })
        ));
        let mut t = tcp_target(0, 1, 100);
        t.timeout = Duration::from_millis(200);
        assert!(matches!(t.check(), Err(ScheduleError::BadTimeout { .. })));
    }

    #[tokio::test]
    async fn every_target_is_probed_on_its_interval() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                drop(conn);
            }
        });
        let (tx, mut rx) = mpsc::channel(1024);
        let cancel = CancellationToken::new();
        let targets = vec![tcp_target(0, port, 100), tcp_target(1, port, 100)];
        let run = tokio::spawn(run(Arc::new(Prober::new()), targets, tx, cancel.clone()));
        let mut counts = [0usize; 2];
        let deadline = Instant::now() + Duration::from_millis(1050);
        while let Ok(Some(obs)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            assert!(obs.result.is_ok(), "{:?}", obs.result);
            counts[obs.path] += 1;
        }
        cancel.cancel();
        run.await.unwrap().unwrap();
        for c in counts {
            assert!((5..=11).contains(&c), "{counts:?}");
        }
    }
}
