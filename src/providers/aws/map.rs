//! AWS API answers → inventory records. Pure: takes what the reader got from
//! EC2 and Direct Connect (SDK types, every region) and returns networks,
//! links and tunnel addresses. Owns the status mappings and the id scheme of
//! AWS links. Joins across regions (VPC peerings and TGW peerings are seen
//! from both sides and reported once; a Direct Connect gateway reaches VGWs in
//! any region), so it runs once after every region was read.
//!
//! Bad data (a customer gateway without a parseable IP, a tunnel without an
//! outside IP) becomes a `problems` entry, never a panic.

use crate::domain::{
    Cloud, ConnectionKind, ConnectionStatus, NetworkId, NetworkKind, Service, ServiceId,
};
use crate::topology::{AddressRecord, Inventory, LinkRecord, NetworkRecord, RemoteEnd};
use aws_sdk_directconnect::types as dx;
use aws_sdk_ec2::types as ec2;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// AWS's documented per-tunnel limit for a site-to-site VPN.
const VPN_TUNNEL_GBPS: f64 = 1.25;

/// Everything read in one region. Counts only for the types that are not
/// mapped to records.
#[derive(Debug, Default)]
pub(crate) struct RegionRead {
    pub region: String,
    pub vpcs: Vec<ec2::Vpc>,
    pub subnets: Vec<ec2::Subnet>,
    pub security_groups: u64,
    pub route_tables: Vec<ec2::RouteTable>,
    pub customer_gateways: Vec<ec2::CustomerGateway>,
    pub internet_gateways: Vec<ec2::InternetGateway>,
    pub transit_gateways: Vec<ec2::TransitGateway>,
    pub tgw_vpc_attachments: Vec<ec2::TransitGatewayVpcAttachment>,
    pub tgw_peerings: Vec<ec2::TransitGatewayPeeringAttachment>,
    pub vpc_peerings: Vec<ec2::VpcPeeringConnection>,
    pub vpn_gateways: Vec<ec2::VpnGateway>,
    pub vpn_connections: Vec<ec2::VpnConnection>,
    pub dx_connections: Vec<dx::Connection>,
    pub dx_interfaces: Vec<dx::VirtualInterface>,
    pub functions: Vec<aws_sdk_lambda::types::FunctionConfiguration>,
    pub db_instances: Vec<aws_sdk_rds::types::DbInstance>,
    pub db_clusters: Vec<aws_sdk_rds::types::DbCluster>,
    pub instances: Vec<ec2::Instance>,
}

impl RegionRead {
    fn resources(&self) -> u64 {
        let listed = self.vpcs.len()
            + self.route_tables.len()
            + self.customer_gateways.len()
            + self.internet_gateways.len()
            + self.transit_gateways.len()
            + self.tgw_vpc_attachments.len()
            + self.tgw_peerings.len()
            + self.vpc_peerings.len()
            + self.vpn_gateways.len()
            + self.vpn_connections.len()
            + self.dx_connections.len()
            + self.dx_interfaces.len()
            + self.subnets.len()
            + self.functions.len()
            + self.db_instances.len()
            + self.db_clusters.len()
            + self.instances.len();
        listed as u64 + self.security_groups
    }
}

/// Builds the inventory from every region's answers and the Direct Connect
/// gateway associations (global). `problems` are the read failures so far.
pub(crate) fn inventory(
    regions: &[RegionRead],
    dx_associations: &[dx::DirectConnectGatewayAssociation],
    problems: Vec<String>,
) -> Inventory {
    let mut inv = Inventory::new("aws");
    inv.problems = problems;
    inv.resources_read =
        regions.iter().map(RegionRead::resources).sum::<u64>() + dx_associations.len() as u64;

    let vgw_vpc: HashMap<&str, &str> = regions
        .iter()
        .flat_map(|r| &r.vpn_gateways)
        .filter_map(|g| Some((g.vpn_gateway_id()?, attached_vpc(g)?)))
        .collect();
    let cgw_ip: HashMap<&str, Option<&str>> = regions
        .iter()
        .flat_map(|r| &r.customer_gateways)
        .filter_map(|c| Some((c.customer_gateway_id()?, c.ip_address())))
        .collect();
    let dx_by_id: HashMap<&str, &dx::Connection> = regions
        .iter()
        .flat_map(|r| &r.dx_connections)
        .filter_map(|c| Some((c.connection_id()?, c)))
        .collect();

    let mut seen_links = HashSet::new();
    for r in regions {
        networks(r, &mut inv);
        services(r, &mut inv);
        internet_links(r, &mut inv);
        for a in &r.tgw_vpc_attachments {
            if let Some(link) = tgw_vpc_link(a) {
                inv.links.push(link);
            }
        }
        for p in &r.tgw_peerings {
            if let Some(link) = tgw_peering_link(p) {
                if seen_links.insert(link.id.clone()) {
                    inv.links.push(link);
                }
            }
        }
        for p in &r.vpc_peerings {
            if let Some(link) = vpc_peering_link(p) {
                if seen_links.insert(link.id.clone()) {
                    inv.links.push(link);
                }
            }
        }
        for v in &r.vpn_connections {
            vpn_tunnels(v, &vgw_vpc, &cgw_ip, &mut inv);
        }
        for vif in &r.dx_interfaces {
            let conn = vif.connection_id().and_then(|id| dx_by_id.get(id).copied());
            inv.links
                .extend(dx_links(vif, conn, &vgw_vpc, dx_associations));
        }
    }
    inv
}

