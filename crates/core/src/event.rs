//! The canonical event and the quarantine entry, and how each is written as a JSON line.

use crate::catalogue::QUARANTINE_COLUMNS;
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
        out.extend_from_slice(s.as_bytes());
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
