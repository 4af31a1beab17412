//! `pushfeed replay`: send the records of batches the batcher gave up on through the batcher again.

use crate::replay;

pub fn execute(args: replay::ReplayArgs) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    let s = rt.block_on(replay::replay(&args))?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "{} failure records, {} Kinesis records: {} events sent, {} quarantined{}",
            s.failure_records,
            s.kinesis_records,
            s.events_sent,
            s.quarantined,
            if args.dry_run {
                " (dry run: nothing sent)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
