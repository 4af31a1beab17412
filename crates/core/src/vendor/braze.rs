//! Braze Currents: every type is `users.…` in `event_type`, the id in `id`, the time in
//! `time` (UNIX seconds). Three shapes — nested (`user` and `properties` objects, the HTTP
//! connector's), flat (the storage export's) and `{"events": […]}` batches — map the same
//! way: the nested objects are flattened first. Fields named like a column fill it.

use super::write::{column_of, Event, Header, Json};
use super::{
    blank, event_id, first_byte, kind_of, reject, string, Bufs, Format, Known, LineResult,
    Rejection, OUT_OF_RANGE,
};
use crate::catalogue::{destination_index, unknown_type_index};
use crate::event::{Coordinates, Reason};
use crate::json::{self, Obj, Val};
use crate::timefmt;
use std::borrow::Cow;

/// Braze in the registry of vendors.
pub(super) const FORMAT: Format = Format {
    name: "braze",
    types: TYPES,
    claims,
    decode,
};

pub(crate) const TYPES: &[(&str, &str)] = &[
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

/// Avro's JSON encoding writes a non-null union value as `{"<type>": value}` (Braze
/// Currents' Avro export relayed as JSON): such single-member objects are unwrapped.
pub(crate) const AVRO_UNION_TYPES: &[&str] = &[
    "string", "int", "long", "float", "double", "boolean", "bytes",
];

/// The value inside an Avro JSON union (`{"string": "x"}` → `"x"`), else the value.
/// The first-byte test inlined always: nearly every field is no object, and the call
/// cost 16 instructions a field.
#[inline(always)]
fn avro_unwrap<'a>(v: Val<'a>) -> Val<'a> {
    if first_byte(v) == b'{' {
        union_member(v).unwrap_or(v)
    } else {
        v
    }
}

/// An object's one member when it is an Avro union's (`{"string": "x"}`).
fn union_member<'a>(v: Val<'a>) -> Option<Val<'a>> {
    let o = v.object()?;
    let mut members = o.iter();
    match (members.next(), members.next()) {
        (Some((k, inner)), None) if AVRO_UNION_TYPES.contains(&k.as_ref()) => Some(inner),
        _ => None,
    }
}

/// Braze button actions that take the user somewhere: such an Open is a `click`.
pub const CLICK_BUTTON_ACTIONS: &[&str] = &["uri", "deep_link"];

/// Braze's records are the ones with an `event_type` (whatever its value: `decode` says
/// what is wrong with one that is not a Braze type).
fn claims(k: &Known<'_>) -> bool {
    k.event_type.is_some()
}

fn decode<'a>(
    m: &Obj<'a>,
    k: &Known<'a>,
    coords: &Coordinates<'_>,
    bufs: &mut Bufs<'a, '_>,
) -> LineResult<'a> {
    let Some(t) = k.event_type else {
        return Err(reject(Reason::MissingEventType, "no event_type"));
    };
    match string(t) {
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
        Some(s) if !blank(&s) => event(m, k, t, &s, coords, bufs),
        _ => Err(reject(
            Reason::MissingEventType,
            format!("event_type is {}", kind_of(t)),
        )),
    }
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
        b'-' | b'0'..=b'9' => {
            // Whole seconds (most Braze times) in range: the value serde_json reads,
            // without it. Anything else, and every bad time, as before.
            if let Some(ms) = short_whole_seconds_ms(raw.get()) {
                return Ok(ms);
            }
            if let Some(ms) =
                whole_seconds(raw.get()).and_then(|f| timefmt::from_unix_seconds(f, "").ok())
            {
                return Ok(ms);
            }
            match serde_json::from_str::<serde_json::Number>(raw.get()) {
                Ok(n) => match n.as_f64() {
                    Some(f) => timefmt::from_unix_seconds(f, &n.to_string()).map_err(bad),
                    None => Err(reject(
                        Reason::BadTimestamp,
                        format!("time {n} is not a number of seconds"),
                    )),
                },
                Err(_) => Err(reject(Reason::InvalidJson, OUT_OF_RANGE)),
            }
        }
        _ => Err(reject(
            Reason::BadTimestamp,
            format!("time is {}", kind_of(raw)),
        )),
    }
}

