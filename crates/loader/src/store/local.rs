//! The object-store port on a local folder: objects under
//! `<data-dir>/objects/<bucket>/<key>` (`pushfeed_core::names::local`).

use super::{ObjectHead, ObjectStore};
use crate::error::CallError;
use pushfeed_core::names::local;
use std::path::{Path, PathBuf};

pub struct LocalObjects {
    data_dir: PathBuf,
}

impl LocalObjects {
    pub fn new(data_dir: &Path) -> Self {
        LocalObjects {
            data_dir: data_dir.to_owned(),
        }
    }
}

/// An object found in a data dir: its key, its file and when it was written (ms).
#[derive(Debug, Clone)]
pub struct LocalObject {
    pub key: String,
    pub path: PathBuf,
    pub modified_ms: i64,
}

impl LocalObjects {
    /// Every object of `bucket` whose key starts with `prefix` (a folder: `push/`), as S3's
    /// ListObjectsV2 would list it.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<LocalObject> {
        let root = local::objects_dir(&self.data_dir).join(bucket);
        let mut out = Vec::new();
        let mut stack = vec![root.join(prefix.trim_end_matches('/'))];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let modified_ms = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_millis() as i64);
                if let Ok(key) = path.strip_prefix(&root) {
                    let key = key.to_string_lossy().replace('\\', "/");
                    out.push(LocalObject {
                        key,
                        path,
                        modified_ms,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

impl ObjectStore for LocalObjects {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead, CallError> {
        let path = local::object_path(&self.data_dir, bucket, key);
        let bytes = std::fs::read(&path)
            .map_err(|e| CallError::new("HeadObject", format!("{}: {e}", path.display())))?;
        Ok(ObjectHead {
            size: bytes.len() as u64,
            etag: pushfeed_core::load::content_etag(&bytes),
        })
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        let path = local::object_path(&self.data_dir, bucket, key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| CallError::new("PutObject", format!("{}: {e}", dir.display())))?;
        }
        std::fs::write(&path, body)
            .map_err(|e| CallError::new("PutObject", format!("{}: {e}", path.display())))
    }
}
