//! What switchboard creates in AWS, as the resource id it records: pure.
//! Each id names everything `present` and `revert` need (region, group,
//! tables, targets, zone), so neither reads the store; an id that does not
//! parse is refused, never guessed at. Also the tags every created resource
//! carries and the rule description AWS accepts.
//!
//! Id scheme (`:`-separated; AWS ids and CIDRs never hold a colon):
//! - `aws:<region>:rule:<sg-id>:<sgr-id>` — an ingress rule;
//! - `aws:<region>:route:<cidr>:<target>:<rtb>,<rtb>…[:<tgw-rtb>=<attachment>]`
//!   — the routes created in those tables, and the transit gateway route;
//! - `aws:<region>:prefer:<cidr>:<preferred>:<previous>:<rtb>,<rtb>…[:<tgw-rtb>=<attachment>]`
//!   — the routes replaced to point at `preferred` (revert points them
//!   back), and the transit gateway route added when `preferred` is one;
//! - `aws:<region>:record:<zone-id>:<name>:<A|CNAME>:<value>` — a Route 53
//!   record in a private hosted zone.

use crate::providers::workflow_of;
use std::fmt;

pub const MANAGED_BY: (&str, &str) = ("managed-by", "switchboard");
pub const WORKFLOW_TAG: &str = "switchboard:workflow";
pub const KEY_TAG: &str = "switchboard:key";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsResource {
    Rule {
        region: String,
        group: String,
        rule: String,
    },
    Routes {
        region: String,
        cidr: String,
        target: String,
        tables: Vec<String>,
        /// The transit gateway route created: (TGW route table, attachment).
        tgw_route: Option<(String, String)>,
    },
    Preferred {
        region: String,
        cidr: String,
        preferred: String,
        previous: String,
        tables: Vec<String>,
        /// The transit gateway route created: (TGW route table, attachment).
        tgw_route: Option<(String, String)>,
    },
    Record {
        region: String,
        zone: String,
        name: String,
        kind: RecordKind,
        value: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    A,
    Cname,
}

impl RecordKind {
    /// An IP address gets an A record; a name (an RDS endpoint) a CNAME.
    pub fn for_value(value: &str) -> RecordKind {
        if value.parse::<std::net::IpAddr>().is_ok() {
            RecordKind::A
        } else {
            RecordKind::Cname
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::A => "A",
            RecordKind::Cname => "CNAME",
        }
    }
}

impl AwsResource {
    pub fn region(&self) -> &str {
        match self {
            AwsResource::Rule { region, .. }
            | AwsResource::Routes { region, .. }
            | AwsResource::Preferred { region, .. }
            | AwsResource::Record { region, .. } => region,
        }
    }

    /// Parses an id this module wrote; `None` for anything else.
    pub fn parse(id: &str) -> Option<AwsResource> {
        let parts: Vec<&str> = id.split(':').collect();
        let list = |s: &str| -> Vec<String> {
            s.split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        };
        let text = |s: &&str| s.to_string();
        match parts.as_slice() {
            ["aws", region, "rule", group, rule] => Some(AwsResource::Rule {
                region: text(region),
                group: text(group),
                rule: text(rule),
            }),
            ["aws", region, "route", cidr, target, tables, rest @ ..] => {
                Some(AwsResource::Routes {
                    region: text(region),
                    cidr: text(cidr),
                    target: text(target),
                    tables: list(tables),
                    tgw_route: tgw_pair(rest)?,
                })
            }
            ["aws", region, "prefer", cidr, preferred, previous, tables, rest @ ..] => {
                Some(AwsResource::Preferred {
                    region: text(region),
                    cidr: text(cidr),
                    preferred: text(preferred),
                    previous: text(previous),
                    tables: list(tables),
                    tgw_route: tgw_pair(rest)?,
                })
            }
            ["aws", region, "record", zone, name, kind, value] => Some(AwsResource::Record {
                region: text(region),
                zone: text(zone),
                name: text(name),
                kind: match *kind {
                    "A" => RecordKind::A,
                    "CNAME" => RecordKind::Cname,
                    _ => return None,
                },
                value: text(value),
            }),
            _ => None,
        }
    }
}

impl fmt::Display for AwsResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AwsResource::Rule {
                region,
                group,
                rule,
            } => write!(f, "aws:{region}:rule:{group}:{rule}"),
            AwsResource::Routes {
                region,
                cidr,
                target,
                tables,
                tgw_route,
            } => {
                write!(f, "aws:{region}:route:{cidr}:{target}:{}", tables.join(","))?;
                write_tgw_pair(f, tgw_route)
            }
            AwsResource::Preferred {
                region,
                cidr,
                preferred,
                previous,
                tables,
                tgw_route,
            } => {
                write!(
                    f,
                    "aws:{region}:prefer:{cidr}:{preferred}:{previous}:{}",
                    tables.join(",")
                )?;
                write_tgw_pair(f, tgw_route)
            }
            AwsResource::Record {
                region,
                zone,
                name,
                kind,
                value,
            } => write!(
                f,
                "aws:{region}:record:{zone}:{name}:{}:{value}",
                kind.as_str()
            ),
        }
    }
}

/// The optional last part of a route id, `<tgw-rtb>=<attachment>`: `None`
/// when it does not read.
fn tgw_pair(rest: &[&str]) -> Option<Option<(String, String)>> {
    match rest {
        [] => Some(None),
        [pair] => {
            let (table, attachment) = pair.split_once('=')?;
            Some(Some((table.to_string(), attachment.to_string())))
        }
        _ => None,
    }
}

