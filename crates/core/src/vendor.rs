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
use crate::event::{push_json_str as json_str, Coordinates, QuarantineEntry, Reason};
use crate::json::{self, Obj, Tape, Val};
use crate::timefmt;
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
    // The app was uninstalled (Braze's uninstall tracking detects it with a silent push).
    ("users.behaviors.Uninstall", "uninstall"),
    // Held out of a campaign as its control group: the baseline push is measured against.
    ("users.campaigns.EnrollInControl", "control"),
];

pub(crate) const AIRSHIP_TYPES: &[(&str, &str)] = &[
    ("SEND", "send"),
    ("OPEN", "open"),
    // A web notification clicked or tapped: the web's push open (its body is the push).
    ("WEB_CLICK", "open"),
    // APNs/FCM refused the push (body.status says why): not delivered.
    ("SEND_REJECTED", "bounce"),
    // Dropped before delivery was attempted (body.reason: message limit, feed, ban list).
    ("SEND_ABORTED", "abort"),
    ("UNINSTALL", "uninstall"),
    ("CONTROL", "control"),
    // pushfeed's own heartbeat, written in Airship's event shape (ISO time, id) by an
    // EventBridge rule into the vendor stream: see the `canary` destination.
    ("PUSHFEED_CANARY", "canary"),
];

/// Avro's JSON encoding writes a non-null union value as `{"<type>": value}` (Braze
/// Currents' Avro export relayed as JSON): such single-member objects are unwrapped.
pub(crate) const AVRO_UNION_TYPES: &[&str] = &[
    "string", "int", "long", "float", "double", "boolean", "bytes",
];

/// The value inside an Avro JSON union (`{"string": "x"}` → `"x"`), else the value.
fn avro_unwrap<'a>(v: Val<'a>) -> Val<'a> {
    if first_byte(v) == b'{' {
        if let Some(o) = v.object() {
            let mut members = o.iter();
            if let (Some((k, inner)), None) = (members.next(), members.next()) {
                if AVRO_UNION_TYPES.contains(&k.as_ref()) {
                    return inner;
                }
            }
        }
    }
    v
}

/// Braze button actions that take the user somewhere: such an Open is a `click`.
pub const CLICK_BUTTON_ACTIONS: &[&str] = &["uri", "deep_link"];

/// Where Airship puts a device's named user: `named_user_id` on app and web devices,
/// `named_user` on email devices.
pub(crate) const AIRSHIP_NAMED_USER_KEYS: &[&str] = &["named_user_id", "named_user"];

/// `device.attributes` members that fill a column when the destination has it and it is
/// still empty: (attribute, column).
pub(crate) const AIRSHIP_DEVICE_ATTRIBUTES: &[(&str, &str)] = &[
    ("iana_timezone", "timezone"),
    ("device_model", "device_model"),
    ("device_os", "os_version"),
];

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

/// Slots in the column look-up table: a power of two, several times the column count.
const SLOTS: usize = 256;

