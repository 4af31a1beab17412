# One role per function (and one for Firehose, one for Redshift's COPY), each allowed
# only what it uses, on named resources.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# --- batcher -------------------------------------------------------------------------
resource "aws_iam_role" "batcher" {
  name               = "${local.names.batcher}-role"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "batcher" {
  statement {
    sid       = "ReadTheVendorStream"
    actions   = ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:SubscribeToShard"]
    resources = [aws_kinesis_stream.vendor.arn]
  }
  statement {
    sid       = "ListStreams"
    actions   = ["kinesis:ListStreams"]
    resources = ["arn:${data.aws_partition.current.partition}:kinesis:${local.region}:${local.account}:stream/*"]
  }
  statement {
    sid       = "PutIntoTheTypeStreams"
    actions   = ["firehose:PutRecordBatch"]
    resources = [for s in aws_kinesis_firehose_delivery_stream.per_type : s.arn]
  }
  statement {
    sid       = "StreamAndEnvironmentKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.pushfeed.arn]
  }
  statement {
    # The function's own dead-letter queue (asynchronous invocations only).
    sid       = "OnFailureQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.batcher_failures.arn]
  }
  statement {
    # The event source mapping writes discarded batches with the function's role.
    sid       = "KeepDiscardedBatches"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.data.arn}/${local.catalogue.failure_prefix}*"]
  }
  statement {
    sid       = "FindTheDiscardedBatchesBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.batcher.arn}:*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "batcher" {
  name   = "batcher"
  role   = aws_iam_role.batcher.id
  policy = data.aws_iam_policy_document.batcher.json
}

# --- loader --------------------------------------------------------------------------
resource "aws_iam_role" "loader" {
  name               = "${local.names.loader}-role"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "loader" {
  statement {
    sid       = "RunSqlOnTheWarehouse"
    actions   = ["redshift-data:BatchExecuteStatement", "redshift-data:ExecuteStatement"]
    resources = [local.redshift_arn]
  }
  statement {
    # These calls take a statement id, not a cluster: AWS scopes them to statements the
    # caller itself started.
    sid       = "FollowOwnStatements"
    actions   = ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult", "redshift-data:CancelStatement"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "redshift-data:statement-owner-iam-userid"
      values   = ["$${aws:userid}"]
    }
  }
  dynamic "statement" {
    for_each = var.redshift_mode == "provisioned" && var.redshift_db_user != "" ? [1] : []
    content {
      sid     = "TemporaryDatabaseCredentials"
      actions = ["redshift:GetClusterCredentials"]
      resources = [
        "arn:${data.aws_partition.current.partition}:redshift:${local.region}:${local.account}:dbuser:${var.redshift_cluster_identifier}/${var.redshift_db_user}",
        "arn:${data.aws_partition.current.partition}:redshift:${local.region}:${local.account}:dbname:${var.redshift_cluster_identifier}/${var.redshift_database}",
      ]
    }
  }
  dynamic "statement" {
    for_each = var.redshift_mode == "serverless" && var.redshift_secret_arn == "" ? [1] : []
    content {
      sid       = "ServerlessCredentials"
      actions   = ["redshift-serverless:GetCredentials"]
      resources = [local.redshift_arn]
    }
  }
  dynamic "statement" {
    for_each = var.redshift_secret_arn != "" ? [1] : []
    content {
      sid       = "DatabaseSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [var.redshift_secret_arn]
    }
  }
  statement {
    # HeadObject (needs s3:GetObject) when an S3 event lacks an object's size or ETag.
    sid       = "ReadObjectFacts"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.data.arn}/${local.catalogue.data_prefix}*"]
  }
  statement {
    # The manifest that makes COPY read exactly one object.
    sid       = "WriteCopyManifests"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.data.arn}/${local.catalogue.manifest_prefix}*"]
  }
  statement {
    sid       = "Alert"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }
  statement {
    sid       = "TopicAndEnvironmentKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.pushfeed.arn]
  }
  statement {
    sid       = "ConsumeTheLoadsQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.loads.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.loader.arn}:*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "loader" {
  name   = "loader"
  role   = aws_iam_role.loader.id
  policy = data.aws_iam_policy_document.loader.json
}

# --- Firehose --------------------------------------------------------------------------
data "aws_iam_policy_document" "firehose_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "firehose" {
  name               = "${local.prefix}-firehose"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
}

data "aws_iam_policy_document" "firehose" {
  statement {
    sid       = "WriteObjects"
    actions   = ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"]
    resources = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/*"]
  }
  statement {
    sid       = "EncryptObjects"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.pushfeed.arn]
  }
  statement {
    sid       = "DeliveryLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose.arn}:*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "firehose"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}
