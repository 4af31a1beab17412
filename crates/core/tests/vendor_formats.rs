//! Every vendor shape and every quarantine reason, from the shared fixtures.

use pushfeed_core::event::{Coordinates, Reason};
use pushfeed_core::vendor::{decode_record, Outcome, MAX_LINE_BYTES};
use pushfeed_core::DESTINATIONS;
use serde_json::{json, Value};
use std::io::Write;

const COORDS: Coordinates<'static> = Coordinates {
    shard_id: "shardId-000000000000",
    sequence_number: "49650000000000000000000000000000000000000000000000000001",
    received_at_ms: 1_767_229_200_000,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

type Events = Vec<(&'static str, Value)>;
type Quarantined = Vec<(Reason, Option<usize>, String, Vec<u8>)>;

/// (destination, parsed line) for events; (reason, position, detail) for quarantine.
fn split(outcomes: Vec<Outcome>) -> (Events, Quarantined) {
    let mut events = Vec::new();
    let mut quarantined = Vec::new();
    for o in outcomes {
        match o {
            Outcome::Event {
                destination,
                line,
                event_id,
            } => {
                assert!(line.ends_with(b"\n") && line.len() <= MAX_LINE_BYTES);
                let v: Value = serde_json::from_slice(&line).unwrap();
                assert_eq!(v["event_id"], event_id);
                events.push((DESTINATIONS[destination].name, v));
            }
            Outcome::Quarantined(q) => {
                assert_eq!(q.source_shard_id, COORDS.shard_id);
                assert_eq!(q.source_sequence_number, COORDS.sequence_number);
                quarantined.push((q.reason, q.position, q.detail, q.raw));
            }
        }
    }
    (events, quarantined)
}

#[test]
fn braze_nested_maps_every_field_and_keeps_the_rest() {
    let (events, q) = split(decode_record(&fixture("braze_nested_send.json"), &COORDS));
    assert!(q.is_empty());
    let (dest, e) = &events[0];
    assert_eq!(*dest, "send");
    assert_eq!(e["event_id"], "3f2b9c1e-8d4a-4b6f-9e21-7c5d0a1b2c3d");
    assert_eq!(e["event_type"], "send");
    assert_eq!(e["vendor"], "braze");
    assert_eq!(
        e["vendor_event_type"],
        "users.messages.pushnotification.Send"
    );
    assert_eq!(e["occurred_at"], "2026-01-01T00:00:00.000Z");
    assert_eq!(e["received_at"], "2026-01-01T01:00:00.000Z");
    assert_eq!(e["user_id"], "65a1c0ffee0000000000b001");
    assert_eq!(e["external_user_id"], "cust-88213");
    assert_eq!(e["timezone"], "Europe/London");
    assert_eq!(e["platform"], "android");
    assert_eq!(e["campaign_name"], "Winter Sale D1");
    assert_eq!(e["dispatch_id"], "65a1f3d2e1c0b0a090807060");
    assert_eq!(e["source_shard_id"], COORDS.shard_id);
    // Unmapped fields survive in attributes; message_extras is parsed when it is JSON.
    assert_eq!(e["attributes"]["push_token"], "fcm:dGVzdC10b2tlbg");
    assert_eq!(e["attributes"]["ad_tracking_enabled"], false);
    assert_eq!(
        e["attributes"]["message_extras"],
        json!({"offer": "WINTER20", "segment": "lapsed"})
    );
}

#[test]
fn braze_batch_routes_each_event_and_quarantines_only_the_bad_ones() {
    let (events, q) = split(decode_record(&fixture("braze_batch.json"), &COORDS));
    let routed: Vec<(&str, &str)> = events
        .iter()
        .map(|(d, e)| (*d, e["event_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        routed,
        vec![
            ("send", "b-send-1"),
            ("open", "b-open-1"),
            ("click", "b-click-1"),
            ("open", "b-open-close-1"),
            ("bounce", "b-bounce-1"),
            ("abort", "b-abort-1"),
            ("unknown_type", "b-email-1"),
        ]
    );
    let send = &events[0].1;
    assert_eq!(
        send["attributes"]["message_extras"], "not json {",
        "invalid JSON extras kept as text"
    );
    let click = &events[2].1;
    assert_eq!(
        (
            click["event_type"].as_str(),
            click["button_action_type"].as_str()
        ),
        (Some("click"), Some("deep_link"))
    );
    assert_eq!(
        click["vendor_event_type"],
        "users.messages.pushnotification.Open"
    );
    let close = &events[3].1;
    assert_eq!(close["event_type"], "open", "a close button is not a click");
    let abort = &events[5].1;
    assert_eq!(abort["abort_type"], "frequency_capped");
    let unknown = &events[6].1;
    assert_eq!(unknown["event_type"], "unknown");
    assert_eq!(unknown["attributes"]["email_address"], "x@example.com");

    let reasons: Vec<(Reason, Option<usize>)> = q.iter().map(|(r, p, _, _)| (*r, *p)).collect();
    assert_eq!(
        reasons,
        vec![
            (Reason::MissingId, Some(7)),
            (Reason::BadTimestamp, Some(8))
        ]
    );
    assert!(
        q[1].2.contains("event 8") && q[1].2.contains("next tuesday"),
        "{}",
        q[1].2
    );
    let raw: Value = serde_json::from_slice(&q[0].3).unwrap();
    assert_eq!(
        raw["user"]["user_id"], "u-5",
        "the quarantined event's own JSON is kept"
    );
}

#[test]
fn braze_flat_with_a_link_button_is_a_click_and_unknown_fields_are_kept() {
    let (events, q) = split(decode_record(&fixture("braze_flat_open.json"), &COORDS));
    assert!(q.is_empty());
    let (dest, e) = &events[0];
    assert_eq!(*dest, "click");
    assert_eq!(e["os_version"], "14");
    assert_eq!(e["device_model"], "Pixel 8");
    assert_eq!(e["canvas_step_name"], "Day 1 push");
    assert_eq!(
        e["attributes"]["brand_new_field"],
        json!({"nested": [1, 2, 3]})
    );
    assert_eq!(e["occurred_at"], "2026-01-01T00:06:52.000Z");
}

#[test]
fn braze_flat_without_event_type_is_quarantined_whole_with_its_bytes() {
    let raw = fixture("braze_flat_no_event_type.json");
    let (events, q) = split(decode_record(&raw, &COORDS));
    assert!(events.is_empty());
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].0, q[0].1), (Reason::MissingEventType, None));
    assert_eq!(q[0].3, raw);
}