struct ColumnTable {
    /// Text column name → global id. Ids follow catalogue order, so for every destination
    /// ascending id is the order its columns are written in.
    ids: HashMap<&'static str, u8>,
    names: Vec<&'static str>,
    /// Per destination: bit `id` set when the destination has that column.
    masks: Vec<u64>,
    /// Open addressing by [`slot_of`]: (name, id, signature), "" for an empty slot. The
    /// column map is looked up ~20 times per event; this costs one hash of two words and,
    /// almost always, one comparison of three words.
    slots: Vec<(&'static str, u8, Sig)>,
}

/// A key's first 8 and last 8 bytes and its length: for keys of up to 16 bytes these
/// are the key, so comparing them is comparing the keys.
type Sig = (u64, u64, usize);

fn sig_of(key: &[u8]) -> Sig {
    let n = key.len();
    let (head, tail) = match (key.get(..8), key.get(n.saturating_sub(8)..)) {
        (Some(h), Some(t)) if n >= 8 => {
            let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
            a.copy_from_slice(h);
            b.copy_from_slice(t);
            (u64::from_le_bytes(a), u64::from_le_bytes(b))
        }
        _ => (key.iter().fold(0u64, |w, b| w << 8 | *b as u64), 0),
    };
    (head, tail, n)
}

/// A key's slot in the column table.
fn slot_of((head, tail, n): Sig) -> usize {
    let h = (head ^ tail.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 56) as usize % SLOTS
}

/// The global id of a text column named `name`, if there is one.
fn column_of(name: &str) -> Option<u8> {
    let t = columns();
    let sig = sig_of(name.as_bytes());
    let mut i = slot_of(sig);
    loop {
        let (slot, id, slot_sig) = t.slots[i];
        if slot.is_empty() {
            return None;
        }
        if slot_sig == sig && (sig.2 <= 16 || slot == name) {
            return Some(id);
        }
        i = (i + 1) % SLOTS;
    }
}

fn columns() -> &'static ColumnTable {
    static TABLE: OnceLock<ColumnTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = ColumnTable {
            ids: HashMap::default(),
            names: Vec::new(),
            masks: Vec::new(),
            slots: vec![("", 0, (0, 0, 0)); SLOTS],
        };
        for d in DESTINATIONS.iter().filter(|d| {
            matches!(
                d.kind,
                DestinationKind::Event | DestinationKind::UnknownType
            )
        }) {
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
            t.masks.push(
                if !matches!(
                    d.kind,
                    DestinationKind::Event | DestinationKind::UnknownType
                ) {
                    0
                } else {
                    mask
                },
            );
        }
        for (id, name) in t.names.iter().enumerate() {
            let sig = sig_of(name.as_bytes());
            let mut i = slot_of(sig);
            while !t.slots[i].0.is_empty() {
                i = (i + 1) % SLOTS;
            }
            t.slots[i] = (name, id as u8, sig);
        }
        t
    })
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
    candidates: Vec<Candidate<'static>>,
    flat: Vec<(Cow<'static, str>, Val<'static>)>,
    columns: Vec<(u8, Text<'static>)>,
    attributes: Vec<(Cow<'static, str>, Json<'static>)>,
    scratch: LineScratch,
}

/// What writing lines reuses: the record's coordinates as JSON, the last days written,
/// and buffers for `message_extras` (JSON inside a string).
#[derive(Default)]
struct LineScratch {
    /// `,"source_shard_id":…,"source_sequence_number":…` of the record being decoded.
    coords: Vec<u8>,
    occurred: timefmt::IsoWriter,
    received: timefmt::IsoWriter,
    text: String,
    nodes: Vec<json::Node<'static>>,
}

