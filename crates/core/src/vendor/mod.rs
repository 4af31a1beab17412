//! Vendor formats → canonical events: decides the shape of each Kinesis record and never
//! guesses silently — what it cannot classify is quarantined with a reason.
//!
//! One file per vendor (`braze.rs`, `airship.rs`), each the same shape: how its records are
//! recognised (`claims`), its type table (`TYPES`: vendor type → canonical type) and its
//! field mapping (`decode`), registered in [`VENDORS`]. Adding a vendor is adding one file
//! and one line there. What every vendor shares sits beside them: this file splits a record
//! into events (NDJSON, arrays, batches, gzip) and quarantines what is not one; `write.rs`
//! holds the column table and writes the canonical line.
//!
//! Built for throughput: a record is parsed into ordered `(key, raw JSON)` members
//! borrowed from the input, only the fields that decide something (id, type, time, button
//! action) are read, and every other value's raw JSON is copied straight into the output
//! line. `reference.rs` (tests only) is the straightforward `Value`-tree decoder this one is
//! checked against; [`crate::event::CanonicalEvent`] is the shape both write.

mod airship;
mod braze;
#[cfg(test)]
pub(crate) mod reference;
mod write;

// The oracle reads the same tables.
#[cfg(test)]
use airship::{
    DEVICE_ATTRIBUTES as AIRSHIP_DEVICE_ATTRIBUTES, NAMED_USER_KEYS as AIRSHIP_NAMED_USER_KEYS,
    TYPES as AIRSHIP_TYPES,
};
pub use braze::CLICK_BUTTON_ACTIONS;
#[cfg(test)]
use braze::{AVRO_UNION_TYPES, TYPES as BRAZE_TYPES};

use crate::catalogue::DESTINATIONS;
use crate::event::{push_json_str as json_str, Coordinates, QuarantineEntry, Reason};
use crate::json::{self, Obj, Tape, Val};
use std::borrow::Cow;
use std::io::Read;
use write::{Json, LineScratch, Text};

/// One canonical JSON line may be at most this long, newline included: one Firehose record.
pub const MAX_LINE_BYTES: usize = 1_024_000;
/// A gzip-compressed record may inflate to at most this many bytes.
pub const MAX_INFLATED_BYTES: usize = 8 * 1024 * 1024;
/// Why an event holding a number beyond a double is quarantined.
const OUT_OF_RANGE: &str = "invalid JSON: number out of range (beyond a double)";
/// Longest accepted event id (the column width).
pub const MAX_ID_BYTES: usize = 256;

/// What one input record produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A canonical event (catalogue type or unknown type), with its JSON line.
    Event {
        destination: usize,
        event_id: String,
        line: Vec<u8>,
    },
    Quarantined(QuarantineEntry),
}

/// Why one event could not become canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

