//! `pushfeed status`: a pipeline's state at a glance — a deployed environment or a local data dir.

use crate::status;

pub fn execute(args: status::StatusArgs) -> anyhow::Result<()> {
    let s = match &args.data_dir {
        Some(dir) => status::local(dir)?,
        None => super::runtime()?.block_on(status::aws(&args))?,
    };
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        status::print(&s, &mut std::io::stdout().lock())?;
    }
    Ok(())
}
