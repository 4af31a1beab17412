# pushfeed, dev environment: a thin root that calls the module with dev's values.
terraform {
  required_version = ">= 1.10.0" # S3 native state locking (use_lockfile) needs 1.10
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60.0, < 7.0.0"
    }
  }
  # Remote state: S3 with native locking. Values in backend.hcl:
  #   terraform init -backend-config=backend.hcl
  backend "s3" {}
}

provider "aws" {
  region = var.region
  # A plan against the wrong account's credentials fails instead of creating resources there.
  allowed_account_ids = [var.aws_account_id]
  default_tags {
    tags = {
      project     = "pushfeed"
      environment = "dev"
      managed-by  = "terraform"
    }
  }
}

module "pushfeed" {
  source              = "../../modules/pushfeed"
  environment         = "dev"
  batcher_zip         = "${path.root}/../../../dist/pushfeed-batcher.zip"
  loader_zip          = "${path.root}/../../../dist/pushfeed-loader.zip"
  lambda_architecture = trimspace(file("${path.root}/../../../packaging/architecture"))

  kinesis_stream_mode     = "ON_DEMAND"
  kinesis_retention_hours = 48
  firehose_buffer_seconds = 60
  parallelization_factor  = 1
  log_retention_days      = 365
  log_level               = "DEBUG"

  redshift_mode           = "serverless"
  redshift_workgroup_name = var.redshift_workgroup_name
  redshift_database       = var.redshift_database
  alert_emails            = var.alert_emails
}
