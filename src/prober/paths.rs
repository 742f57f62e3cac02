//! The monitored paths file (`paths.yaml`): pairs of a primary and a backup
//! path, how each is probed and from where, and the typed route change that
//! moves traffic between them. Parsed once into typed values; errors name the
//! file, the pair and the field.

use super::failover::{FailoverConfig, PathId};
use super::health::HealthConfig;
use super::probe::{ProbeSpec, Via};
use super::scheduler::{Target, MIN_INTERVAL};
use crate::domain::{Change, ConnectionId, NetworkId};
use crate::workflow::definition::parse_duration;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("paths file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("paths file {path}: {source}")]
    Syntax {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("paths file {path}: {what}")]
    Invalid { path: String, what: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    health: HealthConfig,
    #[serde(default)]
    failover: FailoverFile,
    pairs: Vec<PairFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    #[serde(default = "default_interval")]
    interval: String,
    #[serde(default = "default_timeout")]
    timeout: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            interval: default_interval(),
            timeout: default_timeout(),
        }
    }
}

fn default_interval() -> String {
    "1s".into()
}

fn default_timeout() -> String {
    "800ms".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailoverFile {
    hold_down: Option<String>,
    max_hold_down: Option<String>,
    flap_memory: Option<String>,
    flap_penalty_factor: Option<u32>,
    #[serde(default)]
    dry_run: bool,
    remind_every: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairFile {
    id: String,
    #[serde(default)]
    description: String,
    primary: PathFile,
    backup: PathFile,
    /// The route the failover moves: traffic from `network` to `destination_cidr`.
    route: RouteFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PathFile {
    /// The connection this path runs over (its id in the estate).
    connection: String,
    probe: ProbeSpec,
    /// Used instead of an ICMP probe when this host may not send ICMP.
    fallback: Option<ProbeSpec>,
    #[serde(default)]
    via: Via,
    interval: Option<String>,
    timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    network: String,
    destination_cidr: String,
}

/// One monitored path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathSpec {
    pub id: PathId,
    pub connection: ConnectionId,
    pub probe: ProbeSpec,
    pub fallback: Option<ProbeSpec>,
    pub via: Via,
    pub interval: Duration,
    pub timeout: Duration,
}

/// A primary and a backup path for one route.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSpec {
    pub id: String,
    pub description: String,
    pub primary: PathSpec,
    pub backup: PathSpec,
    pub network: NetworkId,
    pub destination_cidr: String,
}

impl PairSpec {
    /// The typed change that sends the route over `preferred`.
    pub fn prefer(&self, preferred: &PathSpec) -> Change {
        let other = if preferred.id == self.primary.id {
            &self.backup
        } else {
            &self.primary
        };
        Change::RoutePreference {
            network: self.network.clone(),
            destination_cidr: self.destination_cidr.clone(),
            preferred: preferred.connection.clone(),
            other: other.connection.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PathsConfig {
    pub health: HealthConfig,
    pub failover: FailoverConfig,
    pub pairs: Vec<PairSpec>,
}

impl PathsConfig {
    pub fn load(path: &Path) -> Result<PathsConfig, PathsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PathsError::Read {
            path: shown.clone(),
            source,
        })?;
        PathsConfig::from_yaml(&text, &shown)
    }

    pub fn from_yaml(text: &str, origin: &str) -> Result<PathsConfig, PathsError> {
        let file: File = serde_yaml::from_str(text).map_err(|source| PathsError::Syntax {
            path: origin.to_string(),
            source,
        })?;
        let invalid = |what: String| PathsError::Invalid {
            path: origin.to_string(),
            what,
        };
        file.health.validate().map_err(|e| invalid(e.to_string()))?;
        let mut failover = FailoverConfig {
            dry_run: file.failover.dry_run,
            ..FailoverConfig::default()
        };
        let ms = |key: &str, text: &Option<String>, into: &mut u64| -> Result<(), PathsError> {
            if let Some(t) = text {
                let d = parse_duration(t).map_err(|e| invalid(format!("failover.{key}: {e}")))?;
                *into = d.as_millis() as u64;
            }
            Ok(())
        };
        ms(
            "hold_down",
            &file.failover.hold_down,
            &mut failover.hold_down_ms,
        )?;
        ms(
            "max_hold_down",
            &file.failover.max_hold_down,
            &mut failover.max_hold_down_ms,
        )?;
        ms(
            "flap_memory",
            &file.failover.flap_memory,
            &mut failover.flap_memory_ms,
        )?;
        ms(
            "remind_every",
            &file.failover.remind_every,
            &mut failover.remind_every_ms,
        )?;
        if failover.remind_every_ms < 1000 {
            return Err(invalid(
                "failover.remind_every must be at least 1s".to_string(),
            ));
        }
        if let Some(f) = file.failover.flap_penalty_factor {
            failover.flap_penalty_factor = f;
        }
        failover.validate().map_err(|e| invalid(e.to_string()))?;
        let duration = |key: String, text: &str| {
            parse_duration(text).map_err(|e| invalid(format!("{key}: {e}")))
        };
        let default_interval = duration("defaults.interval".into(), &file.defaults.interval)?;
        let default_timeout = duration("defaults.timeout".into(), &file.defaults.timeout)?;
        if file.pairs.is_empty() {
            return Err(invalid("no pairs to monitor".into()));
        }
        let mut ids = std::collections::HashSet::new();
        let mut pairs = Vec::with_capacity(file.pairs.len());
        for pair in file.pairs {
            if !ids.insert(pair.id.clone()) {
                return Err(invalid(format!("pair '{}' appears twice", pair.id)));
            }
            let path = |role: &str, p: PathFile| -> Result<PathSpec, PathsError> {
                let key = format!("pairs.{}.{role}", pair.id);
                let id = PathId::parse(&format!("{}/{role}", pair.id))
                    .map_err(|e| invalid(format!("{key}: {e}")))?;
                let interval = match &p.interval {
                    Some(t) => duration(format!("{key}.interval"), t)?,
                    None => default_interval,
                };
                let timeout = match &p.timeout {
                    Some(t) => duration(format!("{key}.timeout"), t)?,
                    None => default_timeout.min(interval),
                };
                if interval < MIN_INTERVAL {
                    return Err(invalid(format!(
                        "{key}.interval: {interval:?} is below {MIN_INTERVAL:?}"
                    )));
                }
                if timeout.is_zero() || timeout > interval {
                    return Err(invalid(format!(
                        "{key}.timeout: {timeout:?} must be above zero and at most the interval"
                    )));
                }
                if let ProbeSpec::Http { url, .. } = &p.probe {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(invalid(format!(
                            "{key}.probe.url: '{url}' is not an http(s) URL"
                        )));
                    }
                }
                Ok(PathSpec {
                    id,
                    connection: ConnectionId::new(p.connection),
                    probe: p.probe,
                    fallback: p.fallback,
                    via: p.via,
                    interval,
                    timeout,
                })
            };
            let primary = path("primary", pair.primary)?;
            let backup = path("backup", pair.backup)?;
            if primary.connection == backup.connection {
                return Err(invalid(format!(
                    "pair '{}': primary and backup use the same connection",
                    pair.id
                )));
            }
            pairs.push(PairSpec {
                id: pair.id,
                description: pair.description,
                primary,
                backup,
                network: NetworkId::new(pair.route.network),
                destination_cidr: pair.route.destination_cidr,
            });
        }
        Ok(PathsConfig {
            health: file.health,
            failover,
            pairs,
        })
    }

    /// Every path, in a fixed order: pair 0 primary, pair 0 backup, pair 1 …
    pub fn paths(&self) -> impl Iterator<Item = &PathSpec> {
        self.pairs.iter().flat_map(|p| [&p.primary, &p.backup])
    }

    /// The scheduler's targets, numbered as `paths()` orders them. Without
    /// ICMP, an ICMP path uses its fallback probe; one without a fallback is
    /// an error naming the path and the fix (never a silent gap).
    /// Paths that name a VPN connection (`vpn-aws-dc1`, as `paths` and the
    /// estate's groups call it) rather than one of its tunnels
    /// (`vpn-aws-dc1-t1`) are given the tunnel they probe: the first one
    /// up, else the first. Returns one line per path so resolved, for the
    /// log.
    pub fn resolve_tunnels(&mut self, estate: &crate::domain::Estate) -> Vec<String> {
        let mut notes = Vec::new();
        for pair in &mut self.pairs {
            for spec in [&mut pair.primary, &mut pair.backup] {
                if estate.connection(&spec.connection).is_some() {
                    continue;
                }
                let mut tunnels: Vec<&crate::domain::Connection> = estate
                    .connections
                    .iter()
                    .filter(|c| c.group.as_deref() == Some(spec.connection.as_str()))
                    .collect();
                tunnels.sort_by_key(|c| {
                    (
                        c.status != crate::domain::ConnectionStatus::Up,
                        c.id.as_str().to_string(),
                    )
                });
                if let Some(tunnel) = tunnels.first() {
                    notes.push(format!(
                        "{}: connection '{}' is a VPN connection of {} tunnels; probing and routing over tunnel '{}'",
                        spec.id,
                        spec.connection,
                        tunnels.len(),
                        tunnel.id
                    ));
                    spec.connection = tunnel.id.clone();
                }
            }
        }
        notes
    }

    pub fn targets(&self, icmp_allowed: bool) -> Result<Vec<Target>, PathsError> {
        self.paths()
            .enumerate()
            .map(|(index, p)| {
                let spec = match (&p.probe, icmp_allowed, &p.fallback) {
                    (ProbeSpec::Icmp { .. }, false, Some(fallback)) => fallback.clone(),
                    (ProbeSpec::Icmp { .. }, false, None) => {
                        return Err(PathsError::Invalid {
                            path: "paths".into(),
                            what: format!(
                                "path {} probes with ICMP, which this host may not send, and has no `fallback` probe: {}",
                                p.id,
                                super::probe::ICMP_FIX
                            ),
                        })
                    }
                    (probe, _, _) => probe.clone(),
                };
                Ok(Target {
                    path: index,
                    spec,
                    via: p.via.clone(),
                    interval: p.interval,
                    timeout: p.timeout,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../examples/paths.yaml");

    #[test]
    fn the_example_file_parses() {
        let config = PathsConfig::from_yaml(EXAMPLE, "examples/paths.yaml").unwrap();
        assert!(!config.pairs.is_empty());
        assert_eq!(config.targets(true).unwrap().len(), config.pairs.len() * 2);
        let fallbacks = config.targets(false).unwrap();
        assert!(fallbacks
            .iter()
            .all(|t| matches!(t.spec, ProbeSpec::Tcp { .. })));
    }

    #[test]
    fn icmp_without_permission_or_fallback_is_refused_with_the_fix() {
        let no_fallback: String = EXAMPLE
            .lines()
            .filter(|l| !l.contains("fallback:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let config = PathsConfig::from_yaml(&no_fallback, "x").unwrap();
        let err = config.targets(false).unwrap_err().to_string();
        assert!(
            err.contains("ping_group_range") && err.contains("use1-to-dc1/primary"),
            "{err}"
        );
    }

    #[test]
    fn mistakes_name_the_pair_and_field() {
        let bad = EXAMPLE.replacen("interval: 1s", "interval: 10ms", 1);
        let err = PathsConfig::from_yaml(&bad, "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.yaml") && err.contains("interval"), "{err}");
        let err = PathsConfig::from_yaml("pairs: []\n", "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no pairs"), "{err}");
        let err = PathsConfig::from_yaml("pairs:\n  - id: x\n    colour: red\n", "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn the_failover_change_prefers_the_chosen_connection() {
        let config = PathsConfig::from_yaml(EXAMPLE, "x").unwrap();
        let pair = &config.pairs[0];
        match pair.prefer(&pair.backup) {
            Change::RoutePreference {
                preferred, other, ..
            } => {
                assert_eq!(preferred, pair.backup.connection);
                assert_eq!(other, pair.primary.connection);
            }
            other => panic!("{other:?}"),
        }
    }
}
