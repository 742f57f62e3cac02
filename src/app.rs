//! Assembly: turns a `Config` into the running parts (store, estate, policies,
//! lab provider, engine, router). The only place that knows which concrete
//! provider and files are in use.

use crate::chat::message::Destination;
use crate::chat::router::Router;
use crate::compliance::{Policies, PolicyError};
use crate::config::{Config, DiscoveryProvider};
use crate::digest::service::DigestService;
use crate::domain::{Estate, EstateError};
use crate::forecast::service::ForecastService;
use crate::llm::redact::Redactor;
use crate::llm::{build_client, Assistant, Prompts};
use crate::optimizer::pricing::PricingCatalog;
use crate::providers::aws::{AwsActor, AwsDiscovery};
use crate::providers::azure::{AzureActor, AzureDiscovery};
use crate::providers::clouds::{Clouds, Overlay};
use crate::providers::gcp::{GcpActor, GcpDiscovery};
use crate::providers::lab::{state_path_for, LabProvider, EMBEDDED_ESTATE};
use crate::providers::onprem::{
    DocumentedInventory, InventoryFileError, OnpremActor, OnpremSource,
};
use crate::providers::services_file::{self, ServicesFileError};
use crate::providers::{CloudActor, CloudProvider, ProviderError};
use crate::store::{Store, StoreError};
use crate::topology::discovery::Discovery;
use crate::topology::findings::Usage;
use crate::topology::service::TopologyService;
use crate::topology::InventorySource;
use crate::usage::{price_estate, EstateFeed, FixedEstate, Pricing};
use crate::workflow::definition::{Definition, DefinitionError};
use crate::workflow::steps::StepEnv;
use crate::workflow::{Engine, EngineSettings};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Estate(#[from] EstateError),
    #[error(transparent)]
    Policies(#[from] PolicyError),
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lab(#[from] ProviderError),
    #[error(transparent)]
    InventoryFile(#[from] InventoryFileError),
    #[error(transparent)]
    ServicesFile(#[from] ServicesFileError),
    #[error("[llm]: {0}")]
    Llm(#[from] crate::llm::LlmError),
    #[error(transparent)]
    Prompts(#[from] crate::llm::PromptError),
    #[error("discovery provider {provider}: {detail}")]
    DiscoverySetup {
        provider: &'static str,
        detail: String,
    },
}

/// GlobalCart's documented connections, used with the embedded estate.
pub const EMBEDDED_DOCUMENTED: &str = include_str!("../examples/documented.yaml");

pub struct App {
    pub config: Config,
    pub store: Store,
    /// The estate at start-up: the estate file (or GlobalCart) with the
    /// lab, the latest snapshot's with real providers (what the forecasts
    /// and the digest price).
    pub estate: Arc<Estate>,
    pub lab: Arc<LabProvider>,
    /// What acts: the lab, or the real clouds with the estate from discovery.
    pub provider: Arc<dyn CloudProvider>,
    pub engine: Engine,
    pub topology: Arc<TopologyService>,
    pub policies: Arc<Policies>,
    /// The language model, when `[llm]` configures one.
    pub llm: Option<Arc<Assistant>>,
}

/// The estate commands work on: the latest discovery snapshot's when acting
/// for real (discovering first when there is none), the estate file's (or
/// GlobalCart) with the lab.
pub async fn current_estate(config: Config) -> Result<Arc<Estate>, AppError> {
    if acts_for_real(&config) {
        Ok(App::open(config).await?.provider.estate().await?)
    } else {
        Ok(Arc::new(load_estate(&config)?))
    }
}

pub fn load_estate(config: &Config) -> Result<Estate, EstateError> {
    match &config.estate {
        Some(path) => Estate::load(path),
        None => Estate::from_yaml(EMBEDDED_ESTATE, "examples/globalcart.yaml (embedded)"),
    }
}

impl App {
    /// Loads every file first, so a broken estate or policy file is reported
    /// before the database is touched.
    pub async fn open(config: Config) -> Result<App, AppError> {
        let estate = Arc::new(load_estate(&config)?);
        let policies = Arc::new(match &config.policies {
            Some(path) => Policies::load(path)?,
            None => Policies::embedded()?,
        });
        let definition = match &config.connect_workflow {
            Some(path) => Definition::load(path)?,
            None => Definition::embedded_connect()?,
        };
        let store = Store::open(&config.db).await?;
        let llm = assistant(&config, &store)?;
        let lab = Arc::new(
            LabProvider::open(
                estate.clone(),
                &state_path_for(&config.db),
                config.lab_apply_delay,
            )
            .await?,
        );
        let topology = Arc::new(topology_service(
            &config,
            &store,
            &lab,
            &estate,
            &config.discovery.providers,
        )?);
        let (provider, estate): (Arc<dyn CloudProvider>, Arc<Estate>) = if acts_for_real(&config) {
            let clouds = Arc::new(clouds(&config, &store, &topology)?);
            // The latest snapshot's estate when there is one; discovery is
            // not run at start-up (the first design runs it).
            let estate = if store.snapshots(1).await?.is_empty() {
                Arc::new(no_snapshot_yet())
            } else {
                clouds.estate().await?
            };
            (clouds, estate)
        } else {
            (lab.clone(), estate)
        };
        let engine = Engine::new(
            store.clone(),
            StepEnv {
                policies: policies.clone(),
                provider: provider.clone(),
                store: store.clone(),
                llm: llm.clone(),
            },
            EngineSettings {
                definition,
                // Discord approvers (user and role ids) beside the rest:
                // snowflakes never collide with other platforms' ids.
                approvers: config
                    .approvers
                    .iter()
                    .chain(&config.discord.approvers)
                    .chain(&config.discord.approver_roles)
                    .cloned()
                    .collect(),
                wait_timeout: config.approval_timeout,
                workers: config.workers,
            },
        );
        Ok(App {
            config,
            store,
            estate,
            lab,
            provider,
            engine,
            topology,
            policies,
            llm,
        })
    }

    /// A topology service reading only `providers` (those a command names).
    pub fn topology_service(
        &self,
        providers: &[DiscoveryProvider],
    ) -> Result<TopologyService, AppError> {
        topology_service(
            &self.config,
            &self.store,
            &self.lab,
            &self.estate,
            providers,
        )
    }

    /// The background discovery refresh, when `[discovery] schedule` is set.
    pub fn discovery_schedule(
        &self,
        cancel: CancellationToken,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let schedule = self.config.discovery.schedule.clone()?;
        let alerts = Destination {
            channel: self.config.channels.alerts.clone(),
            thread: None,
        };
        Some(
            self.topology
                .clone()
                .refresh_on_schedule(schedule, alerts, cancel),
        )
    }

    /// Bulk requests over this app's engine and store.
    pub fn bulk(&self) -> crate::bulk::Bulk {
        crate::bulk::Bulk::new(self.engine.clone(), self.store.clone())
    }

    /// The estate priced from the configured catalog (or its own figures,
    /// said in the output, when the catalog cannot price it).
    pub fn pricing(&self) -> Pricing {
        price_estate(
            &self.estate,
            PricingCatalog::configured(self.config.pricing.as_deref()),
        )
    }

    /// The estate and its prices for the forecasts and the digest: read at
    /// each run when acting for real, fixed with the lab.
    pub fn estate_feed(&self) -> Arc<dyn EstateFeed> {
        if acts_for_real(&self.config) {
            Arc::new(LiveEstate {
                provider: self.provider.clone(),
                pricing: self.config.pricing.clone(),
            })
        } else {
            Arc::new(FixedEstate {
                estate: self.estate.clone(),
                pricing: self.pricing(),
            })
        }
    }

    pub fn forecast_service(&self) -> ForecastService {
        ForecastService::new(
            self.store.clone(),
            self.estate_feed(),
            self.config.channels.alerts.clone(),
        )
    }

    pub fn digest_service(&self) -> DigestService {
        DigestService::new(
            self.store.clone(),
            self.estate_feed(),
            self.config.channels.digest.clone(),
            self.config.digest.timezone,
        )
    }

    /// The forecasts, when `[forecast] schedule` is not "off".
    pub fn forecast_schedule(
        &self,
        cancel: CancellationToken,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let schedule = self.config.forecast_schedule.clone()?;
        Some(Arc::new(self.forecast_service()).run_on_schedule(schedule, cancel))
    }

    /// The daily cost digest, when `[digest] schedule` is not "off".
    pub fn digest_schedule(
        &self,
        cancel: CancellationToken,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let schedule = self.config.digest.schedule.clone()?;
        Some(Arc::new(self.digest_service()).post_on_schedule(schedule, cancel))
    }

    pub fn router(&self) -> Router {
        Router::new(
            self.engine.clone(),
            self.topology.clone(),
            self.provider.clone(),
            self.policies.clone(),
        )
        .with_forecasts(
            Arc::new(self.forecast_service()),
            Arc::new(self.digest_service()),
        )
        .with_llm(self.llm.clone())
    }
}

/// The model `[llm]` configures, with the prompts and a redactor that knows
/// the keys in the environment; None without `[llm]`. A configured model
/// that cannot be set up (no key) is an error, not a silent fallback.
pub fn assistant(config: &Config, store: &Store) -> Result<Option<Arc<Assistant>>, AppError> {
    let Some(llm) = &config.llm else {
        return Ok(None);
    };
    let client = build_client(llm)?;
    let prompts = Arc::new(Prompts::from_dir(config.prompts_dir.as_deref())?);
    let secrets = [
        llm.api_key_env.as_str(),
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
    ]
    .iter()
    .filter_map(|name| std::env::var(name).ok())
    .collect::<Vec<_>>();
    Ok(Some(Arc::new(Assistant::new(
        client,
        prompts,
        store.clone(),
        Redactor::new(secrets),
        llm.max_tokens,
        llm.monthly_token_budget,
    ))))
}

/// The latest discovery snapshot's estate, priced from the catalog at each
/// read (the catalog file may change between daily digests).
struct LiveEstate {
    provider: Arc<dyn CloudProvider>,
    pricing: Option<PathBuf>,
}

#[async_trait::async_trait]
impl EstateFeed for LiveEstate {
    async fn priced(&self) -> Result<(Arc<Estate>, Pricing), String> {
        let estate = self.provider.estate().await.map_err(|e| e.to_string())?;
        let pricing = price_estate(&estate, PricingCatalog::configured(self.pricing.as_deref()));
        Ok((estate, pricing))
    }
}

/// Whether switchboard acts on real clouds: providers are configured and the
/// lab is not among them (with the lab listed, the lab stays the estate and
/// the hands; the other sources only add to the pictures and findings).
pub fn acts_for_real(config: &Config) -> bool {
    let providers = &config.discovery.providers;
    !providers.is_empty() && !providers.contains(&DiscoveryProvider::Lab)
}

/// The estate before any discovery: nothing to design on yet.
fn no_snapshot_yet() -> Estate {
    Estate {
        name: "no discovery snapshot yet".into(),
        networks: Vec::new(),
        connections: Vec::new(),
        services: Vec::new(),
        flows: Vec::new(),
    }
}

/// The provider of a real estate: one actor per cloud that can act (AWS,
/// Azure, GCP, on-prem FRR routers), the estate from discovery priced from the catalog, the services
/// file and the estate file laid over it.
fn clouds(
    config: &Config,
    store: &Store,
    topology: &Arc<TopologyService>,
) -> Result<Clouds, AppError> {
    let mut actors: Vec<Arc<dyn CloudActor>> = Vec::new();
    if config.discovery.providers.contains(&DiscoveryProvider::Aws) {
        actors.push(Arc::new(AwsActor::new(config.discovery.aws.clone())));
    }
    if config
        .discovery
        .providers
        .contains(&DiscoveryProvider::Azure)
    {
        actors.push(Arc::new(AzureActor::new(
            config.discovery.azure.clone(),
            None,
        )));
    }
    if config.discovery.providers.contains(&DiscoveryProvider::Gcp) {
        actors.push(Arc::new(GcpActor::new(config.discovery.gcp.clone())));
    }
    if config
        .discovery
        .providers
        .contains(&DiscoveryProvider::Onprem)
    {
        actors.push(Arc::new(OnpremActor::new(
            config.discovery.onprem.clone(),
            config.discovery.onprem_inventory.clone(),
        )));
    }
    let catalog = PricingCatalog::configured(config.pricing.as_deref()).map_err(|e| {
        AppError::DiscoverySetup {
            provider: "pricing",
            detail: e.to_string(),
        }
    })?;
    let services = match &config.discovery.services {
        Some(path) => services_file::load(path)?,
        None => Vec::new(),
    };
    let estate = match &config.estate {
        Some(path) => Some(Estate::load(path)?),
        None => None,
    };
    Ok(Clouds::new(
        actors,
        topology.clone(),
        store.clone(),
        catalog,
        Overlay { services, estate },
        config.discovery.max_age,
    ))
}

fn topology_service(
    config: &Config,
    store: &Store,
    lab: &Arc<LabProvider>,
    estate: &Estate,
    providers: &[DiscoveryProvider],
) -> Result<TopologyService, AppError> {
    let discovery = &config.discovery;
    let mut sources: Vec<Arc<dyn InventorySource>> = Vec::new();
    for provider in providers {
        let setup = |detail: &str| AppError::DiscoverySetup {
            provider: provider.as_str(),
            detail: detail.to_string(),
        };
        match provider {
            DiscoveryProvider::Lab => sources.push(lab.clone()),
            DiscoveryProvider::Onprem => {
                let path = discovery.onprem_inventory.clone().ok_or_else(|| {
                        setup("needs an inventory file: set discovery.onprem_inventory or SWITCHBOARD_ONPREM_INVENTORY")
                    })?;
                sources.push(Arc::new(OnpremSource::new(path)));
            }
            DiscoveryProvider::Azure => {
                sources.push(Arc::new(AzureDiscovery::new(discovery.azure.clone())))
            }
            DiscoveryProvider::Gcp => {
                if discovery.gcp.projects.is_empty() {
                    return Err(setup(
                        "needs projects: set [discovery.gcp] projects = [\"my-project\"] (Compute cannot list projects)",
                    ));
                }
                sources.push(Arc::new(GcpDiscovery::new(discovery.gcp.clone())))
            }
            DiscoveryProvider::Aws => {
                sources.push(Arc::new(AwsDiscovery::new(discovery.aws.clone())))
            }
        }
    }
    // The documented inventory drift is measured against: the configured
    // one, else GlobalCart's when the embedded lab estate is discovered —
    // never GlobalCart's for a real account.
    let lab_discovered = providers.contains(&DiscoveryProvider::Lab);
    let documented = match (&discovery.documented, &config.estate) {
        (Some(path), _) => Some(DocumentedInventory::load(path)?.connections),
        (None, None) if lab_discovered => Some(
            DocumentedInventory::from_yaml(
                EMBEDDED_DOCUMENTED,
                "examples/documented.yaml (embedded)",
            )?
            .connections,
        ),
        (None, _) => None,
    };
    // Traffic and prices are known for the lab estate (its flows); cloud
    // providers' traffic comes with the pricing and usage data later.
    let usage = if providers.contains(&DiscoveryProvider::Lab) {
        Usage::from_estate(estate)
    } else {
        Usage::default()
    };
    Ok(TopologyService::new(
        store.clone(),
        Discovery::new(sources, discovery.deadline),
        documented,
        usage,
        config
            .db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".")),
    ))
}
