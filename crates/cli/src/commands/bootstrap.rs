//! `pushfeed bootstrap`: create, on an AWS-compatible endpoint, what Terraform creates: stream, bucket, Firehose streams, topic.

use crate::aws;
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub endpoint: aws::EndpointArgs,
    /// Shards of the vendor stream.
    #[arg(long, default_value_t = 2)]
    pub shards: i32,
    #[command(flatten)]
    pub queue: aws::QueueArgs,
    /// Without --endpoint (real AWS): create the resources without asking. Terraform is the
    /// way to deploy to AWS; resources made here are outside its state.
    #[arg(long)]
    pub yes: bool,
}

pub fn execute(args: BootstrapArgs) -> anyhow::Result<()> {
    let BootstrapArgs {
        endpoint,
        shards,
        queue,
        yes,
    } = args;
    if endpoint.endpoint.is_none() && !yes {
        let what = format!(
            "no --endpoint (nor AWS_ENDPOINT_URL): this would create pushfeed-{}-… resources in real AWS \
             (region {}), outside Terraform's state. Deploy to AWS with Terraform (terraform/envs/); \
             bootstrap is for AWS-compatible endpoints (moto, LocalStack)",
            endpoint.env, endpoint.region
        );
        if !std::io::stdin().is_terminal() {
            anyhow::bail!("{what}. Pass --yes to create them anyway.");
        }
        eprint!("{what}.\nCreate them in AWS anyway? [y/N] ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            anyhow::bail!("nothing created");
        }
    }
    let rt = super::runtime()?;
    rt.block_on(aws::bootstrap(&endpoint, shards, &queue))?;
    Ok(())
}
