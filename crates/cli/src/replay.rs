//! Batches the batcher gave up on, and `pushfeed replay`. For a Kinesis source, an SQS or
//! SNS on-failure destination receives only the batch's coordinates, and the records expire
//! with the stream's retention; an **S3** destination also receives the whole invocation
//! record ("Retain discarded batch records for a Kinesis Data Streams event source"). So
//! Terraform points the event source mapping at the data bucket, where Lambda writes one
//! object per discarded batch under `aws/lambda/<mapping>/<shard>/YYYY/MM/DD/…`, and
//! `pushfeed replay` reads those objects (from S3 or a folder) and sends their records
//! through the batcher path again. Replaying twice is harmless: the loader drops events
//! already loaded.

use crate::aws::EndpointArgs;
use anyhow::{bail, Context};
use base64::Engine as _;
use pushfeed_batcher::{
    handle_batch, new_invocation_id, AwsFirehose, Config as BatcherConfig, KinesisBatch,
    KinesisBatchRecord,
};
use pushfeed_core::BatchCounts;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Where Lambda writes discarded Kinesis batches in the bucket (before the mapping's id).
pub const FAILURE_PREFIX: &str = "aws/lambda/";

/// One Kinesis record of a discarded batch.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRecord {
    pub shard: String,
    pub seq: String,
    pub data: Vec<u8>,
    pub arrival_ms: i64,
}

/// The invocation record Lambda writes to an S3 on-failure destination: the documented
/// metadata (`requestContext`, `responseContext`, `KinesisBatchInfo`) and the whole
/// invocation event as `payload`.
pub fn failure_record(
    records: &[FailedRecord],
    function_arn: &str,
    stream_arn: &str,
    attempts: u32,
    now_ms: i64,
) -> Value {
    let event = json!({"Records": records.iter().map(|r| json!({
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "-", "sequenceNumber": r.seq,
                    "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                    "approximateArrivalTimestamp": r.arrival_ms as f64 / 1000.0},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": format!("{}:{}", r.shard, r.seq),
        "eventName": "aws:kinesis:record", "eventSourceARN": stream_arn,
    })).collect::<Vec<_>>()});
    let iso = pushfeed_core::timefmt::iso;
    json!({
        "requestContext": {"requestId": format!("{:032x}", rand::random::<u128>()), "functionArn": function_arn,
                           "condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": iso(now_ms),
        "KinesisBatchInfo": {
            "shardId": records.first().map(|r| r.shard.as_str()).unwrap_or(""),
            "startSequenceNumber": records.first().map(|r| r.seq.as_str()).unwrap_or(""),
            "endSequenceNumber": records.last().map(|r| r.seq.as_str()).unwrap_or(""),
            "approximateArrivalOfFirstRecord": records.first().map(|r| iso(r.arrival_ms)),
            "approximateArrivalOfLastRecord": records.last().map(|r| iso(r.arrival_ms)),
            "batchSize": records.len(),
            "streamArn": stream_arn,
        },
        "payload": event.to_string(),
    })
}

/// The records of one failure record (or of a plain Lambda Kinesis event). The invocation
/// event may be embedded as a JSON string or as an object.
pub fn records_of(doc: &Value) -> anyhow::Result<Vec<FailedRecord>> {
    let event = match doc.get("payload") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .context("the failure record's payload is not JSON")?,
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => bail!("the failure record's payload is neither a JSON string nor an object"),
        None if doc.get("Records").is_some() => doc.clone(),
        None => bail!(
            "not a Lambda failure record (no payload; KinesisBatchInfo {}): an SQS/SNS destination keeps only coordinates — read the records from the stream while they are retained",
            doc.get("KinesisBatchInfo").map(|v| v.to_string()).unwrap_or_else(|| "absent".into())
        ),
    };
    let shard_default = doc
        .pointer("/KinesisBatchInfo/shardId")
        .and_then(Value::as_str)
        .unwrap_or("shardId-unknown");
    let mut out = Vec::new();
    for (i, r) in event
        .get("Records")
        .and_then(Value::as_array)
        .context("the invocation record has no Records")?
        .iter()
        .enumerate()
    {
        let k = r
            .get("kinesis")
            .with_context(|| format!("record {i} has no kinesis member"))?;
        let data = k
            .get("data")
            .and_then(Value::as_str)
            .with_context(|| format!("record {i} has no data"))?;
        let seq = k
            .get("sequenceNumber")
            .and_then(Value::as_str)
            .with_context(|| format!("record {i} has no sequenceNumber"))?;
        let shard = r
            .get("eventID")
            .and_then(Value::as_str)
            .and_then(|id| id.split_once(':').map(|(s, _)| s))
            .unwrap_or(shard_default);
        out.push(FailedRecord {
            shard: shard.to_owned(),
            seq: seq.to_owned(),
            data: base64::engine::general_purpose::STANDARD
                .decode(data)
                .with_context(|| format!("record {i}: data is not base64"))?,
            arrival_ms: k
                .get("approximateArrivalTimestamp")
                .and_then(Value::as_f64)
                .map(|s| (s * 1000.0) as i64)
                .unwrap_or(0),
        });
    }
    Ok(out)
}

#[derive(clap::Args, Clone, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Failure records in S3: s3://bucket/prefix (default: the environment's data bucket, aws/lambda/).
    #[arg(long, conflicts_with = "from_dir")]
    pub from: Option<String>,
    /// Failure records in a folder (JSON files, or JSON lines), e.g. downloaded with `aws s3 cp --recursive`.
    #[arg(long)]
    pub from_dir: Option<PathBuf>,
    /// Read and count only: send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct ReplaySummary {
    pub failure_records: u64,
    pub kinesis_records: u64,
    pub events_sent: u64,
    pub quarantined: u64,
    /// Records Firehose refused again (replay again later).
    pub failed_again: u64,
}

