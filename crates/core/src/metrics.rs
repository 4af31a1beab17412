//! Metric names used by the whole project (code, alarms, dashboard), defined once, and
//! CloudWatch Embedded Metric Format (EMF) rendering.

use serde_json::{json, Map, Value};

/// Default CloudWatch namespace; Terraform sets `PUSHFEED_METRICS_NAMESPACE` per environment.
pub const DEFAULT_NAMESPACE: &str = "pushfeed";

/// Dimension for per-type breakdowns (value: destination name).
pub const DIM_EVENT_TYPE: &str = "EventType";
/// Dimension for per-reason quarantine breakdowns.
pub const DIM_REASON: &str = "Reason";

// Batcher.
pub const RECORDS_IN: &str = "RecordsIn";
pub const EVENTS_ROUTED: &str = "EventsRouted";
pub const UNKNOWN_TYPE_EVENTS: &str = "UnknownTypeEvents";
pub const QUARANTINED_RECORDS: &str = "QuarantinedRecords";
pub const FIREHOSE_RECORDS_SENT: &str = "FirehoseRecordsSent";
pub const FIREHOSE_BYTES_SENT: &str = "FirehoseBytesSent";
pub const FIREHOSE_RETRIES: &str = "FirehoseRetries";
pub const FAILED_KINESIS_RECORDS: &str = "FailedKinesisRecords";
pub const BATCH_DURATION_MS: &str = "BatchDurationMs";
pub const AUDIT_LINES_SENT: &str = "AuditLinesSent";
pub const AUDIT_RECORDS_FAILED: &str = "AuditRecordsFailed";

// Loader.
pub const OBJECTS_LOADED: &str = "ObjectsLoaded";
pub const ROWS_LOADED: &str = "RowsLoaded";
pub const EMPTY_OBJECTS: &str = "EmptyObjects";
pub const DUPLICATE_OBJECTS: &str = "DuplicateObjects";
pub const UNMATCHED_KEYS: &str = "UnmatchedKeys";
pub const LOAD_FAILURES: &str = "LoadFailures";
pub const LOAD_LATENCY_MS: &str = "LoadLatencyMs";
pub const LOADS_DEFERRED: &str = "LoadsDeferred";
pub const EVENT_FRESHNESS_SECONDS: &str = "EventFreshnessSeconds";
pub const INVALID_LOADER_MESSAGES: &str = "InvalidLoaderMessages";

// The audit check (loader, on a schedule).
pub const AUDIT_MISSING_EVENTS: &str = "AuditMissingEvents";
pub const AUDIT_UNBALANCED_HOURS: &str = "AuditUnbalancedHours";

