//! `pushfeed run`: the whole pipeline on one machine with the Lambdas' own handlers —
//! feed → batches (as the event source mapping makes them) → batcher handler → local
//! Firehose objects → loader handler → embedded warehouse — and a summary that proves
//! counts in = counts out.

use crate::feed::{parse_line, FeedRecord};
use anyhow::{bail, Context};
use aws_lambda_events::event::s3::S3Event;
use pushfeed_batcher::{
    handle_batch, new_invocation_id, Config as BatcherConfig, KinesisBatch, KinesisBatchRecord,
};
use pushfeed_batcher::{LocalFirehose, WrittenObject};
use pushfeed_core::catalogue::{DestinationKind, DESTINATIONS};
use pushfeed_core::keys::{KeyPatterns, Matched};
use pushfeed_core::names::local::{self as layout, BUCKET as LOCAL_BUCKET};
use pushfeed_core::BatchCounts;
use pushfeed_loader::{Loader, ObjectResult};
use pushfeed_loader::{LocalObjects, SqliteWarehouse};
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
    pub drills: Drills,
    /// When a feed record carries no Kinesis arrival time: the arrival of record `i` is
    /// `base_ms + i × step_ms`. Deterministic, so that running the same input again is a
    /// redelivery (same `received_at`: the loader's dedup window finds the first copy),
    /// not new arrivals.
    pub arrival: Arrival,
}

#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub base_ms: i64,
    pub step_ms: f64,
}

/// Faults to inject, to watch the audit catch them: (destination, n), 1-based.
#[derive(Debug, Clone, Default)]
pub struct Drills {
    /// Firehose acknowledges the n-th record sent to the destination's stream and loses it.
    pub lose_record: Option<(String, usize)>,
    /// The n-th object written under the destination's prefix is deleted before loading.
    pub delete_object: Option<(String, usize)>,
    /// The loader never hears of the n-th object of the destination (a lost notification).
    pub skip_load: Option<(String, usize)>,
}

/// `TYPE[:N]` for a drill flag: a catalogue destination and which one (default 1).
pub fn parse_drill(text: &str) -> Result<(String, usize), String> {
    let (name, n) = text.split_once(':').unwrap_or((text, "1"));
    let n: usize = n
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{n}' is not a positive number (use TYPE or TYPE:N)"))?;
    match pushfeed_core::catalogue::destination(name) {
        Some(d) if d.takes_input() => Ok((name.to_owned(), n)),
        _ => Err(format!(
            "'{name}' is not a destination the batcher writes (see `pushfeed catalogue`)"
        )),
    }
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
    /// Lines the batcher's audit records say Firehose accepted (this run).
    pub lines_audited: u64,
    /// Audit records (push_audit rows) loaded.
    pub audit_records_loaded: u64,
    /// The audit view over the hours this run touched.
    pub audit_since: String,
    pub audit_cells: u64,
    pub audit_sent: i64,
    pub audit_rows_inserted: i64,
    pub audit_duplicates_dropped: i64,
    /// Cells of the audit view that do not balance.
    pub unbalanced: Vec<crate::audit::AuditRow>,
    /// Lines thrown away by drills (lost Firehose record, deleted object).
    pub drill_lost_lines: u64,
    pub drill_deleted_lines: u64,
    pub drill_unloaded_lines: u64,
    /// counts in = counts out: every cell of the audit view balances.
    pub balanced: bool,
    pub elapsed_s: f64,
    pub events_per_s: f64,
    /// Seconds the loads spent in each step, summed over the run: on the loader's thread,
    /// which runs beside the batching.
    pub load_step_seconds: BTreeMap<String, f64>,
    pub data_dir: String,
}

/// Build a Lambda Kinesis event for a batch, the way the event source mapping does; the
/// records' bytes move into it (the batch is left empty).
fn kinesis_event(batch: &mut Vec<FeedRecord>, first_seq: u64, arrival: Arrival) -> KinesisBatch {
    let records = batch
        .drain(..)
        .enumerate()
        .map(|(i, r)| {
            let n = first_seq + i as u64;
            let seq = r.sequence_number.unwrap_or_else(|| sequence_number(n));
            KinesisBatchRecord::new(
                "shardId-000000000000",
                &seq,
                r.data,
                r.arrival_ms
                    .unwrap_or_else(|| arrival.base_ms + (n as f64 * arrival.step_ms) as i64),
            )
        })
        .collect();
    KinesisBatch { records }
}