fn reject(reason: Reason, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

/// One vendor's format, the same shape for each: how its records are recognised, its type
/// table and its field mapping.
pub(crate) struct Format {
    pub name: &'static str,
    /// (vendor type, canonical type); a type not listed goes to the unknown-type table.
    pub types: &'static [(&'static str, &'static str)],
    /// Whether an event is this vendor's, from the members that classify it. Vendors are
    /// asked in [`VENDORS`] order; the first that claims an event decodes it.
    claims: fn(&Known<'_>) -> bool,
    /// The event → its canonical line in its destination's buffer, or why not.
    decode:
        for<'a, 'd> fn(&Obj<'a>, &Known<'a>, &Coordinates<'_>, &mut Bufs<'a, 'd>) -> LineResult<'a>,
}

/// Every vendor pushfeed reads.
pub(crate) const VENDORS: &[Format] = &[braze::FORMAT, airship::FORMAT];

/// (destination, event id, where the line starts in the destination's buffer), or why not.
type LineResult<'a> = Result<(usize, Cow<'a, str>, usize), Rejection>;

/// The vendor-type mapping tables, for docs and tests: (vendor, vendor type, canonical type).
pub fn vendor_mappings() -> Vec<(&'static str, &'static str, &'static str)> {
    VENDORS
        .iter()
        .flat_map(|f| f.types.iter().map(move |(v, c)| (f.name, *v, *c)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Reading values off the tape.

fn first_byte(v: Val<'_>) -> u8 {
    v.first_byte()
}

/// The text of a JSON string value (unescaped only when it has escapes).
fn string<'a>(v: Val<'a>) -> Option<Cow<'a, str>> {
    v.str()
}

/// Whether a text is empty or white space only (`str::trim`'s reading: Unicode white
/// space). A first byte that is ASCII and not white space settles it without the trim,
/// which walked the text from both ends (~50 instructions an id or type).
#[inline]
fn blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(b) if b.is_ascii() && !b.is_ascii_whitespace() => false,
        Some(_) => s.trim().is_empty(),
    }
}

fn kind_of(v: Val<'_>) -> &'static str {
    match first_byte(v) {
        b'n' => "null",
        b't' | b'f' => "a boolean",
        b'"' => "a string",
        b'[' => "an array",
        b'{' => "an object",
        _ => "a number",
    }
}

/// A JSON number's text, normalised as serde_json writes numbers.
fn number_text(v: Val<'_>) -> Option<String> {
    serde_json::from_str::<serde_json::Number>(v.get())
        .ok()
        .map(|n| n.to_string())
}

// ---------------------------------------------------------------------------------------
// Decoding a record.

/// Decode one Kinesis record into outcomes. Never panics, whatever the bytes.
pub fn decode_record(data: &[u8], coords: &Coordinates<'_>) -> Vec<Outcome> {
    let mut out = Collect {
        buffers: vec![Vec::new(); DESTINATIONS.len()],
        outcomes: Vec::new(),
    };
    Decoder::default().decode(data, coords, &mut out);
    out.outcomes
}

/// Where decoded records go. Event lines are written straight into the buffer the output
/// gives for their destination (for the batch packer: the Firehose record being filled),
/// so a line is never copied from one buffer to another.
pub trait Output {
    /// The buffer the next line for `destination` is appended to.
    fn buffer(&mut self, destination: usize) -> &mut Vec<u8>;
    /// One outcome, in order; every record produces at least one.
    fn emit(&mut self, outcome: Decoded<'_>);
}

/// What one input record produced.
#[derive(Debug)]
pub enum Decoded<'s> {
    /// A canonical event (catalogue type or unknown type): its newline-terminated line is
    /// `buffer(destination)[line]`, the end of that buffer.
    Event {
        destination: usize,
        event_id: &'s str,
        line: std::ops::Range<usize>,
    },
    Quarantined(QuarantineEntry),
}

/// Outcomes collected one by one (for [`decode_record`]).
struct Collect {
    buffers: Vec<Vec<u8>>,
    outcomes: Vec<Outcome>,
}

impl Output for Collect {
    fn buffer(&mut self, destination: usize) -> &mut Vec<u8> {
        &mut self.buffers[destination]
    }
    fn emit(&mut self, outcome: Decoded<'_>) {
        self.outcomes.push(match outcome {
            Decoded::Event {
                destination,
                event_id,
                line,
            } => {
                let buffer = &mut self.buffers[destination];
                let line = buffer.get(line).unwrap_or_default().to_vec();
                buffer.clear();
                Outcome::Event {
                    destination,
                    event_id: event_id.to_owned(),
                    line,
                }
            }
            Decoded::Quarantined(q) => Outcome::Quarantined(q),
        })
    }
}

/// Decodes records one after another, reusing its buffers, so that a batch of thousands
/// of records allocates a handful of times rather than a dozen times per event.
#[derive(Default)]
pub struct Decoder {
    nodes: Vec<json::Node<'static>>,
    roots: Vec<usize>,
    candidates: Vec<Candidate<'static>>,
    names: Vec<&'static str>,
    attributes: Vec<(Cow<'static, str>, Json<'static>)>,
    texts: String,
    scratch: LineScratch,
}

/// One record's view of the decoder's buffers.
struct Bufs<'a, 'd> {
    /// Braze: the nested keys kept under their own names so far (for the clash check).
    names: Vec<&'a str>,
    /// An event's value slot per column id ([`write::Event`]): uninitialised, so making
    /// them per record costs nothing.
    values: [std::mem::MaybeUninit<Text<'a>>; 64],
    attributes: Vec<(Cow<'a, str>, Json<'a>)>,
    texts: &'d mut String,
    out: &'d mut dyn Output,
    scratch: &'d mut LineScratch,
}

impl Decoder {
    /// Decode one Kinesis record into `out`. Never panics, whatever the bytes.
    pub fn decode(&mut self, data: &[u8], coords: &Coordinates<'_>, out: &mut dyn Output) {
        let whole = |out: &mut dyn Output, reason: Reason, detail: String| {
            out.emit(Decoded::Quarantined(QuarantineEntry::new(
                reason,
                detail,
                coords,
                None,
                data.to_vec(),
            )))
        };
        let inflated;
        let mut bytes = data;
        if bytes.starts_with(&[0x1f, 0x8b]) {
            match inflate(bytes) {
                Ok(v) => {
                    inflated = v;
                    bytes = &inflated;
                }
                Err(detail) => return whole(out, Reason::BadCompression, detail),
            }
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return whole(
                out,
                Reason::Empty,
                format!("record of {} bytes holds no data", data.len()),
            );
        }
        // The shard is the same for a batch's records: its part is written once.
        let LineScratch {
            coords: fixed,
            coords_shard: (shard, shard_end),
            ..
        } = &mut self.scratch;
        if fixed.is_empty() || shard != coords.shard_id {
            fixed.clear();
            fixed.extend_from_slice(b",\"source_shard_id\":");
            json_str(fixed, coords.shard_id);
            fixed.extend_from_slice(b",\"source_sequence_number\":");
            shard.clear();
            shard.push_str(coords.shard_id);
            *shard_end = fixed.len();
        }
        fixed.truncate(*shard_end);
        json_str(fixed, coords.sequence_number);
        let mut tape = Tape::from_buffer(std::mem::take(&mut self.nodes));
        let mut roots = std::mem::take(&mut self.roots);
        let parsed = match tape.parse_stream_into(bytes, &mut roots) {
            Ok(()) => Ok(()),
            Err(e) if e.not_utf8() => {
                Err((Reason::NotUtf8, format!("invalid UTF-8 at byte {}", e.at)))
            }
            Err(e) => Err(Reason::InvalidJson.detail_for(e.describe(bytes))),
        };
        let lines = match &parsed {
            Ok(_) => None,
            Err(_) => split_lines(bytes, &mut tape),
        };
        {
            let mut candidates: Vec<Candidate<'_>> =
                json::recycle(std::mem::take(&mut self.candidates));
            let multi = match (parsed, lines) {
                (Ok(()), _) => {
                    for &root in &roots {
                        expand_into(tape.val(root), &mut candidates);
                    }
                    false
                }
                (Err(_), Some(lines)) => {
                    for (line, value) in lines {
                        match value {
                            Ok(root) => expand_into(tape.val(root), &mut candidates),
                            Err((reason, detail)) => {
                                candidates.push(Candidate::Bad(reason, detail, line))
                            }
                        }
                    }
                    true
                }
                (Err((reason, detail)), None) => {
                    whole(out, reason, detail);
                    self.candidates = json::recycle(candidates);
                    self.nodes = tape.into_buffer();
                    self.roots = roots;
                    return;
                }
            };
            let mut bufs = Bufs {
                names: json::recycle(std::mem::take(&mut self.names)),
                values: [const { std::mem::MaybeUninit::uninit() }; 64],
                attributes: json::recycle(std::mem::take(&mut self.attributes)),
                texts: &mut self.texts,
                out,
                scratch: &mut self.scratch,
            };
            finish(&candidates, coords, data, multi, &mut bufs);
            self.names = json::recycle(bufs.names);
            self.attributes = json::recycle(bufs.attributes);
            self.candidates = json::recycle(candidates);
        }
        self.nodes = tape.into_buffer();
        self.roots = roots;
    }
}

impl Reason {
    fn detail_for(self, what: String) -> (Reason, String) {
        (self, format!("invalid JSON: {what}"))
    }
}

fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(bytes);
    match decoder
        .take(MAX_INFLATED_BYTES as u64 + 1)
        .read_to_end(&mut out)
    {
        Ok(n) if n > MAX_INFLATED_BYTES => Err(format!(
            "gzip data inflates past {MAX_INFLATED_BYTES} bytes"
        )),
        Ok(_) => Ok(out),
        Err(e) => Err(format!("gzip data does not decompress: {e}")),
    }
}

/// A candidate event: an object already read, a value that is not one, or why there is
/// none (with its raw bytes).
enum Candidate<'a> {
    Obj(Obj<'a>, Known<'a>),
    Value(Val<'a>),
    Bad(Reason, String, &'a [u8]),
}

/// One line in line mode: its bytes and its value on the tape, or why it has none.
type Line<'a> = (&'a [u8], Result<usize, (Reason, String)>);

/// Line mode: each non-blank line read on its own, so one bad line spoils only itself.
/// `None` when the record is a single line (then it is quarantined whole).
fn split_lines<'a>(bytes: &'a [u8], tape: &mut Tape<'a>) -> Option<Vec<Line<'a>>> {
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    if lines.len() <= 1 {
        return None;
    }
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let value = match tape.parse_stream_bytes(line) {
            Ok(values) if values.len() == 1 => Ok(values[0]),
            Ok(_) => Err((
                Reason::InvalidJson,
                "a line holds more than one JSON value".into(),
            )),
            Err(e) if e.not_utf8() => Err((
                Reason::NotUtf8,
                format!("invalid UTF-8 at byte {} of the line", e.at),
            )),
            Err(e) => Err(Reason::InvalidJson.detail_for(e.describe(line))),
        };
        out.push((line, value));
    }
    Some(out)
}

/// Expand batches (`{"events":[…]}` and top-level arrays) into single candidates.
fn expand_into<'a>(v: Val<'a>, out: &mut Vec<Candidate<'a>>) {
    if let Some(items) = v.array() {
        out.extend(items.map(Candidate::Value));
    } else if let Some(m) = v.object() {
        expand_object(m, out);
    } else {
        out.push(Candidate::Value(v));
    }
}

