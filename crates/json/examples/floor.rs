//! The parse floor of a batcher payload: the least work any implementation must do on the
//! same bytes — parse the Lambda Kinesis event, base64-decode every record's data, and
//! validate every JSON document in it — done by the fastest validating parsers at hand
//! (sonic-rs, simd-json), producing nothing. scripts/bench divides the batcher's time by
//! this one, measured in the same run, for `ratio_to_floor`.
//!   cargo run --release -p pushfeed-json --example floor -- PAYLOAD.json [RUNS]
//! Prints one JSON object: floor_ms (the faster of the two medians), floor_min_ms (the
//! fastest single run of either), sonic_rs_ms, simd_json_ms,
//! records, documents, invalid (documents neither parser accepts: the feed's bad records);
//! and, beside the floor, pushfeed_json_ms: the same work with pushfeed's own reader
//! building its tape.

use serde::Deserialize;
use std::time::Instant;

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<Record<'a>>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    kinesis: Kinesis<'a>,
}

#[derive(Deserialize)]
struct Kinesis<'a> {
    #[serde(borrow)]
    data: std::borrow::Cow<'a, str>,
}

/// Every JSON document of a record: the record whole when it is one, else each line
/// (NDJSON); how many documents and how many were invalid.
fn documents(data: &[u8], mut valid: impl FnMut(&[u8]) -> bool) -> (u64, u64) {
    if valid(data) {
        return (1, 0);
    }
    let (mut n, mut bad) = (0, 0);
    for line in data.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        n += 1;
        if !valid(line) {
            bad += 1;
        }
    }
    (n.max(1), bad.max(u64::from(n == 0)))
}

fn decode(records: &[Record<'_>], out: &mut Vec<u8>, spans: &mut Vec<std::ops::Range<usize>>) {
    out.clear();
    spans.clear();
    for r in records {
        let start = out.len();
        if base64_simd::STANDARD
            .decode_append(r.kinesis.data.as_bytes(), &mut *out)
            .is_err()
        {
            out.truncate(start);
            out.extend_from_slice(r.kinesis.data.as_bytes());
        }
        spans.push(start..out.len());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: floor PAYLOAD.json [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args
        .get(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(15)
        .max(1);
    let payload = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(2)
    });
    let (mut data, mut spans) = (Vec::new(), Vec::new());
    let (mut records, mut docs, mut invalid) = (0, 0, 0);

    let mut sonic = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let event: Event<'_> = sonic_rs::from_slice(&payload).expect("a Lambda Kinesis event");
        decode(&event.records, &mut data, &mut spans);
        let (mut n, mut bad) = (0, 0);
        for s in &spans {
            let (d, b) = documents(&data[s.clone()], |doc| {
                sonic_rs::from_slice::<sonic_rs::Value>(doc).is_ok()
            });
            n += d;
            bad += b;
        }
        sonic.push(t.elapsed().as_secs_f64() * 1000.0);
        (records, docs, invalid) = (spans.len(), n, bad);
    }

    let mut simd = Vec::with_capacity(runs);
    let mut buffers = simd_json::Buffers::default();
    let mut copy = Vec::new();
    let mut doc_copy = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        copy.clear();
        copy.extend_from_slice(&payload);
        let event: Event<'_> =
            simd_json::serde::from_slice_with_buffers(&mut copy, &mut buffers).expect("event");
        decode(&event.records, &mut data, &mut spans);
        for s in &spans {
            documents(&data[s.clone()], |doc| {
                doc_copy.clear();
                doc_copy.extend_from_slice(doc);
                simd_json::to_tape_with_buffers(&mut doc_copy, &mut buffers).is_ok()
            });
        }
        simd.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    // pushfeed's own reader on the same documents (the event through sonic-rs, as above):
    // not part of the floor, but it splits the batcher's distance from it into reading
    // and everything after (the canonical lines).
    let mut ours = Vec::with_capacity(runs);
    // The tape's nodes, reused from document to document as the batcher's decoder does.
    let mut nodes = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let event: Event<'_> = sonic_rs::from_slice(&payload).expect("a Lambda Kinesis event");
        decode(&event.records, &mut data, &mut spans);
        for s in &spans {
            documents(&data[s.clone()], |doc| {
                let mut tape = pushfeed_json::Tape::from_buffer(std::mem::take(&mut nodes));
                let ok = tape.parse_bytes(doc).is_ok();
                nodes = tape.into_buffer();
                ok
            });
        }
        ours.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // The fastest single run of either parser: beside the median, for a ratio of fastest
    // runs that a shared machine's slow spells do not move.
    let floor_min_ms = sonic
        .iter()
        .chain(&simd)
        .copied()
        .fold(f64::INFINITY, f64::min);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (sonic_ms, simd_ms, ours_ms) = (median(&mut sonic), median(&mut simd), median(&mut ours));
    println!(
        "{{\"floor_ms\":{:.3},\"floor_min_ms\":{floor_min_ms:.3},\"sonic_rs_ms\":{sonic_ms:.3},\"simd_json_ms\":{simd_ms:.3},\"pushfeed_json_ms\":{ours_ms:.3},\"records\":{records},\"documents\":{docs},\"invalid\":{invalid},\"runs\":{runs}}}",
        sonic_ms.min(simd_ms)
    );
}
