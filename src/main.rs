//! The `switchboard` binary: clap subcommands over the library. The only place
//! that uses `anyhow`, prints errors for people and picks exit codes.

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard::app::{acts_for_real, current_estate, load_estate, App};
use switchboard::chat::console::Console;
use switchboard::chat::router::status_message;
use switchboard::compliance::Policies;
use switchboard::config::{switchboard_env, Config, DiscoveryProvider};
use switchboard::domain::{ConnectionId, ConnectionStatus, Millis, ResourceId, WorkflowId};
use switchboard::intent::{parse_request, resolve};
use switchboard::llm::narrative::narrate;
use switchboard::llm::prompts::read_vars;
use switchboard::llm::Prompts;
use switchboard::optimizer::choose::{Constraints, CostBasis, Objective};
use switchboard::optimizer::priced::estate_from_topology;
use switchboard::optimizer::pricing::PricingCatalog;
use switchboard::optimizer::query::{
    answer as paths_answer, compliance_constraints, table as paths_table, PathsRequest,
};
use switchboard::prober::monitor::{now, Monitor, MonitorSettings};
use switchboard::prober::paths::PathsConfig;
use switchboard::prober::probe::Prober;
use switchboard::providers::lab::Fault;
use switchboard::providers::CloudProvider;
use switchboard::server::{ServeSettings, Server};
use switchboard::store::Store;
use switchboard::topology::service::{Refreshed, TopologyService};
use switchboard::topology::{render, report};
use tokio_util::sync::CancellationToken;

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Chat-ops for multi-cloud networks"
)]
struct Cli {
    /// Config file (default: ./switchboard.toml if present, else embedded defaults).
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// SQLite database (default: from config, else ./switchboard.db).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Talk to the bot in this terminal (or pipe a script into it).
    Console {
        /// Who you are (default: your login name).
        #[arg(long)]
        user: Option<String>,
    },
    /// Parse a request and print the intent, without starting a workflow.
    Parse {
        text: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// List or show workflows.
    Workflows {
        #[command(subcommand)]
        command: WorkflowsCommand,
    },
    /// The latest discovered topology (discovering first when there is none).
    Topology {
        #[arg(long, value_enum, default_value = "text")]
        format: TopologyFormat,
        /// Write the output to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Discover now: read the providers, merge, save a snapshot, print it.
    Discover {
        /// Read only these providers (repeatable; default: `[discovery] providers`).
        #[arg(long = "provider", value_enum)]
        providers: Vec<ProviderArg>,
        #[arg(long, value_enum, default_value = "text")]
        format: TopologyFormat,
        /// Write the output to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Findings on the latest snapshot: single points of failure, drift,
    /// zombie links, internet-routed flows, connections down.
    Findings {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// What changed between two snapshots (default: the last two).
    Diff {
        from: Option<i64>,
        to: Option<i64>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Candidate paths between two endpoints with costs, the recommended
    /// primary and backup, the BGP plan and break-even traffic.
    Paths {
        /// `cloud:region` (aws:us-east-1, azure:eastus, onprem:dc1) or a network id.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Monthly traffic: 800GB, 5TB (TB = 1000 GB).
        #[arg(long)]
        traffic: String,
        #[arg(long, value_enum, default_value = "cost")]
        optimize: ObjectiveArg,
        /// Cost basis: marginal (links exist and are paid for) or full (base fees too).
        #[arg(long, value_enum, default_value = "marginal")]
        basis: BasisArg,
        #[arg(long)]
        max_latency: Option<f64>,
        #[arg(long)]
        min_reliability: Option<f64>,
        /// Compliance policies (repeatable): pci_dss and hipaa allow no internet hop.
        #[arg(long)]
        compliance: Vec<String>,
        /// `estate`: the estate file (priced by its own figures);
        /// `snapshot`: the latest discovered topology priced from the catalog.
        /// Default: the snapshot when acting for real (no `lab` among the
        /// discovery providers), the estate file otherwise.
        #[arg(long, value_enum)]
        source: Option<SourceArg>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Estate-wide plan: reroutes, links to decommission, upgrades, total saving.
    Optimize {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Config for a chosen plan: Terraform routes for its clouds, or FRR /
    /// Cisco IOS route-maps with its local preferences for the on-prem routers.
    Config {
        /// The JSON `switchboard paths --format json` wrote, or a workflow id
        /// (wf-N) whose design step chose the plan.
        #[arg(long)]
        plan: PathBuf,
        /// terraform, frr or ios.
        #[arg(long)]
        target: switchboard::optimizer::config_gen::Target,
        /// Only this router's config (frr, ios); default: every router the plan uses.
        #[arg(long)]
        router: Option<String>,
        /// The on-prem inventory (default: `[discovery] onprem_inventory`).
        #[arg(long)]
        inventory: Option<PathBuf>,
        /// Write the output to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// What switchboard created in the clouds (security group rules, routes,
    /// DNS records…), where, and whether each is still there.
    Resources {
        /// Only this workflow's (wf-N).
        #[arg(long)]
        workflow: Option<WorkflowId>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// List discovery snapshots, most recent first.
    Snapshots {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Lab provider controls: faults and what it has applied.
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Run the prober: probe the monitored paths, fail over, alert.
    Probe {
        /// The paths file (default: `[prober] paths` from the config).
        #[arg(long)]
        paths: Option<PathBuf>,
    },
    /// Monitored paths: state, RTT, loss, active path, recent failovers.
    Status {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Pin a pair's traffic to one path until `unpin` (the running prober applies it).
    Pin {
        pair: String,
        #[arg(value_enum)]
        role: PinRole,
        /// Who is pinning (for the record).
        #[arg(long)]
        user: Option<String>,
    },
    /// Let the prober choose a pair's path again.
    Unpin {
        pair: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Drain a connection ahead of planned work: the running prober moves
    /// every pair using it to its other path and silences its alerts until
    /// the drain ends (`--for`, default 2h) or `undrain`.
    Drain {
        connection: String,
        /// How long, e.g. 90m, 2h (at most 7 days).
        #[arg(long = "for", default_value = "2h")]
        duration: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
    /// End a connection's drain now.
    Undrain {
        connection: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Run the bot: Slack over Socket Mode (SLACK_APP_TOKEN) and/or at
    /// POST /slack/events (SLACK_SIGNING_SECRET), Discord at POST
    /// /discord/interactions, /healthz, /metrics, the workflow engine and
    /// outbox delivery (tokens from SLACK_* / DISCORD_* variables).
    Serve {
        /// Address to listen on (default: `[server] listen`, else 127.0.0.1:3000).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Start one workflow per row of a CSV file (a bulk request) and print
    /// the batch once every row waits for approval or is done; the batch's
    /// one approval card goes to the requests channel (`approve batch-N`).
    Bulk {
        /// The CSV: header `source,destination,traffic,max_latency_ms,encrypted,compliance`
        /// (or a `request` column), one request per row.
        file: PathBuf,
        /// Who is asking (default: your login name).
        #[arg(long)]
        user: Option<String>,
        /// Rows in flight at once.
        #[arg(long, default_value_t = switchboard::bulk::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Usage history (gigabytes per connection per day) for forecasts and the digest.
    Usage {
        #[command(subcommand)]
        command: UsageCommand,
    },
    /// Latency trend per monitored path, capacity per connection, cost at
    /// month end and next month; raises (once) or clears prediction alerts
    /// on the alerts channel.
    Forecast {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Days ahead a projected crossing still alerts, for latency and
        /// capacity (default: 90 and 180).
        #[arg(long)]
        horizon: Option<u32>,
    },
    /// The daily cost digest the `[digest] schedule` posts to the digest
    /// channel, printed (nothing is posted).
    Digest {
        /// The morning it is for, YYYY-MM-DD; it reports the day before
        /// (default: today in `[digest] timezone`).
        #[arg(long)]
        date: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Performance figures.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Versioned LLM prompts: list them, show one, render one with variables.
    Prompts {
        #[command(subcommand)]
        command: PromptsCommand,
    },
}

#[derive(Subcommand)]
enum PromptsCommand {
    /// Every prompt: active version, versions, content hash (sha256).
    List {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// A prompt's template text (the active version unless --version).
    Show {
        name: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Renders a prompt (strict: every variable it uses must be given).
    Render {
        name: String,
        #[arg(long)]
        version: Option<u32>,
        /// The variables, YAML or JSON.
        #[arg(long)]
        vars: PathBuf,
    },
}

#[derive(Subcommand)]
enum WorkflowsCommand {
    List {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    Show {
        id: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

/// How `topology` and `discover` print: a report, the stable JSON, Graphviz
/// DOT, or a picture.
#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum TopologyFormat {
    Text,
    Json,
    Dot,
    Svg,
    Png,
}

#[derive(Clone, Copy, ValueEnum)]
enum ObjectiveArg {
    Cost,
    Latency,
    Balanced,
}

#[derive(Clone, Copy, ValueEnum)]
enum SourceArg {
    Estate,
    Snapshot,
}

#[derive(Clone, Copy, ValueEnum)]
enum BasisArg {
    Marginal,
    Full,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProviderArg {
    Lab,
    Onprem,
    Aws,
    Azure,
    Gcp,
}

impl ProviderArg {
    fn provider(self) -> DiscoveryProvider {
        match self {
            ProviderArg::Lab => DiscoveryProvider::Lab,
            ProviderArg::Onprem => DiscoveryProvider::Onprem,
            ProviderArg::Aws => DiscoveryProvider::Aws,
            ProviderArg::Azure => DiscoveryProvider::Azure,
            ProviderArg::Gcp => DiscoveryProvider::Gcp,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum PinRole {
    Primary,
    Backup,
}

#[derive(Clone, Copy, ValueEnum)]
enum FaultStatus {
    Up,
    Degraded,
    Down,
}

#[derive(Subcommand)]
enum LabCommand {
    /// Mark a connection down or degraded (or up again).
    Fault {
        connection: String,
        #[arg(long, value_enum)]
        status: FaultStatus,
        /// Latency added on top of the connection's own, in ms.
        #[arg(long, default_value_t = 0.0)]
        extra_latency_ms: f64,
    },
    /// List injected faults.
    Faults,
    /// List the resources the lab has applied.
    Resources {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Write a deterministic daily usage history for the lab estate (its
    /// fake billing export) into the usage table.
    Usage {
        /// Days of history.
        #[arg(long)]
        days: u32,
        /// First day, YYYY-MM-DD (default: `days` days before today, UTC,
        /// so the history ends yesterday).
        #[arg(long)]
        from: Option<String>,
        /// connection:YYYY-MM-DD:factor — multiply a connection's traffic
        /// from that day on (repeatable).
        #[arg(long = "spike")]
        spikes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UsageCommand {
    /// Import `day,connection,gigabytes[,peak_gbps]` rows (header required);
    /// bad rows are listed by line and the good ones imported; a day and
    /// connection imported again replaces the earlier row.
    Import {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// A connect request against moto's server (and, with azure, the fake
    /// ARM) on loopback: approval to validated, p50 over N runs, and the
    /// calls and operation polls a run makes per cloud. `--clouds aws`: a
    /// Lambda function to RDS over a transit gateway; `--clouds aws,azure`:
    /// the chapter's Lambda function to an Azure SQL server over a VPN.
    /// Needs moto_server (./test installs it; SWITCHBOARD_MOTO_SERVER or
    /// --moto names it).
    Provision {
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// aws, or aws,azure.
        #[arg(long, value_delimiter = ',', default_value = "aws")]
        clouds: Vec<switchboard::domain::Cloud>,
        /// The moto_server executable.
        #[arg(long, env = "SWITCHBOARD_MOTO_SERVER")]
        moto: Option<String>,
    },
    /// The acquisition bulk request (examples/acquisition.csv, 89 rows) end
    /// to end on the lab estate: submit, batch approval, provision, validate.
    Bulk {
        /// Engine workers.
        #[arg(long, default_value_t = 16)]
        workers: usize,
    },
    /// Latency trends over N paths × D days of hourly samples and capacity
    /// over C connections × D days; then the digest and forecast over D days
    /// of the lab estate's usage.
    Forecast {
        #[arg(long, default_value_t = 1_000)]
        paths: usize,
        #[arg(long, default_value_t = 90)]
        days: u32,
        #[arg(long, default_value_t = 1_000)]
        connections: usize,
    },
    /// Run N workflows end to end with auto-approval; print workflows/s.
    Workflows {
        #[arg(long, default_value_t = 4000)]
        count: usize,
        /// Engine workers (tokio tasks) driving workflows concurrently.
        #[arg(long, default_value_t = 16)]
        workers: usize,
    },
    /// The estate-wide plan on GlobalCart and on a synthetic estate.
    Optimize {
        #[arg(long, default_value_t = 100_000)]
        flows: usize,
        #[arg(long, default_value_t = 1_000)]
        connections: usize,
    },
    /// Graph build + every finding over a synthetic estate of N networks.
    Topology {
        #[arg(long, default_value_t = 10_000)]
        networks: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// POST N concurrent signed Slack clicks at /slack/events (fake Slack
    /// API on loopback); print p50/p99 time to the acknowledgement.
    SlackAck {
        #[arg(long, default_value_t = 200)]
        clicks: usize,
    },
    /// POST N concurrent signed Discord clicks at /discord/interactions
    /// (REST stand-in on loopback); print p50/p99 time to the acknowledgement.
    DiscordAck {
        #[arg(long, default_value_t = 200)]
        clicks: usize,
    },
    /// Probe N loopback targets by ICMP at 1 Hz; print CPU, memory, schedule drift.
    Probes {
        #[arg(long, default_value_t = 10_000)]
        targets: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

/// Runs the app's workflow engine until `cancel`.
fn spawn_engine(
    app: &App,
    cancel: &CancellationToken,
) -> tokio::task::JoinHandle<Result<(), switchboard::workflow::EngineError>> {
    let (engine, cancel) = (app.engine.clone(), cancel.clone());
    tokio::spawn(async move { engine.run(cancel).await })
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::load(cli.config.as_deref(), &switchboard_env())?;
    if let Some(db) = &cli.db {
        config.db = db.clone();
    }
    Ok(config)
}

/// Only the store, for commands that read or pin: no estate, policies or lab.
async fn store(cli: &Cli) -> anyhow::Result<Store> {
    Ok(Store::open(&config(cli)?.db).await?)
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The topology as `topology` and `discover` print it. JSON is the stable
/// shape the README documents: networks, connections, findings, providers.
fn print_topology(
    service: &TopologyService,
    refreshed: &Refreshed,
    format: TopologyFormat,
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let topology = &refreshed.topology;
    let bytes: Vec<u8> = match format {
        TopologyFormat::Text => format!(
            "{}\nSnapshot {}; {} findings (`switchboard findings`).\n",
            report::summary(topology),
            refreshed.snapshot,
            service.findings(topology).len()
        )
        .into_bytes(),
        TopologyFormat::Json => {
            let mut text = serde_json::to_string_pretty(&serde_json::json!({
                "snapshot": refreshed.snapshot,
                "taken_at": topology.taken_at,
                "networks": topology.networks,
                "connections": topology.connections,
                "findings": service.findings(topology),
                "providers": topology.providers,
            }))?;
            text.push('\n');
            text.into_bytes()
        }
        TopologyFormat::Dot => render::dot(topology).into_bytes(),
        TopologyFormat::Svg => render::svg(topology).into_bytes(),
        TopologyFormat::Png => render::png(topology)?,
    };
    match out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        }
        None if format == TopologyFormat::Png && std::io::stdout().is_terminal() => {
            bail!("a PNG is not for the terminal: add --out topology.png (or redirect the output)")
        }
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}

fn login_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "operator".into())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::SUCCESS
            };
        }
    };
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match &cli.command {
        Command::Console { user } => {
            let config = config(&cli)?;
            let user = Console::user_from(&user.clone().unwrap_or_else(login_name))
                .map_err(anyhow::Error::msg)?;
            let app = App::open(config).await?;
            let cancel = CancellationToken::new();
            let runner = spawn_engine(&app, &cancel);
            let discovery = app.discovery_schedule(cancel.clone()).map(tokio::spawn);
            let batches = tokio::spawn(app.bulk().watch(cancel.clone()));
            let digest = app.digest_schedule(cancel.clone()).map(tokio::spawn);
            let forecast = app.forecast_schedule(cancel.clone()).map(tokio::spawn);
            let mut console = Console {
                router: app.router(),
                engine: app.engine.clone(),
                store: app.store.clone(),
                user,
                channel: app.config.channels.requests.clone(),
            };
            let interactive = std::io::stdin().is_terminal();
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            let mut stdout = std::io::stdout();
            let result = console.run(stdin, &mut stdout, interactive).await;
            cancel.cancel();
            runner.await.context("engine task")??;
            if let Some(discovery) = discovery {
                discovery.await.context("discovery schedule")?;
            }
            batches.await.context("batch watcher")?;
            if let Some(digest) = digest {
                digest.await.context("digest schedule")?;
            }
            if let Some(forecast) = forecast {
                forecast.await.context("forecast schedule")?;
            }
            result?;
        }
        Command::Bulk {
            file,
            user,
            concurrency,
            format,
        } => {
            if !(1..=256).contains(concurrency) {
                bail!("--concurrency must be 1..256");
            }
            let user = Console::user_from(&user.clone().unwrap_or_else(login_name))
                .map_err(anyhow::Error::msg)?;
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let config = config(&cli)?;
            let app = App::open(config).await?;
            let cancel = CancellationToken::new();
            let runner = spawn_engine(&app, &cancel);
            let bulk = app.bulk();
            let outcome = async {
                let batch = bulk
                    .submit(
                        &user,
                        &app.config.channels.requests,
                        &file.display().to_string(),
                        &bytes,
                        *concurrency,
                    )
                    .await?;
                bulk.wait_until(batch, |v| v.is_settled()).await?;
                bulk.advance(batch).await
            }
            .await;
            cancel.cancel();
            runner.await.context("engine task")??;
            let view = outcome?;
            match format {
                Format::Json => print_json(&view)?,
                Format::Text => {
                    println!(
                        "{}",
                        switchboard::chat::console::render(
                            &switchboard::bulk::batch::status(&view),
                            None
                        )
                    );
                    if !view.awaiting_approval().is_empty() {
                        println!(
                            "An approver decides the batch with `approve {0}` (or `reject {0} <reason>`) in `switchboard console`, or with the card's buttons in chat.",
                            view.id
                        );
                    }
                }
            }
        }
        Command::Parse { text, format } => {
            let estate = current_estate(config(&cli)?).await?;
            let intent = match parse_request(text) {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("switchboard: not parsed: {e}");
                    return Ok(std::process::ExitCode::FAILURE);
                }
            };
            let resolution = resolve(intent, &estate);
            match format {
                Format::Json => {
                    let mut value = serde_json::to_value(&resolution.intent)?;
                    if let Some(obj) = value.as_object_mut() {
                        obj.insert(
                            "questions".into(),
                            serde_json::to_value(&resolution.ambiguities)?,
                        );
                    }
                    print_json(&value)?;
                }
                Format::Text => {
                    println!("{}", serde_yaml::to_string(&resolution.intent)?.trim_end());
                    for q in &resolution.ambiguities {
                        println!("question: {q}");
                    }
                }
            }
        }
        Command::Workflows { command } => {
            let store = store(&cli).await?;
            match command {
                WorkflowsCommand::List { format, limit } => {
                    let list = store.list(*limit).await?;
                    match format {
                        Format::Json => print_json(&list)?,
                        Format::Text => {
                            for w in &list {
                                println!(
                                    "{:<7} {:<22} {:<11} {:<10} {}",
                                    w.id.to_string(),
                                    w.state,
                                    w.current_step,
                                    w.requester,
                                    w.request.lines().next().unwrap_or("")
                                );
                            }
                        }
                    }
                }
                WorkflowsCommand::Show { id, format } => {
                    let id: WorkflowId = id.parse()?;
                    let Some((record, steps)) = store.load_full(id).await? else {
                        bail!("there is no workflow {id}");
                    };
                    match format {
                        Format::Json => {
                            let audit = store.audit_trail(id).await?;
                            let resources = store.resources(id, false).await?;
                            let llm_calls = store.llm_calls_of(id).await?;
                            print_json(&serde_json::json!({
                                "id": id,
                                "state": record.state.status(),
                                "detail": record.state,
                                "requester": record.requester,
                                "request": record.request_text,
                                "current_step": record.definition.steps.get(record.state.current_step(&record.definition)).map(|s| s.name.clone()),
                                "definition": { "name": record.definition.name, "version": record.definition.version },
                                "created_at": record.created_at,
                                "updated_at": record.updated_at,
                                "steps": steps,
                                "resources": resources,
                                "audit": audit,
                                "llm_calls": llm_calls,
                            }))?;
                        }
                        Format::Text => {
                            println!(
                                "{}",
                                switchboard::chat::console::render(
                                    &status_message(&record, &steps),
                                    None
                                )
                            );
                            for c in store.llm_calls_of(id).await? {
                                println!(
                                    "model call {} ({} step): prompt {} v{} sha256 {} · {} · {}+{} tokens · {} ms · {}",
                                    c.id,
                                    c.call.step.as_deref().unwrap_or("-"),
                                    c.call.prompt,
                                    c.call.version,
                                    c.call.content_hash.get(..12).unwrap_or(""),
                                    c.call.model,
                                    c.call.input_tokens,
                                    c.call.output_tokens,
                                    c.call.latency_ms,
                                    c.call.outcome.as_str(),
                                );
                            }
                        }
                    }
                }
            }
        }
        Command::Topology { format, out } => {
            let app = App::open(config(&cli)?).await?;
            let latest = app.topology.latest().await?;
            print_topology(&app.topology, &latest, *format, out.as_deref())?;
        }
        Command::Discover {
            providers,
            format,
            out,
        } => {
            let app = App::open(config(&cli)?).await?;
            let service = if providers.is_empty() {
                app.topology.clone()
            } else {
                let chosen: Vec<DiscoveryProvider> =
                    providers.iter().map(|p| p.provider()).collect();
                Arc::new(app.topology_service(&chosen)?)
            };
            let refreshed = service.refresh().await?;
            let line = report::providers_line(&refreshed.topology);
            if refreshed
                .topology
                .providers
                .values()
                .any(|o| o.label() != "ok")
            {
                eprintln!("switchboard: discovery was partial: {line}");
            }
            print_topology(&service, &refreshed, *format, out.as_deref())?;
        }
        Command::Findings { format } => {
            let app = App::open(config(&cli)?).await?;
            let latest = app.topology.latest().await?;
            let findings = app.topology.findings(&latest.topology);
            match format {
                Format::Json => print_json(&serde_json::json!({
                    "snapshot": latest.snapshot,
                    "taken_at": latest.topology.taken_at,
                    "findings": findings,
                }))?,
                Format::Text => println!("{}", report::findings_text(&findings)),
            }
        }
        Command::Diff { from, to, format } => {
            let app = App::open(config(&cli)?).await?;
            let (from, to, diff) = app.topology.diff(*from, *to).await?;
            match format {
                Format::Json => print_json(&serde_json::json!({
                    "from": from, "to": to, "diff": diff,
                }))?,
                Format::Text => println!("{}", report::diff_text(from, to, &diff)),
            }
        }
        Command::Paths {
            from,
            to,
            traffic,
            optimize,
            basis,
            max_latency,
            min_reliability,
            compliance,
            source,
            format,
        } => {
            let config = config(&cli)?;
            let source = source.unwrap_or(if acts_for_real(&config) {
                SourceArg::Snapshot
            } else {
                SourceArg::Estate
            });
            let (estate, assumptions) = match source {
                SourceArg::Estate => (load_estate(&config)?, Vec::new()),
                SourceArg::Snapshot => {
                    let store = Store::open(&config.db).await?;
                    let Some((id, topology)) = store.snapshot(None).await? else {
                        bail!("no discovery snapshot yet: run `switchboard discover` first");
                    };
                    let catalog = PricingCatalog::configured(config.pricing.as_deref())?;
                    let priced = estate_from_topology(&topology, &catalog)?;
                    let mut notes = vec![format!("snapshot {id}")];
                    notes.extend(priced.assumptions);
                    (priced.estate, notes)
                }
            };
            let policies = match &config.policies {
                Some(path) => Policies::load(path)?,
                None => Policies::embedded()?,
            };
            if let Some(r) = min_reliability {
                if !(0.0..=1.0).contains(r) {
                    bail!("--min-reliability must be between 0 and 1, got {r}");
                }
            }
            if max_latency.is_some_and(|m| m.is_nan() || m <= 0.0) {
                bail!("--max-latency must be a positive number of milliseconds");
            }
            let (private_only, private_reason) = compliance_constraints(&policies, compliance)?;
            let request = PathsRequest {
                from,
                to,
                traffic,
                objective: match optimize {
                    ObjectiveArg::Cost => Objective::Cost,
                    ObjectiveArg::Latency => Objective::Latency,
                    ObjectiveArg::Balanced => Objective::Balanced,
                },
                basis: match basis {
                    BasisArg::Marginal => CostBasis::Marginal,
                    BasisArg::Full => CostBasis::Full,
                },
                constraints: Constraints {
                    max_latency_ms: *max_latency,
                    min_reliability: *min_reliability,
                    private_only,
                    private_reason,
                },
            };
            let mut answer = paths_answer(&estate, &request)?;
            answer.notes.extend(assumptions);
            let narrative = match &config.llm {
                Some(_) => {
                    let store = Store::open(&config.db).await?;
                    match switchboard::app::assistant(&config, &store)? {
                        Some(llm) => narrate(&llm, &answer).await,
                        None => None,
                    }
                }
                None => None,
            };
            match format {
                Format::Json => {
                    let mut value = serde_json::to_value(&answer)?;
                    if let (Some(obj), Some(n)) = (value.as_object_mut(), &narrative) {
                        obj.insert("narrative".into(), serde_json::to_value(n)?);
                    }
                    print_json(&value)?
                }
                Format::Text => {
                    println!("{}", paths_table(&answer));
                    if let Some(n) = &narrative {
                        println!("\n{}", n.text_block());
                    }
                }
            }
        }
        Command::Optimize { format } => {
            let estate = load_estate(&config(&cli)?)?;
            let plan = switchboard::optimizer::plan::optimize(&estate);
            match format {
                Format::Json => print_json(&plan)?,
                Format::Text => println!("{}", switchboard::optimizer::plan::report(&plan)),
            }
        }
        Command::Config {
            plan,
            target,
            router,
            inventory,
            out,
        } => {
            use switchboard::optimizer::config_gen::{joined, parse_plan, render};
            let config = config(&cli)?;
            let estate = current_estate(config.clone()).await?;
            let workflow = plan
                .to_str()
                .filter(|_| !plan.exists())
                .and_then(|p| p.parse::<WorkflowId>().ok());
            let answer = match workflow {
                Some(id) => {
                    let store = Store::open(&config.db).await?;
                    let Some((_, steps)) = store.load_full(id).await? else {
                        bail!("no workflow {id}");
                    };
                    let Some(output) = steps
                        .iter()
                        .find(|s| s.name == "design")
                        .and_then(|s| s.output.clone())
                    else {
                        bail!("{id} has no design yet");
                    };
                    let design: switchboard::optimizer::Design = serde_json::from_value(output)
                        .with_context(|| format!("{id}: reading its design"))?;
                    let policies = match &config.policies {
                        Some(path) => Policies::load(path)?,
                        None => Policies::embedded()?,
                    };
                    switchboard::optimizer::query::replan(&estate, &policies, &design)
                        .with_context(|| format!("{id}"))?
                }
                None => {
                    let text = std::fs::read_to_string(plan)
                        .with_context(|| format!("reading the plan {}", plan.display()))?;
                    parse_plan(&text).with_context(|| format!("plan {}", plan.display()))?
                }
            };
            let onprem = match inventory
                .as_ref()
                .or(config.discovery.onprem_inventory.as_ref())
            {
                Some(path) => Some(switchboard::providers::onprem::OnpremInventory::load(path)?),
                None => None,
            };
            let mut files = render(*target, &answer, &estate, onprem.as_ref())?;
            if let Some(name) = router {
                let known: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
                files.retain(|f| &f.name == name);
                if files.is_empty() {
                    bail!(
                        "the plan uses no router '{name}' (it uses: {})",
                        known.join(", ")
                    );
                }
            }
            let text = match files.as_slice() {
                [one] => one.text.clone(),
                _ => joined(&files, *target),
            };
            match out {
                Some(path) => std::fs::write(path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
        }
        Command::Resources { workflow, format } => {
            let app = App::open(config(&cli)?).await?;
            let mut list = app.store.all_resources().await?;
            if let Some(wf) = workflow {
                list.retain(|r| r.workflow == *wf);
            }
            let active: Vec<ResourceId> = list
                .iter()
                .filter(|r| r.status == "active")
                .map(|r| r.resource_id.clone())
                .collect();
            let present = app.provider.present(&active).await?;
            let rows: Vec<serde_json::Value> = list
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "workflow": r.workflow.to_string(),
                        "key": r.idempotency_key,
                        "provider": r.provider,
                        "resource": r.resource_id,
                        "change": r.change.to_string(),
                        "kind": r.change.kind(),
                        "status": r.status,
                        "present": present.contains(&r.resource_id),
                    })
                })
                .collect();
            match format {
                Format::Json => print_json(&rows)?,
                Format::Text => {
                    if list.is_empty() {
                        println!("switchboard has created nothing yet");
                    }
                    for r in &list {
                        let state = match r.status.as_str() {
                            "active" if present.contains(&r.resource_id) => "present",
                            "active" => "MISSING",
                            other => other,
                        };
                        println!(
                            "{:<7} {:<8} {:<6} {}\n        {}",
                            r.workflow, state, r.provider, r.change, r.resource_id
                        );
                    }
                }
            }
        }
        Command::Snapshots { limit, format } => {
            let store = store(&cli).await?;
            let list = store.snapshots(*limit).await?;
            match format {
                Format::Json => print_json(&list)?,
                Format::Text => {
                    for s in list {
                        println!(
                            "{:>5}  {}  {:<8} {} networks, {} connections",
                            s.id, s.taken_at, s.status, s.networks, s.connections
                        );
                    }
                }
            }
        }
        Command::Lab { command } => {
            let config = config(&cli)?;
            let app = App::open(config).await?;
            match command {
                LabCommand::Fault {
                    connection,
                    status,
                    extra_latency_ms,
                } => {
                    let fault = Fault {
                        connection: ConnectionId::new(connection.clone()),
                        status: match status {
                            FaultStatus::Up => ConnectionStatus::Up,
                            FaultStatus::Degraded => ConnectionStatus::Degraded,
                            FaultStatus::Down => ConnectionStatus::Down,
                        },
                        extra_latency: Millis(*extra_latency_ms),
                    };
                    app.lab.set_fault(&fault).await?;
                    println!("{connection}: {:?}, +{extra_latency_ms} ms", fault.status);
                }
                LabCommand::Faults => {
                    for f in app.lab.faults().await? {
                        println!("{} {:?} +{}", f.connection, f.status, f.extra_latency);
                    }
                }
                LabCommand::Resources { format } => {
                    let resources = app.lab.resources().await?;
                    match format {
                        Format::Json => print_json(
                            &resources
                                .iter()
                                .map(|(key, id, active)| serde_json::json!({"key": key, "resource": id, "active": active}))
                                .collect::<Vec<_>>(),
                        )?,
                        Format::Text => {
                            for (key, id, active) in resources {
                                println!("{id} {key} {}", if active { "active" } else { "reverted" });
                            }
                        }
                    }
                }
                LabCommand::Usage { days, from, spikes } => {
                    use switchboard::usage::lab::{history, Spike, MAX_DAYS};
                    if !(1..=MAX_DAYS).contains(days) {
                        bail!("--days must be 1..{MAX_DAYS}");
                    }
                    let from = match from {
                        Some(text) => switchboard::usage::parse_day(text)
                            .map_err(|e| anyhow::anyhow!("--from: {e}"))?,
                        None => chrono::Utc::now()
                            .date_naive()
                            .checked_sub_days(chrono::Days::new(u64::from(*days)))
                            .context("--days reaches before the calendar")?,
                    };
                    let spikes = spikes
                        .iter()
                        .map(|s| Spike::parse(s, &app.estate))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| anyhow::anyhow!("--spike {e}"))?;
                    let rows = history(&app.estate, from, *days, &spikes);
                    let connections = rows
                        .iter()
                        .map(|r| &r.connection)
                        .collect::<std::collections::BTreeSet<_>>()
                        .len();
                    let last = rows.last().map(|r| r.day).unwrap_or(from);
                    let written = app.store.upsert_usage(rows, "lab").await?;
                    println!(
                        "lab usage: {written} rows, {connections} connections, {from} to {last}{}",
                        if spikes.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; spikes: {}",
                                spikes
                                    .iter()
                                    .map(|s| format!(
                                        "{} ×{} from {}",
                                        s.connection, s.factor, s.from
                                    ))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    );
                }
            }
            let _ = app.lab.name();
        }
        Command::Usage { command } => match command {
            UsageCommand::Import { file, format } => {
                let config = config(&cli)?;
                let estate = current_estate(config.clone()).await?;
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading the usage file {}", file.display()))?;
                let shown = file.display().to_string();
                let facts = switchboard::usage::connection_facts(&estate);
                let parsed = switchboard::usage::csv::parse(&text, &shown, &facts)?;
                let days = parsed
                    .rows
                    .iter()
                    .map(|r| r.day)
                    .collect::<std::collections::BTreeSet<_>>();
                let span = days.first().zip(days.last());
                let store = Store::open(&config.db).await?;
                let imported = parsed.rows.len();
                store
                    .upsert_usage(parsed.rows, &format!("import:{shown}"))
                    .await?;
                match format {
                    Format::Json => print_json(&serde_json::json!({
                        "file": shown,
                        "imported": imported,
                        "days": days.len(),
                        "first_day": span.map(|(f, _)| f),
                        "last_day": span.map(|(_, l)| l),
                        "refused": parsed.errors,
                    }))?,
                    Format::Text => {
                        println!(
                            "{shown}: imported {imported} rows over {} days{}; refused {}",
                            days.len(),
                            span.map_or(String::new(), |(f, l)| format!(" ({f} to {l})")),
                            parsed.errors.len()
                        );
                        for e in &parsed.errors {
                            println!("  line {}: {}", e.line, e.reason);
                        }
                    }
                }
                if !parsed.errors.is_empty() {
                    return Ok(std::process::ExitCode::FAILURE);
                }
            }
        },
        Command::Forecast { format, horizon } => {
            use switchboard::forecast::service::ForecastSettings;
            let app = App::open(config(&cli)?).await?;
            let mut settings = ForecastSettings::default();
            if let Some(days) = horizon {
                if !(1..=3650).contains(days) {
                    bail!("--horizon must be 1..3650 days");
                }
                settings = settings.with_horizon(*days);
            }
            let run = app.forecast_service().run(&settings).await?;
            match format {
                Format::Json => print_json(&run)?,
                Format::Text => {
                    println!(
                        "{}",
                        switchboard::forecast::report::text(&run.forecasts, 10)
                    );
                    println!(
                        "Alerts: {} raised{}, {} cleared, {} still standing (not repeated).",
                        run.alerts.raised.len(),
                        if run.alerts.raised.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", run.alerts.raised.join(", "))
                        },
                        run.alerts.cleared.len(),
                        run.alerts.standing
                    );
                }
            }
        }
        Command::Digest { date, format } => {
            let app = App::open(config(&cli)?).await?;
            let service = app.digest_service();
            let date = match date {
                Some(text) => switchboard::usage::parse_day(text)
                    .map_err(|e| anyhow::anyhow!("--date: {e}"))?,
                None => service.today(),
            };
            let digest = service.digest(date).await?;
            match format {
                Format::Json => print_json(&digest)?,
                Format::Text => println!(
                    "{}",
                    switchboard::chat::console::render(
                        &switchboard::digest::message(&digest),
                        None
                    )
                ),
            }
        }
        Command::Probe { paths } => {
            let config = config(&cli)?;
            let Some(paths) = paths.clone().or_else(|| config.prober_paths.clone()) else {
                bail!(
                    "no paths file: pass --paths FILE or set `paths` under [prober] in the config"
                );
            };
            let paths = PathsConfig::load(&paths)?;
            let settings = MonitorSettings {
                alerts_channel: config.channels.alerts.clone(),
                retention: config.probe_retention,
                maintenance: config.maintenance.clone(),
            };
            let app = App::open(config).await?;
            let provider = app.provider.clone();
            let monitor = Monitor::new(
                paths,
                Arc::new(Prober::new()),
                provider,
                app.store.clone(),
                settings,
            )
            .await?;
            for (pair, active) in monitor.active_paths() {
                tracing::info!(%pair, %active, "monitoring");
            }
            let cancel = CancellationToken::new();
            let stop = cancel.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                stop.cancel();
            });
            monitor.run(cancel).await?;
        }
        Command::Status { format } => {
            let store = store(&cli).await?;
            let status = switchboard::prober::status::load(&store).await?;
            match format {
                Format::Json => print_json(&status)?,
                Format::Text => println!("{}", switchboard::prober::status::render(&status)),
            }
        }
        Command::Pin { pair, role, user } => {
            let store = store(&cli).await?;
            let role = match role {
                PinRole::Primary => "primary",
                PinRole::Backup => "backup",
            };
            let by = user.clone().unwrap_or_else(login_name);
            switchboard::prober::status::check_pair(&store, pair).await?;
            store.set_pin(pair, Some(role), &by, now().0).await?;
            println!("{pair}: pinned to {role} (the running prober applies it within a second)");
        }
        Command::Unpin { pair, user } => {
            let store = store(&cli).await?;
            let by = user.clone().unwrap_or_else(login_name);
            switchboard::prober::status::check_pair(&store, pair).await?;
            store.set_pin(pair, None, &by, now().0).await?;
            println!("{pair}: unpinned");
        }
        Command::Drain {
            connection,
            duration,
            reason,
            user,
        } => {
            let words = format!(
                "{connection} for {duration} {}",
                reason.as_deref().unwrap_or("")
            );
            let (connection, duration, reason) =
                switchboard::prober::drain::parse_drain(&words).map_err(|e| anyhow::anyhow!(e))?;
            let store = store(&cli).await?;
            let by = user.clone().unwrap_or_else(login_name);
            switchboard::prober::status::check_connection(&store, &connection).await?;
            let at = now().0;
            let until = at.saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
            store
                .set_drain(&connection, until, &reason, &by, at)
                .await?;
            store
                .audit(
                    None,
                    &by,
                    "drain",
                    &format!("{connection} until {until} {reason}"),
                )
                .await?;
            println!(
                "{connection}: drained until {} (the running prober moves pairs off it within a second)",
                switchboard::prober::status::time(until)
            );
        }
        Command::Undrain { connection, user } => {
            let store = store(&cli).await?;
            let by = user.clone().unwrap_or_else(login_name);
            if !store.clear_drain(connection).await? {
                bail!("{connection} is not drained");
            }
            store.audit(None, &by, "undrain", connection).await?;
            println!("{connection}: no longer drained");
        }
        Command::Serve { listen } => {
            let mut config = config(&cli)?;
            if let Some(listen) = listen {
                config.listen = switchboard::config::check_listen(listen)
                    .map_err(|e| anyhow::anyhow!("--listen: {e}"))?;
            }
            let settings = ServeSettings::from_env(&config)?;
            let app = App::open(config).await?;
            let server = Server::start(&app, settings).await?;
            eprintln!("switchboard serve: listening on http://{}", server.addr());
            server.run_until(shutdown_signal()).await;
        }
        Command::Prompts { command } => {
            let prompts = Prompts::from_dir(config(&cli)?.prompts_dir.as_deref())?;
            match command {
                PromptsCommand::List { format } => {
                    let list = prompts.list();
                    match format {
                        Format::Json => print_json(&list)?,
                        Format::Text => {
                            for p in &list {
                                let versions: Vec<String> =
                                    p.versions.iter().map(|v| format!("v{v}")).collect();
                                println!(
                                    "{:<18} active v{:<3} versions {:<12} sha256 {}",
                                    p.name,
                                    p.active,
                                    versions.join(","),
                                    p.content_hash
                                );
                            }
                        }
                    }
                }
                PromptsCommand::Show { name, version } => {
                    let t = prompts.get(name, *version)?;
                    println!("# {} v{} sha256 {}", t.name, t.version, t.content_hash);
                    print!("{}", t.text);
                }
                PromptsCommand::Render {
                    name,
                    version,
                    vars,
                } => {
                    let vars = read_vars(vars)?;
                    print!("{}", prompts.render(name, *version, &vars)?.text);
                }
            }
        }
        Command::Bench { command } => match command {
            BenchCommand::Forecast {
                paths,
                days,
                connections,
            } => {
                if !(1..=100_000).contains(paths)
                    || !(14..=1000).contains(days)
                    || !(1..=100_000).contains(connections)
                {
                    bail!("--paths and --connections must be 1..100000, --days 14..1000");
                }
                let r = switchboard::bench::forecast::forecast(*paths, *days, *connections)?;
                println!(
                    "bench forecast: {} paths × {} days of hourly samples ({} samples) → daily medians → trends in {:.1} ms ({} alert); capacity on {} connections × {} days in {:.1} ms ({} alert); total {:.1} ms (target < 1000 ms)",
                    r.paths, r.days, r.samples, r.latency.as_secs_f64() * 1000.0, r.latency_alerts,
                    r.connections, r.days, r.capacity.as_secs_f64() * 1000.0, r.capacity_alerts,
                    (r.latency + r.capacity).as_secs_f64() * 1000.0
                );
                let dir = tempfile::tempdir()?;
                let d = switchboard::bench::forecast::digest(dir.path(), *days).await?;
                println!(
                    "bench digest: lab estate, {} usage rows over {} days: digest in {:.1} ms, forecast (store read + trends + capacity + cost) in {:.1} ms",
                    d.rows, d.days, d.digest.as_secs_f64() * 1000.0, d.forecast.as_secs_f64() * 1000.0
                );
            }
            BenchCommand::Probes { targets, seconds } => {
                if *targets == 0 || *targets > 1 << 22 || *seconds == 0 {
                    bail!("--targets must be 1..4194304 and --seconds at least 1");
                }
                let dir = tempfile::tempdir()?;
                let r = switchboard::bench::probes(dir.path(), *targets, *seconds).await?;
                println!(
                    "bench probes: {} loopback targets at 1 Hz for {} s: {} samples ({} lost), CPU {:.2} cores ({:.0}% of one), max RSS {:.1} MB, schedule drift p50 {:.2} ms p99 {:.2} ms",
                    r.targets, r.seconds, r.samples, r.lost, r.cpu_cores, r.cpu_cores * 100.0, r.max_rss_mb, r.drift_p50_ms, r.drift_p99_ms
                );
            }
            BenchCommand::SlackAck { clicks } | BenchCommand::DiscordAck { clicks } => {
                if !(1..=10_000).contains(clicks) {
                    bail!("--clicks must be 1..10000");
                }
                let dir = tempfile::tempdir()?;
                let (name, r) = match command {
                    BenchCommand::SlackAck { .. } => (
                        "slack-ack",
                        switchboard::bench::slack::slack_ack(dir.path(), *clicks).await?,
                    ),
                    _ => (
                        "discord-ack",
                        switchboard::bench::discord::discord_ack(dir.path(), *clicks).await?,
                    ),
                };
                println!(
                    "bench {name}: {} concurrent signed clicks, {} acknowledged 200: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 100 ms)",
                    r.clicks,
                    r.ok,
                    r.p50.as_secs_f64() * 1000.0,
                    r.p99.as_secs_f64() * 1000.0,
                    r.max.as_secs_f64() * 1000.0
                );
            }
            BenchCommand::Optimize { flows, connections } => {
                if *flows == 0 || *flows > 10_000_000 || !(10..=1_000_000).contains(connections) {
                    bail!("--flows must be 1..10000000 and --connections 10..1000000");
                }
                let r = switchboard::bench::optimize(*flows, *connections)?;
                println!(
                    "bench optimize: GlobalCart {} flows in {:.1} ms; synthetic {} flows over {} connections in {:.0} ms ({} reroutes, {} decommissions)",
                    r.globalcart_flows,
                    r.globalcart.as_secs_f64() * 1000.0,
                    r.synthetic_flows,
                    r.synthetic_connections,
                    r.synthetic.as_secs_f64() * 1000.0,
                    r.synthetic_reroutes,
                    r.synthetic_decommissions
                );
            }
            BenchCommand::Topology { networks, runs } => {
                if !(10..=1_000_000).contains(networks) || *runs == 0 {
                    bail!("--networks must be 10..1000000 and --runs at least 1");
                }
                let r = switchboard::bench::topology(*networks, *runs);
                let kinds: Vec<String> =
                    r.findings.iter().map(|(k, n)| format!("{k} {n}")).collect();
                println!(
                    "bench topology: {} networks, {} connections, {} flows: graph + cuts + findings in {:.1} ms (median of {} runs); findings: {}",
                    r.networks,
                    r.connections,
                    r.flows,
                    r.median.as_secs_f64() * 1000.0,
                    r.runs,
                    kinds.join(", ")
                );
            }
            BenchCommand::Bulk { workers } => {
                if !(1..=64).contains(workers) {
                    bail!("--workers must be 1..64");
                }
                let dir = tempfile::tempdir()?;
                let r = switchboard::bench::bulk(dir.path(), *workers).await?;
                println!(
                    "bench bulk: {} rows ({} workflows, {} bad rows): card after {:.2} s ({} awaiting approval, {} failed policy); approve all -> {} completed after {:.2} s more; total {:.2} s (target < 10 s, {} workers)",
                    r.rows,
                    r.workflows,
                    r.refused,
                    r.to_card.as_secs_f64(),
                    r.awaiting,
                    r.failed_policy,
                    r.completed,
                    r.to_done.as_secs_f64(),
                    r.total().as_secs_f64(),
                    workers
                );
            }
            BenchCommand::Provision { runs, moto, clouds } => {
                if !(1..=1000).contains(runs) {
                    bail!("--runs must be 1..1000");
                }
                if let Err(why) = switchboard::bench::provision::provision_clouds(clouds) {
                    bail!("{why}");
                }
                let Some(moto) = moto else {
                    bail!("no moto server: pass --moto PATH or set SWITCHBOARD_MOTO_SERVER (./test installs moto and prints where)");
                };
                let dir = tempfile::tempdir()?;
                let r = switchboard::bench::provision::provision(dir.path(), moto, *runs, clouds)
                    .await?;
                print!("bench {}", r.report());
            }
            BenchCommand::Workflows { count, workers } => {
                if *count == 0 {
                    bail!("--count must be at least 1");
                }
                let dir = tempfile::tempdir()?;
                let result = switchboard::bench::workflows(dir.path(), *count, *workers).await?;
                println!(
                    "bench workflows: {} workflows in {:.2} s = {:.0} workflows/s, {} transitions = {:.0} transitions/s ({} workers)",
                    result.count,
                    result.elapsed.as_secs_f64(),
                    result.workflows_per_second(),
                    result.transitions,
                    result.transitions_per_second(),
                    workers
                );
            }
        },
    }
    Ok(std::process::ExitCode::SUCCESS)
}
