//! Reading a feed: one Kinesis record per line, either the record's own bytes or a Kinesis
//! record envelope (Lambda's `{"kinesis":{"data":…}}` or GetRecords' `{"Data":…}`) with
//! base64 data — so real captures replay as they are.

use base64::Engine as _;
use serde_json::Value;

/// One record read from a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRecord {
    pub data: Vec<u8>,
    /// From the envelope, when it has one.
    pub sequence_number: Option<String>,
    pub arrival_ms: Option<i64>,
}

/// Parse one line (without its newline). A text line's trailing `\r` is the CRLF line
/// ending of a file written on Windows, and dropped; a binary record (not UTF-8) keeps
/// every byte, so its quarantine row holds exactly what was sent.
pub fn parse_line(line: &[u8]) -> FeedRecord {
    let line = match line.strip_suffix(b"\r") {
        Some(text) if std::str::from_utf8(text).is_ok() => text,
        _ => line,
    };
    if line.starts_with(b"{\"kinesis\"")
        || line.starts_with(b"{\"Data\"")
        || line.starts_with(b"{\"SequenceNumber\"")
    {
        if let Ok(v) = serde_json::from_slice::<Value>(line) {
            if let Some(rec) = envelope(&v) {
                return rec;
            }
        }
    }
    FeedRecord {
        data: line.to_vec(),
        sequence_number: None,
        arrival_ms: None,
    }
}

fn envelope(v: &Value) -> Option<FeedRecord> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let (inner, data_key, seq_key, ts_key) = if let Some(k) = v.get("kinesis") {
        (k, "data", "sequenceNumber", "approximateArrivalTimestamp")
    } else {
        (v, "Data", "SequenceNumber", "ApproximateArrivalTimestamp")
    };
    let data = b64.decode(inner.get(data_key)?.as_str()?).ok()?;
    let arrival_ms = match inner.get(ts_key) {
        Some(Value::Number(n)) => n.as_f64().map(|s| (s * 1000.0) as i64),
        Some(Value::String(s)) => pushfeed_core::timefmt::parse_iso(s).ok(),
        _ => None,
    };
    Some(FeedRecord {
        data,
        sequence_number: inner
            .get(seq_key)
            .and_then(Value::as_str)
            .map(str::to_owned),
        arrival_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_lines_and_both_envelopes() {
        assert_eq!(parse_line(b"{\"id\":1}\r").data, b"{\"id\":1}");
        // Binary bytes are the record's own: a trailing 0x0D is one of them.
        assert_eq!(parse_line(b"\xff\xfe\x00\r").data, b"\xff\xfe\x00\r");
        let lambda = parse_line(br#"{"kinesis":{"data":"aGk=","sequenceNumber":"42","approximateArrivalTimestamp":1767225600.5}}"#);
        assert_eq!(
            (
                lambda.data,
                lambda.sequence_number.as_deref(),
                lambda.arrival_ms
            ),
            (b"hi".to_vec(), Some("42"), Some(1_767_225_600_500))
        );
        let get_records = parse_line(br#"{"Data":"aGk=","SequenceNumber":"7","ApproximateArrivalTimestamp":"2026-01-01T00:00:00Z"}"#);
        assert_eq!(
            (get_records.data, get_records.arrival_ms),
            (b"hi".to_vec(), Some(1_767_225_600_000))
        );
        let bad = parse_line(br#"{"kinesis":{"data":"not base64!"}}"#);
        assert_eq!(
            bad.data, br#"{"kinesis":{"data":"not base64!"}}"#,
            "a broken envelope is kept as the record itself"
        );
    }
}
