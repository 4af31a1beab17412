//! The audit trail's batcher side: after each invocation, per destination table and hour of
//! Kinesis arrival, the lines Firehose accepted (and refused) — written as `push_audit`
//! lines through the audit destination's own Firehose stream, the same reliable path as the
//! data. The loader's side (lines found and rows inserted per object and hour) is a step of
//! every load ([`crate::load::Step::Audit`]); `v_push_audit_hourly` compares the two.

use crate::catalogue::DESTINATIONS;
use crate::event::push_json_str;
use crate::packing::PackedRecord;
use crate::timefmt::iso;
use std::collections::BTreeMap;

pub const HOUR_MS: i64 = 3_600_000;

/// The start of the hour (UTC) a time falls in.
pub fn hour_start_ms(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// One table's lines in one hour of arrival.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub lines: u64,
    pub lines_failed: u64,
    pub firehose_records: u64,
}

/// Lines per (destination index, hour start) for one invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditTally {
    pub cells: BTreeMap<(usize, i64), Tally>,
}

impl AuditTally {
    /// Count one Firehose record of `destination`, accepted or not. `arrival_ms` gives
    /// the arrival time of a Kinesis record by its batch index.
    pub fn add(
        &mut self,
        destination: usize,
        rec: &PackedRecord,
        accepted: bool,
        arrival_ms: impl Fn(u32) -> i64,
    ) {
        let mut hours: BTreeMap<i64, u64> = BTreeMap::new();
        for (src, n) in rec.sources.iter().zip(&rec.source_lines) {
            *hours.entry(hour_start_ms(arrival_ms(*src))).or_default() += u64::from(*n);
        }
        for (hour, lines) in hours {
            let cell = self.cells.entry((destination, hour)).or_default();
            if accepted {
                cell.lines += lines;
                cell.firehose_records += 1;
            } else {
                cell.lines_failed += lines;
            }
        }
    }

    pub fn lines(&self) -> u64 {
        self.cells.values().map(|t| t.lines).sum()
    }
}

/// What identifies the invocation an audit record describes.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// The Lambda request id (a retry of the same batch is a new invocation, a new id).
    pub id: &'a str,
    pub shard_id: &'a str,
    pub first_sequence_number: &'a str,
    pub last_sequence_number: &'a str,
    pub kinesis_records: u64,
    /// When the record is written.
    pub now_ms: i64,
}

/// The `push_audit` lines for an invocation, newline-terminated, one per table and hour
/// (cells with neither accepted nor refused lines are left out).
pub fn audit_lines(inv: &Invocation<'_>, tally: &AuditTally) -> Vec<u8> {
    let mut out = Vec::with_capacity(tally.cells.len() * 420);
    let now = iso(inv.now_ms);
    for ((destination, hour), t) in &tally.cells {
        if t.lines == 0 && t.lines_failed == 0 {
            continue;
        }
        let table = DESTINATIONS[*destination].table();
        let hour = iso(*hour);
        out.extend_from_slice(b"{\"event_id\":");
        push_json_str(&mut out, &format!("a:{}:{table}:{hour}", inv.id));
        out.extend_from_slice(b",\"table_name\":");
        push_json_str(&mut out, &table);
        out.extend_from_slice(b",\"hour\":");
        push_json_str(&mut out, &hour);
        out.extend_from_slice(
            format!(
                ",\"lines\":{},\"lines_failed\":{},\"firehose_records\":{},\"kinesis_records\":{}",
                t.lines, t.lines_failed, t.firehose_records, inv.kinesis_records
            )
            .as_bytes(),
        );
        for (key, value) in [
            ("invocation_id", inv.id),
            ("source_shard_id", inv.shard_id),
            ("first_sequence_number", inv.first_sequence_number),
            ("last_sequence_number", inv.last_sequence_number),
            ("occurred_at", now.as_str()),
            ("received_at", now.as_str()),
        ] {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            push_json_str(&mut out, value);
        }
        out.extend_from_slice(b"}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{audit_index, destination_index, AUDIT_COLUMNS};

    fn record(sources: &[(u32, u32)]) -> PackedRecord {
        PackedRecord {
            data: b"x\n".to_vec(),
            sources: sources.iter().map(|s| s.0).collect(),
            source_lines: sources.iter().map(|s| s.1).collect(),
            lines: sources.iter().map(|s| s.1).sum(),
        }
    }

    #[test]
    fn lines_are_counted_in_the_hour_their_kinesis_record_arrived() {
        let arrival = |i: u32| [3_599_999i64, 3_600_000, 7_300_000][i as usize];
        let send = destination_index("send").unwrap();
        let mut tally = AuditTally::default();
        tally.add(send, &record(&[(0, 2), (1, 3)]), true, arrival);
        tally.add(send, &record(&[(2, 4)]), false, arrival);
        assert_eq!(
            tally.cells[&(send, 0)],
            Tally {
                lines: 2,
                lines_failed: 0,
                firehose_records: 1
            }
        );
        assert_eq!(
            tally.cells[&(send, HOUR_MS)],
            Tally {
                lines: 3,
                lines_failed: 0,
                firehose_records: 1
            }
        );
        assert_eq!(
            tally.cells[&(send, 2 * HOUR_MS)],
            Tally {
                lines: 0,
                lines_failed: 4,
                firehose_records: 0
            }
        );
        assert_eq!(tally.lines(), 5);
        assert_eq!(hour_start_ms(-1), -HOUR_MS);
    }

    #[test]
    fn audit_lines_carry_every_audit_column_and_a_per_invocation_id() {
        let open = destination_index("open").unwrap();
        let mut tally = AuditTally::default();
        tally.add(open, &record(&[(0, 7)]), true, |_| 1_767_229_200_000);
        let inv = Invocation {
            id: "req-\"1\"",
            shard_id: "shardId-000000000000",
            first_sequence_number: "1",
            last_sequence_number: "9",
            kinesis_records: 9,
            now_ms: 1_767_229_260_000,
        };
        let text = audit_lines(&inv, &tally);
        let lines: Vec<serde_json::Value> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1);
        let v = &lines[0];
        for c in AUDIT_COLUMNS {
            assert!(v.get(c.name).is_some(), "audit line lacks {}", c.name);
        }
        assert_eq!(v["table_name"], "push_open");
        assert_eq!(v["hour"], "2026-01-01T01:00:00.000Z");
        assert_eq!(v["lines"], 7);
        assert_eq!(
            v["event_id"],
            "a:req-\"1\":push_open:2026-01-01T01:00:00.000Z"
        );
        assert!(audit_index() > open);
    }
}
