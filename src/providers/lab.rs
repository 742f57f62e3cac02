//! The lab provider: the GlobalCart estate from `examples/globalcart.yaml` as a
//! cloud that needs no credentials. What it applies lives in its own tables
//! (`lab_resources`, `lab_faults`) so it survives restarts, it checks every change
//! against the estate like a real API would, and it can be told to fail: mark a
//! connection down or degraded, or wait before answering an apply so tests can
//! kill the process mid-step.

use super::{CloudProvider, ProviderError};
use crate::domain::{
    Change, ConnectionId, ConnectionStatus, Estate, Millis, NetworkId, ResourceId,
};
use crate::topology::{DiscoveryError, Inventory, InventorySource};
use async_trait::async_trait;
use chrono::Utc;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const EMBEDDED_ESTATE: &str = include_str!("../../examples/globalcart.yaml");

const NAME: &str = "lab";

/// A fault injected on a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub connection: ConnectionId,
    pub status: ConnectionStatus,
    pub extra_latency: Millis,
}

pub struct LabProvider {
    estate: Arc<Estate>,
    pool: SqlitePool,
    apply_delay: Duration,
}

/// The lab's own schema, in its own database file: the lab stands for a cloud,
/// so its state is not switchboard's.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS lab_resources (
    idempotency_key TEXT PRIMARY KEY,
    resource_id     TEXT NOT NULL UNIQUE,
    change          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    reverted_at     TEXT
);
CREATE TABLE IF NOT EXISTS lab_faults (
    connection_id    TEXT PRIMARY KEY,
    status           TEXT NOT NULL,
    extra_latency_ms REAL NOT NULL DEFAULT 0,
    set_at           TEXT NOT NULL
);
";

/// Where the lab keeps its state for a switchboard database: `x.db` → `x.lab.db`.
pub fn state_path_for(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "switchboard".into());
    db.with_file_name(format!("{stem}.lab.db"))
}

fn transient(e: sqlx::Error) -> ProviderError {
    ProviderError::Transient {
        provider: NAME,
        reason: e.to_string(),
    }
}

fn refused(reason: String) -> ProviderError {
    ProviderError::Refused {
        provider: NAME,
        reason,
    }
}

/// A stable resource id for an idempotency key (FNV-1a), so the same key always
/// names the same resource.
fn resource_id_for(change: &Change, key: &str) -> ResourceId {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    ResourceId::new(format!(
        "lab-{}-{hash:016x}",
        change.kind().replace('_', "-")
    ))
}

fn valid_cidr(text: &str) -> bool {
    let Some((addr, len)) = text.split_once('/') else {
        return false;
    };
    addr.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
}

impl LabProvider {
    /// Opens (creating if needed) the lab's state at `path`.
    pub async fn open(
        estate: Arc<Estate>,
        path: &Path,
        apply_delay: Duration,
    ) -> Result<LabProvider, ProviderError> {
        let failed = |e: sqlx::Error| ProviderError::Refused {
            provider: NAME,
            reason: format!("lab state {}: {e}", path.display()),
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(15));
        // Another process may be creating the file this instant: retry while
        // SQLite reports it busy.
        let pool = crate::store::retry_while_busy(
            || async {
                let pool = SqlitePoolOptions::new()
                    .max_connections(2)
                    .test_before_acquire(false)
                    .connect_with(options.clone())
                    .await?;
                sqlx::raw_sql(SCHEMA).execute(&pool).await?;
                Ok::<_, sqlx::Error>(pool)
            },
            crate::store::is_busy,
        )
        .await
        .map_err(failed)?;
        Ok(LabProvider {
            estate,
            pool,
            apply_delay,
        })
    }

    /// Checks a change the way a cloud API would before accepting it.
    fn check(&self, change: &Change) -> Result<(), ProviderError> {
        let network = change.network();
        if self.estate.network(network).is_none() {
            return Err(refused(format!("unknown network '{network}'")));
        }
        match change {
            Change::AllowIngress {
                from_cidr, port, ..
            } => {
                if !valid_cidr(from_cidr) {
                    return Err(refused(format!("'{from_cidr}' is not an IPv4 CIDR")));
                }
                if *port == 0 {
                    return Err(refused("port 0 cannot be opened".into()));
                }
            }
            Change::Route {
                destination_cidr,
                via,
                ..
            } => self.check_route(network, destination_cidr, &[via])?,
            Change::RoutePreference {
                destination_cidr,
                preferred,
                other,
                ..
            } => self.check_route(network, destination_cidr, &[preferred, other])?,
            Change::DnsRecord { name, address, .. } => {
                if name.is_empty() || name.len() > 253 {
                    return Err(refused(format!("'{name}' is not a DNS name")));
                }
                if address.parse::<std::net::IpAddr>().is_err() {
                    return Err(refused(format!("'{address}' is not an IP address")));
                }
            }
        }
        Ok(())
    }

