//! A program of one's own with Eddy's whole command line and its own topology: this
//! `main` registers `shout` (values of `input.topic`, default `orders`, upper-cased into
//! `output.topic`, default `orders-shouted`) beside the stock catalog, and hands the
//! catalog to `eddy::cli::main_with`. Everything `eddy` does, it does; and it can run
//! `shout` by name:
//!
//! ```text
//! cargo run --example own_catalog -- topology catalog
//! cargo run --example own_catalog -- topology run shout --application-id shouter -b 127.0.0.1:9092
//! ```

use eddy::streams::Configs;
use eddy::topologies::{StreamsBuilder, Topology};

/// `shout`: the values of `input.topic` upper-cased into `output.topic`.
fn shout(configs: &Configs) -> Result<Topology, eddy::streams::BuildError> {
    let input = configs.get("input.topic").map_or("orders", String::as_str);
    let output = configs
        .get("output.topic")
        .map_or("orders-shouted", String::as_str);
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(input)
        .map_values(|order| order.to_uppercase())
        .to(output);
    Ok(builder.build()?)
}

fn main() -> std::process::ExitCode {
    let mut catalog = eddy::catalog::stock();
    catalog
        .register("shout", "upper-cases the values of orders", shout)
        .parameter("input.topic", "orders", "the orders")
        .parameter("output.topic", "orders-shouted", "the orders, upper-cased");
    eddy::cli::main_with(catalog)
}
