//! One module per `eddy` subcommand.

pub mod start;
