//! `pushfeed drive`: play AWS's part around the Lambdas: poll the stream, invoke the batcher, load each new object.

use crate::{aws, run};

pub fn execute(args: aws::DriveArgs) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    let s = rt.block_on(aws::drive(&args))?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "drove {} records in {} batches ({} batch item failures, {} records retried, {} to the on-failure file); {} objects seen, {} loaded ({} rows), {} duplicate, {} unmatched, {} load failures; {:.1} s",
            run::fmt_n(s.records_in), s.batches, s.batch_item_failures, s.records_retried, s.records_to_dlq,
            s.objects_seen, s.objects_loaded, run::fmt_n(s.rows_loaded), s.duplicate_objects, s.unmatched_keys, s.load_failures, s.elapsed_s
        );
    }
    Ok(())
}
