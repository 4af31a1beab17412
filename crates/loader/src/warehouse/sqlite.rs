//! The warehouse port's embedded adapter: SQLite in `<data-dir>/warehouse.sqlite`, running
//! the core's load script in the SQLite dialect — the same steps, lock, dedup window and
//! ledger guard the loader runs on Redshift — with one parameterised INSERT per line
//! standing in for COPY. Feature `local` (the CLI's `pushfeed run`).

use super::sqlite_static::{Param, StaticInsert};
use super::{LoadError, LoadOutcome, LoadPlan, Warehouse};
use flate2::read::MultiGzDecoder;
use pushfeed_core::catalogue::ColumnKind;
use pushfeed_core::event::truncate_at_char;
use pushfeed_core::json::{Node, Tape, Val};
use pushfeed_core::load::{self, ObjectRef, Step};
use pushfeed_core::names::local;
use pushfeed_core::schema::{self, ColumnDef, Migration, TableDef, MIGRATIONS_TABLE};
use pushfeed_core::sql::Dialect;
use rusqlite::Connection;
use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The schema name the local renderings use (SQLite has one database per file).
pub const LOCAL_SCHEMA: &str = "main";

/// What went wrong opening, migrating or querying the local warehouse.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot create the data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no warehouse at {0}: run `pushfeed run` first (or pass --data-dir)")]
    NoWarehouse(PathBuf),
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("migration {id} ({description}) failed: {source} (statement: {sql})")]
    Migration {
        id: u32,
        description: String,
        sql: String,
        source: rusqlite::Error,
    },
    #[error("the catalogue's migrations cannot be read: {0}")]
    Migrations(#[from] schema::MigrationError),
    #[error("cannot render the schema: {0}")]
    Schema(#[from] pushfeed_core::sql::SqlError),
    #[error("{dir} is in use by another pushfeed ({holder}): wait for it to finish, or give this one another --data-dir")]
    Locked { dir: PathBuf, holder: String },
    #[error("the local warehouse's lock is poisoned (a thread panicked while holding it)")]
    Poisoned,
    #[error("the local warehouse: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// The embedded warehouse (one connection; loads take turns on it).
pub struct SqliteWarehouse {
    conn: Mutex<Connection>,
    data_dir: PathBuf,
    /// Seconds spent in each load step, over this warehouse's loads: where a long
    /// `pushfeed run` spends its time.
    step_seconds: Mutex<Vec<(&'static str, f64)>>,
    /// Objects being read ahead of their loads ([`SqliteWarehouse::read_ahead`]), oldest
    /// first.
    ahead: Mutex<std::collections::VecDeque<ReadAhead>>,
    /// The thread that checkpoints the WAL after loads, when it could be started.
    checkpointer: Option<Checkpointer>,
}

/// Copies the WAL's pages into the database file on a thread and connection of its own
/// (`PRAGMA wal_checkpoint(PASSIVE)`, which never blocks the writer or readers), told after
/// each load's commit. Without it SQLite copies them inside the commit that fills 1,000
/// pages of WAL, on the loader's thread (two thirds of the commit step's time:
/// docs/performance.md, "Two cores kept busy"). The writer still checkpoints, every
/// [`WAL_PAGES`]: by then nearly every page is copied already, and only a checkpoint that
/// completes before the writer's next transaction lets SQLite start the WAL over — a
/// writer that never checkpoints itself grows the WAL without end (9.4 GB in a ten-day run).
struct Checkpointer {
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Pages of WAL after which the writer checkpoints itself (64 MiB of 16 KiB pages).
const WAL_PAGES: u32 = 4096;

impl Checkpointer {
    /// Start one for the warehouse at `path`; `None` when its connection cannot be opened
    /// (the writer then checkpoints as SQLite does by default).
    fn start(path: &Path) -> Option<Self> {
        let conn = Connection::open(path).ok()?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).ok()?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("pushfeed-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // A failed checkpoint (a reader's snapshot, a busy moment) is retried
                    // after the next commit; the WAL keeps every page meanwhile.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok()?;
        Some(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// After a commit: checkpoint soon (a wake-up already pending covers this one too).
    fn wake(&self) {
        if let Some(w) = &self.wake {
            let _ = w.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // The thread ends once the channel closes; the last connection to close then
        // checkpoints what is left and removes the WAL, as SQLite does.
        self.wake.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An object's rows, read and parsed on their own thread before its load takes them.
struct ReadAhead {
    bucket: String,
    key: String,
    /// The table whose columns the rows were parsed for.
    table: String,
    rows: std::sync::mpsc::Receiver<Result<RowChunk, CopyFailure>>,
}

/// Chunks of rows a read-ahead may hold before its load takes them (about 40,000 rows:
/// a Firehose object of 20 MB or so read whole; a larger one waits for its load).
const AHEAD_CHUNKS: usize = 64;

/// Objects read ahead at most: the one loading now and the one after it.
const AHEAD_OBJECTS: usize = 2;

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

/// Years the zone offsets are computed for; before and after, the first and last periods
/// extend (a zone's rules beyond are not known anyway).
const ZONE_YEARS: (i32, i32) = (2015, 2040);

/// Every IANA zone's UTC offsets as periods: (zone, start ms, end ms, offset minutes).
/// Offsets are sampled weekly and each change pinned to its minute (zones change at most
/// twice a year).
pub fn zone_offsets() -> Vec<(&'static str, i64, i64, i32)> {
    use chrono::{Offset, TimeZone};
    const WEEK: i64 = 7 * 86_400_000;
    let ms = |year: i32| {
        chrono::NaiveDate::from_ymd_opt(year, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(0, |t| t.and_utc().timestamp_millis())
    };
    let (from, to) = (ms(ZONE_YEARS.0), ms(ZONE_YEARS.1));
    let mut out = Vec::new();
    for zone in chrono_tz::TZ_VARIANTS {
        let offset = |at: i64| {
            let utc = chrono::DateTime::from_timestamp_millis(at).unwrap_or_default();
            zone.offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc()
                / 60
        };
        let (mut start, mut current, mut t) = (i64::MIN, offset(from), from);
        while t < to {
            let next = (t + WEEK).min(to);
            let o = offset(next);
            if o != current {
                // The first minute in (t, next] with the new offset.
                let (mut lo, mut hi) = (t, next);
                while hi - lo > 60_000 {
                    let mid = lo + (hi - lo) / 2 / 60_000 * 60_000;
                    let mid = if mid == lo { lo + 60_000 } else { mid };
                    if offset(mid) == current {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                out.push((zone.name(), start, hi, current));
                start = hi;
                current = offset(hi);
            }
            t = next;
        }
        out.push((zone.name(), start, i64::MAX, current));
    }
    out
}

/// Fill the zone offsets table once (views read local times from it, so any SQLite client
/// can read them).
fn fill_zone_offsets(conn: &Connection) -> Result<(), LocalError> {
    use pushfeed_core::views::ZONE_OFFSETS_TABLE as T;
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {T} (zone TEXT NOT NULL, starts_at TEXT NOT NULL, \
         ends_at TEXT NOT NULL, offset_minutes INTEGER NOT NULL, PRIMARY KEY (zone, starts_at)) WITHOUT ROWID"
    ))?;
    let filled: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {T}"), [], |r| r.get(0))?;
    if filled > 0 {
        return Ok(());
    }
    let text = |ms: i64| match ms {
        i64::MIN => "0000-01-01T00:00:00.000Z".to_owned(),
        i64::MAX => "9999-12-31T23:59:59.999Z".to_owned(),
        ms => pushfeed_core::timefmt::iso(ms),
    };
    let mut stmt = conn.prepare(&format!(
        "INSERT INTO {T} (zone, starts_at, ends_at, offset_minutes) VALUES (?1, ?2, ?3, ?4)"
    ))?;
    for (zone, start, end, minutes) in zone_offsets() {
        stmt.execute(rusqlite::params![zone, text(start), text(end), minutes])?;
    }
    Ok(())
}

/// Bring a local warehouse to the catalogue's schema: bootstrap, then every migration not
/// yet applied (each once, in order, recorded), then the views — in one write transaction,
/// so two processes opening the same warehouse take turns. Returns the ids applied now.
pub fn migrate(conn: &Connection, history: &[Migration]) -> Result<Vec<u32>, LocalError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> Result<Vec<u32>, LocalError> {
        for s in schema::bootstrap(Dialect::Sqlite, LOCAL_SCHEMA)? {
            conn.execute_batch(&s)?;
        }
        let applied: HashSet<u32> = conn
            .prepare(&format!("SELECT id FROM {MIGRATIONS_TABLE}"))?
            .query_map([], |r| r.get::<_, u32>(0))?
            .collect::<Result<_, _>>()?;
        let mut now = Vec::new();
        for m in history.iter().filter(|m| !applied.contains(&m.id)) {
            for s in schema::migration_statements(Dialect::Sqlite, LOCAL_SCHEMA, m)? {
                conn.execute_batch(&s)
                    .map_err(|source| LocalError::Migration {
                        id: m.id,
                        description: m.description.clone(),
                        sql: s.clone(),
                        source,
                    })?;
            }
            now.push(m.id);
        }
        for s in schema::index_statements(Dialect::Sqlite)? {
            conn.execute_batch(&s)?;
        }
        fill_zone_offsets(conn)?;
        for s in schema::view_statements(Dialect::Sqlite, LOCAL_SCHEMA)? {
            conn.execute_batch(&s)?;
        }
        Ok(now)
    })();
    match result {
        Ok(ids) => {
            conn.execute_batch("COMMIT")?;
            Ok(ids)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Open (creating if need be) the warehouse of a data dir, brought to the catalogue's
/// schema.
pub fn open_db(data_dir: &Path) -> Result<Connection, LocalError> {
    std::fs::create_dir_all(data_dir).map_err(|source| LocalError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let path = local::warehouse_path(data_dir);
    let conn = Connection::open(&path).map_err(|source| LocalError::Open {
        path: path.clone(),
        source,
    })?;
    // Another loader holding the write lock is waited for, as a Redshift LOCK waits.
    conn.busy_timeout(std::time::Duration::from_secs(120))?;
    // Loads stage each object in temporary tables: in memory, not in temporary files. A
    // page cache of 32 MiB (SQLite's default is 2 MiB) holds the indexes' hot ends; memory
    // stays that size whatever the warehouse's. Pages of 16 KiB (a new warehouse's; one
    // made before keeps its 4 KiB): rows of about 500 bytes, a million and a half a day, take
    // fewer page splits and frames in the WAL (docs/performance.md, "Two cores kept busy").
    conn.execute_batch(
        "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-32768;",
    )?;
    register_functions(&conn)?;
    migrate(&conn, &schema::migrations()?)?;
    Ok(conn)
}

/// A data dir held by one writer (`pushfeed run`, `reconcile --data-dir`): two writers on
/// one warehouse would interleave their migrations, views and loads. Released on drop (and
/// by the OS if the process dies: an advisory lock on `<data-dir>/.pushfeed.lock`).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Take the data dir for `what` (e.g. "pushfeed run"), or say who holds it.
pub fn lock_data_dir(data_dir: &Path, what: &str) -> Result<DataDirLock, LocalError> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(data_dir).map_err(|source| LocalError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let path = data_dir.join(".pushfeed.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| LocalError::DataDir {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = write!(
                file,
                "{what} (pid {}) since {}",
                std::process::id(),
                pushfeed_core::timefmt::iso(pushfeed_core::timefmt::now_ms())
            );
            let _ = file.flush();
            Ok(DataDirLock { _file: file })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(LocalError::Locked {
                dir: data_dir.to_owned(),
                holder: if holder.trim().is_empty() {
                    "a process that has not said which".into()
                } else {
                    holder.trim().to_owned()
                },
            })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(LocalError::DataDir { path, source }),
    }
}

/// The warehouse of a data dir, read only, for queries (`pushfeed sql`, `report`): it
/// must exist; nothing is created or migrated.
pub fn open_read_only(data_dir: &Path) -> Result<Connection, LocalError> {
    let path = local::warehouse_path(data_dir);
    if !path.exists() {
        return Err(LocalError::NoWarehouse(path));
    }
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|source| LocalError::Open {
            path: path.clone(),
            source,
        })?;
    // A warehouse in WAL mode needs its -shm file to be read; in a read-only folder (a
    // shared drive, a copy on read-only media) that file cannot be made. Such a warehouse
    // is read as immutable: nothing else can be writing to it there.
    let conn = match conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(())) {
        Ok(()) => conn,
        Err(_) => {
            drop(conn);
            open_immutable(&path)?
        }
    };
    register_functions(&conn)?;
    Ok(conn)
}

/// Rows of any query on a connection, every value as text (NULL as empty) — what the Data
/// API's text results look like, so one reader serves both warehouses.
pub fn query_text(conn: &Connection, sql: &str) -> Result<Vec<Vec<String>>, LocalError> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare(sql)?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => String::new(),
                        ValueRef::Integer(v) => v.to_string(),
                        ValueRef::Real(v) => v.to_string(),
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                    })
                })
                .collect::<rusqlite::Result<Vec<String>>>()
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A warehouse file opened as immutable: no locks, no -shm, no WAL.
fn open_immutable(path: &Path) -> Result<Connection, LocalError> {
    let uri = format!("file:{}?immutable=1", uri_path(path));
    Connection::open_with_flags(
        &uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|source| LocalError::Open {
        path: path.to_owned(),
        source,
    })
}

/// A path as a SQLite URI path (`%`, `?` and `#` escaped).
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    abs.to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23")
}

impl SqliteWarehouse {
    pub fn open(data_dir: &Path) -> Result<Self, LocalError> {
        let conn = open_db(data_dir)?;
        let checkpointer = Checkpointer::start(&local::warehouse_path(data_dir));
        if checkpointer.is_some() {
            conn.execute_batch(&format!("PRAGMA wal_autocheckpoint={WAL_PAGES}"))?;
        }
        Ok(SqliteWarehouse {
            conn: Mutex::new(conn),
            checkpointer,
            data_dir: data_dir.to_owned(),
            step_seconds: Mutex::new(Vec::new()),
            ahead: Mutex::new(std::collections::VecDeque::new()),
        })
    }

    /// Start reading, gunzipping and parsing an object whose load comes next, on a thread
    /// of its own, while the load before it holds the warehouse: COPY reads S3, not the
    /// warehouse, and the objects Firehose writes never change once written. The next
    /// [`load_table`](Self::load_table) of this very object takes the rows; if it never
    /// comes, later read-aheads drop them (the thread stops). An object that cannot be read
    /// fails its load as it would have without the read-ahead.
    pub fn read_ahead(
        &self,
        destination: &'static pushfeed_core::Destination,
        o: &ObjectRef,
        gzip: bool,
    ) {
        if o.size == 0 {
            return; // an empty object is not read: its load writes the ledger only
        }
        let path = local::object_path(&self.data_dir, &o.bucket, &o.key);
        let table = TableDef::from_destination(destination);
        let table_name = table.name.clone();
        let columns = table.columns;
        let (tx, rows) = std::sync::mpsc::sync_channel(AHEAD_CHUNKS);
        let started = std::thread::Builder::new()
            .name("pushfeed-read-ahead".into())
            .spawn(move || match open_object(&path) {
                Ok(file) => parse_object(&path, file, gzip, &columns, &tx),
                Err(why) => {
                    let _ = tx.send(Err(CopyFailure::Read(why)));
                }
            });
        if started.is_ok() {
            if let Ok(mut ahead) = self.ahead.lock() {
                if ahead.len() >= AHEAD_OBJECTS {
                    ahead.pop_front();
                }
                ahead.push_back(ReadAhead {
                    bucket: o.bucket.clone(),
                    key: o.key.clone(),
                    table: table_name,
                    rows,
                });
            }
        }
    }

    /// Seconds spent so far in each load step, in the order the steps first ran (reading,
    /// gunzipping and parsing objects run on a second thread during `copy`).
    pub fn step_seconds(&self) -> Vec<(&'static str, f64)> {
        self.step_seconds
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    fn add_step_time(&self, step: &'static str, since: std::time::Instant) {
        let secs = since.elapsed().as_secs_f64();
        if let Ok(mut all) = self.step_seconds.lock() {
            match all.iter_mut().find(|(s, _)| *s == step) {
                Some((_, total)) => *total += secs,
                None => all.push((step, secs)),
            }
        }
    }

    /// Run a statement on the warehouse's connection (tests: migrations of a modified
    /// catalogue).
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> T) -> Result<T, LocalError> {
        let conn = self.conn.lock().map_err(|_| LocalError::Poisoned)?;
        Ok(f(&conn))
    }

    /// Rows of two text columns (the ledger's key and ETag, for `pushfeed reconcile`).
    pub fn query_pairs(&self, sql: &str) -> Result<HashSet<(String, String)>, LocalError> {
        let conn = self.conn.lock().map_err(|_| LocalError::Poisoned)?;
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Rows of any query, every value as text (NULL as empty).
    pub fn query_text(&self, sql: &str) -> Result<Vec<Vec<String>>, LocalError> {
        let conn = self.conn.lock().map_err(|_| LocalError::Poisoned)?;
        query_text(&conn, sql)
    }

    /// Load one object into `table` with the core's load script.
    pub fn load_table(
        &self,
        table: &TableDef,
        o: &ObjectRef,
        gzip: bool,
    ) -> Result<LoadOutcome, LoadError> {
        let statement_id = format!("local:{}", o.key);
        let failed = |error: String, detail: Option<String>| LoadError::Failed {
            statement_id: statement_id.clone(),
            error,
            detail,
        };
        let script = load::script_for(
            Dialect::Sqlite,
            &load::LoadSpec {
                schema: LOCAL_SCHEMA,
                table,
                object: o,
                copy: load::CopyFrom {
                    iam_role: "default",
                    gzip,
                    region: None,
                    manifest_bucket: &o.bucket,
                },
            },
        )?;
        // This object's rows, if they are being read ahead (read-aheads of other objects,
        // the ones after this, stay).
        let ahead = self.ahead.lock().ok().and_then(|mut a| {
            let at = a.iter().position(|a| {
                a.bucket == o.bucket && a.key == o.key && a.table == table.name && o.size > 0
            })?;
            a.remove(at)
        });
        // Open the object before taking the lock, as COPY reads S3 (not the warehouse); a
        // second thread reads, gunzips and parses its lines while this one waits for the
        // lock and inserts the rows (the COPY stand-in's work on two cores).
        let source = if o.size > 0 && ahead.is_none() {
            let path = local::object_path(&self.data_dir, &o.bucket, &o.key);
            let file = open_object(&path).map_err(LoadError::Object)?;
            Some((path, file))
        } else {
            None
        };
        let conn = self
            .conn
            .lock()
            .map_err(|_| LoadError::Api("the local warehouse's lock is poisoned".into()))?;
        let mut rows_in_object = 0u64;
        let mut inserted = 0u64;
        let mut ledger_rows = 0u64;
        let mut newest: Option<String> = None;
        let mut run = |rows: std::sync::mpsc::Receiver<Result<RowChunk, CopyFailure>>| -> Result<(), LoadError> {
            for step in &script.steps {
                let started = std::time::Instant::now();
                let api = |e: rusqlite::Error| failed(format!("{:?} step: {e}", step.step), None);
                match step.step {
                    Step::Copy => {
                        // Rows go in ROWS_PER_INSERT at a time (one statement step for
                        // many rows), the rest one by one.
                        // Texts bound where they lie in the chunk (no copy per value).
                        let width = table.columns.len().max(1);
                        let mut stmt = StaticInsert::prepare(&conn, &step.sql).map_err(api)?;
                        let mut many = StaticInsert::prepare(
                            &conn,
                            &multi_row_insert(&step.sql, width, ROWS_PER_INSERT),
                        )
                        .map_err(api)?;
                        for chunk in rows.iter() {
                            let chunk = chunk.map_err(|f| match f {
                                CopyFailure::Read(why) => LoadError::Object(why),
                                CopyFailure::Gzip(why) => failed(format!("gzip: {why}"), None),
                                CopyFailure::Line(n, why) => failed(
                                    format!("line {n} of {}: {why}", o.key),
                                    Some(why),
                                ),
                            })?;
                            let mut groups = chunk.cells.chunks_exact(width * ROWS_PER_INSERT);
                            for group in groups.by_ref() {
                                rows_in_object += ROWS_PER_INSERT as u64;
                                many.execute(chunk.params_of(group)).map_err(api)?;
                            }
                            for row in groups.remainder().chunks(width) {
                                rows_in_object += 1;
                                stmt.execute(chunk.params_of(row)).map_err(api)?;
                            }
                        }
                    }
                    Step::Insert => inserted = conn.execute(&step.sql, []).map_err(api)? as u64,
                    Step::Ledger => ledger_rows = conn.execute(&step.sql, []).map_err(api)? as u64,
                    Step::Newest => {
                        newest = conn
                            .query_row(&step.sql, [], |r| r.get::<_, Option<String>>(0))
                            .map_err(api)?
                    }
                    _ => conn.execute_batch(&step.sql).map_err(api)?,
                }
                self.add_step_time(step.step.name(), started);
            }
            Ok(())
        };
        let result = match ahead {
            Some(ahead) => run(ahead.rows),
            None => std::thread::scope(|scope| {
                let (tx, rx) = std::sync::mpsc::sync_channel(4);
                if let Some((path, file)) = source {
                    let columns = &table.columns;
                    scope.spawn(move || parse_object(&path, file, gzip, columns, &tx));
                }
                // `run` drops the receiver when it returns: a parser still going stops.
                run(rx)
            }),
        };
        if let Err(e) = result {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(e);
        }
        if let Some(c) = &self.checkpointer {
            c.wake();
        }
        Ok(LoadOutcome {
            rows_inserted: inserted,
            rows_in_object: Some(rows_in_object),
            duplicate: ledger_rows == 0,
            statement_id: Some(statement_id),
            newest_occurred_ms: newest
                .as_deref()
                .and_then(|t| pushfeed_core::timefmt::parse_iso(t).ok()),
        })
    }
}

/// Rows parsed from an object, handed from the parsing thread to the inserting one: every
/// cell's text in one buffer (no allocation per value).
struct RowChunk {
    text: String,
    cells: Vec<Slot>,
}

#[derive(Clone, Copy)]
enum Slot {
    Null,
    Int(i64),
    Text(u32, u32),
}

impl RowChunk {
    /// Rows of up to this many cells go in one chunk.
    const CELLS: usize = 16 * 1024;

    fn new(width: usize) -> Self {
        RowChunk {
            text: String::with_capacity(256 * 1024),
            cells: Vec::with_capacity(Self::CELLS + width),
        }
    }

    fn push(&mut self, cells: &[Cell<'_>]) {
        for c in cells {
            self.cells.push(match c {
                Cell::Null => Slot::Null,
                Cell::Int(v) => Slot::Int(*v),
                Cell::Text(s) => {
                    let start = self.text.len() as u32;
                    self.text.push_str(s);
                    Slot::Text(start, s.len() as u32)
                }
            });
        }
    }

    /// The values of these slots (of this chunk), borrowed from it.
    fn params_of<'s>(&'s self, slots: &'s [Slot]) -> impl ExactSizeIterator<Item = Param<'s>> + 's {
        slots.iter().map(move |slot| match *slot {
            Slot::Null => Param::Null,
            Slot::Int(v) => Param::Int(v),
            Slot::Text(start, len) => {
                let (start, len) = (start as usize, len as usize);
                Param::Text(&self.text[start..start + len])
            }
        })
    }
}

/// Rows per multi-row INSERT in the COPY stand-in.
const ROWS_PER_INSERT: usize = 32;

/// `INSERT INTO t (cols) VALUES (?1, …)` as one statement for `rows` rows.
fn multi_row_insert(single: &str, width: usize, rows: usize) -> String {
    let head = single.split(" VALUES ").next().unwrap_or(single);
    let row = format!("({})", vec!["?"; width].join(", "));
    format!("{head} VALUES {}", vec![row; rows].join(", "))
}

/// An object's file, or why it cannot be opened (naming it): read ahead or at its load.
fn open_object(path: &Path) -> Result<std::fs::File, String> {
    std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Why an object's rows could not be read.
enum CopyFailure {
    Read(String),
    Gzip(String),
    /// Line number (from 1), why.
    Line(usize, String),
}

/// Read (gunzipping) an object's lines and parse each as COPY would, sending the rows in
/// chunks; stops at the first failure (sent) or when the receiver is gone.
fn parse_object(
    path: &Path,
    file: std::fs::File,
    gzip: bool,
    columns: &[ColumnDef],
    tx: &std::sync::mpsc::SyncSender<Result<RowChunk, CopyFailure>>,
) {
    use std::io::BufRead;
    let mut reader: Box<dyn BufRead> = if gzip {
        Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 16, file)),
        ))
    } else {
        Box::new(std::io::BufReader::with_capacity(1 << 20, file))
    };
    let mut chunk = RowChunk::new(columns.len());
    let mut line = Vec::with_capacity(8192);
    let mut tape = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(Err(if gzip {
                    CopyFailure::Gzip(e.to_string())
                } else {
                    CopyFailure::Read(format!("{}: {e}", path.display()))
                }));
                return;
            }
        }
        n += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(why) = with_copy_row(text, columns, &mut tape, |cells| chunk.push(cells)) {
            let _ = tx.send(Err(CopyFailure::Line(n, why)));
            return;
        }
        if chunk.cells.len() >= RowChunk::CELLS {
            let full = std::mem::replace(&mut chunk, RowChunk::new(columns.len()));
            if tx.send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if !chunk.cells.is_empty() {
        let _ = tx.send(Ok(chunk));
    }
}

/// One column's value for the INSERT that stands in for COPY: borrowed from the line where
/// it can be (no string copied for most columns).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
}

