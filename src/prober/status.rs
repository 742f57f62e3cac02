//! What `status` shows about the monitored paths, from the store (so any
//! process can ask while another one probes): per path its role, state, RTT,
//! loss and consecutive failures; per pair the active path and pin; the recent
//! failovers with their detection and action times.

use crate::store::prober::{PathHealthRow, SwitchRow};
use crate::store::{Store, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct PairStatus {
    pub pair_id: String,
    pub active_path: Option<String>,
    pub pinned: Option<String>,
    /// A switch that failed and is being retried: "failover failed: …".
    pub failover_failed: Option<String>,
    /// The pair's connections drained now: "dx-1 drained until … by …".
    pub drained: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathsStatus {
    pub pairs: Vec<PairStatus>,
    pub paths: Vec<PathHealthRow>,
    pub recent_failovers: Vec<SwitchRow>,
}

/// Why a pair name cannot be pinned.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown pair '{name}' (known: {known})")]
    Unknown { name: String, known: String },
    #[error("no monitored path runs over connection '{name}' (known: {known})")]
    UnknownConnection { name: String, known: String },
}

/// Checks that the prober knows `pair` (it has saved state for it).
pub async fn check_pair(store: &Store, pair: &str) -> Result<(), PairError> {
    let known = store.pair_states().await?;
    if known.iter().any(|(id, _)| id == pair) {
        return Ok(());
    }
    let names: Vec<&str> = known.iter().map(|(id, _)| id.as_str()).collect();
    Err(PairError::Unknown {
        name: pair.chars().take(64).collect(),
        known: if names.is_empty() {
            "none yet: start `switchboard probe` first".into()
        } else {
            names.join(", ")
        },
    })
}

/// Checks that `connection` is on a monitored path (the prober has
/// reported a path over it).
pub async fn check_connection(store: &Store, connection: &str) -> Result<(), PairError> {
    let paths = store.path_health().await?;
    if paths.iter().any(|p| p.connection_id == connection) {
        return Ok(());
    }
    let mut known: Vec<&str> = paths.iter().map(|p| p.connection_id.as_str()).collect();
    known.sort_unstable();
    known.dedup();
    Err(PairError::UnknownConnection {
        name: connection.chars().take(64).collect(),
        known: if known.is_empty() {
            "none yet: start `switchboard probe` first".into()
        } else {
            known.join(", ")
        },
    })
}

pub async fn load(store: &Store) -> Result<PathsStatus, StoreError> {
    let states = store.pair_states().await?;
    let pins = store.pins().await?;
    let pairs = states
        .iter()
        .map(|(id, state)| {
            let role = state
                .get("active")
                .and_then(|r| r.as_str())
                .unwrap_or("primary");
            PairStatus {
                pair_id: id.clone(),
                active_path: state.get(role).and_then(|p| p.as_str()).map(str::to_string),
                pinned: pins
                    .iter()
                    .find(|(p, _)| p == id)
                    .and_then(|(_, r)| r.clone()),
                drained: state
                    .get("drained")
                    .and_then(|d| d.as_array())
                    .map(|list| {
                        list.iter()
                            .map(|d| {
                                let text =
                                    |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("");
                                let reason = text("reason");
                                format!(
                                    "{} drained until {} by {}{}",
                                    text("connection"),
                                    time(d.get("until").and_then(|v| v.as_u64()).unwrap_or(0)),
                                    text("by"),
                                    if reason.is_empty() {
                                        String::new()
                                    } else {
                                        format!(" ({reason})")
                                    }
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                failover_failed: state.get("failing").map(|f| {
                    format!(
                        "failover failed: {} (switch to {}, {} attempts since {})",
                        f.get("reason").and_then(|r| r.as_str()).unwrap_or("?"),
                        f.get("to_path").and_then(|r| r.as_str()).unwrap_or("?"),
                        f.get("attempts").and_then(|r| r.as_u64()).unwrap_or(0),
                        time(f.get("since").and_then(|r| r.as_u64()).unwrap_or(0)),
                    )
                }),
            }
        })
        .collect();
    Ok(PathsStatus {
        pairs,
        paths: store.path_health().await?,
        recent_failovers: store.recent_switches(10).await?,
    })
}

pub fn time(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

pub fn render(status: &PathsStatus) -> String {
    if status.paths.is_empty() {
        return "No monitored paths yet: start `switchboard probe` with a paths file.".into();
    }
    let mut lines = Vec::new();
    for pair in &status.pairs {
        let mut line = format!(
            "{}: active {}",
            pair.pair_id,
            pair.active_path.as_deref().unwrap_or("?")
        );
        if let Some(pin) = &pair.pinned {
            line.push_str(&format!(" (pinned to {pin})"));
        }
        if let Some(failed) = &pair.failover_failed {
            line.push_str(&format!(" · {failed}"));
        }
        for drained in &pair.drained {
            line.push_str(&format!(" · {drained}"));
        }
        lines.push(line);
        for p in status.paths.iter().filter(|p| p.pair_id == pair.pair_id) {
            let rtt = match (p.avg_rtt_ms, p.p99_rtt_ms) {
                (Some(avg), Some(p99)) => format!("avg {avg:.2} ms p99 {p99:.2} ms"),
                _ => "no RTT yet".into(),
            };
            lines.push(format!(
                "  {:<8} {:<16} {:<9} {rtt} · loss {:.1}% · {} consecutive failures · last change {}",
                p.role,
                p.connection_id,
                p.state,
                p.loss_percent,
                p.consecutive_failures,
                p.last_change_at.map(time).unwrap_or_else(|| "never".into())
            ));
        }
    }
    if !status.recent_failovers.is_empty() {
        lines.push("Recent failovers:".into());
        for f in &status.recent_failovers {
            let outcome = match (&f.applied_at, &f.error) {
                (Some(at), _) => format!(
                    "applied {} ({} ms after detection)",
                    time(*at),
                    at.saturating_sub(f.detected_at)
                ),
                (None, Some(e)) => format!("FAILED: {e}"),
                (None, None) => "not applied".into(),
            };
            lines.push(format!(
                "  {} {} → {} ({}) detected {} · {outcome}",
                f.pair_id,
                f.from_path,
                f.to_path,
                f.cause,
                time(f.detected_at)
            ));
        }
    }
    lines.join("\n")
}
