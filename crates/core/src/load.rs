//! The load of one S3 object, defined once and rendered for Redshift (run by the loader
//! Lambda through the Data API) and for the embedded SQLite warehouse (run by
//! `pushfeed run`). The steps, in one transaction:
//!
//! 1. **lock** the ledger, before anything reads (Redshift takes a transaction's snapshot
//!    at its first read or write, not at LOCK; SQLite's `BEGIN IMMEDIATE` takes the write
//!    lock first). Loads are serialised: each sees every earlier load's commit.
//! 2. **stage**: an empty temporary table shaped like the target;
//! 3. **copy** the one object into it (Redshift COPY through a manifest naming exactly
//!    that object; locally, parameterised INSERTs of its lines);
//! 4. **pick** into a second temporary table the staged rows whose `event_id` is first in
//!    the object and absent from the target within the staged rows' `occurred_at` range —
//!    unless the ledger already holds the object;
//! 5. **insert** the picked rows into the target;
//! 6. **audit**: per hour of Kinesis arrival, the object's lines and the rows inserted
//!    (the rest were duplicates), into the load audit — unless the ledger holds the object;
//! 7. **ledger**: the object's row, unless present (its row count says whether this load
//!    was the first);
//! 8. **cleanup** the temporary tables (and, in SQLite, commit).
//!
//! docs/design.md gives the argument for why two loads can never both insert an event.

use crate::schema::{TableDef, LEDGER_TABLE, LOAD_AUDIT_TABLE};
use crate::sql::{check_lengths, ident, literal, qualified, Dialect, SqlError};

pub const STAGE_TABLE: &str = "pushfeed_stage";
/// The staged rows the load inserts (first in the object, not yet in the table).
pub const FRESH_TABLE: &str = "pushfeed_fresh";
/// Where the loader writes the manifest that names the one object a COPY loads. Outside
/// the data prefix, so no manifest ever triggers a load.
pub const MANIFEST_PREFIX: &str = "pushfeed-manifests/";

/// An S3 object, as the loader names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub size: u64,
}

/// The steps of a load, in order. Each dialect renders the steps it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Lock,
    Stage,
    Copy,
    /// The rows to insert, picked into [`FRESH_TABLE`].
    Pick,
    Insert,
    /// Per hour of arrival: lines in the object, rows inserted, duplicates.
    Audit,
    Ledger,
    /// The newest staged event's time: the loader's end-to-end freshness.
    Newest,
    Cleanup,
    /// SQLite only: BatchExecuteStatement commits a Redshift batch itself.
    Commit,
}

impl Step {
    /// The step's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Step::Lock => "lock",
            Step::Stage => "stage",
            Step::Copy => "copy",
            Step::Pick => "pick",
            Step::Insert => "insert",
            Step::Audit => "audit",
            Step::Ledger => "ledger",
            Step::Newest => "newest",
            Step::Cleanup => "cleanup",
            Step::Commit => "commit",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadStep {
    pub step: Step,
    pub sql: String,
}

/// A rendered load: run the statements in order, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadScript {
    pub dialect: Dialect,
    pub steps: Vec<LoadStep>,
}

impl LoadScript {
    pub fn sqls(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.sql.clone()).collect()
    }
    /// The statement index of a step (to read its row count from the Data API's answer).
    pub fn position(&self, step: Step) -> Option<usize> {
        self.steps.iter().position(|s| s.step == step)
    }
    pub fn sql(&self, step: Step) -> Option<&str> {
        self.position(step).map(|i| self.steps[i].sql.as_str())
    }
}

/// How Redshift's COPY reads the object (ignored by SQLite, where the loader reads it).
#[derive(Debug, Clone)]
pub struct CopyFrom<'a> {
    /// Role the cluster assumes to read the bucket, or `default`.
    pub iam_role: &'a str,
    pub gzip: bool,
    /// Bucket region, when it differs from the cluster's.
    pub region: Option<&'a str>,
    /// The manifest that names the object; see [`manifest_key`].
    pub manifest_bucket: &'a str,
}

/// Everything the load of one object needs.
#[derive(Debug, Clone)]
pub struct LoadSpec<'a> {
    pub schema: &'a str,
    pub table: &'a TableDef,
    pub object: &'a ObjectRef,
    pub copy: CopyFrom<'a>,
}

