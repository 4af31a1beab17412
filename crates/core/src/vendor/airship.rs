//! Airship Real-Time Data Streaming (Connect): the type in `type` (`SEND`, `OPEN`, …), the
//! id in `id`, the time in `occurred` (ISO-8601); the device in `device` (`channel` and
//! `device_type` on every device kind, `<platform>_channel` on older app events), the
//! named user on the device or in the top-level `user`, the push in `body`.

use super::write::{object_json, Event, Header, Json, Text};
use super::{
    blank, event_id, first_byte, kind_of, reject, string, Bufs, Format, Known, LineResult,
};
use crate::catalogue::{destination_index, unknown_type_index};
use crate::event::{push_json_str as json_str, Coordinates, Reason};
use crate::json::{Obj, Val};
use crate::timefmt;
use std::borrow::Cow;

/// Airship in the registry of vendors.
pub(super) const FORMAT: Format = Format {
    name: "airship",
    types: TYPES,
    claims,
    decode,
};

pub(crate) const TYPES: &[(&str, &str)] = &[
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

/// Where Airship puts a device's named user: `named_user_id` on app and web devices,
/// `named_user` on email devices.
pub(crate) const NAMED_USER_KEYS: &[&str] = &["named_user_id", "named_user"];

/// `device.attributes` members that fill a column when the destination has it and it is
/// still empty: (attribute, column).
pub(crate) const DEVICE_ATTRIBUTES: &[(&str, &str)] = &[
    ("iana_timezone", "timezone"),
    ("device_model", "device_model"),
    ("device_os", "os_version"),
];

const CHANNELS: &[(&str, &str)] = &[
    ("ios_channel", "ios"),
    ("android_channel", "android"),
    ("amazon_channel", "amazon"),
    ("web_channel", "web"),
    ("sms_channel", "sms"),
    ("email_channel", "email"),
    ("open_channel", "open"),
];

/// The event's `type`, when it is a non-empty string.
fn kind<'a>(k: &Known<'a>) -> Option<(Val<'a>, Cow<'a, str>)> {
    let t = k.kind?;
    string(t).filter(|s| !blank(s)).map(|s| (t, s))
}

/// Airship's records are the ones with a non-empty string `type`.
fn claims(k: &Known<'_>) -> bool {
    kind(k).is_some()
}

