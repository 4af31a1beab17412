//! Vendor formats → canonical events: decides the shape of each Kinesis record and never
//! guesses silently — what it cannot classify is quarantined with a reason.
//!
//! Built for throughput: a record is parsed into ordered `(key, raw JSON)` members
//! borrowed from the input, only the fields that decide something (id, type, time, button
//! action) are read, and every other value's raw JSON is copied straight into the output
//! line. `vendor_reference.rs` (tests only) is the straightforward `Value`-tree decoder
//! this one is checked against.

use crate::catalogue::{
    destination_index, unknown_type_index, ColumnKind, DestinationKind, DESTINATIONS,
};
use crate::event::{Coordinates, QuarantineEntry, Reason};
use crate::timefmt;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

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

pub(crate) const BRAZE_TYPES: &[(&str, &str)] = &[
    ("users.messages.pushnotification.Send", "send"),
    ("users.messages.pushnotification.Open", "open"),
    ("users.messages.pushnotification.Bounce", "bounce"),
    ("users.messages.pushnotification.Abort", "abort"),
    ("users.messages.pushnotification.Retry", "retry"),
    (
        "users.messages.pushnotification.InfluencedOpen",
        "influenced_open",
    ),
    (
        "users.messages.pushnotification.IosForeground",
        "ios_foreground",
    ),
    (
        "users.behaviors.pushnotification.TokenStateChange",
        "token_state_change",
    ),
];

pub(crate) const AIRSHIP_TYPES: &[(&str, &str)] = &[
    ("SEND", "send"),
    ("OPEN", "open"),
    ("UNINSTALL", "uninstall"),
    ("CONTROL", "control"),
];

/// Braze button actions that take the user somewhere: such an Open is a `click`.
pub const CLICK_BUTTON_ACTIONS: &[&str] = &["uri", "deep_link"];

const AIRSHIP_CHANNELS: &[(&str, &str)] = &[
    ("ios_channel", "ios"),
    ("android_channel", "android"),
    ("amazon_channel", "amazon"),
    ("web_channel", "web"),
    ("sms_channel", "sms"),
    ("email_channel", "email"),
    ("open_channel", "open"),
];

/// The vendor-type mapping tables, for docs and tests: (vendor, vendor type, canonical type).
pub fn vendor_mappings() -> Vec<(&'static str, &'static str, &'static str)> {
    BRAZE_TYPES
        .iter()
        .map(|(v, c)| ("braze", *v, *c))
        .chain(AIRSHIP_TYPES.iter().map(|(v, c)| ("airship", *v, *c)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Column table: which vendor field names map to which text column, per destination.

/// Columns written by the decoder itself, never taken from a vendor field of that name.
const RESERVED: &[&str] = &[
    "event_id",
    "event_type",
    "vendor",
    "vendor_event_type",
    "source_shard_id",
    "source_sequence_number",
];

/// FNV-1a: the column map is looked up ~20 times per event with short static keys, where
/// SipHash's DoS resistance buys nothing.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

struct ColumnTable {
    /// Text column name → global id. Ids follow catalogue order, so for every destination
    /// ascending id is the order its columns are written in.
    ids: HashMap<&'static str, u8, std::hash::BuildHasherDefault<Fnv>>,
    names: Vec<&'static str>,
    /// Per destination: bit `id` set when the destination has that column.
    masks: Vec<u64>,
}

fn columns() -> &'static ColumnTable {
    static TABLE: OnceLock<ColumnTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = ColumnTable {
            ids: HashMap::default(),
            names: Vec::new(),
            masks: Vec::new(),
        };
        for d in DESTINATIONS
            .iter()
            .filter(|d| d.kind != DestinationKind::Quarantine)
        {
            for c in d.columns() {
                if matches!(c.kind, ColumnKind::Text(_))
                    && !RESERVED.contains(&c.name)
                    && !t.ids.contains_key(c.name)
                {
                    t.ids.insert(c.name, t.names.len() as u8);
                    t.names.push(c.name);
                }
            }
        }
        for d in DESTINATIONS {
            let mask = d
                .columns()
                .iter()
                .filter_map(|c| t.ids.get(c.name))
                .fold(0u64, |m, id| m | (1u64 << id));
            t.masks.push(if d.kind == DestinationKind::Quarantine {
                0
            } else {
                mask
            });
        }
        t
    })
}

