//! Lambda Kinesis events for tests, benches and drivers, built one way: each record in the
//! envelope of `tests/fixtures/lambda/kinesis_record.json` (what the event source mapping
//! delivers), its data base64-encoded; and realistic payloads for benchmarks (the shared
//! fixtures' vendor shapes with distinct ids) up to Lambda's 6 MB synchronous payload.

use base64::Engine as _;

/// Lambda's synchronous invocation payload limit.
pub const LAMBDA_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Single-event vendor records of about 600 bytes, in the shapes the vendor sends.
pub fn vendor_record(i: usize) -> Vec<u8> {
    let t = 1_767_225_600 + (i as i64 % 86_400);
    match i % 4 {
        0 => format!(
            r#"{{"event_type":"users.messages.pushnotification.Send","id":"3f2b9c1e-8d4a-4b6f-9e21-{i:012}","time":{t},"user":{{"user_id":"65a1c0ffee00000000{i:06}","external_user_id":"cust-{i:06}","device_id":"b7e3d2a1-0000-4000-8000-{i:012}","timezone":"Europe/London"}},"properties":{{"app_id":"4c1d2e3f-aaaa-bbbb-cccc-000000000001","platform":"android","campaign_id":"9e8d7c6b-0000-0000-0000-00000000c001","campaign_name":"Winter Sale D1","message_variation_id":"mv-001","dispatch_id":"65a1f3d2e1c0b0a0{i:08}","push_token":"fcm:dGVzdC10b2tlbg{i}","message_extras":"{{\"offer\":\"WINTER20\",\"segment\":\"lapsed\"}}","ad_tracking_enabled":false}}}}"#
        ),
        1 => format!(
            r#"{{"event_type":"users.messages.pushnotification.Open","id":"a8c4e2f0-1111-4222-8333-{i:012}","user_id":"65a1c0ffee00000000{i:06}","external_user_id":"cust-{i:06}","time":{t},"platform":"ios","os_version":"17.4","device_model":"iPhone15,2","dispatch_id":"65a1f3d2e1c0b0a0{i:08}","campaign_id":"9e8d7c6b-0000-0000-0000-00000000c001","campaign_name":"Winter Sale D1","app_id":"4c1d2e3f-aaaa-bbbb-cccc-000000000001","timezone":"Europe/London","button_action_type":"deep_link","button_string":"shop_now"}}"#
        ),
        2 => format!(
            r#"{{"id":"ff76bb85-74bc-4511-a3bf-{i:012}","type":"SEND","offset":"{i}","occurred":"2026-01-01T09:00:00.000Z","processed":"2026-01-01T09:00:01.120Z","device":{{"android_channel":"a1b2c3d4-0000-4000-8000-{i:012}","named_user_id":"cust-{i:06}","attributes":{{"locale_language":"en","locale_country":"GB","app_version":"5.12.0"}}}},"body":{{"push_id":"p-{i:010}","group_id":"9e8d7c6b-0000-0000-0000-00000000c001","variant_id":"v-1"}}}}"#
        ),
        _ => format!(
            r#"{{"event_type":"users.messages.pushnotification.Bounce","id":"c0b0a090-8070-4060-8050-{i:012}","time":{t},"user":{{"user_id":"65a1c0ffee00000000{i:06}","external_user_id":"cust-{i:06}","timezone":"Europe/London"}},"properties":{{"app_id":"4c1d2e3f-aaaa-bbbb-cccc-000000000001","platform":"android","campaign_id":"9e8d7c6b-0000-0000-0000-00000000c001","campaign_name":"Winter Sale D1","dispatch_id":"65a1f3d2e1c0b0a0{i:08}","push_token":"fcm:dGVzdC10b2tlbg{i}","send_id":"send-{i:010}"}}}}"#
        ),
    }
    .into_bytes()
}

/// The envelope of one record in a Lambda Kinesis event (placeholders in braces).
const KINESIS_RECORD: &str = include_str!("../../../tests/fixtures/lambda/kinesis_record.json");

/// One record of a Lambda Kinesis event, as compact JSON.
pub fn kinesis_record_json(
    shard_id: &str,
    sequence_number: &str,
    partition_key: &str,
    data: &[u8],
    arrival_ms: i64,
) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let filled = KINESIS_RECORD
        .replace("{shard_id}", shard_id)
        .replace("{sequence_number}", sequence_number)
        .replace("{partition_key}", partition_key)
        .replace("{data}", &b64.encode(data))
        .replace(
            "{arrival_seconds}",
            &format!("{:.3}", arrival_ms as f64 / 1000.0),
        );
    // One line, as Lambda sends it (the fixture is pretty-printed; no value holds a break).
    filled.lines().map(str::trim).collect::<Vec<_>>().join("")
}

/// A Lambda Kinesis event of these records (sequence number, data), one shard, all arrived
/// at `arrival_ms`.
pub fn kinesis_event_json(
    shard_id: &str,
    records: &[(String, Vec<u8>)],
    arrival_ms: i64,
) -> Vec<u8> {
    let body: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, (seq, data))| {
            kinesis_record_json(shard_id, seq, &format!("pk-{i}"), data, arrival_ms)
        })
        .collect();
    format!("{{\"Records\":[{}]}}", body.join(",")).into_bytes()
}

/// A Lambda Kinesis event payload (JSON bytes) of up to `max_records` records and at most
/// `max_bytes` bytes, and the number of records in it.
pub fn lambda_payload(max_records: usize, max_bytes: usize) -> (Vec<u8>, usize) {
    let mut out = b"{\"Records\":[".to_vec();
    let mut n = 0;
    while n < max_records {
        let seq = format!("49650000000000000000000000000000000000000000{n:012}");
        let entry = kinesis_record_json(
            "shardId-000000000003",
            &seq,
            &format!("cust-{n:06}"),
            &vendor_record(n),
            1_767_229_200_123,
        );
        if out.len() + entry.len() + 3 > max_bytes {
            break;
        }
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(entry.as_bytes());
        n += 1;
    }
    out.extend_from_slice(b"]}");
    (out, n)
}
