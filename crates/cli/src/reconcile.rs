//! `pushfeed reconcile`: the safety net under S3's notifications. S3 delivers them at least
//! once, usually in seconds — but a notification can still be lost on our side (a trigger
//! disabled during a change, a queue message that expired). List the objects under the
//! data prefix created in a window, compare them with the load ledger, and re-drive every
//! object the ledger does not hold: onto the loads queue (AWS or an AWS-compatible
//! endpoint), or straight into the embedded warehouse (a data dir).

use crate::aws::{EndpointArgs, WarehouseArgs};
use anyhow::{bail, Context};
use pushfeed_core::catalogue::DATA_PREFIX;
use pushfeed_core::load::ledger_listing;
use pushfeed_core::sql::Dialect;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Clone, Debug)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Objects created from this time: ISO-8601 UTC (2026-12-01T00:00:00Z) or an age (24h, 90m, 7d).
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// … until this time (default: 15 minutes ago, so objects still in flight are not counted missing).
    #[arg(long, default_value = "15m")]
    pub until: String,
    /// Compare only: re-drive nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Reconcile the embedded warehouse of this data dir instead of an AWS environment.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct ReconcileSummary {
    pub since: String,
    pub until: String,
    pub objects_listed: u64,
    pub in_ledger: u64,
    /// Objects created in the window that no load recorded: bucket/key.
    pub missing: Vec<String>,
    /// Missing objects re-driven (queued, or loaded locally).
    pub redriven: u64,
}

/// A time argument: ISO-8601, or an age before now (`15m`, `24h`, `7d`).
pub fn parse_when(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    let t = text.trim();
    if let Some(unit) = t.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        if let Ok(n) = t[..t.len() - 1].parse::<i64>() {
            let ms = match unit {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => bail!("{t:?}: an age ends in s, m, h or d (e.g. 24h)"),
            };
            return Ok(now_ms - n * ms);
        }
    }
    pushfeed_core::timefmt::parse_iso(t).map_err(|e| {
        anyhow::anyhow!(
            "{t:?} is neither an ISO-8601 time (2026-12-01T00:00:00Z) nor an age (24h): {}",
            e.0
        )
    })
}

/// The Redshift/SQLite timestamp text of a time: `YYYY-MM-DD HH:MM:SS`.
fn sql_time(ms: i64) -> String {
    pushfeed_core::timefmt::iso(ms)[..19].replace('T', " ")
}

pub async fn reconcile(args: &ReconcileArgs) -> anyhow::Result<ReconcileSummary> {
    let now = pushfeed_core::timefmt::now_ms();
    let since = parse_when(&args.since, now)?;
    let until = parse_when(&args.until, now)?;
    if until <= since {
        bail!(
            "--until ({}) is not after --since ({})",
            args.until,
            args.since
        );
    }
    let mut summary = ReconcileSummary {
        since: pushfeed_core::timefmt::iso(since),
        until: pushfeed_core::timefmt::iso(until),
        ..ReconcileSummary::default()
    };
    match &args.data_dir {
        Some(dir) => reconcile_local(dir, since, until, args.dry_run, &mut summary).await?,
        None => reconcile_aws(args, since, until, &mut summary).await?,
    }
    Ok(summary)
}

/// A listed object: key, ETag, size, created (ms).
type Listed = (String, String, i64, i64);

/// The listed objects the ledger does not hold, recorded in the summary.
fn compare<'a>(
    listed: &'a [Listed],
    loaded: &HashSet<(String, String)>,
    location: &str,
    summary: &mut ReconcileSummary,
) -> Vec<&'a Listed> {
    let missing: Vec<_> = listed
        .iter()
        .filter(|(k, e, _, _)| !loaded.contains(&(k.clone(), e.clone())))
        .collect();
    summary.in_ledger = (listed.len() - missing.len()) as u64;
    summary.missing = missing
        .iter()
        .map(|(k, _, _, _)| format!("{location}/{k}"))
        .collect();
    missing
}

