//! What the batcher and loader binaries share, so each `main.rs` is only its wiring:
//!
//! - logging: JSON lines (unless Lambda's `AWS_LAMBDA_LOG_FORMAT` is `Text`) at the level
//!   Lambda's advanced logging controls set (`AWS_LAMBDA_LOG_LEVEL`), else `RUST_LOG`, else
//!   INFO — for pushfeed's own crates; dependencies (the AWS SDK, hyper) log only warnings
//!   unless `RUST_LOG` names them;
//! - the invocation's deadline, from the Lambda context;
//! - metrics, printed as CloudWatch embedded metric format lines;
//! - failures as Lambda reports them: `errorType` names the kind of failure
//!   ([`FailureKind`]), `errorMessage` says what failed in one line.

use lambda_runtime::{Context, Diagnostic};
use pushfeed_core::metrics::MetricSet;
use std::time::Duration;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// The crates whose logs follow the function's log level.
const OWN_CRATES: &[&str] = &[
    "pushfeed_batcher",
    "pushfeed_loader",
    "pushfeed_lambda",
    "pushfeed_core",
];

/// The log filter for a level (Lambda's `AWS_LAMBDA_LOG_LEVEL` names: TRACE, DEBUG, INFO,
/// WARN, ERROR, FATAL) and `RUST_LOG` directives.
pub fn log_filter(level: Option<&str>, rust_log: Option<&str>) -> EnvFilter {
    let level = match level.map(str::trim).map(str::to_ascii_uppercase).as_deref() {
        Some("TRACE") => LevelFilter::TRACE,
        Some("DEBUG") => LevelFilter::DEBUG,
        Some("WARN") => LevelFilter::WARN,
        Some("ERROR") | Some("FATAL") => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    };
    let mut directives = vec![LevelFilter::WARN.min(level).to_string()];
    for own in OWN_CRATES {
        directives.push(format!("{own}={level}"));
    }
    // RUST_LOG adds to (and may override) the defaults, e.g. `aws_smithy_runtime=debug`.
    if let Some(extra) = rust_log.filter(|r| !r.trim().is_empty()) {
        directives.push(extra.to_owned());
    }
    EnvFilter::builder()
        .with_default_directive(LevelFilter::WARN.into())
        .parse_lossy(directives.join(","))
}

/// Set up logging once per cold start, from the function's environment.
pub fn init_logging() {
    let var = |k: &str| std::env::var(k).ok();
    // Lambda's level wins; RUST_LOG is its fallback for the level and adds directives.
    let rust_log = var("RUST_LOG");
    let level = var("AWS_LAMBDA_LOG_LEVEL").or_else(|| {
        rust_log
            .as_deref()
            .filter(|r| !r.contains('='))
            .map(str::to_owned)
    });
    let filter = log_filter(level.as_deref(), rust_log.as_deref());
    let text = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter);
    if text {
        builder.init();
    } else {
        builder.json().with_current_span(false).init();
    }
}

/// The function's configuration, or — logged once, as one JSON line naming the variable —
/// the end of the cold start: Lambda reports the init failure and retries it.
pub fn configured<C, E: std::fmt::Display>(config: Result<C, E>) -> C {
    match config {
        Ok(c) => c,
        Err(e) => {
            let failure = Failure::new(FailureKind::InvalidConfig, e);
            tracing::error!(error_type = failure.kind.name(), error = %failure.message, "invalid configuration");
            std::process::exit(1)
        }
    }
}

pub use pushfeed_core::timefmt::now_ms;

/// When the invocation must be done: Lambda's deadline (ms since the epoch) as an instant.
pub fn deadline(context: &Context) -> tokio::time::Instant {
    let left = (context.deadline as i64).saturating_sub(now_ms()).max(0) as u64;
    tokio::time::Instant::now() + Duration::from_millis(left)
}

/// Print the metrics as embedded metric format lines (CloudWatch Logs turns them into
/// metrics under `namespace`, dimension `Function`).
pub fn emit(metrics: &MetricSet, namespace: &str, function: &str) {
    for line in metrics.to_emf(namespace, function, now_ms()) {
        println!("{line}");
    }
}

/// Kinds of failure, as the `errorType` Lambda records, logs and shows in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The payload is not the event the function is wired to (a wrongly wired trigger).
    InvalidEvent,
    /// The function's environment variables are missing or wrong.
    InvalidConfig,
    /// One or more objects did not load; the message returns to the queue or the event is
    /// retried.
    LoadFailed,
    /// The scheduled audit check could not query the warehouse.
    AuditCheckFailed,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::InvalidEvent => "InvalidEvent",
            FailureKind::InvalidConfig => "InvalidConfig",
            FailureKind::LoadFailed => "LoadFailed",
            FailureKind::AuditCheckFailed => "AuditCheckFailed",
        }
    }
}

