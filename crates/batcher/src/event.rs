//! The Kinesis event the batcher receives, read straight from the Lambda payload.
//!
//! pushfeed reads it itself rather than through `aws_lambda_events::KinesisEvent`: that
//! type (1.2.1) turns `approximateArrivalTimestamp` into a time by printing the float and
//! reading the digits after the point as milliseconds, so `1767229200.5` becomes .005 s
//! and every arrival whose milliseconds end in 0 is wrong by up to 0.9 s. This type keeps
//! only what the batcher uses, which also makes the payload cheaper to read.

use bytes::Bytes;
use pushfeed_core::json::{self, Tape, Val};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

/// A Lambda Kinesis event: the batch the event source mapping delivers. `Records` is
/// required: a payload without it is not a Kinesis event (a wrongly wired trigger).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct KinesisBatch {
    #[serde(rename = "Records")]
    pub records: Vec<KinesisBatchRecord>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct KinesisBatchRecord {
    /// `shardId-…:<sequence number>`.
    #[serde(rename = "eventID", default)]
    pub event_id: Option<SharedText>,
    pub kinesis: KinesisData,
    /// The shard part of `event_id`, found by [`KinesisBatch::from_json`] while the
    /// payload is being read ([`KinesisBatchRecord::shard_id`] finds it otherwise).
    #[serde(skip)]
    shard: Option<SharedText>,
}

/// Records are equal when what Lambda sent is: `shard` is only `event_id` read ahead.
impl PartialEq for KinesisBatchRecord {
    fn eq(&self, other: &Self) -> bool {
        self.event_id == other.event_id && self.kinesis == other.kinesis
    }
}

/// The shard id in a Lambda event id, `shardId-…:<sequence number>`.
fn shard_of(event_id: Option<&str>) -> &str {
    event_id
        .and_then(|id| shard_len(id.as_bytes()).map(|n| &id[..n]))
        .unwrap_or(UNKNOWN_SHARD)
}

/// How long the shard part of an event id is (the bytes before its first `:`, an ASCII
/// byte, so a prefix of text is text); none when that part is empty.
fn shard_len(event_id: &[u8]) -> Option<usize> {
    let n = event_id
        .iter()
        .position(|b| *b == b':')
        .unwrap_or(event_id.len());
    (n > 0).then_some(n)
}

/// The shard of a record whose event id does not say.
const UNKNOWN_SHARD: &str = "unknown-shard";

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KinesisData {
    /// The record's bytes, base64-decoded. Data that is not valid base64 (which Kinesis
    /// never sends) is kept as its text, so it is quarantined rather than lost.
    /// [`KinesisBatch::from_json`] decodes all records into one buffer these share.
    #[serde(deserialize_with = "base64_data")]
    pub data: Bytes,
    pub sequence_number: SharedText,
    /// Approximate arrival, milliseconds since the epoch.
    #[serde(
        rename = "approximateArrivalTimestamp",
        deserialize_with = "seconds_to_ms"
    )]
    pub arrival_ms: i64,
}

/// Text held in a shared buffer: [`KinesisBatch::from_json`] keeps every record's event id
/// and sequence number in the buffer its data is decoded into, instead of two allocations
/// per record (for 4,665 small records, malloc and free were 7 % of a batch's
/// instructions). Reads as a `&str`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SharedText(Bytes);

