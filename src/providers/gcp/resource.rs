//! What switchboard creates in GCP, as the resource id it records: pure.
//! Each id names everything `present` and `revert` need, so neither reads
//! the store; an id that does not parse is refused, never guessed at. Also
//! the names, descriptions and request ids derived from an idempotency key.
//!
//! Id scheme (`:`-separated; GCP names, resource paths and IPv4 CIDRs never
//! hold a colon; a record's value, which may, comes last):
//! - `gcp:<project>:firewall:<name>` — a firewall rule;
//! - `gcp:<project>:route:<name>` — a static route;
//! - `gcp:<project>:prefer:<route>:<network>:<cidr>[:<replaced>:<priority>:<tunnel>]`
//!   — the route inserted to prefer a connection, and the switchboard route
//!   it replaced (deleted after it), which revert inserts again before
//!   deleting `route`;
//! - `gcp:<project>:record:<zone>:<fqdn>:<A|CNAME>:<value>` — a Cloud DNS
//!   record set in a private managed zone.

use crate::providers::aws::RecordKind;
use sha2::{Digest, Sha256};
use std::fmt;

/// The switchboard route a preference replaced: enough to insert it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    pub name: String,
    pub priority: u32,
    /// The VPN tunnel it pointed at (`projects/p/regions/r/vpnTunnels/t`).
    pub tunnel: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcpResource {
    Firewall {
        project: String,
        name: String,
    },
    Route {
        project: String,
        name: String,
    },
    Preferred {
        project: String,
        route: String,
        /// `projects/p/global/networks/n`.
        network: String,
        cidr: String,
        replaced: Option<Replaced>,
    },
    Record {
        project: String,
        zone: String,
        name: String,
        kind: RecordKind,
        value: String,
    },
}

impl GcpResource {
    pub fn project(&self) -> &str {
        match self {
            GcpResource::Firewall { project, .. }
            | GcpResource::Route { project, .. }
            | GcpResource::Preferred { project, .. }
            | GcpResource::Record { project, .. } => project,
        }
    }

    /// Parses an id this module wrote; `None` for anything else.
    pub fn parse(id: &str) -> Option<GcpResource> {
        let text = |s: &&str| s.to_string();
        if let Some(rest) = id.strip_prefix("gcp:") {
            let record: Vec<&str> = rest.splitn(6, ':').collect();
            if let [project, "record", zone, name, kind, value] = record.as_slice() {
                let kind = match *kind {
                    "A" => RecordKind::A,
                    "CNAME" => RecordKind::Cname,
                    _ => return None,
                };
                return Some(GcpResource::Record {
                    project: text(project),
                    zone: text(zone),
                    name: text(name),
                    kind,
                    value: text(value),
                });
            }
        }
        let parts: Vec<&str> = id.split(':').collect();
        let parsed = match parts.as_slice() {
            ["gcp", project, "firewall", name] => GcpResource::Firewall {
                project: text(project),
                name: text(name),
            },
            ["gcp", project, "route", name] => GcpResource::Route {
                project: text(project),
                name: text(name),
            },
            ["gcp", project, "prefer", route, network, cidr, rest @ ..] => {
                let replaced = match rest {
                    [] => None,
                    [name, priority, tunnel] => Some(Replaced {
                        name: text(name),
                        priority: priority.parse().ok()?,
                        tunnel: text(tunnel),
                    }),
                    _ => return None,
                };
                GcpResource::Preferred {
                    project: text(project),
                    route: text(route),
                    network: text(network),
                    cidr: text(cidr),
                    replaced,
                }
            }
            _ => return None,
        };
        let named = |name: &str| is_valid_name(name);
        let ok = match &parsed {
            GcpResource::Firewall { name, .. } | GcpResource::Route { name, .. } => named(name),
            GcpResource::Preferred {
                route, replaced, ..
            } => named(route) && replaced.as_ref().is_none_or(|r| named(&r.name)),
            GcpResource::Record { .. } => true,
        };
        ok.then_some(parsed)
    }
}

impl fmt::Display for GcpResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcpResource::Firewall { project, name } => write!(f, "gcp:{project}:firewall:{name}"),
            GcpResource::Route { project, name } => write!(f, "gcp:{project}:route:{name}"),
            GcpResource::Preferred {
                project,
                route,
                network,
                cidr,
                replaced,
            } => {
                write!(f, "gcp:{project}:prefer:{route}:{network}:{cidr}")?;
                match replaced {
                    Some(r) => write!(f, ":{}:{}:{}", r.name, r.priority, r.tunnel),
                    None => Ok(()),
                }
            }
            GcpResource::Record {
                project,
                zone,
                name,
                kind,
                value,
            } => write!(
                f,
                "gcp:{project}:record:{zone}:{name}:{}:{value}",
                kind.as_str()
            ),
        }
    }
}

/// What Compute and Cloud DNS accept as a name: `[a-z]([-a-z0-9]*[a-z0-9])?`,
/// 1–63 characters.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let inner = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(inner)
        && bytes.last() != Some(&b'-')
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

