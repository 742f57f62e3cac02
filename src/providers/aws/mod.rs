//! AWS, in one place: `discovery` reads the account (EC2, Direct Connect,
//! and the services requests name: Lambda functions, RDS instances and
//! Aurora clusters, EC2 instances), `map` turns the answers into inventory
//! records (pure), `resource` is the pure id scheme, tags and call plans of
//! what switchboard creates, and `apply` acts: security group rules, routes,
//! transit gateway routes, Route 53 private records, one typed change at a
//! time under an idempotency key.
//!
//! Both halves share one SDK configuration (`[discovery.aws]`: endpoint,
//! timeouts, attempts; credentials from the standard chain).

mod apply;
mod discovery;
mod map;
mod resource;

pub use apply::AwsActor;
pub use discovery::{AwsDiscovery, AwsDiscoveryConfig, AwsRunStats};
pub use resource::{fqdn, zone_of, AwsResource, RecordKind};
