//! The provider for a real estate: the estate comes from discovery, and each
//! change goes to the actor of the cloud its network is in.
//!
//! The estate is the latest discovery snapshot priced from the catalog
//! (`optimizer::priced`), with the services discovery found, the services
//! file's entries and the estate file as an overlay (its services and flows
//! whose networks discovery knows), and one flow per completed connect
//! request (its services, traffic and chosen path). `discover` refreshes
//! discovery first when the snapshot is older than `max_age`; `estate` takes
//! the snapshot as it is. Each built estate is kept until a newer snapshot
//! or another completed request exists.
//!
//! A change in a cloud no actor serves is refused with that cloud named, so
//! nothing claims success it did not have.

use super::{CloudActor, CloudProvider, ProviderError};
use crate::domain::{Change, Estate, Flow, GbPerMonth, Intent, ResourceId, Service};
use crate::optimizer::priced::estate_from_topology;
use crate::optimizer::pricing::PricingCatalog;
use crate::optimizer::Design;
use crate::store::Store;
use crate::topology::service::TopologyService;
use crate::topology::Topology;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const NAME: &str = "clouds";

/// What is laid over discovery: services it cannot see, and the estate
/// file's services and flows.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    pub services: Vec<Service>,
    pub estate: Option<Estate>,
}

pub struct Clouds {
    actors: Vec<Arc<dyn CloudActor>>,
    topology: Arc<TopologyService>,
    store: Store,
    catalog: PricingCatalog,
    overlay: Overlay,
    max_age: Duration,
    /// The estate built last: its snapshot, how many workflows had
    /// completed then, and the estate.
    built: Mutex<Option<(i64, i64, Arc<Estate>)>>,
}

/// The flow each completed connect request added: its two services, its
/// traffic and the path its design chose. Outputs that do not read as an
/// intent and a design are left out.
pub fn requested_flows(
    intents: &[(crate::domain::WorkflowId, serde_json::Value)],
    designs: &[(crate::domain::WorkflowId, serde_json::Value)],
) -> Vec<Flow> {
    intents
        .iter()
        .filter_map(|(id, intent)| {
            let intent: Intent = serde_json::from_value(intent.clone()).ok()?;
            let design: Design = designs
                .iter()
                .find(|(d, _)| d == id)
                .and_then(|(_, v)| serde_json::from_value(v.clone()).ok())?;
            Some(Flow {
                id: id.to_string(),
                source: intent.source.resolved?,
                destination: intent.destination.resolved?,
                monthly_gb: GbPerMonth(design.monthly_traffic_gb),
                path: design.primary.connections,
            })
        })
        .collect()
}

fn refused(reason: impl Into<String>) -> ProviderError {
    ProviderError::Refused {
        provider: NAME,
        reason: reason.into(),
    }
}

fn transient(reason: impl Into<String>) -> ProviderError {
    ProviderError::Transient {
        provider: NAME,
        reason: reason.into(),
    }
}

/// The estate a snapshot stands for: its networks and connections priced,
/// its services, then the overlay's (a service whose network discovery does
/// not know is left out and logged, never an error: it may be in a provider
/// not read this time).
pub fn build_estate(
    snapshot: i64,
    topology: &Topology,
    catalog: &PricingCatalog,
    overlay: &Overlay,
    requested: &[Flow],
) -> Result<Estate, String> {
    let priced = estate_from_topology(topology, catalog).map_err(|e| e.to_string())?;
    let mut estate = priced.estate;
    estate.name = format!(
        "snapshot {snapshot} ({})",
        topology.taken_at.format("%Y-%m-%d %H:%M UTC")
    );
    let known = |s: &Service| estate.networks.iter().any(|n| n.id == s.network);
    let extra = overlay
        .services
        .iter()
        .chain(overlay.estate.iter().flat_map(|e| &e.services));
    let mut services: Vec<Service> = Vec::new();
    for s in topology.services.iter().chain(extra) {
        if !known(s) {
            tracing::warn!(service = %s.id, network = %s.network, "service left out: its network is not in the snapshot");
            continue;
        }
        if !services.iter().any(|have| have.id == s.id) {
            services.push(s.clone());
        }
    }
    estate.services = services;
    // The estate file's flows, then what completed requests added, each
    // kept while both its services are known, on the connections still there.
    let connections: HashSet<_> = estate.connections.iter().map(|c| c.id.clone()).collect();
    let flows = overlay
        .estate
        .iter()
        .flat_map(|e| &e.flows)
        .chain(requested);
    let mut kept: Vec<Flow> = Vec::new();
    for f in flows {
        let known = [&f.source, &f.destination]
            .iter()
            .all(|s| estate.services.iter().any(|have| &have.id == *s));
        if known && !kept.iter().any(|k| k.id == f.id) {
            let mut f = f.clone();
            f.path.retain(|c| connections.contains(c));
            kept.push(f);
        }
    }
    estate.flows = kept;
    Estate::checked(estate, "the discovered estate").map_err(|e| e.to_string())
}

