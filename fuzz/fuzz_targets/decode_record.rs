//! Any bytes as a Kinesis record: never a panic, always at least one outcome, every
//! event line a canonical event (key order included) within one Firehose record, every
//! quarantine row within limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushfeed_core::event::{CanonicalEvent, Coordinates};
use pushfeed_core::vendor::{decode_record, Outcome, MAX_LINE_BYTES};

fuzz_target!(|data: &[u8]| {
    let coords = Coordinates { shard_id: "shardId-000000000000", sequence_number: "1", received_at_ms: 1_767_225_600_000 };
    let out = decode_record(data, &coords);
    assert!(!out.is_empty(), "a record vanished");
    for o in &out {
        match o {
            Outcome::Event { line, event_id, destination } => {
                assert!(line.len() <= MAX_LINE_BYTES);
                if let Err(e) = CanonicalEvent::from_line(*destination, line) {
                    panic!("not a canonical line: {e}");
                }
                let v: serde_json::Value = serde_json::from_slice(line).expect("event line is JSON");
                assert_eq!(v["event_id"].as_str(), Some(event_id.as_str()));
            }
            Outcome::Quarantined(q) => {
                for row in q.lines() {
                    assert!(row.len() < 1_024_000);
                    serde_json::from_slice::<serde_json::Value>(&row).expect("quarantine row is JSON");
                }
            }
        }
    }
});
