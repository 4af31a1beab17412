//! `pushfeed bootstrap`: create, on an AWS-compatible endpoint, what Terraform creates: stream, bucket, Firehose streams, topic.

use crate::aws;

#[derive(clap::Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub endpoint: aws::EndpointArgs,
    /// Shards of the vendor stream.
    #[arg(long, default_value_t = 2)]
    pub shards: i32,
    #[command(flatten)]
    pub queue: aws::QueueArgs,
}

pub fn execute(args: BootstrapArgs) -> anyhow::Result<()> {
    let BootstrapArgs {
        endpoint,
        shards,
        queue,
    } = args;
    let rt = super::runtime()?;
    rt.block_on(aws::bootstrap(&endpoint, shards, &queue))?;
    Ok(())
}
