//! The first, straightforward decoder (serde_json `Value` trees, building a
//! [`CanonicalEvent`] and writing it), kept only as the oracle
//! of a differential test: the fast decoder (`vendor/`) must produce the same outcomes.

use super::{
    Outcome, Rejection, AIRSHIP_DEVICE_ATTRIBUTES, AIRSHIP_NAMED_USER_KEYS, AIRSHIP_TYPES,
    BRAZE_TYPES, CLICK_BUTTON_ACTIONS, MAX_ID_BYTES, MAX_INFLATED_BYTES, MAX_LINE_BYTES,
};
use crate::catalogue::{destination_index, unknown_type_index, DESTINATIONS};
use crate::event::{CanonicalEvent, Coordinates, QuarantineEntry, Reason};
use crate::timefmt;
use serde_json::{Map, Value};
use std::io::Read;

fn reject(reason: Reason, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

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

    // Whole-record parse first: one object, a batch, NDJSON, or concatenated/pretty JSON.
    let candidates: Vec<(Value, Option<&[u8]>)> = match std::str::from_utf8(bytes) {
        Ok(text) => match parse_stream(text) {
            Ok(values) => values.into_iter().map(|v| (v, None)).collect(),
            Err(err) => match split_lines(bytes) {
                LineSplit::Single => return whole(Reason::InvalidJson, err),
                LineSplit::Lines(items) => return finish_lines(items, coords),
            },
        },
        Err(e) => match split_lines(bytes) {
            LineSplit::Single => {
                return whole(
                    Reason::NotUtf8,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                )
            }
            LineSplit::Lines(items) => return finish_lines(items, coords),
        },
    };
    let events = expand(candidates);
    finish(events, coords, data)
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

/// Parse whitespace-separated JSON values; an error says where.
fn parse_stream(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for item in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match item {
            Ok(v) => out.push(v),
            Err(e) => return Err(format!("invalid JSON: {e}")),
        }
    }
    Ok(out)
}

/// A candidate event: its JSON value (or why it has none) and its raw bytes when known.
enum Candidate<'a> {
    Value(Value, Option<&'a [u8]>),
    Bad(Reason, String, &'a [u8]),
}

enum LineSplit<'a> {
    /// The record is a single line: quarantine it whole.
    Single,
    Lines(Vec<Candidate<'a>>),
}

/// Line mode: each non-blank line is parsed on its own, so one bad line spoils only itself.
fn split_lines(bytes: &[u8]) -> LineSplit<'_> {
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    if lines.len() <= 1 {
        return LineSplit::Single;
    }
    let items = lines
        .into_iter()
        .map(|line| match std::str::from_utf8(line) {
            Err(e) => Candidate::Bad(
                Reason::NotUtf8,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
                line,
            ),
            Ok(text) => match parse_stream(text) {
                Ok(mut values) if values.len() == 1 => {
                    Candidate::Value(values.remove(0), Some(line))
                }
                Ok(_) => Candidate::Bad(
                    Reason::InvalidJson,
                    "a line holds more than one JSON value".into(),
                    line,
                ),
                Err(e) => Candidate::Bad(Reason::InvalidJson, e, line),
            },
        })
        .collect();
    LineSplit::Lines(items)
}

fn finish_lines(items: Vec<Candidate<'_>>, coords: &Coordinates<'_>) -> Vec<Outcome> {
    let mut expanded = Vec::new();
    for item in items {
        match item {
            Candidate::Value(v, raw) => expand_into(v, raw, &mut expanded),
            bad => expanded.push(bad),
        }
    }
    // A multi-line record always gives positions, even when one event survives.
    finish_with(expanded, coords, &[], true)
}

/// Expand batches (`{"events":[…]}` and top-level arrays) into single candidates.
fn expand(values: Vec<(Value, Option<&[u8]>)>) -> Vec<Candidate<'_>> {
    let mut out = Vec::new();
    for (v, raw) in values {
        expand_into(v, raw, &mut out);
    }
    out
}

