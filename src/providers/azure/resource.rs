//! What switchboard makes in Azure, as the resource id it records, and the
//! ARM bodies it writes: pure. Each id names every ARM resource `present`
//! and `revert` need, so neither reads the store; an id that does not parse
//! is refused, never guessed at.
//!
//! Id scheme (ARM ids hold no `:`, `,` or `=`):
//! - `azure:made:<arm id>,<arm id>…` — resources created (NSG rules, SQL
//!   firewall rules, routes, private DNS record sets); revert deletes each;
//!   none listed when Azure needed nothing (a route over a peering is a
//!   system route);
//! - `azure:prefer:<route arm id>=<previous hop>,…` — routes whose next hop
//!   was set; revert puts each previous hop back (`none`: the route was
//!   created, and is deleted).

use super::discovery::{NETWORK_API_VERSION, SQL_API_VERSION};
use serde_json::{json, Value};
use std::fmt;
use std::net::Ipv4Addr;

/// Private DNS's API version (zones, links, record sets).
pub const PRIVATE_DNS_API_VERSION: &str = "2024-06-01";
/// The Microsoft.Network version writes use.
pub const NETWORK_WRITE_API_VERSION: &str = "2024-07-01";
/// The tag and metadata names on what switchboard makes (Azure allows no
/// `:` in a tag name).
pub const MANAGED_BY: (&str, &str) = ("managed-by", "switchboard");
pub const WORKFLOW_TAG: &str = "switchboard-workflow";
pub const KEY_TAG: &str = "switchboard-key";
/// The most an NSG rule's description may hold.
const DESCRIPTION_MAX: usize = 140;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureResource {
    Made(Vec<String>),
    Preferred(Vec<(String, NextHop)>),
}

/// Where a route sends traffic, in ARM's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop {
    VirtualNetworkGateway,
    Internet,
    VirtualAppliance(String),
    /// No route was there (revert deletes the one made).
    Absent,
}

impl NextHop {
    /// The route properties that send traffic for `cidr` this way.
    pub fn route_body(&self, cidr: &str) -> Value {
        match self {
            NextHop::VirtualAppliance(ip) => json!({"properties": {
                "addressPrefix": cidr, "nextHopType": "VirtualAppliance", "nextHopIpAddress": ip}}),
            other => json!({"properties": {
                "addressPrefix": cidr, "nextHopType": other.kind()}}),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            NextHop::VirtualNetworkGateway => "VirtualNetworkGateway",
            NextHop::Internet => "Internet",
            NextHop::VirtualAppliance(_) => "VirtualAppliance",
            NextHop::Absent => "none",
        }
    }

    /// The hop a route's properties name.
    pub fn of_route(route: &Value) -> NextHop {
        let props = &route["properties"];
        match props["nextHopType"].as_str().unwrap_or_default() {
            "VirtualNetworkGateway" => NextHop::VirtualNetworkGateway,
            "Internet" => NextHop::Internet,
            "VirtualAppliance" => NextHop::VirtualAppliance(
                props["nextHopIpAddress"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
            _ => NextHop::Absent,
        }
    }

    fn parse(text: &str) -> Option<NextHop> {
        Some(match text {
            "VirtualNetworkGateway" => NextHop::VirtualNetworkGateway,
            "Internet" => NextHop::Internet,
            "none" => NextHop::Absent,
            other => NextHop::VirtualAppliance(other.strip_prefix("VirtualAppliance/")?.into()),
        })
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::VirtualAppliance(ip) => write!(f, "VirtualAppliance/{ip}"),
            other => f.write_str(other.kind()),
        }
    }
}

impl AzureResource {
    /// Parses an id this module wrote; `None` for anything else.
    pub fn parse(id: &str) -> Option<AzureResource> {
        let list = |s: &str| -> Vec<String> {
            s.split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        };
        if let Some(ids) = id.strip_prefix("azure:made:") {
            let ids = list(ids);
            return ids
                .iter()
                .all(|i| i.starts_with("/subscriptions/"))
                .then_some(AzureResource::Made(ids));
        }
        let routes = id.strip_prefix("azure:prefer:")?;
        let pairs = list(routes)
            .into_iter()
            .map(|pair| {
                let (route, hop) = pair.split_once('=')?;
                route
                    .starts_with("/subscriptions/")
                    .then_some(())
                    .and(NextHop::parse(hop))
                    .map(|hop| (route.to_string(), hop))
            })
            .collect::<Option<Vec<_>>>()?;
        (!pairs.is_empty()).then_some(AzureResource::Preferred(pairs))
    }

    /// The ARM resources the id names.
    pub fn arm_ids(&self) -> Vec<&str> {
        match self {
            AzureResource::Made(ids) => ids.iter().map(String::as_str).collect(),
            AzureResource::Preferred(pairs) => pairs.iter().map(|(r, _)| r.as_str()).collect(),
        }
    }
}

impl fmt::Display for AzureResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureResource::Made(ids) => write!(f, "azure:made:{}", ids.join(",")),
            AzureResource::Preferred(pairs) => {
                let pairs: Vec<String> = pairs.iter().map(|(r, h)| format!("{r}={h}")).collect();
                write!(f, "azure:prefer:{}", pairs.join(","))
            }
        }
    }
}

