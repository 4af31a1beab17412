//! A small validating JSON reader built for the batcher's hot path.
//!
//! One pass over a record's bytes checks it is JSON (RFC 8259: UTF-8, strings without raw
//! control characters, valid escapes and paired surrogates, the number grammar, nesting at
//! most [`MAX_DEPTH`]) and records every value on a flat *tape*: its raw text, borrowed from the
//! input, and for objects and arrays the range of their members on the same tape. The
//! vendor decoder then reads ids, types and times from the tape and copies every other
//! value's raw text straight into the canonical line: nothing is parsed twice and no value
//! tree is built. An object that repeats a key keeps the key's first position and its last
//! value, as reading it into a map does.
//!
//! UTF-8 is checked in the same pass: outside strings only ASCII tokens are accepted, so
//! only a string can hold other bytes, and the string scan that looks for its end flags
//! them too; only a string that holds one is validated (with SIMD), before any text of it
//! is handed out. ASCII text — base64 record data, most events — is read once, not twice.
//!
//! Numbers whose magnitude is beyond a double (`1e999`) are valid JSON grammar but no
//! reader downstream accepts them; they are flagged (`huge`) on every value that contains
//! one rather than failing the whole text, so the decoder can quarantine just that event.

use std::borrow::Cow;

/// Deepest nesting of arrays and objects accepted (what serde_json accepts too).
pub const MAX_DEPTH: usize = 127;

/// Where and why a text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the problem.
    pub at: usize,
    pub what: &'static str,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// What a [`SyntaxError`] says of a text that is not UTF-8 (`at`: its first bad byte).
pub const NOT_UTF8: &str = "invalid UTF-8";

impl SyntaxError {
    /// The text is not UTF-8, whatever else is wrong with it (`at`: its first bad byte).
    pub fn not_utf8(&self) -> bool {
        self.what == NOT_UTF8
    }

    /// This error, or — when `text` (the text that failed) is not UTF-8 — that, at the
    /// first bad byte: UTF-8 is checked as a text is read, so a bad byte outside a string
    /// first shows as some other syntax error, or an earlier one may stop the reading.
    fn utf8_first(self, text: &[u8]) -> SyntaxError {
        match utf8(text) {
            Err(at) if !self.not_utf8() => SyntaxError { at, what: NOT_UTF8 },
            _ => self,
        }
    }

    /// `what at line L column C` (1-based, as editors count) within `text`.
    pub fn describe(&self, text: &[u8]) -> String {
        let at = self.at.min(text.len());
        let before = &text[..at];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = at
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        format!("{} at line {line} column {column}", self.what)
    }
}

/// One value on the tape. Values are in document order: an object's or array's node comes
/// first, then its members / elements, each followed by its own.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// The member's key, unescaped (empty for array elements and top-level values).
    pub key: Cow<'a, str>,
    /// The value's raw JSON text.
    pub raw: &'a str,
    /// Index just past this value's last descendant: where its next sibling is.
    pub end: u32,
    /// Objects: a later member with this member's key, whose value replaces this one's
    /// (0: none).
    pub replaced_by: u32,
    /// Somewhere in this value is a number beyond the range of a double.
    pub huge: bool,
    /// Objects: this member repeats an earlier key (its value shows there).
    pub repeat: bool,
    /// Strings: the text holds an escape (its content is not its text as it is).
    pub escaped: bool,
    /// The raw text's first byte, which tells the value's kind (`"`, `{`, `[`, `t`, `f`,
    /// `n`, `-` or a digit): kept in the node's padding, so telling a kind is one load —
    /// no bounds check on the text (it was ~5 % of a Braze event's mapping).
    pub first: u8,
}

/// The values of one or more JSON texts. Reused between records to keep its allocation.
#[derive(Debug, Default)]
pub struct Tape<'a> {
    nodes: Vec<Node<'a>>,
    /// A node's key was unescaped into a `String` of its own since the tape was last
    /// emptied. Without one no node owns memory, and emptying the tape forgets its
    /// nodes instead of dropping each (a loop over every node of every record: 0.8 % of a
    /// Braze batch's instructions).
    owned_keys: bool,
}

/// A value on a tape: its node, held (not its index: every read of the value was an
/// index into the tape, bounds check included, ~12 instructions a field in all).
#[derive(Clone, Copy)]
pub struct Val<'a> {
    tape: &'a Tape<'a>,
    node: &'a Node<'a>,
}

impl<'a> Val<'a> {
    #[inline(always)]
    fn node(&self) -> &'a Node<'a> {
        self.node
    }
    /// The node's index on its tape (where its children start: the next index).
    fn index(&self) -> usize {
        (self.node as *const Node<'a> as usize - self.tape.nodes.as_ptr() as usize)
            / std::mem::size_of::<Node<'a>>()
    }
    /// The value's raw JSON text.
    pub fn get(&self) -> &'a str {
        self.node().raw
    }
    pub fn huge(&self) -> bool {
        self.node().huge
    }
    pub fn first_byte(&self) -> u8 {
        self.node().first
    }
    /// Whether `other` is this very value (the same node of the same tape), not only an
    /// equal one.
    #[inline]
    pub fn is(&self, other: Option<Val<'a>>) -> bool {
        other.is_some_and(|o| std::ptr::eq(self.node, o.node))
    }
    /// A string value's text, escapes resolved (borrowed when it has none).
    pub fn str(&self) -> Option<Cow<'a, str>> {
        let node = self.node();
        let inner = node.raw.strip_prefix('"')?.strip_suffix('"')?;
        // The reader noted whether the string holds an escape: no second look for one.
        Some(match node.escaped {
            false => Cow::Borrowed(inner),
            true => Cow::Owned(unescape(inner)),
        })
    }
    /// Indices of the children (members or elements), in order.
    fn kids(&self) -> Kids<'a> {
        Kids {
            nodes: &self.tape.nodes,
            next: self.index() + 1,
            end: self.node().end as usize,
        }
    }
    /// Whether an object anywhere in this value repeats a key (its text is then not what a
    /// writer of the parsed value, which keeps one member per key, would write).
    pub fn repeats_a_key(&self) -> bool {
        let (index, end) = (self.index(), self.node().end as usize);
        self.tape.nodes[index..end.max(index + 1)]
            .iter()
            .any(|n| n.repeat || n.replaced_by != 0)
    }
    /// The members of an object.
    pub fn object(&self) -> Option<Obj<'a>> {
        let node = self.node();
        (self.first_byte() == b'{').then(|| Obj {
            tape: self.tape,
            index: self.index(),
            raw: node.raw,
            huge: node.huge,
        })
    }
    /// The elements of an array.
    pub fn array(&self) -> Option<impl Iterator<Item = Val<'a>> + 'a> {
        let tape = self.tape;
        (self.first_byte() == b'[').then(|| self.kids().map(move |node| Val { tape, node }))
    }
}

/// Walks siblings by their `end` links: each one's node.
struct Kids<'a> {
    nodes: &'a [Node<'a>],
    next: usize,
    end: usize,
}

impl<'a> Iterator for Kids<'a> {
    type Item = &'a Node<'a>;
    #[inline]
    fn next(&mut self) -> Option<&'a Node<'a>> {
        if self.next >= self.end {
            return None;
        }
        let n = self.nodes.get(self.next)?;
        self.next = n.end as usize;
        Some(n)
    }
}

/// An object on a tape: its members in order.
#[derive(Clone, Copy)]
pub struct Obj<'a> {
    tape: &'a Tape<'a>,
    index: usize,
    /// The object's raw JSON text.
    pub raw: &'a str,
    /// Somewhere in the object is a number beyond the range of a double.
    pub huge: bool,
}

impl<'a> Obj<'a> {
    /// Members: (key, the value's node), each key once, at its first place with its last
    /// value.
    fn members(&self) -> impl Iterator<Item = (&'a Cow<'a, str>, &'a Node<'a>)> + 'a {
        let nodes = &self.tape.nodes[..];
        let kids = Kids {
            nodes,
            next: self.index + 1,
            end: nodes.get(self.index).map_or(0, |n| n.end as usize),
        };
        kids.filter_map(move |n| match n.replaced_by {
            _ if n.repeat => None,
            0 => Some((&n.key, n)),
            r => nodes.get(r as usize).map(|v| (&n.key, v)),
        })
    }
    pub fn get(&self, key: &str) -> Option<Val<'a>> {
        let tape = self.tape;
        self.members()
            .find(|(k, _)| same_key(k, key))
            .map(|(_, node)| Val { tape, node })
    }
    pub fn has(&self, key: &str) -> bool {
        self.members().any(|(k, _)| same_key(k, key))
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'a Cow<'a, str>, Val<'a>)> + 'a {
        let tape = self.tape;
        self.members().map(move |(k, node)| (k, Val { tape, node }))
    }
}

/// Key equality, rejecting most differences on length and first byte before comparing.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

impl<'a> Tape<'a> {
    /// A tape that fills the given buffer (emptied first), to reuse its allocation.
    pub fn from_buffer(nodes: Vec<Node<'_>>) -> Self {
        Tape {
            nodes: recycle(nodes),
            owned_keys: false,
        }
    }

