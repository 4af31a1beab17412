//! `pushfeed sql`: query the local warehouse with SQL (SQLite dialect; tables as in `pushfeed ddl`).

use crate::cli::DataArgs;
use crate::tabular::{self, Format};

#[derive(clap::Args)]
pub struct SqlArgs {
    /// The SQL to run.
    pub query: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// How to print the rows: an aligned table, CSV, a JSON array or JSON lines. Rows are
    /// streamed: a result of any size prints in bounded memory.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with_all = ["format", "csv"])]
    pub json: bool,
    /// Same as --format csv.
    #[arg(long, conflicts_with = "format")]
    pub csv: bool,
}

pub fn execute(args: SqlArgs) -> anyhow::Result<()> {
    let format = if args.json {
        Format::Json
    } else if args.csv {
        Format::Csv
    } else {
        args.format
    };
    let conn = pushfeed_loader::warehouse::sqlite::open_read_only(&args.data.data_dir)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    tabular::write_query(&conn, &args.query, format, &mut out, &mut |_| {})
        .map_err(|e| super::explain_query_error(e, &conn, &args.data.data_dir))?;
    Ok(())
}