// ---------------------------------------------------------------------------------------
// Borrowed JSON members.

/// An object key, borrowed from the input unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object's members in input order: keys and the raw JSON of their values.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out: Vec<(Cow<'de, str>, &'de RawValue)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((k, v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    // A repeated key keeps its first position and its last value, as a JSON
                    // object read into a map does.
                    match out.iter_mut().find(|(have, _)| *have == k.0) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k.0, v)),
                    }
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Members<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

fn first_byte(raw: &RawValue) -> u8 {
    raw.get().as_bytes().first().copied().unwrap_or(b' ')
}

fn members(raw: &RawValue) -> Option<Members<'_>> {
    if first_byte(raw) != b'{' {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

fn elements(raw: &RawValue) -> Option<Vec<&RawValue>> {
    if first_byte(raw) != b'[' {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// The text of a JSON string value (unescaped only when it has escapes).
fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    if !s.starts_with('"') {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(s).ok().map(Cow::Owned)
}

fn kind_of(raw: &RawValue) -> &'static str {
    match first_byte(raw) {
        b'n' => "null",
        b't' | b'f' => "a boolean",
        b'"' => "a string",
        b'[' => "an array",
        b'{' => "an object",
        _ => "a number",
    }
}

/// A JSON number's text, normalised as serde_json writes numbers.
fn number_text(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<serde_json::Number>(raw.get())
        .ok()
        .map(|n| n.to_string())
}

// ---------------------------------------------------------------------------------------
// Decoding a record.

/// Decode one Kinesis record into outcomes. Never panics, whatever the bytes.
pub fn decode_record(data: &[u8], coords: &Coordinates<'_>) -> Vec<Outcome> {
    let whole = |reason: Reason, detail: String| {
        vec![Outcome::Quarantined(QuarantineEntry::new(
            reason,
            detail,
            coords,
            None,
            data.to_vec(),
        ))]
    };
    let inflated;
    let mut bytes = data;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        match inflate(bytes) {
            Ok(v) => {
                inflated = v;
                bytes = &inflated;
            }
            Err(detail) => return whole(Reason::BadCompression, detail),
        }
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return whole(
            Reason::Empty,
            format!("record of {} bytes holds no data", data.len()),
        );
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            match single_object(text).map_or_else(|| parse_stream(text).map(Err), |c| Ok(Ok(c))) {
                Ok(Ok(candidates)) => finish(candidates, coords, data, false),
                Ok(Err(values)) => {
                    let mut candidates = Vec::with_capacity(values.len());
                    for v in values {
                        expand_into(v, &mut candidates);
                    }
                    finish(candidates, coords, data, false)
                }
                Err(err) => match split_lines(bytes) {
                    Some(items) => finish(items, coords, data, true),
                    None => whole(Reason::InvalidJson, err),
                },
            }
        }
        Err(e) => match split_lines(bytes) {
            Some(items) => finish(items, coords, data, true),
            None => whole(
                Reason::NotUtf8,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            ),
        },
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

/// Most records are one object: parse it straight into members, in one pass.
fn single_object(text: &str) -> Option<Vec<Candidate<'_>>> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let m = serde_json::from_str::<Members>(text).ok()?;
    let mut out = Vec::with_capacity(1);
    expand_object(m, text, &mut out);
    Some(out)
}

/// Whitespace-separated JSON values, borrowed; an error says where.
fn parse_stream(text: &str) -> Result<Vec<&RawValue>, String> {
    let mut out = Vec::new();
    for item in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>() {
        match item {
            Ok(v) => out.push(v),
            Err(e) => return Err(format!("invalid JSON: {e}")),
        }
    }
    Ok(out)
}

/// A candidate event: an object already parsed (with its raw text), a raw JSON value not
/// parsed yet, or why it has none (with its raw bytes).
enum Candidate<'a> {
    Obj(Members<'a>, &'a str),
    Value(&'a RawValue),
    Bad(Reason, String, &'a [u8]),
}

/// Line mode: each non-blank line parsed on its own, so one bad line spoils only itself.
/// `None` when the record is a single line (then it is quarantined whole).
fn split_lines(bytes: &[u8]) -> Option<Vec<Candidate<'_>>> {
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
        match std::str::from_utf8(line) {
            Err(e) => out.push(Candidate::Bad(
                Reason::NotUtf8,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
                line,
            )),
            Ok(text) => match parse_stream(text) {
                Ok(values) if values.len() == 1 => expand_into(values[0], &mut out),
                Ok(_) => out.push(Candidate::Bad(
                    Reason::InvalidJson,
                    "a line holds more than one JSON value".into(),
                    line,
                )),
                Err(e) => out.push(Candidate::Bad(Reason::InvalidJson, e, line)),
            },
        }
    }
    Some(out)
}

