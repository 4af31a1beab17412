//! The batcher Lambda binary: configuration and clients once per cold start, then the
//! library's handler for every invocation.

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{service_fn, Error, LambdaEvent, Runtime};
use pushfeed_batcher::runtime::{take_batch, ReadBatches, ReadPayloadLayer};
use pushfeed_batcher::{emit_metrics, handle_batch, AwsFirehose, Config};
use pushfeed_core::metrics::BATCH_DURATION_MS;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pushfeed_batcher::runtime::keep_heap();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sink = AwsFirehose::from_env(config.attempt_timeout).await;
    let (config, sink) = (&config, &sink);
    // The payload is read by ReadPayloadLayer (see runtime.rs); the runtime passes `()`.
    let batches = ReadBatches::default();
    let read = &batches;
    let handler = service_fn(move |event: LambdaEvent<()>| async move {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
        let deadline = tokio::time::Instant::now() + remaining;
        // Timed from when the layer started reading the payload.
        let (batch, started) = take_batch(read, &event.context.request_id).inspect_err(|e| {
            tracing::error!(error = %e, "the Kinesis event cannot be read; the invocation fails and Lambda retries the batch")
        })?;
        let mut report = handle_batch(
            &batch,
            sink,
            config,
            Some(deadline),
            &event.context.request_id,
        )
        .await;
        report
            .metrics
            .add(BATCH_DURATION_MS, started.elapsed().as_secs_f64() * 1000.0);
        emit_metrics(&report.metrics, &config.metrics_namespace, "batcher");
        tracing::info!(
            records = report.counts.records_in,
            routed = report.counts.routed_total(),
            unknown_type = report.counts.unknown_type(),
            quarantined = report.counts.quarantined_total(),
            failed_kinesis_records = report.response.batch_item_failures.len(),
            "batch done"
        );
        Ok::<_, Error>(report.response)
    });
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(ReadPayloadLayer::new(batches.clone()))
        .run()
        .await
}
