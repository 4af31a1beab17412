//! The one catalogue: every destination (event types, unknown type, quarantine), its
//! Firehose stream, S3 prefix, table and columns. Everything else is derived from here.

use serde::{Deserialize, Serialize};

/// How a column is typed in the warehouse and read from a JSON line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Text of at most this many bytes (Redshift VARCHAR(n); COPY truncates longer text).
    Text(u32),
    /// UTC timestamp, written as ISO-8601 `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    Timestamp,
    /// 64-bit integer.
    BigInt,
    /// Semi-structured JSON (Redshift SUPER, SQLite JSON text).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnKind,
    pub not_null: bool,
    pub description: &'static str,
}

const fn text(name: &'static str, width: u32, description: &'static str) -> Column {
    Column {
        name,
        kind: ColumnKind::Text(width),
        not_null: false,
        description,
    }
}

/// What a destination holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// A canonical event type listed in the catalogue.
    Event,
    /// Well-formed events whose vendor type the catalogue does not list.
    UnknownType,
    /// Input that could not be turned into an event, with the reason and the raw bytes.
    Quarantine,
    /// The batcher's own record of what it sent: per invocation, destination and hour of
    /// Kinesis arrival, the lines Firehose accepted (see [`AUDIT_COLUMNS`]).
    Audit,
}

/// One destination: a Firehose stream, an S3 prefix and a warehouse table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// Lower snake case name: the canonical event type for `Event` destinations.
    pub name: &'static str,
    pub kind: DestinationKind,
    pub description: &'static str,
    /// Columns after the common ones (event destinations) or the whole list (quarantine).
    pub extra_columns: &'static [Column],
}

/// Columns every event table (catalogue types and unknown type) has, in order.
pub const EVENT_COLUMNS: &[Column] = &[
    Column {
        name: "event_id",
        kind: ColumnKind::Text(256),
        not_null: true,
        description: "vendor's dedup id (Braze `id`, Airship `id`)",
    },
    Column {
        name: "event_type",
        kind: ColumnKind::Text(64),
        not_null: true,
        description: "canonical type, lower snake case",
    },
    Column {
        name: "vendor",
        kind: ColumnKind::Text(16),
        not_null: true,
        description: "`braze` or `airship`",
    },
    Column {
        name: "vendor_event_type",
        kind: ColumnKind::Text(256),
        not_null: true,
        description: "the type exactly as the vendor sent it",
    },
    Column {
        name: "occurred_at",
        kind: ColumnKind::Timestamp,
        not_null: true,
        description: "when it happened (UTC)",
    },
    Column {
        name: "received_at",
        kind: ColumnKind::Timestamp,
        not_null: true,
        description: "Kinesis approximate arrival (UTC)",
    },
    text(
        "user_id",
        256,
        "customer: Braze user_id; Airship named_user_id, else the channel id",
    ),
    text(
        "external_user_id",
        256,
        "retailer's customer id: Braze external_user_id; Airship named_user_id",
    ),
    text("device_id", 256, "Braze device_id; Airship channel id"),
    text("app_id", 256, "vendor app id"),
    text(
        "platform",
        32,
        "ios, android, web, kindle, tvos, roku, amazon",
    ),
    text(
        "timezone",
        64,
        "customer's IANA timezone when the vendor sent one",
    ),
    text("campaign_id", 256, "Braze campaign_id; Airship group_id"),
    text(
        "campaign_name",
        1024,
        "Braze campaign_name (may be null or stale)",
    ),
    text(
        "message_variation_id",
        256,
        "Braze message_variation_id; Airship variant_id",
    ),
    text(
        "message_variation_name",
        1024,
        "Braze message_variation_name",
    ),
    text("canvas_id", 256, "Braze canvas_id"),
    text("canvas_name", 1024, "Braze canvas_name"),
    text("canvas_variation_id", 256, "Braze canvas_variation_id"),
    text("canvas_variation_name", 1024, "Braze canvas_variation_name"),
    text("canvas_step_id", 256, "Braze canvas_step_id"),
    text("canvas_step_name", 1024, "Braze canvas_step_name"),
    text("send_id", 256, "Braze send_id"),
    text(
        "dispatch_id",
        256,
        "ties a send to its bounce and opens: Braze dispatch_id; Airship push_id",
    ),
    text("source_shard_id", 128, "Kinesis shard the record came from"),
    text(
        "source_sequence_number",
        128,
        "Kinesis sequence number of the record",
    ),
    Column {
        name: "attributes",
        kind: ColumnKind::Json,
        not_null: false,
        description: "every vendor field not mapped to a column",
    },
];

