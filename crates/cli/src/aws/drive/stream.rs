//! The Kinesis event source mapping, as AWS runs it for the batcher: GetRecords on every
//! shard, a batch when it is full (BatchSize, 6 MB payload) or the batching window ends,
//! checkpoint at the first failed record (ReportBatchItemFailures), retries of the rest,
//! and the S3 on-failure destination once the retries are spent.

use super::super::{sdk, Clients};
use super::{DriveArgs, DriveSummary, StartingPosition};
use anyhow::{bail, Context};
use aws_sdk_kinesis::types::ShardIteratorType;
use pushfeed_batcher::{KinesisBatch, KinesisBatchRecord};
use pushfeed_core::names::Names;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A shard serves at most 5 GetRecords calls per second (Kinesis Data Streams quotas:
/// "GetRecords … 5 transactions per second per shard"); more are refused with
/// ProvisionedThroughputExceededException.
const GET_RECORDS_SPACING: Duration = Duration::from_millis(200);

struct ShardState {
    id: String,
    iterator: Option<String>,
    /// Consecutive GetRecords failures.
    failures: u32,
    /// Not before: a shard serves 5 GetRecords calls a second (Kinesis quota), so calls
    /// on one shard are spaced 200 ms apart.
    next_call: Instant,
}

struct Pending {
    data: Vec<u8>,
    seq: String,
    shard: String,
    arrival_ms: i64,
}

/// What one round of GetRecords found.
pub struct Polled {
    /// Records read.
    pub records: usize,
    /// Records were read, a call failed (retried), or a shard is behind its tip: not idle.
    pub busy: bool,
}

/// One event source mapping on the vendor stream.
pub struct Mapping<'a> {
    c: &'a Clients,
    n: &'a Names,
    args: &'a DriveArgs,
    shards: Vec<ShardState>,
    pending: Vec<Pending>,
    retries_of_head: u32,
    window_start: Instant,
}

/// The bytes a record takes in the Lambda payload (base64 data and its envelope).
fn payload_bytes(p: &Pending) -> usize {
    p.data.len().div_ceil(3) * 4 + 420
}

impl<'a> Mapping<'a> {
    /// An iterator on every shard at the starting position.
    pub async fn open(c: &'a Clients, n: &'a Names, args: &'a DriveArgs) -> anyhow::Result<Self> {
        let listed = c
            .kinesis
            .list_shards()
            .stream_name(n.stream())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("listing shards of {}: {}\nIs the endpoint {} up, and did `pushfeed bootstrap` run?", n.stream(), sdk(&e), args.endpoint.where_()))?;
        let mut shards = Vec::new();
        for s in listed.shards() {
            let it = c
                .kinesis
                .get_shard_iterator()
                .stream_name(n.stream())
                .shard_id(s.shard_id())
                .shard_iterator_type(match args.starting_position {
                    StartingPosition::TrimHorizon => ShardIteratorType::TrimHorizon,
                    StartingPosition::Latest => ShardIteratorType::Latest,
                })
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("shard iterator for {}: {}", s.shard_id(), sdk(&e)))?;
            shards.push(ShardState {
                id: s.shard_id().to_owned(),
                iterator: it.shard_iterator().map(str::to_owned),
                failures: 0,
                next_call: Instant::now(),
            });
        }
        Ok(Mapping {
            c,
            n,
            args,
            shards,
            pending: Vec::new(),
            retries_of_head: 0,
            window_start: Instant::now(),
        })
    }

    /// Records read and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// One GetRecords per shard, up to the room left in the batch. A failed call is retried
    /// from the same iterator (as the mapping does) until failures run on too long.
    pub async fn poll(&mut self, summary: &mut DriveSummary) -> anyhow::Result<Polled> {
        let mut polled = Polled {
            records: 0,
            busy: false,
        };
        for st in self.shards.iter_mut() {
            let Some(it) = st.iterator.clone() else {
                continue;
            };
            let now = Instant::now();
            if now < st.next_call {
                continue;
            }
            st.next_call = now + GET_RECORDS_SPACING;
            let room = (self.args.batch_size as usize)
                .saturating_sub(self.pending.len())
                .clamp(1, 10_000);
            let out = match self
                .c
                .kinesis
                .get_records()
                .shard_iterator(it)
                .limit(room as i32)
                .send()
                .await
            {
                Ok(out) => {
                    st.failures = 0;
                    if out.millis_behind_latest().unwrap_or(0) > 0 {
                        // Behind the tip of the shard: not idle, whatever this call returned.
                        polled.busy = true;
                    }
                    out
                }
                Err(e) => {
                    st.failures += 1;
                    polled.busy = true;
                    summary.get_records_errors += 1;
                    if st.failures > 50 {
                        bail!(
                            "GetRecords on {} failed 50 times in a row; last error: {}",
                            st.id,
                            sdk(&e)
                        );
                    }
                    tracing::warn!(shard = %st.id, error = %sdk(&e), "GetRecords failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * st.failures.min(10) as u64))
                        .await;
                    continue;
                }
            };
            for r in out.records() {
                let arrival_ms = r
                    .approximate_arrival_timestamp()
                    .map(|t| t.secs() * 1000 + (t.subsec_nanos() / 1_000_000) as i64)
                    .unwrap_or(0);
                self.pending.push(Pending {
                    data: r.data().as_ref().to_vec(),
                    seq: r.sequence_number().to_owned(),
                    shard: st.id.clone(),
                    arrival_ms,
                });
                polled.records += 1;
            }
            st.iterator = out.next_shard_iterator().map(str::to_owned);
        }
        polled.busy |= polled.records > 0;
        Ok(polled)
    }

    /// A batch is due: full (BatchSize or the 6 MB payload) or its window has ended.
    pub fn due(&self) -> bool {
        let payload: usize = self.pending.iter().map(payload_bytes).sum();
        !self.pending.is_empty()
            && (self.pending.len() >= self.args.batch_size as usize
                || payload >= crate::run::LAMBDA_PAYLOAD_BYTES
                || self.window_start.elapsed() >= Duration::from_millis(self.args.window_ms))
    }

    /// The next batch as the batcher receives it, cut where the 6 MB payload limit is
    /// reached; and how many pending records it holds.
    pub fn next_batch(&self) -> (KinesisBatch, usize) {
        let mut take = 0;
        let mut bytes = 0;
        for p in self.pending.iter().take(self.args.batch_size as usize) {
            let b = payload_bytes(p);
            if take > 0 && bytes + b > crate::run::LAMBDA_PAYLOAD_BYTES {
                break;
            }
            bytes += b;
            take += 1;
        }
        let event = KinesisBatch {
            records: self.pending[..take]
                .iter()
                .map(|p| KinesisBatchRecord::new(&p.shard, &p.seq, p.data.clone(), p.arrival_ms))
                .collect(),
        };
        (event, take)
    }

    /// After the batcher returned: checkpoint at the first failed record — everything
    /// before it is done, the rest is redelivered — and once a batch's head has failed
    /// more than `--max-retries` times, send its records to the on-failure destination.
    pub async fn checkpoint(
        &mut self,
        take: usize,
        failed: &HashSet<&str>,
        summary: &mut DriveSummary,
    ) -> anyhow::Result<()> {
        let first_failed = self.pending[..take]
            .iter()
            .position(|p| failed.contains(p.seq.as_str()));
        match first_failed {
            None => {
                summary.records_in += take as u64;
                self.pending.drain(..take);
                self.retries_of_head = 0;
            }
            Some(i) => {
                summary.records_in += i as u64;
                self.pending.drain(..i);
                self.retries_of_head += 1;
                summary.records_retried += (take - i) as u64;
                if self.retries_of_head > self.args.max_retries {
                    let dropped: Vec<Pending> = self.pending.drain(..(take - i)).collect();
                    write_failure_record(
                        self.c,
                        self.n,
                        &self.args.endpoint.region,
                        &self.args.dlq_file,
                        &dropped,
                        self.args.max_retries + 1,
                    )
                    .await?;
                    summary.records_to_dlq += dropped.len() as u64;
                    summary.records_in += dropped.len() as u64;
                    self.retries_of_head = 0;
                }
            }
        }
        self.window_start = Instant::now();
        Ok(())
    }
}

