//! The local stand-ins for AWS: a Firehose that writes the same objects (gzip JSON lines,
//! same key layout) into a folder, and an embedded SQLite warehouse that applies the
//! loader's rules — COPY's JSON mapping, dedup, ledger — in one transaction.

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use pushfeed_batcher::{EntryResult, FirehoseSink, SinkError};
use pushfeed_core::catalogue::{ColumnKind, DESTINATIONS};
use pushfeed_core::sql::{sqlite_ddl, LEDGER_TABLE};
use pushfeed_loader::{LoadError, LoadOutcome, LoadPlan, Notifier, Warehouse};
use rusqlite::{params, Connection, OptionalExtension};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The bucket name objects are filed under locally.
pub const LOCAL_BUCKET: &str = "pushfeed-local";

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
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A content hash standing in for S3's ETag (two FNV-1a 64-bit passes).
pub fn etag_of(data: &[u8]) -> String {
    let fnv = |seed: u64| {
        data.iter()
            .fold(seed, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf29ce484222325),
        fnv(0x84222325cbf29ce4)
    )
}

impl LocalFirehose {
    pub fn new(data_dir: &Path, stream_prefix: &str, buffer_bytes: usize) -> Self {
        LocalFirehose {
            root: data_dir.join("objects").join(LOCAL_BUCKET),
            stream_prefix: stream_prefix.to_owned(),
            buffer_bytes,
            buffers: Mutex::new(Vec::new()),
            written: Mutex::new(Vec::new()),
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
        let (y, mo, d, h, mi, s, _) = pushfeed_core::timefmt::parts(now);
        let id: u64 = rand::random();
        let key = format!("{}{y:04}/{mo:02}/{d:02}/{h:02}/{stream}-1-{y:04}-{mo:02}-{d:02}-{h:02}-{mi:02}-{s:02}-{id:016x}.gz", dest.s3_prefix());
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
            etag: etag_of(&bytes),
            created_ms: now,
        };
        self.written
            .lock()
            .map_err(|_| fail("lock poisoned".into()))?
            .push(obj);
        Ok(())
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
        Ok(std::mem::take(&mut *self.written.lock().map_err(|_| {
            SinkError::Permanent {
                stream: "*".into(),
                message: "lock poisoned".into(),
            }
        })?))
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

/// The embedded warehouse: SQLite in `<data-dir>/warehouse.sqlite`.
pub struct SqliteWarehouse {
    conn: Mutex<Connection>,
    objects_root: PathBuf,
}

/// SQL functions the views need that SQLite lacks: `pf_local_time(ts, tz)` — a UTC
/// timestamp in an IANA timezone, as `YYYY-MM-DD HH:MM:SS` (Redshift: CONVERT_TIMEZONE).
/// An unknown zone is read as the default (Europe/London); NULL in, NULL out.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "pf_local_time",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let ts: Option<String> = ctx.get(0)?;
            let tz: Option<String> = ctx.get(1)?;
            Ok(ts.and_then(|ts| local_time(&ts, tz.as_deref())))
        },
    )
}

fn local_time(ts: &str, tz: Option<&str>) -> Option<String> {
    let ms = pushfeed_core::timefmt::parse_iso(ts).ok()?;
    let utc = chrono::DateTime::from_timestamp_millis(ms)?;
    let zone: chrono_tz::Tz = tz
        .and_then(|t| t.parse().ok())
        .unwrap_or(chrono_tz::Europe::London);
    Some(
        utc.with_timezone(&zone)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
    )
}

pub fn open_db(data_dir: &Path) -> anyhow::Result<Connection> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", data_dir.display()))?;
    let path = data_dir.join("warehouse.sqlite");
    let conn = Connection::open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
    register_functions(&conn)?;
    conn.execute_batch(&sqlite_ddl())?;
    Ok(conn)
}

