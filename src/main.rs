//! The `eddy` command line: run a node, manage topics and groups, produce, consume, inspect
//! supervisors, run the stock catalog's topologies. All of it is the library's
//! [`eddy::cli::main_with`], which a program of one's own calls with its own catalog.

fn main() -> std::process::ExitCode {
    eddy::cli::main_with(eddy::catalog::stock())
}