/// Read every failure record, then send their Kinesis records through the batcher.
pub async fn replay(args: &ReplayArgs) -> anyhow::Result<ReplaySummary> {
    let c = args.endpoint.clients().await;
    let n = args.endpoint.names();
    let mut docs: Vec<(String, Value)> = Vec::new();
    if let Some(dir) = &args.from_dir {
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
                let p = e?.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("reading {}", p.display()))?;
                // A whole JSON document (as Lambda writes it), or JSON lines.
                match serde_json::from_str::<Value>(&text) {
                    Ok(v) => docs.push((p.display().to_string(), v)),
                    Err(_) => {
                        for (i, line) in text
                            .lines()
                            .enumerate()
                            .filter(|(_, l)| !l.trim().is_empty())
                        {
                            let v = serde_json::from_str(line).with_context(|| {
                                format!("{} line {}: not JSON", p.display(), i + 1)
                            })?;
                            docs.push((format!("{}:{}", p.display(), i + 1), v));
                        }
                    }
                }
            }
        }
    } else {
        let (bucket, prefix) = match &args.from {
            Some(url) => url
                .strip_prefix("s3://")
                .map(|r| r.split_once('/').unwrap_or((r, "")))
                .map(|(b, p)| (b.to_owned(), p.to_owned()))
                .with_context(|| format!("{url:?} is not s3://bucket/prefix"))?,
            None => (n.bucket(), FAILURE_PREFIX.to_owned()),
        };
        let mut token = None;
        loop {
            let out =
                c.s3.list_objects_v2()
                    .bucket(&bucket)
                    .prefix(&prefix)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("listing s3://{bucket}/{prefix}: {e:?}"))?;
            for o in out.contents() {
                let key = o.key().unwrap_or_default();
                let body =
                    c.s3.get_object()
                        .bucket(&bucket)
                        .key(key)
                        .send()
                        .await
                        .map_err(|e| anyhow::anyhow!("reading s3://{bucket}/{key}: {e:?}"))?
                        .body
                        .collect()
                        .await
                        .map_err(|e| anyhow::anyhow!("reading s3://{bucket}/{key}: {e}"))?
                        .into_bytes();
                let v = serde_json::from_slice(&body)
                    .with_context(|| format!("s3://{bucket}/{key} is not JSON"))?;
                docs.push((format!("s3://{bucket}/{key}"), v));
            }
            token = out.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    let mut summary = ReplaySummary {
        failure_records: docs.len() as u64,
        ..ReplaySummary::default()
    };
    let mut records = Vec::new();
    for (name, doc) in &docs {
        records.extend(records_of(doc).with_context(|| name.clone())?);
    }
    summary.kinesis_records = records.len() as u64;
    if args.dry_run || records.is_empty() {
        return Ok(summary);
    }
    let config = BatcherConfig {
        stream_prefix: n.firehose_prefix(),
        ..BatcherConfig::default()
    };
    let sink = AwsFirehose::new(c.firehose.clone());
    let mut counts = BatchCounts::default();
    for chunk in records.chunks(1000) {
        let event = KinesisBatch {
            records: chunk
                .iter()
                .map(|r| KinesisBatchRecord::new(&r.shard, &r.seq, r.data.clone(), r.arrival_ms))
                .collect(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        let report = handle_batch(
            &event,
            &sink,
            &config,
            Some(deadline),
            &new_invocation_id("replay"),
        )
        .await;
        summary.failed_again += report.response.batch_item_failures.len() as u64;
        counts.merge(&report.counts);
    }
    summary.events_sent = counts.events.values().sum();
    summary.quarantined = counts.quarantined.values().sum();
    if summary.failed_again > 0 {
        bail!(
            "{} of {} records were refused again by Firehose; nothing is lost — run `pushfeed replay` again once Firehose accepts them",
            summary.failed_again,
            summary.kinesis_records
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_record_round_trips_and_both_payload_forms_are_read() {
        let records = vec![
            FailedRecord {
                shard: "shardId-000000000001".into(),
                seq: "4960".into(),
                data: b"{\"a\":1}".to_vec(),
                arrival_ms: 1_767_225_600_123,
            },
            FailedRecord {
                shard: "shardId-000000000001".into(),
                seq: "4961".into(),
                data: vec![0xff, 0x00],
                arrival_ms: 1_767_225_601_000,
            },
        ];
        let doc = failure_record(
            &records,
            "arn:aws:lambda:eu-west-2:1:function:f",
            "arn:aws:kinesis:eu-west-2:1:stream/s",
            4,
            1_767_225_700_000,
        );
        assert_eq!(doc["KinesisBatchInfo"]["batchSize"], 2);
        assert_eq!(doc["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(records_of(&doc).unwrap(), records);
        let mut as_object = doc.clone();
        as_object["payload"] = serde_json::from_str(doc["payload"].as_str().unwrap()).unwrap();
        assert_eq!(records_of(&as_object).unwrap(), records);
        let event: Value = serde_json::from_str(doc["payload"].as_str().unwrap()).unwrap();
        assert_eq!(
            records_of(&event).unwrap(),
            records,
            "a plain Lambda Kinesis event too"
        );
        let sqs_style = json!({"KinesisBatchInfo": {"shardId": "s", "startSequenceNumber": "1"}});
        assert!(records_of(&sqs_style)
            .unwrap_err()
            .to_string()
            .contains("only coordinates"));
    }
}
