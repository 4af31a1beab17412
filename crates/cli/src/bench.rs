//! `pushfeed bench-batch` (hidden; used by scripts/bench): the batcher's work on one Lambda
//! payload in-process — payload JSON → Kinesis records → canonical events → packed
//! PutRecordBatch bodies — timed, with its output written for comparison.

use pushfeed_batcher::{handle_batch, new_invocation_id, Config, MemoryFirehose};
use std::io::Write;
use std::time::Instant;

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

pub fn bench_batch(
    payload_path: &std::path::Path,
    runs: usize,
    out_path: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    // The heap settings the batcher binary runs with (see pushfeed_batcher::runtime).
    pushfeed_batcher::runtime::keep_heap();
    let payload = std::fs::read(payload_path)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let config = Config {
        stream_prefix: "pushfeed-bench-".into(),
        ..Config::default()
    };
    let mut times = Vec::with_capacity(runs);
    let mut last = MemoryFirehose::new();
    let mut events = 0u64;
    for _ in 0..runs.max(1) {
        let sink = MemoryFirehose::new();
        let start = Instant::now();
        // As the batcher Lambda reads its payload (see pushfeed_batcher::runtime).
        let event =
            pushfeed_batcher::KinesisBatch::from_json(&payload).map_err(|e| anyhow::anyhow!(e))?;
        let report = rt.block_on(handle_batch(
            &event,
            &sink,
            &config,
            None,
            &new_invocation_id("bench"),
        ));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            report.response.batch_item_failures.is_empty(),
            "the in-memory sink never fails"
        );
        events = report.counts.events.values().sum::<u64>() + report.counts.quarantine_rows;
        last = sink;
    }
    times.sort_by(f64::total_cmp);
    // The audit record goes to its own stream; its cost is reported on its own, and the
    // output compared with the Python peers is the data alone.
    let audit_stream =
        config.stream_name(&pushfeed_core::DESTINATIONS[pushfeed_core::catalogue::audit_index()]);
    let (audit, records): (Vec<_>, Vec<_>) = last
        .take_records()
        .into_iter()
        .partition(|(stream, _)| *stream == audit_stream);
    let audit_sizes: Vec<usize> = audit.iter().map(|(_, d)| d.len()).collect();
    if let Some(path) = out_path {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (stream, data) in &records {
            let suffix = stream.strip_prefix("pushfeed-bench-").unwrap_or(stream);
            let dest = pushfeed_core::DESTINATIONS
                .iter()
                .find(|d| d.stream_suffix() == suffix)
                .map(|d| d.name)
                .unwrap_or(suffix);
            for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                f.write_all(
                    format!("{{\"dest\":{},\"line\":", serde_json::to_string(dest)?).as_bytes(),
                )?;
                f.write_all(line)?;
                f.write_all(b"}\n")?;
            }
        }
    }
    let sizes: Vec<usize> = records.iter().map(|(_, d)| d.len()).collect();
    println!(
        "{}",
        serde_json::json!({
            "ms_per_batch": times[times.len() / 2],
            "ms_min": times[0],
            "runs": times.len(),
            "payload_bytes": payload.len(),
            "events": events,
            "firehose_record_sizes": sizes,
            "audit_record_sizes": audit_sizes,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