    /// The tape's buffer, emptied, for the next [`Tape::from_buffer`].
    pub fn into_buffer(mut self) -> Vec<Node<'static>> {
        self.clear();
        recycle(std::mem::take(&mut self.nodes))
    }

    /// The value whose node index a `parse_*` call returned.
    pub fn val(&self, index: usize) -> Val<'_> {
        Val {
            tape: self,
            node: &self.nodes[index],
        }
    }

    /// Exactly one JSON text (white space around it allowed); its node index.
    pub fn parse_one(&mut self, text: &'a str) -> Result<usize, SyntaxError> {
        self.parse_bytes(text.as_bytes())
    }

    /// Exactly one JSON text in bytes, which must be UTF-8 (checked as it is read); its node
    /// index. A text that is not UTF-8 fails as such ([`SyntaxError::not_utf8`]), at its
    /// first bad byte, whatever else is wrong with it.
    pub fn parse_bytes(&mut self, bytes: &'a [u8]) -> Result<usize, SyntaxError> {
        self.one(bytes).map_err(|e| e.utf8_first(bytes))
    }

    fn one(&mut self, bytes: &'a [u8]) -> Result<usize, SyntaxError> {
        let mut p = Parser::new(bytes, self);
        let root = p.value(0, Cow::Borrowed(""))?;
        p.skip_ws();
        if p.pos != p.b.len() {
            return Err(p.err("trailing characters after the JSON value"));
        }
        Ok(root)
    }

    /// For a JSON object text whose member `key` is an array of many values — a Lambda
    /// event's `Records` — read the elements one at a time, each onto this tape (emptied
    /// first), and hand each to `each`; the other members are checked and skipped. The
    /// tape stays the size of one element however long the array is. When `keep` is not
    /// empty, an element that is an object keeps only those members (the others are
    /// checked and skipped). Returns whether the member was there; an error from `each`
    /// stops the reading. The text must be UTF-8, checked as it is read (as
    /// [`Tape::parse_bytes`]): once this returns `Ok`, it was.
    pub fn for_each_element(
        &mut self,
        b: &'a [u8],
        key: &str,
        keep: &[&str],
        mut each: impl FnMut(usize, Val<'_>) -> Result<(), String>,
    ) -> Result<bool, String> {
        let syntax = |e: SyntaxError| e.describe(b);
        let mut pos = skip_ws(b, 0);
        if b.get(pos) != Some(&b'{') {
            return Err(syntax(SyntaxError {
                at: pos,
                what: "expected a JSON object",
            }));
        }
        pos += 1;
        let mut found = false;
        let mut first = true;
        loop {
            pos = skip_ws(b, pos);
            match (b.get(pos), first) {
                (Some(b'}'), true) => {
                    pos += 1;
                    break;
                }
                (Some(b'"'), _) => {}
                _ => {
                    return Err(syntax(SyntaxError {
                        at: pos,
                        what: "expected a string key",
                    }))
                }
            }
            first = false;
            self.clear();
            let mut p = Parser::new(b, self);
            p.pos = pos;
            let key_at = p.value(1, Cow::Borrowed("")).map_err(syntax)?;
            let key_raw = p.tape.nodes[key_at].raw;
            p.skip_ws();
            if p.b.get(p.pos) != Some(&b':') {
                return Err(syntax(p.err("expected ':' after an object key")));
            }
            p.pos += 1;
            p.skip_ws();
            let is_key = key_raw.len() == key.len() + 2 && key_raw[1..key_raw.len() - 1] == *key
                || key_raw.contains('\\') && unescape(&key_raw[1..key_raw.len() - 1]) == key;
            if is_key && p.b.get(p.pos) == Some(&b'[') {
                if found {
                    return Err(format!("duplicate field `{key}`"));
                }
                found = true;
                pos = p.pos + 1;
                let mut index = 0;
                loop {
                    pos = skip_ws(b, pos);
                    if index == 0 && b.get(pos) == Some(&b']') {
                        pos += 1;
                        break;
                    }
                    self.clear();
                    let mut p = Parser::new(b, self);
                    p.pos = pos;
                    p.skip_ws();
                    let at = if !keep.is_empty() && p.b.get(p.pos) == Some(&b'{') {
                        p.object(3, Cow::Borrowed(""), keep)
                    } else {
                        p.value(2, Cow::Borrowed(""))
                    }
                    .map_err(syntax)?;
                    pos = p.pos;
                    each(index, self.val(at))?;
                    index += 1;
                    pos = skip_ws(b, pos);
                    match b.get(pos) {
                        Some(b',') => pos += 1,
                        Some(b']') => {
                            pos += 1;
                            break;
                        }
                        _ => {
                            return Err(syntax(SyntaxError {
                                at: pos,
                                what: "expected ',' or ']' in an array",
                            }))
                        }
                    }
                }
            } else {
                if is_key {
                    return Err(format!("`{key}` is not an array"));
                }
                p.value(1, Cow::Borrowed("")).map_err(syntax)?;
                pos = p.pos;
            }
            pos = skip_ws(b, pos);
            match b.get(pos) {
                Some(b',') => pos += 1,
                Some(b'}') => {
                    pos += 1;
                    break;
                }
                _ => {
                    return Err(syntax(SyntaxError {
                        at: pos,
                        what: "expected ',' or '}' in an object",
                    }))
                }
            }
        }
        if skip_ws(b, pos) != b.len() {
            return Err(syntax(SyntaxError {
                at: pos,
                what: "trailing characters after the JSON value",
            }));
        }
        Ok(found)
    }

    fn clear(&mut self) {
        if std::mem::take(&mut self.owned_keys) {
            self.nodes.clear();
        } else {
            // SAFETY: length 0 is within capacity, and no node owns memory (every key is
            // borrowed: `owned_keys` is set whenever an owned one is pushed), so the
            // nodes forgotten here leave nothing to free.
            unsafe { self.nodes.set_len(0) }
        }
    }

    /// Whitespace-separated JSON texts (a value that does not end itself — a number,
    /// `true` — must be followed by white space or the end); their node indices.
    pub fn parse_stream(&mut self, text: &'a str) -> Result<Vec<usize>, SyntaxError> {
        self.parse_stream_bytes(text.as_bytes())
    }

    /// [`Tape::parse_stream`] of bytes, which must be UTF-8 (checked as they are read; not,
    /// it fails as [`Tape::parse_bytes`] does).
    pub fn parse_stream_bytes(&mut self, text: &'a [u8]) -> Result<Vec<usize>, SyntaxError> {
        let mut roots = Vec::new();
        self.parse_stream_into(text, &mut roots)?;
        Ok(roots)
    }

    /// [`Tape::parse_stream_bytes`] with the node indices pushed onto `roots` (emptied
    /// first), a buffer the caller keeps from text to text: a new vector per record cost
    /// an allocation, a growth and a free (~1.5 % of a batch of one-event records).
    pub fn parse_stream_into(
        &mut self,
        text: &'a [u8],
        roots: &mut Vec<usize>,
    ) -> Result<(), SyntaxError> {
        roots.clear();
        self.stream(text, roots).map_err(|e| e.utf8_first(text))
    }

    fn stream(&mut self, text: &'a [u8], roots: &mut Vec<usize>) -> Result<(), SyntaxError> {
        let mut p = Parser::new(text, self);
        loop {
            p.skip_ws();
            if p.pos == p.b.len() {
                break;
            }
            let root = p.value(0, Cow::Borrowed(""))?;
            if !matches!(p.tape.nodes[root].raw.as_bytes()[0], b'{' | b'[' | b'"')
                && !matches!(
                    p.b.get(p.pos),
                    None | Some(b' ' | b'\n' | b'\t' | b'\r' | b'"' | b'[' | b'{')
                )
            {
                return Err(p.err("trailing characters after a JSON value"));
            }
            roots.push(root);
        }
        Ok(())
    }
}

/// Reads bytes onto a tape. Invariant: every byte before `pos` that is not inside a string
/// was accepted as an ASCII token (structure, white space, number, literal), and every
/// string that ended before `pos` was checked to be UTF-8 (`string`): so any range of
/// whole values and strings read so far is UTF-8, which [`Parser::text`] relies on.
struct Parser<'a, 't> {
    b: &'a [u8],
    pos: usize,
    tape: &'t mut Tape<'a>,
    /// The CPU has AVX2, for long strings (asked once per text, not per string).
    wide: bool,
}

impl<'a, 't> Parser<'a, 't> {
    fn new(b: &'a [u8], tape: &'t mut Tape<'a>) -> Self {
        Parser {
            b,
            pos: 0,
            tape,
            wide: has_avx2(),
        }
    }

