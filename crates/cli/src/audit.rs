//! `pushfeed audit`: counts in = counts out, hour by hour — the audit view
//! (`v_push_audit_hourly`: what the batcher had accepted by Firehose against what loads
//! found) of a data dir's embedded warehouse or a deployed environment's Redshift, with
//! the objects not loaded yet counted line by line, so "in flight" is measured, not guessed.

use crate::aws::{EndpointArgs, WarehouseArgs};
use crate::reconcile::{parse_when, ReconcileArgs};
use anyhow::Context;
use flate2::read::MultiGzDecoder;
use pushfeed_core::audit::hour_start_ms;
use pushfeed_core::keys::{KeyPatterns, Matched};
use pushfeed_core::names::local::{self as layout, BUCKET as LOCAL_BUCKET};
use pushfeed_core::sql::Dialect;
use pushfeed_core::timefmt::{iso, parse_iso};
use pushfeed_core::views::{audit_query, AUDIT_GRACE_MINUTES};
use pushfeed_loader::warehouse::sqlite::{SqliteWarehouse, LOCAL_SCHEMA};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Hours (of Kinesis arrival) from this time: ISO-8601 UTC (2026-11-27T00:00:00Z) or an age (48h, 7d).
    #[arg(long, default_value = "48h")]
    pub since: String,
    /// Audit the embedded warehouse of this data dir instead of an AWS environment.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Show only the hours that are missing data or have a surplus.
    #[arg(long)]
    pub problems: bool,
    /// Do not list and read the objects not loaded yet (faster; no in-flight count).
    #[arg(long)]
    pub no_scan: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One (hour, table) cell of the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// Start of the hour of Kinesis arrival, ISO-8601 UTC.
    pub hour: String,
    pub table: String,
    /// Lines the batcher had accepted by Firehose.
    pub sent: i64,
    /// Lines loads found in objects (rows inserted + duplicates dropped).
    pub lines_loaded: i64,
    pub rows_inserted: i64,
    pub duplicates_dropped: i64,
    /// Lines of objects in the bucket that no load has recorded yet.
    pub in_flight: i64,
    /// sent − lines loaded − in flight: lines nowhere to be found.
    pub missing: i64,
    /// balanced, in_flight, missing or surplus.
    pub status: String,
}

#[derive(Debug, Default, Serialize)]
pub struct AuditReport {
    pub since: String,
    pub grace_minutes: u32,
    pub rows: Vec<AuditRow>,
    pub sent: i64,
    pub lines_loaded: i64,
    pub rows_inserted: i64,
    pub duplicates_dropped: i64,
    pub in_flight: i64,
    pub missing: i64,
    /// Objects in the window no load recorded (scanned for the in-flight count).
    pub objects_not_loaded: Vec<String>,
    /// No cell is missing data or has a surplus.
    pub balanced: bool,
}

fn num(v: Option<&String>) -> i64 {
    v.and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(0)
}

/// A stored hour (`2026-12-01 09:00:00` from Redshift, `2026-12-01T09:00:00.000Z` from
/// SQLite) as ISO-8601 text.
fn normal_hour(text: &str) -> String {
    let t = text.trim().replace(' ', "T");
    let t = if t.ends_with('Z') { t } else { format!("{t}Z") };
    parse_iso(&t).map(iso).unwrap_or_else(|_| text.to_owned())
}