/// A generated record's sequence number: `n` in 56 digits, zero-padded (Kinesis's are
/// 56-digit decimals); what `format!("{n:056}")` writes, without a formatter call per digit.
fn sequence_number(mut n: u64) -> String {
    let mut digits = [b'0'; 56];
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    digits.iter().map(|&d| d as char).collect()
}

/// An S3 ObjectCreated event for one object, as S3 would send it (key URL-encoded).
pub fn s3_event(
    bucket: &str,
    key: &str,
    size: u64,
    etag: &str,
    created_ms: i64,
) -> anyhow::Result<S3Event> {
    Ok(pushfeed_loader::sample::s3_event(
        bucket,
        &[pushfeed_loader::sample::Created { key, size, etag }],
        created_ms,
    )?)
}

/// What the loader thread did, merged into the summary at the end.
#[derive(Debug, Default)]
struct Loaded {
    rows_loaded: BTreeMap<String, u64>,
    audit_records_loaded: u64,
    duplicates_dropped: u64,
    duplicate_objects: u64,
    load_failures: u64,
    objects: u64,
    alerts: Vec<String>,
    drill_deleted_lines: u64,
    drill_unloaded_lines: u64,
}

/// Counters the loader thread keeps for the progress lines.
#[derive(Default)]
struct LoadProgress {
    rows: std::sync::atomic::AtomicU64,
    objects: std::sync::atomic::AtomicU64,
    /// Set when every object has been written: from then on the loader reports.
    batching_done: std::sync::atomic::AtomicBool,
}

/// The S3 trigger: one loader invocation per new object, in the order they were written,
/// while the batcher goes on writing (as on AWS). The drills that act on objects act here.
fn load_objects(
    objects: std::sync::mpsc::Receiver<WrittenObject>,
    loader: &Loader<'_, SqliteWarehouse, pushfeed_loader::MemoryNotifier, LocalObjects>,
    opts: &RunOptions,
    progress: &LoadProgress,
    total_objects: &std::sync::atomic::AtomicU64,
) -> anyhow::Result<Loaded> {
    use std::sync::atomic::Ordering::Relaxed;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let audit_table = DESTINATIONS[pushfeed_core::catalogue::audit_index()].table();
    let mut out = Loaded::default();
    let mut delete = DrillCounter::new(opts.drills.delete_object.as_ref());
    let mut skip = DrillCounter::new(opts.drills.skip_load.as_ref());
    let started = Instant::now();
    let mut last_report = Instant::now();
    // Each object as it arrives: the drills act on it at once (before anything reads it),
    // and it is skipped or kept for loading.
    let mut arrive =
        |obj: WrittenObject, out: &mut Loaded| -> anyhow::Result<Option<WrittenObject>> {
            if delete.hits(&obj.key) {
                let path = layout::object_path(&opts.data_dir, LOCAL_BUCKET, &obj.key);
                out.drill_deleted_lines = object_lines(&path)?;
                std::fs::remove_file(&path)?;
                out.alerts
                    .push(format!("drill: deleted {} before loading", obj.key));
            }
            if skip.hits(&obj.key) {
                let path = layout::object_path(&opts.data_dir, LOCAL_BUCKET, &obj.key);
                out.drill_unloaded_lines = object_lines(&path)?;
                out.alerts.push(format!(
                    "drill: {} was never loaded (its notification lost)",
                    obj.key
                ));
                return Ok(None);
            }
            Ok(Some(obj))
        };
    let mut next: Option<WrittenObject> = None;
    loop {
        let obj = match next.take() {
            Some(o) => o,
            None => match objects.recv() {
                Ok(o) => {
                    out.objects += 1;
                    match arrive(o, &mut out)? {
                        Some(o) => o,
                        None => continue,
                    }
                }
                Err(_) => break,
            },
        };
        // The object after this one, if already written, is read and parsed while this one
        // loads (SqliteWarehouse::read_ahead).
        while next.is_none() {
            let Ok(o) = objects.try_recv() else { break };
            out.objects += 1;
            next = arrive(o, &mut out)?;
        }
        if let Some(n) = &next {
            if let Matched::Table(hit) = loader.patterns.matches(&n.key) {
                let o = pushfeed_core::load::ObjectRef {
                    bucket: LOCAL_BUCKET.into(),
                    key: n.key.clone(),
                    etag: n.etag.clone(),
                    size: n.size,
                };
                loader.warehouse.read_ahead(hit.destination, &o, hit.gzip);
            }
        }
        if opts.progress
            && progress.batching_done.load(Relaxed)
            && last_report.elapsed().as_secs_f64() >= 2.0
        {
            last_report = Instant::now();
            let rows = progress.rows.load(Relaxed);
            eprintln!(
                "  loaded {} of {} objects, {} rows, {:.0} rows/s",
                fmt_n(out.objects),
                fmt_n(total_objects.load(Relaxed)),
                fmt_n(rows),
                rows as f64 / started.elapsed().as_secs_f64()
            );
        }
        progress.objects.store(out.objects, Relaxed);
        let event = s3_event(LOCAL_BUCKET, &obj.key, obj.size, &obj.etag, obj.created_ms)?;
        let report = rt.block_on(loader.handle(&event, pushfeed_core::timefmt::now_ms(), None));
        for result in report.objects {
            match result {
                ObjectResult::Loaded { table, rows, .. } if table == audit_table => {
                    out.audit_records_loaded += rows
                }
                ObjectResult::Loaded {
                    table,
                    rows,
                    rows_in_object,
                    ..
                } => {
                    *out.rows_loaded.entry(table).or_default() += rows;
                    progress.rows.fetch_add(rows, Relaxed);
                    let in_object = rows_in_object.unwrap_or(rows);
                    out.duplicates_dropped += in_object - rows.min(in_object);
                }
                ObjectResult::Empty { .. } => {}
                ObjectResult::Duplicate { .. } => out.duplicate_objects += 1,
                ObjectResult::Unmatched { key, why } => {
                    out.alerts.push(format!("unmatched key {key}: {why}"))
                }
                ObjectResult::Failed { key, error, .. } => {
                    out.load_failures += 1;
                    out.alerts.push(format!("load failed for {key}: {error}"));
                }
            }
        }
    }
    Ok(out)
}