/// An object is either a Braze batch (`events` and no event keys) or one event.
fn expand_object<'a>(m: Obj<'a>, out: &mut Vec<Candidate<'a>>) {
    let k = Known::of(&m);
    if let Some(events) = k.events {
        if k.event_type.is_none() && k.kind.is_none() && k.id.is_none() {
            if let Some(items) = events.array() {
                out.extend(items.map(Candidate::Value));
                return;
            }
        }
    }
    out.push(Candidate::Obj(m, k));
}

/// The members that classify and key an event, found in one pass over its members.
#[derive(Default, Clone, Copy)]
struct Known<'a> {
    event_type: Option<Val<'a>>,
    /// Airship's `type`.
    kind: Option<Val<'a>>,
    id: Option<Val<'a>>,
    time: Option<Val<'a>>,
    occurred: Option<Val<'a>>,
    user: Option<Val<'a>>,
    properties: Option<Val<'a>>,
    events: Option<Val<'a>>,
    user_id: bool,
}

impl<'a> Known<'a> {
    fn of(m: &Obj<'a>) -> Self {
        let mut k = Known::default();
        for (key, v) in m.iter() {
            let slot = match key.as_ref() {
                "event_type" => &mut k.event_type,
                "type" => &mut k.kind,
                "id" => &mut k.id,
                "time" => &mut k.time,
                "occurred" => &mut k.occurred,
                "user" => &mut k.user,
                "properties" => &mut k.properties,
                "events" => &mut k.events,
                "user_id" => {
                    k.user_id = true;
                    continue;
                }
                _ => continue,
            };
            *slot = Some(v);
        }
        k
    }
}

