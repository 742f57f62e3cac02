//! Counters for `GET /metrics`, and their Prometheus text exposition
//! (version 0.0.4) written by hand: requests by route and status, signature
//! failures, the acknowledgement latency histogram, outbox and workflow
//! figures read at scrape time. Rendering is pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the acknowledgement histogram, in seconds.
pub const ACK_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    pub signature_failures: AtomicU64,
    pub discord_signature_failures: AtomicU64,
    ack_buckets: [AtomicU64; ACK_BUCKETS.len()],
    ack_count: AtomicU64,
    ack_sum_micros: AtomicU64,
}

/// What is read from elsewhere when scraped.
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    pub outbox_pending: i64,
    pub outbox_delivered: i64,
    pub outbox_failed_attempts: i64,
    pub delivery_retries: u64,
    pub card_updates: u64,
    /// Socket Mode connections greeted and envelopes acknowledged (zero
    /// when Socket Mode is off).
    pub socket_connections: u64,
    pub socket_envelopes: u64,
    pub workflows: Vec<(String, i64)>,
}

impl Metrics {
    pub fn request(&self, route: &'static str, status: u16) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route, status))
            .or_default() += 1;
    }

    pub fn ack(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bound, count) in ACK_BUCKETS.iter().zip(&self.ack_buckets) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.ack_count.fetch_add(1, Ordering::Relaxed);
        self.ack_sum_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = writeln!(out, "# HELP switchboard_http_requests_total HTTP requests by route and status.\n# TYPE switchboard_http_requests_total counter");
        for ((route, status), n) in requests {
            let _ = writeln!(
                out,
                "switchboard_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP switchboard_slack_signature_failures_total Requests refused for a bad, stale or replayed signature.\n# TYPE switchboard_slack_signature_failures_total counter\nswitchboard_slack_signature_failures_total {}", self.signature_failures.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP switchboard_discord_signature_failures_total Discord interactions refused for a bad, stale or replayed signature.\n# TYPE switchboard_discord_signature_failures_total counter\nswitchboard_discord_signature_failures_total {}", self.discord_signature_failures.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP switchboard_slack_ack_seconds Time from receiving a Slack request to acknowledging it.\n# TYPE switchboard_slack_ack_seconds histogram");
        for (bound, count) in ACK_BUCKETS.iter().zip(&self.ack_buckets) {
            let _ = writeln!(
                out,
                "switchboard_slack_ack_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.ack_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "switchboard_slack_ack_seconds_bucket{{le=\"+Inf\"}} {count}\nswitchboard_slack_ack_seconds_sum {}\nswitchboard_slack_ack_seconds_count {count}",
            self.ack_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "# HELP switchboard_outbox_pending Outbox messages not yet delivered.\n# TYPE switchboard_outbox_pending gauge\nswitchboard_outbox_pending {}", gauges.outbox_pending);
        let _ = writeln!(out, "# HELP switchboard_outbox_delivered Outbox messages delivered.\n# TYPE switchboard_outbox_delivered gauge\nswitchboard_outbox_delivered {}", gauges.outbox_delivered);
        let _ = writeln!(out, "# HELP switchboard_outbox_failed_attempts Failed delivery attempts recorded in the outbox.\n# TYPE switchboard_outbox_failed_attempts gauge\nswitchboard_outbox_failed_attempts {}", gauges.outbox_failed_attempts);
        let _ = writeln!(out, "# HELP switchboard_delivery_retries_total Failed deliveries since start (each is retried).\n# TYPE switchboard_delivery_retries_total counter\nswitchboard_delivery_retries_total {}", gauges.delivery_retries);
        let _ = writeln!(out, "# HELP switchboard_card_updates_total Approval cards updated in place since start.\n# TYPE switchboard_card_updates_total counter\nswitchboard_card_updates_total {}", gauges.card_updates);
        let _ = writeln!(out, "# HELP switchboard_slack_socket_connections_total Socket Mode connections Slack greeted since start (more than one: reconnects).\n# TYPE switchboard_slack_socket_connections_total counter\nswitchboard_slack_socket_connections_total {}", gauges.socket_connections);
        let _ = writeln!(out, "# HELP switchboard_slack_socket_envelopes_total Socket Mode envelopes acknowledged since start.\n# TYPE switchboard_slack_socket_envelopes_total counter\nswitchboard_slack_socket_envelopes_total {}", gauges.socket_envelopes);
        let _ = writeln!(
            out,
            "# HELP switchboard_workflows Workflows by status.\n# TYPE switchboard_workflows gauge"
        );
        for (status, n) in &gauges.workflows {
            let status: String = status
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let _ = writeln!(out, "switchboard_workflows{{status=\"{status}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_every_family_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.request("/slack/events", 200);
        m.request("/slack/events", 200);
        m.request("/slack/events", 401);
        m.ack(Duration::from_micros(1500));
        m.ack(Duration::from_millis(40));
        let text = m.render(&Gauges {
            outbox_pending: 3,
            workflows: vec![("completed".into(), 2)],
            ..Gauges::default()
        });
        assert!(text
            .contains("switchboard_http_requests_total{route=\"/slack/events\",status=\"200\"} 2"));
        assert!(text.contains("status=\"401\"} 1"));
        assert!(text.contains("switchboard_slack_ack_seconds_bucket{le=\"0.001\"} 0"));
        assert!(text.contains("switchboard_slack_ack_seconds_bucket{le=\"0.0025\"} 1"));
        assert!(text.contains("switchboard_slack_ack_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("switchboard_slack_ack_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("switchboard_slack_ack_seconds_count 2"));
        assert!(text.contains("switchboard_outbox_pending 3"));
        assert!(text.contains("switchboard_slack_socket_connections_total 0"));
        assert!(text.contains("switchboard_workflows{status=\"completed\"} 2"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
    }
}
