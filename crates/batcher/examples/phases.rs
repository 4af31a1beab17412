//! Where a full 6 MB batch's time goes, phase by phase (median of 15 runs):
//!   cargo run --release -p pushfeed-batcher --example phases
//! payload: the Lambda payload JSON → pushfeed_batcher::KinesisBatch (base64 decoded), as the
//! batcher binary reads it (`payload_serde_ms`: the same through serde_json, for comparison);
//! decode: every record → canonical lines; pack: decode + packing into Firehose records.
//! With a path argument (a Lambda Kinesis event, as `scripts/bench` writes them), that
//! payload instead of the built-in sample.

use pushfeed_batcher::sample::{lambda_payload, LAMBDA_PAYLOAD_BYTES};
use pushfeed_core::event::Coordinates;
use pushfeed_core::{pack_batch, Decoded, Decoder, InputRecord, Limits, Output};
use std::time::Instant;

/// Counts outcomes and drops the lines (decoding alone, no packing).
#[derive(Default)]
struct Count {
    outcomes: usize,
    line: Vec<u8>,
}

impl Output for Count {
    fn buffer(&mut self, _destination: usize) -> &mut Vec<u8> {
        &mut self.line
    }
    fn emit(&mut self, _outcome: Decoded<'_>) {
        self.outcomes += 1;
        self.line.clear();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let (payload, n) = match std::env::args().nth(1) {
        Some(path) => {
            let bytes = std::fs::read(&path).expect("a Lambda Kinesis event");
            let n = pushfeed_batcher::KinesisBatch::from_json(&bytes)
                .expect("payload")
                .records
                .len();
            (bytes, n)
        }
        None => lambda_payload(usize::MAX, LAMBDA_PAYLOAD_BYTES),
    };
    let (mut parse, mut serde, mut decode, mut pack) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        let event = pushfeed_batcher::KinesisBatch::from_json(&payload).expect("payload");
        parse.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let again: pushfeed_batcher::KinesisBatch =
            serde_json::from_slice(&payload).expect("payload");
        serde.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(again, event);
        let inputs: Vec<InputRecord<'_>> = event
            .records
            .iter()
            .map(|r| InputRecord {
                data: &r.kinesis.data,
                coords: Coordinates {
                    shard_id: "shardId-000000000003",
                    sequence_number: &r.kinesis.sequence_number,
                    received_at_ms: 0,
                },
            })
            .collect();
        let t = Instant::now();
        let mut decoder = Decoder::default();
        let mut count = Count::default();
        for i in &inputs {
            decoder.decode(i.data, &i.coords, &mut count);
        }
        let outcomes = count.outcomes;
        decode.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(outcomes >= n);
        let t = Instant::now();
        let packed = pack_batch(&inputs, Limits::FIREHOSE);
        pack.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(packed.counts.records_in as usize, n);
    }
    println!(
        "{{\"records\":{n},\"payload_bytes\":{},\"payload_parse_ms\":{:.2},\"payload_serde_ms\":{:.2},\"decode_ms\":{:.2},\"decode_and_pack_ms\":{:.2}}}",
        payload.len(),
        median(parse),
        median(serde),
        median(decode),
        median(pack)
    );
}