/// The name of what `key` creates (`what`: firewall, route, zone).
pub fn name_for(key: &str, what: &str) -> String {
    crate::providers::key_name(key, what)
}

/// The `requestId` of one write (`seed` names it: the key and the call), a
/// UUID (version 4 layout, so never all zeros): the same on every retry of
/// that write, so Compute carries it out once.
pub fn request_id(seed: &[&str]) -> String {
    let mut b = digest(seed);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: Vec<String> = b[..16].iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex[..4].concat(),
        hex[4..6].concat(),
        hex[6..8].concat(),
        hex[8..10].concat(),
        hex[10..16].concat()
    )
}

/// The description of what `key` creates; how a retry knows its own work.
pub fn description(key: &str, what: &str) -> String {
    format!("switchboard {key} {what}")
}

/// Whether a resource's description says `key` made it.
pub fn made_by(description: Option<&str>, key: &str) -> bool {
    description.is_some_and(|d| d.starts_with(&format!("switchboard {key} ")))
}

/// Whether a resource's description says switchboard made it (any key).
pub fn made_by_switchboard(description: Option<&str>) -> bool {
    description.is_some_and(|d| d.starts_with("switchboard "))
}

/// The project of a network id (`projects/p/global/networks/n` → `p`).
pub fn project_of(network: &str) -> Option<&str> {
    let rest = network.strip_prefix("projects/")?;
    let (project, tail) = rest.split_once('/')?;
    tail.starts_with("global/networks/").then_some(project)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_id_reads_back_as_written() {
        let ids = [
            GcpResource::Firewall {
                project: "p".into(),
                name: "sb-0a1b".into(),
            },
            GcpResource::Route {
                project: "p".into(),
                name: "sb-9".into(),
            },
            GcpResource::Preferred {
                project: "p".into(),
                route: "sb-2".into(),
                network: "projects/p/global/networks/prod".into(),
                cidr: "10.61.0.0/16".into(),
                replaced: Some(Replaced {
                    name: "sb-1".into(),
                    priority: 100,
                    tunnel: "projects/p/regions/us-east1/vpnTunnels/t1".into(),
                }),
            },
            GcpResource::Preferred {
                project: "p".into(),
                route: "sb-2".into(),
                network: "projects/p/global/networks/prod".into(),
                cidr: "10.61.0.0/16".into(),
                replaced: None,
            },
            GcpResource::Record {
                project: "p".into(),
                zone: "sb-3".into(),
                name: "orders.switchboard.internal.".into(),
                kind: RecordKind::A,
                value: "10.80.0.5".into(),
            },
            GcpResource::Record {
                project: "p".into(),
                zone: "corp".into(),
                name: "v6.corp.internal.".into(),
                kind: RecordKind::Cname,
                value: "fd00::1".into(),
            },
        ];
        for id in ids {
            assert_eq!(
                GcpResource::parse(&id.to_string()),
                Some(id.clone()),
                "{id}"
            );
        }
    }

    #[test]
    fn ids_of_others_or_garbled_ones_are_not_read() {
        for bad in [
            "aws:us-east-1:rule:sg-1:sgr-2",
            "gcp:p:firewall",
            "gcp:p:firewall:Not_A_Name",
            "gcp:p:route:a:b",
            "gcp:p:prefer:sb-2:projects/p/global/networks/n:10.0.0.0/8:sb-1",
            "gcp:p:prefer:sb-2:n:10.0.0.0/8:sb-1:high:t",
            "gcp:p:record:z:n.:MX:v",
            "",
        ] {
            assert_eq!(GcpResource::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_from_a_key_are_stable_distinct_and_valid() {
        let a = name_for("wf-7/provision/0", "firewall");
        assert_eq!(a, name_for("wf-7/provision/0", "firewall"));
        assert_ne!(a, name_for("wf-7/provision/1", "firewall"));
        assert_ne!(a, name_for("wf-7/provision/0", "route"));
        assert!(is_valid_name(&a) && a.len() == 23, "{a}");
        for bad in ["", "9a", "a-", "A", "a_b", &"a".repeat(64)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn request_ids_are_uuids_stable_per_write_and_never_zero() {
        let id = request_id(&["wf-1/provision/0", "insert"]);
        assert_eq!(id, request_id(&["wf-1/provision/0", "insert"]));
        assert_ne!(id, request_id(&["wf-1/provision/0", "delete"]));
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert_eq!(&id[14..15], "4");
        assert_ne!(id.replace(['0', '-'], ""), "");
    }

    #[test]
    fn descriptions_carry_the_key_and_say_whose_it_is() {
        let d = description("wf-3/provision/0", "orders");
        assert!(made_by(Some(&d), "wf-3/provision/0"));
        assert!(!made_by(Some(&d), "wf-3/provision/00"));
        assert!(!made_by(Some(&d), "wf-3"));
        assert!(made_by_switchboard(Some(&d)));
        assert!(!made_by_switchboard(Some("someone's rule")));
        assert!(!made_by(None, "k"));
        assert_eq!(
            project_of("projects/acme/global/networks/prod"),
            Some("acme")
        );
        assert_eq!(project_of("vpc-1"), None);
    }
}
