//! The Kinesis event the batcher receives, read straight from the Lambda payload.
//!
//! pushfeed reads it itself rather than through `aws_lambda_events::KinesisEvent`: that
//! type (1.2.1) turns `approximateArrivalTimestamp` into a time by printing the float and
//! reading the digits after the point as milliseconds, so `1767229200.5` becomes .005 s
//! and every arrival whose milliseconds end in 0 is wrong by up to 0.9 s. This type keeps
//! only what the batcher uses, which also makes the payload cheaper to read.

use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

/// A Lambda Kinesis event: the batch the event source mapping delivers.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct KinesisBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<KinesisBatchRecord>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct KinesisBatchRecord {
    /// `shardId-…:<sequence number>`.
    #[serde(rename = "eventID", default)]
    pub event_id: Option<String>,
    pub kinesis: KinesisData,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KinesisData {
    /// The record's bytes, base64-decoded. Data that is not valid base64 (which Kinesis
    /// never sends) is kept as its text, so it is quarantined rather than lost.
    #[serde(deserialize_with = "base64_data")]
    pub data: Vec<u8>,
    pub sequence_number: String,
    /// Approximate arrival, milliseconds since the epoch.
    #[serde(
        rename = "approximateArrivalTimestamp",
        deserialize_with = "seconds_to_ms"
    )]
    pub arrival_ms: i64,
}

fn base64_data<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text: Cow<'de, str> = Cow::deserialize(d)?;
    // SIMD base64: most of a Lambda payload is record data.
    Ok(base64_simd::STANDARD
        .decode_to_vec(text.as_bytes())
        .unwrap_or_else(|_| text.as_bytes().to_vec()))
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
    if !secs.is_finite() {
        return Err(serde::de::Error::custom(
            "approximateArrivalTimestamp is not a number",
        ));
    }
    Ok((secs * 1000.0).round() as i64)
}

impl KinesisBatchRecord {
    /// A record as the event source mapping would deliver it (for drivers and tests).
    pub fn new(shard_id: &str, sequence_number: &str, data: Vec<u8>, arrival_ms: i64) -> Self {
        KinesisBatchRecord {
            event_id: Some(format!("{shard_id}:{sequence_number}")),
            kinesis: KinesisData {
                data,
                sequence_number: sequence_number.to_owned(),
                arrival_ms,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(batch.records[0].kinesis.data, b"hi");
        }
    }

    #[test]
    fn invalid_base64_is_kept_as_text_not_an_error() {
        let json = r#"{"Records":[{"kinesis":{"data":"not base64!","sequenceNumber":"9","approximateArrivalTimestamp":1}}]}"#;
        let batch: KinesisBatch = serde_json::from_str(json).unwrap();
        assert_eq!(batch.records[0].kinesis.data, b"not base64!");
        assert_eq!(batch.records[0].event_id, None);
    }
}
