# Every failure path ends here: an alarm on its metric, and the alarm notifies the topic.

resource "aws_sns_topic" "alerts" {
  name              = local.names.topic
  kms_master_key_id = aws_kms_key.pushfeed.arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alert_emails)
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  alarm_actions = [aws_sns_topic.alerts.arn]

  # pushfeed's own metrics (names from crates/core/src/metrics.rs; the EMF lines carry a
  # dimensionless copy of each, which is what these alarms watch).
  pushfeed_alarms = {
    unknown_type = {
      metric      = "UnknownTypeEvents"
      threshold   = 0
      description = "The vendor sent event types the catalogue does not list; they are in push_unknown_type. Add them to the catalogue if they matter."
    }
    failed_kinesis_records = {
      metric      = "FailedKinesisRecords"
      threshold   = 0
      description = "The batcher could not deliver some records to Firehose; Lambda retries them, then writes the batch whole to the data bucket under aws/lambda/. Once Firehose accepts records again: `pushfeed replay --env <env>` (safe to repeat)."
    }
    load_failures = {
      metric      = "LoadFailures"
      threshold   = 0
      description = "A COPY into Redshift failed, aborted or timed out. The SNS message names the object and the error; the loads queue retries it, then keeps it in pushfeed-<env>-loads-dlq: once the cause is fixed, run `pushfeed redrive --env <env>`."
    }
    invalid_loader_messages = {
      metric      = "InvalidLoaderMessages"
      threshold   = 0
      description = "A message on the loads queue is not an S3 notification (something else writes to the queue); it ends in the loads dead-letter queue. Inspect it there."
    }
    audit_records_failed = {
      metric      = "AuditRecordsFailed"
      threshold   = 0
      description = "The batcher could not deliver an audit record (the data itself was delivered): those lines will show as surplus in v_push_audit_hourly, so the audit cannot prove that hour. Check the audit Firehose stream (pushfeed-<env>-audit) and its throttling."
    }
    unmatched_keys = {
      metric      = "UnmatchedKeys"
      threshold   = 0
      description = "An object was written under the data prefix that no key pattern matches; it was not loaded."
    }
  }

  lambda_alarms = {
    batcher_errors    = { function = aws_lambda_function.batcher.function_name, metric = "Errors" }
    batcher_throttles = { function = aws_lambda_function.batcher.function_name, metric = "Throttles" }
    loader_errors     = { function = aws_lambda_function.loader.function_name, metric = "Errors" }
    loader_throttles  = { function = aws_lambda_function.loader.function_name, metric = "Throttles" }
  }

  queues = {
    batcher = aws_sqs_queue.batcher_failures.name
    loader  = aws_sqs_queue.loads_dlq.name
  }
}

resource "aws_cloudwatch_metric_alarm" "pushfeed" {
  for_each            = local.pushfeed_alarms
  alarm_name          = "${local.prefix}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = local.metrics_namespace
  metric_name         = each.value.metric
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each            = local.lambda_alarms
  alarm_name          = "${local.prefix}-${replace(each.key, "_", "-")}"
  alarm_description   = "${each.value.function}: ${each.value.metric} in the last 5 minutes. Its logs say why."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = each.value.function }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "${local.prefix}-iterator-age"
  alarm_description   = "The oldest unprocessed vendor record is older than ${var.iterator_age_alarm_ms} ms: the batcher is falling behind or failing. Records are lost after ${var.kinesis_retention_hours} h."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = aws_kinesis_stream.vendor.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.iterator_age_alarm_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each            = local.queues
  alarm_name          = "${local.prefix}-${each.key}-failures-queued"
  alarm_description   = "Messages in ${each.value}: work that exhausted its retries. Loader: fix the cause (the load-failures alert says it), then `pushfeed redrive --env ${var.environment}`. Batcher: see the README's runbook."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_delivery" {
  for_each            = aws_kinesis_firehose_delivery_stream.per_type
  alarm_name          = "${each.value.name}-delivery"
  alarm_description   = "Firehose ${each.value.name} failed to deliver to S3. Firehose retries delivery for up to 24 hours and then DISCARDS the data: fix the bucket, key or role now (the stream's error log says which). Records it discarded must be replayed from the vendor stream or the vendor."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.Success"
  dimensions          = { DeliveryStreamName = each.value.name }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Loads waiting: Redshift is down or slow, or the loader cannot keep up.
