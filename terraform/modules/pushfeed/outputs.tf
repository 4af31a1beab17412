output "vendor_stream_name" {
  description = "Give the vendor this stream name (and the region)."
  value       = aws_kinesis_stream.vendor.name
}

output "vendor_stream_arn" {
  description = "The vendor stream's ARN."
  value       = aws_kinesis_stream.vendor.arn
}

output "vendor_user_name" {
  description = "IAM user whose access key the vendor uses (create the key outside Terraform: see README)."
  value       = aws_iam_user.vendor.name
}

output "data_bucket" {
  description = "Bucket Firehose writes to and the loader reads from."
  value       = aws_s3_bucket.data.bucket
}

output "alert_topic_arn" {
  description = "SNS topic every alarm and alert goes to."
  value       = aws_sns_topic.alerts.arn
}

output "redshift_copy_role_arn" {
  description = "Associate this role with the Redshift cluster or Serverless namespace so COPY can read the bucket."
  value       = aws_iam_role.redshift_copy.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of this environment."
  value       = aws_cloudwatch_dashboard.pushfeed.dashboard_name
}

output "failure_queues" {
  description = "Queues holding what exhausted its retries (batcher; loader: the loads dead-letter queue, `pushfeed redrive` returns it)."
  value       = { batcher = aws_sqs_queue.batcher_failures.url, loader = aws_sqs_queue.loads_dlq.url }
}

output "loads_queue" {
  description = "The queue S3 notifies of new objects and the loader consumes."
  value       = aws_sqs_queue.loads.url
}
