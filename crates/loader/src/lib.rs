//! pushfeed loader: each S3 object Firehose writes, loaded into its table exactly once.

pub mod audit;
pub mod config;
pub mod error;
pub mod handler;
pub mod notify;
pub mod queue;
pub mod sample;
pub mod store;
pub mod warehouse;

pub use config::Config;
pub use error::CallError;
pub use handler::{into_result, Loader, LoaderReport, ObjectResult};
pub use notify::{MemoryNotifier, Notifier, SnsNotifier};
pub use queue::{parse_invocation, Invocation, QueueMessage, QueueReport};
#[cfg(feature = "local")]
pub use store::LocalObjects;
pub use store::{MemoryObjects, ObjectHead, ObjectStore, S3Store};
#[cfg(feature = "local")]
pub use warehouse::SqliteWarehouse;
pub use warehouse::{
    AwsDataApi, DataApi, LoadError, LoadOutcome, LoadPlan, RedshiftWarehouse, Warehouse,
};

use lambda_runtime::LambdaEvent;
use pushfeed_lambda::{Failure, FailureKind};
use serde_json::Value;
use std::time::Duration;

/// The loader's AWS clients and adapters, made once per cold start. Every AWS call is
/// bounded: a stalled endpoint must not hold the invocation.
pub struct AwsLoader {
    pub store: S3Store,
    pub warehouse: RedshiftWarehouse<AwsDataApi, S3Store>,
    pub notifier: SnsNotifier,
    pub patterns: pushfeed_core::keys::KeyPatterns,
}

impl AwsLoader {
    pub async fn new(config: &Config) -> Self {
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
            AwsDataApi::new(aws_sdk_redshiftdata::Client::new(&shared), config),
            store.clone(),
            config.clone(),
        );
        let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&shared), &config.alert_topic_arn);
        AwsLoader {
            store,
            warehouse,
            notifier,
            patterns: pushfeed_core::keys::KeyPatterns::from_catalogue(),
        }
    }

    pub fn loader(
        &self,
    ) -> Loader<'_, RedshiftWarehouse<AwsDataApi, S3Store>, SnsNotifier, S3Store> {
        Loader {
            warehouse: &self.warehouse,
            notifier: &self.notifier,
            patterns: &self.patterns,
            objects: &self.store,
        }
    }
}

/// One invocation of the loader Lambda: a batch from the loads queue (failed messages go
/// back to it, then its dead-letter queue), the scheduled audit check, or an S3 event sent
/// directly. Metrics printed; a payload that is none of these fails as `InvalidEvent`,
/// failed loads of a direct event as `LoadFailed`, a failed audit query as
/// `AuditCheckFailed`, in one line (lambda_runtime logs it once).
pub async fn invoke<D: DataApi, S: ObjectStore, N: Notifier>(
    event: LambdaEvent<Value>,
    loader: &Loader<'_, RedshiftWarehouse<D, S>, N, S>,
    namespace: &str,
) -> Result<Value, Failure> {
    let now_ms = pushfeed_lambda::now_ms();
    let deadline = Some(pushfeed_lambda::deadline(&event.context));
    // lambda_runtime logs the failure, once.
    let fail = Failure::new;
    let invocation =
        parse_invocation(event.payload).map_err(|e| fail(FailureKind::InvalidEvent, e.0))?;
    match invocation {
        Invocation::Queue(messages) => {
            let out = loader.handle_queue(&messages, now_ms, deadline).await;
            pushfeed_lambda::emit(&out.report.metrics, namespace, "loader");
            Ok(out.response())
        }
        Invocation::AuditCheck => {
            let out = audit::check(loader.warehouse, now_ms, deadline)
                .await
                .map_err(|e| fail(FailureKind::AuditCheckFailed, e.to_string()))?;
            pushfeed_lambda::emit(&out.metrics, namespace, "loader");
            Ok(Value::Null)
        }
        Invocation::Direct(s3) => {
            let report = loader.handle(&s3, now_ms, deadline).await;
            pushfeed_lambda::emit(&report.metrics, namespace, "loader");
            into_result(&report).map_err(|e| fail(FailureKind::LoadFailed, e.to_string()))?;
            Ok(Value::Null)
        }
    }
}
