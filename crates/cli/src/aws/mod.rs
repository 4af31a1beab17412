//! Against an AWS-compatible endpoint (moto's server, LocalStack, or AWS itself): the
//! clients and names of one environment, and the commands that act on a deployed stack —
//! `bootstrap` (bootstrap.rs) creates what Terraform creates, from the catalogue; `drive`
//! (drive/) plays the parts AWS plays around the Lambdas — the Kinesis event source
//! mapping (drive/stream.rs) and the S3 trigger through the loads queue (drive/loads.rs) —
//! and runs the real handlers with the real SDK clients; `load` and `redrive` here.

mod bootstrap;
mod drive;

pub use bootstrap::{bootstrap, QueueArgs};
pub use drive::{drive, DriveArgs};

use crate::run::s3_event;
use anyhow::{bail, Context};
use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, ExtendedS3DestinationConfiguration,
};
use pushfeed_core::catalogue::{DATA_PREFIX, DESTINATIONS, ERROR_PREFIX};
use pushfeed_core::keys::KeyPatterns;
pub use pushfeed_core::names::Names;
use pushfeed_loader::config::Target;
use pushfeed_loader::{
    AwsDataApi, Config as LoaderConfig, Loader, ObjectResult, RedshiftWarehouse, S3Store,
    SnsNotifier,
};
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

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
    pub cloudwatch: aws_sdk_cloudwatch::Client,
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
        // A service's own endpoint wins over --endpoint / AWS_ENDPOINT_URL, as the SDK's
        // service-specific settings do (AWS_ENDPOINT_URL_KINESIS=…: the load test's Kinesis
        // stand-in beside moto).
        macro_rules! conf {
            ($sdk:ident, $env:literal) => {{
                let mut b = $sdk::config::Builder::from(&shared);
                if let Some(url) = std::env::var(concat!("AWS_ENDPOINT_URL_", $env))
                    .ok()
                    .filter(|u| !u.is_empty())
                {
                    b = b.endpoint_url(url);
                }
                b
            }};
        }
        Clients {
            kinesis: aws_sdk_kinesis::Client::from_conf(conf!(aws_sdk_kinesis, "KINESIS").build()),
            firehose: aws_sdk_firehose::Client::from_conf(
                conf!(aws_sdk_firehose, "FIREHOSE")
                    .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                conf!(aws_sdk_s3, "S3").force_path_style(true).build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(conf!(aws_sdk_sns, "SNS").build()),
            redshift: aws_sdk_redshiftdata::Client::from_conf(
                conf!(aws_sdk_redshiftdata, "REDSHIFT_DATA").build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(conf!(aws_sdk_sqs, "SQS").build()),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                conf!(aws_sdk_cloudwatch, "CLOUDWATCH").build(),
            ),
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
pub fn sdk<E: std::error::Error>(e: &E) -> String {
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
