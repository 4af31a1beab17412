//! pushfeed batcher: a Kinesis batch → one Firehose stream per event type, nothing lost.

pub mod config;
pub mod event;
pub mod handler;
pub mod runtime;
pub mod sample;
pub mod sink;

pub use config::Config;
pub use event::{KinesisBatch, KinesisBatchRecord, PayloadError, SharedText};
pub use handler::{handle_batch, new_invocation_id, BatchReport};
pub use sink::{Answer, AwsFirehose, EntryResult, FirehoseSink, MemoryFirehose, SinkError};
#[cfg(feature = "local")]
pub use sink::{LocalFirehose, WrittenObject};

use aws_lambda_events::streams::KinesisEventResponse;
use lambda_runtime::LambdaEvent;
use pushfeed_core::metrics::BATCH_DURATION_MS;
use pushfeed_lambda::{Failure, FailureKind};

/// One invocation of the batcher Lambda: the batch `ReadPayloadLayer` read for it, routed
/// and sent; metrics printed; one summary line logged. Kinesis records that could not be
/// delivered are reported back (Lambda retries only those); a payload that is not a
/// Kinesis event fails the invocation as `InvalidEvent`.
pub async fn invoke<S: FirehoseSink>(
    event: LambdaEvent<()>,
    read: &runtime::ReadBatches,
    sink: &S,
    config: &Config,
) -> Result<KinesisEventResponse, Failure> {
    let deadline = pushfeed_lambda::deadline(&event.context);
    let request_id = &event.context.request_id;
    // Timed from when the layer started reading the payload.
    // (lambda_runtime logs the failure, once; Lambda retries the batch, then sends it to
    // the batcher's failure destination.)
    let (batch, started) = runtime::take_batch(read, request_id)
        .map_err(|e| Failure::new(FailureKind::InvalidEvent, e))?;
    let mut report = handle_batch(&batch, sink, config, Some(deadline), request_id).await;
    report
        .metrics
        .add(BATCH_DURATION_MS, started.elapsed().as_secs_f64() * 1000.0);
    pushfeed_lambda::emit(&report.metrics, &config.metrics_namespace, "batcher");
    tracing::info!(
        records = report.counts.records_in,
        routed = report.counts.routed_total(),
        unknown_type = report.counts.unknown_type(),
        quarantined = report.counts.quarantined_total(),
        failed_kinesis_records = report.response.batch_item_failures.len(),
        "batch done"
    );
    Ok(report.response)
}
