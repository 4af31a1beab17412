//! The warehouse port: what a loader asks of the warehouse it loads into, and its
//! adapters — Redshift through the Data API (`redshift`, with the Data API calls in
//! `dataapi`) and the embedded SQLite warehouse (`sqlite`, feature `local`). Both run the
//! core's one load script (`pushfeed_core::load`), each in its own SQL dialect.

pub mod dataapi;
pub mod redshift;
#[cfg(feature = "local")]
pub mod sqlite;
#[cfg(feature = "local")]
mod sqlite_static;

pub use dataapi::{AwsDataApi, DataApi};
pub use redshift::RedshiftWarehouse;
#[cfg(feature = "local")]
pub use sqlite::SqliteWarehouse;

use crate::error::CallError;

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
