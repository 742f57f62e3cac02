//! One discovery run: every inventory source read concurrently under a
//! deadline, failures contained per source, the results merged. A source that
//! fails keeps what the previous snapshot had from it, marked as carried over;
//! a run where every source failed is reported as such so nobody saves it over
//! a good snapshot.

use super::inventory::{Inventory, InventorySource, LinkRecord, RemoteEnd};
use super::merge::{merge, ProviderResult};
use super::model::{TopoNetwork, Topology};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

pub struct Discovery {
    sources: Vec<Arc<dyn InventorySource>>,
    deadline: Duration,
}

/// What a run produced.
pub struct DiscoveryRun {
    pub topology: Topology,
    /// True when no source read anything: the result must not replace a snapshot.
    pub nothing_read: bool,
}

impl Discovery {
    pub fn new(sources: Vec<Arc<dyn InventorySource>>, deadline: Duration) -> Discovery {
        Discovery { sources, deadline }
    }

    pub fn source_names(&self) -> Vec<&'static str> {
        self.sources.iter().map(|s| s.name()).collect()
    }

    /// Reads every source; `previous` is the latest snapshot, if any.
    pub async fn run(&self, previous: Option<&Topology>, now: DateTime<Utc>) -> DiscoveryRun {
        let mut tasks = JoinSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let source = Arc::clone(source);
            let deadline = self.deadline;
            tasks.spawn(async move {
                let outcome = tokio::time::timeout(deadline, source.inventory()).await;
                (i, outcome)
            });
        }
        let mut outcomes: Vec<Option<Result<Inventory, String>>> = vec![None; self.sources.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, Ok(result))) => outcomes[i] = Some(result.map_err(|e| e.to_string())),
                Ok((i, Err(_))) => {
                    outcomes[i] = Some(Err(format!(
                        "did not finish within {} s",
                        self.deadline.as_secs()
                    )))
                }
                // A panicking source is a bug, but it must not take the others down.
                Err(e) => tracing::error!(error = %e, "an inventory source panicked"),
            }
        }
        let mut results = Vec::with_capacity(outcomes.len());
        let mut nothing_read = true;
        for (source, outcome) in self.sources.iter().zip(outcomes) {
            let provider = source.name();
            let reason = match outcome {
                Some(Ok(inventory)) => {
                    nothing_read = false;
                    results.push(ProviderResult::Read(inventory));
                    continue;
                }
                Some(Err(reason)) => reason,
                None => "the source panicked (see the log)".to_string(),
            };
            tracing::warn!(provider, %reason, "discovery failed");
            match previous.and_then(|p| carried_over(p, provider).map(|inv| (p.taken_at, inv))) {
                Some((from, inventory)) => results.push(ProviderResult::Stale {
                    inventory,
                    reason,
                    from,
                }),
                None => results.push(ProviderResult::Failed {
                    provider: provider.to_string(),
                    reason,
                }),
            }
        }
        DiscoveryRun {
            topology: merge(results, now),
            nothing_read,
        }
    }
}

/// What `topology` had from `provider`, as an inventory: its networks and the
/// connections only it reported. `None` when it had nothing.
pub fn carried_over(topology: &Topology, provider: &str) -> Option<Inventory> {
    let prefix = format!("{provider}:");
    let mut inventory = Inventory::new(provider);
    inventory.networks = topology
        .networks
        .iter()
        .filter(|n| n.provider == provider)
        .map(TopoNetwork::to_record)
        .collect();
    inventory.links = topology
        .connections
        .iter()
        .filter(|c| !c.seen_by.is_empty() && c.seen_by.iter().all(|s| s.starts_with(&prefix)))
        .map(|c| LinkRecord {
            id: c.id.clone(),
            kind: c.kind,
            local: c.a.clone(),
            remote: RemoteEnd::Network(c.b.clone()),
            status: c.status,
            bandwidth_gbps: c.bandwidth_gbps,
            latency_ms: c.latency_ms,
            local_address: None,
            group: c.group.clone(),
            name: c.name.clone(),
        })
        .collect();
    inventory.services = topology
        .services
        .iter()
        .filter(|s| {
            inventory
                .networks
                .iter()
                .any(|n| n.id == s.network.as_str())
        })
        .cloned()
        .collect();
    (!inventory.networks.is_empty() || !inventory.links.is_empty()).then_some(inventory)
}