impl SharedText {
    /// Bytes of a shared buffer that are UTF-8 (text copied in from a `&str`).
    fn of(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        SharedText(bytes)
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: a SharedText is only made from text: `From<String>`, `From<&str>`,
        // `Deserialize` (a String), and `of`, which `from_json` calls only on the bytes of
        // a `&str` it copied into its buffer, or on a prefix of them ending before an ASCII
        // `:`. Checking again on every read cost more than the check: the handler reads
        // every record's sequence number before decoding any, and the check touched each
        // one's bytes in a buffer of megabytes long since written (6.5 % of a batch's time
        // under perf, most of it waiting on memory).
        debug_assert!(std::str::from_utf8(&self.0).is_ok());
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

impl std::ops::Deref for SharedText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for SharedText {
    fn from(s: String) -> Self {
        SharedText(Bytes::from(s.into_bytes()))
    }
}

impl From<&str> for SharedText {
    fn from(s: &str) -> Self {
        SharedText(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl std::fmt::Debug for SharedText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<'de> Deserialize<'de> for SharedText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SharedText::from)
    }
}

fn base64_data<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    let text: Cow<'de, str> = Cow::deserialize(d)?;
    let mut out = Vec::new();
    decode_data(&text, &mut out);
    Ok(out.into())
}

fn seconds_to_ms<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num<'a> {
        F(f64),
        S(Cow<'a, str>),
    }
    let secs = match Num::deserialize(d)? {
        Num::F(f) => f,
        Num::S(s) => s.trim().parse::<f64>().map_err(serde::de::Error::custom)?,
    };
    arrival_ms(secs).map_err(serde::de::Error::custom)
}

/// Why a payload is not a Kinesis event the batcher can read (the invocation fails as
/// `InvalidEvent`; Lambda retries the batch, then sends it to the failure destination).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the Kinesis event is not UTF-8 (at byte {0})")]
    NotUtf8(usize),
    #[error("the Kinesis event cannot be read: {0}")]
    NotJson(String),
    #[error("not a Kinesis event: no Records array (keys: {})", .0.join(", "))]
    NoRecords(Vec<String>),
    #[error("the Kinesis event cannot be read: Records[{index}]: {why}")]
    Record { index: usize, why: String },
    #[error("no payload was read for request {0}")]
    NotRead(String),
}

impl KinesisBatch {
    /// Read the event straight from the payload bytes, as the batcher Lambda does: one
    /// pass of pushfeed's JSON reader over the 6 MB instead of serde_json's, with the
    /// record data base64-decoded with SIMD. Gives what `serde_json::from_slice` gives for
    /// every payload Lambda sends (tests compare the two); an error names what is wrong.
    pub fn from_json(body: &[u8]) -> Result<KinesisBatch, PayloadError> {
        // Every record's data, decoded into one buffer (base64 is 4/3 of its bytes).
        let mut arena = Vec::with_capacity(body.len() / 4 * 3);
        let mut records = Vec::with_capacity(body.len() / 1200 + 1);
        let mut bad_record = None;
        let found = Tape::default()
            .for_each_element(body, "Records", &["eventID", "kinesis"], |index, r| {
                match record(r, &mut arena) {
                    Ok(read) => records.push(read),
                    Err(why) => {
                        let message = format!("Records[{index}]: {why}");
                        bad_record = Some(PayloadError::Record { index, why });
                        return Err(message);
                    }
                }
                Ok(())
            })
            // UTF-8 is checked as the payload is read (base64 data is read once, not
            // twice); a payload that fails is checked apart, so one that is not UTF-8 is
            // reported as such whatever else is wrong with it, as before.
            .map_err(|e| match json::utf8(body) {
                Err(at) => PayloadError::NotUtf8(at),
                Ok(_) => bad_record.take().unwrap_or(PayloadError::NotJson(e)),
            })?;
        if !found {
            // A wrongly wired trigger (or a test event) must not pass for an empty batch.
            let mut keys = Vec::new();
            let mut tape = Tape::default();
            if let Ok(root) = tape.parse_bytes(body) {
                if let Some(o) = tape.val(root).object() {
                    keys = o.iter().take(8).map(|(k, _)| k.to_string()).collect();
                }
            }
            return Err(PayloadError::NoRecords(keys));
        }
        let arena = Bytes::from(arena);
        let records = records
            .into_iter()
            .map(
                |(event_id, shard, data, sequence_number, arrival_ms)| KinesisBatchRecord {
                    event_id: event_id.map(|r| SharedText::of(arena.slice(r))),
                    shard: shard.map(|r| SharedText::of(arena.slice(r))),
                    kinesis: KinesisData {
                        data: arena.slice(data),
                        sequence_number: SharedText::of(arena.slice(sequence_number)),
                        arrival_ms,
                    },
                },
            )
            .collect();
        Ok(KinesisBatch { records })
    }
}

