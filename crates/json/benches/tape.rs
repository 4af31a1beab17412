//! The tape reader against the reference parsers on vendor records (every conformance
//! fixture's input, compact, repeated to ~1 MB): pushfeed's tape, serde_json (a tree and
//! IgnoredAny), sonic-rs and simd-json (their DOM / tape), each validating every record.
//!   cargo bench -p pushfeed-json

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pushfeed_json::Tape;

fn records() -> Vec<Vec<u8>> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/conformance"
    );
    let mut one = Vec::new();
    for vendor in ["braze", "airship"] {
        let text = std::fs::read(format!("{dir}/{vendor}.json")).expect("conformance fixture");
        let doc: serde_json::Value = serde_json::from_slice(&text).expect("fixture is JSON");
        for case in doc["cases"].as_array().expect("cases") {
            one.push(serde_json::to_vec(&case["input"]).expect("input"));
        }
    }
    let size: usize = one.iter().map(Vec::len).sum();
    let copies = (1 << 20) / size.max(1) + 1;
    one.iter()
        .cycle()
        .take(one.len() * copies)
        .cloned()
        .collect()
}

fn bench(c: &mut Criterion) {
    let records = records();
    let bytes: usize = records.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("records");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("pushfeed tape", |b| {
        let mut buffer = Vec::new();
        b.iter(|| {
            for r in &records {
                let mut tape = Tape::from_buffer(std::mem::take(&mut buffer));
                tape.parse_bytes(r).expect("valid");
                buffer = tape.into_buffer();
            }
        })
    });
    g.bench_function("serde_json Value", |b| {
        b.iter(|| {
            for r in &records {
                serde_json::from_slice::<serde_json::Value>(r).expect("valid");
            }
        })
    });
    g.bench_function("serde_json IgnoredAny", |b| {
        b.iter(|| {
            for r in &records {
                serde_json::from_slice::<serde::de::IgnoredAny>(r).expect("valid");
            }
        })
    });
    g.bench_function("sonic-rs Value", |b| {
        b.iter(|| {
            for r in &records {
                sonic_rs::from_slice::<sonic_rs::Value>(r).expect("valid");
            }
        })
    });
    g.bench_function("simd-json tape", |b| {
        let mut copy = Vec::new();
        let mut buffers = simd_json::Buffers::default();
        b.iter(|| {
            for r in &records {
                copy.clear();
                copy.extend_from_slice(r);
                simd_json::to_tape_with_buffers(&mut copy, &mut buffers).expect("valid");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