    /// A route needs a CIDR and next hops that reach the network it is in.
    fn check_route(
        &self,
        network: &NetworkId,
        cidr: &str,
        vias: &[&ConnectionId],
    ) -> Result<(), ProviderError> {
        if !valid_cidr(cidr) {
            return Err(refused(format!("'{cidr}' is not an IPv4 CIDR")));
        }
        for via in vias {
            let conn = self
                .estate
                .connection(via)
                .ok_or_else(|| refused(format!("unknown connection '{via}'")))?;
            if conn.other_end(network).is_none() {
                return Err(refused(format!(
                    "connection '{via}' does not reach network '{network}'"
                )));
            }
        }
        Ok(())
    }

    pub async fn faults(&self) -> Result<Vec<Fault>, ProviderError> {
        let rows = sqlx::query(
            "SELECT connection_id, status, extra_latency_ms FROM lab_faults ORDER BY connection_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(transient)?;
        Ok(rows
            .iter()
            .map(|r| Fault {
                connection: ConnectionId::new(r.get::<String, _>(0)),
                status: match r.get::<String, _>(1).as_str() {
                    "down" => ConnectionStatus::Down,
                    "degraded" => ConnectionStatus::Degraded,
                    _ => ConnectionStatus::Up,
                },
                extra_latency: Millis(r.get(2)),
            })
            .collect())
    }

    /// Injects a fault on a connection (or clears it with status `Up` and no
    /// extra latency).
    pub async fn set_fault(&self, fault: &Fault) -> Result<(), ProviderError> {
        if self.estate.connection(&fault.connection).is_none() {
            return Err(refused(format!(
                "unknown connection '{}'",
                fault.connection
            )));
        }
        if !fault.extra_latency.0.is_finite() || fault.extra_latency.0 < 0.0 {
            return Err(refused(format!(
                "extra latency {} must be ≥ 0",
                fault.extra_latency
            )));
        }
        if fault.status == ConnectionStatus::Up && fault.extra_latency.0 == 0.0 {
            sqlx::query("DELETE FROM lab_faults WHERE connection_id = ?")
                .bind(fault.connection.as_str())
                .execute(&self.pool)
                .await
                .map_err(transient)?;
            return Ok(());
        }
        let status = match fault.status {
            ConnectionStatus::Up => "up",
            ConnectionStatus::Degraded => "degraded",
            ConnectionStatus::Down => "down",
        };
        sqlx::query(
            "INSERT INTO lab_faults (connection_id, status, extra_latency_ms, set_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT(connection_id) DO UPDATE SET status = excluded.status, \
             extra_latency_ms = excluded.extra_latency_ms, set_at = excluded.set_at",
        )
        .bind(fault.connection.as_str())
        .bind(status)
        .bind(fault.extra_latency.0)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(transient)?;
        Ok(())
    }

    /// Every resource the lab holds, active or not: (key, resource, active).
    pub async fn resources(&self) -> Result<Vec<(String, ResourceId, bool)>, ProviderError> {
        let rows = sqlx::query("SELECT idempotency_key, resource_id, reverted_at IS NULL FROM lab_resources ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(transient)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), ResourceId::new(r.get::<String, _>(1)), r.get(2)))
            .collect())
    }
}

#[async_trait]
impl CloudProvider for LabProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn discover(&self) -> Result<Estate, ProviderError> {
        let mut estate = (*self.estate).clone();
        for fault in self.faults().await? {
            if let Some(conn) = estate
                .connections
                .iter_mut()
                .find(|c| c.id == fault.connection)
            {
                conn.status = fault.status;
                conn.latency_ms = conn.latency_ms + fault.extra_latency;
            }
        }
        Ok(estate)
    }

    fn can_act(&self, change: &Change, _estate: &Estate) -> Result<(), ProviderError> {
        self.check(change)
    }

    async fn estate(&self) -> Result<Arc<Estate>, ProviderError> {
        Ok(self.estate.clone())
    }

