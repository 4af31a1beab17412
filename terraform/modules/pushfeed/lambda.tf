# The two Lambdas (provided.al2023; zips from scripts/package), their event source mappings
# (the vendor stream; the loads queue S3 notifies), and the queues that catch what
# exhausted its retries.

resource "aws_sqs_queue" "batcher_failures" {
  name                      = "${local.names.batcher}-failures"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.pushfeed.arn
}

# S3 notifies this queue of every new object under the data prefix; the loader consumes it.
# A Redshift outage only delays loads: a message is retried while it stays visible again
# after each failure, then waits in the dead-letter queue for `pushfeed redrive`.
resource "aws_sqs_queue" "loads" {
  name = "${local.prefix}-loads"
  # AWS: at least six times the function's timeout, so a running load is never re-delivered.
  visibility_timeout_seconds = 6 * var.loader_timeout_seconds
  message_retention_seconds  = 1209600
  kms_master_key_id          = aws_kms_key.pushfeed.arn
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.loads_dlq.arn
    maxReceiveCount     = var.loads_max_receive_count
  })
}

resource "aws_sqs_queue" "loads_dlq" {
  name                      = "${local.prefix}-loads-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.pushfeed.arn
}

# Only the loads DLQ may send here: StartMessageMoveTask (`pushfeed redrive`) moves back.
resource "aws_sqs_queue_redrive_allow_policy" "loads_dlq" {
  queue_url = aws_sqs_queue.loads_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.loads.arn]
  })
}

data "aws_iam_policy_document" "loads_queue" {
  statement {
    sid       = "S3NotifiesNewObjects"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.loads.arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.data.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_sqs_queue_policy" "loads" {
  queue_url = aws_sqs_queue.loads.id
  policy    = data.aws_iam_policy_document.loads_queue.json
}

resource "aws_cloudwatch_log_group" "batcher" {
  name              = "/aws/lambda/${local.names.batcher}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pushfeed.arn
}

resource "aws_cloudwatch_log_group" "loader" {
  name              = "/aws/lambda/${local.names.loader}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pushfeed.arn
}

resource "aws_lambda_function" "batcher" {
  # checkov:skip=CKV_AWS_117:It only calls public AWS endpoints (Firehose, CloudWatch Logs); a VPC would add NAT or endpoints and cost, not isolation.
  # checkov:skip=CKV_AWS_272:Zips are built by scripts/package in CI from the reviewed tree; code signing needs a signing profile the team does not run yet.
  function_name                  = local.names.batcher
  publish                        = true
  role                           = aws_iam_role.batcher.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.lambda_architecture]
  filename                       = var.batcher_zip
  source_code_hash               = filebase64sha256(var.batcher_zip)
  memory_size                    = var.batcher_memory_mb
  timeout                        = var.batcher_timeout_seconds
  reserved_concurrent_executions = var.batcher_reserved_concurrency
  kms_key_arn                    = aws_kms_key.pushfeed.arn

  environment {
    variables = {
      PUSHFEED_FIREHOSE_STREAM_PREFIX = local.names.firehose_prefix
      PUSHFEED_METRICS_NAMESPACE      = local.metrics_namespace
    }
  }

  # Only asynchronous invocations use it; the event source mapping has its own destination.
  dead_letter_config {
    target_arn = aws_sqs_queue.batcher_failures.arn
  }

  tracing_config {
    mode = "Active"
  }

  # JSON logs at the environment's level: Lambda passes it to the binary as
  # AWS_LAMBDA_LOG_LEVEL (and AWS_LAMBDA_LOG_FORMAT=JSON) and drops lines below it.
  logging_config {
    log_format            = "JSON"
    application_log_level = var.log_level
    system_log_level      = "WARN"
    log_group             = aws_cloudwatch_log_group.batcher.name
  }
}