fn is_batch(map: &Map<String, Value>) -> bool {
    matches!(map.get("events"), Some(Value::Array(_)))
        && !map.contains_key("event_type")
        && !map.contains_key("type")
        && !map.contains_key("id")
}

fn expand_into<'a>(v: Value, raw: Option<&'a [u8]>, out: &mut Vec<Candidate<'a>>) {
    match v {
        Value::Object(mut map) if is_batch(&map) => {
            if let Some(Value::Array(events)) = map.remove("events") {
                out.extend(events.into_iter().map(|e| Candidate::Value(e, None)));
            }
        }
        Value::Array(items) => out.extend(items.into_iter().map(|e| Candidate::Value(e, None))),
        other => out.push(Candidate::Value(other, raw)),
    }
}

fn finish(items: Vec<Candidate<'_>>, coords: &Coordinates<'_>, data: &[u8]) -> Vec<Outcome> {
    finish_with(items, coords, data, false)
}

fn finish_with(
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
        let quarantine = |reason: Reason, detail: String, raw: Vec<u8>| {
            let detail = match position {
                Some(p) => format!("event {p}: {detail}"),
                None => detail,
            };
            Outcome::Quarantined(QuarantineEntry::new(reason, detail, coords, position, raw))
        };
        let raw_of = |v: &Value, raw: Option<&[u8]>| -> Vec<u8> {
            match (single, raw) {
                (true, _) => data.to_vec(),
                (false, Some(r)) => r.to_vec(),
                (false, None) => serde_json::to_vec(v).unwrap_or_default(),
            }
        };
        match item {
            Candidate::Bad(reason, detail, raw) => {
                out.push(quarantine(reason, detail, raw.to_vec()))
            }
            Candidate::Value(v, raw) => match canonicalize(&v, coords) {
                Ok(event) => {
                    let line = event.to_line();
                    if line.len() > MAX_LINE_BYTES {
                        let detail = format!("canonical event is {} bytes; one Firehose record holds {MAX_LINE_BYTES}", line.len());
                        out.push(quarantine(Reason::TooLarge, detail, raw_of(&v, raw)));
                    } else {
                        out.push(Outcome::Event {
                            destination: event.destination,
                            event_id: event.event_id,
                            line,
                        });
                    }
                }
                Err(r) => out.push(quarantine(r.reason, r.detail, raw_of(&v, raw))),
            },
        }
    }
    out
}