    async fn apply(
        &self,
        change: &Change,
        idempotency_key: &str,
    ) -> Result<ResourceId, ProviderError> {
        self.check(change)?;
        let change_json = serde_json::to_string(change).map_err(|e| refused(e.to_string()))?;
        // Insert, or find what an earlier call with this key created: one
        // statement either way (the no-op update makes RETURNING report the
        // existing row).
        let row = sqlx::query(
            "INSERT INTO lab_resources (idempotency_key, resource_id, change, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT(idempotency_key) DO UPDATE SET idempotency_key = excluded.idempotency_key \
             RETURNING resource_id",
        )
        .bind(idempotency_key)
        .bind(resource_id_for(change, idempotency_key).as_str())
        .bind(change_json)
        .bind(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .fetch_one(&self.pool)
        .await
        .map_err(transient)?;
        let resource = ResourceId::new(row.get::<String, _>(0));
        // The resource exists from here on, but the caller has not heard so yet:
        // a crash in this window is what idempotency keys are for.
        if !self.apply_delay.is_zero() {
            tokio::time::sleep(self.apply_delay).await;
        }
        Ok(resource)
    }

    async fn revert(&self, resource: &ResourceId) -> Result<(), ProviderError> {
        let done = sqlx::query(
            "UPDATE lab_resources SET reverted_at = COALESCE(reverted_at, ?) WHERE resource_id = ?",
        )
        .bind(Utc::now().to_rfc3339())
        .bind(resource.as_str())
        .execute(&self.pool)
        .await
        .map_err(transient)?;
        if done.rows_affected() == 0 {
            return Err(ProviderError::NotFound {
                provider: NAME,
                resource: resource.clone(),
            });
        }
        Ok(())
    }

    async fn present(
        &self,
        resources: &[ResourceId],
    ) -> Result<HashSet<ResourceId>, ProviderError> {
        let ids = serde_json::to_string(&resources).map_err(|e| refused(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT resource_id FROM lab_resources WHERE reverted_at IS NULL \
             AND resource_id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(transient)?;
        Ok(rows
            .iter()
            .map(|r| ResourceId::new(r.get::<String, _>(0)))
            .collect())
    }
}

#[async_trait]
impl InventorySource for LabProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The estate with the injected faults applied, as a cloud API would report it.
    async fn inventory(&self) -> Result<Inventory, DiscoveryError> {
        let estate = self
            .discover()
            .await
            .map_err(|e| DiscoveryError::Unreachable {
                provider: NAME,
                endpoint: "lab state".into(),
                detail: e.to_string(),
            })?;
        Ok(Inventory::from_estate(&estate, NAME))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lab(dir: &tempfile::TempDir) -> LabProvider {
        let estate = Arc::new(Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap());
        LabProvider::open(estate, &dir.path().join("x.lab.db"), Duration::ZERO)
            .await
            .unwrap()
    }

    fn route(via: &str) -> Change {
        Change::Route {
            network: NetworkId::new("aws-use1-prod"),
            destination_cidr: "10.40.0.0/16".into(),
            via: ConnectionId::new(via),
        }
    }

    #[tokio::test]
    async fn applying_a_key_twice_creates_one_resource() {
        let dir = tempfile::tempdir().unwrap();
        let lab = lab(&dir).await;
        let first = lab.apply(&route("dx-1"), "wf-1/provision/0").await.unwrap();
        let again = lab.apply(&route("dx-1"), "wf-1/provision/0").await.unwrap();
        assert_eq!(first, again);
        assert_eq!(lab.resources().await.unwrap().len(), 1);
        assert!(lab
            .present(std::slice::from_ref(&first))
            .await
            .unwrap()
            .contains(&first));
        lab.revert(&first).await.unwrap();
        lab.revert(&first).await.unwrap();
        assert!(lab.present(&[first]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn changes_that_do_not_fit_the_estate_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lab = lab(&dir).await;
        let err = lab.apply(&route("er-1"), "k1").await.unwrap_err();
        assert!(err.to_string().contains("does not reach"), "{err}");
        assert!(!err.is_retryable());
        let bad_cidr = Change::AllowIngress {
            network: NetworkId::new("azure-eus-prod"),
            from_cidr: "10.0.0.0/33".into(),
            port: 1433,
            description: "x".into(),
            service: None,
        };
        assert!(lab.apply(&bad_cidr, "k2").await.is_err());
        assert!(lab.resources().await.unwrap().is_empty());
        let missing = lab
            .revert(&ResourceId::new("lab-route-nope"))
            .await
            .unwrap_err();
        assert!(matches!(missing, ProviderError::NotFound { .. }));
    }

    #[tokio::test]
    async fn faults_show_in_discovery_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let lab = lab(&dir).await;
        let er = ConnectionId::new("er-1");
        let base = lab
            .discover()
            .await
            .unwrap()
            .connection(&er)
            .unwrap()
            .latency_ms;
        lab.set_fault(&Fault {
            connection: er.clone(),
            status: ConnectionStatus::Degraded,
            extra_latency: Millis(40.0),
        })
        .await
        .unwrap();
        let seen = lab.discover().await.unwrap();
        let c = seen.connection(&er).unwrap();
        assert_eq!(c.status, ConnectionStatus::Degraded);
        assert_eq!(c.latency_ms, base + Millis(40.0));
        lab.set_fault(&Fault {
            connection: er.clone(),
            status: ConnectionStatus::Up,
            extra_latency: Millis(0.0),
        })
        .await
        .unwrap();
        assert_eq!(
            lab.discover()
                .await
                .unwrap()
                .connection(&er)
                .unwrap()
                .status,
            ConnectionStatus::Up
        );
        let unknown = Fault {
            connection: ConnectionId::new("nope"),
            status: ConnectionStatus::Down,
            extra_latency: Millis(0.0),
        };
        assert!(lab.set_fault(&unknown).await.is_err());
    }
}
