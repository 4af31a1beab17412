//! `pushfeed`: the whole pipeline on one machine, with the Lambdas' own code. The grammar
//! is in `cli.rs`, each command's work in `commands/<command>.rs`.

mod audit;
mod aws;
mod bench;
mod cli;
mod commands;
mod feed;
mod generate;
mod parquet_out;
mod reconcile;
mod replay;
mod report;
mod run;
mod status;
mod tabular;

use clap::Parser;
use cli::{Cli, Command};

fn main() {
    if let Err(e) = real_main() {
        // `pushfeed sql … | head`: the reader left; stop quietly, as Unix tools do.
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            std::process::exit(0);
        }
        eprintln!("pushfeed: error: {e:#}");
        std::process::exit(1);
    }
}

/// The handlers log what goes wrong (failed loads, alerts, retries) through tracing: to
/// stderr, WARN and above unless RUST_LOG says otherwise.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_target(false)
        .init();
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Generate(args) => commands::generate::execute(args),
        Command::Run(args) => commands::run::execute(args),
        Command::Sql(args) => commands::sql::execute(args),
        Command::Status(args) => commands::status::execute(args),
        Command::Export(args) => commands::export::execute(args),
        Command::Bootstrap(args) => commands::bootstrap::execute(args),
        Command::Reconcile(args) => commands::reconcile::execute(args),
        Command::Audit(args) => commands::audit::execute(args),
        Command::Replay(args) => commands::replay::execute(args),
        Command::Redrive(args) => commands::redrive::execute(args),
        Command::Drive(args) => commands::drive::execute(args),
        Command::Catalogue(args) => commands::catalogue::execute(args),
        Command::Completions(args) => commands::completions::execute(args),
        Command::PlanLoad(args) => commands::plan_load::execute(args),
        Command::Load(args) => commands::load::execute(args),
        Command::Migrations(args) => commands::migrations::execute(args),
        Command::BenchBatch(args) => commands::bench_batch::execute(args),
        Command::Report(args) => commands::report::execute(args),
        Command::Ddl(args) => commands::ddl::execute(args),
    }
}
