//! `pushfeed load`: load S3 objects now, with the loader's own handler (e.g. after an outage, or to retry by hand).

use crate::aws;

pub fn execute(args: aws::LoadArgs) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    let s = rt.block_on(aws::load_objects(&args))?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        for o in &s.objects {
            println!("{o}");
        }
    }
    if s.failed > 0 {
        eprintln!("pushfeed load: {} of {} objects failed (see above); run it again once the cause is fixed — loaded objects are skipped", s.failed, s.objects.len());
        std::process::exit(1);
    }
    Ok(())
}
