//! `pushfeed completions`: print a shell completion script: `pushfeed completions bash > /etc/bash_completion.d/pushfeed`,

use crate::cli::Cli;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

pub fn execute(args: CompletionsArgs) -> anyhow::Result<()> {
    let CompletionsArgs { shell } = args;
    use clap::CommandFactory as _;
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "pushfeed",
        &mut std::io::stdout(),
    );
    Ok(())
}
