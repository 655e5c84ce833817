//! The `eddy` command line: run a node, manage topics, produce, consume, inspect supervisors.

mod cli;

use clap::{Parser, Subcommand};

/// Eddy: Apache Kafka's model as an actor runtime.
#[derive(Parser)]
#[command(name = "eddy", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (single-node cluster by default, data in ./eddy-data).
    Start(cli::start::StartArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Start(args) => cli::start::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
