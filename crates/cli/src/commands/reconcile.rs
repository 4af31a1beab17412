//! `pushfeed reconcile`: find objects in S3 that no load recorded, and load them (the safety net under S3's notifications).

use crate::reconcile;

pub fn execute(args: reconcile::ReconcileArgs) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    let s = rt.block_on(reconcile::reconcile(&args))?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "{} objects created {} .. {}: {} in the ledger, {} missing{}",
            s.objects_listed,
            s.since,
            s.until,
            s.in_ledger,
            s.missing.len(),
            if args.dry_run {
                " (dry run: nothing re-driven)"
            } else {
                ""
            }
        );
        for m in &s.missing {
            println!("  missing: {m}");
        }
        if s.redriven > 0 {
            println!(
                "re-drove {} objects (queued for the loader, or loaded locally)",
                s.redriven
            );
        }
    }
    Ok(())
}