/// Every metric pushfeed emits, with its unit and what it means.
pub const ALL: &[(&str, &str, &str)] = &[
    (RECORDS_IN, "Count", "Kinesis records the batcher received"),
    (
        EVENTS_ROUTED,
        "Count",
        "events sent towards a catalogue type's Firehose stream (also per EventType)",
    ),
    (
        UNKNOWN_TYPE_EVENTS,
        "Count",
        "well-formed events of a type the catalogue does not list",
    ),
    (
        QUARANTINED_RECORDS,
        "Count",
        "quarantine entries (also per Reason)",
    ),
    (FIREHOSE_RECORDS_SENT, "Count", "Firehose records accepted"),
    (FIREHOSE_BYTES_SENT, "Bytes", "bytes accepted by Firehose"),
    (
        FIREHOSE_RETRIES,
        "Count",
        "Firehose records resent after a partial failure or throttle",
    ),
    (
        FAILED_KINESIS_RECORDS,
        "Count",
        "Kinesis records reported as batch item failures",
    ),
    (
        BATCH_DURATION_MS,
        "Milliseconds",
        "batcher time per invocation",
    ),
    (
        AUDIT_LINES_SENT,
        "Count",
        "audit lines (one per table and hour) the batcher had accepted by the audit Firehose stream",
    ),
    (
        AUDIT_RECORDS_FAILED,
        "Count",
        "audit records Firehose never accepted: that invocation's lines will show as surplus in v_push_audit_hourly",
    ),
    (
        AUDIT_MISSING_EVENTS,
        "Count",
        "events the batcher sent that are not in the warehouse after the grace period (v_push_audit_hourly status missing), summed over the audited window",
    ),
    (
        AUDIT_UNBALANCED_HOURS,
        "Count",
        "(hour, table) cells of v_push_audit_hourly whose status is missing or surplus in the audited window",
    ),
    (
        OBJECTS_LOADED,
        "Count",
        "S3 objects loaded (also per EventType)",
    ),
    (
        ROWS_LOADED,
        "Count",
        "rows inserted into tables (also per EventType)",
    ),
    (
        EVENT_FRESHNESS_SECONDS,
        "Seconds",
        "per EventType: from the newest event of a loaded object occurring to its row being committed (end to end)",
    ),
    (
        INVALID_LOADER_MESSAGES,
        "Count",
        "loads-queue messages that are not S3 notifications (left to reach the dead-letter queue)",
    ),
    (
        LOADS_DEFERRED,
        "Count",
        "loads not started because too little of the invocation was left (retried)",
    ),
    (
        EMPTY_OBJECTS,
        "Count",
        "empty objects recorded in the ledger without COPY",
    ),
    (
        DUPLICATE_OBJECTS,
        "Count",
        "objects already in the ledger (redelivery): nothing loaded",
    ),
    (UNMATCHED_KEYS, "Count", "S3 keys no pattern matched"),
    (
        LOAD_FAILURES,
        "Count",
        "loads that failed, aborted or timed out",
    ),
    (
        LOAD_LATENCY_MS,
        "Milliseconds",
        "object creation to load FINISHED",
    ),
];

fn unit_of(name: &str) -> &'static str {
    ALL.iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, u, _)| *u)
        .unwrap_or("Count")
}

/// Metrics whose value is the worst seen in an invocation, not a sum.
pub const GAUGES: &[&str] = &[
    LOAD_LATENCY_MS,
    EVENT_FRESHNESS_SECONDS,
    BATCH_DURATION_MS,
    AUDIT_MISSING_EVENTS,
    AUDIT_UNBALANCED_HOURS,
];

