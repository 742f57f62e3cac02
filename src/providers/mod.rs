//! The one contract every provider (lab, AWS, Azure, GCP, on-prem) implements:
//! discover the estate, apply a typed change under an idempotency key, revert
//! what it applied, and say whether a resource still exists. The engine never
//! knows which provider it is talking to.

pub mod aws;
pub mod azure;
pub mod clouds;
pub mod gcp;
pub mod lab;
pub mod onprem;
pub mod rest;
pub mod services_file;

use crate::domain::{Change, Cloud, Estate, ResourceId};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;

/// The workflow an idempotency key belongs to (`wf-7/provision/0` → `wf-7`);
/// failover keys belong to none.
pub fn workflow_of(key: &str) -> Option<&str> {
    key.split('/').next().filter(|w| w.starts_with("wf-"))
}

/// The name of what `key` creates (`what`: rule, route, zone…) where a
/// cloud keeps no tags on it: `sb-` and 20 hex digits of a hash, so a retry
/// after a crash names the same resource and two keys never share one (a
/// valid Azure child-resource name and GCP resource name).
pub fn key_name(key: &str, what: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in [what, key] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let hash = hasher.finalize();
    let hex: String = hash[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("sb-{hex}")
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider}: change refused: {reason}")]
    Refused {
        provider: &'static str,
        reason: String,
    },
    #[error("{provider}: no resource {resource}")]
    NotFound {
        provider: &'static str,
        resource: ResourceId,
    },
    /// Worth retrying: throttling, timeouts, a busy backend.
    #[error("{provider}: temporary failure: {reason}")]
    Transient {
        provider: &'static str,
        reason: String,
    },
}

impl ProviderError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::Transient { .. })
    }
}

#[async_trait]
pub trait CloudProvider: Send + Sync {
    fn name(&self) -> &'static str;

    /// The estate as the provider sees it now (statuses and latencies
    /// current; discovery refreshed when its snapshot is too old).
    async fn discover(&self) -> Result<Estate, ProviderError>;

    /// The estate as last seen, without asking anyone (names to resolve a
    /// request against).
    async fn estate(&self) -> Result<Arc<Estate>, ProviderError>;

    /// The calls applying `change` makes in a real cloud, for the approval
    /// card; none where nothing leaves switchboard (the lab).
    fn plan(&self, _change: &Change, _estate: &Estate) -> Vec<String> {
        Vec::new()
    }

    /// The discovery snapshot `estate` stands for, for the approval card;
    /// none where the estate is not discovered (the lab).
    fn basis(&self, _estate: &Estate) -> Option<String> {
        None
    }

    /// Whether this provider can carry out `change` at all (a cloud it acts
    /// in): asked at design, before anyone is asked to approve.
    fn can_act(&self, _change: &Change, _estate: &Estate) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Which provider owns `resource` (what `resources` shows).
    fn owner(&self, _resource: &ResourceId) -> &'static str {
        self.name()
    }

    /// Applies `change`. Applying the same `idempotency_key` again returns the
    /// resource the first call created and creates nothing.
    async fn apply(
        &self,
        change: &Change,
        idempotency_key: &str,
    ) -> Result<ResourceId, ProviderError>;

    /// Removes a resource this provider created. Reverting twice is not an error.
    async fn revert(&self, resource: &ResourceId) -> Result<(), ProviderError>;

    /// Which of `resources` exist and are active, in one call (as the clouds'
    /// Describe/List APIs take many ids at once).
    async fn present(&self, resources: &[ResourceId])
        -> Result<HashSet<ResourceId>, ProviderError>;
}

/// One cloud's hands: acts on changes in that cloud's networks, given the
/// estate the design was made on. `Clouds` picks the actor by the changed
/// network's cloud and by a resource id's prefix (the actor's name).
#[async_trait]
pub trait CloudActor: Send + Sync {
    /// Also the prefix of every resource id it returns (`aws:…`).
    fn name(&self) -> &'static str;
    fn cloud(&self) -> Cloud;
    /// Whether `change` can be made at all, from the estate alone (the
    /// network is one of this cloud's, the service has somewhere to take a
    /// rule, the route has a target): refused at design, not after approval.
    fn check(&self, change: &Change, estate: &Estate) -> Result<(), ProviderError>;
    /// The calls `apply` makes for `change` (for the approval card).
    fn plan(&self, change: &Change, estate: &Estate) -> Vec<String>;
    async fn apply(
        &self,
        change: &Change,
        idempotency_key: &str,
        estate: &Estate,
    ) -> Result<ResourceId, ProviderError>;
    async fn revert(&self, resource: &ResourceId) -> Result<(), ProviderError>;
    async fn present(&self, resources: &[ResourceId])
        -> Result<HashSet<ResourceId>, ProviderError>;
}
