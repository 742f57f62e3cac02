//! Topology snapshots: every discovery run that read something is kept, so
//! `diff` can say what changed and a failed run never replaces a good picture.

use super::writer::{Write, Written};
use super::{Store, StoreError};
use crate::topology::{ProviderOutcome, Topology};
use serde::Serialize;
use sqlx::Row;

/// One snapshot's header, as `snapshots` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotSummary {
    pub id: i64,
    pub taken_at: String,
    /// `ok` or `partial`.
    pub status: String,
    pub networks: i64,
    pub connections: i64,
}

impl Store {
    /// Saves `topology` and returns the snapshot's id.
    pub async fn save_snapshot(&self, topology: &Topology) -> Result<i64, StoreError> {
        let partial = topology
            .providers
            .values()
            .any(|o| !matches!(o, ProviderOutcome::Ok { .. }));
        let json = serde_json::to_string(topology).map_err(|e| StoreError::Corrupt {
            what: "topology",
            id: topology.taken_at.to_rfc3339(),
            detail: e.to_string(),
        })?;
        let written = self
            .writer
            .write(Write::SaveSnapshot {
                taken_at: topology.taken_at.to_rfc3339(),
                status: if partial { "partial" } else { "ok" },
                networks: topology.networks.len() as i64,
                connections: topology.connections.len() as i64,
                topology: json,
            })
            .await?;
        match written {
            Written::Inserted(id) => Ok(id),
            Written::Rows(_) => Err(StoreError::Corrupt {
                what: "snapshot",
                id: "new".into(),
                detail: "the insert returned no id".into(),
            }),
        }
    }

    /// Most recent first.
    pub async fn snapshots(&self, limit: u32) -> Result<Vec<SnapshotSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, taken_at, status, networks, connections FROM topology_snapshots ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| SnapshotSummary {
                id: r.get("id"),
                taken_at: r.get("taken_at"),
                status: r.get("status"),
                networks: r.get("networks"),
                connections: r.get("connections"),
            })
            .collect())
    }

    /// A snapshot by id, or the latest with `None`.
    pub async fn snapshot(&self, id: Option<i64>) -> Result<Option<(i64, Topology)>, StoreError> {
        let row = match id {
            Some(id) => {
                sqlx::query("SELECT id, topology FROM topology_snapshots WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await?
            }
            None => {
                sqlx::query("SELECT id, topology FROM topology_snapshots ORDER BY id DESC LIMIT 1")
                    .fetch_optional(&self.reader)
                    .await?
            }
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.get("id");
        let text: String = row.get("topology");
        let topology = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            what: "snapshot",
            id: id.to_string(),
            detail: e.to_string(),
        })?;
        Ok(Some((id, topology)))
    }
}
