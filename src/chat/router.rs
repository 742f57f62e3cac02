//! The router: one place that turns a person's text or click into engine
//! commands and replies, whatever platform it came from. Free text that reads
//! as a request starts a workflow; commands are `help`, `connect`, `approve`,
//! `reject`, `cancel`, `answer`, `status`, `workflows`, `pin`, `unpin`,
//! `drain`, `undrain`,
//! `topology`, `discover`, `findings`, `diff`, `paths`, `optimize`,
//! `forecast`, `digest`, `bulk`, `batch` (and `approve` / `reject` of a whole
//! `batch-N`).

use super::message::{ButtonAction, Message, Tone};
use crate::bulk::{self, Bulk, BulkError};
use crate::compliance::Policies;
use crate::digest::service::DigestService;
use crate::domain::{BatchId, UserId, WorkflowId};
use crate::forecast::service::{ForecastService, ForecastSettings};
use crate::optimizer::choose::{Constraints, CostBasis, Objective};
use crate::optimizer::query::{answer, compliance_constraints, table, PathsRequest};
use crate::providers::CloudProvider;
use crate::store::WorkflowRecord;
use crate::topology::report;
use crate::topology::service::{Refreshed, TopologyService};
use crate::workflow::{Engine, EngineError};
use std::sync::Arc;

/// Longest message the router reads; longer ones are refused politely.
pub const MAX_CHAT_BYTES: usize = 16 * 1024;

pub struct Inbound {
    pub user: UserId,
    pub channel: String,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Reply {
    pub messages: Vec<Message>,
    /// The workflow the message started or moved, if any.
    pub touched: Option<WorkflowId>,
    /// The bulk request the message started or decided, if any.
    pub batch: Option<BatchId>,
}

impl Reply {
    fn say(message: Message) -> Reply {
        Reply {
            messages: vec![message],
            ..Reply::default()
        }
    }

    fn error(text: impl Into<String>) -> Reply {
        Reply::say(Message::text(text).with_tone(Tone::Danger))
    }

    fn touched(mut self, id: WorkflowId) -> Reply {
        self.touched = Some(id);
        self
    }
}

pub struct Router {
    engine: Engine,
    bulk: Bulk,
    topology: Arc<TopologyService>,
    /// Where the estate comes from (the lab, or discovery).
    provider: Arc<dyn CloudProvider>,
    policies: Arc<Policies>,
    /// Predictions and the cost digest (see [`Router::with_forecasts`]).
    forecasts: Option<(Arc<ForecastService>, Arc<DigestService>)>,
    /// Writes the `paths` narrative when a model is configured.
    llm: Option<Arc<crate::llm::Assistant>>,
}

const HELP: &str = "\
Ask for connectivity in plain words, e.g.
  connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb.database.windows.net in East US, PCI-DSS, encrypted, under 20ms, 500 GB/month
Commands:
  connect <request>         start a workflow (the word `connect` is optional)
  approve <id>              approve a workflow waiting for approval (approvers only)
  reject <id> <reason>      reject it, with a reason
  answer <id> <text>        answer a workflow's question (or just type the answer)
  cancel <id>               cancel a workflow (requester or approver)
  status <id>               a workflow's state and steps
  status                    monitored paths: state, RTT, loss, active path, failovers
  pin <pair> primary|backup keep a pair on one path (approvers only)
  unpin <pair>              let the prober choose again
  drain <connection> [for 2h] [reason]
                            move traffic off a connection for planned work, alerts silenced (approvers)
  undrain <connection>      end a drain now: traffic may return
  workflows                 recent workflows
  topology                  the latest discovered topology, with its picture
  discover                  run discovery now (all configured providers)
  findings                  single points of failure, drift, zombie links, internet-routed flows
  diff [<from> <to>]        what changed between snapshots (default: the last two)
  paths <from> <to> <traffic> [cost|latency|balanced] [full] [pci_dss] [max <ms>]
                            candidate paths, primary and backup, BGP plan, break-even
  optimize                  estate-wide: reroutes, links to decommission, upgrades, saving
  bulk                      then a CSV on the next lines (header: source,destination,traffic,
                            max_latency_ms,encrypted,compliance): one workflow per row, one card
  batch <batch-id>          a bulk request's rows and where each stands
  approve <batch-id>        approve every row of a batch awaiting approval (approvers only)
  reject <batch-id> <reason>  reject them all, with a reason
  forecast                  latency trends, capacity dates, month-end cost; raises prediction alerts once
  digest [YYYY-MM-DD]       the daily cost digest for that morning (default: today)
  help                      this text
Workflow ids look like wf-42; batch ids like batch-3.";

/// Whether a command's argument names a batch (`batch-3`) rather than a workflow.
fn names_batch(rest: &str) -> bool {
    rest.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("batch-"))
}

