//! The Firehose port on a local folder: what Firehose would write — one gzip object of
//! JSON lines per buffer, per stream, under the key layout S3 gets
//! (`Destination::object_key`) — into `<data-dir>/objects/<bucket>/` (feature `local`,
//! the CLI's `pushfeed run`).

use super::{EntryResult, FirehoseSink, SinkError};
use bytes::Bytes;
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

/// A stream's buffer, compressed as records arrive: the object's bytes so far, and how
/// many bytes of records they hold (Firehose's buffer size counts those). Compressing as
/// they come spares copying every record into a raw buffer first — and holding it: a
/// stream's buffer is a fifth of its size.
struct Buffer {
    stream: String,
    gz: GzEncoder<Vec<u8>>,
    raw_bytes: usize,
}

/// Writes what Firehose would write: one gzip object per buffer, per stream.
pub struct LocalFirehose {
    root: PathBuf,
    stream_prefix: String,
    buffer_bytes: usize,
    buffers: Mutex<Vec<Buffer>>,
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

    fn new_buffer(&self, stream: &str) -> Buffer {
        Buffer {
            stream: stream.to_owned(),
            // Canonical lines compress about sixfold at gzip's fastest level.
            gz: GzEncoder::new(
                Vec::with_capacity(self.buffer_bytes / 6),
                flate2::Compression::fast(),
            ),
            raw_bytes: 0,
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

    fn flush(&self, buffer: Buffer) -> Result<(), SinkError> {
        let stream = buffer.stream.as_str();
        if buffer.raw_bytes == 0 {
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
        let bytes = buffer.gz.finish().map_err(|e| fail(e.to_string()))?;
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
        for buffer in buffers {
            self.flush(buffer)?;
        }
        self.take_written()
    }
}

impl FirehoseSink for LocalFirehose {
    async fn put_record_batch(
        &self,
        stream: &str,
        records: &[Bytes],
    ) -> Result<Vec<EntryResult>, SinkError> {
        let n = records.len();
        let full = {
            let mut buffers = self.buffers.lock().map_err(|_| SinkError::Permanent {
                stream: stream.into(),
                message: "lock poisoned".into(),
            })?;
            let idx = match buffers.iter().position(|b| b.stream == stream) {
                Some(i) => i,
                None => {
                    buffers.push(self.new_buffer(stream));
                    buffers.len() - 1
                }
            };
            let buffer = &mut buffers[idx];
            for r in records {
                if self.drops(stream) {
                    let lines = r.iter().filter(|b| **b == b'\n').count() as u64;
                    self.lost_lines.fetch_add(lines, Ordering::Relaxed);
                    continue;
                }
                buffer.gz.write_all(r).map_err(|e| SinkError::Permanent {
                    stream: stream.into(),
                    message: format!("compressing: {e}"),
                })?;
                buffer.raw_bytes += r.len();
            }
            if buffer.raw_bytes >= self.buffer_bytes {
                Some(std::mem::replace(buffer, self.new_buffer(stream)))
            } else {
                None
            }
        };
        if let Some(buffer) = full {
            self.flush(buffer)?;
        }
        Ok(vec![EntryResult::Ok; n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Every record sent comes back, in order, from the objects written for its stream:
    /// one object each time a stream's buffer reaches its size, the rest at `finish`; a
    /// record dropped by the drill is counted, not written.
    #[test]
    fn objects_hold_every_record_in_order_one_per_full_buffer() {
        let dir =
            std::env::temp_dir().join(format!("pushfeed-local-firehose-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let firehose = LocalFirehose::new(&dir, "pf-", 4_000);
        let (send, open) = ("pf-send", "pf-open");
        let line =
            |s: &str, i: usize| format!("{{\"stream\":\"{s}\",\"n\":{i}}}\n{{\"again\":{i}}}\n");
        firehose.lose_record("open", 7);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut sent: Vec<(String, Vec<u8>)> = Vec::new();
        for i in 0..300 {
            for s in [send, open] {
                let rec = line(s, i).into_bytes();
                rt.block_on(firehose.put_record_batch(s, &[Bytes::from(rec.clone())]))
                    .unwrap();
                if !(s == open && i == 6) {
                    sent.push((s.to_owned(), rec));
                }
            }
        }
        let before_finish = firehose.take_written().unwrap();
        let after = firehose.finish().unwrap();
        assert!(
            firehose.finish().unwrap().is_empty(),
            "nothing left to write"
        );
        assert_eq!(firehose.lost_lines.load(Ordering::Relaxed), 2);
        let mut objects = before_finish.clone();
        objects.extend(after.iter().cloned());
        for s in [send, open] {
            let mine: Vec<_> = objects
                .iter()
                .filter(|o| o.key.contains(&format!("/{s}-1-")))
                .collect();
            // 300 records of ~50 bytes in 4,000-byte buffers: several objects, each full
            // but the last.
            assert!(mine.len() >= 3, "{s}: {} objects", mine.len());
            let root = local::objects_dir(&dir).join(local::BUCKET);
            let mut got = Vec::new();
            for o in &mine {
                let bytes = std::fs::read(root.join(&o.key)).unwrap();
                assert_eq!(o.size, bytes.len() as u64);
                assert_eq!(o.etag, pushfeed_core::load::content_etag(&bytes));
                got.extend(gunzip(&root.join(&o.key)));
            }
            let want: Vec<u8> = sent
                .iter()
                .filter(|(t, _)| t == s)
                .flat_map(|(_, r)| r.clone())
                .collect();
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(want).unwrap(),
                "{s}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
