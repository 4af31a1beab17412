//! A whole batch of Kinesis records → per-destination Firehose records and the counts
//! that prove nothing was lost. The batcher Lambda and the CLI both call this.

use crate::catalogue::{quarantine_index, DESTINATIONS};
use crate::event::{Coordinates, QuarantineEntry, Reason};
use crate::packing::{Limits, PackedRecord, Packer};
use crate::vendor::{Decoded, Decoder, Output};
use serde::Serialize;
use std::collections::BTreeMap;

/// One Kinesis record as the batch sees it.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    pub data: &'a [u8],
    pub coords: Coordinates<'a>,
}

/// Counts for one batch. `records_in` = records that produced at least one outcome; every
/// record produces at least one, so a record can never vanish from the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchCounts {
    pub records_in: u64,
    /// Events per destination name (catalogue types and `unknown_type`).
    pub events: BTreeMap<&'static str, u64>,
    /// Quarantine entries per reason (one entry may span several rows).
    pub quarantined: BTreeMap<&'static str, u64>,
    /// Quarantine rows (chunks) written.
    pub quarantine_rows: u64,
}

impl BatchCounts {
    pub fn routed_total(&self) -> u64 {
        self.events
            .iter()
            .filter(|(k, _)| **k != "unknown_type")
            .map(|(_, v)| v)
            .sum()
    }
    pub fn unknown_type(&self) -> u64 {
        self.events.get("unknown_type").copied().unwrap_or(0)
    }
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined.values().sum()
    }
    pub fn merge(&mut self, other: &BatchCounts) {
        self.records_in += other.records_in;
        for (k, v) in &other.events {
            *self.events.entry(k).or_default() += v;
        }
        for (k, v) in &other.quarantined {
            *self.quarantined.entry(k).or_default() += v;
        }
        self.quarantine_rows += other.quarantine_rows;
    }
}

/// The packed output of a batch, per destination index.
#[derive(Debug, Default)]
pub struct PackedBatch {
    /// (destination index, its Firehose records), destinations in catalogue order.
    pub destinations: Vec<(usize, Vec<PackedRecord>)>,
    pub counts: BatchCounts,
}

impl PackedBatch {
    pub fn firehose_records(&self) -> usize {
        self.destinations.iter().map(|(_, r)| r.len()).sum()
    }
    pub fn bytes(&self) -> usize {
        self.destinations
            .iter()
            .flat_map(|(_, r)| r.iter())
            .map(|r| r.data.len())
            .sum()
    }
}

/// Decode, route and pack a batch. `limits.max_record_bytes` must be at least
/// [`MIN_RECORD_BYTES`] so that every quarantine row fits one record.
pub fn pack_batch(records: &[InputRecord<'_>], limits: Limits) -> PackedBatch {
    let limits = Limits {
        max_record_bytes: limits.max_record_bytes.max(MIN_RECORD_BYTES),
        ..limits
    };
    let mut packers: Vec<Option<Packer>> = DESTINATIONS.iter().map(|_| None).collect();
    let mut counts = BatchCounts::default();
    let q = quarantine_index();
    let mut decoder = Decoder::default();
    let mut out = PackOut {
        packers: &mut packers,
        counts: &mut counts,
        // Events per destination, counted by index (a map look-up per event cost more).
        events: vec![0u64; DESTINATIONS.len()],
        limits,
        quarantine: q,
        scratch: Vec::new(),
        source: 0,
        coords: None,
    };
    for (index, rec) in records.iter().enumerate() {
        out.source = index as u32;
        out.coords = Some(rec.coords);
        out.counts.records_in += 1;
        decoder.decode(rec.data, &rec.coords, &mut out);
    }
    let events = std::mem::take(&mut out.events);
    for (d, n) in DESTINATIONS.iter().zip(events) {
        if n > 0 {
            counts.events.insert(d.name, n);
        }
    }
    let destinations = packers
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p.finish())))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    PackedBatch {
        destinations,
        counts,
    }
}

/// The packers as the decoder's output: lines go straight into the Firehose record being
/// filled for their destination.
struct PackOut<'p, 'c> {
    packers: &'p mut Vec<Option<Packer>>,
    counts: &'p mut BatchCounts,
    events: Vec<u64>,
    limits: Limits,
    quarantine: usize,
    scratch: Vec<u8>,
    /// The record being decoded: its index in the batch and its coordinates.
    source: u32,
    coords: Option<Coordinates<'c>>,
}

impl Output for PackOut<'_, '_> {
    fn buffer(&mut self, destination: usize) -> &mut Vec<u8> {
        let limits = self.limits;
        self.packers[destination]
            .get_or_insert_with(|| Packer::new(limits))
            .buffer()
    }

    fn emit(&mut self, outcome: Decoded<'_>) {
        match outcome {
            Decoded::Event {
                destination, line, ..
            } => {
                let limits = self.limits;
                let packer = self.packers[destination].get_or_insert_with(|| Packer::new(limits));
                match packer.commit(line.start, self.source) {
                    Ok(()) => self.events[destination] += 1,
                    Err((e, line)) => {
                        let coords = self.coords.unwrap_or(Coordinates {
                            shard_id: "",
                            sequence_number: "",
                            received_at_ms: 0,
                        });
                        let entry = QuarantineEntry::new(
                            Reason::TooLarge,
                            format!(
                                "canonical event is {} bytes; one Firehose record holds {}",
                                e.bytes, limits.max_record_bytes
                            ),
                            &coords,
                            None,
                            line,
                        );
                        self.quarantine_entry(&entry);
                    }
                }
            }
            Decoded::Quarantined(entry) => self.quarantine_entry(&entry),
        }
    }
}

impl PackOut<'_, '_> {
    fn quarantine_entry(&mut self, entry: &QuarantineEntry) {
        quarantine(
            &mut self.packers[self.quarantine],
            self.counts,
            entry,
            self.source,
            self.limits,
            &mut self.scratch,
        );
    }
}

/// Every quarantine row is at most ~360 KB (60,000 raw bytes, JSON-escaped at worst 6×).
pub const MIN_RECORD_BYTES: usize = 400_000;

fn quarantine(
    packer: &mut Option<Packer>,
    counts: &mut BatchCounts,
    entry: &QuarantineEntry,
    source: u32,
    limits: Limits,
    scratch: &mut Vec<u8>,
) {
    let packer = packer.get_or_insert_with(|| Packer::new(limits));
    *counts.quarantined.entry(entry.reason.as_str()).or_default() += 1;
    scratch.clear();
    entry.write_lines(scratch);
    for line in scratch.split_inclusive(|b| *b == b'\n') {
        // Cannot fail: every row is below MIN_RECORD_BYTES (event.rs tests the worst case).
        if packer.push(line, source).is_ok() {
            counts.quarantine_rows += 1;
        }
    }
}
