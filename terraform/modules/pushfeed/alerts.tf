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
    quarantined = {
      metric      = "QuarantinedRecords"
      threshold   = var.quarantine_alarm_threshold
      description = "Vendor input was quarantined (not parseable, no id, too large, …). Query push_quarantine for reason and raw bytes."
    }
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
  alarm_description   = "Firehose ${each.value.name} failed to deliver to S3 (records go to the error prefix after 24 h of retries)."
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