fn tag<'a>(tags: &'a [ec2::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .filter(|v| !v.is_empty())
}

fn name_tag(tags: &[ec2::Tag]) -> Option<String> {
    tag(tags, "Name").map(str::to_string)
}

fn attached_vpc(g: &ec2::VpnGateway) -> Option<&str> {
    g.vpc_attachments()
        .iter()
        .find(|a| a.state() == Some(&ec2::AttachmentStatus::Attached))
        .and_then(|a| a.vpc_id())
}

fn networks(r: &RegionRead, inv: &mut Inventory) {
    for vpc in &r.vpcs {
        let Some(id) = vpc.vpc_id() else { continue };
        let mut cidrs: Vec<String> = vpc.cidr_block().map(str::to_string).into_iter().collect();
        for assoc in vpc.cidr_block_association_set() {
            let associated = assoc.cidr_block_state().and_then(|s| s.state())
                == Some(&ec2::VpcCidrBlockStateCode::Associated);
            if let (true, Some(c)) = (associated, assoc.cidr_block()) {
                if !cidrs.iter().any(|have| have == c) {
                    cidrs.push(c.to_string());
                }
            }
        }
        inv.networks.push(NetworkRecord {
            id: id.to_string(),
            name: name_tag(vpc.tags()).unwrap_or_else(|| id.to_string()),
            cloud: Cloud::Aws,
            region: r.region.clone(),
            kind: NetworkKind::Vpc,
            cidrs,
            account: vpc.owner_id().map(str::to_string),
        });
    }
    for tgw in &r.transit_gateways {
        let Some(id) = tgw.transit_gateway_id() else {
            continue;
        };
        if tgw.state() == Some(&ec2::TransitGatewayState::Deleted) {
            continue;
        }
        inv.networks.push(NetworkRecord {
            id: id.to_string(),
            name: name_tag(tgw.tags()).unwrap_or_else(|| id.to_string()),
            cloud: Cloud::Aws,
            region: r.region.clone(),
            kind: NetworkKind::TransitHub,
            cidrs: tgw
                .options()
                .map(|o| o.transit_gateway_cidr_blocks().to_vec())
                .unwrap_or_default(),
            account: tgw.owner_id().map(str::to_string),
        });
    }
}

/// An internet gateway attached to a VPC is up when some route table of that
/// VPC sends traffic to it through an active route, degraded when it is
/// attached but no route uses it (or only blackholed ones): the gateway is
/// there, but nothing in the VPC can reach the internet through it.
fn internet_links(r: &RegionRead, inv: &mut Inventory) {
    let routed: HashSet<(&str, &str)> = r
        .route_tables
        .iter()
        .filter_map(|t| Some((t, t.vpc_id()?)))
        .flat_map(|(t, vpc)| {
            t.routes()
                .iter()
                .filter(|route| route.state() != Some(&ec2::RouteState::Blackhole))
                .filter_map(move |route| Some((vpc, route.gateway_id()?)))
        })
        .collect();
    for igw in &r.internet_gateways {
        let Some(id) = igw.internet_gateway_id() else {
            continue;
        };
        for att in igw.attachments() {
            // AWS reports an attached internet gateway as `available`.
            let attached = matches!(
                att.state().map(|s| s.as_str()),
                Some("available") | Some("attached")
            );
            let Some(vpc) = att.vpc_id().filter(|_| attached) else {
                continue;
            };
            let status = if routed.contains(&(vpc, id)) {
                ConnectionStatus::Up
            } else {
                ConnectionStatus::Degraded
            };
            inv.links.push(LinkRecord {
                name: name_tag(igw.tags()),
                ..LinkRecord::new(
                    id,
                    ConnectionKind::Internet,
                    vpc,
                    RemoteEnd::Internet,
                    status,
                )
            });
        }
    }
}

