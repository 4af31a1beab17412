//! `pushfeed bootstrap`: what Terraform creates, from the catalogue, on an AWS-compatible
//! endpoint (moto's server, LocalStack) — so a local stack comes up in one command.

use super::*;

/// The loads queue's settings (Terraform: loads_visibility_timeout_seconds, loads_max_receive_count).
#[derive(clap::Args, Clone, Debug)]
pub struct QueueArgs {
    /// Seconds a loads message stays invisible while the loader works on it (AWS: at least
    /// six times the loader's timeout).
    #[arg(long, default_value_t = 30)]
    pub visibility_timeout: u32,
    /// Failed attempts before a loads message moves to the dead-letter queue.
    #[arg(long, default_value_t = 5)]
    pub max_receive_count: u32,
}

/// Create the stream, bucket, one Firehose stream per destination, the loads queue and
/// its dead-letter queue, the S3 notification and the alert topic.
pub async fn bootstrap(args: &EndpointArgs, shards: i32, queue: &QueueArgs) -> anyhow::Result<()> {
    let c = args.clients().await;
    let n = args.names();
    let hint = || {
        format!(
            "is the endpoint {} up? (for moto: moto_server -p 5000)",
            args.where_()
        )
    };

    match c
        .kinesis
        .create_stream()
        .stream_name(n.stream())
        .shard_count(shards)
        .send()
        .await
    {
        Ok(_) => println!("created Kinesis stream {} ({shards} shards)", n.stream()),
        Err(e) if already_exists(&sdk(&e)) => println!("Kinesis stream {} exists", n.stream()),
        Err(e) => bail!(
            "creating Kinesis stream {}: {}\n{}",
            n.stream(),
            sdk(&e),
            hint()
        ),
    }
    let mut create_bucket = c.s3.create_bucket().bucket(n.bucket());
    if args.region != "us-east-1" {
        create_bucket = create_bucket.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    args.region.as_str(),
                ))
                .build(),
        );
    }
    match create_bucket.send().await {
        Ok(_) => println!("created bucket {}", n.bucket()),
        Err(e) if already_exists(&sdk(&e)) => println!("bucket {} exists", n.bucket()),
        Err(e) => bail!("creating bucket {}: {}", n.bucket(), sdk(&e)),
    }
    for d in DESTINATIONS {
        let name = format!("{}{}", n.firehose_prefix(), d.stream_suffix());
        let dest = ExtendedS3DestinationConfiguration::builder()
            .role_arn(format!(
                "arn:aws:iam::123456789012:role/pushfeed-{}-firehose",
                n.env
            ))
            .bucket_arn(format!("arn:aws:s3:::{}", n.bucket()))
            .prefix(d.s3_prefix())
            .error_output_prefix(format!("{ERROR_PREFIX}{}/", d.name))
            .compression_format(CompressionFormat::Gzip)
            .buffering_hints(
                BufferingHints::builder()
                    .size_in_mbs(64)
                    .interval_in_seconds(60)
                    .build(),
            )
            .build()
            .context("building the Firehose destination")?;
        let req = c
            .firehose
            .create_delivery_stream()
            .delivery_stream_name(&name)
            .delivery_stream_type(DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(dest);
        match req.send().await {
            Ok(_) => println!(
                "created Firehose stream {name} → s3://{}/{}",
                n.bucket(),
                d.s3_prefix()
            ),
            Err(e) if already_exists(&sdk(&e)) => println!("Firehose stream {name} exists"),
            Err(e) => bail!("creating Firehose stream {name}: {}", sdk(&e)),
        }
    }
    let topic = c
        .sns
        .create_topic()
        .name(n.topic())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("creating SNS topic: {}", sdk(&e)))?;
    println!("SNS topic {}", topic.topic_arn().unwrap_or_default());
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let dlq = c
        .sqs
        .create_queue()
        .queue_name(n.loads_dlq())
        .attributes(A::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("creating queue {}: {}", n.loads_dlq(), sdk(&e)))?;
    let dlq_arn = queue_arn(&c, dlq.queue_url().unwrap_or_default()).await?;
    let loads = c
        .sqs
        .create_queue()
        .queue_name(n.loads_queue())
        .attributes(A::VisibilityTimeout, queue.visibility_timeout.to_string())
        .attributes(
            A::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}).to_string(),
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("creating queue {}: {}", n.loads_queue(), sdk(&e)))?;
    let loads_arn = queue_arn(&c, loads.queue_url().unwrap_or_default()).await?;
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration,
        NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
    };
    c.s3.put_bucket_notification_configuration()
        .bucket(n.bucket())
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .id("pushfeed-loads")
                        .queue_arn(&loads_arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .filter(
                            NotificationConfigurationFilter::builder()
                                .key(
                                    S3KeyFilter::builder()
                                        .filter_rules(
                                            FilterRule::builder()
                                                .name(FilterRuleName::Prefix)
                                                .value(DATA_PREFIX)
                                                .build(),
                                        )
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "S3 notifications of {} to {}: {}",
                n.bucket(),
                n.loads_queue(),
                sdk(&e)
            )
        })?;
    println!(
        "S3 s3://{}/{DATA_PREFIX}… notifies queue {} (dead-letter queue {} after {} attempts)",
        n.bucket(),
        n.loads_queue(),
        n.loads_dlq(),
        queue.max_receive_count
    );
    println!(
        "ready: put vendor records into {} and run `pushfeed drive`",
        n.stream()
    );
    Ok(())
}
