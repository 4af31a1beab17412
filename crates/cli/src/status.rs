//! `pushfeed status`: the state of a pipeline at a glance, for whoever is on call — of a
//! deployed environment (its stream, queues, failure records, alarms and Redshift) or of a
//! local data dir. The warehouse half is one set of queries, run on Redshift through the
//! Data API or on the embedded SQLite.

use crate::aws::{queue_depth, Clients, EndpointArgs, WarehouseArgs};
use crate::run::fmt_n;
use anyhow::Context;
use pushfeed_core::catalogue::{DestinationKind, DESTINATIONS};
use pushfeed_core::schema::LEDGER_TABLE;
use pushfeed_core::sql::{qualified, Dialect};
use pushfeed_core::timefmt::{iso, now_ms, parse_iso};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// The embedded warehouse of this data dir instead of an AWS environment.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One table: what the ledger says was loaded into it, and its newest event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableStatus {
    pub table: String,
    pub objects_loaded: u64,
    /// Lines of the objects loaded (duplicates included).
    pub lines_loaded: u64,
    pub last_load_at: Option<String>,
    pub newest_event_at: Option<String>,
    /// Minutes from the newest event to now: how stale the table is.
    pub freshness_minutes: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Status {
    /// What was looked at: a data dir, or an environment (and endpoint).
    pub target: String,
    pub generated_at: String,
    pub tables: Vec<TableStatus>,
    /// Quarantined lines ÷ all lines loaded.
    pub quarantine_ratio: Option<f64>,
    pub quarantined_lines: u64,
    /// Cells of `v_push_audit_hourly` over the last 48 hours, by status.
    pub audit_last_48h: BTreeMap<String, u64>,
    /// Objects written that no load recorded yet (a data dir: files not in the ledger).
    pub objects_waiting: Option<u64>,
    /// Messages in the loads queue and its dead-letter queue (AWS).
    pub loads_queue_depth: Option<u64>,
    pub loads_dead_lettered: Option<u64>,
    /// Batches the batcher gave up on, kept in the bucket under aws/lambda/ (AWS).
    pub batcher_failure_records: Option<u64>,
    /// Records put into the vendor stream per second over the last 15 minutes (AWS).
    pub input_records_per_s: Option<f64>,
    /// The batcher's iterator age, the latest 5-minute maximum (AWS).
    pub iterator_age_ms: Option<f64>,
    /// Alarms of this environment in state ALARM (AWS).
    pub alarms_in_alarm: Vec<String>,
}