/// The key of the manifest for an object: deterministic (a retry rewrites the same one)
/// and short whatever the object key's length.
pub fn manifest_key(o: &ObjectRef) -> String {
    let bytes = [o.bucket.as_bytes(), o.key.as_bytes(), o.etag.as_bytes()]
        .into_iter()
        .flat_map(|part| part.iter().copied().chain(std::iter::once(0u8)));
    format!("{MANIFEST_PREFIX}{}.manifest", fnv128_hex(bytes))
}

/// 32 hex digits from two FNV-1a 64-bit hashes with different seeds: a stable, cheap name
/// for content (not a cryptographic hash).
pub fn fnv128_hex(bytes: impl Iterator<Item = u8>) -> String {
    // Both hashes in one pass: two independent multiply chains run side by side (half the
    // time of one pass each on an object of megabytes).
    let (a, b) = bytes.fold(
        (0xcbf29ce484222325u64, 0x84222325cbf29ce4u64),
        |(a, b), x| {
            (
                (a ^ x as u64).wrapping_mul(0x100000001b3),
                (b ^ x as u64).wrapping_mul(0x100000001b3),
            )
        },
    );
    format!("{a:016x}{b:016x}")
}

/// The ETag the local and in-memory object stores give an object: a hash of its bytes
/// (S3's ETag of a single-part upload is its MD5; any stable content hash serves locally).
pub fn content_etag(body: &[u8]) -> String {
    fnv128_hex(body.iter().copied())
}

/// The load of one object: the ledger row alone for an empty object (Firehose can write
/// one), the whole load otherwise.
pub fn script_for(d: Dialect, spec: &LoadSpec<'_>) -> Result<LoadScript, SqlError> {
    if spec.object.size == 0 {
        empty_object_script(d, spec.schema, spec.table, spec.object)
    } else {
        load_script(d, spec)
    }
}

/// The manifest's body: exactly this one object, which must exist
/// ("Using a manifest to specify data files", Redshift COPY).
pub fn manifest_body(o: &ObjectRef) -> String {
    serde_json::json!({"entries": [{
        "url": format!("s3://{}/{}", o.bucket, o.key),
        "mandatory": true,
        "meta": {"content_length": o.size}
    }]})
    .to_string()
}

fn iam_role_clause(role: &str) -> Result<String, SqlError> {
    if role == "default" {
        return Ok("IAM_ROLE default".into());
    }
    let valid = role
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(":iam::"))
        .is_some_and(|(partition, rest)| {
            partition.starts_with("aws")
                && partition
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-')
                && rest.split_once(":role/").is_some_and(|(acct, name)| {
                    acct.len() == 12
                        && acct.bytes().all(|b| b.is_ascii_digit())
                        && !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
                })
        });
    if !valid {
        return Err(SqlError::BadRoleArn(role.to_owned()));
    }
    Ok(format!(
        "IAM_ROLE {}",
        literal(Dialect::Redshift, "iam role", role)?
    ))
}

fn check_region(region: &str) -> Result<(), SqlError> {
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(SqlError::BadRegion(region.to_owned()));
    }
    Ok(())
}

fn ledger_match(d: Dialect, ledger: &str, o: &ObjectRef) -> Result<String, SqlError> {
    Ok(format!(
        "SELECT 1 FROM {ledger} AS l WHERE l.bucket = {} AND l.object_key = {} AND l.etag = {}",
        literal(d, "bucket", &o.bucket)?,
        literal(d, "key", &o.key)?,
        literal(d, "etag", &o.etag)?
    ))
}

fn ledger_insert(
    d: Dialect,
    ledger: &str,
    table: &str,
    o: &ObjectRef,
    rows: &str,
) -> Result<String, SqlError> {
    Ok(format!(
        "INSERT INTO {ledger} (bucket, object_key, etag, table_name, object_bytes, rows_in_object, loaded_at) SELECT {}, {}, {}, {}, {}, {rows}, {} WHERE NOT EXISTS ({})",
        literal(d, "bucket", &o.bucket)?,
        literal(d, "key", &o.key)?,
        literal(d, "etag", &o.etag)?,
        literal(d, "table", table)?,
        o.size,
        crate::sql::now(d),
        ledger_match(d, ledger, o)?
    ))
}

