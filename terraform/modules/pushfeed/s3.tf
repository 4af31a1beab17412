# Firehose writes here; each new object under the data prefix triggers the loader.
resource "aws_s3_bucket" "data" {
  # checkov:skip=CKV_AWS_18:Server access logs would need a second bucket per environment; CloudTrail data events cover audit where required.
  # checkov:skip=CKV_AWS_144:Objects are a replayable staging copy (the warehouse and the vendor hold the data); cross-region replication is not worth its cost here.
  bucket = local.names.bucket

  # The vendor's data, its only copy, and the key that decrypts it: never destroyed by a plan.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.pushfeed.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

data "aws_iam_policy_document" "data_bucket" {
  statement {
    sid     = "TlsOnly"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.data.arn,
      "${aws_s3_bucket.data.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  bucket = aws_s3_bucket.data.id
  policy = data.aws_iam_policy_document.data_bucket.json
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    id     = "loaded-objects"
    status = "Enabled"
    filter {
      prefix = local.catalogue.data_prefix
    }
    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.raw_object_expiry_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }

  rule {
    id     = "firehose-errors"
    status = "Enabled"
    filter {
      prefix = local.catalogue.error_prefix
    }
    expiration {
      days = var.raw_object_expiry_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }

  # Batches the batcher gave up on, whole: kept as long as the data, for `pushfeed replay`.
  rule {
    id     = "discarded-batches"
    status = "Enabled"
    filter {
      prefix = local.catalogue.failure_prefix
    }
    expiration {
      days = var.raw_object_expiry_days
    }
  }

  # A COPY manifest is read once, by the load that wrote it.
  rule {
    id     = "copy-manifests"
    status = "Enabled"
    filter {
      prefix = local.catalogue.manifest_prefix
    }
    expiration {
      days = 7
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# Only the data prefix triggers the loader: Firehose's error prefix lies outside it.
resource "aws_s3_bucket_notification" "data" {
  bucket = aws_s3_bucket.data.id
  queue {
    id            = "pushfeed-loads"
    queue_arn     = aws_sqs_queue.loads.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = local.catalogue.data_prefix
  }
  # No object is loaded before the loader's database user holds its grants.
  depends_on = [aws_sqs_queue_policy.loads, aws_redshiftdata_statement.grants]
}
