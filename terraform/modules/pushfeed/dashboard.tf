# One dashboard per environment: volume in and per type, data volume, invocations, errors,
# duration, lag, Firehose delivery, rows loaded, load latency, end-to-end freshness, loads
# waiting.

locals {
  ns = local.metrics_namespace

  widgets = [
    { title = "Events in (Kinesis records) and routed", metrics = [[local.ns, "RecordsIn"], [local.ns, "EventsRouted"], [local.ns, "UnknownTypeEvents"], [local.ns, "QuarantinedRecords"]] },
    { title = "Events per type", metrics = [for t in local.event_types : [local.ns, "EventsRouted", "EventType", t]] },
    { title = "Data volume (bytes)", metrics = [["AWS/Kinesis", "IncomingBytes", "StreamName", aws_kinesis_stream.vendor.name], [local.ns, "FirehoseBytesSent"]] },
    { title = "Firehose records sent, retried; Kinesis records failed", metrics = [[local.ns, "FirehoseRecordsSent"], [local.ns, "FirehoseRetries"], [local.ns, "FailedKinesisRecords"]] },
    { title = "Invocations", metrics = [["AWS/Lambda", "Invocations", "FunctionName", aws_lambda_function.batcher.function_name], ["AWS/Lambda", "Invocations", "FunctionName", aws_lambda_function.loader.function_name]] },
    { title = "Errors and throttles", metrics = [["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.batcher.function_name], ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.loader.function_name], ["AWS/Lambda", "Throttles", "FunctionName", aws_lambda_function.batcher.function_name], [local.ns, "LoadFailures"], [local.ns, "UnmatchedKeys"]] },
    { title = "Duration (ms)", stat = "Average", metrics = [["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.batcher.function_name], ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.loader.function_name], [local.ns, "BatchDurationMs"]] },
    { title = "Lag: iterator age (ms)", stat = "Maximum", metrics = [["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", aws_kinesis_stream.vendor.name], ["AWS/Lambda", "IteratorAge", "FunctionName", aws_lambda_function.batcher.function_name]] },
    { title = "Firehose delivery to S3 (records)", metrics = [for s in aws_kinesis_firehose_delivery_stream.per_type : ["AWS/Firehose", "DeliveryToS3.Records", "DeliveryStreamName", s.name]] },
    { title = "Rows loaded per type", metrics = concat([[local.ns, "RowsLoaded"]], [for t in keys(local.destinations) : [local.ns, "RowsLoaded", "EventType", t]]) },
    { title = "Objects loaded, duplicate, empty", metrics = [[local.ns, "ObjectsLoaded"], [local.ns, "DuplicateObjects"], [local.ns, "EmptyObjects"]] },
    { title = "Load latency: object created → loaded (ms)", stat = "Maximum", metrics = [[local.ns, "LoadLatencyMs"]] },
    { title = "End-to-end freshness: event → row (s), per type and heartbeat", stat = "Maximum", metrics = concat([[local.ns, "EventFreshnessSeconds"]], [for t in keys(local.destinations) : [local.ns, "EventFreshnessSeconds", "EventType", t]]) },
    { title = "Loads waiting: oldest message (s); dead-lettered", stat = "Maximum", metrics = [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.loads.name], ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.loads_dlq.name], [local.ns, "LoadsDeferred"]] },
    { title = "Audit: events missing after the grace period, unbalanced hours; audit records lost", stat = "Maximum", metrics = [[local.ns, "AuditMissingEvents"], [local.ns, "AuditUnbalancedHours"], [local.ns, "AuditRecordsFailed"]] },
  ]
}

resource "aws_cloudwatch_dashboard" "pushfeed" {
  dashboard_name = local.prefix
  dashboard_body = jsonencode({
    widgets = [for i, w in local.widgets : {
      type   = "metric"
      x      = (i % 2) * 12
      y      = floor(i / 2) * 6
      width  = 12
      height = 6
      properties = {
        title   = w.title
        region  = local.region
        stat    = lookup(w, "stat", "Sum")
        period  = 300
        view    = "timeSeries"
        metrics = w.metrics
      }
    }]
  })
}
