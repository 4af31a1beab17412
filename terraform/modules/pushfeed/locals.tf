locals {
  prefix = "${var.name}-${var.environment}"

  # The one catalogue, generated from the Rust code by `pushfeed catalogue --json`;
  # tests/terraform fails when this copy drifts from the code.
  catalogue    = jsondecode(file("${path.module}/catalogue.json"))
  destinations = { for d in local.catalogue.destinations : d.name => d }
  event_types  = [for d in local.catalogue.destinations : d.name if d.kind == "event"]

  names = {
    stream = "${local.prefix}-vendor"
    # Bucket names are global: the account id keeps two adopters' "pushfeed-prod" apart.
    bucket          = "${local.prefix}-data-${data.aws_caller_identity.current.account_id}"
    firehose_prefix = "${local.prefix}-"
    topic           = "${local.prefix}-alerts"
    batcher         = "${local.prefix}-batcher"
    loader          = "${local.prefix}-loader"
    vendor_user     = "${local.prefix}-vendor-writer"
  }

  # Shards from the stated peak, with 25% headroom (a shard takes 1,000 records/s or 1 MiB/s).
  kinesis_shards = max(
    var.kinesis_shard_count,
    ceil(1.25 * var.kinesis_peak_records_per_second / 1000),
    ceil(1.25 * var.kinesis_peak_records_per_second * var.kinesis_record_bytes / 1048576),
  )

  metrics_namespace = "${var.name}/${var.environment}"

  account = data.aws_caller_identity.current.account_id
  region  = data.aws_region.current.name

  # The Data API runs SQL on exactly this workgroup or cluster.
  redshift_arn = var.redshift_mode == "serverless" ? one(data.aws_redshiftserverless_workgroup.target[*].arn) : "arn:${data.aws_partition.current.partition}:redshift:${local.region}:${local.account}:cluster:${var.redshift_cluster_identifier}"
}

data "aws_redshiftserverless_workgroup" "target" {
  count          = var.redshift_mode == "serverless" ? 1 : 0
  workgroup_name = var.redshift_workgroup_name
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
