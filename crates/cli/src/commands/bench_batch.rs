//! `pushfeed bench-batch`: time the batcher's in-process work on one Lambda payload file (used by scripts/bench).

use crate::bench;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct BenchBatchArgs {
    /// A Lambda Kinesis event (JSON) file.
    #[arg(long)]
    pub payload: PathBuf,
    #[arg(long, default_value_t = 15)]
    pub runs: usize,
    /// Write every produced line as {"dest":…,"line":…} here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn execute(args: BenchBatchArgs) -> anyhow::Result<()> {
    let BenchBatchArgs { payload, runs, out } = args;
    bench::bench_batch(&payload, runs, out.as_deref())
}
