//! `bench run`: wiring only.

use clap::Args;

use crate::error::Outcome;

/// Arguments of `bench run`.
#[derive(Args, Debug)]
pub struct RunArgs {}

pub async fn run(_args: RunArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("bench run is not built yet")
}