/// Expand batches (`{"events":[…]}` and top-level arrays) into single candidates.
fn expand_into<'a>(v: &'a RawValue, out: &mut Vec<Candidate<'a>>) {
    match first_byte(v) {
        b'[' => match elements(v) {
            Some(items) => out.extend(items.into_iter().map(Candidate::Value)),
            None => out.push(Candidate::Value(v)),
        },
        b'{' => match members(v) {
            Some(m) => expand_object(m, v.get(), out),
            None => out.push(Candidate::Value(v)),
        },
        _ => out.push(Candidate::Value(v)),
    }
}

/// An object is either a Braze batch (`events` and no event keys) or one event.
fn expand_object<'a>(m: Members<'a>, raw: &'a str, out: &mut Vec<Candidate<'a>>) {
    if let Some(events) = m.get("events") {
        if !m.has("event_type") && !m.has("type") && !m.has("id") {
            if let Some(items) = elements(events) {
                out.extend(items.into_iter().map(Candidate::Value));
                return;
            }
        }
    }
    out.push(Candidate::Obj(m, raw));
}

/// An event line, or the quarantine entry for why there is none (or why it is too large).
fn event_outcome(
    result: Result<(usize, String, Vec<u8>), Rejection>,
    raw: &[u8],
    quarantine: &dyn Fn(Reason, String, &[u8]) -> Outcome,
) -> Outcome {
    match result {
        Ok((destination, event_id, line)) if line.len() <= MAX_LINE_BYTES => Outcome::Event {
            destination,
            event_id,
            line,
        },
        Ok((_, _, line)) => quarantine(
            Reason::TooLarge,
            format!(
                "canonical event is {} bytes; one Firehose record holds {MAX_LINE_BYTES}",
                line.len()
            ),
            raw,
        ),
        Err(r) => quarantine(r.reason, r.detail, raw),
    }
}

