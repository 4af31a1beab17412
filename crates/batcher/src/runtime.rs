//! How the batcher binary receives its event.
//!
//! Left to itself, lambda_runtime checks that the whole payload is UTF-8 (for a trace
//! line) and deserializes it with serde_json before the handler runs: for a full 6 MB
//! batch, several milliseconds spent before pushfeed's own work starts. This layer sits in
//! front of the runtime's services: it reads the payload with [`KinesisBatch::from_json`]
//! (one pass, SIMD UTF-8 check and base64, all record data in one buffer), keeps the result
//! for the handler under the invocation's request id, and passes on a `null` body, which
//! the runtime then deserializes as `()` for nothing. A payload that cannot be read becomes
//! the invocation's error, as a serde failure would.

use crate::event::{KinesisBatch, PayloadError};
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

/// Keep the process's heap between invocations.
///
/// glibc serves allocations above 128 KiB (then a moving threshold) with fresh `mmap`s and
/// hands freed memory at the top of the heap back to the kernel. A full batch allocates
/// ~15 MB of buffers (the record data, the Firehose records, the request bodies), so each
/// invocation page-faulted them all back in: a fifth of the batch's time in the kernel.
/// With these two settings a warm Lambda reuses its heap; peak memory is unchanged (the
/// same buffers), it is just not returned between batches. Called once, at start-up.
pub fn keep_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocator settings; called before any
    // concurrent allocation matters and with values glibc documents as valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

/// Batches read by the layer, by request id, until the handler takes them, with when the
/// reading started (the invocation's work starts there).
pub type ReadBatches = Arc<Mutex<HashMap<String, (Result<KinesisBatch, PayloadError>, Instant)>>>;

/// The layer: `Runtime::new(handler).layer(ReadPayloadLayer::new(batches.clone()))`.
#[derive(Clone)]
pub struct ReadPayloadLayer {
    batches: ReadBatches,
}

impl ReadPayloadLayer {
    pub fn new(batches: ReadBatches) -> Self {
        ReadPayloadLayer { batches }
    }
}

impl<S> Layer<S> for ReadPayloadLayer {
    type Service = ReadPayload<S>;
    fn layer(&self, inner: S) -> ReadPayload<S> {
        ReadPayload {
            inner,
            batches: self.batches.clone(),
        }
    }
}

pub struct ReadPayload<S> {
    inner: S,
    batches: ReadBatches,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for ReadPayload<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: LambdaInvocation) -> S::Future {
        let started = Instant::now();
        let batch = KinesisBatch::from_json(&req.body);
        // A panic elsewhere cannot leave the map half-written: use it regardless.
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(req.context.request_id.clone(), (batch, started));
        req.body = bytes::Bytes::from_static(b"null");
        self.inner.call(req)
    }
}

/// The batch the layer read for invocation `request_id`, and when it started reading it.
pub fn take_batch(
    batches: &ReadBatches,
    request_id: &str,
) -> Result<(KinesisBatch, Instant), PayloadError> {
    let (batch, started) = batches
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(request_id)
        .ok_or_else(|| PayloadError::NotRead(request_id.to_owned()))?;
    Ok((batch?, started))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::tower::service_fn;

    #[tokio::test]
    async fn the_handler_gets_the_batch_and_the_runtime_a_null_body() {
        let batches = ReadBatches::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let inner = {
            let seen = seen.clone();
            service_fn(move |req: LambdaInvocation| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(req.body.to_vec());
                    Ok::<(), lambda_runtime::Error>(())
                }
            })
        };
        let mut svc = ReadPayloadLayer::new(batches.clone()).layer(inner);
        let (payload, n) = crate::sample::lambda_payload(3, usize::MAX);
        for (id, body) in [("req-1", payload), ("req-2", b"{not json".to_vec())] {
            let mut context = lambda_runtime::Context::default();
            context.request_id = id.into();
            let (parts, ()) = http::Response::new(()).into_parts();
            svc.call(LambdaInvocation {
                parts,
                body: body.into(),
                context,
            })
            .await
            .unwrap();
        }
        assert_eq!(
            *seen.lock().unwrap(),
            vec![b"null".to_vec(), b"null".to_vec()]
        );
        assert_eq!(take_batch(&batches, "req-1").unwrap().0.records.len(), n);
        let err = take_batch(&batches, "req-2").unwrap_err().to_string();
        assert!(
            err.contains("not JSON") || err.contains("cannot be read"),
            "{err}"
        );
        assert!(take_batch(&batches, "req-1").is_err(), "taken once");
    }
}
