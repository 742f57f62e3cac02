//! Assembly: turns a `Config` into the running parts (store, estate, policies,
//! lab provider, engine, router). The only place that knows which concrete
//! provider and files are in use.

use crate::chat::router::Router;
use crate::compliance::{Policies, PolicyError};
use crate::config::Config;
use crate::domain::{Estate, EstateError};
use crate::providers::lab::{state_path_for, LabProvider, EMBEDDED_ESTATE};
use crate::providers::{CloudProvider, ProviderError};
use crate::store::{Store, StoreError};
use crate::workflow::definition::{Definition, DefinitionError};
use crate::workflow::steps::StepEnv;
use crate::workflow::{Engine, EngineSettings};
use std::sync::Arc;

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
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub estate: Arc<Estate>,
    pub lab: Arc<LabProvider>,
    pub engine: Engine,
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
        let lab = Arc::new(
            LabProvider::open(
                estate.clone(),
                &state_path_for(&config.db),
                config.lab_apply_delay,
            )
            .await?,
        );
        let provider: Arc<dyn CloudProvider> = lab.clone();
        let engine = Engine::new(
            store.clone(),
            StepEnv {
                estate: estate.clone(),
                policies,
                provider,
                store: store.clone(),
            },
            EngineSettings {
                definition,
                approvers: config.approvers.clone(),
                wait_timeout: config.approval_timeout,
                workers: config.workers,
            },
        );
        Ok(App {
            config,
            store,
            estate,
            lab,
            engine,
        })
    }

    pub fn router(&self) -> Router {
        let provider: Arc<dyn CloudProvider> = self.lab.clone();
        Router::new(self.engine.clone(), provider)
    }
}
