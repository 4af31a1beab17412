//! The loader Lambda binary: configuration and clients once per cold start, then the
//! library's handler for every S3 event.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use pushfeed_core::keys::KeyPatterns;
use pushfeed_loader::{
    into_result, parse_invocation, AwsDataApi, Config, Invocation, Loader, RedshiftWarehouse,
    S3Store, SnsNotifier,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    // Every AWS call is bounded (a stalled endpoint must not hold the invocation).
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(config.attempt_timeout)
                .operation_timeout(config.attempt_timeout * 3)
                .build(),
        )
        .load()
        .await;
    let store = S3Store::new(aws_sdk_s3::Client::new(&shared));
    let warehouse = RedshiftWarehouse::new(
        AwsDataApi::new(aws_sdk_redshiftdata::Client::new(&shared), &config),
        store.clone(),
        config.clone(),
    );
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&shared), &config.alert_topic_arn);
    let patterns = KeyPatterns::from_catalogue();
    let loader = Loader {
        warehouse: &warehouse,
        notifier: &notifier,
        patterns: &patterns,
        objects: &store,
    };
    let (loader, namespace, warehouse) = (&loader, config.metrics_namespace.as_str(), &warehouse);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
            let deadline = tokio::time::Instant::now() + remaining;
            match parse_invocation(event.payload)? {
                // From the loads queue: failed messages go back to the queue (then its DLQ).
                Invocation::Queue(messages) => {
                    let out = loader
                        .handle_queue(&messages, now_ms as i64, Some(deadline))
                        .await;
                    for line in out
                        .report
                        .metrics
                        .to_emf(namespace, "loader", now_ms as i64)
                    {
                        println!("{line}");
                    }
                    Ok::<_, Error>(out.response())
                }
                // The scheduled audit check: metrics only; the alarm on them emails.
                Invocation::AuditCheck => {
                    let out =
                        pushfeed_loader::audit::check(warehouse, now_ms as i64, Some(deadline))
                            .await
                            .map_err(|e| Error::from(e.to_string()))?;
                    for line in out.metrics.to_emf(namespace, "loader", now_ms as i64) {
                        println!("{line}");
                    }
                    Ok(serde_json::Value::Null)
                }
                Invocation::Direct(s3) => {
                    let report = loader.handle(&s3, now_ms as i64, Some(deadline)).await;
                    for line in report.metrics.to_emf(namespace, "loader", now_ms as i64) {
                        println!("{line}");
                    }
                    into_result(&report).map_err(Error::from)?;
                    Ok(serde_json::Value::Null)
                }
            }
        },
    ))
    .await
}