/// The hour a timestamp falls in, as the dialect stores timestamps (SQLite: ISO text).
pub fn hour_of(d: Dialect, ts: &str) -> String {
    match d {
        Dialect::Redshift => format!("DATE_TRUNC('hour', {ts})"),
        Dialect::Sqlite => format!("substr({ts}, 1, 13) || ':00:00.000Z'"),
    }
}

fn lock(d: Dialect, ledger: &str) -> LoadStep {
    LoadStep {
        step: Step::Lock,
        sql: match d {
            Dialect::Redshift => format!("LOCK {ledger}"),
            Dialect::Sqlite => "BEGIN IMMEDIATE".into(),
        },
    }
}

/// The load of one object with rows (size > 0).
pub fn load_script(d: Dialect, spec: &LoadSpec<'_>) -> Result<LoadScript, SqlError> {
    let schema = ident("schema", spec.schema)?;
    let table = ident("table", &spec.table.name)?;
    let target = qualified(d, &schema, &table);
    let ledger = qualified(d, &schema, LEDGER_TABLE);
    let o = spec.object;
    let names = spec
        .table
        .columns
        .iter()
        .map(|c| ident("column", &c.name))
        .collect::<Result<Vec<_>, _>>()?;
    let cols = names.join(", ");
    let mut steps = vec![lock(d, &ledger)];
    steps.push(LoadStep {
        step: Step::Stage,
        sql: match d {
            Dialect::Redshift => format!("CREATE TEMP TABLE {STAGE_TABLE} (LIKE {target})"),
            Dialect::Sqlite => {
                format!("CREATE TEMP TABLE {STAGE_TABLE} AS SELECT * FROM {target} WHERE 0")
            }
        },
    });
    steps.push(LoadStep {
        step: Step::Copy,
        sql: match d {
            Dialect::Redshift => {
                let c = &spec.copy;
                let manifest = literal(
                    d,
                    "manifest",
                    &format!("s3://{}/{}", c.manifest_bucket, manifest_key(o)),
                )?;
                // The object itself must be a literal we can write; checked here although
                // only the manifest names it.
                literal(d, "object", &format!("s3://{}/{}", o.bucket, o.key))?;
                let mut copy = format!(
                    "COPY {STAGE_TABLE} FROM {manifest} {} MANIFEST FORMAT AS JSON 'auto ignorecase' TIMEFORMAT 'auto' TRUNCATECOLUMNS ACCEPTINVCHARS",
                    iam_role_clause(c.iam_role)?
                );
                if c.gzip {
                    copy.push_str(" GZIP");
                }
                if let Some(region) = c.region {
                    check_region(region)?;
                    copy.push_str(&format!(" REGION '{region}'"));
                }
                copy
            }
            Dialect::Sqlite => format!(
                "INSERT INTO {STAGE_TABLE} ({cols}) VALUES ({})",
                (1..=names.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    });
    let not_loaded = format!("NOT EXISTS ({})", ledger_match(d, &ledger, o)?);
    // The first copy of an event is the earliest to arrive (Kinesis order within it).
    let order = if names.iter().any(|n| n == "source_sequence_number") {
        "s.received_at, s.source_sequence_number"
    } else {
        "s.received_at"
    };
    let window = format!(
        "t.occurred_at BETWEEN (SELECT MIN(occurred_at) FROM {STAGE_TABLE}) AND (SELECT MAX(occurred_at) FROM {STAGE_TABLE})"
    );
    let not_seen = match d {
        Dialect::Redshift => format!(
            "NOT EXISTS (SELECT 1 FROM {target} AS t WHERE t.event_id = d.event_id AND {window})"
        ),
        // The same rows: SQLite reads the window's ids once into an ephemeral index (an
        // uncorrelated IN), through the table's index on (occurred_at, event_id) — by time
        // first, so that each load appends near the index's end instead of touching a page
        // per row all over a random-id index (docs/performance.md).
        Dialect::Sqlite => format!(
            "(d.event_id IS NULL OR d.event_id NOT IN (SELECT t.event_id FROM {target} AS t WHERE {window} AND t.event_id IS NOT NULL))"
        ),
    };
    let pick = match d {
        Dialect::Redshift => format!(
            "CREATE TEMP TABLE {FRESH_TABLE} AS SELECT {cols} FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.event_id ORDER BY {order}) AS pushfeed_rn FROM {STAGE_TABLE} AS s) AS d WHERE d.pushfeed_rn = 1 AND {not_seen} AND {not_loaded}"
        ),
        // The same rows: the window runs over the rowids and the ordering columns only,
        // not the whole rows (SQLite sorts what the window reads: 2.6× faster).
        // Only the picked rows' rowids and arrival times (the audit's hours): the Insert
        // step copies the rows from the stage table once.
        Dialect::Sqlite => format!(
            "CREATE TEMP TABLE {FRESH_TABLE} AS SELECT d.rowid AS pushfeed_row, d.received_at FROM {STAGE_TABLE} AS d WHERE d.rowid IN (SELECT f.pushfeed_row FROM (SELECT s.rowid AS pushfeed_row, ROW_NUMBER() OVER (PARTITION BY s.event_id ORDER BY {order}) AS pushfeed_rn FROM {STAGE_TABLE} AS s) AS f WHERE f.pushfeed_rn = 1) AND {not_seen} AND {not_loaded}"
        ),
    };
    steps.push(LoadStep {
        step: Step::Pick,
        sql: pick,
    });
    steps.push(LoadStep {
        step: Step::Insert,
        sql: match d {
            Dialect::Redshift => {
                format!("INSERT INTO {target} ({cols}) SELECT {cols} FROM {FRESH_TABLE}")
            }
            Dialect::Sqlite => format!(
                "INSERT INTO {target} ({cols}) SELECT {cols} FROM {STAGE_TABLE} WHERE rowid IN (SELECT pushfeed_row FROM {FRESH_TABLE})"
            ),
        },
    });
    let load_audit = qualified(d, &schema, LOAD_AUDIT_TABLE);
    let hour = hour_of(d, "received_at");
    steps.push(LoadStep {
        step: Step::Audit,
        sql: format!(
            "INSERT INTO {load_audit} (bucket, object_key, etag, table_name, hour, lines, inserted, duplicates, loaded_at) SELECT {}, {}, {}, {}, h.hour, h.lines, COALESCE(f.inserted, 0), h.lines - COALESCE(f.inserted, 0), {} FROM (SELECT {hour} AS hour, COUNT(*) AS lines FROM {STAGE_TABLE} GROUP BY 1) AS h LEFT JOIN (SELECT {hour} AS hour, COUNT(*) AS inserted FROM {FRESH_TABLE} GROUP BY 1) AS f ON f.hour = h.hour WHERE {not_loaded}",
            literal(d, "bucket", &o.bucket)?,
            literal(d, "key", &o.key)?,
            literal(d, "etag", &o.etag)?,
            literal(d, "table", &table)?,
            crate::sql::now(d),
        ),
    });
    steps.push(LoadStep {
        step: Step::Ledger,
        sql: ledger_insert(
            d,
            &ledger,
            &table,
            o,
            &format!("(SELECT COUNT(*) FROM {STAGE_TABLE})"),
        )?,
    });
    steps.push(LoadStep {
        step: Step::Newest,
        sql: format!("SELECT MAX(occurred_at) FROM {STAGE_TABLE}"),
    });
    for temp in [STAGE_TABLE, FRESH_TABLE] {
        steps.push(LoadStep {
            step: Step::Cleanup,
            sql: format!("DROP TABLE {temp}"),
        });
    }
    finish(d, steps)
}

/// Close the transaction where the dialect needs it, and check the Data API's limits.
fn finish(d: Dialect, mut steps: Vec<LoadStep>) -> Result<LoadScript, SqlError> {
    if d == Dialect::Sqlite {
        steps.push(LoadStep {
            step: Step::Commit,
            sql: "COMMIT".into(),
        });
    }
    let script = LoadScript { dialect: d, steps };
    check_lengths(&script.sqls())?;
    Ok(script)
}

/// An empty object (Firehose can write one): the ledger row only, no COPY.
pub fn empty_object_script(
    d: Dialect,
    schema: &str,
    table: &TableDef,
    o: &ObjectRef,
) -> Result<LoadScript, SqlError> {
    let schema = ident("schema", schema)?;
    let table = ident("table", &table.name)?;
    let ledger = qualified(d, &schema, LEDGER_TABLE);
    let steps = vec![
        lock(d, &ledger),
        LoadStep {
            step: Step::Ledger,
            sql: ledger_insert(d, &ledger, &table, o, "0")?,
        },
    ];
    finish(d, steps)
}

/// The ledger's objects of one bucket loaded since a time (`YYYY-MM-DDTHH:MM:SS` UTC):
/// `object_key, etag` rows, for `pushfeed reconcile` to compare with a listing.
pub fn ledger_listing(
    d: Dialect,
    schema: &str,
    bucket: &str,
    loaded_since: &str,
) -> Result<String, SqlError> {
    let schema = ident("schema", schema)?;
    let ledger = qualified(d, &schema, LEDGER_TABLE);
    Ok(format!(
        "SELECT object_key, etag FROM {ledger} WHERE bucket = {} AND loaded_at >= {} ORDER BY object_key",
        literal(d, "bucket", bucket)?,
        literal(d, "since", loaded_since)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::destination;
    use crate::sql::strip_literals;

    fn object(key: &str) -> ObjectRef {
        ObjectRef {
            bucket: "pushfeed-dev-data".into(),
            key: key.into(),
            etag: "9b2cf535f27731c974343645a3985328".into(),
            size: 1234,
        }
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/pushfeed-dev-redshift-copy";

    fn script(d: Dialect, o: &ObjectRef, role: &str) -> Result<LoadScript, SqlError> {
        let table = TableDef::from_destination(destination("send").unwrap());
        load_script(
            d,
            &LoadSpec {
                schema: "pushfeed",
                table: &table,
                object: o,
                copy: CopyFrom {
                    iam_role: role,
                    gzip: true,
                    region: None,
                    manifest_bucket: "pushfeed-dev-data",
                },
            },
        )
    }

    #[test]
    fn the_lock_comes_before_anything_reads() {
        let o = object("push/send/2026/01/01/00/x.gz");
        let s = script(Dialect::Redshift, &o, ROLE).unwrap();
        assert_eq!(s.steps[0].sql, "LOCK pushfeed.pushfeed_load_ledger");
        assert_eq!(
            s.steps.iter().map(|x| x.step).collect::<Vec<_>>(),
            [
                Step::Lock,
                Step::Stage,
                Step::Copy,
                Step::Pick,
                Step::Insert,
                Step::Audit,
                Step::Ledger,
                Step::Newest,
                Step::Cleanup,
                Step::Cleanup
            ]
        );
        let lite = script(Dialect::Sqlite, &o, ROLE).unwrap();
        assert_eq!(lite.steps[0].sql, "BEGIN IMMEDIATE");
        assert_eq!(lite.steps.last().unwrap().sql, "COMMIT");
        // The same algorithm: the insert and ledger steps differ only in qualification
        // and the clock.
        let strip = |x: &str| {
            x.replace("pushfeed.", "")
                .replace("GETDATE()", "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
        };
        // Pick and Insert reach the same rows by other paths in SQLite (rowids, an
        // uncorrelated NOT IN: docs/performance.md); what decides which rows are the same
        // text in both.
        let (pick, lite_pick) = (
            strip(s.sql(Step::Pick).unwrap()),
            lite.sql(Step::Pick).unwrap(),
        );
        for part in [
            "ROW_NUMBER() OVER (PARTITION BY s.event_id ORDER BY s.received_at, s.source_sequence_number) AS pushfeed_rn FROM pushfeed_stage AS s",
            "pushfeed_rn = 1",
            "t.occurred_at BETWEEN (SELECT MIN(occurred_at) FROM pushfeed_stage) AND (SELECT MAX(occurred_at) FROM pushfeed_stage)",
            "AND NOT EXISTS (SELECT 1 FROM pushfeed_load_ledger AS l WHERE l.bucket = 'pushfeed-dev-data'",
        ] {
            assert!(pick.contains(part) && lite_pick.contains(part), "{part}");
        }
        let target = "INSERT INTO push_send (event_id, ";
        assert!(strip(s.sql(Step::Insert).unwrap()).starts_with(target));
        assert!(lite.sql(Step::Insert).unwrap().starts_with(target));
        // The audit differs only in how the hour is taken.
        assert_eq!(
            strip(s.sql(Step::Audit).unwrap()).replace(
                "DATE_TRUNC('hour', received_at)",
                "substr(received_at, 1, 13) || ':00:00.000Z'"
            ),
            lite.sql(Step::Audit).unwrap()
        );
        assert_eq!(
            strip(s.sql(Step::Ledger).unwrap()),
            lite.sql(Step::Ledger).unwrap()
        );
    }

    #[test]
    fn the_content_etag_is_two_fnv1a_64_hashes_of_the_bytes() {
        // FNV-1a 64 of "abc" from the offset basis, then from the second seed: ETags and
        // manifest names written before stay the same.
        assert_eq!(content_etag(b"abc"), "e71fa2190541574b7bab84f7414251ac");
        assert_eq!(content_etag(b""), "cbf29ce48422232584222325cbf29ce4");
    }

    #[test]
    fn copy_reads_exactly_one_object_through_a_manifest() {
        let o = object("push/send/2026/01/01/00/x.gz");
        let s = script(Dialect::Redshift, &o, ROLE).unwrap();
        let copy = s.sql(Step::Copy).unwrap();
        assert!(copy.contains(&format!(
            "FROM 's3://pushfeed-dev-data/{}'",
            manifest_key(&o)
        )));
        assert!(copy.contains(" MANIFEST ") && copy.ends_with(" GZIP"));
        assert!(
            !copy.contains("push/send"),
            "the object is named only in the manifest"
        );
        let body: serde_json::Value = serde_json::from_str(&manifest_body(&o)).unwrap();
        assert_eq!(
            body["entries"][0]["url"],
            "s3://pushfeed-dev-data/push/send/2026/01/01/00/x.gz"
        );
        assert_eq!(body["entries"][0]["mandatory"], true);
        assert_eq!(body["entries"].as_array().unwrap().len(), 1);
        let other = ObjectRef {
            etag: "other".into(),
            ..o.clone()
        };
        assert_ne!(manifest_key(&o), manifest_key(&other));
        assert!(manifest_key(&object(&"k".repeat(1024))).len() <= 64);
    }

    #[test]
    fn hostile_keys_cannot_break_out_of_their_literals() {
        let o = object("push/send/2026/01/01/00/x'; DROP TABLE pushfeed.push_send; --\\'.gz");
        for d in [Dialect::Redshift, Dialect::Sqlite] {
            let s = script(d, &o, ROLE).unwrap();
            for stmt in s.sqls() {
                assert!(
                    !strip_literals(d, &stmt).contains("DROP TABLE pushfeed.push_send"),
                    "{stmt}"
                );
            }
        }
        let body: serde_json::Value = serde_json::from_str(&manifest_body(&o)).unwrap();
        assert_eq!(
            body["entries"][0]["url"],
            format!("s3://pushfeed-dev-data/{}", o.key)
        );
        for d in [Dialect::Redshift, Dialect::Sqlite] {
            assert!(matches!(
                script(d, &object("push/send/a\0b"), ROLE),
                Err(SqlError::NulInLiteral { .. })
            ));
        }
    }

    #[test]
    fn roles_and_regions_are_validated() {
        let o = object("push/send/x");
        assert!(matches!(
            script(Dialect::Redshift, &o, "arn:aws:iam::12:role/x"),
            Err(SqlError::BadRoleArn(_))
        ));
        assert!(script(Dialect::Redshift, &o, "default")
            .unwrap()
            .sql(Step::Copy)
            .unwrap()
            .contains("IAM_ROLE default"));
        let table = TableDef::from_destination(destination("send").unwrap());
        let bad_region = LoadSpec {
            schema: "pushfeed",
            table: &table,
            object: &o,
            copy: CopyFrom {
                iam_role: ROLE,
                gzip: false,
                region: Some("eu-west-2'"),
                manifest_bucket: "b",
            },
        };
        assert!(matches!(
            load_script(Dialect::Redshift, &bad_region),
            Err(SqlError::BadRegion(_))
        ));
    }

    #[test]
    fn an_empty_object_only_writes_the_ledger_under_the_lock() {
        let o = ObjectRef {
            size: 0,
            ..object("push/send/2026/01/01/00/empty")
        };
        let table = TableDef::from_destination(destination("send").unwrap());
        let s = empty_object_script(Dialect::Redshift, "pushfeed", &table, &o).unwrap();
        assert_eq!(s.position(Step::Lock), Some(0));
        assert_eq!(s.position(Step::Ledger), Some(1));
        assert_eq!(s.position(Step::Copy), None);
    }
}
