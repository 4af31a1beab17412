//! `pushfeed report`: write a static HTML report from the local warehouse (opens offline, no scripts).

use crate::cli::DataArgs;
use crate::report;
use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write the HTML.
    #[arg(long, short, default_value = "pushfeed-report.html")]
    pub output: PathBuf,
    /// Opens (and clicks) a customer needs for a preferred hour in the report (the view
    /// v_push_preferred_time uses 5).
    #[arg(long, default_value_t = pushfeed_core::views::PREFERRED_HOUR_MIN_OPENS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub min_opens: u32,
    /// Print what was written as one JSON object (path, bytes).
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: ReportArgs) -> anyhow::Result<()> {
    let ReportArgs {
        data,
        output,
        min_opens,
        json,
    } = args;
    let conn = pushfeed_loader::warehouse::sqlite::open_read_only(&data.data_dir)?;
    let html = report::render(
        &conn,
        &report::Options {
            source: pushfeed_core::names::local::warehouse_path(&data.data_dir)
                .display()
                .to_string(),
            min_opens,
        },
    )?;
    std::fs::write(&output, html).with_context(|| format!("cannot write {}", output.display()))?;
    if json {
        let bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
        println!("{}", serde_json::json!({"output": output, "bytes": bytes}));
    } else {
        eprintln!("wrote {}", output.display());
    }
    Ok(())
}
