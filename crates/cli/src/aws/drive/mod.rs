//! `pushfeed drive`: the parts AWS plays around the two Lambdas, against an AWS-compatible
//! endpoint — the Kinesis event source mapping that polls the vendor stream and invokes
//! the batcher (`stream.rs`), and the S3 trigger: S3 notifies the loads queue of each new
//! object and its event source mapping invokes the loader (`loads.rs`). This file runs
//! the two side by side until the stream and the queue are idle.

mod loads;
mod stream;

use super::{queue_depth, EndpointArgs, LoaderParts, WarehouseArgs};
use pushfeed_batcher::{handle_batch, new_invocation_id, AwsFirehose, Config as BatcherConfig};
use pushfeed_core::metrics::MetricSet;
use pushfeed_core::BatchCounts;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct DriveArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Most records per batcher invocation (the event source mapping's BatchSize).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch_size: u64,
    /// Batching window in milliseconds (MaximumBatchingWindowInSeconds; AWS: 60 s).
    #[arg(long, default_value_t = 1_000)]
    pub window_ms: u64,
    /// Where to start reading each shard (the event source mapping's StartingPosition).
    #[arg(long, value_enum, default_value_t = StartingPosition::TrimHorizon)]
    pub starting_position: StartingPosition,
    /// Longest one PutRecordBatch call may take before the batcher abandons and retries it.
    #[arg(long, default_value_t = 10_000)]
    pub attempt_timeout_ms: u64,
    /// Retries of a batch with failed records before they go to the on-failure file.
    #[arg(long, default_value_t = 3)]
    pub max_retries: u32,
    /// Stop after this many seconds with no new records and no new objects.
    #[arg(long, default_value_t = 5.0)]
    pub idle_exit: f64,
    /// Stop after this many seconds in any case.
    #[arg(long, default_value_t = 3_600.0)]
    pub max_seconds: f64,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Where records that exhausted their retries are written (the on-failure destination).
    #[arg(long, default_value = "pushfeed-drive-dlq.jsonl")]
    pub dlq_file: std::path::PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also print one JSON line per loaded object (key, created, loaded) for lag measurements.
    #[arg(long)]
    pub object_log: Option<std::path::PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record still in the stream.
    TrimHorizon,
    /// Only records put after the driver starts.
    Latest,
}

#[derive(Debug, Default, Serialize)]
pub struct DriveSummary {
    pub records_in: u64,
    pub batches: u64,
    pub batch_item_failures: u64,
    pub records_retried: u64,
    pub records_to_dlq: u64,
    /// Receives from the loads queue that failed (retried on the next poll).
    pub queue_receive_errors: u64,
    /// GetRecords calls that failed (retried from the same iterator).
    pub get_records_errors: u64,
    pub routed: BTreeMap<String, u64>,
    pub quarantined: BTreeMap<String, u64>,
    pub objects_seen: u64,
    pub objects_loaded: u64,
    pub empty_objects: u64,
    pub duplicate_objects: u64,
    pub unmatched_keys: u64,
    /// Failed load attempts (a message is retried until the queue's maxReceiveCount).
    pub load_failures: u64,
    /// Messages in the loads dead-letter queue when the driver stopped (`pushfeed redrive`).
    pub loads_dead_lettered: u64,
    pub rows_loaded: u64,
    /// Audit records (push_audit rows) loaded; not in rows_loaded.
    pub audit_records_loaded: u64,
    /// Totals of every metric the handlers emitted (no dimensions).
    pub metrics: BTreeMap<String, f64>,
    pub elapsed_s: f64,
}

/// Poll the stream, invoke the batcher, invoke the loader for each new object, until idle.
pub async fn drive(args: &DriveArgs) -> anyhow::Result<DriveSummary> {
    let started = Instant::now();
    let c = args.endpoint.clients().await;
    let n = args.endpoint.names();
    let mut stream = stream::Mapping::open(&c, &n, args).await?;
    let topic_arn = super::topic_arn(&c, &n).await?;
    let batcher_config = BatcherConfig {
        stream_prefix: n.firehose_prefix(),
        attempt_timeout: Duration::from_millis(args.attempt_timeout_ms),
        ..BatcherConfig::default()
    };
    let sink = AwsFirehose::new(c.firehose.clone());
    let parts = LoaderParts::new(&c, &n, &args.warehouse, topic_arn)?;
    let loader = parts.loader();
    let mut loads = loads::Trigger::open(&c, &n, args.object_log.as_deref()).await?;

    let mut summary = DriveSummary::default();
    let mut counts = BatchCounts::default();
    let mut metrics = MetricSet::new();
    let mut last_activity = Instant::now();
    loop {
        let polled = stream.poll(&mut summary).await?;
        if polled.busy {
            last_activity = Instant::now();
        }
        if stream.due() {
            let (event, take) = stream.next_batch();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
            let report = handle_batch(
                &event,
                &sink,
                &batcher_config,
                Some(deadline),
                &new_invocation_id("drive"),
            )
            .await;
            summary.batches += 1;
            metrics.merge(&report.metrics);
            counts.merge(&report.counts);
            let failed: HashSet<&str> = report
                .response
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .collect();
            summary.batch_item_failures += failed.len() as u64;
            stream.checkpoint(take, &failed, &mut summary).await?;
            last_activity = Instant::now();
            if loads.poll(&loader, &mut summary, &mut metrics).await {
                last_activity = Instant::now();
            }
        } else if polled.records == 0 {
            if stream.is_empty() && loads.poll(&loader, &mut summary, &mut metrics).await {
                last_activity = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if stream.is_empty() && last_activity.elapsed().as_secs_f64() >= args.idle_exit {
            break;
        }
        if started.elapsed().as_secs_f64() >= args.max_seconds {
            eprintln!(
                "pushfeed drive: --max-seconds reached with {} records pending",
                stream.pending()
            );
            break;
        }
    }
    summary.queue_receive_errors = loads.errors();
    summary.loads_dead_lettered = queue_depth(&c, &n.loads_dlq()).await.unwrap_or(0);
    summary.routed = counts
        .events
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    summary.quarantined = counts
        .quarantined
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    summary.metrics = metrics.totals();
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}
