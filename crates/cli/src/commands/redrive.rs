//! `pushfeed redrive`: return the loads dead-letter queue's messages to the loads queue (after an outage).

use crate::aws;

#[derive(clap::Args)]
pub struct RedriveArgs {
    #[command(flatten)]
    pub endpoint: aws::EndpointArgs,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Move the messages here (receive, re-send, delete) instead of asking SQS to, for an
    /// endpoint without StartMessageMoveTask.
    #[arg(long)]
    pub move_here: bool,
}

pub fn execute(args: RedriveArgs) -> anyhow::Result<()> {
    let RedriveArgs {
        endpoint,
        json,
        move_here,
    } = args;
    let rt = super::runtime()?;
    let s = rt.block_on(aws::redrive(&endpoint, move_here))?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else if let Some(h) = &s.task_handle {
        println!("started a message move task ({h}): the loader retries the dead-lettered loads as they arrive");
    } else {
        println!("moved {} messages back to the loads queue; the loader retries them (objects already loaded are skipped)", s.moved);
    }
    Ok(())
}