resource "aws_lambda_event_source_mapping" "vendor_stream" {
  event_source_arn                   = aws_kinesis_stream.vendor.arn
  function_name                      = aws_lambda_alias.batcher.arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  parallelization_factor             = var.parallelization_factor
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  # An S3 destination keeps the whole discarded batch (an SQS one only its coordinates,
  # and the records expire with the stream): `pushfeed replay` reads it from aws/lambda/.
  destination_config {
    on_failure {
      destination_arn = aws_s3_bucket.data.arn
    }
  }

  lifecycle {
    precondition {
      condition     = var.maximum_record_age_seconds != -1 && var.maximum_record_age_seconds <= var.kinesis_retention_hours * 3600 - 3600
      error_message = "maximum_record_age_seconds must be at most the stream's retention less an hour: a record must be given up on (and kept in S3) before the stream drops it."
    }
  }
}

resource "aws_lambda_function" "loader" {
  # checkov:skip=CKV_AWS_117:It only calls public AWS endpoints (Redshift Data API, SNS); a VPC would add NAT or endpoints and cost, not isolation.
  # checkov:skip=CKV_AWS_272:Zips are built by scripts/package in CI from the reviewed tree; code signing needs a signing profile the team does not run yet.
  # checkov:skip=CKV_AWS_116:A Lambda DLQ catches asynchronous invocations only; the loader is invoked by its SQS event source mapping, whose queue has its own dead-letter queue (aws_sqs_queue.loads_dlq).
  function_name                  = local.names.loader
  publish                        = true
  role                           = aws_iam_role.loader.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.lambda_architecture]
  filename                       = var.loader_zip
  source_code_hash               = filebase64sha256(var.loader_zip)
  memory_size                    = var.loader_memory_mb
  timeout                        = var.loader_timeout_seconds
  reserved_concurrent_executions = var.loader_reserved_concurrency
  kms_key_arn                    = aws_kms_key.pushfeed.arn

  environment {
    variables = {
      PUSHFEED_REDSHIFT_CLUSTER_ID = var.redshift_mode == "provisioned" ? var.redshift_cluster_identifier : ""
      PUSHFEED_REDSHIFT_WORKGROUP  = var.redshift_mode == "serverless" ? var.redshift_workgroup_name : ""
      PUSHFEED_REDSHIFT_DATABASE   = var.redshift_database
      PUSHFEED_REDSHIFT_DB_USER    = var.redshift_db_user
      PUSHFEED_REDSHIFT_SECRET_ARN = var.redshift_secret_arn
      PUSHFEED_REDSHIFT_SCHEMA     = var.redshift_schema
      PUSHFEED_COPY_ROLE_ARN       = aws_iam_role.redshift_copy.arn
      PUSHFEED_ALERT_TOPIC_ARN     = aws_sns_topic.alerts.arn
      PUSHFEED_METRICS_NAMESPACE   = local.metrics_namespace
    }
  }

  tracing_config {
    mode = "Active"
  }

  # JSON logs at the environment's level: Lambda passes it to the binary as
  # AWS_LAMBDA_LOG_LEVEL (and AWS_LAMBDA_LOG_FORMAT=JSON) and drops lines below it.
  logging_config {
    log_format            = "JSON"
    application_log_level = var.log_level
    system_log_level      = "WARN"
    log_group             = aws_cloudwatch_log_group.loader.name
  }
}

# The loader reads the loads queue: failed messages (partial batch response) become visible
# again after the visibility timeout, and after loads_max_receive_count attempts move to
# the dead-letter queue.
resource "aws_lambda_event_source_mapping" "loads" {
  event_source_arn                   = aws_sqs_queue.loads.arn
  function_name                      = aws_lambda_alias.loader.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = max(2, var.loader_reserved_concurrency)
  }
}

# Each apply publishes a version; the event source mappings invoke the `live` alias. To roll
# back, set batcher_version / loader_version to an earlier version number and apply: one
# apply, no rebuild.
resource "aws_lambda_alias" "batcher" {
  name             = "live"
  function_name    = aws_lambda_function.batcher.function_name
  function_version = var.batcher_version != "" ? var.batcher_version : aws_lambda_function.batcher.version
}

resource "aws_lambda_alias" "loader" {
  name             = "live"
  function_name    = aws_lambda_function.loader.function_name
  function_version = var.loader_version != "" ? var.loader_version : aws_lambda_function.loader.version
}