impl rusqlite::ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Cell::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Cell::Int(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            Cell::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl Cell<'_> {
    pub fn into_value(self) -> rusqlite::types::Value {
        use rusqlite::types::Value;
        match self {
            Cell::Null => Value::Null,
            Cell::Int(v) => Value::Integer(v),
            Cell::Text(s) => Value::Text(s.into_owned()),
        }
    }
}

/// A JSON value's text as serde_json writes it (compact; numbers normalised; one member per
/// key, at its first place with its last value): the raw text itself when serde_json would
/// write it back byte for byte — the batcher writes such text, so nearly every value — else
/// parsed and written again.
fn compact(v: Val<'_>) -> Result<Cow<'_, str>, String> {
    let raw = v.get();
    if written_as_serde_writes(raw.as_bytes()) && !v.repeats_a_key() {
        return Ok(Cow::Borrowed(raw));
    }
    serde_json::from_str::<serde_json::Value>(raw)
        .map(|v| Cow::Owned(v.to_string()))
        .map_err(|e| format!("invalid JSON: {e}"))
}

/// Whether serde_json would write this (valid) JSON text's value back as these very bytes:
/// no whitespace between tokens, strings without escapes or control characters, numbers
/// plain integers of at most 18 digits (they fit an i64; `-0`, fractions and exponents
/// are written otherwise). Repeated keys are the caller's to check.
fn written_as_serde_writes(raw: &[u8]) -> bool {
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'"' => {
                i += 1;
                loop {
                    match raw.get(i) {
                        Some(b'"') => break,
                        Some(b'\\') | None => return false,
                        Some(c) if *c < 0x20 => return false,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let sign = usize::from(raw[i] == b'-');
                let digits = i + sign;
                i = digits;
                while raw.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let n = i - digits;
                let zero_led = raw.get(digits) == Some(&b'0') && (n > 1 || sign == 1);
                if n == 0 || n > 18 || zero_led || matches!(raw.get(i), Some(b'.' | b'e' | b'E')) {
                    return false;
                }
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => i += 1,
            b't' | b'f' | b'n' => {
                while raw.get(i).is_some_and(u8::is_ascii_lowercase) {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
    true
}

/// One JSON line → column values, as `COPY … FORMAT AS JSON 'auto ignorecase'` maps them:
/// top-level keys to columns (case-insensitive), missing keys to NULL, text truncated to
/// the column width (TRUNCATECOLUMNS), objects kept as JSON text (SUPER). The values go to
/// `use_row`; `tape` is a parse buffer kept between lines.
pub fn with_copy_row<R>(
    line: &[u8],
    columns: &[ColumnDef],
    tape: &mut Vec<Node<'static>>,
    use_row: impl FnOnce(&[Cell<'_>]) -> R,
) -> Result<R, String> {
    let mut t = Tape::from_buffer(std::mem::take(tape));
    let result = (|| {
        let root = t
            .parse_bytes(line)
            .map_err(|e| format!("invalid JSON: {}", e.describe(line)))?;
        let obj = t
            .val(root)
            .object()
            .ok_or_else(|| "invalid JSON: the line is not a JSON object".to_owned())?;
        let members: Vec<_> = obj.iter().collect();
        let mut out = Vec::with_capacity(columns.len());
        // Lines are mostly written in the table's column order: look for each column from
        // just after the previous one's member, so a line costs one pass, not a scan per
        // column. An exact key wins over a key that differs in case (the first such).
        // A key can match a column in another case only when one of them has an upper-case
        // letter; canonical lines have none, and are spared the second look.
        let upper = |s: &str| s.bytes().any(|b| b.is_ascii_uppercase());
        let keys_upper = members.iter().any(|(k, _)| upper(k));
        let mut next = 0;
        for c in columns {
            let name = c.name.as_str();
            let n = members.len();
            let at = (next..n)
                .chain(0..next)
                .find(|&i| members[i].0.as_ref() == name)
                .or_else(|| {
                    (keys_upper || upper(name))
                        .then(|| (0..n).find(|&i| members[i].0.eq_ignore_ascii_case(name)))
                        .flatten()
                });
            if let Some(i) = at {
                next = i + 1;
            }
            let v = at.map(|i| members[i].1);
            let v = v.filter(|v| v.get() != "null");
            let text = v.and_then(|v| v.str());
            let value = match (v, c.kind) {
                (None, _) => Cell::Null,
                (Some(v), ColumnKind::Json) => Cell::Text(compact(v)?),
                (Some(v), ColumnKind::BigInt) => {
                    let n = matches!(v.first_byte(), b'-' | b'0'..=b'9')
                        .then(|| v.get().parse::<i64>().ok())
                        .flatten();
                    Cell::Int(
                        n.ok_or_else(|| format!("{}: {} is not an integer", c.name, v.get()))?,
                    )
                }
                (Some(v), ColumnKind::Timestamp) => {
                    let s =
                        text.ok_or_else(|| format!("{}: {} is not a timestamp", c.name, v.get()))?;
                    match s {
                        // Already as it would be stored (every canonical line's times).
                        Cow::Borrowed(s) if pushfeed_core::timefmt::canonical_iso(s).is_some() => {
                            Cell::Text(Cow::Borrowed(s))
                        }
                        s => {
                            let ms = pushfeed_core::timefmt::parse_iso(&s)
                                .map_err(|e| format!("{}: {}", c.name, e.0))?;
                            Cell::Text(Cow::Owned(pushfeed_core::timefmt::iso(ms)))
                        }
                    }
                }
                (Some(v), ColumnKind::Text(width)) => {
                    let width = width as usize;
                    Cell::Text(match text.map_or_else(|| compact(v), Ok)? {
                        Cow::Borrowed(s) => Cow::Borrowed(truncate_at_char(s, width)),
                        Cow::Owned(s) if s.len() <= width => Cow::Owned(s),
                        Cow::Owned(s) => Cow::Owned(truncate_at_char(&s, width).to_owned()),
                    })
                }
            };
            if c.not_null && value == Cell::Null {
                return Err(format!(
                    "{} is NOT NULL but the line has no value for it",
                    c.name
                ));
            }
            out.push(value);
        }
        Ok(use_row(&out))
    })();
    *tape = t.into_buffer();
    result
}

/// [`with_copy_row`]'s values, owned.
pub fn copy_row(line: &[u8], columns: &[ColumnDef]) -> Result<Vec<rusqlite::types::Value>, String> {
    with_copy_row(line, columns, &mut Vec::new(), |cells| {
        cells.iter().cloned().map(Cell::into_value).collect()
    })
}

impl Warehouse for SqliteWarehouse {
    async fn load(
        &self,
        plan: &LoadPlan,
        _deadline: Option<tokio::time::Instant>,
    ) -> Result<LoadOutcome, LoadError> {
        self.load_table(
            &TableDef::from_destination(plan.destination),
            &plan.object,
            plan.gzip,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushfeed_core::destination;
    use pushfeed_core::schema::LEDGER_TABLE;
    use pushfeed_core::timefmt::now_ms;

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
    fn the_views_local_time_is_the_one_chrono_tz_gives() {
        // The SQL the views run (offsets from pf_zone_offsets) against pf_local_time, over
        // zones with and without DST, half-hour offsets, both hemispheres and the
        // minutes around a change.
        let dir = tempdir("zones");
        let w = SqliteWarehouse::open(&dir).unwrap();
        let expr = pushfeed_core::views::local_time_sql(Dialect::Sqlite, "?1", "?2");
        let zones = [
            "Europe/London",
            "Europe/Paris",
            "America/New_York",
            "Australia/Sydney",
            "Asia/Kolkata",
            "Australia/Adelaide",
            "America/St_Johns",
            "Pacific/Chatham",
            "Asia/Tokyo",
            "Not/AZone",
        ];
        let mut checked = 0;
        w.with_conn(|c| {
            let mut stmt = c
                .prepare(&format!("SELECT {expr}, pf_local_time(?1, ?2)"))
                .unwrap();
            for zone in zones {
                for base in [
                    "2026-03-29T00:00:00.000Z",
                    "2026-10-25T00:00:00.000Z",
                    "2026-04-05T15:00:00.000Z",
                    "2018-07-01T12:00:00.000Z",
                ] {
                    let base = pushfeed_core::timefmt::parse_iso(base).unwrap();
                    for step in (0..48 * 60).step_by(13) {
                        let ts = pushfeed_core::timefmt::iso(base + step * 60_000);
                        let (sql, rust): (String, String) = stmt
                            .query_row(rusqlite::params![ts, zone], |r| Ok((r.get(0)?, r.get(1)?)))
                            .unwrap();
                        assert_eq!(sql, rust, "{zone} at {ts}");
                        checked += 1;
                    }
                }
            }
        })
        .unwrap();
        assert!(checked > 8000);
    }

    #[test]
    fn copy_row_maps_like_copy_json_auto_ignorecase() {
        let cols = TableDef::from_destination(destination("open").unwrap()).columns;
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
        // A line that is not UTF-8 says so, wherever the bad byte is (in a string, which
        // the reader checks as it goes, or outside one), at its place.
        for line in [
            &b"{\"event_id\":\"e\xff1\"}"[..],
            b"{\"event_id\":\"e1\"\xff}",
            b"{\"event_id\":\"\xc3\"}",
        ] {
            let at = std::str::from_utf8(line).unwrap_err().valid_up_to();
            let why = copy_row(line, &cols).unwrap_err();
            assert_eq!(
                why,
                format!("invalid JSON: invalid UTF-8 at line 1 column {}", at + 1),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// Compacts `text` (a line's only value) as the COPY stand-in does.
    fn compacted(text: &str) -> Result<String, String> {
        let mut tape = Tape::default();
        let root = tape
            .parse_one(text)
            .map_err(|e| e.describe(text.as_bytes()))?;
        compact(tape.val(root)).map(Cow::into_owned)
    }

    fn serde_compacted(text: &str) -> String {
        serde_json::from_str::<serde_json::Value>(text)
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_json_value_is_kept_as_serde_json_writes_it_whether_or_not_it_is_already() {
        for text in [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"x y"}}"#,
            r#"{"a": 1}"#,
            "[1,\n2]",
            r#"{"a":1,"a":2}"#,
            r#"{"o":{"k":1,"j":2,"k":3}}"#,
            r#"[1.0,1e5,-0,0,-1,123456789012345678,1234567890123456789,99999999999999999999]"#,
            r#"{"s":"a\/b","t":"\u00e9\n","u":"é"}"#,
            r#"{"k\u0061":1,"ka":2}"#,
            r#""plain""#,
            "-12",
            "0.5",
            "{}",
            "[]",
        ] {
            assert_eq!(compacted(text).unwrap(), serde_compacted(text), "{text}");
        }
    }

    /// JSON text for a value, with or without whitespace, escapes and repeated keys.
    fn arb_json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let number = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (-1e6f64..1e6).prop_map(|f| format!("{f}")),
            (-1e6f64..1e6).prop_map(|f| format!("{f:e}")),
            Just("-0".to_owned()),
            Just("100000000000000000000".to_owned()),
        ];
        let string = prop_oneof![
            "[a-z é/]{0,6}".prop_map(|s| format!("\"{s}\"")),
            Just(r#""a\/b""#.to_owned()),
            Just(r#""\u00e9\t""#.to_owned()),
            Just(r#""q\"\\""#.to_owned()),
        ];
        let leaf = prop_oneof![
            number,
            string,
            Just("true".to_owned()),
            Just("false".to_owned()),
            Just("null".to_owned()),
        ];
        let space = prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n\t")];
        leaf.prop_recursive(3, 24, 5, move |inner| {
            let gap = space.clone();
            prop_oneof![
                (proptest::collection::vec(inner.clone(), 0..5), gap.clone())
                    .prop_map(|(items, g)| format!("[{g}{}{g}]", items.join(&format!("{g},{g}")))),
                (proptest::collection::vec(("[ab]{1,2}", inner), 0..5), gap).prop_map(
                    |(members, g)| {
                        let members: Vec<String> = members
                            .into_iter()
                            .map(|(k, v)| format!("\"{k}\"{g}:{g}{v}"))
                            .collect();
                        format!("{{{g}{}{g}}}", members.join(","))
                    }
                ),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn compacting_any_json_value_gives_what_serde_json_writes(text in arb_json_text()) {
            proptest::prop_assert_eq!(compacted(&text).unwrap(), serde_compacted(&text));
        }
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "pushfeed-local-{name}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// An object of open events with these ids (all at one occurred_at per id).
    fn write_object(dir: &Path, key: &str, ids: std::ops::Range<u32>, extra: &str) -> ObjectRef {
        let mut text = String::new();
        for i in ids {
            text.push_str(&format!(
                r#"{{"event_id":"e{i}","event_type":"open","vendor":"braze","vendor_event_type":"users.messages.pushnotification.Open","occurred_at":"2026-01-01T10:{:02}:00.000Z","received_at":"2026-01-01T11:00:00.000Z","user_id":"u{i}","source_sequence_number":"{i}"{extra}}}"#,
                i % 60
            ));
            text.push('\n');
        }
        let path = local::object_path(dir, local::BUCKET, key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        ObjectRef {
            bucket: local::BUCKET.into(),
            key: key.into(),
            etag: load::content_etag(text.as_bytes()),
            size: text.len() as u64,
        }
    }

    fn count(w: &SqliteWarehouse, sql: &str) -> i64 {
        w.with_conn(|c| c.query_row(sql, [], |r| r.get(0)).unwrap())
            .unwrap()
    }

    /// Two loaders (two connections, as two Lambda invocations) start together.
    fn race(dir: &Path, a: &ObjectRef, b: &ObjectRef) -> Vec<LoadOutcome> {
        let table = TableDef::from_destination(destination("open").unwrap());
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|o| {
                let (dir, table, barrier) = (dir.to_owned(), table.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let w = SqliteWarehouse::open(&dir).unwrap();
                    barrier.wait();
                    w.load_table(&table, &o, false).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    #[test]
    fn two_loaders_racing_on_one_object_insert_it_once() {
        let dir = tempdir("race-same");
        let o = write_object(&dir, "push/open/2026/01/01/11/a", 0..500, "");
        SqliteWarehouse::open(&dir).unwrap();
        for _ in 0..5 {
            let outcomes = race(&dir, &o, &o);
            let firsts = outcomes.iter().filter(|x| !x.duplicate).count();
            let w = SqliteWarehouse::open(&dir).unwrap();
            assert_eq!(
                count(&w, "SELECT COUNT(*) FROM push_open"),
                500,
                "0 doubled, 0 lost"
            );
            assert_eq!(count(&w, "SELECT COUNT(*) FROM pushfeed_load_ledger"), 1);
            assert!(
                firsts <= 1,
                "at most one loader wrote the ledger row: {outcomes:?}"
            );
            // Only the first round loads; the others find the ledger row.
            w.with_conn(|c| {
                c.execute_batch("DELETE FROM push_open; DELETE FROM pushfeed_load_ledger")
            })
            .unwrap()
            .unwrap();
        }
    }

    #[test]
    fn two_loaders_racing_on_objects_that_share_events_insert_each_event_once() {
        let dir = tempdir("race-shared");
        let a = write_object(&dir, "push/open/2026/01/01/11/a", 0..300, "");
        let b = write_object(&dir, "push/open/2026/01/01/11/b", 200..500, "");
        SqliteWarehouse::open(&dir).unwrap();
        let outcomes = race(&dir, &a, &b);
        let w = SqliteWarehouse::open(&dir).unwrap();
        assert_eq!(count(&w, "SELECT COUNT(*) FROM push_open"), 500);
        assert_eq!(
            count(&w, "SELECT COUNT(DISTINCT event_id) FROM push_open"),
            500
        );
        assert_eq!(count(&w, "SELECT COUNT(*) FROM pushfeed_load_ledger"), 2);
        let inserted: u64 = outcomes.iter().map(|o| o.rows_inserted).sum();
        assert_eq!(inserted, 500, "{outcomes:?}");
        assert_eq!(
            count(&w, "SELECT SUM(rows_in_object) FROM pushfeed_load_ledger"),
            600,
            "the ledger records what each object held"
        );
    }

    #[test]
    fn a_column_added_to_the_catalogue_is_migrated_and_then_filled_by_the_loader() {
        let dir = tempdir("migrate");
        let w = SqliteWarehouse::open(&dir).unwrap();
        let history = schema::migrations().unwrap();
        let mut target = schema::catalogue_schema();
        let open = target.iter_mut().find(|t| t.name == "push_open").unwrap();
        open.columns.push(ColumnDef {
            name: "notification_channel".into(),
            kind: ColumnKind::Text(64),
            not_null: false,
        });
        let table = open.clone();
        let m = schema::next_migration(&history, &target, "opens: notification channel")
            .unwrap()
            .unwrap();
        assert_eq!(m.id, history.len() as u32 + 1);
        let mut extended = history.clone();
        extended.push(m);
        let applied = w.with_conn(|c| migrate(c, &extended)).unwrap().unwrap();
        assert_eq!(
            applied,
            vec![extended.len() as u32],
            "only the new migration runs"
        );
        let again = w.with_conn(|c| migrate(c, &extended)).unwrap().unwrap();
        assert!(again.is_empty(), "each migration runs once");
        let o = write_object(
            &dir,
            "push/open/2026/01/01/11/c",
            0..3,
            r#","notification_channel":"lock_screen""#,
        );
        let out = w.load_table(&table, &o, false).unwrap();
        assert_eq!(out.rows_inserted, 3);
        assert_eq!(
            count(
                &w,
                "SELECT COUNT(*) FROM push_open WHERE notification_channel = 'lock_screen'"
            ),
            3
        );
        assert_eq!(
            count(&w, "SELECT MAX(id) FROM pushfeed_schema_migrations"),
            extended.len() as i64
        );
    }

    #[test]
    fn a_second_writer_is_told_who_holds_the_data_dir() {
        let dir = tempdir("lock");
        let held = lock_data_dir(&dir, "pushfeed run").unwrap();
        let err = lock_data_dir(&dir, "pushfeed run").unwrap_err().to_string();
        assert!(
            err.contains("is in use by another pushfeed (pushfeed run (pid "),
            "{err}"
        );
        assert!(err.contains("another --data-dir"), "{err}");
        drop(held);
        lock_data_dir(&dir, "pushfeed run").expect("released on drop");
    }

    #[test]
    fn a_warehouse_in_a_read_only_folder_can_still_be_queried() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempdir("readonly");
        let w = SqliteWarehouse::open(&dir).unwrap();
        let table = TableDef::from_destination(destination("open").unwrap());
        let o = write_object(&dir, "push/open/2026/01/01/11/a", 0..7, "");
        w.load_table(&table, &o, false).unwrap();
        drop(w);
        // The -shm file goes with the last connection; then the folder is made read-only.
        let _ = std::fs::remove_file(dir.join("warehouse.sqlite-shm"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        // root writes anywhere: there the folder is not read-only, so the fallback itself
        // (what a read-only folder makes open_read_only use) is checked directly.
        let privileged = std::fs::write(dir.join("probe"), b"").is_ok();
        let count = |c: Connection| -> Result<i64, LocalError> {
            Ok(c.query_row("SELECT COUNT(*) FROM push_open", [], |r| r.get::<_, i64>(0))?)
        };
        let via_open = open_read_only(&dir).and_then(count);
        let immutable = open_immutable(&local::warehouse_path(&dir)).and_then(count);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(via_open.unwrap(), 7, "privileged: {privileged}");
        assert_eq!(immutable.unwrap(), 7);
    }

    /// The object's bytes replaced (the ETag kept from its text: the load reads the file).
    fn rewrite(dir: &Path, o: &ObjectRef, bytes: &[u8]) -> ObjectRef {
        std::fs::write(local::object_path(dir, &o.bucket, &o.key), bytes).unwrap();
        ObjectRef {
            size: bytes.len() as u64,
            ..o.clone()
        }
    }

    fn gzipped(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, bytes).unwrap();
        gz.finish().unwrap()
    }

    fn ledger_rows(w: &SqliteWarehouse) -> i64 {
        count(w, &format!("SELECT COUNT(*) FROM {LEDGER_TABLE}"))
    }

    #[test]
    fn an_object_larger_than_a_chunk_of_parsed_rows_loads_whole_and_gzipped() {
        // Rows are parsed on a second thread and handed over in chunks: an object of many
        // chunks loads every row, plain or gzipped.
        let dir = tempdir("chunks");
        let w = SqliteWarehouse::open(&dir).unwrap();
        let table = TableDef::from_destination(destination("open").unwrap());
        let n = 3 * RowChunk::CELLS as u32 / table.columns.len() as u32 + 7;
        let plain = write_object(&dir, "push/open/2026/01/01/11/plain", 0..n, "");
        let out = w.load_table(&table, &plain, false).unwrap();
        assert_eq!(
            (out.rows_inserted, out.rows_in_object),
            (n as u64, Some(n as u64))
        );
        let text = write_object(&dir, "push/open/2026/01/01/11/gz", n..2 * n, "");
        let bytes = std::fs::read(local::object_path(&dir, &text.bucket, &text.key)).unwrap();
        let gz = rewrite(&dir, &text, &gzipped(&bytes));
        let out = w.load_table(&table, &gz, true).unwrap();
        assert_eq!(
            (out.rows_inserted, out.rows_in_object),
            (n as u64, Some(n as u64))
        );
        assert_eq!(count(&w, "SELECT COUNT(*) FROM push_open"), 2 * n as i64);
        assert_eq!(
            count(&w, "SELECT COUNT(DISTINCT event_id) FROM push_open"),
            2 * n as i64
        );
    }

    #[test]
    fn a_new_warehouse_has_16_kib_pages_and_one_made_before_keeps_its_own() {
        let page_size = |w: &SqliteWarehouse| count(w, "PRAGMA page_size");
        let dir = tempdir("pages");
        assert_eq!(page_size(&SqliteWarehouse::open(&dir).unwrap()), 16384);
        // A warehouse of 4 KiB pages (as made before) opens, loads and keeps them.
        let old = tempdir("pages-old");
        std::fs::create_dir_all(&old).unwrap();
        Connection::open(local::warehouse_path(&old))
            .unwrap()
            .execute_batch("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE x (a)")
            .unwrap();
        let w = SqliteWarehouse::open(&old).unwrap();
        assert_eq!(page_size(&w), 4096);
        let table = TableDef::from_destination(destination("open").unwrap());
        let o = write_object(&old, "push/open/2026/01/01/11/p", 0..3, "");
        assert_eq!(w.load_table(&table, &o, false).unwrap().rows_inserted, 3);
    }

    #[test]
    fn the_wal_is_checkpointed_beside_the_loads_stays_bounded_and_is_removed_at_close() {
        let dir = tempdir("checkpoint");
        let db = local::warehouse_path(&dir);
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        let w = SqliteWarehouse::open(&dir).unwrap();
        assert_eq!(count(&w, "PRAGMA wal_autocheckpoint"), WAL_PAGES as i64);
        let before = std::fs::metadata(&db).unwrap().len();
        // A small threshold, so that a test's loads cross it many times.
        w.with_conn(|c| c.execute_batch("PRAGMA wal_autocheckpoint=8"))
            .unwrap()
            .unwrap();
        let table = TableDef::from_destination(destination("open").unwrap());
        let objects: Vec<ObjectRef> = (0..40u32)
            .map(|i| {
                let key = format!("push/open/2026/01/01/11/w{i}");
                write_object(&dir, &key, i * 200..(i + 1) * 200, "")
            })
            .collect();
        let mut largest_wal = 0;
        for o in &objects {
            // Back to back, as `pushfeed run` loads: the next load begins at once, before
            // the checkpointer's thread has caught up.
            w.load_table(&table, o, false).unwrap();
            largest_wal = largest_wal.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        // Each load writes about 10 pages of 16 KiB: 40 loads are ~400 pages, and the WAL
        // starts over after the writer's checkpoints instead of holding them all.
        assert!(
            largest_wal < 120 * 16384,
            "the WAL grew to {largest_wal} bytes"
        );
        // The loaded pages reach the database file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::metadata(&db).unwrap().len() <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint in 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        drop(w);
        assert!(!wal.exists(), "the WAL outlived the warehouse");
        let again = SqliteWarehouse::open(&dir).unwrap();
        assert_eq!(count(&again, "SELECT COUNT(*) FROM push_open"), 8000);
    }

    fn ahead_keys(w: &SqliteWarehouse) -> Vec<String> {
        w.ahead
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.key.clone())
            .collect()
    }

    #[test]
    fn an_object_read_ahead_loads_as_it_would_have_and_a_missing_one_still_fails() {
        let dir = tempdir("read-ahead");
        let w = SqliteWarehouse::open(&dir).unwrap();
        let open = destination("open").unwrap();
        let table = TableDef::from_destination(open);
        let n = 2 * RowChunk::CELLS as u32 / table.columns.len() as u32 + 3;
        let a = write_object(&dir, "push/open/2026/01/01/11/a", 0..n, "");
        // The next object repeats half of this one's events: the load after it drops them.
        let b = write_object(&dir, "push/open/2026/01/01/11/b", n / 2..n + n / 2, "");
        w.read_ahead(open, &a, false);
        w.read_ahead(open, &b, false);
        assert_eq!(ahead_keys(&w), [a.key.clone(), b.key.clone()]);
        let out = w.load_table(&table, &a, false).unwrap();
        assert_eq!(
            (out.rows_inserted, out.rows_in_object),
            (n as u64, Some(n as u64))
        );
        // Loading `a` took its rows and left `b`'s.
        assert_eq!(ahead_keys(&w), std::slice::from_ref(&b.key));
        let out = w.load_table(&table, &b, false).unwrap();
        assert_eq!(
            (out.rows_inserted, out.rows_in_object),
            ((n - n / 2) as u64, Some(n as u64))
        );
        assert!(ahead_keys(&w).is_empty());
        assert_eq!(
            count(&w, "SELECT COUNT(*) FROM push_open"),
            (n + n / 2) as i64
        );

        // Read ahead, then gone: the load fails naming the object, inserts nothing.
        let c = write_object(&dir, "push/open/2026/01/01/11/c", 0..5, "");
        std::fs::remove_file(local::object_path(&dir, &c.bucket, &c.key)).unwrap();
        w.read_ahead(open, &c, false);
        match w.load_table(&table, &c, false) {
            Err(LoadError::Object(why)) => assert!(why.contains("11/c"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(ledger_rows(&w), 2);

        // Only two objects are read ahead: the oldest is dropped, and loads without it.
        let (d, e, f) = (
            write_object(&dir, "push/open/2026/01/01/12/d", 10_000..10_010, ""),
            write_object(&dir, "push/open/2026/01/01/12/e", 10_010..10_020, ""),
            write_object(&dir, "push/open/2026/01/01/12/f", 10_020..10_030, ""),
        );
        // A read-ahead for another table's columns is not taken by this table's load.
        w.read_ahead(destination("send").unwrap(), &d, false);
        w.read_ahead(open, &e, false);
        assert_eq!(w.load_table(&table, &d, false).unwrap().rows_inserted, 10);
        assert_eq!(ahead_keys(&w), [d.key.clone(), e.key.clone()]);
        w.read_ahead(open, &f, false);
        assert_eq!(ahead_keys(&w), [e.key.clone(), f.key.clone()]);
        for o in [&e, &f] {
            assert_eq!(w.load_table(&table, o, false).unwrap().rows_inserted, 10);
        }
        assert!(ahead_keys(&w).is_empty());
        assert_eq!(
            count(
                &w,
                "SELECT COUNT(*) FROM push_open WHERE event_id LIKE 'e100__'"
            ),
            30
        );
    }

    #[test]
    fn a_bad_line_or_bad_gzip_fails_the_load_naming_it_and_inserts_nothing() {
        let dir = tempdir("bad-line");
        let w = SqliteWarehouse::open(&dir).unwrap();
        let table = TableDef::from_destination(destination("open").unwrap());
        // A bad line far into the object, after whole chunks were handed over.
        let n = 2 * RowChunk::CELLS as u32 / table.columns.len() as u32 + 3;
        let o = write_object(&dir, "push/open/2026/01/01/11/bad", 0..n, "");
        let path = local::object_path(&dir, &o.bucket, &o.key);
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"{\"event_id\":\"x\",oops}\n");
        let o = rewrite(&dir, &o, &text);
        let err = w.load_table(&table, &o, false).unwrap_err().to_string();
        assert!(
            err.contains(&format!("line {} of {}", n + 1, o.key)),
            "{err}"
        );
        assert_eq!(count(&w, "SELECT COUNT(*) FROM push_open"), 0);
        assert_eq!(ledger_rows(&w), 0);
        // Not gzip at all, though the key says so.
        let err = w.load_table(&table, &o, true).unwrap_err().to_string();
        assert!(err.contains("gzip"), "{err}");
        // Gzip cut short.
        let gz = gzipped(&text);
        let o = rewrite(&dir, &o, &gz[..gz.len() / 2]);
        let err = w.load_table(&table, &o, true).unwrap_err().to_string();
        assert!(err.contains("gzip"), "{err}");
        assert_eq!(count(&w, "SELECT COUNT(*) FROM push_open"), 0);
        assert_eq!(ledger_rows(&w), 0);
        // The warehouse is usable after the failures.
        let good = write_object(&dir, "push/open/2026/01/01/11/good", 0..5, "");
        assert_eq!(w.load_table(&table, &good, false).unwrap().rows_inserted, 5);
    }

    #[test]
    fn the_dedup_window_is_the_one_redshift_runs() {
        // An event redelivered with the same occurred_at is dropped; the same id at a
        // time outside the object's range is another row — exactly as in Redshift.
        let dir = tempdir("window");
        let w = SqliteWarehouse::open(&dir).unwrap();
        let table = TableDef::from_destination(destination("open").unwrap());
        let a = write_object(&dir, "push/open/2026/01/01/11/a", 0..10, "");
        w.load_table(&table, &a, false).unwrap();
        let b = write_object(&dir, "push/open/2026/01/01/11/b", 5..15, "");
        let out = w.load_table(&table, &b, false).unwrap();
        assert_eq!((out.rows_inserted, out.rows_in_object), (5, Some(10)));
        assert_eq!(count(&w, "SELECT COUNT(*) FROM push_open"), 15);
    }

    #[test]
    fn within_an_object_the_first_copy_to_arrive_is_kept() {
        let dir = tempdir("first");
        let w = SqliteWarehouse::open(&dir).unwrap();
        let line = |id: &str, received: &str, seq: u32, user: &str| {
            format!(
                r#"{{"event_id":{id},"event_type":"open","vendor":"braze","vendor_event_type":"x","occurred_at":"2026-01-01T10:00:00.000Z","received_at":"{received}","user_id":"{user}","source_sequence_number":"{seq}"}}"#
            )
        };
        // e1 three times: the earliest arrival wins, then the lowest sequence number.
        let text = [
            line("\"e1\"", "2026-01-01T11:00:02.000Z", 1, "late"),
            line("\"e1\"", "2026-01-01T11:00:01.000Z", 3, "second"),
            line("\"e1\"", "2026-01-01T11:00:01.000Z", 2, "first"),
            line("\"e2\"", "2026-01-01T11:00:05.000Z", 4, "only"),
        ]
        .join("\n");
        let key = "push/open/2026/01/01/11/first";
        let path = local::object_path(&dir, local::BUCKET, key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        let o = ObjectRef {
            bucket: local::BUCKET.into(),
            key: key.into(),
            etag: load::content_etag(text.as_bytes()),
            size: text.len() as u64,
        };
        let table = TableDef::from_destination(destination("open").unwrap());
        let out = w.load_table(&table, &o, false).unwrap();
        assert_eq!((out.rows_inserted, out.rows_in_object), (2, Some(4)));
        let kept: Vec<Vec<String>> = w
            .query_text("SELECT event_id, user_id FROM push_open ORDER BY event_id")
            .unwrap();
        assert_eq!(kept, [["e1", "first"], ["e2", "only"]]);
    }
}
