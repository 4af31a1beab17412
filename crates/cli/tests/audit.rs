//! The audit trail on the embedded pipeline: a generated feed spread over hours balances
//! hour by hour (and again when re-sent); a Firehose record lost or an object deleted
//! before loading shows as missing in exactly its table and hours, with the right count.

use base64::Engine as _;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// 2026-01-05T00:00:00Z.
const DAY: i64 = 1_767_571_200;
/// Records per hour of arrival; a multiple of the batch size, so no batch spans two hours.
const PER_HOUR: usize = 200;
const BATCH: &str = "100";

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "pushfeed-audit-{name}-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pushfeed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushfeed"))
        .args(args)
        .output()
        .unwrap()
}

/// A generated feed whose records arrive PER_HOUR to the hour, from DAY on.
fn feed(dir: &Path) -> PathBuf {
    let raw = dir.join("raw.jsonl");
    let out = pushfeed(&[
        "generate",
        "--events",
        "4000",
        "--seed",
        "11",
        "--bad-rate",
        "0.02",
        "--duplicate-rate",
        "0.02",
        "--output",
        raw.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = std::fs::read_to_string(&raw).unwrap();
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let at = DAY + (i / PER_HOUR) as i64 * 3600 + (i % PER_HOUR) as i64;
            let seq = format!("{:056}", i + 1);
            let mut v: Value = match serde_json::from_str::<Value>(line) {
                Ok(v) if v.get("kinesis").is_some() => v,
                _ => json!({"kinesis": {"data": b64.encode(line)}}),
            };
            v["kinesis"]["approximateArrivalTimestamp"] = json!(at);
            v["kinesis"]["sequenceNumber"] = json!(seq);
            v.to_string()
        })
        .collect();
    let path = dir.join("feed.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

fn run(feed: &Path, data: &Path, extra: &[&str]) -> (Value, i32) {
    let mut args = vec![
        "run",
        "--quiet",
        "--json",
        "--batch-size",
        BATCH,
        "--input",
        feed.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = pushfeed(&args);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "run printed no summary ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (summary, out.status.code().unwrap_or(-1))
}

fn audit(data: &Path) -> (Value, i32) {
    let out = pushfeed(&[
        "audit",
        "--json",
        "--since",
        "2026-01-04T00:00:00Z",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    (
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("audit: {e}: {}", String::from_utf8_lossy(&out.stderr))),
        out.status.code().unwrap_or(-1),
    )
}

fn rows(report: &Value) -> &Vec<Value> {
    report["rows"].as_array().unwrap()
}

#[test]
fn a_generated_feed_balances_hour_by_hour_and_again_when_resent() {
    let dir = tempdir("balanced");
    let feed = feed(&dir);
    let data = dir.join("data");
    let (first, code) = run(&feed, &data, &[]);
    assert_eq!(code, 0);
    assert_eq!(first["balanced"], true);
    assert_eq!(first["lines_audited"], first["lines_written"]);
    let (report, code) = audit(&data);
    assert_eq!(code, 0);
    let hours: std::collections::BTreeSet<&str> = rows(&report)
        .iter()
        .map(|r| r["hour"].as_str().unwrap())
        .collect();
    let records = std::fs::read_to_string(&feed).unwrap().lines().count();
    assert_eq!(
        hours.len(),
        records.div_ceil(PER_HOUR),
        "one set of cells per hour of arrival"
    );
    assert!(hours.contains("2026-01-05T00:00:00.000Z"));
    for r in rows(&report) {
        assert_eq!(r["status"], "balanced", "{r}");
        assert_eq!(r["sent"], r["lines_loaded"]);
    }
    assert!(rows(&report)
        .iter()
        .any(|r| r["table"] == "push_quarantine"));
    assert_eq!(report["sent"], first["lines_written"]);
    assert_eq!(
        report["rows_inserted"].as_u64().unwrap(),
        first["rows_loaded"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>()
    );
    assert!(
        report["duplicates_dropped"].as_u64().unwrap() > 0,
        "the vendor's own redeliveries are dropped and counted"
    );

    // The same records again (a re-sent batch): every line is sent and found again, as a
    // duplicate; every hour still balances.
    let (again, code) = run(&feed, &data, &[]);
    assert_eq!((code, &again["balanced"]), (0, &json!(true)));
    let (twice, _) = audit(&data);
    assert_eq!(
        twice["sent"].as_i64().unwrap(),
        2 * report["sent"].as_i64().unwrap()
    );
    assert_eq!(
        twice["rows_inserted"], report["rows_inserted"],
        "nothing doubled"
    );
    assert!(rows(&twice).iter().all(|r| r["status"] == "balanced"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_lost_firehose_record_is_missing_in_exactly_its_hour_and_table() {
    let dir = tempdir("lost");
    let feed = feed(&dir);
    let data = dir.join("data");
    let (summary, code) = run(&feed, &data, &["--drill-lose-record", "open:3"]);
    assert_eq!(code, 3, "the run's own balance check fails");
    assert_eq!(summary["balanced"], false);
    let lost = summary["drill_lost_lines"].as_i64().unwrap();
    assert!(lost > 0);
    let (report, code) = audit(&data);
    assert_eq!(code, 3, "audit exits 3 when events are missing");
    let bad: Vec<&Value> = rows(&report)
        .iter()
        .filter(|r| r["status"] != "balanced")
        .collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0]["status"], "missing");
    assert_eq!(bad[0]["table"], "push_open");
    assert_eq!(bad[0]["missing"].as_i64().unwrap(), lost);
    // The third batch's records arrived in the second hour (PER_HOUR / batch = 2 batches an hour).
    assert_eq!(bad[0]["hour"], "2026-01-05T01:00:00.000Z");
    assert_eq!(report["missing"].as_i64().unwrap(), lost);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_deleted_object_is_missing_in_its_table_and_counted_line_for_line() {
    let dir = tempdir("deleted");
    let feed = feed(&dir);
    let data = dir.join("data");
    let (summary, code) = run(
        &feed,
        &data,
        &["--drill-delete-object", "send:1", "--buffer-mib", "1"],
    );
    assert_eq!(code, 3);
    let deleted = summary["drill_deleted_lines"].as_i64().unwrap();
    assert!(deleted > 0);
    let (report, _) = audit(&data);
    let bad: Vec<&Value> = rows(&report)
        .iter()
        .filter(|r| r["status"] != "balanced")
        .collect();
    assert!(!bad.is_empty());
    assert!(
        bad.iter()
            .all(|r| r["table"] == "push_send" && r["status"] == "missing"),
        "{bad:?}"
    );
    assert_eq!(
        bad.iter()
            .map(|r| r["missing"].as_i64().unwrap())
            .sum::<i64>(),
        deleted
    );
    assert!(rows(&report)
        .iter()
        .filter(|r| r["table"] != "push_send")
        .all(|r| r["status"] == "balanced"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_object_never_loaded_is_in_flight_until_reconcile_loads_it() {
    let dir = tempdir("inflight");
    let feed = feed(&dir);
    let data = dir.join("data");
    // The loader never hears of the first open object (a lost S3 notification).
    let (summary, code) = run(&feed, &data, &["--drill-skip-load", "open:1"]);
    assert_eq!(code, 3);
    let (report, code) = audit(&data);
    assert_eq!(
        code, 0,
        "nothing is missing: the lines are in an object still to load"
    );
    assert_eq!(report["objects_not_loaded"].as_array().unwrap().len(), 1);
    let waiting: Vec<&Value> = rows(&report)
        .iter()
        .filter(|r| r["status"] != "balanced")
        .collect();
    assert!(!waiting.is_empty());
    assert!(
        waiting
            .iter()
            .all(|r| r["table"] == "push_open" && r["status"] == "in_flight" && r["missing"] == 0),
        "{waiting:?}"
    );
    assert_eq!(
        report["in_flight"].as_i64().unwrap(),
        summary["drill_unloaded_lines"].as_i64().unwrap()
    );
    // The runbook: reconcile loads what no load recorded; then every hour balances.
    let out = pushfeed(&[
        "reconcile",
        "--since",
        "1h",
        "--until",
        "0m",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (after, code) = audit(&data);
    assert_eq!(code, 0);
    assert!(rows(&after).iter().all(|r| r["status"] == "balanced"));
    assert_eq!(
        (after["in_flight"].as_i64(), after["balanced"].as_bool()),
        (Some(0), Some(true))
    );
    std::fs::remove_dir_all(&dir).ok();
}
