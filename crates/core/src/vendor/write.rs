//! Shared by every vendor: the column table (which field names are columns of which
//! destination) and the writing of one canonical line — columns in catalogue order, raw
//! JSON copied, attributes as one object. A vendor file decides *what* goes where; this
//! file writes it.

use super::{first_byte, number_text};
use crate::catalogue::{ColumnKind, DestinationKind, DESTINATIONS};
use crate::event::{push_json_str as json_str, Coordinates};
use crate::json::{self, Tape, Val};
use crate::timefmt;
use std::borrow::Cow;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------
// Column table: which vendor field names map to which text column, per destination.

/// Columns written by the decoder itself, never taken from a vendor field of that name.
pub(super) const RESERVED: &[&str] = &[
    "event_id",
    "event_type",
    "vendor",
    "vendor_event_type",
    "source_shard_id",
    "source_sequence_number",
];

/// Slots in the column look-up table: a power of two, several times the column count.
pub(super) const SLOTS: usize = 256;

pub(super) struct ColumnTable {
    /// Text column name → global id. Ids follow catalogue order, so for every destination
    /// ascending id is the order its columns are written in.
    pub(super) ids: HashMap<&'static str, u8>,
    pub(super) names: Vec<&'static str>,
    /// Per column id: `,"<name>":`, what a line writes before the column's value, in 32
    /// bytes padded with zeros (all 32 copied, the length kept: no choice of copy by
    /// length, whose branch the prefixes' varied lengths kept mispredicting), or, for a
    /// name too long for that, as it is. 64 of them (ids past the last column's are never
    /// written), so a column id (< 64: a bit of a `u64`) indexes it with no bounds check.
    pub(super) prefixes: Box<[Prefix; 64]>,
    /// Per destination: bit `id` set when the destination has that column.
    pub(super) masks: Vec<u64>,
    /// Open addressing by [`slot_of`]: (name, id, signature), "" for an empty slot. The
    /// column map is looked up ~20 times per event; this costs one hash of two words and,
    /// almost always, one comparison of three words.
    /// A fixed array: a slot index (`% SLOTS`) needs no bounds check.
    pub(super) slots: Box<[(&'static str, u8, Sig); SLOTS]>,
}

/// What a line writes before a column's value (see [`ColumnTable::prefixes`]).
pub(super) enum Prefix {
    Padded([u8; 32], usize),
    Long(Box<[u8]>),
}

impl Prefix {
    fn of(text: Vec<u8>) -> Prefix {
        match text.len() {
            n @ ..=32 => {
                let mut padded = [0u8; 32];
                padded[..n].copy_from_slice(&text);
                Prefix::Padded(padded, n)
            }
            _ => Prefix::Long(text.into_boxed_slice()),
        }
    }

    #[inline(always)]
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Prefix::Padded(padded, n) => json::append_padded(out, padded, *n),
            Prefix::Long(text) => json::append(out, text),
        }
    }
}

/// A key's first 8 and last 8 bytes and its length: for keys of up to 16 bytes these
/// are the key, so comparing them is comparing the keys.
pub(super) type Sig = (u64, u64, usize);

#[inline]
pub(super) fn sig_of(key: &[u8]) -> Sig {
    let n = key.len();
    let (head, tail) = match (key.get(..8), key.get(n.saturating_sub(8)..)) {
        (Some(h), Some(t)) if n >= 8 => {
            let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
            a.copy_from_slice(h);
            b.copy_from_slice(t);
            (u64::from_le_bytes(a), u64::from_le_bytes(b))
        }
        // 4 to 7 bytes: two overlapping 4-byte loads, which with the length determine the
        // key (as the byte-by-byte fold below does, in fewer steps).
        _ if n >= 4 => {
            let word = |at: usize| {
                let mut w = [0u8; 4];
                w.copy_from_slice(&key[at..at + 4]);
                u32::from_le_bytes(w) as u64
            };
            (word(0) | word(n - 4) << 32, 0)
        }
        _ => (key.iter().fold(0u64, |w, b| w << 8 | *b as u64), 0),
    };
    (head, tail, n)
}

/// A key's slot in the column table.
#[inline]
pub(super) fn slot_of((head, tail, n): Sig) -> usize {
    let h = (head ^ tail.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 56) as usize % SLOTS
}

