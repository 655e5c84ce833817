//! The `eddy` command line: run a node, manage topics and groups, produce, consume, inspect
//! supervisors.

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
    Start(Box<cli::start::StartArgs>),
    /// Create, list, describe or delete topics.
    #[command(subcommand)]
    Topic(cli::topic::TopicCommand),
    /// List, describe (members, offsets, lag) or delete consumer groups.
    #[command(subcommand)]
    Group(cli::group::GroupCommand),
    /// Write lines of stdin to a topic, one record per line.
    Produce(cli::produce::ProduceArgs),
    /// Print the records of a topic.
    Consume(cli::consume::ConsumeArgs),
    /// Show a node's supervision tree (from its admin HTTP endpoint).
    Supervisors(cli::supervisors::SupervisorsArgs),
    /// Measure produce or consume throughput and latency against a running node.
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
    /// Run Kafka Connect connectors standalone, or manage a node's connectors.
    #[command(subcommand)]
    Connect(cli::connect_cmd::ConnectCommand),
    /// Show the cluster's members and partitions, pending replica moves, or decommission a
    /// node (through a node's admin HTTP endpoint).
    #[command(subcommand)]
    Cluster(cli::cluster::ClusterCommand),
    /// List the streams applications running against the cluster, or describe one
    /// (topology, tasks and their state, input lag).
    #[command(subcommand)]
    Topology(cli::topology::TopologyCommand),
}

/// Lets a command whose output goes to a closed pipe (`eddy group describe | head`) end
/// quietly, as Unix tools do, instead of panicking on the failed print. Not for the
/// long-running servers (`start`, `connect run`), whose socket writes must see EPIPE as
/// an error rather than die of the signal.
fn default_sigpipe() {
    // SAFETY: restores the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let server = matches!(
        cli.command,
        Command::Start(_) | Command::Connect(cli::connect_cmd::ConnectCommand::Run(_))
    );
    if !server {
        default_sigpipe();
    }
    let result = match cli.command {
        Command::Start(args) => cli::start::run(*args),
        Command::Topic(command) => cli::topic::run(command),
        Command::Group(command) => cli::group::run(command),
        Command::Produce(args) => cli::produce::run(args),
        Command::Consume(args) => cli::consume::run(args),
        Command::Supervisors(args) => cli::supervisors::run(args),
        Command::Bench(command) => cli::bench::run(command),
        Command::Connect(command) => cli::connect_cmd::run(command),
        Command::Cluster(command) => cli::cluster::run(command),
        Command::Topology(command) => cli::topology::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
