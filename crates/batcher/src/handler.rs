//! The batcher's work for one invocation: Kinesis batch → core → Firehose, with retries of
//! exactly the failed entries, and the Kinesis records that did not fully reach Firehose
//! reported as batch item failures.

use crate::config::Config;
use crate::event::KinesisBatch;
use crate::sink::{EntryResult, FirehoseSink, SinkError};
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use pushfeed_core::audit::{self, AuditTally};
use pushfeed_core::catalogue::{audit_index, DestinationKind, DESTINATIONS};
use pushfeed_core::event::Coordinates;
use pushfeed_core::metrics::{self as m, MetricSet};
use pushfeed_core::packing::{group, PackedRecord};
use pushfeed_core::{pack_batch, BatchCounts, InputRecord};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

/// What one invocation did.
#[derive(Debug)]
pub struct BatchReport {
    pub response: KinesisEventResponse,
    pub counts: BatchCounts,
    pub metrics: MetricSet,
    /// Firehose records accepted, and their bytes.
    pub firehose_records_sent: u64,
    pub firehose_bytes_sent: u64,
    /// Firehose records resent after a failure.
    pub retries: u64,
    /// Firehose records that never got through (their Kinesis records are reported).
    pub firehose_records_failed: u64,
    /// What the audit record says was sent: lines per table and hour of arrival.
    pub audit: AuditTally,
    /// Audit lines accepted by the audit stream (one per table and hour).
    pub audit_lines_sent: u64,
    /// Audit records the audit stream never accepted (the invocation's lines will show as
    /// surplus in the audit view; the data itself was delivered).
    pub audit_records_failed: u64,
}