/// Turn one JSON value into a canonical event, or say why not.
pub fn canonicalize(v: &Value, coords: &Coordinates<'_>) -> Result<CanonicalEvent, Rejection> {
    let map = match v {
        Value::Object(m) => m,
        other => {
            return Err(reject(
                Reason::NotAnObject,
                format!("expected a JSON object, found {}", kind_of(other)),
            ))
        }
    };
    if let Some(t) = map.get("event_type") {
        return match t {
            Value::String(s)
                if !s.starts_with("users.")
                    && matches!(map.get("id"), None | Some(Value::Null)) =>
            {
                let keys: Vec<&str> = map.keys().take(8).map(String::as_str).collect();
                Err(reject(
                    Reason::UnrecognisedShape,
                    format!(
                        "not a known vendor's event: event_type {s:?} is not a Braze type (users.…) and there is no id (keys: {})",
                        keys.join(", ")
                    ),
                ))
            }
            Value::String(s) if !s.trim().is_empty() => braze(map, s, coords),
            other => Err(reject(
                Reason::MissingEventType,
                format!("event_type is {}", kind_of(other)),
            )),
        };
    }
    if let Some(Value::String(t)) = map.get("type") {
        if !t.trim().is_empty() {
            return airship(map, t, coords);
        }
    }
    if ["id", "user_id", "time", "user", "properties"]
        .iter()
        .any(|k| map.contains_key(*k))
    {
        return Err(reject(
            Reason::MissingEventType,
            "a Braze-like record without event_type cannot be classified",
        ));
    }
    let keys: Vec<&str> = map.keys().take(8).map(String::as_str).collect();
    Err(reject(
        Reason::UnrecognisedShape,
        format!(
            "neither a Braze nor an Airship event (keys: {})",
            keys.join(", ")
        ),
    ))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn event_id(map: &Map<String, Value>) -> Result<String, Rejection> {
    let id = match map.get("id") {
        None | Some(Value::Null) => return Err(reject(Reason::MissingId, "no id")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(reject(Reason::MissingId, "id is empty"))
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(reject(
                Reason::InvalidId,
                format!("id is {}", kind_of(other)),
            ))
        }
    };
    if id.len() > MAX_ID_BYTES {
        return Err(reject(
            Reason::InvalidId,
            format!("id is {} bytes; at most {MAX_ID_BYTES}", id.len()),
        ));
    }
    Ok(id)
}

/// Text for a text column: strings as they are, numbers and booleans as text, null as
/// absent; objects and arrays are not column values (they stay in attributes).
fn column_text(v: &Value) -> Option<Option<String>> {
    match v {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        Value::Number(n) => Some(Some(n.to_string())),
        Value::Bool(b) => Some(Some(b.to_string())),
        _ => None,
    }
}

struct Builder {
    destination: usize,
    columns: Vec<(&'static str, String)>,
    attributes: Map<String, Value>,
}

impl Builder {
    fn new(destination: usize) -> Self {
        Builder {
            destination,
            columns: Vec::new(),
            attributes: Map::new(),
        }
    }

    /// Set a catalogue column if the destination has it and the value is scalar; otherwise
    /// keep the field in attributes under `attr_key`.
    fn field(&mut self, column: &str, attr_key: &str, v: &Value) {
        let dest = &DESTINATIONS[self.destination];
        if let Some(col) = dest
            .columns()
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.name)
        {
            if !matches!(
                col,
                "event_id"
                    | "event_type"
                    | "vendor"
                    | "vendor_event_type"
                    | "occurred_at"
                    | "received_at"
                    | "attributes"
                    | "source_shard_id"
                    | "source_sequence_number"
            ) {
                if let Some(text) = column_text(v) {
                    if let Some(text) = text {
                        if !self.columns.iter().any(|(n, _)| *n == col) {
                            self.columns.push((col, text));
                            return;
                        }
                    } else {
                        return; // null: the column stays null, nothing is lost
                    }
                }
            }
        }
        self.attributes.insert(attr_key.to_owned(), v.clone());
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        mut self,
        event_id: String,
        event_type: String,
        vendor: &str,
        vendor_event_type: &str,
        occurred_at_ms: i64,
        coords: &Coordinates<'_>,
    ) -> CanonicalEvent {
        // Columns in catalogue order, so lines are stable and readable.
        let order = DESTINATIONS[self.destination].columns();
        self.columns.sort_by_key(|(n, _)| {
            order
                .iter()
                .position(|c| c.name == *n)
                .unwrap_or(usize::MAX)
        });
        CanonicalEvent {
            destination: self.destination,
            event_id,
            event_type,
            vendor: vendor.to_owned(),
            vendor_event_type: vendor_event_type.to_owned(),
            occurred_at_ms,
            received_at_ms: coords.received_at_ms,
            columns: self.columns,
            attributes: self.attributes,
            source_shard_id: coords.shard_id.to_owned(),
            source_sequence_number: coords.sequence_number.to_owned(),
        }
    }
}

fn braze_time(map: &Map<String, Value>) -> Result<i64, Rejection> {
    let bad = |e: timefmt::BadTime| reject(Reason::BadTimestamp, format!("time: {}", e.0));
    match map.get("time") {
        None | Some(Value::Null) => Err(reject(Reason::MissingTimestamp, "no time")),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) => timefmt::from_unix_seconds(f, &n.to_string()).map_err(bad),
            None => Err(reject(
                Reason::BadTimestamp,
                format!("time {n} is not a number of seconds"),
            )),
        },
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(f) => timefmt::from_unix_seconds(f, s).map_err(bad),
            Err(_) => timefmt::parse_iso(s).map_err(bad),
        },
        Some(other) => Err(reject(
            Reason::BadTimestamp,
            format!("time is {}", kind_of(other)),
        )),
    }
}