/// A drill's object: the `nth` (1-based) object written for a destination.
struct DrillCounter {
    prefix: Option<String>,
    left: usize,
}

impl DrillCounter {
    fn new(drill: Option<&(String, usize)>) -> Self {
        let prefix = drill.and_then(|(destination, _)| {
            pushfeed_core::catalogue::destination(destination).map(|d| d.s3_prefix())
        });
        DrillCounter {
            prefix,
            left: drill.map_or(0, |(_, nth)| (*nth).max(1)),
        }
    }

    /// Whether this object is the drill's.
    fn hits(&mut self, key: &str) -> bool {
        match &self.prefix {
            Some(p) if self.left > 0 && key.starts_with(p.as_str()) => {
                self.left -= 1;
                self.left == 0
            }
            _ => false,
        }
    }
}

/// Lines in a gzip object.
fn object_lines(path: &std::path::Path) -> anyhow::Result<u64> {
    let mut text = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        ),
        &mut text,
    )?;
    Ok(text.iter().filter(|b| **b == b'\n').count() as u64)
}

/// Run the pipeline over `input` (one record per line).
pub fn run(
    input: &mut dyn BufRead,
    total_hint: Option<u64>,
    opts: &RunOptions,
) -> anyhow::Result<Summary> {
    use std::sync::atomic::Ordering::Relaxed;
    let started = Instant::now();
    let _lock = pushfeed_loader::warehouse::sqlite::lock_data_dir(&opts.data_dir, "pushfeed run")?;
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
    if let Some((destination, nth)) = &opts.drills.lose_record {
        firehose.lose_record(destination, *nth);
    }
    let mut first_hour: Option<i64> = None;
    let warehouse = SqliteWarehouse::open(&opts.data_dir)?;
    let notifier = pushfeed_loader::MemoryNotifier::new();
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

    let flush_batch = |batch: &mut Vec<FeedRecord>,
                       summary: &mut Summary,
                       counts: &mut BatchCounts,
                       seq: &mut u64,
                       first_hour: &mut Option<i64>|
     -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let records = batch.len() as u64;
        let event = kinesis_event(batch, *seq, opts.arrival);
        *seq += records;
        let report = rt.block_on(handle_batch(
            &event,
            &firehose,
            &batcher_config,
            None,
            &new_invocation_id("local"),
        ));
        if !report.response.batch_item_failures.is_empty() {
            bail!("the local Firehose refused {} records (see the log above); nothing was acknowledged", report.response.batch_item_failures.len());
        }
        counts.merge(&report.counts);
        summary.lines_audited += report.audit.lines();
        if report.audit_records_failed > 0 {
            bail!("the local Firehose refused an audit record");
        }
        if let Some(h) = report.audit.cells.keys().map(|(_, h)| *h).min() {
            *first_hour = Some(first_hour.map_or(h, |f: i64| f.min(h)));
        }
        summary.kinesis_batches += 1;
        summary.firehose_records += report.firehose_records_sent;
        Ok(())
    };

    // Objects go to the loader thread as they are written (S3's notifications); a bounded
    // queue, so a slow warehouse holds the batcher back instead of piling objects up.
    let (to_loader, written) = std::sync::mpsc::sync_channel::<WrittenObject>(64);
    let progress = LoadProgress::default();
    let objects_written = std::sync::atomic::AtomicU64::new(0);
    // S3's notifications: every object written so far goes to the loader thread.
    let counted = &objects_written;
    let notify = move |objects: Vec<WrittenObject>| {
        for o in objects {
            counted.fetch_add(1, Relaxed);
            // The loader thread stops early only on an error, which its join reports.
            let _ = to_loader.send(o);
        }
    };
    let (batched, loaded) = std::thread::scope(|scope| {
        let loading =
            scope.spawn(|| load_objects(written, &loader, opts, &progress, &objects_written));
        let batched = (|| -> anyhow::Result<()> {
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
                    flush_batch(
                        &mut batch,
                        &mut summary,
                        &mut counts,
                        &mut seq,
                        &mut first_hour,
                    )?;
                    notify(
                        firehose
                            .take_written()
                            .map_err(|e| anyhow::anyhow!("{e}"))?,
                    );
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
                        "  read {} records{pct}, {:.0} records/s; loaded {} rows",
                        fmt_n(done),
                        done as f64 / started.elapsed().as_secs_f64(),
                        fmt_n(progress.rows.load(Relaxed)),
                    );
                }
            }
            flush_batch(
                &mut batch,
                &mut summary,
                &mut counts,
                &mut seq,
                &mut first_hour,
            )?;
            notify(firehose.finish().map_err(|e| anyhow::anyhow!("{e}"))?);
            Ok(())
        })();
        drop(notify); // the loader thread sees the end of the objects
        if batched.is_ok() && opts.progress {
            eprintln!(
                "  batched {} records into {} objects; loading the last {}…",
                fmt_n(counts.records_in),
                fmt_n(objects_written.load(Relaxed)),
                fmt_n(objects_written.load(Relaxed) - progress.objects.load(Relaxed)),
            );
        }
        progress.batching_done.store(true, Relaxed);
        let loaded = loading
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the loader thread panicked")));
        (batched, loaded)
    });
    batched?;
    let loaded = loaded?;
    summary.rows_loaded = loaded.rows_loaded;
    summary.audit_records_loaded = loaded.audit_records_loaded;
    summary.duplicates_dropped = loaded.duplicates_dropped;
    summary.duplicate_objects = loaded.duplicate_objects;
    summary.load_failures = loaded.load_failures;
    summary.alerts.extend(loaded.alerts);
    summary.drill_deleted_lines = loaded.drill_deleted_lines;
    summary.drill_unloaded_lines = loaded.drill_unloaded_lines;
    for (subject, _) in &notifier.alerts() {
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
            DestinationKind::Quarantine | DestinationKind::Audit => {}
        }
    }
    summary.quarantined = counts
        .quarantined
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    summary.quarantine_rows = counts.quarantine_rows;
    summary.lines_written = counts.events.values().sum::<u64>() + counts.quarantine_rows;
    summary.objects_written = objects_written.load(Relaxed);
    summary.drill_lost_lines = firehose
        .lost_lines
        .load(std::sync::atomic::Ordering::Relaxed);
    // The balance is the audit view's: what the batcher's audit records say was sent,
    // against what the loads' audit rows say they found, hour by hour.
    if let Some(since) = first_hour {
        let rows = crate::audit::local_rows(&warehouse, since)?;
        summary.audit_since = pushfeed_core::timefmt::iso(since);
        summary.audit_cells = rows.len() as u64;
        for r in &rows {
            summary.audit_sent += r.sent;
            summary.audit_rows_inserted += r.rows_inserted;
            summary.audit_duplicates_dropped += r.duplicates_dropped;
        }
        summary.unbalanced = rows
            .into_iter()
            .filter(|r| r.sent != r.lines_loaded)
            .collect();
    }
    summary.balanced = summary.load_failures == 0
        && summary.unbalanced.is_empty()
        && summary.lines_audited == summary.lines_written;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.load_step_seconds = warehouse
        .step_seconds()
        .into_iter()
        .map(|(step, secs)| (step.to_owned(), (secs * 1000.0).round() / 1000.0))
        .collect();
    let events: u64 = counts.events.values().sum();
    summary.events_per_s = events as f64 / summary.elapsed_s.max(1e-9);
    Ok(summary)
}

