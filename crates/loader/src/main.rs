//! The loader Lambda binary: configuration and AWS clients once per cold start, then
//! `pushfeed_loader::invoke` for every event (loads queue, audit check, or S3 event).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use pushfeed_loader::{invoke, AwsLoader, Config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pushfeed_lambda::init_logging();
    let config = pushfeed_lambda::configured(Config::from_env());
    let aws = AwsLoader::new(&config).await;
    let (loader, namespace) = (&aws.loader(), config.metrics_namespace.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        invoke(event, loader, namespace)
    }))
    .await
}
