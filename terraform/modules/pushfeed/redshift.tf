# The role Redshift assumes for COPY (associate it with the cluster or namespace), and the
# warehouse schema, applied in order from the SQL the CLI renders (`pushfeed migrations
# --write-terraform`): schema -> migrations table -> each migration once (migrations.tf) ->
# grants -> views. Every statement names var.redshift_schema.

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
    resources = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/${local.catalogue.data_prefix}*", "${aws_s3_bucket.data.arn}/${local.catalogue.manifest_prefix}*"]
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

locals {
  # The identity Terraform runs the DDL as: on Serverless without a secret, the deploying
  # IAM identity (database user IAM:<user> or IAMR:<role>); otherwise redshift_db_user or
  # the secret's user. It owns the tables.
  ddl_target = {
    cluster_identifier = var.redshift_mode == "provisioned" ? var.redshift_cluster_identifier : null
    workgroup_name     = var.redshift_mode == "serverless" ? var.redshift_workgroup_name : null
    db_user            = var.redshift_db_user != "" ? var.redshift_db_user : null
    secret_arn         = var.redshift_secret_arn != "" ? var.redshift_secret_arn : null
  }

  # The database user the loader connects as, granted the loader role: on Serverless the
  # Data API maps the loader's IAM role to IAMR:<role name>.
  loader_db_user = var.redshift_loader_db_user != "" ? var.redshift_loader_db_user : (
    var.redshift_mode == "serverless" && var.redshift_secret_arn == "" ? "IAMR:${aws_iam_role.loader.name}" : var.redshift_db_user
  )

  sql_vars = {
    schema      = var.redshift_schema
    database    = var.redshift_database
    loader_user = local.loader_db_user
  }
  # Every generated SQL file, one statement per element, comment lines dropped.
  sql_statements = {
    for f in fileset("${path.module}/sql", "**/*.sql.tftpl") : trimsuffix(f, ".sql.tftpl") => [
      for s in split(";\n", templatefile("${path.module}/sql/${f}", local.sql_vars)) :
      trimspace(replace(s, "/(?m)^--.*$/", "")) if trimspace(replace(s, "/(?m)^--.*$/", "")) != ""
    ]
  }
  migration_sql = { for k, v in local.sql_statements : trimprefix(k, "migrations/") => v if startswith(k, "migrations/") }
}

resource "aws_redshiftdata_statement" "schema" {
  count              = var.apply_ddl ? 1 : 0
  cluster_identifier = local.ddl_target.cluster_identifier
  workgroup_name     = local.ddl_target.workgroup_name
  database           = var.redshift_database
  db_user            = local.ddl_target.db_user
  secret_arn         = local.ddl_target.secret_arn
  sql                = local.sql_statements["bootstrap"][0]
}

resource "aws_redshiftdata_statement" "migrations_table" {
  count              = var.apply_ddl ? 1 : 0
  cluster_identifier = local.ddl_target.cluster_identifier
  workgroup_name     = local.ddl_target.workgroup_name
  database           = var.redshift_database
  db_user            = local.ddl_target.db_user
  secret_arn         = local.ddl_target.secret_arn
  sql                = local.sql_statements["bootstrap"][1]
  depends_on         = [aws_redshiftdata_statement.schema]
}

# Idempotent: GRANTs of privileges already held change nothing, so they re-run safely.
resource "aws_redshiftdata_statement" "grants" {
  count              = var.apply_ddl ? length(local.sql_statements["grants"]) : 0
  cluster_identifier = local.ddl_target.cluster_identifier
  workgroup_name     = local.ddl_target.workgroup_name
  database           = var.redshift_database
  db_user            = local.ddl_target.db_user
  secret_arn         = local.ddl_target.secret_arn
  sql                = local.sql_statements["grants"][count.index]
  depends_on         = [terraform_data.migrations_applied]

  lifecycle {
    precondition {
      condition     = local.loader_db_user != ""
      error_message = "Set redshift_loader_db_user: the database user the loader connects as (the user in redshift_secret_arn) must be granted the loader role."
    }
  }
}

# Late-binding views (WITH NO SCHEMA BINDING): created after the grants, so the analyst
# role's default privileges cover them.
resource "aws_redshiftdata_statement" "views" {
  count              = var.apply_ddl ? length(local.sql_statements["views"]) : 0
  cluster_identifier = local.ddl_target.cluster_identifier
  workgroup_name     = local.ddl_target.workgroup_name
  database           = var.redshift_database
  db_user            = local.ddl_target.db_user
  secret_arn         = local.ddl_target.secret_arn
  sql                = local.sql_statements["views"][count.index]
  depends_on         = [aws_redshiftdata_statement.grants]
}
