//! The digest driver: reads the usage window from the store, builds the
//! digest ([`super::build`]) and, on the cron schedule, posts it to the
//! digest channel through the outbox. `switchboard digest` prints the same
//! message without posting.

use super::{build, history_start, message, Digest, DigestInputs};
use crate::chat::message::{Destination, Message};
use crate::optimizer::plan::optimize;
use crate::scheduler::{self, Schedule};
use crate::store::{Store, StoreError};
use crate::usage::EstateFeed;
use chrono::{NaiveDate, Utc};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the estate to price: {0}")]
    Estate(String),
}

pub struct DigestService {
    store: Store,
    /// The estate and its prices, read per digest (once a day), also for
    /// the optimizer's estate-wide plan.
    estate: Arc<dyn EstateFeed>,
    channel: Destination,
    timezone: chrono_tz::Tz,
}

impl DigestService {
    pub fn new(
        store: Store,
        estate: Arc<dyn EstateFeed>,
        channel: String,
        timezone: chrono_tz::Tz,
    ) -> DigestService {
        DigestService {
            store,
            estate,
            channel: Destination {
                channel,
                thread: None,
            },
            timezone,
        }
    }

    /// Today in the digest's time zone.
    pub fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.timezone).date_naive()
    }

    /// The digest for the morning of `date` (reporting the day before).
    pub async fn digest(&self, date: NaiveDate) -> Result<Digest, DigestError> {
        let yesterday = date.pred_opt().unwrap_or(date);
        let usage = self
            .store
            .usage_between(history_start(date), yesterday)
            .await?;
        let (estate, pricing) = self.estate.priced().await.map_err(DigestError::Estate)?;
        let plan = optimize(&estate);
        Ok(build(&DigestInputs {
            date,
            usage: &usage,
            pricing: &pricing,
            plan: Some(&plan),
        }))
    }

    /// Builds today's digest and queues it for the digest channel.
    pub async fn post_today(&self) -> Result<Message, DigestError> {
        let text = message(&self.digest(self.today()).await?);
        self.store.post(&self.channel, &text).await?;
        Ok(text)
    }

    /// Posts the digest at every occurrence of `schedule` (wall-clock time in
    /// the digest's zone) until `cancel`.
    pub async fn post_on_schedule(self: Arc<Self>, schedule: Schedule, cancel: CancellationToken) {
        let zone = self.timezone;
        scheduler::run_in(schedule, zone, cancel, || async {
            match self.post_today().await {
                Ok(_) => {
                    tracing::info!(channel = %self.channel.channel, "daily cost digest queued")
                }
                Err(e) => tracing::warn!(error = %e, "daily cost digest failed"),
            }
        })
        .await;
    }
}
