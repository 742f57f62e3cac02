//! Configuration: an optional TOML file (`switchboard.example.toml` documents
//! every key) overridden by `SWITCHBOARD_*` environment variables, falling back
//! to embedded defaults so `switchboard console` runs with nothing around it.
//! Secrets never live here: tokens come from the environment only.

use crate::domain::{Cloud, Region};
use crate::providers::aws::AwsDiscoveryConfig;
use crate::providers::azure::AzureDiscoveryConfig;
use crate::providers::gcp::GcpDiscoveryConfig;
use crate::providers::onprem::OnpremActorConfig;
use crate::scheduler::Schedule;
use crate::workflow::definition::parse_duration;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{origin}: key `{key}`: {expected}")]
    Invalid {
        origin: String,
        key: String,
        expected: String,
    },
}

/// The file's shape. Every section and key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    estate: EstateSection,
    #[serde(default)]
    policies: PathSection,
    #[serde(default)]
    workflows: WorkflowSection,
    #[serde(default)]
    approvals: ApprovalSection,
    #[serde(default)]
    channels: ChannelSection,
    #[serde(default)]
    runner: RunnerSection,
    #[serde(default)]
    lab: LabSection,
    #[serde(default)]
    prober: ProberSection,
    #[serde(default)]
    discovery: DiscoverySection,
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    slack: SlackSection,
    #[serde(default)]
    pricing: PathSection,
    #[serde(default)]
    digest: DigestSection,
    #[serde(default)]
    forecast: ForecastSection,
    #[serde(default)]
    discord: DiscordSection,
    #[serde(default)]
    llm: crate::llm::LlmSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestSection {
    schedule: Option<String>,
    timezone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForecastSection {
    schedule: Option<String>,
}

/// How often `forecast` runs by itself (raising and clearing prediction alerts).
pub const DEFAULT_FORECAST_SCHEDULE: &str = "0 7 * * * *";

/// When the daily cost digest is posted (to `channels.digest`).
#[derive(Debug, Clone, PartialEq)]
pub struct DigestConfig {
    /// None: not scheduled (`schedule = "off"`); `switchboard digest` still prints it.
    pub schedule: Option<Schedule>,
    /// The zone the schedule's wall-clock time and "yesterday" are read in.
    pub timezone: chrono_tz::Tz,
}

pub const DEFAULT_DIGEST_SCHEDULE: &str = "0 0 9 * * *";

fn check_optional_schedule(expression: &str) -> Result<Option<Schedule>, String> {
    if expression.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    check_schedule(expression).map(Some)
}

fn check_timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!(
            "an IANA time zone such as UTC or Europe/Berlin, got '{}'",
            name.chars().take(60).collect::<String>()
        )
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackSection {
    api_base: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverySection {
    providers: Option<Vec<String>>,
    schedule: Option<String>,
    deadline: Option<String>,
    max_age: Option<String>,
    services: Option<PathBuf>,
    onprem_inventory: Option<PathBuf>,
    documented: Option<PathBuf>,
    aws: Option<AwsDiscoveryConfig>,
    azure: Option<AzureDiscoveryConfig>,
    gcp: Option<GcpDiscoveryConfig>,
    onprem: Option<OnpremActorConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProberSection {
    paths: Option<PathBuf>,
    retention: Option<String>,
    #[serde(default)]
    maintenance: Vec<MaintenanceSection>,
}

/// `[[prober.maintenance]]`: a connection drained on a schedule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceSection {
    connection: String,
    /// Cron (sec min hour day month weekday), UTC: when each window begins.
    schedule: String,
    /// How long each window lasts.
    duration: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    db: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EstateSection {
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PathSection {
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowSection {
    connect: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalSection {
    approvers: Option<Vec<String>>,
    timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelSection {
    requests: Option<String>,
    alerts: Option<String>,
    digest: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunnerSection {
    workers: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabSection {
    apply_delay: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub db: PathBuf,
    /// None: the embedded GlobalCart estate.
    pub estate: Option<PathBuf>,
    /// None: the embedded policies.
    pub policies: Option<PathBuf>,
    /// None: the embedded connect workflow.
    pub connect_workflow: Option<PathBuf>,
    pub approvers: Vec<String>,
    /// Overrides the approval step's own timeout when set.
    pub approval_timeout: Option<Duration>,
    pub channels: Channels,
    pub workers: usize,
    pub lab_apply_delay: Duration,
    /// The monitored paths file for `switchboard probe`.
    pub prober_paths: Option<PathBuf>,
    /// How long per-minute probe aggregates are kept.
    pub probe_retention: Duration,
    /// Maintenance windows: connections the prober drains on a schedule.
    pub maintenance: Vec<crate::prober::drain::MaintenanceWindow>,
    pub discovery: DiscoveryConfig,
    /// Where `switchboard serve` listens (`/slack/events`, `/healthz`, `/metrics`).
    pub listen: SocketAddr,
    /// Slack's Web API base URL (a fake in tests).
    pub slack_api: String,
    /// The pricing catalog; None: the embedded `examples/pricing.yaml`.
    pub pricing: Option<PathBuf>,
    pub digest: DigestConfig,
    /// When forecasts run by themselves (UTC); None: only on demand
    /// (`[forecast] schedule = "off"`).
    pub forecast_schedule: Option<Schedule>,
    pub discord: DiscordConfig,
    /// The language model (`[llm]`); None: none, the default.
    pub llm: Option<crate::llm::LlmConfig>,
    /// Prompts directory (`[llm] prompts_dir`); None: the embedded prompts.
    pub prompts_dir: Option<PathBuf>,
}

/// Which inventory sources discovery reads, when, and the files it compares with.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryConfig {
    pub providers: Vec<DiscoveryProvider>,
    /// The background refresh; None: on demand only.
    pub schedule: Option<Schedule>,
    /// How long one provider may take before it counts as failed.
    pub deadline: Duration,
    /// A snapshot older than this is refreshed before a design is made on it.
    pub max_age: Duration,
    /// `services.yaml`: services discovery cannot see.
    pub services: Option<PathBuf>,
    /// The on-prem inventory (routers, circuits); read when `onprem` is a provider.
    pub onprem_inventory: Option<PathBuf>,
    /// What the design documents say exists; None with the embedded estate:
    /// the embedded GlobalCart documented inventory.
    pub documented: Option<PathBuf>,
    pub aws: AwsDiscoveryConfig,
    pub azure: AzureDiscoveryConfig,
    pub gcp: GcpDiscoveryConfig,
    /// How the on-prem actor reaches each router (`[discovery.onprem]`).
    pub onprem: OnpremActorConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiscoveryProvider {
    Lab,
    Onprem,
    Aws,
    Azure,
    Gcp,
}

impl DiscoveryProvider {
    pub const ALL: [DiscoveryProvider; 5] = [
        DiscoveryProvider::Lab,
        DiscoveryProvider::Onprem,
        DiscoveryProvider::Aws,
        DiscoveryProvider::Azure,
        DiscoveryProvider::Gcp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryProvider::Lab => "lab",
            DiscoveryProvider::Onprem => "onprem",
            DiscoveryProvider::Aws => "aws",
            DiscoveryProvider::Azure => "azure",
            DiscoveryProvider::Gcp => "gcp",
        }
    }

    pub fn parse(text: &str) -> Result<DiscoveryProvider, String> {
        DiscoveryProvider::ALL
            .into_iter()
            .find(|p| p.as_str() == text.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "a provider among lab, onprem, aws, azure, gcp; got '{}'",
                    text.chars().take(40).collect::<String>()
                )
            })
    }
}

fn parse_providers<S: AsRef<str>>(list: &[S]) -> Result<Vec<DiscoveryProvider>, String> {
    let mut out = Vec::new();
    for item in list {
        let p = DiscoveryProvider::parse(item.as_ref())?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err("at least one provider (lab, onprem, aws, azure, gcp)".into());
    }
    Ok(out)
}

/// A provider client's request timeout and attempts, within sane bounds.
fn check_client(timeout_secs: u64, max_attempts: u32) -> Result<(), (&'static str, String)> {
    if !(1..=3600).contains(&timeout_secs) {
        return Err((
            "timeout_secs",
            format!("between 1 and 3600 seconds, got {timeout_secs}"),
        ));
    }
    if !(1..=20).contains(&max_attempts) {
        return Err((
            "max_attempts",
            format!("between 1 and 20 attempts, got {max_attempts}"),
        ));
    }
    Ok(())
}

fn check_schedule(expression: &str) -> Result<Schedule, String> {
    Schedule::parse(expression).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Channels {
    pub requests: String,
    pub alerts: String,
    pub digest: String,
}

pub const DEFAULT_DB: &str = "switchboard.db";
pub const DEFAULT_APPROVER: &str = "approver";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
const MAX_WORKERS: usize = 64;

impl Default for Config {
    fn default() -> Config {
        Config {
            db: PathBuf::from(DEFAULT_DB),
            estate: None,
            policies: None,
            connect_workflow: None,
            approvers: vec![DEFAULT_APPROVER.to_string()],
            approval_timeout: None,
            channels: Channels {
                requests: "console".into(),
                alerts: "alerts".into(),
                digest: "digest".into(),
            },
            workers: 2,
            lab_apply_delay: Duration::ZERO,
            prober_paths: None,
            probe_retention: Duration::from_secs(30 * 86400),
            maintenance: Vec::new(),
            discovery: DiscoveryConfig {
                providers: vec![DiscoveryProvider::Lab],
                schedule: None,
                deadline: Duration::from_secs(300),
                max_age: Duration::from_secs(15 * 60),
                services: None,
                onprem_inventory: None,
                documented: None,
                aws: AwsDiscoveryConfig::default(),
                azure: AzureDiscoveryConfig::default(),
                gcp: GcpDiscoveryConfig::default(),
                onprem: OnpremActorConfig::default(),
            },
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            slack_api: crate::chat::slack::api::SLACK_API.to_string(),
            pricing: None,
            forecast_schedule: Schedule::parse(DEFAULT_FORECAST_SCHEDULE).ok(),
            digest: DigestConfig {
                schedule: Schedule::parse(DEFAULT_DIGEST_SCHEDULE).ok(),
                timezone: chrono_tz::UTC,
            },
            discord: DiscordConfig::default(),
            llm: None,
            prompts_dir: None,
        }
    }
}

impl Config {
    /// Loads `path` if given (it must exist), else `./switchboard.toml` if it
    /// exists, else the embedded defaults; then applies `env` overrides.
    pub fn load(path: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let default_file = Path::new("switchboard.toml");
        let chosen = match path {
            Some(p) => Some(p.to_path_buf()),
            None if default_file.exists() => Some(default_file.to_path_buf()),
            None => None,
        };
        let mut config = match &chosen {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                Config::from_toml(&text, &p.display().to_string())?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut config = Config::default();
        let invalid = |key: &str, expected: String| ConfigError::Invalid {
            origin: format!("config file {origin}"),
            key: key.to_string(),
            expected,
        };
        if let Some(db) = file.store.db {
            config.db = db;
        }
        config.estate = file.estate.path;
        config.policies = file.policies.path;
        config.pricing = file.pricing.path;
        config.connect_workflow = file.workflows.connect;
        if let Some(approvers) = file.approvals.approvers {
            config.approvers =
                check_approvers(approvers).map_err(|e| invalid("approvals.approvers", e))?;
        }
        if let Some(t) = file.approvals.timeout {
            config.approval_timeout =
                Some(positive_duration(&t).map_err(|e| invalid("approvals.timeout", e))?);
        }
        if let Some(c) = file.channels.requests {
            config.channels.requests = c;
        }
        if let Some(c) = file.channels.alerts {
            config.channels.alerts = c;
        }
        if let Some(c) = file.channels.digest {
            config.channels.digest = c;
        }
        if let Some(w) = file.runner.workers {
            config.workers = check_workers(w).map_err(|e| invalid("runner.workers", e))?;
        }
        config.prober_paths = file.prober.paths;
        for (n, m) in file.prober.maintenance.into_iter().enumerate() {
            let key = |k: &str| format!("prober.maintenance[{n}].{k}");
            if m.connection.trim().is_empty() {
                return Err(invalid(&key("connection"), "a connection id".into()));
            }
            let schedule = check_schedule(&m.schedule).map_err(|e| invalid(&key("schedule"), e))?;
            let duration =
                positive_duration(&m.duration).map_err(|e| invalid(&key("duration"), e))?;
            if duration > crate::prober::drain::MAX_DRAIN {
                return Err(invalid(&key("duration"), "at most 7 days".into()));
            }
            config
                .maintenance
                .push(crate::prober::drain::MaintenanceWindow {
                    connection: m.connection,
                    schedule,
                    duration,
                    reason: if m.reason.is_empty() {
                        "maintenance window".into()
                    } else {
                        m.reason
                    },
                });
        }
        if let Some(r) = file.prober.retention {
            config.probe_retention =
                positive_duration(&r).map_err(|e| invalid("prober.retention", e))?;
        }
        let d = file.discovery;
        if let Some(list) = d.providers {
            config.discovery.providers =
                parse_providers(&list).map_err(|e| invalid("discovery.providers", e))?;
        } else {
            // No list: the lab, and every provider the file configures.
            for (configured, provider) in [
                (d.onprem_inventory.is_some(), DiscoveryProvider::Onprem),
                (d.aws.is_some(), DiscoveryProvider::Aws),
                (d.azure.is_some(), DiscoveryProvider::Azure),
                (d.gcp.is_some(), DiscoveryProvider::Gcp),
            ] {
                if configured {
                    config.discovery.providers.push(provider);
                }
            }
        }
        if let Some(aws) = d.aws {
            check_client(aws.timeout_secs, aws.max_attempts)
                .map_err(|(key, e)| invalid(&format!("discovery.aws.{key}"), e))?;
            for region in &aws.regions {
                Region::parse(Cloud::Aws, region)
                    .map_err(|e| invalid("discovery.aws.regions", e.to_string()))?;
            }
            config.discovery.aws = aws;
        }
        if let Some(azure) = d.azure {
            check_client(azure.timeout_secs, azure.max_attempts)
                .map_err(|(key, e)| invalid(&format!("discovery.azure.{key}"), e))?;
            config.discovery.azure = azure;
        }
        if let Some(gcp) = d.gcp {
            check_client(gcp.timeout_secs, gcp.max_attempts)
                .map_err(|(key, e)| invalid(&format!("discovery.gcp.{key}"), e))?;
            config.discovery.gcp = gcp;
        }
        if let Some(onprem) = d.onprem {
            onprem
                .validate()
                .map_err(|e| invalid("discovery.onprem", e))?;
            config.discovery.onprem = onprem;
        }
        if let Some(expr) = d.schedule {
            config.discovery.schedule =
                Some(check_schedule(&expr).map_err(|e| invalid("discovery.schedule", e))?);
        }
        if let Some(t) = d.deadline {
            config.discovery.deadline =
                positive_duration(&t).map_err(|e| invalid("discovery.deadline", e))?;
        }
        if let Some(t) = d.max_age {
            config.discovery.max_age =
                positive_duration(&t).map_err(|e| invalid("discovery.max_age", e))?;
        }
        config.discovery.services = d.services;
        config.discovery.onprem_inventory = d.onprem_inventory;
        config.discovery.documented = d.documented;
        if let Some(listen) = file.server.listen {
            config.listen = check_listen(&listen).map_err(|e| invalid("server.listen", e))?;
        }
        if let Some(base) = file.slack.api_base {
            config.slack_api = check_url(&base).map_err(|e| invalid("slack.api_base", e))?;
        }
        if let Some(expr) = file.forecast.schedule {
            config.forecast_schedule =
                check_optional_schedule(&expr).map_err(|e| invalid("forecast.schedule", e))?;
        }
        if let Some(expr) = file.digest.schedule {
            config.digest.schedule =
                check_optional_schedule(&expr).map_err(|e| invalid("digest.schedule", e))?;
        }
        if let Some(zone) = file.digest.timezone {
            config.digest.timezone =
                check_timezone(&zone).map_err(|e| invalid("digest.timezone", e))?;
        }
        config.discord = file.discord.resolve(&mut config.channels, &invalid)?;
        config.llm = file
            .llm
            .resolve()
            .map_err(|(key, e)| invalid(&format!("llm.{key}"), e))?;
        config.prompts_dir = file.llm.prompts_dir;
        if let Some(d) = file.lab.apply_delay {
            config.lab_apply_delay =
                parse_duration(&d).map_err(|e| invalid("lab.apply_delay", e))?;
        }
        Ok(config)
    }

    /// Applies `SWITCHBOARD_*` overrides.
    pub fn apply_env(&mut self, env: &[(String, String)]) -> Result<(), ConfigError> {
        for (key, value) in env {
            let invalid = |expected: String| ConfigError::Invalid {
                origin: "environment".into(),
                key: key.clone(),
                expected,
            };
            match key.as_str() {
                "SWITCHBOARD_DB" => self.db = PathBuf::from(value),
                "SWITCHBOARD_ESTATE" => self.estate = Some(PathBuf::from(value)),
                "SWITCHBOARD_POLICIES" => self.policies = Some(PathBuf::from(value)),
                "SWITCHBOARD_CONNECT_WORKFLOW" => {
                    self.connect_workflow = Some(PathBuf::from(value))
                }
                "SWITCHBOARD_APPROVERS" => {
                    let list = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    self.approvers = check_approvers(list).map_err(invalid)?;
                }
                "SWITCHBOARD_APPROVAL_TIMEOUT" => {
                    self.approval_timeout = Some(positive_duration(value).map_err(invalid)?)
                }
                "SWITCHBOARD_WORKERS" => {
                    let n = value
                        .parse::<usize>()
                        .map_err(|_| invalid(format!("a number of workers, got '{value}'")))?;
                    self.workers = check_workers(n).map_err(invalid)?;
                }
                "SWITCHBOARD_LAB_APPLY_DELAY" => {
                    self.lab_apply_delay = parse_duration(value).map_err(invalid)?
                }
                "SWITCHBOARD_ALERTS_CHANNEL" => self.channels.alerts = value.clone(),
                "SWITCHBOARD_PATHS" => self.prober_paths = Some(PathBuf::from(value)),
                "SWITCHBOARD_DISCOVERY_PROVIDERS" => {
                    let list: Vec<&str> =
                        value.split(',').filter(|s| !s.trim().is_empty()).collect();
                    self.discovery.providers = parse_providers(&list).map_err(invalid)?;
                }
                "SWITCHBOARD_DISCOVERY_SCHEDULE" => {
                    self.discovery.schedule = Some(check_schedule(value).map_err(invalid)?)
                }
                "SWITCHBOARD_ONPREM_INVENTORY" => {
                    self.discovery.onprem_inventory = Some(PathBuf::from(value))
                }
                "SWITCHBOARD_PRICING" => self.pricing = Some(PathBuf::from(value)),
                "SWITCHBOARD_FORECAST_SCHEDULE" => {
                    self.forecast_schedule = check_optional_schedule(value).map_err(invalid)?
                }
                "SWITCHBOARD_DIGEST_SCHEDULE" => {
                    self.digest.schedule = check_optional_schedule(value).map_err(invalid)?
                }
                "SWITCHBOARD_DIGEST_TIMEZONE" => {
                    self.digest.timezone = check_timezone(value).map_err(invalid)?
                }
                "SWITCHBOARD_DOCUMENTED" => self.discovery.documented = Some(PathBuf::from(value)),
                "SWITCHBOARD_LISTEN" => self.listen = check_listen(value).map_err(invalid)?,
                "SWITCHBOARD_SLACK_API" => self.slack_api = check_url(value).map_err(invalid)?,
                "SWITCHBOARD_DISCORD_API" => {
                    self.discord.api_base = check_url(value).map_err(invalid)?
                }
                "SWITCHBOARD_DISCORD_APPLICATION_ID" => {
                    self.discord.application_id = Some(check_snowflake(value).map_err(invalid)?)
                }
                "SWITCHBOARD_PROMPTS_DIR" => self.prompts_dir = Some(PathBuf::from(value)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The process's `SWITCHBOARD_*` variables (the config file path excepted).
pub fn switchboard_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("SWITCHBOARD_") && k != "SWITCHBOARD_CONFIG")
        .collect()
}

fn check_approvers(list: Vec<String>) -> Result<Vec<String>, String> {
    if list.iter().any(|a| a.trim().is_empty() || a.len() > 128) {
        return Err("a list of user names or ids, none empty".into());
    }
    Ok(list)
}

pub fn check_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "an address like {DEFAULT_LISTEN}, got '{}'",
            text.chars().take(60).collect::<String>()
        )
    })
}

fn check_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.starts_with("https://") || text.starts_with("http://") {
        Ok(text.trim_end_matches('/').to_string())
    } else {
        Err(format!(
            "an http(s) URL, got '{}'",
            text.chars().take(60).collect::<String>()
        ))
    }
}

/// `[discord]`: where Discord's REST API is, the application, who approves
/// (role ids and user ids) and, optionally, Discord channels for requests,
/// alerts and the digest (they replace `[channels]`). The bot token and the
/// public key come from `DISCORD_TOKEN` / `DISCORD_PUBLIC_KEY` only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscordSection {
    api_base: Option<String>,
    application_id: Option<String>,
    approver_roles: Option<Vec<String>>,
    approvers: Option<Vec<String>>,
    requests_channel: Option<String>,
    alerts_channel: Option<String>,
    digest_channel: Option<String>,
    guild: Option<String>,
    register_commands: Option<bool>,
    gateway: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiscordConfig {
    /// Discord's REST base (`https://discord.com/api/v10`; a fake in tests).
    pub api_base: String,
    /// Needed to answer interactions (webhook routes) and register commands.
    pub application_id: Option<String>,
    pub approver_roles: Vec<String>,
    pub approvers: Vec<String>,
    /// Where `serve` registers the slash commands at start (a guild's take
    /// effect at once); None with `register_commands`: globally.
    pub guild: Option<String>,
    pub register_commands: bool,
    /// Also receive interactions over the Gateway websocket.
    pub gateway: bool,
}

impl Default for DiscordConfig {
    fn default() -> DiscordConfig {
        DiscordConfig {
            api_base: crate::chat::discord::api::DISCORD_API.to_string(),
            application_id: None,
            approver_roles: Vec::new(),
            approvers: Vec::new(),
            guild: None,
            register_commands: false,
            gateway: false,
        }
    }
}

fn check_snowflake(text: &str) -> Result<String, String> {
    let text = text.trim();
    if crate::chat::discord::interactions::is_snowflake(text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "a Discord id (digits), got '{}'",
            text.chars().take(40).collect::<String>()
        ))
    }
}

impl DiscordSection {
    fn resolve(
        self,
        channels: &mut Channels,
        invalid: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<DiscordConfig, ConfigError> {
        let mut out = DiscordConfig::default();
        if let Some(base) = self.api_base {
            out.api_base = check_url(&base).map_err(|e| invalid("discord.api_base", e))?;
        }
        let ids = |key: &str, list: Option<Vec<String>>| -> Result<Vec<String>, ConfigError> {
            list.unwrap_or_default()
                .iter()
                .map(|id| check_snowflake(id).map_err(|e| invalid(key, e)))
                .collect()
        };
        out.approver_roles = ids("discord.approver_roles", self.approver_roles)?;
        out.approvers = ids("discord.approvers", self.approvers)?;
        let one = |key: &str, id: Option<String>| -> Result<Option<String>, ConfigError> {
            id.map(|id| check_snowflake(&id).map_err(|e| invalid(key, e)))
                .transpose()
        };
        out.application_id = one("discord.application_id", self.application_id)?;
        out.guild = one("discord.guild", self.guild)?;
        out.register_commands = self.register_commands.unwrap_or(false);
        out.gateway = self.gateway.unwrap_or(false);
        for (key, id, slot) in [
            (
                "discord.requests_channel",
                self.requests_channel,
                &mut channels.requests,
            ),
            (
                "discord.alerts_channel",
                self.alerts_channel,
                &mut channels.alerts,
            ),
            (
                "discord.digest_channel",
                self.digest_channel,
                &mut channels.digest,
            ),
        ] {
            if let Some(id) = one(key, id)? {
                *slot = id;
            }
        }
        Ok(out)
    }
}

fn check_workers(n: usize) -> Result<usize, String> {
    if (1..=MAX_WORKERS).contains(&n) {
        Ok(n)
    } else {
        Err(format!("between 1 and {MAX_WORKERS} workers, got {n}"))
    }
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err("a duration above zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_make_approver_an_approver() {
        let c = Config::default();
        assert_eq!(c.approvers, vec!["approver"]);
        assert_eq!(c.db, PathBuf::from("switchboard.db"));
    }

    #[test]
    fn an_llm_section_configures_a_model_and_its_errors_name_the_key() {
        assert_eq!(Config::default().llm, None);
        let c = Config::from_toml(
            "[llm]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3.1\"\nmonthly_token_budget = 1000\nprompts_dir = \"p\"\n",
            "t.toml",
        )
        .unwrap();
        let llm = c.llm.unwrap();
        assert_eq!(llm.base_url, "http://127.0.0.1:11434");
        assert_eq!(llm.api_key_env, "OPENAI_API_KEY");
        assert_eq!(llm.monthly_token_budget, Some(1000));
        assert_eq!(c.prompts_dir, Some(PathBuf::from("p")));
        let e = Config::from_toml("[llm]\nprovider = \"anthropic\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `llm.model`"), "{e}");
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../switchboard.example.toml");
        let c = Config::from_toml(text, "switchboard.example.toml").unwrap();
        assert!(!c.approvers.is_empty());
    }

    #[test]
    fn the_discord_section_takes_ids_and_routes_channels() {
        let c = Config::from_toml(
            "[discord]\napi_base = \"http://127.0.0.1:9/api/v10/\"\napplication_id = \"1100\"\napprover_roles = [\"2200\"]\napprovers = [\"3300\"]\nalerts_channel = \"4400\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.discord.api_base, "http://127.0.0.1:9/api/v10");
        assert_eq!(c.discord.application_id.as_deref(), Some("1100"));
        assert_eq!(c.discord.approver_roles, vec!["2200"]);
        assert_eq!(c.discord.approvers, vec!["3300"]);
        assert_eq!(c.channels.alerts, "4400");
        assert_eq!(c.channels.requests, "console");
        let err = Config::from_toml("[discord]\napprover_roles = [\"admins\"]\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("discord.approver_roles") && err.contains("admins"),
            "{err}"
        );
        let err = Config::from_toml("[discord]\ntoken = \"x\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("token"), "tokens are not config: {err}");
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        let err = Config::from_toml("[approvals]\ntimeout = \"soon\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.toml") && err.contains("approvals.timeout") && err.contains("soon"),
            "{err}"
        );
        let err = Config::from_toml("[approvals]\napprovers = \"bob\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml") && err.contains("approvers"), "{err}");
        let err = Config::from_toml("[runner]\nworkers = 0\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("runner.workers"), "{err}");
        let err = Config::from_toml("[stroe]\ndb = \"x\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml") && err.contains("stroe"), "{err}");
        for (text, key) in [
            (
                "[discovery]\nproviders = [\"aws\", \"oracle\"]\n",
                "discovery.providers",
            ),
            ("[discovery]\nproviders = []\n", "discovery.providers"),
            (
                "[discovery]\nschedule = \"every hour\"\n",
                "discovery.schedule",
            ),
            ("[discovery]\ndeadline = \"0s\"\n", "discovery.deadline"),
            ("[discovery]\nmax_age = \"soon\"\n", "discovery.max_age"),
            ("[discovery]\nservices = 3\n", "services"),
            (
                "[discovery.azure]\ntimeout_secs = 0\n",
                "discovery.azure.timeout_secs",
            ),
            ("[discovery.gcp]\nprojects = \"p\"\n", "projects"),
        ] {
            let err = Config::from_toml(text, "x.toml").unwrap_err().to_string();
            assert!(err.contains("x.toml") && err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn discovery_providers_come_from_the_file_or_the_environment() {
        let c =
            Config::from_toml("[discovery]\nonprem_inventory = \"inv.yaml\"\n", "x.toml").unwrap();
        assert_eq!(
            c.discovery.providers,
            [DiscoveryProvider::Lab, DiscoveryProvider::Onprem]
        );
        let mut c = Config::default();
        c.apply_env(&[(
            "SWITCHBOARD_DISCOVERY_PROVIDERS".into(),
            "aws, GCP,aws".into(),
        )])
        .unwrap();
        assert_eq!(
            c.discovery.providers,
            [DiscoveryProvider::Aws, DiscoveryProvider::Gcp]
        );
    }

    #[test]
    fn the_server_address_and_slack_api_come_from_the_file_or_the_environment() {
        let c = Config::from_toml(
            "[server]\nlisten = \"0.0.0.0:8080\"\n[slack]\napi_base = \"http://127.0.0.1:9/api/\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.slack_api, "http://127.0.0.1:9/api");
        assert_eq!(Config::default().listen.to_string(), DEFAULT_LISTEN);
        let err = Config::from_toml("[server]\nlisten = \"port 80\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listen"), "{err}");
        let err = Config::from_toml("[slack]\napi_base = \"slack.com\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("slack.api_base"), "{err}");
    }

    #[test]
    fn forecasts_run_hourly_unless_turned_off() {
        let c = Config::from_toml("", "x.toml").unwrap();
        assert_eq!(
            c.forecast_schedule.as_ref().map(Schedule::as_str),
            Some(DEFAULT_FORECAST_SCHEDULE)
        );
        let c = Config::from_toml("[forecast]\nschedule = \"off\"\n", "x.toml").unwrap();
        assert_eq!(c.forecast_schedule, None);
        let err = Config::from_toml("[forecast]\nschedule = \"hourly\"\n", "x.toml").unwrap_err();
        assert!(err.to_string().contains("forecast.schedule"), "{err}");
    }

    #[test]
    fn the_digest_runs_at_nine_utc_unless_told_otherwise() {
        let c = Config::default();
        assert_eq!(
            c.digest.schedule.as_ref().map(Schedule::as_str),
            Some(DEFAULT_DIGEST_SCHEDULE)
        );
        assert_eq!(c.digest.timezone, chrono_tz::UTC);
        let c = Config::from_toml(
            "[digest]\nschedule = \"off\"\ntimezone = \"Europe/Berlin\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(
            (c.digest.schedule, c.digest.timezone),
            (None, chrono_tz::Europe::Berlin)
        );
        let err = Config::from_toml("[digest]\ntimezone = \"Mars/Olympus\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("digest.timezone") && err.contains("Mars/Olympus"),
            "{err}"
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = Config::from_toml("[approvals]\napprovers = [\"bob\"]\n", "x.toml").unwrap();
        c.apply_env(&[
            ("SWITCHBOARD_APPROVERS".into(), "carol, dave".into()),
            ("SWITCHBOARD_DB".into(), "/tmp/x.db".into()),
        ])
        .unwrap();
        assert_eq!(c.approvers, vec!["carol", "dave"]);
        assert_eq!(c.db, PathBuf::from("/tmp/x.db"));
        let err = c
            .apply_env(&[("SWITCHBOARD_WORKERS".into(), "many".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SWITCHBOARD_WORKERS"), "{err}");
    }
}
