//! The warehouse schema and how it evolves: tables derived from the catalogue, a numbered
//! migration history (`crates/core/migrations.json`) that is checked against the catalogue,
//! and every statement rendered for Redshift and for the embedded SQLite warehouse:
//! bootstrap (schema + migrations table), migrations (each once, in order), grants
//! (Redshift roles for the loader and for analysts) and the analyst views.
//!
//! A catalogue change that adds a type or a column fails `migrations_cover_the_catalogue`
//! until `pushfeed migrations --new "…"` appends the migration that [`diff`] computes.

use crate::catalogue::{ColumnKind, Destination, DestinationKind, DESTINATIONS};
use crate::sql::{self, check_lengths, ident, literal, qualified, Dialect, SqlError};
use serde::{Deserialize, Serialize};

/// The ledger: one row per loaded S3 object, keyed by bucket/key/etag.
pub const LEDGER_TABLE: &str = "pushfeed_load_ledger";
/// The loader's side of the audit trail: per object and hour, lines found and rows inserted.
pub const LOAD_AUDIT_TABLE: &str = "pushfeed_load_audit";
/// Which migrations a warehouse has applied.
pub const MIGRATIONS_TABLE: &str = "pushfeed_schema_migrations";
/// The migration history, in order. Append only: an applied migration never changes.
pub const MIGRATIONS_JSON: &str = include_str!("../migrations.json");

/// How a table is laid out (Redshift distribution and sort; SQLite indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Event tables: joined per customer, read by time.
    Events,
    /// The quarantine: no customer to distribute on.
    Quarantine,
    /// The load ledger: small, everywhere, keyed by object.
    Ledger,
    /// The batcher's audit table (push_audit): no customer, read by hour.
    Audit,
    /// What each load found and inserted, per object and hour: read by hour.
    LoadAudit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub kind: ColumnKind,
    #[serde(default)]
    pub not_null: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    pub name: String,
    pub layout: Layout,
    pub columns: Vec<ColumnDef>,
}

impl TableDef {
    pub fn from_destination(d: &Destination) -> TableDef {
        TableDef {
            name: d.table(),
            layout: match d.kind {
                DestinationKind::Quarantine => Layout::Quarantine,
                DestinationKind::Audit => Layout::Audit,
                DestinationKind::Event | DestinationKind::UnknownType => Layout::Events,
            },
            columns: d
                .columns()
                .iter()
                .map(|c| ColumnDef {
                    name: c.name.to_owned(),
                    kind: c.kind,
                    not_null: c.not_null,
                })
                .collect(),
        }
    }

    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
}

fn ledger_def() -> TableDef {
    let col = |name: &str, kind, not_null| ColumnDef {
        name: name.to_owned(),
        kind,
        not_null,
    };
    TableDef {
        name: LEDGER_TABLE.to_owned(),
        layout: Layout::Ledger,
        columns: vec![
            col("bucket", ColumnKind::Text(63), true),
            col("object_key", ColumnKind::Text(1024), true),
            col("etag", ColumnKind::Text(128), true),
            col("table_name", ColumnKind::Text(127), true),
            col("object_bytes", ColumnKind::BigInt, false),
            col("rows_in_object", ColumnKind::BigInt, false),
            col("loaded_at", ColumnKind::Timestamp, true),
        ],
    }
}

/// What each load found, per object and hour of Kinesis arrival: the loader's side of the
/// audit trail (written in the load's transaction, once per object, as the ledger row).
fn load_audit_def() -> TableDef {
    let col = |name: &str, kind, not_null| ColumnDef {
        name: name.to_owned(),
        kind,
        not_null,
    };
    TableDef {
        name: LOAD_AUDIT_TABLE.to_owned(),
        layout: Layout::LoadAudit,
        columns: vec![
            col("bucket", ColumnKind::Text(63), true),
            col("object_key", ColumnKind::Text(1024), true),
            col("etag", ColumnKind::Text(128), true),
            col("table_name", ColumnKind::Text(127), true),
            col("hour", ColumnKind::Timestamp, true),
            col("lines", ColumnKind::BigInt, true),
            col("inserted", ColumnKind::BigInt, true),
            col("duplicates", ColumnKind::BigInt, true),
            col("loaded_at", ColumnKind::Timestamp, true),
        ],
    }
}

