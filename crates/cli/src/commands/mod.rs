//! One file per command: its arguments (beyond the shared ones in `cli.rs`) and its work.

pub mod audit;
pub mod bench_batch;
pub mod bootstrap;
pub mod catalogue;
pub mod completions;
pub mod ddl;
pub mod drive;
pub mod generate;
pub mod load;
pub mod migrations;
pub mod plan_load;
pub mod reconcile;
pub mod redrive;
pub mod replay;
pub mod report;
pub mod run;
pub mod sql;

use crate::cli::Dialect;

/// A single-threaded Tokio runtime for a command that talks to AWS (the handlers are
/// async; one thread is what `pushfeed` needs for them).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The schema the statements are rendered for: `--schema` on Redshift; SQLite has one
/// database per file (`main`).
pub fn schema_name(dialect: Dialect, schema: String) -> String {
    match dialect {
        Dialect::Sqlite => pushfeed_loader::warehouse::sqlite::LOCAL_SCHEMA.to_owned(),
        Dialect::Redshift => schema,
    }
}
