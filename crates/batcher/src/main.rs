//! The batcher Lambda binary: configuration and the Firehose client once per cold start,
//! then `pushfeed_batcher::invoke` for every batch (the payload is read by
//! `ReadPayloadLayer`, see runtime.rs; the runtime itself passes `()`).

use lambda_runtime::{layers::TracingLayer, service_fn, Error, LambdaEvent, Runtime};
use pushfeed_batcher::runtime::{keep_heap, ReadBatches, ReadPayloadLayer};
use pushfeed_batcher::{invoke, AwsFirehose, Config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    keep_heap();
    pushfeed_lambda::init_logging();
    let config = pushfeed_lambda::configured(Config::from_env());
    let sink = AwsFirehose::from_env(config.attempt_timeout).await;
    let batches = ReadBatches::default();
    let (config, sink, read) = (&config, &sink, &batches);
    let handler = service_fn(move |event: LambdaEvent<()>| invoke(event, read, sink, config));
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(ReadPayloadLayer::new(batches.clone()))
        .run()
        .await
}
