//! The COPY stand-in's INSERT, with its text parameters bound without a copy.
//!
//! rusqlite binds every text with `SQLITE_TRANSIENT`: SQLite allocates and copies each
//! value before the statement runs, and frees it at the next bind. The COPY stand-in binds
//! 27 columns a row, a million and a half rows a day: half of its instructions went to those
//! copies (docs/performance.md, "Two cores kept busy"). Texts here are bound `SQLITE_STATIC`
//! — SQLite reads them where they are — from a buffer that outlives the one statement run
//! that reads them; the bindings are cleared before the call returns, so no pointer into
//! the buffer is left behind in the statement.

use rusqlite::{ffi, Connection};
use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr;

/// One parameter's value: borrowed text, an integer or NULL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

/// A prepared statement (one only) whose parameters are all bound at each run.
pub struct StaticInsert<'c> {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    params: usize,
    _conn: PhantomData<&'c Connection>,
}

impl<'c> StaticInsert<'c> {
    /// Prepare `sql` (one statement) on `conn`, which must outlive it.
    pub fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<Self> {
        let len = c_int::try_from(sql.len())
            .map_err(|_| rusqlite::Error::ToSqlConversionFailure("statement too long".into()))?;
        // SAFETY: the handle is the open connection's, used on this thread only while the
        // caller holds `conn` (borrowed for the statement's life: it cannot be closed under
        // it). `sql` is valid for `len` bytes; SQLite reads it during the call only.
        let db = unsafe { conn.handle() };
        let mut stmt = ptr::null_mut();
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(db, sql.as_ptr().cast(), len, &mut stmt, ptr::null_mut())
        };
        if rc != ffi::SQLITE_OK || stmt.is_null() {
            // SAFETY: a statement that failed to prepare is null or finalised by SQLite.
            return Err(failure(
                db,
                if rc == ffi::SQLITE_OK {
                    ffi::SQLITE_MISUSE
                } else {
                    rc
                },
            ));
        }
        // SAFETY: `stmt` is a valid prepared statement.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt) } as usize;
        Ok(StaticInsert {
            db,
            stmt,
            params,
            _conn: PhantomData,
        })
    }

    /// Run the statement once with these values for its parameters (all of them, in
    /// order). The texts are read during this call only.
    pub fn execute<'v>(
        &mut self,
        values: impl ExactSizeIterator<Item = Param<'v>>,
    ) -> rusqlite::Result<()> {
        if values.len() != self.params {
            return Err(rusqlite::Error::InvalidParameterCount(
                values.len(),
                self.params,
            ));
        }
        let mut result = Ok(());
        for (i, v) in values.enumerate() {
            let at = i as c_int + 1;
            // SAFETY: `stmt` is valid; a text is bound SQLITE_STATIC (no destructor: SQLite
            // does not copy it) and stays borrowed — alive and unchanged — until this
            // function returns, after the step and the clearing of the bindings below.
            let rc = unsafe {
                match v {
                    Param::Null => ffi::sqlite3_bind_null(self.stmt, at),
                    Param::Int(n) => ffi::sqlite3_bind_int64(self.stmt, at, n),
                    Param::Text(s) => match c_int::try_from(s.len()) {
                        Ok(len) => ffi::sqlite3_bind_text(
                            self.stmt,
                            at,
                            s.as_ptr().cast(),
                            len,
                            ffi::SQLITE_STATIC(),
                        ),
                        Err(_) => ffi::SQLITE_TOOBIG,
                    },
                }
            };
            if rc == ffi::SQLITE_TOOBIG {
                result = Err(rusqlite::Error::SqliteFailure(
                    ffi::Error::new(rc),
                    Some(format!(
                        "parameter {at}: a text longer than SQLite takes (2 GiB)"
                    )),
                ));
                break;
            }
            if rc != ffi::SQLITE_OK {
                result = Err(failure(self.db, rc));
                break;
            }
        }
        if result.is_ok() {
            // SAFETY: `stmt` is valid, every parameter bound.
            let rc = unsafe { ffi::sqlite3_step(self.stmt) };
            if rc != ffi::SQLITE_DONE {
                result = Err(failure(self.db, rc));
            }
        }
        // SAFETY: `stmt` is valid. Reset, then clear every binding: no pointer to the
        // caller's texts stays in the statement once this returns.
        unsafe {
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
        }
        result
    }
}

impl Drop for StaticInsert<'_> {
    fn drop(&mut self) {
        // SAFETY: `stmt` was prepared by `prepare` and is finalised once, here.
        unsafe {
            ffi::sqlite3_finalize(self.stmt);
        }
    }
}

/// The connection's error for result code `rc`, as rusqlite reports one.
fn failure(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is an open connection; its message is a NUL-terminated string valid
    // until the next call on it, copied here at once.
    let message = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        (!m.is_null()).then(|| CStr::from_ptr(m).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a TEXT NOT NULL, b INTEGER, c TEXT)")
            .unwrap();
        c
    }

    #[test]
    fn rows_bound_without_copies_are_stored_whole_after_their_buffer_is_gone() {
        let c = conn();
        {
            let mut insert =
                StaticInsert::prepare(&c, "INSERT INTO t VALUES (?, ?, ?), (?, ?, ?)").unwrap();
            for n in 0..50 {
                // A fresh buffer each run, dropped (and its memory reused) right after.
                let text = format!("row {n} é{}", "x".repeat(n));
                let (a, rest) = text.split_at(5);
                insert
                    .execute(
                        [
                            Param::Text(a),
                            Param::Int(n as i64),
                            Param::Null,
                            Param::Text(rest),
                            Param::Null,
                            Param::Text(""),
                        ]
                        .into_iter(),
                    )
                    .unwrap();
                drop(text);
                let _other = vec![0u8; 4096 + n];
            }
        }
        let rows: Vec<(String, Option<i64>, Option<String>)> = c
            .prepare("SELECT a, b, c FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 100);
        assert_eq!(rows[6], ("row 3".into(), Some(3), None));
        assert_eq!(rows[7], (" éxxx".into(), None, Some("".into())));
    }

    #[test]
    fn a_failing_row_or_a_wrong_count_is_an_error_naming_the_cause() {
        let c = conn();
        let mut insert = StaticInsert::prepare(&c, "INSERT INTO t VALUES (?, ?, ?)").unwrap();
        let err = insert
            .execute([Param::Null, Param::Int(1), Param::Null].into_iter())
            .unwrap_err();
        assert!(err.to_string().contains("NOT NULL"), "{err}");
        let err = insert.execute([Param::Null].into_iter()).unwrap_err();
        assert!(
            matches!(err, rusqlite::Error::InvalidParameterCount(1, 3)),
            "{err}"
        );
        // The statement is still usable after a failure.
        insert
            .execute([Param::Text("a"), Param::Int(2), Param::Text("c")].into_iter())
            .unwrap();
        let err = StaticInsert::prepare(&c, "INSERT INTO nowhere VALUES (?)")
            .err()
            .unwrap();
        assert!(err.to_string().contains("no such table"), "{err}");
    }
}