fn finish<'a>(
    items: &[Candidate<'a>],
    coords: &Coordinates<'_>,
    data: &[u8],
    multi: bool,
    bufs: &mut Bufs<'a, '_>,
) {
    if items.is_empty() {
        // e.g. {"events": []} or []: valid, but nothing in it. Kept, so that counts add up.
        return bufs.out.emit(Decoded::Quarantined(QuarantineEntry::new(
            Reason::Empty,
            "the record is a batch with no events",
            coords,
            None,
            data.to_vec(),
        )));
    }
    let single = items.len() == 1 && !multi;
    for (i, item) in items.iter().enumerate() {
        let position = if single { None } else { Some(i) };
        let quarantine = |reason: Reason, detail: String, raw: &[u8]| {
            let detail = match position {
                Some(p) => format!("event {p}: {detail}"),
                None => detail,
            };
            let raw = if single { data.to_vec() } else { raw.to_vec() };
            Decoded::Quarantined(QuarantineEntry::new(reason, detail, coords, position, raw))
        };
        // Borrowed, not copied (~136 bytes, a `memcpy` a record).
        let of_value;
        let (m, known): (Obj<'a>, &Known<'a>) = match item {
            Candidate::Bad(reason, detail, raw) => {
                bufs.out.emit(quarantine(*reason, detail.clone(), raw));
                continue;
            }
            Candidate::Obj(m, k) => (*m, k),
            Candidate::Value(v) => match v.object() {
                Some(m) => {
                    of_value = Known::of(&m);
                    (m, &of_value)
                }
                None => {
                    bufs.out.emit(quarantine(
                        Reason::NotAnObject,
                        format!("expected a JSON object, found {}", kind_of(*v)),
                        v.get().as_bytes(),
                    ));
                    continue;
                }
            },
        };
        match event_line(&m, known, coords, bufs) {
            Ok((destination, event_id, start)) => {
                let buffer = bufs.out.buffer(destination);
                let end = buffer.len();
                if end - start <= MAX_LINE_BYTES {
                    bufs.out.emit(Decoded::Event {
                        destination,
                        event_id: &event_id,
                        line: start..end,
                    })
                } else {
                    buffer.truncate(start);
                    bufs.out.emit(quarantine(
                        Reason::TooLarge,
                        format!(
                            "canonical event is {} bytes; one Firehose record holds {MAX_LINE_BYTES}",
                            end - start
                        ),
                        m.raw.as_bytes(),
                    ))
                }
            }
            Err(r) => bufs
                .out
                .emit(quarantine(r.reason, r.detail, m.raw.as_bytes())),
        }
    }
}

/// One event object → its canonical line appended to its destination's buffer;
/// (destination, event id, where the line starts), or why not.
fn event_line<'a>(
    m: &Obj<'a>,
    k: &Known<'a>,
    coords: &Coordinates<'_>,
    bufs: &mut Bufs<'a, '_>,
) -> LineResult<'a> {
    if m.huge {
        // Valid JSON grammar, but neither serde_json nor Redshift reads such a number back.
        return Err(reject(Reason::InvalidJson, OUT_OF_RANGE));
    }
    for format in VENDORS {
        if (format.claims)(k) {
            return (format.decode)(m, k, coords, bufs);
        }
    }
    if k.id.is_some() || k.user_id || k.time.is_some() || k.user.is_some() || k.properties.is_some()
    {
        return Err(reject(
            Reason::MissingEventType,
            "a Braze-like record without event_type cannot be classified",
        ));
    }
    let keys: Vec<&str> = m.iter().take(8).map(|(k, _)| k.as_ref()).collect();
    Err(reject(
        Reason::UnrecognisedShape,
        format!(
            "neither a Braze nor an Airship event (keys: {})",
            keys.join(", ")
        ),
    ))
}