#[test]
fn airship_ndjson_maps_types_and_isolates_the_bad_lines() {
    let (events, q) = split(decode_record(&fixture("airship_rtds.ndjson"), &COORDS));
    let routed: Vec<&str> = events.iter().map(|(d, _)| *d).collect();
    assert_eq!(routed, vec!["send", "open", "unknown_type", "uninstall"]);
    let send = &events[0].1;
    assert_eq!(send["vendor"], "airship");
    assert_eq!(send["vendor_event_type"], "SEND");
    assert_eq!(send["occurred_at"], "2026-01-01T09:00:00.000Z");
    assert_eq!(send["platform"], "android");
    assert_eq!(send["device_id"], "a1b2c3d4-0000-4000-8000-0000000000a1");
    assert_eq!(send["user_id"], "cust-42");
    assert_eq!(send["external_user_id"], "cust-42");
    assert_eq!(send["dispatch_id"], "p-100");
    assert_eq!(send["campaign_id"], "g-7");
    assert_eq!(send["message_variation_id"], "v-1");
    assert_eq!(send["attributes"]["processed"], "2026-01-01T09:00:01.120Z");
    assert_eq!(
        send["attributes"]["device"]["attributes"]["locale_country"],
        "GB"
    );
    let open = &events[1].1;
    assert_eq!(
        open["dispatch_id"], "p-100",
        "OPEN joins its SEND through triggering_push"
    );
    assert_eq!(open["platform"], "ios");
    assert_eq!(
        open["user_id"], "c0ffee00-0000-4000-8000-0000000000b2",
        "no named user: the channel"
    );
    assert_eq!(open["attributes"]["body"]["session_id"], "s-1");
    assert_eq!(events[2].1["vendor_event_type"], "TAG_CHANGE");
    assert_eq!(events[3].1["occurred_at"], "2026-01-01T09:07:00.000Z");

    let reasons: Vec<(Reason, Option<usize>)> = q.iter().map(|(r, p, _, _)| (*r, *p)).collect();
    assert_eq!(
        reasons,
        vec![
            (Reason::InvalidJson, Some(4)),
            (Reason::BadTimestamp, Some(5))
        ]
    );
    assert!(String::from_utf8_lossy(&q[0].3).starts_with("{\"id\":\"broken-line\""));
}