/// What the event source mapping's S3 on-failure destination does: the discarded batch as
/// an invocation record, in the data bucket under aws/lambda/ (and, for a local look, a
/// copy in the on-failure file). `pushfeed replay` reads either.
async fn write_failure_record(
    c: &Clients,
    n: &Names,
    region: &str,
    path: &std::path::Path,
    records: &[Pending],
    attempts: u32,
) -> anyhow::Result<()> {
    use std::io::Write;
    let failed: Vec<crate::replay::FailedRecord> = records
        .iter()
        .map(|r| crate::replay::FailedRecord {
            shard: r.shard.clone(),
            seq: r.seq.clone(),
            data: r.data.clone(),
            arrival_ms: r.arrival_ms,
        })
        .collect();
    let now = pushfeed_core::timefmt::now_ms();
    let doc = crate::replay::failure_record(
        &failed,
        &format!(
            "arn:aws:lambda:{region}:123456789012:function:pushfeed-{}-batcher",
            n.env
        ),
        &format!(
            "arn:aws:kinesis:{region}:123456789012:stream/{}",
            n.stream()
        ),
        attempts,
        now,
    );
    let (y, mo, d, h, mi, s, _) = pushfeed_core::timefmt::parts(now);
    let shard = records.first().map(|r| r.shard.as_str()).unwrap_or("shard");
    let key = format!(
        "{}pushfeed-drive/{shard}/{y:04}/{mo:02}/{d:02}/{y:04}-{mo:02}-{d:02}T{h:02}.{mi:02}.{s:02}-{:032x}",
        crate::replay::FAILURE_PREFIX,
        rand::random::<u128>()
    );
    c.s3.put_object()
        .bucket(n.bucket())
        .key(&key)
        .body(doc.to_string().into_bytes().into())
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "writing the failure record s3://{}/{key}: {}",
                n.bucket(),
                sdk(&e)
            )
        })?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the on-failure file {}", path.display()))?;
    writeln!(f, "{doc}")?;
    eprintln!(
        "pushfeed drive: {} records exhausted their retries; written to s3://{}/{key} and {} (replay with `pushfeed replay --env {}`)",
        records.len(),
        n.bucket(),
        path.display(),
        n.env
    );
    Ok(())
}
