//! The canonical event and the quarantine entry, and how each is written as a JSON line.

use crate::catalogue::{DestinationKind, DESTINATIONS, QUARANTINE_COLUMNS};
use crate::timefmt::write_iso;
use base64::Engine as _;
use serde::Serialize;

/// Where a Kinesis record came from: the coordinates every output row keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coordinates<'a> {
    pub shard_id: &'a str,
    pub sequence_number: &'a str,
    /// Kinesis approximate arrival, ms since the epoch (UTC).
    pub received_at_ms: i64,
}

/// `s` as a JSON string, escaped as serde_json escapes (only `"`, `\\` and control
/// characters); most strings need no escape and are copied as they are.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if !crate::json::needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        crate::json::append(out, s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a &str to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

pub(crate) fn push_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    push_json_str(out, key);
    out.push(b':');
}

/// One event in the canonical shape: what every vendor's event becomes, one row of its
/// destination's table (docs/catalogue.md lists the columns). The batcher's fast path
/// (`vendor/`) writes these lines straight from the input without building this value;
/// the tests read every line it writes back into one ([`CanonicalEvent::from_line`]) and
/// write it again, so the fast writer and this definition cannot drift apart.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalEvent {
    /// Index into [`DESTINATIONS`]: the table the row lands in.
    pub destination: usize,
    /// `event_id`: the vendor's dedup id (Braze and Airship `id`), as text; at most 256 bytes.
    pub event_id: String,
    /// `event_type`: the canonical type, lower snake case (`send`, `open`, …), or `unknown`
    /// in the unknown-type table.
    pub event_type: String,
    /// `vendor`: the vendor format that read it (`braze`, `airship`).
    pub vendor: String,
    /// `vendor_event_type`: the type exactly as the vendor wrote it.
    pub vendor_event_type: String,
    /// `occurred_at`: when it happened, ms since the epoch (UTC), written
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub occurred_at_ms: i64,
    /// `received_at`: the Kinesis record's approximate arrival, ms since the epoch (UTC).
    pub received_at_ms: i64,
    /// The text columns that have a value (`user_id`, `dispatch_id`, …), by column name,
    /// in catalogue order; a column not listed is null.
    pub columns: Vec<(&'static str, String)>,
    /// `attributes`: every vendor field not mapped to a column, as the vendor wrote it.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// `source_shard_id`: the Kinesis shard of the record.
    pub source_shard_id: String,
    /// `source_sequence_number`: the record's Kinesis sequence number.
    pub source_sequence_number: String,
}

/// The keys that open every canonical line, in order.
const LINE_HEAD: [&str; 6] = [
    "event_id",
    "event_type",
    "vendor",
    "vendor_event_type",
    "occurred_at",
    "received_at",
];