/// TGW attachments (VPC and peering) carry traffic when `available`, and
/// still do while `modifying`; every other state (pending, initiating,
/// pendingAcceptance, rejected, failed, deleting…) is down. `deleted`
/// attachments are gone and not reported (`None`).
fn tgw_attachment_status(
    state: Option<&ec2::TransitGatewayAttachmentState>,
) -> Option<ConnectionStatus> {
    use ec2::TransitGatewayAttachmentState as S;
    match state {
        Some(S::Deleted) => None,
        Some(S::Available) | Some(S::Modifying) => Some(ConnectionStatus::Up),
        _ => Some(ConnectionStatus::Down),
    }
}

fn tgw_vpc_link(a: &ec2::TransitGatewayVpcAttachment) -> Option<LinkRecord> {
    let status = tgw_attachment_status(a.state())?;
    let tgw = a.transit_gateway_id()?;
    Some(LinkRecord {
        // Every attachment of one TGW fails with it.
        group: Some(tgw.to_string()),
        name: name_tag(a.tags()),
        ..LinkRecord::new(
            a.transit_gateway_attachment_id()?,
            ConnectionKind::TransitGateway,
            a.vpc_id()?,
            RemoteEnd::Network(tgw.to_string()),
            status,
        )
    })
}

fn tgw_peering_link(p: &ec2::TransitGatewayPeeringAttachment) -> Option<LinkRecord> {
    let status = tgw_attachment_status(p.state())?;
    Some(LinkRecord {
        name: name_tag(p.tags()),
        ..LinkRecord::new(
            p.transit_gateway_attachment_id()?,
            ConnectionKind::TransitGateway,
            p.requester_tgw_info()?.transit_gateway_id()?,
            RemoteEnd::Network(p.accepter_tgw_info()?.transit_gateway_id()?.to_string()),
            status,
        )
    })
}

/// VPC peering: `active` is up; `provisioning` (accepted, routes being set
/// up) is degraded; initiating-request, pending-acceptance, rejected, failed,
/// expired and deleting carry no traffic: down. `deleted` is not reported.
fn vpc_peering_status(
    code: Option<&ec2::VpcPeeringConnectionStateReasonCode>,
) -> Option<ConnectionStatus> {
    use ec2::VpcPeeringConnectionStateReasonCode as C;
    match code {
        Some(C::Deleted) => None,
        Some(C::Active) => Some(ConnectionStatus::Up),
        Some(C::Provisioning) => Some(ConnectionStatus::Degraded),
        _ => Some(ConnectionStatus::Down),
    }
}

fn vpc_peering_link(p: &ec2::VpcPeeringConnection) -> Option<LinkRecord> {
    let status = vpc_peering_status(p.status().and_then(|s| s.code()))?;
    Some(LinkRecord {
        name: name_tag(p.tags()),
        ..LinkRecord::new(
            p.vpc_peering_connection_id()?,
            ConnectionKind::Peering,
            p.requester_vpc_info()?.vpc_id()?,
            RemoteEnd::Network(p.accepter_vpc_info()?.vpc_id()?.to_string()),
            status,
        )
    })
}

/// One link per tunnel (VgwTelemetry), UP → up, anything else → down.
fn vpn_tunnels(
    v: &ec2::VpnConnection,
    vgw_vpc: &HashMap<&str, &str>,
    cgw_ip: &HashMap<&str, Option<&str>>,
    inv: &mut Inventory,
) {
    let Some(vpn_id) = v.vpn_connection_id() else {
        return;
    };
    if v.state() == Some(&ec2::VpnState::Deleted) {
        return;
    }
    // A VPN terminates on a TGW or on a VGW, which stands for its VPC.
    let (local, owner) = match (v.transit_gateway_id(), v.vpn_gateway_id()) {
        (Some(tgw), _) if !tgw.is_empty() => (tgw, tgw),
        (_, Some(vgw)) => match vgw_vpc.get(vgw) {
            Some(vpc) => (*vpc, vgw),
            None => {
                inv.problems.push(format!(
                    "{vpn_id}: virtual private gateway {vgw} is not attached to a VPC; tunnels not reported"
                ));
                return;
            }
        },
        _ => {
            inv.problems.push(format!(
                "{vpn_id}: neither a transit gateway nor a virtual private gateway; tunnels not reported"
            ));
            return;
        }
    };
    let cgw = v.customer_gateway_id().unwrap_or("?");
    let peer = match cgw_ip.get(cgw) {
        None => Err("was not read"),
        Some(ip) => ip
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .ok_or("has no readable IP address"),
    };
    let peer = match peer {
        Ok(peer) => peer,
        Err(why) => {
            inv.problems.push(format!(
                "{vpn_id}: customer gateway {cgw} {why}; tunnels not reported"
            ));
            return;
        }
    };
    if v.vgw_telemetry().is_empty() {
        // A VPN AWS has not brought up yet reports no tunnels: say so
        // rather than leave it out without a word.
        inv.problems.push(format!(
            "{vpn_id}: no tunnel telemetry (state {}); its tunnels are not reported until AWS reports them",
            v.state().map_or("unknown", |s| s.as_str())
        ));
        return;
    }
    for t in v.vgw_telemetry() {
        let Some(outside) = t
            .outside_ip_address()
            .and_then(|a| a.parse::<IpAddr>().ok())
        else {
            inv.problems.push(format!(
                "{vpn_id}: a tunnel without a readable outside IP ({:?})",
                t.outside_ip_address()
            ));
            continue;
        };
        inv.links.push(LinkRecord {
            id: format!("{vpn_id}/{outside}"),
            kind: ConnectionKind::Vpn,
            local: local.to_string(),
            remote: RemoteEnd::Address(peer),
            status: match t.status() {
                Some(ec2::TelemetryStatus::Up) => ConnectionStatus::Up,
                _ => ConnectionStatus::Down,
            },
            bandwidth_gbps: Some(VPN_TUNNEL_GBPS),
            latency_ms: None,
            local_address: Some(outside),
            group: Some(vpn_id.to_string()),
            name: name_tag(v.tags()),
        });
        inv.addresses.push(AddressRecord {
            address: outside,
            network: local.to_string(),
            owner: owner.to_string(),
        });
    }
}

