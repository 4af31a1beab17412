# The role Redshift assumes for COPY (associate it with the cluster or namespace), and the
# tables, ledger and schema, applied from the DDL the CLI renders (`pushfeed ddl`).

data "aws_iam_policy_document" "redshift_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "redshift_copy" {
  name               = "${local.prefix}-redshift-copy"
  assume_role_policy = data.aws_iam_policy_document.redshift_assume.json
}

data "aws_iam_policy_document" "redshift_copy" {
  statement {
    sid       = "ReadLoadedObjects"
    actions   = ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/${local.catalogue.data_prefix}*"]
  }
  statement {
    sid       = "DecryptObjects"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.pushfeed.arn]
  }
}

resource "aws_iam_role_policy" "redshift_copy" {
  name   = "copy"
  role   = aws_iam_role.redshift_copy.id
  policy = data.aws_iam_policy_document.redshift_copy.json
}

resource "aws_redshiftdata_statement" "ddl" {
  count              = var.apply_ddl ? length(local.ddl_statements) : 0
  cluster_identifier = var.redshift_mode == "provisioned" ? var.redshift_cluster_identifier : null
  workgroup_name     = var.redshift_mode == "serverless" ? var.redshift_workgroup_name : null
  database           = var.redshift_database
  db_user            = var.redshift_db_user != "" ? var.redshift_db_user : null
  secret_arn         = var.redshift_secret_arn != "" ? var.redshift_secret_arn : null
  sql                = local.ddl_statements[count.index]
}
