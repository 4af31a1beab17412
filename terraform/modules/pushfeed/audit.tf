# The audit trail. The batcher writes, per invocation, table and hour of Kinesis arrival,
# the lines Firehose accepted — through the `audit` Firehose stream (the catalogue's audit
# destination, created with the others in firehose.tf) into push_audit. Every load writes
# the lines it found and the rows it inserted per hour into pushfeed_load_audit, in the
# load's transaction. The view v_push_audit_hourly compares the two (sql/views.sql.tftpl).
#
# Every 15 minutes this rule invokes the loader's `live` alias with {"pushfeed":
# "audit-check"}: it reads the view for the last 48 hours and emits AuditMissingEvents
# (events sent but not in the warehouse two hours after their hour ended) and
# AuditUnbalancedHours. The alarm breaches on any missing event — and when the check
# stops reporting, because then nothing proves counts in = counts out.

resource "aws_cloudwatch_event_rule" "audit_check" {
  name                = "${local.prefix}-audit-check"
  description         = "pushfeed audit: compare what the batcher sent with what was loaded, every 15 minutes."
  schedule_expression = "rate(15 minutes)"
}

resource "aws_cloudwatch_event_target" "audit_check" {
  rule  = aws_cloudwatch_event_rule.audit_check.name
  arn   = aws_lambda_alias.loader.arn
  input = jsonencode({ pushfeed = "audit-check" })
}

resource "aws_lambda_permission" "audit_check" {
  statement_id  = "AuditCheckFromEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.loader.function_name
  qualifier     = aws_lambda_alias.loader.name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.audit_check.arn
}

resource "aws_cloudwatch_metric_alarm" "audit_missing" {
  alarm_name          = "${local.prefix}-audit-missing"
  alarm_description   = "Events the batcher handed to Firehose are not in Redshift two hours after their hour ended (v_push_audit_hourly status 'missing'), or the audit check stopped reporting. Find which: `pushfeed audit --env ${var.environment} --since 48h --problems` (hour, table, how many; objects not loaded yet are counted as in flight). Then `pushfeed reconcile --env ${var.environment} --since 48h` loads objects no load recorded, `pushfeed redrive --env ${var.environment}` returns dead-lettered loads; what remains missing never reached S3 (Firehose delivery errors under errors/)."
  namespace           = local.metrics_namespace
  metric_name         = "AuditMissingEvents"
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
