//! The object-store port in memory: objects kept in a map, every HeadObject and PutObject
//! recorded — for tests and benches.

use super::{ObjectHead, ObjectStore};
use crate::error::CallError;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// (bucket, key) → (body, the ETag S3 would report).
type Objects = BTreeMap<(String, String), (Vec<u8>, String)>;

#[derive(Debug, Default)]
pub struct MemoryObjects {
    objects: Mutex<Objects>,
    heads: Mutex<Vec<String>>,
    puts: Mutex<Vec<(String, String, Vec<u8>)>>,
}

impl MemoryObjects {
    pub fn new() -> Self {
        MemoryObjects::default()
    }

    /// Store an object; its ETag is a hash of its bytes.
    pub fn insert(&self, bucket: &str, key: &str, body: Vec<u8>) {
        let etag = pushfeed_core::load::content_etag(&body);
        self.insert_with_etag(bucket, key, body, &etag);
    }

    /// Store an object with the ETag S3 reports for it (a multipart upload's ETag is not a
    /// hash of the bytes; S3 quotes it).
    pub fn insert_with_etag(&self, bucket: &str, key: &str, body: Vec<u8>, etag: &str) {
        if let Ok(mut objects) = self.objects.lock() {
            objects.insert((bucket.to_owned(), key.to_owned()), (body, etag.to_owned()));
        }
    }

    /// An object's bytes.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let objects = self.objects.lock().ok()?;
        objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .map(|(body, _)| body.clone())
    }

    /// The keys HeadObject was asked for, in order.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Every PutObject, in order: (bucket, key, body).
    pub fn puts(&self) -> Vec<(String, String, Vec<u8>)> {
        self.puts.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl ObjectStore for MemoryObjects {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead, CallError> {
        if let Ok(mut heads) = self.heads.lock() {
            heads.push(key.to_owned());
        }
        let objects = self
            .objects
            .lock()
            .map_err(|_| CallError::new("HeadObject", "the object map is poisoned"))?;
        let (body, etag) = objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .ok_or_else(|| {
                CallError::new(
                    "HeadObject",
                    format!("NotFound: no object s3://{bucket}/{key}"),
                )
            })?;
        Ok(ObjectHead {
            size: body.len() as u64,
            etag: etag.clone(),
        })
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        if let Ok(mut puts) = self.puts.lock() {
            puts.push((bucket.to_owned(), key.to_owned(), body.clone()));
        }
        self.insert(bucket, key, body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn heads_what_was_put_and_names_what_is_missing() {
        let store = MemoryObjects::new();
        store.put("b", "k", b"abc".to_vec()).await.unwrap();
        let head = store.head("b", "k").await.unwrap();
        assert_eq!(head.size, 3);
        assert_eq!(head.etag, pushfeed_core::load::content_etag(b"abc"));
        let missing = store.head("b", "nope").await.unwrap_err().to_string();
        assert!(missing.starts_with("HeadObject: NotFound"), "{missing}");
        assert_eq!(store.heads(), vec!["k", "nope"]);
        assert_eq!(store.puts().len(), 1);
        assert_eq!(store.get("b", "k").unwrap(), b"abc");
    }
}
