//! The Firehose port on a local folder: what Firehose would write — one gzip object of
//! JSON lines per buffer, per stream, under the key layout S3 gets
//! (`Destination::object_key`) — into `<data-dir>/objects/<bucket>/` (feature `local`,
//! the CLI's `pushfeed run`).

use super::{EntryResult, FirehoseSink, SinkError};
use flate2::write::GzEncoder;
use pushfeed_core::catalogue::DESTINATIONS;
use pushfeed_core::names::local;
use pushfeed_core::timefmt::now_ms;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// An object the local Firehose wrote.
#[derive(Debug, Clone)]
pub struct WrittenObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub created_ms: i64,
}

/// Writes what Firehose would write: one gzip object per buffer, per stream.
pub struct LocalFirehose {
    root: PathBuf,
    stream_prefix: String,
    buffer_bytes: usize,
    buffers: Mutex<Vec<(String, Vec<u8>)>>,
    written: Mutex<Vec<WrittenObject>>,
    /// A drill: (stream suffix, records of it still to pass) — the record that brings the
    /// count to zero is acknowledged and thrown away, as if Firehose had lost it.
    lose: Mutex<Option<(String, usize)>>,
    /// Lines in records thrown away by the drill.
    pub lost_lines: AtomicU64,
}

impl LocalFirehose {
    pub fn new(data_dir: &Path, stream_prefix: &str, buffer_bytes: usize) -> Self {
        LocalFirehose {
            root: local::objects_dir(data_dir).join(local::BUCKET),
            stream_prefix: stream_prefix.to_owned(),
            buffer_bytes,
            buffers: Mutex::new(Vec::new()),
            written: Mutex::new(Vec::new()),
            lose: Mutex::new(None),
            lost_lines: AtomicU64::new(0),
        }
    }

    /// Drill: acknowledge and drop the `nth` (1-based) record sent to a destination's
    /// stream, as a Firehose that lost data would.
    pub fn lose_record(&self, destination: &str, nth: usize) {
        if let Ok(mut lose) = self.lose.lock() {
            *lose = Some((destination.replace('_', "-"), nth.max(1)));
        }
    }

    /// Whether the drill drops this record.
    fn drops(&self, stream: &str) -> bool {
        let Ok(mut lose) = self.lose.lock() else {
            return false;
        };
        let suffix = stream.strip_prefix(&self.stream_prefix).unwrap_or(stream);
        match lose.as_mut() {
            Some((s, left)) if s == suffix => {
                *left -= 1;
                if *left == 0 {
                    *lose = None;
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    fn flush(&self, stream: &str, data: Vec<u8>) -> Result<(), SinkError> {
        if data.is_empty() {
            return Ok(());
        }
        let fail = |message: String| SinkError::Permanent {
            stream: stream.to_owned(),
            message,
        };
        let suffix = stream.strip_prefix(&self.stream_prefix).unwrap_or(stream);
        let dest = DESTINATIONS
            .iter()
            .find(|d| d.stream_suffix() == suffix)
            .ok_or_else(|| fail(format!("no catalogue destination for stream {stream}")))?;
        let now = now_ms();
        let id = format!("{:016x}", fastrand::u64(..));
        let key = dest.object_key(stream, now, &id, true);
        let mut gz = GzEncoder::new(
            Vec::with_capacity(data.len() / 6),
            flate2::Compression::fast(),
        );
        gz.write_all(&data).map_err(|e| fail(e.to_string()))?;
        let bytes = gz.finish().map_err(|e| fail(e.to_string()))?;
        let path = self.root.join(&key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, &bytes)
            .map_err(|e| fail(format!("writing {}: {e}", path.display())))?;
        let obj = WrittenObject {
            key,
            size: bytes.len() as u64,
            etag: pushfeed_core::load::content_etag(&bytes),
            created_ms: now,
        };
        self.written
            .lock()
            .map_err(|_| fail("lock poisoned".into()))?
            .push(obj);
        Ok(())
    }

    /// The objects written since the last call (S3's notifications of them), forgotten
    /// here.
    pub fn take_written(&self) -> Result<Vec<WrittenObject>, SinkError> {
        Ok(std::mem::take(&mut *self.written.lock().map_err(|_| {
            SinkError::Permanent {
                stream: "*".into(),
                message: "lock poisoned".into(),
            }
        })?))
    }

    /// Write out every buffer; return every object written so far, and forget them.
    pub fn finish(&self) -> Result<Vec<WrittenObject>, SinkError> {
        let buffers =
            std::mem::take(&mut *self.buffers.lock().map_err(|_| SinkError::Permanent {
                stream: "*".into(),
                message: "lock poisoned".into(),
            })?);
        for (stream, data) in buffers {
            self.flush(&stream, data)?;
        }
        self.take_written()
    }
}

impl FirehoseSink for LocalFirehose {
    async fn put_record_batch(
        &self,
        stream: &str,
        records: &[&[u8]],
    ) -> Result<Vec<EntryResult>, SinkError> {
        let n = records.len();
        let full = {
            let mut buffers = self.buffers.lock().map_err(|_| SinkError::Permanent {
                stream: stream.into(),
                message: "lock poisoned".into(),
            })?;
            let idx = match buffers.iter().position(|(s, _)| s == stream) {
                Some(i) => i,
                None => {
                    buffers.push((stream.to_owned(), Vec::new()));
                    buffers.len() - 1
                }
            };
            let buf = &mut buffers[idx].1;
            for r in records {
                if self.drops(stream) {
                    let lines = r.iter().filter(|b| **b == b'\n').count() as u64;
                    self.lost_lines.fetch_add(lines, Ordering::Relaxed);
                    continue;
                }
                buf.extend_from_slice(r);
            }
            if buf.len() >= self.buffer_bytes {
                Some(std::mem::take(buf))
            } else {
                None
            }
        };
        if let Some(data) = full {
            self.flush(stream, data)?;
        }
        Ok(vec![EntryResult::Ok; n])
    }
}