/// The schema the catalogue asks for now: every destination's table, the ledger and the
/// load audit.
pub fn catalogue_schema() -> Vec<TableDef> {
    DESTINATIONS
        .iter()
        .map(TableDef::from_destination)
        .chain([ledger_def(), load_audit_def()])
        .collect()
}

/// One step of a migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    CreateTable(TableDef),
    AddColumn {
        table: String,
        column: ColumnDef,
    },
    /// A text column made wider (Redshift can widen VARCHAR in place).
    WidenText {
        table: String,
        column: String,
        width: u32,
    },
    /// A Redshift role `<schema>_<name>` (nothing in SQLite).
    CreateRole(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub id: u32,
    pub description: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    #[error("migrations.json cannot be read: {0}")]
    BadHistory(String),
    #[error("migration ids must be 1, 2, 3, … in order; found {found} where {expected} was due")]
    BadOrder { expected: u32, found: u32 },
    #[error("table {table}: column {column} was removed from the catalogue; pushfeed never drops data — keep the column, or write the migration by hand")]
    ColumnRemoved { table: String, column: String },
    #[error("table {0} was removed from the catalogue; pushfeed never drops data — keep the destination, or write the migration by hand")]
    TableRemoved(String),
    #[error("table {table}: new column {column} is NOT NULL, but rows already loaded have no value for it; make it nullable")]
    NewNotNull { table: String, column: String },
    #[error("table {table}: column {column} changes from {from:?} to {to:?}; only widening a text column is migrated automatically")]
    TypeChange {
        table: String,
        column: String,
        from: ColumnKind,
        to: ColumnKind,
    },
    #[error("table {0}: its layout changed; that needs a hand-written migration (a deep copy)")]
    LayoutChange(String),
    #[error(transparent)]
    Sql(#[from] SqlError),
}

/// The checked-in migration history.
pub fn migrations() -> Result<Vec<Migration>, MigrationError> {
    parse_history(MIGRATIONS_JSON)
}

pub fn parse_history(json: &str) -> Result<Vec<Migration>, MigrationError> {
    #[derive(Deserialize)]
    struct History {
        migrations: Vec<Migration>,
    }
    let h: History =
        serde_json::from_str(json).map_err(|e| MigrationError::BadHistory(e.to_string()))?;
    for (i, m) in h.migrations.iter().enumerate() {
        let expected = i as u32 + 1;
        if m.id != expected {
            return Err(MigrationError::BadOrder {
                expected,
                found: m.id,
            });
        }
    }
    Ok(h.migrations)
}

/// The history as JSON: one migration per block, one column per line, for reviewable diffs.
pub fn history_json(migrations: &[Migration]) -> String {
    let j = |v: &dyn erased::Json| v.json();
    let mut out = String::from("{\"migrations\": [\n");
    for (i, m) in migrations.iter().enumerate() {
        out.push_str(&format!(
            "  {{\"id\": {}, \"description\": {}, \"changes\": [\n",
            m.id,
            j(&m.description)
        ));
        for (k, c) in m.changes.iter().enumerate() {
            match c {
                Change::CreateTable(t) => {
                    out.push_str(&format!(
                        "    {{\"create_table\": {{\"name\": {}, \"layout\": {}, \"columns\": [\n",
                        j(&t.name),
                        j(&t.layout)
                    ));
                    for (n, col) in t.columns.iter().enumerate() {
                        let sep = if n + 1 < t.columns.len() { "," } else { "" };
                        out.push_str(&format!("      {}{sep}\n", j(col)));
                    }
                    out.push_str("    ]}}");
                }
                other => out.push_str(&format!("    {}", j(other))),
            }
            out.push_str(if k + 1 < m.changes.len() { ",\n" } else { "\n" });
        }
        out.push_str(if i + 1 < migrations.len() {
            "  ]},\n"
        } else {
            "  ]}\n"
        });
    }
    out.push_str("]}\n");
    out
}

mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

/// The tables a warehouse has after these migrations.
pub fn schema_after(migrations: &[Migration]) -> Vec<TableDef> {
    let mut tables: Vec<TableDef> = Vec::new();
    for m in migrations {
        for c in &m.changes {
            match c {
                Change::CreateTable(t) => {
                    if !tables.iter().any(|x| x.name == t.name) {
                        tables.push(t.clone())
                    }
                }
                Change::AddColumn { table, column } => {
                    if let Some(t) = tables.iter_mut().find(|t| &t.name == table) {
                        t.columns.push(column.clone());
                    }
                }
                Change::WidenText {
                    table,
                    column,
                    width,
                } => {
                    if let Some(c) = tables
                        .iter_mut()
                        .find(|t| &t.name == table)
                        .and_then(|t| t.columns.iter_mut().find(|c| &c.name == column))
                    {
                        c.kind = ColumnKind::Text(*width);
                    }
                }
                Change::CreateRole(_) => {}
            }
        }
    }
    tables
}

/// The changes that take a warehouse from `from` to `to`; empty when they agree.
/// Only additive changes are automatic: a removal or an incompatible type is an error.
pub fn diff(from: &[TableDef], to: &[TableDef]) -> Result<Vec<Change>, MigrationError> {
    let mut changes = Vec::new();
    for old in from {
        if !to.iter().any(|t| t.name == old.name) {
            return Err(MigrationError::TableRemoved(old.name.clone()));
        }
    }
    for new in to {
        let Some(old) = from.iter().find(|t| t.name == new.name) else {
            changes.push(Change::CreateTable(new.clone()));
            continue;
        };
        if old.layout != new.layout {
            return Err(MigrationError::LayoutChange(new.name.clone()));
        }
        for oc in &old.columns {
            if !new.columns.iter().any(|c| c.name == oc.name) {
                return Err(MigrationError::ColumnRemoved {
                    table: new.name.clone(),
                    column: oc.name.clone(),
                });
            }
        }
        for nc in &new.columns {
            match old.columns.iter().find(|c| c.name == nc.name) {
                None if nc.not_null => {
                    return Err(MigrationError::NewNotNull {
                        table: new.name.clone(),
                        column: nc.name.clone(),
                    })
                }
                None => changes.push(Change::AddColumn {
                    table: new.name.clone(),
                    column: nc.clone(),
                }),
                Some(oc) if oc.kind == nc.kind => {}
                Some(oc) => match (oc.kind, nc.kind) {
                    (ColumnKind::Text(a), ColumnKind::Text(b)) if b > a => {
                        changes.push(Change::WidenText {
                            table: new.name.clone(),
                            column: nc.name.clone(),
                            width: b,
                        })
                    }
                    (from_kind, to_kind) => {
                        return Err(MigrationError::TypeChange {
                            table: new.name.clone(),
                            column: nc.name.clone(),
                            from: from_kind,
                            to: to_kind,
                        })
                    }
                },
            }
        }
    }
    Ok(changes)
}

/// The migration the catalogue needs next, if any (for `pushfeed migrations --new`).
pub fn next_migration(
    history: &[Migration],
    target: &[TableDef],
    description: &str,
) -> Result<Option<Migration>, MigrationError> {
    let mut changes = diff(&schema_after(history), target)?;
    if history.is_empty() {
        // A new history starts with the database roles the grants name.
        changes.push(Change::CreateRole(LOADER_ROLE.to_owned()));
        changes.push(Change::CreateRole(ANALYST_ROLE.to_owned()));
    }
    Ok((!changes.is_empty()).then(|| Migration {
        id: history.len() as u32 + 1,
        description: description.to_owned(),
        changes,
    }))
}

fn column_type(dialect: Dialect, kind: ColumnKind) -> String {
    match (dialect, kind) {
        (Dialect::Redshift, ColumnKind::Text(n)) => format!("VARCHAR({n})"),
        (Dialect::Redshift, ColumnKind::Timestamp) => "TIMESTAMP".into(),
        (Dialect::Redshift, ColumnKind::BigInt) => "BIGINT".into(),
        (Dialect::Redshift, ColumnKind::Json) => "SUPER".into(),
        (Dialect::Sqlite, ColumnKind::BigInt) => "INTEGER".into(),
        (Dialect::Sqlite, _) => "TEXT".into(),
    }
}

fn column_sql(dialect: Dialect, c: &ColumnDef) -> Result<String, SqlError> {
    Ok(format!(
        "{} {}{}",
        ident("column", &c.name)?,
        column_type(dialect, c.kind),
        if c.not_null { " NOT NULL" } else { "" }
    ))
}

fn create_table(dialect: Dialect, schema: &str, t: &TableDef) -> Result<Vec<String>, SqlError> {
    let name = ident("table", &t.name)?;
    let cols = t
        .columns
        .iter()
        .map(|c| Ok(format!("    {}", column_sql(dialect, c)?)))
        .collect::<Result<Vec<_>, SqlError>>()?;
    let mut body = cols.join(",\n");
    if t.layout == Layout::Ledger {
        body.push_str(",\n    PRIMARY KEY (bucket, object_key, etag)");
    }
    let q = qualified(dialect, schema, &name);
    Ok(match dialect {
        Dialect::Redshift => {
            // Events are joined per customer (funnels, preferences): distribute on user_id.
            // Every table is read by time: sort on occurred_at, which also bounds dedup scans.
            let layout = match t.layout {
                Layout::Events => "DISTKEY (user_id)\nSORTKEY (occurred_at)",
                Layout::Quarantine => "DISTSTYLE EVEN\nSORTKEY (occurred_at)",
                Layout::Ledger => "DISTSTYLE ALL\nSORTKEY (loaded_at)",
                Layout::Audit => "DISTSTYLE EVEN\nSORTKEY (occurred_at)",
                Layout::LoadAudit => "DISTSTYLE EVEN\nSORTKEY (hour)",
            };
            vec![format!(
                "CREATE TABLE IF NOT EXISTS {q} (\n{body}\n)\n{layout}"
            )]
        }
        Dialect::Sqlite => {
            let mut out = vec![format!("CREATE TABLE IF NOT EXISTS {q} (\n{body}\n)")];
            match t.layout {
                Layout::Ledger => {}
                Layout::LoadAudit => out.push(format!(
                    "CREATE INDEX IF NOT EXISTS {name}_hour ON {name} (hour, table_name)"
                )),
                _ => out.push(events_index(&name)),
            }
            out
        }
    })
}

/// The embedded warehouse's index on an event table: the dedup anti-join reads the event
/// ids of a time window. Time first: loads arrive in about time order, so each appends near
/// the index's end (an index by random event id had a load touch a page per row).
fn events_index(table: &str) -> String {
    format!("CREATE INDEX IF NOT EXISTS {table}_time_event ON {table} (occurred_at, event_id)")
}

/// Indexes of the embedded warehouse's event tables, for a warehouse made before they
/// were: run after the migrations (every table then exists). Idempotent; Redshift: none.
pub fn index_statements(dialect: Dialect) -> Result<Vec<String>, SqlError> {
    let mut out = Vec::new();
    if dialect == Dialect::Sqlite {
        for d in DESTINATIONS {
            let name = ident("table", &d.table())?;
            // pushfeed before 2026-12: by event id first.
            out.push(format!("DROP INDEX IF EXISTS {name}_event_time"));
            out.push(events_index(&name));
        }
    }
    Ok(out)
}

/// Role names are per schema, so that dev and prod can share one database.
pub fn role_name(schema: &str, role: &str) -> Result<String, SqlError> {
    ident("role", &format!("{}_{}", ident("schema", schema)?, role))
}

pub const LOADER_ROLE: &str = "loader";
pub const ANALYST_ROLE: &str = "analyst";

fn change_sql(dialect: Dialect, schema: &str, c: &Change) -> Result<Vec<String>, SqlError> {
    Ok(match c {
        Change::CreateTable(t) => create_table(dialect, schema, t)?,
        Change::AddColumn { table, column } => vec![format!(
            "ALTER TABLE {} ADD COLUMN {}",
            qualified(dialect, schema, &ident("table", table)?),
            column_sql(dialect, column)?
        )],
        Change::WidenText {
            table,
            column,
            width,
        } => match dialect {
            Dialect::Redshift => vec![format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE VARCHAR({width})",
                qualified(dialect, schema, &ident("table", table)?),
                ident("column", column)?
            )],
            // SQLite's TEXT has no width.
            Dialect::Sqlite => vec![],
        },
        Change::CreateRole(role) => match dialect {
            Dialect::Redshift => vec![format!("CREATE ROLE {}", role_name(schema, role)?)],
            Dialect::Sqlite => vec![],
        },
    })
}