impl SqliteWarehouse {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(SqliteWarehouse {
            conn: Mutex::new(open_db(data_dir)?),
            objects_root: data_dir.join("objects"),
        })
    }

    fn load_sync(&self, plan: &LoadPlan) -> Result<LoadOutcome, LoadError> {
        let o = &plan.object;
        let failed = |error: String, detail: Option<String>| LoadError::Failed {
            statement_id: format!("local:{}", o.key),
            error,
            detail,
        };
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| LoadError::Api("warehouse lock poisoned".into()))?;
        let tx = conn
            .transaction()
            .map_err(|e| LoadError::Api(e.to_string()))?;
        let seen: Option<i64> = tx
            .query_row(&format!("SELECT 1 FROM {LEDGER_TABLE} WHERE bucket = ?1 AND object_key = ?2 AND etag = ?3"), params![o.bucket, o.key, o.etag], |r| r.get(0))
            .optional()
            .map_err(|e| LoadError::Api(e.to_string()))?;
        if seen.is_some() {
            return Ok(LoadOutcome {
                rows_inserted: 0,
                rows_in_object: None,
                duplicate: true,
                statement_id: None,
            });
        }
        let table = plan.destination.table();
        let mut rows_in_object = 0u64;
        let mut inserted = 0u64;
        if o.size > 0 {
            let path = self.objects_root.join(&o.bucket).join(&o.key);
            let raw = std::fs::read(&path)
                .map_err(|e| LoadError::Object(format!("{}: {e}", path.display())))?;
            let text = if plan.gzip {
                let mut out = Vec::new();
                MultiGzDecoder::new(&raw[..])
                    .read_to_end(&mut out)
                    .map_err(|e| failed(format!("gzip: {e}"), None))?;
                out
            } else {
                raw
            };
            let columns = plan.destination.columns();
            let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
            let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "INSERT OR IGNORE INTO {table} ({}) VALUES ({})",
                names.join(", "),
                placeholders.join(", ")
            );
            let mut stmt = tx
                .prepare(&sql)
                .map_err(|e| LoadError::Api(e.to_string()))?;
            for (n, line) in text.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                rows_in_object += 1;
                let values = copy_row(line, &columns).map_err(|why| {
                    failed(format!("line {} of {}: {why}", n + 1, o.key), Some(why))
                })?;
                inserted += stmt
                    .execute(rusqlite::params_from_iter(values.iter()))
                    .map_err(|e| failed(e.to_string(), None))? as u64;
            }
        }
        tx.execute(
            &format!("INSERT INTO {LEDGER_TABLE} (bucket, object_key, etag, table_name, object_bytes, rows_in_object, loaded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![o.bucket, o.key, o.etag, table, o.size as i64, rows_in_object as i64, pushfeed_core::timefmt::iso(now_ms())],
        )
        .map_err(|e| LoadError::Api(e.to_string()))?;
        tx.commit().map_err(|e| LoadError::Api(e.to_string()))?;
        Ok(LoadOutcome {
            rows_inserted: inserted,
            rows_in_object: Some(rows_in_object),
            duplicate: false,
            statement_id: None,
        })
    }
}

