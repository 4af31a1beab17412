//! One full batch — as many realistic records as fit Lambda's 6 MB payload — through
//! decode (Lambda payload JSON, base64) → classify (canonical events) → pack (Firehose
//! records and PutRecordBatch calls). No network. Also a 1,000-record batch.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pushfeed_batcher::sample::{lambda_payload, LAMBDA_PAYLOAD_BYTES};
use pushfeed_core::event::Coordinates;
use pushfeed_core::packing::group;
use pushfeed_core::{pack_batch, InputRecord, Limits};

fn one_batch(payload: &[u8]) -> usize {
    let event = pushfeed_batcher::KinesisBatch::from_json(payload).expect("payload");
    let inputs: Vec<InputRecord<'_>> = event
        .records
        .iter()
        .map(|r| InputRecord {
            data: &r.kinesis.data,
            coords: Coordinates {
                shard_id: "shardId-000000000003",
                sequence_number: &r.kinesis.sequence_number,
                received_at_ms: r.kinesis.arrival_ms,
            },
        })
        .collect();
    let packed = pack_batch(&inputs, Limits::FIREHOSE);
    packed
        .destinations
        .into_iter()
        .map(|(_, recs)| group(recs, Limits::FIREHOSE).len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch");
    for (name, records) in [("full_6mb", usize::MAX), ("1000_records", 1000)] {
        let (payload, n) = lambda_payload(records, LAMBDA_PAYLOAD_BYTES);
        eprintln!("{name}: {n} records, {} payload bytes", payload.len());
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_function(name, |b| b.iter(|| one_batch(&payload)));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