impl Clouds {
    pub fn new(
        actors: Vec<Arc<dyn CloudActor>>,
        topology: Arc<TopologyService>,
        store: Store,
        catalog: PricingCatalog,
        overlay: Overlay,
        max_age: Duration,
    ) -> Clouds {
        Clouds {
            actors,
            topology,
            store,
            catalog,
            overlay,
            max_age,
            built: Mutex::new(None),
        }
    }

    /// The latest snapshot's id and when it was taken, if any.
    async fn latest(&self) -> Result<Option<(i64, DateTime<Utc>)>, ProviderError> {
        let summary = self
            .store
            .snapshots(1)
            .await
            .map_err(|e| transient(e.to_string()))?;
        Ok(summary.first().map(|s| {
            let taken = DateTime::parse_from_rfc3339(&s.taken_at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(DateTime::UNIX_EPOCH);
            (s.id, taken)
        }))
    }

    /// The estate of snapshot `id` with the flows requests added, built
    /// again only when either changed.
    async fn estate_of(&self, id: i64) -> Result<Arc<Estate>, ProviderError> {
        let read = |e: crate::store::StoreError| transient(e.to_string());
        // Cheap first: the outputs are read only when a request completed
        // or the snapshot changed since the estate was built.
        let completed = self.store.completed_count().await.map_err(read)?;
        let mut built = self.built.lock().await;
        if let Some((have, count, estate)) = built.as_ref() {
            if *have == id && *count == completed {
                return Ok(estate.clone());
            }
        }
        let requested = requested_flows(
            &self.store.completed_outputs("parse").await.map_err(read)?,
            &self.store.completed_outputs("design").await.map_err(read)?,
        );
        let (id, topology) = self
            .store
            .snapshot(Some(id))
            .await
            .map_err(read)?
            .ok_or_else(|| transient(format!("snapshot {id} vanished")))?;
        let estate = Arc::new(
            build_estate(id, &topology, &self.catalog, &self.overlay, &requested)
                .map_err(refused)?,
        );
        *built = Some((id, completed, estate.clone()));
        Ok(estate)
    }

    async fn refreshed(&self) -> Result<Arc<Estate>, ProviderError> {
        let refreshed = self
            .topology
            .refresh()
            .await
            .map_err(|e| transient(format!("discovery: {e}")))?;
        self.estate_of(refreshed.snapshot).await
    }

    fn actor_for_cloud(
        &self,
        change: &Change,
        estate: &Estate,
    ) -> Result<&dyn CloudActor, ProviderError> {
        let network = change.network();
        let cloud = estate
            .network(network)
            .map(|n| n.cloud)
            .ok_or_else(|| refused(format!("network '{network}' is not in {}", estate.name)))?;
        self.actors
            .iter()
            .find(|a| a.cloud() == cloud)
            .map(|a| a.as_ref())
            .ok_or_else(|| {
                refused(format!(
                    "no provider acts on {} networks yet ('{network}'); nothing was changed",
                    cloud.as_str()
                ))
            })
    }

    fn actor_for_resource(&self, resource: &ResourceId) -> Option<&dyn CloudActor> {
        let prefix = resource.as_str().split(':').next().unwrap_or_default();
        self.actors
            .iter()
            .find(|a| a.name() == prefix)
            .map(|a| a.as_ref())
    }
}

#[async_trait]
impl CloudProvider for Clouds {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn discover(&self) -> Result<Estate, ProviderError> {
        let estate = match self.latest().await? {
            Some((id, taken))
                if Utc::now()
                    .signed_duration_since(taken)
                    .to_std()
                    .unwrap_or_default()
                    <= self.max_age =>
            {
                self.estate_of(id).await?
            }
            _ => self.refreshed().await?,
        };
        Ok((*estate).clone())
    }

    async fn estate(&self) -> Result<Arc<Estate>, ProviderError> {
        match self.latest().await? {
            Some((id, _)) => self.estate_of(id).await,
            None => self.refreshed().await,
        }
    }

    fn plan(&self, change: &Change, estate: &Estate) -> Vec<String> {
        self.actor_for_cloud(change, estate)
            .map(|actor| actor.plan(change, estate))
            .unwrap_or_default()
    }

    fn basis(&self, estate: &Estate) -> Option<String> {
        Some(estate.name.clone())
    }

    fn can_act(&self, change: &Change, estate: &Estate) -> Result<(), ProviderError> {
        self.actor_for_cloud(change, estate)?.check(change, estate)
    }

    fn owner(&self, resource: &ResourceId) -> &'static str {
        self.actor_for_resource(resource).map_or(NAME, |a| a.name())
    }

    async fn apply(
        &self,
        change: &Change,
        idempotency_key: &str,
    ) -> Result<ResourceId, ProviderError> {
        let estate = self.estate().await?;
        self.actor_for_cloud(change, &estate)?
            .apply(change, idempotency_key, &estate)
            .await
    }

