//! Where packed records go: a Firehose delivery stream. The port (`FirehoseSink`, its
//! results and errors) here, its adapters beside it: `aws.rs` (the SDK client, what the
//! Lambda uses), `local.rs` (writes the objects Firehose would write into a data dir:
//! `pushfeed run`; feature `local`) and `memory.rs` (keeps what it is sent, answers as
//! scripted: the one fake every test and bench uses).

mod aws;
#[cfg(feature = "local")]
mod local;
mod memory;

pub use aws::AwsFirehose;
#[cfg(feature = "local")]
pub use local::{LocalFirehose, WrittenObject};
pub use memory::{Answer, MemoryFirehose};

use bytes::Bytes;
use std::future::Future;

/// The fate of one record in a PutRecordBatch call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Ok,
    /// Firehose rejected this entry (e.g. ServiceUnavailableException); resend it.
    Failed {
        code: String,
        message: String,
    },
}

/// A whole call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Throttling, 5xx, timeouts, connection errors: worth another try.
    #[error("transient Firehose error on {stream}: {message}")]
    Transient { stream: String, message: String },
    /// Validation, missing stream, access denied: retrying cannot help.
    #[error("permanent Firehose error on {stream}: {message}")]
    Permanent { stream: String, message: String },
}

pub trait FirehoseSink: Sync {
    /// Send records to a stream; one result per record, in order. Records are shared
    /// buffers: a retry resends the same bytes, and a sink that keeps a record (the
    /// in-memory one) keeps a reference, not a copy.
    fn put_record_batch(
        &self,
        stream: &str,
        records: &[Bytes],
    ) -> impl Future<Output = Result<Vec<EntryResult>, SinkError>> + Send;
}