/// The global id of a text column named `name`, if there is one. Inlined always: as a
/// call, its register saves and restores were a quarter of its instructions.
#[inline(always)]
pub(super) fn column_of(name: &str) -> Option<u8> {
    columns().column_of(name)
}

impl ColumnTable {
    /// [`column_of`] in this table: for a caller that looks up many names, the table
    /// fetched once (each `columns()` is a check of its `OnceLock`).
    #[inline(always)]
    pub(super) fn column_of(&self, name: &str) -> Option<u8> {
        let sig = sig_of(name.as_bytes());
        let mut i = slot_of(sig);
        loop {
            let (slot, id, slot_sig) = self.slots[i];
            if slot.is_empty() {
                return None;
            }
            if slot_sig == sig && (sig.2 <= 16 || slot == name) {
                return Some(id);
            }
            i = (i + 1) % SLOTS;
        }
    }
}

pub(super) fn columns() -> &'static ColumnTable {
    static TABLE: OnceLock<ColumnTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = ColumnTable {
            ids: HashMap::default(),
            names: Vec::new(),
            prefixes: Box::new(std::array::from_fn(|_| Prefix::of(Vec::new()))),
            masks: Vec::new(),
            slots: Box::new([("", 0, (0, 0, 0)); SLOTS]),
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
        for (prefix, name) in t.prefixes.iter_mut().zip(&t.names) {
            *prefix = Prefix::of(format!(",\"{name}\":").into_bytes());
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

/// What writing lines reuses: the record's coordinates as JSON, the last days written,
/// and buffers for `message_extras` (JSON inside a string).
#[derive(Default)]
pub(super) struct LineScratch {
    /// `,"source_shard_id":…,"source_sequence_number":…` of the record being decoded.
    pub(super) coords: Vec<u8>,
    /// The shard `coords` was written for, and where its sequence number starts.
    pub(super) coords_shard: (String, usize),
    pub(super) occurred: timefmt::IsoWriter,
    pub(super) received: timefmt::IsoWriter,
    pub(super) text: String,
    pub(super) nodes: Vec<json::Node<'static>>,
}

// ---------------------------------------------------------------------------------------
// One event → one canonical line.

/// A column's value: raw JSON string text to copy, or text to write as a JSON string —
/// the input's (a boolean's or an integer's text) or made here, kept in the event's text
/// buffer. No variant owns memory: a line's columns are forgotten, not dropped one by one,
/// when the next event starts (that loop was 0.5 % of a Braze batch's instructions), and
/// a boolean or an integer column costs no allocation.
#[derive(Clone, Copy)]
pub(super) enum Text<'a> {
    Raw(&'a str),
    Bare(&'a str),
    /// Start and length in [`Event`]'s text buffer.
    Built(u32, u32),
}

/// The fixed head of a canonical line.
#[derive(Clone, Copy)]
pub(super) struct Header<'a> {
    pub(super) id: &'a str,
    pub(super) id_raw: Val<'a>,
    /// The canonical type and the vendor: names from pushfeed's own tables, plain ASCII
    /// with nothing to escape (written as they are).
    pub(super) event_type: &'static str,
    pub(super) vendor: &'static str,
    pub(super) vendor_type: Val<'a>,
    pub(super) occurred_ms: i64,
}

/// An attribute's value: raw JSON to copy, JSON text built here, or `message_extras`.
pub(super) enum Json<'a> {
    Raw(&'a str),
    Built(Vec<u8>),
    Extras(Val<'a>),
}

pub(super) struct Event<'a, 'b> {
    /// The column table ([`columns`]), fetched once per event.
    pub(super) table: &'static ColumnTable,
    pub(super) mask: u64,
    /// Bit `id` set once column `id` has a value.
    pub(super) filled: u64,
    /// Per column id, its value when its `filled` bit is set (first value wins; the
    /// line is written by the bits, in id order). One slot per id, reused from event to
    /// event and never read before this event sets it: a value is one store, with no
    /// list to append to, and no slot is initialised in advance (for a record of one
    /// event, filling 64 slots cost more than the appends it saved).
    values: &'b mut [MaybeUninit<Text<'a>>; 64],
    /// The text of every [`Text::Built`] value.
    texts: &'b mut String,
    pub(super) attributes: &'b mut Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a, 'b> Event<'a, 'b> {
    pub(super) fn new(
        destination: usize,
        values: &'b mut [MaybeUninit<Text<'a>>; 64],
        attributes: &'b mut Vec<(Cow<'a, str>, Json<'a>)>,
        texts: &'b mut String,
    ) -> Self {
        attributes.clear();
        texts.clear();
        let table = self::columns();
        Event {
            table,
            mask: table.masks[destination],
            filled: 0,
            values,
            texts,
            attributes,
        }
    }

    /// Column `id`'s value, if it has one.
    pub(super) fn value(&self, id: u8) -> Option<&Text<'a>> {
        // SAFETY: the bit is set (`has_value`).
        self.has_value(id)
            .then(|| unsafe { self.slot(id as usize) })
    }

    /// The value of column `id`.
    ///
    /// # Safety
    /// `filled`'s bit `id` must be set: it is set only by `put`, which writes slot `id`
    /// first, in this event (`filled` starts at 0 with each `Event`).
    #[inline(always)]
    unsafe fn slot(&self, id: usize) -> &Text<'a> {
        debug_assert!(self.filled & (1u64 << id) != 0);
        // SAFETY: slot `id` was written by `put` (the caller's promise above).
        unsafe { self.values[id & 63].assume_init_ref() }
    }

    /// `text` as a column's value, kept in the event's text buffer.
    pub(super) fn built(&mut self, text: &str) -> Text<'a> {
        let at = self.texts.len() as u32;
        self.texts.push_str(text);
        Text::Built(at, text.len() as u32)
    }

    #[inline]
    pub(super) fn column_id(&self, name: &str) -> Option<u8> {
        self.table
            .column_of(name)
            .filter(|id| self.mask & (1u64 << id) != 0)
    }

    pub(super) fn has_value(&self, id: u8) -> bool {
        self.filled & (1u64 << id) != 0
    }

    /// Column `id` takes `value` (it has none yet: first value wins). Inlined always: as
    /// a call, its register saves and restores were 17 of its 42 instructions.
    #[inline(always)]
    pub(super) fn put(&mut self, id: u8, value: Text<'a>) {
        debug_assert!(!self.has_value(id));
        self.values[id as usize & 63] = MaybeUninit::new(value);
        self.filled |= 1u64 << id;
    }

    /// A vendor field: into its column when the destination has one and the value is a
    /// scalar (null leaves the column null), else into attributes under `attr_key`.
    pub(super) fn field(&mut self, column: &str, attr_key: Cow<'a, str>, v: Val<'a>) {
        self.field_with(column, v, || attr_key)
    }

    /// [`Event::field`] with the attribute key made only when the value goes there (a
    /// key built with `format!` for every field cost an allocation each, most of them
    /// never used: the value went to its column).
    #[inline]
    pub(super) fn field_with(
        &mut self,
        column: &str,
        v: Val<'a>,
        attr_key: impl FnOnce() -> Cow<'a, str>,
    ) {
        if !self.column(column, v) {
            self.attributes.push((attr_key(), Json::Raw(v.get())));
        }
    }

    /// The column step of [`Event::field`]: true when `v` is settled by column `column`
    /// (the destination has it, it is still empty and `v` is a scalar, or `v` is null
    /// and leaves it null); false when `v` belongs in attributes. Inlined always: as a
    /// call of its own it cost Braze's field step 1.5 % of a batch's instructions.
    #[inline(always)]
    pub(super) fn column(&mut self, column: &str, v: Val<'a>) -> bool {
        self.column_at(self.table.column_of(column), v)
    }

    /// [`Event::column`] for a field whose column id ([`column_of`]) is known.
    #[inline(always)]
    pub(super) fn column_at(&mut self, column: Option<u8>, v: Val<'a>) -> bool {
        if let Some(id) = column.filter(|id| self.mask & (1u64 << id) != 0) {
            let text = match first_byte(v) {
                b'"' => Text::Raw(v.get()),
                b'n' => return true,
                b'{' | b'[' => return false,
                b't' | b'f' => Text::Bare(v.get()),
                _ => match self.number(v) {
                    Some(t) => t,
                    None => return false,
                },
            };
            if !self.has_value(id) {
                self.put(id, text);
                return true;
            }
        }
        false
    }

    /// A number column's text: a plain integer's as it is (serde_json writes it back
    /// so), any other number's as serde_json writes it; `None` for a number out of range.
    /// Not inlined: most columns are strings.
    #[inline(never)]
    fn number(&mut self, v: Val<'a>) -> Option<Text<'a>> {
        if plain_integer(v.get()) {
            return Some(Text::Bare(v.get()));
        }
        number_text(v).map(|n| self.built(&n))
    }

    pub(super) fn set(&mut self, column: &str, value: Text<'a>) -> bool {
        match self.column_id(column) {
            Some(id) if !self.has_value(id) => {
                self.put(id, value);
                true
            }
            _ => false,
        }
    }

    /// Write the canonical line into `out`; the destination.
    pub(super) fn write(
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
        json::append(out, b"{\"event_id\":");
        if first_byte(id_raw) == b'"' {
            json::append(out, id_raw.get().as_bytes());
        } else {
            json_str(out, id);
        }
        debug_assert!(
            !json::needs_escape(event_type.as_bytes()) && !json::needs_escape(vendor.as_bytes())
        );
        json::append(out, b",\"event_type\":\"");
        json::append(out, event_type.as_bytes());
        json::append(out, b"\",\"vendor\":\"");
        json::append(out, vendor.as_bytes());
        out.push(b'"');
        json::append(out, b",\"vendor_event_type\":");
        json::append(out, vendor_type.get().as_bytes());
        json::append(out, b",\"occurred_at\":\"");
        scratch.occurred.write(out, occurred_ms);
        json::append(out, b"\",\"received_at\":\"");
        scratch.received.write(out, coords.received_at_ms);
        out.push(b'"');
        let prefixes = &self.table.prefixes;
        let mut filled = self.filled;
        while filled != 0 {
            let id = filled.trailing_zeros() as usize;
            filled &= filled - 1;
            prefixes[id & 63].write(out);
            // SAFETY: `id` is a bit of `filled`.
            match *unsafe { self.slot(id) } {
                Text::Raw(raw) => json::append(out, raw.as_bytes()),
                Text::Bare(s) => json_str(out, s),
                Text::Built(at, len) => json_str(out, &self.texts[at as usize..][..len as usize]),
            }
        }
        json::append(out, &scratch.coords);
        json::append(out, b",\"attributes\":");
        write_object(out, self.attributes, scratch);
        json::append(out, b"}\n");
    }
}

