//! The one contract every provider (lab, AWS, Azure, GCP, on-prem) implements:
//! discover the estate, apply a typed change under an idempotency key, revert
//! what it applied, and say whether a resource still exists. The engine never
//! knows which provider it is talking to.

pub mod aws;
pub mod azure;
pub mod gcp;
pub mod lab;
pub mod onprem;
pub mod rest;

use crate::domain::{Change, Estate, ResourceId};
use async_trait::async_trait;
use std::collections::HashSet;

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

    /// The estate as the provider sees it now (statuses and latencies current).
    async fn discover(&self) -> Result<Estate, ProviderError>;

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