fn refusal_text(e: &EngineError) -> String {
    match e {
        EngineError::Refused(id, refusal) => format!("Not done: {id} — {refusal}."),
        other => format!("Not done: {other}."),
    }
}

impl Router {
    pub fn new(
        engine: Engine,
        topology: Arc<TopologyService>,
        provider: Arc<dyn CloudProvider>,
        policies: Arc<Policies>,
    ) -> Router {
        Router {
            bulk: Bulk::new(engine.clone(), engine.store().clone()),
            engine,
            topology,
            provider,
            policies,
            forecasts: None,
            llm: None,
        }
    }

    /// Answers `forecast` and `digest` with these services.
    pub fn with_forecasts(
        mut self,
        forecast: Arc<ForecastService>,
        digest: Arc<DigestService>,
    ) -> Router {
        self.forecasts = Some((forecast, digest));
        self
    }

    async fn forecast(&self) -> Reply {
        let Some((service, _)) = &self.forecasts else {
            return Reply::error("Forecasts are not set up here.");
        };
        match service.run(&ForecastSettings::default()).await {
            Ok(run) => Reply::say(
                Message::text(format!(
                    "{}\nAlerts: {} raised, {} cleared, {} still standing.",
                    crate::forecast::report::text(&run.forecasts, 5),
                    run.alerts.raised.len(),
                    run.alerts.cleared.len(),
                    run.alerts.standing
                ))
                .with_title("Forecast"),
            ),
            Err(e) => Reply::error(format!("Forecast failed: {e}")),
        }
    }

    async fn digest(&self, rest: &str) -> Reply {
        let Some((_, service)) = &self.forecasts else {
            return Reply::error("The cost digest is not set up here.");
        };
        let date = if rest.is_empty() {
            service.today()
        } else {
            match crate::usage::parse_day(rest) {
                Ok(day) => day,
                Err(e) => return Reply::error(format!("{e}. Usage: digest [YYYY-MM-DD]")),
            }
        };
        match service.digest(date).await {
            Ok(digest) => Reply::say(crate::digest::message(&digest)),
            Err(e) => Reply::error(format!("Digest failed: {e}")),
        }
    }

    /// Adds a model-written narrative to `paths` answers.
    pub fn with_llm(mut self, llm: Option<Arc<crate::llm::Assistant>>) -> Router {
        self.llm = llm;
        self
    }