resource "aws_cloudwatch_metric_alarm" "loads_waiting" {
  alarm_name          = "${local.prefix}-loads-waiting"
  alarm_description   = "The oldest message on ${aws_sqs_queue.loads.name} is older than ${var.loads_age_alarm_seconds} s: objects are not being loaded (Redshift down or paused, grants missing, loader throttled). Nothing is lost while it waits; the loader log and the load-failures alert say why."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.loads.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.loads_age_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- silence: what stops is as loud as what fails -------------------------------------
# A vendor that stops sending, a disabled event source mapping, a broken S3 notification:
# each shows as a metric that stops arriving, so missing data breaches these alarms.
locals {
  silence_alarms = {
    no_records_in = {
      metric      = "RecordsIn"
      description = "No vendor record reached the batcher for ${var.silence_alarm_minutes} minutes: the vendor stopped sending, its key was revoked, or the batcher's event source mapping is disabled. Check the stream's IncomingRecords, then the mapping's state (aws lambda list-event-source-mappings)."
    }
    no_objects_loaded = {
      metric      = "ObjectsLoaded"
      description = "No object was loaded into Redshift for ${var.silence_alarm_minutes} minutes: Firehose, the S3 notification, the loads queue or the loader stopped. Check the loads-waiting alarm, then run `pushfeed reconcile --env ${var.environment} --since 2h --dry-run` to list objects that were never loaded."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "silence" {
  for_each            = local.silence_alarms
  alarm_name          = "${local.prefix}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = local.metrics_namespace
  metric_name         = each.value.metric
  statistic           = "Sum"
  period              = 60 * var.silence_alarm_minutes
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Quarantine as a share of what arrives: an absolute threshold stays in ALARM at 100x
# today's volume, or never fires at today's.
resource "aws_cloudwatch_metric_alarm" "quarantine_ratio" {
  alarm_name          = "${local.prefix}-quarantine-ratio"
  alarm_description   = "More than ${var.quarantine_alarm_percent}% of vendor records were quarantined in 15 minutes (not parseable, no id, too large, …). Query push_quarantine for reason and raw bytes: SELECT reason, COUNT(*) FROM ${var.redshift_schema}.push_quarantine GROUP BY 1."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.quarantine_alarm_percent
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "ratio"
    expression  = "IF(records > 0, 100 * quarantined / records, 0)"
    label       = "Quarantined records, % of records in"
    return_data = true
  }
  metric_query {
    id = "quarantined"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "QuarantinedRecords"
      period      = 900
      stat        = "Sum"
    }
  }
  metric_query {
    id = "records"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "RecordsIn"
      period      = 900
      stat        = "Sum"
    }
  }
}

# --- throttling and freshness: trouble before data is lost ------------------------------
resource "aws_cloudwatch_metric_alarm" "vendor_throttled" {
  alarm_name          = "${local.prefix}-vendor-throttled"
  alarm_description   = "The vendor's PutRecords calls were throttled by ${aws_kinesis_stream.vendor.name}: the vendor retries, but may give up and drop events. ON_DEMAND streams double their capacity within minutes; PROVISIONED: raise kinesis_shard_count."
  namespace           = "AWS/Kinesis"
  metric_name         = "WriteProvisionedThroughputExceeded"
  dimensions          = { StreamName = aws_kinesis_stream.vendor.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# PROVISIONED only: warn at 80% of the shards' write capacity, before the vendor is throttled.
resource "aws_cloudwatch_metric_alarm" "vendor_near_capacity" {
  count               = var.kinesis_stream_mode == "PROVISIONED" ? 1 : 0
  alarm_name          = "${local.prefix}-vendor-near-capacity"
  alarm_description   = "Records into ${aws_kinesis_stream.vendor.name} reached 80% of ${local.kinesis_shards} shards x 1,000 records/s: raise kinesis_peak_records_per_second (or kinesis_shard_count) before the vendor is throttled."
  namespace           = "AWS/Kinesis"
  metric_name         = "IncomingRecords"
  dimensions          = { StreamName = aws_kinesis_stream.vendor.name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0.8 * local.kinesis_shards * 1000 * 60
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_throttled" {
  for_each            = aws_kinesis_firehose_delivery_stream.per_type
  alarm_name          = "${each.value.name}-throttled"
  alarm_description   = "Firehose ${each.value.name} throttled records (ThrottledRecords): the batcher retries them, then reports them to Lambda. Raise the stream's quota (Service Quotas) if it persists."
  namespace           = "AWS/Firehose"
  metric_name         = "ThrottledRecords"
  dimensions          = { DeliveryStreamName = each.value.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_freshness" {
  for_each            = aws_kinesis_firehose_delivery_stream.per_type
  alarm_name          = "${each.value.name}-freshness"
  alarm_description   = "The oldest record in Firehose ${each.value.name} is older than ${var.firehose_freshness_alarm_seconds} s (DeliveryToS3.DataFreshness): delivery to S3 is failing or slow. After 24 hours Firehose discards undelivered data."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.DataFreshness"
  dimensions          = { DeliveryStreamName = each.value.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.firehose_freshness_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The event source mapping could not write a discarded batch to the bucket: those records
# are gone unless they are still in the stream.
resource "aws_cloudwatch_metric_alarm" "destination_delivery" {
  alarm_name          = "${local.prefix}-batcher-destination-delivery"
  alarm_description   = "Lambda could not write a discarded batch of ${aws_lambda_function.batcher.function_name} to the bucket (DestinationDeliveryFailures). Fix the role or bucket now, and read the shard's records from the stream while they are retained (${var.kinesis_retention_hours} h)."
  namespace           = "AWS/Lambda"
  metric_name         = "DestinationDeliveryFailures"
  dimensions          = { FunctionName = aws_lambda_function.batcher.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Work waiting in a failure queue for a day: nobody has acted on the first alarm.
resource "aws_cloudwatch_metric_alarm" "failure_age" {
  for_each            = local.queues
  alarm_name          = "${local.prefix}-${each.key}-failures-aging"
  alarm_description   = "The oldest message in ${each.value} is over a day old; it is deleted after 14 days. Loader: `pushfeed redrive --env ${var.environment}` once the cause is fixed."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 86400
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