fn event_id<'a>(k: &Known<'a>) -> Result<(Cow<'a, str>, Val<'a>), Rejection> {
    let raw = match k.id {
        None => return Err(reject(Reason::MissingId, "no id")),
        Some(r) => r,
    };
    let id = match first_byte(raw) {
        b'n' => return Err(reject(Reason::MissingId, "no id")),
        b'"' => match string(raw) {
            Some(s) if blank(&s) => return Err(reject(Reason::MissingId, "id is empty")),
            Some(s) => s,
            None => return Err(reject(Reason::InvalidId, "id is not a valid string")),
        },
        b'-' | b'0'..=b'9' => match number_text(raw) {
            Some(n) => Cow::Owned(n),
            None => return Err(reject(Reason::InvalidJson, OUT_OF_RANGE)),
        },
        _ => return Err(reject(Reason::InvalidId, format!("id is {}", kind_of(raw)))),
    };
    if id.len() > MAX_ID_BYTES {
        return Err(reject(
            Reason::InvalidId,
            format!("id is {} bytes; at most {MAX_ID_BYTES}", id.len()),
        ));
    }
    Ok((id, raw))
}

#[cfg(test)]
mod tests {
    use super::reference as vendor_reference;
    use super::write::{column_of, columns, sig_of};
    use super::*;
    use crate::event::CanonicalEvent;
    use proptest::prelude::*;
    use serde_json::Value;