/// A JSON number of 1 to 12 digits (UNIX seconds until the year 33658) in range, in
/// milliseconds, read in one pass: below 10^12 seconds the double path
/// ([`whole_seconds`], then `timefmt::from_unix_seconds`) multiplies and rounds exactly, so
/// this is its value. Anything else: `None`, for that path.
#[inline]
fn short_whole_seconds_ms(text: &str) -> Option<i64> {
    let t = text.as_bytes();
    if t.is_empty() || t.len() > 12 {
        return None;
    }
    let mut n = 0i64;
    for d in t {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    let ms = n * 1000;
    (timefmt::MIN_MS..timefmt::MAX_MS)
        .contains(&ms)
        .then_some(ms)
}

/// A JSON number that is a whole number of seconds (`-?[0-9]{1,18}`), as a double: what
/// serde_json reads from it (an integer, then `as f64`).
fn whole_seconds(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok().map(|n| n as f64)
}

fn event<'a>(
    m: &Obj<'a>,
    k: &Known<'a>,
    type_raw: Val<'a>,
    vendor_type: &str,
    coords: &Coordinates<'_>,
    bufs: &mut Bufs<'a, '_>,
) -> LineResult<'a> {
    let (id, id_raw) = event_id(k)?;
    let occurred = braze_time(k)?;

    // Nested (HTTP connector) records carry `user` and `properties` objects (their
    // members are read after the top-level fields, below).
    let user = k.user.and_then(|v| v.object());
    let properties = k.properties.and_then(|v| v.object());
    let nested = user.is_some() || properties.is_some();

    // The names share a long prefix: compare the end first.
    let mapped = TYPES
        .iter()
        .find(|(v, _)| v.as_bytes().last() == vendor_type.as_bytes().last() && *v == vendor_type)
        .map(|(_, c)| *c);
    let canonical = match mapped {
        Some("open") => {
            // The first `button_action_type` in field order: a top-level one, else
            // `user`'s, else `properties'` (a nested key is renamed only when an earlier
            // field has its name, so the first of them keeps it).
            let action = m
                .get("button_action_type")
                .or_else(|| user.and_then(|u| u.get("button_action_type")))
                .or_else(|| properties.and_then(|p| p.get("button_action_type")))
                .map(avro_unwrap)
                .and_then(string);
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
    let Bufs {
        names,
        values,
        attributes,
        texts,
        out,
        scratch,
    } = bufs;
    let mut e = Event::new(destination, values, attributes, texts);
    // One field into its column or attributes (a macro: as a closure it was not inlined).
    macro_rules! put {
        ($k:expr, $v:expr) => {{
            let (k, v): (&Cow<'a, str>, Val<'a>) = ($k, $v);
            if k == "message_extras" && first_byte(v) == b'"' {
                e.attributes.push((k.clone(), Json::Extras(v)));
            } else {
                e.field_with(k, v, || k.clone());
            }
        }};
        // `col`: the key's column ([`column_of`]), looked up already.
        ($k:expr, $v:expr, $col:expr) => {{
            let (k, v): (&Cow<'a, str>, Val<'a>) = ($k, $v);
            if k == "message_extras" && first_byte(v) == b'"' {
                e.attributes.push((k.clone(), Json::Extras(v)));
            } else if !e.column_at($col, v) {
                e.attributes.push((k.clone(), Json::Raw(v.get())));
            }
        }};
    }
    if nested {
        // Nested (HTTP connector) records carry `user` and `properties` objects: their
        // members follow the top-level fields, so both shapes map the same way. A nested
        // key that an earlier field has (a top-level key, or one of `user`'s) is kept in
        // attributes as `user.<key>` / `properties.<key>`, prefixed again while that name
        // is taken. A bit per key taken so far: only on a hit is a key looked for. Keys
        // named like a column — most of a nested object's — have their column's bit
        // (`seen_columns`: exact, and no second look-up when the value is put), the
        // others a bit of 512 (`seen`).
        // The members read already (`Known`) are taken: their bits, worked out once, and
        // each told in the loop by being that very value (no compare of its key).
        const ROLE_BITS: [json::KeyBit; 5] = [
            json::key_bit(b"id"),
            json::key_bit(b"event_type"),
            json::key_bit(b"time"),
            json::key_bit(b"user"),
            json::key_bit(b"properties"),
        ];
        let roles = [
            k.id,
            k.event_type,
            k.time,
            user.and(k.user),
            properties.and(k.properties),
        ];
        let mut seen = json::KeySet::default();
        for (role, bit) in roles.iter().zip(ROLE_BITS) {
            if role.is_some() {
                seen.add(bit);
            }
        }
        let mut seen_columns = 0u64;
        for (key, v) in m.iter() {
            if roles.iter().any(|r| v.is(*r)) {
                continue;
            }
            let col = e.table.column_of(key);
            match col {
                Some(id) => seen_columns |= 1u64 << id,
                None => seen.add(json::key_bit(key.as_bytes())),
            }
            put!(key, avro_unwrap(v), col)
        }
        names.clear();
        for (outer, inner) in [("user", &user), ("properties", &properties)] {
            let Some(inner) = inner else { continue };
            for (k, v) in inner.iter() {
                // Taken: a top-level key, a nested key kept as it is, or a renamed one
                // (renamed names hold a dot, which no column's does: all are attributes).
                let taken = |e: &Event<'a, '_>, names: &[&str], name: &str| {
                    m.has(name)
                        || names.contains(&name)
                        || e.attributes.iter().any(|(a, _)| a == name)
                };
                let col = e.table.column_of(k);
                let bit = match col {
                    Some(_) => None,
                    None => Some(json::key_bit(k.as_bytes())),
                };
                let clash = match col {
                    Some(id) => seen_columns & (1u64 << id) != 0,
                    None => bit.is_some_and(|b| seen.may_have(b)) && taken(&e, names, k),
                };
                if clash {
                    // Renamed `user.<key>`; should that name be taken as well (a
                    // top-level key `user.x`), `user.user.<key>`, and so on: no value
                    // lands on another's name. The new name is taken too: a later key
                    // equal to it (a `properties` key `user.x`) must find it.
                    let mut renamed = format!("{outer}.{k}");
                    while taken(&e, names, &renamed) {
                        renamed.insert(0, '.');
                        renamed.insert_str(0, outer);
                    }
                    seen.add(json::key_bit(renamed.as_bytes()));
                    let v = avro_unwrap(v);
                    debug_assert!(column_of(&renamed).is_none());
                    e.attributes.push((Cow::Owned(renamed), Json::Raw(v.get())));
                } else {
                    // Only names without a column are ever looked for in `names` (a
                    // column's name is told by its bit), so only they are kept there.
                    if let Some(id) = col {
                        seen_columns |= 1u64 << id;
                    } else if let Some(bit) = bit {
                        seen.add(bit);
                        names.push(k.as_ref());
                    }
                    put!(k, avro_unwrap(v), col);
                }
            }
        }
    } else {
        // Flat rows and batch items: their members are the fields as they stand.
        for (k, v) in m.iter() {
            if !matches!(k.as_ref(), "id" | "event_type" | "time") {
                put!(k, avro_unwrap(v));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::whole_seconds;
    use proptest::prelude::*;

    /// serde_json's double for a JSON number (what the reference decoder reads).
    fn serde_f64(text: &str) -> Option<f64> {
        serde_json::from_str::<serde_json::Number>(text)
            .ok()
            .and_then(|n| n.as_f64())
    }

    #[test]
    fn whole_seconds_are_read_as_serde_json_reads_them() {
        for t in [
            "0",
            "-0",
            "1767225600",
            "-1",
            "999999999999999999",
            "-999999999999999999",
        ] {
            assert_eq!(whole_seconds(t), serde_f64(t), "{t}");
        }
        // Not whole seconds, or too long for the short cut: left to serde_json.
        for t in [
            "1767225600.5",
            "1e9",
            "1E9",
            "-",
            "",
            "1000000000000000000",
            "12a",
        ] {
            assert_eq!(whole_seconds(t), None, "{t}");
        }
    }

    proptest! {
        /// The one-pass reading of short whole seconds gives what the double path gives,
        /// times in range or not (near the range's ends among them), and leaves to it
        /// what it does not read.
        #[test]
        fn short_whole_seconds_read_as_the_double_path_reads_them(
            n in prop_oneof![
                0i64..1_000_000_000_000,
                946_684_790i64..946_684_810,
                4_102_444_790i64..4_102_444_810,
                any::<i64>(),
            ],
        ) {
            let t = n.to_string();
            let double = whole_seconds(&t).and_then(|f| crate::timefmt::from_unix_seconds(f, "").ok());
            match super::short_whole_seconds_ms(&t) {
                Some(ms) => prop_assert_eq!(Some(ms), double),
                None => prop_assert!(double.is_none() || t.len() > 12 || n < 0, "{}", t),
            }
        }

        #[test]
        fn any_whole_number_reads_as_serde_json_reads_it(n in any::<i64>()) {
            let t = n.to_string();
            if let Some(f) = whole_seconds(&t) {
                prop_assert_eq!(Some(f), serde_f64(&t));
            } else {
                prop_assert!(t.trim_start_matches('-').len() > 18);
            }
        }
    }
}
