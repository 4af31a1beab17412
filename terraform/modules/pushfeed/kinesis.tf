# The vendor writes here with an access key of its own (see README: Deployment).
resource "aws_kinesis_stream" "vendor" {
  name             = local.names.stream
  shard_count      = var.kinesis_stream_mode == "PROVISIONED" ? local.kinesis_shards : null
  retention_period = var.kinesis_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.pushfeed.arn

  stream_mode_details {
    stream_mode = var.kinesis_stream_mode
  }

  # The vendor's data, its only copy, and the key that decrypts it: never destroyed by a plan.
  lifecycle {
    prevent_destroy = true
  }
}

# The vendor's identity: it can put records into this one stream and nothing else.
resource "aws_iam_user" "vendor" {
  # checkov:skip=CKV_AWS_273:The vendor's product authenticates with an access key and secret (it cannot use SSO or assume a role).
  name = local.names.vendor_user
  path = "/pushfeed/"
}

data "aws_iam_policy_document" "vendor_put" {
  statement {
    sid       = "PutIntoTheVendorStream"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards"]
    resources = [aws_kinesis_stream.vendor.arn]
  }
  statement {
    sid       = "EncryptForTheStream"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.pushfeed.arn]
  }
}

resource "aws_iam_policy" "vendor_put" {
  name   = "${local.prefix}-vendor-put"
  policy = data.aws_iam_policy_document.vendor_put.json
}

resource "aws_iam_user_policy_attachment" "vendor_put" {
  # checkov:skip=CKV_AWS_40:A dedicated machine user with one managed policy; there is no group of vendors.
  user       = aws_iam_user.vendor.name
  policy_arn = aws_iam_policy.vendor_put.arn
}