fn finish(
    items: Vec<Candidate<'_>>,
    coords: &Coordinates<'_>,
    data: &[u8],
    multi: bool,
) -> Vec<Outcome> {
    if items.is_empty() {
        // e.g. {"events": []} or []: valid, but nothing in it. Kept, so that counts add up.
        return vec![Outcome::Quarantined(QuarantineEntry::new(
            Reason::Empty,
            "the record is a batch with no events",
            coords,
            None,
            data.to_vec(),
        ))];
    }
    let single = items.len() == 1 && !multi;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let position = if single { None } else { Some(i) };
        let quarantine = |reason: Reason, detail: String, raw: &[u8]| {
            let detail = match position {
                Some(p) => format!("event {p}: {detail}"),
                None => detail,
            };
            let raw = if single { data.to_vec() } else { raw.to_vec() };
            Outcome::Quarantined(QuarantineEntry::new(reason, detail, coords, position, raw))
        };
        match item {
            Candidate::Bad(reason, detail, raw) => out.push(quarantine(reason, detail, raw)),
            Candidate::Obj(m, raw) => out.push(event_outcome(
                event_line(&m, coords),
                raw.as_bytes(),
                &quarantine,
            )),
            Candidate::Value(v) => match members(v) {
                Some(m) => out.push(event_outcome(
                    event_line(&m, coords),
                    v.get().as_bytes(),
                    &quarantine,
                )),
                None => out.push(quarantine(
                    Reason::NotAnObject,
                    format!("expected a JSON object, found {}", kind_of(v)),
                    v.get().as_bytes(),
                )),
            },
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// One event → one canonical line.

/// A column's value: raw JSON string text to copy, or text to write as a JSON string.
#[derive(Clone)]
enum Text<'a> {
    Raw(&'a str),
    Owned(String),
}

/// The fixed head of a canonical line.
#[derive(Clone, Copy)]
struct Header<'a> {
    id: &'a str,
    id_raw: &'a RawValue,
    event_type: &'a str,
    vendor: &'a str,
    vendor_type: &'a RawValue,
    occurred_ms: i64,
}

/// An attribute's value: raw JSON to copy, JSON text built here, or an object that held
/// a value no JSON reader downstream accepts (a number beyond the range of a double).
enum Json<'a> {
    Raw(&'a str),
    Built(String),
    Invalid,
}

struct Event<'a> {
    destination: usize,
    mask: u64,
    /// (column id, value), first value wins; written in ascending id order.
    columns: Vec<(u8, Text<'a>)>,
    attributes: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Event<'a> {
    fn new(destination: usize) -> Self {
        Event {
            destination,
            mask: columns().masks[destination],
            columns: Vec::with_capacity(16),
            attributes: Vec::with_capacity(8),
        }
    }

    fn column_id(&self, name: &str) -> Option<u8> {
        columns()
            .ids
            .get(name)
            .copied()
            .filter(|id| self.mask & (1u64 << id) != 0)
    }

    fn has_value(&self, id: u8) -> bool {
        self.columns.iter().any(|(c, _)| *c == id)
    }

    /// A vendor field: into its column when the destination has one and the value is a
    /// scalar (null leaves the column null), else into attributes under `attr_key`.
    fn field(&mut self, column: &str, attr_key: Cow<'a, str>, v: &'a RawValue) {
        if let Some(id) = self.column_id(column) {
            let text = match first_byte(v) {
                b'"' => Some(Some(Text::Raw(v.get()))),
                b't' | b'f' => Some(Some(Text::Owned(v.get().to_owned()))),
                b'n' => Some(None),
                b'{' | b'[' => None,
                _ => number_text(v).map(|n| Some(Text::Owned(n))),
            };
            match text {
                Some(Some(t)) if !self.has_value(id) => {
                    self.columns.push((id, t));
                    return;
                }
                Some(None) => return,
                _ => {}
            }
        }
        self.attributes.push((attr_key, Json::Raw(v.get())));
    }

    fn set(&mut self, column: &str, value: Text<'a>) -> bool {
        match self.column_id(column) {
            Some(id) if !self.has_value(id) => {
                self.columns.push((id, value));
                true
            }
            _ => false,
        }
    }

    fn write(
        mut self,
        h: &Header<'_>,
        coords: &Coordinates<'_>,
    ) -> Result<(usize, Vec<u8>), Rejection> {
        let Header {
            id,
            id_raw,
            event_type,
            vendor,
            vendor_type,
            occurred_ms,
        } = *h;
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(b"{\"event_id\":");
        if first_byte(id_raw) == b'"' {
            out.extend_from_slice(id_raw.get().as_bytes());
        } else {
            json_str(&mut out, id);
        }
        out.extend_from_slice(b",\"event_type\":");
        json_str(&mut out, event_type);
        out.extend_from_slice(b",\"vendor\":");
        json_str(&mut out, vendor);
        out.extend_from_slice(b",\"vendor_event_type\":");
        out.extend_from_slice(vendor_type.get().as_bytes());
        out.extend_from_slice(b",\"occurred_at\":\"");
        timefmt::write_iso(&mut out, occurred_ms);
        out.extend_from_slice(b"\",\"received_at\":\"");
        timefmt::write_iso(&mut out, coords.received_at_ms);
        out.push(b'"');
        self.columns.sort_by_key(|(id, _)| *id);
        let names = &columns().names;
        for (id, value) in &self.columns {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(names[*id as usize].as_bytes());
            out.extend_from_slice(b"\":");
            match value {
                Text::Raw(raw) => out.extend_from_slice(raw.as_bytes()),
                Text::Owned(s) => json_str(&mut out, s),
            }
        }
        out.extend_from_slice(b",\"source_shard_id\":");
        json_str(&mut out, coords.shard_id);
        out.extend_from_slice(b",\"source_sequence_number\":");
        json_str(&mut out, coords.sequence_number);
        out.extend_from_slice(b",\"attributes\":");
        if !write_object(&mut out, &self.attributes) {
            return Err(reject(
                Reason::InvalidJson,
                "invalid JSON: number out of range (beyond a double)",
            ));
        }
        out.extend_from_slice(b"}\n");
        Ok((self.destination, out))
    }
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Copy raw JSON; when it spans lines (pretty-printed objects or arrays), drop the
/// whitespace between tokens so the canonical event stays one line. Strings cannot hold a
/// raw line break, so this only ever touches structural white space.
fn write_raw(out: &mut Vec<u8>, raw: &str) {
    let bytes = raw.as_bytes();
    if !bytes.iter().any(|b| *b == b'\n' || *b == b'\r') {
        out.extend_from_slice(bytes);
        return;
    }
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !b.is_ascii_whitespace() {
            out.push(b);
        }
    }
}

/// Raw JSON copied as it is must read back: serde_json (like Redshift) refuses numbers
/// beyond a double, which its raw-value scan lets through. Scalars are checked directly;
/// nested objects copied raw are rare and parsed whole.
fn valid_raw(raw: &str) -> bool {
    match raw.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => serde_json::from_str::<serde_json::Number>(raw).is_ok(),
        Some(b'{' | b'[') => {
            serde_json::from_str::<serde::de::IgnoredAny>(raw).is_ok()
                && serde_json::from_str::<serde_json::Value>(raw).is_ok()
        }
        _ => true,
    }
}