/// The API version ARM wants for a resource, by its provider.
pub fn api_version_of(arm_id: &str) -> &'static str {
    let id = arm_id.to_ascii_lowercase();
    if id.contains("/providers/microsoft.sql/") {
        SQL_API_VERSION
    } else if id.contains("/privatednszones/") {
        PRIVATE_DNS_API_VERSION
    } else if id.contains("/securityrules/") || id.contains("/routes/") {
        NETWORK_WRITE_API_VERSION
    } else {
        NETWORK_API_VERSION
    }
}

/// The subscription an ARM id is in.
pub fn subscription_of(arm_id: &str) -> Option<&str> {
    let mut parts = arm_id.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some(s), Some(sub)) if s.eq_ignore_ascii_case("subscriptions") && !sub.is_empty() => {
            Some(sub)
        }
        _ => None,
    }
}

/// The last segment of an ARM id (a resource's name).
pub fn name_of(arm_id: &str) -> &str {
    arm_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(arm_id)
}

/// An NSG rule letting `from_cidr` reach `address` (an IP, or anything in
/// the NSG's scope when empty) on TCP `port`, at `priority`.
pub fn security_rule(
    from_cidr: &str,
    address: &str,
    port: u16,
    priority: u16,
    description: &str,
) -> Value {
    let destination = if address.parse::<std::net::IpAddr>().is_ok() {
        address
    } else {
        "*"
    };
    json!({"properties": {
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": port.to_string(),
        "sourceAddressPrefix": from_cidr,
        "destinationAddressPrefix": destination,
        "access": "Allow",
        "priority": priority,
        "direction": "Inbound",
        "description": description,
    }})
}

/// An NSG rule description: `switchboard <key> <what>`, cut to the 140
/// characters ARM takes (the key first, so it always survives).
pub fn rule_description(key: &str, what: &str) -> String {
    format!("switchboard {key} {what}")
        .chars()
        .take(DESCRIPTION_MAX)
        .collect()
}

/// The lowest priority in `band` no inbound rule of the NSG has; `None`
/// when the band is full. ARM refuses two rules of one direction at one
/// priority (`SecurityRuleConflict`).
pub fn free_priority(nsg: &Value, band: (u16, u16)) -> Option<u16> {
    let taken: std::collections::HashSet<u64> = nsg["properties"]["securityRules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["properties"]["direction"]
                .as_str()
                .is_some_and(|d| d.eq_ignore_ascii_case("Inbound"))
        })
        .filter_map(|r| r["properties"]["priority"].as_u64())
        .collect();
    (band.0..=band.1).find(|p| !taken.contains(&u64::from(*p)))
}

/// The IPv4 range a CIDR covers, first and last address (what a SQL
/// firewall rule takes); `None` for anything else.
pub fn ipv4_range(cidr: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let (address, bits) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let address: Ipv4Addr = address.trim().parse().ok()?;
    let bits: u32 = bits.trim().parse().ok().filter(|b| *b <= 32)?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    let first = u32::from(address) & mask;
    Some((Ipv4Addr::from(first), Ipv4Addr::from(first | !mask)))
}

/// A SQL server firewall rule for `cidr`.
pub fn firewall_rule(cidr: &str) -> Option<Value> {
    let (start, end) = ipv4_range(cidr)?;
    Some(json!({"properties": {
        "startIpAddress": start.to_string(),
        "endIpAddress": end.to_string(),
    }}))
}

/// Tags (or record-set metadata) of what is made under `key`.
pub fn tags_for(key: &str) -> serde_json::Map<String, Value> {
    let mut tags = serde_json::Map::new();
    tags.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    if let Some(workflow) = crate::providers::workflow_of(key) {
        tags.insert(WORKFLOW_TAG.into(), workflow.into());
    }
    tags.insert(KEY_TAG.into(), key.into());
    tags
}

/// A private DNS record set pointing at `value`: an A record for an IP, a
/// CNAME for a name; the record type and body.
pub fn record_set(value: &str, key: &str) -> (&'static str, Value) {
    let metadata = Value::Object(tags_for(key));
    if value.parse::<Ipv4Addr>().is_ok() {
        (
            "A",
            json!({"properties": {"ttl": 300, "metadata": metadata,
                "aRecords": [{"ipv4Address": value}]}}),
        )
    } else {
        (
            "CNAME",
            json!({"properties": {"ttl": 300, "metadata": metadata,
                "cnameRecord": {"cname": value}}}),
        )
    }
}

/// Whether a record set or rule read back was made under `key`.
pub fn made_under(resource: &Value, key: &str) -> bool {
    let props = &resource["properties"];
    props["metadata"][KEY_TAG].as_str() == Some(key)
        || props["description"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("switchboard {key} ")))
}

