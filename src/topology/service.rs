//! The topology service: runs discovery, keeps snapshots, answers `topology`,
//! `findings` and `diff` for chat and CLI alike. The IO driver around the pure
//! merge, findings and diff; one refresh runs at a time.

use super::diff::{diff, TopologyDiff};
use super::discovery::Discovery;
use super::findings::{findings, DocumentedConnection, Finding, FindingInputs, Usage};
use super::model::Topology;
use super::render::{png, RenderError};
use super::report;
use super::report::providers_line;
use crate::chat::message::{Destination, Message, Tone};
use crate::domain::ConnectionStatus;
use crate::scheduler::{self, Schedule};
use crate::store::{Store, StoreError};
use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no provider could be read ({0}); the previous snapshot is kept")]
    NothingRead(String),
    #[error("no snapshot {0}")]
    UnknownSnapshot(i64),
    #[error("a diff needs two snapshots; there are {0} so far (run discovery again)")]
    NotEnoughSnapshots(usize),
    #[error("rendering the topology: {0}")]
    Render(#[from] RenderError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

pub struct TopologyService {
    store: Store,
    discovery: Discovery,
    documented: Option<Vec<DocumentedConnection>>,
    usage: Usage,
    image_dir: PathBuf,
    refreshing: Mutex<()>,
}

/// A refresh's result.
pub struct Refreshed {
    pub snapshot: i64,
    pub topology: Topology,
}

impl TopologyService {
    pub fn new(
        store: Store,
        discovery: Discovery,
        documented: Option<Vec<DocumentedConnection>>,
        usage: Usage,
        image_dir: PathBuf,
    ) -> TopologyService {
        TopologyService {
            store,
            discovery,
            documented,
            usage,
            image_dir,
            refreshing: Mutex::new(()),
        }
    }

    /// The snapshot's picture as a PNG file (rendered once per snapshot).
    pub async fn image(&self, refreshed: &Refreshed) -> Result<PathBuf, TopologyError> {
        let path = self
            .image_dir
            .join(format!("topology-{}.png", refreshed.snapshot));
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(path);
        }
        let topology = refreshed.topology.clone();
        let bytes = tokio::task::spawn_blocking(move || png(&topology))
            .await
            .map_err(|e| TopologyError::Write {
                path: path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })??;
        // Written aside and renamed, so a reader never sees half a picture.
        let partial = path.with_extension("png.partial");
        let write = async {
            tokio::fs::write(&partial, &bytes).await?;
            tokio::fs::rename(&partial, &path).await
        };
        write.await.map_err(|source| TopologyError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    }

    pub fn sources(&self) -> Vec<&'static str> {
        self.discovery.source_names()
    }

    /// Runs discovery now and saves the snapshot, unless nothing at all
    /// could be read (then the previous snapshot stays the latest).
    pub async fn refresh(&self) -> Result<Refreshed, TopologyError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let previous = self.store.snapshot(None).await?;
        let run = self
            .discovery
            .run(previous.as_ref().map(|(_, t)| t), Utc::now())
            .await;
        if run.nothing_read {
            return Err(TopologyError::NothingRead(providers_line(&run.topology)));
        }
        let snapshot = self.store.save_snapshot(&run.topology).await?;
        tracing::info!(
            snapshot,
            networks = run.topology.networks.len(),
            connections = run.topology.connections.len(),
            "discovery snapshot saved"
        );
        Ok(Refreshed {
            snapshot,
            topology: run.topology,
        })
    }

    /// Refreshes at every occurrence of `schedule` until `cancel`; connections
    /// that went down, degraded or vanished since the previous snapshot are
    /// posted to `alerts`.
    pub async fn refresh_on_schedule(
        self: Arc<Self>,
        schedule: Schedule,
        alerts: Destination,
        cancel: CancellationToken,
    ) {
        scheduler::run(schedule, cancel, || async {
            let before = match self.store.snapshot(None).await {
                Ok(previous) => previous,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduled discovery: reading the last snapshot");
                    None
                }
            };
            match self.refresh().await {
                Ok(fresh) => {
                    let Some((from, previous)) = before else {
                        return;
                    };
                    let change = diff(&previous, &fresh.topology);
                    if let Some(text) = worsened(&change) {
                        let message = Message::text(format!(
                            "{text}\n{}",
                            report::diff_text(from, fresh.snapshot, &change)
                        ))
                        .with_title("Discovery: connections changed")
                        .with_tone(Tone::Warning);
                        if let Err(e) = self.store.post(&alerts, &message).await {
                            tracing::warn!(error = %e, "scheduled discovery: posting the alert");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "scheduled discovery failed"),
            }
        })
        .await;
    }

    /// The latest snapshot, or a fresh discovery when there is none yet.
    pub async fn latest(&self) -> Result<Refreshed, TopologyError> {
        match self.store.snapshot(None).await? {
            Some((snapshot, topology)) => Ok(Refreshed { snapshot, topology }),
            None => self.refresh().await,
        }
    }

    pub fn findings(&self, topology: &Topology) -> Vec<Finding> {
        findings(&FindingInputs {
            topology,
            documented: self.documented.as_deref(),
            usage: &self.usage,
        })
    }

    /// What changed from `from` to `to`; by default between the last two snapshots.
    pub async fn diff(
        &self,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<(i64, i64, TopologyDiff), TopologyError> {
        let (from, to) = match (from, to) {
            (Some(f), Some(t)) => (f, t),
            (f, t) => {
                let recent = self.store.snapshots(2).await?;
                let latest = recent.first().map(|s| s.id);
                let before = recent.get(1).map(|s| s.id);
                match (f.or(before), t.or(latest)) {
                    (Some(f), Some(t)) => (f, t),
                    _ => return Err(TopologyError::NotEnoughSnapshots(recent.len())),
                }
            }
        };
        let load = |id: i64| async move {
            self.store
                .snapshot(Some(id))
                .await?
                .map(|(_, t)| t)
                .ok_or(TopologyError::UnknownSnapshot(id))
        };
        let (before, after) = (load(from).await?, load(to).await?);
        Ok((from, to, diff(&before, &after)))
    }
}

/// A one-line alert when a connection went down, degraded or vanished; None
/// when the change is only good news or new resources.
fn worsened(change: &TopologyDiff) -> Option<String> {
    let worse: Vec<&str> = change
        .status_changed
        .iter()
        .filter(|s| s.to != ConnectionStatus::Up)
        .map(|s| s.connection.as_str())
        .collect();
    if worse.is_empty() && change.connections_vanished.is_empty() {
        return None;
    }
    Some(format!(
        "{} connection(s) went down or degraded, {} vanished since the previous discovery.",
        worse.len(),
        change.connections_vanished.len()
    ))
}
