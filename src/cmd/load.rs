//! `bench load`: wiring only.

use clap::Args;

use crate::error::Outcome;

/// Arguments of `bench load`.
#[derive(Args, Debug)]
pub struct LoadArgs {}

pub async fn run(_args: LoadArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("bench load is not built yet")
}
