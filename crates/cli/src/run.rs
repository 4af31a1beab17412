//! `pushfeed run`: the whole pipeline on one machine with the Lambdas' own handlers —
//! feed → batches (as the event source mapping makes them) → batcher handler → local
//! Firehose objects → loader handler → embedded warehouse — and a summary that proves
//! counts in = counts out.

use crate::feed::{parse_line, FeedRecord};
use crate::local::{
    CollectingNotifier, LocalFirehose, LocalObjects, SqliteWarehouse, WrittenObject, LOCAL_BUCKET,
};
use anyhow::{bail, Context};
use aws_lambda_events::event::s3::S3Event;
use pushfeed_batcher::{handle_batch, Config as BatcherConfig, KinesisBatch, KinesisBatchRecord};
use pushfeed_core::catalogue::{DestinationKind, DESTINATIONS};
use pushfeed_core::keys::{encode_event_key, KeyPatterns};
use pushfeed_core::BatchCounts;
use pushfeed_loader::{Loader, ObjectResult};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Lambda's synchronous payload limit, which bounds a Kinesis batch.
pub const LAMBDA_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// Per-record envelope in the Lambda payload (JSON keys, ids, timestamps), measured.
const ENVELOPE_BYTES: usize = 420;

pub struct RunOptions {
    pub data_dir: PathBuf,
    pub batch_size: usize,
    pub buffer_bytes: usize,
    pub progress: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub records_read: u64,
    /// Canonical type → events routed to its table.
    pub routed: BTreeMap<String, u64>,
    pub unknown_type: u64,
    /// Reason → quarantine entries.
    pub quarantined: BTreeMap<String, u64>,
    /// Quarantine rows written (large entries span several rows).
    pub quarantine_rows: u64,
    /// Lines (rows) written into objects.
    pub lines_written: u64,
    pub duplicates_dropped: u64,
    pub objects_written: u64,
    pub duplicate_objects: u64,
    /// Table → rows inserted.
    pub rows_loaded: BTreeMap<String, u64>,
    pub load_failures: u64,
    pub alerts: Vec<String>,
    pub kinesis_batches: u64,
    pub firehose_records: u64,
    /// counts in = counts out.
    pub balanced: bool,
    pub elapsed_s: f64,
    pub events_per_s: f64,
    pub data_dir: String,
}

/// Build a Lambda Kinesis event for a batch, the way the event source mapping does.
fn kinesis_event(batch: &[FeedRecord], first_seq: u64, now_ms: i64) -> KinesisBatch {
    let records = batch
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let seq = r
                .sequence_number
                .clone()
                .unwrap_or_else(|| format!("{:056}", first_seq + i as u64));
            KinesisBatchRecord::new(
                "shardId-000000000000",
                &seq,
                r.data.clone(),
                r.arrival_ms.unwrap_or(now_ms),
            )
        })
        .collect();
    KinesisBatch { records }
}

/// An S3 ObjectCreated event for one object, as S3 would send it (key URL-encoded).
pub fn s3_event(
    bucket: &str,
    key: &str,
    size: u64,
    etag: &str,
    created_ms: i64,
) -> anyhow::Result<S3Event> {
    let json = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "local", "eventName": "ObjectCreated:Put",
        "eventTime": pushfeed_core::timefmt::iso(created_ms),
        "userIdentity": {"principalId": "local"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "pushfeed-loader",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "local"}, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": encode_event_key(key), "size": size, "eTag": etag, "sequencer": "0"}}}]});
    Ok(serde_json::from_value(json)?)
}