/// A JSON string's text, appended to the arena; where it is there.
fn text(v: Val<'_>, arena: &mut Vec<u8>) -> Option<std::ops::Range<usize>> {
    let start = arena.len();
    arena.extend_from_slice(v.str()?.as_bytes());
    Some(start..arena.len())
}

/// A record read: where its event id, data and sequence number are in the arena, and its
/// arrival.
type Span = std::ops::Range<usize>;
type RecordRead = (Option<Span>, Option<Span>, Span, Span, i64);

fn record(r: Val<'_>, arena: &mut Vec<u8>) -> Result<RecordRead, String> {
    let r = r.object().ok_or("not an object")?;
    // One pass over each object's members (a look-up per field cost more).
    let (mut event_id, mut kinesis) = (None, None);
    for (key, v) in r.iter() {
        match key.as_ref() {
            "eventID" => event_id = Some(v),
            "kinesis" => kinesis = Some(v),
            _ => {}
        }
    }
    // The id, and its shard part (`shardId-…` before the `:`) while its bytes are at
    // hand; an id without one is of the unknown shard ([`KinesisBatchRecord::shard_id`]).
    let (event_id, shard) = match event_id {
        None => (None, None),
        Some(v) if v.first_byte() == b'n' => (None, None),
        Some(v) => {
            let id = text(v, arena).ok_or("eventID is not a string")?;
            let shard = shard_len(&arena[id.clone()]).map(|n| id.start..id.start + n);
            (Some(id), shard)
        }
    };
    let k = kinesis
        .ok_or("missing field `kinesis`")?
        .object()
        .ok_or("kinesis is not an object")?;
    let (mut data, mut sequence_number, mut ts) = (None, None, None);
    for (key, v) in k.iter() {
        match key.as_ref() {
            "data" => data = Some(v),
            "sequenceNumber" => sequence_number = Some(v),
            "approximateArrivalTimestamp" => ts = Some(v),
            _ => {}
        }
    }
    let data = data.ok_or("missing field `data`")?;
    let start = arena.len();
    let raw = data.get();
    let content = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"'));
    let content = content.ok_or("data is not a string")?;
    // Base64 holds no escapes: only data that does not decode is looked at again, escapes
    // resolved (JSON allows "\/"), and kept as text if still not base64, as serde does.
    if !base64_into(content, arena) {
        decode_data(&json::unescape(content), arena);
    }
    let data = start..arena.len();
    let sequence_number = sequence_number.ok_or("missing field `sequenceNumber`")?;
    let sequence_number = text(sequence_number, arena).ok_or("sequenceNumber is not a string")?;
    let ts = ts.ok_or("missing field `approximateArrivalTimestamp`")?;
    let secs = match ts.first_byte() {
        b'"' => ts.str().and_then(|s| s.trim().parse::<f64>().ok()),
        b'-' | b'0'..=b'9' => ts.get().parse::<f64>().ok(),
        _ => None,
    };
    let arrival_ms = arrival_ms(secs.ok_or("approximateArrivalTimestamp is not a number")?)
        .map_err(str::to_owned)?;
    Ok((event_id, shard, data, sequence_number, arrival_ms))
}

/// Base64 text decoded (SIMD) and appended to `out`; false (and `out` as it was) when
/// the text is not base64.
fn base64_into(text: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let ok = base64_simd::STANDARD
        .decode_append(text.as_bytes(), out)
        .is_ok();
    if !ok {
        out.truncate(start);
    }
    ok
}

