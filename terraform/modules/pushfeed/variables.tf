variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "pushfeed"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name))
    error_message = "name: 2-20 characters a-z, 0-9 and -, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (dev, prod, …): part of every resource name."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment: 2-10 characters a-z and 0-9."
  }
}

variable "batcher_zip" {
  description = "Path of the batcher Lambda zip built by `scripts/package` (bootstrap inside)."
  type        = string
}

variable "loader_zip" {
  description = "Path of the loader Lambda zip built by `scripts/package` (bootstrap inside)."
  type        = string
}

variable "lambda_architecture" {
  description = "Lambda architecture of both zips; must match what `scripts/package` built (packaging/architecture)."
  type        = string
  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture: x86_64 or arm64."
  }
}

variable "kinesis_stream_mode" {
  description = "Vendor stream capacity mode: ON_DEMAND (scales itself) or PROVISIONED (kinesis_shard_count shards)."
  type        = string
  default     = "ON_DEMAND"
  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.kinesis_stream_mode)
    error_message = "kinesis_stream_mode: ON_DEMAND or PROVISIONED."
  }
}

variable "kinesis_shard_count" {
  description = "Shards when kinesis_stream_mode is PROVISIONED (1 MB/s or 1,000 records/s in per shard)."
  type        = number
  default     = 2
  validation {
    condition     = var.kinesis_shard_count >= 1 && var.kinesis_shard_count <= 500
    error_message = "kinesis_shard_count: 1-500."
  }
}

variable "kinesis_retention_hours" {
  description = "How long the vendor stream keeps records: the time you have to fix a broken batcher before data is lost."
  type        = number
  default     = 168
  validation {
    condition     = var.kinesis_retention_hours >= 24 && var.kinesis_retention_hours <= 8760
    error_message = "kinesis_retention_hours: 24-8760."
  }
}

variable "batch_size" {
  description = "Most Kinesis records per batcher invocation (the event source mapping's BatchSize)."
  type        = number
  default     = 10000
  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size: 1-10000."
  }
}

variable "batching_window_seconds" {
  description = "How long the event source mapping gathers records before invoking the batcher."
  type        = number
  default     = 60
  validation {
    condition     = var.batching_window_seconds >= 0 && var.batching_window_seconds <= 300
    error_message = "batching_window_seconds: 0-300."
  }
}

variable "parallelization_factor" {
  description = "Concurrent batcher invocations per shard (1-10)."
  type        = number
  default     = 2
  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10
    error_message = "parallelization_factor: 1-10."
  }
}

variable "maximum_retry_attempts" {
  description = "Retries of a failing batch (after bisecting) before it is written to the bucket under aws/lambda/ (replay with `pushfeed replay`)."
  type        = number
  default     = 10
  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 10000
    error_message = "maximum_retry_attempts: 0-10000."
  }
}

variable "maximum_record_age_seconds" {
  description = "Records older than this are given up on (written whole to the bucket under aws/lambda/) instead of retried; at most the stream's retention less an hour, so nothing expires unseen."
  type        = number
  default     = 86400
  validation {
    condition     = var.maximum_record_age_seconds >= 60 && var.maximum_record_age_seconds <= 604800
    error_message = "maximum_record_age_seconds: 60-604800 (-1, retry until the record expires, would let records expire without a trace)."
  }
}

variable "batcher_memory_mb" {
  description = "Batcher memory (MB); CPU scales with it."
  type        = number
  default     = 512
}

variable "batcher_timeout_seconds" {
  description = "Batcher timeout; retries stop a safety margin before it."
  type        = number
  default     = 120
}

variable "batcher_reserved_concurrency" {
  description = "Reserved concurrency of the batcher: at least shards × parallelization_factor."
  type        = number
  default     = 40
}

variable "loader_memory_mb" {
  description = "Loader memory (MB)."
  type        = number
  default     = 256
}

variable "loader_timeout_seconds" {
  description = "Loader timeout: how long one load may be polled before Lambda retries the event."
  type        = number
  default     = 600
  validation {
    condition     = var.loader_timeout_seconds >= 30 && var.loader_timeout_seconds <= 900
    error_message = "loader_timeout_seconds: 30-900."
  }
}

variable "loads_max_receive_count" {
  description = "Attempts at one object's load before its message moves to the loads dead-letter queue (each attempt waits the queue's visibility timeout, 6 x loader_timeout_seconds)."
  type        = number
  default     = 5
  validation {
    condition     = var.loads_max_receive_count >= 1 && var.loads_max_receive_count <= 1000
    error_message = "loads_max_receive_count: 1-1000."
  }
}

variable "loads_age_alarm_seconds" {
  description = "Alarm when the oldest message waiting on the loads queue is older than this."
  type        = number
  default     = 1800
}

variable "loader_reserved_concurrency" {
  description = "Reserved concurrency of the loader: bounds concurrent COPYs into Redshift."
  type        = number
  default     = 10
}

variable "firehose_buffer_mb" {
  description = "Firehose buffer size before it writes an object (MB, 1-128)."
  type        = number
  default     = 64
  validation {
    condition     = var.firehose_buffer_mb >= 1 && var.firehose_buffer_mb <= 128
    error_message = "firehose_buffer_mb: 1-128."
  }
}

