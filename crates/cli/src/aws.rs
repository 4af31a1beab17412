//! Against an AWS-compatible endpoint (moto's server, LocalStack, or AWS itself):
//! `bootstrap` creates what Terraform creates, from the catalogue; `drive` plays the parts
//! AWS plays around the Lambdas — the Kinesis event source mapping and the S3 trigger —
//! and runs the real handlers with the real SDK clients.

use crate::run::s3_event;
use anyhow::{bail, Context};
use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, ExtendedS3DestinationConfiguration,
};
use aws_sdk_kinesis::types::ShardIteratorType;
use pushfeed_batcher::{
    handle_batch, new_invocation_id, AwsFirehose, Config as BatcherConfig, KinesisBatch,
    KinesisBatchRecord,
};
use pushfeed_core::catalogue::{DATA_PREFIX, DESTINATIONS, ERROR_PREFIX};
use pushfeed_core::keys::KeyPatterns;
use pushfeed_core::metrics::MetricSet;
use pushfeed_core::BatchCounts;
use pushfeed_loader::config::Target;
use pushfeed_loader::{
    AwsDataApi, Config as LoaderConfig, Loader, ObjectResult, QueueMessage, RedshiftWarehouse,
    S3Store, SnsNotifier,
};

type AwsLoader<'a> = Loader<'a, RedshiftWarehouse<AwsDataApi, S3Store>, SnsNotifier, S3Store>;

/// What the loader handler needs against an endpoint, built as the Lambda builds it.
struct LoaderParts {
    warehouse: RedshiftWarehouse<AwsDataApi, S3Store>,
    notifier: SnsNotifier,
    patterns: KeyPatterns,
    store: S3Store,
}

impl LoaderParts {
    fn new(
        c: &Clients,
        n: &Names,
        warehouse: &WarehouseArgs,
        topic_arn: String,
    ) -> anyhow::Result<Self> {
        let config = warehouse.loader_config(n, &topic_arn)?;
        let store = S3Store::new(c.s3.clone());
        Ok(LoaderParts {
            warehouse: RedshiftWarehouse::new(
                AwsDataApi::new(c.redshift.clone(), &config),
                store.clone(),
                config,
            ),
            notifier: SnsNotifier::new(c.sns.clone(), topic_arn),
            patterns: KeyPatterns::from_catalogue(),
            store,
        })
    }

    fn loader(&self) -> AwsLoader<'_> {
        Loader {
            warehouse: &self.warehouse,
            notifier: &self.notifier,
            patterns: &self.patterns,
            objects: &self.store,
        }
    }
}

/// The alert topic's ARN (created if missing, as the local stack needs).
async fn topic_arn(c: &Clients, n: &Names) -> anyhow::Result<String> {
    Ok(c.sns
        .create_topic()
        .name(n.topic())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("SNS topic {}: {}", n.topic(), sdk(&e)))?
        .topic_arn()
        .unwrap_or_default()
        .to_owned())
}
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

pub use pushfeed_core::names::Names;

#[derive(clap::Args, Clone, Debug)]
pub struct EndpointArgs {
    /// AWS-compatible endpoint, e.g. http://127.0.0.1:5000 for moto. Without it: the standard
    /// AWS settings (AWS_ENDPOINT_URL, AWS_PROFILE, …), i.e. real AWS.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,
    /// AWS region.
    #[arg(long, env = "AWS_REGION", default_value = "eu-west-2")]
    pub region: String,
    /// Environment name: resources are called pushfeed-<env>-….
    #[arg(long = "env", default_value = "local", value_parser = parse_env_name)]
    pub env: String,
    /// The data bucket (default pushfeed-<env>-data; on AWS: `terraform output -raw data_bucket`).
    #[arg(long, env = "PUSHFEED_BUCKET")]
    pub bucket: Option<String>,
}

fn parse_env_name(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 20
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(s.to_owned())
    } else {
        Err("use 1-20 characters a-z, 0-9 and -".into())
    }
}

