//! `pushfeed run` end to end on a feed with every vendor shape and every bad-input kind:
//! each event lands once, in the right table, with the right values; the quarantine keeps
//! reason and raw bytes; a second run changes nothing.

use base64::Engine as _;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn envelope(data: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    format!(r#"{{"kinesis":{{"data":"{b64}","sequenceNumber":"seq-{}","approximateArrivalTimestamp":1767229200}}}}"#, data.len()).into_bytes()
}

fn pushfeed(args: &[&str], data_dir: &Path) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_pushfeed"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pushfeed {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sql(query: &str, data_dir: &Path) -> Vec<Value> {
    let out = pushfeed(&["sql", "--json", query], data_dir);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every fixture (single-line ones raw, others in the Kinesis envelope) and every bad kind.
fn feed() -> Vec<u8> {
    let one_line = |name: &str| {
        let v: Value = serde_json::from_slice(&fixture(name)).unwrap();
        serde_json::to_vec(&v).unwrap()
    };
    let mut lines: Vec<Vec<u8>> = vec![
        one_line("braze_nested_send.json"),
        one_line("braze_batch.json"),
        one_line("braze_flat_open.json"),
        one_line("braze_flat_no_event_type.json"),
        envelope(&fixture("airship_rtds.ndjson")),
        envelope(&fixture("not_utf8.bin")),
        envelope(b"   "),
        envelope(&[0x1f, 0x8b, 0x08, 0x00, 0x01]),
        b"{\"id\": \"truncated".to_vec(),
        b"42".to_vec(),
        b"{\"hello\":\"world\"}".to_vec(),
        br#"{"event_type":"users.messages.pushnotification.Send","id":"x-big","time":1767225600,"blob":"BIG"}"#.to_vec(),
        // A redelivery of the nested send: must not produce a second row.
        one_line("braze_nested_send.json"),
    ];
    let big = String::from_utf8(lines[11].clone())
        .unwrap()
        .replace("BIG", &"z".repeat(1_100_000));
    lines[11] = big.into_bytes();
    lines.join(&b"\n"[..])
}

#[test]
fn every_shape_and_every_bad_kind_lands_exactly_once() {
    let dir = tempdir();
    let feed_path = dir.join("feed.jsonl");
    std::fs::write(&feed_path, feed()).unwrap();
    let out = pushfeed(
        &[
            "run",
            "--quiet",
            "--json",
            "--input",
            feed_path.to_str().unwrap(),
        ],
        &dir,
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["records_read"], 13);
    assert_eq!(summary["balanced"], true);
    assert_eq!(
        summary["routed"]["send"], 4,
        "nested, batch and airship sends, plus the redelivery"
    );
    assert_eq!(summary["routed"]["click"], 2);
    assert_eq!(summary["unknown_type"], 2);
    let q = &summary["quarantined"];
    for (reason, n) in [
        ("missing_id", 1),
        ("bad_timestamp", 2),
        ("missing_event_type", 1),
        ("invalid_json", 2),
        ("not_utf8", 1),
        ("empty", 1),
        ("bad_compression", 1),
        ("not_an_object", 1),
        ("unrecognised_shape", 1),
        ("too_large", 1),
    ] {
        assert_eq!(q[reason], n, "{reason}: {q}");
    }
    assert_eq!(
        summary["rows_loaded"]["push_send"], 3,
        "the redelivered send is dropped"
    );
    assert_eq!(summary["duplicates_dropped"], 1);

    // Each event once, in the right table, with the right values.
    let send = sql(
        "SELECT * FROM push_send WHERE event_id = '3f2b9c1e-8d4a-4b6f-9e21-7c5d0a1b2c3d'",
        &dir,
    );
    assert_eq!(send.len(), 1);
    let s = &send[0];
    assert_eq!(s["occurred_at"], "2026-01-01T00:00:00.000Z");
    let received = s["received_at"].as_str().unwrap();
    assert!(
        received.len() == 24 && received.ends_with('Z') && received > "2026-01-01",
        "a raw line is received when read: {received}"
    );
    assert_eq!(s["external_user_id"], "cust-88213");
    assert_eq!(s["campaign_name"], "Winter Sale D1");
    let attrs: Value = serde_json::from_str(s["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attrs["message_extras"]["offer"], "WINTER20");
    let extras = sql("SELECT json_extract(attributes, '$.push_token') AS t FROM push_send WHERE event_id = '3f2b9c1e-8d4a-4b6f-9e21-7c5d0a1b2c3d'", &dir);
    assert_eq!(extras[0]["t"], "fcm:dGVzdC10b2tlbg");
    let clicks = sql(
        "SELECT event_id, button_action_type, vendor_event_type FROM push_click ORDER BY event_id",
        &dir,
    );
    assert_eq!(
        clicks
            .iter()
            .map(|r| r["event_id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["a8c4e2f0-1111-4222-8333-944455556666", "b-click-1"]
    );
    let opens = sql("SELECT event_id FROM push_open WHERE event_id IN ('b-click-1', 'a8c4e2f0-1111-4222-8333-944455556666')", &dir);
    assert!(opens.is_empty(), "a tap is a click or an open, never both");
    let airship = sql("SELECT vendor, platform, dispatch_id, occurred_at, received_at FROM push_open WHERE vendor = 'airship'", &dir);
    assert_eq!(airship.len(), 1);
    assert_eq!(
        airship[0]["received_at"], "2026-01-01T01:00:00.000Z",
        "an envelope's arrival time is kept"
    );
    assert_eq!(
        (
            airship[0]["platform"].as_str(),
            airship[0]["dispatch_id"].as_str()
        ),
        (Some("ios"), Some("p-100"))
    );
    let unknown = sql(
        "SELECT vendor_event_type FROM push_unknown_type ORDER BY 1",
        &dir,
    );
    assert_eq!(
        unknown
            .iter()
            .map(|r| r["vendor_event_type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["TAG_CHANGE", "users.messages.email.Send"]
    );
    let total_ids = sql("SELECT (SELECT COUNT(*) FROM push_send) + (SELECT COUNT(*) FROM push_open) + (SELECT COUNT(*) FROM push_click) + (SELECT COUNT(*) FROM push_bounce) + (SELECT COUNT(*) FROM push_abort) + (SELECT COUNT(*) FROM push_uninstall) AS n", &dir);
    assert_eq!(total_ids[0]["n"], 3 + 3 + 2 + 1 + 1 + 1);

    // The quarantine keeps reason and bytes.
    let bin = sql(
        "SELECT raw_encoding, raw, event_position FROM push_quarantine WHERE reason = 'not_utf8'",
        &dir,
    );
    let raw = base64::engine::general_purpose::STANDARD
        .decode(bin[0]["raw"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        (bin[0]["raw_encoding"].as_str(), raw),
        (Some("base64"), fixture("not_utf8.bin"))
    );
    let broken = sql("SELECT raw, event_position FROM push_quarantine WHERE reason = 'invalid_json' ORDER BY event_position", &dir);
    assert!(broken.iter().any(|r| r["event_position"] == 4
        && r["raw"]
            .as_str()
            .unwrap()
            .starts_with("{\"id\":\"broken-line\"")));
    let big = sql("SELECT chunk_index, chunk_count, length(raw) AS n FROM push_quarantine WHERE reason = 'too_large' ORDER BY chunk_index", &dir);
    assert_eq!(big.len(), big[0]["chunk_count"].as_i64().unwrap() as usize);
    let rebuilt: i64 = big.iter().map(|r| r["n"].as_i64().unwrap()).sum();
    assert!(
        rebuilt > 1_100_000,
        "the whole oversized record is kept, in chunks"
    );

    // A second run over the same feed adds nothing.
    let before = sql("SELECT COUNT(*) AS n FROM push_quarantine", &dir);
    let again = pushfeed(
        &[
            "run",
            "--quiet",
            "--json",
            "--input",
            feed_path.to_str().unwrap(),
        ],
        &dir,
    );
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    let added: u64 = again["rows_loaded"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(added, 0);
    assert_eq!(again["balanced"], true);
    assert_eq!(
        sql("SELECT COUNT(*) AS n FROM push_quarantine", &dir),
        before
    );
}

#[test]
fn help_teaches_and_errors_say_what_to_do() {
    let help = Command::new(env!("CARGO_BIN_EXE_pushfeed"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("pushfeed run") && text.contains("Start here"));
    let dir = tempdir();
    let out = Command::new(env!("CARGO_BIN_EXE_pushfeed"))
        .args(["sql", "SELECT 1", "--data-dir"])
        .arg(dir.join("nowhere"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `pushfeed run` first"));
    let out = Command::new(env!("CARGO_BIN_EXE_pushfeed"))
        .args(["run", "--bad-rate", "2"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bad-rate must be between 0 and 1"));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef pushfeed"),
        ("fish", "complete -c pushfeed"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pushfeed"))
            .args(["completions", shell])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(marker),
            "{shell}: {text:.200}"
        );
        // Every command is offered.
        for command in ["run", "audit", "generate", "reconcile", "completions"] {
            assert!(text.contains(command), "{shell} lacks {command}");
        }
    }
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `pushfeed sql … | head -1`: the pipe closes; pushfeed stops quietly with status 0.
    let dir = tempdir();
    std::fs::write(dir.join("feed.jsonl"), feed()).unwrap();
    let out = pushfeed(
        &[
            "run",
            "--quiet",
            "--input",
            dir.join("feed.jsonl").to_str().unwrap(),
        ],
        &dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushfeed"))
        .args([
            "sql",
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 300000) SELECT x FROM n",
            "--data-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    use std::io::Read as _;
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then the pipe closes
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("Broken pipe"),
        "{:?}: {stderr}",
        out.status
    );
}

#[test]
fn running_a_generated_feed_again_adds_no_row_not_even_to_the_quarantine() {
    // A generated feed's records carry no arrival time; they get a deterministic one, so
    // the second run is a redelivery: quarantine rows (whose occurred_at is the arrival)
    // are found by the dedup window like events.
    let dir = tempdir();
    let args = [
        "run",
        "--quiet",
        "--json",
        "--events",
        "3000",
        "--bad-rate",
        "0.05",
    ];
    let first: Value = serde_json::from_slice(&pushfeed(&args, &dir).stdout).unwrap();
    assert!(first["rows_loaded"]["push_quarantine"].as_u64().unwrap() > 0);
    let again: Value = serde_json::from_slice(&pushfeed(&args, &dir).stdout).unwrap();
    let added: u64 = again["rows_loaded"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(added, 0, "{}", again["rows_loaded"]);
    assert_eq!(again["balanced"], true);
    assert_eq!(
        again["audit_since"], "2026-01-05T00:00:00.000Z",
        "arrivals are spread over the generated day"
    );
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pushfeed-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
