//! `switchboard bench workflows`: runs N connect workflows end to end on the lab
//! estate (parse → compliance → design → auto-approval → provision → validate)
//! against a fresh SQLite file, and reports workflows/s and transitions/s.

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
fn requests(estate: &Estate, count: usize) -> Vec<String> {
    let pairs: Vec<(String, String)> = estate
        .flows
        .iter()
        .filter_map(|f| {
            let s = estate.service(&f.source)?;
            let d = estate.service(&f.destination)?;
            Some((s.name.clone(), d.name.clone()))
        })
        .collect();
    (0..count)
        .map(|i| {
            let (s, d) = &pairs[i % pairs.len().max(1)];
            format!("connect {s} to {d}, encrypted, {} GB/month", 10 + i % 500)
        })
        .collect()
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
    let texts = requests(&app.estate, count);
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