/// Write an object of members; false when one of them is not valid JSON to read back.
fn write_object(out: &mut Vec<u8>, members: &[(Cow<'_, str>, Json<'_>)]) -> bool {
    let mut valid = true;
    out.push(b'{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, k);
        out.push(b':');
        match v {
            Json::Raw(raw) => {
                valid &= valid_raw(raw);
                write_raw(out, raw)
            }
            Json::Built(text) => out.extend_from_slice(text.as_bytes()),
            Json::Invalid => {
                valid = false;
                out.extend_from_slice(b"null")
            }
        }
    }
    out.push(b'}');
    valid
}

/// An object built from members, as an attribute value.
fn object_json<'a>(members: &[(Cow<'_, str>, Json<'_>)]) -> Json<'a> {
    let mut out = Vec::new();
    if !write_object(&mut out, members) {
        return Json::Invalid;
    }
    String::from_utf8(out)
        .map(Json::Built)
        .unwrap_or(Json::Invalid)
}

/// One event object → (destination, event id, canonical line), or why not.
fn event_line<'a>(
    m: &Members<'a>,
    coords: &Coordinates<'_>,
) -> Result<(usize, String, Vec<u8>), Rejection> {
    if let Some(t) = m.get("event_type") {
        return match string(t) {
            Some(s) if !s.trim().is_empty() => braze(m, t, &s, coords),
            _ => Err(reject(
                Reason::MissingEventType,
                format!("event_type is {}", kind_of(t)),
            )),
        };
    }
    if let Some(t) = m.get("type") {
        if let Some(s) = string(t).filter(|s| !s.trim().is_empty()) {
            return airship(m, t, &s, coords);
        }
    }
    if ["id", "user_id", "time", "user", "properties"]
        .iter()
        .any(|k| m.has(k))
    {
        return Err(reject(
            Reason::MissingEventType,
            "a Braze-like record without event_type cannot be classified",
        ));
    }
    let keys: Vec<&str> = m.0.iter().take(8).map(|(k, _)| k.as_ref()).collect();
    Err(reject(
        Reason::UnrecognisedShape,
        format!(
            "neither a Braze nor an Airship event (keys: {})",
            keys.join(", ")
        ),
    ))
}