const TAP_COLUMNS: &[Column] = &[
    text(
        "button_action_type",
        32,
        "uri, deep_link, none, close (button taps only)",
    ),
    text("button_string", 1024, "the button's identifier"),
    text("os_version", 128, "device OS version"),
    text("device_model", 256, "device model"),
];

const ABORT_COLUMNS: &[Column] = &[
    text("abort_type", 256, "why the send was aborted"),
    text("abort_log", 65535, "vendor's abort detail"),
];

/// The quarantine table's full column list.
pub const QUARANTINE_COLUMNS: &[Column] = &[
    Column { name: "event_id", kind: ColumnKind::Text(256), not_null: true, description: "deterministic id: q:<shard>:<sequence>:<position>:<chunk> (redelivery dedupes)" },
    Column { name: "reason", kind: ColumnKind::Text(64), not_null: true, description: "machine-readable reason (see docs/catalogue.md)" },
    text("detail", 1024, "human-readable detail"),
    text("source_shard_id", 128, "Kinesis shard"),
    text("source_sequence_number", 128, "Kinesis sequence number"),
    Column { name: "event_position", kind: ColumnKind::BigInt, not_null: false, description: "0-based position of the event inside the record; null when the whole record is quarantined" },
    Column { name: "occurred_at", kind: ColumnKind::Timestamp, not_null: true, description: "same as received_at (the sort key every table shares)" },
    Column { name: "received_at", kind: ColumnKind::Timestamp, not_null: true, description: "Kinesis approximate arrival" },
    text("raw_encoding", 8, "utf8 or base64"),
    Column { name: "raw_size", kind: ColumnKind::BigInt, not_null: true, description: "size in bytes of the whole quarantined input" },
    Column { name: "chunk_index", kind: ColumnKind::BigInt, not_null: true, description: "0-based chunk of the raw bytes" },
    Column { name: "chunk_count", kind: ColumnKind::BigInt, not_null: true, description: "number of chunks the raw bytes were split into" },
    text("raw", 65535, "the raw bytes of this chunk (utf8 text, or base64)"),
];

/// The audit table's full column list: one row per batcher invocation, destination and
/// hour of Kinesis arrival.
pub const AUDIT_COLUMNS: &[Column] = &[
    Column { name: "event_id", kind: ColumnKind::Text(256), not_null: true, description: "a:<invocation>:<table>:<hour>: one per invocation, table and hour (a Firehose redelivery dedupes)" },
    Column { name: "table_name", kind: ColumnKind::Text(127), not_null: true, description: "the table the lines are for (push_send, …, push_quarantine)" },
    Column { name: "hour", kind: ColumnKind::Timestamp, not_null: true, description: "the hour (UTC) the lines' Kinesis records arrived in: their received_at, truncated" },
    Column { name: "lines", kind: ColumnKind::BigInt, not_null: true, description: "lines (rows) Firehose accepted for that table and hour" },
    Column { name: "lines_failed", kind: ColumnKind::BigInt, not_null: true, description: "lines Firehose refused; their Kinesis records were reported as failures and come again" },
    Column { name: "firehose_records", kind: ColumnKind::BigInt, not_null: true, description: "Firehose records those lines were packed into" },
    text("invocation_id", 128, "the batcher invocation's request id"),
    text("source_shard_id", 128, "Kinesis shard of the invocation's batch"),
    text("first_sequence_number", 128, "first Kinesis sequence number in the batch"),
    text("last_sequence_number", 128, "last Kinesis sequence number in the batch"),
    Column { name: "kinesis_records", kind: ColumnKind::BigInt, not_null: true, description: "Kinesis records in the invocation's batch" },
    Column { name: "occurred_at", kind: ColumnKind::Timestamp, not_null: true, description: "when the batcher wrote the record" },
    Column { name: "received_at", kind: ColumnKind::Timestamp, not_null: true, description: "same as occurred_at (the sort key every table shares)" },
];