    /// The text of bytes already read, from the start of a value or string (or the content
    /// of a string) to the end of one.
    #[inline]
    fn text(&self, start: usize, end: usize) -> &'a str {
        let bytes = &self.b[start..end];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: by the parser's invariant (see `Parser`), a range from the start of a
        // value or string to the end of one, all read, is UTF-8: outside strings the
        // reader accepts ASCII only, and `string` validates every string holding other
        // bytes before it returns. The range starts and ends on ASCII bytes (a token's or
        // a quote's, or the end of a validated string), so it is on char boundaries.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    fn err(&self, what: &'static str) -> SyntaxError {
        SyntaxError { at: self.pos, what }
    }

    #[inline]
    fn skip_ws(&mut self) {
        self.pos = skip_ws(self.b, self.pos);
    }

    /// Push a scalar's node (it started at `start` and ends here); its index.
    #[inline]
    fn push(
        &mut self,
        key: Cow<'a, str>,
        start: usize,
        first: u8,
        huge: bool,
        escaped: bool,
    ) -> usize {
        let at = self.tape.nodes.len();
        self.tape.nodes.push(Node {
            key,
            raw: self.text(start, self.pos),
            end: at as u32 + 1,
            replaced_by: 0,
            huge,
            repeat: false,
            escaped,
            first,
        });
        at
    }

    /// Push an object's or array's node before its children; finished by `close`.
    #[inline]
    fn open(&mut self, key: Cow<'a, str>, first: u8) -> usize {
        let at = self.tape.nodes.len();
        self.tape.nodes.push(Node {
            key,
            raw: "",
            end: 0,
            replaced_by: 0,
            huge: false,
            repeat: false,
            escaped: false,
            first,
        });
        at
    }

    fn close(&mut self, at: usize, start: usize, huge: bool) {
        let end = self.tape.nodes.len() as u32;
        let raw = self.text(start, self.pos);
        if let Some(node) = self.tape.nodes.get_mut(at) {
            node.raw = raw;
            node.end = end;
            node.huge = huge;
        }
    }

    /// Read a value onto the tape (with everything in it); its node index.
    fn value(&mut self, depth: usize, key: Cow<'a, str>) -> Result<usize, SyntaxError> {
        self.skip_ws();
        let start = self.pos;
        match self.b.get(self.pos) {
            Some(b'"') => {
                let escaped = self.string()?;
                Ok(self.push(key, start, b'"', false, escaped))
            }
            Some(b'{') => self.object(depth + 1, key, &[]),
            Some(b'[') => self.array(depth + 1, key),
            Some(&first @ (b'-' | b'0'..=b'9')) => {
                let huge = self.number()?;
                Ok(self.push(key, start, first, huge, false))
            }
            Some(b't') => self.literal(b"true", key),
            Some(b'f') => self.literal(b"false", key),
            Some(b'n') => self.literal(b"null", key),
            Some(_) => Err(self.err("expected a JSON value")),
            None => Err(self.err("unexpected end of input, expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &'static [u8], key: Cow<'a, str>) -> Result<usize, SyntaxError> {
        let start = self.pos;
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(self.push(key, start, word[0], false, false))
        } else {
            Err(self.err("expected a JSON value"))
        }
    }

    /// An object; with `keep` not empty, only those members go on the tape (the others
    /// are checked and skipped).
    fn object(
        &mut self,
        depth: usize,
        key: Cow<'a, str>,
        keep: &[&str],
    ) -> Result<usize, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting deeper than 127 levels"));
        }
        let start = self.pos;
        self.pos += 1;
        let me = self.open(key, b'{');
        let mut seen = KeySet::default();
        let mut huge = false;
        self.skip_ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
        } else {
            loop {
                // Compact JSON has no white space between tokens: each expected byte is
                // looked for first, white space skipped only when it is not there (a
                // skip before each token cost ~4 instructions, four times a member).
                if self.b.get(self.pos) != Some(&b'"') {
                    self.skip_ws();
                    if self.b.get(self.pos) != Some(&b'"') {
                        return Err(self.err("expected a string key"));
                    }
                }
                let key_start = self.pos + 1;
                let escaped = self.string()?;
                let raw_key = self.text(key_start, self.pos - 1);
                let member_key = if escaped {
                    self.tape.owned_keys = true;
                    Cow::Owned(unescape(raw_key))
                } else {
                    Cow::Borrowed(raw_key)
                };
                if self.b.get(self.pos) != Some(&b':') {
                    self.skip_ws();
                    if self.b.get(self.pos) != Some(&b':') {
                        return Err(self.err("expected ':' after an object key"));
                    }
                }
                self.pos += 1;
                if !keep.is_empty() && !keep.contains(&member_key.as_ref()) {
                    huge |= self.skip_value(depth)?;
                } else {
                    huge |= self.member(me, depth, member_key, &mut seen)?;
                }
                if !matches!(self.b.get(self.pos), Some(b',' | b'}')) {
                    self.skip_ws();
                }
                match self.b.get(self.pos) {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => return Err(self.err("expected ',' or '}' in an object")),
                    None => return Err(self.err("unexpected end of input inside an object")),
                }
            }
        }
        self.close(me, start, huge);
        Ok(me)
    }

    /// An object member's value onto the tape; whether it holds a number beyond a double.
    /// A repeated key keeps its first place, with the last value. `seen` has a bit per
    /// key so far ([`key_bit`]): only on a hit are keys compared.
    fn member(
        &mut self,
        object: usize,
        depth: usize,
        key: Cow<'a, str>,
        seen: &mut KeySet,
    ) -> Result<bool, SyntaxError> {
        let bit = key_bit(key.as_bytes());
        // Strings and numbers, nearly every member's value, read here: through `value`
        // (recursive, so a call) its register saves and restores were ~20 instructions
        // a member. (White space before the value: `value` skips it.)
        let start = self.pos;
        let (at, huge) = match self.b.get(self.pos) {
            Some(b'"') => {
                let escaped = self.string()?;
                (self.push(key, start, b'"', false, escaped), false)
            }
            Some(&first @ (b'-' | b'0'..=b'9')) => {
                let huge = self.number()?;
                (self.push(key, start, first, huge, false), huge)
            }
            _ => {
                let at = self.value(depth, key)?;
                (at, self.tape.nodes[at].huge)
            }
        };
        let nodes = &mut self.tape.nodes;
        if seen.may_have(bit) {
            let mut j = object + 1;
            while j < at {
                if !nodes[j].repeat && nodes[j].key == nodes[at].key {
                    nodes[j].replaced_by = at as u32;
                    nodes[at].repeat = true;
                    break;
                }
                j = nodes[j].end as usize;
            }
        }
        seen.add(bit);
        Ok(huge)
    }

    /// Check a value and leave nothing on the tape; whether it holds a number beyond a
    /// double.
    fn skip_value(&mut self, depth: usize) -> Result<bool, SyntaxError> {
        self.skip_ws();
        match self.b.get(self.pos) {
            Some(b'"') => self.string().map(|_| false),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => {
                let mark = self.tape.nodes.len();
                let at = self.value(depth, Cow::Borrowed(""))?;
                let huge = self.tape.nodes[at].huge;
                self.tape.nodes.truncate(mark);
                Ok(huge)
            }
        }
    }

    fn array(&mut self, depth: usize, key: Cow<'a, str>) -> Result<usize, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting deeper than 127 levels"));
        }
        let start = self.pos;
        self.pos += 1;
        let me = self.open(key, b'[');
        let mut huge = false;
        self.skip_ws();
        if self.b.get(self.pos) == Some(&b']') {
            self.pos += 1;
        } else {
            loop {
                let at = self.value(depth, Cow::Borrowed(""))?;
                huge |= self.tape.nodes[at].huge;
                self.skip_ws();
                match self.b.get(self.pos) {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => return Err(self.err("expected ',' or ']' in an array")),
                    None => return Err(self.err("unexpected end of input inside an array")),
                }
            }
        }
        self.close(me, start, huge);
        Ok(me)
    }

    #[inline(always)]
    fn string(&mut self) -> Result<bool, SyntaxError> {
        // Fast path, inlined: an ASCII string with nothing to escape that ends within 48
        // bytes (keys, times, and the UUIDs and Braze type names of 36 characters and more:
        // ending within 32 bytes, seven strings an event went the slow way, a call of ~166
        // instructions each).
        // Otherwise the slow path goes on from the first byte it has to look at (the
        // special one found, or past the plain ones).
        #[allow(unused_mut)]
        let mut from = self.pos + 1;
        #[cfg(target_arch = "x86_64")]
        if let Some(chunk) = self.b.get(self.pos + 1..self.pos + 49) {
            let k = sse2::first16::<true>(&chunk[..16])
                .or_else(|| sse2::first16::<true>(&chunk[16..32]).map(|k| k + 16))
                .or_else(|| sse2::first16::<true>(&chunk[32..]).map(|k| k + 32));
            match k {
                Some(k) if chunk[k] == b'"' => {
                    self.pos += k + 2;
                    return Ok(false);
                }
                Some(k) => from += k,
                None => from += 48,
            }
        } else if let Some(chunk) = self.b.get(self.pos + 1..self.pos + 33) {
            // Near the end of the text: 32 bytes, as far as there are. Written out beside
            // the 48-byte window on purpose: one window chosen first and matched once cost
            // +0.7 % of a batch, an iterator over the 16-byte tests +4-5 % (measured).
            let k = sse2::first16::<true>(&chunk[..16])
                .or_else(|| sse2::first16::<true>(&chunk[16..]).map(|k| k + 16));
            match k {
                Some(k) if chunk[k] == b'"' => {
                    self.pos += k + 2;
                    return Ok(false);
                }
                Some(k) => from += k,
                None => from += 32,
            }
        }
        self.string_slow(from)
    }

    /// A string; whether it holds an escape. A string holding bytes past ASCII is checked
    /// to be UTF-8 as a whole (with SIMD) once its end is found: the scan stops at the
    /// first such byte, then looks for the end only.
    /// `from`: where to look on (the bytes before it are plain ASCII).
    #[inline(never)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_labels))]
    fn string_slow(&mut self, from: usize) -> Result<bool, SyntaxError> {
        let b = self.b;
        let content = self.pos + 1;
        let mut i = from;
        let mut escaped = false;
        let mut high = false;
        'scan: loop {
            // ASCII so far, on x86_64: the special bytes of 16 at a time from one load, each
            // escape's own bytes passed over in the same bits (a string of escaped JSON,
            // Braze's `message_extras`, has an escape every few bytes: a search per escape
            // cost ~90 instructions). A byte past ASCII, a control character, 16 plain
            // bytes or fewer than 16 left: the step below.
            #[cfg(target_arch = "x86_64")]
            if !high {
                if let Some(chunk) = b.get(i..i + 16) {
                    let base = i;
                    let mut bits = sse2::bits16::<true>(chunk);
                    loop {
                        if bits == 0 {
                            // 16 plain bytes: a long plain run (record data) is searched
                            // by the step below, 64 bytes at a time and with AVX2.
                            i = base + 16;
                            break;
                        }
                        let at = base + bits.trailing_zeros() as usize;
                        match b[at] {
                            b'"' => {
                                self.pos = at + 1;
                                return Ok(escaped);
                            }
                            b'\\' => {
                                escaped = true;
                                i = self.escape(at)?;
                                let passed = i - base;
                                if passed >= 16 {
                                    continue 'scan;
                                }
                                bits &= u32::MAX << passed;
                            }
                            _ => {
                                i = at;
                                break;
                            }
                        }
                    }
                }
            }
            i = match high {
                false => find_special::<true>(b, i, self.wide),
                true => find_special::<false>(b, i, self.wide),
            };
            match b.get(i) {
                Some(b'"') => {
                    if high {
                        if let Err(at) = utf8(&b[content..i]) {
                            self.pos = content + at;
                            // The text's first bad byte: all before it were checked.
                            return Err(self.err(NOT_UTF8));
                        }
                    }
                    self.pos = i + 1;
                    return Ok(escaped);
                }
                Some(0x80..=0xff) => {
                    high = true;
                    i += 1;
                }
                Some(b'\\') => {
                    escaped = true;
                    i = self.escape(i)?;
                }
                Some(_) => {
                    self.pos = i;
                    return Err(self.err("control character in a string (must be escaped)"));
                }
                None => {
                    self.pos = i;
                    return Err(self.err("unexpected end of input inside a string"));
                }
            }
        }
    }

    /// A backslash escape at `i`; the index after it. Inlined always (both of
    /// [`Parser::string_slow`]'s steps take escapes).
    #[inline(always)]
    fn escape(&mut self, i: usize) -> Result<usize, SyntaxError> {
        let b = self.b;
        match b.get(i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
            Some(b'u') => {
                let n = self.hex4(i + 2)?;
                match n {
                    0xD800..=0xDBFF => {
                        // A leading surrogate must be followed by a trailing one.
                        if b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u') {
                            let m = self.hex4(i + 8)?;
                            if (0xDC00..=0xDFFF).contains(&m) {
                                return Ok(i + 12);
                            }
                        }
                        self.pos = i;
                        Err(self.err("unpaired surrogate in a \\u escape"))
                    }
                    0xDC00..=0xDFFF => {
                        self.pos = i;
                        Err(self.err("unpaired surrogate in a \\u escape"))
                    }
                    _ => Ok(i + 6),
                }
            }
            _ => {
                self.pos = i;
                Err(self.err("invalid escape in a string"))
            }
        }
    }

    fn hex4(&mut self, at: usize) -> Result<u32, SyntaxError> {
        let digits = self.b.get(at..at + 4).unwrap_or(&[]);
        let mut n = 0u32;
        for (k, d) in digits.iter().enumerate() {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => {
                    self.pos = at + k;
                    return Err(self.err("invalid \\u escape (needs 4 hex digits)"));
                }
            };
            n = n * 16 + v as u32;
        }
        if digits.len() < 4 {
            self.pos = self.b.len();
            return Err(self.err("unexpected end of input inside a string"));
        }
        Ok(n)
    }

    /// A number; whether its magnitude is beyond a double.
    fn number(&mut self) -> Result<bool, SyntaxError> {
        let b = self.b;
        let start = self.pos;
        let mut i = start;
        if b[i] == b'-' {
            i += 1;
        }
        let digits = |i: usize| digits_end(b, i);
        match b.get(i) {
            Some(b'0') => {
                i += 1;
                if let Some(b'0'..=b'9') = b.get(i) {
                    self.pos = i;
                    return Err(self.err("invalid number (leading zero)"));
                }
            }
            Some(b'1'..=b'9') => i = digits(i),
            _ => {
                self.pos = i;
                return Err(self.err("invalid number"));
            }
        }
        let mut plain = true;
        if b.get(i) == Some(&b'.') {
            let j = digits(i + 1);
            if j == i + 1 {
                self.pos = j;
                return Err(self.err("invalid number (no digit after '.')"));
            }
            i = j;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            plain = false;
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let j = digits(i);
            if j == i {
                self.pos = j;
                return Err(self.err("invalid number (no digit in the exponent)"));
            }
            i = j;
        }
        self.pos = i;
        // Without an exponent, fewer than 309 digits always fit a double.
        if plain && i - start < 300 {
            return Ok(false);
        }
        Ok(self
            .text(start, i)
            .parse::<f64>()
            .map_or(true, |f| f.is_infinite()))
    }
}

