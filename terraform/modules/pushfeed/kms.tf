# One customer-managed key for everything pushfeed stores: stream, bucket, Firehose,
# queues, topic, logs and Lambda environment variables.
resource "aws_kms_key" "pushfeed" {
  description             = "${local.prefix}: vendor stream, data bucket, queues, alerts, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json

  # The vendor's data, its only copy, and the key that decrypts it: never destroyed by a plan.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "pushfeed" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.pushfeed.key_id
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:The key policy must let the account administer the key; IAM policies narrow it.
  # checkov:skip=CKV_AWS_111:Key policies use "*" for the key itself by definition.
  # checkov:skip=CKV_AWS_356:In a key policy "*" means this key only.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
  statement {
    # S3 event notifications into the encrypted loads queue.
    sid       = "S3NotifiesEncryptedQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
  statement {
    sid       = "LogsEncryptLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${local.region}:${local.account}:log-group:*${local.prefix}*"]
    }
  }
}
