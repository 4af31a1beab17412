//! The alert port's SNS adapter.

use super::{CallError, Notifier};

/// SNS `Publish` to the alert topic (email subscribers get it).
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

/// SNS subjects are at most 100 printable ASCII characters.
pub fn subject_line(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    clean.chars().take(100).collect()
}

impl Notifier for SnsNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), CallError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject_line(subject))
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                CallError(pushfeed_lambda::aws_error(
                    &format!("SNS publish to {}", self.topic_arn),
                    &e,
                ))
            })
    }
}