/// The warehouse half: per-table loads and freshness, quarantine, audit.
fn warehouse_queries(d: Dialect, schema: &str, now: i64) -> [String; 3] {
    let t = |name: &str| qualified(d, schema, name);
    let ledger = format!(
        "SELECT table_name, COUNT(*), COALESCE(SUM(rows_in_object), 0), MAX(loaded_at) FROM {} GROUP BY table_name",
        t(LEDGER_TABLE)
    );
    let newest = DESTINATIONS
        .iter()
        .filter(|d| d.kind != DestinationKind::Audit)
        .map(|dest| {
            format!(
                "SELECT '{}', MAX(occurred_at) FROM {}",
                dest.table(),
                t(&dest.table())
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let since = match d {
        Dialect::Redshift => format!(
            "'{}'::timestamp",
            iso(now - 48 * 3_600_000).trim_end_matches('Z')
        ),
        Dialect::Sqlite => format!("'{}'", iso(now - 48 * 3_600_000)),
    };
    let audit = format!(
        "SELECT status, COUNT(*) FROM {} WHERE hour >= {since} GROUP BY status",
        t("v_push_audit_hourly")
    );
    [ledger, newest, audit]
}

fn number(s: &str) -> u64 {
    s.trim().parse::<f64>().map_or(0, |f| f.max(0.0) as u64)
}

/// Text NULL (the Data API's "NULL", SQLite's empty) as None; a timestamp in ISO form.
fn time_text(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("null") {
        return None;
    }
    Some(parse_iso(s).map(iso).unwrap_or_else(|_| s.to_owned()))
}

/// Fill the warehouse half of a status from the three queries' rows.
fn from_rows(
    status: &mut Status,
    ledger: &[Vec<String>],
    newest: &[Vec<String>],
    audit: &[Vec<String>],
    now: i64,
) {
    let newest: BTreeMap<&str, Option<String>> = newest
        .iter()
        .filter(|r| r.len() >= 2)
        .map(|r| (r[0].as_str(), time_text(&r[1])))
        .collect();
    let mut tables: BTreeMap<String, TableStatus> = BTreeMap::new();
    for dest in DESTINATIONS
        .iter()
        .filter(|d| d.kind != DestinationKind::Audit)
    {
        let name = dest.table();
        let newest_event_at = newest.get(name.as_str()).cloned().flatten();
        tables.insert(
            name.clone(),
            TableStatus {
                table: name,
                objects_loaded: 0,
                lines_loaded: 0,
                last_load_at: None,
                freshness_minutes: newest_event_at
                    .as_deref()
                    .and_then(|t| parse_iso(t).ok())
                    .map(|ms| (now - ms) / 60_000),
                newest_event_at,
            },
        );
    }
    let (mut all, mut quarantined) = (0u64, 0u64);
    for r in ledger.iter().filter(|r| r.len() >= 4) {
        let lines = number(&r[2]);
        let quarantine = DESTINATIONS
            .iter()
            .any(|d| d.kind == DestinationKind::Quarantine && d.table() == r[0]);
        let audit = DESTINATIONS
            .iter()
            .any(|d| d.kind == DestinationKind::Audit && d.table() == r[0]);
        if !audit {
            all += lines;
        }
        if quarantine {
            quarantined += lines;
        }
        if let Some(t) = tables.get_mut(&r[0]) {
            t.objects_loaded = number(&r[1]);
            t.lines_loaded = lines;
            t.last_load_at = time_text(&r[3]);
        }
    }
    status.tables = tables.into_values().collect();
    status.quarantined_lines = quarantined;
    status.quarantine_ratio = (all > 0).then(|| quarantined as f64 / all as f64);
    status.audit_last_48h = audit
        .iter()
        .filter(|r| r.len() >= 2)
        .map(|r| (r[0].clone(), number(&r[1])))
        .collect();
}

/// The status of a local data dir.
pub fn local(dir: &std::path::Path) -> anyhow::Result<Status> {
    let now = now_ms();
    let conn = pushfeed_loader::warehouse::sqlite::open_read_only(dir)?;
    let rows = |sql: &str| pushfeed_loader::warehouse::sqlite::query_text(&conn, sql);
    let [ledger, newest, audit] = warehouse_queries(Dialect::Sqlite, "main", now);
    let mut status = Status {
        target: format!("data dir {}", dir.display()),
        generated_at: iso(now),
        ..Status::default()
    };
    from_rows(
        &mut status,
        &rows(&ledger)?,
        &rows(&newest)?,
        &rows(&audit)?,
        now,
    );
    // Objects on disk that the ledger does not hold.
    let loaded: std::collections::HashSet<String> =
        rows(&format!("SELECT object_key FROM {LEDGER_TABLE}"))?
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect();
    let waiting = pushfeed_loader::LocalObjects::new(dir)
        .list(
            pushfeed_core::names::local::BUCKET,
            pushfeed_core::catalogue::DATA_PREFIX,
        )
        .iter()
        .filter(|o| !loaded.contains(&o.key))
        .count() as u64;
    status.objects_waiting = Some(waiting);
    Ok(status)
}

/// The status of a deployed environment (or a stack on an AWS-compatible endpoint).
pub async fn aws(args: &StatusArgs) -> anyhow::Result<Status> {
    let now = now_ms();
    let c = args.endpoint.clients().await;
    let n = args.endpoint.names();
    let mut status = Status {
        target: format!(
            "environment {} ({}{})",
            n.env,
            args.endpoint.region,
            args.endpoint
                .endpoint
                .as_deref()
                .map(|e| format!(", {e}"))
                .unwrap_or_default()
        ),
        generated_at: iso(now),
        ..Status::default()
    };
    let config = args.warehouse.loader_config(&n, "arn:aws:sns:::unused")?;
    let [ledger, newest, audit] = warehouse_queries(Dialect::Redshift, &config.schema, now);
    let mut results = Vec::new();
    for (what, sql) in [
        ("the load ledger", ledger),
        ("the newest events", newest),
        ("v_push_audit_hourly", audit),
    ] {
        results.push(
            crate::aws::redshift_query(&c, &config, sql)
                .await
                .with_context(|| format!("reading {what} from Redshift"))?,
        );
    }
    from_rows(&mut status, &results[0], &results[1], &results[2], now);
    status.loads_queue_depth = queue_depth(&c, &n.loads_queue()).await.ok();
    status.loads_dead_lettered = queue_depth(&c, &n.loads_dlq()).await.ok();
    status.batcher_failure_records = count_objects(&c, &n.bucket(), crate::replay::FAILURE_PREFIX)
        .await
        .ok();
    use aws_sdk_cloudwatch::types::Statistic;
    let metric = |namespace, name, dimension, stat, minutes| {
        metric(
            &c.cloudwatch,
            namespace,
            name,
            dimension,
            stat,
            minutes,
            now,
        )
    };
    status.input_records_per_s = metric(
        "AWS/Kinesis",
        "IncomingRecords",
        ("StreamName", n.stream()),
        Statistic::Sum,
        15,
    )
    .await
    .map(|sum| sum / 900.0);
    status.iterator_age_ms = metric(
        "AWS/Lambda",
        "IteratorAge",
        ("FunctionName", n.batcher()),
        Statistic::Maximum,
        5,
    )
    .await;
    let mut alarms = c
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("pushfeed-{}-", n.env))
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .into_paginator()
        .send();
    while let Some(page) = alarms.next().await {
        match page {
            Ok(page) => {
                let metric = page.metric_alarms().iter().filter_map(|a| a.alarm_name());
                let composite = page
                    .composite_alarms()
                    .iter()
                    .filter_map(|a| a.alarm_name());
                status
                    .alarms_in_alarm
                    .extend(metric.chain(composite).map(str::to_owned));
            }
            Err(e) => {
                status
                    .alarms_in_alarm
                    .push(format!("(cannot list alarms: {})", crate::aws::sdk(&e)));
                break;
            }
        }
    }
    Ok(status)
}

/// One CloudWatch statistic over the last `minutes`: the sum, or the largest maximum.
async fn metric(
    c: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    name: &str,
    dimension: (&str, String),
    stat: aws_sdk_cloudwatch::types::Statistic,
    minutes: i64,
    now: i64,
) -> Option<f64> {
    let out = c
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(name)
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name(dimension.0)
                .value(dimension.1)
                .build(),
        )
        .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_millis(
            now - minutes * 60_000,
        ))
        .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_millis(now))
        .period((minutes * 60) as i32)
        .statistics(stat.clone())
        .send()
        .await
        .ok()?;
    let points = out.datapoints();
    match stat {
        aws_sdk_cloudwatch::types::Statistic::Sum => {
            Some(points.iter().filter_map(|p| p.sum()).sum::<f64>())
        }
        _ => points.iter().filter_map(|p| p.maximum()).reduce(f64::max),
    }
}

