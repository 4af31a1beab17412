//! S3 through the AWS SDK.

use super::{ObjectHead, ObjectStore};
use crate::error::CallError;

/// S3 through the AWS SDK.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Store { client }
    }
}

impl ObjectStore for S3Store {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead, CallError> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| CallError::aws("HeadObject", &e))?;
        let size = out
            .content_length()
            .filter(|n| *n >= 0)
            .ok_or("HeadObject returned no Content-Length")? as u64;
        let etag = out
            .e_tag()
            .map(|e| e.trim_matches('"').to_owned())
            .ok_or("HeadObject returned no ETag")?;
        Ok(ObjectHead { size, etag })
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| CallError::aws("PutObject", &e))?;
        Ok(())
    }
}