fn braze(
    map: &Map<String, Value>,
    vendor_type: &str,
    coords: &Coordinates<'_>,
) -> Result<CanonicalEvent, Rejection> {
    let id = event_id(map)?;
    let occurred = braze_time(map)?;

    // Nested (HTTP connector) records carry `user` and `properties` objects; flatten them
    // so that both shapes map the same way. A key that also exists at the top (or was
    // taken already) is kept in attributes under `user.<key>` / `properties.<key>`,
    // prefixed again while that name is taken.
    let mut flat: Vec<(String, &Value)> = Vec::with_capacity(map.len() + 16);
    for (k, v) in map {
        match (k.as_str(), v) {
            ("id" | "event_type" | "time", _) => {}
            ("user" | "properties", Value::Object(_)) => {}
            _ => flat.push((k.clone(), avro_unwrap(v))),
        }
    }
    for outer in ["user", "properties"] {
        if let Some(Value::Object(inner)) = map.get(outer) {
            for (k, v) in inner {
                let taken =
                    |name: &str| map.contains_key(name) || flat.iter().any(|(f, _)| f == name);
                if taken(k) {
                    // Prefixed again while the name is taken: no value lands on another's.
                    let mut name = format!("{outer}.{k}");
                    while taken(&name) {
                        name = format!("{outer}.{name}");
                    }
                    flat.push((name, avro_unwrap(v)));
                } else {
                    flat.push((k.clone(), avro_unwrap(v)));
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
                .and_then(|(_, v)| v.as_str());
            if action.is_some_and(|a| CLICK_BUTTON_ACTIONS.contains(&a)) {
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
    let mut b = Builder::new(destination);
    for (k, v) in &flat {
        if k == "message_extras" {
            // A JSON string: keep it parsed when it parses, as text when it does not.
            let parsed = v
                .as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok());
            b.attributes
                .insert(k.clone(), parsed.unwrap_or_else(|| (*v).clone()));
            continue;
        }
        b.field(k, k, v);
    }
    Ok(b.build(
        id,
        canonical.to_owned(),
        "braze",
        vendor_type,
        occurred,
        coords,
    ))
}

const AIRSHIP_CHANNELS: &[(&str, &str)] = &[
    ("ios_channel", "ios"),
    ("android_channel", "android"),
    ("amazon_channel", "amazon"),
    ("web_channel", "web"),
    ("sms_channel", "sms"),
    ("email_channel", "email"),
    ("open_channel", "open"),
];

fn airship(
    map: &Map<String, Value>,
    vendor_type: &str,
    coords: &Coordinates<'_>,
) -> Result<CanonicalEvent, Rejection> {
    let id = event_id(map)?;
    let occurred = match map.get("occurred") {
        None | Some(Value::Null) => return Err(reject(Reason::MissingTimestamp, "no occurred")),
        Some(Value::String(s)) => timefmt::parse_iso(s)
            .map_err(|e| reject(Reason::BadTimestamp, format!("occurred: {}", e.0)))?,
        Some(other) => {
            return Err(reject(
                Reason::BadTimestamp,
                format!("occurred is {}", kind_of(other)),
            ))
        }
    };
    let mut canonical = AIRSHIP_TYPES
        .iter()
        .find(|(v, _)| *v == vendor_type)
        .map(|(_, c)| *c)
        .unwrap_or("unknown");
    if vendor_type == "OPEN"
        && !map
            .get("body")
            .and_then(Value::as_object)
            .and_then(|b| b.get("triggering_push"))
            .is_some_and(Value::is_object)
    {
        canonical = "app_open";
    }
    let destination = if canonical == "unknown" {
        unknown_type_index()
    } else {
        destination_index(canonical).unwrap_or_else(unknown_type_index)
    };
    let mut b = Builder::new(destination);
    let device_named = map
        .get("device")
        .and_then(Value::as_object)
        .is_some_and(|d| {
            AIRSHIP_NAMED_USER_KEYS
                .iter()
                .any(|k| d.get(*k).is_some_and(Value::is_string))
        });
    for (k, v) in map {
        match k.as_str() {
            "id" | "type" | "occurred" => {}
            "device" => airship_device(&mut b, map, v),
            "body" => airship_body(&mut b, map, v),
            "user" if !device_named && v.is_object() => airship_user(&mut b, map, v),
            _ => b.field(k, k, v),
        }
    }
    if b.columns.iter().all(|(n, _)| *n != "user_id") {
        // No named user anywhere: the channel is the only identity there is.
        if let Some((_, ch)) = b.columns.iter().find(|(n, _)| *n == "device_id").cloned() {
            b.columns.push(("user_id", ch));
        }
    }
    Ok(b.build(
        id,
        canonical.to_owned(),
        "airship",
        vendor_type,
        occurred,
        coords,
    ))
}

fn airship_device(b: &mut Builder, top: &Map<String, Value>, v: &Value) {
    let Value::Object(device) = v else {
        b.attributes.insert("device".into(), v.clone());
        return;
    };
    // Device id: `channel`, else the first `<platform>_channel`; platform: `device_type`
    // lowercased, else that key's platform. A `<platform>_channel` equal to the id is
    // not kept twice.
    let keyed = device
        .iter()
        .find(|(k, x)| x.is_string() && AIRSHIP_CHANNELS.iter().any(|(c, _)| c == k));
    let id_key: Option<String> = match device.get("channel") {
        Some(Value::String(_)) => Some("channel".to_owned()),
        _ => keyed.map(|(k, _)| k.clone()),
    };
    let id_val = id_key.as_ref().and_then(|k| device.get(k)).cloned();
    let platform_from_type = matches!(device.get("device_type"), Some(Value::String(_)));
    let platform: Option<String> = match device.get("device_type") {
        Some(Value::String(t)) => Some(t.to_ascii_lowercase()),
        _ => keyed.and_then(|(k, _)| {
            AIRSHIP_CHANNELS
                .iter()
                .find(|(c, _)| c == k)
                .map(|(_, p)| (*p).to_owned())
        }),
    };
    let mut rest = Map::new();
    if let (Some(k), Some(val)) = (&id_key, &id_val) {
        let name = made(b, top, "device", format!("device.{k}"));
        b.field("device_id", &name, val);
    }
    if let Some(p) = &platform {
        let name = made(b, top, "device", "device.platform".to_owned());
        b.field("platform", &name, &Value::String(p.clone()));
    }
    for (k, val) in device {
        if id_key.as_deref() == Some(k.as_str()) {
            continue;
        }
        if k == "device_type" && platform_from_type {
            continue;
        }
        if val.is_string()
            && AIRSHIP_CHANNELS.iter().any(|(c, _)| c == k)
            && id_val.as_ref() == Some(val)
        {
            continue;
        }
        if AIRSHIP_NAMED_USER_KEYS.contains(&k.as_str()) && val.is_string() {
            // One name for both columns: a value neither takes is kept once.
            let name = made(b, top, "device", format!("device.{k}"));
            b.field("external_user_id", &name, val);
            b.field("user_id", &name, val);
            continue;
        }
        if k == "attributes" {
            if let Value::Object(attrs) = val {
                let mut left = Map::new();
                let mut taken = false;
                for (ak, av) in attrs {
                    let column = AIRSHIP_DEVICE_ATTRIBUTES
                        .iter()
                        .find(|(a, _)| a == ak)
                        .map(|(_, c)| *c);
                    if let (Some(c), Value::String(_)) = (column, av) {
                        if has_column_free(b, c) {
                            b.field(c, ak, av);
                            taken = true;
                            continue;
                        }
                    }
                    left.insert(ak.clone(), av.clone());
                }
                if taken {
                    if !left.is_empty() {
                        rest.insert(k.clone(), Value::Object(left));
                    }
                    continue;
                }
            }
        }
        rest.insert(k.clone(), val.clone());
    }
    if !rest.is_empty() {
        b.attributes.insert("device".into(), Value::Object(rest));
    }
}

fn airship_user(b: &mut Builder, top: &Map<String, Value>, v: &Value) {
    let Value::Object(user) = v else {
        return;
    };
    let mut rest = Map::new();
    for (k, val) in user {
        if k == "named_user_id" && val.is_string() {
            let name = made(b, top, "user", "user.named_user_id".to_owned());
            b.field("external_user_id", &name, val);
            b.field("user_id", &name, val);
            continue;
        }
        rest.insert(k.clone(), val.clone());
    }
    if !rest.is_empty() {
        b.attributes.insert("user".into(), Value::Object(rest));
    }
}

fn airship_body(b: &mut Builder, top: &Map<String, Value>, v: &Value) {
    let Value::Object(body) = v else {
        b.attributes.insert("body".into(), v.clone());
        return;
    };
    let mut rest = Map::new();
    for (k, val) in take_push_ids(b, top, body, "body.") {
        if k == "reason" && val.is_string() {
            let name = made(b, top, "body", "body.reason".to_owned());
            b.field("abort_type", &name, &val);
            continue;
        }
        if let ("triggering_push", Value::Object(tp)) = (k.as_str(), &val) {
            let left = take_push_ids(b, top, tp, "body.triggering_push.");
            if !left.is_empty() {
                rest.insert(k, Value::Object(left));
            }
            continue;
        }
        rest.insert(k, val);
    }
    if !rest.is_empty() {
        b.attributes.insert("body".into(), Value::Object(rest));
    }
}

/// Map an Airship push reference (`push_id`, `group_id`, `variant_id`) to columns; return
/// what is left.
fn take_push_ids(
    b: &mut Builder,
    top: &Map<String, Value>,
    push: &Map<String, Value>,
    prefix: &str,
) -> Map<String, Value> {
    let mut left = Map::new();
    for (k, val) in push {
        let column = match k.as_str() {
            "push_id" => Some("dispatch_id"),
            "group_id" => Some("campaign_id"),
            "variant_id" => Some("message_variation_id"),
            _ => None,
        };
        match column {
            Some(c) if val.is_string() || val.is_number() => {
                let name = made(b, top, "body", format!("{prefix}{k}"));
                b.field(c, &name, val)
            }
            _ => {
                left.insert(k.clone(), val.clone());
            }
        }
    }
    left
}

/// A name made from a nested member (`device.<key>`, …), prefixed with its object's name
/// again while a top-level key or an attribute already written has it.
fn made(b: &Builder, top: &Map<String, Value>, object: &str, mut name: String) -> String {
    while top.contains_key(&name) || b.attributes.contains_key(&name) {
        name = format!("{object}.{name}");
    }
    name
}

/// The value inside an Avro JSON union (`{"string": "x"}` → `"x"`), else the value.
fn avro_unwrap(v: &Value) -> &Value {
    if let Value::Object(o) = v {
        if o.len() == 1 {
            if let Some((k, inner)) = o.iter().next() {
                if super::AVRO_UNION_TYPES.contains(&k.as_str()) {
                    return inner;
                }
            }
        }
    }
    v
}

/// The destination has the column and it is not set yet.
fn has_column_free(b: &Builder, column: &str) -> bool {
    DESTINATIONS[b.destination]
        .columns()
        .iter()
        .any(|c| c.name == column)
        && !b.columns.iter().any(|(n, _)| *n == column)
}
