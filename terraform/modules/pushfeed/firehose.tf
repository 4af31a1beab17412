# One delivery stream per catalogue destination (event types, unknown type, quarantine).
# A plain prefix per type: Firehose appends YYYY/MM/DD/HH/ (UTC), the layout the
# loader's key patterns match (the same in moto and AWS).
resource "aws_kinesis_firehose_delivery_stream" "per_type" {
  for_each    = local.destinations
  name        = "${local.names.firehose_prefix}${each.value.stream_suffix}"
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = aws_kms_key.pushfeed.arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = aws_s3_bucket.data.arn
    prefix              = each.value.s3_prefix
    error_output_prefix = "${local.catalogue.error_prefix}${each.key}/"
    buffering_size      = var.firehose_buffer_mb
    buffering_interval  = var.firehose_buffer_seconds
    compression_format  = "GZIP"
    kms_key_arn         = aws_kms_key.pushfeed.arn

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = each.key
    }
  }
}

resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${local.prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pushfeed.arn
}

resource "aws_cloudwatch_log_stream" "firehose" {
  for_each       = local.destinations
  name           = each.key
  log_group_name = aws_cloudwatch_log_group.firehose.name
}
