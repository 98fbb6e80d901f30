//! `bench schema`: wiring only.

use clap::Args;

use crate::error::Outcome;

/// Arguments of `bench schema`.
#[derive(Args, Debug)]
pub struct SchemaArgs {}

pub async fn run(_args: SchemaArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("bench schema is not built yet")
}
