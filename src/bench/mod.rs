//! `switchboard bench workflows`: runs N connect workflows end to end on the lab
//! estate (parse → compliance → design → auto-approval → provision → validate)
//! against a fresh SQLite file, and reports workflows/s and transitions/s.

pub mod discord;
pub mod fake_arm;
pub mod fake_slack;
pub mod forecast;
pub mod moto;
pub mod provision;
pub mod slack;

use crate::app::{App, AppError};
use crate::config::Config;
use crate::domain::{Estate, UserId};
use crate::workflow::definition::{Action, Condition, Definition};
use crate::workflow::EngineError;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Setup(String),
    #[error("only {completed} of {count} workflows completed; first other state: {other}")]
    Incomplete {
        completed: usize,
        count: usize,
        other: String,
    },
}

/// How many tasks submit requests concurrently.
const SUBMITTERS: usize = 4;

#[derive(Debug, Clone)]
pub struct WorkflowBench {
    pub count: usize,
    pub elapsed: Duration,
    pub transitions: u64,
}

impl WorkflowBench {
    pub fn workflows_per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }
    pub fn transitions_per_second(&self) -> f64 {
        self.transitions as f64 / self.elapsed.as_secs_f64()
    }
}

/// Requests between real services of the estate, all private and low risk so
/// the auto-approve policy lets them through.
fn requests(estate: &Estate, count: usize) -> Result<Vec<String>, BenchError> {
    let pairs: Vec<(String, String)> = estate
        .flows
        .iter()
        .filter_map(|f| {
            let s = estate.service(&f.source)?;
            let d = estate.service(&f.destination)?;
            Some((s.name.clone(), d.name.clone()))
        })
        .collect();
    if pairs.is_empty() {
        return Err(BenchError::Setup(
            "the estate has no flows to request".into(),
        ));
    }
    Ok((0..count)
        .map(|i| {
            let (s, d) = &pairs[i % pairs.len()];
            format!("connect {s} to {d}, encrypted, {} GB/month", 10 + i % 500)
        })
        .collect())
}