fn event_id<'a>(m: &Members<'a>) -> Result<(Cow<'a, str>, &'a RawValue), Rejection> {
    let raw = match m.get("id") {
        None => return Err(reject(Reason::MissingId, "no id")),
        Some(r) => r,
    };
    let id = match first_byte(raw) {
        b'n' => return Err(reject(Reason::MissingId, "no id")),
        b'"' => match string(raw) {
            Some(s) if s.trim().is_empty() => return Err(reject(Reason::MissingId, "id is empty")),
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

fn braze_time(m: &Members<'_>) -> Result<i64, Rejection> {
    let bad = |e: timefmt::BadTime| reject(Reason::BadTimestamp, format!("time: {}", e.0));
    let Some(raw) = m.get("time") else {
        return Err(reject(Reason::MissingTimestamp, "no time"));
    };
    match first_byte(raw) {
        b'n' => Err(reject(Reason::MissingTimestamp, "no time")),
        b'"' => {
            let s = string(raw).unwrap_or_default();
            match s.trim().parse::<f64>() {
                Ok(f) => timefmt::from_unix_seconds(f, &s).map_err(bad),
                Err(_) => timefmt::parse_iso(&s).map_err(bad),
            }
        }
        b'-' | b'0'..=b'9' => match serde_json::from_str::<serde_json::Number>(raw.get()) {
            Ok(n) => match n.as_f64() {
                Some(f) => timefmt::from_unix_seconds(f, &n.to_string()).map_err(bad),
                None => Err(reject(
                    Reason::BadTimestamp,
                    format!("time {n} is not a number of seconds"),
                )),
            },
            Err(_) => Err(reject(Reason::InvalidJson, OUT_OF_RANGE)),
        },
        _ => Err(reject(
            Reason::BadTimestamp,
            format!("time is {}", kind_of(raw)),
        )),
    }
}

fn braze<'a>(
    m: &Members<'a>,
    type_raw: &'a RawValue,
    vendor_type: &str,
    coords: &Coordinates<'_>,
) -> Result<(usize, String, Vec<u8>), Rejection> {
    let (id, id_raw) = event_id(m)?;
    let occurred = braze_time(m)?;

    // Nested (HTTP connector) records carry `user` and `properties` objects; flatten them
    // so both shapes map the same way. A key also present at the top (or already taken)
    // is kept in attributes as `user.<key>` / `properties.<key>`.
    let user = m.get("user").and_then(members);
    let properties = m.get("properties").and_then(members);
    let mut flat: Vec<(Cow<'a, str>, &'a RawValue)> = Vec::with_capacity(m.0.len() + 24);
    for (k, v) in &m.0 {
        match k.as_ref() {
            "id" | "event_type" | "time" => {}
            "user" if user.is_some() => {}
            "properties" if properties.is_some() => {}
            _ => flat.push((k.clone(), *v)),
        }
    }
    for (outer, inner) in [("user", &user), ("properties", &properties)] {
        if let Some(inner) = inner {
            for (k, v) in &inner.0 {
                if m.has(k) || flat.iter().any(|(f, _)| f == k) {
                    flat.push((Cow::Owned(format!("{outer}.{k}")), *v));
                } else {
                    flat.push((k.clone(), *v));
                }
            }
        }
    }

    let mapped = BRAZE_TYPES
        .iter()
        .find(|(v, _)| *v == vendor_type)
        .map(|(_, c)| *c);
    let canonical = match mapped {
        Some("open") => {
            let action = flat
                .iter()
                .find(|(k, _)| k == "button_action_type")
                .and_then(|(_, v)| string(v));
            if action.is_some_and(|a| CLICK_BUTTON_ACTIONS.contains(&a.as_ref())) {
                "click"
            } else {
                "open"
            }
        }
        other => other.unwrap_or("unknown"),
    };
    let destination = if canonical == "unknown" {
        unknown_type_index()
    } else {
        destination_index(canonical).unwrap_or_else(unknown_type_index)
    };
    let mut e = Event::new(destination);
    for (k, v) in flat {
        if k == "message_extras" {
            // A JSON string: kept parsed when it parses, as text when it does not.
            let parsed = string(v).and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok());
            e.attributes.push((
                k,
                parsed
                    .map(|p| Json::Built(p.to_string()))
                    .unwrap_or(Json::Raw(v.get())),
            ));
            continue;
        }
        let column = k.clone();
        e.field(&column, k, v);
    }
    let header = Header {
        id: &id,
        id_raw,
        event_type: canonical,
        vendor: "braze",
        vendor_type: type_raw,
        occurred_ms: occurred,
    };
    let (destination, line) = e.write(&header, coords)?;
    Ok((destination, id.into_owned(), line))
}

fn airship<'a>(
    m: &Members<'a>,
    type_raw: &'a RawValue,
    vendor_type: &str,
    coords: &Coordinates<'_>,
) -> Result<(usize, String, Vec<u8>), Rejection> {
    let (id, id_raw) = event_id(m)?;
    let occurred = match m.get("occurred") {
        None => return Err(reject(Reason::MissingTimestamp, "no occurred")),
        Some(r) if first_byte(r) == b'n' => {
            return Err(reject(Reason::MissingTimestamp, "no occurred"))
        }
        Some(r) => match string(r) {
            Some(s) => timefmt::parse_iso(&s)
                .map_err(|e| reject(Reason::BadTimestamp, format!("occurred: {}", e.0)))?,
            None => {
                return Err(reject(
                    Reason::BadTimestamp,
                    format!("occurred is {}", kind_of(r)),
                ))
            }
        },
    };
    let canonical = AIRSHIP_TYPES
        .iter()
        .find(|(v, _)| *v == vendor_type)
        .map(|(_, c)| *c)
        .unwrap_or("unknown");
    let destination = if canonical == "unknown" {
        unknown_type_index()
    } else {
        destination_index(canonical).unwrap_or_else(unknown_type_index)
    };
    let mut e = Event::new(destination);
    for (k, v) in &m.0 {
        match k.as_ref() {
            "id" | "type" | "occurred" => {}
            "device" => airship_device(&mut e, v),
            "body" => airship_body(&mut e, v),
            _ => {
                let column = k.clone();
                e.field(&column, k.clone(), v);
            }
        }
    }
    let header = Header {
        id: &id,
        id_raw,
        event_type: canonical,
        vendor: "airship",
        vendor_type: type_raw,
        occurred_ms: occurred,
    };
    let (destination, line) = e.write(&header, coords)?;
    Ok((destination, id.into_owned(), line))
}

