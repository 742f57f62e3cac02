//! The text summary of an estate that `topology` prints: networks per cloud and
//! region, connections by kind (VPN tunnels per cloud), services, flows, and any
//! connection that is not up.

use crate::domain::{Cloud, ConnectionKind, ConnectionStatus, Estate, NetworkKind};
use std::collections::BTreeMap;

pub fn summary(estate: &Estate) -> String {
    let mut out = vec![format!("{} estate", estate.name)];
    for cloud in Cloud::ALL {
        let nets: Vec<_> = estate
            .networks
            .iter()
            .filter(|n| n.cloud == cloud && n.kind != NetworkKind::Internet)
            .collect();
        if nets.is_empty() {
            continue;
        }
        let mut by_region: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for n in &nets {
            by_region
                .entry(n.region.as_str())
                .or_default()
                .push(n.id.as_str());
        }
        let regions: Vec<String> = by_region
            .iter()
            .map(|(r, ids)| format!("{r} ({})", ids.join(", ")))
            .collect();
        out.push(format!("  {:<7} {}", cloud.as_str(), regions.join("; ")));
    }
    out.push("Connections:".into());
    for (kind, count) in estate.connection_counts() {
        let mut line = format!("  {:<16} {count}", kind.as_str());
        if kind == ConnectionKind::Vpn {
            let mut per_cloud: BTreeMap<&str, usize> = BTreeMap::new();
            for c in estate
                .connections
                .iter()
                .filter(|c| c.kind == ConnectionKind::Vpn)
            {
                let cloud = [&c.a, &c.b]
                    .iter()
                    .filter_map(|n| estate.network(n))
                    .map(|n| n.cloud)
                    .find(|c| *c != Cloud::Onprem)
                    .unwrap_or(Cloud::Onprem);
                *per_cloud.entry(cloud.as_str()).or_default() += 1;
            }
            let parts: Vec<String> = per_cloud.iter().map(|(c, n)| format!("{c} {n}")).collect();
            line.push_str(&format!(" tunnels ({})", parts.join(", ")));
        }
        let base: f64 = estate
            .connections
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.monthly_base_usd.0)
            .sum();
        if base > 0.0 {
            line.push_str(&format!(" · ${base:.0}/month base"));
        }
        out.push(line);
    }
    let unhealthy: Vec<String> = estate
        .connections
        .iter()
        .filter(|c| c.status != ConnectionStatus::Up)
        .map(|c| format!("{} {:?} ({:.1} ms)", c.id, c.status, c.latency_ms.0).to_lowercase())
        .collect();
    if unhealthy.is_empty() {
        out.push("All connections up.".into());
    } else {
        out.push(format!("Not up: {}", unhealthy.join(", ")));
    }
    let traffic: f64 = estate.flows.iter().map(|f| f.monthly_gb.0).sum();
    out.push(format!(
        "{} services, {} flows carrying {:.0} GB/month",
        estate.services.len(),
        estate.flows.len(),
        traffic
    ));
    out.join("\n")
}