/// A JSON number that is an integer of at most 18 digits without a sign of zero
/// (`0`, `-?[1-9][0-9]{0,17}`): an `i64` whose text serde_json writes back unchanged.
pub(super) fn plain_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    match digits {
        [b'0'] => text.len() == 1,
        [b'1'..=b'9', rest @ ..] => rest.len() < 18 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// An object key: one read from the input without escapes has nothing to escape (a raw
/// JSON string cannot hold `"`, `\\` or control characters), so it is copied as it is.
#[allow(clippy::ptr_arg)] // the variant is the point: Borrowed = read without escapes
pub(super) fn write_key(out: &mut Vec<u8>, k: &Cow<'_, str>) {
    match k {
        Cow::Borrowed(s) => {
            debug_assert!(!json::needs_escape(s.as_bytes()), "{s:?}");
            out.reserve(s.len() + 2);
            out.push(b'"');
            json::append(out, s.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(s) => json_str(out, s),
    }
}

/// Copy raw JSON; when it spans lines (pretty-printed objects or arrays), drop the
/// whitespace between tokens so the canonical event stays one line. Strings cannot hold a
/// raw line break, so this only ever touches structural white space.
pub(super) fn write_raw(out: &mut Vec<u8>, raw: &str) {
    let bytes = raw.as_bytes();
    // Only an object or an array can hold a line break (strings cannot, raw).
    if !matches!(bytes.first(), Some(b'{' | b'[')) || memchr::memchr2(b'\n', b'\r', bytes).is_none()
    {
        json::append(out, bytes);
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
pub(super) fn write_object(
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
            Json::Built(text) => json::append(out, text),
            Json::Extras(v) => write_extras(out, *v, scratch),
        }
    }
    out.push(b'}');
}

/// An object built from members, as an attribute value.
pub(super) fn object_json<'a>(members: &[(Cow<'_, str>, Json<'_>)]) -> Json<'a> {
    // Room for the whole object at once (keys, values, punctuation): grown from empty, the
    // buffer was reallocated several times per object.
    let room: usize = members
        .iter()
        .map(|(k, v)| {
            k.len()
                + 4
                + match v {
                    Json::Raw(raw) => raw.len(),
                    Json::Built(text) => text.len(),
                    Json::Extras(v) => v.get().len(),
                }
        })
        .sum();
    let mut out = Vec::with_capacity(room + 2);
    write_object(&mut out, members, &mut LineScratch::default());
    Json::Built(out)
}

/// A value written compactly, each object's repeated keys reduced to the last value.
pub(super) fn write_value(out: &mut Vec<u8>, v: Val<'_>) {
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
pub(super) fn write_extras(out: &mut Vec<u8>, v: Val<'_>, scratch: &mut LineScratch) {
    let raw = v.get();
    let LineScratch { text, nodes, .. } = scratch;
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(content) if flat_extras(content.as_bytes(), out) => {}
        Some(content) => write_extras_general(out, raw, content, text, nodes),
        None => out.extend_from_slice(raw.as_bytes()),
    }
}

/// [`write_extras`] for any content (`raw` is the string, `content` what is between its
/// quotes): unescaped, read onto a tape, written back; the string as it is when what it
/// holds is not JSON.
fn write_extras_general(
    out: &mut Vec<u8>,
    raw: &str,
    content: &str,
    text: &mut String,
    nodes: &mut Vec<json::Node<'static>>,
) {
    text.clear();
    json::unescape_into(content, text);
    let mut tape = Tape::from_buffer(std::mem::take(nodes));
    match tape.parse_one(text) {
        Ok(root) if !tape.val(root).huge() => write_value(out, tape.val(root)),
        _ => out.extend_from_slice(raw.as_bytes()),
    }
    *nodes = tape.into_buffer();
}

/// Most keys an object of extras read by [`flat_extras`] may have (repeats are looked for
/// among them one by one).
const FLAT_EXTRAS_KEYS: usize = 16;

/// `message_extras` of the shape Braze's dashboard gives them — one flat object of
/// key-value pairs (strings, and here also small integers, booleans and nulls), compact,
/// keys distinct, no escape inside its strings — written straight from the string's
/// content, whose only escapes are then the quotes (`\"`): what [`write_extras`]'s general
/// path writes for it (the JSON it holds, which is this content with `\"` read as `"`),
/// without unescaping it into a buffer, reading it onto a tape and writing it back (1,400
/// instructions an event). `false`, with `out` as it was, for any other content, which
/// takes the general path; a property test holds the two paths to the same bytes.
pub(super) fn flat_extras(content: &[u8], out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let ok = flat_extras_into(content, out);
    if !ok {
        out.truncate(start);
    }
    ok
}

fn flat_extras_into(c: &[u8], out: &mut Vec<u8>) -> bool {
    // A string's text between `\"` and the next backslash, which must be its closing
    // `\"`; where the text ends. (The content is a raw JSON string's: no `"` or control
    // character stands in it unescaped.)
    fn text(c: &[u8], at: usize) -> Option<(usize, usize)> {
        if c.get(at..at + 2) != Some(b"\\\"") {
            return None;
        }
        let from = at + 2;
        let end = json::next_special(c, from)?;
        (c.get(end..end + 2) == Some(b"\\\"")).then_some((from, end))
    }
    if c.first() != Some(&b'{') {
        return false;
    }
    out.reserve(c.len());
    out.push(b'{');
    if c.get(1) == Some(&b'}') {
        out.push(b'}');
        return c.len() == 2;
    }
    let mut keys: [&[u8]; FLAT_EXTRAS_KEYS] = [&[]; FLAT_EXTRAS_KEYS];
    let mut n = 0;
    let mut i = 1;
    loop {
        let Some((from, end)) = text(c, i) else {
            return false;
        };
        let key = &c[from..end];
        if n == FLAT_EXTRAS_KEYS || keys[..n].contains(&key) {
            return false;
        }
        keys[n] = key;
        n += 1;
        out.push(b'"');
        json::append(out, key);
        json::append(out, b"\":");
        i = end + 2;
        if c.get(i) != Some(&b':') {
            return false;
        }
        i += 1;
        match c.get(i) {
            Some(b'\\') => {
                let Some((from, end)) = text(c, i) else {
                    return false;
                };
                out.push(b'"');
                json::append(out, &c[from..end]);
                out.push(b'"');
                i = end + 2;
            }
            Some(b't' | b'f' | b'n') => {
                let word = [&b"true"[..], b"false", b"null"]
                    .into_iter()
                    .find(|w| c[i..].starts_with(w));
                let Some(word) = word else {
                    return false;
                };
                json::append(out, word);
                i += word.len();
            }
            Some(b'-' | b'0'..=b'9') => {
                // An integer of at most 15 digits, as JSON writes it (no leading zero, no
                // `-0`): a double holds it exactly, and it is written as it stands.
                let from = i;
                i += usize::from(c[i] == b'-');
                let digits = i;
                while c.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let d = i - digits;
                let zero_led = c.get(digits) == Some(&b'0') && (d > 1 || digits > from);
                if d == 0 || d > 15 || zero_led {
                    return false;
                }
                json::append(out, &c[from..i]);
            }
            _ => return false,
        }
        match c.get(i) {
            Some(b',') => {
                out.push(b',');
                i += 1;
            }
            Some(b'}') => {
                out.push(b'}');
                return i + 1 == c.len();
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// serde_json's text for a JSON number (what a column held before [`plain_integer`]).
    fn serde_text(text: &str) -> Option<String> {
        serde_json::from_str::<serde_json::Number>(text)
            .ok()
            .map(|n| n.to_string())
    }

    #[test]
    fn plain_integers_are_the_ones_serde_json_writes_back_unchanged() {
        for t in [
            "0",
            "7",
            "-7",
            "1767225600",
            "999999999999999999",
            "-999999999999999999",
        ] {
            assert!(plain_integer(t), "{t}");
            assert_eq!(serde_text(t).as_deref(), Some(t));
        }
        // Left to serde_json (some of these it writes differently: "-0" as "-0.0").
        for t in [
            "-0",
            "",
            "-",
            "1.0",
            "1e3",
            "1E3",
            "01",
            "-01",
            "1000000000000000000",
            "12a",
            " 1",
        ] {
            assert!(!plain_integer(t), "{t}");
        }
    }

    proptest! {
        #[test]
        fn a_plain_integer_is_written_as_serde_json_writes_it(n in any::<i64>(), frac in any::<bool>()) {
            let t = if frac { format!("{n}.5") } else { n.to_string() };
            if plain_integer(&t) {
                prop_assert_eq!(serde_text(&t), Some(t.clone()));
            } else {
                prop_assert!(frac || t.trim_start_matches('-').len() > 18, "{}", t);
            }
        }
    }

    /// What the general path writes for a `message_extras` string of this content.
    fn general(content: &str) -> Vec<u8> {
        let raw = format!("\"{content}\"");
        let mut out = Vec::new();
        write_extras_general(&mut out, &raw, content, &mut String::new(), &mut Vec::new());
        out
    }

    /// `text` as the content of a JSON string (what a vendor sends in `message_extras`).
    fn as_content(text: &str) -> String {
        let s = serde_json::to_string(text).unwrap();
        s[1..s.len() - 1].to_owned()
    }

    fn fast(content: &str) -> Option<Vec<u8>> {
        let mut out = b"head".to_vec();
        let ok = flat_extras(content.as_bytes(), &mut out);
        if !ok {
            assert_eq!(
                out, b"head",
                "{content:?}: a refusal leaves the output as it was"
            );
        }
        ok.then(|| out[4..].to_vec())
    }

    #[test]
    fn flat_extras_take_the_usual_shapes_and_write_what_the_general_path_writes() {
        for text in [
            r#"{"offer":"SAVE10"}"#,
            r#"{}"#,
            r#"{"a":"","":"b","n":-12,"z":0,"t":true,"f":false,"x":null}"#,
            r#"{"deep_link":"myapp://sale?id=7&x=1","café":"crème"}"#,
            r#"{"n":123456789012345}"#,
        ] {
            let content = as_content(text);
            let got = fast(&content).unwrap_or_else(|| panic!("{text} takes the fast path"));
            assert_eq!(got, text.as_bytes());
            assert_eq!(got, general(&content), "{text}");
        }
        // Every other shape is left to the general path.
        for text in [
            r#"{"a":{"b":1}}"#,
            r#"{"a":[1]}"#,
            r#"{"a":"x\"y"}"#,
            r#"{"a":"line\nbreak"}"#,
            r#"{"a\u0041":1}"#,
            r#"{ "a":1}"#,
            r#"{"a" :1}"#,
            r#"{"a":1 }"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":-0}"#,
            r#"{"a":01}"#,
            r#"{"a":1234567890123456}"#,
            r#"{"a":tru}"#,
            r#"{"a":1,}"#,
            r#"{"a":1}x"#,
            r#"{"a":1"#,
            r#"{"a"}"#,
            r#"[1]"#,
            r#""x""#,
            "",
            "not json",
        ] {
            assert_eq!(fast(&as_content(text)), None, "{text}");
        }
        // A text whose string holds an escaped backslash: the general path's too.
        assert_eq!(fast(r#"{\"a\":\"b\\\"}"#), None);
    }

    fn token() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\"",
            "\\\"",
            "a",
            "k",
            "é",
            " ",
            "\\n",
            "\\\\",
            "\\u0041",
            "0",
            "7",
            "-",
            "15",
            "1.5",
            "e3",
            "true",
            "fals",
            "false",
            "null",
            "\"offer\"",
            "\"SAVE10\"",
        ])
    }

    proptest! {
        /// Whatever the content, a content the fast path takes is written exactly as the
        /// general path writes it.
        #[test]
        fn flat_extras_write_what_the_general_path_writes(
            tokens in prop::collection::vec(token(), 0..24),
            quote_all in any::<bool>(),
        ) {
            let text: String = tokens.concat();
            // Either the tokens as the JSON text (escaped into the string), or as they
            // stand as the string's content.
            let content = if quote_all { as_content(&text) } else { text.clone() };
            if serde_json::from_str::<String>(&format!("\"{content}\"")).is_err() {
                return Ok(()); // not a JSON string's content: never reaches this writer
            }
            if let Some(got) = fast(&content) {
                prop_assert_eq!(got, general(&content), "{:?}", content);
            }
        }

        /// A flat object with one piece changed (a token put in, a byte taken out): the
        /// fast path refuses it or writes what the general path writes.
        #[test]
        fn near_misses_write_what_the_general_path_writes(
            members in prop::collection::vec(("[a-c]{0,2}", prop_oneof![
                "[a-c\"\\\\]{0,3}".prop_map(serde_json::Value::from),
                (-20i64..20).prop_map(serde_json::Value::from),
                any::<bool>().prop_map(serde_json::Value::from),
                Just(serde_json::Value::Null),
            ]), 0..4),
            at in any::<prop::sample::Index>(),
            put in token(),
            remove in any::<bool>(),
        ) {
            let mut text = String::from("{");
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&serde_json::to_string(k).unwrap());
                text.push(':');
                text.push_str(&v.to_string());
            }
            text.push('}');
            let mut bytes = as_content(&text).into_bytes();
            let i = at.index(bytes.len() + 1);
            if remove && i < bytes.len() {
                bytes.remove(i);
            } else {
                bytes.splice(i..i, put.bytes());
            }
            let Ok(content) = String::from_utf8(bytes) else {
                return Ok(());
            };
            if serde_json::from_str::<String>(&format!("\"{content}\"")).is_err() {
                return Ok(());
            }
            if let Some(got) = fast(&content) {
                prop_assert_eq!(got, general(&content), "{:?}", content);
            }
        }

        /// Flat objects of the usual values always take the fast path, as themselves.
        #[test]
        fn flat_objects_take_the_fast_path(
            members in prop::collection::btree_map(
                "[a-z_é]{0,8}",
                prop_oneof![
                    "[ -~]{0,12}".prop_map(serde_json::Value::from),
                    (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(serde_json::Value::from),
                    any::<bool>().prop_map(serde_json::Value::from),
                    Just(serde_json::Value::Null),
                ],
                0..FLAT_EXTRAS_KEYS,
            )
        ) {
            let text = serde_json::to_string(&members).unwrap();
            let content = as_content(&text);
            let plain = members.values().all(|v| !v.as_str().is_some_and(|s| s.contains(['"', '\\'])));
            match fast(&content) {
                Some(got) => {
                    prop_assert_eq!(&got, text.as_bytes());
                    prop_assert_eq!(got, general(&content));
                }
                None => prop_assert!(!plain, "{} refused", text),
            }
        }
    }
}