/// The statements that must exist before any migration: the schema and the migrations
/// table. Idempotent.
pub fn bootstrap(dialect: Dialect, schema: &str) -> Result<Vec<String>, SqlError> {
    let schema = ident("schema", schema)?;
    let table = qualified(dialect, &schema, MIGRATIONS_TABLE);
    let mut out = Vec::new();
    if dialect == Dialect::Redshift {
        out.push(format!("CREATE SCHEMA IF NOT EXISTS {schema}"));
    }
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n    id INTEGER NOT NULL,\n    description VARCHAR(256) NOT NULL,\n    applied_at {} NOT NULL,\n    PRIMARY KEY (id)\n)",
        column_type(dialect, ColumnKind::Timestamp)
    ));
    if dialect == Dialect::Sqlite {
        // Warehouses made by pushfeed before migrations had a unique index on event_id,
        // stronger than Redshift's dedup window: drop it, so both run the same algorithm.
        for d in DESTINATIONS {
            out.push(format!("DROP INDEX IF EXISTS {}_event_id", d.table()));
        }
    }
    Ok(out)
}

/// One migration's statements, its record in the migrations table last. In Redshift each
/// runs once (Terraform applies it once, in order); the record makes a re-run visible.
pub fn migration_statements(
    dialect: Dialect,
    schema: &str,
    m: &Migration,
) -> Result<Vec<String>, SqlError> {
    let schema = ident("schema", schema)?;
    let mut out = Vec::new();
    for c in &m.changes {
        out.extend(change_sql(dialect, &schema, c)?);
    }
    let table = qualified(dialect, &schema, MIGRATIONS_TABLE);
    out.push(format!(
        "INSERT INTO {table} (id, description, applied_at) SELECT {}, {}, {} WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE id = {})",
        m.id,
        literal(dialect, "description", &m.description)?,
        sql::now(dialect),
        m.id
    ));
    check_lengths(&out)?;
    Ok(out)
}