/// Base64 text decoded and appended to `out`; text that is not base64, as it is.
fn decode_data(text: &str, out: &mut Vec<u8>) {
    if !base64_into(text, out) {
        out.extend_from_slice(text.as_bytes());
    }
}

fn arrival_ms(secs: f64) -> Result<i64, &'static str> {
    if !secs.is_finite() {
        return Err("approximateArrivalTimestamp is not a number");
    }
    Ok((secs * 1000.0).round() as i64)
}

impl KinesisBatchRecord {
    /// A record as the event source mapping would deliver it (for drivers and tests).
    pub fn new(shard_id: &str, sequence_number: &str, data: Vec<u8>, arrival_ms: i64) -> Self {
        KinesisBatchRecord {
            event_id: Some(format!("{shard_id}:{sequence_number}").into()),
            kinesis: KinesisData {
                data: data.into(),
                sequence_number: sequence_number.into(),
                arrival_ms,
            },
            shard: None,
        }
    }

    /// The record's shard id (`shardId-…`, from the event id), or `unknown-shard`.
    pub fn shard_id(&self) -> &str {
        match &self.shard {
            Some(shard) => shard,
            None => shard_of(self.event_id.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_shard_is_the_part_of_its_event_id_before_the_colon() {
        let body = br#"{"Records":[{"eventID":"shardId-000000000007:49590","kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":1}},{"eventID":":7","kinesis":{"data":"aGk=","sequenceNumber":"2","approximateArrivalTimestamp":1}},{"kinesis":{"data":"aGk=","sequenceNumber":"3","approximateArrivalTimestamp":1}},{"eventID":"sh\u00e9:1:2","kinesis":{"data":"aGk=","sequenceNumber":"4","approximateArrivalTimestamp":1}}]}"#;
        let shards: Vec<String> = KinesisBatch::from_json(body)
            .unwrap()
            .records
            .iter()
            .map(|r| r.shard_id().to_owned())
            .collect();
        assert_eq!(
            shards,
            [
                "shardId-000000000007",
                UNKNOWN_SHARD,
                UNKNOWN_SHARD,
                "sh\u{e9}"
            ]
        );
    }

    #[test]
    fn arrival_times_keep_their_milliseconds() {
        for (ts, ms) in [
            ("1767229200.5", 1_767_229_200_500),
            ("1767229200.12", 1_767_229_200_120),
            ("1767229200.123", 1_767_229_200_123),
            ("1767229200", 1_767_229_200_000),
            ("\"1767229200.25\"", 1_767_229_200_250),
        ] {
            let json = format!(
                r#"{{"Records":[{{"eventID":"shardId-0:1","kinesis":{{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":{ts},"partitionKey":"p"}}}}]}}"#
            );
            let batch: KinesisBatch = serde_json::from_str(&json).unwrap();
            assert_eq!(batch.records[0].kinesis.arrival_ms, ms, "{ts}");
            assert_eq!(&batch.records[0].kinesis.data[..], b"hi");
        }
    }

    /// The batcher's own reader and serde_json read the same thing (or both refuse).
    fn same_as_serde(json: &str) {
        let fast = KinesisBatch::from_json(json.as_bytes());
        let serde = serde_json::from_str::<KinesisBatch>(json);
        match (&fast, &serde) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{json}");
                // The shard found while reading is the one the event id names.
                for (a, b) in a.records.iter().zip(&b.records) {
                    assert_eq!(a.shard_id(), b.shard_id(), "{json}");
                    assert_eq!(a.shard_id(), shard_of(b.event_id.as_deref()), "{json}");
                }
            }
            (Err(_), Err(_)) => {}
            _ => panic!("{json}: from_json {fast:?}, serde {serde:?}"),
        }
    }

    #[test]
    fn reads_lambda_payloads_as_serde_does() {
        let (payload, n) = crate::sample::lambda_payload(50, usize::MAX);
        let fast = KinesisBatch::from_json(&payload).unwrap();
        assert_eq!(fast.records.len(), n);
        assert_eq!(
            fast,
            serde_json::from_slice::<KinesisBatch>(&payload).unwrap()
        );
        for json in [
            r#"{"Records":[]}"#,
            r#"{}"#,
            r#"{"Records":[{"eventID":null,"kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":"1767229200.25"}}]}"#,
            r#"{"Records":[{"eventID":"shardId-000000000007:49590","kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":1}},{"eventID":"no-colon","kinesis":{"data":"aGk=","sequenceNumber":"2","approximateArrivalTimestamp":1}},{"eventID":":7","kinesis":{"data":"aGk=","sequenceNumber":"3","approximateArrivalTimestamp":1}},{"eventID":"","kinesis":{"data":"aGk=","sequenceNumber":"4","approximateArrivalTimestamp":1}},{"eventID":"sh\u00e9:1:2","kinesis":{"data":"aGk=","sequenceNumber":"5","approximateArrivalTimestamp":1}}]}"#,
            r#"{"Records":[{"kinesis":{"data":"aG\/k=","sequenceNumber":"1","approximateArrivalTimestamp":1}}]}"#,
            r#"{"Records":[{"kinesis":{"data":"not base64!","sequenceNumber":"1\u0032","approximateArrivalTimestamp":1.5}}]}"#,
            r#"{"Records":[{"kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":"x"}}]}"#,
            r#"{"Records":[{"kinesis":{"data":"aGk=","sequenceNumber":1,"approximateArrivalTimestamp":1}}]}"#,
            r#"{"Records":[{"kinesis":{"data":"aGk=","approximateArrivalTimestamp":1}}]}"#,
            r#"{"Records":[{"eventID":7,"kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":1}}]}"#,
            r#"{"Records":{}}"#,
            r#"{"Records":[{"kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":1e999}}]}"#,
            r#"{"Records":[{"kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":1}}"#,
        ] {
            same_as_serde(json);
        }
        // serde's derive would also read a struct from an array; Lambda never sends one.
        assert!(KinesisBatch::from_json(b"[]").is_err());
        // Not a Kinesis event at all: refused, naming what it has.
        let err =
            KinesisBatch::from_json(br#"{"foo":1,"detail-type":"Scheduled Event"}"#).unwrap_err();
        assert_eq!(
            err,
            PayloadError::NoRecords(vec!["foo".into(), "detail-type".into()])
        );
        assert_eq!(
            err.to_string(),
            "not a Kinesis event: no Records array (keys: foo, detail-type)"
        );
        let err = KinesisBatch::from_json(
            br#"{"Records":[{"kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":1}},{"kinesis":{"data":"aGk="}}]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, PayloadError::Record { index: 1, why } if why.contains("sequenceNumber")),
            "{err:?}"
        );
        assert!(matches!(
            KinesisBatch::from_json(b"\xff"),
            Err(PayloadError::NotUtf8(0))
        ));
        // Bytes past ASCII are checked as the payload is read, in every string — a member
        // the batcher skips, a key, the data — and outside strings; a payload that is not
        // UTF-8 is refused as such, at its first bad byte, even when a record before it is
        // wrong too.
        let record = br#"{"Records":[{"kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":1},"eventSource":"aws:kinesis"#;
        for (before, bad, after) in [
            (&record[..], &b"\xff"[..], &br#""}]}"#[..]),
            (&record[..], b"\xc3\xa9\xed\xa0\x80", br#""}]}"#),
            (
                br#"{"Records":[{"kinesis":{"data":"aGk"#,
                b"\xe2\x82",
                br#"="}}]}"#,
            ),
            (
                br#"{"Records":[{"kinesis":{"da"#,
                b"\xf4\x90\x80\x80",
                br#"ta":"aGk="}}]}"#,
            ),
            (br#"{"Records":[{"kinesis":{}} "#, b"\xff", br#"]}"#),
        ] {
            let body = [before, bad, after].concat();
            let at = std::str::from_utf8(&body).unwrap_err().valid_up_to();
            assert_eq!(
                KinesisBatch::from_json(&body),
                Err(PayloadError::NotUtf8(at)),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
        // Text past ASCII that is UTF-8 is read as it is.
        let body = [&record[..], "é日😀".as_bytes(), br#""}]}"#].concat();
        assert_eq!(KinesisBatch::from_json(&body).unwrap().records.len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn reads_any_record_data_as_serde_does(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            escape_slashes in proptest::prelude::any::<bool>(),
            ts in 0u64..4_000_000_000_000,
            seq in "[0-9]{1,56}",
        ) {
            use base64::Engine as _;
            let mut b64 = base64::engine::general_purpose::STANDARD.encode(&data);
            if escape_slashes {
                b64 = b64.replace('/', "\\/");
            }
            let json = format!(
                r#"{{"Records":[{{"eventID":"shardId-000000000001:{seq}","kinesis":{{"kinesisSchemaVersion":"1.0","partitionKey":"p","data":"{b64}","sequenceNumber":"{seq}","approximateArrivalTimestamp":{}.{:03}}},"eventSource":"aws:kinesis"}}]}}"#,
                ts / 1000, ts % 1000
            );
            let fast = KinesisBatch::from_json(json.as_bytes()).unwrap();
            proptest::prop_assert_eq!(&fast.records[0].kinesis.data, &data);
            proptest::prop_assert_eq!(fast.records[0].kinesis.arrival_ms, ts as i64);
            proptest::prop_assert_eq!(fast, serde_json::from_str::<KinesisBatch>(&json).unwrap());
        }
    }

    /// Records of every shape the reader tells apart — members missing, of the wrong kind,
    /// escaped keys, members it skips (nested, numbers beyond a double) — read as serde
    /// reads them (each key once: serde's derive refuses a repeated field).
    fn record_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        use proptest::sample::select;
        let kinesis_member = |k: usize| -> Vec<&'static str> {
            match k {
                0 => vec![
                    r#""data":"aGk=""#,
                    r#""data":"aG\/k=""#,
                    r#""data":1"#,
                    r#""d\u0061ta":"aGk=""#,
                ],
                1 => vec![
                    r#""sequenceNumber":"49""#,
                    r#""sequenceNumber":null"#,
                    r#""sequence\u004eumber":"50""#,
                ],
                2 => vec![
                    r#""approximateArrivalTimestamp":1767229200.5"#,
                    r#""approximateArrivalTimestamp":"12.5""#,
                    r#""approximateArrivalTimestamp":[1]"#,
                    r#""approximateArrivalTimestamp":1e999"#,
                ],
                _ => vec![r#""partitionKey":{"a":[1,2,{"b":null}],"n":1e999}"#],
            }
        };
        let kinesis = proptest::sample::subsequence(vec![0usize, 1, 2, 3], 0..=4)
            .prop_flat_map(move |ks| {
                ks.into_iter()
                    .map(|k| select(kinesis_member(k)))
                    .collect::<Vec<_>>()
            })
            .prop_map(|m| format!("{{{}}}", m.join(",")));
        let member = move |k: usize| -> BoxedStrategy<String> {
            match k {
                0 => prop_oneof![
                    kinesis.clone().prop_map(|o| format!(r#""kinesis":{o}"#)),
                    kinesis
                        .clone()
                        .prop_map(|o| format!(r#""kine\u0073is":{o}"#)),
                    select(vec![
                        r#""kinesis":"x""#,
                        r#""kinesis":[{"data":"aGk="}]"#,
                        r#""kinesis":null"#
                    ])
                    .prop_map(str::to_owned),
                ]
                .boxed(),
                1 => select(vec![
                    r#""eventID":"shardId-1:2""#,
                    r#""eventID":null"#,
                    r#""eventID":5"#,
                ])
                .prop_map(str::to_owned)
                .boxed(),
                _ => select(vec![
                    r#""eventSource":"aws:kinesis""#,
                    r#""x":[[[{"y":1e999}]]]"#,
                ])
                .prop_map(str::to_owned)
                .boxed(),
            }
        };
        prop_oneof![
            8 => proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3)
                .prop_shuffle()
                .prop_flat_map(move |ks| ks.into_iter().map(&member).collect::<Vec<_>>())
                .prop_map(|m| format!("{{{}}}", m.join(","))),
            1 => select(vec!["1", "[]", r#""r""#, "null"]).prop_map(str::to_owned),
        ]
    }

    proptest::proptest! {
        #[test]
        fn reads_records_of_every_shape_as_serde_does(
            records in proptest::collection::vec(record_text(), 0..4),
        ) {
            same_as_serde(&format!(r#"{{"Records":[{}]}}"#, records.join(",")));
        }
    }

    /// What is wrong with a record, said for each way it can be wrong — after the record
    /// is read whole: one that is not JSON is reported as such.
    #[test]
    fn a_bad_record_is_named_with_what_is_wrong() {
        let ok = r#""data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":1"#;
        for (record, why) in [
            ("7".to_string(), "not an object"),
            (r#"{"eventID":1}"#.to_string(), "eventID is not a string"),
            (r#"{"eventID":"a:1"}"#.to_string(), "missing field `kinesis`"),
            (r#"{"kinesis":[1]}"#.to_string(), "kinesis is not an object"),
            (r#"{"kinesis":{}}"#.to_string(), "missing field `data`"),
            (r#"{"kinesis":{"data":1}}"#.to_string(), "data is not a string"),
            (r#"{"kinesis":{"data":"aGk="}}"#.to_string(), "missing field `sequenceNumber`"),
            (format!(r#"{{"kinesis":{{{ok}}},"kinesis":{{"data":"aGk="}}}}"#), "missing field `sequenceNumber`"),
            (r#"{"kinesis":{"data":"aGk=","sequenceNumber":1}}"#.to_string(), "sequenceNumber is not a string"),
            (r#"{"kinesis":{"data":"aGk=","sequenceNumber":"1","approximateArrivalTimestamp":"x"}}"#.to_string(), "approximateArrivalTimestamp is not a number"),
        ] {
            let body = format!(r#"{{"Records":[{{"kinesis":{{{ok}}}}},{record}]}}"#);
            assert_eq!(
                KinesisBatch::from_json(body.as_bytes()),
                Err(PayloadError::Record { index: 1, why: why.into() }),
                "{body}"
            );
        }
        // A record whose kinesis member is wrong and which is not JSON further on: not JSON.
        let body = format!(r#"{{"Records":[{{"kinesis":{{{ok}}}}},{{"kinesis":1,"x":tru}}]}}"#);
        assert!(
            matches!(
                KinesisBatch::from_json(body.as_bytes()),
                Err(PayloadError::NotJson(_))
            ),
            "{body}"
        );
        // A repeated kinesis member: the last one, whole.
        let body = format!(r#"{{"Records":[{{"kinesis":{{"data":"eA=="}},"kinesis":{{{ok}}}}}]}}"#);
        assert_eq!(
            &KinesisBatch::from_json(body.as_bytes()).unwrap().records[0]
                .kinesis
                .data[..],
            b"hi"
        );
    }

    #[test]
    fn invalid_base64_is_kept_as_text_not_an_error() {
        let json = r#"{"Records":[{"kinesis":{"data":"not base64!","sequenceNumber":"9","approximateArrivalTimestamp":1}}]}"#;
        let batch: KinesisBatch = serde_json::from_str(json).unwrap();
        assert_eq!(&batch.records[0].kinesis.data[..], b"not base64!");
        assert_eq!(batch.records[0].event_id, None);
    }
}