pub struct Clients {
    pub kinesis: aws_sdk_kinesis::Client,
    pub firehose: aws_sdk_firehose::Client,
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub redshift: aws_sdk_redshiftdata::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl EndpointArgs {
    pub async fn clients(&self) -> Clients {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()));
        if let Some(url) = &self.endpoint {
            loader = loader.endpoint_url(url);
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                && std::env::var_os("AWS_PROFILE").is_none()
            {
                // A local stand-in accepts any credentials; spare the user from inventing some.
                loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "testing",
                    "testing",
                    None,
                    None,
                    "pushfeed-local",
                ));
            }
        }
        // Bounded calls, as in the Lambdas: a stalled endpoint gives an error, not a hang.
        let shared = loader
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(90))
                    .build(),
            )
            .load()
            .await;
        let s3_conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build();
        let firehose_conf = aws_sdk_firehose::config::Builder::from(&shared)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        Clients {
            kinesis: aws_sdk_kinesis::Client::new(&shared),
            firehose: aws_sdk_firehose::Client::from_conf(firehose_conf),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            sns: aws_sdk_sns::Client::new(&shared),
            redshift: aws_sdk_redshiftdata::Client::new(&shared),
            sqs: aws_sdk_sqs::Client::new(&shared),
        }
    }

    pub fn names(&self) -> Names {
        Names {
            env: self.env.clone(),
            bucket: self.bucket.clone(),
        }
    }

    fn where_(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("AWS {}", self.region))
    }
}

async fn queue_arn(c: &Clients, url: &str) -> anyhow::Result<String> {
    let out = c
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("attributes of {url}: {}", sdk(&e)))?;
    out.attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{url} has no QueueArn"))
}

async fn queue_url(c: &Clients, name: &str, hint: &str) -> anyhow::Result<String> {
    c.sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("queue {name}: {}\n{hint}", sdk(&e)))?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("queue {name} has no URL"))
}

/// An SDK error with its chain of causes (the service's message is in there).
fn sdk<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

fn already_exists(msg: &str) -> bool {
    msg.contains("AlreadyExists")
        || msg.contains("ResourceInUse")
        || msg.contains("BucketAlreadyOwnedByYou")
        || msg.contains("already exists")
}

/// Create the stream, bucket, one Firehose stream per destination and the alert topic.
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

#[derive(clap::Args, Clone, Debug)]
pub struct WarehouseArgs {
    /// Redshift Serverless workgroup the loader targets (default pushfeed-<env>).
    #[arg(long)]
    pub workgroup: Option<String>,
    #[arg(long, default_value = "dev")]
    pub database: String,
    /// Redshift schema of the tables, the ledger and the views.
    #[arg(long, default_value = "pushfeed")]
    pub schema: String,
    /// Role Redshift assumes for COPY (default the one Terraform creates for <env>).
    #[arg(long)]
    pub copy_role: Option<String>,
}