/// "10Gbps", "500Mbps" (what DescribeConnections says) → Gbps.
pub(crate) fn parse_bandwidth(s: &str) -> Option<f64> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("Gbps") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("Mbps") {
        (n, 0.001)
    } else {
        return None;
    };
    let v: f64 = number.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * scale)
}

/// A Direct Connect link is up when its connection and its virtual interface
/// are both `available` and every BGP peer is up; degraded when some BGP
/// peers are down but not all; down otherwise (ordering, pending, down,
/// deleting…). Without the connection (hosted VIF of another account) the
/// VIF decides alone.
fn dx_status(conn: Option<&dx::Connection>, vif: &dx::VirtualInterface) -> ConnectionStatus {
    // `Option::is_none_or` is newer than the crate's rust-version.
    let conn_ok = match conn {
        None => true,
        Some(c) => c.connection_state() == Some(&dx::ConnectionState::Available),
    };
    if !conn_ok || vif.virtual_interface_state() != Some(&dx::VirtualInterfaceState::Available) {
        return ConnectionStatus::Down;
    }
    let peers = vif.bgp_peers();
    let up = peers
        .iter()
        .filter(|p| p.bgp_status() == Some(&dx::BgpStatus::Up))
        .count();
    match (peers.len(), up) {
        (0, _) => ConnectionStatus::Up,
        (n, u) if u == n => ConnectionStatus::Up,
        (_, 0) => ConnectionStatus::Down,
        _ => ConnectionStatus::Degraded,
    }
}

/// The networks a VIF reaches: the VPC of its VGW, or through its Direct
/// Connect gateway every associated VGW's VPC and TGW. Public VIFs reach none.
fn dx_targets<'a>(
    vif: &'a dx::VirtualInterface,
    vgw_vpc: &HashMap<&str, &'a str>,
    associations: &'a [dx::DirectConnectGatewayAssociation],
) -> Vec<&'a str> {
    if let Some(vgw) = vif.virtual_gateway_id().filter(|v| !v.is_empty()) {
        return vgw_vpc.get(vgw).copied().into_iter().collect();
    }
    let Some(dxgw) = vif.direct_connect_gateway_id().filter(|v| !v.is_empty()) else {
        return Vec::new();
    };
    associations
        .iter()
        .filter(|a| a.direct_connect_gateway_id() == Some(dxgw))
        .filter(|a| {
            a.association_state() == Some(&dx::DirectConnectGatewayAssociationState::Associated)
        })
        .filter_map(|a| {
            let g = a.associated_gateway()?;
            match g.r#type()? {
                dx::GatewayType::TransitGateway => g.id(),
                dx::GatewayType::VirtualPrivateGateway => vgw_vpc.get(g.id()?).copied(),
                _ => None,
            }
        })
        .collect()
}