/// Run the pipeline over `input` (one record per line).
pub fn run(
    input: &mut dyn BufRead,
    total_hint: Option<u64>,
    opts: &RunOptions,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let batcher_config = BatcherConfig {
        stream_prefix: "pushfeed-local-".into(),
        ..BatcherConfig::default()
    };
    let firehose = LocalFirehose::new(
        &opts.data_dir,
        &batcher_config.stream_prefix,
        opts.buffer_bytes,
    );
    let warehouse = SqliteWarehouse::open(&opts.data_dir)?;
    let notifier = CollectingNotifier::default();
    let patterns = KeyPatterns::from_catalogue();
    let objects_store = LocalObjects::new(&opts.data_dir);
    let loader = Loader {
        warehouse: &warehouse,
        notifier: &notifier,
        patterns: &patterns,
        objects: &objects_store,
    };

    let mut counts = BatchCounts::default();
    let mut summary = Summary {
        data_dir: opts.data_dir.display().to_string(),
        ..Summary::default()
    };
    let mut batch: Vec<FeedRecord> = Vec::with_capacity(opts.batch_size);
    let mut payload = 0usize;
    let mut line = Vec::new();
    let mut seq = 0u64;
    let mut last_report = Instant::now();
    let now_ms = crate::local::now_ms();

    let mut objects: Vec<WrittenObject> = Vec::new();
    let flush_batch = |batch: &mut Vec<FeedRecord>,
                       summary: &mut Summary,
                       counts: &mut BatchCounts,
                       seq: &mut u64|
     -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let event = kinesis_event(batch, *seq, now_ms);
        *seq += batch.len() as u64;
        let report = rt.block_on(handle_batch(&event, &firehose, &batcher_config, None));
        if !report.response.batch_item_failures.is_empty() {
            bail!("the local Firehose refused {} records (see the log above); nothing was acknowledged", report.response.batch_item_failures.len());
        }
        counts.merge(&report.counts);
        summary.kinesis_batches += 1;
        summary.firehose_records += report.firehose_records_sent;
        batch.clear();
        Ok(())
    };

    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .context("reading the feed")?;
        if n == 0 {
            break;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        if body.is_empty() {
            continue; // a blank line separates nothing: it is not a record
        }
        let rec = parse_line(body);
        let size = rec.data.len().div_ceil(3) * 4 + ENVELOPE_BYTES;
        if !batch.is_empty()
            && (batch.len() >= opts.batch_size || payload + size > LAMBDA_PAYLOAD_BYTES)
        {
            flush_batch(&mut batch, &mut summary, &mut counts, &mut seq)?;
            payload = 0;
        }
        payload += size;
        batch.push(rec);
        if opts.progress && last_report.elapsed().as_secs_f64() >= 2.0 {
            last_report = Instant::now();
            let done = seq + batch.len() as u64;
            let pct = total_hint
                .map(|t| {
                    format!(
                        " (~{:.0}%)",
                        (100.0 * done as f64 / t.max(1) as f64).min(99.0)
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "  read {} records{pct}, {:.0} records/s",
                fmt_n(done),
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    flush_batch(&mut batch, &mut summary, &mut counts, &mut seq)?;
    objects.extend(firehose.finish().map_err(|e| anyhow::anyhow!("{e}"))?);
    if opts.progress {
        eprintln!(
            "  batched {} records into {} objects; loading…",
            fmt_n(counts.records_in),
            objects.len()
        );
    }

    // The S3 trigger: one loader invocation per new object.
    let mut lines_in_loaded = 0u64;
    for obj in &objects {
        let event = s3_event(LOCAL_BUCKET, &obj.key, obj.size, &obj.etag, obj.created_ms)?;
        let report = rt.block_on(loader.handle(&event, crate::local::now_ms(), None));
        for result in report.objects {
            match result {
                ObjectResult::Loaded {
                    table,
                    rows,
                    rows_in_object,
                    ..
                } => {
                    *summary.rows_loaded.entry(table).or_default() += rows;
                    let in_object = rows_in_object.unwrap_or(rows);
                    lines_in_loaded += in_object;
                    summary.duplicates_dropped += in_object - rows.min(in_object);
                }
                ObjectResult::Empty { .. } => {}
                ObjectResult::Duplicate { .. } => summary.duplicate_objects += 1,
                ObjectResult::Unmatched { key, why } => {
                    summary.alerts.push(format!("unmatched key {key}: {why}"))
                }
                ObjectResult::Failed { key, error, .. } => {
                    summary.load_failures += 1;
                    summary
                        .alerts
                        .push(format!("load failed for {key}: {error}"));
                }
            }
        }
    }
    for (subject, _) in notifier
        .alerts
        .lock()
        .map_err(|_| anyhow::anyhow!("lock poisoned"))?
        .iter()
    {
        if !summary.alerts.iter().any(|a| a.contains(subject.as_str())) {
            summary.alerts.push(subject.clone());
        }
    }

    summary.records_read = counts.records_in;
    for d in DESTINATIONS {
        let n = counts.events.get(d.name).copied().unwrap_or(0);
        match d.kind {
            DestinationKind::Event => {
                summary.routed.insert(d.name.to_owned(), n);
            }
            DestinationKind::UnknownType => summary.unknown_type = n,
            DestinationKind::Quarantine => {}
        }
    }
    summary.quarantined = counts
        .quarantined
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    summary.quarantine_rows = counts.quarantine_rows;
    summary.lines_written = counts.events.values().sum::<u64>() + counts.quarantine_rows;
    summary.objects_written = objects.len() as u64;
    let rows: u64 = summary.rows_loaded.values().sum();
    summary.balanced = summary.load_failures == 0
        && lines_in_loaded == summary.lines_written
        && rows + summary.duplicates_dropped == summary.lines_written;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    let events: u64 = counts.events.values().sum();
    summary.events_per_s = events as f64 / summary.elapsed_s.max(1e-9);
    Ok(summary)
}

pub fn fmt_n(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The human summary.
pub fn print_summary(s: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    let row =
        |out: &mut dyn Write, label: &str, n: u64| writeln!(out, "  {label:<34}{:>14}", fmt_n(n));
    writeln!(out, "\npushfeed run — summary ({})", s.data_dir)?;
    row(out, "records read", s.records_read)?;
    row(out, "events routed", s.routed.values().sum())?;
    for (t, n) in s.routed.iter().filter(|(_, n)| **n > 0) {
        row(out, &format!("  {t}"), *n)?;
    }
    row(out, "unknown type (push_unknown_type)", s.unknown_type)?;
    row(out, "quarantined entries", s.quarantined.values().sum())?;
    for (r, n) in &s.quarantined {
        row(out, &format!("  {r}"), *n)?;
    }
    row(out, "lines written to objects", s.lines_written)?;
    row(out, "objects written", s.objects_written)?;
    row(out, "rows loaded", s.rows_loaded.values().sum())?;
    for (t, n) in s.rows_loaded.iter().filter(|(_, n)| **n > 0) {
        row(out, &format!("  {t}"), *n)?;
    }
    row(
        out,
        "duplicates dropped (already loaded)",
        s.duplicates_dropped,
    )?;
    if s.duplicate_objects > 0 {
        row(out, "objects already in the ledger", s.duplicate_objects)?;
    }
    for a in &s.alerts {
        writeln!(out, "  ALERT: {a}")?;
    }
    let rows: u64 = s.rows_loaded.values().sum();
    writeln!(
        out,
        "  counts in = counts out: {} lines written = {} rows loaded + {} duplicates dropped  {}",
        fmt_n(s.lines_written),
        fmt_n(rows),
        fmt_n(s.duplicates_dropped),
        if s.balanced { "OK" } else { "MISMATCH" }
    )?;
    writeln!(
        out,
        "  {:.1} s, {} events/s",
        s.elapsed_s,
        fmt_n(s.events_per_s as u64)
    )?;
    Ok(())
}
