//! The prober: it owns path probing, the probe scheduler, per-path health and
//! failover between a primary and a backup path. The decisions live in two pure
//! machines with no IO and no clock of their own: `health` turns probe samples
//! into up / degraded / down, and `failover` turns the two paths' health into
//! typed actions (fail over, fail back, alert) under hold-down and pinning
//! rules. The drivers that send probes, read the clock, apply provider changes
//! and persist the pair state sit beside them and only move data in and out.

pub mod drain;
pub mod failover;
pub mod health;
pub mod monitor;
pub mod paths;
pub mod probe;
pub mod scheduler;
pub mod status;