pub fn fmt_n(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
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
    if s.drill_lost_lines > 0 {
        writeln!(
            out,
            "  drill: Firehose lost one record ({} lines)",
            fmt_n(s.drill_lost_lines)
        )?;
    }
    if s.drill_deleted_lines > 0 {
        writeln!(
            out,
            "  drill: one object deleted before loading ({} lines)",
            fmt_n(s.drill_deleted_lines)
        )?;
    }
    for r in &s.unbalanced {
        writeln!(
            out,
            "  UNBALANCED {} {}: {} lines sent, {} loaded ({} short) — {}",
            r.hour,
            r.table,
            fmt_n(r.sent.max(0) as u64),
            fmt_n(r.lines_loaded.max(0) as u64),
            r.sent - r.lines_loaded,
            r.status
        )?;
    }
    let n = |v: i64| fmt_n(v.max(0) as u64);
    writeln!(
        out,
        "  counts in = counts out (v_push_audit_hourly, {} hour × table cells from {}): {} lines sent = {} rows loaded + {} duplicates dropped  {}",
        s.audit_cells,
        if s.audit_since.is_empty() { "-" } else { &s.audit_since },
        n(s.audit_sent),
        n(s.audit_rows_inserted),
        n(s.audit_duplicates_dropped),
        if s.balanced { "OK" } else { "MISMATCH" }
    )?;
    writeln!(
        out,
        "  {:.1} s, {} events/s",
        s.elapsed_s,
        fmt_n(s.events_per_s as u64)
    )?;
    let mut steps: Vec<_> = s
        .load_step_seconds
        .iter()
        .filter(|(_, v)| **v >= 0.05)
        .collect();
    steps.sort_by(|a, b| b.1.total_cmp(a.1));
    if !steps.is_empty() {
        writeln!(
            out,
            "  loading (on its own thread, beside the batching): {}",
            steps
                .iter()
                .map(|(k, v)| format!("{k} {v:.1} s"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    let dir = std::path::Path::new(&s.data_dir);
    let dd = if dir == std::path::Path::new("pushfeed-data") {
        String::new()
    } else {
        format!(" --data-dir {}", s.data_dir)
    };
    writeln!(
        out,
        "\nThe warehouse is {} (SQLite: any SQLite client or ODBC driver reads it). Next:\n  \
         pushfeed sql{dd} \"SELECT * FROM v_push_funnel_daily LIMIT 20\"\n  \
         pushfeed export{dd} v_push_preferred_time            # CSV for SAS, Power BI, a spreadsheet\n  \
         pushfeed report{dd} --output report.html             # charts, offline\n  \
         pushfeed audit{dd} --since 7d                        # counts in = counts out, hour by hour",
        pushfeed_core::names::local::warehouse_path(dir).display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_are_56_digits_as_format_writes_them() {
        for n in [0, 1, 9, 10, 12_345, 1 << 40, u64::MAX - 1, u64::MAX] {
            assert_eq!(sequence_number(n), format!("{n:056}"), "{n}");
        }
    }
}