/// Redshift grants: the loader role may read and append to the tables (and LOCK the
/// ledger), analysts may read; default privileges cover tables that later migrations
/// add. `loader_user` is the database user the loader connects as (e.g.
/// `IAMR:pushfeed-prod-loader` on Serverless); when given it is granted the loader role.
/// Idempotent: GRANT of a privilege already held is a no-op.
pub fn grants(
    schema: &str,
    database: &str,
    loader_user: Option<&str>,
) -> Result<Vec<String>, SqlError> {
    let schema = ident("schema", schema)?;
    let database = ident("database", database)?;
    let loader = role_name(&schema, LOADER_ROLE)?;
    let analyst = role_name(&schema, ANALYST_ROLE)?;
    let mut out = vec![
        format!("GRANT USAGE ON SCHEMA {schema} TO ROLE {loader}"),
        format!("GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {schema} TO ROLE {loader}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT ON TABLES TO ROLE {loader}"),
        // LOCK takes an ACCESS EXCLUSIVE lock; as in PostgreSQL, that needs a privilege
        // beyond SELECT/INSERT on the table. The loader never updates a ledger row.
        format!("GRANT UPDATE ON {schema}.{LEDGER_TABLE} TO ROLE {loader}"),
        // The load stages each object in a temporary table.
        format!("GRANT TEMP ON DATABASE {database} TO ROLE {loader}"),
        format!("GRANT USAGE ON SCHEMA {schema} TO ROLE {analyst}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO ROLE {analyst}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO ROLE {analyst}"),
    ];
    if let Some(user) = loader_user {
        out.push(format!(
            "GRANT ROLE {loader} TO {}",
            sql::quoted_ident(user)?
        ));
    }
    Ok(out)
}

