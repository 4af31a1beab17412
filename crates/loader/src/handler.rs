//! The loader's work for one S3 event: each object matched to its table and loaded once;
//! unmatched keys and failures counted, logged and alerted; failures returned as an error
//! so that Lambda retries and finally sends the event to the on-failure destination.

use crate::error::CallError;
use crate::notify::Notifier;
use crate::store::ObjectStore;
use crate::warehouse::{LoadError, LoadPlan, Warehouse};
use aws_lambda_events::event::s3::S3Event;
use pushfeed_core::keys::{decode_event_key, KeyPatterns, Matched};
use pushfeed_core::load::ObjectRef;
use pushfeed_core::metrics::{self as m, MetricSet};
use tokio::time::Instant;

/// Longest a HeadObject may take.
const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One object's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectResult {
    Loaded {
        key: String,
        table: String,
        rows: u64,
        /// Rows the object held, when the warehouse reports it.
        rows_in_object: Option<u64>,
    },
    Empty {
        key: String,
        table: String,
    },
    Duplicate {
        key: String,
        table: String,
    },
    Unmatched {
        key: String,
        why: String,
    },
    Failed {
        key: String,
        table: String,
        error: String,
    },
}

#[derive(Debug, Default)]
pub struct LoaderReport {
    pub objects: Vec<ObjectResult>,
    pub metrics: MetricSet,
}

impl LoaderReport {
    pub fn failures(&self) -> Vec<&ObjectResult> {
        self.objects
            .iter()
            .filter(|o| matches!(o, ObjectResult::Failed { .. }))
            .collect()
    }
}

/// The loader's error when any object failed: Lambda retries the event.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} objects failed to load: {summary}")]
pub struct LoaderError {
    pub failed: usize,
    pub total: usize,
    pub summary: String,
}

/// Inputs the handler needs besides the event.
pub struct Loader<'a, W, N, O> {
    pub warehouse: &'a W,
    pub notifier: &'a N,
    pub patterns: &'a KeyPatterns,
    /// Where an object's size and ETag are read when the S3 event lacks them.
    pub objects: &'a O,
}