/// The private zones `name` could go into, longest first
/// (`a.b.example.com` → `b.example.com`, `example.com`), never a bare TLD.
pub fn zones_for(name: &str) -> Vec<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    (1..labels.len().saturating_sub(1))
        .map(|i| labels[i..].join("."))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/networksecuritygroups/nsg/securityrules/sb-1";
    const ROUTE: &str =
        "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/routetables/rt/routes/sb-2";

    #[test]
    fn ids_read_back_as_written() {
        for id in [
            AzureResource::Made(vec![RULE.into(), ROUTE.into()]),
            AzureResource::Made(vec![]),
            AzureResource::Preferred(vec![
                (ROUTE.into(), NextHop::VirtualNetworkGateway),
                (ROUTE.replace("sb-2", "sb-3"), NextHop::Absent),
                (
                    ROUTE.replace("sb-2", "x"),
                    NextHop::VirtualAppliance("10.0.0.4".into()),
                ),
            ]),
        ] {
            assert_eq!(
                AzureResource::parse(&id.to_string()),
                Some(id.clone()),
                "{id}"
            );
        }
        for bad in [
            "aws:us-east-1:rule:sg-1:sgr-2",
            "azure:made:not-an-arm-id",
            "azure:prefer:",
            &format!("azure:prefer:{ROUTE}=Teleport"),
            &format!("azure:prefer:{ROUTE}"),
        ] {
            assert_eq!(AzureResource::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_first_free_inbound_priority_in_the_band_is_taken() {
        let nsg = json!({"properties": {"securityRules": [
            {"properties": {"priority": 3000, "direction": "Inbound"}},
            {"properties": {"priority": 3001, "direction": "Outbound"}},
            {"properties": {"priority": 3002, "direction": "Inbound"}},
        ]}});
        assert_eq!(free_priority(&nsg, (3000, 3999)), Some(3001));
        assert_eq!(free_priority(&nsg, (3000, 3000)), None);
        assert_eq!(free_priority(&json!({}), (3000, 3999)), Some(3000));
    }

    #[test]
    fn firewall_ranges_cover_the_cidr_and_only_ipv4() {
        assert_eq!(
            ipv4_range("10.61.0.0/16"),
            Some((
                "10.61.0.0".parse().unwrap(),
                "10.61.255.255".parse().unwrap()
            ))
        );
        assert_eq!(
            ipv4_range("10.61.7.9/24").map(|r| r.0.to_string()),
            Some("10.61.7.0".into())
        );
        assert_eq!(
            ipv4_range("0.0.0.0/0").map(|r| r.1.to_string()),
            Some("255.255.255.255".into())
        );
        assert_eq!(ipv4_range("fd00::/8"), None);
        assert_eq!(ipv4_range("10.0.0.0/33"), None);
    }

    #[test]
    fn descriptions_keep_the_key_within_140_characters() {
        let d = rule_description("wf-3/provision/0", &"x".repeat(300));
        assert!(d.starts_with("switchboard wf-3/provision/0 "));
        assert_eq!(d.chars().count(), 140);
        let rule = security_rule("10.61.0.0/16", "10.20.1.5", 1433, 3000, &d);
        assert!(made_under(&rule, "wf-3/provision/0"));
        assert!(!made_under(&rule, "wf-3/provision/1"));
    }

    #[test]
    fn records_carry_the_key_as_metadata() {
        let (kind, body) = record_set("10.20.1.5", "wf-1/provision/3");
        assert_eq!(kind, "A");
        assert_eq!(
            body["properties"]["aRecords"][0]["ipv4Address"],
            "10.20.1.5"
        );
        assert_eq!(
            body["properties"]["metadata"]["switchboard-workflow"],
            "wf-1"
        );
        assert!(made_under(&body, "wf-1/provision/3"));
        let (kind, _) = record_set("db.example.com", "k");
        assert_eq!(kind, "CNAME");
    }

    #[test]
    fn zones_are_the_name_less_its_labels_longest_first() {
        assert_eq!(
            zones_for("orderdb.privatelink.database.windows.net."),
            vec![
                "privatelink.database.windows.net",
                "database.windows.net",
                "windows.net"
            ]
        );
        assert!(zones_for("localhost").is_empty());
        assert!(zones_for("a.com").is_empty());
    }

    #[test]
    fn api_versions_follow_the_resource_provider() {
        assert_eq!(api_version_of(RULE), NETWORK_WRITE_API_VERSION);
        assert_eq!(
            api_version_of("/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/x/firewallRules/y"),
            SQL_API_VERSION
        );
        assert_eq!(
            api_version_of("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/privateDnsZones/z/A/r"),
            PRIVATE_DNS_API_VERSION
        );
        assert_eq!(subscription_of(RULE), Some("s"));
        assert_eq!(name_of(RULE), "sb-1");
    }
}