    const COORDS: Coordinates<'static> = Coordinates {
        shard_id: "shardId-000000000001",
        sequence_number: "77",
        received_at_ms: 1_767_229_200_000,
    };

    fn fixtures() -> Vec<Vec<u8>> {
        let mut all: Vec<Vec<u8>> = [
            "braze_nested_send.json",
            "braze_batch.json",
            "braze_flat_open.json",
            "airship_rtds.ndjson",
            "braze_flat_no_event_type.json",
            "airship_connect.ndjson",
            "braze_currents_avro.json",
        ]
        .iter()
        .map(|n| {
            std::fs::read(format!(
                "{}/../../tests/fixtures/{n}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        })
        .collect();
        // The conformance cases (one per documented vendor type), one record per vendor,
        // one case per line.
        for vendor in ["airship", "braze"] {
            let path = format!(
                "{}/../../tests/fixtures/conformance/{vendor}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            let lines: Vec<String> = doc["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["input"].to_string())
                .collect();
            all.push(lines.join("\n").into_bytes());
        }
        all
    }

    /// An object's members as written, repeated keys included (serde_json's maps keep one).
    fn members_of(text: &[u8]) -> Vec<(String, Box<serde_json::value::RawValue>)> {
        struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);
        impl<'de> serde::Deserialize<'de> for Members {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Members;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Members, A::Error> {
                        let mut out = Vec::new();
                        while let Some(entry) = map.next_entry()? {
                            out.push(entry);
                        }
                        Ok(Members(out))
                    }
                }
                d.deserialize_map(V)
            }
        }
        serde_json::from_slice::<Members>(text)
            .map(|m| m.0)
            .unwrap_or_default()
    }

    /// Fast and reference agree: same outcomes, same destinations and ids, lines equal as
    /// JSON (and no column or attribute written twice), quarantine reasons and positions
    /// equal.
    fn same(data: &[u8]) -> Result<(), TestCaseError> {
        let fast = decode_record(data, &COORDS);
        let slow = vendor_reference::decode_record(data, &COORDS);
        // Deliberate difference: a number beyond a double fails the reference's whole parse
        // (the record is quarantined whole, or line by line); the fast decoder quarantines
        // only the event that holds it.
        let out_of_range = |o: &Outcome| matches!(o, Outcome::Quarantined(q) if q.detail.contains("number out of range"));
        if slow.iter().any(out_of_range) {
            // What matters: no event line lets such a number through to the warehouse.
            for o in &fast {
                if let Outcome::Event { line, .. } = o {
                    prop_assert!(
                        serde_json::from_slice::<Value>(line).is_ok(),
                        "an unreadable number got through: {}",
                        String::from_utf8_lossy(line)
                    );
                }
            }
            return Ok(());
        }
        prop_assert_eq!(
            fast.len(),
            slow.len(),
            "outcome count for {:?}",
            String::from_utf8_lossy(data)
        );
        for (f, s) in fast.iter().zip(&slow) {
            match (f, s) {
                (
                    Outcome::Event {
                        destination: d1,
                        event_id: i1,
                        line: l1,
                    },
                    Outcome::Event {
                        destination: d2,
                        event_id: i2,
                        line: l2,
                    },
                ) => {
                    prop_assert_eq!(d1, d2);
                    prop_assert_eq!(i1, i2);
                    prop_assert!(
                        l1.ends_with(b"\n") && l1.iter().filter(|b| **b == b'\n').count() == 1,
                        "one line per event"
                    );
                    // No column and no attribute is written twice: a reader keeps one
                    // of them, and the other value is lost. (Values inside an attribute
                    // are the vendor's as written.)
                    let top = members_of(l1);
                    let attributes = top.iter().find(|(k, _)| k == "attributes");
                    for keys in [
                        top.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
                        attributes
                            .map(|(_, raw)| members_of(raw.get().as_bytes()))
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, _)| k)
                            .collect(),
                    ] {
                        let mut unique = keys.clone();
                        unique.sort();
                        unique.dedup();
                        prop_assert_eq!(
                            unique.len(),
                            keys.len(),
                            "a key written twice: {}",
                            String::from_utf8_lossy(l1)
                        );
                    }
                    let a: Value = serde_json::from_slice(l1).unwrap();
                    let b: Value = serde_json::from_slice(l2).unwrap();
                    prop_assert_eq!(&a, &b);
                    // The fast line is a canonical event, key order included, and writing
                    // that event again gives the same row.
                    let event = CanonicalEvent::from_line(*d1, l1);
                    prop_assert!(
                        event.is_ok(),
                        "{:?}: {}",
                        event,
                        String::from_utf8_lossy(l1)
                    );
                    let event = event.unwrap();
                    let reference = CanonicalEvent::from_line(*d2, l2).ok();
                    prop_assert_eq!(Some(&event), reference.as_ref());
                    prop_assert_eq!(
                        serde_json::from_slice::<Value>(&event.to_line()).unwrap(),
                        a
                    );
                }
                (Outcome::Quarantined(a), Outcome::Quarantined(b)) => {
                    prop_assert_eq!(a.reason, b.reason, "{} / {}", a.detail, b.detail);
                    prop_assert_eq!(a.position, b.position);
                }
                _ => prop_assert!(
                    false,
                    "different outcome kinds for {:?}: {:?} vs {:?}",
                    String::from_utf8_lossy(data),
                    f,
                    s
                ),
            }
        }
        Ok(())
    }

    #[test]
    fn a_number_beyond_a_double_quarantines_only_its_event() {
        let batch = br#"{"events":[{"event_type":"users.messages.pushnotification.Send","id":"a","time":1767225600,"x":1e999},
                                  {"event_type":"users.messages.pushnotification.Send","id":"b","time":1767225600,"y":{"z":[2e400]}},
                                  {"event_type":"users.messages.pushnotification.Send","id":"c","time":1767225600,"ok":1e300}]}"#;
        let out = decode_record(batch, &COORDS);
        assert!(
            matches!(&out[0], Outcome::Quarantined(q) if q.reason == Reason::InvalidJson && q.position == Some(0))
        );
        assert!(
            matches!(&out[1], Outcome::Quarantined(q) if q.reason == Reason::InvalidJson && q.position == Some(1))
        );
        assert!(matches!(&out[2], Outcome::Event { event_id, .. } if event_id == "c"));
        let single = br#"{"event_type":"users.messages.pushnotification.Send","id":"a","time":1767225600,"x":-1e999}"#;
        assert!(
            matches!(&decode_record(single, &COORDS)[0], Outcome::Quarantined(q) if q.reason == Reason::InvalidJson && q.position.is_none())
        );
    }

    #[test]
    fn one_decoder_writes_each_records_own_shard_and_sequence_number() {
        // The decoder keeps the shard's part of the coordinates from one record to the
        // next: a record of another shard (the local run's decoder reads every shard), a
        // shard id needing escapes, and a return to the first must each get their own.
        let record =
            br#"{"event_type":"users.messages.pushnotification.Send","id":"a","time":1767225600}"#;
        let mut decoder = Decoder::default();
        for (shard, sequence) in [
            (
                "shardId-000000000001",
                "49590338271490256608559692538361571095921575989136588801",
            ),
            ("shardId-000000000001", "2"),
            ("shardId-000000000002", "3"),
            ("shard \"quoted\"", "4"),
            ("shardId-000000000001", "5"),
            ("", "6"),
        ] {
            let coords = Coordinates {
                shard_id: shard,
                sequence_number: sequence,
                received_at_ms: COORDS.received_at_ms,
            };
            let mut out = Collect {
                buffers: vec![Vec::new(); DESTINATIONS.len()],
                outcomes: Vec::new(),
            };
            decoder.decode(record, &coords, &mut out);
            let Some(Outcome::Event { line, .. }) = out.outcomes.first() else {
                panic!("{:?}", out.outcomes);
            };
            let v: Value = serde_json::from_slice(line).unwrap();
            assert_eq!(v["source_shard_id"], shard, "{shard}");
            assert_eq!(v["source_sequence_number"], sequence, "{shard}");
            let Outcome::Event { line: fresh, .. } = &decode_record(record, &coords)[0] else {
                panic!("a fresh decoder quarantined it");
            };
            assert_eq!(line, fresh);
        }
    }

    #[test]
    fn keys_of_up_to_16_bytes_are_their_signature() {
        // The column look-up takes equal signatures for equal keys up to 16 bytes: a byte
        // changed anywhere in such a key must change its signature, at every length.
        for n in 0..=16usize {
            let key: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
            for at in 0..n {
                let mut other = key.clone();
                other[at] = b'z';
                assert_ne!(sig_of(&key), sig_of(&other), "length {n}, byte {at}");
            }
            if n > 0 {
                assert_ne!(sig_of(&key), sig_of(&key[..n - 1]), "length {n}");
            }
        }
    }

    #[test]
    fn agrees_with_the_reference_on_every_fixture() {
        for f in fixtures() {
            same(&f).unwrap();
        }
    }

    proptest! {
        #[test]
        fn strings_are_written_as_serde_json_writes_them(s in "(\\PC|[\\x00-\\x1f\"\\\\])*") {
            let mut ours = Vec::new();
            json_str(&mut ours, &s);
            prop_assert_eq!(ours, serde_json::to_vec(&s).unwrap());
        }

        #[test]
        fn column_lookup_finds_every_column_and_nothing_else(k in "[a-z_.]{0,24}") {
            let t = columns();
            prop_assert_eq!(column_of(&k), t.ids.get(k.as_str()).copied());
            for name in &t.names {
                prop_assert_eq!(column_of(name), t.ids.get(name).copied());
            }
        }
    }

    #[test]
    fn every_column_id_fits_the_64_bit_sets_and_slots() {
        // `filled`, `seen_columns` and the destination masks are u64s, and an event has
        // 64 value slots: a catalogue with more text columns needs wider ones.
        assert!(
            columns().names.len() <= 64,
            "{} columns",
            columns().names.len()
        );
    }

    #[test]
    fn members_of_keeps_repeated_keys() {
        // What `same` relies on to find a key written twice.
        let keys: Vec<String> = members_of(br#"{"a":1,"b":{"c":2},"a":3}"#)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["a", "b", "a"]);
    }

    #[test]
    fn a_nested_key_equal_to_a_renamed_one_is_renamed_too() {
        // `a` is at the top and in `user` (kept as `user.a`); `properties` has its own
        // `user.a`, which must not land on the same attribute (one value would be lost).
        let record = br#"{"event_type":"users.messages.pushnotification.Send","id":"e1","time":1767225600,"a":1,"user":{"a":2},"properties":{"user.a":3}}"#;
        let Outcome::Event { line, .. } = &decode_record(record, &COORDS)[0] else {
            panic!("quarantined");
        };
        let text = std::str::from_utf8(line).unwrap();
        assert!(
            text.contains(r#""attributes":{"a":1,"user.a":2,"properties.user.a":3}"#),
            "{text}"
        );
        same(record).unwrap();
        // A top-level key already named `user.a`: user's `a` becomes `user.user.a`.
        let record = br#"{"event_type":"users.messages.pushnotification.Send","id":"e1","time":1767225600,"a":1,"user.a":5,"user":{"a":2}}"#;
        let Outcome::Event { line, .. } = &decode_record(record, &COORDS)[0] else {
            panic!("quarantined");
        };
        let text = std::str::from_utf8(line).unwrap();
        assert!(
            text.contains(r#""attributes":{"a":1,"user.a":5,"user.user.a":2}"#),
            "{text}"
        );
        same(record).unwrap();
    }

    #[test]
    fn an_airship_name_that_is_taken_is_prefixed_again_and_a_named_user_kept_once() {
        let line = |record: &[u8]| {
            let Outcome::Event { line, .. } = &decode_record(record, &COORDS)[0] else {
                panic!("quarantined");
            };
            same(record).unwrap();
            String::from_utf8(line.clone()).unwrap()
        };
        // `device_id` is taken by a top-level key, so the device's channel goes to
        // attributes as `device.channel` — a name a top-level key already has.
        let text = line(br#"{"type":"SEND","id":"a1","occurred":"2026-01-01T09:00:00Z","device_id":"d0","device":{"channel":"c1"},"device.channel":"t"}"#);
        assert!(
            text.contains(r#""attributes":{"device.device.channel":"c1","device.channel":"t"}"#),
            "{text}"
        );
        // Both named-user columns taken: the device's named user is kept once.
        let text = line(br#"{"type":"SEND","id":"a1","occurred":"2026-01-01T09:00:00Z","external_user_id":"x","user_id":"y","device":{"channel":"c1","named_user_id":"n1"}}"#);
        assert!(
            text.contains(r#""attributes":{"device.named_user_id":"n1"}"#),
            "{text}"
        );
    }

    /// Members for a Braze event or its nested objects: keys from a small pool, so that
    /// top-level, `user` and `properties` keys clash, repeat, and take columns (`user_id`,
    /// `campaign_id`), the click decision (`button_action_type`) and `message_extras`.
    fn members() -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
        let key = prop::sample::select(vec![
            "user_id",
            "campaign_id",
            "button_action_type",
            "message_extras",
            "a",
            "user.a",
            "user.user.a",
            "properties.a",
            "b",
        ]);
        let value = prop::sample::select(vec![
            r#""uri""#,
            r#""deep_link""#,
            r#""news_feed""#,
            r#""{\"offer\":\"SAVE10\"}""#,
            r#"{"string":"uri"}"#,
            "7",
            "null",
            "true",
            r#"{"k":[1,2]}"#,
        ]);
        prop::collection::vec((key, value), 0..6)
    }

    fn object(members: &[(&str, &str)]) -> String {
        let inner: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", inner.join(","))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]
        /// Braze events whose top-level, `user` and `properties` keys clash and repeat
        /// (each nested key taken as it is unless the top level has it or it was taken
        /// already, else renamed `user.<key>` / `properties.<key>`, prefixed again while
        /// that is taken), decoded as the reference decodes them, and no value lost: the
        /// line holds no key twice.
        #[test]
        fn nested_keys_that_clash_are_read_as_the_reference_reads_them(
            top in members(),
            user in prop::option::of(members()),
            properties in prop::option::of(members()),
            open in any::<bool>(),
            at in any::<prop::sample::Index>(),
        ) {
            let kind = if open { "Open" } else { "Send" };
            let mut all: Vec<String> = vec![
                format!(r#""event_type":"users.messages.pushnotification.{kind}""#),
                r#""id":"e1""#.into(),
                r#""time":1767225600"#.into(),
            ];
            all.extend(top.iter().map(|(k, v)| format!("\"{k}\":{v}")));
            let mut nested = Vec::new();
            if let Some(u) = &user {
                nested.push(format!("\"user\":{}", object(u)));
            }
            if let Some(p) = &properties {
                nested.push(format!("\"properties\":{}", object(p)));
            }
            // The nested objects somewhere among the top-level members.
            let i = at.index(all.len() + 1);
            all.splice(i..i, nested);
            let record = format!("{{{}}}", all.join(","));
            same(record.as_bytes())?;
            for o in decode_record(record.as_bytes(), &COORDS) {
                if let Outcome::Event { line, .. } = o {
                    let mut tape = Tape::default();
                    let root = tape.parse_bytes(&line).unwrap();
                    prop_assert!(!tape.val(root).repeats_a_key(), "{}", String::from_utf8_lossy(&line));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]
        /// Airship events whose top-level keys are named like the attributes the decoder
        /// makes (`device.<key>`, `body.<key>`, `user.named_user_id`), beside devices,
        /// bodies and users that fill or leave those: decoded as the reference decodes them,
        /// no column or attribute written twice. A made name that is taken is prefixed
        /// again (`device.device.ios_channel`); a named user neither column takes is kept
        /// once.
        #[test]
        fn airship_names_that_clash_are_read_as_the_reference_reads_them(
            kind in prop::sample::select(vec!["SEND", "OPEN", "SEND_ABORTED", "UNINSTALL", "CUSTOM"]),
            top in prop::collection::vec((prop::sample::select(vec![
                "device.channel", "device.ios_channel", "device.platform", "device.named_user_id",
                "body.push_id", "body.group_id", "body.triggering_push.push_id", "body.reason",
                "user.named_user_id", "user_id", "platform", "device_id", "x",
            ]), prop::sample::select(vec![r#""v""#, "7", "null", r#"{"a":1}"#])), 0..5),
            device in prop::option::of(prop::collection::vec((prop::sample::select(vec![
                "channel", "ios_channel", "android_channel", "device_type", "named_user_id",
                "platform", "x",
            ]), prop::sample::select(vec![r#""c1""#, r#""IOS""#, r#""c2""#, "3", r#"{"iana_timezone":"Europe/London","y":1}"#])), 0..5)),
            body in prop::option::of(prop::collection::vec((prop::sample::select(vec![
                "push_id", "group_id", "variant_id", "reason", "triggering_push", "x",
            ]), prop::sample::select(vec![r#""p1""#, "5", r#"{"push_id":"p2","x":1}"#, "null"])), 0..5)),
            user in prop::option::of(prop::collection::vec((prop::sample::select(vec![
                "named_user_id", "contact_id", "x",
            ]), prop::sample::select(vec![r#""u1""#, "2"])), 0..3)),
        ) {
            let mut all: Vec<String> = vec![
                format!(r#""type":"{kind}""#),
                r#""id":"a1""#.into(),
                r#""occurred":"2026-01-01T09:00:00Z""#.into(),
            ];
            all.extend(top.iter().map(|(k, v)| format!("\"{k}\":{v}")));
            for (name, members) in [("device", &device), ("body", &body), ("user", &user)] {
                if let Some(m) = members {
                    all.push(format!("\"{name}\":{}", object(m)));
                }
            }
            let record = format!("{{{}}}", all.join(","));
            same(record.as_bytes())?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]
        #[test]
        fn agrees_with_the_reference_on_mutated_records(
            i in 0..9usize,
            edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0..3u8), 0..4),
        ) {
            let mut data = fixtures()[i].clone();
            for (at, byte, op) in edits {
                if data.is_empty() { break; }
                let at = at as usize % data.len();
                match op {
                    0 => data[at] = byte,
                    1 => data.insert(at, byte),
                    _ => { data.remove(at); }
                }
            }
            same(&data)?;
        }
    }
}
