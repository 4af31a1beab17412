//! `pushfeed generate`: write a realistic synthetic vendor feed: one Kinesis record per line.

use crate::cli::FeedArgs;
use crate::{generate, run};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub feed: FeedArgs,
    /// Where to write the feed ('-' for stdout).
    #[arg(long, short, default_value = "-")]
    pub output: String,
    /// Also write the planted truth (each customer's timezone and preferred hour) as JSON here.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout (with --output FILE).
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: GenerateArgs) -> anyhow::Result<()> {
    let GenerateArgs {
        feed,
        output,
        truth,
        json,
    } = args;
    if json && output == "-" {
        anyhow::bail!("--json prints the summary on stdout, where the feed goes without --output: give --output FILE");
    }
    let spec = feed.spec()?;
    let mut sink: Box<dyn Write> = if output == "-" {
        Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::io::stdout().lock(),
        ))
    } else {
        Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(&output).with_context(|| format!("cannot create {output}"))?,
        ))
    };
    let stats = generate::generate(&spec, &mut sink, &mut |n| {
        eprintln!("  generated {} records", run::fmt_n(n))
    })?;
    sink.flush()?;
    if let Some(path) = truth {
        std::fs::write(&path, serde_json::to_vec(&stats.customers)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"output": output, "records": stats.records, "events": stats.events,
                "duplicates": stats.duplicates, "bad_records": stats.bad_records,
                "customers": stats.customers.len(), "seed": spec.seed})
        );
        return Ok(());
    }
    eprintln!(
        "generated {} records holding {} events ({} redelivered duplicates, {} bad records) for {} customers",
        run::fmt_n(stats.records),
        run::fmt_n(stats.events),
        run::fmt_n(stats.duplicates),
        run::fmt_n(stats.bad_records),
        run::fmt_n(stats.customers.len() as u64)
    );
    Ok(())
}
