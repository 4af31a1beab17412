//! The error every port of the loader returns when a call to a service fails.

/// A call to a service that failed — S3, SNS, the Redshift Data API, or a local stand-in:
/// one line starting with the call, then what the service said (its error code and
/// message) or what went wrong on the way. What every port of the loader returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub String);

impl CallError {
    pub fn new(call: &str, what: impl std::fmt::Display) -> Self {
        CallError(pushfeed_lambda::one_line(&format!("{call}: {what}")))
    }
}

impl From<&str> for CallError {
    fn from(s: &str) -> Self {
        CallError(s.to_owned())
    }
}

impl From<String> for CallError {
    fn from(s: String) -> Self {
        CallError(s)
    }
}

impl CallError {
    /// An AWS SDK error as one line: the call, the service's error code and message (see
    /// `pushfeed_lambda::aws_error`) — never the raw response.
    pub fn aws<E, R>(call: &str, e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        CallError(pushfeed_lambda::aws_error(call, e))
    }
}
