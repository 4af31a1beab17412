//! The names of one environment's AWS resources, defined once: the CLI finds a deployed
//! stack by them, the batcher's stream names follow `firehose_prefix`, and Terraform's
//! `local.names` must give the same ones (tests/terraform checks it against
//! [`SUFFIXES`], published in `catalogue.json`).

/// Every name is `<name>-<environment>` (Terraform's `local.prefix`) then a suffix.
pub const SUFFIXES: &[(&str, &str)] = &[
    ("stream", "-vendor"),
    ("firehose_prefix", "-"),
    ("topic", "-alerts"),
    ("loads_queue", "-loads"),
    ("loads_dlq", "-loads-dlq"),
    ("batcher", "-batcher"),
    ("loader", "-loader"),
];

/// The default bucket name's suffix; Terraform appends the account id (bucket names are
/// global), so a deployed stack's bucket is read from `terraform output data_bucket`.
pub const BUCKET_SUFFIX: &str = "-data";

/// Names of one environment's resources (`pushfeed-<env>-…`, as Terraform names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub env: String,
    /// The data bucket, when it is not `pushfeed-<env>-data` (on AWS Terraform appends the
    /// account id: `terraform output data_bucket`).
    pub bucket: Option<String>,
}

impl Names {
    pub fn new(env: &str) -> Self {
        Names {
            env: env.to_owned(),
            bucket: None,
        }
    }

    fn named(&self, what: &str) -> String {
        let suffix = SUFFIXES
            .iter()
            .find(|(k, _)| *k == what)
            .map(|(_, s)| *s)
            .unwrap_or("");
        format!("{}{suffix}", self.prefix())
    }

    /// `pushfeed-<env>`.
    pub fn prefix(&self) -> String {
        format!("pushfeed-{}", self.env)
    }
    /// The vendor's Kinesis stream.
    pub fn stream(&self) -> String {
        self.named("stream")
    }
    pub fn bucket(&self) -> String {
        self.bucket
            .clone()
            .unwrap_or_else(|| format!("{}{BUCKET_SUFFIX}", self.prefix()))
    }
    /// Each destination's Firehose stream is this and its suffix.
    pub fn firehose_prefix(&self) -> String {
        self.named("firehose_prefix")
    }
    pub fn topic(&self) -> String {
        self.named("topic")
    }
    /// The queue S3 notifies of new objects; the loader's event source.
    pub fn loads_queue(&self) -> String {
        self.named("loads_queue")
    }
    /// Where a loads message goes after maxReceiveCount failed attempts.
    pub fn loads_dlq(&self) -> String {
        self.named("loads_dlq")
    }
    pub fn batcher(&self) -> String {
        self.named("batcher")
    }
    pub fn loader(&self) -> String {
        self.named("loader")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_terraforms_prefix() {
        let n = Names::new("prod");
        assert_eq!(n.stream(), "pushfeed-prod-vendor");
        assert_eq!(n.bucket(), "pushfeed-prod-data");
        assert_eq!(n.firehose_prefix(), "pushfeed-prod-");
        assert_eq!(n.loads_dlq(), "pushfeed-prod-loads-dlq");
        assert_eq!(n.loader(), "pushfeed-prod-loader");
        let mut custom = Names::new("dev");
        custom.bucket = Some("pushfeed-dev-data-123456789012".into());
        assert_eq!(custom.bucket(), "pushfeed-dev-data-123456789012");
    }
}

/// The layout of a local data dir (`pushfeed run`, `sql`, `reconcile`, …): the objects the
/// local Firehose writes under `objects/<bucket>/<key>` (the key layout S3 gets) and the
/// embedded warehouse beside them.
pub mod local {
    use std::path::{Path, PathBuf};

    /// The bucket name objects are filed under locally.
    pub const BUCKET: &str = "pushfeed-local";

    /// `<data-dir>/objects`: one folder per bucket below it.
    pub fn objects_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("objects")
    }

    /// Where an object lives: `<data-dir>/objects/<bucket>/<key>`.
    pub fn object_path(data_dir: &Path, bucket: &str, key: &str) -> PathBuf {
        objects_dir(data_dir).join(bucket).join(key)
    }

    /// The embedded warehouse's file.
    pub fn warehouse_path(data_dir: &Path) -> PathBuf {
        data_dir.join("warehouse.sqlite")
    }
}
