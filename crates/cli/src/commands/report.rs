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
}

pub fn execute(args: ReportArgs) -> anyhow::Result<()> {
    let ReportArgs { data, output } = args;
    let conn = pushfeed_loader::warehouse::sqlite::open_read_only(&data.data_dir)?;
    let html = report::render(
        &conn,
        &format!(
            "pushfeed — push feedback report ({})",
            data.data_dir.display()
        ),
    )?;
    std::fs::write(&output, html).with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!("wrote {}", output.display());
    Ok(())
}
