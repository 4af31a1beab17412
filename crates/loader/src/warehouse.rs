//! The warehouse a loader loads into: a small trait, implemented by Redshift through the
//! Data API (here) and by the embedded SQLite warehouse (the CLI).

use pushfeed_core::catalogue::Destination;
use pushfeed_core::sql::ObjectRef;
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
    #[error("load statement {statement_id} did not finish before the invocation ran out of time (last status {status})")]
    TimedOut {
        statement_id: String,
        status: String,
    },
    #[error("warehouse API call failed: {0}")]
    Api(String),
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
            | LoadError::TimedOut { statement_id, .. } => Some(statement_id),
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
