//! `bench info`: wiring only.

use clap::Args;

use crate::error::Outcome;

/// Arguments of `bench info`.
#[derive(Args, Debug)]
pub struct InfoArgs {}

pub async fn run(_args: InfoArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("bench info is not built yet")
}
