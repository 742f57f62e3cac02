//! FRR's side of acting on an on-prem router, pure: the vtysh commands a
//! route preference or a static route takes, and what FRR says back —
//! the running configuration (which inbound route-map each neighbor has,
//! the local preference of each route-map, static routes) and the BGP
//! table's best path for a prefix (`show bgp ipv4 unicast <prefix> json`).
//!
//! A preference binds the preferred connection's neighbors to `PRIMARY-IN`
//! and the other's to `BACKUP-IN`, the route-maps `switchboard config
//! --target frr` renders (created with local preference 200 / 100 when the
//! router has none; kept as they are when it has), and asks the neighbors
//! for their routes again (`clear bgp … soft in`). The key goes into the
//! `PRIMARY-IN` description. Every value put into a command is typed (IP
//! addresses, CIDRs, numbers) or checked, so nothing can inject a command.

use std::collections::BTreeMap;
use std::net::IpAddr;

pub const PRIMARY_MAP: &str = "PRIMARY-IN";
pub const BACKUP_MAP: &str = "BACKUP-IN";
/// The local preferences of the route-maps when the router has none.
pub const PRIMARY_PREFERENCE: u32 = 200;
pub const BACKUP_PREFERENCE: u32 = 100;

/// What FRR's running configuration says about the parts switchboard
/// touches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunningConfig {
    /// `router bgp <asn>`.
    pub asn: Option<u32>,
    /// Neighbor → its IPv4 unicast inbound route-map.
    pub inbound: BTreeMap<IpAddr, String>,
    /// Route-map name → (local preference of its first entry that sets one,
    /// description).
    pub route_maps: BTreeMap<String, RouteMapEntry>,
    /// `ip route` lines as FRR prints them.
    pub static_routes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteMapEntry {
    pub local_preference: Option<u32>,
    pub description: Option<String>,
}

/// Reads `show running-config`.
pub fn parse_running_config(text: &str) -> RunningConfig {
    let mut config = RunningConfig::default();
    let mut block: Option<Block> = None;
    for raw in text.lines() {
        let line = raw.trim_end();
        let words: Vec<&str> = line.split_whitespace().collect();
        if !line.starts_with(' ') {
            block = match words.as_slice() {
                ["router", "bgp", asn, ..] => {
                    // A VRF's instance (`router bgp N vrf X`) is not the default one.
                    if words.len() == 3 {
                        config.asn = asn.parse().ok();
                        Some(Block::Bgp { ipv4_unicast: true })
                    } else {
                        None
                    }
                }
                ["route-map", name, "permit", _] => {
                    config.route_maps.entry(name.to_string()).or_default();
                    Some(Block::RouteMap(name.to_string()))
                }
                ["ip", "route", ..] => {
                    config.static_routes.push(words.join(" "));
                    None
                }
                _ => None,
            };
            continue;
        }
        match (&mut block, words.as_slice()) {
            (Some(Block::Bgp { ipv4_unicast }), ["address-family", afi, safi]) => {
                *ipv4_unicast = *afi == "ipv4" && *safi == "unicast";
            }
            (Some(Block::Bgp { ipv4_unicast }), ["exit-address-family"]) => {
                *ipv4_unicast = true;
            }
            (
                Some(Block::Bgp { ipv4_unicast: true }),
                ["neighbor", peer, "route-map", map, "in"],
            ) => {
                if let Ok(peer) = peer.parse() {
                    config.inbound.insert(peer, map.to_string());
                }
            }
            (Some(Block::RouteMap(name)), ["set", "local-preference", value]) => {
                let entry = config.route_maps.entry(name.clone()).or_default();
                if entry.local_preference.is_none() {
                    entry.local_preference = value.parse().ok();
                }
            }
            (Some(Block::RouteMap(name)), ["description", ..]) => {
                let entry = config.route_maps.entry(name.clone()).or_default();
                entry.description = Some(words[1..].join(" "));
            }
            _ => {}
        }
    }
    config
}

enum Block {
    /// Inside the default instance; whether the current address family is
    /// IPv4 unicast (outside any `address-family` FRR prints IPv4 unicast
    /// settings too).
    Bgp {
        ipv4_unicast: bool,
    },
    RouteMap(String),
}

/// The description a preference writes: the key, so a retry can tell its
/// own change. Only characters vtysh takes literally are kept.
pub fn key_description(key: &str) -> String {
    let clean: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | ':'))
        .take(200)
        .collect();
    format!("switchboard {clean}")
}

/// One neighbor's inbound route-map binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub neighbor: IpAddr,
    /// `PRIMARY-IN` or `BACKUP-IN`.
    pub map: String,
}

