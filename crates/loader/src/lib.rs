//! pushfeed loader: each S3 object Firehose writes, loaded into its table exactly once.

pub mod audit;
pub mod config;
pub mod dataapi;
pub mod handler;
pub mod notify;
pub mod queue;
pub mod warehouse;

pub use config::Config;
pub use dataapi::{AwsDataApi, DataApi, RedshiftWarehouse};
pub use handler::{into_result, Loader, LoaderReport, ObjectResult};
pub use notify::{Notifier, SnsNotifier};
pub use queue::{parse_invocation, Invocation, QueueMessage, QueueReport};
pub use warehouse::{
    LoadError, LoadOutcome, LoadPlan, ObjectHead, ObjectStore, S3Store, Warehouse,
};
