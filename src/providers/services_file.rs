//! `services.yaml`: the services discovery cannot see (an on-prem ERP, an
//! app behind a load balancer, anything not a Lambda, RDS or EC2 instance),
//! so requests can name them too. Read at the edge, checked whole: every
//! entry names its cloud, the network id discovery knows it by, at least one
//! address and one port. See `examples/services.yaml`.

use crate::domain::{Cloud, NetworkId, Service, ServiceId};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ServicesFileError {
    #[error("services file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("services file {path}: {source}")]
    Syntax {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("services file {path}: service '{name}': {what}")]
    Invalid {
        path: String,
        name: String,
        what: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    services: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    kind: String,
    cloud: Cloud,
    network: String,
    addresses: Vec<String>,
    ports: Vec<u16>,
    #[serde(default)]
    identifiers: Vec<String>,
    #[serde(default)]
    security_groups: Vec<String>,
}

/// The services of a services file.
pub fn load(path: &Path) -> Result<Vec<Service>, ServicesFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ServicesFileError::Read {
        path: shown.clone(),
        source,
    })?;
    from_yaml(&text, &shown)
}

/// Parses and checks; `origin` names the file in errors. The first address
/// and port are the ones rules and records use; the other addresses are kept
/// as identifiers the service can be named by.
pub fn from_yaml(text: &str, origin: &str) -> Result<Vec<Service>, ServicesFileError> {
    let file: File = serde_yaml::from_str(text).map_err(|source| ServicesFileError::Syntax {
        path: origin.to_string(),
        source,
    })?;
    let mut services: Vec<Service> = Vec::with_capacity(file.services.len());
    for entry in file.services {
        let invalid = |what: String| ServicesFileError::Invalid {
            path: origin.to_string(),
            name: entry.name.clone(),
            what,
        };
        if entry.name.trim().is_empty() {
            return Err(invalid("the name is empty".into()));
        }
        if entry.network.trim().is_empty() {
            return Err(invalid("the network is empty".into()));
        }
        let Some((address, more)) = entry.addresses.split_first() else {
            return Err(invalid("needs at least one address".into()));
        };
        let Some(port) = entry.ports.first().copied() else {
            return Err(invalid("needs at least one port".into()));
        };
        if port == 0 {
            return Err(invalid("port 0 cannot be reached".into()));
        }
        let id = ServiceId::new(format!("{}:{}", entry.cloud.as_str(), entry.name));
        if services.iter().any(|s| s.id == id) {
            return Err(invalid(format!(
                "is listed twice in {}",
                entry.cloud.as_str()
            )));
        }
        let mut identifiers = entry.identifiers.clone();
        identifiers.extend(more.iter().cloned());
        services.push(Service {
            id,
            name: entry.name.clone(),
            kind: entry.kind.clone(),
            network: NetworkId::new(entry.network.clone()),
            identifiers,
            port,
            address: address.clone(),
            security_groups: entry.security_groups.clone(),
            public_endpoint: false,
        });
    }
    Ok(services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/services.yaml");
        let services = load(&path).unwrap();
        assert!(!services.is_empty());
        assert!(services.iter().all(|s| !s.address.is_empty()));
    }

    #[test]
    fn entries_missing_what_a_rule_needs_are_refused_by_name() {
        let no_port = "services:\n  - { name: erp, kind: sap, cloud: onprem, network: dc1, addresses: [192.168.1.5], ports: [] }\n";
        let err = from_yaml(no_port, "s.yaml").unwrap_err().to_string();
        assert!(
            err.contains("s.yaml") && err.contains("'erp'") && err.contains("port"),
            "{err}"
        );
        let twice = "services:\n  - { name: a, kind: x, cloud: aws, network: vpc-1, addresses: [10.0.0.1], ports: [443] }\n  - { name: a, kind: x, cloud: aws, network: vpc-1, addresses: [10.0.0.2], ports: [443] }\n";
        assert!(from_yaml(twice, "s.yaml")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let unknown = "services:\n  - { name: a, kind: x, cloud: aws, network: vpc-1, addresses: [10.0.0.1], ports: [443], colour: red }\n";
        assert!(from_yaml(unknown, "s.yaml")
            .unwrap_err()
            .to_string()
            .contains("colour"));
    }
}
