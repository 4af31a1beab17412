//! Time and peak memory of the batcher handler for one full 6 MB batch (a null Firehose):
//!   cargo run --release -p pushfeed-batcher --example one_batch [RECORDS]
//! Prints one JSON line: records, payload bytes, ms (median of 15 runs), peak RSS MiB.

use pushfeed_batcher::sample::{lambda_payload, LAMBDA_PAYLOAD_BYTES};
use pushfeed_batcher::{handle_batch, Config, EntryResult, FirehoseSink, SinkError};

struct NullFirehose;

impl FirehoseSink for NullFirehose {
    async fn put_record_batch(
        &self,
        _stream: &str,
        records: Vec<Vec<u8>>,
    ) -> Result<Vec<EntryResult>, SinkError> {
        Ok(vec![EntryResult::Ok; records.len()])
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let records = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(usize::MAX);
    let (payload, n) = lambda_payload(records, LAMBDA_PAYLOAD_BYTES);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let config = Config {
        stream_prefix: "pushfeed-bench-".into(),
        ..Config::default()
    };
    let mut times = Vec::new();
    let mut events = 0;
    for _ in 0..15 {
        let start = std::time::Instant::now();
        // What the runtime does (deserialize the payload) and what the handler does.
        let event: pushfeed_batcher::KinesisBatch =
            serde_json::from_slice(&payload).expect("payload");
        let report = rt.block_on(handle_batch(&event, &NullFirehose, &config, None));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        events = report.counts.events.values().sum::<u64>();
        assert!(report.response.batch_item_failures.is_empty());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"records\":{n},\"events\":{events},\"payload_bytes\":{},\"ms_per_batch\":{:.3},\"peak_rss_mib\":{:.1}}}",
        payload.len(),
        times[times.len() / 2],
        peak_rss_mib()
    );
}