/// The analyst views, in creation order.
pub fn view_statements(dialect: Dialect, schema: &str) -> Result<Vec<String>, SqlError> {
    let schema = ident("schema", schema)?;
    Ok(crate::views::views(dialect, &schema)
        .into_iter()
        .flat_map(|(_, v)| {
            v.split(";\n")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .collect())
}

/// Everything in order, as one script: bootstrap, every migration, grants (Redshift),
/// views. What `pushfeed ddl` prints.
pub fn full_ddl(
    dialect: Dialect,
    schema: &str,
    database: &str,
    loader_user: Option<&str>,
) -> Result<String, MigrationError> {
    let mut out = String::from("-- Generated by `pushfeed ddl` from the catalogue and crates/core/migrations.json. Do not edit.\n");
    let mut section = |title: &str, statements: Vec<String>| {
        if statements.is_empty() {
            return;
        }
        out.push_str(&format!("\n-- {title}\n"));
        for s in statements {
            out.push_str(&s);
            out.push_str(";\n");
        }
    };
    section("bootstrap", bootstrap(dialect, schema)?);
    for m in migrations()? {
        section(
            &format!("migration {}: {}", m.id, m.description),
            migration_statements(dialect, schema, &m)?,
        );
    }
    if dialect == Dialect::Redshift {
        section("grants", grants(schema, database, loader_user)?);
    }
    section("views", view_statements(dialect, schema)?);
    Ok(out)
}

/// Placeholder names for rendering Terraform templates (`templatefile`): valid
/// identifiers for the renderers, then replaced by `${…}` template variables.
const TF_SCHEMA: &str = "pushfeed_tf_schema_placeholder";
const TF_DATABASE: &str = "pushfeed_tf_database_placeholder";
const TF_LOADER_USER: &str = "pushfeed_tf_loader_user_placeholder";

fn templated(statements: Vec<String>) -> String {
    let mut out = String::from("-- Generated by `pushfeed migrations --write-terraform` from the catalogue. Do not edit.\n");
    for s in statements {
        out.push_str(
            // Only `${` and `%{` start template sequences; a lone `$` is literal.
            &s.replace("${", "$${")
                .replace("%{", "%%{")
                .replace(TF_SCHEMA, "${schema}")
                .replace(TF_DATABASE, "${database}")
                .replace(TF_LOADER_USER, "${loader_user}"),
        );
        out.push_str(";\n");
    }
    out
}

/// The files Terraform reads (module-relative path, content): Redshift SQL as templates
/// over `schema`, `database` and `loader_user`, one file per phase and per migration, and
/// `migrations.tf`, one resource pair per migration chained in order.
pub fn terraform_files() -> Result<Vec<(String, String)>, MigrationError> {
    let d = Dialect::Redshift;
    let mut files = vec![
        (
            "sql/bootstrap.sql.tftpl".to_owned(),
            templated(bootstrap(d, TF_SCHEMA)?),
        ),
        (
            "sql/grants.sql.tftpl".to_owned(),
            templated(grants(TF_SCHEMA, TF_DATABASE, Some(TF_LOADER_USER))?),
        ),
        (
            "sql/views.sql.tftpl".to_owned(),
            templated(view_statements(d, TF_SCHEMA)?),
        ),
    ];
    let history = migrations()?;
    let mut tf = String::from(
        "# Generated by `pushfeed migrations --write-terraform` from crates/core/migrations.json. Do not edit.\n#\n# Each migration's changes run in parallel (they are independent by construction), then\n# its record; the next migration starts after that record. Terraform state runs each once.\n",
    );
    let mut previous = "aws_redshiftdata_statement.migrations_table".to_owned();
    for m in &history {
        let n = format!("{:04}", m.id);
        files.push((
            format!("sql/migrations/{n}.sql.tftpl"),
            templated(migration_statements(d, TF_SCHEMA, m)?),
        ));
        tf.push_str(&format!(
            r#"
resource "aws_redshiftdata_statement" "migration_{n}" {{
  count              = var.apply_ddl ? length(local.migration_sql["{n}"]) - 1 : 0
  cluster_identifier = local.ddl_target.cluster_identifier
  workgroup_name     = local.ddl_target.workgroup_name
  database           = var.redshift_database
  db_user            = local.ddl_target.db_user
  secret_arn         = local.ddl_target.secret_arn
  sql                = local.migration_sql["{n}"][count.index]
  depends_on         = [{previous}]
}}

resource "aws_redshiftdata_statement" "migration_{n}_recorded" {{
  count              = var.apply_ddl ? 1 : 0
  cluster_identifier = local.ddl_target.cluster_identifier
  workgroup_name     = local.ddl_target.workgroup_name
  database           = var.redshift_database
  db_user            = local.ddl_target.db_user
  secret_arn         = local.ddl_target.secret_arn
  sql                = local.migration_sql["{n}"][length(local.migration_sql["{n}"]) - 1]
  depends_on         = [aws_redshiftdata_statement.migration_{n}]
}}
"#
        ));
        previous = format!("aws_redshiftdata_statement.migration_{n}_recorded");
    }
    tf.push_str(&format!(
        "\n# Grants run after the last migration.\nresource \"terraform_data\" \"migrations_applied\" {{\n  input      = {}\n  depends_on = [{previous}]\n}}\n",
        history.len()
    ));
    files.push(("migrations.tf".to_owned(), tf));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_cover_the_catalogue() {
        let history = migrations().unwrap();
        let missing = diff(&schema_after(&history), &catalogue_schema()).unwrap();
        assert!(
            missing.is_empty(),
            "the catalogue has changes no migration covers: {missing:?}\nrun: cargo run -p pushfeed-cli -- migrations --new \"what changed\" (appends migration {}), then --write-terraform terraform/modules/pushfeed",
            history.len() + 1
        );
    }

    #[test]
    fn a_column_added_to_a_copy_of_the_catalogue_becomes_the_next_migration() {
        let history = migrations().unwrap();
        let mut target = catalogue_schema();
        let open = target.iter_mut().find(|t| t.name == "push_open").unwrap();
        open.columns.push(ColumnDef {
            name: "notification_channel".into(),
            kind: ColumnKind::Text(64),
            not_null: false,
        });
        let send = target.iter_mut().find(|t| t.name == "push_send").unwrap();
        let name = send
            .columns
            .iter_mut()
            .find(|c| c.name == "campaign_name")
            .unwrap();
        name.kind = ColumnKind::Text(2048);
        target.push(TableDef {
            name: "push_web_click".into(),
            ..TableDef::from_destination(crate::destination("open").unwrap())
        });
        let m = next_migration(&history, &target, "web clicks; channel on opens")
            .unwrap()
            .unwrap();
        assert_eq!(m.id, history.len() as u32 + 1);
        let rs = migration_statements(Dialect::Redshift, "pushfeed", &m).unwrap();
        assert!(rs
            .iter()
            .any(|s| s.starts_with("CREATE TABLE IF NOT EXISTS pushfeed.push_web_click (")));
        assert!(rs.contains(
            &"ALTER TABLE pushfeed.push_send ALTER COLUMN campaign_name TYPE VARCHAR(2048)"
                .to_owned()
        ));
        assert!(rs.contains(
            &"ALTER TABLE pushfeed.push_open ADD COLUMN notification_channel VARCHAR(64)"
                .to_owned()
        ));
        assert!(rs
            .last()
            .unwrap()
            .starts_with("INSERT INTO pushfeed.pushfeed_schema_migrations"));
        let lite = migration_statements(Dialect::Sqlite, "main", &m).unwrap();
        assert!(
            lite.contains(&"ALTER TABLE push_open ADD COLUMN notification_channel TEXT".to_owned())
        );
        // Applying it: the history now covers the target.
        let mut extended = history.clone();
        extended.push(m);
        assert!(diff(&schema_after(&extended), &target).unwrap().is_empty());
        let back = parse_history(&history_json(&extended)).unwrap();
        assert_eq!(back, extended);
    }

    #[test]
    fn destructive_changes_are_refused_with_a_reason() {
        let now = catalogue_schema();
        let mut fewer = now.clone();
        fewer[0].columns.retain(|c| c.name != "campaign_name");
        assert!(matches!(
            diff(&now, &fewer),
            Err(MigrationError::ColumnRemoved { .. })
        ));
        let mut not_null = now.clone();
        not_null[0].columns.push(ColumnDef {
            name: "x".into(),
            kind: ColumnKind::BigInt,
            not_null: true,
        });
        assert!(matches!(
            diff(&now, &not_null),
            Err(MigrationError::NewNotNull { .. })
        ));
        let mut retyped = now.clone();
        retyped[0].columns[6].kind = ColumnKind::BigInt;
        assert!(matches!(
            diff(&now, &retyped),
            Err(MigrationError::TypeChange { .. })
        ));
        assert!(matches!(
            diff(&now, &now[1..]),
            Err(MigrationError::TableRemoved(_))
        ));
        assert!(matches!(
            parse_history(r#"{"migrations":[{"id":2,"description":"x","changes":[]}]}"#),
            Err(MigrationError::BadOrder {
                expected: 1,
                found: 2
            })
        ));
    }

    #[test]
    fn the_schema_name_is_one_setting_used_everywhere() {
        let ddl = full_ddl(Dialect::Redshift, "analytics_push", "dev", Some("IAMR:x")).unwrap();
        let code = crate::sql::strip_literals(Dialect::Redshift, &ddl);
        assert!(!code.contains("pushfeed."), "{code}");
        assert!(code.contains("CREATE SCHEMA IF NOT EXISTS analytics_push"));
        assert!(code.contains("analytics_push.push_send"));
        assert!(code.contains("ROLE analytics_push_loader"));
        assert!(code.contains("analytics_push.v_push_funnel_daily"));
    }

    #[test]
    fn terraform_templates_name_only_their_variables() {
        for (path, text) in terraform_files().unwrap() {
            assert!(!text.contains("placeholder"), "{path}");
            if path.ends_with(".tftpl") {
                for var in text.match_indices("${").map(|(i, _)| &text[i..]) {
                    let name = &var[2..var.find('}').unwrap()];
                    assert!(
                        ["schema", "database", "loader_user"].contains(&name),
                        "{path}: {name}"
                    );
                }
            }
        }
    }
}