/// A failed invocation: its kind and one line saying what failed. lambda_runtime logs a
/// handler's error once (with `Debug`), so `Debug` is the same one line as `Display` and
/// the handler does not log it again.
#[derive(Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl std::fmt::Display) -> Self {
        Failure {
            kind,
            message: one_line(&message.to_string()),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Self {
        Diagnostic {
            error_type: f.kind.name().to_owned(),
            error_message: f.message,
        }
    }
}

/// Text on one line, at most 1,000 characters: what alerts, logs and `errorMessage` carry.
pub fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 1_000 {
        return flat;
    }
    let cut: String = flat.chars().take(999).collect();
    format!("{cut}…")
}

/// An AWS call's failure in one line: the service's own error code and message when it
/// answered (`ExecuteStatement: ValidationException: Redshift endpoint doesn't exist`),
/// else what went wrong on the way (timed out, could not connect) — never the SDK's debug
/// dump of the raw response.
pub fn aws_error<E, R>(
    what: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let text = match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                (None, Some(message)) => message.to_owned(),
                (None, None) => format!(
                    "the service answered with an error it did not name ({})",
                    causes(err)
                ),
            }
        }
        SdkError::TimeoutError(_) => "timed out (no answer within the attempt timeout)".to_owned(),
        SdkError::DispatchFailure(_) => format!("could not reach the service: {}", causes(e)),
        SdkError::ResponseError(_) => {
            format!("the service's response could not be read: {}", causes(e))
        }
        SdkError::ConstructionFailure(_) => {
            format!("the request could not be built: {}", causes(e))
        }
        _ => causes(e),
    };
    one_line(&format!("{what}: {text}"))
        .chars()
        .take(500)
        .collect()
}

/// An error's chain of causes, innermost last, on one line.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_applies_to_pushfeed_and_dependencies_stay_at_warn() {
        let f = log_filter(Some("DEBUG"), None).to_string();
        assert!(f.contains("pushfeed_batcher=debug"), "{f}");
        assert!(f.contains("warn"), "{f}");
        let f = log_filter(Some("ERROR"), None).to_string();
        assert!(f.contains("pushfeed_loader=error"), "{f}");
        assert!(
            !f.contains("warn"),
            "dependencies no louder than the level: {f}"
        );
        let f = log_filter(None, Some("aws_smithy_runtime=debug")).to_string();
        assert!(
            f.contains("pushfeed_core=info") && f.contains("aws_smithy_runtime=debug"),
            "{f}"
        );
        let f = log_filter(Some("nonsense"), None).to_string();
        assert!(f.contains("pushfeed_batcher=info"), "{f}");
    }

    #[test]
    fn an_aws_error_is_the_services_code_and_message_not_the_raw_response() {
        use aws_smithy_runtime_api::client::result::SdkError;
        use aws_smithy_types::error::ErrorMetadata;
        let raw =
            "<html>\n<body>502 Bad Gateway</body>\n</html>\nx-amzn-requestid: 1234\n".repeat(20);
        let service = ErrorMetadata::builder()
            .code("ValidationException")
            .message("Redshift endpoint doesn't exist in this region.")
            .build();
        let e: SdkError<ErrorMetadata, String> = SdkError::service_error(service, raw.clone());
        assert_eq!(
            aws_error("ExecuteStatement", &e),
            "ExecuteStatement: ValidationException: Redshift endpoint doesn't exist in this region."
        );
        let e: SdkError<ErrorMetadata, String> = SdkError::timeout_error("attempt timeout");
        assert_eq!(
            aws_error("PutObject", &e),
            "PutObject: timed out (no answer within the attempt timeout)"
        );
        let unnamed: SdkError<ErrorMetadata, String> =
            SdkError::service_error(ErrorMetadata::builder().build(), raw);
        let text = aws_error("Publish", &unnamed);
        assert!(
            !text.contains('\n') && !text.contains("<html>") && text.len() <= 500,
            "{text}"
        );
    }

    #[test]
    fn a_failure_is_one_line_named_by_its_kind() {
        let f = Failure::new(FailureKind::LoadFailed, "push/open/x.gz: COPY failed\n  Load into table 'push_open' failed.\tCheck 'sys_load_error_detail'");
        let d: Diagnostic = f.clone().into();
        assert_eq!(d.error_type, "LoadFailed");
        assert_eq!(d.error_message, "push/open/x.gz: COPY failed Load into table 'push_open' failed. Check 'sys_load_error_detail'");
        assert_eq!(one_line(&"x".repeat(5_000)).chars().count(), 1_000);
        assert_eq!(format!("{f:?}"), format!("{f}"));
        assert!(format!("{f:?}").starts_with("LoadFailed: push/open/x.gz"));
    }
}
