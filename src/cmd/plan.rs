//! `bench plan`: wiring only.

use clap::Args;

use crate::error::Outcome;

/// Arguments of `bench plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {}

pub async fn run(_args: PlanArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("bench plan is not built yet")
}