fn decode<'a>(
    m: &Obj<'a>,
    k: &Known<'a>,
    coords: &Coordinates<'_>,
    bufs: &mut Bufs<'a, '_>,
) -> LineResult<'a> {
    let Some((type_raw, vendor_type)) = kind(k) else {
        return Err(reject(Reason::MissingEventType, "no type"));
    };
    let vendor_type: &str = &vendor_type;
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
    let mut canonical = TYPES
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
    let mut e = Event::new(
        destination,
        &mut bufs.values,
        &mut bufs.attributes,
        bufs.texts,
    );
    // The named user is on the device, or (newer events) in the top-level `user` object
    // with the contact id; the device's wins when both are there.
    let device_named = m.get("device").and_then(|d| d.object()).is_some_and(|d| {
        NAMED_USER_KEYS
            .iter()
            .any(|k| d.get(k).is_some_and(|n| first_byte(n) == b'"'))
    });
    for (k, v) in m.iter() {
        match k.as_ref() {
            "id" | "type" | "occurred" => {}
            "device" => device(&mut e, m, v),
            "body" => body(&mut e, m, v),
            "user" if !device_named && v.object().is_some() => user(&mut e, m, v),
            _ => {
                let column = k.clone();
                e.field(&column, k.clone(), v);
            }
        }
    }
    // No named user anywhere: the channel is the only identity there is.
    if let (Some(uid), Some(did)) = (e.column_id("user_id"), e.column_id("device_id")) {
        if !e.has_value(uid) {
            if let Some(ch) = e.value(did).copied() {
                e.put(uid, ch);
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

fn device<'a>(e: &mut Event<'a, '_>, top: &Obj<'a>, v: Val<'a>) {
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
        .find(|(k, x)| is_str(*x) && CHANNELS.iter().any(|(c, _)| *c == k.as_ref()));
    let id_key: Option<Cow<'a, str>> = match device.get("channel").filter(|x| is_str(*x)) {
        Some(_) => Some(Cow::Borrowed("channel")),
        None => keyed.map(|(k, _)| k.clone()),
    };
    let id_val = id_key.as_ref().and_then(|k| device.get(k));
    let platform: Option<String> = match device.get("device_type").filter(|x| is_str(*x)) {
        Some(t) => string(t).map(|t| t.to_ascii_lowercase()),
        None => keyed.and_then(|(k, _)| {
            CHANNELS
                .iter()
                .find(|(c, _)| *c == k.as_ref())
                .map(|(_, p)| (*p).to_owned())
        }),
    };
    let platform_from_type = device.get("device_type").is_some_and(is_str);
    let mut rest: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
    if let (Some(k), Some(val)) = (&id_key, id_val) {
        field(e, top, "device_id", val, "device", || {
            format!("device.{k}").into()
        });
    }
    if let Some(p) = &platform {
        let text = e.built(p);
        if !e.set("platform", text) {
            let mut text = Vec::with_capacity(p.len() + 2);
            json_str(&mut text, p);
            let name = made(e, top, "device", Cow::Borrowed("device.platform"));
            e.attributes.push((name, Json::Built(text)));
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
            && CHANNELS.iter().any(|(c, _)| *c == k.as_ref())
            && id_val.is_some_and(|id| string(id) == string(val))
        {
            continue;
        }
        if NAMED_USER_KEYS.contains(&k.as_ref()) && first_byte(val) == b'"' {
            named_user(e, top, "device", Cow::Owned(format!("device.{k}")), val);
            continue;
        }
        if k == "attributes" {
            // Airship's device attributes carry the customer's IANA timezone, the model
            // and the OS version: each into its column when the table has it.
            if let Some(attrs) = val.object() {
                let mut left: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
                let mut taken = false;
                for (ak, av) in attrs.iter() {
                    let column = DEVICE_ATTRIBUTES
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
fn user<'a>(e: &mut Event<'a, '_>, top: &Obj<'a>, v: Val<'a>) {
    let Some(user) = v.object() else {
        return;
    };
    let mut rest: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
    for (k, val) in user.iter() {
        if k == "named_user_id" && first_byte(val) == b'"' {
            named_user(e, top, "user", Cow::Borrowed("user.named_user_id"), val);
            continue;
        }
        rest.push((k.clone(), Json::Raw(val.get())));
    }
    if !rest.is_empty() {
        e.attributes
            .push((Cow::Borrowed("user"), object_json(&rest)));
    }
}

fn body<'a>(e: &mut Event<'a, '_>, top: &Obj<'a>, v: Val<'a>) {
    let Some(body) = v.object() else {
        e.attributes
            .push((Cow::Borrowed("body"), Json::Raw(v.get())));
        return;
    };
    let mut rest: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
    for (k, val) in take_push_ids(e, top, &body, "body.") {
        // SEND_ABORTED says why: the abort table's abort_type.
        if k == "reason" && first_byte(val) == b'"' {
            field(e, top, "abort_type", val, "body", || "body.reason".into());
            continue;
        }
        if k == "triggering_push" {
            if let Some(tp) = val.object() {
                let left = take_push_ids(e, top, &tp, "body.triggering_push.");
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
    top: &Obj<'a>,
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
                field(e, top, c, val, "body", || format!("{prefix}{k}").into())
            }
            _ => left.push((k.clone(), val)),
        }
    }
    left
}

/// The name of an attribute the decoder makes from a nested member (`device.<key>`,
/// `body.<key>`, `user.named_user_id`): as it is, unless a top-level key or an attribute
/// already written has that name — then prefixed with its object's name again
/// (`device.device.<key>`) while it is taken, Braze's rule for renamed keys. A top-level
/// key keeps its name; both values are kept (docs/catalogue.md).
fn made<'a>(e: &Event<'a, '_>, top: &Obj<'a>, object: &str, name: Cow<'a, str>) -> Cow<'a, str> {
    let taken = |n: &str| top.has(n) || e.attributes.iter().any(|(a, _)| a == n);
    if !taken(&name) {
        return name;
    }
    let mut name = format!("{object}.{name}");
    while taken(&name) {
        name = format!("{object}.{name}");
    }
    Cow::Owned(name)
}

/// A mapped field: into `column` when the destination has it free (or `v` is null),
/// else into attributes under [`made`]'s name for `name` (built only then).
fn field<'a>(
    e: &mut Event<'a, '_>,
    top: &Obj<'a>,
    column: &str,
    v: Val<'a>,
    object: &str,
    name: impl FnOnce() -> Cow<'a, str>,
) {
    if !e.column(column, v) {
        attribute(e, top, object, name(), v);
    }
}

/// A made attribute: `v` under [`made`]'s name.
fn attribute<'a>(
    e: &mut Event<'a, '_>,
    top: &Obj<'a>,
    object: &str,
    name: Cow<'a, str>,
    v: Val<'a>,
) {
    let name = made(e, top, object, name);
    e.attributes.push((name, Json::Raw(v.get())));
}

/// A named user (a string): the customer in `external_user_id` and `user_id`; kept once in
/// attributes under `name` when either column cannot take it (both would write the same
/// value under the same name).
fn named_user<'a>(
    e: &mut Event<'a, '_>,
    top: &Obj<'a>,
    object: &str,
    name: Cow<'a, str>,
    v: Val<'a>,
) {
    let external = e.column("external_user_id", v);
    let user = e.column("user_id", v);
    if !(external && user) {
        attribute(e, top, object, name, v);
    }
}