/// An invocation id for runs outside Lambda (`pushfeed run`, `drive`, `replay`, benches):
/// unique per call, as a Lambda request id is.
pub fn new_invocation_id(prefix: &str) -> String {
    format!(
        "{prefix}-{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

struct Job {
    destination: usize,
    stream: String,
    records: Vec<PackedRecord>,
}

#[derive(Default)]
struct JobResult {
    sent_records: u64,
    sent_bytes: u64,
    retries: u64,
    /// Records never accepted, their data dropped (their sources are reported).
    failed: Vec<PackedRecord>,
    /// Accepted records, their data dropped (kept for the audit's counts).
    accepted: Vec<PackedRecord>,
}

/// Process one batch. `deadline` is when the invocation must have answered; retries stop
/// `config.safety_margin` before it. `invocation_id` names the invocation in the audit
/// trail (the Lambda request id: a retried batch is a new invocation).
pub async fn handle_batch<S: FirehoseSink>(
    event: &KinesisBatch,
    sink: &S,
    config: &Config,
    deadline: Option<Instant>,
    invocation_id: &str,
) -> BatchReport {
    let inputs: Vec<InputRecord<'_>> = event
        .records
        .iter()
        .map(|r| InputRecord {
            data: &r.kinesis.data,
            coords: Coordinates {
                shard_id: r.shard_id(),
                sequence_number: &r.kinesis.sequence_number,
                received_at_ms: r.kinesis.arrival_ms,
            },
        })
        .collect();
    if let (Some(first), Some(last)) = (inputs.first(), inputs.last()) {
        tracing::info!(
            records = inputs.len(),
            shard = first.coords.shard_id,
            first_sequence = first.coords.sequence_number,
            last_sequence = last.coords.sequence_number,
            "batch received"
        );
    }
    let packed = pack_batch(&inputs, config.limits);
    let counts = packed.counts.clone();

    let jobs: Vec<Job> = packed
        .destinations
        .into_iter()
        .flat_map(|(destination, records)| {
            let stream = config.stream_name(&DESTINATIONS[destination]);
            group(records, config.limits)
                .into_iter()
                .map(move |records| Job {
                    destination,
                    stream: stream.clone(),
                    records,
                })
        })
        .collect();
    let results: Vec<(usize, JobResult)> = stream::iter(jobs)
        .map(|job| async move {
            let destination = job.destination;
            (
                destination,
                send_with_retry(sink, job, config, deadline).await,
            )
        })
        .buffer_unordered(config.max_concurrency)
        .collect()
        .await;

    let mut failed_sources = BTreeSet::new();
    let mut report = BatchReport {
        response: KinesisEventResponse::default(),
        counts,
        metrics: MetricSet::new(),
        firehose_records_sent: 0,
        firehose_bytes_sent: 0,
        retries: 0,
        firehose_records_failed: 0,
        audit: AuditTally::default(),
        audit_lines_sent: 0,
        audit_records_failed: 0,
    };
    let arrival = |i: u32| {
        inputs
            .get(i as usize)
            .map_or(0, |input| input.coords.received_at_ms)
    };
    for (destination, r) in results {
        report.firehose_records_sent += r.sent_records;
        report.firehose_bytes_sent += r.sent_bytes;
        report.retries += r.retries;
        report.firehose_records_failed += r.failed.len() as u64;
        for rec in &r.accepted {
            report.audit.add(destination, rec, true, arrival);
        }
        for rec in &r.failed {
            report.audit.add(destination, rec, false, arrival);
            tracing::error!(
                destination = DESTINATIONS[destination].name,
                lines = rec.lines,
                kinesis_records = rec.sources.len(),
                "Firehose record not delivered; its Kinesis records are reported as failures"
            );
            failed_sources.extend(rec.sources.iter().copied());
        }
    }
    send_audit(&mut report, &inputs, sink, config, deadline, invocation_id).await;
    report.response.batch_item_failures = failed_sources
        .iter()
        .filter_map(|i| inputs.get(*i as usize))
        .map(|input| {
            let mut f = KinesisBatchItemFailure::default();
            f.item_identifier = Some(input.coords.sequence_number.to_owned());
            f
        })
        .collect();
    report.metrics = metrics_of(&report, inputs.len());
    report
}

/// Write the invocation's audit record — what Firehose accepted, per table and hour — to
/// the audit stream, after the data (only accepted lines count). It is one Firehose record
/// (a few hundred bytes per table and hour). If it cannot be delivered the batch is still
/// acknowledged: failing it would resend data that did arrive, and the audit would then be
/// short by the same amount; instead the loss is counted, logged and alarmed, and the view
/// shows that hour as surplus.
async fn send_audit<S: FirehoseSink>(
    report: &mut BatchReport,
    inputs: &[InputRecord<'_>],
    sink: &S,
    config: &Config,
    deadline: Option<Instant>,
    invocation_id: &str,
) {
    let (Some(first), Some(last)) = (inputs.first(), inputs.last()) else {
        return;
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let data = audit::audit_lines(
        &audit::Invocation {
            id: invocation_id,
            shard_id: first.coords.shard_id,
            first_sequence_number: first.coords.sequence_number,
            last_sequence_number: last.coords.sequence_number,
            kinesis_records: inputs.len() as u64,
            now_ms,
        },
        &report.audit,
    );
    if data.is_empty() {
        return;
    }
    let lines = data.iter().filter(|b| **b == b'\n').count() as u32;
    let destination = audit_index();
    let records: Vec<PackedRecord> = if data.len() <= config.limits.max_record_bytes {
        vec![PackedRecord {
            data,
            sources: Vec::new(),
            source_lines: Vec::new(),
            lines,
        }]
    } else {
        // Thousands of hours in one batch (a very late backlog): split on lines.
        let mut packer = pushfeed_core::packing::Packer::new(config.limits);
        for line in pushfeed_core::packing::unpack(&data) {
            let mut l = line.to_vec();
            l.push(b'\n');
            // An audit line is a few hundred bytes: it always fits a record.
            let _ = packer.push(&l, 0);
        }
        packer.finish()
    };
    for records in group(records, config.limits) {
        let job = Job {
            destination,
            stream: config.stream_name(&DESTINATIONS[destination]),
            records,
        };
        let r = send_with_retry(sink, job, config, deadline).await;
        report.audit_lines_sent += r.accepted.iter().map(|x| u64::from(x.lines)).sum::<u64>();
        report.audit_records_failed += r.failed.len() as u64;
        for rec in &r.failed {
            tracing::error!(
                invocation_id,
                audit_lines = rec.lines,
                "audit record not delivered: this invocation's lines will show as surplus in v_push_audit_hourly"
            );
        }
    }
}

fn metrics_of(r: &BatchReport, records_in: usize) -> MetricSet {
    let mut set = MetricSet::new();
    set.add(m::RECORDS_IN, records_in as f64);
    set.add(m::EVENTS_ROUTED, r.counts.routed_total() as f64);
    set.add(m::UNKNOWN_TYPE_EVENTS, r.counts.unknown_type() as f64);
    set.add(m::QUARANTINED_RECORDS, r.counts.quarantined_total() as f64);
    set.add(m::FIREHOSE_RECORDS_SENT, r.firehose_records_sent as f64);
    set.add(m::FIREHOSE_BYTES_SENT, r.firehose_bytes_sent as f64);
    set.add(m::FIREHOSE_RETRIES, r.retries as f64);
    set.add(
        m::FAILED_KINESIS_RECORDS,
        r.response.batch_item_failures.len() as f64,
    );
    set.add(m::AUDIT_LINES_SENT, r.audit_lines_sent as f64);
    set.add(m::AUDIT_RECORDS_FAILED, r.audit_records_failed as f64);
    for d in DESTINATIONS
        .iter()
        .filter(|d| d.kind == DestinationKind::Event)
    {
        if let Some(n) = r.counts.events.get(d.name) {
            set.add_by(m::EVENTS_ROUTED, m::DIM_EVENT_TYPE, d.name, *n as f64);
        }
    }
    for (reason, n) in &r.counts.quarantined {
        set.add_by(m::QUARANTINED_RECORDS, m::DIM_REASON, reason, *n as f64);
    }
    set
}

/// Exponential backoff with full jitter.
fn backoff(config: &Config, attempt: u32) -> Duration {
    let cap = config
        .base_backoff
        .saturating_mul(1u32 << attempt.min(16))
        .min(config.max_backoff);
    let ms = cap.as_millis() as u64;
    Duration::from_millis(if ms == 0 {
        0
    } else {
        fastrand::u64(ms / 2..=ms)
    })
}

async fn send_with_retry<S: FirehoseSink>(
    sink: &S,
    mut job: Job,
    config: &Config,
    deadline: Option<Instant>,
) -> JobResult {
    let mut result = JobResult::default();
    let mut pending: Vec<usize> = (0..job.records.len()).collect();
    // The records' bytes as shared buffers (no copy): a retry resends the same ones, and a
    // sink that keeps them shares them.
    let bodies: Vec<Bytes> = job
        .records
        .iter_mut()
        .map(|r| Bytes::from(std::mem::take(&mut r.data)))
        .collect();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let data: Vec<Bytes> = pending.iter().map(|i| bodies[*i].clone()).collect();
        // Each call gets the attempt timeout, or what is left of the invocation less the
        // margin if that is shorter: a call with no answer is a transient failure.
        let budget = deadline.map_or(config.attempt_timeout, |d| {
            config
                .attempt_timeout
                .min(d.saturating_duration_since(Instant::now() + config.safety_margin))
        });
        tracing::debug!(stream = %job.stream, attempt, records = data.len(), bytes = data.iter().map(|d| d.len()).sum::<usize>(), budget_ms = budget.as_millis() as u64, "PutRecordBatch");
        let call = tokio::time::timeout(budget, sink.put_record_batch(&job.stream, &data)).await;
        let call = call.unwrap_or_else(|_| {
            Err(SinkError::Transient {
                stream: job.stream.clone(),
                message: format!("no answer within {} ms (timed out)", budget.as_millis()),
            })
        });
        match call {
            Ok(entries) => {
                let mut still = Vec::new();
                for (i, entry) in pending.iter().zip(entries) {
                    match entry {
                        EntryResult::Ok => {
                            result.sent_records += 1;
                            result.sent_bytes += bodies[*i].len() as u64;
                        }
                        EntryResult::Failed { code, message } => {
                            tracing::warn!(stream = %job.stream, attempt, code = %code, message = %message, "Firehose entry failed");
                            still.push(*i);
                        }
                    }
                }
                pending = still;
            }
            Err(e @ SinkError::Permanent { .. }) => {
                tracing::error!(stream = %job.stream, attempt, error = %e, "PutRecordBatch failed permanently; not retried");
                break;
            }
            Err(e) => {
                tracing::warn!(stream = %job.stream, attempt, error = %e, "PutRecordBatch failed; will retry")
            }
        }
        if pending.is_empty() || attempt >= config.max_attempts {
            break;
        }
        let wait = backoff(config, attempt - 1);
        if let Some(deadline) = deadline {
            if Instant::now() + wait + config.safety_margin >= deadline {
                tracing::warn!(stream = %job.stream, pending = pending.len(), "out of time for retries");
                break;
            }
        }
        tokio::time::sleep(wait).await;
        result.retries += pending.len() as u64;
    }
    let mut records = job.records;
    // Take the failed records out, highest index first so the others keep their place.
    pending.sort_unstable();
    for i in pending.into_iter().rev() {
        result.failed.push(records.swap_remove(i));
    }
    result.accepted = records;
    result
}
