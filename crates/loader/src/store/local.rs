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
