//! `bench generate`: wiring only.

use clap::Args;

use crate::error::Outcome;

/// Arguments of `bench generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {}

pub async fn run(_args: GenerateArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("bench generate is not built yet")
}