/// An optional (dimension name, dimension value) pair.
type Dim = Option<(&'static str, String)>;

/// Metrics collected during one invocation, rendered as EMF lines at the end.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MetricSet {
    /// (metric, optional (dimension, value), value), in the order recorded.
    entries: Vec<(&'static str, Dim, f64)>,
}

impl MetricSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add to a metric with no dimensions (what alarms watch).
    pub fn add(&mut self, name: &'static str, value: f64) {
        self.add_dim(name, None, value);
    }

    /// Add to a metric under one dimension (what dashboards break down).
    pub fn add_by(&mut self, name: &'static str, dim: &'static str, dim_value: &str, value: f64) {
        self.add_dim(name, Some((dim, dim_value.to_owned())), value);
    }

    fn add_dim(&mut self, name: &'static str, dim: Dim, value: f64) {
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|(n, d, _)| *n == name && *d == dim)
        {
            // Ages and latencies keep the worst value of the invocation; counts add up.
            if GAUGES.contains(&name) {
                e.2 = e.2.max(value);
            } else {
                e.2 += value;
            }
        } else {
            self.entries.push((name, dim, value));
        }
    }

    /// The value recorded for a metric (no dimension): the sum, or for a gauge the maximum.
    pub fn get(&self, name: &str) -> f64 {
        self.entries
            .iter()
            .filter(|(n, d, _)| *n == name && d.is_none())
            .map(|e| e.2)
            .sum()
    }

    /// The value recorded for a metric under a dimension value.
    pub fn get_by(&self, name: &str, dim_value: &str) -> f64 {
        self.entries
            .iter()
            .filter(|(n, d, _)| *n == name && d.as_ref().is_some_and(|(_, v)| v == dim_value))
            .map(|e| e.2)
            .sum()
    }

    /// Add every value of `other` into this set.
    pub fn merge(&mut self, other: &MetricSet) {
        for (name, dim, value) in &other.entries {
            self.add_dim(name, dim.clone(), *value);
        }
    }

    /// Totals of the dimensionless metrics, by name.
    pub fn totals(&self) -> std::collections::BTreeMap<String, f64> {
        self.entries
            .iter()
            .filter(|(_, d, _)| d.is_none())
            .map(|(n, _, v)| (n.to_string(), *v))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Render as EMF JSON lines: one line for the dimensionless metrics, one per
    /// dimension value. `timestamp_ms` is passed in: the core never reads the clock.
    pub fn to_emf(&self, namespace: &str, function: &str, timestamp_ms: i64) -> Vec<String> {
        let mut groups: Vec<(Dim, Vec<(&'static str, f64)>)> = Vec::new();
        for (name, dim, value) in &self.entries {
            match groups.iter_mut().find(|(d, _)| d == dim) {
                Some((_, metrics)) => metrics.push((name, *value)),
                None => groups.push((dim.clone(), vec![(name, *value)])),
            }
        }
        groups
            .into_iter()
            .map(|(dim, metrics)| {
                let mut root = Map::new();
                let dims: Vec<&str> = dim.as_ref().map(|(d, _)| vec![*d]).unwrap_or_default();
                let defs: Vec<Value> = metrics.iter().map(|(n, _)| json!({"Name": n, "Unit": unit_of(n)})).collect();
                root.insert(
                    "_aws".into(),
                    json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [dims], "Metrics": defs}]}),
                );
                root.insert("function".into(), Value::String(function.to_owned()));
                if let Some((d, v)) = dim {
                    root.insert(d.into(), Value::String(v));
                }
                for (n, v) in metrics {
                    root.insert(n.into(), json!(v));
                }
                Value::Object(root).to_string()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_emf_is_well_formed() {
        let mut names: Vec<_> = ALL.iter().map(|m| m.0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());

        let mut m = MetricSet::new();
        m.add(RECORDS_IN, 3.0);
        m.add(RECORDS_IN, 2.0);
        m.add_by(EVENTS_ROUTED, DIM_EVENT_TYPE, "open", 4.0);
        m.add_by(QUARANTINED_RECORDS, DIM_REASON, "invalid_json", 1.0);
        assert_eq!(m.get(RECORDS_IN), 5.0);
        assert_eq!(m.get_by(EVENTS_ROUTED, "open"), 4.0);
        let lines = m.to_emf("pushfeed/dev", "batcher", 1_767_225_600_000);
        assert_eq!(lines.len(), 3);
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["RecordsIn"], 5.0);
        assert_eq!(
            first["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        let second: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(second["EventType"], "open");
        assert_eq!(
            second["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["EventType"]])
        );
    }
}

#[cfg(test)]
mod gauge_tests {
    use super::*;

    #[test]
    fn ages_keep_the_worst_value_counts_add_up() {
        let mut m = MetricSet::new();
        m.add(EVENT_FRESHNESS_SECONDS, 40.0);
        m.add(EVENT_FRESHNESS_SECONDS, 25.0);
        m.add_by(EVENT_FRESHNESS_SECONDS, DIM_EVENT_TYPE, "canary", 7.0);
        m.add_by(EVENT_FRESHNESS_SECONDS, DIM_EVENT_TYPE, "canary", 9.0);
        m.add(ROWS_LOADED, 3.0);
        m.add(ROWS_LOADED, 4.0);
        let mut other = MetricSet::new();
        other.add(EVENT_FRESHNESS_SECONDS, 30.0);
        m.merge(&other);
        assert_eq!(m.get(EVENT_FRESHNESS_SECONDS), 40.0);
        assert_eq!(m.get_by(EVENT_FRESHNESS_SECONDS, "canary"), 9.0);
        assert_eq!(m.get(ROWS_LOADED), 7.0);
    }
}
