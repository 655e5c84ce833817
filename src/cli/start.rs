//! `eddy start`: run one node. Settings come from Eddy's embedded defaults, overridden by an
//! optional TOML file (`--config`), then by `EDDY_*` environment variables and flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use eddy_node::config::NodeConfigOverrides;
use eddy_node::NodeConfig;

/// Flags of `eddy start`: `--config` and every node setting (declared once, in
/// `eddy_node::config`), each optional so that the TOML file and the defaults show through.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// TOML file with node settings (keys as the flags, e.g. `data-dir = "/var/lib/eddy"`).
    #[arg(long, env = "EDDY_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: NodeConfigOverrides,
}

impl StartArgs {
    fn into_config(self) -> anyhow::Result<NodeConfig> {
        let mut c = match &self.config {
            Some(path) => NodeConfig::from_toml_file(path)?,
            None => NodeConfig::default(),
        };
        self.settings.apply_to(&mut c);
        c.validate()?;
        Ok(c)
    }
}

/// Runs the node until SIGINT/SIGTERM; it can host the deployed topologies of `catalog`.
pub fn run(args: StartArgs, catalog: &eddy::streams::Catalog) -> anyhow::Result<()> {
    eddy::streams::init_logging(NODE_LOG_FILTER_DEFAULT);
    let config = args.into_config()?;
    eddy_node::run_until_signal(config, catalog.clone()).context("the node stopped with an error")
}

/// The node's log filter without `EDDY_LOG`: its own lines at info, the storage engine's
/// only when they warn.
pub const NODE_LOG_FILTER_DEFAULT: &str = "info,fjall=warn,lsm_tree=warn";
