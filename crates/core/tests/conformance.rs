//! Conformance with the vendors' own definitions: one case per documented event type,
//! written in the vendor's exact shape (tests/fixtures/conformance/<vendor>.json), with its
//! expected row column by column — every column of the table is checked, so a value landing
//! in the wrong column, or a column left empty, fails by name.

use pushfeed_core::event::{CanonicalEvent, Coordinates};
use pushfeed_core::vendor::{decode_record, Outcome};
use pushfeed_core::DESTINATIONS;
use serde_json::{json, Value};

const COORDS: Coordinates<'static> = Coordinates {
    shard_id: "shardId-000000000003",
    sequence_number: "49650000000000000000000000000000000000000000000000000042",
    received_at_ms: 1_767_229_200_000,
};
const RECEIVED_AT: &str = "2026-01-01T01:00:00.000Z";

fn cases(vendor: &str) -> Vec<Value> {
    let path = format!(
        "{}/../../tests/fixtures/conformance/{vendor}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(doc["vendor"], vendor);
    doc["cases"].as_array().expect("cases").clone()
}

/// Decode one vendor record; its one canonical row (table, parsed line).
fn row_of(input: &Value) -> (String, Value) {
    let bytes = serde_json::to_vec(input).unwrap();
    let mut outcomes = decode_record(&bytes, &COORDS);
    assert_eq!(outcomes.len(), 1, "one record, one outcome: {outcomes:?}");
    match outcomes.remove(0) {
        Outcome::Event {
            destination, line, ..
        } => {
            // Every row the fast path writes is a canonical event, key order included.
            if let Err(e) = CanonicalEvent::from_line(destination, &line) {
                panic!(
                    "not a canonical line: {e}: {}",
                    String::from_utf8_lossy(&line)
                );
            }
            (
                DESTINATIONS[destination].table(),
                serde_json::from_slice(&line).expect("the line is JSON"),
            )
        }
        Outcome::Quarantined(q) => panic!("quarantined: {:?}: {}", q.reason, q.detail),
    }
}

/// The row must hold exactly the expected values: every column of its table, null where the
/// case names none, and the attributes object exactly.
fn check(case: &Value) {
    let name = case["name"].as_str().unwrap_or("?");
    let (table, line) = row_of(&case["input"]);
    assert_eq!(table, case["table"], "{name}: table");
    let dest = DESTINATIONS.iter().find(|d| d.table() == table).unwrap();
    let columns = dest.columns();
    let expected = case["row"].as_object().expect("row");
    for key in expected.keys() {
        assert!(
            columns.iter().any(|c| c.name == key),
            "{name}: the case names {key}, which {table} does not have"
        );
    }
    for column in &columns {
        let got = &line[column.name];
        let want = match column.name {
            "received_at" => json!(RECEIVED_AT),
            "source_shard_id" => json!(COORDS.shard_id),
            "source_sequence_number" => json!(COORDS.sequence_number),
            "attributes" => case["attributes"].clone(),
            other => expected.get(other).cloned().unwrap_or(Value::Null),
        };
        assert_eq!(got, &want, "{name}: column {}", column.name);
    }
    // Nothing outside the table's columns.
    for key in line.as_object().unwrap().keys() {
        assert!(
            columns.iter().any(|c| c.name == key),
            "{name}: the line has {key}, which {table} does not have"
        );
    }
}

#[test]
fn airship_every_documented_type_lands_column_by_column() {
    let cases = cases("airship");
    assert!(cases.len() >= 15);
    for case in &cases {
        check(case);
    }
}

#[test]
fn braze_every_documented_type_lands_column_by_column() {
    let cases = cases("braze");
    assert!(cases.len() >= 16);
    for case in &cases {
        check(case);
    }
}

fn airship_event(kind: &str, body: Value) -> Value {
    json!({
        "id": format!("00000169-4a14-67b2-1ddd-{:012}", body.to_string().len()),
        "occurred": "2026-01-01T09:40:00.106Z", "offset": "1000001260057", "processed": "2026-01-01T09:40:02.094Z",
        "type": kind,
        "device": {"ios_channel": "6f0d1c2e-0000-4000-8000-000000000109", "channel": "6f0d1c2e-0000-4000-8000-000000000109", "device_type": "IOS"},
        "body": body,
    })
}

/// Every `status` Airship's SEND_REJECTED schema enumerates is a bounce, the status kept.
#[test]
fn airship_send_rejected_every_status_is_a_bounce() {
    for status in [
        "BadDeviceToken",
        "Unauthorized",
        "InvalidPackageName",
        "InvalidParameters",
        "Unavailable",
        "MessageTooBig",
        "InvalidTtl",
        "InvalidDataKey",
        "MissingRegistration",
        "Uninstalled",
    ] {
        let body = json!({"push_id": "9a1b2c3d-0000-4000-8000-000000000a09", "status": status});
        let (table, line) = row_of(&airship_event("SEND_REJECTED", body));
        assert_eq!(table, "push_bounce", "{status}");
        assert_eq!(line["attributes"]["body"]["status"], status);
        assert_eq!(line["dispatch_id"], "9a1b2c3d-0000-4000-8000-000000000a09");
    }
}

/// Every `reason` Airship's SEND_ABORTED schema enumerates is an abort, the reason its type.
#[test]
fn airship_send_aborted_every_reason_is_the_abort_type() {
    for reason in [
        "FEED_BANNED_RESPONSE",
        "FEED_REQUEST_REJECTED",
        "FEED_RESOLVE_FAILURE",
        "FREQUENCY_LIMIT_FAILURE",
        "FREQUENCY_LIMIT_REACHED",
        "UNKNOWN",
    ] {
        let body = json!({"push_id": "9a1b2c3d-0000-4000-8000-000000000a10", "reason": reason});
        let (table, line) = row_of(&airship_event("SEND_ABORTED", body));
        assert_eq!(table, "push_abort", "{reason}");
        assert_eq!(line["abort_type"], reason);
        assert!(line["attributes"].get("body").is_none(), "{line}");
    }
}

/// Every `device_type` Airship documents, as the platform column.
#[test]
fn airship_every_device_type_is_a_platform() {
    for (device_type, platform) in [
        ("IOS", "ios"),
        ("ANDROID", "android"),
        ("AMAZON", "amazon"),
        ("WEB", "web"),
        ("SMS", "sms"),
        ("EMAIL", "email"),
        ("OPEN", "open"),
    ] {
        let mut e = airship_event("SEND", json!({"push_id": "p-1"}));
        e["device"] = json!({"channel": "c-1", "device_type": device_type});
        let (_, line) = row_of(&e);
        assert_eq!(line["platform"], platform, "{device_type}");
        assert_eq!(line["device_id"], "c-1");
    }
}

/// Braze's button actions: links are clicks, the rest (and no button) opens.
#[test]
fn braze_every_button_action_type_routes_one_way() {
    for (action, table) in [
        (Some("uri"), "push_click"),
        (Some("deep_link"), "push_click"),
        (Some("none"), "push_open"),
        (Some("close"), "push_open"),
        (None, "push_open"),
    ] {
        let mut props = json!({"dispatch_id": "d-1", "platform": "ios"});
        if let Some(a) = action {
            props["button_action_type"] = json!(a);
        }
        let e = json!({"event_type": "users.messages.pushnotification.Open", "id": format!("open-{action:?}"),
            "time": 1767258000, "user": {"user_id": "u-1"}, "properties": props});
        let (t, line) = row_of(&e);
        assert_eq!(t, table, "{action:?}");
        assert_eq!(line["button_action_type"], json!(action));
    }
}
