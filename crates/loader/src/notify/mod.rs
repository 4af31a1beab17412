//! Alerts: the port (`Notifier`) here, its adapters beside it — `sns.rs` (SNS Publish to
//! the alert topic, what the Lambda uses) and `memory.rs` (keeps the alerts: the local
//! run's summary and every test).

mod memory;
mod sns;

pub use memory::MemoryNotifier;
pub use sns::{subject_line, SnsNotifier};

pub use crate::error::CallError;
use std::future::Future;

pub trait Notifier: Sync {
    fn notify(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
}
