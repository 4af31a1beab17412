//! The S3 trigger as deployed: S3 notifies the loads queue of each new object under push/,
//! and the queue's event source mapping invokes the loader with up to 10 messages,
//! deletes the ones it loaded and leaves the failed ones (they come back after the
//! visibility timeout, then move to the dead-letter queue).

use super::super::{delete_messages, queue_url, sdk, AwsLoader, Clients};
use super::DriveSummary;
use anyhow::Context;
use pushfeed_core::catalogue::DESTINATIONS;
use pushfeed_core::metrics::MetricSet;
use pushfeed_core::names::Names;
use pushfeed_loader::{ObjectResult, QueueMessage};
use std::time::Duration;

/// The loads queue and its mapping.
pub struct Trigger<'a> {
    c: &'a Clients,
    url: String,
    /// Receives that failed (retried on the next poll).
    errors: u64,
    /// One JSON line per loaded object (key, created, loaded), for lag measurements.
    object_log: Option<std::fs::File>,
}

impl<'a> Trigger<'a> {
    pub async fn open(
        c: &'a Clients,
        n: &Names,
        object_log: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let url = queue_url(
            c,
            &n.loads_queue(),
            "did `pushfeed bootstrap` run (it creates the loads queue)?",
        )
        .await?;
        let object_log = match object_log {
            Some(p) => Some(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            ),
            None => None,
        };
        Ok(Trigger {
            c,
            url,
            errors: 0,
            object_log,
        })
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Load what the queue holds. Whether it kept the driver busy: it found new objects,
    /// or the receive failed (retried on the next loop; the driver must not go idle
    /// before a receive succeeds).
    pub async fn poll(
        &mut self,
        loader: &AwsLoader<'_>,
        summary: &mut DriveSummary,
        metrics: &mut MetricSet,
    ) -> bool {
        match self.load_queued_objects(loader, summary, metrics).await {
            Ok(new_objects) => new_objects > 0,
            Err(e) => {
                self.errors += 1;
                tracing::warn!(error = %format!("{e:#}"), "receiving from the loads queue failed; will retry");
                true
            }
        }
    }

    /// Receive, invoke the loader, delete what it loaded; until the queue is empty or a
    /// message fails. How many messages were received.
    async fn load_queued_objects(
        &mut self,
        loader: &AwsLoader<'_>,
        summary: &mut DriveSummary,
        metrics: &mut MetricSet,
    ) -> anyhow::Result<usize> {
        let (c, url) = (self.c, self.url.as_str());
        let mut total = 0;
        loop {
            let out = c
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("receiving from {url}: {}", sdk(&e)))?;
            let received = out.messages();
            if received.is_empty() {
                return Ok(total);
            }
            total += received.len();
            let messages: Vec<QueueMessage> = received
                .iter()
                .map(|m| QueueMessage {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                })
                .collect();
            let created: std::collections::HashMap<String, i64> = messages
                .iter()
                .filter_map(|m| {
                    pushfeed_loader::queue::s3_event_from_body(&m.body)
                        .ok()
                        .flatten()
                })
                .flat_map(|e| e.records)
                .filter_map(|r| {
                    let key = pushfeed_core::decode_event_key(r.s3.object.key.as_deref()?).ok()?;
                    Some((key, r.event_time.timestamp_millis()))
                })
                .collect();
            let now = pushfeed_core::timefmt::now_ms();
            let report = loader
                .handle_queue(
                    &messages,
                    now,
                    Some(tokio::time::Instant::now() + Duration::from_secs(60)),
                )
                .await;
            metrics.merge(&report.report.metrics);
            for o in &report.report.objects {
                summary.objects_seen += 1;
                match o {
                    ObjectResult::Loaded {
                        key, rows, table, ..
                    } => {
                        summary.objects_loaded += 1;
                        if *table == DESTINATIONS[pushfeed_core::catalogue::audit_index()].table() {
                            summary.audit_records_loaded += rows;
                        } else {
                            summary.rows_loaded += rows;
                        }
                        if let Some(f) = self.object_log.as_mut() {
                            use std::io::Write;
                            writeln!(
                                f,
                                "{}",
                                serde_json::json!({"key": key, "created_ms": created.get(key).copied().unwrap_or(now), "loaded_ms": now})
                            )?;
                        }
                    }
                    ObjectResult::Empty { .. } => summary.empty_objects += 1,
                    ObjectResult::Duplicate { .. } => summary.duplicate_objects += 1,
                    ObjectResult::Unmatched { .. } => summary.unmatched_keys += 1,
                    ObjectResult::Failed { .. } => summary.load_failures += 1,
                }
            }
            let done = received.iter().filter(|m| {
                !report
                    .failed_message_ids
                    .iter()
                    .any(|f| Some(f.as_str()) == m.message_id())
            });
            delete_messages(c, url, done).await?;
            if !report.failed_message_ids.is_empty() {
                // Failed messages reappear after the visibility timeout, as with Lambda.
                return Ok(total);
            }
        }
    }
}