variable "firehose_buffer_seconds" {
  description = "Longest Firehose waits before writing an object (seconds, 0-900): the floor of end-to-end latency."
  type        = number
  default     = 300
  validation {
    condition     = var.firehose_buffer_seconds >= 0 && var.firehose_buffer_seconds <= 900
    error_message = "firehose_buffer_seconds: 0-900."
  }
}

variable "raw_object_expiry_days" {
  description = "Days the Firehose objects are kept in S3 (the replay window for reloads)."
  type        = number
  default     = 400
}

variable "redshift_mode" {
  description = "serverless (workgroup) or provisioned (cluster)."
  type        = string
  default     = "serverless"
  validation {
    condition     = contains(["serverless", "provisioned"], var.redshift_mode)
    error_message = "redshift_mode: serverless or provisioned."
  }
}

variable "redshift_workgroup_name" {
  description = "Redshift Serverless workgroup (redshift_mode = serverless)."
  type        = string
  default     = ""
}

variable "redshift_cluster_identifier" {
  description = "Provisioned cluster id (redshift_mode = provisioned)."
  type        = string
  default     = ""
}

variable "redshift_database" {
  description = "Database the tables live in."
  type        = string
  default     = "dev"
}

variable "redshift_db_user" {
  description = "Database user for a provisioned cluster (temporary credentials); or leave empty and set redshift_secret_arn."
  type        = string
  default     = ""
}

variable "redshift_secret_arn" {
  description = "Secrets Manager secret with database credentials (optional)."
  type        = string
  default     = ""
}

variable "redshift_schema" {
  description = "Schema of the pushfeed tables."
  type        = string
  default     = "pushfeed"
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,126}$", var.redshift_schema))
    error_message = "redshift_schema: a lower-case SQL identifier."
  }
}

variable "redshift_loader_db_user" {
  description = "Database user the loader connects as, granted the loader role. Empty: IAMR:<loader role> on Serverless, redshift_db_user on a provisioned cluster. Required with redshift_secret_arn (the secret's user)."
  type        = string
  default     = ""
  validation {
    condition     = !strcontains(var.redshift_loader_db_user, "\"")
    error_message = "redshift_loader_db_user: a database user name without double quotes."
  }
}

variable "apply_ddl" {
  description = "Apply the warehouse schema through the Data API on apply, in order: schema, each migration once, grants, views."
  type        = bool
  default     = true
}

variable "alert_emails" {
  description = "Addresses subscribed to the alert topic (each must confirm the email AWS sends)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for e in var.alert_emails : can(regex("^[^@ ]+@[^@ ]+\\.[^@ ]+$", e))])
    error_message = "alert_emails: email addresses."
  }
}

variable "quarantine_alarm_percent" {
  description = "Alarm when more than this percentage of vendor records is quarantined in 15 minutes."
  type        = number
  default     = 1
  validation {
    condition     = var.quarantine_alarm_percent >= 0 && var.quarantine_alarm_percent <= 100
    error_message = "quarantine_alarm_percent: 0-100."
  }
}

variable "silence_alarm_minutes" {
  description = "Alarm when no vendor record arrives, or no object is loaded, for this many minutes (missing data breaches)."
  type        = number
  default     = 30
  validation {
    condition     = var.silence_alarm_minutes >= 5 && var.silence_alarm_minutes <= 1440
    error_message = "silence_alarm_minutes: 5-1440."
  }
}

variable "firehose_freshness_alarm_seconds" {
  description = "Alarm when a Firehose stream's oldest undelivered record is older than this (DeliveryToS3.DataFreshness)."
  type        = number
  default     = 1800
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when the oldest unprocessed vendor record is older than this (ms)."
  type        = number
  default     = 900000
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for the Lambdas and Firehose."
  type        = number
  default     = 365
}

variable "log_level" {
  description = "The Lambdas' application log level (Lambda's advanced logging controls, JSON format): TRACE, DEBUG or INFO. Not WARN or ERROR: Lambda treats a JSON line without a level as INFO, so it would drop the embedded-metric lines every metric and alarm is built from."
  type        = string
  default     = "INFO"
  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO"], var.log_level)
    error_message = "log_level must be TRACE, DEBUG or INFO (WARN or ERROR would drop the metric lines)."
  }
}

variable "batcher_version" {
  description = "Published batcher version the live alias points at (roll back by naming an earlier one); empty: the version this apply published."
  type        = string
  default     = ""
  validation {
    condition     = var.batcher_version == "" || can(regex("^[0-9]+$", var.batcher_version))
    error_message = "batcher_version: a version number, or empty."
  }
}

variable "loader_version" {
  description = "Published loader version the live alias points at (roll back by naming an earlier one); empty: the version this apply published."
  type        = string
  default     = ""
  validation {
    condition     = var.loader_version == "" || can(regex("^[0-9]+$", var.loader_version))
    error_message = "loader_version: a version number, or empty."
  }
}

variable "kinesis_peak_records_per_second" {
  description = "Peak vendor records per second the stream must take (PROVISIONED): shards are at least ceil(1.25 x peak / 1000) and ceil(1.25 x peak x kinesis_record_bytes / 1 MiB)."
  type        = number
  default     = 0
}

variable "kinesis_record_bytes" {
  description = "Average vendor record size in bytes, for the shard formula."
  type        = number
  default     = 1024
}

variable "canary_freshness_alarm_seconds" {
  description = "Alarm when the heartbeat takes longer than this from the stream to its row (Firehose buffering included), or none arrives."
  type        = number
  default     = 1800
}