impl CanonicalEvent {
    /// Append this event as one JSON object and a newline: top-level keys are the table's
    /// column names (as Redshift's `COPY … FORMAT AS JSON 'auto'` maps them), in this
    /// order: the six head columns, the text columns with a value in catalogue order,
    /// `source_shard_id`, `source_sequence_number`, `attributes`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        let mut first = true;
        out.push(b'{');
        push_key(out, &mut first, "event_id");
        push_json_str(out, &self.event_id);
        push_key(out, &mut first, "event_type");
        push_json_str(out, &self.event_type);
        push_key(out, &mut first, "vendor");
        push_json_str(out, &self.vendor);
        push_key(out, &mut first, "vendor_event_type");
        push_json_str(out, &self.vendor_event_type);
        push_key(out, &mut first, "occurred_at");
        out.push(b'"');
        write_iso(out, self.occurred_at_ms);
        out.push(b'"');
        push_key(out, &mut first, "received_at");
        out.push(b'"');
        write_iso(out, self.received_at_ms);
        out.push(b'"');
        for (name, value) in &self.columns {
            push_key(out, &mut first, name);
            push_json_str(out, value);
        }
        push_key(out, &mut first, "source_shard_id");
        push_json_str(out, &self.source_shard_id);
        push_key(out, &mut first, "source_sequence_number");
        push_json_str(out, &self.source_sequence_number);
        push_key(out, &mut first, "attributes");
        let _ = serde_json::to_writer(&mut *out, &self.attributes);
        out.extend_from_slice(b"}\n");
    }

    pub fn to_line(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(512);
        self.write_line(&mut v);
        v
    }

    /// Read a canonical line for `destination` back, strictly: one line of one JSON object,
    /// its keys exactly the table's and in the order [`CanonicalEvent::write_line`]
    /// writes them, every value of its column's type, times in the canonical form. Says
    /// what is wrong when it is not.
    pub fn from_line(destination: usize, line: &[u8]) -> Result<CanonicalEvent, String> {
        use serde_json::Value;
        let dest = DESTINATIONS
            .get(destination)
            .filter(|d| {
                matches!(
                    d.kind,
                    DestinationKind::Event | DestinationKind::UnknownType
                )
            })
            .ok_or_else(|| format!("destination {destination} does not take events"))?;
        let body = line
            .strip_suffix(b"\n")
            .ok_or("the line does not end with a newline")?;
        if body.contains(&b'\n') {
            return Err("the line holds a line break".into());
        }
        let map: serde_json::Map<String, Value> =
            serde_json::from_slice(body).map_err(|e| format!("not a JSON object: {e}"))?;
        let mut keys = map.keys().map(String::as_str);
        for want in LINE_HEAD {
            match keys.next() {
                Some(k) if k == want => {}
                other => return Err(format!("expected {want}, found {other:?}")),
            }
        }
        let text = |k: &str| -> Result<String, String> {
            map.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("{k} is not a string"))
        };
        let time = |k: &str| -> Result<i64, String> {
            let t = text(k)?;
            let ms = crate::timefmt::parse_iso(&t).map_err(|e| format!("{k}: {}", e.0))?;
            if crate::timefmt::iso(ms) != t {
                return Err(format!("{k} {t:?} is not in the canonical form"));
            }
            Ok(ms)
        };
        let event_type = text("event_type")?;
        let expected_type = match dest.kind {
            DestinationKind::UnknownType => "unknown",
            _ => dest.name,
        };
        if event_type != expected_type {
            return Err(format!("event_type {event_type:?} in {}", dest.table()));
        }
        let event_id = text("event_id")?;
        if event_id.is_empty() || event_id.len() > 256 {
            return Err(format!("event_id is {} bytes", event_id.len()));
        }
        let table_columns = dest.columns();
        let mut columns: Vec<(&'static str, String)> = Vec::new();
        let mut last = 0usize;
        let mut next = keys.next();
        while let Some(k) = next.filter(|k| *k != "source_shard_id") {
            let (at, column) = table_columns
                .iter()
                .enumerate()
                .find(|(_, c)| c.name == k)
                .filter(|(_, c)| matches!(c.kind, crate::catalogue::ColumnKind::Text(_)))
                .filter(|(_, c)| !LINE_HEAD.contains(&c.name))
                .ok_or_else(|| format!("{k} is not a text column of {}", dest.table()))?;
            if at <= last {
                return Err(format!("{k} is out of catalogue order"));
            }
            last = at;
            columns.push((column.name, text(k)?));
            next = keys.next();
        }
        for want in ["source_shard_id", "source_sequence_number", "attributes"] {
            match next {
                Some(k) if k == want => next = keys.next(),
                other => return Err(format!("expected {want}, found {other:?}")),
            }
        }
        if let Some(k) = next {
            return Err(format!("{k} after attributes"));
        }
        let attributes = match map.get("attributes") {
            Some(Value::Object(a)) => a.clone(),
            _ => return Err("attributes is not an object".into()),
        };
        Ok(CanonicalEvent {
            destination,
            event_id,
            event_type,
            vendor: text("vendor")?,
            vendor_event_type: text("vendor_event_type")?,
            occurred_at_ms: time("occurred_at")?,
            received_at_ms: time("received_at")?,
            columns,
            attributes,
            source_shard_id: text("source_shard_id")?,
            source_sequence_number: text("source_sequence_number")?,
        })
    }
}

