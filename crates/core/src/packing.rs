//! Packing newline-terminated JSON lines into Firehose records and PutRecordBatch calls,
//! within Firehose's limits, remembering which Kinesis records fed each Firehose record.

/// Firehose's limits (and the size pushfeed aims each record at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest Firehose record: 1,000 KiB.
    pub max_record_bytes: usize,
    /// Most records in one PutRecordBatch call.
    pub max_batch_records: usize,
    /// Most bytes in one PutRecordBatch call. AWS says "4 MB"; 4,000,000 is below both
    /// readings of that.
    pub max_batch_bytes: usize,
}

impl Limits {
    pub const FIREHOSE: Limits = Limits {
        max_record_bytes: 1_024_000,
        max_batch_records: 500,
        max_batch_bytes: 4_000_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::FIREHOSE
    }
}

/// One Firehose record: whole lines, and the Kinesis records (batch indices) they came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackedRecord {
    pub data: Vec<u8>,
    /// Sorted, distinct indices of the Kinesis records in the invocation's batch.
    pub sources: Vec<u32>,
    /// Lines each of `sources` fed into this record (same order): the audit trail counts
    /// lines per hour of their Kinesis record's arrival.
    pub source_lines: Vec<u32>,
    /// Number of lines (rows) in `data`.
    pub lines: u32,
}

/// A line that does not fit one Firehose record on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTooLarge {
    pub source: u32,
    pub bytes: usize,
}

/// Headroom past the record limit for the line that crosses it: canonical lines are a few
/// KB (a longer one still fits, at the cost of one reallocation).
const OVERFLOW_ROOM: usize = 64 * 1024;

/// Packs lines greedily, in order, into records of at most `max_record_bytes`.
#[derive(Debug)]
pub struct Packer {
    limits: Limits,
    current: PackedRecord,
    done: Vec<PackedRecord>,
}

impl Packer {
    pub fn new(limits: Limits) -> Self {
        Packer {
            limits,
            current: PackedRecord::default(),
            done: Vec::new(),
        }
    }

    /// Add one newline-terminated line fed by Kinesis record `source`.
    pub fn push(&mut self, line: &[u8], source: u32) -> Result<(), LineTooLarge> {
        if line.len() > self.limits.max_record_bytes {
            return Err(LineTooLarge {
                source,
                bytes: line.len(),
            });
        }
        let buffer = self.buffer();
        let start = buffer.len();
        buffer.extend_from_slice(line);
        self.commit(start, source).map_err(|(e, _)| e)
    }

    /// The record being filled: a line appended here is added by [`Packer::commit`].
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        if self.current.data.is_empty() {
            // The whole record at once: growing it by doubling copied it twice over.
            // Pages never written are never touched, so this costs no memory. With room
            // for the line that crosses the limit (`commit` moves it to the next record):
            // reserved to the limit alone, the buffer was reallocated — doubled, the whole
            // record copied — each time a line crossed it.
            self.current
                .data
                .reserve(self.limits.max_record_bytes + OVERFLOW_ROOM);
        }
        &mut self.current.data
    }

    /// Add the line appended to [`Packer::buffer`] from `start` on, fed by Kinesis record
    /// `source`. A line that would overflow the record starts the next one; a line larger
    /// than a record is taken out again and handed back.
    pub fn commit(&mut self, start: usize, source: u32) -> Result<(), (LineTooLarge, Vec<u8>)> {
        let data = &mut self.current.data;
        let start = start.min(data.len());
        let bytes = data.len() - start;
        if bytes > self.limits.max_record_bytes {
            let line = data.split_off(start);
            return Err((LineTooLarge { source, bytes }, line));
        }
        if data.len() > self.limits.max_record_bytes {
            let line = data.split_off(start);
            self.flush();
            self.buffer().extend_from_slice(&line);
        }
        self.current.lines += 1;
        // Kept sorted. A batch feeds sources in order, so a new one is past the last.
        let (sources, lines) = (&mut self.current.sources, &mut self.current.source_lines);
        match sources.last() {
            // The same record's next event (a Braze batch: a few a record).
            Some(&last) if last == source => {
                if let Some(n) = lines.last_mut() {
                    *n += 1;
                }
            }
            Some(&last) if last > source => match sources.binary_search(&source) {
                Ok(at) => lines[at] += 1,
                Err(at) => {
                    sources.insert(at, source);
                    lines.insert(at, 1);
                }
            },
            _ => {
                sources.push(source);
                lines.push(1);
            }
        }
        Ok(())
    }

    fn flush(&mut self) {
        if !self.current.data.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
        }
    }

    pub fn finish(mut self) -> Vec<PackedRecord> {
        self.flush();
        self.done
    }
}

/// Group records into PutRecordBatch calls within the count and byte limits, in order.
pub fn group(records: Vec<PackedRecord>, limits: Limits) -> Vec<Vec<PackedRecord>> {
    let mut calls = Vec::new();
    let mut call: Vec<PackedRecord> = Vec::new();
    let mut bytes = 0usize;
    for rec in records {
        if !call.is_empty()
            && (call.len() == limits.max_batch_records
                || bytes + rec.data.len() > limits.max_batch_bytes)
        {
            calls.push(std::mem::take(&mut call));
            bytes = 0;
        }
        bytes += rec.data.len();
        call.push(rec);
    }
    if !call.is_empty() {
        calls.push(call);
    }
    calls
}