fn airship_device<'a>(e: &mut Event<'a>, v: &'a RawValue) {
    let Some(device) = members(v) else {
        e.attributes
            .push((Cow::Borrowed("device"), Json::Raw(v.get())));
        return;
    };
    let mut rest: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
    let mut platform_set = false;
    for (k, val) in &device.0 {
        if let Some((_, platform)) = AIRSHIP_CHANNELS.iter().find(|(c, _)| c == k) {
            if first_byte(val) == b'"' && !platform_set {
                e.field("device_id", Cow::Owned(format!("device.{k}")), val);
                if !e.set("platform", Text::Owned((*platform).to_owned())) {
                    e.attributes.push((
                        Cow::Borrowed("device.platform"),
                        Json::Built(serde_json::Value::from(*platform).to_string()),
                    ));
                }
                platform_set = true;
                continue;
            }
        }
        if k == "named_user_id" && first_byte(val) == b'"' {
            e.field(
                "external_user_id",
                Cow::Borrowed("device.named_user_id"),
                val,
            );
            e.field("user_id", Cow::Borrowed("device.named_user_id"), val);
            continue;
        }
        if k == "attributes" {
            // Airship's device attributes carry the customer's IANA timezone.
            if let Some(attrs) = members(val) {
                if let Some(tz) = attrs.get("iana_timezone").filter(|v| first_byte(v) == b'"') {
                    if e.set("timezone", Text::Raw(tz.get())) {
                        let left: Vec<(Cow<'a, str>, Json<'a>)> = attrs
                            .0
                            .iter()
                            .filter(|(ak, _)| ak != "iana_timezone")
                            .map(|(ak, av)| (ak.clone(), Json::Raw(av.get())))
                            .collect();
                        if !left.is_empty() {
                            rest.push((k.clone(), object_json(&left)));
                        }
                        continue;
                    }
                }
            }
        }
        rest.push((k.clone(), Json::Raw(val.get())));
    }
    let user_id = e.column_id("user_id");
    let device_id = e.column_id("device_id");
    if let (Some(uid), Some(did)) = (user_id, device_id) {
        if !e.has_value(uid) {
            // No named user: the channel is the only identity there is.
            if let Some(ch) = e
                .columns
                .iter()
                .find(|(c, _)| *c == did)
                .map(|(_, t)| t.clone())
            {
                e.columns.push((uid, ch));
            }
        }
    }
    if !rest.is_empty() {
        e.attributes
            .push((Cow::Borrowed("device"), object_json(&rest)));
    }
}