/// The commands that bind `bindings` on the router with `asn`, creating
/// the route-maps the running config lacks, writing `description` into
/// `PRIMARY-IN`, and refreshing each changed neighbor's routes. Empty
/// when every binding is in place already.
pub fn preference_commands(
    running: &RunningConfig,
    asn: u32,
    bindings: &[Binding],
    description: &str,
) -> Vec<String> {
    let changed: Vec<&Binding> = bindings
        .iter()
        .filter(|b| running.inbound.get(&b.neighbor) != Some(&b.map))
        .collect();
    if changed.is_empty() {
        return Vec::new();
    }
    let mut commands = vec!["configure terminal".to_string()];
    for (map, preference) in [
        (PRIMARY_MAP, PRIMARY_PREFERENCE),
        (BACKUP_MAP, BACKUP_PREFERENCE),
    ] {
        let existing = running.route_maps.get(map);
        commands.push(format!("route-map {map} permit 10"));
        if existing.and_then(|e| e.local_preference).is_none() {
            commands.push(format!("set local-preference {preference}"));
        }
        if map == PRIMARY_MAP {
            commands.push(format!("description {description}"));
        }
        commands.push("exit".into());
    }
    commands.push(format!("router bgp {asn}"));
    commands.push("address-family ipv4 unicast".into());
    for b in &changed {
        commands.push(format!("neighbor {} route-map {} in", b.neighbor, b.map));
    }
    commands.push("exit-address-family".into());
    commands.push("exit".into());
    commands.push("end".into());
    for b in &changed {
        commands.push(format!("clear bgp ipv4 unicast {} soft in", b.neighbor));
    }
    commands
}

/// The commands that put `neighbor`'s inbound route-map back to `previous`
/// (none: unbound) from `now`, and refresh its routes.
pub fn unbind_commands(
    asn: u32,
    neighbor: IpAddr,
    now: &str,
    previous: Option<&str>,
) -> Vec<String> {
    let bind = match previous {
        Some(map) => format!("neighbor {neighbor} route-map {map} in"),
        None => format!("no neighbor {neighbor} route-map {now} in"),
    };
    vec![
        "configure terminal".into(),
        format!("router bgp {asn}"),
        "address-family ipv4 unicast".into(),
        bind,
        "exit-address-family".into(),
        "exit".into(),
        "end".into(),
        format!("clear bgp ipv4 unicast {neighbor} soft in"),
    ]
}

/// Whether the preferred route-map outranks the other on this router (a
/// route-map the router lacks gets switchboard's default).
pub fn preferences_in_order(running: &RunningConfig) -> Result<(), String> {
    let value = |map: &str, default: u32| {
        running
            .route_maps
            .get(map)
            .and_then(|e| e.local_preference)
            .unwrap_or(default)
    };
    let (primary, backup) = (
        value(PRIMARY_MAP, PRIMARY_PREFERENCE),
        value(BACKUP_MAP, BACKUP_PREFERENCE),
    );
    if primary > backup {
        Ok(())
    } else {
        Err(format!(
            "route-map {PRIMARY_MAP} sets local-preference {primary}, not above {BACKUP_MAP}'s {backup}: binding to it would not prefer anything"
        ))
    }
}

/// A static route switchboard writes: the key's tag marks it as ours.
pub fn static_route(destination: &str, next_hop: IpAddr, tag: u32) -> String {
    format!("ip route {destination} {next_hop} tag {tag}")
}

/// The tag of the static route `key` writes: 1..=u32::MAX from its hash.
pub fn route_tag(key: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(format!("route\0{key}").as_bytes());
    u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]).max(1)
}

