//! The `eddy` command line, one module per subcommand. [`main_with`] is the whole
//! program: the stock binary calls it with [`crate::catalog::stock`], and a program of
//! one's own calls it with a catalog of its topologies, to get the same CLI (`start`,
//! `topology run NAME`, everything) able to run them.

mod admin_client;
mod bench;
mod cluster;
mod connect_cmd;
mod consume;
mod deploy;
mod group;
mod node_access;
mod produce;
mod receipts;
mod start;
mod supervisors;
mod topic;
mod topology;

use clap::{Parser, Subcommand};
use eddy_streams::Catalog;

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
    Start(Box<start::StartArgs>),
    /// Create, list, describe or delete topics.
    #[command(subcommand)]
    Topic(topic::TopicCommand),
    /// List, describe (members, offsets, lag) or delete consumer groups.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Write lines of stdin to a topic, one record per line.
    Produce(produce::ProduceArgs),
    /// Print the records of a topic.
    Consume(consume::ConsumeArgs),
    /// Show a node's supervision tree (from its admin HTTP endpoint).
    Supervisors(supervisors::SupervisorsArgs),
    /// Measure produce or consume throughput and latency against a running node.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run Kafka Connect connectors standalone, or manage a node's connectors.
    #[command(subcommand)]
    Connect(connect_cmd::ConnectCommand),
    /// Show the cluster's members and partitions, pending replica moves, or decommission a
    /// node (through a node's admin HTTP endpoint).
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Run a topology of this binary's catalog, list the catalog, or list and describe
    /// the streams applications running against the cluster (topology, tasks and their
    /// state, input lag).
    #[command(subcommand)]
    Topology(topology::TopologyCommand),
}

/// Lets a command whose output goes to a closed pipe (`eddy group describe | head`) end
/// quietly, as Unix tools do, instead of panicking on the failed print. Not for the
/// long-running programs (`start`, `connect run`, `topology run`), whose socket writes
/// must see EPIPE as an error rather than die of the signal.
fn default_sigpipe() {
    // SAFETY: restores the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The `eddy` program with `catalog` as the topologies `eddy topology run NAME` can run:
/// parses the command line, runs the command, prints its error. A program's `main` returns
/// it:
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     let mut catalog = eddy::catalog::stock();
///     catalog.register("shout", "upper-cases orders into orders-shouted", |_configs| {
///         let builder = eddy::topologies::StreamsBuilder::new();
///         builder
///             .stream::<String, String>("orders")
///             .map_values(|order| order.to_uppercase())
///             .to("orders-shouted");
///         Ok(builder.build()?)
///     });
///     eddy::cli::main_with(catalog)
/// }
/// ```
pub fn main_with(catalog: Catalog) -> std::process::ExitCode {
    let cli = Cli::parse();
    let server = matches!(
        cli.command,
        Command::Start(_)
            | Command::Connect(connect_cmd::ConnectCommand::Run(_))
            | Command::Topology(topology::TopologyCommand::Run(_))
    );
    if !server {
        default_sigpipe();
    }
    let result = match cli.command {
        Command::Start(args) => start::run(*args, &catalog),
        Command::Topic(command) => topic::run(command),
        Command::Group(command) => group::run(command),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Supervisors(args) => supervisors::run(args),
        Command::Bench(command) => bench::run(command),
        Command::Connect(command) => connect_cmd::run(command),
        Command::Cluster(command) => cluster::run(command),
        Command::Topology(command) => topology::run(command, &catalog),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