fn airship_body<'a>(e: &mut Event<'a>, v: &'a RawValue) {
    let Some(body) = members(v) else {
        e.attributes
            .push((Cow::Borrowed("body"), Json::Raw(v.get())));
        return;
    };
    let mut rest: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
    for (k, val) in take_push_ids(e, &body, "body.") {
        if k == "triggering_push" {
            if let Some(tp) = members(val) {
                let left = take_push_ids(e, &tp, "body.triggering_push.");
                if !left.is_empty() {
                    let left: Vec<(Cow<'a, str>, Json<'a>)> = left
                        .into_iter()
                        .map(|(k, v)| (k, Json::Raw(v.get())))
                        .collect();
                    rest.push((k, object_json(&left)));
                }
                continue;
            }
        }
        rest.push((k, Json::Raw(val.get())));
    }
    if !rest.is_empty() {
        e.attributes
            .push((Cow::Borrowed("body"), object_json(&rest)));
    }
}

/// Map an Airship push reference (`push_id`, `group_id`, `variant_id`) to columns; return
/// what is left.
fn take_push_ids<'a>(
    e: &mut Event<'a>,
    push: &Members<'a>,
    prefix: &str,
) -> Vec<(Cow<'a, str>, &'a RawValue)> {
    let mut left = Vec::new();
    for (k, val) in &push.0 {
        let column = match k.as_ref() {
            "push_id" => Some("dispatch_id"),
            "group_id" => Some("campaign_id"),
            "variant_id" => Some("message_variation_id"),
            _ => None,
        };
        match column {
            Some(c) if first_byte(val) == b'"' => {
                e.field(c, Cow::Owned(format!("{prefix}{k}")), val)
            }
            _ => left.push((k.clone(), *val)),
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendor_reference;
    use proptest::prelude::*;
    use serde_json::Value;

    const COORDS: Coordinates<'static> = Coordinates {
        shard_id: "shardId-000000000001",
        sequence_number: "77",
        received_at_ms: 1_767_229_200_000,
    };

    fn fixtures() -> Vec<Vec<u8>> {
        [
            "braze_nested_send.json",
            "braze_batch.json",
            "braze_flat_open.json",
            "airship_rtds.ndjson",
            "braze_flat_no_event_type.json",
        ]
        .iter()
        .map(|n| {
            std::fs::read(format!(
                "{}/../../tests/fixtures/{n}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        })
        .collect()
    }

    /// Fast and reference agree: same outcomes, same destinations and ids, lines equal as
    /// JSON, quarantine reasons and positions equal.
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
                    let a: Value = serde_json::from_slice(l1).unwrap();
                    let b: Value = serde_json::from_slice(l2).unwrap();
                    prop_assert_eq!(a, b);
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
    fn agrees_with_the_reference_on_every_fixture() {
        for f in fixtures() {
            same(&f).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]
        #[test]
        fn agrees_with_the_reference_on_mutated_records(
            i in 0..5usize,
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
