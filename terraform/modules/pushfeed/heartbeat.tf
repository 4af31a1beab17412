# The heartbeat: every 5 minutes an EventBridge rule puts a canary record into the vendor
# stream, in Airship's event shape (the batcher maps type PUSHFEED_CANARY to the `canary`
# table). It travels the whole pipeline; the loader reports, per table, how long ago the
# newest event of each loaded object occurred (EventFreshnessSeconds), and the canary's
# figure is alarmed on — missing data breaching, so a pipeline that stops anywhere is loud.

resource "aws_cloudwatch_event_rule" "canary" {
  name                = "${local.prefix}-canary"
  description         = "pushfeed heartbeat: a canary record into ${local.names.stream} every 5 minutes."
  schedule_expression = "rate(5 minutes)"
}

resource "aws_cloudwatch_event_target" "canary" {
  rule     = aws_cloudwatch_event_rule.canary.name
  arn      = aws_kinesis_stream.vendor.arn
  role_arn = aws_iam_role.canary.arn

  kinesis_target {
    partition_key_path = "$.id"
  }

  # The scheduled event's own id and time: a new canary each time, dated when it fired.
  input_transformer {
    input_paths = {
      id   = "$.id"
      time = "$.time"
    }
    input_template = <<-TEMPLATE
      {"type": "PUSHFEED_CANARY", "id": "canary-<id>", "occurred": "<time>", "device": {"named_user_id": "pushfeed-canary"}, "body": {}}
    TEMPLATE
  }
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "canary" {
  name               = "${local.prefix}-canary"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

data "aws_iam_policy_document" "canary" {
  statement {
    sid       = "PutTheCanary"
    actions   = ["kinesis:PutRecord"]
    resources = [aws_kinesis_stream.vendor.arn]
  }
  statement {
    sid       = "EncryptForTheStream"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.pushfeed.arn]
  }
}

resource "aws_iam_role_policy" "canary" {
  name   = "put-canary"
  role   = aws_iam_role.canary.id
  policy = data.aws_iam_policy_document.canary.json
}

resource "aws_cloudwatch_metric_alarm" "canary_freshness" {
  alarm_name          = "${local.prefix}-canary-freshness"
  alarm_description   = "No heartbeat reached Redshift within ${var.canary_freshness_alarm_seconds} s (or none at all): the pipeline is stopped or slow somewhere between the stream and the warehouse. Follow it: iterator age, Firehose freshness, loads-waiting; then `pushfeed reconcile --env ${var.environment} --since 2h --dry-run`."
  namespace           = local.metrics_namespace
  metric_name         = "EventFreshnessSeconds"
  dimensions          = { EventType = "canary" }
  statistic           = "Maximum"
  period              = 900
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.canary_freshness_alarm_seconds
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