/// Every destination, catalogue event types first. Order is stable: it is the order of
/// DDL, dashboards and summaries.
pub const DESTINATIONS: &[Destination] = &[
    Destination { name: "send", kind: DestinationKind::Event, description: "handed to APNs/FCM (not proof of delivery)", extra_columns: &[] },
    Destination { name: "open", kind: DestinationKind::Event, description: "user opened the push (body tap, or a button with no link: none/close)", extra_columns: TAP_COLUMNS },
    Destination { name: "click", kind: DestinationKind::Event, description: "user tapped a push button that links somewhere (Braze Open with button_action_type uri or deep_link)", extra_columns: TAP_COLUMNS },
    Destination { name: "bounce", kind: DestinationKind::Event, description: "rejected by APNs/FCM: not delivered", extra_columns: &[] },
    Destination { name: "abort", kind: DestinationKind::Event, description: "send aborted before dispatch", extra_columns: ABORT_COLUMNS },
    Destination { name: "retry", kind: DestinationKind::Event, description: "deprioritised or capped, will be retried", extra_columns: &[] },
    Destination { name: "influenced_open", kind: DestinationKind::Event, description: "legacy Braze influenced open", extra_columns: &[] },
    Destination { name: "ios_foreground", kind: DestinationKind::Event, description: "deprecated Braze iOS foreground push", extra_columns: &[] },
    Destination { name: "token_state_change", kind: DestinationKind::Event, description: "device push token changed (behaviour, not feedback)", extra_columns: &[] },
    Destination { name: "uninstall", kind: DestinationKind::Event, description: "the app was uninstalled (Airship UNINSTALL, Braze users.behaviors.Uninstall: both detected with a push)", extra_columns: &[] },
    Destination { name: "control", kind: DestinationKind::Event, description: "held out as a control group, no push sent (Airship CONTROL, Braze users.campaigns.EnrollInControl): the baseline push is measured against", extra_columns: &[] },
    Destination { name: "app_open", kind: DestinationKind::Event, description: "Airship: the app was opened, not from a push (an OPEN without triggering_push): app engagement, not push feedback; no push view reads it", extra_columns: &[] },
    Destination { name: "canary", kind: DestinationKind::Event, description: "pushfeed's heartbeat: a record an EventBridge rule puts into the vendor stream every 5 minutes; the time from its occurrence to its row is the pipeline's end-to-end freshness (not analyst data: no view reads it)", extra_columns: &[] },
    Destination { name: "unknown_type", kind: DestinationKind::UnknownType, description: "well-formed events of vendor types the catalogue does not list", extra_columns: &[] },
    Destination { name: "quarantine", kind: DestinationKind::Quarantine, description: "input that is not a usable event, with reason, raw bytes and Kinesis coordinates", extra_columns: QUARANTINE_COLUMNS },
    Destination { name: "audit", kind: DestinationKind::Audit, description: "pushfeed's audit trail: what the batcher sent, per invocation, table and hour of arrival (v_push_audit_hourly compares it with what was loaded; not analyst data)", extra_columns: AUDIT_COLUMNS },
];

/// Prefix of every object the loader loads; the Firehose error prefix lies outside it.
pub const DATA_PREFIX: &str = "push/";
/// Prefix Firehose writes its delivery errors under (never loaded).
pub const ERROR_PREFIX: &str = "errors/";

impl Destination {
    /// Warehouse table name.
    pub fn table(&self) -> String {
        format!("push_{}", self.name)
    }

    /// S3 prefix the destination's Firehose stream writes under.
    pub fn s3_prefix(&self) -> String {
        format!("{DATA_PREFIX}{}/", self.name)
    }

