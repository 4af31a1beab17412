//! The Firehose port's in-memory adapter: keeps every call, checks Firehose's documented
//! PutRecordBatch limits (500 records, 4 MiB per call, 1,000 KiB per record: a call over
//! them is a bug in the packer, so it panics), and answers as scripted per stream — all
//! accepted unless told otherwise. Every test and bench uses this one fake.

use super::{EntryResult, FirehoseSink, SinkError};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How the next call to a stream is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Every record accepted.
    AllOk,
    /// The records at these positions refused (ServiceUnavailableException), the rest
    /// accepted.
    FailEntries(Vec<usize>),
    /// The whole call throttled (worth retrying).
    Throttle,
    /// The whole call refused for good (a missing stream).
    Permanent,
}

/// Keeps what it is sent; answers as scripted.
#[derive(Debug, Default)]
pub struct MemoryFirehose {
    scripts: Mutex<Vec<(String, VecDeque<Answer>)>>,
    /// (stream, records) per call: the caller's buffers, shared rather than copied.
    calls: Mutex<Vec<(String, Vec<Bytes>)>>,
}

impl MemoryFirehose {
    pub fn new() -> Self {
        MemoryFirehose::default()
    }

    /// Answer the next calls to `stream` with these, in order; then AllOk.
    pub fn script(self, stream: &str, answers: &[Answer]) -> Self {
        if let Ok(mut s) = self.scripts.lock() {
            s.push((stream.to_owned(), answers.iter().cloned().collect()));
        }
        self
    }

    /// Every call so far: (stream, records).
    pub fn calls(&self) -> Vec<(String, Vec<Vec<u8>>)> {
        self.calls
            .lock()
            .map(|c| {
                c.iter()
                    .map(|(s, recs)| (s.clone(), recs.iter().map(|r| r.to_vec()).collect()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every record sent so far, in order: (stream, bytes), accepted or not.
    pub fn records(&self) -> Vec<(String, Vec<u8>)> {
        self.calls()
            .into_iter()
            .flat_map(|(s, recs)| recs.into_iter().map(move |r| (s.clone(), r)))
            .collect()
    }

    /// Take the records kept so far, emptying the log.
    pub fn take_records(&self) -> Vec<(String, Vec<u8>)> {
        let calls = self
            .calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        calls
            .into_iter()
            .flat_map(|(s, recs)| {
                recs.into_iter()
                    .map(move |r| (s.clone(), Vec::<u8>::from(r)))
            })
            .collect()
    }
}

impl FirehoseSink for MemoryFirehose {
    async fn put_record_batch(
        &self,
        stream: &str,
        records: &[Bytes],
    ) -> Result<Vec<EntryResult>, SinkError> {
        assert!(records.len() <= 500, "more than 500 records in one call");
        assert!(
            records.iter().map(|r| r.len()).sum::<usize>() <= 4 * 1024 * 1024,
            "more than 4 MiB in one call"
        );
        assert!(
            records.iter().all(|r| r.len() <= 1_024_000),
            "a record over 1,000 KiB"
        );
        let n = records.len();
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((stream.to_owned(), records.to_vec()));
        }
        let answer = self
            .scripts
            .lock()
            .ok()
            .and_then(|mut s| {
                s.iter_mut()
                    .find(|(name, _)| name == stream)
                    .and_then(|(_, q)| q.pop_front())
            })
            .unwrap_or(Answer::AllOk);
        match answer {
            Answer::AllOk => Ok(vec![EntryResult::Ok; n]),
            Answer::FailEntries(bad) => Ok((0..n)
                .map(|i| {
                    if bad.contains(&i) {
                        EntryResult::Failed {
                            code: "ServiceUnavailableException".into(),
                            message: "Slow down.".into(),
                        }
                    } else {
                        EntryResult::Ok
                    }
                })
                .collect()),
            Answer::Throttle => Err(SinkError::Transient {
                stream: stream.into(),
                message: "ThrottlingException: Rate exceeded".into(),
            }),
            Answer::Permanent => Err(SinkError::Permanent {
                stream: stream.into(),
                message: "ResourceNotFoundException: stream not found".into(),
            }),
        }
    }
}