/// The neighbor the best path for the prefix came from, from `show bgp
/// ipv4 unicast <prefix> json`: `paths[]` with `bestpath.overall: true`
/// and `peer.peerId` (FRR 8). `None` when the table has no path (FRR
/// answers `{}`) or none is best.
pub fn best_path_peer(json: &str) -> Result<Option<IpAddr>, String> {
    let value: serde_json::Value = serde_json::from_str(json.trim())
        .map_err(|e| format!("show bgp … json is not JSON: {e}"))?;
    let Some(paths) = value.get("paths").and_then(|p| p.as_array()) else {
        return Ok(None);
    };
    let best = paths.iter().find(|p| {
        p.pointer("/bestpath/overall")
            .and_then(|b| b.as_bool())
            .unwrap_or(false)
    });
    match best {
        None => Ok(None),
        Some(path) => path
            .pointer("/peer/peerId")
            .and_then(|p| p.as_str())
            .ok_or_else(|| "the best path names no peer.peerId".to_string())?
            .parse()
            .map(Some)
            .map_err(|_| "the best path's peer.peerId is not an address".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = "Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults datacenter
hostname edge
!
ip route 10.70.0.0/16 10.251.0.2 tag 77
!
router bgp 65001
 bgp router-id 10.251.0.1
 neighbor 10.251.0.2 remote-as 64512
 neighbor 10.251.0.2 description dx-1-primary
 neighbor 10.251.0.6 remote-as 64512
 !
 address-family ipv4 unicast
  neighbor 10.251.0.2 route-map PRIMARY-IN in
  neighbor 10.251.0.6 route-map BACKUP-IN in
  neighbor 10.251.0.6 route-map OUT-FILTER out
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 10.251.0.6 route-map V6-IN in
 exit-address-family
exit
!
router bgp 65009 vrf blue
 neighbor 10.9.9.9 route-map OTHER in
exit
!
route-map PRIMARY-IN permit 10
 description switchboard failover/p1/1
 set local-preference 300
exit
!
route-map BACKUP-IN permit 10
 set local-preference 100
exit
!
end
";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn running_config_gives_bindings_preferences_and_static_routes() {
        let c = parse_running_config(RUNNING);
        assert_eq!(c.asn, Some(65001));
        assert_eq!(c.inbound.len(), 2, "{c:?}");
        assert_eq!(c.inbound[&ip("10.251.0.2")], "PRIMARY-IN");
        assert_eq!(c.inbound[&ip("10.251.0.6")], "BACKUP-IN", "not the v6 one");
        assert_eq!(c.route_maps["PRIMARY-IN"].local_preference, Some(300));
        assert_eq!(
            c.route_maps["PRIMARY-IN"].description.as_deref(),
            Some("switchboard failover/p1/1")
        );
        assert_eq!(c.route_maps["BACKUP-IN"].local_preference, Some(100));
        assert_eq!(c.static_routes, ["ip route 10.70.0.0/16 10.251.0.2 tag 77"]);
        assert!(preferences_in_order(&c).is_ok());
    }

    #[test]
    fn a_swap_rebinds_both_neighbors_keeps_existing_values_and_refreshes() {
        let c = parse_running_config(RUNNING);
        let commands = preference_commands(
            &c,
            65001,
            &[
                Binding {
                    neighbor: ip("10.251.0.6"),
                    map: PRIMARY_MAP.into(),
                },
                Binding {
                    neighbor: ip("10.251.0.2"),
                    map: BACKUP_MAP.into(),
                },
            ],
            &key_description("failover/p1/2"),
        );
        assert_eq!(
            commands,
            [
                "configure terminal",
                "route-map PRIMARY-IN permit 10",
                "description switchboard failover/p1/2",
                "exit",
                "route-map BACKUP-IN permit 10",
                "exit",
                "router bgp 65001",
                "address-family ipv4 unicast",
                "neighbor 10.251.0.6 route-map PRIMARY-IN in",
                "neighbor 10.251.0.2 route-map BACKUP-IN in",
                "exit-address-family",
                "exit",
                "end",
                "clear bgp ipv4 unicast 10.251.0.6 soft in",
                "clear bgp ipv4 unicast 10.251.0.2 soft in",
            ]
        );
    }

    #[test]
    fn missing_route_maps_are_created_and_nothing_is_sent_when_in_place() {
        let bare = parse_running_config("router bgp 65001\n neighbor 10.0.0.2 remote-as 1\nexit\n");
        let commands = preference_commands(
            &bare,
            65001,
            &[Binding {
                neighbor: ip("10.0.0.2"),
                map: PRIMARY_MAP.into(),
            }],
            "switchboard k",
        );
        assert!(commands.contains(&"set local-preference 200".to_string()));
        assert!(commands.contains(&"set local-preference 100".to_string()));
        let c = parse_running_config(RUNNING);
        let in_place = preference_commands(
            &c,
            65001,
            &[Binding {
                neighbor: ip("10.251.0.2"),
                map: PRIMARY_MAP.into(),
            }],
            "switchboard k",
        );
        assert!(in_place.is_empty());
    }

    #[test]
    fn inverted_preferences_are_refused_and_keys_cannot_inject() {
        let inverted = parse_running_config(
            "route-map PRIMARY-IN permit 10\n set local-preference 50\nexit\n",
        );
        assert!(preferences_in_order(&inverted).unwrap_err().contains("50"));
        assert_eq!(
            key_description("wf-1/provision/0\nend\nwrite"),
            "switchboard wf-1/provision/0endwrite"
        );
    }

    #[test]
    fn best_path_peer_reads_frr_json() {
        let json = r#"{"prefix":"198.18.4.0/24","paths":[
            {"locPrf":100,"bestpath":{"overall":false},"peer":{"peerId":"10.251.0.6","type":"external"}},
            {"locPrf":200,"bestpath":{"overall":true,"selectionReason":"Local Pref"},
             "nexthops":[{"ip":"10.251.0.2","afi":"ipv4","used":true}],
             "peer":{"peerId":"10.251.0.2","routerId":"198.18.4.1","type":"external"}}]}"#;
        assert_eq!(best_path_peer(json).unwrap(), Some(ip("10.251.0.2")));
        assert_eq!(best_path_peer("{}").unwrap(), None);
        assert!(best_path_peer("% Unknown command").is_err());
    }

    #[test]
    fn route_tags_are_stable_per_key_and_never_zero() {
        assert_eq!(route_tag("wf-1/provision/1"), route_tag("wf-1/provision/1"));
        assert_ne!(route_tag("wf-1/provision/1"), route_tag("wf-2/provision/1"));
        assert!(route_tag("x") >= 1);
        assert_eq!(
            static_route("10.70.0.0/16", ip("10.251.0.2"), 7),
            "ip route 10.70.0.0/16 10.251.0.2 tag 7"
        );
        assert_eq!(
            unbind_commands(65001, ip("10.0.0.2"), "PRIMARY-IN", None)[3],
            "no neighbor 10.0.0.2 route-map PRIMARY-IN in"
        );
    }
}
