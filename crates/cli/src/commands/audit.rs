//! `pushfeed audit`: counts in = counts out, hour by hour: what the batcher sent against what was loaded.

use crate::audit;

pub fn execute(args: audit::AuditArgs) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    let report = rt.block_on(audit::audit(&args))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        audit::print(&report, &mut std::io::stdout().lock())?;
    }
    if report.missing > 0 {
        std::process::exit(3);
    }
    Ok(())
}
