//! The batcher handler against the in-memory, scripted Firehose (`MemoryFirehose`).

use pushfeed_batcher::{handle_batch, Answer, Config, KinesisBatch, MemoryFirehose};
use pushfeed_core::metrics as m;
use serde_json::Value;
use std::time::Duration;

/// The records sent to one stream, as parsed JSON lines.
trait LinesSent {
    fn lines_sent_to(&self, stream: &str) -> Vec<Value>;
}

impl LinesSent for MemoryFirehose {
    fn lines_sent_to(&self, stream: &str) -> Vec<Value> {
        self.calls()
            .iter()
            .filter(|(s, _)| s == stream)
            .flat_map(|(_, recs)| {
                recs.iter().flat_map(|r| {
                    r.split(|b| *b == b'\n')
                        .filter(|l| !l.is_empty())
                        .map(|l| serde_json::from_slice(l).unwrap())
                        .collect::<Vec<Value>>()
                })
            })
            .collect()
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A Lambda Kinesis event, as the event source mapping sends it (the fixture envelope,
/// base64 data), read as the batcher Lambda reads its payload.
fn kinesis_event(records: &[Vec<u8>]) -> KinesisBatch {
    let recs: Vec<(String, Vec<u8>)> = records
        .iter()
        .enumerate()
        .map(|(i, data)| (seq(i), data.clone()))
        .collect();
    let payload = pushfeed_batcher::sample::kinesis_event_json(
        "shardId-000000000007",
        &recs,
        1_767_229_200_500,
    );
    KinesisBatch::from_json(&payload).unwrap()
}

fn seq(i: usize) -> String {
    format!("4965{i:052}")
}

fn config() -> Config {
    Config {
        stream_prefix: "pf-".into(),
        base_backoff: Duration::from_millis(10),
        ..Config::default()
    }
}

fn failures(report: &pushfeed_batcher::BatchReport) -> Vec<String> {
    report
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect()
}

fn mixed_records() -> Vec<Vec<u8>> {
    vec![
        fixture("braze_nested_send.json"), // 0: send
        fixture("braze_batch.json"), // 1: send, open, click, open, bounce, abort, unknown + 2 quarantined
        fixture("braze_flat_open.json"), // 2: click
        fixture("airship_rtds.ndjson"), // 3: send, open, unknown, uninstall + 2 quarantined
        b"not json at all".to_vec(), // 4: quarantined
    ]
}

#[tokio::test(start_paused = true)]
async fn every_event_reaches_its_stream_and_bad_input_the_quarantine() {
    let sink = MemoryFirehose::new();
    let report = handle_batch(
        &kinesis_event(&mixed_records()),
        &sink,
        &config(),
        None,
        "test-invocation",
    )
    .await;
    assert!(failures(&report).is_empty());
    let ids = |stream: &str| {
        sink.lines_sent_to(stream)
            .iter()
            .map(|v| v["event_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("pf-send").len(), 3);
    assert_eq!(
        ids("pf-click"),
        vec!["b-click-1", "a8c4e2f0-1111-4222-8333-944455556666"]
    );
    assert_eq!(ids("pf-open").len(), 3);
    assert_eq!(
        ids("pf-unknown-type"),
        vec!["b-email-1", "7d1b6c2a-0000-4000-8000-000000000c03"]
    );
    let quarantine = sink.lines_sent_to("pf-quarantine");
    let reasons: Vec<&str> = quarantine
        .iter()
        .map(|v| v["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 5);
    assert!(
        reasons.contains(&"invalid_json")
            && reasons.contains(&"missing_id")
            && reasons.contains(&"bad_timestamp")
    );
    let whole = quarantine
        .iter()
        .find(|v| v["raw"] == "not json at all")
        .unwrap();
    assert_eq!(whole["source_sequence_number"], seq(4));
    assert_eq!(whole["source_shard_id"], "shardId-000000000007");
    assert_eq!(report.metrics.get(m::RECORDS_IN), 5.0);
    assert_eq!(report.metrics.get(m::QUARANTINED_RECORDS), 5.0);
    assert_eq!(report.metrics.get(m::UNKNOWN_TYPE_EVENTS), 2.0);
    assert_eq!(report.metrics.get_by(m::EVENTS_ROUTED, "click"), 2.0);
    assert_eq!(report.metrics.get(m::FAILED_KINESIS_RECORDS), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_partial_failure_resends_only_the_failed_entries() {
    // 25 records of ~100 KB each: three Firehose records on the send stream, one call.
    let big = |i: usize| {
        format!(r#"{{"event_type":"users.messages.pushnotification.Send","id":"s{i}","time":1767225600,"user_id":"u","pad":"{}"}}"#, "x".repeat(100_000)).into_bytes()
    };
    let records: Vec<Vec<u8>> = (0..25).map(big).collect();
    let sink = MemoryFirehose::new().script("pf-send", &[Answer::FailEntries(vec![1])]);
    let report = handle_batch(
        &kinesis_event(&records),
        &sink,
        &config(),
        None,
        "test-invocation",
    )
    .await;
    assert!(failures(&report).is_empty());
    let calls: Vec<_> = sink
        .calls()
        .into_iter()
        .filter(|(s, _)| s == "pf-send")
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].1.len(), 1, "only the failed entry is resent");
    assert_eq!(calls[1].1[0], calls[0].1[1]);
    assert_eq!(report.retries, 1);
    assert_eq!(report.metrics.get(m::FIREHOSE_RETRIES), 1.0);
    assert_eq!(report.firehose_records_sent as usize, calls[0].1.len());
    let ids: std::collections::BTreeSet<String> = sink
        .lines_sent_to("pf-send")
        .iter()
        .map(|v| v["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 25);
}

#[tokio::test(start_paused = true)]
async fn throttling_then_success_loses_nothing() {
    let sink = MemoryFirehose::new().script("pf-send", &[Answer::Throttle, Answer::Throttle]);
    let report = handle_batch(
        &kinesis_event(&[fixture("braze_nested_send.json")]),
        &sink,
        &config(),
        None,
        "test-invocation",
    )
    .await;
    assert!(failures(&report).is_empty());
    assert_eq!(
        sink.calls().iter().filter(|(s, _)| s == "pf-send").count(),
        3
    );
    assert_eq!(report.metrics.get(m::FIREHOSE_RECORDS_SENT), 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_reports_exactly_the_kinesis_records_behind_it() {
    let sink = MemoryFirehose::new().script("pf-click", &[Answer::Permanent]);
    let report = handle_batch(
        &kinesis_event(&mixed_records()),
        &sink,
        &config(),
        None,
        "test-invocation",
    )
    .await;
    // Clicks came from records 1 and 2 only.
    assert_eq!(failures(&report), vec![seq(1), seq(2)]);
    assert_eq!(
        sink.calls().iter().filter(|(s, _)| s == "pf-click").count(),
        1,
        "validation errors are not retried"
    );
    assert_eq!(report.metrics.get(m::FAILED_KINESIS_RECORDS), 2.0);
}

#[tokio::test(start_paused = true)]
async fn entries_that_keep_failing_are_reported_after_the_last_attempt() {
    let steps = vec![Answer::FailEntries(vec![0]); 20];
    let sink = MemoryFirehose::new().script("pf-uninstall", &steps);
    let report = handle_batch(
        &kinesis_event(&mixed_records()),
        &sink,
        &config(),
        None,
        "test-invocation",
    )
    .await;
    assert_eq!(failures(&report), vec![seq(3)]);
    assert_eq!(
        sink.calls()
            .iter()
            .filter(|(s, _)| s == "pf-uninstall")
            .count(),
        config().max_attempts as usize
    );
}

#[tokio::test(start_paused = true)]
async fn retries_stop_before_the_deadline() {
    let steps = vec![Answer::Throttle; 20];
    let sink = MemoryFirehose::new().script("pf-send", &steps);
    let cfg = Config {
        base_backoff: Duration::from_secs(1),
        max_attempts: 50,
        ..config()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let report = handle_batch(
        &kinesis_event(&[fixture("braze_nested_send.json")]),
        &sink,
        &cfg,
        Some(deadline),
        "test-invocation",
    )
    .await;
    assert_eq!(failures(&report), vec![seq(0)]);
    assert!(
        tokio::time::Instant::now() + cfg.safety_margin <= deadline,
        "answered with the safety margin left"
    );
    assert!(sink.calls().len() < 10);
}

#[tokio::test(start_paused = true)]
async fn an_empty_batch_sends_nothing() {
    let sink = MemoryFirehose::new();
    let report = handle_batch(
        &kinesis_event(&[]),
        &sink,
        &config(),
        None,
        "test-invocation",
    )
    .await;
    assert!(sink.calls().is_empty() && failures(&report).is_empty());
    assert_eq!(report.metrics.get(m::RECORDS_IN), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_only_bad_records_goes_to_the_quarantine_only() {
    let records = vec![
        b"".to_vec(),
        b"\xff\xfe".to_vec(),
        b"[1,2]".to_vec(),
        fixture("braze_flat_no_event_type.json"),
    ];
    let sink = MemoryFirehose::new();
    let report = handle_batch(
        &kinesis_event(&records),
        &sink,
        &config(),
        None,
        "test-invocation",
    )
    .await;
    assert!(sink
        .calls()
        .iter()
        .all(|(s, _)| s == "pf-quarantine" || s == "pf-audit"));
    let audit = sink.lines_sent_to("pf-audit");
    assert_eq!(audit.len(), 1, "one audit line: the quarantine's one hour");
    assert_eq!(audit[0]["table_name"], "push_quarantine");
    assert_eq!(audit[0]["lines"], 5);
    let reasons: Vec<String> = sink
        .lines_sent_to("pf-quarantine")
        .iter()
        .map(|v| v["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "empty",
            "not_utf8",
            "not_an_object",
            "not_an_object",
            "missing_event_type"
        ]
    );
    assert!(failures(&report).is_empty());
}

#[tokio::test(start_paused = true)]
async fn large_batches_respect_the_500_record_and_4_mb_limits() {
    // 10,000 records (the ESM maximum) of ~2 KB: many Firehose records, several calls.
    let records: Vec<Vec<u8>> = (0..10_000)
        .map(|i| format!(r#"{{"event_type":"users.messages.pushnotification.Send","id":"id-{i}","time":1767225600,"user_id":"u{i}","pad":"{}"}}"#, "y".repeat(2_000)).into_bytes())
        .collect();
    let sink = MemoryFirehose::new(); // its put_record_batch asserts every limit
    let report = handle_batch(
        &kinesis_event(&records),
        &sink,
        &config(),
        None,
        "test-invocation",
    )
    .await;
    assert!(failures(&report).is_empty());
    assert!(sink.calls().len() >= 6);
    let lines: usize = sink
        .calls()
        .iter()
        .filter(|(s, _)| s != "pf-audit")
        .flat_map(|(_, r)| r.iter())
        .map(|r| r.iter().filter(|b| **b == b'\n').count())
        .sum();
    assert_eq!(lines, 10_000);
    assert!(
        report.firehose_records_sent < 30,
        "packing: {} Firehose records for 10,000 events",
        report.firehose_records_sent
    );
}

/// The audit lines for one invocation, keyed by table.
fn audit_by_table(sink: &MemoryFirehose) -> std::collections::BTreeMap<String, Value> {
    sink.lines_sent_to("pf-audit")
        .into_iter()
        .map(|v| (v["table_name"].as_str().unwrap().to_owned(), v))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_audit_record_counts_what_firehose_accepted_per_table_and_hour() {
    let sink = MemoryFirehose::new().script("pf-click", &[Answer::Permanent]);
    let report = handle_batch(
        &kinesis_event(&mixed_records()),
        &sink,
        &config(),
        None,
        "req-1",
    )
    .await;
    let audit = audit_by_table(&sink);
    // Every line sent to a data stream is in the audit, under its table.
    for (table, stream) in [
        ("push_send", "pf-send"),
        ("push_open", "pf-open"),
        ("push_quarantine", "pf-quarantine"),
        ("push_unknown_type", "pf-unknown-type"),
    ] {
        assert_eq!(
            audit[table]["lines"],
            sink.lines_sent_to(stream).len(),
            "{table}"
        );
        assert_eq!(audit[table]["lines_failed"], 0);
        assert_eq!(
            audit[table]["hour"], "2026-01-01T01:00:00.000Z",
            "the hour of Kinesis arrival"
        );
        assert_eq!(
            audit[table]["event_id"],
            format!("a:req-1:{table}:2026-01-01T01:00:00.000Z")
        );
        assert_eq!(audit[table]["kinesis_records"], 5);
        assert_eq!(audit[table]["first_sequence_number"], seq(0));
        assert_eq!(audit[table]["last_sequence_number"], seq(4));
    }
    // The click stream refused its record: nothing accepted, two lines failed (and their
    // Kinesis records reported, to come again in another invocation with its own audit).
    assert_eq!(audit["push_click"]["lines"], 0);
    assert_eq!(audit["push_click"]["lines_failed"], 2);
    assert_eq!(failures(&report), vec![seq(1), seq(2)]);
    assert_eq!(report.metrics.get(m::AUDIT_LINES_SENT), audit.len() as f64);
    assert_eq!(
        report.audit.lines() as usize,
        [
            "pf-send",
            "pf-open",
            "pf-quarantine",
            "pf-unknown-type",
            "pf-uninstall",
            "pf-bounce",
            "pf-abort"
        ]
        .iter()
        .map(|s| sink.lines_sent_to(s).len())
        .sum::<usize>()
    );
}

#[tokio::test(start_paused = true)]
async fn a_retried_entry_is_audited_once() {
    let sink =
        MemoryFirehose::new().script("pf-send", &[Answer::FailEntries(vec![0]), Answer::Throttle]);
    let report = handle_batch(
        &kinesis_event(&mixed_records()),
        &sink,
        &config(),
        None,
        "req-2",
    )
    .await;
    assert!(failures(&report).is_empty());
    let audit = audit_by_table(&sink);
    assert_eq!(audit["push_send"]["lines"], 3);
    assert_eq!(audit["push_send"]["firehose_records"], 1);
}

#[tokio::test(start_paused = true)]
async fn an_undeliverable_audit_record_is_counted_but_does_not_fail_the_batch() {
    let sink = MemoryFirehose::new().script("pf-audit", &[Answer::Permanent]);
    let report = handle_batch(
        &kinesis_event(&mixed_records()),
        &sink,
        &config(),
        None,
        "req-3",
    )
    .await;
    assert!(
        failures(&report).is_empty(),
        "the data arrived: resending it would not mend the audit"
    );
    assert_eq!(report.metrics.get(m::AUDIT_RECORDS_FAILED), 1.0);
    assert_eq!(report.metrics.get(m::AUDIT_LINES_SENT), 0.0);
}

#[tokio::test(start_paused = true)]
async fn lines_are_audited_in_the_hour_their_record_arrived() {
    // Two records of one batch, arriving either side of 02:00.
    let recs: Vec<String> = [(0usize, 1_767_232_799_900i64), (1, 1_767_232_800_000)]
        .iter()
        .map(|(i, t)| {
            let data = format!(r#"{{"event_type":"users.messages.pushnotification.Send","id":"h{i}","time":1767225600,"user_id":"u"}}"#);
            pushfeed_batcher::sample::kinesis_record_json("shardId-000000000007", &seq(*i), "p", data.as_bytes(), *t)
        })
        .collect();
    let event =
        KinesisBatch::from_json(format!(r#"{{"Records":[{}]}}"#, recs.join(",")).as_bytes())
            .unwrap();
    let sink = MemoryFirehose::new();
    handle_batch(&event, &sink, &config(), None, "req-4").await;
    let hours: Vec<(String, u64)> = sink
        .lines_sent_to("pf-audit")
        .iter()
        .map(|v| {
            (
                v["hour"].as_str().unwrap().to_owned(),
                v["lines"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hours,
        vec![
            ("2026-01-01T01:00:00.000Z".to_owned(), 1),
            ("2026-01-01T02:00:00.000Z".to_owned(), 1)
        ]
    );
}