/// Split a Firehose record (or an S3 object) back into its lines, newline kept.
pub fn unpack(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|b| *b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small() -> Limits {
        Limits {
            max_record_bytes: 64,
            max_batch_records: 3,
            max_batch_bytes: 150,
        }
    }

    #[test]
    fn a_line_crossing_the_limit_does_not_double_the_record() {
        let mut packer = Packer::new(Limits::FIREHOSE);
        let line = [b'x'; 999]
            .iter()
            .chain(b"\n")
            .copied()
            .collect::<Vec<u8>>();
        for i in 0..3_000 {
            packer.push(&line, i).unwrap();
        }
        let records = packer.finish();
        assert_eq!(records.len(), 3);
        for r in &records {
            assert!(r.data.len() <= Limits::FIREHOSE.max_record_bytes);
            // Reallocated past the limit, a record would hold twice the memory it needs.
            assert!(
                r.data.capacity() <= Limits::FIREHOSE.max_record_bytes + OVERFLOW_ROOM,
                "{}",
                r.data.capacity()
            );
        }
    }

    proptest! {
        #[test]
        fn pack_then_unpack_keeps_every_line_in_order_within_every_limit(
            lines in proptest::collection::vec((proptest::collection::vec(b'a'..=b'z', 0..63), 0u32..20), 0..200),
            real in any::<bool>(),
        ) {
            let limits = if real { Limits::FIREHOSE } else { small() };
            let mut packer = Packer::new(limits);
            let mut expected = Vec::new();
            for (body, source) in &lines {
                let mut line = body.clone();
                line.push(b'\n');
                packer.push(&line, *source).unwrap();
                expected.push((line, *source));
            }
            let records = packer.finish();
            let mut seen = Vec::new();
            for rec in &records {
                prop_assert!(!rec.data.is_empty());
                prop_assert!(rec.data.len() <= limits.max_record_bytes);
                prop_assert!(rec.sources.windows(2).all(|w| w[0] < w[1]));
                prop_assert_eq!(rec.source_lines.len(), rec.sources.len());
                prop_assert_eq!(rec.source_lines.iter().sum::<u32>(), rec.lines, "per-source line counts add up");
                let got: Vec<&[u8]> = unpack(&rec.data).collect();
                prop_assert_eq!(got.len() as u32, rec.lines);
                for l in got {
                    seen.push((l.to_vec(), rec.sources.clone()));
                }
            }
            prop_assert_eq!(seen.len(), expected.len());
            for ((line, sources), (want, source)) in seen.iter().zip(&expected) {
                prop_assert_eq!(line, want);
                prop_assert!(sources.contains(source), "record lost track of its source");
            }
            let mut per_source = std::collections::BTreeMap::<u32, u32>::new();
            for rec in &records {
                for (src, n) in rec.sources.iter().zip(&rec.source_lines) {
                    *per_source.entry(*src).or_default() += n;
                }
            }
            let mut want_per_source = std::collections::BTreeMap::<u32, u32>::new();
            for (_, source) in &expected {
                *want_per_source.entry(*source).or_default() += 1;
            }
            prop_assert_eq!(per_source, want_per_source, "lines per Kinesis record survive packing");
            let total = records.len();
            let calls = group(records, limits);
            prop_assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), total);
            for call in &calls {
                prop_assert!(!call.is_empty() && call.len() <= limits.max_batch_records);
                prop_assert!(call.iter().map(|r| r.data.len()).sum::<usize>() <= limits.max_batch_bytes);
            }
        }
    }

    #[test]
    fn a_line_over_the_record_limit_is_refused_not_split() {
        let mut p = Packer::new(small());
        let err = p.push(&[b'x'; 65], 7).unwrap_err();
        assert_eq!(
            err,
            LineTooLarge {
                source: 7,
                bytes: 65
            }
        );
        assert!(p.finish().is_empty());
    }

    #[test]
    fn firehose_limits_are_respected_at_scale() {
        // 5,000 lines of 10 KB: 50 MB packs into 1,000 KiB records, 3 per 4 MB call.
        let line = [vec![b'a'; 9_999], vec![b'\n']].concat();
        let mut p = Packer::new(Limits::FIREHOSE);
        for i in 0..5_000 {
            p.push(&line, i).unwrap();
        }
        let records = p.finish();
        assert!(records.iter().all(|r| r.data.len() <= 1_024_000));
        assert_eq!(records.iter().map(|r| r.lines).sum::<u32>(), 5_000);
        let calls = group(records, Limits::FIREHOSE);
        assert!(calls
            .iter()
            .all(|c| c.iter().map(|r| r.data.len()).sum::<usize>() <= 4_000_000 && c.len() <= 500));
    }

    #[test]
    fn tiny_lines_hit_the_500_record_limit_per_call() {
        let limits = Limits {
            max_record_bytes: 10,
            ..Limits::FIREHOSE
        };
        let mut p = Packer::new(limits);
        for i in 0..1_200 {
            p.push(b"123456789\n", i).unwrap();
        }
        let calls = group(p.finish(), limits);
        assert_eq!(
            calls.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![500, 500, 200]
        );
    }
}
