//! Property tests: whatever the bytes, decoding never panics, every record is accounted
//! for, and packing a batch keeps every line and respects Firehose's limits.

use proptest::prelude::*;
use pushfeed_core::event::Coordinates;
use pushfeed_core::packing::unpack;
use pushfeed_core::vendor::{decode_record, Outcome};
use pushfeed_core::{pack_batch, InputRecord, Limits, DESTINATIONS};

const COORDS: Coordinates<'static> = Coordinates {
    shard_id: "shardId-000000000003",
    sequence_number: "1",
    received_at_ms: 1_767_225_600_000,
};

fn fixtures() -> Vec<Vec<u8>> {
    [
        "braze_nested_send.json",
        "braze_batch.json",
        "braze_flat_open.json",
        "airship_rtds.ndjson",
        "braze_flat_no_event_type.json",
    ]
    .iter()
    .map(|n| {
        std::fs::read(format!(
            "{}/../../tests/fixtures/{n}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    })
    .collect()
}

/// Fixture bytes with a few random byte edits, truncations or insertions.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..5usize,
        proptest::collection::vec((any::<u16>(), any::<u8>(), 0..3u8), 0..6),
        any::<u16>(),
    )
        .prop_map(|(i, edits, cut)| {
            let mut data = fixtures()[i].clone();
            for (at, byte, op) in edits {
                if data.is_empty() {
                    break;
                }
                let at = at as usize % data.len();
                match op {
                    0 => data[at] = byte,
                    1 => data.insert(at, byte),
                    _ => {
                        data.remove(at);
                    }
                }
            }
            if cut % 4 == 0 && !data.is_empty() {
                let at = cut as usize % data.len();
                data.truncate(at);
            }
            data
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_give_at_least_one_outcome_and_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let out = decode_record(&data, &COORDS);
        prop_assert!(!out.is_empty());
    }

    #[test]
    fn mutated_vendor_records_are_always_accounted_for(data in mutated()) {
        let out = decode_record(&data, &COORDS);
        prop_assert!(!out.is_empty());
        for o in &out {
            if let Outcome::Event { line, .. } = o {
                let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                prop_assert!(v["event_id"].is_string() && v["occurred_at"].is_string());
            }
        }
    }

    #[test]
    fn a_packed_batch_keeps_every_line_and_every_record_is_traceable(records in proptest::collection::vec(mutated(), 1..40)) {
        let seqs: Vec<String> = (0..records.len()).map(|i| i.to_string()).collect();
        let inputs: Vec<InputRecord> = records.iter().zip(&seqs).map(|(d, s)| InputRecord {
            data: d,
            coords: Coordinates { sequence_number: s, ..COORDS },
        }).collect();
        let expected_lines: usize = records.iter().zip(&seqs).map(|(d, s)| {
            decode_record(d, &Coordinates { sequence_number: s, ..COORDS }).iter().map(|o| match o {
                Outcome::Event { .. } => 1,
                Outcome::Quarantined(q) => q.lines().len(),
            }).sum::<usize>()
        }).sum();
        let packed = pack_batch(&inputs, Limits::FIREHOSE);
        let mut lines = 0;
        let mut sources = std::collections::BTreeSet::new();
        for (dest, recs) in &packed.destinations {
            prop_assert!(*dest < DESTINATIONS.len());
            for r in recs {
                prop_assert!(r.data.len() <= Limits::FIREHOSE.max_record_bytes);
                lines += unpack(&r.data).count();
                sources.extend(r.sources.iter().copied());
            }
        }
        prop_assert_eq!(lines, expected_lines);
        prop_assert_eq!(sources.len(), records.len(), "every Kinesis record feeds some Firehose record");
        prop_assert_eq!(packed.counts.records_in as usize, records.len());
        let events: u64 = packed.counts.events.values().sum();
        prop_assert_eq!(events + packed.counts.quarantine_rows, lines as u64);
    }
}
