//! The command layer: the clap definitions (`cli`) and one file per subcommand. Each file
//! turns its flags into plain values (e.g. [`cli::ServerArgs::spec`] -> `db::TargetSpec`)
//! and wires library modules together; logic lives elsewhere.
pub mod baseline;
pub mod cli;
pub mod compare;
pub mod generate;
pub mod info;
pub mod load;
pub mod merge;
pub mod plan;
pub mod realism;
pub mod run;
pub mod schema;
pub mod sweep;

use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::db::Target;

/// Open the target of `server` (starting the embedded server with `settings` when no URL is
/// given), run `work` on it, and close it whatever `work` returned, so a failed command
/// never leaves an embedded server behind. `work`'s error wins over a failure to stop.
pub(crate) async fn with_target<T>(
    server: &cli::ServerArgs,
    settings: &BTreeMap<String, String>,
    work: impl AsyncFnOnce(&mut Target) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut target = Target::open(&server.spec(), settings).await?;
    let result = work(&mut target).await;
    let closed = target.close().await;
    let value = result?;
    closed.context("stopping the server")?;
    Ok(value)
}
