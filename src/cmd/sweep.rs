//! `bench sweep`: wiring only.

use clap::Args;

use crate::error::Outcome;

/// Arguments of `bench sweep`.
#[derive(Args, Debug)]
pub struct SweepArgs {}

pub async fn run(_args: SweepArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("bench sweep is not built yet")
}