async fn count_objects(c: &Clients, bucket: &str, prefix: &str) -> anyhow::Result<u64> {
    let mut pages =
        c.s3.list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
    let mut n = 0u64;
    while let Some(page) = pages.next().await {
        n += page
            .map_err(|e| {
                anyhow::anyhow!("listing s3://{bucket}/{prefix}: {}", crate::aws::sdk(&e))
            })?
            .contents()
            .len() as u64;
    }
    Ok(n)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub fn print(s: &Status, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "pushfeed status — {} at {}", s.target, s.generated_at)?;
    writeln!(
        out,
        "\n  {:<26}{:>9}{:>14}  {:<25}{:<25}{:>10}",
        "table", "objects", "lines", "last load", "newest event", "age (min)"
    )?;
    for t in s
        .tables
        .iter()
        .filter(|t| t.objects_loaded > 0 || t.newest_event_at.is_some())
    {
        writeln!(
            out,
            "  {:<26}{:>9}{:>14}  {:<25}{:<25}{:>10}",
            t.table,
            fmt_n(t.objects_loaded),
            fmt_n(t.lines_loaded),
            t.last_load_at.as_deref().unwrap_or("-"),
            t.newest_event_at.as_deref().unwrap_or("-"),
            opt(t.freshness_minutes.map(|m| fmt_n(m.max(0) as u64)))
        )?;
    }
    let empty = s
        .tables
        .iter()
        .filter(|t| t.objects_loaded == 0 && t.newest_event_at.is_none())
        .count();
    if empty > 0 {
        writeln!(out, "  ({empty} tables with nothing loaded yet)")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "  quarantine              {} lines{}",
        fmt_n(s.quarantined_lines),
        s.quarantine_ratio
            .map(|r| format!(" ({:.3} % of lines loaded)", r * 100.0))
            .unwrap_or_default()
    )?;
    let audit: Vec<String> = s
        .audit_last_48h
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(
        out,
        "  audit, last 48 h         {}",
        if audit.is_empty() {
            "no cells".to_owned()
        } else {
            audit.join(", ")
        }
    )?;
    if let Some(w) = s.objects_waiting {
        writeln!(out, "  objects not loaded yet   {}", fmt_n(w))?;
    }
    if s.loads_queue_depth.is_some() || s.loads_dead_lettered.is_some() {
        writeln!(
            out,
            "  loads queue              {} waiting, {} dead-lettered{}",
            opt(s.loads_queue_depth),
            opt(s.loads_dead_lettered),
            if s.loads_dead_lettered.unwrap_or(0) > 0 {
                " → pushfeed redrive"
            } else {
                ""
            }
        )?;
    }
    if let Some(f) = s.batcher_failure_records {
        writeln!(
            out,
            "  batcher failure records  {}{}",
            fmt_n(f),
            if f > 0 { " → pushfeed replay" } else { "" }
        )?;
    }
    if s.target.starts_with("environment") {
        writeln!(
            out,
            "  vendor stream            {} records/s (15 min), batcher iterator age {} ms",
            s.input_records_per_s
                .map_or("-".to_owned(), |r| format!("{r:.1}")),
            s.iterator_age_ms
                .map_or("-".to_owned(), |a| format!("{a:.0}"))
        )?;
        writeln!(
            out,
            "  alarms in ALARM          {}",
            if s.alarms_in_alarm.is_empty() {
                "none".to_owned()
            } else {
                s.alarms_in_alarm.join(", ")
            }
        )?;
    }
    Ok(())
}