pub async fn workflows(
    dir: &Path,
    count: usize,
    workers: usize,
) -> Result<WorkflowBench, BenchError> {
    let mut definition = Definition::embedded_connect().map_err(AppError::from)?;
    let approval = definition
        .step_index(Action::Approval)
        .ok_or_else(|| BenchError::Setup("the connect workflow has no approval step".into()))?;
    // Every request approves itself: the figure is the engine's, not a person's.
    definition.steps[approval].when = Some(Condition::Never);
    let def_path = dir.join("connect-auto.yaml");
    std::fs::write(
        &def_path,
        serde_yaml::to_string(&definition).map_err(|e| BenchError::Setup(e.to_string()))?,
    )
    .map_err(|e| BenchError::Setup(format!("{}: {e}", def_path.display())))?;
    let config = Config {
        db: dir.join("bench.db"),
        connect_workflow: Some(def_path),
        workers,
        ..Config::default()
    };
    let app = App::open(config).await?;
    let texts = requests(&app.estate, count)?;
    let user = UserId::new("bench");
    let cancel = CancellationToken::new();
    let engine = app.engine.clone();
    let runner = tokio::spawn({
        let cancel = cancel.clone();
        async move { engine.run(cancel).await }
    });
    let started = Instant::now();
    // Requests arrive from several people at once, as they do in chat.
    let mut submitters = tokio::task::JoinSet::new();
    for chunk in texts.chunks(texts.len().div_ceil(SUBMITTERS)) {
        let (engine, user, chunk) = (app.engine.clone(), user.clone(), chunk.to_vec());
        submitters.spawn(async move {
            let mut ids = Vec::with_capacity(chunk.len());
            for text in &chunk {
                ids.push(engine.submit(&user, "bench", text).await?);
            }
            Ok::<_, EngineError>(ids)
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(joined) = submitters.join_next().await {
        ids.extend(joined.map_err(|e| BenchError::Setup(e.to_string()))??);
    }
    // Poll the count rather than wait on each workflow: waiting per workflow
    // would read the database on every commit and slow what it measures.
    while app.store.running_count().await.map_err(EngineError::from)? > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    cancel.cancel();
    let _ = runner.await;
    let mut completed = 0;
    let mut other = String::new();
    for id in &ids {
        match app.store.load_full(*id).await.map_err(EngineError::from)? {
            Some((r, _)) if r.state.status() == "completed" => completed += 1,
            Some((r, steps)) if other.is_empty() => {
                let errors: Vec<String> = steps.iter().filter_map(|s| s.error.clone()).collect();
                other = format!("{id} {} ({})", r.state.status(), errors.join("; "));
            }
            _ => {}
        }
    }
    if completed != count {
        return Err(BenchError::Incomplete {
            completed,
            count,
            other,
        });
    }
    Ok(WorkflowBench {
        count,
        elapsed,
        transitions: app.engine.transitions(),
    })
}

/// What `bench probes` measured.
#[derive(Debug, Clone)]
pub struct ProbeBench {
    pub targets: usize,
    pub seconds: u64,
    pub samples: usize,
    pub lost: usize,
    /// CPU time used over wall time, in cores (0.5 = half a core).
    pub cpu_cores: f64,
    pub max_rss_mb: f64,
    pub drift_p50_ms: f64,
    pub drift_p99_ms: f64,
}

/// CPU seconds this process has used (user + system), from /proc.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn max_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Probes `targets` loopback addresses (127.x.y.z) by ICMP at 1 Hz for
/// `seconds`, through the prober's hot path: the jittered schedule, the shared
/// ICMP client, one health machine per target and the per-second sample flush
/// to SQLite.
pub async fn probes(dir: &Path, targets: usize, seconds: u64) -> Result<ProbeBench, BenchError> {
    use crate::prober::health::{HealthConfig, LossReason, Outcome, PathHealth, Sample};
    use crate::prober::monitor::now;
    use crate::prober::probe::{IcmpAccess, ProbeSpec, Prober, Via, ICMP_FIX};
    use crate::prober::scheduler::{self, Target};
    use crate::store::prober::SampleRow;
    use std::sync::Arc;

    let prober = Arc::new(Prober::new());
    if prober.icmp_access() == IcmpAccess::None {
        return Err(BenchError::Setup(format!(
            "ICMP is not allowed here: {ICMP_FIX}"
        )));
    }
    let store = crate::store::Store::open(&dir.join("probes.db"))
        .await
        .map_err(EngineError::from)?;
    let list: Vec<Target> = (0..targets)
        .map(|i| Target {
            path: i,
            spec: ProbeSpec::Icmp {
                target: std::net::IpAddr::from([127, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8]),
            },
            via: Via::default(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(900),
        })
        .collect();
    let mut health: Vec<PathHealth> = (0..targets)
        .map(|_| PathHealth::new(HealthConfig::default()))
        .collect::<Result<_, _>>()
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let names: Vec<String> = (0..targets).map(|i| format!("bench/{i}")).collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel(65_536);
    let cancel = CancellationToken::new();
    let run = tokio::spawn(scheduler::run(prober, list, tx, cancel.clone()));
    let cpu_start = cpu_seconds().unwrap_or(0.0);
    let started = Instant::now();
    let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    let (mut samples, mut lost) = (0usize, 0usize);
    let mut drifts = Vec::with_capacity(targets * seconds as usize);
    let mut pending = Vec::with_capacity(targets);
    loop {
        tokio::select! {
            o = rx.recv() => {
                let Some(o) = o else { break };
                let at = now();
                drifts.push((o.fired - o.planned).as_secs_f64() * 1000.0);
                samples += 1;
                let outcome = match o.result {
                    Ok(rtt) => Outcome::Reply { rtt_ms: rtt.as_secs_f64() * 1000.0 },
                    Err(_) => {
                        lost += 1;
                        Outcome::Lost { reason: LossReason::Timeout }
                    }
                };
                let rtt_ms = match &outcome {
                    Outcome::Reply { rtt_ms } => Some(*rtt_ms),
                    Outcome::Lost { .. } => None,
                };
                health[o.path].observe(Sample { at, outcome });
                pending.push(SampleRow { path_id: names[o.path].clone(), at: at.0, rtt_ms, failure: None });
            }
            _ = flush.tick() => {
                store.insert_samples(std::mem::take(&mut pending)).await.map_err(EngineError::from)?;
            }
            _ = tokio::time::sleep_until(end) => break,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds().unwrap_or(0.0) - cpu_start;
    cancel.cancel();
    let _ = run.await;
    drifts.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Ok(ProbeBench {
        targets,
        seconds,
        samples,
        lost,
        cpu_cores: cpu / elapsed,
        max_rss_mb: max_rss_mb().unwrap_or(0.0),
        drift_p50_ms: percentile(&drifts, 50.0),
        drift_p99_ms: percentile(&drifts, 99.0),
    })
}

/// `switchboard bench topology`: graph build and every finding over a
/// synthetic estate of `networks` networks (clouds with regional hubs,
/// circuits and VPNs to data centres, peerings, internet uplinks, flows).
pub struct TopologyBench {
    pub networks: usize,
    pub connections: usize,
    pub flows: usize,
    pub findings: std::collections::BTreeMap<&'static str, usize>,
    /// Median of the runs, graph build + cut analysis + all findings.
    pub median: Duration,
    pub runs: usize,
}

pub fn topology(networks: usize, runs: usize) -> TopologyBench {
    use crate::topology::findings::{findings, FindingInputs};
    let (topology, usage, documented) = synthetic_estate(networks, 42);
    let mut times = Vec::with_capacity(runs);
    let mut last = Vec::new();
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        last = findings(&FindingInputs {
            topology: &topology,
            documented: Some(&documented),
            usage: &usage,
        });
        times.push(started.elapsed());
    }
    times.sort();
    let mut by_kind = std::collections::BTreeMap::new();
    for f in &last {
        *by_kind.entry(f.kind.as_str()).or_insert(0) += 1;
    }
    TopologyBench {
        networks: topology.networks.len(),
        connections: topology.connections.len(),
        flows: usage.flows.len(),
        findings: by_kind,
        median: times[times.len() / 2],
        runs: times.len(),
    }
}

/// A deterministic synthetic estate of about `networks` networks.
pub fn synthetic_estate(
    networks: usize,
    seed: u64,
) -> (
    crate::topology::Topology,
    crate::topology::findings::Usage,
    Vec<crate::topology::findings::DocumentedConnection>,
) {
    use crate::domain::{Cloud, ConnectionKind as K, ConnectionStatus as S, NetworkKind as N};
    use crate::topology::findings::{DocumentedConnection, FlowRoute, Usage};
    use crate::topology::{TopoConnection, TopoNetwork, Topology};
    use std::collections::HashMap;

    let mut next = seeded(seed);
    let mut topo = Topology {
        taken_at: chrono::Utc::now(),
        networks: Vec::new(),
        connections: Vec::new(),
        services: Vec::new(),
        providers: Default::default(),
    };
    let net = |topo: &mut Topology, id: String, cloud: Cloud, region: &str, kind: N| {
        topo.networks.push(TopoNetwork {
            name: id.clone(),
            id,
            cloud,
            region: region.to_string(),
            kind,
            cidrs: vec![],
            provider: cloud.as_str().to_string(),
            account: None,
        });
    };
    let link = |topo: &mut Topology,
                id: String,
                kind: K,
                a: &str,
                b: &str,
                group: Option<String>,
                status: S| {
        topo.connections.push(TopoConnection {
            seen_by: vec![format!("synthetic:{id}")],
            id,
            kind,
            a: a.to_string(),
            b: b.to_string(),
            status,
            bandwidth_gbps: Some(10.0),
            latency_ms: None,
            group,
            name: None,
        });
    };
    net(
        &mut topo,
        "internet".into(),
        Cloud::Onprem,
        "global",
        N::Internet,
    );
    let dcs = (networks / 500).max(3);
    for d in 0..dcs {
        let id = format!("dc{d}");
        net(&mut topo, id.clone(), Cloud::Onprem, &id, N::Datacenter);
        link(
            &mut topo,
            format!("inet-{id}"),
            K::Internet,
            &id,
            "internet",
            None,
            S::Up,
        );
    }
    let clouds = [(Cloud::Aws, 5), (Cloud::Azure, 3), (Cloud::Gcp, 2)];
    let mut made = topo.networks.len();
    let mut c = 0;
    while made < networks {
        let (cloud, weight) = clouds[c % clouds.len()];
        c += 1;
        let regions = cloud.known_regions();
        let region = regions[next(regions.len().min(12))];
        let hub = format!("hub-{}-{region}-{c}", cloud.as_str());
        net(&mut topo, hub.clone(), cloud, region, N::TransitHub);
        made += 1;
        // Two circuits (sometimes one: a single point of failure) and a VPN pair.
        let circuit = match cloud {
            Cloud::Aws => K::DirectConnect,
            Cloud::Azure => K::Expressroute,
            _ => K::Interconnect,
        };
        let circuits = if next(10) == 0 { 1 } else { 2 };
        for i in 0..circuits {
            let dc = format!("dc{}", next(dcs));
            let status = if next(100) == 0 { S::Down } else { S::Up };
            link(
                &mut topo,
                format!("{hub}-cx{i}"),
                circuit,
                &hub,
                &dc,
                None,
                status,
            );
        }
        let dc = format!("dc{}", next(dcs));
        for t in 0..2 {
            link(
                &mut topo,
                format!("{hub}-vpn-t{t}"),
                K::Vpn,
                &hub,
                &dc,
                Some(format!("{hub}-vpn")),
                S::Up,
            );
        }
        let kind = match cloud {
            Cloud::Aws => N::Vpc,
            Cloud::Azure => N::Vnet,
            _ => N::GcpNetwork,
        };
        let spokes = 4 * weight;
        for s in 0..spokes {
            if made >= networks {
                break;
            }
            let id = format!("{hub}-n{s}");
            net(&mut topo, id.clone(), cloud, region, kind);
            made += 1;
            link(
                &mut topo,
                format!("{id}-att"),
                K::TransitGateway,
                &id,
                &hub,
                None,
                S::Up,
            );
            if next(3) == 0 {
                link(
                    &mut topo,
                    format!("inet-{id}"),
                    K::Internet,
                    &id,
                    "internet",
                    None,
                    S::Up,
                );
            }
            if next(8) == 0 {
                let status = if next(50) == 0 { S::Degraded } else { S::Up };
                let dc = format!("dc{}", next(dcs));
                for t in 0..2 {
                    link(
                        &mut topo,
                        format!("{id}-vpn-t{t}"),
                        K::Vpn,
                        &id,
                        &dc,
                        Some(format!("{id}-vpn")),
                        status,
                    );
                }
            }
        }
    }
    // Traffic: flows between random networks; one in twenty over the internet.
    let ids: Vec<String> = topo
        .networks
        .iter()
        .filter(|n| n.kind != N::Internet && n.kind != N::TransitHub)
        .map(|n| n.id.clone())
        .collect();
    let uplinks: HashMap<&str, &str> = topo
        .connections
        .iter()
        .filter(|c| c.kind == K::Internet)
        .map(|c| (c.a.as_str(), c.id.as_str()))
        .collect();
    let mut flows = Vec::new();
    let mut traffic: HashMap<String, f64> = HashMap::new();
    for (i, c) in topo.connections.iter().enumerate() {
        if i % 7 != 0 {
            traffic.insert(c.id.clone(), (next(50_000) + 1) as f64);
        }
    }
    for i in 0..networks * 2 {
        let (a, b) = (&ids[next(ids.len())], &ids[next(ids.len())]);
        let over_internet = next(20) == 0;
        let path = match (
            over_internet,
            uplinks.get(a.as_str()),
            uplinks.get(b.as_str()),
        ) {
            (true, Some(x), Some(y)) => vec![x.to_string(), y.to_string()],
            _ => Vec::new(),
        };
        flows.push(FlowRoute {
            id: format!("flow-{i}"),
            from: a.clone(),
            to: b.clone(),
            monthly_gb: (next(10_000) + 1) as f64,
            path,
        });
    }
    let mut base = HashMap::new();
    let mut per_gb = HashMap::new();
    for c in &topo.connections {
        let (b, g) = match c.kind {
            K::DirectConnect => (1620.0, 0.02),
            K::Expressroute => (1748.0, 0.0),
            K::Interconnect => (1700.0, 0.02),
            K::Vpn => (18.0, 0.09),
            K::TransitGateway => (36.0, 0.02),
            K::Internet => (0.0, 0.09),
            K::Peering => (0.0, 0.01),
        };
        base.insert(c.id.clone(), b);
        per_gb.insert(c.id.clone(), g);
    }
    // The documents list every link but one failure domain in ten, plus a
    // few circuits that are gone.
    let mut listed = std::collections::HashSet::new();
    let mut documented: Vec<DocumentedConnection> = topo
        .connections
        .iter()
        .filter(|c| c.kind != K::Internet)
        .filter(|c| listed.insert(c.group.clone().unwrap_or_else(|| c.id.clone())))
        .filter(|_| next(10) != 0)
        .map(|c| DocumentedConnection {
            id: c.group.clone().unwrap_or_else(|| c.id.clone()),
            kind: c.kind,
            between: [c.a.clone(), c.b.clone()],
            reference: None,
        })
        .collect();
    for i in 0..dcs {
        documented.push(DocumentedConnection {
            id: format!("retired-{i}"),
            kind: K::DirectConnect,
            between: [format!("dc{i}"), "nowhere".into()],
            reference: None,
        });
    }
    let usage = Usage {
        traffic: Some(traffic),
        base_usd: base,
        per_gb_usd: per_gb,
        internet_per_gb_usd: 0.09,
        flows,
    };
    (topo, usage, documented)
}

/// `switchboard bench optimize`: the estate-wide plan on the GlobalCart
/// estate and on a synthetic one of `flows` flows over `connections`
/// connections.
pub struct OptimizeBench {
    pub globalcart: Duration,
    pub globalcart_flows: usize,
    pub synthetic: Duration,
    pub synthetic_flows: usize,
    pub synthetic_connections: usize,
    pub synthetic_reroutes: usize,
    pub synthetic_decommissions: usize,
}

pub fn optimize(
    flows: usize,
    connections: usize,
) -> Result<OptimizeBench, crate::domain::EstateError> {
    use crate::optimizer::plan::optimize as plan;
    let globalcart = Estate::from_yaml(
        crate::providers::lab::EMBEDDED_ESTATE,
        "examples/globalcart.yaml (embedded)",
    )?;
    let started = Instant::now();
    let small = plan(&globalcart);
    let globalcart_time = started.elapsed();
    let estate = synthetic_priced_estate(connections, flows, 7);
    let started = Instant::now();
    let big = plan(&estate);
    let synthetic_time = started.elapsed();
    Ok(OptimizeBench {
        globalcart: globalcart_time,
        globalcart_flows: small.flows,
        synthetic: synthetic_time,
        synthetic_flows: big.flows,
        synthetic_connections: estate.connections.len(),
        synthetic_reroutes: big.reroutes.len(),
        synthetic_decommissions: big.decommission.len(),
    })
}

/// A priced estate with about `connections` connections and `flows` flows:
/// regional cloud networks and data centres joined by circuits, VPN pairs,
/// peerings and internet uplinks; each flow runs over one existing link or,
/// one in twenty, over the internet.
pub fn synthetic_priced_estate(connections: usize, flows: usize, seed: u64) -> Estate {
    use crate::domain::{
        Cloud, Connection, ConnectionId, ConnectionKind as K, ConnectionStatus, Flow, GbPerMonth,
        Gbps, Millis, Network, NetworkId, NetworkKind as N, Service, ServiceId, Usd, UsdPerGb,
    };
    let mut next = seeded(seed);
    let networks_wanted = (connections / 3).max(8);
    let mut networks = vec![Network {
        id: NetworkId::new("internet"),
        name: "internet".into(),
        cloud: Cloud::Onprem,
        region: "global".into(),
        kind: N::Internet,
        cidrs: vec![],
    }];
    for i in 0..networks_wanted {
        let (cloud, kind) = match i % 4 {
            0 => (Cloud::Aws, N::Vpc),
            1 => (Cloud::Azure, N::Vnet),
            2 => (Cloud::Gcp, N::GcpNetwork),
            _ => (Cloud::Onprem, N::Datacenter),
        };
        let region = match cloud {
            Cloud::Onprem => format!("dc{i}"),
            _ => cloud.known_regions()[i % 6].to_string(),
        };
        networks.push(Network {
            id: NetworkId::new(format!("n{i}")),
            name: format!("network {i}"),
            cloud,
            region,
            kind,
            cidrs: vec![format!("10.{}.{}.0/24", i / 256, i % 256)],
        });
    }
    let mut conns = Vec::new();
    let connection = |id: String, kind: K, a: &NetworkId, b: &NetworkId, group: Option<String>| {
        let (gbps, ms, per_gb, base) = match kind {
            K::DirectConnect | K::Expressroute | K::Interconnect => (10.0, 2.0, 0.02, 1700.0),
            K::Vpn => (1.25, 8.0, 0.09, 36.0),
            K::Peering => (50.0, 1.0, 0.01, 0.0),
            K::TransitGateway => (50.0, 1.0, 0.02, 36.0),
            K::Internet => (10.0, 15.0, 0.09, 0.0),
        };
        Connection {
            id: ConnectionId::new(id),
            kind,
            a: a.clone(),
            b: b.clone(),
            bandwidth_gbps: Gbps(gbps),
            latency_ms: Millis(ms),
            reliability: 0.999,
            status: ConnectionStatus::Up,
            cost_per_gb: UsdPerGb(per_gb),
            monthly_base_usd: Usd(base),
            group,
        }
    };
    for n in networks.iter().skip(1) {
        conns.push(connection(
            format!("inet-{}", n.id),
            K::Internet,
            &n.id,
            &networks[0].id,
            None,
        ));
    }
    let mut i = 0;
    while conns.len() < connections {
        i += 1;
        let a = &networks[1 + next(networks_wanted)];
        let b = &networks[1 + next(networks_wanted)];
        if a.id == b.id {
            continue;
        }
        let private_circuit = match (a.cloud, b.cloud) {
            (Cloud::Aws, Cloud::Onprem) | (Cloud::Onprem, Cloud::Aws) => Some(K::DirectConnect),
            (Cloud::Azure, Cloud::Onprem) | (Cloud::Onprem, Cloud::Azure) => Some(K::Expressroute),
            (Cloud::Gcp, Cloud::Onprem) | (Cloud::Onprem, Cloud::Gcp) => Some(K::Interconnect),
            (x, y) if x == y && x != Cloud::Onprem => Some(K::Peering),
            _ => None,
        };
        match (private_circuit, next(3)) {
            (Some(kind), 0) => conns.push(connection(format!("c{i}"), kind, &a.id, &b.id, None)),
            _ => {
                for t in 0..2 {
                    conns.push(connection(
                        format!("v{i}-t{t}"),
                        K::Vpn,
                        &a.id,
                        &b.id,
                        Some(format!("v{i}")),
                    ));
                }
            }
        }
    }
    let services: Vec<Service> = networks
        .iter()
        .skip(1)
        .map(|n| Service {
            id: ServiceId::new(format!("s-{}", n.id)),
            name: format!("service in {}", n.id),
            kind: "app".into(),
            network: n.id.clone(),
            identifiers: vec![],
            port: 443,
            address: "10.0.0.10".into(),
            security_groups: vec![],
            public_endpoint: false,
        })
        .collect();
    let service_of = |n: &NetworkId| ServiceId::new(format!("s-{n}"));
    let private: Vec<&Connection> = conns.iter().filter(|c| c.kind != K::Internet).collect();
    let mut flow_list = Vec::with_capacity(flows);
    for f in 0..flows {
        let (source, destination, path) = if next(20) == 0 {
            let a = &networks[1 + next(networks_wanted)].id;
            let b = &networks[1 + next(networks_wanted)].id;
            if a == b {
                continue;
            }
            (
                service_of(a),
                service_of(b),
                vec![
                    ConnectionId::new(format!("inet-{a}")),
                    ConnectionId::new(format!("inet-{b}")),
                ],
            )
        } else {
            let c = private[next(private.len())];
            (service_of(&c.a), service_of(&c.b), vec![c.id.clone()])
        };
        flow_list.push(Flow {
            id: format!("f{f}"),
            source,
            destination,
            monthly_gb: GbPerMonth((next(2_000) + 1) as f64),
            path,
        });
    }
    Estate {
        name: "synthetic".into(),
        networks,
        connections: conns,
        services,
        flows: flow_list,
    }
}

/// A reproducible stream of numbers below `bound` (xorshift64*), without a
/// dependency on rand's generators.
fn seeded(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed.max(1);
    move |bound: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound.max(1)
    }
}

/// `examples/acquisition.csv`, the chapter's acquisition as a bulk request.
pub const ACQUISITION_CSV: &[u8] = include_bytes!("../../examples/acquisition.csv");

#[derive(Debug, Clone)]
pub struct BulkBench {
    pub rows: usize,
    pub workflows: usize,
    pub refused: usize,
    pub awaiting: usize,
    pub failed_policy: usize,
    pub completed: usize,
    /// From the file arriving to the batch's card being queued.
    pub to_card: Duration,
    /// From the approval to every row being done.
    pub to_done: Duration,
}

impl BulkBench {
    pub fn total(&self) -> Duration {
        self.to_card + self.to_done
    }
}

/// The acquisition bulk request end to end on the lab estate: every row
/// through parse, compliance and design, one batch approval by an approver,
/// then provision and validate; against a fresh SQLite file.
pub async fn bulk(dir: &Path, workers: usize) -> Result<BulkBench, BenchError> {
    let config = Config {
        db: dir.join("bench.db"),
        workers,
        ..Config::default()
    };
    let app = App::open(config).await?;
    let bulk = app.bulk();
    let cancel = CancellationToken::new();
    let engine = app.engine.clone();
    let runner = tokio::spawn({
        let cancel = cancel.clone();
        async move { engine.run(cancel).await }
    });
    let setup = |e: crate::bulk::BulkError| BenchError::Setup(e.to_string());
    let started = Instant::now();
    let batch = bulk
        .submit(
            &UserId::new("fastcheckout-lead"),
            "bench",
            "examples/acquisition.csv",
            ACQUISITION_CSV,
            crate::bulk::DEFAULT_CONCURRENCY,
        )
        .await
        .map_err(setup)?;
    bulk.wait_until(batch, |v| v.is_settled())
        .await
        .map_err(setup)?;
    let settled = bulk.advance(batch).await.map_err(setup)?;
    let to_card = started.elapsed();
    let approved_at = Instant::now();
    bulk.approve(batch, &UserId::new(crate::config::DEFAULT_APPROVER))
        .await
        .map_err(setup)?;
    let done = bulk
        .wait_until(batch, |v| v.is_finished())
        .await
        .map_err(setup)?;
    bulk.advance(batch).await.map_err(setup)?;
    let to_done = approved_at.elapsed();
    cancel.cancel();
    let _ = runner.await;
    let before = settled.tally();
    let after = done.tally();
    Ok(BulkBench {
        rows: before.rows,
        workflows: before.rows - before.refused,
        refused: before.refused,
        awaiting: before.awaiting_approval,
        failed_policy: before.failed_policy,
        completed: after.completed,
        to_card,
        to_done,
    })
}
