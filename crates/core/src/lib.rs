//! pushfeed core: vendor push-feedback formats → canonical events → per-type Firehose
//! records → S3 keys → warehouse SQL. Pure: no network, no clock, no async.

pub mod audit;
pub mod batch;
pub mod catalogue;
pub mod event;
/// The JSON tape reader (its own crate, `pushfeed-json`, fenced from the domain code).
pub use pushfeed_json as json;
pub mod keys;
pub mod load;
pub mod metrics;
pub mod names;
pub mod packing;
pub mod schema;
pub mod sql;
pub mod timefmt;
pub mod vendor;
pub mod views;

pub use batch::{pack_batch, BatchCounts, InputRecord, PackedBatch};
pub use catalogue::{destination, Destination, DestinationKind, DESTINATIONS};
pub use event::{Coordinates, QuarantineEntry, Reason};
pub use keys::{decode_event_key, KeyMatch, KeyPatterns, Matched};
pub use packing::{Limits, PackedRecord};
pub use vendor::{decode_record, Decoded, Decoder, Outcome, Output};