/// Keys seen so far, as a one-hash Bloom filter of 512 bits: a key not among them is told
/// so with no comparison, but for odds of (keys so far) in 512. With 128 bits, a Braze
/// event's three dozen keys (24 custom properties among them) hit a set bit every fourth
/// key or so, and each hit compared the key with every earlier one.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeySet([u64; 8]);

/// A key's bit in a [`KeySet`] ([`key_bit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyBit {
    word: usize,
    mask: u64,
}

impl KeySet {
    /// Whether a key with this bit may have been added (it has not when false).
    #[inline]
    pub fn may_have(&self, bit: KeyBit) -> bool {
        self.0[bit.word & 7] & bit.mask != 0
    }
    #[inline]
    pub fn add(&mut self, bit: KeyBit) {
        self.0[bit.word & 7] |= bit.mask;
    }
    /// Bits set.
    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

/// A key's bit of 512 (see [`KeySet`]): two different keys share one with odds 1 in 512,
/// whatever they have in common. Keys such as `custom_01` … `custom_24` (same length, same
/// first byte) get different bits: the hash reads every byte of a key of up to 16 bytes
/// (longer ones: their first and last 8).
#[inline]
pub const fn key_bit(kb: &[u8]) -> KeyBit {
    let n = kb.len();
    // Two loads that may overlap; keys under 4 bytes: first, middle and last byte.
    let (head, tail) = if let (Some(h), Some(t)) = (kb.first_chunk::<8>(), kb.last_chunk::<8>()) {
        (u64::from_le_bytes(*h), u64::from_le_bytes(*t))
    } else if let (Some(h), Some(t)) = (kb.first_chunk::<4>(), kb.last_chunk::<4>()) {
        (u32::from_le_bytes(*h) as u64, u32::from_le_bytes(*t) as u64)
    } else if let (Some(&a), Some(&z)) = (kb.first(), kb.last()) {
        (a as u64 | (kb[n / 2] as u64) << 8 | (z as u64) << 16, 0)
    } else {
        (0, 0)
    };
    let h = (head ^ tail.rotate_left(23) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let i = (h >> 55) as usize;
    KeyBit {
        word: i >> 6,
        mask: 1 << (i & 63),
    }
}

/// Bytes as text, checked with SIMD where the CPU has it; when they are not UTF-8, the
/// byte where they stop being so (the standard check, run only then, says where).
pub fn utf8(bytes: &[u8]) -> Result<&str, usize> {
    simdutf8::basic::from_utf8(bytes)
        .map_err(|_| std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), |_| 0))
}

/// Past any white space at `pos`. Compact JSON has none: one comparison says so.
#[inline(always)]
fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    if b.get(pos).is_some_and(|c| *c > b' ') {
        return pos;
    }
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(pos) {
        pos += 1;
    }
    pos
}

