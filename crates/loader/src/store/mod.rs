//! The object-store port: what the loader asks of S3 (an object's size and ETag, and the
//! COPY manifests it writes), and its adapters — S3 (`s3`), a local folder (`local`,
//! feature `local`) and memory (`memory`, for tests and benches).

#[cfg(feature = "local")]
mod local;
mod memory;
mod s3;

#[cfg(feature = "local")]
pub use local::{LocalObject, LocalObjects};
pub use memory::MemoryObjects;
pub use s3::S3Store;

use crate::error::CallError;
use std::future::Future;

/// What S3 says of an object (HeadObject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub etag: String,
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