/// Why input was quarantined. The string forms are stable: they are metric dimensions,
/// table values and documented in docs/catalogue.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The record (or line) has no bytes but white space.
    Empty,
    /// Not valid UTF-8.
    NotUtf8,
    /// Not parseable as JSON.
    InvalidJson,
    /// Starts like gzip but does not decompress (or decompresses past the limit).
    BadCompression,
    /// JSON, but not an object (a number, a string, …).
    NotAnObject,
    /// An object that is neither a Braze nor an Airship event.
    UnrecognisedShape,
    /// No event type: a Braze flat record without `event_type`, or a null/empty one.
    MissingEventType,
    /// No dedup id.
    MissingId,
    /// An id that is not a string or number, or longer than the column.
    InvalidId,
    /// No event time.
    MissingTimestamp,
    /// An event time that cannot be read, or lies outside 2000..2100.
    BadTimestamp,
    /// The event is larger than one Firehose record (1,000 KiB).
    TooLarge,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
        Reason::Empty,
        Reason::NotUtf8,
        Reason::InvalidJson,
        Reason::BadCompression,
        Reason::NotAnObject,
        Reason::UnrecognisedShape,
        Reason::MissingEventType,
        Reason::MissingId,
        Reason::InvalidId,
        Reason::MissingTimestamp,
        Reason::BadTimestamp,
        Reason::TooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Empty => "empty",
            Reason::NotUtf8 => "not_utf8",
            Reason::InvalidJson => "invalid_json",
            Reason::BadCompression => "bad_compression",
            Reason::NotAnObject => "not_an_object",
            Reason::UnrecognisedShape => "unrecognised_shape",
            Reason::MissingEventType => "missing_event_type",
            Reason::MissingId => "missing_id",
            Reason::InvalidId => "invalid_id",
            Reason::MissingTimestamp => "missing_timestamp",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::TooLarge => "too_large",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Reason::Empty => "the record or line holds nothing but white space",
            Reason::NotUtf8 => "the bytes are not UTF-8 text",
            Reason::InvalidJson => "the text is not JSON",
            Reason::BadCompression => {
                "gzip magic bytes, but the data does not decompress within 8 MiB"
            }
            Reason::NotAnObject => "JSON, but not an object",
            Reason::UnrecognisedShape => "an object that is neither a Braze nor an Airship event",
            Reason::MissingEventType => {
                "no event type (e.g. a Braze flat record without event_type)"
            }
            Reason::MissingId => "no dedup id (`id`)",
            Reason::InvalidId => "the id is not a string or number, or is longer than 256 bytes",
            Reason::MissingTimestamp => "no event time (`time` / `occurred`)",
            Reason::BadTimestamp => "the event time cannot be read or lies outside 2000..2100",
            Reason::TooLarge => {
                "the canonical event is larger than one Firehose record (1,000 KiB)"
            }
        }
    }
}

/// Raw bytes per quarantine row, chosen so that one row always fits a Redshift
/// VARCHAR(65535) and one Firehose record, whatever JSON escaping does to it.
pub const RAW_CHUNK_TEXT_BYTES: usize = 60_000;
/// Raw bytes per row when they are stored as base64 (45,000 → 60,000 characters).
pub const RAW_CHUNK_BINARY_BYTES: usize = 45_000;
const DETAIL_MAX_BYTES: usize = 1_000;

