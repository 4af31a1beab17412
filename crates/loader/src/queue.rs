//! The loader's invocations: S3 notifications arrive through an SQS queue (the event source
//! mapping reports failed messages back, and a message that keeps failing ends in the
//! queue's dead-letter queue, from where `pushfeed redrive` returns it), or, by hand, as a
//! direct S3 event. Anything else is refused: a wrongly wired trigger must not be
//! acknowledged as an empty batch.

use crate::handler::{Loader, LoaderReport, ObjectResult};
use crate::notify::Notifier;
use crate::store::ObjectStore;
use crate::warehouse::Warehouse;
use aws_lambda_events::event::s3::S3Event;
use pushfeed_core::metrics as m;
use serde_json::Value;
use tokio::time::Instant;

/// One SQS message of the loader's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub message_id: String,
    pub body: String,
}

/// What the loader was invoked with.
#[derive(Debug)]
pub enum Invocation {
    /// From the loads queue (event source mapping).
    Queue(Vec<QueueMessage>),
    /// An S3 event, invoked directly.
    Direct(S3Event),
    /// The scheduled audit check (EventBridge rule input `{"pushfeed": "audit-check"}`).
    AuditCheck,
}

/// The EventBridge rule's input that asks for the audit check.
pub const AUDIT_CHECK_INPUT: &str = "audit-check";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("InvalidEvent: {0}")]
pub struct InvalidEvent(pub String);

/// Tell an SQS batch from an S3 event by the records' `eventSource`.
pub fn parse_invocation(payload: Value) -> Result<Invocation, InvalidEvent> {
    if payload.get("pushfeed").and_then(Value::as_str) == Some(AUDIT_CHECK_INPUT) {
        return Ok(Invocation::AuditCheck);
    }
    let records = payload
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            InvalidEvent(format!(
                "expected an SQS or S3 event with Records; got an object with keys {:?}",
                payload
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            ))
        })?;
    let source = records
        .first()
        .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
        .and_then(Value::as_str)
        .unwrap_or("");
    match source {
        "aws:sqs" => records
            .iter()
            .map(|r| {
                Ok(QueueMessage {
                    message_id: r
                        .get("messageId")
                        .and_then(Value::as_str)
                        .ok_or_else(|| InvalidEvent("an SQS record without messageId".into()))?
                        .to_owned(),
                    body: r
                        .get("body")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Invocation::Queue),
        "aws:s3" => s3_event(payload).map(Invocation::Direct),
        "" if records.is_empty() => Err(InvalidEvent("an event with no Records".into())),
        other => Err(InvalidEvent(format!(
            "records from {other:?}: the loader takes aws:sqs (its loads queue) or aws:s3"
        ))),
    }
}

/// An S3 notification as S3 writes it into a queue; `None` for S3's `s3:TestEvent` (sent
/// when the notification is configured). Read leniently where a record lacks what the
/// loader does not use (moto's notifications have no `userIdentity` or
/// `requestParameters`, and event times without an offset, read as UTC).
pub fn s3_event_from_body(body: &str) -> Result<Option<S3Event>, InvalidEvent> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| InvalidEvent(format!("an S3 notification that is not JSON: {e}")))?;
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(None);
    }
    s3_event(v).map(Some)
}

fn s3_event(mut v: Value) -> Result<S3Event, InvalidEvent> {
    if let Some(records) = v.get_mut("Records").and_then(Value::as_array_mut) {
        for r in records {
            if let Some(obj) = r.as_object_mut() {
                for field in ["userIdentity", "requestParameters"] {
                    obj.entry(field).or_insert_with(|| serde_json::json!({}));
                }
            }
            if let Some(Value::String(t)) = r.get_mut("eventTime") {
                let has_offset = t.ends_with('Z')
                    || t.rfind(['+', '-'])
                        .is_some_and(|i| i > 10 && t[i..].contains(':'));
                if !has_offset {
                    t.push('Z');
                }
            }
        }
    } else {
        return Err(InvalidEvent("an S3 event with no Records".into()));
    }
    serde_json::from_value(v)
        .map_err(|e| InvalidEvent(format!("an S3 event that cannot be read: {e}")))
}

/// What one queue batch did: the loader report, and the messages to leave on the queue.
#[derive(Debug, Default)]
pub struct QueueReport {
    pub report: LoaderReport,
    /// Messages whose objects did not all load (or that cannot be read): the event
    /// source mapping makes them visible again, and after the queue's maxReceiveCount
    /// moves them to the dead-letter queue.
    pub failed_message_ids: Vec<String>,
}

impl QueueReport {
    /// The partial batch response (`ReportBatchItemFailures`).
    pub fn response(&self) -> Value {
        serde_json::json!({
            "batchItemFailures": self.failed_message_ids.iter().map(|id| serde_json::json!({"itemIdentifier": id})).collect::<Vec<_>>()
        })
    }
}

impl<W: Warehouse, N: Notifier, O: ObjectStore> Loader<'_, W, N, O> {
    /// Load the objects of every message; report the messages that must be retried.
    pub async fn handle_queue(
        &self,
        messages: &[QueueMessage],
        now_ms: i64,
        deadline: Option<Instant>,
    ) -> QueueReport {
        let mut out = QueueReport::default();
        for msg in messages {
            match s3_event_from_body(&msg.body) {
                Ok(None) => {
                    tracing::info!(message_id = %msg.message_id, "S3 test event: nothing to load");
                }
                Ok(Some(event)) => {
                    let report = self.handle(&event, now_ms, deadline).await;
                    if report
                        .objects
                        .iter()
                        .any(|o| matches!(o, ObjectResult::Failed { .. }))
                    {
                        out.failed_message_ids.push(msg.message_id.clone());
                    }
                    out.report.metrics.merge(&report.metrics);
                    out.report.objects.extend(report.objects);
                }
                Err(e) => {
                    out.report.metrics.add(m::INVALID_LOADER_MESSAGES, 1.0);
                    tracing::error!(message_id = %msg.message_id, error = %e, body = %msg.body.chars().take(500).collect::<String>(), "loads queue message is not an S3 notification; left to reach the dead-letter queue");
                    out.failed_message_ids.push(msg.message_id.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sqs_batches_s3_events_and_anything_else() {
        let sqs = json!({"Records": [{"messageId": "m1", "body": "{}", "eventSource": "aws:sqs"}]});
        assert!(
            matches!(parse_invocation(sqs), Ok(Invocation::Queue(m)) if m[0].message_id == "m1")
        );
        let wrong = parse_invocation(json!({"foo": 1})).unwrap_err();
        assert!(wrong.0.contains("\"foo\""), "{wrong}");
        assert!(parse_invocation(json!({"Records": []})).is_err());
        let kinesis = json!({"Records": [{"eventSource": "aws:kinesis"}]});
        assert!(parse_invocation(kinesis)
            .unwrap_err()
            .0
            .contains("aws:kinesis"));
    }

    #[test]
    fn test_events_are_skipped_and_times_without_offset_read_as_utc() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-01T00:00:00.000Z","Bucket":"b"}"#;
        assert!(s3_event_from_body(test).unwrap().is_none());
        let body = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-2",
            "eventTime": "2026-01-01T13:05:10.123456", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                   "object": {"key": "push/send/x", "size": 5, "eTag": "e"}}}]});
        let e = s3_event_from_body(&body.to_string()).unwrap().unwrap();
        assert_eq!(e.records[0].event_time.timestamp(), 1_767_272_710);
        assert!(s3_event_from_body("not json").is_err());
    }
}