fn dx_links(
    vif: &dx::VirtualInterface,
    conn: Option<&dx::Connection>,
    vgw_vpc: &HashMap<&str, &str>,
    associations: &[dx::DirectConnectGatewayAssociation],
) -> Vec<LinkRecord> {
    let (Some(vif_id), Some(circuit)) = (vif.virtual_interface_id(), vif.connection_id()) else {
        return Vec::new();
    };
    if vif.virtual_interface_state() == Some(&dx::VirtualInterfaceState::Deleted) {
        return Vec::new();
    }
    let targets = dx_targets(vif, vgw_vpc, associations);
    let status = dx_status(conn, vif);
    let bandwidth = conn.and_then(|c| c.bandwidth()).and_then(parse_bandwidth);
    let name = match (
        vif.virtual_interface_name(),
        conn.and_then(|c| c.location()),
    ) {
        (Some(n), Some(loc)) => Some(format!("{n} @ {loc}")),
        (n, _) => n.map(str::to_string),
    };
    let single = targets.len() == 1;
    targets
        .into_iter()
        .map(|local| LinkRecord {
            id: if single {
                vif_id.to_string()
            } else {
                format!("{vif_id}/{local}")
            },
            kind: ConnectionKind::DirectConnect,
            local: local.to_string(),
            remote: RemoteEnd::Circuit(circuit.to_string()),
            status,
            bandwidth_gbps: bandwidth,
            latency_ms: None,
            local_address: None,
            // VIFs on one connection share the circuit.
            group: Some(circuit.to_string()),
            name: name.clone(),
        })
        .collect()
}