/// Where the run of ASCII digits starting at `i` ends: 8 bytes at a time while there are
/// 8 (a UNIX time's 10 digits took ~50 instructions a byte at a time).
#[inline]
fn digits_end(b: &[u8], mut i: usize) -> usize {
    const LOW: u64 = 0x0F0F_0F0F_0F0F_0F0F;
    const SEVEN: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    while let Some(chunk) = b.get(i..i + 8).and_then(|c| c.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*chunk);
        // A byte is a digit when its high half is 3 and its low half under 10 (adding 6
        // to it then leaves bit 4 clear): such bytes are 0 in `other`, all others not.
        let other = ((w & !LOW) ^ 0x3030_3030_3030_3030)
            | ((w & LOW) + 0x0606_0606_0606_0606) & 0x1010_1010_1010_1010;
        if other != 0 {
            // Bit 7 of each byte of `other` that is not 0; the first is the run's end.
            let not_zero = (((other & SEVEN) + SEVEN) | other) & !SEVEN;
            return i + (not_zero.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

/// An empty vector of another type (here: the same type with another lifetime) that keeps
/// the allocation: the standard library collects a mapped `IntoIter` in place when the
/// element layouts match, which they do for one type under two lifetimes.
pub fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// A string's content (validated by the reader) with its escapes resolved.
pub fn unescape(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    unescape_into(content, &mut out);
    out
}

/// [`unescape`] into `out` (appended).
pub fn unescape_into(content: &str, out: &mut String) {
    let mut rest = content;
    // Short contents (keys, Braze's message_extras) by a byte loop, where str::find's
    // searcher cost more than the scan; long ones by find (SIMD).
    let backslash = |s: &str| match s.len() {
        0..=63 => s.bytes().position(|b| b == b'\\'),
        _ => s.find('\\'),
    };
    while let Some(at) = backslash(rest) {
        out.push_str(&rest[..at]);
        let esc = &rest[at + 1..];
        let (ch, used) = match esc.as_bytes().first() {
            Some(b'n') => ('\n', 1),
            Some(b't') => ('\t', 1),
            Some(b'r') => ('\r', 1),
            Some(b'b') => ('\u{8}', 1),
            Some(b'f') => ('\u{c}', 1),
            Some(b'u') => {
                let hex = |s: &str| s.get(..4).and_then(|h| u32::from_str_radix(h, 16).ok());
                match hex(&esc[1..]) {
                    Some(hi @ 0xD800..=0xDBFF) => {
                        let lo = esc
                            .get(5..7)
                            .filter(|p| *p == "\\u")
                            .and_then(|_| hex(&esc[7..]));
                        match lo {
                            Some(lo @ 0xDC00..=0xDFFF) => (
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                    .unwrap_or('\u{fffd}'),
                                11,
                            ),
                            _ => ('\u{fffd}', 5),
                        }
                    }
                    Some(n) => (char::from_u32(n).unwrap_or('\u{fffd}'), 5),
                    None => ('\u{fffd}', 1),
                }
            }
            // \" \\ \/ stand for themselves.
            Some(&c) => (c as char, 1),
            None => break,
        };
        out.push(ch);
        rest = esc.get(used..).unwrap_or("");
    }
    out.push_str(rest);
}

/// `out.extend_from_slice(s)`, for the short pieces a canonical line is written from (key
/// names, ids, times, punctuation: most under 32 bytes): when `out` has room, copied inline
/// as two overlapping moves of 16, 8 or 4 bytes instead of a call to `memcpy`. Longer
/// pieces, and any without room, go to `extend_from_slice`.
#[inline(always)]
pub fn append(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    let len = out.len();
    if n > 32 || out.capacity() - len < n {
        return out.extend_from_slice(s);
    }
    let src = s.as_ptr();
    // SAFETY: `out` has room for `n` more bytes (checked above), so every write below is
    // within `out`'s allocation from `len` to `len + n`; every read is within `s`
    // (`two_moves::<W>` is taken only when W <= n <= 2W). `set_len` then covers exactly
    // the `n` bytes written, all initialised.
    unsafe {
        let dst = out.as_mut_ptr().add(len);
        match n {
            16.. => two_moves::<16>(src, dst, n),
            8.. => two_moves::<8>(src, dst, n),
            4.. => two_moves::<4>(src, dst, n),
            _ => {
                for i in 0..n {
                    *dst.add(i) = *src.add(i);
                }
            }
        }
        out.set_len(len + n);
    }
}

/// `out.extend_from_slice(&padded[..n])` (`n <= 32`) as one copy of all 32 bytes when `out`
/// has room for them: the bytes past `n` land beyond `out`'s length, where the next
/// append writes over them.
#[inline(always)]
pub fn append_padded(out: &mut Vec<u8>, padded: &[u8; 32], n: usize) {
    let len = out.len();
    if n > 32 || out.capacity() - len < 32 {
        return out.extend_from_slice(&padded[..n.min(32)]);
    }
    // SAFETY: `out` has room for 32 more bytes (checked above), so the write is within its
    // allocation; `set_len` covers the first `n <= 32` of them, all written.
    unsafe {
        std::ptr::write_unaligned(out.as_mut_ptr().add(len) as *mut [u8; 32], *padded);
        out.set_len(len + n);
    }
}

/// Copy `n` bytes, `W <= n <= 2W`, as two moves of `W` bytes: one from each end,
/// overlapping in the middle.
///
/// # Safety
/// `src` must be readable and `dst` writable for `n` bytes, and `W <= n`.
#[inline(always)]
unsafe fn two_moves<const W: usize>(src: *const u8, dst: *mut u8, n: usize) {
    let head = std::ptr::read_unaligned(src as *const [u8; W]);
    let tail = std::ptr::read_unaligned(src.add(n - W) as *const [u8; W]);
    std::ptr::write_unaligned(dst as *mut [u8; W], head);
    std::ptr::write_unaligned(dst.add(n - W) as *mut [u8; W], tail);
}

/// Whether bytes hold `"`, `\\` or a control character: what a JSON string must escape.
/// Short texts (most written: names, types, ids) are read as one or two words that may
/// overlap rather than a byte at a time; up to 128 bytes (Kinesis sequence numbers, 56),
/// 16 at a time and the last 16 overlapping, rather than the search's byte-at-a-time tail.
#[inline]
pub fn needs_escape(b: &[u8]) -> bool {
    let n = b.len();
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
    let half = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]));
    match n {
        #[cfg(target_arch = "x86_64")]
        16..=128 => {
            let mut at = 0;
            while at + 16 <= n {
                if sse2::first16::<false>(&b[at..]).is_some() {
                    return true;
                }
                at += 16;
            }
            at < n && sse2::first16::<false>(&b[n - 16..]).is_some()
        }
        16.. => find_special::<false>(b, 0, false) < n,
        8..=15 => special_bytes::<false>(word(0)) | special_bytes::<false>(word(n - 8)) != 0,
        4..=7 => special_bytes::<false>(half(0) as u64 | (half(n - 4) as u64) << 32) != 0,
        _ => b.iter().any(|&c| special::<false>(c)),
    }
}

/// Whether a byte is `"`, `\\` or a control character — with `HIGH`, or past ASCII.
#[inline]
fn special<const HIGH: bool>(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20 || (HIGH && c >= 0x80)
}

/// A word's 8 bytes that are `"`, `\\` or a control character — with `HIGH`, also past
/// ASCII — flagged in their high bit. Exact up to the first flagged byte (a borrow only
/// runs upward, from a byte that is flagged itself), so "any" and "the first" are exact.
#[inline]
fn special_bytes<const HIGH: bool>(w: u64) -> u64 {
    const ONES: u64 = u64::MAX / 255;
    let ctrl = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * b'"' as u64);
    let q = q.wrapping_sub(ONES) & !q;
    let s = w ^ (ONES * b'\\' as u64);
    let s = s.wrapping_sub(ONES) & !s;
    let high = if HIGH { w } else { 0 };
    (ctrl | q | s | high) & (ONES << 7)
}

/// The first `"`, `\\` or control character at or after `from`, if any: in the content of
/// a raw JSON string, read and valid, a backslash (nothing else stands there unescaped).
/// 16 bytes at a time from one load: a `memchr` call cost ~40 instructions on the short
/// texts of Braze's `message_extras`.
pub fn next_special(b: &[u8], from: usize) -> Option<usize> {
    let i = find_special::<false>(b, from, false);
    (i < b.len()).then_some(i)
}

