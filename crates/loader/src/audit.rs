//! The scheduled audit check: read `v_push_audit_hourly` for the last [`WINDOW_HOURS`]
//! hours and emit how many events are missing (sent by the batcher, not in the warehouse
//! after the grace period) and how many (hour, table) cells are unbalanced. The alarm on
//! the first (and on the check not running at all) sends the SNS email.

use crate::store::ObjectStore;
use crate::warehouse::LoadError;
use crate::warehouse::{DataApi, RedshiftWarehouse};
use pushfeed_core::audit::HOUR_MS;
use pushfeed_core::metrics::{self as m, MetricSet};
use pushfeed_core::sql::Dialect;
use pushfeed_core::views::audit_query;
use tokio::time::Instant;

/// How far back the check looks (hours of Kinesis arrival).
pub const WINDOW_HOURS: i64 = 48;

/// One unbalanced cell of the audit view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unbalanced {
    pub hour: String,
    pub table: String,
    pub unaccounted: i64,
    pub status: String,
}

#[derive(Debug, Default)]
pub struct AuditCheck {
    pub missing_events: i64,
    pub cells: Vec<Unbalanced>,
    pub metrics: MetricSet,
}

/// Read the audit view's problem rows (missing or surplus) into the check's result.
pub fn summarise(rows: &[Vec<String>]) -> AuditCheck {
    let mut out = AuditCheck::default();
    for r in rows {
        let (Some(hour), Some(table), Some(unaccounted), Some(status)) =
            (r.first(), r.get(1), r.get(6), r.get(7))
        else {
            continue;
        };
        let unaccounted = unaccounted.parse::<i64>().unwrap_or(0);
        if status == "missing" {
            out.missing_events += unaccounted;
        }
        out.cells.push(Unbalanced {
            hour: hour.clone(),
            table: table.clone(),
            unaccounted,
            status: status.clone(),
        });
    }
    out.metrics
        .add(m::AUDIT_MISSING_EVENTS, out.missing_events as f64);
    out.metrics
        .add(m::AUDIT_UNBALANCED_HOURS, out.cells.len() as f64);
    out
}

/// Run the check against Redshift.
pub async fn check<D: DataApi, S: ObjectStore>(
    warehouse: &RedshiftWarehouse<D, S>,
    now_ms: i64,
    deadline: Option<Instant>,
) -> Result<AuditCheck, LoadError> {
    let since = now_ms - WINDOW_HOURS * HOUR_MS;
    let sql = audit_query(Dialect::Redshift, &warehouse.config.schema, since, true)?;
    let rows = warehouse.query(sql, deadline).await?;
    let out = summarise(&rows);
    for c in &out.cells {
        tracing::warn!(hour = %c.hour, table = %c.table, unaccounted = c.unaccounted, status = %c.status,
            "audit: hour not balanced (runbook: pushfeed audit --since <hour>, then pushfeed reconcile / replay)");
    }
    tracing::info!(
        missing_events = out.missing_events,
        unbalanced_cells = out.cells.len(),
        "audit check done"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hour: &str, table: &str, unaccounted: i64, status: &str) -> Vec<String> {
        vec![
            hour.into(),
            table.into(),
            "10".into(),
            "0".into(),
            "0".into(),
            "0".into(),
            unaccounted.to_string(),
            status.into(),
        ]
    }

    #[test]
    fn only_missing_cells_count_as_missing_events() {
        let out = summarise(&[
            row("2026-12-01 09:00:00", "push_open", 7, "missing"),
            row("2026-12-01 10:00:00", "push_send", -3, "surplus"),
            row("2026-12-01 10:00:00", "push_open", 2, "missing"),
        ]);
        assert_eq!(out.missing_events, 9);
        assert_eq!(out.cells.len(), 3);
        assert_eq!(out.metrics.get(m::AUDIT_MISSING_EVENTS), 9.0);
        assert_eq!(out.metrics.get(m::AUDIT_UNBALANCED_HOURS), 3.0);
        let none = summarise(&[]);
        assert_eq!(
            none.metrics.get(m::AUDIT_MISSING_EVENTS),
            0.0,
            "emitted as 0, not absent: the alarm treats absence as breaching"
        );
    }
}
