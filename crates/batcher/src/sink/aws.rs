//! The Firehose port's AWS adapter: the SDK client, one PutRecordBatch per call, with the
//! service's own error code deciding whether a failed call is worth retrying.

use super::{EntryResult, FirehoseSink, SinkError};
use bytes::Bytes;
/// The AWS SDK Firehose client.
#[derive(Debug, Clone)]
pub struct AwsFirehose {
    client: aws_sdk_firehose::Client,
}

impl AwsFirehose {
    pub fn new(client: aws_sdk_firehose::Client) -> Self {
        AwsFirehose { client }
    }

    /// A client from the standard AWS configuration (`AWS_ENDPOINT_URL` and credentials
    /// from the environment). SDK-level retries are off: the handler retries exactly the
    /// failed entries, bounded by the invocation's remaining time.
    pub async fn from_env(attempt_timeout: std::time::Duration) -> Self {
        let shared = aws_config::load_from_env().await;
        let conf = aws_sdk_firehose::config::Builder::from(&shared)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(3))
                    .operation_attempt_timeout(attempt_timeout)
                    .operation_timeout(attempt_timeout)
                    .build(),
            )
            .build();
        AwsFirehose::new(aws_sdk_firehose::Client::from_conf(conf))
    }
}

impl FirehoseSink for AwsFirehose {
    async fn put_record_batch(
        &self,
        stream: &str,
        records: &[Bytes],
    ) -> Result<Vec<EntryResult>, SinkError> {
        use aws_sdk_firehose::error::SdkError;
        use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchError;
        use aws_sdk_firehose::primitives::Blob;
        use aws_sdk_firehose::types::Record;

        let count = records.len();
        let mut entries = Vec::with_capacity(count);
        for data in records {
            let record = Record::builder()
                .data(Blob::new(data.to_vec()))
                .build()
                .map_err(|e| SinkError::Permanent {
                    stream: stream.to_owned(),
                    message: format!("building a record: {e}"),
                })?;
            entries.push(record);
        }
        let result = self
            .client
            .put_record_batch()
            .delivery_stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await;
        match result {
            Ok(out) => {
                let responses = out.request_responses();
                if responses.len() != count {
                    // Never assume success for entries Firehose did not answer for.
                    return Err(SinkError::Transient {
                        stream: stream.to_owned(),
                        message: format!("{} responses for {count} records", responses.len()),
                    });
                }
                Ok(responses
                    .iter()
                    .map(|r| match r.error_code() {
                        None => EntryResult::Ok,
                        Some(code) => EntryResult::Failed {
                            code: code.to_owned(),
                            message: r.error_message().unwrap_or_default().to_owned(),
                        },
                    })
                    .collect())
            }
            Err(error) => {
                let message = pushfeed_lambda::aws_error("PutRecordBatch", &error);
                let SdkError::ServiceError(e) = error else {
                    // Not an answer from Firehose (timeout, connection): worth retrying.
                    return Err(SinkError::Transient {
                        stream: stream.to_owned(),
                        message,
                    });
                };
                let status = e.raw().status().as_u16();
                match e.err() {
                    PutRecordBatchError::ServiceUnavailableException(_) => {
                        Err(SinkError::Transient {
                            stream: stream.to_owned(),
                            message,
                        })
                    }
                    _ if status >= 500 || status == 429 => Err(SinkError::Transient {
                        stream: stream.to_owned(),
                        message,
                    }),
                    _ if e.err().meta().code().is_some_and(|c| c.contains("Throttl")) => {
                        Err(SinkError::Transient {
                            stream: stream.to_owned(),
                            message,
                        })
                    }
                    _ => Err(SinkError::Permanent {
                        stream: stream.to_owned(),
                        message,
                    }),
                }
            }
        }
    }
}