async fn reconcile_aws(
    args: &ReconcileArgs,
    since: i64,
    until: i64,
    summary: &mut ReconcileSummary,
) -> anyhow::Result<()> {
    let c = args.endpoint.clients().await;
    let n = args.endpoint.names();
    let bucket = n.bucket();
    // 1. What S3 holds.
    let mut listed: Vec<Listed> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out =
            c.s3.list_objects_v2()
                .bucket(&bucket)
                .prefix(DATA_PREFIX)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("listing s3://{bucket}/{DATA_PREFIX}: {e:?}"))?;
        for o in out.contents() {
            let created = o.last_modified().map(|t| t.secs() * 1000).unwrap_or(0);
            if created >= since && created < until {
                listed.push((
                    o.key().unwrap_or_default().to_owned(),
                    o.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
                    o.size().unwrap_or(0),
                    created,
                ));
            }
        }
        token = out.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    summary.objects_listed = listed.len() as u64;
    // 2. What the ledger holds (loaded at or after the window's start).
    let config = args.warehouse.loader_config(&n, "arn:aws:sns:::unused")?;
    let sql = ledger_listing(Dialect::Redshift, &config.schema, &bucket, &sql_time(since))?;
    let rows = crate::aws::redshift_query(&c, &config, sql)
        .await
        .context("reading the ledger")?;
    let loaded: HashSet<(String, String)> = rows
        .into_iter()
        .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.clone())))
        .collect();
    let missing = compare(&listed, &loaded, &format!("s3://{bucket}"), summary);
    if args.dry_run || missing.is_empty() {
        return Ok(());
    }
    // 3. Re-drive: the notification S3 would have sent, onto the loads queue.
    let url = c
        .sqs
        .get_queue_url()
        .queue_name(n.loads_queue())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("queue {}: {e:?}", n.loads_queue()))?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    for chunk in missing.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, (key, etag, size, created))| {
                let event =
                    crate::run::s3_event(&bucket, key, *size as u64, etag, *created).ok()?;
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(serde_json::to_string(&event).ok()?)
                    .build()
                    .ok()
            })
            .collect();
        let out = c
            .sqs
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("sending to {}: {e:?}", n.loads_queue()))?;
        summary.redriven += out.successful().len() as u64;
        if !out.failed().is_empty() {
            bail!(
                "{} notifications could not be queued: {:?}",
                out.failed().len(),
                out.failed()
            );
        }
    }
    Ok(())
}

async fn reconcile_local(
    dir: &Path,
    since: i64,
    until: i64,
    dry_run: bool,
    summary: &mut ReconcileSummary,
) -> anyhow::Result<()> {
    use pushfeed_core::load::content_etag as etag_of;
    use pushfeed_core::names::local::BUCKET as LOCAL_BUCKET;
    use pushfeed_loader::warehouse::sqlite::LOCAL_SCHEMA;
    use pushfeed_loader::{LocalObjects, SqliteWarehouse};
    let mut listed = Vec::new();
    for o in LocalObjects::new(dir).list(LOCAL_BUCKET, DATA_PREFIX) {
        if o.modified_ms >= since && o.modified_ms < until {
            let bytes =
                std::fs::read(&o.path).with_context(|| format!("reading {}", o.path.display()))?;
            listed.push((o.key, etag_of(&bytes), bytes.len() as i64, o.modified_ms));
        }
    }
    summary.objects_listed = listed.len() as u64;
    let _lock = pushfeed_loader::warehouse::sqlite::lock_data_dir(dir, "pushfeed reconcile")?;
    let warehouse = SqliteWarehouse::open(dir)?;
    let sql = ledger_listing(
        Dialect::Sqlite,
        LOCAL_SCHEMA,
        LOCAL_BUCKET,
        &sql_time(since).replace(' ', "T"),
    )?;
    let loaded: HashSet<(String, String)> = warehouse.query_pairs(&sql)?;
    let missing = compare(&listed, &loaded, LOCAL_BUCKET, summary);
    if dry_run || missing.is_empty() {
        return Ok(());
    }
    let notifier = pushfeed_loader::MemoryNotifier::new();
    let patterns = pushfeed_core::keys::KeyPatterns::from_catalogue();
    let objects = LocalObjects::new(dir);
    let loader = pushfeed_loader::Loader {
        warehouse: &warehouse,
        notifier: &notifier,
        patterns: &patterns,
        objects: &objects,
    };
    for (key, etag, size, created) in missing {
        let event = crate::run::s3_event(LOCAL_BUCKET, key, *size as u64, etag, *created)?;
        let report = loader
            .handle(&event, pushfeed_core::timefmt::now_ms(), None)
            .await;
        if report
            .objects
            .iter()
            .any(|o| matches!(o, pushfeed_loader::ObjectResult::Failed { .. }))
        {
            bail!("loading {key} failed: {:?}", report.objects);
        }
        summary.redriven += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_or_ages() {
        let now = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        assert_eq!(parse_when("24h", now).unwrap(), now - 86_400_000);
        assert_eq!(parse_when("15m", now).unwrap(), now - 900_000);
        assert_eq!(
            parse_when("2025-12-31T00:00:00Z", now).unwrap(),
            now - 86_400_000
        );
        assert!(parse_when("3w", now)
            .unwrap_err()
            .to_string()
            .contains("s, m, h or d"));
        assert!(parse_when("yesterday", now).is_err());
        assert_eq!(sql_time(now), "2026-01-01 00:00:00");
    }
}