/// Run one read-only statement on an environment's Redshift through the Data API (the
/// loader's own execute / poll / result, bounded to 5 minutes) and return its rows.
pub async fn redshift_query(
    c: &Clients,
    config: &LoaderConfig,
    sql: String,
) -> anyhow::Result<Vec<Vec<String>>> {
    let warehouse = RedshiftWarehouse::new(
        AwsDataApi::new(c.redshift.clone(), config),
        S3Store::new(c.s3.clone()),
        config.clone(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    warehouse
        .query(sql, Some(deadline))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

impl WarehouseArgs {
    /// The loader's configuration, as Terraform would set it for this environment.
    pub fn loader_config(&self, n: &Names, topic_arn: &str) -> anyhow::Result<LoaderConfig> {
        pushfeed_core::sql::ident("schema", &self.schema)?;
        Ok(LoaderConfig {
            target: Target::Serverless {
                workgroup: self
                    .workgroup
                    .clone()
                    .unwrap_or_else(|| format!("pushfeed-{}", n.env)),
                secret_arn: None,
            },
            database: self.database.clone(),
            schema: self.schema.clone(),
            copy_role: self.copy_role.clone().unwrap_or_else(|| {
                format!(
                    "arn:aws:iam::123456789012:role/pushfeed-{}-redshift-copy",
                    n.env
                )
            }),
            bucket_region: None,
            alert_topic_arn: topic_arn.to_owned(),
            metrics_namespace: "pushfeed".into(),
            safety_margin: Duration::from_secs(5),
            first_poll: Duration::from_millis(50),
            max_poll: Duration::from_secs(1),
            min_load_time: Duration::from_secs(20),
            conflict_retries: 4,
            attempt_timeout: Duration::from_secs(10),
        })
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct DriveArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Most records per batcher invocation (the event source mapping's BatchSize).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch_size: u64,
    /// Batching window in milliseconds (MaximumBatchingWindowInSeconds; AWS: 60 s).
    #[arg(long, default_value_t = 1_000)]
    pub window_ms: u64,
    /// Where to start reading each shard (the event source mapping's StartingPosition).
    #[arg(long, value_enum, default_value_t = StartingPosition::TrimHorizon)]
    pub starting_position: StartingPosition,
    /// Longest one PutRecordBatch call may take before the batcher abandons and retries it.
    #[arg(long, default_value_t = 10_000)]
    pub attempt_timeout_ms: u64,
    /// Retries of a batch with failed records before they go to the on-failure file.
    #[arg(long, default_value_t = 3)]
    pub max_retries: u32,
    /// Stop after this many seconds with no new records and no new objects.
    #[arg(long, default_value_t = 5.0)]
    pub idle_exit: f64,
    /// Stop after this many seconds in any case.
    #[arg(long, default_value_t = 3_600.0)]
    pub max_seconds: f64,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Where records that exhausted their retries are written (the on-failure destination).
    #[arg(long, default_value = "pushfeed-drive-dlq.jsonl")]
    pub dlq_file: std::path::PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also print one JSON line per loaded object (key, created, loaded) for lag measurements.
    #[arg(long)]
    pub object_log: Option<std::path::PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record still in the stream.
    TrimHorizon,
    /// Only records put after the driver starts.
    Latest,
}

#[derive(Debug, Default, Serialize)]
pub struct DriveSummary {
    pub records_in: u64,
    pub batches: u64,
    pub batch_item_failures: u64,
    pub records_retried: u64,
    pub records_to_dlq: u64,
    /// Receives from the loads queue that failed (retried on the next poll).
    pub queue_receive_errors: u64,
    /// GetRecords calls that failed (retried from the same iterator).
    pub get_records_errors: u64,
    pub routed: BTreeMap<String, u64>,
    pub quarantined: BTreeMap<String, u64>,
    pub objects_seen: u64,
    pub objects_loaded: u64,
    pub empty_objects: u64,
    pub duplicate_objects: u64,
    pub unmatched_keys: u64,
    /// Failed load attempts (a message is retried until the queue's maxReceiveCount).
    pub load_failures: u64,
    /// Messages in the loads dead-letter queue when the driver stopped (`pushfeed redrive`).
    pub loads_dead_lettered: u64,
    pub rows_loaded: u64,
    /// Audit records (push_audit rows) loaded; not in rows_loaded.
    pub audit_records_loaded: u64,
    /// Totals of every metric the handlers emitted (no dimensions).
    pub metrics: BTreeMap<String, f64>,
    pub elapsed_s: f64,
}

struct ShardState {
    id: String,
    iterator: Option<String>,
    /// Consecutive GetRecords failures.
    failures: u32,
}

struct Pending {
    data: Vec<u8>,
    seq: String,
    shard: String,
    arrival_ms: i64,
}

fn to_event(batch: &[Pending]) -> KinesisBatch {
    KinesisBatch {
        records: batch
            .iter()
            .map(|p| KinesisBatchRecord::new(&p.shard, &p.seq, p.data.clone(), p.arrival_ms))
            .collect(),
    }
}

/// Poll the stream, invoke the batcher, invoke the loader for each new object, until idle.
pub async fn drive(args: &DriveArgs) -> anyhow::Result<DriveSummary> {
    let started = Instant::now();
    let c = args.endpoint.clients().await;
    let n = args.endpoint.names();
    let shards = c
        .kinesis
        .list_shards()
        .stream_name(n.stream())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("listing shards of {}: {}\nIs the endpoint {} up, and did `pushfeed bootstrap` run?", n.stream(), sdk(&e), args.endpoint.where_()))?;
    let mut states = Vec::new();
    for s in shards.shards() {
        let it = c
            .kinesis
            .get_shard_iterator()
            .stream_name(n.stream())
            .shard_id(s.shard_id())
            .shard_iterator_type(match args.starting_position {
                StartingPosition::TrimHorizon => ShardIteratorType::TrimHorizon,
                StartingPosition::Latest => ShardIteratorType::Latest,
            })
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("shard iterator for {}: {}", s.shard_id(), sdk(&e)))?;
        states.push(ShardState {
            id: s.shard_id().to_owned(),
            iterator: it.shard_iterator().map(str::to_owned),
            failures: 0,
        });
    }
    let topic_arn = topic_arn(&c, &n).await?;

    let batcher_config = BatcherConfig {
        stream_prefix: n.firehose_prefix(),
        attempt_timeout: Duration::from_millis(args.attempt_timeout_ms),
        ..BatcherConfig::default()
    };
    let sink = AwsFirehose::new(c.firehose.clone());
    let parts = LoaderParts::new(&c, &n, &args.warehouse, topic_arn)?;
    let loader = parts.loader();

    let mut summary = DriveSummary::default();
    let mut counts = BatchCounts::default();
    let mut metrics = MetricSet::new();
    let loads_url = queue_url(
        &c,
        &n.loads_queue(),
        "did `pushfeed bootstrap` run (it creates the loads queue)?",
    )
    .await?;
    let mut pending: Vec<Pending> = Vec::new();
    let mut retries_of_head = 0u32;
    let mut list_errors = 0u64;
    let mut window_start = Instant::now();
    let mut last_activity = Instant::now();
    let mut object_log = match &args.object_log {
        Some(p) => Some(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => None,
    };
    loop {
        let mut got = 0usize;
        for st in states.iter_mut() {
            let Some(it) = st.iterator.clone() else {
                continue;
            };
            let room = (args.batch_size as usize)
                .saturating_sub(pending.len())
                .clamp(1, 10_000);
            let out = c
                .kinesis
                .get_records()
                .shard_iterator(it)
                .limit(room as i32)
                .send()
                .await;
            // The event source mapping retries a failed GetRecords; so does the driver,
            // from the same iterator, until failures run on too long.
            let out = match out {
                Ok(out) => {
                    st.failures = 0;
                    if out.millis_behind_latest().unwrap_or(0) > 0 {
                        // Behind the tip of the shard: not idle, whatever this call returned.
                        last_activity = Instant::now();
                    }
                    out
                }
                Err(e) => {
                    st.failures += 1;
                    last_activity = Instant::now();
                    summary.get_records_errors += 1;
                    if st.failures > 50 {
                        bail!(
                            "GetRecords on {} failed 50 times in a row; last error: {}",
                            st.id,
                            sdk(&e)
                        );
                    }
                    tracing::warn!(shard = %st.id, error = %sdk(&e), "GetRecords failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * st.failures.min(10) as u64))
                        .await;
                    continue;
                }
            };
            for r in out.records() {
                let arrival_ms = r
                    .approximate_arrival_timestamp()
                    .map(|t| t.secs() * 1000 + (t.subsec_nanos() / 1_000_000) as i64)
                    .unwrap_or(0);
                pending.push(Pending {
                    data: r.data().as_ref().to_vec(),
                    seq: r.sequence_number().to_owned(),
                    shard: st.id.clone(),
                    arrival_ms,
                });
                got += 1;
            }
            st.iterator = out.next_shard_iterator().map(str::to_owned);
        }
        if got > 0 {
            last_activity = Instant::now();
        }
        let payload: usize = pending
            .iter()
            .map(|p| p.data.len().div_ceil(3) * 4 + 420)
            .sum();
        let due = !pending.is_empty()
            && (pending.len() >= args.batch_size as usize
                || payload >= crate::run::LAMBDA_PAYLOAD_BYTES
                || window_start.elapsed() >= Duration::from_millis(args.window_ms));
        if due {
            // Lambda payload limit: cut the batch where 6 MB is reached.
            let mut take = 0;
            let mut bytes = 0;
            for p in pending.iter().take(args.batch_size as usize) {
                let b = p.data.len().div_ceil(3) * 4 + 420;
                if take > 0 && bytes + b > crate::run::LAMBDA_PAYLOAD_BYTES {
                    break;
                }
                bytes += b;
                take += 1;
            }
            let event = to_event(&pending[..take]);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
            let report = handle_batch(
                &event,
                &sink,
                &batcher_config,
                Some(deadline),
                &new_invocation_id("drive"),
            )
            .await;
            summary.batches += 1;
            metrics.merge(&report.metrics);
            let failed: HashSet<&str> = report
                .response
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .collect();
            summary.batch_item_failures += failed.len() as u64;
            // Checkpoint at the first failed record: everything before it is done.
            let first_failed = pending[..take]
                .iter()
                .position(|p| failed.contains(p.seq.as_str()));
            match first_failed {
                None => {
                    counts.merge(&report.counts);
                    summary.records_in += take as u64;
                    pending.drain(..take);
                    retries_of_head = 0;
                }
                Some(i) => {
                    // The records before the failure are acknowledged; the rest will be redelivered.
                    summary.records_in += i as u64;
                    counts.merge(&report.counts);
                    pending.drain(..i);
                    retries_of_head += 1;
                    summary.records_retried += (take - i) as u64;
                    if retries_of_head > args.max_retries {
                        let dropped: Vec<Pending> = pending.drain(..(take - i)).collect();
                        write_failure_record(
                            &c,
                            &n,
                            &args.endpoint.region,
                            &args.dlq_file,
                            &dropped,
                            args.max_retries + 1,
                        )
                        .await?;
                        summary.records_to_dlq += dropped.len() as u64;
                        summary.records_in += dropped.len() as u64;
                        retries_of_head = 0;
                    }
                }
            }
            window_start = Instant::now();
            last_activity = Instant::now();
            // The S3 trigger: the loader for each new object.
            let active = scan(
                load_queued_objects(
                    &c,
                    &loads_url,
                    &loader,
                    &mut summary,
                    &mut metrics,
                    object_log.as_mut(),
                )
                .await,
                &mut list_errors,
            );
            if active {
                last_activity = Instant::now();
            }
        } else if got == 0 {
            if pending.is_empty()
                && scan(
                    load_queued_objects(
                        &c,
                        &loads_url,
                        &loader,
                        &mut summary,
                        &mut metrics,
                        object_log.as_mut(),
                    )
                    .await,
                    &mut list_errors,
                )
            {
                last_activity = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if pending.is_empty() && last_activity.elapsed().as_secs_f64() >= args.idle_exit {
            break;
        }
        if started.elapsed().as_secs_f64() >= args.max_seconds {
            eprintln!(
                "pushfeed drive: --max-seconds reached with {} records pending",
                pending.len()
            );
            break;
        }
    }
    summary.queue_receive_errors = list_errors;
    summary.loads_dead_lettered = queue_depth(&c, &n.loads_dlq()).await.unwrap_or(0);
    summary.routed = counts
        .events
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    summary.quarantined = counts
        .quarantined
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    summary.metrics = metrics.totals();
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Whether a scan of the bucket kept the driver busy: it found new objects, or it failed
/// (retried on the next loop; the driver must not go idle before a scan succeeds).
fn scan(result: anyhow::Result<usize>, errors: &mut u64) -> bool {
    match result {
        Ok(new_objects) => new_objects > 0,
        Err(e) => {
            *errors += 1;
            tracing::warn!(error = %format!("{e:#}"), "receiving from the loads queue failed; will retry");
            true
        }
    }
}

/// What the event source mapping's S3 on-failure destination does: the discarded batch as
/// an invocation record, in the data bucket under aws/lambda/ (and, for a local look, a
/// copy in the on-failure file). `pushfeed replay` reads either.
async fn write_failure_record(
    c: &Clients,
    n: &Names,
    region: &str,
    path: &std::path::Path,
    records: &[Pending],
    attempts: u32,
) -> anyhow::Result<()> {
    use std::io::Write;
    let failed: Vec<crate::replay::FailedRecord> = records
        .iter()
        .map(|r| crate::replay::FailedRecord {
            shard: r.shard.clone(),
            seq: r.seq.clone(),
            data: r.data.clone(),
            arrival_ms: r.arrival_ms,
        })
        .collect();
    let now = pushfeed_core::timefmt::now_ms();
    let doc = crate::replay::failure_record(
        &failed,
        &format!(
            "arn:aws:lambda:{region}:123456789012:function:pushfeed-{}-batcher",
            n.env
        ),
        &format!(
            "arn:aws:kinesis:{region}:123456789012:stream/{}",
            n.stream()
        ),
        attempts,
        now,
    );
    let (y, mo, d, h, mi, s, _) = pushfeed_core::timefmt::parts(now);
    let shard = records.first().map(|r| r.shard.as_str()).unwrap_or("shard");
    let key = format!(
        "{}pushfeed-drive/{shard}/{y:04}/{mo:02}/{d:02}/{y:04}-{mo:02}-{d:02}T{h:02}.{mi:02}.{s:02}-{:032x}",
        crate::replay::FAILURE_PREFIX,
        rand::random::<u128>()
    );
    c.s3.put_object()
        .bucket(n.bucket())
        .key(&key)
        .body(doc.to_string().into_bytes().into())
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "writing the failure record s3://{}/{key}: {}",
                n.bucket(),
                sdk(&e)
            )
        })?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the on-failure file {}", path.display()))?;
    writeln!(f, "{doc}")?;
    eprintln!(
        "pushfeed drive: {} records exhausted their retries; written to s3://{}/{key} and {} (replay with `pushfeed replay --env {}`)",
        records.len(),
        n.bucket(),
        path.display(),
        n.env
    );
    Ok(())
}

/// The loader's event source mapping: receive what S3 put on the loads queue, invoke the
/// loader with up to 10 messages, delete the messages it loaded and leave the failed ones
/// (they come back after the visibility timeout, then move to the dead-letter queue).
async fn load_queued_objects(
    c: &Clients,
    url: &str,
    loader: &AwsLoader<'_>,
    summary: &mut DriveSummary,
    metrics: &mut MetricSet,
    mut object_log: Option<&mut std::fs::File>,
) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let out = c
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("receiving from {url}: {}", sdk(&e)))?;
        let received = out.messages();
        if received.is_empty() {
            return Ok(total);
        }
        total += received.len();
        let messages: Vec<QueueMessage> = received
            .iter()
            .map(|m| QueueMessage {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
            })
            .collect();
        let created: std::collections::HashMap<String, i64> = messages
            .iter()
            .filter_map(|m| {
                pushfeed_loader::queue::s3_event_from_body(&m.body)
                    .ok()
                    .flatten()
            })
            .flat_map(|e| e.records)
            .filter_map(|r| {
                let key = pushfeed_core::decode_event_key(r.s3.object.key.as_deref()?).ok()?;
                Some((key, r.event_time.timestamp_millis()))
            })
            .collect();
        let now = pushfeed_core::timefmt::now_ms();
        let report = loader
            .handle_queue(
                &messages,
                now,
                Some(tokio::time::Instant::now() + Duration::from_secs(60)),
            )
            .await;
        metrics.merge(&report.report.metrics);
        for o in &report.report.objects {
            summary.objects_seen += 1;
            match o {
                ObjectResult::Loaded {
                    key, rows, table, ..
                } => {
                    summary.objects_loaded += 1;
                    if *table == DESTINATIONS[pushfeed_core::catalogue::audit_index()].table() {
                        summary.audit_records_loaded += rows;
                    } else {
                        summary.rows_loaded += rows;
                    }
                    if let Some(f) = object_log.as_deref_mut() {
                        use std::io::Write;
                        writeln!(
                            f,
                            "{}",
                            serde_json::json!({"key": key, "created_ms": created.get(key).copied().unwrap_or(now), "loaded_ms": now})
                        )?;
                    }
                }
                ObjectResult::Empty { .. } => summary.empty_objects += 1,
                ObjectResult::Duplicate { .. } => summary.duplicate_objects += 1,
                ObjectResult::Unmatched { .. } => summary.unmatched_keys += 1,
                ObjectResult::Failed { .. } => summary.load_failures += 1,
            }
        }
        let done = received.iter().filter(|m| {
            !report
                .failed_message_ids
                .iter()
                .any(|f| Some(f.as_str()) == m.message_id())
        });
        delete_messages(c, url, done).await?;
        if !report.failed_message_ids.is_empty() {
            // Failed messages reappear after the visibility timeout, as with Lambda.
            return Ok(total);
        }
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Objects to load, s3://bucket/key (the key as S3 shows it, not URL-encoded).
    #[arg(required = true)]
    pub objects: Vec<String>,
    /// Seconds the invocation may take (the loader Lambda's timeout).
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct LoadSummary {
    pub objects: Vec<serde_json::Value>,
    pub failed: usize,
}

/// Invoke the loader handler for these objects, with an S3 event that carries no size or
/// ETag (the handler asks S3), as a re-invocation by hand would.
pub async fn load_objects(args: &LoadArgs) -> anyhow::Result<LoadSummary> {
    let c = args.endpoint.clients().await;
    let n = args.endpoint.names();
    let topic_arn = topic_arn(&c, &n).await?;
    let parts = LoaderParts::new(&c, &n, &args.warehouse, topic_arn)?;
    let loader = parts.loader();
    let mut records = Vec::new();
    for o in &args.objects {
        let (bucket, key) = o
            .strip_prefix("s3://")
            .and_then(|r| r.split_once('/'))
            .ok_or_else(|| anyhow::anyhow!("{o:?} is not s3://bucket/key"))?;
        let mut event = serde_json::to_value(s3_event(
            bucket,
            key,
            0,
            "",
            pushfeed_core::timefmt::now_ms(),
        )?)?;
        let obj = &mut event["Records"][0]["s3"]["object"];
        if let Some(m) = obj.as_object_mut() {
            m.remove("size");
            m.remove("eTag");
        }
        records.push(event["Records"][0].clone());
    }
    let event: aws_lambda_events::event::s3::S3Event =
        serde_json::from_value(serde_json::json!({ "Records": records }))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let report = loader
        .handle(&event, pushfeed_core::timefmt::now_ms(), Some(deadline))
        .await;
    let mut summary = LoadSummary::default();
    for o in &report.objects {
        let v = match o {
            ObjectResult::Loaded {
                key,
                table,
                rows,
                rows_in_object,
            } => {
                serde_json::json!({"key": key, "result": "loaded", "table": table, "rows": rows, "rows_in_object": rows_in_object})
            }
            ObjectResult::Empty { key, table } => {
                serde_json::json!({"key": key, "result": "empty", "table": table})
            }
            ObjectResult::Duplicate { key, table } => {
                serde_json::json!({"key": key, "result": "already_loaded", "table": table})
            }
            ObjectResult::Unmatched { key, why } => {
                serde_json::json!({"key": key, "result": "unmatched", "why": why})
            }
            ObjectResult::Failed { key, table, error } => {
                summary.failed += 1;
                serde_json::json!({"key": key, "result": "failed", "table": table, "error": error})
            }
        };
        summary.objects.push(v);
    }
    Ok(summary)
}

#[derive(Debug, Default, Serialize)]
pub struct RedriveSummary {
    pub moved: u64,
    /// `start_message_move_task` (AWS), or `moved_by_pushfeed` where the endpoint lacks it.
    pub how: String,
    pub task_handle: Option<String>,
}

/// Return the loads dead-letter queue's messages to the loads queue, so the loader tries
/// them again (after an outage is over). Objects already loaded are skipped by the ledger.
pub async fn redrive(args: &EndpointArgs, move_here: bool) -> anyhow::Result<RedriveSummary> {
    let c = args.clients().await;
    let n = args.names();
    let hint = "did `pushfeed bootstrap` (or terraform apply) create it?";
    let dlq_url = queue_url(&c, &n.loads_dlq(), hint).await?;
    let loads_url = queue_url(&c, &n.loads_queue(), hint).await?;
    let dlq_arn = queue_arn(&c, &dlq_url).await?;
    let loads_arn = queue_arn(&c, &loads_url).await?;
    if !move_here {
        let out = c
            .sqs
            .start_message_move_task()
            .source_arn(&dlq_arn)
            .destination_arn(&loads_arn)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "StartMessageMoveTask from {} to {}: {}\nOn an endpoint without it, add --move-here (pushfeed moves the messages itself).",
                    n.loads_dlq(),
                    n.loads_queue(),
                    sdk(&e)
                )
            })?;
        return Ok(RedriveSummary {
            moved: 0,
            how: "start_message_move_task".into(),
            task_handle: out.task_handle().map(str::to_owned),
        });
    }
    // The same move, done here: send to the loads queue, then delete from the DLQ.
    let mut moved = 0u64;
    let mut empty = 0;
    while empty < 2 {
        let out = c
            .sqs
            .receive_message()
            .queue_url(&dlq_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("receiving from {}: {}", n.loads_dlq(), sdk(&e)))?;
        let msgs = out.messages();
        if msgs.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        let entries: Vec<_> = msgs
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        let sent = c
            .sqs
            .send_message_batch()
            .queue_url(&loads_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("sending to {}: {}", n.loads_queue(), sdk(&e)))?;
        let ok: HashSet<String> = sent
            .successful()
            .iter()
            .map(|s| s.id().to_owned())
            .collect();
        let sent_ok = msgs
            .iter()
            .enumerate()
            .filter(|(i, _)| ok.contains(&i.to_string()))
            .map(|(_, m)| m);
        moved += delete_messages(&c, &dlq_url, sent_ok).await?;
    }
    Ok(RedriveSummary {
        moved,
        how: "moved_by_pushfeed".into(),
        task_handle: None,
    })
}

/// Delete these received messages (in batches of up to 10, as received); how many.
async fn delete_messages<'a>(
    c: &Clients,
    url: &str,
    messages: impl Iterator<Item = &'a aws_sdk_sqs::types::Message>,
) -> anyhow::Result<u64> {
    let entries: Vec<_> = messages
        .enumerate()
        .filter_map(|(i, m)| {
            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .ok()
        })
        .collect();
    let n = entries.len() as u64;
    if n > 0 {
        c.sqs
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("deleting from {url}: {}", sdk(&e)))?;
    }
    Ok(n)
}

/// Messages waiting in a queue (ApproximateNumberOfMessages + …NotVisible).
pub async fn queue_depth(c: &Clients, name: &str) -> anyhow::Result<u64> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let url = queue_url(c, name, "").await?;
    let out = c
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("attributes of {name}: {}", sdk(&e)))?;
    let get = |a: A| {
        out.attributes()
            .and_then(|m| m.get(&a))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(get(A::ApproximateNumberOfMessages) + get(A::ApproximateNumberOfMessagesNotVisible))
}
