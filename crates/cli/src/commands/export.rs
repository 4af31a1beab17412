//! `pushfeed export`: a table, a view or a query of the local warehouse, streamed to CSV or
//! JSON lines, for SAS, Power BI, a spreadsheet or another database.

use crate::cli::DataArgs;
use crate::tabular::{self, Format};
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row (UTF-8, CRLF line ends; NULL is an empty field).
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (Snappy; INT64, DOUBLE and UTF-8 columns, all nullable), for Power
    /// BI, pandas/pyarrow, Spark or DuckDB. Needs a file (--output), not stdout.
    Parquet,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The table or view to export (`pushfeed sql "SELECT name FROM sqlite_master"` lists
    /// them); or use --query.
    #[arg(required_unless_present = "query", conflicts_with = "query")]
    pub table: Option<String>,
    /// Export the rows of this query instead of a whole table.
    #[arg(long)]
    pub query: Option<String>,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Where to write ('-' for stdout). Default: <table>.csv (or .jsonl) here.
    #[arg(long, short)]
    pub output: Option<String>,
    /// No progress or summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the summary as one JSON object on stdout (with a file --output).
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: ExportArgs) -> anyhow::Result<()> {
    let conn = pushfeed_loader::warehouse::sqlite::open_read_only(&args.data.data_dir)?;
    let (sql, name) = match (&args.table, &args.query) {
        (Some(table), None) => {
            let known = super::relations(&conn)?;
            if !known.iter().any(|k| k == table) {
                bail!("{}", super::no_such_relation(table, &known));
            }
            (
                format!("SELECT * FROM \"{}\"", table.replace('"', "\"\"")),
                table.clone(),
            )
        }
        (None, Some(q)) => (q.clone(), "query".to_owned()),
        _ => bail!("give a table or --query, not both"),
    };
    let ext = match args.format {
        ExportFormat::Csv => "csv",
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Parquet => "parquet",
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| format!("{name}.{ext}"));
    if args.format == ExportFormat::Parquet && output == "-" {
        bail!("Parquet is written to a file (its footer comes last): give --output FILE.parquet");
    }
    // The text formats go through the row writers; Parquet has its own (None).
    let text_format = match args.format {
        ExportFormat::Csv => Some(Format::Csv),
        ExportFormat::Jsonl => Some(Format::Jsonl),
        ExportFormat::Parquet => None,
    };
    let started = Instant::now();
    let quiet = args.quiet;
    let mut progress = |n: u64| {
        if !quiet {
            eprintln!("  exported {} rows", crate::run::fmt_n(n));
        }
    };
    let written = if output == "-" {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        // Parquet to stdout was refused above.
        let format = text_format.unwrap_or(Format::Csv);
        tabular::write_query(&conn, &sql, format, &mut out, &mut progress)
    } else {
        // Written beside the target and renamed at the end: a failed export leaves no
        // half file under the name a report reads.
        let target = PathBuf::from(&output);
        let partial = target.with_extension(format!("{ext}.partial"));
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let r = match text_format {
            None => crate::parquet_out::write_query(&conn, &sql, file, &mut progress)
                .map(|rows| tabular::Written { rows }),
            Some(format) => {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
                tabular::write_query(&conn, &sql, format, &mut out, &mut progress)
            }
        };
        match r {
            Ok(w) => {
                std::fs::rename(&partial, &target).with_context(|| {
                    format!(
                        "cannot rename {} to {}",
                        partial.display(),
                        target.display()
                    )
                })?;
                Ok(w)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }
    .map_err(|e| super::explain_query_error(e, &conn, &args.data.data_dir))?;
    let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    if args.json {
        println!(
            "{}",
            serde_json::json!({"output": output, "source": name, "rows": written.rows, "bytes": size,
                "seconds": started.elapsed().as_secs_f64()})
        );
    } else if !quiet && output != "-" {
        eprintln!(
            "exported {} rows of {name} to {output} ({:.1} MB, {:.1} s)",
            crate::run::fmt_n(written.rows),
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