impl<W: Warehouse, N: Notifier, O: ObjectStore> Loader<'_, W, N, O> {
    /// The object as the ledger keys it. The event's size and ETag are used when present;
    /// otherwise S3 is asked (HeadObject): an unknown size is never taken for empty.
    async fn object_ref(
        &self,
        bucket: &str,
        key: String,
        size: Option<i64>,
        etag: Option<String>,
    ) -> Result<ObjectRef, LoadError> {
        let etag = etag.filter(|e| !e.trim().is_empty());
        let (size, etag) = match (size.filter(|n| *n >= 0), etag) {
            (Some(size), Some(etag)) => (size as u64, etag),
            (size, etag) => {
                tracing::info!(bucket, key = %key, "S3 event lacks the object's size or ETag: asking S3 (HeadObject)");
                let head = tokio::time::timeout(HEAD_TIMEOUT, self.objects.head(bucket, &key))
                    .await
                    .unwrap_or_else(|_| {
                        Err(CallError::new(
                            "HeadObject",
                            "no answer within 10 s (timed out)",
                        ))
                    })
                    .map_err(|e| {
                        LoadError::Object(format!("HeadObject s3://{bucket}/{key}: {e}"))
                    })?;
                (
                    size.map(|n| n as u64).unwrap_or(head.size),
                    etag.unwrap_or(head.etag),
                )
            }
        };
        Ok(ObjectRef {
            bucket: bucket.to_owned(),
            key,
            etag: etag.trim_matches('"').to_owned(),
            size,
        })
    }

    /// Process every record of the event; `now_ms` is the wall clock (for load latency).
    pub async fn handle(
        &self,
        event: &S3Event,
        now_ms: i64,
        deadline: Option<Instant>,
    ) -> LoaderReport {
        let mut report = LoaderReport::default();
        for record in &event.records {
            let bucket = record.s3.bucket.name.clone().unwrap_or_default();
            let raw_key = record.s3.object.key.clone().unwrap_or_default();
            let created_ms = record.event_time.timestamp_millis();
            let result = match decode_event_key(&raw_key) {
                Err(e) => {
                    self.unmatched(&bucket, raw_key.clone(), e.to_string(), &mut report.metrics)
                        .await
                }
                Ok(key) => match self.patterns.matches(&key) {
                    Matched::Unmatched => {
                        self.unmatched(
                            &bucket,
                            key,
                            "no key pattern matches it".into(),
                            &mut report.metrics,
                        )
                        .await
                    }
                    Matched::Table(hit) => {
                        let object = self
                            .object_ref(
                                &bucket,
                                key.clone(),
                                record.s3.object.size,
                                record.s3.object.e_tag.clone(),
                            )
                            .await;
                        match object {
                            Ok(object) => {
                                let plan = LoadPlan {
                                    destination: hit.destination,
                                    object,
                                    gzip: hit.gzip,
                                };
                                self.load(&plan, created_ms, now_ms, deadline, &mut report.metrics)
                                    .await
                            }
                            Err(e) => {
                                let o = ObjectRef {
                                    bucket: bucket.clone(),
                                    key,
                                    etag: String::new(),
                                    size: 0,
                                };
                                self.failed(&o, &hit.destination.table(), e, &mut report.metrics)
                                    .await
                            }
                        }
                    }
                },
            };
            report.objects.push(result);
        }
        report
    }

    async fn unmatched(
        &self,
        bucket: &str,
        key: String,
        why: String,
        metrics: &mut MetricSet,
    ) -> ObjectResult {
        metrics.add(m::UNMATCHED_KEYS, 1.0);
        tracing::error!(bucket, key = %key, why = %why, "S3 key matches no table; not loaded");
        let message = format!(
            "An S3 object was created that pushfeed cannot load.\n\nbucket: {bucket}\nkey: {key}\nwhy: {why}\n\nWhat to do: if the key is a new Firehose prefix, add the type to the catalogue (crates/core/src/catalogue.rs) and redeploy; otherwise check what writes to this bucket. The object is left where it is."
        );
        self.alert("pushfeed: S3 key matches no table", &message)
            .await;
        ObjectResult::Unmatched { key, why }
    }

    async fn load(
        &self,
        plan: &LoadPlan,
        created_ms: i64,
        now_ms: i64,
        deadline: Option<Instant>,
        metrics: &mut MetricSet,
    ) -> ObjectResult {
        let table = plan.destination.table();
        let key = plan.object.key.clone();
        let dim = plan.destination.name;
        tracing::debug!(key = %key, table = %table, size = plan.object.size, "loading");
        match self.warehouse.load(plan, deadline).await {
            Ok(out) if out.duplicate => {
                metrics.add(m::DUPLICATE_OBJECTS, 1.0);
                tracing::warn!(key = %key, table = %table, statement_id = ?out.statement_id, "object already in the ledger: nothing loaded (redelivered S3 event)");
                ObjectResult::Duplicate { key, table }
            }
            Ok(_) if plan.object.size == 0 => {
                metrics.add(m::EMPTY_OBJECTS, 1.0);
                tracing::info!(key = %key, table = %table, "empty object recorded in the ledger");
                ObjectResult::Empty { key, table }
            }
            Ok(out) => {
                metrics.add(m::OBJECTS_LOADED, 1.0);
                metrics.add_by(m::OBJECTS_LOADED, m::DIM_EVENT_TYPE, dim, 1.0);
                metrics.add(m::ROWS_LOADED, out.rows_inserted as f64);
                metrics.add_by(
                    m::ROWS_LOADED,
                    m::DIM_EVENT_TYPE,
                    dim,
                    out.rows_inserted as f64,
                );
                metrics.add(m::LOAD_LATENCY_MS, (now_ms - created_ms).max(0) as f64);
                if let Some(newest) = out.newest_occurred_ms {
                    let age = ((now_ms - newest).max(0) as f64) / 1000.0;
                    metrics.add(m::EVENT_FRESHNESS_SECONDS, age);
                    metrics.add_by(m::EVENT_FRESHNESS_SECONDS, m::DIM_EVENT_TYPE, dim, age);
                }
                tracing::info!(key = %key, table = %table, rows = out.rows_inserted, statement_id = ?out.statement_id, "object loaded");
                ObjectResult::Loaded {
                    key,
                    table,
                    rows: out.rows_inserted,
                    rows_in_object: out.rows_in_object,
                }
            }
            Err(e) => self.failed(&plan.object, &table, e, metrics).await,
        }
    }

    async fn failed(
        &self,
        object: &ObjectRef,
        table: &str,
        e: LoadError,
        metrics: &mut MetricSet,
    ) -> ObjectResult {
        let key = object.key.clone();
        if matches!(e, LoadError::NoTimeToStart { .. }) {
            // Not a failure of the load: the retry has a whole invocation for it.
            metrics.add(m::LOADS_DEFERRED, 1.0);
            tracing::warn!(key = %key, table = %table, error = %e, "load deferred to the retry");
        } else {
            metrics.add(m::LOAD_FAILURES, 1.0);
            tracing::error!(key = %key, table = %table, error = %e, "load failed");
            let message = failure_message(object, table, &e);
            self.alert(&format!("pushfeed load failed: {table}"), &message)
                .await;
        }
        ObjectResult::Failed {
            key,
            table: table.to_owned(),
            error: e.to_string(),
        }
    }

    async fn alert(&self, subject: &str, message: &str) {
        if let Err(e) = self.notifier.notify(subject, message).await {
            // The metric and the log line above still carry the failure.
            tracing::error!(error = %e, "could not send the alert");
        }
    }
}

/// The SNS message for a failed load: everything needed to find and fix it.
pub fn failure_message(o: &ObjectRef, table: &str, e: &LoadError) -> String {
    format!(
        "pushfeed could not load an object into Redshift.\n\nbucket: {}\nkey: {}\ntable: {table}\nstatement id: {}\nerror: {e}\nload error detail: {}\n\nLambda retries the event; after the last retry it goes to the loader's on-failure queue. The ledger makes a later reload safe: nothing is loaded twice.",
        o.bucket,
        o.key,
        e.statement_id().unwrap_or("-"),
        e.detail().unwrap_or("(none available)"),
    )
}

/// Turn a report into the Lambda result: an error when any load failed.
pub fn into_result(report: &LoaderReport) -> Result<(), LoaderError> {
    let failed = report.failures();
    if failed.is_empty() {
        return Ok(());
    }
    let summary = failed
        .iter()
        .filter_map(|f| match f {
            ObjectResult::Failed { key, error, .. } => Some(format!("{key}: {error}")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(LoaderError {
        failed: failed.len(),
        total: report.objects.len(),
        summary,
    })
}