    pub async fn handle(&self, inbound: &Inbound) -> Reply {
        if inbound.text.len() > MAX_CHAT_BYTES {
            return Reply::error(format!(
                "That message is {} bytes; the limit is {MAX_CHAT_BYTES}. Nothing was done.",
                inbound.text.len()
            ));
        }
        let text = inbound.text.trim();
        if text.is_empty() {
            return Reply::default();
        }
        let (word, rest) = match text.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (text, ""),
        };
        match word.to_ascii_lowercase().as_str() {
            "help" | "?" => Reply::say(Message::text(HELP)),
            "approve" if names_batch(rest) => self.decide_batch(&inbound.user, rest, false).await,
            "reject" if names_batch(rest) => self.decide_batch(&inbound.user, rest, true).await,
            "batch" => self.batch(rest).await,
            "bulk" => self.bulk(inbound, rest).await,
            "approve" => match self.id_arg(rest, "approve <id>") {
                Ok((id, _)) => self.outcome(self.engine.approve(id, &inbound.user).await, id),
                Err(reply) => reply,
            },
            "reject" => match self.id_arg(rest, "reject <id> <reason>") {
                Ok((id, "")) => Reply::error(format!(
                    "Say why: `reject {id} <reason>`. Nothing was done."
                )),
                Ok((id, reason)) => {
                    self.outcome(self.engine.reject(id, &inbound.user, reason).await, id)
                }
                Err(reply) => reply,
            },
            "cancel" => match self.id_arg(rest, "cancel <id>") {
                Ok((id, _)) => self.outcome(self.engine.cancel(id, &inbound.user).await, id),
                Err(reply) => reply,
            },
            "answer" => match self.id_arg(rest, "answer <id> <text>") {
                Ok((id, "")) => Reply::error(format!(
                    "Give the answer: `answer {id} <text>`. Nothing was done."
                )),
                Ok((id, answer)) => {
                    self.outcome(self.engine.answer(id, &inbound.user, answer).await, id)
                }
                Err(reply) => reply,
            },
            "status" if rest.is_empty() => self.paths_status().await,
            "status" => match self.id_arg(rest, "status [<id>]") {
                Ok((id, _)) => self.status(id).await,
                Err(reply) => reply,
            },
            "pin" => self.pin(inbound, rest).await,
            "unpin" => self.unpin(inbound, rest).await,
            "drain" => self.drain(inbound, rest).await,
            "undrain" => self.undrain(inbound, rest).await,
            "workflows" => self.workflows().await,
            "topology" => match self.topology.latest().await {
                Ok(latest) => self.topology_card(&latest).await,
                Err(e) => Reply::error(format!("Could not read the topology: {e}")),
            },
            "discover" | "rediscover" | "refresh" => match self.topology.refresh().await {
                Ok(fresh) => self.topology_card(&fresh).await,
                Err(e) => Reply::error(format!("Discovery failed: {e}")),
            },
            "findings" => match self.topology.latest().await {
                Ok(latest) => Reply::say(
                    Message::text(report::findings_text(
                        &self.topology.findings(&latest.topology),
                    ))
                    .with_title(format!("Findings (snapshot {})", latest.snapshot)),
                ),
                Err(e) => Reply::error(format!("Could not read the topology: {e}")),
            },
            "diff" => self.diff(rest).await,
            "paths" => self.paths(rest).await,
            "forecast" | "forecasts" | "predict" => self.forecast().await,
            "digest" => self.digest(rest).await,
            "optimize" => match self.estate().await {
                Ok(estate) => Reply::say(
                    Message::text(crate::optimizer::plan::report(
                        &crate::optimizer::plan::optimize(&estate),
                    ))
                    .with_title("Optimize"),
                ),
                Err(reply) => reply,
            },
            "connect" | "link" if !rest.is_empty() => self.submit(inbound, text).await,
            _ => self.free_text(inbound, text).await,
        }
    }

    /// The estate as last discovered (or the lab's), or the reply saying
    /// why it cannot be read.
    async fn estate(&self) -> Result<Arc<crate::domain::Estate>, Reply> {
        self.provider
            .estate()
            .await
            .map_err(|e| Reply::error(format!("Could not read the estate: {e}")))
    }

    async fn topology_card(&self, latest: &Refreshed) -> Reply {
        let findings = self.topology.findings(&latest.topology);
        let mut message = Message::text(format!(
            "{}\n{} findings (`findings` lists them).",
            report::summary(&latest.topology),
            findings.len()
        ))
        .with_title(format!("Topology (snapshot {})", latest.snapshot));
        match self.topology.image(latest).await {
            Ok(path) => message = message.with_image(path.display().to_string()),
            Err(e) => tracing::warn!(error = %e, "topology picture not rendered"),
        }
        Reply::say(message)
    }

    /// `paths <from> <to> <traffic> [cost|latency|balanced] [full] [pci_dss|hipaa…] [max <ms>]`
    async fn paths(&self, rest: &str) -> Reply {
        const USAGE: &str = "Usage: `paths <from> <to> <traffic> [cost|latency|balanced] [full] [pci_dss] [max <ms>]`, e.g. `paths aws:us-east-1 azure:eastus 5TB latency pci_dss`.";
        let words: Vec<&str> = rest.split_whitespace().collect();
        let [from, to, traffic, options @ ..] = words.as_slice() else {
            return Reply::error(USAGE);
        };
        let mut objective = Objective::Cost;
        let mut basis = CostBasis::Marginal;
        let mut compliance = Vec::new();
        let mut max_latency_ms = None;
        let mut options = options.iter();
        while let Some(word) = options.next() {
            match word.to_ascii_lowercase().as_str() {
                "cost" => objective = Objective::Cost,
                "latency" => objective = Objective::Latency,
                "balanced" => objective = Objective::Balanced,
                "full" => basis = CostBasis::Full,
                "marginal" => basis = CostBasis::Marginal,
                "max" => match options
                    .next()
                    .and_then(|v| v.trim_end_matches("ms").parse::<f64>().ok())
                {
                    Some(ms) if ms > 0.0 => max_latency_ms = Some(ms),
                    _ => return Reply::error(format!("`max` takes a latency in ms. {USAGE}")),
                },
                other => compliance.push(other.to_string()),
            }
        }
        let constraints = match compliance_constraints(&self.policies, &compliance) {
            Ok((private_only, private_reason)) => Constraints {
                max_latency_ms,
                min_reliability: None,
                private_only,
                private_reason,
            },
            Err(e) => return Reply::error(format!("{e}. {USAGE}")),
        };
        let request = PathsRequest {
            from,
            to,
            traffic,
            objective,
            basis,
            constraints,
        };
        let estate = match self.estate().await {
            Ok(estate) => estate,
            Err(reply) => return reply,
        };
        match answer(&estate, &request) {
            Ok(a) => {
                let mut text = table(&a);
                if let Some(llm) = &self.llm {
                    if let Some(n) = crate::llm::narrative::narrate(llm, &a).await {
                        text = format!("{text}\n\n{}", n.text_block());
                    }
                }
                Reply::say(Message::text(text).with_title("Paths"))
            }
            Err(e) => Reply::error(format!("{e}.")),
        }
    }

    async fn diff(&self, rest: &str) -> Reply {
        const USAGE: &str = "Usage: `diff` or `diff <from snapshot> <to snapshot>`.";
        let ids: Result<Vec<i64>, _> = rest.split_whitespace().map(str::parse::<i64>).collect();
        let (from, to) = match ids.as_deref() {
            Ok([]) => (None, None),
            Ok([from, to]) => (Some(*from), Some(*to)),
            _ => return Reply::error(USAGE),
        };
        match self.topology.diff(from, to).await {
            Ok((from, to, diff)) => Reply::say(
                Message::text(report::diff_text(from, to, &diff)).with_title("Topology diff"),
            ),
            Err(e) => Reply::error(format!("{e}. {USAGE}")),
        }
    }

    /// A button click: the platform adapter has verified who clicked.
    pub async fn click(&self, user: &UserId, action: &ButtonAction, reason: Option<&str>) -> Reply {
        match action {
            ButtonAction::ApproveBatch { batch } => {
                self.batch_outcome(self.bulk.approve(*batch, user).await)
            }
            ButtonAction::RejectBatch { batch } => {
                let result = self.bulk.reject(*batch, user, reason.unwrap_or("")).await;
                self.batch_outcome(result)
            }
            ButtonAction::Approve { workflow } => {
                self.outcome(self.engine.approve(*workflow, user).await, *workflow)
            }
            ButtonAction::Reject { workflow } => {
                match reason.map(str::trim).filter(|r| !r.is_empty()) {
                    Some(reason) => {
                        self.outcome(self.engine.reject(*workflow, user, reason).await, *workflow)
                    }
                    None => Reply::error(format!(
                        "Say why: `reject {workflow} <reason>`. Nothing was done."
                    )),
                }
            }
        }
    }

    fn id_arg<'a>(&self, rest: &'a str, usage: &str) -> Result<(WorkflowId, &'a str), Reply> {
        let (first, tail) = match rest.split_once(char::is_whitespace) {
            Some((f, t)) => (f, t.trim()),
            None => (rest, ""),
        };
        if first.is_empty() {
            return Err(Reply::error(format!("Usage: `{usage}`.")));
        }
        first
            .parse::<WorkflowId>()
            .map(|id| (id, tail))
            .map_err(|e| Reply::error(format!("{e}. Usage: `{usage}`.")))
    }

    fn outcome(&self, result: Result<(), EngineError>, id: WorkflowId) -> Reply {
        match result {
            Ok(()) => Reply::default().touched(id),
            Err(e) => Reply::error(refusal_text(&e)),
        }
    }

    /// `approve batch-N` / `reject batch-N <reason>`.
    async fn decide_batch(&self, user: &UserId, rest: &str, reject: bool) -> Reply {
        let (first, reason) = match rest.split_once(char::is_whitespace) {
            Some((f, r)) => (f, r.trim()),
            None => (rest, ""),
        };
        let batch = match first.parse::<BatchId>() {
            Ok(b) => b,
            Err(e) => return Reply::error(format!("{e}.")),
        };
        let result = if reject {
            self.bulk.reject(batch, user, reason).await
        } else {
            self.bulk.approve(batch, user).await
        };
        self.batch_outcome(result)
    }

    /// A batch decision's reply; `touched` is a decided row, so adapters
    /// see it was done.
    fn batch_outcome(&self, result: Result<bulk::Decided, BulkError>) -> Reply {
        match result {
            Ok(decided) => {
                let mut text =
                    format!("{}: {} rows decided.", decided.batch, decided.decided.len());
                for (id, why) in &decided.skipped {
                    text.push_str(&format!("\n{id} skipped: {why}"));
                }
                let mut reply = Reply::say(Message::text(text).with_tone(Tone::Success));
                reply.touched = decided.decided.first().copied();
                reply.batch = Some(decided.batch);
                reply
            }
            Err(BulkError::ReasonRequired(batch)) => Reply::error(format!(
                "Say why: `reject {batch} <reason>`. Nothing was done."
            )),
            Err(e) => Reply::error(format!("Not done: {e}.")),
        }
    }

    /// `batch batch-N`: the rows and where each stands.
    async fn batch(&self, rest: &str) -> Reply {
        let batch = match rest.parse::<BatchId>() {
            Ok(b) => b,
            Err(e) => return Reply::error(format!("{e}. Usage: `batch <batch-id>`.")),
        };
        match self.bulk.view(batch).await {
            Ok(view) => Reply::say(bulk::batch::status(&view)),
            Err(e) => Reply::error(format!("{e}.")),
        }
    }

    /// `bulk` followed by a CSV on the next lines.
    async fn bulk(&self, inbound: &Inbound, csv: &str) -> Reply {
        if csv.is_empty() {
            return Reply::error(
                "Put the CSV after `bulk` on the next lines (header first: source,destination,traffic,...), \
                 or run `switchboard bulk FILE.csv`. Nothing was started.",
            );
        }
        let submitted = self
            .bulk
            .submit(
                &inbound.user,
                &inbound.channel,
                "chat",
                csv.as_bytes(),
                bulk::DEFAULT_CONCURRENCY,
            )
            .await;
        let batch = match submitted {
            Ok(b) => b,
            Err(e) => return Reply::error(format!("{e}. Nothing was started.")),
        };
        let mut reply = match self.bulk.advance(batch).await {
            Ok(view) => Reply::say(bulk::batch::status(&view)),
            Err(e) => Reply::error(format!("{batch} started, but: {e}.")),
        };
        reply.batch = Some(batch);
        reply
    }

    async fn submit(&self, inbound: &Inbound, text: &str) -> Reply {
        match self
            .engine
            .submit(&inbound.user, &inbound.channel, text)
            .await
        {
            Ok(id) => Reply::say(
                Message::text(format!("Started {id}. I'll post each step in its thread."))
                    .with_workflow(id),
            )
            .touched(id),
            Err(e @ EngineError::NotUnderstood(_)) => Reply::error(format!(
                "{e}. Nothing was started. Type `help` for an example."
            )),
            Err(e) => Reply::error(refusal_text(&e)),
        }
    }

    /// Text that is not a command: an answer to this user's open question, or a
    /// new request.
    async fn free_text(&self, inbound: &Inbound, text: &str) -> Reply {
        match self.engine.pending_question_for(&inbound.user).await {
            Ok(Some(id)) => self.outcome(self.engine.answer(id, &inbound.user, text).await, id),
            Ok(None) => self.submit(inbound, text).await,
            Err(e) => Reply::error(refusal_text(&e)),
        }
    }

    async fn status(&self, id: WorkflowId) -> Reply {
        let (record, steps) = match self.engine.store().load_full(id).await {
            Ok(Some(full)) => full,
            Ok(None) => return Reply::error(format!("There is no workflow {id}.")),
            Err(e) => return Reply::error(format!("Could not read {id}: {e}")),
        };
        Reply::say(status_message(&record, &steps))
    }

    async fn paths_status(&self) -> Reply {
        match crate::prober::status::load(self.engine.store()).await {
            Ok(status) => Reply::say(
                Message::text(crate::prober::status::render(&status)).with_title("Paths"),
            ),
            Err(e) => Reply::error(format!("Could not read path status: {e}")),
        }
    }

    async fn pin(&self, inbound: &Inbound, rest: &str) -> Reply {
        let words: Vec<&str> = rest.split_whitespace().collect();
        let (pair, role) = match words.as_slice() {
            [pair, role @ ("primary" | "backup")] => (*pair, *role),
            _ => return Reply::error("Usage: `pin <pair> primary|backup`."),
        };
        self.set_pin(inbound, pair, Some(role)).await
    }

    async fn unpin(&self, inbound: &Inbound, rest: &str) -> Reply {
        match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [pair] => self.set_pin(inbound, pair, None).await,
            _ => Reply::error("Usage: `unpin <pair>`."),
        }
    }

    /// `Some(refusal)` unless the user is an approver (audited either way
    /// by the caller's action name).
    async fn approvers_only(&self, inbound: &Inbound, what: &str, subject: &str) -> Option<Reply> {
        if self.engine.is_approver(&inbound.user) {
            return None;
        }
        let _ = self
            .engine
            .store()
            .audit(
                None,
                inbound.user.as_str(),
                &format!("{what}.refused"),
                subject,
            )
            .await;
        Some(Reply::error(format!(
            "Not done: only approvers may {what} paths."
        )))
    }

    async fn drain(&self, inbound: &Inbound, rest: &str) -> Reply {
        let (connection, duration, reason) = match crate::prober::drain::parse_drain(rest) {
            Ok(parsed) => parsed,
            Err(e) => return Reply::error(e),
        };
        if let Some(refused) = self.approvers_only(inbound, "drain", &connection).await {
            return refused;
        }
        let store = self.engine.store();
        if let Err(e) = crate::prober::status::check_connection(store, &connection).await {
            return Reply::error(format!("Not done: {e}."));
        }
        let at = crate::prober::monitor::now().0;
        let until = at.saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        if let Err(e) = store
            .set_drain(&connection, until, &reason, inbound.user.as_str(), at)
            .await
        {
            return Reply::error(format!("Not done: {e}"));
        }
        let _ = store
            .audit(
                None,
                inbound.user.as_str(),
                "drain",
                &format!("{connection} until {until} {reason}"),
            )
            .await;
        Reply::say(Message::text(format!(
            "{connection} drained until {}: the prober moves every pair using it to its other path within a second and silences its alerts; traffic may return when the drain ends or on `undrain {connection}`.",
            crate::prober::status::time(until)
        )))
    }

    async fn undrain(&self, inbound: &Inbound, rest: &str) -> Reply {
        let connection = match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [connection] => connection.to_string(),
            _ => return Reply::error("Usage: `undrain <connection>`."),
        };
        if let Some(refused) = self.approvers_only(inbound, "undrain", &connection).await {
            return refused;
        }
        let store = self.engine.store();
        match store.clear_drain(&connection).await {
            Ok(true) => {
                let _ = store
                    .audit(None, inbound.user.as_str(), "undrain", &connection)
                    .await;
                Reply::say(Message::text(format!(
                    "{connection} is no longer drained: its alerts are back and traffic may return to it."
                )))
            }
            Ok(false) => Reply::error(format!("Not done: {connection} is not drained.")),
            Err(e) => Reply::error(format!("Not done: {e}")),
        }
    }

    async fn set_pin(&self, inbound: &Inbound, pair: &str, role: Option<&str>) -> Reply {
        let store = self.engine.store();
        let what = if role.is_some() { "pin" } else { "unpin" };
        if let Some(refused) = self.approvers_only(inbound, what, pair).await {
            return refused;
        }
        if let Err(e) = crate::prober::status::check_pair(store, pair).await {
            return Reply::error(format!("Not done: {e}."));
        }
        let at = crate::prober::monitor::now().0;
        if let Err(e) = store.set_pin(pair, role, inbound.user.as_str(), at).await {
            return Reply::error(format!("Not done: {e}"));
        }
        let _ = store
            .audit(
                None,
                inbound.user.as_str(),
                what,
                &format!("{pair} {}", role.unwrap_or("")),
            )
            .await;
        Reply::say(Message::text(match role {
            Some(role) => {
                format!("{pair} pinned to its {role} path; the prober applies it within a second.")
            }
            None => format!("{pair} unpinned; the prober chooses its path again."),
        }))
    }

    async fn workflows(&self) -> Reply {
        match self.engine.store().list(20).await {
            Ok(list) if list.is_empty() => Reply::say(Message::text("No workflows yet.")),
            Ok(list) => {
                let lines: Vec<String> = list
                    .iter()
                    .map(|w| {
                        format!(
                            "{:<7} {:<22} {:<11} {:<10} {}",
                            w.id.to_string(),
                            w.state,
                            w.current_step,
                            w.requester,
                            w.request
                                .lines()
                                .next()
                                .unwrap_or("")
                                .chars()
                                .take(60)
                                .collect::<String>()
                        )
                    })
                    .collect();
                Reply::say(Message::text(lines.join("\n")).with_title("Recent workflows"))
            }
            Err(e) => Reply::error(format!("Could not list workflows: {e}")),
        }
    }
}

pub fn status_message(record: &WorkflowRecord, steps: &[crate::store::StepRecord]) -> Message {
    let mut lines = vec![format!(
        "state {} · requester {} · step {}",
        record.state.status(),
        record.requester,
        record
            .definition
            .steps
            .get(record.state.current_step(&record.definition))
            .map(|s| s.name.as_str())
            .unwrap_or("?")
    )];
    for s in steps {
        let mark = match s.status.as_str() {
            "succeeded" => "✓",
            "skipped" => "↷",
            "failed" => "✗",
            "running" => "…",
            "waiting" => "⏸",
            _ => "·",
        };
        let mut line = format!("{mark} {:<11} {}", s.name, s.status);
        if s.attempts > 1 {
            line.push_str(&format!(" (attempt {})", s.attempts));
        }
        if let Some(e) = &s.error {
            line.push_str(&format!(" — {e}"));
        }
        lines.push(line);
    }
    Message::text(lines.join("\n"))
        .with_title(format!("{} · {}", record.id, record.state.status()))
        .with_workflow(record.id)
}