    async fn revert(&self, resource: &ResourceId) -> Result<(), ProviderError> {
        self.actor_for_resource(resource)
            .ok_or_else(|| refused(format!("no provider owns '{resource}'")))?
            .revert(resource)
            .await
    }

    async fn present(
        &self,
        resources: &[ResourceId],
    ) -> Result<HashSet<ResourceId>, ProviderError> {
        let mut present = HashSet::new();
        for actor in &self.actors {
            let mine: Vec<ResourceId> = resources
                .iter()
                .filter(|r| {
                    self.actor_for_resource(r)
                        .is_some_and(|a| a.name() == actor.name())
                })
                .cloned()
                .collect();
            if !mine.is_empty() {
                present.extend(actor.present(&mine).await?);
            }
        }
        Ok(present)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NetworkId, ServiceId};
    use crate::providers::lab::EMBEDDED_ESTATE;

    fn lab() -> (Estate, Topology) {
        let estate = Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap();
        let mut topology = Topology::from_estate(&estate, Utc::now());
        topology.services = estate.services.clone();
        (estate, topology)
    }

    #[test]
    fn a_snapshot_becomes_a_priced_estate_with_its_services_and_the_overlay() {
        let (file, topology) = lab();
        let catalog = PricingCatalog::embedded().unwrap();
        let extra = Service {
            id: ServiceId::new("onprem:erp"),
            name: "erp".into(),
            kind: "sap".into(),
            network: file.networks[0].id.clone(),
            identifiers: vec![],
            port: 3300,
            address: "192.168.1.9".into(),
            security_groups: vec![],
            public_endpoint: false,
        };
        let stray = Service {
            network: NetworkId::new("vpc-nowhere"),
            id: ServiceId::new("aws:stray"),
            ..extra.clone()
        };
        let overlay = Overlay {
            services: vec![extra.clone(), stray],
            estate: Some(file.clone()),
        };
        let asked = Flow {
            id: "wf-3".into(),
            source: extra.id.clone(),
            destination: file.services[0].id.clone(),
            monthly_gb: GbPerMonth(200.0),
            path: vec![file.connections[0].id.clone()],
        };
        let estate = build_estate(7, &topology, &catalog, &overlay, &[asked]).unwrap();
        assert!(estate.name.starts_with("snapshot 7 ("), "{}", estate.name);
        assert_eq!(estate.networks.len(), file.networks.len());
        assert_eq!(estate.services.len(), file.services.len() + 1);
        assert!(estate.service(&extra.id).is_some());
        assert!(estate.service(&ServiceId::new("aws:stray")).is_none());
        assert_eq!(estate.flows.len(), file.flows.len() + 1);
        assert!(estate
            .flows
            .iter()
            .any(|f| f.id == "wf-3" && f.monthly_gb.0 == 200.0));
    }

    #[test]
    fn a_snapshot_the_catalog_cannot_price_is_refused_with_the_missing_price() {
        let (_, topology) = lab();
        let catalog = PricingCatalog::from_yaml(
            "as_of: 2026-01-01\ncurrency: USD\nhours_per_month: 730\nclouds: {}\n",
            "empty.yaml",
        )
        .unwrap();
        let err = build_estate(1, &topology, &catalog, &Overlay::default(), &[]).unwrap_err();
        assert!(err.contains("empty.yaml") || err.contains("aws"), "{err}");
    }

    #[test]
    fn each_completed_request_becomes_a_flow_and_unreadable_outputs_are_left_out() {
        use crate::domain::WorkflowId;
        use serde_json::json;
        let (file, _) = lab();
        let policies = crate::compliance::Policies::embedded().unwrap();
        let intent: Intent = serde_json::from_value(json!({
            "source": {"cloud": "aws", "region": "us-east-1", "service": "lambda",
                       "identifier": "OrderProcessor", "resolved": "order-processor"},
            "destination": {"cloud": "azure", "region": "eastus", "service": "sql",
                            "identifier": "orderdb", "resolved": "orderdb"},
            "requirements": {"max_latency_ms": 20.0, "monthly_traffic_gb": 500.0,
                             "encryption": true, "private_only": false},
            "compliance": ["pci_dss"],
            "missing": []
        }))
        .unwrap();
        let design = crate::optimizer::design(&intent, &file, &policies).unwrap();
        let wf = |n| WorkflowId::new(n).unwrap();
        let intents = vec![
            (wf(1), serde_json::to_value(&intent).unwrap()),
            (wf(2), json!({"not": "an intent"})),
        ];
        let designs = vec![
            (wf(1), serde_json::to_value(&design).unwrap()),
            (wf(2), serde_json::to_value(&design).unwrap()),
        ];
        let flows = requested_flows(&intents, &designs);
        assert_eq!(flows.len(), 1, "{flows:?}");
        assert_eq!(flows[0].id, "wf-1");
        assert_eq!(flows[0].monthly_gb.0, 500.0);
        assert_eq!(flows[0].path, design.primary.connections);
    }
}
