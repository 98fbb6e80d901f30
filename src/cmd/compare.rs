//! `bench compare`: wiring only.

use clap::Args;

use crate::error::Outcome;

/// Arguments of `bench compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {}

pub async fn run(_args: CompareArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("bench compare is not built yet")
}