#[test]
fn mixed_vendors_in_one_record_one_per_line() {
    let mut record = fixture("braze_flat_open.json");
    record.extend_from_slice(b"\r\n");
    record.extend(
        fixture("airship_rtds.ndjson")
            .split(|b| *b == b'\n')
            .next()
            .unwrap(),
    );
    record.extend_from_slice(b"\n\n");
    let (events, q) = split(decode_record(&record, &COORDS));
    assert!(q.is_empty());
    assert_eq!(
        events
            .iter()
            .map(|(d, e)| (*d, e["vendor"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        vec![("click", "braze"), ("send", "airship")]
    );
}

#[test]
fn pretty_printed_and_concatenated_json_and_top_level_arrays_are_read() {
    let pretty = serde_json::to_vec_pretty(
        &serde_json::from_slice::<Value>(&fixture("braze_flat_open.json")).unwrap(),
    )
    .unwrap();
    let (events, q) = split(decode_record(&pretty, &COORDS));
    assert_eq!((events.len(), q.len()), (1, 0));
    let both = [pretty.clone(), pretty.clone()].concat();
    assert_eq!(split(decode_record(&both, &COORDS)).0.len(), 2);
    let array = format!(
        "[{},{}]",
        String::from_utf8(fixture("braze_flat_open.json")).unwrap(),
        String::from_utf8(fixture("braze_nested_send.json")).unwrap()
    );
    let (events, _) = split(decode_record(array.as_bytes(), &COORDS));
    assert_eq!(
        events.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec!["click", "send"]
    );
}

#[test]
fn gzip_records_are_inflated_and_bad_gzip_is_quarantined() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&fixture("braze_batch.json")).unwrap();
    let gz = gz.finish().unwrap();
    let (events, q) = split(decode_record(&gz, &COORDS));
    assert_eq!((events.len(), q.len()), (7, 2));
    let broken = &gz[..gz.len() / 2];
    let (events, q) = split(decode_record(broken, &COORDS));
    assert!(events.is_empty());
    assert_eq!(q[0].0, Reason::BadCompression);
    assert_eq!(q[0].3, broken);
}

#[test]
fn every_quarantine_reason_is_reachable_and_named() {
    let big_id = "x".repeat(300);
    let huge = format!(
        r#"{{"event_type":"users.messages.pushnotification.Send","id":"big","time":1767225600,"blob":"{}"}}"#,
        "a".repeat(MAX_LINE_BYTES)
    );
    let cases: Vec<(Vec<u8>, Reason)> = vec![
        (b"   \n\t".to_vec(), Reason::Empty),
        (b"{\"events\":[]}".to_vec(), Reason::Empty),
        (fixture("not_utf8.bin"), Reason::NotUtf8),
        (b"{\"id\": ".to_vec(), Reason::InvalidJson),
        (vec![0x1f, 0x8b, 0x08, 0, 0], Reason::BadCompression),
        (b"42".to_vec(), Reason::NotAnObject),
        (b"{\"hello\":\"world\"}".to_vec(), Reason::UnrecognisedShape),
        (fixture("braze_flat_no_event_type.json"), Reason::MissingEventType),
        (br#"{"event_type":null,"id":"x","time":1}"#.to_vec(), Reason::MissingEventType),
        (br#"{"event_type":"users.messages.pushnotification.Send","time":1767225600}"#.to_vec(), Reason::MissingId),
        (format!(r#"{{"event_type":"users.messages.pushnotification.Send","id":"{big_id}","time":1767225600}}"#).into_bytes(), Reason::InvalidId),
        (br#"{"event_type":"users.messages.pushnotification.Send","id":{"a":1},"time":1767225600}"#.to_vec(), Reason::InvalidId),
        (br#"{"event_type":"users.messages.pushnotification.Send","id":"x"}"#.to_vec(), Reason::MissingTimestamp),
        (br#"{"event_type":"users.messages.pushnotification.Send","id":"x","time":1767225600000}"#.to_vec(), Reason::BadTimestamp),
        (br#"{"type":"SEND","id":"x","occurred":12}"#.to_vec(), Reason::BadTimestamp),
        (huge.into_bytes(), Reason::TooLarge),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (input, reason) in cases {
        let (events, q) = split(decode_record(&input, &COORDS));
        assert!(events.is_empty(), "{reason:?}");
        assert_eq!(q.len(), 1, "{reason:?}");
        assert_eq!(
            q[0].0,
            reason,
            "input {:?}",
            String::from_utf8_lossy(&input[..input.len().min(80)])
        );
        assert!(!q[0].2.is_empty(), "a reason always comes with detail");
        assert_eq!(
            q[0].3, input,
            "whole-record quarantine keeps the exact bytes"
        );
        seen.insert(reason);
    }
    assert_eq!(seen.len(), Reason::ALL.len(), "every reason has a case");
}

#[test]
fn numeric_ids_and_string_times_are_accepted_explicitly() {
    let rec = br#"{"event_type":"users.messages.pushnotification.Bounce","id":12345,"time":"1767225600","user_id":"u"}"#;
    let (events, q) = split(decode_record(rec, &COORDS));
    assert!(q.is_empty());
    assert_eq!(events[0].1["event_id"], "12345");
    assert_eq!(events[0].1["occurred_at"], "2026-01-01T00:00:00.000Z");
}

/// Airship Real-Time Data Streaming events in the shapes of Airship's published Connect
/// schemas (urbanairship/api-specs, connect/json-schema: send, web_click, send_rejected,
/// send_aborted): every device kind carries `channel` + `device_type`; `variant_id` is an
/// integer.
#[test]
fn airship_connect_shapes_map_to_their_tables_and_columns() {
    let (events, q) = split(decode_record(&fixture("airship_connect.ndjson"), &COORDS));
    assert!(q.is_empty(), "{q:?}");
    let by_id = |suffix: &str| {
        events
            .iter()
            .find(|(_, e)| e["event_id"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("no event …{suffix}"))
    };
    // An iOS send: the platform-agnostic channel is the device; device_type the platform;
    // the same id under ios_channel is not kept twice; the integer variant is its text.
    let (dest, send) = by_id("0001");
    assert_eq!(*dest, "send");
    assert_eq!(send["device_id"], "1f2e3d4c-0000-4000-8000-0000000000c1");
    assert_eq!(send["platform"], "ios");
    assert_eq!(send["user_id"], "cust-7");
    assert_eq!(send["external_user_id"], "cust-7");
    assert_eq!(send["timezone"], "Europe/London");
    assert_eq!(send["dispatch_id"], "5d0c2b1a-0000-4000-8000-0000000000a1");
    assert_eq!(send["campaign_id"], "6e1d3c2b-0000-4000-8000-0000000000a2");
    assert_eq!(send["message_variation_id"], "2");
    let attrs = send["attributes"].to_string();
    assert!(!attrs.contains("ios_channel"), "{attrs}");
    assert!(
        attrs.contains("black-friday") && attrs.contains("iPhone15,2"),
        "{attrs}"
    );
    // A web notification clicked: the web's push open.
    let (dest, web) = by_id("0002");
    assert_eq!(*dest, "open");
    assert_eq!(web["vendor_event_type"], "WEB_CLICK");
    assert_eq!(
        (
            web["platform"].as_str(),
            web["device_id"].as_str(),
            web["user_id"].as_str()
        ),
        (
            Some("web"),
            Some("7a8b9c0d-0000-4000-8000-0000000000c2"),
            Some("cust-8")
        )
    );
    assert_eq!(web["message_variation_id"], "1");
    assert_eq!(web["timezone"], "Europe/Paris");
    // Rejected by FCM: a bounce, the status kept.
    let (dest, rejected) = by_id("0003");
    assert_eq!(*dest, "bounce");
    assert_eq!(rejected["platform"], "android");
    assert_eq!(
        rejected["user_id"], "2b3c4d5e-0000-4000-8000-0000000000c3",
        "no named user: the channel"
    );
    assert!(rejected["attributes"]
        .to_string()
        .contains("BadDeviceToken"));
    // Dropped before delivery: an abort.
    let (dest, aborted) = by_id("0004");
    assert_eq!(*dest, "abort");
    assert_eq!(aborted["platform"], "amazon");
    assert_eq!(aborted["abort_type"], "FREQUENCY_LIMIT_REACHED");
    // An SMS channel has no <platform>_channel key at all.
    let (_, sms) = by_id("0005");
    assert_eq!(
        (sms["platform"].as_str(), sms["device_id"].as_str()),
        (Some("sms"), Some("4d5e6f70-0000-4000-8000-0000000000c5"))
    );
}

/// OPEN is every app open: only one with a triggering push is a push open; the named user
/// may come in the top-level `user` object (with the contact id).
#[test]
fn an_airship_open_without_a_triggering_push_is_an_app_open() {
    let (events, _) = split(decode_record(&fixture("airship_connect.ndjson"), &COORDS));
    let find = |suffix: &str| {
        events
            .iter()
            .find(|(_, e)| e["event_id"].as_str().unwrap().ends_with(suffix))
            .unwrap()
    };
    let (dest, app) = find("0006");
    assert_eq!(*dest, "app_open");
    assert_eq!(app["event_type"], "app_open");
    assert_eq!(app["vendor_event_type"], "OPEN");
    assert_eq!(
        app["user_id"], "cust-7",
        "the named user from the user object, not the channel"
    );
    assert_eq!(app["external_user_id"], "cust-7");
    assert!(
        app["attributes"]
            .to_string()
            .contains("c7c7c7c7-0000-4000-8000-0000000000e1"),
        "contact id kept"
    );
    let (dest, push) = find("0007");
    assert_eq!(*dest, "open");
    assert_eq!(push["dispatch_id"], "5d0c2b1a-0000-4000-8000-0000000000a9");
    assert_eq!(push["message_variation_id"], "4");
    assert_eq!(
        (push["user_id"].as_str(), push["platform"].as_str()),
        (Some("cust-10"), Some("android"))
    );
}

/// Another vendor's record with an `event_type` (a Segment- or OneSignal-like shape) is not
/// taken for a Braze event without an id: the reason says so and names its keys.
#[test]
fn another_vendors_event_type_record_is_unrecognised_with_its_keys() {
    let rec = br#"{"event_type":"notification.clicked","notification_id":"n-1","timestamp":1767225600,"player_id":"p-9"}"#;
    let (events, q) = split(decode_record(rec, &COORDS));
    assert!(events.is_empty());
    assert_eq!(q[0].0, Reason::UnrecognisedShape);
    assert!(
        q[0].2.contains("not a known vendor's event") && q[0].2.contains("notification_id"),
        "{}",
        q[0].2
    );
    // A Braze type without its id is still a Braze record missing its id.
    let braze = br#"{"event_type":"users.messages.pushnotification.Send","time":1767225600}"#;
    let (_, q) = split(decode_record(braze, &COORDS));
    assert_eq!(q[0].0, Reason::MissingId);
    // An unknown Braze-shaped type with an id is an unknown type, not quarantined.
    let other =
        br#"{"event_type":"users.behaviors.app.SessionStart","id":"s-1","time":1767225600}"#;
    let (events, q) = split(decode_record(other, &COORDS));
    assert!(q.is_empty());
    assert_eq!(events[0].0, "unknown_type");
}

/// Braze Currents' Avro export relayed as JSON: optional fields are Avro unions,
/// `{"string": "…"}`; they fill their columns, never a row with silently empty columns.
#[test]
fn braze_avro_union_values_fill_their_columns() {
    let (events, q) = split(decode_record(&fixture("braze_currents_avro.json"), &COORDS));
    assert!(q.is_empty(), "{q:?}");
    let (dest, e) = &events[0];
    assert_eq!(*dest, "send");
    for (column, want) in [
        ("external_user_id", "cust-21"),
        ("app_id", "app-ios-1"),
        ("timezone", "Europe/London"),
        ("platform", "ios"),
        ("campaign_id", "camp-9"),
        ("campaign_name", "Black Friday"),
        ("message_variation_id", "var-1"),
        ("send_id", "send-3"),
        ("dispatch_id", "disp-77"),
        ("device_id", "dev-5"),
    ] {
        assert_eq!(e[column], want, "{column}");
    }
    assert!(e["canvas_id"].is_null());
    let attrs = e["attributes"].to_string();
    assert!(
        attrs.contains("ad_tracking_enabled") && !attrs.contains("\"boolean\""),
        "{attrs}"
    );
}