/// The first index at or after `i` holding `"`, `\` or a control character — and with
/// `HIGH`, a byte past ASCII (where a string must be checked for UTF-8) — or the length.
/// `wide`: the CPU has AVX2 ([`has_avx2`]), used past a string's first 16 bytes.
#[inline]
fn find_special<const HIGH: bool>(b: &[u8], mut i: usize, wide: bool) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        i = sse2::find_special::<HIGH>(b, i, wide);
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = wide;
        i = swar_find_special::<HIGH>(b, i);
    }
    while let Some(&c) = b.get(i) {
        if special::<HIGH>(c) {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// Word-at-a-time search; stops at a match or where fewer than 8 bytes are left.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn swar_find_special<const HIGH: bool>(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let m = special_bytes::<HIGH>(w);
        if m != 0 {
            return i + m.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use core::arch::x86_64::*;

    /// Lanes holding `"`, `\\` or a control character — with `HIGH`, also past ASCII —
    /// in their high bit (what `_mm_movemask_epi8` reads).
    #[inline(always)]
    fn mask16<const HIGH: bool>(v: __m128i) -> __m128i {
        // SAFETY: register arithmetic only; SSE2 is part of the x86_64 baseline, so these
        // instructions always exist.
        unsafe {
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            let m = _mm_or_si128(quote, slash);
            if HIGH {
                // Control characters and bytes past ASCII in one compare: as signed bytes,
                // exactly these are below 0x20 (0x80-0xff are negative).
                _mm_or_si128(m, _mm_cmpgt_epi8(_mm_set1_epi8(0x20), v))
            } else {
                // v <= 0x1f (unsigned) exactly when min(v, 0x1f) == v.
                _mm_or_si128(m, _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v))
            }
        }
    }

    /// A bit per special byte of the 16 at the start of `chunk` (bit k: byte k).
    #[inline(always)]
    pub(super) fn bits16<const HIGH: bool>(chunk: &[u8]) -> u32 {
        assert!(chunk.len() >= 16);
        // SAFETY: `chunk` holds 16 readable bytes (asserted); the load is unaligned.
        let v = unsafe { _mm_loadu_si128(chunk.as_ptr() as *const __m128i) };
        // SAFETY: register arithmetic only (SSE2, x86_64 baseline).
        unsafe { _mm_movemask_epi8(mask16::<HIGH>(v)) as u32 }
    }

    /// The first of 16 bytes at `i` that is special, if any.
    #[inline(always)]
    pub(super) fn first16<const HIGH: bool>(chunk: &[u8]) -> Option<usize> {
        // SAFETY: callers pass 16 readable bytes; the load is unaligned.
        let v = unsafe { _mm_loadu_si128(chunk.as_ptr() as *const __m128i) };
        // SAFETY: register arithmetic only (SSE2, x86_64 baseline).
        let mask = unsafe { _mm_movemask_epi8(mask16::<HIGH>(v)) } as u32;
        (mask != 0).then(|| mask.trailing_zeros() as usize)
    }

    /// 16 bytes at a time with SSE2 (part of every x86_64), 64 per test in long strings;
    /// stops at a match or where fewer than 16 bytes are left.
    #[inline]
    pub(super) fn find_special<const HIGH: bool>(b: &[u8], mut i: usize, mut wide: bool) -> usize {
        // Most strings are short: look at 16 bytes first.
        match b.get(i..i + 16) {
            Some(chunk) => match first16::<HIGH>(chunk) {
                Some(k) => return i + k,
                None => i += 16,
            },
            None => return i,
        }
        // Long strings (record data in a Lambda event): 64 bytes per test.
        while let Some(chunk) = b.get(i..i + 64) {
            let p = chunk.as_ptr() as *const __m128i;
            // SAFETY: `chunk` is 64 readable bytes; the loads are unaligned.
            let (a, b1, c, d) = unsafe {
                (
                    _mm_loadu_si128(p),
                    _mm_loadu_si128(p.add(1)),
                    _mm_loadu_si128(p.add(2)),
                    _mm_loadu_si128(p.add(3)),
                )
            };
            // SAFETY: register arithmetic only (SSE2, x86_64 baseline).
            let any = unsafe {
                _mm_movemask_epi8(_mm_or_si128(
                    _mm_or_si128(mask16::<HIGH>(a), mask16::<HIGH>(b1)),
                    _mm_or_si128(mask16::<HIGH>(c), mask16::<HIGH>(d)),
                ))
            };
            if any != 0 {
                break;
            }
            i += 64;
            // Past 80 bytes, a long string (record data): the rest with AVX2 where the CPU
            // has it, half the instructions per block.
            if wide {
                wide = false;
                // SAFETY: `wide` is only ever true when the CPU has AVX2 (`has_avx2`).
                i = unsafe { super::avx2::skip_plain::<HIGH>(b, i) };
            }
        }
        while let Some(chunk) = b.get(i..i + 16) {
            if let Some(k) = first16::<HIGH>(chunk) {
                return i + k;
            }
            i += 16;
        }
        i
    }
}

/// Whether the CPU has AVX2 (std caches the answer).
#[inline]
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::*;

    /// As `sse2::mask16`, 32 lanes at a time.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn mask32<const HIGH: bool>(v: __m256i) -> __m256i {
        let quote = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'"' as i8));
        let slash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
        let m = _mm256_or_si256(quote, slash);
        if HIGH {
            // As in `sse2::mask16`: signed, below 0x20 = a control character or past ASCII.
            _mm256_or_si256(m, _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v))
        } else {
            let ctrl = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1f)), v);
            _mm256_or_si256(m, ctrl)
        }
    }

    /// From `i`, past every whole 64-byte block holding no byte `sse2::find_special` stops
    /// at: the start of the first block holding one, or where fewer than 64 bytes are left.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn skip_plain<const HIGH: bool>(b: &[u8], mut i: usize) -> usize {
        while let Some(chunk) = b.get(i..i + 64) {
            let p = chunk.as_ptr() as *const __m256i;
            // SAFETY: `chunk` is 64 readable bytes; the loads are unaligned.
            let (lo, hi) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
            if _mm256_movemask_epi8(_mm256_or_si256(mask32::<HIGH>(lo), mask32::<HIGH>(hi))) != 0 {
                break;
            }
            i += 64;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// A string's end, an escape, text past ASCII and a control character at every offset
    /// from 0 to 120 — through each fast path's windows (16, 32, 48 bytes) and the scans
    /// past them — with the text ending at the string and with more text after it.
    #[test]
    fn reads_a_special_byte_at_every_offset_of_a_string() {
        for n in 0..=120 {
            // The end; an escape written as two bytes, or six (`\u0001`); past ASCII.
            for tail in ["", "\n", "\"", "\u{1}z", "é"] {
                let s = format!("{}{tail}", "a".repeat(n));
                let text = serde_json::to_string(&s).unwrap();
                for doc in [text.clone(), format!("[{text},\"{}\"]", "z".repeat(64))] {
                    let mut tape = Tape::default();
                    let root = tape
                        .parse_one(&doc)
                        .unwrap_or_else(|e| panic!("{doc}: {e}"));
                    let v = tape.val(root);
                    let v = v.array().and_then(|mut a| a.next()).unwrap_or(v);
                    assert_eq!(v.str().as_deref(), Some(s.as_str()), "{doc}");
                }
            }
            // Escapes close together (escaped JSON, as Braze's message_extras) and a
            // surrogate pair, across the 16-byte blocks wherever they start.
            let pad = "a".repeat(n);
            for (json, read) in [
                (r#"{\"k\":\"v\",\"n\":\"\\\\x\"}"#, r#"{"k":"v","n":"\\x"}"#),
                (r#"\ud83d\ude00\n\u00e9\t\""#, "😀\né\t\""),
            ] {
                for doc in [
                    format!("\"{pad}{json}{pad}\""),
                    format!("[\"{pad}{json}\",\"{}\"]", "z".repeat(64)),
                ] {
                    let mut tape = Tape::default();
                    let root = tape
                        .parse_one(&doc)
                        .unwrap_or_else(|e| panic!("{doc}: {e}"));
                    let v = tape.val(root);
                    let v = v.array().and_then(|mut a| a.next()).unwrap_or(v);
                    let want = match doc.starts_with('[') {
                        true => format!("{pad}{read}"),
                        false => format!("{pad}{read}{pad}"),
                    };
                    assert_eq!(v.str().as_deref(), Some(want.as_str()), "{doc}");
                }
            }
            // A raw control character at the same offset is refused, and one after an
            // escape in the same 16 bytes.
            for bad in [format!("{pad}\u{1}"), format!("{pad}\\n\u{1}")] {
                let raw = format!("[\"{bad}\",\"{}\"]", "z".repeat(64));
                assert!(Tape::default().parse_one(&raw).is_err(), "{raw:?}");
            }
        }
    }

    fn scalar_find(b: &[u8], i: usize, high: bool) -> usize {
        (i..b.len())
            .find(|&k| b[k] == b'"' || b[k] == b'\\' || b[k] < 0x20 || (high && b[k] >= 0x80))
            .unwrap_or(b.len())
    }

    /// serde_json's verdict on a text; Err(true) for "valid but a number beyond a double".
    fn serde_verdict(text: &str) -> Result<(), bool> {
        match serde_json::from_str::<Value>(text) {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string().contains("number out of range")),
        }
    }

    fn check(text: &str) -> Result<(), TestCaseError> {
        let mut tape = Tape::default();
        let ours = tape.parse_one(text);
        match (serde_verdict(text), ours) {
            (Ok(()), Ok(root)) => {
                let v = tape.val(root);
                prop_assert!(!v.huge(), "{text:?} flagged huge");
                // Every node's first byte is its text's.
                for n in &tape.nodes {
                    prop_assert_eq!(Some(&n.first), n.raw.as_bytes().first(), "{:?}", text);
                }
                // The tape rebuilds the same value.
                prop_assert_eq!(rebuild(v), serde_json::from_str::<Value>(text).unwrap());
            }
            (Err(true), Ok(root)) => prop_assert!(tape.val(root).huge(), "{text:?} not flagged"),
            (Err(_), Err(_)) => {}
            (want, got) => prop_assert!(false, "{text:?}: serde {want:?}, ours {got:?}"),
        }
        Ok(())
    }

    fn rebuild(v: Val<'_>) -> Value {
        if let Some(o) = v.object() {
            let mut m = serde_json::Map::new();
            for (k, val) in o.iter() {
                m.insert(k.to_string(), rebuild(val));
            }
            return Value::Object(m);
        }
        if let Some(items) = v.array() {
            return Value::Array(items.map(rebuild).collect());
        }
        let value: Value = serde_json::from_str(v.get()).unwrap();
        // A string's text as the reader gives it (escapes resolved when it noted one).
        if let Value::String(s) = &value {
            assert_eq!(v.str().as_deref(), Some(s.as_str()), "{}", v.get());
        }
        value
    }

    #[test]
    fn keys_alike_but_for_their_end_get_different_bits() {
        // A campaign's custom keys differ in their last bytes only: with the old filter
        // (length, first and last byte) 24 of them shared 10 bits, and every member after
        // the tenth was compared with all before it.
        let keys: Vec<String> = (0..24).map(|k| format!("custom_{k:02}")).collect();
        let mut bits = KeySet::default();
        for k in &keys {
            bits.add(key_bit(k.as_bytes()));
        }
        assert!(bits.count() >= 21, "{} bits for 24 keys", bits.count());
        for short in ["a", "ab", "id", "time", "user_id"] {
            let mut one = KeySet::default();
            assert!(!one.may_have(key_bit(short.as_bytes())));
            one.add(key_bit(short.as_bytes()));
            assert_eq!(one.count(), 1);
            assert!(one.may_have(key_bit(short.as_bytes())));
        }
        // Repeated keys are still found whatever their bits.
        let mut tape = Tape::default();
        let text = format!(
            "{{{},\"custom_05\":\"last\"}}",
            keys.iter()
                .map(|k| format!("\"{k}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let root = tape.parse_one(&text).unwrap();
        let o = tape.val(root).object().unwrap();
        assert_eq!(o.iter().count(), 24);
        assert_eq!(o.get("custom_05").unwrap().get(), "\"last\"");
    }

    #[test]
    fn agrees_with_serde_json_on_edge_cases() {
        for text in [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"k":{"x":1},"k":[2]}"#,
            "  [ ]  ",
            "{}",
            "-0.5e+10",
            "01",
            "1.",
            "1e",
            "-",
            "--1",
            "1e999",
            "[1e999]",
            "-1e400",
            "1e-999",
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\u12""#,
            r#""\x""#,
            "\"a\u{1}b\"",
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            "[1,]",
            "[1 2]",
            r#"{1:2}"#,
            "tru",
            "nul",
            "true false",
            "\"é ünïcödé 日本\"",
            "{\"a\":\"b\"}  x",
            &"[".repeat(129),
            &format!("{}{}", "[".repeat(128), "]".repeat(128)),
            &format!("{}{}", "[".repeat(129), "]".repeat(129)),
            &format!("1{}", "0".repeat(400)),
            &format!("1{}", "0".repeat(200)),
        ] {
            check(text).unwrap();
        }
    }

    #[test]
    fn append_is_extend_from_slice_at_every_length_and_room() {
        let text: Vec<u8> = (0..80u8).map(|i| b'!' + i).collect();
        for n in 0..=70 {
            for start in 0..3 {
                // Its own allocation of exactly n bytes: a read past it is one valgrind's
                // memcheck reports (scripts/test runs this test under it).
                let s = &text[start..start + n].to_vec()[..];
                for room in [0, n.saturating_sub(1), n, n + 1, 64] {
                    let mut out = Vec::with_capacity(5 + room);
                    out.extend_from_slice(b"head:");
                    let mut want = out.clone();
                    append(&mut out, s);
                    want.extend_from_slice(s);
                    assert_eq!(out, want, "length {n}, room {room}");
                }
            }
        }
    }

    #[test]
    fn append_padded_is_extend_from_slice_at_every_length_and_room() {
        for n in 0..=33 {
            let mut padded = [0u8; 32];
            for (i, b) in padded.iter_mut().enumerate().take(n.min(32)) {
                *b = b'a' + i as u8 % 26;
            }
            for room in [0, n.saturating_sub(1), n, 31, 32, 33, 64] {
                let mut out = Vec::with_capacity(5 + room);
                out.extend_from_slice(b"head:");
                let mut want = out.clone();
                append_padded(&mut out, &padded, n);
                want.extend_from_slice(&padded[..n.min(32)]);
                assert_eq!(out, want, "length {n}, room {room}");
                // What follows overwrites the padding copied past the length.
                append(&mut out, b"tail");
                want.extend_from_slice(b"tail");
                assert_eq!(out, want, "length {n}, room {room}, then more");
            }
        }
    }

    proptest! {
        #[test]
        fn unescapes_as_serde_json_does(text in "\\PC{0,16}") {
            let quoted = serde_json::to_string(&text).unwrap();
            prop_assert_eq!(unescape(&quoted[1..quoted.len() - 1]), text.clone());
            let ascii = serde_json::to_string(&text).unwrap().chars().flat_map(|c| {
                if c.is_ascii() { vec![c.to_string()] } else {
                    let mut b = [0u16; 2];
                    c.encode_utf16(&mut b).iter().map(|u| format!("\\u{u:04x}")).collect()
                }
            }).collect::<String>();
            prop_assert_eq!(unescape(&ascii[1..ascii.len() - 1]), text);
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        let mut tape = Tape::default();
        let text = "{\"a\":1,\n \"b\" 2}";
        let e = tape.parse_one(text).unwrap_err();
        assert_eq!(
            e.describe(text.as_bytes()),
            "expected ':' after an object key at line 2 column 6"
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value() {
        let mut tape = Tape::default();
        let root = tape.parse_one(r#"{"a":1,"b":2,"a":{"c":3}}"#).unwrap();
        let o = tape.val(root).object().unwrap();
        let keys: Vec<&str> = o.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(o.get("a").unwrap().get(), r#"{"c":3}"#);
        assert_eq!(
            o.get("a")
                .unwrap()
                .object()
                .unwrap()
                .get("c")
                .unwrap()
                .get(),
            "3"
        );
    }

    #[test]
    fn elements_are_read_one_at_a_time_keeping_only_the_members_asked_for() {
        let text = r#"{"x":[1,{"y":2}],"Records":[{"a":1,"skip":"s","b":{"c":[3]}},{"skip":{"deep":[1e999]},"a":2},[4]],"z":null}"#;
        let mut seen = Vec::new();
        let found = Tape::default()
            .for_each_element(text.as_bytes(), "Records", &["a", "b"], |i, v| {
                let kept = v.object().map(|o| {
                    let keys: Vec<String> = o.iter().map(|(k, _)| k.to_string()).collect();
                    (keys, o.huge)
                });
                seen.push((i, kept, v.get().len()));
                Ok(())
            })
            .unwrap();
        assert!(found);
        assert_eq!(
            seen[0].1,
            Some((vec!["a".to_string(), "b".to_string()], false))
        );
        // A skipped member is still checked: its number beyond a double is flagged.
        assert_eq!(seen[1].1, Some((vec!["a".to_string()], true)));
        assert_eq!(seen[2].1, None);
        let mut tape = Tape::default();
        // A skipped member that is not JSON is an error, as anywhere else.
        let err = tape
            .for_each_element(
                br#"{"Records":[{"a":1,"skip":tru}]}"#,
                "Records",
                &["a"],
                |_, _| Ok(()),
            )
            .unwrap_err();
        assert!(err.contains("expected a JSON value"), "{err}");
        assert!(tape
            .for_each_element(br#"{"Records":{}}"#, "Records", &[], |_, _| Ok(()))
            .unwrap_err()
            .contains("not an array"));
        assert!(!tape
            .for_each_element(b"{}", "Records", &[], |_, _| Ok(()))
            .unwrap());
    }

    #[test]
    fn streams_need_a_separator_after_numbers_and_literals() {
        let mut tape = Tape::default();
        assert_eq!(tape.parse_stream(r#"{"a":1}{"b":2} [3]"#).unwrap().len(), 3);
        assert_eq!(tape.parse_stream("1 2\n\"x\"\"y\"").unwrap().len(), 4);
        assert!(tape.parse_stream("1x").is_err());
        assert!(tape.parse_stream("true,").is_err());
        assert_eq!(tape.parse_stream("  ").unwrap().len(), 0);
    }

    /// Every byte value (0x1f/0x20 and 0x7f/0x80 among them: the edges of the signed
    /// compare that finds control characters and bytes past ASCII at once) at every
    /// offset of the 16-, 64- and AVX2 blocks: found where a plain loop finds it.
    #[test]
    fn finds_every_byte_value_as_a_plain_loop_does() {
        for c in 0..=255u8 {
            for at in 0..140 {
                let mut b = vec![b'a'; 160];
                b[at] = c;
                for wide in [false, has_avx2()] {
                    for start in [0, at.min(3), at] {
                        assert_eq!(
                            find_special::<false>(&b, start, wide),
                            scalar_find(&b, start, false),
                            "{c:#x} at {at}"
                        );
                        assert_eq!(
                            find_special::<true>(&b, start, wide),
                            scalar_find(&b, start, true),
                            "{c:#x} at {at}"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn finds_the_same_special_byte_as_a_plain_loop(
            b in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff], 0..80),
            start in 0usize..80,
        ) {
            let start = start.min(b.len());
            for wide in [false, has_avx2()] {
                prop_assert_eq!(find_special::<false>(&b, start, wide), scalar_find(&b, start, false));
                prop_assert_eq!(find_special::<true>(&b, start, wide), scalar_find(&b, start, true));
            }
            // The word-at-a-time search (other targets) stops at the same byte, or before it
            // where fewer than 8 bytes are left.
            for high in [false, true] {
                let i = match high {
                    false => swar_find_special::<false>(&b, start),
                    true => swar_find_special::<true>(&b, start),
                };
                let want = scalar_find(&b, start, high);
                prop_assert!(i == want || (i < want && b.len() - i < 8), "{} vs {}", i, want);
            }
        }

        /// A run of digits ends where a plain loop ends it, whatever byte follows (those
        /// next to the digits among them: '/', ':', and bytes past ASCII).
        #[test]
        fn a_run_of_digits_ends_where_a_plain_loop_ends_it(
            b in proptest::collection::vec(prop_oneof![4 => b'0'..=b'9', 1 => Just(b'/'), 1 => Just(b':'), 1 => any::<u8>()], 0..40),
            start in 0usize..40,
        ) {
            let start = start.min(b.len());
            let mut want = start;
            while b.get(want).is_some_and(u8::is_ascii_digit) {
                want += 1;
            }
            prop_assert_eq!(digits_end(&b, start), want);
        }

        /// Short texts are read as overlapping words, texts up to 128 bytes 16 at a time
        /// with the last 16 overlapping, longer ones searched: the same verdict as a plain
        /// loop at every length and every place of the one special byte.
        #[test]
        fn needs_escape_agrees_with_a_plain_loop(
            b in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff, Just(b'a')], 0..200),
        ) {
            prop_assert_eq!(needs_escape(&b), scalar_find(&b, 0, false) < b.len());
            // And with every byte but one plain.
            for at in 0..b.len() {
                let mut one = vec![b'x'; b.len()];
                one[at] = b[at];
                prop_assert_eq!(needs_escape(&one), scalar_find(&one, 0, false) < one.len());
            }
        }

        /// Long strings: the 64-byte blocks must stop at the block holding the special
        /// byte, wherever it is in the block.
        #[test]
        fn finds_a_special_byte_far_into_plain_text(
            len in 0usize..600,
            specials in proptest::collection::vec((0usize..600, prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x80u8..=0xff]), 0..3),
            start in 0usize..100,
        ) {
            // ASCII text (base64's alphabet and more); a byte past ASCII among the specials.
            let mut b: Vec<u8> = (0..len).map(|k| b"abcXYZ0+/= ~{}:"[k % 15]).collect();
            for (at, c) in specials {
                if at < b.len() {
                    b[at] = c;
                }
            }
            let start = start.min(b.len());
            // Both scans where the CPU has AVX2 (64-byte blocks with AVX2, or SSE2 only).
            for wide in [false, has_avx2()] {
                prop_assert_eq!(find_special::<false>(&b, start, wide), scalar_find(&b, start, false));
                prop_assert_eq!(find_special::<true>(&b, start, wide), scalar_find(&b, start, true));
            }
        }

        #[test]
        fn agrees_with_serde_json_on_json_like_text(
            parts in proptest::collection::vec(prop_oneof![
                Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("\"k\""),
                Just("\"a\\\"b\""), Just("\"\\u00e9\""), Just("\"\\ud83d\\ude00\""), Just("\"\\ud83d\""),
                Just("1"), Just("-2.5e3"), Just("1e999"), Just("0"), Just("01"), Just("true"),
                Just("null"), Just(" "), Just("\n"), Just("\"\u{7}\""), Just("\"é\""),
            ], 0..24),
        ) {
            check(&parts.concat())?;
        }

        /// Bytes, not text: UTF-8 is checked in the same pass, so a text is accepted
        /// exactly when it is UTF-8 and serde_json accepts it — whether the bad bytes are
        /// in a key, a value, a long string, after an escape or outside any string.
        #[test]
        fn accepts_bytes_exactly_when_they_are_utf8_json(
            parts in proptest::collection::vec(proptest::sample::select(BYTE_PARTS), 0..16),
        ) {
            let bytes = parts.concat();
            let want = std::str::from_utf8(&bytes).ok().map(serde_verdict);
            let mut tape = Tape::default();
            let ours = tape.parse_bytes(&bytes);
            match (want, &ours) {
                (Some(Ok(())), Ok(_)) | (Some(Err(true)), Ok(_)) => {}
                (None | Some(Err(false)), Err(_)) => {}
                (want, got) => prop_assert!(false, "{:?}: utf8+serde {:?}, ours {:?}", String::from_utf8_lossy(&bytes), want, got),
            }
            let mut tape = Tape::default();
            let stream = tape.parse_stream_bytes(&bytes);
            match std::str::from_utf8(&bytes) {
                Ok(_) => {
                    // Valid text never fails as "not UTF-8".
                    prop_assert!(!ours.as_ref().is_err_and(SyntaxError::not_utf8));
                    prop_assert!(!stream.as_ref().is_err_and(SyntaxError::not_utf8));
                }
                // A text that is not UTF-8 fails as such, at its first bad byte, wherever
                // it is and whatever else is wrong.
                Err(e) => {
                    for got in [ours.clone().map(|_| ()), stream.map(|_| ())] {
                        let got = got.unwrap_err();
                        prop_assert!(got.not_utf8() && got.at == e.valid_up_to(), "{:?}", got);
                    }
                }
            }
        }

        /// Strings of every length around the 48-byte fast path (and the 32-byte one near
        /// the end of a text) and the 16- and 64-byte scans, with escapes and text past
        /// ASCII anywhere in them; alone (the text ends with the string) and followed by
        /// more text (every window is there to look at).
        #[test]
        fn reads_strings_of_any_length_as_serde_json_writes_them(
            plain in 0usize..100,
            rest in "[a-z0-9 \"\\\\\n\u{1}é😀]{0,40}",
        ) {
            // Plain text first, so that what the scans stop at falls on every offset.
            let s = format!("{}{rest}", "a".repeat(plain));
            let text = serde_json::to_string(&s).unwrap();
            let mut tape = Tape::default();
            let root = tape.parse_one(&text);
            prop_assert!(root.is_ok(), "{:?}", text);
            let read = tape.val(root.unwrap()).str();
            prop_assert_eq!(read.as_deref(), Some(s.as_str()));
            let padded = format!("[{text},\"{}\"]", "z".repeat(64));
            let mut tape = Tape::default();
            let root = tape.parse_one(&padded);
            prop_assert!(root.is_ok(), "{:?}", padded);
            let first = tape.val(root.unwrap()).array().and_then(|mut a| a.next());
            let first = first.and_then(|v| v.str());
            prop_assert_eq!(first.as_deref(), Some(s.as_str()));
            // The same bytes with one made invalid UTF-8 are refused.
            let mut bad = text.clone().into_bytes();
            if bad.len() > 2 {
                let at = bad.len() / 2;
                bad[at] = 0xff;
                prop_assert!(Tape::default().parse_bytes(&bad).is_err());
            }
        }

        #[test]
        fn agrees_with_serde_json_on_generated_values(v in arb_json()) {
            let compact = serde_json::to_string(&v).unwrap();
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            check(&compact)?;
            check(&pretty)?;
        }
    }

    /// Pieces of JSON and of UTF-8 — valid (2, 3 and 4 bytes), cut short, overlong, a
    /// surrogate, past U+10FFFF, a lone continuation byte — for texts in bytes.
    const BYTE_PARTS: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"k\"",
        b"\"",
        b"\"a\\\"b",
        b"1",
        b"true",
        b" ",
        "é".as_bytes(),
        "日本".as_bytes(),
        "😀".as_bytes(),
        b"\xff",
        b"\xc3",
        b"\xa9",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xc0\xaf",
        b"\xe2\x82",
        b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ];

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-c\"\\\\é]{0,3}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }
}