fn write_tgw_pair(f: &mut fmt::Formatter<'_>, pair: &Option<(String, String)>) -> fmt::Result {
    match pair {
        Some((table, attachment)) => write!(f, ":{table}={attachment}"),
        None => Ok(()),
    }
}

/// The tags of a resource created under `key`: managed-by, the workflow (when
/// the key has one) and the key itself.
pub fn tags_for(key: &str) -> Vec<(String, String)> {
    let mut tags = vec![(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())];
    if let Some(workflow) = workflow_of(key) {
        tags.push((WORKFLOW_TAG.to_string(), workflow.to_string()));
    }
    tags.push((KEY_TAG.to_string(), key.to_string()));
    tags
}

/// A security group rule description carrying the key, in the characters
/// EC2 accepts (a-z A-Z 0-9, spaces and `._-:/()#,@[]+=&;{}!$*`), at most
/// 255 of them.
pub fn rule_description(key: &str, what: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c);
    let text = format!("switchboard {key} {what}");
    let mut out: String = text
        .replace('→', "to")
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    out.truncate(255);
    out
}

/// The tag a route table carries while switchboard owns a route in it (a
/// route has no tags of its own): written before the route is created, so
/// a crash between the two still tells a retry the route is ours.
pub fn route_owner_tag(cidr: &str) -> String {
    format!("switchboard:route:{cidr}")
}

/// The private hosted zone a record goes into: its name less the first label
/// (`orders.switchboard.internal` → `switchboard.internal`).
pub fn zone_of(name: &str) -> Option<&str> {
    let name = name.trim_end_matches('.');
    let (_, zone) = name.split_once('.')?;
    zone.contains('.').then_some(zone)
}

/// Route 53 writes names with a trailing dot and lower case.
pub fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_id_reads_back_as_written() {
        let ids = [
            AwsResource::Rule {
                region: "us-east-1".into(),
                group: "sg-1".into(),
                rule: "sgr-2".into(),
            },
            AwsResource::Routes {
                region: "eu-west-1".into(),
                cidr: "10.1.0.0/16".into(),
                target: "tgw-9".into(),
                tables: vec!["rtb-1".into(), "rtb-2".into()],
                tgw_route: Some(("tgw-rtb-3".into(), "tgw-attach-4".into())),
            },
            AwsResource::Routes {
                region: "eu-west-1".into(),
                cidr: "10.1.0.0/16".into(),
                target: "pcx-1".into(),
                tables: vec![],
                tgw_route: None,
            },
            AwsResource::Preferred {
                region: "us-west-2".into(),
                cidr: "10.9.0.0/16".into(),
                preferred: "vgw-1".into(),
                previous: "tgw-2".into(),
                tables: vec!["rtb-1".into()],
                tgw_route: None,
            },
            AwsResource::Preferred {
                region: "us-west-2".into(),
                cidr: "10.9.0.0/16".into(),
                preferred: "tgw-1".into(),
                previous: "pcx-2".into(),
                tables: vec!["rtb-1".into(), "rtb-2".into()],
                tgw_route: Some(("tgw-rtb-1".into(), "tgw-attach-9".into())),
            },
            AwsResource::Record {
                region: "us-east-1".into(),
                zone: "Z123".into(),
                name: "orders.switchboard.internal.".into(),
                kind: RecordKind::Cname,
                value: "db.x.us-east-1.rds.amazonaws.com".into(),
            },
        ];
        for id in ids {
            assert_eq!(
                AwsResource::parse(&id.to_string()),
                Some(id.clone()),
                "{id}"
            );
        }
    }

    #[test]
    fn ids_of_others_or_garbled_ones_are_not_read() {
        for bad in [
            "lab-route-0011",
            "aws:us-east-1:rule:sg-1",
            "aws:us-east-1:route:10.0.0.0/8:tgw-1:rtb-1:nonsense",
            "aws:us-east-1:record:Z1:n:MX:v",
            "aws:us-east-1:prefer:10.0.0.0/8:a:b",
            "",
        ] {
            assert_eq!(AwsResource::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn tags_name_the_workflow_and_the_key() {
        let tags = tags_for("wf-12/provision/0");
        assert!(tags.contains(&("managed-by".into(), "switchboard".into())));
        assert!(tags.contains(&("switchboard:workflow".into(), "wf-12".into())));
        assert!(tags.contains(&("switchboard:key".into(), "wf-12/provision/0".into())));
        let failover = tags_for("failover/pair-1/2026-01-01T00:00:00Z");
        assert!(!failover.iter().any(|(k, _)| k == WORKFLOW_TAG));
    }

    #[test]
    fn descriptions_keep_to_the_characters_ec2_accepts() {
        let d = rule_description("wf-3/provision/0", "orders → db <prod> é");
        assert!(d.starts_with("switchboard wf-3/provision/0 orders to db"));
        assert!(d.is_ascii(), "{d}");
        assert!(!d.contains('<'));
        assert!(rule_description("k", &"x".repeat(400)).len() <= 255);
    }

    #[test]
    fn a_record_goes_into_its_parent_zone() {
        assert_eq!(
            zone_of("orders.switchboard.internal"),
            Some("switchboard.internal")
        );
        assert_eq!(zone_of("a.b.c.example.com."), Some("b.c.example.com"));
        assert_eq!(zone_of("internal"), None);
        assert_eq!(zone_of("x.internal"), None);
        assert_eq!(
            fqdn("Orders.Switchboard.Internal"),
            "orders.switchboard.internal."
        );
    }
}