/// One JSON line → column values, as `COPY … FORMAT AS JSON 'auto ignorecase'` maps them:
/// top-level keys to columns (case-insensitive), missing keys to NULL, text truncated to
/// the column width (TRUNCATECOLUMNS), objects kept as JSON text (SUPER).
pub fn copy_row(
    line: &[u8],
    columns: &[pushfeed_core::catalogue::Column],
) -> Result<Vec<rusqlite::types::Value>, String> {
    use rusqlite::types::Value as Sql;
    let obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let mut out = Vec::with_capacity(columns.len());
    for c in columns {
        let v = obj.get(c.name).or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(c.name))
                .map(|(_, v)| v)
        });
        let value = match (v, c.kind) {
            (None | Some(serde_json::Value::Null), _) => Sql::Null,
            (Some(v), ColumnKind::Json) => Sql::Text(v.to_string()),
            (Some(serde_json::Value::Number(n)), ColumnKind::BigInt) => n
                .as_i64()
                .map(Sql::Integer)
                .ok_or_else(|| format!("{}: {n} is not an integer", c.name))?,
            (Some(v), ColumnKind::BigInt) => {
                return Err(format!("{}: {v} is not an integer", c.name))
            }
            (Some(serde_json::Value::String(s)), ColumnKind::Timestamp) => {
                let ms = pushfeed_core::timefmt::parse_iso(s)
                    .map_err(|e| format!("{}: {}", c.name, e.0))?;
                Sql::Text(pushfeed_core::timefmt::iso(ms))
            }
            (Some(v), ColumnKind::Timestamp) => {
                return Err(format!("{}: {v} is not a timestamp", c.name))
            }
            (Some(serde_json::Value::String(s)), ColumnKind::Text(width)) => {
                Sql::Text(pushfeed_core::event::truncate_at_char(s, width as usize).to_owned())
            }
            (Some(v), ColumnKind::Text(width)) => Sql::Text(
                pushfeed_core::event::truncate_at_char(&v.to_string(), width as usize).to_owned(),
            ),
        };
        if c.not_null && value == Sql::Null {
            return Err(format!(
                "{} is NOT NULL but the line has no value for it",
                c.name
            ));
        }
        out.push(value);
    }
    Ok(out)
}

impl Warehouse for SqliteWarehouse {
    async fn load(
        &self,
        plan: &LoadPlan,
        _deadline: Option<tokio::time::Instant>,
    ) -> Result<LoadOutcome, LoadError> {
        self.load_sync(plan)
    }
}

/// Alerts collected in memory and shown in the run's summary.
#[derive(Default)]
pub struct CollectingNotifier {
    pub alerts: Mutex<Vec<(String, String)>>,
}

impl Notifier for CollectingNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), String> {
        self.alerts
            .lock()
            .map_err(|_| "lock poisoned".to_owned())?
            .push((subject.to_owned(), message.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushfeed_core::destination;

    #[test]
    fn local_time_uses_the_customers_zone() {
        assert_eq!(
            local_time("2026-07-01T12:00:00.000Z", Some("Europe/London")).as_deref(),
            Some("2026-07-01 13:00:00")
        );
        assert_eq!(
            local_time("2026-01-05T12:00:00.000Z", Some("Australia/Sydney")).as_deref(),
            Some("2026-01-05 23:00:00")
        );
        assert_eq!(
            local_time("2026-07-01T12:00:00.000Z", Some("Not/AZone")).as_deref(),
            Some("2026-07-01 13:00:00")
        );
        assert_eq!(local_time("garbage", None), None);
    }

    #[test]
    fn copy_row_maps_like_copy_json_auto_ignorecase() {
        let cols = destination("open").unwrap().columns();
        let line = br#"{"EVENT_ID":"e1","event_type":"open","vendor":"braze","vendor_event_type":"x","occurred_at":"2026-01-01T00:00:00Z","received_at":"2026-01-01T00:00:01.000Z","platform":42,"attributes":{"a":[1]},"button_string":"LONG"}"#;
        let row = copy_row(line, &cols).unwrap();
        let at = |n: &str| &row[cols.iter().position(|c| c.name == n).unwrap()];
        assert_eq!(at("event_id"), &rusqlite::types::Value::Text("e1".into()));
        assert_eq!(
            at("occurred_at"),
            &rusqlite::types::Value::Text("2026-01-01T00:00:00.000Z".into())
        );
        assert_eq!(at("platform"), &rusqlite::types::Value::Text("42".into()));
        assert_eq!(
            at("attributes"),
            &rusqlite::types::Value::Text("{\"a\":[1]}".into())
        );
        assert_eq!(at("user_id"), &rusqlite::types::Value::Null);
        assert!(copy_row(br#"{"event_type":"open"}"#, &cols)
            .unwrap_err()
            .contains("event_id is NOT NULL"));
        assert!(copy_row(b"not json", &cols).is_err());
    }
}