/// Input that could not become an event, with everything needed to find and replay it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantineEntry {
    pub reason: Reason,
    pub detail: String,
    pub source_shard_id: String,
    pub source_sequence_number: String,
    /// Position of the event inside the record; `None` when the whole record is quarantined.
    pub position: Option<usize>,
    pub received_at_ms: i64,
    pub raw: Vec<u8>,
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl QuarantineEntry {
    pub fn new(
        reason: Reason,
        detail: impl Into<String>,
        coords: &Coordinates<'_>,
        position: Option<usize>,
        raw: Vec<u8>,
    ) -> Self {
        QuarantineEntry {
            reason,
            detail: detail.into(),
            source_shard_id: coords.shard_id.to_owned(),
            source_sequence_number: coords.sequence_number.to_owned(),
            position,
            received_at_ms: coords.received_at_ms,
            raw,
        }
    }

    /// The deterministic row id of one chunk: redelivery of the same record gives the same ids.
    pub fn row_id(&self, chunk: usize) -> String {
        let pos = self
            .position
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        format!(
            "q:{}:{}:{}:{}",
            self.source_shard_id, self.source_sequence_number, pos, chunk
        )
    }

    /// Split the raw bytes into chunks: UTF-8 text on character boundaries, else base64.
    pub fn chunks(&self) -> (&'static str, Vec<String>) {
        match std::str::from_utf8(&self.raw) {
            Ok(text) => {
                let mut out = Vec::new();
                let mut rest = text;
                while !rest.is_empty() {
                    let piece = truncate_at_char(rest, RAW_CHUNK_TEXT_BYTES);
                    out.push(piece.to_owned());
                    rest = &rest[piece.len()..];
                }
                if out.is_empty() {
                    out.push(String::new());
                }
                ("utf8", out)
            }
            Err(_) => {
                let engine = base64::engine::general_purpose::STANDARD;
                let out = self
                    .raw
                    .chunks(RAW_CHUNK_BINARY_BYTES)
                    .map(|c| engine.encode(c))
                    .collect();
                ("base64", out)
            }
        }
    }

    /// Append one JSON line per chunk; returns how many lines were written.
    pub fn write_lines(&self, out: &mut Vec<u8>) -> usize {
        let (encoding, chunks) = self.chunks();
        let count = chunks.len();
        let detail = truncate_at_char(&self.detail, DETAIL_MAX_BYTES);
        for (i, chunk) in chunks.iter().enumerate() {
            let mut first = true;
            out.push(b'{');
            for column in QUARANTINE_COLUMNS {
                push_key(out, &mut first, column.name);
                match column.name {
                    "event_id" => push_json_str(out, &self.row_id(i)),
                    "reason" => push_json_str(out, self.reason.as_str()),
                    "detail" => push_json_str(out, detail),
                    "source_shard_id" => push_json_str(out, &self.source_shard_id),
                    "source_sequence_number" => push_json_str(out, &self.source_sequence_number),
                    "event_position" => match self.position {
                        Some(p) => out.extend_from_slice(p.to_string().as_bytes()),
                        None => out.extend_from_slice(b"null"),
                    },
                    "occurred_at" | "received_at" => {
                        out.push(b'"');
                        write_iso(out, self.received_at_ms);
                        out.push(b'"');
                    }
                    "raw_encoding" => push_json_str(out, encoding),
                    "raw_size" => out.extend_from_slice(self.raw.len().to_string().as_bytes()),
                    "chunk_index" => out.extend_from_slice(i.to_string().as_bytes()),
                    "chunk_count" => out.extend_from_slice(count.to_string().as_bytes()),
                    "raw" => push_json_str(out, chunk),
                    _ => out.extend_from_slice(b"null"),
                }
            }
            out.extend_from_slice(b"}\n");
        }
        count
    }

    /// The lines, one per chunk.
    pub fn lines(&self) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        self.write_lines(&mut all);
        all.split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_canonical_line_reads_back_and_anything_else_is_refused_with_the_reason() {
        let open = crate::catalogue::destination_index("open").unwrap();
        let good = br#"{"event_id":"e1","event_type":"open","vendor":"airship","vendor_event_type":"OPEN","occurred_at":"2026-01-01T09:00:00.000Z","received_at":"2026-01-01T09:00:01.000Z","user_id":"u","dispatch_id":"p","device_model":"Pixel 8","source_shard_id":"s","source_sequence_number":"1","attributes":{"x":1}}
"#;
        let e = CanonicalEvent::from_line(open, good).unwrap();
        assert_eq!(
            e.columns,
            vec![
                ("user_id", "u".to_owned()),
                ("dispatch_id", "p".to_owned()),
                ("device_model", "Pixel 8".to_owned())
            ]
        );
        assert_eq!(e.to_line(), good.to_vec());
        let text = std::str::from_utf8(good).unwrap();
        for (bad, why) in [
            (
                text.replace(
                    r#""user_id":"u","dispatch_id":"p""#,
                    r#""dispatch_id":"p","user_id":"u""#,
                ),
                "out of catalogue order",
            ),
            (
                text.replace(r#""user_id":"u""#, r#""user":"u""#),
                "not a text column",
            ),
            (
                text.replace(r#""device_model":"Pixel 8""#, r#""abort_type":"x""#),
                "not a text column",
            ),
            (
                text.replace(r#""event_type":"open""#, r#""event_type":"click""#),
                "event_type",
            ),
            (text.replace("09:00:00.000Z", "09:00:00Z"), "canonical form"),
            (
                text.replace(r#""user_id":"u""#, r#""user_id":7"#),
                "not a string",
            ),
            (
                text.replace(r#""attributes":{"x":1}"#, r#""attributes":[1]"#),
                "not an object",
            ),
            (
                text.replace(r#","attributes""#, r#","extra":"1","attributes""#),
                "expected attributes",
            ),
            (text.trim_end().to_owned(), "newline"),
        ] {
            let err = CanonicalEvent::from_line(open, bad.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    fn coords() -> Coordinates<'static> {
        Coordinates {
            shard_id: "shardId-000000000001",
            sequence_number: "4955",
            received_at_ms: 1_767_225_600_000,
        }
    }

    #[test]
    fn a_one_mib_binary_record_is_split_into_rows_that_fit_every_limit() {
        let raw: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8 | 0x80).collect();
        let q = QuarantineEntry::new(Reason::NotUtf8, "bad", &coords(), None, raw.clone());
        let lines = q.lines();
        assert_eq!(lines.len(), raw.len().div_ceil(RAW_CHUNK_BINARY_BYTES));
        let engine = base64::engine::general_purpose::STANDARD;
        let mut rebuilt = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            assert!(line.len() < 1_024_000);
            let v: Value = serde_json::from_slice(line).unwrap();
            assert_eq!(v["chunk_index"], i);
            assert_eq!(v["raw_encoding"], "base64");
            let chunk = v["raw"].as_str().unwrap();
            assert!(chunk.len() <= 65_535);
            rebuilt.extend(engine.decode(chunk).unwrap());
        }
        assert_eq!(rebuilt, raw);
    }

    #[test]
    fn text_chunks_split_on_character_boundaries_and_rejoin() {
        let raw = "é€😀\u{0}\"\\".repeat(20_000).into_bytes();
        let q = QuarantineEntry::new(Reason::InvalidJson, "x", &coords(), Some(3), raw.clone());
        let mut rebuilt = String::new();
        for line in q.lines() {
            assert!(line.len() < 1_024_000);
            let v: Value = serde_json::from_slice(&line).unwrap();
            assert_eq!(v["event_position"], 3);
            assert!(v["raw"].as_str().unwrap().len() <= RAW_CHUNK_TEXT_BYTES);
            rebuilt.push_str(v["raw"].as_str().unwrap());
        }
        assert_eq!(rebuilt.into_bytes(), raw);
    }

    #[test]
    fn the_largest_possible_row_fits_what_the_batch_packer_guarantees() {
        // The batch packer relies on every quarantine row fitting MIN_RECORD_BYTES: the
        // worst case is a full text chunk of control characters (each escaped to \u00XX)
        // with a detail of the same, and the longest Kinesis coordinates.
        let long = "9".repeat(128);
        let coords = Coordinates {
            shard_id: &long,
            sequence_number: &long,
            received_at_ms: 0,
        };
        let q = QuarantineEntry::new(
            Reason::InvalidJson,
            "\u{1}".repeat(5_000),
            &coords,
            Some(usize::MAX),
            "\u{1}".repeat(RAW_CHUNK_TEXT_BYTES * 3).into_bytes(),
        );
        let lines = q.lines();
        assert_eq!(lines.len(), 3);
        for line in lines {
            assert!(
                line.len() < crate::batch::MIN_RECORD_BYTES,
                "{} bytes",
                line.len()
            );
        }
    }

    #[test]
    fn row_ids_are_deterministic() {
        let q = QuarantineEntry::new(Reason::Empty, "", &coords(), None, vec![]);
        assert_eq!(q.row_id(0), "q:shardId-000000000001:4955:-:0");
        assert_eq!(q.lines().len(), 1, "an empty record still leaves one row");
    }
}
