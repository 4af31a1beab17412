//! The warehouse a loader loads into, and the object store it reads object facts from:
//! small traits, implemented by Redshift through the Data API and S3 (here) and by the
//! embedded SQLite warehouse and a local folder (the CLI).

use pushfeed_core::catalogue::Destination;
use pushfeed_core::load::ObjectRef;
use std::future::Future;

/// One object to load.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub destination: &'static Destination,
    pub object: ObjectRef,
    /// The object is gzip-compressed.
    pub gzip: bool,
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadOutcome {
    /// Rows inserted into the table (new events only).
    pub rows_inserted: u64,
    /// Rows the object held (COPY's row count), when the warehouse reports it.
    pub rows_in_object: Option<u64>,
    /// The object was already in the ledger: nothing was loaded.
    pub duplicate: bool,
    /// The warehouse's id for the work (Data API statement id), for logs and alerts.
    pub statement_id: Option<String>,
    /// When the newest event in the object occurred (UTC ms), when the warehouse says.
    pub newest_occurred_ms: Option<i64>,
}

/// Why a load failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("load statement {statement_id} FAILED: {error}")]
    Failed {
        statement_id: String,
        error: String,
        detail: Option<String>,
    },
    #[error("load statement {statement_id} was ABORTED")]
    Aborted { statement_id: String },
    #[error("load statement {statement_id} did not finish before the invocation ran out of time (last status {status}; {})", if *.cancelled { "cancelled: nothing was committed" } else { "cancel requested" })]
    TimedOut {
        statement_id: String,
        status: String,
        /// Redshift confirmed the statement ended without committing.
        cancelled: bool,
    },
    #[error("not started: {left_ms} ms of the invocation left, a load is given at least {needed_ms} ms (PUSHFEED_MIN_LOAD_MS + PUSHFEED_SAFETY_MARGIN_MS); the retry starts it")]
    NoTimeToStart { left_ms: u64, needed_ms: u64 },
    #[error("load statement {statement_id} lost a concurrency conflict {attempts} times in a row: {error}")]
    Conflict {
        statement_id: String,
        attempts: u32,
        error: String,
    },
    #[error("warehouse API call failed: {0}")]
    Api(CallError),
    #[error("cannot render SQL: {0}")]
    Sql(#[from] pushfeed_core::sql::SqlError),
    #[error("object cannot be read: {0}")]
    Object(String),
}

impl LoadError {
    pub fn statement_id(&self) -> Option<&str> {
        match self {
            LoadError::Failed { statement_id, .. }
            | LoadError::Aborted { statement_id }
            | LoadError::TimedOut { statement_id, .. }
            | LoadError::Conflict { statement_id, .. } => Some(statement_id),
            _ => None,
        }
    }
    pub fn detail(&self) -> Option<&str> {
        match self {
            LoadError::Failed { detail, .. } => detail.as_deref(),
            _ => None,
        }
    }
}

pub trait Warehouse: Sync {
    /// Load one object in one transaction: new events only, and the ledger row. An object
    /// already in the ledger loads nothing and comes back with `duplicate`. An empty object
    /// (size 0) only writes the ledger.
    fn load(
        &self,
        plan: &LoadPlan,
        deadline: Option<tokio::time::Instant>,
    ) -> impl Future<Output = Result<LoadOutcome, LoadError>> + Send;
}

/// What S3 says of an object (HeadObject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub etag: String,
}

/// A call to a service that failed — S3, SNS, the Redshift Data API, or a local stand-in:
/// one line starting with the call, then what the service said (its error code and
/// message) or what went wrong on the way. What every port of the loader returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub String);

impl CallError {
    pub fn new(call: &str, what: impl std::fmt::Display) -> Self {
        CallError(pushfeed_lambda::one_line(&format!("{call}: {what}")))
    }
}

impl From<&str> for CallError {
    fn from(s: &str) -> Self {
        CallError(s.to_owned())
    }
}

impl From<String> for CallError {
    fn from(s: String) -> Self {
        CallError(s)
    }
}

/// The object store the loader reads facts from and writes COPY manifests to.
pub trait ObjectStore: Sync {
    /// Size and ETag of an object (HeadObject), for an S3 event that lacks them.
    fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<ObjectHead, CallError>> + Send;
    /// Write a small object (a COPY manifest).
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
}

impl<T: ObjectStore> ObjectStore for &T {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead, CallError> {
        (*self).head(bucket, key).await
    }
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        (*self).put(bucket, key, body).await
    }
}

/// S3 through the AWS SDK.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Store { client }
    }
}

fn s3_err<E, R>(what: &str, e: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> CallError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    CallError(pushfeed_lambda::aws_error(what, &e))
}

impl ObjectStore for S3Store {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead, CallError> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_err("HeadObject", e))?;
        let size = out
            .content_length()
            .filter(|n| *n >= 0)
            .ok_or("HeadObject returned no Content-Length")? as u64;
        let etag = out
            .e_tag()
            .map(|e| e.trim_matches('"').to_owned())
            .ok_or("HeadObject returned no ETag")?;
        Ok(ObjectHead { size, etag })
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| s3_err("PutObject", e))?;
        Ok(())
    }
}