/// One record's view of the decoder's buffers.
struct Bufs<'a, 'd> {
    flat: Vec<(Cow<'a, str>, Val<'a>)>,
    columns: Vec<(u8, Text<'a>)>,
    attributes: Vec<(Cow<'a, str>, Json<'a>)>,
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
        let fixed = &mut self.scratch.coords;
        fixed.clear();
        fixed.extend_from_slice(b",\"source_shard_id\":");
        json_str(fixed, coords.shard_id);
        fixed.extend_from_slice(b",\"source_sequence_number\":");
        json_str(fixed, coords.sequence_number);
        let mut tape = Tape::from_buffer(std::mem::take(&mut self.nodes));
        let parsed = match json::utf8(bytes) {
            Ok(text) => match tape.parse_stream(text) {
                Ok(roots) => Ok(roots),
                Err(e) => Err(Reason::InvalidJson.detail_for(e.describe(bytes))),
            },
            Err(at) => Err((Reason::NotUtf8, format!("invalid UTF-8 at byte {at}"))),
        };
        let lines = match &parsed {
            Ok(_) => None,
            Err(_) => split_lines(bytes, &mut tape),
        };
        {
            let mut candidates: Vec<Candidate<'_>> =
                json::recycle(std::mem::take(&mut self.candidates));
            let multi = match (parsed, lines) {
                (Ok(roots), _) => {
                    for root in roots {
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
                    return;
                }
            };
            let mut bufs = Bufs {
                flat: json::recycle(std::mem::take(&mut self.flat)),
                columns: json::recycle(std::mem::take(&mut self.columns)),
                attributes: json::recycle(std::mem::take(&mut self.attributes)),
                out,
                scratch: &mut self.scratch,
            };
            finish(&candidates, coords, data, multi, &mut bufs);
            self.flat = json::recycle(bufs.flat);
            self.columns = json::recycle(bufs.columns);
            self.attributes = json::recycle(bufs.attributes);
            self.candidates = json::recycle(candidates);
        }
        self.nodes = tape.into_buffer();
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
        let value = match simdutf8::compat::from_utf8(line) {
            Err(e) => Err((
                Reason::NotUtf8,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
            )),
            Ok(text) => match tape.parse_stream(text) {
                Ok(values) if values.len() == 1 => Ok(values[0]),
                Ok(_) => Err((
                    Reason::InvalidJson,
                    "a line holds more than one JSON value".into(),
                )),
                Err(e) => Err(Reason::InvalidJson.detail_for(e.describe(line))),
            },
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
        let (m, known) = match item {
            Candidate::Bad(reason, detail, raw) => {
                bufs.out.emit(quarantine(*reason, detail.clone(), raw));
                continue;
            }
            Candidate::Obj(m, k) => (*m, *k),
            Candidate::Value(v) => match v.object() {
                Some(m) => (m, Known::of(&m)),
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
        match event_line(&m, &known, coords, bufs) {
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
    id_raw: Val<'a>,
    event_type: &'a str,
    vendor: &'a str,
    vendor_type: Val<'a>,
    occurred_ms: i64,
}

/// An attribute's value: raw JSON to copy, JSON text built here, or `message_extras`.
enum Json<'a> {
    Raw(&'a str),
    Built(String),
    Extras(Val<'a>),
}

struct Event<'a, 'b> {
    mask: u64,
    /// Bit `id` set once column `id` has a value.
    filled: u64,
    /// (column id, value), first value wins; written in ascending id order.
    columns: &'b mut Vec<(u8, Text<'a>)>,
    attributes: &'b mut Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a, 'b> Event<'a, 'b> {
    fn new(
        destination: usize,
        columns: &'b mut Vec<(u8, Text<'a>)>,
        attributes: &'b mut Vec<(Cow<'a, str>, Json<'a>)>,
    ) -> Self {
        columns.clear();
        attributes.clear();
        Event {
            mask: self::columns().masks[destination],
            filled: 0,
            columns,
            attributes,
        }
    }

    fn column_id(&self, name: &str) -> Option<u8> {
        column_of(name).filter(|id| self.mask & (1u64 << id) != 0)
    }

    fn has_value(&self, id: u8) -> bool {
        self.filled & (1u64 << id) != 0
    }

    fn put(&mut self, id: u8, value: Text<'a>) {
        self.filled |= 1u64 << id;
        self.columns.push((id, value));
    }

    /// A vendor field: into its column when the destination has one and the value is a
    /// scalar (null leaves the column null), else into attributes under `attr_key`.
    fn field(&mut self, column: &str, attr_key: Cow<'a, str>, v: Val<'a>) {
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
                    self.put(id, t);
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
                self.put(id, value);
                true
            }
            _ => false,
        }
    }

    /// Write the canonical line into `out`; the destination.
    fn write(
        self,
        h: &Header<'_>,
        coords: &Coordinates<'_>,
        out: &mut Vec<u8>,
        scratch: &mut LineScratch,
    ) {
        let Header {
            id,
            id_raw,
            event_type,
            vendor,
            vendor_type,
            occurred_ms,
        } = *h;
        out.reserve(1024);
        out.extend_from_slice(b"{\"event_id\":");
        if first_byte(id_raw) == b'"' {
            out.extend_from_slice(id_raw.get().as_bytes());
        } else {
            json_str(out, id);
        }
        out.extend_from_slice(b",\"event_type\":");
        json_str(out, event_type);
        out.extend_from_slice(b",\"vendor\":");
        json_str(out, vendor);
        out.extend_from_slice(b",\"vendor_event_type\":");
        out.extend_from_slice(vendor_type.get().as_bytes());
        out.extend_from_slice(b",\"occurred_at\":\"");
        scratch.occurred.write(out, occurred_ms);
        out.extend_from_slice(b"\",\"received_at\":\"");
        scratch.received.write(out, coords.received_at_ms);
        out.push(b'"');
        self.columns.sort_unstable_by_key(|(id, _)| *id);
        let names = &columns().names;
        for (id, value) in self.columns.iter() {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(names[*id as usize].as_bytes());
            out.extend_from_slice(b"\":");
            match value {
                Text::Raw(raw) => out.extend_from_slice(raw.as_bytes()),
                Text::Owned(s) => json_str(out, s),
            }
        }
        out.extend_from_slice(&scratch.coords);
        out.extend_from_slice(b",\"attributes\":");
        write_object(out, self.attributes, scratch);
        out.extend_from_slice(b"}\n");
    }
}

/// An object key: one read from the input without escapes has nothing to escape (a raw
/// JSON string cannot hold `"`, `\\` or control characters), so it is copied as it is.
#[allow(clippy::ptr_arg)] // the variant is the point: Borrowed = read without escapes
fn write_key(out: &mut Vec<u8>, k: &Cow<'_, str>) {
    match k {
        Cow::Borrowed(s) => {
            debug_assert!(!json::needs_escape(s.as_bytes()), "{s:?}");
            out.reserve(s.len() + 2);
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(s) => json_str(out, s),
    }
}

/// Copy raw JSON; when it spans lines (pretty-printed objects or arrays), drop the
/// whitespace between tokens so the canonical event stays one line. Strings cannot hold a
/// raw line break, so this only ever touches structural white space.
fn write_raw(out: &mut Vec<u8>, raw: &str) {
    let bytes = raw.as_bytes();
    // Only an object or an array can hold a line break (strings cannot, raw).
    if !matches!(bytes.first(), Some(b'{' | b'[')) || memchr::memchr2(b'\n', b'\r', bytes).is_none()
    {
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

/// Write an object of members.
fn write_object(
    out: &mut Vec<u8>,
    members: &[(Cow<'_, str>, Json<'_>)],
    scratch: &mut LineScratch,
) {
    out.push(b'{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key(out, k);
        out.push(b':');
        match v {
            Json::Raw(raw) => write_raw(out, raw),
            Json::Built(text) => out.extend_from_slice(text.as_bytes()),
            Json::Extras(v) => write_extras(out, *v, scratch),
        }
    }
    out.push(b'}');
}

/// An object built from members, as an attribute value.
fn object_json<'a>(members: &[(Cow<'_, str>, Json<'_>)]) -> Json<'a> {
    let mut out = Vec::new();
    write_object(&mut out, members, &mut LineScratch::default());
    Json::Built(String::from_utf8_lossy(&out).into_owned())
}

/// A value written compactly, each object's repeated keys reduced to the last value.
fn write_value(out: &mut Vec<u8>, v: Val<'_>) {
    if let Some(o) = v.object() {
        out.push(b'{');
        for (i, (k, val)) in o.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(out, k);
            out.push(b':');
            write_value(out, val);
        }
        out.push(b'}');
    } else if let Some(items) = v.array() {
        out.push(b'[');
        for (i, val) in items.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(out, val);
        }
        out.push(b']');
    } else {
        out.extend_from_slice(v.get().as_bytes());
    }
}

/// Braze's `message_extras` is JSON inside a string: written as that JSON when it is
/// valid, as the string when it is not.
fn write_extras(out: &mut Vec<u8>, v: Val<'_>, scratch: &mut LineScratch) {
    let raw = v.get();
    let LineScratch { text, nodes, .. } = scratch;
    text.clear();
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(content) => json::unescape_into(content, text),
        None => return out.extend_from_slice(raw.as_bytes()),
    }
    let mut tape = Tape::from_buffer(std::mem::take(nodes));
    match tape.parse_one(text) {
        Ok(root) if !tape.val(root).huge() => write_value(out, tape.val(root)),
        _ => out.extend_from_slice(raw.as_bytes()),
    }
    *nodes = tape.into_buffer();
}

/// One event object → its canonical line appended to its destination's buffer;
/// (destination, event id, where the line starts), or why not.
fn event_line<'a>(
    m: &Obj<'a>,
    k: &Known<'a>,
    coords: &Coordinates<'_>,
    bufs: &mut Bufs<'a, '_>,
) -> Result<(usize, Cow<'a, str>, usize), Rejection> {
    if m.huge {
        // Valid JSON grammar, but neither serde_json nor Redshift reads such a number back.
        return Err(reject(Reason::InvalidJson, OUT_OF_RANGE));
    }
    if let Some(t) = k.event_type {
        return match string(t) {
            // Every Braze Currents type is `users.…`; a record with another event_type and
            // no id is some other vendor's, not a Braze event that lost its id.
            Some(s) if !s.starts_with("users.") && k.id.is_none_or(|v| first_byte(v) == b'n') => {
                let keys: Vec<&str> = m.iter().take(8).map(|(k, _)| k.as_ref()).collect();
                Err(reject(
                    Reason::UnrecognisedShape,
                    format!(
                        "not a known vendor's event: event_type {s:?} is not a Braze type (users.…) and there is no id (keys: {})",
                        keys.join(", ")
                    ),
                ))
            }
            Some(s) if !s.trim().is_empty() => braze(m, k, t, &s, coords, bufs),
            _ => Err(reject(
                Reason::MissingEventType,
                format!("event_type is {}", kind_of(t)),
            )),
        };
    }
    if let Some(t) = k.kind {
        if let Some(s) = string(t).filter(|s| !s.trim().is_empty()) {
            return airship(m, k, t, &s, coords, bufs);
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

fn braze_time(k: &Known<'_>) -> Result<i64, Rejection> {
    let bad = |e: timefmt::BadTime| reject(Reason::BadTimestamp, format!("time: {}", e.0));
    let Some(raw) = k.time else {
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

/// A bit for a key, to skip looking for keys that cannot be there.
fn key_bit(k: &str) -> u64 {
    let b = k.as_bytes();
    let h = b.len() ^ (*b.first().unwrap_or(&0) as usize) << 2 ^ *b.last().unwrap_or(&0) as usize;
    1u64 << (h % 64)
}

fn braze<'a>(
    m: &Obj<'a>,
    k: &Known<'a>,
    type_raw: Val<'a>,
    vendor_type: &str,
    coords: &Coordinates<'_>,
    bufs: &mut Bufs<'a, '_>,
) -> Result<(usize, Cow<'a, str>, usize), Rejection> {
    let (id, id_raw) = event_id(k)?;
    let occurred = braze_time(k)?;

    // Nested (HTTP connector) records carry `user` and `properties` objects; flatten them
    // so both shapes map the same way. A key also present at the top (or already taken)
    // is kept in attributes as `user.<key>` / `properties.<key>`.
    let user = k.user.and_then(|v| v.object());
    let properties = k.properties.and_then(|v| v.object());
    let Bufs {
        flat,
        columns,
        attributes,
        out,
        scratch,
    } = bufs;
    flat.clear();
    let mut seen = 0u64;
    for (k, v) in m.iter() {
        seen |= key_bit(k);
        match k.as_ref() {
            "id" | "event_type" | "time" => {}
            "user" if user.is_some() => {}
            "properties" if properties.is_some() => {}
            _ => flat.push((k.clone(), avro_unwrap(v))),
        }
    }
    for (outer, inner) in [("user", &user), ("properties", &properties)] {
        if let Some(inner) = inner {
            for (k, v) in inner.iter() {
                let bit = key_bit(k);
                if seen & bit != 0 && (m.has(k) || flat.iter().any(|(f, _)| f == k)) {
                    flat.push((Cow::Owned(format!("{outer}.{k}")), avro_unwrap(v)));
                } else {
                    seen |= bit;
                    flat.push((k.clone(), avro_unwrap(v)));
                }
            }
        }
    }

    // The names share a long prefix: compare the end first.
    let mapped = BRAZE_TYPES
        .iter()
        .find(|(v, _)| v.as_bytes().last() == vendor_type.as_bytes().last() && *v == vendor_type)
        .map(|(_, c)| *c);
    let canonical = match mapped {
        Some("open") => {
            let action = flat
                .iter()
                .find(|(k, _)| k == "button_action_type")
                .and_then(|(_, v)| string(*v));
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
    let mut e = Event::new(destination, columns, attributes);
    for (k, v) in flat.drain(..) {
        if k == "message_extras" && first_byte(v) == b'"' {
            e.attributes.push((k, Json::Extras(v)));
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
    let out = out.buffer(destination);
    let start = out.len();
    e.write(&header, coords, out, scratch);
    Ok((destination, id, start))
}

fn airship<'a>(
    m: &Obj<'a>,
    k: &Known<'a>,
    type_raw: Val<'a>,
    vendor_type: &str,
    coords: &Coordinates<'_>,
    bufs: &mut Bufs<'a, '_>,
) -> Result<(usize, Cow<'a, str>, usize), Rejection> {
    let (id, id_raw) = event_id(k)?;
    let occurred = match k.occurred {
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
    let mut canonical = AIRSHIP_TYPES
        .iter()
        .find(|(v, _)| *v == vendor_type)
        .map(|(_, c)| *c)
        .unwrap_or("unknown");
    // OPEN is any app open; only one with a triggering push is a push open.
    let triggered = m
        .get("body")
        .and_then(|b| b.object())
        .and_then(|b| b.get("triggering_push"))
        .is_some_and(|t| t.object().is_some());
    if vendor_type == "OPEN" && !triggered {
        canonical = "app_open";
    }
    let destination = if canonical == "unknown" {
        unknown_type_index()
    } else {
        destination_index(canonical).unwrap_or_else(unknown_type_index)
    };
    let mut e = Event::new(destination, &mut bufs.columns, &mut bufs.attributes);
    // The named user is on the device, or (newer events) in the top-level `user` object
    // with the contact id; the device's wins when both are there.
    let device_named = m.get("device").and_then(|d| d.object()).is_some_and(|d| {
        AIRSHIP_NAMED_USER_KEYS
            .iter()
            .any(|k| d.get(k).is_some_and(|n| first_byte(n) == b'"'))
    });
    for (k, v) in m.iter() {
        match k.as_ref() {
            "id" | "type" | "occurred" => {}
            "device" => airship_device(&mut e, v),
            "body" => airship_body(&mut e, v),
            "user" if !device_named && v.object().is_some() => airship_user(&mut e, v),
            _ => {
                let column = k.clone();
                e.field(&column, k.clone(), v);
            }
        }
    }
    // No named user anywhere: the channel is the only identity there is.
    if let (Some(uid), Some(did)) = (e.column_id("user_id"), e.column_id("device_id")) {
        if !e.has_value(uid) {
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
    let header = Header {
        id: &id,
        id_raw,
        event_type: canonical,
        vendor: "airship",
        vendor_type: type_raw,
        occurred_ms: occurred,
    };
    let out = bufs.out.buffer(destination);
    let start = out.len();
    e.write(&header, coords, out, bufs.scratch);
    Ok((destination, id, start))
}

fn airship_device<'a>(e: &mut Event<'a, '_>, v: Val<'a>) {
    let Some(device) = v.object() else {
        e.attributes
            .push((Cow::Borrowed("device"), Json::Raw(v.get())));
        return;
    };
    // The device id: the platform-agnostic `channel` (every device kind has it), else the
    // first `<platform>_channel`. The platform: `device_type` lowercased, else the
    // `<platform>_channel` key's. A `<platform>_channel` equal to the id is not kept twice.
    let is_str = |x: Val<'a>| first_byte(x) == b'"';
    let keyed = device
        .iter()
        .find(|(k, x)| is_str(*x) && AIRSHIP_CHANNELS.iter().any(|(c, _)| *c == k.as_ref()));
    let id_key: Option<Cow<'a, str>> = match device.get("channel").filter(|x| is_str(*x)) {
        Some(_) => Some(Cow::Borrowed("channel")),
        None => keyed.map(|(k, _)| k.clone()),
    };
    let id_val = id_key.as_ref().and_then(|k| device.get(k));
    let platform: Option<String> = match device.get("device_type").filter(|x| is_str(*x)) {
        Some(t) => string(t).map(|t| t.to_ascii_lowercase()),
        None => keyed.and_then(|(k, _)| {
            AIRSHIP_CHANNELS
                .iter()
                .find(|(c, _)| *c == k.as_ref())
                .map(|(_, p)| (*p).to_owned())
        }),
    };
    let platform_from_type = device.get("device_type").is_some_and(is_str);
    let mut rest: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
    if let (Some(k), Some(val)) = (&id_key, id_val) {
        e.field("device_id", Cow::Owned(format!("device.{k}")), val);
    }
    if let Some(p) = &platform {
        if !e.set("platform", Text::Owned(p.clone())) {
            e.attributes.push((
                Cow::Borrowed("device.platform"),
                Json::Built(serde_json::Value::from(p.as_str()).to_string()),
            ));
        }
    }
    for (k, val) in device.iter() {
        if id_key.as_deref() == Some(k.as_ref()) {
            continue;
        }
        if k == "device_type" && platform_from_type {
            continue;
        }
        if is_str(val)
            && AIRSHIP_CHANNELS.iter().any(|(c, _)| *c == k.as_ref())
            && id_val.is_some_and(|id| string(id) == string(val))
        {
            continue;
        }
        if AIRSHIP_NAMED_USER_KEYS.contains(&k.as_ref()) && first_byte(val) == b'"' {
            let key: Cow<'a, str> = Cow::Owned(format!("device.{k}"));
            e.field("external_user_id", key.clone(), val);
            e.field("user_id", key, val);
            continue;
        }
        if k == "attributes" {
            // Airship's device attributes carry the customer's IANA timezone, the model
            // and the OS version: each into its column when the table has it.
            if let Some(attrs) = val.object() {
                let mut left: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
                let mut taken = false;
                for (ak, av) in attrs.iter() {
                    let column = AIRSHIP_DEVICE_ATTRIBUTES
                        .iter()
                        .find(|(a, _)| *a == ak.as_ref())
                        .map(|(_, c)| *c);
                    if let Some(c) = column.filter(|_| first_byte(av) == b'"') {
                        if e.set(c, Text::Raw(av.get())) {
                            taken = true;
                            continue;
                        }
                    }
                    left.push((ak.clone(), Json::Raw(av.get())));
                }
                if taken {
                    if !left.is_empty() {
                        rest.push((k.clone(), object_json(&left)));
                    }
                    continue;
                }
            }
        }
        rest.push((k.clone(), Json::Raw(val.get())));
    }
    if !rest.is_empty() {
        e.attributes
            .push((Cow::Borrowed("device"), object_json(&rest)));
    }
}

/// The top-level `user` object (`named_user_id`, `contact_id`): the named user is the
/// customer; the rest stays in `attributes.user`.
fn airship_user<'a>(e: &mut Event<'a, '_>, v: Val<'a>) {
    let Some(user) = v.object() else {
        return;
    };
    let mut rest: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
    for (k, val) in user.iter() {
        if k == "named_user_id" && first_byte(val) == b'"' {
            e.field("external_user_id", Cow::Borrowed("user.named_user_id"), val);
            e.field("user_id", Cow::Borrowed("user.named_user_id"), val);
            continue;
        }
        rest.push((k.clone(), Json::Raw(val.get())));
    }
    if !rest.is_empty() {
        e.attributes
            .push((Cow::Borrowed("user"), object_json(&rest)));
    }
}

fn airship_body<'a>(e: &mut Event<'a, '_>, v: Val<'a>) {
    let Some(body) = v.object() else {
        e.attributes
            .push((Cow::Borrowed("body"), Json::Raw(v.get())));
        return;
    };
    let mut rest: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
    for (k, val) in take_push_ids(e, &body, "body.") {
        // SEND_ABORTED says why: the abort table's abort_type.
        if k == "reason" && first_byte(val) == b'"' {
            e.field("abort_type", Cow::Borrowed("body.reason"), val);
            continue;
        }
        if k == "triggering_push" {
            if let Some(tp) = val.object() {
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
    e: &mut Event<'a, '_>,
    push: &Obj<'a>,
    prefix: &str,
) -> Vec<(Cow<'a, str>, Val<'a>)> {
    let mut left = Vec::new();
    for (k, val) in push.iter() {
        let column = match k.as_ref() {
            "push_id" => Some("dispatch_id"),
            "group_id" => Some("campaign_id"),
            "variant_id" => Some("message_variation_id"),
            _ => None,
        };
        // Strings, and numbers (Airship types variant_id as an integer) as their text.
        match column {
            Some(c) if matches!(first_byte(val), b'"' | b'-' | b'0'..=b'9') => {
                e.field(c, Cow::Owned(format!("{prefix}{k}")), val)
            }
            _ => left.push((k.clone(), val)),
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