/// Rows of the view's query (`views::AUDIT_COLUMNS` order) as audit rows.
pub fn rows_from_text(rows: &[Vec<String>]) -> Vec<AuditRow> {
    rows.iter()
        .map(|r| {
            let sent = num(r.get(2));
            let lines_loaded = num(r.get(3));
            AuditRow {
                hour: normal_hour(r.first().map(String::as_str).unwrap_or("")),
                table: r.get(1).cloned().unwrap_or_default(),
                sent,
                lines_loaded,
                rows_inserted: num(r.get(4)),
                duplicates_dropped: num(r.get(5)),
                in_flight: 0,
                missing: (sent - lines_loaded).max(0),
                status: r.get(7).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// The embedded warehouse's audit rows for hours from `since_ms`.
pub fn local_rows(warehouse: &SqliteWarehouse, since_ms: i64) -> anyhow::Result<Vec<AuditRow>> {
    let sql = audit_query(Dialect::Sqlite, LOCAL_SCHEMA, since_ms, false)?;
    Ok(rows_from_text(&warehouse.query_text(&sql)?))
}

/// Lines per (table, hour of arrival) in one object's bytes.
fn count_lines(
    key: &str,
    bytes: &[u8],
    patterns: &KeyPatterns,
    into: &mut BTreeMap<(String, String), i64>,
) -> anyhow::Result<()> {
    let Matched::Table(m) = patterns.matches(key) else {
        return Ok(());
    };
    let table = m.destination.table();
    let mut text = Vec::new();
    if m.gzip {
        MultiGzDecoder::new(bytes)
            .read_to_end(&mut text)
            .with_context(|| format!("gunzip {key}"))?;
    } else {
        text.extend_from_slice(bytes);
    }
    for line in text.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let received = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| {
                v.get("received_at")
                    .and_then(|r| r.as_str())
                    .map(str::to_owned)
            })
            .and_then(|r| parse_iso(&r).ok());
        let hour = received
            .map(|ms| iso(hour_start_ms(ms)))
            .unwrap_or_default();
        *into.entry((table.clone(), hour)).or_default() += 1;
    }
    Ok(())
}

/// Objects in the window no load recorded, and their lines per (table, hour).
async fn scan_not_loaded(
    args: &AuditArgs,
) -> anyhow::Result<(Vec<String>, BTreeMap<(String, String), i64>)> {
    let r = ReconcileArgs {
        endpoint: args.endpoint.clone(),
        warehouse: args.warehouse.clone(),
        since: args.since.clone(),
        until: iso(pushfeed_core::timefmt::now_ms() + 60_000),
        dry_run: true,
        data_dir: args.data_dir.clone(),
        json: false,
    };
    let summary = crate::reconcile::reconcile(&r).await?;
    let patterns = KeyPatterns::from_catalogue();
    let mut lines = BTreeMap::new();
    let total = summary.missing.len();
    let clients = match (&args.data_dir, total) {
        (None, 1..) => Some(args.endpoint.clients().await),
        _ => None,
    };
    if total > 0 && !args.json {
        eprintln!("reading {total} object(s) no load recorded, to count their lines as in flight (--no-scan skips this)…");
    }
    for (n, location) in summary.missing.iter().enumerate() {
        if !args.json && n > 0 && n % 25 == 0 {
            eprintln!("  {n} of {total} objects read");
        }
        match &args.data_dir {
            Some(dir) => {
                let key = location
                    .strip_prefix(&format!("{LOCAL_BUCKET}/"))
                    .unwrap_or(location);
                let path = layout::object_path(dir, LOCAL_BUCKET, key);
                match std::fs::read(&path) {
                    Ok(bytes) => count_lines(key, &bytes, &patterns, &mut lines)?,
                    Err(e) => tracing::warn!(object = %path.display(), error = %e, "cannot read"),
                }
            }
            None => {
                let Some(c) = &clients else { continue };
                let rest = location.strip_prefix("s3://").unwrap_or(location);
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                let out =
                    c.s3.get_object()
                        .bucket(bucket)
                        .key(key)
                        .send()
                        .await
                        .map_err(|e| anyhow::anyhow!("reading {location}: {e:?}"))?;
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| anyhow::anyhow!("reading {location}: {e}"))?
                    .into_bytes();
                count_lines(key, &bytes, &patterns, &mut lines)?;
            }
        }
    }
    Ok((summary.missing, lines))
}

/// Fold the lines of objects not loaded yet into the rows, and total up.
pub fn finish(
    since_ms: i64,
    mut rows: Vec<AuditRow>,
    in_flight: &BTreeMap<(String, String), i64>,
    objects_not_loaded: Vec<String>,
    problems_only: bool,
) -> AuditReport {
    for r in &mut rows {
        r.in_flight = in_flight
            .get(&(r.table.clone(), r.hour.clone()))
            .copied()
            .unwrap_or(0);
        r.missing = (r.sent - r.lines_loaded - r.in_flight).max(0);
        // Past the grace period but every line accounted for by an object still to load.
        if r.status == "missing" && r.missing == 0 {
            r.status = "in_flight".into();
        }
    }
    let mut report = AuditReport {
        since: iso(since_ms),
        grace_minutes: AUDIT_GRACE_MINUTES,
        objects_not_loaded,
        ..AuditReport::default()
    };
    for r in &rows {
        report.sent += r.sent;
        report.lines_loaded += r.lines_loaded;
        report.rows_inserted += r.rows_inserted;
        report.duplicates_dropped += r.duplicates_dropped;
        report.in_flight += r.in_flight;
        if r.status == "missing" {
            report.missing += r.missing;
        }
    }
    report.balanced = rows
        .iter()
        .all(|r| r.status == "balanced" || r.status == "in_flight");
    report.rows = if problems_only {
        rows.into_iter()
            .filter(|r| r.status == "missing" || r.status == "surplus")
            .collect()
    } else {
        rows
    };
    report
}

pub async fn audit(args: &AuditArgs) -> anyhow::Result<AuditReport> {
    let now = pushfeed_core::timefmt::now_ms();
    let since_ms = hour_start_ms(parse_when(&args.since, now)?);
    let rows = match &args.data_dir {
        Some(dir) => local_rows(&SqliteWarehouse::open(dir)?, since_ms)?,
        None => {
            let c = args.endpoint.clients().await;
            let config = args
                .warehouse
                .loader_config(&args.endpoint.names(), "arn:aws:sns:::unused")?;
            let sql = audit_query(Dialect::Redshift, &config.schema, since_ms, false)?;
            rows_from_text(
                &crate::aws::redshift_query(&c, &config, sql)
                    .await
                    .context("reading v_push_audit_hourly")?,
            )
        }
    };
    let (objects, in_flight) = if args.no_scan {
        (Vec::new(), BTreeMap::new())
    } else {
        scan_not_loaded(args).await?
    };
    Ok(finish(since_ms, rows, &in_flight, objects, args.problems))
}

pub fn print(r: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
    use crate::run::fmt_n;
    let n = |v: i64| fmt_n(v.max(0) as u64);
    writeln!(
        out,
        "pushfeed audit — hours of Kinesis arrival from {} (an hour may be short for {} min after it ends)",
        r.since, r.grace_minutes
    )?;
    writeln!(
        out,
        "{:<22} {:<26} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}  status",
        "hour (UTC)", "table", "sent", "loaded", "inserted", "dups", "in flight", "missing"
    )?;
    for row in &r.rows {
        writeln!(
            out,
            "{:<22} {:<26} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}  {}",
            row.hour,
            row.table,
            n(row.sent),
            n(row.lines_loaded),
            n(row.rows_inserted),
            n(row.duplicates_dropped),
            n(row.in_flight),
            n(row.missing),
            row.status
        )?;
    }
    writeln!(
        out,
        "total: {} sent = {} loaded ({} inserted + {} duplicates dropped) + {} in flight + {} missing",
        n(r.sent),
        n(r.lines_loaded),
        n(r.rows_inserted),
        n(r.duplicates_dropped),
        n(r.in_flight),
        n(r.sent - r.lines_loaded - r.in_flight)
    )?;
    if !r.objects_not_loaded.is_empty() {
        writeln!(
            out,
            "{} object(s) not loaded yet: load them with `pushfeed reconcile --since {}` (same --env/--data-dir)",
            r.objects_not_loaded.len(),
            r.since
        )?;
    }
    let surplus = r.rows.iter().any(|x| x.status == "surplus");
    if r.missing > 0 {
        writeln!(out, "MISSING: {} events the batcher sent are neither loaded nor in an object. Check `pushfeed reconcile --dry-run --since {}` and the Firehose delivery errors (s3://…/errors/); batches the batcher gave up on are replayed with `pushfeed replay`.", n(r.missing), r.since)?;
    }
    if surplus {
        writeln!(out, "SURPLUS: more lines loaded than the batcher audited for some hours: Firehose redelivered a record, or an audit record was lost (metric AuditRecordsFailed). No data is lost; duplicates were dropped.")?;
    }
    if r.balanced && r.missing == 0 {
        writeln!(out, "counts in = counts out: OK")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_from_either_dialect_read_the_same() {
        assert_eq!(
            normal_hour("2026-12-01 09:00:00"),
            "2026-12-01T09:00:00.000Z"
        );
        assert_eq!(
            normal_hour("2026-12-01T09:00:00.000Z"),
            "2026-12-01T09:00:00.000Z"
        );
    }

    #[test]
    fn objects_not_loaded_turn_missing_into_in_flight() {
        let text = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let raw = rows_from_text(&[
            text(&[
                "2026-12-01 09:00:00",
                "push_open",
                "10",
                "4",
                "4",
                "0",
                "6",
                "missing",
            ]),
            text(&[
                "2026-12-01 09:00:00",
                "push_send",
                "10",
                "4",
                "4",
                "0",
                "6",
                "missing",
            ]),
            text(&[
                "2026-12-01 10:00:00",
                "push_send",
                "5",
                "5",
                "3",
                "2",
                "0",
                "balanced",
            ]),
        ]);
        let mut in_flight = BTreeMap::new();
        in_flight.insert(
            (
                "push_open".to_owned(),
                "2026-12-01T09:00:00.000Z".to_owned(),
            ),
            6,
        );
        in_flight.insert(
            (
                "push_send".to_owned(),
                "2026-12-01T09:00:00.000Z".to_owned(),
            ),
            2,
        );
        let r = finish(0, raw.clone(), &in_flight, vec!["k".into()], false);
        assert_eq!(r.rows[0].status, "in_flight");
        assert_eq!(
            (r.rows[1].status.as_str(), r.rows[1].missing),
            ("missing", 4)
        );
        assert_eq!(
            (r.sent, r.lines_loaded, r.in_flight, r.missing),
            (25, 13, 8, 4)
        );
        assert!(!r.balanced);
        let problems = finish(0, raw, &BTreeMap::new(), vec![], true);
        assert_eq!(
            problems.rows.len(),
            2,
            "without the scan both short cells stay missing"
        );
    }
}