/// The services requests can name, in the networks just read: Lambda
/// functions attached to a VPC (the VPC from their subnets: an emulator's
/// `VpcId` is not to be trusted), RDS instances and Aurora clusters (the VPC
/// of their subnet group; a cluster's through one of its instances), and EC2
/// instances by their `Name` tag. A function outside any VPC or a database
/// whose VPC cannot be told is left out and said in `problems`.
fn services(r: &RegionRead, inv: &mut Inventory) {
    let subnet_vpc: HashMap<&str, &str> = r
        .subnets
        .iter()
        .filter_map(|s| Some((s.subnet_id()?, s.vpc_id()?)))
        .collect();
    for f in &r.functions {
        let (Some(name), Some(arn)) = (f.function_name(), f.function_arn()) else {
            continue;
        };
        let Some(vpc) = f.vpc_config().and_then(|c| {
            c.subnet_ids()
                .iter()
                .find_map(|s| subnet_vpc.get(s.as_str()).copied())
        }) else {
            // Not in a VPC: it reaches nothing private, so no request can
            // connect it; not a problem of discovery.
            continue;
        };
        inv.services.push(Service {
            id: ServiceId::new(arn),
            name: name.to_string(),
            kind: "lambda".into(),
            network: NetworkId::new(vpc),
            identifiers: vec![arn.to_string()],
            port: 443,
            address: String::new(),
            security_groups: f
                .vpc_config()
                .map(|c| c.security_group_ids().to_vec())
                .unwrap_or_default(),
            public_endpoint: false,
        });
    }
    let mut instance_vpc: HashMap<&str, &str> = HashMap::new();
    for db in &r.db_instances {
        let Some(identifier) = db.db_instance_identifier() else {
            continue;
        };
        let Some(vpc) = db.db_subnet_group().and_then(|g| g.vpc_id()) else {
            inv.problems.push(format!(
                "{}: RDS instance {identifier} has no subnet group VPC; not offered as a service",
                r.region
            ));
            continue;
        };
        if let Some(cluster) = db.db_cluster_identifier() {
            instance_vpc.insert(cluster, vpc);
        }
        let endpoint = db.endpoint();
        inv.services.push(database(
            db.db_instance_arn().unwrap_or(identifier),
            identifier,
            vpc,
            endpoint.and_then(|e| e.address()),
            endpoint.and_then(|e| e.port()),
            db.vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id()),
        ));
    }
    for cluster in &r.db_clusters {
        let Some(identifier) = cluster.db_cluster_identifier() else {
            continue;
        };
        let Some(vpc) = instance_vpc.get(identifier).copied() else {
            inv.problems.push(format!(
                "{}: Aurora cluster {identifier} has no instance to tell its VPC; not offered as a service",
                r.region
            ));
            continue;
        };
        inv.services.push(database(
            cluster.db_cluster_arn().unwrap_or(identifier),
            identifier,
            vpc,
            cluster.endpoint(),
            cluster.port(),
            cluster
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id()),
        ));
    }
    for i in &r.instances {
        let live = !matches!(
            i.state().and_then(|s| s.name()),
            Some(ec2::InstanceStateName::Terminated | ec2::InstanceStateName::ShuttingDown)
        );
        let (Some(id), Some(vpc), true) = (i.instance_id(), i.vpc_id(), live) else {
            continue;
        };
        let mut identifiers = vec![id.to_string()];
        identifiers.extend(
            [i.private_dns_name(), i.private_ip_address()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
        inv.services.push(Service {
            id: ServiceId::new(id),
            name: name_tag(i.tags()).unwrap_or_else(|| id.to_string()),
            kind: "ec2".into(),
            network: NetworkId::new(vpc),
            identifiers,
            port: 443,
            address: i.private_ip_address().unwrap_or_default().to_string(),
            security_groups: i
                .security_groups()
                .iter()
                .filter_map(|g| g.group_id())
                .map(str::to_string)
                .collect(),
            public_endpoint: false,
        });
    }
}

/// An RDS instance or Aurora cluster as a service: named by its identifier,
/// found by identifier, endpoint hostname or ARN, reached on its port.
fn database<'a>(
    arn: &str,
    identifier: &str,
    vpc: &str,
    endpoint: Option<&str>,
    port: Option<i32>,
    groups: impl Iterator<Item = &'a str>,
) -> Service {
    let mut identifiers = vec![identifier.to_string(), arn.to_string()];
    identifiers.extend(endpoint.map(str::to_string));
    Service {
        id: ServiceId::new(arn),
        name: identifier.to_string(),
        kind: "rds".into(),
        network: NetworkId::new(vpc),
        identifiers,
        port: port.and_then(|p| u16::try_from(p).ok()).unwrap_or(5432),
        address: endpoint.unwrap_or_default().to_string(),
        security_groups: groups.map(str::to_string).collect(),
        public_endpoint: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(name: &str) -> ec2::Tag {
        ec2::Tag::builder().key("Name").value(name).build()
    }

    fn region(name: &str) -> RegionRead {
        RegionRead {
            region: name.to_string(),
            ..RegionRead::default()
        }
    }

    fn vgw(id: &str, vpc: &str) -> ec2::VpnGateway {
        ec2::VpnGateway::builder()
            .vpn_gateway_id(id)
            .vpc_attachments(
                ec2::VpcAttachment::builder()
                    .vpc_id(vpc)
                    .state(ec2::AttachmentStatus::Attached)
                    .build(),
            )
            .build()
    }

    fn cidr_association(
        cidr: &str,
        state: ec2::VpcCidrBlockStateCode,
    ) -> ec2::VpcCidrBlockAssociation {
        ec2::VpcCidrBlockAssociation::builder()
            .cidr_block(cidr)
            .cidr_block_state(ec2::VpcCidrBlockState::builder().state(state).build())
            .build()
    }

    #[test]
    fn vpc_takes_name_tag_associated_cidrs_and_owner() {
        let mut r = region("eu-west-1");
        r.vpcs.push(
            ec2::Vpc::builder()
                .vpc_id("vpc-1")
                .cidr_block("10.0.0.0/16")
                .owner_id("111122223333")
                .tags(tags("prod"))
                .cidr_block_association_set(cidr_association(
                    "10.0.0.0/16",
                    ec2::VpcCidrBlockStateCode::Associated,
                ))
                .cidr_block_association_set(cidr_association(
                    "10.1.0.0/16",
                    ec2::VpcCidrBlockStateCode::Associated,
                ))
                .cidr_block_association_set(cidr_association(
                    "10.2.0.0/16",
                    ec2::VpcCidrBlockStateCode::Disassociated,
                ))
                .build(),
        );
        let inv = inventory(&[r], &[], Vec::new());
        let n = &inv.networks[0];
        assert_eq!(n.name, "prod");
        assert_eq!(n.region, "eu-west-1");
        assert_eq!(n.cidrs, vec!["10.0.0.0/16", "10.1.0.0/16"]);
        assert_eq!(n.account.as_deref(), Some("111122223333"));
        assert_eq!(inv.resources_read, 1);
    }

    #[test]
    fn vpc_peering_seen_from_both_regions_is_one_link() {
        let pcx = |code| {
            ec2::VpcPeeringConnection::builder()
                .vpc_peering_connection_id("pcx-1")
                .requester_vpc_info(
                    ec2::VpcPeeringConnectionVpcInfo::builder()
                        .vpc_id("vpc-a")
                        .build(),
                )
                .accepter_vpc_info(
                    ec2::VpcPeeringConnectionVpcInfo::builder()
                        .vpc_id("vpc-b")
                        .build(),
                )
                .status(
                    ec2::VpcPeeringConnectionStateReason::builder()
                        .code(code)
                        .build(),
                )
                .build()
        };
        let mut a = region("us-east-1");
        a.vpc_peerings
            .push(pcx(ec2::VpcPeeringConnectionStateReasonCode::Active));
        let mut b = region("eu-west-1");
        b.vpc_peerings
            .push(pcx(ec2::VpcPeeringConnectionStateReasonCode::Active));
        let inv = inventory(&[a, b], &[], Vec::new());
        assert_eq!(inv.links.len(), 1);
        assert_eq!(inv.links[0].local, "vpc-a");
        assert_eq!(inv.links[0].remote, RemoteEnd::Network("vpc-b".into()));
        assert_eq!(inv.links[0].status, ConnectionStatus::Up);
        assert_eq!(inv.resources_read, 2);
    }

    #[test]
    fn peering_states_map_to_up_degraded_down_or_gone() {
        use ec2::VpcPeeringConnectionStateReasonCode as C;
        assert_eq!(
            vpc_peering_status(Some(&C::Active)),
            Some(ConnectionStatus::Up)
        );
        assert_eq!(
            vpc_peering_status(Some(&C::Provisioning)),
            Some(ConnectionStatus::Degraded)
        );
        assert_eq!(
            vpc_peering_status(Some(&C::PendingAcceptance)),
            Some(ConnectionStatus::Down)
        );
        assert_eq!(vpc_peering_status(Some(&C::Deleted)), None);
    }

    #[test]
    fn internet_gateway_without_a_route_is_degraded() {
        let mut r = region("us-east-1");
        for (igw, vpc) in [("igw-1", "vpc-1"), ("igw-2", "vpc-2")] {
            r.internet_gateways.push(
                ec2::InternetGateway::builder()
                    .internet_gateway_id(igw)
                    .attachments(
                        ec2::InternetGatewayAttachment::builder()
                            .vpc_id(vpc)
                            .state(ec2::AttachmentStatus::from("available"))
                            .build(),
                    )
                    .build(),
            );
        }
        r.route_tables.push(
            ec2::RouteTable::builder()
                .vpc_id("vpc-1")
                .routes(
                    ec2::Route::builder()
                        .destination_cidr_block("0.0.0.0/0")
                        .gateway_id("igw-1")
                        .state(ec2::RouteState::Active)
                        .build(),
                )
                .build(),
        );
        let inv = inventory(&[r], &[], Vec::new());
        let status: Vec<_> = inv
            .links
            .iter()
            .map(|l| (l.id.as_str(), l.status))
            .collect();
        assert_eq!(
            status,
            vec![
                ("igw-1", ConnectionStatus::Up),
                ("igw-2", ConnectionStatus::Degraded)
            ]
        );
        assert!(inv.links.iter().all(|l| l.remote == RemoteEnd::Internet));
    }

    #[test]
    fn vpn_gives_one_link_and_address_per_tunnel() {
        let mut r = region("us-east-1");
        r.vpn_gateways.push(vgw("vgw-1", "vpc-1"));
        r.customer_gateways.push(
            ec2::CustomerGateway::builder()
                .customer_gateway_id("cgw-1")
                .ip_address("198.51.100.7")
                .build(),
        );
        let tunnel = |ip: &str, up: bool| {
            ec2::VgwTelemetry::builder()
                .outside_ip_address(ip)
                .status(if up {
                    ec2::TelemetryStatus::Up
                } else {
                    ec2::TelemetryStatus::Down
                })
                .build()
        };
        r.vpn_connections.push(
            ec2::VpnConnection::builder()
                .vpn_connection_id("vpn-1")
                .vpn_gateway_id("vgw-1")
                .customer_gateway_id("cgw-1")
                .state(ec2::VpnState::Available)
                .vgw_telemetry(tunnel("203.0.113.1", true))
                .vgw_telemetry(tunnel("203.0.113.2", false))
                .build(),
        );
        let inv = inventory(&[r], &[], Vec::new());
        assert!(inv.problems.is_empty(), "{:?}", inv.problems);
        assert_eq!(inv.links.len(), 2);
        let t1 = &inv.links[0];
        assert_eq!(t1.id, "vpn-1/203.0.113.1");
        assert_eq!(t1.local, "vpc-1");
        assert_eq!(
            t1.remote,
            RemoteEnd::Address("198.51.100.7".parse().unwrap())
        );
        assert_eq!(t1.status, ConnectionStatus::Up);
        assert_eq!(t1.bandwidth_gbps, Some(1.25));
        assert_eq!(t1.group.as_deref(), Some("vpn-1"));
        assert_eq!(inv.links[1].status, ConnectionStatus::Down);
        assert_eq!(inv.addresses.len(), 2);
        assert_eq!(inv.addresses[1].owner, "vgw-1");
        assert_eq!(inv.addresses[1].network, "vpc-1");
    }

    #[test]
    fn a_vpn_without_tunnel_telemetry_is_a_problem_line_not_silence() {
        let mut r = region("us-east-1");
        r.vpn_gateways.push(vgw("vgw-1", "vpc-1"));
        r.customer_gateways.push(
            ec2::CustomerGateway::builder()
                .customer_gateway_id("cgw-1")
                .ip_address("198.51.100.7")
                .build(),
        );
        r.vpn_connections.push(
            ec2::VpnConnection::builder()
                .vpn_connection_id("vpn-new")
                .vpn_gateway_id("vgw-1")
                .customer_gateway_id("cgw-1")
                .state(ec2::VpnState::Pending)
                .build(),
        );
        let inv = inventory(&[r], &[], Vec::new());
        assert!(inv.links.is_empty());
        assert_eq!(inv.problems.len(), 1, "{:?}", inv.problems);
        assert!(
            inv.problems[0].contains("vpn-new") && inv.problems[0].contains("no tunnel telemetry"),
            "{:?}",
            inv.problems
        );
    }

    #[test]
    fn vpn_with_unreadable_customer_gateway_ip_is_a_problem_not_a_panic() {
        let mut r = region("us-east-1");
        r.vpn_gateways.push(vgw("vgw-1", "vpc-1"));
        r.customer_gateways.push(
            ec2::CustomerGateway::builder()
                .customer_gateway_id("cgw-1")
                .ip_address("not an ip")
                .build(),
        );
        r.vpn_connections.push(
            ec2::VpnConnection::builder()
                .vpn_connection_id("vpn-1")
                .vpn_gateway_id("vgw-1")
                .customer_gateway_id("cgw-1")
                .build(),
        );
        let inv = inventory(&[r], &[], Vec::new());
        assert!(inv.links.is_empty());
        assert_eq!(inv.problems.len(), 1);
        assert!(inv.problems[0].contains("cgw-1"), "{}", inv.problems[0]);
    }

    #[test]
    fn dx_bandwidth_strings_become_gbps() {
        assert_eq!(parse_bandwidth("10Gbps"), Some(10.0));
        assert_eq!(parse_bandwidth("500Mbps"), Some(0.5));
        assert_eq!(parse_bandwidth("fast"), None);
        assert_eq!(parse_bandwidth("-1Gbps"), None);
    }

    #[test]
    fn dx_vif_through_a_gateway_reaches_each_associated_vpc_and_tgw() {
        let mut r = region("us-east-1");
        r.vpn_gateways.push(vgw("vgw-9", "vpc-9"));
        r.dx_connections.push(
            dx::Connection::builder()
                .connection_id("dxcon-1")
                .bandwidth("1Gbps")
                .location("EqDC2")
                .connection_state(dx::ConnectionState::Available)
                .build(),
        );
        let peer = |s| dx::BgpPeer::builder().bgp_status(s).build();
        r.dx_interfaces.push(
            dx::VirtualInterface::builder()
                .virtual_interface_id("dxvif-1")
                .virtual_interface_name("to-dc")
                .connection_id("dxcon-1")
                .direct_connect_gateway_id("dxgw-1")
                .virtual_interface_state(dx::VirtualInterfaceState::Available)
                .bgp_peers(peer(dx::BgpStatus::Up))
                .bgp_peers(peer(dx::BgpStatus::Down))
                .build(),
        );
        let assoc = |kind, id: &str| {
            dx::DirectConnectGatewayAssociation::builder()
                .direct_connect_gateway_id("dxgw-1")
                .association_state(dx::DirectConnectGatewayAssociationState::Associated)
                .associated_gateway(dx::AssociatedGateway::builder().r#type(kind).id(id).build())
                .build()
        };
        let assocs = [
            assoc(dx::GatewayType::VirtualPrivateGateway, "vgw-9"),
            assoc(dx::GatewayType::TransitGateway, "tgw-1"),
        ];
        let inv = inventory(&[r], &assocs, Vec::new());
        let got: Vec<_> = inv
            .links
            .iter()
            .map(|l| (l.id.as_str(), l.local.as_str(), l.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("dxvif-1/vpc-9", "vpc-9", ConnectionStatus::Degraded),
                ("dxvif-1/tgw-1", "tgw-1", ConnectionStatus::Degraded)
            ]
        );
        assert_eq!(inv.links[0].remote, RemoteEnd::Circuit("dxcon-1".into()));
        assert_eq!(inv.links[0].bandwidth_gbps, Some(1.0));
        assert_eq!(inv.links[0].name.as_deref(), Some("to-dc @ EqDC2"));
    }

    #[test]
    fn dx_link_is_down_while_its_connection_is_not_available() {
        let conn = dx::Connection::builder()
            .connection_id("dxcon-1")
            .connection_state(dx::ConnectionState::Ordering)
            .build();
        let vif = dx::VirtualInterface::builder()
            .virtual_interface_state(dx::VirtualInterfaceState::Available)
            .build();
        assert_eq!(dx_status(Some(&conn), &vif), ConnectionStatus::Down);
        assert_eq!(dx_status(None, &vif), ConnectionStatus::Up);
    }
}