    /// The key Firehose gives an object it delivers for this destination (its default
    /// layout: the prefix, then `YYYY/MM/DD/HH/` in UTC, then
    /// `<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<id>`, `.gz` when compressed). The local
    /// Firehose writes with it; the loader's patterns ([`crate::keys::KeyPatterns`]) read
    /// it back — one definition, tested both ways.
    pub fn object_key(&self, stream: &str, at_ms: i64, id: &str, gzip: bool) -> String {
        let (y, mo, d, h, mi, s, _) = crate::timefmt::parts(at_ms);
        format!(
            "{}{y:04}/{mo:02}/{d:02}/{h:02}/{stream}-1-{y:04}-{mo:02}-{d:02}-{h:02}-{mi:02}-{s:02}-{id}{}",
            self.s3_prefix(),
            if gzip { ".gz" } else { "" }
        )
    }

    /// Suffix of the Firehose stream name (`<stream prefix><suffix>`).
    pub fn stream_suffix(&self) -> String {
        self.name.replace('_', "-")
    }

    /// Every column of the table, in order.
    pub fn columns(&self) -> Vec<Column> {
        match self.kind {
            DestinationKind::Quarantine | DestinationKind::Audit => self.extra_columns.to_vec(),
            _ => EVENT_COLUMNS
                .iter()
                .chain(self.extra_columns)
                .copied()
                .collect(),
        }
    }

    pub fn is_quarantine(&self) -> bool {
        self.kind == DestinationKind::Quarantine
    }

    /// Whether the batcher routes input here (events, unknown types, quarantine), as
    /// opposed to the audit trail it writes about them.
    pub fn takes_input(&self) -> bool {
        self.kind != DestinationKind::Audit
    }
}

/// Look a destination up by name.
pub fn destination(name: &str) -> Option<&'static Destination> {
    DESTINATIONS.iter().find(|d| d.name == name)
}

/// Index of a destination in [`DESTINATIONS`] (stable; used as a dense key).
pub fn destination_index(name: &str) -> Option<usize> {
    DESTINATIONS.iter().position(|d| d.name == name)
}

/// Index of the unknown-type destination.
pub fn unknown_type_index() -> usize {
    DESTINATIONS
        .iter()
        .position(|d| d.kind == DestinationKind::UnknownType)
        .unwrap_or(0)
}

/// Index of the audit destination.
pub fn audit_index() -> usize {
    DESTINATIONS
        .iter()
        .position(|d| d.kind == DestinationKind::Audit)
        .unwrap_or(0)
}

/// Index of the quarantine destination.
pub fn quarantine_index() -> usize {
    DESTINATIONS
        .iter()
        .position(|d| d.kind == DestinationKind::Quarantine)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_lower_snake_case_and_fit_aws_name_limits() {
        let mut seen = HashSet::new();
        for d in DESTINATIONS {
            assert!(seen.insert(d.name), "duplicate destination {}", d.name);
            assert!(
                d.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                d.name
            );
            assert!(d.table().len() <= 127);
            // Firehose stream names are at most 64 characters; leave 40 for the prefix.
            assert!(d.stream_suffix().len() <= 24, "{}", d.name);
        }
    }

    #[test]
    fn exactly_one_unknown_and_one_quarantine_destination() {
        let unknown = DESTINATIONS
            .iter()
            .filter(|d| d.kind == DestinationKind::UnknownType)
            .count();
        let quarantine = DESTINATIONS
            .iter()
            .filter(|d| d.kind == DestinationKind::Quarantine)
            .count();
        let audit = DESTINATIONS
            .iter()
            .filter(|d| d.kind == DestinationKind::Audit)
            .count();
        assert_eq!((unknown, quarantine, audit), (1, 1, 1));
        assert_eq!(DESTINATIONS[audit_index()].table(), "push_audit");
        assert_eq!(DESTINATIONS[unknown_type_index()].name, "unknown_type");
        assert_eq!(DESTINATIONS[quarantine_index()].name, "quarantine");
    }

    #[test]
    fn every_table_has_the_dedup_and_sort_columns() {
        for d in DESTINATIONS {
            let cols = d.columns();
            for needed in ["event_id", "occurred_at", "received_at"] {
                assert!(
                    cols.iter().any(|c| c.name == needed),
                    "{} lacks {needed}",
                    d.name
                );
            }
            let mut names = HashSet::new();
            for c in &cols {
                assert!(names.insert(c.name), "{} repeats column {}", d.name, c.name);
            }
        }
    }
}
