//! pushfeed batcher: a Kinesis batch → one Firehose stream per event type, nothing lost.

pub mod config;
pub mod event;
pub mod handler;
pub mod runtime;
pub mod sample;
pub mod sink;

pub use config::Config;
pub use event::{KinesisBatch, KinesisBatchRecord};
pub use handler::{handle_batch, new_invocation_id, BatchReport};
pub use sink::{AwsFirehose, EntryResult, FirehoseSink, SinkError};

/// Print metrics as CloudWatch EMF lines (stdout is the Lambda's log stream).
pub fn emit_metrics(metrics: &pushfeed_core::metrics::MetricSet, namespace: &str, function: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    for line in metrics.to_emf(namespace, function, now) {
        println!("{line}");
    }
}
